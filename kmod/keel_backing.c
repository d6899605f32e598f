// SPDX-License-Identifier: GPL-2.0
/*
 * keel_backing.c - the local replica: a backing file or block device,
 * its metadata superblock, and the IO issued to it.
 *
 * Requests are handled on keel_io_wq.  READ and WRITE are batched per
 * hardware queue (keel_submit_work) and go to the backing store as
 * asynchronous kiocbs whose iov_iter walks the request's own bio_vecs (no
 * bounce copy, no wait for the IO); O_DIRECT when the backing store allows
 * it.  FLUSH, DISCARD and WRITE_ZEROES are synchronous VFS calls, one work
 * item each (keel_backing_work), so they never hold up reads and writes.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/falloc.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "keel.h"

/* Read or write the metadata block (offset 0) synchronously. */
static int keel_meta_io(struct keel_backing *b, struct page *page, bool write)
{
	struct bio_vec bv;
	struct iov_iter iter;
	loff_t pos = 0;
	ssize_t ret;

	bvec_set_page(&bv, page, KEEL_META_BLOCK, 0);
	iov_iter_bvec(&iter, write ? ITER_SOURCE : ITER_DEST, &bv, 1,
		      KEEL_META_BLOCK);
	if (write) {
		file_start_write(b->file);
		ret = vfs_iter_write(b->file, &iter, &pos, 0);
		file_end_write(b->file);
	} else {
		ret = vfs_iter_read(b->file, &iter, &pos, 0);
	}
	if (ret < 0)
		return ret;
	/* A short read is a file that ends early: the rest stays zero. */
	if (write && ret != KEEL_META_BLOCK)
		return -EIO;
	return 0;
}

/* Write b->meta with @flags and make it durable. */
static int keel_meta_store(struct keel_backing *b, u32 flags)
{
	struct page *page;
	int ret;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	b->meta.flags = flags;
	keel_meta_encode(&b->meta, page_address(page));
	ret = keel_meta_io(b, page, true);
	if (!ret)
		ret = vfs_fsync(b->file, 0);
	__free_page(page);
	return ret;
}

static u64 keel_backing_capacity(struct keel_backing *b)
{
	return i_size_read(b->file->f_mapping->host);
}

/* Learn what the backing store allows: direct IO alignment, fallocate. */
static void keel_backing_probe(struct keel_backing *b)
{
	struct inode *inode = file_inode(b->file);
	struct block_device *bdev = NULL;

	if (S_ISBLK(inode->i_mode))
		bdev = I_BDEV(b->file->f_mapping->host);
	else if (inode->i_sb->s_bdev)
		bdev = inode->i_sb->s_bdev;

	b->dio_align = bdev ? bdev_logical_block_size(bdev) : 512;
	b->fs_block = S_ISBLK(inode->i_mode) ? max_t(u32, b->dio_align, 4096) :
		      inode->i_sb->s_blocksize;
	b->can_punch = b->file->f_op->fallocate != NULL;
}

/* Make sure a regular file is large enough; block devices must be. */
static int keel_backing_grow(struct keel_backing *b, u64 need,
			     struct netlink_ext_ack *extack)
{
	int ret;

	if (keel_backing_capacity(b) >= need)
		return 0;
	if (!S_ISREG(file_inode(b->file)->i_mode)) {
		NL_SET_ERR_MSG(extack, "backing block device is smaller than the volume plus its metadata");
		return -ENOSPC;
	}
	ret = vfs_truncate(&b->file->f_path, need);
	if (ret)
		NL_SET_ERR_MSG(extack, "cannot extend the backing file to the volume's size");
	return ret;
}

static int keel_backing_format(struct keel_backing *b,
			       const struct keel_meta *want,
			       struct netlink_ext_ack *extack)
{
	int ret;

	b->meta = *want;
	b->meta.epoch = 0;
	b->meta.created_sec = ktime_get_real_seconds();
	ret = keel_meta_layout(&b->meta);
	if (ret) {
		NL_SET_ERR_MSG(extack, "invalid volume size or block size");
		return ret;
	}
	return keel_backing_grow(b, keel_meta_backing_bytes(&b->meta), extack);
}

/* Judge the metadata found on the backing store against the request. */
static int keel_backing_adopt(struct keel_backing *b, struct page *page,
			      const struct keel_meta *want, u32 flags,
			      bool *formatted, struct netlink_ext_ack *extack)
{
	bool force = flags & KEEL_CREATE_F_FORCE_FORMAT;
	struct keel_meta found;

	*formatted = false;
	switch (keel_meta_decode(page_address(page), &found)) {
	case KEEL_META_VALID:
		if (memcmp(found.uuid, want->uuid, KEEL_UUID_LEN)) {
			NL_SET_ERR_MSG(extack, "backing store belongs to another volume (different UUID)");
			return -EEXIST;
		}
		if (found.size != want->size ||
		    found.block_size != want->block_size) {
			NL_SET_ERR_MSG(extack, "backing store's metadata has a different size or block size");
			return -EINVAL;
		}
		if (keel_backing_capacity(b) < keel_meta_backing_bytes(&found)) {
			NL_SET_ERR_MSG(extack, "backing store is shorter than its metadata says (truncated?)");
			return -EUCLEAN;
		}
		if (found.flags & KEEL_META_F_OPEN)
			pr_info("%s was not closed cleanly; reopening\n", b->path);
		b->meta = found;
		return 0;
	case KEEL_META_EMPTY:
		break;
	case KEEL_META_FOREIGN:
		if (!force) {
			NL_SET_ERR_MSG(extack, "backing store holds data that is not a keel replica; refusing to overwrite it without force-format");
			return -EEXIST;
		}
		break;
	case KEEL_META_CORRUPT:
		if (!force) {
			NL_SET_ERR_MSG(extack, "backing store's keel metadata is corrupt (bad checksum or layout); refusing to use it without force-format");
			return -EUCLEAN;
		}
		break;
	case KEEL_META_TOO_NEW:
		NL_SET_ERR_MSG(extack, "backing store's keel metadata has a newer format than this module knows");
		return -EPROTONOSUPPORT;
	}
	*formatted = true;
	return keel_backing_format(b, want, extack);
}

int keel_backing_open(struct keel_backing *b, const char *path,
		      u32 block_size, struct netlink_ext_ack *extack)
{
	struct file *file;
	umode_t mode;
	int ret;

	b->path = kstrdup(path, GFP_KERNEL);
	if (!b->path)
		return -ENOMEM;

	b->direct = true;
	file = filp_open(path, O_RDWR | O_LARGEFILE | O_DIRECT, 0);
	if (IS_ERR(file) && PTR_ERR(file) == -EINVAL) {
		/* No O_DIRECT here (tmpfs on older kernels): buffered IO. */
		b->direct = false;
		file = filp_open(path, O_RDWR | O_LARGEFILE, 0);
	}
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		NL_SET_ERR_MSG(extack, "cannot open the backing path read-write");
		goto err_free_path;
	}
	b->file = file;

	mode = file_inode(file)->i_mode;
	if (!S_ISREG(mode) && !S_ISBLK(mode)) {
		NL_SET_ERR_MSG(extack, "backing path must be a regular file or a block device");
		ret = -EINVAL;
		goto err_close;
	}
	if (!file->f_op->read_iter || !file->f_op->write_iter) {
		NL_SET_ERR_MSG(extack, "backing file system does not support the IO keel needs");
		ret = -EINVAL;
		goto err_close;
	}
	keel_backing_probe(b);
	if (b->direct && block_size < b->dio_align) {
		NL_SET_ERR_MSG(extack, "block size is smaller than the backing store's direct-IO alignment; use block size 4096");
		ret = -EINVAL;
		goto err_close;
	}
	keel_obj_get();
	return 0;

err_close:
	filp_close(file, NULL);
	b->file = NULL;
err_free_path:
	kfree(b->path);
	b->path = NULL;
	return ret;
}

int keel_backing_load(struct keel_backing *b, const struct keel_meta *want,
		      u32 flags, bool *formatted,
		      struct netlink_ext_ack *extack)
{
	struct address_space *mapping;
	struct page *page;
	int ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	ret = keel_meta_io(b, page, false);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot read the backing store's metadata block");
		goto out_free_page;
	}
	ret = keel_backing_adopt(b, page, want, flags, formatted, extack);
	if (ret)
		goto out_free_page;
	ret = keel_meta_store(b, KEEL_META_F_OPEN);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot write the backing store's metadata block");
		goto out_free_page;
	}
	b->loaded = true;

	/* Our IO must not recurse into file system reclaim (see loop.c). */
	mapping = b->file->f_mapping;
	b->old_gfp_mask = mapping_gfp_mask(mapping);
	mapping_set_gfp_mask(mapping, b->old_gfp_mask & ~(__GFP_IO | __GFP_FS));
out_free_page:
	__free_page(page);
	return ret;
}

void keel_backing_close(struct keel_backing *b)
{
	int ret;

	if (!b->file)
		return;
	if (b->loaded) {
		mapping_set_gfp_mask(b->file->f_mapping, b->old_gfp_mask);
		ret = keel_meta_store(b, b->meta.flags & ~KEEL_META_F_OPEN);
		if (ret)
			pr_warn("%s: cannot mark metadata clean: %d\n", b->path,
				ret);
		b->loaded = false;
	}
	filp_close(b->file, NULL);
	b->file = NULL;
	kfree(b->path);
	b->path = NULL;
	keel_obj_put();
}

/* Every part of the request is done: leave vol->order, complete it. */
static void keel_rq_finish(struct keel_rq *cmd)
{
	struct keel_volume *vol = cmd->vol;
	unsigned long flags;

	if (cmd->ordered) {
		spin_lock_irqsave(&vol->repl_lock, flags);
		keel_order_remove(&vol->order, &cmd->iv, keel_repl_admit, vol);
		cmd->ordered = false;
		spin_unlock_irqrestore(&vol->repl_lock, flags);
	}
	if (cmd->bvec)
		keel_obj_put();
	kfree(cmd->bvec);
	cmd->bvec = NULL;
	cmd->nr_bvec = 0;
	blk_mq_complete_request(blk_mq_rq_from_pdu(cmd));
}

void keel_rq_put(struct keel_rq *cmd)
{
	if (atomic_dec_and_test(&cmd->parts))
		keel_rq_finish(cmd);
}

static void keel_rw_done(struct kiocb *iocb, long ret)
{
	struct keel_rq *cmd = container_of(iocb, struct keel_rq, iocb);

	cmd->ret = ret;
	keel_rq_put(cmd);
}

/* Give @cmd its own array of the request's bio_vecs (not their data). */
int keel_rq_map(struct keel_rq *cmd, struct request *rq)
{
	struct req_iterator rq_iter;
	struct bio_vec tmp, *p;
	unsigned int nr = 0;

	if (cmd->bvec)
		return 0;
	rq_for_each_bvec(tmp, rq, rq_iter)
		nr++;
	cmd->bvec = kmalloc_array(max(nr, 1U), sizeof(*cmd->bvec), GFP_NOIO);
	if (!cmd->bvec)
		return -ENOMEM;
	keel_obj_get();
	p = cmd->bvec;
	rq_for_each_bvec(tmp, rq, rq_iter)
		*p++ = tmp;
	cmd->nr_bvec = nr;
	return 0;
}

/*
 * Submit a READ or WRITE to the backing store as one more part of @cmd;
 * the caller holds a part of its own across the call.  -ENOMEM if memory
 * is short (nothing was submitted).
 */
int keel_backing_rw(struct keel_volume *vol, struct keel_rq *cmd,
		    struct request *rq)
{
	struct keel_backing *b = &vol->backing;
	bool write = req_op(rq) == REQ_OP_WRITE;
	struct file *file = b->file;
	struct req_iterator rq_iter;
	struct bio_vec tmp;
	struct iov_iter iter;
	unsigned int nr = 0;
	ssize_t ret;

	if (cmd->bvec || rq->bio != rq->biotail) {
		/* Several bios (or already mapped): walk our own array. */
		if (keel_rq_map(cmd, rq))
			return -ENOMEM;
		iov_iter_bvec(&iter, write ? ITER_SOURCE : ITER_DEST, cmd->bvec,
			      cmd->nr_bvec, blk_rq_bytes(rq));
	} else {
		/* One bio: walk its bio_vec array in place. */
		struct bio *bio = rq->bio;

		rq_for_each_bvec(tmp, rq, rq_iter)
			nr++;
		iov_iter_bvec(&iter, write ? ITER_SOURCE : ITER_DEST,
			      __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter),
			      nr, blk_rq_bytes(rq));
		iter.iov_offset = bio->bi_iter.bi_bvec_done;
	}

	memset(&cmd->iocb, 0, sizeof(cmd->iocb));
	cmd->iocb.ki_pos = b->meta.data_offset +
			   ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT);
	cmd->iocb.ki_filp = file;
	cmd->iocb.ki_complete = keel_rw_done;
	cmd->iocb.ki_flags = b->direct ? IOCB_DIRECT : 0;
	if (write && (rq->cmd_flags & REQ_FUA))
		cmd->iocb.ki_flags |= IOCB_DSYNC;
	cmd->iocb.ki_ioprio = req_get_ioprio(rq);
	atomic_inc(&cmd->parts);

	if (write)
		ret = file->f_op->write_iter(&cmd->iocb, &iter);
	else
		ret = file->f_op->read_iter(&cmd->iocb, &iter);
	if (ret != -EIOCBQUEUED)
		keel_rw_done(&cmd->iocb, ret);
	return 0;
}

/* Submits the reads and writes queued on one hardware queue, in order. */
static void keel_submit_pending(struct keel_queue *kq)
{
	struct keel_rq *cmd, *next;
	struct llist_node *list;
	struct blk_plug plug;
	unsigned int noio;

	/* The backing store's allocations must not recurse into our IO. */
	noio = memalloc_noio_save();
	while ((list = llist_del_all(&kq->pending))) {
		list = llist_reverse_order(list);
		blk_start_plug(&plug);
		llist_for_each_entry_safe(cmd, next, list, node) {
			struct request *rq = blk_mq_rq_from_pdu(cmd);

			atomic_set(&cmd->parts, 1);
			if (keel_backing_rw(kq->vol, cmd, rq)) {
				this_cpu_dec(kq->vol->stats->in_flight);
				atomic_dec(&kq->in_flight);
				blk_mq_requeue_request(rq, true);
				continue;
			}
			keel_rq_put(cmd);
		}
		blk_finish_plug(&plug);
	}
	memalloc_noio_restore(noio);
}

void keel_submit_work(struct work_struct *work)
{
	keel_submit_pending(container_of(work, struct keel_queue, work));
}

void keel_submit_fast_work(struct work_struct *work)
{
	keel_submit_pending(container_of(work, struct keel_queue, work_fast));
}

/* FLUSH, DISCARD, WRITE_ZEROES: one synchronous VFS call each. */
void keel_backing_work(struct work_struct *work)
{
	struct keel_rq *cmd = container_of(work, struct keel_rq, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct keel_backing *b = &cmd->vol->backing;
	loff_t pos = b->meta.data_offset +
		     ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT);
	loff_t len = blk_rq_bytes(rq);
	unsigned int noio;
	int mode, ret;

	noio = memalloc_noio_save();
	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		ret = vfs_fsync(b->file, 0);
		this_cpu_inc(cmd->vol->stats->backing_syncs);
		break;
	case REQ_OP_DISCARD:
		ret = vfs_fallocate(b->file,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    pos, len);
		break;
	case REQ_OP_WRITE_ZEROES:
		mode = (rq->cmd_flags & REQ_NOUNMAP) ? FALLOC_FL_ZERO_RANGE :
						       FALLOC_FL_PUNCH_HOLE;
		ret = vfs_fallocate(b->file, mode | FALLOC_FL_KEEP_SIZE, pos,
				    len);
		if (ret == -EOPNOTSUPP && mode == FALLOC_FL_ZERO_RANGE)
			ret = vfs_fallocate(b->file, FALLOC_FL_PUNCH_HOLE |
					    FALLOC_FL_KEEP_SIZE, pos, len);
		break;
	default:
		ret = -EOPNOTSUPP;
		break;
	}
	memalloc_noio_restore(noio);
	cmd->ret = ret;
	keel_rq_put(cmd);
}

/* Synchronous IO of whole pages at @pos (metadata, resync, the target). */
static int keel_backing_pio(struct keel_backing *b, struct bio_vec *bvec,
			    unsigned int nr, size_t len, loff_t pos, bool write,
			    int rwf)
{
	struct iov_iter iter;
	ssize_t ret;

	iov_iter_bvec(&iter, write ? ITER_SOURCE : ITER_DEST, bvec, nr, len);
	if (write) {
		file_start_write(b->file);
		ret = vfs_iter_write(b->file, &iter, &pos, rwf);
		file_end_write(b->file);
	} else {
		ret = vfs_iter_read(b->file, &iter, &pos, 0);
	}
	if (ret < 0)
		return ret;
	return ret == len ? 0 : -EIO;
}

int keel_backing_pread(struct keel_backing *b, struct bio_vec *bvec,
		       unsigned int nr, size_t len, loff_t pos)
{
	return keel_backing_pio(b, bvec, nr, len, pos, false, 0);
}

int keel_backing_pwrite(struct keel_backing *b, struct bio_vec *bvec,
			unsigned int nr, size_t len, loff_t pos, int rwf)
{
	return keel_backing_pio(b, bvec, nr, len, pos, true, rwf);
}

/* Store a new epoch in the superblock; caller holds vol->meta_mutex. */
int keel_meta_store_epoch(struct keel_volume *vol, u64 epoch)
{
	struct keel_backing *b = &vol->backing;
	u64 old = b->meta.epoch;
	int ret;

	lockdep_assert_held(&vol->meta_mutex);
	b->meta.epoch = epoch;
	ret = keel_meta_store(b, b->meta.flags);
	if (ret)
		b->meta.epoch = old;
	return ret;
}
