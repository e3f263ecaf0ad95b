// Internal: GrpcNaming, the Nacos 2.x gRPC naming protocol as a server speaks it, minus the
// transport. It sees decoded Payloads (grpc_types.h) and answers them: the connection table
// (ServerCheck, ConnectionSetup, SetupAck, HealthCheck, the 301/302 refusals), the naming
// requests (InstanceRequest, BatchInstanceRequest, PersistentInstanceRequest, ServiceQuery,
// ServiceList, SubscribeService) on the shared InstanceStore, NotifySubscriberRequest pushes with
// acks and resends, client detection of idle connections, ejection, and ConnectReset on shutdown.
//
// Instances registered over a connection are owned by its Nacos connection id
// (InstanceStore::ReplaceOwned()): one set per service, replaced by every register or batch, and
// removed at once when the connection ends. Pushes follow the UDP push service's rule: an isolated
// change goes to every subscriber of the service in the same call; changes within `push_delay` of
// a push are merged into one push at the end of that window.
//
// Serialisation (thread-safety): NOT thread-safe, exactly like PushService (push_service.h). The
// owner serialises every call, with the mutex that guards the store; timer bodies go through
// `run_serialized`. GrpcSink calls are made under the serialisation (the sink only queues). The
// store's change hook must call ServiceChanged() (the owner fans its hook out). Destroy WITHOUT
// holding the serialising lock: the destructor enters the serialisation once to stop its timers,
// then cancels them outside it.
#ifndef DUBBO_NAMING_SERVER_SRC_GRPC_NAMING_H_
#define DUBBO_NAMING_SERVER_SRC_GRPC_NAMING_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/scheduler.h"
#include "grpc_types.h"
#include "instance_store.h"
#include "push_service.h"
#include "serialized_timers.h"

namespace dubbo::naming_server {

// What a token check found (the v1 login tokens serve both protocols).
enum class TokenState { kValid, kMissing, kExpired, kInvalid };
using TokenChecker = std::function<TokenState(std::string_view token)>;

struct GrpcNamingOptions {
  // Required. Runs the timers. Not owned; must outlive the GrpcNaming.
  registry::Scheduler* scheduler = nullptr;
  // Time source. Not owned. nullptr: scheduler->clock().
  registry::Clock* clock = nullptr;
  // Required. The naming data, shared with the v1 API. Not owned.
  InstanceStore* store = nullptr;
  // Where stream messages and closes go. Not owned; may be set later (SetSink()). nullptr: nothing
  // is sent (a push is still tracked and resent).
  GrpcSink* sink = nullptr;
  // Auth: empty means off. Otherwise every naming request needs a valid `accessToken` header (or
  // `Authorization: Bearer <token>`).
  TokenChecker check_token;
  // Runs timer bodies under the owner's serialisation. Default (empty): directly.
  SerializedRunner run_serialized;

  // Merging window of pushes (see the file comment). Default 50 ms, as the UDP push service.
  std::chrono::milliseconds push_delay{50};
  // A push not acked within this is resent after resend_delay, with a new requestId, as long as
  // the connection and its subscription exist. Defaults 5000 ms and 1000 ms (Nacos).
  std::chrono::milliseconds ack_timeout{5000};
  std::chrono::milliseconds resend_delay{1000};
  // A registered connection without traffic for this long gets a ClientDetectionRequest, and is
  // ejected (closed, unregistered) unless it answers within detection_timeout. A connection that
  // has not completed its setup is closed detection_idle + detection_timeout after it connected,
  // whatever it sent (nothing before the setup counts as traffic).
  // Defaults 20000 ms and 5000 ms (Nacos).
  std::chrono::milliseconds detection_idle{20000};
  std::chrono::milliseconds detection_timeout{5000};
  // Period of the idle check. Default 3000 ms (Nacos). Runs only while connections exist.
  std::chrono::milliseconds ejector_period{3000};

  // Caps, checked as request parameters (the param-check answer). serviceName and groupName
  // bytes: default 512. Metadata bytes (keys + values) of one instance: default 16384. Instances
  // in one BatchInstanceRequest: default 20000.
  size_t max_service_name_length = 512;
  size_t max_metadata_bytes = 16384;
  size_t max_batch_instances = 20000;
  // Subscriptions: one connection may hold max_subscriptions_per_connection, all connections
  // together max_subscriptions. A new subscription past either cap gets a failure answer and is
  // not kept; renewing an existing one is always answered. Defaults 10000 and 100000.
  size_t max_subscriptions_per_connection = 10000;
  size_t max_subscriptions = 100000;
  // Largest body of an answer or push this sends, in bytes: a larger query or subscribe answer
  // becomes a failure answer naming the limit, a larger push is skipped (counted). Default 10 MiB
  // (what the Java SDK accepts).
  size_t max_message_bytes = size_t{10} << 20;
  // Metadata.clientIp of the requests the server sends. Default "" (left out).
  std::string server_ip;
};

// Counters since creation, plus gauges.
struct GrpcNamingStats {
  size_t connections = 0;       // Gauge: transports known.
  size_t registered = 0;        // Gauge: connections that completed ConnectionSetup.
  size_t subscriptions = 0;     // Gauge: (connection, service) subscriptions.
  uint64_t setups = 0;          // Connections registered.
  uint64_t requests = 0;        // Unary requests of any type.
  uint64_t request_errors = 0;  // Unary answers other than a success.
  std::map<std::string, uint64_t> requests_by_type;  // Known types only.
  uint64_t pushes_sent = 0;        // NotifySubscriberRequests sent (first transmissions).
  uint64_t pushes_acked = 0;       // Acks with resultCode 200 matching an outstanding push.
  uint64_t push_resends = 0;       // Retransmissions after a missing or failed ack.
  uint64_t pushes_superseded = 0;  // Outstanding pushes replaced by newer data.
  uint64_t changes_merged = 0;     // Changes absorbed by a push already due.
  uint64_t detections = 0;         // ClientDetectionRequests sent.
  uint64_t ejections = 0;          // Connections closed for silence.
  uint64_t stream_dropped = 0;     // Stream messages ignored (unknown, unparsable, unregistered).
  uint64_t subscriptions_refused = 0;  // New subscriptions refused at a subscription cap.
  uint64_t oversize_answers = 0;       // Query/subscribe answers over max_message_bytes.
  uint64_t pushes_oversize_skipped = 0;  // Pushes not sent: over max_message_bytes.
};

// A failure answer: {"resultCode":..,"errorCode":..,"message":..,"success":false} as `type`.
GrpcMessage GrpcFailure(std::string type, int result_code, int error_code, std::string_view text);

class GrpcNaming final : public GrpcHandler {
 public:
  // kInvalidArgument when a required option is missing or a duration is not positive
  // (push_delay may be 0).
  static registry::Result<std::unique_ptr<GrpcNaming>> Create(GrpcNamingOptions options);
  // See the file comment: call without holding the serialising lock.
  ~GrpcNaming() override;
  GrpcNaming(const GrpcNaming&) = delete;
  GrpcNaming& operator=(const GrpcNaming&) = delete;

  void SetSink(GrpcSink* sink) { options_.sink = sink; }

  // GrpcHandler.
  void OnConnect(GrpcConnId conn, const std::string& peer_ip, uint16_t peer_port) override;
  GrpcMessage OnUnary(GrpcConnId conn, const GrpcMessage& request) override;
  void OnStreamMessage(GrpcConnId conn, const GrpcMessage& message) override;
  void OnDisconnect(GrpcConnId conn) override;

  // The store changed the service (the store's change hook).
  void ServiceChanged(const std::string& namespace_id, const std::string& grouped_service);

  // Sends ConnectResetRequest (no server named: move to another server) to every registered
  // connection and stops: timers then do nothing, changes push nothing; requests are still
  // answered. Idempotent.
  void Shutdown();

  GrpcNamingStats stats() const;
  // The Nacos connection id of a transport ("" if unknown).
  std::string ConnectionId(GrpcConnId conn) const;

 private:
  using ServiceKey = std::pair<std::string, std::string>;  // (namespace, grouped service)
  struct Subscription {
    std::string clusters;
    uint64_t generation = 0;  // Set anew, unique, by every transmission; timers carry it.
    std::string pending_id;   // requestId of the push awaiting its ack; "" if none.
    std::shared_ptr<const std::string> pending_info;  // Its serviceInfo JSON.
    registry::TimePoint ack_deadline;                 // Of the pending push.
    bool ack_timer = false;                           // An OnAckTimeout() is scheduled.
  };
  struct Connection {
    std::string id;  // "<epochMillis>_<peerIp>_<peerPort>"
    bool registered = false;
    bool naming = false;  // Setup labels had module=naming: may publish and subscribe.
    std::string client_version;
    std::string tenant;
    std::string app_name;
    std::string client_ip;
    std::map<std::string, std::string> labels;
    registry::TimePoint last_active;
    std::string detection_id;  // requestId of an unanswered ClientDetectionRequest.
    std::map<ServiceKey, Subscription> subscriptions;
    std::unordered_map<std::string, ServiceKey> acks;  // requestId -> subscription
  };
  struct ServiceSubscribers {
    std::set<GrpcConnId> conns;
    std::optional<registry::TimePoint> last_push;  // Start of the current merging window.
    bool push_scheduled = false;
  };
  struct Request;  // A parsed naming request (grpc_naming.cc).

  explicit GrpcNaming(GrpcNamingOptions options);

  GrpcMessage Dispatch(GrpcConnId conn_id, Connection& conn, const GrpcMessage& request);
  GrpcMessage HandleInstance(Connection& conn, const Request& r, bool persistent);
  GrpcMessage Batch(Connection& conn, const Request& r);
  GrpcMessage Query(const Request& r);
  GrpcMessage List(const Request& r);
  GrpcMessage Subscribe(GrpcConnId conn_id, Connection& conn, const Request& r);
  // The failure answer of `type` for an answer of `bytes` over max_message_bytes.
  GrpcMessage Oversize(std::string type, size_t bytes);
  void Setup(GrpcConnId conn_id, Connection& conn, const GrpcMessage& message);
  void OnResponse(GrpcConnId conn_id, Connection& conn, const GrpcMessage& message);

  // The gRPC ServiceInfo JSON of a service as a subscriber (healthy_only false) or a query sees it.
  std::shared_ptr<const std::string> RenderServiceInfo(const ServiceKey& key,
                                                       const std::string& clusters,
                                                       bool healthy_only) const;
  void PushNow(const ServiceKey& key);
  // Sends `info` to one subscriber with a new requestId, superseding its outstanding push.
  void SendPush(GrpcConnId conn_id, Connection& conn, const ServiceKey& key, Subscription& sub,
                std::shared_ptr<const std::string> info, bool resend);
  void OnAckTimeout(GrpcConnId conn_id, const ServiceKey& key);
  void Resend(GrpcConnId conn_id, const ServiceKey& key, uint64_t generation);
  void Unsubscribe(GrpcConnId conn_id, Connection& conn, const ServiceKey& key);
  // Forgets the connection: subscriptions, then its instances (subscribers pushed).
  void RemoveConnection(GrpcConnId conn_id);
  void EnsureEjector();
  void RunEjector();
  void CheckDetection(GrpcConnId conn_id, const std::string& request_id);
  void Eject(GrpcConnId conn_id);
  void Send(GrpcConnId conn_id, std::string type, std::string body);
  std::string NextRequestId() { return std::to_string(++last_request_id_); }
  bool ScheduleTask(registry::Duration delay, std::function<void()> body);

  GrpcNamingOptions options_;
  registry::Clock* clock_;
  InstanceStore* store_;

  // Everything below is guarded by the owner's serialisation.
  bool stopped_ = false;
  std::unordered_map<GrpcConnId, Connection> conns_;
  std::map<ServiceKey, ServiceSubscribers> subscribers_;
  uint64_t last_request_id_ = 0;
  // Source of Subscription::generation: a resend timer of an ended subscription never matches a
  // new subscription to the same service.
  uint64_t last_generation_ = 0;
  size_t subscription_count_ = 0;  // Sum of conns_[*].subscriptions.size().
  bool ejector_scheduled_ = false;
  GrpcNamingStats stats_;
  SerializedTimers timers_;  // Last: destroyed first (serialized_timers.h).
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_GRPC_NAMING_H_
