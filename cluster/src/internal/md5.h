// Internal: MD5 (RFC 1321), for the consistent-hash ring, which must place points exactly where
// Java Dubbo places them. Not for security.
//
// Thread-safety: a pure function.
#ifndef DUBBO_CLUSTER_INTERNAL_MD5_H_
#define DUBBO_CLUSTER_INTERNAL_MD5_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace dubbo::cluster::internal {

using Md5Digest = std::array<uint8_t, 16>;

Md5Digest Md5(std::string_view data);

}  // namespace dubbo::cluster::internal

#endif  // DUBBO_CLUSTER_INTERNAL_MD5_H_
