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
};

CLI::App* AddSub(CLI::App& app, const char* name, const char* what, const char* help, Args& args) {
  CLI::App* sub = app.add_subcommand(name, what);
  sub->add_flag("--json", args.json, "Print JSON instead of text");
  sub->footer(help);
  return sub;
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
  create->add_option("--backing", args.create.backing, "Backing file or block device")->required();
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
                        "One line per event (--json: one JSON object per line).  Stops after\n"
                        "--count events or --timeout seconds; exit status 1 if the timeout\n"
                        "comes before --count events.  'listening' on stderr says when it is\n"
                        "subscribed.\n"
                        "Example: keelsetup events --count 2 --timeout 30 --json",
                        args);
  auto* count =
      events->add_option("--count", args.count, "Stop after N events")->check(CLI::PositiveNumber);
  auto* timeout = events->add_option("--timeout", args.timeout_seconds, "Stop after SECONDS")
                      ->check(CLI::NonNegativeNumber);

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
  return kExitUsage;
}
