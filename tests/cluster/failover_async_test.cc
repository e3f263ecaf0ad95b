// Tests for FailoverCluster::InvokeAsync(): the same failover, retries, timeouts, breakers, probes,
// statistics and messages as Invoke() (each scenario runs through both and the traces must match),
// whether the transport reports inside `call` or later from a test-controlled queue; the completion
// running exactly once whatever happens (throwing calls, double and dropped reports, throwing
// completions, the cluster destroyed at any point); the invocation's views copied when an attempt
// outlives InvokeAsync(); no stack growth with synchronous retries; retries clamped to 1000.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/load_balancer.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/status.h"

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;
using registry::Status;
using registry::StatusCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A directory of `count` providers 10.0.0.<i+1>:1 on a manual clock, and a cluster over it.
struct World {
  explicit World(const std::string& query = "loadbalance=roundrobin", int count = 3,
                 ProviderDirectoryOptions options = ProviderDirectoryOptions()) {
    options.clock = &clock;
    directory = std::make_shared<ProviderDirectory>(options);
    std::vector<registry::URL> urls;
    for (int i = 0; i < count; ++i)
      urls.push_back(ProviderUrl("10.0." + std::to_string(i / 250) + "." +
                                 std::to_string(i % 250 + 1) + ":1"));
    directory->Notify(urls);
    registry::Result<std::unique_ptr<FailoverCluster>> created = FailoverCluster::Create(
        directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?" + query));
    EXPECT_TRUE(created.ok()) << created.status();
    cluster = std::move(*created);
  }
  const Provider& provider(size_t i) const { return (*directory->snapshot())[i]; }

  registry::ManualScheduler clock;
  std::shared_ptr<ProviderDirectory> directory;
  std::unique_ptr<FailoverCluster> cluster;
};

// Decides an attempt's outcome; may advance the clock (the time the attempt takes).
using Script = std::function<Status(World&, const Provider&, const Attempt&)>;

struct Trace {
  std::vector<std::string> addresses;
  std::vector<Attempt> attempts;
  Status result;
  int completions = 0;
};

// The usual script: `refusing` answer kUnavailable after 1 ms, `hung` ones kDeadlineExceeded
// after the attempt's timeout, `failing` ones the given code after 1 ms, the others OK after 1 ms.
Script Outcomes(std::set<std::string> refusing, std::set<std::string> hung = {},
                std::map<std::string, StatusCode> failing = {}) {
  return [=](World& world, const Provider& p, const Attempt& attempt) {
    if (hung.count(p.address())) {
      world.clock.AdvanceBy(attempt.timeout);
      return registry::DeadlineExceededError("timed out");
    }
    world.clock.AdvanceBy(std::chrono::milliseconds(1));
    if (refusing.count(p.address())) return registry::UnavailableError("connection refused");
    auto it = failing.find(p.address());
    if (it != failing.end()) return Status(it->second, "failed with " + p.address());
    return Status();
  };
}

Trace RunInvoke(World& world, const Invocation& invocation, const Script& script) {
  Trace trace;
  trace.result = world.cluster->Invoke(invocation, [&](const Provider& p, const Attempt& a) {
    trace.addresses.push_back(p.address());
    trace.attempts.push_back(a);
    return script(world, p, a);
  });
  trace.completions = 1;
  return trace;
}

// A transport whose reports wait in a queue until Pump() (when `deferred`), else are made inside
// `call`.
struct QueueTransport {
  std::deque<std::pair<AttemptDone, Status>> pending;
  void Pump() {
    while (!pending.empty()) {
      auto [done, status] = std::move(pending.front());
      pending.pop_front();
      done(std::move(status));
    }
  }
};

Trace RunInvokeAsync(World& world, const Invocation& invocation, const Script& script,
                     bool deferred) {
  Trace trace;
  QueueTransport transport;
  world.cluster->InvokeAsync(
      invocation,
      [&](const Provider& p, const Attempt& a, AttemptDone done) {
        trace.addresses.push_back(p.address());
        trace.attempts.push_back(a);
        Status status = script(world, p, a);
        if (deferred) {
          transport.pending.emplace_back(std::move(done), std::move(status));
        } else {
          done(std::move(status));
        }
      },
      [&](Status s) {
        trace.result = std::move(s);
        ++trace.completions;
      });
  if (deferred && !trace.addresses.empty()) {
    EXPECT_EQ(trace.completions, 0);  // nothing reported yet
  }
  transport.Pump();
  return trace;
}

// The state a scenario leaves behind, per provider.
std::vector<std::string> ProviderStates(const World& world) {
  std::vector<std::string> states;
  for (const Provider& p : world.directory->snapshot()->providers()) {
    states.push_back(p.address() + " active=" + std::to_string(p.stats().active()) +
                     " ok=" + std::to_string(p.stats().succeeded()) +
                     " failed=" + std::to_string(p.stats().failed()) +
                     " breaker=" + std::to_string(static_cast<int>(p.breaker().state())) +
                     " ejections=" + std::to_string(p.breaker().ejections()));
  }
  return states;
}

struct Scenario {
  const char* name;
  std::string query;
  Script script;
  int invocations = 1;
  std::function<void(World&)> setup = nullptr;
  Invocation invocation = Invocation();
};

// Runs `scenario` through Invoke() and through InvokeAsync() (reports inside the call, and
// deferred) on identical worlds; every trace and the state left behind must be the same.
void ExpectSameAsInvoke(const Scenario& scenario) {
  SCOPED_TRACE(scenario.name);
  World sync_world(scenario.query), inline_world(scenario.query), deferred_world(scenario.query);
  for (World* w : {&sync_world, &inline_world, &deferred_world}) {
    if (scenario.setup) scenario.setup(*w);
  }
  for (int i = 0; i < scenario.invocations; ++i) {
    SCOPED_TRACE("invocation " + std::to_string(i));
    const Trace expected = RunInvoke(sync_world, scenario.invocation, scenario.script);
    for (bool deferred : {false, true}) {
      SCOPED_TRACE(deferred ? "deferred" : "inline");
      World& world = deferred ? deferred_world : inline_world;
      const Trace got = RunInvokeAsync(world, scenario.invocation, scenario.script, deferred);
      EXPECT_EQ(got.completions, 1);
      EXPECT_EQ(got.addresses, expected.addresses);
      EXPECT_EQ(got.result.code(), expected.result.code());
      EXPECT_EQ(got.result.message(), expected.result.message());
      ASSERT_EQ(got.attempts.size(), expected.attempts.size());
      for (size_t a = 0; a < got.attempts.size(); ++a) {
        EXPECT_EQ(got.attempts[a].index, expected.attempts[a].index) << a;
        EXPECT_EQ(got.attempts[a].probe, expected.attempts[a].probe) << a;
        EXPECT_EQ(got.attempts[a].timeout, expected.attempts[a].timeout) << a;
        EXPECT_EQ(got.attempts[a].deadline - world.clock.Now(),
                  expected.attempts[a].deadline - sync_world.clock.Now())
            << a;
      }
      EXPECT_EQ(ProviderStates(world), ProviderStates(sync_world));
    }
  }
}

TEST(ClusterFailoverAsync, BehavesAsInvoke) {
  Invocation say_hello;
  say_hello.method = "sayHello";
  auto eject_first = [](World& w) {
    const Provider& first = w.provider(0);
    first.breaker().OnFailure(FailureKind::kConnect, w.clock);
    ASSERT_TRUE(w.directory->TryEject(first, w.clock));
    w.clock.AdvanceBy(std::chrono::seconds(1));  // the probe is due
  };
  const std::vector<Scenario> scenarios = {
      {"success", "loadbalance=roundrobin", Outcomes({}), 4},
      {"failover", "loadbalance=roundrobin", Outcomes({"10.0.0.1:1"}), 4},
      {"all refuse", "loadbalance=roundrobin", Outcomes({"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}),
       3},
      {"retries=1", "loadbalance=roundrobin&retries=1",
       Outcomes({"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}), 2},
      {"timeouts", "loadbalance=roundrobin&timeout=50", Outcomes({}, {"10.0.0.1:1", "10.0.0.2:1"}),
       5},
      {"business error", "loadbalance=roundrobin",
       Outcomes({}, {}, {{"10.0.0.1:1", StatusCode::kInvalidArgument}}), 3},
      {"internal and cancelled", "loadbalance=roundrobin",
       Outcomes({}, {},
                {{"10.0.0.1:1", StatusCode::kInternal}, {"10.0.0.2:1", StatusCode::kCancelled}}),
       3},
      {"method timeout", "loadbalance=roundrobin&sayHello.timeout=70&timeout=40",
       Outcomes({"10.0.0.1:1"}), 2, nullptr, say_hello},
      {"failed probe does not use a retry", "loadbalance=roundrobin&retries=0",
       Outcomes({}, {"10.0.0.1:1"}), 3, eject_first},
      {"answered probe rejoins", "loadbalance=roundrobin", Outcomes({}), 4, eject_first},
      {"no provider", "loadbalance=roundrobin", Outcomes({}), 1,
       [](World& w) {
         w.directory->Notify({registry::URL::Empty("com.foo.Greeter", "providers")});
       }},
  };
  for (const Scenario& scenario : scenarios) ExpectSameAsInvoke(scenario);
}

TEST(ClusterFailoverAsync, AnInlineReportCompletesBeforeInvokeAsyncReturns) {
  World world;
  int completions = 0;
  world.cluster->InvokeAsync(
      {}, [](const Provider&, const Attempt&, AttemptDone done) { done(Status()); },
      [&](Status s) {
        EXPECT_TRUE(s.ok()) << s;
        ++completions;
      });
  EXPECT_EQ(completions, 1);
  EXPECT_EQ(world.provider(0).stats().succeeded(), 1u);
  EXPECT_EQ(world.provider(0).stats().active(), 0);
}

TEST(ClusterFailoverAsync, EachNextAttemptRunsWhenThePreviousIsReported) {
  World world;
  QueueTransport transport;
  std::vector<std::string> called;
  int completions = 0;
  Status result;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt&, AttemptDone done) {
        called.push_back(p.address());
        EXPECT_EQ(p.stats().active(), 1);
        transport.pending.emplace_back(
            std::move(done), called.size() < 3 ? registry::UnavailableError("refused") : Status());
      },
      [&](Status s) {
        result = std::move(s);
        ++completions;
      });
  ASSERT_THAT(called, ElementsAre("10.0.0.1:1"));
  ASSERT_EQ(transport.pending.size(), 1u);
  auto [first, first_status] = std::move(transport.pending.front());
  transport.pending.pop_front();
  first(first_status);  // runs the second attempt here
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  EXPECT_EQ(completions, 0);
  transport.Pump();
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
  EXPECT_EQ(completions, 1);
  EXPECT_TRUE(result.ok()) << result;
}

TEST(ClusterFailoverAsync, ACallThatThrowsCountsAsAnInternalError) {
  World world("loadbalance=roundrobin&retries=1");
  std::vector<std::string> called;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt&, AttemptDone) {
        called.push_back(p.address());
        throw std::runtime_error("boom");
      },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kInternal);
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("the call threw: boom"));
  EXPECT_EQ(world.provider(0).stats().active(), 0);
  EXPECT_EQ(world.provider(0).stats().failed(), 1u);

  // A non-standard exception too; and a report made before the throw stands.
  results.clear();
  world.cluster->InvokeAsync(
      {}, [&](const Provider&, const Attempt&, AttemptDone) { throw 7; },
      [&](Status s) { results.push_back(std::move(s)); });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("non-standard exception"));
  results.clear();
  world.cluster->InvokeAsync(
      {},
      [&](const Provider&, const Attempt&, AttemptDone done) {
        done(Status());
        throw std::runtime_error("after the report");
      },
      [&](Status s) { results.push_back(std::move(s)); });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0];
}

TEST(ClusterFailoverAsync, ACallThatHandsDoneOnAndThrowsWaitsForTheReport) {
  World world;
  QueueTransport transport;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider&, const Attempt&, AttemptDone done) {
        transport.pending.emplace_back(std::move(done), Status());
        throw std::runtime_error("late throw");
      },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_TRUE(results.empty());
  transport.Pump();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0];
}

TEST(ClusterFailoverAsync, TheFirstReportWins) {
  World world;
  std::vector<Status> results;
  AttemptDone kept;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider&, const Attempt&, AttemptDone done) {
        EXPECT_TRUE(static_cast<bool>(done));
        done(registry::InvalidArgumentError("business"));
        EXPECT_FALSE(static_cast<bool>(done));
        done(Status());  // ignored
        kept = std::move(done);
      },
      [&](Status s) { results.push_back(std::move(s)); });
  kept(Status());  // ignored too: empty
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(world.provider(0).stats().succeeded() + world.provider(0).stats().failed(), 1u);
}

TEST(ClusterFailoverAsync, ADroppedReportIsCancelledAndRetried) {
  World world("loadbalance=roundrobin&retries=1");
  QueueTransport transport;
  std::vector<std::string> called;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt&, AttemptDone done) {
        called.push_back(p.address());
        if (called.size() == 1) {
          AttemptDone dropped = std::move(done);  // destroyed unused
          return;
        }
        transport.pending.emplace_back(std::move(done), Status());
        // Assigning over a pending AttemptDone drops the one replaced.
        transport.pending.back().first = AttemptDone();
      },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kCancelled);
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("the transport dropped the attempt"));
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("after 2 attempt(s)"));
  transport.Pump();  // the emptied AttemptDone reports nothing
  EXPECT_EQ(results.size(), 1u);
}

TEST(ClusterFailoverAsync, IntoFunctionMakesACopyableReportWhoseFirstCallWins) {
  World world("loadbalance=roundrobin&retries=1");
  std::vector<std::function<void(Status)>> copies;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider&, const Attempt&, AttemptDone done) {
        std::function<void(Status)> report = std::move(done).IntoFunction();
        EXPECT_FALSE(static_cast<bool>(done));
        copies = {report, report, report};
      },
      [&](Status s) { results.push_back(std::move(s)); });
  ASSERT_EQ(copies.size(), 3u);
  EXPECT_TRUE(results.empty());
  copies[1](registry::InvalidArgumentError("business"));
  copies[0](Status());  // ignored: a copy already reported
  copies[2](registry::UnavailableError("refused"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kInvalidArgument);
}

TEST(ClusterFailoverAsync, IntoFunctionReportsADropWhenItsLastCopyGoesUncalled) {
  World world("loadbalance=roundrobin&retries=1");
  std::vector<std::string> called;
  std::vector<std::function<void(Status)>> copies;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt&, AttemptDone done) {
        called.push_back(p.address());
        std::function<void(Status)> report = std::move(done).IntoFunction();
        if (called.size() == 1) {
          copies = {report, report};
        } else {
          report(Status());
        }
      },
      [&](Status s) { results.push_back(std::move(s)); });
  copies.pop_back();
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1"));  // a copy is still alive
  copies.clear();  // the last copy: the attempt is dropped and retried on the next provider
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_EQ(world.provider(0).stats().failed(), 1u);
}

// The outer invocation's call starts an inner one on the same cluster, so the thread's snapshot
// reader is taken and the inner one owns its snapshot. Each inner attempt replaces the directory's
// providers and then reports a failure inline: the snapshot its provider came from survives only
// if the invocation keeps it until it has accounted the attempt (ASan checks that in CI).
TEST(ClusterFailoverAsync, AnInlineReportOutlivesTheSnapshotReplacedDuringItsCall) {
  World world("loadbalance=roundrobin&retries=1");
  std::vector<Status> results;
  int round = 0;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider&, const Attempt&, AttemptDone outer_done) {
        world.cluster->InvokeAsync(
            {},
            [&](const Provider&, const Attempt&, AttemptDone done) {
              ++round;
              world.directory->Notify({ProviderUrl("10.0.1." + std::to_string(round) + ":1"),
                                       ProviderUrl("10.0.2." + std::to_string(round) + ":1")});
              done(registry::UnavailableError("refused"));
            },
            [&](Status s) { results.push_back(std::move(s)); });
        outer_done(Status());
      },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_EQ(round, 2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].code(), StatusCode::kUnavailable);  // the inner invocation, both attempts
  EXPECT_TRUE(results[1].ok()) << results[1];
}

// A balancer that throws picks nothing: Invoke() and InvokeAsync() fail with kUnavailable, and no
// exception leaves the cluster.
TEST(ClusterFailoverAsync, ABalancerThatThrowsPicksNothing) {
  class Throwing final : public LoadBalancer {
   public:
    std::string_view name() const override { return "throws-on-select"; }
    const Provider* Select(const ProviderSnapshot&, const Invocation&,
                           const ProviderFilter*) const override {
      throw std::runtime_error("balancer bug");
    }
  };
  ASSERT_TRUE(RegisterLoadBalancer("throws-on-select", [](const LoadBalancerOptions&) {
                return registry::Result<std::unique_ptr<LoadBalancer>>(
                    std::make_unique<Throwing>());
              }).ok());
  World world("loadbalance=throws-on-select");
  int calls = 0;
  Status sync = world.cluster->Invoke({}, [&](const Provider&, const Attempt&) {
    ++calls;
    return Status();
  });
  EXPECT_EQ(sync.code(), StatusCode::kUnavailable) << sync;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider&, const Attempt&, AttemptDone done) {
        ++calls;
        done(Status());
      },
      [&](Status s) { results.push_back(std::move(s)); });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kUnavailable) << results[0];
  EXPECT_EQ(calls, 0);
}

TEST(ClusterFailoverAsync, AThrowingCompletionIsContained) {
  World world;
  QueueTransport transport;
  int completions = 0;
  auto call = [&](const Provider&, const Attempt&, AttemptDone done) {
    transport.pending.emplace_back(std::move(done), Status());
  };
  auto completion = [&](Status) {
    ++completions;
    throw std::runtime_error("completion trouble");
  };
  world.cluster->InvokeAsync({}, call, completion);
  transport.Pump();  // the exception stays out of the reporting thread
  world.cluster->InvokeAsync(
      {}, [](const Provider&, const Attempt&, AttemptDone done) { done(Status()); },
      [&](Status) {
        ++completions;
        throw 1;
      });
  EXPECT_EQ(completions, 2);
}

TEST(ClusterFailoverAsync, NoProviderAndNoCallComplete) {
  World world;
  world.directory->Notify({registry::URL::Empty("com.foo.Greeter", "providers")});
  std::vector<Status> results;
  bool called = false;
  world.cluster->InvokeAsync(
      {}, [&](const Provider&, const Attempt&, AttemptDone) { called = true; },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_FALSE(called);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(results[0].message()),
              HasSubstr("No provider available for com.foo.Greeter"));
  world.cluster->InvokeAsync({}, nullptr, [&](Status s) { results.push_back(std::move(s)); });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].code(), StatusCode::kInvalidArgument);
  world.cluster->InvokeAsync(  // an empty completion is allowed
      {}, [&](const Provider&, const Attempt&, AttemptDone done) { done(Status()); }, nullptr);
}

TEST(ClusterFailoverAsync, TheClusterMayBeDestroyedInsideTheCall) {
  World world;
  std::vector<std::string> called;
  std::vector<Status> results;
  const std::weak_ptr<ProviderDirectory> directory = world.directory;
  FailoverCluster* cluster = world.cluster.get();
  cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt&, AttemptDone done) {
        called.push_back(p.address());
        world.cluster.reset();  // the directory too: the invocation keeps both alive
        world.directory.reset();
        done(called.size() == 1 ? registry::UnavailableError("refused") : Status());
      },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_TRUE(directory.expired()) << "the finished invocation must let go of the cluster's state";
}

TEST(ClusterFailoverAsync, TheClusterMayBeDestroyedInsideTheCompletion) {
  World world;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {}, [&](const Provider&, const Attempt&, AttemptDone done) { done(Status()); },
      [&](Status s) {
        world.cluster.reset();
        world.directory.reset();
        results.push_back(std::move(s));
      });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok());
  World other;  // the thread's next invocation (reusing the state object) is unaffected
  other.cluster->InvokeAsync(
      {}, [&](const Provider&, const Attempt&, AttemptDone done) { done(Status()); },
      [&](Status s) { results.push_back(std::move(s)); });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[1].ok());
}

TEST(ClusterFailoverAsync, TheClusterMayBeDestroyedWhileAnAttemptIsInFlight) {
  World world;
  QueueTransport transport;
  std::vector<std::string> called;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt&, AttemptDone done) {
        called.push_back(p.address());
        transport.pending.emplace_back(std::move(done), called.size() < 3
                                                            ? registry::UnavailableError("refused")
                                                            : registry::UnavailableError("too"));
      },
      [&](Status s) { results.push_back(std::move(s)); });
  const std::weak_ptr<ProviderDirectory> directory = world.directory;
  world.cluster.reset();
  world.directory.reset();
  EXPECT_FALSE(directory.expired());
  transport.Pump();  // the retries run normally
  EXPECT_TRUE(directory.expired());
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(results[0].message()),
              HasSubstr("Failed to invoke com.foo.Greeter after 3 attempt(s) (3 allowed"));
}

// Records what it is asked to pick with, and picks the first allowed provider.
class RecordingBalancer final : public LoadBalancer {
 public:
  static std::vector<std::string>* seen() {
    static auto* seen = new std::vector<std::string>();
    return seen;
  }
  std::string_view name() const override { return "recording"; }
  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& invocation,
                         const ProviderFilter* filter) const override {
    std::string entry(invocation.method);
    for (size_t i = 0; i < invocation.argument_count; ++i)
      entry += "|" + std::string(invocation.arguments[i]);
    seen()->push_back(entry);
    for (size_t i = 0; i < snapshot.size(); ++i) {
      if (filter == nullptr || filter->Allowed(i, snapshot[i])) return &snapshot[i];
    }
    return nullptr;
  }
};

TEST(ClusterFailoverAsync, LaterAttemptsUseCopiesOfTheInvocationsViews) {
  ASSERT_TRUE(RegisterLoadBalancer("recording", [](const LoadBalancerOptions&) {
                return registry::Result<std::unique_ptr<LoadBalancer>>(
                    std::make_unique<RecordingBalancer>());
              }).ok());
  RecordingBalancer::seen()->clear();
  World world("loadbalance=recording&sayHello.timeout=70");
  QueueTransport transport;
  std::vector<Attempt> attempts;
  std::vector<Status> results;
  {
    std::string method = "sayHello";
    std::string argument = "user-1";
    std::string_view args[] = {argument};
    Invocation invocation;
    invocation.method = method;
    invocation.arguments = args;
    invocation.argument_count = 1;
    world.cluster->InvokeAsync(
        invocation,
        [&](const Provider&, const Attempt& a, AttemptDone done) {
          attempts.push_back(a);
          transport.pending.emplace_back(std::move(done), registry::UnavailableError("refused"));
        },
        [&](Status s) { results.push_back(std::move(s)); });
    // The caller's data changes in place, then goes away.
    method.assign(method.size(), 'X');
    argument.assign(argument.size(), 'Y');
    args[0] = "gone";
  }
  transport.Pump();
  EXPECT_THAT(*RecordingBalancer::seen(),
              ElementsAre("sayHello|user-1", "sayHello|user-1", "sayHello|user-1"));
  ASSERT_EQ(attempts.size(), 3u);
  for (const Attempt& a : attempts) EXPECT_EQ(a.timeout, std::chrono::milliseconds(70));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_THAT(std::string(results[0].message()),
              HasSubstr("Failed to invoke com.foo.Greeter.sayHello after 3 attempt(s)"));
}

TEST(ClusterFailoverAsync, SynchronousRetriesDoNotGrowTheStack) {
  constexpr int kProviders = 300;
  World world("loadbalance=roundrobin&retries=1000", kProviders);
  std::set<uintptr_t> frames;
  std::set<std::string> called;
  int attempts = 0;
  std::vector<Status> results;
  world.cluster->InvokeAsync(
      {},
      [&](const Provider& p, const Attempt& a, AttemptDone done) {
        // The frame's address (not a local's: sanitizers may move locals off the stack).
        frames.insert(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)));
        called.insert(p.address());
        EXPECT_EQ(a.index, attempts);
        ++attempts;
        done(registry::UnavailableError("refused"));
      },
      [&](Status s) { results.push_back(std::move(s)); });
  EXPECT_EQ(attempts, kProviders);
  EXPECT_EQ(called.size(), static_cast<size_t>(kProviders));  // never the same provider twice
  EXPECT_EQ(frames.size(), 1u) << "every attempt must run in the same frame";
  ASSERT_EQ(results.size(), 1u);
  EXPECT_THAT(std::string(results[0].message()),
              HasSubstr("after 300 attempt(s) (1001 allowed, probes not counted)"));
}

TEST(ClusterFailoverAsync, RetriesAreClampedTo1000) {
  World world;
  Invocation huge;
  huge.retries = INT_MAX;
  EXPECT_EQ(world.cluster->RetriesFor(huge), 1000);
  FailoverClusterOptions options;
  options.retries = INT_MAX;
  auto clamped = FailoverCluster::Create(
      world.directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=roundrobin"),
      options);
  ASSERT_TRUE(clamped.ok());
  EXPECT_EQ((*clamped)->RetriesFor(Invocation()), 1000);
  EXPECT_EQ(World("retries=5000").cluster->RetriesFor(Invocation()), 1000);
  // INT_MAX + 1 attempts would overflow: every provider is tried and the message says 1001.
  Status s = world.cluster->Invoke(
      huge, [](const Provider&, const Attempt&) { return registry::UnavailableError("refused"); });
  EXPECT_THAT(std::string(s.message()), HasSubstr("after 3 attempt(s) (1001 allowed"));
}

}  // namespace
}  // namespace dubbo::cluster
