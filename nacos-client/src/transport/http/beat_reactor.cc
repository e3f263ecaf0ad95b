// BeatReactor. See beat_reactor.h.
#include "transport/http/beat_reactor.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "internal/logging.h"
#include "server_json.h"
#include "service_info_json.h"

namespace dubbo::registry::nacos {

namespace {

constexpr int kCodeResourceNotFound = 20404;
constexpr std::string_view kBeatIntervalKey = "preserved.heart.beat.interval";

std::string BoolText(bool b) { return b ? "true" : "false"; }

std::string WeightText(double weight) {
  std::string out;
  AppendJsonDouble(weight, &out);
  return out;
}

}  // namespace

NamingRequest MakeRegisterRequest(const std::string& grouped_service, const Instance& instance) {
  NamingRequest request;
  request.method = "POST";
  request.path = "/v1/ns/instance";
  const size_t sep = grouped_service.find("@@");
  const std::string group =
      sep == std::string::npos ? std::string(kDefaultGroup) : grouped_service.substr(0, sep);
  request.params = {
      {"serviceName", grouped_service},
      {"groupName", group},
      {"clusterName", instance.cluster_name},
      {"ip", instance.ip},
      {"port", std::to_string(instance.port)},
      {"weight", WeightText(instance.weight)},
      {"enable", BoolText(instance.enabled)},
      {"healthy", BoolText(instance.healthy)},
      {"ephemeral", BoolText(instance.ephemeral)},
      {"metadata", MetadataJson(instance.metadata)},
  };
  return request;
}

NamingRequest MakeDeregisterRequest(const std::string& grouped_service, const Instance& instance) {
  NamingRequest request;
  request.method = "DELETE";
  request.path = "/v1/ns/instance";
  request.params = {{"serviceName", grouped_service},
                    {"clusterName", instance.cluster_name},
                    {"ip", instance.ip},
                    {"port", std::to_string(instance.port)},
                    {"ephemeral", BoolText(instance.ephemeral)}};
  return request;
}

int64_t BeatPeriodOf(const Instance& instance, int64_t fallback_ms, std::string* problem) {
  fallback_ms = std::max(kMinBeatPeriodMs, fallback_ms);
  const auto it = instance.metadata.find(std::string(kBeatIntervalKey));
  if (it == instance.metadata.end() || it->second.empty()) return fallback_ms;
  const std::string& text = it->second;
  int64_t value = 0;
  bool digits = text.size() <= 12;
  for (size_t i = 0; digits && i < text.size(); ++i) {
    digits = text[i] >= '0' && text[i] <= '9';
    value = value * 10 + (text[i] - '0');
  }
  int64_t used = value;
  const char* what = nullptr;
  if (!digits || value == 0) {
    what = "is not a positive integer of at most 12 digits";
    used = fallback_ms;
  } else if (value < kMinBeatPeriodMs) {
    what = "is below the minimum";
    used = kMinBeatPeriodMs;
  }
  if (what != nullptr && problem != nullptr) {
    // The value is cut short: it is metadata from the caller, of any length.
    *problem = std::string(kBeatIntervalKey) + "=" + text.substr(0, 32) + " " + what +
               " (accepted: [" + std::to_string(kMinBeatPeriodMs) + ", 999999999999] ms); using " +
               std::to_string(used);
  }
  return used;
}

std::string BeatJson(const std::string& grouped_service, const Instance& instance,
                     int64_t period_ms) {
  std::string out = "{\"port\":" + std::to_string(instance.port) + ",\"ip\":";
  AppendJsonString(instance.ip, &out);
  out += ",\"weight\":";
  AppendJsonDouble(instance.weight, &out);
  out += ",\"serviceName\":";
  AppendJsonString(grouped_service, &out);
  out += ",\"cluster\":";
  AppendJsonString(instance.cluster_name, &out);
  out += ",\"metadata\":" + MetadataJson(instance.metadata);
  out += ",\"scheduled\":false,\"period\":" + std::to_string(period_ms) + ",\"stopped\":false}";
  return out;
}

BeatReactor::BeatReactor(const NacosOptions& options, NamingProxy* proxy, Scheduler* loop,
                         Duration tick)
    : options_(options), proxy_(proxy), loop_(loop), tick_(tick) {}

BeatReactor::~BeatReactor() { Stop(); }

std::string BeatReactor::KeyOf(std::string_view grouped_service, std::string_view ip, int port) {
  std::string key(grouped_service);
  key += '#';
  key += ip;
  key += '#';
  key += std::to_string(port);
  return key;
}

void BeatReactor::Add(const std::string& grouped_service, const Instance& instance) {
  if (stopped_) return;
  const std::string key = KeyOf(grouped_service, instance.ip, instance.port);
  auto [it, inserted] = beats_.try_emplace(key);
  Beat& beat = it->second;
  if (!inserted && beat.timer != kInvalidTaskId) loop_->Cancel(beat.timer);
  beat = Beat{};
  beat.id = next_id_++;
  beat.grouped_service = grouped_service;
  beat.instance = instance;
  std::string problem;
  beat.period_ms = BeatPeriodOf(instance, options_.beat_interval_ms, &problem);
  if (!problem.empty()) LogWarning("instance " + key + ": " + problem);
  Schedule(beat, beat.period_ms);
}

bool BeatReactor::Remove(const std::string& grouped_service, const std::string& ip, int port) {
  auto it = beats_.find(KeyOf(grouped_service, ip, port));
  if (it == beats_.end()) return false;
  if (it->second.timer != kInvalidTaskId) loop_->Cancel(it->second.timer);
  beats_.erase(it);
  return true;
}

void BeatReactor::Stop() {
  stopped_ = true;
  waiting_.clear();
  for (auto& [key, beat] : beats_) {
    if (beat.timer != kInvalidTaskId) loop_->Cancel(beat.timer);
  }
  beats_.clear();
}

int64_t BeatReactor::NextDelayMsForTest(const std::string& grouped_service, const std::string& ip,
                                        int port) const {
  auto it = beats_.find(KeyOf(grouped_service, ip, port));
  return it == beats_.end() ? -1 : it->second.next_delay_ms;
}

void BeatReactor::Schedule(Beat& beat, int64_t delay_ms) {
  beat.next_delay_ms = delay_ms;
  const std::string key = KeyOf(beat.grouped_service, beat.instance.ip, beat.instance.port);
  const uint64_t id = beat.id;
  Duration delay = std::chrono::milliseconds(delay_ms);
  if (tick_ > Duration::zero()) {
    // Round the deadline up to a multiple of the tick: beats due within one tick share one wake-up
    // of the loop (thousands of instances would otherwise wake it thousands of times a second).
    const Duration deadline = loop_->clock()->Now().time_since_epoch() + delay;
    const Duration rem = deadline % tick_;
    if (rem != Duration::zero()) delay += tick_ - rem;
  }
  beat.timer = loop_->ScheduleAfter(delay, [this, key, id] { SendBeat(key, id); });
}

void BeatReactor::SendBeat(const std::string& key, uint64_t id) {
  auto it = beats_.find(key);
  if (it == beats_.end() || it->second.id != id) return;
  Beat& beat = it->second;
  beat.timer = kInvalidTaskId;
  if (in_flight_ >= kMaxBeatsInFlight) {
    waiting_.emplace_back(key, id);  // Sent as answers come back; costs no socket or buffer.
    return;
  }
  ++in_flight_;
  NamingRequest request;
  request.method = "PUT";
  request.path = "/v1/ns/instance/beat";
  request.params = {
      {"serviceName", beat.grouped_service},
      {"clusterName", beat.instance.cluster_name},
      {"ip", beat.instance.ip},
      {"port", std::to_string(beat.instance.port)},
  };
  if (!beat.light_allowed) {
    request.form = {{"beat", BeatJson(beat.grouped_service, beat.instance, beat.period_ms)}};
  } else {
    ++stats_.light;
  }
  ++stats_.sent;
  proxy_->Call(std::move(request), [this, key, id](Result<std::string> answer) {
    --in_flight_;
    OnBeatAnswer(key, id, std::move(answer));
    while (!stopped_ && in_flight_ < kMaxBeatsInFlight && !waiting_.empty()) {
      auto [next_key, next_id] = std::move(waiting_.front());
      waiting_.pop_front();
      SendBeat(next_key, next_id);
    }
  });
}

void BeatReactor::OnBeatAnswer(const std::string& key, uint64_t id, Result<std::string> answer) {
  auto it = beats_.find(key);
  if (stopped_ || it == beats_.end() || it->second.id != id) return;  // Removed or replaced.
  Beat& beat = it->second;
  int64_t next = beat.period_ms;
  if (!answer.ok()) {
    ++stats_.failed;
    LogFailure("beat of " + key, answer.status());
    Schedule(beat, next);
    return;
  }
  Result<JsonAnswer> doc = JsonAnswer::Parse(*answer, kMaxSmallAnswerBytes, "beat answer");
  if (!doc.ok()) {
    ++stats_.failed;
    LogFailure("beat of " + key, doc.status());
    Schedule(beat, next);
    return;
  }
  std::string problem;
  next = ClampDuration(BeatIntervalRange(beat.period_ms), *doc, &problem);
  if (!problem.empty()) LogWarning("beat answer for " + key + ": " + problem);
  // A missing lightBeatEnabled means false (the Java client's rule).
  beat.light_allowed = doc->Bool("lightBeatEnabled").value_or(false);
  if (doc->Int64("code") == kCodeResourceNotFound) {
    // The server does not know the instance, so its clientBeatInterval is its default, not the
    // instance's preserved.heart.beat.interval: keep the period (the Java client takes the 5 s
    // default here, which can let a short preserved.heart.beat.timeout expire the instance).
    next = beat.period_ms;
    ++stats_.reregistered;
    DUBBO_LOG(INFO) << "nacos: server forgot " << key << "; registering it again";
    NamingRequest request = MakeRegisterRequest(beat.grouped_service, beat.instance);
    proxy_->Call(std::move(request), [this, key](Result<std::string> registered) {
      if (!registered.ok()) LogFailure("re-register of " + key, registered.status());
    });
  }
  Schedule(beat, next);
}

void BeatReactor::LogFailure(const std::string& what, const Status& error) {
  if (error.code() == StatusCode::kCancelled) return;
  LogWarning(what + " failed: " + error.ToString());
}

void BeatReactor::LogWarning(const std::string& line) {
  uint64_t held_back = 0;
  if (!log_limiter_.Allow(loop_->clock()->Now(), &held_back)) return;
  DUBBO_LOG(WARNING) << "nacos: " << line << internal::HeldBackNote(held_back);
}

}  // namespace dubbo::registry::nacos
