// SPDX-License-Identifier: GPL-2.0
/*
 * keel_events.c - events to user space on the "events" multicast group.
 *
 * keel_event() may be called from any context (IO completions included):
 * it only queues.  A work item on keel_wq sends the queued events, in
 * order, to the namespace of the volume's creator.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/spinlock.h>

#include "keel.h"

/* At most this many events wait; more are dropped (and counted). */
#define KEEL_EVENTS_MAX	1024

struct keel_pending_event {
	struct list_head node;
	struct net *net;	/* reference held until sent */
	struct keel_event_info info;
};

/* keel_events_lock protects keel_events_list and keel_events_queued. */
static DEFINE_SPINLOCK(keel_events_lock);
static LIST_HEAD(keel_events_list);
static unsigned int keel_events_queued;
static atomic_long_t keel_events_dropped = ATOMIC_LONG_INIT(0);

static void keel_events_send(struct work_struct *work)
{
	struct keel_pending_event *ev, *next;
	unsigned long irqflags;
	LIST_HEAD(batch);

	spin_lock_irqsave(&keel_events_lock, irqflags);
	list_splice_init(&keel_events_list, &batch);
	keel_events_queued = 0;
	spin_unlock_irqrestore(&keel_events_lock, irqflags);

	list_for_each_entry_safe(ev, next, &batch, node) {
		/* -ESRCH (nobody listening) is normal. */
		keel_nl_send_event(ev->net, &ev->info);
		put_net(ev->net);
		kfree(ev);
		keel_obj_put();
	}
}

static DECLARE_WORK(keel_events_work, keel_events_send);

static void keel_event_queue(struct keel_volume *vol,
			     const struct keel_event_info *info, gfp_t gfp)
{
	struct keel_pending_event *ev;
	unsigned long irqflags;

	ev = kzalloc(sizeof(*ev), gfp);
	if (!ev) {
		atomic_long_inc(&keel_events_dropped);
		return;
	}
	ev->net = get_net(vol->net);
	ev->info = *info;
	ev->info.id = vol->id;
	memcpy(ev->info.uuid, vol->uuid, KEEL_UUID_LEN);
	ev->info.epoch = READ_ONCE(vol->epoch);

	spin_lock_irqsave(&keel_events_lock, irqflags);
	if (keel_events_queued >= KEEL_EVENTS_MAX) {
		spin_unlock_irqrestore(&keel_events_lock, irqflags);
		put_net(ev->net);
		kfree(ev);
		atomic_long_inc(&keel_events_dropped);
		return;
	}
	list_add_tail(&ev->node, &keel_events_list);
	keel_events_queued++;
	keel_obj_get();
	spin_unlock_irqrestore(&keel_events_lock, irqflags);
	queue_work(keel_wq, &keel_events_work);
}

void keel_event(struct keel_volume *vol, u32 type, int err, u64 sector,
		gfp_t gfp)
{
	struct keel_event_info info = {
		.type = type, .err = err, .sector = sector,
		.slot = -1, .percent = -1,
	};

	keel_event_queue(vol, &info, gfp);
}

void keel_peer_event(struct keel_volume *vol, u32 type, int slot, int err,
		     int percent, const char *msg)
{
	struct keel_event_info info = {
		.type = type, .err = err, .slot = slot, .percent = percent,
	};

	if (msg)
		strscpy(info.msg, msg, sizeof(info.msg));
	keel_event_queue(vol, &info, GFP_ATOMIC);
}

/* Send what is queued and stop; called at module exit. */
void keel_events_exit(void)
{
	flush_work(&keel_events_work);
	keel_events_send(NULL);
	if (atomic_long_read(&keel_events_dropped))
		pr_info("%ld events were dropped (queue full or no memory)\n",
			atomic_long_read(&keel_events_dropped));
}
