// Prometheus text rendering. See metrics_text.h.
#include "metrics_text.h"

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
                             const ServerMetrics& server) {
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
  return w.Take();
}

}  // namespace dubbo::naming_server
