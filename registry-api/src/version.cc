// LibraryVersion: the version this library was compiled as, fixed at build time.
//
// Thread-safety: returns a constant.
#include "dubbo/registry/version.h"

namespace dubbo::registry {

const char* LibraryVersion() { return DUBBO_REGISTRY_VERSION; }

}  // namespace dubbo::registry
