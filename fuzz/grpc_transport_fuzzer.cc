// libFuzzer target for one gRPC connection's inbound side (grpc_connection.h): the input is what a
// client sends on the TCP connection, fed through nghttp2's server session, the gRPC framing and
// the Payload decoding, with a handler that answers every unary call. Small limits, so that the
// caps are reached.
//
// The first byte steers the run: bit 0 prepends a valid client preface (magic and an empty
// SETTINGS frame), bits 1-3 choose the chunk size the rest is fed in, bit 4 queues a stream
// message after each chunk, bit 5 sends GOAWAY halfway. After each chunk the output is drained.
//
// Beyond "no crash, no sanitizer report" it checks, for every input:
//   * OnConnect runs at most once, before any other handler call, and no call follows a failed
//     Feed();
//   * buffered inbound message bytes never pass max_buffered_input_bytes;
//   * after a drain nothing is left in PendingOutput(), and queued output is only what waits for
//     flow control, never more than max_output_bytes (the run stops at the output cap, as the
//     transport closes there);
//   * a frame the connection encodes decodes back to the same message when its text fields are
//     valid UTF-8 (protobuf rejects a `string` field that is not, as Nacos's Java peers do).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "grpc_connection.h"
#include "internal/utf8.h"

namespace {

using dubbo::naming_server::DecodeGrpcPayload;
using dubbo::naming_server::EncodeGrpcFrame;
using dubbo::naming_server::GrpcConnection;
using dubbo::naming_server::GrpcConnId;
using dubbo::naming_server::GrpcHandler;
using dubbo::naming_server::GrpcLimits;
using dubbo::naming_server::GrpcMessage;
using dubbo::registry::internal::IsValidUtf8;

constexpr std::string_view kPreface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0", 33);
constexpr size_t kChunkSizes[8] = {1, 3, 9, 17, 64, 512, 4096, size_t{1} << 20};

class CheckingHandler : public GrpcHandler {
 public:
  void OnConnect(GrpcConnId, const std::string& peer_ip, uint16_t peer_port) override {
    FUZZ_CHECK(!connected, "OnConnect twice");
    FUZZ_CHECK(peer_ip == "10.0.0.9" && peer_port == 4242, "peer");
    connected = true;
  }
  GrpcMessage OnUnary(GrpcConnId, const GrpcMessage& request) override {
    FUZZ_CHECK(connected, "a call before OnConnect");
    GrpcMessage answer = request;
    answer.type += "Response";
    return answer;
  }
  void OnStreamMessage(GrpcConnId, const GrpcMessage&) override {
    FUZZ_CHECK(connected, "a stream message before OnConnect");
  }
  void OnDisconnect(GrpcConnId) override { FUZZ_CHECK(false, "the connection never calls this"); }

  bool connected = false;
};

std::string_view Part(std::string_view s, size_t at, size_t n) {
  return at < s.size() ? s.substr(at, n) : std::string_view();
}

void CheckFrameRoundTrip(std::string_view input) {
  GrpcMessage message;
  message.type = std::string(input.substr(0, 16));
  message.client_ip = "10.0.0.9";
  message.headers[std::string(Part(input, 0, 8))] = std::string(Part(input, 8, 8));
  message.body = std::string(input);
  const auto frame = EncodeGrpcFrame(message);
  FUZZ_CHECK(frame->size() >= 5 && (*frame)[0] == 0, "prefix");
  GrpcMessage back;
  const bool decoded = DecodeGrpcPayload(std::string_view(*frame).substr(5), &back);
  if (!IsValidUtf8(Part(input, 0, 16)) || !IsValidUtf8(Part(input, 0, 8)) ||
      !IsValidUtf8(Part(input, 8, 8))) {
    return;
  }
  FUZZ_CHECK(decoded, "decode own frame");
  FUZZ_CHECK(back.type == message.type && back.client_ip == message.client_ip &&
                 back.headers == message.headers && back.body == message.body,
             "round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dubbo::fuzz::SilenceLogs();
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (input.size() <= 4096) CheckFrameRoundTrip(input);
  if ((control & 1) != 0) input.insert(0, kPreface);
  const size_t chunk = kChunkSizes[(control >> 1) & 7];
  const bool push = (control & 0x10) != 0;
  const bool goaway = (control & 0x20) != 0;

  GrpcLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_buffered_input_bytes = 8192;
  limits.max_concurrent_streams = 8;
  limits.max_header_list_bytes = 1024;
  limits.max_output_bytes = 1 << 20;
  CheckingHandler handler;
  GrpcConnection connection(7, "10.0.0.9", 4242, limits, &handler, nullptr);
  FUZZ_CHECK(connection.Init().ok(), "init");
  GrpcMessage message;
  message.type = "NotifySubscriberRequest";
  message.body = std::string(1000, 'n');
  const auto frame = EncodeGrpcFrame(message);

  for (size_t at = 0; at < input.size(); at += chunk) {
    const size_t n = std::min(chunk, input.size() - at);
    if (!connection.Feed(reinterpret_cast<const uint8_t*>(input.data()) + at, n)) break;
    FUZZ_CHECK(connection.buffered_input_bytes() <= limits.max_buffered_input_bytes,
               "input buffered: %zu", connection.buffered_input_bytes());
    if (push) connection.SendOnStream(frame);
    if (goaway && at <= input.size() / 2 && at + n > input.size() / 2) connection.GoAway();
    for (std::string_view out = connection.PendingOutput(); !out.empty();
         out = connection.PendingOutput()) {
      connection.Consume(out.size() > 7 ? out.size() - 7 : out.size());  // partial writes too
    }
    FUZZ_CHECK(connection.PendingOutput().empty(), "output left after a drain");
    FUZZ_CHECK(connection.queued_bytes() <= limits.max_output_bytes, "output queued: %zu",
               connection.queued_bytes());
    if (connection.over_output_cap() || connection.done()) break;
  }
  return 0;
}
