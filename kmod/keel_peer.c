// SPDX-License-Identifier: GPL-2.0
/*
 * keel_peer.c - peers: on the node where a volume is attached, the
 * connections to its other replicas (the initiator side of the wire
 * protocol).
 *
 * Each peer has one thread that owns its socket: it connects, does the
 * handshake, then receives ACKs until the connection fails, and tears it
 * down (keel_peer_down).  A work item (send_work) sends what is queued on
 * peer->sendq, under send_mutex.  What happens to the requests a failed
 * connection leaves behind is rule 2 of ARCHITECTURE.md: an in-sync peer
 * becomes "lost" and its requests are held (frozen) until user space
 * answers with PEER_OUTDATE; an out-of-sync peer's requests just mark its
 * dirty bitmap.  Either way the regions are marked dirty first, so a
 * resync later sends them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/algapi.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/sock.h>

#include "keel.h"

#define KEEL_CONNECT_MS		3000
#define KEEL_HANDSHAKE_MS	5000
#define KEEL_RETRY_MS		1000

static unsigned long keel_peer_timeout(struct keel_peer *p)
{
	return msecs_to_jiffies(READ_ONCE(p->vol->peer_timeout_ms));
}

static void keel_peer_note(struct keel_peer *p, int err, const char *msg,
			   bool event)
{
	bool changed;

	changed = p->last_err != err || strcmp(p->last_msg, msg);
	p->last_err = err;
	strscpy(p->last_msg, msg, sizeof(p->last_msg));
	if (changed && event) {
		pr_info("keel%u: peer %u (%s): %s (%d)\n", p->vol->id, p->slot,
			p->name, msg, err);
		keel_peer_event(p->vol, KEEL_EVENT_PEER_REFUSED, p->slot,
				-err, -1, msg);
	}
}

u32 keel_peer_state(struct keel_peer *p)
{
	lockdep_assert_held(&p->vol->repl_lock);
	if (p->lost)
		return KEEL_PEER_STATE_LOST;
	if (p->connected)
		return p->in_sync ? KEEL_PEER_STATE_IN_SYNC :
				    KEEL_PEER_STATE_SYNCING;
	return p->in_sync ? KEEL_PEER_STATE_CONNECTING :
			    KEEL_PEER_STATE_OUTDATED;
}

/* Caller holds vol->repl_lock. */
void keel_peer_kick(struct keel_peer *p)
{
	queue_work(keel_net_wq, &p->send_work);
}

void keel_peer_queue(struct keel_peer *p, struct keel_preq *preq)
{
	lockdep_assert_held(&p->vol->repl_lock);
	preq->queued = jiffies;
	list_add_tail(&preq->node, &p->sendq);
	if (p->connected)
		keel_peer_kick(p);
}

static bool keel_preq_dirties(const struct keel_preq *preq)
{
	return preq->type == KEEL_WIRE_WRITE ||
	       preq->type == KEEL_WIRE_DISCARD ||
	       preq->type == KEEL_WIRE_WRITE_ZEROES;
}

/*
 * The requests on @list did not reach the peer.  Mark their regions dirty
 * (durably), then hold them (@hold: the peer was in sync) or let them go.
 * Resync chunks and reads always fail: their owners retry elsewhere.
 */
static void keel_peer_fail_list(struct keel_peer *p, struct list_head *list,
				bool hold)
{
	struct keel_volume *vol = p->vol;
	struct keel_preq *preq, *next;
	unsigned long flags;

	spin_lock_irqsave(&vol->repl_lock, flags);
	list_for_each_entry(preq, list, node)
		if (keel_preq_dirties(preq) &&
		    !(preq->flags & KEEL_WIRE_F_RESYNC))
			keel_bitmap_mark(p, preq->offset, preq->size);
	spin_unlock_irqrestore(&vol->repl_lock, flags);
	keel_bitmap_persist(vol);

	list_for_each_entry_safe(preq, next, list, node) {
		list_del_init(&preq->node);
		if (preq->type == KEEL_WIRE_READ ||
		    (preq->flags & KEEL_WIRE_F_RESYNC)) {
			preq->done(preq, -ECONNRESET);
		} else if (hold) {
			spin_lock_irqsave(&vol->repl_lock, flags);
			if (p->freeze_failed) {
				spin_unlock_irqrestore(&vol->repl_lock, flags);
				preq->done(preq, -EIO);
				continue;
			}
			list_add_tail(&preq->node, &p->frozen);
			spin_unlock_irqrestore(&vol->repl_lock, flags);
		} else {
			preq->done(preq, 0);
		}
	}
}

/*
 * Mark @p lost (caller holds repl_lock): writes freeze until OUTDATE --
 * unless the disk is being detached (KEEL_VOL_NO_FREEZE): then they fail,
 * as nothing could answer while the detach holds keel_lock.
 */
static void keel_peer_set_lost(struct keel_peer *p)
{
	p->lost = true;
	p->lost_since = jiffies;
	if (test_bit(KEEL_VOL_NO_FREEZE, &p->vol->flags))
		p->freeze_failed = true;
}

/*
 * The disk goes away: fail (EIO) every write that waits for this peer --
 * frozen for an outdate, or queued for an in-sync peer that is not
 * connected -- after marking what they dirtied.
 */
void keel_peer_fail_frozen(struct keel_peer *p)
{
	struct keel_volume *vol = p->vol;
	struct keel_preq *preq, *next;
	LIST_HEAD(frozen);
	LIST_HEAD(queued);

	spin_lock_irq(&vol->repl_lock);
	if (p->connected || !(p->lost || p->in_sync)) {
		spin_unlock_irq(&vol->repl_lock);
		return;
	}
	if (!p->lost)
		keel_peer_set_lost(p);
	p->freeze_failed = true;
	list_splice_init(&p->frozen, &frozen);
	list_splice_init(&p->sendq, &queued);
	spin_unlock_irq(&vol->repl_lock);
	keel_peer_fail_list(p, &queued, true);
	list_for_each_entry_safe(preq, next, &frozen, node) {
		list_del_init(&preq->node);
		preq->done(preq, -EIO);
	}
}

static void keel_peer_send_work(struct work_struct *work)
{
	struct keel_peer *p = container_of(work, struct keel_peer, send_work);
	struct keel_volume *vol = p->vol;
	struct keel_preq *preq;
	struct keel_wire_msg m;
	struct keel_wire_hdr h;
	struct socket *sock;
	bool payload;
	int ret = 0;

	mutex_lock(&p->send_mutex);
	sock = p->sock;
	while (sock && !ret) {
		spin_lock_irq(&vol->repl_lock);
		if (!p->connected) {
			spin_unlock_irq(&vol->repl_lock);
			break;
		}
		if (p->ping_due) {
			p->ping_due = false;
			spin_unlock_irq(&vol->repl_lock);
			m = (struct keel_wire_msg){ .type = KEEL_WIRE_PING };
			keel_wire_encode(&m, &h);
			ret = keel_sock_send(sock, &h, sizeof(h), false);
			continue;
		}
		preq = list_first_entry_or_null(&p->sendq, struct keel_preq,
						node);
		if (!preq) {
			spin_unlock_irq(&vol->repl_lock);
			break;
		}
		list_move_tail(&preq->node, &p->sent);
		preq->seq = ++p->seq;
		preq->queued = jiffies;
		m = (struct keel_wire_msg){
			.type = preq->type, .flags = preq->flags,
			.size = preq->size, .seq = preq->seq,
			.offset = preq->offset, .epoch = READ_ONCE(vol->epoch),
		};
		spin_unlock_irq(&vol->repl_lock);

		payload = m.type == KEEL_WIRE_WRITE;
		if (payload) {
			m.length = m.size;
			if (p->digest) {
				m.flags |= KEEL_WIRE_F_DIGEST;
				m.digest = keel_crc32c_bvec(preq->bvec,
							    preq->nr_bvec,
							    m.size);
			}
		}
		keel_wire_encode(&m, &h);
		/* After the last byte is queued, @preq may complete at once. */
		ret = keel_sock_send(sock, &h, sizeof(h), payload);
		if (!ret && payload)
			ret = keel_sock_send_bvec(sock, preq->bvec,
						  preq->nr_bvec, m.size);
		if (!ret && payload)
			p->bytes_sent += m.size;
	}
	if (ret && sock)
		kernel_sock_shutdown(sock, SHUT_RDWR);	/* the thread cleans up */
	mutex_unlock(&p->send_mutex);
}

struct keel_hs {
	struct keel_peer *p;
	unsigned long deadline;
};

static bool keel_hs_give_up(void *arg)
{
	struct keel_hs *hs = arg;

	return kthread_should_stop() || time_after(jiffies, hs->deadline);
}

/* Receive a REFUSE's payload and report it. */
static int keel_peer_refused(struct keel_peer *p, struct socket *sock,
			     const struct keel_wire_msg *m, struct keel_hs *hs)
{
	struct keel_wire_refuse r;
	char msg[KEEL_STRING_MAX];
	int err;

	if (keel_sock_recv(sock, &r, sizeof(r), keel_hs_give_up, hs))
		return -ECONNRESET;
	r.message[sizeof(r.message) - 1] = 0;
	snprintf(msg, sizeof(msg), "refused: %.*s", KEEL_STRING_MAX - 10,
		 r.message);
	err = m->status && m->status < 4096 ? -(int)m->status : -EACCES;
	keel_peer_note(p, err, msg, true);
	return err;
}

/* Send one handshake message: a header and its fixed payload. */
static int keel_hs_send(struct socket *sock, u16 type, u64 epoch, u32 status,
			const void *payload, u32 len)
{
	struct keel_wire_msg m = { .type = type, .length = len,
				   .epoch = epoch, .status = status };
	struct keel_wire_hdr h;
	int ret;

	keel_wire_encode(&m, &h);
	ret = keel_sock_send(sock, &h, sizeof(h), true);
	return ret ?: keel_sock_send(sock, payload, len, false);
}

/* Receive the next handshake header, which must be @type (or a REFUSE). */
static int keel_hs_expect(struct keel_peer *p, struct socket *sock,
			  struct keel_hs *hs, u16 type, struct keel_wire_msg *m)
{
	struct keel_volume *vol = p->vol;
	struct keel_wire_hdr h;
	const char *why;
	int ret;

	ret = keel_sock_recv(sock, &h, sizeof(h), keel_hs_give_up, hs);
	if (ret)
		return ret;
	why = keel_wire_decode(&h, m, vol->size, vol->block_size);
	if (!why && m->type == KEEL_WIRE_REFUSE)
		return keel_peer_refused(p, sock, m, hs);
	if (!why && m->type != type)
		why = type == KEEL_WIRE_CHALLENGE ? "expected CHALLENGE" :
						    "expected WELCOME";
	if (why) {
		keel_peer_note(p, -EPROTO, why, true);
		return -EPROTO;
	}
	return 0;
}

static int keel_peer_handshake(struct keel_peer *p, struct socket *sock)
{
	struct keel_volume *vol = p->vol;
	struct keel_hs hs = { .p = p,
			      .deadline = jiffies +
					  msecs_to_jiffies(KEEL_HANDSHAKE_MS) };
	struct keel_wire_hello hello = { };
	struct keel_wire_challenge ch;
	struct keel_wire_transcript tr;
	struct keel_wire_auth auth;
	struct keel_wire_msg m;
	u8 secret[KEEL_SECRET_MAX], mac[KEEL_WIRE_MAC_LEN];
	u32 secret_len;
	u64 epoch_i = keel_volume_epoch(vol), epoch_t;
	int ret;

	spin_lock_irq(&vol->repl_lock);
	secret_len = vol->secret_len;
	memcpy(secret, vol->secret, secret_len);
	spin_unlock_irq(&vol->repl_lock);

	hello.version_min = cpu_to_le32(KEEL_WIRE_VERSION);
	hello.version_max = cpu_to_le32(KEEL_WIRE_VERSION);
	hello.features = cpu_to_le64(READ_ONCE(vol->digest) ?
				     KEEL_WIRE_FEAT_DIGEST : 0);
	memcpy(hello.uuid, vol->uuid, KEEL_UUID_LEN);
	hello.size = cpu_to_le64(vol->size);
	hello.block_size = cpu_to_le32(vol->block_size);
	get_random_bytes(hello.nonce, sizeof(hello.nonce));
	ret = keel_hs_send(sock, KEEL_WIRE_HELLO, epoch_i, 0, &hello,
			   sizeof(hello));
	if (!ret)
		ret = keel_hs_expect(p, sock, &hs, KEEL_WIRE_CHALLENGE, &m);
	if (!ret)
		ret = keel_sock_recv(sock, &ch, sizeof(ch), keel_hs_give_up, &hs);
	if (ret)
		goto out;
	epoch_t = le64_to_cpu(ch.epoch);
	if (le32_to_cpu(ch.version) != KEEL_WIRE_VERSION ||
	    (le64_to_cpu(ch.features) & ~le64_to_cpu(hello.features)) ||
	    epoch_t != m.epoch) {
		keel_peer_note(p, -EPROTO, "CHALLENGE offers what we did not", true);
		ret = -EPROTO;
		goto out;
	}
	if (!memcmp(ch.nonce, hello.nonce, sizeof(ch.nonce))) {
		keel_peer_note(p, -EPROTO, "reflected challenge", true);
		ret = -EPROTO;
		goto out;
	}
	keel_wire_make_transcript(&tr, true, hello.nonce, ch.nonce, vol->uuid,
				  epoch_i, epoch_t);
	ret = keel_hmac(secret, secret_len, &tr, sizeof(tr), mac);
	if (ret)
		goto out;
	if (crypto_memneq(mac, ch.mac, sizeof(mac))) {
		struct keel_wire_refuse r = {
			.reason = cpu_to_le32(KEEL_REFUSE_AUTH),
			.message = "authentication failed (wrong secret)",
		};

		keel_hs_send(sock, KEEL_WIRE_REFUSE, epoch_i, EACCES, &r,
			     sizeof(r));
		keel_peer_note(p, -EACCES, "the peer failed to authenticate (wrong secret)", true);
		ret = -EACCES;
		goto out;
	}
	keel_wire_make_transcript(&tr, false, hello.nonce, ch.nonce, vol->uuid,
				  epoch_i, epoch_t);
	ret = keel_hmac(secret, secret_len, &tr, sizeof(tr), auth.mac);
	if (ret)
		goto out;
	ret = keel_hs_send(sock, KEEL_WIRE_AUTH, epoch_i, 0, &auth,
			   sizeof(auth));
	if (!ret)
		ret = keel_hs_expect(p, sock, &hs, KEEL_WIRE_WELCOME, &m);
	if (ret)
		goto out;
	p->peer_epoch = m.epoch;
	p->digest = le64_to_cpu(ch.features) & KEEL_WIRE_FEAT_DIGEST;
	ret = 0;
out:
	memzero_explicit(secret, sizeof(secret));
	return ret;
}

static int keel_peer_connect(struct keel_peer *p, struct socket **out)
{
	struct socket *sock;
	int ret;

	if (!READ_ONCE(p->vol->secret_len)) {
		keel_peer_note(p, -EACCES, "no secret set", false);
		return -EACCES;
	}
	ret = sock_create_kern(p->net, p->addr.ss_family, SOCK_STREAM,
			       IPPROTO_TCP, &sock);
	if (ret)
		return ret;
	sock->sk->sk_sndtimeo = msecs_to_jiffies(KEEL_CONNECT_MS);
	ret = kernel_connect(sock, (struct sockaddr *)&p->addr,
			     p->addr.ss_family == AF_INET ?
			     sizeof(struct sockaddr_in) :
			     sizeof(struct sockaddr_in6), 0);
	if (ret) {
		keel_peer_note(p, ret, "cannot connect", false);
		goto err_release;
	}
	keel_sock_tune(sock, 250);
	ret = keel_peer_handshake(p, sock);
	if (ret)
		goto err_release;
	*out = sock;
	return 0;

err_release:
	sock_release(sock);
	return ret;
}

/* Called on every receive timeout: ping when idle, give up when dead. */
static bool keel_peer_rx_give_up(void *arg)
{
	struct keel_peer *p = arg;
	struct keel_volume *vol = p->vol;
	unsigned long idle = jiffies - READ_ONCE(p->last_rx);
	bool busy;

	if (kthread_should_stop())
		return true;
	spin_lock_irq(&vol->repl_lock);
	busy = !list_empty(&p->sent) || p->ping_out;
	if (!busy && idle > HZ) {
		p->ping_due = true;
		p->ping_out = true;
		keel_peer_kick(p);
	}
	spin_unlock_irq(&vol->repl_lock);
	if (busy && idle > keel_peer_timeout(p)) {
		keel_peer_note(p, -ETIMEDOUT, "no answer within the peer timeout", false);
		return true;
	}
	return false;
}

static int keel_peer_ack(struct keel_peer *p, struct socket *sock,
			 const struct keel_wire_msg *m)
{
	struct keel_volume *vol = p->vol;
	struct keel_preq *preq = NULL, *it;
	int ret;

	spin_lock_irq(&vol->repl_lock);
	list_for_each_entry(it, &p->sent, node) {
		if (it->seq == m->seq) {
			preq = it;
			list_del_init(&preq->node);
			break;
		}
	}
	spin_unlock_irq(&vol->repl_lock);
	if (!preq) {
		keel_peer_note(p, -EPROTO, "ACK for no request", true);
		return -EPROTO;
	}

	if (m->status) {
		if (preq->type == KEEL_WIRE_READ) {
			preq->done(preq, -EIO);
			return 0;
		}
		/* The peer could not apply it: treat the peer as failed. */
		spin_lock_irq(&vol->repl_lock);
		list_add(&preq->node, &p->sent);
		spin_unlock_irq(&vol->repl_lock);
		keel_peer_note(p, m->status == ESTALE ? -ESTALE : -EIO,
			       m->status == ESTALE ?
			       "fenced: the peer has a newer epoch" :
			       "the peer failed a write", true);
		return m->status == ESTALE ? -ESTALE : -EIO;
	}
	if (preq->type == KEEL_WIRE_READ) {
		if (m->length != preq->size) {
			ret = -EPROTO;
			goto err_requeue;
		}
		ret = keel_sock_recv_bvec(sock, preq->bvec, preq->nr_bvec,
					  m->length, keel_peer_rx_give_up, p);
		if (ret)
			goto err_requeue;
		if ((m->flags & KEEL_WIRE_F_DIGEST) &&
		    keel_crc32c_bvec(preq->bvec, preq->nr_bvec, m->length) !=
		    m->digest) {
			keel_peer_note(p, -EBADMSG, "data digest mismatch", true);
			ret = -EBADMSG;
			goto err_requeue;
		}
	} else if (m->length) {
		ret = -EPROTO;
		goto err_requeue;
	}
	if (preq->type == KEEL_WIRE_WRITE)
		p->bytes_acked += preq->size;
	preq->done(preq, 0);
	return 0;

err_requeue:
	spin_lock_irq(&vol->repl_lock);
	list_add(&preq->node, &p->sent);
	spin_unlock_irq(&vol->repl_lock);
	return ret;
}

static int keel_peer_receive(struct keel_peer *p, struct socket *sock)
{
	struct keel_volume *vol = p->vol;
	struct keel_wire_msg m;
	struct keel_wire_hdr h;
	const char *why;
	int ret;

	for (;;) {
		ret = keel_sock_recv(sock, &h, sizeof(h), keel_peer_rx_give_up,
				     p);
		if (ret)
			return ret;
		why = keel_wire_decode(&h, &m, vol->size, vol->block_size);
		if (why) {
			keel_peer_note(p, -EPROTO, why, true);
			return -EPROTO;
		}
		WRITE_ONCE(p->last_rx, jiffies);
		switch (m.type) {
		case KEEL_WIRE_PONG:
			spin_lock_irq(&vol->repl_lock);
			p->ping_out = false;
			spin_unlock_irq(&vol->repl_lock);
			break;
		case KEEL_WIRE_ACK:
			ret = keel_peer_ack(p, sock, &m);
			if (ret)
				return ret;
			break;
		default:
			keel_peer_note(p, -EPROTO, "unexpected message", true);
			return -EPROTO;
		}
	}
}

static void keel_peer_up(struct keel_peer *p, struct socket *sock)
{
	struct keel_volume *vol = p->vol;
	bool resync;

	mutex_lock(&p->send_mutex);
	p->sock = sock;
	mutex_unlock(&p->send_mutex);
	spin_lock_irq(&vol->repl_lock);
	p->connected = true;
	p->ping_due = false;
	p->ping_out = false;
	p->last_rx = jiffies;
	p->connects++;
	resync = !p->in_sync || (p->pull && p->dirty_bits);
	keel_peer_kick(p);
	spin_unlock_irq(&vol->repl_lock);
	keel_peer_note(p, 0, "connected", false);
	pr_info("keel%u: peer %u (%s) connected\n", vol->id, p->slot, p->name);
	keel_peer_event(vol, KEEL_EVENT_PEER_CONNECTED, p->slot, 0, -1, NULL);
	if (resync && !vol->diskless)
		queue_work(keel_net_wq, &p->resync_work);
}

static void keel_peer_down(struct keel_peer *p, struct socket *sock, int err)
{
	struct keel_volume *vol = p->vol;
	bool was_in_sync;
	LIST_HEAD(list);

	kernel_sock_shutdown(sock, SHUT_RDWR);
	spin_lock_irq(&vol->repl_lock);
	p->connected = false;
	p->down_since = jiffies;
	spin_unlock_irq(&vol->repl_lock);
	mutex_lock(&p->send_mutex);
	p->sock = NULL;
	mutex_unlock(&p->send_mutex);

	spin_lock_irq(&vol->repl_lock);
	list_splice_init(&p->sent, &list);
	list_splice_tail_init(&p->sendq, &list);
	was_in_sync = p->in_sync;
	if (was_in_sync)
		keel_peer_set_lost(p);
	spin_unlock_irq(&vol->repl_lock);

	keel_peer_fail_list(p, &list, was_in_sync);
	flush_work(&p->resync_work);
	sock_release(sock);
	if (kthread_should_stop())
		pr_info("keel%u: peer %u (%s) removed\n", vol->id, p->slot,
			p->name);
	else
		pr_info("keel%u: peer %u (%s) disconnected (%d)%s\n", vol->id,
			p->slot, p->name, err,
			was_in_sync ? "; writes wait for PEER_OUTDATE" : "");
	keel_peer_event(vol, was_in_sync ? KEEL_EVENT_PEER_LOST :
			KEEL_EVENT_PEER_DISCONNECTED, p->slot, -err, -1,
			p->last_msg);
}

/* Not connected: an in-sync peer whose queued writes waited too long is lost. */
static void keel_peer_check_down(struct keel_peer *p)
{
	struct keel_volume *vol = p->vol;
	struct keel_preq *first;
	LIST_HEAD(list);

	spin_lock_irq(&vol->repl_lock);
	first = list_first_entry_or_null(&p->sendq, struct keel_preq, node);
	if (!p->in_sync || p->lost || p->connected || !first ||
	    time_before(jiffies, first->queued + keel_peer_timeout(p))) {
		spin_unlock_irq(&vol->repl_lock);
		return;
	}
	list_splice_init(&p->sendq, &list);
	keel_peer_set_lost(p);
	spin_unlock_irq(&vol->repl_lock);
	keel_peer_fail_list(p, &list, true);
	pr_info("keel%u: peer %u (%s) unreachable; writes wait for PEER_OUTDATE\n",
		vol->id, p->slot, p->name);
	keel_peer_event(vol, KEEL_EVENT_PEER_LOST, p->slot, ETIMEDOUT, -1,
			p->last_msg);
}

/* Lost under the FAIL policy: fail the frozen writes after the timeout. */
static void keel_peer_check_freeze(struct keel_peer *p)
{
	struct keel_volume *vol = p->vol;
	struct keel_preq *preq, *next;
	LIST_HEAD(list);

	spin_lock_irq(&vol->repl_lock);
	if (!p->lost || p->freeze_failed ||
	    READ_ONCE(vol->freeze_policy) != KEEL_FREEZE_FAIL ||
	    time_before(jiffies, p->lost_since +
			msecs_to_jiffies(READ_ONCE(vol->freeze_timeout_ms)))) {
		spin_unlock_irq(&vol->repl_lock);
		return;
	}
	p->freeze_failed = true;
	list_splice_init(&p->frozen, &list);
	spin_unlock_irq(&vol->repl_lock);
	list_for_each_entry_safe(preq, next, &list, node) {
		list_del_init(&preq->node);
		preq->done(preq, -EIO);
	}
	pr_warn("keel%u: peer %u lost and no PEER_OUTDATE came: failing writes\n",
		vol->id, p->slot);
	keel_peer_event(vol, KEEL_EVENT_FREEZE_TIMEOUT, p->slot, EIO, -1, NULL);
}

static int keel_peer_thread(void *arg)
{
	struct keel_peer *p = arg;
	struct socket *sock;
	bool lost;
	int ret;

	while (!kthread_should_stop()) {
		spin_lock_irq(&p->vol->repl_lock);
		lost = p->lost;
		spin_unlock_irq(&p->vol->repl_lock);
		if (lost) {
			/* Reconnect only once user space has outdated it. */
			keel_peer_check_freeze(p);
			wait_event_interruptible_timeout(p->wait,
							 kthread_should_stop(),
							 HZ / 10);
			continue;
		}
		ret = keel_peer_connect(p, &sock);
		if (ret) {
			keel_peer_check_down(p);
			wait_event_interruptible_timeout(p->wait,
				kthread_should_stop(),
				msecs_to_jiffies(KEEL_RETRY_MS));
			continue;
		}
		keel_peer_up(p, sock);
		ret = keel_peer_receive(p, sock);
		keel_peer_down(p, sock, ret);
	}
	return 0;
}

int keel_peer_add(struct keel_volume *vol, u32 slot, const char *name,
		  const struct sockaddr_storage *addr, struct net *net,
		  u32 sync, struct netlink_ext_ack *extack)
{
	int slot2;
	struct keel_peer *p;
	int ret;

	lockdep_assert_held(&keel_lock);
	if (vol->peers[slot]) {
		NL_SET_ERR_MSG(extack, "this peer slot is in use");
		return -EEXIST;
	}
	if (vol->target) {
		NL_SET_ERR_MSG(extack, "this node is a replica target of the volume; stop listening first");
		return -EBUSY;
	}
	if (vol->diskless && sync != KEEL_PEER_SYNC_BITMAP) {
		NL_SET_ERR_MSG(extack, "a diskless volume has no replica to resync to or from");
		return -EINVAL;
	}
	for (slot2 = 0; sync == KEEL_PEER_SYNC_PULL &&
	     slot2 < KEEL_META_MAX_PEERS; slot2++) {
		if (vol->peers[slot2] && vol->peers[slot2]->pull) {
			NL_SET_ERR_MSG(extack, "the volume already pulls from another peer");
			return -EBUSY;
		}
	}
	if (!vol->secret_len) {
		NL_SET_ERR_MSG(extack, "set the cluster secret first (VOLUME_SET)");
		return -EINVAL;
	}
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->vol = vol;
	p->slot = slot;
	strscpy(p->name, name ?: "", sizeof(p->name));
	p->addr = *addr;
	INIT_LIST_HEAD(&p->sendq);
	INIT_LIST_HEAD(&p->sent);
	INIT_LIST_HEAD(&p->frozen);
	mutex_init(&p->send_mutex);
	INIT_WORK(&p->send_work, keel_peer_send_work);
	INIT_WORK(&p->resync_work, keel_resync_work);
	init_waitqueue_head(&p->wait);
	p->down_since = jiffies;

	ret = keel_bitmap_load(p, sync);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot read or write the peer's dirty bitmap");
		goto err_free;
	}
	/* A peer we pull from is the good copy: in sync by definition. */
	p->pull = sync == KEEL_PEER_SYNC_PULL;
	p->in_sync = p->pull || p->dirty_bits == 0;
	p->net = get_net(net);
	p->thread = kthread_create(keel_peer_thread, p, "keel_p%u.%u", vol->id,
				   slot);
	if (IS_ERR(p->thread)) {
		ret = PTR_ERR(p->thread);
		goto err_put_net;
	}
	spin_lock_irq(&vol->repl_lock);
	vol->peers[slot] = p;
	vol->npeers++;
	if (p->pull)
		vol->npulling++;
	spin_unlock_irq(&vol->repl_lock);
	keel_obj_get();
	wake_up_process(p->thread);
	return 0;

err_put_net:
	put_net(p->net);
	keel_bitmap_free(p);
err_free:
	kfree(p);
	return ret;
}

int keel_peer_remove(struct keel_volume *vol, u32 slot,
		     struct netlink_ext_ack *extack)
{
	struct keel_peer *p = vol->peers[slot];
	struct keel_preq *preq, *next;
	LIST_HEAD(list);

	lockdep_assert_held(&keel_lock);
	if (!p) {
		NL_SET_ERR_MSG(extack, "no peer in this slot");
		return -ENOENT;
	}
	if (extack && READ_ONCE(p->pull)) {
		NL_SET_ERR_MSG(extack, "the local replica is still being pulled from this peer: it is the only good copy");
		return -EBUSY;
	}
	kthread_stop(p->thread);	/* disconnects: see keel_peer_down() */
	spin_lock_irq(&vol->repl_lock);
	vol->peers[slot] = NULL;
	vol->npeers--;
	if (p->pull)
		vol->npulling--;
	list_splice_init(&p->frozen, &list);
	list_splice_tail_init(&p->sendq, &list);
	spin_unlock_irq(&vol->repl_lock);
	cancel_work_sync(&p->send_work);
	flush_work(&p->resync_work);
	/* No longer a replica: what waited for it goes on without it. */
	list_for_each_entry_safe(preq, next, &list, node) {
		list_del_init(&preq->node);
		preq->done(preq, 0);
	}
	keel_bitmap_clear_slot(vol, slot);
	keel_bitmap_free(p);
	put_net(p->net);
	kfree(p);
	keel_obj_put();
	return 0;
}

int keel_peer_outdate(struct keel_volume *vol, u32 slot, u64 epoch,
		      struct netlink_ext_ack *extack)
{
	struct keel_peer *p = vol->peers[slot];
	struct keel_preq *preq, *next;
	LIST_HEAD(frozen);
	LIST_HEAD(queued);
	int ret;

	lockdep_assert_held(&keel_lock);
	if (!p) {
		NL_SET_ERR_MSG(extack, "no peer in this slot");
		return -ENOENT;
	}
	if (epoch <= keel_volume_epoch(vol)) {
		NL_SET_ERR_MSG(extack, "the new epoch must be higher than the volume's");
		return -EINVAL;
	}
	spin_lock_irq(&vol->repl_lock);
	if (p->connected) {
		spin_unlock_irq(&vol->repl_lock);
		NL_SET_ERR_MSG(extack, "the peer is connected; only a lost or unreachable peer can be outdated");
		return -EBUSY;
	}
	spin_unlock_irq(&vol->repl_lock);
	/* The epoch is recorded before any frozen write completes. */
	ret = keel_volume_set_epoch(vol, epoch);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot write the new epoch to the metadata");
		return ret;
	}
	spin_lock_irq(&vol->repl_lock);
	p->lost = false;
	p->in_sync = false;
	p->freeze_failed = false;
	list_splice_init(&p->frozen, &frozen);
	list_splice_init(&p->sendq, &queued);
	spin_unlock_irq(&vol->repl_lock);
	keel_peer_fail_list(p, &queued, false);
	list_for_each_entry_safe(preq, next, &frozen, node) {
		list_del_init(&preq->node);
		preq->done(preq, 0);
	}
	pr_info("keel%u: peer %u (%s) outdated at epoch %llu\n", vol->id, slot,
		p->name, epoch);
	keel_peer_event(vol, KEEL_EVENT_PEER_OUTDATED, slot, 0, -1, NULL);
	wake_up(&p->wait);
	return 0;
}
