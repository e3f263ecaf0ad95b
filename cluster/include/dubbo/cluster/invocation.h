// File: dubbo/cluster/invocation.h
//
// Invocation: what a load balancer may look at about one call. Framework-neutral: the RPC layer
// fills in the method name and, for `consistenthash`, the call's arguments in string form. Per-call
// overrides of `retries` and `timeout` are optional.
//
//   std::string_view args[] = {user_id};
//   dubbo::cluster::Invocation inv;
//   inv.method = "getProfile";
//   inv.arguments = args;
//   inv.argument_count = 1;
//
// Thread-safety: a plain value holding non-owning views; the viewed data must outlive each call
// that receives the Invocation (for FailoverCluster::InvokeAsync(), until it returns).
#ifndef DUBBO_CLUSTER_INVOCATION_H_
#define DUBBO_CLUSTER_INVOCATION_H_

#include <cstddef>
#include <string_view>

#include "dubbo/registry/clock.h"

namespace dubbo::cluster {

struct Invocation {
  // The method called. Default "": service-level parameters only. Used for method-level parameters
  // such as `<method>.retries`.
  std::string_view method;
  // The call's arguments rendered as strings, for `consistenthash` (the `hash.arguments` parameter
  // chooses which ones form the key). Non-owning. Default: none (the key is then "").
  const std::string_view* arguments = nullptr;
  size_t argument_count = 0;
  // Overrides the `retries` parameter for this call when >= 0 (Dubbo's per-call `retries`
  // attachment); values above 1000 (kMaxRetries) count as 1000. Default -1: use the URL
  // parameters.
  int retries = -1;
  // Overrides the per-attempt timeout for this call when > 0 (Dubbo's per-call `timeout`
  // attachment). Default 0: FailoverClusterOptions::timeout, else the URL parameters.
  registry::Duration timeout{0};
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_INVOCATION_H_
