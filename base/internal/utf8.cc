// UTF-8 well-formedness. See utf8.h.
#include "internal/utf8.h"

namespace dubbo::registry::internal {

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t length;
  unsigned char min = 0x80;
  unsigned char max = 0xBF;  // Allowed range of the second byte.
  if (c < 0xC2) {
    return 0;
  } else if (c < 0xE0) {
    length = 2;
  } else if (c < 0xF0) {
    length = 3;
    if (c == 0xE0) min = 0xA0;
    if (c == 0xED) max = 0x9F;
  } else if (c < 0xF5) {
    length = 4;
    if (c == 0xF0) min = 0x90;
    if (c == 0xF4) max = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  if (byte(i + 1) < min || byte(i + 1) > max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t length = Utf8SequenceLength(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

}  // namespace dubbo::registry::internal
