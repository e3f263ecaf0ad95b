// nacos-wire: the Nacos UDP push channel's packet codec: gzip, the server -> client push packet and the client -> server ack. Shared by the naming
// server (which builds packets and parses acks) and the naming client (which parses packets and
// builds acks), so both sides agree byte for byte. Internal: not installed.
//
// Every parser takes hostile input (datagrams from anywhere): sizes and nesting are capped, and
// anything malformed is kInvalidArgument, never a crash.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef DUBBO_NACOS_WIRE_PUSH_CODEC_H_
#define DUBBO_NACOS_WIRE_PUSH_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dubbo/registry/result.h"

namespace dubbo::nacos_wire {

using registry::Result;


// A packet whose JSON is at least this long is gzipped as a whole.
inline constexpr size_t kGzipThreshold = 1024;
// The largest UDP payload over IPv4 (65535 - 8 - 20). Bigger datagrams are not sent.
inline constexpr size_t kMaxUdpPayload = 65507;
// Acks (and gunzipped acks) larger than this are rejected.
inline constexpr size_t kMaxAckBytes = 65536;
// JSON nesting deeper than this makes an ack malformed (a real ack has depth 1).
inline constexpr int kMaxAckNesting = 16;

// True if `bytes` starts with the gzip magic 1f 8b.
bool LooksGzipped(std::string_view bytes);

// A complete gzip stream (header 1f 8b, deflate, CRC-32 trailer) of `data`. kInternal only if zlib
// fails (out of memory).
Result<std::string> Gzip(std::string_view data);

// Decompresses exactly one gzip member. kInvalidArgument for anything else (not gzip, corrupt,
// truncated, trailing bytes) or when the output would exceed `max_output` bytes.
Result<std::string> Gunzip(std::string_view gz, size_t max_output);

// The uncompressed packet JSON: {"type":"dom","data":"<data as a JSON string>","lastRefTime":<id>}.
// `data` is escaped by rapidjson::Writer (quotes, backslashes and control characters; other bytes
// are copied as they are).
std::string EncodePushPacketJson(std::string_view data, int64_t last_ref_time);

// The datagram for a push: EncodePushPacketJson(), gzipped when it is >= kGzipThreshold bytes.
// kInvalidArgument if the result exceeds kMaxUdpPayload (the caller logs and skips it).
Result<std::string> BuildPushPacket(std::string_view data, int64_t last_ref_time);

// The ack a Java client sends: {"type": "push-ack", "lastRefTime":"<id>", "data":""} (quoted id),
// or with a bare number when !quoted.
std::string BuildPushAck(int64_t last_ref_time, bool quoted = true);

// Parses an uncompressed ack: a JSON object with "type":"push-ack" and "lastRefTime" as a JSON
// integer or a string of decimal digits (optionally '-'), within int64. Other members are ignored;
// the last of duplicate members wins. kInvalidArgument for anything else, including other types,
// inputs above kMaxAckBytes and nesting deeper than kMaxAckNesting. Recursion is bounded by that
// cap.
Result<int64_t> ParsePushAck(std::string_view json);

// A decoded server -> client packet (what a client's PushReceiver sees).
struct PushPacket {
  std::string type;  // "dom" from servers; clients also accept "service" and "dump".
  std::string data;  // The service JSON.
  int64_t last_ref_time = 0;
  bool gzipped = false;  // The datagram was gzip-compressed.
};

// Decodes a push datagram as the Java PushReceiver does: gunzip when it starts with 1f 8b (output
// capped at `max_json_bytes`), then a JSON object with string "type" and "data" and an integer (or
// quoted integer) "lastRefTime". Same caps and rules as ParsePushAck otherwise. kInvalidArgument on
// anything else.
Result<PushPacket> ParsePushPacket(std::string_view datagram,
                                             size_t max_json_bytes = size_t{8} << 20);

}  // namespace dubbo::nacos_wire

#endif  // DUBBO_NACOS_WIRE_PUSH_CODEC_H_
