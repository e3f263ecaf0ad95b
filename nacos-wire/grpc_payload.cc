#include "grpc_payload.h"

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <utility>

#include "nacos_grpc_service.pb.h"

namespace dubbo::nacos_wire {
namespace {

constexpr size_t kFramePrefix = 5;  // compressed flag + 4-byte big-endian length

// Payload's wire form, written by hand: one allocation and one copy of the body per frame. The
// fields go in field-number order, as protobuf writes them: Payload{metadata = 2, body = 3},
// Metadata{type = 3, headers = 7 (entries {key = 1, value = 2}), clientIp = 8}, Any{value = 2}.
// Empty strings are left out (proto3), metadata and body are always present.
size_t VarintSize(size_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// A length-delimited field numbered below 16 (a one-byte tag).
size_t FieldSize(size_t length) { return 1 + VarintSize(length) + length; }

void PutHeader(int field, size_t length, std::string* out) {
  out->push_back(static_cast<char>(field << 3 | 2));
  for (; length >= 0x80; length >>= 7) out->push_back(static_cast<char>(length | 0x80));
  out->push_back(static_cast<char>(length));
}

void PutString(int field, std::string_view value, std::string* out) {
  if (value.empty()) return;
  PutHeader(field, value.size(), out);
  out->append(value);
}

}  // namespace

std::shared_ptr<const std::string> EncodeGrpcFrame(const GrpcMessage& message) {
  const auto optional = [](std::string_view s) { return s.empty() ? 0 : FieldSize(s.size()); };
  size_t metadata = optional(message.type) + optional(message.client_ip);
  for (const auto& [key, value] : message.headers) {
    metadata += FieldSize(FieldSize(key.size()) + FieldSize(value.size()));
  }
  const size_t any = optional(message.body);
  const size_t payload = FieldSize(metadata) + FieldSize(any);
  auto frame = std::make_shared<std::string>();
  frame->reserve(kFramePrefix + payload);
  frame->push_back('\0');
  for (int i = 0; i < 4; ++i) frame->push_back(static_cast<char>(payload >> (24 - 8 * i) & 0xff));
  PutHeader(2, metadata, frame.get());
  PutString(3, message.type, frame.get());
  for (const auto& [key, value] : message.headers) {
    PutHeader(7, FieldSize(key.size()) + FieldSize(value.size()), frame.get());
    PutHeader(1, key.size(), frame.get());
    frame->append(key);
    PutHeader(2, value.size(), frame.get());
    frame->append(value);
  }
  PutString(8, message.client_ip, frame.get());
  PutHeader(3, any, frame.get());
  PutString(2, message.body, frame.get());
  return frame;
}

bool DecodeGrpcPayload(std::string_view bytes, GrpcMessage* out) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) return false;
  Payload payload;
  {
    // A text field that is not UTF-8 fails the parse (as in Nacos's Java peers); protobuf would
    // also log it, at a rate a client chooses: dropped.
    const google::protobuf::LogSilencer quiet;
    if (!payload.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  }
  Metadata* metadata = payload.mutable_metadata();
  out->type = std::move(*metadata->mutable_type());
  out->client_ip = std::move(*metadata->mutable_clientip());
  out->headers.clear();
  for (const auto& [key, value] : metadata->headers()) out->headers.emplace(key, value);
  out->body = std::move(*payload.mutable_body()->mutable_value());
  return true;
}

}  // namespace dubbo::nacos_wire
