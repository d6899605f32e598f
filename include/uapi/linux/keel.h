/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * keel.h - the one interface shared by keel.ko and its user-space managers.
 *
 * It defines the generic-netlink family "keel" (commands, attributes,
 * multicast groups, feature bits) and the on-disk replica metadata.  Both
 * sides include this file; nothing here may depend on kernel-only or
 * libc-only headers beyond <linux/types.h>.
 *
 * Compatibility rules: enum values are never renumbered or reused; new
 * commands and attributes are appended before the __KEEL_*_MAX sentinel and
 * bump KEEL_GENL_VERSION only when an existing meaning changes.
 */
#ifndef _UAPI_LINUX_KEEL_H
#define _UAPI_LINUX_KEEL_H

#include <linux/types.h>

#define KEEL_GENL_NAME		"keel"
#define KEEL_GENL_VERSION	1
#define KEEL_MCGRP_EVENTS	"events"

/* Volume ids are 0..KEEL_MAX_VOLUMES-1; volume N's disk is /dev/keelN. */
#define KEEL_MAX_VOLUMES	4096
#define KEEL_UUID_LEN		16
/* Largest volume: 2^50 bytes (1 PiB). */
#define KEEL_MAX_VOLUME_SIZE	(1ULL << 50)

/* Feature bits reported by KEEL_CMD_GET_INFO in KEEL_ATTR_FEATURES. */
enum keel_feature {
	KEEL_FEATURE_EVENTS	= (1ULL << 0),	/* "events" multicast group */
	KEEL_FEATURE_VOLUMES	= (1ULL << 1),	/* local volumes and disks */
	KEEL_FEATURE_DISCARD	= (1ULL << 2),	/* DISCARD / WRITE_ZEROES */
	KEEL_FEATURE_FLUSH_FUA	= (1ULL << 3),	/* FLUSH and FUA honoured */
	KEEL_FEATURE_REPLICATION = (1ULL << 4),	/* peers, targets, resync */
};

enum keel_cmd {
	KEEL_CMD_UNSPEC,
	/*
	 * GET_INFO: no request attributes.  Reply: VERSION, API_VERSION,
	 * FEATURES, KERNEL_RELEASE, OBJECTS, VOLUME_COUNT.
	 */
	KEEL_CMD_GET_INFO,
	/*
	 * VOLUME_CREATE: UUID, SIZE, BACKING_PATH required; VOLUME_ID (default:
	 * lowest free), BLOCK_SIZE (512 or 4096, default 512), FLAGS
	 * (KEEL_CREATE_F_*) optional.  Opens the backing file or block device
	 * and its metadata: fresh (all-zero) metadata is formatted, metadata of
	 * the same UUID is re-opened (the data persists), anything else is
	 * refused.  Reply: the volume's status (as VOLUME_GET).
	 */
	KEEL_CMD_VOLUME_CREATE,
	/*
	 * VOLUME_DELETE: VOLUME_ID; FLAGS may hold KEEL_DELETE_F_FORCE to
	 * detach an attached volume first (else -EBUSY).  Marks the metadata
	 * clean and closes the backing store; never removes it.
	 */
	KEEL_CMD_VOLUME_DELETE,
	/*
	 * VOLUME_ATTACH: VOLUME_ID.  Creates /dev/keel<id>.  Reply: the
	 * volume's status.  -EALREADY if attached.
	 */
	KEEL_CMD_VOLUME_ATTACH,
	/*
	 * VOLUME_DETACH: VOLUME_ID; FLAGS may hold KEEL_DETACH_F_FORCE to
	 * detach a disk that is open (else -EBUSY).  In-flight IO drains first.
	 */
	KEEL_CMD_VOLUME_DETACH,
	/*
	 * VOLUME_GET: with VOLUME_ID, one volume; as a dump (NLM_F_DUMP), all.
	 * Reply per volume: VOLUME_ID, UUID, SIZE, BLOCK_SIZE, BACKING_PATH,
	 * STATE, EPOCH, DATA_OFFSET, DEVICE_NAME and DEVICE_MAJOR/MINOR (when
	 * attached), and STATS (nested, KEEL_STAT_*).
	 */
	KEEL_CMD_VOLUME_GET,
	/*
	 * EVENT: sent by the module to the "events" group, never requested.
	 * EVENT_TYPE, VOLUME_ID, UUID; ERRNO and SECTOR for IO errors.
	 */
	KEEL_CMD_EVENT,
	/*
	 * VOLUME_SET: VOLUME_ID and any of: EPOCH (never lowered; persisted),
	 * SECRET (the cluster secret for the HMAC handshake; write-only: no
	 * reply or dump ever contains it), FREEZE_POLICY and FREEZE_TIMEOUT_MS
	 * (what writes do while a lost in-sync peer awaits PEER_OUTDATE),
	 * PEER_TIMEOUT_MS (ack and keepalive timeout), RESYNC_RATE (bytes/s,
	 * 0 = unlimited), DATA_DIGEST (u8: crc32c of every data payload).
	 * Reply: the volume's status.
	 */
	KEEL_CMD_VOLUME_SET,
	/*
	 * LISTEN_START: VOLUME_ID, ADDR, PORT.  Runs the volume's replica
	 * target: a TCP listener in the caller's network namespace that
	 * accepts the attached node's connection.  Needs a SECRET.
	 * LISTEN_STOP: VOLUME_ID; closes the listener and its connection.
	 */
	KEEL_CMD_LISTEN_START,
	KEEL_CMD_LISTEN_STOP,
	/*
	 * PEER_ADD: VOLUME_ID, PEER_SLOT, ADDR, PORT; PEER_NAME and PEER_SYNC
	 * (enum keel_peer_sync) optional.  The attached side of replication:
	 * connects (in the caller's namespace) to the replica target of the
	 * same volume on another node and keeps reconnecting.  Needs a SECRET.
	 * PEER_REMOVE: VOLUME_ID, PEER_SLOT; forgets the peer and its bitmap.
	 */
	KEEL_CMD_PEER_ADD,
	KEEL_CMD_PEER_REMOVE,
	/*
	 * PEER_OUTDATE: VOLUME_ID, PEER_SLOT, EPOCH.  User space's answer to
	 * KEEL_EVENT_PEER_LOST once the cluster state records the peer as
	 * out of sync under the new EPOCH (> the current one): the peer
	 * leaves the in-sync set and frozen writes complete without it.
	 */
	KEEL_CMD_PEER_OUTDATE,

	__KEEL_CMD_MAX,
};
#define KEEL_CMD_MAX (__KEEL_CMD_MAX - 1)

enum keel_attr {
	KEEL_ATTR_UNSPEC,
	KEEL_ATTR_PAD,			/* padding for 64-bit attributes */
	KEEL_ATTR_VERSION,		/* string: module version, "0.1.0" */
	KEEL_ATTR_API_VERSION,		/* u32: KEEL_GENL_VERSION of the module */
	KEEL_ATTR_FEATURES,		/* u64: mask of enum keel_feature */
	KEEL_ATTR_KERNEL_RELEASE,	/* string: utsname release */
	KEEL_ATTR_OBJECTS,		/* u64: live kernel objects (leak check) */
	KEEL_ATTR_VOLUME_COUNT,		/* u32: volumes that exist */
	KEEL_ATTR_VOLUME_ID,		/* u32: 0..KEEL_MAX_VOLUMES-1 */
	KEEL_ATTR_UUID,			/* binary, KEEL_UUID_LEN bytes */
	KEEL_ATTR_SIZE,			/* u64: bytes, multiple of block size */
	KEEL_ATTR_BLOCK_SIZE,		/* u32: 512 or 4096 */
	KEEL_ATTR_BACKING_PATH,		/* string: file or block device */
	KEEL_ATTR_FLAGS,		/* u32: KEEL_*_F_* of the command */
	KEEL_ATTR_STATE,		/* u32: mask of KEEL_STATE_* */
	KEEL_ATTR_EPOCH,		/* u64: volume epoch from metadata */
	KEEL_ATTR_DATA_OFFSET,		/* u64: byte offset of data in backing */
	KEEL_ATTR_DEVICE_NAME,		/* string: "keel3" */
	KEEL_ATTR_DEVICE_MAJOR,		/* u32 */
	KEEL_ATTR_DEVICE_MINOR,		/* u32 */
	KEEL_ATTR_STATS,		/* nested: enum keel_stat */
	KEEL_ATTR_EVENT_TYPE,		/* u32: enum keel_event_type */
	KEEL_ATTR_ERRNO,		/* s32: positive errno of a failed IO */
	KEEL_ATTR_SECTOR,		/* u64: 512-byte sector of a failed IO */
	KEEL_ATTR_SECRET,		/* binary, KEEL_SECRET_MIN..MAX bytes */
	KEEL_ATTR_FREEZE_POLICY,	/* u32: enum keel_freeze_policy */
	KEEL_ATTR_FREEZE_TIMEOUT_MS,	/* u32: FAIL policy: fail after this */
	KEEL_ATTR_PEER_TIMEOUT_MS,	/* u32: ack/keepalive timeout */
	KEEL_ATTR_RESYNC_RATE,		/* u64: bytes/s, 0 = unlimited */
	KEEL_ATTR_DATA_DIGEST,		/* u8: 1 = crc32c data digests */
	KEEL_ATTR_ADDR,			/* binary: IPv4 (4) or IPv6 (16) bytes */
	KEEL_ATTR_PORT,			/* u16: TCP port */
	KEEL_ATTR_PEER_SLOT,		/* u32: 0..KEEL_META_MAX_PEERS-1 */
	KEEL_ATTR_PEER_NAME,		/* string: peer node, for messages */
	KEEL_ATTR_PEER_SYNC,		/* u32: enum keel_peer_sync */
	KEEL_ATTR_PEERS,		/* nested: KEEL_ATTR_PEER, one per peer */
	KEEL_ATTR_PEER,			/* nested: enum keel_peer_attr */
	KEEL_ATTR_TARGET,		/* nested: enum keel_target_attr */
	KEEL_ATTR_SYNC_PERCENT,		/* u32: resync progress, 0..100 */
	KEEL_ATTR_MESSAGE,		/* string: why (refusals, failures) */
	KEEL_ATTR_GRANULARITY,		/* u32: bytes per dirty-bitmap bit */

	__KEEL_ATTR_MAX,
};
#define KEEL_ATTR_MAX (__KEEL_ATTR_MAX - 1)

/* KEEL_ATTR_FLAGS of VOLUME_CREATE */
#define KEEL_CREATE_F_FORCE_FORMAT	(1U << 0) /* format over foreign data */
#define KEEL_CREATE_F_DISKLESS		(1U << 1) /* no local replica */
#define KEEL_CREATE_F_ALL		(KEEL_CREATE_F_FORCE_FORMAT | \
					 KEEL_CREATE_F_DISKLESS)
/* KEEL_ATTR_FLAGS of VOLUME_DELETE */
#define KEEL_DELETE_F_FORCE		(1U << 0) /* detach first, even if open */
#define KEEL_DELETE_F_ALL		(KEEL_DELETE_F_FORCE)
/* KEEL_ATTR_FLAGS of VOLUME_DETACH */
#define KEEL_DETACH_F_FORCE		(1U << 0) /* even if the disk is open */
#define KEEL_DETACH_F_ALL		(KEEL_DETACH_F_FORCE)

/* KEEL_ATTR_STATE bits */
#define KEEL_STATE_ATTACHED	(1U << 0)	/* /dev/keelN exists */
#define KEEL_STATE_DIRECT_IO	(1U << 1)	/* backing opened O_DIRECT */
#define KEEL_STATE_FORMATTED	(1U << 2)	/* metadata written by this create */
#define KEEL_STATE_IO_ERROR	(1U << 3)	/* a backing IO has failed */
#define KEEL_STATE_DISKLESS	(1U << 4)	/* no local replica */
#define KEEL_STATE_LISTENING	(1U << 5)	/* replica target listens */
#define KEEL_STATE_FROZEN	(1U << 6)	/* writes wait for PEER_OUTDATE */

/* KEEL_ATTR_FREEZE_POLICY */
enum keel_freeze_policy {
	KEEL_FREEZE_HOLD,	/* writes wait for PEER_OUTDATE (default) */
	KEEL_FREEZE_FAIL,	/* after FREEZE_TIMEOUT_MS they fail (EIO) */
};

/* KEEL_ATTR_PEER_SYNC of PEER_ADD */
enum keel_peer_sync {
	/*
	 * The peer differs from us only where its slot's dirty bitmap says
	 * (nothing, for a fresh volume: it is in sync once connected).
	 */
	KEEL_PEER_SYNC_BITMAP,
	KEEL_PEER_SYNC_FULL,	/* a new replica: copy everything */
	/*
	 * Our own replica is the stale one and this peer is in sync: copy
	 * everything from it in the background; until a region is copied,
	 * reads of it are served by the peer.
	 */
	KEEL_PEER_SYNC_PULL,
};

/* What a person reads as a peer's state (KEEL_PEER_STATE). */
enum keel_peer_state {
	KEEL_PEER_STATE_CONNECTING,	/* in sync, not connected yet */
	KEEL_PEER_STATE_IN_SYNC,	/* connected, every write reaches it */
	KEEL_PEER_STATE_SYNCING,	/* connected, resync running */
	KEEL_PEER_STATE_LOST,		/* was in sync, dropped: writes frozen */
	KEEL_PEER_STATE_OUTDATED,	/* out of sync, not connected */
};

/* Attributes nested in KEEL_ATTR_PEER. */
enum keel_peer_attr {
	KEEL_PEER_UNSPEC,
	KEEL_PEER_PAD,
	KEEL_PEER_SLOT,		/* u32 */
	KEEL_PEER_NAME,		/* string */
	KEEL_PEER_ADDR,		/* binary: 4 or 16 bytes */
	KEEL_PEER_PORT,		/* u16 */
	KEEL_PEER_STATE,	/* u32: enum keel_peer_state */
	KEEL_PEER_IN_SYNC,	/* u8: its ack is required for writes */
	KEEL_PEER_CONNECTED,	/* u8 */
	KEEL_PEER_SYNC_PERCENT,	/* u32: 0..100 of the resync done */
	KEEL_PEER_DIRTY_BYTES,	/* u64: bytes its bitmap marks */
	KEEL_PEER_BYTES_SENT,	/* u64: write payload sent */
	KEEL_PEER_BYTES_ACKED,	/* u64: write payload acknowledged */
	KEEL_PEER_RESYNC_BYTES,	/* u64: resync payload acknowledged */
	KEEL_PEER_RESYNC_RATE,	/* u64: bytes/s over the last second */
	KEEL_PEER_EPOCH,	/* u64: the peer's epoch at handshake */
	KEEL_PEER_ERRNO,	/* s32: last connection error */
	KEEL_PEER_MESSAGE,	/* string: what the last error was */
	KEEL_PEER_CONNECTS,	/* u64: connections established */
	KEEL_PEER_PULLING,	/* u8: our replica is being copied from it */

	__KEEL_PEER_MAX,
};
#define KEEL_PEER_MAX (__KEEL_PEER_MAX - 1)

/* Attributes nested in KEEL_ATTR_TARGET (the replica target's side). */
enum keel_target_attr {
	KEEL_TARGET_UNSPEC,
	KEEL_TARGET_PAD,
	KEEL_TARGET_ADDR,	/* binary: 4 or 16 bytes */
	KEEL_TARGET_PORT,	/* u16 */
	KEEL_TARGET_CONNECTED,	/* u8: an attached node is connected */
	KEEL_TARGET_ACCEPTED,	/* u64: connections authenticated */
	KEEL_TARGET_REFUSED,	/* u64: connections refused */
	KEEL_TARGET_ERRNO,	/* s32: why the last one was refused */
	KEEL_TARGET_MESSAGE,	/* string: ditto, for people */
	KEEL_TARGET_BYTES_WRITTEN, /* u64: payload applied */

	__KEEL_TARGET_MAX,
};
#define KEEL_TARGET_MAX (__KEEL_TARGET_MAX - 1)

enum keel_event_type {
	KEEL_EVENT_UNSPEC,
	KEEL_EVENT_VOLUME_CREATED,
	KEEL_EVENT_VOLUME_DELETED,
	KEEL_EVENT_VOLUME_ATTACHED,
	KEEL_EVENT_VOLUME_DETACHED,
	KEEL_EVENT_IO_ERROR,
	/* Replication (PEER_SLOT set for the peer ones). */
	KEEL_EVENT_PEER_CONNECTED,	/* handshake done */
	KEEL_EVENT_PEER_REFUSED,	/* handshake failed: ERRNO, MESSAGE */
	KEEL_EVENT_PEER_LOST,		/* in-sync peer gone: answer OUTDATE */
	KEEL_EVENT_PEER_OUTDATED,	/* PEER_OUTDATE done, IO goes on */
	KEEL_EVENT_PEER_DISCONNECTED,	/* an out-of-sync peer went away */
	KEEL_EVENT_SYNC_STARTED,
	KEEL_EVENT_SYNC_PROGRESS,	/* SYNC_PERCENT, about once a second */
	KEEL_EVENT_PEER_IN_SYNC,	/* resync done (or nothing to do) */
	KEEL_EVENT_FREEZE_TIMEOUT,	/* FAIL policy: frozen writes failed */
	KEEL_EVENT_TARGET_CONNECTED,	/* our replica target accepted one */
	KEEL_EVENT_TARGET_REFUSED,	/* ... refused one: ERRNO, MESSAGE */

	__KEEL_EVENT_MAX,
};
#define KEEL_EVENT_MAX (__KEEL_EVENT_MAX - 1)

/*
 * Latency histogram of every completed request (all operations, failed ones
 * included), from dispatch to completion: bucket i counts requests that took less than
 * 2^(i+1) microseconds (bucket 0: < 2 us); the last bucket has the rest.
 */
#define KEEL_LAT_BUCKETS	24

/* Attributes nested in KEEL_ATTR_STATS (all u64 unless noted). */
enum keel_stat {
	KEEL_STAT_UNSPEC,
	KEEL_STAT_PAD,
	KEEL_STAT_READS,		/* completed read requests */
	KEEL_STAT_WRITES,		/* completed write requests */
	KEEL_STAT_READ_BYTES,
	KEEL_STAT_WRITE_BYTES,
	KEEL_STAT_FLUSHES,		/* FLUSH requests (empty or preflush) */
	KEEL_STAT_FUA,			/* writes with FUA */
	KEEL_STAT_DISCARDS,
	KEEL_STAT_WRITE_ZEROES,
	KEEL_STAT_ERRORS,		/* requests failed with an error */
	KEEL_STAT_IN_FLIGHT,		/* requests issued, not yet completed */
	KEEL_STAT_BACKING_SYNCS,	/* fsyncs issued to the backing store */
	KEEL_STAT_LATENCY_US,		/* binary: __u64[KEEL_LAT_BUCKETS] */

	__KEEL_STAT_MAX,
};
#define KEEL_STAT_MAX (__KEEL_STAT_MAX - 1)

/*
 * Longest string attribute the module sends, terminator included, except
 * KEEL_ATTR_BACKING_PATH, which may be up to PATH_MAX (4096) bytes.
 */
#define KEEL_STRING_MAX		65

/*
 * On-disk replica metadata (docs/on-disk-format.md).  The backing store
 * starts with one 4 KiB metadata block whose first bytes are this
 * superblock, all little-endian, protected by crc32c over the bytes before
 * the crc field.  Per-peer dirty bitmaps follow at bitmap_offset; the data
 * area starts at data_offset (a multiple of 1 MiB).
 */
#define KEEL_META_MAGIC		0x4c45454bU	/* bytes "KEEL" on disk */
#define KEEL_META_VERSION	1
#define KEEL_META_BLOCK		4096
#define KEEL_META_MAX_PEERS	7
#define KEEL_META_GRANULARITY	65536		/* bytes per dirty-bitmap bit */
#define KEEL_META_GRANULARITY_MIN 4096
#define KEEL_META_GRANULARITY_MAX (16U << 20)
#define KEEL_META_ALIGN		(1U << 20)	/* data area alignment */

/* superblock flags */
#define KEEL_META_F_OPEN	(1U << 0)	/* in use: not closed cleanly */

struct keel_meta_sb {
	__le32 magic;
	__le32 version;
	__le32 sb_size;			/* sizeof(struct keel_meta_sb) */
	__le32 flags;			/* KEEL_META_F_* */
	__u8   uuid[KEEL_UUID_LEN];
	__le64 size;			/* data bytes */
	__le32 block_size;
	__le32 granularity;		/* bytes per dirty-bitmap bit */
	__le64 epoch;
	__le64 bitmap_offset;		/* bytes from start of backing */
	__le32 bitmap_bytes;		/* per peer, multiple of 4096 */
	__le32 max_peers;
	__le64 data_offset;		/* bytes from start of backing */
	__le64 created_sec;		/* when formatted (unix seconds) */
	__u8   reserved[164];
	__le32 crc;			/* CRC-32C (Castagnoli) of the bytes before */
};

/*
 * The wire protocol between an attached node (the initiator) and a replica
 * target, over TCP (docs/wire-protocol.md).  Every message is a struct
 * keel_wire_hdr, little-endian, followed by hdr.length payload bytes.
 *
 * Handshake: HELLO (initiator: versions, features, uuid, size, nonce) ->
 * CHALLENGE (target: chosen version, features, its epoch, nonce, its MAC)
 * -> AUTH (initiator: its MAC) -> WELCOME (target) or REFUSE (either side).
 * MACs are HMAC-SHA256 keyed with the cluster secret over struct
 * keel_wire_transcript, with a different label per side, so neither can be
 * replayed or reflected as the other.  After WELCOME the initiator sends
 * WRITE, FLUSH, DISCARD, WRITE_ZEROES, READ and PING; the target answers
 * each with one ACK (same seq; READ data as payload) or PONG.
 */
#define KEEL_WIRE_MAGIC		0x4557524bU	/* bytes "KRWE" on the wire */
#define KEEL_WIRE_VERSION	1
#define KEEL_WIRE_MAX_PAYLOAD	(4U << 20)	/* one request, 4 MiB */
#define KEEL_WIRE_NONCE_LEN	32
#define KEEL_WIRE_MAC_LEN	32
#define KEEL_SECRET_MIN		16
#define KEEL_SECRET_MAX		64

/* Features offered in HELLO, accepted in CHALLENGE. */
#define KEEL_WIRE_FEAT_DIGEST	(1ULL << 0)	/* crc32c data digests */

enum keel_wire_type {
	KEEL_WIRE_HELLO = 1,	/* payload: struct keel_wire_hello */
	KEEL_WIRE_CHALLENGE,	/* payload: struct keel_wire_challenge */
	KEEL_WIRE_AUTH,		/* payload: struct keel_wire_auth */
	KEEL_WIRE_WELCOME,	/* no payload; hdr.epoch: the target's */
	KEEL_WIRE_REFUSE,	/* payload: struct keel_wire_refuse */
	KEEL_WIRE_WRITE,	/* payload: hdr.size bytes at hdr.offset */
	KEEL_WIRE_FLUSH,	/* make every acked write durable */
	KEEL_WIRE_DISCARD,	/* hdr.offset, hdr.size */
	KEEL_WIRE_WRITE_ZEROES,	/* hdr.offset, hdr.size */
	KEEL_WIRE_READ,		/* hdr.offset, hdr.size; ACK carries data */
	KEEL_WIRE_ACK,		/* hdr.seq of the request, hdr.status */
	KEEL_WIRE_PING,
	KEEL_WIRE_PONG,
};

/* hdr.flags */
#define KEEL_WIRE_F_FUA		(1U << 0)	/* WRITE: durable before ACK */
#define KEEL_WIRE_F_DIGEST	(1U << 1)	/* hdr.digest covers payload */
#define KEEL_WIRE_F_RESYNC	(1U << 2)	/* WRITE: resync, not the app */

struct keel_wire_hdr {
	__le32 magic;		/* KEEL_WIRE_MAGIC */
	__le16 type;		/* enum keel_wire_type */
	__le16 flags;		/* KEEL_WIRE_F_* */
	__le32 length;		/* payload bytes that follow */
	__le32 size;		/* bytes the operation covers */
	__le64 seq;		/* request number, echoed by its ACK */
	__le64 offset;		/* byte offset in the volume's data */
	__le64 epoch;		/* sender's volume epoch */
	__le32 digest;		/* crc32c of the payload (F_DIGEST) */
	__le32 status;		/* ACK, REFUSE: 0 or a positive errno */
};
#define KEEL_WIRE_HDR_SIZE	48

struct keel_wire_hello {
	__le32 version_min;
	__le32 version_max;
	__le64 features;	/* KEEL_WIRE_FEAT_* wanted */
	__u8   uuid[KEEL_UUID_LEN];	/* the volume */
	__le64 size;		/* its data bytes */
	__le32 block_size;
	__le32 reserved;
	__u8   nonce[KEEL_WIRE_NONCE_LEN];
};
#define KEEL_WIRE_HELLO_SIZE	80

struct keel_wire_challenge {
	__le32 version;		/* chosen */
	__le32 reserved;
	__le64 features;	/* accepted */
	__le64 epoch;		/* the target's */
	__u8   nonce[KEEL_WIRE_NONCE_LEN];
	__u8   mac[KEEL_WIRE_MAC_LEN];	/* over the TARGET transcript */
};
#define KEEL_WIRE_CHALLENGE_SIZE 88

struct keel_wire_auth {
	__u8   mac[KEEL_WIRE_MAC_LEN];	/* over the INITIATOR transcript */
};
#define KEEL_WIRE_AUTH_SIZE	32

/* Why a handshake was refused (struct keel_wire_refuse.reason). */
enum keel_wire_refusal {
	KEEL_REFUSE_PROTOCOL = 1,	/* malformed or unexpected message */
	KEEL_REFUSE_VERSION,		/* no common protocol version */
	KEEL_REFUSE_VOLUME,		/* uuid, size or block size differ */
	KEEL_REFUSE_AUTH,		/* wrong MAC: secrets differ */
	KEEL_REFUSE_STALE_EPOCH,	/* the initiator's epoch is too low */
	KEEL_REFUSE_BUSY,		/* another initiator is connected */
};

struct keel_wire_refuse {
	__le32 reason;		/* enum keel_wire_refusal */
	__le32 reserved;
	char   message[56];	/* NUL-terminated, for the log */
};
#define KEEL_WIRE_REFUSE_SIZE	64

/*
 * What the MACs cover: label || nonce_i || nonce_t || uuid || epoch_i ||
 * epoch_t, where label is "keel-target-v1" for the target's MAC and
 * "keel-initiator-v1" for the initiator's, NUL-padded to 32 bytes,
 * nonce_i/epoch_i come from HELLO (and its header) and nonce_t/epoch_t
 * from CHALLENGE.
 */
struct keel_wire_transcript {
	char   label[32];
	__u8   nonce_i[KEEL_WIRE_NONCE_LEN];
	__u8   nonce_t[KEEL_WIRE_NONCE_LEN];
	__u8   uuid[KEEL_UUID_LEN];
	__le64 epoch_i;
	__le64 epoch_t;
};
#define KEEL_WIRE_TRANSCRIPT_SIZE 128
#define KEEL_WIRE_LABEL_TARGET	"keel-target-v1"
#define KEEL_WIRE_LABEL_INITIATOR "keel-initiator-v1"

#endif /* _UAPI_LINUX_KEEL_H */
