// SPDX-License-Identifier: GPL-2.0
/* blk_mq_alloc_disk() takes a struct queue_limits (6.9 and later). */
#include <linux/blk-mq.h>

struct gendisk *probe(struct blk_mq_tag_set *set);
struct gendisk *probe(struct blk_mq_tag_set *set)
{
	struct queue_limits lim = { .logical_block_size = 512 };

	return blk_mq_alloc_disk(set, &lim, NULL);
}
