// NacosOptions: properties and registry URLs into options.
//
// Property keys. The Java SDK's (PropertyKeyConst) names:
//   serverAddr                        server_addresses: "h1:8848,[::1]:8848,http://h2:8848"
//   endpoint, endpointPort            endpoint ("host" or "host:port"; a port there wins over
//                                     endpointPort), endpoint_port [1, 65535]
//   namespace                         namespace_id (no '/', '\', control characters, "." or "..":
//                                     it names a cache directory)
//   username, password                taken as given, never trimmed, never echoed in errors
//   contextPath                       context_path, normalised to a leading '/' and no trailing '/'
//                                     ("/" gives "", the root context)
//   clusterName                       cluster_name
//   namingCacheRegistryDir            a sub directory of cache_dir (relative, no ".." part)
//   namingLoadCacheAtStart            load_cache_at_start, true/false
//   namingPushEmptyProtection         push_empty_protection, true/false
//   namingRequestDomainMaxRetryCount  max_retry [1, 1000]
// The Java SDK's JVM property JM.SNAPSHOT.PATH (replaces $HOME as the root of cache_dir) is also
// read as a property. Our own keys (durations in milliseconds, [1, 2147483647]):
//   appName                   app_name
//   udpPort                   udp_port [0, 65535]
//   clientIp                  client_ip, an IPv4 or IPv6 literal
//   httpPipelineDepth         http_pipeline_depth [1, 64]
//   connectTimeout            connect_timeout_ms
//   requestTimeout            request_timeout_ms
//   beatInterval              beat_interval_ms, from 1000
//   endpointRefreshInterval   endpoint_refresh_ms
//   maxPollBackoff            max_poll_backoff_ms
//   failoverCheckInterval     failover_check_ms
//   shutdownTimeout           shutdown_timeout_ms
//   namingProtocol            naming_protocol: auto, grpc or http, in any case
//   grpcPortOffset            grpc_port_offset [1, 65535]
//   grpcRetryInterval         grpc_retry_interval_ms
//   grpcHealthCheckInterval   grpc_health_check_interval_ms
//   grpcMaxInboundMessageSize grpc_max_message_bytes [4096, 104857600]
// Values are trimmed (except credentials); an empty or blank value means "use the default".
// Booleans are "true"/"false" in any case.
//
// Thread-safety: stateless functions.
#include "dubbo/registry/nacos/nacos_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <system_error>

#include "nacos_options_check.h"
#include "server_json.h"

namespace dubbo::registry::nacos {

namespace {

constexpr std::string_view kServerAddr = "serverAddr";
constexpr std::string_view kEndpoint = "endpoint";
constexpr std::string_view kEndpointPort = "endpointPort";
constexpr std::string_view kNamespace = "namespace";
constexpr std::string_view kUsername = "username";
constexpr std::string_view kPassword = "password";
constexpr std::string_view kContextPath = "contextPath";
constexpr std::string_view kClusterName = "clusterName";
constexpr std::string_view kCacheRegistryDir = "namingCacheRegistryDir";
constexpr std::string_view kLoadCacheAtStart = "namingLoadCacheAtStart";
constexpr std::string_view kPushEmptyProtection = "namingPushEmptyProtection";
constexpr std::string_view kMaxRetry = "namingRequestDomainMaxRetryCount";
constexpr std::string_view kSnapshotPath = "JM.SNAPSHOT.PATH";
constexpr std::string_view kAppName = "appName";
constexpr std::string_view kUdpPort = "udpPort";
constexpr std::string_view kClientIp = "clientIp";
constexpr std::string_view kConnectTimeout = "connectTimeout";
constexpr std::string_view kRequestTimeout = "requestTimeout";
constexpr std::string_view kBeatInterval = "beatInterval";
constexpr std::string_view kEndpointRefresh = "endpointRefreshInterval";
constexpr std::string_view kMaxPollBackoff = "maxPollBackoff";
constexpr std::string_view kFailoverCheck = "failoverCheckInterval";
constexpr std::string_view kHttpPipelineDepth = "httpPipelineDepth";
constexpr std::string_view kShutdownTimeout = "shutdownTimeout";
constexpr std::string_view kNamingProtocol = "namingProtocol";
constexpr std::string_view kGrpcPortOffset = "grpcPortOffset";
constexpr std::string_view kGrpcRetryInterval = "grpcRetryInterval";
constexpr std::string_view kGrpcHealthCheckInterval = "grpcHealthCheckInterval";
constexpr std::string_view kGrpcMaxInboundMessageSize = "grpcMaxInboundMessageSize";

constexpr std::array<std::string_view, 29> kKnownKeys = {
    kServerAddr,
    kEndpoint,
    kEndpointPort,
    kNamespace,
    kUsername,
    kPassword,
    kContextPath,
    kClusterName,
    kCacheRegistryDir,
    kLoadCacheAtStart,
    kPushEmptyProtection,
    kMaxRetry,
    kSnapshotPath,
    kAppName,
    kUdpPort,
    kClientIp,
    kConnectTimeout,
    kRequestTimeout,
    kBeatInterval,
    kEndpointRefresh,
    kMaxPollBackoff,
    kFailoverCheck,
    kHttpPipelineDepth,
    kShutdownTimeout,
    kNamingProtocol,
    kGrpcPortOffset,
    kGrpcRetryInterval,
    kGrpcHealthCheckInterval,
    kGrpcMaxInboundMessageSize,
};

// The smallest and largest grpcMaxInboundMessageSize: a 4 KiB cap still holds any single answer
// but a large service's; 100 MiB bounds what one message may make the client allocate.
constexpr int64_t kMinGrpcMessageBytes = 4096;
constexpr int64_t kMaxGrpcMessageBytes = 104857600;

constexpr int kDefaultServerPort = 8848;
constexpr int64_t kMaxDurationMs = 2147483647;  // About 24.8 days; keeps any arithmetic in range.

// Every numeric option: its property, its field and the range both FromProperties and
// CheckNacosOptions() (so NamingClient::Create) hold it to. Exactly one of `wide`, `narrow` is set.
struct NumericOption {
  std::string_view key;
  std::string_view field;
  int64_t min;
  int64_t max;
  int64_t NacosOptions::*wide;
  int NacosOptions::*narrow;
};

constexpr NumericOption IntOption(std::string_view key, std::string_view field, int64_t min,
                                  int64_t max, int NacosOptions::*member) {
  return NumericOption{key, field, min, max, nullptr, member};
}
constexpr NumericOption DurationOption(std::string_view key, std::string_view field,
                                       int64_t NacosOptions::*member, int64_t min = 1) {
  return NumericOption{key, field, min, kMaxDurationMs, member, nullptr};
}

constexpr NumericOption kNumericOptions[] = {
    IntOption(kEndpointPort, "endpoint_port", 1, 65535, &NacosOptions::endpoint_port),
    IntOption(kMaxRetry, "max_retry", 1, 1000, &NacosOptions::max_retry),
    IntOption(kUdpPort, "udp_port", 0, 65535, &NacosOptions::udp_port),
    IntOption(kHttpPipelineDepth, "http_pipeline_depth", 1, 64, &NacosOptions::http_pipeline_depth),
    IntOption(kGrpcPortOffset, "grpc_port_offset", 1, 65535, &NacosOptions::grpc_port_offset),
    DurationOption(kConnectTimeout, "connect_timeout_ms", &NacosOptions::connect_timeout_ms),
    DurationOption(kRequestTimeout, "request_timeout_ms", &NacosOptions::request_timeout_ms),
    // A beat period shorter than a second is a beat storm.
    DurationOption(kBeatInterval, "beat_interval_ms", &NacosOptions::beat_interval_ms,
                   kMinBeatPeriodMs),
    DurationOption(kEndpointRefresh, "endpoint_refresh_ms", &NacosOptions::endpoint_refresh_ms),
    DurationOption(kMaxPollBackoff, "max_poll_backoff_ms", &NacosOptions::max_poll_backoff_ms),
    DurationOption(kFailoverCheck, "failover_check_ms", &NacosOptions::failover_check_ms),
    DurationOption(kShutdownTimeout, "shutdown_timeout_ms", &NacosOptions::shutdown_timeout_ms),
    DurationOption(kGrpcRetryInterval, "grpc_retry_interval_ms",
                   &NacosOptions::grpc_retry_interval_ms),
    DurationOption(kGrpcHealthCheckInterval, "grpc_health_check_interval_ms",
                   &NacosOptions::grpc_health_check_interval_ms),
    NumericOption{kGrpcMaxInboundMessageSize, "grpc_max_message_bytes", kMinGrpcMessageBytes,
                  kMaxGrpcMessageBytes, &NacosOptions::grpc_max_message_bytes, nullptr},
};

int64_t ValueOf(const NacosOptions& options, const NumericOption& option) {
  return option.wide != nullptr ? options.*option.wide : options.*option.narrow;
}

void SetValue(const NumericOption& option, int64_t value, NacosOptions* options) {
  if (option.wide != nullptr) {
    options->*option.wide = value;
  } else {
    options->*option.narrow = static_cast<int>(value);
  }
}

std::string RangeText(const NumericOption& option) {
  return "an integer in [" + std::to_string(option.min) + ", " + std::to_string(option.max) + "]";
}

constexpr std::string_view kWhitespace = " \t\r\n\f\v";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool HasControlChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

// At most 64 characters of a user's value, for an error message.
std::string Quote(std::string_view value) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  out.append(value.substr(0, kMax));
  if (value.size() > kMax) out.append("...");
  out.push_back('\'');
  return out;
}

Status BadProperty(std::string_view key, std::string_view problem) {
  std::string message = "NacosOptions: property '";
  message.append(key).append("': ").append(problem);
  return InvalidArgumentError(message);
}

Status BadValue(std::string_view key, std::string_view expected, std::string_view value) {
  return BadProperty(key, "expected " + std::string(expected) + ", got " + Quote(value));
}

// Reads values from a properties map: trimmed, nullopt when absent or blank.
class PropertyReader {
 public:
  explicit PropertyReader(const std::map<std::string, std::string>& properties)
      : properties_(properties) {}

  std::optional<std::string_view> Get(std::string_view key) const {
    const std::optional<std::string_view> raw = GetRaw(key);
    if (!raw) return std::nullopt;
    return Trim(*raw);
  }

  // Untrimmed; nullopt when absent or blank.
  std::optional<std::string_view> GetRaw(std::string_view key) const {
    const auto it = properties_.find(std::string(key));
    if (it == properties_.end() || Trim(it->second).empty()) return std::nullopt;
    return std::string_view(it->second);
  }

  Status GetInt(std::string_view key, int64_t min, int64_t max, int64_t* out) const {
    const std::optional<std::string_view> value = Get(key);
    if (!value) return Status::Ok();
    int64_t parsed = 0;
    const char* end = value->data() + value->size();
    const std::from_chars_result result = std::from_chars(value->data(), end, parsed);
    if (result.ec != std::errc() || result.ptr != end || parsed < min || parsed > max) {
      return BadValue(
          key, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]", *value);
    }
    *out = parsed;
    return Status::Ok();
  }

  // The property of `option`, range-checked, into `options`.
  Status GetNumeric(const NumericOption& option, NacosOptions* options) const {
    int64_t value = ValueOf(*options, option);
    DUBBO_RETURN_IF_ERROR(GetInt(option.key, option.min, option.max, &value));
    SetValue(option, value, options);
    return Status::Ok();
  }

  Status GetBool(std::string_view key, bool* out) const {
    const std::optional<std::string_view> value = Get(key);
    if (!value) return Status::Ok();
    if (value->size() == 4 && StartsWithIgnoreCase(*value, "true")) {
      *out = true;
    } else if (value->size() == 5 && StartsWithIgnoreCase(*value, "false")) {
      *out = false;
    } else {
      return BadValue(key, "true or false", *value);
    }
    return Status::Ok();
  }

 private:
  const std::map<std::string, std::string>& properties_;
};

// "1".."65535".
bool ParsePort(std::string_view text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || value < 1 || value > 65535) return false;
  *port = value;
  return true;
}

// Splits "host", "host:port", "[v6]" or "[v6]:port". *port is 0 when absent. Returns an error
// text, empty on success.
std::string SplitHostPort(std::string_view authority, std::string_view* host, int* port) {
  *port = 0;
  std::string_view rest;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unclosed '['";
    if (close == 1) return "empty IPv6 address";
    *host = authority.substr(0, close + 1);
    rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return "unexpected text after ']'";
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return "an IPv6 address must be in brackets ([::1]:8848)";
    }
    *host = authority.substr(0, colon);
    if (colon != std::string_view::npos) rest = authority.substr(colon);
  }
  if (host->empty()) return "empty host";
  const std::string_view name = host->front() == '[' ? host->substr(1, host->size() - 2) : *host;
  const bool bad_char = std::any_of(name.begin(), name.end(), [&](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F ||
           std::string_view("/?#@[]\\").find(c) != std::string_view::npos ||
           (c == ':' && host->front() != '[');
  });
  if (bad_char) return "invalid character in host";
  if (!rest.empty() && !ParsePort(rest.substr(1), port)) return "port is not in [1, 65535]";
  return {};
}

// One serverAddr entry into "host:port" or "scheme://host:port[/path]". A bare host gets 8848; a
// URL without a port gets its scheme's (80 or 443), as the Java client would use it.
Status NormalizeServerAddress(std::string_view entry, std::string* out) {
  std::string_view scheme;
  int default_port = kDefaultServerPort;
  std::string_view rest = entry;
  if (StartsWithIgnoreCase(entry, "http://")) {
    scheme = "http://";
    default_port = 80;
  } else if (StartsWithIgnoreCase(entry, "https://")) {
    scheme = "https://";
    default_port = 443;
  }
  rest.remove_prefix(scheme.size());
  std::string_view path;
  if (!scheme.empty()) {
    const size_t slash = rest.find_first_of("/?#");
    if (slash != std::string_view::npos) {
      path = rest.substr(slash);
      rest = rest.substr(0, slash);
    }
  }
  if (rest.find_first_of(" \t@") != std::string_view::npos || HasControlChar(entry)) {
    return BadValue(kServerAddr, "host[:port] or http(s)://host[:port]", entry);
  }
  std::string_view host;
  int port = 0;
  const std::string problem = SplitHostPort(rest, &host, &port);
  if (!problem.empty()) return BadProperty(kServerAddr, problem + " in " + Quote(entry));
  out->assign(scheme);
  out->append(host).append(":").append(std::to_string(port == 0 ? default_port : port));
  out->append(path);
  return Status::Ok();
}

Status ParseServerList(std::string_view list, std::vector<std::string>* servers) {
  servers->clear();
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view entry = Trim(list.substr(0, comma));
    if (!entry.empty()) {
      std::string normalized;
      DUBBO_RETURN_IF_ERROR(NormalizeServerAddress(entry, &normalized));
      servers->push_back(std::move(normalized));
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return Status::Ok();
}

// $HOME, else the passwd entry's home directory, else "/tmp".
std::string HomeDirectory() {
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return home;
  std::array<char, 4096> buffer;
  struct passwd entry;
  struct passwd* found = nullptr;
  if (getpwuid_r(getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] != '\0') {
    return found->pw_dir;
  }
  return "/tmp";
}

bool IsIpLiteral(std::string_view text) {
  const std::string copy(text);
  in6_addr address;
  return inet_pton(AF_INET, copy.c_str(), &address) == 1 ||
         inet_pton(AF_INET6, copy.c_str(), &address) == 1;
}

// A relative path without "." or ".." parts (empty parts from doubled slashes are dropped).
Status NormalizeSubDirectory(std::string_view key, std::string_view dir, std::string* out) {
  if (HasControlChar(dir) || dir.front() == '/') {
    return BadValue(key, "a relative directory", dir);
  }
  out->clear();
  while (!dir.empty()) {
    const size_t slash = dir.find('/');
    const std::string_view part = dir.substr(0, slash);
    if (part == "." || part == "..") return BadValue(key, "a directory without '.' or '..'", dir);
    if (!part.empty()) {
      if (!out->empty()) out->push_back('/');
      out->append(part);
    }
    if (slash == std::string_view::npos) break;
    dir.remove_prefix(slash + 1);
  }
  return Status::Ok();
}

}  // namespace

Result<NacosOptions> NacosOptions::FromProperties(
    const std::map<std::string, std::string>& properties) {
  NacosOptions options;
  const PropertyReader reader(properties);

  if (auto value = reader.Get(kServerAddr)) {
    DUBBO_RETURN_IF_ERROR(ParseServerList(*value, &options.server_addresses));
  }
  for (const NumericOption& option : kNumericOptions) {
    DUBBO_RETURN_IF_ERROR(reader.GetNumeric(option, &options));
  }
  if (auto value = reader.Get(kEndpoint)) {
    if (StartsWithIgnoreCase(*value, "http://") || StartsWithIgnoreCase(*value, "https://") ||
        value->find_first_of(" \t/?#@") != std::string_view::npos || HasControlChar(*value)) {
      return BadValue(kEndpoint, "host or host:port", *value);
    }
    std::string_view host;
    int port = 0;
    const std::string problem = SplitHostPort(*value, &host, &port);
    if (!problem.empty()) return BadProperty(kEndpoint, problem + " in " + Quote(*value));
    options.endpoint = std::string(host);
    if (port != 0) options.endpoint_port = port;
  }
  if (options.server_addresses.empty() && options.endpoint.empty()) {
    return InvalidArgumentError(
        "NacosOptions: no server: set property 'serverAddr' (host[:port],...) or 'endpoint'");
  }

  if (auto value = reader.Get(kNamespace)) {
    if (*value == "." || *value == ".." || value->find_first_of("/\\") != std::string_view::npos ||
        HasControlChar(*value)) {
      return BadValue(kNamespace, "a namespace id without '/', '\\' or control characters", *value);
    }
    options.namespace_id = std::string(*value);
  }
  if (auto value = reader.GetRaw(kUsername)) options.username = std::string(*value);
  if (auto value = reader.GetRaw(kPassword)) options.password = std::string(*value);
  if (auto value = reader.Get(kContextPath)) {
    if (value->find_first_of(" \t?#") != std::string_view::npos || HasControlChar(*value)) {
      return BadValue(kContextPath, "a path such as /nacos", *value);
    }
    std::string path(*value);
    if (path.front() != '/') path.insert(path.begin(), '/');
    while (!path.empty() && path.back() == '/') path.pop_back();
    options.context_path = std::move(path);
  }
  if (auto value = reader.Get(kAppName)) options.app_name = std::string(*value);
  if (auto value = reader.Get(kClusterName)) options.cluster_name = std::string(*value);

  std::string sub_dir;
  if (auto value = reader.Get(kCacheRegistryDir)) {
    DUBBO_RETURN_IF_ERROR(NormalizeSubDirectory(kCacheRegistryDir, *value, &sub_dir));
  }
  std::string root;
  if (auto value = reader.Get(kSnapshotPath)) {
    root = std::string(*value);
  } else {
    root = HomeDirectory();
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root == "/") root.clear();
  options.cache_dir =
      root + "/nacos" + (sub_dir.empty() ? "" : "/" + sub_dir) + "/naming/" + options.namespace_id;

  DUBBO_RETURN_IF_ERROR(reader.GetBool(kLoadCacheAtStart, &options.load_cache_at_start));
  DUBBO_RETURN_IF_ERROR(reader.GetBool(kPushEmptyProtection, &options.push_empty_protection));
  if (auto value = reader.Get(kClientIp)) {
    if (!IsIpLiteral(*value)) return BadValue(kClientIp, "an IPv4 or IPv6 address", *value);
    options.client_ip = std::string(*value);
  }

  if (auto value = reader.Get(kNamingProtocol)) {
    if (value->size() == 4 && StartsWithIgnoreCase(*value, "auto")) {
      options.naming_protocol = NamingProtocol::kAuto;
    } else if (value->size() == 4 && StartsWithIgnoreCase(*value, "grpc")) {
      options.naming_protocol = NamingProtocol::kGrpc;
    } else if (value->size() == 4 && StartsWithIgnoreCase(*value, "http")) {
      options.naming_protocol = NamingProtocol::kHttp;
    } else {
      return BadValue(kNamingProtocol, "auto, grpc or http", *value);
    }
  }
  return options;
}

Status CheckNacosOptions(const NacosOptions& options) {
  if (options.server_addresses.empty() && options.endpoint.empty()) {
    return InvalidArgumentError("NacosOptions: no server: set server_addresses or endpoint");
  }
  if (!options.client_ip.empty() && !IsIpLiteral(options.client_ip)) {
    return InvalidArgumentError(
        "NacosOptions: field client_ip: expected an IPv4 or IPv6 address, got " +
        Quote(options.client_ip));
  }
  for (const NumericOption& option : kNumericOptions) {
    const int64_t value = ValueOf(options, option);
    if (value < option.min || value > option.max) {
      return InvalidArgumentError("NacosOptions: field " + std::string(option.field) +
                                  " (property '" + std::string(option.key) + "'): expected " +
                                  RangeText(option) + ", got " + std::to_string(value));
    }
  }
  return Status::Ok();
}

Result<NacosOptions> NacosOptions::FromUrl(const URL& registry_url) {
  std::map<std::string, std::string> properties;
  // As Dubbo's NacosNamingServiceUtils: serverAddr from the address and `backup`, then every
  // parameter named like a property (a `serverAddr` parameter included), then the user info.
  std::string servers = registry_url.host().empty()
                            ? std::string(registry_url.GetParameter(keys::kBackup))
                            : registry_url.BackupAddress();
  if (!servers.empty()) properties[std::string(kServerAddr)] = std::move(servers);
  for (const auto& [key, value] : registry_url.parameters()) {
    if (std::find(kKnownKeys.begin(), kKnownKeys.end(), key) != kKnownKeys.end()) {
      properties[key] = value;
    }
  }
  if (!registry_url.username().empty()) {
    properties[std::string(kUsername)] = registry_url.username();
  }
  if (!registry_url.password().empty()) {
    properties[std::string(kPassword)] = registry_url.password();
  }
  return FromProperties(properties);
}

}  // namespace dubbo::registry::nacos
