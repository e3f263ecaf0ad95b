// Internal: UTF-8 well-formedness (RFC 3629), for text that arrives from the wire: the naming
// client checks what servers send, the naming server checks what clients store.
//
// Thread-safety: pure functions.
#ifndef DUBBO_REGISTRY_INTERNAL_UTF8_H_
#define DUBBO_REGISTRY_INTERNAL_UTF8_H_

#include <cstddef>
#include <string_view>

namespace dubbo::registry::internal {

// The length of the well-formed UTF-8 sequence starting at s[i] (1 to 4), or 0 when there is none:
// no overlong forms, no surrogates, nothing above U+10FFFF. REQUIRES: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);
bool IsValidUtf8(std::string_view s);

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_INTERNAL_UTF8_H_
