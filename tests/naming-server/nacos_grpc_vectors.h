// Test data: Nacos 2.5.1 gRPC messages as a Java client at 10.0.0.9 sends them and as the server
// answers them (request and answer bodies of a ConnectionSetup, a registration, a subscription and
// the 301/302 refusals), shared by the socket-free core tests and the tests over real sockets.
//
// Thread-safety: constants only.
#ifndef DUBBO_TESTS_NAMING_SERVER_NACOS_GRPC_VECTORS_H_
#define DUBBO_TESTS_NAMING_SERVER_NACOS_GRPC_VECTORS_H_

namespace dubbo::naming_server::nacos_grpc {

// ConnectionSetupRequest: labels with module=naming, and an abilityTable, so the server answers
// with SetupAckRequest.
inline constexpr char kJavaSetup[] =
    R"({"headers":{},"clientVersion":"Nacos-Java-Client:v2.5.1","labels":{"AppName":"unknown",)"
    R"("module":"naming","source":"sdk","tls.enable":"false"},"abilityTable":{},"module":"internal"})";
// InstanceRequest registering 10.0.0.5:8080 in DEFAULT_GROUP@@demo.
inline constexpr char kTv4Register[] =
    R"({"headers":{},"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
    R"("type":"registerInstance","instance":{"ip":"10.0.0.5","port":8080,"weight":1.0,)"
    R"("healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","metadata":)"
    R"({"version":"1.0"},"instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,)"
    R"("ipDeleteTimeout":30000},"module":"naming"})";
// SubscribeServiceRequest for DEFAULT_GROUP@@demo, all clusters.
inline constexpr char kTv6Subscribe[] =
    R"({"headers":{},"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
    R"("subscribe":true,"clusters":"","module":"naming"})";
// ErrorResponse to a request on a connection without ConnectionSetup.
inline constexpr char kTv8Body[] =
    R"({"resultCode":500,"errorCode":301,"message":"Connection is unregistered.","success":false})";
// ErrorResponse to an unknown request type.
inline constexpr char kTv9Body[] =
    R"({"resultCode":500,"errorCode":302,"message":"RequestHandler Not Found","success":false})";

}  // namespace dubbo::naming_server::nacos_grpc

#endif  // DUBBO_TESTS_NAMING_SERVER_NACOS_GRPC_VECTORS_H_
