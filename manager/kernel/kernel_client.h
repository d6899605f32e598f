// KernelClient: what keeld and keelsetup need from keel.ko.  The production
// implementation speaks generic netlink (netlink_client.h); logic above it
// is tested against fakes of this interface.
#pragma once

#include <cstdint>
#include <string>

#include "manager/common/status.h"

namespace keel {

struct ModuleInfo {
  std::string version;         // keel.ko's version, "0.1.0"
  uint32_t api_version = 0;    // KEEL_GENL_VERSION the module speaks
  uint64_t features = 0;       // mask of enum keel_feature
  std::string kernel_release;  // uname -r of the kernel it runs in
};

class KernelClient {
 public:
  virtual ~KernelClient() = default;
  virtual Result<ModuleInfo> GetInfo() = 0;
};

}  // namespace keel
