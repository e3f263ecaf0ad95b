// Internal: the seam between the naming server's gRPC transport (HTTP/2, gRPC framing and the
// protobuf `Payload`, grpc_transport.h) and the protocol core that answers Nacos requests
// (grpc_naming.h). The core sees decoded messages only, so it is tested without sockets or
// protobuf.
//
// Nacos's gRPC API is two methods on one HTTP/2 connection: the unary `/Request/request` (one
// Payload in, one Payload out) and the bidirectional `/BiRequestStream/requestBiStream`, on which
// the client sends its ConnectionSetupRequest and its answers to server requests, and the server
// sends its requests (pushes, client detection, reset). A Payload is Metadata{type, clientIp,
// headers} plus a body whose bytes are the message's UTF-8 JSON; `type` is the simple Java class
// name of the message ("InstanceRequest").
//
// Threads: GrpcHandler is called on the transport's event-loop thread only. GrpcSink may be
// called from any thread, with any lock held: it only queues.
#ifndef DUBBO_NAMING_SERVER_SRC_GRPC_TYPES_H_
#define DUBBO_NAMING_SERVER_SRC_GRPC_TYPES_H_

#include <cstdint>
#include <memory>
#include <string>

#include "grpc_payload.h"

namespace dubbo::naming_server {

// Names one transport (TCP connection) for its lifetime; never reused within a process.
using GrpcConnId = uint64_t;

// One decoded Payload (Metadata.type, clientIp, headers and the body's JSON).
using nacos_wire::GrpcMessage;

// Implemented by the protocol core.
class GrpcHandler {
 public:
  virtual ~GrpcHandler() = default;
  // A transport is ready (the HTTP/2 preface arrived). `peer_ip` is in inet_ntop form.
  virtual void OnConnect(GrpcConnId conn, const std::string& peer_ip, uint16_t peer_port) = 0;
  // One unary `/Request/request` call; the answer is sent with grpc-status 0.
  virtual GrpcMessage OnUnary(GrpcConnId conn, const GrpcMessage& request) = 0;
  // One message the client sent on its bi-stream.
  virtual void OnStreamMessage(GrpcConnId conn, const GrpcMessage& message) = 0;
  // The transport is gone (closed by either side, or failed). No call for `conn` follows.
  virtual void OnDisconnect(GrpcConnId conn) = 0;
};

// Implemented by the transport.
class GrpcSink {
 public:
  virtual ~GrpcSink() = default;
  // Queues `message` on the connection's open bi-stream (the latest one, if the client opened
  // several). Dropped when the connection or its stream is gone, or when the connection's queued
  // output is over its cap (the connection is then closed).
  virtual void SendOnStream(GrpcConnId conn, std::shared_ptr<const GrpcMessage> message) = 0;
  // Ends the connection (GOAWAY, then close once queued output is written or after a grace
  // period). OnDisconnect follows.
  virtual void Close(GrpcConnId conn) = 0;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_GRPC_TYPES_H_
