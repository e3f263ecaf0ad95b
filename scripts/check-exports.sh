#!/usr/bin/env bash
# check-exports.sh <lib-dir>
#
# Checks the shared libraries of this project: every libdubbo_*.so found under <lib-dir> (searched
# recursively, so both an installed prefix and a build tree work) must
#   * carry the SONAME libdubbo_<name>.so.<major>.<minor> (and, when the file is the usual symlink
#     to libdubbo_<name>.so.<major>.<minor>.<patch>, that very major.minor);
#   * export only this project's API: dynamic symbols it defines are in namespace dubbo::, never in
#     a dubbo::...::internal:: namespace (except the logging entry points every library calls in
#     registry-api), never a third-party library's, with the few exceptions listed in
#     allowed_foreign() below.
# Prints every offending symbol (demangled) and exits 1 when a check fails; 2 on a usage error.
# Needs binutils (nm, readelf, c++filt).
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $0 <lib-dir>   (an installed prefix's lib directory, or a build tree)" >&2
  exit 2
fi
for tool in nm readelf c++filt; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (binutils)" >&2; exit 2; }
done

mapfile -t libs < <(find "$1" -name 'libdubbo_*.so' \( -type f -o -type l \) | sort)
if [[ ${#libs[@]} -eq 0 ]]; then
  echo "$0: no libdubbo_*.so under $1 (is it a shared build?)" >&2
  exit 1
fi

# Reads `nm -D --defined-only --format=posix` lines ("name type value size") and prints
# "<reason>\t<type>\t<mangled name>" for each symbol that must not be exported. The classification
# works on the mangled name: the leading nested name says which namespace the entity is in, however
# complex its parameters or return type are.
classify() {
  awk '
    # The allowed symbols that are not in namespace dubbo::. Each one is a weak or unique
    # definition (nm type W, V, u, w, v), never a strong one.
    function allowed_foreign(ns, type) {
      if (type !~ /^[WVuwv]$/) return 0
      # std:: and __gnu_cxx:: instantiations: libstdc++ declares its namespaces with default
      # visibility, so the class templates and out-of-line template members our code instantiates
      # (std::vector<URL>::_M_realloc_insert, std::_Rb_tree<...>::_M_erase, the vtables and
      # typeinfo of std::_Sp_counted_ptr_inplace<...> behind make_shared, std::function managers)
      # keep it even under -fvisibility=hidden. They are vague-linkage definitions made from the
      # same libstdc++ headers in every object that needs them; the dynamic linker picks one.
      # Their function-local statics (std::_Sp_make_shared_tag::_S_ti()::__tag, the __digits table
      # of std::to_string) are STB_GNU_UNIQUE ("u"): GCC makes each one a single object in the
      # whole process, whichever libraries instantiate it, and that needs it exported.
      if (ns == "std" || ns == "__gnu_cxx") return 1
      return 0
    }
    # Names of the libraries ours use (libcurl, libevent, libnghttp2, zlib, RapidJSON, protobuf):
    # a C name, or the leading namespace of a C++ one.
    function third_party(name, ns) {
      return name ~ /^(nghttp2_|curl_|Curl_|event_|evbuffer_|bufferevent_|evhttp_|evdns_|evutil_|evconnlistener_|deflate|inflate|crc32|adler32|compress|uncompress|gz|zlib|zError)/ ||
             ns == "google" || ns == "rapidjson"
    }
    # Skips a call offset of a thunk: h<offset>_ or v<offset>_<offset>_ (offsets may start with n).
    function skip_call_offset(s) {
      if (s ~ /^hn?[0-9]+_/) { match(s, /^hn?[0-9]+_/); return substr(s, RLENGTH + 1) }
      if (s ~ /^vn?[0-9]+_n?[0-9]+_/) { match(s, /^vn?[0-9]+_n?[0-9]+_/); return substr(s, RLENGTH + 1) }
      return s
    }
    # Fills path[1..n] with the components of the leading (nested) name of the mangled text s
    # (without its _Z prefix); returns n. std:: abbreviations become "std".
    function leading_path(s, path,    n, len) {
      n = 0
      if (s ~ /^Z/) s = substr(s, 2)                   # a local entity: its enclosing function
      if (s ~ /^N/) { s = substr(s, 2); sub(/^[rVKRO]+/, "", s) }
      if (s ~ /^St/) { path[++n] = "std"; s = substr(s, 3) }
      else if (s ~ /^S[absiod]/) { path[++n] = "std"; return n }
      while (s ~ /^[0-9]/) {
        match(s, /^[0-9]+/)
        len = substr(s, 1, RLENGTH) + 0
        path[++n] = substr(s, RLENGTH + 1, len)
        s = substr(s, RLENGTH + 1 + len)
        while (s ~ /^B[0-9]/) {                        # ABI tags, e.g. [abi:cxx11]
          match(s, /^B[0-9]+/)
          s = substr(s, RLENGTH + 1 + substr(s, 2, RLENGTH - 1))
        }
      }
      return n
    }
    {
      name = $1; type = $2
      sub(/@.*/, "", name)
      # What every ELF shared object defines.
      if (name ~ /^(_init|_fini|__bss_start|_edata|_end)$/) next
      if (name !~ /^_Z/) {
        print (third_party(name, "") ? "third-party" : "outside dubbo::") "\t" type "\t" name
        next
      }
      s = substr(name, 3)
      if (s ~ /^T[VIST]/) s = substr(s, 3)               # vtable, typeinfo (name), VTT
      else if (s ~ /^TC/) s = substr(s, 3)               # construction vtable: its class first
      else if (s ~ /^T[hv]/) s = skip_call_offset(substr(s, 2))          # thunks
      else if (s ~ /^Tc/) s = skip_call_offset(skip_call_offset(substr(s, 3)))  # covariant thunk
      else if (s ~ /^GV/) s = substr(s, 3)               # guard variable
      delete path
      n = leading_path(s, path)
      if (n == 0) { print "outside dubbo::\t" type "\t" name; next }
      if (path[1] == "dubbo") {
        internal = 0
        for (i = 2; i < n; i++) if (path[i] == "internal") internal = 1
        # LogEnabled() and LogMessage are the one log sink'"'"'s entry points, exported by
        # registry-api for the internal logging macros that every library expands.
        if (internal && !(path[2] == "registry" && path[3] == "internal" &&
                          (path[4] == "LogEnabled" || path[4] == "LogMessage")))
          print "internal\t" type "\t" name
        next
      }
      if (allowed_foreign(path[1], type)) next
      if (path[1] == "std" || path[1] == "__gnu_cxx") reason = "strong definition in std::"
      else if (third_party(name, path[1])) reason = "third-party"
      else reason = "outside dubbo::"
      print reason "\t" type "\t" name
    }'
}

status=0
for lib in "${libs[@]}"; do
  problems=()
  base=$(basename "$lib")  # libdubbo_<name>.so
  real=$(basename "$(readlink -f "$lib")")
  soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
  if [[ $real =~ ^${base//./\\.}\.([0-9]+)\.([0-9]+)\.[0-9]+$ ]]; then
    want="$base.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
    [[ $soname == "$want" ]] || problems+=("SONAME is '${soname}', expected '$want'")
  elif [[ ! $soname =~ ^${base//./\\.}\.[0-9]+\.[0-9]+$ ]]; then
    problems+=("SONAME is '${soname}', expected '$base.<major>.<minor>'")
  fi

  bad=$(nm -D --defined-only --format=posix "$lib" | classify | c++filt)
  if [[ -n $bad ]]; then
    while IFS=$'\t' read -r reason type sym; do
      problems+=("$reason ($type): $sym")
    done <<<"$bad"
  fi

  exported=$(nm -D --defined-only "$lib" | wc -l)
  if [[ ${#problems[@]} -eq 0 ]]; then
    echo "ok    $lib ($soname, $exported symbols)"
  else
    status=1
    echo "FAIL  $lib: ${#problems[@]} problem(s)"
    printf '        %s\n' "${problems[@]}"
  fi
done
exit $status
