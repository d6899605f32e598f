// User-space backing for keel_pure.h: the kernel's crc32c() semantics (no
// final inversion) on top of manager/common's CRC-32C.  Only the unit tests
// of kmod's pure-logic files link this; the module never sees it.
#include "manager/common/crc32c.h"

extern "C" {
#include "keel_pure.h"
}

extern "C" u32 crc32c(u32 crc, const void* data, unsigned int len) {
  return ~keel::Crc32cExtend(~crc, data, len);
}
