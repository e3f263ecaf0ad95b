// Test helper: captures this library's log lines at or above a severity for its lifetime (and
// restores the default stderr sink afterwards).
//
// Thread-safety: lines() may be called while other threads log.
#ifndef DUBBO_TESTS_TESTING_LOG_CAPTURE_H_
#define DUBBO_TESTS_TESTING_LOG_CAPTURE_H_

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/logging.h"

namespace dubbo::registry::testing {

class LogCapture {
 public:
  explicit LogCapture(LogSeverity min_severity = LogSeverity::kError) {
    SetLogSink([this, min_severity](LogSeverity severity, const char*, int, std::string_view message) {
      if (severity < min_severity) return;
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(message);
    });
  }
  ~LogCapture() { SetLogSink(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace dubbo::registry::testing

#endif  // DUBBO_TESTS_TESTING_LOG_CAPTURE_H_
