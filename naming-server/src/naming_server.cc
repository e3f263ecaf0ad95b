// NamingServer: the libevent shell around NamingCore. One event-loop thread runs the HTTP server
// (our own, http_server.h), the gRPC transport (grpc_transport.h) and the UDP push socket;
// everything else is NamingCore's.
#include "dubbo/naming_server/naming_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "grpc_transport.h"
#include "http_server.h"
#include "internal/logging.h"
#include "naming_core.h"
#include "naming_json.h"

namespace dubbo::naming_server {
namespace {

using registry::Result;
using registry::Status;

// Datagrams larger than this are not acks; 64 KiB covers every UDP payload.
constexpr size_t kMaxDatagram = 65536;

void UseLibeventThreads() {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
}

bool ToEndpoint(const sockaddr_storage& addr, UdpEndpoint* out) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    if (::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf)) == nullptr) return false;
    out->port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf)) == nullptr) return false;
    out->port = ntohs(v6->sin6_port);
  } else {
    return false;
  }
  out->ip = buf;
  return true;
}

uint16_t LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  UdpEndpoint endpoint;
  return ToEndpoint(addr, &endpoint) ? endpoint.port : 0;
}

}  // namespace

struct NamingServer::Impl final : public UdpSender {
  NamingServerOptions options;
  std::unique_ptr<registry::ThreadScheduler> owned_scheduler;
  registry::Scheduler* scheduler = nullptr;
  registry::Clock* clock = nullptr;

  ServerMetrics metrics;  // shared by `http` and `core`; declared first, so it outlives both
  event_base* base = nullptr;
  HttpServer http;
  GrpcTransport grpc;  // Before `core`, which holds it as its sink: destroyed after it.
  int udp_fd = -1;
  event* udp_event = nullptr;
  // Activated by Stop() from any thread. A plain event_base_loopbreak() would be lost if it came
  // before the loop started (the loop clears the flag on entry); an active event is not.
  event* stop_event = nullptr;
  std::thread loop;
  uint16_t http_port = 0;
  uint16_t udp_port = 0;
  uint16_t grpc_port = 0;
  std::unique_ptr<NamingCore> core;
  std::mutex stop_mu;
  bool stopped = false;

  ~Impl() override { Stop(); }

  void Send(const UdpEndpoint& to, std::string_view datagram) override {
    sockaddr_storage addr;
    socklen_t len = 0;
    if (!MakeSockaddr(to.ip, to.port, &addr, &len)) {
      DUBBO_LOG(WARNING) << "push: not an IP address: " << to.ip;
      return;
    }
    if (::sendto(udp_fd, datagram.data(), datagram.size(), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&addr), len) < 0) {
      DUBBO_LOG(DEBUG) << "push to " << to.ip << ":" << to.port << " failed: " << std::strerror(errno);
    }
  }

  Status Bind() {
    UseLibeventThreads();
    // No EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST: with it, libevent defers the epoll_ctl(DEL) of a
    // connection closed during an iteration to the next one, when the descriptor number may
    // already belong to another part of the process that embeds the server (ThreadSanitizer
    // reports that access as a race on the descriptor).
    base = event_base_new();
    if (base == nullptr) return registry::InternalError("event_base_new failed");
    HttpServerOptions http_options;
    http_options.bind_address = options.bind_address;
    http_options.port = options.port;
    http_options.limits.max_header_bytes = options.max_header_bytes;
    http_options.limits.max_body_bytes = options.max_body_bytes;
    http_options.head_timeout_ms = options.request_head_timeout_ms;
    http_options.min_body_bytes_per_second = options.min_body_bytes_per_second;
    http_options.idle_timeout_ms = options.idle_timeout_ms;
    http_options.max_connections = static_cast<size_t>(options.max_connections);
    http_options.max_connections_per_peer = static_cast<size_t>(options.max_connections_per_peer);
    http_options.max_output_bytes = options.max_output_bytes;
    http_options.metrics = &metrics;
    Status listening = ListenPair(http_options);
    if (!listening.ok()) return listening;

    sockaddr_storage addr;
    socklen_t len = 0;
    if (!MakeSockaddr(options.bind_address, 0, &addr, &len)) {
      return registry::InvalidArgumentError("--bind must be an IP address: " + options.bind_address);
    }
    udp_fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp_fd < 0 || ::bind(udp_fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      return registry::UnavailableError(std::string("cannot bind the UDP push socket: ") +
                                        std::strerror(errno));
    }
    // A push to N subscribers is sent from inside one request, so their N acks queue up before
    // this thread reads any. The default receive buffer (net.core.rmem_default, 208 KiB) holds
    // only 256 acks (each costs 832 bytes of skb truesize): with 1,000 subscribers most acks were
    // dropped (Udp RcvbufErrors) and those pushes resent 10 s later. Ask for 8 MiB (~10,000
    // acks). The kernel caps the request at net.core.rmem_max (x2): stock 208 KiB gives room for
    // 512 acks only, so hosts with more subscribers per service should raise it (4 MiB or more).
    const int rcvbuf = 8 << 20;
    if (::setsockopt(udp_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0) {
      DUBBO_LOG(WARNING) << "push socket: SO_RCVBUF failed: " << std::strerror(errno);
    }
    udp_port = LocalPort(udp_fd);
    udp_event = event_new(base, udp_fd, EV_READ | EV_PERSIST, &Impl::OnDatagram, this);
    if (udp_event == nullptr || event_add(udp_event, nullptr) != 0) {
      return registry::InternalError("cannot watch the UDP socket");
    }
    stop_event = event_new(base, -1, 0, &Impl::OnStop, this);
    if (stop_event == nullptr) return registry::InternalError("cannot create the stop event");
    return Status::Ok();
  }

  // Binds the HTTP port and, with gRPC on, port + grpc_port_offset. With port 0 the pair is free
  // ports found by trying: the HTTP port is the kernel's pick, and when its gRPC partner is taken
  // (or beyond 65535) both are given up and another pick is tried.
  Status ListenPair(const HttpServerOptions& http_options) {
    constexpr int kAttempts = 64;
    for (int attempt = 1;; ++attempt) {
      Status listening = http.Start(
          base, http_options, [this](const HttpRequest& request) { return core->Handle(request); });
      if (!listening.ok()) return listening;
      http_port = http.port();
      if (!options.grpc_enabled) return Status::Ok();
      const uint32_t wanted = uint32_t{http_port} + options.grpc_port_offset;
      Status grpc_listening = registry::UnavailableError(
          "the gRPC port " + std::to_string(wanted) + " (HTTP port + " +
          std::to_string(options.grpc_port_offset) + ") is beyond 65535");
      if (wanted <= 65535) {
        GrpcTransportOptions grpc_options;
        grpc_options.bind_address = options.bind_address;
        grpc_options.port = static_cast<uint16_t>(wanted);
        grpc_options.limits.max_message_bytes = options.grpc_max_message_bytes;
        grpc_options.limits.max_buffered_input_bytes = std::max(
            grpc_options.limits.max_buffered_input_bytes, options.grpc_max_message_bytes + 5);
        grpc_options.limits.max_concurrent_streams = options.grpc_max_concurrent_streams;
        grpc_options.limits.max_output_bytes = options.grpc_max_output_bytes;
        grpc_options.max_connections = http.connection_cap();
        grpc_options.max_connections_per_peer =
            static_cast<size_t>(options.max_connections_per_peer);
        grpc_options.metrics = &metrics;
        grpc_listening = grpc.Start(base, grpc_options, core->grpc_handler());
      }
      if (grpc_listening.ok()) {
        grpc_port = grpc.port();
        core->SetGrpcSink(&grpc);
        return Status::Ok();
      }
      if (options.port != 0 || attempt == kAttempts) return grpc_listening;
      http.Stop();
      grpc.Stop();
    }
  }

  // On the loop thread: every gRPC client is told to move on (ConnectResetRequest), the core stops,
  // the transport writes what is queued and closes (at most kShutdownGrace), then the loop ends.
  static void OnStop(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    constexpr std::chrono::milliseconds kShutdownGrace{1000};
    self->core->Shutdown();
    event_base* base = self->base;
    self->grpc.Shutdown(kShutdownGrace, [base] { event_base_loopbreak(base); });
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mu);
    if (stopped) return;
    stopped = true;
    if (stop_event != nullptr) event_active(stop_event, EV_READ, 0);
    if (loop.joinable()) loop.join();
    if (core != nullptr) core->Shutdown();
    if (owned_scheduler != nullptr) owned_scheduler->Shutdown();
    if (stop_event != nullptr) event_free(stop_event);
    if (udp_event != nullptr) event_free(udp_event);
    grpc.Stop();  // The core, shut down above, no longer sends to it.
    http.Stop();
    if (base != nullptr) event_base_free(base);
    if (udp_fd >= 0) ::close(udp_fd);
    udp_event = nullptr;
    stop_event = nullptr;
    base = nullptr;
    udp_fd = -1;
  }

  static void OnDatagram(evutil_socket_t fd, short /*events*/, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    static thread_local std::string buffer(kMaxDatagram, '\0');
    for (int i = 0; i < 64; ++i) {  // Bounded: let HTTP requests in between bursts.
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      const ssize_t n = ::recvfrom(fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) return;
      UdpEndpoint endpoint;
      if (!ToEndpoint(from, &endpoint)) continue;
      self->core->OnDatagram(endpoint, std::string_view(buffer.data(), static_cast<size_t>(n)));
    }
  }
};

NamingServer::NamingServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NamingServer::~NamingServer() { Stop(); }

Result<std::unique_ptr<NamingServer>> NamingServer::Start(NamingServerOptions options) {
  if (options.heartbeat_timeout_ms <= 0 || options.ip_delete_timeout_ms <= 0 ||
      options.client_beat_interval_ms <= 0 || options.health_check_period_ms <= 0 ||
      options.push_ack_timeout_ms <= 0 || options.subscriber_ttl_ms <= 0 || options.push_delay_ms < 0 ||
      options.token_ttl_seconds <= 0) {
    return registry::InvalidArgumentError("timing options must be positive");
  }
  // Beyond ~34 years a millisecond count overflows once turned into steady_clock nanoseconds.
  constexpr int64_t kMaxMs = int64_t{1} << 40;
  // The throttle's failure count stays an int; its table costs ~150 bytes per address.
  constexpr int kMaxLoginFreeFailures = 1000000;
  constexpr size_t kMaxLoginThrottleAddresses = 1000000;
  constexpr size_t kMaxTokens = 1000000;  // ~200 bytes each.
  for (int64_t ms : {options.heartbeat_timeout_ms, options.ip_delete_timeout_ms,
                     options.client_beat_interval_ms, options.health_check_period_ms,
                     options.push_ack_timeout_ms, options.subscriber_ttl_ms, options.push_delay_ms}) {
    if (ms > kMaxMs) return registry::InvalidArgumentError("timing options must be below 2^40 ms");
  }
  for (int64_t ms :
       {options.grpc_ack_timeout_ms, options.grpc_resend_delay_ms, options.grpc_detection_idle_ms,
        options.grpc_detection_timeout_ms, options.grpc_ejector_period_ms}) {
    if (ms <= 0 || ms > kMaxMs) {
      return registry::InvalidArgumentError("gRPC timing options must be from 1 to 2^40 ms");
    }
  }
  if (options.grpc_port_offset == 0 || options.grpc_port_offset > 64535 ||
      options.grpc_max_message_bytes == 0 ||
      options.grpc_max_message_bytes > kMaxGrpcMessageBytesLimit ||
      options.grpc_max_concurrent_streams == 0 || options.grpc_max_output_bytes == 0 ||
      options.grpc_max_subscriptions_per_connection == 0 || options.grpc_max_subscriptions == 0) {
    return registry::InvalidArgumentError(
        "grpc_port_offset must be from 1 to 64535, grpc_max_message_bytes from 1 to 1 GiB, and "
        "the gRPC stream, output and subscription caps positive");
  }
  if (options.request_head_timeout_ms <= 0 || options.request_head_timeout_ms > kMaxMs ||
      options.idle_timeout_ms <= 0 || options.idle_timeout_ms > kMaxMs) {
    return registry::InvalidArgumentError(
        "request_head_timeout_ms and idle_timeout_ms must be from 1 to 2^40");
  }
  if (options.min_body_bytes_per_second <= 0 || options.max_connections <= 0 ||
      options.max_connections_per_peer <= 0 || options.max_output_bytes == 0) {
    return registry::InvalidArgumentError(
        "min_body_bytes_per_second, max_connections, max_connections_per_peer and "
        "max_output_bytes must be positive");
  }
  if (options.auth_enabled && !options.allow_default_password &&
      (options.password.empty() || options.password == "nacos")) {
    return registry::InvalidArgumentError(
        "auth is on but the password is empty or Nacos's default \"nacos\", which anyone can "
        "guess: set another password (or allow_default_password / --allow-default-password for "
        "a throw-away test server)");
  }
  if (options.max_tokens < 1 || options.max_tokens > kMaxTokens) {
    return registry::InvalidArgumentError("max_tokens must be from 1 to 1000000");
  }
  if (options.login_free_failures < 1 || options.login_free_failures > kMaxLoginFreeFailures ||
      options.login_backoff_ms < 1 || options.login_max_backoff_ms < options.login_backoff_ms ||
      options.login_max_backoff_ms > kMaxMs || options.login_throttle_max_addresses < 1 ||
      options.login_throttle_max_addresses > kMaxLoginThrottleAddresses) {
    return registry::InvalidArgumentError(
        "login throttle: free failures from 1 to 1000000, the first back-off positive, the "
        "maximum back-off at least the first one and at most 2^40 ms, the address count from 1 "
        "to 1000000");
  }
  for (size_t cap :
       {options.max_service_name_length, options.max_metadata_bytes,
        options.max_instances_per_service, options.max_services_per_namespace,
        options.max_total_instances, options.max_total_services, options.max_answer_bytes}) {
    if (cap == 0) return registry::InvalidArgumentError("caps (max_*) must be positive");
  }
  static_assert(kMaxMetadataBytesLimit == kMaxMetadataBytes, "one metadata cap");
  if (options.max_metadata_bytes > kMaxMetadataBytesLimit) {
    return registry::InvalidArgumentError("max_metadata_bytes must be at most " +
                                          std::to_string(kMaxMetadataBytesLimit) +
                                          " (the metadata parameter's parse cap)");
  }
  if (options.max_body_bytes < kMinHttpLimitBytes || options.max_body_bytes > kMaxBodyBytesLimit ||
      options.max_header_bytes < kMinHttpLimitBytes ||
      options.max_header_bytes > kMaxHeaderBytesLimit) {
    return registry::InvalidArgumentError(
        "max_body_bytes must be from " + std::to_string(kMinHttpLimitBytes) + " to " +
        std::to_string(kMaxBodyBytesLimit) + ", max_header_bytes from " +
        std::to_string(kMinHttpLimitBytes) + " to " + std::to_string(kMaxHeaderBytesLimit));
  }
  if (options.context_path.empty() || options.context_path.front() != '/') {
    return registry::InvalidArgumentError("context path must start with '/'");
  }
  if (options.context_path.size() > 1 && options.context_path.back() == '/') {
    options.context_path.pop_back();
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.scheduler != nullptr) {
    impl->scheduler = options.scheduler;
  } else {
    impl->owned_scheduler = std::make_unique<registry::ThreadScheduler>("naming-timers");
    impl->scheduler = impl->owned_scheduler.get();
  }
  impl->clock = options.clock != nullptr ? options.clock : impl->scheduler->clock();
  // The core exists before the sockets, which hand it their requests; nothing reaches it before
  // the loop starts.
  impl->core = std::make_unique<NamingCore>(impl->options, impl->clock, impl->scheduler, impl.get(),
                                            &impl->metrics);
  Status status = impl->Bind();
  if (!status.ok()) return status;
  if (Status loaded = impl->core->LoadData(); !loaded.ok()) return loaded;
  Impl* raw = impl.get();
  impl->loop = std::thread([raw] {
    event_base_dispatch(raw->base);
  });
  return std::unique_ptr<NamingServer>(new NamingServer(std::move(impl)));
}

uint16_t NamingServer::port() const { return impl_->http_port; }
uint16_t NamingServer::udp_port() const { return impl_->udp_port; }
uint16_t NamingServer::grpc_port() const { return impl_->grpc_port; }
size_t NamingServer::connection_cap() const { return impl_->http.connection_cap(); }

std::string NamingServer::address() const {
  const std::string& host = impl_->options.bind_address;
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->http_port);
}

void NamingServer::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}

void NamingServer::CheckHealthNow() { impl_->core->CheckHealth(); }

NamingServer::Stats NamingServer::stats() const { return impl_->core->stats(); }

}  // namespace dubbo::naming_server
