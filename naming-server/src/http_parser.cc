#include "http_parser.h"

#include <cstring>

#include "internal/ascii.h"

namespace dubbo::naming_server {
namespace {

// A chunk-size line longer than this (extensions included) is 400.
constexpr size_t kMaxChunkLine = 1024;

struct TokenTable {
  bool token[256] = {};
  constexpr TokenTable() {
    for (int c = '0'; c <= '9'; ++c) token[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) token[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) token[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) token[static_cast<unsigned char>(c)] = true;
  }
};
constexpr TokenTable kTokens;

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTokens.token[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool IsCtl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

using registry::internal::EqualsIgnoreCase;
using registry::internal::TrimSpaceTab;

// Calls f(token) for each comma-separated, trimmed, non-empty element of a list header.
template <typename F>
void ForEachListElement(std::string_view value, F f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view element = TrimSpaceTab(value.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The line [start, newline) without a trailing CR.
std::string_view LineAt(const char* data, size_t start, size_t newline) {
  size_t end = newline;
  if (end > start && data[end - 1] == '\r') --end;
  return std::string_view(data + start, end - start);
}

std::string_view Rebased(std::string_view v, const char* from, const char* to) {
  if (v.data() == nullptr) return v;
  return std::string_view(to + (v.data() - from), v.size());
}

}  // namespace

std::optional<std::string_view> ParsedRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

HttpParser::HttpParser(HttpParserLimits limits) : limits_(limits) {}

void HttpParser::Feed(std::string_view bytes) {
  if (state_ == kError) return;
  if (pos_ > 0) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  // Raw chunked framing already decoded into chunked_body_ is dropped (it may be far larger than
  // the body: one-byte chunks with long extensions); the head before it stays in place.
  if (phase_ >= kChunkSize && scan_ > head_end_) {
    buffer_.erase(head_end_, scan_ - head_end_);
    scan_ = head_end_;
  }
  if (buffer_.empty() && buffer_.capacity() > (64 << 10)) std::string().swap(buffer_);
  buffer_.append(bytes.data(), bytes.size());
}

HttpParser::State HttpParser::Fail(int status) {
  state_ = kError;
  error_status_ = status;
  continue_pending_ = false;
  return kError;
}

bool HttpParser::TakeContinue() {
  if (!continue_pending_) return false;
  continue_pending_ = false;
  continue_sent_ = true;
  return true;
}

void HttpParser::ResetRequest() {
  phase_ = kHead;
  scan_ = 0;
  line_start_ = 0;
  head_end_ = 0;
  body_length_ = 0;
  chunk_left_ = 0;
  trailer_bytes_ = 0;
  chunked_ = false;
  continue_pending_ = false;
  continue_sent_ = false;
  header_count_ = 0;
  head_base_ = nullptr;
}

void HttpParser::RebaseHead(const char* base) {
  if (head_base_ == base) return;
  const char* from = head_base_;
  request_.method = Rebased(request_.method, from, base);
  request_.target = Rebased(request_.target, from, base);
  request_.path = Rebased(request_.path, from, base);
  request_.query = Rebased(request_.query, from, base);
  for (auto& [name, value] : request_.headers) {
    name = Rebased(name, from, base);
    value = Rebased(value, from, base);
  }
  head_base_ = base;
}

HttpParser::State HttpParser::Next() {
  if (state_ == kError) return kError;
  if (state_ == kRequest) {  // The previous request's bytes were consumed when it was returned.
    state_ = kNeedMore;
    if (chunked_body_.capacity() > (64 << 10)) {
      std::string().swap(chunked_body_);
    } else {
      chunked_body_.clear();
    }
  }
  const char* data = buffer_.data() + pos_;
  size_t size = buffer_.size() - pos_;

  if (phase_ == kHead) {
    while (true) {
      const void* nl_ptr = scan_ < size ? std::memchr(data + scan_, '\n', size - scan_) : nullptr;
      if (nl_ptr == nullptr) {
        scan_ = size;
        if (size > limits_.max_header_bytes) return Fail(431);
        return kNeedMore;
      }
      const size_t nl = static_cast<size_t>(static_cast<const char*>(nl_ptr) - data);
      scan_ = nl + 1;
      if (scan_ > limits_.max_header_bytes) return Fail(431);
      std::string_view line = LineAt(data, line_start_, nl);
      if (line.empty()) {
        if (line_start_ == 0) {  // An empty line before the request line: skipped.
          pos_ += scan_;
          data += scan_;
          size -= scan_;
          scan_ = 0;
          continue;
        }
        head_end_ = scan_;
        break;
      }
      if (line_start_ != 0 && ++header_count_ > limits_.max_headers) return Fail(431);
      line_start_ = scan_;
    }
    head_base_ = data;
    State head = ParseHead();
    if (head != kNeedMore) return head;
  }

  if (phase_ == kBody) {
    if (size - head_end_ < body_length_) {
      if (request_.expect_continue && !continue_sent_) continue_pending_ = true;
      return kNeedMore;
    }
    RebaseHead(data);
    request_.body = std::string_view(data + head_end_, body_length_);
    pos_ += head_end_ + body_length_;
    ResetRequest();
    state_ = kRequest;
    return kRequest;
  }

  if (phase_ >= kChunkSize) return ParseChunked();

  // No body.
  request_.body = std::string_view();
  pos_ += head_end_;
  ResetRequest();
  state_ = kRequest;
  return kRequest;
}

// The head [pos_, pos_ + head_end_) is complete: fills request_ and decides the body framing.
HttpParser::State HttpParser::ParseHead() {
  const char* data = buffer_.data() + pos_;
  request_.headers.clear();
  request_.body = std::string_view();
  size_t start = 0;
  bool first = true;
  while (start < head_end_) {
    const size_t nl = static_cast<size_t>(
        static_cast<const char*>(std::memchr(data + start, '\n', head_end_ - start)) - data);
    std::string_view line = LineAt(data, start, nl);
    start = nl + 1;
    if (line.empty()) {
      if (first) continue;  // cannot happen (skipped in Next), kept for safety
      break;
    }
    if (first) {
      if (!ParseRequestLine(line)) return Fail(400);
      first = false;
    } else if (!ParseHeaderLine(line)) {
      return Fail(400);
    }
  }
  if (first) return Fail(400);

  bool has_length = false;
  bool close = false;
  bool keep_alive_token = false;
  bool has_te = false;
  size_t length = 0;
  request_.expect_continue = false;
  for (const auto& [name, value] : request_.headers) {
    if (EqualsIgnoreCase(name, "Content-Length")) {
      if (value.empty()) return Fail(400);
      size_t n = 0;
      bool too_large = false;
      for (char c : value) {
        if (c < '0' || c > '9') return Fail(400);
        if (n > (SIZE_MAX - 9) / 10) {
          too_large = true;
        } else {
          n = n * 10 + static_cast<size_t>(c - '0');
        }
      }
      if (too_large) n = SIZE_MAX;
      if (has_length && n != length) return Fail(400);
      has_length = true;
      length = n;
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      bool ok = true;
      size_t codings = 0;
      ForEachListElement(value, [&](std::string_view coding) {
        ++codings;
        if (!EqualsIgnoreCase(coding, "chunked") || has_te) ok = false;
        has_te = true;
      });
      if (codings == 0) return Fail(400);
      if (!ok) return Fail(501);  // a coding other than one "chunked"
    } else if (EqualsIgnoreCase(name, "Connection")) {
      ForEachListElement(value, [&](std::string_view token) {
        if (EqualsIgnoreCase(token, "close")) close = true;
        if (EqualsIgnoreCase(token, "keep-alive")) keep_alive_token = true;
      });
    } else if (EqualsIgnoreCase(name, "Expect")) {
      if (!EqualsIgnoreCase(value, "100-continue")) return Fail(417);
      request_.expect_continue = request_.minor_version >= 1;
    }
  }
  request_.keep_alive = !close && (request_.minor_version >= 1 || keep_alive_token);
  if (has_te) {
    if (has_length || request_.minor_version == 0) return Fail(400);
    chunked_ = true;
    header_count_ = request_.headers.size();
    phase_ = kChunkSize;
    scan_ = head_end_;
    return kNeedMore;  // continue in Next()
  }
  if (has_length && length > limits_.max_body_bytes) return Fail(413);
  if (has_length && length > 0) {
    body_length_ = length;
    phase_ = kBody;
    return kNeedMore;
  }
  phase_ = kHead;  // no body; Next() completes the request
  request_.expect_continue = false;
  return kNeedMore;
}

bool HttpParser::ParseRequestLine(std::string_view line) {
  const size_t first_space = line.find(' ');
  const size_t last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) return false;
  request_.method = line.substr(0, first_space);
  if (!IsToken(request_.method)) return false;
  std::string_view version = line.substr(last_space + 1);
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' ||
      version[7] > '9') {
    return false;
  }
  request_.minor_version = version[7] == '0' ? 0 : 1;
  std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
  if (target.empty()) return false;
  for (char c : target) {
    if (IsCtl(c)) return false;
  }
  request_.target = target;

  // Absolute form: skip "scheme://authority".
  std::string_view rest = target;
  if (rest.front() != '/') {
    const size_t sep = rest.find("://");
    const size_t stop = rest.find_first_of("/?#");
    if (sep != std::string_view::npos && sep > 0 &&
        (stop == std::string_view::npos || stop > sep) && IsToken(rest.substr(0, sep))) {
      rest.remove_prefix(sep + 3);
      const size_t path_start = rest.find_first_of("/?#");
      rest = path_start == std::string_view::npos ? std::string_view(rest.data() + rest.size(), 0)
                                                  : rest.substr(path_start);
    }
  }
  const size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  const size_t question = rest.find('?');
  if (question == std::string_view::npos) {
    request_.path = rest;
    request_.has_query = false;
    request_.query = std::string_view();
  } else {
    request_.path = rest.substr(0, question);
    request_.has_query = true;
    request_.query = rest.substr(question + 1);
  }
  return true;
}

bool HttpParser::ParseHeaderLine(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return false;  // also rejects obs-fold lines and space before ':'
  std::string_view value = TrimSpaceTab(line.substr(colon + 1));
  for (char c : value) {
    if (IsCtl(c) && c != '\t') return false;
  }
  request_.headers.emplace_back(name, value);
  return true;
}

HttpParser::State HttpParser::ParseChunked() {
  const char* data = buffer_.data() + pos_;
  const size_t size = buffer_.size() - pos_;
  while (true) {
    switch (phase_) {
      case kChunkSize: {
        const void* nl_ptr = scan_ < size ? std::memchr(data + scan_, '\n', size - scan_) : nullptr;
        if (nl_ptr == nullptr) {
          if (size - scan_ > kMaxChunkLine) return Fail(400);
          if (request_.expect_continue && !continue_sent_) continue_pending_ = true;
          return kNeedMore;
        }
        const size_t nl = static_cast<size_t>(static_cast<const char*>(nl_ptr) - data);
        if (nl - scan_ > kMaxChunkLine) return Fail(400);
        std::string_view line = LineAt(data, scan_, nl);
        scan_ = nl + 1;
        size_t n = 0;
        size_t digits = 0;
        while (digits < line.size()) {
          const char c = line[digits];
          int v;
          if (c >= '0' && c <= '9') {
            v = c - '0';
          } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
          } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
          } else {
            break;
          }
          n = n * 16 + static_cast<size_t>(v);
          ++digits;
          if (n > limits_.max_body_bytes) return Fail(413);
        }
        if (digits == 0) return Fail(400);
        std::string_view ext = TrimSpaceTab(line.substr(digits));
        if (!ext.empty() && ext.front() != ';') return Fail(400);
        for (char c : ext) {
          if (IsCtl(c) && c != '\t') return Fail(400);
        }
        if (n == 0) {
          phase_ = kTrailers;
          break;
        }
        if (chunked_body_.size() + n > limits_.max_body_bytes) return Fail(413);
        chunk_left_ = n;
        phase_ = kChunkData;
        break;
      }
      case kChunkData: {
        const size_t take = std::min(size - scan_, chunk_left_);
        chunked_body_.append(data + scan_, take);
        scan_ += take;
        chunk_left_ -= take;
        if (chunk_left_ > 0) {
          if (request_.expect_continue && !continue_sent_) continue_pending_ = true;
          return kNeedMore;
        }
        phase_ = kChunkDataEnd;
        break;
      }
      case kChunkDataEnd: {
        if (scan_ >= size) return kNeedMore;
        if (data[scan_] == '\n') {
          scan_ += 1;
        } else if (data[scan_] == '\r') {
          if (scan_ + 1 >= size) return kNeedMore;
          if (data[scan_ + 1] != '\n') return Fail(400);
          scan_ += 2;
        } else {
          return Fail(400);
        }
        phase_ = kChunkSize;
        break;
      }
      case kTrailers: {
        const void* nl_ptr = scan_ < size ? std::memchr(data + scan_, '\n', size - scan_) : nullptr;
        if (nl_ptr == nullptr) {
          if (trailer_bytes_ + (size - scan_) > limits_.max_header_bytes) return Fail(431);
          return kNeedMore;
        }
        const size_t nl = static_cast<size_t>(static_cast<const char*>(nl_ptr) - data);
        std::string_view line = LineAt(data, scan_, nl);
        trailer_bytes_ += nl + 1 - scan_;
        scan_ = nl + 1;
        if (trailer_bytes_ > limits_.max_header_bytes) return Fail(431);
        if (!line.empty()) {
          if (line.find(':') == std::string_view::npos ||
              !IsToken(line.substr(0, line.find(':')))) {
            return Fail(400);
          }
          if (++header_count_ > limits_.max_headers) return Fail(431);
          break;
        }
        // Complete. The head's views may point into an older copy of the buffer (Feed() moves
        // it); rebase them onto the current one.
        RebaseHead(data);
        request_.body = chunked_body_;
        pos_ += scan_;
        ResetRequest();
        state_ = kRequest;
        return kRequest;
      }
      default:
        return Fail(400);
    }
  }
}

}  // namespace dubbo::naming_server
