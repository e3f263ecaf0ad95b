// libFuzzer target for the naming client's gRPC connection (grpc_client_connection.h): the input
// is what a server sends on the TCP connection, fed through nghttp2's client session, the gRPC
// framing and the Payload decoding, with a unary call (stream 1) and the bi-stream (stream 3)
// open. Small limits, so that the caps are reached.
//
// The first byte steers the run: bit 0 prepends a valid server preface (an empty SETTINGS frame
// and the ACK of ours), bits 1-3 choose the chunk size the rest is fed in, bit 4 starts a second
// unary call halfway, bit 5 cancels the first call halfway, bit 6 sends a stream message after
// each chunk. After each chunk the output is drained.
//
// Beyond "no crash, no sanitizer report" it checks, for every input:
//   * every call gets at most one event, only calls that were started and not cancelled get one,
//     and pending_calls() counts the rest;
//   * buffered inbound message bytes never pass max_buffered_input_bytes;
//   * after a drain nothing is left in PendingOutput(), and queued output never passes
//     max_output_bytes;
//   * once failure() is set it stays, and nothing more is accepted or reported.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "grpc_client_connection.h"

namespace {

using dubbo::registry::nacos::GrpcClientConnection;
using dubbo::registry::nacos::GrpcClientEvent;
using dubbo::registry::nacos::GrpcClientLimits;
using dubbo::registry::nacos::GrpcMessage;

constexpr std::string_view kServerPreface("\0\0\0\x04\0\0\0\0\0\0\0\0\x04\x01\0\0\0\0", 18);
constexpr size_t kChunkSizes[8] = {1, 3, 9, 17, 64, 512, 4096, size_t{1} << 20};

GrpcMessage Message(const char* type) {
  GrpcMessage m;
  m.type = type;
  m.body = "{}";
  return m;
}

void Drain(GrpcClientConnection* c, const GrpcClientLimits& limits) {
  for (std::string_view out = c->PendingOutput(); !out.empty(); out = c->PendingOutput()) {
    c->Consume(out.size() > 7 ? out.size() - 7 : out.size());  // partial writes too
  }
  FUZZ_CHECK(c->PendingOutput().empty() || !c->failure().ok(), "output left after a drain");
  FUZZ_CHECK(c->queued_bytes() <= limits.max_output_bytes, "output queued: %zu", c->queued_bytes());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dubbo::fuzz::SilenceLogs();
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((control & 1) != 0) input.insert(0, kServerPreface);
  const size_t chunk = kChunkSizes[(control >> 1) & 7];
  const bool second_call = (control & 0x10) != 0;
  const bool cancel = (control & 0x20) != 0;
  const bool stream_messages = (control & 0x40) != 0;

  GrpcClientLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_buffered_input_bytes = 8192;
  limits.max_header_list_bytes = 1024;
  limits.max_output_bytes = 1 << 20;
  GrpcClientConnection c(limits, "10.0.0.7:9848");
  FUZZ_CHECK(c.Init().ok(), "init");
  std::set<int32_t> pending;  // started, neither answered nor cancelled
  std::set<int32_t> finished;
  auto first = c.StartUnary(Message("ServerCheckRequest"));
  FUZZ_CHECK(first.ok(), "first call");
  pending.insert(*first);
  FUZZ_CHECK(c.SendOnStream(Message("ConnectionSetupRequest")).ok(), "stream");
  Drain(&c, limits);

  for (size_t at = 0; at < input.size(); at += chunk) {
    const size_t n = std::min(chunk, input.size() - at);
    const bool halfway = at <= input.size() / 2 && at + n > input.size() / 2;
    const bool ok = c.Feed(reinterpret_cast<const uint8_t*>(input.data()) + at, n).ok();
    FUZZ_CHECK(ok == c.failure().ok(), "Feed() reports failure()");
    FUZZ_CHECK(c.buffered_input_bytes() <= limits.max_buffered_input_bytes, "input buffered: %zu",
               c.buffered_input_bytes());
    for (const GrpcClientEvent& e : c.TakeEvents()) {
      if (e.kind != GrpcClientEvent::kUnaryDone) continue;
      FUZZ_CHECK(pending.erase(e.call) == 1, "an event for call %d, not pending", e.call);
      finished.insert(e.call);
    }
    FUZZ_CHECK(c.pending_calls() == pending.size(), "pending %zu, expected %zu", c.pending_calls(),
               pending.size());
    if (!ok) {
      FUZZ_CHECK(!c.Feed(reinterpret_cast<const uint8_t*>(input.data()), 1).ok(), "failure stays");
      FUZZ_CHECK(c.TakeEvents().empty(), "events after the failure");
      FUZZ_CHECK(!c.StartUnary(Message("Q")).ok(), "a call after the failure");
      break;
    }
    if (halfway && cancel && pending.count(*first) == 1) {
      c.CancelUnary(*first);
      pending.erase(*first);
    }
    if (halfway && second_call) {
      auto second = c.StartUnary(Message("HealthCheckRequest"));
      if (second.ok()) pending.insert(*second);
    }
    if (stream_messages) c.SendOnStream(Message("ClientDetectionResponse")).IgnoreError();
    Drain(&c, limits);
  }
  return 0;
}
