// Helpers shared by the cluster tests: provider URLs and snapshots.
#ifndef DUBBO_TESTS_CLUSTER_CLUSTER_TEST_UTIL_H_
#define DUBBO_TESTS_CLUSTER_CLUSTER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dubbo/cluster/provider.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster::testing {

inline registry::URL MustParse(const std::string& text) {
  registry::Result<registry::URL> url = registry::URL::Parse(text);
  if (!url.ok()) {
    ADD_FAILURE() << "cannot parse " << text << ": " << url.status();
    std::abort();
  }
  return *url;
}

// dubbo://<address>/com.foo.Greeter?<query>
inline registry::URL ProviderUrl(const std::string& address, const std::string& query = "") {
  return MustParse("dubbo://" + address + "/com.foo.Greeter" + (query.empty() ? "" : "?" + query));
}

// A snapshot of providers with the given weights, addresses 10.0.0.<i+1>:20880.
inline std::shared_ptr<const ProviderSnapshot> WeightedSnapshot(const std::vector<int>& weights,
                                                                int64_t now_ms = 0) {
  std::vector<Provider> providers;
  for (size_t i = 0; i < weights.size(); ++i) {
    providers.emplace_back(ProviderUrl("10.0.0." + std::to_string(i + 1) + ":20880",
                                       "weight=" + std::to_string(weights[i])));
  }
  return ProviderSnapshot::Create(std::move(providers), now_ms);
}

// The index of `provider` in `snapshot`, or -1.
inline int IndexOf(const ProviderSnapshot& snapshot, const Provider* provider) {
  for (size_t i = 0; i < snapshot.size(); ++i) {
    if (&snapshot[i] == provider) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace dubbo::cluster::testing

#endif  // DUBBO_TESTS_CLUSTER_CLUSTER_TEST_UTIL_H_
