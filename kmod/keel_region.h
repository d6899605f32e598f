/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_region.h - dirty-bitmap math: which bits cover a byte range, and how
 * many bytes a number of bits stands for.  Pure logic (keel_pure.h).
 */
#ifndef KEEL_REGION_H
#define KEEL_REGION_H

#include "keel_pure.h"

/* Bits of a volume of @size bytes at @gran bytes per bit. */
static inline u64 keel_region_bits(u64 size, u32 gran)
{
	return (size + gran - 1) / gran;
}

/*
 * Bits [*first, *last] cover the bytes [offset, offset + len) (len > 0):
 * a bit is dirty if any byte of its region may differ.
 */
static inline void keel_region_range(u64 offset, u64 len, u32 gran,
				     u64 *first, u64 *last)
{
	*first = offset / gran;
	*last = (offset + len - 1) / gran;
}

/* Bytes of the region of bit @bit: the last one may be short. */
static inline u32 keel_region_len(u64 bit, u64 size, u32 gran)
{
	u64 start = bit * gran;

	return start + gran <= size ? gran : (u32)(size - start);
}

#endif /* KEEL_REGION_H */
