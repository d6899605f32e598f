/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel.h - internal declarations shared by the files of keel.ko.
 *
 * Objects: a struct keel_volume is one replicated volume on this node.  It
 * holds a local replica (struct keel_backing: the backing file or block
 * device and its metadata) and, while attached, a disk (/dev/keelN, struct
 * keel_disk).  Peers join it in the replication work.
 *
 * Locking: keel_lock (a mutex) serializes every control operation: the
 * volume table, create/delete, attach/detach and their state.  The IO path
 * takes no lock of ours: a volume and its backing store cannot go away while
 * its disk exists, and detach drains the disk before it goes.
 */
#ifndef KEEL_H
#define KEEL_H

#include <linux/blk-mq.h>
#include <linux/llist.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>

#include "keel_compat.h"
#include "keel_meta.h"

#define KEEL_FEATURES_SUPPORTED	((u64)(KEEL_FEATURE_EVENTS |		\
				       KEEL_FEATURE_VOLUMES |		\
				       KEEL_FEATURE_DISCARD |		\
				       KEEL_FEATURE_FLUSH_FUA))

/* Live-object counter for the leak check (GET_INFO reports it). */
extern atomic_long_t keel_objects;
static inline void keel_obj_get(void) { atomic_long_inc(&keel_objects); }
static inline void keel_obj_put(void) { atomic_long_dec(&keel_objects); }

/* Serializes all control operations (see above). */
extern struct mutex keel_lock;
/* Delivers events (unbound). */
extern struct workqueue_struct *keel_wq;
/* Submit requests to the backing store (both unbound; see design doc). */
extern struct workqueue_struct *keel_io_wq;
extern struct workqueue_struct *keel_io_fast_wq;

struct keel_stats {
	u64 reads;
	u64 writes;
	u64 read_bytes;
	u64 write_bytes;
	u64 flushes;
	u64 fua;
	u64 discards;
	u64 write_zeroes;
	u64 errors;
	u64 backing_syncs;
	long in_flight;		/* may go negative per CPU; the sum is right */
	u64 latency[KEEL_LAT_BUCKETS];
};

/* The local replica: an open backing file or block device. */
struct keel_backing {
	struct file *file;
	char *path;
	bool direct;		/* opened O_DIRECT */
	bool can_punch;		/* fallocate(PUNCH_HOLE) works */
	u32 dio_align;		/* direct-IO alignment of the backing store */
	u32 fs_block;		/* allocation unit, for discard granularity */
	bool loaded;		/* metadata read and marked open by us */
	gfp_t old_gfp_mask;	/* mapping gfp mask before we restricted it */
	struct keel_meta meta;	/* superblock as on disk; under keel_lock */
};

struct keel_volume {
	u32 id;
	u8 uuid[KEEL_UUID_LEN];
	u64 size;
	u32 block_size;
	struct net *net;		/* creator's namespace: gets events */
	struct keel_backing backing;
	bool formatted;			/* this create wrote fresh metadata */
	unsigned long flags;		/* KEEL_VOL_* bits, atomic */

	/* Under keel_lock: the disk, when attached. */
	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;

	struct keel_stats __percpu *stats;
};

/* keel_volume.flags bits */
#define KEEL_VOL_IO_ERROR	0	/* a backing IO has failed */

/*
 * Per hardware queue: reads and writes waiting for the submission worker.
 * queue_rq adds to @pending (lock-free); keel_submit_work() takes them all
 * and submits them in order under one plug.
 */
struct keel_queue {
	struct llist_head pending;
	struct work_struct work;	/* on keel_io_wq: bursts */
	struct work_struct work_fast;	/* on keel_io_fast_wq: a lone request */
	atomic_t in_flight;		/* dispatched reads and writes */
	struct keel_volume *vol;
};

/* Per-request context (blk-mq pdu). */
struct keel_rq {
	struct llist_node node;		/* on keel_queue.pending */
	struct kiocb iocb;
	struct bio_vec *bvec;		/* own copy when the request has >1 bio */
	atomic_t ref;			/* submitter + completion */
	long ret;
	u64 start_ns;
	struct work_struct work;	/* FLUSH, DISCARD, WRITE_ZEROES */
	struct keel_volume *vol;
};

/* keel_volume.c */
int keel_volume_create(const struct keel_meta *want, u32 id, bool pick_id,
		       const char *path, u32 flags, struct net *net,
		       struct keel_volume **out, struct netlink_ext_ack *extack);
int keel_volume_delete(struct keel_volume *vol, bool force,
		       struct netlink_ext_ack *extack);
struct keel_volume *keel_volume_find(u32 id);
struct keel_volume *keel_volume_next(u32 *id);
u32 keel_volume_count(void);
u32 keel_volume_state(struct keel_volume *vol);
void keel_volume_read_stats(struct keel_volume *vol, struct keel_stats *sum,
			    u64 *in_flight);

/* keel_backing.c */
int keel_backing_open(struct keel_backing *b, const char *path,
		      u32 block_size, struct netlink_ext_ack *extack);
int keel_backing_load(struct keel_backing *b, const struct keel_meta *want,
		      u32 flags, bool *formatted,
		      struct netlink_ext_ack *extack);
void keel_backing_close(struct keel_backing *b);
void keel_backing_work(struct work_struct *work);
void keel_submit_work(struct work_struct *work);
void keel_submit_fast_work(struct work_struct *work);

/* keel_disk.c */
int keel_disk_init(void);
void keel_disk_exit(void);
int keel_disk_attach(struct keel_volume *vol, struct netlink_ext_ack *extack);
int keel_disk_detach(struct keel_volume *vol, bool force,
		     struct netlink_ext_ack *extack);
extern int keel_major;

/* keel_events.c */
void keel_event(struct keel_volume *vol, u32 type, int err, u64 sector,
		gfp_t gfp);
void keel_events_exit(void);

/* keel_netlink.c */
int keel_netlink_init(void);
void keel_netlink_exit(void);
int keel_nl_send_event(struct net *net, u32 type, u32 id, const u8 *uuid,
		       int err, u64 sector);

#endif /* KEEL_H */
