// grpc_bench: the naming-server's gRPC figures, driven by grpc++ (an independent gRPC
// implementation, used here as a load generator only).
//
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode fanout     [--subscribers 1000] [--changes 200]
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode disconnect [--subscribers 1000] [--changes 50]
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode register   [--connections 8] [--count 20000]
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode idle       [--connections 5000] [--seconds 60]
//
// Every connection is its own grpc++ channel (local subchannel pool, so its own TCP connection and
// its own Nacos connection id) and opens the bi-stream with a ConnectionSetupRequest
// (labels module=naming, source=sdk), then waits for a HealthCheckRequest to succeed, as the Rust
// SDK does. Every stream answers ClientDetectionRequest and acks NotifySubscriberRequest with
// NotifySubscriberResponse (same requestId, resultCode 200).
//
//   fanout      --subscribers connections subscribe to --service. A publisher connection then
//               registers (even rounds) or deregisters (odd rounds) 10.254.1.1:8080 with an
//               InstanceRequest, --gap-ms apart (the server merges changes that follow a push
//               within push_delay_ms, default 50). Measured from just before the request is sent:
//               first (the first subscriber has acked the push) and acked (every subscriber has a
//               push with the new state and its ack has been written to its stream).
//   disconnect  Each round starts a child process (this program, --mode publisher) that registers
//               10.254.1.2:8080 on its own connection; once every subscriber has it, and --gap-ms
//               later, the child is SIGKILLed (the kernel closes its socket) and the time runs
//               until every subscriber has a push without it, and has acked it.
//   register    --connections connections register --count instances in all: connection c
//               registers 10.253.c.1:8080 in services svc-0, svc-1, ... (each request a new
//               instance), --window requests in flight per connection. Prints registrations/s.
//   idle        --connections connections register one instance each (one service per
//               connection) and stay idle for --seconds, answering client detection. The driver
//               (bench/naming/grpc.sh) reads the server's RSS and CPU time meanwhile.
// Prints p50/p90/p99/max of every interval.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "nacos_grpc_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "grpc_bench: %s\n", message.c_str());
  std::exit(1);
}

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Flags {
  std::string server;
  std::string mode = "fanout";
  std::string service = "bench";
  int subscribers = 1000;
  int changes = 200;
  int connections = 8;
  int count = 20000;
  int window = 64;
  int seconds = 60;
  int gap_ms = 60;
};

Payload MakePayload(const std::string& type, const std::string& body) {
  Payload payload;
  payload.mutable_metadata()->set_type(type);
  payload.mutable_metadata()->set_clientip("127.0.0.1");
  payload.mutable_body()->set_value(body);
  return payload;
}

// The value of `"key":"..."` in a flat JSON body, or "".
std::string StringField(const std::string& json, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  const size_t at = json.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  const size_t end = json.find('"', start);
  return end == std::string::npos ? "" : json.substr(start, end - start);
}

std::string InstanceJson(const std::string& ip, int port) {
  return R"({"ip":")" + ip + R"(","port":)" + std::to_string(port) +
         R"(,"weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","metadata":{"side":"provider"}})";
}

std::string NamingBody(const std::string& service, const std::string& extra) {
  return R"({"headers":{},"namespace":"public","serviceName":")" + service +
         R"(","groupName":"DEFAULT_GROUP",)" + extra + R"(,"module":"naming"})";
}

// One Nacos connection: a channel, its bi-stream (a reactor) and unary calls on the same channel.
class Connection : public grpc::ClientBidiReactor<Payload, Payload> {
 public:
  // Called (on a grpc thread) for every NotifySubscriberRequest, after its ack is queued.
  using PushCallback = std::function<void(const std::string& body)>;

  Connection(const std::string& server, PushCallback on_push) : on_push_(std::move(on_push)) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 16 << 20);
    channel_ = grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
    request_ = Request::NewStub(channel_);
    stream_stub_ = BiRequestStream::NewStub(channel_);
  }

  // Opens the stream, sends the setup and waits until a health check passes.
  void Setup() {
    stream_stub_->async()->requestBiStream(&stream_context_, this);
    Write(MakePayload(
        "ConnectionSetupRequest",
        R"({"clientVersion":"grpc-bench","labels":{"module":"naming","source":"sdk"},"tenant":"public","abilityTable":{},"headers":{}})"));
    StartRead(&incoming_);
    StartCall();
    for (int attempt = 0;; ++attempt) {
      Payload answer;
      const bool ok = Unary(MakePayload("HealthCheckRequest", R"({"headers":{}})"), &answer);
      if (ok && answer.metadata().type() == "HealthCheckResponse") return;
      if (attempt == 3000) {
        Die("connection setup never completed: " +
            (ok ? answer.metadata().type() + " " + answer.body().value() : "call failed"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  bool Unary(const Payload& request, Payload* answer) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return request_->request(&context, request, answer).ok();
  }

  // Asynchronous unary call; `done` runs on a grpc thread.
  void UnaryAsync(const Payload& request, std::function<void(bool ok, const Payload&)> done) {
    struct Call {
      grpc::ClientContext context;
      Payload request;
      Payload answer;
    };
    auto call = std::make_shared<Call>();
    call->request = request;
    request_->async()->request(&call->context, &call->request, &call->answer,
                               [call, done = std::move(done)](grpc::Status status) {
                                 done(status.ok(), call->answer);
                               });
  }

  // Writes one message on the stream (queued while another write is in flight).
  void Write(Payload payload, std::function<void()> written = nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    writes_.push_back({std::move(payload), std::move(written)});
    if (writes_.size() == 1) StartWrite(&writes_.front().payload);
  }

  void OnWriteDone(bool ok) override {
    std::function<void()> written;
    {
      std::lock_guard<std::mutex> lock(mu_);
      written = std::move(writes_.front().written);
      writes_.pop_front();
      if (ok && !writes_.empty()) StartWrite(&writes_.front().payload);
    }
    if (ok && written) written();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const std::string type = incoming_.metadata().type();
    const std::string body = incoming_.body().value();
    const std::string id = StringField(body, "requestId");
    if (type == "NotifySubscriberRequest") {
      Write(MakePayload("NotifySubscriberResponse",
                        R"({"resultCode":200,"errorCode":0,"requestId":")" + id +
                            R"(","success":true})"),
            [this, body] { on_push_(body); });
    } else if (type == "ClientDetectionRequest") {
      Write(MakePayload("ClientDetectionResponse", R"({"resultCode":200,"errorCode":0,"requestId":")" +
                                                       id + R"(","success":true})"));
    }
    StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& /*status*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

  // Cancels the stream and waits for OnDone.
  void Close() {
    stream_context_.TryCancel();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return done_; });
  }

 private:
  struct PendingWrite {
    Payload payload;
    std::function<void()> written;
  };
  PushCallback on_push_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Request::Stub> request_;
  std::unique_ptr<BiRequestStream::Stub> stream_stub_;
  grpc::ClientContext stream_context_;
  Payload incoming_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::deque<PendingWrite> writes_;
};

bool Succeeded(const Payload& answer) {
  return answer.body().value().find("\"resultCode\":200") != std::string::npos;
}

void Register(Connection& connection, const std::string& service, const std::string& ip,
              int port, bool deregister = false) {
  Payload answer;
  const std::string type = deregister ? "deregisterInstance" : "registerInstance";
  if (!connection.Unary(MakePayload("InstanceRequest",
                                    NamingBody(service, R"("type":")" + type + R"(","instance":)" +
                                                            InstanceJson(ip, port))),
                        &answer) ||
      !Succeeded(answer)) {
    Die(type + " failed: " + answer.body().value());
  }
}

void Print(const char* name, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))]; };
  std::printf("%-10s n=%zu p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms\n", name, ms.size(),
              at(0.5), at(0.9), at(0.99), ms.back());
}

// Subscribers that count, per round, how many have seen the expected state and acked it.
class Subscribers {
 public:
  Subscribers(const Flags& flags, const std::string& watched_ip) : watched_ip_(watched_ip) {
    seen_round_.assign(static_cast<size_t>(flags.subscribers), 0);
    for (int i = 0; i < flags.subscribers; ++i) {
      connections_.push_back(std::make_unique<Connection>(
          flags.server, [this, i](const std::string& body) { OnPush(static_cast<size_t>(i), body); }));
    }
    for (auto& connection : connections_) connection->Setup();
    for (auto& connection : connections_) {
      Payload answer;
      if (!connection->Unary(MakePayload("SubscribeServiceRequest",
                                         NamingBody(flags.service, R"("subscribe":true,"clusters":"")")),
                             &answer) ||
          !Succeeded(answer)) {
        Die("subscribe failed: " + answer.body().value());
      }
    }
  }
  ~Subscribers() {
    for (auto& connection : connections_) connection->Close();
  }

  // Starts a round that ends when every subscriber has acked a push in which the watched ip is
  // `present`.
  void Expect(bool present) {
    std::lock_guard<std::mutex> lock(mu_);
    expect_present_ = present;
    acked_ = 0;
    first_ = {};
    all_ = {};
    round_ += 1;
  }
  // Waits for the round's end; returns (first, all acked) times.
  std::pair<Clock::time_point, Clock::time_point> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30),
                      [this] { return acked_ == connections_.size(); })) {
      Die("round " + std::to_string(round_) + ": only " + std::to_string(acked_) + " of " +
          std::to_string(connections_.size()) + " subscribers got the push");
    }
    return {first_, all_};
  }

 private:
  void OnPush(size_t index, const std::string& body) {
    const bool present = body.find("\"ip\":\"" + watched_ip_ + "\"") != std::string::npos;
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    // A late push of the previous state, or a second push to this subscriber in this round.
    if (present != expect_present_ || seen_round_[index] == round_) return;
    seen_round_[index] = round_;
    if (acked_ == 0) first_ = now;
    if (++acked_ == connections_.size()) {
      all_ = now;
      cv_.notify_all();
    }
  }

  const std::string watched_ip_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool expect_present_ = false;
  size_t acked_ = 0;
  uint64_t round_ = 0;
  std::vector<uint64_t> seen_round_;  // The last round each subscriber counted in.
  Clock::time_point first_;
  Clock::time_point all_;
};

void RunFanout(const Flags& flags) {
  Subscribers subscribers(flags, "10.254.1.1");
  Connection publisher(flags.server, [](const std::string&) {});
  publisher.Setup();
  std::vector<double> first_ms, acked_ms;
  for (int round = 0; round < flags.changes; ++round) {
    const bool present = round % 2 == 0;
    subscribers.Expect(present);
    const Clock::time_point start = Clock::now();
    Register(publisher, flags.service, "10.254.1.1", 8080, !present);
    const auto [first, all] = subscribers.Wait();
    first_ms.push_back(Millis(first - start));
    acked_ms.push_back(Millis(all - start));
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.gap_ms));
  }
  Print("first", first_ms);
  Print("acked", acked_ms);
  publisher.Close();
}

// The child of --mode disconnect: registers, says "ready", waits to be killed.
void RunPublisher(const Flags& flags) {
  Connection publisher(flags.server, [](const std::string&) {});
  publisher.Setup();
  Register(publisher, flags.service, "10.254.1.2", 8080);
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

void RunDisconnect(const Flags& flags, const char* self) {
  Subscribers subscribers(flags, "10.254.1.2");
  std::vector<double> first_ms, acked_ms;
  for (int round = 0; round < flags.changes; ++round) {
    subscribers.Expect(true);
    int out[2];
    if (::pipe(out) != 0) Die("pipe");
    const pid_t child = ::fork();
    if (child == 0) {
      ::dup2(out[1], 1);
      ::execl(self, self, "--mode", "publisher", "--server", flags.server.c_str(), "--service",
              flags.service.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    ::close(out[1]);
    char line[16] = {0};
    if (::read(out[0], line, sizeof(line) - 1) <= 0) Die("publisher did not start");
    ::close(out[0]);
    subscribers.Wait();  // Everyone has the instance.
    // Past the merge window that push opened: the kill is an isolated change.
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.gap_ms));
    subscribers.Expect(false);
    const Clock::time_point start = Clock::now();
    ::kill(child, SIGKILL);
    const auto [first, all] = subscribers.Wait();
    ::waitpid(child, nullptr, 0);
    first_ms.push_back(Millis(first - start));
    acked_ms.push_back(Millis(all - start));
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.gap_ms));
  }
  Print("first", first_ms);
  Print("acked", acked_ms);
}

void RunRegister(const Flags& flags) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < flags.connections; ++i) {
    connections.push_back(std::make_unique<Connection>(flags.server, [](const std::string&) {}));
    connections.back()->Setup();
  }
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int failed = 0;
  const int per_connection = flags.count / flags.connections;
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < flags.connections; ++c) {
    threads.emplace_back([&, c] {
      std::mutex window_mu;
      std::condition_variable window_cv;
      int in_flight = 0;
      for (int n = 0; n < per_connection; ++n) {
        {
          std::unique_lock<std::mutex> lock(window_mu);
          window_cv.wait(lock, [&] { return in_flight < flags.window; });
          ++in_flight;
        }
        // Every connection registers into the same services: one record per (connection,
        // service), so each request adds an instance (services: --count / --connections).
        const std::string service = "svc-" + std::to_string(n);
        connections[c]->UnaryAsync(
            MakePayload("InstanceRequest",
                        NamingBody(service, R"("type":"registerInstance","instance":)" +
                                                InstanceJson("10.253." + std::to_string(c) + ".1",
                                                             8080))),
            [&](bool ok, const Payload& answer) {
              {
                std::lock_guard<std::mutex> lock(mu);
                if (!ok || !Succeeded(answer)) ++failed;
                ++done;
              }
              cv.notify_all();
              std::lock_guard<std::mutex> lock(window_mu);
              --in_flight;
              window_cv.notify_all();
            });
      }
      std::unique_lock<std::mutex> lock(window_mu);
      window_cv.wait(lock, [&] { return in_flight == 0; });
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = Millis(Clock::now() - start) / 1000.0;
  const int total = per_connection * flags.connections;
  std::printf("register   %d registrations over %d connections in %.3f s: %.0f/s, %d failed\n",
              total, flags.connections, seconds, total / seconds, failed);
  for (auto& connection : connections) connection->Close();
}

void RunIdle(const Flags& flags) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < flags.connections; ++i) {
    connections.push_back(std::make_unique<Connection>(flags.server, [](const std::string&) {}));
    connections.back()->Setup();
    Register(*connections.back(), "idle-" + std::to_string(i),
             "10.252." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 8080);
  }
  std::printf("idle       %d connections registered\n", flags.connections);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(flags.seconds));
  for (auto& connection : connections) connection->Close();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--server") flags.server = value;
    else if (flag == "--mode") flags.mode = value;
    else if (flag == "--service") flags.service = value;
    else if (flag == "--subscribers") flags.subscribers = std::stoi(value);
    else if (flag == "--changes") flags.changes = std::stoi(value);
    else if (flag == "--connections") flags.connections = std::stoi(value);
    else if (flag == "--count") flags.count = std::stoi(value);
    else if (flag == "--window") flags.window = std::stoi(value);
    else if (flag == "--seconds") flags.seconds = std::stoi(value);
    else if (flag == "--gap-ms") flags.gap_ms = std::stoi(value);
    else Die("unknown flag " + flag);
  }
  if (flags.server.empty()) Die("--server HOST:GRPC_PORT is required");
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (flags.mode == "fanout") RunFanout(flags);
  else if (flags.mode == "disconnect") RunDisconnect(flags, argv[0]);
  else if (flags.mode == "publisher") RunPublisher(flags);
  else if (flags.mode == "register") RunRegister(flags);
  else if (flags.mode == "idle") RunIdle(flags);
  else Die("unknown --mode " + flags.mode);
  return 0;
}
