// GrpcClientConnector and its channels over real loopback sockets (port 0): against an in-process
// naming-server, against a grpc++ server (an independent HTTP/2 and gRPC implementation), and
// against sockets that misbehave (silent, closing mid-call, refusing). Every wait is for an event;
// the hang guard (kWait) only turns a broken transport into a failure.
#include "grpc_client_transport.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "nacos_grpc_service.grpc.pb.h"
#include "transport_test_util.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using testing::BoundSocket;
using testing::kWait;
using testing::LocalPort;
using testing::RefusedPort;

constexpr auto kNever = std::chrono::minutes(10);

GrpcMessage Message(std::string type, std::string body) {
  GrpcMessage m;
  m.type = std::move(type);
  m.body = std::move(body);
  return m;
}

// What a channel reported, and what its calls answered. Callbacks run on the loop; the test
// thread waits and reads under the lock. `on_closed` and `on_message` run on the loop, after the
// record is taken.
class Recorder : public GrpcChannelEvents {
 public:
  struct Answer {
    Status status;
    GrpcMessage message;
  };

  void OnStreamMessage(GrpcMessage message) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(message);
    }
    cv_.notify_all();
    if (on_message) on_message();
  }
  void OnChannelClosed(Status why) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_.push_back(std::move(why));
    }
    cv_.notify_all();
    if (on_closed) on_closed();
  }
  GrpcChannel::UnaryDone Done(std::function<void()> then = nullptr) {
    return [this, then](Result<GrpcMessage> answer) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        answers_.push_back(answer.ok() ? Answer{Status::Ok(), std::move(*answer)}
                                       : Answer{answer.status(), GrpcMessage()});
      }
      cv_.notify_all();
      if (then) then();
    };
  }

  bool WaitAnswers(size_t n) {
    return Wait([&] { return answers_.size() >= n; });
  }
  bool WaitClosed() {
    return Wait([&] { return !closed_.empty(); });
  }
  bool WaitMessages(size_t n) {
    return Wait([&] { return messages_.size() >= n; });
  }

  std::vector<Answer> answers() {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_;
  }
  std::vector<Status> closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  std::vector<GrpcMessage> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

  std::function<void()> on_closed;
  std::function<void()> on_message;

 private:
  bool Wait(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, done);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Answer> answers_;
  std::vector<Status> closed_;
  std::vector<GrpcMessage> messages_;
};

class GrpcClientTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Start().ok()); }
  void TearDown() override {
    loop_.RunInLoopAndWait([&] { channel_.reset(); });
  }

  void Open(const std::string& host, int port, Duration connect_timeout = kNever) {
    ASSERT_TRUE(loop_.RunInLoopAndWait(
        [&] { channel_ = connector_.Connect(host, port, connect_timeout, &events_); }));
  }
  // Connects and starts calls (type, timeout) in one loop task, so that nothing the server does
  // (answering, closing, refusing) and no timer comes between.
  void OpenAndCall(int port, Duration connect_timeout,
                   const std::vector<std::pair<std::string, Duration>>& calls) {
    ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
      channel_ = connector_.Connect("127.0.0.1", port, connect_timeout, &events_);
      for (const auto& [type, timeout] : calls) {
        channel_->Unary(Message(type, "{}"), timeout, events_.Done());
      }
    }));
  }
  void Call(GrpcMessage request, Duration timeout = kNever, std::function<void()> then = nullptr) {
    ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
      ASSERT_NE(channel_, nullptr);
      channel_->Unary(std::move(request), timeout, events_.Done(std::move(then)));
    }));
  }
  Status Send(GrpcMessage message) {
    Status s = InternalError("not run");
    loop_.RunInLoopAndWait([&] { s = channel_->SendOnStream(std::move(message)); });
    return s;
  }
  // The one answer, once it has come.
  Recorder::Answer OnlyAnswer() {
    EXPECT_TRUE(events_.WaitAnswers(1));
    std::vector<Recorder::Answer> answers = events_.answers();
    EXPECT_EQ(answers.size(), 1u);
    return answers.empty() ? Recorder::Answer{InternalError("none"), {}} : answers[0];
  }

  EventLoop loop_{"grpc-test"};
  GrpcClientConnector connector_{&loop_};
  Recorder events_;
  std::unique_ptr<GrpcChannel> channel_;  // used on the loop only
};

// ---- Against naming-server
// -----------------------------------------------------------------------

std::unique_ptr<naming_server::NamingServer> StartNamingServer() {
  naming_server::NamingServerOptions options;
  options.port = 0;
  options.grpc_ack_timeout_ms = 600000;
  options.grpc_detection_idle_ms = 600000;
  auto server = naming_server::NamingServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST_F(GrpcClientTransportTest, NamingServerAnswersServerCheck) {
  auto server = StartNamingServer();
  ASSERT_NE(server, nullptr);
  Open("127.0.0.1", server->grpc_port());
  Call(Message("ServerCheckRequest", R"({"headers":{},"module":"internal"})"));
  const Recorder::Answer answer = OnlyAnswer();
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  EXPECT_EQ(answer.message.type, "ServerCheckResponse");
  // The connection id the server minted names this TCP connection's peer address.
  EXPECT_NE(answer.message.body.find(R"("connectionId":")"), std::string::npos);
  EXPECT_NE(answer.message.body.find("_127.0.0.1_"), std::string::npos) << answer.message.body;
  EXPECT_TRUE(events_.closed().empty());
}

TEST_F(GrpcClientTransportTest, NamingServerAcksTheSetupOnTheBiStream) {
  auto server = StartNamingServer();
  ASSERT_NE(server, nullptr);
  Open("localhost", server->grpc_port());  // resolved by evdns (the hosts file)
  ASSERT_TRUE(Send(Message("ConnectionSetupRequest",
                           R"({"headers":{},"clientVersion":"Nacos-Cpp-Client:test",)"
                           R"("labels":{"module":"naming","source":"sdk","AppName":"t"},)"
                           R"("tenant":"","abilityTable":{},"module":"internal"})"))
                  .ok());
  ASSERT_TRUE(events_.WaitMessages(1));
  EXPECT_EQ(events_.messages()[0].type, "SetupAckRequest");
  // A unary call on the same connection is now accepted as registered.
  Call(Message("HealthCheckRequest", R"({"headers":{},"module":"internal"})"));
  const Recorder::Answer answer = OnlyAnswer();
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  EXPECT_EQ(answer.message.type, "HealthCheckResponse");
  EXPECT_NE(answer.message.body.find(R"("resultCode":200)"), std::string::npos)
      << answer.message.body;
}

// ---- Against grpc++
// --------------------------------------------------------------------------------

class EchoService final : public ::Request::Service {
 public:
  grpc::Status request(grpc::ServerContext* /*context*/, const ::Payload* request,
                       ::Payload* response) override {
    if (request->metadata().type() == "Fail") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "refused by test");
    }
    response->mutable_metadata()->set_type(request->metadata().type() + "Response");
    *response->mutable_metadata()->mutable_headers() = request->metadata().headers();
    response->mutable_body()->set_value(request->body().value());
    return grpc::Status::OK;
  }
};

// Answers each stream message with "<type>Ack" until the client goes.
class StreamService final : public ::BiRequestStream::Service {
 public:
  grpc::Status requestBiStream(grpc::ServerContext* /*context*/,
                               grpc::ServerReaderWriter<::Payload, ::Payload>* stream) override {
    ::Payload in;
    while (stream->Read(&in)) {
      ::Payload out;
      out.mutable_metadata()->set_type(in.metadata().type() + "Ack");
      out.mutable_body()->set_value(in.body().value());
      if (!stream->Write(out)) break;
    }
    return grpc::Status::OK;
  }
};

class GrpcppServer {
 public:
  GrpcppServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&echo_);
    builder.RegisterService(&stream_);
    server_ = builder.BuildAndStart();
  }
  ~GrpcppServer() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }
  int port() const { return port_; }

 private:
  EchoService echo_;
  StreamService stream_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(GrpcClientTransportTest, GrpcppServerAnswersUnaryCalls) {
  GrpcppServer server;
  ASSERT_GT(server.port(), 0);
  Open("127.0.0.1", server.port());
  GrpcMessage request = Message("InstanceRequest", std::string(100000, 'j'));  // several frames
  request.headers["accessToken"] = "t0k";
  Call(request);
  Call(Message("Fail", "{}"));
  ASSERT_TRUE(events_.WaitAnswers(2));
  for (const Recorder::Answer& answer : events_.answers()) {
    if (answer.status.ok()) {
      EXPECT_EQ(answer.message.type, "InstanceRequestResponse");
      EXPECT_EQ(answer.message.body, request.body);
      EXPECT_EQ(answer.message.headers.at("accessToken"), "t0k");
    } else {
      EXPECT_EQ(answer.status.code(), StatusCode::kInternal);
      EXPECT_NE(answer.status.message().find("refused by test"), std::string::npos)
          << answer.status;
    }
  }
  EXPECT_TRUE(events_.closed().empty());
}

TEST_F(GrpcClientTransportTest, GrpcppServerTalksOnTheBiStream) {
  GrpcppServer server;
  Open("127.0.0.1", server.port());
  ASSERT_TRUE(Send(Message("ConnectionSetupRequest", "{}")).ok());
  ASSERT_TRUE(Send(Message("ClientDetectionResponse", "{}")).ok());
  ASSERT_TRUE(events_.WaitMessages(2));
  EXPECT_EQ(events_.messages()[0].type, "ConnectionSetupRequestAck");
  EXPECT_EQ(events_.messages()[1].type, "ClientDetectionResponseAck");
}

TEST_F(GrpcClientTransportTest, ChannelDestroyedInsideItsCallbacks) {
  GrpcppServer server;
  Open("127.0.0.1", server.port());
  // The first answer destroys the channel; the second call, still pending, is cancelled.
  Call(Message("First", "{}"), kNever, [this] { channel_.reset(); });
  ASSERT_TRUE(events_.WaitAnswers(1));
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
    if (channel_ != nullptr) channel_->Unary(Message("Second", "{}"), kNever, events_.Done());
  }));
  std::vector<Recorder::Answer> answers = events_.answers();
  ASSERT_GE(answers.size(), 1u);
  EXPECT_TRUE(answers[0].status.ok()) << answers[0].status;
  loop_.RunInLoopAndWait([] {});
  EXPECT_TRUE(events_.closed().empty());

  // A stream message that destroys its channel.
  Open("127.0.0.1", server.port());
  events_.on_message = [this] { channel_.reset(); };
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] {  // both go out before the first answer can come
    EXPECT_TRUE(channel_->SendOnStream(Message("A", "{}")).ok());
    EXPECT_TRUE(channel_->SendOnStream(Message("B", "{}")).ok());
  }));
  ASSERT_TRUE(events_.WaitMessages(1));
  loop_.RunInLoopAndWait([] {});
  EXPECT_EQ(events_.messages().size(), 1u);
  EXPECT_TRUE(events_.closed().empty());
}

TEST_F(GrpcClientTransportTest, CloseCancelsPendingCallsLater) {
  const int fd = BoundSocket(16);  // accepts (in the backlog), never answers
  ASSERT_GE(fd, 0);
  Open("127.0.0.1", LocalPort(fd));
  bool ran_inside = false;
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
    channel_->Unary(Message("Q", "{}"), kNever, events_.Done());
    channel_->Close();
    ran_inside = !events_.answers().empty();
    // On a closed channel: refused, and never from inside Unary().
    channel_->Unary(Message("Q", "{}"), kNever, events_.Done());
    ran_inside = ran_inside || !events_.answers().empty();
    EXPECT_EQ(channel_->SendOnStream(Message("Q", "{}")).code(), StatusCode::kUnavailable);
  }));
  EXPECT_FALSE(ran_inside);
  ASSERT_TRUE(events_.WaitAnswers(2));
  std::vector<Recorder::Answer> answers = events_.answers();
  EXPECT_EQ(answers[0].status.code(), StatusCode::kCancelled);
  EXPECT_EQ(answers[1].status.code(), StatusCode::kUnavailable);
  loop_.RunInLoopAndWait([] {});
  EXPECT_TRUE(events_.closed().empty());
  ::close(fd);
}

// ---- Misbehaving servers
// -------------------------------------------------------------------------

TEST_F(GrpcClientTransportTest, SilentServerRunsOutTheCallAndConnectTimeouts) {
  const int fd = BoundSocket(16);  // the kernel completes the handshake; nothing more happens
  ASSERT_GE(fd, 0);
  // The call's deadline comes before the connect deadline however slow the test thread is.
  OpenAndCall(LocalPort(fd), milliseconds(300), {{"Short", milliseconds(20)}, {"Long", kNever}});
  ASSERT_TRUE(events_.WaitAnswers(2));
  ASSERT_TRUE(events_.WaitClosed());
  std::vector<Recorder::Answer> answers = events_.answers();
  EXPECT_EQ(answers[0].status.code(), StatusCode::kDeadlineExceeded) << answers[0].status;
  EXPECT_EQ(answers[1].status.code(), StatusCode::kUnavailable) << answers[1].status;
  std::vector<Status> closed = events_.closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].code(), StatusCode::kDeadlineExceeded) << closed[0];
  ::close(fd);
}

TEST_F(GrpcClientTransportTest, ServerClosingMidCallFailsItOnce) {
  const int fd = BoundSocket(16);
  ASSERT_GE(fd, 0);
  std::thread server([fd] {
    const int conn = ::accept(fd, nullptr, nullptr);
    if (conn < 0) return;
    char buf[256];
    (void)::recv(conn, buf, sizeof(buf), 0);  // the preface has come: the call is under way
    ::close(conn);
  });
  OpenAndCall(LocalPort(fd), kNever, {{"Q", kNever}});  // the call goes out with the preface
  const Recorder::Answer answer = OnlyAnswer();
  EXPECT_EQ(answer.status.code(), StatusCode::kUnavailable) << answer.status;
  ASSERT_TRUE(events_.WaitClosed());
  server.join();
  loop_.RunInLoopAndWait([&] { channel_.reset(); });
  std::vector<Status> closed = events_.closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].code(), StatusCode::kUnavailable) << closed[0];
  ::close(fd);
}

TEST_F(GrpcClientTransportTest, RefusedConnectionClosesTheChannel) {
  // The channel is destroyed from inside OnChannelClosed.
  events_.on_closed = [this] { channel_.reset(); };
  OpenAndCall(RefusedPort(), kNever, {{"Q", kNever}});  // the refusal may come at once
  ASSERT_TRUE(events_.WaitClosed());
  const Recorder::Answer answer = OnlyAnswer();
  EXPECT_EQ(answer.status.code(), StatusCode::kUnavailable);
  std::vector<Status> closed = events_.closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].code(), StatusCode::kUnavailable);
  EXPECT_NE(closed[0].message().find("refused"), std::string::npos) << closed[0];
}

TEST_F(GrpcClientTransportTest, BadPortIsReportedLater) {
  Open("127.0.0.1", 70000);
  ASSERT_TRUE(events_.WaitClosed());
  EXPECT_EQ(events_.closed()[0].code(), StatusCode::kInvalidArgument);
}

TEST_F(GrpcClientTransportTest, OutputOverItsCapClosesTheChannel) {
  const int fd = BoundSocket(16);
  ASSERT_GE(fd, 0);
  GrpcTransportOptions options;
  options.limits.max_output_bytes = 64 << 10;
  GrpcClientConnector small(&loop_, options);
  Status sent = Status::Ok();
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
    channel_ = small.Connect("127.0.0.1", LocalPort(fd), kNever, &events_);
    channel_->Unary(Message("Q", "{}"), kNever, events_.Done());
    sent = channel_->SendOnStream(Message("Big", std::string(100 << 10, 'b')));
  }));
  EXPECT_EQ(sent.code(), StatusCode::kResourceExhausted) << sent;
  ASSERT_TRUE(events_.WaitClosed());
  EXPECT_EQ(events_.closed()[0].code(), StatusCode::kResourceExhausted) << events_.closed()[0];
  EXPECT_EQ(OnlyAnswer().status.code(), StatusCode::kUnavailable);
  loop_.RunInLoopAndWait([&] { channel_.reset(); });  // before its connector
  ::close(fd);
}

// A name the resolver cannot answer at once: the channel fails within its connect timeout, either
// for the resolution or for the timeout (which cancels the lookup in flight).
TEST_F(GrpcClientTransportTest, UnresolvableNameFailsTheChannel) {
  Open("no-such-host.invalid", 9848, milliseconds(200));
  ASSERT_TRUE(events_.WaitClosed());
  const Status why = events_.closed()[0];
  EXPECT_TRUE(why.code() == StatusCode::kUnavailable || why.code() == StatusCode::kDeadlineExceeded)
      << why;
}

}  // namespace
}  // namespace dubbo::registry::nacos
