// SPDX-License-Identifier: GPL-2.0
/*
 * keel_repl.c - how a request of a replicated volume (one with peers, or
 * diskless) becomes parts: the local IO, one message per peer, or a hold
 * while a lost peer awaits PEER_OUTDATE.  The request completes when every
 * part has (struct keel_rq.parts reaches zero).
 *
 * queue_rq hands such requests to keel_repl_work (process context: it may
 * have to persist the dirty bitmap before the local write is issued).
 * Writes, discards and write-zeroes first enter vol->order and wait there
 * for any earlier overlapping one to complete (rule 4).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/sched/mm.h>

#include "keel.h"

bool keel_repl_active(struct keel_volume *vol)
{
	return READ_ONCE(vol->npeers) || vol->diskless;
}

/* Must reads take the replication path (no complete local replica)? */
bool keel_repl_remote_reads(struct keel_volume *vol)
{
	return vol->diskless || READ_ONCE(vol->npulling);
}

void keel_repl_queue(struct keel_volume *vol, struct keel_rq *cmd)
{
	if (llist_add(&cmd->node, &vol->repl_new))
		queue_work(keel_io_wq, &vol->repl_work);
}

/* vol->order admitted @iv (repl_lock held). */
void keel_repl_admit(struct keel_interval *iv, void *arg)
{
	struct keel_volume *vol = arg;
	struct keel_rq *cmd;

	if (iv->kind == KEEL_IV_RESYNC) {
		keel_resync_admit(iv);
		return;
	}
	cmd = container_of(iv, struct keel_rq, iv);
	if (llist_add(&cmd->node, &vol->repl_ready))
		queue_work(keel_io_wq, &vol->repl_work);
}

u64 keel_volume_epoch(struct keel_volume *vol)
{
	return READ_ONCE(vol->epoch);
}

/* Raise the volume's epoch (never lower it), durably. */
int keel_volume_set_epoch(struct keel_volume *vol, u64 epoch)
{
	int ret = 0;

	mutex_lock(&vol->meta_mutex);
	if (epoch > vol->epoch) {
		if (!vol->diskless)
			ret = keel_meta_store_epoch(vol, epoch);
		if (!ret)
			WRITE_ONCE(vol->epoch, epoch);
	}
	mutex_unlock(&vol->meta_mutex);
	return ret;
}

static void keel_rq_preq_done(struct keel_preq *preq, int err)
{
	struct keel_rq *cmd = preq->owner;

	if (preq->type == KEEL_WIRE_READ)
		cmd->ret = err ? err : preq->size;
	else if (err)
		cmd->peer_err = err;
	keel_rq_put(cmd);
}

static u16 keel_wire_op(struct request *rq)
{
	switch (req_op(rq)) {
	case REQ_OP_READ:
		return KEEL_WIRE_READ;
	case REQ_OP_WRITE:
		return KEEL_WIRE_WRITE;
	case REQ_OP_FLUSH:
		return KEEL_WIRE_FLUSH;
	case REQ_OP_DISCARD:
		return KEEL_WIRE_DISCARD;
	default:
		return KEEL_WIRE_WRITE_ZEROES;
	}
}

static void keel_preq_init(struct keel_preq *preq, struct keel_rq *cmd,
			   struct request *rq)
{
	*preq = (struct keel_preq){
		.type = keel_wire_op(rq),
		.flags = (req_op(rq) == REQ_OP_WRITE &&
			  (rq->cmd_flags & REQ_FUA)) ? KEEL_WIRE_F_FUA : 0,
		.offset = (u64)blk_rq_pos(rq) << SECTOR_SHIFT,
		.size = blk_rq_bytes(rq),
		.bvec = cmd->bvec,
		.nr_bvec = cmd->nr_bvec,
		.owner = cmd,
		.done = keel_rq_preq_done,
	};
	INIT_LIST_HEAD(&preq->node);
}

/*
 * A READ of a region our replica does not have (diskless, or not pulled
 * yet): ask one in-sync, connected peer -- the one we pull from, if any.
 * Returns false if the local replica can serve it.
 */
static bool keel_repl_read(struct keel_volume *vol, struct keel_rq *cmd,
			   struct request *rq)
{
	u64 off = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	struct keel_peer *p, *pull = NULL;
	int slot;

	spin_lock_irq(&vol->repl_lock);
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++) {
		p = vol->peers[slot];
		if (p && p->pull)
			pull = p;
	}
	if (!vol->diskless &&
	    (!pull || !keel_bitmap_any(pull, off, blk_rq_bytes(rq)))) {
		spin_unlock_irq(&vol->repl_lock);
		return false;
	}
	cmd->ret = -EIO;
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++) {
		p = vol->peers[slot];
		if (pull && p != pull)
			continue;
		if (p && p->connected && p->in_sync && !p->lost) {
			keel_preq_init(&cmd->preq[slot], cmd, rq);
			atomic_inc(&cmd->parts);
			keel_peer_queue(p, &cmd->preq[slot]);
			break;
		}
	}
	spin_unlock_irq(&vol->repl_lock);
	if (slot == KEEL_META_MAX_PEERS)
		pr_err_ratelimited("keel%u: a read the local replica cannot serve, and no in-sync peer is connected\n",
				   vol->id);
	return true;
}

static void keel_repl_dispatch(struct keel_volume *vol, struct keel_rq *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	bool rw = req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE;
	bool dirties = req_op(rq) != REQ_OP_FLUSH && req_op(rq) != REQ_OP_READ;
	bool persist = false;
	struct keel_peer *p;
	int slot;

	atomic_set(&cmd->parts, 1);	/* ours, until every part is out */
	cmd->peer_err = 0;
	if (rw && keel_rq_map(cmd, rq)) {
		cmd->ret = -ENOMEM;
		goto out_put;
	}
	if (vol->diskless)
		cmd->ret = req_op(rq) == REQ_OP_WRITE ? blk_rq_bytes(rq) : 0;
	if (req_op(rq) == REQ_OP_READ) {
		if (keel_repl_read(vol, cmd, rq))
			goto out_put;
		if (keel_backing_rw(vol, cmd, rq))
			cmd->ret = -ENOMEM;
		goto out_put;
	}

	spin_lock_irq(&vol->repl_lock);
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++) {
		struct keel_preq *preq = &cmd->preq[slot];

		p = vol->peers[slot];
		if (!p)
			continue;
		keel_preq_init(preq, cmd, rq);
		if (p->lost) {
			if (dirties)
				persist |= keel_bitmap_mark(p, preq->offset,
							    preq->size);
			if (p->freeze_failed) {
				cmd->peer_err = -EIO;
				continue;
			}
			atomic_inc(&cmd->parts);
			list_add_tail(&preq->node, &p->frozen);
		} else if (p->connected || p->in_sync) {
			/* In sync but not connected yet: it waits in sendq. */
			atomic_inc(&cmd->parts);
			keel_peer_queue(p, preq);
		} else if (dirties) {
			persist |= keel_bitmap_mark(p, preq->offset,
						    preq->size);
		}
	}
	spin_unlock_irq(&vol->repl_lock);
	/* The bitmap knows before the local write is issued. */
	if (persist)
		keel_bitmap_persist(vol);

	if (!vol->diskless) {
		if (rw) {
			if (keel_backing_rw(vol, cmd, rq))
				cmd->ret = -ENOMEM;
		} else {
			atomic_inc(&cmd->parts);
			queue_work(keel_io_wq, &cmd->work);
		}
	}
out_put:
	keel_rq_put(cmd);
}

/* A new request: writes wait their turn in vol->order. */
static void keel_repl_start(struct keel_volume *vol, struct keel_rq *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	unsigned long flags;
	bool started;

	switch (req_op(rq)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		cmd->iv.start = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
		cmd->iv.end = cmd->iv.start + blk_rq_bytes(rq);
		cmd->iv.kind = KEEL_IV_REQUEST;
		spin_lock_irqsave(&vol->repl_lock, flags);
		cmd->ordered = true;
		started = keel_order_add(&vol->order, &cmd->iv);
		spin_unlock_irqrestore(&vol->repl_lock, flags);
		if (!started)
			return;		/* keel_repl_admit() brings it back */
		break;
	default:
		break;
	}
	keel_repl_dispatch(vol, cmd);
}

void keel_repl_work(struct work_struct *work)
{
	struct keel_volume *vol = container_of(work, struct keel_volume,
					       repl_work);
	struct llist_node *ready, *fresh;
	struct keel_rq *cmd, *next;
	unsigned int noio;

	noio = memalloc_noio_save();
	for (;;) {
		ready = llist_del_all(&vol->repl_ready);
		fresh = llist_del_all(&vol->repl_new);
		if (!ready && !fresh)
			break;
		ready = llist_reverse_order(ready);
		llist_for_each_entry_safe(cmd, next, ready, node)
			keel_repl_dispatch(vol, cmd);
		fresh = llist_reverse_order(fresh);
		llist_for_each_entry_safe(cmd, next, fresh, node)
			keel_repl_start(vol, cmd);
	}
	memalloc_noio_restore(noio);
}
