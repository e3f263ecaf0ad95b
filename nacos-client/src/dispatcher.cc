// Dispatcher. See dispatcher.h.
#include "dispatcher.h"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <system_error>
#include <utility>

#include "internal/logging.h"

namespace dubbo::registry::nacos {

struct Dispatcher::Core {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<uint64_t, std::function<void()>>> queue;
  uint64_t running = 0;  // Listener id of the call in progress, 0 when idle.
  bool stopping = false;
  bool started = false;
  bool exited = false;  // Run() has returned.
  std::thread::id thread_id;

  static void Run(const std::shared_ptr<Core>& core) {
    std::unique_lock<std::mutex> lock(core->mu);
    while (true) {
      core->cv.wait(lock, [&] { return core->stopping || !core->queue.empty(); });
      if (core->stopping) break;
      auto [id, fn] = std::move(core->queue.front());
      core->queue.pop_front();
      core->running = id;
      lock.unlock();
      try {
        fn();
      } catch (const std::exception& e) {
        DUBBO_LOG(ERROR) << "nacos: a listener threw: " << e.what();
      } catch (...) {
        DUBBO_LOG(ERROR) << "nacos: a listener threw a non-exception";
      }
      fn = nullptr;
      lock.lock();
      core->running = 0;
      core->cv.notify_all();
    }
    core->exited = true;
    core->cv.notify_all();
  }
};

Dispatcher::Dispatcher(std::string name)
    : name_(std::move(name)), core_(std::make_shared<Core>()) {}

Dispatcher::~Dispatcher() { Stop(); }

Status Dispatcher::Start() {
  std::lock_guard<std::mutex> lock(core_->mu);
  if (core_->started || core_->stopping) {
    return FailedPreconditionError("dispatcher already started or stopped");
  }
  try {
    thread_ = std::thread([core = core_] { Core::Run(core); });
  } catch (const std::system_error& e) {
    return UnavailableError(std::string("cannot start the dispatcher thread: ") + e.what());
  }
  core_->thread_id = thread_.get_id();
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
  core_->started = true;
  return Status::Ok();
}

void Dispatcher::Post(uint64_t id, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    if (core_->stopping) return;
    core_->queue.emplace_back(id, std::move(fn));
  }
  core_->cv.notify_all();
}

bool Dispatcher::InDispatcherThread() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->started && std::this_thread::get_id() == core_->thread_id;
}

void Dispatcher::WaitIdle(uint64_t id) {
  if (InDispatcherThread()) return;
  std::unique_lock<std::mutex> lock(core_->mu);
  core_->cv.wait(lock, [&] { return core_->running != id; });
}

void Dispatcher::Stop(std::chrono::milliseconds bound) {
  std::deque<std::pair<uint64_t, std::function<void()>>> dropped;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->stopping = true;
    dropped.swap(core_->queue);
  }
  core_->cv.notify_all();
  dropped.clear();  // Destroy the closures outside the lock.
  if (!thread_.joinable()) return;
  if (InDispatcherThread()) {
    thread_.detach();  // The thread holds `core_`; it exits once the running listener returns.
    return;
  }
  uint64_t stuck = 0;
  {
    std::unique_lock<std::mutex> lock(core_->mu);
    if (!core_->cv.wait_for(lock, bound, [&] { return core_->exited; })) stuck = core_->running;
  }
  if (stuck == 0) {
    thread_.join();  // Run() has returned: at once.
    return;
  }
  DUBBO_LOG(ERROR) << "nacos: " << name_ << ": the listener of subscription " << stuck
                   << " is still running " << bound.count()
                   << " ms after stop; leaving its thread behind";
  thread_.detach();  // The thread holds `core_`; it exits once that listener returns.
}

}  // namespace dubbo::registry::nacos
