// Tests for InstanceStore: validation messages, identity and ids, beats, the list selection
// algorithm, the health sweep and the service operations, including the applicable test vectors of
// the Nacos v1 naming API. Time moves only through ManualScheduler; nothing sleeps.
#include "instance_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "naming_json.h"

namespace dubbo::naming_server {
namespace {

using registry::StatusCode;
using std::chrono::milliseconds;

constexpr char kDemo[] = "DEFAULT_GROUP@@demo";

InstanceSpec Spec(std::string ip = "10.0.0.5", int port = 8080, std::string service = kDemo) {
  InstanceSpec spec;
  spec.service_name = std::move(service);
  spec.ip = std::move(ip);
  spec.port = port;
  return spec;
}

InstanceKey Key(std::string ip = "10.0.0.5", int port = 8080, std::string service = kDemo) {
  InstanceKey key;
  key.service_name = std::move(service);
  key.ip = std::move(ip);
  key.port = port;
  return key;
}

class InstanceStoreTest : public ::testing::Test {
 protected:
  InstanceStoreTest() { Watch(store_); }

  void Watch(InstanceStore& store) {
    store.SetChangeHook([this](const std::string& ns, const std::string& service) {
      changes_.push_back(ns + "/" + service);
    });
  }

  ServiceSnapshot ListOf(const std::string& service = kDemo, const std::string& clusters = "",
                         bool healthy_only = false, InstanceStore* store = nullptr) {
    ListQuery query;
    query.service_name = service;
    query.clusters = clusters;
    query.healthy_only = healthy_only;
    Result<ServiceSnapshot> snapshot = (store ? store : &store_)->List(query);
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    return snapshot.ok() ? *snapshot : ServiceSnapshot();
  }

  Instance Detail(const InstanceKey& key = Key()) {
    Result<Instance> instance = store_.GetInstance(key);
    EXPECT_TRUE(instance.ok()) << instance.status();
    return instance.ok() ? *instance : Instance();
  }

  // Moves time and runs one health sweep.
  HealthSweepResult SweepAfter(milliseconds delta, InstanceStore* store = nullptr) {
    clock_.AdvanceBy(delta);
    return (store ? store : &store_)->CheckHealth();
  }

  void ExpectInvalid(const Status& status, const std::string& message) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(status.message(), message);
  }

  registry::ManualScheduler clock_;
  InstanceStore store_{&clock_};
  std::vector<std::string> changes_;
};

// ---- names ------------------------------------------------------------------------------------

TEST(ServiceNameTest, GroupedUngroupedAndGroup) {
  EXPECT_EQ(GroupedServiceName("orders", "G1"), "G1@@orders");
  EXPECT_EQ(GroupedServiceName("orders", ""), "DEFAULT_GROUP@@orders");
  EXPECT_EQ(GroupedServiceName("G2@@orders", "G1"), "G2@@orders");
  EXPECT_EQ(UngroupedServiceName("G1@@orders"), "orders");
  EXPECT_EQ(UngroupedServiceName("orders"), "orders");
  EXPECT_EQ(UngroupedServiceName("a@@b@@c"), "b");
  EXPECT_EQ(UngroupedServiceName("a@@"), "");
  EXPECT_EQ(GroupNameOf("G1@@orders"), "G1");
  EXPECT_EQ(GroupNameOf("orders"), "DEFAULT_GROUP");
}

TEST(ServiceNameTest, CheckServiceNameFormat) {
  const std::string format =
      "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'";
  const std::string group = "Param 'serviceName' is illegal, groupName can't be empty";
  EXPECT_TRUE(CheckServiceNameFormat("DEFAULT_GROUP@@demo").ok());
  EXPECT_TRUE(CheckServiceNameFormat("a@@b@@c").ok());
  EXPECT_EQ(CheckServiceNameFormat("grp@@").message(), format);
  EXPECT_EQ(CheckServiceNameFormat("demo").message(), format);
  EXPECT_EQ(CheckServiceNameFormat("@@").message(), format);
  EXPECT_EQ(CheckServiceNameFormat("").message(), format);
  EXPECT_EQ(CheckServiceNameFormat("@@demo").message(), group);
  EXPECT_EQ(CheckServiceNameFormat("@@@@demo").message(), group);
}

// ---- register ---------------------------------------------------------------------------------

TEST_F(InstanceStoreTest, TV1_RegisterGivesSimpleInstanceId) {
  InstanceSpec spec = Spec();
  spec.namespace_id = "public";
  spec.cluster_name = "DEFAULT";
  spec.metadata = {{"version", "1.0"}};
  spec.app = "unknown";
  ASSERT_TRUE(store_.Register(spec).ok());
  const Instance instance = Detail();
  EXPECT_EQ(instance.instance_id, "10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo");
  EXPECT_EQ(instance.service_name, kDemo);
  EXPECT_EQ(instance.cluster_name, "DEFAULT");
  EXPECT_EQ(instance.app, "unknown");
  EXPECT_TRUE(instance.healthy);
  EXPECT_TRUE(instance.enabled);
  EXPECT_TRUE(instance.ephemeral);
  EXPECT_EQ(instance.metadata, (Metadata{{"version", "1.0"}}));
  EXPECT_EQ(changes_, std::vector<std::string>{"public/DEFAULT_GROUP@@demo"});
}

TEST_F(InstanceStoreTest, TV2_BareNamePlusGroupIsStoredGrouped) {
  ASSERT_TRUE(store_.Register(Spec("10.0.0.6", 9000, GroupedServiceName("orders", "G1"))).ok());
  const ServiceSnapshot snapshot = ListOf("G1@@orders");
  EXPECT_TRUE(snapshot.found);
  ASSERT_EQ(snapshot.hosts.size(), 1u);
  EXPECT_EQ(snapshot.hosts[0].ip, "10.0.0.6");
  EXPECT_EQ(snapshot.hosts[0].instance_id, "10.0.0.6#9000#DEFAULT#G1@@orders");
  EXPECT_FALSE(ListOf("DEFAULT_GROUP@@orders").found);
}

TEST_F(InstanceStoreTest, TV3_ValidationMessages) {
  InstanceSpec spec = Spec();
  spec.weight = 10001;
  ExpectInvalid(store_.Register(spec),
                "instance format invalid: The weights range from 0.0 to 10000.0");

  ExpectInvalid(store_.Register(Spec("10.0.0.5", 8080, "@@demo")),
                "Param 'serviceName' is illegal, groupName can't be empty");

  ExpectInvalid(store_.Register(Spec("", 8080)), "Param 'ip' is required.");

  spec = Spec();
  spec.cluster_name = "c_1";
  ExpectInvalid(store_.Register(spec),
                "cluster name can only have these characters: 0-9a-zA-Z-, current: c_1");
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, RequiredAndFormatChecksComeFirst) {
  ExpectInvalid(store_.Register(Spec("10.0.0.5", 8080, "")), "Param 'serviceName' is required.");
  ExpectInvalid(store_.Register(Spec("", 8080, "grp@@")),
                "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'");
  InstanceSpec spec = Spec("10.0.0", 8080);
  spec.weight = -1;  // The ip is checked before the weight.
  ExpectInvalid(store_.Register(spec),
                "instance format invalid: Your IP address is spelled incorrectly");
}

TEST_F(InstanceStoreTest, IpCheckAppliesOnlyToDigitsAndDots) {
  const std::string bad = "instance format invalid: Your IP address is spelled incorrectly";
  ExpectInvalid(store_.Register(Spec("10.0.0", 80)), bad);
  ExpectInvalid(store_.Register(Spec("10.0.0.5.6", 80)), bad);
  ExpectInvalid(store_.Register(Spec("1234.0.0.1", 80)), bad);
  ExpectInvalid(store_.Register(Spec("10..0.5", 80)), bad);
  ExpectInvalid(store_.Register(Spec("10.0.0.5.", 80)), bad);
  ExpectInvalid(store_.Register(Spec("10.0.0.5", 100000)), bad);
  ExpectInvalid(store_.Register(Spec("10.0.0.5", -1)), bad);
  ExpectInvalid(store_.Register(Spec("12345", 80)), bad);
  EXPECT_TRUE(store_.Register(Spec("10.0.0.5", 0)).ok());
  EXPECT_TRUE(store_.Register(Spec("10.0.0.5", 99999)).ok());
  EXPECT_TRUE(store_.Register(Spec("999.999.999.999", 80)).ok());  // Nacos's regex allows it.
  EXPECT_TRUE(store_.Register(Spec("provider-1.example.com", 80)).ok());
  EXPECT_TRUE(store_.Register(Spec("fe80::1", 80)).ok());
}

TEST_F(InstanceStoreTest, WeightRangeAndClamping) {
  const std::string bad = "instance format invalid: The weights range from 0.0 to 10000.0";
  InstanceSpec spec = Spec();
  spec.weight = -0.1;
  ExpectInvalid(store_.Register(spec), bad);
  spec.weight = std::nan("");
  ExpectInvalid(store_.Register(spec), bad);

  spec.weight = 0.005;
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_DOUBLE_EQ(Detail().weight, 0.01);
  spec.weight = 0;
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_DOUBLE_EQ(Detail().weight, 0.0);
  spec.weight = 10000;
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_DOUBLE_EQ(Detail().weight, 10000.0);
}

TEST_F(InstanceStoreTest, NewServiceNameCharacters) {
  ExpectInvalid(store_.Register(Spec("10.0.0.5", 80, "DEFAULT_GROUP@@de mo")),
                "dom name can only have these characters: 0-9a-zA-Z-._:, current: "
                "DEFAULT_GROUP@@de mo");
  EXPECT_EQ(store_.ServiceCount(), 0u);
  EXPECT_TRUE(store_.Register(Spec("10.0.0.5", 80, "G-1.x:y_z@@a.b:c_d-e")).ok());
}

TEST_F(InstanceStoreTest, RefusedClusterNameCreatesNothing) {
  InstanceSpec spec = Spec();
  spec.cluster_name = "c_1";
  ExpectInvalid(store_.Register(spec),
                "cluster name can only have these characters: 0-9a-zA-Z-, current: c_1");
  // A full beat for an unknown instance registers it: the same check, before anything exists.
  BeatRequest beat;
  beat.service_name = kDemo;
  beat.beat = BeatInfo{};
  beat.beat->ip = "10.0.0.5";
  beat.beat->port = 8080;
  beat.beat->cluster = "c_1";
  EXPECT_FALSE(store_.Beat(beat).ok());
  EXPECT_EQ(store_.ServiceCount(), 0u);
  EXPECT_EQ(store_.InstanceCount(), 0u);
  EXPECT_EQ(store_.BytesHeld(), 0u);
  EXPECT_EQ(store_.Revision("public", kDemo), 0u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, ClusterLeavesWithItsLastInstance) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  const size_t base = store_.BytesHeld();
  // Register-then-deregister with a new cluster each time leaves nothing behind.
  for (int i = 0; i < 50; ++i) {
    InstanceSpec spec = Spec("10.0.0.6");
    spec.cluster_name = "c" + std::to_string(i);
    ASSERT_TRUE(store_.Register(spec).ok());
    EXPECT_GT(store_.BytesHeld(), base);
    InstanceKey key = Key("10.0.0.6");
    key.cluster_name = spec.cluster_name;
    ASSERT_TRUE(store_.Deregister(key).ok());
    EXPECT_EQ(store_.BytesHeld(), base);
  }
  Result<ServiceInfo> info = store_.GetService("public", kDemo);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->clusters, std::vector<std::string>{"DEFAULT"});

  // The sweep removes an expired instance's cluster too; a cluster that keeps one stays.
  InstanceSpec expiring = Spec("10.0.0.7");
  expiring.cluster_name = "gone";
  ASSERT_TRUE(store_.Register(expiring).ok());
  InstanceSpec kept = Spec("10.0.0.8");
  kept.cluster_name = "kept";
  kept.ephemeral = false;
  ASSERT_TRUE(store_.Register(kept).ok());
  EXPECT_EQ(SweepAfter(milliseconds(30001)).deleted, 2u);  // 10.0.0.5 and 10.0.0.7.
  info = store_.GetService("public", kDemo);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->clusters, std::vector<std::string>{"kept"});
  InstanceKey key = Key("10.0.0.8");
  key.cluster_name = "kept";
  key.ephemeral = false;
  ASSERT_TRUE(store_.Deregister(key).ok());
  info = store_.GetService("public", kDemo);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->clusters.empty());
}

TEST_F(InstanceStoreTest, HeartbeatIntervalMustNotExceedTimeouts) {
  const std::string bad =
      "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.";
  InstanceSpec spec = Spec();
  spec.metadata = {{std::string(kHeartBeatTimeoutKey), "3000"}};
  ExpectInvalid(store_.Register(spec), bad);
  spec.metadata = {{std::string(kHeartBeatIntervalKey), "20000"}};
  ExpectInvalid(store_.Register(spec), bad);
  spec.metadata = {{std::string(kIpDeleteTimeoutKey), "4999"}};
  ExpectInvalid(store_.Register(spec), bad);
  spec.metadata = {{std::string(kHeartBeatIntervalKey), "1000"},
                   {std::string(kHeartBeatTimeoutKey), "1000"},
                   {std::string(kIpDeleteTimeoutKey), "6000"}};
  EXPECT_TRUE(store_.Register(spec).ok());
  spec.metadata = {{std::string(kHeartBeatTimeoutKey), "3s"}};  // Not digits: the default.
  EXPECT_TRUE(store_.Register(spec).ok());
}

TEST_F(InstanceStoreTest, SnowflakeIdsAreSmallestFreeIntegers) {
  auto snowflake = [](std::string ip, std::string cluster = "DEFAULT") {
    InstanceSpec spec = Spec(std::move(ip));
    spec.cluster_name = std::move(cluster);
    spec.metadata = {{std::string(kInstanceIdGeneratorKey), "SnowFlake"}};
    return spec;
  };
  ASSERT_TRUE(store_.Register(snowflake("10.0.0.1")).ok());
  ASSERT_TRUE(store_.Register(snowflake("10.0.0.2", "other")).ok());
  ASSERT_TRUE(store_.Register(snowflake("10.0.0.3")).ok());
  EXPECT_EQ(Detail(Key("10.0.0.1")).instance_id, "0");
  InstanceKey other = Key("10.0.0.2");
  other.cluster_name = "other";
  EXPECT_EQ(Detail(other).instance_id, "1");
  EXPECT_EQ(Detail(Key("10.0.0.3")).instance_id, "2");

  ASSERT_TRUE(store_.Deregister(Key("10.0.0.1")).ok());
  ASSERT_TRUE(store_.Register(snowflake("10.0.0.4")).ok());
  EXPECT_EQ(Detail(Key("10.0.0.4")).instance_id, "0");
  ASSERT_TRUE(store_.Register(snowflake("10.0.0.3")).ok());  // Re-register keeps its id.
  EXPECT_EQ(Detail(Key("10.0.0.3")).instance_id, "2");
}

TEST_F(InstanceStoreTest, ReRegisterKeepsIdAndHealthAndReplacesTheRest) {
  InstanceSpec spec = Spec();
  spec.metadata = {{"a", "1"}, {std::string(kInstanceIdGeneratorKey), "snowflake"}};
  spec.app = "app1";
  ASSERT_TRUE(store_.Register(spec).ok());
  SweepAfter(milliseconds(15001));
  ASSERT_FALSE(Detail().healthy);

  InstanceSpec again = Spec();
  again.weight = 3;
  again.enabled = false;
  again.healthy = true;  // Ignored for an existing instance.
  changes_.clear();
  ASSERT_TRUE(store_.Register(again).ok());
  const Instance instance = Detail();
  EXPECT_EQ(instance.instance_id, "0");
  EXPECT_FALSE(instance.healthy);
  EXPECT_DOUBLE_EQ(instance.weight, 3.0);
  EXPECT_FALSE(instance.enabled);
  EXPECT_TRUE(instance.metadata.empty());
  EXPECT_EQ(instance.app, "DEFAULT");
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, ReRegisterResetsTheLastBeat) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  clock_.AdvanceBy(milliseconds(10000));
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(10000));
  EXPECT_TRUE(Detail().healthy);
  SweepAfter(milliseconds(5001));
  EXPECT_FALSE(Detail().healthy);
}

TEST_F(InstanceStoreTest, HealthyParamHonouredForNewAndMarkedInstances) {
  InstanceSpec spec = Spec();
  spec.healthy = false;
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_FALSE(Detail().healthy);

  InstanceSpec marked = Spec("10.0.0.6");
  marked.marked = true;
  ASSERT_TRUE(store_.Register(marked).ok());
  marked.healthy = false;
  ASSERT_TRUE(store_.Register(marked).ok());
  EXPECT_FALSE(Detail(Key("10.0.0.6")).healthy);
}

TEST_F(InstanceStoreTest, EphemeralAndPersistentInstancesAreDistinct) {
  InstanceSpec persistent = Spec();
  persistent.ephemeral = false;
  ASSERT_TRUE(store_.Register(persistent).ok());
  ASSERT_TRUE(store_.Register(Spec()).ok());
  EXPECT_EQ(store_.InstanceCount(), 2u);
  EXPECT_FALSE(Detail().ephemeral);  // Detail finds the persistent one first.

  ASSERT_TRUE(store_.Deregister(Key()).ok());  // ephemeral defaults to true
  EXPECT_EQ(store_.InstanceCount(), 1u);
  EXPECT_FALSE(Detail().ephemeral);
  InstanceKey key = Key();
  key.ephemeral = false;
  ASSERT_TRUE(store_.Deregister(key).ok());
  EXPECT_EQ(store_.InstanceCount(), 0u);
}

TEST_F(InstanceStoreTest, DefaultEphemeralOptionApplies) {
  InstanceStoreOptions options;
  options.default_ephemeral = false;
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec()).ok());
  Result<Instance> instance = store.GetInstance(Key());
  ASSERT_TRUE(instance.ok());
  EXPECT_FALSE(instance->ephemeral);
}

TEST_F(InstanceStoreTest, EmptyDefaultsAreFilledIn) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  InstanceKey key = Key();
  key.namespace_id = "public";
  key.cluster_name = "DEFAULT";
  EXPECT_EQ(Detail(key).cluster_name, "DEFAULT");
  ASSERT_TRUE(store_.GetService("public", kDemo).ok());
  InstanceSpec other = Spec();
  other.namespace_id = "dev";
  ASSERT_TRUE(store_.Register(other).ok());
  EXPECT_EQ(store_.ServiceCount(), 2u);
  EXPECT_EQ(changes_.back(), "dev/DEFAULT_GROUP@@demo");
}

// ---- deregister, update, patch, detail --------------------------------------------------------

TEST_F(InstanceStoreTest, TV10_RepeatedDeregisterIsOk) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  changes_.clear();
  InstanceKey key = Key();
  key.namespace_id = "public";
  key.cluster_name = "DEFAULT";
  key.ephemeral = true;
  EXPECT_TRUE(store_.Deregister(key).ok());
  EXPECT_TRUE(store_.Deregister(key).ok());
  EXPECT_TRUE(store_.Deregister(Key("10.0.0.5", 8080, "DEFAULT_GROUP@@nope")).ok());
  EXPECT_EQ(changes_.size(), 1u);
  EXPECT_EQ(store_.InstanceCount(), 0u);
  ExpectInvalid(store_.Deregister(Key("10.0.0.5", 8080, "@@demo")),
                "Param 'serviceName' is illegal, groupName can't be empty");
}

TEST_F(InstanceStoreTest, DeregisterNeedsTheSameKind) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  InstanceKey key = Key();
  key.ephemeral = false;
  EXPECT_TRUE(store_.Deregister(key).ok());
  EXPECT_EQ(store_.InstanceCount(), 1u);
}

TEST_F(InstanceStoreTest, UpdateWithoutStrictRegisters) {
  ASSERT_TRUE(store_.Update(Spec(), /*strict=*/false).ok());
  EXPECT_EQ(store_.InstanceCount(), 1u);
}

TEST_F(InstanceStoreTest, StrictUpdateNeedsServiceAndInstance) {
  ExpectInvalid(store_.Update(Spec(), true),
                "service not found, namespace: public, service: DEFAULT_GROUP@@demo");
  ASSERT_TRUE(store_.Register(Spec("10.0.0.9")).ok());
  InstanceSpec spec = Spec();
  spec.weight = 2;
  ExpectInvalid(store_.Update(spec, true),
                "instance not exist: 10.0.0.5:8080:unknown:DEFAULT_2.0_true_false_DEFAULT");
  spec.weight = 0.0001;
  spec.healthy = false;
  spec.cluster_name = "c1";
  ExpectInvalid(store_.Update(spec, true),
                "instance not exist: 10.0.0.5:8080:unknown:c1_1.0E-4_false_false_c1");
  spec = Spec("10.0.0.9");
  spec.ephemeral = false;
  ExpectInvalid(store_.Update(spec, true),
                "instance not exist: 10.0.0.9:8080:unknown:DEFAULT_1.0_true_false_DEFAULT");
}

TEST_F(InstanceStoreTest, StrictUpdateReplacesAndKeepsHealth) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(15001));
  InstanceSpec spec = Spec();
  spec.weight = 5;
  spec.metadata = {{"v", "2"}};
  changes_.clear();
  ASSERT_TRUE(store_.Update(spec, true).ok());
  const Instance instance = Detail();
  EXPECT_DOUBLE_EQ(instance.weight, 5.0);
  EXPECT_EQ(instance.metadata, (Metadata{{"v", "2"}}));
  EXPECT_FALSE(instance.healthy);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, PatchChangesOnlyGivenFields) {
  InstanceSpec spec = Spec();
  spec.metadata = {{"a", "1"}};
  spec.app = "app";
  ASSERT_TRUE(store_.Register(spec).ok());
  changes_.clear();

  InstancePatch patch;
  patch.weight = 7;
  patch.healthy = false;
  ASSERT_TRUE(store_.Patch(Key(), patch).ok());
  Instance instance = Detail();
  EXPECT_DOUBLE_EQ(instance.weight, 7.0);
  EXPECT_FALSE(instance.healthy);
  EXPECT_TRUE(instance.enabled);
  EXPECT_EQ(instance.metadata, (Metadata{{"a", "1"}}));
  EXPECT_EQ(instance.app, "app");

  patch = InstancePatch();
  patch.metadata = Metadata{{"b", "2"}};
  patch.enabled = false;
  patch.app = "other";
  ASSERT_TRUE(store_.Patch(Key(), patch).ok());
  instance = Detail();
  EXPECT_EQ(instance.metadata, (Metadata{{"b", "2"}}));
  EXPECT_FALSE(instance.enabled);
  EXPECT_EQ(instance.app, "other");
  EXPECT_EQ(changes_.size(), 2u);
}

TEST_F(InstanceStoreTest, PatchErrors) {
  ExpectInvalid(store_.Patch(Key(), InstancePatch()), "instance not found");
  ASSERT_TRUE(store_.Register(Spec()).ok());
  InstanceKey other_cluster = Key();
  other_cluster.cluster_name = "c1";
  ExpectInvalid(store_.Patch(other_cluster, InstancePatch()), "instance not found");
  InstancePatch patch;
  patch.weight = 10000.5;
  ExpectInvalid(store_.Patch(Key(), patch),
                "instance format invalid: The weights range from 0.0 to 10000.0");
  EXPECT_DOUBLE_EQ(Detail().weight, 1.0);
}

TEST_F(InstanceStoreTest, DetailNotFoundMessages) {
  auto expect_not_found = [this](const InstanceKey& key, const std::string& message) {
    Result<Instance> instance = store_.GetInstance(key);
    ASSERT_FALSE(instance.ok());
    EXPECT_EQ(instance.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(instance.status().message(), message);
  };
  expect_not_found(Key(), "no service DEFAULT_GROUP@@demo found!");
  ASSERT_TRUE(store_.Register(Spec()).ok());
  InstanceKey key = Key();
  key.cluster_name = "c1";
  expect_not_found(key, "no ips found for cluster c1 in service DEFAULT_GROUP@@demo");
  expect_not_found(Key("10.0.0.5", 8081), "no matched ip found!");
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  expect_not_found(Key(), "no ips found for cluster DEFAULT in service DEFAULT_GROUP@@demo");
}

// ---- beat -------------------------------------------------------------------------------------

TEST_F(InstanceStoreTest, TV5_LightBeatForUnknownInstance) {
  BeatRequest request;
  request.service_name = kDemo;
  request.ip = "10.9.9.9";
  request.port = 1;
  Result<BeatResult> result = store_.Beat(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->found);
  EXPECT_EQ(result->code(), 20404);
  EXPECT_EQ(RenderBeatResult(*result), R"({"clientBeatInterval":5000,"code":20404})");
  EXPECT_EQ(store_.ServiceCount(), 0u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, TV4_FullBeatRecreatesExpiredInstance) {
  InstanceSpec spec = Spec();
  spec.metadata = {{"version", "1.0"}};
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_EQ(SweepAfter(milliseconds(30001)).deleted, 1u);
  ASSERT_EQ(store_.InstanceCount(), 0u);
  changes_.clear();

  Result<BeatInfo> beat = ParseBeatInfo(
      R"({"port":8080,"ip":"10.0.0.5","weight":1.0,"serviceName":"DEFAULT_GROUP@@demo",)"
      R"("cluster":"DEFAULT","metadata":{"version":"1.0"},"scheduled":false,"period":5000,)"
      R"("stopped":false})");
  ASSERT_TRUE(beat.ok()) << beat.status();
  BeatRequest request;
  request.namespace_id = "public";
  request.service_name = kDemo;
  request.cluster_name = "DEFAULT";
  request.ip = "10.0.0.5";
  request.port = 8080;
  request.beat = *beat;
  Result<BeatResult> result = store_.Beat(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(RenderBeatResult(*result),
            R"({"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true})");

  const Instance instance = Detail();
  EXPECT_EQ(instance.instance_id, "10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo");
  EXPECT_EQ(instance.metadata, (Metadata{{"version", "1.0"}}));
  EXPECT_TRUE(instance.healthy);
  EXPECT_TRUE(instance.enabled);
  EXPECT_EQ(changes_, std::vector<std::string>{"public/DEFAULT_GROUP@@demo"});
}

TEST_F(InstanceStoreTest, BeatRevivesUnhealthyInstanceOnce) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(16000));
  ASSERT_FALSE(Detail().healthy);
  changes_.clear();

  BeatRequest request;
  request.service_name = kDemo;
  request.ip = "10.0.0.5";
  request.port = 8080;
  Result<BeatResult> result = store_.Beat(request);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->found);
  EXPECT_TRUE(Detail().healthy);
  EXPECT_EQ(changes_.size(), 1u);

  ASSERT_TRUE(store_.Beat(request).ok());  // Already healthy: no change.
  EXPECT_EQ(changes_.size(), 1u);

  // The beat reset the last-beat time: healthy for another 15 s.
  SweepAfter(milliseconds(15000));
  EXPECT_TRUE(Detail().healthy);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, BeatDoesNotReviveMarkedOrPersistentInstances) {
  InstanceSpec marked = Spec();
  marked.marked = true;
  marked.healthy = false;
  ASSERT_TRUE(store_.Register(marked).ok());
  InstanceSpec persistent = Spec("10.0.0.6");
  persistent.ephemeral = false;
  persistent.healthy = false;
  ASSERT_TRUE(store_.Register(persistent).ok());
  changes_.clear();
  for (const char* ip : {"10.0.0.5", "10.0.0.6"}) {
    BeatRequest request;
    request.service_name = kDemo;
    request.ip = ip;
    request.port = 8080;
    Result<BeatResult> result = store_.Beat(request);
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(result->found);
    EXPECT_FALSE(Detail(Key(ip)).healthy);
  }
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, BeatReportsIntervalFromMetadata) {
  InstanceSpec spec = Spec();
  spec.metadata = {{std::string(kHeartBeatIntervalKey), "3000"}};
  ASSERT_TRUE(store_.Register(spec).ok());
  spec = Spec("10.0.0.6");
  spec.metadata = {{std::string(kHeartBeatIntervalKey), "3 s"}};
  ASSERT_TRUE(store_.Register(spec).ok());

  BeatRequest request;
  request.service_name = kDemo;
  request.ip = "10.0.0.5";
  request.port = 8080;
  EXPECT_EQ(store_.Beat(request)->client_beat_interval, milliseconds(3000));
  request.ip = "10.0.0.6";
  EXPECT_EQ(store_.Beat(request)->client_beat_interval, milliseconds(5000));
}

TEST_F(InstanceStoreTest, BeatHonoursOptions) {
  InstanceStoreOptions options;
  options.client_beat_interval = milliseconds(2000);
  options.light_beat_enabled = false;
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec()).ok());
  BeatRequest request;
  request.service_name = kDemo;
  request.ip = "10.0.0.5";
  request.port = 8080;
  Result<BeatResult> result = store.Beat(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(RenderBeatResult(*result),
            R"({"clientBeatInterval":2000,"code":10200,"lightBeatEnabled":false})");
}

TEST_F(InstanceStoreTest, BeatInfoOverridesAddressAndCluster) {
  InstanceSpec spec = Spec();
  spec.cluster_name = "c1";
  ASSERT_TRUE(store_.Register(spec).ok());
  changes_.clear();

  BeatInfo info;
  info.ip = "10.0.0.5";
  info.port = 8080;
  info.cluster = "c1";
  BeatRequest request;
  request.service_name = kDemo;
  request.ip = "1.1.1.1";  // Overridden by the beat.
  request.port = 1;
  request.beat = info;
  ASSERT_TRUE(store_.Beat(request).ok());
  EXPECT_TRUE(changes_.empty());  // Found, not re-created.

  // A blank beat cluster takes the request's cluster.
  request.beat->cluster = "";
  request.cluster_name = "c2";
  request.beat->weight = 0.001;
  request.beat->ephemeral = false;
  ASSERT_TRUE(store_.Beat(request).ok());
  InstanceKey key = Key();
  key.cluster_name = "c2";
  const Instance created = Detail(key);
  EXPECT_FALSE(created.ephemeral);
  EXPECT_DOUBLE_EQ(created.weight, 0.01);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, BeatErrors) {
  BeatRequest request;
  ExpectInvalid(store_.Beat(request).status(), "Param 'serviceName' is required.");
  request.service_name = "demo";
  ExpectInvalid(store_.Beat(request).status(),
                "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'");
  request.service_name = kDemo;
  request.beat = BeatInfo();  // No ip: cannot re-register.
  ExpectInvalid(store_.Beat(request).status(), "Param 'ip' is required.");
  request.beat->ip = "10.0.0.5";
  request.beat->cluster = "c_1";
  ExpectInvalid(store_.Beat(request).status(),
                "cluster name can only have these characters: 0-9a-zA-Z-, current: c_1");
}

// ---- list -------------------------------------------------------------------------------------

TEST_F(InstanceStoreTest, TV7_UnknownServiceIsNotFound) {
  const ServiceSnapshot snapshot = ListOf("DEFAULT_GROUP@@nope");
  EXPECT_FALSE(snapshot.found);
  EXPECT_FALSE(snapshot.has_instances);
  EXPECT_TRUE(snapshot.hosts.empty());
  EXPECT_EQ(snapshot.service_name, "DEFAULT_GROUP@@nope");
  ListQuery query;
  query.service_name = "nope";
  EXPECT_FALSE(store_.List(query).ok());
}

TEST_F(InstanceStoreTest, TV8_ProtectionThresholdReportsAllHealthyWhenNoneIs) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(20000));  // Between 15 s and 30 s: unhealthy, not yet deleted.
  ASSERT_FALSE(Detail().healthy);

  const ServiceSnapshot snapshot = ListOf(kDemo, "", /*healthy_only=*/true);
  EXPECT_TRUE(snapshot.protect_threshold_reached);
  ASSERT_EQ(snapshot.hosts.size(), 1u);
  EXPECT_TRUE(snapshot.hosts[0].healthy);
}

TEST_F(InstanceStoreTest, UnhealthyInstancesShowOnceOneIsHealthy) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(20000));
  ASSERT_TRUE(store_.Register(Spec("10.0.0.4")).ok());

  ServiceSnapshot snapshot = ListOf();
  EXPECT_FALSE(snapshot.protect_threshold_reached);
  ASSERT_EQ(snapshot.hosts.size(), 2u);
  EXPECT_EQ(snapshot.hosts[0].ip, "10.0.0.4");  // Healthy ones first.
  EXPECT_TRUE(snapshot.hosts[0].healthy);
  EXPECT_EQ(snapshot.hosts[1].ip, "10.0.0.5");
  EXPECT_FALSE(snapshot.hosts[1].healthy);

  snapshot = ListOf(kDemo, "", /*healthy_only=*/true);
  ASSERT_EQ(snapshot.hosts.size(), 1u);
  EXPECT_EQ(snapshot.hosts[0].ip, "10.0.0.4");
}

TEST_F(InstanceStoreTest, ConfiguredProtectThreshold) {
  ServiceSpec service;
  service.service_name = kDemo;
  service.protect_threshold = 0.5;
  ASSERT_TRUE(store_.CreateService(service).ok());
  ASSERT_TRUE(store_.Register(Spec("10.0.0.1")).ok());
  InstanceSpec down = Spec("10.0.0.2");
  down.healthy = false;
  ASSERT_TRUE(store_.Register(down).ok());
  // 1/2 <= 0.5: fires.
  ServiceSnapshot snapshot = ListOf(kDemo, "", true);
  EXPECT_TRUE(snapshot.protect_threshold_reached);
  EXPECT_EQ(snapshot.hosts.size(), 2u);
  // 2/3 > 0.5: does not.
  ASSERT_TRUE(store_.Register(Spec("10.0.0.3")).ok());
  snapshot = ListOf(kDemo, "", true);
  EXPECT_FALSE(snapshot.protect_threshold_reached);
  EXPECT_EQ(snapshot.hosts.size(), 2u);
  EXPECT_DOUBLE_EQ(snapshot.protect_threshold, 0.5);
}

TEST_F(InstanceStoreTest, DisabledInstancesAreCountedButNotListed) {
  InstanceSpec disabled = Spec("10.0.0.1");
  disabled.enabled = false;
  ASSERT_TRUE(store_.Register(disabled).ok());
  InstanceSpec down = Spec("10.0.0.2");
  down.healthy = false;
  ASSERT_TRUE(store_.Register(down).ok());
  // One healthy (disabled) of two: the threshold does not fire, so 10.0.0.2 is reported unhealthy.
  ServiceSnapshot snapshot = ListOf();
  EXPECT_TRUE(snapshot.has_instances);
  EXPECT_FALSE(snapshot.protect_threshold_reached);
  ASSERT_EQ(snapshot.hosts.size(), 1u);
  EXPECT_EQ(snapshot.hosts[0].ip, "10.0.0.2");
  EXPECT_FALSE(snapshot.hosts[0].healthy);
  // Everything filtered out: still the normal shape (has_instances).
  snapshot = ListOf(kDemo, "", true);
  EXPECT_TRUE(snapshot.has_instances);
  EXPECT_TRUE(snapshot.hosts.empty());
}

TEST_F(InstanceStoreTest, ClustersFilter) {
  for (const char* cluster : {"c1", "c2", "c3"}) {
    InstanceSpec spec = Spec(std::string("10.0.1.") + cluster[1]);
    spec.cluster_name = cluster;
    ASSERT_TRUE(store_.Register(spec).ok());
  }
  auto ips = [](const ServiceSnapshot& snapshot) {
    std::vector<std::string> out;
    for (const Instance& host : snapshot.hosts) out.push_back(host.ip);
    return out;
  };
  EXPECT_EQ(ips(ListOf()), (std::vector<std::string>{"10.0.1.1", "10.0.1.2", "10.0.1.3"}));
  EXPECT_EQ(ips(ListOf(kDemo, "c3,c1")), (std::vector<std::string>{"10.0.1.3", "10.0.1.1"}));
  EXPECT_EQ(ips(ListOf(kDemo, ",c2,,c2,")), (std::vector<std::string>{"10.0.1.2"}));
  const ServiceSnapshot none = ListOf(kDemo, "c9");
  EXPECT_TRUE(none.found);
  EXPECT_FALSE(none.has_instances);
  EXPECT_EQ(none.clusters, "c9");
}

// ---- health sweep -----------------------------------------------------------------------------

TEST_F(InstanceStoreTest, UnhealthyStrictlyAfterHeartbeatTimeout) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  changes_.clear();
  EXPECT_EQ(SweepAfter(milliseconds(15000)).marked_unhealthy, 0u);
  EXPECT_TRUE(Detail().healthy);
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(SweepAfter(milliseconds(1)).marked_unhealthy, 1u);
  EXPECT_FALSE(Detail().healthy);
  EXPECT_EQ(changes_, std::vector<std::string>{"public/DEFAULT_GROUP@@demo"});
  SweepAfter(milliseconds(5000));
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, DeletedStrictlyAfterDeleteTimeout) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(20000));
  changes_.clear();
  EXPECT_EQ(SweepAfter(milliseconds(10000)).deleted, 0u);
  EXPECT_EQ(store_.InstanceCount(), 1u);
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(SweepAfter(milliseconds(1)).deleted, 1u);
  EXPECT_EQ(store_.InstanceCount(), 0u);
  EXPECT_EQ(changes_.size(), 1u);
  SweepAfter(milliseconds(5000));
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, UnhealthyAndDeletedInOneSweepNotifyOnce) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ASSERT_TRUE(store_.Register(Spec("10.0.0.6")).ok());
  changes_.clear();
  const HealthSweepResult result = SweepAfter(milliseconds(31000));
  EXPECT_EQ(result.marked_unhealthy, 2u);
  EXPECT_EQ(result.deleted, 2u);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, MetadataOverridesTimeouts) {
  InstanceSpec spec = Spec();
  spec.metadata = {{std::string(kHeartBeatIntervalKey), "1000"},
                   {std::string(kHeartBeatTimeoutKey), "3000"},
                   {std::string(kIpDeleteTimeoutKey), "6000"}};
  ASSERT_TRUE(store_.Register(spec).ok());
  InstanceSpec bad = Spec("10.0.0.6");
  bad.metadata = {{std::string(kHeartBeatTimeoutKey), "-1"},
                  {std::string(kIpDeleteTimeoutKey), "6000ms"}};
  ASSERT_TRUE(store_.Register(bad).ok());
  changes_.clear();

  SweepAfter(milliseconds(3000));
  EXPECT_TRUE(Detail().healthy);
  SweepAfter(milliseconds(1));
  EXPECT_FALSE(Detail().healthy);
  EXPECT_TRUE(Detail(Key("10.0.0.6")).healthy);
  EXPECT_EQ(changes_.size(), 1u);
  SweepAfter(milliseconds(2999));
  EXPECT_EQ(store_.InstanceCount(), 2u);
  SweepAfter(milliseconds(1));
  EXPECT_EQ(store_.InstanceCount(), 1u);
  EXPECT_EQ(changes_.size(), 2u);
  // The other one follows the defaults.
  SweepAfter(milliseconds(15000 - 6001));
  EXPECT_TRUE(Detail(Key("10.0.0.6")).healthy);
  SweepAfter(milliseconds(1));
  EXPECT_FALSE(Detail(Key("10.0.0.6")).healthy);
  SweepAfter(milliseconds(14999));
  EXPECT_EQ(store_.InstanceCount(), 1u);
  SweepAfter(milliseconds(1));
  EXPECT_EQ(store_.InstanceCount(), 0u);
  EXPECT_EQ(changes_.size(), 4u);
}

TEST_F(InstanceStoreTest, MarkedAndPersistentInstancesAreExempt) {
  InstanceSpec marked = Spec();
  marked.marked = true;
  ASSERT_TRUE(store_.Register(marked).ok());
  InstanceSpec persistent = Spec("10.0.0.6");
  persistent.ephemeral = false;
  ASSERT_TRUE(store_.Register(persistent).ok());
  changes_.clear();
  const HealthSweepResult result = SweepAfter(std::chrono::hours(1));
  EXPECT_EQ(result.marked_unhealthy + result.deleted, 0u);
  EXPECT_TRUE(Detail().healthy);
  EXPECT_TRUE(Detail(Key("10.0.0.6")).healthy);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, ExpireInstancesOffKeepsUnhealthyInstances) {
  InstanceStoreOptions options;
  options.expire_instances = false;
  InstanceStore store(&clock_, options);
  Watch(store);
  ASSERT_TRUE(store.Register(Spec()).ok());
  changes_.clear();
  const HealthSweepResult result = SweepAfter(std::chrono::hours(1), &store);
  EXPECT_EQ(result.marked_unhealthy, 1u);
  EXPECT_EQ(result.deleted, 0u);
  EXPECT_EQ(store.InstanceCount(), 1u);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(InstanceStoreTest, RevisionStrictlyIncreasesWithinOneMillisecond) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  const int64_t first = ListOf().last_ref_time;
  EXPECT_GE(first, clock_.WallMillis());
  ASSERT_TRUE(store_.Register(Spec()).ok());
  const int64_t second = ListOf().last_ref_time;
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  const int64_t third = ListOf().last_ref_time;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  clock_.AdvanceBy(std::chrono::seconds(10));
  ASSERT_TRUE(store_.Register(Spec()).ok());
  EXPECT_EQ(ListOf().last_ref_time, clock_.WallMillis());
}

TEST_F(InstanceStoreTest, ImplicitEmptyServiceIsRemovedAfterExpiry) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  EXPECT_EQ(SweepAfter(milliseconds(60000)).services_removed, 0u);
  EXPECT_TRUE(ListOf().found);
  changes_.clear();
  EXPECT_EQ(SweepAfter(milliseconds(1)).services_removed, 1u);
  EXPECT_FALSE(ListOf().found);
  EXPECT_EQ(store_.ServiceCount(), 0u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, EmptyServiceTimerRestartsWhenAnInstanceComes) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  SweepAfter(milliseconds(50000));
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  EXPECT_EQ(SweepAfter(milliseconds(50000)).services_removed, 0u);
  EXPECT_EQ(SweepAfter(milliseconds(10001)).services_removed, 1u);
}

TEST_F(InstanceStoreTest, ExpiredInstancesServiceGoesAwayLater) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  SweepAfter(milliseconds(30001));  // Instance deleted; the service is empty from now.
  EXPECT_EQ(store_.ServiceCount(), 1u);
  EXPECT_EQ(SweepAfter(milliseconds(60000)).services_removed, 0u);
  EXPECT_EQ(SweepAfter(milliseconds(1)).services_removed, 1u);
}

TEST_F(InstanceStoreTest, ExplicitServicesAndNegativeExpiryKeepEmptyServices) {
  ServiceSpec service;
  service.service_name = "DEFAULT_GROUP@@kept";
  ASSERT_TRUE(store_.CreateService(service).ok());
  SweepAfter(std::chrono::hours(1));
  EXPECT_EQ(store_.ServiceCount(), 1u);

  InstanceStoreOptions options;
  options.empty_service_expiry = milliseconds(-1);
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec()).ok());
  ASSERT_TRUE(store.Deregister(Key()).ok());
  SweepAfter(std::chrono::hours(1), &store);
  EXPECT_EQ(store.ServiceCount(), 1u);
}

// ---- services ---------------------------------------------------------------------------------

TEST_F(InstanceStoreTest, CreateUpdateAndDetailOfService) {
  ServiceSpec spec;
  spec.service_name = kDemo;
  spec.protect_threshold = 0.3;
  spec.metadata = {{"owner", "me"}};
  ASSERT_TRUE(store_.CreateService(spec).ok());
  EXPECT_EQ(changes_.size(), 1u);
  ExpectInvalid(store_.CreateService(spec),
                "specified service already exists, serviceName : DEFAULT_GROUP@@demo");
  ServiceSpec bad;
  bad.service_name = "DEFAULT_GROUP@@a b";
  ExpectInvalid(store_.CreateService(bad),
                "dom name can only have these characters: 0-9a-zA-Z-._:, current: "
                "DEFAULT_GROUP@@a b");
  bad.service_name = "demo";
  EXPECT_FALSE(store_.CreateService(bad).ok());

  Result<ServiceInfo> info = store_.GetService("", kDemo);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->namespace_id, "public");
  EXPECT_DOUBLE_EQ(info->protect_threshold, 0.3);
  EXPECT_EQ(info->metadata, (Metadata{{"owner", "me"}}));
  EXPECT_TRUE(info->clusters.empty());

  ServiceSpec update;
  update.service_name = kDemo;
  update.protect_threshold = 0.8;
  const int64_t before = ListOf().last_ref_time;
  ASSERT_TRUE(store_.UpdateService(update).ok());
  info = store_.GetService("public", kDemo);
  EXPECT_DOUBLE_EQ(info->protect_threshold, 0.8);
  EXPECT_TRUE(info->metadata.empty());
  EXPECT_GT(ListOf().last_ref_time, before);
  EXPECT_EQ(changes_.size(), 2u);

  update.service_name = "DEFAULT_GROUP@@nope";
  ExpectInvalid(store_.UpdateService(update), "service DEFAULT_GROUP@@nope not found!");
  Result<ServiceInfo> missing = store_.GetService("public", "DEFAULT_GROUP@@nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "service DEFAULT_GROUP@@nope is not found!");
}

TEST_F(InstanceStoreTest, ServiceDetailListsClusters) {
  for (const char* cluster : {"b", "a"}) {
    InstanceSpec spec = Spec();
    spec.cluster_name = cluster;
    ASSERT_TRUE(store_.Register(spec).ok());
  }
  Result<ServiceInfo> info = store_.GetService("public", kDemo);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->clusters, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(info->instance_count, 2u);
}

TEST_F(InstanceStoreTest, DeleteService) {
  ExpectInvalid(store_.DeleteService("public", kDemo),
                "specified service not exist, serviceName : DEFAULT_GROUP@@demo");
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ExpectInvalid(store_.DeleteService("", kDemo),
                "Service DEFAULT_GROUP@@demo is not empty, can't be delete. Please unregister "
                "instance first");
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  changes_.clear();
  EXPECT_TRUE(store_.DeleteService("public", kDemo).ok());
  EXPECT_FALSE(ListOf().found);
  EXPECT_EQ(store_.ServiceCount(), 0u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, TV11_ServiceListPages) {
  EXPECT_EQ(store_.ListServices("public", "DEFAULT_GROUP", 1, 10).count, 0u);
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ServiceListPage page = store_.ListServices("public", "DEFAULT_GROUP", 1, 10);
  EXPECT_EQ(page.names, std::vector<std::string>{"demo"});
  EXPECT_EQ(page.count, 1u);
  page = store_.ListServices("public", "DEFAULT_GROUP", 2, 10);
  EXPECT_TRUE(page.names.empty());
  EXPECT_EQ(page.count, 1u);

  for (const char* name : {"b", "c", "a", "d"}) {
    ASSERT_TRUE(store_.Register(Spec("10.0.0.5", 80, std::string("DEFAULT_GROUP@@") + name)).ok());
  }
  ASSERT_TRUE(store_.Register(Spec("10.0.0.5", 80, "G1@@x")).ok());
  page = store_.ListServices("public", "", 1, 2);
  EXPECT_EQ(page.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(page.count, 5u);
  page = store_.ListServices("public", "DEFAULT_GROUP", 3, 2);
  EXPECT_EQ(page.names, std::vector<std::string>{"demo"});
  EXPECT_EQ(store_.ListServices("public", "G1", 1, 10).names, std::vector<std::string>{"x"});
  EXPECT_TRUE(store_.ListServices("public", "DEFAULT_GROUP", 1, 0).names.empty());
  EXPECT_TRUE(store_.ListServices("public", "DEFAULT_GROUP", 1, -5).names.empty());
  EXPECT_EQ(store_.ListServices("public", "DEFAULT_GROUP", 0, 2).names,
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(
      store_.ListServices("public", "DEFAULT_GROUP", 2'000'000'000, 2'000'000'000).names.empty());
  EXPECT_EQ(store_.ListServices("dev", "DEFAULT_GROUP", 1, 10).count, 0u);
}

TEST_F(InstanceStoreTest, Counts) {
  ASSERT_TRUE(store_.Register(Spec()).ok());
  ASSERT_TRUE(store_.Register(Spec("10.0.0.6")).ok());
  InstanceSpec other = Spec("10.0.0.7", 80, "G@@other");
  other.namespace_id = "dev";
  ASSERT_TRUE(store_.Register(other).ok());
  EXPECT_EQ(store_.ServiceCount(), 2u);
  EXPECT_EQ(store_.InstanceCount(), 3u);
}

// ---- beat look-up, revisions, the incremental sweep ---------------------------------------------

TEST_F(InstanceStoreTest, BeatFindsTheEphemeralInstanceNextToAPersistentOne) {
  // Same cluster, ip and port, both kinds: the beat is the ephemeral one's (its last beat moves,
  // its interval is reported); the persistent one is untouched.
  InstanceSpec persistent = Spec();
  persistent.ephemeral = false;
  persistent.metadata = {{std::string(kHeartBeatIntervalKey), "7000"}};
  ASSERT_TRUE(store_.Register(persistent).ok());
  InstanceSpec ephemeral = Spec();
  ephemeral.metadata = {{std::string(kHeartBeatIntervalKey), "3000"}};
  ASSERT_TRUE(store_.Register(ephemeral).ok());

  BeatRequest request;
  request.service_name = kDemo;
  request.ip = "10.0.0.5";
  request.port = 8080;
  clock_.AdvanceBy(milliseconds(10000));
  Result<BeatResult> result = store_.Beat(request);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->found);
  EXPECT_EQ(result->client_beat_interval, milliseconds(3000));
  SweepAfter(milliseconds(10000));  // 20 s after registering, 10 s after the beat.
  EXPECT_EQ(ListOf().hosts.size(), 2u);
  EXPECT_TRUE(Detail().healthy);  // Detail finds the persistent one, which never expires.

  // A persistent instance alone: found, its interval, and no last beat of its own to move.
  InstanceSpec other = Spec("10.0.0.6");
  other.ephemeral = false;
  other.metadata = {{std::string(kHeartBeatIntervalKey), "7000"}};
  ASSERT_TRUE(store_.Register(other).ok());
  request.ip = "10.0.0.6";
  result = store_.Beat(request);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->found);
  EXPECT_EQ(result->client_beat_interval, milliseconds(7000));

  // Same ip, other port, other cluster: unknown.
  request.port = 8081;
  EXPECT_FALSE(store_.Beat(request)->found);
  request.port = 8080;
  request.cluster_name = "c1";
  EXPECT_FALSE(store_.Beat(request)->found);
}

TEST_F(InstanceStoreTest, BeatCompensationIntoANewClusterOfANewService) {
  Result<BeatInfo> beat = ParseBeatInfo(
      R"({"ip":"10.0.0.9","port":81,"cluster":"c2","metadata":{"k":"v"},"ephemeral":false})");
  ASSERT_TRUE(beat.ok());
  BeatRequest request;
  request.service_name = "G@@fresh";
  request.beat = *beat;
  Result<BeatResult> result = store_.Beat(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->found);
  ServiceSnapshot snapshot = ListOf("G@@fresh");
  ASSERT_EQ(snapshot.hosts.size(), 1u);
  EXPECT_EQ(snapshot.hosts[0].cluster_name, "c2");
  EXPECT_FALSE(snapshot.hosts[0].ephemeral);
}

TEST_F(InstanceStoreTest, RevisionMovesWithEveryChangeAListCanShow) {
  EXPECT_EQ(store_.Revision("public", kDemo), 0u);
  ASSERT_TRUE(store_.Register(Spec()).ok());
  uint64_t last = store_.Revision("public", kDemo);
  EXPECT_NE(last, 0u);
  EXPECT_EQ(store_.Revision("", kDemo), last);  // "" is the default namespace.
  auto moved = [&] {
    const uint64_t now = store_.Revision("public", kDemo);
    const bool changed = now != last;
    last = now;
    return changed;
  };
  BeatRequest beat;
  beat.service_name = kDemo;
  beat.ip = "10.0.0.5";
  beat.port = 8080;
  ASSERT_TRUE(store_.Beat(beat).ok());
  EXPECT_FALSE(moved()) << "a beat on a healthy instance changes nothing a list shows";
  ASSERT_TRUE(store_.Register(Spec("10.0.0.6")).ok());
  EXPECT_TRUE(moved()) << "register";
  ASSERT_TRUE(store_.Register(Spec("10.0.0.6")).ok());
  EXPECT_TRUE(moved()) << "re-register";
  InstancePatch patch;
  patch.metadata = Metadata{{"k", "v"}};
  ASSERT_TRUE(store_.Patch(Key("10.0.0.6"), patch).ok());
  EXPECT_TRUE(moved()) << "metadata update";
  SweepAfter(milliseconds(16000));
  EXPECT_TRUE(moved()) << "health flip";
  SweepAfter(milliseconds(1000));
  EXPECT_FALSE(moved()) << "a sweep that changes nothing";
  ASSERT_TRUE(store_.Beat(beat).ok());
  EXPECT_TRUE(moved()) << "a beat that revives";
  ASSERT_TRUE(store_.Deregister(Key("10.0.0.6")).ok());
  EXPECT_TRUE(moved()) << "deregister";
  ASSERT_TRUE(store_.Deregister(Key("10.0.0.99")).ok());
  EXPECT_FALSE(moved()) << "deregister of nothing";
  ServiceSpec service;
  service.service_name = kDemo;
  service.protect_threshold = 0.5;
  ASSERT_TRUE(store_.UpdateService(service).ok());
  EXPECT_TRUE(moved()) << "service update";

  // Deleted and created again at the same wall millisecond: lastRefTime may repeat, the revision
  // does not.
  ASSERT_TRUE(store_.Deregister(Key()).ok());
  moved();
  ASSERT_TRUE(store_.DeleteService("public", kDemo).ok());
  EXPECT_EQ(store_.Revision("public", kDemo), 0u);
  ASSERT_TRUE(store_.Register(Spec()).ok());
  EXPECT_GT(store_.Revision("public", kDemo), last);
}

TEST_F(InstanceStoreTest, SweepSkipsServicesWithNothingDueButNeverLate) {
  // Services a and b: default timeouts; a sweep at 1 ms sets their next event to 15 s. At 5 s, b
  // gets an instance with a 5 s heart-beat timeout (due at 10 s), which must not wait for 15 s.
  ASSERT_TRUE(store_.Register(Spec("10.0.0.1", 80, "G@@a")).ok());
  ASSERT_TRUE(store_.Register(Spec("10.0.0.1", 80, "G@@b")).ok());
  SweepAfter(milliseconds(1));
  clock_.AdvanceBy(milliseconds(4999));
  InstanceSpec quick = Spec("10.0.0.2", 80, "G@@b");
  quick.metadata = {{std::string(kHeartBeatTimeoutKey), "5000"},
                    {std::string(kIpDeleteTimeoutKey), "6000"}};
  ASSERT_TRUE(store_.Register(quick).ok());
  EXPECT_EQ(SweepAfter(milliseconds(5000)).marked_unhealthy, 0u);  // Exactly 5 s: not yet.
  EXPECT_EQ(SweepAfter(milliseconds(1)).marked_unhealthy, 1u);
  EXPECT_FALSE(store_.GetInstance(Key("10.0.0.2", 80, "G@@b"))->healthy);
  EXPECT_EQ(SweepAfter(milliseconds(1000)).deleted, 1u);  // 6 s + 1 ms after its registration.
  EXPECT_EQ(SweepAfter(milliseconds(3998)).marked_unhealthy, 0u);  // 14.999 s.
  EXPECT_EQ(SweepAfter(milliseconds(2)).marked_unhealthy, 2u);     // 15.001 s: a and b's first.
}

TEST_F(InstanceStoreTest, SweepDoesNotOverflowOnHugeMetadataTimeouts) {
  InstanceSpec spec = Spec();
  spec.metadata = {{std::string(kHeartBeatTimeoutKey), "999999999999999999"},
                   {std::string(kIpDeleteTimeoutKey), "999999999999999999"}};
  ASSERT_TRUE(store_.Register(spec).ok());
  HealthSweepResult result = SweepAfter(std::chrono::hours(24 * 365));
  EXPECT_EQ(result.marked_unhealthy, 0u);
  EXPECT_EQ(result.deleted, 0u);
  EXPECT_TRUE(Detail().healthy);
}

// Everything the sweep can change, over a fixed set of names: which instances exist and their
// (real) health, each service's revision, the service count.
std::string SweepState(InstanceStore& store) {
  std::string out;
  for (const char* service : {"G@@s0", "G@@s1", "G@@s2"}) {
    out += std::string(service) + "@" + std::to_string(store.Revision("public", service)) + ":";
    for (const char* cluster : {"DEFAULT", "c1"}) {
      for (int ip = 0; ip < 4; ++ip) {
        InstanceKey key = Key("10.0.0." + std::to_string(ip), 80, service);
        key.cluster_name = cluster;
        Result<Instance> instance = store.GetInstance(key);
        out += instance.ok() ? (instance->healthy ? "H" : "u") : ".";
      }
    }
    out += " ";
  }
  return out + std::to_string(store.ServiceCount());
}

TEST_F(InstanceStoreTest, IncrementalSweepMatchesFullSweepUnderRandomOperations) {
  // The same random operations on two stores: one sweeps only the services with something due
  // (the default), the other examines every instance every time. After every sweep both must agree
  // on every instance, every revision and every notification.
  InstanceStoreOptions options;
  options.empty_service_expiry = milliseconds(20000);
  InstanceStoreOptions full_options = options;
  full_options.sweep_only_due_services = false;
  InstanceStore incremental(&clock_, options);
  InstanceStore full(&clock_, full_options);
  std::vector<std::string> incremental_changes;
  std::vector<std::string> full_changes;
  incremental.SetChangeHook([&](const std::string& ns, const std::string& service) {
    incremental_changes.push_back(ns + "/" + service);
  });
  full.SetChangeHook([&](const std::string& ns, const std::string& service) {
    full_changes.push_back(ns + "/" + service);
  });

  std::mt19937 random(20261121);
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  const char* const kTimeouts[] = {"5000", "7000", "12000", "40000"};
  int sweeps = 0;
  for (int step = 0; step < 4000; ++step) {
    const std::string service = "G@@s" + std::to_string(pick(3));
    const std::string ip = "10.0.0." + std::to_string(pick(4));
    const std::string cluster = pick(2) == 0 ? "DEFAULT" : "c1";
    switch (pick(10)) {
      case 0:
      case 1: {
        InstanceSpec spec = Spec(ip, 80, service);
        spec.cluster_name = cluster;
        spec.ephemeral = pick(8) != 0;
        if (pick(3) == 0) spec.metadata[std::string(kHeartBeatTimeoutKey)] = kTimeouts[pick(4)];
        if (pick(3) == 0) spec.metadata[std::string(kIpDeleteTimeoutKey)] = kTimeouts[pick(4)];
        ASSERT_EQ(incremental.Register(spec).ok(), full.Register(spec).ok());
        break;
      }
      case 2: {
        InstanceKey key = Key(ip, 80, service);
        key.cluster_name = cluster;
        ASSERT_TRUE(incremental.Deregister(key).ok());
        ASSERT_TRUE(full.Deregister(key).ok());
        break;
      }
      case 3:
      case 4: {
        BeatRequest beat;
        beat.service_name = service;
        beat.cluster_name = cluster;
        beat.ip = ip;
        beat.port = 80;
        ASSERT_EQ(incremental.Beat(beat)->found, full.Beat(beat)->found);
        break;
      }
      case 5: {
        InstanceKey key = Key(ip, 80, service);
        key.cluster_name = cluster;
        InstancePatch patch;
        if (pick(2) == 0) patch.healthy = pick(2) == 0;
        if (pick(2) == 0) {
          patch.metadata = Metadata{{std::string(kHeartBeatTimeoutKey), kTimeouts[pick(4)]}};
        }
        ASSERT_EQ(incremental.Patch(key, patch).ok(), full.Patch(key, patch).ok());
        break;
      }
      case 6:
        if (pick(10) == 0) {
          ServiceSpec spec;
          spec.service_name = service;
          ASSERT_EQ(incremental.UpdateService(spec).ok(), full.UpdateService(spec).ok());
        }
        break;
      case 7:
      case 8:
        clock_.AdvanceBy(milliseconds(pick(9000)));
        break;
      case 9: {
        const HealthSweepResult a = incremental.CheckHealth();
        const HealthSweepResult b = full.CheckHealth();
        ++sweeps;
        ASSERT_EQ(a.marked_unhealthy, b.marked_unhealthy) << "step " << step;
        ASSERT_EQ(a.deleted, b.deleted) << "step " << step;
        ASSERT_EQ(a.services_removed, b.services_removed) << "step " << step;
        break;
      }
    }
    ASSERT_EQ(SweepState(incremental), SweepState(full)) << "step " << step;
    ASSERT_EQ(incremental_changes, full_changes) << "step " << step;
  }
  EXPECT_GT(sweeps, 300);
}

TEST_F(InstanceStoreTest, SweepInStepsEqualsOneSweep) {
  InstanceStore stepped(&clock_);
  for (InstanceStore* store : {&store_, &stepped}) {
    for (int s = 0; s < 7; ++s) {
      for (int i = 0; i < 5; ++i) {
        InstanceSpec spec = Spec("10.0.0." + std::to_string(i), 80, "G@@s" + std::to_string(s));
        spec.namespace_id = s % 2 == 0 ? "public" : "dev";
        ASSERT_TRUE(store->Register(spec).ok());
      }
    }
  }
  clock_.AdvanceBy(milliseconds(16000));
  const HealthSweepResult whole = store_.CheckHealth();
  HealthSweepCursor cursor;
  HealthSweepResult result;
  int steps = 1;
  while (!stepped.CheckHealthStep(&cursor, 4, &result)) ++steps;
  EXPECT_EQ(steps, 7);  // One service per step: each costs 1 + 5 instances, over the budget.
  EXPECT_EQ(whole.marked_unhealthy, 35u);
  EXPECT_EQ(result.marked_unhealthy, 35u);
  EXPECT_TRUE(cursor.service_name.empty());  // Reset for the next round.

  // Changes between steps: the service at the cursor is deleted, one is added behind it (same
  // namespace, a smaller name); the round still ends, and a later one finds the newcomer.
  clock_.AdvanceBy(milliseconds(15000));  // 31 s: everything expires.
  result = HealthSweepResult();
  ASSERT_FALSE(stepped.CheckHealthStep(&cursor, 4, &result));
  const std::string at = cursor.service_name;
  for (int i = 0; i < 5; ++i) {
    InstanceKey key = Key("10.0.0." + std::to_string(i), 80, at);
    key.namespace_id = cursor.namespace_id;
    ASSERT_TRUE(stepped.Deregister(key).ok());
  }
  ASSERT_TRUE(stepped.DeleteService(cursor.namespace_id, at).ok());
  ASSERT_EQ(cursor.namespace_id, "dev");
  InstanceSpec newcomer = Spec("10.0.0.1", 80, "A@@first");
  newcomer.namespace_id = "dev";
  ASSERT_TRUE(stepped.Register(newcomer).ok());
  while (!stepped.CheckHealthStep(&cursor, 4, &result)) {
  }
  EXPECT_EQ(result.deleted, 30u);  // 35 - the 5 deregistered.
  InstanceKey newcomer_key = Key("10.0.0.1", 80, "A@@first");
  newcomer_key.namespace_id = "dev";
  EXPECT_TRUE(stepped.GetInstance(newcomer_key).ok());
  clock_.AdvanceBy(milliseconds(31000));
  result = stepped.CheckHealth();
  EXPECT_EQ(result.deleted, 1u);
}

// ---- checks of a beat that re-registers, and the caps -------------------------------------------

// A full beat for an unknown instance registers it through Register(): the same checks, the same
// messages, and nothing stored when they fail.
TEST_F(InstanceStoreTest, BeatReRegistrationRunsTheChecksOfARegistration) {
  struct Case {
    const char* beat;
    InstanceSpec spec;  // The same instance as a registration.
  };
  auto spec = [](std::string ip, int port, double weight, Metadata metadata) {
    InstanceSpec out = Spec(std::move(ip), port);
    out.weight = weight;
    out.metadata = std::move(metadata);
    return out;
  };
  const Case cases[] = {
      {R"({"ip":"not an ip!","port":80})", spec("not an ip!", 80, 1.0, {})},
      {R"({"ip":"10.0.0.5","port":-7})", spec("10.0.0.5", -7, 1.0, {})},
      {R"({"ip":"host-1","port":-7})", spec("host-1", -7, 1.0, {})},
      {R"({"ip":"10.0.0.5","port":80,"weight":-5})", spec("10.0.0.5", 80, -5, {})},
      {R"({"ip":"10.0.0.5","port":80,"metadata":{"preserved.heart.beat.interval":"20000"}})",
       spec("10.0.0.5", 80, 1.0, {{"preserved.heart.beat.interval", "20000"}})},
  };
  for (const Case& c : cases) {
    const Status registered = store_.Register(c.spec);
    ASSERT_FALSE(registered.ok()) << c.beat;
    Result<BeatInfo> beat = ParseBeatInfo(c.beat);
    ASSERT_TRUE(beat.ok()) << beat.status();
    BeatRequest request;
    request.service_name = kDemo;
    request.beat = *beat;
    Result<BeatResult> result = store_.Beat(request);
    ASSERT_FALSE(result.ok()) << c.beat;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(result.status().message(), registered.message()) << c.beat;
  }
  EXPECT_EQ(store_.InstanceCount(), 0u);
  EXPECT_EQ(store_.ServiceCount(), 0u);
  EXPECT_EQ(store_.BytesHeld(), 0u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, IpMustBeAHostNameOrAnAddress) {
  const std::string bad = "instance format invalid: Your IP address is spelled incorrectly";
  ExpectInvalid(store_.Register(Spec("not an ip!", 80)), bad);
  ExpectInvalid(store_.Register(Spec("host\tname", 80)), bad);
  ExpectInvalid(store_.Register(Spec("h\xc3\xa9te", 80)), bad);
  ExpectInvalid(store_.Register(Spec(std::string(129, 'h'), 80)), bad);
  ExpectInvalid(store_.Register(Spec("provider-1.example.com", -7)), bad);
  ExpectInvalid(store_.Register(Spec("provider-1.example.com", 100000)), bad);
  EXPECT_EQ(store_.InstanceCount(), 0u);
  EXPECT_TRUE(store_.Register(Spec(std::string(128, 'h'), 80)).ok());
  EXPECT_TRUE(store_.Register(Spec("fe80::1%eth0", 80)).ok());
  EXPECT_TRUE(store_.Register(Spec("my_host-2", 65535)).ok());
}

class InstanceStoreCapsTest : public InstanceStoreTest {
 protected:
  InstanceStoreOptions Capped() { return InstanceStoreOptions(); }
  // Where the next write puts the reason of its refusal by a cap.
  RejectReason* Why() {
    whys_.push_back(RejectReason::kCount);
    return &whys_.back();
  }
  // The reasons set so far, in order.
  std::vector<RejectReason> Refusals() const {
    std::vector<RejectReason> out;
    for (RejectReason why : whys_) {
      if (why != RejectReason::kCount) out.push_back(why);
    }
    return out;
  }
  std::deque<RejectReason> whys_;
};

TEST_F(InstanceStoreCapsTest, MetadataBytesAreKeysPlusValues) {
  InstanceStoreOptions options = Capped();
  options.max_metadata_bytes = 10;
  InstanceStore store(&clock_, options);
  InstanceSpec spec = Spec();
  spec.metadata = {{"abc", "1234567"}};  // 10 bytes: at the cap.
  ASSERT_TRUE(store.Register(spec, Why()).ok());
  spec.metadata = {{"abc", "12345678"}};
  const std::string message =
      "instance metadata too large: 11 bytes of keys and values (max 10, max_metadata_bytes, "
      "--max-metadata-bytes)";
  ExpectInvalid(store.Register(spec, Why()), message);
  ExpectInvalid(store.Update(spec, true, Why()), message);
  InstancePatch patch;
  patch.metadata = Metadata{{"a", "b"}, {"cdefgh", "ijk"}};  // 11
  ExpectInvalid(store.Patch(Key(), patch, Why()), message);
  ServiceSpec service;
  service.service_name = "G@@other";
  service.metadata = {{"k", std::string(10, 'v')}};
  ExpectInvalid(store.CreateService(service, Why()),
                "service metadata too large: 11 bytes of keys and values (max 10, "
                "max_metadata_bytes, --max-metadata-bytes)");
  service.service_name = kDemo;
  ExpectInvalid(store.UpdateService(service, Why()),
                "service metadata too large: 11 bytes of keys and values (max 10, "
                "max_metadata_bytes, --max-metadata-bytes)");
  EXPECT_EQ(Refusals(), std::vector<RejectReason>(5, RejectReason::kMetadataTooLarge));
  Result<ServiceSnapshot> snapshot = store.List(ListQuery{"", kDemo, "", false});
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->hosts.size(), 1u);
  EXPECT_EQ(snapshot->hosts[0].metadata, (Metadata{{"abc", "1234567"}}));
  EXPECT_EQ(store.ServiceCount(), 1u);
}

TEST_F(InstanceStoreCapsTest, InstancesPerService) {
  InstanceStoreOptions options = Capped();
  options.max_instances_per_service = 2;
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec("10.0.0.1", 80), Why()).ok());
  ASSERT_TRUE(store.Register(Spec("10.0.0.2", 80), Why()).ok());  // At the cap.
  const std::string message =
      "service DEFAULT_GROUP@@demo already holds 2 instances, the most allowed "
      "(max_instances_per_service, --max-instances-per-service)";
  ExpectInvalid(store.Register(Spec("10.0.0.3", 80), Why()), message);
  InstanceSpec other_cluster = Spec("10.0.0.1", 80);
  other_cluster.cluster_name = "c2";  // A new instance too.
  ExpectInvalid(store.Register(other_cluster, Why()), message);
  Result<BeatInfo> beat = ParseBeatInfo(R"({"ip":"10.0.0.4","port":80})");
  ASSERT_TRUE(beat.ok());
  BeatRequest request;
  request.service_name = kDemo;
  request.beat = *beat;
  EXPECT_EQ(store.Beat(request, Why()).status().message(), message);
  EXPECT_EQ(Refusals(), std::vector<RejectReason>(3, RejectReason::kInstancesPerService));
  // Re-registering one that exists is no new instance; other services have their own count.
  EXPECT_TRUE(store.Register(Spec("10.0.0.2", 80), Why()).ok());
  EXPECT_TRUE(store.Register(Spec("10.0.0.3", 80, "G@@other"), Why()).ok());
  EXPECT_EQ(store.InstanceCount(), 3u);
  ASSERT_TRUE(store.Deregister(Key("10.0.0.1", 80)).ok());
  EXPECT_TRUE(store.Register(Spec("10.0.0.3", 80), Why()).ok());
}

TEST_F(InstanceStoreCapsTest, ServicesPerNamespace) {
  InstanceStoreOptions options = Capped();
  options.max_services_per_namespace = 2;
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec("10.0.0.1", 80, "G@@a"), Why()).ok());
  ServiceSpec b;
  b.service_name = "G@@b";
  ASSERT_TRUE(store.CreateService(b, Why()).ok());  // At the cap.
  const std::string message =
      "namespace public already holds 2 services, the most allowed (max_services_per_namespace, "
      "--max-services-per-namespace)";
  ExpectInvalid(store.Register(Spec("10.0.0.1", 80, "G@@c"), Why()), message);
  ServiceSpec c;
  c.service_name = "G@@c";
  ExpectInvalid(store.CreateService(c, Why()), message);
  EXPECT_EQ(Refusals(), std::vector<RejectReason>(2, RejectReason::kServicesPerNamespace));
  EXPECT_EQ(store.ServiceCount(), 2u);
  EXPECT_EQ(store.Revision("public", "G@@c"), 0u);
  InstanceSpec elsewhere = Spec("10.0.0.1", 80, "G@@c");
  elsewhere.namespace_id = "dev";
  EXPECT_TRUE(store.Register(elsewhere, Why()).ok());
  EXPECT_TRUE(store.Register(Spec("10.0.0.2", 80, "G@@a"), Why()).ok());  // An existing service.
}

TEST_F(InstanceStoreCapsTest, TotalInstances) {
  InstanceStoreOptions options = Capped();
  options.max_total_instances = 2;
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec("10.0.0.1", 80, "G@@a"), Why()).ok());
  ASSERT_TRUE(store.Register(Spec("10.0.0.1", 80, "G@@b"), Why()).ok());  // At the cap.
  ExpectInvalid(store.Register(Spec("10.0.0.1", 80, "G@@c"), Why()),
                "the server already holds 2 instances, the most allowed (max_total_instances, "
                "--max-total-instances)");
  EXPECT_EQ(Refusals(), std::vector<RejectReason>{RejectReason::kTotalInstances});
  EXPECT_EQ(store.ServiceCount(), 2u);  // Nothing created for the refused one.
  EXPECT_TRUE(store.Register(Spec("10.0.0.1", 80, "G@@a"), Why()).ok());  // Not a new instance.
  clock_.AdvanceBy(milliseconds(30001));
  EXPECT_EQ(store.CheckHealth().deleted, 2u);  // Expiry frees room.
  EXPECT_TRUE(store.Register(Spec("10.0.0.1", 80, "G@@c"), Why()).ok());
}

TEST_F(InstanceStoreCapsTest, TotalServicesCountEveryNamespaceAndExplicitServices) {
  InstanceStoreOptions options = Capped();
  options.max_total_services = 2;
  InstanceStore store(&clock_, options);
  ASSERT_TRUE(store.Register(Spec("10.0.0.1", 80, "G@@a"), Why()).ok());
  ServiceSpec b;
  b.namespace_id = "dev";
  b.service_name = "G@@b";
  ASSERT_TRUE(store.CreateService(b, Why()).ok());  // At the cap, in another namespace.
  const std::string message =
      "the server already holds 2 services, the most allowed (max_total_services, "
      "--max-total-services)";
  ExpectInvalid(store.Register(Spec("10.0.0.1", 80, "G@@c"), Why()), message);
  ServiceSpec c;
  c.namespace_id = "other";
  c.service_name = "G@@c";
  ExpectInvalid(store.CreateService(c, Why()), message);
  EXPECT_EQ(Refusals(), std::vector<RejectReason>(2, RejectReason::kTotalServices));
  EXPECT_EQ(store.ServiceCount(), 2u);
  ASSERT_TRUE(store.DeleteService("dev", "G@@b").ok());
  EXPECT_EQ(store.ServiceCount(), 1u);
  EXPECT_TRUE(store.CreateService(c, Why()).ok());
}

// The answer cap refuses the write that would break it, not the readers: the service keeps
// answering, and writes that do not grow it pass.
TEST_F(InstanceStoreCapsTest, AnswerCapRefusesTheWriteThatWouldGrowPastIt) {
  InstanceStoreOptions options = Capped();
  options.max_answer_bytes = 4000;
  InstanceStore store(&clock_, options);
  InstanceSpec spec = Spec("10.0.0.1", 80);
  spec.metadata = {{"methods", std::string(1000, 'm')}};
  ASSERT_TRUE(store.Register(spec, Why()).ok());
  spec.ip = "10.0.0.2";
  ASSERT_TRUE(store.Register(spec, Why()).ok());
  const uint64_t revision = store.Revision("public", kDemo);
  const size_t bytes = store.AnswerBytes("public", kDemo);
  ASSERT_LE(bytes, 4000u);
  auto expect_refused = [&](const Status& status) {
    ASSERT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()),
                ::testing::MatchesRegex("the list answer of service [^ ]+ would "
                                        "take about [0-9]+ bytes \\(max 4000, max_answer_bytes, "
                                        "--max-answer-bytes\\)"));
  };
  spec.ip = "10.0.0.3";
  expect_refused(store.Register(spec, Why()));
  InstanceSpec larger = Spec("10.0.0.1", 80);
  larger.metadata = {{"methods", std::string(3000, 'm')}};
  expect_refused(store.Register(larger, Why()));
  expect_refused(store.Update(larger, true, Why()));
  InstancePatch patch;
  patch.metadata = larger.metadata;
  expect_refused(store.Patch(Key("10.0.0.1", 80), patch, Why()));
  patch = InstancePatch();
  patch.app = std::string(3000, 'a');
  expect_refused(store.Patch(Key("10.0.0.1", 80), patch, Why()));
  ServiceSpec service;
  service.service_name = kDemo;
  service.metadata = {{"owner", std::string(3000, 'o')}};
  expect_refused(store.UpdateService(service, Why()));
  Result<BeatInfo> beat = ParseBeatInfo(R"({"ip":"10.0.0.3","port":80,"metadata":{"m":")" +
                                        std::string(1000, 'm') + R"("}})");
  ASSERT_TRUE(beat.ok());
  BeatRequest request;
  request.service_name = kDemo;
  request.beat = *beat;
  expect_refused(store.Beat(request, Why()).status());
  EXPECT_EQ(Refusals(), std::vector<RejectReason>(7, RejectReason::kAnswerTooLarge));
  EXPECT_EQ(store.Revision("public", kDemo), revision);  // Nothing changed.
  EXPECT_EQ(store.AnswerBytes("public", kDemo), bytes);
  // Writes that do not grow the answer pass.
  InstanceSpec smaller = Spec("10.0.0.1", 80);
  EXPECT_TRUE(store.Register(smaller, Why()).ok());
  EXPECT_LT(store.AnswerBytes("public", kDemo), bytes);
  EXPECT_TRUE(store.Register(spec, Why()).ok());  // Now there is room.
  // A new service is measured too.
  InstanceSpec huge = Spec("10.0.0.1", 80, "G@@other");
  huge.metadata = {{"methods", std::string(4000, 'm')}};
  expect_refused(store.Register(huge, Why()));
  EXPECT_EQ(store.Revision("public", "G@@other"), 0u);
}

TEST_F(InstanceStoreCapsTest, AppCountsInTheMetadataCapAndTheBytesHeld) {
  InstanceStoreOptions options = Capped();
  options.max_metadata_bytes = 10;
  InstanceStore store(&clock_, options);
  InstanceSpec spec = Spec();
  spec.metadata = {{"abc", "12"}};
  spec.app = "12345";  // 5 + 5: at the cap.
  ASSERT_TRUE(store.Register(spec, Why()).ok());
  const size_t held = store.BytesHeld();
  spec.app = "123456";
  ExpectInvalid(store.Register(spec, Why()),
                "instance metadata too large: 11 bytes of keys and values and app (max 10, "
                "max_metadata_bytes, --max-metadata-bytes)");
  InstancePatch patch;
  patch.app = "123456";
  EXPECT_FALSE(store.Patch(Key(), patch, Why()).ok());
  EXPECT_EQ(Refusals(), std::vector<RejectReason>(2, RejectReason::kMetadataTooLarge));
  patch.app = "1";
  ASSERT_TRUE(store.Patch(Key(), patch, Why()).ok());
  EXPECT_EQ(store.BytesHeld(), held - 4);  // The app is counted.
}

TEST_F(InstanceStoreTest, ClusterNamesAreAtMost64Bytes) {
  InstanceSpec spec = Spec();
  spec.cluster_name = std::string(64, 'c');
  EXPECT_TRUE(store_.Register(spec).ok());
  spec.cluster_name = std::string(65, 'c');
  ExpectInvalid(store_.Register(spec), "cluster name too long: 65 bytes (max 64)");
  EXPECT_EQ(store_.InstanceCount(), 1u);
}

// A list snapshot shares each instance's metadata with the store instead of copying the map; a
// beat leaves it alone, a re-registration replaces it.
TEST_F(InstanceStoreTest, SnapshotsShareInstanceMetadata) {
  InstanceSpec spec = Spec();
  spec.metadata = {{"methods", std::string(1000, 'm')}};
  ASSERT_TRUE(store_.Register(spec).ok());
  auto metadata_of = [&] {
    Result<ServiceSnapshot> snapshot = store_.List(ListQuery{"", kDemo, "", false});
    EXPECT_TRUE(snapshot.ok());
    EXPECT_EQ(snapshot->hosts.size(), 1u);
    return snapshot->hosts.empty() ? nullptr : &snapshot->hosts[0].metadata.get();
  };
  const Metadata* first = metadata_of();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(metadata_of(), first);  // The same map, not a copy.
  BeatRequest beat;
  beat.service_name = kDemo;
  beat.ip = spec.ip;
  beat.port = spec.port;
  ASSERT_TRUE(store_.Beat(beat).ok());
  EXPECT_EQ(metadata_of(), first);
  spec.metadata["side"] = "provider";
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_NE(metadata_of(), first);
}

// AnswerBytes() bounds the rendered list answer from above (for text without JSON escapes), and
// BytesHeld() is its sum, kept through every change and back to 0 when everything is gone.
TEST_F(InstanceStoreTest, AnswerBytesBoundTheListAnswerAndBytesHeldFollowsChanges) {
  auto rendered = [&](const std::string& service) {
    Result<ServiceSnapshot> snapshot = store_.List(ListQuery{"", service, "", false});
    EXPECT_TRUE(snapshot.ok());
    ListRenderOptions render;
    render.cache_millis = 10000;
    return RenderInstanceList(*snapshot, render).size();
  };
  auto check = [&] {
    size_t sum = 0;
    for (const std::string service : {"DEFAULT_GROUP@@demo", "G@@other"}) {
      const size_t estimate = store_.AnswerBytes("public", service);
      if (store_.Revision("public", service) == 0) {
        EXPECT_EQ(estimate, 0u);
        continue;
      }
      EXPECT_GE(estimate, rendered(service)) << service;
      EXPECT_LE(estimate, rendered(service) * 2 + 600) << service;
      sum += estimate;
    }
    EXPECT_EQ(store_.BytesHeld(), sum);
  };
  EXPECT_EQ(store_.BytesHeld(), 0u);
  InstanceSpec spec = Spec("10.0.0.1", 65535);
  spec.weight = 0.123456789;
  spec.metadata = {{"side", "provider"}, {"methods", std::string(300, 'm')}};
  ASSERT_TRUE(store_.Register(spec).ok());
  check();
  const size_t one = store_.BytesHeld();
  spec.metadata[std::string(kInstanceIdGeneratorKey)] = "snowflake";
  spec.ip = "provider-2.example.com";
  spec.cluster_name = "c2";
  ASSERT_TRUE(store_.Register(spec).ok());
  check();
  spec.metadata["methods"] = std::string(3000, 'x');  // Re-register, larger.
  ASSERT_TRUE(store_.Register(spec).ok());
  check();
  InstancePatch patch;
  patch.metadata = Metadata{{"a", "b"}};
  ASSERT_TRUE(store_.Patch(Key("10.0.0.1", 65535), patch).ok());
  check();
  ServiceSpec service;
  service.service_name = "G@@other";
  service.metadata = {{"owner", "team-a"}};
  ASSERT_TRUE(store_.CreateService(service).ok());
  ASSERT_TRUE(store_.Register(Spec("10.0.0.9", 80, "G@@other")).ok());
  service.metadata = {{"owner", std::string(500, 'o')}};
  ASSERT_TRUE(store_.UpdateService(service).ok());
  check();
  EXPECT_GT(store_.BytesHeld(), one);

  InstanceKey second = Key("provider-2.example.com", 65535);
  second.cluster_name = "c2";
  ASSERT_TRUE(store_.Deregister(second).ok());
  check();
  ASSERT_TRUE(store_.Deregister(Key("10.0.0.9", 80, "G@@other")).ok());
  ASSERT_TRUE(store_.DeleteService("public", "G@@other").ok());
  check();
  clock_.AdvanceBy(milliseconds(30001));
  EXPECT_EQ(store_.CheckHealth().deleted, 1u);
  check();
  clock_.AdvanceBy(milliseconds(60001));
  EXPECT_EQ(store_.CheckHealth().services_removed, 1u);
  EXPECT_EQ(store_.BytesHeld(), 0u);
}

// ---- instances owned by a connection ------------------------------------------------------------

TEST_F(InstanceStoreTest, ReplaceOwnedReplacesTheOwnersSetWithOneChange) {
  ASSERT_TRUE(
      store_.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 8080), Spec("10.0.0.5", 8081)})
          .ok());
  EXPECT_EQ(changes_, std::vector<std::string>{"public/" + std::string(kDemo)});
  EXPECT_EQ(ListOf().hosts.size(), 2u);
  changes_.clear();
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 8082)}).ok());
  EXPECT_EQ(changes_.size(), 1u);
  ServiceSnapshot list = ListOf();
  ASSERT_EQ(list.hosts.size(), 1u);
  EXPECT_EQ(list.hosts[0].port, 8082);
  EXPECT_EQ(list.hosts[0].owner, "c1");
  // Another owner's instances stay.
  ASSERT_TRUE(store_.ReplaceOwned("c2", "public", kDemo, {Spec("10.0.0.6", 9000)}).ok());
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {}).ok());
  list = ListOf();
  ASSERT_EQ(list.hosts.size(), 1u);
  EXPECT_EQ(list.hosts[0].ip, "10.0.0.6");
  EXPECT_TRUE(store_.OwnedServices("c1").empty());
  EXPECT_EQ(store_.OwnedServices("c2").size(), 1u);
  // Nothing held and nothing wanted: no change.
  changes_.clear();
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {}).ok());
  EXPECT_TRUE(changes_.empty());
}

TEST_F(InstanceStoreTest, AV1DeregistrationLeavesAConnectionsInstanceAlone) {
  // A client moving from v1 to gRPC registers on its connection (taking the instance over), then
  // deregisters its v1 copy: the instance must stay, as it does in Nacos.
  ASSERT_TRUE(store_.Register(Spec("10.0.0.5", 8080)).ok());
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 8080)}).ok());
  changes_.clear();
  ASSERT_TRUE(store_.Deregister(Key("10.0.0.5", 8080)).ok());
  EXPECT_TRUE(changes_.empty());
  ASSERT_EQ(ListOf().hosts.size(), 1u);
  // The connection's own deregistration removes it.
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {}).ok());
  EXPECT_TRUE(ListOf().hosts.empty());
}

TEST_F(InstanceStoreTest, ReplaceOwnedChecksEverySpecBeforeApplying) {
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 8080)}).ok());
  InstanceSpec bad = Spec("10.0.0.5", 8082);
  bad.cluster_name = "c_1";
  changes_.clear();
  EXPECT_FALSE(store_.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 8081), bad}).ok());
  EXPECT_TRUE(changes_.empty());
  ServiceSnapshot list = ListOf();
  ASSERT_EQ(list.hosts.size(), 1u);
  EXPECT_EQ(list.hosts[0].port, 8080);
}

TEST_F(InstanceStoreTest, ReplaceOwnedRespectsInstanceCapsForTheWholeSet) {
  InstanceStoreOptions options;
  options.max_instances_per_service = 2;
  InstanceStore store(&clock_, options);
  EXPECT_FALSE(store
                   .ReplaceOwned("c1", "public", kDemo,
                                 {Spec("10.0.0.5", 1), Spec("10.0.0.5", 2), Spec("10.0.0.5", 3)})
                   .ok());
  EXPECT_EQ(store.InstanceCount(), 0u);
  ASSERT_TRUE(
      store.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 1), Spec("10.0.0.5", 2)}).ok());
  // Replacing two by two others fits.
  EXPECT_TRUE(
      store.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 3), Spec("10.0.0.5", 4)}).ok());
  EXPECT_EQ(store.InstanceCount(), 2u);
}

TEST_F(InstanceStoreTest, OwnedInstancesNeverExpireAndKeepTheirChosenId) {
  InstanceSpec spec = Spec("10.0.0.6", 9000);
  spec.instance_id = "10.0.0.6#9000#null#DEFAULT_GROUP@@demo";
  spec.any_weight = true;
  spec.weight = 10001;
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {spec}).ok());
  SweepAfter(milliseconds(60000));
  ServiceSnapshot list = ListOf();
  ASSERT_EQ(list.hosts.size(), 1u);
  EXPECT_TRUE(list.hosts[0].healthy);
  EXPECT_EQ(list.hosts[0].instance_id, "10.0.0.6#9000#null#DEFAULT_GROUP@@demo");
  EXPECT_EQ(list.hosts[0].cluster_name, "DEFAULT");
  EXPECT_EQ(list.hosts[0].weight, 10001.0);
}

TEST_F(InstanceStoreTest, V1RegistrationOfAnOwnedAddressTakesItOver) {
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {Spec("10.0.0.5", 8080)}).ok());
  ASSERT_TRUE(store_.Register(Spec("10.0.0.5", 8080)).ok());
  EXPECT_EQ(store_.InstanceCount(), 1u);
  EXPECT_TRUE(store_.OwnedServices("c1").empty());
  // The owner's disconnect leaves the v1 instance, which now expires by beats.
  ASSERT_TRUE(store_.ReplaceOwned("c1", "public", kDemo, {}).ok());
  EXPECT_EQ(store_.InstanceCount(), 1u);
  SweepAfter(milliseconds(31000));
  EXPECT_EQ(store_.InstanceCount(), 0u);
}

}  // namespace
}  // namespace dubbo::naming_server
