// The naming client's reading of hostile server answers, end to end on a fake transport and the
// manual clock (the real NamingProxy, BeatReactor and HostReactor): deep nesting in every answer,
// durations from the wire clamped, and a poisoned service (one host with invalid UTF-8 metadata)
// delivered without that host, from a list answer and from a UDP push.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "transport/http/beat_reactor.h"
#include "dubbo/registry/manual_scheduler.h"
#include "fake_http_transport.h"
#include "host_reactor.h"
#include "transport/http/naming_proxy.h"
#include "push_codec.h"
#include "server_json.h"
#include "service_info_json.h"
#include "testing/log_capture.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeHttpTransport;

constexpr char kKey[] = "DEFAULT_GROUP@@demo";

const std::string kMegabyteOfBrackets(1 << 20, '[');

std::string Host(const std::string& ip, const std::string& metadata_json = "{}") {
  return R"({"ip":")" + ip + R"(","port":20880,"healthy":true,"enabled":true,"weight":1,)" +
         R"("metadata":)" + metadata_json + "}";
}

std::string Service(const std::vector<std::string>& hosts, const std::string& cache_millis,
                    int64_t last_ref_time) {
  std::string out = R"({"name":"DEFAULT_GROUP@@demo","clusters":"","cacheMillis":)" + cache_millis +
                    R"(,"lastRefTime":)" + std::to_string(last_ref_time) + R"(,"hosts":[)";
  for (size_t i = 0; i < hosts.size(); ++i) out += (i ? "," : "") + hosts[i];
  return out + "]}";
}

// One good host, a host whose metadata value is not UTF-8, another good host.
std::string PoisonedService(int64_t last_ref_time) {
  return Service({Host("10.0.0.1"), Host("10.0.0.66", "{\"version\":\"1.\xff\"}"),
                  Host("10.0.0.2", R"({"k":"v"})")},
                 "10000", last_ref_time);
}

bool Logged(const registry::testing::LogCapture& logs, std::string_view needle) {
  for (const std::string& line : logs.lines()) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

class HostileServerTest : public ::testing::Test {
 protected:
  HostileServerTest() {
    options_.server_addresses = {"127.0.0.1:8848"};
    options_.max_retry = 1;
    options_.beat_interval_ms = 5000;
  }

  // Listener calls run as soon as they are posted: these tests hold no lock and need no order
  // beyond the posting order.
  void Make() {
    proxy_ = std::make_unique<NamingProxy>(options_, &http_, &sched_, /*seed=*/1);
    beats_ = std::make_unique<BeatReactor>(options_, proxy_.get(), &sched_, Duration::zero());
    auto run_now = [](SubscriptionId, std::function<void()> fn) { fn(); };
    hosts_ =
        std::make_unique<HostReactor>(options_, proxy_.get(), &sched_, run_now, 5555, "10.0.0.9");
    proxy_->Start();
    hosts_->Start();
  }

  // Subscribes to demo and answers its first query with `first`.
  void Subscribe(const std::string& first) {
    auto listener = std::make_shared<ListenerEntry>();
    listener->id = 1;
    listener->fn = [this](const ServiceChangeEvent& e) { events_.push_back(e); };
    hosts_->Subscribe("demo", "", "", listener, [](Status) {});
    ASSERT_EQ(http_.pending(), 1u);
    http_.Reply(200, first);
  }

  // Starts beating one instance and answers its first beat with `answer`.
  void BeatAnswered(const std::string& answer) {
    Instance instance;
    instance.ip = "10.0.0.5";
    instance.port = 20880;
    beats_->Add(kKey, instance);
    sched_.AdvanceBy(milliseconds(5000));
    ASSERT_EQ(http_.pending(), 1u);
    http_.Reply(200, answer);
  }
  // A push of `service_json` is only a doorbell: it is acked and makes the client query the
  // service; the query's answer (`service_json` again) is what gets applied.
  void RingAndAnswer(const std::string& service_json, int64_t push_id) {
    const std::string reply =
        hosts_->HandleDatagram(nacos_wire::EncodePushPacketJson(
                                   Service({Host("10.0.0.1")}, "10000", 1000 + push_id), push_id),
                               "127.0.0.1");
    EXPECT_NE(reply.find("push-ack"), std::string::npos) << reply;
    ASSERT_EQ(http_.pending(), 1u) << "the push makes the client ask the server";
    http_.Reply(200, service_json);
  }
  int64_t NextBeatMs() const { return beats_->NextDelayMsForTest(kKey, "10.0.0.5", 20880); }

  NacosOptions options_;
  ManualScheduler sched_;
  FakeHttpTransport http_;
  std::unique_ptr<NamingProxy> proxy_;
  std::unique_ptr<BeatReactor> beats_;
  std::unique_ptr<HostReactor> hosts_;
  std::vector<ServiceChangeEvent> events_;
};

// ---- Deep nesting ------------------------------------------------------------------------------

TEST_F(HostileServerTest, AMegabyteOfBracketsAsABeatAnswerIsAFailedBeat) {
  Make();
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  BeatAnswered(kMegabyteOfBrackets);
  EXPECT_EQ(beats_->stats().failed, 1u);
  EXPECT_EQ(NextBeatMs(), 5000) << "the schedule goes on at the period";
  EXPECT_TRUE(Logged(logs, "beat answer")) << "the failure is logged";
  sched_.AdvanceBy(milliseconds(5000));
  EXPECT_EQ(http_.pending(), 1u) << "the next beat goes out";
}

TEST_F(HostileServerTest, AMegabyteOfBracketsAsAListAnswerFailsThatQuery) {
  Make();
  Subscribe(Service({Host("10.0.0.1")}, "10000", 1));
  ASSERT_NE(hosts_->Find(kKey), nullptr);
  sched_.AdvanceBy(seconds(10));
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, kMegabyteOfBrackets);
  EXPECT_EQ(hosts_->stats().poll_failures, 1u);
  ASSERT_NE(hosts_->Find(kKey), nullptr);
  EXPECT_EQ(hosts_->Find(kKey)->hosts.size(), 1u) << "the data held is kept";
}

TEST_F(HostileServerTest, AMegabyteOfBracketsAsServiceListOrMetricsAnswerIsAnError) {
  const Result<ServiceList> list = ParseServiceListAnswer(kMegabyteOfBrackets);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(list.status().message().find("not a JSON object"), std::string_view::npos);
  const Result<ServiceList> deep = ParseServiceListAnswer(R"({"doms":)" + kMegabyteOfBrackets);
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("nested too deeply"), std::string_view::npos);
  EXPECT_FALSE(IsServerUpAnswer(kMegabyteOfBrackets));
  EXPECT_FALSE(IsServerUpAnswer(R"({"status":"UP","x":)" + kMegabyteOfBrackets));
  EXPECT_TRUE(IsServerUpAnswer(R"({"status":"UP","serviceCount":3})"));
}

// A bad name is skipped on its own; numbers are range-checked.
TEST(ServiceListAnswerTest, BadNamesAreSkippedAndCountIsChecked) {
  const Result<ServiceList> list =
      ParseServiceListAnswer("{\"count\":7,\"doms\":[\"a\",1,null,{\"x\":[]},\"b\xff\",\"c\"]}");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->count, 7);
  EXPECT_EQ(list->names, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(ParseServiceListAnswer(R"({"doms":["a","b"]})")->count, 2);
  for (const char* bad : {R"({"count":-1,"doms":[]})", R"({"count":"many","doms":[]})",
                          R"({"count":1e30,"doms":[]})", R"({"count":1,"doms":"a"})"}) {
    const Result<ServiceList> r = ParseServiceListAnswer(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << bad;
  }
}

// ---- clientBeatInterval ------------------------------------------------------------------------

TEST_F(HostileServerTest, AHugeClientBeatIntervalIsClamped) {
  Make();
  BeatAnswered(R"({"clientBeatInterval":9223372036854775807,"code":10200})");
  EXPECT_EQ(NextBeatMs(), 30000);
  EXPECT_EQ(beats_->stats().failed, 0u);
  sched_.AdvanceBy(milliseconds(30000));
  ASSERT_EQ(http_.pending(), 1u) << "the instance keeps beating";
  http_.Reply(200, R"({"clientBeatInterval":1e300})");
  EXPECT_EQ(NextBeatMs(), 30000);
  sched_.AdvanceBy(milliseconds(30000));
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, R"({"clientBeatInterval":1})");
  EXPECT_EQ(NextBeatMs(), 1000) << "no beat storm either";
}

TEST_F(HostileServerTest, ANegativeClientBeatIntervalIsThePeriodAndLogged) {
  Make();
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  BeatAnswered(R"({"clientBeatInterval":-5000,"lightBeatEnabled":true})");
  EXPECT_EQ(NextBeatMs(), 5000);
  EXPECT_TRUE(Logged(logs, "clientBeatInterval -5000 is not positive"));
}

TEST_F(HostileServerTest, ANonNumericClientBeatIntervalIsThePeriodAndLogged) {
  Make();
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  BeatAnswered(R"({"clientBeatInterval":"soon","lightBeatEnabled":true})");
  EXPECT_EQ(NextBeatMs(), 5000);
  EXPECT_TRUE(Logged(logs, "clientBeatInterval is not a number"));
}

// ---- tokenTtl ----------------------------------------------------------------------------------

class HostileLoginTest : public HostileServerTest {
 protected:
  HostileLoginTest() {
    options_.server_addresses = {"127.0.0.1:8848", "127.0.0.2:8848"};
    options_.username = "nacos";
    options_.password = "secret";
  }
  static std::string LoginAnswer(const std::string& ttl) {
    return R"({"accessToken":"tok","tokenTtl":)" + ttl + R"(,"globalAdmin":false})";
  }
  // Logs in with `answer` and expects the refresh exactly `refresh_s` later.
  void ExpectRefreshAfter(const std::string& answer, int64_t refresh_s) {
    ASSERT_EQ(http_.pending(), 1u);
    http_.Reply(200, answer);
    ASSERT_EQ(proxy_->access_token(), "tok");
    ASSERT_EQ(http_.pending(), 0u);
    sched_.AdvanceBy(seconds(refresh_s) - milliseconds(1));
    EXPECT_EQ(http_.pending(), 0u) << "a login before " << refresh_s << " s";
    sched_.AdvanceBy(milliseconds(1));
    EXPECT_EQ(http_.pending(), 1u) << "no login after " << refresh_s << " s";
  }
};

TEST_F(HostileLoginTest, AMegabyteOfBracketsAsALoginAnswerFailsThatLogin) {
  Make();
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, kMegabyteOfBrackets);
  EXPECT_EQ(proxy_->access_token(), "");
  ASSERT_EQ(http_.pending(), 1u) << "the next server is tried";
  http_.Reply(200, LoginAnswer("18000"));
  EXPECT_EQ(proxy_->access_token(), "tok");
}

TEST_F(HostileLoginTest, AHugeTokenTtlIsClamped) {
  Make();
  // 90 % of 18000 s. Unclamped, ttl * 900 overflowed and the client logged in again at once.
  ExpectRefreshAfter(LoginAnswer("9223372036854775807"), 16200);
  ExpectRefreshAfter(LoginAnswer("1e300"), 16200);
  ExpectRefreshAfter(LoginAnswer("1"), 9);  // 90 % of the 10 s floor.
}

TEST_F(HostileLoginTest, ANegativeTokenTtlIsTheDefaultAndLogged) {
  Make();
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  ExpectRefreshAfter(LoginAnswer("-1"), 16200);
  EXPECT_TRUE(Logged(logs, "tokenTtl -1 is not positive"));
}

TEST_F(HostileLoginTest, ANonNumericTokenTtlIsTheDefaultAndLogged) {
  Make();
  registry::testing::LogCapture logs(LogSeverity::kWarning);
  ExpectRefreshAfter(LoginAnswer(R"({"s":1})"), 16200);
  EXPECT_TRUE(Logged(logs, "tokenTtl is not a number"));
  for (const std::string& line : logs.lines()) {
    EXPECT_EQ(line.find("tok\""), std::string::npos) << "the token is never logged: " << line;
  }
}

// ---- cacheMillis -------------------------------------------------------------------------------

TEST_F(HostileServerTest, CacheMillisFromAListAnswerIsClamped) {
  Make();
  Subscribe(Service({Host("10.0.0.1")}, "9223372036854775807", 1));
  ASSERT_NE(hosts_->Find(kKey), nullptr);
  EXPECT_EQ(hosts_->Find(kKey)->cache_millis, 3600000);
  sched_.AdvanceBy(seconds(3600) - milliseconds(1));
  EXPECT_EQ(http_.pending(), 0u);
  sched_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(http_.pending(), 1u) << "the next poll an hour later";
}

TEST_F(HostileServerTest, ANegativeCacheMillisDoesNotRejectTheList) {
  Make();
  Subscribe(Service({Host("10.0.0.1")}, "-1", 1));
  ASSERT_NE(hosts_->Find(kKey), nullptr) << "the hosts are used";
  EXPECT_EQ(hosts_->Find(kKey)->cache_millis, 10000);
  EXPECT_EQ(hosts_->stats().poll_failures, 0u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].instances.size(), 1u);
}

TEST_F(HostileServerTest, ANonNumericCacheMillisDoesNotRejectAPushedChange) {
  Make();
  Subscribe(Service({Host("10.0.0.1")}, "10000", 1));
  events_.clear();
  const std::string changed = Service({Host("10.0.0.1"), Host("10.0.0.2")}, R"("soon")", 2);
  RingAndAnswer(changed, 7);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].added.size(), 1u);
  EXPECT_EQ(hosts_->Find(kKey)->cache_millis, 10000);
}

// ---- A poisoned service ------------------------------------------------------------------------

TEST_F(HostileServerTest, APoisonedListAnswerDeliversTheGoodHosts) {
  Make();
  Subscribe(PoisonedService(1));
  ASSERT_EQ(events_.size(), 1u);
  ASSERT_EQ(events_[0].instances.size(), 2u);
  EXPECT_EQ(events_[0].instances[0].ip, "10.0.0.1");
  EXPECT_EQ(events_[0].instances[1].ip, "10.0.0.2");
  EXPECT_EQ(hosts_->stats().dropped_hosts, 1u);
  EXPECT_EQ(hosts_->stats().poll_failures, 0u);

  // A consumer that asks once (no subscription) gets the same.
  Result<ServiceInfo> once = UnavailableError("no answer");
  hosts_->GetServiceInfo("demo", "", "", /*subscribe=*/false,
                         [&](Result<ServiceInfo> r) { once = std::move(r); });
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, PoisonedService(1));
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->hosts.size(), 2u);
  EXPECT_EQ(hosts_->stats().dropped_hosts, 2u);
}

TEST_F(HostileServerTest, APoisonedServiceAfterAPushDeliversTheGoodHosts) {
  Make();
  Subscribe(Service({Host("10.0.0.1")}, "10000", 1));
  events_.clear();
  RingAndAnswer(PoisonedService(2), 8);
  ASSERT_EQ(events_.size(), 1u);
  ASSERT_EQ(events_[0].added.size(), 1u);
  EXPECT_EQ(events_[0].added[0].ip, "10.0.0.2");
  EXPECT_EQ(events_[0].instances.size(), 2u);
  EXPECT_EQ(hosts_->stats().dropped_hosts, 1u);
  EXPECT_EQ(hosts_->stats().malformed, 0u);
}

// With empty-push protection off, an answer whose every host is malformed still cannot wipe the
// list.
TEST_F(HostileServerTest, DroppedHostsNeverWipeAList) {
  options_.push_empty_protection = false;
  Make();
  Subscribe(Service({Host("10.0.0.1"), Host("10.0.0.2")}, "10000", 1));
  events_.clear();
  const std::string all_bad = Service(
      {Host("10.0.0.1", "{\"k\":\"\xc3\"}"), Host("10.0.0.2", "{\"k\":[1,\"\xff\"]}")}, "10000", 2);
  RingAndAnswer(all_bad, 9);
  EXPECT_EQ(hosts_->stats().poll_failures, 1u) << "the answer is refused as a whole";
  EXPECT_TRUE(events_.empty());
  ASSERT_NE(hosts_->Find(kKey), nullptr);
  EXPECT_EQ(hosts_->Find(kKey)->hosts.size(), 2u);
  // The server's own word is still obeyed: an empty list is applied when protection is off.
  RingAndAnswer(Service({}, "10000", 3), 10);
  EXPECT_EQ(hosts_->Find(kKey)->hosts.size(), 0u);
}

}  // namespace
}  // namespace dubbo::registry::nacos
