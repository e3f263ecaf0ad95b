// nacos-wire/grpc_h2.h: the gRPC-over-HTTP/2 plumbing both peers share (naming-server's
// GrpcConnection and the naming client's GrpcClientConnection, each an nghttp2 session without a
// socket): splitting a stream's DATA into gRPC messages under caps, handing queued messages to
// nghttp2's data callback, and gathering nghttp2's output for the socket.
//
// Thread-safety: none; each object belongs to one connection, used by one thread.
#ifndef DUBBO_NACOS_WIRE_GRPC_H2_H_
#define DUBBO_NACOS_WIRE_GRPC_H2_H_

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

namespace dubbo::nacos_wire {

// The gRPC message prefix: a compressed flag and a 4-byte big-endian length.
inline constexpr size_t kGrpcPrefixBytes = 5;

// One stream's inbound gRPC messages. The length prefix is judged before the message is buffered;
// a message that arrives whole in one chunk is handed over without a copy.
class GrpcMessageReader {
 public:
  enum class Error { kNone, kCompressed, kTooLarge, kOverBuffer };

  // Splits `input` into messages, calling `on_message(bytes)` for each; it returns false to stop
  // (the call ended). Stops at the first error: a compressed flag, a length over `max_message`
  // (`*too_large` is set to it), or bytes that would take `*buffered` (the connection's buffered
  // input, which this reader adds its held bytes to) past `max_buffered`.
  Error Read(std::string_view input, size_t max_message, size_t max_buffered, size_t* buffered,
             size_t* too_large, const std::function<bool(std::string_view)>& on_message);
  // Drops a partial message, giving its bytes back to `*buffered`.
  void Clear(size_t* buffered);
  // A message has begun and not ended.
  bool partial() const { return !in_.empty(); }

 private:
  std::string in_;   // the partial message: its prefix and the bytes so far
  size_t need_ = 0;  // the length of the message being received, once its prefix is in `in_`
};

// One stream's outbound gRPC messages, as nghttp2's data source reads them.
struct GrpcOutboundQueue {
  // Copies up to `length` queued bytes to `buf`, taking them off `*queued_bytes` (the connection's
  // queued output). Returns the count.
  size_t CopyTo(uint8_t* buf, size_t length, size_t* queued_bytes);
  // Drops what is queued, taking it off `*queued_bytes`.
  void Clear(size_t* queued_bytes);

  std::deque<std::shared_ptr<const std::string>> frames;
  size_t offset = 0;  // bytes of frames.front() already given to nghttp2
};

// Output nghttp2 produced and the socket has not taken yet.
class H2Output {
 public:
  // The next bytes to write (up to 64 KiB, gathered from nghttp2_session_mem_send), empty when
  // there are none; each byte gathered is added to `*queued_bytes`. false in `*ok` when nghttp2
  // failed (fatal for the session). Valid until the next call.
  std::string_view Pending(nghttp2_session* session, size_t* queued_bytes, bool* ok);
  // The first `n` bytes of Pending() were written; returns how many were taken.
  size_t Consume(size_t n);
  // Bytes gathered and not yet consumed.
  bool empty() const { return offset_ == out_.size(); }

 private:
  std::string out_;
  size_t offset_ = 0;
};

// Logs an exception caught by GuardedH2Callback (`what` null: not a std::exception).
void LogH2CallbackFailure(const char* what);

// GuardedH2Callback<&F, &OnThrow>::Call runs the nghttp2 callback F so that no exception unwinds
// through nghttp2 (a C library): one thrown (bad_alloc, a handler's) is logged, OnThrow(user_data)
// runs, and nghttp2 gets NGHTTP2_ERR_CALLBACK_FAILURE, which fails the session. Every nghttp2
// callback takes user_data last.
template <auto F, auto OnThrow>
struct GuardedH2Callback;
template <typename R, typename... Args, R (*F)(Args...), auto OnThrow>
struct GuardedH2Callback<F, OnThrow> {
  static R Call(Args... args) {
    try {
      return F(args...);
    } catch (const std::exception& e) {
      LogH2CallbackFailure(e.what());
    } catch (...) {
      LogH2CallbackFailure(nullptr);
    }
    OnThrow(std::get<sizeof...(Args) - 1>(std::forward_as_tuple(args...)));
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
};

}  // namespace dubbo::nacos_wire

#endif  // DUBBO_NACOS_WIRE_GRPC_H2_H_
