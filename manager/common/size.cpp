#include "manager/common/size.h"

#include <cerrno>
#include <cstdio>
#include <string>

namespace keel {

namespace {

__extension__ typedef unsigned __int128 U128;

int ShiftFor(char unit) {
  switch (unit) {
    case 'B':
      return 0;
    case 'K':
    case 'k':
      return 10;
    case 'M':
    case 'm':
      return 20;
    case 'G':
    case 'g':
      return 30;
    case 'T':
    case 't':
      return 40;
    case 'P':
    case 'p':
      return 50;
    case 'E':
    case 'e':
      return 60;
    default:
      return -1;
  }
}

Status Invalid(std::string_view text, const std::string& why) {
  return Status::Error(EINVAL, "invalid size '" + std::string(text) + "': " + why +
                                   " (examples: 4096, 512M, 10G, 1.5T)");
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  size_t i = 0;
  uint64_t whole = 0;
  bool digits = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    uint64_t d = text[i] - '0';
    if (whole > (UINT64_MAX - d) / 10) return Invalid(text, "too large");
    whole = whole * 10 + d;
    digits = true;
    ++i;
  }
  // Fraction digits, kept as numerator/denominator to stay exact.
  uint64_t frac = 0, denom = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (denom >= 1000000000000ULL) return Invalid(text, "too many decimals");
      frac = frac * 10 + (text[i] - '0');
      denom *= 10;
      digits = true;
      ++i;
    }
  }
  if (!digits) return Invalid(text, "expected a number");

  int shift = 0;
  std::string_view rest = text.substr(i);
  if (!rest.empty()) {
    shift = ShiftFor(rest[0]);
    if (shift < 0) return Invalid(text, "unknown unit '" + std::string(rest) + "'");
    std::string_view tail = rest.substr(1);
    if (shift == 0 && !tail.empty())
      return Invalid(text, "unknown unit '" + std::string(rest) + "'");
    if (!(tail.empty() || tail == "B" || tail == "i" || tail == "iB"))
      return Invalid(text, "unknown unit '" + std::string(rest) + "'");
  }

  if (shift > 0 && whole > (UINT64_MAX >> shift)) return Invalid(text, "too large");
  uint64_t bytes = whole << shift;
  if (frac != 0) {
    if (shift == 0) return Invalid(text, "a byte count must be whole");
    // frac/denom of a unit: exact only if it divides evenly.
    U128 part = static_cast<U128>(frac) << shift;
    if (part % denom != 0) return Invalid(text, "not a whole number of bytes");
    U128 total = static_cast<U128>(bytes) + part / denom;
    if (total > UINT64_MAX) return Invalid(text, "too large");
    bytes = static_cast<uint64_t>(total);
  }
  return bytes;
}

std::string FormatSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (unit < 6 && bytes >= (1ULL << (10 * (unit + 1)))) ++unit;
  if (unit == 0) return std::to_string(bytes) + " B";
  uint64_t base = 1ULL << (10 * unit);
  uint64_t whole = bytes / base;
  // Tenths, rounded to nearest.
  uint64_t tenths = ((bytes % base) * 10 + base / 2) / base;
  if (tenths == 10) {
    ++whole;
    tenths = 0;
  }
  std::string out = std::to_string(whole);
  if (tenths) out += "." + std::to_string(tenths);
  return out + " " + kUnits[unit];
}

}  // namespace keel
