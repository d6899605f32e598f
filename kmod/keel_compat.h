/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_compat.h - the one place where kernel API differences are handled.
 *
 * keel_compat_probes.h is generated at build time by compiling the small
 * programs in compat/probes/ against the target kernel's headers (see
 * kmod/Makefile): each probe that compiles defines KEEL_HAVE_<NAME>.  The
 * rest of the module uses only the helpers below, never version checks.
 */
#ifndef KEEL_COMPAT_H
#define KEEL_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/net.h>
#include <linux/uio.h>

#include "keel_compat_probes.h"
#include <linux/keel.h>

/* What keel asks of a disk's request queue, whatever the kernel's API. */
struct keel_queue_limits {
	unsigned int logical_block_size;
	unsigned int max_hw_sectors;
	unsigned short max_segments;
	unsigned int max_discard_sectors;	/* 0: no discard */
	unsigned int discard_granularity;
	unsigned int max_write_zeroes_sectors;	/* 0: no write zeroes */
};

/*
 * keel_alloc_disk - blk_mq_alloc_disk() with @kl applied, a volatile write
 * cache with FUA declared (so FLUSH and FUA reach the driver), and the
 * queue marked non-rotational.
 */
static inline struct gendisk *
keel_alloc_disk(struct blk_mq_tag_set *set, const struct keel_queue_limits *kl,
		void *queuedata)
{
	struct gendisk *disk;
#ifdef KEEL_HAVE_BLK_MQ_ALLOC_DISK_LIM
	struct queue_limits lim = {
		.logical_block_size	= kl->logical_block_size,
		.physical_block_size	= kl->logical_block_size,
		.io_min			= kl->logical_block_size,
		.max_hw_sectors		= kl->max_hw_sectors,
		.max_segments		= kl->max_segments,
		.max_hw_discard_sectors	= kl->max_discard_sectors,
		.discard_granularity	= kl->discard_granularity,
		.max_write_zeroes_sectors = kl->max_write_zeroes_sectors,
#ifdef KEEL_HAVE_BLK_FEAT_WRITE_CACHE
		.features		= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA,
#endif
	};

	disk = blk_mq_alloc_disk(set, &lim, queuedata);
	if (IS_ERR(disk))
		return disk;
#ifndef KEEL_HAVE_BLK_FEAT_WRITE_CACHE
	blk_queue_write_cache(disk->queue, true, true);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
#endif
#else
	struct request_queue *q;

	disk = blk_mq_alloc_disk(set, queuedata);
	if (IS_ERR(disk))
		return disk;
	q = disk->queue;
	blk_queue_logical_block_size(q, kl->logical_block_size);
	blk_queue_physical_block_size(q, kl->logical_block_size);
	blk_queue_io_min(q, kl->logical_block_size);
	blk_queue_max_hw_sectors(q, kl->max_hw_sectors);
	blk_queue_max_segments(q, kl->max_segments);
	blk_queue_max_discard_sectors(q, kl->max_discard_sectors);
	q->limits.discard_granularity = kl->discard_granularity;
	blk_queue_max_write_zeroes_sectors(q, kl->max_write_zeroes_sectors);
	blk_queue_write_cache(q, true, true);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
#endif
	return disk;
}

/*
 * keel_send_page - send @len bytes of @page from @offset on @sock without
 * copying them: the network stack takes a reference on the page instead
 * (kernel_sendpage() before 6.5, MSG_SPLICE_PAGES after).  The caller checked
 * sendpage_ok().  Returns bytes sent or -errno, like sock_sendmsg().
 */
static inline int keel_send_page(struct socket *sock, struct page *page,
				 unsigned int offset, size_t len, bool more)
{
	int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
#ifdef KEEL_HAVE_KERNEL_SENDPAGE
	return kernel_sendpage(sock, page, offset, len, flags);
#else
	struct bio_vec bv;
	struct msghdr msg = { .msg_flags = flags | MSG_SPLICE_PAGES };

	bvec_set_page(&bv, page, len, offset);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, len);
	return sock_sendmsg(sock, &msg);
#endif
}

#endif /* KEEL_COMPAT_H */
