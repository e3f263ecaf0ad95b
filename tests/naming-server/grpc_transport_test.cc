// GrpcTransport over loopback, driven by grpc++ (an independent HTTP/2 and gRPC implementation)
// and by raw sockets for what a well-behaved client never does. The transport runs on its own
// event_base thread with a recording GrpcHandler that echoes unary calls. Every wait is for an
// event (a handler call, a reply, a close seen on a socket); the hang guard only turns a broken
// transport into a failure with a message, and never bounds elapsed time.
#include "grpc_transport.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpc_connection.h"
#include "nacos_grpc_service.grpc.pb.h"
#include "testing/http_client.h"

namespace dubbo::naming_server {
namespace {

using registry::testing::ConnectLoopback;
using registry::testing::ReadAll;
using registry::testing::SendAll;

// Only a broken transport makes a test wait this long, however loaded the machine.
constexpr auto kHangGuard = std::chrono::seconds(60);

struct HandlerEvent {
  enum Kind { kConnect, kUnary, kStream, kDisconnect } kind;
  GrpcConnId conn = 0;
  GrpcMessage message;
  std::string peer_ip;
  uint16_t peer_port = 0;
};

// Records every call; answers a unary call with its request, the type suffixed "Response" and the
// body prefixed "echo:".
class RecordingHandler : public GrpcHandler {
 public:
  void OnConnect(GrpcConnId conn, const std::string& peer_ip, uint16_t peer_port) override {
    Add(HandlerEvent{HandlerEvent::kConnect, conn, {}, peer_ip, peer_port});
  }
  GrpcMessage OnUnary(GrpcConnId conn, const GrpcMessage& request) override {
    Add(HandlerEvent{HandlerEvent::kUnary, conn, request, {}, 0});
    GrpcMessage answer = request;
    answer.type += "Response";
    answer.body = "echo:" + request.body;
    return answer;
  }
  void OnStreamMessage(GrpcConnId conn, const GrpcMessage& message) override {
    Add(HandlerEvent{HandlerEvent::kStream, conn, message, {}, 0});
  }
  void OnDisconnect(GrpcConnId conn) override {
    Add(HandlerEvent{HandlerEvent::kDisconnect, conn, {}, {}, 0});
  }

  // Waits for the `n`-th (1-based) event of `kind` (of `conn`, when not 0) and returns it.
  HandlerEvent Wait(HandlerEvent::Kind kind, size_t n = 1, GrpcConnId conn = 0) {
    std::unique_lock<std::mutex> lock(mu_);
    HandlerEvent found{};
    const bool seen = cv_.wait_for(lock, kHangGuard, [&] {
      size_t count = 0;
      for (const HandlerEvent& e : events_) {
        if (e.kind == kind && (conn == 0 || e.conn == conn) && ++count == n) {
          found = e;
          return true;
        }
      }
      return false;
    });
    EXPECT_TRUE(seen) << "no event " << kind << " #" << n;
    return found;
  }
  size_t Count(HandlerEvent::Kind kind, GrpcConnId conn = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t count = 0;
    for (const HandlerEvent& e : events_) count += e.kind == kind && (conn == 0 || e.conn == conn);
    return count;
  }

 private:
  void Add(HandlerEvent e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HandlerEvent> events_;
};

// A GrpcTransport on its own loop thread.
class TestTransport {
 public:
  explicit TestTransport(GrpcTransportOptions options) {
    static std::once_flag once;
    std::call_once(once, [] { evthread_use_pthreads(); });
    base_ = event_base_new();
    options.metrics = &metrics;
    const registry::Status started = transport.Start(base_, options, &handler);
    EXPECT_TRUE(started.ok()) << started;
    loop_ = std::thread([this] { event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY); });
  }
  ~TestTransport() {
    OnLoop([this] { transport.Stop(); });
    event_base_loopbreak(base_);
    loop_.join();
    event_base_free(base_);
  }

  // Runs `fn` on the loop thread and waits for it.
  void OnLoop(std::function<void()> fn) {
    struct Call {
      std::function<void()> fn;
      std::promise<void> done;
    };
    auto* call = new Call{std::move(fn), {}};
    std::future<void> done = call->done.get_future();
    event_base_once(
        base_, -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
          std::unique_ptr<Call> c(static_cast<Call*>(arg));
          c->fn();
          c->done.set_value();
        },
        call, nullptr);
    done.wait();
  }

  std::string target() const { return "ipv4:127.0.0.1:" + std::to_string(transport.port()); }

  ServerMetrics metrics;
  RecordingHandler handler;
  GrpcTransport transport;

 private:
  event_base* base_ = nullptr;
  std::thread loop_;
};

// A channel with its own TCP connection (no subchannel shared with another channel).
std::shared_ptr<grpc::Channel> NewChannel(const TestTransport& t) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(t.target(), grpc::InsecureChannelCredentials(), args);
}

Payload MakePayload(const std::string& type, const std::string& body) {
  Payload p;
  p.mutable_metadata()->set_type(type);
  p.mutable_metadata()->set_clientip("10.0.0.9");
  (*p.mutable_metadata()->mutable_headers())["accessToken"] = "token-1";
  (*p.mutable_metadata()->mutable_headers())["app"] = "demo";
  p.mutable_body()->set_value(body);
  return p;
}

grpc::Status Unary(::Request::Stub* stub, const Payload& request, Payload* response) {
  grpc::ClientContext context;
  return stub->request(&context, request, response);
}

std::shared_ptr<const GrpcMessage> ServerMessage(const std::string& type, std::string body) {
  auto m = std::make_shared<GrpcMessage>();
  m->type = type;
  m->body = std::move(body);
  m->headers["k"] = "v";
  return m;
}

// HTTP/2 by hand, for the raw clients.
constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  const size_t n = payload.size();
  f.push_back(static_cast<char>(n >> 16 & 0xff));
  f.push_back(static_cast<char>(n >> 8 & 0xff));
  f.push_back(static_cast<char>(n & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int i = 3; i >= 0; --i) f.push_back(static_cast<char>(stream >> (8 * i) & 0xff));
  return f + payload;
}

// HPACK "literal header field without indexing, new name" (no Huffman; short strings only).
std::string Literal(const std::string& name, const std::string& value) {
  return std::string(1, '\0') + static_cast<char>(name.size()) + name +
         static_cast<char>(value.size()) + value;
}

std::string RequestHeaders(uint32_t stream, const std::string& path) {
  const std::string block = Literal(":method", "POST") + Literal(":scheme", "http") +
                            Literal(":path", path) + Literal(":authority", "localhost") +
                            Literal("content-type", "application/grpc") + Literal("te", "trailers");
  return Frame(1, 0x4 /* END_HEADERS */, stream, block);
}

GrpcTransportOptions Options() { return GrpcTransportOptions(); }

// EncodeGrpcFrame() writes the Payload by hand: its bytes are protobuf's own serialization.
TEST(GrpcTransportTest, EncodedFrameIsProtobufsSerialization) {
  const std::vector<GrpcMessage> messages = {
      GrpcMessage{"NotifySubscriberRequest", "10.0.0.1", {{"accessToken", "t"}}, "{}"},
      GrpcMessage{"ServerCheckResponse", "", {{"", ""}}, std::string(200, 'b')},
      GrpcMessage{"", "", {}, std::string(70000, 'c')},
      GrpcMessage{},
  };
  for (const GrpcMessage& message : messages) {
    Payload payload;
    payload.mutable_metadata()->set_type(message.type);
    payload.mutable_metadata()->set_clientip(message.client_ip);
    for (const auto& [key, value] : message.headers) {
      (*payload.mutable_metadata()->mutable_headers())[key] = value;
    }
    payload.mutable_body()->set_value(message.body);
    std::string expected;
    ASSERT_TRUE(payload.SerializeToString(&expected));
    const std::string frame = *EncodeGrpcFrame(message);
    ASSERT_GE(frame.size(), 5u);
    EXPECT_EQ(frame.substr(0, 5), std::string({0, static_cast<char>(expected.size() >> 24),
                                               static_cast<char>(expected.size() >> 16 & 0xff),
                                               static_cast<char>(expected.size() >> 8 & 0xff),
                                               static_cast<char>(expected.size() & 0xff)}));
    EXPECT_EQ(frame.substr(5), expected) << message.type;
  }
}

TEST(GrpcTransportTest, UnaryCallRoundTripsEveryField) {
  TestTransport t(Options());
  auto stub = ::Request::NewStub(NewChannel(t));
  Payload response;
  const grpc::Status status =
      Unary(stub.get(), MakePayload("ServerCheckRequest", R"({"requestId":"1"})"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.metadata().type(), "ServerCheckRequestResponse");
  EXPECT_EQ(response.metadata().clientip(), "10.0.0.9");
  EXPECT_EQ(response.metadata().headers().at("accessToken"), "token-1");
  EXPECT_EQ(response.body().value(), R"(echo:{"requestId":"1"})");

  const HandlerEvent connect = t.handler.Wait(HandlerEvent::kConnect);
  EXPECT_EQ(connect.peer_ip, "127.0.0.1");
  EXPECT_NE(connect.peer_port, 0);
  const HandlerEvent unary = t.handler.Wait(HandlerEvent::kUnary);
  EXPECT_EQ(unary.conn, connect.conn);
  EXPECT_EQ(unary.message.type, "ServerCheckRequest");
  EXPECT_EQ(unary.message.client_ip, "10.0.0.9");
  EXPECT_EQ(unary.message.headers,
            (std::map<std::string, std::string>{{"accessToken", "token-1"}, {"app", "demo"}}));
  EXPECT_EQ(unary.message.body, R"({"requestId":"1"})");
  EXPECT_EQ(t.metrics.grpc_connections_open.load(), 1u);
  EXPECT_EQ(t.metrics.grpc_connections_accepted.load(), 1u);

  // An empty Payload is a message of length 0.
  ASSERT_TRUE(Unary(stub.get(), Payload(), &response).ok());
  EXPECT_EQ(response.metadata().type(), "Response");
  EXPECT_EQ(response.body().value(), "echo:");
}

TEST(GrpcTransportTest, BiStreamCarriesBothWaysAndSharesTheConnectionWithUnaryCalls) {
  TestTransport t(Options());
  auto channel = NewChannel(t);
  auto bi = ::BiRequestStream::NewStub(channel);
  grpc::ClientContext context;
  auto stream = bi->requestBiStream(&context);
  ASSERT_TRUE(stream->Write(MakePayload("ConnectionSetupRequest", R"({"labels":{}})")));
  const HandlerEvent setup = t.handler.Wait(HandlerEvent::kStream);
  EXPECT_EQ(setup.message.type, "ConnectionSetupRequest");
  EXPECT_EQ(setup.message.body, R"({"labels":{}})");
  EXPECT_EQ(setup.conn, t.handler.Wait(HandlerEvent::kConnect).conn);

  t.transport.SendOnStream(setup.conn, ServerMessage("SetupAckRequest", R"({"abilityTable":{}})"));
  t.transport.SendOnStream(setup.conn, ServerMessage("ClientDetectionRequest", "{}"));
  Payload received;
  ASSERT_TRUE(stream->Read(&received));
  EXPECT_EQ(received.metadata().type(), "SetupAckRequest");
  EXPECT_EQ(received.body().value(), R"({"abilityTable":{}})");
  EXPECT_EQ(received.metadata().headers().at("k"), "v");
  ASSERT_TRUE(stream->Read(&received));
  EXPECT_EQ(received.metadata().type(), "ClientDetectionRequest");

  // The answer to a server request, and a unary call on the same channel: the same connection.
  ASSERT_TRUE(stream->Write(MakePayload("ClientDetectionResponse", "{}")));
  EXPECT_EQ(t.handler.Wait(HandlerEvent::kStream, 2).conn, setup.conn);
  auto unary = ::Request::NewStub(channel);
  Payload response;
  ASSERT_TRUE(Unary(unary.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
  EXPECT_EQ(t.handler.Wait(HandlerEvent::kUnary).conn, setup.conn);
  EXPECT_EQ(t.handler.Count(HandlerEvent::kConnect), 1u);

  // The client ends its stream: the server ends it with OK.
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&received));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(GrpcTransportTest, SendsFromManyThreadsArriveInEachThreadsOrder) {
  TestTransport t(Options());
  auto bi = ::BiRequestStream::NewStub(NewChannel(t));
  grpc::ClientContext context;
  auto stream = bi->requestBiStream(&context);
  ASSERT_TRUE(stream->Write(MakePayload("ConnectionSetupRequest", "{}")));
  const GrpcConnId conn = t.handler.Wait(HandlerEvent::kStream).conn;
  constexpr int kThreads = 4;
  constexpr int kEach = 200;
  std::vector<std::thread> senders;
  for (int thread = 0; thread < kThreads; ++thread) {
    senders.emplace_back([&t, conn, thread] {
      for (int i = 0; i < kEach; ++i) {
        t.transport.SendOnStream(conn,
                                 ServerMessage("NotifySubscriberRequest",
                                               std::to_string(thread) + ":" + std::to_string(i)));
      }
    });
  }
  std::vector<int> next(kThreads, 0);
  Payload received;
  for (int n = 0; n < kThreads * kEach; ++n) {
    ASSERT_TRUE(stream->Read(&received)) << "after " << n << " messages";
    const std::string& body = received.body().value();
    const size_t colon = body.find(':');
    ASSERT_NE(colon, std::string::npos) << body;
    const int thread = std::stoi(body.substr(0, colon));
    ASSERT_TRUE(thread >= 0 && thread < kThreads) << body;
    EXPECT_EQ(std::stoi(body.substr(colon + 1)), next[static_cast<size_t>(thread)]++) << body;
  }
  for (std::thread& sender : senders) sender.join();
  t.transport.Close(conn);
  EXPECT_FALSE(stream->Read(&received));
  t.handler.Wait(HandlerEvent::kDisconnect, 1, conn);
}

TEST(GrpcTransportTest, ClosingTheChannelDisconnectsOnce) {
  TestTransport t(Options());
  GrpcConnId conn = 0;
  {
    auto channel = NewChannel(t);
    auto stub = ::Request::NewStub(channel);
    Payload response;
    ASSERT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
    conn = t.handler.Wait(HandlerEvent::kConnect).conn;
  }
  EXPECT_EQ(t.handler.Wait(HandlerEvent::kDisconnect).conn, conn);
  // A second channel is a new connection with a new id.
  auto stub = ::Request::NewStub(NewChannel(t));
  Payload response;
  ASSERT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
  EXPECT_NE(t.handler.Wait(HandlerEvent::kConnect, 2).conn, conn);
  EXPECT_EQ(t.handler.Count(HandlerEvent::kDisconnect, conn), 1u);
}

TEST(GrpcTransportTest, OversizedMessageFailsItsCallOnly) {
  GrpcTransportOptions options;
  options.limits.max_message_bytes = 1024;
  options.limits.max_buffered_input_bytes = 4096;
  TestTransport t(options);
  auto stub = ::Request::NewStub(NewChannel(t));
  Payload response;
  const grpc::Status big =
      Unary(stub.get(), MakePayload("InstanceRequest", std::string(8192, 'x')), &response);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();
  ASSERT_TRUE(Unary(stub.get(), MakePayload("InstanceRequest", "{}"), &response).ok());
  EXPECT_EQ(response.body().value(), "echo:{}");
  EXPECT_EQ(t.handler.Count(HandlerEvent::kUnary), 1u);  // the oversized one never reached it
  EXPECT_EQ(t.handler.Count(HandlerEvent::kConnect), 1u);
  EXPECT_EQ(t.metrics.grpc_call_errors.load(), 1u);
}

TEST(GrpcTransportTest, UnknownMethodIsUnimplemented) {
  TestTransport t(Options());
  auto channel = NewChannel(t);
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  grpc::Slice slice(std::string("x"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer reply;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/Nacos/unknown", grpc::StubOptions(), &request, &reply,
                    [&done](grpc::Status s) { done.set_value(s); });
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  auto stub = ::Request::NewStub(channel);
  Payload response;
  EXPECT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
}

TEST(GrpcTransportTest, UndecodableAndCompressedMessagesFailTheirCallOnly) {
  TestTransport t(Options());
  auto channel = NewChannel(t);
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  grpc::Slice slice(std::string("\xff\xff\xff\xff"));  // a field of wire type 7: not protobuf
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer reply;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/Request/request", grpc::StubOptions(), &request, &reply,
                    [&done](grpc::Status s) { done.set_value(s); });
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::INTERNAL);

  auto stub = ::Request::NewStub(channel);
  Payload response;
  grpc::ClientContext gzip;
  gzip.set_compression_algorithm(GRPC_COMPRESS_GZIP);  // a compressible body: sent compressed
  const grpc::Status compressed =
      stub->request(&gzip, MakePayload("InstanceRequest", std::string(4096, 'a')), &response);
  EXPECT_EQ(compressed.error_code(), grpc::StatusCode::INTERNAL) << compressed.error_message();

  ASSERT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
  EXPECT_EQ(t.handler.Count(HandlerEvent::kUnary), 1u);
  EXPECT_EQ(t.handler.Count(HandlerEvent::kConnect), 1u);
  EXPECT_EQ(t.metrics.grpc_call_errors.load(), 2u);
}

TEST(GrpcTransportTest, PeerAtItsCapHasItsNextConnectionClosed) {
  GrpcTransportOptions options;
  options.max_connections_per_peer = 1;
  TestTransport t(options);
  const int first = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(first, 0);
  char settings[9];
  ASSERT_EQ(::recv(first, settings, sizeof(settings), MSG_WAITALL), 9);  // accepted: SETTINGS
  const int second = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(second, 0);
  EXPECT_EQ(ReadAll(second), "");
  EXPECT_EQ(t.metrics.grpc_connections_refused.load(), 1u);
  EXPECT_EQ(t.transport.connection_count(), 1u);
  ::close(second);
  ::close(first);
}

TEST(GrpcTransportTest, GarbageAndBadPrefacesCloseOnlyTheirConnection) {
  TestTransport t(Options());
  auto stub = ::Request::NewStub(NewChannel(t));
  Payload response;
  ASSERT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "1"), &response).ok());

  // HTTP/1.1 instead of the preface: closed with no handler call.
  const int http1 = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(http1, 0);
  ASSERT_TRUE(SendAll(http1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ReadAll(http1);  // returns when the server closes
  ::close(http1);

  // A valid preface, then a DATA frame on stream 0: GOAWAY (PROTOCOL_ERROR), then closed.
  const int broken = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(broken, 0);
  ASSERT_TRUE(SendAll(broken, std::string(kPreface) + Frame(4, 0, 0, "") + Frame(0, 0, 0, "xx")));
  const std::string reply = ReadAll(broken);
  ::close(broken);
  EXPECT_NE(reply.find(std::string("\x07\x00\x00\x00\x00\x00", 6)), std::string::npos)
      << "no GOAWAY";  // type 7, flags 0, stream 0
  const HandlerEvent broken_connect = t.handler.Wait(HandlerEvent::kConnect, 2);
  t.handler.Wait(HandlerEvent::kDisconnect, 1, broken_connect.conn);

  ASSERT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "2"), &response).ok());
  EXPECT_EQ(response.body().value(), "echo:2");
  EXPECT_EQ(t.handler.Count(HandlerEvent::kConnect), 2u);
  EXPECT_EQ(t.metrics.grpc_protocol_errors.load(), 2u);
}

TEST(GrpcTransportTest, SilentConnectionIsClosedAfterTheHandshakeTimeout) {
  GrpcTransportOptions options;
  options.handshake_timeout_ms = 50;
  TestTransport t(options);
  const int fd = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(fd, 0);
  ReadAll(fd);  // the server's SETTINGS, then the close
  ::close(fd);
  EXPECT_EQ(t.handler.Count(HandlerEvent::kConnect), 0u);
  EXPECT_EQ(t.metrics.grpc_protocol_errors.load(), 1u);
}

TEST(GrpcTransportTest, ConnectionCapCountsHttpConnections) {
  GrpcTransportOptions options;
  options.max_connections = 2;
  TestTransport t(options);
  t.metrics.connections_open = 2;  // two HTTP connections hold the shared cap
  const int fd = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadAll(fd), "");  // closed at accept, before the server's SETTINGS
  ::close(fd);
  EXPECT_EQ(t.metrics.grpc_connections_refused.load(), 1u);
  t.metrics.connections_open = 1;
  auto stub = ::Request::NewStub(NewChannel(t));
  Payload response;
  EXPECT_TRUE(Unary(stub.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
}

TEST(GrpcTransportTest, PeerThatDoesNotReadIsClosedAtTheOutputCap) {
  GrpcTransportOptions options;
  options.limits.max_output_bytes = 256 << 10;
  TestTransport t(options);
  const int fd = ConnectLoopback(t.transport.port(), 60000);
  ASSERT_GE(fd, 0);
  // Preface, a bi-stream and one message on it; then this client never reads. Its HTTP/2 windows
  // (64 KiB) hold the server's DATA back whatever the socket buffers take.
  const std::string message = *EncodeGrpcFrame(GrpcMessage{"ConnectionSetupRequest", "", {}, "{}"});
  ASSERT_TRUE(SendAll(fd, std::string(kPreface) + Frame(4, 0, 0, "") +
                              RequestHeaders(1, "/BiRequestStream/requestBiStream") +
                              Frame(0, 0, 1, message)));
  const GrpcConnId conn = t.handler.Wait(HandlerEvent::kStream).conn;
  const auto push = ServerMessage("NotifySubscriberRequest", std::string(32 << 10, 'p'));
  for (int i = 0; i < 64; ++i) t.transport.SendOnStream(conn, push);  // 2 MiB
  t.handler.Wait(HandlerEvent::kDisconnect, 1, conn);
  EXPECT_EQ(t.metrics.grpc_output_overflows.load(), 1u);
  EXPECT_EQ(t.metrics.grpc_connections_open.load(), 0u);
  ::close(fd);
}

TEST(GrpcTransportTest, ShutdownWritesQueuedStreamMessagesFirst) {
  TestTransport t(Options());
  auto bi = ::BiRequestStream::NewStub(NewChannel(t));
  grpc::ClientContext context;
  auto stream = bi->requestBiStream(&context);
  ASSERT_TRUE(stream->Write(MakePayload("ConnectionSetupRequest", "{}")));
  const GrpcConnId conn = t.handler.Wait(HandlerEvent::kStream).conn;
  std::promise<void> closed;
  t.OnLoop([&] {
    t.transport.SendOnStream(conn, ServerMessage("ConnectResetRequest", R"({"serverIp":"x"})"));
    t.transport.Shutdown(std::chrono::seconds(60), [&closed] { closed.set_value(); });
  });
  Payload received;
  ASSERT_TRUE(stream->Read(&received));
  EXPECT_EQ(received.metadata().type(), "ConnectResetRequest");
  EXPECT_EQ(received.body().value(), R"({"serverIp":"x"})");
  EXPECT_FALSE(stream->Read(&received));
  closed.get_future().wait();
  EXPECT_EQ(t.handler.Count(HandlerEvent::kDisconnect, conn), 1u);
  EXPECT_EQ(t.transport.connection_count(), 0u);
}

TEST(GrpcTransportTest, ShutdownWithoutConnectionsCompletesAndStopsAccepting) {
  TestTransport t(Options());
  const uint16_t port = t.transport.port();
  std::promise<void> closed;
  t.OnLoop([&] { t.transport.Shutdown(std::chrono::seconds(60), [&] { closed.set_value(); }); });
  closed.get_future().wait();
  const int fd = ConnectLoopback(port, 60000);
  EXPECT_LT(fd, 0) << "the listener is closed";
  if (fd >= 0) ::close(fd);
}

TEST(GrpcTransportTest, StopDisconnectsEveryConnection) {
  TestTransport t(Options());
  auto a = ::Request::NewStub(NewChannel(t));
  auto b = ::Request::NewStub(NewChannel(t));
  Payload response;
  ASSERT_TRUE(Unary(a.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
  ASSERT_TRUE(Unary(b.get(), MakePayload("HealthCheckRequest", "{}"), &response).ok());
  t.OnLoop([&] { t.transport.Stop(); });
  EXPECT_EQ(t.handler.Count(HandlerEvent::kDisconnect), 2u);
  EXPECT_EQ(t.metrics.grpc_connections_open.load(), 0u);
  // Sends after Stop() are dropped; a shutdown then has nothing to wait for.
  t.transport.SendOnStream(1, ServerMessage("X", "{}"));
  bool done = false;
  t.OnLoop([&] { t.transport.Shutdown(std::chrono::seconds(60), [&done] { done = true; }); });
  EXPECT_TRUE(done);
}

// A GrpcConnection fed by hand, without a socket. Its output is taken only when drained: until then
// it stands for a peer that does not read.
struct RawConnection {
  explicit RawConnection(const GrpcLimits& limits, GrpcHandler* h = nullptr)
      : connection(1, "127.0.0.1", 1, limits, h != nullptr ? h : &handler, &metrics) {
    EXPECT_TRUE(connection.Init().ok());
    EXPECT_TRUE(Feed(std::string(kPreface) + Frame(4, 0, 0, "")));
    Drain();
  }
  bool Feed(const std::string& bytes) {
    return connection.Feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  void Drain() {
    for (auto out = connection.PendingOutput(); !out.empty(); out = connection.PendingOutput()) {
      connection.Consume(out.size());
    }
  }

  ServerMetrics metrics;
  RecordingHandler handler;
  GrpcConnection connection;
};

TEST(GrpcTransportTest, UnaryRequestsWaitingForTheirEndCountAgainstTheInputCap) {
  GrpcLimits limits;
  limits.max_message_bytes = 1024;
  limits.max_buffered_input_bytes = 4096;
  RawConnection raw(limits);
  const std::string message =
      *EncodeGrpcFrame(GrpcMessage{"InstanceRequest", "", {}, std::string(900, 'x')});
  const size_t held = message.size() - 5;  // 4 fit in 4096 bytes, 5 do not
  // Five unary calls, each with a whole message and no END_STREAM.
  for (uint32_t stream = 1; stream <= 9; stream += 2) {
    ASSERT_TRUE(
        raw.Feed(RequestHeaders(stream, "/Request/request") + Frame(0, 0, stream, message)));
  }
  EXPECT_EQ(raw.connection.buffered_input_bytes(), 4 * held);
  EXPECT_EQ(raw.metrics.grpc_call_errors.load(), 1u);  // the fifth
  // The first call's input ends: it is answered and its request no longer counts.
  ASSERT_TRUE(raw.Feed(Frame(0, 1 /* END_STREAM */, 1, "")));
  EXPECT_EQ(raw.handler.Count(HandlerEvent::kUnary), 1u);
  EXPECT_EQ(raw.connection.buffered_input_bytes(), 3 * held);
  // The fifth call was failed: its end reaches no handler.
  ASSERT_TRUE(raw.Feed(Frame(0, 1, 9, "")));
  EXPECT_EQ(raw.handler.Count(HandlerEvent::kUnary), 1u);
  // A reset call releases its request.
  ASSERT_TRUE(raw.Feed(Frame(3, 0, 3, std::string("\0\0\0\x08", 4))));  // RST_STREAM CANCEL
  EXPECT_EQ(raw.connection.buffered_input_bytes(), 2 * held);
}

TEST(GrpcTransportTest, OutputCapIsCheckedAsEachMessageIsQueued) {
  GrpcLimits limits;
  limits.max_output_bytes = 4096;
  RawConnection raw(limits);
  // Ten unary calls of about 1 KiB each, answered in one read; the peer reads nothing.
  const std::string message =
      *EncodeGrpcFrame(GrpcMessage{"InstanceRequest", "", {}, std::string(1000, 'x')});
  std::string calls;
  for (uint32_t stream = 1; stream <= 19; stream += 2) {
    calls += RequestHeaders(stream, "/Request/request") + Frame(0, 1, stream, message);
  }
  ASSERT_TRUE(raw.Feed(calls));
  EXPECT_TRUE(raw.connection.over_output_cap());
  EXPECT_LE(raw.connection.queued_bytes(), limits.max_output_bytes);
  EXPECT_LE(raw.handler.Count(HandlerEvent::kUnary), 4u);  // none after the first refused
  EXPECT_EQ(raw.metrics.grpc_call_errors.load(), 1u);      // the refused answer's call fails (8)

  // Stream messages: the same cap.
  RawConnection bidi(limits);
  ASSERT_TRUE(bidi.Feed(RequestHeaders(1, "/BiRequestStream/requestBiStream")));
  const auto push = EncodeGrpcFrame(GrpcMessage{"NotifySubscriberRequest", "", {}, message});
  for (int i = 0; i < 10; ++i) bidi.connection.SendOnStream(push);
  EXPECT_TRUE(bidi.connection.over_output_cap());
  EXPECT_LE(bidi.connection.queued_bytes(), limits.max_output_bytes);
}

TEST(GrpcTransportTest, StreamMessagesGoToTheOlderBiStreamWhenTheNewerEnds) {
  RawConnection raw{GrpcLimits()};
  ASSERT_TRUE(raw.Feed(RequestHeaders(1, "/BiRequestStream/requestBiStream") +
                       RequestHeaders(3, "/BiRequestStream/requestBiStream")));
  ASSERT_TRUE(raw.Feed(Frame(0, 1 /* END_STREAM */, 3, "")));  // the client ends the newer one
  raw.Drain();                                                 // its trailers: stream 3 closes
  ASSERT_EQ(raw.connection.queued_bytes(), 0u);
  const auto push = EncodeGrpcFrame(GrpcMessage{"NotifySubscriberRequest", "", {}, "{}"});
  raw.connection.SendOnStream(push);
  EXPECT_EQ(raw.connection.queued_bytes(), push->size());  // queued on stream 1
  // Stream 1 ends too: nothing is left to send on.
  ASSERT_TRUE(raw.Feed(Frame(0, 1, 1, "")));
  raw.Drain();
  raw.connection.SendOnStream(push);
  EXPECT_EQ(raw.connection.queued_bytes(), 0u);
}

// OnConnect runs inside an nghttp2 callback: what it throws must not unwind through nghttp2.
class ThrowingHandler : public RecordingHandler {
 public:
  void OnConnect(GrpcConnId, const std::string&, uint16_t) override { throw std::bad_alloc(); }
};

TEST(GrpcTransportTest, HandlerExceptionInACallbackFailsOnlyItsConnection) {
  ThrowingHandler handler;
  GrpcLimits limits;
  GrpcConnection connection(1, "127.0.0.1", 1, limits, &handler, nullptr);
  ASSERT_TRUE(connection.Init().ok());
  const std::string preface = std::string(kPreface) + Frame(4, 0, 0, "");
  EXPECT_FALSE(connection.Feed(reinterpret_cast<const uint8_t*>(preface.data()), preface.size()));
  EXPECT_FALSE(connection.protocol_error());
  EXPECT_TRUE(connection.done());
}

}  // namespace
}  // namespace dubbo::naming_server
