// service_info_json implementation.
//
// Input is read through ReadServerJson (server_json.h: size, NUL and depth caps, RapidJSON's SAX
// Reader in situ with numbers as text). A small state machine (ServiceInfoHandler) fills the
// ServiceInfo as events arrive, so memory stays proportional to what is kept, and unknown members
// are only syntax-checked. Encoding is validated here, on each decoded string, not with
// kParseValidateEncodingFlag (which reads past the end of truncated UTF-8 in situ). A problem
// inside one host marks that host dropped and the read goes on; a problem anywhere else stops it.
// Output is written by hand.
//
// Thread-safety: stateless but for the rate limiter of the drop warning (thread-safe).
#include "service_info_json.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "internal/ascii.h"
#include "internal/logging.h"
#include "server_json.h"

namespace dubbo::registry::nacos {

namespace {

constexpr std::string_view kWhat = "service info JSON";
constexpr std::string_view kGroupSeparator = "@@";
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD.

// ---- Output ------------------------------------------------------------------------------------

// Appends `s` as a JSON string literal; invalid UTF-8 becomes U+FFFD.
void AppendQuoted(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(s, i);
      if (length == 0) {
        out->append(kReplacementChar);
        ++i;
      } else {
        out->append(s.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

// Shortest text that reads back as the same double, with ".0" on integral values as Java writes
// them ("1.0"); a non-finite value (never produced by the parser) is written as 0.0.
void AppendDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("0.0");
    return;
  }
  char buffer[64];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  const std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));
  out->append(text);
  if (text.find_first_of(".eE") == std::string_view::npos) out->append(".0");
}

void AppendBool(bool v, std::string* out) { out->append(v ? "true" : "false"); }

// ---- Scalar conversions ------------------------------------------------------------------------

// One scalar event. `text` is the decoded string, a number's source text, or "true"/"false"; it
// points into the parse buffer and lives only during the callback.
struct Scalar {
  JsonKind kind;
  std::string_view text;
};

using internal::EqualsIgnoreCase;

// ---- The SAX handler ---------------------------------------------------------------------------

// Members the parser reads; the others are skipped.
struct RootFields {
  std::optional<std::string> name;
  std::optional<std::string> group_name;
  std::optional<std::string> clusters;
  std::optional<int64_t> cache_millis;
  std::optional<int64_t> last_ref_time;
  std::optional<bool> reach_protection_threshold;
  bool has_hosts = false;
  std::vector<Instance> hosts;
};

struct HostFields {
  Instance instance;
  bool has_ip = false;
  bool has_port = false;
  std::optional<bool> healthy;
  std::optional<bool> valid;
  std::string problem;  // Non-empty: the host is dropped, for this reason.
};

class ServiceInfoHandler final : public JsonSaxHandler {
 public:
  bool OnScalar(JsonKind kind, std::string_view text) override {
    if (kind == JsonKind::kString && !IsValidUtf8(text)) {
      return Refuse("a string is not valid UTF-8");
    }
    return OnValue({kind, text});
  }
  bool OnKey(std::string_view text) override {
    if (!IsValidUtf8(text)) return Refuse("a member name is not valid UTF-8");
    if (!stack_.empty() && stack_.back().kind == FrameKind::kCapture) {
      CaptureSeparator();
      AppendQuoted(text, &capture_);
      capture_.push_back(':');
      after_key_ = true;
    } else {
      key_.assign(text);
    }
    return true;
  }
  bool OnStart(bool is_object) override {
    if (stack_.empty()) {
      if (!is_object) return Fail("the document is not a JSON object");
      stack_.push_back({FrameKind::kRoot, true});
      return true;
    }
    FrameKind kind = FrameKind::kSkip;
    switch (stack_.back().kind) {
      case FrameKind::kRoot:
        if (key_ == "hosts") {
          if (is_object) return Fail("'hosts' is not an array");
          root_.has_hosts = true;
          root_.hosts.clear();  // A repeated member: the last one wins.
          host_index_ = 0;
          dropped_ = 0;
          first_drop_.clear();
          kind = FrameKind::kHosts;
        } else if (IsRootScalarKey(key_)) {
          return Fail("'" + key_ + "': expected a scalar, got " +
                      (is_object ? "an object" : "an array"));
        }
        break;
      case FrameKind::kHosts:
        host_ = HostFields();
        if (!is_object) host_.problem = "hosts[" + std::to_string(host_index_) + "]: not an object";
        kind = FrameKind::kHost;
        break;
      case FrameKind::kHost:
        if (key_ == "metadata" && is_object) {
          host_.instance.metadata.clear();
          kind = FrameKind::kMetadata;
        } else if (key_ == "metadata" || IsHostScalarKey(key_)) {
          DropHost(HostField(key_) + "expected " + (key_ == "metadata" ? "an object" : "a scalar") +
                   ", got " + (is_object ? "an object" : "an array"));
        }
        break;
      case FrameKind::kMetadata:
        capture_key_ = key_;
        capture_.clear();
        kind = FrameKind::kCapture;
        break;
      case FrameKind::kCapture:
        CaptureSeparator();
        kind = FrameKind::kCapture;
        break;
      case FrameKind::kSkip:
        break;
    }
    if (kind == FrameKind::kCapture) capture_.push_back(is_object ? '{' : '[');
    stack_.push_back({kind, is_object});
    return true;
  }
  bool OnEnd() override {
    const Frame frame = stack_.back();
    stack_.pop_back();
    switch (frame.kind) {
      case FrameKind::kHost:
        FinishHost();
        return true;
      case FrameKind::kCapture:
        capture_.push_back(frame.is_object ? '}' : ']');
        if (stack_.back().kind == FrameKind::kMetadata) {
          host_.instance.metadata[capture_key_] = std::move(capture_);
          capture_.clear();
        }
        return true;
      case FrameKind::kRoot:
      case FrameKind::kHosts:
      case FrameKind::kMetadata:
      case FrameKind::kSkip:
        return true;
    }
    return true;
  }
  const std::string& error() const override { return error_; }

  RootFields& root() { return root_; }
  size_t dropped() const { return dropped_; }
  size_t host_count() const { return host_index_; }
  const std::string& first_drop() const { return first_drop_; }
  const std::string& duration_problem() const { return duration_problem_; }

 private:
  enum class FrameKind {
    kRoot,      // The document object.
    kHosts,     // The `hosts` array.
    kHost,      // One element of `hosts` (a host object, or a container dropped as a host).
    kMetadata,  // A host's `metadata` object.
    kCapture,   // A container inside a metadata value, rendered to text.
    kSkip,      // A container inside an unknown member, or inside a dropped field.
  };
  struct Frame {
    FrameKind kind;
    bool is_object;
    bool first = true;  // No element written yet (kCapture).
  };

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  bool InHost() const {
    return std::any_of(stack_.begin(), stack_.end(),
                       [](const Frame& f) { return f.kind == FrameKind::kHost; });
  }

  // A problem inside a host drops the host; anywhere else it refuses the document.
  bool Refuse(std::string_view problem) {
    if (InHost()) {
      const bool in_metadata = std::any_of(stack_.begin(), stack_.end(), [](const Frame& f) {
        return f.kind == FrameKind::kMetadata;
      });
      DropHost(in_metadata ? HostField("metadata") + std::string(problem)
                           : "hosts[" + std::to_string(host_index_) + "]: " + std::string(problem));
      return true;
    }
    return Fail(std::string(problem));
  }

  // Marks the host being read as dropped (the first reason is kept); the read goes on.
  void DropHost(std::string reason) {
    if (host_.problem.empty()) host_.problem = std::move(reason);
  }

  std::string HostField(std::string_view field) const {
    return "hosts[" + std::to_string(host_index_) + "]." + std::string(field) + ": ";
  }

  bool OnValue(const Scalar& v) {
    if (stack_.empty()) return Fail("the document is not a JSON object");
    Frame& top = stack_.back();
    switch (top.kind) {
      case FrameKind::kRoot:
        return SetRootField(v);
      case FrameKind::kHosts:
        host_ = HostFields();
        host_.problem = "hosts[" + std::to_string(host_index_) + "]: not an object";
        FinishHost();
        return true;
      case FrameKind::kHost:
        SetHostField(v);
        return true;
      case FrameKind::kMetadata:
        if (v.kind == JsonKind::kNull) {
          host_.instance.metadata.erase(key_);
        } else {
          host_.instance.metadata[key_] = std::string(v.text);
        }
        return true;
      case FrameKind::kCapture:
        CaptureSeparator();
        if (v.kind == JsonKind::kString) {
          AppendQuoted(v.text, &capture_);
        } else {
          capture_.append(v.text);
        }
        return true;
      case FrameKind::kSkip:
        return true;
    }
    return true;
  }

  // Writes the ',' before an element of the capture container on top, if one is needed.
  void CaptureSeparator() {
    Frame& top = stack_.back();
    if (after_key_) {  // The value of a member whose name was just written.
      after_key_ = false;
      return;
    }
    if (!top.first) capture_.push_back(',');
    top.first = false;
  }

  static bool IsRootScalarKey(std::string_view key) {
    return key == "name" || key == "groupName" || key == "clusters" || key == "cacheMillis" ||
           key == "lastRefTime" || key == "reachProtectionThreshold";
  }
  static bool IsHostScalarKey(std::string_view key) {
    return key == "instanceId" || key == "ip" || key == "port" || key == "weight" ||
           key == "healthy" || key == "valid" || key == "enabled" || key == "ephemeral" ||
           key == "clusterName" || key == "serviceName";
  }

  // Text fields take strings, numbers and booleans; null resets to `absent`.
  static void SetText(const Scalar& v, std::optional<std::string>* field) {
    if (v.kind == JsonKind::kNull) {
      field->reset();
    } else {
      *field = std::string(v.text);
    }
  }

  // Returns false for a value that is not a boolean; null leaves *field absent.
  static bool SetBool(const Scalar& v, std::optional<bool>* field) {
    if (v.kind == JsonKind::kNull) {
      field->reset();
      return true;
    }
    if (v.kind != JsonKind::kBool && v.kind != JsonKind::kString) return false;
    if (EqualsIgnoreCase(v.text, "true")) {
      *field = true;
    } else if (EqualsIgnoreCase(v.text, "false")) {
      *field = false;
    } else {
      return false;
    }
    return true;
  }

  static bool SetInt64(const Scalar& v, std::optional<int64_t>* field) {
    if (v.kind == JsonKind::kNull) {
      field->reset();
      return true;
    }
    int64_t value = 0;
    if (v.kind == JsonKind::kBool || !ParseJsonInt64(v.text, &value)) return false;
    *field = value;
    return true;
  }

  bool SetRootField(const Scalar& v) {
    if (key_ == "name") {
      SetText(v, &root_.name);
    } else if (key_ == "groupName") {
      SetText(v, &root_.group_name);
    } else if (key_ == "clusters") {
      SetText(v, &root_.clusters);
    } else if (key_ == "cacheMillis") {
      // Advisory: clamped, never a reason to refuse the hosts beside it.
      if (v.kind == JsonKind::kNull) {
        root_.cache_millis.reset();
      } else {
        root_.cache_millis = ClampDuration(kCacheMillisRange, v.kind, v.text, &duration_problem_);
      }
    } else if (key_ == "lastRefTime") {
      if (!SetInt64(v, &root_.last_ref_time)) return Fail("'lastRefTime': not an integer");
    } else if (key_ == "reachProtectionThreshold") {
      if (!SetBool(v, &root_.reach_protection_threshold)) {
        return Fail("'reachProtectionThreshold': not a boolean");
      }
    } else if (key_ == "hosts") {
      return Fail("'hosts' is not an array");
    }
    return true;
  }

  void SetHostField(const Scalar& v) {
    Instance& instance = host_.instance;
    std::optional<std::string> text;
    if (key_ == "instanceId") {
      SetText(v, &text);
      instance.instance_id = text.value_or("");
    } else if (key_ == "ip") {
      SetText(v, &text);
      host_.has_ip = text.has_value();
      instance.ip = text.value_or("");
    } else if (key_ == "port") {
      std::optional<int64_t> port;
      if (!SetInt64(v, &port) || (port && (*port < 0 || *port > 65535))) {
        return DropHost(HostField("port") + "not an integer in [0, 65535]");
      }
      host_.has_port = port.has_value();
      instance.port = static_cast<int>(port.value_or(0));
    } else if (key_ == "weight") {
      double weight = 1.0;
      if (v.kind != JsonKind::kNull &&
          (v.kind == JsonKind::kBool || !ParseJsonDouble(v.text, &weight) || weight < 0)) {
        return DropHost(HostField("weight") + "not a finite number >= 0");
      }
      instance.weight = weight;
    } else if (key_ == "healthy" || key_ == "valid") {
      if (!SetBool(v, key_ == "healthy" ? &host_.healthy : &host_.valid)) {
        return DropHost(HostField(key_) + "not a boolean");
      }
    } else if (key_ == "enabled" || key_ == "ephemeral") {
      std::optional<bool> flag;
      if (!SetBool(v, &flag)) return DropHost(HostField(key_) + "not a boolean");
      (key_ == "enabled" ? instance.enabled : instance.ephemeral) = flag.value_or(true);
    } else if (key_ == "clusterName") {
      SetText(v, &text);
      instance.cluster_name = text.value_or(std::string(kDefaultCluster));
    } else if (key_ == "serviceName") {
      SetText(v, &text);
      instance.service_name = text.value_or("");
    } else if (key_ == "metadata") {
      if (v.kind != JsonKind::kNull) return DropHost(HostField("metadata") + "not an object");
      instance.metadata.clear();
    }
  }

  // Called when an element of `hosts` ends: keeps the host, or counts it dropped.
  void FinishHost() {
    const std::string where = "hosts[" + std::to_string(host_index_) + "]: ";
    ++host_index_;
    if (host_.problem.empty()) {
      if (!host_.has_ip || host_.instance.ip.empty()) {
        host_.problem = where + "missing 'ip'";
      } else if (!host_.has_port) {
        host_.problem = where + "missing 'port'";
      }
    }
    if (!host_.problem.empty()) {
      if (dropped_++ == 0) first_drop_ = std::move(host_.problem);
    } else {
      host_.instance.healthy = host_.healthy.value_or(host_.valid.value_or(true));
      root_.hosts.push_back(std::move(host_.instance));
    }
    host_ = HostFields();
  }

  std::vector<Frame> stack_;
  std::string key_;          // The member name most recently read outside a capture.
  std::string capture_;      // The JSON text of the metadata value being captured.
  std::string capture_key_;  // Its metadata key.
  bool after_key_ = false;   // A capture member name was written; its value comes next.
  HostFields host_;
  RootFields root_;
  size_t host_index_ = 0;  // Elements of `hosts` read so far.
  size_t dropped_ = 0;     // Of which dropped.
  std::string first_drop_;
  std::string duration_problem_;
  std::string error_;
};

Status Invalid(std::string_view message) {
  std::string text(kWhat);
  text.append(": ");
  text.append(message);
  return InvalidArgumentError(text);
}

bool IsUsableInstance(const Instance& host) {
  return host.healthy && host.enabled && host.weight > 0;
}

// Keeps the last entry of each address.
std::unordered_map<std::string, const Instance*> ByAddress(const std::vector<Instance>& hosts) {
  std::unordered_map<std::string, const Instance*> map;
  map.reserve(hosts.size());
  for (const Instance& host : hosts) map[host.Address()] = &host;
  return map;
}

// Dropped hosts and clamped durations are the server's problem, but one a hostile or broken
// server repeats on every answer: at most one line per 10 s per process.
internal::LogRateLimiter& DataWarningLimiter() {
  static internal::LogRateLimiter limiter(std::chrono::seconds(10));
  return limiter;
}

}  // namespace

Result<ServiceInfo> ParseServiceInfo(std::string_view json, ServiceInfoParseReport* report) {
  if (report != nullptr) *report = ServiceInfoParseReport();
  ServiceInfoHandler handler;
  DUBBO_RETURN_IF_ERROR(ReadServerJson(json, kMaxServiceInfoJsonBytes, kWhat, &handler));

  RootFields& root = handler.root();
  if (!root.name || root.name->empty()) return Invalid("missing 'name'");
  if (!root.has_hosts) return Invalid("missing 'hosts'");
  const size_t dropped = handler.dropped();
  // A dropped host may have been the only usable one: data left without a usable instance (or
  // empty) would wipe a subscriber's list whatever empty-push protection says. Refuse it whole.
  if (dropped > 0 && std::none_of(root.hosts.begin(), root.hosts.end(), IsUsableInstance)) {
    return Invalid("dropped " + std::to_string(dropped) + " of " +
                   std::to_string(handler.host_count()) + " hosts (first: " + handler.first_drop() +
                   ") and no usable instance is left");
  }

  ServiceInfo info;
  info.name = std::move(*root.name);
  const bool has_group = root.group_name && !root.group_name->empty();
  const size_t separator = info.name.find(kGroupSeparator);
  if (separator == std::string::npos) {
    if (has_group) {
      info.name = GroupedName(info.name, *root.group_name);
      info.group_name = std::move(*root.group_name);
    } else {
      info.group_name = std::string(kDefaultGroup);
    }
  } else {
    info.group_name = has_group ? std::move(*root.group_name) : info.name.substr(0, separator);
  }
  info.clusters = root.clusters.value_or("");
  info.cache_millis = root.cache_millis.value_or(kCacheMillisRange.fallback);
  info.last_ref_time = root.last_ref_time.value_or(0);
  info.reach_protection_threshold = root.reach_protection_threshold.value_or(false);
  info.hosts = std::move(root.hosts);

  if (dropped > 0 || !handler.duration_problem().empty()) {
    uint64_t held_back = 0;
    if (DataWarningLimiter().Allow(std::chrono::steady_clock::now(), &held_back)) {
      DUBBO_LOG(WARNING) << "nacos: data of " << info.Key() << ": "
                         << (dropped > 0 ? "dropped " + std::to_string(dropped) + " of " +
                                               std::to_string(handler.host_count()) +
                                               " hosts (first: " + handler.first_drop() + ")"
                                         : std::string())
                         << (dropped > 0 && !handler.duration_problem().empty() ? "; " : "")
                         << handler.duration_problem() << internal::HeldBackNote(held_back);
    }
  }
  if (report != nullptr) {
    report->dropped_hosts = dropped;
    report->first_drop = handler.first_drop();
    report->duration_problem = handler.duration_problem();
  }
  return info;
}

std::string ServiceInfoToJson(const ServiceInfo& info) {
  std::string out;
  out.reserve(256 + info.hosts.size() * 256);
  out.append("{\"hosts\":[");
  bool first_host = true;
  for (const Instance& host : info.hosts) {
    if (!first_host) out.push_back(',');
    first_host = false;
    out.append("{\"ip\":");
    AppendQuoted(host.ip, &out);
    out.append(",\"port\":").append(std::to_string(host.port));
    out.append(",\"valid\":");
    AppendBool(host.healthy, &out);
    out.append(",\"healthy\":");
    AppendBool(host.healthy, &out);
    out.append(",\"marked\":false,\"instanceId\":");
    AppendQuoted(host.instance_id, &out);
    out.append(",\"metadata\":{");
    bool first_entry = true;
    for (const auto& [key, value] : host.metadata) {
      if (!first_entry) out.push_back(',');
      first_entry = false;
      AppendQuoted(key, &out);
      out.push_back(':');
      AppendQuoted(value, &out);
    }
    out.append("},\"enabled\":");
    AppendBool(host.enabled, &out);
    out.append(",\"weight\":");
    AppendDouble(host.weight, &out);
    out.append(",\"clusterName\":");
    AppendQuoted(host.cluster_name, &out);
    out.append(",\"serviceName\":");
    AppendQuoted(host.service_name, &out);
    out.append(",\"ephemeral\":");
    AppendBool(host.ephemeral, &out);
    out.push_back('}');
  }
  out.append("],\"dom\":");
  AppendQuoted(info.name, &out);
  out.append(",\"name\":");
  AppendQuoted(info.name, &out);
  if (info.name.find(kGroupSeparator) != std::string::npos) {
    out.append(",\"groupName\":");
    AppendQuoted(info.group_name, &out);
  }
  out.append(",\"cacheMillis\":").append(std::to_string(info.cache_millis));
  out.append(",\"lastRefTime\":").append(std::to_string(info.last_ref_time));
  out.append(",\"checksum\":\"\",\"useSpecifiedURL\":false,\"clusters\":");
  AppendQuoted(info.clusters, &out);
  out.append(",\"env\":\"\",\"metadata\":{},\"reachProtectionThreshold\":");
  AppendBool(info.reach_protection_threshold, &out);
  out.push_back('}');
  return out;
}

ServiceChangeEvent DiffServiceInfo(const ServiceInfo& before, const ServiceInfo& after) {
  ServiceChangeEvent event;
  event.service_name = after.name;
  event.clusters = after.clusters;
  event.instances = after.hosts;
  const auto old_hosts = ByAddress(before.hosts);
  const auto new_hosts = ByAddress(after.hosts);
  std::unordered_set<std::string> seen;
  for (const Instance& host : after.hosts) {
    std::string address = host.Address();
    if (!seen.insert(address).second) continue;
    const Instance& current = *new_hosts.at(address);
    const auto old = old_hosts.find(address);
    if (old == old_hosts.end()) {
      event.added.push_back(current);
    } else if (*old->second != current) {
      event.modified.push_back(current);
    }
  }
  seen.clear();
  for (const Instance& host : before.hosts) {
    std::string address = host.Address();
    if (!seen.insert(address).second || new_hosts.count(address) != 0) continue;
    event.removed.push_back(*old_hosts.at(address));
  }
  return event;
}

bool HasUsableInstance(const ServiceInfo& info) {
  return std::any_of(info.hosts.begin(), info.hosts.end(), IsUsableInstance);
}

void AppendJsonString(std::string_view s, std::string* out) { AppendQuoted(s, out); }

void AppendJsonDouble(double v, std::string* out) { AppendDouble(v, out); }

std::string MetadataJson(const std::map<std::string, std::string>& metadata) {
  std::string out = "{";
  for (const auto& [key, value] : metadata) {
    if (out.size() > 1) out.push_back(',');
    AppendQuoted(key, &out);
    out.push_back(':');
    AppendQuoted(value, &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace dubbo::registry::nacos
