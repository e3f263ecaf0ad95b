// Internal logging macros shared by this project's modules (not installed).
//
//   DUBBO_LOG(WARNING) << "retry of " << url << " failed: " << status;
//
// The stream is built only when the severity is enabled.
//
// Lines that a peer can trigger at will (a bad answer, a bad datagram) go through a
// LogRateLimiter, so that a hostile or broken server cannot flood the log:
//
//   uint64_t held_back = 0;
//   if (limiter_.Allow(clock->Now(), &held_back)) {
//     DUBBO_LOG(WARNING) << "bad answer: " << status << internal::HeldBackNote(held_back);
//   }
//
// Thread-safety: safe from any thread (a LogRateLimiter too).
#ifndef DUBBO_REGISTRY_INTERNAL_LOGGING_H_
#define DUBBO_REGISTRY_INTERNAL_LOGGING_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <sstream>
#include <string>

#include "dubbo/registry/export.h"
#include "dubbo/registry/logging.h"

namespace dubbo::registry::internal {

// LogEnabled() and LogMessage live in registry-api, next to the process's one log sink, and are
// exported from it: every library's lines reach that sink, shared build or static.
DUBBO_REGISTRY_EXPORT bool LogEnabled(LogSeverity severity);

// Collects one line and hands it to the sink when destroyed.
class DUBBO_REGISTRY_EXPORT LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line)
      : severity_(severity), file_(file), line_(line) {}
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};

// Makes `cond ? (void)0 : voidify & stream` well-typed.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

// Lets one line through per `interval` and counts the lines it holds back in between. Time is
// passed in, so that code on an injected clock stays deterministic in tests.
class LogRateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LogRateLimiter(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // True when a line may be logged at `now`; *held_back is then the number of lines held back
  // since the last one let through (0 otherwise).
  bool Allow(TimePoint now, uint64_t* held_back) {
    std::lock_guard<std::mutex> lock(mu_);
    if (allowed_once_ && now - last_ < interval_) {
      ++held_back_;
      *held_back = 0;
      return false;
    }
    allowed_once_ = true;
    last_ = now;
    *held_back = held_back_;
    held_back_ = 0;
    return true;
  }

 private:
  const std::chrono::steady_clock::duration interval_;
  std::mutex mu_;
  bool allowed_once_ = false;
  TimePoint last_{};
  uint64_t held_back_ = 0;
};

// " (N similar lines not logged)" when N > 0, else "".
inline std::string HeldBackNote(uint64_t held_back) {
  if (held_back == 0) return {};
  return " (" + std::to_string(held_back) + " similar lines not logged)";
}

}  // namespace dubbo::registry::internal

#define DUBBO_LOG_SEVERITY_DEBUG ::dubbo::registry::LogSeverity::kDebug
#define DUBBO_LOG_SEVERITY_INFO ::dubbo::registry::LogSeverity::kInfo
#define DUBBO_LOG_SEVERITY_WARNING ::dubbo::registry::LogSeverity::kWarning
#define DUBBO_LOG_SEVERITY_ERROR ::dubbo::registry::LogSeverity::kError

#define DUBBO_LOG(severity)                                                                  \
  !::dubbo::registry::internal::LogEnabled(DUBBO_LOG_SEVERITY_##severity)                    \
      ? (void)0                                                                              \
      : ::dubbo::registry::internal::LogVoidify() &                                          \
            ::dubbo::registry::internal::LogMessage(DUBBO_LOG_SEVERITY_##severity, __FILE__, \
                                                    __LINE__)                                \
                .stream()

#endif  // DUBBO_REGISTRY_INTERNAL_LOGGING_H_
