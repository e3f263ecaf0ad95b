// service_info_json implementation.
//
// Input is read with RapidJSON's SAX Reader, in-situ on a private copy and non-iteratively. A small
// state machine (ServiceInfoHandler) fills the ServiceInfo as events arrive, so memory stays
// proportional to what is kept, and unknown members are only syntax-checked. The handler caps the
// nesting depth by refusing to open a container past kMaxServiceInfoJsonDepth, which stops the
// Reader before it recurses further. In-situ parsing with numbers as strings never touches the
// Reader's internal stack (whose first push does null-pointer arithmetic in Debian's
// RapidJSON 1.1), so this file is clean under UBSan with any compiler. Encoding is validated here,
// on each decoded string, not with kParseValidateEncodingFlag (which reads past the end of
// truncated UTF-8 in situ). Output is written by hand. RapidJSON reports errors by value and never
// throws.
//
// Thread-safety: stateless, safe from any thread.
#include "service_info_json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "internal/ascii.h"

namespace dubbo::registry::nacos {

namespace {

constexpr std::string_view kErrorPrefix = "service info JSON: ";
constexpr std::string_view kGroupSeparator = "@@";
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD.

// ---- UTF-8 -------------------------------------------------------------------------------------

// The length of the well-formed UTF-8 sequence starting at s[i] (1 to 4), or 0 when there is none:
// no overlong forms, no surrogates, nothing above U+10FFFF.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t length;
  unsigned char min = 0x80;
  unsigned char max = 0xBF;  // Allowed range of the second byte.
  if (c < 0xC2) {
    return 0;
  } else if (c < 0xE0) {
    length = 2;
  } else if (c < 0xF0) {
    length = 3;
    if (c == 0xE0) min = 0xA0;
    if (c == 0xED) max = 0x9F;
  } else if (c < 0xF5) {
    length = 4;
    if (c == 0xF0) min = 0x90;
    if (c == 0xF4) max = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  if (byte(i + 1) < min || byte(i + 1) > max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t length = Utf8SequenceLength(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

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

enum class ScalarKind { kNull, kBool, kNumber, kString };

// One scalar event. `text` is the decoded string, a number's source text, or "true"/"false"; it
// points into the parse buffer and lives only during the callback.
struct Scalar {
  ScalarKind kind;
  std::string_view text;
};

bool ParseDouble(std::string_view text, double* out) {
  double value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || !std::isfinite(value)) return false;
  *out = value;
  return true;
}

// A decimal integer, or an integral float within range ("1e4", "10000.0").
bool ParseInt64(std::string_view text, int64_t* out) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec == std::errc() && result.ptr == end) {
    *out = value;
    return true;
  }
  double d = 0;
  // 2^63 is exactly representable; every integral double in [-2^63, 2^63) fits an int64_t.
  if (!ParseDouble(text, &d) || d != std::trunc(d) || d < -9223372036854775808.0 ||
      d >= 9223372036854775808.0) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

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
};

class ServiceInfoHandler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ServiceInfoHandler> {
 public:
  bool Null() { return OnScalar({ScalarKind::kNull, "null"}); }
  bool Bool(bool b) { return OnScalar({ScalarKind::kBool, b ? "true" : "false"}); }
  bool RawNumber(const char* s, rapidjson::SizeType length, bool) {
    return OnScalar({ScalarKind::kNumber, std::string_view(s, length)});
  }
  bool String(const char* s, rapidjson::SizeType length, bool) {
    const std::string_view text(s, length);
    if (!IsValidUtf8(text)) return Fail(Where() + "a string is not valid UTF-8");
    return OnScalar({ScalarKind::kString, text});
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    const std::string_view text(s, length);
    if (!IsValidUtf8(text)) return Fail(Where() + "a member name is not valid UTF-8");
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
  bool StartObject() { return OnStart(/*is_object=*/true); }
  bool StartArray() { return OnStart(/*is_object=*/false); }
  bool EndObject(rapidjson::SizeType) { return OnEnd(); }
  bool EndArray(rapidjson::SizeType) { return OnEnd(); }

  // Non-empty once a callback has refused the document.
  const std::string& error() const { return error_; }
  RootFields& root() { return root_; }

 private:
  enum class FrameKind {
    kRoot,      // The document object.
    kHosts,     // The `hosts` array.
    kHost,      // One host object.
    kMetadata,  // A host's `metadata` object.
    kCapture,   // A container inside a metadata value, rendered to text.
    kSkip,      // A container inside an unknown member.
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

  // "hosts[3]: " when inside a host, else "".
  std::string Where() const {
    for (const Frame& frame : stack_) {
      if (frame.kind == FrameKind::kHost) {
        return "hosts[" + std::to_string(root_.hosts.size()) + "]: ";
      }
    }
    return {};
  }

  std::string HostField(std::string_view field) const {
    return "hosts[" + std::to_string(root_.hosts.size()) + "]." + std::string(field) + ": ";
  }

  bool OnScalar(const Scalar& v) {
    if (stack_.empty()) return Fail("the document is not a JSON object");
    Frame& top = stack_.back();
    switch (top.kind) {
      case FrameKind::kRoot:
        return SetRootField(v);
      case FrameKind::kHosts:
        return Fail("hosts[" + std::to_string(root_.hosts.size()) + "]: not an object");
      case FrameKind::kHost:
        return SetHostField(v);
      case FrameKind::kMetadata:
        if (v.kind == ScalarKind::kNull) {
          host_.instance.metadata.erase(key_);
        } else {
          host_.instance.metadata[key_] = std::string(v.text);
        }
        return true;
      case FrameKind::kCapture:
        CaptureSeparator();
        if (v.kind == ScalarKind::kString) {
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

  bool OnStart(bool is_object) {
    if (stack_.size() >= static_cast<size_t>(kMaxServiceInfoJsonDepth)) {
      return Fail("nested too deeply (max " + std::to_string(kMaxServiceInfoJsonDepth) +
                  " levels)");
    }
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
          kind = FrameKind::kHosts;
        } else if (IsRootScalarKey(key_)) {
          return Fail("'" + key_ + "': expected a scalar, got " +
                      (is_object ? "an object" : "an array"));
        }
        break;
      case FrameKind::kHosts:
        if (!is_object)
          return Fail("hosts[" + std::to_string(root_.hosts.size()) + "]: not an object");
        host_ = HostFields();
        kind = FrameKind::kHost;
        break;
      case FrameKind::kHost:
        if (key_ == "metadata") {
          if (!is_object) return Fail(HostField("metadata") + "not an object");
          host_.instance.metadata.clear();
          kind = FrameKind::kMetadata;
        } else if (IsHostScalarKey(key_)) {
          return Fail(HostField(key_) + "expected a scalar, got " +
                      (is_object ? "an object" : "an array"));
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

  bool OnEnd() {
    const Frame frame = stack_.back();
    stack_.pop_back();
    switch (frame.kind) {
      case FrameKind::kHost:
        return FinishHost();
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
    if (v.kind == ScalarKind::kNull) {
      field->reset();
    } else {
      *field = std::string(v.text);
    }
  }

  // Returns false for a value that is not a boolean; null leaves *field absent.
  static bool SetBool(const Scalar& v, std::optional<bool>* field) {
    if (v.kind == ScalarKind::kNull) {
      field->reset();
      return true;
    }
    if (v.kind != ScalarKind::kBool && v.kind != ScalarKind::kString) return false;
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
    if (v.kind == ScalarKind::kNull) {
      field->reset();
      return true;
    }
    int64_t value = 0;
    if (v.kind == ScalarKind::kBool || !ParseInt64(v.text, &value)) return false;
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
      if (!SetInt64(v, &root_.cache_millis) || root_.cache_millis.value_or(0) < 0) {
        return Fail("'cacheMillis': not an integer >= 0");
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

  bool SetHostField(const Scalar& v) {
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
        return Fail(HostField("port") + "not an integer in [0, 65535]");
      }
      host_.has_port = port.has_value();
      instance.port = static_cast<int>(port.value_or(0));
    } else if (key_ == "weight") {
      double weight = 1.0;
      if (v.kind != ScalarKind::kNull &&
          (v.kind == ScalarKind::kBool || !ParseDouble(v.text, &weight) || weight < 0)) {
        return Fail(HostField("weight") + "not a finite number >= 0");
      }
      instance.weight = weight;
    } else if (key_ == "healthy" || key_ == "valid") {
      if (!SetBool(v, key_ == "healthy" ? &host_.healthy : &host_.valid)) {
        return Fail(HostField(key_) + "not a boolean");
      }
    } else if (key_ == "enabled" || key_ == "ephemeral") {
      std::optional<bool> flag;
      if (!SetBool(v, &flag)) return Fail(HostField(key_) + "not a boolean");
      (key_ == "enabled" ? instance.enabled : instance.ephemeral) = flag.value_or(true);
    } else if (key_ == "clusterName") {
      SetText(v, &text);
      instance.cluster_name = text.value_or(std::string(kDefaultCluster));
    } else if (key_ == "serviceName") {
      SetText(v, &text);
      instance.service_name = text.value_or("");
    } else if (key_ == "metadata") {
      if (v.kind != ScalarKind::kNull) return Fail(HostField("metadata") + "not an object");
      instance.metadata.clear();
    }
    return true;
  }

  // Called after the host's frame is popped.
  bool FinishHost() {
    const std::string where = "hosts[" + std::to_string(root_.hosts.size()) + "]: ";
    if (!host_.has_ip || host_.instance.ip.empty()) return Fail(where + "missing 'ip'");
    if (!host_.has_port) return Fail(where + "missing 'port'");
    host_.instance.healthy = host_.healthy.value_or(host_.valid.value_or(true));
    root_.hosts.push_back(std::move(host_.instance));
    host_ = HostFields();
    return true;
  }

  std::vector<Frame> stack_;
  std::string key_;          // The member name most recently read outside a capture.
  std::string capture_;      // The JSON text of the metadata value being captured.
  std::string capture_key_;  // Its metadata key.
  bool after_key_ = false;   // A capture member name was written; its value comes next.
  HostFields host_;
  RootFields root_;
  std::string error_;
};

Status Invalid(std::string_view message) {
  std::string text(kErrorPrefix);
  text.append(message);
  return InvalidArgumentError(text);
}

// Keeps the last entry of each address.
std::unordered_map<std::string, const Instance*> ByAddress(const std::vector<Instance>& hosts) {
  std::unordered_map<std::string, const Instance*> map;
  map.reserve(hosts.size());
  for (const Instance& host : hosts) map[host.Address()] = &host;
  return map;
}

}  // namespace

Result<ServiceInfo> ParseServiceInfo(std::string_view json) {
  if (json.size() > kMaxServiceInfoJsonBytes) {
    return Invalid("larger than " + std::to_string(kMaxServiceInfoJsonBytes) + " bytes");
  }
  const size_t nul = json.find('\0');
  if (nul != std::string_view::npos) {
    return Invalid("NUL byte at offset " + std::to_string(nul));
  }
  std::string copy(json);  // Writable and NUL-terminated, for in-situ parsing.
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  ServiceInfoHandler handler;
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
  if (!handler.error().empty()) return Invalid(handler.error());
  if (result.IsError()) {
    return Invalid(std::string("not valid JSON: ") + rapidjson::GetParseError_En(result.Code()) +
                   " (offset " + std::to_string(result.Offset()) + ")");
  }

  RootFields& root = handler.root();
  if (!root.name || root.name->empty()) return Invalid("missing 'name'");
  if (!root.has_hosts) return Invalid("missing 'hosts'");

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
  info.cache_millis = root.cache_millis.value_or(ServiceInfo().cache_millis);
  info.last_ref_time = root.last_ref_time.value_or(0);
  info.reach_protection_threshold = root.reach_protection_threshold.value_or(false);
  info.hosts = std::move(root.hosts);
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
  return std::any_of(info.hosts.begin(), info.hosts.end(), [](const Instance& host) {
    return host.healthy && host.enabled && host.weight > 0;
  });
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
