#include "manager/kernel/kernel_client.h"

#include <linux/keel.h>

namespace keel {

std::string EventTypeName(uint32_t type) {
  switch (type) {
    case KEEL_EVENT_VOLUME_CREATED:
      return "volume-created";
    case KEEL_EVENT_VOLUME_DELETED:
      return "volume-deleted";
    case KEEL_EVENT_VOLUME_ATTACHED:
      return "volume-attached";
    case KEEL_EVENT_VOLUME_DETACHED:
      return "volume-detached";
    case KEEL_EVENT_IO_ERROR:
      return "io-error";
    default:
      return "event-" + std::to_string(type);
  }
}

}  // namespace keel
