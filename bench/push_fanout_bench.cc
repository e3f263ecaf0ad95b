// push_fanout_bench: how long one change of a service takes to reach 1,000 UDP push subscribers.
//
//   push_fanout_bench [--server 127.0.0.1:PORT] [--subscribers 1000] [--changes 200] [--gap-ms 60]
//                     [--instances 5] [--metadata-keys 5] [--timeout-ms 2000]
//
// Without --server it starts an in-process NamingServer on 127.0.0.1, port 0 (default options:
// push_delay_ms 50). With --server it talks to a running one (loopback only; run.sh uses that, with
// the server pinned to core 0 and this program to core 1).
//
// Procedure (figures and commands: docs/benchmarks.md, "## naming-server"):
//   1. Registers --instances instances (--metadata-keys Dubbo-style keys each) in the service
//      --service (default DEFAULT_GROUP@@providers:org.apache.dubbo.bench.PushFanout:1.0.0:). Use
//      a different service for back-to-back runs against one server: the previous run's
//      subscribers stay live for the subscriber TTL (30 s) and would be pushed to as well.
//   2. Opens --subscribers UDP sockets on 127.0.0.1:0 and subscribes each with
//      GET /nacos/v1/ns/instance/list?...&udpPort=<its port>&clientIP=127.0.0.1
//      (User-Agent Nacos-Java-Client:v1.4.8), over one keep-alive HTTP/1.1 connection; then drains
//      and acks the push every new subscriber gets.
//   3. --changes times: registers (even rounds) or deregisters (odd rounds) one more instance and
//      measures, from just before the HTTP request is written:
//        http     - until its response has been read (the server pushes inside the request);
//        first    - until the first subscriber has the push;
//        acked    - until every subscriber has received the push and sent its push-ack
//                   ({"type": "push-ack", "lastRefTime":"<n>", "data":""}, from the same socket to
//                   the packet's source address);
//        counted  - until GET /nacos/v1/ns/operator/push/state reports all of them in `succeed`
//                   (polled every 200 us once every ack is out, for at most 500 ms; resolution
//                   ~0.3 ms).
//      Packets >= 1024 bytes arrive gzipped and are inflated with zlib; every push is checked to
//      carry the new state (the toggled instance present or absent).
//      The server merges changes that follow a push within push_delay_ms (default 50) into one
//      push at the end of that window, so consecutive changes start --gap-ms (default 60) apart;
//      that wait is not measured. Subscribers are re-queried (no push: a refresh) every 10 s so that
//      none lapses (subscriber TTL 30 s); also outside the measurement.
//   4. Prints p50/p90/p99/max of each interval, packet size, lost pushes and the server's counters.
// One thread reads all sockets with epoll.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dubbo/naming_server/naming_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using dubbo::naming_server::NamingServer;
using dubbo::naming_server::NamingServerOptions;

constexpr char kToggleIp[] = "10.254.1.1";
constexpr char kUserAgent[] = "Nacos-Java-Client:v1.4.8";

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "push_fanout_bench: %s\n", message.c_str());
  std::exit(1);
}

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------------------
// A minimal blocking HTTP/1.1 client over one keep-alive connection (reconnects when the server
// closes). Responses must carry Content-Length (evhttp's do) or end with the connection.
class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  ~HttpClient() { Close(); }

  struct Response {
    int status = 0;
    std::string body;
  };

  Response Request(const std::string& method, const std::string& target) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0) Connect();
      std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + ":" +
                            std::to_string(port_) + "\r\nUser-Agent: " + kUserAgent +
                            "\r\nContent-Length: 0\r\n\r\n";
      if (!WriteAll(request)) {
        Close();
        continue;
      }
      std::optional<Response> response = ReadResponse();
      if (response) return *response;
      Close();
    }
    Die("HTTP " + method + " " + target + " failed");
  }

 private:
  void Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) Die("bad host " + host_);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Die("connect " + host_ + ":" + std::to_string(port_) + ": " + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    buffer_.clear();
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }
  bool WriteAll(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Fill() {
    char chunk[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }
  std::optional<Response> ReadResponse() {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    const std::string head = buffer_.substr(0, header_end);
    Response response;
    if (std::sscanf(head.c_str(), "HTTP/1.%*d %d", &response.status) != 1) return std::nullopt;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const size_t cl = lower.find("\r\ncontent-length:");
    const bool close = lower.find("\r\nconnection: close") != std::string::npos;
    buffer_.erase(0, header_end + 4);
    if (cl != std::string::npos) {
      const size_t length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
      while (buffer_.size() < length) {
        if (!Fill()) return std::nullopt;
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
      if (close) Close();
    } else {
      while (Fill()) {
      }
      response.body = std::move(buffer_);
      Close();
    }
    return response;
  }

  std::string host_;
  uint16_t port_;
  int fd_ = -1;
  std::string buffer_;
};

// ----------------------------------------------------------------------------------------------
// Push packets.

// Inflates gzip packets with one reused z_stream (inflateReset, not a fresh 40 KB state per packet),
// so that one thread can keep up with 1,000 packets arriving at once.
class Inflater {
 public:
  Inflater() {
    std::memset(&zs_, 0, sizeof(zs_));
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) Die("inflateInit2 failed");
  }
  ~Inflater() { inflateEnd(&zs_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates `gz` into `out` (replacing its contents); false if it is not a complete gzip stream.
  bool Inflate(std::string_view gz, std::string* out) {
    inflateReset(&zs_);
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    zs_.avail_in = static_cast<uInt>(gz.size());
    out->clear();
    int rc = Z_OK;
    while (rc == Z_OK) {
      zs_.next_out = reinterpret_cast<Bytef*>(chunk_);
      zs_.avail_out = sizeof(chunk_);
      rc = inflate(&zs_, Z_NO_FLUSH);
      out->append(chunk_, sizeof(chunk_) - zs_.avail_out);
      if (rc == Z_OK && zs_.avail_in == 0 && zs_.avail_out != 0) return false;  // Truncated.
    }
    return rc == Z_STREAM_END;
  }

 private:
  z_stream zs_;
  char chunk_[65536];
};

// The top-level "lastRefTime" of a push packet's JSON. The nested service JSON is a string inside
// "data", where the same key appears escaped (\"lastRefTime\"), so an unescaped match is top-level.
std::optional<int64_t> PacketId(std::string_view json) {
  constexpr std::string_view kKey = "\"lastRefTime\":";
  for (size_t at = json.find(kKey); at != std::string_view::npos; at = json.find(kKey, at + 1)) {
    if (at > 0 && json[at - 1] == '\\') continue;
    size_t i = at + kKey.size();
    while (i < json.size() && (json[i] == ' ' || json[i] == '"')) ++i;
    int64_t value = 0;
    size_t digits = 0;
    for (; i < json.size() && json[i] >= '0' && json[i] <= '9'; ++i, ++digits) {
      value = value * 10 + (json[i] - '0');
    }
    if (digits > 0) return value;
  }
  return std::nullopt;
}

struct Stats {
  std::vector<double> values;
  void Add(double v) { values.push_back(v); }
  double Percentile(double p) const {
    if (values.empty()) return 0;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    // Nearest rank.
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
  }
  void Print(const char* name) const {
    std::printf("%-8s p50 %7.2f ms   p90 %7.2f ms   p99 %7.2f ms   max %7.2f ms   (n=%zu)\n", name,
                Percentile(50), Percentile(90), Percentile(99), Percentile(100), values.size());
  }
};

// The system-wide UDP counters (InErrors, RcvbufErrors, SndbufErrors) from /proc/net/snmp.
struct UdpCounters {
  long in_errors = 0, rcvbuf_errors = 0, sndbuf_errors = 0;
};
UdpCounters ReadUdpCounters() {
  std::ifstream in("/proc/net/snmp");
  std::string line, names;
  UdpCounters counters;
  while (std::getline(in, line)) {
    if (line.rfind("Udp:", 0) != 0) continue;
    if (names.empty()) {
      names = line;
      continue;
    }
    std::istringstream n(names), v(line);
    std::string name, value;
    while (n >> name && v >> value) {
      if (name == "InErrors") counters.in_errors = std::atol(value.c_str());
      if (name == "RcvbufErrors") counters.rcvbuf_errors = std::atol(value.c_str());
      if (name == "SndbufErrors") counters.sndbuf_errors = std::atol(value.c_str());
    }
    break;
  }
  return counters;
}

// A field of push/state's JSON.
int64_t JsonInt(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) Die("no " + key + " in " + json);
  return std::atoll(json.c_str() + at + key.size() + 3);
}

struct Options {
  std::string server;  // host:port; empty = in-process
  std::string service = "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.PushFanout:1.0.0:";
  int subscribers = 1000;
  int changes = 200;
  int gap_ms = 60;
  int instances = 5;
  int metadata_keys = 5;
  int timeout_ms = 2000;
};

std::string MetadataJson(int keys, int i) {
  const std::pair<std::string, std::string> all[] = {
      {"application", "bench-push-app"},
      {"methods", "echo,sayHello,sayGoodbye,getUser"},
      {"release", "3.2.0"},
      {"side", "provider"},
      {"timestamp", std::to_string(1700000000000LL + i)},
  };
  std::string json = "{";
  for (int k = 0; k < keys && k < 5; ++k) {
    if (k > 0) json += ",";
    json += "\"" + all[k].first + "\":\"" + all[k].second + "\"";
  }
  return json + "}";
}

std::string InstancePath(const std::string& service, const std::string& ip, int metadata_keys,
                         int i) {
  return "/nacos/v1/ns/instance?namespaceId=public&serviceName=" + Encode(service) +
         "&groupName=DEFAULT_GROUP&clusterName=DEFAULT&ip=" + ip +
         "&port=20880&weight=1.0&enable=true&healthy=true&ephemeral=true&metadata=" +
         Encode(MetadataJson(metadata_keys, i)) + "&app=bench-push-app";
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::puts(
          "usage: push_fanout_bench [--server 127.0.0.1:PORT] [--subscribers 1000] [--changes 200]\n"
          "                         [--gap-ms 60] [--instances 5] [--metadata-keys 5]\n"
          "                         [--timeout-ms 2000] [--service GROUP@@NAME]\n"
          "Measures push fan-out of one service change to N UDP subscribers (see the source).");
      std::exit(0);
    }
    if (i + 1 >= argc) Die(flag + " needs a value");
    const std::string value = argv[++i];
    auto number = [&](int min, int max) {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || v < min || v > max) Die(flag + ": bad value " + value);
      return static_cast<int>(v);
    };
    if (flag == "--server") o.server = value;
    else if (flag == "--service") o.service = value;
    else if (flag == "--subscribers") o.subscribers = number(1, 20000);
    else if (flag == "--changes") o.changes = number(1, 1000000);
    else if (flag == "--gap-ms") o.gap_ms = number(0, 100000);
    else if (flag == "--instances") o.instances = number(0, 1000);
    else if (flag == "--metadata-keys") o.metadata_keys = number(0, 5);
    else if (flag == "--timeout-ms") o.timeout_ms = number(1, 600000);
    else Die("unknown flag " + flag);
  }
  return o;
}

struct Subscriber {
  int fd = -1;
  uint16_t port = 0;
  int64_t last_id = 0;  // Highest lastRefTime received.
};

class Bench {
 public:
  explicit Bench(const Options& options)
      : o_(options), service_tail_(o_.service.substr(o_.service.find("@@") == std::string::npos
                                                         ? 0
                                                         : o_.service.find("@@") + 2)) {}

  int Run() {
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    if (o_.server.empty()) {
      NamingServerOptions server_options;
      server_options.port = 0;
      // The benchmark's instances never beat: keep them healthy for the whole run (a health flip
      // would push in the middle of a measurement).
      server_options.heartbeat_timeout_ms = 3600000;
      server_options.ip_delete_timeout_ms = 7200000;
      auto server = NamingServer::Start(server_options);
      if (!server.ok()) Die("cannot start the in-process server: " + server.status().ToString());
      server_ = std::move(server).value();
      port = server_->port();
      std::printf("in-process NamingServer on %s (push_delay_ms %d)\n", server_->address().c_str(),
                  static_cast<int>(server_options.push_delay_ms));
    } else {
      const size_t colon = o_.server.rfind(':');
      if (colon == std::string::npos) Die("--server needs HOST:PORT");
      host = o_.server.substr(0, colon);
      port = static_cast<uint16_t>(std::atoi(o_.server.c_str() + colon + 1));
      if (host != "127.0.0.1") Die("--server must be on 127.0.0.1 (benchmarks stay on loopback)");
    }
    http_ = std::make_unique<HttpClient>(host, port);

    // Start from a known state: the toggled instance absent, the base instances present.
    http_->Request("DELETE", "/nacos/v1/ns/instance?namespaceId=public&serviceName=" +
                                 Encode(o_.service) + "&clusterName=DEFAULT&ip=" + kToggleIp +
                                 "&port=20880&ephemeral=true");
    for (int i = 0; i < o_.instances; ++i) {
      const std::string ip = "10.254.0." + std::to_string(i + 1);
      auto r = http_->Request("POST", InstancePath(o_.service, ip, o_.metadata_keys, i));
      if (r.status != 200) Die("register: " + std::to_string(r.status) + " " + r.body);
    }

    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    subs_.resize(static_cast<size_t>(o_.subscribers));
    for (size_t i = 0; i < subs_.size(); ++i) {
      Subscriber& s = subs_[i];
      s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        Die(std::string("UDP socket: ") + std::strerror(errno) + " (raise ulimit -n?)");
      }
      socklen_t len = sizeof(addr);
      ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len);
      s.port = ntohs(addr.sin_port);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s.fd, &ev);
    }

    const UdpCounters udp_before = ReadUdpCounters();
    const Clock::time_point subscribe_start = Clock::now();
    Subscribe();
    const double subscribe_ms = Millis(Clock::now() - subscribe_start);
    // Each new subscriber is pushed the current data at once; wait for all of them.
    for (Subscriber& s : subs_) s.last_id = 0;
    received_ = 0;
    first_received_ = {};
    const bool all_initial = Drain(Clock::now() + std::chrono::seconds(10), /*check=*/false);
    std::printf("subscribed %zu sockets in %.0f ms; initial pushes received: %zu/%zu%s\n",
                subs_.size(), subscribe_ms, received_, subs_.size(),
                all_initial ? "" : " (TIMEOUT)");

    Stats http_ms, first_ms, acked_ms, counted_ms;
    int lost_rounds = 0, uncounted_rounds = 0, wrong_data = 0;
    size_t lost_pushes = 0;
    Clock::time_point last_change = Clock::now();
    Clock::time_point last_subscribe = Clock::now();
    for (int r = 0; r < o_.changes; ++r) {
      if (Clock::now() - last_subscribe > std::chrono::seconds(10)) {
        Subscribe();  // Refreshes only; no pushes.
        last_subscribe = Clock::now();
      }
      const int64_t succeed_before = JsonInt(PushState(), "succeed");
      std::this_thread::sleep_until(last_change + std::chrono::milliseconds(o_.gap_ms));
      DrainStragglers();

      registered_ = r % 2 == 0;
      received_ = 0;
      first_received_ = {};
      const std::string path =
          registered_ ? InstancePath(o_.service, kToggleIp, o_.metadata_keys, 99)
                      : "/nacos/v1/ns/instance?namespaceId=public&serviceName=" + Encode(o_.service) +
                            "&clusterName=DEFAULT&ip=" + kToggleIp + "&port=20880&ephemeral=true";
      // The server pushes while it handles the request, so the request runs on a helper thread
      // and this one reads (and acks) packets meanwhile, as independent clients would.
      std::atomic<bool> started{false};
      Clock::time_point t0, t_http;
      HttpClient::Response response;
      std::thread request([&] {
        t0 = Clock::now();
        started.store(true, std::memory_order_release);
        response = http_->Request(registered_ ? "POST" : "DELETE", path);
        t_http = Clock::now();
      });
      while (!started.load(std::memory_order_acquire)) {
      }
      const bool complete = Drain(t0 + std::chrono::milliseconds(o_.timeout_ms), /*check=*/true);
      const Clock::time_point t_acked = Clock::now();
      request.join();
      last_change = t0;
      if (response.status != 200) Die("change: " + std::to_string(response.status) + " " + response.body);
      http_ms.Add(Millis(t_http - t0));
      if (received_ > 0) first_ms.Add(Millis(first_received_ - t0));
      wrong_data += wrong_;
      wrong_ = 0;
      if (!complete) {
        ++lost_rounds;
        lost_pushes += subs_.size() - received_;
        continue;
      }
      acked_ms.Add(Millis(t_acked - t0));
      // Until the server has matched every ack.
      const int64_t want = succeed_before + static_cast<int64_t>(subs_.size());
      bool counted = false;
      while (Clock::now() - t_acked < std::chrono::milliseconds(500)) {
        if (JsonInt(PushState(), "succeed") >= want) {
          counted = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (counted) {
        counted_ms.Add(Millis(Clock::now() - t0));
      } else {
        ++uncounted_rounds;
      }
    }
    const UdpCounters udp_after = ReadUdpCounters();

    std::printf("\n%d changes (register/deregister alternately, >= %d ms apart), %zu subscribers, "
                "%d instances (+1 toggled) with %d metadata keys\n",
                o_.changes, o_.gap_ms, subs_.size(), o_.instances, o_.metadata_keys);
    std::printf("push packet: %zu-%zu bytes on the wire, %s\n", min_packet_, max_packet_,
                gzipped_ == 0 ? "never gzipped" : (plain_ == 0 ? "gzipped" : "some gzipped"));
    http_ms.Print("http");
    first_ms.Print("first");
    acked_ms.Print("acked");
    counted_ms.Print("counted");
    std::printf("RESULT acked_p50_ms=%.2f acked_p90_ms=%.2f acked_p99_ms=%.2f acked_max_ms=%.2f "
                "counted_p50_ms=%.2f counted_p99_ms=%.2f http_p50_ms=%.2f http_p99_ms=%.2f "
                "lost_rounds=%d lost_pushes=%zu uncounted_rounds=%d wrong_data=%d "
                "packet_bytes=%zu gzipped=%d\n",
                acked_ms.Percentile(50), acked_ms.Percentile(90), acked_ms.Percentile(99),
                acked_ms.Percentile(100), counted_ms.Percentile(50), counted_ms.Percentile(99),
                http_ms.Percentile(50), http_ms.Percentile(99), lost_rounds, lost_pushes,
                uncounted_rounds, wrong_data, max_packet_, gzipped_ > 0 ? 1 : 0);
    if (foreign_ > 0) std::printf("ignored %zu datagrams not about the benchmark service\n", foreign_);
    const std::string state = PushState();
    std::printf("server push/state: %s\n", state.c_str());
    std::printf("system UDP counters during the run: InErrors +%ld, RcvbufErrors +%ld, "
                "SndbufErrors +%ld\n",
                udp_after.in_errors - udp_before.in_errors,
                udp_after.rcvbuf_errors - udp_before.rcvbuf_errors,
                udp_after.sndbuf_errors - udp_before.sndbuf_errors);

    for (Subscriber& s : subs_) ::close(s.fd);
    ::close(epfd_);
    http_.reset();
    if (server_) server_->Stop();
    return lost_rounds == 0 && wrong_data == 0 ? 0 : 1;
  }

 private:
  std::string PushState() {
    auto r = http_->Request("GET", "/nacos/v1/ns/operator/push/state");
    if (r.status != 200) Die("push/state: " + std::to_string(r.status));
    return r.body;
  }

  void Subscribe() {
    const std::string prefix = "/nacos/v1/ns/instance/list?namespaceId=public&serviceName=" +
                               Encode(o_.service) + "&clusters=&udpPort=";
    for (const Subscriber& s : subs_) {
      auto r = http_->Request("GET", prefix + std::to_string(s.port) +
                                         "&clientIP=127.0.0.1&healthyOnly=false&app=bench");
      if (r.status != 200) Die("subscribe: " + std::to_string(r.status) + " " + r.body);
    }
  }

  // Reads and acks whatever is queued, without waiting (resends of earlier pushes, say).
  void DrainStragglers() {
    epoll_event events[256];
    int n;
    while ((n = ::epoll_wait(epfd_, events, 256, 0)) > 0) {
      for (int k = 0; k < n; ++k) ReadSocket(events[k].data.u64, /*check=*/false);
    }
  }

  // Until every subscriber has a packet newer than the last one it had, or `deadline`. True when
  // all have.
  bool Drain(Clock::time_point deadline, bool check) {
    pending_flag_.assign(subs_.size(), true);
    epoll_event events[256];
    while (received_ < subs_.size()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() < 0) return false;
      const int n = ::epoll_wait(epfd_, events, 256, static_cast<int>(left.count()) + 1);
      if (n < 0 && errno != EINTR) Die(std::string("epoll_wait: ") + std::strerror(errno));
      for (int k = 0; k < n; ++k) ReadSocket(events[k].data.u64, check);
    }
    return true;
  }

  void ReadSocket(size_t index, bool check) {
    Subscriber& s = subs_[index];
    char buffer[65536];
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n = ::recvfrom(s.fd, buffer, sizeof(buffer), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return;  // EAGAIN
      const Clock::time_point now = Clock::now();
      const std::string_view packet(buffer, static_cast<size_t>(n));
      const bool gz = n >= 2 && static_cast<unsigned char>(buffer[0]) == 0x1f &&
                      static_cast<unsigned char>(buffer[1]) == 0x8b;
      // A push sends the same bytes to every subscriber; 1,000 real clients would each inflate and
      // parse it on their own CPU, this one thread does it once per distinct packet.
      if (packet != last_packet_) {
        if (gz && !inflater_.Inflate(packet, &inflated_)) Die("a push packet does not inflate");
        const std::string_view json = gz ? std::string_view(inflated_) : packet;
        last_packet_.assign(packet);
        last_ours_ = json.find(service_tail_) != std::string_view::npos;
        if (last_ours_) {
          const std::optional<int64_t> id = PacketId(json);
          if (!id) Die("a push packet without lastRefTime: " + std::string(json.substr(0, 200)));
          last_packet_id_ = *id;
          last_has_toggle_ = json.find(kToggleIp) != std::string_view::npos;
        }
      }
      if (!last_ours_) {
        ++foreign_;  // Not about our service: a stray datagram from some other process on the host.
        continue;
      }
      const std::optional<int64_t> id = last_packet_id_;
      // Ack it, as the Java client does: from this socket to the packet's source.
      char ack[128];
      const int ack_len = std::snprintf(
          ack, sizeof(ack), "{\"type\": \"push-ack\", \"lastRefTime\":\"%lld\", \"data\":\"\"}",
          static_cast<long long>(*id));
      ::sendto(s.fd, ack, static_cast<size_t>(ack_len), 0, reinterpret_cast<sockaddr*>(&from),
               from_len);
      min_packet_ = std::min(min_packet_, static_cast<size_t>(n));
      max_packet_ = std::max(max_packet_, static_cast<size_t>(n));
      (gz ? gzipped_ : plain_)++;
      if (*id <= s.last_id) continue;  // A resend of an older push.
      s.last_id = *id;
      if (check && last_has_toggle_ != registered_) ++wrong_;
      if (pending_flag_[index]) {
        pending_flag_[index] = false;
        if (received_++ == 0) first_received_ = now;
      }
    }
  }

  const Options o_;
  const std::string service_tail_;  // The service name without "group@@": every push names it.
  Inflater inflater_;
  std::string inflated_;
  std::string last_packet_;  // The last distinct packet and what it said.
  bool last_ours_ = false;
  int64_t last_packet_id_ = 0;
  bool last_has_toggle_ = false;
  std::unique_ptr<NamingServer> server_;
  std::unique_ptr<HttpClient> http_;
  int epfd_ = -1;
  std::vector<Subscriber> subs_;
  std::vector<bool> pending_flag_;
  size_t received_ = 0;
  Clock::time_point first_received_{};
  bool registered_ = false;
  int wrong_ = 0;
  size_t min_packet_ = SIZE_MAX, max_packet_ = 0;
  size_t gzipped_ = 0, plain_ = 0;
  size_t foreign_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Options options = ParseOptions(argc, argv);
  Bench bench(options);
  return bench.Run();
}
