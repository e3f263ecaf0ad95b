// Internal: a std::mutex with Clang thread-safety annotations, so that -Wthread-safety checks which
// members a lock guards (Abseil's and leveldb's port/ idea, made small).
//
// Thread-safety: Mutex is a mutex.
#ifndef DUBBO_REGISTRY_INTERNAL_MUTEX_H_
#define DUBBO_REGISTRY_INTERNAL_MUTEX_H_

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define DUBBO_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DUBBO_THREAD_ANNOTATION(x)
#endif

#define DUBBO_CAPABILITY(x) DUBBO_THREAD_ANNOTATION(capability(x))
#define DUBBO_SCOPED_CAPABILITY DUBBO_THREAD_ANNOTATION(scoped_lockable)
#define DUBBO_GUARDED_BY(x) DUBBO_THREAD_ANNOTATION(guarded_by(x))
#define DUBBO_PT_GUARDED_BY(x) DUBBO_THREAD_ANNOTATION(pt_guarded_by(x))
#define DUBBO_REQUIRES(...) DUBBO_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define DUBBO_EXCLUDES(...) DUBBO_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define DUBBO_ACQUIRE(...) DUBBO_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define DUBBO_RELEASE(...) DUBBO_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define DUBBO_NO_THREAD_SAFETY_ANALYSIS DUBBO_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace dubbo::registry::internal {

class DUBBO_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() DUBBO_ACQUIRE() { mu_.lock(); }
  void unlock() DUBBO_RELEASE() { mu_.unlock(); }

  // Waits on `cv` until `pred()` holds. REQUIRES: held.
  template <typename Pred>
  void Await(std::condition_variable_any& cv, Pred pred) DUBBO_REQUIRES(this) {
    cv.wait(*this, pred);
  }

 private:
  std::mutex mu_;
};

class DUBBO_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) DUBBO_ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() DUBBO_RELEASE() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_INTERNAL_MUTEX_H_
