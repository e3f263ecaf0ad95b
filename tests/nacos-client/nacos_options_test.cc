// Tests for NacosOptions::FromProperties, NacosOptions::FromUrl and CheckNacosOptions.
#include "dubbo/registry/nacos/nacos_options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dubbo/registry/nacos/naming_client.h"
#include "nacos_options_check.h"

namespace dubbo::registry::nacos {
namespace {

using ::dubbo::registry::StatusCode;
using Properties = std::map<std::string, std::string>;
using Strings = std::vector<std::string>;

// Sets $HOME for one test and restores it.
class ScopedHome {
 public:
  explicit ScopedHome(const char* value) {
    const char* old = getenv("HOME");
    if (old != nullptr) old_ = old;
    setenv("HOME", value, 1);
  }
  ~ScopedHome() {
    if (old_) {
      setenv("HOME", old_->c_str(), 1);
    } else {
      unsetenv("HOME");
    }
  }

 private:
  std::optional<std::string> old_;
};

NacosOptions FromProps(const Properties& properties) {
  Result<NacosOptions> options = NacosOptions::FromProperties(properties);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : NacosOptions();
}

Properties WithServer(Properties properties) {
  properties.emplace("serverAddr", "127.0.0.1:8848");
  return properties;
}

// The error message for `properties`, which must be rejected with kInvalidArgument.
std::string Rejection(const Properties& properties) {
  Result<NacosOptions> options = NacosOptions::FromProperties(properties);
  if (options.ok()) return "<accepted>";
  EXPECT_EQ(options.status().code(), StatusCode::kInvalidArgument);
  return std::string(options.status().message());
}

NacosOptions FromUrl(std::string_view text) {
  Result<URL> url = URL::Parse(text);
  EXPECT_TRUE(url.ok()) << url.status();
  if (!url.ok()) return NacosOptions();
  Result<NacosOptions> options = NacosOptions::FromUrl(*url);
  EXPECT_TRUE(options.ok()) << options.status() << " for " << text;
  return options.ok() ? *options : NacosOptions();
}

// ---- FromProperties ----------------------------------------------------------------------------

TEST(NacosOptionsTest, Defaults) {
  ScopedHome home("/home/tester");
  const NacosOptions options = FromProps({{"serverAddr", "127.0.0.1"}});
  EXPECT_EQ(options.server_addresses, (Strings{"127.0.0.1:8848"}));
  EXPECT_EQ(options.endpoint, "");
  EXPECT_EQ(options.endpoint_port, 8080);
  EXPECT_EQ(options.namespace_id, "public");
  EXPECT_EQ(options.username, "");
  EXPECT_EQ(options.password, "");
  EXPECT_EQ(options.context_path, "/nacos");
  EXPECT_EQ(options.app_name, "unknown");
  EXPECT_EQ(options.cluster_name, "DEFAULT");
  EXPECT_EQ(options.cache_dir, "/home/tester/nacos/naming/public");
  EXPECT_FALSE(options.load_cache_at_start);
  EXPECT_TRUE(options.push_empty_protection);
  EXPECT_EQ(options.udp_port, 0);
  EXPECT_EQ(options.client_ip, "");
  EXPECT_EQ(options.connect_timeout_ms, 3000);
  EXPECT_EQ(options.request_timeout_ms, 5000);
  EXPECT_EQ(options.beat_interval_ms, 5000);
  EXPECT_EQ(options.max_retry, 3);
  EXPECT_EQ(options.endpoint_refresh_ms, 30000);
  EXPECT_EQ(options.max_poll_backoff_ms, 60000);
  EXPECT_EQ(options.failover_check_ms, 5000);
  EXPECT_EQ(options.http_pipeline_depth, 16);
  EXPECT_EQ(options.shutdown_timeout_ms, 1000);
  EXPECT_EQ(options.naming_protocol, NacosOptions::NamingProtocol::kAuto);
  EXPECT_EQ(options.grpc_port_offset, 1000);
  EXPECT_EQ(options.grpc_retry_interval_ms, 30000);
  EXPECT_EQ(options.grpc_health_check_interval_ms, 5000);
  EXPECT_EQ(options.grpc_max_message_bytes, 10485760);
}

TEST(NacosOptionsTest, EveryProperty) {
  ScopedHome home("/home/tester");
  const NacosOptions options = FromProps({
      {"serverAddr", "10.0.0.1:8848,10.0.0.2"},
      {"endpoint", "ep.example.com"},
      {"endpointPort", "9090"},
      {"namespace", "dev"},
      {"username", "nacos"},
      {"password", "secret"},
      {"contextPath", "/nacos2"},
      {"clusterName", "c1"},
      {"namingCacheRegistryDir", "reg"},
      {"namingLoadCacheAtStart", "true"},
      {"namingPushEmptyProtection", "false"},
      {"namingRequestDomainMaxRetryCount", "5"},
      {"appName", "demo-app"},
      {"udpPort", "55963"},
      {"clientIp", "10.0.0.9"},
      {"connectTimeout", "250"},
      {"requestTimeout", "800"},
      {"beatInterval", "2000"},
      {"endpointRefreshInterval", "10000"},
      {"maxPollBackoff", "30000"},
      {"failoverCheckInterval", "1000"},
      {"httpPipelineDepth", "1"},
      {"shutdownTimeout", "300"},
      {"namingProtocol", "grpc"},
      {"grpcPortOffset", "1001"},
      {"grpcRetryInterval", "7000"},
      {"grpcHealthCheckInterval", "2500"},
      {"grpcMaxInboundMessageSize", "65536"},
      {"someFutureKey", "ignored"},
  });
  EXPECT_EQ(options.server_addresses, (Strings{"10.0.0.1:8848", "10.0.0.2:8848"}));
  EXPECT_EQ(options.endpoint, "ep.example.com");
  EXPECT_EQ(options.endpoint_port, 9090);
  EXPECT_EQ(options.namespace_id, "dev");
  EXPECT_EQ(options.username, "nacos");
  EXPECT_EQ(options.password, "secret");
  EXPECT_EQ(options.context_path, "/nacos2");
  EXPECT_EQ(options.cluster_name, "c1");
  EXPECT_EQ(options.cache_dir, "/home/tester/nacos/reg/naming/dev");
  EXPECT_TRUE(options.load_cache_at_start);
  EXPECT_FALSE(options.push_empty_protection);
  EXPECT_EQ(options.max_retry, 5);
  EXPECT_EQ(options.app_name, "demo-app");
  EXPECT_EQ(options.udp_port, 55963);
  EXPECT_EQ(options.client_ip, "10.0.0.9");
  EXPECT_EQ(options.connect_timeout_ms, 250);  // Sub-second values are kept exactly.
  EXPECT_EQ(options.request_timeout_ms, 800);
  EXPECT_EQ(options.beat_interval_ms, 2000);
  EXPECT_EQ(options.endpoint_refresh_ms, 10000);
  EXPECT_EQ(options.max_poll_backoff_ms, 30000);
  EXPECT_EQ(options.http_pipeline_depth, 1);
  EXPECT_EQ(options.failover_check_ms, 1000);
  EXPECT_EQ(options.shutdown_timeout_ms, 300);
  EXPECT_EQ(options.naming_protocol, NacosOptions::NamingProtocol::kGrpc);
  EXPECT_EQ(options.grpc_port_offset, 1001);
  EXPECT_EQ(options.grpc_retry_interval_ms, 7000);
  EXPECT_EQ(options.grpc_health_check_interval_ms, 2500);
  EXPECT_EQ(options.grpc_max_message_bytes, 65536);
}

TEST(NacosOptionsTest, ServerAddressForms) {
  struct Case {
    std::string input;
    Strings expected;
  };
  const Case cases[] = {
      {"nacos", {"nacos:8848"}},
      {"nacos:9000", {"nacos:9000"}},
      {"10.0.0.1", {"10.0.0.1:8848"}},
      {" a , b:1 ,, ,c ", {"a:8848", "b:1", "c:8848"}},
      {"a,a", {"a:8848", "a:8848"}},
      {"[::1]", {"[::1]:8848"}},
      {"[fe80::1%eth0]:9", {"[fe80::1%eth0]:9"}},
      {"http://h", {"http://h:80"}},
      {"https://h", {"https://h:443"}},
      {"http://h:8848", {"http://h:8848"}},
      {"HTTP://h:1/nacos", {"http://h:1/nacos"}},
      {"https://[::1]/x?y", {"https://[::1]:443/x?y"}},
      {"h1:1,http://h2:2,[::2]:3", {"h1:1", "http://h2:2", "[::2]:3"}},
      {"h:65535", {"h:65535"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FromProps({{"serverAddr", c.input}}).server_addresses, c.expected) << c.input;
  }
}

TEST(NacosOptionsTest, BadServerAddresses) {
  for (const char* input : {"h:0",
                            "h:65536",
                            "h:x",
                            "h:",
                            "h:+1",
                            "h:08848x",
                            "::1",
                            "fe80::1:8848",
                            "[::1",
                            "[]:1",
                            "[::1]x",
                            "[::1]:",
                            "h/x",
                            "a b",
                            "user@h",
                            ":8848",
                            "http://",
                            "http://:80",
                            "https://h:99999",
                            "ftp://h",
                            "h?x",
                            "h\x01"}) {
    const std::string message = Rejection({{"serverAddr", input}});
    EXPECT_NE(message.find("'serverAddr'"), std::string::npos) << input << ": " << message;
  }
}

TEST(NacosOptionsTest, NeedsServerOrEndpoint) {
  EXPECT_NE(Rejection({}).find("serverAddr"), std::string::npos);
  EXPECT_NE(Rejection({{"serverAddr", " , ,"}}).find("serverAddr"), std::string::npos);
  EXPECT_NE(Rejection({{"serverAddr", ""}, {"endpoint", "  "}}).find("endpoint"),
            std::string::npos);
  const NacosOptions options = FromProps({{"endpoint", "ep"}});
  EXPECT_TRUE(options.server_addresses.empty());
  EXPECT_EQ(options.endpoint, "ep");
  EXPECT_EQ(options.endpoint_port, 8080);
}

TEST(NacosOptionsTest, Endpoint) {
  EXPECT_EQ(FromProps({{"endpoint", " ep:9090 "}}).endpoint_port, 9090);
  EXPECT_EQ(FromProps({{"endpoint", "ep:9090"}}).endpoint, "ep");
  EXPECT_EQ(FromProps({{"endpoint", "ep:9090"}, {"endpointPort", "81"}}).endpoint_port, 9090);
  EXPECT_EQ(FromProps({{"endpoint", "ep"}, {"endpointPort", "81"}}).endpoint_port, 81);
  EXPECT_EQ(FromProps({{"endpoint", "[::1]:81"}}).endpoint, "[::1]");
  for (const char* bad : {"http://ep", "ep/x", "ep:0", "ep:x", "a b", "::1"}) {
    EXPECT_NE(Rejection({{"endpoint", bad}}).find("'endpoint'"), std::string::npos) << bad;
  }
  for (const char* bad : {"0", "65536", "x", "-1"}) {
    EXPECT_NE(Rejection({{"endpoint", "ep"}, {"endpointPort", bad}}).find("'endpointPort'"),
              std::string::npos)
        << bad;
  }
}

TEST(NacosOptionsTest, Namespace) {
  EXPECT_EQ(FromProps(WithServer({{"namespace", " 3f2a-uuid "}})).namespace_id, "3f2a-uuid");
  EXPECT_EQ(FromProps(WithServer({{"namespace", ""}})).namespace_id, "public");
  for (const char* bad : {".", "..", "../etc", "a/b", "a\\b", "a\x01"}) {
    EXPECT_NE(Rejection(WithServer({{"namespace", bad}})).find("'namespace'"), std::string::npos)
        << bad;
  }
}

TEST(NacosOptionsTest, CredentialsAreKeptAsGivenAndNeverEchoed) {
  const NacosOptions options =
      FromProps(WithServer({{"username", " nacos "}, {"password", " p@ss word "}}));
  EXPECT_EQ(options.username, " nacos ");
  EXPECT_EQ(options.password, " p@ss word ");
  const std::string message = Rejection(WithServer({{"password", "hunter2"}, {"udpPort", "bad"}}));
  EXPECT_EQ(message.find("hunter2"), std::string::npos);
}

TEST(NacosOptionsTest, ContextPath) {
  EXPECT_EQ(FromProps(WithServer({{"contextPath", "nacos2"}})).context_path, "/nacos2");
  EXPECT_EQ(FromProps(WithServer({{"contextPath", "/a/b/"}})).context_path, "/a/b");
  EXPECT_EQ(FromProps(WithServer({{"contextPath", "/"}})).context_path, "");
  EXPECT_EQ(FromProps(WithServer({{"contextPath", " "}})).context_path, "/nacos");
  EXPECT_NE(Rejection(WithServer({{"contextPath", "/a?b"}})).find("'contextPath'"),
            std::string::npos);
}

TEST(NacosOptionsTest, CacheDirectory) {
  ScopedHome home("/home/tester/");
  EXPECT_EQ(FromProps(WithServer({{"namespace", "dev"}})).cache_dir,
            "/home/tester/nacos/naming/dev");
  EXPECT_EQ(FromProps(WithServer({{"namingCacheRegistryDir", "a//b/"}})).cache_dir,
            "/home/tester/nacos/a/b/naming/public");
  EXPECT_EQ(FromProps(WithServer({{"JM.SNAPSHOT.PATH", "/snap/"}})).cache_dir,
            "/snap/nacos/naming/public");
  EXPECT_EQ(
      FromProps(WithServer({{"JM.SNAPSHOT.PATH", "/"}, {"namingCacheRegistryDir", "r"}})).cache_dir,
      "/nacos/r/naming/public");
  for (const char* bad : {"../x", "a/../b", "/abs", ".", "a/./b"}) {
    EXPECT_NE(
        Rejection(WithServer({{"namingCacheRegistryDir", bad}})).find("namingCacheRegistryDir"),
        std::string::npos)
        << bad;
  }
}

TEST(NacosOptionsTest, CacheDirectoryWithoutHome) {
  ScopedHome home("");
  const NacosOptions options = FromProps(WithServer({}));
  EXPECT_FALSE(options.cache_dir.empty());
  EXPECT_EQ(options.cache_dir.rfind("/nacos/naming/public"),
            options.cache_dir.size() - std::string("/nacos/naming/public").size());
}

TEST(NacosOptionsTest, Booleans) {
  for (const auto& [text, value] : std::map<std::string, bool>{
           {"true", true}, {"TRUE", true}, {" True ", true}, {"false", false}, {"False", false}}) {
    EXPECT_EQ(FromProps(WithServer({{"namingLoadCacheAtStart", text}})).load_cache_at_start, value)
        << text;
    EXPECT_EQ(FromProps(WithServer({{"namingPushEmptyProtection", text}})).push_empty_protection,
              value)
        << text;
  }
  EXPECT_TRUE(FromProps(WithServer({{"namingPushEmptyProtection", ""}})).push_empty_protection);
  for (const char* bad : {"yes", "1", "on", "truee", "t"}) {
    const std::string message = Rejection(WithServer({{"namingLoadCacheAtStart", bad}}));
    EXPECT_NE(message.find("'namingLoadCacheAtStart'"), std::string::npos) << message;
    EXPECT_NE(message.find(bad), std::string::npos) << message;
  }
}

TEST(NacosOptionsTest, Integers) {
  EXPECT_EQ(FromProps(WithServer({{"udpPort", "0"}})).udp_port, 0);
  EXPECT_EQ(FromProps(WithServer({{"udpPort", "65535"}})).udp_port, 65535);
  EXPECT_EQ(FromProps(WithServer({{"namingRequestDomainMaxRetryCount", "1"}})).max_retry, 1);
  EXPECT_EQ(FromProps(WithServer({{"httpPipelineDepth", "64"}})).http_pipeline_depth, 64);
  const std::pair<const char*, const char*> bad[] = {
      {"udpPort", "-1"},
      {"udpPort", "65536"},
      {"udpPort", "1.5"},
      {"udpPort", "12ab"},
      {"udpPort", "0x10"},
      {"namingRequestDomainMaxRetryCount", "0"},
      {"namingRequestDomainMaxRetryCount", "1001"},
      {"httpPipelineDepth", "0"},
      {"httpPipelineDepth", "65"},
  };
  for (const auto& [key, value] : bad) {
    const std::string message = Rejection(WithServer({{key, value}}));
    EXPECT_NE(message.find(std::string("'") + key + "'"), std::string::npos) << message;
  }
}

TEST(NacosOptionsTest, NamingProtocol) {
  using Protocol = NacosOptions::NamingProtocol;
  for (const auto& [text, value] : std::map<std::string, Protocol>{{"auto", Protocol::kAuto},
                                                                   {"AUTO", Protocol::kAuto},
                                                                   {"grpc", Protocol::kGrpc},
                                                                   {" gRPC ", Protocol::kGrpc},
                                                                   {"http", Protocol::kHttp},
                                                                   {"Http", Protocol::kHttp}}) {
    EXPECT_EQ(FromProps(WithServer({{"namingProtocol", text}})).naming_protocol, value) << text;
  }
  EXPECT_EQ(FromProps(WithServer({{"namingProtocol", " "}})).naming_protocol, Protocol::kAuto);
  for (const char* bad : {"https", "grpcs", "h2", "udp", "autoo", "1"}) {
    const std::string message = Rejection(WithServer({{"namingProtocol", bad}}));
    EXPECT_NE(message.find("'namingProtocol'"), std::string::npos) << message;
    EXPECT_NE(message.find(bad), std::string::npos) << message;
  }
}

TEST(NacosOptionsTest, GrpcLimits) {
  EXPECT_EQ(FromProps(WithServer({{"grpcPortOffset", "1"}})).grpc_port_offset, 1);
  EXPECT_EQ(FromProps(WithServer({{"grpcPortOffset", "65535"}})).grpc_port_offset, 65535);
  EXPECT_EQ(FromProps(WithServer({{"grpcMaxInboundMessageSize", "4096"}})).grpc_max_message_bytes,
            4096);
  EXPECT_EQ(
      FromProps(WithServer({{"grpcMaxInboundMessageSize", "104857600"}})).grpc_max_message_bytes,
      104857600);
  const std::pair<const char*, const char*> bad[] = {
      {"grpcPortOffset", "0"},
      {"grpcPortOffset", "65536"},
      {"grpcPortOffset", "-1000"},
      {"grpcMaxInboundMessageSize", "4095"},
      {"grpcMaxInboundMessageSize", "104857601"},
      {"grpcMaxInboundMessageSize", "10MB"},
  };
  for (const auto& [key, value] : bad) {
    const std::string message = Rejection(WithServer({{key, value}}));
    EXPECT_NE(message.find(std::string("'") + key + "'"), std::string::npos) << message;
  }
}

TEST(NacosOptionsTest, Durations) {
  for (const char* key : {"connectTimeout", "requestTimeout", "endpointRefreshInterval",
                          "maxPollBackoff", "failoverCheckInterval", "shutdownTimeout",
                          "grpcRetryInterval", "grpcHealthCheckInterval"}) {
    const Result<NacosOptions> one = NacosOptions::FromProperties(WithServer({{key, "1"}}));
    EXPECT_TRUE(one.ok()) << key;
    const Result<NacosOptions> max =
        NacosOptions::FromProperties(WithServer({{key, "2147483647"}}));
    EXPECT_TRUE(max.ok()) << key;
    for (const char* bad : {"0", "-5", "2147483648", "abc", "1.5", "5s", "99999999999999999999"}) {
      const std::string message = Rejection(WithServer({{key, bad}}));
      EXPECT_NE(message.find(std::string("'") + key + "'"), std::string::npos)
          << key << "=" << bad << ": " << message;
    }
  }
  EXPECT_EQ(FromProps(WithServer({{"requestTimeout", " 1 "}})).request_timeout_ms, 1);
}

// A beat period below a second would be a beat storm.
TEST(NacosOptionsTest, BeatIntervalIsAtLeastOneSecond) {
  EXPECT_EQ(FromProps(WithServer({{"beatInterval", "1000"}})).beat_interval_ms, 1000);
  EXPECT_EQ(FromProps(WithServer({{"beatInterval", "2147483647"}})).beat_interval_ms, 2147483647);
  for (const char* bad : {"999", "1", "0", "2147483648", "abc"}) {
    const std::string message = Rejection(WithServer({{"beatInterval", bad}}));
    EXPECT_NE(message.find("'beatInterval'"), std::string::npos) << bad << ": " << message;
    EXPECT_NE(message.find("[1000, 2147483647]"), std::string::npos) << bad << ": " << message;
  }
}

// A hand-built struct is held to the ranges of the properties, by the same table: every value
// just outside a field's range is refused by CheckNacosOptions (naming the field) and, written as
// the property, by FromProperties (naming the property); the bounds themselves pass both.
TEST(NacosOptionsTest, CheckNacosOptionsHoldsEveryNumericFieldToThePropertysRange) {
  struct Field {
    const char* name;
    const char* key;
    int64_t min;
    int64_t max;
    std::function<void(NacosOptions*, int64_t)> set;
  };
  const std::vector<Field> fields = {
      {"endpoint_port", "endpointPort", 1, 65535,
       [](NacosOptions* o, int64_t v) { o->endpoint_port = static_cast<int>(v); }},
      {"max_retry", "namingRequestDomainMaxRetryCount", 1, 1000,
       [](NacosOptions* o, int64_t v) { o->max_retry = static_cast<int>(v); }},
      {"udp_port", "udpPort", 0, 65535,
       [](NacosOptions* o, int64_t v) { o->udp_port = static_cast<int>(v); }},
      {"http_pipeline_depth", "httpPipelineDepth", 1, 64,
       [](NacosOptions* o, int64_t v) { o->http_pipeline_depth = static_cast<int>(v); }},
      {"grpc_port_offset", "grpcPortOffset", 1, 65535,
       [](NacosOptions* o, int64_t v) { o->grpc_port_offset = static_cast<int>(v); }},
      {"connect_timeout_ms", "connectTimeout", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->connect_timeout_ms = v; }},
      {"request_timeout_ms", "requestTimeout", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->request_timeout_ms = v; }},
      {"beat_interval_ms", "beatInterval", 1000, 2147483647,
       [](NacosOptions* o, int64_t v) { o->beat_interval_ms = v; }},
      {"endpoint_refresh_ms", "endpointRefreshInterval", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->endpoint_refresh_ms = v; }},
      {"max_poll_backoff_ms", "maxPollBackoff", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->max_poll_backoff_ms = v; }},
      {"failover_check_ms", "failoverCheckInterval", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->failover_check_ms = v; }},
      {"shutdown_timeout_ms", "shutdownTimeout", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->shutdown_timeout_ms = v; }},
      {"grpc_retry_interval_ms", "grpcRetryInterval", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->grpc_retry_interval_ms = v; }},
      {"grpc_health_check_interval_ms", "grpcHealthCheckInterval", 1, 2147483647,
       [](NacosOptions* o, int64_t v) { o->grpc_health_check_interval_ms = v; }},
      {"grpc_max_message_bytes", "grpcMaxInboundMessageSize", 4096, 104857600,
       [](NacosOptions* o, int64_t v) { o->grpc_max_message_bytes = v; }},
  };
  NacosOptions base;
  base.server_addresses = {"127.0.0.1:8848"};
  EXPECT_TRUE(CheckNacosOptions(base).ok()) << CheckNacosOptions(base);
  for (const Field& field : fields) {
    for (int64_t good : {field.min, field.max}) {
      NacosOptions options = base;
      field.set(&options, good);
      EXPECT_TRUE(CheckNacosOptions(options).ok()) << field.name << "=" << good;
      EXPECT_TRUE(
          NacosOptions::FromProperties(WithServer({{field.key, std::to_string(good)}})).ok())
          << field.key << "=" << good;
    }
    for (int64_t bad : {field.min - 1, field.max + 1}) {
      NacosOptions options = base;
      field.set(&options, bad);
      const Status status = CheckNacosOptions(options);
      EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << field.name << "=" << bad;
      EXPECT_NE(status.message().find(std::string("field ") + field.name + " "), std::string::npos)
          << status;
      const std::string message = Rejection(WithServer({{field.key, std::to_string(bad)}}));
      EXPECT_NE(message.find(std::string("'") + field.key + "'"), std::string::npos)
          << field.key << "=" << bad << ": " << message;
    }
  }
}

// NamingClient::Create refuses such a struct before it opens anything.
TEST(NacosOptionsTest, NamingClientCreateRefusesAHandBuiltStructOutOfRange) {
  NacosOptions options;
  options.server_addresses = {"127.0.0.1:1"};
  options.request_timeout_ms = 0;
  Result<std::unique_ptr<NamingClient>> client = NamingClient::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("request_timeout_ms"), std::string::npos)
      << client.status();

  options.request_timeout_ms = 5000;
  options.http_pipeline_depth = -1;
  client = NamingClient::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("http_pipeline_depth"), std::string::npos)
      << client.status();

  options.http_pipeline_depth = 16;
  options.server_addresses.clear();
  client = NamingClient::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
}

TEST(NacosOptionsTest, ClientIp) {
  EXPECT_EQ(FromProps(WithServer({{"clientIp", "192.168.1.2"}})).client_ip, "192.168.1.2");
  EXPECT_EQ(FromProps(WithServer({{"clientIp", "fe80::1"}})).client_ip, "fe80::1");
  for (const char* bad : {"host.example.com", "1.2.3", "[::1]", "1.2.3.4:80"}) {
    EXPECT_NE(Rejection(WithServer({{"clientIp", bad}})).find("'clientIp'"), std::string::npos)
        << bad;
  }
}

TEST(NacosOptionsTest, LongValuesAreTruncatedInMessages) {
  const std::string message = Rejection(WithServer({{"udpPort", std::string(5000, '9')}}));
  EXPECT_LT(message.size(), 200u) << message;
}

// ---- FromUrl -----------------------------------------------------------------------------------

TEST(NacosOptionsFromUrlTest, SpecExample) {
  const NacosOptions options =
      FromUrl("nacos://user:pass@127.0.0.1:8848?namespace=dev&backup=10.0.0.2:8848");
  EXPECT_EQ(options.server_addresses, (Strings{"127.0.0.1:8848", "10.0.0.2:8848"}));
  EXPECT_EQ(options.username, "user");
  EXPECT_EQ(options.password, "pass");
  EXPECT_EQ(options.namespace_id, "dev");
}

TEST(NacosOptionsFromUrlTest, Addresses) {
  EXPECT_EQ(FromUrl("nacos://10.0.0.1").server_addresses, (Strings{"10.0.0.1:8848"}));
  EXPECT_EQ(FromUrl("nacos://[::1]:9848").server_addresses, (Strings{"[::1]:9848"}));
  EXPECT_EQ(FromUrl("nacos://a:1?backup=b:2,c").server_addresses,
            (Strings{"a:1", "b:2", "c:8848"}));
  EXPECT_EQ(FromUrl("nacos://?backup=b:2").server_addresses, (Strings{"b:2"}));
  // As Dubbo: a serverAddr parameter replaces the address.
  EXPECT_EQ(FromUrl("nacos://a:1?serverAddr=x:9,y").server_addresses, (Strings{"x:9", "y:8848"}));
  const NacosOptions endpoint_only = FromUrl("nacos://?endpoint=ep&endpointPort=81");
  EXPECT_TRUE(endpoint_only.server_addresses.empty());
  EXPECT_EQ(endpoint_only.endpoint, "ep");
  EXPECT_EQ(endpoint_only.endpoint_port, 81);
}

TEST(NacosOptionsFromUrlTest, CopiesPropertyParameters) {
  ScopedHome home("/home/tester");
  const NacosOptions options = FromUrl(
      "nacos://10.0.0.1:8848/org.apache.dubbo.registry.RegistryService?interface=org.apache.dubbo."
      "registry.RegistryService&group=G&namingPushEmptyProtection=false&namingLoadCacheAtStart="
      "true&connectTimeout=500&requestTimeout=900&udpPort=40000&clientIp=10.0.0.9&appName=demo&"
      "clusterName=c1&contextPath=ctx&namingCacheRegistryDir=reg&namespace=ns1&timeout=7&"
      "shutdownTimeout=250&namingProtocol=HTTP&grpcPortOffset=2000&grpcRetryInterval=900&"
      "grpcHealthCheckInterval=800&grpcMaxInboundMessageSize=8192");
  EXPECT_EQ(options.naming_protocol, NacosOptions::NamingProtocol::kHttp);
  EXPECT_EQ(options.grpc_port_offset, 2000);
  EXPECT_EQ(options.grpc_retry_interval_ms, 900);
  EXPECT_EQ(options.grpc_health_check_interval_ms, 800);
  EXPECT_EQ(options.grpc_max_message_bytes, 8192);
  EXPECT_FALSE(options.push_empty_protection);
  EXPECT_EQ(options.shutdown_timeout_ms, 250);
  EXPECT_TRUE(options.load_cache_at_start);
  EXPECT_EQ(options.connect_timeout_ms, 500);
  EXPECT_EQ(options.request_timeout_ms, 900);
  EXPECT_EQ(options.udp_port, 40000);
  EXPECT_EQ(options.client_ip, "10.0.0.9");
  EXPECT_EQ(options.app_name, "demo");
  EXPECT_EQ(options.cluster_name, "c1");
  EXPECT_EQ(options.context_path, "/ctx");
  EXPECT_EQ(options.namespace_id, "ns1");
  EXPECT_EQ(options.cache_dir, "/home/tester/nacos/reg/naming/ns1");
}

TEST(NacosOptionsFromUrlTest, Credentials) {
  NacosOptions options = FromUrl("nacos://h?username=u1&password=p1");
  EXPECT_EQ(options.username, "u1");
  EXPECT_EQ(options.password, "p1");
  options = FromUrl("nacos://u2:p2@h?username=u1&password=p1");
  EXPECT_EQ(options.username, "u2");
  EXPECT_EQ(options.password, "p2");
  options = FromUrl("nacos://u2@h?password=p1");
  EXPECT_EQ(options.username, "u2");
  EXPECT_EQ(options.password, "p1");
}

TEST(NacosOptionsFromUrlTest, Errors) {
  const auto rejection = [](std::string_view text) {
    Result<URL> url = URL::Parse(text);
    EXPECT_TRUE(url.ok()) << text;
    if (!url.ok()) return std::string();
    Result<NacosOptions> options = NacosOptions::FromUrl(*url);
    EXPECT_FALSE(options.ok()) << text;
    return options.ok() ? std::string() : std::string(options.status().message());
  };
  EXPECT_NE(rejection("nacos://?namespace=dev").find("serverAddr"), std::string::npos);
  EXPECT_NE(rejection("nacos://h?connectTimeout=0").find("'connectTimeout'"), std::string::npos);
  EXPECT_NE(rejection("nacos://h?backup=b:x").find("'serverAddr'"), std::string::npos);
  EXPECT_NE(rejection("nacos://h?namingPushEmptyProtection=maybe").find("namingPushEmpty"),
            std::string::npos);
  EXPECT_NE(rejection("nacos://h?namingProtocol=udp").find("'namingProtocol'"), std::string::npos);
}

}  // namespace
}  // namespace dubbo::registry::nacos
