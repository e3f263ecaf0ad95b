// libFuzzer target for DecodeGrpcPayload() (nacos-wire/grpc_payload.h), with libprotobuf's
// generated parser for the same schema as the oracle. For every input:
//   * our decoder accepts it iff Payload::ParseFromArray() does, and then reads the same type,
//     clientIp, headers and body;
//   * on failure the output is left as it was;
//   * what was decoded encodes (EncodeGrpcFrame) and decodes back to the same fields.
// Seeds: fuzz/corpus/grpc_payload_decode/.
//
// Thread-safety: libFuzzer calls this from one thread.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "grpc_payload.h"
#include "nacos_grpc_service.pb.h"

namespace {

using dubbo::nacos_wire::DecodeGrpcPayload;
using dubbo::nacos_wire::EncodeGrpcFrame;
using dubbo::nacos_wire::GrpcMessage;

bool Same(const GrpcMessage& a, const GrpcMessage& b) {
  return a.type == b.type && a.client_ip == b.client_ip && a.headers == b.headers &&
         a.body == b.body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const google::protobuf::LogSilencer* const quiet = new google::protobuf::LogSilencer;
  (void)quiet;  // protobuf logs every string field that is not UTF-8
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  Payload payload;
  const bool protobuf_ok = payload.ParseFromArray(data, static_cast<int>(size));
  const GrpcMessage previous{"previous", "1.1.1.1", {{"k", "v"}}, "body"};
  GrpcMessage ours = previous;
  const bool ok = DecodeGrpcPayload(bytes, &ours);
  FUZZ_CHECK(ok == protobuf_ok, "ours %d, protobuf %d", ok, protobuf_ok);
  if (!ok) {
    FUZZ_CHECK(Same(ours, previous), "output changed by a failed decode");
    return 0;
  }
  GrpcMessage expected;
  expected.type = payload.metadata().type();
  expected.client_ip = payload.metadata().clientip();
  for (const auto& [key, value] : payload.metadata().headers()) expected.headers[key] = value;
  expected.body = payload.body().value();
  FUZZ_CHECK(Same(ours, expected), "fields differ from protobuf's");

  const auto frame = EncodeGrpcFrame(ours);
  GrpcMessage back;
  FUZZ_CHECK(DecodeGrpcPayload(std::string_view(*frame).substr(5), &back), "decode own frame");
  FUZZ_CHECK(Same(back, ours), "round trip");
  return 0;
}
