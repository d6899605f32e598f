/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel.h - internal declarations shared by the files of keel.ko.
 *
 * Objects: a struct keel_volume is one replicated volume on this node.  It
 * holds a local replica (struct keel_backing: the backing file or block
 * device and its metadata; none if diskless), while attached a disk
 * (/dev/keelN), on the attached node its peers (struct keel_peer: the other
 * replicas) and elsewhere a replica target (struct keel_target); see
 * keel_repl.h.
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
#include "keel_repl.h"

#define KEEL_FEATURES_SUPPORTED	((u64)(KEEL_FEATURE_EVENTS |		\
				       KEEL_FEATURE_VOLUMES |		\
				       KEEL_FEATURE_DISCARD |		\
				       KEEL_FEATURE_FLUSH_FUA |		\
				       KEEL_FEATURE_REPLICATION))

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

	/* Replication (keel_repl.h). */
	bool diskless;			/* no local replica */
	spinlock_t repl_lock;		/* see keel_repl.h */
	struct keel_order order;	/* under repl_lock */
	struct keel_peer *peers[KEEL_META_MAX_PEERS]; /* under repl_lock */
	unsigned int npeers;		/* under repl_lock */
	unsigned int npulling;		/* peers we pull from; under repl_lock */
	struct llist_head repl_new;	/* requests for keel_repl_work */
	struct llist_head repl_ready;	/* ... admitted by vol->order */
	struct work_struct repl_work;
	struct mutex meta_mutex;	/* metadata area writes */
	u64 epoch;			/* under meta_mutex; read racily */
	struct keel_target *target;	/* under keel_lock */
	/* Settings (VOLUME_SET), under keel_lock; read racily by IO. */
	u8 secret[KEEL_SECRET_MAX];
	u32 secret_len;
	u32 freeze_policy;
	u32 freeze_timeout_ms;
	u32 peer_timeout_ms;
	u64 resync_rate;
	bool digest;
};

/* keel_volume.flags bits */
#define KEEL_VOL_IO_ERROR	0	/* a backing IO has failed */
#define KEEL_VOL_NO_FREEZE	1	/* detaching: fail writes, never freeze */

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
	struct llist_node node;		/* on keel_queue.pending, repl lists */
	struct kiocb iocb;
	struct bio_vec *bvec;		/* own copy of the request's bio_vecs */
	unsigned int nr_bvec;
	atomic_t parts;			/* submitter + local IO + each peer */
	long ret;			/* local result: bytes or -errno */
	int peer_err;			/* a required peer part failed */
	u64 start_ns;
	struct work_struct work;	/* FLUSH, DISCARD, WRITE_ZEROES */
	struct keel_volume *vol;
	bool ordered;			/* in vol->order (iv) */
	struct keel_interval iv;
	struct keel_preq preq[KEEL_META_MAX_PEERS];
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
bool keel_volume_frozen(struct keel_volume *vol);

#define KEEL_PEER_TIMEOUT_MS_DEFAULT	5000
#define KEEL_FREEZE_TIMEOUT_MS_DEFAULT	30000
void keel_volume_read_stats(struct keel_volume *vol, struct keel_stats *sum,
			    u64 *in_flight);

/* keel_backing.c */
int keel_backing_open(struct keel_backing *b, const char *path,
		      u32 block_size, struct netlink_ext_ack *extack);
int keel_backing_load(struct keel_backing *b, const struct keel_meta *want,
		      u32 flags, bool *formatted,
		      struct netlink_ext_ack *extack);
void keel_backing_close(struct keel_backing *b);
int keel_backing_rw(struct keel_volume *vol, struct keel_rq *cmd,
		    struct request *rq);
int keel_rq_map(struct keel_rq *cmd, struct request *rq);
void keel_rq_put(struct keel_rq *cmd);
int keel_backing_pread(struct keel_backing *b, struct bio_vec *bvec,
		       unsigned int nr, size_t len, loff_t pos);
int keel_backing_pwrite(struct keel_backing *b, struct bio_vec *bvec,
			unsigned int nr, size_t len, loff_t pos, int rwf);
int keel_meta_store_epoch(struct keel_volume *vol, u64 epoch);
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
/* A peer event: @slot (or -1), @err, @percent (or -1), @msg (or NULL). */
void keel_peer_event(struct keel_volume *vol, u32 type, int slot, int err,
		     int percent, const char *msg);
void keel_events_exit(void);

/* keel_netlink.c */
int keel_netlink_init(void);
void keel_netlink_exit(void);
struct keel_event_info {
	u32 type;
	u32 id;
	u8 uuid[KEEL_UUID_LEN];
	int err;
	u64 sector;
	int slot;		/* -1: none */
	int percent;		/* -1: none */
	u64 epoch;
	char msg[KEEL_STRING_MAX];
};
int keel_nl_send_event(struct net *net, const struct keel_event_info *ev);

#endif /* KEEL_H */
