// Internal: an incremental HTTP/1.x request parser for the naming server's own HTTP layer
// (http_server.h). Pure: no sockets, no clock; bytes in, complete requests or an error status out.
//
//   HttpParser parser(limits);
//   parser.Feed(bytes);                       // as they arrive, in any split
//   while (parser.Next() == HttpParser::kRequest) Use(parser.request());
//   if (parser.state() == HttpParser::kError) Answer(parser.error_status()), close.
//
// The subset it accepts (RFC 9112, server side):
//   - request line `METHOD SP target SP HTTP/1.x` (major 1, one digit minor; 1.2+ counts as 1.1);
//     the method must be a token, the target free of control characters. Like evhttp, a target
//     that contains spaces is accepted (the first space ends the method, the last one starts the
//     version). Empty lines before a request line are skipped (RFC 9112 §2.2).
//   - lines end with CRLF or a bare LF; a CR anywhere else, NUL or another control character
//     (HT excepted) in a header value, a header line without ':' or with whitespace before it,
//     and obs-fold continuation lines are 400.
//   - request line plus headers at most `max_header_bytes` and `max_headers` fields: else 431.
//   - body: Content-Length (digits only; repeated fields must agree; 400 otherwise) or
//     Transfer-Encoding: chunked (decoded: chunk extensions ignored, trailers skipped and counted
//     against the header limits). Any other transfer coding is 501; Transfer-Encoding together
//     with Content-Length, or on HTTP/1.0, is 400. A body over `max_body_bytes` is 413 (for
//     Content-Length as soon as the head is parsed, before the body arrives). Without either
//     field a request has no body.
//   - keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
//   - `Expect: 100-continue` (HTTP/1.1, non-empty body): TakeContinue() says when to send the
//     interim `100 Continue`, i.e. once, when the head is complete and the body has not all
//     arrived.
// After an error the parser stays in kError: the connection is to be answered and closed.
//
// Thread-safety: none; one parser per connection.
#ifndef DUBBO_NAMING_SERVER_SRC_HTTP_PARSER_H_
#define DUBBO_NAMING_SERVER_SRC_HTTP_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dubbo::naming_server {

struct HttpParserLimits {
  size_t max_header_bytes = 16 << 10;  // request line + header fields, line ends included
  size_t max_headers = 100;            // header fields (trailers of a chunked body count too)
  size_t max_body_bytes = 1 << 20;     // decoded body
};

// One request. The views point into the parser's buffer and stay valid until the next Feed() or
// Next() call.
struct ParsedRequest {
  std::string_view method;
  std::string_view target;  // as sent
  // The target's path: without scheme and authority (absolute form), query and fragment. Not
  // percent-decoded (as evhttp_uri_get_path).
  std::string_view path;
  bool has_query = false;
  std::string_view query;  // after '?', before '#'
  int minor_version = 1;   // HTTP/1.<minor_version>, 0 or 1
  bool keep_alive = true;
  bool expect_continue = false;
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // values trimmed
  std::string_view body;

  // The first field named `name` (ASCII case-insensitive), nullopt when absent.
  std::optional<std::string_view> Header(std::string_view name) const;
};

class HttpParser {
 public:
  enum State { kNeedMore, kRequest, kError };

  explicit HttpParser(HttpParserLimits limits = {});

  // Appends bytes. Invalidates the views of the last request.
  void Feed(std::string_view bytes);
  // Parses the next request from the buffered bytes. kRequest: request() holds it and its bytes
  // are consumed. kNeedMore: feed more. kError: error_status() says why; sticky.
  State Next();
  State state() const { return state_; }
  const ParsedRequest& request() const { return request_; }
  // 400, 413, 431 or 501 once Next() returned kError.
  int error_status() const { return error_status_; }
  // True once per request when its head asked for `Expect: 100-continue`, it has a body, and
  // Next() returned kNeedMore before the whole body arrived.
  bool TakeContinue();
  // Bytes buffered for requests not returned yet (0 between requests).
  size_t pending_bytes() const { return buffer_.size() - pos_; }
  // After Next() returned kNeedMore: true when the current request's head is complete and its body
  // is still arriving.
  bool awaiting_body() const { return state_ == kNeedMore && phase_ != kHead; }

 private:
  State Fail(int status);
  State ParseHead();
  State ParseChunked();
  bool ParseRequestLine(std::string_view line);
  bool ParseHeaderLine(std::string_view line);
  void ResetRequest();
  // Moves request_'s views from head_base_ to `base` (the request's start in the buffer now).
  void RebaseHead(const char* base);

  HttpParserLimits limits_;
  std::string buffer_;
  size_t pos_ = 0;  // start of the current request in buffer_
  State state_ = kNeedMore;
  int error_status_ = 0;
  ParsedRequest request_;

  // Per request; offsets relative to pos_ (stable across Feed(), which drops only bytes before
  // pos_).
  enum Phase { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers };
  Phase phase_ = kHead;
  size_t scan_ = 0;        // where the head's scan for line ends resumes
  size_t line_start_ = 0;  // start of the line being scanned
  size_t head_end_ = 0;    // end of the head (after its empty line)
  size_t body_length_ = 0;
  size_t chunk_left_ = 0;     // data bytes left of the current chunk
  size_t trailer_bytes_ = 0;  // bytes of trailer lines so far
  bool chunked_ = false;
  bool continue_pending_ = false;
  bool continue_sent_ = false;
  std::string chunked_body_;  // decoded chunked body
  size_t header_count_ = 0;   // fields of the head, then of the head and the trailers
  // Where the buffer's request started when request_'s views were made (see RebaseHead()).
  const char* head_base_ = nullptr;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_HTTP_PARSER_H_
