// Internal: PeerKey, the unit in which the server counts a client: an IPv4 address as itself, an
// IPv6 address by its /64 (one host usually holds a whole /64), an IPv4-mapped IPv6 address as
// its IPv4 address. The HTTP layer's per-peer connection cap and the login throttle both key on it.
//
// Thread-safety: plain values.
#ifndef DUBBO_NAMING_SERVER_SRC_PEER_KEY_H_
#define DUBBO_NAMING_SERVER_SRC_PEER_KEY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace dubbo::naming_server {

// 16 bytes: an IPv6 /64 prefix in `hi` with `lo` zero; an IPv4 address as its IPv4-mapped IPv6
// form (hi 0, lo 0xffff'aaaaaaaa). So the two never collide, and `lo` == 1 (Unparsed()) is
// neither.
struct PeerKey {
  uint64_t hi = 0;
  uint64_t lo = 0;

  bool operator==(const PeerKey& o) const { return hi == o.hi && lo == o.lo; }
  bool operator!=(const PeerKey& o) const { return !(*this == o); }

  // The key of a text that is not an IP literal (every such text shares it).
  static PeerKey Unparsed() { return PeerKey{0, 1}; }

  // The key of 16 IPv6 address bytes (network order).
  static PeerKey FromIPv6(const unsigned char* bytes) {
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    PeerKey key;
    if (std::memcmp(bytes, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
      uint32_t v4 = 0;
      std::memcpy(&v4, bytes + 12, 4);
      return FromIPv4(v4);
    }
    for (int i = 0; i < 8; ++i) key.hi = key.hi << 8 | bytes[i];
    return key;
  }
  // The key of an IPv4 address in network order.
  static PeerKey FromIPv4(uint32_t network_order) {
    return PeerKey{0, uint64_t{0xffff} << 32 | ntohl(network_order)};
  }
  // The key of an AF_INET or AF_INET6 address; Unparsed() for any other family.
  static PeerKey Of(const sockaddr_storage& addr) {
    if (addr.ss_family == AF_INET) {
      return FromIPv4(reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr.s_addr);
    }
    if (addr.ss_family == AF_INET6) {
      return FromIPv6(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr.s6_addr);
    }
    return Unparsed();
  }
  // The key of an IPv4 or IPv6 literal; Unparsed() for any other text.
  static PeerKey OfText(std::string_view ip) {
    char text[INET6_ADDRSTRLEN] = {0};
    if (ip.empty() || ip.size() >= sizeof(text)) return Unparsed();
    std::memcpy(text, ip.data(), ip.size());
    in_addr v4{};
    if (::inet_pton(AF_INET, text, &v4) == 1) return FromIPv4(v4.s_addr);
    unsigned char v6[16];
    if (::inet_pton(AF_INET6, text, v6) == 1) return FromIPv6(v6);
    return Unparsed();
  }
};

struct PeerKeyHash {
  size_t operator()(const PeerKey& k) const {
    return static_cast<size_t>((k.hi * 0x9E3779B97F4A7C15ull) ^ (k.lo * 0xC2B2AE3D27D4EB4Full));
  }
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_PEER_KEY_H_
