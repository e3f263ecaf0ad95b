// PushService. See push_service.h for the contract; the packet codec is nacos-wire/push_codec.
//
// Implementation notes
//   * Outstanding pushes live in one list in deadline order (every entry gets now + ack_timeout on a
//     monotonic clock, so appending keeps it sorted; a resend is spliced to the back) plus a hash
//     index by (endpoint, lastRefTime). One ack timer, set for the head of the list, serves them all.
//   * Timers are never cancelled while serialised (Cancel() would wait for a timer that may be
//     blocked on the owner's lock); a timer that finds nothing due just re-arms for the new head.
//   * Subscribers with the same clusters and style share one rendering, one packet and one
//     lastRefTime; ids are unique per (endpoint, push) because one endpoint appears once per
//     clusters group, and each rendering takes a new id.
//
// Thread-safety: none; the owner serialises (see push_service.h).
#include "push_service.h"

#include <rapidjson/reader.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "internal/logging.h"

namespace dubbo::naming_server {

using registry::Duration;
using registry::InternalError;
using registry::InvalidArgumentError;
using registry::Result;
using registry::Status;
using registry::TaskId;
using registry::TimePoint;

namespace {

// One log line per limiter per this interval, at most.
constexpr Duration kLogInterval = std::chrono::seconds(10);
size_t HashCombine(size_t seed, size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Wire helpers.

std::string UdpEndpoint::ToString() const {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

size_t UdpEndpointHash::operator()(const UdpEndpoint& e) const {
  return HashCombine(std::hash<std::string>()(e.ip), e.port);
}

// ------------------------------------------------------------------------------------------------
// PushService.

namespace {

// Marks a callback in progress (data provider, sender, on_ack) for the re-entrancy check.
class CallbackScope {
 public:
  explicit CallbackScope(int* depth) : depth_(depth) { ++*depth_; }
  ~CallbackScope() { --*depth_; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  int* depth_;
};

// " (N similar lines suppressed)" when N > 0, else "".
std::string SuppressedNote(uint64_t suppressed) {
  if (suppressed == 0) return std::string();
  return " (" + std::to_string(suppressed) + " similar lines suppressed)";
}

std::string Label(const std::string& namespace_id, const std::string& service,
                  const std::string& clusters) {
  std::string label = namespace_id + "/" + service;
  if (!clusters.empty()) label += " clusters=" + clusters;
  return label;
}

}  // namespace

size_t PushService::AckKeyHash::operator()(const AckKey& k) const {
  return HashCombine(UdpEndpointHash()(k.endpoint), std::hash<int64_t>()(k.id));
}

bool PushService::LogLimiter::Allow(TimePoint now, uint64_t* suppressed_out) {
  if (next_allowed && now < *next_allowed) {
    ++suppressed;
    return false;
  }
  *suppressed_out = suppressed;
  suppressed = 0;
  next_allowed = now + kLogInterval;
  return true;
}

Result<std::unique_ptr<PushService>> PushService::Create(PushServiceOptions options) {
  if (options.scheduler == nullptr) {
    return InvalidArgumentError("PushService: scheduler is required");
  }
  if (options.sender == nullptr) return InvalidArgumentError("PushService: sender is required");
  if (!options.data_provider) return InvalidArgumentError("PushService: data_provider is required");
  if (options.clock == nullptr) options.clock = options.scheduler->clock();
  if (options.clock == nullptr) return InvalidArgumentError("PushService: no clock");
  if (options.subscriber_ttl.count() <= 0 || options.ack_timeout.count() <= 0 ||
      options.sweep_interval.count() <= 0) {
    return InvalidArgumentError(
        "PushService: subscriber_ttl, ack_timeout and sweep_interval must be positive");
  }
  if (options.push_delay.count() < 0) {
    return InvalidArgumentError("PushService: negative push_delay");
  }
  if (options.max_subscribers == 0 || options.max_pending_acks == 0) {
    return InvalidArgumentError(
        "PushService: max_subscribers and max_pending_acks must be positive");
  }
  return std::unique_ptr<PushService>(new PushService(std::move(options)));
}

PushService::PushService(PushServiceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock),
      timers_(options_.scheduler, options_.run_serialized) {}

// The timers stop first (the last member); see serialized_timers.h.
PushService::~PushService() = default;

bool PushService::ScheduleTask(Duration delay, std::function<void()> body) {
  if (timers_.Schedule(delay, std::move(body))) return true;
  DUBBO_LOG(WARNING) << "push service: the scheduler refused a timer (shut down?)";
  return false;
}

Status PushService::Subscribe(const std::string& namespace_id, const std::string& grouped_service,
                              const std::string& clusters, const UdpEndpoint& endpoint,
                              std::string_view agent) {
  if (callback_depth_ > 0) {
    DUBBO_LOG(ERROR) << "push service: Subscribe() called from inside a callback; ignored";
    return registry::FailedPreconditionError("Subscribe() called from inside a push callback");
  }
  if (endpoint.port == 0) return InvalidArgumentError("push subscriber: udpPort must be > 0");
  UdpEndpoint target = endpoint;
  if (target.ip.empty()) target.ip = "127.0.0.1";
  const TimePoint now = clock_->Now();

  auto service = services_.try_emplace(ServiceKey(namespace_id, grouped_service)).first;
  ClusterSubscribers& group = service->second.by_clusters[clusters];
  auto found = group.find(target);
  if (found != group.end()) {
    if (!Lapsed(found->second, now)) {
      found->second.last_refresh = now;
      if (found->second.agent != agent) {
        found->second.agent = std::string(agent);
        found->second.style = StyleOf(agent);
      }
      return Status::Ok();
    }
    // Lapsed but not swept yet: it was dropped; this query starts a new subscription.
    DropOutstanding(found->first, found->second);
    group.erase(found);
    --subscriber_count_;
    ++stats_.subscribers_expired;
  }
  if (subscriber_count_ >= options_.max_subscribers) {
    ++stats_.subscribers_rejected;
    uint64_t suppressed = 0;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: " << options_.max_subscribers
                         << " subscribers, refusing " << target.ToString() << " for "
                         << Label(namespace_id, grouped_service, clusters)
                         << SuppressedNote(suppressed);
    }
    if (group.empty()) service->second.by_clusters.erase(clusters);
    MaybeEraseService(service);
    return registry::UnavailableError("too many push subscribers");
  }
  auto inserted =
      group.emplace(target, Subscriber{std::string(agent), StyleOf(agent), now, 0}).first;
  ++subscriber_count_;
  EnsureSweep();
  if (options_.push_on_subscribe) {
    std::optional<Rendered> rendered =
        Render(service->first, clusters, inserted->second.style, now, 1);
    if (rendered) {
      SendTracked(inserted->first, inserted->second, rendered->id, rendered->packet,
                  rendered->label, now);
    }
  }
  return Status::Ok();
}

void PushService::ServiceChanged(const std::string& namespace_id,
                                 const std::string& grouped_service) {
  if (callback_depth_ > 0) {
    DUBBO_LOG(ERROR) << "push service: ServiceChanged() called from inside a callback; ignored";
    return;
  }
  auto it = services_.find(ServiceKey(namespace_id, grouped_service));
  if (it == services_.end()) return;
  ServiceState& state = it->second;
  if (state.push_scheduled) {
    ++stats_.changes_merged;
    return;
  }
  const TimePoint now = clock_->Now();
  const Duration window = options_.push_delay;
  if (!state.last_push || now - *state.last_push >= window) {
    PushNow(it);
    return;
  }
  const ServiceKey key = it->first;
  if (ScheduleTask(*state.last_push + window - now, [this, key] { OnPushTimer(key); })) {
    state.push_scheduled = true;
    ++stats_.changes_merged;
  } else {
    PushNow(it);
  }
}

void PushService::OnPushTimer(const ServiceKey& key) {
  auto it = services_.find(key);
  if (it == services_.end()) return;  // Not expected: a state is kept while its push is scheduled.
  it->second.push_scheduled = false;
  PushNow(it);
}

void PushService::PushNow(ServiceMap::iterator it) {
  const TimePoint now = clock_->Now();
  ServiceState& state = it->second;
  state.last_push = now;
  DropLapsed(state, now);
  for (auto& [clusters, group] : state.by_clusters) {
    // Nearly always one style per group, rarely two: a map per group is cheap.
    std::map<PushStyle, size_t> recipients;
    for (const auto& [endpoint, subscriber] : group) ++recipients[subscriber.style];
    std::map<PushStyle, std::optional<Rendered>> renderings;
    for (const auto& [style, count] : recipients) {
      renderings.emplace(style, Render(it->first, clusters, style, now, count));
    }
    for (auto& [endpoint, subscriber] : group) {
      const std::optional<Rendered>& rendered = renderings[subscriber.style];
      if (!rendered) continue;
      SendTracked(endpoint, subscriber, rendered->id, rendered->packet, rendered->label, now);
    }
  }
  MaybeEraseService(it);
}

PushStyle PushService::StyleOf(std::string_view agent) const {
  return options_.style_of ? options_.style_of(agent) : 0;
}

std::optional<PushService::Rendered> PushService::Render(const ServiceKey& key,
                                                         const std::string& clusters,
                                                         PushStyle style, TimePoint now,
                                                         size_t recipients) {
  Result<std::shared_ptr<const std::string>> provided = nullptr;
  {
    CallbackScope scope(&callback_depth_);
    provided = options_.data_provider(key.first, key.second, clusters, style);
  }
  uint64_t suppressed = 0;
  auto skip_oversize = [&](std::string_view why) {
    stats_.oversize_skipped += recipients;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: " << Label(key.first, key.second, clusters)
                         << " not pushed to " << recipients << " subscriber(s): " << why
                         << SuppressedNote(suppressed);
    }
    return std::nullopt;
  };
  if (!provided.ok()) return skip_oversize(provided.status().message());
  const std::shared_ptr<const std::string>& data = *provided;
  if (!data) {
    ++stats_.render_failures;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: no data for " << Label(key.first, key.second, clusters)
                         << "; push skipped" << SuppressedNote(suppressed);
    }
    return std::nullopt;
  }
  const int64_t id = NextPushId(now);
  Result<std::string> packet = BuildPushPacket(*data, id);
  if (!packet.ok()) return skip_oversize(packet.status().message());
  return Rendered{id, std::make_shared<const std::string>(std::move(packet).value()),
                  std::make_shared<const std::string>(Label(key.first, key.second, clusters))};
}

void PushService::SendTracked(const UdpEndpoint& endpoint, Subscriber& subscriber, int64_t id,
                              const std::shared_ptr<const std::string>& packet,
                              const std::shared_ptr<const std::string>& label, TimePoint now) {
  if (DropOutstanding(endpoint, subscriber)) ++stats_.superseded;
  subscriber.outstanding_id = id;
  if (pending_.size() >= options_.max_pending_acks) {
    const PendingAck& oldest = ack_order_.front();
    ++stats_.pending_evicted;
    uint64_t suppressed = 0;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: " << options_.max_pending_acks
                         << " pushes await an ack; forgetting the oldest, to "
                         << oldest.key.endpoint.ToString() << " for " << *oldest.label
                         << SuppressedNote(suppressed);
    }
    pending_.erase(oldest.key);
    ack_order_.pop_front();
  }
  ack_order_.push_back(
      PendingAck{AckKey{endpoint, id}, packet, label, now, now + options_.ack_timeout, 1});
  pending_.emplace(ack_order_.back().key, std::prev(ack_order_.end()));
  ++stats_.pushes_sent;
  EnsureAckTimer();
  CallbackScope scope(&callback_depth_);
  options_.sender->Send(endpoint, *packet);
}

bool PushService::DropOutstanding(const UdpEndpoint& endpoint, const Subscriber& subscriber) {
  if (subscriber.outstanding_id == 0) return false;
  auto found = pending_.find(AckKey{endpoint, subscriber.outstanding_id});
  if (found == pending_.end()) return false;
  ack_order_.erase(found->second);
  pending_.erase(found);
  return true;
}

bool PushService::Lapsed(const Subscriber& subscriber, TimePoint now) const {
  return now - subscriber.last_refresh > options_.subscriber_ttl;
}

size_t PushService::DropLapsed(ServiceState& state, TimePoint now) {
  size_t dropped = 0;
  for (auto group = state.by_clusters.begin(); group != state.by_clusters.end();) {
    for (auto sub = group->second.begin(); sub != group->second.end();) {
      if (!Lapsed(sub->second, now)) {
        ++sub;
        continue;
      }
      DropOutstanding(sub->first, sub->second);
      sub = group->second.erase(sub);
      ++dropped;
    }
    group = group->second.empty() ? state.by_clusters.erase(group) : std::next(group);
  }
  subscriber_count_ -= dropped;
  stats_.subscribers_expired += dropped;
  return dropped;
}

void PushService::MaybeEraseService(ServiceMap::iterator it) {
  if (it->second.by_clusters.empty() && !it->second.push_scheduled) services_.erase(it);
}

void PushService::EnsureSweep() {
  if (sweep_scheduled_ || subscriber_count_ == 0) return;
  sweep_scheduled_ = ScheduleTask(options_.sweep_interval, [this] { Sweep(); });
}

void PushService::Sweep() {
  sweep_scheduled_ = false;
  const TimePoint now = clock_->Now();
  for (auto it = services_.begin(); it != services_.end();) {
    DropLapsed(it->second, now);
    auto next = std::next(it);
    MaybeEraseService(it);
    it = next;
  }
  EnsureSweep();
}

void PushService::EnsureAckTimer() {
  if (ack_timer_scheduled_ || ack_order_.empty()) return;
  const Duration delay = std::max(Duration::zero(), ack_order_.front().deadline - clock_->Now());
  ack_timer_scheduled_ = ScheduleTask(delay, [this] { OnAckTimer(); });
}

void PushService::OnAckTimer() {
  ack_timer_scheduled_ = false;
  const TimePoint now = clock_->Now();
  while (!ack_order_.empty() && ack_order_.front().deadline <= now) {
    auto it = ack_order_.begin();
    if (it->transmissions >= 2) {
      ++stats_.give_ups;
      uint64_t suppressed = 0;
      if (give_up_log_.Allow(now, &suppressed)) {
        DUBBO_LOG(WARNING) << "push service: no ack from " << it->key.endpoint.ToString() << " for "
                           << *it->label << " (lastRefTime " << it->key.id
                           << ") after 2 transmissions; giving up" << SuppressedNote(suppressed);
      }
      pending_.erase(it->key);
      ack_order_.erase(it);
      continue;
    }
    it->transmissions = 2;
    it->deadline = now + options_.ack_timeout;
    ack_order_.splice(ack_order_.end(), ack_order_, it);
    ++stats_.resends;
    // Copies: Send() may re-enter OnDatagram(), which can erase the entry.
    const UdpEndpoint to = it->key.endpoint;
    const std::shared_ptr<const std::string> packet = it->packet;
    CallbackScope scope(&callback_depth_);
    options_.sender->Send(to, *packet);
  }
  EnsureAckTimer();
}

DatagramResult PushService::OnDatagram(const UdpEndpoint& from, std::string_view datagram) {
  if (datagram.size() > kMaxAckBytes) {
    ++stats_.datagrams_ignored;
    return DatagramResult::kIgnored;
  }
  std::string inflated;
  std::string_view json = datagram;
  if (LooksGzipped(datagram)) {
    Result<std::string> unzipped = Gunzip(datagram, kMaxAckBytes);
    if (!unzipped.ok()) {
      ++stats_.datagrams_ignored;
      return DatagramResult::kIgnored;
    }
    inflated = std::move(unzipped).value();
    json = inflated;
  }
  Result<int64_t> id = ParsePushAck(json);
  if (!id.ok()) {
    ++stats_.datagrams_ignored;
    return DatagramResult::kIgnored;
  }
  auto found = pending_.find(AckKey{from, *id});
  if (found == pending_.end()) {
    ++stats_.acks_unmatched;
    return DatagramResult::kAckUnmatched;
  }
  const Duration latency = clock_->Now() - found->second->first_sent;
  ++stats_.acks_matched;
  stats_.ack_latency_total += latency;
  stats_.ack_latency_max = std::max(stats_.ack_latency_max, latency);
  ack_order_.erase(found->second);
  pending_.erase(found);
  if (options_.on_ack) {
    CallbackScope scope(&callback_depth_);
    options_.on_ack(from, *id, latency);
  }
  return DatagramResult::kAckMatched;
}

int64_t PushService::NextPushId(TimePoint now) {
  // Microseconds, not Nacos's nanoseconds: the id must survive a JavaScript client's JSON.parse
  // (exact only up to 2^53), and nanoseconds since boot pass 2^53 after 104 days of uptime.
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  last_push_id_ = micros > last_push_id_ ? micros : last_push_id_ + 1;
  return last_push_id_;
}

PushStats PushService::stats() const {
  PushStats copy = stats_;
  copy.subscribers = subscriber_count_;
  copy.pending_acks = pending_.size();
  return copy;
}

}  // namespace dubbo::naming_server
