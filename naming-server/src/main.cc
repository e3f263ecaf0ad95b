// naming-server: a Nacos-compatible naming server for development, tests and CI.
//
//   naming-server [--bind 127.0.0.1] [--port 8848] [--auth] [--log-level warning] ...
//
// Once it is ready, prints "naming-server listening on http://HOST:PORT" on stdout, then (unless
// --no-grpc) "naming-server grpc on HOST:GRPC_PORT".
// SIGTERM and SIGINT stop it (within a second) with exit code 0. It raises its soft open-file limit
// to the hard one and writes the connection cap this allows to stderr.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/logging.h"

namespace {

using dubbo::naming_server::NamingServer;
using dubbo::naming_server::NamingServerOptions;
using dubbo::registry::LogSeverity;

constexpr char kUsage[] = R"(usage: naming-server [options]

A Nacos-compatible naming server: the v1 naming Open API (heartbeat health, UDP push) and Nacos
2.x's gRPC API (instances bound to their connection, pushes on the stream), on one store.

  --bind ADDR                 address to listen on (default 127.0.0.1)
  --port N                    HTTP port; 0 picks a free one (default 8848)
  --context-path PATH         API prefix (default /nacos)
  --grpc-port-offset N        gRPC port = HTTP port + N, Nacos's rule (default 1000); with
                              --port 0 a free pair is picked
  --no-grpc                   serve v1 HTTP only
  --grpc-max-message-bytes N  largest gRPC message a client may send, at most 1073741824
                              (default 10485760)
  --heartbeat-timeout-ms N    unhealthy after N ms without a beat (default 15000)
  --ip-delete-timeout-ms N    deleted after N ms without a beat (default 30000)
  --client-beat-interval-ms N beat interval told to clients (default 5000)
  --health-check-period-ms N  how often instances are checked (default 5000)
  --push-delay-ms N           merge window for bursts of changes (default 50)
  --push-ack-timeout-ms N     resend a push once after N ms without ack (default 10000)
  --subscriber-ttl-ms N       a subscriber that stops querying lapses after N ms (default 30000)
  --trust-client-ip           push to the clientIP a request names (default: to the request's source)
  --auth                      require a login token on every call
  --username NAME             login user (default nacos; env NACOS_AUTH_USERNAME)
  --password-file PATH        login password: the file's first line (warns if group or others
                              can read the file)
  --password PASS             login password; every local user can read it in ps, so prefer
                              --password-file or NAMING_SERVER_PASSWORD
  --allow-default-password    with --auth, accept the password nacos or an empty one (refused
                              by default: anyone can guess it)
  --token-ttl-seconds N       token lifetime (default 18000)
  --request-head-timeout-ms N a request head must arrive whole within N ms (default 10000)
  --min-body-rate N           a body must arrive, and an answer be read, at N bytes/s at least
                              after a grace of the head timeout (default 1024)
  --idle-timeout-ms N         close a connection idle between requests for N ms (default 60000)
  --max-connections N         connections held at once, at most the open-file limit minus 64
                              (default 10000)
  --max-connections-per-peer N connections from one address, IPv6 per /64 (default 1000)
  --max-output-bytes N        answer bytes queued for slow readers before connections with
                              output queued stop answering pipelined requests (default 67108864)
  --login-free-failures N     failed logins one address may make before it is locked out
                              (default 5)
  --login-backoff-ms N        the first lock-out, doubled by every further failure (default 1000)
  --login-max-backoff-ms N    the longest lock-out (default 300000)
  --max-service-name-length N    longest serviceName/groupName parameter, bytes (default 512)
  --max-metadata-bytes N         metadata keys + values per instance or service, at most 65536
                                 (default 16384)
  --max-instances-per-service N  instances in one service (default 20000)
  --max-services-per-namespace N services in one namespace (default 20000)
  --max-total-instances N        instances in the whole server (default 1000000)
  --max-total-services N         services in the whole server (default 100000)
  --max-answer-bytes N           largest list answer a write may make for its service, else the
                                 write gets 400; larger answers get 413 (default 16777216)
  --data-dir DIR              keep persistent instances and the services made through the
                              service API in DIR/naming-data.json across restarts: loaded at
                              start (a corrupt file stops the start), saved before each such
                              write is answered (default: none, nothing is kept)
  --log-level LEVEL           debug, info, warning or error (default warning)
  --help                      show this help

The login password is the first of: --password-file, env NAMING_SERVER_PASSWORD, env
NACOS_AUTH_PASSWORD, --password, the default nacos (refused with --auth unless
--allow-default-password). A source address whose logins (or username and password parameters)
keep failing is locked out, 429, for a time that doubles with each further failure.
)";

bool ParseInt(const char* text, int64_t min, int64_t max, int64_t* out) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < min || value > max) return false;
  *out = value;
  return true;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "naming-server: %s\n(see --help)\n", message.c_str());
  return 2;
}

// The first line of the file at `path`, without its line end, into `*out`. Warns on stderr when
// group or others may read the file. An error message, or empty on success.
std::string ReadPasswordFile(const char* path, std::string* out) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open --password-file: ") + std::strerror(errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return "--password-file is not a regular file";
  }
  if ((info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    std::fprintf(stderr,
                 "naming-server: warning: --password-file %s is readable by group or others "
                 "(chmod 600 it)\n",
                 path);
  }
  // A password is short; a longer first line is not one.
  constexpr size_t kMaxLine = 4096;
  std::string text;
  char buf[1024];
  ssize_t n = 0;
  while (text.find('\n') == std::string::npos && text.size() <= kMaxLine &&
         (n = ::read(fd, buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<size_t>(n));
  }
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) return std::string("cannot read --password-file: ") + std::strerror(read_errno);
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.size() > kMaxLine) return "--password-file: the first line is longer than 4096 bytes";
  if (text.empty()) return "--password-file: the first line is empty";
  *out = std::move(text);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  NamingServerOptions options;
  if (const char* user = std::getenv("NACOS_AUTH_USERNAME")) options.username = user;
  const char* password_file = nullptr;
  const char* password_flag = nullptr;
  LogSeverity log_level = LogSeverity::kWarning;

  const std::map<std::string_view, int64_t*> int_flags = {
      {"--heartbeat-timeout-ms", &options.heartbeat_timeout_ms},
      {"--ip-delete-timeout-ms", &options.ip_delete_timeout_ms},
      {"--client-beat-interval-ms", &options.client_beat_interval_ms},
      {"--health-check-period-ms", &options.health_check_period_ms},
      {"--push-delay-ms", &options.push_delay_ms},
      {"--push-ack-timeout-ms", &options.push_ack_timeout_ms},
      {"--subscriber-ttl-ms", &options.subscriber_ttl_ms},
      {"--token-ttl-seconds", &options.token_ttl_seconds},
      {"--request-head-timeout-ms", &options.request_head_timeout_ms},
      {"--min-body-rate", &options.min_body_bytes_per_second},
      {"--idle-timeout-ms", &options.idle_timeout_ms},
      {"--max-connections", &options.max_connections},
      {"--max-connections-per-peer", &options.max_connections_per_peer},
      {"--login-backoff-ms", &options.login_backoff_ms},
      {"--login-max-backoff-ms", &options.login_max_backoff_ms},
  };
  // Each cap flag's field and largest value; the smallest is 1. The bounds are Start()'s.
  constexpr int64_t kMaxCap = int64_t{1} << 40;
  const std::map<std::string_view, std::pair<size_t*, int64_t>> cap_flags = {
      {"--max-service-name-length", {&options.max_service_name_length, kMaxCap}},
      {"--max-metadata-bytes",
       {&options.max_metadata_bytes,
        static_cast<int64_t>(dubbo::naming_server::kMaxMetadataBytesLimit)}},
      {"--max-instances-per-service", {&options.max_instances_per_service, kMaxCap}},
      {"--max-services-per-namespace", {&options.max_services_per_namespace, kMaxCap}},
      {"--max-total-instances", {&options.max_total_instances, kMaxCap}},
      {"--max-total-services", {&options.max_total_services, kMaxCap}},
      {"--max-answer-bytes", {&options.max_answer_bytes, kMaxCap}},
      {"--max-output-bytes", {&options.max_output_bytes, kMaxCap}},
      {"--grpc-max-message-bytes",
       {&options.grpc_max_message_bytes,
        static_cast<int64_t>(dubbo::naming_server::kMaxGrpcMessageBytesLimit)}},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (flag == "--auth") {
      options.auth_enabled = true;
    } else if (flag == "--no-grpc") {
      options.grpc_enabled = false;
    } else if (flag == "--grpc-port-offset") {
      int64_t offset = 0;
      if (!ParseInt(value, 1, 64535, &offset)) {
        return Fail("--grpc-port-offset needs a number from 1 to 64535");
      }
      options.grpc_port_offset = static_cast<uint16_t>(offset);
      ++i;
    } else if (flag == "--trust-client-ip") {
      options.trust_client_ip = true;
    } else if (flag == "--allow-default-password") {
      options.allow_default_password = true;
    } else if (flag == "--bind" || flag == "--context-path" || flag == "--username" ||
               flag == "--password" || flag == "--password-file" || flag == "--log-level" ||
               flag == "--data-dir") {
      if (value == nullptr) return Fail(std::string(flag) + " needs a value");
      ++i;
      if (flag == "--bind") options.bind_address = value;
      if (flag == "--context-path") options.context_path = value;
      if (flag == "--username") options.username = value;
      if (flag == "--password") password_flag = value;
      if (flag == "--password-file") password_file = value;
      if (flag == "--data-dir") options.data_dir = value;
      if (flag == "--log-level") {
        const std::string_view level = value;
        if (level == "debug") log_level = LogSeverity::kDebug;
        else if (level == "info") log_level = LogSeverity::kInfo;
        else if (level == "warning") log_level = LogSeverity::kWarning;
        else if (level == "error") log_level = LogSeverity::kError;
        else return Fail("unknown log level: " + std::string(level));
      }
    } else if (flag == "--port") {
      int64_t port = 0;
      if (!ParseInt(value, 0, 65535, &port)) return Fail("--port needs a number from 0 to 65535");
      options.port = static_cast<uint16_t>(port);
      ++i;
    } else if (flag == "--login-free-failures") {
      int64_t failures = 0;
      if (!ParseInt(value, 1, 1000000, &failures)) {
        return Fail("--login-free-failures needs a number from 1 to 1000000");
      }
      options.login_free_failures = static_cast<int>(failures);
      ++i;
    } else if (auto it = int_flags.find(flag); it != int_flags.end()) {
      if (!ParseInt(value, it->first == "--push-delay-ms" ? 0 : 1, int64_t{1} << 40, it->second)) {
        return Fail(std::string(flag) + " needs a positive number");
      }
      ++i;
    } else if (auto cap = cap_flags.find(flag); cap != cap_flags.end()) {
      const auto [field, max] = cap->second;
      int64_t number = 0;
      if (!ParseInt(value, 1, max, &number)) {
        return Fail(std::string(flag) + " needs a number from 1 to " + std::to_string(max));
      }
      *field = static_cast<size_t>(number);
      ++i;
    } else {
      return Fail("unknown option: " + std::string(flag));
    }
  }
  dubbo::registry::SetMinLogSeverity(log_level);

  const char* env_password = std::getenv("NAMING_SERVER_PASSWORD");
  if (env_password == nullptr) env_password = std::getenv("NACOS_AUTH_PASSWORD");
  if (password_flag != nullptr) {
    std::fputs(
        "naming-server: warning: --password is visible to every local user (ps, /proc); use "
        "--password-file or NAMING_SERVER_PASSWORD\n",
        stderr);
    if (password_file != nullptr || env_password != nullptr) {
      std::fputs(
          "naming-server: warning: --password is ignored: --password-file or the "
          "environment sets the password\n",
          stderr);
    }
  }
  if (password_file != nullptr) {
    if (std::string error = ReadPasswordFile(password_file, &options.password); !error.empty()) {
      return Fail(error);
    }
  } else if (env_password != nullptr) {
    options.password = env_password;
  } else if (password_flag != nullptr) {
    options.password = password_flag;
  }

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every connection holds a descriptor: raise the soft open-file limit (often 1024) to the hard
  // one. Only the executable does this; a process embedding the server owns its limits.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    rlimit raised = files;
    raised.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      files = raised;
    } else {
      std::fprintf(stderr, "naming-server: cannot raise the open-file limit: %s\n",
                   std::strerror(errno));
    }
  }

  auto server = NamingServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "naming-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const std::string& host = options.bind_address;
  const bool v6 = host.find(':') != std::string::npos;
  const std::string shown_host = v6 ? "[" + host + "]" : host;
  std::printf("naming-server listening on http://%s:%u\n", shown_host.c_str(),
              static_cast<unsigned>((*server)->port()));
  if ((*server)->grpc_port() != 0) {
    std::printf("naming-server grpc on %s:%u\n", shown_host.c_str(),
                static_cast<unsigned>((*server)->grpc_port()));
  }
  std::fflush(stdout);
  std::fprintf(
      stderr, "naming-server: up to %zu connections (open-file limit %s)\n",
      (*server)->connection_cap(),
      files.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(files.rlim_cur).c_str());

  int received = 0;
  sigwait(&signals, &received);
  (*server)->Stop();
  return 0;
}
