// PushService: the naming server's UDP push channel, as a
// pure component. It owns no socket and no thread: datagrams go out through an injected UdpSender,
// come in through OnDatagram(), and every timer runs on an injected Scheduler with time read from
// an injected Clock, so tests drive it with ManualScheduler and never sleep.
//
// What it does
//   * Subscribe() registers or refreshes a subscriber keyed by (namespace, grouped service,
//     clusters, clientIP:udpPort); the HTTP layer calls it for every list query with udpPort > 0.
//     A subscriber not refreshed for `subscriber_ttl` lapses: it is skipped and dropped at push
//     time and removed by a periodic sweep. A brand-new subscriber gets one push of the current
//     data at once (`push_on_subscribe`, 2.x behaviour).
//   * ServiceChanged() pushes the service to every live subscriber. An isolated change is pushed
//     in the same call, without a timer. Changes that follow within `push_delay` of a push are
//     merged into a single push at the end of that window (one timer per service at most); that
//     push renders the data when it fires, so it carries the latest state.
//   * Packets are {"type":"dom","data":"<service JSON>","lastRefTime":<id>}, gzipped as a whole
//     when the JSON is >= 1024 bytes. `lastRefTime` is a strictly increasing id (monotonic
//     microseconds of the injected clock: JavaScript-safe, below 2^53).
//   * OnDatagram() matches push-acks by (source endpoint, lastRefTime). No ack within
//     `ack_timeout`: the identical packet is resent once; no ack after a second `ack_timeout`:
//     the push is given up (logged, rate-limited). Each subscriber has at most one push awaiting
//     an ack: a newer push replaces ("supersedes") the older one, so stale data is never resent
//     over newer data (the Java client applies out-of-order data).
//
// Serialisation (thread-safety)
//   PushService is NOT thread-safe by design. The owner serialises every call, usually with the
//   mutex that guards its instance store: Subscribe(), ServiceChanged(), OnDatagram(), stats()
//   and the accessors must all run under it. The timers this class schedules run on the
//   Scheduler's thread, so each timer body is handed to `run_serialized`, which must run it under
//   the same serialisation:
//
//     options.run_serialized = [server](std::function<void()> fn) {
//       std::lock_guard<std::mutex> lock(server->mu_);
//       fn();
//     };
//
//   The default (an empty function) runs the body directly; that is only right when one thread
//   does everything, e.g. a test driving a ManualScheduler. PushService never calls
//   Scheduler::Cancel() under the serialisation (it would wait for a timer blocked on that same
//   lock); stale timers just fire and find nothing to do.
//
//   Callbacks (the data provider, UdpSender::Send, `on_ack`) run synchronously inside those
//   calls, under the serialisation. They must not take the serialising lock again, and must not
//   call Subscribe() or ServiceChanged() (such re-entrant calls are refused and logged).
//   UdpSender::Send may call OnDatagram() (a loopback fake that acks at once), and anything may
//   read stats().
//
// Lifetime
//   The Scheduler, Clock and UdpSender must outlive the PushService. The destructor enters the
//   serialisation once (through `run_serialized`) to stop its timers, then cancels them outside
//   it, waiting for one that is running. So destroy it WITHOUT holding the serialising lock; the
//   Scheduler may still be running or already shut down.
#ifndef DUBBO_NAMING_SERVER_PUSH_SERVICE_H_
#define DUBBO_NAMING_SERVER_PUSH_SERVICE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/scheduler.h"
#include "dubbo/registry/status.h"
#include "push_codec.h"
#include "serialized_timers.h"

namespace dubbo::naming_server {

// An IPv4/IPv6 address in text form plus a UDP port. Acks are matched by exact equality, so the
// socket layer must print source addresses the way clients send `clientIP` (inet_ntop form).
struct UdpEndpoint {
  std::string ip;
  uint16_t port = 0;

  // "ip:port" ("[ip]:port" for IPv6), for logs.
  std::string ToString() const;

  friend bool operator==(const UdpEndpoint& a, const UdpEndpoint& b) {
    return a.port == b.port && a.ip == b.ip;
  }
  friend bool operator!=(const UdpEndpoint& a, const UdpEndpoint& b) { return !(a == b); }
  // Orders by ip, then port (deterministic push order).
  friend bool operator<(const UdpEndpoint& a, const UdpEndpoint& b) {
    return a.ip != b.ip ? a.ip < b.ip : a.port < b.port;
  }
};

struct UdpEndpointHash {
  size_t operator()(const UdpEndpoint& e) const;
};

// Where datagrams go. The real one is a UDP socket (sendto from the server's push socket, whose
// port clients ack to); tests record. UDP is fire-and-forget: a failed send is the sender's to log,
// and the ack timeout takes care of the rest.
class UdpSender {
 public:
  virtual ~UdpSender() = default;
  // `datagram` is only valid during the call.
  virtual void Send(const UdpEndpoint& to, std::string_view datagram) = 0;
};

// How a subscriber's data is rendered, as its User-Agent decides (the owner gives the values
// their meaning). Subscribers of one (service, clusters) with the same style share one rendering,
// one packet and one lastRefTime.
using PushStyle = int;
// Maps a subscriber's User-Agent to its style.
using PushStyleOf = std::function<PushStyle(std::string_view agent)>;

// Renders the service JSON a subscriber gets as the packet's `data`: the same JSON as a list
// response for (namespace_id, grouped_service, clusters) with healthyOnly=false and cacheMillis
// 10000, or nullptr if it cannot be rendered (that push is skipped and counted in
// render_failures), or kResourceExhausted when the answer is known to be too large for a datagram
// without rendering it (skipped and counted in oversize_skipped; the status message is logged).
// Shared, so that an answer kept for list requests is pushed without a copy. `style` is the
// subscribers' rendering style (see PushStyleOf): the JSON their agent gets from a list request.
using PushDataProvider = std::function<registry::Result<std::shared_ptr<const std::string>>(
    const std::string& namespace_id, const std::string& grouped_service,
    const std::string& clusters, PushStyle style)>;

// Called for every matched ack. `latency` runs from the push's FIRST transmission to the ack, on
// the injected clock.
using AckCallback =
    std::function<void(const UdpEndpoint& from, int64_t last_ref_time, registry::Duration latency)>;

struct PushServiceOptions {
  // Required. Runs the timers. Not owned; must outlive the PushService.
  registry::Scheduler* scheduler = nullptr;
  // The time source. Not owned; must outlive the PushService. nullptr means scheduler->clock().
  registry::Clock* clock = nullptr;
  // Required. Not owned; must outlive the PushService.
  UdpSender* sender = nullptr;
  // Required. See PushDataProvider.
  PushDataProvider data_provider;
  // Optional. See PushStyleOf. Default (empty): every subscriber has style 0.
  PushStyleOf style_of;
  // Runs timer bodies under the owner's serialisation. Default (empty): runs them directly.
  SerializedRunner run_serialized;

  // A subscriber not refreshed (by a list query) for longer than this lapses. Default 30 s, the 2.x
  // client expiry. 1.4.x uses 10 s, exactly the Java client's re-query period (cacheMillis 10000),
  // so a client whose re-query is a little late (it reschedules after processing, plus HTTP
  // latency) is a zombie for a moment and silently misses pushes; 30 s tolerates two missed polls.
  std::chrono::milliseconds subscriber_ttl{30000};
  // Coalescing window. Default 50 ms. An isolated change is pushed at once whatever this is; the
  // window only merges the changes that follow a push, so that a burst (a provider registering its
  // interfaces one by one, a batch of expiries from one sweep) becomes one push at most 50 ms after
  // the push before it. That caps a hot service at 20 pushes/s per subscriber while keeping
  // worst-case staleness an order of magnitude below Nacos (1.4.x: 1000 ms; 2.x: 500 ms). 0
  // disables merging.
  std::chrono::milliseconds push_delay{50};
  // No ack within this after a transmission: resend once, then give up. Default 10 s (1.4.x
  // and 2.x).
  std::chrono::milliseconds ack_timeout{10000};
  // Period of the sweep that removes lapsed subscribers (they are also dropped at push time).
  // Default 5 s (the 2.x cleaner). The sweep only runs while there are subscribers.
  std::chrono::milliseconds sweep_interval{5000};
  // Push the current data to a brand-new subscriber at once (2.x behaviour; 1.4.x waits for the
  // next change). Default true: the packet repeats what the list response just returned, which
  // clients apply without a change event, and it proves the UDP path (and lets a client see a
  // change that raced its query). Refreshes of an existing subscriber never push.
  bool push_on_subscribe = true;
  // At most this many subscribers. Default 100000. At the cap a new subscriber is refused
  // (kUnavailable) and gets no pushes until one lapses; it keeps working by polling. Refreshes are
  // always accepted.
  size_t max_subscribers = 100000;
  // At most this many pushes awaiting an ack (packets kept for the resend). Default 100000. Since
  // each subscriber has at most one outstanding push, this is only reached when set below
  // max_subscribers. At the cap the OLDEST outstanding push is forgotten (no resend, no give-up;
  // counted in pending_evicted) to make room: the newest state matters most.
  size_t max_pending_acks = 100000;
  // Optional. See AckCallback.
  AckCallback on_ack;
};

// Counters since creation, plus two gauges.
struct PushStats {
  uint64_t pushes_sent = 0;   // First transmissions of a push (one per subscriber per push).
  uint64_t resends = 0;       // Second transmissions after ack_timeout.
  uint64_t acks_matched = 0;  // Acks that completed an outstanding push.
  uint64_t acks_unmatched =
      0;  // Well-formed push-acks matching nothing (late, duplicate, spoofed).
  uint64_t datagrams_ignored = 0;  // Datagrams that are not a well-formed push-ack.
  uint64_t give_ups = 0;           // Pushes never acked after two transmissions.
  uint64_t superseded = 0;         // Outstanding pushes replaced by a newer push to the subscriber.
  uint64_t pending_evicted = 0;    // Outstanding pushes forgotten at max_pending_acks.
  uint64_t render_failures = 0;    // Data provider returned nullopt.
  // Datagrams above kMaxUdpPayload, or refused as too large by the data provider, not sent (one
  // per subscriber).
  uint64_t oversize_skipped = 0;
  uint64_t changes_merged = 0;        // ServiceChanged() calls absorbed by an already pending push.
  uint64_t subscribers_expired = 0;   // Subscribers dropped after subscriber_ttl.
  uint64_t subscribers_rejected = 0;  // New subscribers refused at max_subscribers.
  // Sum and maximum of ack latencies (first transmission to ack), on the injected clock.
  registry::Duration ack_latency_total{0};
  registry::Duration ack_latency_max{0};

  size_t subscribers = 0;   // Gauge: subscribers held now (lapsed ones until they are dropped).
  size_t pending_acks = 0;  // Gauge: pushes awaiting an ack now.
};

// What OnDatagram() made of a datagram.
enum class DatagramResult {
  kAckMatched,    // A push-ack for an outstanding push from that endpoint.
  kAckUnmatched,  // A well-formed push-ack that matches nothing outstanding.
  kIgnored,       // Anything else: malformed, oversize, another type.
};

class PushService {
 public:
  // Validates `options` (kInvalidArgument when a required field is missing or a duration is not
  // positive; push_delay may be 0).
  static registry::Result<std::unique_ptr<PushService>> Create(PushServiceOptions options);

  // See "Lifetime" in the file comment: call without holding the serialising lock.
  ~PushService();

  PushService(const PushService&) = delete;
  PushService& operator=(const PushService&) = delete;

  // Registers (or refreshes) a subscriber. An empty endpoint ip means 127.0.0.1 (Nacos resolves an
  // empty clientIP to loopback). A new subscriber is pushed the current data at once when
  // push_on_subscribe. Returns kInvalidArgument for port 0, kUnavailable at max_subscribers,
  // kFailedPrecondition when called from inside a callback.
  registry::Status Subscribe(const std::string& namespace_id, const std::string& grouped_service,
                             const std::string& clusters, const UdpEndpoint& endpoint,
                             std::string_view agent);

  // The service's instance list (or anything in its rendering) changed: push it to its live
  // subscribers, at once or at the end of the current coalescing window. No-op without subscribers.
  void ServiceChanged(const std::string& namespace_id, const std::string& grouped_service);

  // A datagram arrived on the push socket from `from`. Never fails on hostile input.
  DatagramResult OnDatagram(const UdpEndpoint& from, std::string_view datagram);

  PushStats stats() const;
  size_t subscriber_count() const { return subscriber_count_; }
  size_t pending_ack_count() const { return pending_.size(); }

 private:
  struct Subscriber {
    std::string agent;
    PushStyle style = 0;  // style_of(agent)
    registry::TimePoint last_refresh;
    int64_t outstanding_id = 0;  // lastRefTime of its latest push; 0 = none yet.
  };
  // clusters -> endpoint -> subscriber. Ordered, so pushes go out in a deterministic order. A
  // clusters group gets one rendering (and packet) per style among its subscribers.
  using ClusterSubscribers = std::map<UdpEndpoint, Subscriber>;
  struct ServiceState {
    std::map<std::string, ClusterSubscribers> by_clusters;
    std::optional<registry::TimePoint> last_push;  // Start of the current coalescing window.
    bool push_scheduled = false;                   // A merged push is waiting for the window's end.
  };
  using ServiceKey = std::pair<std::string, std::string>;  // (namespace_id, grouped_service)
  using ServiceMap = std::map<ServiceKey, ServiceState>;

  struct AckKey {
    UdpEndpoint endpoint;
    int64_t id = 0;
    friend bool operator==(const AckKey& a, const AckKey& b) {
      return a.id == b.id && a.endpoint == b.endpoint;
    }
  };
  struct AckKeyHash {
    size_t operator()(const AckKey& k) const;
  };
  struct PendingAck {
    AckKey key;
    std::shared_ptr<const std::string> packet;  // Shared by every subscriber of one rendering.
    std::shared_ptr<const std::string> label;   // "namespace/service", for logs.
    registry::TimePoint first_sent;
    registry::TimePoint deadline;
    int transmissions = 1;
  };
  // In deadline order: every entry is appended with deadline now + ack_timeout on a monotonic
  // clock.
  using AckList = std::list<PendingAck>;

  // Allows one log line per interval and counts the ones it held back.
  struct LogLimiter {
    std::optional<registry::TimePoint> next_allowed;
    uint64_t suppressed = 0;
    // True if a line may be logged now; then `*suppressed` is the count held back since the last
    // one.
    bool Allow(registry::TimePoint now, uint64_t* suppressed_out);
  };

  explicit PushService(PushServiceOptions options);

  // Schedules `body` to run after `delay` under the serialisation, unless the service is stopping.
  // Returns false if the scheduler refused the task (it is shut down).
  bool ScheduleTask(registry::Duration delay, std::function<void()> body);

  // Pushes the service to its live subscribers now (and opens a coalescing window).
  void PushNow(ServiceMap::iterator it);
  void OnPushTimer(const ServiceKey& key);
  // One rendering of a service for one clusters value and style: the packet all its subscribers
  // of that style share.
  struct Rendered {
    int64_t id;
    std::shared_ptr<const std::string> packet;
    std::shared_ptr<const std::string> label;  // For logs.
  };
  // Calls the data provider and builds the packet; nullopt (counted and logged) when the provider
  // has nothing or the packet is too big for a datagram. `recipients` is for the counters.
  std::optional<Rendered> Render(const ServiceKey& key, const std::string& clusters,
                                 PushStyle style, registry::TimePoint now, size_t recipients);
  PushStyle StyleOf(std::string_view agent) const;
  // Sends `packet` as push `id` to one subscriber and tracks its ack, superseding an older push.
  void SendTracked(const UdpEndpoint& endpoint, Subscriber& subscriber, int64_t id,
                   const std::shared_ptr<const std::string>& packet,
                   const std::shared_ptr<const std::string>& label, registry::TimePoint now);
  // Removes the subscriber's outstanding push, if any; true if there was one.
  bool DropOutstanding(const UdpEndpoint& endpoint, const Subscriber& subscriber);
  bool Lapsed(const Subscriber& subscriber, registry::TimePoint now) const;
  // Drops lapsed subscribers of the service; returns how many.
  size_t DropLapsed(ServiceState& state, registry::TimePoint now);
  void MaybeEraseService(ServiceMap::iterator it);
  void EnsureSweep();
  void Sweep();
  void EnsureAckTimer();
  void OnAckTimer();
  int64_t NextPushId(registry::TimePoint now);

  PushServiceOptions options_;
  registry::Clock* clock_;

  // Everything below is guarded by the owner's serialisation.
  int callback_depth_ = 0;  // > 0 while a provider or sender callback runs.
  ServiceMap services_;
  size_t subscriber_count_ = 0;
  AckList ack_order_;
  std::unordered_map<AckKey, AckList::iterator, AckKeyHash> pending_;
  int64_t last_push_id_ = 0;
  bool sweep_scheduled_ = false;
  bool ack_timer_scheduled_ = false;
  PushStats stats_;
  LogLimiter give_up_log_;
  LogLimiter drop_log_;  // Render failures, oversize packets, evictions, rejected subscribers.
  SerializedTimers timers_;  // Last: destroyed first (serialized_timers.h).
};

// ------------------------------------------------------------------------------------------------
// Wire helpers: the push packet codec lives in nacos-wire (shared with the naming client).
using nacos_wire::BuildPushAck;
using nacos_wire::BuildPushPacket;
using nacos_wire::EncodePushPacketJson;
using nacos_wire::Gunzip;
using nacos_wire::Gzip;
using nacos_wire::kGzipThreshold;
using nacos_wire::kMaxAckBytes;
using nacos_wire::kMaxAckNesting;
using nacos_wire::kMaxUdpPayload;
using nacos_wire::LooksGzipped;
using nacos_wire::ParsePushAck;
using nacos_wire::ParsePushPacket;
using nacos_wire::PushPacket;

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_PUSH_SERVICE_H_
