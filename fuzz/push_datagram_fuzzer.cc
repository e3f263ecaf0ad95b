// Fuzzes the naming client's UDP push path: HostReactor::HandleDatagram() on arbitrary datagrams
// (plain or gzipped) from a server address, with a subscribed service holding data. Checks that it
// never crashes, that every reply is one of the three ack shapes, and that the held data never
// changes: a push's own data is never applied, and the server (StaticTransport) always answers the
// same list.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "fuzz_check.h"
#include "host_reactor.h"
#include "transport/http/naming_proxy.h"
#include "push_codec.h"
#include "service_info_json.h"

namespace {

using namespace dubbo::registry;         // NOLINT
using namespace dubbo::registry::nacos;  // NOLINT

// Answers every request with one fixed list.
class StaticTransport final : public HttpTransport {
 public:
  void Send(HttpRequest, std::function<void(HttpResponse)> done) override {
    HttpResponse r;
    r.status = 200;
    r.body = R"({"hosts":[{"ip":"10.0.0.1","port":1,"healthy":true,"enabled":true,"weight":1}],)"
             R"("name":"DEFAULT_GROUP@@demo","clusters":"","cacheMillis":10000,"lastRefTime":5})";
    r.peer_ip = "127.0.0.1";
    done(std::move(r));
  }
  void CancelAll() override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dubbo::fuzz::SilenceLogs();
  NacosOptions options;
  options.server_addresses = {"127.0.0.1:8848"};
  ManualScheduler sched;
  StaticTransport http;
  NamingProxy proxy(options, &http, &sched, 1);
  HostReactor hosts(
      options, &proxy, &sched, [](SubscriptionId, std::function<void()> fn) { fn(); }, 5555,
      "127.0.0.1");
  auto listener = std::make_shared<ListenerEntry>();
  listener->id = 1;
  listener->fn = [](const ServiceChangeEvent&) {};
  hosts.Subscribe("demo", "", "", listener, [](Status) {});
  FUZZ_CHECK(hosts.Find("DEFAULT_GROUP@@demo") != nullptr, "no initial data");
  const std::vector<Instance> initial = hosts.Find("DEFAULT_GROUP@@demo")->hosts;

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const std::string& datagram :
       {std::string(input), dubbo::nacos_wire::Gzip(input).value_or(std::string())}) {
    const std::string reply = hosts.HandleDatagram(datagram, "127.0.0.1");
    FUZZ_CHECK(reply.empty() || reply.rfind("{\"type\": \"push-ack\"", 0) == 0 ||
                   reply.rfind("{\"type\": \"dump-ack\"", 0) == 0 ||
                   reply.rfind("{\"type\": \"unknown-ack\"", 0) == 0,
               "unexpected reply: %s", reply.substr(0, 80).c_str());
    const ServiceInfo* held = hosts.Find("DEFAULT_GROUP@@demo");
    FUZZ_CHECK(held != nullptr, "the service lost its data");
    FUZZ_CHECK(held->hosts == initial, "a push changed the held list");
  }
  hosts.Stop();
  return 0;
}
