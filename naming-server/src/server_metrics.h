// Internal: the naming server's counters of connections and of refusals by reason. The HTTP layer
// and NamingCore add to one shared ServerMetrics; the metrics endpoints read it.
//
// Thread-safety: every member is a relaxed atomic; any thread may add and read.
#ifndef DUBBO_NAMING_SERVER_SRC_SERVER_METRICS_H_
#define DUBBO_NAMING_SERVER_SRC_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dubbo::naming_server {

// Why a request or a connection was refused or closed early. The names are the `reason` label of
// the metrics; keep kRejectReasonNames in step.
enum class RejectReason : size_t {
  // Connections (the HTTP layer).
  kConnectionCap,      // the connection table was full and nothing could be evicted
  kPeerConnectionCap,  // the peer address already held its share of connections
  kEvicted,            // an idle connection closed to make room for a new one
  kHeadTimeout,        // a request head did not arrive whole in time
  kBodyTooSlow,        // a request body arrived below the minimum rate
  kIdleTimeout,        // a keep-alive connection stayed idle past its timeout
  kMalformedRequest,   // 400 from the HTTP parser, or 501 for a method or coding
  kHeadTooLarge,       // 431
  kBodyTooLarge,       // 413 for a request body
  kSlowReader,         // a peer read an answer below the minimum rate
  // Requests (NamingCore).
  kInvalidUtf8,           // a parameter that is not valid UTF-8
  kInvalidParameter,      // any other 400 of the naming API
  kServiceNameTooLong,    // past max_service_name_length
  kMetadataTooLarge,      // past max_metadata_bytes
  kInstancesPerService,   // past max_instances_per_service
  kServicesPerNamespace,  // past max_services_per_namespace
  kTotalInstances,        // past max_total_instances
  kTotalServices,         // past max_total_services
  kAnswerTooLarge,        // a write growing a list answer past max_answer_bytes (400), or a
                          // list answer past it (413)
  kAuthDenied,            // 403: no token, a bad one or an expired one
  kLoginFailed,           // wrong user name or password
  kLoginThrottled,        // a login refused by the per-address back-off
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(RejectReason::kCount)>
    kRejectReasonNames = {
        "connection_cap",
        "peer_connection_cap",
        "evicted",
        "head_timeout",
        "body_too_slow",
        "idle_timeout",
        "malformed_request",
        "head_too_large",
        "body_too_large",
        "slow_reader",
        "invalid_utf8",
        "invalid_parameter",
        "service_name_too_long",
        "metadata_too_large",
        "instances_per_service",
        "services_per_namespace",
        "total_instances",
        "total_services",
        "answer_too_large",
        "auth_denied",
        "login_failed",
        "login_throttled",
};

// Every reason has a name: a name left out would leave an empty one at the end.
constexpr bool EveryRejectReasonNamed() {
  for (std::string_view name : kRejectReasonNames) {
    if (name.empty()) return false;
  }
  return true;
}
static_assert(EveryRejectReasonNamed(), "kRejectReasonNames must name every RejectReason");

struct ServerMetrics {
  std::atomic<uint64_t> connections_open{0};      // HTTP connections now open
  std::atomic<uint64_t> connections_accepted{0};  // HTTP connections accepted since start
  std::atomic<uint64_t> requests{0};              // HTTP requests answered since start
  // Answer bytes queued for connections whose peers have not read them yet (a connection's
  // share is added when its socket stops taking bytes, so answers written at once never count).
  std::atomic<uint64_t> output_buffered_bytes{0};
  // Writes of the data file (--data-dir) that failed since start.
  std::atomic<uint64_t> data_save_failures{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(RejectReason::kCount)> rejects{};
  // The gRPC transport (grpc_transport.h). Its connections and the HTTP ones share one cap.
  std::atomic<uint64_t> grpc_connections_open{0};      // gRPC connections now open
  std::atomic<uint64_t> grpc_connections_accepted{0};  // gRPC connections accepted since start
  // Connections closed at once: the shared connection cap or the per-peer cap was reached.
  std::atomic<uint64_t> grpc_connections_refused{0};
  // Connections ended by an HTTP/2 protocol error (GOAWAY), a bad preface or a preface that did
  // not arrive in time.
  std::atomic<uint64_t> grpc_protocol_errors{0};
  // Calls answered with a non-zero grpc-status by the transport: unknown method, bad content-type,
  // compressed, oversized or undecodable message.
  std::atomic<uint64_t> grpc_call_errors{0};
  // Connections closed because their queued output passed the cap (a peer that does not read).
  std::atomic<uint64_t> grpc_output_overflows{0};

  void Reject(RejectReason reason) {
    rejects[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t Rejected(RejectReason reason) const {
    return rejects[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_SERVER_METRICS_H_
