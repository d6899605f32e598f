// SPDX-License-Identifier: GPL-2.0
/*
 * keel_target.c - the replica target: on a node that holds a replica of a
 * volume attached elsewhere, accept the attached node's connection,
 * authenticate it, and apply its requests to the local backing store.
 *
 * Threads: one accept thread per listening volume; one thread per
 * connection that does the handshake and then reads requests.  Requests
 * are applied by work items on keel_net_wq (concurrently: the initiator
 * never has two overlapping writes in flight), each of which sends its own
 * ACK under the connection's send_mutex.  Only one connection at a time is
 * "active" (authenticated, epoch not lower than ours); a newer one replaces
 * it after the old one's requests have drained.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/algapi.h>
#include <linux/falloc.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/sock.h>

#include "keel.h"

#define KEEL_HANDSHAKE_MS	5000	/* to complete the handshake */
#define KEEL_TARGET_IDLE_MS	30000	/* the initiator pings every second */

struct keel_tconn {
	struct list_head node;		/* on target->conns */
	struct keel_target *t;
	struct socket *sock;
	struct mutex send_mutex;	/* serializes sends on @sock */
	atomic_t inflight;		/* requests being applied */
	bool stop;			/* shut down: replaced or stopping */
	bool digest;			/* data digests negotiated */
	unsigned long deadline;		/* jiffies: give up receiving */
	unsigned long last_rx;
};

struct keel_treq {
	struct work_struct work;
	struct keel_tconn *conn;
	struct keel_wire_msg m;
	struct bio_vec *bvec;
	unsigned int nr;
};

static bool keel_tconn_give_up(void *arg)
{
	struct keel_tconn *conn = arg;

	return READ_ONCE(conn->stop) || kthread_should_stop() ||
	       time_after(jiffies, conn->deadline);
}

static int keel_tconn_recv(struct keel_tconn *conn, void *buf, size_t len,
			   unsigned int ms)
{
	conn->deadline = jiffies + msecs_to_jiffies(ms);
	return keel_sock_recv(conn->sock, buf, len, keel_tconn_give_up, conn);
}

static int keel_tconn_send_msg(struct keel_tconn *conn,
			       const struct keel_wire_msg *m, const void *payload,
			       struct bio_vec *bvec, unsigned int nr)
{
	struct keel_wire_hdr h;
	int ret;

	keel_wire_encode(m, &h);
	mutex_lock(&conn->send_mutex);
	ret = keel_sock_send(conn->sock, &h, sizeof(h), m->length != 0);
	if (!ret && m->length && payload)
		ret = keel_sock_send(conn->sock, payload, m->length, false);
	else if (!ret && m->length && bvec)
		ret = keel_sock_send_bvec(conn->sock, bvec, nr, m->length);
	mutex_unlock(&conn->send_mutex);
	return ret;
}

/* Record why a handshake failed and tell user space. */
static void keel_target_note(struct keel_tconn *conn, int err, const char *why)
{
	struct keel_target *t = conn->t;

	spin_lock(&t->lock);
	t->refused++;
	t->last_err = err;
	strscpy(t->last_msg, why, sizeof(t->last_msg));
	spin_unlock(&t->lock);
	pr_info_ratelimited("keel%u: replica target refused a connection: %s\n",
			    t->vol->id, why);
	keel_peer_event(t->vol, KEEL_EVENT_TARGET_REFUSED, -1, err, -1, why);
}

/* Refuse a connection: record why, tell the peer.  Returns -@err. */
static int keel_target_refuse(struct keel_tconn *conn, u32 reason, int err,
			      const char *why)
{
	struct keel_wire_refuse r = { .reason = cpu_to_le32(reason) };
	struct keel_wire_msg m = {
		.type = KEEL_WIRE_REFUSE, .length = sizeof(r), .status = err,
	};

	strscpy(r.message, why, sizeof(r.message));
	keel_tconn_send_msg(conn, &m, &r, NULL, 0);
	keel_target_note(conn, err, why);
	return -err;
}

static bool keel_target_has(struct keel_target *t, struct keel_tconn *conn)
{
	struct keel_tconn *c;
	bool found = false;

	spin_lock(&t->lock);
	list_for_each_entry(c, &t->conns, node)
		if (c == conn)
			found = true;
	spin_unlock(&t->lock);
	return found;
}

/* Nonces we issued recently: a HELLO carrying one is a reflection. */
static bool keel_target_nonce_seen(struct keel_target *t, const u8 *nonce)
{
	bool seen = false;
	unsigned int i;

	spin_lock(&t->lock);
	for (i = 0; i < ARRAY_SIZE(t->nonces); i++)
		if (!memcmp(t->nonces[i], nonce, KEEL_WIRE_NONCE_LEN))
			seen = true;
	spin_unlock(&t->lock);
	return seen;
}

static int keel_tconn_handshake(struct keel_tconn *conn)
{
	struct keel_target *t = conn->t;
	struct keel_volume *vol = t->vol;
	struct keel_wire_challenge ch = { };
	struct keel_wire_transcript tr;
	struct keel_wire_hello hello;
	struct keel_wire_auth auth;
	struct keel_wire_msg m, reply;
	struct keel_wire_hdr h;
	u8 secret[KEEL_SECRET_MAX], mac[KEEL_WIRE_MAC_LEN];
	u32 secret_len;
	u64 epoch_i, epoch_t;
	const char *why;
	int ret;

	ret = keel_tconn_recv(conn, &h, sizeof(h), KEEL_HANDSHAKE_MS);
	if (ret)
		return ret;
	why = keel_wire_decode(&h, &m, vol->size, vol->block_size);
	if (why)
		return keel_target_refuse(conn, KEEL_REFUSE_PROTOCOL, EPROTO, why);
	if (m.type != KEEL_WIRE_HELLO)
		return keel_target_refuse(conn, KEEL_REFUSE_PROTOCOL, EPROTO,
					  "expected HELLO");
	ret = keel_tconn_recv(conn, &hello, sizeof(hello), KEEL_HANDSHAKE_MS);
	if (ret)
		return ret;
	if (le32_to_cpu(hello.version_min) > KEEL_WIRE_VERSION ||
	    le32_to_cpu(hello.version_max) < KEEL_WIRE_VERSION)
		return keel_target_refuse(conn, KEEL_REFUSE_VERSION,
					  EPROTONOSUPPORT,
					  "no common protocol version");
	if (memcmp(hello.uuid, vol->uuid, KEEL_UUID_LEN) ||
	    le64_to_cpu(hello.size) != vol->size ||
	    le32_to_cpu(hello.block_size) != vol->block_size)
		return keel_target_refuse(conn, KEEL_REFUSE_VOLUME, ENXIO,
					  "volume uuid, size or block size differ");
	if (keel_target_nonce_seen(t, hello.nonce))
		return keel_target_refuse(conn, KEEL_REFUSE_PROTOCOL, EPROTO,
					  "reflected challenge");
	epoch_i = m.epoch;
	epoch_t = keel_volume_epoch(vol);
	if (epoch_i < epoch_t)
		return keel_target_refuse(conn, KEEL_REFUSE_STALE_EPOCH, ESTALE,
					  "initiator's epoch is stale");

	spin_lock_irq(&vol->repl_lock);
	secret_len = vol->secret_len;
	memcpy(secret, vol->secret, secret_len);
	spin_unlock_irq(&vol->repl_lock);
	if (!secret_len)
		return keel_target_refuse(conn, KEEL_REFUSE_AUTH, EACCES,
					  "no secret set on the target");

	ch.version = cpu_to_le32(KEEL_WIRE_VERSION);
	ch.features = cpu_to_le64(le64_to_cpu(hello.features) &
				  KEEL_WIRE_FEAT_DIGEST);
	ch.epoch = cpu_to_le64(epoch_t);
	get_random_bytes(ch.nonce, sizeof(ch.nonce));
	spin_lock(&t->lock);
	memcpy(t->nonces[t->nonce_next++ % ARRAY_SIZE(t->nonces)], ch.nonce,
	       KEEL_WIRE_NONCE_LEN);
	spin_unlock(&t->lock);
	keel_wire_make_transcript(&tr, true, hello.nonce, ch.nonce, vol->uuid,
				  epoch_i, epoch_t);
	ret = keel_hmac(secret, secret_len, &tr, sizeof(tr), ch.mac);
	if (ret)
		goto out_wipe;
	reply = (struct keel_wire_msg){ .type = KEEL_WIRE_CHALLENGE,
					.length = sizeof(ch), .epoch = epoch_t };
	ret = keel_tconn_send_msg(conn, &reply, &ch, NULL, 0);
	if (ret)
		goto out_wipe;

	ret = keel_tconn_recv(conn, &h, sizeof(h), KEEL_HANDSHAKE_MS);
	if (ret)
		goto out_wipe;
	why = keel_wire_decode(&h, &m, vol->size, vol->block_size);
	if (!why && m.type == KEEL_WIRE_REFUSE) {
		struct keel_wire_refuse r;
		char msg[KEEL_STRING_MAX];

		/* The initiator did not accept our proof: secrets differ. */
		ret = keel_tconn_recv(conn, &r, sizeof(r), KEEL_HANDSHAKE_MS);
		if (!ret) {
			r.message[sizeof(r.message) - 1] = 0;
			snprintf(msg, sizeof(msg), "initiator: %.*s",
				 KEEL_STRING_MAX - 12, r.message);
			keel_target_note(conn, EACCES, msg);
		}
		ret = -EACCES;
		goto out_wipe;
	}
	if (why || m.type != KEEL_WIRE_AUTH) {
		ret = keel_target_refuse(conn, KEEL_REFUSE_PROTOCOL, EPROTO,
					 why ?: "expected AUTH");
		goto out_wipe;
	}
	ret = keel_tconn_recv(conn, &auth, sizeof(auth), KEEL_HANDSHAKE_MS);
	if (ret)
		goto out_wipe;
	keel_wire_make_transcript(&tr, false, hello.nonce, ch.nonce, vol->uuid,
				  epoch_i, epoch_t);
	ret = keel_hmac(secret, secret_len, &tr, sizeof(tr), mac);
	if (ret)
		goto out_wipe;
	if (crypto_memneq(mac, auth.mac, sizeof(mac))) {
		ret = keel_target_refuse(conn, KEEL_REFUSE_AUTH, EACCES,
					 "authentication failed (wrong secret)");
		goto out_wipe;
	}
	conn->digest = le64_to_cpu(ch.features) & KEEL_WIRE_FEAT_DIGEST;
	if (epoch_i > epoch_t) {
		ret = keel_volume_set_epoch(vol, epoch_i);
		if (ret)
			goto out_wipe;
	}
	ret = 0;
out_wipe:
	memzero_explicit(secret, sizeof(secret));
	return ret;
}

/* Make @conn the active connection; drain the one it replaces. */
static int keel_tconn_activate(struct keel_tconn *conn)
{
	struct keel_target *t = conn->t;
	struct keel_wire_msg m = { .type = KEEL_WIRE_WELCOME };
	struct keel_tconn *old;

	spin_lock(&t->lock);
	old = t->active;
	t->active = conn;
	if (old) {
		WRITE_ONCE(old->stop, true);
		kernel_sock_shutdown(old->sock, SHUT_RDWR);
	}
	t->accepted++;
	spin_unlock(&t->lock);
	if (old)
		wait_event(t->conns_wait, !keel_target_has(t, old));
	m.epoch = keel_volume_epoch(t->vol);
	keel_peer_event(t->vol, KEEL_EVENT_TARGET_CONNECTED, -1, 0, -1, NULL);
	return keel_tconn_send_msg(conn, &m, NULL, NULL, 0);
}

static void keel_treq_work(struct work_struct *work)
{
	struct keel_treq *tr = container_of(work, struct keel_treq, work);
	struct keel_tconn *conn = tr->conn;
	struct keel_target *t = conn->t;
	struct keel_backing *b = &t->vol->backing;
	struct keel_wire_msg *m = &tr->m;
	struct keel_wire_msg ack = { .type = KEEL_WIRE_ACK, .seq = m->seq,
				     .offset = m->offset, .size = m->size };
	loff_t pos = b->meta.data_offset + m->offset;
	int ret;

	switch (m->type) {
	case KEEL_WIRE_WRITE:
		ret = keel_backing_pwrite(b, tr->bvec, tr->nr, m->size, pos,
					  m->flags & KEEL_WIRE_F_FUA ?
					  RWF_DSYNC : 0);
		if (!ret) {
			spin_lock(&t->lock);
			t->bytes_written += m->size;
			spin_unlock(&t->lock);
		}
		break;
	case KEEL_WIRE_READ:
		ret = keel_backing_pread(b, tr->bvec, tr->nr, m->size, pos);
		break;
	case KEEL_WIRE_FLUSH:
		ret = vfs_fsync(b->file, 0);
		break;
	case KEEL_WIRE_DISCARD:
		ret = vfs_fallocate(b->file, FALLOC_FL_PUNCH_HOLE |
				    FALLOC_FL_KEEP_SIZE, pos, m->size);
		break;
	case KEEL_WIRE_WRITE_ZEROES:
		ret = vfs_fallocate(b->file, FALLOC_FL_ZERO_RANGE |
				    FALLOC_FL_KEEP_SIZE, pos, m->size);
		if (ret == -EOPNOTSUPP)
			ret = vfs_fallocate(b->file, FALLOC_FL_PUNCH_HOLE |
					    FALLOC_FL_KEEP_SIZE, pos, m->size);
		break;
	default:
		ret = -EOPNOTSUPP;
		break;
	}
	ack.status = ret < 0 ? -ret : 0;
	ack.epoch = keel_volume_epoch(t->vol);
	if (m->type == KEEL_WIRE_READ && !ret) {
		ack.length = m->size;
		if (conn->digest) {
			ack.flags |= KEEL_WIRE_F_DIGEST;
			ack.digest = keel_crc32c_bvec(tr->bvec, tr->nr, m->size);
		}
	}
	if (keel_tconn_send_msg(conn, &ack, NULL, tr->bvec, tr->nr))
		kernel_sock_shutdown(conn->sock, SHUT_RDWR);

	keel_pages_free(tr->bvec, tr->nr);
	kfree(tr);
	keel_obj_put();
	if (atomic_dec_and_test(&conn->inflight))
		wake_up_all(&t->conns_wait);
}

/* Read one request and queue it; 0, or why the connection must end. */
static int keel_tconn_request(struct keel_tconn *conn,
			      const struct keel_wire_msg *m)
{
	struct keel_target *t = conn->t;
	struct keel_volume *vol = t->vol;
	u64 epoch = keel_volume_epoch(vol);
	struct keel_treq *tr;
	int ret;

	if (m->epoch < epoch) {
		struct keel_wire_msg ack = { .type = KEEL_WIRE_ACK,
					     .seq = m->seq, .status = ESTALE,
					     .epoch = epoch };

		keel_tconn_send_msg(conn, &ack, NULL, NULL, 0);
		pr_info_ratelimited("keel%u: refused a request of stale epoch %llu (ours %llu)\n",
				    vol->id, m->epoch, epoch);
		return -ESTALE;
	}
	if (m->epoch > epoch) {
		ret = keel_volume_set_epoch(vol, m->epoch);
		if (ret)
			return ret;
	}

	tr = kzalloc(sizeof(*tr), GFP_NOIO);
	if (!tr)
		return -ENOMEM;
	keel_obj_get();
	INIT_WORK(&tr->work, keel_treq_work);
	tr->conn = conn;
	tr->m = *m;
	if (m->type == KEEL_WIRE_WRITE || m->type == KEEL_WIRE_READ) {
		tr->bvec = keel_pages_alloc(m->size, &tr->nr);
		if (!tr->bvec) {
			ret = -ENOMEM;
			goto err_free;
		}
	}
	if (m->type == KEEL_WIRE_WRITE) {
		conn->deadline = jiffies + msecs_to_jiffies(KEEL_TARGET_IDLE_MS);
		ret = keel_sock_recv_bvec(conn->sock, tr->bvec, tr->nr, m->size,
					  keel_tconn_give_up, conn);
		if (ret)
			goto err_free;
		if ((m->flags & KEEL_WIRE_F_DIGEST) &&
		    keel_crc32c_bvec(tr->bvec, tr->nr, m->size) != m->digest) {
			pr_info_ratelimited("keel%u: data digest mismatch; dropping the connection\n",
					    vol->id);
			ret = -EBADMSG;
			goto err_free;
		}
	}
	spin_lock(&t->lock);
	if (t->active != conn) {
		spin_unlock(&t->lock);
		ret = -ESHUTDOWN;
		goto err_free;
	}
	atomic_inc(&conn->inflight);
	spin_unlock(&t->lock);
	queue_work(keel_net_wq, &tr->work);
	return 0;

err_free:
	keel_pages_free(tr->bvec, tr->nr);
	kfree(tr);
	keel_obj_put();
	return ret;
}

static int keel_tconn_serve(struct keel_tconn *conn)
{
	struct keel_volume *vol = conn->t->vol;
	struct keel_wire_msg m;
	struct keel_wire_hdr h;
	const char *why;
	int ret;

	for (;;) {
		ret = keel_tconn_recv(conn, &h, sizeof(h), KEEL_TARGET_IDLE_MS);
		if (ret)
			return ret;
		why = keel_wire_decode(&h, &m, vol->size, vol->block_size);
		if (why) {
			pr_info_ratelimited("keel%u: dropping the replication connection: %s\n",
					    vol->id, why);
			return -EPROTO;
		}
		switch (m.type) {
		case KEEL_WIRE_PING: {
			struct keel_wire_msg pong = { .type = KEEL_WIRE_PONG,
						      .seq = m.seq };

			ret = keel_tconn_send_msg(conn, &pong, NULL, NULL, 0);
			break;
		}
		case KEEL_WIRE_WRITE:
		case KEEL_WIRE_READ:
		case KEEL_WIRE_FLUSH:
		case KEEL_WIRE_DISCARD:
		case KEEL_WIRE_WRITE_ZEROES:
			ret = keel_tconn_request(conn, &m);
			break;
		default:
			pr_info_ratelimited("keel%u: dropping the replication connection: unexpected %s\n",
					    vol->id, keel_wire_type_str(m.type));
			ret = -EPROTO;
			break;
		}
		if (ret)
			return ret;
	}
}

static int keel_tconn_thread(void *arg)
{
	struct keel_tconn *conn = arg;
	struct keel_target *t = conn->t;
	int ret;

	keel_sock_tune(conn->sock, 250);
	ret = keel_tconn_handshake(conn);
	if (!ret)
		ret = keel_tconn_activate(conn);
	if (!ret)
		ret = keel_tconn_serve(conn);

	kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	wait_event(t->conns_wait, !atomic_read(&conn->inflight));
	spin_lock(&t->lock);
	list_del(&conn->node);
	if (t->active == conn)
		t->active = NULL;
	spin_unlock(&t->lock);
	sock_release(conn->sock);
	kfree(conn);
	keel_obj_put();
	wake_up_all(&t->conns_wait);
	return 0;
}

static int keel_target_accept(void *arg)
{
	struct keel_target *t = arg;
	struct keel_tconn *conn;
	struct task_struct *task;
	struct socket *sock;
	int ret;

	while (!kthread_should_stop()) {
		ret = kernel_accept(t->lsock, &sock, 0);
		if (ret) {
			if (ret != -EAGAIN && ret != -EINTR)
				msleep(100);
			continue;
		}
		conn = kzalloc(sizeof(*conn), GFP_KERNEL);
		if (!conn) {
			sock_release(sock);
			continue;
		}
		keel_obj_get();
		conn->t = t;
		conn->sock = sock;
		mutex_init(&conn->send_mutex);
		atomic_set(&conn->inflight, 0);
		spin_lock(&t->lock);
		list_add_tail(&conn->node, &t->conns);
		spin_unlock(&t->lock);
		task = kthread_run(keel_tconn_thread, conn, "keel_t%u",
				   t->vol->id);
		if (IS_ERR(task)) {
			spin_lock(&t->lock);
			list_del(&conn->node);
			spin_unlock(&t->lock);
			sock_release(sock);
			kfree(conn);
			keel_obj_put();
		}
	}
	return 0;
}

int keel_target_start(struct keel_volume *vol, struct net *net,
		      const struct sockaddr_storage *addr,
		      struct netlink_ext_ack *extack)
{
	struct keel_target *t;
	int ret;

	lockdep_assert_held(&keel_lock);
	if (vol->target) {
		NL_SET_ERR_MSG(extack, "the replica target already listens");
		return -EALREADY;
	}
	if (vol->disk || vol->diskless) {
		NL_SET_ERR_MSG(extack, "only a replica that is not attached here can be a replica target");
		return -EBUSY;
	}
	if (!vol->secret_len) {
		NL_SET_ERR_MSG(extack, "set the cluster secret first (VOLUME_SET)");
		return -EINVAL;
	}
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->vol = vol;
	t->addr = *addr;
	spin_lock_init(&t->lock);
	INIT_LIST_HEAD(&t->conns);
	init_waitqueue_head(&t->conns_wait);

	ret = sock_create_kern(net, addr->ss_family, SOCK_STREAM, IPPROTO_TCP,
			       &t->lsock);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot create the listening socket");
		goto err_free;
	}
	sock_set_reuseaddr(t->lsock->sk);
	t->lsock->sk->sk_rcvtimeo = msecs_to_jiffies(250);
	ret = kernel_bind(t->lsock, (struct sockaddr *)addr,
			  addr->ss_family == AF_INET ?
			  sizeof(struct sockaddr_in) :
			  sizeof(struct sockaddr_in6));
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot bind the listening address (in use, or not an address of this namespace)");
		goto err_release;
	}
	ret = kernel_listen(t->lsock, 8);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot listen");
		goto err_release;
	}
	t->net = get_net(net);
	t->accept_thread = kthread_run(keel_target_accept, t, "keel_l%u",
				       vol->id);
	if (IS_ERR(t->accept_thread)) {
		ret = PTR_ERR(t->accept_thread);
		goto err_put_net;
	}
	vol->target = t;
	keel_obj_get();
	return 0;

err_put_net:
	put_net(t->net);
err_release:
	sock_release(t->lsock);
err_free:
	kfree(t);
	return ret;
}

void keel_target_stop(struct keel_volume *vol)
{
	struct keel_target *t = vol->target;
	struct keel_tconn *conn;

	lockdep_assert_held(&keel_lock);
	if (!t)
		return;
	kthread_stop(t->accept_thread);
	spin_lock(&t->lock);
	list_for_each_entry(conn, &t->conns, node) {
		WRITE_ONCE(conn->stop, true);
		kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	}
	spin_unlock(&t->lock);
	wait_event(t->conns_wait, list_empty(&t->conns));
	/* Every request was applied: make them durable before we go. */
	flush_workqueue(keel_net_wq);
	sock_release(t->lsock);
	put_net(t->net);
	vol->target = NULL;
	kfree(t);
	keel_obj_put();
}
