// File: dubbo/registry/nacos/nacos_options.h
//
// NacosOptions: every setting of the Nacos naming client, each with its default, buildable from a
// Nacos-style properties map (the keys the official SDKs read) or from a registry URL
// (nacos://user:pass@host:port?namespace=dev&backup=host2:port2&...).
//
// A struct filled by hand is checked by NamingClient::Create: every numeric field must lie in the
// range stated for its property below (kInvalidArgument naming the field otherwise), a server or an
// endpoint must be given, and client_ip must be empty or an IP literal.
//
// Thread-safety: a plain value.
#ifndef DUBBO_REGISTRY_NACOS_NACOS_OPTIONS_H_
#define DUBBO_REGISTRY_NACOS_NACOS_OPTIONS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry::nacos {

struct DUBBO_REGISTRY_EXPORT NacosOptions {
  // Servers as "host:port", "[v6]:port" or "http(s)://host:port[/...]"; a bare host gets port 8848,
  // a URL without a port its scheme's (80/443, as the Java client). Property `serverAddr`
  // (comma-separated; blanks around entries and empty entries ignored). Required unless `endpoint`
  // is set.
  std::vector<std::string> server_addresses;
  // Address server: the list is fetched from http://<endpoint>:<endpoint_port>/nacos/serverlist and
  // refreshed every endpoint_refresh_ms; it wins over server_addresses. Properties `endpoint`
  // ("host" or "host:port", the port there winning), `endpointPort` (default 8080).
  std::string endpoint;
  int endpoint_port = 8080;
  // Property `namespace`. Default "public". Names a cache directory, so '/', '\', "." and ".." are
  // rejected.
  std::string namespace_id = "public";
  // Properties `username`, `password`. Default empty: no login. The password is never logged.
  std::string username;
  std::string password;
  // Property `contextPath`. Default "/nacos". Normalised to a leading '/' and no trailing '/' ("/"
  // gives "", the root context).
  std::string context_path = "/nacos";
  // Sent as `app` with every request. Property `appName`. Default "unknown".
  std::string app_name = "unknown";
  // Cluster of the instances this client registers. Property `clusterName`. Default "DEFAULT".
  std::string cluster_name = "DEFAULT";

  // Disk cache directory. Default empty: no disk cache and no failover. FromProperties (and so
  // FromUrl) always sets it, to <root>/nacos[/<namingCacheRegistryDir>]/naming/<namespace> as in
  // Java: <root> is property `JM.SNAPSHOT.PATH` (Java's JVM property of that name), else $HOME
  // (else the passwd home, else /tmp); property `namingCacheRegistryDir` (relative, no ".." part)
  // inserts the sub directory.
  std::string cache_dir;
  // Load the disk cache when the client starts. Property `namingLoadCacheAtStart`. Default false.
  bool load_cache_at_start = false;
  // Ignore pushed/polled data with no healthy instance of positive weight. Property
  // `namingPushEmptyProtection`. Default true (Java: false; an empty list is what takes a consumer
  // down when a registry misbehaves).
  bool push_empty_protection = true;

  // Which protocol the client speaks. Property `namingProtocol`: "auto" (default), "grpc" or
  // "http".
  //   kAuto: Nacos 2.x/3.x gRPC when a server answers it (ServerCheck on the server's port +
  //          grpc_port_offset within connect_timeout_ms); otherwise v1 HTTP, trying gRPC again
  //          every grpc_retry_interval_ms. Every switch is logged once.
  //   kGrpc: gRPC only (a server without it is a server that does not answer).
  //   kHttp: v1 HTTP with beats, UDP push and polling only (Nacos 1.x, or 3.2+ with the legacy
  //          adapter).
  enum class NamingProtocol { kAuto, kGrpc, kHttp };
  NamingProtocol naming_protocol = NamingProtocol::kAuto;
  // The gRPC port is the server's port plus this (Nacos's rule: 8848 -> 9848). Property
  // `grpcPortOffset`, [1, 65535]. Default 1000.
  int grpc_port_offset = 1000;
  // With kAuto, while on HTTP, how often gRPC is tried again. Property `grpcRetryInterval`.
  // Default 30000.
  int64_t grpc_retry_interval_ms = 30000;
  // gRPC: a health check goes out after this long without an answer on the connection (Java's
  // 5 s). Property `grpcHealthCheckInterval`. Default 5000.
  int64_t grpc_health_check_interval_ms = 5000;
  // gRPC: the largest message accepted from a server (Java's inbound limit). Property
  // `grpcMaxInboundMessageSize`, [4096, 104857600] bytes. Default 10485760 (10 MiB).
  int64_t grpc_max_message_bytes = int64_t{10} << 20;

  // UDP push receiver port; 0 picks a free one, reported to the server as udpPort. Property
  // `udpPort` (env push.receiver.udp.port in Java). Default 0.
  int udp_port = 0;
  // The IP reported as clientIP; empty picks the host's first non-loopback IPv4 address. Property
  // `clientIp` (an IPv4 or IPv6 literal). Default empty.
  std::string client_ip;

  // Connect and whole-request timeouts, in ms; sub-second values are honoured exactly. Properties
  // `connectTimeout` (default 3000) and `requestTimeout` (default 5000; Java: 50000).
  // Every duration property is an integer number of ms in [1, 2147483647] (beatInterval: from
  // 1000).
  int64_t connect_timeout_ms = 3000;
  int64_t request_timeout_ms = 5000;
  // Beat period when the instance has no preserved.heart.beat.interval. Property `beatInterval`,
  // [1000, 2147483647]: no instance beats more than once a second. Default 5000.
  int64_t beat_interval_ms = 5000;
  // Tries with a single server (property `namingRequestDomainMaxRetryCount`, [1, 1000]). Default 3.
  int max_retry = 3;
  // Requests outstanding at once on one HTTP connection to a plain-http server given by IP address
  // (HTTP/1.1 pipelining: beats due together leave in one write); 1 sends one request at a time,
  // for a proxy in front of Nacos that mishandles pipelining. Property `httpPipelineDepth`,
  // [1, 64]. Default 16.
  int http_pipeline_depth = 16;
  // Endpoint list refresh. Property `endpointRefreshInterval`. Default 30000.
  int64_t endpoint_refresh_ms = 30000;
  // Polling backoff cap after failures. Property `maxPollBackoff`. Default 60000.
  int64_t max_poll_backoff_ms = 60000;
  // How often the failover switch file is read. Property `failoverCheckInterval`. Default 5000.
  int64_t failover_check_ms = 5000;
  // The most NamingClient::Shutdown() (and so a NacosRegistry's Destroy()) spends, whatever the
  // servers do: deregistering the ephemeral instances (best effort, in parallel), then waiting for
  // a running listener. Property `shutdownTimeout`. Default 1000.
  int64_t shutdown_timeout_ms = 1000;

  // From a Nacos properties map. Values are trimmed (credentials excepted); a blank value means the
  // default. Unknown keys are ignored; malformed values (numbers, booleans "true"/"false" in any
  // case, addresses) are kInvalidArgument naming the key. Needs serverAddr or endpoint.
  static Result<NacosOptions> FromProperties(const std::map<std::string, std::string>& properties);

  // From a registry URL, as Dubbo's NacosNamingServiceUtils: the address and `backup` become
  // `serverAddr`, every parameter named like a property above is copied (a `serverAddr` parameter
  // wins over the address), then non-empty user info overrides `username`/`password`; the result
  // goes through FromProperties.
  static Result<NacosOptions> FromUrl(const URL& registry_url);
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_REGISTRY_NACOS_NACOS_OPTIONS_H_
