// cpp_naming_peer: our NamingClient behind a line protocol, for the interop tests driven from
// Node.js (tests/interop/client_interop.js). Not a user tool.
//
//   cpp_naming_peer --server 127.0.0.1:8848 [--cache-dir DIR] [--prop key=value ...]
//
// Reads one JSON command per line on stdin and answers each with one JSON line on stdout; listener
// events are JSON lines too, written whenever they happen (stdout is shared under a lock, every
// line flushed). Commands (`seq` is echoed in the reply; `group` defaults to DEFAULT_GROUP):
//   {"cmd":"register","seq":1,"service":"s","ip":"10.0.0.1","port":8080,"weight":2.5,
//    "metadata":{"k":"v"},"ephemeral":true,"cluster":"DEFAULT"}
//   {"cmd":"deregister","seq":2,"service":"s","ip":"10.0.0.1","port":8080}
//   {"cmd":"subscribe","seq":3,"service":"s"}            -> reply carries "id"
//   {"cmd":"unsubscribe","seq":4,"id":1}
//   {"cmd":"list","seq":5,"service":"s","subscribe":false} -> reply carries "instances"
//   {"cmd":"shutdown","seq":6}                            -> Shutdown(), reply, exit 0
// Replies: {"reply":"<cmd>","seq":N,"ok":true|false[,"error":"..."][,...]}.
// Events:  {"event":"ready","udpPort":N,"clientIp":"..."} once at start;
//          {"event":"change","id":N,"service":"g@@s","instances":[...],"added":[...],
//           "removed":[...],"modified":[...]} for every listener call.
// End of stdin is a shutdown.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"

namespace {

using dubbo::registry::Status;
using dubbo::registry::nacos::Instance;
using dubbo::registry::nacos::NacosOptions;
using dubbo::registry::nacos::NamingClient;
using dubbo::registry::nacos::ServiceChangeEvent;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::mutex out_mu;

void Emit(const rapidjson::StringBuffer& buffer) {
  std::lock_guard<std::mutex> lock(out_mu);
  std::fwrite(buffer.GetString(), 1, buffer.GetSize(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void WriteString(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteInstance(Writer& w, const Instance& in) {
  w.StartObject();
  w.Key("instanceId");
  WriteString(w, in.instance_id);
  w.Key("ip");
  WriteString(w, in.ip);
  w.Key("port");
  w.Int(in.port);
  w.Key("weight");
  w.Double(in.weight);
  w.Key("healthy");
  w.Bool(in.healthy);
  w.Key("enabled");
  w.Bool(in.enabled);
  w.Key("ephemeral");
  w.Bool(in.ephemeral);
  w.Key("clusterName");
  WriteString(w, in.cluster_name);
  w.Key("serviceName");
  WriteString(w, in.service_name);
  w.Key("metadata");
  w.StartObject();
  for (const auto& [k, v] : in.metadata) {
    WriteString(w, k);
    WriteString(w, v);
  }
  w.EndObject();
  w.EndObject();
}

void WriteInstances(Writer& w, const char* key, const std::vector<Instance>& list) {
  w.Key(key);
  w.StartArray();
  for (const Instance& in : list) WriteInstance(w, in);
  w.EndArray();
}

std::string Str(const rapidjson::Value& cmd, const char* key, const std::string& fallback = "") {
  if (cmd.HasMember(key) && cmd[key].IsString()) return cmd[key].GetString();
  return fallback;
}

Instance InstanceOf(const rapidjson::Value& cmd) {
  Instance in;
  in.ip = Str(cmd, "ip");
  if (cmd.HasMember("port") && cmd["port"].IsInt()) in.port = cmd["port"].GetInt();
  if (cmd.HasMember("weight") && cmd["weight"].IsNumber()) in.weight = cmd["weight"].GetDouble();
  if (cmd.HasMember("ephemeral") && cmd["ephemeral"].IsBool()) {
    in.ephemeral = cmd["ephemeral"].GetBool();
  }
  if (cmd.HasMember("enabled") && cmd["enabled"].IsBool()) in.enabled = cmd["enabled"].GetBool();
  in.cluster_name = Str(cmd, "cluster");  // Empty: the client's clusterName option.
  if (cmd.HasMember("metadata") && cmd["metadata"].IsObject()) {
    for (const auto& m : cmd["metadata"].GetObject()) {
      if (m.value.IsString()) in.metadata[m.name.GetString()] = m.value.GetString();
    }
  }
  return in;
}

void Reply(const std::string& cmd, int64_t seq, const Status& status,
           const std::function<void(Writer&)>& extra = nullptr) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("reply");
  WriteString(w, cmd);
  w.Key("seq");
  w.Int64(seq);
  w.Key("ok");
  w.Bool(status.ok());
  if (!status.ok()) {
    w.Key("error");
    WriteString(w, status.ToString());
  }
  if (status.ok() && extra) extra(w);
  w.EndObject();
  Emit(buffer);
}

int Usage() {
  std::fprintf(stderr,
               "usage: cpp_naming_peer --server HOST:PORT [--cache-dir DIR] [--prop key=value ...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> props;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage();
    const std::string value = argv[++i];
    if (flag == "--server") {
      props["serverAddr"] = value;
    } else if (flag == "--cache-dir") {
      props["JM.SNAPSHOT.PATH"] = value;
    } else if (flag == "--prop") {
      const size_t eq = value.find('=');
      if (eq == std::string::npos) return Usage();
      props[value.substr(0, eq)] = value.substr(eq + 1);
    } else {
      return Usage();
    }
  }
  if (props.count("serverAddr") == 0) return Usage();

  auto options = NacosOptions::FromProperties(props);
  if (!options.ok()) {
    std::fprintf(stderr, "cpp_naming_peer: %s\n", options.status().ToString().c_str());
    return 1;
  }
  auto created = NamingClient::Create(*options);
  if (!created.ok()) {
    std::fprintf(stderr, "cpp_naming_peer: %s\n", created.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<NamingClient> client = std::move(*created);
  {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("event");
    w.String("ready");
    w.Key("udpPort");
    w.Int(client->udp_port());
    w.Key("clientIp");
    WriteString(w, client->client_ip());
    w.EndObject();
    Emit(buffer);
  }

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    rapidjson::Document cmd;
    cmd.Parse(line.c_str(), line.size());
    if (cmd.HasParseError() || !cmd.IsObject()) {
      Reply("?", -1, dubbo::registry::InvalidArgumentError("not a JSON object: " + line));
      continue;
    }
    const std::string name = Str(cmd, "cmd");
    const int64_t seq = cmd.HasMember("seq") && cmd["seq"].IsInt64() ? cmd["seq"].GetInt64() : -1;
    const std::string service = Str(cmd, "service");
    const std::string group = Str(cmd, "group");
    if (name == "register") {
      Reply(name, seq, client->RegisterInstance(service, group, InstanceOf(cmd)));
    } else if (name == "deregister") {
      Reply(name, seq, client->DeregisterInstance(service, group, InstanceOf(cmd)));
    } else if (name == "subscribe") {
      auto id = client->Subscribe(service, group, Str(cmd, "clusters"),
                                  [](const ServiceChangeEvent& e) {
                                    rapidjson::StringBuffer buffer;
                                    Writer w(buffer);
                                    w.StartObject();
                                    w.Key("event");
                                    w.String("change");
                                    w.Key("service");
                                    WriteString(w, e.service_name);
                                    w.Key("clusters");
                                    WriteString(w, e.clusters);
                                    WriteInstances(w, "instances", e.instances);
                                    WriteInstances(w, "added", e.added);
                                    WriteInstances(w, "removed", e.removed);
                                    WriteInstances(w, "modified", e.modified);
                                    w.EndObject();
                                    Emit(buffer);
                                  });
      Reply(name, seq, id.status(), [&](Writer& w) {
        w.Key("id");
        w.Uint64(*id);
      });
    } else if (name == "unsubscribe") {
      const uint64_t id = cmd.HasMember("id") && cmd["id"].IsUint64() ? cmd["id"].GetUint64() : 0;
      Reply(name, seq, client->Unsubscribe(id));
    } else if (name == "list") {
      const bool subscribe =
          cmd.HasMember("subscribe") && cmd["subscribe"].IsBool() && cmd["subscribe"].GetBool();
      auto list = client->GetAllInstances(service, group, Str(cmd, "clusters"), subscribe);
      Reply(name, seq, list.status(),
            [&](Writer& w) { WriteInstances(w, "instances", *list); });
    } else if (name == "shutdown") {
      client->Shutdown();
      Reply(name, seq, Status::Ok());
      return 0;
    } else {
      Reply(name, seq, dubbo::registry::InvalidArgumentError("unknown command: " + name));
    }
  }
  client->Shutdown();
  return 0;
}
