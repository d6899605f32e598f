// SPDX-License-Identifier: GPL-2.0
/*
 * keel_volume.c - the table of volumes and their lifecycle.
 *
 * keel_volumes (an xarray indexed by volume id) and every volume's control
 * state are protected by keel_lock.  A volume holds a reference on the
 * module, so keel.ko cannot be unloaded while any volume exists.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "keel.h"

DEFINE_MUTEX(keel_lock);
atomic_long_t keel_objects = ATOMIC_LONG_INIT(0);

/* Volumes by id; under keel_lock. */
static DEFINE_XARRAY(keel_volumes);

struct keel_volume *keel_volume_find(u32 id)
{
	lockdep_assert_held(&keel_lock);
	return xa_load(&keel_volumes, id);
}

/* The volume with the lowest id >= *id, or NULL; *id is set to its id. */
struct keel_volume *keel_volume_next(u32 *id)
{
	unsigned long index = *id;
	struct keel_volume *vol;

	lockdep_assert_held(&keel_lock);
	vol = xa_find(&keel_volumes, &index, KEEL_MAX_VOLUMES - 1, XA_PRESENT);
	if (vol)
		*id = index;
	return vol;
}

u32 keel_volume_count(void)
{
	struct keel_volume *vol;
	unsigned long index;
	u32 n = 0;

	lockdep_assert_held(&keel_lock);
	xa_for_each(&keel_volumes, index, vol)
		n++;
	return n;
}

u32 keel_volume_state(struct keel_volume *vol)
{
	u32 state = 0;

	lockdep_assert_held(&keel_lock);
	if (vol->disk)
		state |= KEEL_STATE_ATTACHED;
	if (vol->backing.direct)
		state |= KEEL_STATE_DIRECT_IO;
	if (vol->formatted)
		state |= KEEL_STATE_FORMATTED;
	if (test_bit(KEEL_VOL_IO_ERROR, &vol->flags))
		state |= KEEL_STATE_IO_ERROR;
	if (vol->diskless)
		state |= KEEL_STATE_DISKLESS;
	if (vol->target)
		state |= KEEL_STATE_LISTENING;
	if (keel_volume_frozen(vol))
		state |= KEEL_STATE_FROZEN;
	return state;
}

void keel_volume_read_stats(struct keel_volume *vol, struct keel_stats *sum,
			    u64 *in_flight)
{
	long inflight = 0;
	int cpu, i;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct keel_stats *s = per_cpu_ptr(vol->stats, cpu);

		sum->reads += s->reads;
		sum->writes += s->writes;
		sum->read_bytes += s->read_bytes;
		sum->write_bytes += s->write_bytes;
		sum->flushes += s->flushes;
		sum->fua += s->fua;
		sum->discards += s->discards;
		sum->write_zeroes += s->write_zeroes;
		sum->errors += s->errors;
		sum->backing_syncs += s->backing_syncs;
		inflight += READ_ONCE(s->in_flight);
		for (i = 0; i < KEEL_LAT_BUCKETS; i++)
			sum->latency[i] += s->latency[i];
	}
	*in_flight = inflight > 0 ? inflight : 0;
}

/* Does some write wait for a PEER_OUTDATE? */
bool keel_volume_frozen(struct keel_volume *vol)
{
	bool frozen = false;
	int slot;

	spin_lock_irq(&vol->repl_lock);
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++)
		if (vol->peers[slot] && vol->peers[slot]->lost &&
		    !vol->peers[slot]->freeze_failed)
			frozen = true;
	spin_unlock_irq(&vol->repl_lock);
	return frozen;
}

/* Is @file's inode already the backing store of another volume? */
static bool keel_backing_in_use(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct keel_volume *vol;
	unsigned long index;

	lockdep_assert_held(&keel_lock);
	xa_for_each(&keel_volumes, index, vol)
		if (vol->backing.file && file_inode(vol->backing.file) == inode)
			return true;
	return false;
}

int keel_volume_create(const struct keel_meta *want, u32 id, bool pick_id,
		       const char *path, u32 flags, struct net *net,
		       struct keel_volume **out, struct netlink_ext_ack *extack)
{
	struct keel_volume *vol;
	int ret;

	lockdep_assert_held(&keel_lock);
	if (pick_id) {
		unsigned long index = 0;

		/* The lowest free id. */
		for (index = 0; index < KEEL_MAX_VOLUMES; index++)
			if (!xa_load(&keel_volumes, index))
				break;
		if (index == KEEL_MAX_VOLUMES) {
			NL_SET_ERR_MSG(extack, "no free volume id");
			return -ENOSPC;
		}
		id = index;
	} else if (xa_load(&keel_volumes, id)) {
		NL_SET_ERR_MSG(extack, "a volume with this id exists");
		return -EEXIST;
	}

	vol = kzalloc(sizeof(*vol), GFP_KERNEL);
	if (!vol)
		return -ENOMEM;
	vol->id = id;
	memcpy(vol->uuid, want->uuid, KEEL_UUID_LEN);
	vol->size = want->size;
	vol->block_size = want->block_size;
	vol->stats = alloc_percpu(struct keel_stats);
	if (!vol->stats) {
		ret = -ENOMEM;
		goto err_free_vol;
	}
	spin_lock_init(&vol->repl_lock);
	mutex_init(&vol->meta_mutex);
	init_llist_head(&vol->repl_new);
	init_llist_head(&vol->repl_ready);
	INIT_WORK(&vol->repl_work, keel_repl_work);
	vol->peer_timeout_ms = KEEL_PEER_TIMEOUT_MS_DEFAULT;
	vol->freeze_timeout_ms = KEEL_FREEZE_TIMEOUT_MS_DEFAULT;
	vol->freeze_policy = KEEL_FREEZE_HOLD;

	if (flags & KEEL_CREATE_F_DISKLESS) {
		/* No local replica: every IO goes to the peers. */
		vol->diskless = true;
		goto insert;
	}
	ret = keel_backing_open(&vol->backing, path, want->block_size, extack);
	if (ret)
		goto err_free_stats;
	/* Before touching its metadata: is it someone else's live replica? */
	if (keel_backing_in_use(vol->backing.file)) {
		NL_SET_ERR_MSG(extack, "backing store is already used by another volume");
		ret = -EBUSY;
		goto err_close_backing;
	}
	ret = keel_backing_load(&vol->backing, want, flags, &vol->formatted,
				extack);
	if (ret)
		goto err_close_backing;
	vol->epoch = vol->backing.meta.epoch;

insert:
	ret = xa_insert(&keel_volumes, id, vol, GFP_KERNEL);
	if (ret)
		goto err_close_backing;

	vol->net = get_net(net);
	__module_get(THIS_MODULE);
	keel_obj_get();
	keel_event(vol, KEEL_EVENT_VOLUME_CREATED, 0, 0, GFP_KERNEL);
	*out = vol;
	return 0;

err_close_backing:
	keel_backing_close(&vol->backing);
err_free_stats:
	free_percpu(vol->stats);
err_free_vol:
	kfree(vol);
	return ret;
}

int keel_volume_delete(struct keel_volume *vol, bool force,
		       struct netlink_ext_ack *extack)
{
	int ret, slot;

	lockdep_assert_held(&keel_lock);
	if (vol->disk) {
		if (!force) {
			NL_SET_ERR_MSG(extack, "volume is attached; detach it first or force the delete");
			return -EBUSY;
		}
		ret = keel_disk_detach(vol, true, extack);
		if (ret)
			return ret;
		keel_event(vol, KEEL_EVENT_VOLUME_DETACHED, 0, 0, GFP_KERNEL);
	}
	keel_target_stop(vol);
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++)
		if (vol->peers[slot])
			keel_peer_remove(vol, slot, NULL);
	flush_work(&vol->repl_work);
	xa_erase(&keel_volumes, vol->id);
	keel_event(vol, KEEL_EVENT_VOLUME_DELETED, 0, 0, GFP_KERNEL);
	keel_backing_close(&vol->backing);
	memzero_explicit(vol->secret, sizeof(vol->secret));
	put_net(vol->net);
	free_percpu(vol->stats);
	kfree(vol);
	keel_obj_put();
	module_put(THIS_MODULE);
	return 0;
}
