// NamingProxy on a fake transport and the manual clock: server rotation and retries, headers and
// parameters, login and token refresh, the endpoint list, IsServerIp, Stop.
#include "transport/http/naming_proxy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "fake_http_transport.h"
#include "testing/log_capture.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeHttpTransport;
using testing::HasParam;

// "host:port" of an absolute URL.
std::string ServerOf(const std::string& url) {
  std::string_view rest = url;
  rest.remove_prefix(rest.find("://") + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

// The path of an absolute URL, without the query.
std::string PathOf(const std::string& url) {
  std::string_view rest = url;
  rest.remove_prefix(rest.find("://") + 3);
  rest.remove_prefix(rest.find('/'));
  return std::string(rest.substr(0, rest.find('?')));
}

std::string HeaderOf(const HttpRequest& request, const std::string& name) {
  for (const auto& [n, v] : request.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

// Captures the outcome of one Call().
struct Outcome {
  std::optional<Result<std::string>> result;
  NamingProxy::Done Done() {
    return [this](Result<std::string> r) { result = std::move(r); };
  }
};

NamingRequest ListRequest() {
  NamingRequest request;
  request.method = "GET";
  request.path = "/v1/ns/instance/list";
  request.params = {{"serviceName", "DEFAULT_GROUP@@demo"}};
  return request;
}

class NamingProxyTest : public ::testing::Test {
 protected:
  NacosOptions Options(std::vector<std::string> servers) {
    NacosOptions options;
    options.server_addresses = std::move(servers);
    return options;
  }

  ManualScheduler clock_;
  FakeHttpTransport http_;
};

// --- Server rotation -------------------------------------------------------------------

TEST_F(NamingProxyTest, SingleServerIsTriedMaxRetryTimes) {
  NacosOptions options = Options({"10.0.0.1:8848"});
  options.max_retry = 3;
  NamingProxy proxy(options, &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(http_.pending(), 1u) << "try " << i;
    EXPECT_EQ(ServerOf(http_.front().url), "10.0.0.1:8848");
    EXPECT_FALSE(out.result.has_value());
    http_.Reply(500, "boom " + std::to_string(i));
  }
  EXPECT_EQ(http_.pending(), 0u);
  ASSERT_TRUE(out.result.has_value());
  ASSERT_FALSE(out.result->ok());
  EXPECT_EQ(out.result->status().code(), StatusCode::kUnavailable);
  const std::string message(out.result->status().message());
  EXPECT_NE(message.find("failed to req API:/nacos/v1/ns/instance/list after all servers"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("10.0.0.1:8848"), std::string::npos) << message;
  EXPECT_NE(message.find("boom 2"), std::string::npos) << "the last error: " << message;
}

TEST_F(NamingProxyTest, SingleServerSucceedsOnALaterTry) {
  NamingProxy proxy(Options({"10.0.0.1:8848"}), &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  http_.Fail(DeadlineExceededError("timed out"));
  http_.Reply(200, "{\"ok\":1}");
  ASSERT_TRUE(out.result.has_value());
  ASSERT_TRUE(out.result->ok()) << out.result->status();
  EXPECT_EQ(**out.result, "{\"ok\":1}");
}

TEST_F(NamingProxyTest, SeveralServersAreEachTriedOnceFromARandomStart) {
  const std::vector<std::string> servers = {"10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"};
  std::set<std::string> starts;
  for (uint64_t seed = 1; seed <= 32; ++seed) {
    FakeHttpTransport http;
    NacosOptions options = Options(servers);
    options.max_retry = 5;  // Irrelevant with several servers: each once.
    NamingProxy proxy(options, &http, &clock_, seed);
    proxy.Start();
    Outcome out;
    proxy.Call(ListRequest(), out.Done());
    std::vector<std::string> tried;
    while (http.pending() > 0) {
      tried.push_back(ServerOf(http.front().url));
      http.Reply(503, "down");
    }
    ASSERT_EQ(tried.size(), 3u);
    // Round robin from the start.
    size_t start = 0;
    while (servers[start] != tried[0]) ++start;
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(tried[i], servers[(start + i) % 3]);
    starts.insert(tried[0]);
    ASSERT_TRUE(out.result.has_value());
    EXPECT_EQ(out.result->status().code(), StatusCode::kUnavailable);
  }
  EXPECT_GT(starts.size(), 1u) << "the start should be random";
}

TEST_F(NamingProxyTest, A4xxMovesOnToTheNextServer) {
  NamingProxy proxy(Options({"10.0.0.1:8848", "10.0.0.2:8848"}), &http_, &clock_, 7);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  const std::string first = ServerOf(http_.front().url);
  http_.Reply(403, "authorization failed!");
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_NE(ServerOf(http_.front().url), first);
  http_.Reply(200, "body");
  ASSERT_TRUE(out.result.has_value() && out.result->ok());
  EXPECT_EQ(**out.result, "body");
}

TEST_F(NamingProxyTest, FinalErrorCodeFollowsTheLastFailure) {
  struct Case {
    int status;
    StatusCode code;
  };
  for (const Case& c :
       {Case{400, StatusCode::kInvalidArgument}, Case{403, StatusCode::kPermissionDenied},
        Case{404, StatusCode::kNotFound}, Case{413, StatusCode::kResourceExhausted},
        Case{429, StatusCode::kResourceExhausted}, Case{500, StatusCode::kUnavailable},
        Case{502, StatusCode::kUnavailable}}) {
    FakeHttpTransport http;
    NacosOptions options = Options({"10.0.0.1:8848"});
    options.max_retry = 1;
    NamingProxy proxy(options, &http, &clock_);
    proxy.Start();
    Outcome out;
    proxy.Call(ListRequest(), out.Done());
    http.Reply(c.status, "why");
    ASSERT_TRUE(out.result.has_value());
    EXPECT_EQ(out.result->status().code(), c.code) << c.status;
    EXPECT_NE(std::string(out.result->status().message()).find("why"), std::string::npos);
  }
  // No answer keeps the transport's code.
  FakeHttpTransport http;
  NacosOptions options = Options({"10.0.0.1:8848", "10.0.0.2:8848"});
  NamingProxy proxy(options, &http, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  http.Fail(UnavailableError("connection refused"));
  http.Fail(DeadlineExceededError("timed out"));
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(NamingProxyTest, NotModifiedIsAnEmptyBody) {
  NamingProxy proxy(Options({"10.0.0.1:8848"}), &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  http_.Reply(304, "ignored");
  ASSERT_TRUE(out.result.has_value() && out.result->ok());
  EXPECT_EQ(**out.result, "");
}

TEST_F(NamingProxyTest, NoServerFailsAtOnce) {
  NamingProxy proxy(Options({}), &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(http_.pending(), 0u);
}

TEST_F(NamingProxyTest, CancelledEndsTheCallAtOnce) {
  NamingProxy proxy(Options({"10.0.0.1:8848", "10.0.0.2:8848"}), &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  http_.CancelAll();
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->status().code(), StatusCode::kCancelled);
  EXPECT_EQ(http_.pending(), 0u) << "no other server is tried";
}

// --- Headers and parameters -------------------------------------------------------------------

TEST_F(NamingProxyTest, RequestsCarryTheJavaHeadersAndCommonParams) {
  NacosOptions options = Options({"10.0.0.1:8848"});
  options.namespace_id = "dev";
  options.app_name = "my-app";
  options.context_path = "/nacos";
  options.connect_timeout_ms = 250;
  options.request_timeout_ms = 700;
  NamingProxy proxy(options, &http_, &clock_);
  proxy.Start();
  NamingRequest request;
  request.method = "PUT";
  request.path = "/v1/ns/instance/beat";
  request.params = {{"serviceName", "DEFAULT_GROUP@@demo"}, {"ip", "10.0.0.5"}};
  request.form = {{"beat", "{\"a\":1}"}};
  Outcome out;
  proxy.Call(request, out.Done());
  ASSERT_EQ(http_.pending(), 1u);
  const HttpRequest& sent = http_.front();
  EXPECT_EQ(sent.method, "PUT");
  EXPECT_EQ(sent.url.rfind("http://10.0.0.1:8848/nacos/v1/ns/instance/beat?", 0), 0u) << sent.url;
  EXPECT_TRUE(HasParam(sent.url, "serviceName", "DEFAULT_GROUP%40%40demo")) << sent.url;
  EXPECT_TRUE(HasParam(sent.url, "ip", "10.0.0.5")) << sent.url;
  EXPECT_TRUE(HasParam(sent.url, "namespaceId", "dev")) << sent.url;
  EXPECT_TRUE(HasParam(sent.url, "app", "my-app")) << sent.url;
  EXPECT_EQ(sent.url.find("accessToken"), std::string::npos) << "no login configured";
  EXPECT_EQ(sent.body, "beat=%7B%22a%22%3A1%7D");
  EXPECT_EQ(HeaderOf(sent, "User-Agent"), "Nacos-Java-Client:v1.4.8");
  EXPECT_EQ(HeaderOf(sent, "Client-Version"), "1.4.8");
  EXPECT_EQ(HeaderOf(sent, "Request-Module"), "Naming");
  EXPECT_EQ(HeaderOf(sent, "Accept-Charset"), "UTF-8");
  EXPECT_EQ(HeaderOf(sent, "Content-Type"), "application/x-www-form-urlencoded;charset=UTF-8");
  EXPECT_NE(HeaderOf(sent, "RequestId"), "<absent>");
  EXPECT_NE(HeaderOf(sent, "RequestId"), "");
  EXPECT_EQ(sent.connect_timeout_ms, 250);
  EXPECT_EQ(sent.timeout_ms, 700);
  http_.Reply(200, "ok");

  // A per-request timeout wins; a namespaceId the caller set is not duplicated.
  request.timeout_ms = 123;
  request.params.emplace_back("namespaceId", "other");
  proxy.Call(request, out.Done());
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(http_.front().timeout_ms, 123);
  EXPECT_TRUE(HasParam(http_.front().url, "namespaceId", "other"));
  EXPECT_FALSE(HasParam(http_.front().url, "namespaceId", "dev"));
  // Every request gets its own RequestId.
  EXPECT_NE(HeaderOf(http_.front(), "RequestId"), HeaderOf(http_.sent()[0], "RequestId"));
  http_.Reply(200, "ok");
}

TEST_F(NamingProxyTest, ServerEntriesWithSchemeAndContextPath) {
  NacosOptions options = Options({"https://nacos.example:9443", "[::1]:8848"});
  options.context_path = "";
  NamingProxy proxy(options, &http_, &clock_, 1);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  std::set<std::string> urls;
  while (http_.pending() > 0) {
    urls.insert(http_.front().url.substr(0, http_.front().url.find('?')));
    http_.Reply(500, "");
  }
  EXPECT_EQ(urls, (std::set<std::string>{"https://nacos.example:9443/v1/ns/instance/list",
                                         "http://[::1]:8848/v1/ns/instance/list"}));
}

// --- Login -------------------------------------------------------------------------------

class NamingProxyLoginTest : public NamingProxyTest {
 protected:
  NacosOptions AuthOptions() {
    NacosOptions options = Options({"10.0.0.1:8848", "10.0.0.2:8848"});
    options.username = "nacos";
    options.password = "pa55-w0rd!";
    return options;
  }
  static std::string LoginAnswer(const std::string& token, int64_t ttl_s) {
    return "{\"accessToken\":\"" + token + "\",\"tokenTtl\":" + std::to_string(ttl_s) +
           ",\"globalAdmin\":true}";
  }
};

TEST_F(NamingProxyLoginTest, LogsInAtStartAndSendsTheToken) {
  NamingProxy proxy(AuthOptions(), &http_, &clock_);
  proxy.Start();
  ASSERT_EQ(http_.pending(), 1u);
  const HttpRequest& login = http_.front();
  EXPECT_EQ(login.method, "POST");
  EXPECT_EQ(login.url, "http://10.0.0.1:8848/nacos/v1/auth/users/login?username=nacos")
      << "first server first, username in the query, nothing else";
  EXPECT_EQ(login.body, "password=pa55-w0rd%21");

  // A call made while the login is in flight waits for it.
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  EXPECT_EQ(http_.pending(), 1u);
  http_.Reply(200, LoginAnswer("tok-1", 18000));
  EXPECT_EQ(proxy.access_token(), "tok-1");
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/ns/instance/list");
  EXPECT_TRUE(HasParam(http_.front().url, "accessToken", "tok-1")) << http_.front().url;
  http_.Reply(200, "data");
  ASSERT_TRUE(out.result.has_value() && out.result->ok());
}

TEST_F(NamingProxyLoginTest, LoginTriesTheServersInListOrder) {
  NamingProxy proxy(AuthOptions(), &http_, &clock_);
  proxy.Start();
  EXPECT_EQ(ServerOf(http_.front().url), "10.0.0.1:8848");
  http_.Fail(UnavailableError("connection refused"));
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(ServerOf(http_.front().url), "10.0.0.2:8848");
  http_.Reply(200, LoginAnswer("tok-2", 18000));
  EXPECT_EQ(proxy.access_token(), "tok-2");
}

TEST_F(NamingProxyLoginTest, RefreshesAtNinetyPercentOfTheTtl) {
  NamingProxy proxy(AuthOptions(), &http_, &clock_);
  proxy.Start();
  http_.Reply(200, LoginAnswer("tok-1", 100));
  ASSERT_EQ(http_.pending(), 0u);
  clock_.AdvanceBy(seconds(89));
  EXPECT_EQ(http_.pending(), 0u) << "no login before 90 % of the TTL";
  clock_.AdvanceBy(seconds(1));
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/auth/users/login");
  // Calls made while the refresh is in flight wait for it.
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  http_.Reply(200, LoginAnswer("tok-2", 100));
  EXPECT_EQ(proxy.access_token(), "tok-2");
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_TRUE(HasParam(http_.front().url, "accessToken", "tok-2"));
  http_.Reply(200, "x");
  // And again 90 s later.
  clock_.AdvanceBy(seconds(90));
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/auth/users/login");
}

TEST_F(NamingProxyLoginTest, LogsInAgainWhenTheTokenExpired) {
  NacosOptions options = AuthOptions();
  options.server_addresses = {"10.0.0.1:8848"};
  NamingProxy proxy(options, &http_, &clock_);
  proxy.Start();
  http_.Reply(200, LoginAnswer("tok-1", 18000));
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  ASSERT_TRUE(HasParam(http_.front().url, "accessToken", "tok-1"));
  http_.Reply(403, "token expired!");
  // A login goes out before the next try.
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/auth/users/login");
  http_.Reply(200, LoginAnswer("tok-2", 18000));
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/ns/instance/list");
  EXPECT_TRUE(HasParam(http_.front().url, "accessToken", "tok-2")) << http_.front().url;
  http_.Reply(200, "data");
  ASSERT_TRUE(out.result.has_value() && out.result->ok()) << out.result->status();
}

TEST_F(NamingProxyLoginTest, AFailedLoginIsRetriedNoSoonerThanFiveSeconds) {
  NacosOptions options = AuthOptions();
  options.server_addresses = {"10.0.0.1:8848"};
  options.max_retry = 1;
  NamingProxy proxy(options, &http_, &clock_);
  proxy.Start();
  Outcome first;
  proxy.Call(ListRequest(), first.Done());
  http_.Reply(403, "unknown user!");
  EXPECT_EQ(proxy.access_token(), "");
  // The waiting call goes out without a token; the server decides.
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/ns/instance/list");
  EXPECT_EQ(http_.front().url.find("accessToken"), std::string::npos);
  http_.Reply(403, "user not found!");
  ASSERT_TRUE(first.result.has_value());
  EXPECT_EQ(first.result->status().code(), StatusCode::kPermissionDenied);

  clock_.AdvanceBy(seconds(4));
  Outcome second;
  proxy.Call(ListRequest(), second.Done());
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/ns/instance/list") << "no login within 5 s";
  http_.Reply(200, "x");

  clock_.AdvanceBy(seconds(1));
  Outcome third;
  proxy.Call(ListRequest(), third.Done());
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/v1/auth/users/login");
  http_.Reply(200, LoginAnswer("tok", 18000));
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_TRUE(HasParam(http_.front().url, "accessToken", "tok"));
  http_.Reply(200, "x");
  EXPECT_TRUE(third.result.has_value() && third.result->ok());
}

TEST_F(NamingProxyLoginTest, NeitherPasswordNorTokenIsLogged) {
  const LogSeverity old = MinLogSeverity();
  SetMinLogSeverity(LogSeverity::kDebug);
  {
    registry::testing::LogCapture logs(LogSeverity::kDebug);
    NamingProxy proxy(AuthOptions(), &http_, &clock_);
    proxy.Start();
    http_.Reply(403, "unknown user!");  // Logged, with the user name only.
    http_.Reply(500, "");
    clock_.AdvanceBy(seconds(5));
    Outcome out;
    proxy.Call(ListRequest(), out.Done());
    http_.Reply(200, LoginAnswer("secret-token-xyz", 18000));
    http_.Reply(403, "token invalid!");  // A re-login, then the other server.
    http_.Reply(200, LoginAnswer("secret-token-abc", 18000));
    while (http_.pending() > 0) http_.Reply(500, "");
    std::vector<std::string> lines = logs.lines();
    EXPECT_FALSE(lines.empty());
    for (const std::string& line : lines) {
      EXPECT_EQ(line.find("pa55-w0rd"), std::string::npos) << line;
      EXPECT_EQ(line.find("secret-token"), std::string::npos) << line;
    }
  }
  SetMinLogSeverity(old);
}

// --- Endpoint (address server) -------------------------------------------------------------------

TEST_F(NamingProxyTest, EndpointListIsFetchedRefreshedAndKeptOnFailure) {
  NacosOptions options;
  options.endpoint = "addr.example";
  options.endpoint_port = 8080;
  options.namespace_id = "dev";
  options.endpoint_refresh_ms = 30000;
  NamingProxy proxy(options, &http_, &clock_, 3);
  proxy.Start();
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(http_.front().url, "http://addr.example:8080/nacos/serverlist?namespace=dev");

  // Calls wait for the first list.
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  EXPECT_EQ(http_.pending(), 1u);
  http_.Reply(200, "10.0.0.1:8848\n 10.0.0.2:8848 \n\n");
  EXPECT_EQ(proxy.servers(), (std::vector<std::string>{"10.0.0.1:8848", "10.0.0.2:8848"}));
  ASSERT_EQ(http_.pending(), 1u);
  const std::string server = ServerOf(http_.front().url);
  EXPECT_TRUE(server == "10.0.0.1:8848" || server == "10.0.0.2:8848") << server;
  http_.Reply(200, "x");
  ASSERT_TRUE(out.result.has_value() && out.result->ok());

  // Refreshed every endpoint_refresh_ms; a failure keeps the old list.
  clock_.AdvanceBy(milliseconds(29999));
  EXPECT_EQ(http_.pending(), 0u);
  clock_.AdvanceBy(milliseconds(1));
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(PathOf(http_.front().url), "/nacos/serverlist");
  http_.Reply(500, "down");
  EXPECT_EQ(proxy.servers(), (std::vector<std::string>{"10.0.0.1:8848", "10.0.0.2:8848"}));
  clock_.AdvanceBy(seconds(30));
  ASSERT_EQ(http_.pending(), 1u);
  http_.Fail(UnavailableError("connection refused"));
  EXPECT_EQ(proxy.servers().size(), 2u);
  clock_.AdvanceBy(seconds(30));
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, "\n");  // Unusable: kept too.
  EXPECT_EQ(proxy.servers().size(), 2u);

  // A new list replaces it.
  clock_.AdvanceBy(seconds(30));
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, "10.0.0.3:8848\n");
  EXPECT_EQ(proxy.servers(), (std::vector<std::string>{"10.0.0.3:8848"}));
  Outcome later;
  proxy.Call(ListRequest(), later.Done());
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(ServerOf(http_.front().url), "10.0.0.3:8848");
  http_.Reply(200, "y");
}

TEST_F(NamingProxyTest, EndpointInThePublicNamespaceHasNoQuery) {
  NacosOptions options;
  options.endpoint = "addr.example";
  options.endpoint_port = 9090;
  NamingProxy proxy(options, &http_, &clock_);
  proxy.Start();
  ASSERT_EQ(http_.pending(), 1u);
  EXPECT_EQ(http_.front().url, "http://addr.example:9090/nacos/serverlist");
}

TEST_F(NamingProxyTest, AFailedFirstEndpointFetchFailsWaitingCalls) {
  NacosOptions options;
  options.endpoint = "addr.example";
  NamingProxy proxy(options, &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  http_.Fail(UnavailableError("connection refused"));
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->status().code(), StatusCode::kUnavailable);
  // The refresh goes on, and a later list is used.
  clock_.AdvanceBy(milliseconds(options.endpoint_refresh_ms));
  ASSERT_EQ(http_.pending(), 1u);
  http_.Reply(200, "10.0.0.9:8848");
  EXPECT_EQ(proxy.servers(), (std::vector<std::string>{"10.0.0.9:8848"}));
}

// --- IsServerIp ----------------------------------------------------------------------------

TEST_F(NamingProxyTest, IsServerIpKnowsConfiguredLiteralsAndAnsweringPeers) {
  NamingProxy proxy(Options({"10.0.0.1:8848", "[::1]:8848", "nacos.example:8848",
                             "http://10.0.0.7:80/base"}),
                    &http_, &clock_, 1);
  proxy.Start();
  EXPECT_TRUE(proxy.IsServerIp("10.0.0.1"));
  EXPECT_TRUE(proxy.IsServerIp("::ffff:10.0.0.1"));
  EXPECT_TRUE(proxy.IsServerIp("::1"));
  EXPECT_TRUE(proxy.IsServerIp("0:0:0:0:0:0:0:1"));
  EXPECT_TRUE(proxy.IsServerIp("10.0.0.7"));
  EXPECT_FALSE(proxy.IsServerIp("10.0.0.2"));
  EXPECT_FALSE(proxy.IsServerIp("127.0.0.1"));
  EXPECT_FALSE(proxy.IsServerIp("nacos.example"));
  EXPECT_FALSE(proxy.IsServerIp(""));
  EXPECT_FALSE(proxy.IsServerIp("garbage"));
  // The address a server's answer came from (the host name's) counts from then on.
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  while (http_.pending() > 0) {
    if (ServerOf(http_.front().url) == "nacos.example:8848") {
      http_.Reply(200, "x", "192.0.2.44");
    } else {
      http_.Fail(UnavailableError("refused"));
    }
  }
  EXPECT_TRUE(proxy.IsServerIp("192.0.2.44"));
  // Even a failed status counts: the peer answered.
  Outcome again;
  proxy.Call(ListRequest(), again.Done());
  while (http_.pending() > 0) http_.Reply(500, "", "192.0.2.45");
  EXPECT_TRUE(proxy.IsServerIp("192.0.2.45"));
}

// --- Stop ------------------------------------------------------------------------------------

TEST_F(NamingProxyLoginTest, StopCancelsWaitingCallsAndTimers) {
  NamingProxy proxy(AuthOptions(), &http_, &clock_);
  proxy.Start();
  Outcome waiting;
  proxy.Call(ListRequest(), waiting.Done());  // Waits for the login.
  proxy.Stop();
  ASSERT_TRUE(waiting.result.has_value());
  EXPECT_EQ(waiting.result->status().code(), StatusCode::kCancelled);
  // The login in flight completes without effect.
  http_.Reply(200, LoginAnswer("tok", 100));
  Outcome after;
  proxy.Call(ListRequest(), after.Done());
  ASSERT_TRUE(after.result.has_value());
  EXPECT_EQ(after.result->status().code(), StatusCode::kCancelled);
  clock_.AdvanceBy(std::chrono::hours(10));
  EXPECT_EQ(http_.pending(), 0u) << "no refresh after Stop()";
}

// Fails every request at once, inside Send(), while `refuse` is set; else forwards to `inner`.
class RefusingTransport : public HttpTransport {
 public:
  explicit RefusingTransport(FakeHttpTransport* inner) : inner_(inner) {}
  void Send(HttpRequest request, std::function<void(HttpResponse)> done) override {
    if (!refuse) {
      inner_->Send(std::move(request), std::move(done));
      return;
    }
    HttpResponse response;
    response.transport_error = UnavailableError("connection refused");
    done(std::move(response));
  }
  void CancelAll() override { inner_->CancelAll(); }
  bool refuse = false;

 private:
  FakeHttpTransport* const inner_;
};

TEST_F(NamingProxyTest, TheRecoveryIsToldWhenTheFailingBeganEvenIfDoneStartsAFailingCall) {
  RefusingTransport transport(&http_);
  NacosOptions options = Options({"10.0.0.1:8848"});
  options.max_retry = 1;
  NamingProxy proxy(options, &transport, &clock_);
  std::vector<TimePoint> recoveries;
  proxy.SetRecoveryHook([&](TimePoint since) { recoveries.push_back(since); });
  proxy.Start();
  proxy.Call(ListRequest(), [](Result<std::string>) {});
  const TimePoint began = clock_.Now();
  http_.Fail();  // Every try failed: failing since `began`.
  clock_.AdvanceBy(seconds(5));
  // The answer's `done` starts a call that fails inside Send().
  proxy.Call(ListRequest(), [&](Result<std::string>) {
    transport.refuse = true;
    proxy.Call(ListRequest(), [](Result<std::string>) {});
  });
  http_.Reply(200, "{}");
  ASSERT_EQ(recoveries.size(), 1u);
  EXPECT_TRUE(recoveries[0] == began) << "the recovery was told the later failure's time";
}

TEST_F(NamingProxyTest, StopEndsACallBetweenTries) {
  NamingProxy proxy(Options({"10.0.0.1:8848"}), &http_, &clock_);
  proxy.Start();
  Outcome out;
  proxy.Call(ListRequest(), out.Done());
  proxy.Stop();
  http_.Reply(500, "");  // The try in flight fails; no other try follows.
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->status().code(), StatusCode::kCancelled);
  EXPECT_EQ(http_.pending(), 0u);
}

}  // namespace
}  // namespace dubbo::registry::nacos
