// Internal: ASCII helpers for protocol text (HTTP header names and tokens, URL parameter names,
// Nacos booleans). Locale-independent, unlike <cctype>, and usable on any char value.
//
// Thread-safety: pure functions.
#ifndef DUBBO_REGISTRY_SRC_INTERNAL_ASCII_H_
#define DUBBO_REGISTRY_SRC_INTERNAL_ASCII_H_

#include <cstddef>
#include <string_view>

namespace dubbo::registry::internal {

constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// ASCII letters compared without case; every other byte exactly.
constexpr bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

constexpr bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// Without leading and trailing spaces and horizontal tabs (HTTP's optional whitespace).
constexpr std::string_view TrimSpaceTab(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_SRC_INTERNAL_ASCII_H_
