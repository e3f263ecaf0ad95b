// Internal: NamingCore, the naming server minus its sockets. It owns the instance store, the push
// service, the gRPC protocol core (GrpcNaming) and the login tokens, and answers HttpRequests with
// HttpResponses and gRPC payloads through grpc_handler(). The libevent shell in naming_server.cc
// feeds it; tests drive it directly, with a ManualScheduler, a recording UdpSender and a recording
// GrpcSink.
//
// Thread-safety: every public method may be called from any thread; one mutex serialises them, and
// the timers it schedules take the same mutex. A list request releases it while it renders an
// answer from its snapshot (which shares the instances' metadata, so taking it copies pointers);
// parameter checks (UTF-8, name length, namespace id) run before it is taken. Pushes render under
// it. With a data directory, a write that changes the kept data takes a snapshot under it and
// writes the data file after releasing it (DataFile serialises the writes).
#ifndef DUBBO_NAMING_SERVER_SRC_NAMING_CORE_H_
#define DUBBO_NAMING_SERVER_SRC_NAMING_CORE_H_

#include <memory>
#include <string_view>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/clock.h"
#include "dubbo/registry/scheduler.h"
#include "grpc_naming.h"
#include "grpc_types.h"
#include "http_types.h"
#include "push_service.h"
#include "server_metrics.h"

namespace dubbo::naming_server {

class NamingCore {
 public:
  // `clock`, `scheduler`, `sender` and `metrics` must outlive the core. A null `metrics`: the core
  // keeps its own (see metrics()).
  NamingCore(const NamingServerOptions& options, registry::Clock* clock,
             registry::Scheduler* scheduler, UdpSender* sender, ServerMetrics* metrics = nullptr);
  // Cancels the timers (waits for a running one).
  ~NamingCore();
  NamingCore(const NamingCore&) = delete;
  NamingCore& operator=(const NamingCore&) = delete;

  // Loads the data file of options.data_dir (see NamingServerOptions::data_dir) into the store;
  // OK without a data_dir or a file. Call once, before Handle(). An error names the file and why
  // (a corrupt file, a record the store refuses); the store is then partly filled, so the core
  // must not serve.
  registry::Status LoadData();

  HttpResponse Handle(const HttpRequest& request);
  // A datagram that arrived on the push socket (an ack, normally).
  void OnDatagram(const UdpEndpoint& from, std::string_view bytes);
  // One health check now (also run every health_check_period_ms by a timer).
  void CheckHealth();
  // Sends every registered gRPC connection a ConnectResetRequest and cancels the timers;
  // afterwards Handle() still answers but nothing is pushed, and gRPC requests get
  // ErrorResponse 300. Idempotent. When the data file is behind (its last save failed), first
  // tries once more to save it.
  void Shutdown();

  // The gRPC protocol core (Nacos 2.x), on the same store, tokens and mutex: each call takes the
  // mutex. Valid as long as the NamingCore. Its stream messages and closes go to the sink set here
  // (nullptr: none), which must outlive the core or be reset first.
  GrpcHandler* grpc_handler();
  void SetGrpcSink(GrpcSink* sink);
  GrpcNamingStats grpc_stats() const;

  NamingServer::Stats stats() const;
  // The counters this core adds to (shared with the HTTP layer in a server).
  ServerMetrics& metrics() const;

 private:
  // GET <context>/actuator/prometheus: counts only, answered without a token (as Nacos's
  // actuator endpoints are), rendered outside the lock.
  HttpResponse Prometheus() const;

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_NAMING_CORE_H_
