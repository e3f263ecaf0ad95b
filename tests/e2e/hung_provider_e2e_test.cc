// End-to-end: a provider that hangs (SIGSTOP: its port stays open, it never answers) leaves the
// consumer's rotation without a single call failing, and is probed back in after SIGCONT. The real
// naming-server, three demo-providers and a demo-consumer run as separate processes on loopback.
//
// Event-driven: every step waits for the consumer's figures (its --summary-json file, rewritten
// whole every 100 ms) to show the expected state, and nothing depends on throughput. Each wait
// for the figures gives up after a generous kAwaitLimit (120 s) with a message saying what never
// happened, before ctest's timeout would end the test without one; a wait for a start line ends
// when the line comes or the program exits. The stopped phase lasts only until the
// consumer has ejected the provider (3 timeouts of 3 s on 4 calling threads), well under the 15 s
// after which the naming server would mark it unhealthy, so the registry plays no part in the
// ejection.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/child_process.h"
#include "testing/temp_dir.h"

namespace {

using dubbo::registry::testing::ChildProcess;

// How long one wait for the consumer's figures may take before the test fails.
constexpr std::chrono::seconds kAwaitLimit{120};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HungProviderE2ETest : public ::testing::Test {
 protected:
  // A demo program with HOME in the test's directory, so no cache file outside it is touched.
  std::unique_ptr<ChildProcess> Spawn(std::vector<std::string> argv) {
    return std::make_unique<ChildProcess>(std::move(argv),
                                          std::vector<std::string>{"HOME=" + dir_.path()});
  }

  // Waits until the consumer's latest figures satisfy `done`; false if the consumer exited first
  // or kAwaitLimit passed (with a diagnostic). The figures are a file the consumer rewrites every
  // report, with no event to wait on, so it is re-read every 20 ms: the period only sets how soon
  // a state is seen, never whether the test passes.
  bool AwaitFigures(ChildProcess& consumer,
                    const std::function<bool(const rapidjson::Document&)>& done) {
    const auto give_up = std::chrono::steady_clock::now() + kAwaitLimit;
    while (true) {
      rapidjson::Document doc;
      doc.Parse(ReadFile(summary_).c_str());
      if (!doc.HasParseError() && doc.IsObject() && done(doc)) return true;
      if (consumer.Exited()) return false;
      if (std::chrono::steady_clock::now() >= give_up) {
        ADD_FAILURE() << "the consumer's figures did not get there within " << kAwaitLimit.count()
                      << " s; last figures:\n"
                      << ReadFile(summary_);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The entry of the provider on `port` in the figures, or nullptr.
  static const rapidjson::Value* Entry(const rapidjson::Document& doc, const std::string& port) {
    if (!doc.HasMember("providers") || !doc["providers"].IsArray()) return nullptr;
    const std::string address = "127.0.0.1:" + port;
    for (const rapidjson::Value& p : doc["providers"].GetArray()) {
      if (address == p["address"].GetString()) return &p;
    }
    return nullptr;
  }
  static std::string State(const rapidjson::Value& entry) {
    return entry.HasMember("state") ? entry["state"].GetString() : "";
  }

  dubbo::registry::testing::TempDir dir_;
  std::string summary_ = dir_.File("figures.json");
};

TEST_F(HungProviderE2ETest, HungProviderLeavesTheRotationWithoutFailedCallsAndIsProbedBackIn) {
  auto server = Spawn({DEMO_NAMING_SERVER, "--port", "0"});
  ASSERT_TRUE(server->started());
  const auto server_port = server->WaitForMatch("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  ASSERT_TRUE(server_port.has_value()) << server->Log();
  const std::string registry = "nacos://127.0.0.1:" + *server_port;

  std::vector<std::unique_ptr<ChildProcess>> providers;
  std::vector<std::string> ports;
  for (int i = 0; i < 3; ++i) {
    providers.push_back(Spawn({DEMO_PROVIDER, "--registry", registry, "--weight", "100"}));
    const auto port = providers.back()->WaitForMatch("serving thrift://127\\.0\\.0\\.1:([0-9]+)");
    ASSERT_TRUE(port.has_value()) << providers.back()->Log();
    ports.push_back(*port);
  }
  // Runs until SIGTERM; default breaker options. A per-attempt timeout of 3 s keeps a healthy
  // provider on a loaded machine from timing out, while a hung one still times out and is ejected.
  auto consumer = Spawn({DEMO_CONSUMER, "--registry", registry + "?file=" + dir_.File("cache"),
                         "--duration", "3600", "--report-ms", "100", "--summary-json", summary_,
                         "--wait-providers", "60", "--timeout", "3000"});
  ASSERT_TRUE(consumer->started());
  ASSERT_TRUE(AwaitFigures(*consumer,
                           [&](const rapidjson::Document& doc) {
                             for (const std::string& port : ports) {
                               const rapidjson::Value* e = Entry(doc, port);
                               if (e == nullptr || (*e)["calls"].GetUint64() == 0) return false;
                             }
                             return true;
                           }))
      << "calls never reached every provider:\n"
      << consumer->Log();

  // Hang the second provider: calls to it time out, it is ejected.
  const std::string& hung = ports[1];
  providers[1]->Signal(SIGSTOP);
  uint64_t calls_while_ejected = 0;
  uint64_t probes_ok_while_ejected = 0;
  ASSERT_TRUE(AwaitFigures(*consumer,
                           [&](const rapidjson::Document& doc) {
                             const rapidjson::Value* e = Entry(doc, hung);
                             if (e == nullptr || State(*e) != "open") return false;
                             calls_while_ejected = (*e)["calls"].GetUint64();
                             probes_ok_while_ejected = (*e)["probes_ok"].GetUint64();
                             return true;
                           }))
      << "the hung provider was never ejected:\n"
      << consumer->Log();

  // Resume it: a probe succeeds and it is back in the rotation, answering calls again.
  providers[1]->Signal(SIGCONT);
  ASSERT_TRUE(AwaitFigures(*consumer,
                           [&](const rapidjson::Document& doc) {
                             const rapidjson::Value* e = Entry(doc, hung);
                             return e != nullptr && State(*e) == "up" &&
                                    (*e)["probes_ok"].GetUint64() > probes_ok_while_ejected &&
                                    (*e)["calls"].GetUint64() > calls_while_ejected;
                           }))
      << "the resumed provider was never probed back in:\n"
      << consumer->Log();

  consumer->Signal(SIGTERM);
  EXPECT_EQ(consumer->Wait(), 0) << "some call failed:\n" << consumer->Log();
  rapidjson::Document doc;
  doc.Parse(ReadFile(summary_).c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("final") && doc["final"].GetBool());
  EXPECT_EQ(doc["failed"].GetUint64(), 0u) << "no call may fail while a provider hangs";
  const rapidjson::Value* e = Entry(doc, hung);
  ASSERT_NE(e, nullptr);
  EXPECT_GT((*e)["timeouts"].GetUint64(), 0u) << "the hang was noticed by timeouts";
  EXPECT_GT((*e)["probes_ok"].GetUint64(), 0u);
}

}  // namespace
