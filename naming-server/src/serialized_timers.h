// Internal: SerializedTimers, the one-shot timers of a component that is not thread-safe and is
// serialised by its owner (a mutex, usually): each body runs on the Scheduler's thread, inside
// `run_serialized`, and never after Stop() or the destructor. PushService and GrpcNaming use it.
//
// Thread-safety: Schedule() and Stop() must be called under the owner's serialisation. The
// destructor must be called WITHOUT it: it enters the serialisation once to stop, then cancels the
// pending tasks outside it (Scheduler::Cancel() waits for a running task, and a running task only
// waits for the serialisation, finds the timers stopped and returns). Declare it as the owner's
// LAST member, so that it is destroyed first and no body runs on a half-destroyed owner.
#ifndef DUBBO_NAMING_SERVER_SRC_SERIALIZED_TIMERS_H_
#define DUBBO_NAMING_SERVER_SRC_SERIALIZED_TIMERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "dubbo/registry/scheduler.h"

namespace dubbo::naming_server {

// Runs `fn` under the owner's serialisation. Empty: runs it directly, which is only right when one
// thread does everything (a test driving a ManualScheduler).
using SerializedRunner = std::function<void(std::function<void()> fn)>;

class SerializedTimers {
 public:
  // `scheduler` must outlive this object.
  SerializedTimers(registry::Scheduler* scheduler, SerializedRunner run_serialized)
      : scheduler_(scheduler), run_serialized_(std::move(run_serialized)) {}
  ~SerializedTimers() {
    std::vector<registry::TaskId> ids;
    Serialized([this, &ids] {
      stopped_ = true;
      for (const auto& [token, id] : tasks_) ids.push_back(id);
      tasks_.clear();
    });
    for (registry::TaskId id : ids) scheduler_->Cancel(id);
  }
  SerializedTimers(const SerializedTimers&) = delete;
  SerializedTimers& operator=(const SerializedTimers&) = delete;

  // Runs `body` after `delay` under the serialisation. False when stopped, or when the scheduler
  // refused the task (it is shut down).
  bool Schedule(registry::Duration delay, std::function<void()> body) {
    if (stopped_) return false;
    const uint64_t token = next_token_++;
    const registry::TaskId id =
        scheduler_->ScheduleAfter(delay, [this, token, body = std::move(body)] {
          Serialized([this, token, &body] {
            if (stopped_) return;
            tasks_.erase(token);
            body();
          });
        });
    if (id == registry::kInvalidTaskId) return false;
    tasks_.emplace(token, id);
    return true;
  }

  // No body runs from now on; the pending tasks fire and find nothing to do (the destructor
  // cancels them).
  void Stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

 private:
  void Serialized(const std::function<void()>& fn) {
    if (run_serialized_) {
      run_serialized_(fn);
    } else {
      fn();
    }
  }

  registry::Scheduler* const scheduler_;
  const SerializedRunner run_serialized_;
  // Guarded by the owner's serialisation.
  bool stopped_ = false;
  uint64_t next_token_ = 1;
  std::map<uint64_t, registry::TaskId> tasks_;  // Every scheduled task that has not run, by token.
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_SERIALIZED_TIMERS_H_
