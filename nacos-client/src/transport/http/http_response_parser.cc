// HttpResponseParser. See http_response_parser.h.
#include "transport/http/http_response_parser.h"

#include <algorithm>
#include <utility>

#include "internal/ascii.h"

namespace dubbo::registry::nacos {
namespace {

using internal::AsciiLower;
using internal::EqualsIgnoreCase;
using internal::TrimSpaceTab;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  c = AsciiLower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// A header field name: visible ASCII other than the separators that matter here.
bool IsTokenChar(char c) {
  return c > 0x20 && c < 0x7f && c != ':' && c != '(' && c != ')' && c != ',' && c != ';' &&
         c != '"';
}

}  // namespace

HttpResponseParser::HttpResponseParser(HttpResponseLimits limits) : limits_(limits) {}

void HttpResponseParser::Feed(const char* data, size_t size) { buffer_.append(data, size); }

HttpResponseParser::State HttpResponseParser::Fail(std::string message) {
  phase_ = Phase::kError;
  error_ = std::move(message);
  return kError;
}

bool HttpResponseParser::TakeLine(std::string_view* line) {
  const size_t nl = buffer_.find('\n', pos_);
  if (nl == std::string::npos) return false;
  std::string_view text(buffer_.data() + pos_, nl - pos_);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  *line = text;
  pos_ = nl + 1;
  return true;
}

void HttpResponseParser::Compact() {
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ >= 4096 && pos_ * 2 >= buffer_.size()) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

HttpResponseParser::State HttpResponseParser::Complete() {
  phase_ = Phase::kHead;
  scanned_ = 0;
  interim_seen_ = false;
  Compact();
  return kResponse;
}

HttpResponseParser::State HttpResponseParser::ParseHead(bool no_body) {
  for (;;) {
    // Stray line ends between responses are skipped (RFC 9112 §2.2 allows a client to). Also when
    // scanned_ > 0: a lone '\r' at pos_ was scanned while its '\n' had not arrived yet.
    while (pos_ < buffer_.size() &&
           (buffer_[pos_] == '\n' ||
            (buffer_[pos_] == '\r' && pos_ + 1 < buffer_.size() && buffer_[pos_ + 1] == '\n'))) {
      pos_ += buffer_[pos_] == '\r' ? 2 : 1;
      scanned_ = 0;
    }
    // Find the empty line that ends the head.
    size_t i = pos_ + scanned_;
    size_t end = std::string::npos;
    for (;;) {
      const size_t nl = buffer_.find('\n', i);
      if (nl == std::string::npos) {
        i = buffer_.size();
        break;
      }
      if (nl + 1 < buffer_.size() && buffer_[nl + 1] == '\n') {
        end = nl + 2;
        break;
      }
      if (nl + 2 < buffer_.size() && buffer_[nl + 1] == '\r' && buffer_[nl + 2] == '\n') {
        end = nl + 3;
        break;
      }
      if (nl + 1 >= buffer_.size() || (buffer_[nl + 1] == '\r' && nl + 2 >= buffer_.size())) {
        i = nl;  // The next line has not arrived yet: look at this line end again.
        break;
      }
      i = nl + 1;
    }
    if (end == std::string::npos) {
      scanned_ = i - pos_;
      if (buffer_.size() - pos_ > limits_.max_head_bytes) {
        return Fail("response head larger than " + std::to_string(limits_.max_head_bytes) +
                    " bytes");
      }
      Compact();
      return kNeedMore;
    }
    if (end - pos_ > limits_.max_head_bytes) {
      return Fail("response head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
    }

    std::string_view line;
    TakeLine(&line);
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !IsDigit(line[7]) || line[8] != ' ' ||
        !IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11]) ||
        (line.size() > 12 && line[12] != ' ')) {
      return Fail("malformed status line");
    }
    const int minor = line[7] - '0';
    const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status < 100) return Fail("malformed status line");

    bool close = false;
    bool keep_alive_token = false;
    bool chunked = false;
    bool has_length = false;
    uint64_t length = 0;
    std::string_view encoding;
    while (pos_ < end) {
      TakeLine(&line);
      if (line.empty()) break;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) return Fail("malformed header field");
      const std::string_view name = line.substr(0, colon);
      if (!std::all_of(name.begin(), name.end(), IsTokenChar)) {
        return Fail("malformed header field");
      }
      const std::string_view value = TrimSpaceTab(line.substr(colon + 1));
      if (EqualsIgnoreCase(name, "content-length")) {
        if (value.empty() || value.size() > 18 ||
            !std::all_of(value.begin(), value.end(), IsDigit)) {
          return Fail("bad Content-Length");
        }
        uint64_t v = 0;
        for (char c : value) v = v * 10 + static_cast<uint64_t>(c - '0');
        if (has_length && v != length) return Fail("conflicting Content-Length fields");
        has_length = true;
        length = v;
      } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
        if (!EqualsIgnoreCase(value, "chunked")) {
          return Fail("unsupported Transfer-Encoding: " + std::string(value.substr(0, 64)));
        }
        chunked = true;
      } else if (EqualsIgnoreCase(name, "connection")) {
        std::string_view rest = value;
        while (!rest.empty()) {
          const size_t comma = rest.find(',');
          const std::string_view token = TrimSpaceTab(rest.substr(0, comma));
          close |= EqualsIgnoreCase(token, "close");
          keep_alive_token |= EqualsIgnoreCase(token, "keep-alive");
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
      } else if (EqualsIgnoreCase(name, "content-encoding")) {
        encoding = value;
      }
    }

    if (status < 200) {
      if (status == 101) return Fail("unexpected 101 Switching Protocols");
      scanned_ = 0;
      interim_seen_ = true;
      continue;  // An interim response: the final one follows.
    }

    response_.status = status;
    response_.keep_alive = minor >= 1 ? !close : keep_alive_token && !close;
    response_.content_encoding.assign(encoding.data(), encoding.size());
    for (char& c : response_.content_encoding) c = AsciiLower(c);
    if (response_.content_encoding == "identity") response_.content_encoding.clear();
    response_.body.clear();
    scanned_ = 0;

    if (no_body || status == 204 || status == 304) return Complete();
    if (chunked) {
      if (has_length) response_.keep_alive = false;
      phase_ = Phase::kChunkSize;
    } else if (has_length) {
      if (length > limits_.max_body_bytes) {
        return Fail("response body larger than " + std::to_string(limits_.max_body_bytes) +
                    " bytes");
      }
      if (length == 0) return Complete();
      remaining_ = length;
      response_.body.reserve(static_cast<size_t>(length));
      phase_ = Phase::kLengthBody;
    } else {
      response_.keep_alive = false;
      phase_ = Phase::kUntilClose;
    }
    return kNeedMore;  // The caller goes on with the body.
  }
}

HttpResponseParser::State HttpResponseParser::Next(bool no_body) {
  for (;;) {
    switch (phase_) {
      case Phase::kError:
        return kError;
      case Phase::kHead: {
        const State s = ParseHead(no_body);
        if (s != kNeedMore || phase_ == Phase::kHead) return s;
        break;  // A head with a body to read.
      }
      case Phase::kLengthBody: {
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(remaining_, buffer_.size() - pos_));
        response_.body.append(buffer_, pos_, take);
        pos_ += take;
        remaining_ -= take;
        if (remaining_ == 0) return Complete();
        Compact();
        return kNeedMore;
      }
      case Phase::kChunkSize: {
        std::string_view line;
        const size_t start = pos_;
        if (!TakeLine(&line)) {
          if (buffer_.size() - pos_ > 1024) return Fail("chunk size line too long");
          Compact();
          return kNeedMore;
        }
        // The same limit when the whole line arrived at once (bytes before the '\n').
        if (pos_ - start - 1 > 1024) return Fail("chunk size line too long");
        uint64_t size = 0;
        size_t i = 0;
        for (; i < line.size() && HexValue(line[i]) >= 0; ++i) {
          if (size > (uint64_t{1} << 40)) return Fail("chunk too large");
          size = size * 16 + static_cast<uint64_t>(HexValue(line[i]));
        }
        if (i == 0 || (i < line.size() && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
          return Fail("malformed chunk size");
        }
        if (size == 0) {
          trailer_bytes_ = 0;
          phase_ = Phase::kTrailers;
          break;
        }
        if (size > limits_.max_body_bytes - response_.body.size()) {
          return Fail("response body larger than " + std::to_string(limits_.max_body_bytes) +
                      " bytes");
        }
        remaining_ = size;
        phase_ = Phase::kChunkData;
        break;
      }
      case Phase::kChunkData: {
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(remaining_, buffer_.size() - pos_));
        response_.body.append(buffer_, pos_, take);
        pos_ += take;
        remaining_ -= take;
        if (remaining_ > 0) {
          Compact();
          return kNeedMore;
        }
        phase_ = Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkDataEnd: {
        std::string_view line;
        if (!TakeLine(&line)) {
          if (buffer_.size() - pos_ > 2) return Fail("malformed chunk end");
          return kNeedMore;
        }
        if (!line.empty()) return Fail("malformed chunk end");
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailers: {
        std::string_view line;
        if (!TakeLine(&line)) {
          if (trailer_bytes_ + (buffer_.size() - pos_) > limits_.max_head_bytes) {
            return Fail("trailers larger than " + std::to_string(limits_.max_head_bytes) +
                        " bytes");
          }
          Compact();
          return kNeedMore;
        }
        // The empty line that ends them counts too, as it does above when it arrives in pieces.
        trailer_bytes_ += line.size() + 2;
        if (trailer_bytes_ > limits_.max_head_bytes) {
          return Fail("trailers larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
        }
        if (line.empty()) return Complete();
        break;
      }
      case Phase::kUntilClose: {
        if (buffer_.size() - pos_ > limits_.max_body_bytes - response_.body.size()) {
          return Fail("response body larger than " + std::to_string(limits_.max_body_bytes) +
                      " bytes");
        }
        response_.body.append(buffer_, pos_, std::string::npos);
        pos_ = buffer_.size();
        Compact();
        return kNeedMore;
      }
    }
  }
}

HttpResponseParser::State HttpResponseParser::FinishAtEof() {
  if (phase_ == Phase::kError) return kError;
  if (phase_ == Phase::kUntilClose) {
    const State s = Next(false);  // Takes what is buffered.
    if (s == kError) return s;
    return Complete();
  }
  if (phase_ == Phase::kHead) {
    while (pos_ < buffer_.size() && (buffer_[pos_] == '\r' || buffer_[pos_] == '\n')) ++pos_;
    if (pos_ == buffer_.size() && !interim_seen_) {
      Compact();
      return kNeedMore;
    }
  }
  return Fail("connection closed in the middle of a response");
}

}  // namespace dubbo::registry::nacos
