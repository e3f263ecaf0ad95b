// The UDP push packet codec. See push_codec.h.
#include "push_codec.h"

#include <rapidjson/reader.h>
#include <rapidjson/writer.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "dubbo/registry/status.h"

namespace dubbo::nacos_wire {

using registry::InternalError;
using registry::InvalidArgumentError;
using registry::Status;

namespace {

// zlib works on chunks of this size.
constexpr size_t kZlibChunk = 16384;
// deflate cannot compress better than about 1032:1, so service data bigger than this can never fit
// in one datagram; refusing it early also keeps sizes within RapidJSON's 32-bit string lengths.
constexpr size_t kMaxPushDataBytes = kMaxUdpPayload * 1100;


// Ends a z_stream however the function leaves.
class DeflateStream {
 public:
  DeflateStream() { std::memset(&zs_, 0, sizeof(zs_)); }
  ~DeflateStream() {
    if (initialised_) deflateEnd(&zs_);
  }
  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;
  bool Init() {
    // windowBits 15 + 16: a gzip wrapper (header 1f 8b, CRC-32 and size trailer).
    initialised_ = deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                                Z_DEFAULT_STRATEGY) == Z_OK;
    return initialised_;
  }
  z_stream* get() { return &zs_; }

 private:
  z_stream zs_;
  bool initialised_ = false;
};

class InflateStream {
 public:
  InflateStream() { std::memset(&zs_, 0, sizeof(zs_)); }
  ~InflateStream() {
    if (initialised_) inflateEnd(&zs_);
  }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
  bool Init() {
    // windowBits 15 + 16: gzip only (no zlib or raw deflate).
    initialised_ = inflateInit2(&zs_, 15 + 16) == Z_OK;
    return initialised_;
  }
  z_stream* get() { return &zs_; }

 private:
  z_stream zs_;
  bool initialised_ = false;
};

// Parses an optionally negative decimal integer that fits in int64_t; nothing else (no spaces, no
// '+').
std::optional<int64_t> ParseDecimalInt64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 19) return std::nullopt;
  const uint64_t limit =
      negative ? uint64_t{1} << 63 : uint64_t{std::numeric_limits<int64_t>::max()};
  uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (limit - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (!negative) return static_cast<int64_t>(value);
  if (value == (uint64_t{1} << 63)) return std::numeric_limits<int64_t>::min();
  return -static_cast<int64_t>(value);
}

// SAX handler for the parsers: keeps the top-level "type", "data" and "lastRefTime" members (the
// last of duplicates wins; a value of the wrong kind clears the field) and stops the parse (returns
// false) on a non-object root or on nesting deeper than kMaxAckNesting. The reader is recursive,
// and this cap is checked before it descends, so its recursion is bounded too.
class PacketFieldsHandler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, PacketFieldsHandler> {
 public:
  explicit PacketFieldsHandler(bool want_data) : want_data_(want_data) {}

  bool Null() { return Scalar(std::nullopt, std::nullopt); }
  bool Bool(bool) { return Scalar(std::nullopt, std::nullopt); }
  bool Int(int v) { return Scalar(std::nullopt, int64_t{v}); }
  bool Uint(unsigned v) { return Scalar(std::nullopt, int64_t{v}); }
  bool Int64(int64_t v) { return Scalar(std::nullopt, v); }
  bool Uint64(uint64_t v) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Scalar(std::nullopt, std::nullopt);
    }
    return Scalar(std::nullopt, static_cast<int64_t>(v));
  }
  bool Double(double) { return Scalar(std::nullopt, std::nullopt); }
  bool String(const char* s, rapidjson::SizeType length, bool) {
    const std::string_view text(s, length);
    return Scalar(text, ParseDecimalInt64(text));
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    if (depth_ == 1) {
      const std::string_view key(s, length);
      field_ = key == "type"          ? Field::kType
               : key == "data"        ? Field::kData
               : key == "lastRefTime" ? Field::kLastRefTime
                                      : Field::kOther;
    }
    return true;
  }
  bool StartObject() { return Open(); }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool StartArray() { return depth_ > 0 && Open(); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

  std::optional<std::string> type;
  std::optional<std::string> data;  // Only when want_data.
  std::optional<int64_t> last_ref_time;

 private:
  enum class Field { kOther, kType, kData, kLastRefTime };

  // A scalar value. `text` is set for strings, `number` when it reads as an int64 (a JSON integer
  // or a string of decimal digits).
  bool Scalar(std::optional<std::string_view> text, std::optional<int64_t> number) {
    if (depth_ == 0) return false;  // The root must be an object.
    if (depth_ == 1) Assign(text, number);
    return true;
  }
  bool Open() {
    if (depth_ == 1) {
      Assign(std::nullopt, std::nullopt);  // A container where a member's value goes.
    }
    return ++depth_ <= kMaxAckNesting;
  }
  bool Close() {
    --depth_;
    return true;
  }
  void Assign(std::optional<std::string_view> text, std::optional<int64_t> number) {
    switch (field_) {
      case Field::kType:
        type = text ? std::optional<std::string>(*text) : std::nullopt;
        break;
      case Field::kData:
        if (want_data_) data = text ? std::optional<std::string>(*text) : std::nullopt;
        break;
      case Field::kLastRefTime:
        last_ref_time = number;
        break;
      case Field::kOther:
        break;
    }
    field_ = Field::kOther;
  }

  const bool want_data_;
  int depth_ = 0;
  Field field_ = Field::kOther;
};

// Runs `handler` over `json`. RapidJSON 1.1's internal stack adds an offset to a null pointer on
// its first use (undefined behaviour that UBSan reports), so the parse must never touch it: in-situ
// parsing (strings are decoded in a private copy, not on the stack) and the recursive reader (the
// iterative one keeps its state on the stack), with depth bounded by the handler. UTF-8 is not
// validated: like the Java client (new String(bytes, UTF_8)) we accept any bytes in strings, and
// 1.1's validator reads past the terminating NUL of an in-situ buffer on a truncated sequence.
Status RunReader(std::string_view json, PacketFieldsHandler* handler) {
  // The reader treats NUL as the end of input; refuse it rather than ignore what follows.
  if (json.find('\0') != std::string_view::npos) return InvalidArgumentError("NUL byte in JSON");
  std::string copy(json);  // Null-terminated and writable, for in-situ parsing.
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  const rapidjson::ParseResult parsed = reader.Parse<rapidjson::kParseInsituFlag>(stream, *handler);
  if (parsed.IsError()) {
    return InvalidArgumentError("malformed JSON at offset " + std::to_string(parsed.Offset()));
  }
  return Status::Ok();
}

// A rapidjson output stream appending to a std::string. With it, Writer::String() as the only value
// never touches RapidJSON's internal stack (see RunReader).
class StringOutput {
 public:
  using Ch = char;
  explicit StringOutput(std::string* out) : out_(out) {}
  void Put(char c) { out_->push_back(c); }
  void Flush() {}

 private:
  std::string* out_;
};

// Appends `text` as a JSON string literal (quotes included), escaped by rapidjson::Writer. Bytes
// are copied as they are (no UTF-8 validation), control characters, '"' and '\\' escaped.
void AppendJsonString(std::string_view text, std::string* out) {
  // Writer takes 32-bit lengths; escaping is byte by byte, so long input is written in pieces.
  constexpr size_t kPiece = size_t{1} << 30;
  out->push_back('"');
  std::string piece;
  for (size_t offset = 0; offset < text.size(); offset += kPiece) {
    const std::string_view part = text.substr(offset, kPiece);
    piece.clear();
    StringOutput stream(&piece);
    rapidjson::Writer<StringOutput> writer(stream);
    writer.String(part.data(), static_cast<rapidjson::SizeType>(part.size()));
    out->append(piece, 1, piece.size() - 2);  // Without the quotes.
  }
  out->push_back('"');
}

}  // namespace

bool LooksGzipped(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

Result<std::string> Gzip(std::string_view data) {
  DeflateStream stream;
  if (!stream.Init()) return InternalError("gzip: deflateInit2 failed");
  z_stream* zs = stream.get();
  std::string out;
  unsigned char buffer[kZlibChunk];
  size_t offset = 0;
  int flush = Z_NO_FLUSH;
  do {
    const size_t chunk = std::min(data.size() - offset, kZlibChunk);
    zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + offset));
    zs->avail_in = static_cast<uInt>(chunk);
    offset += chunk;
    flush = offset == data.size() ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs->next_out = buffer;
      zs->avail_out = sizeof(buffer);
      if (deflate(zs, flush) == Z_STREAM_ERROR) return InternalError("gzip: deflate failed");
      out.append(reinterpret_cast<const char*>(buffer), sizeof(buffer) - zs->avail_out);
    } while (zs->avail_out == 0);
  } while (flush != Z_FINISH);
  return out;
}

Result<std::string> Gunzip(std::string_view gz, size_t max_output) {
  if (!LooksGzipped(gz)) return InvalidArgumentError("gunzip: no gzip magic");
  if (gz.size() > std::numeric_limits<uInt>::max()) {
    return InvalidArgumentError("gunzip: too large");
  }
  InflateStream stream;
  if (!stream.Init()) return InternalError("gunzip: inflateInit2 failed");
  z_stream* zs = stream.get();
  zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs->avail_in = static_cast<uInt>(gz.size());
  std::string out;
  unsigned char buffer[kZlibChunk];
  for (;;) {
    zs->next_out = buffer;
    zs->avail_out = sizeof(buffer);
    const int rc = inflate(zs, Z_NO_FLUSH);
    const size_t produced = sizeof(buffer) - zs->avail_out;
    if (produced > max_output - out.size()) return InvalidArgumentError("gunzip: output too large");
    out.append(reinterpret_cast<const char*>(buffer), produced);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK) return InvalidArgumentError("gunzip: corrupt or truncated stream");
    if (zs->avail_in == 0 && zs->avail_out != 0) {
      return InvalidArgumentError("gunzip: truncated stream");
    }
  }
  if (zs->avail_in != 0) {
    return InvalidArgumentError("gunzip: trailing bytes after the gzip stream");
  }
  return out;
}

std::string EncodePushPacketJson(std::string_view data, int64_t last_ref_time) {
  std::string json;
  json.reserve(data.size() + data.size() / 8 + 64);
  json += "{\"type\":\"dom\",\"data\":";
  AppendJsonString(data, &json);
  json += ",\"lastRefTime\":";
  json += std::to_string(last_ref_time);
  json += '}';
  return json;
}

Result<std::string> BuildPushPacket(std::string_view data, int64_t last_ref_time) {
  if (data.size() > kMaxPushDataBytes) {
    return InvalidArgumentError("push packet: service data of " + std::to_string(data.size()) +
                                " bytes cannot fit in a datagram");
  }
  std::string packet = EncodePushPacketJson(data, last_ref_time);
  if (packet.size() >= kGzipThreshold) {
    Result<std::string> compressed = Gzip(packet);
    if (!compressed.ok()) return compressed.status();
    packet = std::move(compressed).value();
  }
  if (packet.size() > kMaxUdpPayload) {
    return InvalidArgumentError("push packet: " + std::to_string(packet.size()) +
                                " bytes exceed the UDP payload limit of " +
                                std::to_string(kMaxUdpPayload));
  }
  return packet;
}

std::string BuildPushAck(int64_t last_ref_time, bool quoted) {
  const std::string id = std::to_string(last_ref_time);
  return "{\"type\": \"push-ack\", \"lastRefTime\":" + (quoted ? "\"" + id + "\"" : id) +
         ", \"data\":\"\"}";
}

Result<int64_t> ParsePushAck(std::string_view json) {
  if (json.size() > kMaxAckBytes) return InvalidArgumentError("push-ack: too large");
  PacketFieldsHandler handler(/*want_data=*/false);
  DUBBO_RETURN_IF_ERROR(RunReader(json, &handler).WithPrefix("push-ack"));
  if (handler.type != "push-ack") return InvalidArgumentError("push-ack: type is not \"push-ack\"");
  if (!handler.last_ref_time) return InvalidArgumentError("push-ack: missing or bad lastRefTime");
  return *handler.last_ref_time;
}

Result<PushPacket> ParsePushPacket(std::string_view datagram, size_t max_json_bytes) {
  std::string inflated;
  std::string_view json = datagram;
  if (LooksGzipped(datagram)) {
    Result<std::string> unzipped = Gunzip(datagram, max_json_bytes);
    if (!unzipped.ok()) return unzipped.status().WithPrefix("push packet");
    inflated = std::move(unzipped).value();
    json = inflated;
  }
  if (json.size() > max_json_bytes) return InvalidArgumentError("push packet: too large");
  PacketFieldsHandler handler(/*want_data=*/true);
  DUBBO_RETURN_IF_ERROR(RunReader(json, &handler).WithPrefix("push packet"));
  if (!handler.type) return InvalidArgumentError("push packet: missing or bad type");
  if (!handler.data) return InvalidArgumentError("push packet: missing or bad data");
  if (!handler.last_ref_time) {
    return InvalidArgumentError("push packet: missing or bad lastRefTime");
  }
  return PushPacket{std::move(*handler.type), std::move(*handler.data), *handler.last_ref_time,
                    LooksGzipped(datagram)};
}

}  // namespace dubbo::nacos_wire
