/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_repl.h - replication inside keel.ko: peers (the attached node's
 * connections to the other replicas), the replica target (the other
 * replicas' side), resync, and how a request of a replicated volume is
 * split into parts.  docs/design-replication.md explains the whole.
 *
 * Locking: vol->repl_lock (a spinlock, irq-safe: IO completes in any
 * context) protects vol->order, vol->peers[] and every peer's lists and
 * state flags.  A peer's socket belongs to its thread (keel_peer.c); the
 * sender uses it under peer->send_mutex.  vol->meta_mutex serializes
 * writes to the metadata area (superblock, bitmaps).
 */
#ifndef KEEL_REPL_H
#define KEEL_REPL_H

#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/wait.h>

#include "keel_order.h"
#include "keel_wire.h"

struct keel_volume;
struct keel_peer;
struct keel_rq;
struct keel_tconn;
struct netlink_ext_ack;

/* Kinds of struct keel_interval in vol->order. */
enum {
	KEEL_IV_REQUEST,	/* in a struct keel_rq */
	KEEL_IV_RESYNC,		/* a resync chunk: has a completion */
};

/*
 * One message to one peer and its acknowledgement: a part of an
 * application request, or a resync chunk.
 */
struct keel_preq {
	struct list_head node;	/* on peer->sendq, ->sent or ->frozen */
	u64 seq;
	u16 type;		/* KEEL_WIRE_WRITE, _FLUSH, ... */
	u16 flags;		/* KEEL_WIRE_F_* */
	u64 offset;		/* bytes in the volume */
	u32 size;
	struct bio_vec *bvec;	/* WRITE payload or READ destination */
	unsigned int nr_bvec;
	unsigned long queued;	/* jiffies when queued */
	void *owner;		/* the struct keel_rq, or the resync chunk */
	/* Called once, without locks held, in process or softirq context. */
	void (*done)(struct keel_preq *preq, int err);
};

/* A peer: on the attached node, one other replica of the volume. */
struct keel_peer {
	struct keel_volume *vol;
	u32 slot;			/* dirty bitmap slot, 0..6 */
	char name[KEEL_STRING_MAX];
	struct sockaddr_storage addr;
	struct net *net;		/* namespace it connects from */
	struct task_struct *thread;	/* connects, receives, tears down */

	/* Under vol->repl_lock. */
	bool in_sync;		/* its ack is required (cluster: in sync) */
	bool lost;		/* in sync but gone: writes frozen */
	bool freeze_failed;	/* FAIL policy: frozen writes were failed */
	bool connected;		/* handshake done, sender may send */
	bool ping_due;		/* sender: send a PING */
	bool ping_out;		/* a PING awaits its PONG */
	bool pull;		/* @bitmap: regions where *we* are stale */
	unsigned long down_since; /* jiffies it has not been connected since */
	unsigned long lost_since; /* jiffies it was lost */
	struct list_head sendq;	/* to send, in order */
	struct list_head sent;	/* sent, awaiting ACK */
	struct list_head frozen; /* lost: held until PEER_OUTDATE */
	u64 seq;
	unsigned long *bitmap;	/* dirty regions; persisted (keel_resync.c) */
	u64 nbits;
	u64 dirty_bits;		/* bits set in @bitmap */
	unsigned long *bm_dirty; /* pages of @bitmap not yet persisted */
	u32 bm_pages;

	bool digest;		/* data digests negotiated (this connection) */
	struct socket *sock;	/* valid while the thread's connection runs */
	struct mutex send_mutex; /* serializes use of @sock for sending */
	struct work_struct send_work;
	struct work_struct resync_work;
	wait_queue_head_t wait;	/* the thread sleeps here between attempts */
	unsigned long last_rx;	/* jiffies of the last message received */

	/* Status, for VOLUME_GET (racy reads are fine). */
	u64 peer_epoch;
	u64 bytes_sent;
	u64 bytes_acked;
	u64 resync_bytes;
	u64 resync_rate;	/* bytes/s, last second */
	u32 sync_percent;
	u64 connects;
	int last_err;
	char last_msg[KEEL_STRING_MAX];
};

/* The replica target of a volume that is not attached here. */
struct keel_target {
	struct keel_volume *vol;
	struct socket *lsock;
	struct task_struct *accept_thread;
	struct sockaddr_storage addr;
	struct net *net;

	spinlock_t lock;		/* protects everything below */
	struct list_head conns;		/* struct keel_tconn */
	struct keel_tconn *active;	/* the authenticated one */
	wait_queue_head_t conns_wait;	/* a connection went away */
	u8 nonces[16][KEEL_WIRE_NONCE_LEN]; /* recently issued challenges */
	unsigned int nonce_next;
	u64 accepted;
	u64 refused;
	u64 bytes_written;
	int last_err;
	char last_msg[KEEL_STRING_MAX];
};

/* keel_net.c: sockets and the handshake's crypto */
int keel_sock_send(struct socket *sock, const void *buf, size_t len,
		   bool more);
int keel_sock_send_bvec(struct socket *sock, struct bio_vec *bvec,
			unsigned int nr, size_t len);
int keel_sock_recv(struct socket *sock, void *buf, size_t len,
		   bool (*give_up)(void *arg), void *arg);
int keel_sock_recv_bvec(struct socket *sock, struct bio_vec *bvec,
			unsigned int nr, size_t len,
			bool (*give_up)(void *arg), void *arg);
void keel_sock_tune(struct socket *sock, unsigned int rcv_ms);
int keel_hmac(const u8 *key, u32 keylen, const void *data, size_t len,
	      u8 *mac);
int keel_addr_parse(const void *raw, int len, u16 port,
		    struct sockaddr_storage *ss);
u32 keel_crc32c_bvec(struct bio_vec *bvec, unsigned int nr, size_t len);
void keel_pages_free(struct bio_vec *bvec, unsigned int nr);
struct bio_vec *keel_pages_alloc(size_t len, unsigned int *nr);

/* keel_target.c */
int keel_target_start(struct keel_volume *vol, struct net *net,
		      const struct sockaddr_storage *addr,
		      struct netlink_ext_ack *extack);
void keel_target_stop(struct keel_volume *vol);

/* keel_peer.c */
int keel_peer_add(struct keel_volume *vol, u32 slot, const char *name,
		  const struct sockaddr_storage *addr, struct net *net,
		  u32 sync, struct netlink_ext_ack *extack);
int keel_peer_remove(struct keel_volume *vol, u32 slot,
		     struct netlink_ext_ack *extack);
int keel_peer_outdate(struct keel_volume *vol, u32 slot, u64 epoch,
		      struct netlink_ext_ack *extack);
void keel_peer_queue(struct keel_peer *peer, struct keel_preq *preq);
void keel_peer_kick(struct keel_peer *peer);
u32 keel_peer_state(struct keel_peer *peer);
void keel_peer_fail_frozen(struct keel_peer *peer);

/* keel_resync.c */
int keel_bitmap_load(struct keel_peer *peer, u32 sync);
bool keel_bitmap_any(struct keel_peer *peer, u64 offset, u64 len);
void keel_bitmap_free(struct keel_peer *peer);
bool keel_bitmap_mark(struct keel_peer *peer, u64 offset, u64 len);
int keel_bitmap_persist(struct keel_volume *vol);
int keel_bitmap_clear_slot(struct keel_volume *vol, u32 slot);
void keel_resync_work(struct work_struct *work);
void keel_resync_admit(struct keel_interval *iv);

/* keel_repl.c */
bool keel_repl_active(struct keel_volume *vol);
bool keel_repl_remote_reads(struct keel_volume *vol);
void keel_repl_queue(struct keel_volume *vol, struct keel_rq *cmd);
void keel_repl_work(struct work_struct *work);
void keel_repl_admit(struct keel_interval *iv, void *vol);
int keel_volume_set_epoch(struct keel_volume *vol, u64 epoch);
u64 keel_volume_epoch(struct keel_volume *vol);

extern struct workqueue_struct *keel_net_wq;

#endif /* KEEL_REPL_H */
