// HttpResponseParser: the keep-alive transport's incremental HTTP/1.x response parser (no sockets).
// Every stream is also fed split in two at every byte boundary and one byte at a time, and must
// parse the same: a TCP connection may cut a pipelined stream anywhere.
#include "transport/http/http_response_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace dubbo::registry::nacos {
namespace {

using State = HttpResponseParser::State;
constexpr State kNeedMore = HttpResponseParser::kNeedMore;
constexpr State kResponse = HttpResponseParser::kResponse;
constexpr State kError = HttpResponseParser::kError;

// A parsed response, copied out of the parser.
struct Got {
  int status = 0;
  bool keep_alive = false;
  std::string encoding;
  std::string body;
};

struct Outcome {
  std::vector<Got> responses;  // From Next(), then the one FinishAtEof() returned, if any.
  bool error = false;          // Next() or FinishAtEof() returned kError.
  std::string error_message;
  bool in_progress = false;  // InProgress() after the last feed, before FinishAtEof().
  State eof = kNeedMore;     // What FinishAtEof() returned.
};

struct Options {
  HttpResponseLimits limits;
  // no_body for the i-th response (false past the end): the i-th request was a HEAD.
  std::vector<bool> no_body;
};

Got Copy(const ParsedResponse& r) {
  return Got{r.status, r.keep_alive, r.content_encoding, r.body};
}

bool NoBodyFor(const Options& o, size_t index) {
  return index < o.no_body.size() && o.no_body[index];
}

void Drain(HttpResponseParser* parser, const Options& o, Outcome* out) {
  for (;;) {
    const State s = parser->Next(NoBodyFor(o, out->responses.size()));
    if (s == kResponse) {
      out->responses.push_back(Copy(parser->response()));
      continue;
    }
    if (s == kError) {
      out->error = true;
      out->error_message = parser->error();
      EXPECT_FALSE(parser->error().empty());
    }
    return;
  }
}

// Feeds `chunks` one after the other, draining after each, then signals EOF. Also checks that an
// error is sticky.
Outcome RunChunks(const std::vector<std::string>& chunks, const Options& o = {}) {
  HttpResponseParser parser(o.limits);
  Outcome out;
  for (const std::string& chunk : chunks) {
    parser.Feed(chunk.data(), chunk.size());
    Drain(&parser, o, &out);
    if (out.error) break;
  }
  out.in_progress = parser.InProgress();
  out.eof = parser.FinishAtEof();
  if (out.eof == kResponse) out.responses.push_back(Copy(parser.response()));
  if (out.eof == kError && !out.error) {
    out.error = true;
    out.error_message = parser.error();
  }
  if (out.error) {
    EXPECT_EQ(out.eof, kError);
    EXPECT_TRUE(parser.InProgress());
    const std::string good = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    parser.Feed(good.data(), good.size());
    EXPECT_EQ(parser.Next(false), kError);
    EXPECT_EQ(parser.FinishAtEof(), kError);
    EXPECT_EQ(parser.error(), out.error_message);
  }
  return out;
}

Outcome Whole(const std::string& raw, const Options& o = {}) { return RunChunks({raw}, o); }

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

const char* StateName(State s) {
  return s == kNeedMore ? "kNeedMore" : s == kResponse ? "kResponse" : "kError";
}

// Everything an Outcome says, as text: comparing two of them shows the first difference.
std::string Describe(const Outcome& o) {
  std::string s;
  for (const Got& r : o.responses) {
    s += std::to_string(r.status) + (r.keep_alive ? " keep-alive" : " close") +
         " enc=" + r.encoding + " body=" + Escape(r.body) + "\n";
  }
  s += "error=" + (o.error ? o.error_message : std::string("none"));
  s += std::string(" in_progress=") + (o.in_progress ? "1" : "0") + " eof=" + StateName(o.eof);
  return s;
}

// Parses `raw` whole, split in two at every position, and byte by byte: all must agree.
Outcome EverySplit(const std::string& raw, const Options& o = {}) {
  const Outcome whole = Whole(raw, o);
  const std::string expected = Describe(whole);
  for (size_t cut = 1; cut < raw.size(); ++cut) {
    const Outcome split = RunChunks({raw.substr(0, cut), raw.substr(cut)}, o);
    EXPECT_EQ(expected, Describe(split)) << "cut at " << cut << " of " << Escape(raw);
    if (expected != Describe(split)) break;  // One report per stream is enough.
  }
  std::vector<std::string> bytes;
  for (char c : raw) bytes.emplace_back(1, c);
  EXPECT_EQ(expected, Describe(RunChunks(bytes, o))) << "byte by byte: " << Escape(raw);
  return whole;
}

std::string WithLength(const std::string& status_and_headers, const std::string& body) {
  return status_and_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Deterministic pseudo-random bytes (all 256 values, line ends included).
std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (char& c : s) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return s;
}

// --- Bodies
// ----------------------------------------------------------------------------------------

TEST(HttpResponseParserTest, ContentLengthBody) {
  const std::string body = "{\"hosts\":[],\"name\":\"DEFAULT_GROUP@@demo\"}\r\n\n";
  Outcome out =
      EverySplit(WithLength("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", body));
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].status, 200);
  EXPECT_TRUE(out.responses[0].keep_alive);
  EXPECT_EQ(out.responses[0].encoding, "");
  EXPECT_EQ(out.responses[0].body, body);
  EXPECT_FALSE(out.in_progress);
  EXPECT_EQ(out.eof, kNeedMore);
}

TEST(HttpResponseParserTest, ZeroContentLengthCompletesWithTheHead) {
  HttpResponseParser parser;
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  parser.Feed(raw.data(), raw.size());
  ASSERT_EQ(parser.Next(false), kResponse);
  EXPECT_EQ(parser.response().status, 200);
  EXPECT_EQ(parser.response().body, "");
  EXPECT_FALSE(parser.InProgress());
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
}

TEST(HttpResponseParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz";
  const std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A ; ext=\"q\"\r\n" +
      alphabet +
      "\r\n"
      "a\t;x\r\n0123456789\r\n"
      "3\r\n\r\n\n\r\n"  // Chunk data may hold line ends.
      "0;last\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";  // The trailers were consumed exactly.
  Outcome out = EverySplit(raw);
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 2u);
  EXPECT_EQ(out.responses[0].status, 200);
  EXPECT_TRUE(out.responses[0].keep_alive);
  EXPECT_EQ(out.responses[0].body, "hello" + alphabet + "0123456789\r\n\n");
  EXPECT_EQ(out.responses[1].status, 204);
  EXPECT_FALSE(out.in_progress);
  EXPECT_EQ(out.eof, kNeedMore);
}

TEST(HttpResponseParserTest, ChunkedIsCaseInsensitiveAndTrimmedAndMayBeEmpty) {
  Outcome out = EverySplit(
      "HTTP/1.1 200 OK\r\ntransfer-encoding: \tChunked \r\n\r\nA\r\n0123456789\r\nF\r\n"
      "abcdefghijklmno\r\n0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n000\r\n\r\n");
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 2u);
  EXPECT_EQ(out.responses[0].body, "0123456789abcdefghijklmno");
  EXPECT_EQ(out.responses[1].body, "");
  EXPECT_TRUE(out.responses[1].keep_alive);
}

TEST(HttpResponseParserTest, ChunkedWinsOverContentLength) {
  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length.
  Outcome out = EverySplit(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 2u);
  EXPECT_EQ(out.responses[0].body, "abc");
  EXPECT_FALSE(
      out.responses[0].keep_alive);  // Both framings: the client must close (RFC 9112 §6.3).
  EXPECT_EQ(out.responses[1].body, "ok");
}

TEST(HttpResponseParserTest, CloseDelimitedBodyIsCompletedByFinishAtEof) {
  const std::string body =
      "line one\r\nline two\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body;
  Outcome out = EverySplit(raw);
  ASSERT_FALSE(out.error) << out.error_message;
  EXPECT_TRUE(out.in_progress);  // Until EOF, the body may go on.
  EXPECT_EQ(out.eof, kResponse);
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].status, 200);
  EXPECT_FALSE(out.responses[0].keep_alive);  // Never, for a close-delimited body.
  EXPECT_EQ(out.responses[0].body, body);

  // Nothing comes out before EOF; afterwards the parser is idle.
  HttpResponseParser parser;
  parser.Feed(raw.data(), raw.size());
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_EQ(parser.Next(false), kNeedMore);
  ASSERT_EQ(parser.FinishAtEof(), kResponse);
  EXPECT_EQ(parser.response().body, body);
  EXPECT_FALSE(parser.InProgress());
  EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
}

TEST(HttpResponseParserTest, CloseDelimitedBodyMayBeEmptyAndIsNeverKeepAlive) {
  Outcome empty = EverySplit("HTTP/1.1 500 Internal Server Error\r\nServer: x\r\n\r\n");
  ASSERT_EQ(empty.responses.size(), 1u);
  EXPECT_EQ(empty.eof, kResponse);
  EXPECT_EQ(empty.responses[0].status, 500);
  EXPECT_EQ(empty.responses[0].body, "");
  EXPECT_FALSE(empty.responses[0].keep_alive);

  Outcome http10 = EverySplit("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nabc");
  ASSERT_EQ(http10.responses.size(), 1u);
  EXPECT_EQ(http10.responses[0].body, "abc");
  EXPECT_FALSE(http10.responses[0].keep_alive);
}

// --- Responses without a body
// ---------------------------------------------------------------------

TEST(HttpResponseParserTest, HeadResponsesHaveNoBodyWhateverTheirFraming) {
  Options head;
  head.no_body = {true, true, true, false};
  Outcome out = EverySplit(
      "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\n\r\n"  // Would be close-delimited without HEAD.
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      head);
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.responses[i].body, "") << i;
    EXPECT_TRUE(out.responses[i].keep_alive) << i;
  }
  EXPECT_EQ(out.responses[2].status, 404);
  EXPECT_EQ(out.responses[3].body, "ok");
  EXPECT_FALSE(out.in_progress);
  EXPECT_EQ(out.eof, kNeedMore);
}

TEST(HttpResponseParserTest, NoBodyDoesNotCarryOverToTheNextResponse) {
  HttpResponseParser parser;
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  parser.Feed(raw.data(), raw.size());
  ASSERT_EQ(parser.Next(true), kResponse);
  EXPECT_EQ(parser.response().body, "");
  ASSERT_EQ(parser.Next(false), kResponse);
  EXPECT_EQ(parser.response().body, "hello");
  EXPECT_FALSE(parser.InProgress());
}

TEST(HttpResponseParserTest, NoBodyFor204And304EvenWithFraming) {
  Outcome out = EverySplit(
      "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"  // Not close-delimited either: still keep-alive.
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 4u);
  EXPECT_EQ(out.responses[0].status, 204);
  EXPECT_EQ(out.responses[1].status, 304);
  EXPECT_EQ(out.responses[2].status, 204);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.responses[i].body, "") << i;
    EXPECT_TRUE(out.responses[i].keep_alive) << i;
  }
  EXPECT_EQ(out.responses[3].status, 200);
  EXPECT_EQ(out.responses[3].body, "abc");
  EXPECT_EQ(out.eof, kNeedMore);
}

// --- Interim responses
// ----------------------------------------------------------------------------

TEST(HttpResponseParserTest, InterimResponsesAreSkippedAndTheirFieldsIgnored) {
  Outcome out = EverySplit(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 102 Processing\r\nConnection: close\r\nContent-Length: 5\r\n"
      "Content-Encoding: gzip\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 2u);
  EXPECT_EQ(out.responses[0].status, 200);
  EXPECT_TRUE(out.responses[0].keep_alive);  // Not the 102's Connection: close.
  EXPECT_EQ(out.responses[0].encoding, "");  // Not the 102's Content-Encoding.
  EXPECT_EQ(out.responses[0].body, "hi");    // Not the 102's Content-Length.
  EXPECT_EQ(out.responses[1].status, 201);
  EXPECT_FALSE(out.in_progress);
}

TEST(HttpResponseParserTest, InterimResponseBeforeAHeadResponse) {
  Options head;
  head.no_body = {true};
  Outcome out = EverySplit(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
      head);
  ASSERT_EQ(out.responses.size(), 2u);
  EXPECT_EQ(out.responses[0].body, "");
  EXPECT_EQ(out.responses[1].body, "x");
}

TEST(HttpResponseParserTest, SwitchingProtocolsIsAnError) {
  Outcome out = EverySplit(
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(out.error);
  EXPECT_NE(out.error_message.find("101"), std::string::npos) << out.error_message;
  ASSERT_EQ(out.responses.size(), 1u);  // The response before it came out.
  EXPECT_EQ(out.responses[0].body, "a");
}

// --- Fields
// ---------------------------------------------------------------------------------------

TEST(HttpResponseParserTest, KeepAliveRules) {
  struct Case {
    const char* version;
    const char* fields;
    bool keep_alive;
  };
  const Case cases[] = {
      {"1.1", "", true},
      {"1.1", "Connection: close\r\n", false},
      {"1.1", "connection: CLOSE\r\n", false},
      {"1.1", "Connection:close\r\n", false},
      {"1.1", "Connection: foo, close\r\n", false},
      {"1.1", "Connection: foo,close , bar\r\n", false},
      {"1.1", "Connection: te\r\nConnection: close\r\n", false},
      {"1.1", "Connection: keep-alive\r\n", true},
      {"1.1", "Connection: closed\r\n", true},  // Not the token "close".
      {"1.1", "Connection: foo\r\n", true},
      {"1.1", "Connection:\r\n", true},
      {"1.1", "Keep-Alive: timeout=5\r\n", true},
      {"1.0", "", false},
      {"1.0", "Keep-Alive: timeout=5, max=100\r\n", false},  // Needs the Connection token.
      {"1.0", "Connection: keep-alive\r\n", true},
      {"1.0", "Connection: Keep-Alive\r\n", true},
      {"1.0", "Connection: foo, keep-alive\r\n", true},
      {"1.0", "Connection: keep-alive, close\r\n", false},
      {"1.0", "Connection: keep-alive\r\nConnection: close\r\n", false},
      {"1.0", "Connection: keep-alives\r\n", false},
  };
  for (const Case& c : cases) {
    const std::string raw =
        std::string("HTTP/") + c.version + " 200 OK\r\n" + c.fields + "Content-Length: 0\r\n\r\n";
    Outcome out = EverySplit(raw);
    ASSERT_EQ(out.responses.size(), 1u) << Escape(raw);
    EXPECT_EQ(out.responses[0].keep_alive, c.keep_alive) << Escape(raw);
  }
  // Chunked bodies follow the same rules.
  Outcome chunked = EverySplit(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n");
  ASSERT_EQ(chunked.responses.size(), 2u);
  EXPECT_FALSE(chunked.responses[0].keep_alive);
  EXPECT_TRUE(chunked.responses[1].keep_alive);
}

TEST(HttpResponseParserTest, ContentEncodingIsLowerCasedAndTrimmedAndIdentityCleared) {
  struct Case {
    const char* field;
    const char* encoding;
  };
  const Case cases[] = {
      {"", ""},
      {"Content-Encoding: gzip\r\n", "gzip"},
      {"Content-Encoding:  GZip \t\r\n", "gzip"},
      {"content-encoding:DEFLATE\r\n", "deflate"},
      {"CONTENT-ENCODING: Br, GZIP\r\n", "br, gzip"},
      {"Content-Encoding: identity\r\n", ""},
      {"Content-Encoding: \tIdentity \r\n", ""},
      {"Content-Encoding:\r\n", ""},
  };
  for (const Case& c : cases) {
    const std::string raw =
        std::string("HTTP/1.1 200 OK\r\n") + c.field + "Content-Length: 2\r\n\r\nab";
    Outcome out = EverySplit(raw);
    ASSERT_EQ(out.responses.size(), 1u) << Escape(raw);
    EXPECT_EQ(out.responses[0].encoding, c.encoding) << Escape(raw);
    EXPECT_EQ(out.responses[0].body, "ab") << Escape(raw);  // Content-Encoding is not undone.
  }
}

TEST(HttpResponseParserTest, StatusCodesAndReasonPhrases) {
  Outcome out = EverySplit(
      "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"   // No reason phrase.
      "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"  // Empty reason phrase.
      "HTTP/1.1 503 Service Unavailable: try later\r\nContent-Length: 0\r\n\r\n"
      "HTTP/1.0 999 Whatever\r\nContent-Length: 0\r\n\r\n"
      "HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n");  // Non-ASCII reason.
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 5u);
  EXPECT_EQ(out.responses[0].status, 200);
  EXPECT_EQ(out.responses[1].status, 404);
  EXPECT_EQ(out.responses[2].status, 503);
  EXPECT_EQ(out.responses[3].status, 999);
  EXPECT_FALSE(out.responses[3].keep_alive);
  EXPECT_EQ(out.responses[4].status, 200);
}

// --- Streams
// --------------------------------------------------------------------------------------

TEST(HttpResponseParserTest, PipelinedResponsesInOneFeed) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n"
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nthird"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
      "HTTP/1.1 500 Internal Server Error\r\nContent-Encoding: gzip\r\nConnection: close\r\n"
      "Content-Length: 4\r\n\r\n\x1f\x8b\x08\x08";
  Outcome out = EverySplit(raw);
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 6u);
  EXPECT_EQ(out.responses[0].body, "first");
  EXPECT_EQ(out.responses[1].body, "second");
  EXPECT_EQ(out.responses[2].body, "third");
  EXPECT_TRUE(out.responses[2].keep_alive);
  EXPECT_EQ(out.responses[3].status, 204);
  EXPECT_EQ(out.responses[4].status, 404);
  EXPECT_EQ(out.responses[4].body, "not found");
  EXPECT_EQ(out.responses[5].status, 500);
  EXPECT_EQ(out.responses[5].encoding, "gzip");
  EXPECT_FALSE(out.responses[5].keep_alive);
  EXPECT_EQ(out.responses[5].body, std::string("\x1f\x8b\x08\x08", 4));
  EXPECT_FALSE(out.in_progress);
  EXPECT_EQ(out.eof, kNeedMore);

  // One Next() per response, straight from one Feed().
  HttpResponseParser parser;
  parser.Feed(raw.data(), raw.size());
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(parser.Next(false), kResponse) << i;
    EXPECT_EQ(parser.InProgress(), i < 5) << i;
  }
  EXPECT_EQ(parser.Next(false), kNeedMore);
}

TEST(HttpResponseParserTest, StrayLineEndsBetweenResponsesAreSkipped) {
  Outcome out = EverySplit(
      "\r\n\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
      "\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n"
      "\n\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"
      "\r\n");
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 3u);
  EXPECT_EQ(out.responses[0].body, "a");
  EXPECT_EQ(out.responses[1].body, "b");
  EXPECT_EQ(out.responses[2].body, "c");
  EXPECT_FALSE(out.in_progress);
  EXPECT_EQ(out.eof, kNeedMore);
}

TEST(HttpResponseParserTest, BareLineFeedsAreAccepted) {
  Outcome out = EverySplit(
      "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc"
      "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nxyz\n2;e\n\r\n\n0\nT: x\n\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\nz"  // Mixed line ends.
      "HTTP/1.0 200 OK\nConnection: keep-alive\n\n");
  ASSERT_FALSE(out.error) << out.error_message;
  ASSERT_EQ(out.responses.size(), 4u);
  EXPECT_EQ(out.responses[0].body, "abc");
  EXPECT_TRUE(out.responses[0].keep_alive);
  EXPECT_EQ(out.responses[1].body, "xyz\r\n");
  EXPECT_EQ(out.responses[2].body, "z");
  EXPECT_EQ(out.responses[3].body, "");  // Close-delimited: completed by EOF.
  EXPECT_FALSE(out.responses[3].keep_alive);
  EXPECT_EQ(out.eof, kResponse);
}

// --- Malformed responses
// --------------------------------------------------------------------------

TEST(HttpResponseParserTest, MalformedStatusLines) {
  const char* lines[] = {
      "HTTP/1.1 20 OK",    "HTTP/1.1 2000 OK", "HTTP/2 200 OK",    "HTTP/2.0 200 OK",
      "HTTP/1.1 200OK",    "HTTP/1.x 200 OK",  "http/1.1 200 OK",  "HTTP/1.1 099 Low",
      "HTTP/1.1 000 Zero", "HTTP/1.1 abc OK",  "HTTP/1.1 2a0 OK",  "HTTP/1.1  200 OK",
      " HTTP/1.1 200 OK",  "ICY 200 OK",       "HTTP/1.1",         "HTTP/1.10 200 OK",
      "HTTP/1.1\t200 OK",  "<html>",           "HTTP/1.1 200\tOK", "\rHTTP/1.1 200 OK",
      "HTTP/1.1 -20 OK",   "HTTP/11 200 OK",
  };
  for (const char* status_line : lines) {
    const std::string raw = std::string(status_line) + "\r\nContent-Length: 0\r\n\r\n";
    Outcome out = EverySplit(raw);
    EXPECT_TRUE(out.error) << Escape(raw);
    EXPECT_EQ(out.error_message, "malformed status line") << Escape(raw);
    EXPECT_TRUE(out.responses.empty()) << Escape(raw);
  }
  // A NUL where the space before the reason phrase belongs.
  static const char kNul[] = "HTTP/1.1 200\0OK\r\nContent-Length: 0\r\n\r\n";
  Outcome nul = EverySplit(std::string(kNul, sizeof kNul - 1));
  EXPECT_EQ(nul.error_message, "malformed status line");
}

TEST(HttpResponseParserTest, MalformedHeaderFields) {
  const char* fields[] = {
      "NoColonHere\r\n",
      ": empty-name\r\n",
      "Bad Name: x\r\n",
      "Name : x\r\n",
      "Content-Type: a\r\n continued\r\n",      // obs-fold
      "Content-Type: a\r\n\tcontinued: x\r\n",  // obs-fold that looks like a field
      "Na(me: x\r\n",
      "Na\"me: x\r\n",
      "X\x01Y: z\r\n",
      "X\x7fY: z\r\n",
  };
  for (const char* field : fields) {
    const std::string raw =
        std::string("HTTP/1.1 200 OK\r\n") + field + "Content-Length: 0\r\n\r\n";
    Outcome out = EverySplit(raw);
    EXPECT_TRUE(out.error) << Escape(raw);
    EXPECT_EQ(out.error_message, "malformed header field") << Escape(raw);
  }
}

TEST(HttpResponseParserTest, BadContentLength) {
  const char* values[] = {"",
                          "abc",
                          "-1",
                          "+1",
                          "1 2",
                          "1,1",
                          "0x10",
                          "1.0",
                          "1e3",
                          "١",
                          "5;x",
                          "1234567890123456789",
                          "99999999999999999999999999"};
  for (const char* value : values) {
    const std::string raw =
        std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + value + "\r\n\r\n0123456789";
    Outcome out = EverySplit(raw);
    EXPECT_TRUE(out.error) << Escape(raw);
    EXPECT_EQ(out.error_message, "bad Content-Length") << Escape(raw);
    EXPECT_TRUE(out.responses.empty()) << Escape(raw);
  }
  // 18 digits still parse (no overflow): the body limit rejects them.
  Outcome huge = Whole("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n");
  EXPECT_TRUE(huge.error);
  EXPECT_NE(huge.error_message.find("body larger"), std::string::npos) << huge.error_message;
  // Leading zeros and surrounding blanks are fine.
  Outcome padded =
      EverySplit("HTTP/1.1 200 OK\r\nContent-Length: \t0003 \r\n\r\nabcHTTP/1.1 204 x\r\n\r\n");
  ASSERT_EQ(padded.responses.size(), 2u);
  EXPECT_EQ(padded.responses[0].body, "abc");
}

TEST(HttpResponseParserTest, RepeatedContentLengthMustAgree) {
  Outcome conflicting =
      EverySplit("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
  EXPECT_TRUE(conflicting.error);
  EXPECT_EQ(conflicting.error_message, "conflicting Content-Length fields");

  Outcome agreeing =
      EverySplit("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc");
  ASSERT_FALSE(agreeing.error) << agreeing.error_message;
  ASSERT_EQ(agreeing.responses.size(), 1u);
  EXPECT_EQ(agreeing.responses[0].body, "abc");
}

TEST(HttpResponseParserTest, UnsupportedTransferEncoding) {
  const char* values[] = {"gzip", "gzip, chunked", "chunked, gzip", "identity",
                          "",     "chunked;q=1",   "x-custom"};
  for (const char* value : values) {
    const std::string raw =
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") + value + "\r\n\r\n0\r\n\r\n";
    Outcome out = EverySplit(raw);
    EXPECT_TRUE(out.error) << Escape(raw);
    EXPECT_EQ(out.error_message.rfind("unsupported Transfer-Encoding", 0), 0u)
        << Escape(raw) << ": " << out.error_message;
  }
}

TEST(HttpResponseParserTest, MalformedChunkSize) {
  const char* lines[] = {"", "xyz", " 5", "5x", "-1", "+5", "0x5", ";ext", "g", "5\x0b"};
  for (const char* line : lines) {
    const std::string raw = std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") +
                            line + "\r\nhello\r\n0\r\n\r\n";
    Outcome out = EverySplit(raw);
    EXPECT_TRUE(out.error) << Escape(raw);
    EXPECT_EQ(out.error_message, "malformed chunk size") << Escape(raw);
    EXPECT_TRUE(out.responses.empty()) << Escape(raw);
  }
  // A size too large to represent fails before it can overflow.
  Outcome huge = EverySplit(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\nx\r\n");
  EXPECT_TRUE(huge.error);
  EXPECT_EQ(huge.error_message, "chunk too large");
}

TEST(HttpResponseParserTest, MissingLineEndAfterChunkData) {
  const char* tails[] = {
      "5\r\nhelloX\r\n0\r\n\r\n",   // A byte too many.
      "5\r\nhello0\r\n\r\n",        // No line end at all.
      "5\r\nhello\r\r\n0\r\n\r\n",  // "\r\r\n" is not a line end.
      "5\r\nhelloabc",              // No line end ever arrives.
  };
  for (const char* tail : tails) {
    const std::string raw =
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + tail;
    Outcome out = EverySplit(raw);
    EXPECT_TRUE(out.error) << Escape(raw);
    EXPECT_EQ(out.error_message, "malformed chunk end") << Escape(raw);
    EXPECT_TRUE(out.responses.empty()) << Escape(raw);
  }
}

TEST(HttpResponseParserTest, ChunkSizeLineLength) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  // A long extension is fine...
  Outcome ok = EverySplit(head + "3;" + std::string(1000, 'e') + "\r\nabc\r\n0\r\n\r\n");
  ASSERT_FALSE(ok.error) << ok.error_message;
  ASSERT_EQ(ok.responses.size(), 1u);
  EXPECT_EQ(ok.responses[0].body, "abc");
  // ... an overlong one is not, however the bytes arrive.
  Outcome long_ext = EverySplit(head + "3;" + std::string(1500, 'e') + "\r\nabc\r\n0\r\n\r\n");
  EXPECT_TRUE(long_ext.error);
  EXPECT_EQ(long_ext.error_message, "chunk size line too long");
  // Nor is one that never ends.
  Outcome endless = Whole(head + "3;" + std::string(2000, 'e'));
  EXPECT_TRUE(endless.error);
  EXPECT_EQ(endless.error_message, "chunk size line too long");
  // The boundary, in one piece and in two: 1024 bytes before the '\n' pass, 1025 do not.
  for (size_t n : {size_t{1024}, size_t{1025}}) {
    const std::string line = "3;" + std::string(n - 3, 'e') + "\r";  // n bytes before the '\n'.
    const std::string raw = head + line + "\nabc\r\n0\r\n\r\n";
    const Outcome whole = Whole(raw);
    const Outcome split = RunChunks({head + line, raw.substr(head.size() + line.size())});
    EXPECT_EQ(whole.error, n > 1024) << n;
    EXPECT_EQ(Describe(whole), Describe(split)) << n;
  }
}

// --- Limits
// ---------------------------------------------------------------------------------------

// A head of exactly `size` bytes (line ends included) with Content-Length: 0.
std::string HeadOfSize(size_t size) {
  const std::string base = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: \r\n\r\n";
  return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: " + std::string(size - base.size(), 'p') +
         "\r\n\r\n";
}

TEST(HttpResponseParserTest, HeadOverMaxHeadBytes) {
  Options o;
  o.limits.max_head_bytes = 64;
  ASSERT_EQ(HeadOfSize(64).size(), 64u);

  Outcome at_limit = EverySplit(HeadOfSize(64) + HeadOfSize(64), o);
  ASSERT_FALSE(at_limit.error) << at_limit.error_message;
  EXPECT_EQ(at_limit.responses.size(), 2u);

  Outcome over = EverySplit(HeadOfSize(64) + HeadOfSize(65), o);
  EXPECT_TRUE(over.error);
  EXPECT_EQ(over.error_message, "response head larger than 64 bytes");
  EXPECT_EQ(over.responses.size(), 1u);

  // Stray line ends before a head do not count; each interim head counts on its own.
  Outcome stray = EverySplit("\r\n\r\n\r\n" + HeadOfSize(64), o);
  EXPECT_FALSE(stray.error) << stray.error_message;
  Outcome interim = EverySplit(
      "HTTP/1.1 100 Continue\r\nX: 0123456789012345678901234567890123\r\n\r\n" + HeadOfSize(64), o);
  EXPECT_FALSE(interim.error) << interim.error_message;
  EXPECT_EQ(interim.responses.size(), 1u);
}

TEST(HttpResponseParserTest, HeadOverMaxHeadBytesWithoutItsEnd) {
  HttpResponseLimits limits;
  limits.max_head_bytes = 64;
  {
    // No line end ever: 64 bytes may still become a head, 65 cannot.
    HttpResponseParser parser(limits);
    const std::string junk(64, 'A');
    parser.Feed(junk.data(), junk.size());
    EXPECT_EQ(parser.Next(false), kNeedMore);
    EXPECT_TRUE(parser.InProgress());
    parser.Feed("A", 1);
    EXPECT_EQ(parser.Next(false), kError);
    EXPECT_EQ(parser.error(), "response head larger than 64 bytes");
  }
  {
    // Lines, but never the empty one.
    HttpResponseParser parser(limits);
    std::string fed = "HTTP/1.1 200 OK\r\n";
    parser.Feed(fed.data(), fed.size());
    State s = parser.Next(false);
    while (s == kNeedMore && fed.size() < 1000) {
      parser.Feed("X: y\r\n", 6);
      fed += "X: y\r\n";
      s = parser.Next(false);
    }
    EXPECT_EQ(s, kError);
    EXPECT_GT(fed.size(), 64u);
    EXPECT_LE(fed.size(), 64u + 6u);  // Noticed as soon as the limit is passed.
  }
  {
    // Carriage returns that never make a line end.
    Options o;
    o.limits = limits;
    Outcome out = EverySplit(std::string(100, '\r'), o);
    EXPECT_TRUE(out.error);
    EXPECT_EQ(out.error_message, "response head larger than 64 bytes");
  }
}

TEST(HttpResponseParserTest, ContentLengthBodyOverMaxBodyBytes) {
  Options o;
  o.limits.max_body_bytes = 16;
  Outcome at_limit = EverySplit(WithLength("HTTP/1.1 200 OK\r\n", std::string(16, 'b')), o);
  ASSERT_FALSE(at_limit.error) << at_limit.error_message;
  ASSERT_EQ(at_limit.responses.size(), 1u);
  EXPECT_EQ(at_limit.responses[0].body, std::string(16, 'b'));

  Outcome over = EverySplit(WithLength("HTTP/1.1 200 OK\r\n", std::string(17, 'b')), o);
  EXPECT_TRUE(over.error);
  EXPECT_EQ(over.error_message, "response body larger than 16 bytes");

  // Refused from the head alone, before any of the body arrives.
  HttpResponseParser parser(o.limits);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n";
  parser.Feed(head.data(), head.size());
  EXPECT_EQ(parser.Next(false), kError);
}

TEST(HttpResponseParserTest, ChunkedBodyOverMaxBodyBytes) {
  Options o;
  o.limits.max_body_bytes = 16;
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  Outcome at_limit = EverySplit(head + "8\r\n01234567\r\n7\r\nabcdefg\r\n1\r\nz\r\n0\r\n\r\n", o);
  ASSERT_FALSE(at_limit.error) << at_limit.error_message;
  ASSERT_EQ(at_limit.responses.size(), 1u);
  EXPECT_EQ(at_limit.responses[0].body, "01234567abcdefgz");

  Outcome over = EverySplit(head + "8\r\n01234567\r\n8\r\nabcdefgh\r\n1\r\nz\r\n0\r\n\r\n", o);
  EXPECT_TRUE(over.error);
  EXPECT_EQ(over.error_message, "response body larger than 16 bytes");

  Outcome one_chunk = EverySplit(head + "11\r\n" + std::string(17, 'x') + "\r\n0\r\n\r\n", o);
  EXPECT_TRUE(one_chunk.error);
  EXPECT_EQ(one_chunk.error_message, "response body larger than 16 bytes");

  // Refused at the chunk size line, before the chunk's data arrives.
  HttpResponseParser parser(o.limits);
  const std::string raw = head + "100000\r\n";
  parser.Feed(raw.data(), raw.size());
  EXPECT_EQ(parser.Next(false), kError);
}

TEST(HttpResponseParserTest, CloseDelimitedBodyOverMaxBodyBytes) {
  Options o;
  o.limits.max_body_bytes = 16;
  Outcome at_limit = EverySplit("HTTP/1.1 200 OK\r\n\r\n" + std::string(16, 'c'), o);
  ASSERT_FALSE(at_limit.error) << at_limit.error_message;
  EXPECT_EQ(at_limit.eof, kResponse);
  ASSERT_EQ(at_limit.responses.size(), 1u);
  EXPECT_EQ(at_limit.responses[0].body, std::string(16, 'c'));

  Outcome over = EverySplit("HTTP/1.1 200 OK\r\n\r\n" + std::string(17, 'c'), o);
  EXPECT_TRUE(over.error);
  EXPECT_EQ(over.error_message, "response body larger than 16 bytes");

  // Noticed when the bytes arrive, not only at EOF.
  HttpResponseParser parser(o.limits);
  const std::string raw = "HTTP/1.1 200 OK\r\n\r\n" + std::string(17, 'c');
  parser.Feed(raw.data(), raw.size());
  EXPECT_EQ(parser.Next(false), kError);
}

TEST(HttpResponseParserTest, TrailersOverMaxHeadBytes) {
  Options o;
  o.limits.max_head_bytes = 64;
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  Outcome ok = EverySplit(head + "1\r\na\r\n0\r\nT: " + std::string(20, 't') + "\r\n\r\n", o);
  ASSERT_FALSE(ok.error) << ok.error_message;
  ASSERT_EQ(ok.responses.size(), 1u);

  std::string many;
  for (int i = 0; i < 20; ++i) many += "T: v\r\n";
  Outcome over = EverySplit(head + "1\r\na\r\n0\r\n" + many + "\r\n", o);
  EXPECT_TRUE(over.error);
  EXPECT_EQ(over.error_message, "trailers larger than 64 bytes");

  // The boundary: trailer lines and the empty line that ends them, line ends included, 64 bytes
  // pass, 65 do not, however the bytes arrive (the last "\r\n" arriving alone included).
  for (size_t total : {size_t{64}, size_t{65}}) {
    const std::string trailers = "T: " + std::string(total - 7, 't') + "\r\n\r\n";
    ASSERT_EQ(trailers.size(), total);
    const std::string raw = head + "1\r\na\r\n0\r\n" + trailers;
    Outcome out = EverySplit(raw, o);
    EXPECT_EQ(out.error, total > 64) << total;
    EXPECT_EQ(out.responses.size(), total > 64 ? 0u : 1u) << total;
    Outcome last_crlf_alone = RunChunks({raw.substr(0, raw.size() - 2), "\r", "\n"}, o);
    EXPECT_EQ(Describe(out), Describe(last_crlf_alone)) << total;
  }

  Outcome endless = EverySplit(head + "1\r\na\r\n0\r\nT: " + std::string(100, 't'), o);
  EXPECT_TRUE(endless.error);
  EXPECT_EQ(endless.error_message, "trailers larger than 64 bytes");
}

// --- EOF
// ------------------------------------------------------------------------------------------

TEST(HttpResponseParserTest, EofWithNothingBufferedIsNeedMore) {
  {
    HttpResponseParser parser;
    EXPECT_FALSE(parser.InProgress());
    EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
    EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
  }
  {
    HttpResponseParser parser;
    const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    parser.Feed(raw.data(), raw.size());
    ASSERT_EQ(parser.Next(false), kResponse);
    EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
  }
  {
    // Only stray line ends, some of a line end included.
    HttpResponseParser parser;
    parser.Feed("\r\n\n\r", 4);
    EXPECT_EQ(parser.Next(false), kNeedMore);
    EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
  }
}

// Feeds every prefix of a stream of responses, then EOF: a prefix that ends between responses is
// kNeedMore with the responses before it, one that ends inside a response is kError (a
// close-delimited body, once its head is complete, is kResponse).
TEST(HttpResponseParserTest, EofInsideAResponseIsAnError) {
  enum Kind { kFinal, kStray, kInterim };
  struct Segment {
    std::string bytes;
    Kind kind;
  };
  const std::vector<Segment> segments = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", kFinal},
      {"\r\n", kStray},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nab\r\n0\r\nT: 1\r\n\r\n",
       kFinal},
      {"HTTP/1.1 100 Continue\r\n\r\n", kInterim},
      {"HTTP/1.1 204 No Content\r\n\r\n", kFinal},
      {"HTTP/1.1 200 OK\nContent-Length: 1\n\nz", kFinal},
  };
  const std::string close_head = "HTTP/1.1 200 OK\r\n\r\n";
  const std::string close_body = "rest\r\n";
  std::string raw;
  std::vector<std::pair<size_t, size_t>> clean_ranges = {{0, 0}};  // [from, to]: EOF there is clean
  std::vector<size_t> complete_at;  // End offsets of the final responses.
  size_t after_interim = 0;
  for (const Segment& s : segments) {
    const size_t from = raw.size();
    raw += s.bytes;
    if (s.kind == kFinal) {
      complete_at.push_back(raw.size());
      clean_ranges.push_back({raw.size(), raw.size()});
    } else if (s.kind == kStray) {
      clean_ranges.push_back({from, raw.size()});
    } else {
      after_interim = raw.size();
    }
  }
  const size_t close_head_at = raw.size();
  raw += close_head + close_body;

  for (size_t cut = 0; cut <= raw.size(); ++cut) {
    const Outcome out = RunChunks({raw.substr(0, cut)});
    size_t complete_before = 0;
    for (size_t end : complete_at) complete_before += end <= cut ? 1 : 0;
    bool clean = false;
    for (const auto& [from, to] : clean_ranges) clean |= cut >= from && cut <= to;
    const std::string context = "cut at " + std::to_string(cut);
    if (cut >= close_head_at + close_head.size()) {
      EXPECT_EQ(out.eof, kResponse) << context;
      ASSERT_EQ(out.responses.size(), complete_at.size() + 1) << context;
      EXPECT_EQ(out.responses.back().body, raw.substr(close_head_at + close_head.size(),
                                                      cut - close_head_at - close_head.size()))
          << context;
    } else if (cut == after_interim) {
      // Only an interim response: the final one has begun, so EOF here cuts it short (the server
      // had started on the request: it must not be sent again).
      EXPECT_EQ(out.eof, kError) << context;
      EXPECT_EQ(out.responses.size(), complete_before) << context;
    } else if (clean) {
      EXPECT_EQ(out.eof, kNeedMore) << context;
      EXPECT_FALSE(out.error) << context;
      EXPECT_EQ(out.responses.size(), complete_before) << context;
    } else {
      EXPECT_EQ(out.eof, kError) << context;
      EXPECT_EQ(out.error_message, "connection closed in the middle of a response") << context;
      EXPECT_EQ(out.responses.size(), complete_before) << context;
    }
  }
}

// --- State
// ----------------------------------------------------------------------------------------

TEST(HttpResponseParserTest, ErrorsAreSticky) {
  const std::string bad_streams[] = {
      "HTTP/9.9 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  };
  for (const std::string& bad : bad_streams) {
    HttpResponseParser parser;
    parser.Feed(bad.data(), bad.size());
    ASSERT_EQ(parser.Next(false), kError) << Escape(bad);
    const std::string message = parser.error();
    EXPECT_FALSE(message.empty());
    EXPECT_TRUE(parser.InProgress());
    const std::string good = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (int i = 0; i < 3; ++i) {
      parser.Feed(good.data(), good.size());
      EXPECT_EQ(parser.Next(false), kError);
      EXPECT_EQ(parser.Next(true), kError);
    }
    EXPECT_EQ(parser.FinishAtEof(), kError);
    EXPECT_EQ(parser.Next(false), kError);
    EXPECT_EQ(parser.error(), message);
    EXPECT_TRUE(parser.InProgress());
  }
  // An error found at EOF is sticky too.
  HttpResponseParser parser;
  parser.Feed("HTTP/1.1 200", 12);
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_EQ(parser.FinishAtEof(), kError);
  EXPECT_EQ(parser.Next(false), kError);
  EXPECT_EQ(parser.FinishAtEof(), kError);
}

TEST(HttpResponseParserTest, InProgressTracksAPartialResponse) {
  HttpResponseParser parser;
  EXPECT_FALSE(parser.InProgress());
  auto feed = [&parser](const std::string& s) { parser.Feed(s.data(), s.size()); };

  feed("HTTP/1.1 200 OK\r\nContent-");  // Part of a head.
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_TRUE(parser.InProgress());
  feed("Length: 4\r\n\r\nbo");  // The head and part of the body.
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_TRUE(parser.InProgress());
  feed("dy");
  ASSERT_EQ(parser.Next(false), kResponse);
  EXPECT_EQ(parser.response().body, "body");
  EXPECT_FALSE(parser.InProgress());
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_FALSE(parser.InProgress());

  // A complete response followed by part of the next one.
  feed("HTTP/1.1 204 No Content\r\n\r\nH");
  ASSERT_EQ(parser.Next(false), kResponse);
  EXPECT_TRUE(parser.InProgress());
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_TRUE(parser.InProgress());
  feed("TTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");  // A chunked body to come.
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_TRUE(parser.InProgress());
  feed("0\r\n");  // In the trailers.
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_TRUE(parser.InProgress());
  feed("\r\n");
  ASSERT_EQ(parser.Next(false), kResponse);
  EXPECT_FALSE(parser.InProgress());

  // A close-delimited body is in progress until EOF, even with nothing buffered.
  feed("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(parser.Next(false), kNeedMore);
  EXPECT_TRUE(parser.InProgress());
  ASSERT_EQ(parser.FinishAtEof(), kResponse);
  EXPECT_FALSE(parser.InProgress());
}

TEST(HttpResponseParserTest, TheResponseMayBeMovedFrom) {
  HttpResponseParser parser;
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nfirst"
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n"
      "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
  parser.Feed(raw.data(), raw.size());
  ASSERT_EQ(parser.Next(false), kResponse);
  ParsedResponse first = std::move(parser.response());
  EXPECT_EQ(first.body, "first");
  EXPECT_EQ(first.content_encoding, "gzip");
  ASSERT_EQ(parser.Next(false), kResponse);
  ParsedResponse second = std::move(parser.response());
  EXPECT_EQ(second.status, 201);
  EXPECT_EQ(second.body, "second");
  EXPECT_EQ(second.content_encoding, "");
  ASSERT_EQ(parser.Next(false), kResponse);
  EXPECT_EQ(parser.response().status, 202);
  EXPECT_EQ(parser.response().body, "");  // Not a stale body.
  EXPECT_EQ(first.body, "first");         // The moved-out ones are untouched.
}

// --- Volume
// ---------------------------------------------------------------------------------------

TEST(HttpResponseParserTest, LargeContentLengthBodyAcrossManyFeeds) {
  const std::string body = Bytes(size_t{1} << 20, 7);
  HttpResponseLimits limits;
  limits.max_body_bytes = body.size();  // Exactly at the limit.
  HttpResponseParser parser(limits);
  const std::string raw =
      WithLength("HTTP/1.1 200 OK\r\n", body) + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntail";
  size_t pos = 0;
  size_t step = 1;
  std::vector<std::string> bodies;
  while (pos < raw.size()) {
    const size_t n = std::min(step, raw.size() - pos);
    parser.Feed(raw.data() + pos, n);
    pos += n;
    State s;
    while ((s = parser.Next(false)) == kResponse)
      bodies.push_back(std::move(parser.response().body));
    ASSERT_EQ(s, kNeedMore) << parser.error();
    if (bodies.empty()) {
      EXPECT_TRUE(parser.InProgress());
    }
    step = (step * 31 + 17) % 9001 + 1;
  }
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_TRUE(bodies[0] == body);  // Not EXPECT_EQ: no 1 MiB diff on failure.
  EXPECT_EQ(bodies[1], "tail");
  EXPECT_FALSE(parser.InProgress());
}

TEST(HttpResponseParserTest, LargeChunkedAndCloseDelimitedBodiesAcrossManyFeeds) {
  const std::string body = Bytes(size_t{1} << 20, 11);
  std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  size_t chunk = 1;
  for (size_t pos = 0; pos < body.size();) {
    const size_t n = std::min(chunk, body.size() - pos);
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    raw += size_line;
    raw.append(body, pos, n);
    raw += "\r\n";
    pos += n;
    chunk = chunk * 3 % 65521 + 1;
  }
  raw += "0\r\n\r\n";
  raw += "HTTP/1.1 200 OK\r\n\r\n" + body;  // Close-delimited.

  HttpResponseParser parser;
  std::vector<std::string> bodies;
  for (size_t pos = 0; pos < raw.size(); pos += 4093) {
    const size_t n = std::min<size_t>(4093, raw.size() - pos);
    parser.Feed(raw.data() + pos, n);
    State s;
    while ((s = parser.Next(false)) == kResponse)
      bodies.push_back(std::move(parser.response().body));
    ASSERT_EQ(s, kNeedMore) << parser.error();
  }
  ASSERT_EQ(bodies.size(), 1u);
  ASSERT_EQ(parser.FinishAtEof(), kResponse);
  bodies.push_back(std::move(parser.response().body));
  EXPECT_TRUE(bodies[0] == body);
  EXPECT_TRUE(bodies[1] == body);
  EXPECT_FALSE(parser.InProgress());
}

// Many pipelined responses, so that consumed bytes are dropped from the buffer (every 4 KiB) while
// a partial response is still in it.
TEST(HttpResponseParserTest, ManyPipelinedResponsesInOddPieces) {
  std::string raw;
  std::vector<std::string> bodies;
  for (int i = 0; i < 600; ++i) {
    std::string body = "response " + std::to_string(i) + std::string(i % 37, '.');
    if (i % 3 == 0) {
      raw += WithLength("HTTP/1.1 200 OK\r\n", body);
    } else if (i % 3 == 1) {
      char size_line[32];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", body.size());
      raw += std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + size_line +
             body + "\r\n0\r\n\r\n";
    } else {
      raw += "HTTP/1.1 100 Continue\r\n\r\n\r\n" + WithLength("HTTP/1.1 201 Created\r\n", body);
    }
    bodies.push_back(std::move(body));
  }
  for (size_t max_piece : {size_t{1}, size_t{7}, size_t{97}, size_t{5000}, raw.size()}) {
    HttpResponseParser parser;
    std::vector<std::string> got;
    size_t pos = 0;
    size_t step = 1;
    while (pos < raw.size()) {
      const size_t n = std::min({step, max_piece, raw.size() - pos});
      parser.Feed(raw.data() + pos, n);
      pos += n;
      State s;
      while ((s = parser.Next(false)) == kResponse) {
        EXPECT_EQ(parser.response().status, got.size() % 3 == 2 ? 201 : 200);
        EXPECT_TRUE(parser.response().keep_alive);
        got.push_back(parser.response().body);
      }
      ASSERT_EQ(s, kNeedMore) << parser.error();
      step = step * 5 % 8191 + 1;
    }
    EXPECT_EQ(got, bodies) << "pieces of at most " << max_piece;
    EXPECT_FALSE(parser.InProgress());
    EXPECT_EQ(parser.FinishAtEof(), kNeedMore);
  }
}

}  // namespace
}  // namespace dubbo::registry::nacos
