// PushService and the §7 wire helpers. See push_service.h for the contract.
//
// Implementation notes
//   * Outstanding pushes live in one list in deadline order (every entry gets now + ack_timeout on
//   a
//     monotonic clock, so appending keeps it sorted; a resend is spliced to the back) plus a hash
//     index by (endpoint, lastRefTime). One ack timer, set for the head of the list, serves them
//     all.
//   * Timers are never cancelled while serialised (Cancel() would wait for a timer that may be
//   blocked
//     on the owner's lock); a timer that finds nothing due just re-arms for the new head.
//   * Subscribers with the same clusters share one rendering, one packet and one lastRefTime; ids
//   are
//     unique per (endpoint, push) because one endpoint appears once per clusters group.
//
// Thread-safety: none; the owner serialises (see push_service.h).
#include "push_service.h"

#include <rapidjson/reader.h>
#include <rapidjson/writer.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "internal/logging.h"

namespace dubbo::naming_server {

using registry::Duration;
using registry::InternalError;
using registry::InvalidArgumentError;
using registry::Result;
using registry::Status;
using registry::TaskId;
using registry::TimePoint;

namespace {

// One log line per limiter per this interval, at most.
constexpr Duration kLogInterval = std::chrono::seconds(10);
// zlib works on chunks of this size.
constexpr size_t kZlibChunk = 16384;
// deflate cannot compress better than about 1032:1, so service data bigger than this can never fit
// in one datagram; refusing it early also keeps sizes within RapidJSON's 32-bit string lengths.
constexpr size_t kMaxPushDataBytes = kMaxUdpPayload * 1100;

size_t HashCombine(size_t seed, size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

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

// ------------------------------------------------------------------------------------------------
// Wire helpers.

std::string UdpEndpoint::ToString() const {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

size_t UdpEndpointHash::operator()(const UdpEndpoint& e) const {
  return HashCombine(std::hash<std::string>()(e.ip), e.port);
}

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

// ------------------------------------------------------------------------------------------------
// PushService.

namespace {

// Marks a callback in progress (data provider, sender, on_ack) for the re-entrancy check.
class CallbackScope {
 public:
  explicit CallbackScope(int* depth) : depth_(depth) { ++*depth_; }
  ~CallbackScope() { --*depth_; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  int* depth_;
};

// " (N similar lines suppressed)" when N > 0, else "".
std::string SuppressedNote(uint64_t suppressed) {
  if (suppressed == 0) return std::string();
  return " (" + std::to_string(suppressed) + " similar lines suppressed)";
}

std::string Label(const std::string& namespace_id, const std::string& service,
                  const std::string& clusters) {
  std::string label = namespace_id + "/" + service;
  if (!clusters.empty()) label += " clusters=" + clusters;
  return label;
}

}  // namespace

size_t PushService::AckKeyHash::operator()(const AckKey& k) const {
  return HashCombine(UdpEndpointHash()(k.endpoint), std::hash<int64_t>()(k.id));
}

bool PushService::LogLimiter::Allow(TimePoint now, uint64_t* suppressed_out) {
  if (next_allowed && now < *next_allowed) {
    ++suppressed;
    return false;
  }
  *suppressed_out = suppressed;
  suppressed = 0;
  next_allowed = now + kLogInterval;
  return true;
}

Result<std::unique_ptr<PushService>> PushService::Create(PushServiceOptions options) {
  if (options.scheduler == nullptr) {
    return InvalidArgumentError("PushService: scheduler is required");
  }
  if (options.sender == nullptr) return InvalidArgumentError("PushService: sender is required");
  if (!options.data_provider) return InvalidArgumentError("PushService: data_provider is required");
  if (options.clock == nullptr) options.clock = options.scheduler->clock();
  if (options.clock == nullptr) return InvalidArgumentError("PushService: no clock");
  if (options.subscriber_ttl.count() <= 0 || options.ack_timeout.count() <= 0 ||
      options.sweep_interval.count() <= 0) {
    return InvalidArgumentError(
        "PushService: subscriber_ttl, ack_timeout and sweep_interval must be positive");
  }
  if (options.push_delay.count() < 0) {
    return InvalidArgumentError("PushService: negative push_delay");
  }
  if (options.max_subscribers == 0 || options.max_pending_acks == 0) {
    return InvalidArgumentError(
        "PushService: max_subscribers and max_pending_acks must be positive");
  }
  return std::unique_ptr<PushService>(new PushService(std::move(options)));
}

PushService::PushService(PushServiceOptions options)
    : options_(std::move(options)), clock_(options_.clock) {}

PushService::~PushService() {
  std::vector<TaskId> ids;
  auto stop = [this, &ids] {
    stopped_ = true;
    for (const auto& [token, id] : tasks_) ids.push_back(id);
    tasks_.clear();
  };
  if (options_.run_serialized) {
    options_.run_serialized(stop);
  } else {
    stop();
  }
  // Outside the serialisation: Cancel() waits for a task that is running, and a running task of
  // ours only waits for the serialisation, sees stopped_ and returns.
  for (TaskId id : ids) options_.scheduler->Cancel(id);
}

bool PushService::ScheduleTask(Duration delay, std::function<void()> body) {
  const uint64_t token = next_task_token_++;
  const TaskId id =
      options_.scheduler->ScheduleAfter(delay, [this, token, body = std::move(body)]() {
        auto run = [this, token, &body] {
          if (stopped_) return;
          tasks_.erase(token);
          body();
        };
        if (options_.run_serialized) {
          options_.run_serialized(run);
        } else {
          run();
        }
      });
  if (id == registry::kInvalidTaskId) {
    DUBBO_LOG(WARNING) << "push service: the scheduler refused a timer (shut down?)";
    return false;
  }
  tasks_.emplace(token, id);
  return true;
}

Status PushService::Subscribe(const std::string& namespace_id, const std::string& grouped_service,
                              const std::string& clusters, const UdpEndpoint& endpoint,
                              std::string_view agent) {
  if (callback_depth_ > 0) {
    DUBBO_LOG(ERROR) << "push service: Subscribe() called from inside a callback; ignored";
    return registry::FailedPreconditionError("Subscribe() called from inside a push callback");
  }
  if (endpoint.port == 0) return InvalidArgumentError("push subscriber: udpPort must be > 0");
  UdpEndpoint target = endpoint;
  if (target.ip.empty()) target.ip = "127.0.0.1";
  const TimePoint now = clock_->Now();

  auto service = services_.try_emplace(ServiceKey(namespace_id, grouped_service)).first;
  ClusterSubscribers& group = service->second.by_clusters[clusters];
  auto found = group.find(target);
  if (found != group.end()) {
    if (!Lapsed(found->second, now)) {
      found->second.last_refresh = now;
      if (found->second.agent != agent) found->second.agent = std::string(agent);
      return Status::Ok();
    }
    // Lapsed but not swept yet: it was dropped; this query starts a new subscription.
    DropOutstanding(found->first, found->second);
    group.erase(found);
    --subscriber_count_;
    ++stats_.subscribers_expired;
  }
  if (subscriber_count_ >= options_.max_subscribers) {
    ++stats_.subscribers_rejected;
    uint64_t suppressed = 0;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: " << options_.max_subscribers
                         << " subscribers, refusing " << target.ToString() << " for "
                         << Label(namespace_id, grouped_service, clusters)
                         << SuppressedNote(suppressed);
    }
    if (group.empty()) service->second.by_clusters.erase(clusters);
    MaybeEraseService(service);
    return registry::UnavailableError("too many push subscribers");
  }
  auto inserted = group.emplace(target, Subscriber{std::string(agent), now, 0}).first;
  ++subscriber_count_;
  EnsureSweep();
  if (options_.push_on_subscribe) {
    std::optional<Rendered> rendered = Render(service->first, clusters, now, 1);
    if (rendered) {
      SendTracked(inserted->first, inserted->second, rendered->id, rendered->packet,
                  rendered->label, now);
    }
  }
  return Status::Ok();
}

void PushService::ServiceChanged(const std::string& namespace_id,
                                 const std::string& grouped_service) {
  if (callback_depth_ > 0) {
    DUBBO_LOG(ERROR) << "push service: ServiceChanged() called from inside a callback; ignored";
    return;
  }
  auto it = services_.find(ServiceKey(namespace_id, grouped_service));
  if (it == services_.end()) return;
  ServiceState& state = it->second;
  if (state.push_scheduled) {
    ++stats_.changes_merged;
    return;
  }
  const TimePoint now = clock_->Now();
  const Duration window = options_.push_delay;
  if (!state.last_push || now - *state.last_push >= window) {
    PushNow(it);
    return;
  }
  const ServiceKey key = it->first;
  if (ScheduleTask(*state.last_push + window - now, [this, key] { OnPushTimer(key); })) {
    state.push_scheduled = true;
    ++stats_.changes_merged;
  } else {
    PushNow(it);
  }
}

void PushService::OnPushTimer(const ServiceKey& key) {
  auto it = services_.find(key);
  if (it == services_.end()) return;  // Not expected: a state is kept while its push is scheduled.
  it->second.push_scheduled = false;
  PushNow(it);
}

void PushService::PushNow(ServiceMap::iterator it) {
  const TimePoint now = clock_->Now();
  ServiceState& state = it->second;
  state.last_push = now;
  DropLapsed(state, now);
  for (auto& [clusters, group] : state.by_clusters) {
    std::optional<Rendered> rendered = Render(it->first, clusters, now, group.size());
    if (!rendered) continue;
    for (auto& [endpoint, subscriber] : group) {
      SendTracked(endpoint, subscriber, rendered->id, rendered->packet, rendered->label, now);
    }
  }
  MaybeEraseService(it);
}

std::optional<PushService::Rendered> PushService::Render(const ServiceKey& key,
                                                         const std::string& clusters, TimePoint now,
                                                         size_t recipients) {
  std::optional<std::string> data;
  {
    CallbackScope scope(&callback_depth_);
    data = options_.data_provider(key.first, key.second, clusters);
  }
  uint64_t suppressed = 0;
  if (!data) {
    ++stats_.render_failures;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: no data for " << Label(key.first, key.second, clusters)
                         << "; push skipped" << SuppressedNote(suppressed);
    }
    return std::nullopt;
  }
  const int64_t id = NextPushId(now);
  Result<std::string> packet = BuildPushPacket(*data, id);
  if (!packet.ok()) {
    stats_.oversize_skipped += recipients;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: " << Label(key.first, key.second, clusters)
                         << " not pushed to " << recipients
                         << " subscriber(s): " << packet.status().message()
                         << SuppressedNote(suppressed);
    }
    return std::nullopt;
  }
  return Rendered{id, std::make_shared<const std::string>(std::move(packet).value()),
                  std::make_shared<const std::string>(Label(key.first, key.second, clusters))};
}

void PushService::SendTracked(const UdpEndpoint& endpoint, Subscriber& subscriber, int64_t id,
                              const std::shared_ptr<const std::string>& packet,
                              const std::shared_ptr<const std::string>& label, TimePoint now) {
  if (DropOutstanding(endpoint, subscriber)) ++stats_.superseded;
  subscriber.outstanding_id = id;
  if (pending_.size() >= options_.max_pending_acks) {
    const PendingAck& oldest = ack_order_.front();
    ++stats_.pending_evicted;
    uint64_t suppressed = 0;
    if (drop_log_.Allow(now, &suppressed)) {
      DUBBO_LOG(WARNING) << "push service: " << options_.max_pending_acks
                         << " pushes await an ack; forgetting the oldest, to "
                         << oldest.key.endpoint.ToString() << " for " << *oldest.label
                         << SuppressedNote(suppressed);
    }
    pending_.erase(oldest.key);
    ack_order_.pop_front();
  }
  ack_order_.push_back(
      PendingAck{AckKey{endpoint, id}, packet, label, now, now + options_.ack_timeout, 1});
  pending_.emplace(ack_order_.back().key, std::prev(ack_order_.end()));
  ++stats_.pushes_sent;
  EnsureAckTimer();
  CallbackScope scope(&callback_depth_);
  options_.sender->Send(endpoint, *packet);
}

bool PushService::DropOutstanding(const UdpEndpoint& endpoint, const Subscriber& subscriber) {
  if (subscriber.outstanding_id == 0) return false;
  auto found = pending_.find(AckKey{endpoint, subscriber.outstanding_id});
  if (found == pending_.end()) return false;
  ack_order_.erase(found->second);
  pending_.erase(found);
  return true;
}

bool PushService::Lapsed(const Subscriber& subscriber, TimePoint now) const {
  return now - subscriber.last_refresh > options_.subscriber_ttl;
}

size_t PushService::DropLapsed(ServiceState& state, TimePoint now) {
  size_t dropped = 0;
  for (auto group = state.by_clusters.begin(); group != state.by_clusters.end();) {
    for (auto sub = group->second.begin(); sub != group->second.end();) {
      if (!Lapsed(sub->second, now)) {
        ++sub;
        continue;
      }
      DropOutstanding(sub->first, sub->second);
      sub = group->second.erase(sub);
      ++dropped;
    }
    group = group->second.empty() ? state.by_clusters.erase(group) : std::next(group);
  }
  subscriber_count_ -= dropped;
  stats_.subscribers_expired += dropped;
  return dropped;
}

void PushService::MaybeEraseService(ServiceMap::iterator it) {
  if (it->second.by_clusters.empty() && !it->second.push_scheduled) services_.erase(it);
}

void PushService::EnsureSweep() {
  if (sweep_scheduled_ || subscriber_count_ == 0) return;
  sweep_scheduled_ = ScheduleTask(options_.sweep_interval, [this] { Sweep(); });
}

void PushService::Sweep() {
  sweep_scheduled_ = false;
  const TimePoint now = clock_->Now();
  for (auto it = services_.begin(); it != services_.end();) {
    DropLapsed(it->second, now);
    auto next = std::next(it);
    MaybeEraseService(it);
    it = next;
  }
  EnsureSweep();
}

void PushService::EnsureAckTimer() {
  if (ack_timer_scheduled_ || ack_order_.empty()) return;
  const Duration delay = std::max(Duration::zero(), ack_order_.front().deadline - clock_->Now());
  ack_timer_scheduled_ = ScheduleTask(delay, [this] { OnAckTimer(); });
}

void PushService::OnAckTimer() {
  ack_timer_scheduled_ = false;
  const TimePoint now = clock_->Now();
  while (!ack_order_.empty() && ack_order_.front().deadline <= now) {
    auto it = ack_order_.begin();
    if (it->transmissions >= 2) {
      ++stats_.give_ups;
      uint64_t suppressed = 0;
      if (give_up_log_.Allow(now, &suppressed)) {
        DUBBO_LOG(WARNING) << "push service: no ack from " << it->key.endpoint.ToString() << " for "
                           << *it->label << " (lastRefTime " << it->key.id
                           << ") after 2 transmissions; giving up" << SuppressedNote(suppressed);
      }
      pending_.erase(it->key);
      ack_order_.erase(it);
      continue;
    }
    it->transmissions = 2;
    it->deadline = now + options_.ack_timeout;
    ack_order_.splice(ack_order_.end(), ack_order_, it);
    ++stats_.resends;
    // Copies: Send() may re-enter OnDatagram(), which can erase the entry.
    const UdpEndpoint to = it->key.endpoint;
    const std::shared_ptr<const std::string> packet = it->packet;
    CallbackScope scope(&callback_depth_);
    options_.sender->Send(to, *packet);
  }
  EnsureAckTimer();
}

DatagramResult PushService::OnDatagram(const UdpEndpoint& from, std::string_view datagram) {
  if (datagram.size() > kMaxAckBytes) {
    ++stats_.datagrams_ignored;
    return DatagramResult::kIgnored;
  }
  std::string inflated;
  std::string_view json = datagram;
  if (LooksGzipped(datagram)) {
    Result<std::string> unzipped = Gunzip(datagram, kMaxAckBytes);
    if (!unzipped.ok()) {
      ++stats_.datagrams_ignored;
      return DatagramResult::kIgnored;
    }
    inflated = std::move(unzipped).value();
    json = inflated;
  }
  Result<int64_t> id = ParsePushAck(json);
  if (!id.ok()) {
    ++stats_.datagrams_ignored;
    return DatagramResult::kIgnored;
  }
  auto found = pending_.find(AckKey{from, *id});
  if (found == pending_.end()) {
    ++stats_.acks_unmatched;
    return DatagramResult::kAckUnmatched;
  }
  const Duration latency = clock_->Now() - found->second->first_sent;
  ++stats_.acks_matched;
  stats_.ack_latency_total += latency;
  stats_.ack_latency_max = std::max(stats_.ack_latency_max, latency);
  ack_order_.erase(found->second);
  pending_.erase(found);
  if (options_.on_ack) {
    CallbackScope scope(&callback_depth_);
    options_.on_ack(from, *id, latency);
  }
  return DatagramResult::kAckMatched;
}

int64_t PushService::NextPushId(TimePoint now) {
  // Microseconds, not Nacos's nanoseconds: the id must survive a JavaScript client's JSON.parse
  // (exact only up to 2^53), and nanoseconds since boot pass 2^53 after 104 days of uptime.
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  last_push_id_ = micros > last_push_id_ ? micros : last_push_id_ + 1;
  return last_push_id_;
}

PushStats PushService::stats() const {
  PushStats copy = stats_;
  copy.subscribers = subscriber_count_;
  copy.pending_acks = pending_.size();
  return copy;
}

}  // namespace dubbo::naming_server
