// keelsetup: the low-level tool that speaks netlink to keel.ko directly, for
// tests and operators (as drbdsetup is to DRBD).  keeld is the normal way to
// drive the module; keelsetup changes nothing keeld would not know about
// except when you ask it to.
//
// Exit status: 0 success, 1 the module or the system refused, 2 usage error.
#include <linux/keel.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <climits>
#include <iostream>
#include <string>

#include "cli/keelsetup/commands.h"
#include "manager/kernel/netlink_client.h"

namespace keel {
namespace {

// The options of every subcommand; CLI11 fills them in.
struct Args {
  bool json = false;
  bool force = false;
  uint32_t id = 0;
  CreateArgs create;
  uint32_t create_id = 0;
  uint64_t count = 0;
  double timeout_seconds = 0;
  SetArgs set;
  uint64_t epoch = 0;
  uint32_t freeze_timeout_ms = 0;
  uint32_t peer_timeout_ms = 0;
  std::string addr;
  uint16_t port = 0;
  uint32_t slot = 0;
  std::string name;
  bool full_sync = false;
  bool pull = false;
};

CLI::App* AddSub(CLI::App& app, const char* name, const char* what, const char* help, Args& args) {
  CLI::App* sub = app.add_subcommand(name, what);
  sub->add_flag("--json", args.json, "Print JSON instead of text");
  sub->footer(help);
  return sub;
}

void AddSlot(CLI::App* sub, Args& args) {
  sub->add_option("--slot", args.slot,
                  "Peer slot (0-" + std::to_string(KEEL_META_MAX_PEERS - 1) +
                      "): which of the volume's dirty bitmaps tracks this peer")
      ->required()
      ->check(CLI::Range(0, KEEL_META_MAX_PEERS - 1));
}

void AddEndpoint(CLI::App* sub, Args& args, const char* addr_help) {
  sub->add_option("--addr", args.addr, addr_help)->required();
  sub->add_option("--port", args.port, "TCP port (1-65535)")
      ->required()
      ->check(CLI::Range(1, 65535));
}

void AddId(CLI::App* sub, Args& args) {
  sub->add_option("ID", args.id, "Volume id (0-" + std::to_string(KEEL_MAX_VOLUMES - 1) + ")")
      ->required()
      ->check(CLI::Range(0, KEEL_MAX_VOLUMES - 1));
}

std::string CurrentDir() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof(buf)) ? buf : "/";
}

}  // namespace
}  // namespace keel

int main(int argc, char** argv) {
  using namespace keel;
  CLI::App app{
      "keelsetup - talk to the keel kernel module (keel.ko) directly over generic netlink.\n"
      "Low-level tool for tests and operators; keeld and keelctl are the normal interface.\n"
      "Needs root (CAP_SYS_ADMIN) and the module loaded (modprobe keel).",
      "keelsetup"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("keelsetup ") + KEEL_VERSION);
  app.footer(
      "Examples:\n"
      "  keelsetup info                                   module version, API and features\n"
      "  keelsetup create --backing /var/lib/keel/v0.img --size 1G --create-backing\n"
      "  keelsetup attach 0                               prints /dev/keel0\n"
      "  keelsetup status                                 every volume, as a table\n"
      "  keelsetup stats 0                                IO counters and latency\n"
      "  keelsetup events --count 1 --timeout 10          wait for one event\n"
      "  keelsetup detach 0 && keelsetup delete 0\n"
      "Replication (node B holds a replica, node A is attached):\n"
      "  B: keelsetup create --id 0 --uuid U --size 1G --backing /pool/v0.img\n"
      "  B: keelsetup set 0 --secret-file /etc/keel/secret --epoch 1\n"
      "  B: keelsetup listen 0 --addr 10.214.0.2 --port 7800\n"
      "  A: keelsetup create --id 0 --uuid U --size 1G --backing /pool/v0.img (or --diskless)\n"
      "  A: keelsetup set 0 --secret-file /etc/keel/secret --epoch 1 && keelsetup attach 0\n"
      "  A: keelsetup peer-add 0 --slot 1 --addr 10.214.0.2 --port 7800 --name node-b\n"
      "  A: keelsetup status 0                      peers, their state and resync progress\n"
      "Every subcommand takes --json.\n"
      "\nExit status: 0 success, 1 the module or system refused, 2 usage error.");

  Args args;
  auto* info = AddSub(app, "info", "Show the loaded module's version, API and features",
                      "Prints the version and netlink API version of the loaded keel.ko, the\n"
                      "features it supports, the kernel it runs in, how many volumes exist and\n"
                      "how many kernel objects are live.\n"
                      "Example: keelsetup info --json",
                      args);

  auto* create =
      AddSub(app, "create", "Create a volume on a backing file or block device",
             "Opens the backing store: fresh (all-zero) metadata is formatted, metadata of the\n"
             "same UUID is re-opened with its data, anything else is refused unless\n"
             "--force-format.  The volume has no disk until 'keelsetup attach'.  Prints the\n"
             "new volume's status.\n"
             "Example: keelsetup create --backing /var/lib/keel/v0.img --size 10G --create-backing",
             args);
  create->add_option("--backing", args.create.backing,
                     "Backing file or block device (required unless --diskless)");
  create->add_option("--size", args.create.size, "Volume size: 4096, 512M, 10G, 1.5T")->required();
  create
      ->add_option("--uuid", args.create.uuid,
                   "Volume UUID (8-4-4-4-12 hex), or 'random' (the default)")
      ->capture_default_str();
  create->add_option("--block-size", args.create.block_size, "Logical block size (default 512)")
      ->check(CLI::IsMember({512, 4096}));
  auto* create_id = create
                        ->add_option("--id", args.create_id,
                                     "Volume id, /dev/keel<id> (default: the lowest free)")
                        ->check(CLI::Range(0, KEEL_MAX_VOLUMES - 1));
  create->add_flag("--force-format", args.create.force_format,
                   "Format over metadata of another volume or foreign data (destroys it)");
  create->add_flag("--create-backing", args.create.create_backing,
                   "Create the backing file (mode 0600) if it does not exist; an existing\n"
                   "file is never truncated");
  create->add_flag("--diskless", args.create.diskless,
                   "No local replica (no --backing): every read and write goes to the\n"
                   "peers added with peer-add");
  create->add_option("--granularity", args.create.granularity,
                     "Bytes per dirty-bitmap bit: a power of two, 4K-16M (default 64K);\n"
                     "set when the metadata is formatted");

  auto* del = AddSub(app, "delete", "Delete a volume (its backing store is kept)",
                     "Closes the volume and marks its metadata clean; the backing store and\n"
                     "its data stay, and 'create' with the same UUID re-opens them.\n"
                     "Example: keelsetup delete 3 --force",
                     args);
  AddId(del, args);
  del->add_flag("--force", args.force, "Detach the volume's disk first if it is attached");

  auto* attach = AddSub(app, "attach", "Create the volume's disk /dev/keel<ID>",
                        "Creates the block device and prints its path (--json: the status).\n"
                        "Example: keelsetup attach 3",
                        args);
  AddId(attach, args);

  auto* detach = AddSub(app, "detach", "Remove the volume's disk",
                        "Removes /dev/keel<ID> after in-flight IO drains; refused while the\n"
                        "disk is open (mounted or held) unless --force.\n"
                        "Example: keelsetup detach 3",
                        args);
  AddId(detach, args);
  detach->add_flag("--force", args.force, "Detach even if the disk is open (its IO fails)");

  auto* status = AddSub(app, "status", "Show one volume, or every volume as a table",
                        "Without ID: a table of every volume (--json: an array).  With ID: that\n"
                        "volume in full (--json: an object with every field and its stats).\n"
                        "With replication, also the settings, one row per peer and the replica\n"
                        "target.  JSON fields (docs/netlink.md has them all):\n"
                        "  freeze_policy, freeze_timeout_ms, peer_timeout_ms, resync_rate,\n"
                        "  data_digest, granularity (null when not reported);\n"
                        "  peers[]: slot, name, addr, port, state (connecting, in-sync, syncing,\n"
                        "    lost, outdated), state_code, in_sync, connected, sync_percent,\n"
                        "    dirty_bytes, bytes_sent, bytes_acked, resync_bytes, resync_rate,\n"
                        "    epoch, error, error_name, message, connects;\n"
                        "  target (null unless listening): addr, port, connected, accepted,\n"
                        "    refused, error, error_name, message, bytes_written.\n"
                        "The secret is never shown.\n"
                        "Example: keelsetup status 3 --json",
                        args);
  auto* status_id =
      status->add_option("ID", args.id, "Volume id")->check(CLI::Range(0, KEEL_MAX_VOLUMES - 1));

  auto* stats = AddSub(app, "stats", "Show a volume's IO counters and latency histogram",
                       "Counters since the volume was created, the non-empty latency buckets\n"
                       "and p50/p99 estimated from them.\n"
                       "Example: keelsetup stats 3 --json",
                       args);
  AddId(stats, args);

  auto* events = AddSub(app, "events", "Print the module's events as they happen",
                        "One line per event (--json: one JSON object per line: type, type_code,\n"
                        "volume_id, uuid, error, error_name, sector, peer_slot, sync_percent,\n"
                        "epoch, message; null when the event has none).  Stops after\n"
                        "--count events or --timeout seconds; exit status 1 if the timeout\n"
                        "comes before --count events.  'listening' on stderr says when it is\n"
                        "subscribed.\n"
                        "Example: keelsetup events --count 2 --timeout 30 --json",
                        args);
  auto* count =
      events->add_option("--count", args.count, "Stop after N events")->check(CLI::PositiveNumber);
  auto* timeout = events->add_option("--timeout", args.timeout_seconds, "Stop after SECONDS")
                      ->check(CLI::NonNegativeNumber);

  auto* set =
      AddSub(app, "set", "Change a volume's replication settings",
             "Sends only the options given; the others keep their values.  Prints the volume's\n"
             "status (never the secret: the module does not report it).\n"
             "  --epoch: the volume's generation; never lowered, persisted in the metadata.  A\n"
             "    replica target refuses initiators with a lower epoch (fencing).\n"
             "  --secret-file / --secret-hex: the cluster secret of the HMAC-SHA256 handshake,\n"
             "    16-64 bytes.  The file's bytes are used exactly as they are (a trailing newline\n"
             "    is part of the secret); prefer it to --secret-hex, which other users can see in\n"
             "    the process list.  Example: head -c 32 /dev/urandom > /etc/keel/secret\n"
             "  --freeze-policy: what writes do while a lost in-sync peer awaits 'outdate':\n"
             "    hold (wait, the default) or fail (fail with EIO after --freeze-timeout).\n"
             "  --peer-timeout: a peer that does not ack or answer keepalives for this long is\n"
             "    dropped.\n"
             "  --resync-rate: bytes per second for resync, 50M, 1G (or 1G/s); 0 = unlimited.\n"
             "  --digest on|off: crc32c of every data payload on the wire.\n"
             "Example: keelsetup set 3 --epoch 4 --secret-file /etc/keel/secret --resync-rate 50M",
             args);
  AddId(set, args);
  auto* set_epoch = set->add_option("--epoch", args.epoch, "Volume epoch (never lowered)");
  set->add_option("--secret-file", args.set.secret_file, "File holding the cluster secret");
  set->add_option("--secret-hex", args.set.secret_hex, "The cluster secret as hex digits");
  set->add_option("--freeze-policy", args.set.freeze_policy, "hold or fail")
      ->check(CLI::IsMember({"hold", "fail"}));
  auto* set_freeze_timeout =
      set->add_option("--freeze-timeout", args.freeze_timeout_ms,
                      "Milliseconds before frozen writes fail (fail policy), 100-3600000");
  auto* set_peer_timeout = set->add_option("--peer-timeout", args.peer_timeout_ms,
                                           "Milliseconds without an ack or keepalive, 500-600000");
  set->add_option("--resync-rate", args.set.resync_rate, "Resync bytes/s: 50M, 1G; 0 = unlimited");
  set->add_option("--digest", args.set.digest, "on or off: crc32c data digests")
      ->check(CLI::IsMember({"on", "off"}));

  auto* listen =
      AddSub(app, "listen", "Run the volume's replica target on an address and port",
             "This node holds a replica; the attached node connects here (its peer-add).  The\n"
             "listener lives in the caller's network namespace.  Needs a secret (set).\n"
             "Example: keelsetup listen 3 --addr 10.214.0.2 --port 7800",
             args);
  AddId(listen, args);
  AddEndpoint(listen, args, "Local IPv4 or IPv6 address to listen on (0.0.0.0 or :: for any)");

  auto* unlisten = AddSub(app, "unlisten", "Stop the volume's replica target",
                          "Closes the listener and the attached node's connection, if any.\n"
                          "Example: keelsetup unlisten 3",
                          args);
  AddId(unlisten, args);

  auto* peer_add =
      AddSub(app, "peer-add", "Replicate the volume to the replica target of another node",
             "Connects (from the caller's network namespace) to the replica target at ADDR:PORT\n"
             "and keeps reconnecting.  The peer is in sync once connected unless its slot's\n"
             "dirty bitmap marks regions (those are resynced) or --full-sync copies everything\n"
             "(a new replica).  --pull is the other direction: this node's replica is the stale\n"
             "one and the peer is in sync; everything is copied from it in the background and\n"
             "reads of regions not copied yet are served by it.  Needs a secret (set).\n"
             "Example: keelsetup peer-add 3 --slot 1 --addr 10.214.0.2 --port 7800 --name node-b",
             args);
  AddId(peer_add, args);
  AddSlot(peer_add, args);
  AddEndpoint(peer_add, args, "The replica target's IPv4 or IPv6 address");
  peer_add->add_option("--name", args.name, "The peer's node name, for messages (max 64 bytes)");
  peer_add->add_flag("--full-sync", args.full_sync,
                     "Copy the whole volume to it (a new replica); default: only what its\n"
                     "dirty bitmap marks");
  peer_add
      ->add_flag("--pull", args.pull,
                 "Copy the whole volume from it: our replica is stale, the peer is in sync")
      ->excludes("--full-sync");

  auto* peer_remove = AddSub(app, "peer-remove", "Forget a peer and its dirty bitmap",
                             "Closes the connection; writes no longer go to it.\n"
                             "Example: keelsetup peer-remove 3 --slot 1",
                             args);
  AddId(peer_remove, args);
  AddSlot(peer_remove, args);

  auto* outdate =
      AddSub(app, "outdate", "Mark a lost peer out of sync so frozen writes go on",
             "The answer to a peer-lost event, once the cluster state records the peer as out\n"
             "of sync under EPOCH (greater than the volume's current epoch): the peer leaves the\n"
             "in-sync set, its bitmap tracks what it misses, and frozen writes complete.\n"
             "Example: keelsetup outdate 3 --slot 1 --epoch 5",
             args);
  AddId(outdate, args);
  AddSlot(outdate, args);
  outdate->add_option("--epoch", args.epoch, "The new epoch")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  Output o{std::cout, std::cerr, args.json};
  if (events->parsed()) {
    auto listener = NetlinkEventListener::Connect();
    if (!listener.ok()) return Fail(o, listener.status());
    EventsArgs ea;
    if (count->count()) ea.count = args.count;
    if (timeout->count())
      ea.timeout = std::chrono::milliseconds(static_cast<int64_t>(args.timeout_seconds * 1000));
    return RunEvents(**listener, ea, o);
  }

  std::optional<CreateVolumeRequest> request;
  if (create->parsed()) {
    if (create_id->count()) args.create.id = args.create_id;
    auto req = ParseCreateArgs(args.create, CurrentDir());
    if (!req.ok()) return Fail(o, req.status(), kExitUsage);
    request = *req;
  }

  std::optional<SetVolumeRequest> set_request;
  if (set->parsed()) {
    if (set_epoch->count()) args.set.epoch = args.epoch;
    if (set_freeze_timeout->count()) args.set.freeze_timeout_ms = args.freeze_timeout_ms;
    if (set_peer_timeout->count()) args.set.peer_timeout_ms = args.peer_timeout_ms;
    auto req = ParseSetArgs(args.set);
    if (!req.ok()) return Fail(o, req.status(), kExitUsage);
    set_request = std::move(req).value();
  }
  if (listen->parsed() || peer_add->parsed()) {
    auto a = ParseAddress(args.addr);
    if (!a.ok()) return Fail(o, a.status(), kExitUsage);
  }
  if (peer_add->parsed() && args.name.size() >= KEEL_STRING_MAX) {
    return Fail(o,
                Status::Error(EINVAL, "--name is longer than " +
                                          std::to_string(KEEL_STRING_MAX - 1) + " bytes"),
                kExitUsage);
  }

  auto client = NetlinkKernelClient::Connect();
  if (!client.ok()) return Fail(o, client.status());
  KernelClient& k = **client;
  if (info->parsed()) return RunInfo(k, o);
  if (create->parsed()) return RunCreate(k, *request, args.create.create_backing, o);
  if (del->parsed()) return RunDelete(k, args.id, args.force, o);
  if (attach->parsed()) return RunAttach(k, args.id, o);
  if (detach->parsed()) return RunDetach(k, args.id, args.force, o);
  if (status->parsed()) {
    return RunStatus(k, status_id->count() ? std::optional<uint32_t>(args.id) : std::nullopt, o);
  }
  if (stats->parsed()) return RunStats(k, args.id, o);
  if (set->parsed()) return RunSet(k, args.id, *set_request, o);
  if (listen->parsed()) return RunListen(k, args.id, args.addr, args.port, o);
  if (unlisten->parsed()) return RunUnlisten(k, args.id, o);
  if (peer_add->parsed()) {
    return RunPeerAdd(k, args.id, args.slot, args.addr, args.port, args.name,
                      args.pull        ? PeerSync::kPull
                      : args.full_sync ? PeerSync::kFull
                                       : PeerSync::kBitmap,
                      o);
  }
  if (peer_remove->parsed()) return RunPeerRemove(k, args.id, args.slot, o);
  if (outdate->parsed()) return RunOutdate(k, args.id, args.slot, args.epoch, o);
  return kExitUsage;
}
