// Internal logging macros shared by this project's modules (not installed).
//
//   DUBBO_LOG(WARNING) << "retry of " << url << " failed: " << status;
//
// The stream is built only when the severity is enabled.
//
// Thread-safety: safe from any thread.
#ifndef DUBBO_REGISTRY_INTERNAL_LOGGING_H_
#define DUBBO_REGISTRY_INTERNAL_LOGGING_H_

#include <sstream>

#include "dubbo/registry/logging.h"

namespace dubbo::registry::internal {

bool LogEnabled(LogSeverity severity);

// Collects one line and hands it to the sink when destroyed.
class LogMessage {
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

}  // namespace dubbo::registry::internal

#define DUBBO_LOG_SEVERITY_DEBUG ::dubbo::registry::LogSeverity::kDebug
#define DUBBO_LOG_SEVERITY_INFO ::dubbo::registry::LogSeverity::kInfo
#define DUBBO_LOG_SEVERITY_WARNING ::dubbo::registry::LogSeverity::kWarning
#define DUBBO_LOG_SEVERITY_ERROR ::dubbo::registry::LogSeverity::kError

#define DUBBO_LOG(severity)                                                              \
  !::dubbo::registry::internal::LogEnabled(DUBBO_LOG_SEVERITY_##severity)                \
      ? (void)0                                                                          \
      : ::dubbo::registry::internal::LogVoidify() &                                      \
            ::dubbo::registry::internal::LogMessage(DUBBO_LOG_SEVERITY_##severity, __FILE__, \
                                                    __LINE__)                            \
                .stream()

#endif  // DUBBO_REGISTRY_INTERNAL_LOGGING_H_
