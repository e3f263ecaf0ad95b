#include "disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "dubbo/registry/url.h"
#include "internal/atomic_file.h"
#include "internal/logging.h"

namespace dubbo::registry::nacos {
namespace {

using internal::ErrnoText;

constexpr std::string_view kKeySeparator = "@@";
// The switch file is a line or two; anything larger is not one.
constexpr size_t kMaxSwitchFileBytes = 64 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string EscapeClusters(std::string_view clusters) {
  std::string out;
  out.reserve(clusters.size());
  for (char c : clusters) {
    switch (c) {
      case '%': out.append("%25"); break;
      case '/': out.append("%2F"); break;
      case '\0': out.append("%00"); break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string UnescapeClusters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// Names in a cache directory that are never a service's file.
bool IsReservedName(std::string_view name) {
  return name == "." || name == ".." || name == kFailoverDirName || name == kFailoverSwitchName ||
         (name.size() == kFailoverDirName.size() + kFailoverSwitchName.size() &&
          name.substr(0, kFailoverDirName.size()) == kFailoverDirName &&
          name.substr(kFailoverDirName.size()) == kFailoverSwitchName);
}

bool IsTempName(std::string_view name) {
  return name.substr(0, kTempFilePrefix.size()) == kTempFilePrefix;
}

// The file name of `service_key`, or kInvalidArgument when no file may have it.
Result<std::string> CheckedFileName(std::string_view dir, std::string_view service_key) {
  if (dir.empty()) return InvalidArgumentError("nacos disk cache: no cache directory configured");
  if (service_key.empty()) return InvalidArgumentError("nacos disk cache: empty service key");
  std::string name = DiskCache::FileNameFor(service_key);
  if (IsReservedName(name)) {
    return InvalidArgumentError("nacos disk cache: service key \"" + std::string(service_key) +
                                "\" maps to the reserved file name \"" + name + "\"");
  }
  if (name.size() > NAME_MAX) {
    return InvalidArgumentError("nacos disk cache: the file name for service key \"" +
                                std::string(service_key) + "\" is longer than " +
                                std::to_string(NAME_MAX) + " bytes");
  }
  return name;
}

// mkdir -p with mode 0700 for the directories it creates.
Status MakeDirectories(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    for (size_t pos = 1;;) {
      const size_t slash = dir.find('/', pos);
      const std::string prefix = dir.substr(0, slash);
      if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
        return InternalError("nacos disk cache: cannot create directory " + prefix + ": " +
                             ErrnoText(errno));
      }
      if (slash == std::string::npos || slash + 1 >= dir.size()) break;
      pos = slash + 1;
    }
    if (::stat(dir.c_str(), &st) != 0) {
      return InternalError("nacos disk cache: cannot create directory " + dir + ": " +
                           ErrnoText(errno));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return InternalError("nacos disk cache: " + dir + " exists and is not a directory");
  }
  return Status::Ok();
}

// The names in `dir`, sorted; none when it does not exist.
Result<std::vector<std::string>> ListDirectory(const std::string& dir) {
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) return std::vector<std::string>();
    return InternalError("nacos disk cache: cannot open directory " + dir + ": " +
                         ErrnoText(errno));
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return InternalError("nacos disk cache: cannot list " + dir + ": " + ErrnoText(err));
  }
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(d);
    if (entry == nullptr) {
      const int err = errno;
      ::closedir(d);
      if (err != 0) {
        return InternalError("nacos disk cache: cannot list " + dir + ": " + ErrnoText(err));
      }
      break;
    }
    names.emplace_back(entry->d_name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Java's String.trim(): strips bytes <= ' ' at both ends.
std::string_view Trim(std::string_view s) {
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= ' ') s.remove_prefix(1);
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= ' ') s.remove_suffix(1);
  return s;
}

bool SwitchFileSaysOn(const std::string& path) {
  Result<std::string> text = internal::ReadWholeFile(path, kMaxSwitchFileBytes);
  if (!text.ok()) {
    if (text.status().code() != StatusCode::kNotFound) {
      DUBBO_LOG(WARNING) << "nacos failover switch ignored (off): " << text.status();
    }
    return false;
  }
  bool on = false;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    const std::string_view line = Trim(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (line == "1") {
      on = true;
    } else if (line == "0") {
      on = false;
    }
  }
  return on;
}

}  // namespace

// --- DiskCache ----------------------------------------------------------------------------------

std::string DiskCache::FileNameFor(std::string_view service_key) {
  const size_t first = service_key.find(kKeySeparator);
  const size_t second = first == std::string_view::npos
                            ? std::string_view::npos
                            : service_key.find(kKeySeparator, first + kKeySeparator.size());
  std::string name = URL::Encode(service_key.substr(0, second));
  if (second != std::string_view::npos && second + kKeySeparator.size() < service_key.size()) {
    name.append(kKeySeparator);
    name.append(EscapeClusters(service_key.substr(second + kKeySeparator.size())));
  }
  return name;
}

Result<std::string> DiskCache::KeyForFileName(std::string_view file_name) {
  // URL encoding leaves no '@' in the grouped name, so the first "@@" starts the clusters.
  const size_t sep = file_name.find(kKeySeparator);
  Result<std::string> key = URL::Decode(file_name.substr(0, sep));
  if (!key.ok()) {
    return InvalidArgumentError("\"" + std::string(file_name) + "\" is not a cache file name: " +
                                std::string(key.status().message()));
  }
  if (sep != std::string_view::npos) {
    key->append(kKeySeparator);
    key->append(UnescapeClusters(file_name.substr(sep + kKeySeparator.size())));
  }
  return key;
}

Status DiskCache::Write(std::string_view service_key, std::string_view json) const {
  Result<std::string> name = CheckedFileName(dir_, service_key);
  if (!name.ok()) return name.status();
  if (json.empty()) {
    return InvalidArgumentError("nacos disk cache: empty JSON for " + std::string(service_key));
  }
  std::string line(json);
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  DUBBO_RETURN_IF_ERROR(MakeDirectories(dir_));
  return internal::WriteFileAtomically(dir_ + "/" + *name, line,
                                       dir_ + "/" + std::string(kTempFilePrefix))
      .WithPrefix("nacos disk cache");
}

Result<CachedServices> DiskCache::LoadAll() const {
  if (dir_.empty()) return InvalidArgumentError("nacos disk cache: no cache directory configured");
  Result<std::vector<std::string>> names = ListDirectory(dir_);
  if (!names.ok()) return names.status();
  CachedServices loaded;
  for (const std::string& name : *names) {
    if (IsReservedName(name) || IsTempName(name)) continue;
    const std::string path = dir_ + "/" + name;
    Result<std::string> key = KeyForFileName(name);
    if (!key.ok()) {
      DUBBO_LOG(WARNING) << "nacos disk cache: skipping " << path << ": " << key.status();
      continue;
    }
    Result<std::string> content = internal::ReadWholeFile(path, kMaxCacheFileBytes);
    if (!content.ok()) {
      // NotFound: removed since it was listed, by another process say; nothing to report.
      if (content.status().code() != StatusCode::kNotFound) {
        DUBBO_LOG(WARNING) << "nacos disk cache: skipping a file: " << content.status();
      }
      continue;
    }
    const std::string_view trimmed = Trim(*content);
    if (trimmed.empty()) {
      DUBBO_LOG(WARNING) << "nacos disk cache: skipping " << path << ": empty";
      continue;
    }
    if (trimmed.front() != '{' || trimmed.back() != '}') {
      DUBBO_LOG(WARNING) << "nacos disk cache: skipping " << path
                         << ": not a JSON object (garbage or a cut write)";
      continue;
    }
    auto [it, inserted] = loaded.emplace(*key, std::string());
    if (!inserted) {
      if (FileNameFor(*key) != name) {
        DUBBO_LOG(WARNING) << "nacos disk cache: skipping " << path << ": another file holds "
                           << *key;
        continue;
      }
      DUBBO_LOG(WARNING) << "nacos disk cache: " << path << " replaces another file holding "
                         << *key;
    }
    it->second = std::move(*content);
  }
  return loaded;
}

Result<std::string> DiskCache::Load(std::string_view service_key) const {
  Result<std::string> name = CheckedFileName(dir_, service_key);
  if (!name.ok()) return name.status();
  const std::string path = dir_ + "/" + *name;
  Result<std::string> content = internal::ReadWholeFile(path, kMaxCacheFileBytes);
  if (!content.ok()) return content.status();
  const std::string_view trimmed = Trim(*content);
  if (trimmed.empty() || trimmed.front() != '{' || trimmed.back() != '}') {
    return InvalidArgumentError("nacos disk cache: " + path + " is not a JSON object");
  }
  return content;
}

Status DiskCache::Remove(std::string_view service_key) const {
  Result<std::string> name = CheckedFileName(dir_, service_key);
  if (!name.ok()) return name.status();
  const std::string path = dir_ + "/" + *name;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return InternalError("nacos disk cache: cannot remove " + path + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

// --- FailoverStore ------------------------------------------------------------------------------

FailoverStore::FailoverStore(std::string cache_dir)
    : cache_dir_(std::move(cache_dir)),
      failover_(cache_dir_.empty() ? std::string()
                                   : cache_dir_ + "/" + std::string(kFailoverDirName)) {}

std::string FailoverStore::switch_path() const {
  return cache_dir_ + "/" + std::string(kFailoverDirName) + std::string(kFailoverSwitchName);
}

std::string FailoverStore::alternate_switch_path() const {
  return cache_dir_ + "/" + std::string(kFailoverDirName) + "/" + std::string(kFailoverSwitchName);
}

bool FailoverStore::SwitchOn() const {
  if (cache_dir_.empty()) return false;
  // Both are read, so a broken one is reported even when the other is on.
  const bool java_path_on = SwitchFileSaysOn(switch_path());
  const bool alternate_on = SwitchFileSaysOn(alternate_switch_path());
  return java_path_on || alternate_on;
}

Result<CachedServices> FailoverStore::LoadFailover() const { return failover_.LoadAll(); }

Status FailoverStore::WriteFailoverSnapshot(const CachedServices& snapshot) const {
  Status first_error;
  size_t failed = 0;
  for (const auto& [key, json] : snapshot) {
    Status status = failover_.Write(key, json);
    if (status.ok()) continue;
    if (failed++ == 0) first_error = std::move(status);
  }
  if (failed == 0) return Status::Ok();
  return first_error.WithPrefix(std::to_string(failed) + " of " + std::to_string(snapshot.size()) +
                                " failover files not written; first");
}

}  // namespace dubbo::registry::nacos
