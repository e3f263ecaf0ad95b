// Fuzzes the naming client's whole server-facing path: the real NamingProxy (login on, one server),
// BeatReactor (one registered instance) and HostReactor (one subscribed service) on a
// ManualScheduler, with a transport that lets the input answer every request (beat, login, instance
// list, service list, metrics, register) with any status and body, and with UDP datagrams from the
// server's address. Deterministic: no thread, no socket, no real clock.
//
// Checks: no crash or sanitizer report, no spin (the timers run and the requests sent stay within
// a bound set by the input's length and the virtual time it lets pass, which holds only if every
// duration from the wire is clamped), a token within its cap, and held data that round-trips.
//
// Input: records of one op byte and its operands.
//   0 answer the oldest request: status byte, u16 length, body
//   1 fail the oldest request (no answer)
//   2 datagram from the server: flags byte (bit 0: gzip it), u16 length, payload
//   3 let time pass: u16 count of 100 ms
//   4 GetServices, 5 GetServerStatus, 6 register again, 7 query a service once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "transport/http/beat_reactor.h"
#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "fuzz_check.h"
#include "host_reactor.h"
#include "transport/http/naming_proxy.h"
#include "push_codec.h"
#include "service_info_json.h"

namespace {

using namespace dubbo::registry;         // NOLINT
using namespace dubbo::registry::nacos;  // NOLINT

constexpr size_t kMaxOps = 512;
// Virtual time one input may let pass; enough for every timer to fire many times.
constexpr int64_t kMaxVirtualMs = 2 * 3600 * 1000;
// Timers one second of virtual time may run: the beat, the poll, the login refresh and retry, with
// room to spare. Every one of them is at least 1 s apart once its duration is clamped.
constexpr uint64_t kTimersPerSecond = 16;
// Requests one op may cause (a login releases the calls that waited for it, one per earlier op).
constexpr uint64_t kRequestsPerOp = 8;

class FuzzTransport final : public HttpTransport {
 public:
  void Send(HttpRequest request, std::function<void(HttpResponse)> done) override {
    ++sent_;
    pending_.push_back(std::move(done));
    (void)request;
  }
  void CancelAll() override {
    while (!pending_.empty()) {
      HttpResponse r;
      r.transport_error = CancelledError("cancelled");
      Complete(std::move(r));
    }
  }
  bool Complete(HttpResponse response) {
    if (pending_.empty()) return false;
    std::function<void(HttpResponse)> done = std::move(pending_.front());
    pending_.pop_front();
    done(std::move(response));
    return true;
  }
  uint64_t sent() const { return sent_; }

 private:
  std::deque<std::function<void(HttpResponse)>> pending_;
  uint64_t sent_ = 0;
};

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() {
    const uint16_t lo = Byte();
    return static_cast<uint16_t>(lo | (Byte() << 8));
  }
  std::string Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

constexpr int kStatuses[] = {200, 200, 200, 200, 304, 400, 403, 404, 500, 503};
constexpr char kService[] = "DEFAULT_GROUP@@demo";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dubbo::fuzz::SilenceLogs();
  NacosOptions options;
  options.server_addresses = {"127.0.0.1:8848"};
  options.username = "nacos";
  options.password = "secret";
  options.max_retry = 2;
  ManualScheduler sched;
  FuzzTransport http;
  NamingProxy proxy(options, &http, &sched, 1);
  BeatReactor beats(options, &proxy, &sched);
  HostReactor hosts(
      options, &proxy, &sched, [](SubscriptionId, std::function<void()> fn) { fn(); }, 5555,
      "127.0.0.1");
  proxy.Start();
  hosts.Start();
  Instance instance;
  instance.ip = "10.0.0.5";
  instance.port = 20880;
  beats.Add(kService, instance);
  proxy.Call(MakeRegisterRequest(kService, instance), [](Result<std::string>) {});
  auto listener = std::make_shared<ListenerEntry>();
  listener->id = 1;
  listener->fn = [](const ServiceChangeEvent& event) {
    FUZZ_CHECK(event.instances.size() < (size_t{1} << 24), "absurd event");
  };
  hosts.Subscribe("demo", "", "", listener, [](Status) {});

  Input in(data, size);
  uint64_t ops = 1;
  int64_t virtual_ms = 0;
  uint64_t timers_run = 0;
  for (size_t n = 0; n < kMaxOps && !in.empty(); ++n, ++ops) {
    switch (in.Byte() % 8) {
      case 0: {
        HttpResponse r;
        r.status = kStatuses[in.Byte() % (sizeof(kStatuses) / sizeof(kStatuses[0]))];
        r.body = in.Bytes(in.U16());
        r.peer_ip = "127.0.0.1";
        http.Complete(std::move(r));
        break;
      }
      case 1: {
        HttpResponse r;
        r.transport_error = UnavailableError("connection refused");
        http.Complete(std::move(r));
        break;
      }
      case 2: {
        const bool gzip = (in.Byte() & 1) != 0;
        std::string datagram = in.Bytes(in.U16());
        if (gzip) datagram = dubbo::nacos_wire::Gzip(datagram).value_or(std::string());
        const std::string reply = hosts.HandleDatagram(datagram, "127.0.0.1");
        FUZZ_CHECK(reply.size() <= 65536 + 256, "reply of %zu bytes", reply.size());
        break;
      }
      case 3: {
        const int64_t ms = int64_t{in.U16()} * 100;
        if (virtual_ms + ms > kMaxVirtualMs) break;
        virtual_ms += ms;
        timers_run += sched.AdvanceBy(std::chrono::milliseconds(ms));
        break;
      }
      case 4: {
        NamingRequest request;
        request.path = "/v1/ns/service/list";
        request.params = {{"pageNo", "1"}, {"pageSize", "10"}, {"groupName", "DEFAULT_GROUP"}};
        proxy.Call(std::move(request), [](Result<std::string> body) {
          if (!body.ok()) return;
          Result<ServiceList> list = ParseServiceListAnswer(*body);
          if (list.ok()) FUZZ_CHECK(list->count >= 0, "negative count");
        });
        break;
      }
      case 5: {
        NamingRequest request;
        request.path = "/v1/ns/operator/metrics";
        proxy.Call(std::move(request), [](Result<std::string> body) {
          if (body.ok()) (void)IsServerUpAnswer(*body);
        });
        break;
      }
      case 6:
        proxy.Call(MakeRegisterRequest(kService, instance), [](Result<std::string>) {});
        break;
      case 7:
        hosts.GetServiceInfo("demo", "", "", /*subscribe=*/false, [](Result<ServiceInfo>) {});
        break;
    }
    // Timers that run when no time passes (ScheduleAfter with delay 0) count as well.
    timers_run += sched.RunDue();
    const uint64_t seconds = static_cast<uint64_t>(virtual_ms / 1000) + 1;
    FUZZ_CHECK(timers_run <= kTimersPerSecond * seconds + kRequestsPerOp * ops,
               "spin: %llu timers in %llu s after %llu ops", (unsigned long long)timers_run,
               (unsigned long long)seconds, (unsigned long long)ops);
    FUZZ_CHECK(http.sent() <= kRequestsPerOp * ops + kTimersPerSecond * seconds,
               "spin: %llu requests in %llu s after %llu ops", (unsigned long long)http.sent(),
               (unsigned long long)seconds, (unsigned long long)ops);
    FUZZ_CHECK(proxy.access_token().size() <= 4096, "token of %zu bytes",
               proxy.access_token().size());
    if (const ServiceInfo* held = hosts.Find(kService)) {
      FUZZ_CHECK(ParseServiceInfo(ServiceInfoToJson(*held)).ok(), "held data does not round trip");
      FUZZ_CHECK(held->cache_millis >= kCacheMillisRange.min &&
                     held->cache_millis <= kCacheMillisRange.max,
                 "cacheMillis %lld out of range", (long long)held->cache_millis);
    }
  }
  beats.Stop();
  hosts.Stop();
  proxy.Stop();
  http.CancelAll();
  return 0;
}
