// GrpcClientConnection without sockets: against naming-server's GrpcConnection (an HTTP/2 server
// session of its own) for the conversations that go well, and against hand-made server frames for
// the ones a correct server never sends.
#include "grpc_client_connection.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "grpc_connection.h"

namespace dubbo::registry::nacos {
namespace {

using naming_server::GrpcConnection;
using naming_server::GrpcConnId;
using naming_server::GrpcHandler;
using naming_server::GrpcLimits;

class EchoHandler : public GrpcHandler {
 public:
  void OnConnect(GrpcConnId, const std::string&, uint16_t) override {}
  GrpcMessage OnUnary(GrpcConnId, const GrpcMessage& request) override {
    if (request.type == "Throw") throw std::runtime_error("handler failed");
    GrpcMessage answer = request;
    answer.type += "Response";
    answer.body = answer_body.empty() ? request.body : answer_body;
    return answer;
  }
  void OnStreamMessage(GrpcConnId, const GrpcMessage& message) override {
    stream_messages.push_back(message);
  }
  void OnDisconnect(GrpcConnId) override {}

  std::string answer_body;
  std::vector<GrpcMessage> stream_messages;
};

GrpcClientLimits SmallLimits() {
  GrpcClientLimits limits;
  limits.max_message_bytes = 64 << 10;
  limits.max_buffered_input_bytes = 256 << 10;
  limits.max_output_bytes = 1 << 20;
  return limits;
}

// A client and naming-server's connection, with the bytes carried between them by Pump().
class Pair {
 public:
  explicit Pair(GrpcClientLimits limits = SmallLimits()) : client(limits, "127.0.0.1:9848") {
    EXPECT_TRUE(client.Init().ok());
    EXPECT_TRUE(server.Init().ok());
    Pump();
  }

  // Moves bytes both ways until neither side has any.
  void Pump() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      for (std::string_view out = client.PendingOutput(); !out.empty();
           out = client.PendingOutput()) {
        ASSERT_TRUE(server.Feed(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
        client.Consume(out.size());
        moved = true;
      }
      for (std::string_view out = server.PendingOutput(); !out.empty();
           out = server.PendingOutput()) {
        const std::string copy(out);
        server.Consume(out.size());
        client.Feed(reinterpret_cast<const uint8_t*>(copy.data()), copy.size()).IgnoreError();
        moved = true;
      }
      if (!moved) return;
    }
    FAIL() << "the two sides never went quiet";
  }

  EchoHandler handler;
  GrpcConnection server{1, "127.0.0.1", 40000, GrpcLimits(), &handler, nullptr};
  GrpcClientConnection client;
};

GrpcMessage Message(std::string type, std::string body) {
  GrpcMessage m;
  m.type = std::move(type);
  m.body = std::move(body);
  return m;
}

TEST(GrpcClientConnectionTest, UnaryCallGetsItsAnswer) {
  Pair pair;
  EXPECT_TRUE(pair.client.server_settings_received());
  GrpcMessage request = Message("ServerCheckRequest", R"({"headers":{}})");
  request.headers["app"] = "demo";
  Result<int32_t> call = pair.client.StartUnary(request);
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(pair.client.pending_calls(), 1u);
  pair.Pump();
  std::vector<GrpcClientEvent> events = pair.client.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, GrpcClientEvent::kUnaryDone);
  EXPECT_EQ(events[0].call, *call);
  ASSERT_TRUE(events[0].status.ok()) << events[0].status.ToString();
  EXPECT_EQ(events[0].message.type, "ServerCheckRequestResponse");
  EXPECT_EQ(events[0].message.body, R"({"headers":{}})");
  EXPECT_EQ(events[0].message.headers.at("app"), "demo");
  EXPECT_EQ(pair.client.pending_calls(), 0u);
  EXPECT_EQ(pair.client.buffered_input_bytes(), 0u);
  EXPECT_TRUE(pair.client.failure().ok());
}

TEST(GrpcClientConnectionTest, ManyCallsInterleaveOnOneConnection) {
  Pair pair;
  std::vector<int32_t> calls;
  for (int i = 0; i < 20; ++i) {
    Result<int32_t> call = pair.client.StartUnary(Message("Q", std::to_string(i)));
    ASSERT_TRUE(call.ok());
    calls.push_back(*call);
  }
  pair.Pump();
  std::vector<GrpcClientEvent> events = pair.client.TakeEvents();
  ASSERT_EQ(events.size(), calls.size());
  for (const GrpcClientEvent& e : events) {
    ASSERT_TRUE(e.status.ok());
    const auto at = std::find(calls.begin(), calls.end(), e.call) - calls.begin();
    EXPECT_EQ(e.message.body, std::to_string(at));
  }
}

TEST(GrpcClientConnectionTest, BiStreamCarriesMessagesBothWays) {
  Pair pair;
  ASSERT_TRUE(pair.client.SendOnStream(Message("ConnectionSetupRequest", "{}")).ok());
  ASSERT_TRUE(pair.client.SendOnStream(Message("ClientDetectionResponse", "{}")).ok());
  pair.Pump();
  ASSERT_EQ(pair.handler.stream_messages.size(), 2u);
  EXPECT_EQ(pair.handler.stream_messages[0].type, "ConnectionSetupRequest");
  EXPECT_EQ(pair.handler.stream_messages[1].type, "ClientDetectionResponse");

  pair.server.SendOnStream(
      nacos_wire::EncodeGrpcFrame(Message("SetupAckRequest", R"({"abilityTable":{}})")));
  pair.server.SendOnStream(nacos_wire::EncodeGrpcFrame(Message("NotifySubscriberRequest", "{}")));
  pair.Pump();
  std::vector<GrpcClientEvent> events = pair.client.TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, GrpcClientEvent::kStreamMessage);
  EXPECT_EQ(events[0].message.type, "SetupAckRequest");
  EXPECT_EQ(events[0].message.body, R"({"abilityTable":{}})");
  EXPECT_EQ(events[1].message.type, "NotifySubscriberRequest");
  EXPECT_TRUE(pair.client.failure().ok());
}

TEST(GrpcClientConnectionTest, ServerErrorStatusFailsOnlyThatCall) {
  Pair pair;
  Result<int32_t> bad = pair.client.StartUnary(Message("Throw", "{}"));
  Result<int32_t> good = pair.client.StartUnary(Message("Q", "{}"));
  ASSERT_TRUE(bad.ok() && good.ok());
  pair.Pump();
  std::vector<GrpcClientEvent> events = pair.client.TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  for (const GrpcClientEvent& e : events) {
    if (e.call == *bad) {
      EXPECT_EQ(e.status.code(), StatusCode::kInternal);
      EXPECT_NE(e.status.message().find("grpc-status 13"), std::string::npos)
          << e.status.ToString();
    } else {
      EXPECT_TRUE(e.status.ok());
    }
  }
  EXPECT_TRUE(pair.client.failure().ok());
}

TEST(GrpcClientConnectionTest, OversizeAnswerFailsItsCall) {
  Pair pair;
  pair.handler.answer_body = std::string(100 << 10, 'x');  // over the client's 64 KiB
  Result<int32_t> call = pair.client.StartUnary(Message("Q", "{}"));
  ASSERT_TRUE(call.ok());
  pair.Pump();
  std::vector<GrpcClientEvent> events = pair.client.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(pair.client.buffered_input_bytes(), 0u);
  // The connection goes on.
  pair.handler.answer_body.clear();
  ASSERT_TRUE(pair.client.StartUnary(Message("Q", "{}")).ok());
  pair.Pump();
  events = pair.client.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].status.ok());
}

TEST(GrpcClientConnectionTest, CancelledCallGetsNoEvent) {
  Pair pair;
  Result<int32_t> call = pair.client.StartUnary(Message("Q", "{}"));
  ASSERT_TRUE(call.ok());
  pair.client.CancelUnary(*call);
  EXPECT_EQ(pair.client.pending_calls(), 0u);
  pair.Pump();
  EXPECT_TRUE(pair.client.TakeEvents().empty());
  EXPECT_TRUE(pair.client.failure().ok());
}

TEST(GrpcClientConnectionTest, GoAwayEndsTheConnection) {
  Pair pair;
  pair.server.GoAway();
  pair.Pump();
  EXPECT_EQ(pair.client.failure().code(), StatusCode::kUnavailable);
  EXPECT_NE(pair.client.failure().message().find("GOAWAY"), std::string::npos);
  EXPECT_FALSE(pair.client.StartUnary(Message("Q", "{}")).ok());
  EXPECT_FALSE(pair.client.SendOnStream(Message("Q", "{}")).ok());
}

TEST(GrpcClientConnectionTest, OutputOverItsCapFailsTheConnection) {
  GrpcClientLimits limits = SmallLimits();
  limits.max_output_bytes = 8 << 10;
  GrpcClientConnection client(limits);
  ASSERT_TRUE(client.Init().ok());
  Result<int32_t> call = client.StartUnary(Message("Q", std::string(10 << 10, 'x')));
  EXPECT_EQ(call.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(client.failure().code(), StatusCode::kResourceExhausted);
}

TEST(GrpcClientConnectionTest, LimitsOutOfRangeAreRefused) {
  GrpcClientLimits limits;
  limits.max_buffered_input_bytes = limits.max_message_bytes;  // no room for the prefix
  GrpcClientConnection client(limits);
  EXPECT_EQ(client.Init().code(), StatusCode::kInvalidArgument);
}

// Hand-made server frames.
std::string Frame(uint8_t type, uint8_t flags, int32_t stream, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(payload.size() >> 16));
  f.push_back(static_cast<char>(payload.size() >> 8));
  f.push_back(static_cast<char>(payload.size()));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>(stream >> shift));
  f.append(payload);
  return f;
}

std::string Headers(int32_t stream, const std::vector<std::pair<std::string, std::string>>& fields,
                    bool end_stream) {
  nghttp2_hd_deflater* deflater = nullptr;
  EXPECT_EQ(nghttp2_hd_deflate_new(&deflater, 0), 0);
  std::vector<nghttp2_nv> nv;
  for (const auto& [n, v] : fields) {
    nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                  reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  std::string block(nghttp2_hd_deflate_bound(deflater, nv.data(), nv.size()), '\0');
  const ssize_t n = nghttp2_hd_deflate_hd(deflater, reinterpret_cast<uint8_t*>(block.data()),
                                          block.size(), nv.data(), nv.size());
  nghttp2_hd_deflate_del(deflater);
  EXPECT_GE(n, 0);
  block.resize(static_cast<size_t>(n));
  return Frame(NGHTTP2_HEADERS,
               NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0), stream,
               block);
}

std::string GrpcPrefix(uint8_t flag, uint32_t length) {
  std::string p(1, static_cast<char>(flag));
  for (int shift = 24; shift >= 0; shift -= 8) p.push_back(static_cast<char>(length >> shift));
  return p;
}

std::string Response(int32_t stream) {
  return Headers(stream, {{":status", "200"}, {"content-type", "application/grpc"}}, false);
}

std::string Trailers(int32_t stream, std::string status, std::string message = "") {
  std::vector<std::pair<std::string, std::string>> fields = {{"grpc-status", std::move(status)}};
  if (!message.empty()) fields.emplace_back("grpc-message", std::move(message));
  return Headers(stream, fields, true);
}

// A client whose preface went out and whose server SETTINGS came in.
class RawTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(client_.Init().ok());
    Drain();
    ASSERT_TRUE(Feed(Frame(NGHTTP2_SETTINGS, 0, 0, "")).ok());
    ASSERT_TRUE(Feed(Frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "")).ok());  // ours apply
  }
  Status Feed(const std::string& bytes) {
    return client_.Feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  void Drain() {
    for (auto out = client_.PendingOutput(); !out.empty(); out = client_.PendingOutput()) {
      client_.Consume(out.size());
    }
  }
  int32_t Call() {
    Result<int32_t> call = client_.StartUnary(Message("Q", "{}"));
    EXPECT_TRUE(call.ok());
    Drain();
    return call.value_or(0);
  }
  // The one event of the call.
  GrpcClientEvent Only() {
    std::vector<GrpcClientEvent> events = client_.TakeEvents();
    EXPECT_EQ(events.size(), 1u);
    return events.empty() ? GrpcClientEvent{} : std::move(events[0]);
  }

  GrpcClientConnection client_{SmallLimits()};
};

TEST_F(RawTest, GrpcStatusUnavailableIsUnavailable) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Response(call) + Trailers(call, "14", "going%20away")).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.status.code(), StatusCode::kUnavailable);
  EXPECT_NE(e.status.message().find("going away"), std::string::npos) << e.status.ToString();
}

TEST_F(RawTest, OtherGrpcStatusIsInternalWithItsMessage) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Response(call) + Trailers(call, "3", "bad%0Aarg")).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.status.code(), StatusCode::kInternal);
  EXPECT_NE(e.status.message().find("grpc-status 3: bad?arg"), std::string::npos)
      << e.status.ToString();
}

TEST_F(RawTest, MissingGrpcStatusIsInternal) {
  const int32_t call = Call();
  const std::string payload = *nacos_wire::EncodeGrpcFrame(Message("QResponse", "{}"));
  ASSERT_TRUE(
      Feed(Response(call) + Frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, call, payload)).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.status.code(), StatusCode::kInternal);
  EXPECT_NE(e.status.message().find("no grpc-status"), std::string::npos);
}

TEST_F(RawTest, StatusOkWithoutAMessageIsInternal) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Response(call) + Trailers(call, "0")).ok());
  EXPECT_EQ(Only().status.code(), StatusCode::kInternal);
}

TEST_F(RawTest, OversizeAnswerIsRefusedFromItsPrefix) {
  const int32_t call = Call();
  // Only the prefix arrives: the call fails before any of the 1 MiB is buffered.
  ASSERT_TRUE(Feed(Response(call) + Frame(NGHTTP2_DATA, 0, call, GrpcPrefix(0, 1 << 20))).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(client_.buffered_input_bytes(), 0u);
  EXPECT_TRUE(client_.failure().ok());
}

TEST_F(RawTest, CompressedAnswerFailsItsCall) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Response(call) + Frame(NGHTTP2_DATA, 0, call, GrpcPrefix(1, 3) + "abc")).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.status.code(), StatusCode::kInternal);
  EXPECT_NE(e.status.message().find("compressed"), std::string::npos);
  EXPECT_TRUE(client_.failure().ok());
}

TEST_F(RawTest, AnswerThatIsNotAPayloadIsInternal) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Response(call) +
                   Frame(NGHTTP2_DATA, 0, call, GrpcPrefix(0, 3) + "\xff\xff\xff") +
                   Trailers(call, "0"))
                  .ok());
  EXPECT_EQ(Only().status.code(), StatusCode::kInternal);
}

TEST_F(RawTest, HttpErrorStatusIsInternal) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Headers(call, {{":status", "503"}}, true)).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.status.code(), StatusCode::kInternal);
  EXPECT_NE(e.status.message().find("HTTP status 503"), std::string::npos);
}

TEST_F(RawTest, ResetWithoutTrailersIsUnavailable) {
  const int32_t call = Call();
  ASSERT_TRUE(Feed(Frame(NGHTTP2_RST_STREAM, 0, call, std::string("\0\0\0\x02", 4))).ok());
  EXPECT_EQ(Only().status.code(), StatusCode::kUnavailable);
}

TEST_F(RawTest, OversizeHeaderListFailsItsCall) {
  const int32_t call = Call();
  ASSERT_TRUE(
      Feed(Headers(call, {{":status", "200"}, {"x-big", std::string(20 << 10, 'h')}}, false)).ok());
  EXPECT_EQ(Only().status.code(), StatusCode::kInternal);
  EXPECT_TRUE(client_.failure().ok());
}

TEST_F(RawTest, BiStreamMessageThatIsNotAPayloadIsDroppedAlone) {
  ASSERT_TRUE(client_.SendOnStream(Message("ConnectionSetupRequest", "{}")).ok());
  Drain();
  const std::string good = *nacos_wire::EncodeGrpcFrame(Message("SetupAckRequest", "{}"));
  ASSERT_TRUE(
      Feed(Response(1) + Frame(NGHTTP2_DATA, 0, 1, GrpcPrefix(0, 2) + "\xff\xff" + good)).ok());
  GrpcClientEvent e = Only();
  EXPECT_EQ(e.kind, GrpcClientEvent::kStreamMessage);
  EXPECT_EQ(e.message.type, "SetupAckRequest");
}

TEST_F(RawTest, EndOfTheBiStreamEndsTheConnection) {
  ASSERT_TRUE(client_.SendOnStream(Message("ConnectionSetupRequest", "{}")).ok());
  Drain();
  const Status s = Feed(Response(1) + Trailers(1, "0"));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("bi-stream"), std::string::npos);
}

TEST_F(RawTest, CompressedStreamMessageEndsTheConnection) {
  ASSERT_TRUE(client_.SendOnStream(Message("ConnectionSetupRequest", "{}")).ok());
  Drain();
  EXPECT_EQ(Feed(Response(1) + Frame(NGHTTP2_DATA, 0, 1, GrpcPrefix(1, 1) + "z")).code(),
            StatusCode::kInternal);
}

TEST_F(RawTest, GarbageEndsTheConnection) {
  const int32_t call = Call();
  const Status s = Feed(std::string(64, '\xee'));
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("protocol error"), std::string::npos);
  // The pending call gets no event: the owner fails it.
  EXPECT_TRUE(client_.TakeEvents().empty());
  EXPECT_EQ(client_.pending_calls(), 1u);
  (void)call;
  // Nothing more is accepted.
  EXPECT_FALSE(Feed(Frame(NGHTTP2_SETTINGS, 0, 0, "")).ok());
  EXPECT_FALSE(client_.StartUnary(Message("Q", "{}")).ok());
}

TEST_F(RawTest, ServerPushIsAProtocolError) {
  const int32_t call = Call();
  std::string promise(4, '\0');
  promise[3] = 2;  // promised stream 2
  const std::string block = Headers(2, {{":method", "GET"}, {":path", "/"}}, false).substr(9);
  const Status s =
      Feed(Frame(NGHTTP2_PUSH_PROMISE, NGHTTP2_FLAG_END_HEADERS, call, promise + block));
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
}

}  // namespace
}  // namespace dubbo::registry::nacos
