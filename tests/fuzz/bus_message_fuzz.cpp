// libFuzzer target: the bus's envelope parser (manager/bus/message.h) must
// turn any bytes into a Message or a drop reason — never a crash, a hang, a
// leak or undefined behaviour (built with ASan and UBSan).  What it accepts
// must survive a round trip: serialized again and parsed again, it is the
// same message, because a receiver checks exactly what a sender checks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "manager/bus/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::bus::DropReason;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DropReason reason = DropReason::kBadJson;
  auto m = keel::bus::ParseMessage(text, &reason, 4096);
  if (!m.ok()) {
    if (m.status().message().empty()) abort();
    if (keel::bus::DropReasonName(reason)[0] == '\0') abort();
    return 0;
  }
  auto again = keel::bus::SerializeMessage(*m, 1 << 20);
  if (!again.ok()) abort();
  auto back = keel::bus::ParseMessage(*again, nullptr, 1 << 20);
  if (!back.ok()) abort();
  if (back->id != m->id || back->type != m->type || back->from != m->from ||
      back->method != m->method || back->body != m->body || back->error_code != m->error_code ||
      back->error_message != m->error_message) {
    abort();
  }
  return 0;
}
