// What the NamingClient integration tests share: bounded waits on conditions (never a sleep for
// timing) and a listener that records its events.
#ifndef DUBBO_TESTS_NACOS_CLIENT_NAMING_INTEGRATION_UTIL_H_
#define DUBBO_TESTS_NACOS_CLIENT_NAMING_INTEGRATION_UTIL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/nacos/naming_types.h"

namespace dubbo::registry::nacos::testing {

// A watchdog for what should happen promptly: only a broken client takes this long, however loaded
// the machine and however much a sanitizer slows it.
constexpr std::chrono::milliseconds kWatchdog = std::chrono::seconds(60);

// Polls `pred` until it holds or `bound` passes; the result of the last evaluation.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds bound = kWatchdog) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline std::set<int> Ports(const std::vector<Instance>& instances) {
  std::set<int> ports;
  for (const Instance& i : instances) ports.insert(i.port);
  return ports;
}

// Raises the global log level for its lifetime (so that DEBUG/INFO lines reach a LogCapture).
class ScopedLogLevel {
 public:
  explicit ScopedLogLevel(LogSeverity level) : old_(MinLogSeverity()) { SetMinLogSeverity(level); }
  ~ScopedLogLevel() { SetMinLogSeverity(old_); }

 private:
  LogSeverity old_;
};

inline size_t LinesContaining(const std::vector<std::string>& lines, const std::string& text) {
  return static_cast<size_t>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find(text) != std::string::npos;
  }));
}

inline bool AnyLineContains(const std::vector<std::string>& lines, const std::string& text) {
  return LinesContaining(lines, text) > 0;
}

// Collects events; Wait() blocks (with a bound) until a predicate over them holds.
class EventLog {
 public:
  NamingListener Listener() {
    return [this](const ServiceChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  template <typename Pred>
  bool Wait(Pred pred, std::chrono::milliseconds bound = kWatchdog) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return pred(events_); });
  }
  // Waits for an event whose full list has exactly these ports.
  bool WaitForPorts(const std::set<int>& ports, std::chrono::milliseconds bound = kWatchdog) {
    return Wait(
        [&](const std::vector<ServiceChangeEvent>& events) {
          return !events.empty() && Ports(events.back().instances) == ports;
        },
        bound);
  }
  std::vector<ServiceChangeEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ServiceChangeEvent> events_;
};

}  // namespace dubbo::registry::nacos::testing

#endif  // DUBBO_TESTS_NACOS_CLIENT_NAMING_INTEGRATION_UTIL_H_
