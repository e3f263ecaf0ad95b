// Internal: BeatReactor, the heartbeats of the ephemeral instances a client registered, one timer
// per instance on the client's loop (no thread of its own; the Java client runs a pool).
//
// Per instance: the first beat goes `period` after Add() (period = the instance's
// `preserved.heart.beat.interval` metadata, else options.beat_interval_ms, at least
// kMinBeatPeriodMs = 1 s; a bad or too short metadata value is logged) and is full (the beat
// JSON in the body, so that a server which lost the instance re-creates it). Later beats are light
// (no body) while the server's last answer said `lightBeatEnabled:true`. The next beat goes after
// the server's `clientBeatInterval`, clamped into BeatIntervalRange(period) (server_json.h: [1 s,
// 30 s] widened to include the period; absent, <= 0 or not a number: the period). A `code:20404`
// answer (unknown instance) re-registers it at once, and the next beat goes after `period` (that
// answer's clientBeatInterval is the server's default, not the instance's). An answer that is not
// a JSON object within the caps of server_json.h counts as a failed beat. Failures and clamped
// intervals are logged (at most one line per 10 s, with a count of the rest) and never stop the
// schedule.
//
// Thread-safety: none. Every method must be called on the loop (the Scheduler's thread).
#ifndef DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_BEAT_REACTOR_H_
#define DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_BEAT_REACTOR_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/scheduler.h"
#include "internal/logging.h"
#include "transport/http/naming_proxy.h"

namespace dubbo::registry::nacos {

// POST /v1/ns/instance for `instance` in `grouped_service` ("group@@name"), with the parameters the
// Java client sends (namespaceId is added by the proxy).
NamingRequest MakeRegisterRequest(const std::string& grouped_service, const Instance& instance);

// DELETE /v1/ns/instance for `instance` (its ip, port, cluster_name and ephemeral) of
// `grouped_service`.
NamingRequest MakeDeregisterRequest(const std::string& grouped_service, const Instance& instance);

// The instance's beat period in ms: its preserved.heart.beat.interval when that is a positive
// integer of at most 12 digits, else `fallback_ms`; either raised to kMinBeatPeriodMs (1 s). When
// the metadata value is malformed or below 1 s, `*problem` (if not null) says so, naming the key,
// the value and the period used.
int64_t BeatPeriodOf(const Instance& instance, int64_t fallback_ms,
                     std::string* problem = nullptr);

// The beat JSON of the Java client's BeatInfo.
std::string BeatJson(const std::string& grouped_service, const Instance& instance,
                     int64_t period_ms);

struct BeatStats {
  uint64_t sent = 0;          // Beats sent.
  uint64_t light = 0;         // Of which light.
  uint64_t failed = 0;        // Beats without a usable answer.
  uint64_t reregistered = 0;  // Re-registrations after 20404.
};

class BeatReactor {
 public:
  // At most this many beats wait for an answer at once; the rest queue (in due order) until one
  // comes back, so a burst of due beats never opens thousands of connections or buffers.
  static constexpr size_t kMaxBeatsInFlight = 64;

  // `proxy` and `loop` must outlive this object. Deadlines are rounded up to a multiple of `tick`
  // on the loop's clock (zero: exact), so that beats due close together share one wake-up.
  BeatReactor(const NacosOptions& options, NamingProxy* proxy, Scheduler* loop,
              Duration tick = std::chrono::milliseconds(20));
  ~BeatReactor();

  BeatReactor(const BeatReactor&) = delete;
  BeatReactor& operator=(const BeatReactor&) = delete;

  // Starts beating `instance` of `grouped_service`, replacing the beats of the same service, ip and
  // port (the new data is what later beats and re-registrations carry).
  void Add(const std::string& grouped_service, const Instance& instance);
  // Stops them. False if there were none.
  bool Remove(const std::string& grouped_service, const std::string& ip, int port);
  // Stops every beat; Add() does nothing afterwards.
  void Stop();

  size_t size() const { return beats_.size(); }
  const BeatStats& stats() const { return stats_; }
  // The delay before the next beat of an instance (for tests); -1 when it is unknown.
  int64_t NextDelayMsForTest(const std::string& grouped_service, const std::string& ip,
                             int port) const;

 private:
  struct Beat {
    uint64_t id = 0;  // Changes on every Add(), so stale timers and answers are recognised.
    std::string grouped_service;
    Instance instance;
    int64_t period_ms = 0;
    int64_t next_delay_ms = 0;
    bool light_allowed = false;
    TaskId timer = kInvalidTaskId;
  };

  static std::string KeyOf(std::string_view grouped_service, std::string_view ip, int port);
  void Schedule(Beat& beat, int64_t delay_ms);
  void SendBeat(const std::string& key, uint64_t id);
  void OnBeatAnswer(const std::string& key, uint64_t id, Result<std::string> answer);
  void LogFailure(const std::string& what, const Status& error);
  // Through log_limiter_: a server can make every answer fail.
  void LogWarning(const std::string& line);

  const NacosOptions options_;
  NamingProxy* const proxy_;
  Scheduler* const loop_;
  const Duration tick_;
  size_t in_flight_ = 0;
  std::deque<std::pair<std::string, uint64_t>> waiting_;  // Due beats over the in-flight cap.
  std::map<std::string, Beat> beats_;  // By "group@@service#ip#port", as the Java client keys them.
  uint64_t next_id_ = 1;
  bool stopped_ = false;
  BeatStats stats_;
  internal::LogRateLimiter log_limiter_{std::chrono::seconds(10)};
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_BEAT_REACTOR_H_
