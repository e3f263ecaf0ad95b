// Internal: the one range check of NacosOptions, shared by NacosOptions::FromProperties (which
// names the property) and NamingClient::Create (which names the field, for a hand-built struct).
//
// Thread-safety: a pure function.
#ifndef DUBBO_NACOS_CLIENT_SRC_NACOS_OPTIONS_CHECK_H_
#define DUBBO_NACOS_CLIENT_SRC_NACOS_OPTIONS_CHECK_H_

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry::nacos {

// kInvalidArgument naming the first field out of range (and its property), or a missing server,
// or a client_ip that is not an IP literal; OK otherwise. The ranges are those of the properties
// documented in nacos_options.h.
Status CheckNacosOptions(const NacosOptions& options);

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_NACOS_OPTIONS_CHECK_H_
