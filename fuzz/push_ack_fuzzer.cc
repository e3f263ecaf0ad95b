// libFuzzer target for the UDP push channel's receive side and wire helpers (push_service.h):
// ParsePushAck, Gunzip/Gzip, EncodePushPacketJson/BuildPushPacket/ParsePushPacket and
// PushService::OnDatagram.
//
// Beyond "no crash, no sanitizer report" it checks properties that must hold for every input:
//   * whatever id ParsePushAck accepts, BuildPushAck(id) (quoted and bare) parses back to it;
//   * Gunzip's output respects its cap, and Gzip(Gunzip(x)) gunzips back to the same bytes;
//   * the input as a push packet's `data` survives encoding: the packet parses back (after
//     gunzip when compressed) to type "dom", the same data and the same lastRefTime;
//   * the input as a received packet: decoding never crashes, and what decodes re-encodes;
//   * OnDatagram on a service with one outstanding push: only a well-formed push-ack counts as
//     an ack, at most one ack matches, the counters add up, and the timers then run cleanly.
//
// The push id of the first push on a fresh ManualScheduler is 86400000000000 (the scheduler
// starts at 24 h, ids are monotonic nanoseconds), so seeds can contain acks that match.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "fuzz_check.h"
#include "push_service.h"

namespace {

using dubbo::naming_server::BuildPushAck;
using dubbo::naming_server::BuildPushPacket;
using dubbo::naming_server::DatagramResult;
using dubbo::naming_server::EncodePushPacketJson;
using dubbo::naming_server::Gunzip;
using dubbo::naming_server::Gzip;
using dubbo::naming_server::kMaxAckBytes;
using dubbo::naming_server::LooksGzipped;
using dubbo::naming_server::ParsePushAck;
using dubbo::naming_server::ParsePushPacket;
using dubbo::naming_server::PushService;
using dubbo::naming_server::PushServiceOptions;
using dubbo::naming_server::PushStyle;
using dubbo::naming_server::UdpEndpoint;
using dubbo::naming_server::UdpSender;

class NullSender : public UdpSender {
 public:
  void Send(const UdpEndpoint&, std::string_view) override { ++sent; }
  int sent = 0;
};

void CheckAckParsing(std::string_view input) {
  auto id = ParsePushAck(input);
  if (id.ok()) {
    FUZZ_CHECK(ParsePushAck(BuildPushAck(*id, true)).value_or(~*id) == *id, "quoted round trip");
    FUZZ_CHECK(ParsePushAck(BuildPushAck(*id, false)).value_or(~*id) == *id, "bare round trip");
  }
}

void CheckGunzip(std::string_view input) {
  auto out = Gunzip(input, kMaxAckBytes);
  if (!out.ok()) return;
  FUZZ_CHECK(LooksGzipped(input), "gunzipped something without the magic");
  FUZZ_CHECK(out->size() <= kMaxAckBytes, "cap exceeded: %zu", out->size());
  auto again = Gzip(*out);
  FUZZ_CHECK(again.ok(), "gzip failed");
  auto back = Gunzip(*again, kMaxAckBytes);
  FUZZ_CHECK(back.ok() && *back == *out, "gzip round trip");
  CheckAckParsing(*out);
}

void CheckPacketEncoding(std::string_view data) {
  const int64_t id = static_cast<int64_t>(data.size()) * 7919 + 1;
  auto packet = BuildPushPacket(data, id);
  FUZZ_CHECK(packet.ok(), "small data must fit: %zu bytes", data.size());
  std::string json = *packet;
  if (LooksGzipped(json)) {
    FUZZ_CHECK(EncodePushPacketJson(data, id).size() >= 1024, "gzipped below the threshold");
    auto unzipped = Gunzip(json, 1 << 24);
    FUZZ_CHECK(unzipped.ok(), "own packet does not gunzip");
    json = *unzipped;
  }
  FUZZ_CHECK(json == EncodePushPacketJson(data, id), "packet is not the encoded JSON");
  auto decoded = ParsePushPacket(*packet);
  FUZZ_CHECK(decoded.ok(), "own packet does not parse");
  FUZZ_CHECK(decoded->type == "dom", "type");
  FUZZ_CHECK(decoded->data == data, "data does not round-trip");
  FUZZ_CHECK(decoded->last_ref_time == id, "lastRefTime");
  FUZZ_CHECK(decoded->gzipped == LooksGzipped(*packet), "gzipped flag");
}

// Decoding arbitrary input as a packet (client side) never crashes; what it accepts re-encodes.
void CheckPacketDecoding(std::string_view input) {
  auto decoded = ParsePushPacket(input, 1 << 20);
  if (!decoded.ok()) return;
  FUZZ_CHECK(decoded->data.size() <= (1 << 20), "cap");
  auto again =
      ParsePushPacket(EncodePushPacketJson(decoded->data, decoded->last_ref_time), 1 << 21);
  FUZZ_CHECK(
      again.ok() && again->data == decoded->data && again->last_ref_time == decoded->last_ref_time,
      "re-encoding");
}

void CheckOnDatagram(std::string_view input) {
  dubbo::registry::ManualScheduler sched;
  NullSender sender;
  PushServiceOptions options;
  options.scheduler = &sched;
  options.sender = &sender;
  options.data_provider = [](const std::string&, const std::string&, const std::string&,
                             PushStyle) {
    return std::make_shared<const std::string>(R"({"hosts":[],"name":"DEFAULT_GROUP@@demo"})");
  };
  auto created = PushService::Create(options);
  FUZZ_CHECK(created.ok(), "create");
  std::unique_ptr<PushService> push = std::move(created).value();
  const UdpEndpoint client{"10.0.0.9", 55963};
  FUZZ_CHECK(push->Subscribe("public", "DEFAULT_GROUP@@demo", "", client, "fuzz").ok(),
             "subscribe");
  FUZZ_CHECK(push->pending_ack_count() == 1, "one outstanding push");

  const DatagramResult first = push->OnDatagram(client, input);
  const DatagramResult second = push->OnDatagram(client, input);
  const bool well_formed =
      input.size() <= kMaxAckBytes &&
      (LooksGzipped(input)
           ? Gunzip(input, kMaxAckBytes).ok() && ParsePushAck(*Gunzip(input, kMaxAckBytes)).ok()
           : ParsePushAck(input).ok());
  FUZZ_CHECK((first != DatagramResult::kIgnored) == well_formed, "classification");
  FUZZ_CHECK(second != DatagramResult::kAckMatched, "matched twice");
  const auto stats = push->stats();
  FUZZ_CHECK(stats.acks_matched + stats.acks_unmatched + stats.datagrams_ignored == 2, "counters");
  FUZZ_CHECK(stats.pending_acks == (first == DatagramResult::kAckMatched ? 0u : 1u), "pending");

  sched.AdvanceBy(std::chrono::seconds(40));
  FUZZ_CHECK(push->pending_ack_count() == 0 && push->subscriber_count() == 0, "timers");
  FUZZ_CHECK(sender.sent == (first == DatagramResult::kAckMatched ? 1 : 2), "sends: %d",
             sender.sent);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    dubbo::registry::SetMinLogSeverity(dubbo::registry::LogSeverity::kError);
    return true;
  }();
  (void)quiet;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckAckParsing(input);
  CheckGunzip(input);
  if (size <= 4096) CheckPacketEncoding(input);
  CheckPacketDecoding(input);
  CheckOnDatagram(input);
  return 0;
}
