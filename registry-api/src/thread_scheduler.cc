// ThreadScheduler: one worker thread, an ordered map of (deadline, id) -> task, two condition
// variables (one wakes the worker, one wakes Cancel() callers waiting for a running task).
//
// Lifetime: the worker thread shares ownership of the scheduler's state (Core), so the scheduler
// may be destroyed from inside one of its own tasks: the thread is then detached and exits after
// that task returns, touching only the Core it still owns.
//
// Thread-safety: every method may be called from any thread, including from inside a running task.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/scheduler.h"
#include "internal/logging.h"
#include "internal/mutex.h"

namespace dubbo::registry {
namespace {

using internal::Mutex;
using internal::MutexLock;

// pthread names are 15 characters at most.
constexpr size_t kMaxThreadNameLength = 15;
// The worker never sleeps longer than this in one wait, so a far-away deadline cannot overflow the
// platform's timed wait.
constexpr Duration kMaxWait = std::chrono::hours(1);

// `now + delay`, saturating; a delay <= 0 means `now`.
TimePoint DeadlineAfter(TimePoint now, Duration delay) {
  if (delay <= Duration::zero()) return now;
  if (now > TimePoint::max() - delay) return TimePoint::max();
  return now + delay;
}

void RunTask(const std::string& name, TaskId id, const std::function<void()>& task) {
  if (!task) return;
  try {
    task();
  } catch (const std::exception& e) {
    DUBBO_LOG(ERROR) << "scheduler " << name << ": task " << id << " threw: " << e.what();
  } catch (...) {
    DUBBO_LOG(ERROR) << "scheduler " << name << ": task " << id << " threw a non-std exception";
  }
}

// The state shared by the scheduler object and its worker thread.
struct Core {
  Core(std::string thread_name, Clock* time_source)
      : name(std::move(thread_name)), clock(time_source) {}

  // The worker thread's body. Returns once `shutdown` is set and no task is running.
  void Run() DUBBO_EXCLUDES(mu);

  bool InWorkerThreadLocked() const DUBBO_REQUIRES(mu) {
    return worker_id == std::this_thread::get_id();
  }

  const std::string name;
  Clock* const clock;

  mutable Mutex mu;
  std::condition_variable_any work_cv;  // Wakes the worker: new earliest task or shutdown.
  std::condition_variable_any done_cv;  // Wakes Cancel() callers: a task finished.
  bool shutdown DUBBO_GUARDED_BY(mu) = false;
  TaskId next_id DUBBO_GUARDED_BY(mu) = 1;
  TaskId running_id DUBBO_GUARDED_BY(mu) = kInvalidTaskId;
  std::thread::id worker_id DUBBO_GUARDED_BY(mu);
  // (deadline, id) -> task: ordered by deadline, ties by scheduling order (ids increase).
  std::map<std::pair<TimePoint, TaskId>, std::function<void()>> tasks DUBBO_GUARDED_BY(mu);
  // id -> deadline, to find a task for Cancel().
  std::unordered_map<TaskId, TimePoint> deadlines DUBBO_GUARDED_BY(mu);
};

void Core::Run() {
  {
    std::string thread_name = name.substr(0, kMaxThreadNameLength);
    pthread_setname_np(pthread_self(), thread_name.c_str());
  }
  for (;;) {
    TaskId id = kInvalidTaskId;
    std::function<void()> task;
    {
      MutexLock lock(&mu);
      if (running_id != kInvalidTaskId) {  // The previous task has returned.
        running_id = kInvalidTaskId;
        done_cv.notify_all();
      }
      for (;;) {
        if (shutdown) return;
        if (tasks.empty()) {
          work_cv.wait(mu);
          continue;
        }
        auto it = tasks.begin();
        const TimePoint deadline = it->first.first;
        const TimePoint now = clock->Now();
        if (deadline <= now) {
          id = it->first.second;
          task = std::move(it->second);
          tasks.erase(it);
          deadlines.erase(id);
          running_id = id;
          break;
        }
        const TimePoint wake = now > TimePoint::max() - kMaxWait ? deadline : now + kMaxWait;
        work_cv.wait_until(mu, std::min(deadline, wake));
      }
    }
    RunTask(name, id, task);
    task = nullptr;  // Destroy the closure before the task counts as finished.
  }
}

}  // namespace

struct ThreadScheduler::Impl {
  std::shared_ptr<Core> core;
  // Serialises join()/detach() of `thread` (Shutdown() may be called from several threads).
  std::mutex join_mu;
  std::thread thread;
  Status start_error;  // Set once, by the constructor.
};

ThreadScheduler::ThreadScheduler(std::string name, Clock* clock) : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<Core>(std::move(name), clock != nullptr ? clock : Clock::Real());
  std::shared_ptr<Core> core = impl_->core;
  try {
    impl_->thread = std::thread([core] { core->Run(); });
  } catch (const std::system_error& e) {
    // Without a worker nothing would ever run: refuse tasks from the start, as after Shutdown().
    impl_->start_error =
        UnavailableError("scheduler " + core->name + ": cannot start its thread: " + e.what());
    DUBBO_LOG(ERROR) << impl_->start_error << "; its tasks are dropped";
    MutexLock lock(&core->mu);
    core->shutdown = true;
    return;
  }
  MutexLock lock(&core->mu);
  core->worker_id = impl_->thread.get_id();
}

Result<std::unique_ptr<ThreadScheduler>> ThreadScheduler::Create(std::string name, Clock* clock) {
  auto scheduler = std::make_unique<ThreadScheduler>(std::move(name), clock);
  if (!scheduler->status().ok()) return scheduler->status();
  return scheduler;
}

Status ThreadScheduler::status() const { return impl_->start_error; }

ThreadScheduler::~ThreadScheduler() {
  Shutdown();
  std::lock_guard<std::mutex> join_lock(impl_->join_mu);
  if (impl_->thread.joinable()) {
    // Only when destroyed from one of its own tasks (Shutdown() joined otherwise): the worker
    // cannot join itself. It exits after the task returns and owns a reference to the Core it uses.
    impl_->thread.detach();
  }
}

TaskId ThreadScheduler::ScheduleAfter(Duration delay, std::function<void()> task) {
  Core& core = *impl_->core;
  const TimePoint deadline = DeadlineAfter(core.clock->Now(), delay);
  MutexLock lock(&core.mu);
  if (core.shutdown) return kInvalidTaskId;  // `task` is destroyed after the lock is released.
  const TaskId id = core.next_id++;
  auto it = core.tasks.emplace(std::make_pair(deadline, id), std::move(task)).first;
  core.deadlines.emplace(id, deadline);
  if (it == core.tasks.begin()) core.work_cv.notify_one();  // New earliest deadline.
  return id;
}

bool ThreadScheduler::Cancel(TaskId id) {
  if (id == kInvalidTaskId) return false;
  Core& core = *impl_->core;
  std::function<void()> dropped;  // Declared first: destroyed after the lock is released.
  MutexLock lock(&core.mu);
  auto found = core.deadlines.find(id);
  if (found != core.deadlines.end()) {
    auto it = core.tasks.find(std::make_pair(found->second, id));
    dropped = std::move(it->second);
    core.tasks.erase(it);
    core.deadlines.erase(found);
    // The worker may wake for the removed deadline; it then just waits again.
    return true;
  }
  if (core.running_id == id && !core.InWorkerThreadLocked()) {
    while (core.running_id == id) core.done_cv.wait(core.mu);
  }
  return false;
}

Clock* ThreadScheduler::clock() { return impl_->core->clock; }

void ThreadScheduler::Shutdown() {
  Core& core = *impl_->core;
  std::map<std::pair<TimePoint, TaskId>, std::function<void()>> dropped;
  bool in_worker = false;
  {
    MutexLock lock(&core.mu);
    core.shutdown = true;
    dropped.swap(core.tasks);
    core.deadlines.clear();
    in_worker = core.InWorkerThreadLocked();
    core.work_cv.notify_all();
  }
  dropped.clear();        // Without the lock: a closure's destructor may call back in.
  if (in_worker) return;  // The worker exits after the current task returns.
  std::lock_guard<std::mutex> join_lock(impl_->join_mu);
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool ThreadScheduler::InWorkerThread() const {
  Core& core = *impl_->core;
  MutexLock lock(&core.mu);
  return core.InWorkerThreadLocked();
}

}  // namespace dubbo::registry
