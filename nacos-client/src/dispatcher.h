// Internal: Dispatcher, the naming client's listener thread. Listener calls are queued by the loop
// and run here one at a time, in order, so a slow listener never stalls beats, polls or pushes,
// and listeners never run under a client lock.
//
// Thread-safety: every method may be called from any thread. WaitIdle() and Stop() do not wait when
// called on the dispatcher thread itself (from a listener).
#ifndef DUBBO_NACOS_CLIENT_SRC_DISPATCHER_H_
#define DUBBO_NACOS_CLIENT_SRC_DISPATCHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "dubbo/registry/status.h"

namespace dubbo::registry::nacos {

class Dispatcher {
 public:
  explicit Dispatcher(std::string name = "nacos-notify");
  // Stop().
  ~Dispatcher();

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts the thread. kUnavailable if it cannot be created.
  Status Start();

  // Queues `fn`, a call of listener `id`. Dropped after Stop(). Exceptions are caught and logged.
  void Post(uint64_t id, std::function<void()> fn);

  // Returns once no call of listener `id` is running (at once on the dispatcher thread).
  void WaitIdle(uint64_t id);

  // Drops queued calls, waits for the running one (unless called from it) at most `bound`, and
  // joins the thread. When the running listener has not returned within `bound`, or Stop() is
  // called from a listener, the thread is detached instead (it exits once that listener returns,
  // touching only state it shares) and the stuck listener's id is logged. Idempotent. Such a
  // listener keeps running after Stop() returns, so a listener must touch only state it shares
  // ownership of, never an object its owner frees once Stop() has returned.
  void Stop(std::chrono::milliseconds bound = kDefaultStopBound);

  // Stop()'s default wait for a running listener.
  static constexpr std::chrono::milliseconds kDefaultStopBound{1000};

  bool InDispatcherThread() const;

 private:
  struct Core;  // Shared with the thread, so that a detached thread never outlives its state.

  const std::string name_;
  std::shared_ptr<Core> core_;
  std::thread thread_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_DISPATCHER_H_
