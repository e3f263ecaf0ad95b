// Internal: the HTTP request and response as the naming API sees them, independent of the HTTP
// library, so that every endpoint can be tested without a socket.
//
// Thread-safety: plain values.
#ifndef DUBBO_NAMING_SERVER_SRC_HTTP_TYPES_H_
#define DUBBO_NAMING_SERVER_SRC_HTTP_TYPES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dubbo/registry/status.h"
#include "server_metrics.h"

namespace dubbo::naming_server {

struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT", "DELETE", "PATCH"
  std::string path;    // Without the query string.
  // Decoded parameters: the query string's first, then a form body's, in order.
  std::vector<std::pair<std::string, std::string>> params;
  std::string user_agent;      // User-Agent, else Client-Version.
  std::string authorization;   // Authorization header, if any.
  std::string peer_ip;         // The TCP peer.
  uint16_t peer_port = 0;

  // The first value of `name`, trimmed; nullopt when absent or blank (Nacos treats blank as absent).
  std::optional<std::string> Param(std::string_view name) const;
  // Param(name) or `fallback`.
  std::string ParamOr(std::string_view name, std::string_view fallback) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain;charset=UTF-8";
  std::string body;
  // When set, the body instead of `body`: an immutable answer shared with a cache, so that
  // answering it copies nothing.
  std::shared_ptr<const std::string> shared_body;
  // What a 400 of the naming API is counted under in the metrics.
  RejectReason reject_reason = RejectReason::kInvalidParameter;

  // The body to send: *shared_body if set, else body.
  std::string_view body_view() const { return shared_body ? *shared_body : body; }

  static HttpResponse Text(int status, std::string body);
  static HttpResponse Json(std::string body);
  // A JSON answer whose body is shared. REQUIRES: body != nullptr.
  static HttpResponse SharedJson(std::shared_ptr<const std::string> body);
};

// Appends the pairs of an application/x-www-form-urlencoded text (also a query string): '&'-separated,
// '+' is a space, %XX a byte. kInvalidArgument for a malformed escape.
registry::Status ParseFormEncoded(std::string_view text,
                                  std::vector<std::pair<std::string, std::string>>* out);

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_HTTP_TYPES_H_
