// DecodeGrpcPayload() against libprotobuf's generated parser for the same schema
// (nacos-wire/proto/nacos_grpc_service.proto): both must accept the same byte strings and, when
// they do, read the same fields. Random inputs come from a fixed-seed generator, so every run sees
// the same cases.
#include "grpc_payload.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "nacos_grpc_service.pb.h"

namespace dubbo::nacos_wire {
namespace {

// The fields in one line, bytes outside printable ASCII escaped, for readable comparisons.
std::string Describe(const GrpcMessage& m) {
  const auto escape = [](std::string_view s) {
    std::string out;
    for (const char c : s) {
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        out.push_back(c);
      } else {
        constexpr char kHex[] = "0123456789abcdef";
        out += "\\x";
        out.push_back(kHex[static_cast<uint8_t>(c) >> 4]);
        out.push_back(kHex[static_cast<uint8_t>(c) & 15]);
      }
    }
    return out;
  };
  std::string out = "type=" + escape(m.type) + " ip=" + escape(m.client_ip) + " headers={";
  for (const auto& [key, value] : m.headers) out += escape(key) + ":" + escape(value) + ",";
  return out + "} body=" + escape(m.body);
}

GrpcMessage FromProtobuf(const Payload& payload) {
  GrpcMessage m;
  m.type = payload.metadata().type();
  m.client_ip = payload.metadata().clientip();
  for (const auto& [key, value] : payload.metadata().headers()) m.headers[key] = value;
  m.body = payload.body().value();
  return m;
}

// What DecodeGrpcPayload() starts from: a success replaces all of it, a failure leaves it.
GrpcMessage Previous() { return GrpcMessage{"OldType", "1.1.1.1", {{"old", "x"}}, "old body"}; }

// Decodes `bytes` with both parsers and checks they agree. Returns whether protobuf accepted it.
bool DecodesLikeProtobuf(const std::string& bytes) {
  Payload payload;
  bool protobuf_ok = false;
  {
    const google::protobuf::LogSilencer quiet;  // protobuf logs every non-UTF-8 string field
    protobuf_ok = payload.ParseFromString(bytes);
  }
  GrpcMessage ours = Previous();
  const bool ok = DecodeGrpcPayload(bytes, &ours);
  const std::string input = Describe(GrpcMessage{"", "", {}, bytes});
  EXPECT_EQ(ok, protobuf_ok) << "input " << input;
  if (ok && protobuf_ok) {
    EXPECT_EQ(Describe(ours), Describe(FromProtobuf(payload))) << "input " << input;
  } else if (!ok) {
    EXPECT_EQ(Describe(ours), Describe(Previous())) << "input " << input;
  }
  return protobuf_ok;
}

// Wire form by hand. A varint of `total` bytes (at least its minimal size: the extra bytes are
// the overlong form); `top` is or-ed into the last byte, where it lands beyond a tag's 32 bits or
// a varint's 64.
std::string Varint(uint64_t value, int total = 0, uint8_t top = 0) {
  int minimal = 1;
  for (uint64_t v = value; v >= 0x80; v >>= 7) ++minimal;
  if (total < minimal) total = minimal;
  std::string out;
  for (int i = 0; i < total; ++i) {
    uint8_t byte = i < 10 ? static_cast<uint8_t>(value >> (7 * i) & 0x7f) : 0;
    byte |= i + 1 < total ? 0x80 : top;
    out.push_back(static_cast<char>(byte));
  }
  return out;
}
std::string Tag(uint32_t field, uint32_t wire_type) { return Varint(field << 3 | wire_type); }
std::string Delimited(uint32_t field, std::string_view bytes) {
  return Tag(field, 2) + Varint(bytes.size()) + std::string(bytes);
}
std::string Groups(uint32_t field, int depth, std::string_view inside = "") {
  std::string out;
  for (int i = 0; i < depth; ++i) out += Tag(field, 3);
  out += inside;
  for (int i = 0; i < depth; ++i) out += Tag(field, 4);
  return out;
}

// Payload{metadata = 2, body = 3}, Metadata{type = 3, headers = 7, clientIp = 8},
// entry{key = 1, value = 2}, Any{type_url = 1, value = 2}.
std::string MetadataOf(std::string_view fields) { return Delimited(2, fields); }
std::string BodyOf(std::string_view fields) { return Delimited(3, fields); }
std::string TypeOf(std::string_view s) { return Delimited(3, s); }
std::string ClientIpOf(std::string_view s) { return Delimited(8, s); }
std::string HeaderOf(std::string_view entry) { return Delimited(7, entry); }
std::string KeyOf(std::string_view s) { return Delimited(1, s); }
std::string ValueOf(std::string_view s) { return Delimited(2, s); }

GrpcMessage Decoded(const std::string& bytes) {
  GrpcMessage m;
  EXPECT_TRUE(DecodeGrpcPayload(bytes, &m));
  return m;
}

TEST(GrpcPayloadTest, EncodedFrameDecodesBack) {
  const std::vector<GrpcMessage> messages = {
      GrpcMessage{"InstanceRequest", "10.0.0.1", {{"accessToken", "t"}, {"", ""}}, "{}"},
      GrpcMessage{"Ünïcødé 中文 😀", "::1", {{"ключ", "значение"}}, std::string("a\0b", 3)},
      GrpcMessage{"", "", {}, std::string(70000, 'c')},
      GrpcMessage{},
  };
  for (const GrpcMessage& message : messages) {
    const std::string frame = *EncodeGrpcFrame(message);
    ASSERT_GE(frame.size(), 5u);
    GrpcMessage back = Previous();
    ASSERT_TRUE(DecodeGrpcPayload(std::string_view(frame).substr(5), &back));
    EXPECT_EQ(Describe(back), Describe(message));
    DecodesLikeProtobuf(frame.substr(5));
  }
}

TEST(GrpcPayloadTest, TwoMetadataFieldsMergeAsInProtobuf) {
  const std::string bytes =
      MetadataOf(TypeOf("A") + HeaderOf(KeyOf("k") + ValueOf("1")) + ClientIpOf("10.0.0.1")) +
      BodyOf(ValueOf("first")) +
      MetadataOf(TypeOf("B") + HeaderOf(KeyOf("k") + ValueOf("2")) + HeaderOf(KeyOf("j"))) +
      BodyOf(Delimited(1, "type.googleapis.com/x"));
  const GrpcMessage m = Decoded(bytes);
  EXPECT_EQ(m.type, "B");
  EXPECT_EQ(m.client_ip, "10.0.0.1");  // not in the second Metadata: kept from the first
  EXPECT_EQ(m.headers, (std::map<std::string, std::string>{{"j", ""}, {"k", "2"}}));
  EXPECT_EQ(m.body, "first");
  EXPECT_TRUE(DecodesLikeProtobuf(bytes));
}

TEST(GrpcPayloadTest, MapEntryFieldsMayBeMissingRepeatedOrReversed) {
  const std::string bytes =
      MetadataOf(HeaderOf(KeyOf("no-value")) + HeaderOf(ValueOf("no key")) +
                 HeaderOf(ValueOf("v") + KeyOf("reversed")) +
                 HeaderOf(KeyOf("a") + KeyOf("twice") + ValueOf("1") + ValueOf("2")));
  EXPECT_EQ(Decoded(bytes).headers,
            (std::map<std::string, std::string>{
                {"", "no key"}, {"no-value", ""}, {"reversed", "v"}, {"twice", "2"}}));
  EXPECT_TRUE(DecodesLikeProtobuf(bytes));
}

TEST(GrpcPayloadTest, TextFieldsMustBeUtf8AndTheBodyNeedNot) {
  const std::string invalid = "\xc0\x80";  // an overlong NUL
  for (const std::string& bytes : {
           MetadataOf(HeaderOf(KeyOf(invalid) + ValueOf("v"))),
           MetadataOf(HeaderOf(KeyOf("k") + ValueOf(invalid))), MetadataOf(TypeOf(invalid)),
           MetadataOf(ClientIpOf(invalid)), BodyOf(Delimited(1, invalid)),
           MetadataOf(TypeOf(invalid) + TypeOf("ok")),  // a later value does not excuse it
       }) {
    GrpcMessage m = Previous();
    EXPECT_FALSE(DecodeGrpcPayload(bytes, &m));
    EXPECT_EQ(Describe(m), Describe(Previous()));
    EXPECT_FALSE(DecodesLikeProtobuf(bytes));
  }
  const std::string bytes = BodyOf(ValueOf(invalid + '\0'));
  EXPECT_EQ(Decoded(bytes).body, invalid + '\0');
  EXPECT_TRUE(DecodesLikeProtobuf(bytes));
  // Text for protobuf is text for us: the well-formed 1- to 4-byte forms pass.
  const std::string text =
      MetadataOf(TypeOf(std::string("\0\x7f\xc2\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf", 11)));
  EXPECT_EQ(Decoded(text).type.size(), 11u);
}

TEST(GrpcPayloadTest, UnknownFieldsAndKnownNumbersWithOtherWireTypesAreSkipped) {
  const std::string unknown = Varint(uint64_t{5} << 3 | 0) + Varint(UINT64_MAX) +  // varint
                              Tag(6, 1) + std::string(8, '\xff') +                 // 64-bit
                              Delimited(9, "skipped") +                            // bytes
                              Tag(10, 5) + std::string(4, '\0') +                  // 32-bit
                              Groups(11, 2, Tag(1, 0) + Varint(1));                // groups
  const std::string bytes =
      unknown +
      MetadataOf(unknown + TypeOf("T") + HeaderOf(unknown + KeyOf("k") + unknown) + unknown) +
      BodyOf(unknown + ValueOf("B") + unknown) + Tag(2, 0) + Varint(7) +    // metadata as a varint
      MetadataOf(Tag(3, 0) + Varint(1)) + Tag(3, 5) + std::string(4, 'x');  // type, body: not bytes
  const GrpcMessage m = Decoded(bytes);
  EXPECT_EQ(Describe(m), Describe(GrpcMessage{"T", "", {{"k", ""}}, "B"}));
  EXPECT_TRUE(DecodesLikeProtobuf(bytes));
}

TEST(GrpcPayloadTest, MalformedWireFails) {
  const std::string metadata = MetadataOf(TypeOf("T"));
  for (const std::string& bytes : {
           metadata.substr(0, metadata.size() - 1),   // truncated
           Tag(0, 2) + Varint(0),                     // field number 0
           Tag(7, 6), Tag(7, 7) + Varint(0),          // wire types 6 and 7
           Tag(7, 4),                                 // an end group that closes nothing
           Tag(7, 3) + Tag(8, 4),                     // a group closed by another number
           Tag(7, 3),                                 // a group left open
           Tag(7, 0) + Varint(1, 11),                 // an 11-byte varint
           Tag(7, 1) + "1234567",                     // 64 bits short of a byte
           Tag(7, 5) + "123",                         // 32 bits short of a byte
           Varint(26, 6) + Varint(0),                 // a 6-byte tag
           Tag(9, 2) + Varint(0, 6),                  // a 6-byte length
           Tag(9, 2) + Varint(uint64_t{1} << 31, 5),  // a length of 2^31
           MetadataOf(TypeOf("T")) + Tag(9, 2) + Varint(5) + "1234",  // a length past the end
           MetadataOf(HeaderOf(KeyOf("k")) + Tag(1, 2)),  // a field cut at its message's end
           MetadataOf(Tag(0, 0)),                         // a zero tag, inside a message too
       }) {
    GrpcMessage m = Previous();
    EXPECT_FALSE(DecodeGrpcPayload(bytes, &m)) << Describe(GrpcMessage{"", "", {}, bytes});
    EXPECT_FALSE(DecodesLikeProtobuf(bytes));
  }
  // The longest forms protobuf reads: a 10-byte varint (its last byte's bits beyond 64 dropped),
  // a 5-byte tag (beyond 32 dropped), a 5-byte length.
  for (const std::string& bytes : {
           Tag(7, 0) + Varint(1, 10, 0x7e),
           Varint(26, 5, 0x70) + Varint(0) + MetadataOf(Varint(26, 5) + Varint(1, 5) + "T"),
       }) {
    EXPECT_TRUE(DecodesLikeProtobuf(bytes));
  }
  EXPECT_EQ(
      Decoded(Varint(26, 5, 0x70) + Varint(0) + MetadataOf(Varint(26, 5) + Varint(1, 5) + "T"))
          .type,
      "T");
}

// A message or group inside another takes one of libprotobuf's 100 levels: groups may nest 100
// deep in Payload, 99 in Metadata and Any, 98 in a map entry.
TEST(GrpcPayloadTest, GroupsNestAsDeepAsProtobufAllows) {
  EXPECT_TRUE(DecodesLikeProtobuf(Groups(5, 100)));
  EXPECT_FALSE(DecodesLikeProtobuf(Groups(5, 101)));
  EXPECT_TRUE(DecodesLikeProtobuf(MetadataOf(Groups(5, 99))));
  EXPECT_FALSE(DecodesLikeProtobuf(MetadataOf(Groups(5, 100))));
  EXPECT_TRUE(DecodesLikeProtobuf(BodyOf(Groups(5, 99))));
  EXPECT_FALSE(DecodesLikeProtobuf(BodyOf(Groups(5, 100))));
  EXPECT_TRUE(DecodesLikeProtobuf(MetadataOf(HeaderOf(Groups(5, 98)))));
  EXPECT_FALSE(DecodesLikeProtobuf(MetadataOf(HeaderOf(Groups(5, 99)))));
  // Groups one after another do not add up.
  EXPECT_TRUE(DecodesLikeProtobuf(Groups(5, 100) + Groups(6, 100) + MetadataOf(TypeOf("T"))));
}

// Random inputs, from a fixed seed. std::mt19937 is specified bit for bit, and draws are taken
// modulo without std::uniform_int_distribution (whose output the standard leaves open).
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool OneIn(uint32_t n) { return Below(n) == 0; }

  // UTF-8 text of ASCII (NUL included) and 2-, 3- and 4-byte characters; when `hostile`, now and
  // then a sequence that is not UTF-8.
  std::string Text(bool hostile) {
    static constexpr std::string_view kPieces[] = {"a",
                                                   "Z",
                                                   "0",
                                                   ".",
                                                   ":",
                                                   "-",
                                                   std::string_view("\0", 1),
                                                   "\x7f",
                                                   "é",
                                                   "ß",
                                                   "中",
                                                   "文",
                                                   "\xef\xbf\xbf",
                                                   "😀",
                                                   "\xf4\x8f\xbf\xbf"};
    // Overlong forms, a surrogate, above U+10FFFF, a 5-byte form, a cut sequence, bytes UTF-8
    // never uses.
    static constexpr std::string_view kInvalid[] = {"\x80",
                                                    "\xc0\x80",
                                                    "\xc1\xbf",
                                                    "\xe0\x9f\xbf",
                                                    "\xed\xa0\x80",
                                                    "\xf4\x90\x80\x80",
                                                    "\xf8\x88\x80\x80\x80",
                                                    "\xe4\xb8",
                                                    "\xff",
                                                    "\xfe"};
    std::string out;
    const uint32_t n = OneIn(8) ? 0 : Below(OneIn(10) ? 200 : 12);
    for (uint32_t i = 0; i < n; ++i) {
      out += kPieces[Below(sizeof(kPieces) / sizeof(kPieces[0]))];
    }
    if (hostile && OneIn(25)) {
      out.insert(Below(static_cast<uint32_t>(out.size()) + 1),
                 kInvalid[Below(sizeof(kInvalid) / sizeof(kInvalid[0]))]);
    }
    return out;
  }

  std::string Bytes() {
    std::string out(OneIn(10) ? Below(20000) : Below(300), '\0');
    for (char& c : out) c = static_cast<char>(Below(4) == 0 ? 0 : Below(256));
    return out;
  }

  // A valid Payload built through protobuf's own API.
  Payload RandomPayload() {
    Payload p;
    if (!OneIn(10)) {
      ::Metadata* m = p.mutable_metadata();
      static const char* const kTypes[] = {"InstanceRequest", "ServerCheckRequest",
                                           "NotifySubscriberRequest", ""};
      m->set_type(OneIn(3) ? Text(false) : kTypes[Below(4)]);
      m->set_clientip(OneIn(3)   ? ""
                      : OneIn(2) ? "10.0.0." + std::to_string(Below(256))
                                 : "fe80::1");
      const uint32_t headers = Below(OneIn(10) ? 40 : 6);
      for (uint32_t i = 0; i < headers; ++i) (*m->mutable_headers())[Text(false)] = Text(false);
    }
    if (!OneIn(10)) {
      p.mutable_body()->set_value(Bytes());
      if (OneIn(5)) p.mutable_body()->set_type_url(Text(false));
    }
    return p;
  }

  // A byte string in Payload's wire form or close to it: known fields, repeated and out of order,
  // among unknown fields of every wire type, known numbers with other wire types, groups nested
  // around the depth limit, overlong and oversized varints, and now and then a malformed piece.
  std::string HostileMessage(int level, int budget) {
    std::string out;
    const uint32_t fields = Below(6);
    for (uint32_t i = 0; i < fields; ++i) {
      out += Below(10) < 6 ? KnownField(level, budget) : OtherField(level, budget);
    }
    return out;
  }

  // Random damage: a truncation, flipped, inserted or removed bytes.
  void Damage(std::string* bytes) {
    const uint32_t n = 1 + Below(3);
    for (uint32_t i = 0; i < n; ++i) {
      const auto at = static_cast<size_t>(Below(static_cast<uint32_t>(bytes->size()) + 1));
      switch (Below(4)) {
        case 0:
          bytes->resize(at);
          break;
        case 1:
          if (at < bytes->size()) (*bytes)[at] ^= static_cast<char>(1 + Below(255));
          break;
        case 2:
          bytes->insert(at, 1, static_cast<char>(Below(256)));
          break;
        default:
          if (at < bytes->size()) bytes->erase(at, 1);
      }
    }
  }

 private:
  enum Level { kPayload, kMetadata, kEntry, kAny };

  // A tag, overlong now and then (a 6-byte one is malformed), or with bits beyond 32 bits set.
  std::string TagOf(uint32_t field, uint32_t wire_type) {
    const uint32_t tag = field << 3 | wire_type;
    if (!OneIn(20)) return Varint(tag);
    const int total = 5 + (OneIn(4) ? 1 : 0);
    return Varint(tag, total, total == 5 ? static_cast<uint8_t>(Below(8) << 4) : 0);
  }

  // A length: mostly right, now and then overlong (5 or 6 bytes), off by one, or huge.
  std::string LengthOf(size_t n) {
    switch (Below(40)) {
      case 0:
        return Varint(n, 5 + static_cast<int>(Below(2)));
      case 1:
        return Varint(n + 1);
      case 2:
        return Varint(n == 0 ? 0 : n - 1);
      case 3:
        return Varint(uint64_t{1} << (28 + Below(8)));
      default:
        return Varint(n);
    }
  }

  std::string DelimitedOf(uint32_t field, std::string_view bytes) {
    return TagOf(field, 2) + LengthOf(bytes.size()) + std::string(bytes);
  }

  std::string KnownField(int level, int budget) {
    switch (level) {
      case kPayload:
        return OneIn(2) ? DelimitedOf(2, HostileMessage(kMetadata, budget - 1))
                        : DelimitedOf(3, HostileMessage(kAny, budget - 1));
      case kMetadata:
        switch (Below(3)) {
          case 0:
            return DelimitedOf(3, Text(true));
          case 1:
            return DelimitedOf(8, Text(true));
          default:
            return DelimitedOf(7, HostileMessage(kEntry, budget - 1));
        }
      case kEntry:
        return DelimitedOf(1 + Below(2), Text(true));
      default:
        return OneIn(3) ? DelimitedOf(1, Text(true)) : DelimitedOf(2, Bytes());
    }
  }

  // A field no parser keeps: an unknown number or a known one with another wire type.
  std::string OtherField(int level, int budget) {
    static const uint32_t kNumbers[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 2047, 2048, 536870911};
    const uint32_t field = kNumbers[Below(sizeof(kNumbers) / sizeof(kNumbers[0]))];
    if (OneIn(60)) return TagOf(0, Below(6)) + Varint(0);  // field number 0
    if (OneIn(60)) return TagOf(field, 6 + Below(2));      // wire types 6 and 7
    if (OneIn(60)) return TagOf(field, 4);                 // an end group that closes nothing
    uint32_t wire_type = Below(6);
    if (wire_type == 4) wire_type = 3;
    if (wire_type == 2 && IsKnown(level, field)) wire_type = 0;
    switch (wire_type) {
      case 0:
        return TagOf(field, 0) + Varint(Wide(), OneIn(20) ? 9 + static_cast<int>(Below(3)) : 0,
                                        OneIn(10) ? static_cast<uint8_t>(Below(128)) : 0);
      case 1:
        return TagOf(field, 1) + Fixed(8);
      case 2:
        return DelimitedOf(field, Bytes().substr(0, 40));
      case 3: {
        // Chains near the depth limit, now and then; otherwise a few fields, groups among them.
        const int depth = OneIn(30) ? budget - 2 + static_cast<int>(Below(4)) : 1;
        std::string inside;
        for (uint32_t i = Below(3); i > 0 && budget > 1; --i)
          inside += OtherField(level, budget - depth);
        std::string out;
        for (int i = 0; i < depth; ++i) out += TagOf(field, 3);
        out += inside;
        for (int i = 0; i < depth; ++i) out += TagOf(OneIn(40) ? field + 1 : field, 4);
        return out;
      }
      default:
        return TagOf(field, 5) + Fixed(4);
    }
  }

  static bool IsKnown(int level, uint32_t field) {
    switch (level) {
      case kPayload:
        return field == 2 || field == 3;
      case kMetadata:
        return field == 3 || field == 7 || field == 8;
      default:
        return field == 1 || field == 2;
    }
  }

  uint64_t Wide() { return static_cast<uint64_t>(rng_()) << Below(40) | rng_(); }

  std::string Fixed(size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(Below(256));
    return out;
  }

  std::mt19937 rng_;
};

TEST(GrpcPayloadTest, ProtobufSerializedPayloadsDecodeToProtobufsFields) {
  Generator gen(20261207);
  for (int i = 0; i < 2000 && !::testing::Test::HasFailure(); ++i) {
    const Payload payload = gen.RandomPayload();
    std::string bytes;
    ASSERT_TRUE(payload.SerializeToString(&bytes));
    GrpcMessage m = Previous();
    ASSERT_TRUE(DecodeGrpcPayload(bytes, &m)) << i;
    EXPECT_EQ(Describe(m), Describe(FromProtobuf(payload))) << i;
  }
}

// For every input: we accept iff protobuf does, with the same fields. Both outcomes must be
// common, or the comparison proves little.
TEST(GrpcPayloadTest, HostileInputsDecodeExactlyAsProtobufDoes) {
  Generator gen(7);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 6000 && !::testing::Test::HasFailure(); ++i) {
    std::string bytes;
    if (i % 3 == 0) {
      gen.RandomPayload().SerializeToString(&bytes);
    } else {
      bytes = gen.HostileMessage(0, 100);
    }
    if (i % 2 == 1) gen.Damage(&bytes);
    (DecodesLikeProtobuf(bytes) ? accepted : rejected)++;
  }
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace dubbo::nacos_wire
