// Internal: the naming server's metrics in the Prometheus text exposition format (version 0.0.4),
// served at `<context>/actuator/prometheus`, the path where Nacos serves its own.
//
// Nacos's naming gauges keep Nacos's names (`nacos_monitor{module="naming",name="serviceCount"}`,
// `ipCount`, `subscriberCount`, `totalPush`, `failedPush`, `avgPushCost`, `maxPushCost`), so
// dashboards made for Nacos read them; everything Nacos has no name for is `naming_server_*`.
//
// Thread-safety: a pure function.
#ifndef DUBBO_NAMING_SERVER_SRC_METRICS_TEXT_H_
#define DUBBO_NAMING_SERVER_SRC_METRICS_TEXT_H_

#include <cstddef>
#include <string>

#include "grpc_naming.h"
#include "push_service.h"
#include "server_metrics.h"

namespace dubbo::naming_server {

// What the store holds when the metrics are read.
struct StoreFigures {
  size_t services = 0;
  size_t instances = 0;
  size_t bytes_held = 0;  // approximate bytes of names, addresses and metadata stored
};

// The content type of RenderPrometheus()'s text.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// `grpc` is the gRPC protocol core's figures (all zero when gRPC is off); the gRPC transport's
// are in `server`.
std::string RenderPrometheus(const StoreFigures& store, const PushStats& push,
                             const ServerMetrics& server, const GrpcNamingStats& grpc);

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_METRICS_TEXT_H_
