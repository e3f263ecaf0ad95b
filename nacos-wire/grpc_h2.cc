#include "grpc_h2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "internal/logging.h"

namespace dubbo::nacos_wire {
namespace {

// Pending() gathers frames from nghttp2 up to this many bytes per call.
constexpr size_t kOutputChunk = 64 << 10;
// An output with nothing to write keeps at most this much buffer allocated.
constexpr size_t kKeptOutputCapacity = 4 << 10;
// A reader keeps at most this much buffer allocated between messages.
constexpr size_t kKeptInputCapacity = 4 << 10;

}  // namespace

GrpcMessageReader::Error GrpcMessageReader::Read(
    std::string_view input, size_t max_message, size_t max_buffered, size_t* buffered,
    size_t* too_large, const std::function<bool(std::string_view)>& on_message) {
  while (!input.empty()) {
    if (in_.size() < kGrpcPrefixBytes) {
      const size_t take = std::min(kGrpcPrefixBytes - in_.size(), input.size());
      in_.append(input.data(), take);
      *buffered += take;
      input.remove_prefix(take);
      if (in_.size() < kGrpcPrefixBytes) break;
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data());
      const size_t length = size_t{p[1]} << 24 | size_t{p[2]} << 16 | size_t{p[3]} << 8 | p[4];
      if (p[0] != 0) return Error::kCompressed;
      if (length > max_message) {
        *too_large = length;
        return Error::kTooLarge;
      }
      need_ = length;
    }
    const size_t have = in_.size() - kGrpcPrefixBytes;
    if (have == 0 && input.size() >= need_) {  // whole in this chunk: no copy
      const std::string_view message = input.substr(0, need_);
      input.remove_prefix(need_);
      Clear(buffered);
      if (!on_message(message)) break;
      continue;
    }
    const size_t take = std::min(need_ - have, input.size());
    if (*buffered + take > max_buffered) return Error::kOverBuffer;
    in_.append(input.data(), take);
    *buffered += take;
    input.remove_prefix(take);
    if (in_.size() - kGrpcPrefixBytes == need_) {
      std::string whole;
      whole.swap(in_);
      *buffered -= whole.size();
      need_ = 0;
      if (!on_message(std::string_view(whole).substr(kGrpcPrefixBytes))) break;
    }
  }
  return Error::kNone;
}

void GrpcMessageReader::Clear(size_t* buffered) {
  *buffered -= in_.size();
  in_.clear();
  need_ = 0;
  if (in_.capacity() > kKeptInputCapacity) std::string().swap(in_);
}

size_t GrpcOutboundQueue::CopyTo(uint8_t* buf, size_t length, size_t* queued_bytes) {
  size_t copied = 0;
  while (copied < length && !frames.empty()) {
    const std::string& front = *frames.front();
    const size_t n = std::min(length - copied, front.size() - offset);
    std::memcpy(buf + copied, front.data() + offset, n);
    copied += n;
    offset += n;
    *queued_bytes -= n;
    if (offset == front.size()) {
      frames.pop_front();
      offset = 0;
    }
  }
  return copied;
}

void GrpcOutboundQueue::Clear(size_t* queued_bytes) {
  for (const auto& frame : frames) *queued_bytes -= frame->size();
  *queued_bytes += offset;  // the front's sent part was taken off when it was copied
  frames.clear();
  offset = 0;
}

std::string_view H2Output::Pending(nghttp2_session* session, size_t* queued_bytes, bool* ok) {
  *ok = true;
  if (offset_ == out_.size()) {
    out_.clear();
    offset_ = 0;
  }
  while (session != nullptr && out_.size() - offset_ < kOutputChunk) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) {
      *ok = false;
      break;
    }
    if (n == 0) break;
    if (offset_ > 0 && offset_ >= out_.size() / 2) {
      out_.erase(0, offset_);
      offset_ = 0;
    }
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    *queued_bytes += static_cast<size_t>(n);
  }
  if (offset_ == out_.size() && out_.capacity() > kKeptOutputCapacity) {
    std::string().swap(out_);  // an idle connection keeps no large buffer
    offset_ = 0;
  }
  return std::string_view(out_).substr(offset_);
}

size_t H2Output::Consume(size_t n) {
  n = std::min(n, out_.size() - offset_);
  offset_ += n;
  return n;
}

void LogH2CallbackFailure(const char* what) {
  if (what != nullptr) {
    DUBBO_LOG(WARNING) << "gRPC connection failed in an HTTP/2 callback: " << what;
  } else {
    DUBBO_LOG(WARNING) << "gRPC connection failed in an HTTP/2 callback";
  }
}

}  // namespace dubbo::nacos_wire
