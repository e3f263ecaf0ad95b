// Internal: the one capped way the naming client reads JSON that a server sent (list answers and
// push data through ParseServiceInfo's handler, beat, login, service-list and metrics answers
// through JsonAnswer), and the ranges that durations from the wire are clamped to.
//
// Every document goes through ReadServerJson(): a size cap checked before parsing, no NUL byte,
// RapidJSON's SAX Reader in situ on a private copy with numbers kept as text, and a nesting cap
// enforced before the Reader recurses into a container. No DOM is built, so nothing recurses on
// destruction either, and the Reader's internal stack is never used (its first push does
// null-pointer arithmetic in Debian's RapidJSON 1.1, which UBSan reports). RapidJSON reports
// errors by value and never throws.
//
// Durations are advisory: a server tells the client when to beat, when to log in again and when to
// poll. A number (or numeric text) is clamped into its DurationRange; a value that is absent or
// null is the range's fallback; a value <= 0 or that is not a number is the fallback too, with a
// problem text for a (rate-limited) warning. No duration from the wire can make the client spin
// or go silent.
//
// Thread-safety: stateless functions and plain values, safe from any thread.
#ifndef DUBBO_NACOS_CLIENT_SRC_SERVER_JSON_H_
#define DUBBO_NACOS_CLIENT_SRC_SERVER_JSON_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/result.h"
#include "internal/utf8.h"

namespace dubbo::registry::nacos {

// Containers nested deeper than this (the root is level 1) are refused before they are read.
inline constexpr int kMaxServerJsonDepth = 32;
// Size caps: small answers (beat, login, metrics) and list-shaped ones (service data, push data,
// service names). Real answers are a few hundred bytes and a few megabytes at most.
inline constexpr size_t kMaxSmallAnswerBytes = 64 * 1024;
inline constexpr size_t kMaxListAnswerBytes = 16 * 1024 * 1024;
// Elements of one array member that a JsonAnswer keeps; a longer array refuses the answer.
inline constexpr size_t kMaxAnswerArrayItems = 1 << 20;

// ---- Text helpers ------------------------------------------------------------------------------

using internal::IsValidUtf8;
using internal::Utf8SequenceLength;

// A finite double in JSON number syntax (from_chars: no leading '+', no "inf"/"nan").
bool ParseJsonDouble(std::string_view text, double* out);
// A decimal integer, or an integral float within int64 range ("1e4", "10000.0").
bool ParseJsonInt64(std::string_view text, int64_t* out);

// ---- The SAX path ------------------------------------------------------------------------------

enum class JsonKind { kNull, kBool, kNumber, kString, kArray, kObject };

// Receives the events of one document. Strings and member names are decoded but not checked for
// UTF-8 (a handler decides what invalid text costs). `text` is a number's source text, "true",
// "false" or "null" for the other scalars; it lives only during the call. Returning false stops the
// read; error() then says why.
class JsonSaxHandler {
 public:
  virtual ~JsonSaxHandler() = default;
  virtual bool OnScalar(JsonKind kind, std::string_view text) = 0;
  virtual bool OnKey(std::string_view name) = 0;
  virtual bool OnStart(bool is_object) = 0;
  virtual bool OnEnd() = 0;
  // Non-empty once a callback refused the document.
  virtual const std::string& error() const = 0;
};

// Reads `json` into `handler` under the caps above (`max_bytes`, kMaxServerJsonDepth). Errors
// (kInvalidArgument, message prefixed with `what` and ": "): too large, a NUL byte, invalid JSON
// (offset named), trailing non-whitespace, nested too deeply, or the handler's own error.
Status ReadServerJson(std::string_view json, size_t max_bytes, std::string_view what,
                      JsonSaxHandler* handler);

// ---- Small answers -----------------------------------------------------------------------------

// The top-level members of an answer that must be a JSON object. Scalars are kept as their text;
// an array keeps its scalar elements (nested containers count as elements of kind kArray/kObject
// without text); the contents of object members are read (capped, syntax-checked) and dropped.
// A repeated member's last value wins.
class JsonAnswer {
 public:
  struct Value {
    JsonKind kind = JsonKind::kNull;
    std::string text;
    std::vector<Value> items;  // kArray only.
  };

  // kInvalidArgument as ReadServerJson, or when the root is not an object.
  static Result<JsonAnswer> Parse(std::string_view json, size_t max_bytes, std::string_view what);

  const Value* Find(std::string_view name) const;
  // A string member in valid UTF-8.
  std::optional<std::string> String(std::string_view name) const;
  // true/false, or their text in any case (Jackson's asBoolean reads both).
  std::optional<bool> Bool(std::string_view name) const;
  // An integer (or its text) that fits an int64_t.
  std::optional<int64_t> Int64(std::string_view name) const;

 private:
  class Builder;
  std::map<std::string, Value, std::less<>> members_;
};

// ---- Durations from the wire -------------------------------------------------------------------

// Where a duration from a server may lie, in its wire unit (`unit` is "ms" or "s").
struct DurationRange {
  std::string_view field;
  std::string_view unit;
  int64_t min;
  int64_t max;
  int64_t fallback;  // Used when the value is absent, null, <= 0 or not a number.
};

// The shortest beat period: an instance's own period (preserved.heart.beat.interval, beatInterval)
// is raised to it, and a server's clientBeatInterval too. Faster would be a beat storm.
inline constexpr int64_t kMinBeatPeriodMs = 1000;

// clientBeatInterval (ms) of a beat answer: the next beat's delay. Nacos answers the instance's
// own heartbeat interval (preserved.heart.beat.interval, default 5 s), or its 5 s default for an
// instance it does not know. The server may move it no further than [kMinBeatPeriodMs (1 s), 30 s]
// widened to include the instance's own `period_ms` (itself >= 1 s): slower than 30 s outlives
// Nacos's default deletion timeout of an instance (30 s; unhealthy after 15 s).
DurationRange BeatIntervalRange(int64_t period_ms);

// tokenTtl (s) of a login answer; the client logs in again at 90 % of it. Nacos's default token
// lifetime is 18000 s. [10 s, 18000 s]: at most one login per 9 s, and never later than the default
// lifetime allows (an earlier refresh only costs one login; a later one uses an expired token).
inline constexpr DurationRange kTokenTtlRange{"tokenTtl", "s", 10, 18000, 18000};

// cacheMillis (ms) of service data: the delay before the next poll. Nacos sends 10 s when it can
// push to the client and 3 s when it cannot. [1 s, 1 h]: at most one poll per second per service,
// and data at most an hour old when pushes are lost.
inline constexpr DurationRange kCacheMillisRange{"cacheMillis", "ms", 1000, 3600 * 1000, 10000};

// The duration a member of kind `kind` and text `text` stands for under `range` (see the file
// comment). When the value was replaced or clamped, *problem says so ("tokenTtl 1e30 s is above
// 18000 s; using 18000 s"); otherwise it is cleared.
int64_t ClampDuration(const DurationRange& range, JsonKind kind, std::string_view text,
                      std::string* problem);
// The same for an answer's member (absent: the fallback, no problem).
int64_t ClampDuration(const DurationRange& range, const JsonAnswer& answer, std::string* problem);

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_SERVER_JSON_H_
