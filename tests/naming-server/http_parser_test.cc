// HttpParser: the naming server's incremental HTTP/1.x request parser (no sockets). Every stream is
// also fed split at every byte boundary and one byte at a time, and must parse the same.
#include "http_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dubbo::naming_server {
namespace {

// A parsed request, copied out of the parser's buffer.
struct Got {
  std::string method, target, path, query, body, user_agent;
  bool has_query = false, keep_alive = false, expect_continue = false;
  int minor = -1;
  size_t headers = 0;
};

struct Outcome {
  std::vector<Got> requests;
  int error = 0;       // error status, 0 if none
  int continues = 0;   // TakeContinue() == true count
  size_t pending = 0;  // bytes left over
};

Got Copy(const ParsedRequest& r) {
  Got g;
  g.method = std::string(r.method);
  g.target = std::string(r.target);
  g.path = std::string(r.path);
  g.query = std::string(r.query);
  g.body = std::string(r.body);
  g.has_query = r.has_query;
  g.keep_alive = r.keep_alive;
  g.expect_continue = r.expect_continue;
  g.minor = r.minor_version;
  g.headers = r.headers.size();
  if (auto ua = r.Header("user-agent")) g.user_agent = std::string(*ua);
  return g;
}

void Drain(HttpParser* parser, Outcome* out) {
  while (true) {
    HttpParser::State s = parser->Next();
    if (s == HttpParser::kRequest) {
      out->requests.push_back(Copy(parser->request()));
      continue;
    }
    if (s == HttpParser::kError) {
      out->error = parser->error_status();
    } else if (parser->TakeContinue()) {
      ++out->continues;
    }
    return;
  }
}

// Feeds `chunks` one after the other, draining after each.
Outcome Run(const std::vector<std::string>& chunks, HttpParserLimits limits = {}) {
  HttpParser parser(limits);
  Outcome out;
  for (const std::string& chunk : chunks) {
    parser.Feed(chunk);
    Drain(&parser, &out);
    if (out.error != 0) break;
  }
  out.pending = parser.pending_bytes();
  return out;
}

Outcome Whole(const std::string& raw, HttpParserLimits limits = {}) { return Run({raw}, limits); }

void ExpectSame(const Outcome& a, const Outcome& b, const std::string& context) {
  ASSERT_EQ(a.error, b.error) << context;
  ASSERT_EQ(a.requests.size(), b.requests.size()) << context;
  for (size_t i = 0; i < a.requests.size(); ++i) {
    const Got& x = a.requests[i];
    const Got& y = b.requests[i];
    EXPECT_EQ(x.method, y.method) << context;
    EXPECT_EQ(x.target, y.target) << context;
    EXPECT_EQ(x.path, y.path) << context;
    EXPECT_EQ(x.query, y.query) << context;
    EXPECT_EQ(x.body, y.body) << context;
    EXPECT_EQ(x.keep_alive, y.keep_alive) << context;
    EXPECT_EQ(x.user_agent, y.user_agent) << context;
    EXPECT_EQ(x.headers, y.headers) << context;
  }
}

// Parses `raw` whole, split in two at every position, and byte by byte: all must agree.
Outcome EverySplit(const std::string& raw, HttpParserLimits limits = {}) {
  Outcome whole = Whole(raw, limits);
  for (size_t cut = 1; cut < raw.size(); ++cut) {
    ExpectSame(whole, Run({raw.substr(0, cut), raw.substr(cut)}, limits),
               "cut at " + std::to_string(cut));
  }
  std::vector<std::string> bytes;
  for (char c : raw) bytes.emplace_back(1, c);
  ExpectSame(whole, Run(bytes, limits), "byte by byte");
  return whole;
}

TEST(HttpParserTest, ParsesAGetWithQueryAndHeaders) {
  Outcome out = EverySplit(
      "GET /nacos/v1/ns/instance/list?serviceName=a%40b&x=1 HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\nUser-Agent:  Nacos-Java-Client:v1.4.8 \r\n\r\n");
  ASSERT_EQ(out.error, 0);
  ASSERT_EQ(out.requests.size(), 1u);
  const Got& r = out.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/nacos/v1/ns/instance/list");
  EXPECT_TRUE(r.has_query);
  EXPECT_EQ(r.query, "serviceName=a%40b&x=1");
  EXPECT_EQ(r.user_agent, "Nacos-Java-Client:v1.4.8");
  EXPECT_EQ(r.minor, 1);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(out.pending, 0u);
}

TEST(HttpParserTest, PathIsNotDecodedAndFragmentAndAbsoluteFormAreStripped) {
  Outcome out = Whole(
      "GET /a%20b/c?q#frag HTTP/1.1\r\n\r\n"
      "GET http://host:80/x/y?k=v HTTP/1.1\r\n\r\n"
      "GET /p#f?notquery HTTP/1.1\r\n\r\n"
      "GET http://host HTTP/1.1\r\n\r\n"
      "GET /nq HTTP/1.1\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 5u);
  EXPECT_EQ(out.requests[0].path, "/a%20b/c");
  EXPECT_EQ(out.requests[0].query, "q");
  EXPECT_EQ(out.requests[1].path, "/x/y");
  EXPECT_EQ(out.requests[1].query, "k=v");
  EXPECT_EQ(out.requests[2].path, "/p");
  EXPECT_FALSE(out.requests[2].has_query);
  EXPECT_EQ(out.requests[3].path, "");
  EXPECT_FALSE(out.requests[4].has_query);
}

TEST(HttpParserTest, ContentLengthBodyAtEverySplit) {
  const std::string body = "serviceName=demo&ip=10.0.0.1&port=80";
  Outcome out = EverySplit(
      "POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].body, body);
}

TEST(HttpParserTest, PipelinedRequestsComeOutInOrder) {
  std::string raw;
  for (int i = 0; i < 5; ++i) {
    const std::string body = "n=" + std::to_string(i);
    raw += "PUT /r" + std::to_string(i) +
           " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    raw += "GET /g" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  }
  Outcome out = EverySplit(raw);
  ASSERT_EQ(out.requests.size(), 10u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(out.requests[2 * i].path, "/r" + std::to_string(i));
    EXPECT_EQ(out.requests[2 * i].body, "n=" + std::to_string(i));
    EXPECT_EQ(out.requests[2 * i + 1].path, "/g" + std::to_string(i));
    EXPECT_EQ(out.requests[2 * i + 1].body, "");
  }
}

TEST(HttpParserTest, KeepAliveRules) {
  Outcome out = Whole(
      "GET /a HTTP/1.1\r\n\r\n"
      "GET /b HTTP/1.1\r\nConnection: Close\r\n\r\n"
      "GET /c HTTP/1.0\r\n\r\n"
      "GET /d HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
      "GET /e HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n"
      "GET /f HTTP/1.1\r\nConnection: upgrade\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 6u);
  EXPECT_TRUE(out.requests[0].keep_alive);
  EXPECT_FALSE(out.requests[1].keep_alive);
  EXPECT_FALSE(out.requests[2].keep_alive);
  EXPECT_EQ(out.requests[2].minor, 0);
  EXPECT_TRUE(out.requests[3].keep_alive);
  EXPECT_FALSE(out.requests[4].keep_alive);
  EXPECT_TRUE(out.requests[5].keep_alive);
}

TEST(HttpParserTest, BareLineFeedsAndLeadingEmptyLinesAreAccepted) {
  Outcome out = EverySplit("\r\n\nGET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\r\n\r\n");
  ASSERT_EQ(out.error, 0);
  ASSERT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.requests[0].path, "/a");
  EXPECT_EQ(out.requests[0].headers, 1u);
  EXPECT_EQ(out.requests[1].path, "/b");
}

TEST(HttpParserTest, ChunkedBodiesAreDecoded) {
  Outcome out = EverySplit(
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n"
      "7;ext=1\r\n world!\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nTrailer: x\r\n\r\n"
      "GET /next HTTP/1.1\r\n\r\n");
  ASSERT_EQ(out.error, 0);
  ASSERT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.requests[0].body, "hello world!0123456789");
  EXPECT_EQ(out.requests[0].path, "/c");
  EXPECT_EQ(out.requests[1].path, "/next");
}

TEST(HttpParserTest, ChunkedErrors) {
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").error, 501);
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").error, 501);
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n").error,
      400);
  EXPECT_EQ(Whole("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").error, 400);
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").error, 400);
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n").error, 400);
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n").error,
            400);
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(2000, '0')).error,
      400);
  HttpParserLimits small;
  small.max_body_bytes = 10;
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", small)
          .error,
      413);
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n",
            small)
          .error,
      413);
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + std::string(20000, 'x'))
          .error,
      431);
}

TEST(HttpParserTest, ManySmallChunksDoNotPileUpRawBytes) {
  HttpParser parser;
  parser.Feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(parser.Next(), HttpParser::kNeedMore);
  for (int i = 0; i < 20000; ++i) {
    parser.Feed("1;" + std::string(100, 'e') + "\r\na\r\n");
    ASSERT_EQ(parser.Next(), HttpParser::kNeedMore);
    ASSERT_LT(parser.pending_bytes(), 1000u);
  }
  parser.Feed("0\r\n\r\n");
  ASSERT_EQ(parser.Next(), HttpParser::kRequest);
  EXPECT_EQ(parser.request().body, std::string(20000, 'a'));
  EXPECT_EQ(parser.request().method, "POST");
}

TEST(HttpParserTest, CapsOnHeadAndBody) {
  HttpParserLimits limits;
  limits.max_header_bytes = 100;
  limits.max_headers = 3;
  limits.max_body_bytes = 10;
  // Exactly at the head cap is fine: request line (16) + "\r\n" ... compute: fill to 100 bytes.
  std::string line = "GET / HTTP/1.1\r\n";                                   // 16
  std::string filler = "X: " + std::string(100 - 16 - 2 - 5, 'a') + "\r\n";  // to 98
  EXPECT_EQ(Whole(line + filler + "\r\n", limits).requests.size(), 1u);
  EXPECT_EQ(EverySplit(line + "X: " + std::string(100, 'a') + "\r\n\r\n", limits).error, 431);
  EXPECT_EQ(Whole(std::string(200, 'G'), limits).error, 431);  // no line end at all
  EXPECT_EQ(Whole(line + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).error, 0);
  EXPECT_EQ(Whole(line + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits).error, 431);
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", limits).error, 0);
  // Over the body cap: refused as soon as the head is in, without the body.
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits).error, 413);
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", limits).error,
      413);
}

TEST(HttpParserTest, MalformedRequestsAre400) {
  const std::string bad[] = {
      "GET\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.10\r\n\r\n",
      "GET / http/1.1\r\n\r\n",
      "GET  HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /\x01 HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET / HTTP/1.1\r\nName : x\r\n\r\n",
      "GET / HTTP/1.1\r\n: x\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
      std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26),
      "POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
  };
  for (const std::string& raw : bad) {
    Outcome out = EverySplit(raw);
    EXPECT_EQ(out.error, 400) << raw;
    EXPECT_TRUE(out.requests.empty()) << raw;
  }
  // Agreeing duplicates are fine.
  EXPECT_EQ(
      Whole("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc").requests.size(),
      1u);
  // Unknown Expect values: 417.
  EXPECT_EQ(Whole("POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\na").error, 417);
}

TEST(HttpParserTest, AnErrorIsStickyAndFollowsEarlierRequests) {
  HttpParser parser;
  parser.Feed("GET /ok HTTP/1.1\r\n\r\nGARBAGE\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
  ASSERT_EQ(parser.Next(), HttpParser::kRequest);
  EXPECT_EQ(parser.request().path, "/ok");
  EXPECT_EQ(parser.Next(), HttpParser::kError);
  EXPECT_EQ(parser.error_status(), 400);
  parser.Feed("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(parser.Next(), HttpParser::kError);
}

TEST(HttpParserTest, MethodsAreTokensTheServerChecksTheAllowList) {
  Outcome out = Whole("BREW /pot HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.requests[0].method, "BREW");
  EXPECT_EQ(out.requests[1].path, "*");
}

TEST(HttpParserTest, ExpectContinueIsSignalledOnceWhileTheBodyIsMissing) {
  const std::string head =
      "POST /nacos/v1/ns/instance/beat HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: "
      "5\r\n\r\n";
  HttpParser parser;
  parser.Feed(head);
  EXPECT_EQ(parser.Next(), HttpParser::kNeedMore);
  EXPECT_TRUE(parser.TakeContinue());
  EXPECT_FALSE(parser.TakeContinue());
  parser.Feed("ab");
  EXPECT_EQ(parser.Next(), HttpParser::kNeedMore);
  EXPECT_FALSE(parser.TakeContinue());
  parser.Feed("cde");
  ASSERT_EQ(parser.Next(), HttpParser::kRequest);
  EXPECT_TRUE(parser.request().expect_continue);
  EXPECT_EQ(parser.request().body, "abcde");
  EXPECT_FALSE(parser.TakeContinue());

  // Body already there: no 100.
  HttpParser at_once;
  at_once.Feed(head + "abcde");
  EXPECT_EQ(at_once.Next(), HttpParser::kRequest);
  EXPECT_FALSE(at_once.TakeContinue());
  // Chunked: signalled too.
  HttpParser chunked;
  chunked.Feed("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(chunked.Next(), HttpParser::kNeedMore);
  EXPECT_TRUE(chunked.TakeContinue());
  // Without a body, or on HTTP/1.0: never.
  HttpParser empty;
  empty.Feed("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(empty.Next(), HttpParser::kRequest);
  EXPECT_FALSE(empty.TakeContinue());
  HttpParser old;
  old.Feed("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(old.Next(), HttpParser::kNeedMore);
  EXPECT_FALSE(old.TakeContinue());
  // Over the cap: 413 at once instead of a 100.
  HttpParserLimits limits;
  limits.max_body_bytes = 4;
  HttpParser big(limits);
  big.Feed(head);
  EXPECT_EQ(big.Next(), HttpParser::kError);
  EXPECT_EQ(big.error_status(), 413);
  EXPECT_FALSE(big.TakeContinue());
}

TEST(HttpParserTest, Http10RequestsParse) {
  Outcome out = EverySplit("POST /x?a=1 HTTP/1.0\r\nContent-Length: 3\r\n\r\nb=2");
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].minor, 0);
  EXPECT_FALSE(out.requests[0].keep_alive);
  EXPECT_EQ(out.requests[0].body, "b=2");
}

TEST(HttpParserTest, ViewsSurviveBufferGrowthWhileTheBodyArrives) {
  HttpParser parser;
  parser.Feed(
      "PUT /long/path?query=1 HTTP/1.1\r\nUser-Agent: agent\r\nContent-Length: 200000\r\n\r\n");
  EXPECT_EQ(parser.Next(), HttpParser::kNeedMore);
  for (int i = 0; i < 200; ++i) {
    parser.Feed(std::string(1000, static_cast<char>('a' + i % 26)));
    if (i < 199) {
      EXPECT_EQ(parser.Next(), HttpParser::kNeedMore);
    }
  }
  ASSERT_EQ(parser.Next(), HttpParser::kRequest);
  const ParsedRequest& r = parser.request();
  EXPECT_EQ(r.path, "/long/path");
  EXPECT_EQ(r.query, "query=1");
  EXPECT_EQ(r.Header("User-Agent").value_or(""), "agent");
  EXPECT_EQ(r.body.size(), 200000u);
  EXPECT_EQ(r.body.substr(0, 3), "aaa");
}

}  // namespace
}  // namespace dubbo::naming_server
