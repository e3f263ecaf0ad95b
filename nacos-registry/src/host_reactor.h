// Internal: HostReactor, the naming client's service data (spec nacos-naming-v1-protocol.md §7.5,
// §8): one ServiceInfo per "group@@service[@@clusters]", kept current by polling and UDP push,
// change detection, listeners, the disk cache and the failover data.
//
// Data arrives from three sources, applied by one rule set (Apply()):
//   * a poll (the list query, carrying udpPort and clientIP so that the server pushes to us);
//   * a push (HandleDatagram(): acked; a push older than the data held, by the data's lastRefTime,
//     is dropped; Nacos only logs it);
//   * the disk cache (at start with load_cache_at_start, and whenever the first query of a service
//     fails).
// With push_empty_protection, data without a usable instance (HasUsableInstance) never replaces
// data that has one. Every accepted change of server data is written to the disk cache and, when
// instances were added, removed or modified (or it is the first data), becomes a
// ServiceChangeEvent for each listener of the service, handed to `post` in order.
//
// Polling per subscribed service: after each applied answer, the next query goes `cacheMillis`
// later (the server says 10 s with push, 3 s without; clamped to [1 s, 1 h]). If a push arrived
// since the last poll, the poll only refreshes the server's subscription and its answer is not
// applied (the push may be newer than a lagging server's answer). A failed query, or one with no
// instance, backs off min(1 s << fails, max_poll_backoff_ms), fails counted up to 6.
//
// Thread-safety: none. Every method must be called on the loop (the Scheduler's thread). Listeners
// never run here: they run where `post` sends them (the dispatcher thread).
#ifndef DUBBO_NACOS_REGISTRY_SRC_HOST_REACTOR_H_
#define DUBBO_NACOS_REGISTRY_SRC_HOST_REACTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "disk_cache.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/scheduler.h"
#include "naming_proxy.h"

namespace dubbo::registry::nacos {

// A listener as the dispatcher sees it: `active` is cleared by Unsubscribe() and Shutdown(), and
// the dispatcher checks it right before each call.
struct ListenerEntry {
  SubscriptionId id = 0;
  std::string key;
  NamingListener fn;
  std::atomic<bool> active{true};
};

struct HostReactorStats {
  uint64_t polls = 0;            // List queries sent by the poll timers.
  uint64_t poll_failures = 0;
  uint64_t pushes = 0;           // Push packets of type dom/service accepted and acked.
  uint64_t stale_pushes = 0;     // Of which dropped as older than the data held.
  uint64_t empty_protected = 0;  // Updates ignored by empty-push protection.
  uint64_t spoofed = 0;          // Datagrams from a source that is not a server.
  uint64_t malformed = 0;        // Datagrams that did not parse.
  uint64_t dropped_hosts = 0;    // Hosts dropped as malformed from data that was used.
  uint64_t events = 0;           // Change events posted (one per listener).
  uint64_t cache_write_failures = 0;
};

class HostReactor {
 public:
  // Hands a call of listener `id` to the dispatcher.
  using Post = std::function<void(SubscriptionId id, std::function<void()>)>;

  // `proxy` and `loop` must outlive this object. `udp_port` and `client_ip` are what list queries
  // report (udpPort 0: no push wanted).
  HostReactor(const NacosOptions& options, NamingProxy* proxy, Scheduler* loop, Post post,
              int udp_port, std::string client_ip);
  ~HostReactor();

  HostReactor(const HostReactor&) = delete;
  HostReactor& operator=(const HostReactor&) = delete;

  // Loads the disk cache (with load_cache_at_start) and starts the failover switch polling.
  void Start();
  // Cancels every timer; waiting callers get kCancelled. Nothing is posted afterwards.
  void Stop();

  // Adds `listener` to the service; see NamingClient::Subscribe(). `done` runs once the service has
  // data or its first query has failed.
  void Subscribe(const std::string& service_name, const std::string& group_name,
                 const std::string& clusters, std::shared_ptr<ListenerEntry> listener,
                 std::function<void(Status)> done);
  // Removes a listener (by id). False if unknown. The last listener of a service stops its polling
  // unless GetServiceInfo(subscribe) asked for the service too.
  bool Unsubscribe(SubscriptionId id);

  // The data of a service; see NamingClient::GetAllInstances().
  void GetServiceInfo(const std::string& service_name, const std::string& group_name,
                      const std::string& clusters, bool subscribe,
                      std::function<void(Result<ServiceInfo>)> done);

  // One datagram from `source_ip`. Returns the reply to send back from the same socket (empty:
  // none): push-ack for dom/service, dump-ack for dump, unknown-ack for other types, nothing for
  // malformed packets or sources that are not servers.
  std::string HandleDatagram(std::string_view datagram, std::string_view source_ip);

  // Failover switch state (polled every failover_check_ms).
  bool failover_on() const { return failover_on_; }
  const HostReactorStats& stats() const { return stats_; }
  // The data held for a key (for tests), or nullptr.
  const ServiceInfo* Find(const std::string& key) const;

  // "group@@name" plus "@@clusters" when clusters is non-empty (ServiceInfo::Key()).
  static std::string KeyOf(const std::string& service_name, const std::string& group_name,
                           const std::string& clusters);

 private:
  enum class Source { kPoll, kPush, kCache };

  struct Service {
    std::string grouped_name;
    std::string clusters;
    std::optional<ServiceInfo> info;
    bool info_from_cache = false;
    std::vector<std::shared_ptr<ListenerEntry>> listeners;
    bool keep_polling = false;  // GetServiceInfo(subscribe) asked for it.
    bool polling = false;
    TaskId poll_timer = kInvalidTaskId;
    int fail_count = 0;
    bool push_since_poll = false;
    bool first_query_done = false;
    bool query_in_flight = false;
    std::vector<std::function<void()>> waiters;  // Run when the first query is done.
  };

  Service& GetOrCreate(const std::string& key, const std::string& grouped_name,
                       const std::string& clusters);
  NamingRequest ListRequest(const std::string& grouped_name, const std::string& clusters,
                            bool with_push) const;
  void EnsurePolling(const std::string& key);
  void FirstQuery(const std::string& key);
  void OnFirstQuery(const std::string& key, Result<std::string> answer);
  void SchedulePoll(Service& service, const std::string& key, int64_t delay_ms);
  void Poll(const std::string& key);
  void OnPoll(const std::string& key, bool refresh_only, Result<std::string> answer);
  int64_t BackoffMs(Service& service);
  // Parses and applies server JSON for `key`; kInvalidArgument if it does not parse or is for
  // another key.
  Status ApplyJson(const std::string& key, std::string_view json, Source source);
  // Applies `info`; returns false when it was dropped (stale or empty-protected).
  bool Apply(Service& service, ServiceInfo info, std::string_view raw_json, Source source);
  void PostEvent(const std::shared_ptr<ListenerEntry>& listener, ServiceChangeEvent event);
  bool FallBackToDiskCache(const std::string& key);
  std::optional<ServiceInfo> FailoverData(const std::string& key) const;
  void CheckFailover();
  void WriteFailoverSnapshot();
  std::string DumpJson() const;

  const NacosOptions options_;
  NamingProxy* const proxy_;
  Scheduler* const loop_;
  const Post post_;
  const int udp_port_;
  const std::string client_ip_;
  DiskCache disk_;
  FailoverStore failover_;

  bool stopped_ = false;
  std::map<std::string, Service> services_;
  std::map<SubscriptionId, std::string> listener_keys_;
  bool failover_on_ = false;
  std::map<std::string, ServiceInfo> failover_data_;
  TaskId failover_timer_ = kInvalidTaskId;
  TaskId snapshot_timer_ = kInvalidTaskId;
  HostReactorStats stats_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_HOST_REACTOR_H_
