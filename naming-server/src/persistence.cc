// The data file. See persistence.h for the format and the contract.
//
// DecodeData() uses RapidJSON's SAX Reader in-situ, non-iteratively, with a handler that follows
// the schema: every container it does not expect stops the parse, which bounds the recursion.
#include "persistence.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

#include "internal/atomic_file.h"
#include "internal/utf8.h"
#include "json_out.h"
#include "naming_json.h"

namespace dubbo::naming_server {

using registry::InvalidArgumentError;
using registry::internal::ErrnoText;
using registry::internal::IsValidUtf8;

namespace {

void WriteInstance(JsonOut& out, const Instance& instance) {
  out.BeginObject();
  out.Key("cluster");
  out.String(instance.cluster_name);
  out.Key("ip");
  out.String(instance.ip);
  out.Key("port");
  out.Int(instance.port);
  out.Key("weight");
  out.Double(instance.weight);
  out.Key("healthy");
  out.Bool(instance.healthy);
  out.Key("enabled");
  out.Bool(instance.enabled);
  out.Key("app");
  out.String(instance.app);
  out.Key("metadata");
  out.Metadata(instance.metadata);
  if (!instance.instance_id.empty()) {
    out.Key("instanceId");
    out.String(instance.instance_id);
  }
  out.EndObject();
}

// Where the handler is in the schema.
enum class Where { kRoot, kServices, kService, kServiceMetadata, kInstances, kInstance, kMetadata };

// Members each object must have.
constexpr unsigned kHasFormat = 1, kHasVersion = 2, kHasServices = 4;
constexpr unsigned kHasNamespace = 1, kHasName = 2;
constexpr unsigned kHasCluster = 1, kHasIp = 2, kHasPort = 4;

// The namespace ids the HTTP layer accepts: 1 to 64 bytes of [0-9a-zA-Z_-].
bool IsNamespaceId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-';
  });
}

std::optional<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

class DataHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DataHandler> {
 public:
  DataHandler(const DataLimits& limits, std::vector<PersistentService>* out)
      : limits_(limits), out_(out) {}

  bool Null() { return Unexpected("null"); }
  bool Bool(bool b) {
    if (At(Where::kService) && key_ == "explicit") return Set(&service().explicit_service, b);
    if (At(Where::kInstance) && key_ == "healthy") return Set(&instance().healthy, b);
    if (At(Where::kInstance) && key_ == "enabled") return Set(&instance().enabled, b);
    return Unexpected("a boolean");
  }
  bool RawNumber(const char* s, rapidjson::SizeType length, bool) {
    const std::string_view text(s, length);
    if (At(Where::kRoot) && key_ == "version") {
      seen_ |= kHasVersion;
      if (ParseInteger(text) != kDataVersion) {
        return Fail("version " + std::string(text) + "; this server reads version " +
                    std::to_string(kDataVersion));
      }
      return true;
    }
    if (At(Where::kService) && key_ == "protectThreshold") {
      const std::optional<double> value = ParseDouble(text);
      return value ? Set(&service().protect_threshold, *value) : OutOfRange(text);
    }
    if (At(Where::kInstance) && key_ == "port") {
      const std::optional<int64_t> value = ParseInteger(text);
      if (!value || *value < 0 || *value > 65535) return OutOfRange(text);
      instance_seen_ |= kHasPort;
      return Set(&instance().port, static_cast<int>(*value));
    }
    if (At(Where::kInstance) && key_ == "weight") {
      const std::optional<double> value = ParseDouble(text);
      return value ? Set(&instance().weight, *value) : OutOfRange(text);
    }
    return Unexpected("a number");
  }
  bool String(const char* s, rapidjson::SizeType length, bool) {
    std::string text(s, length);
    if (!IsValidUtf8(text)) return Fail("a string is not valid UTF-8");
    switch (where_.empty() ? Where::kRoot : where_.back()) {
      case Where::kRoot:
        if (where_.empty() || key_ != "format") break;
        if (text != kDataFormat) return Fail("format \"" + text + "\" is not " + kDataFormat);
        seen_ |= kHasFormat;
        return true;
      case Where::kService:
        if (key_ == "namespaceId") return SetString(&service().namespace_id, text, kHasNamespace);
        if (key_ == "name") return SetString(&service().service_name, text, kHasName);
        if (key_ == "protectThreshold") {  // JsonOut's spelling of a non-finite double.
          if (text == "NaN") return Set(&service().protect_threshold, std::nan(""));
          if (text == "Infinity") return Set(&service().protect_threshold, HUGE_VAL);
          if (text == "-Infinity") return Set(&service().protect_threshold, -HUGE_VAL);
          return OutOfRange(text);
        }
        break;
      case Where::kInstance:
        if (key_ == "cluster") return SetString(&instance().cluster_name, text, kHasCluster);
        if (key_ == "ip") return SetString(&instance().ip, text, kHasIp);
        if (key_ == "app") return SetString(&instance().app, text, 0);
        if (key_ == "instanceId") return SetString(&instance().instance_id, text, 0);
        break;
      case Where::kServiceMetadata:
        return AddMetadata(&service().metadata, std::move(text));
      case Where::kMetadata:
        return AddMetadata(&metadata_, std::move(text));
      default:
        break;
    }
    return Unexpected("a string");
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    key_.assign(s, length);
    if (!IsValidUtf8(key_)) return Fail("a member name is not valid UTF-8");
    return true;
  }
  bool StartObject() {
    if (where_.empty()) return Enter(Where::kRoot);
    if (At(Where::kServices)) {
      if (out_->size() >= limits_.max_services) {
        return Fail("more than " + std::to_string(limits_.max_services) +
                    " services (max_total_services)");
      }
      out_->emplace_back();
      service_seen_ = 0;
      return Enter(Where::kService);
    }
    if (At(Where::kInstances)) {
      if (instances_ >= limits_.max_instances) {
        return Fail("more than " + std::to_string(limits_.max_instances) +
                    " instances (max_total_instances)");
      }
      ++instances_;
      service().instances.emplace_back();
      instance().ephemeral = false;
      instance_seen_ = 0;
      return Enter(Where::kInstance);
    }
    if (At(Where::kService) && key_ == "metadata") return Enter(Where::kServiceMetadata);
    if (At(Where::kInstance) && key_ == "metadata") {
      metadata_.clear();
      return Enter(Where::kMetadata);
    }
    return Unexpected("an object");
  }
  bool EndObject(rapidjson::SizeType) {
    const Where done = where_.back();
    where_.pop_back();
    switch (done) {
      case Where::kRoot:
        if (seen_ != (kHasFormat | kHasVersion | kHasServices)) {
          return Fail("the format, version and services members are required");
        }
        return true;
      case Where::kService:
        if (service_seen_ != (kHasNamespace | kHasName)) {
          return Fail("a service needs namespaceId and name");
        }
        if (!IsNamespaceId(service().namespace_id)) return Fail("a namespaceId is not valid");
        return true;
      case Where::kInstance:
        if (instance_seen_ != (kHasCluster | kHasIp | kHasPort)) {
          return Fail("an instance needs cluster, ip and port");
        }
        return true;
      case Where::kMetadata:
        instance().metadata = std::move(metadata_);
        metadata_.clear();
        return true;
      default:
        return true;
    }
  }
  bool StartArray() {
    if (At(Where::kRoot) && key_ == "services") {
      seen_ |= kHasServices;
      return Enter(Where::kServices);
    }
    if (At(Where::kService) && key_ == "instances") return Enter(Where::kInstances);
    return Unexpected("an array");
  }
  bool EndArray(rapidjson::SizeType) {
    where_.pop_back();
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool At(Where where) const { return !where_.empty() && where_.back() == where; }
  bool Enter(Where where) {
    where_.push_back(where);
    return true;
  }
  PersistentService& service() { return out_->back(); }
  Instance& instance() { return out_->back().instances.back(); }
  template <typename T>
  bool Set(T* field, T value) {
    *field = value;
    return true;
  }
  bool SetString(std::string* field, std::string text, unsigned bit) {
    *field = std::move(text);
    (At(Where::kService) ? service_seen_ : instance_seen_) |= bit;
    return true;
  }
  bool AddMetadata(Metadata* metadata, std::string value) {
    if (!metadata->emplace(key_, std::move(value)).second) {
      return Fail("metadata key \"" + key_ + "\" appears twice");
    }
    return true;
  }
  bool Unexpected(const std::string& what) { return Fail(what + " at \"" + key_ + "\""); }
  bool OutOfRange(std::string_view text) {
    return Fail("\"" + key_ + "\" is out of range: " + std::string(text));
  }
  bool Fail(std::string message) {
    if (error_.empty()) {
      error_ = std::move(message);
      if (!out_->empty()) {
        error_ += " (service " + std::to_string(out_->size());
        if (!service().service_name.empty()) error_ += " \"" + service().service_name + "\"";
        error_ += ")";
      }
    }
    return false;
  }

  const DataLimits limits_;
  std::vector<PersistentService>* const out_;
  std::vector<Where> where_;
  std::string key_;
  unsigned seen_ = 0;
  unsigned service_seen_ = 0;
  unsigned instance_seen_ = 0;
  size_t instances_ = 0;
  Metadata metadata_;  // Of the instance being read (its SharedMetadata is immutable).
  std::string error_;
};

}  // namespace

std::string EncodeData(const std::vector<PersistentService>& services) {
  JsonOut out;
  out.BeginObject();
  out.Key("format");
  out.String(kDataFormat);
  out.Key("version");
  out.Int(kDataVersion);
  out.Key("services");
  out.BeginArray();
  for (const PersistentService& service : services) {
    out.BeginObject();
    out.Key("namespaceId");
    out.String(service.namespace_id);
    out.Key("name");
    out.String(service.service_name);
    out.Key("explicit");
    out.Bool(service.explicit_service);
    if (service.explicit_service) {
      out.Key("protectThreshold");
      out.Double(service.protect_threshold);
      out.Key("metadata");
      out.Metadata(service.metadata);
    }
    out.Key("instances");
    out.BeginArray();
    for (const Instance& instance : service.instances) WriteInstance(out, instance);
    out.EndArray();
    out.EndObject();
  }
  out.EndArray();
  out.EndObject();
  return out.Take();
}

Result<std::vector<PersistentService>> DecodeData(std::string text, const DataLimits& limits) {
  if (text.size() > kMaxDataFileBytes) {
    return InvalidArgumentError("larger than " + std::to_string(kMaxDataFileBytes) + " bytes");
  }
  if (!IsValidUtf8(text)) return InvalidArgumentError("not valid UTF-8");
  if (const size_t nul = text.find('\0'); nul != std::string::npos) {
    return InvalidArgumentError("a NUL byte at offset " + std::to_string(nul));
  }
  std::vector<PersistentService> services;
  DataHandler handler(limits, &services);
  rapidjson::InsituStringStream stream(&text[0]);
  rapidjson::Reader reader;
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
  if (!handler.error().empty()) return InvalidArgumentError(handler.error());
  if (result.IsError()) {
    return InvalidArgumentError(std::string("not valid JSON: ") +
                                rapidjson::GetParseError_En(result.Code()) + " (offset " +
                                std::to_string(result.Offset()) + ")");
  }
  return services;
}

DataFile::DataFile(const std::string& dir) : dir_(dir), path_(dir + "/" + kDataFileName) {}

Result<std::vector<PersistentService>> DataFile::Load(const DataLimits& limits) const {
  struct stat info {};
  if (::stat(dir_.c_str(), &info) != 0) {
    if (errno != ENOENT || ::mkdir(dir_.c_str(), 0700) != 0) {
      return registry::InternalError("data directory " + dir_ + ": " + ErrnoText(errno));
    }
  } else if (!S_ISDIR(info.st_mode)) {
    return registry::FailedPreconditionError("data directory " + dir_ + " is not a directory");
  }
  Result<std::string> text = registry::internal::ReadWholeFile(path_, kMaxDataFileBytes);
  if (!text.ok()) {
    if (text.status().code() == registry::StatusCode::kNotFound) {
      return std::vector<PersistentService>();
    }
    if (text.status().code() == registry::StatusCode::kInvalidArgument) {
      return registry::FailedPreconditionError(text.status().message());
    }
    return text.status();
  }
  Result<std::vector<PersistentService>> decoded = DecodeData(std::move(text).value(), limits);
  if (!decoded.ok()) {
    return registry::FailedPreconditionError(path_ + " is not a valid data file (left as it is): " +
                                             std::string(decoded.status().message()));
  }
  return decoded;
}

Status DataFile::Save(uint64_t generation, const std::vector<PersistentService>& services) {
  const std::string text = EncodeData(services);  // Outside the mutex: writers encode in parallel.
  std::lock_guard<std::mutex> lock(mu_);
  latest_generation_ = std::max(latest_generation_, generation);
  if (generation <= saved_generation_) return Status::Ok();
  if (text.size() > kMaxDataFileBytes) {
    return registry::ResourceExhaustedError(
        "the data is " + std::to_string(text.size()) + " bytes, more than the " +
        std::to_string(kMaxDataFileBytes) + " a data file may hold");
  }
  DUBBO_RETURN_IF_ERROR(registry::internal::WriteFileAtomically(path_, text));
  saved_generation_ = generation;
  return Status::Ok();
}

bool DataFile::behind() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_generation_ > saved_generation_;
}

}  // namespace dubbo::naming_server
