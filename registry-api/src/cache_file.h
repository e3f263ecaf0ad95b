// Internal: the registry cache file, in Java .properties format (see abstract_registry.h for the
// behaviour users see).
//
// Thread-safety: CacheFile is immutable; concurrent Save() calls, from threads or processes, are
// serialised by an flock() on "<path>.lock". Save() calls for one path in one process take turns
// in arrival order, so a writer that saves back to back cannot starve the others.
#ifndef DUBBO_REGISTRY_SRC_CACHE_FILE_H_
#define DUBBO_REGISTRY_SRC_CACHE_FILE_H_

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry::internal {

// Service key -> space-separated full URL strings.
using CacheEntries = std::map<std::string, std::string>;

// Java Properties.store() escaping of a key or a value (non-ASCII as \uXXXX from UTF-8).
std::string EscapeProperty(std::string_view text, bool is_key);

// Parses .properties text. Lines that are malformed (bad escape, no key, control bytes), whose
// value holds a token that is not a URL with a protocol, or that end the text without a newline (a cut
// write) are skipped with a warning naming `source` and the line number; `*skipped` counts them.
CacheEntries ParseCacheText(std::string_view text, std::string_view source, size_t* skipped);

// The file text for `entries`: a header comment, then one line per entry.
std::string FormatCacheText(const CacheEntries& entries);

class CacheFile {
 public:
  // How long Save() waits for the lock by default: long enough to outlast other writers' fsync() on
  // a loaded disk, bounded so that a writer stuck while holding the lock cannot block it forever.
  static constexpr Duration kDefaultLockWait = std::chrono::seconds(10);
  // The wait of a save that someone waits for (a shutdown, a synchronous notification): short, so
  // that another process holding the lock delays them by at most this much.
  static constexpr Duration kShortLockWait = std::chrono::milliseconds(500);

  // `lock_wait`: how long Save() waits for its turn and the lock (default kDefaultLockWait).
  explicit CacheFile(std::string path, Duration lock_wait = kDefaultLockWait)
      : path_(std::move(path)), lock_wait_(lock_wait) {}

  const std::string& path() const { return path_; }

  // The file's entries. A missing file is empty, not an error; an unreadable one is kInternal.
  Result<CacheEntries> Load() const;

  // Under the lock file: reads the current file, sets each entry of `owned` over it (other keys are
  // kept), and replaces the file atomically (temporary file, fsync, rename). On success `*merged`
  // (when not null) receives what was written. On failure the old file is untouched; kUnavailable
  // when the lock is still taken after `lock_wait` (by a writer in this process or another one),
  // kInternal for I/O errors (a full disk, say).
  Status Save(const CacheEntries& owned, CacheEntries* merged) const {
    return Save(owned, merged, lock_wait_);
  }
  // The same, waiting at most `lock_wait` for the lock instead of the constructor's wait.
  Status Save(const CacheEntries& owned, CacheEntries* merged, Duration lock_wait) const;

 private:
  std::string path_;
  Duration lock_wait_;
};

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_SRC_CACHE_FILE_H_
