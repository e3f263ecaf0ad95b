// naming_json implementation.
//
// RapidJSON 1.1's internal stack adds an offset to a null pointer on its first push (undefined
// behaviour; clang builds hide it with cmake/sanitizer-ignorelist.txt), and every DOM parse, Writer
// container and StringBuffer pushes. This file never uses that stack, so it is clean under any
// UBSan build: output is written by the small JsonOut (json_out.h), and input is read with the
// SAX Reader in-situ (strings and numbers decoded in a private copy), non-iteratively, with the
// depth capped by the handler. RapidJSON reports errors by value and never throws.
//
// Thread-safety: stateless, safe from any thread.
#include "naming_json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "internal/md5.h"
#include "internal/utf8.h"
#include "json_out.h"

namespace dubbo::naming_server {

using registry::InvalidArgumentError;
using registry::internal::IsValidUtf8;

std::optional<double> ParseDouble(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

namespace {

// Every UTF-8 error of the parsers reads "<what> is not valid UTF-8...".
constexpr std::string_view kNotUtf8 = "not valid UTF-8";

void WriteHost(JsonOut& out, const Instance& host, bool grouped_names) {
  out.BeginObject();
  out.Key("ip");
  out.String(host.ip);
  out.Key("port");
  out.Int(host.port);
  out.Key("valid");
  out.Bool(host.healthy);
  out.Key("healthy");
  out.Bool(host.healthy);
  out.Key("marked");
  out.Bool(host.marked);
  out.Key("instanceId");
  out.String(host.instance_id);
  out.Key("metadata");
  out.Metadata(host.metadata);
  out.Key("enabled");
  out.Bool(host.enabled);
  out.Key("weight");
  out.Double(host.weight);
  out.Key("clusterName");
  out.String(host.cluster_name);
  out.Key("serviceName");
  out.String(grouped_names ? std::string_view(host.service_name)
                           : UngroupedServiceName(host.service_name));
  out.Key("ephemeral");
  out.Bool(host.ephemeral);
  out.EndObject();
}

// Length-prefixed fields: no two different snapshots give the same text.
std::string ChecksumText(const ServiceSnapshot& snapshot) {
  std::string text;
  auto add = [&text](std::string_view field) {
    text += std::to_string(field.size());
    text += ':';
    text += field;
  };
  auto add_metadata = [&add](const Metadata& metadata) {
    add(std::to_string(metadata.size()));
    for (const auto& [key, value] : metadata) {
      add(key);
      add(value);
    }
  };
  add(snapshot.service_name);
  add(NormalizedClusters(snapshot.clusters));
  add(JavaDoubleToString(snapshot.protect_threshold));
  add_metadata(snapshot.metadata);
  for (const Instance& host : snapshot.hosts) {
    add(host.instance_id);
    add(host.ip);
    add(std::to_string(host.port));
    add(JavaDoubleToString(host.weight));
    add(std::string{host.healthy ? 'h' : '-', host.enabled ? 'e' : '-', host.ephemeral ? 't' : '-',
                    host.marked ? 'm' : '-'});
    add(host.cluster_name);
    add(host.service_name);
    add_metadata(host.metadata);
  }
  return text;
}

class TreeHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TreeHandler> {
 public:
  bool Null() { return Add(JsonNode::Kind::kNull, {}); }
  bool Bool(bool b) { return Add(JsonNode::Kind::kBool, b ? "true" : "false"); }
  bool RawNumber(const char* s, rapidjson::SizeType length, bool) {
    return Add(JsonNode::Kind::kNumber, std::string_view(s, length));
  }
  // Decoded strings must be valid UTF-8: an escape can spell a lone surrogate (\udc00) that the
  // input's own bytes do not contain.
  bool String(const char* s, rapidjson::SizeType length, bool) {
    if (!IsValidUtf8(std::string_view(s, length))) return BadUtf8();
    return Add(JsonNode::Kind::kString, std::string_view(s, length));
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    if (!IsValidUtf8(std::string_view(s, length))) return BadUtf8();
    key_.assign(s, length);
    return true;
  }
  bool StartObject() { return Open(JsonNode::Kind::kObject); }
  bool StartArray() { return Open(JsonNode::Kind::kArray); }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

  TreeHandler(int max_levels, size_t max_values)
      : max_levels_(max_levels), max_values_(max_values) {}
  bool too_deep() const { return too_deep_; }
  bool too_many() const { return too_many_; }
  bool bad_utf8() const { return bad_utf8_; }
  JsonNode TakeRoot() { return std::move(root_); }

 private:
  bool Add(JsonNode::Kind kind, std::string_view text) {
    if (++values_ > max_values_) {
      too_many_ = true;
      return false;  // Stops the parse.
    }
    JsonNode* parent = depth_ == 0 ? nullptr : open_.back();
    if (depth_ > 0 && parent == nullptr) return true;  // Below the kept levels: syntax only.
    JsonNode node;
    node.kind = kind;
    node.text = std::string(text);
    if (parent == nullptr) {
      root_ = std::move(node);
      last_ = &root_;
    } else {
      if (parent->kind == JsonNode::Kind::kObject) node.key = key_;
      parent->members.push_back(std::move(node));
      last_ = &parent->members.back();
    }
    return true;
  }
  bool Open(JsonNode::Kind kind) {
    const bool kept = depth_ == 0 || open_.back() != nullptr;
    if (!Add(kind, {})) return false;
    if (++depth_ > kMaxJsonDepth) {
      too_deep_ = true;
      return false;  // Stops the parse before it recurses any deeper.
    }
    // The members of a container `depth_` deep are kept while depth_ <= max_levels_. A parent's
    // member list does not grow while a child is open, so the pointer stays valid.
    open_.push_back(kept && depth_ <= max_levels_ ? last_ : nullptr);
    return true;
  }
  bool Close() {
    --depth_;
    open_.pop_back();
    return true;
  }
  bool BadUtf8() {
    bad_utf8_ = true;
    return false;  // Stops the parse.
  }

  const int max_levels_;
  const size_t max_values_;
  size_t values_ = 0;
  std::vector<JsonNode*> open_;  // The open containers; nullptr where members are not kept.
  JsonNode* last_ = nullptr;     // The node added last.
  int depth_ = 0;
  bool too_deep_ = false;
  bool too_many_ = false;
  bool bad_utf8_ = false;
  std::string key_;
  JsonNode root_;
};

}  // namespace

Status ParseJsonTree(std::string_view json, int max_levels, size_t max_values, JsonNode* root,
                     bool* bad_utf8) {
  *bad_utf8 = false;
  if (!IsValidUtf8(json)) {
    *bad_utf8 = true;
    return InvalidArgumentError(kNotUtf8);
  }
  const size_t nul = json.find('\0');
  if (nul != std::string_view::npos) {
    return InvalidArgumentError("not valid JSON: NUL byte (offset " + std::to_string(nul) + ")");
  }
  std::string copy(json);  // Null-terminated and writable, for in-situ parsing.
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  TreeHandler handler(max_levels, max_values);
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseStopWhenDoneFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
  if (handler.too_many()) {
    return InvalidArgumentError("too many values (max " + std::to_string(max_values) + ")");
  }
  if (handler.too_deep()) {
    return InvalidArgumentError("nested too deeply (max " + std::to_string(kMaxJsonDepth) +
                                " levels)");
  }
  if (handler.bad_utf8() || result.Code() == rapidjson::kParseErrorStringUnicodeSurrogateInvalid ||
      result.Code() == rapidjson::kParseErrorStringInvalidEncoding) {
    *bad_utf8 = true;
    return InvalidArgumentError(std::string(kNotUtf8) +
                                ": a string escape spells an unpaired surrogate (offset " +
                                std::to_string(result.Offset()) + ")");
  }
  if (result.IsError()) {
    return InvalidArgumentError(std::string("not valid JSON: ") +
                                rapidjson::GetParseError_En(result.Code()) + " (offset " +
                                std::to_string(result.Offset()) + ")");
  }
  *root = handler.TakeRoot();
  return Status::Ok();
}

std::optional<Metadata> MetadataFromObject(const JsonNode& object) {
  Metadata metadata;
  for (const JsonNode& member : object.members) {
    switch (member.kind) {
      case JsonNode::Kind::kNull:
        metadata.erase(member.key);
        break;
      case JsonNode::Kind::kBool:
      case JsonNode::Kind::kNumber:
      case JsonNode::Kind::kString:
        metadata[member.key] = member.text;
        break;
      case JsonNode::Kind::kObject:
      case JsonNode::Kind::kArray:
        return std::nullopt;
    }
  }
  return metadata;
}

namespace {

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

// Java String.split with a one-character literal separator (trailing empty parts dropped).
std::vector<std::string_view> JavaSplit(std::string_view s, char sep) {
  if (s.find(sep) == std::string_view::npos) return {s};
  std::vector<std::string_view> parts;
  size_t begin = 0;
  for (size_t pos = s.find(sep); pos != std::string_view::npos; pos = s.find(sep, begin)) {
    parts.push_back(s.substr(begin, pos - begin));
    begin = pos + 1;
  }
  parts.push_back(s.substr(begin));
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts;
}

// An int, or a float with no fraction in int range (Jackson's ACCEPT_FLOAT_AS_INT).
std::optional<int> ParseInt(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc() && end == text.data() + text.size()) return value;
  const std::optional<double> d = ParseDouble(text);
  if (!d || std::trunc(*d) != *d || *d < std::numeric_limits<int>::min() ||
      *d > std::numeric_limits<int>::max()) {
    return std::nullopt;
  }
  return static_cast<int>(*d);
}

bool IsText(const JsonNode& node) {
  return node.kind == JsonNode::Kind::kString || node.kind == JsonNode::Kind::kNumber;
}

Status BadBeatField(std::string_view field) {
  return InvalidArgumentError("beat field '" + std::string(field) + "' has an invalid value");
}

}  // namespace

std::string Md5Hex(std::string_view data) { return registry::internal::Md5Hex(data); }

std::string RenderInstanceList(const ServiceSnapshot& snapshot, const ListRenderOptions& options) {
  if (snapshot.found) {
    return AssembleInstanceList(RenderListParts(snapshot, options.grouped_names),
                                options.cache_millis, snapshot.clusters, options.env);
  }
  JsonOut out;
  out.BeginObject();
  out.Key("name");
  out.String(snapshot.service_name);
  out.Key("clusters");
  out.String(snapshot.clusters);
  out.Key("cacheMillis");
  out.Int(options.cache_millis);
  out.Key("hosts");
  out.BeginArray();
  out.EndArray();
  out.EndObject();
  return out.Take();
}

ListAnswerParts RenderListParts(const ServiceSnapshot& snapshot, bool grouped_names) {
  ListAnswerParts parts;
  JsonOut head;
  head.BeginObject();
  if (snapshot.has_instances) {
    head.Key("hosts");
    head.BeginArray();
    for (const Instance& host : snapshot.hosts) WriteHost(head, host, grouped_names);
    head.EndArray();
  }
  head.Key("dom");
  head.String(grouped_names ? std::string_view(snapshot.service_name)
                            : UngroupedServiceName(snapshot.service_name));
  head.Key("name");
  head.String(snapshot.service_name);
  head.Key("cacheMillis");
  parts.head = head.Take();
  parts.middle = ",\"lastRefTime\":" + std::to_string(snapshot.last_ref_time) + ",\"checksum\":\"" +
                 Md5Hex(ChecksumText(snapshot)) + "\",\"useSpecifiedURL\":false,\"clusters\":";
  JsonOut metadata;
  metadata.Metadata(snapshot.metadata);
  parts.tail = std::string(snapshot.has_instances ? "" : ",\"hosts\":[]") +
               ",\"metadata\":" + metadata.Take() + "}";
  return parts;
}

std::string AssembleInstanceList(const ListAnswerParts& parts, int64_t cache_millis,
                                 std::string_view clusters, std::string_view env) {
  JsonOut echoed;  // `"<clusters>","env":"<env>"`
  echoed.String(clusters);
  std::string text = echoed.Take();
  text += ",\"env\":";
  JsonOut env_out;
  env_out.String(env);
  text += env_out.Take();
  const std::string millis = std::to_string(cache_millis);
  std::string out;
  out.reserve(parts.size() + millis.size() + text.size());
  out.append(parts.head).append(millis).append(parts.middle).append(text).append(parts.tail);
  return out;
}

std::string RenderBeatResult(const BeatResult& result) {
  JsonOut out;
  out.BeginObject();
  out.Key("clientBeatInterval");
  out.Int(result.client_beat_interval.count());
  out.Key("code");
  out.Int(result.code());
  if (result.found) {
    out.Key("lightBeatEnabled");
    out.Bool(result.light_beat_enabled);
  }
  out.EndObject();
  return out.Take();
}

std::string RenderInstanceDetail(const Instance& instance) {
  JsonOut out;
  out.BeginObject();
  out.Key("service");
  out.String(instance.service_name);
  out.Key("ip");
  out.String(instance.ip);
  out.Key("port");
  out.Int(instance.port);
  out.Key("clusterName");
  out.String(instance.cluster_name);
  out.Key("weight");
  out.Double(instance.weight);
  out.Key("healthy");
  out.Bool(instance.healthy);
  out.Key("instanceId");
  out.String(instance.instance_id);
  out.Key("metadata");
  out.Metadata(instance.metadata);
  out.EndObject();
  return out.Take();
}

std::string RenderServiceList(const ServiceListPage& page) {
  JsonOut out;
  out.BeginObject();
  out.Key("doms");
  out.BeginArray();
  for (const std::string& name : page.names) out.String(name);
  out.EndArray();
  out.Key("count");
  out.Int(static_cast<int64_t>(page.count));
  out.EndObject();
  return out.Take();
}

std::string RenderServiceDetail(const ServiceInfo& service) {
  JsonOut out;
  out.BeginObject();
  out.Key("name");
  out.String(UngroupedServiceName(service.service_name));
  out.Key("namespaceId");
  out.String(service.namespace_id);
  out.Key("protectThreshold");
  out.Double(service.protect_threshold);
  out.Key("metadata");
  out.Metadata(service.metadata);
  out.Key("selector");
  out.BeginObject();
  out.Key("type");
  out.String("none");
  out.EndObject();
  out.Key("groupName");
  out.String(GroupNameOf(service.service_name));
  out.Key("clusters");
  out.BeginArray();
  for (const std::string& cluster : service.clusters) {
    out.BeginObject();
    out.Key("name");
    out.String(cluster);
    out.Key("healthChecker");
    out.BeginObject();
    out.Key("type");
    out.String("TCP");
    out.EndObject();
    out.Key("metadata");
    out.BeginObject();
    out.EndObject();
    out.EndObject();
  }
  out.EndArray();
  out.EndObject();
  return out.Take();
}

std::string RenderMetrics(const MetricsView& metrics) {
  JsonOut out;
  out.BeginObject();
  out.Key("status");
  out.String(metrics.status);
  out.Key("serviceCount");
  out.Int(static_cast<int64_t>(metrics.service_count));
  out.Key("instanceCount");
  out.Int(static_cast<int64_t>(metrics.instance_count));
  out.Key("raftNotifyTaskCount");
  out.Int(0);
  out.Key("responsibleServiceCount");
  out.Int(static_cast<int64_t>(metrics.service_count));
  out.Key("responsibleInstanceCount");
  out.Int(static_cast<int64_t>(metrics.instance_count));
  out.Key("cpu");
  out.Double(metrics.cpu);
  out.Key("load");
  out.Double(metrics.load);
  out.Key("mem");
  out.Double(metrics.mem);
  out.EndObject();
  return out.Take();
}

Result<Metadata> ParseMetadata(std::string_view raw, RejectReason* reason) {
  if (reason != nullptr) *reason = RejectReason::kInvalidParameter;
  if (raw.size() > kMaxMetadataBytes) {
    return InvalidArgumentError("metadata too large: " + std::to_string(raw.size()) +
                                " bytes (max " + std::to_string(kMaxMetadataBytes) + ")");
  }
  if (IsBlank(raw)) return Metadata();
  JsonNode root;
  bool bad_utf8 = false;
  const Status parsed = ParseJsonTree(raw, 2, SIZE_MAX, &root, &bad_utf8);
  // Not read as the legacy form: stored text must be valid UTF-8 however it is read.
  if (bad_utf8) {
    if (reason != nullptr) *reason = RejectReason::kInvalidUtf8;
    return InvalidArgumentError("metadata is " + std::string(parsed.message()));
  }
  if (parsed.ok()) {
    if (root.kind == JsonNode::Kind::kNull) return Metadata();
    if (root.kind == JsonNode::Kind::kObject) {
      std::optional<Metadata> metadata = MetadataFromObject(root);
      if (metadata) return *std::move(metadata);
    }
  }
  // Legacy "k1=v1,k2=v2".
  Metadata metadata;
  for (std::string_view entry : JavaSplit(raw, ',')) {
    const std::vector<std::string_view> kv = JavaSplit(entry, '=');
    if (kv.size() != 2)
      return InvalidArgumentError("metadata format incorrect:" + std::string(raw));
    metadata[std::string(kv[0])] = std::string(kv[1]);
  }
  return metadata;
}

Result<BeatInfo> ParseBeatInfo(std::string_view json, RejectReason* reason) {
  if (reason != nullptr) *reason = RejectReason::kInvalidParameter;
  if (json.size() > kMaxBeatBytes) {
    return InvalidArgumentError("beat too large: " + std::to_string(json.size()) + " bytes (max " +
                                std::to_string(kMaxBeatBytes) + ")");
  }
  JsonNode root;
  bool bad_utf8 = false;
  const Status parsed = ParseJsonTree(json, 2, SIZE_MAX, &root, &bad_utf8);
  if (!parsed.ok()) {
    if (bad_utf8 && reason != nullptr) *reason = RejectReason::kInvalidUtf8;
    return InvalidArgumentError("beat is " + std::string(parsed.message()));
  }
  if (root.kind != JsonNode::Kind::kObject)
    return InvalidArgumentError("beat must be a JSON object");

  BeatInfo beat;
  for (const JsonNode& member : root.members) {
    const std::string& name = member.key;
    if (member.kind == JsonNode::Kind::kNull) continue;
    if (name == "ip" || name == "cluster" || name == "serviceName") {
      if (!IsText(member)) return BadBeatField(name);
      if (name == "ip") {
        beat.ip = member.text;
      } else if (name == "cluster") {
        beat.cluster = member.text;
      } else {
        beat.service_name = member.text;
      }
    } else if (name == "port") {
      const std::optional<int> port = IsText(member) ? ParseInt(member.text) : std::nullopt;
      if (!port) return BadBeatField(name);
      beat.port = *port;
    } else if (name == "weight") {
      const std::optional<double> weight = IsText(member) ? ParseDouble(member.text) : std::nullopt;
      if (!weight) return BadBeatField(name);
      beat.weight = *weight;
    } else if (name == "ephemeral") {
      if (member.text != "true" && member.text != "false") return BadBeatField(name);
      beat.ephemeral = member.text == "true";
    } else if (name == "metadata") {
      std::optional<Metadata> metadata =
          member.kind == JsonNode::Kind::kObject ? MetadataFromObject(member) : std::nullopt;
      if (!metadata) return BadBeatField(name);
      beat.metadata = *std::move(metadata);
    }
  }
  return beat;
}

}  // namespace dubbo::naming_server
