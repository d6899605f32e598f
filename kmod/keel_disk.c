// SPDX-License-Identifier: GPL-2.0
/*
 * keel_disk.c - /dev/keelN: the blk-mq disk of an attached volume.
 *
 * One hardware queue per CPU.  queue_rq never touches the backing store
 * itself: reads and writes go on the hardware queue's pending list, whose
 * worker (on keel_io_wq) submits them in batches; other requests get a
 * work item each.  Submitting from queue_rq would run the backing
 * file system's IO inside the caller's block plug or bio list (see
 * docs/design-local-io.md).  Completions run in keel_complete_rq().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/module.h>

#include "keel.h"
#include "keel_hist.h"

int keel_major;

static unsigned int queue_depth = 128;
module_param(queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "requests per hardware queue (default 128)");

static blk_status_t keel_queue_rq(struct blk_mq_hw_ctx *hctx,
				  const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct keel_rq *cmd = blk_mq_rq_to_pdu(rq);
	struct keel_queue *kq = hctx->driver_data;
	struct keel_volume *vol = kq->vol;
	bool rw;

	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		rw = true;
		break;
	case REQ_OP_FLUSH:
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		rw = false;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}
	cmd->vol = vol;
	cmd->start_ns = ktime_get_ns();
	cmd->peer_err = 0;
	blk_mq_start_request(rq);
	this_cpu_inc(vol->stats->in_flight);
	if (rw)
		atomic_inc(&kq->in_flight);
	/*
	 * With peers (or no local replica) every write-like request, and
	 * reads that cannot be served locally, take the replication path.
	 */
	if (keel_repl_active(vol) && (req_op(rq) != REQ_OP_READ ||
				      keel_repl_remote_reads(vol))) {
		keel_repl_queue(vol, cmd);
		return BLK_STS_OK;
	}
	if (!rw) {
		atomic_set(&cmd->parts, 1);
		queue_work(keel_io_wq, &cmd->work);
		return BLK_STS_OK;
	}
	/*
	 * A lone request goes to the high-priority worker, which runs at
	 * once (latency); under load the normal one lets requests batch up
	 * (throughput).  Both drain the same list; in-flight requests carry
	 * no ordering, so two concurrent drains are harmless.
	 */
	if (atomic_read(&kq->in_flight) <= 1) {
		llist_add(&cmd->node, &kq->pending);
		queue_work(keel_io_fast_wq, &kq->work_fast);
	} else if (llist_add(&cmd->node, &kq->pending)) {
		queue_work(keel_io_wq, &kq->work);
	}
	return BLK_STS_OK;
}

static void keel_complete_rq(struct request *rq)
{
	struct keel_rq *cmd = blk_mq_rq_to_pdu(rq);
	struct keel_volume *vol = cmd->vol;
	struct keel_stats __percpu *s = vol->stats;
	unsigned int bytes = blk_rq_bytes(rq);
	long ret = cmd->ret;
	blk_status_t st;
	u64 us;

	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		if (ret == bytes)
			st = BLK_STS_OK;
		else if (ret >= 0)
			st = BLK_STS_IOERR;	/* short IO: backing too small */
		else
			st = errno_to_blk_status(ret);
		break;
	default:
		st = ret ? errno_to_blk_status(ret) : BLK_STS_OK;
		break;
	}
	if (st == BLK_STS_OK && cmd->peer_err) {
		ret = cmd->peer_err;
		st = errno_to_blk_status(ret);
	}

	switch (req_op(rq)) {
	case REQ_OP_READ:
		this_cpu_inc(s->reads);
		this_cpu_add(s->read_bytes, bytes);
		break;
	case REQ_OP_WRITE:
		this_cpu_inc(s->writes);
		this_cpu_add(s->write_bytes, bytes);
		if (rq->cmd_flags & REQ_FUA)
			this_cpu_inc(s->fua);
		break;
	case REQ_OP_FLUSH:
		this_cpu_inc(s->flushes);
		break;
	case REQ_OP_DISCARD:
		this_cpu_inc(s->discards);
		break;
	case REQ_OP_WRITE_ZEROES:
		this_cpu_inc(s->write_zeroes);
		break;
	default:
		break;
	}
	us = div_u64(ktime_get_ns() - cmd->start_ns, NSEC_PER_USEC);
	this_cpu_inc(s->latency[keel_lat_bucket(us)]);
	this_cpu_dec(s->in_flight);
	if (req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE) {
		struct keel_queue *kq = rq->mq_hctx->driver_data;

		atomic_dec(&kq->in_flight);
	}

	if (st != BLK_STS_OK) {
		this_cpu_inc(s->errors);
		set_bit(KEEL_VOL_IO_ERROR, &vol->flags);
		pr_err_ratelimited("keel%u: %s at sector %llu failed: %ld\n",
				   vol->id, blk_op_str(req_op(rq)),
				   (unsigned long long)blk_rq_pos(rq), ret);
		keel_event(vol, KEEL_EVENT_IO_ERROR, ret < 0 ? -ret : EIO,
			   blk_rq_pos(rq), GFP_ATOMIC);
	}
	blk_mq_end_request(rq, st);
}

static int keel_init_request(struct blk_mq_tag_set *set, struct request *rq,
			     unsigned int hctx_idx, unsigned int numa_node)
{
	struct keel_rq *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, keel_backing_work);
	cmd->bvec = NULL;
	cmd->ordered = false;
	return 0;
}

static int keel_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			  unsigned int hctx_idx)
{
	struct keel_queue *kq;

	kq = kzalloc_node(sizeof(*kq), GFP_KERNEL, hctx->numa_node);
	if (!kq)
		return -ENOMEM;
	init_llist_head(&kq->pending);
	INIT_WORK(&kq->work, keel_submit_work);
	INIT_WORK(&kq->work_fast, keel_submit_fast_work);
	atomic_set(&kq->in_flight, 0);
	kq->vol = data;
	hctx->driver_data = kq;
	keel_obj_get();
	return 0;
}

static void keel_exit_hctx(struct blk_mq_hw_ctx *hctx, unsigned int hctx_idx)
{
	struct keel_queue *kq = hctx->driver_data;

	/* The queue is drained; the worker may still be finishing a pass. */
	flush_work(&kq->work);
	flush_work(&kq->work_fast);
	WARN_ON_ONCE(!llist_empty(&kq->pending));
	kfree(kq);
	hctx->driver_data = NULL;
	keel_obj_put();
}

static const struct blk_mq_ops keel_mq_ops = {
	.queue_rq	= keel_queue_rq,
	.complete	= keel_complete_rq,
	.init_hctx	= keel_init_hctx,
	.exit_hctx	= keel_exit_hctx,
	.init_request	= keel_init_request,
};

static const struct block_device_operations keel_fops = {
	.owner		= THIS_MODULE,
};

int keel_disk_attach(struct keel_volume *vol, struct netlink_ext_ack *extack)
{
	struct keel_backing *b = &vol->backing;
	struct keel_queue_limits kl = {
		.logical_block_size	= vol->block_size,
		.max_hw_sectors		= (4U << 20) >> SECTOR_SHIFT,
		.max_segments		= 1024,
	};
	struct blk_mq_tag_set *set = &vol->tag_set;
	struct gendisk *disk;
	int ret;

	lockdep_assert_held(&keel_lock);
	if (vol->disk) {
		NL_SET_ERR_MSG(extack, "volume is already attached");
		return -EALREADY;
	}
	if (vol->target) {
		NL_SET_ERR_MSG(extack, "this replica is a replica target (another node's volume); stop listening first");
		return -EBUSY;
	}
	if (!vol->diskless && b->can_punch) {
		kl.max_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
		kl.discard_granularity = max(b->fs_block, vol->block_size);
		kl.max_write_zeroes_sectors = UINT_MAX >> SECTOR_SHIFT;
	}

	memset(set, 0, sizeof(*set));
	set->ops = &keel_mq_ops;
	set->nr_hw_queues = num_possible_cpus();
	set->queue_depth = clamp(queue_depth, 1U, 4096U);
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = sizeof(struct keel_rq);
	set->flags = BLK_MQ_F_SHOULD_MERGE;
	set->driver_data = vol;
	ret = blk_mq_alloc_tag_set(set);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot allocate the disk's request queues");
		return ret;
	}

	disk = keel_alloc_disk(set, &kl, vol);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		NL_SET_ERR_MSG(extack, "cannot allocate the disk");
		goto err_free_tag_set;
	}
	disk->major = keel_major;
	disk->first_minor = vol->id;
	disk->minors = 1;
	disk->fops = &keel_fops;
	disk->private_data = vol;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "keel%u", vol->id);
	set_capacity(disk, vol->size >> SECTOR_SHIFT);

	ret = add_disk(disk);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot add the disk");
		goto err_put_disk;
	}
	vol->disk = disk;
	keel_obj_get();
	return 0;

err_put_disk:
	put_disk(disk);
err_free_tag_set:
	blk_mq_free_tag_set(set);
	return ret;
}

int keel_disk_detach(struct keel_volume *vol, bool force,
		     struct netlink_ext_ack *extack)
{
	struct gendisk *disk = vol->disk;
	int slot;

	lockdep_assert_held(&keel_lock);
	if (!disk) {
		NL_SET_ERR_MSG(extack, "volume is not attached");
		return -ENODEV;
	}
	if (disk_openers(disk) && !force) {
		NL_SET_ERR_MSG(extack, "disk is open (mounted or in use); close it first or force the detach");
		return -EBUSY;
	}
	if (!force && keel_volume_frozen(vol)) {
		NL_SET_ERR_MSG(extack, "writes are frozen until a lost peer is outdated; outdate it first, or force the detach (the frozen writes fail)");
		return -EBUSY;
	}
	/*
	 * del_gendisk() waits for every request in flight, with keel_lock
	 * held, so nothing may wait for a PEER_OUTDATE now: fail those.
	 */
	set_bit(KEEL_VOL_NO_FREEZE, &vol->flags);
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++) {
		struct keel_peer *p = vol->peers[slot];

		if (p)
			keel_peer_fail_frozen(p);
	}
	/* Fails new IO and waits for every request in flight to finish. */
	del_gendisk(disk);
	clear_bit(KEEL_VOL_NO_FREEZE, &vol->flags);
	put_disk(disk);
	blk_mq_free_tag_set(&vol->tag_set);
	vol->disk = NULL;
	keel_obj_put();
	return 0;
}

int keel_disk_init(void)
{
	keel_major = register_blkdev(0, "keel");
	return keel_major < 0 ? keel_major : 0;
}

void keel_disk_exit(void)
{
	unregister_blkdev(keel_major, "keel");
}
