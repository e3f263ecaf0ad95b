#include "nacos_registry_mapping.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace dubbo::registry::nacos::internal {
namespace {

constexpr std::string_view kDollarReplacement = "___";

// Nacos settings Dubbo 2.7 copies from the registry URL into every instance's metadata.
constexpr std::array<std::string_view, 5> kPreservedKeys = {
    "preserved.register.source", "preserved.heart.beat.timeout", "preserved.ip.delete.timeout",
    "preserved.heart.beat.interval", "preserved.instance.id.generator"};

// The categories a Nacos registry can hold instances of.
constexpr std::array<std::string_view, 2> kNacosCategories = {keys::kProvidersCategory,
                                                              keys::kConsumersCategory};

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t start = 0;
  while (true) {
    size_t pos = text.find(from, start);
    if (pos == std::string_view::npos) break;
    out.append(text.substr(start, pos - start));
    out.append(to);
    start = pos + from.size();
  }
  out.append(text.substr(start));
  return out;
}

std::vector<std::string> AcceptedCategories(const URL& subscription) {
  std::vector<std::string> out;
  const std::string_view expression = subscription.GetParameter(keys::kCategory);
  for (std::string_view category : kNacosCategories) {
    if (IsMatchCategory(category, expression)) out.emplace_back(category);
  }
  return out;
}

}  // namespace

bool IsConsumerUrl(const URL& url) {
  return url.GetParameter(keys::kSide) == "consumer" || url.protocol() == "consumer";
}

std::string RegisteredCategory(const URL& url) {
  std::string_view category = url.GetParameter(keys::kCategory);
  if (!category.empty()) return std::string(category);
  return std::string(IsConsumerUrl(url) ? keys::kConsumersCategory : keys::kProvidersCategory);
}

std::string ServiceName(std::string_view category, std::string_view interface,
                        std::string_view version, std::string_view group) {
  std::string name;
  name.reserve(category.size() + interface.size() + version.size() + group.size() + 3);
  name.append(category)
      .append(":")
      .append(interface)
      .append(":")
      .append(version)
      .append(":")
      .append(group);
  return ReplaceAll(name, "$", kDollarReplacement);
}

std::string RegisteredServiceName(const URL& url) {
  return ServiceName(RegisteredCategory(url), url.ServiceInterface(), url.Version(), url.Group());
}

std::string LegacyServiceName(std::string_view category, std::string_view interface,
                              std::string_view version, std::string_view group) {
  std::string name(category);
  for (std::string_view part : {interface, version, group}) {
    if (!part.empty()) name.append(":").append(part);
  }
  return ReplaceAll(name, "$", kDollarReplacement);
}

std::optional<ServiceNameParts> ParseServiceName(std::string_view name) {
  std::array<std::string_view, 4> parts;
  size_t start = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    size_t end = i + 1 < parts.size() ? name.find(':', start) : name.size();
    if (end == std::string_view::npos) return std::nullopt;
    parts[i] = name.substr(start, end - start);
    start = end + 1;
  }
  if (parts[3].find(':') != std::string_view::npos || parts[0].empty() || parts[1].empty()) {
    return std::nullopt;
  }
  ServiceNameParts out;
  out.category = std::string(parts[0]);
  out.interface = ReplaceAll(parts[1], kDollarReplacement, "$");
  out.version = std::string(parts[2]);
  out.group = std::string(parts[3]);
  return out;
}

bool IsConcrete(std::string_view value) {
  if (value == keys::kAnyValue) return false;
  // Java's String.split(","): trailing empty items do not count.
  while (!value.empty() && value.back() == ',') value.remove_suffix(1);
  return value.find(',') == std::string_view::npos;
}

SubscriptionPlan PlanSubscription(const URL& subscription, bool legacy_names) {
  SubscriptionPlan plan;
  plan.categories = AcceptedCategories(subscription);
  const std::string_view interface = subscription.ServiceInterface();
  const std::string_view version = subscription.Version();
  const std::string_view group = subscription.Group();
  plan.pattern = !IsConcrete(interface) || !IsConcrete(version) || !IsConcrete(group);
  if (plan.pattern) return plan;
  for (const std::string& category : plan.categories) {
    plan.names.push_back(ServiceName(category, interface, version, group));
    if (legacy_names) {
      std::string legacy = LegacyServiceName(category, interface, version, group);
      if (legacy != plan.names.back()) plan.names.push_back(std::move(legacy));
    }
  }
  return plan;
}

bool ServiceNameMatches(const URL& subscription, const ServiceNameParts& name) {
  if (std::find(kNacosCategories.begin(), kNacosCategories.end(), name.category) ==
      kNacosCategories.end()) {
    return false;
  }
  URL::Parameters params = {{std::string(keys::kCategory), name.category}};
  if (!name.version.empty()) params.emplace_back(keys::kVersion, name.version);
  if (!name.group.empty()) params.emplace_back(keys::kGroup, name.group);
  const URL candidate("nacos", "", 0, name.interface, std::move(params));
  // The classifier is not part of the name: the instances' URLs are checked against it later.
  return IsMatch(subscription.WithoutParameter(keys::kClassifier), candidate);
}

Instance UrlToInstance(const URL& url, const URL& registry_url) {
  Instance instance;
  std::string_view host = url.host();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  instance.ip = std::string(host);
  instance.port = url.port();
  double weight = url.GetDouble(keys::kWeight, kDefaultDubboWeight);
  if (!std::isfinite(weight)) weight = kDefaultDubboWeight;
  instance.weight = std::clamp(weight, 0.0, kMaxNacosWeight);
  instance.ephemeral = url.GetBool(kEphemeralKey, registry_url.GetBool(kEphemeralKey, true));
  instance.cluster_name.clear();
  for (const auto& [key, value] : url.parameters()) {
    if (!key.empty()) instance.metadata.emplace(key, value);
  }
  for (std::string_view key : kPreservedKeys) {
    if (std::optional<std::string_view> value = registry_url.FindParameter(key)) {
      instance.metadata.emplace(std::string(key),
                                std::string(*value));  // The URL's own value wins.
    }
  }
  instance.metadata[std::string(keys::kCategory)] = RegisteredCategory(url);
  instance.metadata[std::string(kProtocolKey)] = url.protocol();
  instance.metadata[std::string(kPathKey)] = url.path();
  return instance;
}

Result<URL> InstanceToUrl(const Instance& instance) {
  auto protocol = instance.metadata.find(std::string(kProtocolKey));
  if (protocol == instance.metadata.end() || protocol->second.empty()) {
    return InvalidArgumentError("instance " + instance.Address() +
                                " has no 'protocol' metadata: not registered by Dubbo");
  }
  std::string path;
  URL::Parameters params;
  params.reserve(instance.metadata.size());
  for (const auto& [key, value] : instance.metadata) {
    if (key == kProtocolKey) continue;
    if (key == kPathKey) {
      path = value;
      continue;
    }
    params.emplace_back(key, value);
  }
  std::string host = instance.ip;
  if (host.find(':') != std::string::npos && (host.empty() || host.front() != '[')) {
    host = "[" + host + "]";
  }
  return URL(protocol->second, std::move(host), instance.port, std::move(path), std::move(params));
}

}  // namespace dubbo::registry::nacos::internal
