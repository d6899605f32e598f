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
};

struct CreateVolumeRequest {
  Uuid uuid;
  uint64_t size = 0;        // bytes, a multiple of the block size
  uint32_t block_size = 0;  // 512 or 4096; 0: the module's default (512)
  std::string backing_path;
  std::optional<uint32_t> id;  // default: the lowest free id
  bool force_format = false;   // format over metadata of another volume
};

// One message of the "events" multicast group (KEEL_CMD_EVENT).
struct KernelEvent {
  // enum keel_event_type; kept as a number because a newer module may send
  // types this build does not know.
  uint32_t type = KEEL_EVENT_UNSPEC;
  uint32_t volume_id = 0;
  Uuid uuid;            // nil if the module sent none
  int32_t error = 0;    // positive errno of a failed IO (KEEL_EVENT_IO_ERROR)
  uint64_t sector = 0;  // 512-byte sector of a failed IO
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
};

// The "events" multicast group of keel.ko, for whoever wants to watch.
class KernelEventSource {
 public:
  virtual ~KernelEventSource() = default;
  // The next event, or nullopt if none arrives within `timeout`.  ENOBUFS
  // means events were lost (the reader fell behind); reading may go on.
  virtual Result<std::optional<KernelEvent>> Next(std::chrono::milliseconds timeout) = 0;
};

// enum keel_event_type as a word: "volume-created", ..., "io-error";
// a type this build does not know is "event-N".
std::string EventTypeName(uint32_t type);

}  // namespace keel
