// Fuzzes HttpResponseParser (nacos-client/src/transport/http/http_response_parser.h): arbitrary bytes, fed
// whole, in pieces whose sizes come from the input and (when short) byte by byte, draining Next()
// after every piece and calling FinishAtEof() at the end, must never crash, hang or read out of
// bounds. Every response must be sane (status 200..999, body within the limit and absent where none
// is allowed, content coding normalized); an error must be sticky; and all ways of feeding must
// agree on the responses, the error and the EOF outcome.
//
// Input: byte 0 seeds the piece sizes; byte 1 holds the no_body (HEAD) flags of responses 0..3
// (bits 0-3, repeating), the head limit (bits 4-5) and the body limit (bits 6-7); the rest is the
// stream. The limits are small so that they are hit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport/http/http_response_parser.h"

namespace {

using dubbo::registry::nacos::HttpResponseLimits;
using dubbo::registry::nacos::HttpResponseParser;
using dubbo::registry::nacos::ParsedResponse;

struct Config {
  HttpResponseLimits limits;
  unsigned no_body_mask = 0;
  size_t input_size = 0;
};

struct Summary {
  std::vector<std::string> responses;  // status, keep-alive, coding, body of each
  bool error = false;
  std::string error_message;
  HttpResponseParser::State eof = HttpResponseParser::kNeedMore;
};

bool NoBody(const Config& config, size_t index) { return (config.no_body_mask >> (index % 4)) & 1; }

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Record(const ParsedResponse& r, const Config& config, bool no_body, Summary* out) {
  Check(r.status >= 200 && r.status <= 999);
  Check(r.body.size() <= config.limits.max_body_bytes);
  Check(r.body.size() <= config.input_size);
  if (no_body || r.status == 204 || r.status == 304) Check(r.body.empty());
  const std::string& coding = r.content_encoding;
  Check(coding != "identity");
  Check(std::none_of(coding.begin(), coding.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  if (!coding.empty()) {
    Check(coding.front() != ' ' && coding.front() != '\t');
    Check(coding.back() != ' ' && coding.back() != '\t');
  }
  std::string line = std::to_string(r.status);
  line += r.keep_alive ? 'k' : 'c';
  line += coding;
  line += '\0';
  line += r.body;
  out->responses.push_back(std::move(line));
}

void CheckSticky(HttpResponseParser* parser, const std::string& message) {
  Check(!message.empty());
  Check(parser->InProgress());
  parser->Feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
  Check(parser->Next(false) == HttpResponseParser::kError);
  Check(parser->Next(true) == HttpResponseParser::kError);
  Check(parser->FinishAtEof() == HttpResponseParser::kError);
  Check(parser->error() == message);
}

void Drain(HttpResponseParser* parser, const Config& config, Summary* out) {
  for (;;) {
    const bool no_body = NoBody(config, out->responses.size());
    const HttpResponseParser::State s = parser->Next(no_body);
    if (s == HttpResponseParser::kResponse) {
      Record(parser->response(), config, no_body, out);
      continue;
    }
    if (s == HttpResponseParser::kError) {
      out->error = true;
      out->error_message = parser->error();
      Check(!out->error_message.empty());
      Check(parser->Next(no_body) == HttpResponseParser::kError);
    }
    return;
  }
}

void Finish(HttpResponseParser* parser, const Config& config, Summary* out) {
  const bool in_progress = parser->InProgress();
  out->eof = parser->FinishAtEof();
  switch (out->eof) {
    case HttpResponseParser::kResponse:
      Check(in_progress);
      Check(!NoBody(config, out->responses.size()));
      Check(!parser->response().keep_alive);  // Only a close-delimited body ends at EOF.
      Record(parser->response(), config, false, out);
      Check(!parser->InProgress());
      Check(parser->FinishAtEof() == HttpResponseParser::kNeedMore);
      break;
    case HttpResponseParser::kNeedMore:
      Check(!out->error);
      Check(!parser->InProgress());
      Check(parser->FinishAtEof() == HttpResponseParser::kNeedMore);
      break;
    case HttpResponseParser::kError:
      if (!out->error) {
        Check(in_progress);
        out->error = true;
        out->error_message = parser->error();
      }
      Check(parser->error() == out->error_message);
      CheckSticky(parser, out->error_message);
      break;
  }
}

// Feeds `input` in pieces: `step` gives the first piece's size and the next one's from the last.
Summary Run(std::string_view input, const Config& config, size_t first_step, bool vary) {
  HttpResponseParser parser(config.limits);
  Summary out;
  size_t pos = 0;
  size_t step = first_step;
  while (pos < input.size() && !out.error) {
    const size_t n = std::min(step, input.size() - pos);
    parser.Feed(input.data() + pos, n);
    pos += n;
    Drain(&parser, config, &out);
    if (vary) step = (step * 7 + 3) % 23 + 1;
  }
  Finish(&parser, config, &out);
  return out;
}

bool Same(const Summary& a, const Summary& b) {
  return a.responses == b.responses && a.error == b.error && a.error_message == b.error_message &&
         a.eof == b.eof;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t split_seed = data[0];
  const unsigned flags = data[1];
  Config config;
  config.no_body_mask = flags & 0x0f;
  config.limits.max_head_bytes = size_t{96} << ((flags >> 4) & 3);  // 96 .. 768
  config.limits.max_body_bytes = size_t{24} << ((flags >> 6) & 3);  // 24 .. 192
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  config.input_size = input.size();

  const Summary whole = Run(input, config, input.size() + 1, false);
  const Summary pieces = Run(input, config, split_seed % 17 + 1, true);
  Check(Same(whole, pieces));
  if (input.size() <= 512) {
    const Summary bytes = Run(input, config, 1, false);
    Check(Same(whole, bytes));
  }
  return 0;
}
