// File: dubbo/registry/logging.h
//
// Where this library's log lines go. By default warnings and errors are written to stderr, one line
// each. Programs that have their own logging install a sink. Secrets (passwords, tokens) are never
// part of a message.
//
// Thread-safety: SetLogSink() and SetMinLogSeverity() may be called at any time from any thread; the
// sink itself is called from whichever thread logs, possibly concurrently, so it must be thread-safe.
#ifndef DUBBO_REGISTRY_LOGGING_H_
#define DUBBO_REGISTRY_LOGGING_H_

#include <functional>
#include <string_view>

#include "dubbo/registry/export.h"

namespace dubbo::registry {

enum class LogSeverity : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// `file` and `line` name the logging site.
using LogSink =
    std::function<void(LogSeverity severity, const char* file, int line, std::string_view message)>;

// Installs `sink`; an empty function restores the stderr sink.
DUBBO_REGISTRY_EXPORT void SetLogSink(LogSink sink);
// Lines below `severity` are dropped before they are formatted. Default: kWarning.
DUBBO_REGISTRY_EXPORT void SetMinLogSeverity(LogSeverity severity);
DUBBO_REGISTRY_EXPORT LogSeverity MinLogSeverity();

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_LOGGING_H_
