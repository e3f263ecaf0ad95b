// Shared by the fuzz targets: FUZZ_CHECK aborts (a finding for libFuzzer) with the condition, its
// place and a printf-style message; SilenceLogs() drops this library's log lines, which a fuzzer
// would otherwise print for most inputs.
#ifndef DUBBO_FUZZ_FUZZ_CHECK_H_
#define DUBBO_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "dubbo/registry/logging.h"

#define FUZZ_CHECK(cond, ...)                                                             \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                                                  \
      std::fprintf(stderr, "\n");                                                         \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace dubbo::fuzz {

// Installs a sink that drops every line; cheap to call on every input.
inline void SilenceLogs() {
  static const bool silenced = [] {
    registry::SetLogSink([](registry::LogSeverity, const char*, int, std::string_view) {});
    return true;
  }();
  (void)silenced;
}

}  // namespace dubbo::fuzz

#endif  // DUBBO_FUZZ_FUZZ_CHECK_H_
