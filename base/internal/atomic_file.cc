#include "internal/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace dubbo::registry::internal {
namespace {

// How many taken temporary names WriteFileAtomically() skips before it gives up.
constexpr int kTempNameAttempts = 100;

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return InternalError("write failed: " + ErrnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

int CloseKeepingErrno(int fd) {
  const int saved = errno;
  const int rc = ::close(fd);
  errno = saved;
  return rc;
}

// fsync()s the directory holding `path`, so that a rename into it survives a crash.
Status SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return InternalError("cannot open directory " + dir + ": " + ErrnoText(errno));
  Status status = Status::Ok();
  if (::fsync(fd) != 0) status = InternalError("fsync of " + dir + " failed: " + ErrnoText(errno));
  CloseKeepingErrno(fd);
  return status;
}

}  // namespace

std::string ErrnoText(int err) { return std::string(std::strerror(err)); }

Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + " does not exist");
    return InternalError("cannot open " + path + ": " + ErrnoText(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    CloseKeepingErrno(fd);
    return InternalError("cannot stat " + path + ": " + ErrnoText(err));
  }
  if (!S_ISREG(st.st_mode)) {
    CloseKeepingErrno(fd);
    return InvalidArgumentError(path + " is not a regular file");
  }
  const auto too_big = [&] {
    return InvalidArgumentError(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  };
  if (static_cast<uintmax_t>(st.st_size) > max_bytes) {
    CloseKeepingErrno(fd);
    return too_big();
  }
  std::string content;
  content.reserve(static_cast<size_t>(st.st_size));
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      CloseKeepingErrno(fd);
      return InternalError("cannot read " + path + ": " + ErrnoText(err));
    }
    if (n == 0) break;
    if (static_cast<size_t>(n) > max_bytes - content.size()) {  // It grew while we read.
      CloseKeepingErrno(fd);
      return too_big();
    }
    content.append(buf, static_cast<size_t>(n));
  }
  CloseKeepingErrno(fd);
  return content;
}

Status WriteFileAtomically(const std::string& path, std::string_view data,
                           const std::string& temp_stem) {
  static std::atomic<uint64_t> counter{0};
  const std::string stem = (temp_stem.empty() ? path + ".tmp" : temp_stem) + "." +
                           std::to_string(::getpid()) + ".";
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < kTempNameAttempts; ++attempt) {
    tmp = stem + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    // EEXIST: left by a crashed writer, or by a process with our pid in another pid namespace.
    if (fd >= 0 || (errno != EEXIST && errno != EINTR)) break;
  }
  if (fd < 0) return InternalError("cannot create " + tmp + ": " + ErrnoText(errno));

  Status status = WriteAll(fd, data);
  if (status.ok() && ::fsync(fd) != 0) status = InternalError("fsync failed: " + ErrnoText(errno));
  // close() is not retried on EINTR: on Linux the descriptor is released either way.
  if (::close(fd) != 0 && status.ok()) status = InternalError("close failed: " + ErrnoText(errno));
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = InternalError("rename to " + path + " failed: " + ErrnoText(errno));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status.WithPrefix("writing " + path);
  }
  // The new content is in place; this failing means it may not survive a crash.
  return SyncDirectoryOf(path).WithPrefix("writing " + path);
}

}  // namespace dubbo::registry::internal
