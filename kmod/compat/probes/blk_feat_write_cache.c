// SPDX-License-Identifier: GPL-2.0
/* Queue features live in queue_limits.features (6.11 and later). */
#include <linux/blkdev.h>

unsigned int probe(void);
unsigned int probe(void)
{
	struct queue_limits lim = { .features = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA };

	return lim.features;
}
