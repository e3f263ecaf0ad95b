// HostReactor. See host_reactor.h.
#include "host_reactor.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "dubbo/registry/nacos/naming_types.h"
#include "internal/logging.h"
#include "push_codec.h"
#include "service_info_json.h"

namespace dubbo::registry::nacos {

namespace {

constexpr int kMaxFailCount = 6;
constexpr int64_t kMinPollMs = 1000;
constexpr int64_t kMaxPollMs = 3600 * 1000;
// Java's FailoverReactor: a snapshot every 24 h, the first after 30 min, or 10 s after start when
// the failover directory is empty.
constexpr Duration kSnapshotInterval = std::chrono::hours(24);
constexpr Duration kFirstSnapshot = std::chrono::minutes(30);
constexpr Duration kFirstSnapshotWhenEmpty = std::chrono::seconds(10);
// A datagram larger than this is not a push we could have been sent (65507 over IPv4).
constexpr size_t kMaxDatagram = 65536;
// Gunzipped push data above this is refused (real packets are far smaller).
constexpr size_t kMaxPushJson = size_t{8} << 20;

// The JSON reply the Java PushReceiver sends: {"type": "<t>", "lastRefTime":"<n>", "data":<d>}.
std::string Reply(std::string_view type, int64_t last_ref_time, std::string_view data_json) {
  std::string out = "{\"type\": \"";
  out += type;
  out += "\", \"lastRefTime\":\"" + std::to_string(last_ref_time) + "\", \"data\":";
  out += data_json;
  out += '}';
  return out;
}

ServiceChangeEvent AllAdded(const ServiceInfo& info) {
  ServiceChangeEvent event;
  event.service_name = info.name;
  event.clusters = info.clusters;
  event.instances = info.hosts;
  event.added = info.hosts;
  return event;
}

bool Changed(const ServiceChangeEvent& event) {
  return !event.added.empty() || !event.removed.empty() || !event.modified.empty();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Listener calls: at most one waiting per listener, later changes merged into it.

bool ListenerEntry::Offer(std::shared_ptr<const ServiceInfo> seen,
                          std::shared_ptr<const ServiceInfo> newest,
                          std::shared_ptr<const ServiceChangeEvent> event) {
  std::lock_guard<std::mutex> lock(mu_);
  newest_ = std::move(newest);
  if (waiting_) {
    event_.reset();  // seen_ stays: the merged call reports seen_ -> newest_.
    return false;
  }
  waiting_ = true;
  seen_ = std::move(seen);
  event_ = std::move(event);
  return true;
}

void ListenerEntry::Deliver() {
  std::shared_ptr<const ServiceInfo> seen, newest;
  std::shared_ptr<const ServiceChangeEvent> event;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_ = false;
    seen = std::move(seen_);
    newest = std::move(newest_);
    event = std::move(event_);
  }
  if (!active.load() || newest == nullptr) return;
  if (event != nullptr) {
    fn(*event);
    return;
  }
  const ServiceChangeEvent merged = seen ? DiffServiceInfo(*seen, *newest) : AllAdded(*newest);
  if (seen && !Changed(merged)) return;
  fn(merged);
}

std::string HostReactor::KeyOf(const std::string& service_name, const std::string& group_name,
                               const std::string& clusters) {
  std::string key = service_name.find("@@") != std::string::npos
                        ? service_name
                        : GroupedName(service_name, group_name);
  if (!clusters.empty()) key += "@@" + clusters;
  return key;
}

HostReactor::HostReactor(const NacosOptions& options, NamingProxy* proxy, Scheduler* loop,
                         Post post, int udp_port, std::string client_ip)
    : options_(options),
      proxy_(proxy),
      loop_(loop),
      post_(std::move(post)),
      udp_port_(udp_port),
      client_ip_(std::move(client_ip)),
      disk_(options.cache_dir),
      failover_(options.cache_dir) {}

HostReactor::~HostReactor() { Stop(); }

void HostReactor::Start() {
  if (stopped_) return;
  if (options_.load_cache_at_start && !options_.cache_dir.empty()) {
    Result<CachedServices> cached = disk_.LoadAll();
    if (!cached.ok()) {
      DUBBO_LOG(WARNING) << "nacos: cannot load the disk cache: " << cached.status();
    } else {
      for (const auto& [key, json] : *cached) {
        Result<ServiceInfo> info = ParseServiceInfo(json);
        if (!info.ok() || info->Key() != key) {
          DUBBO_LOG(WARNING) << "nacos: skipping the disk cache of " << key << ": "
                             << (info.ok() ? Status(InvalidArgumentError("key mismatch"))
                                           : info.status());
          continue;
        }
        Service& service = GetOrCreate(key, info->name, info->clusters);
        service.info = std::make_shared<const ServiceInfo>(std::move(*info));
        service.info_from_cache = true;
      }
      DUBBO_LOG(INFO) << "nacos: loaded " << cached->size() << " services from " << disk_.dir();
    }
  }
  if (!options_.cache_dir.empty()) {
    CheckFailover();
    Result<CachedServices> existing = failover_.LoadFailover();
    const bool empty = !existing.ok() || existing->empty();
    snapshot_timer_ = loop_->ScheduleAfter(empty ? kFirstSnapshotWhenEmpty : kFirstSnapshot,
                                           [this] { WriteFailoverSnapshot(); });
  }
}

void HostReactor::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [key, service] : services_) {
    if (service.poll_timer != kInvalidTaskId) loop_->Cancel(service.poll_timer);
    service.poll_timer = kInvalidTaskId;
    for (auto& listener : service.listeners) listener->active.store(false);
    std::vector<std::function<void()>> waiters;
    waiters.swap(service.waiters);
    for (auto& waiter : waiters) waiter();
  }
  if (failover_timer_ != kInvalidTaskId) loop_->Cancel(failover_timer_);
  if (snapshot_timer_ != kInvalidTaskId) loop_->Cancel(snapshot_timer_);
  failover_timer_ = snapshot_timer_ = kInvalidTaskId;
}

HostReactor::Service& HostReactor::GetOrCreate(const std::string& key,
                                               const std::string& grouped_name,
                                               const std::string& clusters) {
  auto [it, inserted] = services_.try_emplace(key);
  if (inserted) {
    it->second.grouped_name = grouped_name;
    it->second.clusters = clusters;
  }
  return it->second;
}

const ServiceInfo* HostReactor::Find(const std::string& key) const {
  auto it = services_.find(key);
  return it == services_.end() ? nullptr : it->second.info.get();
}

NamingRequest HostReactor::ListRequest(const std::string& grouped_name, const std::string& clusters,
                                       bool with_push) const {
  NamingRequest request;
  request.method = "GET";
  request.path = "/v1/ns/instance/list";
  request.params = {
      {"serviceName", grouped_name},
      {"clusters", clusters},
      {"udpPort", std::to_string(with_push ? udp_port_ : 0)},
      {"clientIP", client_ip_},
      {"healthyOnly", "false"},
  };
  return request;
}

// ---------------------------------------------------------------------------------------------
// Subscriptions and queries.

void HostReactor::Subscribe(const std::string& service_name, const std::string& group_name,
                            const std::string& clusters, std::shared_ptr<ListenerEntry> listener,
                            std::function<void(Status)> done) {
  if (stopped_) {
    done(FailedPreconditionError("naming client shut down"));
    return;
  }
  const std::string key = KeyOf(service_name, group_name, clusters);
  const std::string grouped = KeyOf(service_name, group_name, "");
  Service& service = GetOrCreate(key, grouped, clusters);
  listener->key = key;
  listener_keys_[listener->id] = key;
  service.listeners.push_back(listener);
  if (service.info) PostEvent(listener, nullptr, service.info, nullptr);
  EnsureSubscribed(key);
  if (service.first_query_done || service.info) {  // Cached data (load_cache_at_start) counts.
    done(Status::Ok());
  } else {
    service.waiters.push_back([this, done = std::move(done)] {
      done(stopped_ ? CancelledError("naming client shut down") : Status::Ok());
    });
  }
}

bool HostReactor::Unsubscribe(SubscriptionId id) {
  auto found = listener_keys_.find(id);
  if (found == listener_keys_.end()) return false;
  const std::string found_key = found->second;
  auto it = services_.find(found_key);
  listener_keys_.erase(found);
  if (it == services_.end()) return false;
  Service& service = it->second;
  auto& listeners = service.listeners;
  for (auto l = listeners.begin(); l != listeners.end(); ++l) {
    if ((*l)->id != id) continue;
    (*l)->active.store(false);
    listeners.erase(l);
    break;
  }
  if (listeners.empty() && !service.keep_polling) StopSubscription(found_key, service);
  return true;
}

void HostReactor::StopSubscription(const std::string& key, Service& service) {
  if (!service.subscribed) return;
  if (service.poll_timer != kInvalidTaskId) loop_->Cancel(service.poll_timer);
  service.poll_timer = kInvalidTaskId;
  service.subscribed = false;
  auto stream = stream_services_.find(service.grouped_name);
  if (stream == stream_services_.end()) return;
  stream->second.keys.erase(key);
  if (!stream->second.keys.empty()) return;
  stream_services_.erase(stream);
  stream_.unsubscribe(service.grouped_name);
}

void HostReactor::GetServiceInfo(const std::string& service_name, const std::string& group_name,
                                 const std::string& clusters, bool subscribe,
                                 std::function<void(Result<ServiceInfo>)> done) {
  if (stopped_) {
    done(FailedPreconditionError("naming client shut down"));
    return;
  }
  const std::string key = KeyOf(service_name, group_name, clusters);
  const std::string grouped = KeyOf(service_name, group_name, "");
  if (failover_on_) {
    if (std::optional<ServiceInfo> data = FailoverData(key)) {
      done(std::move(*data));
      return;
    }
  }
  if (!subscribe) {
    auto answered = [this, key, clusters, done = std::move(done)](Result<std::string> answer) {
      if (answer.ok()) {
        ServiceInfoParseReport report;
        Result<ServiceInfo> info = ParseServiceInfo(*answer, &report);
        stats_.dropped_hosts += report.dropped_hosts;
        // A gRPC answer names the service alone; the clusters are those asked for.
        if (info.ok() && feed_ == Feed::kStream) info->clusters = clusters;
        if (info.ok() && info->Key() == key) {
          done(std::move(*info));
          return;
        }
        answer =
            info.ok()
                ? InvalidArgumentError("the server answered for " + info->Key() + ", not " + key)
                : info.status();
      }
      // No answer: what we know, else the disk cache.
      if (const ServiceInfo* known = Find(key)) {
        done(*known);
        return;
      }
      Result<std::string> cached = disk_.Load(key);
      if (cached.ok()) {
        Result<ServiceInfo> info = ParseServiceInfo(*cached);
        if (info.ok() && info->Key() == key) {
          done(std::move(*info));
          return;
        }
      }
      done(answer.status());
    };
    if (feed_ == Feed::kStream) {
      stream_.query(grouped, clusters, std::move(answered));
    } else {
      proxy_->Call(ListRequest(grouped, clusters, /*with_push=*/false), std::move(answered));
    }
    return;
  }
  Service& service = GetOrCreate(key, grouped, clusters);
  service.keep_polling = true;
  EnsureSubscribed(key);
  auto answer = [this, key, done = std::move(done)] {
    if (stopped_) {
      done(CancelledError("naming client shut down"));
      return;
    }
    const ServiceInfo* info = Find(key);
    if (info == nullptr) {
      done(UnavailableError("no server answered for " + key + " and there is no cached copy"));
      return;
    }
    done(*info);
  };
  if (service.first_query_done || service.info) {
    answer();
  } else {
    service.waiters.push_back(std::move(answer));
  }
}

void HostReactor::EnsureSubscribed(const std::string& key) {
  Service& service = services_.at(key);
  if (service.subscribed) return;
  service.subscribed = true;
  if (stream_.subscribe) {
    StreamService& stream = stream_services_[service.grouped_name];
    const bool first_key = stream.keys.empty();
    stream.keys.insert(key);
    // Another key of the service holds current data: it serves this one at once.
    if (feed_ == Feed::kStream && stream.full) ApplyStream(service, *stream.full);
    if (first_key || (feed_ == Feed::kStream && !service.first_query_done)) {
      StreamSubscribe(service.grouped_name);
    }
  }
  if (feed_ == Feed::kStream) return;
  if (service.query_in_flight) return;  // Its answer schedules the next poll.
  if (!service.first_query_done) {
    Query(key);
  } else {
    SchedulePoll(service, key, service.info ? service.info->cache_millis : kMinPollMs);
  }
}

void HostReactor::Query(const std::string& key) {
  Service& service = services_.at(key);
  if (service.poll_timer != kInvalidTaskId) loop_->Cancel(service.poll_timer);
  service.poll_timer = kInvalidTaskId;
  service.query_in_flight = true;
  service.query_queued = false;
  ++stats_.polls;
  proxy_->Call(ListRequest(service.grouped_name, service.clusters, /*with_push=*/true),
               [this, key](Result<std::string> answer) { OnQuery(key, std::move(answer)); });
}

void HostReactor::QueryNow(const std::string& key) {
  Service& service = services_.at(key);
  if (stopped_ || !service.subscribed || feed_ == Feed::kStream) return;
  if (service.query_in_flight) {
    service.query_queued = true;
  } else {
    Query(key);
  }
}

void HostReactor::OnQuery(const std::string& key, Result<std::string> answer) {
  if (stopped_) return;
  Service& service = services_.at(key);
  service.query_in_flight = false;
  if (answer.ok()) {
    service.answered_at = loop_->clock()->Now();
    service.recovery_queried = false;
  }
  const bool first = !service.first_query_done;
  Status applied = answer.ok() ? ApplyJson(key, *answer, Source::kServer) : answer.status();
  if (!applied.ok()) {
    ++stats_.poll_failures;
    if (first) {
      DUBBO_LOG(WARNING) << "nacos: first query of " << key << " failed: " << applied;
      if (!service.info) FallBackToDiskCache(key);
    } else {
      DUBBO_LOG(DEBUG) << "nacos: poll of " << key << " failed: " << applied;
    }
  }
  if (first) FirstQueryDone(service);
  if (!service.subscribed || feed_ == Feed::kStream) {
    service.query_queued = false;
    return;
  }
  if (service.query_queued) {  // A push or a recovery asked while this query was out.
    Query(key);
    return;
  }
  const bool failed = !applied.ok() || !service.info || service.info->hosts.empty();
  if (failed) {
    SchedulePoll(service, key, BackoffMs(service));
  } else {
    service.fail_count = 0;
    SchedulePoll(service, key, service.info->cache_millis);
  }
}

void HostReactor::Resubscribe(TimePoint failing_since) {
  if (stopped_ || feed_ == Feed::kStream) return;
  ++stats_.recoveries;
  size_t queried = 0;
  for (auto& [key, service] : services_) {
    // A service answered since (the answer that ended the failing, say) is current.
    // A service already queried by a recovery and not answered since stays on its back-off:
    // servers that pass the probe yet fail naming calls get no query a second.
    if (!service.subscribed || service.answered_at >= failing_since || service.recovery_queried) {
      continue;
    }
    service.recovery_queried = true;
    QueryNow(key);  // fail_count stays: it resets when an answer is applied.
    ++queried;
  }
  DUBBO_LOG(INFO) << "nacos: the servers answer again; querying " << queried
                  << " subscribed services now";
}

bool HostReactor::FallBackToDiskCache(const std::string& key) {
  if (options_.cache_dir.empty()) return false;
  Result<std::string> cached = disk_.Load(key);
  if (!cached.ok()) return false;
  if (!ApplyJson(key, *cached, Source::kCache).ok()) return false;
  DUBBO_LOG(WARNING) << "nacos: serving " << key << " from the disk cache until a server answers";
  return true;
}

int64_t HostReactor::BackoffMs(Service& service) {
  service.fail_count = std::min(service.fail_count + 1, kMaxFailCount);
  return std::min<int64_t>(int64_t{1000} << service.fail_count, options_.max_poll_backoff_ms);
}

void HostReactor::SchedulePoll(Service& service, const std::string& key, int64_t delay_ms) {
  if (stopped_ || !service.subscribed || feed_ == Feed::kStream) return;
  if (service.poll_timer != kInvalidTaskId) loop_->Cancel(service.poll_timer);
  delay_ms = std::clamp(delay_ms, kMinPollMs, kMaxPollMs);
  service.poll_timer =
      loop_->ScheduleAfter(std::chrono::milliseconds(delay_ms), [this, key] { Poll(key); });
}

void HostReactor::Poll(const std::string& key) {
  Service& service = services_.at(key);
  service.poll_timer = kInvalidTaskId;
  if (stopped_ || !service.subscribed || service.query_in_flight || feed_ == Feed::kStream) return;
  Query(key);
}

void HostReactor::FirstQueryDone(Service& service) {
  service.first_query_done = true;
  std::vector<std::function<void()>> waiters;
  waiters.swap(service.waiters);
  for (auto& waiter : waiters) waiter();
}

// ---------------------------------------------------------------------------------------------
// The stream feed.

void HostReactor::SetStreamSource(StreamSource source, Feed feed) {
  stream_ = std::move(source);
  feed_ = feed;
}

void HostReactor::SetFeed(Feed feed) {
  if (stopped_ || !stream_.subscribe || feed == feed_) return;
  feed_ = feed;
  for (auto& [key, service] : services_) {
    if (!service.subscribed) continue;
    if (feed == Feed::kStream) {
      if (service.poll_timer != kInvalidTaskId) loop_->Cancel(service.poll_timer);
      service.poll_timer = kInvalidTaskId;
    } else {
      service.recovery_queried = false;
      QueryNow(key);
    }
  }
}

void HostReactor::StreamSubscribe(const std::string& grouped) {
  stream_.subscribe(grouped, [this, grouped](Result<std::string> answer) {
    OnStreamSubscribed(grouped, std::move(answer));
  });
}

void HostReactor::OnStreamSubscribed(const std::string& grouped, Result<std::string> answer) {
  if (stopped_) return;
  if (answer.ok()) {
    HandleStreamData(*answer);
  } else {
    DUBBO_LOG(DEBUG) << "nacos: subscribing to " << grouped
                     << " over gRPC failed: " << answer.status();
  }
  if (feed_ != Feed::kStream) return;  // The polls get the first data.
  auto stream = stream_services_.find(grouped);
  if (stream == stream_services_.end()) return;
  // Keys still without data: served from the disk cache until data comes (the subscription stays
  // with the source, which makes it again on its next connection).
  for (const std::string& key : stream->second.keys) {
    Service& service = services_.at(key);
    if (service.first_query_done) continue;
    DUBBO_LOG(WARNING) << "nacos: first data of " << key << " failed: "
                       << (answer.ok() ? Status(InvalidArgumentError("unusable answer"))
                                       : answer.status());
    if (!service.info) FallBackToDiskCache(key);
    FirstQueryDone(service);
  }
}

void HostReactor::HandleStreamData(std::string_view service_info_json) {
  if (stopped_) return;
  ServiceInfoParseReport report;
  Result<ServiceInfo> info = ParseServiceInfo(service_info_json, &report);
  stats_.dropped_hosts += report.dropped_hosts;
  if (!info.ok()) {
    ++stats_.malformed;
    DUBBO_LOG(WARNING) << "nacos: bad service data over gRPC: " << info.status();
    return;
  }
  info->clusters.clear();  // The source subscribes to the whole service.
  info->name = info->Key();
  auto stream = stream_services_.find(info->name);
  if (stream == stream_services_.end()) return;  // Not (or no longer) subscribed.
  StreamService& service_stream = stream->second;
  if (service_stream.full && service_stream.full_epoch == stream_epoch_ &&
      info->last_ref_time < service_stream.full->last_ref_time) {
    ++stats_.stale_pushes;
    DUBBO_LOG(DEBUG) << "nacos: dropping data of " << info->name << " older than what is held";
    return;
  }
  service_stream.full = std::make_shared<const ServiceInfo>(std::move(*info));
  service_stream.full_epoch = stream_epoch_;
  bool stale = false;
  for (const std::string& key : service_stream.keys) {
    stale |= !ApplyStream(services_.at(key), *service_stream.full);
  }
  if (stale) {
    ++stats_.stale_pushes;
  } else {
    ++stats_.stream_updates;
  }
}

bool HostReactor::ApplyStream(Service& service, const ServiceInfo& full) {
  ServiceInfo info = full;
  info.clusters = service.clusters;
  if (!service.clusters.empty()) {
    std::set<std::string_view> wanted;
    std::string_view list = service.clusters;
    while (true) {
      const size_t comma = list.find(',');
      wanted.insert(list.substr(0, comma));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    info.hosts.erase(
        std::remove_if(info.hosts.begin(), info.hosts.end(),
                       [&](const Instance& host) { return wanted.count(host.cluster_name) == 0; }),
        info.hosts.end());
  }
  if (service.info && service.info_epoch == stream_epoch_ &&
      info.last_ref_time < service.info->last_ref_time) {
    return false;
  }
  service.answered_at = loop_->clock()->Now();
  service.fail_count = 0;
  const std::string json = ServiceInfoToJson(info);
  if (Apply(service, std::move(info), json, Source::kServer)) service.info_epoch = stream_epoch_;
  if (!service.first_query_done) FirstQueryDone(service);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Applying data.

Status HostReactor::ApplyJson(const std::string& key, std::string_view json, Source source) {
  ServiceInfoParseReport report;
  Result<ServiceInfo> info = ParseServiceInfo(json, &report);
  stats_.dropped_hosts += report.dropped_hosts;
  if (!info.ok()) return info.status();
  if (info->Key() != key) {
    return InvalidArgumentError("the server answered for " + info->Key() + ", not " + key);
  }
  auto it = services_.find(key);
  if (it == services_.end()) return Status::Ok();
  Apply(it->second, std::move(*info), json, source);
  return Status::Ok();
}

bool HostReactor::Apply(Service& service, ServiceInfo info, std::string_view raw_json,
                        Source source) {
  const std::string key = info.Key();
  if (options_.push_empty_protection && service.info && HasUsableInstance(*service.info) &&
      !HasUsableInstance(info)) {
    ++stats_.empty_protected;
    DUBBO_LOG(WARNING) << "nacos: ignoring data of " << key
                       << " without a usable instance (push empty protection); keeping "
                       << service.info->hosts.size() << " instances";
    return false;
  }
  std::shared_ptr<const ServiceChangeEvent> event;
  bool changed = true;
  if (service.info) {
    event = std::make_shared<const ServiceChangeEvent>(DiffServiceInfo(*service.info, info));
    changed = Changed(*event);
  } else {
    event = std::make_shared<const ServiceChangeEvent>(AllAdded(info));
  }
  const bool write = source != Source::kCache &&
                     (changed || service.info_from_cache || !service.info || *service.info != info);
  std::shared_ptr<const ServiceInfo> before = std::move(service.info);
  service.info = std::make_shared<const ServiceInfo>(std::move(info));
  service.info_from_cache = source == Source::kCache;
  service.info_epoch = 0;  // ApplyStream() sets it for stream data.
  // Listeners first: the cache write (an fsync, milliseconds on a busy disk) must not delay them.
  if (changed) {
    for (const auto& listener : service.listeners) PostEvent(listener, before, service.info, event);
  }
  if (write && !options_.cache_dir.empty()) {
    Status written = disk_.Write(key, raw_json);
    if (!written.ok()) {
      ++stats_.cache_write_failures;
      DUBBO_LOG(WARNING) << "nacos: cannot write the disk cache of " << key << ": " << written;
    }
  }
  return true;
}

void HostReactor::PostEvent(const std::shared_ptr<ListenerEntry>& listener,
                            std::shared_ptr<const ServiceInfo> seen,
                            std::shared_ptr<const ServiceInfo> newest,
                            std::shared_ptr<const ServiceChangeEvent> event) {
  if (stopped_) return;
  if (!listener->Offer(std::move(seen), std::move(newest), std::move(event))) {
    ++stats_.events_merged;
    return;
  }
  ++stats_.events;
  post_(listener->id, [listener] { listener->Deliver(); });
}

// ---------------------------------------------------------------------------------------------
// Push: a doorbell (see host_reactor.h).

std::string HostReactor::HandleDatagram(std::string_view datagram, std::string_view source_ip) {
  if (stopped_) return {};
  if (!proxy_->IsServerIp(source_ip)) {
    ++stats_.spoofed;
    DUBBO_LOG(DEBUG) << "nacos: ignoring a datagram from " << source_ip << ", not a server";
    return {};
  }
  if (datagram.size() > kMaxDatagram) {
    ++stats_.malformed;
    return {};
  }
  Result<nacos_wire::PushPacket> packet = nacos_wire::ParsePushPacket(datagram, kMaxPushJson);
  if (!packet.ok()) {
    ++stats_.malformed;
    DUBBO_LOG(DEBUG) << "nacos: bad push datagram from " << source_ip << ": " << packet.status();
    return {};
  }
  if (packet->type == "dom" || packet->type == "service") {
    ServiceInfoParseReport report;
    Result<ServiceInfo> info = ParseServiceInfo(packet->data, &report);
    stats_.dropped_hosts += report.dropped_hosts;
    if (!info.ok()) {
      ++stats_.malformed;
      DUBBO_LOG(WARNING) << "nacos: bad push data from " << source_ip << ": " << info.status();
      return {};
    }
    ++stats_.pushes;
    OnPush(*info);
    return Reply("push-ack", packet->last_ref_time, "\"\"");
  }
  if (packet->type == "dump") {
    std::string data;
    AppendJsonString(DumpJson(), &data);
    if (data.size() > nacos_wire::kMaxUdpPayload - 128) {
      DUBBO_LOG(WARNING) << "nacos: the dump of " << services_.size()
                         << " services does not fit in a datagram; answering without data";
      data = "\"\"";
    }
    return Reply("dump-ack", packet->last_ref_time, data);
  }
  return Reply("unknown-ack", packet->last_ref_time, "\"\"");
}

void HostReactor::OnPush(const ServiceInfo& announced) {
  const std::string key = announced.Key();
  auto it = services_.find(key);
  if (it == services_.end() || !it->second.subscribed) return;  // Not (or no longer) subscribed.
  // No staleness check: lastRefTime is the pushing server's wall clock and the data held may come
  // from another server of the cluster, and the push's data is never applied anyway.
  QueryNow(key);
}

std::string HostReactor::DumpJson() const {
  std::string out = "{";
  for (const auto& [key, service] : services_) {
    if (!service.info) continue;
    if (out.size() > 1) out += ',';
    AppendJsonString(key, &out);
    out += ':';
    out += ServiceInfoToJson(*service.info);
  }
  out += '}';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Failover.

std::optional<ServiceInfo> HostReactor::FailoverData(const std::string& key) const {
  auto it = failover_data_.find(key);
  if (it == failover_data_.end()) return std::nullopt;
  return it->second;
}

void HostReactor::CheckFailover() {
  failover_timer_ = kInvalidTaskId;
  if (stopped_) return;
  const bool on = failover_.SwitchOn();
  if (on && !failover_on_) {
    failover_data_.clear();
    Result<CachedServices> loaded = failover_.LoadFailover();
    if (loaded.ok()) {
      for (const auto& [key, json] : *loaded) {
        Result<ServiceInfo> info = ParseServiceInfo(json);
        if (info.ok() && info->Key() == key) failover_data_.emplace(key, std::move(*info));
      }
    }
    DUBBO_LOG(WARNING) << "nacos: failover switch on: serving " << failover_data_.size()
                       << " services from " << failover_.failover_cache().dir();
  } else if (!on && failover_on_) {
    failover_data_.clear();
    DUBBO_LOG(WARNING) << "nacos: failover switch off";
  }
  failover_on_ = on;
  failover_timer_ = loop_->ScheduleAfter(std::chrono::milliseconds(options_.failover_check_ms),
                                         [this] { CheckFailover(); });
}

void HostReactor::WriteFailoverSnapshot() {
  snapshot_timer_ = kInvalidTaskId;
  if (stopped_) return;
  CachedServices snapshot;
  for (const auto& [key, service] : services_) {
    if (service.info && !service.info_from_cache) {
      snapshot.emplace(key, ServiceInfoToJson(*service.info));
    }
  }
  if (!snapshot.empty()) {
    Status written = failover_.WriteFailoverSnapshot(snapshot);
    if (!written.ok()) DUBBO_LOG(WARNING) << "nacos: failover snapshot: " << written;
  }
  snapshot_timer_ = loop_->ScheduleAfter(kSnapshotInterval, [this] { WriteFailoverSnapshot(); });
}

}  // namespace dubbo::registry::nacos
