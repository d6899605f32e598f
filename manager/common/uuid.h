// Uuid: the 16-byte identity of a volume (KEEL_UUID_LEN on the wire and on
// disk), written as "8-4-4-4-12" hex digits ("6f1c...-...").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel {

class Uuid {
 public:
  static constexpr size_t kSize = 16;
  using Bytes = std::array<uint8_t, kSize>;

  Uuid() = default;  // the nil UUID, all zeros
  explicit Uuid(const Bytes& bytes) : bytes_(bytes) {}

  // Parses the canonical text form, case-insensitive: 36 characters, hex
  // digits with dashes after the 8th, 12th, 16th and 20th digit.
  static Result<Uuid> Parse(std::string_view text);
  // A random (version 4, RFC 4122 variant) UUID from the kernel's CSPRNG.
  static Result<Uuid> Random();

  // Lowercase canonical form, "00000000-0000-0000-0000-000000000000".
  std::string ToString() const;
  bool IsNil() const;
  const Bytes& bytes() const { return bytes_; }

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  Bytes bytes_{};
};

}  // namespace keel
