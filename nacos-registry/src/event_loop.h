// Internal: EventLoop, the Nacos naming client's one control-plane thread. A libevent event_base
// runs on a thread of its own; everything the client does (HTTP through curl multi, the UDP push
// socket, heartbeat and retry timers) runs there, one callback at a time, so client state needs no
// locks.
//
//   EventLoop loop("nacos-loop");
//   if (Status s = loop.Start(); !s.ok()) ...;
//   loop.RunInLoop([&] { client.Refresh(); });            // From any thread; runs on the loop.
//   TaskId beat = loop.ScheduleAfter(seconds(5), [&] { client.Beat(); });
//   WatchId udp = loop.WatchFd(fd, EventLoop::kReadable, [&](short) { client.OnDatagram(); });
//   loop.Stop();                                          // Or let the destructor do it.
//
// Callbacks (RunInLoop tasks, timers, fd watches, stop hooks) run one at a time on the loop thread.
// They must not block for long: nothing else runs meanwhile. An exception escaping a callback is
// caught and logged.
//
// Lifecycle: constructed idle; Start() starts the thread; Stop() stops it for good (no restart).
// Stop() makes the loop thread, after the callback that runs now (if any) returns:
//   1. run every task RunInLoop() accepted, in order (nothing new is accepted after Stop());
//   2. run the stop hooks (AddStopHook), in the order they were added: owners of work in flight
//      (CurlMultiTransport) complete it there;
//   3. drop pending timers and fd watches without running them, and free the event_base.
// No timer or fd callback starts once Stop() has been called. Stop() on a loop that was never
// started does all of this on the calling thread, which counts as the loop thread meanwhile.
//
// Thread-safety: every method may be called from any thread, including from inside a callback,
// except that the loop must not be destroyed from one of its own callbacks. Waits: Cancel(),
// UnwatchFd() and RemoveStopHook() called from another thread wait for the callback they remove if
// it is running right now (UnwatchFd() also for the loop to let go of the fd); RunInLoopAndWait()
// waits for its function; Stop() joins the thread. None of them waits when called on the loop
// thread, so a callback can never deadlock on its own loop; a callback that waits for a thread
// which itself waits for the loop can.
#ifndef DUBBO_NACOS_REGISTRY_SRC_EVENT_LOOP_H_
#define DUBBO_NACOS_REGISTRY_SRC_EVENT_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/scheduler.h"
#include "dubbo/registry/status.h"

struct event_base;

namespace dubbo::registry::nacos {

class EventLoop final : public Scheduler {
 public:
  // Identifies an fd watch. Never 0; never reused by one loop.
  using WatchId = uint64_t;
  static constexpr WatchId kInvalidWatchId = 0;
  // Identifies a stop hook. Never 0; never reused by one loop.
  using HookId = uint64_t;
  static constexpr HookId kInvalidHookId = 0;

  // WatchFd() event bits (the same values as libevent's EV_READ and EV_WRITE).
  static constexpr short kReadable = 0x02;
  static constexpr short kWritable = 0x04;

  // `name` names the thread (15 characters at most) and prefixes log lines. Creates the event_base;
  // if that fails, Start() reports it and the loop behaves as a stopped one.
  explicit EventLoop(std::string name = "nacos-loop");
  // Stop()s. REQUIRES: not called on the loop thread (from one of the loop's own callbacks).
  ~EventLoop() override;

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Starts the loop thread. kFailedPrecondition if already started or stopped; kInternal if the
  // event_base could not be created.
  Status Start();

  // Stops the loop (see the file comment) and joins its thread. Idempotent; another call, from any
  // thread, returns once the first has finished. Returns as soon as the running callback and the
  // shutdown steps finish: it never waits for a timer's deadline or for I/O. Called on the loop
  // thread (from a callback), it only requests the stop and returns at once; the thread exits after
  // that callback returns, and the destructor or a later Stop() from another thread joins it.
  void Stop();

  // Queues `fn` to run on the loop thread after every task accepted before it. Returns false, and
  // destroys `fn` without running it, once Stop() has been called. An accepted task runs exactly
  // once if the loop is started (or Stop() is called on a never-started loop). Called on the loop
  // thread, `fn` runs after the current callback returns, never recursively.
  bool RunInLoop(std::function<void()> fn);

  // Runs `fn` on the loop thread and waits for it to return; on the loop thread it runs `fn` at
  // once, inline. Returns whether `fn` ran. Returns false without running it when the loop is not
  // running: never started (nothing would run it), or stopped. If Stop() is in progress on another
  // thread, it first waits until the shutdown has finished (so no callback or stop hook is still
  // running).
  bool RunInLoopAndWait(const std::function<void()>& fn);

  // True on the loop thread (and on a thread running Stop() for a never-started loop).
  bool InLoopThread() const;

  // Scheduler. Timers run on the loop thread in deadline order, ties in scheduling order, never
  // before their deadline. Once Stop() has been called, ScheduleAfter() drops `task` and returns
  // kInvalidTaskId, and pending timers never run. Cancel() follows the Scheduler contract: true if
  // the task had not started and now never will (its closure is destroyed before Cancel() returns);
  // if it is running on the loop thread and Cancel() is called from another thread, waits for it to
  // finish and returns false; called from inside the task (or anywhere on the loop thread) it never
  // waits.
  TaskId ScheduleAfter(Duration delay, std::function<void()> task) override;
  bool Cancel(TaskId id) override;
  // Clock::Real(): libevent waits on the real monotonic clock.
  Clock* clock() override;

  // Calls `cb(fired)` on the loop thread each time `fd` is ready for any of `events` (kReadable
  // and/or kWritable; level-triggered, persistent) until UnwatchFd(). `fired` holds the ready bits.
  // The caller keeps owning `fd` and must UnwatchFd() before closing it. Returns kInvalidWatchId
  // (and destroys `cb`) for a bad fd or event mask, or once Stop() has been called. Called from
  // another thread, the watch becomes active shortly after the call returns.
  WatchId WatchFd(int fd, short events, std::function<void(short)> cb);

  // Removes a watch: when it returns, `cb` will not be called again, is not running (unless this is
  // called from inside it), and the loop no longer polls the fd, so the caller may close it. Called
  // from another thread it waits for the loop thread to delete the event. Returns false for an
  // unknown or already removed id. Safe from inside the watch's own callback; the closure is then
  // destroyed after the callback returns.
  bool UnwatchFd(WatchId id);

  // Adds a function that Stop() runs on the loop thread after the accepted tasks (see the file
  // comment). Returns kInvalidHookId (and destroys `hook`) once Stop() has been called.
  HookId AddStopHook(std::function<void()> hook);
  // Removes a hook: returns true if it had not run and now never will. If it is running on the loop
  // thread and this is called from another thread, waits for it and returns false.
  bool RemoveStopHook(HookId id);

  const std::string& name() const;

  // The libevent event_base, for libevent facilities bound to it (evdns). Use it on the loop thread
  // only, and free what is bound to it in a stop hook: Stop() frees the base after the hooks. Null
  // after that, or when it could not be created.
  event_base* base() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_EVENT_LOOP_H_
