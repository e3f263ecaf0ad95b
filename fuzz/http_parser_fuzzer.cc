// Fuzzes HttpParser (naming-server/src/http_parser.h): arbitrary bytes, fed whole and in pieces
// whose sizes come from the input, must never crash, hang or read out of bounds; whole and split
// feeding must agree on the requests (method, path, query, body, headers) and the error status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http_parser.h"

namespace {

using dubbo::naming_server::HttpParser;
using dubbo::naming_server::HttpParserLimits;

struct Summary {
  std::vector<std::string> requests;  // method, path, query, body of each
  int error = 0;
};

void Drain(HttpParser* parser, Summary* out) {
  while (true) {
    const HttpParser::State s = parser->Next();
    if (s == HttpParser::kRequest) {
      const auto& r = parser->request();
      std::string line(r.method);
      line += '\0';
      line += r.path;
      line += '\0';
      line += r.query;
      line += '\0';
      line += r.body;
      for (const auto& [name, value] : r.headers) {
        line += '\0';
        line += name;
        line += ':';
        line += value;
      }
      out->requests.push_back(std::move(line));
      continue;
    }
    if (s == HttpParser::kError) {
      out->error = parser->error_status();
      if (out->error != 400 && out->error != 413 && out->error != 417 && out->error != 431 &&
          out->error != 501) {
        __builtin_trap();
      }
    } else {
      parser->TakeContinue();
    }
    return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  HttpParserLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 20;
  limits.max_body_bytes = 4096;
  const size_t split_seed = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  Summary whole;
  {
    HttpParser parser(limits);
    parser.Feed(input);
    Drain(&parser, &whole);
  }
  Summary pieces;
  {
    HttpParser parser(limits);
    size_t pos = 0;
    size_t step = split_seed % 17 + 1;
    while (pos < input.size() && pieces.error == 0) {
      const size_t n = std::min(step, input.size() - pos);
      parser.Feed(input.substr(pos, n));
      pos += n;
      Drain(&parser, &pieces);
      step = (step * 7 + 3) % 23 + 1;
    }
  }
  if (whole.error != pieces.error || whole.requests != pieces.requests) __builtin_trap();
  return 0;
}
