// NamingGrpcProxy on a fake channel and the manual clock: the setup's order and bytes, SetupAck
// and the HealthCheck proof, health checks, ClientDetection, ConnectReset, 301, reconnect rotation
// and backoff, redo (with changes made while disconnected), Instance vs Batch records, pushes,
// hostile answers, auth, and Stop. Also the request bodies against the Java client's vectors.
#include "naming_grpc_proxy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "naming_grpc_json.h"
#include "service_info_json.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

GrpcMessage Msg(std::string type, std::string body) {
  GrpcMessage m;
  m.type = std::move(type);
  m.body = std::move(body);
  return m;
}

// One unary call the fake channel holds until it is answered, times out or the channel closes.
struct Call {
  GrpcMessage request;
  GrpcChannel::UnaryDone done;
  TaskId timeout = kInvalidTaskId;
  bool finished = false;
};

// What one channel saw; outlives the channel.
struct ChannelLog {
  std::string host;
  int port = 0;
  TimePoint opened{};
  GrpcChannelEvents* events = nullptr;
  bool closed = false;  // By the client.
  bool server_closed = false;
  std::vector<GrpcMessage> unary;   // Every request, in order.
  std::vector<GrpcMessage> stream;  // Every message the client sent on the stream.
  std::vector<std::shared_ptr<Call>> calls;
  std::string key() const { return host + ":" + std::to_string(port); }
};

// How a fake server answers.
struct ServerScript {
  bool refuse_connect = false;  // The channel fails at once.
  bool negotiation = true;      // ServerCheckResponse.supportAbilityNegotiation.
  bool send_setup_ack = true;   // Answer the setup with a SetupAckRequest.
  bool persistent = true;       // abilityTable.supportPersistentInstanceByGrpc.
  int health_301_count = 0;     // HealthChecks answered 301 before 200.
  std::set<std::string> hold;   // Request types left unanswered (answered by the test).
};

class FakeConnector final : public GrpcConnector {
 public:
  explicit FakeConnector(ManualScheduler* loop) : loop_(loop) {}

  std::map<std::string, ServerScript> scripts;  // By "host:grpcPort".
  std::vector<std::shared_ptr<ChannelLog>> logs;

  std::unique_ptr<GrpcChannel> Connect(const std::string& host, int port, Duration,
                                       GrpcChannelEvents* events) override;

  // Finishes `call` (once).
  void Finish(const std::shared_ptr<Call>& call, Result<GrpcMessage> answer) {
    if (call->finished) return;
    call->finished = true;
    loop_->Cancel(call->timeout);
    call->done(std::move(answer));
  }
  // Answers the oldest unfinished call of `type` on `log`.
  bool Answer(ChannelLog& log, const std::string& type, GrpcMessage answer) {
    for (auto& call : log.calls) {
      if (!call->finished && call->request.type == type) {
        Finish(call, std::move(answer));
        return true;
      }
    }
    return false;
  }
  // The server drops the connection: pending calls fail, then the channel reports.
  void ServerClose(ChannelLog& log) {
    if (log.closed || log.server_closed) return;
    log.server_closed = true;
    for (auto& call : log.calls) Finish(call, UnavailableError("connection reset"));
    // The client may have closed the channel from inside those callbacks.
    if (!log.closed) log.events->OnChannelClosed(UnavailableError("connection reset"));
  }
  ChannelLog& last() { return *logs.back(); }

  std::optional<GrpcMessage> DefaultAnswer(ChannelLog& log, const ServerScript& script,
                                           const GrpcMessage& request);

  ManualScheduler* const loop_;
  std::map<std::string, int> health_seen_;
};

class FakeChannel final : public GrpcChannel {
 public:
  FakeChannel(FakeConnector* connector, std::shared_ptr<ChannelLog> log, ServerScript script)
      : connector_(connector), log_(std::move(log)), script_(std::move(script)) {}
  ~FakeChannel() override { Close(); }

  void Unary(GrpcMessage request, Duration timeout, UnaryDone done) override {
    log_->unary.push_back(request);
    auto call = std::make_shared<Call>();
    call->request = request;
    call->done = std::move(done);
    log_->calls.push_back(call);
    ManualScheduler* loop = connector_->loop_;
    FakeConnector* connector = connector_;
    if (log_->closed || log_->server_closed) {
      loop->ScheduleAfter(Duration::zero(), [connector, call] {
        connector->Finish(call, UnavailableError("closed"));
      });
      return;
    }
    call->timeout = loop->ScheduleAfter(
        timeout, [connector, call] { connector->Finish(call, DeadlineExceededError("deadline")); });
    if (script_.hold.count(request.type) > 0) return;
    std::optional<GrpcMessage> answer = connector_->DefaultAnswer(*log_, script_, request);
    if (answer) {
      loop->ScheduleAfter(Duration::zero(), [connector, call, a = *answer]() mutable {
        connector->Finish(call, std::move(a));
      });
    }
  }

  Status SendOnStream(GrpcMessage message) override {
    if (log_->closed || log_->server_closed) return UnavailableError("closed");
    log_->stream.push_back(message);
    if (message.type == "ConnectionSetupRequest" && script_.negotiation && script_.send_setup_ack) {
      auto log = log_;
      const std::string body =
          std::string("{\"headers\":{},\"abilityTable\":{") +
          (script_.persistent ? "\"supportPersistentInstanceByGrpc\":true" : "") +
          "},\"module\":\"internal\"}";
      connector_->loop_->ScheduleAfter(Duration::zero(), [log, body] {
        if (!log->closed && !log->server_closed) {
          log->events->OnStreamMessage(Msg("SetupAckRequest", body));
        }
      });
    }
    return Status::Ok();
  }

  void Close() override {
    if (log_->closed) return;
    log_->closed = true;
    FakeConnector* connector = connector_;
    for (auto& call : log_->calls) {
      if (call->finished) continue;
      connector_->loop_->ScheduleAfter(Duration::zero(), [connector, call] {
        connector->Finish(call, CancelledError("closed"));
      });
    }
  }

 private:
  FakeConnector* const connector_;
  std::shared_ptr<ChannelLog> log_;
  const ServerScript script_;
};

std::unique_ptr<GrpcChannel> FakeConnector::Connect(const std::string& host, int port, Duration,
                                                    GrpcChannelEvents* events) {
  auto log = std::make_shared<ChannelLog>();
  log->host = host;
  log->port = port;
  log->opened = loop_->Now();
  log->events = events;
  logs.push_back(log);
  const ServerScript script = scripts[log->key()];
  if (script.refuse_connect) {
    log->server_closed = true;
    loop_->ScheduleAfter(Duration::zero(),
                         [events] { events->OnChannelClosed(UnavailableError("refused")); });
  }
  return std::make_unique<FakeChannel>(this, log, script);
}

std::string ServiceInfoJson(const std::string& name) {
  return "{\"name\":\"" + name + "\",\"groupName\":\"DEFAULT_GROUP\",\"clusters\":\"\"," +
         "\"cacheMillis\":10000,\"hosts\":[],\"lastRefTime\":1700000000500,\"checksum\":\"\"," +
         "\"allIPs\":false,\"reachProtectionThreshold\":false,\"valid\":true}";
}

std::optional<GrpcMessage> FakeConnector::DefaultAnswer(ChannelLog& log, const ServerScript& script,
                                                        const GrpcMessage& request) {
  const bool setup = !log.stream.empty();
  const std::string ok = "{\"resultCode\":200,\"errorCode\":0,\"success\":true}";
  const std::string t = request.type;
  if (t == "ServerCheckRequest") {
    return Msg("ServerCheckResponse",
               std::string("{\"resultCode\":200,\"errorCode\":0,\"connectionId\":\"1_") + log.host +
                   "\",\"supportAbilityNegotiation\":" + (script.negotiation ? "true" : "false") +
                   ",\"success\":true}");
  }
  const std::string unregistered =
      "{\"resultCode\":500,\"errorCode\":301,\"message\":\"Connection is unregistered.\","
      "\"success\":false}";
  if (t == "HealthCheckRequest") {
    if (!setup || health_seen_[log.key()]++ < script.health_301_count) {
      return Msg("ErrorResponse", unregistered);
    }
    return Msg("HealthCheckResponse", ok);
  }
  if (!setup) return Msg("ErrorResponse", unregistered);
  if (t == "InstanceRequest" || t == "PersistentInstanceRequest")
    return Msg("InstanceResponse", ok);
  if (t == "BatchInstanceRequest") return Msg("BatchInstanceResponse", ok);
  if (t == "SubscribeServiceRequest" || t == "ServiceQueryRequest") {
    const std::string name = request.body.substr(request.body.find("\"serviceName\":\"") + 15);
    return Msg(t == "ServiceQueryRequest" ? "QueryServiceResponse" : "SubscribeServiceResponse",
               "{\"resultCode\":200,\"errorCode\":0,\"message\":\"success\",\"serviceInfo\":" +
                   ServiceInfoJson(name.substr(0, name.find('"'))) + ",\"success\":true}");
  }
  if (t == "ServiceListRequest") {
    return Msg("ServiceListResponse",
               "{\"resultCode\":200,\"errorCode\":0,\"count\":1,\"serviceNames\":[\"demo\"],"
               "\"success\":true}");
  }
  return Msg("ErrorResponse",
             "{\"resultCode\":500,\"errorCode\":302,\"message\":\"RequestHandler Not Found\"}");
}

Instance MakeInstance(const std::string& ip, int port) {
  Instance instance;
  instance.ip = ip;
  instance.port = port;
  return instance;
}

// The requests of `log` other than ServerCheck and HealthCheck.
std::vector<GrpcMessage> NamingRequests(const ChannelLog& log) {
  std::vector<GrpcMessage> out;
  for (const GrpcMessage& m : log.unary) {
    if (m.type != "ServerCheckRequest" && m.type != "HealthCheckRequest") out.push_back(m);
  }
  return out;
}

class NamingGrpcProxyTest : public ::testing::Test {
 protected:
  NamingGrpcProxyTest() {
    options_.server_addresses = {"10.0.0.1:8848"};
    options_.request_timeout_ms = 3000;
    options_.connect_timeout_ms = 3000;
  }

  void Make(uint64_t seed = 0) {
    NamingGrpcProxy::Hooks hooks;
    hooks.on_service_info = [this](std::string json) {
      infos_.push_back(json);
      if (on_info_) on_info_();
    };
    hooks.on_state = [this](bool ready) { states_.push_back(ready); };
    hooks.on_round_failed = [this](const Status& why) { rounds_failed_.push_back(why); };
    hooks.access_token = [this] { return token_; };
    hooks.on_auth_refused = [this] { ++auth_refused_; };
    proxy_ =
        std::make_unique<NamingGrpcProxy>(options_, "10.0.0.9", &connector_, &loop_, hooks, seed);
  }
  void StartReady() {
    Make();
    proxy_->Start();
    loop_.RunDue();
    ASSERT_TRUE(proxy_->ready());
  }

  ManualScheduler loop_;
  FakeConnector connector_{&loop_};
  NacosOptions options_;
  std::unique_ptr<NamingGrpcProxy> proxy_;
  std::vector<std::string> infos_;
  std::function<void()> on_info_;
  std::vector<bool> states_;
  std::vector<Status> rounds_failed_;
  std::string token_;
  int auth_refused_ = 0;
};

// ---- Setup -------------------------------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, SetupSendsServerCheckThenSetupAndWaitsForTheAck) {
  options_.app_name = "demo-app";
  options_.namespace_id = "public";
  connector_.scripts["10.0.0.1:9848"].send_setup_ack = false;
  Make();
  proxy_->Start();
  loop_.RunDue();
  ASSERT_EQ(connector_.logs.size(), 1u);
  ChannelLog& log = connector_.last();
  EXPECT_EQ(log.host, "10.0.0.1");
  EXPECT_EQ(log.port, 9848);
  ASSERT_EQ(log.unary.size(), 1u);
  EXPECT_EQ(log.unary[0].type, "ServerCheckRequest");
  EXPECT_EQ(log.unary[0].client_ip, "10.0.0.9");
  EXPECT_EQ(log.unary[0].body, "{\"headers\":{},\"module\":\"internal\"}");  // As the Java client.
  ASSERT_EQ(log.stream.size(), 1u);
  EXPECT_EQ(log.stream[0].type, "ConnectionSetupRequest");
  EXPECT_EQ(log.stream[0].body,
            "{\"headers\":{},\"clientVersion\":\"Nacos-Cpp-Client:v0.2.0\",\"labels\":{\"AppName\":"
            "\"demo-app\",\"module\":\"naming\",\"source\":\"sdk\"},\"tenant\":\"public\","
            "\"abilityTable\":{},\"module\":\"internal\"}");
  EXPECT_FALSE(proxy_->ready());
  EXPECT_EQ(proxy_->current_server(), "10.0.0.1:8848");

  // The ack arrives: ready, with the server's abilities; no HealthCheck was needed.
  log.events->OnStreamMessage(
      Msg("SetupAckRequest",
          "{\"headers\":{},\"abilityTable\":{\"supportPersistentInstanceByGrpc\":true},"
          "\"module\":\"internal\"}"));
  EXPECT_TRUE(proxy_->ready());
  EXPECT_TRUE(proxy_->supports_persistent());
  EXPECT_EQ(states_, std::vector<bool>{true});
  EXPECT_EQ(log.unary.size(), 1u);
  EXPECT_EQ(proxy_->stats().connects, 1u);
}

TEST_F(NamingGrpcProxyTest, MissingSetupAckAbandonsTheServerAfterFiveSeconds) {
  options_.server_addresses = {"10.0.0.1:8848", "10.0.0.2:8848"};
  connector_.scripts["10.0.0.1:9848"].send_setup_ack = false;
  connector_.scripts["10.0.0.2:9848"].send_setup_ack = false;
  Make(/*seed=*/0);
  proxy_->Start();
  loop_.RunDue();
  ASSERT_EQ(connector_.logs.size(), 1u);
  const std::string first = connector_.last().host;
  loop_.AdvanceBy(milliseconds(4999));
  EXPECT_EQ(connector_.logs.size(), 1u);
  loop_.AdvanceBy(milliseconds(1));
  EXPECT_TRUE(connector_.logs[0]->closed);
  EXPECT_EQ(proxy_->stats().connect_failures, 1u);
  // The next server, after the first backoff step.
  loop_.AdvanceBy(milliseconds(100));
  ASSERT_EQ(connector_.logs.size(), 2u);
  EXPECT_NE(connector_.logs[1]->host, first);
  EXPECT_FALSE(proxy_->ready());
}

TEST_F(NamingGrpcProxyTest, WithoutNegotiationAHealthCheckProvesTheSetup) {
  ServerScript& script = connector_.scripts["10.0.0.1:9848"];
  script.negotiation = false;
  script.health_301_count = 2;  // The server has not processed the setup yet.
  Make();
  proxy_->Start();
  loop_.RunDue();
  EXPECT_FALSE(proxy_->ready());
  loop_.AdvanceBy(milliseconds(100));
  EXPECT_FALSE(proxy_->ready());
  loop_.AdvanceBy(milliseconds(100));
  EXPECT_TRUE(proxy_->ready());
  EXPECT_FALSE(proxy_->supports_persistent());
  const ChannelLog& log = connector_.last();
  ASSERT_EQ(log.unary.size(), 4u);
  EXPECT_EQ(log.unary[1].type, "HealthCheckRequest");
  EXPECT_EQ(log.unary[3].type, "HealthCheckRequest");
  // Persistent instances need the ability.
  std::optional<Status> done;
  proxy_->PersistentInstance("DEFAULT_GROUP@@demo", MakeInstance("10.0.0.5", 80), true,
                             [&](Status s) { done = s; });
  loop_.RunDue();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->code(), StatusCode::kFailedPrecondition);
}

TEST_F(NamingGrpcProxyTest, SetupNeverConfirmedFailsTheAttempt) {
  ServerScript& script = connector_.scripts["10.0.0.1:9848"];
  script.negotiation = false;
  script.health_301_count = 1000;
  Make();
  proxy_->Start();
  loop_.RunDue();
  loop_.AdvanceBy(milliseconds(2999));
  EXPECT_EQ(proxy_->stats().connect_failures, 0u);
  loop_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(proxy_->stats().connect_failures, 1u);
  EXPECT_EQ(rounds_failed_.size(), 1u);
  EXPECT_TRUE(connector_.logs[0]->closed);
}

// ---- Health, detection, reset, 301 -------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, HealthCheckGoesOutAfterIdleOnly) {
  StartReady();
  ChannelLog& log = connector_.last();
  const size_t before = log.unary.size();
  loop_.AdvanceBy(milliseconds(4999));
  EXPECT_EQ(log.unary.size(), before);
  loop_.AdvanceBy(milliseconds(1));
  ASSERT_EQ(log.unary.size(), before + 1);
  EXPECT_EQ(log.unary.back().type, "HealthCheckRequest");
  loop_.RunDue();  // Answered: the next check is 5 s after this answer.
  EXPECT_EQ(proxy_->stats().health_checks, 1u);

  // Activity (a push) postpones the next check.
  loop_.AdvanceBy(milliseconds(3000));
  log.events->OnStreamMessage(Msg("ClientDetectionRequest",
                                  "{\"headers\":{},\"requestId\":\"1\",\"module\":\"internal\"}"));
  loop_.AdvanceBy(milliseconds(4999));
  EXPECT_EQ(proxy_->stats().health_checks, 1u);

  loop_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(proxy_->stats().health_checks, 2u);
  EXPECT_EQ(log.unary.back().type, "HealthCheckRequest");
  EXPECT_TRUE(proxy_->ready());
}

TEST_F(NamingGrpcProxyTest, FailedHealthCheckEndsTheConnection) {
  connector_.scripts["10.0.0.1:9848"].hold = {"HealthCheckRequest"};
  StartReady();
  ChannelLog& log = connector_.last();
  loop_.AdvanceBy(milliseconds(5000));
  ASSERT_EQ(log.unary.back().type, "HealthCheckRequest");
  connector_.Answer(log, "HealthCheckRequest",
                    Msg("ErrorResponse", "{\"resultCode\":500,\"errorCode\":301}"));
  EXPECT_EQ(states_, (std::vector<bool>{true, false}));
  EXPECT_TRUE(log.closed);
  EXPECT_EQ(proxy_->stats().health_check_failures, 1u);
  EXPECT_EQ(proxy_->stats().disconnects, 1u);
  loop_.RunDue();  // Reconnects at once after a loss.
  EXPECT_EQ(connector_.logs.size(), 2u);
  EXPECT_TRUE(proxy_->ready());
}

TEST_F(NamingGrpcProxyTest, ClientDetectionIsAnsweredWithItsRequestId) {
  StartReady();
  ChannelLog& log = connector_.last();
  log.events->OnStreamMessage(Msg("ClientDetectionRequest",
                                  "{\"headers\":{},\"requestId\":\"42\",\"module\":\"internal\"}"));
  ASSERT_EQ(log.stream.size(), 2u);
  EXPECT_EQ(log.stream[1].type, "ClientDetectionResponse");
  // The Java client's answer, byte for byte.
  EXPECT_EQ(log.stream[1].body,
            "{\"resultCode\":200,\"errorCode\":0,\"requestId\":\"42\",\"success\":true}");
  EXPECT_EQ(proxy_->stats().detections, 1u);
  EXPECT_TRUE(proxy_->ready());
}

TEST_F(NamingGrpcProxyTest, ConnectResetMovesToTheNamedServerOrTheNext) {
  options_.server_addresses = {"10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"};
  Make(/*seed=*/0);
  proxy_->Start();
  loop_.RunDue();
  ASSERT_TRUE(proxy_->ready());
  const std::string first = connector_.last().host;
  const std::string target = first == "10.0.0.3" ? "10.0.0.1" : "10.0.0.3";
  ChannelLog& log = connector_.last();
  log.events->OnStreamMessage(
      Msg("ConnectResetRequest", "{\"headers\":{},\"requestId\":\"7\",\"serverIp\":\"" + target +
                                     "\",\"serverPort\":\"8848\",\"module\":\"internal\"}"));
  ASSERT_EQ(log.stream.back().type, "ConnectResetResponse");
  EXPECT_EQ(log.stream.back().body,
            "{\"resultCode\":200,\"errorCode\":0,\"requestId\":\"7\",\"success\":true}");
  EXPECT_TRUE(log.closed);
  EXPECT_EQ(states_, (std::vector<bool>{true, false}));
  loop_.RunDue();
  ASSERT_EQ(connector_.logs.size(), 2u);
  EXPECT_EQ(connector_.last().host, target);
  EXPECT_TRUE(proxy_->ready());
  EXPECT_EQ(proxy_->current_server(), target + ":8848");

  // An unlisted server: the next one in the list.
  connector_.last().events->OnStreamMessage(Msg(
      "ConnectResetRequest",
      "{\"headers\":{},\"requestId\":\"8\",\"serverIp\":\"192.0.2.1\",\"serverPort\":\"8848\"}"));
  loop_.RunDue();
  ASSERT_EQ(connector_.logs.size(), 3u);
  const std::string next = target == "10.0.0.3" ? "10.0.0.1" : "10.0.0.2";
  EXPECT_EQ(connector_.last().host, next);
  EXPECT_EQ(proxy_->stats().resets, 2u);
  EXPECT_EQ(proxy_->stats().connect_failures, 0u);
}

TEST_F(NamingGrpcProxyTest, UnregisteredAnswerFailsTheRequestAndReconnects) {
  connector_.scripts["10.0.0.1:9848"].hold = {"ServiceQueryRequest"};
  StartReady();
  ChannelLog& log = connector_.last();
  std::optional<Result<std::string>> got;
  proxy_->QueryService("DEFAULT_GROUP@@demo", "", false, [&](Result<std::string> r) { got = r; });
  connector_.Answer(log, "ServiceQueryRequest",
                    Msg("ErrorResponse",
                        "{\"resultCode\":500,\"errorCode\":301,\"message\":\"Connection is "
                        "unregistered.\",\"success\":false}"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got->status().message().find("301"), std::string_view::npos);
  EXPECT_TRUE(log.closed);
  loop_.RunDue();
  EXPECT_EQ(connector_.logs.size(), 2u);
  EXPECT_TRUE(proxy_->ready());
}

// ---- Reconnect rotation and backoff -------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, ReconnectRotatesWithJavasBackoff) {
  options_.server_addresses = {"10.0.0.1:8848", "10.0.0.2:8848"};
  connector_.scripts["10.0.0.1:9848"].refuse_connect = true;
  connector_.scripts["10.0.0.2:9848"].refuse_connect = true;
  Make(/*seed=*/0);
  const TimePoint start = loop_.Now();
  proxy_->Start();
  loop_.AdvanceBy(milliseconds(1600));
  std::vector<int64_t> at;
  std::vector<std::string> hosts;
  for (const auto& log : connector_.logs) {
    at.push_back(std::chrono::duration_cast<milliseconds>(log->opened - start).count());
    hosts.push_back(log->host);
  }
  // 100 ms between attempts in the first round, 200 in the second, 300 in the third...
  EXPECT_EQ(at, (std::vector<int64_t>{0, 100, 200, 400, 600, 900, 1200, 1600}));
  for (size_t i = 1; i < hosts.size(); ++i) EXPECT_NE(hosts[i], hosts[i - 1]);
  EXPECT_EQ(proxy_->stats().connect_failures, 8u);
  EXPECT_EQ(rounds_failed_.size(), 4u);  // Every second failure completes a round.

  // A round pause replaces the delay after each failed round (the one already scheduled too);
  // within a round the next server follows Java's delay.
  proxy_->SetRoundPause(milliseconds(3000));
  loop_.AdvanceBy(milliseconds(2999));
  EXPECT_EQ(connector_.logs.size(), 8u);
  loop_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(connector_.logs.size(), 9u);
  loop_.AdvanceBy(milliseconds(500));  // Round 5, second server: (4 + 1) × 100 ms.
  EXPECT_EQ(connector_.logs.size(), 10u);
  loop_.AdvanceBy(milliseconds(2999));
  EXPECT_EQ(connector_.logs.size(), 10u);
  loop_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(connector_.logs.size(), 11u);
}

TEST_F(NamingGrpcProxyTest, BackoffStopsGrowingAtFiveSeconds) {
  connector_.scripts["10.0.0.1:9848"].refuse_connect = true;
  Make();
  proxy_->Start();
  while (proxy_->stats().connect_failures < 55) ASSERT_TRUE(loop_.RunNext());
  const size_t n = connector_.logs.size();
  loop_.AdvanceBy(milliseconds(4999));
  EXPECT_EQ(connector_.logs.size(), n);
  loop_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(connector_.logs.size(), n + 1);
}

// ---- Redo
// ----------------------------------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, RedoResendsRecordsAndSubscriptionsBeforeReady) {
  StartReady();
  std::vector<Status> dones;
  auto record = [&](Status s) { dones.push_back(s); };
  proxy_->RegisterInstance("DEFAULT_GROUP@@a", MakeInstance("10.0.0.5", 1), record);
  proxy_->RegisterInstance("DEFAULT_GROUP@@c", MakeInstance("10.0.0.5", 3), record);
  proxy_->Subscribe("DEFAULT_GROUP@@s1", [](Result<std::string>) {});
  loop_.RunDue();
  ASSERT_EQ(dones.size(), 2u);

  // The connection drops; while disconnected: a registration, a deregistration, a subscription.
  connector_.scripts["10.0.0.1:9848"].refuse_connect = true;
  connector_.ServerClose(connector_.last());
  EXPECT_EQ(states_, (std::vector<bool>{true, false}));
  proxy_->RegisterInstance("DEFAULT_GROUP@@b", MakeInstance("10.0.0.5", 2), record);
  proxy_->DeregisterInstance("DEFAULT_GROUP@@a", "10.0.0.5", 1, record);
  std::optional<Result<std::string>> s2;
  proxy_->Subscribe("DEFAULT_GROUP@@s2", [&](Result<std::string> r) { s2 = r; });
  loop_.RunDue();
  ASSERT_EQ(dones.size(), 3u);  // The deregistration is done at once.
  EXPECT_TRUE(dones[2].ok());

  // The server comes back; the subscriptions' answers are held to see that ready waits for them.
  connector_.scripts["10.0.0.1:9848"] = ServerScript{};
  connector_.scripts["10.0.0.1:9848"].hold = {"SubscribeServiceRequest"};
  loop_.AdvanceBy(milliseconds(200));
  ChannelLog& log = connector_.last();
  ASSERT_FALSE(log.closed);
  std::vector<GrpcMessage> redo = NamingRequests(log);
  ASSERT_EQ(redo.size(), 4u);
  EXPECT_EQ(redo[0].type, "InstanceRequest");
  EXPECT_NE(redo[0].body.find("\"serviceName\":\"b\""), std::string::npos);
  EXPECT_EQ(redo[1].type, "InstanceRequest");
  EXPECT_NE(redo[1].body.find("\"serviceName\":\"c\""), std::string::npos);
  EXPECT_EQ(redo[2].type, "SubscribeServiceRequest");
  EXPECT_NE(redo[2].body.find("\"serviceName\":\"s1\""), std::string::npos);
  EXPECT_NE(redo[3].body.find("\"serviceName\":\"s2\""), std::string::npos);
  EXPECT_FALSE(proxy_->ready());
  EXPECT_EQ(dones.size(), 4u);  // b's registration was answered by its redo.
  EXPECT_TRUE(dones[3].ok());

  const std::string answer = "{\"resultCode\":200,\"serviceInfo\":" + ServiceInfoJson("s") + "}";
  connector_.Answer(log, "SubscribeServiceRequest", Msg("SubscribeServiceResponse", answer));
  EXPECT_FALSE(proxy_->ready());
  connector_.Answer(log, "SubscribeServiceRequest", Msg("SubscribeServiceResponse", answer));
  EXPECT_TRUE(proxy_->ready());
  EXPECT_EQ(states_, (std::vector<bool>{true, false, true}));
  ASSERT_TRUE(s2 && s2->ok());
  EXPECT_TRUE(ParseServiceInfo(**s2).ok());
  EXPECT_EQ(infos_.size(), 2u);  // The redo answers went on like pushes.
  EXPECT_EQ(proxy_->stats().redone_instances, 2u);
  EXPECT_EQ(proxy_->stats().redone_subscriptions, 2u);
}

TEST_F(NamingGrpcProxyTest, ARecordRefusedInTheRedoIsKeptAndTheConnectionBecomesReady) {
  connector_.scripts["10.0.0.1:9848"].refuse_connect = true;
  Make();
  proxy_->Start();
  loop_.RunDue();
  std::optional<Status> done;
  Instance bad = MakeInstance("10.0.0.5", 80);
  bad.cluster_name = "c_1";
  proxy_->RegisterInstance("DEFAULT_GROUP@@demo", bad, [&](Status s) { done = s; });
  connector_.scripts["10.0.0.1:9848"] = ServerScript{};
  connector_.scripts["10.0.0.1:9848"].hold = {"InstanceRequest"};
  loop_.AdvanceBy(milliseconds(100));
  ChannelLog& log = connector_.last();
  ASSERT_EQ(NamingRequests(log).size(), 1u);
  EXPECT_FALSE(proxy_->ready());
  connector_.Answer(log, "InstanceRequest",
                    Msg("ErrorResponse", "{\"resultCode\":400,\"errorCode\":400}"));
  EXPECT_TRUE(proxy_->ready());
  ASSERT_TRUE(done);
  EXPECT_EQ(done->code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(proxy_->instance_records().count("DEFAULT_GROUP@@demo"), 1u);
}

TEST_F(NamingGrpcProxyTest, CallsWaitForReadinessUpToTheRequestTimeout) {
  connector_.scripts["10.0.0.1:9848"].refuse_connect = true;
  Make();
  proxy_->Start();
  std::optional<Status> registered;
  std::optional<Result<ServiceList>> listed;
  proxy_->RegisterInstance("DEFAULT_GROUP@@demo", MakeInstance("10.0.0.5", 80),
                           [&](Status s) { registered = s; });
  proxy_->ListServices("DEFAULT_GROUP", 1, 10, [&](Result<ServiceList> r) { listed = r; });
  loop_.AdvanceBy(milliseconds(2999));
  EXPECT_FALSE(registered);
  loop_.AdvanceBy(milliseconds(1));
  ASSERT_TRUE(registered && listed);
  EXPECT_EQ(registered->code(), StatusCode::kUnavailable);
  EXPECT_EQ(listed->status().code(), StatusCode::kUnavailable);
  ASSERT_EQ(proxy_->instance_records().count("DEFAULT_GROUP@@demo"), 1u);  // Never lost.

  // A list waiting when the server comes back goes out once ready.
  proxy_->ListServices("DEFAULT_GROUP", 1, 10, [&](Result<ServiceList> r) { listed = r; });
  connector_.scripts["10.0.0.1:9848"].refuse_connect = false;
  loop_.AdvanceBy(milliseconds(2000));
  ASSERT_TRUE(proxy_->ready());
  ASSERT_TRUE(listed->ok());
  EXPECT_EQ((*listed)->count, 1);
  EXPECT_EQ((*listed)->names, std::vector<std::string>{"demo"});
  std::vector<GrpcMessage> sent = NamingRequests(connector_.last());
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].type, "InstanceRequest");     // The redo first,
  EXPECT_EQ(sent[1].type, "ServiceListRequest");  // then the waiting call.
}

// ---- Records -----------------------------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, OneInstanceGoesSingleSeveralGoAsOneBatch) {
  StartReady();
  std::vector<Status> dones;
  auto record = [&](Status s) { dones.push_back(s); };
  const std::string svc = "DEFAULT_GROUP@@demo";
  proxy_->RegisterInstance(svc, MakeInstance("10.0.0.5", 8080), record);
  proxy_->RegisterInstance(svc, MakeInstance("10.0.0.5", 8081), record);
  loop_.RunDue();
  proxy_->DeregisterInstance(svc, "10.0.0.5", 8080, record);
  loop_.RunDue();
  proxy_->DeregisterInstance(svc, "10.0.0.5", 8081, record);
  loop_.RunDue();
  proxy_->DeregisterInstance(svc, "10.0.0.5", 9999, record);  // Unknown: Ok, nothing sent.
  loop_.RunDue();
  ASSERT_EQ(dones.size(), 5u);
  for (const Status& s : dones) EXPECT_TRUE(s.ok()) << s;
  std::vector<GrpcMessage> sent = NamingRequests(connector_.last());
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].type, "InstanceRequest");
  EXPECT_NE(sent[0].body.find("\"type\":\"registerInstance\""), std::string::npos);
  EXPECT_EQ(sent[1].type, "BatchInstanceRequest");
  EXPECT_NE(sent[1].body.find("\"port\":8080"), std::string::npos);
  EXPECT_NE(sent[1].body.find("\"port\":8081"), std::string::npos);
  // Deregistering one of two: the rest as a batch.
  EXPECT_EQ(sent[2].type, "BatchInstanceRequest");
  EXPECT_EQ(sent[2].body.find("\"port\":8080"), std::string::npos);
  EXPECT_NE(sent[2].body.find("\"port\":8081"), std::string::npos);
  EXPECT_EQ(sent[3].type, "InstanceRequest");
  EXPECT_NE(sent[3].body.find("\"type\":\"deregisterInstance\""), std::string::npos);
  EXPECT_TRUE(proxy_->instance_records().empty());
}

TEST_F(NamingGrpcProxyTest, OneRecordRequestInFlightPerServiceChangesMeanwhileGoTogether) {
  connector_.scripts["10.0.0.1:9848"].hold = {"InstanceRequest", "BatchInstanceRequest"};
  StartReady();
  ChannelLog& log = connector_.last();
  const std::string svc = "DEFAULT_GROUP@@demo";
  std::vector<int> order;
  proxy_->RegisterInstance(svc, MakeInstance("10.0.0.5", 1), [&](Status) { order.push_back(1); });
  proxy_->RegisterInstance(svc, MakeInstance("10.0.0.5", 2), [&](Status) { order.push_back(2); });
  proxy_->RegisterInstance(svc, MakeInstance("10.0.0.5", 3), [&](Status) { order.push_back(3); });
  // Another service is not held up.
  proxy_->RegisterInstance("DEFAULT_GROUP@@other", MakeInstance("10.0.0.5", 4), [](Status) {});
  ASSERT_EQ(NamingRequests(log).size(), 2u);
  const std::string ok = "{\"resultCode\":200}";
  ASSERT_TRUE(connector_.Answer(log, "InstanceRequest", Msg("InstanceResponse", ok)));
  EXPECT_EQ(order, std::vector<int>{1});
  std::vector<GrpcMessage> sent = NamingRequests(log);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2].type, "BatchInstanceRequest");  // Both later changes, in one request.
  EXPECT_NE(sent[2].body.find("\"port\":2"), std::string::npos);
  EXPECT_NE(sent[2].body.find("\"port\":3"), std::string::npos);
  ASSERT_TRUE(connector_.Answer(log, "BatchInstanceRequest", Msg("BatchInstanceResponse", ok)));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(NamingRequests(log).size(), 3u);
}

TEST_F(NamingGrpcProxyTest, ARefusedRegistrationRestoresTheRecord) {
  connector_.scripts["10.0.0.1:9848"].hold = {"BatchInstanceRequest"};
  StartReady();
  const std::string svc = "DEFAULT_GROUP@@demo";
  std::optional<Status> first;
  std::optional<Status> second;
  proxy_->RegisterInstance(svc, MakeInstance("10.0.0.5", 8080), [&](Status s) { first = s; });
  loop_.RunDue();
  ASSERT_TRUE(first && first->ok());
  Instance bad = MakeInstance("10.0.0.5", 8081);
  bad.cluster_name = "c_1";
  proxy_->RegisterInstance(svc, bad, [&](Status s) { second = s; });
  EXPECT_EQ(proxy_->instance_records().at(svc).size(), 2u);
  connector_.Answer(connector_.last(), "BatchInstanceRequest",
                    Msg("ErrorResponse",
                        "{\"resultCode\":400,\"errorCode\":400,\"message\":\"Instance "
                        "'clusterName' should be characters with only 0-9a-zA-Z-. (current: c_1)\","
                        "\"success\":false}"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->code(), StatusCode::kInvalidArgument);
  EXPECT_NE(second->message().find("c_1"), std::string_view::npos);
  ASSERT_EQ(proxy_->instance_records().at(svc).size(), 1u);
  EXPECT_EQ(proxy_->instance_records().at(svc).count("10.0.0.5:8080"), 1u);
  EXPECT_TRUE(proxy_->ready());
  EXPECT_EQ(proxy_->stats().request_failures, 1u);
}

TEST_F(NamingGrpcProxyTest, PersistentInstancesUseTheirOwnRequestAndAreNotRecords) {
  StartReady();
  ASSERT_TRUE(proxy_->supports_persistent());
  std::optional<Status> done;
  proxy_->PersistentInstance("DEFAULT_GROUP@@demo", MakeInstance("10.0.0.5", 80), true,
                             [&](Status s) { done = s; });
  loop_.RunDue();
  ASSERT_TRUE(done && done->ok());
  std::vector<GrpcMessage> sent = NamingRequests(connector_.last());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "PersistentInstanceRequest");
  EXPECT_TRUE(proxy_->instance_records().empty());
}

// ---- Bytes -------------------------------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, RequestsMatchTheJavaClientsBodies) {
  token_ = "tok";
  StartReady();
  Instance instance = MakeInstance("10.0.0.5", 8080);
  instance.metadata = {{"version", "1.0"}};
  proxy_->RegisterInstance("DEFAULT_GROUP@@demo", instance, [](Status) {});
  proxy_->Subscribe("DEFAULT_GROUP@@demo", [](Result<std::string>) {});
  proxy_->ListServices("DEFAULT_GROUP", 1, 10, [](Result<ServiceList>) {});
  loop_.RunDue();
  std::vector<GrpcMessage> sent = NamingRequests(connector_.last());
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].type, "InstanceRequest");
  EXPECT_EQ(sent[0].client_ip, "10.0.0.9");
  EXPECT_EQ(sent[0].headers,
            (std::map<std::string, std::string>{{"accessToken", "tok"}, {"app", "unknown"}}));
  EXPECT_EQ(sent[0].body,
            "{\"headers\":{},\"namespace\":\"public\",\"serviceName\":\"demo\",\"groupName\":"
            "\"DEFAULT_GROUP\",\"type\":\"registerInstance\",\"instance\":{\"ip\":\"10.0.0.5\","
            "\"port\":8080,\"weight\":1.0,\"healthy\":true,\"enabled\":true,\"ephemeral\":true,"
            "\"clusterName\":\"DEFAULT\",\"metadata\":{\"version\":\"1.0\"},"
            "\"instanceHeartBeatInterval\":5000,\"instanceHeartBeatTimeOut\":15000,"
            "\"ipDeleteTimeout\":30000},\"module\":\"naming\"}");
  EXPECT_EQ(sent[1].body,
            "{\"headers\":{},\"namespace\":\"public\",\"serviceName\":\"demo\",\"groupName\":"
            "\"DEFAULT_GROUP\",\"subscribe\":true,\"clusters\":\"\",\"module\":\"naming\"}");
  EXPECT_EQ(sent[2].body,
            "{\"headers\":{},\"namespace\":\"public\",\"serviceName\":\"\",\"groupName\":"
            "\"DEFAULT_GROUP\",\"pageNo\":1,\"pageSize\":10,\"module\":\"naming\"}");
  // Without a token only `app` goes.
  token_.clear();
  proxy_->QueryService("DEFAULT_GROUP@@demo", "", true, [](Result<std::string>) {});
  loop_.RunDue();
  EXPECT_EQ(connector_.last().unary.back().headers,
            (std::map<std::string, std::string>{{"app", "unknown"}}));
}

TEST(NamingGrpcJsonTest, StreamAnswersMatchTheVectors) {
  // The Java client's push ack and detection answer.
  EXPECT_EQ(BuildStreamResponse("NotifySubscriberResponse", "17").body,
            "{\"resultCode\":200,\"errorCode\":0,\"requestId\":\"17\",\"success\":true}");
  const GrpcMessage failed = BuildStreamResponse("NotifySubscriberResponse", "18", 500, "bad");
  EXPECT_EQ(failed.body,
            "{\"resultCode\":500,\"errorCode\":500,\"message\":\"bad\",\"requestId\":\"18\","
            "\"success\":false}");
  EXPECT_EQ(BuildHealthCheckRequest().body, "{\"headers\":{},\"module\":\"internal\"}");
}

TEST(NamingGrpcJsonTest, BatchAndQueryBodies) {
  Instance a = MakeInstance("10.0.0.5", 8080);
  a.instance_id = "id-1";
  a.service_name = "DEFAULT_GROUP@@demo";
  a.weight = 2.5;
  a.metadata = {{"preserved.heart.beat.interval", "3000"}};
  const Instance b = MakeInstance("10.0.0.5", 8081);
  EXPECT_EQ(BuildBatchInstanceRequest("public", "demo", {a, b}).body,
            "{\"headers\":{},\"namespace\":\"public\",\"serviceName\":\"demo\",\"groupName\":"
            "\"DEFAULT_GROUP\",\"type\":\"batchRegisterInstance\",\"instances\":[{\"instanceId\":"
            "\"id-1\",\"ip\":\"10.0.0.5\",\"port\":8080,\"weight\":2.5,\"healthy\":true,"
            "\"enabled\":true,\"ephemeral\":true,\"clusterName\":\"DEFAULT\",\"serviceName\":"
            "\"DEFAULT_GROUP@@demo\",\"metadata\":{\"preserved.heart.beat.interval\":\"3000\"},"
            "\"instanceHeartBeatInterval\":3000,\"instanceHeartBeatTimeOut\":15000,"
            "\"ipDeleteTimeout\":30000},{\"ip\":\"10.0.0.5\",\"port\":8081,\"weight\":1.0,"
            "\"healthy\":true,\"enabled\":true,\"ephemeral\":true,\"clusterName\":\"DEFAULT\","
            "\"metadata\":{},\"instanceHeartBeatInterval\":5000,\"instanceHeartBeatTimeOut\":15000,"
            "\"ipDeleteTimeout\":30000}],\"module\":\"naming\"}");
  EXPECT_EQ(BuildServiceQueryRequest("ns", "g@@s", "c1,c2", true).body,
            "{\"headers\":{},\"namespace\":\"ns\",\"serviceName\":\"s\",\"groupName\":\"g\","
            "\"cluster\":\"c1,c2\",\"healthyOnly\":true,\"udpPort\":0,\"module\":\"naming\"}");
  const GrpcMessage persistent = BuildInstanceRequest("public", "g@@s", b, false, true);
  EXPECT_EQ(persistent.type, "PersistentInstanceRequest");
  EXPECT_NE(persistent.body.find("\"type\":\"deregisterInstance\""), std::string::npos);
  EXPECT_NE(BuildSubscribeServiceRequest("public", "g@@s", false).body.find("\"subscribe\":false"),
            std::string::npos);
}

TEST(NamingGrpcJsonTest, ServerAddressesSplit) {
  ServerEndpoint e;
  ASSERT_TRUE(SplitServerAddress("10.0.0.1:8848", &e));
  EXPECT_EQ(e.host, "10.0.0.1");
  EXPECT_EQ(e.port, 8848);
  ASSERT_TRUE(SplitServerAddress("http://nacos.local:80/nacos", &e));
  EXPECT_EQ(e.host, "nacos.local");
  EXPECT_EQ(e.port, 80);
  ASSERT_TRUE(SplitServerAddress("[::1]:8850", &e));
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 8850);
  ASSERT_TRUE(SplitServerAddress("host", &e));
  EXPECT_EQ(e.port, 8848);
  EXPECT_FALSE(SplitServerAddress("host:", &e));
  EXPECT_FALSE(SplitServerAddress("host:70000", &e));
  EXPECT_FALSE(SplitServerAddress("::1", &e));
  EXPECT_FALSE(SplitServerAddress("", &e));
}

TEST(NamingGrpcJsonTest, AnswersAreReadLeniently) {
  AnswerFailure failure;
  // No resultCode, no success, unknown keys, null message: a success.
  EXPECT_TRUE(ReadGrpcAnswer(Msg("InstanceResponse", "{\"x\":[1,{}],\"message\":null}"),
                             "InstanceResponse", kMaxSmallAnswerBytes, &failure)
                  .ok());
  // A refusal keeps its errorCode; 403 and 400 map to their codes.
  Result<JsonAnswer> refused = ReadGrpcAnswer(Msg("InstanceResponse",
                                                  "{\"resultCode\":500,\"errorCode\":403,"
                                                  "\"message\":\"user not found!\"}"),
                                              "InstanceResponse", kMaxSmallAnswerBytes, &failure);
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(failure.error_code, 403);
  EXPECT_FALSE(failure.malformed);
  // An ErrorResponse whose resultCode is the code.
  refused = ReadGrpcAnswer(Msg("ErrorResponse", "{\"resultCode\":-401,\"errorCode\":-401}"),
                           "InstanceResponse", kMaxSmallAnswerBytes, &failure);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failure.error_code, -401);
  // Malformed: other type, bad JSON, out-of-range code, too deep.
  for (const GrpcMessage& bad :
       {Msg("QueryServiceResponse", "{}"), Msg("InstanceResponse", "{"),
        Msg("InstanceResponse", "{\"resultCode\":1e20}"), Msg("InstanceResponse", "[]"),
        Msg("InstanceResponse", "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}")}) {
    Result<JsonAnswer> read =
        ReadGrpcAnswer(bad, "InstanceResponse", kMaxSmallAnswerBytes, &failure);
    EXPECT_EQ(read.status().code(), StatusCode::kUnavailable) << bad.body;
    EXPECT_TRUE(failure.malformed) << bad.body;
  }
  // The service list: non-string names dropped on their own, count range-checked.
  Result<ServiceList> list = ReadServiceListResponse(
      Msg("ServiceListResponse", "{\"count\":3,\"serviceNames\":[\"a\",1,null,{},\"b\"]}"),
      &failure);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(list->count, 3);
  EXPECT_FALSE(
      ReadServiceListResponse(Msg("ServiceListResponse", "{\"count\":-1}"), &failure).ok());
  // The serviceInfo sub-object, re-serialised compactly with numbers as they were sent.
  Result<std::string> info = ReadServiceInfoAnswer(
      Msg("QueryServiceResponse",
          "{ \"serviceInfo\" : {\"name\":\"demo\", \"hosts\":[{\"ip\":\"a\\u0041\",\"port\":1e1,"
          "\"w\":1.50}],\"n\":null,\"b\":false} }"),
      "QueryServiceResponse", &failure);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(*info,
            "{\"name\":\"demo\",\"hosts\":[{\"ip\":\"aA\",\"port\":1e1,\"w\":1.50}],\"n\":null,"
            "\"b\":false}");
  // ConnectReset: a port out of range leaves no target but still reads.
  Result<ConnectResetInfo> reset = ReadConnectReset(
      Msg("ConnectResetRequest", "{\"requestId\":\"1\",\"serverIp\":\"h\",\"serverPort\":70000}"));
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(reset->server_ip, "");
  EXPECT_EQ(reset->request_id, "1");
}

// ---- Pushes and hostile answers ----------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, PushIsHandedOnThenAcked) {
  StartReady();
  ChannelLog& log = connector_.last();
  size_t stream_at_hook = 0;
  on_info_ = [&] { stream_at_hook = log.stream.size(); };
  log.events->OnStreamMessage(
      Msg("NotifySubscriberRequest", "{\"headers\":{},\"requestId\":\"17\",\"serviceInfo\":" +
                                         ServiceInfoJson("demo") + ",\"module\":\"naming\"}"));
  ASSERT_EQ(infos_.size(), 1u);
  EXPECT_EQ(infos_[0], ServiceInfoJson("demo"));
  EXPECT_EQ(stream_at_hook, 1u);  // The ack went after the hook returned.
  ASSERT_EQ(log.stream.size(), 2u);
  EXPECT_EQ(log.stream[1].type, "NotifySubscriberResponse");
  EXPECT_EQ(log.stream[1].body,
            "{\"resultCode\":200,\"errorCode\":0,\"requestId\":\"17\",\"success\":true}");
  EXPECT_EQ(proxy_->stats().pushes, 1u);
}

TEST_F(NamingGrpcProxyTest, MalformedPushIsAnswered500AndCounted) {
  StartReady();
  ChannelLog& log = connector_.last();
  log.events->OnStreamMessage(
      Msg("NotifySubscriberRequest", "{\"requestId\":\"18\",\"serviceInfo\":[1,2]}"));
  log.events->OnStreamMessage(Msg("NotifySubscriberRequest", "{\"requestId\":\"19\",\"service"));
  log.events->OnStreamMessage(Msg("NotifySubscriberRequest", std::string(1, '\0')));
  EXPECT_TRUE(infos_.empty());
  ASSERT_EQ(log.stream.size(), 4u);
  EXPECT_NE(log.stream[1].body.find("\"resultCode\":500"), std::string::npos);
  EXPECT_NE(log.stream[1].body.find("\"requestId\":\"18\""), std::string::npos);
  EXPECT_NE(log.stream[2].body.find("\"resultCode\":500"), std::string::npos);
  EXPECT_EQ(proxy_->stats().malformed, 3u);
  EXPECT_EQ(proxy_->stats().pushes, 0u);
  EXPECT_TRUE(proxy_->ready());
}

TEST_F(NamingGrpcProxyTest, GarbageAndLateAnswersFailTheRequestOnly) {
  connector_.scripts["10.0.0.1:9848"].hold = {"ServiceQueryRequest"};
  StartReady();
  ChannelLog& log = connector_.last();
  const std::vector<GrpcMessage> garbage = {
      Msg("InstanceResponse", "{}"),
      Msg("QueryServiceResponse", "not json"),
      Msg("QueryServiceResponse", "{\"resultCode\":200}"),  // No serviceInfo.
      Msg("QueryServiceResponse", "{\"serviceInfo\":" + std::string(64, '[') + "}"),
      Msg("QueryServiceResponse", std::string(kMaxListAnswerBytes + 1, ' ')),
  };
  for (const GrpcMessage& answer : garbage) {
    std::optional<Result<std::string>> got;
    proxy_->QueryService("DEFAULT_GROUP@@demo", "", false, [&](Result<std::string> r) { got = r; });
    ASSERT_TRUE(connector_.Answer(log, "ServiceQueryRequest", answer));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status().code(), StatusCode::kUnavailable) << answer.body.substr(0, 40);
  }
  EXPECT_EQ(proxy_->stats().malformed, garbage.size());
  // A late answer after the timeout changes nothing.
  int calls = 0;
  proxy_->QueryService("DEFAULT_GROUP@@demo", "", false, [&](Result<std::string> r) {
    ++calls;
    EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  });
  loop_.AdvanceBy(milliseconds(3000));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(connector_.Answer(log, "ServiceQueryRequest", Msg("QueryServiceResponse", "{}")));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(proxy_->ready());
  EXPECT_EQ(connector_.logs.size(), 1u);  // No reconnect, no loop.
  EXPECT_EQ(loop_.pending(), 1u);         // Only the health check is scheduled.
}

TEST_F(NamingGrpcProxyTest, AuthRefusalCallsTheHook) {
  connector_.scripts["10.0.0.1:9848"].hold = {"InstanceRequest"};
  token_ = "expired";
  StartReady();
  std::optional<Status> done;
  proxy_->RegisterInstance("DEFAULT_GROUP@@demo", MakeInstance("10.0.0.5", 80),
                           [&](Status s) { done = s; });
  connector_.Answer(connector_.last(), "InstanceRequest",
                    Msg("InstanceResponse",
                        "{\"resultCode\":500,\"errorCode\":403,\"message\":"
                        "\"token expired!\",\"success\":false}"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_refused_, 1);
  EXPECT_TRUE(proxy_->instance_records().empty());  // Refused: restored to nothing.
}

// ---- Stop --------------------------------------------------------------------------------------

TEST_F(NamingGrpcProxyTest, StopCancelsEverythingAndNoHookRunsAfter) {
  connector_.scripts["10.0.0.1:9848"].hold = {"ServiceQueryRequest"};
  StartReady();
  ChannelLog& log = connector_.last();
  std::optional<Result<std::string>> query;
  proxy_->QueryService("DEFAULT_GROUP@@demo", "", false, [&](Result<std::string> r) { query = r; });
  proxy_->Stop();
  EXPECT_FALSE(query);  // Never from inside Stop().
  loop_.RunDue();
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(log.closed);
  EXPECT_FALSE(proxy_->ready());
  // Later calls fail with kCancelled; nothing is scheduled, no hook runs.
  std::optional<Status> registered;
  proxy_->RegisterInstance("DEFAULT_GROUP@@demo", MakeInstance("10.0.0.5", 80),
                           [&](Status s) { registered = s; });
  loop_.RunDue();
  ASSERT_TRUE(registered);
  EXPECT_EQ(registered->code(), StatusCode::kCancelled);
  EXPECT_EQ(loop_.pending(), 0u);
  loop_.AdvanceBy(seconds(60));
  EXPECT_EQ(connector_.logs.size(), 1u);
  EXPECT_EQ(states_, std::vector<bool>{true});
  proxy_->Stop();  // Idempotent.
  proxy_.reset();
}

TEST_F(NamingGrpcProxyTest, DestroyingTheProxyWithCallsInFlightIsSafe) {
  connector_.scripts["10.0.0.1:9848"].hold = {"ServiceQueryRequest"};
  StartReady();
  std::optional<Result<std::string>> query;
  proxy_->QueryService("DEFAULT_GROUP@@demo", "", false, [&](Result<std::string> r) { query = r; });
  proxy_.reset();
  loop_.AdvanceBy(seconds(10));
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace dubbo::registry::nacos
