// Internal: reading a URL parameter whose bad value falls back, with one WARNING per read.
//
// URL parameters (registry, consumer and provider URLs) never fail an operation: a malformed value
// gives the default and a value out of range a bound or the default, as URL::GetInt and
// URL::GetBool do. These readers do the same and also say so, in one WARNING naming the key, the
// value written and the value used. Absent and empty values give the default silently. Callers read
// a setting once (at construction, or once per queued operation), so that a bad value is logged
// once, not at every use.
//
// Thread-safety: pure functions (apart from the log line).
#ifndef DUBBO_REGISTRY_INTERNAL_URL_PARAMETER_H_
#define DUBBO_REGISTRY_INTERNAL_URL_PARAMETER_H_

#include <cstdint>
#include <string_view>

#include "dubbo/registry/url.h"
#include "internal/logging.h"

namespace dubbo::registry::internal {

// What a value below `min` becomes.
enum class BelowMin {
  kDefault,  // The default: the value is meaningless (a period of 0).
  kMin,      // `min`: the value overshoots a meaningful bound (a TTL of -1 means none).
};

// The integer parameter `key` in [min, max] (`default_value` must be in it). Malformed: the
// default; above `max`: `max`; below `min`: as `below` says.
inline int64_t GetIntParameter(const URL& url, std::string_view key, int64_t default_value,
                               int64_t min, int64_t max, BelowMin below = BelowMin::kDefault) {
  std::string_view raw = url.GetParameter(key);
  if (raw.empty()) return default_value;
  // URL::GetInt returns its default only for text it cannot parse, so two different defaults give
  // two different answers exactly when the text is malformed.
  const int64_t value = url.GetInt(key, 0);
  const char* problem = nullptr;
  int64_t used = value;
  if (value != url.GetInt(key, 1)) {
    problem = "is not an integer";
    used = default_value;
  } else if (value > max) {
    problem = "is above the maximum";
    used = max;
  } else if (value < min) {
    problem = "is below the minimum";
    used = below == BelowMin::kMin ? min : default_value;
  }
  if (problem != nullptr) {
    DUBBO_LOG(WARNING) << "URL parameter " << key << "=" << raw << " " << problem << " (accepted: ["
                       << min << ", " << max << "]); using " << used;
  }
  return used;
}

// The boolean parameter `key`: `true` or `false` in any case; anything else gives the default.
inline bool GetBoolParameter(const URL& url, std::string_view key, bool default_value) {
  std::string_view raw = url.GetParameter(key);
  if (raw.empty()) return default_value;
  const bool value = url.GetBool(key, default_value);
  if (value != url.GetBool(key, !default_value)) {  // Neither `true` nor `false`.
    DUBBO_LOG(WARNING) << "URL parameter " << key << "=" << raw << " is not true or false; using "
                       << (default_value ? "true" : "false");
  }
  return value;
}

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_INTERNAL_URL_PARAMETER_H_
