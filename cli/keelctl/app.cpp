#include "cli/keelctl/app.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>

#include "cli/keelctl/commands.h"

namespace keel {
namespace {

// Everything a command line can set; CLI11 fills it in.
struct Args {
  std::string socket;
  std::string output = "text";
  bool quiet = false;
  double timeout_s = 60;
  CreateArgs create;
  std::string name;
  bool force = false;
  bool yes = false;
  bool off = false;           // node maintenance --off
  std::string node;           // volume attach --node
  bool wait = false;          // --wait, --watch
  double wait_timeout_s = 0;  // --wait-timeout of volume attach and node drain
  RebalanceArgs rebalance;    // cluster rebalance
};

struct Ctx {
  ApiClient& api;
  const Output& o;
  const Args& a;
  const Env& env;
};

// One command: where it sits ({"volume", "create"}), its help, its options
// and what it does.
struct CommandSpec {
  std::vector<std::string> path;
  std::string summary;
  std::string help;  // the --help footer: what it does, and examples
  void (*options)(CLI::App& sub, Args& a);
  int (*run)(Ctx& c);
};

struct GroupSpec {
  std::string name;
  std::string summary;
  std::string help;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AddName(CLI::App& sub, Args& a) {
  sub.add_option("NAME", a.name, "The volume's name")->required()->type_name("");
}

void AddNodeName(CLI::App& sub, Args& a) {
  sub.add_option("NAME", a.name, "The node's name (as 'keelctl node list' shows it)")
      ->required()
      ->type_name("");
}

// A number of seconds from `min` to a day, fractions allowed.
CLI::Validator Seconds(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !(v >= min && v <= 86400)) {
          char range[64];
          snprintf(range, sizeof(range), "%g to 86400", min);
          return "'" + text + "' is not a number of seconds from " + range;
        }
        return "";
      },
      "SECONDS");
}

// --wait and its --wait-timeout (keelctl's own --timeout is how long one
// reply from keeld may take).
void AddWait(CLI::App& sub, Args& a, const std::string& until) {
  CLI::Option* wait = sub.add_flag("--wait", a.wait, "Wait until " + until);
  sub.add_option("--wait-timeout", a.wait_timeout_s,
                 "With --wait: give up (exit 1) after SECONDS (default 0: no limit)")
      ->check(Seconds(0))
      ->needs(wait);
}

Wait WaitOf(const Ctx& c, bool tty) { return {c.a.wait, c.a.wait_timeout_s, tty, c.env.ticker}; }

const std::vector<GroupSpec>& Groups() {
  static const std::vector<GroupSpec> groups = {
      {"volume", "Create, list, inspect, attach, detach and delete volumes",
       "A volume is a block device backed by a file in this node's storage pool.\n"
       "\n"
       "Examples:\n"
       "  keelctl volume create db --size 10G\n"
       "  keelctl volume list\n"
       "  keelctl volume attach db\n"
       "  keelctl volume attach db --node n2 --wait     (cluster mode)\n"
       "\n"
       "Run 'keelctl volume COMMAND --help' for a command's options and examples."},
      {"node", "This node, and the cluster's nodes: list, inspect, cordon, drain",
       "Examples:\n"
       "  keelctl node inspect\n"
       "  keelctl node list\n"
       "  keelctl node inspect n2 -o json\n"
       "  keelctl node cordon n3\n"
       "  keelctl node drain n3 --wait"},
      {"cluster", "The cluster: coordinator, etcd, nodes and volumes",
       "Examples:\n"
       "  keelctl cluster status\n"
       "  keelctl cluster status -o json"},
  };
  return groups;
}

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> commands = {
      {{"volume", "create"},
       "Create a volume",
       "Creates a volume of --size bytes on this node's storage pool: a backing file in the\n"
       "pool and keel.ko's volume on it.  The volume is detached; 'keelctl volume attach'\n"
       "gives it a disk.  Sizes take binary units: 512M, 10G, 1.5T (K = 1024), or bytes;\n"
       "the size must be a multiple of the block size and fit in the pool's free space.\n"
       "Names (and label keys) are 1-63 characters of A-Z a-z 0-9 _ . - starting with a\n"
       "letter or digit.  --repl 2 and 3 need keeld in cluster mode (etcd_endpoints):\n"
       "the cluster places the replicas on distinct nodes, spread over zones then racks.\n"
       "--zone-spread makes the spread a rule: every replica in another zone (a node's\n"
       "'zone' label), or the create is refused with what is missing.\n"
       "Prints the volume (-o json: the volume object of docs/keelctl.md; -q: nothing).\n"
       "\n"
       "Examples:\n"
       "  keelctl volume create db --size 10G\n"
       "  keelctl volume create pg --size 10G --repl 3\n"
       "  keelctl volume create pg --size 10G --repl 3 --zone-spread\n"
       "  keelctl volume create web --size 512M --block-size 512 --label tier=gold --label "
       "app=nginx\n"
       "  keelctl volume create -q scratch --size 1.5T && echo created",
       [](CLI::App& sub, Args& a) {
         sub.add_option("NAME", a.create.name, "The new volume's name (unique on the node)")
             ->required()
             ->type_name("");
         sub.add_option("-s,--size", a.create.size, "Size: 4096, 512M, 10G, 1.5T")
             ->required()
             ->type_name("SIZE");
         sub.add_option("-b,--block-size", a.create.block_size,
                        "Logical block size of the disk: 512 or 4096 (default 4096)")
             ->check(CLI::IsMember({512, 4096}));
         sub.add_option("-l,--label", a.create.labels, "A label; repeat for more (at most 64)")
             ->allow_extra_args(false)
             ->type_name("KEY=VALUE");
         sub.add_option("--repl", a.create.replicas,
                        "Number of replicas, 1-3 (default 1; 2 and 3 need cluster mode)")
             ->check(CLI::Range(1, 3));
         sub.add_flag("--zone-spread", a.create.zone_spread,
                      "Every replica in a different zone, or refuse (cluster mode)");
       },
       [](Ctx& c) { return RunVolumeCreate(c.api, c.a.create, c.o); }},
      {{"volume", "list"},
       "List the volumes",
       "One row per volume, ordered by name: its size, state (attached, detached, pending:\n"
       "an operation keeld is completing; missing: its backing file is gone), device,\n"
       "replicas, node and labels.  -q prints only the names, one per line.\n"
       "\n"
       "Examples:\n"
       "  keelctl volume list\n"
       "  keelctl volume list -o json\n"
       "  for v in $(keelctl volume list -q); do keelctl volume inspect \"$v\"; done",
       [](CLI::App&, Args&) {},
       [](Ctx& c) { return RunVolumeList(c.api, c.o); }},
      {{"volume", "inspect"},
       "Show everything about a volume",
       "Its record (uuid, size, block size, labels, state, device, backing file, creation\n"
       "time) and keel.ko's view of it: flags, epoch and IO counters.  Exit status 3 when\n"
       "it does not exist, so -q (prints nothing) is a test for existence.\n"
       "\n"
       "In cluster mode the cluster's view comes first: the volume's epoch and state, where\n"
       "it is attached, which replicas are in sync, and a row per replica (NODE, SLOT,\n"
       "IN-SYNC, STATE: in-sync, syncing, connecting, outdated or lost, PROGRESS: for a\n"
       "replica that is syncing, a bar with its rate and ETA).  This node's replica\n"
       "follows when it holds one (-o json: keeld's volume.status with \"local\", this\n"
       "node's replica or null).  --watch asks again every second until every replica\n"
       "is in sync, then exits 0 (or stop it with Ctrl-C): on a terminal it redraws the\n"
       "view in place; otherwise it prints the view once, then a line per replica when\n"
       "its progress changes.  With -o json, --watch prints volume.status's result, one\n"
       "line per second.  A single-node volume has one replica: nothing to watch.\n"
       "\n"
       "Examples:\n"
       "  keelctl volume inspect db\n"
       "  keelctl volume inspect db -o json\n"
       "  keelctl volume inspect -q db || keelctl volume create db --size 10G\n"
       "  keelctl volume inspect db --watch\n"
       "  keelctl volume inspect db --watch -o json | jq -c .sync",
       [](CLI::App& sub, Args& a) {
         AddName(sub, a);
         sub.add_flag("-w,--watch", a.wait,
                      "Redraw every second until every replica is in sync (cluster mode)");
       },
       [](Ctx& c) { return RunVolumeInspect(c.api, c.a.name, WaitOf(c, c.env.stdout_tty), c.o); }},
      {{"volume", "attach"},
       "Give a volume its disk, /dev/keelN, on this node or on node N",
       "Creates the block device and prints its path.  Attaching an attached volume is\n"
       "not an error: it prints the same device again.  -q prints only the path.\n"
       "\n"
       "In cluster mode the attach starts a new epoch (printed) and may be asked of any\n"
       "node: --node N attaches the volume on node N (keeld forwards it there), and the\n"
       "disk appears on N.  --wait then waits until every replica is in sync, showing\n"
       "each resync's progress on stderr (a bar with rate and ETA); with --wait-timeout\n"
       "it gives up after SECONDS (exit 1, the volume stays attached).  With -o json the\n"
       "result is printed once the wait is over.\n"
       "\n"
       "Examples:\n"
       "  keelctl volume attach db\n"
       "  dev=$(keelctl volume attach -q db) && mkfs.ext4 \"$dev\" && mount \"$dev\" /mnt/db\n"
       "  keelctl volume attach db --node n2\n"
       "  keelctl volume attach db --wait --wait-timeout 600",
       [](CLI::App& sub, Args& a) {
         AddName(sub, a);
         sub.add_option("-n,--node", a.node, "Attach on this node of the cluster (cluster mode)")
             ->type_name("N");
         AddWait(sub, a, "every replica is in sync (cluster mode)");
       },
       [](Ctx& c) {
         return RunVolumeAttach(c.api, c.a.name, c.a.node, WaitOf(c, c.env.stderr_tty), c.o);
       }},
      {{"volume", "detach"},
       "Remove a volume's disk from this node",
       "Removes /dev/keelN; the volume and its data stay.  Refused (exit status 6) while the\n"
       "disk is open: mounted, or held by a process.  --force removes it anyway, and whoever\n"
       "holds it gets IO errors.  Detaching a detached volume is not an error.\n"
       "\n"
       "Examples:\n"
       "  keelctl volume detach db\n"
       "  umount /mnt/db && keelctl volume detach db\n"
       "  keelctl volume detach db --force",
       [](CLI::App& sub, Args& a) {
         AddName(sub, a);
         sub.add_flag("-f,--force", a.force, "Remove the disk even while it is open");
       },
       [](Ctx& c) { return RunVolumeDetach(c.api, c.a.name, c.a.force, c.o); }},
      {{"volume", "delete"},
       "Delete a volume and its data",
       "Removes the volume, its kernel object and its backing file: the data is gone.\n"
       "keelctl asks first when stdin is a terminal (it shows the volume's size and state;\n"
       "answer y); otherwise it refuses unless --yes is given, so a script never deletes by\n"
       "accident.  Refused (exit status 6) while the volume is attached, unless --force,\n"
       "which detaches it first.\n"
       "\n"
       "Examples:\n"
       "  keelctl volume delete db\n"
       "  keelctl volume delete db --yes\n"
       "  keelctl volume delete db --force --yes      even while attached",
       [](CLI::App& sub, Args& a) {
         AddName(sub, a);
         sub.add_flag("-f,--force", a.force, "Detach the volume first if it is attached");
         sub.add_flag("-y,--yes", a.yes,
                      "Do not ask: delete it (needed when stdin is no terminal)");
       },
       [](Ctx& c) {
         Confirm confirm{c.env.stdin_tty, &c.env.in};
         return RunVolumeDelete(c.api, c.a.name, c.a.force, c.a.yes, confirm, c.o);
       }},
      {{"node", "list"},
       "List the cluster's nodes",
       "One row per node registered in etcd, ordered by name: its state (up, suspect, down,\n"
       "maintenance) and how long it has had it, its zone and rack labels, its pool's free\n"
       "space and capacity, and a * for the coordinator.  Needs cluster mode (etcd_endpoints\n"
       "in keeld.conf).  -q prints only the names, one per line.\n"
       "\n"
       "Examples:\n"
       "  keelctl node list\n"
       "  keelctl node list -o json\n"
       "  for n in $(keelctl node list -q); do keelctl node inspect \"$n\"; done",
       [](CLI::App&, Args&) {},
       [](Ctx& c) { return RunNodeList(c.api, c.o, NowMs()); }},
      {{"node", "inspect"},
       "Show this node, or node NAME of the cluster",
       "Without NAME: this node's name and labels, keeld's and keel.ko's versions (or why\n"
       "the module is unavailable), the kvdb, and the pool: directory, capacity, used, free,\n"
       "volumes.  With NAME: that node as the cluster records it (state and since when,\n"
       "alive, coordinator, last heartbeat, zone, rack, capacity, free, bus and data\n"
       "addresses); exit status 3 when the cluster has no such node.  -q prints only the\n"
       "node's name.\n"
       "\n"
       "Examples:\n"
       "  keelctl node inspect\n"
       "  keelctl node inspect -o json\n"
       "  keelctl node inspect n2",
       [](CLI::App& sub, Args& a) {
         sub.add_option("NAME", a.name, "A node of the cluster (default: this node)")
             ->type_name("");
       },
       [](Ctx& c) {
         if (c.a.name.empty()) return RunNodeInspect(c.api, c.o);
         return RunClusterNodeInspect(c.api, c.a.name, c.o, NowMs());
       }},
      {{"node", "cordon"},
       "Place no new replicas on a node",
       "The cluster places no new replica on the node (volume create, a drain's moves);\n"
       "the replicas it holds stay, and it goes on serving them.  'keelctl node list'\n"
       "shows it as up,cordoned.  Needs cluster mode.  Exit status 3 when the cluster has\n"
       "no such node.  -q prints nothing; -o json prints the node's flags and how many\n"
       "replicas it holds.\n"
       "\n"
       "Examples:\n"
       "  keelctl node cordon n3\n"
       "  keelctl node cordon n3 -o json",
       AddNodeName,
       [](Ctx& c) { return RunNodeCordon(c.api, c.a.name, true, c.o); }},
      {{"node", "uncordon"},
       "Let new replicas be placed on a node again",
       "Clears what cordon and drain set: new replicas may be placed on the node again,\n"
       "and a drain stops moving replicas off it (the ones already moved stay where they\n"
       "are).  Needs cluster mode.  Exit status 3 when the cluster has no such node.\n"
       "\n"
       "Examples:\n"
       "  keelctl node uncordon n3",
       AddNodeName,
       [](Ctx& c) { return RunNodeCordon(c.api, c.a.name, false, c.o); }},
      {{"node", "maintenance"},
       "Put a node in maintenance, or take it out with --off",
       "A node in maintenance is expected back: while its keeld is silent (a reboot, an\n"
       "upgrade) it is not counted down, so its replicas are not replaced after the grace\n"
       "period and no new replica is placed on it.  Volumes attached elsewhere still\n"
       "outdate its replicas when it stops answering (rule 2), and resync them when it\n"
       "returns.  --off ends it: the node is up, suspect or down again by its heartbeats.\n"
       "'keelctl node list' shows the state.  Needs cluster mode.  Exit status 3 when the\n"
       "cluster has no such node.\n"
       "\n"
       "Examples:\n"
       "  keelctl node maintenance n3 && ssh n3 reboot\n"
       "  keelctl node maintenance n3 --off",
       [](CLI::App& sub, Args& a) {
         AddNodeName(sub, a);
         sub.add_flag("--off", a.off, "Take the node out of maintenance");
       },
       [](Ctx& c) { return RunNodeMaintenance(c.api, c.a.name, !c.a.off, c.o); }},
      {{"node", "drain"},
       "Move every replica off a node",
       "Cordons the node and has the coordinator move each of its replicas to another\n"
       "node: a new replica elsewhere, synced, then the old one removed, so no volume is\n"
       "ever short of a replica.  Prints how many replicas are left to move.  --wait asks\n"
       "again every second until none is left (the count on stderr when it changes); with\n"
       "--wait-timeout it gives up after SECONDS (exit 1; the drain goes on).  Draining a\n"
       "drained node is not an error.  Needs cluster mode.  Exit status 3 when the cluster\n"
       "has no such node.  'keelctl node uncordon' ends it.\n"
       "\n"
       "Examples:\n"
       "  keelctl node drain n3\n"
       "  keelctl node drain n3 --wait\n"
       "  keelctl node drain n3 --wait --wait-timeout 3600 && ssh n3 poweroff",
       [](CLI::App& sub, Args& a) {
         AddNodeName(sub, a);
         AddWait(sub, a, "the node holds no replicas");
       },
       [](Ctx& c) { return RunNodeDrain(c.api, c.a.name, WaitOf(c, c.env.stderr_tty), c.o); }},
      {{"cluster", "status"},
       "Show the cluster: coordinator, etcd, nodes and volumes",
       "The coordinator, this node's etcd lease, each etcd endpoint's health, how many\n"
       "nodes are up, suspect, down or in maintenance, how many volumes there are (attached,\n"
       "degraded: fewer in-sync replicas than wanted), then the node table of 'keelctl node\n"
       "list'.  Needs cluster mode (etcd_endpoints in keeld.conf).  -q prints only the\n"
       "coordinator's name (- when none is known); -o json prints keeld's cluster.status.\n"
       "\n"
       "Examples:\n"
       "  keelctl cluster status\n"
       "  keelctl cluster status -o json\n"
       "  coord=$(keelctl cluster status -q)",
       [](CLI::App&, Args&) {},
       [](Ctx& c) { return RunClusterStatus(c.api, c.o, NowMs()); }},
      {{"cluster", "rebalance"},
       "Move replicas from the fullest nodes to the emptiest",
       "Plans which replicas to move so the nodes fill evenly, and has the coordinator\n"
       "move them.  A node's use is the share of its pool promised to replicas.  While the\n"
       "most used node is more than --threshold points above the least used node that can\n"
       "take a replica (up, not cordoned), the plan moves the largest replica off it whose\n"
       "move does not overshoot, at most --max-moves of them.  Each move is a drain of one\n"
       "replica: a new copy on the other node, filled (from the attached node, or from an\n"
       "in-sync replica while the volume is detached), then the old one removed, so no\n"
       "volume is ever short of a replica.  A replica on the node its volume is attached on\n"
       "is not moved.  Prints the moves and each node's use before and after.  --dry-run\n"
       "only prints the plan.  --wait then waits until every move is done (progress on\n"
       "stderr; --wait-timeout gives up after SECONDS, exit 1, the moves go on).  Needs\n"
       "cluster mode.\n"
       "\n"
       "Examples:\n"
       "  keelctl cluster rebalance --dry-run\n"
       "  keelctl cluster rebalance --wait\n"
       "  keelctl cluster rebalance --threshold 5 --max-moves 20 -o json",
       [](CLI::App& sub, Args& a) {
         sub.add_flag("--dry-run", a.rebalance.dry_run, "Print the plan, move nothing");
         sub.add_option("--threshold", a.rebalance.threshold_pct,
                        "Points of use between the most and the least used node that are "
                        "tolerated (default 10)")
             ->check(CLI::Range(1.0, 100.0))
             ->type_name("PCT");
         sub.add_option("--max-moves", a.rebalance.max_moves,
                        "Replicas moved at most by this plan (default 8)")
             ->check(CLI::Range(1, 100))
             ->type_name("N");
         AddWait(sub, a, "every move is done");
       },
       [](Ctx& c) {
         return RunClusterRebalance(c.api, c.a.rebalance, WaitOf(c, c.env.stderr_tty), c.o);
       }},
      {{"version"},
       "Show the versions of keelctl, keeld and keel.ko",
       "keelctl's own version always; keeld's and keel.ko's when keeld answers (otherwise\n"
       "the error, and its exit status).  -q prints only keelctl's version and does not\n"
       "ask keeld.\n"
       "\n"
       "Examples:\n"
       "  keelctl version\n"
       "  keelctl version -o json",
       [](CLI::App&, Args&) {},
       [](Ctx& c) { return RunVersion(c.api, c.o); }},
  };
  return commands;
}

// Connects on the first request, so a command that fails its checks never
// touches the socket.
class LazyClient : public ApiClient {
 public:
  LazyClient(const Env& env, std::string socket, std::chrono::milliseconds timeout)
      : env_(env), socket_(std::move(socket)), timeout_(timeout) {}
  Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) override {
    if (!client_) client_ = env_.connect(socket_, timeout_);
    return client_->Call(command, args);
  }

 private:
  const Env& env_;
  std::string socket_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<ApiClient> client_;
};

// The first word the command line did not match, if any: an unknown
// command under the deepest command selected.
std::string UnknownWord(CLI::App* app) {
  for (CLI::App* a = app; a;) {
    std::vector<std::string> rest = a->remaining();
    if (!rest.empty()) return rest.front();
    auto subs = a->get_subcommands();
    a = subs.empty() ? nullptr : subs.front();
  }
  return "";
}

// "keelctl volume": the commands selected on the command line.
std::string CommandPath(CLI::App* app) {
  std::string path = app->get_name();
  for (auto subs = app->get_subcommands(); !subs.empty(); subs = subs.front()->get_subcommands()) {
    path += " " + subs.front()->get_name();
  }
  return path;
}

const char kTopFooter[] =
    "Commands:\n"
    "  volume create NAME --size SIZE [--block-size 512|4096] [--label K=V ...] [--repl N]\n"
    "                [--zone-spread]\n"
    "  volume list | inspect NAME [--watch] | detach NAME [--force]\n"
    "  volume attach NAME [--node N] [--wait [--wait-timeout SECONDS]]\n"
    "  volume delete NAME [--force] [--yes]\n"
    "  node list | inspect [NAME] | cordon NAME | uncordon NAME\n"
    "  node drain NAME [--wait [--wait-timeout SECONDS]]\n"
    "  node maintenance NAME [--off]\n"
    "  cluster status\n"
    "  cluster rebalance [--dry-run] [--threshold PCT] [--max-moves N] [--wait]\n"
    "  version\n"
    "Every command takes --help, -o json and -q.\n"
    "\n"
    "Examples:\n"
    "  keelctl volume create db --size 10G --label tier=gold\n"
    "  keelctl volume attach db                     prints /dev/keelN\n"
    "  keelctl volume list -o json\n"
    "  keelctl volume inspect db --watch            until every replica is in sync\n"
    "  keelctl volume detach db && keelctl volume delete db --yes\n"
    "  keelctl node drain n3 --wait                 move every replica off n3\n"
    "\n"
    "Exit status:\n"
    "  0 ok   1 error   2 usage   3 not found   4 keeld not running or no reply\n"
    "  5 permission denied (run as root)   6 volume busy   7 already exists\n"
    "\n"
    "Environment:\n"
    "  KEEL_SOCKET   keeld's API socket when --socket is not given\n"
    "  NO_COLOR      when set (and not empty), no colours\n"
    "\n"
    "See docs/keelctl.md for the JSON schemas.";

}  // namespace

int RunKeelctl(const std::vector<std::string>& args, Env& env) {
  Args a;
  a.socket = env.keel_socket.empty() ? kDefaultSocket : env.keel_socket;
  CLI::App app{
      "keelctl - manage Keel volumes through keeld, the node daemon.\n"
      "Talks to keeld's API socket; needs root (the socket is root-only).",
      "keelctl"};
  app.set_version_flag("--version", std::string("keelctl ") + KEEL_VERSION);
  app.require_subcommand(1);
  // Global options are accepted after the command too: keelctl volume list -o json.
  app.fallthrough();
  app.footer(kTopFooter);
  app.add_option("--socket", a.socket, "keeld's API socket (env KEEL_SOCKET)")
      ->capture_default_str()
      ->type_name("PATH");
  app.add_option("-o,--output", a.output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", a.quiet, "Print only what scripts need (see each command)");
  app.add_option("--timeout", a.timeout_s, "Seconds to wait for keeld's reply")
      ->check(Seconds(0.001))
      ->capture_default_str();

  std::map<std::string, CLI::App*> groups;
  for (const GroupSpec& g : Groups()) {
    CLI::App* sub = app.add_subcommand(g.name, g.summary);
    sub->require_subcommand(1);
    sub->footer(g.help);
    groups[g.name] = sub;
  }
  std::vector<CLI::App*> leaves;
  for (const CommandSpec& c : Commands()) {
    CLI::App* parent = c.path.size() > 1 ? groups.at(c.path[0]) : &app;
    CLI::App* sub = parent->add_subcommand(c.path.back(), c.summary);
    sub->footer(c.help + "\n\nGlobal options (-o json, -q, --socket, --timeout): keelctl --help");
    c.options(*sub, a);
    leaves.push_back(sub);
  }

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      app.exit(e, env.out, env.err);
      return kExitOk;
    }
    std::string what = e.what();
    std::string word = UnknownWord(&app);
    if (dynamic_cast<const CLI::RequiredError*>(&e) &&
        what.find("subcommand") != std::string::npos) {
      what = word.empty() ? "missing command: " + CommandPath(&app) + " COMMAND"
                          : "unknown command '" + word + "'";
    }
    env.err << "keelctl: " << what << "\n\n" << app.help();
    return kExitUsage;
  }

  Output o{env.out, env.err, a.output == "json" ? Format::kJson : Format::kText, a.quiet, false};
  o.color = o.format == Format::kText && env.stdout_tty && env.no_color.empty();
  if (a.quiet && o.format == Format::kJson) {
    return Report(o, UsageError("-q and -o json cannot be used together"));
  }
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!leaves[i]->parsed()) continue;
    LazyClient api(env, a.socket,
                   std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000)));
    Ctx c{api, o, a, env};
    return Commands()[i].run(c);
  }
  return Report(o, UsageError("no command given"));
}

}  // namespace keel
