// libFuzzer target for naming_json's parsers of client JSON: ParseMetadata() (the `metadata`
// parameter) and ParseBeatInfo() (the `beat` parameter). Whatever they accept is rendered again and
// must be valid JSON in valid UTF-8 (the parsers refuse anything else); accepted metadata must
// survive a render/parse round trip (through the beat parser, which reads the `metadata` of a
// rendered instance detail); an accepted beat is also run through InstanceStore::Beat() and a list
// render, which must equal its data part plus the echoed fields, and stay valid JSON with the
// beat's strings echoed. Seeds: fuzz/corpus/naming_json/.
//
// Thread-safety: libFuzzer calls this from one thread.
#include <rapidjson/reader.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dubbo/registry/manual_scheduler.h"
#include "instance_store.h"
#include "naming_json.h"

namespace {

using dubbo::naming_server::BeatInfo;
using dubbo::naming_server::BeatRequest;
using dubbo::naming_server::Instance;
using dubbo::naming_server::InstanceStore;
using dubbo::naming_server::ListQuery;
using dubbo::naming_server::ListRenderOptions;

// One valid JSON value, valid UTF-8 throughout. SAX and in-situ: RapidJSON 1.1's DOM trips UBSan
// (see naming_json.cc).
void CheckValidJson(const std::string& json) {
  std::string copy(json);
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> handler;
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseValidateEncodingFlag;
  if (reader.Parse<kFlags>(stream, handler).IsError()) std::abort();
}

void FuzzMetadata(std::string_view input) {
  auto metadata = dubbo::naming_server::ParseMetadata(input);
  if (!metadata.ok()) return;
  Instance instance;
  instance.metadata = *metadata;
  const std::string json = dubbo::naming_server::RenderInstanceDetail(instance);
  CheckValidJson(json);
  if (json.size() <= dubbo::naming_server::kMaxBeatBytes) {
    auto reparsed = dubbo::naming_server::ParseBeatInfo(json);
    if (!reparsed.ok() || reparsed->metadata != *metadata) std::abort();
  }
}

void FuzzBeat(std::string_view input) {
  auto beat = dubbo::naming_server::ParseBeatInfo(input);
  if (!beat.ok()) return;
  static dubbo::registry::ManualScheduler clock;
  InstanceStore store(&clock);
  BeatRequest request;
  request.service_name = "DEFAULT_GROUP@@fuzz";
  request.beat = *beat;
  auto result = store.Beat(request);
  if (result.ok()) CheckValidJson(dubbo::naming_server::RenderBeatResult(*result));
  ListQuery query;
  query.service_name = request.service_name;
  auto snapshot = store.List(query);
  if (!snapshot.ok()) std::abort();
  const std::string whole =
      dubbo::naming_server::RenderInstanceList(*snapshot, ListRenderOptions());
  CheckValidJson(whole);
  // The kept data part plus the echoed fields is the same answer (the beat's cluster, as a
  // client-chosen `clusters`, is echoed too).
  if (snapshot->found) {
    const auto parts = dubbo::naming_server::RenderListParts(*snapshot, true);
    if (dubbo::naming_server::AssembleInstanceList(parts, 3000, snapshot->clusters, "") != whole) {
      std::abort();
    }
    const std::string echoed =
        dubbo::naming_server::AssembleInstanceList(parts, 10000, beat->cluster, beat->ip);
    CheckValidJson(echoed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzMetadata(input);
  FuzzBeat(input);
  return 0;
}
