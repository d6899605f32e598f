// Standard base64 (RFC 4648, "+/" alphabet, "=" padding): etcd's JSON
// gateway carries keys and values as base64 strings.
#pragma once

#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel {

std::string Base64Encode(std::string_view bytes);
// Strict: only the standard alphabet, length a multiple of 4, padding only
// at the end, zero unused bits.  EINVAL with the offending position
// otherwise.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace keel
