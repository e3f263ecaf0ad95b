// nacos-wire/grpc_payload.h: Nacos's gRPC `Payload` as both sides of the wire see it, and its
// gRPC message framing. Shared by naming-server and the naming client.
//
// Nacos's gRPC API is two methods on one HTTP/2 connection: the unary `/Request/request` (one
// Payload in, one Payload out) and the bidirectional `/BiRequestStream/requestBiStream`. A Payload
// is Metadata{type, clientIp, headers} plus a google.protobuf.Any whose bytes are the message's
// UTF-8 JSON; `type` is the simple Java class name of the message ("InstanceRequest"), and
// Any.type_url is ignored by every receiver (the Java sides leave it empty).
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef DUBBO_NACOS_WIRE_GRPC_PAYLOAD_H_
#define DUBBO_NACOS_WIRE_GRPC_PAYLOAD_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace dubbo::nacos_wire {

// gRPC paths of Nacos's two methods (the proto has no package).
inline constexpr std::string_view kGrpcUnaryPath = "/Request/request";
inline constexpr std::string_view kGrpcBiStreamPath = "/BiRequestStream/requestBiStream";

// One decoded Payload.
struct GrpcMessage {
  std::string type;       // Metadata.type
  std::string client_ip;  // Metadata.clientIp
  // Metadata.headers. Keys as sent; Nacos reads them case-insensitively.
  std::map<std::string, std::string> headers;
  std::string body;  // Any.value: the message's JSON
};

// The gRPC message of `message`: the 5-byte prefix (uncompressed, big-endian length) and the
// serialized Payload. Any.type_url is left empty, as the Java sides do.
std::shared_ptr<const std::string> EncodeGrpcFrame(const GrpcMessage& message);

// Decodes one serialized Payload (without the 5-byte prefix) as libprotobuf reads it: false, with
// `out` left as it was, when it is not one (malformed, or a string field that is not UTF-8).
// Linear time; nothing is allocated but `out`'s strings.
bool DecodeGrpcPayload(std::string_view bytes, GrpcMessage* out);

}  // namespace dubbo::nacos_wire

#endif  // DUBBO_NACOS_WIRE_GRPC_PAYLOAD_H_
