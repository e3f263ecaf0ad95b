// NamingClient: the public facade. It owns the two threads (EventLoop, Dispatcher) and wires the
// loop-confined parts together: NamingProxy (HTTP), NamingGrpcProxy and its connector (gRPC),
// BeatReactor (beats), HostReactor (service data) and the UDP push socket. Public methods hop onto
// the loop and wait for the answer there.
//
// Protocol in use (Impl::on_grpc, loop only). With naming_protocol http there is no gRPC side at
// all. Otherwise the client starts on gRPC: ephemeral instances are the gRPC proxy's records (no
// beats), subscriptions follow its pushes (HostReactor's stream feed). With auto, when a round of
// gRPC attempts fails, no connection has been ready for connect_timeout_ms, and the v1 metrics
// probe answers UP, the client moves to HTTP: the
// records are registered over HTTP with beats, subscriptions are polled, and the proxy keeps
// trying (a round every grpc_retry_interval_ms). Records stay with the proxy throughout, so its
// redo carries them when a connection becomes ready; then the client moves back: beats stop, the
// v1 copies are deregistered and the affected records sent again. A v1 deregistration never
// removes a connection's instance (Nacos keeps the two clients apart, and so does our server),
// but a v1 registration still in flight when the redo ran may land after it and take the
// instance over on a server that stores one instance per address (ours); the deregistration then
// removes it, and the records sent again bring it back.
#include "dubbo/registry/nacos/naming_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "dispatcher.h"
#include "event_loop.h"
#include "host_reactor.h"
#include "internal/logging.h"
#include "nacos_options_check.h"
#include "pending_calls.h"
#include "transport/grpc/grpc_client_transport.h"
#include "transport/grpc/naming_grpc_proxy.h"
#include "transport/http/beat_reactor.h"
#include "transport/http/curl_transport.h"
#include "transport/http/keepalive_transport.h"
#include "transport/http/naming_proxy.h"

namespace dubbo::registry::nacos {

namespace {

// Of Shutdown()'s budget, what is kept for a listener still running once the deregistrations are
// over (the budget's remainder, and at least this).
constexpr auto kMinListenerStopBound = std::chrono::milliseconds(100);
// Datagrams read per wake-up before other loop work gets a turn.
constexpr int kDatagramsPerWakeup = 64;
constexpr size_t kDatagramBuffer = 65536;
// While no server answers, how often a probe asks whether one does again.
constexpr auto kRecoveryProbeInterval = std::chrono::seconds(1);

std::string ErrnoText(int err) { return std::strerror(err); }

// The longest a blocking method waits for its answer: time for an endpoint list fetch, a login and
// the call itself, the last two trying every server (a single one max_retry times), each try
// bounded by request_timeout_ms; plus a second for the rest.
std::chrono::milliseconds AwaitDeadline(const NacosOptions& options) {
  const int64_t tries =
      std::max<int64_t>(options.max_retry, static_cast<int64_t>(options.server_addresses.size()));
  return std::chrono::milliseconds((2 * tries + 1) * options.request_timeout_ms + 1000);
}

// The host's first non-loopback IPv4 address (Java's NetUtils.localIP()), else 127.0.0.1.
std::string DetectClientIp() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found;
  for (ifaddrs* ifa = list; ifa != nullptr && found.empty(); ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr || ifa->ifa_addr->sa_family != AF_INET) continue;
    if ((ifa->ifa_flags & IFF_UP) == 0 || (ifa->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN];
    const auto* sin = reinterpret_cast<const sockaddr_in*>(ifa->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)) != nullptr) found = text;
  }
  freeifaddrs(list);
  return found.empty() ? "127.0.0.1" : found;
}

// A non-blocking UDP socket on `port` (0: any free one), dual-stack when IPv6 is available.
Result<int> OpenPushSocket(int port, int* bound_port) {
  int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    int off = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      const int err = errno;
      ::close(fd);
      if (err != EAFNOSUPPORT && err != EADDRNOTAVAIL) {
        return UnavailableError("cannot bind the UDP push port " + std::to_string(port) + ": " +
                                ErrnoText(err));
      }
      fd = -1;
    }
  }
  if (fd < 0) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return UnavailableError("cannot create the UDP push socket: " + ErrnoText(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      const int err = errno;
      ::close(fd);
      return UnavailableError("cannot bind the UDP push port " + std::to_string(port) + ": " +
                              ErrnoText(err));
    }
  }
  int rcvbuf = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  *bound_port = local.ss_family == AF_INET6
                    ? ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port)
                    : ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  return fd;
}

std::string SourceIp(const sockaddr_storage& from) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (from.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&from)->sin_addr, text, sizeof(text));
  } else if (from.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

std::string GroupedOf(std::string_view service_name, std::string_view group_name) {
  if (service_name.find("@@") != std::string_view::npos) return std::string(service_name);
  return GroupedName(service_name, group_name);
}

std::string_view ProtocolName(NacosOptions::NamingProtocol protocol) {
  switch (protocol) {
    case NacosOptions::NamingProtocol::kAuto:
      return "auto";
    case NacosOptions::NamingProtocol::kGrpc:
      return "grpc";
    case NacosOptions::NamingProtocol::kHttp:
      break;
  }
  return "http";
}

std::vector<Instance> Healthy(const std::vector<Instance>& hosts, bool healthy) {
  std::vector<Instance> out;
  for (const Instance& host : hosts) {
    if (host.healthy == healthy && host.enabled && host.weight > 0) out.push_back(host);
  }
  return out;
}

}  // namespace

struct NamingClient::Impl {
  NacosOptions options;
  std::string client_ip;

  // Destroyed in reverse order: the reactors first, the loop last.
  EventLoop loop{"nacos-loop"};
  Dispatcher dispatcher{"nacos-notify"};
  // Plain http goes through our keep-alive transport; https (and a host name until its address is
  // known) through curl.
  std::unique_ptr<CurlMultiTransport> curl;
  std::unique_ptr<KeepAliveTransport> http;
  std::unique_ptr<NamingProxy> proxy;
  // The gRPC side; both null with naming_protocol http.
  std::unique_ptr<GrpcConnector> grpc_connector;
  std::unique_ptr<NamingGrpcProxy> grpc;
  std::unique_ptr<BeatReactor> beats;
  std::unique_ptr<HostReactor> hosts;

  // Loop only. True while ephemeral instances and subscriptions go over gRPC (see the file
  // comment); false for good with naming_protocol http.
  bool on_grpc = false;
  bool probing_v1 = false;  // The metrics probe of a gRPC round failure is in flight.
  // Since when no gRPC connection has been ready (the start, or the loss of the last one). Auto
  // gives gRPC connect_timeout_ms from then before it looks at HTTP, so a server whose gRPC port
  // opens a moment after its HTTP port (a starting node) is not taken for a v1-only one.
  TimePoint grpc_unready_since{};
  uint64_t protocol_switches = 0;
  // Auto: calls in progress over gRPC, by id, each with what sends it over HTTP instead; a move to
  // HTTP runs them at once (rather than letting them wait out request_timeout_ms for a connection
  // that is not coming). A call leaves when answered.
  std::map<uint64_t, std::function<void()>> movable_calls;
  uint64_t next_movable_call = 0;

  int udp_fd = -1;
  int udp_port = 0;
  EventLoop::WatchId udp_watch = EventLoop::kInvalidWatchId;
  std::string datagram;  // Receive buffer (loop only).

  std::atomic<bool> shut_down{false};
  // Shutdown(): the first call does the work and sets shutdown_done; later calls wait for that
  // (except on the dispatcher thread, see Shutdown()).
  std::mutex shutdown_mu;
  std::condition_variable shutdown_cv;
  bool shutdown_done = false;  // Guarded by shutdown_mu.
  std::atomic<uint64_t> next_subscription{1};
  std::mutex rng_mu;
  std::mt19937_64 rng{std::random_device()()};

  // Loop only: what this client registered over HTTP (every instance on the v1 path; persistent
  // instances, and the v1 copies of the gRPC records while on HTTP, on the others), for Shutdown()
  // and the move back to gRPC. Key "grouped#ip#port".
  struct Registered {
    std::string grouped;
    Instance instance;
  };
  std::map<std::string, Registered> registered;

  ~Impl() {
    if (udp_fd >= 0) ::close(udp_fd);
  }

  // Blocking methods wait here; Shutdown() ends every wait (PendingCalls::CancelAll()).
  PendingCalls pending{&loop};

  // Runs `op` on the loop and waits for the result it hands to its callback, at most
  // AwaitDeadline(options).
  template <typename T>
  T Await(const char* what, std::function<void(std::function<void(T)>)> op,
          std::function<void()> undo = nullptr) {
    if (shut_down.load()) return T(PendingCalls::ShutDownError());
    return pending.Await<T>(what, AwaitDeadline(options), std::move(op), std::move(undo));
  }

  void OnReadable() {
    for (int i = 0; i < kDatagramsPerWakeup; ++i) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof(from);
      datagram.resize(kDatagramBuffer);
      const ssize_t n = ::recvfrom(udp_fd, datagram.data(), datagram.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          DUBBO_LOG(WARNING) << "nacos: UDP receive failed: " << ErrnoText(errno);
        }
        return;
      }
      const std::string reply = hosts->HandleDatagram(
          std::string_view(datagram.data(), static_cast<size_t>(n)), SourceIp(from));
      if (reply.empty()) continue;
      if (::sendto(udp_fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
                   from_len) < 0) {
        DUBBO_LOG(DEBUG) << "nacos: cannot send an ack: " << ErrnoText(errno);
      }
    }
  }

  static std::string RegisteredKey(const std::string& grouped, const Instance& instance) {
    return grouped + "#" + instance.ip + "#" + std::to_string(instance.port);
  }

  // Registers `instance` over HTTP, with beats when ephemeral. On error nothing is left behind
  // but an earlier registration's beats.
  void RegisterOverHttp(const std::string& grouped, const Instance& instance,
                        std::function<void(Status)> done) {
    const std::string key = RegisteredKey(grouped, instance);
    if (instance.ephemeral) beats->Add(grouped, instance);
    proxy->Call(MakeRegisterRequest(grouped, instance), [this, grouped, instance, key,
                                                         done](Result<std::string> answer) {
      if (answer.ok() && shut_down.load() && instance.ephemeral) {
        // Shutdown() began while this was in flight and has already deregistered
        // everything it knew of: take this one back too.
        proxy->Call(MakeDeregisterRequest(grouped, instance), [](Result<std::string>) {});
        done(FailedPreconditionError("naming client shut down"));
        return;
      }
      const bool back_on_grpc = instance.ephemeral && grpc && on_grpc;
      if (answer.ok() && back_on_grpc) {
        // The client moved back to gRPC while this was in flight, and the proxy's record holds
        // the instance: this v1 copy goes like the others did.
        beats->Remove(grouped, instance.ip, instance.port);
        DropV1Copies({Registered{grouped, instance}});
        done(Status::Ok());
        return;
      }
      if (answer.ok()) {
        registered[key] = Registered{grouped, instance};
        done(Status::Ok());
        return;
      }
      // Leave nothing behind, but keep an earlier registration's beats (none on gRPC).
      auto old = registered.find(key);
      if (old != registered.end() && old->second.instance.ephemeral && !back_on_grpc) {
        beats->Add(grouped, old->second.instance);
      } else {
        beats->Remove(grouped, instance.ip, instance.port);
      }
      done(answer.status());
    });
  }

  // Auto, on HTTP: the instance goes over HTTP (the call's outcome) and into the gRPC proxy's
  // records for its next connection. A refusal by the server restores the record as it was; a
  // server that does not answer leaves it (registered once gRPC works, as on the gRPC path).
  void RegisterWhileOnHttp(const std::string& grouped, const Instance& instance,
                           std::function<void(Status)> done) {
    std::optional<Instance> previous;
    auto record = grpc->instance_records().find(grouped);
    if (record != grpc->instance_records().end()) {
      auto found = record->second.find(instance.Address());
      if (found != record->second.end()) previous = found->second;
    }
    grpc->RegisterInstance(grouped, instance, [](Status) {});
    RegisterOverHttp(grouped, instance, [this, grouped, instance, previous, done](Status status) {
      const StatusCode code = status.code();
      if (!status.ok() && code != StatusCode::kUnavailable &&
          code != StatusCode::kDeadlineExceeded && !shut_down.load()) {
        if (previous) {
          grpc->RegisterInstance(grouped, *previous, [](Status) {});
        } else {
          grpc->DeregisterInstance(grouped, instance.ip, instance.port, [](Status) {});
        }
      }
      done(status);
    });
  }

  // Answers `done` once: by `over_grpc`, or, when the client moves to HTTP before that answer
  // (auto), by `over_http`.
  template <typename T>
  void OverGrpc(std::function<void(std::function<void(T)>)> over_grpc,
                std::function<void(std::function<void(T)>)> over_http,
                std::function<void(T)> done) {
    auto answered = std::make_shared<bool>(false);
    const uint64_t id =
        options.naming_protocol == NacosOptions::NamingProtocol::kAuto ? ++next_movable_call : 0;
    std::function<void(T)> once = [this, answered, id, done = std::move(done)](T value) {
      if (*answered) return;
      *answered = true;
      movable_calls.erase(id);
      done(std::move(value));
    };
    if (id != 0) {
      movable_calls.emplace(id, [answered, over_http = std::move(over_http), once] {
        if (!*answered) over_http(once);
      });
    }
    over_grpc(std::move(once));
  }

  // A round of gRPC attempts failed: with auto, moves to HTTP when gRPC has been failing for
  // connect_timeout_ms and the v1 API answers.
  void OnGrpcRoundFailed(const Status& why) {
    if (options.naming_protocol != NacosOptions::NamingProtocol::kAuto || !on_grpc || probing_v1 ||
        shut_down.load() ||
        loop.clock()->Now() - grpc_unready_since <
            std::chrono::milliseconds(options.connect_timeout_ms)) {
      return;
    }
    probing_v1 = true;
    NamingRequest probe;
    probe.path = "/v1/ns/operator/metrics";
    proxy->Call(std::move(probe), [this, why](Result<std::string> body) {
      probing_v1 = false;
      if (shut_down.load() || !on_grpc || grpc->ready()) return;
      if (!body.ok() || !IsServerUpAnswer(*body)) return;  // Nothing answers: gRPC keeps trying.
      MoveToHttp(why);
    });
  }

  void MoveToHttp(const Status& why) {
    on_grpc = false;
    ++protocol_switches;
    const auto records = grpc->instance_records();
    size_t instances = 0;
    for (const auto& [grouped, record] : records) instances += record.size();
    DUBBO_LOG(INFO) << "nacos: gRPC on " << grpc->current_server() << " (port + "
                    << options.grpc_port_offset << ") did not become ready (" << why
                    << ") but the v1 HTTP API answers: using HTTP (" << instances
                    << " instances with beats, subscriptions polled) and trying gRPC again";
    grpc->SetRoundPause(std::chrono::milliseconds(options.grpc_retry_interval_ms));
    for (const auto& [grouped, record] : records) {
      for (const auto& [address, instance] : record) {
        RegisterOverHttp(grouped, instance, [grouped = grouped, address = address](Status status) {
          if (!status.ok()) {
            DUBBO_LOG(WARNING) << "nacos: registering " << address << " in " << grouped
                               << " over HTTP failed: " << status;
          }
        });
      }
    }
    hosts->SetFeed(HostReactor::Feed::kPoll);
    std::map<uint64_t, std::function<void()>> moved;
    moved.swap(movable_calls);
    for (auto& [id, send_over_http] : moved) send_over_http();
  }

  void OnGrpcState(bool ready) {
    if (!ready) {
      hosts->StreamLost();
      grpc_unready_since = loop.clock()->Now();
    }
    if (!ready || on_grpc || shut_down.load()) return;
    // Back on gRPC: the proxy's redo has registered every record and subscription already.
    on_grpc = true;
    ++protocol_switches;
    grpc->SetRoundPause(Duration::zero());
    hosts->SetFeed(HostReactor::Feed::kStream);
    std::vector<Registered> copies;
    for (auto it = registered.begin(); it != registered.end();) {
      if (!it->second.instance.ephemeral) {
        ++it;
        continue;
      }
      beats->Remove(it->second.grouped, it->second.instance.ip, it->second.instance.port);
      copies.push_back(std::move(it->second));
      it = registered.erase(it);
    }
    DUBBO_LOG(INFO) << "nacos: gRPC on " << grpc->current_server()
                    << " is ready: leaving HTTP (deregistering " << copies.size()
                    << " v1 copies, subscriptions follow pushes)";
    DropV1Copies(std::move(copies));
  }

  // Deregisters v1 copies of gRPC records (their beats stopped), then sends the records of their
  // services again, for a late v1 registration (see the file comment).
  void DropV1Copies(std::vector<Registered> copies) {
    if (copies.empty()) return;
    auto left = std::make_shared<size_t>(copies.size());
    auto services = std::make_shared<std::set<std::string>>();
    for (const Registered& copy : copies) {
      services->insert(copy.grouped);
      proxy->Call(MakeDeregisterRequest(copy.grouped, copy.instance), [this, left, services](
                                                                          Result<std::string>) {
        if (--*left > 0 || !on_grpc || shut_down.load()) return;
        // Send the records of those services again (see the file comment).
        for (const std::string& grouped : *services) {
          auto record = grpc->instance_records().find(grouped);
          if (record == grpc->instance_records().end() || record->second.empty()) {
            continue;
          }
          grpc->RegisterInstance(grouped, record->second.begin()->second, [](Status) {});
        }
      });
    }
  }
};

Result<std::unique_ptr<NamingClient>> NamingClient::Create(NacosOptions options) {
  DUBBO_RETURN_IF_ERROR(CheckNacosOptions(options).WithPrefix("NamingClient"));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->client_ip = impl->options.client_ip.empty() ? DetectClientIp() : impl->options.client_ip;

  Result<int> fd = OpenPushSocket(impl->options.udp_port, &impl->udp_port);
  if (!fd.ok()) return fd.status();
  impl->udp_fd = *fd;

  DUBBO_RETURN_IF_ERROR(impl->loop.Start());
  DUBBO_RETURN_IF_ERROR(impl->dispatcher.Start());

  Impl* raw = impl.get();
  impl->curl = std::make_unique<CurlMultiTransport>(&impl->loop);
  KeepAliveOptions keepalive;
  keepalive.pipeline_depth = static_cast<size_t>(impl->options.http_pipeline_depth);
  impl->http = std::make_unique<KeepAliveTransport>(&impl->loop, impl->curl.get(), keepalive);
  impl->proxy = std::make_unique<NamingProxy>(impl->options, impl->http.get(), &impl->loop);
  const bool with_grpc = impl->options.naming_protocol != NacosOptions::NamingProtocol::kHttp;
  if (with_grpc) {
    impl->grpc_connector = std::make_unique<GrpcClientConnector>(
        &impl->loop, GrpcClientConnector::OptionsFor(impl->options));
    NamingGrpcProxy::Hooks hooks;
    hooks.on_service_info = [raw](std::string json) { raw->hosts->HandleStreamData(json); };
    hooks.on_state = [raw](bool ready) { raw->OnGrpcState(ready); };
    hooks.on_round_failed = [raw](const Status& why) { raw->OnGrpcRoundFailed(why); };
    hooks.access_token = [raw] { return raw->proxy->access_token(); };
    hooks.on_auth_refused = [raw] { raw->proxy->RefreshLogin(); };
    impl->grpc = std::make_unique<NamingGrpcProxy>(
        impl->options, impl->client_ip, impl->grpc_connector.get(), &impl->loop, std::move(hooks));
    impl->on_grpc = true;
  }
  impl->beats = std::make_unique<BeatReactor>(impl->options, impl->proxy.get(), &impl->loop);
  impl->hosts = std::make_unique<HostReactor>(
      impl->options, impl->proxy.get(), &impl->loop,
      [raw](SubscriptionId id, std::function<void()> fn) {
        raw->dispatcher.Post(id, std::move(fn));
      },
      impl->udp_port, impl->client_ip);
  if (with_grpc) {
    StreamSource source;
    source.subscribe = [raw](const std::string& grouped,
                             std::function<void(Result<std::string>)> done) {
      raw->grpc->Subscribe(grouped, std::move(done));
    };
    source.unsubscribe = [raw](const std::string& grouped) { raw->grpc->Unsubscribe(grouped); };
    source.query = [raw](const std::string& grouped, const std::string& clusters,
                         std::function<void(Result<std::string>)> done) {
      raw->grpc->QueryService(grouped, clusters, /*healthy_only=*/false, std::move(done));
    };
    impl->hosts->SetStreamSource(std::move(source), HostReactor::Feed::kStream);
  }
  impl->proxy->SetRecoveryHook([raw](TimePoint since) { raw->hosts->Resubscribe(since); },
                               kRecoveryProbeInterval);
  bool started = impl->loop.RunInLoopAndWait([raw] {
    raw->proxy->Start();
    if (raw->grpc) {
      raw->grpc_unready_since = raw->loop.clock()->Now();
      raw->grpc->Start();
    }
    raw->hosts->Start();
    raw->udp_watch =
        raw->loop.WatchFd(raw->udp_fd, EventLoop::kReadable, [raw](short) { raw->OnReadable(); });
  });
  if (!started || impl->udp_watch == EventLoop::kInvalidWatchId) {
    return UnavailableError("NamingClient: the control-plane loop did not start");
  }
  DUBBO_LOG(INFO) << "nacos: naming client started (namespace " << impl->options.namespace_id
                  << ", protocol " << ProtocolName(impl->options.naming_protocol) << ", udp port "
                  << impl->udp_port << ", client ip " << impl->client_ip << ")";
  return std::unique_ptr<NamingClient>(new NamingClient(std::move(impl)));
}

NamingClient::NamingClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NamingClient::~NamingClient() { Shutdown(); }

NamingClientStats NamingClient::GetStats() {
  Impl* impl = impl_.get();
  NamingClientStats out;
  const auto read = [impl, &out] {
    const BeatStats& beats = impl->beats->stats();
    const HostReactorStats& hosts = impl->hosts->stats();
    out.beats_sent = beats.sent;
    out.beats_light = beats.light;
    out.beats_failed = beats.failed;
    out.reregistered = beats.reregistered;
    out.polls = hosts.polls;
    out.poll_failures = hosts.poll_failures;
    out.pushes = hosts.pushes;
    out.empty_protected = hosts.empty_protected;
    out.spoofed_datagrams = hosts.spoofed;
    out.malformed_datagrams = hosts.malformed;
    out.dropped_hosts = hosts.dropped_hosts;
    out.events = hosts.events;
    out.events_merged = hosts.events_merged;
    out.recoveries = hosts.recoveries;
    out.stale_pushes = hosts.stale_pushes;
    out.protocol =
        impl->on_grpc ? NacosOptions::NamingProtocol::kGrpc : NacosOptions::NamingProtocol::kHttp;
    out.protocol_switches = impl->protocol_switches;
    if (impl->grpc) {
      const GrpcProxyStats& grpc = impl->grpc->stats();
      out.grpc_connected = impl->grpc->ready();
      out.grpc_connects = grpc.connects;
      out.grpc_connect_failures = grpc.connect_failures;
      out.grpc_disconnects = grpc.disconnects;
      out.grpc_resets = grpc.resets;
      out.grpc_requests = grpc.requests;
      out.grpc_request_failures = grpc.request_failures;
      out.grpc_pushes = grpc.pushes;
      out.grpc_redone_instances = grpc.redone_instances;
      out.grpc_redone_subscriptions = grpc.redone_subscriptions;
      out.grpc_malformed = grpc.malformed;
    }
  };
  // After the loop stopped (Shutdown), nothing writes the counters any more.
  if (!impl->loop.RunInLoopAndWait(read)) read();
  return out;
}

int NamingClient::udp_port() const { return impl_->udp_port; }
const std::string& NamingClient::client_ip() const { return impl_->client_ip; }
const NacosOptions& NamingClient::options() const { return impl_->options; }

Status NamingClient::RegisterInstance(std::string_view service_name, std::string_view group_name,
                                      const Instance& instance) {
  if (service_name.empty()) return InvalidArgumentError("RegisterInstance: empty service name");
  if (instance.ip.empty()) return InvalidArgumentError("RegisterInstance: empty ip");
  if (instance.port < 0 || instance.port > 65535) {
    return InvalidArgumentError("RegisterInstance: port not in [0, 65535]");
  }
  Instance copy = instance;
  if (copy.cluster_name.empty()) copy.cluster_name = impl_->options.cluster_name;
  copy.healthy = true;
  copy.instance_id.clear();
  const std::string grouped = GroupedOf(service_name, group_name);
  Impl* impl = impl_.get();
  return impl->Await<Status>(
      "RegisterInstance", [impl, grouped, copy](std::function<void(Status)> done) {
        if (impl->grpc && copy.ephemeral) {
          if (!impl->on_grpc) {
            impl->RegisterWhileOnHttp(grouped, copy, std::move(done));
            return;
          }
          impl->OverGrpc<Status>(
              [impl, grouped, copy](std::function<void(Status)> answer) {
                impl->grpc->RegisterInstance(grouped, copy, [impl, answer](Status status) {
                  answer(status.ok() && impl->shut_down.load()
                             ? FailedPreconditionError("naming client shut down")
                             : status);
                });
              },
              [impl, grouped, copy](std::function<void(Status)> answer) {
                impl->RegisterWhileOnHttp(grouped, copy, std::move(answer));
              },
              std::move(done));
          return;
        }
        if (impl->grpc && !copy.ephemeral && impl->on_grpc && impl->grpc->supports_persistent()) {
          impl->grpc->PersistentInstance(grouped, copy, /*do_register=*/true, std::move(done));
          return;
        }
        impl->RegisterOverHttp(grouped, copy, std::move(done));
      });
}

Status NamingClient::DeregisterInstance(std::string_view service_name, std::string_view group_name,
                                        const Instance& instance) {
  if (service_name.empty()) return InvalidArgumentError("DeregisterInstance: empty service name");
  if (instance.ip.empty()) return InvalidArgumentError("DeregisterInstance: empty ip");
  const std::string grouped = GroupedOf(service_name, group_name);
  const std::string cluster =
      instance.cluster_name.empty() ? impl_->options.cluster_name : instance.cluster_name;
  Impl* impl = impl_.get();
  return impl->Await<Status>("DeregisterInstance", [impl, grouped, cluster,
                                                    instance](std::function<void(Status)> done) {
    Instance target = instance;
    target.cluster_name = cluster;
    if (impl->grpc && instance.ephemeral) {
      if (impl->on_grpc) {
        impl->grpc->DeregisterInstance(grouped, instance.ip, instance.port, std::move(done));
        return;
      }
      // On HTTP (auto): the record goes (nothing is sent while gRPC is not ready), then the v1
      // copy below.
      impl->grpc->DeregisterInstance(grouped, instance.ip, instance.port, [](Status) {});
    }
    if (impl->grpc && !instance.ephemeral && impl->on_grpc && impl->grpc->supports_persistent()) {
      impl->registered.erase(Impl::RegisteredKey(grouped, instance));
      impl->grpc->PersistentInstance(grouped, target, /*do_register=*/false, std::move(done));
      return;
    }
    impl->beats->Remove(grouped, instance.ip, instance.port);
    impl->registered.erase(Impl::RegisteredKey(grouped, instance));
    impl->proxy->Call(MakeDeregisterRequest(grouped, target), [done](Result<std::string> answer) {
      if (!answer.ok() && answer.status().code() == StatusCode::kNotFound) {
        done(Status::Ok());
        return;
      }
      done(answer.status());
    });
  });
}

Result<std::vector<Instance>> NamingClient::GetAllInstances(std::string_view service_name,
                                                            std::string_view group_name,
                                                            std::string_view clusters,
                                                            bool subscribe) {
  if (service_name.empty()) return InvalidArgumentError("GetAllInstances: empty service name");
  Impl* impl = impl_.get();
  const std::string name(service_name), group(group_name), cl(clusters);
  Result<ServiceInfo> info = impl->Await<Result<ServiceInfo>>(
      "GetAllInstances",
      [impl, name, group, cl, subscribe](std::function<void(Result<ServiceInfo>)> done) {
        impl->hosts->GetServiceInfo(name, group, cl, subscribe, std::move(done));
      });
  if (!info.ok()) return info.status();
  return std::move(info->hosts);
}

Result<std::vector<Instance>> NamingClient::SelectInstances(std::string_view service_name,
                                                            std::string_view group_name,
                                                            std::string_view clusters, bool healthy,
                                                            bool subscribe) {
  Result<std::vector<Instance>> all =
      GetAllInstances(service_name, group_name, clusters, subscribe);
  if (!all.ok()) return all.status();
  return Healthy(*all, healthy);
}

Result<Instance> NamingClient::SelectOneHealthyInstance(std::string_view service_name,
                                                        std::string_view group_name,
                                                        std::string_view clusters, bool subscribe) {
  Result<std::vector<Instance>> healthy =
      SelectInstances(service_name, group_name, clusters, true, subscribe);
  if (!healthy.ok()) return healthy.status();
  if (healthy->empty()) {
    return NotFoundError("no healthy instance of " + GroupedOf(service_name, group_name));
  }
  double total = 0;
  for (const Instance& host : *healthy) total += host.weight;
  double point;
  {
    std::lock_guard<std::mutex> lock(impl_->rng_mu);
    point = std::uniform_real_distribution<double>(0, total)(impl_->rng);
  }
  for (Instance& host : *healthy) {
    if (point < host.weight) return std::move(host);
    point -= host.weight;
  }
  return std::move(healthy->back());
}

Result<SubscriptionId> NamingClient::Subscribe(std::string_view service_name,
                                               std::string_view group_name,
                                               std::string_view clusters, NamingListener listener) {
  if (service_name.empty()) return InvalidArgumentError("Subscribe: empty service name");
  if (!listener) return InvalidArgumentError("Subscribe: empty listener");
  auto entry = std::make_shared<ListenerEntry>();
  entry->id = impl_->next_subscription.fetch_add(1);
  entry->fn = std::move(listener);
  Impl* impl = impl_.get();
  const std::string name(service_name), group(group_name), cl(clusters);
  // The caller gets no id when the status is not OK (the deadline may pass before or after the
  // op ran): the entry is silenced now and removed on the loop after the op.
  Status status = impl->Await<Status>(
      "Subscribe",
      [impl, name, group, cl, entry](std::function<void(Status)> done) {
        impl->hosts->Subscribe(name, group, cl, entry, std::move(done));
      },
      [impl, id = entry->id] { impl->hosts->Unsubscribe(id); });
  if (!status.ok()) {
    entry->active.store(false);
    return status;
  }
  return entry->id;
}

Status NamingClient::Unsubscribe(SubscriptionId id) {
  Impl* impl = impl_.get();
  Status status = impl->Await<Status>("Unsubscribe", [impl, id](std::function<void(Status)> done) {
    done(impl->hosts->Unsubscribe(id) ? Status::Ok()
                                      : NotFoundError("no subscription " + std::to_string(id)));
  });
  if (status.ok()) impl->dispatcher.WaitIdle(id);
  return status;
}

Result<ServiceList> NamingClient::GetServices(int page_no, int page_size,
                                              std::string_view group_name) {
  if (page_no < 1 || page_size < 1) {
    return InvalidArgumentError("GetServices: pageNo and pageSize must be positive");
  }
  Impl* impl = impl_.get();
  NamingRequest request;
  request.path = "/v1/ns/service/list";
  request.params = {
      {"pageNo", std::to_string(page_no)},
      {"pageSize", std::to_string(page_size)},
      {"groupName", group_name.empty() ? std::string(kDefaultGroup) : std::string(group_name)}};

  const std::string group =
      group_name.empty() ? std::string(kDefaultGroup) : std::string(group_name);
  return impl->Await<Result<ServiceList>>(
      "GetServices",
      [impl, request, group, page_no, page_size](std::function<void(Result<ServiceList>)> done) {
        auto over_http = [impl, request](std::function<void(Result<ServiceList>)> answer) {
          impl->proxy->Call(request, [answer = std::move(answer)](Result<std::string> body) {
            answer(body.ok() ? ParseServiceListAnswer(*body) : Result<ServiceList>(body.status()));
          });
        };
        if (!impl->on_grpc) {
          over_http(std::move(done));
          return;
        }
        impl->OverGrpc<Result<ServiceList>>(
            [impl, group, page_no, page_size](std::function<void(Result<ServiceList>)> answer) {
              impl->grpc->ListServices(group, page_no, page_size, std::move(answer));
            },
            over_http, std::move(done));
      });
}

std::string NamingClient::GetServerStatus() {
  Impl* impl = impl_.get();
  NamingRequest request;
  request.path = "/v1/ns/operator/metrics";
  Result<std::string> body = impl->Await<Result<std::string>>(
      "GetServerStatus", [impl, request](std::function<void(Result<std::string>)> done) {
        if (!impl->on_grpc) {
          impl->proxy->Call(request, std::move(done));
          return;
        }
        // A ready connection has passed its setup and answers health checks. Otherwise a request
        // that waits for one (a client just created is still connecting) tells.
        const std::string up = R"({"status":"UP"})";
        if (impl->grpc->ready()) {
          done(up);
          return;
        }
        impl->OverGrpc<Result<std::string>>(
            [impl, up](std::function<void(Result<std::string>)> answer) {
              impl->grpc->ListServices(std::string(kDefaultGroup), 1, 1,
                                       [up, answer](Result<ServiceList> list) {
                                         answer(list.ok() ? Result<std::string>(up)
                                                          : Result<std::string>(list.status()));
                                       });
            },
            [impl, request](std::function<void(Result<std::string>)> answer) {
              impl->proxy->Call(request, std::move(answer));
            },
            std::move(done));
      });
  if (!body.ok() || !IsServerUpAnswer(*body)) return "DOWN";
  return "UP";
}

void NamingClient::Shutdown() {
  Impl* impl = impl_.get();
  if (impl->shut_down.exchange(true)) {
    // Another call is shutting the client down, or has. Wait for it to finish, except on the
    // dispatcher thread: that call may be waiting in Dispatcher::Stop() for the very listener
    // making this call to return (waiting here deadlocked both).
    if (!impl->dispatcher.InDispatcherThread()) {
      std::unique_lock<std::mutex> lock(impl->shutdown_mu);
      impl->shutdown_cv.wait(lock, [impl] { return impl->shutdown_done; });
    }
    return;
  }

  // Everything below fits in the shutdown budget, whatever the servers do (only a listener that
  // never returns gets kMinListenerStopBound more).
  const auto budget = std::chrono::milliseconds(impl->options.shutdown_timeout_ms);
  const auto deadline = std::chrono::steady_clock::now() + budget;

  // 1. Stop beats, polling and listeners; deregister what we registered, in parallel, briefly.
  auto deregistered = std::make_shared<std::promise<void>>();
  std::future<void> all_done = deregistered->get_future();
  const bool ran = impl->loop.RunInLoopAndWait([impl, deregistered, budget] {
    impl->beats->Stop();
    impl->hosts->Stop();
    // gRPC: closing the connection is the deregistration. A server removes every instance of a
    // connection the moment it ends (and tells subscribers), so this one step takes them all,
    // instead of a request per service record that the budget could cut halfway.
    if (impl->grpc) impl->grpc->Stop();
    // Persistent instances are meant to outlive the process: only ephemeral ones are removed.
    size_t ephemeral = 0;
    for (const auto& [key, entry] : impl->registered) ephemeral += entry.instance.ephemeral;
    if (ephemeral == 0) {
      deregistered->set_value();
      return;
    }
    // One summary line for the failures, not one per instance (thousands at scale).
    struct Tally {
      size_t pending = 0;
      size_t failed = 0;
      std::string first_failure;
    };
    auto tally = std::make_shared<Tally>();
    tally->pending = ephemeral;
    for (const auto& [key, entry] : impl->registered) {
      if (!entry.instance.ephemeral) continue;
      NamingRequest request = MakeDeregisterRequest(entry.grouped, entry.instance);
      request.timeout_ms = budget.count();
      impl->proxy->Call(std::move(request),
                        [key = key, tally, deregistered](Result<std::string> answer) {
                          if (!answer.ok() && tally->failed++ == 0) {
                            tally->first_failure = key + ": " + answer.status().ToString();
                          }
                          if (--tally->pending > 0) return;
                          if (tally->failed > 0) {
                            DUBBO_LOG(WARNING) << "nacos: " << tally->failed
                                               << " deregistrations at shutdown failed (first: "
                                               << tally->first_failure << ")";
                          }
                          deregistered->set_value();
                        });
    }
    impl->registered.clear();
  });
  if (ran && all_done.wait_until(deadline) != std::future_status::ready) {
    DUBBO_LOG(WARNING) << "nacos: shutdown did not wait for every deregistration to finish (budget "
                       << budget.count() << " ms)";
  }

  // 2. Cancel every request still in flight, and fail later ones at once. Before the dispatcher
  // stops: a listener blocked in a call (on a server that never answers, say) must return for
  // Dispatcher::Stop() to, and would otherwise hold Shutdown() for the whole request timeout.
  impl->loop.RunInLoopAndWait([impl] {
    impl->proxy->Stop();
    impl->http->CancelAll();
    if (impl->udp_watch != EventLoop::kInvalidWatchId) impl->loop.UnwatchFd(impl->udp_watch);
    impl->udp_watch = EventLoop::kInvalidWatchId;
  });
  // Callers still blocked (on a request whose answer is not coming, or on loop work that
  // stopped) return now.
  impl->pending.CancelAll();

  // 3. No listener runs after this (one stuck past the budget is left behind). Then stop the loop.
  impl->dispatcher.Stop(
      std::max(kMinListenerStopBound, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - std::chrono::steady_clock::now())));
  impl->loop.Stop();

  // Notified under the lock: a waiter may destroy the client as soon as it can see the flag.
  std::lock_guard<std::mutex> lock(impl->shutdown_mu);
  impl->shutdown_done = true;
  impl->shutdown_cv.notify_all();
}

}  // namespace dubbo::registry::nacos
