#include "grpc_payload.h"

#include <cstdint>
#include <utility>

#include "internal/utf8.h"

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

// Payload's wire form, read by hand with libprotobuf's rules for this proto3 schema, so that what
// a protobuf peer (Java or C++) accepts decodes to the same fields here and nothing else decodes:
//   * fields come in any order. A string field seen twice keeps its last value; a message field
//     seen twice (metadata, body) is merged; a map entry whose key was seen replaces its value; a
//     map entry without key or value has "" there;
//   * a field of an unknown number, or of a known number with another wire type, is skipped, a
//     group too (a start group closed by the end group of the same number; a message or group
//     inside another takes one of the 100 levels of libprotobuf's recursion limit);
//   * every string field (Metadata.type, Metadata.clientIp, the map's keys and values,
//     Any.type_url) must be UTF-8; Any.value is bytes;
//   * malformed: field number 0, wire types 6 and 7, an end group that closes no group, a tag
//     longer than 5 bytes, a length longer than 5 bytes or above INT32_MAX, a varint longer than
//     10 bytes, anything running past the end of the message that holds it.
// Tags are 32-bit: the bits of a 5-byte tag beyond them are dropped, as libprotobuf does.
constexpr uint32_t Tag(uint32_t field, uint32_t wire_type) { return field << 3 | wire_type; }
constexpr uint32_t kDelimited = 2;
constexpr uint32_t kPayloadMetadata = Tag(2, kDelimited);
constexpr uint32_t kPayloadBody = Tag(3, kDelimited);
constexpr uint32_t kMetadataType = Tag(3, kDelimited);
constexpr uint32_t kMetadataHeader = Tag(7, kDelimited);
constexpr uint32_t kMetadataClientIp = Tag(8, kDelimited);
constexpr uint32_t kEntryKey = Tag(1, kDelimited);
constexpr uint32_t kEntryValue = Tag(2, kDelimited);
constexpr uint32_t kAnyTypeUrl = Tag(1, kDelimited);
constexpr uint32_t kAnyValue = Tag(2, kDelimited);

// Levels of nesting left to the groups skipped at each level of the schema.
constexpr int kRecursionLimit = 100;
constexpr int kPayloadDepth = kRecursionLimit;       // the top-level message takes none
constexpr int kMetadataDepth = kRecursionLimit - 1;  // Metadata and Any
constexpr int kEntryDepth = kRecursionLimit - 2;     // a map entry, inside Metadata

// One message's bytes, read front to back.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : at_(bytes.data()), end_(at_ + bytes.size()) {}

  bool AtEnd() const { return at_ == end_; }

  bool ReadTag(uint32_t* tag) {
    uint32_t value = 0;
    for (int i = 0; i < 5; ++i) {
      if (at_ == end_) return false;
      const auto byte = static_cast<uint8_t>(*at_++);
      value |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);  // unsigned: high bits dropped
      if (byte < 0x80) {
        *tag = value;
        return true;
      }
    }
    return false;
  }

  // A length-delimited field's bytes, after its tag.
  bool ReadDelimited(std::string_view* bytes) {
    uint32_t length = 0;
    for (int i = 0;; ++i) {
      if (at_ == end_) return false;
      const auto byte = static_cast<uint8_t>(*at_++);
      if (i == 4 && byte >= 8) return false;  // 2^31 or more
      length |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) break;
    }
    if (length > static_cast<size_t>(end_ - at_)) return false;
    *bytes = std::string_view(at_, length);
    at_ += length;
    return true;
  }

  // A string field's bytes, after its tag: UTF-8 or false.
  bool ReadText(std::string_view* text) {
    return ReadDelimited(text) && dubbo::registry::internal::IsValidUtf8(*text);
  }

  // Skips the field whose tag was just read, and when it starts a group, everything up to the end
  // group that closes it; at most `depth` groups open at once.
  bool SkipField(uint32_t tag, int depth) {
    uint32_t open[kRecursionLimit];  // field numbers of the open groups, innermost last
    int open_count = 0;
    std::string_view ignored;
    for (;;) {
      const uint32_t field = tag >> 3;
      if (field == 0) return false;
      switch (tag & 7) {
        case 0:
          if (!SkipVarint()) return false;
          break;
        case 1:
          if (!Skip(8)) return false;
          break;
        case 2:
          if (!ReadDelimited(&ignored)) return false;
          break;
        case 3:
          if (open_count == depth) return false;
          open[open_count++] = field;
          break;
        case 4:
          if (open_count == 0 || open[open_count - 1] != field) return false;
          --open_count;
          break;
        case 5:
          if (!Skip(4)) return false;
          break;
        default:
          return false;
      }
      if (open_count == 0) return true;
      if (!ReadTag(&tag)) return false;
    }
  }

 private:
  bool SkipVarint() {
    for (int i = 0; i < 10; ++i) {
      if (at_ == end_) return false;
      if (static_cast<uint8_t>(*at_++) < 0x80) return true;
    }
    return false;
  }

  bool Skip(size_t n) {
    if (n > static_cast<size_t>(end_ - at_)) return false;
    at_ += n;
    return true;
  }

  const char* at_;
  const char* end_;
};

// What a Payload holds, the strings still in the input: repeated fields cost no copies.
struct PayloadFields {
  std::string_view type;
  std::string_view client_ip;
  std::map<std::string, std::string> headers;
  std::string_view body;
};

// Calls read(tag, &reader) for each field of the message `bytes`, to read or skip the field's
// value; false at the first tag or value that is malformed.
template <typename ReadField>
bool ForEachField(std::string_view bytes, ReadField read) {
  WireReader reader(bytes);
  while (!reader.AtEnd()) {
    uint32_t tag = 0;
    if (!reader.ReadTag(&tag) || !read(tag, &reader)) return false;
  }
  return true;
}

bool DecodeHeader(std::string_view bytes, std::map<std::string, std::string>* headers) {
  std::string_view key;
  std::string_view value;
  const bool ok = ForEachField(bytes, [&](uint32_t tag, WireReader* reader) {
    return tag == kEntryKey     ? reader->ReadText(&key)
           : tag == kEntryValue ? reader->ReadText(&value)
                                : reader->SkipField(tag, kEntryDepth);
  });
  if (!ok) return false;
  (*headers)[std::string(key)].assign(value.data(), value.size());
  return true;
}

bool DecodeMetadata(std::string_view bytes, PayloadFields* fields) {
  return ForEachField(bytes, [fields](uint32_t tag, WireReader* reader) {
    std::string_view entry;
    switch (tag) {
      case kMetadataType:
        return reader->ReadText(&fields->type);
      case kMetadataClientIp:
        return reader->ReadText(&fields->client_ip);
      case kMetadataHeader:
        return reader->ReadDelimited(&entry) && DecodeHeader(entry, &fields->headers);
      default:
        return reader->SkipField(tag, kMetadataDepth);
    }
  });
}

bool DecodeAny(std::string_view bytes, PayloadFields* fields) {
  std::string_view type_url;  // unused by every receiver, but a string field all the same
  return ForEachField(bytes, [&](uint32_t tag, WireReader* reader) {
    return tag == kAnyTypeUrl ? reader->ReadText(&type_url)
           : tag == kAnyValue ? reader->ReadDelimited(&fields->body)
                              : reader->SkipField(tag, kMetadataDepth);
  });
}

bool DecodePayload(std::string_view bytes, PayloadFields* fields) {
  return ForEachField(bytes, [fields](uint32_t tag, WireReader* reader) {
    std::string_view message;
    return tag == kPayloadMetadata
               ? reader->ReadDelimited(&message) && DecodeMetadata(message, fields)
           : tag == kPayloadBody ? reader->ReadDelimited(&message) && DecodeAny(message, fields)
                                 : reader->SkipField(tag, kPayloadDepth);
  });
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
  PayloadFields fields;
  if (!DecodePayload(bytes, &fields)) return false;
  out->type.assign(fields.type.data(), fields.type.size());
  out->client_ip.assign(fields.client_ip.data(), fields.client_ip.size());
  out->headers = std::move(fields.headers);
  out->body.assign(fields.body.data(), fields.body.size());
  return true;
}

}  // namespace dubbo::nacos_wire
