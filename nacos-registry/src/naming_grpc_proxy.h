// Internal: NamingGrpcProxy, the naming client's Nacos 2.x/3.x gRPC side: one connection at a
// time to one server, its setup and health, the registrations and subscriptions it redoes on every
// new connection, the requests, and the server's pushes. No sockets and no protobuf: it talks to a
// GrpcChannel (grpc_channel.h), so its tests run on a fake channel and a ManualScheduler.
//
//   NamingGrpcProxy proxy(options, client_ip, &connector, &loop, hooks);
//   proxy.Start();                                   // Connects in the background.
//   proxy.RegisterInstance("DEFAULT_GROUP@@demo", me, [](Status s) { ... });
//   proxy.Subscribe("DEFAULT_GROUP@@demo", [](Result<std::string> info) { ... });
//
// Connection (a server = one of options.server_addresses, on its port + grpc_port_offset):
//   1. unary ServerCheckRequest (connect_timeout_ms); an answer that is not a ServerCheckResponse
//      abandons the server;
//   2. the bi-stream opens with ConnectionSetupRequest: clientVersion, labels {source: sdk,
//      module: naming, AppName: app_name}, tenant = namespace, abilityTable {};
//   3. when ServerCheckResponse said supportAbilityNegotiation, the SetupAckRequest is awaited
//      (5 s; none abandons the server) and its abilityTable read (supportPersistentInstanceByGrpc);
//      otherwise HealthCheckRequests (100 ms apart, within connect_timeout_ms) until one succeeds,
//      which proves the server registered the connection;
//   4. redo: every instance record and every subscription is sent again, in that order, all at
//      once; a subscription's answer goes to on_service_info like a push (and to a Subscribe
//      call waiting for it). A record the server refuses (400, say) is kept and its waiting
//      calls fail; a redo request without an answer, or answered 301, fails the attempt;
//   5. ready, once every redo request is answered: on_state(true). Requests waiting for
//      readiness go out.
// From the setup on (during the redo too) calls are sent at once; before it they wait.
// Servers are tried from a random start, round robin; after each failed attempt the next goes
// min(rounds + 1, 50) × 100 ms later (rounds = completed passes over the list; Java's rule), or,
// after an attempt that completes a failed round, the round pause when one is set
// (SetRoundPause). After a ready
// connection is lost the next server is tried at once.
//
// While ready: a HealthCheckRequest goes out after grpc_health_check_interval_ms without any
// answer on the connection; a failed one (any error, or an ErrorResponse) ends the connection. A
// 301 answer (the server no longer knows the connection) ends it too. The server's
// ClientDetectionRequest is answered at once; ConnectResetRequest is answered and the client
// moves to the server it names when that server's IP is in the list (else to the next one). A
// lost connection calls on_state(false), closes the channel and reconnects as above.
//
// Records (redo): ephemeral instances by grouped service, each a map ip:port -> Instance; the
// server keeps one record per service per connection, so one instance goes as InstanceRequest and
// several as one BatchInstanceRequest (a second single registration would replace the first);
// what remains of a batch after a deregistration goes as a batch too. One request per record is
// in flight at a time (the server may run concurrent requests in any order): changes made while
// it is go together in the next request, sent when it is answered.
// Subscriptions by grouped service; the proxy always subscribes with clusters "" and the caller
// filters. Persistent instances are never redone (the server keeps them).
//
// Every request carries Metadata.headers `app` and, when the access_token hook gives one,
// `accessToken`. An answer with errorCode 403 calls on_auth_refused once per refused request.
// Every answer and push is parsed under the caps of server_json.h; one that does not parse fails
// its request with kUnavailable (a push that does not parse is answered with resultCode 500 and
// dropped, counted in stats().malformed), never crashes, never loops. A refusal's Status code
// follows its errorCode (naming_grpc_json.h: 400 kInvalidArgument, 403 kPermissionDenied, 302
// kNotFound, 503 kResourceExhausted, others kUnavailable) and its message names the errorCode. A
// request that times out on a ready connection fails alone; the health check judges the
// connection.
//
// Thread-safety: none. Every method must be called on the loop (the Scheduler's thread); `done`
// callbacks and hooks run there, never from inside the method that was called. They may call any
// method, Stop() included, but must not destroy the proxy.
#ifndef DUBBO_NACOS_REGISTRY_SRC_NAMING_GRPC_PROXY_H_
#define DUBBO_NACOS_REGISTRY_SRC_NAMING_GRPC_PROXY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/scheduler.h"
#include "grpc_channel.h"

namespace dubbo::registry::nacos {

// What ConnectionSetupRequest sends as clientVersion.
inline constexpr std::string_view kGrpcClientVersion = "Nacos-Cpp-Client:v0.2.0";

struct GrpcProxyStats {
  uint64_t connects = 0;             // Connections that became ready,
  uint64_t connect_failures = 0;     //   attempts that did not.
  uint64_t disconnects = 0;          // Ready connections lost (health check, 301, close, reset).
  uint64_t health_checks = 0;        // HealthCheckRequests sent,
  uint64_t health_check_failures = 0;
  uint64_t requests = 0;             // Naming requests sent (redo included),
  uint64_t request_failures = 0;     //   failed (no answer, error answer).
  uint64_t redone_instances = 0;     // Instance records sent again after a reconnect.
  uint64_t redone_subscriptions = 0;
  uint64_t pushes = 0;               // NotifySubscriberRequests handed on and acked.
  uint64_t malformed = 0;            // Server messages or answers that did not parse.
  uint64_t detections = 0;           // ClientDetectionRequests answered.
  uint64_t resets = 0;               // ConnectResetRequests obeyed.
};

class NamingGrpcProxy final : private GrpcChannelEvents {
 public:
  struct Hooks {
    // Data of a subscribed service: a push's serviceInfo, or a (re)subscription's answer, as the
    // JSON object's text (ServiceInfo's 2.x shape: `name` ungrouped, `groupName`). A push is acked
    // after this returns, whatever it did with the data.
    std::function<void(std::string service_info_json)> on_service_info;
    // true: a connection is ready (setup done, every record redone); false: it was lost.
    std::function<void(bool ready)> on_state;
    // Every server was tried once in a row and none became ready (`why`: the last failure).
    std::function<void(const Status& why)> on_round_failed;
    // The access token to send ("" for none); read for each request.
    std::function<std::string()> access_token;
    // A request was refused with errorCode 403 (token expired, invalid or missing).
    std::function<void()> on_auth_refused;
  };

  // `connector` and `loop` must outlive the proxy. `client_ip` goes in Metadata.clientIp.
  NamingGrpcProxy(const NacosOptions& options, std::string client_ip, GrpcConnector* connector,
                  Scheduler* loop, Hooks hooks, uint64_t seed = std::random_device()());
  ~NamingGrpcProxy() override;

  NamingGrpcProxy(const NamingGrpcProxy&) = delete;
  NamingGrpcProxy& operator=(const NamingGrpcProxy&) = delete;

  // Starts connecting.
  void Start();
  // Closes the connection and cancels timers; pending and later calls fail with kCancelled; no
  // hook runs afterwards. Idempotent.
  void Stop();

  // True while a connection is ready (see the file comment).
  bool ready() const;
  // The server of the current or last connection ("host:port" of its main port; "" before any).
  std::string current_server() const;
  // True when the server of the current (or, while reconnecting, the last) connection announced
  // supportPersistentInstanceByGrpc in its SetupAck. Reset by each new setup.
  bool supports_persistent() const;
  // While non-zero, every round of failed attempts (each server tried once) is followed by this
  // pause instead of Java's backoff, the attempt already scheduled after a failed round included;
  // attempts within a round keep Java's delays. For a client that runs on HTTP meanwhile and
  // tries gRPC again every `pause`. Zero (the default): Java's rule alone.
  void SetRoundPause(Duration pause);

  // Adds (or replaces, by ip:port) an ephemeral instance in the record of `grouped` ("group@@name")
  // and sends the record. `done`: the server's answer. While not ready the call waits for
  // readiness up to request_timeout_ms and then fails with kUnavailable, and the record stays: it
  // is registered on the next connection, never lost. A refusal by the server (errorCode 400, say)
  // restores the record to what the server accepted last (unless it changed since) and fails
  // with its code.
  void RegisterInstance(const std::string& grouped, const Instance& instance,
                        std::function<void(Status)> done);
  // Removes ip:port from the record of `grouped` and sends the rest (deregisterInstance when none
  // is left). Before a setup, done(Ok) at once: the lost connection took its instances with it,
  // and the next connection will not register this one (a registration of the record still
  // waiting is done Ok too). Unknown ip:port: Ok.
  void DeregisterInstance(const std::string& grouped, const std::string& ip, int port,
                          std::function<void(Status)> done);
  // PersistentInstanceRequest (registerInstance, or deregisterInstance with !do_register); not a
  // record. kFailedPrecondition when !supports_persistent().
  void PersistentInstance(const std::string& grouped, const Instance& instance, bool do_register,
                          std::function<void(Status)> done);
  // The instances this proxy keeps registered, by grouped service (for stats and switching).
  const std::map<std::string, std::map<std::string, Instance>>& instance_records() const {
    return instances_;
  }

  // Subscribes to `grouped` (kept and redone) and answers with the service's data (the answer's
  // serviceInfo JSON text). Waits for readiness as RegisterInstance does; on failure the
  // subscription stays and is made on the next connection.
  void Subscribe(const std::string& grouped, std::function<void(Result<std::string>)> done);
  // Drops the subscription and tells the server (best effort).
  void Unsubscribe(const std::string& grouped);
  // ServiceQueryRequest: the serviceInfo JSON text of `grouped` in `clusters` (comma-separated).
  void QueryService(const std::string& grouped, const std::string& clusters, bool healthy_only,
                    std::function<void(Result<std::string>)> done);
  // ServiceListRequest: page `page_no` (from 1) of the group's service names.
  void ListServices(const std::string& group, int page_no, int page_size,
                    std::function<void(Result<ServiceList>)> done);

  const GrpcProxyStats& stats() const { return stats_; }

 private:
  // GrpcChannelEvents.
  void OnStreamMessage(GrpcMessage message) override;
  void OnChannelClosed(Status why) override;

  // The implementation defines the rest of the private members (connection state, waiting
  // requests, timers); instances_ is named here for instance_records().
  std::map<std::string, std::map<std::string, Instance>> instances_;
  GrpcProxyStats stats_;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_NAMING_GRPC_PROXY_H_
