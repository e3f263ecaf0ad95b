// server_json implementation. See server_json.h.
#include "server_json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

#include "internal/ascii.h"
#include "internal/utf8.h"

namespace dubbo::registry::nacos {

namespace {

// JSON number syntax starts with '-' or a digit; from_chars alone would also take "inf" and "nan".
bool StartsLikeNumber(std::string_view text) {
  if (text.empty()) return false;
  const char c = text[0] == '-' && text.size() > 1 ? text[1] : text[0];
  return c >= '0' && c <= '9';
}

}  // namespace

bool ParseJsonDouble(std::string_view text, double* out) {
  if (!StartsLikeNumber(text)) return false;
  double value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || !std::isfinite(value)) return false;
  *out = value;
  return true;
}

bool ParseJsonInt64(std::string_view text, int64_t* out) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec == std::errc() && result.ptr == end) {
    *out = value;
    return true;
  }
  double d = 0;
  // 2^63 is exactly representable; every integral double in [-2^63, 2^63) fits an int64_t.
  if (!ParseJsonDouble(text, &d) || d != std::trunc(d) || d < -9223372036854775808.0 ||
      d >= 9223372036854775808.0) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// ---- ReadServerJson ----------------------------------------------------------------------------

namespace {

// Forwards the Reader's events to a JsonSaxHandler and refuses containers past the depth cap
// before the Reader recurses into them.
class ReaderAdapter : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ReaderAdapter> {
 public:
  explicit ReaderAdapter(JsonSaxHandler* handler) : handler_(handler) {}

  bool Null() { return handler_->OnScalar(JsonKind::kNull, "null"); }
  bool Bool(bool b) { return handler_->OnScalar(JsonKind::kBool, b ? "true" : "false"); }
  bool RawNumber(const char* s, rapidjson::SizeType length, bool) {
    return handler_->OnScalar(JsonKind::kNumber, std::string_view(s, length));
  }
  bool String(const char* s, rapidjson::SizeType length, bool) {
    return handler_->OnScalar(JsonKind::kString, std::string_view(s, length));
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    return handler_->OnKey(std::string_view(s, length));
  }
  bool StartObject() { return Start(true); }
  bool StartArray() { return Start(false); }
  bool EndObject(rapidjson::SizeType) { return End(); }
  bool EndArray(rapidjson::SizeType) { return End(); }

  bool too_deep() const { return too_deep_; }

 private:
  bool Start(bool is_object) {
    if (depth_ >= kMaxServerJsonDepth) {
      too_deep_ = true;
      return false;
    }
    ++depth_;
    return handler_->OnStart(is_object);
  }
  bool End() {
    --depth_;
    return handler_->OnEnd();
  }

  JsonSaxHandler* const handler_;
  int depth_ = 0;
  bool too_deep_ = false;
};

Status Invalid(std::string_view what, std::string_view message) {
  std::string text(what);
  text.append(": ");
  text.append(message);
  return InvalidArgumentError(text);
}

}  // namespace

Status ReadServerJson(std::string_view json, size_t max_bytes, std::string_view what,
                      JsonSaxHandler* handler) {
  if (json.size() > max_bytes) {
    return Invalid(what, "larger than " + std::to_string(max_bytes) + " bytes");
  }
  const size_t nul = json.find('\0');
  if (nul != std::string_view::npos) {
    return Invalid(what, "NUL byte at offset " + std::to_string(nul));
  }
  std::string copy(json);  // Writable and NUL-terminated, for in-situ parsing.
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  ReaderAdapter adapter(handler);
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, adapter);
  if (adapter.too_deep()) {
    return Invalid(what,
                   "nested too deeply (max " + std::to_string(kMaxServerJsonDepth) + " levels)");
  }
  if (!handler->error().empty()) return Invalid(what, handler->error());
  if (result.IsError()) {
    return Invalid(what, std::string("not valid JSON: ") +
                             rapidjson::GetParseError_En(result.Code()) + " (offset " +
                             std::to_string(result.Offset()) + ")");
  }
  return Status::Ok();
}

// ---- JsonAnswer --------------------------------------------------------------------------------

class JsonAnswer::Builder final : public JsonSaxHandler {
 public:
  explicit Builder(JsonAnswer* answer) : answer_(answer) {}

  bool OnScalar(JsonKind kind, std::string_view text) override {
    if (depth_ == 0) return Fail("the answer is not a JSON object");
    if (depth_ == 1) {
      Value& value = answer_->members_[key_];
      value = Value{kind, std::string(text), {}};
    } else if (depth_ == 2 && array_ != nullptr) {
      return AddItem(Value{kind, std::string(text), {}});
    }
    return true;
  }
  bool OnKey(std::string_view name) override {
    if (depth_ == 1) key_.assign(name);
    return true;
  }
  bool OnStart(bool is_object) override {
    if (depth_ == 0 && !is_object) return Fail("the answer is not a JSON object");
    const JsonKind kind = is_object ? JsonKind::kObject : JsonKind::kArray;
    if (depth_ == 1) {
      Value& value = answer_->members_[key_];
      value = Value{kind, {}, {}};
      array_ = is_object ? nullptr : &value;
    } else if (depth_ == 2 && array_ != nullptr) {
      if (!AddItem(Value{kind, {}, {}})) return false;
    }
    ++depth_;
    return true;
  }
  bool OnEnd() override {
    --depth_;
    if (depth_ == 1) array_ = nullptr;
    return true;
  }
  const std::string& error() const override { return error_; }

 private:
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  bool AddItem(Value item) {
    if (array_->items.size() >= kMaxAnswerArrayItems) {
      return Fail("'" + key_ + "' has more than " + std::to_string(kMaxAnswerArrayItems) +
                  " elements");
    }
    array_->items.push_back(std::move(item));
    return true;
  }

  JsonAnswer* const answer_;
  int depth_ = 0;
  std::string key_;
  Value* array_ = nullptr;  // The array member being read (depth 2), if any.
  std::string error_;
};

Result<JsonAnswer> JsonAnswer::Parse(std::string_view json, size_t max_bytes,
                                     std::string_view what) {
  JsonAnswer answer;
  Builder builder(&answer);
  DUBBO_RETURN_IF_ERROR(ReadServerJson(json, max_bytes, what, &builder));
  return answer;
}

const JsonAnswer::Value* JsonAnswer::Find(std::string_view name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

std::optional<std::string> JsonAnswer::String(std::string_view name) const {
  const Value* value = Find(name);
  if (value == nullptr || value->kind != JsonKind::kString || !IsValidUtf8(value->text)) {
    return std::nullopt;
  }
  return value->text;
}

std::optional<bool> JsonAnswer::Bool(std::string_view name) const {
  const Value* value = Find(name);
  if (value == nullptr || (value->kind != JsonKind::kBool && value->kind != JsonKind::kString)) {
    return std::nullopt;
  }
  if (internal::EqualsIgnoreCase(value->text, "true")) return true;
  if (internal::EqualsIgnoreCase(value->text, "false")) return false;
  return std::nullopt;
}

std::optional<int64_t> JsonAnswer::Int64(std::string_view name) const {
  const Value* value = Find(name);
  int64_t out = 0;
  if (value == nullptr || (value->kind != JsonKind::kNumber && value->kind != JsonKind::kString) ||
      !ParseJsonInt64(value->text, &out)) {
    return std::nullopt;
  }
  return out;
}

// ---- Durations ---------------------------------------------------------------------------------

DurationRange BeatIntervalRange(int64_t period_ms) {
  period_ms = std::max(kMinBeatPeriodMs, period_ms);
  return DurationRange{"clientBeatInterval", "ms", kMinBeatPeriodMs,
                       std::max<int64_t>(30000, period_ms), period_ms};
}

namespace {

// The value of numeric text, +-infinity past the double range; false if `text` is not a number.
bool NumberValue(std::string_view text, double* out) {
  if (!StartsLikeNumber(text)) return false;
  const char* end = text.data() + text.size();
  double value = 0;
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ptr != end) return false;
  if (result.ec == std::errc::result_out_of_range) {
    // Too large or too small in magnitude: a negative exponent means too small.
    const size_t e = text.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && e + 1 < text.size() && text[e + 1] == '-';
    value = tiny ? 0.0 : (text[0] == '-' ? -HUGE_VAL : HUGE_VAL);
  } else if (result.ec != std::errc()) {
    return false;
  }
  *out = value;
  return true;
}

std::string Shown(std::string_view text) {
  if (text.size() <= 32 && IsValidUtf8(text)) return std::string(text);
  return "(a " + std::to_string(text.size()) + "-byte value)";
}

}  // namespace

int64_t ClampDuration(const DurationRange& range, JsonKind kind, std::string_view text,
                      std::string* problem) {
  problem->clear();
  const std::string fallback = std::to_string(range.fallback) + " " + std::string(range.unit);
  if (kind == JsonKind::kNull) return range.fallback;
  double value = 0;
  if ((kind != JsonKind::kNumber && kind != JsonKind::kString) || !NumberValue(text, &value)) {
    *problem = std::string(range.field) + " is not a number; using " + fallback;
    return range.fallback;
  }
  if (!(value > 0)) {
    *problem = std::string(range.field) + " " + Shown(text) + " is not positive; using " + fallback;
    return range.fallback;
  }
  if (value > static_cast<double>(range.max)) {
    *problem = std::string(range.field) + " " + Shown(text) + " " + std::string(range.unit) +
               " is above " + std::to_string(range.max) + " " + std::string(range.unit) +
               "; using " + std::to_string(range.max) + " " + std::string(range.unit);
    return range.max;
  }
  if (value < static_cast<double>(range.min)) {
    *problem = std::string(range.field) + " " + Shown(text) + " " + std::string(range.unit) +
               " is below " + std::to_string(range.min) + " " + std::string(range.unit) +
               "; using " + std::to_string(range.min) + " " + std::string(range.unit);
    return range.min;
  }
  return static_cast<int64_t>(value);  // In [min, max]: fits, truncated toward zero.
}

int64_t ClampDuration(const DurationRange& range, const JsonAnswer& answer, std::string* problem) {
  const JsonAnswer::Value* value = answer.Find(range.field);
  if (value == nullptr) {
    problem->clear();
    return range.fallback;
  }
  return ClampDuration(range, value->kind, value->text, problem);
}

}  // namespace dubbo::registry::nacos
