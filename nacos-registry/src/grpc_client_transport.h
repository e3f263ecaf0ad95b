// Internal: the naming client's gRPC transport. GrpcClientConnector opens GrpcChannels
// (grpc_channel.h), each one non-blocking TCP connection (TCP_NODELAY) carrying one
// GrpcClientConnection (HTTP/2 h2c with prior knowledge, grpc_client_connection.h), driven by the
// client's EventLoop: no thread of its own.
//
//   GrpcClientConnector connector(&loop, GrpcClientConnector::LimitsFor(options));
//   // on the loop:
//   std::unique_ptr<GrpcChannel> ch = connector.Connect("10.0.0.7", 9848, seconds(3), &events);
//   ch->Unary(request, seconds(3), [](Result<GrpcMessage> answer) { ... });
//
// Connecting: an IP literal ("[v6]" brackets removed) is used as is; a host name is resolved by
// libevent's evdns on the loop (resolv.conf and /etc/hosts), never blocking it. The connect
// timeout covers the resolution, the TCP connect and the server's first HTTP/2 SETTINGS frame, so
// a port that accepts TCP but never speaks HTTP/2 fails within it (kDeadlineExceeded).
//
// I/O: a wake-up reads at most read_budget_bytes, so one busy connection cannot starve the loop
// (the fd is level-triggered: the rest is read at the next turn). Output is written when the
// socket is writable; output that would pass GrpcClientLimits::max_output_bytes closes the
// channel (kResourceExhausted). Unary deadlines are loop timers; an expired call's stream is reset.
// Failures reach GrpcChannelEvents::OnChannelClosed from a loop callback of their own.
//
// Thread-safety: none. Construct anywhere; Connect() and every channel method run on the loop.
// Channels must be destroyed before their connector. The connector is destroyed on the loop
// thread or when the loop is not running; the evdns state it keeps is freed by then, or by the
// loop's Stop().
#ifndef DUBBO_NACOS_REGISTRY_SRC_GRPC_CLIENT_TRANSPORT_H_
#define DUBBO_NACOS_REGISTRY_SRC_GRPC_CLIENT_TRANSPORT_H_

#include <cstddef>
#include <memory>
#include <string>

#include "dubbo/registry/nacos/nacos_options.h"
#include "event_loop.h"
#include "grpc_channel.h"
#include "grpc_client_connection.h"

struct evdns_base;

namespace dubbo::registry::nacos {

struct GrpcTransportOptions {
  GrpcClientLimits limits;
  // Bytes read from one socket per wake-up at most. Default 256 KiB.
  size_t read_budget_bytes = size_t{256} << 10;
};

class GrpcClientConnector final : public GrpcConnector {
 public:
  // `loop` must outlive the connector.
  explicit GrpcClientConnector(EventLoop* loop, GrpcTransportOptions options = {});
  ~GrpcClientConnector() override;
  GrpcClientConnector(const GrpcClientConnector&) = delete;
  GrpcClientConnector& operator=(const GrpcClientConnector&) = delete;

  // The transport options for `options` (its grpc_max_message_bytes; the input buffer cap grows
  // with it).
  static GrpcTransportOptions OptionsFor(const NacosOptions& options);

  std::unique_ptr<GrpcChannel> Connect(const std::string& host, int port, Duration connect_timeout,
                                       GrpcChannelEvents* events) override;

 private:
  // The resolver, created on first use (on the loop); null when it cannot be.
  evdns_base* Dns();
  void FreeDns();

  EventLoop* const loop_;
  const GrpcTransportOptions options_;
  evdns_base* dns_ = nullptr;
  EventLoop::HookId dns_hook_ = EventLoop::kInvalidHookId;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_GRPC_CLIENT_TRANSPORT_H_
