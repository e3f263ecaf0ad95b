#include "grpc_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include "internal/logging.h"

namespace dubbo::naming_server {
namespace {

// The longest :path or content-type kept; longer ones are unknown / not gRPC.
constexpr size_t kMaxKeptHeader = 128;

// gRPC status codes used here.
constexpr int kOk = 0;
constexpr int kResourceExhausted = 8;
constexpr int kUnimplemented = 12;
constexpr int kInternal = 13;

nghttp2_nv MakeNv(std::string_view name, std::string_view value, uint8_t flags) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), flags};
}

constexpr uint8_t kStatic = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;

// grpc-message is percent-encoded: bytes outside printable ASCII, and '%'.
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e || c == '%') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool IsGrpcContentType(std::string_view v) {
  constexpr std::string_view kGrpc = "application/grpc";
  if (v.size() < kGrpc.size() || strncasecmp(v.data(), kGrpc.data(), kGrpc.size()) != 0) {
    return false;
  }
  return v.size() == kGrpc.size() || v[kGrpc.size()] == '+' || v[kGrpc.size()] == ';';
}

}  // namespace

struct GrpcConnection::Stream {
  enum Kind : uint8_t { kUnary, kBidi, kOther };

  explicit Stream(int32_t i) : id(i) {}

  const int32_t id;
  Kind kind = kOther;
  std::string method;
  std::string path;
  std::string content_type;
  size_t header_bytes = 0;
  bool has_path = false;
  bool path_too_long = false;
  bool has_content_type = false;
  nacos_wire::GrpcMessageReader reader;  // inbound messages
  size_t messages = 0;
  GrpcMessage request;       // unary: the one message
  size_t request_bytes = 0;  // its wire size, counted in buffered_input_ until the call ends
  bool remote_closed = false;
  // Outbound.
  nacos_wire::GrpcOutboundQueue out;
  bool headers_sent = false;
  bool finished = false;  // the final status is decided; trailers follow the queued messages
  bool trailers_sent = false;
  std::string grpc_status;
  std::string grpc_message;  // percent-encoded
};

// The nghttp2 callbacks. user_data is the GrpcConnection.
struct GrpcConnection::Callbacks {
  static GrpcConnection* Self(void* user_data) { return static_cast<GrpcConnection*>(user_data); }

  // A callback threw (bad_alloc, the handler's): counted, and the connection fails.
  static void Failed(void* user_data) {
    GrpcConnection* self = Self(user_data);
    self->callback_failed_ = true;
    self->CountCallError();
  }
  template <auto F>
  using Guarded = nacos_wire::GuardedH2Callback<F, &Failed>;

  static int OnBeginHeaders(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                            void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    GrpcConnection* self = Self(user_data);
    self->streams_[frame->hd.stream_id] = std::make_unique<Stream>(frame->hd.stream_id);
    return 0;
  }

  static int OnHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                      void* user_data) {
    GrpcConnection* self = Self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* s = self->Find(frame->hd.stream_id);
    if (s == nullptr) return 0;
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > self->limits_.max_header_list_bytes) {
      self->CountCallError();
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
    }
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // client trailers: ignored
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":path") {
      s->has_path = true;
      s->path_too_long = v.size() > kMaxKeptHeader;
      if (!s->path_too_long) s->path.assign(v);
    } else if (n == ":method") {
      if (v.size() <= kMaxKeptHeader) s->method.assign(v);
    } else if (n == "content-type" && !s->has_content_type) {
      s->has_content_type = true;
      if (v.size() <= kMaxKeptHeader) s->content_type.assign(v);
    }
    return 0;
  }

  static int OnFrameRecv(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                         void* user_data) {
    GrpcConnection* self = Self(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !self->connected_) {
          self->connected_ = true;
          self->handler_->OnConnect(self->id_, self->peer_ip_, self->peer_port_);
        }
        return 0;
      case NGHTTP2_HEADERS: {
        Stream* s = self->Find(frame->hd.stream_id);
        if (s == nullptr) return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) self->OnRequestHeaders(s);
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) self->OnEndOfInput(s);
        return 0;
      }
      case NGHTTP2_DATA: {
        Stream* s = self->Find(frame->hd.stream_id);
        if (s != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          self->OnEndOfInput(s);
        }
        return 0;
      }
      default:
        return 0;
    }
  }

  static int OnDataChunk(nghttp2_session* /*session*/, uint8_t /*flags*/, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user_data) {
    GrpcConnection* self = Self(user_data);
    Stream* s = self->Find(stream_id);
    if (s != nullptr) self->OnData(s, data, len);
    return 0;
  }

  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    GrpcConnection* self = Self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      self->protocol_error_ = true;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      // Our answer is complete. A client still sending is told to stop (RST_STREAM NO_ERROR).
      Stream* s = self->Find(frame->hd.stream_id);
      if (s != nullptr && !s->remote_closed) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
      }
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session* /*session*/, int32_t stream_id, uint32_t /*error_code*/,
                           void* user_data) {
    GrpcConnection* self = Self(user_data);
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return 0;
    Stream* s = it->second.get();
    self->DropInput(s);
    s->out.Clear(&self->queued_bytes_);
    self->streams_.erase(it);
    if (self->bidi_stream_ == stream_id) self->PickBidiStream();
    return 0;
  }

  static ssize_t ReadData(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* /*source*/, void* user_data) {
    GrpcConnection* self = Self(user_data);
    Stream* s = self->Find(stream_id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const size_t copied = s->out.CopyTo(buf, length, &self->queued_bytes_);
    if (s->out.frames.empty() && s->finished) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_nv trailers[2] = {
          MakeNv("grpc-status", s->grpc_status, NGHTTP2_NV_FLAG_NO_COPY_NAME),
          MakeNv("grpc-message", s->grpc_message, NGHTTP2_NV_FLAG_NO_COPY_NAME),
      };
      if (nghttp2_submit_trailer(session, stream_id, trailers, s->grpc_message.empty() ? 1 : 2) !=
          0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      s->trailers_sent = true;
      return static_cast<ssize_t>(copied);
    }
    if (copied == 0) return NGHTTP2_ERR_DEFERRED;
    return static_cast<ssize_t>(copied);
  }
};

GrpcConnection::GrpcConnection(GrpcConnId id, std::string peer_ip, uint16_t peer_port,
                               const GrpcLimits& limits, GrpcHandler* handler,
                               ServerMetrics* metrics)
    : id_(id),
      peer_ip_(std::move(peer_ip)),
      peer_port_(peer_port),
      limits_(limits),
      handler_(handler),
      metrics_(metrics) {}

GrpcConnection::~GrpcConnection() {
  // nghttp2_session_del runs no callback that reaches streams_; free the session first anyway.
  if (session_ != nullptr) nghttp2_session_del(session_);
}

registry::Status GrpcConnection::Init() {
  if (limits_.max_message_bytes == 0 || limits_.max_message_bytes > (size_t{1} << 31) ||
      limits_.max_buffered_input_bytes < limits_.max_message_bytes + nacos_wire::kGrpcPrefixBytes ||
      limits_.max_concurrent_streams == 0 || limits_.max_header_list_bytes < 1024 ||
      limits_.max_output_bytes == 0) {
    return registry::InvalidArgumentError(
        "gRPC limits: message cap 1 B..2 GiB, input buffer >= message cap + 5, streams > 0, "
        "header list >= 1 KiB, output cap > 0");
  }
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) {
    return registry::InternalError("nghttp2_session_callbacks_new failed");
  }
  using C = Callbacks;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          &C::Guarded<&C::OnBeginHeaders>::Call);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &C::Guarded<&C::OnHeader>::Call);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                       &C::Guarded<&C::OnFrameRecv>::Call);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            &C::Guarded<&C::OnDataChunk>::Call);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks,
                                                       &C::Guarded<&C::OnFrameSend>::Call);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         &C::Guarded<&C::OnStreamClose>::Call);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return registry::InternalError("nghttp2_option_new failed");
  }
  // Closed streams are not kept for priority bookkeeping: their memory goes at once.
  nghttp2_option_set_no_closed_streams(option, 1);
  // RST_STREAM flood ("rapid reset"): a burst of 1000 resets, then 33 a second; past that the
  // connection ends with GOAWAY. nghttp2's defaults, stated here.
  nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33);
  const int rv = nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    session_ = nullptr;
    return registry::InternalError("nghttp2_session_server_new2 failed");
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof(settings) / sizeof(settings[0])) != 0) {
    return registry::InternalError("nghttp2_submit_settings failed");
  }
  return registry::Status::Ok();
}

GrpcConnection::Stream* GrpcConnection::Find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool GrpcConnection::Feed(const uint8_t* data, size_t size) {
  if (failed_) return false;
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, size);
  if (rv < 0) {
    // NGHTTP2_ERR_BAD_CLIENT_MAGIC, NGHTTP2_ERR_FLOODED, NGHTTP2_ERR_NOMEM and the like.
    failed_ = true;
    protocol_error_ = protocol_error_ || (rv != NGHTTP2_ERR_NOMEM && !callback_failed_);
    return false;
  }
  return true;
}

void GrpcConnection::OnRequestHeaders(Stream* s) {
  if (s->finished) return;
  if (s->method != "POST") {
    RespondHttpError(s, 405);
    return;
  }
  if (!s->has_content_type || !IsGrpcContentType(s->content_type)) {
    RespondHttpError(s, 415);
    return;
  }
  if (!s->path_too_long && s->path == nacos_wire::kGrpcUnaryPath) {
    s->kind = Stream::kUnary;
  } else if (!s->path_too_long && s->path == nacos_wire::kGrpcBiStreamPath) {
    s->kind = Stream::kBidi;
    StartResponse(s);
    if (!goaway_) bidi_stream_ = s->id;
  } else {
    Finish(s, kUnimplemented,
           s->path_too_long ? std::string("unknown method") : "unknown method " + s->path);
  }
}

void GrpcConnection::OnData(Stream* s, const uint8_t* data, size_t size) {
  if (s->finished) return;
  size_t too_large = 0;
  switch (s->reader.Read(std::string_view(reinterpret_cast<const char*>(data), size),
                         limits_.max_message_bytes, limits_.max_buffered_input_bytes,
                         &buffered_input_, &too_large, [&](std::string_view message) {
                           OnMessage(s, message);
                           return !s->finished;
                         })) {
    case nacos_wire::GrpcMessageReader::Error::kNone:
      return;
    case nacos_wire::GrpcMessageReader::Error::kCompressed:
      Finish(s, kInternal, "compressed messages are not accepted");
      return;
    case nacos_wire::GrpcMessageReader::Error::kTooLarge:
      Finish(s, kResourceExhausted,
             "message of " + std::to_string(too_large) + " bytes is over the limit of " +
                 std::to_string(limits_.max_message_bytes));
      return;
    case nacos_wire::GrpcMessageReader::Error::kOverBuffer:
      Finish(s, kResourceExhausted, "too much input buffered on this connection");
      return;
  }
}

void GrpcConnection::DropInput(Stream* s) {
  s->reader.Clear(&buffered_input_);
  buffered_input_ -= s->request_bytes;
  s->request_bytes = 0;
  s->request = GrpcMessage();
}

void GrpcConnection::OnMessage(Stream* s, std::string_view bytes) {
  ++s->messages;
  if (s->kind == Stream::kUnary && s->messages > 1) {
    Finish(s, kInternal, "a unary call carries one message");
    return;
  }
  if (s->kind == Stream::kUnary) {
    // Held until the end of the client's input: it counts against the input cap till then.
    if (buffered_input_ + bytes.size() > limits_.max_buffered_input_bytes) {
      Finish(s, kResourceExhausted, "too much input buffered on this connection");
      return;
    }
    buffered_input_ += bytes.size();
    s->request_bytes = bytes.size();
  }
  GrpcMessage decoded;
  GrpcMessage& message = s->kind == Stream::kUnary ? s->request : decoded;
  if (!DecodeGrpcPayload(bytes, &message)) {
    Finish(s, kInternal, "the message is not a Payload");
    return;
  }
  if (s->kind != Stream::kBidi) return;  // a unary call is answered at the end of its input
  try {
    handler_->OnStreamMessage(id_, message);
  } catch (const std::exception& e) {
    DUBBO_LOG(WARNING) << "gRPC stream message handler failed: " << e.what();
  }
}

void GrpcConnection::OnEndOfInput(Stream* s) {
  s->remote_closed = true;
  if (s->finished) return;
  if (s->reader.partial()) {
    Finish(s, kInternal, "the stream ended inside a message");
    return;
  }
  if (s->kind == Stream::kBidi) {  // the client is done sending: so are we
    Finish(s, kOk, "");
    return;
  }
  if (s->messages != 1) {
    Finish(s, kInternal, "a unary call carries one message");
    return;
  }
  if (over_output_cap()) return;  // the connection ends: no answer is rendered for it
  GrpcMessage answer;
  try {
    answer = handler_->OnUnary(id_, s->request);
  } catch (const std::exception& e) {
    DUBBO_LOG(WARNING) << "gRPC unary handler failed: " << e.what();
    Finish(s, kInternal, "the handler failed");
    return;
  }
  DropInput(s);
  StartResponse(s);
  if (!Enqueue(s, EncodeGrpcFrame(answer))) {
    Finish(s, kResourceExhausted, "the answer is over the connection's output cap");
    return;
  }
  Finish(s, kOk, "");
}

void GrpcConnection::StartResponse(Stream* s) {
  if (s->headers_sent) return;
  const nghttp2_nv headers[] = {
      MakeNv(":status", "200", kStatic),
      MakeNv("content-type", "application/grpc", kStatic),
  };
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::Guarded<&Callbacks::ReadData>::Call;
  if (nghttp2_submit_response(session_, s->id, headers, 2, &provider) == 0) {
    s->headers_sent = true;
  }
}

bool GrpcConnection::Enqueue(Stream* s, std::shared_ptr<const std::string> frame) {
  if (output_overflow_ || queued_bytes_ + frame->size() > limits_.max_output_bytes) {
    output_overflow_ = true;  // not queued: the connection is to end
    return false;
  }
  queued_bytes_ += frame->size();
  s->out.frames.push_back(std::move(frame));
  nghttp2_session_resume_data(session_, s->id);  // an error only says it was not deferred
  return true;
}

void GrpcConnection::SendOnStream(std::shared_ptr<const std::string> frame) {
  Stream* s = bidi_stream_ != 0 ? Find(bidi_stream_) : nullptr;
  if (s == nullptr || s->finished || !s->headers_sent || frame == nullptr) return;
  Enqueue(s, std::move(frame));
}

void GrpcConnection::Finish(Stream* s, int status, std::string_view message) {
  if (s->finished) return;
  s->finished = true;
  DropInput(s);
  if (status != kOk) CountCallError();
  if (bidi_stream_ == s->id) PickBidiStream();
  s->grpc_status = std::to_string(status);
  s->grpc_message = PercentEncode(message);
  if (s->headers_sent) {
    nghttp2_session_resume_data(session_, s->id);  // ReadData() sends the trailers when drained
    return;
  }
  // Trailers-only: one HEADERS frame that ends the stream.
  const nghttp2_nv headers[] = {
      MakeNv(":status", "200", kStatic),
      MakeNv("content-type", "application/grpc", kStatic),
      MakeNv("grpc-status", s->grpc_status, NGHTTP2_NV_FLAG_NO_COPY_NAME),
      MakeNv("grpc-message", s->grpc_message, NGHTTP2_NV_FLAG_NO_COPY_NAME),
  };
  nghttp2_submit_response(session_, s->id, headers, s->grpc_message.empty() ? 3 : 4, nullptr);
  s->headers_sent = true;
  s->trailers_sent = true;
}

void GrpcConnection::PickBidiStream() {
  bidi_stream_ = 0;
  for (const auto& [id, s] : streams_) {
    if (s->kind == Stream::kBidi && !s->finished && id > bidi_stream_) bidi_stream_ = id;
  }
}

void GrpcConnection::RespondHttpError(Stream* s, int http_status) {
  s->finished = true;
  CountCallError();
  const std::string status = std::to_string(http_status);
  const nghttp2_nv headers[] = {MakeNv(":status", status, NGHTTP2_NV_FLAG_NO_COPY_NAME)};
  nghttp2_submit_response(session_, s->id, headers, 1, nullptr);
  s->headers_sent = true;
  s->trailers_sent = true;
}

void GrpcConnection::CountCallError() {
  if (metrics_ != nullptr) metrics_->grpc_call_errors.fetch_add(1, std::memory_order_relaxed);
}

void GrpcConnection::GoAway() {
  if (goaway_ || failed_) return;
  goaway_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

std::string_view GrpcConnection::PendingOutput() {
  bool ok = true;
  const std::string_view out = out_.Pending(failed_ ? nullptr : session_, &queued_bytes_, &ok);
  failed_ = failed_ || !ok;
  return out;
}

void GrpcConnection::Consume(size_t n) { queued_bytes_ -= out_.Consume(n); }

bool GrpcConnection::output_idle() {
  if (!out_.empty()) return false;
  if (failed_) return true;
  for (const auto& [id, s] : streams_) {
    if (!s->out.frames.empty() || (s->finished && !s->trailers_sent)) return false;
  }
  return nghttp2_session_want_write(session_) == 0;
}

bool GrpcConnection::done() {
  if (!out_.empty()) return false;
  return failed_ ||
         (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0);
}

}  // namespace dubbo::naming_server
