// grpc_bench: the naming-server's gRPC figures, driven by a lean client: libnghttp2 client sessions
// over non-blocking sockets, all in one thread with epoll, so that the figures measure the server
// rather than the load generator.
//
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode fanout     [--subscribers 1000] [--changes 200]
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode disconnect [--subscribers 1000] [--changes 50]
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode register   [--connections 8] [--count 20000]
//   grpc_bench --server 127.0.0.1:GRPC_PORT --mode idle       [--connections 5000] [--seconds 60]
//
// Every connection is its own TCP connection (TCP_NODELAY; so its own Nacos connection id) with one
// HTTP/2 session (prior knowledge). It opens the bi-stream (POST /BiRequestStream/requestBiStream)
// with a ConnectionSetupRequest (labels module=naming, source=sdk), then retries a
// HealthCheckRequest every 10 ms until it is answered with a HealthCheckResponse, as the Rust SDK
// does. Each unary call is one stream on /Request/request: one message, END_STREAM, and the answer
// is the one message the server sends on it. On the bi-stream, ClientDetectionRequest is answered
// with ClientDetectionResponse and NotifySubscriberRequest is acked with NotifySubscriberResponse
// (same requestId, resultCode 200); SetupAckRequest needs no answer.
//
// A push counts as acked when its ack has been written to the socket: the loop iteration that reads
// the push queues the ack, writes it, and then reads the clock for it. (Should the socket not take
// the whole write, the push is counted once the rest has been written.)
//
//   fanout      --subscribers connections subscribe to --service. A publisher connection then
//               registers (even rounds) or deregisters (odd rounds) 10.254.1.1:8080 with an
//               InstanceRequest, --gap-ms apart (the server merges changes that follow a push
//               within push_delay_ms, default 50). Measured from just before the request is sent:
//               first (the first subscriber has acked the push) and acked (every subscriber has
//               acked a push with the new state).
//   disconnect  Each round starts a child process (this program, --mode publisher) that registers
//               10.254.1.2:8080 on its own connection; once every subscriber has it, and --gap-ms
//               later, the child is SIGKILLed (the kernel closes its socket) and the time runs
//               until every subscriber has acked a push without it.
//   register    --connections connections register --count instances in all: connection c
//               registers 10.253.c.1:8080 in services svc-0, svc-1, ... (each request a new
//               instance), --window [64] requests in flight per connection. Prints
//               registrations/s.
//   idle        --connections connections register one instance each (one service per
//               connection) and stay idle for --seconds, answering client detection. The driver
//               (bench/naming/grpc.sh) reads the server's RSS and CPU time meanwhile.
// Prints p50/p90/p99/max of every interval. Connections set up at most 200 at a time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nacos_grpc_service.pb.h"

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

// The one client thread's event loop: every connection's socket in one epoll set, plus timers.
class Loop {
 public:
  Loop() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) Die(std::string("epoll_create1: ") + std::strerror(errno));
  }
  ~Loop() { ::close(epfd_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  int fd() const { return epfd_; }
  void At(Clock::time_point when, std::function<void()> fn) {
    timers_.emplace(when, std::move(fn));
  }

  // Runs events and timers until `done()` holds; dies after `timeout`.
  void RunUntil(const std::function<bool()>& done, const std::string& what,
                Clock::duration timeout = std::chrono::seconds(30)) {
    const Clock::time_point deadline = Clock::now() + timeout;
    epoll_event events[256];
    while (!done()) {
      const Clock::time_point now = Clock::now();
      if (now >= deadline) Die(what);
      while (!timers_.empty() && timers_.begin()->first <= now) {
        auto fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        fn();
      }
      if (done()) break;
      Clock::time_point wake = deadline;
      if (!timers_.empty()) wake = std::min(wake, timers_.begin()->first);
      // At most a second, so that the millisecond count fits an int.
      const auto wait =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::clamp<Clock::duration>(
              wake - now, Clock::duration::zero(), std::chrono::seconds(1)));
      const int n = ::epoll_wait(epfd_, events, 256, static_cast<int>(wait.count()) + 1);
      if (n < 0 && errno != EINTR) Die(std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < n; ++i) {
        static_cast<Handler*>(events[i].data.ptr)->OnEvent(events[i].events);
      }
    }
  }

  struct Handler {
    virtual ~Handler() = default;
    virtual void OnEvent(uint32_t events) = 0;
  };

 private:
  const int epfd_;
  std::multimap<Clock::time_point, std::function<void()>> timers_;
};

// One Nacos connection: a TCP connection, an nghttp2 client session, the bi-stream, and one
// HTTP/2 stream per unary call. Everything runs on the loop's thread.
class Connection : public Loop::Handler {
 public:
  // Called for every NotifySubscriberRequest once its ack has been written to the socket.
  using PushCallback = std::function<void(const std::string& body)>;
  // Called with the answer of a unary call (ok false: the stream ended without one).
  using AnswerCallback = std::function<void(bool ok, const Payload& answer)>;

  Connection(Loop& loop, const std::string& server, PushCallback on_push)
      : loop_(loop), authority_(server), on_push_(std::move(on_push)) {
    const size_t colon = server.rfind(':');
    if (colon == std::string::npos) Die("--server must be HOST:PORT");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(server.substr(colon + 1))));
    if (::inet_pton(AF_INET, server.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
      Die("--server needs an IPv4 address: " + server);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) Die(std::string("socket: ") + std::strerror(errno));
    // Blocking connect (loopback: immediate), then non-blocking I/O.
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Die(std::string("connect: ") + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = static_cast<Loop::Handler*>(this);
    if (::epoll_ctl(loop_.fd(), EPOLL_CTL_ADD, fd_, &ev) != 0) Die("epoll_ctl");

    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
    nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 16 << 20},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    // The connection window too, so that no stream waits for a WINDOW_UPDATE.
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 64 << 20);
  }

  ~Connection() override {
    Close();
    nghttp2_session_del(session_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens the bi-stream with a ConnectionSetupRequest, then retries a HealthCheckRequest every
  // 10 ms until it is answered with a HealthCheckResponse. ready() says when.
  void StartSetup() {
    Stream& stream = OpenStream("/BiRequestStream/requestBiStream", false);
    stream_id_ = stream.id;
    Send(MakePayload(
        "ConnectionSetupRequest",
        R"({"clientVersion":"grpc-bench","labels":{"module":"naming","source":"sdk"},"tenant":"public","abilityTable":{},"headers":{}})"));
    HealthCheck();
  }
  bool ready() const { return ready_; }
  const std::string& setup_error() const { return setup_error_; }  // the last answer, if not ready

  // One unary call on /Request/request; `done` runs on the loop when the stream ends.
  void Call(const Payload& request, AnswerCallback done) {
    Stream& stream = OpenStream("/Request/request", true);
    stream.done = std::move(done);
    Frame(request, &stream.out);
    if (!in_recv_) Flush();  // nghttp2 is not reentrant: OnEvent() flushes after its input
  }

  // A unary call, waited for.
  bool Unary(const Payload& request, Payload* answer) {
    bool finished = false;
    bool ok = false;
    Call(request, [&](bool got, const Payload& message) {
      finished = true;
      ok = got;
      *answer = message;
    });
    loop_.RunUntil([&] { return finished; }, "no answer to " + request.metadata().type());
    return ok;
  }

  // Closes the socket (the server sees the connection end).
  void Close() {
    closing_ = true;
    if (fd_ < 0) return;
    ::epoll_ctl(loop_.fd(), EPOLL_CTL_DEL, fd_, nullptr);
    ::close(fd_);
    fd_ = -1;
  }

  void OnEvent(uint32_t events) override {
    if (fd_ < 0) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      uint8_t buf[65536];
      for (;;) {
        const ssize_t n = ::read(fd_, buf, sizeof(buf));
        if (n > 0) {
          in_recv_ = true;
          const ssize_t used = nghttp2_session_mem_recv(session_, buf, static_cast<size_t>(n));
          in_recv_ = false;
          if (used != n) {
            Die("HTTP/2 error from the server");
          }
          if (static_cast<size_t>(n) < sizeof(buf)) break;
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (closing_) return Close();
        Die(n == 0 ? "the server closed a connection"
                   : std::string("read: ") + std::strerror(errno));
      }
    }
    // Acks queued while reading are written now, by this same loop iteration.
    Flush();
  }

 private:
  struct Stream {
    int32_t id = 0;
    bool unary = false;
    std::string out;  // gRPC messages not yet handed to nghttp2
    size_t out_offset = 0;
    std::string in;  // received bytes not yet parsed into messages
    bool answered = false;
    Payload answer;
    AnswerCallback done;
  };

  static void Frame(const Payload& payload, std::string* out) {
    const size_t size = payload.ByteSizeLong();
    const size_t at = out->size();
    out->resize(at + 5 + size);
    char* p = out->data() + at;
    p[0] = 0;
    p[1] = static_cast<char>(size >> 24);
    p[2] = static_cast<char>(size >> 16);
    p[3] = static_cast<char>(size >> 8);
    p[4] = static_cast<char>(size);
    payload.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + 5));
  }

  Stream& OpenStream(const char* path, bool unary) {
    auto nv = [](const char* name, const std::string& value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                        std::strlen(name), value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    const std::string post = "POST", scheme = "http", grpc = "application/grpc", te = "trailers";
    const std::string path_value = path;
    const nghttp2_nv headers[] = {nv(":method", post),      nv(":scheme", scheme),
                                  nv(":path", path_value),  nv(":authority", authority_),
                                  nv("content-type", grpc), nv("te", te)};
    auto stream = std::make_unique<Stream>();
    stream->unary = unary;
    nghttp2_data_provider provider{};
    provider.source.ptr = stream.get();
    provider.read_callback = &ReadData;
    const int32_t id = nghttp2_submit_request(session_, nullptr, headers, 6, &provider, nullptr);
    if (id < 0) Die(std::string("nghttp2_submit_request: ") + nghttp2_strerror(id));
    stream->id = id;
    Stream& ref = *stream;
    streams_[id] = std::move(stream);
    return ref;
  }

  // Queues one message on the bi-stream.
  void Send(const Payload& payload) {
    Frame(payload, &streams_.at(stream_id_)->out);
    nghttp2_session_resume_data(session_, stream_id_);
  }

  // Writes everything nghttp2 has to send; what the socket does not take waits for EPOLLOUT.
  // Pushes whose acks are all written are then reported.
  void Flush() {
    if (fd_ < 0) return;
    for (;;) {
      if (out_offset_ == out_.size()) {
        out_.clear();
        out_offset_ = 0;
        const uint8_t* data = nullptr;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
          out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        }
        if (n < 0)
          Die(std::string("nghttp2_session_mem_send: ") + nghttp2_strerror(static_cast<int>(n)));
        if (out_.empty()) break;
      }
      const ssize_t n = ::write(fd_, out_.data() + out_offset_, out_.size() - out_offset_);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) Die(std::string("write: ") + std::strerror(errno));
        break;
      }
      out_offset_ += static_cast<size_t>(n);
    }
    const bool blocked = out_offset_ < out_.size();
    if (blocked != want_write_) {
      want_write_ = blocked;
      epoll_event ev{};
      ev.events = EPOLLIN | (blocked ? EPOLLOUT : 0u);
      ev.data.ptr = static_cast<Loop::Handler*>(this);
      ::epoll_ctl(loop_.fd(), EPOLL_CTL_MOD, fd_, &ev);
    }
    // Acks still queued on the bi-stream (the server's flow-control window is closed) are not
    // written yet: their pushes wait for the WINDOW_UPDATE.
    if (blocked || pushes_.empty() || !streams_.at(stream_id_)->out.empty()) return;
    std::vector<std::string> pushes;
    pushes.swap(pushes_);
    for (const std::string& body : pushes) on_push_(body);
  }

  void HealthCheck() {
    Call(MakePayload("HealthCheckRequest", R"({"headers":{}})"), [this](bool ok,
                                                                        const Payload& answer) {
      if (ok && answer.metadata().type() == "HealthCheckResponse") {
        ready_ = true;
        return;
      }
      setup_error_ = ok ? answer.metadata().type() + " " + answer.body().value() : "call failed";
      loop_.At(Clock::now() + std::chrono::milliseconds(10), [this] { HealthCheck(); });
    });
  }

  void OnMessage(Stream& stream, Payload&& message) {
    if (stream.unary) {
      stream.answered = true;
      stream.answer = std::move(message);
      return;
    }
    const std::string& type = message.metadata().type();
    if (type == "NotifySubscriberRequest") {
      const std::string& body = message.body().value();
      Send(MakePayload("NotifySubscriberResponse",
                       R"({"resultCode":200,"errorCode":0,"requestId":")" +
                           StringField(body, "requestId") + R"(","success":true})"));
      pushes_.push_back(std::move(*message.mutable_body()->mutable_value()));
    } else if (type == "ClientDetectionRequest") {
      Send(MakePayload("ClientDetectionResponse",
                       R"({"resultCode":200,"errorCode":0,"requestId":")" +
                           StringField(message.body().value(), "requestId") +
                           R"(","success":true})"));
    }  // SetupAckRequest and anything else: nothing to answer.
  }

  static ssize_t ReadData(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    Stream& stream = *static_cast<Stream*>(source->ptr);
    const size_t n = std::min(length, stream.out.size() - stream.out_offset);
    std::memcpy(buf, stream.out.data() + stream.out_offset, n);
    stream.out_offset += n;
    if (stream.out_offset == stream.out.size()) {
      stream.out.clear();
      stream.out_offset = 0;
      if (stream.unary) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto* self = static_cast<Connection*>(user);
    auto it = self->streams_.find(id);
    if (it == self->streams_.end()) return 0;
    Stream& stream = *it->second;
    stream.in.append(reinterpret_cast<const char*>(data), len);
    size_t at = 0;
    while (stream.in.size() - at >= 5) {
      const auto* p = reinterpret_cast<const uint8_t*>(stream.in.data() + at);
      const size_t size = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
      if (p[0] != 0) Die("compressed gRPC message from the server");
      if (stream.in.size() - at - 5 < size) break;
      Payload message;
      if (!message.ParseFromArray(p + 5, static_cast<int>(size))) Die("undecodable Payload");
      at += 5 + size;
      self->OnMessage(stream, std::move(message));
    }
    stream.in.erase(0, at);
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto* self = static_cast<Connection*>(user);
    auto it = self->streams_.find(id);
    if (it == self->streams_.end()) return 0;
    std::unique_ptr<Stream> stream = std::move(it->second);
    self->streams_.erase(it);
    if (!stream->unary) {
      if (!self->closing_) Die("the server ended the bi-stream");
      return 0;
    }
    if (stream->done) stream->done(stream->answered, stream->answer);
    return 0;
  }

  Loop& loop_;
  const std::string authority_;
  PushCallback on_push_;
  int fd_ = -1;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  int32_t stream_id_ = 0;  // the bi-stream
  std::string out_;        // bytes from nghttp2 not yet written
  size_t out_offset_ = 0;
  bool want_write_ = false;
  bool ready_ = false;
  bool closing_ = false;
  bool in_recv_ = false;
  std::string setup_error_ = "no answer";
  std::vector<std::string> pushes_;  // push bodies whose acks are queued, not yet all written
};

bool Succeeded(const Payload& answer) {
  return answer.body().value().find("\"resultCode\":200") != std::string::npos;
}

Payload InstancePayload(const std::string& service, const std::string& ip, int port,
                        bool deregister) {
  const std::string type = deregister ? "deregisterInstance" : "registerInstance";
  return MakePayload(
      "InstanceRequest",
      NamingBody(service, R"("type":")" + type + R"(","instance":)" + InstanceJson(ip, port)));
}

void Register(Connection& connection, const std::string& service, const std::string& ip, int port,
              bool deregister = false) {
  Payload answer;
  if (!connection.Unary(InstancePayload(service, ip, port, deregister), &answer) ||
      !Succeeded(answer)) {
    Die(std::string(deregister ? "deregister" : "register") + " failed: " + answer.body().value());
  }
}

// Sets `connections` up and runs the loop until they are ready (30 s at most).
void Setup(Loop& loop, const std::vector<Connection*>& connections) {
  for (Connection* connection : connections) connection->StartSetup();
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(30);
  auto ready = [&] {
    return std::all_of(connections.begin(), connections.end(),
                       [](const Connection* connection) { return connection->ready(); });
  };
  loop.RunUntil([&] { return ready() || Clock::now() >= give_up; }, "connection setup",
                std::chrono::seconds(31));
  for (const Connection* connection : connections) {
    if (!connection->ready()) {
      Die("connection setup never completed: " + connection->setup_error());
    }
  }
}

// Opens `count` connections, at most 200 setting up at once (the server's accept backlog).
std::vector<std::unique_ptr<Connection>> Connect(
    Loop& loop, const Flags& flags, int count,
    const std::function<Connection::PushCallback(int)>& on_push) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (int first = 0; first < count; first += 200) {
    const int last = std::min(count, first + 200);
    std::vector<Connection*> batch;
    for (int i = first; i < last; ++i) {
      connections.push_back(std::make_unique<Connection>(loop, flags.server, on_push(i)));
      batch.push_back(connections.back().get());
    }
    Setup(loop, batch);
  }
  return connections;
}

void Print(const char* name, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("%-10s n=%zu p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms\n", name, ms.size(),
              at(0.5), at(0.9), at(0.99), ms.back());
}

// Subscribers that count, per round, how many have seen the expected state and acked it.
class Subscribers {
 public:
  Subscribers(Loop& loop, const Flags& flags, const std::string& watched_ip)
      : loop_(loop), watched_ip_("\"ip\":\"" + watched_ip + "\"") {
    seen_round_.assign(static_cast<size_t>(flags.subscribers), 0);
    connections_ =
        Connect(loop, flags, flags.subscribers, [this](int i) -> Connection::PushCallback {
          return [this, i](const std::string& body) { OnPush(static_cast<size_t>(i), body); };
        });
    size_t subscribed = 0;
    for (auto& connection : connections_) {
      connection->Call(MakePayload("SubscribeServiceRequest",
                                   NamingBody(flags.service, R"("subscribe":true,"clusters":"")")),
                       [&subscribed](bool ok, const Payload& answer) {
                         if (!ok || !Succeeded(answer)) {
                           Die("subscribe failed: " + answer.body().value());
                         }
                         ++subscribed;
                       });
    }
    loop.RunUntil([&] { return subscribed == connections_.size(); }, "subscriptions unanswered");
  }

  // Starts a round that ends when every subscriber has acked a push in which the watched ip is
  // `present`.
  void Expect(bool present) {
    expect_present_ = present;
    acked_ = 0;
    first_ = {};
    all_ = {};
    round_ += 1;
  }
  // Runs the loop until the round's end; returns (first, all acked) times.
  std::pair<Clock::time_point, Clock::time_point> Wait() {
    loop_.RunUntil([this] { return acked_ == connections_.size(); },
                   "round " + std::to_string(round_) + ": not every subscriber got the push");
    return {first_, all_};
  }

 private:
  void OnPush(size_t index, const std::string& body) {
    const bool present = body.find(watched_ip_) != std::string::npos;
    // A late push of the previous state, or a second push to this subscriber in this round.
    if (present != expect_present_ || seen_round_[index] == round_) return;
    seen_round_[index] = round_;
    const Clock::time_point now = Clock::now();
    if (acked_ == 0) first_ = now;
    if (++acked_ == connections_.size()) all_ = now;
  }

  Loop& loop_;
  const std::string watched_ip_;  // `"ip":"..."` as it appears in a push
  std::vector<std::unique_ptr<Connection>> connections_;
  bool expect_present_ = false;
  size_t acked_ = 0;
  uint64_t round_ = 0;
  std::vector<uint64_t> seen_round_;  // The last round each subscriber counted in.
  Clock::time_point first_;
  Clock::time_point all_;
};

// Runs the loop (answering detection and pushes) for `duration`.
void Idle(Loop& loop, Clock::duration duration) {
  bool over = false;
  loop.At(Clock::now() + duration, [&over] { over = true; });
  loop.RunUntil([&over] { return over; }, "idle", duration + std::chrono::seconds(1));
}

void RunFanout(const Flags& flags) {
  Loop loop;
  Subscribers subscribers(loop, flags, "10.254.1.1");
  Connection publisher(loop, flags.server, [](const std::string&) {});
  Setup(loop, {&publisher});
  std::vector<double> first_ms, acked_ms;
  for (int round = 0; round < flags.changes; ++round) {
    const bool present = round % 2 == 0;
    subscribers.Expect(present);
    const Clock::time_point start = Clock::now();
    Register(publisher, flags.service, "10.254.1.1", 8080, !present);
    const auto [first, all] = subscribers.Wait();
    first_ms.push_back(Millis(first - start));
    acked_ms.push_back(Millis(all - start));
    Idle(loop, std::chrono::milliseconds(flags.gap_ms));
  }
  Print("first", first_ms);
  Print("acked", acked_ms);
}

// The child of --mode disconnect: registers, says "ready", then serves its connection until it is
// killed.
void RunPublisher(const Flags& flags) {
  Loop loop;
  Connection publisher(loop, flags.server, [](const std::string&) {});
  Setup(loop, {&publisher});
  Register(publisher, flags.service, "10.254.1.2", 8080);
  std::printf("ready\n");
  std::fflush(stdout);
  loop.RunUntil([] { return false; }, "", std::chrono::hours(24 * 365));
}

void RunDisconnect(const Flags& flags, const char* self) {
  Loop loop;
  Subscribers subscribers(loop, flags, "10.254.1.2");
  std::vector<double> first_ms, acked_ms;
  for (int round = 0; round < flags.changes; ++round) {
    subscribers.Expect(true);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) Die("pipe");
    // posix_spawn, not fork: copying this process's page tables, and the copy-on-write faults
    // that follow in the parent, would cost the client more CPU than a push round.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::string mode = "--mode", publisher = "publisher", server_flag = "--server",
                server = flags.server, service_flag = "--service", service = flags.service;
    char* const args[] = {const_cast<char*>(self), mode.data(),   publisher.data(),
                          server_flag.data(),      server.data(), service_flag.data(),
                          service.data(),          nullptr};
    pid_t child = 0;
    const int spawned = ::posix_spawn(&child, self, &actions, nullptr, args, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) Die(std::string("posix_spawn: ") + std::strerror(spawned));
    ::close(out[1]);
    char line[16] = {0};
    if (::read(out[0], line, sizeof(line) - 1) <= 0) Die("publisher did not start");
    ::close(out[0]);
    subscribers.Wait();  // Everyone has the instance.
    // Past the merge window that push opened: the kill is an isolated change.
    Idle(loop, std::chrono::milliseconds(flags.gap_ms));
    subscribers.Expect(false);
    const Clock::time_point start = Clock::now();
    ::kill(child, SIGKILL);
    const auto [first, all] = subscribers.Wait();
    ::waitpid(child, nullptr, 0);
    first_ms.push_back(Millis(first - start));
    acked_ms.push_back(Millis(all - start));
    Idle(loop, std::chrono::milliseconds(flags.gap_ms));
  }
  Print("first", first_ms);
  Print("acked", acked_ms);
}

void RunRegister(const Flags& flags) {
  Loop loop;
  auto connections = Connect(loop, flags, flags.connections, [](int) -> Connection::PushCallback {
    return [](const std::string&) {};
  });
  const int per_connection = flags.count / flags.connections;
  const int total = per_connection * flags.connections;
  int done = 0;
  int failed = 0;
  std::vector<int> next(static_cast<size_t>(flags.connections), 0);
  // Sends connection c's next registration; its answer sends the one after, keeping --window
  // requests in flight. Every connection registers into the same services: one record per
  // (connection, service), so each request adds an instance (services: --count / --connections).
  std::function<void(int)> send = [&](int c) {
    const int n = next[static_cast<size_t>(c)]++;
    if (n >= per_connection) return;
    connections[static_cast<size_t>(c)]->Call(
        InstancePayload("svc-" + std::to_string(n), "10.253." + std::to_string(c) + ".1", 8080,
                        false),
        [&, c](bool ok, const Payload& answer) {
          if (!ok || !Succeeded(answer)) ++failed;
          ++done;
          send(c);
        });
  };
  const Clock::time_point start = Clock::now();
  for (int c = 0; c < flags.connections; ++c) {
    for (int w = 0; w < flags.window; ++w) send(c);
  }
  loop.RunUntil([&] { return done == total; }, "registrations unanswered",
                std::chrono::minutes(10));
  const double seconds = Millis(Clock::now() - start) / 1000.0;
  std::printf("register   %d registrations over %d connections in %.3f s: %.0f/s, %d failed\n",
              total, flags.connections, seconds, total / seconds, failed);
}

void RunIdle(const Flags& flags) {
  Loop loop;
  auto connections = Connect(loop, flags, flags.connections, [](int) -> Connection::PushCallback {
    return [](const std::string&) {};
  });
  int registered = 0;
  for (int i = 0; i < flags.connections; ++i) {
    connections[static_cast<size_t>(i)]->Call(
        InstancePayload("idle-" + std::to_string(i),
                        "10.252." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
                        8080, false),
        [&](bool ok, const Payload& answer) {
          if (!ok || !Succeeded(answer)) Die("register failed: " + answer.body().value());
          ++registered;
        });
  }
  loop.RunUntil([&] { return registered == flags.connections; }, "registrations unanswered",
                std::chrono::minutes(5));
  std::printf("idle       %d connections registered\n", flags.connections);
  std::fflush(stdout);
  Idle(loop, std::chrono::seconds(flags.seconds));
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  const std::map<std::string, std::string*> strings = {
      {"--server", &flags.server}, {"--mode", &flags.mode}, {"--service", &flags.service}};
  const std::map<std::string, int*> ints = {{"--subscribers", &flags.subscribers},
                                            {"--changes", &flags.changes},
                                            {"--connections", &flags.connections},
                                            {"--count", &flags.count},
                                            {"--window", &flags.window},
                                            {"--seconds", &flags.seconds},
                                            {"--gap-ms", &flags.gap_ms}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (auto s = strings.find(flag); s != strings.end()) {
      *s->second = argv[i + 1];
    } else if (auto n = ints.find(flag); n != ints.end()) {
      *n->second = std::atoi(argv[i + 1]);
    } else {
      Die("unknown flag " + flag);
    }
  }
  if (flags.server.empty()) Die("--server HOST:GRPC_PORT is required");
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (flags.mode == "fanout")
    RunFanout(flags);
  else if (flags.mode == "disconnect")
    RunDisconnect(flags, argv[0]);
  else if (flags.mode == "publisher")
    RunPublisher(flags);
  else if (flags.mode == "register")
    RunRegister(flags);
  else if (flags.mode == "idle")
    RunIdle(flags);
  else
    Die("unknown --mode " + flags.mode);
  return 0;
}
