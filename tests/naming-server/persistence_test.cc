// The data directory (--data-dir): the data file's codec, the core's load and save, and the
// executable restarted on the same directory.
#include "persistence.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/manual_scheduler.h"
#include "http_types.h"
#include "naming_core.h"
#include "testing/child_process.h"
#include "testing/http_client.h"
#include "testing/temp_dir.h"

namespace dubbo::naming_server {
namespace {

using registry::ManualScheduler;
using registry::StatusCode;
using registry::testing::ChildProcess;
using registry::testing::HttpResult;
using registry::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kService[] = "/nacos/v1/ns/service?serviceName=DEFAULT_GROUP%40%40kept";
constexpr char kPersistent[] =
    "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.5&port=8080"
    "&ephemeral=false";
constexpr char kEphemeral[] =
    "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.6&port=8080";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

// One service of each kind, every field set to something other than its default.
std::vector<PersistentService> SampleData() {
  PersistentService made;
  made.namespace_id = "dev-1";
  made.service_name = "grp@@made";
  made.explicit_service = true;
  made.protect_threshold = 0.35;
  made.metadata = {{"owner", "team \"a\"\n"}, {"ü", "€"}};
  PersistentService implicit;
  implicit.namespace_id = "public";
  implicit.service_name = "DEFAULT_GROUP@@demo";
  Instance a;
  a.ip = "10.0.0.5";
  a.port = 8080;
  a.weight = 2.5;
  a.healthy = false;
  a.enabled = false;
  a.ephemeral = false;
  a.cluster_name = "c1";
  a.app = "shop";
  a.metadata = Metadata{{"version", "1.0"}, {"preserved.instance.id.generator", "snowflake"}};
  a.instance_id = "7";
  Instance b = a;
  b.ip = "fe80::1";
  b.port = 0;
  b.weight = 1e-4;
  b.healthy = true;
  b.metadata = Metadata();
  b.instance_id.clear();
  implicit.instances = {a, b};
  return {made, implicit};
}

void ExpectSameData(const std::vector<PersistentService>& got,
                    const std::vector<PersistentService>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(want[i].service_name);
    EXPECT_EQ(got[i].namespace_id, want[i].namespace_id);
    EXPECT_EQ(got[i].service_name, want[i].service_name);
    EXPECT_EQ(got[i].explicit_service, want[i].explicit_service);
    EXPECT_EQ(got[i].protect_threshold, want[i].protect_threshold);
    EXPECT_EQ(got[i].metadata, want[i].metadata);
    ASSERT_EQ(got[i].instances.size(), want[i].instances.size());
    for (size_t k = 0; k < got[i].instances.size(); ++k) {
      const Instance& g = got[i].instances[k];
      const Instance& w = want[i].instances[k];
      EXPECT_EQ(g.ip, w.ip);
      EXPECT_EQ(g.port, w.port);
      EXPECT_EQ(g.weight, w.weight);
      EXPECT_EQ(g.healthy, w.healthy);
      EXPECT_EQ(g.enabled, w.enabled);
      EXPECT_FALSE(g.ephemeral);
      EXPECT_EQ(g.cluster_name, w.cluster_name);
      EXPECT_EQ(g.app, w.app);
      EXPECT_EQ(g.metadata, w.metadata);
      EXPECT_EQ(g.instance_id, w.instance_id);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The codec.

TEST(DataCodecTest, RoundTripKeepsEveryField) {
  const std::vector<PersistentService> data = SampleData();
  const std::string text = EncodeData(data);
  EXPECT_EQ(text.rfind(R"({"format":"naming-server-data","version":1,"services":[)", 0), 0u);
  auto decoded = DecodeData(text, DataLimits());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameData(*decoded, data);
}

TEST(DataCodecTest, NonFiniteThresholdRoundTrips) {
  std::vector<PersistentService> data = SampleData();
  for (double value : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    data[0].protect_threshold = value;
    auto decoded = DecodeData(EncodeData(data), DataLimits());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    const double got = (*decoded)[0].protect_threshold;
    EXPECT_TRUE(std::isnan(value) ? std::isnan(got) : got == value) << got;
  }
}

TEST(DataCodecTest, RefusesEveryMalformedFile) {
  const std::string good = EncodeData(SampleData());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "not valid JSON"},
      {good.substr(0, good.size() / 2), "not valid JSON"},  // Truncated.
      {good.substr(0, good.size() - 1), "not valid JSON"},
      {good + "{}", "not valid JSON"},
      {replaced("\"version\":1", "\"version\":2"), "version 2; this server reads version 1"},
      {replaced("\"version\":1", "\"version\":1.0"), "version 1.0"},
      {replaced("naming-server-data", "other"), "format \"other\""},
      {replaced("\"port\":8080", "\"port\":70000"), "\"port\" is out of range: 70000"},
      {replaced("\"port\":8080", "\"port\":-1"), "out of range"},
      {replaced("\"port\":8080", "\"port\":\"8080\""), "a string at \"port\""},
      {replaced("\"weight\":2.5", "\"weight\":1e999"), "Number too big"},
      {replaced("\"healthy\":false", "\"healthy\":null"), "null at \"healthy\""},
      {replaced("\"app\":\"shop\"", "\"app\":{}"), "an object at \"app\""},
      {replaced("\"cluster\":\"c1\",", ""), "an instance needs cluster, ip and port"},
      {replaced("\"namespaceId\":\"dev-1\",", ""), "a service needs namespaceId and name"},
      {replaced("\"namespaceId\":\"dev-1\"", "\"namespaceId\":\"a/b\""), "namespaceId"},
      {replaced("\"app\":\"shop\"", "\"app\":\"shop\",\"extra\":1"), "a number at \"extra\""},
      {replaced("\"version\":\"1.0\"", "\"version\":\"1.0\",\"version\":\"2\""), "appears twice"},
      {replaced("\"shop\"", "\"\\udc00\""), "not valid UTF-8"},
      {replaced("\"shop\"", "\"sh\xff\""), "not valid UTF-8"},
      {replaced("\"shop\"", std::string("\"s\0p\"", 5)), "NUL byte"},
      {std::string(100000, '['), "an array"},  // Refused at the first level: no recursion.
      {"[]", "an array"},
      {R"({"services":[[[[[[]]]]]]})", "an array"},
      {R"({"format":"naming-server-data","version":1})", "are required"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 200));
    auto decoded = DecodeData(c.text, DataLimits());
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(c.error));
  }
}

// Every truncation and every single-byte change of a good file either decodes or is refused; a
// truncated file is always refused.
TEST(DataCodecTest, EveryTruncationAndByteChangeIsHandled) {
  const std::string good = EncodeData(SampleData());
  for (size_t length = 0; length < good.size(); ++length) {
    EXPECT_FALSE(DecodeData(good.substr(0, length), DataLimits()).ok()) << length;
  }
  for (size_t at = 0; at < good.size(); ++at) {
    for (char c : {'\0', '"', '{', ']', '9', '\xff'}) {
      std::string text = good;
      text[at] = c;
      auto decoded = DecodeData(text, DataLimits());
      EXPECT_TRUE(!decoded.ok() || decoded->size() == 2u) << at;
    }
  }
}

TEST(DataCodecTest, CountsAreCapped) {
  const std::string text = EncodeData(SampleData());  // 2 services, 2 instances.
  DataLimits limits;
  limits.max_services = 1;
  EXPECT_THAT(std::string(DecodeData(text, limits).status().message()),
              HasSubstr("more than 1 services"));
  limits = DataLimits();
  limits.max_instances = 1;
  EXPECT_THAT(std::string(DecodeData(text, limits).status().message()),
              HasSubstr("more than 1 instances"));
  limits.max_instances = 2;
  EXPECT_TRUE(DecodeData(text, limits).ok());
}

// ------------------------------------------------------------------------------------------------
// DataFile.

TEST(DataFileTest, MissingFileIsEmptyAndMissingDirectoryIsCreated) {
  TempDir tmp;
  DataFile file(tmp.File("sub"));
  auto loaded = file.Load(DataLimits());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->empty());
  EXPECT_TRUE(std::filesystem::is_directory(tmp.File("sub")));
  EXPECT_FALSE(Exists(file.path()));
}

TEST(DataFileTest, AnOlderSnapshotNeverReplacesANewerOne) {
  TempDir tmp;
  DataFile file(tmp.path());
  std::vector<PersistentService> newer = SampleData();
  std::vector<PersistentService> older = newer;
  older.pop_back();
  ASSERT_TRUE(file.Save(2, newer).ok());
  ASSERT_TRUE(file.Save(1, older).ok());  // Already covered by generation 2.
  EXPECT_EQ(ReadFile(file.path()), EncodeData(newer));
  EXPECT_FALSE(file.behind());
}

TEST(DataFileTest, BadFilesAreRefusedAndLeftAsTheyAre) {
  TempDir tmp;
  DataFile file(tmp.path());
  const std::string good = EncodeData(SampleData());
  for (const std::string& bad :
       {good.substr(0, good.size() - 10), std::string("{\"format\":\"naming-server-data\","
                                                      "\"version\":9,\"services\":[]}")}) {
    WriteFile(file.path(), bad);
    auto loaded = file.Load(DataLimits());
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(file.path()));
    EXPECT_EQ(ReadFile(file.path()), bad);
  }
  // Over the size cap (a sparse file: no disk space taken).
  ASSERT_EQ(::truncate(file.path().c_str(), static_cast<off_t>(kMaxDataFileBytes + 1)), 0);
  auto loaded = file.Load(DataLimits());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("larger than"));
  EXPECT_EQ(std::filesystem::file_size(file.path()), kMaxDataFileBytes + 1);
}

// ------------------------------------------------------------------------------------------------
// The core: what a write saves, when, and what a new core loads.

class NullSender : public UdpSender {
 public:
  void Send(const UdpEndpoint&, std::string_view) override {}
};

class DataDirTest : public ::testing::Test {
 protected:
  DataDirTest() { options_.data_dir = tmp_.File("data"); }

  std::string DataFilePath() const { return options_.data_dir + "/" + kDataFileName; }

  // A new core on the same directory, loaded.
  registry::Status Restart() {
    core_.reset();
    core_ = std::make_unique<NamingCore>(options_, &sched_, &sched_, &sender_);
    return core_->LoadData();
  }

  HttpResponse Do(const std::string& method, std::string_view target) {
    HttpRequest request;
    request.method = method;
    const size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) {
      EXPECT_TRUE(ParseFormEncoded(target.substr(q + 1), &request.params).ok()) << target;
    }
    request.user_agent = "Nacos-Java-Client:v1.4.8";
    request.peer_ip = "127.0.0.1";
    HttpResponse response = core_->Handle(request);
    if (response.shared_body) response.body = *response.shared_body;
    return response;
  }

  std::vector<PersistentService> OnDisk() const {
    auto decoded = DecodeData(ReadFile(DataFilePath()), DataLimits());
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    return decoded.ok() ? *decoded : std::vector<PersistentService>();
  }

  TempDir tmp_;
  NamingServerOptions options_;
  ManualScheduler sched_;
  NullSender sender_;
  std::unique_ptr<NamingCore> core_;  // Last: destroyed first.
};

TEST_F(DataDirTest, PersistentInstancesAndServicesSurviveARestart) {
  ASSERT_TRUE(Restart().ok());
  ASSERT_EQ(Do("POST", std::string(kService) + "&protectThreshold=0.5&metadata=team%3Dshop").status,
            200);
  ASSERT_EQ(
      Do("POST", std::string(kPersistent) + "&clusterName=c1&weight=2.5&healthy=false&app=shop"
                                            "&metadata=%7B%22version%22%3A%221.0%22%7D")
          .status,
      200);
  // Snowflake ids 0 and 1; 0 goes, so the kept id 1 is not what a fresh registration would get.
  const std::string snowflake =
      "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40ids&ephemeral=false&metadata="
      "preserved.instance.id.generator%3Dsnowflake&ip=";
  ASSERT_EQ(Do("POST", snowflake + "10.0.0.1&port=1").status, 200);
  ASSERT_EQ(Do("POST", snowflake + "10.0.0.2&port=2").status, 200);
  ASSERT_EQ(Do("DELETE", snowflake + "10.0.0.1&port=1").status, 200);
  ASSERT_EQ(Do("POST", kEphemeral).status, 200);
  const std::string detail = Do("GET", std::string(kPersistent) + "&clusterName=c1").body;
  const std::string service = Do("GET", kService).body;
  const std::string id = Do("GET", snowflake + "10.0.0.2&port=2").body;
  EXPECT_THAT(id, HasSubstr(R"("instanceId":"1")"));

  ASSERT_TRUE(Restart().ok());
  EXPECT_EQ(Do("GET", std::string(kPersistent) + "&clusterName=c1").body, detail);
  EXPECT_THAT(detail, HasSubstr(R"("healthy":false)"));  // Kept, not reset by the load.
  EXPECT_EQ(Do("GET", snowflake + "10.0.0.2&port=2").body, id);
  EXPECT_EQ(Do("GET", std::string(kEphemeral)).status, 404);
  const std::string service_after = Do("GET", kService).body;
  EXPECT_THAT(service_after, HasSubstr(R"("protectThreshold":0.5)"));
  EXPECT_THAT(service_after, HasSubstr(R"("metadata":{"team":"shop"})"));
  EXPECT_EQ(core_->stats().instances, 2u);

  // Deleting the service and the instance is kept too.
  ASSERT_EQ(Do("DELETE", kService).status, 200);
  ASSERT_EQ(Do("DELETE", std::string(kPersistent) + "&clusterName=c1").status, 200);
  ASSERT_TRUE(Restart().ok());
  EXPECT_EQ(Do("GET", kService).status, 404);
  EXPECT_EQ(core_->stats().instances, 1u);
}

TEST_F(DataDirTest, EveryPersistentWriteIsOnDiskBeforeItsAnswer) {
  ASSERT_TRUE(Restart().ok());
  ASSERT_EQ(Do("POST", kPersistent).status, 200);
  ASSERT_EQ(OnDisk().size(), 1u);
  EXPECT_EQ(OnDisk()[0].instances.at(0).weight, 1.0);
  ASSERT_EQ(Do("PUT", std::string(kPersistent) + "&weight=3").status, 200);
  EXPECT_EQ(OnDisk()[0].instances.at(0).weight, 3.0);
  ASSERT_EQ(Do("PATCH", std::string(kPersistent) + "&enabled=false").status, 200);
  EXPECT_FALSE(OnDisk()[0].instances.at(0).enabled);
  ASSERT_EQ(Do("POST", kService).status, 200);
  EXPECT_EQ(OnDisk().size(), 2u);
  ASSERT_EQ(Do("PUT", std::string(kService) + "&protectThreshold=0.25").status, 200);
  EXPECT_EQ(OnDisk()[1].protect_threshold, 0.25);
  ASSERT_EQ(Do("DELETE", kPersistent).status, 200);
  ASSERT_EQ(Do("DELETE", kService).status, 200);
  EXPECT_TRUE(OnDisk().empty());
}

TEST_F(DataDirTest, EphemeralChangesNeverWrite) {
  ASSERT_TRUE(Restart().ok());
  ASSERT_EQ(Do("POST", kEphemeral).status, 200);
  ASSERT_EQ(Do("PUT",
               "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo&"
               "ip=10.0.0.6&port=8080")
                .status,
            200);
  ASSERT_EQ(Do("PATCH", std::string(kEphemeral) + "&weight=2").status, 200);
  ASSERT_EQ(Do("DELETE", kEphemeral).status, 200);
  ASSERT_EQ(Do("POST", std::string(kEphemeral) + "&ephemeral=true").status, 200);
  sched_.AdvanceBy(std::chrono::seconds(40));  // Unhealthy, then deleted by the sweep.
  EXPECT_EQ(core_->stats().instances, 0u);
  EXPECT_FALSE(Exists(DataFilePath()));
}

TEST_F(DataDirTest, AFailedWriteAnswers500KeepsTheChangeAndIsRetried) {
  ASSERT_TRUE(Restart().ok());
  ASSERT_EQ(Do("POST", kService).status, 200);
  // The directory goes away (a read-only or full disk fails the same way: the write errors).
  const std::string moved = tmp_.File("moved");
  std::filesystem::rename(options_.data_dir, moved);
  const HttpResponse failed = Do("POST", kPersistent);
  EXPECT_EQ(failed.status, 500);
  EXPECT_THAT(failed.body, HasSubstr("not saved to the data directory"));
  EXPECT_THAT(failed.body, HasSubstr(kDataFileName));
  EXPECT_EQ(Do("GET", kPersistent).status, 200);  // Kept in memory.
  EXPECT_THAT(Do("GET", "/nacos/actuator/prometheus").body,
              HasSubstr("naming_server_data_save_failures_total 1\n"));

  // Writable again: the next persistent write saves everything.
  std::filesystem::rename(moved, options_.data_dir);
  ASSERT_EQ(Do("PATCH", std::string(kPersistent) + "&weight=2").status, 200);
  ASSERT_EQ(OnDisk().size(), 2u);
  EXPECT_EQ(OnDisk()[0].instances.size(), 1u);

  // A failure that no write follows is retried by the health timer.
  std::filesystem::rename(options_.data_dir, moved);
  EXPECT_EQ(Do("DELETE", kPersistent).status, 500);
  std::filesystem::rename(moved, options_.data_dir);
  sched_.AdvanceBy(std::chrono::milliseconds(options_.health_check_period_ms));
  ASSERT_EQ(OnDisk().size(), 1u);
  EXPECT_TRUE(OnDisk()[0].instances.empty());
}

TEST_F(DataDirTest, ConcurrentWritesAllReachTheFile) {
  ASSERT_TRUE(Restart().ok());
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string target =
            "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ephemeral=false&ip=10.0." +
            std::to_string(t) + "." + std::to_string(i) + "&port=8080";
        if (Do("POST", target).status != 200) ++failures;
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(failures.load(), 0);
  // Each answer came after a snapshot holding its change: the file holds them all.
  ASSERT_EQ(OnDisk().size(), 1u);
  EXPECT_EQ(OnDisk()[0].instances.size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(DataDirTest, ShutdownTriesOnceMoreWhenTheFileIsBehind) {
  ASSERT_TRUE(Restart().ok());
  const std::string moved = tmp_.File("moved");
  std::filesystem::create_directories(options_.data_dir);
  std::filesystem::rename(options_.data_dir, moved);
  EXPECT_EQ(Do("POST", kPersistent).status, 500);
  std::filesystem::rename(moved, options_.data_dir);
  core_->Shutdown();
  ASSERT_EQ(OnDisk().size(), 1u);
  EXPECT_EQ(OnDisk()[0].instances.size(), 1u);
}

TEST_F(DataDirTest, ARecordTheStoreRefusesStopsTheLoad) {
  std::vector<PersistentService> data = SampleData();
  data[1].instances[0].ip = "not an ip";
  std::filesystem::create_directories(options_.data_dir);
  WriteFile(DataFilePath(), EncodeData(data));
  const registry::Status loaded = Restart();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.message()), HasSubstr("not an ip:8080 in cluster c1"));
  EXPECT_EQ(ReadFile(DataFilePath()), EncodeData(data));

  // So does the same persistent instance twice.
  data = SampleData();
  data[1].instances[1] = data[1].instances[0];
  data[1].instances[1].instance_id.clear();
  WriteFile(DataFilePath(), EncodeData(data));
  EXPECT_THAT(std::string(Restart().message()), HasSubstr("appears twice"));
}

// The gRPC path stores any finite weight; a restart keeps it rather than refusing the file.
TEST_F(DataDirTest, AWeightOutsideTheV1RangeIsKeptByTheLoad) {
  std::vector<PersistentService> data = SampleData();
  data[1].instances[0].weight = 10001;
  data[1].instances[1].weight = -1;
  std::filesystem::create_directories(options_.data_dir);
  WriteFile(DataFilePath(), EncodeData(data));
  ASSERT_TRUE(Restart().ok());
  EXPECT_EQ(core_->stats().instances, 2u);
  // The next save writes the loaded weights back unchanged.
  ASSERT_EQ(Do("POST", kService).status, 200);
  bool found = false;
  for (const PersistentService& service : OnDisk()) {
    if (service.service_name != data[1].service_name) continue;
    found = true;
    ASSERT_EQ(service.instances.size(), 2u);
    EXPECT_EQ(service.instances[0].weight, 10001.0);
    EXPECT_EQ(service.instances[1].weight, -1.0);
  }
  EXPECT_TRUE(found);
}

TEST_F(DataDirTest, NamingServerStartFailsOnACorruptFile) {
  std::filesystem::create_directories(options_.data_dir);
  WriteFile(DataFilePath(), "{\"format\":");
  options_.port = 0;
  auto server = NamingServer::Start(options_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr(DataFilePath()));
  EXPECT_EQ(ReadFile(DataFilePath()), "{\"format\":");
}

// ------------------------------------------------------------------------------------------------
// The executable, stopped with SIGTERM and started again on the same directory.

class Binary {
 public:
  explicit Binary(const std::string& data_dir)
      : process_({NAMING_SERVER_BINARY, "--port", "0", "--data-dir", data_dir}) {
    if (std::optional<std::string> port =
            process_.WaitForMatch("listening on http://[^:]+:([0-9]+)")) {
      port_ = static_cast<uint16_t>(std::stoi(*port));
    }
  }
  uint16_t port() const { return port_; }
  int Stop() {
    process_.Signal(SIGTERM);
    return process_.Wait();
  }
  ChildProcess& process() { return process_; }

 private:
  ChildProcess process_;
  uint16_t port_ = 0;
};

TEST(DataDirBinaryTest, KeepsPersistentInstancesAndServicesAcrossARestart) {
  TempDir tmp;
  const std::string dir = tmp.File("data");
  {
    Binary server(dir);
    ASSERT_NE(server.port(), 0) << server.process().Log();
    EXPECT_EQ(registry::testing::HttpRequest(server.port(), "POST",
                                             std::string(kService) + "&protectThreshold=0.5")
                  .status,
              200);
    EXPECT_EQ(registry::testing::HttpRequest(server.port(), "POST", kPersistent).status, 200);
    EXPECT_EQ(registry::testing::HttpRequest(server.port(), "POST", kEphemeral).status, 200);
    EXPECT_EQ(server.Stop(), 0) << server.process().Log();
  }
  Binary server(dir);
  ASSERT_NE(server.port(), 0) << server.process().Log();
  const HttpResult list = registry::testing::HttpRequest(
      server.port(), "GET", "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo");
  EXPECT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr(R"("ip":"10.0.0.5")"));
  EXPECT_THAT(list.body, HasSubstr(R"("ephemeral":false)"));
  EXPECT_THAT(list.body, Not(HasSubstr(R"("ip":"10.0.0.6")")));
  const HttpResult service = registry::testing::HttpRequest(server.port(), "GET", kService);
  EXPECT_EQ(service.status, 200);
  EXPECT_THAT(service.body, HasSubstr(R"("protectThreshold":0.5)"));
  EXPECT_EQ(server.Stop(), 0) << server.process().Log();

  // A corrupt file stops the start with a message naming it, and stays as it was.
  WriteFile(dir + "/" + kDataFileName, "{\"format\":\"naming-server-data\",\"version\":1");
  ChildProcess refused({NAMING_SERVER_BINARY, "--port", "0", "--data-dir", dir});
  EXPECT_TRUE(refused.WaitUntil([](const std::string& output) {
    return output.find(kDataFileName) != std::string::npos;
  })) << refused.Log();
  EXPECT_EQ(refused.Wait(), 1);
  EXPECT_EQ(ReadFile(dir + "/" + kDataFileName),
            "{\"format\":\"naming-server-data\",\"version\":1");
}

}  // namespace
}  // namespace dubbo::naming_server
