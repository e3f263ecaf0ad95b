// Internal: HostReactor, the naming client's service data: one ServiceInfo per
// "group@@service[@@clusters]", kept current by list queries (polls) that UDP pushes and a server's
// recovery bring forward, change detection, listeners, the disk cache and the failover data.
//
// Data arrives from two sources, applied by one rule set (Apply()):
//   * an HTTP list query (carrying udpPort and clientIP so that the server pushes to us);
//   * the disk cache (at start with load_cache_at_start, and whenever the first query of a service
//     fails).
// A UDP push is only a doorbell (HandleDatagram()): the server pushes from an ephemeral port that
// the v1 API never names, so a datagram with a server's source IP may still be forged. A push that
// passes the checks is acked (the server resends unacked pushes) and queries its service at once;
// its own data is never applied (nor its lastRefTime compared: it is the pushing server's clock).
// At most one query per service is in flight; a push arriving meanwhile queues one more, sent as
// soon as the answer is in. With push_empty_protection, data without a usable instance
// (HasUsableInstance) never replaces data that has one. Every accepted change of server data is
// written to the disk cache and, when instances were added, removed or modified (or it is the first
// data), is offered to each listener of the service (ListenerEntry::Offer(), which merges it into a
// call already queued).
//
// Polling per subscribed service: after each applied answer, the next query goes `cacheMillis`
// later (the server says 10 s with push, 3 s without; clamped to [1 s, 1 h]). A failed query, or
// one with no instance, backs off min(1 s << fails, max_poll_backoff_ms), fails counted up to 6.
// Resubscribe() (NamingProxy's recovery hook: the servers answer again after failing) queries at
// once every subscribed service not answered since the failing began, once until it is answered;
// back-offs reset only when an answer is applied, so a recovery whose queries fail backs off.
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
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "disk_cache.h"
#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/scheduler.h"
#include "naming_proxy.h"

namespace dubbo::registry::nacos {

// A listener as the dispatcher sees it: `active` is cleared by Unsubscribe() and Shutdown(), and
// the dispatcher checks it right before each call.
//
// Its queue is bounded: at most one call per listener waits in the dispatcher. A change offered
// while one waits is merged into it, so the call, when it runs, reports the change from the state
// the listener last saw to the newest one: instances = the newest list, and added / removed /
// modified per address between those two states (DiffServiceInfo), as if they were one change. A
// merged change that cancels out (an instance added and removed again) is not reported.
// Offer() runs on the loop and Deliver() on the dispatcher thread; mu_ guards what they share.
struct ListenerEntry {
  SubscriptionId id = 0;
  std::string key;
  NamingListener fn;
  std::atomic<bool> active{true};

  // Offers the change from `seen` (the state this listener last saw; null: none, every instance of
  // `newest` is then reported as added) to `newest`; `event` is that change when the caller has
  // computed it (null: Deliver() computes it). True when no call was waiting: the caller must post
  // one of Deliver(). False when the change was merged into the waiting call.
  bool Offer(std::shared_ptr<const ServiceInfo> seen, std::shared_ptr<const ServiceInfo> newest,
             std::shared_ptr<const ServiceChangeEvent> event);
  // The call the dispatcher runs: takes the waiting change and calls `fn` with it unless the
  // listener is no longer active.
  void Deliver();

 private:
  std::mutex mu_;
  bool waiting_ = false;                             // Guarded by mu_, as the three below.
  std::shared_ptr<const ServiceInfo> seen_;          // What the listener last saw.
  std::shared_ptr<const ServiceInfo> newest_;        // What it is to see.
  std::shared_ptr<const ServiceChangeEvent> event_;  // seen_ -> newest_ when not merged.
};

struct HostReactorStats {
  uint64_t polls = 0;            // List queries (poll timers, pushes, recoveries),
  uint64_t poll_failures = 0;    //   failed.
  uint64_t pushes = 0;           // Push packets of type dom/service accepted and acked,
  uint64_t empty_protected = 0;  // Updates ignored by empty-push protection.
  uint64_t spoofed = 0;          // Datagrams from a source IP that is not a server's.
  uint64_t malformed = 0;        // Datagrams that did not parse.
  uint64_t dropped_hosts = 0;    // Hosts dropped as malformed from data that was used.
  uint64_t events = 0;           // Listener calls posted.
  uint64_t events_merged = 0;    // Changes merged into a listener call already waiting.
  uint64_t recoveries = 0;       // Resubscribe() calls: servers answering again after failing.
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
  // malformed packets or sources that are not servers. A dom/service push only queries its service
  // (see the file comment); its data is never applied.
  std::string HandleDatagram(std::string_view datagram, std::string_view source_ip);

  // The servers answer again after failing since `failing_since`: queries at once every subscribed
  // service not answered since then and not queried by an earlier call still unanswered (a service
  // whose query is in flight gets one more after it). Back-offs are kept. A restarted server has
  // forgotten every push subscription; the query renews it.
  void Resubscribe(TimePoint failing_since);

  // Failover switch state (polled every failover_check_ms).
  bool failover_on() const { return failover_on_; }
  const HostReactorStats& stats() const { return stats_; }
  // The data held for a key (for tests), or nullptr.
  const ServiceInfo* Find(const std::string& key) const;

  // "group@@name" plus "@@clusters" when clusters is non-empty (ServiceInfo::Key()).
  static std::string KeyOf(const std::string& service_name, const std::string& group_name,
                           const std::string& clusters);

 private:
  enum class Source { kServer, kCache };

  struct Service {
    std::string grouped_name;
    std::string clusters;
    std::shared_ptr<const ServiceInfo> info;  // Shared with the listener calls that report it.
    bool info_from_cache = false;
    std::vector<std::shared_ptr<ListenerEntry>> listeners;
    bool keep_polling = false;  // GetServiceInfo(subscribe) asked for it.
    bool polling = false;
    TaskId poll_timer = kInvalidTaskId;
    int fail_count = 0;
    bool first_query_done = false;
    bool query_in_flight = false;
    bool query_queued = false;      // Another query goes out when the one in flight is answered.
    TimePoint answered_at{};        // When a server last answered its query.
    bool recovery_queried = false;  // Resubscribe queried it; no answer since.
    std::vector<std::function<void()>> waiters;  // Run when the first query is done.
  };

  Service& GetOrCreate(const std::string& key, const std::string& grouped_name,
                       const std::string& clusters);
  NamingRequest ListRequest(const std::string& grouped_name, const std::string& clusters,
                            bool with_push) const;
  void EnsurePolling(const std::string& key);
  // Sends the list query of `key` now (its poll timer cancelled).
  void Query(const std::string& key);
  // Query() unless one is in flight; then queues one more.
  void QueryNow(const std::string& key);
  void OnQuery(const std::string& key, Result<std::string> answer);
  void SchedulePoll(Service& service, const std::string& key, int64_t delay_ms);
  void Poll(const std::string& key);
  int64_t BackoffMs(Service& service);
  // A push announcing `announced` (parsed, not trusted): queries its service if subscribed.
  void OnPush(const ServiceInfo& announced);
  // Parses and applies server JSON for `key`; kInvalidArgument if it does not parse or is for
  // another key.
  Status ApplyJson(const std::string& key, std::string_view json, Source source);
  // Applies `info`; returns false when it was dropped (empty-protected).
  bool Apply(Service& service, ServiceInfo info, std::string_view raw_json, Source source);
  // Offers a change to `listener` (see ListenerEntry::Offer()) and posts a call when none waits.
  void PostEvent(const std::shared_ptr<ListenerEntry>& listener,
                 std::shared_ptr<const ServiceInfo> seen, std::shared_ptr<const ServiceInfo> newest,
                 std::shared_ptr<const ServiceChangeEvent> event);
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
