// InstanceStore: the in-memory naming data of one Nacos-compatible server (v1 API, 1.4.x rules).
//
// State is keyed namespace -> grouped service name ("group@@name") -> cluster -> instance, where an
// instance is identified within its cluster by (ip, port, ephemeral). Every operation of the v1
// naming API that touches data (register, deregister, update, patch, detail, beat, list, service
// CRUD, service list, metrics counts) and the heartbeat health sweep live here; the HTTP layer only
// parses parameters, calls one method and renders the result with naming_json.h. Error statuses
// carry the exact text real Nacos answers:
//   kInvalidArgument -> HTTP 400, kNotFound -> HTTP 404; the message is the response body.
//
// Time is read only through the injected Clock: Now() (monotonic) for beats and expiry,
// WallMillis() for the per-service revision `lastRefTime`.
//
// Thread-safety: NOT thread-safe, by design. The caller serialises every call (the server holds one
// mutex around each request and each CheckHealth()). The change hook runs synchronously inside the
// mutating call, once the store is consistent again; it may call const methods (List() to build a
// push, say) but must not mutate the store.
#ifndef DUBBO_NAMING_SERVER_INSTANCE_STORE_H_
#define DUBBO_NAMING_SERVER_INSTANCE_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "server_metrics.h"

namespace dubbo::naming_server {

using registry::Result;
using registry::Status;

// Defaults of the v1 API.
inline constexpr std::string_view kDefaultNamespace = "public";
inline constexpr std::string_view kDefaultGroup = "DEFAULT_GROUP";
inline constexpr std::string_view kDefaultCluster = "DEFAULT";
inline constexpr std::string_view kDefaultApp = "DEFAULT";
inline constexpr std::string_view kGroupSeparator = "@@";

// Instance metadata keys the server interprets (values: milliseconds, all digits; anything else
// means "use the default").
inline constexpr std::string_view kHeartBeatIntervalKey = "preserved.heart.beat.interval";
inline constexpr std::string_view kHeartBeatTimeoutKey = "preserved.heart.beat.timeout";
inline constexpr std::string_view kIpDeleteTimeoutKey = "preserved.ip.delete.timeout";
// Value "snowflake" (any case) selects numeric instance ids; see InstanceStore::Register().
inline constexpr std::string_view kInstanceIdGeneratorKey = "preserved.instance.id.generator";

// Sorted, so that every rendering is deterministic.
using Metadata = std::map<std::string, std::string>;

// An immutable Metadata that copies share: copying an Instance (into a list snapshot, say) copies a
// pointer, not the map. Reads as a const Metadata&; assigning a Metadata replaces it whole.
class SharedMetadata {
 public:
  using const_iterator = Metadata::const_iterator;
  using iterator = const_iterator;
  using value_type = Metadata::value_type;

  SharedMetadata() = default;
  // Implicit: a Metadata is stored as one.
  SharedMetadata(Metadata metadata)  // NOLINT(google-explicit-constructor)
      : map_(metadata.empty() ? nullptr : std::make_shared<const Metadata>(std::move(metadata))) {}

  const Metadata& get() const { return map_ != nullptr ? *map_ : Empty(); }
  operator const Metadata&() const { return get(); }  // NOLINT(google-explicit-constructor)
  bool empty() const { return get().empty(); }
  size_t size() const { return get().size(); }
  const_iterator begin() const { return get().begin(); }
  const_iterator end() const { return get().end(); }
  const_iterator find(const std::string& key) const { return get().find(key); }
  void clear() { map_.reset(); }

  friend bool operator==(const SharedMetadata& a, const Metadata& b) { return a.get() == b; }
  friend bool operator==(const Metadata& a, const SharedMetadata& b) { return a == b.get(); }
  friend bool operator==(const SharedMetadata& a, const SharedMetadata& b) {
    return a.get() == b.get();
  }

 private:
  static const Metadata& Empty() {
    static const Metadata empty;
    return empty;
  }
  std::shared_ptr<const Metadata> map_;  // nullptr: empty
};

// Applies the v1 service-name filter: a name containing "@@" is returned unchanged; otherwise
// "<group>@@<name>", with an empty `group_name` meaning DEFAULT_GROUP.
std::string GroupedServiceName(std::string_view service_name, std::string_view group_name);
// The part between the first and the second "@@" (Nacos getServiceName); the whole string if it has
// no "@@"; empty if nothing follows the first "@@".
std::string_view UngroupedServiceName(std::string_view grouped);
// The part before the first "@@", or DEFAULT_GROUP if there is none (Nacos getGroupName).
std::string_view GroupNameOf(std::string_view grouped);
// NamingUtils.checkServiceNameFormat: OK, or kInvalidArgument with
// "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'" (fewer than two
// "@@"-separated parts once trailing empty parts are dropped, e.g. "grp@@") or
// "Param 'serviceName' is illegal, groupName can't be empty" (e.g. "@@svc").
Status CheckServiceNameFormat(std::string_view grouped);

// A `clusters` parameter as it selects: the names in order, empty ones and repeats dropped, joined
// by ','. "" (all clusters) stays "".
std::string NormalizedClusters(std::string_view clusters);

// Java's Double.toString(v), which is also what Jackson writes for a double: "1.0", "0.5",
// "10000.0", "1.0E-4", "1.0E7", "NaN" (plain notation for 1e-3 <= |v| < 1e7, shortest digits that
// read back to v).
std::string JavaDoubleToString(double v);

// One stored instance, also the element type of list snapshots.
// Inside the store, instance_id (unless a snowflake id) and service_name are left empty and filled
// in on the way out (List(), GetInstance()), which saves two heap strings per instance.
struct Instance {
  std::string instance_id;
  std::string ip;
  int port = 0;
  double weight = 1.0;  // Stored clamped: 0 < w < 0.01 -> 0.01, w > 10000 -> 10000, w < 0 -> 0.
  bool healthy = true;  // In a ServiceSnapshot: the *reported* health (see InstanceStore::List()).
  bool enabled = true;
  bool ephemeral = true;
  bool marked = false;  // Legacy flag: exempt from beat-driven health changes and expiry.
  std::string cluster_name;
  std::string service_name;  // Grouped.
  std::string app;
  SharedMetadata metadata;        // Shared with copies: a snapshot does not copy the map.
  registry::TimePoint last_beat;  // Monotonic; set on (re-)register, patch and beat.
  // The gRPC connection id that holds the instance (see InstanceStore::ReplaceOwned()); empty for
  // an instance of the v1 HTTP API. An owned instance lives as long as its owner holds it: the
  // beat sweep never expires it.
  std::string owner;
};

// What a register (POST /instance) or an update (PUT /instance) carries, already parsed.
struct InstanceSpec {
  std::string namespace_id;  // Empty: "public".
  std::string service_name;  // Grouped (apply GroupedServiceName() first). Required.
  std::string cluster_name;  // Empty: "DEFAULT".
  std::string ip;            // Required.
  int port = 0;
  double weight = 1.0;
  bool enabled = true;
  bool healthy = true;            // Honoured for a new instance only (and for marked ones).
  std::optional<bool> ephemeral;  // Unset: InstanceStoreOptions::default_ephemeral.
  Metadata metadata;
  std::string app;      // Empty: "DEFAULT".
  bool marked = false;  // Legacy; the v1 HTTP API always leaves it false.
  // Kept when not empty (a gRPC client may choose it); else the id is generated (see Register()).
  std::string instance_id;
  // True (gRPC, as Nacos 2.x): any finite weight is kept as it is, unchecked and unclamped.
  bool any_weight = false;
};

// Names one instance: deregister, patch, detail.
struct InstanceKey {
  std::string namespace_id;  // Empty: "public".
  std::string service_name;  // Grouped. Required.
  std::string cluster_name;  // Empty: "DEFAULT".
  std::string ip;            // Required.
  int port = 0;
  // Deregister only; unset: InstanceStoreOptions::default_ephemeral.
  std::optional<bool> ephemeral;
};

// PATCH /instance: only the fields that are set change.
struct InstancePatch {
  std::optional<Metadata> metadata;
  std::optional<std::string> app;
  std::optional<double> weight;
  std::optional<bool> healthy;
  std::optional<bool> enabled;
};

// The `beat` JSON of PUT /instance/beat (see ParseBeatInfo() in naming_json.h).
struct BeatInfo {
  std::string ip;
  int port = 0;
  std::string cluster;       // Blank: the request's cluster.
  std::string service_name;  // Informational; the request's serviceName is authoritative.
  double weight = 1.0;
  Metadata metadata;
  bool ephemeral = true;
};

struct BeatRequest {
  std::string namespace_id;  // Empty: "public".
  std::string service_name;  // Grouped. Required.
  std::string cluster_name;  // Empty: "DEFAULT".
  std::string ip;
  int port = 0;
  std::optional<BeatInfo> beat;  // Present: a full beat; its ip/port/(non-blank) cluster win.
};

inline constexpr int kBeatCodeOk = 10200;
inline constexpr int kBeatCodeNotFound = 20404;

struct BeatResult {
  // False only for a light beat (no BeatInfo) naming an unknown instance: answer code 20404 and the
  // client re-registers. Otherwise code 10200.
  bool found = true;
  std::chrono::milliseconds client_beat_interval{5000};
  bool light_beat_enabled = true;  // Rendered only when found.
  int code() const { return found ? kBeatCodeOk : kBeatCodeNotFound; }
};

// GET /instance/list parameters that reach the store.
struct ListQuery {
  std::string namespace_id;  // Empty: "public".
  std::string service_name;  // Grouped. Required.
  std::string clusters;      // Comma-separated cluster names; empty: all clusters. Echoed back.
  bool healthy_only = false;
};

// The answer to a list query, ready for RenderInstanceList().
struct ServiceSnapshot {
  std::string service_name;  // Grouped, as queried.
  std::string clusters;      // As queried (echoed in the JSON).
  bool found = false;        // False: unknown service (a different JSON shape, hosts always empty).
  // True if the requested clusters hold at least one instance before the healthyOnly and enabled
  // filters; false selects the 1.4.x "no instance" JSON shape.
  bool has_instances = false;
  bool protect_threshold_reached = false;
  double protect_threshold = 0.0;
  int64_t last_ref_time = 0;  // The service revision (epoch ms).
  Metadata metadata;          // Service metadata.
  std::vector<Instance> hosts;
};

// POST/PUT /service.
struct ServiceSpec {
  std::string namespace_id;  // Empty: "public".
  std::string service_name;  // Grouped. Required.
  double protect_threshold = 0.0;
  Metadata metadata;
};

// GET /service.
struct ServiceInfo {
  std::string namespace_id;
  std::string service_name;  // Grouped.
  double protect_threshold = 0.0;
  Metadata metadata;
  // Sorted. A cluster holds nothing but its instances, so it is removed with its last instance.
  std::vector<std::string> clusters;
  size_t instance_count = 0;
  int64_t last_ref_time = 0;
};

// What a data directory keeps of one service (see InstanceStore::PersistentSnapshot()).
struct PersistentService {
  std::string namespace_id;
  std::string service_name;  // Grouped.
  // Created or updated through the service API: its threshold and metadata are kept too.
  bool explicit_service = false;
  double protect_threshold = 0.0;
  Metadata metadata;
  // Its persistent instances as stored: service_name empty, instance_id empty unless a snowflake
  // or client-chosen id (the default id is derived from the other fields).
  std::vector<Instance> instances;
};

// GET /service/list.
struct ServiceListPage {
  std::vector<std::string> names;  // Ungrouped (the "<group>@@" prefix removed), sorted.
  size_t count = 0;                // All services of the group, whatever the page.
  // True when the page's names would take more than the bytes the caller allowed; `names` is
  // then empty and min_bytes is what they would take (plus 3 bytes each).
  bool too_large = false;
  size_t min_bytes = 0;
};

struct HealthSweepResult {
  size_t marked_unhealthy = 0;
  size_t deleted = 0;
  size_t services_removed = 0;
};

// Where a sweep in steps (InstanceStore::CheckHealthStep()) resumes: the first service not yet
// examined in this round, by name, so that any change between steps is harmless. A
// default-constructed cursor starts a round.
struct HealthSweepCursor {
  std::string namespace_id;
  std::string service_name;
};

struct InstanceStoreOptions {
  // An ephemeral instance without a beat for longer than this turns unhealthy. Default 15000 ms.
  std::chrono::milliseconds heartbeat_timeout{15000};
  // ... and is deleted once this long has passed since its last beat. Default 30000 ms.
  std::chrono::milliseconds ip_delete_timeout{30000};
  // The beat interval told to clients (switch clientBeatInterval). Default 5000 ms.
  std::chrono::milliseconds client_beat_interval{5000};
  // Beat responses say lightBeatEnabled (switch lightBeatEnabled). Default true.
  bool light_beat_enabled = true;
  // False: expired instances turn unhealthy but are never deleted (nacos.naming.expireInstance).
  // Default true.
  bool expire_instances = true;
  // Kind of an instance whose request has no `ephemeral` (switch defaultInstanceEphemeral).
  // Default true.
  bool default_ephemeral = true;
  // A service created implicitly (by a register or a beat) is removed by CheckHealth() once it has
  // had no instance for longer than this. Services created or updated through CreateService() /
  // UpdateService() are kept until DeleteService(). Negative: keep empty services forever.
  // Default 60000 ms (the 2.x expiry; 1.4.x cleans after >3 empty sweeps of its 20-30 s cleaner).
  std::chrono::milliseconds empty_service_expiry{60000};
  // True: a sweep examines only the services where something can be due. Each service keeps a
  // lower bound of its next health event (the earliest moment an instance may turn unhealthy or be
  // deleted, or the service expire); beats only move events later, so a beat never touches it, and
  // every other change lowers it. False: every sweep examines every instance. Both give the same
  // results; false exists so that tests can compare the two. Default true.
  bool sweep_only_due_services = true;

  // Caps (see NamingServerOptions, which documents them and their flags). Each refusal is
  // kInvalidArgument with a message naming the cap and its flag; the writes that can be refused
  // by one set *refused_by to its reason.
  // Metadata bytes: the sum of key and value bytes (and of the `app` of an instance), for an
  // instance and for a service. Default 16384.
  size_t max_metadata_bytes = 16384;
  size_t max_instances_per_service = 20000;   // Default 20000.
  size_t max_services_per_namespace = 20000;  // Default 20000.
  size_t max_total_services = 100000;         // Default 100000.
  size_t max_total_instances = 1000000;       // Default 1000000.
  // A write that would take a service's AnswerBytes() past this is refused (kAnswerTooLarge);
  // a write that does not grow the estimate never is. Default 16 MiB.
  size_t max_answer_bytes = 16 << 20;
};

class InstanceStore {
 public:
  using ChangeHook =
      std::function<void(const std::string& namespace_id, const std::string& grouped_service)>;

  // `clock` is not owned and must outlive the store.
  explicit InstanceStore(registry::Clock* clock, InstanceStoreOptions options = {});

  InstanceStore(const InstanceStore&) = delete;
  InstanceStore& operator=(const InstanceStore&) = delete;

  // Called after every change that must reach subscribers by UDP push: register, re-register,
  // update, patch, deregister of an existing instance, beat compensation, a beat reviving an
  // instance, health flips and deletions by CheckHealth(), service create/update, and a
  // ReplaceOwned() that held or now holds something. Exactly once per changed service per call
  // (CheckHealth() may report several services). Each call follows a bump of the service's
  // revision. Not called for the removal of a service (explicit or by expiry).
  void SetChangeHook(ChangeHook hook) { hook_ = std::move(hook); }

  const InstanceStoreOptions& options() const { return options_; }

  // POST /instance. Checks, in Nacos order, with these kInvalidArgument messages:
  //   "Param 'serviceName' is required." / CheckServiceNameFormat() / "Param 'ip' is required." /
  //   an ip made only of digits and dots must be a.b.c.d (1-3 digits each) with a port of 0-99999:
  //   "instance format invalid: Your IP address is spelled incorrectly" /
  //   weight in [0, 10000]: "instance format invalid: The weights range from 0.0 to 10000.0" /
  //   heart beat timeout and ip delete timeout (metadata or defaults) >= interval:
  //   "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'."
  //   (the 2.x rule) / a new service's grouped name matches [0-9a-zA-Z@.:_-]+:
  //   "dom name can only have these characters: 0-9a-zA-Z-._:, current: <name>". The ip check also
  //   refuses any ip longer than 128 bytes or with a character outside [0-9A-Za-z.:%_-] (host
  //   names, IPv4 and IPv6), and any port outside 0-99999, with the same message. The cluster name
  //   is checked after the weight: "cluster name too long: <n> bytes (max 64)", then
  //   [0-9a-zA-Z-]+: "cluster name can only have these characters: 0-9a-zA-Z-, current: <c>"
  //   (Nacos checks it after creating the service, which then stays; here a refused request
  //   creates nothing). Then the caps: max_metadata_bytes, and for a new instance
  //   max_total_instances, max_instances_per_service and (for a new service)
  //   max_services_per_namespace and max_total_services, then max_answer_bytes; a refusal by a cap
  //   creates nothing and sets *refused_by (when not null) to its reason.
  // Creates the service and cluster as needed. A new instance gets the id
  // "<ip>#<port>#<cluster>#<grouped service>", or with metadata preserved.instance.id.generator =
  // snowflake the smallest non-negative integer not used as an id in the service. Re-registering
  // (same cluster, ip, port, ephemeral) keeps the id and the health state (unless marked), replaces
  // weight, enabled, metadata and app, and resets the last beat.
  Status Register(const InstanceSpec& spec, RejectReason* refused_by = nullptr);

  // The gRPC registration model: `owner` (a connection id, not empty) holds exactly the instances
  // `specs` in the service (grouped) of the namespace afterwards; the instances it held there
  // before and that `specs` does not name (by cluster, ip, port, ephemeral) are removed. Serves a
  // register (one spec), a deregister (none), a batch (N) and a disconnect (none, for each of
  // OwnedServices()). Every spec is checked as Register() does (its namespace and service are
  // taken from the arguments), then the caps for the whole set (instances per service and in
  // total, the answer size, a new service), before anything changes; the change hook is called
  // once, and only when something was held or is now. An instance of the same (cluster, ip, port,
  // ephemeral) is one stored instance whoever wrote it: a v1 registration of it takes it over
  // (it becomes unowned and beat-checked), and an owner's registration takes over a v1 one; the
  // last writer wins, as Nacos merges both kinds of client into one set by value. A v1
  // deregistration leaves an owned instance alone (Deregister()).
  Status ReplaceOwned(const std::string& owner, const std::string& namespace_id,
                      const std::string& service_name, const std::vector<InstanceSpec>& specs,
                      RejectReason* refused_by = nullptr);
  // The (namespace, grouped service) pairs where `owner` holds instances, from an index (no scan).
  std::vector<std::pair<std::string, std::string>> OwnedServices(const std::string& owner) const;

  // PUT /instance. `strict` is what 1.4.x derives from the User-Agent (Java client >= 1.0.0): false
  // makes this a Register(). True requires the service ("service not found, namespace: <ns>,
  // service: <svc>") and an instance with the same ip, port (0 matches any) and ephemeral flag in
  // any cluster ("instance not exist: <Nacos Instance.toString()>"), then registers `spec` (into
  // spec.cluster_name, which may add an instance to another cluster, as Nacos does). Same
  // validation as Register() first.
  Status Update(const InstanceSpec& spec, bool strict, RejectReason* refused_by = nullptr);

  // PATCH /instance: the instance with key's cluster, ip and port (either kind; key.ephemeral is
  // ignored) gets the fields set in `patch` and a fresh last beat. kInvalidArgument
  // "instance not found" when absent; the weight message of Register() for a bad weight; the
  // metadata (with app) and answer caps as Register().
  Status Patch(const InstanceKey& key, const InstancePatch& patch,
               RejectReason* refused_by = nullptr);

  // DELETE /instance: removes the instance with key's cluster, ip, port and ephemeral flag. OK also
  // when nothing matches, or when a gRPC connection holds the instance (it goes with its owner;
  // the hook then is not called). Errors: missing serviceName/ip and
  // CheckServiceNameFormat() only.
  Status Deregister(const InstanceKey& key);

  // GET /instance (detail): key.ephemeral is ignored; a persistent instance is found before an
  // ephemeral one with the same address. kNotFound: "no service <svc> found!",
  // "no ips found for cluster <c> in service <svc>", "no matched ip found!".
  Result<Instance> GetInstance(const InstanceKey& key) const;

  // PUT /instance/beat. Finds the instance by cluster, ip and port (the beat's values win when
  // present). Unknown and no BeatInfo: result.found == false. Unknown with BeatInfo: re-registered
  // from it through Register() (healthy, enabled), so with every check and cap of a registration
  // (Nacos skips them) - "data compensation". Then an ephemeral, unmarked, unhealthy instance turns
  // healthy. The last beat of the ephemeral instance is set to now. client_beat_interval is the
  // instance's preserved.heart.beat.interval when all digits, else options().client_beat_interval.
  // Errors: "Param 'serviceName' is required.", CheckServiceNameFormat(), and for a compensation
  // "Param 'ip' is required." plus every error of Register().
  Result<BeatResult> Beat(const BeatRequest& request, RejectReason* refused_by = nullptr);

  // GET /instance/list, 1.4.x doSrvIpxt: the instances of the requested clusters (comma list, empty
  // tokens dropped; empty = all) in order cluster (as requested, else sorted), ip, port, persistent
  // first. If healthy/total <= protectThreshold (compared in float like Nacos; with the default 0.0
  // exactly when none is healthy) every instance is reported healthy. Then healthy ones come first,
  // the unhealthy follow unless healthy_only, and disabled instances are dropped. An unknown
  // service yields found == false. Errors: "Param 'serviceName' is required.",
  // CheckServiceNameFormat().
  Result<ServiceSnapshot> List(const ListQuery& query) const;

  // Removes expired ephemeral, unmarked instances: unhealthy once now - last beat > heart beat
  // timeout, deleted once > ip delete timeout (per-instance metadata overrides, all digits, else
  // the options). Also removes implicit services empty for longer than empty_service_expiry. The
  // caller decides how often to call (Nacos: every 5 s); the store only compares times. One whole
  // round of CheckHealthStep().
  HealthSweepResult CheckHealth();

  // One bounded step of the same sweep, so that a caller holding a lock for the store can release
  // it between steps: examines services from *cursor on (namespaces and services in name order)
  // until about `budget` instances have been examined (services whose next health event is not
  // due count 1 each; a service is never split), adds what it did to *result, calls the change
  // hook for the services it changed, and advances *cursor. Returns true when the round is
  // complete (the cursor is then reset for the next round). Services added behind the cursor
  // during a round wait for the next one.
  bool CheckHealthStep(HealthSweepCursor* cursor, size_t budget, HealthSweepResult* result);

  // A number that changes whenever anything List() reports for the service may have changed (it
  // moves with every revision bump, i.e. with lastRefTime), unique over the store's lifetime: a
  // service that is deleted and created again never gets an earlier value back. 0 for an unknown
  // service. For caching rendered answers.
  uint64_t Revision(std::string_view namespace_id, std::string_view service_name) const;

  // POST /service. kInvalidArgument: "Param 'serviceName' is required.", CheckServiceNameFormat(),
  // "specified service already exists, serviceName : <svc>", the dom-name character message.
  Status CreateService(const ServiceSpec& spec, RejectReason* refused_by = nullptr);
  // Both check max_metadata_bytes on the service metadata first, and max_answer_bytes (and a
  // create max_services_per_namespace and max_total_services), setting *refused_by as Register().
  // PUT /service: replaces protectThreshold and metadata (empty if omitted).
  // kInvalidArgument "service <svc> not found!".
  Status UpdateService(const ServiceSpec& spec, RejectReason* refused_by = nullptr);
  // DELETE /service. kInvalidArgument "specified service not exist, serviceName : <svc>", or, if it
  // still has instances, "Service <svc> is not empty, can't be delete. Please unregister instance
  // first" (the 2.x rule; 1.4.x would drop the instances with it).
  Status DeleteService(std::string_view namespace_id, std::string_view service_name);
  // GET /service. kNotFound "service <svc> is not found!".
  Result<ServiceInfo> GetService(std::string_view namespace_id,
                                 std::string_view service_name) const;
  // GET /service/list: services of `group_name` (empty: DEFAULT_GROUP) in `namespace_id`, sorted;
  // page `page_no` (1-based) of `page_size`. A page beyond the end is empty; count is unaffected.
  // A page whose names (plus 3 bytes each, their JSON framing) exceed `max_bytes` is not copied:
  // too_large is set instead.
  ServiceListPage ListServices(std::string_view namespace_id, std::string_view group_name,
                               int page_no, int page_size, size_t max_bytes = SIZE_MAX) const;

  // The estimated size of the service's unfiltered list answer (0 for an unknown service): names,
  // addresses, instance ids and metadata (keys, values and their JSON framing) plus a fixed share
  // of JSON per instance; also the stored strings no answer shows (the namespace id, each
  // instance's app), so that it is also the service's share of BytesHeld(). Not below the answer's
  // real size unless its strings need JSON escapes (control characters) or the request's echoed
  // fields (clusters, env) are long. Kept incrementally: O(log n) to read.
  size_t AnswerBytes(std::string_view namespace_id, std::string_view service_name) const;
  // The sum of AnswerBytes() over all services: the approximate bytes of naming data held.
  size_t BytesHeld() const { return bytes_held_; }

  // The data that outlives a restart when the server has a data directory: every explicit service
  // and every service holding a persistent instance, with those instances, in name order. Copies
  // names and metadata pointers (metadata maps are shared), but scans every instance to find the
  // persistent ones.
  std::vector<PersistentService> PersistentSnapshot() const;
  // A number that moves whenever PersistentSnapshot() may have changed: a persistent instance
  // registered, updated, patched or deregistered, a service created, updated or deleted through
  // the service API. Ephemeral changes and the health sweep never move it.
  uint64_t PersistentRevision() const { return persistent_revision_; }

  // For metrics: over all namespaces.
  size_t ServiceCount() const;
  size_t InstanceCount() const;

 private:
  // (ip, port, ephemeral): identity within a cluster; persistent sorts first.
  using InstanceId = std::tuple<std::string, int, bool>;
  // The tuple's order, with one string comparison per step instead of std::tuple's two.
  struct InstanceIdLess {
    bool operator()(const InstanceId& a, const InstanceId& b) const {
      if (const int c = std::get<0>(a).compare(std::get<0>(b)); c != 0) return c < 0;
      if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
      return std::get<2>(a) < std::get<2>(b);
    }
  };
  using Cluster = std::map<InstanceId, Instance, InstanceIdLess>;

  struct Service {
    double protect_threshold = 0.0;
    Metadata metadata;
    bool explicit_service = false;  // Created/updated through the service API: never auto-removed.
    int64_t last_ref_time = 0;
    uint64_t revision = 0;  // See Revision(); bumped with last_ref_time.
    std::map<std::string, Cluster, std::less<>> clusters;
    std::optional<registry::TimePoint> empty_since;  // Set while the service has no instance.
    // No health event of this service (an instance turning unhealthy or deleted, the service
    // expiring) happens before this moment; the sweep skips the service until then. min(): unknown,
    // examine at the next sweep.
    registry::TimePoint sweep_due = registry::TimePoint::min();
    size_t instance_count = 0;  // Over all clusters.
    size_t bytes = 0;           // AnswerBytes(); the service's share of bytes_held_.
    size_t InstanceCount() const { return instance_count; }
  };
  using Namespace = std::map<std::string, Service, std::less<>>;

  Status ValidateSpec(const InstanceSpec& spec, RejectReason* refused_by) const;
  // kInvalidArgument (reason kMetadataTooLarge) if `metadata` plus `app` exceed
  // max_metadata_bytes.
  Status CheckMetadataCap(const Metadata& metadata, std::string_view app, std::string_view owner,
                          RejectReason* refused_by) const;
  // kInvalidArgument (reason kAnswerTooLarge) if a write that moves a service's AnswerBytes()
  // from `bytes` by `before` -> `after` would grow it past max_answer_bytes.
  Status CheckAnswerCap(const std::string& service_name, size_t bytes, size_t before, size_t after,
                        RejectReason* refused_by) const;
  // The instance caps (total, per service) for `added` new instances in `known` (may be null).
  Status CheckCountCaps(const Service* known, const std::string& service_name, size_t added,
                        RejectReason* refused_by) const;
  static Status Refuse(RejectReason reason, const std::string& message, RejectReason* refused_by);
  // Bytes that `instance` adds to its service's AnswerBytes(), and the service's own share.
  static size_t InstanceBytes(const Instance& instance, const std::string& service_name);
  static size_t ServiceBaseBytes(const Metadata& metadata, const std::string& namespace_id,
                                 const std::string& service_name);
  // Bytes that a cluster adds (its name in the service-detail answer).
  static size_t ClusterBytes(const std::string& cluster_name);
  // Moves the service's byte estimate (and bytes_held_) from `before` to `after`.
  void Rebalance(Service& service, size_t before, size_t after);
  // Removes one instance from a cluster, keeping the counts and byte estimates.
  Cluster::iterator EraseInstance(Service& service, const std::string& service_name,
                                  Cluster& cluster, Cluster::iterator it);
  // Removes the cluster if it holds no instance, keeping the byte estimates.
  void EraseClusterIfEmpty(Service& service, decltype(Service::clusters)::iterator cluster);
  // Creates or replaces the instance described by a validated spec, then notifies.
  Status Upsert(const InstanceSpec& spec, RejectReason* refused_by);
  // The instance a validated spec describes (namespace, service and cluster defaults applied).
  Instance FromSpec(const InstanceSpec& spec, const std::string& owner) const;
  // Writes `instance` into the cluster (creating it) of an existing service, keeping a replaced
  // instance's id and health, the counts, byte estimates and the owner index. No caps, no hook.
  void Put(Service& service, const std::string& namespace_id, const std::string& service_name,
           Instance instance);
  // Keeps the owner index in step with one owned instance appearing or going.
  void IndexOwned(const std::string& owner, const std::string& namespace_id,
                  const std::string& service_name, const std::string& cluster,
                  const Instance& instance, bool add);
  // Finds or creates the service (checking the name characters and the service caps on creation).
  Result<Service*> GetOrCreateService(const std::string& namespace_id,
                                      const std::string& service_name, RejectReason* refused_by);
  // Removes a service, keeping the counts and byte estimates.
  void EraseService(Namespace& ns, Namespace::iterator it);
  Service* FindService(std::string_view namespace_id, std::string_view service_name);
  const Service* FindService(std::string_view namespace_id, std::string_view service_name) const;
  // A snowflake id for a new instance, or "" for the default id, which is derived on output.
  std::string NewInstanceId(const Service& service, const Instance& instance) const;
  // A stored instance as callers see it: service_name filled in and the default id derived.
  static Instance Materialize(const Instance& stored, const std::string& service_name);
  // Bumps the revision: wall ms, strictly increasing per service.
  void Touch(Service& service);
  // The persistent and the ephemeral instance with this address in the cluster (nullptr where
  // there is none), with one descent of the cluster map (where they are neighbours).
  static std::pair<Instance*, Instance*> FindBothKinds(Cluster& cluster, const std::string& ip,
                                                       int port);
  // The instance with this address, the persistent one first (the order of the cluster map).
  static Instance* FindInstance(Cluster& cluster, const std::string& ip, int port);
  static const Instance* FindInstance(const Cluster& cluster, const std::string& ip, int port);
  // When the sweep would next change `instance` (turn it unhealthy, or delete it); max() if never.
  registry::TimePoint NextHealthEvent(const Instance& instance) const;
  // Lowers the service's sweep_due to `when` if that is earlier.
  static void ExpectHealthEvent(Service& service, registry::TimePoint when);
  // The sweep of one service (CheckHealthStep()); returns the number of instances examined.
  size_t SweepService(Service& service, const std::string& service_name, registry::TimePoint now,
                      bool* changed, HealthSweepResult* result);
  void Notify(const std::string& namespace_id, const std::string& service_name) const;
  std::chrono::milliseconds MillisFromMetadata(const Metadata& metadata, std::string_view key,
                                               std::chrono::milliseconds fallback) const;

  registry::Clock* const clock_;
  const InstanceStoreOptions options_;
  ChangeHook hook_;
  uint64_t last_revision_ = 0;
  uint64_t persistent_revision_ = 0;  // See PersistentRevision().
  size_t instance_count_ = 0;  // Over all services.
  size_t service_count_ = 0;   // Over all namespaces.
  size_t bytes_held_ = 0;      // Sum of Service::bytes.
  std::map<std::string, Namespace, std::less<>> namespaces_;
  // owner -> (namespace, service) -> (cluster, instance id) of every owned instance.
  using OwnedKeys = std::set<std::pair<std::string, InstanceId>>;
  std::map<std::string, std::map<std::pair<std::string, std::string>, OwnedKeys>> owned_;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_INSTANCE_STORE_H_
