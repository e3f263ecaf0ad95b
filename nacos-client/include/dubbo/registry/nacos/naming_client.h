// File: dubbo/registry/nacos/naming_client.h
//
// NamingClient: a Nacos naming client (Nacos 2.x/3.x gRPC, or the v1 HTTP Open API plus UDP push),
// what the Java SDK's NamingService is, for C++.
//
//   auto client = NamingClient::Create(*NacosOptions::FromProperties({{"serverAddr",
//   "10.0.0.7"}})); if (!client.ok()) ...; Instance me; me.ip = "10.0.0.5"; me.port = 20880; Status
//   s = (*client)->RegisterInstance("demo", "DEFAULT_GROUP", me); auto id =
//   (*client)->Subscribe("demo", "DEFAULT_GROUP", "",
//                                  [](const ServiceChangeEvent& e) { ... });
//   (*client)->Shutdown();   // Deregisters `me`; no listener starts after this returns.
//
// Threads: every client runs exactly two threads, whatever the number of instances and
// subscriptions: a control-plane loop (the gRPC connection, HTTP through curl multi, the UDP push
// socket, beat, poll and refresh timers) and a dispatcher that calls listeners one at a time, in
// the order the changes were applied. Listeners never run while the client holds a lock, so they
// may call the client (even Subscribe, Unsubscribe and Shutdown).
//
// Listener queue: bounded, and lossless. At most one call per listener waits for the dispatcher; a
// change that comes while one waits is merged into it, so a slow listener costs one pending event,
// never a growing queue. The merged call reports the change from what the listener last saw to the
// newest state: `instances` is the newest list; `added`, `removed` and `modified` compare the two
// states per address (ip:port), exactly as if that were one change (an instance added then removed
// again appears nowhere; one modified then modified back is not reported; `removed` carries the
// version the listener last saw). A merged change that cancels out entirely is not reported. The
// first call of a listener reports every instance as added, merged changes included.
//
// Behaviour worth knowing (details in docs/nacos-client.md):
//   * Protocol (NacosOptions::naming_protocol). gRPC (Nacos 2.x/3.x): one HTTP/2 connection to one
//     server on its port + grpc_port_offset; ephemeral instances belong to that connection (no
//     beats: the server removes them the moment it ends), subscriptions follow the server's pushes
//     (no polling), and every instance and subscription is made again on each new connection
//     before the client counts as connected, so a registration made while no server answers is
//     applied when one does. Push data older (lastRefTime) than the data held is dropped. With
//     `auto` (the default), a client whose servers answer v1 HTTP but not gRPC uses HTTP as below
//     and keeps trying gRPC, moving back once it works; each move is logged once.
//   * HTTP (v1, or `auto` without gRPC): ephemeral instances are kept alive by beats, one timer
//     per instance on the loop. The period is the instance's `preserved.heart.beat.interval`
//     metadata or `beat_interval_ms`, then whatever the server answers as `clientBeatInterval`,
//     never less than 1 s. Beats are light (no body) when the server allows it; a 20404 answer
//     (the server forgot the instance, e.g. after a restart) re-registers it at once.
//   * Over HTTP, subscriptions are kept current by polling every `cacheMillis` the server asks
//     for (backing off 2, 4, ... up to `max_poll_backoff_ms` on failure) and by UDP push (one
//     socket per client). A push is only a doorbell: datagrams whose source IP is not a server's
//     are ignored; a push from a server's IP is acked and makes the client query that service over
//     HTTP at once (one query in flight per service, one more queued); the push's own data is
//     never applied, so a forged datagram cannot change what a consumer sees. When the servers
//     answer again after failing, every subscribed service is queried at once (back-offs reset
//     only when an answer is applied). With `push_empty_protection` (default on), data without
//     one usable instance never replaces a non-empty list, whichever the protocol.
//   * Every change is written to the disk cache. A service the server cannot be asked about is
//     served from that cache, and from the failover directory while the failover switch file is
//     on.
//
// Thread-safety: every method may be called from any thread, concurrently, including from a
// listener. Blocking calls wait for the server at most about `request_timeout_ms` per server tried
// (all servers are tried in turn); they never wait for the loop to be idle. Whatever happens, a
// blocking call returns kDeadlineExceeded after (2 × max(max_retry, servers) + 1) ×
// request_timeout_ms + 1 s (room for an endpoint list fetch, a login and the call), and
// kFailedPrecondition as soon as Shutdown() runs.
#ifndef DUBBO_REGISTRY_NACOS_NAMING_CLIENT_H_
#define DUBBO_REGISTRY_NACOS_NAMING_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry::nacos {

// Called on the client's dispatcher thread with each change of a subscribed service (changes that
// come while a call waits are merged into it: see "Listener queue" above). Exceptions are caught
// and logged.
using NamingListener = std::function<void(const ServiceChangeEvent&)>;

// Identifies a subscription. Never 0; never reused by one client.
using SubscriptionId = uint64_t;

// One page of GetServices().
struct ServiceList {
  int64_t count = 0;               // Services in the group, all pages.
  std::vector<std::string> names;  // Ungrouped names of this page.
};

// NamingClient::GetStats(): counters since the client was created.
struct NamingClientStats {
  uint64_t beats_sent = 0;           // Heartbeats sent,
  uint64_t beats_light = 0;          //   of which light (no beat JSON);
  uint64_t beats_failed = 0;         //   without a usable answer.
  uint64_t reregistered = 0;         // Instances registered again after a beat answered 20404.
  uint64_t polls = 0;                // List queries sent (poll timers, pushes, recoveries),
  uint64_t poll_failures = 0;        //   failed.
  uint64_t pushes = 0;               // Push datagrams accepted (and acked),
  uint64_t empty_protected = 0;      // Updates ignored by empty-push protection.
  uint64_t spoofed_datagrams = 0;    // Datagrams from a source IP that is not a server's.
  uint64_t malformed_datagrams = 0;  // Datagrams that did not parse.
  uint64_t dropped_hosts = 0;        // Malformed hosts left out of list answers and pushes.
  uint64_t events = 0;               // Listener calls queued,
  uint64_t events_merged = 0;        //   and changes merged into a call already queued.
  uint64_t recoveries = 0;           // Times the servers answered again after failing.

  // Protocol.
  // What the client uses now: kGrpc or kHttp (never kAuto).
  NacosOptions::NamingProtocol protocol = NacosOptions::NamingProtocol::kHttp;
  uint64_t protocol_switches = 0;  // Moves between gRPC and HTTP (auto).
  // gRPC (all zero with naming_protocol http).
  bool grpc_connected = false;         // A gRPC connection is ready now.
  uint64_t grpc_connects = 0;          // Connections that became ready (each one after the first
                                       //   is a reconnect),
  uint64_t grpc_connect_failures = 0;  //   attempts that did not.
  uint64_t grpc_disconnects = 0;       // Ready connections lost (health check, close, reset).
  uint64_t grpc_resets = 0;            // ConnectResetRequests obeyed (moved to another server).
  uint64_t grpc_requests = 0;          // Naming requests sent (redo included),
  uint64_t grpc_request_failures = 0;  //   failed (no answer, error answer).
  uint64_t grpc_pushes = 0;            // Pushes received over gRPC (and acked).
  uint64_t grpc_redone_instances = 0;  // Service records sent again on a new connection,
  uint64_t grpc_redone_subscriptions = 0;  // and subscriptions.
  uint64_t grpc_malformed = 0;             // Server messages or answers that did not parse.
  uint64_t stale_pushes = 0;  // gRPC data not applied: older (lastRefTime) than what the same
                              //   connection gave before.
};

class DUBBO_REGISTRY_EXPORT NamingClient {
 public:
  // Starts a client: the loop and dispatcher threads, the UDP push socket (on `options.udp_port`, 0
  // picking a free port), the endpoint refresh and the login when configured, and, with
  // `load_cache_at_start`, the services of the disk cache. Never waits for a server: a client
  // created while every server is down works from its cache and catches up once one answers.
  // Errors: kInvalidArgument for options that cannot work (no server, a bad client IP);
  // kUnavailable when the UDP port cannot be bound (in use, say) or a thread cannot start.
  static Result<std::unique_ptr<NamingClient>> Create(NacosOptions options);

  // Shutdown().
  ~NamingClient();

  NamingClient(const NamingClient&) = delete;
  NamingClient& operator=(const NamingClient&) = delete;

  // Registers `instance` in `service_name` of `group_name` (empty: DEFAULT_GROUP), in its
  // `cluster_name` (empty: the client's cluster_name option). Over HTTP, for an ephemeral instance,
  // beats start and replace any earlier ones for the same service, ip and port, and on error
  // nothing is left behind (no beat). Over gRPC, the ephemeral instances of one service are one
  // record (several go as one batch); a call that fails because no connection is ready
  // (kUnavailable) keeps the instance, which is registered on the next connection (Java's redo;
  // DeregisterInstance drops it), while a refusal by the server leaves nothing behind. Persistent
  // instances go over gRPC when the server announces it, else over HTTP. `instance_id`, `healthy`
  // and `service_name` are ignored (the server decides). Port 0 is allowed (Dubbo registers
  // consumers that way).
  // Errors: kInvalidArgument (empty service name or ip, a port outside [0, 65535]; or the server
  // said 400), kPermissionDenied (403), kUnavailable / kDeadlineExceeded (no server answered),
  // kFailedPrecondition after Shutdown().
  Status RegisterInstance(std::string_view service_name, std::string_view group_name,
                          const Instance& instance);

  // Stops the beats of (service, ip, port) and deregisters the instance (`cluster_name` and
  // `ephemeral` of `instance` are used; the rest is ignored). An instance the server does not know
  // is not an error.
  Status DeregisterInstance(std::string_view service_name, std::string_view group_name,
                            const Instance& instance);

  // The instances of a service, in `clusters` (comma-separated; empty: all). With `subscribe`, the
  // client keeps the service current (push and polling) and answers later calls from memory, as the
  // Java client does; without, each call asks the server. Falls back to the disk cache when no
  // server answers; the failover data wins while the failover switch is on.
  Result<std::vector<Instance>> GetAllInstances(std::string_view service_name,
                                                std::string_view group_name,
                                                std::string_view clusters = {},
                                                bool subscribe = true);

  // The instances with healthy == `healthy` that are enabled and have a positive weight (Java's
  // selectInstances).
  Result<std::vector<Instance>> SelectInstances(std::string_view service_name,
                                                std::string_view group_name,
                                                std::string_view clusters, bool healthy,
                                                bool subscribe = true);

  // One healthy instance, picked at random by weight. kNotFound when there is none.
  Result<Instance> SelectOneHealthyInstance(std::string_view service_name,
                                            std::string_view group_name,
                                            std::string_view clusters = {}, bool subscribe = true);

  // Calls `listener` with every change of the service (of `clusters`; empty: all) from now on. If
  // the client already has data for it (or gets some within the first query, which this call waits
  // for), the listener's first event lists every instance as added. One poll/push subscription per
  // service and clusters, however many listeners. Returns the id for Unsubscribe(). An unreachable
  // server is not an error: the subscription stays and catches up.
  // Errors: kInvalidArgument (empty service name or listener), kFailedPrecondition or kCancelled
  // when Shutdown() comes first, kDeadlineExceeded when the client did not answer in time. After
  // any error no subscription is left: the listener is never called.
  Result<SubscriptionId> Subscribe(std::string_view service_name, std::string_view group_name,
                                   std::string_view clusters, NamingListener listener);

  // Removes a subscription. When this returns, its listener is not running (unless this is called
  // from that listener) and will never be called again. The last listener of a service stops its
  // polling. kNotFound for an unknown id.
  Status Unsubscribe(SubscriptionId id);

  // One page (from 1) of the service names of a group (empty: DEFAULT_GROUP) in the namespace.
  // A name that is not a string in valid UTF-8 is skipped; kUnavailable when the server's answer is
  // not a JSON object with an integer count >= 0 and a doms array (within the client's caps).
  Result<ServiceList> GetServices(int page_no, int page_size, std::string_view group_name = {});

  // "UP" when a server answers its metrics with status UP (on gRPC: when the connection is ready,
  // or a request waiting for one is answered, within request_timeout_ms), else "DOWN" (Java's
  // getServerStatus).
  std::string GetServerStatus();

  // Stops beats and polling, deregisters every ephemeral instance registered through this client
  // (persistent ones are meant to outlive it; best effort, in parallel; on gRPC by closing the
  // connection, which makes the server remove its instances at once), ends every blocking call
  // in progress on any thread with kFailedPrecondition, drops queued events and stops the threads.
  // Returns within `shutdown_timeout_ms` whatever the servers do; a listener still running when
  // the budget is spent gets at least 100 ms more, so Shutdown() may take that much longer. A
  // listener still running after that keeps running on its detached thread after Shutdown()
  // returns: a listener must touch only state it shares ownership of (capture a shared_ptr, never
  // a raw pointer to an object freed after Shutdown()). Afterwards no listener starts, and every
  // other method fails with kFailedPrecondition. Idempotent. Called from a listener, it does not
  // wait for that listener to return.
  void Shutdown();

  // Counters since Create(), for monitoring; after Shutdown() their final values. Waits for the
  // client's loop to read them (microseconds, unless a callback of the loop is slow).
  NamingClientStats GetStats();

  // The UDP port pushes are received on (reported to the server as udpPort).
  int udp_port() const;
  // The address reported as clientIP.
  const std::string& client_ip() const;
  const NacosOptions& options() const;

  struct DUBBO_REGISTRY_NO_EXPORT Impl;

 private:
  explicit NamingClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_REGISTRY_NACOS_NAMING_CLIENT_H_
