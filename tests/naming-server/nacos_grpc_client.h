// Test helper: one Nacos gRPC connection made with grpc++ (an independent HTTP/2 and gRPC
// implementation), as a Nacos SDK makes it: a channel of its own (its own TCP connection: no
// subchannel shared with another channel), unary `/Request/request` calls, and the bi-stream
// `/BiRequestStream/requestBiStream` on the same channel. A reader thread queues what the server
// sends on the stream; it answers ClientDetectionRequest itself (as every SDK does) and, when asked
// to, acks NotifySubscriberRequest pushes.
//
//   NacosGrpcClient client(server->grpc_port());
//   client.Setup();                                    // ConnectionSetupRequest, waits for the ack
//   GrpcPayload answer = client.Call("InstanceRequest", body);
//   GrpcPayload push = client.Next();                // blocks; a hang guard turns into a failure
//
// Every wait is for an event; the hang guard only turns a broken server into a failure with a
// message and never bounds elapsed time.
//
// Thread-safety: one test thread drives an object; the reader thread is internal.
#ifndef DUBBO_TESTS_NAMING_SERVER_NACOS_GRPC_CLIENT_H_
#define DUBBO_TESTS_NAMING_SERVER_NACOS_GRPC_CLIENT_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "nacos_grpc_service.grpc.pb.h"
#include "nacos_grpc_vectors.h"

namespace dubbo::naming_server::nacos_grpc {

// Only a broken server makes a test wait this long, however loaded the machine.
inline constexpr std::chrono::seconds kGrpcHangGuard{60};

// One Payload: Metadata.type and the body's JSON. `type` is "" for nothing received.
struct GrpcPayload {
  std::string type;
  std::string body;
};

// The string `name` of the JSON object `json`; "" when absent or not a string.
inline std::string JsonString(const std::string& json, const char* name) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(name) || !doc[name].IsString()) {
    return {};
  }
  return doc[name].GetString();
}

class NacosGrpcClient {
 public:
  // Connects lazily (grpc++ opens the TCP connection for the first call). `auto_ack`: pushes are
  // acked by the reader thread as they arrive (they are queued too).
  explicit NacosGrpcClient(uint16_t port, bool auto_ack = false) : auto_ack_(auto_ack) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::CreateCustomChannel("ipv4:127.0.0.1:" + std::to_string(port),
                                         grpc::InsecureChannelCredentials(), args);
    unary_ = ::Request::NewStub(channel_);
  }
  ~NacosGrpcClient() { Close(); }
  NacosGrpcClient(const NacosGrpcClient&) = delete;
  NacosGrpcClient& operator=(const NacosGrpcClient&) = delete;

  // One unary call; its gRPC status (Nacos answers every call with OK and one Payload).
  grpc::Status TryCall(const std::string& type, const std::string& body, GrpcPayload* answer) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kGrpcHangGuard);
    Payload response;
    const grpc::Status status = unary_->request(&context, MakePayload(type, body), &response);
    answer->type = response.metadata().type();
    answer->body = response.body().value();
    return status;
  }
  // One unary call that must succeed at the gRPC level.
  GrpcPayload Call(const std::string& type, const std::string& body) {
    GrpcPayload answer;
    const grpc::Status status = TryCall(type, body, &answer);
    EXPECT_TRUE(status.ok()) << type << ": " << status.error_code() << " "
                             << status.error_message();
    return answer;
  }
  // ServerCheckRequest: the connection id the server gave this TCP connection.
  std::string ServerCheck() {
    const GrpcPayload answer = Call("ServerCheckRequest", R"({"headers":{},"module":"internal"})");
    EXPECT_EQ(answer.type, "ServerCheckResponse") << answer.body;
    return JsonString(answer.body, "connectionId");
  }

  // Opens the bi-stream and starts reading it.
  void OpenStream() {
    if (stream_ != nullptr) return;
    stream_context_ = std::make_unique<grpc::ClientContext>();
    bi_ = ::BiRequestStream::NewStub(channel_);
    stream_ = bi_->requestBiStream(stream_context_.get());
    reader_ = std::thread([this] { ReadStream(); });
  }
  // Sends one message on the stream (opened if needed); false once the stream is broken.
  bool Send(const std::string& type, const std::string& body) {
    OpenStream();
    std::lock_guard<std::mutex> lock(write_mu_);
    return stream_->Write(MakePayload(type, body));
  }
  // Sends `setup` on the stream and returns the SetupAckRequest the server answers with.
  GrpcPayload Setup(const std::string& setup = kJavaSetup) {
    EXPECT_TRUE(Send("ConnectionSetupRequest", setup));
    GrpcPayload ack = Next();
    EXPECT_EQ(ack.type, "SetupAckRequest") << ack.body;
    return ack;
  }

  // The next message the server sent on the stream, in order; type "" (and a failed expectation)
  // when the stream ended first or the hang guard ran out.
  GrpcPayload Next() {
    std::unique_lock<std::mutex> lock(mu_);
    const bool got =
        cv_.wait_for(lock, kGrpcHangGuard, [this] { return !received_.empty() || ended_; });
    if (!received_.empty()) {
      GrpcPayload next = std::move(received_.front());
      received_.pop_front();
      return next;
    }
    ADD_FAILURE() << (got ? "the stream ended" : "nothing received on the stream");
    return {};
  }
  // The next message, which must be a NotifySubscriberRequest; acked unless auto_ack already did.
  GrpcPayload NextPush() {
    GrpcPayload push = Next();
    EXPECT_EQ(push.type, "NotifySubscriberRequest") << push.body;
    if (!auto_ack_ && push.type == "NotifySubscriberRequest") Ack(push);
    return push;
  }
  // Java's answer to a server request: the response type, its requestId, resultCode 200.
  void Ack(const GrpcPayload& request) {
    const std::string type = request.type.substr(0, request.type.size() - 7) + "Response";
    Send(type, R"({"resultCode":200,"errorCode":0,"requestId":")" +
                   JsonString(request.body, "requestId") + R"(","success":true})");
  }
  // Waits for the server to end the stream (or the hang guard): whether it ended. Messages still
  // queued stay readable.
  bool WaitForStreamEnd() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kGrpcHangGuard, [this] { return ended_; });
  }
  // Messages received and not yet taken.
  size_t Queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_.size();
  }

  // Cancels the stream and destroys the channel: grpc++ closes the TCP connection. Idempotent.
  void Close() {
    if (stream_ != nullptr) {
      stream_context_->TryCancel();
      reader_.join();
      stream_->Finish();
      stream_.reset();
      bi_.reset();
      stream_context_.reset();
    }
    unary_.reset();
    channel_.reset();
  }

 private:
  static Payload MakePayload(const std::string& type, const std::string& body) {
    Payload p;
    p.mutable_metadata()->set_type(type);
    p.mutable_metadata()->set_clientip("127.0.0.1");
    p.mutable_body()->set_value(body);
    return p;
  }

  void ReadStream() {
    Payload p;
    while (stream_->Read(&p)) {
      GrpcPayload message{p.metadata().type(), p.body().value()};
      if (message.type == "ClientDetectionRequest") {
        Ack(message);
        continue;
      }
      if (auto_ack_ && message.type == "NotifySubscriberRequest") Ack(message);
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(std::move(message));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }

  const bool auto_ack_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::Request::Stub> unary_;
  std::unique_ptr<::BiRequestStream::Stub> bi_;
  std::unique_ptr<grpc::ClientContext> stream_context_;
  std::unique_ptr<grpc::ClientReaderWriter<Payload, Payload>> stream_;
  std::thread reader_;
  std::mutex write_mu_;  // grpc++ allows one Write() at a time.

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GrpcPayload> received_;
  bool ended_ = false;
};

}  // namespace dubbo::naming_server::nacos_grpc

#endif  // DUBBO_TESTS_NAMING_SERVER_NACOS_GRPC_CLIENT_H_
