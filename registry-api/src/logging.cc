#include "dubbo/registry/logging.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "internal/logging.h"

namespace dubbo::registry {
namespace {

std::atomic<int> g_min_severity{static_cast<int>(LogSeverity::kWarning)};

struct SinkHolder {
  std::mutex mu;
  // Copied out under the lock so that the sink itself runs unlocked.
  std::shared_ptr<const LogSink> sink;
};

SinkHolder& Holder() {
  static SinkHolder* holder = new SinkHolder();  // Never destroyed: logging may run during exit.
  return *holder;
}

const char* SeverityLetter(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kDebug: return "D";
    case LogSeverity::kInfo: return "I";
    case LogSeverity::kWarning: return "W";
    case LogSeverity::kError: return "E";
  }
  return "?";
}

void StderrSink(LogSeverity severity, const char* file, int line, std::string_view message) {
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  std::string out = std::string(SeverityLetter(severity)) + " [dubbo-registry] " + base + ":" +
                    std::to_string(line) + "] ";
  out.append(message.data(), message.size());
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stderr);  // One call: lines from threads do not interleave.
}

}  // namespace

void SetLogSink(LogSink sink) {
  auto holder = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  std::lock_guard<std::mutex> lock(Holder().mu);
  Holder().sink = std::move(holder);
}

void SetMinLogSeverity(LogSeverity severity) {
  g_min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

LogSeverity MinLogSeverity() {
  return static_cast<LogSeverity>(g_min_severity.load(std::memory_order_relaxed));
}

namespace internal {

bool LogEnabled(LogSeverity severity) {
  return static_cast<int>(severity) >= g_min_severity.load(std::memory_order_relaxed);
}

LogMessage::~LogMessage() {
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(Holder().mu);
    sink = Holder().sink;
  }
  const std::string message = stream_.str();
  if (sink) {
    try {
      (*sink)(severity_, file_, line_, message);
    } catch (...) {
      StderrSink(LogSeverity::kError, __FILE__, __LINE__, "log sink threw an exception");
    }
  } else {
    StderrSink(severity_, file_, line_, message);
  }
}

}  // namespace internal
}  // namespace dubbo::registry
