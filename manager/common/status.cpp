#include "manager/common/status.h"

#include <cstring>

namespace keel {

std::string Status::ToString() const {
  if (ok()) return "ok";
  const char* name = strerrorname_np(code_);
  return message_ + " (" + (name ? name : std::to_string(code_)) + ")";
}

}  // namespace keel
