#include "dubbo/registry/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ostream>

#include "internal/ascii.h"

namespace dubbo::registry {

struct URL::Rep {
  std::string protocol;
  std::string username;
  std::string password;
  std::string host;
  int port = 0;
  std::string path;
  Parameters parameters;  // Sorted by key, keys unique.
};

namespace {

constexpr std::string_view kWhitespace = " \t\r\n\f\v";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

std::string StripLeadingSlashes(std::string_view path) {
  const size_t first = path.find_first_not_of('/');
  return first == std::string_view::npos ? std::string() : std::string(path.substr(first));
}

using internal::EqualsIgnoreCase;

template <typename Params>
auto FindKey(Params& params, std::string_view key) {
  return std::lower_bound(params.begin(), params.end(), key,
                          [](const auto& entry, std::string_view k) { return entry.first < k; });
}

// Sorts by key (stable, so that for equal keys the entry that came last wins) and drops empty keys.
// In place; URLs printed by Dubbo or by us arrive sorted already, which skips the sort.
void Canonicalize(URL::Parameters* params) {
  auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
  if (!std::is_sorted(params->begin(), params->end(), by_key)) {
    std::stable_sort(params->begin(), params->end(), by_key);
  }
  size_t out = 0;
  for (size_t i = 0; i < params->size(); ++i) {
    auto& entry = (*params)[i];
    if (entry.first.empty()) continue;
    if (out > 0 && (*params)[out - 1].first == entry.first) {
      (*params)[out - 1].second = std::move(entry.second);
    } else {
      if (out != i) (*params)[out] = std::move(entry);
      ++out;
    }
  }
  params->resize(out);
}

void SetParameter(URL::Parameters* params, std::string_view key, std::string_view value) {
  auto it = FindKey(*params, key);
  if (it != params->end() && it->first == key) {
    it->second.assign(value.data(), value.size());
  } else {
    params->emplace(it, std::string(key), std::string(value));
  }
}

// Parses a port: decimal digits only, 0..65535.
bool ParsePort(std::string_view text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return false;
  *port = value;
  return true;
}

// Splits an authority "host[:port]" (brackets allowed) into host and port.
Status ParseHostPort(std::string_view authority, std::string* host, int* port) {
  *port = 0;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgumentError("unterminated '[' in host \"" + std::string(authority) + "\"");
    }
    host->assign(authority.substr(0, close + 1));
    std::string_view rest = authority.substr(close + 1);
    if (rest.empty()) return Status::Ok();
    if (rest.front() != ':' || !ParsePort(rest.substr(1), port)) {
      return InvalidArgumentError("invalid port after \"" + *host + "\"");
    }
    return Status::Ok();
  }
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    host->assign(authority);
    return Status::Ok();
  }
  std::string_view after = authority.substr(colon + 1);
  if (after.find('%') != std::string_view::npos) {
    // Unbracketed IPv6 with a zone id: Dubbo takes the whole authority as the host.
    host->assign(authority);
    return Status::Ok();
  }
  if (authority.find(':') != colon) {
    return InvalidArgumentError("ambiguous address \"" + std::string(authority) +
                                "\": IPv6 literals must be written in brackets, e.g. [::1]:20880");
  }
  if (!ParsePort(after, port)) {
    return InvalidArgumentError("invalid port \"" + std::string(after) + "\" in \"" +
                                std::string(authority) + "\"");
  }
  host->assign(authority.substr(0, colon));
  return Status::Ok();
}

// Sorts `pairs` (last value of a key wins), then lets each `default.X` set X where X is absent.
URL::Parameters FinishParameters(URL::Parameters pairs) {
  Canonicalize(&pairs);
  URL::Parameters defaults;
  for (const auto& [key, value] : pairs) {
    if (key.size() > keys::kDefaultKeyPrefix.size() &&
        key.compare(0, keys::kDefaultKeyPrefix.size(), keys::kDefaultKeyPrefix) == 0) {
      defaults.emplace_back(key.substr(keys::kDefaultKeyPrefix.size()), value);
    }
  }
  for (auto& entry : defaults) {
    auto it = FindKey(pairs, entry.first);
    if (it == pairs.end() || it->first != entry.first) pairs.emplace(it, std::move(entry));
  }
  return pairs;
}

// Parses "k=v&k2=v2;k3" (Dubbo 3.x rules, see url.h).
URL::Parameters ParseQuery(std::string_view query) {
  URL::Parameters pairs;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find_first_of("&;", start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    // Leading '=' are skipped, as Dubbo 3.x does: "=c" is the key c, "=c=d" is c=d.
    const size_t key_start = pair.find_first_not_of('=');
    if (key_start == std::string_view::npos) continue;
    pair.remove_prefix(key_start);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      pairs.emplace_back(std::string(pair), std::string());
    } else {
      pairs.emplace_back(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
    }
  }
  return FinishParameters(std::move(pairs));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreservedForEncode(unsigned char c) {
  return std::isalnum(c) || c == '.' || c == '-' || c == '*' || c == '_';
}

template <typename Int>
bool ParseInteger(std::string_view text, Int* out) {
  text = Trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), *out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

bool ParseDouble(std::string_view text, double* out) {
  std::string copy(Trim(text));
  if (copy.empty()) return false;
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  *out = value;
  return true;
}

bool ContainsInCommaList(std::string_view list, std::string_view value) {
  if (list.empty() || value.empty()) return false;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    if (Trim(list.substr(start, end - start)) == value) return true;
    start = end + 1;
  }
  return false;
}

void AppendUserInfoAndAddress(const URL& url, bool with_user, std::string* out) {
  if (!url.protocol().empty()) {
    out->append(url.protocol());
    out->append("://");
  }
  if (with_user && !url.username().empty()) {
    out->append(url.username());
    if (!url.password().empty()) {
      out->push_back(':');
      out->append(url.password());
    }
    out->push_back('@');
  }
  if (!url.host().empty()) out->append(url.host());
  if (url.port() > 0) {
    out->push_back(':');
    out->append(std::to_string(url.port()));
  }
}

bool LooksSecret(std::string_view key) {
  static constexpr std::string_view kWords[] = {"password", "secret", "token", "accesskey",
                                                "credential", "signature"};
  std::string lower(key);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view word : kWords) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string BuildString(const URL& url, bool with_user, bool with_parameters, bool redact = false) {
  std::string out;
  out.reserve(64 + url.parameters().size() * 24);
  AppendUserInfoAndAddress(url, with_user, &out);
  if (!url.path().empty()) {
    out.push_back('/');
    out.append(url.path());
  }
  if (with_parameters) {
    bool first = true;
    for (const auto& [key, value] : url.parameters()) {
      if (key.empty()) continue;
      out.push_back(first ? '?' : '&');
      first = false;
      out.append(key);
      out.push_back('=');
      if (redact && LooksSecret(key)) {
        out.append("***");
      } else {
        out.append(Trim(value));
      }
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

URL::URL() = default;

URL::URL(std::shared_ptr<const Rep> rep) : rep_(std::move(rep)) {}

URL::URL(std::string protocol, std::string host, int port, std::string path, Parameters parameters) {
  auto rep = std::make_shared<Rep>();
  rep->protocol = std::move(protocol);
  rep->host = std::move(host);
  rep->port = port < 0 ? 0 : port;
  rep->path = StripLeadingSlashes(path);
  rep->parameters = std::move(parameters);
  Canonicalize(&rep->parameters);
  rep_ = std::move(rep);
}

const URL::Rep& URL::rep() const {
  static const Rep* const kEmpty = new Rep();  // Never destroyed.
  return rep_ ? *rep_ : *kEmpty;
}

std::shared_ptr<URL::Rep> URL::Mutable() const { return std::make_shared<Rep>(rep()); }

Result<URL> URL::Parse(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return InvalidArgumentError("empty URL");
  auto rep = std::make_shared<Rep>();
  std::string_view body = text;
  const size_t question = text.find('?');
  if (question != std::string_view::npos) {
    body = text.substr(0, question);
    rep->parameters = ParseQuery(text.substr(question + 1));
  }
  Status status = ParseBody(body, rep.get());
  if (!status.ok()) return status;
  return URL(std::move(rep));
}

Status URL::ParseBody(std::string_view body, Rep* rep) {
  const size_t hash = body.find('#');
  if (hash != std::string_view::npos) body = body.substr(0, hash);
  const std::string_view original = body;  // For error messages.

  // Protocol.
  const size_t scheme_end = body.find("://");
  if (scheme_end == 0) {
    return InvalidArgumentError("url missing protocol: \"" + std::string(original) + "\"");
  }
  if (scheme_end != std::string_view::npos) {
    rep->protocol.assign(body.substr(0, scheme_end));
    body.remove_prefix(scheme_end + 3);
  } else {
    const size_t short_end = body.find(":/");
    if (short_end == 0) {
      return InvalidArgumentError("url missing protocol: \"" + std::string(original) + "\"");
    }
    if (short_end != std::string_view::npos) {
      rep->protocol.assign(body.substr(0, short_end));
      body.remove_prefix(short_end + 1);  // Keep the '/': what follows is a path.
    }
  }

  // Path.
  const size_t slash = body.find('/');
  if (slash != std::string_view::npos) {
    rep->path = StripLeadingSlashes(body.substr(slash + 1));
    body = body.substr(0, slash);
  }

  // User info.
  const size_t at = body.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view user_info = body.substr(0, at);
    const size_t colon = user_info.find(':');
    if (colon != std::string_view::npos) {
      rep->username.assign(user_info.substr(0, colon));
      rep->password.assign(user_info.substr(colon + 1));
    } else {
      rep->username.assign(user_info);
    }
    if (rep->username.empty() && !rep->password.empty()) {
      return InvalidArgumentError("url has a password but no user name");
    }
    body = body.substr(at + 1);
  }

  // Host and port.
  if (!body.empty()) return ParseHostPort(body, &rep->host, &rep->port);
  return Status::Ok();
}

Result<URL> URL::ParseEncoded(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return InvalidArgumentError("empty URL");
  // The query starts at the first "%3F", in either case.
  size_t query_start = std::string_view::npos;
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] == '%' && text[i + 1] == '3' && (text[i + 2] == 'F' || text[i + 2] == 'f')) {
      query_start = i;
      break;
    }
  }
  Result<std::string> body = Decode(text.substr(0, query_start));
  if (!body.ok()) return body.status();
  if (body->find('?') != std::string::npos) {
    return InvalidArgumentError("encoded URL body holds a raw '?'");
  }
  auto rep = std::make_shared<Rep>();
  DUBBO_RETURN_IF_ERROR(ParseBody(*body, rep.get()));
  if (query_start == std::string_view::npos) return URL(std::move(rep));

  // Dubbo's parseEncodedParams: '&', ';' and '=' separate whether raw or percent-encoded; each key
  // and value is then decoded on its own, so a doubly encoded "%2526" stays "%26".
  std::string_view raw = text.substr(query_start + 3);
  Parameters params;
  Status pair_status;
  auto add_pair = [&](size_t begin, size_t eq_begin, size_t eq_end, size_t end) {
    std::string_view raw_key = raw.substr(begin, (eq_begin == std::string_view::npos ? end : eq_begin) - begin);
    std::string_view raw_value =
        eq_begin == std::string_view::npos ? std::string_view() : raw.substr(eq_end, end - eq_end);
    Result<std::string> key = Decode(raw_key);
    Result<std::string> value = Decode(raw_value);
    if (!key.ok() || !value.ok()) {
      pair_status = key.ok() ? value.status() : key.status();
      return;
    }
    params.emplace_back(std::move(*key), std::move(*value));
  };
  size_t name_start = 0;
  size_t eq_begin = std::string_view::npos;
  size_t eq_end = 0;
  for (size_t i = 0; i < raw.size();) {
    char ch = raw[i];
    size_t width = 1;
    if (ch == '%') {
      if (i + 2 >= raw.size() || HexValue(raw[i + 1]) < 0 || HexValue(raw[i + 2]) < 0) {
        return InvalidArgumentError("invalid percent escape at offset " +
                                    std::to_string(query_start + 3 + i));
      }
      ch = static_cast<char>(HexValue(raw[i + 1]) * 16 + HexValue(raw[i + 2]));
      width = 3;
    }
    if (ch == '=') {
      if (name_start == i) {
        name_start = i + width;  // "=c": the key is c.
      } else if (eq_begin == std::string_view::npos) {
        eq_begin = i;
        eq_end = i + width;
      }
    } else if (ch == '&' || ch == ';') {
      add_pair(name_start, eq_begin, eq_end, i);
      name_start = i + width;
      eq_begin = std::string_view::npos;
    }
    i += width;
  }
  add_pair(name_start, eq_begin, eq_end, raw.size());
  if (!pair_status.ok()) return pair_status;
  rep->parameters = FinishParameters(std::move(params));
  return URL(std::move(rep));
}

std::string URL::Encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (unsigned char c : text) {
    if (IsUnreservedForEncode(c)) {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

Result<std::string> URL::Decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return InvalidArgumentError("truncated percent escape at offset " + std::to_string(i));
      }
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return InvalidArgumentError("invalid percent escape at offset " + std::to_string(i));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

URL URL::Empty(std::string_view service_key, std::string_view category) {
  std::string_view rest = service_key;
  std::string group;
  std::string version;
  const size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    group.assign(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
  }
  const size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    version.assign(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  Parameters params;
  params.emplace_back(std::string(keys::kCategory), std::string(category));
  if (!group.empty()) params.emplace_back(std::string(keys::kGroup), group);
  if (!version.empty()) params.emplace_back(std::string(keys::kVersion), version);
  return URL(std::string(keys::kEmptyProtocol), "0.0.0.0", 0, std::string(rest), std::move(params));
}

const std::string& URL::protocol() const { return rep().protocol; }
const std::string& URL::username() const { return rep().username; }
const std::string& URL::password() const { return rep().password; }
const std::string& URL::host() const { return rep().host; }
int URL::port() const { return rep().port; }
const std::string& URL::path() const { return rep().path; }
const URL::Parameters& URL::parameters() const { return rep().parameters; }

std::string URL::Address() const {
  if (port() <= 0) return host();
  return host() + ":" + std::to_string(port());
}

std::string URL::BackupAddress() const {
  std::string out = Address();
  std::string_view backup = GetParameter(keys::kBackup);
  if (!backup.empty()) {
    out.push_back(',');
    out.append(backup);
  }
  return out;
}

std::optional<std::string_view> URL::FindParameter(std::string_view key) const {
  const Parameters& params = parameters();
  auto it = FindKey(params, key);
  if (it == params.end() || it->first != key) return std::nullopt;
  return std::string_view(it->second);
}

std::string_view URL::GetParameter(std::string_view key, std::string_view default_value) const {
  std::optional<std::string_view> value = FindParameter(key);
  return value && !value->empty() ? *value : default_value;
}

int64_t URL::GetInt(std::string_view key, int64_t default_value) const {
  int64_t value = 0;
  return ParseInteger(GetParameter(key), &value) ? value : default_value;
}

double URL::GetDouble(std::string_view key, double default_value) const {
  double value = 0;
  return ParseDouble(GetParameter(key), &value) ? value : default_value;
}

bool URL::GetBool(std::string_view key, bool default_value) const {
  std::string_view value = Trim(GetParameter(key));
  if (EqualsIgnoreCase(value, "true")) return true;
  if (EqualsIgnoreCase(value, "false")) return false;
  return default_value;
}

std::string_view URL::GetMethodParameter(std::string_view method, std::string_view key,
                                         std::string_view default_value) const {
  if (!method.empty()) {
    std::string method_key;
    method_key.reserve(method.size() + 1 + key.size());
    method_key.append(method).push_back('.');
    method_key.append(key);
    std::string_view value = GetParameter(method_key);
    if (!value.empty()) return value;
  }
  return GetParameter(key, default_value);
}

int64_t URL::GetMethodInt(std::string_view method, std::string_view key, int64_t default_value) const {
  int64_t value = 0;
  return ParseInteger(GetMethodParameter(method, key), &value) ? value : default_value;
}

bool URL::GetMethodBool(std::string_view method, std::string_view key, bool default_value) const {
  std::string_view value = Trim(GetMethodParameter(method, key));
  if (EqualsIgnoreCase(value, "true")) return true;
  if (EqualsIgnoreCase(value, "false")) return false;
  return default_value;
}

std::string_view URL::ServiceInterface() const { return GetParameter(keys::kInterface, path()); }

std::string_view URL::Category(std::string_view default_category) const {
  return GetParameter(keys::kCategory, default_category);
}

std::string URL::ServiceKey() const {
  std::string_view interface_name = ServiceInterface();
  if (interface_name.empty()) return {};
  std::string out;
  std::string_view group = Group();
  if (!group.empty()) {
    out.append(group);
    out.push_back('/');
  }
  out.append(interface_name);
  std::string_view version = Version();
  if (!version.empty()) {
    out.push_back(':');
    out.append(version);
  }
  return out;
}

std::string URL::DisplayServiceKey() const {
  std::string out(ServiceInterface());
  std::string_view version = Version();
  if (!version.empty()) {
    out.push_back(':');
    out.append(version);
  }
  return out;
}

std::string URL::ColonSeparatedKey() const {
  std::string out(ServiceInterface());
  out.push_back(':');
  out.append(Version());
  out.push_back(':');
  out.append(Group());
  return out;
}

bool URL::IsAnyHost() const {
  return host() == "0.0.0.0" || GetBool(keys::kAnyHost, false);
}

std::string URL::ToString() const { return BuildString(*this, false, true); }
std::string URL::ToFullString() const { return BuildString(*this, true, true); }
std::string URL::ToRedactedString() const { return BuildString(*this, false, true, true); }
std::string URL::ToIdentityString() const { return BuildString(*this, true, false); }

std::string URL::ToServiceString() const {
  std::string out;
  AppendUserInfoAndAddress(*this, true, &out);
  const std::string key = ServiceKey();
  if (!key.empty()) {
    out.push_back('/');
    out.append(key);
  }
  return out;
}

URL URL::WithProtocol(std::string_view protocol) const {
  auto rep = Mutable();
  rep->protocol.assign(protocol);
  return URL(std::move(rep));
}

URL URL::WithUsername(std::string_view username) const {
  auto rep = Mutable();
  rep->username.assign(username);
  return URL(std::move(rep));
}

URL URL::WithPassword(std::string_view password) const {
  auto rep = Mutable();
  rep->password.assign(password);
  return URL(std::move(rep));
}

URL URL::WithHost(std::string_view host) const {
  auto rep = Mutable();
  rep->host.assign(host);
  return URL(std::move(rep));
}

URL URL::WithPort(int port) const {
  auto rep = Mutable();
  rep->port = port < 0 ? 0 : port;
  return URL(std::move(rep));
}

URL URL::WithAddress(std::string_view address) const {
  auto rep = Mutable();
  std::string host;
  int port = 0;
  if (ParseHostPort(address, &host, &port).ok()) {
    rep->host = std::move(host);
    rep->port = port;
  } else {
    rep->host.assign(address);
    rep->port = 0;
  }
  return URL(std::move(rep));
}

URL URL::WithPath(std::string_view path) const {
  auto rep = Mutable();
  rep->path = StripLeadingSlashes(path);
  return URL(std::move(rep));
}

URL URL::WithParameter(std::string_view key, std::string_view value) const {
  if (key.empty()) return *this;
  auto rep = Mutable();
  SetParameter(&rep->parameters, key, value);
  return URL(std::move(rep));
}

URL URL::WithParameterIfAbsent(std::string_view key, std::string_view value) const {
  if (key.empty() || HasParameter(key)) return *this;
  return WithParameter(key, value);
}

URL URL::WithParameters(const Parameters& parameters) const {
  if (parameters.empty()) return *this;
  auto rep = Mutable();
  for (const auto& [key, value] : parameters) {
    if (!key.empty()) SetParameter(&rep->parameters, key, value);
  }
  return URL(std::move(rep));
}

URL URL::WithoutParameter(std::string_view key) const { return WithoutParameters({key}); }

URL URL::WithoutParameters(std::initializer_list<std::string_view> keys) const {
  bool any = false;
  for (std::string_view key : keys) any = any || HasParameter(key);
  if (!any) return *this;
  auto rep = Mutable();
  for (std::string_view key : keys) {
    auto it = FindKey(rep->parameters, key);
    if (it != rep->parameters.end() && it->first == key) rep->parameters.erase(it);
  }
  return URL(std::move(rep));
}

URL URL::WithoutAllParameters() const {
  if (parameters().empty()) return *this;
  auto rep = Mutable();
  rep->parameters.clear();
  return URL(std::move(rep));
}

bool URL::operator==(const URL& other) const {
  if (rep_ == other.rep_) return true;
  const Rep& a = rep();
  const Rep& b = other.rep();
  if (a.port != b.port || a.protocol != b.protocol || a.host != b.host || a.path != b.path ||
      a.username != b.username || a.password != b.password ||
      a.parameters.size() != b.parameters.size()) {
    return false;
  }
  for (size_t i = 0; i < a.parameters.size(); ++i) {
    const auto& pa = a.parameters[i];
    const auto& pb = b.parameters[i];
    if (pa.first != pb.first) return false;
    if (pa.first != keys::kTimestamp && pa.second != pb.second) return false;
  }
  return true;
}

size_t URL::Hash() const {
  const Rep& r = rep();
  std::hash<std::string_view> h;
  size_t seed = static_cast<size_t>(r.port) * 0x9E3779B97F4A7C15ull;
  auto mix = [&seed](size_t value) { seed ^= value + 0x9E3779B97F4A7C15ull + (seed << 6) + (seed >> 2); };
  mix(h(r.protocol));
  mix(h(r.username));
  mix(h(r.password));
  mix(h(r.host));
  mix(h(r.path));
  for (const auto& [key, value] : r.parameters) {
    mix(h(key));
    if (key != keys::kTimestamp) mix(h(value));
  }
  return seed;
}

std::ostream& operator<<(std::ostream& os, const URL& url) { return os << url.ToRedactedString(); }

// --- Matching ----------------------------------------------------------------------------------

bool IsMatchCategory(std::string_view category, std::string_view consumer_categories) {
  if (consumer_categories.empty()) return category == keys::kProvidersCategory;
  if (consumer_categories.find(keys::kAnyValue) != std::string_view::npos) return true;
  if (consumer_categories.find('-') != std::string_view::npos) {
    std::string excluded = "-" + std::string(category);
    return consumer_categories.find(excluded) == std::string_view::npos;
  }
  return consumer_categories.find(category) != std::string_view::npos;
}

bool IsMatch(const URL& consumer, const URL& provider) {
  std::string_view consumer_interface = consumer.ServiceInterface();
  std::string_view provider_interface = provider.ServiceInterface();
  if (!(consumer_interface == keys::kAnyValue || provider_interface == keys::kAnyValue ||
        consumer_interface == provider_interface)) {
    return false;
  }
  if (!IsMatchCategory(provider.Category(keys::kProvidersCategory),
                       consumer.Category(keys::kProvidersCategory))) {
    return false;
  }
  if (!provider.GetBool(keys::kEnabled, true) &&
      consumer.GetParameter(keys::kEnabled) != keys::kAnyValue) {
    return false;
  }
  std::string_view consumer_group = consumer.Group();
  std::string_view provider_group = provider.Group();
  const bool group_matches = consumer_group == keys::kAnyValue || consumer_group == provider_group ||
                             ContainsInCommaList(consumer_group, provider_group);
  std::string_view consumer_version = consumer.Version();
  const bool version_matches =
      consumer_version == keys::kAnyValue || consumer_version == provider.Version();
  std::string_view consumer_classifier = consumer.GetParameter(keys::kClassifier, keys::kAnyValue);
  std::string_view provider_classifier = provider.GetParameter(keys::kClassifier, keys::kAnyValue);
  const bool classifier_matches =
      consumer_classifier == keys::kAnyValue || consumer_classifier == provider_classifier;
  return group_matches && version_matches && classifier_matches;
}

bool IsConfigurator(const URL& url) {
  return url.protocol() == "override" || url.Category() == keys::kConfiguratorsCategory;
}

bool IsRoute(const URL& url) {
  return url.protocol() == "route" || url.Category() == keys::kRoutersCategory;
}

bool IsProvider(const URL& url) {
  return !IsConfigurator(url) && !IsRoute(url) && url.Category() == keys::kProvidersCategory;
}

}  // namespace dubbo::registry
