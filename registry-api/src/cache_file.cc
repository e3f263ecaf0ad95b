#include "cache_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dubbo/registry/url.h"
#include "internal/atomic_file.h"
#include "internal/logging.h"

namespace dubbo::registry::internal {
namespace {

constexpr std::string_view kHeader = "#Dubbo Registry Cache\n#format=1 (Java .properties)\n";
// flock() cannot wait with a timeout, so a writer whose lock is taken by another process retries
// with LOCK_NB, backing off from the first to the last delay.
constexpr auto kFirstLockRetryDelay = std::chrono::milliseconds(1);
constexpr auto kLastLockRetryDelay = std::chrono::milliseconds(20);

void AppendUtf16Escape(unsigned code_unit, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(code_unit >> shift) & 0xF]);
}

// Decodes one UTF-8 sequence at text[*i]; a malformed byte decodes as itself (Latin-1).
unsigned NextCodePoint(std::string_view text, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned c = byte(*i);
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (c < 0x80 || len == 1 || *i + len > text.size()) {
    ++*i;
    return c;
  }
  unsigned cp = c & (0x3F >> (len - 1));
  for (size_t k = 1; k < len; ++k) {
    if ((byte(*i + k) & 0xC0) != 0x80) {
      ++*i;
      return c;
    }
    cp = (cp << 6) | (byte(*i + k) & 0x3F);
  }
  *i += len;
  return cp;
}

void AppendUtf8(unsigned cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Unescapes a key or value. Returns false on a malformed \u escape.
bool Unescape(std::string_view text, std::string* out) {
  out->clear();
  unsigned pending_high = 0;  // A UTF-16 high surrogate waiting for its pair.
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i == text.size()) return true;  // A lone trailing backslash is dropped, as Java does.
    c = text[i];
    switch (c) {
      case 't': out->push_back('\t'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 'f': out->push_back('\f'); break;
      case 'u': {
        if (i + 4 >= text.size()) return false;
        unsigned unit = 0;
        for (size_t k = 1; k <= 4; ++k) {
          const int h = Hex(text[i + k]);
          if (h < 0) return false;
          unit = unit * 16 + static_cast<unsigned>(h);
        }
        i += 4;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          pending_high = unit;
          continue;
        }
        if (unit >= 0xDC00 && unit <= 0xDFFF && pending_high != 0) {
          AppendUtf8(0x10000 + ((pending_high - 0xD800) << 10) + (unit - 0xDC00), out);
          pending_high = 0;
          continue;
        }
        AppendUtf8(unit, out);
        break;
      }
      default: out->push_back(c); break;
    }
    pending_high = 0;
  }
  return true;
}

// Splits a logical line into raw key and raw value, Java Properties.load() style.
void SplitKeyValue(std::string_view line, std::string_view* key, std::string_view* value) {
  size_t i = 0;
  bool escaped = false;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    if (escaped) {
      escaped = false;
      continue;
    }
    if (c == '\\') {
      escaped = true;
    } else if (c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f') {
      break;
    }
  }
  *key = line.substr(0, i);
  size_t j = i;
  while (j < line.size() && (line[j] == ' ' || line[j] == '\t' || line[j] == '\f')) ++j;
  if (j < line.size() && (line[j] == '=' || line[j] == ':')) {
    ++j;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t' || line[j] == '\f')) ++j;
  }
  *value = line.substr(j);
}

// True when every whitespace-separated token of `value` parses as a URL with a protocol.
bool ValueHoldsUrls(std::string_view value) {
  size_t start = 0;
  bool any = false;
  while (true) {
    start = value.find_first_not_of(" \t\r\n\f", start);
    if (start == std::string_view::npos) break;
    size_t end = value.find_first_of(" \t\r\n\f", start);
    if (end == std::string_view::npos) end = value.size();
    Result<URL> url = URL::Parse(value.substr(start, end - start));
    if (!url.ok() || url->protocol().empty()) return false;
    any = true;
    start = end;
  }
  return any;
}

bool HasControlBytes(std::string_view line) {
  for (unsigned char c : line) {
    if ((c < 0x20 && c != '\t' && c != '\f') || c == 0x7F) return true;
  }
  return false;
}

Status LockTimeout(const std::string& lock_path, Duration waited) {
  return UnavailableError(
      "cache file lock " + lock_path + " still held by another writer after " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
      " ms; not saved");
}

// The Save() calls of this process queue per lock file and take turns in arrival order. Without
// it, a thread that saves back to back re-takes the flock() within microseconds of releasing it,
// and a waiter that polls with LOCK_NB can miss every free moment until its wait runs out.
class LocalTurns {
 public:
  static LocalTurns& Instance() {
    static LocalTurns* turns = new LocalTurns();  // Never deleted: used until the process exits.
    return *turns;
  }

  // Queues for `lock_path`'s turn; false (and out of the queue) if it did not come by `deadline`.
  bool Enter(const std::string& lock_path, TimePoint deadline, uint64_t* ticket) {
    std::unique_lock<std::mutex> lock(mu_);
    *ticket = ++last_ticket_;
    std::deque<uint64_t>& queue = queues_[lock_path];
    queue.push_back(*ticket);
    const uint64_t mine = *ticket;
    if (cv_.wait_until(lock, deadline, [&] { return queue.front() == mine; })) return true;
    queue.erase(std::find(queue.begin(), queue.end(), mine));
    if (queue.empty()) queues_.erase(lock_path);
    cv_.notify_all();  // The next in line may be first now.
    return false;
  }

  void Leave(const std::string& lock_path, uint64_t ticket) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(lock_path);
    if (it == queues_.end()) return;
    std::deque<uint64_t>& queue = it->second;
    queue.erase(std::find(queue.begin(), queue.end(), ticket));
    if (queue.empty()) queues_.erase(it);
    cv_.notify_all();
  }

 private:
  LocalTurns() = default;

  // A plain std::mutex: the wait needs a deadline, which internal::Mutex does not offer.
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t last_ticket_ = 0;  // Guarded by mu_.
  // Lock file path -> tickets waiting for it; the front one holds the turn. Guarded by mu_.
  std::unordered_map<std::string, std::deque<uint64_t>> queues_;
};

// For its lifetime: this process's turn for a lock file, then an exclusive flock() on it.
class FileLock {
 public:
  ~FileLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
    if (ticket_ != 0) LocalTurns::Instance().Leave(lock_path_, ticket_);
  }

  // Waits up to `wait` in all: kUnavailable when the turn or the lock did not come by then.
  Status Acquire(const std::string& lock_path, Duration wait) {
    Clock* const clock = Clock::Real();
    const TimePoint start = clock->Now();
    const TimePoint deadline = wait > TimePoint::max() - start
                                   ? TimePoint::max()
                                   : start + std::max(wait, Duration::zero());
    lock_path_ = lock_path;
    if (!LocalTurns::Instance().Enter(lock_path, deadline, &ticket_)) {
      ticket_ = 0;
      return LockTimeout(lock_path, clock->Now() - start);
    }
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0)
      return InternalError("cannot open lock file " + lock_path + ": " + ErrnoText(errno));
    Duration delay = kFirstLockRetryDelay;
    while (true) {
      if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return Status::Ok();
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return InternalError("cannot lock " + lock_path + ": " + ErrnoText(errno));
      }
      const TimePoint now = clock->Now();
      if (now >= deadline) return LockTimeout(lock_path, now - start);
      std::this_thread::sleep_for(std::min(delay, deadline - now));
      delay = std::min(delay * 2, Duration(kLastLockRetryDelay));
    }
  }

 private:
  std::string lock_path_;
  uint64_t ticket_ = 0;
  int fd_ = -1;
};

}  // namespace

std::string EscapeProperty(std::string_view text, bool is_key) {
  std::string out;
  out.reserve(text.size() + 8);
  size_t i = 0;
  bool first = true;
  while (i < text.size()) {
    const unsigned cp = NextCodePoint(text, &i);
    switch (cp) {
      case ' ':
        if (is_key || first) out.push_back('\\');
        out.push_back(' ');
        break;
      case '\t': out.append("\\t"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\f': out.append("\\f"); break;
      case '\\': case '=': case ':': case '#': case '!':
        out.push_back('\\');
        out.push_back(static_cast<char>(cp));
        break;
      default:
        if (cp < 0x20 || cp > 0x7E) {
          if (cp >= 0x10000) {
            const unsigned v = cp - 0x10000;
            AppendUtf16Escape(0xD800 + (v >> 10), &out);
            AppendUtf16Escape(0xDC00 + (v & 0x3FF), &out);
          } else {
            AppendUtf16Escape(cp, &out);
          }
        } else {
          out.push_back(static_cast<char>(cp));
        }
    }
    first = false;
  }
  return out;
}

CacheEntries ParseCacheText(std::string_view text, std::string_view source, size_t* skipped) {
  CacheEntries entries;
  size_t bad = 0;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // Gather one logical line: physical lines joined while they end in an odd number of '\'.
    std::string logical;
    const size_t first_line = line_no + 1;
    bool terminated = true;
    while (true) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) {
        end = text.size();
        terminated = false;
      }
      std::string_view physical = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!physical.empty() && physical.back() == '\r') physical.remove_suffix(1);
      if (!logical.empty()) {
        const size_t lead = physical.find_first_not_of(" \t\f");
        physical = lead == std::string_view::npos ? std::string_view() : physical.substr(lead);
      }
      size_t backslashes = 0;
      while (backslashes < physical.size() && physical[physical.size() - 1 - backslashes] == '\\') {
        ++backslashes;
      }
      if (backslashes % 2 == 1 && terminated && pos < text.size()) {
        logical.append(physical.substr(0, physical.size() - 1));
        continue;
      }
      logical.append(physical);
      break;
    }
    std::string_view line = logical;
    const size_t lead = line.find_first_not_of(" \t\f");
    if (lead == std::string_view::npos) continue;
    line.remove_prefix(lead);
    if (line.front() == '#' || line.front() == '!') continue;

    const char* problem = nullptr;
    std::string key;
    std::string value;
    std::string_view raw_key;
    std::string_view raw_value;
    if (!terminated) {
      problem = "cut short (no final newline)";
    } else if (HasControlBytes(line)) {
      problem = "control characters";
    } else {
      SplitKeyValue(line, &raw_key, &raw_value);
      if (!Unescape(raw_key, &key) || !Unescape(raw_value, &value)) {
        problem = "malformed \\u escape";
      } else if (key.empty()) {
        problem = "no key";
      } else if (!ValueHoldsUrls(value)) {
        problem = "value is not a list of URLs";
      }
    }
    if (problem != nullptr) {
      ++bad;
      DUBBO_LOG(WARNING) << "registry cache file " << source << ": skipping line " << first_line
                         << ": " << problem;
      continue;
    }
    entries[key] = std::move(value);
  }
  if (skipped != nullptr) *skipped = bad;
  return entries;
}

std::string FormatCacheText(const CacheEntries& entries) {
  std::string out(kHeader);
  for (const auto& [key, value] : entries) {
    out.append(EscapeProperty(key, true));
    out.push_back('=');
    out.append(EscapeProperty(value, false));
    out.push_back('\n');
  }
  return out;
}

Result<CacheEntries> CacheFile::Load() const {
  Result<std::string> content = ReadWholeFile(path_);
  if (!content.ok()) {
    if (content.status().code() == StatusCode::kNotFound) return CacheEntries();
    return InternalError(content.status().message()).WithPrefix("loading registry cache file");
  }
  return ParseCacheText(*content, path_, nullptr);
}

Status CacheFile::Save(const CacheEntries& owned, CacheEntries* merged, Duration lock_wait) const {
  FileLock lock;
  DUBBO_RETURN_IF_ERROR(lock.Acquire(path_ + ".lock", lock_wait));

  Result<std::string> current = ReadWholeFile(path_);
  CacheEntries entries;
  if (current.ok()) {
    entries = ParseCacheText(*current, path_, nullptr);
  } else if (current.status().code() != StatusCode::kNotFound) {
    DUBBO_LOG(WARNING) << current.status() << "; rewriting it from memory";
  }
  for (const auto& [key, value] : owned) entries[key] = value;
  const std::string text = FormatCacheText(entries);

  DUBBO_RETURN_IF_ERROR(
      WriteFileAtomically(path_, text).WithPrefix("saving registry cache file"));
  if (merged != nullptr) *merged = std::move(entries);
  return Status::Ok();
}

}  // namespace dubbo::registry::internal
