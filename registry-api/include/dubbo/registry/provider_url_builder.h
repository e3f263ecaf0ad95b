// File: dubbo/registry/provider_url_builder.h
//
// ProviderUrlBuilder: builds the URL a provider registers, with the parameters Dubbo's own
// providers write, validated so that the URL survives every hop it makes: printed and parsed again
// (URL::ToString / URL::Parse), stored as a Nacos instance and read back, written to a consumer's
// cache file, and read by a consumer's load balancer (`weight`, `warmup`, `timestamp`).
//
//   Result<URL> url = ProviderUrlBuilder("tri", "10.0.0.5", 50051, "com.foo.Greeter")
//                         .Application("greeter")
//                         .Version("1.0.0")
//                         .Methods({"Greet", "Ping"})
//                         .Weight(200)
//                         .Timeout(std::chrono::milliseconds(3000))
//                         .MethodParameter("Greet", "timeout", "500")
//                         .Build();
//   // tri://10.0.0.5:50051/com.foo.Greeter?Greet.timeout=500&anyhost=false&application=greeter
//   //   &deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&interface=com.foo.Greeter
//   //   &methods=Greet,Ping&pid=4242&release=0.2.0&side=provider&timeout=3000
//   //   &timestamp=1700000000000&version=1.0.0&weight=200
//
// Parameters written by Build() without a setter call (Dubbo's provider defaults):
//   interface   the service interface (also the path)
//   side        provider
//   methods     `*` (any method) unless Methods() was given a name, as Dubbo writes for a
//               service without declared methods
//   anyhost     false, unless AnyHost(true)
//   deprecated  false, unless Deprecated(true)
//   dynamic     true, unless Dynamic(false)
//   generic     false (Parameter() may set it)
//   dubbo       2.0.2, the Dubbo protocol version every Dubbo 2.7 and 3.x provider writes
//               (Parameter() may set it)
//   release     DUBBO_REGISTRY_VERSION, this library's version (Parameter() may set it)
//   pid         this process's id
//   timestamp   the clock's wall time in ms at Build(): the start of the consumers' warm-up
// Absent unless set, so that consumers apply their own defaults: application, version, group,
// weight (consumers: 100), timeout (1000 ms), retries (2), loadbalance (random), warmup (600000
// ms). `category` is not written: Nacos and the consumers take a URL without it as `providers`.
//
// Build() reports the first problem as kInvalidArgument: the constructor's arguments first, then
// the setter calls in the order they were made, then method parameters naming an undeclared
// method. It never throws. Rules:
//   protocol   a URL scheme (a letter, then letters, digits, '+', '-', '.'); not `empty`,
//              `consumer`, `override` or `route`, which mark other kinds of URL
//   host       an IPv4 address, an IPv6 address (brackets optional; a bare one gets them; a zone
//              id `%eth0` is allowed) or a DNS name; not 0.0.0.0 or ::, which consumers cannot dial
//              (register the address consumers connect to; AnyHost(true) says the server listens
//              on every interface)
//   port       1..65535
//   interface  letters, digits, '_', '$', '.', '-'; not empty
//   keys       letters, digits, '_', '.', '-'; not empty; not `default.*` (parsing turns
//              `default.X` into X too); keys with a setter below, and `interface`, `side`,
//              `pid`, `timestamp`, are set through the builder only; `category` only as `providers`
//   values     valid UTF-8, no control character, no whitespace (a consumer's cache file separates
//              URLs with spaces), no '&' or ';' (they separate parameters)
//   version, group  also no ':' (it separates the parts of the Nacos service name), ',' or '*'
//              (consumers read those as lists and wildcards)
//   methods    each a key without '.', no duplicates
//   weight     0..2147483647 (Dubbo reads it as a Java int; a negative weight counts as 0)
//   timeout    > 0; retries >= 0; warmup >= 0 (0: no warm-up)
//
// Thread-safety: a builder is a plain value, not safe for concurrent mutation; Build() is const.
#ifndef DUBBO_REGISTRY_PROVIDER_URL_BUILDER_H_
#define DUBBO_REGISTRY_PROVIDER_URL_BUILDER_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

// The Dubbo protocol version Dubbo providers write as `dubbo=`.
inline constexpr std::string_view kDubboProtocolVersion = "2.0.2";

class DUBBO_REGISTRY_EXPORT ProviderUrlBuilder {
 public:
  // `host` is the address consumers connect to; `service_interface` becomes the path and the
  // `interface` parameter.
  ProviderUrlBuilder(std::string protocol, std::string host, int port,
                     std::string service_interface);

  // `application`: the provider's application name. Default: absent.
  ProviderUrlBuilder& Application(std::string_view name);
  // `version` and `group`; an empty value removes the parameter. Default: absent.
  ProviderUrlBuilder& Version(std::string_view version);
  ProviderUrlBuilder& Group(std::string_view group);
  // `methods`: written sorted and comma-separated; an empty list writes `*`. Default `*`.
  ProviderUrlBuilder& Methods(std::vector<std::string> methods);
  // `weight`: the load-balancing weight. Default: absent (consumers use 100).
  ProviderUrlBuilder& Weight(int weight);
  // `timeout` in ms, rounded up. Default: absent (consumers use 1000 ms).
  ProviderUrlBuilder& Timeout(Duration timeout);
  // `retries`: extra attempts after a failed call. Default: absent (consumers use 2).
  ProviderUrlBuilder& Retries(int retries);
  // `loadbalance`: the balancer name consumers should use. Default: absent (random).
  ProviderUrlBuilder& LoadBalance(std::string_view name);
  // `warmup` in ms, rounded up: consumers ramp the weight up over this long after `timestamp`.
  // Default: absent (consumers use 600000 ms).
  ProviderUrlBuilder& Warmup(Duration warmup);
  // `anyhost`: the server listens on every interface. Default false.
  ProviderUrlBuilder& AnyHost(bool any_host);
  // `deprecated`. Default false.
  ProviderUrlBuilder& Deprecated(bool deprecated);
  // `dynamic`: false makes the registration persistent (it outlives this process). Default true.
  ProviderUrlBuilder& Dynamic(bool dynamic);
  // Any other parameter; a later call for the same key wins.
  ProviderUrlBuilder& Parameter(std::string_view key, std::string_view value);
  // `<method>.<key>=<value>`, e.g. ("Greet", "timeout", "500"). When Methods() was called, `method`
  // must be one of them.
  ProviderUrlBuilder& MethodParameter(std::string_view method, std::string_view key,
                                      std::string_view value);
  // The clock `timestamp` is read from. Must outlive Build() calls. Default Clock::Real().
  ProviderUrlBuilder& UseClock(const Clock* clock);

  // The URL, or kInvalidArgument naming the first problem (see the file comment).
  Result<URL> Build() const;

 private:
  // Records `status` when it is the first problem.
  void Fail(Status status);
  // Validates and stores a parameter the builder owns (no reserved-key check).
  void Set(std::string_view key, std::string_view value);
  // Version() and Group(): checked as parts of the service key; empty removes the parameter.
  void SetServiceKeyPart(std::string_view key, std::string_view value);

  std::string protocol_;
  std::string host_;
  int port_;
  std::string interface_;
  std::map<std::string, std::string, std::less<>> parameters_;
  std::vector<std::string> methods_;
  bool methods_set_ = false;
  // Methods named by MethodParameter(), checked against methods_ by Build().
  std::vector<std::string> parameter_methods_;
  const Clock* clock_;
  Status first_error_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_PROVIDER_URL_BUILDER_H_
