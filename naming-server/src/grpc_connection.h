// Internal: one gRPC connection's protocol without its socket. HTTP/2 server side (libnghttp2:
// framing, HPACK, flow control, the client preface), gRPC message framing (a 1-byte compressed
// flag that must be 0, a 4-byte big-endian length, the message) and the Payload protobuf. Bytes
// received go in through Feed(); bytes to send come out of PendingOutput()/Consume(). GrpcTransport
// puts a socket around it; the fuzzer feeds it directly.
//
//   GrpcConnection c(id, "10.0.0.9", 54321, limits, &handler, &metrics);
//   if (!c.Init().ok()) ...
//   if (!c.Feed(bytes, n)) close;                 // calls the handler
//   for (auto out = c.PendingOutput(); !out.empty(); out = c.PendingOutput()) {
//     c.Consume(write(out));
//   }
//
// Methods served: `/Request/request` (unary: exactly one message in; the handler's answer goes out
// with grpc-status 0) and `/BiRequestStream/requestBiStream` (each message in goes to
// OnStreamMessage; SendOnStream() writes on the newest such stream still open). Answers to
// a call the transport cannot serve: an unknown path gets grpc-status 12 (UNIMPLEMENTED), a message
// with the compressed flag set, one that does not decode as a Payload, a unary call with no message
// or with two, or a stream ending inside a message get 13 (INTERNAL), a message over
// max_message_bytes (by its length prefix, before it is buffered) or one that would take the
// connection's buffered input past max_buffered_input_bytes gets 8 (RESOURCE_EXHAUSTED); a
// content-type other than application/grpc[+...] gets HTTP 415 and a method other than POST 405.
// After such an answer the rest of the call's input is dropped, and the stream is reset with
// NO_ERROR when the client has not finished sending. Every error answer ends only its call. An
// HTTP/2 protocol error ends the connection (nghttp2 sends GOAWAY; Feed() or done() report it).
// A handler exception from OnUnary fails that call with 13 and one from OnStreamMessage drops the
// message; any other exception in the connection's work (OnConnect's, bad_alloc) fails the whole
// connection (Feed() returns false), counted in grpc_call_errors.
//
// OnConnect runs when the client's connection preface (the magic and its first SETTINGS frame)
// has been received. The owner calls OnDisconnect when it drops a connection for which connected()
// is true.
//
// Thread-safety: none; one thread (the transport's loop) uses a connection. Handler calls happen
// inside Feed() only.
#ifndef DUBBO_NAMING_SERVER_SRC_GRPC_CONNECTION_H_
#define DUBBO_NAMING_SERVER_SRC_GRPC_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dubbo/registry/status.h"
#include "grpc_h2.h"
#include "grpc_types.h"
#include "server_metrics.h"

struct nghttp2_session;

namespace dubbo::naming_server {

struct GrpcLimits {
  // The largest message a client may send (its length prefix); larger ones fail their call with
  // grpc-status 8. Default 10 MiB, as Nacos's server.
  size_t max_message_bytes = size_t{10} << 20;
  // Inbound message bytes buffered over all of a connection's streams (partial messages, and unary
  // requests waiting for the end of their call's input); a chunk or a request that would pass it
  // fails its call with grpc-status 8. At least max_message_bytes + 5.
  // Default 16 MiB.
  size_t max_buffered_input_bytes = size_t{16} << 20;
  // SETTINGS_MAX_CONCURRENT_STREAMS: streams past it are refused by nghttp2. Default 128.
  uint32_t max_concurrent_streams = 128;
  // SETTINGS_MAX_HEADER_LIST_SIZE, also enforced: a request whose header list (names, values and
  // 32 bytes per field) is larger has its stream reset. Default 16 KiB.
  uint32_t max_header_list_bytes = 16 << 10;
  // Output queued and not yet written (answers, stream messages, frames handed out by
  // PendingOutput() and not consumed). An answer or stream message that would pass it is not
  // queued (a unary call whose answer it is fails with grpc-status 8), no further unary call is
  // answered, and over_output_cap() is true. Default 16 MiB.
  size_t max_output_bytes = size_t{16} << 20;
};

// The gRPC message framing and the Payload codec, shared with the naming client.
using nacos_wire::DecodeGrpcPayload;
using nacos_wire::EncodeGrpcFrame;

class GrpcConnection {
 public:
  // `handler` and `metrics` (null: not counted) must outlive the connection.
  GrpcConnection(GrpcConnId id, std::string peer_ip, uint16_t peer_port, const GrpcLimits& limits,
                 GrpcHandler* handler, ServerMetrics* metrics);
  ~GrpcConnection();
  GrpcConnection(const GrpcConnection&) = delete;
  GrpcConnection& operator=(const GrpcConnection&) = delete;

  // Creates the HTTP/2 session and queues the server's SETTINGS. Call once, before anything else.
  // kInvalidArgument for limits out of range, kInternal when nghttp2 fails.
  registry::Status Init();

  // Processes received bytes. false: the connection is broken (a bad preface, an HTTP/2 error
  // nghttp2 could not answer with GOAWAY); close it. An error answered with GOAWAY returns true
  // and ends in done().
  bool Feed(const uint8_t* data, size_t size);

  // Queues one gRPC message (EncodeGrpcFrame()) on the newest open bi-stream; dropped when there is
  // none. Check over_output_cap() afterwards.
  void SendOnStream(std::shared_ptr<const std::string> frame);

  // Sends GOAWAY (NO_ERROR, the last stream processed): the client opens no new stream. Calls in
  // progress and queued stream messages go on being written. Idempotent.
  void GoAway();

  // The next bytes to write (up to 64 KiB), empty when there are none. Valid until the next call
  // of any method.
  std::string_view PendingOutput();
  // The first `n` bytes of PendingOutput() were written.
  void Consume(size_t n);

  // Nothing is left to write: PendingOutput() is empty and no queued message waits for flow
  // control or for its turn.
  bool output_idle();
  // Queued output reached max_output_bytes (a message was refused for it): the peer does not read
  // fast enough; close.
  bool over_output_cap() const {
    return output_overflow_ || queued_bytes_ > limits_.max_output_bytes;
  }
  // The HTTP/2 session is over (a GOAWAY for an error was sent, or it failed) and nothing is left
  // to write.
  bool done();
  // OnConnect has run.
  bool connected() const { return connected_; }
  // The session ended on a protocol error of the peer (a GOAWAY with an error code, a bad preface).
  bool protocol_error() const { return protocol_error_; }
  GrpcConnId id() const { return id_; }
  // Queued output bytes (see max_output_bytes).
  size_t queued_bytes() const { return queued_bytes_; }
  // Inbound message bytes buffered (see max_buffered_input_bytes).
  size_t buffered_input_bytes() const { return buffered_input_; }

 private:
  struct Stream;
  struct Callbacks;  // the nghttp2 callbacks, friends of this class

  Stream* Find(int32_t stream_id);
  void OnRequestHeaders(Stream* s);
  // Consumes a DATA chunk of `s`: frames messages out of it and delivers them.
  void OnData(Stream* s, const uint8_t* data, size_t size);
  void OnMessage(Stream* s, std::string_view bytes);
  void OnEndOfInput(Stream* s);
  void StartResponse(Stream* s);
  // false: not queued, for max_output_bytes (over_output_cap() is then true).
  bool Enqueue(Stream* s, std::shared_ptr<const std::string> frame);
  // Ends the call with `status`: trailers after the queued messages, or a trailers-only answer.
  void Finish(Stream* s, int status, std::string_view message);
  void RespondHttpError(Stream* s, int http_status);
  void DropInput(Stream* s);
  // Points bidi_stream_ at the newest open bi-stream left (0: none).
  void PickBidiStream();
  void CountCallError();

  const GrpcConnId id_;
  const std::string peer_ip_;
  const uint16_t peer_port_;
  const GrpcLimits limits_;
  GrpcHandler* const handler_;
  ServerMetrics* const metrics_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  int32_t bidi_stream_ = 0;    // the newest open bi-stream; 0: none
  nacos_wire::H2Output out_;   // bytes taken from nghttp2, not yet written
  size_t queued_bytes_ = 0;    // streams' queued messages + out_ not yet consumed
  size_t buffered_input_ = 0;  // partial inbound messages and held unary requests
  bool connected_ = false;
  bool protocol_error_ = false;
  bool failed_ = false;           // nghttp2 returned a fatal error
  bool callback_failed_ = false;  // a callback threw: the connection fails
  bool goaway_ = false;
  bool output_overflow_ = false;  // a message was not queued for max_output_bytes
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_GRPC_CONNECTION_H_
