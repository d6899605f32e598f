/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_order.h - ordering of overlapping in-flight writes (rule 4).
 *
 * Every write-like request of a replicated volume (WRITE, DISCARD,
 * WRITE_ZEROES, and each resync chunk) enters a struct keel_order in
 * arrival order.  It may start only when no earlier entry overlaps it; so
 * two overlapping requests are never in flight at once, and every replica
 * applies them in the same order whatever order its own IO completes in.
 * Non-overlapping requests run concurrently.
 *
 * Pure logic (see keel_pure.h): no locking here; the caller holds the lock
 * that protects the struct keel_order.  Costs are linear in the number of
 * entries (bounded by the queue depth).
 */
#ifndef KEEL_ORDER_H
#define KEEL_ORDER_H

#include "keel_pure.h"

struct keel_interval {
	u64 start;			/* first byte */
	u64 end;			/* one past the last byte */
	struct keel_interval *next;	/* next in arrival order */
	bool started;			/* admitted: may be / is in flight */
	int kind;			/* what the caller queued (not used here) */
};

struct keel_order {
	struct keel_interval *head;	/* oldest */
	struct keel_interval *tail;	/* newest */
	unsigned int count;
};

static inline bool keel_interval_overlaps(const struct keel_interval *a,
					  const struct keel_interval *b)
{
	return a->start < b->end && b->start < a->end;
}

/*
 * keel_order_add - append @it (start/end set by the caller).  Returns true
 * if it may start now; otherwise keel_order_remove() of an earlier entry
 * will admit it later.
 */
bool keel_order_add(struct keel_order *o, struct keel_interval *it);

/*
 * keel_order_remove - @it (started) has finished.  Every waiting entry that
 * may start now is marked started and passed to @admit, oldest first.
 * Returns how many were admitted.
 */
unsigned int keel_order_remove(struct keel_order *o, struct keel_interval *it,
			       void (*admit)(struct keel_interval *it,
					     void *arg),
			       void *arg);

#endif /* KEEL_ORDER_H */
