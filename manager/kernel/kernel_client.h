// KernelClient: what keeld and keelsetup need from keel.ko.  The production
// implementation speaks generic netlink (netlink_client.h); logic above it
// is tested against fakes of this interface.
#pragma once

#include <linux/keel.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/common/uuid.h"

namespace keel {

struct ModuleInfo {
  std::string version;                   // keel.ko's version, "0.1.0"
  uint32_t api_version = 0;              // KEEL_GENL_VERSION the module speaks
  uint64_t features = 0;                 // mask of enum keel_feature
  std::string kernel_release;            // uname -r of the kernel it runs in
  std::optional<uint64_t> objects;       // live kernel objects (absent: older module)
  std::optional<uint32_t> volume_count;  // volumes that exist (absent: older module)
};

// Counters of one volume's disk since it was created (KEEL_ATTR_STATS).
struct VolumeStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t flushes = 0;
  uint64_t fua = 0;
  uint64_t discards = 0;
  uint64_t write_zeroes = 0;
  uint64_t errors = 0;
  uint64_t in_flight = 0;
  uint64_t backing_syncs = 0;
  // Bucket i: requests that took < 2^(i+1) us; the last bucket has the rest.
  std::array<uint64_t, KEEL_LAT_BUCKETS> latency_us{};
};

// One peer of an attached volume (KEEL_ATTR_PEER, nested KEEL_PEER_*).
// Counters the module did not send are 0; optional fields are absent.
struct PeerStatus {
  uint32_t slot = 0;
  std::string name;
  std::string addr;  // "10.214.0.2" or "fd00::2"; empty if not sent
  uint16_t port = 0;
  // enum keel_peer_state; a number because a newer module may send states
  // this build does not know.
  uint32_t state = KEEL_PEER_STATE_CONNECTING;
  bool in_sync = false;  // its ack is required for writes
  bool connected = false;
  std::optional<uint32_t> sync_percent;  // 0..100 of the resync done
  uint64_t dirty_bytes = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_acked = 0;
  uint64_t resync_bytes = 0;
  uint64_t resync_rate = 0;       // bytes/s over the last second
  std::optional<uint64_t> epoch;  // the peer's epoch at handshake
  int32_t error = 0;              // last connection error, positive errno
  std::string message;            // what that error was
  uint64_t connects = 0;
  bool pulling = false;  // our replica is being copied from this peer
};

// The replica target of a volume (KEEL_ATTR_TARGET, nested KEEL_TARGET_*).
struct TargetStatus {
  std::string addr;  // the listening address
  uint16_t port = 0;
  bool connected = false;  // an attached node is connected
  uint64_t accepted = 0;   // connections authenticated
  uint64_t refused = 0;    // connections refused
  int32_t error = 0;       // why the last one was refused, positive errno
  std::string message;     // ditto, for people
  uint64_t bytes_written = 0;
};

// One volume as keel.ko reports it (VOLUME_GET, and the replies of
// VOLUME_CREATE and VOLUME_ATTACH).
struct VolumeStatus {
  uint32_t id = 0;
  Uuid uuid;
  uint64_t size = 0;  // bytes
  uint32_t block_size = 0;
  std::string backing_path;
  uint32_t state = 0;  // mask of KEEL_STATE_*
  uint64_t epoch = 0;
  uint64_t data_offset = 0;  // bytes from the start of the backing store
  std::string device_name;   // "keel3"; empty when detached
  uint32_t major = 0;        // 0 when detached
  uint32_t minor = 0;
  VolumeStats stats;

  // Replication settings (VOLUME_SET); absent when the module did not report
  // them (an older module, or one without KEEL_FEATURE_REPLICATION).
  std::optional<uint32_t> freeze_policy;  // enum keel_freeze_policy
  std::optional<uint32_t> freeze_timeout_ms;
  std::optional<uint32_t> peer_timeout_ms;
  std::optional<uint64_t> resync_rate;  // bytes/s, 0 = unlimited
  std::optional<bool> data_digest;
  std::optional<uint32_t> granularity;  // bytes per dirty-bitmap bit
  // The attached side: one entry per peer (KEEL_ATTR_PEERS), by slot as sent.
  std::vector<PeerStatus> peers;
  // The replica target's side (KEEL_ATTR_TARGET), when it listens.
  std::optional<TargetStatus> target;
};

struct CreateVolumeRequest {
  Uuid uuid;
  uint64_t size = 0;        // bytes, a multiple of the block size
  uint32_t block_size = 0;  // 512 or 4096; 0: the module's default (512)
  std::string backing_path;
  std::optional<uint32_t> id;  // default: the lowest free id
  bool force_format = false;   // format over metadata of another volume
  // No local replica (KEEL_CREATE_F_DISKLESS): backing_path is not sent.
  bool diskless = false;
  std::optional<uint32_t> granularity;  // bytes per dirty-bitmap bit
};

// VOLUME_SET: only the fields that are set are sent.
struct SetVolumeRequest {
  std::optional<uint64_t> epoch;               // never lowered by the module
  std::optional<std::vector<uint8_t>> secret;  // KEEL_SECRET_MIN..MAX bytes
  std::optional<uint32_t> freeze_policy;       // enum keel_freeze_policy
  std::optional<uint32_t> freeze_timeout_ms;
  std::optional<uint32_t> peer_timeout_ms;
  std::optional<uint64_t> resync_rate;  // bytes/s, 0 = unlimited
  std::optional<bool> data_digest;
};

// PEER_ADD: how the new peer is brought in sync.
enum class PeerSync : uint32_t {
  kBitmap = KEEL_PEER_SYNC_BITMAP,  // only what its dirty bitmap marks
  kFull = KEEL_PEER_SYNC_FULL,      // a new replica: copy everything
  kPull = KEEL_PEER_SYNC_PULL,      // our replica is stale: copy everything from it
};

// One message of the "events" multicast group (KEEL_CMD_EVENT).
struct KernelEvent {
  // enum keel_event_type; kept as a number because a newer module may send
  // types this build does not know.
  uint32_t type = KEEL_EVENT_UNSPEC;
  uint32_t volume_id = 0;
  Uuid uuid;                             // nil if the module sent none
  int32_t error = 0;                     // positive errno (IO_ERROR, PEER_REFUSED, ...); 0 if none
  uint64_t sector = 0;                   // 512-byte sector of a failed IO
  std::optional<uint32_t> peer_slot;     // the peer events
  std::optional<uint32_t> sync_percent;  // SYNC_PROGRESS
  std::optional<std::string> message;    // refusals, failures
  std::optional<uint64_t> epoch;
};

class KernelClient {
 public:
  virtual ~KernelClient() = default;
  virtual Result<ModuleInfo> GetInfo() = 0;

  // Opens (formatting if fresh) a volume's backing store; no disk yet.
  virtual Result<VolumeStatus> CreateVolume(const CreateVolumeRequest& req) = 0;
  // Closes a volume; force detaches its disk first.  The backing store stays.
  virtual Status DeleteVolume(uint32_t id, bool force) = 0;
  // Creates /dev/keel<id>.
  virtual Result<VolumeStatus> AttachVolume(uint32_t id) = 0;
  // Removes /dev/keel<id>; force even if it is open.
  virtual Status DetachVolume(uint32_t id, bool force) = 0;
  virtual Result<VolumeStatus> GetVolume(uint32_t id) = 0;
  // Every volume, ordered as the module lists them.
  virtual Result<std::vector<VolumeStatus>> ListVolumes() = 0;

  // Replication.  These have defaults that fail with ENOTSUP so that fakes
  // written before them keep compiling; NetlinkKernelClient implements all.
  // Addresses are IPv4 or IPv6 text ("10.214.0.2", "fd00::2").
  //
  // Changes the settings that are set in `req`; replies with the status.
  virtual Result<VolumeStatus> SetVolume(uint32_t id, const SetVolumeRequest& req);
  // Runs the volume's replica target on addr:port (needs a secret).
  virtual Status ListenStart(uint32_t id, const std::string& addr, uint16_t port);
  virtual Status ListenStop(uint32_t id);
  // Connects the attached volume to the replica target at addr:port as peer
  // `slot` (0..KEEL_META_MAX_PEERS-1); `name` (may be empty) is for messages.
  virtual Status PeerAdd(uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
                         const std::string& name, PeerSync sync);
  virtual Status PeerRemove(uint32_t id, uint32_t slot);
  // The answer to PEER_LOST: the peer is out of sync under `epoch`.
  virtual Status PeerOutdate(uint32_t id, uint32_t slot, uint64_t epoch);
};

// The "events" multicast group of keel.ko, for whoever wants to watch.
class KernelEventSource {
 public:
  virtual ~KernelEventSource() = default;
  // The next event, or nullopt if none arrives within `timeout`.  ENOBUFS
  // means events were lost (the reader fell behind); reading may go on.
  virtual Result<std::optional<KernelEvent>> Next(std::chrono::milliseconds timeout) = 0;
};

// enum keel_event_type as a word: "volume-created", ..., "io-error",
// "peer-connected", ..., "target-refused"; a type this build does not know
// is "event-N".
std::string EventTypeName(uint32_t type);
// enum keel_peer_state: "connecting", "in-sync", "syncing", "lost",
// "outdated"; unknown: "state-N".
std::string PeerStateName(uint32_t state);
// enum keel_freeze_policy: "hold", "fail"; unknown: "policy-N".
std::string FreezePolicyName(uint32_t policy);
// "hold" or "fail" to KEEL_FREEZE_*; EINVAL otherwise.
Result<uint32_t> ParseFreezePolicy(const std::string& name);

// An IPv4 or IPv6 address in text ("10.214.0.2", "fd00::2", "[fd00::2]")
// as the 4 or 16 network-order bytes of KEEL_ATTR_ADDR; EINVAL otherwise.
Result<std::vector<uint8_t>> ParseAddress(const std::string& text);
// 4 or 16 bytes as text ("10.214.0.2", "fd00::2"); other lengths as hex
// with a "?" prefix, so nothing is hidden.
std::string FormatAddress(const uint8_t* bytes, size_t len);
// "10.214.0.2:7800", "[fd00::2]:7800".
std::string FormatEndpoint(const std::string& addr, uint16_t port);

}  // namespace keel
