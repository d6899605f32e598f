#include "manager/keeld/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "manager/api/api_client.h"
#include "manager/api/dispatcher.h"
#include "manager/api/request.h"
#include "manager/api/server.h"
#include "manager/bus/curve_keys.h"
#include "manager/cluster/node_agent.h"
#include "manager/common/size.h"
#include "manager/keeld/cluster_volumes.h"
#include "manager/kernel/netlink_client.h"
#include "manager/kvdb/etcd_kvdb.h"
#include "manager/kvdb/sqlite_kvdb.h"
#include "manager/log/log.h"
#include "manager/plugin/keeld_api.h"
#include "manager/plugin/mount_refs.h"
#include "manager/plugin/plugin_server.h"
#include "manager/plugin/system_mounter.h"
#include "manager/plugin/volume_driver.h"
#include "manager/state/state_store.h"
#include "manager/volume/filesystem.h"
#include "manager/volume/volume_manager.h"

namespace keel {
namespace {

// Creates a directory (and its parents) if missing; a new one gets `mode`.
Status MakeDir(const std::string& path, mode_t mode) {
  std::error_code ec;
  bool created = std::filesystem::create_directories(path, ec);
  if (ec) return Status::Error(ec.value(), "cannot create directory " + path + ": " + ec.message());
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Error(ENOTDIR, path + " is not a directory");
  }
  if (created && chmod(path.c_str(), mode) != 0) {
    return Status::Error(errno, "cannot chmod " + path + ": " + strerror(errno));
  }
  return Status();
}

void RaiseFdLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The crash points of KEELD_CRASH_AT: "_exit at this point".
VolumeManager::CrashHook CrashHookFromEnv() {
  const char* at = getenv("KEELD_CRASH_AT");
  if (!at || !*at) return nullptr;
  std::string point = at;
  KLOG(kWarning, "crash point armed (testing only)", {{"point", point}});
  return [point](std::string_view p) {
    if (p == point) {
      KLOG(kWarning, "crashing at crash point", {{"point", point}});
      _exit(86);
    }
    return false;
  };
}

// Kernel events, read on their own thread and handed to the main loop.
class EventPump {
 public:
  Status Start() {
    efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd_ < 0) return Status::Error(errno, "eventfd failed");
    auto l = NetlinkEventListener::Connect();
    if (!l.ok()) return l.status();
    listener_ = std::move(l).value();
    thread_ = std::thread([this] { Loop(); });
    return Status();
  }
  ~EventPump() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (efd_ >= 0) close(efd_);
  }
  int fd() const { return efd_; }
  std::deque<Result<KernelEvent>> Drain() {
    uint64_t v;
    ssize_t unused = read(efd_, &v, sizeof(v));
    (void)unused;
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(queue_, {});
  }

 private:
  void Loop() {
    while (!stop_) {
      auto ev = listener_->Next(std::chrono::milliseconds(300));
      if (ev.ok() && !ev->has_value()) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (ev.ok()) {
          queue_.push_back(**ev);
        } else {
          queue_.push_back(ev.status());
        }
      }
      uint64_t one = 1;
      ssize_t unused = write(efd_, &one, sizeof(one));
      (void)unused;
      if (!ev.ok() && ev.status().code() != ENOBUFS) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
  }

  int efd_ = -1;
  std::unique_ptr<NetlinkEventListener> listener_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::deque<Result<KernelEvent>> queue_;
};

// Work for the main thread from other threads (bus handlers): the
// VolumeManager and the kernel client belong to the main loop.
class MainThreadQueue {
 public:
  Status Start() {
    efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd_ < 0) return Status::Error(errno, "eventfd failed");
    return Status();
  }
  ~MainThreadQueue() {
    if (efd_ >= 0) close(efd_);
  }
  int fd() const { return efd_; }

  // From any thread: runs `fn` on the main thread and returns its result;
  // ETIMEDOUT if the main thread did not get to it in time (the caller may
  // retry: every task is idempotent), ESHUTDOWN once keeld is stopping.
  Result<nlohmann::json> Run(std::function<Result<nlohmann::json>()> fn,
                             std::chrono::milliseconds timeout) {
    auto task = std::make_shared<Task>();
    task->fn = std::move(fn);
    {
      std::lock_guard lock(mu_);
      if (stopped_) return Status::Error(ESHUTDOWN, "keeld is stopping");
      queue_.push_back(task);
    }
    uint64_t one = 1;
    ssize_t unused = write(efd_, &one, sizeof(one));
    (void)unused;
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return task->result.has_value(); })) {
      return Status::Error(ETIMEDOUT, "keeld's main loop is busy");
    }
    return *task->result;
  }

  // On the main thread, when fd() is readable.
  void Drain() {
    uint64_t v;
    ssize_t unused = read(efd_, &v, sizeof(v));
    (void)unused;
    std::deque<std::shared_ptr<Task>> tasks;
    {
      std::lock_guard lock(mu_);
      tasks.swap(queue_);
    }
    for (auto& t : tasks) {
      auto r = t->fn();
      std::lock_guard lock(mu_);
      t->result = std::move(r);
    }
    cv_.notify_all();
  }

  // Fails what waits and everything later.
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    for (auto& t : queue_) t->result = Status::Error(ESHUTDOWN, "keeld is stopping");
    queue_.clear();
    cv_.notify_all();
  }

 private:
  struct Task {
    std::function<Result<nlohmann::json>()> fn;
    std::optional<Result<nlohmann::json>> result;
  };
  int efd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  bool stopped_ = false;
};

uint64_t PoolCapacity(const Config& c) {
  if (c.pool_capacity) return *c.pool_capacity;
  struct statvfs vfs;
  if (statvfs(c.pool_dir.c_str(), &vfs) != 0) return 0;
  return static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
}

int Fatal(const std::string& what, const Status& s) {
  KLOG(kError, what, {{"error", s.ToString()}});
  sd_notifyf(0, "STATUS=%s: %s", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int RunDaemon(const std::function<Result<Config>()>& load) {
  auto loaded = load();
  if (!loaded.ok()) return Fatal("invalid configuration", loaded.status());
  Config cfg = std::move(loaded).value();
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg.log_level, &level);
  SetLogLevel(level);

  RaiseFdLimit();
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  // Blocked before any thread starts, so only the signalfd sees them.
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return Fatal("signalfd failed", Status::Error(errno, strerror(errno)));

  const std::string socket_dir = std::filesystem::path(cfg.api_socket).parent_path();
  for (const auto& [dir, mode] : {std::pair<std::string, mode_t>{cfg.data_dir, 0700},
                                  {cfg.pool_dir, 0700},
                                  {socket_dir, 0755}}) {
    Status s = MakeDir(dir, mode);
    if (!s.ok()) return Fatal("cannot prepare directories", s);
  }

  // One keeld per data directory: a second one would recover and reconcile
  // under the first one's feet.  The lock goes with the process.
  const std::string lock_path = cfg.data_dir + "/keeld.lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    return Fatal(
        "cannot lock the data directory",
        Status::Error(e, e == EWOULDBLOCK ? "another keeld is running with data_dir " + cfg.data_dir
                                          : lock_path + ": " + strerror(e)));
  }

  SystemClock clock;
  auto state = StateStore::Open(cfg.data_dir + "/keel.db", &clock);
  if (!state.ok()) return Fatal("cannot open the state store", state.status());
  auto kvdb = SqliteKvdb::Open(cfg.data_dir + "/kvdb.db", &clock);
  if (!kvdb.ok()) return Fatal("cannot open the kvdb", kvdb.status());
  // Cluster mode: etcd holds the cluster's state (nodes, coordinator);
  // volumes stay node-local in the embedded kvdb until the cluster volume
  // lifecycle is wired (docs/design-keeld.md, "Cluster mode").
  std::unique_ptr<EtcdKvdb> etcd;
  if (IsClusterMode(cfg)) {
    auto e = EtcdKvdb::Open(EtcdOptions{cfg.etcd_endpoints, std::chrono::milliseconds(5000)});
    if (!e.ok()) return Fatal("cannot open etcd", e.status());
    etcd = std::move(e).value();
  }

  auto first_name = (*state)->GetNodeFact("node_name");
  if (!first_name.ok()) return Fatal("cannot read the state store", first_name.status());
  if (*first_name && **first_name != cfg.node_name) {
    return Fatal("node name changed",
                 Status::Error(EINVAL, "this node's volumes belong to node '" + **first_name +
                                           "' but node_name is '" + cfg.node_name +
                                           "': set node_name back"));
  }
  if (!*first_name) {
    Status s = (*state)->PutNodeFact("node_name", cfg.node_name);
    if (!s.ok()) return Fatal("cannot write the state store", s);
  }

  auto kernel = NetlinkKernelClient::Connect(std::chrono::milliseconds(cfg.kernel_timeout_ms));
  if (!kernel.ok()) return Fatal("cannot reach keel.ko", kernel.status());
  auto info = (*kernel)->GetInfo();
  if (!info.ok()) return Fatal("keel.ko does not answer", info.status());

  PosixFilesystem fs;
  VolumeManager::Options vopts{cfg.node_name, cfg.pool_dir, PoolCapacity(cfg)};
  VolumeManager volumes(vopts, state.value().get(), kvdb.value().get(), kernel.value().get(), &fs,
                        &clock, CrashHookFromEnv());

  auto left = volumes.Recover();
  if (!left.ok()) return Fatal("recovery failed", left.status());
  auto repairs = volumes.Reconcile();
  if (!repairs.ok()) return Fatal("reconcile failed", repairs.status());

  auto register_node = [&](const Config& c) {
    nlohmann::json node = {{"name", c.node_name},
                           {"labels", c.labels},
                           {"pool_capacity", PoolCapacity(c)},
                           {"etcd_endpoints", c.etcd_endpoints},
                           {"bus_endpoint", c.bus_endpoint},
                           {"bus_public_key", c.bus_public_key},
                           {"keeld_version", KEEL_VERSION}};
    auto rev = kvdb.value()->Put(kNodePrefix + c.node_name, node.dump());
    if (!rev.ok()) KLOG(kError, "cannot register the node", {{"error", rev.status().ToString()}});
  };
  register_node(cfg);

  // Cluster mode: this node's presence (record, lease, bus, heartbeats,
  // membership, coordinator election).  Started after recovery so the
  // free space it advertises is this node's real one.
  std::unique_ptr<cluster::NodeAgent> agent;
  if (etcd) {
    auto keys = bus::LoadOrCreateCurveKeyPair(BusSecretKeyFile(cfg));
    if (!keys.ok()) return Fatal("cannot load the bus key", keys.status());
    if (!cfg.bus_public_key.empty() && cfg.bus_public_key != keys->public_key) {
      return Fatal("bus key mismatch",
                   Status::Error(EINVAL, "bus_public_key does not belong to the secret key in " +
                                             BusSecretKeyFile(cfg)));
    }
    cluster::NodeAgentOptions ao;
    ao.node = cfg.node_name;
    ao.bus_endpoint = cfg.bus_endpoint;
    ao.data_address = DataAddress(cfg);
    ao.labels = cfg.labels;
    auto usage = volumes.Usage();
    if (!usage.ok()) return Fatal("cannot read the pool usage", usage.status());
    ao.capacity_bytes = usage->capacity;
    ao.free_bytes = usage->capacity > usage->used ? usage->capacity - usage->used : 0;
    ao.heartbeat_interval = std::chrono::milliseconds(cfg.heartbeat_interval_ms);
    ao.membership = {cfg.suspect_after_ms, cfg.down_after_ms};
    ao.lease_ttl_s = cfg.lease_ttl_s;
    ao.etcd_endpoints = cfg.etcd_endpoints;
    auto a = cluster::NodeAgent::Start(std::move(ao), etcd.get(), *keys);
    if (!a.ok()) return Fatal("cannot join the cluster", a.status());
    agent = std::move(a).value();
  }
  MainThreadQueue main_queue;
  Status mq = main_queue.Start();
  if (!mq.ok()) return Fatal("cannot start the main loop's queue", mq);
  std::unique_ptr<ClusterVolumes> cluster_volumes;
  if (agent) {
    ClusterVolumes::Options copts;
    copts.node = cfg.node_name;
    copts.data_address = DataAddress(cfg);
    copts.port_base = static_cast<uint16_t>(cfg.replication_port_base);
    copts.rereplication_grace_ms = int64_t{cfg.rereplication_grace_s} * 1000;
    copts.create_timeout_ms = int64_t{cfg.create_timeout_s} * 1000;
    cluster_volumes = std::make_unique<ClusterVolumes>(
        copts, etcd.get(), agent.get(), &volumes, kernel.value().get(), state.value().get(),
        // A forwarded attach waits for replica.serve round trips: up to a
        // minute when nodes do not answer.
        [&main_queue](std::function<Result<nlohmann::json>()> fn) {
          return main_queue.Run(std::move(fn), std::chrono::seconds(60));
        },
        [&main_queue] { main_queue.Drain(); });
    Status hs = cluster_volumes->RegisterHandlers();
    if (!hs.ok()) return Fatal("cannot serve the bus", hs);
  }

  EventPump events;
  Status es = events.Start();
  if (!es.ok()) return Fatal("cannot join keel.ko's events group", es);

  ApiDispatcher dispatcher(&volumes, [&] {
    nlohmann::json j = {{"node_name", cfg.node_name},
                        {"labels", cfg.labels},
                        {"keeld_version", KEEL_VERSION},
                        {"api", kApiVersion},
                        {"pool", {{"directory", cfg.pool_dir}}},
                        {"kvdb", agent ? "etcd" : "embedded"}};
    auto mi = (*kernel)->GetInfo();
    if (mi.ok()) {
      j["module"] = {{"version", mi->version},
                     {"api_version", mi->api_version},
                     {"kernel_release", mi->kernel_release}};
    } else {
      j["module"] = {{"error", mi.status().ToString()}};
    }
    return j;
  });
  if (agent) {
    // etcd's transport errors reach the client as try_again: the command
    // may work once etcd answers.
    auto retryable = [](Result<nlohmann::json> r) -> Result<nlohmann::json> {
      if (r.ok() || r.status().code() == EINVAL || r.status().code() == ENOENT) return r;
      return Status::Error(EAGAIN, "etcd: " + r.status().message());
    };
    ClusterVolumes* cv = cluster_volumes.get();
    dispatcher.set_cluster(ClusterApi{
        [&agent, retryable] { return retryable(agent->NodeList()); },
        [&agent, retryable] { return retryable(agent->ClusterStatus()); },
        [cv](const CreateParams& p, uint32_t n, bool spread) { return cv->Create(p, n, spread); },
        [cv](const std::string& name, const std::string& node) { return cv->Attach(name, node); },
        [cv](const std::string& name, bool force) { return cv->Detach(name, force); },
        [cv](const std::string& name, bool force) { return cv->Delete(name, force); },
        [cv](const std::string& name) { return cv->VolumeStatus(name); },
        [cv] { return cv->List(); },
        [cv](const std::string& node, ClusterApi::NodeFlags f) {
          using F = ClusterVolumes::NodeFlags;
          switch (f) {
            case ClusterApi::NodeFlags::kCordon:
              return cv->SetNodeFlags(node, F::kCordon);
            case ClusterApi::NodeFlags::kUncordon:
              return cv->SetNodeFlags(node, F::kUncordon);
            case ClusterApi::NodeFlags::kDrain:
              return cv->SetNodeFlags(node, F::kDrain);
            case ClusterApi::NodeFlags::kMaintenanceOn:
              return cv->SetNodeFlags(node, F::kMaintenanceOn);
            case ClusterApi::NodeFlags::kMaintenanceOff:
              break;
          }
          return cv->SetNodeFlags(node, F::kMaintenanceOff);
        },
        [cv](double threshold, uint32_t max_moves, bool dry_run) {
          return cv->Rebalance(threshold, max_moves, dry_run);
        }});
  }
  ApiServer::Options sopts;
  sopts.path = cfg.api_socket;
  sopts.max_request_bytes = cfg.max_request_bytes;
  sopts.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  sopts.max_clients = cfg.max_clients;
  sopts.allowed_uid = geteuid();
  auto server =
      ApiServer::Listen(sopts, [&](std::string_view req) { return dispatcher.Handle(req); });
  if (!server.ok()) return Fatal("cannot serve the API", server.status());

  // The Docker volume plugin (docs/docker-plugin.md): its own threads, a
  // client of the API socket above like any other, so its requests queue
  // with everyone's and a slow mkfs never stalls this loop.
  std::unique_ptr<SocketApiClient> plugin_client;
  std::unique_ptr<plugin::KeeldApi> plugin_api;
  std::unique_ptr<plugin::SqliteMountRefs> mount_refs;
  plugin::SystemMounter mounter;
  std::unique_ptr<plugin::VolumeDriver> driver;
  std::unique_ptr<plugin::PluginServer> plugin_server;
  if (!cfg.docker_plugin_socket.empty()) {
    auto refs = plugin::SqliteMountRefs::Open(cfg.data_dir + "/docker.db");
    if (!refs.ok()) return Fatal("cannot open the Docker plugin's mount ids", refs.status());
    mount_refs = std::move(refs).value();
    // A mount waits for attach (replica nodes answering) and mkfs.
    plugin_client = std::make_unique<SocketApiClient>(cfg.api_socket, std::chrono::seconds(180));
    plugin_api = std::make_unique<plugin::KeeldApi>(plugin_client.get());
    plugin::DriverOptions dopts;
    dopts.mount_root = DockerMountRoot(cfg);
    dopts.default_size = cfg.docker_default_size;
    dopts.default_fs = cfg.docker_default_fs;
    dopts.cluster = agent != nullptr;
    dopts.node = cfg.node_name;
    driver =
        std::make_unique<plugin::VolumeDriver>(dopts, plugin_api.get(), &mounter, mount_refs.get());
    auto cleared = driver->Recover();
    if (!cleared.ok()) return Fatal("cannot recover the Docker plugin's mounts", cleared.status());
    plugin::PluginServer::Options popts;
    popts.path = cfg.docker_plugin_socket;
    popts.allowed_uid = geteuid();
    auto ps = plugin::PluginServer::Listen(
        popts, [&driver](std::string_view path, std::string_view body) {
          auto r = driver->Handle(path, body);
          return plugin::PluginServer::Reply{r.http_status, r.body.dump()};
        });
    if (!ps.ok()) {
      return Fatal(
          "cannot serve the Docker plugin socket (set docker_plugin_socket, or \"\" "
          "to turn the plugin off)",
          ps.status());
    }
    plugin_server = std::move(ps).value();
    plugin_server->Start();
  }

  bool reconcile_needed = false;
  auto next_reconcile =
      std::chrono::steady_clock::now() + std::chrono::seconds(cfg.reconcile_interval_s);
  (*server)->Watch(events.fd(), [&] {
    for (auto& ev : events.Drain()) {
      if (!ev.ok()) {
        KLOG(kWarning, "kernel events lost or unreadable: reconciling",
             {{"error", ev.status().ToString()}});
        reconcile_needed = true;
        continue;
      }
      if (cluster_volumes) cluster_volumes->OnKernelEvent(*ev);
      LogFields f = {{"event", EventTypeName(ev->type)},
                     {"id", std::to_string(ev->volume_id)},
                     {"uuid", ev->uuid.ToString()}};
      if (ev->type == KEEL_EVENT_IO_ERROR) {
        f.push_back({"errno", std::to_string(ev->error)});
        f.push_back({"sector", std::to_string(ev->sector)});
        KLOG(kError, "kernel event", f);
      } else {
        KLOG(kDebug, "kernel event", f);
      }
      reconcile_needed = true;
    }
  });
  (*server)->Watch(main_queue.fd(), [&] { main_queue.Drain(); });
  (*server)->Watch(sfd, [&] {
    signalfd_siginfo si;
    while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
      if (si.ssi_signo == SIGHUP) {
        sd_notify(0, "RELOADING=1");
        auto fresh = load();
        if (!fresh.ok()) {
          KLOG(kError, "reload failed: keeping the running configuration",
               {{"error", fresh.status().ToString()}});
        } else {
          Config n = std::move(fresh).value();
          LogLevel lv = LogLevel::kInfo;
          ParseLogLevel(n.log_level, &lv);
          SetLogLevel(lv);
          cfg.log_level = n.log_level;
          cfg.labels = n.labels;
          cfg.pool_capacity = n.pool_capacity;
          volumes.set_pool_capacity(PoolCapacity(cfg));
          for (const char* key : {"node_name",
                                  "pool_dir",
                                  "data_dir",
                                  "api_socket",
                                  "etcd_endpoints",
                                  "bus_endpoint",
                                  "bus_public_key",
                                  "bus_secret_key_file",
                                  "max_clients",
                                  "request_timeout_ms",
                                  "max_request_bytes",
                                  "kernel_timeout_ms",
                                  "reconcile_interval_s",
                                  "data_address",
                                  "heartbeat_interval_ms",
                                  "suspect_after_ms",
                                  "down_after_ms",
                                  "lease_ttl_s",
                                  "replication_port_base",
                                  "rereplication_grace_s",
                                  "create_timeout_s",
                                  "docker_plugin_socket",
                                  "docker_mount_root",
                                  "docker_default_size",
                                  "docker_default_fs"}) {
            if (ConfigToJson(n)[key] != ConfigToJson(cfg)[key]) {
              KLOG(kWarning, "config key changed but needs a restart", {{"key", key}});
            }
          }
          register_node(cfg);
          KLOG(kInfo, "configuration reloaded",
               {{"log_level", cfg.log_level}, {"pool_capacity", FormatSize(PoolCapacity(cfg))}});
        }
        sd_notify(0, "READY=1");
      } else {
        KLOG(kInfo, "stopping", {{"signal", strsignal(static_cast<int>(si.ssi_signo))}});
        (*server)->Stop();
      }
    }
  });

  KLOG(kInfo, "keeld ready",
       {{"node", cfg.node_name},
        {"socket", cfg.api_socket},
        {"docker_plugin", cfg.docker_plugin_socket.empty() ? "off" : cfg.docker_plugin_socket},
        {"pool", cfg.pool_dir},
        {"capacity", FormatSize(PoolCapacity(cfg))},
        {"module", info->version},
        {"recovered_left", std::to_string(*left)},
        {"repairs", std::to_string(*repairs)}});
  sd_notifyf(0, "READY=1\nSTATUS=serving %s\nMAINPID=%d", cfg.api_socket.c_str(), getpid());

  (*server)->Run(
      [&] {
        if (cluster_volumes) {
          cluster_volumes->RetryPending();
          cluster_volumes->Reconcile();
        }
        if (agent) {
          // The node record follows the pool (read here: the VolumeManager
          // belongs to this thread).
          auto u = volumes.Usage();
          if (u.ok())
            agent->SetCapacity(u->capacity, u->capacity > u->used ? u->capacity - u->used : 0);
        }
        auto now = std::chrono::steady_clock::now();
        if (!reconcile_needed && now < next_reconcile) return;
        reconcile_needed = false;
        next_reconcile = now + std::chrono::seconds(cfg.reconcile_interval_s);
        auto l = volumes.Recover();
        if (!l.ok()) KLOG(kError, "recovery failed", {{"error", l.status().ToString()}});
        auto r = volumes.Reconcile();
        if (!r.ok()) KLOG(kError, "reconcile failed", {{"error", r.status().ToString()}});
      },
      std::chrono::milliseconds(1000));

  sd_notify(0, "STOPPING=1");
  // The API socket first: a plugin request waiting for its reply gets the
  // connection closed at once, so the plugin's threads end promptly.
  server.value().reset();
  if (plugin_server) plugin_server->Stop();
  main_queue.Stop();        // bus handlers waiting for the main loop give up
  agent.reset();            // stops the bus, revokes the lease: others see this node leave at once
  cluster_volumes.reset();  // after the bus: its handlers call into it
  close(sfd);
  KLOG(kInfo, "keeld stopped");
  return 0;
}

}  // namespace keel
