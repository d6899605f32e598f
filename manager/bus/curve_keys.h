// CURVE keypairs for the bus: each node has one, kept in a file that only
// root can read; the public half is what the cluster registers.
#pragma once

#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel::bus {

// Z85 text of a 32-byte CURVE key: 40 characters.
inline constexpr size_t kZ85KeyLength = 40;

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// True if `key` is 40 characters of the Z85 alphabet (decodes to 32 bytes).
bool IsZ85Key(std::string_view key);

// A fresh keypair from libzmq (libsodium's randomness).
Result<CurveKeyPair> GenerateCurveKeyPair();

// The public key that belongs to a Z85 secret key.
Result<std::string> CurvePublicKey(std::string_view secret_key);

// Reads the secret key file at `path` (one line: the Z85 secret key) and
// derives the public key.  Refuses (EACCES) a file that group or others
// may read or write, and anything that is not a regular file; EINVAL for
// content that is not one Z85 key; ENOENT if absent.
Result<CurveKeyPair> LoadCurveKeyPair(const std::string& path);

// Loads the key at `path`, or, if there is none, generates one and writes
// it there with mode 0600, atomically: a temp file in the same directory,
// fsync, then link() to the final name, which fails if another process
// made the key first (then that key is loaded).  The directory must exist.
Result<CurveKeyPair> LoadOrCreateCurveKeyPair(const std::string& path);

}  // namespace keel::bus
