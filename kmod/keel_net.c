// SPDX-License-Identifier: GPL-2.0
/*
 * keel_net.c - what the peers and the replica target share: whole-message
 * socket IO, socket options, addresses, payload pages, and the HMAC of the
 * handshake.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/hash.h>
#include <linux/crc32c.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "keel.h"

int keel_sock_send(struct socket *sock, const void *buf, size_t len,
		   bool more)
{
	struct kvec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0) };
	int ret;

	while (iov.iov_len) {
		ret = kernel_sendmsg(sock, &msg, &iov, 1, iov.iov_len);
		if (ret == -EAGAIN || ret == -EINTR)
			continue;	/* send timeout: keep going */
		if (ret <= 0)
			return ret ? ret : -ECONNRESET;
		iov.iov_base += ret;
		iov.iov_len -= ret;
	}
	return 0;
}

/* Send part of one page by copying it into the socket's buffers. */
static int keel_sock_send_copy(struct socket *sock, struct page *pg,
			       unsigned int offset, size_t len, bool more)
{
	struct msghdr msg = {
		.msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0),
	};
	struct bio_vec bv;

	bvec_set_page(&bv, pg, len, offset);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, len);
	return sock_sendmsg(sock, &msg);
}

/*
 * Send @len bytes of @bvec.  Page by page: a page the network stack may
 * hold a reference on is sent without a copy (zero-copy); one it may not
 * (slab memory) is copied.
 */
int keel_sock_send_bvec(struct socket *sock, struct bio_vec *bvec,
			unsigned int nr, size_t len)
{
	unsigned int i;
	int ret;

	for (i = 0; i < nr && len; i++) {
		size_t n = min_t(size_t, bvec[i].bv_len, len), done = 0;

		while (done < n) {
			size_t off = bvec[i].bv_offset + done;
			struct page *pg = nth_page(bvec[i].bv_page,
						   off >> PAGE_SHIFT);
			size_t chunk = min_t(size_t, n - done,
					     PAGE_SIZE - offset_in_page(off));
			bool more = done + chunk < len;

			if (sendpage_ok(pg))
				ret = keel_send_page(sock, pg,
						     offset_in_page(off), chunk,
						     more);
			else
				ret = keel_sock_send_copy(sock, pg,
							  offset_in_page(off),
							  chunk, more);
			if (ret == -EAGAIN || ret == -EINTR)
				continue;
			if (ret <= 0)
				return ret ? ret : -ECONNRESET;
			done += ret;
		}
		len -= n;
	}
	return 0;
}

/*
 * Receive exactly @len bytes.  The socket has a receive timeout; every time
 * it expires @give_up is asked whether to stop (-ETIMEDOUT).
 */
static int keel_sock_recv_msg(struct socket *sock, struct msghdr *msg,
			      bool (*give_up)(void *arg), void *arg)
{
	int ret;

	while (msg_data_left(msg)) {
		ret = sock_recvmsg(sock, msg, MSG_NOSIGNAL);
		if (ret == -EAGAIN || ret == -EINTR) {
			if (give_up && give_up(arg))
				return -ETIMEDOUT;
			continue;
		}
		if (ret < 0)
			return ret;
		if (ret == 0)
			return -ECONNRESET;	/* closed by the other side */
	}
	return 0;
}

int keel_sock_recv(struct socket *sock, void *buf, size_t len,
		   bool (*give_up)(void *arg), void *arg)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { };

	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &iov, 1, len);
	return keel_sock_recv_msg(sock, &msg, give_up, arg);
}

int keel_sock_recv_bvec(struct socket *sock, struct bio_vec *bvec,
			unsigned int nr, size_t len,
			bool (*give_up)(void *arg), void *arg)
{
	struct msghdr msg = { };

	iov_iter_bvec(&msg.msg_iter, ITER_DEST, bvec, nr, len);
	return keel_sock_recv_msg(sock, &msg, give_up, arg);
}

/* Low latency, dead-peer detection, and a receive timeout of @rcv_ms. */
void keel_sock_tune(struct socket *sock, unsigned int rcv_ms)
{
	struct sock *sk = sock->sk;

	tcp_sock_set_nodelay(sk);
	sock_set_keepalive(sk);
	tcp_sock_set_keepidle(sk, 5);
	tcp_sock_set_keepintvl(sk, 1);
	tcp_sock_set_keepcnt(sk, 5);
	lock_sock(sk);
	sk->sk_rcvtimeo = msecs_to_jiffies(rcv_ms);
	sk->sk_sndtimeo = msecs_to_jiffies(rcv_ms);
	sk->sk_allocation = GFP_NOIO;
	release_sock(sk);
}

int keel_hmac(const u8 *key, u32 keylen, const void *data, size_t len,
	      u8 *mac)
{
	struct crypto_shash *tfm;
	int ret;

	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	ret = crypto_shash_setkey(tfm, key, keylen);
	if (!ret) {
		SHASH_DESC_ON_STACK(desc, tfm);

		desc->tfm = tfm;
		ret = crypto_shash_digest(desc, data, len, mac);
		shash_desc_zero(desc);
	}
	crypto_free_shash(tfm);
	return ret;
}

int keel_addr_parse(const void *raw, int len, u16 port,
		    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (len == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, raw, 4);
		sin->sin_port = htons(port);
		return 0;
	}
	if (len == 16) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, raw, 16);
		sin6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

u32 keel_crc32c_bvec(struct bio_vec *bvec, unsigned int nr, size_t len)
{
	u32 crc = ~0U;
	unsigned int i;

	for (i = 0; i < nr && len; i++) {
		size_t n = min_t(size_t, bvec[i].bv_len, len);
		size_t done = 0;

		/* Map page by page: a bio_vec may span several pages. */
		while (done < n) {
			size_t off = bvec[i].bv_offset + done;
			struct page *pg = nth_page(bvec[i].bv_page,
						   off >> PAGE_SHIFT);
			size_t chunk = min_t(size_t, n - done,
					     PAGE_SIZE - offset_in_page(off));
			void *p = kmap_local_page(pg);

			crc = crc32c(crc, p + offset_in_page(off), chunk);
			kunmap_local(p);
			done += chunk;
		}
		len -= n;
	}
	return crc ^ ~0U;
}

/* Pages for a payload of @len bytes, as page-sized bio_vecs. */
struct bio_vec *keel_pages_alloc(size_t len, unsigned int *nr)
{
	unsigned int n = DIV_ROUND_UP(len, PAGE_SIZE), i;
	struct bio_vec *bvec;

	bvec = kvmalloc_array(max(n, 1U), sizeof(*bvec), GFP_NOIO);
	if (!bvec)
		return NULL;
	for (i = 0; i < n; i++) {
		struct page *pg = alloc_page(GFP_NOIO);

		if (!pg) {
			while (i--)
				__free_page(bvec[i].bv_page);
			kvfree(bvec);
			return NULL;
		}
		bvec_set_page(&bvec[i], pg, min_t(size_t, len - i * PAGE_SIZE,
						  PAGE_SIZE), 0);
	}
	*nr = n;
	keel_obj_get();
	return bvec;
}

void keel_pages_free(struct bio_vec *bvec, unsigned int nr)
{
	unsigned int i;

	if (!bvec)
		return;
	for (i = 0; i < nr; i++)
		__free_page(bvec[i].bv_page);
	kvfree(bvec);
	keel_obj_put();
}
