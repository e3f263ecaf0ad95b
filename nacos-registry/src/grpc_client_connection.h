// Internal: the client side of one Nacos gRPC connection without its socket. HTTP/2 client session
// (libnghttp2: framing, HPACK, flow control, the connection preface), gRPC message framing (a
// 1-byte compressed flag that must be 0, a 4-byte big-endian length, the message) and the Payload
// protobuf (nacos-wire/grpc_payload.h). Bytes received go in through Feed(); bytes to send come out
// of PendingOutput()/Consume(). The channels of grpc_client_transport.h put a socket around it;
// tests and the fuzzer drive it directly.
//
//   GrpcClientConnection c(limits);
//   if (!c.Init().ok()) ...                          // queues the preface and SETTINGS
//   Result<int32_t> call = c.StartUnary(request);    // `/Request/request`
//   c.SendOnStream(setup);                           // opens `/BiRequestStream/requestBiStream`
//   c.Feed(bytes, n);                                // never calls out
//   for (GrpcClientEvent& e : c.TakeEvents()) ...    // answers and stream messages, in order
//   if (!c.failure().ok()) close;                    // the connection is over
//
// Unary calls send HEADERS (:method POST, :scheme http, :path, :authority, content-type
// application/grpc, te trailers) and one message, then end their side. The answer is one message
// and grpc-status 0 in the trailers; anything else fails the call (GrpcClientEvent::status):
//   kResourceExhausted  an answer over max_message_bytes (judged by its length prefix, before it
//                       is buffered), or buffered input over max_buffered_input_bytes;
//   kUnavailable        grpc-status 14, or the stream reset by the server without trailers;
//   kInternal           another grpc-status, none at all, an HTTP status other than 200, a
//                       message with the compressed flag set, zero or two messages, one that is
//                       not a Payload, a header list over max_header_list_bytes.
// The bi-stream is opened by the first SendOnStream() and is never half-closed by us. Each message
// the server sends on it becomes an event; one that is not a Payload is dropped on its own. Its end
// (trailers, reset) or a compressed or oversize message on it ends the connection.
//
// The connection is over (failure() not OK) after: the server's GOAWAY (kUnavailable), an HTTP/2
// protocol error (kInternal; nghttp2 sends GOAWAY), a malformed connection preface from the
// server, the end of the bi-stream (kUnavailable), queued output over max_output_bytes
// (kResourceExhausted), or an internal failure. Calls still pending get no event then: the owner
// fails them. Server push is disabled (SETTINGS_ENABLE_PUSH 0); a PUSH_PROMISE is a protocol error.
//
// No exception unwinds through nghttp2: one thrown in a callback (bad_alloc) fails the connection.
//
// Thread-safety: none; one thread uses a connection.
#ifndef DUBBO_NACOS_REGISTRY_SRC_GRPC_CLIENT_CONNECTION_H_
#define DUBBO_NACOS_REGISTRY_SRC_GRPC_CLIENT_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "grpc_h2.h"
#include "grpc_payload.h"

struct nghttp2_session;

namespace dubbo::registry::nacos {

using nacos_wire::GrpcMessage;

struct GrpcClientLimits {
  // The largest message accepted from the server (its length prefix). Default 10 MiB, as Java's
  // client (NacosOptions::grpc_max_message_bytes).
  size_t max_message_bytes = size_t{10} << 20;
  // Inbound message bytes buffered over all streams (partial messages, and unary answers waiting
  // for their trailers). At least max_message_bytes + 5. Default 16 MiB.
  size_t max_buffered_input_bytes = size_t{16} << 20;
  // SETTINGS_MAX_HEADER_LIST_SIZE, also enforced: an answer whose header list (names, values and
  // 32 bytes per field) is larger fails its call. Default 16 KiB.
  uint32_t max_header_list_bytes = 16 << 10;
  // Output queued and not yet consumed (requests, stream messages, HTTP/2 frames). A request or
  // stream message that would pass it is refused and the connection fails. Default 16 MiB.
  size_t max_output_bytes = size_t{16} << 20;
};

// What Feed() produced, in arrival order.
struct GrpcClientEvent {
  enum Kind : uint8_t { kUnaryDone, kStreamMessage };
  Kind kind = kUnaryDone;
  int32_t call = 0;     // kUnaryDone: StartUnary()'s id
  Status status;        // kUnaryDone: OK, or why the call failed
  GrpcMessage message;  // the answer (kUnaryDone with OK status) or the stream message
};

class GrpcClientConnection {
 public:
  // `authority` is sent as :authority ("host:port").
  explicit GrpcClientConnection(const GrpcClientLimits& limits, std::string authority = "nacos");
  ~GrpcClientConnection();
  GrpcClientConnection(const GrpcClientConnection&) = delete;
  GrpcClientConnection& operator=(const GrpcClientConnection&) = delete;

  // Creates the HTTP/2 session and queues the preface and SETTINGS. Call once, first.
  // kInvalidArgument for limits out of range, kInternal when nghttp2 fails.
  Status Init();

  // Processes received bytes. Returns failure(): not OK once the connection is over.
  Status Feed(const uint8_t* data, size_t size);

  // Starts one `/Request/request` call; returns its id (the HTTP/2 stream id). Fails (and
  // starts nothing) when the connection is over, or with kResourceExhausted, which also fails the
  // connection, when the request would pass max_output_bytes.
  Result<int32_t> StartUnary(const GrpcMessage& request);
  // Gives up on a call: RST_STREAM CANCEL; no event follows for it. Unknown ids are ignored.
  void CancelUnary(int32_t call);

  // Queues `message` on the bi-stream, opening it with the first call. Fails like StartUnary().
  Status SendOnStream(const GrpcMessage& message);

  // The events since the last call.
  std::vector<GrpcClientEvent> TakeEvents();

  // The next bytes to write (up to 64 KiB), empty when there are none. Valid until the next call
  // of any method.
  std::string_view PendingOutput();
  // The first `n` bytes of PendingOutput() were written.
  void Consume(size_t n);
  // Bytes are waiting to be written (PendingOutput() would not be empty).
  bool want_write();

  // OK while the connection is usable; otherwise why it is over.
  const Status& failure() const { return failure_; }
  // The server's first SETTINGS frame has arrived: an HTTP/2 server answers on this connection.
  bool server_settings_received() const { return settings_received_; }
  // Calls started and not yet finished (no event yet, not cancelled).
  size_t pending_calls() const { return pending_calls_; }
  size_t queued_bytes() const { return queued_bytes_; }
  size_t buffered_input_bytes() const { return buffered_input_; }

 private:
  struct Stream;
  struct Callbacks;  // the nghttp2 callbacks, friends of this class

  Stream* Find(int32_t stream_id);
  Result<int32_t> Submit(std::string_view path, std::shared_ptr<const std::string> frame,
                         bool end_after);
  void OnData(Stream* s, const uint8_t* data, size_t size);
  void OnMessage(Stream* s, std::string_view bytes);
  // The server ended its side of `s` (END_STREAM) or reset it.
  void OnRemoteEnd(Stream* s, bool reset, uint32_t error_code);
  // Fails the call of `s` with `why` (the stream is reset) or, for the bi-stream, the connection.
  void FailStream(Stream* s, Status why);
  void CompleteUnary(Stream* s, Status status);
  void DropInput(Stream* s);
  void Fail(Status why);

  const GrpcClientLimits limits_;
  const std::string authority_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  int32_t bidi_stream_ = 0;  // 0: not opened yet
  std::vector<GrpcClientEvent> events_;
  nacos_wire::H2Output out_;   // bytes taken from nghttp2, not yet written
  size_t queued_bytes_ = 0;    // streams' queued messages + out_ not yet consumed
  size_t buffered_input_ = 0;  // partial inbound messages and held unary answers
  size_t pending_calls_ = 0;
  bool settings_received_ = false;
  bool callback_failed_ = false;  // a callback threw
  std::string last_error_;        // nghttp2's latest error message
  Status failure_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_GRPC_CLIENT_CONNECTION_H_
