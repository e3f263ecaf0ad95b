// Internal: the naming server's data file, "<data_dir>/naming-data.json", which keeps what Nacos
// never loses on a restart: every service created or updated through the service API, and every
// persistent (ephemeral=false) instance with all its fields.
//
// Format (version 1), one JSON object written by EncodeData():
//   {"format":"naming-server-data","version":1,"services":[
//     {"namespaceId":"public","name":"DEFAULT_GROUP@@demo","explicit":true,
//      "protectThreshold":0.5,"metadata":{"k":"v"},          <- explicit services only
//      "instances":[{"cluster":"DEFAULT","ip":"10.0.0.5","port":8080,"weight":1.0,
//                    "healthy":true,"enabled":true,"app":"DEFAULT","metadata":{},
//                    "instanceId":"0"}]}]}                   <- snowflake ids only
// A non-finite protectThreshold is written as the string "NaN", "Infinity" or "-Infinity".
//
// DecodeData() reads it back strictly: a file over kMaxDataFileBytes, text that is not UTF-8,
// a NUL byte, broken JSON, another format or version, an unknown or missing member, a value of
// the wrong type, a number out of range, more services or instances than the caps: each is an
// error naming what and where, and nothing is returned. The schema bounds the nesting at six
// levels; anything deeper is refused at the first unexpected container.
//
// Thread-safety: EncodeData() and DecodeData() are pure. DataFile's methods may be called from any
// thread; Save() calls are serialised by the DataFile's own mutex.
#ifndef DUBBO_NAMING_SERVER_SRC_PERSISTENCE_H_
#define DUBBO_NAMING_SERVER_SRC_PERSISTENCE_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "instance_store.h"

namespace dubbo::naming_server {

inline constexpr char kDataFileName[] = "naming-data.json";
inline constexpr char kDataFormat[] = "naming-server-data";
inline constexpr int kDataVersion = 1;
// The largest data file read or written: about 500,000 instances with a few hundred bytes of
// metadata each.
inline constexpr size_t kMaxDataFileBytes = size_t{256} << 20;

// Counts a data file may hold (the store's caps: max_total_services, max_total_instances).
struct DataLimits {
  size_t max_services = 100000;
  size_t max_instances = 1000000;
};

std::string EncodeData(const std::vector<PersistentService>& services);
// `text` is parsed in place. See the file comment for the errors (kInvalidArgument).
Result<std::vector<PersistentService>> DecodeData(std::string text, const DataLimits& limits);

class DataFile {
 public:
  // The file "<dir>/naming-data.json".
  explicit DataFile(const std::string& dir);

  const std::string& path() const { return path_; }

  // Creates the directory when it is missing (one level, mode 0700), then reads the file: empty
  // when there is none. Errors name the file and leave it as it is: kFailedPrecondition for a file
  // that DecodeData() refuses or that is over kMaxDataFileBytes, kInternal for I/O errors.
  Result<std::vector<PersistentService>> Load(const DataLimits& limits) const;

  // Replaces the file atomically (temporary file, fsync, rename) with `services`, the snapshot
  // numbered `generation` (snapshots are numbered in the order they are taken). OK at once when a
  // snapshot at least as new is already on disk, so an older one never replaces a newer one.
  // kInternal naming the file and the errno on a failed write (the old file stays whole);
  // kResourceExhausted for a snapshot over kMaxDataFileBytes.
  Status Save(uint64_t generation, const std::vector<PersistentService>& services);

  // True while the newest snapshot Save() was given is not on disk (its write failed).
  bool behind() const;

 private:
  const std::string dir_;
  const std::string path_;
  mutable std::mutex mu_;           // Serialises Save(); guards the generations.
  uint64_t saved_generation_ = 0;   // Of the snapshot on disk (0: none written by this process).
  uint64_t latest_generation_ = 0;  // Of the newest snapshot Save() was given.
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_PERSISTENCE_H_
