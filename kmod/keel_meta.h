/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_meta.h - the replica metadata superblock: layout, encoding,
 * validation.  Pure logic (see keel_pure.h); the IO lives in keel_backing.c.
 */
#ifndef KEEL_META_H
#define KEEL_META_H

#include "keel_pure.h"
#include <linux/keel.h>

/* The superblock in CPU byte order. */
struct keel_meta {
	u32 flags;
	u8 uuid[KEEL_UUID_LEN];
	u64 size;
	u32 block_size;
	u32 granularity;
	u64 epoch;
	u64 bitmap_offset;
	u32 bitmap_bytes;
	u32 max_peers;
	u64 data_offset;
	u64 created_sec;
};

enum keel_meta_verdict {
	KEEL_META_VALID,	/* a keel superblock, checksum good */
	KEEL_META_EMPTY,	/* all zero: never formatted */
	KEEL_META_FOREIGN,	/* not zero, not keel: someone else's data */
	KEEL_META_CORRUPT,	/* keel magic, but checksum or fields bad */
	KEEL_META_TOO_NEW,	/* keel magic, unknown format version */
};

/*
 * keel_meta_layout - fill in the layout fields (bitmap area, data offset)
 * of @m for a volume of m->size bytes at m->granularity bytes per bitmap
 * bit (0: KEEL_META_GRANULARITY).  Returns 0 or -EINVAL if the size is
 * zero, unaligned to m->block_size or too large, or the granularity is not
 * a power of two in [KEEL_META_GRANULARITY_MIN, KEEL_META_GRANULARITY_MAX].
 */
int keel_meta_layout(struct keel_meta *m);

/* Bytes the backing store needs for @m: data_offset + size. */
u64 keel_meta_backing_bytes(const struct keel_meta *m);

/* Encode @m into the KEEL_META_BLOCK-byte buffer @buf (zero-padded). */
void keel_meta_encode(const struct keel_meta *m, void *buf);

/*
 * keel_meta_decode - judge and decode the KEEL_META_BLOCK bytes at @buf.
 * @m is filled only for KEEL_META_VALID.
 */
enum keel_meta_verdict keel_meta_decode(const void *buf, struct keel_meta *m);

/* A short human description of a verdict, for error messages. */
const char *keel_meta_verdict_str(enum keel_meta_verdict v);

#endif /* KEEL_META_H */
