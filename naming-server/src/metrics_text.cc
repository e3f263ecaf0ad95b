// Prometheus text rendering. See metrics_text.h.
#include "metrics_text.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace dubbo::naming_server {
namespace {

class Writer {
 public:
  // Starts a metric family: its HELP and TYPE lines.
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  // One sample; `labels` is empty or `key="value",...` (values here never need escaping).
  void Sample(std::string_view name, std::string_view labels, uint64_t value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(std::to_string(value)).append("\n");
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

uint64_t Millis(registry::Duration d) {
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms < 0 ? 0 : static_cast<uint64_t>(ms);
}

}  // namespace

std::string RenderPrometheus(const StoreFigures& store, const PushStats& push,
                             const ServerMetrics& server, const GrpcNamingStats& grpc) {
  Writer w;
  constexpr std::string_view kNacos = "nacos_monitor";
  w.Family(kNacos, "gauge", "Nacos naming gauges, under Nacos's names.");
  w.Sample(kNacos, R"(module="naming",name="serviceCount")", store.services);
  w.Sample(kNacos, R"(module="naming",name="ipCount")", store.instances);
  w.Sample(kNacos, R"(module="naming",name="subscriberCount")", push.subscribers);
  w.Sample(kNacos, R"(module="naming",name="totalPush")", push.pushes_sent);
  w.Sample(kNacos, R"(module="naming",name="failedPush")", push.give_ups);
  w.Sample(kNacos, R"(module="naming",name="avgPushCost")",
           push.acks_matched == 0 ? 0 : Millis(push.ack_latency_total) / push.acks_matched);
  w.Sample(kNacos, R"(module="naming",name="maxPushCost")", Millis(push.ack_latency_max));

  w.Family("naming_server_bytes_held", "gauge",
           "Approximate bytes of names, addresses and metadata the store holds.");
  w.Sample("naming_server_bytes_held", "", store.bytes_held);
  w.Family("naming_server_connections", "gauge", "HTTP connections open now.");
  w.Sample("naming_server_connections", "",
           server.connections_open.load(std::memory_order_relaxed));
  w.Family("naming_server_connections_accepted_total", "counter", "HTTP connections accepted.");
  w.Sample("naming_server_connections_accepted_total", "",
           server.connections_accepted.load(std::memory_order_relaxed));
  w.Family("naming_server_http_requests_total", "counter", "HTTP requests answered.");
  w.Sample("naming_server_http_requests_total", "",
           server.requests.load(std::memory_order_relaxed));
  w.Family("naming_server_output_buffered_bytes", "gauge",
           "HTTP answer bytes queued for peers that have not read them yet.");
  w.Sample("naming_server_output_buffered_bytes", "",
           server.output_buffered_bytes.load(std::memory_order_relaxed));
  w.Family("naming_server_data_save_failures_total", "counter",
           "Writes of the data file (--data-dir) that failed.");
  w.Sample("naming_server_data_save_failures_total", "",
           server.data_save_failures.load(std::memory_order_relaxed));
  w.Family("naming_server_push_acks_total", "counter", "UDP pushes acknowledged by subscribers.");
  w.Sample("naming_server_push_acks_total", "", push.acks_matched);
  w.Family("naming_server_push_resends_total", "counter", "UDP pushes sent a second time.");
  w.Sample("naming_server_push_resends_total", "", push.resends);

  constexpr std::string_view kRejects = "naming_server_rejects_total";
  w.Family(kRejects, "counter", "Requests and connections refused or closed early, by reason.");
  for (size_t i = 0; i < kRejectReasonNames.size(); ++i) {
    std::string labels = "reason=\"";
    labels.append(kRejectReasonNames[i]).append("\"");
    w.Sample(kRejects, labels, server.rejects[i].load(std::memory_order_relaxed));
  }

  // The gRPC transport (shared ServerMetrics) and the gRPC protocol core (GrpcNamingStats).
  struct Series {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    uint64_t value;
  };
  auto relaxed = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  const Series grpc_series[] = {
      {"naming_server_grpc_connections", "gauge", "gRPC connections open now.",
       relaxed(server.grpc_connections_open)},
      {"naming_server_grpc_connections_accepted_total", "counter", "gRPC connections accepted.",
       relaxed(server.grpc_connections_accepted)},
      {"naming_server_grpc_connections_refused_total", "counter",
       "gRPC connections closed at accept: the shared connection cap or the per-peer cap.",
       relaxed(server.grpc_connections_refused)},
      {"naming_server_grpc_protocol_errors_total", "counter",
       "gRPC connections ended by an HTTP/2 protocol error, a bad preface or a late one.",
       relaxed(server.grpc_protocol_errors)},
      {"naming_server_grpc_call_errors_total", "counter",
       "gRPC calls failed by the transport with a non-zero grpc-status.",
       relaxed(server.grpc_call_errors)},
      {"naming_server_grpc_output_overflows_total", "counter",
       "gRPC connections closed because their queued output passed its cap.",
       relaxed(server.grpc_output_overflows)},
      {"naming_server_grpc_registered_connections", "gauge",
       "gRPC connections that completed their ConnectionSetup.", grpc.registered},
      {"naming_server_grpc_subscriptions", "gauge",
       "gRPC subscriptions, one per connection and service.", grpc.subscriptions},
      {"naming_server_grpc_setups_total", "counter", "gRPC connections registered by a setup.",
       grpc.setups},
      {"naming_server_grpc_requests_total", "counter", "gRPC unary requests of any type.",
       grpc.requests},
      {"naming_server_grpc_request_errors_total", "counter",
       "gRPC unary requests answered with anything but a success.", grpc.request_errors},
      {"naming_server_grpc_pushes_total", "counter",
       "NotifySubscriberRequests sent (first transmissions).", grpc.pushes_sent},
      {"naming_server_grpc_push_acks_total", "counter",
       "gRPC pushes acknowledged with resultCode 200.", grpc.pushes_acked},
      {"naming_server_grpc_push_resends_total", "counter",
       "gRPC pushes sent again after a missing or failed ack.", grpc.push_resends},
      {"naming_server_grpc_pushes_superseded_total", "counter",
       "Unacknowledged gRPC pushes replaced by newer data.", grpc.pushes_superseded},
      {"naming_server_grpc_push_changes_merged_total", "counter",
       "Changes absorbed by a gRPC push already due.", grpc.changes_merged},
      {"naming_server_grpc_detections_total", "counter",
       "ClientDetectionRequests sent to silent gRPC connections.", grpc.detections},
      {"naming_server_grpc_ejections_total", "counter",
       "gRPC connections closed for not answering a detection.", grpc.ejections},
      {"naming_server_grpc_stream_messages_dropped_total", "counter",
       "gRPC stream messages ignored: unknown, unparsable or before setup.", grpc.stream_dropped},
      {"naming_server_grpc_subscriptions_refused_total", "counter",
       "gRPC subscriptions refused at a subscription cap.", grpc.subscriptions_refused},
      {"naming_server_grpc_oversize_answers_total", "counter",
       "gRPC query or subscribe answers refused for passing the message size limit.",
       grpc.oversize_answers},
      {"naming_server_grpc_pushes_oversize_skipped_total", "counter",
       "gRPC pushes not sent for passing the message size limit.", grpc.pushes_oversize_skipped},
  };
  for (const Series& s : grpc_series) {
    w.Family(s.name, s.type, s.help);
    w.Sample(s.name, "", s.value);
  }
  constexpr std::string_view kByType = "naming_server_grpc_requests_handled_total";
  w.Family(kByType, "counter",
           "gRPC requests of a known type on a registered connection, by type.");
  for (const auto& [type, count] : grpc.requests_by_type) {
    std::string labels = "type=\"";  // known request type names: letters only
    labels.append(type).append("\"");
    w.Sample(kByType, labels, count);
  }
  return w.Take();
}

}  // namespace dubbo::naming_server
