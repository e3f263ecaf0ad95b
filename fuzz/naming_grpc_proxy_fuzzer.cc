// Fuzzes NamingGrpcProxy, the naming client's gRPC protocol core, with everything a server can
// send: any answer (type from a small dictionary, any body) to any request, any message on the
// bi-stream, closes, failures and time, interleaved with the client's own calls. A fake channel on
// a ManualScheduler keeps the contract of grpc_channel.h (no callback from inside a method,
// deadlines honoured, pending calls cancelled by Close). Deterministic: no thread, no socket.
//
// Checks: no crash or sanitizer report; no spin (the requests sent stay within a bound set by the
// input's length and the virtual time it lets pass); every user call's `done` runs exactly once
// (by the end, after Stop()); no hook runs after Stop().
//
// Input: records of one op byte and its operands.
//   0 answer the oldest request: type byte, u16 length, body
//   1 answer the oldest request as a healthy server would (flag byte)
//   2 fail the oldest request: status byte
//   3 stream message: type byte, u16 length, body
//   4 SetupAck (flag byte), 5 the server closes the channel
//   6 let time pass: byte count of 10 ms
//   7 a client call: selector byte
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "dubbo/registry/manual_scheduler.h"
#include "fuzz_check.h"
#include "naming_grpc_proxy.h"

namespace dubbo::registry::nacos {
namespace {

constexpr std::string_view kTypes[] = {
    "ServerCheckResponse",
    "HealthCheckResponse",
    "InstanceResponse",
    "BatchInstanceResponse",
    "QueryServiceResponse",
    "SubscribeServiceResponse",
    "ServiceListResponse",
    "ErrorResponse",
    "SetupAckRequest",
    "ClientDetectionRequest",
    "ConnectResetRequest",
    "NotifySubscriberRequest",
    "",
    "UnknownRequest",
};

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() << 8 | Byte()); }
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

struct Pending {
  GrpcMessage request;
  GrpcChannel::UnaryDone done;
  TaskId timeout = kInvalidTaskId;
  bool finished = false;
};

struct World;

class FuzzChannel final : public GrpcChannel {
 public:
  FuzzChannel(World* world, GrpcChannelEvents* events)
      : world_(world), events_(events), client_closed_(std::make_shared<bool>(false)) {}
  ~FuzzChannel() override { Close(); }
  void Unary(GrpcMessage request, Duration timeout, UnaryDone done) override;
  Status SendOnStream(GrpcMessage) override {
    return closed_ ? UnavailableError("closed") : Status::Ok();
  }
  void Close() override;

  World* const world_;
  GrpcChannelEvents* const events_;
  bool closed_ = false;                        // By either side.
  const std::shared_ptr<bool> client_closed_;  // Close() ran (outlives the channel).
};

struct World : GrpcConnector {
  ManualScheduler loop;
  FuzzChannel* channel = nullptr;  // The live channel, if any.
  std::deque<std::shared_ptr<Pending>> pending;
  uint64_t requests = 0;

  std::unique_ptr<GrpcChannel> Connect(const std::string&, int, Duration,
                                       GrpcChannelEvents* events) override {
    auto channel_ptr = std::make_unique<FuzzChannel>(this, events);
    channel = channel_ptr.get();
    return channel_ptr;
  }
  void Finish(const std::shared_ptr<Pending>& call, Result<GrpcMessage> answer) {
    if (call->finished) return;
    call->finished = true;
    loop.Cancel(call->timeout);
    call->done(std::move(answer));
  }
  // The oldest call still open, if any.
  std::shared_ptr<Pending> Oldest() {
    while (!pending.empty() && pending.front()->finished) pending.pop_front();
    if (pending.empty()) return nullptr;
    std::shared_ptr<Pending> call = pending.front();
    pending.pop_front();
    return call;
  }
};

void FuzzChannel::Unary(GrpcMessage request, Duration timeout, UnaryDone done) {
  ++world_->requests;
  auto call = std::make_shared<Pending>();
  call->request = std::move(request);
  call->done = std::move(done);
  World* world = world_;
  if (closed_) {
    world->loop.ScheduleAfter(Duration::zero(),
                              [world, call] { world->Finish(call, UnavailableError("closed")); });
    return;
  }
  call->timeout = world->loop.ScheduleAfter(
      timeout, [world, call] { world->Finish(call, DeadlineExceededError("deadline")); });
  auto& pending = world->pending;
  pending.erase(std::remove_if(pending.begin(), pending.end(),
                               [](const std::shared_ptr<Pending>& p) { return p->finished; }),
                pending.end());
  pending.push_back(call);
}

void FuzzChannel::Close() {
  if (*client_closed_) return;
  *client_closed_ = true;
  closed_ = true;
  if (world_->channel == this) world_->channel = nullptr;
  World* world = world_;
  for (const auto& call : world->pending) {
    world->loop.ScheduleAfter(Duration::zero(),
                              [world, call] { world->Finish(call, CancelledError("closed")); });
  }
}

// What a healthy server answers to `request`.
GrpcMessage GoodAnswer(const GrpcMessage& request, bool flag) {
  GrpcMessage answer;
  const std::string& t = request.type;
  const std::string info =
      "{\"name\":\"demo\",\"groupName\":\"DEFAULT_GROUP\",\"hosts\":[{\"ip\":\"10.0.0.5\","
      "\"port\":80}],\"lastRefTime\":1}";
  if (t == "ServerCheckRequest") {
    answer.type = "ServerCheckResponse";
    answer.body = std::string(
                      "{\"resultCode\":200,\"connectionId\":\"1_a_1\","
                      "\"supportAbilityNegotiation\":") +
                  (flag ? "true}" : "false}");
  } else if (t == "HealthCheckRequest") {
    answer.type = "HealthCheckResponse";
    answer.body = "{\"resultCode\":200}";
  } else if (t == "InstanceRequest" || t == "PersistentInstanceRequest") {
    answer.type = "InstanceResponse";
    answer.body = "{}";
  } else if (t == "BatchInstanceRequest") {
    answer.type = "BatchInstanceResponse";
    answer.body = "{}";
  } else if (t == "SubscribeServiceRequest" || t == "ServiceQueryRequest") {
    answer.type = t == "ServiceQueryRequest" ? "QueryServiceResponse" : "SubscribeServiceResponse";
    answer.body = "{\"serviceInfo\":" + info + "}";
  } else {
    answer.type = "ServiceListResponse";
    answer.body = "{\"count\":1,\"serviceNames\":[\"demo\"]}";
  }
  return answer;
}

GrpcMessage Fuzzed(Input& in) {
  GrpcMessage message;
  message.type = kTypes[in.Byte() % std::size(kTypes)];
  message.body = in.Bytes(in.U16());
  return message;
}

}  // namespace
}  // namespace dubbo::registry::nacos

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dubbo::registry;
  using namespace dubbo::registry::nacos;
  dubbo::fuzz::SilenceLogs();
  Input in(data, size);

  World world;
  NacosOptions options;
  options.server_addresses = {"10.0.0.1:8848", "10.0.0.2:8848"};
  options.request_timeout_ms = 3000;
  options.connect_timeout_ms = 3000;
  bool stopped = false;
  uint64_t hooks_after_stop = 0;
  NamingGrpcProxy::Hooks hooks;
  auto check_hook = [&] { hooks_after_stop += stopped ? 1 : 0; };
  hooks.on_service_info = [&](std::string) { check_hook(); };
  hooks.on_state = [&](bool) { check_hook(); };
  hooks.on_round_failed = [&](const Status&) { check_hook(); };
  hooks.access_token = [&] {
    check_hook();
    return std::string("token");
  };
  hooks.on_auth_refused = [&] { check_hook(); };
  auto proxy = std::make_unique<NamingGrpcProxy>(options, "10.0.0.9", &world, &world.loop, hooks,
                                                 /*seed=*/1);

  uint64_t issued = 0;
  uint64_t completed = 0;
  uint64_t twice = 0;
  auto status_done = [&] {
    ++issued;
    return [&, once = std::make_shared<bool>(false)](const Status&) {
      twice += *once ? 1 : 0;
      *once = true;
      ++completed;
    };
  };
  auto call = [&](uint8_t selector) {
    const std::string service = (selector & 0x10) ? "DEFAULT_GROUP@@a" : "G@@b";
    const int port = 80 + (selector >> 5);
    Instance instance;
    instance.ip = "10.0.0.5";
    instance.port = port;
    auto done = status_done();
    switch (selector % 7) {
      case 0:
        return proxy->RegisterInstance(service, instance, done);
      case 1:
        return proxy->DeregisterInstance(service, "10.0.0.5", port, done);
      case 2:
        return proxy->PersistentInstance(service, instance, selector & 0x80, done);
      case 3:
        return proxy->Subscribe(service, [done](Result<std::string> r) { done(r.status()); });
      case 4:
        proxy->Unsubscribe(service);
        return done(Status::Ok());
      case 5:
        return proxy->QueryService(service, "", selector & 0x80,
                                   [done](Result<std::string> r) { done(r.status()); });
      default:
        return proxy->ListServices("DEFAULT_GROUP", 1 + (selector >> 5), 10,
                                   [done](Result<ServiceList> r) { done(r.status()); });
    }
  };

  proxy->Start();
  call(0x00);
  call(0x10);
  call(0x30);
  call(0x03);
  world.loop.RunDue();

  uint64_t ops = 0;
  int64_t waited_ms = 0;
  while (!in.empty() && ops < 2000) {
    ++ops;
    switch (in.Byte() % 8) {
      case 0: {
        GrpcMessage answer = Fuzzed(in);
        if (auto pending = world.Oldest()) world.Finish(pending, std::move(answer));
        break;
      }
      case 1: {
        const bool flag = in.Byte() & 1;
        if (auto pending = world.Oldest())
          world.Finish(pending, GoodAnswer(pending->request, flag));
        break;
      }
      case 2: {
        const uint8_t code = in.Byte();
        const Status why(code % 2 ? StatusCode::kUnavailable : StatusCode::kDeadlineExceeded,
                         "fuzzed failure");
        if (auto pending = world.Oldest()) world.Finish(pending, why);
        break;
      }
      case 3: {
        GrpcMessage message = Fuzzed(in);
        if (world.channel != nullptr) world.channel->events_->OnStreamMessage(std::move(message));
        break;
      }
      case 4: {
        const bool persistent = in.Byte() & 1;
        GrpcMessage ack;
        ack.type = "SetupAckRequest";
        ack.body = std::string("{\"abilityTable\":{\"supportPersistentInstanceByGrpc\":") +
                   (persistent ? "true}}" : "false}}");
        if (world.channel != nullptr) world.channel->events_->OnStreamMessage(std::move(ack));
        break;
      }
      case 5:
        if (FuzzChannel* channel = world.channel) {
          // As grpc_channel.h says: pending calls fail first, and the proxy may close (and
          // destroy) the channel from inside those callbacks; then it is not told again.
          channel->closed_ = true;
          world.channel = nullptr;
          GrpcChannelEvents* events = channel->events_;
          const std::shared_ptr<bool> client_closed = channel->client_closed_;
          for (const auto& pending : world.pending) {
            world.Finish(pending, UnavailableError("reset"));
          }
          if (!*client_closed) events->OnChannelClosed(UnavailableError("reset"));
        }
        break;
      case 6: {
        // Up to 2.55 s a step and 10 virtual minutes in all: enough for every timer (5 s health
        // checks, 5 s backoff), cheap enough to run.
        const int64_t ms = std::min<int64_t>(int64_t{in.Byte()} * 10, 600'000 - waited_ms);
        waited_ms += ms;
        world.loop.AdvanceBy(std::chrono::milliseconds(ms));
        break;
      }
      default:
        call(in.Byte());
        break;
    }
    world.loop.RunDue();
    // Every timer of the proxy is >= 100 ms apart, an op causes a bounded burst (a redo of at
    // most three records and two subscriptions, a reconnect), so requests grow with ops and time
    // only.
    const uint64_t bound = 16 + 16 * ops + static_cast<uint64_t>(waited_ms / 50);
    FUZZ_CHECK(world.requests <= bound, "%llu requests after %llu ops and %lld ms",
               static_cast<unsigned long long>(world.requests),
               static_cast<unsigned long long>(ops), static_cast<long long>(waited_ms));
  }

  proxy->Stop();
  stopped = true;
  world.loop.AdvanceBy(std::chrono::seconds(10));
  FUZZ_CHECK(completed == issued, "%llu of %llu calls completed",
             static_cast<unsigned long long>(completed), static_cast<unsigned long long>(issued));
  FUZZ_CHECK(twice == 0, "a done ran twice");
  FUZZ_CHECK(hooks_after_stop == 0, "a hook ran after Stop()");
  proxy.reset();
  world.loop.AdvanceBy(std::chrono::seconds(10));
  return 0;
}
