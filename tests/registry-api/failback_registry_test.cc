// FailbackRegistry and AbstractRegistry against FakeRegistry, driven by a ManualScheduler: every
// retry is observed on the injected timeline, never by sleeping.
#include "dubbo/registry/failback_registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "dubbo/registry/manual_scheduler.h"
#include "testing/fake_registry.h"
#include "testing/log_capture.h"
#include "testing/recording_listener.h"
#include "testing/temp_dir.h"

namespace dubbo::registry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeRegistry;
using testing::LogCapture;
using testing::Op;
using testing::RecordingListener;
using testing::TempDir;

URL MustParse(const std::string& text) {
  Result<URL> url = URL::Parse(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  return url.value_or(URL());
}

const char kProvider[] =
    "dubbo://10.0.0.1:20880/com.foo.BarService?interface=com.foo.BarService&version=1.0.0"
    "&side=provider&application=demo";
const char kProvider2[] =
    "dubbo://10.0.0.2:20880/com.foo.BarService?interface=com.foo.BarService&version=1.0.0"
    "&side=provider&application=demo";
const char kConsumer[] =
    "consumer://10.0.0.9/com.foo.BarService?interface=com.foo.BarService&version=1.0.0"
    "&category=providers,configurators,routers&side=consumer";

class FailbackRegistryTest : public ::testing::Test {
 protected:
  // `params` are appended to the registry URL.
  std::unique_ptr<FakeRegistry> Make(const std::string& params = "check=false") {
    RegistryOptions options;
    options.scheduler = &sched_;
    std::string text = "fake://127.0.0.1:9090?file=" + tmp_.File("registry.cache");
    if (!params.empty()) text += "&" + params;
    return std::make_unique<FakeRegistry>(MustParse(text), options);
  }

  TempDir tmp_;
  ManualScheduler sched_;
};

TEST_F(FailbackRegistryTest, RegisterSucceedsWithoutRetry) {
  auto registry = Make();
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  EXPECT_EQ(registry->calls(Op::kRegister), 1);
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  EXPECT_EQ(registry->server_urls().size(), 1u);
  EXPECT_EQ(registry->GetRegistered().size(), 1u);
}

TEST_F(FailbackRegistryTest, FailedRegisterIsRetriedEveryRetryPeriodUntilItSucceeds) {
  auto registry = Make();
  registry->FailNext(Op::kRegister, 3);
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());  // check=false: not returned.
  EXPECT_EQ(registry->pending_retries().registers, 1u);
  EXPECT_EQ(registry->calls(Op::kRegister), 1);

  sched_.AdvanceBy(milliseconds(4999));
  EXPECT_EQ(registry->calls(Op::kRegister), 1) << "retried before retry.period";
  sched_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(registry->calls(Op::kRegister), 2);  // +5 s: fails again
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(registry->calls(Op::kRegister), 3);  // +10 s: fails again
  EXPECT_TRUE(registry->server_urls().empty());
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(registry->calls(Op::kRegister), 4);  // +15 s: succeeds
  EXPECT_EQ(registry->server_urls().size(), 1u);
  EXPECT_EQ(registry->pending_retries().total(), 0u);

  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(registry->calls(Op::kRegister), 4) << "a success must cancel further retries";
}

TEST_F(FailbackRegistryTest, RetryPeriodComesFromTheOperationUrlThenTheRegistryUrl) {
  auto registry = Make("check=false&retry.period=2000");
  registry->FailNext(Op::kRegister, 10);
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  ASSERT_TRUE(registry->Register(MustParse(std::string(kProvider2) + "&retry.period=700")).ok());
  EXPECT_EQ(sched_.NextDelay(), std::optional<Duration>(milliseconds(700)));
  sched_.AdvanceBy(milliseconds(700));
  EXPECT_EQ(registry->calls(Op::kRegister), 3);
  // Pending now: the 700 ms URL at +1400, the registry-period one at +2000.
  EXPECT_EQ(sched_.NextDelay(), std::optional<Duration>(milliseconds(700)));
  sched_.AdvanceBy(milliseconds(1300));
  EXPECT_EQ(registry->calls(Op::kRegister), 5);
  EXPECT_EQ(sched_.NextDelay(), std::optional<Duration>(milliseconds(100)));  // +2100
}

TEST_F(FailbackRegistryTest, RetryTimesCapsTheRetries) {
  auto registry = Make("check=false&retry.times=2");
  registry->FailNext(Op::kRegister, 100);
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(registry->calls(Op::kRegister), 3);  // the call plus 2 retries
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  // Still registered locally, so a Recover() after a reconnect restores it.
  EXPECT_EQ(registry->GetRegistered().size(), 1u);
}

TEST_F(FailbackRegistryTest, DefaultRetryTimesRetriesForever) {
  auto registry = Make();
  registry->FailNext(Op::kRegister, 1000);
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  sched_.AdvanceBy(seconds(5 * 200));
  EXPECT_EQ(registry->calls(Op::kRegister), 201);
  EXPECT_EQ(registry->pending_retries().registers, 1u);
}

// Dubbo's rule: retry.times <= 0 means no cap.
TEST_F(FailbackRegistryTest, ZeroRetryTimesRetriesForever) {
  auto registry = Make("check=false&retry.times=0");
  registry->FailNext(Op::kRegister, 1000);
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  sched_.AdvanceBy(seconds(5 * 200));
  EXPECT_EQ(registry->calls(Op::kRegister), 201);
  EXPECT_EQ(registry->pending_retries().registers, 1u);
}

TEST_F(FailbackRegistryTest, OneRetryTimeRetriesOnce) {
  auto registry = Make("check=false");
  registry->FailNext(Op::kRegister, 100);
  ASSERT_TRUE(registry->Register(MustParse(std::string(kProvider) + "&retry.times=1")).ok());
  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(registry->calls(Op::kRegister), 2);  // the call plus 1 retry
  EXPECT_EQ(registry->pending_retries().total(), 0u);
}

// A period beyond a day is a day; the registry URL's bad value is logged once, at construction.
TEST_F(FailbackRegistryTest, RetryPeriodAboveADayIsADayAndLoggedOnce) {
  LogCapture logs(LogSeverity::kWarning);
  auto registry = Make("check=false&retry.period=99999999999999999");
  ASSERT_EQ(logs.lines().size(), 1u);
  EXPECT_NE(logs.lines()[0].find("retry.period=99999999999999999"), std::string::npos)
      << logs.lines()[0];
  EXPECT_NE(logs.lines()[0].find("using 86400000"), std::string::npos) << logs.lines()[0];

  registry->FailNext(Op::kRegister, 2);
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  EXPECT_EQ(sched_.NextDelay(), std::optional<Duration>(std::chrono::hours(24)));
  sched_.AdvanceBy(std::chrono::hours(24));
  EXPECT_EQ(registry->calls(Op::kRegister), 2);
  EXPECT_EQ(sched_.NextDelay(), std::optional<Duration>(std::chrono::hours(24)));
  int period_lines = 0;
  for (const std::string& line : logs.lines()) {
    if (line.find("retry.period") != std::string::npos) ++period_lines;
  }
  EXPECT_EQ(period_lines, 1);
}

TEST_F(FailbackRegistryTest, BadRetrySettingsOfAnOperationUrlAreTheRegistryUrlsAndLogged) {
  auto registry = Make("check=false&retry.period=2000&retry.times=1");
  LogCapture logs(LogSeverity::kWarning);
  registry->FailNext(Op::kRegister, 100);
  ASSERT_TRUE(
      registry->Register(MustParse(std::string(kProvider) + "&retry.period=0&retry.times=x")).ok());
  // The operation URL's period 0 gives the registry URL's, and `x` the registry URL's one retry.
  EXPECT_EQ(sched_.NextDelay(), std::optional<Duration>(milliseconds(2000)));
  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(registry->calls(Op::kRegister), 2);
  int period_lines = 0;
  int times_lines = 0;
  for (const std::string& line : logs.lines()) {
    if (line.rfind("URL parameter ", 0) != 0) continue;  // The failures themselves.
    if (line.find("retry.period=0") != std::string::npos) {
      ++period_lines;
      EXPECT_NE(line.find("using 2000"), std::string::npos) << line;
    }
    if (line.find("retry.times=x") != std::string::npos) {
      ++times_lines;
      EXPECT_NE(line.find("using 1"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(period_lines, 1);
  EXPECT_EQ(times_lines, 1);
}

TEST_F(FailbackRegistryTest, UnregisterCancelsAPendingRegisterRetry) {
  auto registry = Make();
  registry->FailNext(Op::kRegister, 1);
  const URL url = MustParse(kProvider);
  ASSERT_TRUE(registry->Register(url).ok());
  ASSERT_EQ(registry->pending_retries().registers, 1u);
  ASSERT_TRUE(registry->Unregister(url).ok());
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(registry->calls(Op::kRegister), 1);
  EXPECT_TRUE(registry->server_urls().empty());
  EXPECT_TRUE(registry->GetRegistered().empty());
}

TEST_F(FailbackRegistryTest, RegisterCancelsAPendingUnregisterRetry) {
  auto registry = Make();
  const URL url = MustParse(kProvider);
  ASSERT_TRUE(registry->Register(url).ok());
  registry->FailNext(Op::kUnregister, 1);
  ASSERT_TRUE(registry->Unregister(url).ok());
  ASSERT_EQ(registry->pending_retries().unregisters, 1u);
  ASSERT_TRUE(registry->Register(url).ok());
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(registry->calls(Op::kUnregister), 1);
  EXPECT_EQ(registry->server_urls().size(), 1u);
}

TEST_F(FailbackRegistryTest, FailedUnregisterIsRetried) {
  auto registry = Make();
  const URL url = MustParse(kProvider);
  ASSERT_TRUE(registry->Register(url).ok());
  registry->FailNext(Op::kUnregister, 2);
  ASSERT_TRUE(registry->Unregister(url).ok());
  sched_.AdvanceBy(seconds(10));
  EXPECT_EQ(registry->calls(Op::kUnregister), 3);
  EXPECT_TRUE(registry->server_urls().empty());
  EXPECT_EQ(registry->pending_retries().total(), 0u);
}

TEST_F(FailbackRegistryTest, CheckTrueReturnsTheFirstFailureAndKeepsTheUrlForRecover) {
  auto registry = Make("");  // check defaults to true
  registry->FailNext(Op::kRegister, 1);
  const URL url = MustParse(kProvider);
  Status status = registry->Register(url);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("check=true"), std::string_view::npos) << status;
  EXPECT_EQ(registry->pending_retries().total(), 0u) << "check=true must not queue a retry";
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(registry->calls(Op::kRegister), 1);
  ASSERT_EQ(registry->GetRegistered().size(), 1u);

  registry->Recover();
  sched_.RunDue();
  EXPECT_EQ(registry->calls(Op::kRegister), 2);
  EXPECT_EQ(registry->server_urls().size(), 1u);
}

TEST_F(FailbackRegistryTest, CheckFalseOnTheUrlAloneIsEnough) {
  auto registry = Make("");
  registry->FailNext(Op::kRegister, 1);
  EXPECT_TRUE(registry->Register(MustParse(std::string(kProvider) + "&check=false")).ok());
  EXPECT_EQ(registry->pending_retries().registers, 1u);
}

TEST_F(FailbackRegistryTest, CheckIsIgnoredForPortZeroUrls) {
  // Dubbo 3.x: a consumer URL (port 0) never fails the caller's register.
  auto registry = Make("");
  registry->FailNext(Op::kRegister, 1);
  EXPECT_TRUE(registry->Register(MustParse(kConsumer)).ok());
  EXPECT_EQ(registry->pending_retries().registers, 1u);
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(registry->server_urls().size(), 1u);
}

TEST_F(FailbackRegistryTest, InvalidArgumentIsNeverRetriedAndIsRolledBack) {
  auto registry = Make();  // even with check=false
  registry->FailNext(Op::kRegister, 1, InvalidArgumentError("bad service name"));
  Status status = registry->Register(MustParse(kProvider));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  EXPECT_TRUE(registry->GetRegistered().empty());
}

TEST_F(FailbackRegistryTest, AcceptsLimitsTheProtocolsRegistered) {
  auto registry = Make("check=false&accepts=thrift");
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());  // dubbo:// is not accepted
  EXPECT_EQ(registry->calls(Op::kRegister), 0);
  ASSERT_TRUE(registry->Register(MustParse(kProvider).WithProtocol("thrift")).ok());
  EXPECT_EQ(registry->calls(Op::kRegister), 1);

  auto deny = Make("check=false&accepts=-dubbo&file=false");
  ASSERT_TRUE(deny->Register(MustParse(kProvider)).ok());
  EXPECT_EQ(deny->calls(Op::kRegister), 0);
  ASSERT_TRUE(deny->Register(MustParse(kProvider).WithProtocol("tri")).ok());
  EXPECT_EQ(deny->calls(Op::kRegister), 1);
}

TEST_F(FailbackRegistryTest, SubscribeDeliversTheFirstNotificationBeforeReturning) {
  auto registry = Make();
  registry->AddServerUrl(MustParse(kProvider));
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(MustParse(kConsumer), listener).ok());
  ASSERT_EQ(listener->count(), 1u);
  ASSERT_EQ(listener->last().size(), 1u);
  EXPECT_EQ(listener->last()[0], MustParse(kProvider));
}

TEST_F(FailbackRegistryTest, EmptyCategoryIsDeliveredAsEmptyUrl) {
  auto registry = Make();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(MustParse(kConsumer), listener).ok());
  ASSERT_EQ(listener->count(), 1u);
  ASSERT_EQ(listener->last().size(), 1u);
  EXPECT_TRUE(listener->last()[0].IsEmptyProtocol());
  EXPECT_EQ(listener->last()[0].Category(), "providers");
}

TEST_F(FailbackRegistryTest, PushDeliversTheFullListEveryTime) {
  auto registry = Make();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(MustParse(kConsumer), listener).ok());
  registry->AddServerUrl(MustParse(kProvider));
  registry->Push();
  registry->AddServerUrl(MustParse(kProvider2));
  registry->Push();
  registry->RemoveServerUrl(MustParse(kProvider));
  registry->Push();
  auto calls = listener->calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1].size(), 1u);
  EXPECT_EQ(calls[2].size(), 2u) << "a listener gets the full list, never a diff";
  ASSERT_EQ(calls[3].size(), 1u);
  EXPECT_EQ(calls[3][0], MustParse(kProvider2));
}

TEST_F(FailbackRegistryTest, NotifySplitsByCategoryAndFiltersNonMatching) {
  auto registry = Make();
  auto listener = std::make_shared<RecordingListener>();
  const URL consumer = MustParse(kConsumer);
  ASSERT_TRUE(registry->Subscribe(consumer, listener).ok());
  const size_t before = listener->count();
  registry->Notify(consumer, listener,
                   {MustParse(kProvider), MustParse(kProvider2),
                    MustParse("override://0.0.0.0/com.foo.BarService?category=configurators&version=1.0.0"),
                    MustParse("route://0.0.0.0/com.foo.BarService?category=routers&version=1.0.0"),
                    // Another interface and another version: filtered out.
                    MustParse("dubbo://10.0.0.3:20880/com.other.Service?version=1.0.0"),
                    MustParse("dubbo://10.0.0.4:20880/com.foo.BarService?version=2.0.0")});
  auto calls = listener->calls();
  ASSERT_EQ(calls.size() - before, 3u) << "one call per category";
  auto notified = registry->GetNotified(consumer);
  ASSERT_EQ(notified.size(), 3u);
  EXPECT_EQ(notified["providers"].size(), 2u);
  EXPECT_EQ(notified["configurators"].size(), 1u);
  EXPECT_EQ(notified["routers"].size(), 1u);
}

TEST_F(FailbackRegistryTest, AnEmptyNotificationIsIgnored) {
  auto registry = Make();
  auto listener = std::make_shared<RecordingListener>();
  const URL consumer = MustParse(kConsumer);
  ASSERT_TRUE(registry->Subscribe(consumer, listener).ok());
  const size_t before = listener->count();
  registry->Notify(consumer, listener, {});
  EXPECT_EQ(listener->count(), before) << "clearing a category needs an explicit empty://";
}

TEST_F(FailbackRegistryTest, UnsubscribeStopsNotificationsAndReachesTheServer) {
  auto registry = Make();
  auto listener = std::make_shared<RecordingListener>();
  const URL consumer = MustParse(kConsumer);
  ASSERT_TRUE(registry->Subscribe(consumer, listener).ok());
  ASSERT_EQ(registry->server_subscription_count(), 1u);
  ASSERT_TRUE(registry->Unsubscribe(consumer, listener).ok());
  EXPECT_EQ(registry->server_subscription_count(), 0u);
  const size_t before = listener->count();
  registry->AddServerUrl(MustParse(kProvider));
  registry->Notify(consumer, listener, {MustParse(kProvider)});
  EXPECT_EQ(listener->count(), before);
  EXPECT_TRUE(registry->GetSubscribed().empty());
}

TEST_F(FailbackRegistryTest, AListenerMayUnsubscribeItselfFromInsideTheCallback) {
  auto registry = Make();
  auto listener = std::make_shared<RecordingListener>();
  const URL consumer = MustParse(kConsumer);
  ASSERT_TRUE(registry->Subscribe(consumer, listener).ok());
  FakeRegistry* raw = registry.get();
  listener->SetHook([&](const std::vector<URL>&) { EXPECT_TRUE(raw->Unsubscribe(consumer, listener).ok()); });
  registry->AddServerUrl(MustParse(kProvider));
  registry->Push();
  EXPECT_EQ(listener->count(), 2u);
  EXPECT_TRUE(registry->GetSubscribed().empty());
  registry->Notify(consumer, listener, {MustParse(kProvider2)});
  EXPECT_EQ(listener->count(), 2u);
}

TEST_F(FailbackRegistryTest, FailedSubscribeWithCheckFalseIsRetriedAndThenNotifies) {
  auto registry = Make();
  registry->AddServerUrl(MustParse(kProvider));
  registry->FailNext(Op::kSubscribe, 2);
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(MustParse(kConsumer), listener).ok());
  EXPECT_EQ(listener->count(), 0u);
  EXPECT_EQ(registry->pending_retries().subscribes, 1u);
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(listener->count(), 0u);
  sched_.AdvanceBy(seconds(5));
  ASSERT_EQ(listener->count(), 1u);
  EXPECT_EQ(listener->last()[0], MustParse(kProvider));
  EXPECT_EQ(registry->pending_retries().total(), 0u);
}

TEST_F(FailbackRegistryTest, FailedSubscribeWithCheckTrueAndNoCacheReturnsTheError) {
  auto registry = Make("");
  registry->FailNext(Op::kSubscribe, 1);
  auto listener = std::make_shared<RecordingListener>();
  Status status = registry->Subscribe(MustParse(kConsumer), listener);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  EXPECT_EQ(registry->GetSubscribed().size(), 1u) << "kept for Recover()";
}

TEST_F(FailbackRegistryTest, FailedSubscribeServesTheCacheFileThenRetries) {
  const URL consumer = MustParse(kConsumer);
  {
    auto first = Make("check=true");
    first->AddServerUrl(MustParse(kProvider));
    first->AddServerUrl(MustParse(kProvider2));
    ASSERT_TRUE(first->Subscribe(consumer, std::make_shared<RecordingListener>()).ok());
    first->Destroy();  // Flushes the cache file.
  }
  // A new process starts while the registry is down.
  auto registry = Make("check=true");
  registry->FailNext(Op::kSubscribe, 1);
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(consumer, listener).ok()) << "cached URLs make the failure non-fatal";
  ASSERT_EQ(listener->count(), 1u);
  EXPECT_EQ(listener->last().size(), 2u);
  EXPECT_EQ(registry->pending_retries().subscribes, 1u);

  registry->AddServerUrl(MustParse(kProvider));
  sched_.AdvanceBy(seconds(5));
  ASSERT_EQ(listener->count(), 2u);
  EXPECT_EQ(listener->last().size(), 1u) << "the live list replaces the cached one";
}

TEST_F(FailbackRegistryTest, LookupUsesNotifiedThenTheCacheWhenTheServerIsAway) {
  const URL consumer = MustParse(kConsumer);
  {
    auto first = Make();
    first->AddServerUrl(MustParse(kProvider));
    ASSERT_TRUE(first->Subscribe(consumer, std::make_shared<RecordingListener>()).ok());
    Result<std::vector<URL>> looked_up = first->Lookup(consumer);
    ASSERT_TRUE(looked_up.ok());
    ASSERT_EQ(looked_up->size(), 1u);
    first->Destroy();
  }
  auto registry = Make();
  Result<std::vector<URL>> cached = registry->Lookup(consumer);
  ASSERT_TRUE(cached.ok()) << cached.status();
  ASSERT_EQ(cached->size(), 1u);
  EXPECT_EQ((*cached)[0], MustParse(kProvider));

  Result<std::vector<URL>> unknown =
      registry->Lookup(MustParse("consumer://10.0.0.9/com.unknown.Service"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnavailable);
}

TEST_F(FailbackRegistryTest, RecoverRestoresEverythingAfterAServerRestart) {
  auto registry = Make();
  const URL provider = MustParse(kProvider);
  const URL consumer = MustParse(kConsumer);
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Register(provider).ok());
  ASSERT_TRUE(registry->Subscribe(consumer, listener).ok());
  ASSERT_EQ(listener->count(), 1u);

  registry->ResetServer();
  registry->Recover();
  EXPECT_TRUE(registry->server_urls().empty()) << "Recover() queues, it does not block";
  sched_.RunDue();
  EXPECT_EQ(registry->server_urls().size(), 1u);
  EXPECT_EQ(registry->server_subscription_count(), 1u);
  EXPECT_EQ(listener->count(), 2u);
  EXPECT_EQ(listener->last()[0], provider);
}

TEST_F(FailbackRegistryTest, RecoverRetriesWhileTheServerIsStillFailing) {
  auto registry = Make();
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  registry->ResetServer();
  registry->FailNext(Op::kRegister, 1);
  registry->Recover();
  sched_.RunDue();
  EXPECT_TRUE(registry->server_urls().empty());
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(registry->server_urls().size(), 1u);
}

TEST_F(FailbackRegistryTest, DestroyUnregistersDynamicUrlsUnsubscribesAndCancelsRetries) {
  auto registry = Make();
  const URL dynamic_url = MustParse(kProvider);
  const URL persistent_url = MustParse(std::string(kProvider2) + "&dynamic=false");
  ASSERT_TRUE(registry->Register(dynamic_url).ok());
  ASSERT_TRUE(registry->Register(persistent_url).ok());
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(MustParse(kConsumer), listener).ok());
  registry->FailNext(Op::kRegister, 1);
  ASSERT_TRUE(registry->Register(MustParse("dubbo://10.0.0.7:1/x.Y")).ok());
  ASSERT_EQ(registry->pending_retries().registers, 1u);

  registry->Destroy();
  EXPECT_TRUE(registry->IsDestroyed());
  ASSERT_EQ(registry->server_urls().size(), 1u);
  EXPECT_EQ(registry->server_urls()[0], persistent_url) << "dynamic=false survives Destroy()";
  EXPECT_EQ(registry->server_subscription_count(), 0u);
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  const int registers = registry->calls(Op::kRegister);
  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(registry->calls(Op::kRegister), registers);

  const size_t notified = listener->count();
  registry->Destroy();  // idempotent
  EXPECT_EQ(registry->calls(Op::kUnregister), 2);
  EXPECT_EQ(registry->Register(dynamic_url).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry->Subscribe(MustParse(kConsumer), listener).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry->Lookup(MustParse(kConsumer)).status().code(), StatusCode::kFailedPrecondition);
  registry->Push();
  EXPECT_EQ(listener->count(), notified) << "no listener call after Destroy()";
}

TEST_F(FailbackRegistryTest, DestroyLogsButDoesNotRetryFailedUnregisters) {
  auto registry = Make();
  ASSERT_TRUE(registry->Register(MustParse(kProvider)).ok());
  registry->FailNext(Op::kUnregister, 5);
  registry->Destroy();
  EXPECT_EQ(registry->calls(Op::kUnregister), 1);
  EXPECT_EQ(sched_.pending(), 0u);
}

TEST_F(FailbackRegistryTest, NullListenerIsRejected) {
  auto registry = Make();
  EXPECT_EQ(registry->Subscribe(MustParse(kConsumer), nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry->Unsubscribe(MustParse(kConsumer), nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dubbo::registry
