// libFuzzer target: the cluster's records as read from etcd
// (manager/cluster/records.h).  Any bytes give a record or a precise error
// — never a crash, a hang, a leak or undefined behaviour.  A record that is
// accepted is written back byte-for-byte the same way every time (what is
// parsed from our own output serializes to the same text), so a
// read-modify-write by keeld never changes what it did not mean to change.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "manager/cluster/records.h"

namespace {

template <typename Parse, typename Print>
void RoundTrip(std::string_view text, Parse parse, Print print) {
  auto r = parse(text);
  if (!r.ok()) {
    if (r.status().message().empty()) abort();
    return;
  }
  std::string once = print(*r);
  auto back = parse(once);
  if (!back.ok()) abort();
  if (print(*back) != once) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  RoundTrip(text, keel::cluster::NodeRecordFromJson, keel::cluster::NodeRecordToJson);
  RoundTrip(text, keel::cluster::VolumeRecordFromJson, keel::cluster::VolumeRecordToJson);
  return 0;
}
