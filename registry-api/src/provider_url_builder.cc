#include "dubbo/registry/provider_url_builder.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstdint>
#include <utility>

#include "dubbo/registry/version.h"
#include "internal/utf8.h"

namespace dubbo::registry {
namespace {

constexpr std::string_view kMethodsKey = "methods";
constexpr std::string_view kTimeoutKey = "timeout";
constexpr std::string_view kRetriesKey = "retries";
constexpr std::string_view kLoadBalanceKey = "loadbalance";
constexpr std::string_view kDeprecatedKey = "deprecated";
constexpr std::string_view kGenericKey = "generic";
constexpr std::string_view kDubboKey = "dubbo";
constexpr std::string_view kReleaseKey = "release";
constexpr std::string_view kPidKey = "pid";
constexpr std::string_view kAnyMethod = "*";

// Keys only the builder writes, each with the setter to use instead ("" when there is none).
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kOwnedKeys = {{
    {keys::kInterface, ""},
    {keys::kSide, ""},
    {kPidKey, ""},
    {keys::kTimestamp, ""},
    {keys::kApplication, "Application()"},
    {keys::kVersion, "Version()"},
    {keys::kGroup, "Group()"},
    {kMethodsKey, "Methods()"},
    {keys::kWeight, "Weight()"},
    {kTimeoutKey, "Timeout()"},
    {kRetriesKey, "Retries()"},
    {kLoadBalanceKey, "LoadBalance()"},
    {keys::kWarmup, "Warmup()"},
    {keys::kAnyHost, "AnyHost()"},
    {kDeprecatedKey, "Deprecated()"},
    {keys::kDynamic, "Dynamic()"},
}};

// Protocols that mark URLs other than a provider's.
constexpr std::array<std::string_view, 4> kReservedProtocols = {"empty", "consumer", "override",
                                                                "route"};

constexpr bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

Status Invalid(std::string_view what) { return InvalidArgumentError(what); }

bool AllOf(std::string_view text, bool (*allowed)(char)) {
  return std::all_of(text.begin(), text.end(), allowed);
}

bool IsKeyChar(char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; }

Status CheckKey(std::string_view key, std::string_view what) {
  if (key.empty()) return Invalid(std::string(what) + " is empty");
  if (!AllOf(key, IsKeyChar)) {
    return Invalid(std::string(what) + " " + Quote(key) +
                   " may only hold letters, digits, '_', '.' and '-'");
  }
  if (key.compare(0, keys::kDefaultKeyPrefix.size(), keys::kDefaultKeyPrefix) == 0) {
    return Invalid(std::string(what) + " " + Quote(key) +
                   ": a key starting with \"default.\" also sets the key without it when parsed");
  }
  return Status::Ok();
}

Status CheckValue(std::string_view key, std::string_view value) {
  if (!internal::IsValidUtf8(value)) {
    return Invalid("the value of " + Quote(key) + " is not valid UTF-8");
  }
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == ' ') {
      return Invalid("the value of " + Quote(key) +
                     " holds whitespace or a control character, which URL lists (the cache file) "
                     "cannot carry");
    }
    if (c == '&' || c == ';') {
      return Invalid("the value of " + Quote(key) + " holds '" + std::string(1, c) +
                     "', which separates URL parameters");
    }
  }
  return Status::Ok();
}

// Version and group end up as segments of the Nacos service name and in consumers' matching.
Status CheckServiceKeyPart(std::string_view key, std::string_view value) {
  DUBBO_RETURN_IF_ERROR(CheckValue(key, value));
  if (value.find_first_of(":,*") != std::string_view::npos) {
    return Invalid("the " + std::string(key) + " " + Quote(value) +
                   " holds ':' (the Nacos service name separator), ',' or '*' (consumers read "
                   "those as lists and wildcards)");
  }
  return Status::Ok();
}

Status CheckProtocol(std::string_view protocol) {
  if (protocol.empty()) return Invalid("the protocol is empty");
  const bool scheme = IsAlpha(protocol.front()) && AllOf(protocol, [](char c) {
                        return IsAlnum(c) || c == '+' || c == '-' || c == '.';
                      });
  if (!scheme) {
    return Invalid("the protocol " + Quote(protocol) +
                   " is not a URL scheme (a letter, then letters, digits, '+', '-', '.')");
  }
  for (std::string_view reserved : kReservedProtocols) {
    if (protocol == reserved) {
      return Invalid("the protocol " + Quote(protocol) + " marks URLs that are not a provider's");
    }
  }
  return Status::Ok();
}

bool IsDnsName(std::string_view host) {
  if (host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !AllOf(label, [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

Status UnspecifiedHost(std::string_view host) {
  return Invalid("the host " + Quote(host) +
                 " is the unspecified address, which consumers cannot connect to: register the "
                 "address they dial (AnyHost(true) says the server listens on all)");
}

// Checks `host` and writes its URL form to `out` (an IPv6 literal in brackets).
Status CheckHost(std::string_view host, std::string* out) {
  if (host.empty()) return Invalid("the host is empty");
  std::string_view inner = host;
  const bool bracketed = host.front() == '[';
  if (bracketed) {
    if (host.size() < 2 || host.back() != ']') {
      return Invalid("the host " + Quote(host) + " opens a bracket it does not close");
    }
    inner = host.substr(1, host.size() - 2);
  }
  if (bracketed || inner.find(':') != std::string_view::npos) {
    std::string_view address = inner;
    const size_t percent = inner.find('%');
    if (percent != std::string_view::npos) {
      address = inner.substr(0, percent);
      const std::string_view zone = inner.substr(percent + 1);
      if (zone.empty() || !AllOf(zone, IsKeyChar)) {
        return Invalid("the host " + Quote(host) + " has an invalid IPv6 zone id");
      }
    }
    in6_addr parsed{};
    if (inet_pton(AF_INET6, std::string(address).c_str(), &parsed) != 1) {
      return Invalid("the host " + Quote(host) + " is not a valid IPv6 address");
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&parsed)) {
      return UnspecifiedHost(host);
    }
    *out = "[" + std::string(inner) + "]";
    return Status::Ok();
  }
  if (AllOf(host, [](char c) { return IsDigit(c) || c == '.'; })) {
    in_addr parsed{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &parsed) != 1) {
      return Invalid("the host " + Quote(host) + " is not a valid IPv4 address");
    }
    if (parsed.s_addr == INADDR_ANY) {
      return UnspecifiedHost(host);
    }
    *out = std::string(host);
    return Status::Ok();
  }
  if (!IsDnsName(host)) {
    return Invalid("the host " + Quote(host) + " is neither an IP address nor a DNS name");
  }
  *out = std::string(host);
  return Status::Ok();
}

Status CheckInterface(std::string_view interface) {
  if (interface.empty()) return Invalid("the service interface is empty");
  if (!AllOf(interface, [](char c) { return IsKeyChar(c) || c == '$'; })) {
    return Invalid("the service interface " + Quote(interface) +
                   " may only hold letters, digits, '_', '$', '.' and '-'");
  }
  return Status::Ok();
}

Status CheckMethod(std::string_view method) {
  DUBBO_RETURN_IF_ERROR(CheckKey(method, "a method name"));
  if (method.find('.') != std::string_view::npos) {
    return Invalid("the method name " + Quote(method) + " holds '.'");
  }
  return Status::Ok();
}

// Whole milliseconds, rounded up, so that a positive duration stays positive.
int64_t CeilMillis(Duration duration) {
  return std::chrono::ceil<std::chrono::milliseconds>(duration).count();
}

}  // namespace

ProviderUrlBuilder::ProviderUrlBuilder(std::string protocol, std::string host, int port,
                                       std::string service_interface)
    : protocol_(std::move(protocol)),
      host_(std::move(host)),
      port_(port),
      interface_(std::move(service_interface)),
      clock_(Clock::Real()) {}

void ProviderUrlBuilder::Fail(Status status) {
  if (first_error_.ok()) first_error_ = std::move(status);
}

void ProviderUrlBuilder::Set(std::string_view key, std::string_view value) {
  Status status = CheckValue(key, value);
  if (!status.ok()) return Fail(std::move(status));
  parameters_.insert_or_assign(std::string(key), std::string(value));
}

ProviderUrlBuilder& ProviderUrlBuilder::Application(std::string_view name) {
  Set(keys::kApplication, name);
  return *this;
}

void ProviderUrlBuilder::SetServiceKeyPart(std::string_view key, std::string_view value) {
  Status status = CheckServiceKeyPart(key, value);
  if (!status.ok()) {
    Fail(std::move(status));
  } else if (value.empty()) {
    parameters_.erase(std::string(key));
  } else {
    Set(key, value);
  }
}

ProviderUrlBuilder& ProviderUrlBuilder::Version(std::string_view version) {
  SetServiceKeyPart(keys::kVersion, version);
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Group(std::string_view group) {
  SetServiceKeyPart(keys::kGroup, group);
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Methods(std::vector<std::string> methods) {
  std::sort(methods.begin(), methods.end());
  for (size_t i = 0; i < methods.size(); ++i) {
    Status status = CheckMethod(methods[i]);
    if (status.ok() && i > 0 && methods[i] == methods[i - 1]) {
      status = Invalid("the method " + Quote(methods[i]) + " is listed twice");
    }
    if (!status.ok()) {
      Fail(std::move(status));
      return *this;
    }
  }
  methods_ = std::move(methods);
  methods_set_ = true;
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Weight(int weight) {
  if (weight < 0) {
    Fail(Invalid("the weight " + std::to_string(weight) + " is negative (accepted: 0.." +
                 std::to_string(INT_MAX) + ")"));
  } else {
    Set(keys::kWeight, std::to_string(weight));
  }
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Timeout(Duration timeout) {
  if (timeout <= Duration::zero()) {
    Fail(Invalid("the timeout must be positive"));
  } else {
    Set(kTimeoutKey, std::to_string(CeilMillis(timeout)));
  }
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Retries(int retries) {
  if (retries < 0) {
    Fail(Invalid("the retries " + std::to_string(retries) + " are negative"));
  } else {
    Set(kRetriesKey, std::to_string(retries));
  }
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::LoadBalance(std::string_view name) {
  Status status = CheckKey(name, "the load balancer name");
  if (!status.ok()) {
    Fail(std::move(status));
  } else {
    Set(kLoadBalanceKey, name);
  }
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Warmup(Duration warmup) {
  if (warmup < Duration::zero()) {
    Fail(Invalid("the warm-up period is negative"));
  } else {
    Set(keys::kWarmup, std::to_string(CeilMillis(warmup)));
  }
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::AnyHost(bool any_host) {
  Set(keys::kAnyHost, any_host ? "true" : "false");
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Deprecated(bool deprecated) {
  Set(kDeprecatedKey, deprecated ? "true" : "false");
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Dynamic(bool dynamic) {
  Set(keys::kDynamic, dynamic ? "true" : "false");
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::Parameter(std::string_view key, std::string_view value) {
  Status status = CheckKey(key, "the parameter key");
  for (const auto& [owned, setter] : kOwnedKeys) {
    if (status.ok() && key == owned) {
      status = Invalid("the parameter " + Quote(key) + " is written by the builder" +
                       (setter.empty() ? std::string() : "; use " + std::string(setter)));
    }
  }
  if (status.ok() && key == keys::kCategory && value != keys::kProvidersCategory) {
    status = Invalid("a provider URL's category can only be \"providers\", not " + Quote(value));
  }
  if (!status.ok()) {
    Fail(std::move(status));
  } else {
    Set(key, value);
  }
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::MethodParameter(std::string_view method,
                                                        std::string_view key,
                                                        std::string_view value) {
  const std::string full_key = std::string(method) + "." + std::string(key);
  Status status = CheckMethod(method);
  if (status.ok()) status = CheckKey(key, "the method parameter key");
  // A method named "default" would make a `default.*` key.
  if (status.ok()) status = CheckKey(full_key, "the method parameter");
  if (!status.ok()) {
    Fail(std::move(status));
    return *this;
  }
  parameter_methods_.emplace_back(method);
  Set(full_key, value);
  return *this;
}

ProviderUrlBuilder& ProviderUrlBuilder::UseClock(const Clock* clock) {
  clock_ = clock != nullptr ? clock : Clock::Real();
  return *this;
}

Result<URL> ProviderUrlBuilder::Build() const {
  DUBBO_RETURN_IF_ERROR(CheckProtocol(protocol_));
  std::string host;
  DUBBO_RETURN_IF_ERROR(CheckHost(host_, &host));
  if (port_ < 1 || port_ > 65535) {
    return Invalid("the port " + std::to_string(port_) + " is outside 1..65535");
  }
  DUBBO_RETURN_IF_ERROR(CheckInterface(interface_));
  DUBBO_RETURN_IF_ERROR(first_error_);
  if (methods_set_) {
    for (const std::string& method : parameter_methods_) {
      if (!std::binary_search(methods_.begin(), methods_.end(), method)) {
        return Invalid("a method parameter names " + Quote(method) +
                       ", which is not one of the service's methods");
      }
    }
  }

  URL::Parameters parameters(parameters_.begin(), parameters_.end());
  auto add_default = [&](std::string_view key, std::string value) {
    if (parameters_.find(key) == parameters_.end()) parameters.emplace_back(key, std::move(value));
  };
  parameters.emplace_back(keys::kInterface, interface_);
  parameters.emplace_back(keys::kSide, "provider");
  parameters.emplace_back(kPidKey, std::to_string(::getpid()));
  parameters.emplace_back(keys::kTimestamp, std::to_string(clock_->WallMillis()));
  std::string methods;
  for (const std::string& method : methods_) {
    if (!methods.empty()) methods.push_back(',');
    methods.append(method);
  }
  parameters.emplace_back(kMethodsKey,
                          methods_set_ && !methods.empty() ? methods : std::string(kAnyMethod));
  add_default(keys::kAnyHost, "false");
  add_default(kDeprecatedKey, "false");
  add_default(keys::kDynamic, "true");
  add_default(kGenericKey, "false");
  add_default(kDubboKey, std::string(kDubboProtocolVersion));
  add_default(kReleaseKey, DUBBO_REGISTRY_VERSION);
  return URL(protocol_, std::move(host), port_, interface_, std::move(parameters));
}

}  // namespace dubbo::registry
