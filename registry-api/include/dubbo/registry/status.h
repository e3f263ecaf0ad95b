// File: dubbo/registry/status.h
//
// Status: the outcome of an operation that can fail. No exception crosses this library's API; every
// call that can fail returns a Status (or a Result<T>, see result.h). An OK status holds no
// allocation.
//
// Which code to use (a subset of Abseil's canonical codes):
//   kInvalidArgument    the input is malformed; retrying the same call can never succeed.
//   kNotFound           the named thing does not exist (HTTP 404, unknown protocol).
//   kAlreadyExists      a duplicate registration (of a factory, say).
//   kPermissionDenied   authentication or authorisation failed (HTTP 403).
//   kResourceExhausted  the peer refused on a limit of its own (HTTP 413 for an answer over its
//                       size cap, 429 while it throttles us); it is up, so do not fail over for it.
//   kFailedPrecondition the object is in the wrong state for the call (used after Destroy()).
//   kUnavailable        transient: the server is unreachable or overloaded (HTTP 5xx). Retry with
//   backoff. kDeadlineExceeded   transient: the call timed out. Retry. kCancelled          the
//   operation was cancelled (shutdown). kInternal           a broken invariant or an unexpected I/O
//   failure.
//
// Thread-safety: Status is an immutable value; distinct objects may be used from any thread.
#ifndef DUBBO_REGISTRY_STATUS_H_
#define DUBBO_REGISTRY_STATUS_H_

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "dubbo/registry/export.h"

namespace dubbo::registry {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kInternal = 13,
  kUnavailable = 14,
};

// Returns the code's name, e.g. "UNAVAILABLE".
DUBBO_REGISTRY_EXPORT std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] DUBBO_REGISTRY_EXPORT Status {
 public:
  // An OK status.
  Status() noexcept = default;
  // REQUIRES: code != kOk (an OK code yields an OK status and drops the message).
  Status(StatusCode code, std::string_view message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // Empty for an OK status.
  std::string_view message() const { return rep_ ? std::string_view(rep_->message) : std::string_view(); }

  // True for the codes worth retrying later: kUnavailable, kDeadlineExceeded, kInternal.
  bool IsTransient() const;

  // "OK" or "CODE: message".
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>"; OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // Marks a deliberately ignored status.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }
  friend bool operator!=(const Status& a, const Status& b) { return !(a == b); }

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

DUBBO_REGISTRY_EXPORT std::ostream& operator<<(std::ostream& os, const Status& status);

inline Status InvalidArgumentError(std::string_view m) { return Status(StatusCode::kInvalidArgument, m); }
inline Status NotFoundError(std::string_view m) { return Status(StatusCode::kNotFound, m); }
inline Status AlreadyExistsError(std::string_view m) { return Status(StatusCode::kAlreadyExists, m); }
inline Status PermissionDeniedError(std::string_view m) { return Status(StatusCode::kPermissionDenied, m); }
inline Status ResourceExhaustedError(std::string_view m) {
  return Status(StatusCode::kResourceExhausted, m);
}
inline Status FailedPreconditionError(std::string_view m) {
  return Status(StatusCode::kFailedPrecondition, m);
}
inline Status UnavailableError(std::string_view m) { return Status(StatusCode::kUnavailable, m); }
inline Status DeadlineExceededError(std::string_view m) { return Status(StatusCode::kDeadlineExceeded, m); }
inline Status CancelledError(std::string_view m) { return Status(StatusCode::kCancelled, m); }
inline Status InternalError(std::string_view m) { return Status(StatusCode::kInternal, m); }

}  // namespace dubbo::registry

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define DUBBO_RETURN_IF_ERROR(expr)                        \
  do {                                                     \
    ::dubbo::registry::Status dubbo_status_ = (expr);      \
    if (!dubbo_status_.ok()) return dubbo_status_;         \
  } while (0)

#endif  // DUBBO_REGISTRY_STATUS_H_
