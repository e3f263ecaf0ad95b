// Internal: the Nacos naming client's disk cache and failover store, file-compatible with the Java
// client, so that both can share `${user.home}/nacos/naming/<namespace>`.
//
// Layout of one cache directory:
//
//   <dir>/DEFAULT_GROUP%40%40demo          one file per service key; the name is the URL-encoded
//   <dir>/DEFAULT_GROUP%40%40demo@@c1,c2   grouped name, plus "@@<clusters>" (FileNameFor());
//                                          the content is the server's JSON on one line.
//   <dir>/failover/...                     the failover data, same naming (FailoverStore).
//   <dir>/failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00
//                                          the failover switch, at the Java client's path.
//   <dir>/.~tmp.<pid>.<n>                  a write in progress (or left by a crash); never loaded.
//
// These classes store and return raw JSON text. Parsing it (ParseServiceInfo) is the caller's
// job, and so is checking that a loaded document's ServiceInfo::Key() matches its file's key.
//
//   DiskCache cache(cache_dir);
//   Result<CachedServices> cached = cache.LoadAll();   // At start, if namingLoadCacheAtStart.
//   Status status = cache.Write(info.Key(), raw_json);  // After each change.
//
// Thread-safety: DiskCache and FailoverStore are immutable after construction, and every method is
// const and may be called from any thread. The client calls them from its one control-plane
// thread, but other threads and other processes (a Java client of the same user, say) may share
// the directory: each write goes to its own temporary file, created exclusively, and is renamed
// over the target, so a reader sees the old or the new content, never a partial file; of two
// concurrent writes of one key the last rename wins.
#ifndef DUBBO_NACOS_CLIENT_SRC_DISK_CACHE_H_
#define DUBBO_NACOS_CLIENT_SRC_DISK_CACHE_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry::nacos {

// Service key -> raw JSON text.
using CachedServices = std::map<std::string, std::string>;

// The Java client's failover switch file name (UtilAndComs.FAILOVER_SWITCH).
inline constexpr std::string_view kFailoverSwitchName =
    "00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00";
// The failover sub directory of a cache directory.
inline constexpr std::string_view kFailoverDirName = "failover";
// Files larger than this are skipped on load (real service documents are far smaller).
inline constexpr size_t kMaxCacheFileBytes = size_t{16} << 20;
// Temporary files of writes in progress start with this; FileNameFor() never produces it, because
// URL encoding turns '~' into "%7E".
inline constexpr std::string_view kTempFilePrefix = ".~tmp";

// DiskCache: the cache files of one directory.
class DiskCache {
 public:
  // `dir` need not exist yet; Write() creates it.
  explicit DiskCache(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }

  // The file name of a service key, as the Java client names it (ServiceInfo.getKeyEncoded()).
  // The key is "<group>@@<name>" or "<group>@@<name>@@<clusters>" (ServiceInfo::Key()). Everything
  // before the second "@@" is the grouped name and is URL-encoded (Java URLEncoder); the clusters
  // are kept as they are, except that '%', '/' and NUL become %25, %2F and %00 (cluster names that
  // Nacos accepts contain none, so real names match Java's byte for byte). A key without two "@@"
  // is all grouped name. Examples:
  //   "DEFAULT_GROUP@@demo"        -> "DEFAULT_GROUP%40%40demo"
  //   "DEFAULT_GROUP@@demo@@c1,c2" -> "DEFAULT_GROUP%40%40demo@@c1,c2"
  //   "g@@a b/c"                   -> "g%40%40a+b%2Fc"
  static std::string FileNameFor(std::string_view service_key);

  // The inverse of FileNameFor(): the grouped name before the first "@@" is URL-decoded, and the
  // clusters after it have their %XX escapes decoded (a '%' without two hex digits after it is
  // kept). kInvalidArgument when the name part is not valid URL encoding.
  static Result<std::string> KeyForFileName(std::string_view file_name);

  // Stores `json` as the cache file of `service_key`, replacing any old one atomically. Creates
  // the directory and its parents (mode 0700) when missing; files are mode 0600 (before umask).
  // Raw CR and LF bytes in `json` are written as spaces (outside strings they are insignificant
  // whitespace, inside strings JSON forbids them): the Java client reads the file line by line.
  // Errors: kInvalidArgument for an empty key or JSON, an empty directory path, or a key whose
  // file name is reserved (".", "..", "failover", a switch file name) or longer than NAME_MAX;
  // kInternal for I/O errors (a full disk, a read-only directory, a path under a regular file),
  // with the old file left intact.
  Status Write(std::string_view service_key, std::string_view json) const;

  // Every cache file of the directory: service key (KeyForFileName()) -> file content as stored.
  // A missing directory yields an empty map. Skipped with a warning: files whose name does not
  // decode; that cannot be read or are not regular files; that are empty or blank; that are
  // larger than kMaxCacheFileBytes; whose text (trimmed) does not start with '{' and end with '}'
  // (garbage, or a write cut short, e.g. by a Java client, which writes in place). Nothing more is
  // checked.
  // Skipped silently: temporary files, the failover directory, the switch files. When two names
  // decode to one key (hand-made files), the one FileNameFor() gives wins.
  // Errors: kInternal when the directory exists but cannot be listed.
  Result<CachedServices> LoadAll() const;

  // The content of `service_key`'s file, with the checks of LoadAll(). kNotFound when there is
  // none, kInvalidArgument for a bad key or content, kInternal on I/O errors.
  Result<std::string> Load(std::string_view service_key) const;

  // Deletes the cache file of `service_key`. A missing file is OK. kInternal on I/O errors.
  Status Remove(std::string_view service_key) const;

 private:
  std::string dir_;
};

// FailoverStore: the failover data of one cache directory, `<cache_dir>/failover/`, and its
// switch. While the switch is on, the client serves lookups only from LoadFailover().
class FailoverStore {
 public:
  explicit FailoverStore(std::string cache_dir);

  // `<cache_dir>/failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00`: the Java client's path
  // (its FailoverReactor concatenates without a '/'). Writing it also switches Java clients that
  // share the directory.
  std::string switch_path() const;
  // `<cache_dir>/failover/00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00`: the path one would
  // expect, honoured too. Java clients ignore it.
  std::string alternate_switch_path() const;

  // True when either switch file says on. As in Java, a file says on when, of its lines that are
  // "1" or "0" after trimming whitespace, the last is "1"; other lines are ignored. A missing,
  // empty or garbage file says off, and so (with a warning) does one that cannot be read. Meant to
  // be polled (Java: every 5 s).
  bool SwitchOn() const;

  // The failover files: service key -> JSON, as DiskCache::LoadAll() on `<cache_dir>/failover`.
  Result<CachedServices> LoadFailover() const;

  // Writes one failover file per entry (DiskCache::Write() into `<cache_dir>/failover`). As in
  // Java, files of keys not in `snapshot` are kept: operators may have placed them there. Every
  // entry is attempted; on failures the first error is returned, prefixed with how many failed.
  // Java does this every 24 h (first after 30 min, or 10 s after start when the directory is
  // empty); the client schedules it.
  Status WriteFailoverSnapshot(const CachedServices& snapshot) const;

  const DiskCache& failover_cache() const { return failover_; }

 private:
  std::string cache_dir_;
  DiskCache failover_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_DISK_CACHE_H_
