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

	__KEEL_ATTR_MAX,
};
#define KEEL_ATTR_MAX (__KEEL_ATTR_MAX - 1)

/* KEEL_ATTR_FLAGS of VOLUME_CREATE */
#define KEEL_CREATE_F_FORCE_FORMAT	(1U << 0) /* format over foreign data */
#define KEEL_CREATE_F_ALL		(KEEL_CREATE_F_FORCE_FORMAT)
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

enum keel_event_type {
	KEEL_EVENT_UNSPEC,
	KEEL_EVENT_VOLUME_CREATED,
	KEEL_EVENT_VOLUME_DELETED,
	KEEL_EVENT_VOLUME_ATTACHED,
	KEEL_EVENT_VOLUME_DETACHED,
	KEEL_EVENT_IO_ERROR,

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

#endif /* _UAPI_LINUX_KEEL_H */
