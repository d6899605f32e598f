// SPDX-License-Identifier: GPL-2.0
/*
 * keel_order.c - ordering of overlapping in-flight writes (keel_order.h).
 * Pure logic; also compiled in user space by kmod/keel_order_test.cpp.
 */
#include "keel_order.h"

/* May @it start: does no entry before it overlap it? */
static bool keel_order_clear(const struct keel_order *o,
			     const struct keel_interval *it)
{
	const struct keel_interval *p;

	for (p = o->head; p && p != it; p = p->next)
		if (keel_interval_overlaps(p, it))
			return false;
	return true;
}

bool keel_order_add(struct keel_order *o, struct keel_interval *it)
{
	it->next = NULL;
	it->started = false;
	if (o->tail)
		o->tail->next = it;
	else
		o->head = it;
	o->tail = it;
	o->count++;
	it->started = keel_order_clear(o, it);
	return it->started;
}

unsigned int keel_order_remove(struct keel_order *o, struct keel_interval *it,
			       void (*admit)(struct keel_interval *it,
					     void *arg),
			       void *arg)
{
	struct keel_interval **pp, *p, *next;
	unsigned int n = 0;

	for (pp = &o->head; *pp && *pp != it; pp = &(*pp)->next)
		;
	if (!*pp)
		return 0;	/* not ours: nothing to do */
	*pp = it->next;
	if (o->tail == it) {
		/* The new tail is the entry before @it, if any. */
		o->tail = NULL;
		for (p = o->head; p; p = p->next)
			o->tail = p;
	}
	o->count--;
	it->next = NULL;

	/* Only entries that overlapped @it can have been waiting for it. */
	for (p = o->head; p; p = next) {
		next = p->next;
		if (p->started || !keel_interval_overlaps(p, it))
			continue;
		if (keel_order_clear(o, p)) {
			p->started = true;
			n++;
			admit(p, arg);
		}
	}
	return n;
}
