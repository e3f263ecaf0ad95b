// BeatReactor on a fake transport (through a real NamingProxy) and the manual clock: the first full
// beat after the period, light beats when allowed, clientBeatInterval,
// preserved.heart.beat.interval, 20404 re-registration, errors keeping the schedule, Add replacing
// and Remove/Stop stopping.
#include "transport/http/beat_reactor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/url.h"
#include "fake_http_transport.h"
#include "testing/log_capture.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using testing::FakeHttpTransport;
using testing::HasParam;

constexpr char kService[] = "DEFAULT_GROUP@@demo";

std::string PathOf(const std::string& url) {
  std::string_view rest = url;
  rest.remove_prefix(rest.find("://") + 3);
  rest.remove_prefix(rest.find('/'));
  return std::string(rest.substr(0, rest.find('?')));
}

// The decoded beat JSON of a full beat's form body ("" for a light beat).
std::string BeatBody(const HttpRequest& request) {
  if (request.body.empty()) return "";
  EXPECT_EQ(request.body.rfind("beat=", 0), 0u) << request.body;
  Result<std::string> decoded = URL::Decode(std::string_view(request.body).substr(5));
  EXPECT_TRUE(decoded.ok());
  return decoded.ok() ? *decoded : "";
}

std::string Answer(int64_t client_beat_interval, bool light, int code = 10200) {
  return "{\"clientBeatInterval\":" + std::to_string(client_beat_interval) +
         ",\"code\":" + std::to_string(code) +
         ",\"lightBeatEnabled\":" + (light ? "true" : "false") + "}";
}

class BeatReactorTest : public ::testing::Test {
 protected:
  BeatReactorTest() {
    options_.server_addresses = {"10.0.0.1:8848"};
    options_.max_retry = 1;
    options_.beat_interval_ms = 5000;
    proxy_ = std::make_unique<NamingProxy>(options_, &http_, &clock_);
    proxy_->Start();
    beats_ = std::make_unique<BeatReactor>(options_, proxy_.get(), &clock_, Duration::zero());
  }

  static Instance MakeInstance(int port = 20880) {
    Instance instance;
    instance.ip = "10.0.0.5";
    instance.port = port;
    instance.weight = 2.5;
    instance.cluster_name = "c1";
    instance.metadata = {{"version", "1.0"}};
    return instance;
  }

  // Advances by `ms` and expects exactly one beat to be pending then (not before).
  void ExpectBeatAfter(int64_t ms) {
    ASSERT_EQ(http_.pending(), 0u);
    clock_.AdvanceBy(milliseconds(ms - 1));
    ASSERT_EQ(http_.pending(), 0u) << "beat before " << ms << " ms";
    clock_.AdvanceBy(milliseconds(1));
    ASSERT_EQ(http_.pending(), 1u) << "no beat after " << ms << " ms";
    EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/ns/instance/beat");
  }

  NacosOptions options_;
  ManualScheduler clock_;
  FakeHttpTransport http_;
  std::unique_ptr<NamingProxy> proxy_;
  std::unique_ptr<BeatReactor> beats_;
};

TEST_F(BeatReactorTest, FirstBeatGoesAfterThePeriodAndIsFull) {
  beats_->Add(kService, MakeInstance());
  EXPECT_EQ(beats_->size(), 1u);
  EXPECT_EQ(beats_->NextDelayMsForTest(kService, "10.0.0.5", 20880), 5000);
  ExpectBeatAfter(5000);
  const HttpRequest& beat = http_.front();
  EXPECT_EQ(beat.method, "PUT");
  EXPECT_TRUE(HasParam(beat.url, "serviceName", "DEFAULT_GROUP%40%40demo")) << beat.url;
  EXPECT_TRUE(HasParam(beat.url, "clusterName", "c1"));
  EXPECT_TRUE(HasParam(beat.url, "ip", "10.0.0.5"));
  EXPECT_TRUE(HasParam(beat.url, "port", "20880"));
  EXPECT_TRUE(HasParam(beat.url, "namespaceId", "public"));
  EXPECT_EQ(BeatBody(beat),
            "{\"port\":20880,\"ip\":\"10.0.0.5\",\"weight\":2.5,\"serviceName\":\"DEFAULT_GROUP@@demo\","
            "\"cluster\":\"c1\",\"metadata\":{\"version\":\"1.0\"},\"scheduled\":false,"
            "\"period\":5000,\"stopped\":false}");
  http_.Reply(200, Answer(5000, false));
  EXPECT_EQ(beats_->stats().sent, 1u);
  EXPECT_EQ(beats_->stats().light, 0u);
}

TEST_F(BeatReactorTest, BeatsAreLightWhileTheServerAllowsIt) {
  beats_->Add(kService, MakeInstance());
  ExpectBeatAfter(5000);
  EXPECT_NE(BeatBody(http_.front()), "");
  http_.Reply(200, Answer(5000, true));
  ExpectBeatAfter(5000);
  EXPECT_EQ(http_.front().body, "") << "light beat: no body";
  EXPECT_TRUE(HasParam(http_.front().url, "ip", "10.0.0.5"));
  http_.Reply(200, Answer(5000, true));
  ExpectBeatAfter(5000);
  EXPECT_EQ(http_.front().body, "");
  // An answer without lightBeatEnabled means false: full again.
  http_.Reply(200, "{\"clientBeatInterval\":5000,\"code\":10200}");
  ExpectBeatAfter(5000);
  EXPECT_NE(BeatBody(http_.front()), "");
  http_.Reply(200, Answer(5000, false));
  ExpectBeatAfter(5000);
  EXPECT_NE(BeatBody(http_.front()), "");
  http_.Reply(200, Answer(5000, false));
  EXPECT_EQ(beats_->stats().sent, 5u);
  EXPECT_EQ(beats_->stats().light, 2u);
}

TEST_F(BeatReactorTest, ClientBeatIntervalSetsTheNextDelay) {
  beats_->Add(kService, MakeInstance());
  ExpectBeatAfter(5000);
  http_.Reply(200, Answer(2000, true));
  EXPECT_EQ(beats_->NextDelayMsForTest(kService, "10.0.0.5", 20880), 2000);
  ExpectBeatAfter(2000);
  http_.Reply(200, Answer(12345, true));
  ExpectBeatAfter(12345);
  // Zero or missing: back to the period.
  http_.Reply(200, Answer(0, true));
  ExpectBeatAfter(5000);
  http_.Reply(200, "{\"code\":10200,\"lightBeatEnabled\":true}");
  ExpectBeatAfter(5000);
  http_.Reply(200, Answer(5000, true));
}

TEST_F(BeatReactorTest, PreservedHeartBeatIntervalIsThePeriod) {
  Instance instance = MakeInstance();
  instance.metadata["preserved.heart.beat.interval"] = "2000";
  beats_->Add(kService, instance);
  ExpectBeatAfter(2000);
  EXPECT_NE(BeatBody(http_.front()).find("\"period\":2000,"), std::string::npos);
  // A failure retries after the period too.
  http_.Fail(UnavailableError("refused"));
  ExpectBeatAfter(2000);
  http_.Reply(200, Answer(2000, true));
  ExpectBeatAfter(2000);

  EXPECT_EQ(BeatPeriodOf(instance, 5000), 2000);
  instance.metadata["preserved.heart.beat.interval"] = "abc";
  EXPECT_EQ(BeatPeriodOf(instance, 5000), 5000);
  instance.metadata["preserved.heart.beat.interval"] = "0";
  EXPECT_EQ(BeatPeriodOf(instance, 5000), 5000);
  instance.metadata["preserved.heart.beat.interval"] = "-5";
  EXPECT_EQ(BeatPeriodOf(instance, 5000), 5000);
  instance.metadata["preserved.heart.beat.interval"] = "";
  EXPECT_EQ(BeatPeriodOf(instance, 5000), 5000);
  instance.metadata["preserved.heart.beat.interval"] = "99999999999999999999";
  EXPECT_EQ(BeatPeriodOf(instance, 5000), 5000);
}

// No instance beats faster than once a second, whatever its metadata or the server says.
TEST_F(BeatReactorTest, APeriodBelowOneSecondIsOneSecondAndLogged) {
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  Instance instance = MakeInstance();
  instance.metadata["preserved.heart.beat.interval"] = "1";
  beats_->Add(kService, instance);
  ASSERT_EQ(logs.lines().size(), 1u);
  EXPECT_NE(logs.lines()[0].find("preserved.heart.beat.interval=1 is below the minimum"),
            std::string::npos)
      << logs.lines()[0];
  EXPECT_NE(logs.lines()[0].find("using 1000"), std::string::npos) << logs.lines()[0];
  ExpectBeatAfter(1000);
  EXPECT_NE(BeatBody(http_.front()).find("\"period\":1000,"), std::string::npos);
  // The server's answer is held to the same floor.
  http_.Reply(200, Answer(1, true));
  EXPECT_EQ(beats_->NextDelayMsForTest(kService, "10.0.0.5", 20880), 1000);
  ExpectBeatAfter(1000);
  http_.Reply(200, Answer(1000, true));

  std::string problem;
  EXPECT_EQ(BeatPeriodOf(instance, 5000, &problem), 1000);
  EXPECT_NE(problem.find("using 1000"), std::string::npos) << problem;
  instance.metadata["preserved.heart.beat.interval"] = "999";
  EXPECT_EQ(BeatPeriodOf(instance, 5000), 1000);
  instance.metadata["preserved.heart.beat.interval"] = "1000";
  problem.clear();
  EXPECT_EQ(BeatPeriodOf(instance, 5000, &problem), 1000);
  EXPECT_EQ(problem, "");
  instance.metadata["preserved.heart.beat.interval"] = "abc";
  EXPECT_EQ(BeatPeriodOf(instance, 5000, &problem), 5000);
  EXPECT_NE(problem.find("preserved.heart.beat.interval=abc is not a positive integer"),
            std::string::npos)
      << problem;
  // A short fallback (a hand-built NacosOptions) is raised too.
  instance.metadata.erase("preserved.heart.beat.interval");
  EXPECT_EQ(BeatPeriodOf(instance, 1), 1000);
}

TEST_F(BeatReactorTest, ACode20404ReRegistersTheInstance) {
  beats_->Add(kService, MakeInstance());
  ExpectBeatAfter(5000);
  http_.Reply(200, Answer(5000, true));
  ExpectBeatAfter(5000);
  EXPECT_EQ(http_.front().body, "");
  // The server forgot it (restart): a register request goes out at once.
  http_.Reply(200, "{\"clientBeatInterval\":5000,\"code\":20404}");
  ASSERT_EQ(http_.pending(), 1u);
  const HttpRequest& reg = http_.front();
  EXPECT_EQ(reg.method, "POST");
  EXPECT_EQ(PathOf(reg.url), "/nacos/v1/ns/instance");
  EXPECT_TRUE(HasParam(reg.url, "serviceName", "DEFAULT_GROUP%40%40demo")) << reg.url;
  EXPECT_TRUE(HasParam(reg.url, "groupName", "DEFAULT_GROUP"));
  EXPECT_TRUE(HasParam(reg.url, "clusterName", "c1"));
  EXPECT_TRUE(HasParam(reg.url, "ip", "10.0.0.5"));
  EXPECT_TRUE(HasParam(reg.url, "port", "20880"));
  EXPECT_TRUE(HasParam(reg.url, "weight", "2.5"));
  EXPECT_TRUE(HasParam(reg.url, "ephemeral", "true"));
  EXPECT_TRUE(HasParam(reg.url, "enable", "true"));
  EXPECT_TRUE(HasParam(reg.url, "metadata", "%7B%22version%22%3A%221.0%22%7D")) << reg.url;
  EXPECT_EQ(beats_->stats().reregistered, 1u);
  // A failed re-registration is only logged; the beats go on.
  http_.Reply(500, "busy");
  ExpectBeatAfter(5000);
  // The 20404 answer had no lightBeatEnabled: this beat is full, so it would re-create the
  // instance by itself too.
  EXPECT_NE(BeatBody(http_.front()), "");
  http_.Reply(200, Answer(5000, true));
}

TEST_F(BeatReactorTest, AfterA20404TheNextBeatKeepsTheInstancesPeriod) {
  Instance instance = MakeInstance();
  instance.metadata["preserved.heart.beat.interval"] = "2000";
  beats_->Add(kService, instance);
  ExpectBeatAfter(2000);
  http_.Reply(200, Answer(2000, true));
  ExpectBeatAfter(2000);
  // The server forgot the instance and answers with its default interval, not the instance's.
  http_.Reply(200, "{\"clientBeatInterval\":5000,\"code\":20404}");
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, "ok");  // The re-registration.
  EXPECT_EQ(beats_->NextDelayMsForTest(kService, "10.0.0.5", 20880), 2000);
  ExpectBeatAfter(2000);
  http_.Reply(200, Answer(2000, true));
}

TEST_F(BeatReactorTest, FailuresAreLoggedAtMostOncePerTenSeconds) {
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  Instance instance = MakeInstance();
  instance.metadata["preserved.heart.beat.interval"] = "1000";
  beats_->Add(kService, instance);
  for (int i = 0; i < 10; ++i) {  // Failures at 1 s, 2 s, ..., 10 s.
    ExpectBeatAfter(1000);
    http_.Fail(UnavailableError("refused"));
  }
  EXPECT_EQ(logs.lines().size(), 1u);
  ExpectBeatAfter(1000);  // 10 s after the first failure, which was logged.
  http_.Fail(UnavailableError("refused"));
  ASSERT_EQ(logs.lines().size(), 2u);
  EXPECT_NE(logs.lines()[1].find("9 similar lines not logged"), std::string::npos)
      << logs.lines()[1];
  EXPECT_EQ(beats_->stats().failed, 11u);
}

TEST_F(BeatReactorTest, ErrorsKeepTheSchedule) {
  beats_->Add(kService, MakeInstance());
  ExpectBeatAfter(5000);
  http_.Reply(200, Answer(1000, true));
  ExpectBeatAfter(1000);
  http_.Fail(DeadlineExceededError("timed out"));  // Back to the period after an error.
  ExpectBeatAfter(5000);
  http_.Reply(503, "unavailable");
  ExpectBeatAfter(5000);
  http_.Reply(200, "not json");
  ExpectBeatAfter(5000);
  http_.Reply(200, "[1,2]");
  ExpectBeatAfter(5000);
  http_.Reply(200, Answer(5000, true));
  EXPECT_EQ(beats_->stats().failed, 4u);
  EXPECT_EQ(beats_->size(), 1u);
}

TEST_F(BeatReactorTest, AddReplacesTheBeatsOfTheSameAddress) {
  beats_->Add(kService, MakeInstance());
  ExpectBeatAfter(5000);  // In flight when the instance is added again.
  Instance replaced = MakeInstance();
  replaced.metadata = {{"version", "2.0"}, {"preserved.heart.beat.interval", "1000"}};
  beats_->Add(kService, replaced);
  EXPECT_EQ(beats_->size(), 1u);
  // The old beat's answer is ignored (it would have set a 20000 ms delay).
  http_.Reply(200, Answer(20000, true));
  EXPECT_EQ(beats_->NextDelayMsForTest(kService, "10.0.0.5", 20880), 1000);
  ExpectBeatAfter(1000);
  EXPECT_NE(BeatBody(http_.front()).find("\"version\":\"2.0\""), std::string::npos)
      << "the new data, and a full first beat";
  http_.Reply(200, Answer(1000, true));
  // Exactly one timer: 10 s bring 10 beats, not more.
  for (int i = 0; i < 10; ++i) {
    ExpectBeatAfter(1000);
    http_.Reply(200, Answer(1000, true));
  }
  // Other addresses and services are separate beats.
  beats_->Add(kService, MakeInstance(20881));
  beats_->Add("DEFAULT_GROUP@@other", MakeInstance());
  EXPECT_EQ(beats_->size(), 3u);
}

TEST_F(BeatReactorTest, RemoveStopsTheBeats) {
  beats_->Add(kService, MakeInstance());
  clock_.AdvanceBy(milliseconds(1000));
  beats_->Add(kService, MakeInstance(20881));  // Due 1 s after the first.
  ExpectBeatAfter(4000);
  EXPECT_TRUE(HasParam(http_.front().url, "port", "20880"));
  http_.Reply(200, Answer(5000, true));
  EXPECT_TRUE(beats_->Remove(kService, "10.0.0.5", 20881));
  EXPECT_FALSE(beats_->Remove(kService, "10.0.0.5", 20881));
  EXPECT_FALSE(beats_->Remove(kService, "10.0.0.6", 20880));
  EXPECT_EQ(beats_->size(), 1u);
  // Only 20880 beats from now on.
  for (int i = 0; i < 3; ++i) {
    ExpectBeatAfter(5000);
    EXPECT_TRUE(HasParam(http_.front().url, "port", "20880"));
    http_.Reply(200, Answer(5000, true));
  }
  EXPECT_TRUE(beats_->Remove(kService, "10.0.0.5", 20880));
  EXPECT_EQ(beats_->size(), 0u);
  const size_t sent = http_.sent().size();
  clock_.AdvanceBy(std::chrono::minutes(5));
  EXPECT_EQ(http_.sent().size(), sent);
  EXPECT_EQ(clock_.pending(), 0u) << "no timer left behind";
}

TEST_F(BeatReactorTest, RemoveWhileABeatIsInFlightIgnoresItsAnswer) {
  beats_->Add(kService, MakeInstance());
  ExpectBeatAfter(5000);
  EXPECT_TRUE(beats_->Remove(kService, "10.0.0.5", 20880));
  http_.Reply(200, "{\"clientBeatInterval\":5000,\"code\":20404}");
  EXPECT_EQ(http_.pending(), 0u) << "no re-registration of a removed instance";
  EXPECT_EQ(clock_.pending(), 0u);
}

TEST_F(BeatReactorTest, StopEndsEverything) {
  beats_->Add(kService, MakeInstance());
  beats_->Add(kService, MakeInstance(20881));
  beats_->Stop();
  EXPECT_EQ(beats_->size(), 0u);
  beats_->Add(kService, MakeInstance(20882));
  EXPECT_EQ(beats_->size(), 0u);
  clock_.AdvanceBy(std::chrono::minutes(5));
  EXPECT_EQ(http_.sent().size(), 0u);
}

TEST(BeatReactorHelpersTest, RegisterRequestOfAnUngroupedName) {
  Instance instance;
  instance.ip = "10.0.0.5";
  instance.port = 1;
  instance.ephemeral = false;
  instance.enabled = false;
  NamingRequest request = MakeRegisterRequest("demo", instance);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v1/ns/instance");
  auto param = [&](const std::string& name) {
    for (const auto& [n, v] : request.params) {
      if (n == name) return v;
    }
    return std::string("<absent>");
  };
  EXPECT_EQ(param("groupName"), "DEFAULT_GROUP");
  EXPECT_EQ(param("ephemeral"), "false");
  EXPECT_EQ(param("enable"), "false");
  EXPECT_EQ(param("weight"), "1.0");
  EXPECT_EQ(param("metadata"), "{}");
}

TEST_F(BeatReactorTest, BeatsDueWithinOneTickShareAWakeUp) {
  beats_ = std::make_unique<BeatReactor>(options_, proxy_.get(), &clock_, milliseconds(20));
  clock_.AdvanceBy(milliseconds(3));  // Off the tick grid.
  beats_->Add(kService, MakeInstance(1));
  clock_.AdvanceBy(milliseconds(7));
  beats_->Add(kService, MakeInstance(2));
  // Due at +5000 ms from 3 ms and from 10 ms: both rounded up to the same 20 ms boundary.
  clock_.AdvanceBy(milliseconds(5000 + 3 - 10 - 1));
  EXPECT_EQ(http_.pending(), 0u) << "never before the period";
  clock_.AdvanceBy(milliseconds(5020 - 5002));
  EXPECT_EQ(http_.pending(), 2u) << "both at the next tick";
}

TEST_F(BeatReactorTest, AtMostSixtyFourBeatsAreInFlight) {
  const int kInstances = static_cast<int>(BeatReactor::kMaxBeatsInFlight) + 36;
  for (int port = 1; port <= kInstances; ++port) beats_->Add(kService, MakeInstance(port));
  clock_.AdvanceBy(milliseconds(5000));
  EXPECT_EQ(http_.pending(), BeatReactor::kMaxBeatsInFlight);
  // Each answer lets one waiting beat go, in due order.
  for (int i = 0; i < 36; ++i) http_.Reply(200, Answer(5000, true));
  EXPECT_EQ(http_.pending(), BeatReactor::kMaxBeatsInFlight);
  while (http_.pending() > 0) http_.Reply(200, Answer(5000, true));
  EXPECT_EQ(http_.sent().size(), static_cast<size_t>(kInstances));
  EXPECT_EQ(beats_->stats().sent, static_cast<uint64_t>(kInstances));
}

}  // namespace
}  // namespace dubbo::registry::nacos
