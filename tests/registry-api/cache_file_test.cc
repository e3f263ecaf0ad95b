// The registry cache file: format, corruption handling, atomic merged writes, two writers, and how
// AbstractRegistry saves it (asynchronously on the injected scheduler by default).
#include "testing/log_capture.h"
#include "cache_file.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "testing/fake_registry.h"
#include "testing/recording_listener.h"
#include "testing/temp_dir.h"

namespace dubbo::registry {
namespace {

using ::dubbo::registry::testing::LogCapture;

using internal::CacheEntries;
using internal::CacheFile;
using internal::EscapeProperty;
using internal::FormatCacheText;
using internal::ParseCacheText;
using testing::FakeRegistry;
using testing::RecordingListener;
using testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

const char kUrl1[] = "dubbo://10.0.0.1:20880/com.foo.Bar?interface=com.foo.Bar&version=1.0.0&weight=200";
const char kUrl2[] = "dubbo://10.0.0.2:20880/com.foo.Bar?interface=com.foo.Bar&version=1.0.0";

TEST(CacheFormatTest, EscapesLikeJavaProperties) {
  EXPECT_EQ(EscapeProperty("g/com.foo.Bar:1.0.0", true), "g/com.foo.Bar\\:1.0.0");
  EXPECT_EQ(EscapeProperty("a b=c#d!e\\f", true), "a\\ b\\=c\\#d\\!e\\\\f");
  EXPECT_EQ(EscapeProperty(" lead and inner", false), "\\ lead and inner");
  EXPECT_EQ(EscapeProperty("tab\tnl\n", false), "tab\\tnl\\n");
  EXPECT_EQ(EscapeProperty("caf\xC3\xA9", false), "caf\\u00E9");
  EXPECT_EQ(EscapeProperty("\xF0\x9F\x98\x80", false), "\\uD83D\\uDE00");  // surrogate pair
}

TEST(CacheFormatTest, WritesTheLineDubboWrites) {
  CacheEntries entries{{"com.foo.Bar:1.0.0", "dubbo://10.0.0.1:20880/com.foo.Bar?a=1"}};
  const std::string text = FormatCacheText(entries);
  EXPECT_EQ(text.rfind("#Dubbo Registry Cache\n", 0), 0u);
  EXPECT_NE(text.find("\ncom.foo.Bar\\:1.0.0=dubbo\\://10.0.0.1\\:20880/com.foo.Bar?a\\=1\n"),
            std::string::npos)
      << text;
}

TEST(CacheFormatTest, RoundTripsKeysAndValuesWithSpecialCharacters) {
  CacheEntries entries{
      {"g/com.foo.Bar:1.0.0", std::string(kUrl1) + " " + kUrl2},
      {"odd key = # !", "empty://0.0.0.0/com.foo.Bar?category=providers&note=caf\xC3\xA9"},
      {"_x", "dubbo://[::1]:20880/x?k=v:w=z"},
  };
  size_t skipped = 99;
  EXPECT_EQ(ParseCacheText(FormatCacheText(entries), "test", &skipped), entries);
  EXPECT_EQ(skipped, 0u);
}

TEST(CacheFormatTest, ReadsJavaWrittenFiles) {
  // As java.util.Properties.store() writes them: date comment, ':' separators, continuation lines.
  const std::string text =
      "#Dubbo Registry Cache\n"
      "#Sat Nov 21 05:00:00 UTC 2026\n"
      "com.foo.Bar\\:1.0.0=dubbo\\://10.0.0.1\\:20880/com.foo.Bar?a\\=1 \\\n"
      "    dubbo\\://10.0.0.2\\:20880/com.foo.Bar?a\\=2\n"
      "! another comment\n"
      "   \n"
      "other : empty\\://0.0.0.0/other?category\\=providers\n";
  size_t skipped = 0;
  CacheEntries entries = ParseCacheText(text, "java", &skipped);
  EXPECT_EQ(skipped, 0u);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries["com.foo.Bar:1.0.0"],
            "dubbo://10.0.0.1:20880/com.foo.Bar?a=1 dubbo://10.0.0.2:20880/com.foo.Bar?a=2");
  EXPECT_EQ(entries["other"], "empty://0.0.0.0/other?category=providers");
}

TEST(CacheFormatTest, SkipsCorruptLinesOneByOneWithAWarning) {
  LogCapture log(LogSeverity::kWarning);
  const std::string good = "com.foo.Bar\\:1.0.0=dubbo\\://10.0.0.1\\:20880/com.foo.Bar\n";
  const std::string text = good +
                           "garbage without separator\n"                      // value not URLs
                           "bad=\\uZZZZ\n"                                    // malformed \u
                           "=dubbo\\://10.0.0.1\\:1/x\n"                      // no key
                           "bin=\x01\x02\x03\n"                               // control bytes
                           "svc2=dubbo\\://10.0.0.2\\:20880/svc2\n"           // good
                           "cut=dubbo\\://10.0.0.3\\:20880/com.fo";           // no final newline
  size_t skipped = 0;
  CacheEntries entries = ParseCacheText(text, "corrupt.cache", &skipped);
  EXPECT_EQ(skipped, 5u);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries.count("com.foo.Bar:1.0.0"), 1u);
  EXPECT_EQ(entries.count("svc2"), 1u);
  const auto lines = log.lines();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_NE(lines[0].find("corrupt.cache"), std::string::npos);
  EXPECT_NE(lines[0].find("line 2"), std::string::npos) << lines[0];
  EXPECT_NE(lines[4].find("cut short"), std::string::npos) << lines[4];
}

TEST(CacheFileTest, MissingFileLoadsEmpty) {
  TempDir tmp;
  Result<CacheEntries> loaded = CacheFile(tmp.File("absent.cache")).Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST(CacheFileTest, SaveReplacesOnlyTheOwnedKeys) {
  TempDir tmp;
  const std::string path = tmp.File("shared.cache");
  CacheFile a(path);
  CacheFile b(path);
  ASSERT_TRUE(a.Save({{"svcA", kUrl1}}, nullptr).ok());
  CacheEntries merged;
  ASSERT_TRUE(b.Save({{"svcB", kUrl2}}, &merged).ok());
  EXPECT_EQ(merged.size(), 2u);
  ASSERT_TRUE(a.Save({{"svcA", kUrl2}}, nullptr).ok());
  Result<CacheEntries> loaded = a.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (CacheEntries{{"svcA", kUrl2}, {"svcB", kUrl2}}));
}

TEST(CacheFileTest, AFailedSaveLeavesTheOldFileAndReportsTheError) {
  TempDir tmp;
  // The lock file cannot be created inside a directory that does not exist.
  Status status = CacheFile(tmp.File("missing-dir/x.cache")).Save({{"k", kUrl1}}, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("missing-dir"), std::string_view::npos) << status;

  // The target path is a directory: the rename fails, the temporary file is removed.
  const std::string dir_path = tmp.File("is-a-dir");
  ASSERT_EQ(::mkdir(dir_path.c_str(), 0700), 0);
  WriteFile(dir_path + "/inner", "x");
  status = CacheFile(dir_path).Save({{"k", kUrl1}}, nullptr);
  EXPECT_FALSE(status.ok());
  int leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp.path())) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) ++leftovers;
  }
  EXPECT_EQ(leftovers, 0);
}

// Each writer saves back to back: the writers of one process take turns, so neither is starved of
// the lock however long the other's fsync() takes.
TEST(CacheFileTest, TwoConcurrentWritersNeverCorruptTheFileOrLoseKeys) {
  TempDir tmp;
  const std::string path = tmp.File("contended.cache");
  constexpr int kWrites = 60;
  std::atomic<bool> failed{false};
  auto writer = [&](const std::string& key, const char* url) {
    CacheFile file(path);  // Its own descriptor, as another process would have.
    for (int i = 0; i < kWrites; ++i) {
      std::string value = std::string(url) + "&seq=" + std::to_string(i);
      if (!file.Save({{key, value}}, nullptr).ok()) failed = true;
    }
  };
  std::thread t1(writer, "svcA", kUrl1);
  std::thread t2(writer, "svcB", kUrl2);
  // Meanwhile a reader must always see a complete file.
  for (int i = 0; i < 200; ++i) {
    std::string text = ReadFile(path);
    size_t skipped = 0;
    ParseCacheText(text, path, &skipped);
    EXPECT_EQ(skipped, 0u) << text;
  }
  t1.join();
  t2.join();
  EXPECT_FALSE(failed.load());
  Result<CacheEntries> loaded = CacheFile(path).Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)["svcA"], std::string(kUrl1) + "&seq=" + std::to_string(kWrites - 1));
  EXPECT_EQ((*loaded)["svcB"], std::string(kUrl2) + "&seq=" + std::to_string(kWrites - 1));
}

// An exclusive flock() on `lock_path` through a descriptor of its own, as another process would
// hold it; released on destruction or by Release().
class HeldLock {
 public:
  explicit HeldLock(const std::string& lock_path)
      : fd_(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::flock(fd_, LOCK_EX | LOCK_NB), 0);
  }
  ~HeldLock() { Release(); }
  void Release() {
    if (fd_ >= 0) ::close(fd_);  // Closing the only descriptor releases the flock().
    fd_ = -1;
  }

 private:
  int fd_;
};

TEST(CacheFileTest, ALockHeldPastTheWaitFailsWithAClearErrorAndWritesNothing) {
  TempDir tmp;
  const std::string path = tmp.File("held.cache");
  HeldLock held(path + ".lock");
  // The lock stays held for the whole wait, so the outcome does not depend on timing.
  Status status = CacheFile(path, std::chrono::milliseconds(30)).Save({{"k", kUrl1}}, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find(path + ".lock still held by another writer after"),
            std::string_view::npos)
      << status;
  EXPECT_NE(status.message().find("not saved"), std::string_view::npos) << status;
  EXPECT_FALSE(std::filesystem::exists(path));
  status = CacheFile(path, Duration::zero()).Save({{"k", kUrl1}}, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status;
}

TEST(CacheFileTest, APerCallWaitOverridesTheDefaultSoAHeldLockFailsAfterThatBound) {
  TempDir tmp;
  const std::string path = tmp.File("held.cache");
  HeldLock held(path + ".lock");
  const CacheFile file(path);  // Waits kDefaultLockWait (10 s) unless a call says otherwise.
  Status status = file.Save({{"k", kUrl1}}, nullptr, std::chrono::milliseconds(30));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status;
  const std::string prefix = path + ".lock still held by another writer after ";
  const size_t at = status.message().find(prefix);
  ASSERT_NE(at, std::string_view::npos) << status;
  // The wait it reports is this call's bound, not the 10 s default: it gave up long before that
  // (the margin is the difference of the two bounds, not a timing budget).
  const long waited_ms = std::stol(std::string(status.message().substr(at + prefix.size())));
  EXPECT_GE(waited_ms, 30);
  EXPECT_LT(std::chrono::milliseconds(waited_ms), CacheFile::kDefaultLockWait) << status;
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(CacheFileTest, ASaveWaitsForALockHeldElsewhereAndWritesOnceItIsReleased) {
  TempDir tmp;
  const std::string path = tmp.File("waits.cache");
  HeldLock held(path + ".lock");
  Status status = InternalError("not run");
  std::thread saver([&] { status = CacheFile(path).Save({{"k", kUrl1}}, nullptr); });
  // Whether or not the saver is waiting yet, it cannot write while the lock is held.
  EXPECT_FALSE(std::filesystem::exists(path));
  held.Release();
  saver.join();
  ASSERT_TRUE(status.ok()) << status;
  Result<CacheEntries> loaded = CacheFile(path).Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (CacheEntries{{"k", kUrl1}}));
}

TEST(CacheFileTest, AWriterThatGaveUpDoesNotHoldUpTheOthers) {
  TempDir tmp;
  const std::string path = tmp.File("gave-up.cache");
  HeldLock held(path + ".lock");
  Status patient = InternalError("not run");
  std::thread saver([&] { patient = CacheFile(path).Save({{"patient", kUrl1}}, nullptr); });
  // Gives up whether it queued behind the saver or took its turn first and met the held lock.
  Status hasty = CacheFile(path, std::chrono::milliseconds(30)).Save({{"hasty", kUrl2}}, nullptr);
  EXPECT_EQ(hasty.code(), StatusCode::kUnavailable) << hasty;
  held.Release();
  saver.join();
  ASSERT_TRUE(patient.ok()) << patient;
  ASSERT_TRUE(CacheFile(path).Save({{"later", kUrl2}}, nullptr).ok());
  Result<CacheEntries> loaded = CacheFile(path).Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (CacheEntries{{"later", kUrl2}, {"patient", kUrl1}}));
}

// --- AbstractRegistry and its cache file ----------------------------------------------------------

class RegistryCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<FakeRegistry> Make(const std::string& params) {
    RegistryOptions options;
    options.scheduler = &sched_;
    Result<URL> url = URL::Parse("fake://127.0.0.1:9090?check=false&" + params);
    EXPECT_TRUE(url.ok());
    return std::make_unique<FakeRegistry>(url.value_or(URL()), options);
  }
  void SubscribeWithProvider(FakeRegistry* registry) {
    registry->AddServerUrl(*URL::Parse(kUrl1));
    ASSERT_TRUE(registry->Subscribe(consumer_, std::make_shared<RecordingListener>()).ok());
  }

  TempDir tmp_;
  ManualScheduler sched_;
  const URL consumer_ = *URL::Parse("consumer://10.0.0.9/com.foo.Bar?interface=com.foo.Bar&version=1.0.0");
};

TEST_F(RegistryCacheTest, SavesAsynchronouslyOnTheSchedulerAndCoalesces) {
  const std::string path = tmp_.File("async.cache");
  auto registry = Make("file=" + path);
  SubscribeWithProvider(registry.get());
  registry->Push();
  registry->Push();
  EXPECT_FALSE(std::filesystem::exists(path)) << "saved before the 500 ms delay";
  EXPECT_EQ(sched_.pending(), 1u) << "three changes, one pending save";
  sched_.AdvanceBy(std::chrono::milliseconds(500));
  Result<CacheEntries> loaded = CacheFile(path).Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->count("com.foo.Bar:1.0.0"), 1u);
  EXPECT_EQ((*loaded)["com.foo.Bar:1.0.0"], URL::Parse(kUrl1)->ToFullString());
  EXPECT_EQ(sched_.pending(), 0u);
}

TEST_F(RegistryCacheTest, SaveFileTrueWritesSynchronously) {
  const std::string path = tmp_.File("sync.cache");
  auto registry = Make("save.file=true&file=" + path);
  SubscribeWithProvider(registry.get());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(sched_.pending(), 0u);
}

TEST_F(RegistryCacheTest, DefaultPathIsUnderHome) {
  const char* old_home = std::getenv("HOME");
  const std::string saved = old_home != nullptr ? old_home : "";
  ::setenv("HOME", tmp_.path().c_str(), 1);
  auto registry = Make("application=demo-app");
  EXPECT_EQ(registry->cache_file_path(),
            tmp_.path() + "/.dubbo/dubbo-registry-demo-app-127.0.0.1-9090.cache");
  EXPECT_TRUE(std::filesystem::is_directory(tmp_.path() + "/.dubbo"));
  if (old_home != nullptr) {
    ::setenv("HOME", saved.c_str(), 1);
  } else {
    ::unsetenv("HOME");
  }
}

TEST_F(RegistryCacheTest, CacheCanBeTurnedOff) {
  EXPECT_EQ(Make("file=false")->cache_file_path(), "");
  EXPECT_EQ(Make("file=N/A")->cache_file_path(), "");
  EXPECT_EQ(Make("file.cache=false&file=" + tmp_.File("x"))->cache_file_path(), "");
  EXPECT_EQ(Make("file-cache=false&file=" + tmp_.File("x"))->cache_file_path(), "");
}

TEST_F(RegistryCacheTest, AnUnwritableLocationDisablesTheCacheWithoutFailing) {
  WriteFile(tmp_.File("plain-file"), "x");
  auto registry = Make("file=" + tmp_.File("plain-file/sub/registry.cache"));
  EXPECT_EQ(registry->cache_file_path(), "");
  SubscribeWithProvider(registry.get());
  EXPECT_TRUE(registry->FlushCacheFile().ok());
}

TEST_F(RegistryCacheTest, TwoRegistriesSharingAFileKeepEachOthersEntries) {
  const std::string path = tmp_.File("shared.cache");
  auto a = Make("file=" + path);
  auto b = Make("file=" + path);
  SubscribeWithProvider(a.get());
  b->AddServerUrl(*URL::Parse("dubbo://10.0.0.5:1/com.other.Svc"));
  ASSERT_TRUE(b->Subscribe(*URL::Parse("consumer://10.0.0.9/com.other.Svc"),
                           std::make_shared<RecordingListener>())
                  .ok());
  ASSERT_TRUE(a->FlushCacheFile().ok());
  ASSERT_TRUE(b->FlushCacheFile().ok());
  Result<CacheEntries> loaded = CacheFile(path).Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 2u);
  EXPECT_EQ(loaded->count("com.foo.Bar:1.0.0"), 1u);
  EXPECT_EQ(loaded->count("com.other.Svc"), 1u);
}

TEST_F(RegistryCacheTest, ACorruptFileStillYieldsItsGoodEntries) {
  const std::string path = tmp_.File("corrupt.cache");
  WriteFile(path, "\x7F\x45\x4C\x46 binary junk\n" + std::string("com.foo.Bar\\:1.0.0=") +
                      EscapeProperty(kUrl1, false) + "\n" + "truncated=dubbo\\://1.2.3.4");
  auto registry = Make("file=" + path);
  std::vector<URL> cached = registry->GetCacheUrls(consumer_);
  ASSERT_EQ(cached.size(), 1u);
  EXPECT_EQ(cached[0], *URL::Parse(kUrl1));
}

}  // namespace
}  // namespace dubbo::registry
