#include "disk_cache.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "internal/atomic_file.h"
#include "testing/temp_dir.h"

namespace dubbo::registry::nacos {
namespace {

using ::dubbo::registry::testing::TempDir;

constexpr char kDemoJson[] =
    R"({"name":"DEFAULT_GROUP@@demo","clusters":"","cacheMillis":10000,"hosts":[{"ip":"10.0.0.1",)"
    R"("port":8080,"weight":1.0,"healthy":true,"enabled":true}],"lastRefTime":1700000000000})";
constexpr char kOtherJson[] = R"({"name":"DEFAULT_GROUP@@demo","clusters":"c1,c2","hosts":[]})";

void WriteRaw(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> TempFilesIn(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempFilePrefix, 0) == 0) found.push_back(name);
  }
  return found;
}

// --- File names ----------------------------------------------------------------------------------

TEST(DiskCacheFileNameTest, MatchesTheJavaClient) {
  EXPECT_EQ(DiskCache::FileNameFor("DEFAULT_GROUP@@demo"), "DEFAULT_GROUP%40%40demo");
  EXPECT_EQ(DiskCache::FileNameFor("DEFAULT_GROUP@@demo@@c1,c2"),
            "DEFAULT_GROUP%40%40demo@@c1,c2");
  EXPECT_EQ(DiskCache::FileNameFor("DEFAULT_GROUP@@demo@@DEFAULT"),
            "DEFAULT_GROUP%40%40demo@@DEFAULT");
  // A Dubbo-style service name: ':' is encoded, '.', '-', '_' and '*' are kept.
  EXPECT_EQ(DiskCache::FileNameFor("dubbo@@providers:com.foo.Bar:1.0.0:*-x_y"),
            "dubbo%40%40providers%3Acom.foo.Bar%3A1.0.0%3A*-x_y");
}

TEST(DiskCacheFileNameTest, EncodesSpecialCharactersSoNoNameEscapesTheDirectory) {
  EXPECT_EQ(DiskCache::FileNameFor("g@@a b/c"), "g%40%40a+b%2Fc");
  EXPECT_EQ(DiskCache::FileNameFor("g@@../../etc/passwd"), "g%40%40..%2F..%2Fetc%2Fpasswd");
  EXPECT_EQ(DiskCache::FileNameFor("g@@~x%y"), "g%40%40%7Ex%25y");
  EXPECT_EQ(DiskCache::FileNameFor("g@@\xE6\x9C\x8D\xE5\x8A\xA1"), "g%40%40%E6%9C%8D%E5%8A%A1");
  // Clusters stay as written, except for what cannot be in a file name (and '%', to decode).
  EXPECT_EQ(DiskCache::FileNameFor("g@@s@@a/b,c%d"), "g%40%40s@@a%2Fb,c%25d");
  EXPECT_EQ(DiskCache::FileNameFor(std::string("g@@s@@a\0b", 9)), "g%40%40s@@a%00b");
  // Only the second "@@" separates the clusters.
  EXPECT_EQ(DiskCache::FileNameFor("g@@s@@c1@@c2"), "g%40%40s@@c1@@c2");
  // Empty clusters add nothing; a key without a group is all name.
  EXPECT_EQ(DiskCache::FileNameFor("g@@s@@"), "g%40%40s");
  EXPECT_EQ(DiskCache::FileNameFor("plain"), "plain");
}

TEST(DiskCacheFileNameTest, KeyForFileNameInvertsFileNameFor) {
  for (const std::string& key : std::vector<std::string>{
       {"DEFAULT_GROUP@@demo", "DEFAULT_GROUP@@demo@@c1,c2", "g@@a b/c", "g@@~x%y@@a/b,c%d",
        "g@@s@@c1@@c2", "g@@\xE6\x9C\x8D", "plain", "g@@s+t@@x+y", std::string("g@@s@@a\0b", 9)}}) {
    Result<std::string> back = DiskCache::KeyForFileName(DiskCache::FileNameFor(key));
    ASSERT_TRUE(back.ok()) << key << ": " << back.status();
    EXPECT_EQ(*back, key);
  }
  EXPECT_FALSE(DiskCache::KeyForFileName("g%4").ok());
  EXPECT_FALSE(DiskCache::KeyForFileName("g%zz@@c").ok());
  // A stray '%' in the clusters is kept.
  EXPECT_EQ(DiskCache::KeyForFileName("g%40%40s@@50%x").value_or(""), "g@@s@@50%x");
}

// --- Write, LoadAll, Remove ----------------------------------------------------------------------

TEST(DiskCacheTest, RoundTripsAndCreatesThePrivateDirectory) {
  TempDir tmp;
  const std::string dir = tmp.File("nacos/naming/public");
  DiskCache cache(dir);
  ASSERT_TRUE(cache.Write("DEFAULT_GROUP@@demo", kDemoJson).ok());
  ASSERT_TRUE(cache.Write("DEFAULT_GROUP@@demo@@c1,c2", kOtherJson).ok());

  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 077, 0u);
  ASSERT_EQ(::stat((dir + "/DEFAULT_GROUP%40%40demo").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  // The raw JSON, one line, as the Java client writes it.
  EXPECT_EQ(ReadRaw(dir + "/DEFAULT_GROUP%40%40demo"), kDemoJson);
  EXPECT_EQ(ReadRaw(dir + "/DEFAULT_GROUP%40%40demo@@c1,c2"), kOtherJson);

  Result<CachedServices> loaded = DiskCache(dir).LoadAll();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (CachedServices{{"DEFAULT_GROUP@@demo", kDemoJson},
                                     {"DEFAULT_GROUP@@demo@@c1,c2", kOtherJson}}));
  EXPECT_TRUE(TempFilesIn(dir).empty());
}

TEST(DiskCacheTest, LoadsFilesTheJavaClientWrote) {
  TempDir tmp;
  WriteRaw(tmp.File("DEFAULT_GROUP%40%40providers%3Acom.foo.Bar%3A%3A@@DEFAULT"),
           std::string(kDemoJson) + "\n");
  Result<CachedServices> loaded = DiskCache(tmp.path()).LoadAll();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ(loaded->begin()->first, "DEFAULT_GROUP@@providers:com.foo.Bar::@@DEFAULT");
  EXPECT_EQ(loaded->begin()->second, std::string(kDemoJson) + "\n");
}

TEST(DiskCacheTest, MissingDirectoryLoadsEmpty) {
  TempDir tmp;
  Result<CachedServices> loaded = DiskCache(tmp.File("absent")).LoadAll();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST(DiskCacheTest, OverwriteReplacesTheFileAtomically) {
  TempDir tmp;
  DiskCache cache(tmp.path());
  const std::string path = tmp.File("DEFAULT_GROUP%40%40demo");
  ASSERT_TRUE(cache.Write("DEFAULT_GROUP@@demo", kDemoJson).ok());
  // A reader that opened the old file keeps reading the old content: the new one is a new file
  // renamed over it, not the old one rewritten in place.
  std::ifstream old_reader(path, std::ios::binary);
  ASSERT_TRUE(cache.Write("DEFAULT_GROUP@@demo", kOtherJson).ok());
  std::ostringstream old_text;
  old_text << old_reader.rdbuf();
  EXPECT_EQ(old_text.str(), kDemoJson);
  EXPECT_EQ(ReadRaw(path), kOtherJson);
  EXPECT_TRUE(TempFilesIn(tmp.path()).empty());
}

TEST(DiskCacheTest, NewlinesAreWrittenAsSpacesSoTheFileStaysOneLine) {
  TempDir tmp;
  DiskCache cache(tmp.path());
  ASSERT_TRUE(cache.Write("g@@s", "{\"a\":1,\r\n \"b\":[\n2]}").ok());
  EXPECT_EQ(ReadRaw(tmp.File("g%40%40s")), "{\"a\":1,   \"b\":[ 2]}");
}

TEST(DiskCacheTest, LoadAllSkipsWhatIsNotACacheFile) {
  TempDir tmp;
  DiskCache cache(tmp.path());
  ASSERT_TRUE(cache.Write("DEFAULT_GROUP@@good", kDemoJson).ok());
  WriteRaw(tmp.File("DEFAULT_GROUP%40%40empty"), "");
  WriteRaw(tmp.File("DEFAULT_GROUP%40%40blank"), " \n\r\n");
  WriteRaw(tmp.File("DEFAULT_GROUP%40%40garbage"), "\x7F" "ELF\x01\x02 binary");
  WriteRaw(tmp.File("DEFAULT_GROUP%40%40truncated"), std::string(kDemoJson).substr(0, 40));
  WriteRaw(tmp.File("bad%zzname"), kDemoJson);                // Does not decode.
  WriteRaw(tmp.File(".~tmp.123.4"), kDemoJson);               // A write in progress.
  WriteRaw(tmp.File("failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00"), "1\n");
  ASSERT_EQ(::mkdir(tmp.File("failover").c_str(), 0700), 0);
  WriteRaw(tmp.File("failover/DEFAULT_GROUP%40%40other"), kDemoJson);
  ASSERT_EQ(::mkdir(tmp.File("DEFAULT_GROUP%40%40dir").c_str(), 0700), 0);
  // A FIFO must be skipped without blocking for a writer.
  ASSERT_EQ(::mkfifo(tmp.File("DEFAULT_GROUP%40%40fifo").c_str(), 0600), 0);
  // Oversized (sparse, so this is cheap): one byte over the cap.
  {
    std::filesystem::path big = tmp.File("DEFAULT_GROUP%40%40big");
    WriteRaw(big.string(), "{");
    std::filesystem::resize_file(big, kMaxCacheFileBytes + 1);
  }

  Result<CachedServices> loaded = cache.LoadAll();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (CachedServices{{"DEFAULT_GROUP@@good", kDemoJson}}));
}

TEST(DiskCacheTest, AFileOfExactlyTheCapIsLoaded) {
  TempDir tmp;
  std::string json = "{\"pad\":\"" + std::string(kMaxCacheFileBytes - 10, 'x') + "\"}";
  ASSERT_EQ(json.size(), kMaxCacheFileBytes);
  DiskCache cache(tmp.path());
  ASSERT_TRUE(cache.Write("g@@s", json).ok());
  Result<CachedServices> loaded = cache.LoadAll();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ(loaded->at("g@@s").size(), kMaxCacheFileBytes);
}

TEST(DiskCacheTest, TwoNamesForOneKeyPreferTheCanonicalName) {
  TempDir tmp;
  WriteRaw(tmp.File("g%40%40a%20b"), R"({"v":"percent"})");  // Sorts before the canonical one.
  WriteRaw(tmp.File("g%40%40a+b"), R"({"v":"plus"})");
  WriteRaw(tmp.File("g%40%40a+b@@"), R"({"v":"empty-clusters"})");
  Result<CachedServices> loaded = DiskCache(tmp.path()).LoadAll();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->at("g@@a b"), R"({"v":"plus"})");
}

TEST(DiskCacheTest, RemoveDeletesTheFileAndToleratesAMissingOne) {
  TempDir tmp;
  DiskCache cache(tmp.path());
  ASSERT_TRUE(cache.Write("g@@a", kDemoJson).ok());
  ASSERT_TRUE(cache.Write("g@@b@@c1", kDemoJson).ok());
  EXPECT_TRUE(cache.Remove("g@@b@@c1").ok());
  EXPECT_TRUE(cache.Remove("g@@b@@c1").ok());
  EXPECT_TRUE(cache.Remove("g@@never").ok());
  Result<CachedServices> loaded = cache.LoadAll();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (CachedServices{{"g@@a", kDemoJson}}));
  EXPECT_EQ(cache.Remove("").code(), StatusCode::kInvalidArgument);
  // The switch file is not a service's file.
  WriteRaw(tmp.File("failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00"), "1");
  EXPECT_EQ(cache.Remove("failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00").code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      std::filesystem::exists(tmp.File("failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00")));
}

TEST(DiskCacheTest, RejectsKeysAndJsonThatCannotBeStored) {
  TempDir tmp;
  DiskCache cache(tmp.path());
  EXPECT_EQ(cache.Write("", kDemoJson).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Write("g@@s", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Write(".", kDemoJson).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Write("..", kDemoJson).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Write("failover", kDemoJson).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Write(kFailoverSwitchName, kDemoJson).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Write("g@@" + std::string(300, 's'), kDemoJson).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DiskCache("").Write("g@@s", kDemoJson).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DiskCache("").LoadAll().status().code(), StatusCode::kInvalidArgument);
  Result<CachedServices> loaded = cache.LoadAll();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

// Tests run as root, so permissions cannot make a directory unwritable; these paths fail for all.
TEST(DiskCacheTest, AnUnwritableLocationIsAClearError) {
  TempDir tmp;
  WriteRaw(tmp.File("plain-file"), "x");
  Status status = DiskCache(tmp.File("plain-file/naming/public")).Write("g@@s", kDemoJson);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("plain-file"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("Not a directory"), std::string_view::npos) << status;

  // The cache directory itself is a regular file.
  status = DiskCache(tmp.File("plain-file")).Write("g@@s", kDemoJson);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("not a directory"), std::string_view::npos) << status;

  // procfs refuses new files and directories.
  status = DiskCache("/proc/self/dubbo-nacos-cache").Write("g@@s", kDemoJson);
  EXPECT_EQ(status.code(), StatusCode::kInternal) << status;
  status = DiskCache("/proc/self").Write("g@@s", kDemoJson);
  EXPECT_EQ(status.code(), StatusCode::kInternal) << status;

  // Listing a directory that is a regular file.
  EXPECT_EQ(DiskCache(tmp.File("plain-file")).LoadAll().status().code(), StatusCode::kInternal);
}

// Lowers RLIMIT_FSIZE so that writes past `bytes` fail with EFBIG, as on a full disk.
class ScopedFileSizeLimit {
 public:
  explicit ScopedFileSizeLimit(rlim_t bytes) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    ok_ = ::getrlimit(RLIMIT_FSIZE, &old_) == 0;
    rlimit lowered = old_;
    lowered.rlim_cur = bytes;
    ok_ = ok_ && ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
  }
  ~ScopedFileSizeLimit() {
    if (ok_) ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  sighandler_t old_handler_;
  bool ok_ = false;
};

TEST(DiskCacheTest, AFailedWriteKeepsTheOldFileAndLeavesNoTemporaryFile) {
  TempDir tmp;
  DiskCache cache(tmp.path());
  ASSERT_TRUE(cache.Write("g@@s", kDemoJson).ok());
  const std::string big = "{\"pad\":\"" + std::string(64 * 1024, 'x') + "\"}";
  Status status;
  {
    ScopedFileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    status = cache.Write("g@@s", big);
  }
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("write failed"), std::string_view::npos) << status;
  EXPECT_EQ(ReadRaw(tmp.File("g%40%40s")), kDemoJson);
  EXPECT_TRUE(TempFilesIn(tmp.path()).empty());
  // And the next write, with room again, succeeds.
  ASSERT_TRUE(cache.Write("g@@s", big).ok());
  EXPECT_TRUE(ReadRaw(tmp.File("g%40%40s")) == big);
}

TEST(DiskCacheTest, TwoWritersNeverProduceAPartialFile) {
  TempDir tmp;
  constexpr int kWritesEach = 40;
  constexpr char kKey[] = "DEFAULT_GROUP@@contended@@c1";
  const auto payload = [](int writer, int seq) {
    return "{\"writer\":" + std::to_string(writer) + ",\"seq\":" + std::to_string(seq) +
           ",\"pad\":\"" + std::string(64 * 1024 + writer * 1000 + seq, 'a' + writer) + "\"}";
  };
  std::set<std::string> expected;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < kWritesEach; ++i) expected.insert(payload(w, i));
  }
  std::atomic<int> running{2};
  std::atomic<bool> reading{false};
  std::atomic<bool> write_failed{false};
  auto writer = [&](int w) {
    DiskCache cache(tmp.path());  // Its own object, as another process would have.
    while (!reading.load()) std::this_thread::yield();  // Overlap with the reader for sure.
    for (int i = 0; i < kWritesEach; ++i) {
      if (!cache.Write(kKey, payload(w, i)).ok()) write_failed = true;
    }
    running.fetch_sub(1);
  };
  std::thread t0(writer, 0);
  std::thread t1(writer, 1);
  // Meanwhile the file and the loaded map must always hold one complete payload.
  const std::string path = tmp.path() + "/" + DiskCache::FileNameFor(kKey);
  DiskCache reader(tmp.path());
  int complete_reads = 0;
  int bad_reads = 0;
  reading = true;
  while (running.load() > 0) {
    Result<std::string> text = internal::ReadWholeFile(path);
    if (text.ok()) {
      ++complete_reads;
      if (expected.count(*text) == 0) ++bad_reads;
    } else if (text.status().code() != StatusCode::kNotFound) {
      ++bad_reads;
    }
    Result<CachedServices> loaded = reader.LoadAll();
    if (!loaded.ok() || loaded->size() > 1 ||
        (loaded->size() == 1 && expected.count(loaded->at(kKey)) == 0)) {
      ++bad_reads;
    }
  }
  t0.join();
  t1.join();
  EXPECT_FALSE(write_failed.load());
  EXPECT_EQ(bad_reads, 0) << "of " << complete_reads << " reads";
  EXPECT_EQ(expected.count(ReadRaw(path)), 1u);
  EXPECT_TRUE(TempFilesIn(tmp.path()).empty());
}

// --- Failover ------------------------------------------------------------------------------------

class FailoverStoreTest : public ::testing::Test {
 protected:
  std::string JavaSwitch() const {
    return tmp_.File("failover00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00");
  }
  std::string AlternateSwitch() const {
    return tmp_.File("failover/00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00");
  }

  TempDir tmp_;
  FailoverStore store_{tmp_.path()};
};

TEST_F(FailoverStoreTest, SwitchPathsAreJavasAndTheOneWithASlash) {
  EXPECT_EQ(store_.switch_path(), JavaSwitch());
  EXPECT_EQ(store_.alternate_switch_path(), AlternateSwitch());
  EXPECT_EQ(store_.failover_cache().dir(), tmp_.File("failover"));
}

TEST_F(FailoverStoreTest, SwitchIsOffWhenMissing) { EXPECT_FALSE(store_.SwitchOn()); }

TEST_F(FailoverStoreTest, SwitchFollowsTheJavaLineRules) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"1", true},          {"1\n", true},       {"  1 \r\n", true},  {"\n\n1\n\n", true},
      {"0", false},         {"0\n", false},      {"", false},         {"\n \n", false},
      {"yes", false},       {"11", false},       {"1 0", false},      {"true", false},
      {"0\n1\n", true},     {"1\n0\n", false},   {"# on\n1\n", true}, {"1\ngarbage\n", true},
      {"\x7F" "ELF", false}};
  for (const auto& [content, on] : cases) {
    WriteRaw(JavaSwitch(), content);
    EXPECT_EQ(store_.SwitchOn(), on) << "\"" << content << "\"";
  }
}

TEST_F(FailoverStoreTest, EitherSwitchFileTurnsFailoverOn) {
  ASSERT_EQ(::mkdir(tmp_.File("failover").c_str(), 0700), 0);
  WriteRaw(AlternateSwitch(), "1\n");
  EXPECT_TRUE(store_.SwitchOn());
  WriteRaw(JavaSwitch(), "0\n");
  EXPECT_TRUE(store_.SwitchOn());
  WriteRaw(AlternateSwitch(), "0\n");
  EXPECT_FALSE(store_.SwitchOn());
  WriteRaw(JavaSwitch(), "1\n");
  EXPECT_TRUE(store_.SwitchOn());
}

TEST_F(FailoverStoreTest, AnUnreadableSwitchIsOff) {
  ASSERT_EQ(::mkdir(JavaSwitch().c_str(), 0700), 0);  // A directory where the file should be.
  EXPECT_FALSE(store_.SwitchOn());
  EXPECT_FALSE(FailoverStore("").SwitchOn());
}

TEST_F(FailoverStoreTest, SnapshotWritesAndLoadsBack) {
  const CachedServices snapshot = {{"DEFAULT_GROUP@@demo", kDemoJson},
                                   {"DEFAULT_GROUP@@demo@@c1,c2", kOtherJson}};
  ASSERT_TRUE(store_.WriteFailoverSnapshot(snapshot).ok());
  EXPECT_EQ(ReadRaw(tmp_.File("failover/DEFAULT_GROUP%40%40demo")), kDemoJson);
  // The alternate switch lives in the failover directory and is not a service.
  WriteRaw(AlternateSwitch(), "1\n");
  Result<CachedServices> loaded = store_.LoadFailover();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, snapshot);
  // The failover data is not part of the main cache.
  Result<CachedServices> main = DiskCache(tmp_.path()).LoadAll();
  ASSERT_TRUE(main.ok());
  EXPECT_TRUE(main->empty());
}

TEST_F(FailoverStoreTest, SnapshotKeepsOtherFilesAndReplacesItsOwn) {
  ASSERT_TRUE(store_.WriteFailoverSnapshot({{"g@@old", kDemoJson}, {"g@@s", kDemoJson}}).ok());
  ASSERT_TRUE(store_.WriteFailoverSnapshot({{"g@@s", kOtherJson}}).ok());
  Result<CachedServices> loaded = store_.LoadFailover();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (CachedServices{{"g@@old", kDemoJson}, {"g@@s", kOtherJson}}));
}

TEST_F(FailoverStoreTest, SnapshotWritesWhatItCanAndReportsTheRest) {
  Status status = store_.WriteFailoverSnapshot(
      {{"", kDemoJson}, {"g@@a", kDemoJson}, {"g@@b", ""}, {"g@@c", kOtherJson}});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("2 of 4"), std::string_view::npos) << status;
  Result<CachedServices> loaded = store_.LoadFailover();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (CachedServices{{"g@@a", kDemoJson}, {"g@@c", kOtherJson}}));

  WriteRaw(tmp_.File("plain-file"), "x");
  status = FailoverStore(tmp_.File("plain-file")).WriteFailoverSnapshot({{"g@@a", kDemoJson}});
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("1 of 1"), std::string_view::npos) << status;
}

TEST_F(FailoverStoreTest, MissingFailoverDirectoryLoadsEmpty) {
  Result<CachedServices> loaded = store_.LoadFailover();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

}  // namespace
}  // namespace dubbo::registry::nacos
