// Internal: the seam between the naming client's gRPC transport (one HTTP/2 connection per server,
// on the client's EventLoop: grpc_client_transport.h) and its protocol core (naming_grpc_proxy.h),
// so that the core is tested on a fake channel and a ManualScheduler, without sockets.
//
// One GrpcChannel is one TCP connection. Nacos keys a client's registrations to the connection
// (the id the server mints when the transport becomes ready), so the unary calls and the
// bi-stream of one client always share one channel, and a channel is never reconnected silently:
// when it fails it is closed for good and the core opens a new one (a new connection id) and
// redoes its registrations there.
//
// Thread-safety: none. Every method is called on the loop, and every callback runs there. A
// channel may be destroyed from inside any of its callbacks.
#ifndef DUBBO_NACOS_REGISTRY_SRC_GRPC_CHANNEL_H_
#define DUBBO_NACOS_REGISTRY_SRC_GRPC_CHANNEL_H_

#include <functional>
#include <memory>
#include <string>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "grpc_payload.h"

namespace dubbo::registry::nacos {

using nacos_wire::GrpcMessage;

// What a channel reports; implemented by the protocol core.
class GrpcChannelEvents {
 public:
  virtual ~GrpcChannelEvents() = default;
  // One message the server sent on the bi-stream (a decoded Payload within the channel's caps).
  virtual void OnStreamMessage(GrpcMessage message) = 0;
  // The channel is gone: the connect failed or timed out, the server closed it or sent GOAWAY, an
  // I/O or HTTP/2 error, a cap was passed, the bi-stream ended. `why` names the cause. Called at
  // most once, never from inside a method of the channel, and never after Close(); unary calls
  // still pending fail with kUnavailable before it is called.
  virtual void OnChannelClosed(Status why) = 0;
};

// One HTTP/2 connection (h2c, prior knowledge) to one server.
class GrpcChannel {
 public:
  using UnaryDone = std::function<void(Result<GrpcMessage>)>;

  // Close()s.
  virtual ~GrpcChannel() = default;

  // One `/Request/request` call. Calls made before the connection is up wait for it. `done` runs
  // exactly once, on the loop, never from inside Unary() (once the loop has stopped, a `done`
  // still to run is destroyed without running): with the answer Payload, or with
  //   kDeadlineExceeded  no answer within `timeout` (the stream is reset);
  //   kUnavailable       the connection failed or closed first, or grpc-status 14;
  //   kResourceExhausted the answer passed the channel's message cap;
  //   kInternal          another grpc-status, or an answer that is not one Payload;
  //   kCancelled         Close() came first.
  virtual void Unary(GrpcMessage request, Duration timeout, UnaryDone done) = 0;

  // Queues `message` on the bi-stream, opening the stream with the first call. kUnavailable when
  // the channel is closed or failed; kResourceExhausted when the queued output is over its cap.
  virtual Status SendOnStream(GrpcMessage message) = 0;

  // Closes the connection now: pending calls fail with kCancelled, OnChannelClosed is not called.
  // Idempotent.
  virtual void Close() = 0;
};

// Opens channels; implemented by the transport (and by fakes in tests).
class GrpcConnector {
 public:
  virtual ~GrpcConnector() = default;
  // Starts connecting to `host` (an IP literal, "[v6]" brackets removed, or a host name resolved
  // without blocking the loop) on `port`, giving up after `connect_timeout`, which covers the
  // name resolution, the TCP connect and the server's first HTTP/2 SETTINGS frame (a port that
  // accepts TCP but never speaks HTTP/2 fails with kDeadlineExceeded). Returns at once; a
  // failure is reported through `events->OnChannelClosed()`. `events` must outlive the channel.
  virtual std::unique_ptr<GrpcChannel> Connect(const std::string& host, int port,
                                               Duration connect_timeout,
                                               GrpcChannelEvents* events) = 0;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_GRPC_CHANNEL_H_
