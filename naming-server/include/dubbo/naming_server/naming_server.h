// File: dubbo/naming_server/naming_server.h
//
// NamingServer: a Nacos-compatible naming server (the v1 naming Open API with heartbeat health
// checks and UDP push, and Nacos 2.x's gRPC API with connection-bound instances and stream pushes,
// on one store), small enough to embed in a test process. Start() binds, starts its threads and
// returns a running server; tests use port 0 and read the bound port back.
//
//   NamingServerOptions options;
//   options.port = 0;                                   // pick a free port
//   auto server = NamingServer::Start(options);
//   if (!server.ok()) ...;
//   std::string addr = (*server)->address();            // "127.0.0.1:41234"
//
// Where it differs from Nacos, and why, is in docs/naming-server.md. In short: a change is pushed
// at once (bursts that follow are merged within `push_delay_ms`), and pushes go to the address the
// list request came from unless `trust_client_ip` is set.
//
// Threads: one event-loop thread (HTTP, gRPC and UDP), plus the scheduler's thread unless a
// Scheduler is injected. Thread-safety: Start() and Stop() may be called from any thread; every
// accessor is thread-safe.
#ifndef DUBBO_NAMING_SERVER_NAMING_SERVER_H_
#define DUBBO_NAMING_SERVER_NAMING_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/scheduler.h"

namespace dubbo::naming_server {

// Bounds NamingServer::Start() holds options to; the naming-server flags accept the same ranges.
// grpc_max_message_bytes: [1, 1 GiB].
inline constexpr size_t kMaxGrpcMessageBytesLimit = size_t{1} << 30;
// max_metadata_bytes: [1, 64 KiB], the `metadata` parameter's parse cap.
inline constexpr size_t kMaxMetadataBytesLimit = size_t{64} << 10;
// max_body_bytes: [1 KiB, 1 GiB]; max_header_bytes: [1 KiB, 1 MiB]. Below 1 KiB an ordinary
// request (a registration's form, a request line with its query and a token) does not fit; the
// upper bounds cap what one connection may make the server buffer.
inline constexpr size_t kMinHttpLimitBytes = size_t{1} << 10;
inline constexpr size_t kMaxBodyBytesLimit = size_t{1} << 30;
inline constexpr size_t kMaxHeaderBytesLimit = size_t{1} << 20;

struct NamingServerOptions {
  // Address to bind the HTTP and UDP sockets to. Default loopback only.
  std::string bind_address = "127.0.0.1";
  // HTTP port. Default Nacos's 8848; 0 picks a free port (see NamingServer::port()).
  uint16_t port = 8848;
  // Prefix of every API path. Default "/nacos".
  std::string context_path = "/nacos";

  // --- Health (Nacos defaults) ---------------------------------------------------------------
  // An ephemeral instance without a beat for this long turns unhealthy. Default 15000.
  int64_t heartbeat_timeout_ms = 15000;
  // ... and is deleted after this long. Default 30000.
  int64_t ip_delete_timeout_ms = 30000;
  // The beat interval told to clients (`clientBeatInterval`). Default 5000.
  int64_t client_beat_interval_ms = 5000;
  // How often instances are checked. Default 5000 (Nacos's check task period).
  int64_t health_check_period_ms = 5000;
  // Whether clients may send light beats (no body). Default true.
  bool light_beat_enabled = true;

  // --- Push --------------------------------------------------------------------------------
  // After a push, further changes of the same service within this window are merged into one push
  // at its end. An isolated change is pushed at once. Default 50. (Nacos: every push waits 1000 ms
  // in 1.x, 500 ms in 2.x.)
  int64_t push_delay_ms = 50;
  // Resend a push once when no ack came within this long. Default 10000 (Nacos).
  int64_t push_ack_timeout_ms = 10000;
  // A subscriber that stops re-querying lapses after this long. Default 30000 (Nacos 2.x).
  int64_t subscriber_ttl_ms = 30000;
  // Push to the `clientIP` a list request names instead of the address the request came from.
  // Default false: honouring it lets anyone aim pushes at a third party.
  bool trust_client_ip = false;

  // --- gRPC (Nacos 2.x protocol; timings are Nacos's) --------------------------------------
  // Serve Nacos's gRPC API (h2c) beside v1, on port + grpc_port_offset (Nacos's rule: SDKs derive
  // the gRPC port from the main port). Default true.
  bool grpc_enabled = true;
  // Default 1000 (8848 -> 9848). With port 0 the server picks a free pair. 1 to 64535.
  uint16_t grpc_port_offset = 1000;
  // Largest gRPC message a client may send, and largest answer or push the server sends (a
  // larger query or subscribe answer becomes a failure answer, a larger push is skipped), in
  // bytes. Default 10 MiB (Nacos's server default, and what the Java SDK accepts). 1 to 1 GiB
  // (kMaxGrpcMessageBytesLimit).
  size_t grpc_max_message_bytes = size_t{10} << 20;
  // Concurrent HTTP/2 streams per gRPC connection. Default 128.
  uint32_t grpc_max_concurrent_streams = 128;
  // Output queued for one gRPC peer that does not read; past it the connection is closed.
  // Default 16 MiB.
  size_t grpc_max_output_bytes = size_t{16} << 20;
  // A gRPC push not acked within this is sent again, with a new requestId, after
  // grpc_resend_delay_ms, for as long as the connection and its subscription exist. Defaults 5000
  // and 1000.
  int64_t grpc_ack_timeout_ms = 5000;
  int64_t grpc_resend_delay_ms = 1000;
  // A gRPC connection silent for grpc_detection_idle_ms gets a ClientDetectionRequest and is
  // closed, its instances removed, unless it answers within grpc_detection_timeout_ms. Defaults
  // 20000 and 5000.
  int64_t grpc_detection_idle_ms = 20000;
  int64_t grpc_detection_timeout_ms = 5000;
  // How often silent gRPC connections are looked for. Default 3000.
  int64_t grpc_ejector_period_ms = 3000;
  // gRPC subscriptions one connection may hold, and all connections together; a new one past
  // either cap gets a failure answer. Defaults 10000 and 100000 (the UDP subscriber cap).
  size_t grpc_max_subscriptions_per_connection = 10000;
  size_t grpc_max_subscriptions = 100000;

  // --- Auth --------------------------------------------------------------------------------
  // Require a token from /v1/auth/users/login on every call. Default false (as Nacos).
  bool auth_enabled = false;
  // The one login user. Default "nacos".
  std::string username = "nacos";
  // Its password. Never logged. Default "nacos", which Start() refuses with auth on (see below).
  std::string password = "nacos";
  // With auth on, Start() refuses an empty password and Nacos's well-known default "nacos" unless
  // this is set. Default false.
  bool allow_default_password = false;
  // Token lifetime, reported as `tokenTtl`. Default 18000 s (Nacos).
  int64_t token_ttl_seconds = 18000;
  // Live tokens held at most, 1 to 1,000,000: a login beyond them invalidates the token that
  // expires soonest (the oldest). Expired tokens are dropped at the next login. Default 10000.
  size_t max_tokens = 10000;
  // Failed credential checks (a login, or username and password parameters on any call) one
  // source address may make before it is locked out: during a lock-out its credential checks are
  // answered 429 without looking at the password. Tokens are not affected. 1 to 1,000,000.
  // Default 5.
  int login_free_failures = 5;
  // The first lock-out; each further failure doubles it, up to login_max_backoff_ms. Defaults
  // 1000 and 300000 (5 min); the maximum at most 2^40. An address is forgotten
  // login_max_backoff_ms after its last lock-out (or failure) ended, and at once by a successful
  // check.
  int64_t login_backoff_ms = 1000;
  int64_t login_max_backoff_ms = 300000;
  // Source addresses the throttle remembers (IPv6 per /64), 1 to 1,000,000. None is dropped to
  // make room: while the table is full, credential checks from every address it does not hold are
  // answered 429 too, until a remembered address is forgotten. Default 10000.
  size_t login_throttle_max_addresses = 10000;

  // --- Limits ------------------------------------------------------------------------------
  // Larger requests get 413 (body) or 431 (headers). Defaults 1 MiB body, 16 KiB of headers.
  // Start() refuses a body limit outside [1 KiB, 1 GiB] and a header limit outside [1 KiB, 1 MiB]
  // (kMinHttpLimitBytes, kMaxBodyBytesLimit, kMaxHeaderBytesLimit).
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;

  // --- Connections ---------------------------------------------------------------------------
  // (docs/naming-server.md, "Connections", has the reasons for each default.)
  // A request head must arrive whole within this long of its first byte (of the accept, for a
  // connection's first request); bytes trickling in do not extend it. Else 408 and close.
  // Default 10000.
  int64_t request_head_timeout_ms = 10000;
  // A body has request_head_timeout_ms from the end of its head, plus one second per this many
  // bytes received (whatever length it declares); else 408 and close. The same rate applies to a
  // peer reading an answer that does not fit in the socket: else the connection is closed.
  // Default 1024 bytes/s.
  int64_t min_body_bytes_per_second = 1024;
  // A connection between requests without a byte for this long is closed. Default 60000.
  int64_t idle_timeout_ms = 60000;
  // Connections held at once; lowered to the RLIMIT_NOFILE soft limit minus 64 (see
  // NamingServer::connection_cap()). When the table is full, a new connection closes another:
  // one lingering after an error answer, else the oldest that never completed a request, else
  // the one idle longest since its last request, else the body or answer furthest behind the
  // minimum rate. Default 10000.
  int64_t max_connections = 10000;
  // Connections from one peer address; further ones are closed at once. Default 1000.
  int64_t max_connections_per_peer = 1000;
  // Answer bytes queued for peers that have not read them, above which a connection that still
  // has output queued answers no further pipelined request until it is written. Default 64 MiB.
  size_t max_output_bytes = size_t{64} << 20;

  // --- Caps ---------------------------------------------------------------------------------
  // What the naming data may hold and answer. Each refusal names its cap and its flag; every cap
  // must be positive. A refused write stores nothing; the refusals are counted in the metrics.
  // The `serviceName` parameter as sent, in bytes: a Java client sends it grouped
  // (`group@@name`), so there the group counts; a separate `groupName` parameter has the same cap
  // on its own. Longer: 400. Default 512 (Nacos's MAX_SERVICE_NAME_LENGTH).
  size_t max_service_name_length = 512;
  // Bytes of one instance's metadata (the sum of its keys and values, plus its `app`), and the
  // same for a service's metadata. Larger: 400. At most 65536 (kMaxMetadataBytesLimit, the
  // `metadata` parameter's parse cap). Default 16384: Dubbo puts its provider URL's parameters
  // here, typically 1-4 KB.
  size_t max_metadata_bytes = 16384;
  // Instances in one service (all clusters, both kinds). One more: 400. Default 20000.
  size_t max_instances_per_service = 20000;
  // Services in one namespace. One more: 400. Default 20000.
  size_t max_services_per_namespace = 20000;
  // Instances in the whole server. One more: 400. Default 1000000 (about 1 GB at ~1 KB each;
  // bench/naming/run.sh grows the store to 470,000 or more in its "register, new" run).
  size_t max_total_instances = 1000000;
  // Services in the whole server, whether created by a registration or by POST /service (which
  // never expire). One more: 400. Namespaces exist only while they hold a service, so this caps
  // them too. Default 100000 (the benches create at most about 1,100).
  size_t max_total_services = 100000;
  // The largest list answer a service may make, by the store's estimate of its unfiltered answer.
  // A write (register, update, patch, a beat's re-registration, a service metadata update) that
  // would take its service past it is refused with 400, so one instance cannot make every reader
  // of its service fail; a list or service-list answer still larger (by its echoed fields, or a
  // page of service names) gets 413. Default 16 MiB, the most our naming client accepts for a list
  // answer. With the other defaults: 20,000 instances fill it at ~840 bytes each, i.e. about 400
  // bytes of metadata beside the ~440 bytes of names, address, id and framing a host takes; with
  // larger metadata this cap binds first (a Dubbo provider's 1-4 KB: 4,000-12,000 instances).
  size_t max_answer_bytes = 16 << 20;

  // --- Data ---------------------------------------------------------------------------------
  // A directory where the server keeps its persistent instances (ephemeral=false) and the
  // services created or updated through the service API, in "naming-data.json", so that they
  // survive a restart. Start() creates the directory if missing and loads the file, and fails if
  // the file is corrupt (leaving it as it is). A write that changes that data is answered once
  // the file is saved (500 if the save fails; the change stays in memory and the save is
  // retried). Default empty: nothing is kept, as before.
  std::string data_dir;

  // --- Seams (non-owning; must outlive the server) -------------------------------------------
  // Default nullptr: the scheduler's clock, else the real clock.
  registry::Clock* clock = nullptr;
  // Runs health checks and push timers. Default nullptr: the server starts a ThreadScheduler.
  registry::Scheduler* scheduler = nullptr;
};

class DUBBO_REGISTRY_EXPORT NamingServer {
 public:
  // Binds and starts serving. kInvalidArgument for bad options, kUnavailable when a socket cannot be
  // bound (port in use, say).
  static registry::Result<std::unique_ptr<NamingServer>> Start(NamingServerOptions options);

  // Stops (see Stop()).
  ~NamingServer();
  NamingServer(const NamingServer&) = delete;
  NamingServer& operator=(const NamingServer&) = delete;

  // The bound HTTP port.
  uint16_t port() const;
  // The UDP port pushes are sent from (acks go back to it).
  uint16_t udp_port() const;
  // The gRPC port: port() + grpc_port_offset; 0 when gRPC is off.
  uint16_t grpc_port() const;
  // "host:port" of the HTTP listener, as clients put it in `serverAddr`.
  std::string address() const;
  // Connections held at once: max_connections, or fewer when the descriptor limit leaves less room.
  size_t connection_cap() const;

  // Closes the sockets and joins the threads; in-flight requests are dropped. Idempotent; returns
  // within about a second whatever clients do.
  void Stop();

  // Runs one health check now (tests with an injected clock use it instead of waiting for the timer).
  void CheckHealthNow();

  struct Stats {
    size_t services = 0;
    size_t instances = 0;
    size_t subscribers = 0;
    uint64_t pushes = 0;
    uint64_t acks = 0;
    // Pushes not sent because the answer is too large for a datagram (one per subscriber):
    // the packet exceeded the UDP payload limit, or the service's answer was too large to render.
    uint64_t pushes_oversize_skipped = 0;
    // Approximate bytes of naming data held: the store's estimate of what its list answers
    // would take (names, addresses, metadata and per-instance framing), plus the stored strings
    // no answer shows (namespace ids, each instance's app).
    size_t bytes_held = 0;
  };
  Stats stats() const;

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Impl;
  explicit NamingServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_NAMING_SERVER_H_
