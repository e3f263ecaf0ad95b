// ManualScheduler: time moves only in AdvanceBy(); due tasks run on the calling thread, one at a
// time, with the lock released.
//
// Thread-safety: all methods may be called from any thread.
#include "dubbo/registry/manual_scheduler.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "internal/logging.h"

namespace dubbo::registry {
namespace {

// Monotonic time starts here: arbitrary, but not zero, so that code treating a zero TimePoint as
// "never" still works.
constexpr Duration kStartTime = std::chrono::hours(24);

// `now + delay`, saturating; a delay <= 0 means `now`.
TimePoint DeadlineAfter(TimePoint now, Duration delay) {
  if (delay <= Duration::zero()) return now;
  if (now > TimePoint::max() - delay) return TimePoint::max();
  return now + delay;
}

int64_t MillisSinceEpoch(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

ManualScheduler::ManualScheduler(int64_t start_wall_millis)
    : now_(TimePoint(kStartTime)),
      wall_offset_millis_(start_wall_millis - MillisSinceEpoch(TimePoint(kStartTime))) {}

TimePoint ManualScheduler::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

int64_t ManualScheduler::WallMillis() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wall_offset_millis_ + MillisSinceEpoch(now_);
}

TaskId ManualScheduler::ScheduleAfter(Duration delay, std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  const TimePoint deadline = DeadlineAfter(now_, delay);
  const TaskId id = next_id_++;
  tasks_.emplace(std::make_pair(deadline, id), std::move(task));
  deadlines_.emplace(id, deadline);
  scheduled_.notify_all();
  return id;
}

bool ManualScheduler::Cancel(TaskId id) {
  std::function<void()> dropped;  // Declared first: destroyed after the lock is released.
  std::unique_lock<std::mutex> lock(mu_);
  auto found = deadlines_.find(id);
  if (found == deadlines_.end()) {
    auto running = running_.find(id);
    if (running != running_.end() && running->second != std::this_thread::get_id()) {
      finished_.wait(lock, [&] { return running_.count(id) == 0; });
    }
    return false;
  }
  auto it = tasks_.find(std::make_pair(found->second, id));
  dropped = std::move(it->second);
  tasks_.erase(it);
  deadlines_.erase(found);
  return true;
}

size_t ManualScheduler::AdvanceBy(Duration delta) {
  TimePoint target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    target = DeadlineAfter(now_, delta);
  }
  size_t ran = 0;
  for (;;) {
    TaskId id = kInvalidTaskId;
    std::function<void()> task;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = tasks_.begin();
      if (it == tasks_.end() || it->first.first > target) {
        now_ = std::max(now_, target);
        return ran;
      }
      now_ = std::max(now_, it->first.first);  // Time never goes backwards.
      id = it->first.second;
      task = std::move(it->second);
      deadlines_.erase(id);
      tasks_.erase(it);
      running_.emplace(id, std::this_thread::get_id());
    }
    ++ran;
    if (task) {
      try {
        task();
      } catch (const std::exception& e) {
        DUBBO_LOG(ERROR) << "manual scheduler: task " << id << " threw: " << e.what();
      } catch (...) {
        DUBBO_LOG(ERROR) << "manual scheduler: task " << id << " threw a non-std exception";
      }
    }
    task = nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(id);
    finished_.notify_all();
  }
}

bool ManualScheduler::RunNext() {
  Duration delay;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tasks_.empty()) return false;
    delay = std::max(Duration::zero(), tasks_.begin()->first.first - now_);
  }
  AdvanceBy(delay);
  return true;
}

size_t ManualScheduler::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size();
}

void ManualScheduler::AwaitPending(size_t count) const {
  std::unique_lock<std::mutex> lock(mu_);
  scheduled_.wait(lock, [&] { return tasks_.size() >= count; });
}

std::optional<Duration> ManualScheduler::NextDelay() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (tasks_.empty()) return std::nullopt;
  return std::max(Duration::zero(), tasks_.begin()->first.first - now_);
}

}  // namespace dubbo::registry
