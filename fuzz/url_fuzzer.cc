// libFuzzer target for dubbo::registry::URL: Parse, ParseEncoded, Encode/Decode, every accessor, printing,
// re-parsing, equality/hash consistency and IsMatch.
//
// The input is split at the first '\n': the whole input is the main text, the part after the newline (if
// any) a second URL for IsMatch and cross-comparisons.
//
// Beyond "no crash, no sanitizer report" it checks properties that must hold for every input:
//   * Decode(Encode(s)) == s, and Encode(Decode(s)) decodes again to the same bytes;
//   * ParseEncoded(Encode(s)) succeeds exactly when Parse(s) does, with an equal URL;
//   * a parsed URL equals its copy, with equal hashes; equality is symmetric and hash-consistent;
//   * ToFullString() re-parses, and re-printing is stable and gives back an equal URL, whenever the URL
//     holds nothing printing cannot carry (see PrintRoundTrips()).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "dubbo/registry/url.h"
#include "fuzz_check.h"

namespace {

using dubbo::registry::Result;
using dubbo::registry::URL;

bool Contains(std::string_view s, std::string_view chars) {
  return s.find_first_of(chars) != std::string_view::npos;
}

// Java String.trim() whitespace, plus DEL: a value starting or ending with one of these may be trimmed
// when printed.
bool TrimmableAtEnds(std::string_view s) {
  auto ws = [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; };
  return !s.empty() && (ws(s.front()) || ws(s.back()));
}

// True when printing `url` with ToFullString() must give a string that Parse() turns back into an equal
// URL. Conservative: anything printing cannot carry, or whose reading is ambiguous, is excluded.
bool PrintRoundTrips(const URL& url) {
  // The protocol must be present (protocol-less printing is covered by the unit tests) and contain
  // nothing that moves the "://" split.
  if (url.protocol().empty() || Contains(url.protocol(), ":/?#@[]%")) return false;
  if (Contains(url.username(), ":/?#@")) return false;
  if (Contains(url.password(), "/?#@")) return false;
  if (url.username().empty() && !url.password().empty()) return false;
  const std::string& host = url.host();
  if (Contains(host, "/?#@")) return false;
  // A port is printed only next to a host.
  if (host.empty() && url.port() > 0) return false;
  if (Contains(host, "[]")) {
    // Only one well-formed bracketed literal: "[...]" with no other brackets.
    if (host.size() < 2 || host.front() != '[' || host.back() != ']' ||
        Contains(std::string_view(host).substr(1, host.size() - 2), "[]")) {
      return false;
    }
  } else if (Contains(host, ":")) {
    // An unbracketed colon is only the zone-id case: a '%' after the last colon, and no port.
    if (url.port() != 0 || host.find('%', host.rfind(':')) == std::string::npos) return false;
  }
  if (Contains(url.path(), "?#") || (!url.path().empty() && url.path().front() == '/')) return false;
  for (const auto& [key, value] : url.parameters()) {
    if (key.empty() || Contains(key, "=&;") || TrimmableAtEnds(key)) return false;
    if (Contains(value, "&;") || TrimmableAtEnds(value)) return false;
    // `default.X` sets X on parse: printing it back is only stable when X is already present and the
    // expansion cannot cascade (`default.default.X`).
    if (key.rfind("default.", 0) == 0) {
      std::string_view rest = std::string_view(key).substr(8);
      if (rest.empty() || rest.rfind("default.", 0) == 0 || !url.HasParameter(rest)) return false;
    }
  }
  return true;
}

// Calls every accessor; the results feed a sink so the calls are not optimised away.
size_t Exercise(const URL& url) {
  size_t sink = 0;
  sink += url.protocol().size() + url.username().size() + url.password().size() + url.host().size();
  sink += static_cast<size_t>(url.port()) + url.path().size() + url.parameters().size();
  FUZZ_CHECK(url.port() >= 0 && url.port() <= 65535, "port %d", url.port());
  FUZZ_CHECK(url.path().empty() || url.path().front() != '/', "path %s", url.path().c_str());
  sink += url.Address().size() + url.BackupAddress().size();

  // Parameters: sorted, unique keys, and every lookup agrees with the list.
  const URL::Parameters& params = url.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (i > 0) FUZZ_CHECK(params[i - 1].first < params[i].first, "parameters not sorted/unique");
    const std::string& key = params[i].first;
    const std::string& value = params[i].second;
    std::optional<std::string_view> found = url.FindParameter(key);
    FUZZ_CHECK(found.has_value() && *found == value, "FindParameter(%s)", key.c_str());
    FUZZ_CHECK(url.HasParameter(key), "HasParameter(%s)", key.c_str());
    std::string_view got = url.GetParameter(key, "\x01" "default");
    FUZZ_CHECK(value.empty() ? got == "\x01" "default" : got == value, "GetParameter(%s)", key.c_str());
    sink += static_cast<size_t>(url.GetInt(key, 7)) + static_cast<size_t>(url.GetDouble(key, 0.5) > 0) +
            url.GetBool(key, true);
    sink += url.GetMethodParameter(key, key, "d").size() + static_cast<size_t>(url.GetMethodInt(key, key, 3)) +
            url.GetMethodBool(key, key, false);
    // The method form `<a>.<b>` must be found through GetMethodParameter(a, b).
    size_t dot = key.find('.');
    if (dot != std::string::npos && dot > 0 && !value.empty()) {
      FUZZ_CHECK(url.GetMethodParameter(std::string_view(key).substr(0, dot),
                                        std::string_view(key).substr(dot + 1)) == value,
                 "GetMethodParameter for %s", key.c_str());
    }
  }
  // A key absent from the list is not found (the fuzzer may well put this very key in the input).
  constexpr std::string_view kProbe = "\x02probe";
  bool listed = false;
  for (const auto& entry : params) listed = listed || entry.first == kProbe;
  FUZZ_CHECK(url.FindParameter(kProbe).has_value() == listed, "FindParameter disagrees with the list");

  sink += url.ServiceInterface().size() + url.Group().size() + url.Version().size() + url.Category().size();
  sink += url.ServiceKey().size() + url.DisplayServiceKey().size() + url.ColonSeparatedKey().size();
  sink += url.IsEmptyProtocol() + url.IsAnyHost();
  sink += url.ToString().size() + url.ToFullString().size() + url.ToIdentityString().size() +
          url.ToServiceString().size();
  const std::string redacted = url.ToRedactedString();
  std::ostringstream os;
  os << url;
  FUZZ_CHECK(os.str() == redacted, "operator<< is not ToRedactedString()");
  // Only parameter values are redacted.
  if (url.parameters().empty()) FUZZ_CHECK(redacted == url.ToString(), "redaction without parameters");
  sink += dubbo::registry::IsConfigurator(url) + dubbo::registry::IsRoute(url) +
          dubbo::registry::IsProvider(url);
  sink += dubbo::registry::IsMatchCategory(url.Category(), url.GetParameter("category"));

  // Equality and hashing of copies.
  URL copy = url;
  FUZZ_CHECK(url == url && url == copy && !(url != copy), "copy not equal");
  FUZZ_CHECK(url.Hash() == copy.Hash(), "copy hash differs");
  FUZZ_CHECK(std::hash<URL>()(url) == url.Hash(), "std::hash differs");

  // A rebuilt URL (same parts via the constructor) is equal.
  URL rebuilt(url.protocol(), url.host(), url.port(), url.path(), url.parameters());
  rebuilt = rebuilt.WithUsername(url.username()).WithPassword(url.password());
  FUZZ_CHECK(rebuilt == url && rebuilt.Hash() == url.Hash(), "rebuilt URL differs");

  // Builders: the original is untouched and the change is visible.
  const std::string before = url.ToFullString();
  URL changed = url.WithParameter("fuzz.key", "v").WithoutParameter("timestamp").WithPort(8080);
  FUZZ_CHECK(changed.GetParameter("fuzz.key") == "v" && changed.port() == 8080 &&
                 !changed.HasParameter("timestamp"),
             "builders");
  sink += url.WithAddress(url.host()).Address().size() + url.WithoutAllParameters().ToString().size();
  sink += url.WithParameterIfAbsent("fuzz.key", "w").parameters().size();
  FUZZ_CHECK(url.ToFullString() == before, "builder modified the original");

  // Self match: a URL not disabled matches itself (every rule compares a value with itself).
  std::optional<std::string_view> enabled = url.FindParameter("enabled");
  bool is_match = dubbo::registry::IsMatch(url, url);
  if (!enabled.has_value() || enabled->empty() || *enabled == "true") {
    FUZZ_CHECK(is_match, "IsMatch(u, u) false for %s", before.c_str());
  } else if (*enabled == "false") {
    // The consumer side (the same URL) says enabled=false, not `*`.
    FUZZ_CHECK(!is_match, "IsMatch(u, u) true for a disabled URL %s", before.c_str());
  }
  return sink;
}

// Printing must re-parse, and where it must round trip, give an equal URL and a stable string.
void CheckReparse(const URL& url) {
  const std::string full = url.ToFullString();
  Result<URL> again = URL::Parse(full);
  // Parse() may trim the text (Dubbo's URL.valueOf does), so a path or host at either end of the
  // printed string must not start or end with whitespace.
  if (!PrintRoundTrips(url) || TrimmableAtEnds(full)) return;
  FUZZ_CHECK(again.ok(), "ToFullString() does not parse: [%s]: %s", full.c_str(),
             again.status().ToString().c_str());
  FUZZ_CHECK(*again == url, "re-parse differs: [%s] -> [%s]", full.c_str(), again->ToFullString().c_str());
  FUZZ_CHECK(again->parameters() == url.parameters(), "re-parse parameters differ: [%s]", full.c_str());
  FUZZ_CHECK(again->Hash() == url.Hash(), "re-parse hash differs: [%s]", full.c_str());
  FUZZ_CHECK(again->ToFullString() == full, "printing not stable: [%s] -> [%s]", full.c_str(),
             again->ToFullString().c_str());
  FUZZ_CHECK(again->ToString() == url.ToString(), "ToString not stable: [%s]", full.c_str());
}

size_t FuzzOne(std::string_view text, std::string_view other_text) {
  size_t sink = 0;

  // Encode / Decode.
  const std::string encoded = URL::Encode(text);
  Result<std::string> round = URL::Decode(encoded);
  FUZZ_CHECK(round.ok() && *round == text, "Decode(Encode(s)) != s");
  Result<std::string> decoded = URL::Decode(text);
  if (decoded.ok()) {
    Result<std::string> again = URL::Decode(URL::Encode(*decoded));
    FUZZ_CHECK(again.ok() && *again == *decoded, "Decode(Encode(Decode(s))) != Decode(s)");
    sink += decoded->size();
  }

  Result<URL> parsed = URL::Parse(text);
  // ParseEncoded on the encoded text reads exactly what Parse reads on the text: Encode() turns the
  // first '?' into the first "%3F" and every separator into its escape. (Surrounding whitespace is
  // excluded: Parse may trim the text, as Dubbo's URL.valueOf does, while its encoded form has none.)
  Result<URL> via_encoded = URL::ParseEncoded(encoded);
  if (!TrimmableAtEnds(text)) {
    FUZZ_CHECK(parsed.ok() == via_encoded.ok(), "Parse ok=%d but ParseEncoded(Encode) ok=%d (%s)",
               parsed.ok(), via_encoded.ok(),
               (parsed.ok() ? via_encoded.status() : parsed.status()).ToString().c_str());
    if (parsed.ok()) {
      FUZZ_CHECK(*parsed == *via_encoded && parsed->parameters() == via_encoded->parameters(),
                 "ParseEncoded(Encode(s)) != Parse(s): [%s] vs [%s]", parsed->ToFullString().c_str(),
                 via_encoded->ToFullString().c_str());
    }
  }
  if (parsed.ok()) {
    FUZZ_CHECK(parsed->path().empty() || parsed->path().front() != '/', "leading slash");
    sink += Exercise(*parsed);
    CheckReparse(*parsed);
  } else {
    FUZZ_CHECK(!parsed.status().ok(), "error without status");
  }

  // The text itself as an encoded URL.
  Result<URL> encoded_url = URL::ParseEncoded(text);
  if (encoded_url.ok()) {
    sink += Exercise(*encoded_url);
    CheckReparse(*encoded_url);
  }

  // A second URL: cross comparisons and matching in both directions.
  Result<URL> other = URL::Parse(other_text);
  if (parsed.ok() && other.ok()) {
    const bool eq = *parsed == *other;
    FUZZ_CHECK(eq == (*other == *parsed), "equality not symmetric");
    FUZZ_CHECK(eq != (*parsed != *other), "!= is not the negation of ==");
    if (eq) FUZZ_CHECK(parsed->Hash() == other->Hash(), "equal URLs with different hashes");
    sink += dubbo::registry::IsMatch(*parsed, *other) + dubbo::registry::IsMatch(*other, *parsed);
    sink += dubbo::registry::IsMatchCategory(other->Category(), parsed->GetParameter("category"));
    sink += parsed->WithParameters(other->parameters()).parameters().size();
  }

  // Free functions on arbitrary strings.
  sink += dubbo::registry::IsMatchCategory(text, other_text);
  sink += URL::Empty(text, other_text).ToFullString().size();
  return sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view other;
  size_t newline = input.find('\n');
  if (newline != std::string_view::npos) other = input.substr(newline + 1);
  static volatile size_t sink;
  sink = sink + FuzzOne(input, other);
  if (newline != std::string_view::npos) sink = sink + FuzzOne(input.substr(0, newline), other);
  return 0;
}
