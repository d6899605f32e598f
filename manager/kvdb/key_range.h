// The key range of a prefix, as etcd computes it for "--prefix": every key k
// with prefix <= k < PrefixEnd(prefix).
#pragma once

#include <string>

namespace keel {

// The first key after every key starting with `prefix`: the prefix with its
// last byte below 0xff incremented.  Empty means "no upper bound" (for ""
// or a prefix of only 0xff bytes); etcd spells that range_end "\0".
inline std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace keel
