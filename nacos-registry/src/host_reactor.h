// Internal: HostReactor, the naming client's service data: one ServiceInfo per
// "group@@service[@@clusters]", kept current either by list queries (polls) that UDP pushes and a
// server's recovery bring forward (v1 HTTP), or by the pushes of a gRPC stream; change detection,
// listeners, the disk cache and the failover data are the same for both.
//
// Feeds (SetFeed()). Which one keeps the subscribed services current:
//   * kPoll (v1): data comes from HTTP list queries (carrying udpPort and clientIP so that the
//     server pushes to us) and the disk cache;
//   * kStream (gRPC, with a StreamSource): data comes from the source's subscription answers and
//     pushes (HandleStreamData()); no list query goes out, no poll timer runs.
// With a StreamSource, every subscribed grouped service is also subscribed there, whatever the
// feed, so that a gRPC connection that becomes ready later (its redo) already carries them. The
// source subscribes per grouped service with clusters "" and sends the whole service: its data is
// applied to every key of that service, the hosts filtered by the key's cluster list.
//
// Rules for every piece of data (Apply()): with push_empty_protection, data without a usable
// instance (HasUsableInstance) never replaces data that has one. Every accepted change of server
// data is written to the disk cache and, when instances were added, removed or modified (or it is
// the first data), is offered to each listener of the service (ListenerEntry::Offer(), which merges
// it into a call already queued). When the first query of a key fails (or, on the stream feed, its
// first subscription does), the disk cache is served until a server answers.
//
// A UDP push is only a doorbell (HandleDatagram()): the server pushes from an ephemeral port that
// the v1 API never names, so a datagram with a server's source IP may still be forged. A push that
// passes the checks is acked (the server resends unacked pushes) and, on the poll feed, queries its
// service at once; its own data is never applied (nor its lastRefTime compared: it is the pushing
// server's clock). At most one query per service is in flight; a push arriving meanwhile queues
// one more, sent as soon as the answer is in.
//
// Stream data is applied directly: it comes on the client's own TCP connection to a server, not as
// a datagram anyone can send. Data whose lastRefTime is older than the data the same connection
// gave for a key is not applied to that key (counted in stale_pushes). lastRefTime is the sending
// server's clock and stamp, so data of another connection (another server, or the same one
// restarted: StreamLost() marks the change), of a poll or of the disk cache is never compared.
//
// Polling per subscribed service (poll feed): after each applied answer, the next query goes
// `cacheMillis` later (the server says 10 s with push, 3 s without; clamped to [1 s, 1 h]). A
// failed query, or one with no instance, backs off min(1 s << fails, max_poll_backoff_ms), fails
// counted up to 6. Resubscribe() (NamingProxy's recovery hook: the servers answer again after
// failing) queries at once every subscribed service not answered since the failing began, once
// until it is answered; back-offs reset only when an answer is applied, so a recovery whose queries
// fail backs off. Moving to the poll feed queries every subscribed service at once.
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
#include <set>
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
  uint64_t malformed = 0;        // Datagrams, or stream data, that did not parse.
  uint64_t stream_updates = 0;   // Stream data (pushes and subscription answers) applied,
  uint64_t stale_pushes = 0;     //   not applied to some key: older than what the same
                                 //   connection gave for it.
  uint64_t dropped_hosts = 0;    // Hosts dropped as malformed from data that was used.
  uint64_t events = 0;           // Listener calls posted.
  uint64_t events_merged = 0;    // Changes merged into a listener call already waiting.
  uint64_t recoveries = 0;       // Resubscribe() calls: servers answering again after failing.
  uint64_t cache_write_failures = 0;
};

// The gRPC side as HostReactor needs it (NamingGrpcProxy's subscriptions and queries). Every
// callback runs on the loop, never from inside the call that was made; its Result carries the
// serviceInfo JSON text of the whole grouped service.
struct StreamSource {
  // Subscribes to `grouped` ("group@@name"; kept until unsubscribe) and answers with its data.
  std::function<void(const std::string& grouped, std::function<void(Result<std::string>)> done)>
      subscribe;
  std::function<void(const std::string& grouped)> unsubscribe;
  // One query of `grouped` in `clusters` (comma-separated, "" for all).
  std::function<void(const std::string& grouped, const std::string& clusters,
                     std::function<void(Result<std::string>)> done)>
      query;
};

class HostReactor {
 public:
  // Hands a call of listener `id` to the dispatcher.
  using Post = std::function<void(SubscriptionId id, std::function<void()>)>;
  enum class Feed { kPoll, kStream };

  // `proxy` and `loop` must outlive this object. `udp_port` and `client_ip` are what list queries
  // report (udpPort 0: no push wanted).
  HostReactor(const NacosOptions& options, NamingProxy* proxy, Scheduler* loop, Post post,
              int udp_port, std::string client_ip);
  ~HostReactor();

  HostReactor(const HostReactor&) = delete;
  HostReactor& operator=(const HostReactor&) = delete;

  // Gives the reactor a gRPC side and starts on `feed`. Before Start(); without it the feed is
  // kPoll for good.
  void SetStreamSource(StreamSource source, Feed feed);
  // Moves to `feed` (see the file comment). To kPoll: every subscribed service is queried at once
  // and polled from then on. To kStream: poll timers are cancelled. Needs a StreamSource.
  void SetFeed(Feed feed);
  Feed feed() const { return feed_; }
  // Data of a subscribed service from the stream (StreamSource::subscribe's answers go here too):
  // the serviceInfo JSON text of a whole grouped service. Applied to every key of that service
  // (see the file comment). Unknown or unsubscribed services are ignored.
  void HandleStreamData(std::string_view service_info_json);
  // The stream's connection was lost: the next connection's data is not compared with this one's.
  void StreamLost() { ++stream_epoch_; }

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
  // (and its stream subscription, when no other key of the grouped service is subscribed) unless
  // GetServiceInfo(subscribe) asked for the service too.
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
  // forgotten every push subscription; the query renews it. Nothing on the stream feed.
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
    uint64_t info_epoch = 0;  // The stream connection `info` came from; 0: not the stream.
    std::vector<std::shared_ptr<ListenerEntry>> listeners;
    bool keep_polling = false;  // GetServiceInfo(subscribe) asked for it.
    bool subscribed = false;    // Kept current: by polls (poll feed) or the stream (stream feed).
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
  // Marks `key` subscribed and gets its first data (a query, or the stream's data).
  void EnsureSubscribed(const std::string& key);
  // The key is no longer subscribed: its poll stops, and the grouped service's stream
  // subscription when it was the last key of it.
  void StopSubscription(const std::string& key, Service& service);
  // Subscribes to `grouped` on the stream source; its answer is the first data of its keys.
  void StreamSubscribe(const std::string& grouped);
  void OnStreamSubscribed(const std::string& grouped, Result<std::string> answer);
  // The first data of a key arrived (or its first query failed): releases its waiters.
  void FirstQueryDone(Service& service);
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
  // The whole-service data `full` for the key of `service` (hosts of its clusters only); false
  // when it is older than the data held from the same connection.
  bool ApplyStream(Service& service, const ServiceInfo& full);
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
  StreamSource stream_;
  Feed feed_ = Feed::kPoll;
  // Grouped services subscribed on the stream: their subscribed keys, and the last whole-service
  // data (served to a key of the service that subscribes later).
  struct StreamService {
    std::set<std::string> keys;
    std::shared_ptr<const ServiceInfo> full;
    uint64_t full_epoch = 0;
  };
  uint64_t stream_epoch_ = 1;
  std::map<std::string, StreamService> stream_services_;
  std::map<SubscriptionId, std::string> listener_keys_;
  bool failover_on_ = false;
  std::map<std::string, ServiceInfo> failover_data_;
  TaskId failover_timer_ = kInvalidTaskId;
  TaskId snapshot_timer_ = kInvalidTaskId;
  HostReactorStats stats_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_HOST_REACTOR_H_
