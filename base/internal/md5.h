// Internal: MD5 (RFC 1321), where a peer's algorithm must be matched byte for byte: the
// consistent-hash ring (points exactly where Java Dubbo places them) and the naming server's
// `checksum` field. Not for security.
//
// Thread-safety: a pure function.
#ifndef DUBBO_REGISTRY_INTERNAL_MD5_H_
#define DUBBO_REGISTRY_INTERNAL_MD5_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace dubbo::registry::internal {

using Md5Digest = std::array<uint8_t, 16>;

Md5Digest Md5(std::string_view data);

// The digest as 32 lower-case hex digits.
std::string Md5Hex(std::string_view data);

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_INTERNAL_MD5_H_
