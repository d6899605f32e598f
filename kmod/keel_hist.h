/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_hist.h - latency histogram bucketing (pure; unit-tested in user
 * space by keel_meta_test.cpp).  Bucket i counts latencies below 2^(i+1)
 * microseconds; the last bucket takes everything slower.
 */
#ifndef KEEL_HIST_H
#define KEEL_HIST_H

#include "keel_pure.h"
#include <linux/keel.h>

static inline unsigned int keel_lat_bucket(u64 us)
{
	unsigned int b = 0;

	while (us >= 2 && b < KEEL_LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

#endif /* KEEL_HIST_H */
