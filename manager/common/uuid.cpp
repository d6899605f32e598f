#include "manager/common/uuid.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace keel {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDashPosition(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

Status Invalid(std::string_view text, const std::string& why) {
  return Status::Error(EINVAL, "invalid UUID '" + std::string(text) + "': " + why +
                                   " (expected 8-4-4-4-12 hex digits, e.g. "
                                   "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b)");
}

}  // namespace

Result<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != 36) {
    return Invalid(text, "it has " + std::to_string(text.size()) + " characters, not 36");
  }
  Bytes bytes{};
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsDashPosition(i)) {
      if (text[i] != '-') return Invalid(text, "expected '-' at position " + std::to_string(i + 1));
      continue;
    }
    int v = HexValue(text[i]);
    if (v < 0) {
      return Invalid(text, "'" + std::string(1, text[i]) + "' at position " +
                               std::to_string(i + 1) + " is not a hex digit");
    }
    bytes[nibble / 2] = static_cast<uint8_t>(bytes[nibble / 2] << 4 | v);
    ++nibble;
  }
  return Uuid(bytes);
}

Result<Uuid> Uuid::Random() {
  Bytes bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      return Status::Error(err,
                           std::string("cannot get random bytes for a UUID: ") + strerror(err));
    }
    got += static_cast<size_t>(n);
  }
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return Uuid(bytes);
}

std::string Uuid::ToString() const {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes_[i] >> 4];
    out += kHex[bytes_[i] & 0xf];
  }
  return out;
}

bool Uuid::IsNil() const {
  for (uint8_t b : bytes_)
    if (b != 0) return false;
  return true;
}

}  // namespace keel
