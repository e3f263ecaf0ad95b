// HostReactor on a fake transport and the manual clock: queries, polling and backoff, pushes as
// doorbells (ack, the query they trigger, forged data, an older lastRefTime, spoofed, malformed,
// gzipped, dump), recovery after an outage, the bounded listener queue, empty protection, the disk
// cache and failover; and the stream feed (gRPC): per-service subscription, pushes applied with
// the stale drop and empty protection, cluster filtering per key, moving between feeds.
#include "host_reactor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "disk_cache.h"
#include "dubbo/registry/manual_scheduler.h"
#include "fake_http_transport.h"
#include "naming_proxy.h"
#include "push_codec.h"
#include "service_info_json.h"
#include "testing/temp_dir.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeHttpTransport;
using testing::HasParam;

constexpr int kUdpPort = 5555;

struct HostSpec {
  std::string ip = "10.0.0.1";
  int port = 20880;
  bool healthy = true;
  double weight = 1.0;
  std::string cluster = "DEFAULT";
};

std::string HostJson(const HostSpec& h) {
  return R"({"ip":")" + h.ip + R"(","port":)" + std::to_string(h.port) +
         R"(,"valid":true,"healthy":)" + (h.healthy ? "true" : "false") +
         R"(,"marked":false,"instanceId":")" + h.ip + "#" + std::to_string(h.port) +
         R"(#DEFAULT#DEFAULT_GROUP@@demo","metadata":{},"enabled":true,"weight":)" +
         std::to_string(h.weight) + R"(,"clusterName":")" + h.cluster +
         R"(","serviceName":"DEFAULT_GROUP@@demo","ephemeral":true})";
}

// A 1.4.x list answer / push data for DEFAULT_GROUP@@demo.
std::string ServiceJson(const std::vector<HostSpec>& hosts, int64_t last_ref_time,
                        int64_t cache_millis = 10000, const std::string& clusters = "") {
  std::string out = R"({"hosts":[)";
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (i) out += ',';
    out += HostJson(hosts[i]);
  }
  out += R"(],"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo","cacheMillis":)" +
         std::to_string(cache_millis) + R"(,"lastRefTime":)" + std::to_string(last_ref_time) +
         R"(,"checksum":"x","useSpecifiedURL":false,"clusters":")" + clusters +
         R"(","env":"","metadata":{}})";
  return out;
}

// The same for DEFAULT_GROUP@@`name`.
std::string NamedServiceJson(const std::string& name, const std::vector<HostSpec>& hosts,
                             int64_t last_ref_time) {
  std::string out = ServiceJson(hosts, last_ref_time);
  const std::string from = "DEFAULT_GROUP@@demo", to = "DEFAULT_GROUP@@" + name;
  for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size())) {
    out.replace(at, from.size(), to);
  }
  return out;
}

// DEFAULT_GROUP@@demo as gRPC carries it (a subscription's answer, a push): `name` ungrouped.
std::string GrpcServiceJson(const std::vector<HostSpec>& hosts, int64_t last_ref_time) {
  std::string out =
      R"({"name":"demo","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,)"
      R"("hosts":[)";
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (i) out += ',';
    out += HostJson(hosts[i]);
  }
  out += R"(],"lastRefTime":)" + std::to_string(last_ref_time) +
         R"(,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true})";
  return out;
}

std::string PushPacket(const std::string& data, int64_t id, std::string_view type = "dom") {
  std::string packet = nacos_wire::EncodePushPacketJson(data, id);
  if (type != "dom") packet.replace(packet.find("\"dom\""), 5, "\"" + std::string(type) + "\"");
  return packet;
}

class HostReactorTest : public ::testing::Test {
 protected:
  HostReactorTest() {
    options_.server_addresses = {"127.0.0.1:8848"};
    options_.cache_dir = dir_.path();
    options_.max_retry = 1;  // One try per failure (NamingProxy's retries have their own tests).
  }

  void Make() {
    proxy_ = std::make_unique<NamingProxy>(options_, &http_, &sched_, /*seed=*/1);
    hosts_ = std::make_unique<HostReactor>(
        options_, proxy_.get(), &sched_,
        [this](SubscriptionId, std::function<void()> fn) { posted_.push_back(std::move(fn)); },
        kUdpPort, "10.0.0.9");
    // As NamingClient wires it.
    proxy_->SetRecoveryHook([this](TimePoint since) { hosts_->Resubscribe(since); });
    proxy_->Start();
    hosts_->Start();
  }

  // Runs the posted listener calls, as the dispatcher would.
  void Dispatch() {
    std::vector<std::function<void()>> posted;
    posted.swap(posted_);
    for (auto& fn : posted) fn();
  }

  std::shared_ptr<ListenerEntry> Listener(std::vector<ServiceChangeEvent>* events) {
    auto entry = std::make_shared<ListenerEntry>();
    entry->id = next_id_++;
    entry->fn = [events](const ServiceChangeEvent& e) { events->push_back(e); };
    return entry;
  }

  // Subscribes to DEFAULT_GROUP@@demo and answers the first query with `first`.
  std::shared_ptr<ListenerEntry> SubscribeAndAnswer(std::vector<ServiceChangeEvent>* events,
                                                    const std::string& first) {
    auto listener = Listener(events);
    bool done = false;
    hosts_->Subscribe("demo", "", "", listener, [&](Status s) { done = s.ok(); });
    EXPECT_EQ(http_.pending(), 1u);
    http_.Reply(200, first);
    EXPECT_TRUE(done);
    Dispatch();
    return listener;
  }

  // Advances to the next poll and returns whether a list query went out.
  bool NextPollAfter(milliseconds delay) {
    const size_t before = http_.sent().size();
    sched_.AdvanceBy(delay - milliseconds(1));
    if (http_.sent().size() != before) return false;  // Too early.
    sched_.AdvanceBy(milliseconds(1));
    return http_.sent().size() == before + 1;
  }

  registry::testing::TempDir dir_;
  NacosOptions options_;
  ManualScheduler sched_;
  FakeHttpTransport http_;
  std::unique_ptr<NamingProxy> proxy_;
  std::unique_ptr<HostReactor> hosts_;
  std::vector<std::function<void()>> posted_;
  SubscriptionId next_id_ = 1;
};

// A gRPC side that records what HostReactor asks of it; the test answers.
struct FakeStream {
  std::vector<std::pair<std::string, std::function<void(Result<std::string>)>>> subscribes;
  std::vector<std::string> unsubscribes;
  std::vector<std::string> queries;  // "grouped|clusters"
  std::vector<std::function<void(Result<std::string>)>> query_done;

  StreamSource Source() {
    StreamSource source;
    source.subscribe = [this](const std::string& grouped,
                              std::function<void(Result<std::string>)> done) {
      subscribes.emplace_back(grouped, std::move(done));
    };
    source.unsubscribe = [this](const std::string& grouped) { unsubscribes.push_back(grouped); };
    source.query = [this](const std::string& grouped, const std::string& clusters,
                          std::function<void(Result<std::string>)> done) {
      queries.push_back(grouped + "|" + clusters);
      query_done.push_back(std::move(done));
    };
    return source;
  }
};

class HostReactorStreamTest : public HostReactorTest {
 protected:
  void MakeStream(HostReactor::Feed feed = HostReactor::Feed::kStream) {
    proxy_ = std::make_unique<NamingProxy>(options_, &http_, &sched_, /*seed=*/1);
    hosts_ = std::make_unique<HostReactor>(
        options_, proxy_.get(), &sched_,
        [this](SubscriptionId, std::function<void()> fn) { posted_.push_back(std::move(fn)); },
        kUdpPort, "10.0.0.9");
    hosts_->SetStreamSource(stream_.Source(), feed);
    proxy_->SetRecoveryHook([this](TimePoint since) { hosts_->Resubscribe(since); });
    proxy_->Start();
    hosts_->Start();
  }

  FakeStream stream_;
};

TEST_F(HostReactorTest, SubscribeQueriesWithPushParametersAndNotifiesAllAdded) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  bool done = false;
  hosts_->Subscribe("demo", "", "", listener, [&](Status s) { done = s.ok(); });
  ASSERT_EQ(http_.pending(), 1u);
  const std::string& url = http_.front().url;
  EXPECT_NE(url.find("/nacos/v1/ns/instance/list?"), std::string::npos) << url;
  EXPECT_TRUE(HasParam(url, "serviceName", "DEFAULT_GROUP%40%40demo")) << url;
  EXPECT_TRUE(HasParam(url, "udpPort", "5555")) << url;
  EXPECT_TRUE(HasParam(url, "clientIP", "10.0.0.9")) << url;
  EXPECT_TRUE(HasParam(url, "healthyOnly", "false")) << url;
  EXPECT_TRUE(HasParam(url, "clusters", "")) << url;
  EXPECT_FALSE(done) << "Subscribe waits for the first answer";
  http_.Reply(200, ServiceJson({{}}, 100));
  EXPECT_TRUE(done);
  Dispatch();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].service_name, "DEFAULT_GROUP@@demo");
  EXPECT_EQ(events[0].added.size(), 1u);
  EXPECT_EQ(events[0].instances.size(), 1u);
}

TEST_F(HostReactorTest, PollsEveryCacheMillisAndNotifiesOnlyChanges) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100, /*cache_millis=*/10000));
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Reply(200, ServiceJson({{}}, 200, 3000));  // Same instances: no event.
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  ASSERT_TRUE(NextPollAfter(seconds(3))) << "the next poll follows the new cacheMillis";
  HostSpec second;
  second.port = 20881;
  http_.Reply(200, ServiceJson({{}, second}, 300));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[1].added.size(), 1u);
  EXPECT_EQ(events[1].added[0].port, 20881);
  EXPECT_EQ(events[1].instances.size(), 2u);
}

TEST_F(HostReactorTest, FailedPollsBackOffUpToTheCap) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  for (int delay : {2, 4, 8, 16, 32, 60, 60}) {
    http_.Fail();
    ASSERT_TRUE(NextPollAfter(seconds(delay))) << "expected the next try after " << delay << " s";
  }
  http_.Reply(200, ServiceJson({{}}, 200));
  EXPECT_TRUE(NextPollAfter(seconds(10))) << "success resets the backoff";
  EXPECT_EQ(events.size(), 1u);  // Failures never touch the list.
}

TEST_F(HostReactorTest, APushIsAckedAndQueriesTheServiceWhoseAnswerIsApplied) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  HostSpec second;
  second.port = 20881;
  const std::string reply = hosts_->HandleDatagram(
      PushPacket(ServiceJson({{}, second}, 200), 123456789012345), "127.0.0.1");
  EXPECT_EQ(reply, R"({"type": "push-ack", "lastRefTime":"123456789012345", "data":""})");
  EXPECT_EQ(hosts_->stats().pushes, 1u);
  ASSERT_EQ(http_.pending(), 1u) << "the push queries its service at once";
  EXPECT_NE(http_.front().url.find("/nacos/v1/ns/instance/list?"), std::string::npos);
  EXPECT_TRUE(HasParam(http_.front().url, "udpPort", "5555")) << http_.front().url;
  Dispatch();
  EXPECT_EQ(events.size(), 1u) << "the push's own data is not applied";
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts.size(), 1u);

  http_.Reply(200, ServiceJson({{}, second}, 210));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[1].added.size(), 1u);
  EXPECT_EQ(events[1].added[0].port, 20881);
  EXPECT_TRUE(NextPollAfter(seconds(10))) << "the answer restarts the poll period";
}

TEST_F(HostReactorTest, AForgedPushFromTheServersIpChangesNothing) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  // The datagram's source port is not checked (the server pushes from an ephemeral one): a forger
  // who can send from the server's IP gets this far, with data that would redirect every call.
  HostSpec evil;
  evil.ip = "6.6.6.6";
  EXPECT_NE(hosts_->HandleDatagram(PushPacket(ServiceJson({evil}, 999999), 1), "127.0.0.1"), "");
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, ServiceJson({{}}, 300));  // What the server really holds.
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  const ServiceInfo* held = hosts_->Find("DEFAULT_GROUP@@demo");
  ASSERT_NE(held, nullptr);
  ASSERT_EQ(held->hosts.size(), 1u);
  EXPECT_EQ(held->hosts[0].ip, "10.0.0.1");
  // Nor does a forged push of an empty list, or of a service nobody subscribed to.
  EXPECT_NE(hosts_->HandleDatagram(PushPacket(ServiceJson({}, 999999), 2), "127.0.0.1"), "");
  http_.Reply(200, ServiceJson({{}}, 400));
  EXPECT_NE(
      hosts_->HandleDatagram(PushPacket(NamedServiceJson("other", {evil}, 1), 3), "127.0.0.1"), "");
  EXPECT_EQ(http_.pending(), 0u);
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts[0].ip, "10.0.0.1");
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@other"), nullptr);
}

TEST_F(HostReactorTest, PushesWhileAQueryIsInFlightQueueOneMore) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  for (int i = 0; i < 5; ++i) {
    hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 200 + i), i), "127.0.0.1");
  }
  EXPECT_EQ(http_.sent().size(), 2u) << "one query in flight per service";
  HostSpec second;
  second.port = 20881;
  http_.Reply(200, ServiceJson({{}}, 150));  // Left before the change.
  ASSERT_EQ(http_.pending(), 1u) << "the pushes that came meanwhile queued one more query";
  http_.Reply(200, ServiceJson({{}, second}, 250));
  EXPECT_EQ(http_.pending(), 0u);
  EXPECT_EQ(http_.sent().size(), 3u);
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].added.size(), 1u);
  EXPECT_EQ(hosts_->stats().pushes, 5u);
  EXPECT_TRUE(NextPollAfter(seconds(10)));
}

TEST_F(HostReactorTest, APushDuringTheBackOffQueriesAtOnce) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Fail();  // Next poll in 2 s.
  hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 200), 1), "127.0.0.1");
  EXPECT_EQ(http_.pending(), 1u);
  http_.Reply(200, ServiceJson({{}}, 210));
  EXPECT_TRUE(NextPollAfter(seconds(10))) << "the answer replaced the back-off timer";
}

TEST_F(HostReactorTest, GzippedPushIsUnderstood) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  std::vector<HostSpec> many;
  for (int i = 0; i < 40; ++i) {
    HostSpec h;
    h.port = 30000 + i;
    many.push_back(h);
  }
  Result<std::string> packet = nacos_wire::BuildPushPacket(ServiceJson(many, 200), 7);
  ASSERT_TRUE(packet.ok());
  ASSERT_TRUE(nacos_wire::LooksGzipped(*packet));
  EXPECT_NE(hosts_->HandleDatagram(*packet, "127.0.0.1").find("push-ack"), std::string::npos);
  EXPECT_EQ(hosts_->stats().pushes, 1u);
  EXPECT_EQ(hosts_->stats().malformed, 0u);
  EXPECT_EQ(http_.pending(), 1u);
}

TEST_F(HostReactorTest, APushWithAnOlderLastRefTimeStillQueries) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 500));
  // Another server of the cluster, whose clock is behind, announces a real change.
  HostSpec second;
  second.port = 20881;
  const std::string reply =
      hosts_->HandleDatagram(PushPacket(ServiceJson({{}, second}, 400), 9), "127.0.0.1");
  EXPECT_NE(reply.find("push-ack"), std::string::npos);
  ASSERT_EQ(http_.pending(), 1u) << "the push's lastRefTime is that server's clock: no staleness";
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts.size(), 1u) << "the push's data is not used";
  http_.Reply(200, ServiceJson({{}, second}, 450));
  Dispatch();
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts.size(), 2u);
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(hosts_->stats().pushes, 1u);
}

TEST_F(HostReactorTest, DatagramFromANonServerIsIgnored) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  HostSpec evil;
  evil.ip = "6.6.6.6";
  EXPECT_EQ(hosts_->HandleDatagram(PushPacket(ServiceJson({evil}, 200), 1), "10.9.9.9"), "");
  EXPECT_EQ(hosts_->HandleDatagram(PushPacket(ServiceJson({evil}, 200), 1), "127.0.0.2"), "");
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(hosts_->stats().spoofed, 2u);
  // IPv4-mapped IPv6 of the server is the server.
  EXPECT_NE(hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 300), 2), "::ffff:127.0.0.1"), "");
}

TEST_F(HostReactorTest, AnAnswersSourceAddressBecomesAServerAddress) {
  options_.server_addresses = {"nacos.example:8848"};
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  hosts_->Subscribe("demo", "", "", listener, [](Status) {});
  EXPECT_EQ(hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 1), 1), "192.0.2.7"), "");
  http_.Reply(200, ServiceJson({{}}, 100), /*peer_ip=*/"192.0.2.7");
  EXPECT_NE(hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 200), 2), "192.0.2.7"), "");
}

TEST_F(HostReactorTest, MalformedDatagramsAreNotAcked) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  for (const std::string& bad : {std::string("not json"), std::string("{\"type\":\"dom\"}"),
                                 PushPacket("{\"hosts\":[{\"ip\":\"\"}],\"name\":\"x\"}", 3),
                                 std::string("\x1f\x8b garbage", 11), std::string(70000, '{')}) {
    EXPECT_EQ(hosts_->HandleDatagram(bad, "127.0.0.1"), "") << bad.substr(0, 40);
  }
  EXPECT_EQ(hosts_->stats().malformed, 5u);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts.size(), 1u);
}

TEST_F(HostReactorTest, DumpAndUnknownTypesGetTheirAcks) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  const std::string dump = hosts_->HandleDatagram(PushPacket("", 5, "dump"), "127.0.0.1");
  EXPECT_EQ(dump.rfind(R"({"type": "dump-ack", "lastRefTime":"5", "data":")", 0), 0u) << dump;
  EXPECT_NE(dump.find("DEFAULT_GROUP@@demo"), std::string::npos);
  EXPECT_EQ(hosts_->HandleDatagram(PushPacket("", 6, "weird"), "127.0.0.1"),
            R"({"type": "unknown-ack", "lastRefTime":"6", "data":""})");
}

TEST_F(HostReactorTest, EmptyProtectionKeepsTheLastUsableList) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  EXPECT_NE(hosts_->HandleDatagram(PushPacket(ServiceJson({}, 200), 1), "127.0.0.1"), "");
  http_.Reply(200, ServiceJson({}, 210));
  HostSpec sick;
  sick.healthy = false;
  ASSERT_TRUE(NextPollAfter(seconds(10))) << "the list held is still usable";
  http_.Reply(200, ServiceJson({sick}, 300));
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(hosts_->stats().empty_protected, 2u);
  EXPECT_TRUE(hosts_->Find("DEFAULT_GROUP@@demo")->hosts[0].healthy);
}

TEST_F(HostReactorTest, WithoutEmptyProtectionAnEmptyListIsDelivered) {
  options_.push_empty_protection = false;
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  hosts_->HandleDatagram(PushPacket(ServiceJson({}, 200), 1), "127.0.0.1");
  http_.Reply(200, ServiceJson({}, 210));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[1].instances.empty());
  EXPECT_EQ(events[1].removed.size(), 1u);
}

TEST_F(HostReactorTest, AfterAnOutageTheFirstAnswerQueriesEveryServiceAtOnce) {
  Make();
  const std::vector<std::string> names = {"demo", "a", "b"};
  std::vector<ServiceChangeEvent> events;
  for (const std::string& name : names) {
    hosts_->Subscribe(name, "", "", Listener(&events), [](Status) {});
    http_.Reply(200, NamedServiceJson(name, {{}}, 100));
  }
  // 40 s without a server: every poll fails and backs off (2, 4, 8, 16, ... s).
  for (int s = 0; s < 40; ++s) {
    sched_.AdvanceBy(seconds(1));
    while (http_.pending() > 0) http_.Fail();
  }
  EXPECT_EQ(hosts_->stats().recoveries, 0u);
  const size_t sent = http_.sent().size();

  // The server is back: the first answer of any call (a beat, here) reaches the recovery hook.
  NamingRequest beat;
  beat.method = "PUT";
  beat.path = "/v1/ns/instance/beat";
  bool beat_answered = false;
  proxy_->Call(beat, [&](Result<std::string> r) { beat_answered = r.ok(); });
  http_.Reply(200, R"({"clientBeatInterval":5000,"code":10200})");
  ASSERT_TRUE(beat_answered);
  EXPECT_EQ(hosts_->stats().recoveries, 1u);
  // Every subscribed service is queried at once: no scheduler time has passed.
  ASSERT_EQ(http_.pending(), names.size());
  ASSERT_EQ(http_.sent().size(), sent + 1 + names.size());
  std::set<std::string> queried;
  for (size_t i = sent + 1; i < http_.sent().size(); ++i) {
    const std::string& url = http_.sent()[i].url;
    for (const std::string& name : names) {
      if (HasParam(url, "serviceName", "DEFAULT_GROUP%40%40" + name)) queried.insert(name);
    }
  }
  EXPECT_EQ(queried.size(), names.size());

  // The back-off was kept: a failure of the recovery's queries is not retried 2 s later.
  while (http_.pending() > 0) http_.Fail();
  const size_t failed_at = http_.sent().size();
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(http_.sent().size(), failed_at);
  EXPECT_EQ(hosts_->stats().recoveries, 1u) << "no recovery while no call failed for good";
}

TEST_F(HostReactorTest, AProbeAnsweredDownIsNoRecoveryAndAnUpServerFailingNamingCallsBacksOff) {
  Make();
  proxy_->SetRecoveryHook([this](TimePoint since) { hosts_->Resubscribe(since); }, seconds(1));
  const std::vector<std::string> names = {"demo", "a", "b"};
  std::vector<ServiceChangeEvent> events;
  for (const std::string& name : names) {
    hosts_->Subscribe(name, "", "", Listener(&events), [](Status) {});
    http_.Reply(200, NamedServiceJson(name, {{}}, 100));
  }
  // A starting node: naming calls 503, the probe 200 `metrics` (DOWN, then UP) for 60 s each.
  for (const char* probe_answer : {R"({"status":"DOWN"})", R"({"status":"UP"})"}) {
    size_t queries = 0;
    for (int s = 0; s < 60; ++s) {
      sched_.AdvanceBy(seconds(1));
      while (http_.pending() > 0) {
        if (http_.front().url.find("/v1/ns/operator/metrics") != std::string::npos) {
          http_.Reply(200, probe_answer);
        } else {
          ++queries;
          http_.Reply(503, "server is starting");
        }
      }
    }
    // Backing off (2, 4, 8, 16, 32 s, ...) gives at most 6 queries a service in 60 s; a recovery
    // a second would give 60.
    EXPECT_LE(queries, 6 * names.size()) << probe_answer;
    if (std::string(probe_answer).find("DOWN") != std::string::npos) {
      EXPECT_EQ(hosts_->stats().recoveries, 0u) << "a DOWN answer is no recovery";
    }
  }
}

TEST_F(HostReactorTest, WithAProbeASubscriberAloneIsQueriedWithinASecondOfTheServersReturn) {
  Make();
  proxy_->SetRecoveryHook([this](TimePoint since) { hosts_->Resubscribe(since); }, seconds(1));
  const std::vector<std::string> names = {"demo", "a"};
  std::vector<ServiceChangeEvent> events;
  for (const std::string& name : names) {
    hosts_->Subscribe(name, "", "", Listener(&events), [](Status) {});
    http_.Reply(200, NamedServiceJson(name, {{}}, 100));
  }
  // 40 s without a server. No beat: only the polls (backing off) and, once one failed, the probe.
  size_t probes = 0;
  for (int s = 0; s < 40; ++s) {
    sched_.AdvanceBy(seconds(1));
    while (http_.pending() > 0) {
      probes += http_.front().url.find("/v1/ns/operator/metrics") != std::string::npos;
      http_.Fail();
    }
  }
  EXPECT_GE(probes, 25u) << "one probe a second while failing";
  EXPECT_LE(probes, 31u);
  // The server is back. Within one second the probe asks, and its answer queries every service.
  const size_t back = http_.sent().size();
  sched_.AdvanceBy(seconds(1));
  std::set<std::string> queried;
  while (http_.pending() > 0) {
    const std::string url = http_.front().url;
    std::string name;
    for (const std::string& n : names) {
      if (HasParam(url, "serviceName", "DEFAULT_GROUP%40%40" + n)) name = n;
    }
    if (!name.empty()) queried.insert(name);
    http_.Reply(
        200, name.empty() ? std::string("{\"status\":\"UP\"}") : NamedServiceJson(name, {{}}, 200));
  }
  EXPECT_EQ(queried.size(), names.size());
  EXPECT_EQ(hosts_->stats().recoveries, 1u);
  EXPECT_GT(http_.sent().size(), back);
  // No more probes once a server answers.
  const size_t after = http_.sent().size();
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(http_.sent().size(), after);
}

TEST_F(HostReactorTest, TheRecoveryHookFiresOnlyWhenNoServerAnsweredBefore) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  NamingRequest request;
  request.path = "/v1/ns/instance";
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(404, "not found");  // An answer, if a negative one: the server is up.
  // So are a refusal on the server's answer-size cap and a throttled login: no failover state.
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(413, "the answer is over max_answer_bytes");
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(429, "retry after 2 s");
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(200, "ok");
  EXPECT_EQ(hosts_->stats().recoveries, 0u);
  EXPECT_EQ(http_.pending(), 0u);
  sched_.AdvanceBy(seconds(1));
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(503, "busy");  // Failing.
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(200, "ok");
  EXPECT_EQ(hosts_->stats().recoveries, 1u);
  EXPECT_EQ(http_.pending(), 1u) << "the subscribed service is queried";
  http_.Reply(200, ServiceJson({{}}, 200));
  proxy_->Call(request, [](Result<std::string>) {});
  http_.Reply(200, "ok");
  EXPECT_EQ(hosts_->stats().recoveries, 1u);
}

// --- The listener queue: one waiting call per listener, later changes merged into it. ----------

TEST_F(HostReactorTest, ASlowListenerGetsOneMergedEventEqualToTheDiffOfFirstAndLast) {
  Make();
  std::vector<ServiceChangeEvent> events;
  HostSpec a, b, c;
  b.port = 20881;
  c.port = 20882;
  const std::string first = ServiceJson({a, b, c}, 100);
  SubscribeAndAnswer(&events, first);
  ASSERT_EQ(events.size(), 1u);

  // The listener is blocked (nothing is dispatched) while the service changes 7 times.
  HostSpec d, e, c2, a3;
  d.port = 20883;
  e.port = 20884;
  c2 = c;
  c2.weight = 2;
  a3 = a;
  a3.weight = 3;
  const std::vector<std::string> states = {
      ServiceJson({a, b, c, d}, 200),  // d added,
      ServiceJson({a, c, d}, 300),     // b removed,
      ServiceJson({a, c2, d}, 400),    // c modified,
      ServiceJson({a, c2}, 500),       // d removed again,
      ServiceJson({a3, c2}, 600),      // a modified,
      ServiceJson({a, c2}, 700),       // and back,
      ServiceJson({a, c2, e}, 800),    // e added.
  };
  for (const std::string& state : states) {
    ASSERT_TRUE(NextPollAfter(seconds(10)));
    http_.Reply(200, state);
  }
  EXPECT_EQ(posted_.size(), 1u) << "one waiting call, however many changes";
  EXPECT_EQ(hosts_->stats().events_merged, states.size() - 1);
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  const ServiceChangeEvent& merged = events[1];
  const ServiceChangeEvent want =
      DiffServiceInfo(*ParseServiceInfo(first), *ParseServiceInfo(states.back()));
  EXPECT_EQ(merged.service_name, want.service_name);
  EXPECT_EQ(merged.instances, want.instances);
  EXPECT_EQ(merged.added, want.added);
  EXPECT_EQ(merged.removed, want.removed);
  EXPECT_EQ(merged.modified, want.modified);
  // Spelled out: e added, b removed, c modified; d and a's round trip leave no trace.
  ASSERT_EQ(merged.added.size(), 1u);
  EXPECT_EQ(merged.added[0].port, 20884);
  ASSERT_EQ(merged.removed.size(), 1u);
  EXPECT_EQ(merged.removed[0].port, 20881);
  ASSERT_EQ(merged.modified.size(), 1u);
  EXPECT_EQ(merged.modified[0].port, 20882);
  EXPECT_EQ(merged.modified[0].weight, 2);
  EXPECT_EQ(merged.instances.size(), 3u);

  // The next change is a call of its own, diffed from what the listener saw last.
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Reply(200, ServiceJson({a, c2}, 900));
  ASSERT_EQ(posted_.size(), 1u);
  Dispatch();
  ASSERT_EQ(events.size(), 3u);
  ASSERT_EQ(events[2].removed.size(), 1u);
  EXPECT_EQ(events[2].removed[0].port, 20884);
  EXPECT_TRUE(events[2].added.empty());
  EXPECT_TRUE(events[2].modified.empty());
}

TEST_F(HostReactorTest, MergedChangesThatCancelOutAreNotReported) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  HostSpec d;
  d.port = 20883;
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Reply(200, ServiceJson({{}, d}, 200));
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Reply(200, ServiceJson({{}}, 300));
  EXPECT_EQ(posted_.size(), 1u);
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
}

TEST_F(HostReactorTest, ChangesMergedIntoAFirstCallAreReportedAsAdded) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  hosts_->Subscribe("demo", "", "", listener, [](Status) {});
  http_.Reply(200, ServiceJson({{}}, 100));
  HostSpec second;
  second.port = 20881;
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Reply(200, ServiceJson({{}, second}, 200));
  EXPECT_EQ(posted_.size(), 1u);
  Dispatch();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].added.size(), 2u);
  EXPECT_EQ(events[0].instances.size(), 2u);
  EXPECT_TRUE(events[0].removed.empty());
}

TEST_F(HostReactorTest, AnUnsubscribedListenersWaitingCallDoesNothing) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  HostSpec second;
  second.port = 20881;
  ASSERT_TRUE(NextPollAfter(seconds(10)));
  http_.Reply(200, ServiceJson({{}, second}, 200));
  ASSERT_EQ(posted_.size(), 1u);
  EXPECT_TRUE(hosts_->Unsubscribe(listener->id));
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
}

TEST_F(HostReactorTest, EveryChangeIsWrittenToTheDiskCache) {
  Make();
  std::vector<ServiceChangeEvent> events;
  SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  DiskCache disk(dir_.path());
  Result<std::string> cached = disk.Load("DEFAULT_GROUP@@demo");
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(*cached, ServiceJson({{}}, 100));
}

TEST_F(HostReactorTest, FirstQueryFailureFallsBackToTheDiskCache) {
  DiskCache disk(dir_.path());
  ASSERT_TRUE(disk.Write("DEFAULT_GROUP@@demo", ServiceJson({{}}, 100)).ok());
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  Status subscribed = InternalError("not called");
  hosts_->Subscribe("demo", "", "", listener, [&](Status s) { subscribed = s; });
  http_.Fail();
  EXPECT_TRUE(subscribed.ok());
  Dispatch();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].instances.size(), 1u);
  // GetServiceInfo answers from memory now.
  Result<ServiceInfo> info = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "", true, [&](Result<ServiceInfo> r) { info = std::move(r); });
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->hosts.size(), 1u);
  // The server comes back: a cached list is replaced even by an older lastRefTime.
  ASSERT_TRUE(NextPollAfter(seconds(2)));
  HostSpec other;
  other.port = 20999;
  http_.Reply(200, ServiceJson({other}, 50));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].instances[0].port, 20999);
}

TEST_F(HostReactorTest, NoServerAndNoCacheIsAnError) {
  Make();
  Result<ServiceInfo> info = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "", true, [&](Result<ServiceInfo> r) { info = std::move(r); });
  http_.Fail();
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable);
  Result<ServiceInfo> once = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "", false,
                         [&](Result<ServiceInfo> r) { once = std::move(r); });
  http_.Fail();
  EXPECT_EQ(once.status().code(), StatusCode::kUnavailable);
}

TEST_F(HostReactorTest, LoadCacheAtStartServesBeforeAnyAnswer) {
  DiskCache disk(dir_.path());
  ASSERT_TRUE(disk.Write("DEFAULT_GROUP@@demo", ServiceJson({{}}, 100)).ok());
  options_.load_cache_at_start = true;
  Make();
  Result<ServiceInfo> info = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "", true, [&](Result<ServiceInfo> r) { info = std::move(r); });
  ASSERT_TRUE(info.ok()) << "answered from the loaded cache without waiting";
  EXPECT_EQ(info->hosts.size(), 1u);
}

TEST_F(HostReactorTest, SubscribeWithCachedDataDoesNotWaitForTheServer) {
  DiskCache disk(dir_.path());
  ASSERT_TRUE(disk.Write("DEFAULT_GROUP@@demo", ServiceJson({{}}, 100)).ok());
  options_.load_cache_at_start = true;
  Make();
  std::vector<ServiceChangeEvent> events;
  bool done = false;
  hosts_->Subscribe("demo", "", "", Listener(&events), [&](Status s) { done = s.ok(); });
  EXPECT_TRUE(done) << "a hanging server must not delay a subscriber that has cached data";
  EXPECT_EQ(http_.pending(), 1u) << "the first query still goes out";
  Dispatch();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].added.size(), 1u);
}

TEST_F(HostReactorTest, AnswerForAnotherServiceIsAFailure) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  hosts_->Subscribe("other", "", "", listener, [](Status) {});
  http_.Reply(200, ServiceJson({{}}, 100));  // Says DEFAULT_GROUP@@demo.
  Dispatch();
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(hosts_->stats().poll_failures, 1u);
}

TEST_F(HostReactorTest, ClustersAreQueriedAndKeyedSeparately) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  hosts_->Subscribe("demo", "", "c1,c2", listener, [](Status) {});
  EXPECT_TRUE(HasParam(http_.front().url, "clusters", "c1%2Cc2")) << http_.front().url;
  http_.Reply(200, ServiceJson({{}}, 100, 10000, "c1,c2"));
  EXPECT_NE(hosts_->Find("DEFAULT_GROUP@@demo@@c1,c2"), nullptr);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo"), nullptr);
}

TEST_F(HostReactorTest, UnsubscribingTheLastListenerStopsPolling) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = SubscribeAndAnswer(&events, ServiceJson({{}}, 100));
  EXPECT_TRUE(hosts_->Unsubscribe(listener->id));
  EXPECT_FALSE(listener->active.load());
  EXPECT_FALSE(hosts_->Unsubscribe(listener->id));
  const size_t sent = http_.sent().size();
  sched_.AdvanceBy(seconds(120));
  EXPECT_EQ(http_.sent().size(), sent);
}

TEST_F(HostReactorTest, ASecondListenerGetsTheCurrentListAtOnce) {
  Make();
  std::vector<ServiceChangeEvent> first, second;
  SubscribeAndAnswer(&first, ServiceJson({{}}, 100));
  bool done = false;
  hosts_->Subscribe("demo", "", "", Listener(&second), [&](Status s) { done = s.ok(); });
  EXPECT_TRUE(done);
  EXPECT_EQ(http_.pending(), 0u) << "one query per service, however many listeners";
  Dispatch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].added.size(), 1u);
  EXPECT_EQ(first.size(), 1u);
}

TEST_F(HostReactorTest, FailoverSwitchServesTheFailoverFiles) {
  options_.failover_check_ms = 1000;
  Make();
  FailoverStore failover(dir_.path());
  HostSpec backup;
  backup.port = 29999;
  ASSERT_TRUE(
      failover.WriteFailoverSnapshot({{"DEFAULT_GROUP@@demo", ServiceJson({backup}, 1)}}).ok());
  { std::ofstream(failover.switch_path()) << "1\n"; }
  sched_.AdvanceBy(seconds(1));
  EXPECT_TRUE(hosts_->failover_on());
  Result<ServiceInfo> info = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "", true, [&](Result<ServiceInfo> r) { info = std::move(r); });
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->hosts[0].port, 29999);
  EXPECT_EQ(http_.pending(), 0u);
  { std::ofstream(failover.switch_path()) << "0\n"; }
  sched_.AdvanceBy(seconds(1));
  EXPECT_FALSE(hosts_->failover_on());
}

TEST_F(HostReactorTest, StopReleasesWaitersAndPostsNothingMore) {
  Make();
  std::vector<ServiceChangeEvent> events;
  auto listener = Listener(&events);
  Status subscribed = InternalError("not called");
  hosts_->Subscribe("demo", "", "", listener, [&](Status s) { subscribed = s; });
  Result<ServiceInfo> info = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "", true, [&](Result<ServiceInfo> r) { info = std::move(r); });
  hosts_->Stop();
  EXPECT_EQ(subscribed.code(), StatusCode::kCancelled) << "a dead subscription is no success";
  EXPECT_EQ(info.status().code(), StatusCode::kCancelled);
  EXPECT_FALSE(listener->active.load());
  http_.Reply(200, ServiceJson({{}}, 100));
  EXPECT_TRUE(posted_.empty());
  EXPECT_EQ(hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 1), 1), "127.0.0.1"), "");
}

// ---- The stream feed (gRPC)
// ----------------------------------------------------------------------

TEST_F(HostReactorStreamTest, SubscribesPerServiceAppliesTheAnswerAndNeverPolls) {
  MakeStream();
  std::vector<ServiceChangeEvent> events;
  bool done = false;
  hosts_->Subscribe("demo", "", "", Listener(&events), [&](Status s) { done = s.ok(); });
  EXPECT_EQ(http_.pending(), 0u) << "no list query on the stream feed";
  ASSERT_EQ(stream_.subscribes.size(), 1u);
  EXPECT_EQ(stream_.subscribes[0].first, "DEFAULT_GROUP@@demo");
  EXPECT_FALSE(done) << "Subscribe waits for the first data";
  stream_.subscribes[0].second(GrpcServiceJson({{}}, 100));
  EXPECT_TRUE(done);
  Dispatch();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].service_name, "DEFAULT_GROUP@@demo");
  EXPECT_EQ(events[0].added.size(), 1u);
  ASSERT_NE(hosts_->Find("DEFAULT_GROUP@@demo"), nullptr);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->name, "DEFAULT_GROUP@@demo");
  // Written to the disk cache in the shape the v1 path writes.
  Result<std::string> cached = DiskCache(dir_.path()).Load("DEFAULT_GROUP@@demo");
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(ParseServiceInfo(*cached)->Key(), "DEFAULT_GROUP@@demo");

  sched_.AdvanceBy(seconds(120));
  EXPECT_EQ(http_.sent().size(), 0u) << "no polling while on the stream";
  // A push with a change is applied and reported.
  HostSpec second;
  second.port = 20881;
  hosts_->HandleStreamData(GrpcServiceJson({{}, second}, 200));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].added.size(), 1u);
  EXPECT_EQ(events[1].added[0].port, 20881);
  EXPECT_EQ(hosts_->stats().stream_updates, 2u);
}

TEST_F(HostReactorStreamTest, StalePushIsDroppedAndCounted) {
  MakeStream();
  std::vector<ServiceChangeEvent> events;
  hosts_->Subscribe("demo", "", "", Listener(&events), [](Status) {});
  ASSERT_EQ(stream_.subscribes.size(), 1u);
  stream_.subscribes[0].second(GrpcServiceJson({{}}, 200));
  Dispatch();
  HostSpec other;
  other.port = 1;
  hosts_->HandleStreamData(GrpcServiceJson({other}, 199));
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(hosts_->stats().stale_pushes, 1u);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts[0].port, 20880);
  // The same lastRefTime is not older: applied.
  hosts_->HandleStreamData(GrpcServiceJson({other}, 200));
  Dispatch();
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts[0].port, 1);
}

TEST_F(HostReactorStreamTest, DataOfAnotherConnectionIsNeverComparedWithThisOnes) {
  MakeStream();
  std::vector<ServiceChangeEvent> events;
  hosts_->Subscribe("demo", "", "", Listener(&events), [](Status) {});
  stream_.subscribes[0].second(GrpcServiceJson({{}}, 500));
  Dispatch();
  // Another server (its own clock and stamps) answers the redo of the next connection.
  hosts_->StreamLost();
  HostSpec other;
  other.port = 1;
  hosts_->HandleStreamData(GrpcServiceJson({other}, 100));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].instances[0].port, 1);
  EXPECT_EQ(hosts_->stats().stale_pushes, 0u);
  // Within that connection the order counts again.
  hosts_->HandleStreamData(GrpcServiceJson({{}}, 99));
  EXPECT_EQ(hosts_->stats().stale_pushes, 1u);
}

TEST_F(HostReactorStreamTest, EmptyProtectionAppliesToPushes) {
  MakeStream();
  std::vector<ServiceChangeEvent> events;
  hosts_->Subscribe("demo", "", "", Listener(&events), [](Status) {});
  stream_.subscribes[0].second(GrpcServiceJson({{}}, 100));
  Dispatch();
  hosts_->HandleStreamData(GrpcServiceJson({}, 200));
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(hosts_->stats().empty_protected, 1u);
  EXPECT_EQ(hosts_->Find("DEFAULT_GROUP@@demo")->hosts.size(), 1u);
}

TEST_F(HostReactorStreamTest, WholeServiceDataServesEveryKeyFilteredByClusters) {
  MakeStream();
  std::vector<ServiceChangeEvent> all, c1;
  HostSpec in_c1;
  in_c1.port = 30000;
  in_c1.cluster = "c1";
  hosts_->Subscribe("demo", "", "", Listener(&all), [](Status) {});
  ASSERT_EQ(stream_.subscribes.size(), 1u);
  stream_.subscribes[0].second(GrpcServiceJson({{}, in_c1}, 100));
  bool done = false;
  hosts_->Subscribe("demo", "", "c1,c2", Listener(&c1), [&](Status s) { done = s.ok(); });
  EXPECT_TRUE(done) << "the service's data serves a new key at once";
  EXPECT_EQ(stream_.subscribes.size(), 1u) << "one subscription per grouped service";
  Dispatch();
  ASSERT_EQ(c1.size(), 1u);
  ASSERT_EQ(c1[0].instances.size(), 1u);
  EXPECT_EQ(c1[0].instances[0].port, 30000);
  EXPECT_EQ(c1[0].clusters, "c1,c2");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].instances.size(), 2u);
  // A push changing only the DEFAULT cluster reaches the listener of "" alone.
  HostSpec more;
  more.port = 20881;
  hosts_->HandleStreamData(GrpcServiceJson({{}, more, in_c1}, 200));
  Dispatch();
  EXPECT_EQ(all.size(), 2u);
  EXPECT_EQ(c1.size(), 1u);
}

TEST_F(HostReactorStreamTest, LastKeyOfAServiceUnsubscribesTheStream) {
  MakeStream();
  std::vector<ServiceChangeEvent> events;
  auto a = Listener(&events);
  auto b = Listener(&events);
  hosts_->Subscribe("demo", "", "", a, [](Status) {});
  stream_.subscribes[0].second(GrpcServiceJson({{}}, 100));
  hosts_->Subscribe("demo", "", "c1", b, [](Status) {});
  EXPECT_TRUE(hosts_->Unsubscribe(a->id));
  EXPECT_TRUE(stream_.unsubscribes.empty()) << "the c1 key still needs the service";
  EXPECT_TRUE(hosts_->Unsubscribe(b->id));
  EXPECT_EQ(stream_.unsubscribes, (std::vector<std::string>{"DEFAULT_GROUP@@demo"}));
  // Data of a service no longer subscribed is ignored.
  hosts_->HandleStreamData(GrpcServiceJson({{}}, 300));
  EXPECT_EQ(hosts_->stats().stream_updates, 1u);
}

TEST_F(HostReactorStreamTest, FailedFirstSubscriptionServesTheDiskCache) {
  HostSpec cached_host;
  cached_host.port = 21000;
  ASSERT_TRUE(
      DiskCache(dir_.path()).Write("DEFAULT_GROUP@@demo", ServiceJson({cached_host}, 1)).ok());
  MakeStream();
  std::vector<ServiceChangeEvent> events;
  Status done = InternalError("not called");
  hosts_->Subscribe("demo", "", "", Listener(&events), [&](Status s) { done = s; });
  stream_.subscribes[0].second(UnavailableError("not connected"));
  EXPECT_TRUE(done.ok()) << done;
  Dispatch();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].instances[0].port, 21000);
  // The redo's answer later replaces it, whatever its lastRefTime: cached data is never compared.
  hosts_->HandleStreamData(GrpcServiceJson({{}}, 0));
  Dispatch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].instances[0].port, 20880);
}

TEST_F(HostReactorStreamTest, MovingBetweenFeeds) {
  MakeStream(HostReactor::Feed::kPoll);
  std::vector<ServiceChangeEvent> events;
  hosts_->Subscribe("demo", "", "", Listener(&events), [](Status) {});
  ASSERT_EQ(stream_.subscribes.size(), 1u) << "subscribed on the stream too, for its redo";
  ASSERT_EQ(http_.pending(), 1u) << "the poll feed queries";
  http_.Reply(200, ServiceJson({{}}, 100));
  stream_.subscribes[0].second(UnavailableError("not connected"));  // Ignored on the poll feed.
  Dispatch();
  EXPECT_EQ(events.size(), 1u);
  // The stream becomes ready: its redo's data comes, then the feed moves; polls stop.
  HostSpec more;
  more.port = 20881;
  hosts_->HandleStreamData(GrpcServiceJson({{}, more}, 200));
  hosts_->SetFeed(HostReactor::Feed::kStream);
  sched_.AdvanceBy(seconds(120));
  EXPECT_EQ(http_.sent().size(), 1u) << "no poll on the stream feed";
  // A UDP doorbell left over from the poll feed queries nothing either.
  hosts_->HandleDatagram(PushPacket(ServiceJson({{}}, 1), 1), "127.0.0.1");
  EXPECT_EQ(http_.sent().size(), 1u);
  // Back to polling: every subscribed service is queried at once.
  hosts_->SetFeed(HostReactor::Feed::kPoll);
  EXPECT_EQ(http_.sent().size(), 2u);
  http_.Reply(200, ServiceJson({{}}, 300));
  EXPECT_TRUE(NextPollAfter(milliseconds(10000)));
}

TEST_F(HostReactorStreamTest, OneOffQueriesGoToTheStream) {
  MakeStream();
  Result<ServiceInfo> info = InternalError("not called");
  hosts_->GetServiceInfo("demo", "", "c1", false,
                         [&](Result<ServiceInfo> r) { info = std::move(r); });
  EXPECT_EQ(http_.pending(), 0u);
  ASSERT_EQ(stream_.queries, (std::vector<std::string>{"DEFAULT_GROUP@@demo|c1"}));
  HostSpec in_c1;
  in_c1.cluster = "c1";
  stream_.query_done[0](GrpcServiceJson({in_c1}, 5));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->Key(), "DEFAULT_GROUP@@demo@@c1");
  EXPECT_EQ(info->hosts.size(), 1u);
}

}  // namespace
}  // namespace dubbo::registry::nacos
