#include "manager/bus/bus.h"

namespace keel::bus {

uint64_t BusStats::DroppedTotal() const {
  uint64_t total = 0;
  for (uint64_t n : dropped) total += n;
  return total;
}

Json BusStats::ToJson() const {
  Json drops = Json::object();
  for (size_t i = 0; i < kDropReasonCount; i++) {
    drops[DropReasonName(static_cast<DropReason>(i))] = dropped[i];
  }
  return Json{{"requests_sent", requests_sent},
              {"retries", retries},
              {"timeouts", timeouts},
              {"replies_received", replies_received},
              {"requests_served", requests_served},
              {"notifies_sent", notifies_sent},
              {"notifies_received", notifies_received},
              {"send_failures", send_failures},
              {"handshake_failures", handshake_failures},
              {"dropped", drops}};
}

}  // namespace keel::bus
