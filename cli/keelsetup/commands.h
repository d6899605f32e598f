// The subcommands of keelsetup, above the KernelClient and
// KernelEventSource interfaces so that commands_test.cpp can run them
// against fakes.  Each returns the exit status: 0 success, 1 the module or
// the system refused, 2 usage error.  Results go to `out` (JSON with
// --json), errors to `err` (and, with --json, also to `out` as
// {"error": {...}}).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "manager/common/status.h"
#include "manager/kernel/kernel_client.h"

namespace keel {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

struct Output {
  std::ostream& out;
  std::ostream& err;
  bool json = false;
};

// Reports `s` and returns `exit_code`.
int Fail(const Output& o, const Status& s, int exit_code = kExitRefused);

// keelsetup create, as typed.
struct CreateArgs {
  std::string backing;
  std::string size;
  std::string uuid = "random";
  uint32_t block_size = 0;  // 0: the module's default
  std::optional<uint32_t> id;
  bool force_format = false;
  bool create_backing = false;
  bool diskless = false;    // no --backing then
  std::string granularity;  // "" = the module's default; "64K", "1M"
};

// keelsetup set, as typed; empty strings and nullopt leave a setting alone.
struct SetArgs {
  std::optional<uint64_t> epoch;
  std::string secret_file;  // the file's bytes, exactly, are the secret
  std::string secret_hex;
  std::string freeze_policy;  // hold | fail
  std::optional<uint32_t> freeze_timeout_ms;
  std::optional<uint32_t> peer_timeout_ms;
  std::string resync_rate;  // "50M", "1G/s", "0" = unlimited
  std::string digest;       // on | off
};

// Hex digits (either case, an optional "0x" prefix, whitespace ignored) as
// bytes.  Errors never quote the input: it is a secret.
Result<std::vector<uint8_t>> ParseHexSecret(const std::string& hex);
// Reads the secret from a file: all of its bytes, as they are.
Result<std::vector<uint8_t>> ReadSecretFile(const std::string& path);
// Checks and converts `args`; usage errors are EINVAL.
Result<SetVolumeRequest> ParseSetArgs(const SetArgs& args);

// Checks and converts `args` (usage errors are EINVAL); a relative backing
// path is made absolute against `cwd`, as the module needs.
Result<CreateVolumeRequest> ParseCreateArgs(const CreateArgs& args, const std::string& cwd);

int RunInfo(KernelClient& k, const Output& o);
// With `create_backing`, creates the backing file (mode 0600) if it does not
// exist, and removes it again if the module refuses the volume.
int RunCreate(KernelClient& k, const CreateVolumeRequest& req, bool create_backing,
              const Output& o);
int RunDelete(KernelClient& k, uint32_t id, bool force, const Output& o);
int RunAttach(KernelClient& k, uint32_t id, const Output& o);
int RunDetach(KernelClient& k, uint32_t id, bool force, const Output& o);
int RunStatus(KernelClient& k, std::optional<uint32_t> id, const Output& o);
int RunStats(KernelClient& k, uint32_t id, const Output& o);
int RunSet(KernelClient& k, uint32_t id, const SetVolumeRequest& req, const Output& o);
int RunListen(KernelClient& k, uint32_t id, const std::string& addr, uint16_t port,
              const Output& o);
int RunUnlisten(KernelClient& k, uint32_t id, const Output& o);
int RunPeerAdd(KernelClient& k, uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
               const std::string& name, PeerSync sync, const Output& o);
int RunPeerRemove(KernelClient& k, uint32_t id, uint32_t slot, const Output& o);
int RunOutdate(KernelClient& k, uint32_t id, uint32_t slot, uint64_t epoch, const Output& o);

struct EventsArgs {
  std::optional<uint64_t> count;                     // stop after this many events
  std::optional<std::chrono::milliseconds> timeout;  // stop after this long
};
// Prints one line per event.  Exit status 0 when `count` events arrived or
// the timeout passed without a count; 1 when the timeout passed first.
int RunEvents(KernelEventSource& events, const EventsArgs& args, const Output& o);

}  // namespace keel
