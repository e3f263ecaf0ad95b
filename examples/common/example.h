// example.h: what every example program does the same way: read "--flag value" pairs and open the
// Nacos registry named by --registry.
//
// Thread-safety: call from main() before starting threads.
#ifndef DUBBO_REGISTRY_EXAMPLES_EXAMPLE_H_
#define DUBBO_REGISTRY_EXAMPLES_EXAMPLE_H_

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/registry_factory.h"
#include "dubbo/registry/result.h"

namespace example {

// Fills `flags` (flag -> its value, holding the default) from "--flag value" pairs; false, with a
// message naming `program`, for a flag it does not know or one without a value.
inline bool ParseFlags(const char* program, int argc, char** argv,
                       std::map<std::string, std::string>* flags) {
  for (int i = 1; i < argc; i += 2) {
    auto flag = flags->find(argv[i]);
    if (flag == flags->end() || i + 1 >= argc) {
      std::fprintf(stderr, "%s: unknown flag or missing value: %s\n", program, argv[i]);
      return false;
    }
    flag->second = argv[i + 1];
  }
  return true;
}

// The registry at `address` ("nacos://host:port[?...]", several servers allowed as
// "nacos://h1:8848,h2:8848"), created through `manager`, which owns it.
inline dubbo::registry::Result<std::shared_ptr<dubbo::registry::Registry>> OpenNacosRegistry(
    dubbo::registry::RegistryManager& manager, const std::string& address) {
  dubbo::registry::nacos::RegisterNacosRegistry(manager).IgnoreError();  // once per manager
  auto url = dubbo::registry::nacos::ParseNacosRegistryAddress(address);
  if (!url.ok()) return url.status();
  return manager.GetRegistry(*url);
}

}  // namespace example

#endif  // DUBBO_REGISTRY_EXAMPLES_EXAMPLE_H_
