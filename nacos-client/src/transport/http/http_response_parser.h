// Internal: an incremental HTTP/1.x response parser for the naming client's keep-alive transport
// (keepalive_transport.h). Pure: bytes in, complete responses or an error out; no sockets, no
// clock.
//
//   HttpResponseParser parser(limits);
//   parser.Feed(bytes, n);                                  // as they arrive, in any split
//   while (parser.Next(/*no_body=*/false) == HttpResponseParser::kResponse) Use(parser.response());
//   on EOF: if (parser.FinishAtEof() == kResponse) Use(parser.response());   // close-delimited
//
// What it accepts (RFC 9112, client side):
//   - status line `HTTP/1.<digit> SP 3DIGIT [SP reason]`; lines end with CRLF or a bare LF.
//   - interim 1xx responses (other than 101) are skipped; 101 is an error (we never upgrade).
//   - body: none for a HEAD request (`no_body`), 204 and 304; else Transfer-Encoding: chunked
//     (decoded; extensions ignored, trailers skipped), else Content-Length (digits; repeated fields
//     must agree), else everything up to the end of the connection. Another transfer coding is an
//     error.
//   - keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`;
//     a close-delimited body is never keep-alive, nor a response with both Transfer-Encoding and
//     Content-Length (RFC 9112 §6.3: the client must close, the framing may be a smuggling try).
// Limits: the status line and headers at most `max_head_bytes`, the (decoded) body at most
// `max_body_bytes`. After an error the parser stays in kError: the connection must be closed.
//
// Thread-safety: none; one parser per connection.
#ifndef DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_HTTP_RESPONSE_PARSER_H_
#define DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_HTTP_RESPONSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dubbo::registry::nacos {

struct HttpResponseLimits {
  size_t max_head_bytes = 64 << 10;          // Status line + header fields, line ends included.
  size_t max_body_bytes = size_t{16} << 20;  // Decoded body (before Content-Encoding is undone).
};

struct ParsedResponse {
  int status = 0;
  bool keep_alive = false;
  // The Content-Encoding field, trimmed and lower-cased; empty when absent or "identity".
  std::string content_encoding;
  // The body with the transfer coding undone (Content-Encoding is left to the caller).
  std::string body;
};

class HttpResponseParser {
 public:
  enum State { kNeedMore, kResponse, kError };

  explicit HttpResponseParser(HttpResponseLimits limits = {});

  // Appends received bytes.
  void Feed(const char* data, size_t size);
  // Parses the next response from the buffered bytes. `no_body`: it answers a HEAD request.
  // kResponse: response() holds it, its bytes are consumed. kNeedMore: feed more. kError: sticky,
  // error() says why.
  State Next(bool no_body);
  // The peer closed the connection: completes a close-delimited body (kResponse); a response cut
  // short anywhere else is kError; nothing buffered at all is kNeedMore.
  State FinishAtEof();

  // The last response Next()/FinishAtEof() returned; valid until the next call. Movable-from.
  ParsedResponse& response() { return response_; }
  // True if the response that has not completed yet has begun: bytes of it are buffered, or an
  // interim (1xx) response to the same request has been consumed.
  bool InProgress() const {
    return phase_ != Phase::kHead || pos_ < buffer_.size() || interim_seen_;
  }
  const std::string& error() const { return error_; }

 private:
  enum class Phase {
    kHead,
    kLengthBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kError
  };

  State Fail(std::string message);
  State ParseHead(bool no_body);
  State Complete();
  // The next line from pos_ (without its line end), or false when it has not all arrived.
  bool TakeLine(std::string_view* line);
  void Compact();

  const HttpResponseLimits limits_;
  std::string buffer_;
  size_t pos_ = 0;      // First unconsumed byte.
  size_t scanned_ = 0;  // Bytes after pos_ already searched for the end of the head.
  Phase phase_ = Phase::kHead;
  uint64_t remaining_ = 0;  // Of the Content-Length body or the current chunk.
  size_t trailer_bytes_ = 0;
  bool interim_seen_ = false;  // A 1xx of the response in progress was consumed.
  ParsedResponse response_;
  std::string error_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_HTTP_RESPONSE_PARSER_H_
