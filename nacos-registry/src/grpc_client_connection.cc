#include "grpc_client_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <utility>

#include "internal/logging.h"

namespace dubbo::registry::nacos {
namespace {

// The longest grpc-message kept for a Status.
constexpr size_t kMaxKeptMessage = 256;
// Flow-control windows we grant the server: per stream, and for the connection. Memory is bounded
// by max_buffered_input_bytes, not by these.
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 16 << 20;

constexpr int kGrpcUnavailable = 14;

nghttp2_nv MakeNv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME};
}

// A decimal grpc-status in [0, 99]; -1 otherwise.
int ParseGrpcStatus(std::string_view v) {
  if (v.empty() || v.size() > 2) return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// grpc-message is percent-encoded; control bytes are kept out of our Status text, and so is
// anything past kMaxKeptMessage.
std::string PercentDecode(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size() && out.size() < kMaxKeptMessage; ++i) {
    char c = v[i];
    if (c == '%' && i + 2 < v.size() && HexDigit(v[i + 1]) >= 0 && HexDigit(v[i + 2]) >= 0) {
      c = static_cast<char>(HexDigit(v[i + 1]) << 4 | HexDigit(v[i + 2]));
      i += 2;
    }
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  }
  return out;
}

}  // namespace

struct GrpcClientConnection::Stream {
  explicit Stream(int32_t i, bool b) : id(i), bidi(b) {}

  const int32_t id;
  const bool bidi;
  // Outbound: queued gRPC messages; a unary call ends its side after them.
  nacos_wire::GrpcOutboundQueue out;
  bool end_after_out = false;
  // Inbound.
  size_t header_bytes = 0;
  int http_status = 0;
  int grpc_status = -1;  // -1: none received
  std::string grpc_message;
  nacos_wire::GrpcMessageReader reader;
  size_t messages = 0;
  GrpcMessage answer;       // unary: the one message
  size_t answer_bytes = 0;  // its wire size, counted in buffered_input_ until the call ends
  Status error;             // unary: the first failure decided while receiving
  bool done = false;        // unary: the event went out, or the call was cancelled
};

// The nghttp2 callbacks. user_data is the GrpcClientConnection.
struct GrpcClientConnection::Callbacks {
  static GrpcClientConnection* Self(void* user_data) {
    return static_cast<GrpcClientConnection*>(user_data);
  }

  // A callback threw (bad_alloc): the connection fails.
  static void Failed(void* user_data) { Self(user_data)->callback_failed_ = true; }
  template <auto F>
  using Guarded = nacos_wire::GuardedH2Callback<F, &Failed>;

  static int OnHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                      void* user_data) {
    GrpcClientConnection* self = Self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* s = self->Find(frame->hd.stream_id);
    if (s == nullptr) return 0;
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > self->limits_.max_header_list_bytes) {
      self->FailStream(
          s, InternalError("the answer's header list is over " +
                           std::to_string(self->limits_.max_header_list_bytes) + " bytes"));
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
    }
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      s->http_status = -1;  // not three digits
      if (v.size() == 3 && HexDigit(v[0]) >= 0 && HexDigit(v[0]) < 10 && HexDigit(v[1]) >= 0 &&
          HexDigit(v[1]) < 10 && HexDigit(v[2]) >= 0 && HexDigit(v[2]) < 10) {
        s->http_status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
      }
    } else if (n == "grpc-status") {
      s->grpc_status = ParseGrpcStatus(v);
      if (s->grpc_status < 0) s->grpc_status = 2;  // UNKNOWN: not a status we can read
    } else if (n == "grpc-message") {
      s->grpc_message = PercentDecode(v);
    }
    return 0;
  }

  static int OnFrameRecv(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                         void* user_data) {
    GrpcClientConnection* self = Self(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) self->settings_received_ = true;
        return 0;
      case NGHTTP2_GOAWAY:
        self->Fail(UnavailableError("the server sent GOAWAY (" +
                                    std::string(nghttp2_http2_strerror(frame->goaway.error_code)) +
                                    ")"));
        return 0;
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA: {
        Stream* s = self->Find(frame->hd.stream_id);
        if (s != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          self->OnRemoteEnd(s, false, 0);
        }
        return 0;
      }
      default:
        return 0;
    }
  }

  static int OnDataChunk(nghttp2_session* /*session*/, uint8_t /*flags*/, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user_data) {
    GrpcClientConnection* self = Self(user_data);
    Stream* s = self->Find(stream_id);
    if (s != nullptr) self->OnData(s, data, len);
    return 0;
  }

  static int OnFrameSend(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                         void* user_data) {
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      GrpcClientConnection* self = Self(user_data);
      self->Fail(InternalError(
          "HTTP/2 protocol error from the server (" +
          std::string(nghttp2_http2_strerror(frame->goaway.error_code)) +
          (self->last_error_.empty() ? std::string() : ": " + self->last_error_) + ")"));
    }
    return 0;
  }

  static int OnError(nghttp2_session* /*session*/, int /*lib_error_code*/, const char* msg,
                     size_t len, void* user_data) {
    Self(user_data)->last_error_.assign(msg, std::min(len, kMaxKeptMessage));
    return 0;
  }

  static int OnStreamClose(nghttp2_session* /*session*/, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
    GrpcClientConnection* self = Self(user_data);
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return 0;
    Stream* s = it->second.get();
    self->OnRemoteEnd(s, true, error_code);
    self->DropInput(s);
    s->out.Clear(&self->queued_bytes_);
    self->streams_.erase(it);
    return 0;
  }

  static ssize_t ReadData(nghttp2_session* /*session*/, int32_t stream_id, uint8_t* buf,
                          size_t length, uint32_t* data_flags, nghttp2_data_source* /*source*/,
                          void* user_data) {
    GrpcClientConnection* self = Self(user_data);
    Stream* s = self->Find(stream_id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const size_t copied = s->out.CopyTo(buf, length, &self->queued_bytes_);
    if (s->out.frames.empty() && s->end_after_out) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(copied);
    }
    if (copied == 0) return NGHTTP2_ERR_DEFERRED;
    return static_cast<ssize_t>(copied);
  }
};

GrpcClientConnection::GrpcClientConnection(const GrpcClientLimits& limits, std::string authority)
    : limits_(limits), authority_(std::move(authority)) {}

GrpcClientConnection::~GrpcClientConnection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

Status GrpcClientConnection::Init() {
  if (limits_.max_message_bytes == 0 || limits_.max_message_bytes > (size_t{1} << 31) ||
      limits_.max_buffered_input_bytes < limits_.max_message_bytes + nacos_wire::kGrpcPrefixBytes ||
      limits_.max_header_list_bytes < 1024 || limits_.max_output_bytes == 0) {
    return InvalidArgumentError(
        "gRPC client limits: message cap 1 B..2 GiB, input buffer >= message cap + 5, header "
        "list >= 1 KiB, output cap > 0");
  }
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) {
    return InternalError("nghttp2_session_callbacks_new failed");
  }
  using C = Callbacks;
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &C::Guarded<&C::OnHeader>::Call);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                       &C::Guarded<&C::OnFrameRecv>::Call);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            &C::Guarded<&C::OnDataChunk>::Call);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks,
                                                       &C::Guarded<&C::OnFrameSend>::Call);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         &C::Guarded<&C::OnStreamClose>::Call);
  nghttp2_session_callbacks_set_error_callback2(callbacks, &C::Guarded<&C::OnError>::Call);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return InternalError("nghttp2_option_new failed");
  }
  nghttp2_option_set_no_closed_streams(option, 1);
  const int rv = nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    session_ = nullptr;
    return InternalError("nghttp2_session_client_new2 failed");
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof(settings) / sizeof(settings[0])) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) !=
          0) {
    return InternalError("nghttp2_submit_settings failed");
  }
  return Status::Ok();
}

GrpcClientConnection::Stream* GrpcClientConnection::Find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void GrpcClientConnection::Fail(Status why) {
  if (failure_.ok()) failure_ = std::move(why);
}

Status GrpcClientConnection::Feed(const uint8_t* data, size_t size) {
  if (!failure_.ok() || session_ == nullptr) return failure_;
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, size);
  if (rv < 0) {
    Fail(callback_failed_ || rv == NGHTTP2_ERR_NOMEM
             ? InternalError("the gRPC client connection failed")
             : InternalError(std::string("HTTP/2 error from the server: ") +
                             nghttp2_strerror(static_cast<int>(rv))));
  } else if (PendingOutput(), nghttp2_session_want_read(session_) == 0) {
    // Taking the output sends what nghttp2 queued: a GOAWAY for an error of the peer ends it.
    Fail(InternalError("HTTP/2 protocol error from the server" +
                       (last_error_.empty() ? std::string() : ": " + last_error_)));
  }
  return failure_;
}

Result<int32_t> GrpcClientConnection::Submit(std::string_view path,
                                             std::shared_ptr<const std::string> frame,
                                             bool end_after) {
  if (!failure_.ok()) return failure_;
  if (session_ == nullptr) return FailedPreconditionError("Init() was not called");
  if (queued_bytes_ + frame->size() > limits_.max_output_bytes) {
    Fail(ResourceExhaustedError("the connection's queued output is over " +
                                std::to_string(limits_.max_output_bytes) + " bytes"));
    return failure_;
  }
  const nghttp2_nv headers[] = {
      MakeNv(":method", "POST"),
      MakeNv(":scheme", "http"),
      MakeNv(":path", path),
      MakeNv(":authority", authority_),
      MakeNv("content-type", "application/grpc"),
      MakeNv("te", "trailers"),
  };
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::Guarded<&Callbacks::ReadData>::Call;
  const int32_t id = nghttp2_submit_request(
      session_, nullptr, headers, sizeof(headers) / sizeof(headers[0]), &provider, nullptr);
  if (id < 0) {
    Fail(UnavailableError(std::string("cannot start a call: ") + nghttp2_strerror(id)));
    return failure_;
  }
  auto stream = std::make_unique<Stream>(id, !end_after);
  stream->end_after_out = end_after;
  queued_bytes_ += frame->size();
  stream->out.frames.push_back(std::move(frame));
  streams_[id] = std::move(stream);
  return id;
}

Result<int32_t> GrpcClientConnection::StartUnary(const GrpcMessage& request) {
  Result<int32_t> id =
      Submit(nacos_wire::kGrpcUnaryPath, nacos_wire::EncodeGrpcFrame(request), true);
  if (id.ok()) ++pending_calls_;
  return id;
}

void GrpcClientConnection::CancelUnary(int32_t call) {
  Stream* s = Find(call);
  if (s == nullptr || s->bidi || s->done) return;
  s->done = true;
  --pending_calls_;
  DropInput(s);
  if (!failure_.ok()) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, call, NGHTTP2_CANCEL);
}

Status GrpcClientConnection::SendOnStream(const GrpcMessage& message) {
  if (!failure_.ok()) return failure_;
  auto frame = nacos_wire::EncodeGrpcFrame(message);
  Stream* s = bidi_stream_ != 0 ? Find(bidi_stream_) : nullptr;
  if (bidi_stream_ == 0) {
    Result<int32_t> id = Submit(nacos_wire::kGrpcBiStreamPath, std::move(frame), false);
    if (!id.ok()) return id.status();
    bidi_stream_ = *id;
    return Status::Ok();
  }
  if (s == nullptr) return UnavailableError("the bi-stream is closed");
  if (queued_bytes_ + frame->size() > limits_.max_output_bytes) {
    Fail(ResourceExhaustedError("the connection's queued output is over " +
                                std::to_string(limits_.max_output_bytes) + " bytes"));
    return failure_;
  }
  queued_bytes_ += frame->size();
  s->out.frames.push_back(std::move(frame));
  nghttp2_session_resume_data(session_, s->id);  // an error only says it was not deferred
  return Status::Ok();
}

void GrpcClientConnection::OnData(Stream* s, const uint8_t* data, size_t size) {
  if (s->done || !failure_.ok()) return;
  size_t too_large = 0;
  switch (s->reader.Read(std::string_view(reinterpret_cast<const char*>(data), size),
                         limits_.max_message_bytes, limits_.max_buffered_input_bytes,
                         &buffered_input_, &too_large, [&](std::string_view message) {
                           OnMessage(s, message);
                           return !s->done && failure_.ok();
                         })) {
    case nacos_wire::GrpcMessageReader::Error::kNone:
      return;
    case nacos_wire::GrpcMessageReader::Error::kCompressed:
      FailStream(s, InternalError("the server sent a compressed message"));
      return;
    case nacos_wire::GrpcMessageReader::Error::kTooLarge:
      FailStream(s, ResourceExhaustedError("the server's message of " + std::to_string(too_large) +
                                           " bytes is over the limit of " +
                                           std::to_string(limits_.max_message_bytes)));
      return;
    case nacos_wire::GrpcMessageReader::Error::kOverBuffer:
      FailStream(s, ResourceExhaustedError("too much input buffered on the connection"));
      return;
  }
}

void GrpcClientConnection::DropInput(Stream* s) {
  s->reader.Clear(&buffered_input_);
  buffered_input_ -= s->answer_bytes;
  s->answer_bytes = 0;
}

void GrpcClientConnection::OnMessage(Stream* s, std::string_view bytes) {
  ++s->messages;
  if (s->bidi) {
    GrpcClientEvent event;
    event.kind = GrpcClientEvent::kStreamMessage;
    if (!nacos_wire::DecodeGrpcPayload(bytes, &event.message)) {
      DUBBO_LOG(WARNING) << "gRPC: dropped a stream message that is not a Payload (" << bytes.size()
                         << " bytes)";
      return;
    }
    events_.push_back(std::move(event));
    return;
  }
  if (s->messages > 1) {
    FailStream(s, InternalError("the server answered a unary call with two messages"));
    return;
  }
  // Held until the trailers: it counts against the input cap till then.
  if (buffered_input_ + bytes.size() > limits_.max_buffered_input_bytes) {
    FailStream(s, ResourceExhaustedError("too much input buffered on the connection"));
    return;
  }
  if (!nacos_wire::DecodeGrpcPayload(bytes, &s->answer)) {
    FailStream(s, InternalError("the server's answer is not a Payload"));
    return;
  }
  buffered_input_ += bytes.size();
  s->answer_bytes = bytes.size();
}

void GrpcClientConnection::FailStream(Stream* s, Status why) {
  if (s->bidi) {
    Fail(std::move(why));
    return;
  }
  if (s->done) return;
  CompleteUnary(s, std::move(why));
  if (failure_.ok()) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
}

void GrpcClientConnection::OnRemoteEnd(Stream* s, bool reset, uint32_t error_code) {
  if (s->bidi) {
    std::string why = "the server ended the bi-stream";
    if (s->grpc_status >= 0) {
      why += " (grpc-status " + std::to_string(s->grpc_status) +
             (s->grpc_message.empty() ? "" : ": " + s->grpc_message) + ")";
    } else if (reset && error_code != NGHTTP2_NO_ERROR) {
      why += std::string(" (") + nghttp2_http2_strerror(error_code) + ")";
    }
    Fail(UnavailableError(why));
    return;
  }
  if (s->done) return;
  if (s->reader.partial()) {
    CompleteUnary(s, InternalError("the answer ended inside a message"));
  } else if (s->http_status != 200 && s->http_status != 0) {
    CompleteUnary(
        s, InternalError("the server answered with HTTP status " + std::to_string(s->http_status)));
  } else if (s->grpc_status < 0) {
    CompleteUnary(s, reset ? UnavailableError(std::string("the server reset the call (") +
                                              nghttp2_http2_strerror(error_code) + ")")
                           : InternalError("the answer carries no grpc-status"));
  } else if (s->grpc_status == kGrpcUnavailable) {
    CompleteUnary(s, UnavailableError("grpc-status 14: " + s->grpc_message));
  } else if (s->grpc_status != 0) {
    CompleteUnary(s, InternalError("grpc-status " + std::to_string(s->grpc_status) +
                                   (s->grpc_message.empty() ? "" : ": " + s->grpc_message)));
  } else if (s->messages != 1) {
    CompleteUnary(s, InternalError("the server answered a unary call with no message"));
  } else {
    CompleteUnary(s, Status::Ok());
  }
}

void GrpcClientConnection::CompleteUnary(Stream* s, Status status) {
  s->done = true;
  --pending_calls_;
  GrpcClientEvent event;
  event.kind = GrpcClientEvent::kUnaryDone;
  event.call = s->id;
  if (status.ok()) event.message = std::move(s->answer);
  event.status = std::move(status);
  s->answer = GrpcMessage();
  DropInput(s);
  events_.push_back(std::move(event));
}

std::vector<GrpcClientEvent> GrpcClientConnection::TakeEvents() {
  std::vector<GrpcClientEvent> events;
  events.swap(events_);
  return events;
}

std::string_view GrpcClientConnection::PendingOutput() {
  bool ok = true;
  const std::string_view out = out_.Pending(session_, &queued_bytes_, &ok);
  if (!ok) Fail(InternalError("HTTP/2 send failed"));
  return out;
}

void GrpcClientConnection::Consume(size_t n) { queued_bytes_ -= out_.Consume(n); }

bool GrpcClientConnection::want_write() {
  return !out_.empty() || (session_ != nullptr && nghttp2_session_want_write(session_) != 0);
}

}  // namespace dubbo::registry::nacos
