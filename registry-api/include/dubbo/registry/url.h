// File: dubbo/registry/url.h
//
// URL: Dubbo's service URL model, the unit every registry call speaks in.
//
//   dubbo://user:pass@10.20.130.230:20880/com.foo.BarService?version=1.0.0&group=g&weight=200
//   \___/   \_______/ \_____________/ \___/\_______________/ \_____________________________/
//  protocol  userinfo      host       port       path                  parameters
//
// A URL is an immutable value. Copies share one reference-counted representation, so passing URLs
// around costs a pointer copy; every With*() builder returns a new URL and leaves this one untouched.
//
// Parsing follows Dubbo 3.x (URLStrParser) with these deliberate differences, all of which turn a
// silent mis-parse into an error or a better answer:
//   * an unbracketed IPv6 literal (`dubbo://::1/p`) is rejected instead of becoming host ":" port 1;
//     a bracketed one keeps its brackets in host(); `[::1]` without a port parses with port 0;
//   * a port that is not a decimal number in [0, 65535] is an error (Dubbo 2.7 made `h:` a host);
//   * a password without a user name is an error (as in Dubbo 3.x).
// As in Dubbo no percent-decoding happens in Parse(); see ParseEncoded().
//
// Equality and hashing ignore the *value* of the `timestamp` parameter (its presence still counts),
// as Dubbo does, so a provider that re-exports with a new timestamp is the same provider.
//
// Thread-safety: URL is an immutable value; any number of threads may read, copy and compare URLs.
#ifndef DUBBO_REGISTRY_URL_H_
#define DUBBO_REGISTRY_URL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"

namespace dubbo::registry {

// Well-known parameter keys and values.
namespace keys {
inline constexpr std::string_view kInterface = "interface";
inline constexpr std::string_view kVersion = "version";
inline constexpr std::string_view kGroup = "group";
inline constexpr std::string_view kClassifier = "classifier";
inline constexpr std::string_view kCategory = "category";
inline constexpr std::string_view kSide = "side";
inline constexpr std::string_view kApplication = "application";
inline constexpr std::string_view kEnabled = "enabled";
inline constexpr std::string_view kDynamic = "dynamic";
inline constexpr std::string_view kWeight = "weight";
inline constexpr std::string_view kWarmup = "warmup";
inline constexpr std::string_view kTimestamp = "timestamp";
inline constexpr std::string_view kCheck = "check";
inline constexpr std::string_view kAnyHost = "anyhost";
inline constexpr std::string_view kBackup = "backup";
inline constexpr std::string_view kFile = "file";
inline constexpr std::string_view kRetryPeriod = "retry.period";
inline constexpr std::string_view kRetryTimes = "retry.times";

inline constexpr std::string_view kAnyValue = "*";
inline constexpr std::string_view kProvidersCategory = "providers";
inline constexpr std::string_view kConsumersCategory = "consumers";
inline constexpr std::string_view kRoutersCategory = "routers";
inline constexpr std::string_view kConfiguratorsCategory = "configurators";
inline constexpr std::string_view kEmptyProtocol = "empty";
inline constexpr std::string_view kDefaultKeyPrefix = "default.";
}  // namespace keys

class DUBBO_REGISTRY_EXPORT URL {
 public:
  // Parameters, sorted by key, keys unique.
  using Parameters = std::vector<std::pair<std::string, std::string>>;

  // The empty URL: every part empty, port 0, no parameters.
  URL();
  // Builds a URL from parts. Leading '/' characters of `path` are stripped; a negative port becomes
  // 0. `parameters` need not be sorted; for a repeated key the last one wins.
  URL(std::string protocol, std::string host, int port, std::string path = {},
      Parameters parameters = {});

  // Parses `text` per Dubbo's grammar (see the file comment):
  //   [protocol "://"] [user [":" password] "@"] [host [":" port]] ["/" path] ["?" query] ["#" ignored]
  // and `protocol ":/" path`. Query pairs split on '&' and ';', a pair at its first '=', a repeated key's
  // last value wins, a bare key or `k=` has the value "", and `default.X` also sets X unless X is given.
  // Returns kInvalidArgument, with a message naming the problem, for malformed input.
  static Result<URL> Parse(std::string_view text);
  // Parses a percent-encoded URL string (as stored in a registry URL's `export=` parameter): the query
  // starts at the first "%3F" (case-insensitive) and the body, keys and values are decoded.
  static Result<URL> ParseEncoded(std::string_view text);

  // Java URLEncoder semantics (UTF-8): keeps [A-Za-z0-9.-*_], space becomes '+', every other byte %XX.
  static std::string Encode(std::string_view text);
  // The inverse of Encode(): '+' becomes space, %XX its byte. A truncated or non-hex escape is an error.
  static Result<std::string> Decode(std::string_view text);

  // `empty://0.0.0.0/<interface>?category=<category>[&group=..][&version=..]` for a service key of the
  // form [group/]interface[:version]. Listeners receive this for an empty category.
  static URL Empty(std::string_view service_key, std::string_view category);

  const std::string& protocol() const;
  const std::string& username() const;
  const std::string& password() const;
  // Bracketed IPv6 keeps its brackets ("[::1]").
  const std::string& host() const;
  // 0 when absent.
  int port() const;
  // Without leading '/'.
  const std::string& path() const;
  const Parameters& parameters() const;

  // host if port is 0, else host:port.
  std::string Address() const;
  // Address() followed by the `backup` parameter's addresses, comma-separated.
  std::string BackupAddress() const;

  // --- Parameters -------------------------------------------------------------------------------
  // The raw value, or nullopt when the key is absent. The view lives as long as this URL.
  std::optional<std::string_view> FindParameter(std::string_view key) const;
  bool HasParameter(std::string_view key) const { return FindParameter(key).has_value(); }
  // The value, or `default_value` when the key is absent or its value is empty (Dubbo semantics).
  std::string_view GetParameter(std::string_view key, std::string_view default_value = {}) const;
  // Typed getters: the default when the key is absent, empty or not parsable as the type.
  int64_t GetInt(std::string_view key, int64_t default_value) const;
  double GetDouble(std::string_view key, double default_value) const;
  // "true"/"false" (case-insensitive); anything else gives the default.
  bool GetBool(std::string_view key, bool default_value) const;

  // Method parameters: `<method>.<key>` first, then `<key>`, then the default.
  std::string_view GetMethodParameter(std::string_view method, std::string_view key,
                                      std::string_view default_value = {}) const;
  int64_t GetMethodInt(std::string_view method, std::string_view key, int64_t default_value) const;
  bool GetMethodBool(std::string_view method, std::string_view key, bool default_value) const;

  // --- Derived keys -----------------------------------------------------------------
  // The `interface` parameter, else path().
  std::string_view ServiceInterface() const;
  std::string_view Group() const { return GetParameter(keys::kGroup); }
  std::string_view Version() const { return GetParameter(keys::kVersion); }
  // The `category` parameter, else `default_category`.
  std::string_view Category(std::string_view default_category = keys::kProvidersCategory) const;
  // [group/]interface[:version], empty parts omitted.
  std::string ServiceKey() const;
  // interface[:version].
  std::string DisplayServiceKey() const;
  // interface:version:group, empty segments kept ("com.foo.Bar::").
  std::string ColonSeparatedKey() const;
  // True for the `empty` protocol: "this category has no URLs".
  bool IsEmptyProtocol() const { return protocol() == keys::kEmptyProtocol; }
  // Host 0.0.0.0 or anyhost=true.
  bool IsAnyHost() const;

  // --- Printing ---------------------------------------------------------------------
  // Parameters sorted by key, values trimmed, empty keys skipped; port only if > 0; host only if
  // non-empty. ToString() omits user and password; ToFullString() includes them.
  std::string ToString() const;
  std::string ToFullString() const;
  // ToString() with the values of secret-looking parameters (password, secret, token, accessKey, ...;
  // any key containing one of those words, case-insensitively) replaced by "***". For log lines.
  std::string ToRedactedString() const;
  // protocol://[user[:pass]@]host[:port][/path], no parameters.
  std::string ToIdentityString() const;
  // protocol://[user[:pass]@]host[:port]/<ServiceKey()>.
  std::string ToServiceString() const;

  // --- Builders: each returns a new URL ---------------------------------------------------------
  URL WithProtocol(std::string_view protocol) const;
  URL WithUsername(std::string_view username) const;
  URL WithPassword(std::string_view password) const;
  URL WithHost(std::string_view host) const;
  URL WithPort(int port) const;
  // Sets host and port from "host[:port]" (bracketed IPv6 allowed). A malformed port leaves port 0.
  URL WithAddress(std::string_view address) const;
  URL WithPath(std::string_view path) const;
  URL WithParameter(std::string_view key, std::string_view value) const;
  URL WithParameterIfAbsent(std::string_view key, std::string_view value) const;
  URL WithParameters(const Parameters& parameters) const;
  URL WithoutParameter(std::string_view key) const;
  URL WithoutParameters(std::initializer_list<std::string_view> keys) const;
  URL WithoutAllParameters() const;

  // Equality: every part and every parameter, except the value of `timestamp`.
  bool operator==(const URL& other) const;
  bool operator!=(const URL& other) const { return !(*this == other); }
  // Consistent with operator==.
  size_t Hash() const;

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Rep;
  explicit URL(std::shared_ptr<const Rep> rep);
  // Parses everything before the query into `rep`.
  static Status ParseBody(std::string_view body, Rep* rep);
  const Rep& rep() const;
  // Copies the representation for a builder.
  std::shared_ptr<Rep> Mutable() const;

  std::shared_ptr<const Rep> rep_;
};

// Prints ToRedactedString(): safe for logs.
DUBBO_REGISTRY_EXPORT std::ostream& operator<<(std::ostream& os, const URL& url);

// UrlUtils.isMatch: does `provider` satisfy the subscription `consumer`? Interface (or
// `*`), category, enabled, group (`*`, equal, or in a comma list), version (`*` or equal) and classifier.
DUBBO_REGISTRY_EXPORT bool IsMatch(const URL& consumer, const URL& provider);

// Classification by category and protocol.
DUBBO_REGISTRY_EXPORT bool IsConfigurator(const URL& url);
DUBBO_REGISTRY_EXPORT bool IsRoute(const URL& url);
DUBBO_REGISTRY_EXPORT bool IsProvider(const URL& url);

// True when `category` is accepted by the subscription's category expression `consumer_categories`:
// empty means providers only, `*` all, `-cat` excludes, else a substring test (Dubbo's isMatchCategory).
DUBBO_REGISTRY_EXPORT bool IsMatchCategory(std::string_view category,
                                           std::string_view consumer_categories);

}  // namespace dubbo::registry

template <>
struct std::hash<dubbo::registry::URL> {
  size_t operator()(const dubbo::registry::URL& url) const { return url.Hash(); }
};

#endif  // DUBBO_REGISTRY_URL_H_
