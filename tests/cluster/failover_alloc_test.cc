// Counts heap allocations (this executable replaces the global operator new) to show that
// FailoverCluster::Invoke() whose first attempt succeeds, and InvokeAsync() whose attempts report
// inside `call`, allocate nothing once the thread has made its first invocation.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

#include "cluster/cluster_test_util.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/status.h"

namespace {
thread_local long allocations = 0;

void* Allocate(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* AllocateAligned(std::size_t size, std::align_val_t align) {
  ++allocations;
  const std::size_t alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return Allocate(size); }
void* operator new[](std::size_t size) { return Allocate(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  return AllocateAligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return AllocateAligned(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;
using registry::Status;

class ClusterAllocations : public ::testing::Test {
 protected:
  ClusterAllocations() {
    ProviderDirectoryOptions options;
    options.clock = &clock_;
    directory_ = std::make_shared<ProviderDirectory>(options);
    directory_->Notify(
        {ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1"), ProviderUrl("10.0.0.3:1")});
    cluster_ = std::move(*FailoverCluster::Create(
        directory_, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=roundrobin")));
  }

  registry::ManualScheduler clock_;
  std::shared_ptr<ProviderDirectory> directory_;
  std::unique_ptr<FailoverCluster> cluster_;
};

TEST_F(ClusterAllocations, InvokeWhoseFirstAttemptSucceedsAllocatesNothing) {
  const FailoverCluster::Call call = [](const Provider&, const Attempt&) { return Status(); };
  ASSERT_TRUE(cluster_->Invoke({}, call).ok());  // the thread's first: sets up its reader
  const long before = allocations;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cluster_->Invoke({}, call).ok());
  EXPECT_EQ(allocations - before, 0);
}

TEST_F(ClusterAllocations, InvokeAsyncReportedInsideTheCallAllocatesNothing) {
  int completions = 0;
  auto invoke = [&] {
    cluster_->InvokeAsync(
        {}, [](const Provider&, const Attempt&, AttemptDone done) { done(Status()); },
        [&completions](Status s) {
          EXPECT_TRUE(s.ok());
          ++completions;
        });
  };
  invoke();  // the thread's first: its reader and its reusable invocation state
  const long before = allocations;
  for (int i = 0; i < 100; ++i) invoke();
  EXPECT_EQ(allocations - before, 0);
  EXPECT_EQ(completions, 101);
}

}  // namespace
}  // namespace dubbo::cluster
