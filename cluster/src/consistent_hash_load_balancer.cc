// `consistenthash`: Dubbo's ring (see load_balancer.h for the exact points and key). The ring
// depends only on the provider addresses, so it is built once per provider list (topology scope)
// and shared by warm-up re-weightings.
//
// Thread-safety: the ring is immutable once built.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal/load_balancers.h"
#include "internal/md5.h"

namespace dubbo::cluster::internal {
namespace {

using registry::internal::Md5;
using registry::internal::Md5Digest;

constexpr int64_t kDefaultNodes = 160;
constexpr int64_t kMaxNodes = 1 << 16;

struct Ring {
  // (point, provider index), sorted by point, points unique.
  std::vector<std::pair<uint32_t, uint32_t>> points;
};

uint32_t Point(const Md5Digest& d, int h) {
  return static_cast<uint32_t>(d[4 * h]) | static_cast<uint32_t>(d[4 * h + 1]) << 8 |
         static_cast<uint32_t>(d[4 * h + 2]) << 16 | static_cast<uint32_t>(d[4 * h + 3]) << 24;
}

std::shared_ptr<const Ring> BuildRing(const ProviderSnapshot& snapshot, int64_t nodes) {
  auto ring = std::make_shared<Ring>();
  ring->points.reserve(snapshot.size() * static_cast<size_t>(nodes));
  for (size_t i = 0; i < snapshot.size(); ++i) {
    const std::string& address = snapshot[i].address();
    for (int64_t r = 0; r < nodes / 4; ++r) {
      const Md5Digest digest = Md5(address + std::to_string(r));
      for (int h = 0; h < 4; ++h)
        ring->points.emplace_back(Point(digest, h), static_cast<uint32_t>(i));
    }
  }
  // Dubbo fills a TreeMap: a point seen again is taken over by the later provider.
  std::stable_sort(ring->points.begin(), ring->points.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<uint32_t, uint32_t>> unique;
  unique.reserve(ring->points.size());
  for (const auto& point : ring->points) {
    if (!unique.empty() && unique.back().first == point.first) {
      unique.back() = point;
    } else {
      unique.push_back(point);
    }
  }
  ring->points = std::move(unique);
  return ring;
}

bool ParseNonNegative(std::string_view text, int64_t* out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty() || text.size() > 9) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

class ConsistentHashLoadBalancer final : public LoadBalancer {
 public:
  ConsistentHashLoadBalancer(int64_t nodes, std::vector<size_t> arguments)
      : nodes_(nodes), arguments_(std::move(arguments)) {}

  std::string_view name() const override { return "consistenthash"; }

  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& invocation,
                         const ProviderFilter* filter) const override {
    if (snapshot.empty()) return nullptr;
    const Ring& ring = snapshot.GetOrBuild<Ring>(ProviderSnapshot::Scope::kTopology,
                                                 kHashRingKeyBase | static_cast<uint64_t>(nodes_),
                                                 [&] { return BuildRing(snapshot, nodes_); });
    std::string key;
    for (size_t a : arguments_) {
      if (a < invocation.argument_count) key.append(invocation.arguments[a]);
    }
    const uint32_t point = Point(Md5(key), 0);
    const auto& points = ring.points;
    size_t at = static_cast<size_t>(
        std::lower_bound(points.begin(), points.end(), point,
                         [](const auto& entry, uint32_t p) { return entry.first < p; }) -
        points.begin());
    for (size_t step = 0; step < points.size(); ++step) {
      const size_t i = points[(at + step) % points.size()].second;
      if (filter == nullptr || filter->Allowed(i, snapshot[i])) return &snapshot[i];
    }
    return nullptr;
  }

 private:
  const int64_t nodes_;
  const std::vector<size_t> arguments_;
};

}  // namespace

registry::Result<std::unique_ptr<LoadBalancer>> NewConsistentHashLoadBalancer(
    const registry::URL& config) {
  int64_t nodes = kDefaultNodes;
  if (std::optional<std::string_view> text = config.FindParameter("hash.nodes");
      text.has_value() && !text->empty()) {
    if (!ParseNonNegative(*text, &nodes) || nodes <= 0 || nodes > kMaxNodes) {
      return registry::InvalidArgumentError("hash.nodes must be an integer in [1, 65536], got '" +
                                            std::string(*text) + "'");
    }
    nodes = std::max<int64_t>(4, nodes / 4 * 4);
  }
  std::vector<size_t> arguments;
  std::string_view list = config.GetParameter("hash.arguments", "0");
  while (true) {
    const size_t comma = list.find(',');
    int64_t index = 0;
    if (!ParseNonNegative(list.substr(0, comma), &index)) {
      return registry::InvalidArgumentError(
          "hash.arguments must be a comma-separated list of argument indexes, got '" +
          std::string(config.GetParameter("hash.arguments")) + "'");
    }
    arguments.push_back(static_cast<size_t>(index));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return std::unique_ptr<LoadBalancer>(
      std::make_unique<ConsistentHashLoadBalancer>(nodes, std::move(arguments)));
}

}  // namespace dubbo::cluster::internal
