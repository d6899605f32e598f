// SPDX-License-Identifier: GPL-2.0
/*
 * keel_resync.c - per-peer dirty bitmaps and resync (rule 5).
 *
 * Each peer slot has a bitmap in the metadata area (docs/on-disk-format.md):
 * bit i set means bytes [i * granularity, (i + 1) * granularity) of the
 * peer's replica may differ from ours.  Bits are set (and persisted, with
 * RWF_DSYNC) before the write that dirties a new region is issued locally;
 * they are cleared as resync copies regions, and persisted lazily.  The
 * bitmap is kept in memory in the kernel's bitmap layout, which on the
 * little-endian machines keel supports is also the on-disk layout: bit i
 * is bit (i % 8) of byte (i / 8).
 *
 * Resync runs as a work item per peer while the peer is connected and not
 * in sync: it copies each dirty region, holding it in vol->order so that
 * an application write to the same region is ordered before or after the
 * copy, never mixed with it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "keel.h"
#include "keel_region.h"

#define KEEL_BM_PAGE	4096
#define KEEL_BM_PAGE_BITS (KEEL_BM_PAGE * 8)

static u32 keel_vol_granularity(struct keel_volume *vol)
{
	return vol->diskless ? KEEL_META_GRANULARITY :
			       vol->backing.meta.granularity;
}

static struct page *keel_bitmap_page(struct keel_peer *p, u32 i)
{
	void *addr = (void *)p->bitmap + (size_t)i * KEEL_BM_PAGE;

	return is_vmalloc_addr(addr) ? vmalloc_to_page(addr) :
				       virt_to_page(addr);
}

static loff_t keel_bitmap_pos(struct keel_volume *vol, u32 slot, u32 page)
{
	const struct keel_meta *m = &vol->backing.meta;

	return m->bitmap_offset + (loff_t)slot * m->bitmap_bytes +
	       (loff_t)page * KEEL_BM_PAGE;
}

int keel_bitmap_load(struct keel_peer *p, u32 sync)
{
	bool full = sync != KEEL_PEER_SYNC_BITMAP;
	struct keel_volume *vol = p->vol;
	u32 gran = keel_vol_granularity(vol);
	size_t bytes;
	u32 i;
	int ret;

	p->nbits = keel_region_bits(vol->size, gran);
	bytes = vol->diskless ?
		round_up(BITS_TO_LONGS(p->nbits) * sizeof(long), KEEL_BM_PAGE) :
		vol->backing.meta.bitmap_bytes;
	p->bm_pages = bytes / KEEL_BM_PAGE;
	p->bitmap = kvzalloc(bytes, GFP_KERNEL);
	p->bm_dirty = bitmap_zalloc(p->bm_pages, GFP_KERNEL);
	if (!p->bitmap || !p->bm_dirty) {
		ret = -ENOMEM;
		goto err_free;
	}
	/*
	 * Pulling: the bitmap says where *we* are stale; it lives in memory
	 * only (after a crash the manager asks for a full pull again).
	 */
	if (!vol->diskless && sync != KEEL_PEER_SYNC_PULL) {
		for (i = 0; i < p->bm_pages; i++) {
			struct bio_vec bv;

			bvec_set_page(&bv, keel_bitmap_page(p, i), KEEL_BM_PAGE,
				      0);
			ret = keel_backing_pread(&vol->backing, &bv, 1,
						 KEEL_BM_PAGE,
						 keel_bitmap_pos(vol, p->slot, i));
			if (ret)
				goto err_free;
		}
		/* Bits past the end mean nothing. */
		if (p->nbits < (u64)bytes * 8)
			bitmap_clear(p->bitmap, p->nbits, bytes * 8 - p->nbits);
	}
	if (full) {
		bitmap_set(p->bitmap, 0, p->nbits);
		if (sync == KEEL_PEER_SYNC_FULL)
			bitmap_set(p->bm_dirty, 0, p->bm_pages);
	}
	p->dirty_bits = bitmap_weight(p->bitmap, p->nbits);
	keel_obj_get();
	if (sync == KEEL_PEER_SYNC_FULL) {
		ret = keel_bitmap_persist(vol);
		if (ret) {
			keel_bitmap_free(p);
			return ret;
		}
	}
	return 0;

err_free:
	kvfree(p->bitmap);
	bitmap_free(p->bm_dirty);
	p->bitmap = NULL;
	p->bm_dirty = NULL;
	return ret;
}

void keel_bitmap_free(struct keel_peer *p)
{
	if (!p->bitmap)
		return;
	kvfree(p->bitmap);
	bitmap_free(p->bm_dirty);
	p->bitmap = NULL;
	p->bm_dirty = NULL;
	keel_obj_put();
}

/* Caller holds repl_lock.  True if a region became dirty. */
bool keel_bitmap_mark(struct keel_peer *p, u64 offset, u64 len)
{
	u64 first, last, bit;
	bool fresh = false;

	lockdep_assert_held(&p->vol->repl_lock);
	if (!len || p->pull)
		return false;	/* a peer we pull from has every write */
	keel_region_range(offset, len, keel_vol_granularity(p->vol), &first,
			  &last);
	for (bit = first; bit <= last && bit < p->nbits; bit++) {
		if (__test_and_set_bit(bit, p->bitmap))
			continue;
		p->dirty_bits++;
		__set_bit(bit / KEEL_BM_PAGE_BITS, p->bm_dirty);
		fresh = true;
	}
	return fresh;
}

/* Does any region of [offset, offset + len) have its bit set? */
bool keel_bitmap_any(struct keel_peer *p, u64 offset, u64 len)
{
	u64 first, last;

	lockdep_assert_held(&p->vol->repl_lock);
	keel_region_range(offset, len, keel_vol_granularity(p->vol), &first,
			  &last);
	last = min(last, p->nbits - 1);
	return find_next_bit(p->bitmap, last + 1, first) <= last;
}

/* Write every changed bitmap page of every peer, durably. */
int keel_bitmap_persist(struct keel_volume *vol)
{
	struct page *bounce;
	int ret = 0, slot;
	u32 i;

	if (vol->diskless)
		return 0;
	bounce = alloc_page(GFP_NOIO);
	if (!bounce)
		return -ENOMEM;
	mutex_lock(&vol->meta_mutex);
	for (slot = 0; slot < KEEL_META_MAX_PEERS; slot++) {
		for (i = 0; ; i++) {
			struct keel_peer *p;
			struct bio_vec bv;
			int err;

			spin_lock_irq(&vol->repl_lock);
			p = vol->peers[slot];
			if (p && p->pull)
				p = NULL;	/* in memory only */
			if (p)
				i = find_next_bit(p->bm_dirty, p->bm_pages, i);
			if (!p || i >= p->bm_pages) {
				spin_unlock_irq(&vol->repl_lock);
				break;
			}
			__clear_bit(i, p->bm_dirty);
			memcpy(page_address(bounce),
			       (void *)p->bitmap + (size_t)i * KEEL_BM_PAGE,
			       KEEL_BM_PAGE);
			spin_unlock_irq(&vol->repl_lock);

			bvec_set_page(&bv, bounce, KEEL_BM_PAGE, 0);
			err = keel_backing_pwrite(&vol->backing, &bv, 1,
						  KEEL_BM_PAGE,
						  keel_bitmap_pos(vol, slot, i),
						  RWF_DSYNC);
			if (err) {
				pr_err_ratelimited("keel%u: cannot persist the dirty bitmap of peer %d: %d\n",
						   vol->id, slot, err);
				ret = err;
			}
		}
	}
	mutex_unlock(&vol->meta_mutex);
	__free_page(bounce);
	return ret;
}

/* The slot's peer is gone: zero its bitmap on disk. */
int keel_bitmap_clear_slot(struct keel_volume *vol, u32 slot)
{
	struct page *zero;
	int ret = 0;
	u32 i;

	if (vol->diskless)
		return 0;
	zero = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!zero)
		return -ENOMEM;
	mutex_lock(&vol->meta_mutex);
	for (i = 0; i < vol->backing.meta.bitmap_bytes / KEEL_BM_PAGE; i++) {
		struct bio_vec bv;

		bvec_set_page(&bv, zero, KEEL_BM_PAGE, 0);
		ret = keel_backing_pwrite(&vol->backing, &bv, 1, KEEL_BM_PAGE,
					  keel_bitmap_pos(vol, slot, i),
					  RWF_DSYNC);
		if (ret)
			break;
	}
	mutex_unlock(&vol->meta_mutex);
	__free_page(zero);
	return ret;
}

/*
 * Resync keeps several regions in flight so that it is not bound by one
 * round trip per region: up to KEEL_RESYNC_INFLIGHT bytes, at most
 * KEEL_RESYNC_DEPTH regions.  Regions are finished in the order they were
 * started (a ring of chunks).
 */
#define KEEL_RESYNC_INFLIGHT	(4U << 20)
#define KEEL_RESYNC_DEPTH	16U

/* One region being copied; owned by the resync work item. */
struct keel_chunk {
	struct keel_interval iv;
	struct keel_preq preq;
	struct completion done;
	struct keel_peer *peer;
	struct bio_vec *bvec;
	unsigned int nr;
	u64 bit;
	u32 len;
	int err;
};

static void keel_chunk_done(struct keel_preq *preq, int err)
{
	struct keel_chunk *c = preq->owner;

	c->err = err;
	complete(&c->done);
}

/* vol->order admitted a resync chunk (repl_lock held). */
void keel_resync_admit(struct keel_interval *iv)
{
	struct keel_chunk *c = container_of(iv, struct keel_chunk, iv);

	wake_up(&c->peer->wait);
}

static bool keel_peer_connected(struct keel_peer *p)
{
	bool up;

	spin_lock_irq(&p->vol->repl_lock);
	up = p->connected;
	spin_unlock_irq(&p->vol->repl_lock);
	return up;
}

static void keel_chunk_release(struct keel_volume *vol, struct keel_chunk *c)
{
	spin_lock_irq(&vol->repl_lock);
	keel_order_remove(&vol->order, &c->iv, keel_repl_admit, vol);
	spin_unlock_irq(&vol->repl_lock);
}

/*
 * Start copying dirty region @bit: hold it in vol->order, read it (push)
 * and queue it to the peer.  0 once it is queued, or why resync must stop.
 *
 * If vol->order cannot admit the region at once and other chunks are in
 * flight (@may_wait false), it gives up with -EAGAIN instead of waiting: an
 * application write queued ahead of it may itself wait for one of those
 * chunks, which are only released by this same work item.
 */
static int keel_chunk_start(struct keel_peer *p, struct keel_chunk *c, u64 bit,
			    bool may_wait)
{
	struct keel_volume *vol = p->vol;
	u32 gran = keel_vol_granularity(vol);
	u64 off = bit * gran;
	bool started;
	int ret;

	c->bit = bit;
	c->len = keel_region_len(bit, vol->size, gran);
	c->iv.start = off;
	c->iv.end = off + c->len;
	c->iv.kind = KEEL_IV_RESYNC;
	spin_lock_irq(&vol->repl_lock);
	started = keel_order_add(&vol->order, &c->iv);
	spin_unlock_irq(&vol->repl_lock);
	if (!started && !may_wait) {
		keel_chunk_release(vol, c);
		return -EAGAIN;
	}
	if (!started) {
		wait_event(p->wait, READ_ONCE(c->iv.started) ||
			   !keel_peer_connected(p));
		if (!READ_ONCE(c->iv.started)) {
			keel_chunk_release(vol, c);
			return -ECONNRESET;
		}
	}
	if (!p->pull) {
		/* Push: our copy of the region goes to the peer. */
		ret = keel_backing_pread(&vol->backing, c->bvec, c->nr, c->len,
					 vol->backing.meta.data_offset + off);
		if (ret) {
			keel_chunk_release(vol, c);
			return ret;
		}
	}
	c->preq = (struct keel_preq){
		.type = p->pull ? KEEL_WIRE_READ : KEEL_WIRE_WRITE,
		.flags = p->pull ? 0 : KEEL_WIRE_F_RESYNC,
		.offset = off, .size = c->len, .bvec = c->bvec,
		.nr_bvec = c->nr, .owner = c, .done = keel_chunk_done,
	};
	reinit_completion(&c->done);
	spin_lock_irq(&vol->repl_lock);
	if (!p->connected) {
		spin_unlock_irq(&vol->repl_lock);
		keel_chunk_release(vol, c);
		return -ECONNRESET;
	}
	keel_peer_queue(p, &c->preq);
	spin_unlock_irq(&vol->repl_lock);
	return 0;
}

/*
 * Wait for a started chunk and account for it: 0, or why resync must stop.
 * The region's bit is cleared before the region leaves vol->order, so an
 * application write that dirties it again is ordered after the clear and
 * its own mark is never lost.
 */
static int keel_chunk_finish(struct keel_peer *p, struct keel_chunk *c)
{
	struct keel_volume *vol = p->vol;

	wait_for_completion(&c->done);
	if (!c->err && p->pull)
		/* Pull: the peer's copy of the region replaces ours. */
		c->err = keel_backing_pwrite(&vol->backing, c->bvec, c->nr,
					     c->len,
					     vol->backing.meta.data_offset +
					     c->iv.start, 0);
	spin_lock_irq(&vol->repl_lock);
	if (!c->err && __test_and_clear_bit(c->bit, p->bitmap)) {
		p->dirty_bits--;
		if (!p->pull)
			__set_bit(c->bit / KEEL_BM_PAGE_BITS, p->bm_dirty);
	}
	keel_order_remove(&vol->order, &c->iv, keel_repl_admit, vol);
	spin_unlock_irq(&vol->repl_lock);
	if (c->err)
		return c->err;
	p->resync_bytes += c->len;
	return 0;
}

static void keel_chunks_free(struct keel_chunk *chunks, u32 depth)
{
	u32 i;

	for (i = 0; i < depth; i++)
		if (chunks[i].bvec)
			keel_pages_free(chunks[i].bvec, chunks[i].nr);
	kfree(chunks);
}

static struct keel_chunk *keel_chunks_alloc(struct keel_peer *p, u32 depth)
{
	u32 gran = keel_vol_granularity(p->vol), i;
	struct keel_chunk *chunks;

	chunks = kcalloc(depth, sizeof(*chunks), GFP_KERNEL);
	if (!chunks)
		return NULL;
	for (i = 0; i < depth; i++) {
		init_completion(&chunks[i].done);
		chunks[i].peer = p;
		chunks[i].bvec = keel_pages_alloc(gran, &chunks[i].nr);
		if (!chunks[i].bvec) {
			keel_chunks_free(chunks, depth);
			return NULL;
		}
	}
	return chunks;
}

void keel_resync_work(struct work_struct *work)
{
	struct keel_peer *p = container_of(work, struct keel_peer, resync_work);
	struct keel_volume *vol = p->vol;
	u32 gran = keel_vol_granularity(vol);
	u32 depth = clamp_t(u32, KEEL_RESYNC_INFLIGHT / gran, 1,
			    KEEL_RESYNC_DEPTH);
	unsigned long window = jiffies, last_event = jiffies;
	u64 window_bytes = 0, total, next = 0, bit;
	u32 head = 0, busy = 0;
	struct keel_chunk *chunks, *c;
	bool in_sync = false, pulled = false, stop = false, up;
	int ret = 0, err;

	chunks = keel_chunks_alloc(p, depth);
	if (!chunks) {
		pr_warn("keel%u: no memory to resync peer %u; it is retried on reconnect\n",
			vol->id, p->slot);
		return;
	}
	total = max_t(u64, READ_ONCE(p->dirty_bits), 1);
	p->sync_percent = 0;
	keel_peer_event(vol, KEEL_EVENT_SYNC_STARTED, p->slot, 0, 0, NULL);
	pr_info("keel%u: resync of peer %u (%s) started: %llu regions, %u in flight\n",
		vol->id, p->slot, p->name, READ_ONCE(p->dirty_bits), depth);

	for (;;) {
		u64 rate, elapsed_ms, want_ms;

		/* Fill the pipeline with the next dirty regions. */
		while (!stop && busy < depth) {
			spin_lock_irq(&vol->repl_lock);
			bit = find_next_bit(p->bitmap, p->nbits, next);
			/*
			 * Regions dirtied behind us are picked up from the
			 * start, but only once nothing is in flight: the
			 * bits of in-flight regions are still set.
			 */
			if (bit >= p->nbits && !busy)
				bit = find_first_bit(p->bitmap, p->nbits);
			up = p->connected;
			spin_unlock_irq(&vol->repl_lock);
			if (!up) {
				stop = true;
				break;
			}
			if (bit >= p->nbits)
				break;
			err = keel_chunk_start(p, &chunks[(head + busy) % depth],
					       bit, !busy);
			if (err == -EAGAIN)	/* retried once one is done */
				break;
			if (err) {
				ret = err;
				stop = true;
				break;
			}
			next = bit + 1;
			busy++;
		}
		if (!busy)
			break;

		c = &chunks[head];
		head = (head + 1) % depth;
		busy--;
		err = keel_chunk_finish(p, c);
		if (err) {
			if (!ret)
				ret = err;
			stop = true;
			continue;
		}
		window_bytes += c->len;
		p->sync_percent = div64_u64((total - min(total,
				READ_ONCE(p->dirty_bits))) * 100, total);

		elapsed_ms = jiffies_to_msecs(jiffies - window);
		rate = READ_ONCE(vol->resync_rate);
		if (rate) {
			want_ms = div64_u64(window_bytes * 1000, rate);
			if (want_ms > elapsed_ms)
				msleep_interruptible(want_ms - elapsed_ms);
			elapsed_ms = jiffies_to_msecs(jiffies - window);
		}
		if (elapsed_ms >= 1000) {
			p->resync_rate = div64_u64(window_bytes * 1000,
						   elapsed_ms);
			window = jiffies;
			window_bytes = 0;
		}
		if (time_after(jiffies, last_event + HZ)) {
			last_event = jiffies;
			keel_peer_event(vol, KEEL_EVENT_SYNC_PROGRESS, p->slot,
					0, p->sync_percent, NULL);
		}
	}
	keel_bitmap_persist(vol);
	if (!stop) {
		spin_lock_irq(&vol->repl_lock);
		in_sync = p->connected && !p->dirty_bits &&
			  (!p->in_sync || p->pull);
		if (in_sync) {
			pulled = p->pull;
			p->in_sync = true;
			if (p->pull)
				vol->npulling--;
			p->pull = false;
		}
		spin_unlock_irq(&vol->repl_lock);
	}
	if (in_sync && pulled) {
		p->sync_percent = 100;
		pr_info("keel%u: the local replica is in sync (%llu bytes pulled from peer %u)\n",
			vol->id, p->resync_bytes, p->slot);
		keel_peer_event(vol, KEEL_EVENT_PEER_IN_SYNC, p->slot, 0, 100,
				"local replica pulled");
	} else if (in_sync) {
		p->sync_percent = 100;
		pr_info("keel%u: peer %u (%s) is in sync (%llu bytes resynced)\n",
			vol->id, p->slot, p->name, p->resync_bytes);
		keel_peer_event(vol, KEEL_EVENT_PEER_IN_SYNC, p->slot, 0, 100,
				NULL);
	} else if (ret) {
		pr_info("keel%u: resync of peer %u stopped (%d); it resumes on reconnect\n",
			vol->id, p->slot, ret);
	}
	keel_chunks_free(chunks, depth);
}
