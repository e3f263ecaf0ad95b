// Internal: whole-file reads and atomic whole-file replacement (temporary file, fsync, rename), the
// one place where this project's modules do that POSIX I/O: O_CLOEXEC descriptors, EINTR and short
// writes handled, the temporary file removed on every failure.
//
//   DUBBO_RETURN_IF_ERROR(WriteFileAtomically(path, text));
//   Result<std::string> text = ReadWholeFile(path, /*max_bytes=*/1 << 20);
//
// A reader of `path` sees either the old content or the new, never a mix; two writers of the same
// path (threads or processes) each write their own temporary file, and the last rename wins. The
// directory is not fsynced, so after a power cut the old file may come back (fine for caches).
//
// Thread-safety: the functions are safe to call from any thread.
#ifndef DUBBO_REGISTRY_INTERNAL_ATOMIC_FILE_H_
#define DUBBO_REGISTRY_INTERNAL_ATOMIC_FILE_H_

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry::internal {

// strerror(err) as a std::string.
std::string ErrnoText(int err);

// The content of the regular file at `path` (symbolic links are followed).
// Errors: kNotFound when it does not exist; kInvalidArgument when it is not a regular file (a
// FIFO is never opened for blocking reads) or holds more than `max_bytes`; kInternal for other
// I/O errors. Messages name `path`.
Result<std::string> ReadWholeFile(const std::string& path,
                                  size_t max_bytes = std::numeric_limits<size_t>::max());

// Replaces the file at `path` with `data`: writes "<temp_stem>.<pid>.<n>" (created exclusively,
// mode 0600 before umask; `n` is a process-wide counter, skipped forward past existing files),
// fsyncs it and renames it over `path`. An empty `temp_stem` means "<path>.tmp". The temporary
// file must be on the same file system as `path`, normally in the same directory.
// On failure (a full disk, a read-only or missing directory, ...) the temporary file is removed,
// `path` keeps its old content, and the result is kInternal with a message naming the file and
// the errno. The directory is not created.
Status WriteFileAtomically(const std::string& path, std::string_view data,
                           const std::string& temp_stem = std::string());

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_INTERNAL_ATOMIC_FILE_H_
