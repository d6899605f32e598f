// keelctl's commands above the ApiClient interface, so that commands_test.cpp
// runs them against scripted replies.  Each returns the exit status
// (docs/keelctl.md): results go to Output::out (text, JSON with -o json,
// the bare minimum with -q), errors to Output::err (and, with -o json, also
// to out as {"error": {...}}).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/api/api_client.h"
#include "manager/common/status.h"

namespace keel {

// Exit status; the table is in docs/keelctl.md and in `keelctl --help`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // keeld, keel.ko or the system refused or failed
inline constexpr int kExitUsage = 2;        // the command line (or a value in it) is wrong
inline constexpr int kExitNotFound = 3;     // no such volume or node
inline constexpr int kExitUnreachable = 4;  // keeld is not running or did not reply
inline constexpr int kExitPermission = 5;   // not allowed: run as root
inline constexpr int kExitBusy = 6;    // the volume is in use, or an operation on it is pending
inline constexpr int kExitExists = 7;  // a volume of that name exists

enum class Format { kText, kJson };

struct Output {
  std::ostream& out;
  std::ostream& err;
  Format format = Format::kText;
  bool quiet = false;
  bool color = false;  // colour states (text on a terminal, NO_COLOR unset)
};

// What keelctl reports when a command fails.
struct CliError {
  int exit_code = kExitError;
  std::string code;     // keeld's error code, or keelctl's own (docs/keelctl.md)
  std::string message;  // what went wrong
  std::string hint;     // what to do about it; may be empty
  std::string errno_name;
};

// Prints `e` ("keelctl: message" and "hint: ..." on err; with -o json also
// {"error": {...}} on out) and returns its exit code.
int Report(const Output& o, const CliError& e);
CliError UsageError(const std::string& message);
// A Call that got no usable reply (see ApiClient::Call for the errnos).
CliError TransportError(const Status& s);
// keeld's {"code","message","errno"} for `command` ("volume.detach") on
// `name` (the volume, or the node of node.cordon/uncordon/drain; "" when
// none), with a hint for what to do.
CliError ApiErrorToCli(const nlohmann::json& error, const std::string& command,
                       const std::string& name);
// The exit status for one of keeld's error codes.
int ExitCodeForApiCode(const std::string& code);

// keelctl volume create, as typed.
struct CreateArgs {
  std::string name;
  std::string size;
  uint32_t block_size = 4096;
  std::vector<std::string> labels;  // "key=value"
  int replicas = 1;
  bool zone_spread = false;  // sent only when set
};
// Checks `a` and builds volume.create's args (the size in bytes; replicas
// only when not 1); a CliError with kExitUsage otherwise.  `ok` says which
// of the two is set.
struct CreateRequest {
  bool ok = false;
  nlohmann::json args;
  CliError error;
};
CreateRequest BuildCreateRequest(const CreateArgs& a);

// How `volume delete` may ask: only when `interactive` (stdin is a
// terminal) it prompts on Output::err and reads the answer from `in`.
struct Confirm {
  bool interactive = false;
  std::istream* in = nullptr;
};

// How the --wait and --watch loops pass time, so that tests step it
// without sleeping.
struct Ticker {
  std::function<int64_t()> now_ms;  // a monotonic clock
  std::function<void(int64_t ms)> sleep_ms;
};
// The steady clock and a real sleep.
Ticker RealTicker();
// They ask keeld once a second.
inline constexpr int64_t kPollMs = 1000;

// --wait (volume attach, node drain) and --watch (volume inspect).
struct Wait {
  bool on = false;
  double timeout_s = 0;  // --timeout: give up after so many seconds; 0 is no limit
  bool tty = false;      // the progress goes to a terminal: redraw it in place
  Ticker ticker = RealTicker();
};

int RunVolumeCreate(ApiClient& api, const CreateArgs& a, const Output& o);
int RunVolumeList(ApiClient& api, const Output& o);
// node.info says whether keeld is in cluster mode (kvdb "etcd").  Single-node:
// volume.inspect's view.  Cluster mode: volume.status's view, then this node's
// replica from volume.inspect when it has one; with `watch.on`, volume.status
// again every second (redrawn on a terminal, a line per replica and change
// otherwise) until every replica is in sync.  The progress goes to out.
int RunVolumeInspect(ApiClient& api, const std::string& name, const Wait& watch, const Output& o);
// `node` ("" for keeld's own node) is where the disk appears.  With `wait.on`,
// then polls volume.status until every replica is in sync (progress on err;
// exit 1, code "wait_timeout", past wait.timeout_s).
int RunVolumeAttach(ApiClient& api, const std::string& name, const std::string& node,
                    const Wait& wait, const Output& o);
int RunVolumeDetach(ApiClient& api, const std::string& name, bool force, const Output& o);
// Without `yes`: asks when interactive, refuses (kExitUsage) otherwise.
int RunVolumeDelete(ApiClient& api, const std::string& name, bool force, bool yes,
                    const Confirm& confirm, const Output& o);
int RunNodeInspect(ApiClient& api, const Output& o);
// The cluster commands; `now_ms` (Unix ms) is for "SINCE" and "ago".  In
// single-node mode keeld refuses them: exit 1, code "not_in_cluster".
int RunNodeList(ApiClient& api, const Output& o, int64_t now_ms);
// Node `name` from node.list; kExitNotFound when it is not there.
int RunClusterNodeInspect(ApiClient& api, const std::string& name, const Output& o, int64_t now_ms);
int RunClusterStatus(ApiClient& api, const Output& o, int64_t now_ms);
// node.cordon (`cordon`) or node.uncordon for node `name`.
int RunNodeCordon(ApiClient& api, const std::string& name, bool cordon, const Output& o);
// node.maintenance {name, on}: the node's state becomes (or stops being)
// maintenance; prints what that means (-o json: keeld's reply).
int RunNodeMaintenance(ApiClient& api, const std::string& name, bool on, const Output& o);
// node.drain; with `wait.on` sent again every second until the node holds
// no replicas (the count on err when it changes; exit 1, code "wait_timeout",
// past wait.timeout_s).
int RunNodeDrain(ApiClient& api, const std::string& name, const Wait& wait, const Output& o);
// cluster rebalance: cluster.rebalance's plan (and, unless dry_run, its
// moves started); with `wait.on`, then volume.status of each moved volume
// (this plan's and those still in progress from earlier ones) every second
// until its replica left the old node and every replica is in sync (the count on err when it
// changes; exit 1, "wait_timeout", past wait.timeout_s).
struct RebalanceArgs {
  bool dry_run = false;
  double threshold_pct = 10;
  int max_moves = 8;
};
int RunClusterRebalance(ApiClient& api, const RebalanceArgs& a, const Wait& wait, const Output& o);
// keelctl's own version always; keeld's and keel.ko's from node.info when
// keeld answers (the exit status is the error's when it does not).
int RunVersion(ApiClient& api, const Output& o);

}  // namespace keel
