// EventLoop: a libevent event_base on one thread, plus the bookkeeping that makes it a Scheduler.
//
// Design:
//   - Every libevent call on our events (event_add/del/free) is made on the loop thread. Other
//   threads
//     only record their request under `mu` and activate the `wake` event (event_active is the one
//     libevent call made from any thread, hence evthread_use_pthreads()). Stop() activates `wake`
//     too, rather than calling event_base_loopbreak(), which would be lost if it came before the
//     loop started (the loop clears the flag on entry); an active event is not.
//   - Timers are an ordered map of (deadline, id) -> task, as in ThreadScheduler, with one libevent
//     timer armed for the earliest deadline. That gives exact deadline order (ties in scheduling
//     order), an O(log n) Cancel that needs no libevent call, and no per-timer event allocation.
//   - Fd watches are persistent libevent events; the callback looks the watch up by id under `mu`.
//     UnwatchFd() from another thread has the loop thread delete the event and waits for that, so
//     the caller may close the fd as soon as it returns.
//
// Thread-safety: see event_loop.h. Members are guarded by `mu` unless marked loop-thread-only.
#include "event_loop.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "internal/logging.h"
#include "internal/mutex.h"

namespace dubbo::registry::nacos {
namespace {

using internal::Mutex;
using internal::MutexLock;

static_assert(EventLoop::kReadable == EV_READ, "kReadable must equal EV_READ");
static_assert(EventLoop::kWritable == EV_WRITE, "kWritable must equal EV_WRITE");

// pthread names are 15 characters at most.
constexpr size_t kMaxThreadNameLength = 15;
// The libevent timer is never armed further out than this; a far deadline just re-arms it.
constexpr Duration kMaxTimerWait = std::chrono::hours(1);

enum class State { kIdle, kRunning, kStopping, kStopped };

void UseLibeventThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (evthread_use_pthreads() != 0) DUBBO_LOG(ERROR) << "evthread_use_pthreads failed";
  });
}

// `now + delay`, saturating; a delay <= 0 means `now`.
TimePoint DeadlineAfter(TimePoint now, Duration delay) {
  if (delay <= Duration::zero()) return now;
  if (now > TimePoint::max() - delay) return TimePoint::max();
  return now + delay;
}

// Rounds up to whole microseconds, so the timer never fires before the deadline.
timeval ToTimeval(Duration d) {
  const auto us = std::chrono::ceil<std::chrono::microseconds>(d).count();
  timeval tv;
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return tv;
}

// Runs a callback, catching and logging whatever escapes it.
template <typename Fn, typename... Args>
void InvokeCallback(const std::string& loop, const char* kind, const Fn& fn, Args... args) {
  if (!fn) return;
  try {
    fn(args...);
  } catch (const std::exception& e) {
    DUBBO_LOG(ERROR) << "event loop " << loop << ": a " << kind << " threw: " << e.what();
  } catch (...) {
    DUBBO_LOG(ERROR) << "event loop " << loop << ": a " << kind << " threw a non-std exception";
  }
}

}  // namespace

struct EventLoop::Impl {
  struct Watch {
    Impl* loop = nullptr;
    WatchId id = kInvalidWatchId;
    int fd = -1;
    short events = 0;
    std::function<void(short)> cb;
    event* ev =
        nullptr;  // Loop-thread-only. The last reference is always dropped on the loop thread.

    ~Watch() {
      if (ev != nullptr) event_free(ev);
    }
  };

  // Lets a thread wait for a task it queued.
  struct Completion {
    void Signal() {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    }
    void Wait() {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [this] { return done; });
    }
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };

  explicit Impl(std::string loop_name) : name(std::move(loop_name)) {}

  Status Init();
  // The loop thread's body.
  void Loop();
  // Steps 1-3 of the shutdown (see event_loop.h), then frees the event_base. Runs on the loop
  // thread, or on the thread calling Stop() for a never-started loop.
  void Shutdown() DUBBO_EXCLUDES(mu);

  // libevent callbacks (loop thread).
  static void OnWakeEvent(evutil_socket_t, short, void* arg) { static_cast<Impl*>(arg)->OnWake(); }
  static void OnTimerEvent(evutil_socket_t, short, void* arg) {
    static_cast<Impl*>(arg)->RunDueTimers();
  }
  static void OnFdEvent(evutil_socket_t, short what, void* arg) {
    auto* watch = static_cast<Watch*>(arg);
    watch->loop->DispatchWatch(watch->id, what);
  }
  void OnWake() DUBBO_EXCLUDES(mu);
  void RunDueTimers() DUBBO_EXCLUDES(mu);
  void DispatchWatch(WatchId id, short what) DUBBO_EXCLUDES(mu);
  void ArmWatch(WatchId id) DUBBO_EXCLUDES(mu);
  // Arms the libevent timer for the earliest deadline (loop thread).
  void RearmTimer() DUBBO_EXCLUDES(mu);

  bool AcceptingLocked() const DUBBO_REQUIRES(mu) {
    return state == State::kIdle || state == State::kRunning;
  }
  // Queues `fn` and wakes the loop. REQUIRES: AcceptingLocked().
  void PushLocked(std::function<void()> fn) DUBBO_REQUIRES(mu) {
    const bool was_empty = queue.empty();
    queue.push_back(std::move(fn));
    if (was_empty) WakeLocked();
  }
  // Queues `fn` and returns what signals once it ran. REQUIRES: state == kRunning, which guarantees
  // that it runs (in the loop, or in the shutdown's first step).
  std::shared_ptr<Completion> PushTrackedLocked(std::function<void()> fn) DUBBO_REQUIRES(mu) {
    auto completion = std::make_shared<Completion>();
    PushLocked([this, fn = std::move(fn), completion] {
      InvokeCallback(name, "task", fn);
      completion->Signal();
    });
    return completion;
  }
  // REQUIRES: AcceptingLocked() (so `wake` exists).
  void WakeLocked() DUBBO_REQUIRES(mu) { event_active(wake, EV_READ, 0); }

  bool InLoopThread() const { return loop_thread_id.load() == std::this_thread::get_id(); }

  const std::string name;
  Clock* const clock = Clock::Real();

  // Loop-thread-only (created by the constructor, freed by Shutdown()).
  event_base* base = nullptr;
  event* timer = nullptr;
  // The deadline the libevent timer is armed for; TimePoint::max() when it is not armed.
  TimePoint armed = TimePoint::max();

  // The loop thread's id while it runs (or the id of the thread shutting a never-started loop
  // down).
  std::atomic<std::thread::id> loop_thread_id{};
  // Serialises join() of `thread` (Stop() may be called from several threads).
  std::mutex join_mu;
  std::thread thread;  // Guarded by join_mu once started.

  mutable Mutex mu;
  // Signalled when a callback finishes, a RunInLoopAndWait() function ran, or the state changed.
  std::condition_variable_any cv;
  Status init_status DUBBO_GUARDED_BY(mu);
  State state DUBBO_GUARDED_BY(mu) = State::kIdle;
  event* wake DUBBO_GUARDED_BY(mu) = nullptr;  // Activated from any thread; freed by Shutdown().
  std::deque<std::function<void()>> queue DUBBO_GUARDED_BY(mu);

  TaskId next_task_id DUBBO_GUARDED_BY(mu) = 1;
  TaskId running_task DUBBO_GUARDED_BY(mu) = kInvalidTaskId;
  // (deadline, id) -> task: ordered by deadline, ties by scheduling order (ids increase).
  std::map<std::pair<TimePoint, TaskId>, std::function<void()>> timers DUBBO_GUARDED_BY(mu);
  // id -> deadline, to find a timer for Cancel().
  std::unordered_map<TaskId, TimePoint> deadlines DUBBO_GUARDED_BY(mu);

  WatchId next_watch_id DUBBO_GUARDED_BY(mu) = 1;
  WatchId running_watch DUBBO_GUARDED_BY(mu) = kInvalidWatchId;
  std::unordered_map<WatchId, std::shared_ptr<Watch>> watches DUBBO_GUARDED_BY(mu);
  // Watches removed by another thread during the shutdown; its step 3 deletes their events.
  std::vector<std::shared_ptr<Watch>> graveyard DUBBO_GUARDED_BY(mu);

  HookId next_hook_id DUBBO_GUARDED_BY(mu) = 1;
  HookId running_hook DUBBO_GUARDED_BY(mu) = kInvalidHookId;
  std::map<HookId, std::function<void()>> hooks DUBBO_GUARDED_BY(mu);
};

Status EventLoop::Impl::Init() {
  event_config* config = event_config_new();
  if (config == nullptr) return InternalError("event_config_new failed");
  // CLOCK_MONOTONIC rather than the coarse clock, and timerfd with epoll: sub-millisecond timers.
  event_config_set_flag(config, EVENT_BASE_FLAG_PRECISE_TIMER);
  base = event_base_new_with_config(config);
  event_config_free(config);
  if (base == nullptr) return InternalError("event_base_new failed");
  event* wake_event = event_new(base, -1, 0, &Impl::OnWakeEvent, this);
  timer = evtimer_new(base, &Impl::OnTimerEvent, this);
  if (wake_event == nullptr || timer == nullptr) {
    if (wake_event != nullptr) event_free(wake_event);
    if (timer != nullptr) event_free(timer);
    timer = nullptr;
    event_base_free(base);
    base = nullptr;
    return InternalError("event_new failed");
  }
  MutexLock lock(&mu);
  wake = wake_event;
  return Status::Ok();
}

void EventLoop::Impl::Loop() {
  loop_thread_id.store(std::this_thread::get_id());
  {
    const std::string thread_name = name.substr(0, kMaxThreadNameLength);
    pthread_setname_np(pthread_self(), thread_name.c_str());
  }
  // NO_EXIT_ON_EMPTY: `wake` and `timer` are not always pending, and the loop must wait for them.
  if (event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY) < 0) {
    DUBBO_LOG(ERROR) << "event loop " << name << " failed; stopping it";
  }
  {
    MutexLock lock(&mu);
    if (state == State::kRunning) state = State::kStopping;  // The loop failed.
  }
  Shutdown();
  loop_thread_id.store(std::thread::id());
}

void EventLoop::Impl::Shutdown() {
  // 1. Every accepted task. Nothing new is accepted in kStopping.
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      MutexLock lock(&mu);
      tasks.swap(queue);
    }
    if (tasks.empty()) break;
    for (auto& task : tasks) {
      InvokeCallback(name, "task", task);
      task = nullptr;
    }
  }
  // 2. Stop hooks, in the order they were added.
  for (;;) {
    std::function<void()> hook;
    {
      MutexLock lock(&mu);
      if (hooks.empty()) break;
      auto it = hooks.begin();
      running_hook = it->first;
      hook = std::move(it->second);
      hooks.erase(it);
    }
    InvokeCallback(name, "stop hook", hook);
    hook = nullptr;
    MutexLock lock(&mu);
    running_hook = kInvalidHookId;
    cv.notify_all();
  }
  // 3. Drop timers and watches unrun. Destroyed without the lock: a closure's destructor may call
  // in.
  std::map<std::pair<TimePoint, TaskId>, std::function<void()>> dropped_timers;
  std::unordered_map<WatchId, std::shared_ptr<Watch>> dropped_watches;
  std::vector<std::shared_ptr<Watch>> dead;
  event* wake_event = nullptr;
  {
    MutexLock lock(&mu);
    dropped_timers.swap(timers);
    deadlines.clear();
    dropped_watches.swap(watches);
    dead.swap(graveyard);
    wake_event = wake;
    wake = nullptr;
  }
  dropped_timers.clear();
  dropped_watches.clear();  // Frees their events while the base still exists.
  dead.clear();
  if (timer != nullptr) event_free(timer);
  if (wake_event != nullptr) event_free(wake_event);
  if (base != nullptr) event_base_free(base);
  timer = nullptr;
  base = nullptr;
  MutexLock lock(&mu);
  state = State::kStopped;
  cv.notify_all();
}

void EventLoop::Impl::OnWake() {
  std::deque<std::function<void()>> tasks;
  bool stopping = false;
  {
    MutexLock lock(&mu);
    if (state == State::kRunning) {
      tasks.swap(queue);
    } else {
      stopping = true;  // The queue is left to Shutdown(), which runs it.
    }
  }
  if (stopping) {
    event_base_loopbreak(base);
    return;
  }
  // Tasks queued meanwhile (by these tasks, say) wait for the next wake-up, so I/O is not starved.
  for (auto& task : tasks) {
    InvokeCallback(name, "task", task);
    task = nullptr;
  }
  RearmTimer();
}

void EventLoop::Impl::RunDueTimers() {
  armed = TimePoint::max();  // The (one-shot) timer event fired.
  const TimePoint now = clock->Now();
  TaskId limit = kInvalidTaskId;
  {
    MutexLock lock(&mu);
    limit = next_task_id;  // Tasks scheduled by these tasks wait for the next round.
  }
  for (;;) {
    TaskId id = kInvalidTaskId;
    std::function<void()> task;
    {
      MutexLock lock(&mu);
      if (state != State::kRunning || timers.empty()) break;
      auto it = timers.begin();
      if (it->first.first > now || it->first.second >= limit) break;
      id = it->first.second;
      task = std::move(it->second);
      timers.erase(it);
      deadlines.erase(id);
      running_task = id;
    }
    InvokeCallback(name, "timer task", task);
    task = nullptr;  // Destroy the closure before the task counts as finished.
    MutexLock lock(&mu);
    running_task = kInvalidTaskId;
    cv.notify_all();
  }
  RearmTimer();
}

void EventLoop::Impl::DispatchWatch(WatchId id, short what) {
  std::shared_ptr<Watch> watch;
  {
    MutexLock lock(&mu);
    if (state != State::kRunning) return;
    auto it = watches.find(id);
    if (it == watches.end()) return;  // Removed by another thread; its event is deleted later.
    watch = it->second;
    running_watch = id;
  }
  InvokeCallback(name, "fd watch", watch->cb, static_cast<short>(what & (EV_READ | EV_WRITE)));
  {
    MutexLock lock(&mu);
    running_watch = kInvalidWatchId;
    cv.notify_all();
  }
  // If the callback removed its own watch, this frees the event; libevent allows that from inside
  // the event's own callback.
  watch.reset();
  RearmTimer();
}

void EventLoop::Impl::ArmWatch(WatchId id) {
  std::shared_ptr<Watch> watch;
  {
    MutexLock lock(&mu);
    if (state != State::kRunning) return;
    auto it = watches.find(id);
    if (it == watches.end()) return;
    watch = it->second;
  }
  if (watch->ev != nullptr) return;
  watch->ev = event_new(base, watch->fd, static_cast<short>(watch->events | EV_PERSIST),
                        &Impl::OnFdEvent, watch.get());
  if (watch->ev == nullptr || event_add(watch->ev, nullptr) != 0) {
    DUBBO_LOG(ERROR) << "event loop " << name << ": cannot watch fd " << watch->fd;
  }
}

void EventLoop::Impl::RearmTimer() {
  TimePoint next = TimePoint::max();
  {
    MutexLock lock(&mu);
    if (state != State::kRunning) return;
    if (!timers.empty()) next = timers.begin()->first.first;
  }
  if (next == armed) return;
  armed = next;
  if (next == TimePoint::max()) {
    evtimer_del(timer);
    return;
  }
  const TimePoint now = clock->Now();
  const Duration wait =
      next <= now ? Duration::zero() : std::min<Duration>(next - now, kMaxTimerWait);
  const timeval tv = ToTimeval(wait);
  // libevent adds `tv` to its cached time, which is as old as this loop iteration.
  event_base_update_cache_time(base);
  if (evtimer_add(timer, &tv) != 0) {
    DUBBO_LOG(ERROR) << "event loop " << name << ": cannot arm the timer";
    armed = TimePoint::max();
  }
}

// --- EventLoop
// ------------------------------------------------------------------------------------

EventLoop::EventLoop(std::string name) : impl_(std::make_unique<Impl>(std::move(name))) {
  UseLibeventThreads();
  Status status = impl_->Init();
  if (!status.ok()) {
    DUBBO_LOG(ERROR) << "event loop " << impl_->name << ": " << status;
    MutexLock lock(&impl_->mu);
    impl_->init_status = std::move(status);
    impl_->state = State::kStopped;
  }
}

EventLoop::~EventLoop() {
  if (InLoopThread()) {
    DUBBO_LOG(ERROR) << "event loop " << impl_->name << " destroyed from its own thread";
    std::abort();
  }
  Stop();
}

Status EventLoop::Start() {
  Impl& l = *impl_;
  MutexLock lock(&l.mu);
  if (!l.init_status.ok()) return l.init_status;
  if (l.state != State::kIdle) {
    return FailedPreconditionError(
        "event loop " + l.name +
        (l.state == State::kRunning ? " is already running" : " was stopped"));
  }
  std::lock_guard<std::mutex> join_lock(l.join_mu);
  try {
    l.thread = std::thread([&l] { l.Loop(); });
  } catch (const std::system_error& e) {
    return InternalError("event loop " + l.name + ": cannot start its thread: " + e.what());
  }
  // Also set by the thread itself, first thing: InLoopThread() holds on either side of this line.
  l.loop_thread_id.store(l.thread.get_id());
  l.state = State::kRunning;
  return Status::Ok();
}

void EventLoop::Stop() {
  Impl& l = *impl_;
  bool shut_down_here = false;
  {
    MutexLock lock(&l.mu);
    if (l.state == State::kIdle) {
      l.state = State::kStopping;
      shut_down_here = true;
    } else if (l.state == State::kRunning) {
      l.state = State::kStopping;
      l.WakeLocked();
    }
  }
  if (shut_down_here) {  // Never started: nobody else will run the shutdown.
    l.loop_thread_id.store(std::this_thread::get_id());
    l.Shutdown();
    l.loop_thread_id.store(std::thread::id());
    return;
  }
  if (l.InLoopThread()) return;  // The thread exits after the current callback returns.
  {
    std::lock_guard<std::mutex> join_lock(l.join_mu);
    if (l.thread.joinable()) l.thread.join();
  }
  MutexLock lock(&l.mu);
  while (l.state != State::kStopped) l.cv.wait(l.mu);
}

bool EventLoop::RunInLoop(std::function<void()> fn) {
  Impl& l = *impl_;
  MutexLock lock(&l.mu);
  if (!l.AcceptingLocked()) return false;  // `fn` is destroyed after the lock is released.
  l.PushLocked(std::move(fn));
  return true;
}

bool EventLoop::RunInLoopAndWait(const std::function<void()>& fn) {
  Impl& l = *impl_;
  if (l.InLoopThread()) {
    InvokeCallback(l.name, "task", fn);
    return true;
  }
  std::shared_ptr<Impl::Completion> completion;
  {
    MutexLock lock(&l.mu);
    if (l.state != State::kRunning) {
      // Not started (nothing would run it) or stopped. Let a shutdown in progress finish first, so
      // that the caller knows no callback or hook still runs.
      while (l.state == State::kStopping) l.cv.wait(l.mu);
      return false;
    }
    completion = l.PushTrackedLocked([&fn] { fn(); });  // `fn` outlives the wait below.
  }
  completion->Wait();
  return true;
}

bool EventLoop::InLoopThread() const { return impl_->InLoopThread(); }

TaskId EventLoop::ScheduleAfter(Duration delay, std::function<void()> task) {
  Impl& l = *impl_;
  const TimePoint deadline = DeadlineAfter(l.clock->Now(), delay);
  const bool in_loop = l.InLoopThread();
  MutexLock lock(&l.mu);
  if (!l.AcceptingLocked())
    return kInvalidTaskId;  // `task` is destroyed after the lock is released.
  const TaskId id = l.next_task_id++;
  auto it = l.timers.emplace(std::make_pair(deadline, id), std::move(task)).first;
  l.deadlines.emplace(id, deadline);
  // A new earliest deadline: re-arm. On the loop thread, every callback re-arms when it returns.
  if (it == l.timers.begin() && !in_loop) l.WakeLocked();
  return id;
}

bool EventLoop::Cancel(TaskId id) {
  if (id == kInvalidTaskId) return false;
  Impl& l = *impl_;
  const bool in_loop = l.InLoopThread();
  std::function<void()> dropped;  // Declared first: destroyed after the lock is released.
  MutexLock lock(&l.mu);
  auto found = l.deadlines.find(id);
  if (found != l.deadlines.end()) {
    auto it = l.timers.find(std::make_pair(found->second, id));
    dropped = std::move(it->second);
    l.timers.erase(it);
    l.deadlines.erase(found);
    // The libevent timer may fire for the removed deadline; it then finds nothing due and re-arms.
    return true;
  }
  if (!in_loop) {
    while (l.running_task == id) l.cv.wait(l.mu);
  }
  return false;
}

Clock* EventLoop::clock() { return impl_->clock; }

EventLoop::WatchId EventLoop::WatchFd(int fd, short events, std::function<void(short)> cb) {
  if (fd < 0 || events == 0 || (events & ~(kReadable | kWritable)) != 0 || !cb) {
    return kInvalidWatchId;
  }
  Impl& l = *impl_;
  auto watch = std::make_shared<Impl::Watch>();  // Declared first: destroyed after the lock.
  watch->loop = &l;
  watch->fd = fd;
  watch->events = events;
  watch->cb = std::move(cb);
  const bool in_loop = l.InLoopThread();
  WatchId id = kInvalidWatchId;
  {
    MutexLock lock(&l.mu);
    if (!l.AcceptingLocked()) return kInvalidWatchId;
    id = l.next_watch_id++;
    watch->id = id;
    l.watches.emplace(id, watch);
    if (!in_loop) l.PushLocked([&l, id] { l.ArmWatch(id); });
  }
  if (in_loop) l.ArmWatch(id);
  return id;
}

bool EventLoop::UnwatchFd(WatchId id) {
  if (id == kInvalidWatchId) return false;  // (And would wait forever for "no watch" to finish.)
  Impl& l = *impl_;
  const bool in_loop = l.InLoopThread();
  std::shared_ptr<Impl::Watch> removed;  // Declared first: released after the lock.
  std::shared_ptr<Impl::Completion> freed;
  {
    MutexLock lock(&l.mu);
    // Off the loop thread, wait for a running callback first; the lock is then held until the watch
    // is out of the map, so it cannot start again.
    if (!in_loop) {
      while (l.running_watch == id) l.cv.wait(l.mu);
    }
    auto it = l.watches.find(id);
    if (it == l.watches.end()) return false;
    removed = std::move(it->second);
    l.watches.erase(it);
    if (!in_loop) {
      // The event (and `ev`) belong to the loop thread, and the caller may close the fd as soon as
      // this returns, so the event must be deleted before that.
      switch (l.state) {
        case State::kIdle:  // Not armed yet: arming is a queued task, which will find nothing.
          return true;
        case State::kRunning: {  // Delete it on the loop thread, and wait for that.
          auto holder = std::make_shared<std::shared_ptr<Impl::Watch>>(std::move(removed));
          freed = l.PushTrackedLocked([holder] { holder->reset(); });
          break;
        }
        case State::kStopping:  // The shutdown frees it with the others (its step 3 is still ahead,
                                // as the watch was still in the map); wait for that.
          l.graveyard.push_back(std::move(removed));
          while (l.state != State::kStopped) l.cv.wait(l.mu);
          return true;
        case State::kStopped:  // Unreachable: the shutdown emptied the map.
          return true;
      }
    }
  }
  if (freed != nullptr) {
    freed->Wait();
    return true;
  }
  // Loop thread: no further dispatch. The event is freed with the last reference: now, or after the
  // watch's own callback returns when called from inside it.
  if (removed->ev != nullptr) event_del(removed->ev);
  return true;
}

EventLoop::HookId EventLoop::AddStopHook(std::function<void()> hook) {
  Impl& l = *impl_;
  MutexLock lock(&l.mu);
  if (!l.AcceptingLocked()) return kInvalidHookId;  // `hook` is destroyed after the lock.
  const HookId id = l.next_hook_id++;
  l.hooks.emplace(id, std::move(hook));
  return id;
}

bool EventLoop::RemoveStopHook(HookId id) {
  if (id == kInvalidHookId) return false;
  Impl& l = *impl_;
  const bool in_loop = l.InLoopThread();
  std::function<void()> dropped;  // Declared first: destroyed after the lock is released.
  MutexLock lock(&l.mu);
  auto it = l.hooks.find(id);
  if (it != l.hooks.end()) {
    dropped = std::move(it->second);
    l.hooks.erase(it);
    return true;
  }
  if (!in_loop) {
    while (l.running_hook == id) l.cv.wait(l.mu);
  }
  return false;
}

const std::string& EventLoop::name() const { return impl_->name; }

event_base* EventLoop::base() const { return impl_->base; }

}  // namespace dubbo::registry::nacos
