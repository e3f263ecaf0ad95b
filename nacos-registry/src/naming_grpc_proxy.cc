// NamingGrpcProxy: see naming_grpc_proxy.h. Everything runs on the loop; a connection attempt is
// numbered (gen), and an answer or timer of an older attempt only resolves the user call it
// carries, never the state of the current connection.
#include "naming_grpc_proxy.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <utility>

#include "internal/logging.h"
#include "naming_grpc_json.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;

// How long a server that promised a SetupAckRequest has to send it (Java's wait).
constexpr Duration kSetupAckTimeout = std::chrono::seconds(5);
// Between HealthCheckRequests that prove a setup without negotiation.
constexpr Duration kProofRetry = milliseconds(100);
// Java's reconnect backoff: min(rounds + 1, 50) steps of 100 ms.
constexpr Duration kBackoffStep = milliseconds(100);
constexpr int64_t kMaxBackoffSteps = 50;
// The shortest health-check interval honoured (a smaller option would make the check spin).
constexpr int64_t kMinHealthCheckIntervalMs = 100;

Duration Ms(int64_t ms) { return milliseconds(std::max<int64_t>(ms, 1)); }

}  // namespace

struct NamingGrpcProxy::State {
  enum class Phase { kIdle, kConnecting, kSettingUp, kRedo, kReady, kStopped };

  // A user call waiting for a ready connection.
  struct Waiter {
    enum class Kind { kSubscribe, kRequest } kind;
    std::string service;                               // kSubscribe.
    TaskId timer = kInvalidTaskId;                     // request_timeout_ms.
    std::function<void(Result<std::string>)> resolve;  // kSubscribe.
    std::function<void()> send;                        // kRequest.
  };

  State(NamingGrpcProxy* owner, const NacosOptions& opts, std::string ip, GrpcConnector* conn,
        Scheduler* scheduler, Hooks callbacks, uint64_t seed)
      : self(owner),
        options(opts),
        client_ip(std::move(ip)),
        connector(conn),
        loop(scheduler),
        hooks(std::move(callbacks)),
        rng(seed) {
    for (const std::string& entry : options.server_addresses) {
      ServerEndpoint endpoint;
      if (SplitServerAddress(entry, &endpoint)) {
        servers.push_back(std::move(endpoint));
      } else {
        DUBBO_LOG(WARNING) << "nacos: gRPC ignores server address '" << entry << "'";
      }
    }
  }

  NamingGrpcProxy* const self;
  const NacosOptions options;
  const std::string client_ip;
  GrpcConnector* const connector;
  Scheduler* const loop;
  const Hooks hooks;
  std::mt19937_64 rng;
  // Callbacks hold a weak reference: once the proxy is gone they do nothing.
  std::shared_ptr<int> life = std::make_shared<int>(0);

  std::vector<ServerEndpoint> servers;
  size_t server_index = 0;  // The server of the next attempt.
  Phase phase = Phase::kIdle;
  bool started = false;
  std::unique_ptr<GrpcChannel> channel;
  std::optional<Status> early_close;  // OnChannelClosed from inside Connect().
  uint64_t gen = 0;                   // Incremented by every attempt and every close.
  std::string current_server;
  bool supports_persistent = false;
  bool negotiation = false;
  TaskId connect_timer = kInvalidTaskId;
  TimePoint connect_due{};
  TaskId setup_timer = kInvalidTaskId;
  TaskId health_timer = kInvalidTaskId;
  TimePoint proof_deadline{};
  TimePoint last_activity{};
  uint64_t failures_in_row = 0;
  Duration round_pause = Duration::zero();  // SetRoundPause().
  size_t redo_outstanding = 0;

  std::set<std::string> subscriptions;

  // The sending of one instance record. One request per service is in flight at a time (the
  // server may run concurrent requests in any order); changes made meanwhile go in the next one.
  struct RecordSync {
    uint64_t version = 0;       // Bumped by every change of the record.
    bool in_flight = false;     // On the current connection.
    bool dirty = false;         // Changed since the request in flight was built.
    std::vector<uint64_t> ids;  // Calls whose change is in no request sent yet.
    // What the server accepted last (restored when it refuses a change), and the instance of
    // the last deregistration (named by the request that removes the whole record).
    std::optional<std::map<std::string, Instance>> confirmed;
    Instance last_removed;
  };
  std::map<std::string, RecordSync> records;

  // Unresolved user calls (RegisterInstance's done, or a wrapper that fails the others), with the
  // timer that fails them while they wait for a connection. Resolved once, by whoever erases them.
  struct TrackedCall {
    std::function<void(const Status&)> done;
    TaskId timer = kInvalidTaskId;
  };
  std::map<uint64_t, TrackedCall> calls;
  uint64_t next_call = 1;
  std::map<uint64_t, Waiter> waiting;  // By call id: in call order.

  GrpcProxyStats& stats() { return self->stats_; }
  std::map<std::string, std::map<std::string, Instance>>& instances() { return self->instances_; }
  TimePoint Now() { return loop->clock()->Now(); }
  bool Connected() const { return phase == Phase::kRedo || phase == Phase::kReady; }

  TaskId After(Duration delay, std::function<void()> task) {
    return loop->ScheduleAfter(delay, [weak = std::weak_ptr<int>(life), task = std::move(task)] {
      if (!weak.expired()) task();
    });
  }
  void CancelTimer(TaskId* id) {
    if (*id != kInvalidTaskId) loop->Cancel(*id);
    *id = kInvalidTaskId;
  }
  // Runs `fn` on the loop later, whether or not the proxy still exists.
  void Post(std::function<void()> fn) { loop->ScheduleAfter(Duration::zero(), std::move(fn)); }

  // ---- User calls -------------------------------------------------------------------------------

  uint64_t Track(std::function<void(const Status&)> done) {
    const uint64_t id = next_call++;
    calls.emplace(id, TrackedCall{std::move(done), kInvalidTaskId});
    return id;
  }
  // True (and forgotten) when call `id` is still to be resolved by the caller.
  bool Resolve(uint64_t id) {
    auto it = calls.find(id);
    if (it == calls.end()) return false;
    CancelTimer(&it->second.timer);
    calls.erase(it);
    return true;
  }
  // Resolves call `id` with its own done.
  void Complete(uint64_t id, const Status& status) {
    auto it = calls.find(id);
    if (it == calls.end()) return;
    std::function<void(const Status&)> done = std::move(it->second.done);
    Resolve(id);
    done(status);
  }
  std::string NotReadyText() const {
    return "no gRPC connection ready within " + std::to_string(options.request_timeout_ms) + " ms";
  }
  // Fails call `id` after request_timeout_ms unless it is resolved first.
  void StartCallTimer(uint64_t id) {
    auto it = calls.find(id);
    if (it == calls.end() || it->second.timer != kInvalidTaskId) return;
    it->second.timer = After(Ms(options.request_timeout_ms), [this, id] {
      auto call = calls.find(id);
      if (call != calls.end()) call->second.timer = kInvalidTaskId;
      Complete(id, UnavailableError(NotReadyText()));
    });
  }

  void Wait(uint64_t id, Waiter waiter) {
    waiter.timer = After(Ms(options.request_timeout_ms), [this, id] {
      waiting.erase(id);
      Complete(id, UnavailableError(NotReadyText()));
    });
    waiting.emplace(id, std::move(waiter));
  }
  // The waiters of `kind` for `service`, taken out of `waiting` with their timers cancelled.
  std::vector<std::pair<uint64_t, Waiter>> TakeWaiters(Waiter::Kind kind,
                                                       const std::string& service) {
    std::vector<std::pair<uint64_t, Waiter>> taken;
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (it->second.kind == kind && it->second.service == service) {
        CancelTimer(&it->second.timer);
        taken.emplace_back(it->first, std::move(it->second));
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
    return taken;
  }
  void ResolveWaiters(std::vector<std::pair<uint64_t, Waiter>>& waiters,
                      const Result<std::string>& result) {
    for (auto& [id, waiter] : waiters) {
      if (Resolve(id)) waiter.resolve(result);
    }
  }

  // ---- Requests ---------------------------------------------------------------------------------

  // One unary call on the current channel. Any answer counts as activity of its connection.
  void Unary(GrpcMessage request, Duration timeout, std::function<void(Result<GrpcMessage>)> done) {
    if (!channel) {
      After(Duration::zero(),
            [done = std::move(done)] { done(UnavailableError("no gRPC connection")); });
      return;
    }
    channel->Unary(std::move(request), timeout,
                   [this, weak = std::weak_ptr<int>(life), g = gen,
                    done = std::move(done)](Result<GrpcMessage> answer) {
                     if (weak.expired()) return;
                     if (g == gen && answer.ok()) last_activity = Now();
                     // Close() for a reconnect is not a cancellation the caller asked for.
                     if (!answer.ok() && answer.status().code() == StatusCode::kCancelled &&
                         phase != Phase::kStopped) {
                       answer = UnavailableError("the gRPC connection was closed");
                     }
                     done(std::move(answer));
                   });
  }

  // A naming request: headers app and accessToken, the answer read by `read`. `done` gets the
  // result, what the server's refusal said, and whether the request got no answer at all.
  template <typename T>
  void NamingCall(GrpcMessage request,
                  std::function<Result<T>(const GrpcMessage&, AnswerFailure*)> read,
                  std::function<void(Result<T>, const AnswerFailure&, bool no_answer)> done) {
    request.client_ip = client_ip;
    request.headers["app"] = options.app_name;
    if (hooks.access_token) {
      std::string token = hooks.access_token();
      if (!token.empty()) request.headers["accessToken"] = std::move(token);
    }
    ++stats().requests;
    const std::string type = request.type;
    Unary(std::move(request), Ms(options.request_timeout_ms),
          [this, g = gen, type, read = std::move(read),
           done = std::move(done)](Result<GrpcMessage> answer) {
            AnswerFailure failure;
            Result<T> result = answer.ok() ? read(*answer, &failure) : Result<T>(answer.status());
            const Status status = result.status();
            done(std::move(result), failure, !answer.ok());
            Judge(g, type, status, failure);
          });
  }

  // Counts a naming request's failure and reacts to it: 403 calls on_auth_refused, 301 (the server
  // lost the connection) ends the connection.
  void Judge(uint64_t g, const std::string& type, const Status& status,
             const AnswerFailure& failure) {
    if (status.ok()) return;
    ++stats().request_failures;
    if (failure.malformed) ++stats().malformed;
    DUBBO_LOG(DEBUG) << "nacos: gRPC " << type << " failed: " << status;
    if (phase == Phase::kStopped) return;
    if (failure.error_code == kGrpcErrorNoRight && hooks.on_auth_refused) hooks.on_auth_refused();
    if (failure.error_code == kGrpcErrorUnregistered && g == gen && Connected()) {
      EndConnection(status, /*attempt_failed=*/true, std::nullopt);
    }
  }

  // Sends the record of `service` as it is now, unless a request for it is in flight (then it
  // goes when that one is answered). One instance: InstanceRequest; several, or the rest of a
  // batch: BatchInstanceRequest; none: the deregistration. `redo` marks the first request of a
  // connection, which ends the attempt when it gets no answer.
  void Flush(const std::string& service, bool redo = false) {
    RecordSync& sync = records[service];
    if (!Connected()) return;
    if (sync.in_flight) {
      sync.dirty = true;
      return;
    }
    auto found = instances().find(service);
    std::map<std::string, Instance> snapshot;
    if (found != instances().end()) snapshot = found->second;
    GrpcMessage request;
    std::string expected = "InstanceResponse";
    const bool was_batch = sync.confirmed && sync.confirmed->size() > 1;
    if (snapshot.empty()) {
      request =
          BuildInstanceRequest(options.namespace_id, service, sync.last_removed, false, false);
    } else if (snapshot.size() == 1 && !was_batch) {
      request = BuildInstanceRequest(options.namespace_id, service, snapshot.begin()->second, true,
                                     false);
    } else {
      request = BuildBatchInstanceRequest(options.namespace_id, service, Values(snapshot));
      expected = "BatchInstanceResponse";
    }
    sync.in_flight = true;
    sync.dirty = false;
    std::vector<uint64_t> ids = std::move(sync.ids);
    sync.ids.clear();
    NamingCall<bool>(
        std::move(request),
        [expected](const GrpcMessage& answer, AnswerFailure* failure) -> Result<bool> {
          Result<JsonAnswer> read = ReadGrpcAnswer(answer, expected, kMaxSmallAnswerBytes, failure);
          if (!read.ok()) return read.status();
          return true;
        },
        [this, g = gen, service, snapshot = std::move(snapshot), version = sync.version,
         ids = std::move(ids),
         redo](Result<bool> result, const AnswerFailure& failure, bool no_answer) mutable {
          RecordAnswered(g, service, std::move(snapshot), version, std::move(ids), redo,
                         result.status(), failure, no_answer);
        });
  }

  void RecordAnswered(uint64_t g, const std::string& service,
                      std::map<std::string, Instance> snapshot, uint64_t version,
                      std::vector<uint64_t> ids, bool redo, const Status& status,
                      const AnswerFailure& failure, bool no_answer) {
    RecordSync& sync = records[service];
    const bool current = g == gen && phase != Phase::kStopped;
    if (current) sync.in_flight = false;
    const bool refused = failure.error_code != 0 && failure.error_code != kGrpcErrorUnregistered;
    if (status.ok()) {
      if (current) sync.confirmed = std::move(snapshot);  // An older connection's is gone.
    } else if (refused && !redo && sync.version == version) {
      // The server refused this change: the record goes back to what it accepted last.
      if (sync.confirmed && !sync.confirmed->empty()) {
        instances()[service] = *sync.confirmed;
      } else {
        instances().erase(service);
      }
    }
    for (uint64_t id : ids) Complete(id, status);
    if (!current) return;
    if (redo) RedoAnswered(g, status, failure, no_answer);
    if (g == gen && Connected() && !sync.in_flight && (sync.dirty || !sync.ids.empty())) {
      Flush(service);
    }
  }

  void SendSubscribe(const std::string& service, bool subscribe,
                     std::function<void(Result<std::string>, const AnswerFailure&, bool)> done) {
    NamingCall<std::string>(
        BuildSubscribeServiceRequest(options.namespace_id, service, subscribe),
        [](const GrpcMessage& answer, AnswerFailure* failure) {
          return ReadServiceInfoAnswer(answer, "SubscribeServiceResponse", failure);
        },
        std::move(done));
  }

  static std::vector<Instance> Values(const std::map<std::string, Instance>& record) {
    std::vector<Instance> list;
    list.reserve(record.size());
    for (const auto& [address, instance] : record) list.push_back(instance);
    return list;
  }

  // ---- Connection -------------------------------------------------------------------------------

  void ScheduleAttempt(Duration delay) {
    CancelTimer(&connect_timer);
    connect_due = Now() + delay;
    connect_timer = After(delay, [this] {
      connect_timer = kInvalidTaskId;
      Attempt();
    });
  }

  void Attempt() {
    if (phase == Phase::kStopped) return;
    ++gen;
    phase = Phase::kConnecting;
    if (servers.empty()) {
      phase = Phase::kIdle;
      if (hooks.on_round_failed) hooks.on_round_failed(InvalidArgumentError("no gRPC server"));
      return;
    }
    const ServerEndpoint& server = servers[server_index % servers.size()];
    const bool v6 = server.host.find(':') != std::string::npos;
    current_server =
        (v6 ? "[" + server.host + "]" : server.host) + ":" + std::to_string(server.port);
    const int64_t grpc_port = int64_t{server.port} + options.grpc_port_offset;
    if (grpc_port < 1 || grpc_port > 65535) {
      EndConnection(InvalidArgumentError(current_server + ": gRPC port " +
                                         std::to_string(grpc_port) + " is not in [1, 65535]"),
                    true, std::nullopt);
      return;
    }
    early_close.reset();
    channel = connector->Connect(server.host, static_cast<int>(grpc_port),
                                 Ms(options.connect_timeout_ms), self);
    if (!channel || early_close) {
      EndConnection(early_close.value_or(UnavailableError("no channel")), true, std::nullopt);
      return;
    }
    GrpcMessage check = BuildServerCheckRequest();
    check.client_ip = client_ip;
    Unary(std::move(check), Ms(options.connect_timeout_ms),
          [this, g = gen](Result<GrpcMessage> answer) {
            if (g != gen || phase != Phase::kConnecting) return;
            if (!answer.ok()) return EndConnection(answer.status(), true, std::nullopt);
            AnswerFailure failure;
            Result<ServerCheckInfo> info = ReadServerCheckResponse(*answer, &failure);
            if (!info.ok()) {
              if (failure.malformed) ++stats().malformed;
              return EndConnection(info.status(), true, std::nullopt);
            }
            StartSetup(*info);
          });
  }

  void StartSetup(const ServerCheckInfo& info) {
    phase = Phase::kSettingUp;
    negotiation = info.support_ability_negotiation;
    supports_persistent = false;
    DUBBO_LOG(DEBUG) << "nacos: gRPC " << current_server << " connection " << info.connection_id;
    GrpcMessage setup =
        BuildConnectionSetupRequest(kGrpcClientVersion, options.app_name, options.namespace_id);
    setup.client_ip = client_ip;
    const Status sent = channel->SendOnStream(std::move(setup));
    if (!sent.ok()) return EndConnection(sent, true, std::nullopt);
    if (negotiation) {
      setup_timer = After(kSetupAckTimeout, [this, g = gen] {
        setup_timer = kInvalidTaskId;
        if (g == gen && phase == Phase::kSettingUp) {
          EndConnection(DeadlineExceededError(current_server + ": no SetupAckRequest within 5 s"),
                        true, std::nullopt);
        }
      });
    } else {
      proof_deadline = Now() + Ms(options.connect_timeout_ms);
      Prove();
    }
  }

  // Without negotiation, a HealthCheckRequest that succeeds proves the setup was registered.
  void Prove() {
    ++stats().health_checks;
    GrpcMessage check = BuildHealthCheckRequest();
    check.client_ip = client_ip;
    const Duration left = std::max<Duration>(proof_deadline - Now(), milliseconds(1));
    Unary(std::move(check), left, [this, g = gen](Result<GrpcMessage> answer) {
      if (g != gen || phase != Phase::kSettingUp) return;
      AnswerFailure failure;
      Status status = answer.ok() ? ReadGrpcAnswer(*answer, "HealthCheckResponse",
                                                   kMaxSmallAnswerBytes, &failure)
                                        .status()
                                  : answer.status();
      if (status.ok()) return BeginRedo();
      if (failure.malformed) ++stats().malformed;
      if (Now() + kProofRetry <= proof_deadline) {
        setup_timer = After(kProofRetry, [this, g] {
          setup_timer = kInvalidTaskId;
          if (g == gen && phase == Phase::kSettingUp) Prove();
        });
        return;
      }
      ++stats().health_check_failures;
      EndConnection(status.WithPrefix(current_server + ": setup not confirmed"), true,
                    std::nullopt);
    });
  }

  void BeginRedo() {
    CancelTimer(&setup_timer);
    phase = Phase::kRedo;
    const uint64_t g = gen;
    redo_outstanding = 1;  // Held until every record is sent.
    for (auto& [service, sync] : records) {
      sync.in_flight = false;
      sync.dirty = false;
    }
    for (const auto& [service, record] : instances()) {
      if (record.empty()) continue;
      ++redo_outstanding;
      ++stats().redone_instances;
      Flush(service, /*redo=*/true);
    }
    for (const std::string& service : subscriptions) {
      auto waiters = std::make_shared<std::vector<std::pair<uint64_t, Waiter>>>(
          TakeWaiters(Waiter::Kind::kSubscribe, service));
      ++redo_outstanding;
      ++stats().redone_subscriptions;
      SendSubscribe(
          service, true,
          [this, g, waiters](Result<std::string> info, const AnswerFailure& failure,
                             bool no_answer) {
            ResolveWaiters(*waiters, info);
            if (info.ok() && g == gen && phase != Phase::kStopped && hooks.on_service_info) {
              hooks.on_service_info(*info);
            }
            RedoAnswered(g, info.status(), failure, no_answer);
          });
    }
    RedoAnswered(g, Status::Ok(), AnswerFailure{}, false);
  }

  // One redo request ended. A request the server refused (a bad record) does not keep the
  // connection from becoming ready; one without an answer, or a 301, ends the attempt.
  void RedoAnswered(uint64_t g, const Status& status, const AnswerFailure& failure,
                    bool no_answer) {
    if (g != gen || phase != Phase::kRedo) return;
    if (!status.ok() && (no_answer || failure.error_code == kGrpcErrorUnregistered)) {
      return EndConnection(status.WithPrefix(current_server + ": redo"), true, std::nullopt);
    }
    if (--redo_outstanding == 0) BecomeReady();
  }

  void BecomeReady() {
    phase = Phase::kReady;
    failures_in_row = 0;
    ++stats().connects;
    last_activity = Now();
    ScheduleHealthCheck();
    DUBBO_LOG(INFO) << "nacos: gRPC connection to " << current_server << " ready";
    const uint64_t g = gen;
    if (hooks.on_state) hooks.on_state(true);
    if (g != gen || phase != Phase::kReady) return;
    std::map<uint64_t, Waiter> ready = std::move(waiting);
    waiting.clear();
    for (auto& [id, waiter] : ready) {
      CancelTimer(&waiter.timer);
      if (waiter.kind == Waiter::Kind::kRequest) {
        waiter.send();
      } else if (Resolve(id)) {
        waiter.resolve(CancelledError("unsubscribed"));  // Its subscription went away.
      }
      if (g != gen || phase != Phase::kReady) break;
    }
  }

  Duration HealthInterval() const {
    return Ms(std::max(options.grpc_health_check_interval_ms, kMinHealthCheckIntervalMs));
  }

  void ScheduleHealthCheck() {
    CancelTimer(&health_timer);
    const Duration delay =
        std::max<Duration>(last_activity + HealthInterval() - Now(), Duration::zero());
    health_timer = After(delay, [this] {
      health_timer = kInvalidTaskId;
      CheckHealth();
    });
  }

  void CheckHealth() {
    if (phase != Phase::kReady) return;
    if (Now() - last_activity < HealthInterval()) return ScheduleHealthCheck();
    ++stats().health_checks;
    GrpcMessage check = BuildHealthCheckRequest();
    check.client_ip = client_ip;
    Unary(std::move(check), Ms(options.connect_timeout_ms),
          [this, g = gen](Result<GrpcMessage> answer) {
            if (g != gen || phase != Phase::kReady) return;
            AnswerFailure failure;
            const Status status = answer.ok() ? ReadGrpcAnswer(*answer, "HealthCheckResponse",
                                                               kMaxSmallAnswerBytes, &failure)
                                                    .status()
                                              : answer.status();
            if (status.ok()) return ScheduleHealthCheck();
            ++stats().health_check_failures;
            if (failure.malformed) ++stats().malformed;
            EndConnection(status.WithPrefix(current_server + ": health check"), true, std::nullopt);
          });
  }

  void Close() {
    ++gen;
    CancelTimer(&setup_timer);
    CancelTimer(&health_timer);
    std::unique_ptr<GrpcChannel> closing = std::move(channel);
    if (closing) closing->Close();
  }

  // Ends the current connection or attempt and schedules the next attempt: at `next` (a
  // ConnectReset's target) or the next server, after the backoff when an attempt failed.
  void EndConnection(const Status& why, bool attempt_failed, std::optional<size_t> next) {
    if (phase == Phase::kStopped) return;
    const bool was_ready = phase == Phase::kReady;
    Close();
    phase = Phase::kIdle;
    for (auto& [service, sync] : records) {
      sync.in_flight = false;
      sync.dirty = false;
      sync.confirmed.reset();  // The server forgets a connection's records with it.
      for (uint64_t id : sync.ids) StartCallTimer(id);
    }
    server_index = next ? *next : (server_index + 1) % std::max<size_t>(servers.size(), 1);
    Duration delay = Duration::zero();
    bool round_failed = false;
    if (was_ready) {
      ++stats().disconnects;
      DUBBO_LOG(WARNING) << "nacos: gRPC connection to " << current_server << " lost: " << why;
    } else if (attempt_failed) {
      ++stats().connect_failures;
      ++failures_in_row;
      const int64_t rounds = static_cast<int64_t>((failures_in_row - 1) / servers.size());
      delay = kBackoffStep * std::min(rounds + 1, kMaxBackoffSteps);
      round_failed = failures_in_row % servers.size() == 0;
      if (round_failed && round_pause > Duration::zero()) delay = round_pause;
      DUBBO_LOG(DEBUG) << "nacos: gRPC attempt on " << current_server << " failed: " << why;
    }
    ScheduleAttempt(delay);
    if (was_ready && hooks.on_state) hooks.on_state(false);
    if (round_failed && phase != Phase::kStopped) {
      // Logged after rounds 1, 2, 4, 8, ... of an outage.
      const uint64_t rounds = failures_in_row / servers.size();
      if ((rounds & (rounds - 1)) == 0) {
        DUBBO_LOG(WARNING) << "nacos: no gRPC server became ready in " << rounds
                           << " round(s) over " << servers.size() << " server(s); last: " << why;
      }
      if (hooks.on_round_failed) hooks.on_round_failed(why);
    }
  }

  // ---- Stream -----------------------------------------------------------------------------------

  void Answer(const std::string& type, const std::string& request_id, int result_code = 200,
              std::string_view message = {}) {
    if (!channel) return;
    // A failure here is the channel's: it reports it through OnChannelClosed.
    channel->SendOnStream(BuildStreamResponse(type, request_id, result_code, message))
        .IgnoreError();
  }

  void OnStreamMessage(GrpcMessage message) {
    if (phase == Phase::kStopped || !channel) return;
    last_activity = Now();
    const uint64_t g = gen;
    if (message.type == "SetupAckRequest") {
      if (phase != Phase::kSettingUp || !negotiation) return;
      Result<bool> persistent = ReadSetupAck(message);
      if (!persistent.ok()) ++stats().malformed;
      supports_persistent = persistent.ok() && *persistent;
      BeginRedo();
    } else if (message.type == "ClientDetectionRequest") {
      Result<std::string> id = ReadServerRequestId(message);
      if (!id.ok()) {
        ++stats().malformed;
        return;
      }
      ++stats().detections;
      Answer("ClientDetectionResponse", *id);
    } else if (message.type == "ConnectResetRequest") {
      Result<ConnectResetInfo> reset = ReadConnectReset(message);
      if (!reset.ok()) {
        ++stats().malformed;
        return;
      }
      Answer("ConnectResetResponse", reset->request_id);
      ++stats().resets;
      std::optional<size_t> target;
      for (size_t i = 0; i < servers.size() && !reset->server_ip.empty(); ++i) {
        if (servers[i].host == reset->server_ip) target = i;
      }
      DUBBO_LOG(INFO) << "nacos: gRPC server " << current_server << " asked to reconnect"
                      << (target ? " to " + reset->server_ip : std::string());
      EndConnection(UnavailableError("ConnectResetRequest"), false, target);
    } else if (message.type == "NotifySubscriberRequest") {
      std::string request_id;
      Result<NotifySubscriberInfo> push = ReadNotifySubscriber(message, &request_id);
      if (!push.ok()) {
        ++stats().malformed;
        DUBBO_LOG(DEBUG) << "nacos: gRPC push dropped: " << push.status();
        return Answer("NotifySubscriberResponse", request_id, 500, "malformed push");
      }
      if (hooks.on_service_info) hooks.on_service_info(std::move(push->service_info_json));
      if (g != gen || phase == Phase::kStopped) return;
      ++stats().pushes;
      Answer("NotifySubscriberResponse", push->request_id);
    } else {
      DUBBO_LOG(DEBUG) << "nacos: gRPC stream message of unknown type ignored";
    }
  }

  void OnChannelClosed(const Status& why) {
    if (phase == Phase::kStopped) return;
    if (!channel) {
      if (phase == Phase::kConnecting) early_close = why;
      return;
    }
    channel.reset();  // Already closed by its side.
    EndConnection(why, true, std::nullopt);
  }

  void Stop() {
    if (phase == Phase::kStopped) return;
    Close();
    phase = Phase::kStopped;
    CancelTimer(&connect_timer);
    for (auto& [id, waiter] : waiting) CancelTimer(&waiter.timer);
    waiting.clear();
    std::map<uint64_t, TrackedCall> cancelled = std::move(calls);
    calls.clear();
    for (auto& [id, call] : cancelled) {
      CancelTimer(&call.timer);
      Post([done = std::move(call.done)] { done(CancelledError("the naming client stopped")); });
    }
  }
};

NamingGrpcProxy::NamingGrpcProxy(const NacosOptions& options, std::string client_ip,
                                 GrpcConnector* connector, Scheduler* loop, Hooks hooks,
                                 uint64_t seed)
    : state_(std::make_unique<State>(this, options, std::move(client_ip), connector, loop,
                                     std::move(hooks), seed)) {}

NamingGrpcProxy::~NamingGrpcProxy() { Stop(); }

void NamingGrpcProxy::Start() {
  State& s = *state_;
  if (s.started || s.phase == State::Phase::kStopped) return;
  s.started = true;
  if (!s.servers.empty()) {
    s.server_index = std::uniform_int_distribution<size_t>(0, s.servers.size() - 1)(s.rng);
  }
  s.ScheduleAttempt(Duration::zero());
}

void NamingGrpcProxy::Stop() { state_->Stop(); }

bool NamingGrpcProxy::ready() const { return state_->phase == State::Phase::kReady; }

std::string NamingGrpcProxy::current_server() const { return state_->current_server; }

bool NamingGrpcProxy::supports_persistent() const { return state_->supports_persistent; }

void NamingGrpcProxy::SetRoundPause(Duration pause) {
  State& s = *state_;
  s.round_pause = pause;
  // The attempt already scheduled after a failed round waits the pause too.
  const bool after_round =
      s.failures_in_row > 0 && !s.servers.empty() && s.failures_in_row % s.servers.size() == 0;
  if (pause > Duration::zero() && s.connect_timer != kInvalidTaskId && after_round) {
    s.ScheduleAttempt(pause);
  }
}

void NamingGrpcProxy::RegisterInstance(const std::string& grouped, const Instance& instance,
                                       std::function<void(Status)> done) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped) {
    return s.Post([done] { done(CancelledError("the naming client stopped")); });
  }
  instances_[grouped][instance.Address()] = instance;
  State::RecordSync& sync = s.records[grouped];
  ++sync.version;
  const uint64_t id = s.Track([done](const Status& status) { done(status); });
  sync.ids.push_back(id);
  if (!s.Connected()) return s.StartCallTimer(id);
  s.Flush(grouped);
}

void NamingGrpcProxy::DeregisterInstance(const std::string& grouped, const std::string& ip,
                                         int port, std::function<void(Status)> done) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped) {
    return s.Post([done] { done(CancelledError("the naming client stopped")); });
  }
  const std::string address = ip + ":" + std::to_string(port);
  auto found = instances_.find(grouped);
  if (found == instances_.end() || found->second.count(address) == 0) {
    return s.Post([done] { done(Status::Ok()); });
  }
  State::RecordSync& sync = s.records[grouped];
  ++sync.version;
  sync.last_removed = found->second[address];
  found->second.erase(address);
  const bool emptied = found->second.empty();
  if (emptied) instances_.erase(found);
  if (!s.Connected()) {
    // The lost connection took the server's record with it. Registrations still waiting for an
    // emptied record are superseded by its removal.
    if (emptied) {
      for (uint64_t waiting : sync.ids) {
        auto call = s.calls.find(waiting);
        if (call == s.calls.end()) continue;
        std::function<void(const Status&)> superseded = std::move(call->second.done);
        s.Resolve(waiting);
        s.Post([superseded] { superseded(Status::Ok()); });
      }
      sync.ids.clear();
    }
    return s.Post([done] { done(Status::Ok()); });
  }
  const uint64_t id = s.Track([done](const Status& status) { done(status); });
  sync.ids.push_back(id);
  s.Flush(grouped);
}

void NamingGrpcProxy::PersistentInstance(const std::string& grouped, const Instance& instance,
                                         bool do_register, std::function<void(Status)> done) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped) {
    return s.Post([done] { done(CancelledError("the naming client stopped")); });
  }
  if (!s.supports_persistent) {
    return s.Post([done] {
      done(FailedPreconditionError("the gRPC server does not take persistent instances"));
    });
  }
  const uint64_t id = s.Track([done](const Status& why) { done(why); });
  auto send = [&s, grouped, instance, do_register, id, done] {
    s.NamingCall<bool>(
        BuildInstanceRequest(s.options.namespace_id, grouped, instance, do_register, true),
        [](const GrpcMessage& answer, AnswerFailure* failure) -> Result<bool> {
          Result<JsonAnswer> read =
              ReadGrpcAnswer(answer, "InstanceResponse", kMaxSmallAnswerBytes, failure);
          if (!read.ok()) return read.status();
          return true;
        },
        [&s, id, done](Result<bool> result, const AnswerFailure&, bool) {
          if (s.Resolve(id)) done(result.status());
        });
  };
  if (s.Connected()) return send();
  s.Wait(id, State::Waiter{State::Waiter::Kind::kRequest, {}, kInvalidTaskId, {}, send});
}

void NamingGrpcProxy::Subscribe(const std::string& grouped,
                                std::function<void(Result<std::string>)> done) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped) {
    return s.Post([done] { done(CancelledError("the naming client stopped")); });
  }
  s.subscriptions.insert(grouped);
  const uint64_t id = s.Track([done](const Status& why) { done(why); });
  if (!s.Connected()) {
    return s.Wait(
        id, State::Waiter{State::Waiter::Kind::kSubscribe, grouped, kInvalidTaskId, done, {}});
  }
  s.SendSubscribe(grouped, true,
                  [&s, id, done](Result<std::string> info, const AnswerFailure&, bool) {
                    if (s.Resolve(id)) done(std::move(info));
                  });
}

void NamingGrpcProxy::Unsubscribe(const std::string& grouped) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped || s.subscriptions.erase(grouped) == 0) return;
  auto waiters = s.TakeWaiters(State::Waiter::Kind::kSubscribe, grouped);
  for (auto& [id, waiter] : waiters) {
    if (s.Resolve(id)) {
      s.Post([resolve = std::move(waiter.resolve)] { resolve(CancelledError("unsubscribed")); });
    }
  }
  if (!s.Connected()) return;
  s.SendSubscribe(grouped, false, [](Result<std::string>, const AnswerFailure&, bool) {});
}

void NamingGrpcProxy::QueryService(const std::string& grouped, const std::string& clusters,
                                   bool healthy_only,
                                   std::function<void(Result<std::string>)> done) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped) {
    return s.Post([done] { done(CancelledError("the naming client stopped")); });
  }
  const uint64_t id = s.Track([done](const Status& why) { done(why); });
  auto send = [&s, grouped, clusters, healthy_only, id, done] {
    s.NamingCall<std::string>(
        BuildServiceQueryRequest(s.options.namespace_id, grouped, clusters, healthy_only),
        [](const GrpcMessage& answer, AnswerFailure* failure) {
          return ReadServiceInfoAnswer(answer, "QueryServiceResponse", failure);
        },
        [&s, id, done](Result<std::string> info, const AnswerFailure&, bool) {
          if (s.Resolve(id)) done(std::move(info));
        });
  };
  if (s.Connected()) return send();
  s.Wait(id, State::Waiter{State::Waiter::Kind::kRequest, {}, kInvalidTaskId, {}, send});
}

void NamingGrpcProxy::ListServices(const std::string& group, int page_no, int page_size,
                                   std::function<void(Result<ServiceList>)> done) {
  State& s = *state_;
  if (s.phase == State::Phase::kStopped) {
    return s.Post([done] { done(CancelledError("the naming client stopped")); });
  }
  if (page_no < 1 || page_size < 1) {
    return s.Post([done] { done(InvalidArgumentError("pageNo and pageSize must be >= 1")); });
  }
  const uint64_t id = s.Track([done](const Status& why) { done(why); });
  auto send = [&s, group, page_no, page_size, id, done] {
    s.NamingCall<ServiceList>(
        BuildServiceListRequest(s.options.namespace_id, group, page_no, page_size),
        ReadServiceListResponse,
        [&s, id, done](Result<ServiceList> list, const AnswerFailure&, bool) {
          if (s.Resolve(id)) done(std::move(list));
        });
  };
  if (s.Connected()) return send();
  s.Wait(id, State::Waiter{State::Waiter::Kind::kRequest, {}, kInvalidTaskId, {}, send});
}

void NamingGrpcProxy::OnStreamMessage(GrpcMessage message) {
  state_->OnStreamMessage(std::move(message));
}

void NamingGrpcProxy::OnChannelClosed(Status why) { state_->OnChannelClosed(why); }

}  // namespace dubbo::registry::nacos
