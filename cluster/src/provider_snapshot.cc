// ProviderSnapshot: effective weights, the alias table, and lazily derived per-snapshot data.
//
// Thread-safety: see provider_snapshot.h.
#include "dubbo/cluster/provider_snapshot.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "dubbo/cluster/random.h"

namespace dubbo::cluster {
namespace {

std::atomic<uint64_t> g_next_version{1};

}  // namespace

DerivedCache::~DerivedCache() {
  Node* node = head_.load(std::memory_order_acquire);
  while (node != nullptr) {
    Node* next = node->next;
    delete node;
    node = next;
  }
}

const void* DerivedCache::Find(uint64_t key) const {
  for (const Node* node = head_.load(std::memory_order_acquire); node != nullptr;
       node = node->next) {
    if (node->key == key) return node->value.get();
  }
  return nullptr;
}

const void* DerivedCache::Install(uint64_t key, std::shared_ptr<const void> value) {
  Node* node = new Node{key, std::move(value), nullptr};
  Node* head = head_.load(std::memory_order_acquire);
  for (;;) {
    // Someone may have installed the key since our last look (every node after `head` was seen).
    for (const Node* n = head; n != nullptr && n != node->next; n = n->next) {
      if (n->key == key) {
        delete node;
        return n->value.get();
      }
    }
    node->next = head;
    if (head_.compare_exchange_weak(head, node, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return node->value.get();
    }
  }
}

std::shared_ptr<const ProviderSnapshot> ProviderSnapshot::Create(
    std::vector<Provider> providers, int64_t now_ms, std::vector<registry::URL> routers,
    std::vector<registry::URL> configurators) {
  auto topology = std::make_shared<Topology>();
  topology->providers = std::move(providers);
  topology->routers = std::move(routers);
  topology->configurators = std::move(configurators);
  return std::shared_ptr<const ProviderSnapshot>(new ProviderSnapshot(std::move(topology), now_ms));
}

std::shared_ptr<const ProviderSnapshot> ProviderSnapshot::Reweighted(int64_t now_ms) const {
  return std::shared_ptr<const ProviderSnapshot>(new ProviderSnapshot(topology_, now_ms));
}

ProviderSnapshot::ProviderSnapshot(std::shared_ptr<const Topology> topology, int64_t now_ms)
    : topology_(std::move(topology)),
      version_(g_next_version.fetch_add(1, std::memory_order_relaxed)) {
  const std::vector<Provider>& providers = topology_->providers;
  const size_t n = providers.size();
  weights_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    weights_[i] = providers[i].WeightAt(now_ms);
    total_weight_ += weights_[i];
    if (weights_[i] != weights_[0]) same_weight_ = false;
    if (weights_[i] < providers[i].weight()) warming_up_ = true;
  }
  if (same_weight_ || total_weight_ <= 0) return;

  // Vose's alias method in integers: column i holds weight*n units out of total_weight_ per column.
  const uint64_t total = static_cast<uint64_t>(total_weight_);
  std::vector<uint64_t> scaled(n);
  std::vector<uint32_t> small;
  std::vector<uint32_t> large;
  for (size_t i = 0; i < n; ++i) {
    scaled[i] = static_cast<uint64_t>(weights_[i]) * n;
    (scaled[i] < total ? small : large).push_back(static_cast<uint32_t>(i));
  }
  threshold_.assign(n, total);
  alias_.resize(n);
  for (size_t i = 0; i < n; ++i) alias_[i] = static_cast<uint32_t>(i);
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back();
    small.pop_back();
    const uint32_t l = large.back();
    threshold_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] -= total - scaled[s];
    if (scaled[l] < total) {
      large.pop_back();
      small.push_back(l);
    }
  }
}

size_t ProviderSnapshot::PickWeighted(uint64_t random) const {
  const uint64_t n = size();
  const unsigned __int128 product = static_cast<unsigned __int128>(random) * n;
  const size_t column = static_cast<size_t>(product >> 64);
  if (threshold_.empty()) return column;
  // The low half of the product is uniform too: it picks within the column.
  const uint64_t draw =
      UniformIndex(static_cast<uint64_t>(product), static_cast<uint64_t>(total_weight_));
  return draw < threshold_[column] ? column : alias_[column];
}

}  // namespace dubbo::cluster
