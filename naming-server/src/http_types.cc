#include "http_types.h"

#include "dubbo/registry/url.h"

namespace dubbo::naming_server {
namespace {

std::string_view TrimView(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

}  // namespace

std::optional<std::string> HttpRequest::Param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key != name) continue;
    std::string_view trimmed = TrimView(value);
    if (trimmed.empty()) return std::nullopt;
    return std::string(trimmed);
  }
  return std::nullopt;
}

std::string HttpRequest::ParamOr(std::string_view name, std::string_view fallback) const {
  std::optional<std::string> value = Param(name);
  return value ? *value : std::string(fallback);
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Json(std::string body) {
  HttpResponse response;
  response.content_type = "application/json;charset=UTF-8";
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::SharedJson(std::shared_ptr<const std::string> body) {
  HttpResponse response;
  response.content_type = "application/json;charset=UTF-8";
  response.shared_body = std::move(body);
  return response;
}

registry::Status ParseFormEncoded(std::string_view text,
                                  std::vector<std::pair<std::string, std::string>>* out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('&', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view pair = text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    registry::Result<std::string> key = registry::URL::Decode(pair.substr(0, eq));
    registry::Result<std::string> value = registry::URL::Decode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!key.ok()) return key.status();
    if (!value.ok()) return value.status();
    if (key->empty()) continue;
    out->emplace_back(std::move(*key), std::move(*value));
  }
  return registry::Status::Ok();
}

}  // namespace dubbo::naming_server
