// SPDX-License-Identifier: GPL-2.0
/*
 * keel_netlink.c - the generic-netlink family "keel" (docs/netlink.md).
 *
 * Every operation requires CAP_SYS_ADMIN (GENL_ADMIN_PERM) and has its own
 * strict policy listing exactly the attributes it accepts: anything else
 * (unknown or reply-only attributes, wrong types or lengths, non-zero
 * reserved header bits) is refused by the netlink core before a handler
 * runs.  Handlers check what the policies cannot, and always say why in the
 * extended ack.  Control operations are serialized by keel_lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/utsname.h>
#include <net/genetlink.h>

#include "keel.h"

static const struct nla_policy keel_create_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_UUID]	= NLA_POLICY_EXACT_LEN(KEEL_UUID_LEN),
	[KEEL_ATTR_SIZE]	= { .type = NLA_U64 },
	[KEEL_ATTR_BLOCK_SIZE]	= { .type = NLA_U32 },
	[KEEL_ATTR_BACKING_PATH] = { .type = NLA_NUL_STRING, .len = PATH_MAX - 1 },
	[KEEL_ATTR_FLAGS]	= NLA_POLICY_MASK(NLA_U32, KEEL_CREATE_F_ALL),
	[KEEL_ATTR_GRANULARITY]	= { .type = NLA_U32 },	/* checked below */
};

static struct netlink_range_validation keel_freeze_timeout_range = {
	.min = 100, .max = 3600 * 1000,
};

static struct netlink_range_validation keel_peer_timeout_range = {
	.min = 500, .max = 600 * 1000,
};

static const struct nla_policy keel_set_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_EPOCH]	= { .type = NLA_U64 },
	[KEEL_ATTR_SECRET]	= NLA_POLICY_RANGE(NLA_BINARY, KEEL_SECRET_MIN,
						   KEEL_SECRET_MAX),
	[KEEL_ATTR_FREEZE_POLICY] = NLA_POLICY_MAX(NLA_U32, KEEL_FREEZE_FAIL),
	[KEEL_ATTR_FREEZE_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32,
						&keel_freeze_timeout_range),
	[KEEL_ATTR_PEER_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32,
						&keel_peer_timeout_range),
	[KEEL_ATTR_RESYNC_RATE]	= { .type = NLA_U64 },
	[KEEL_ATTR_DATA_DIGEST]	= NLA_POLICY_MAX(NLA_U8, 1),
};

static const struct nla_policy keel_listen_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_ADDR]	= NLA_POLICY_RANGE(NLA_BINARY, 4, 16),
	[KEEL_ATTR_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
};

static const struct nla_policy keel_peer_add_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_PEER_SLOT]	= NLA_POLICY_MAX(NLA_U32, KEEL_META_MAX_PEERS - 1),
	[KEEL_ATTR_ADDR]	= NLA_POLICY_RANGE(NLA_BINARY, 4, 16),
	[KEEL_ATTR_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[KEEL_ATTR_PEER_NAME]	= { .type = NLA_NUL_STRING,
				    .len = KEEL_STRING_MAX - 1 },
	[KEEL_ATTR_PEER_SYNC]	= NLA_POLICY_MAX(NLA_U32, KEEL_PEER_SYNC_PULL),
};

/* PEER_REMOVE and PEER_OUTDATE */
static const struct nla_policy keel_peer_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_PEER_SLOT]	= NLA_POLICY_MAX(NLA_U32, KEEL_META_MAX_PEERS - 1),
	[KEEL_ATTR_EPOCH]	= { .type = NLA_U64 },
};

static const struct nla_policy keel_delete_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_FLAGS]	= NLA_POLICY_MASK(NLA_U32, KEEL_DELETE_F_ALL),
};

static const struct nla_policy keel_detach_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
	[KEEL_ATTR_FLAGS]	= NLA_POLICY_MASK(NLA_U32, KEEL_DETACH_F_ALL),
};

/* ATTACH and GET: an id only. */
static const struct nla_policy keel_id_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VOLUME_ID]	= NLA_POLICY_MAX(NLA_U32, KEEL_MAX_VOLUMES - 1),
};

static struct genl_family keel_genl_family;

static int keel_nl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *reply;
	u32 count;
	void *hdr;

	reply = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!reply)
		return -ENOMEM;

	hdr = genlmsg_put_reply(reply, info, &keel_genl_family, 0,
				KEEL_CMD_GET_INFO);
	if (!hdr)
		goto err_free_reply;

	mutex_lock(&keel_lock);
	count = keel_volume_count();
	mutex_unlock(&keel_lock);

	if (nla_put_string(reply, KEEL_ATTR_VERSION, KEEL_VERSION) ||
	    nla_put_u32(reply, KEEL_ATTR_API_VERSION, KEEL_GENL_VERSION) ||
	    nla_put_u64_64bit(reply, KEEL_ATTR_FEATURES,
			      KEEL_FEATURES_SUPPORTED, KEEL_ATTR_PAD) ||
	    nla_put_string(reply, KEEL_ATTR_KERNEL_RELEASE,
			   init_utsname()->release) ||
	    nla_put_u64_64bit(reply, KEEL_ATTR_OBJECTS,
			      atomic_long_read(&keel_objects), KEEL_ATTR_PAD) ||
	    nla_put_u32(reply, KEEL_ATTR_VOLUME_COUNT, count))
		goto err_free_reply;

	genlmsg_end(reply, hdr);
	return genlmsg_reply(reply, info);

err_free_reply:
	nlmsg_free(reply);
	return -EMSGSIZE;
}

static int keel_nl_put_stats(struct sk_buff *skb, struct keel_volume *vol)
{
	__le64 lat[KEEL_LAT_BUCKETS];
	struct keel_stats s;
	struct nlattr *nest;
	u64 in_flight;
	int i;

	keel_volume_read_stats(vol, &s, &in_flight);
	for (i = 0; i < KEEL_LAT_BUCKETS; i++)
		lat[i] = cpu_to_le64(s.latency[i]);

	nest = nla_nest_start(skb, KEEL_ATTR_STATS);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, KEEL_STAT_READS, s.reads, KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_WRITES, s.writes, KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_READ_BYTES, s.read_bytes,
			      KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_WRITE_BYTES, s.write_bytes,
			      KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_FLUSHES, s.flushes,
			      KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_FUA, s.fua, KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_DISCARDS, s.discards,
			      KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_WRITE_ZEROES, s.write_zeroes,
			      KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_ERRORS, s.errors, KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_IN_FLIGHT, in_flight,
			      KEEL_STAT_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_STAT_BACKING_SYNCS, s.backing_syncs,
			      KEEL_STAT_PAD) ||
	    nla_put(skb, KEEL_STAT_LATENCY_US, sizeof(lat), lat)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int keel_nl_put_addr(struct sk_buff *skb, int attr, int port_attr,
			    const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		return nla_put(skb, attr, 4, &sin->sin_addr) ||
		       nla_put_u16(skb, port_attr, ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		return nla_put(skb, attr, 16, &sin6->sin6_addr) ||
		       nla_put_u16(skb, port_attr, ntohs(sin6->sin6_port));
	}
}

/* A snapshot of a peer, taken under repl_lock. */
struct keel_peer_snap {
	u32 slot, state, percent;
	bool in_sync, connected, pulling;
	u64 dirty, sent, acked, resynced, rate, epoch, connects;
	int err;
	char name[KEEL_STRING_MAX], msg[KEEL_STRING_MAX];
	struct sockaddr_storage addr;
};

static int keel_nl_put_peer(struct sk_buff *skb, const struct keel_peer_snap *p)
{
	struct nlattr *nest = nla_nest_start(skb, KEEL_ATTR_PEER);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, KEEL_PEER_SLOT, p->slot) ||
	    nla_put_string(skb, KEEL_PEER_NAME, p->name) ||
	    keel_nl_put_addr(skb, KEEL_PEER_ADDR, KEEL_PEER_PORT, &p->addr) ||
	    nla_put_u32(skb, KEEL_PEER_STATE, p->state) ||
	    nla_put_u8(skb, KEEL_PEER_IN_SYNC, p->in_sync) ||
	    nla_put_u8(skb, KEEL_PEER_CONNECTED, p->connected) ||
	    nla_put_u8(skb, KEEL_PEER_PULLING, p->pulling) ||
	    nla_put_u32(skb, KEEL_PEER_SYNC_PERCENT, p->percent) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_DIRTY_BYTES, p->dirty,
			      KEEL_PEER_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_BYTES_SENT, p->sent,
			      KEEL_PEER_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_BYTES_ACKED, p->acked,
			      KEEL_PEER_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_RESYNC_BYTES, p->resynced,
			      KEEL_PEER_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_RESYNC_RATE, p->rate,
			      KEEL_PEER_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_EPOCH, p->epoch, KEEL_PEER_PAD) ||
	    nla_put_s32(skb, KEEL_PEER_ERRNO, p->err) ||
	    nla_put_string(skb, KEEL_PEER_MESSAGE, p->msg) ||
	    nla_put_u64_64bit(skb, KEEL_PEER_CONNECTS, p->connects,
			      KEEL_PEER_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int keel_nl_put_target(struct sk_buff *skb, struct keel_target *t)
{
	struct nlattr *nest = nla_nest_start(skb, KEEL_ATTR_TARGET);
	u64 accepted, refused, written;
	char msg[KEEL_STRING_MAX];
	bool connected;
	int err;

	if (!nest)
		return -EMSGSIZE;
	spin_lock(&t->lock);
	accepted = t->accepted;
	refused = t->refused;
	written = t->bytes_written;
	connected = t->active != NULL;
	err = t->last_err;
	strscpy(msg, t->last_msg, sizeof(msg));
	spin_unlock(&t->lock);
	if (keel_nl_put_addr(skb, KEEL_TARGET_ADDR, KEEL_TARGET_PORT,
			     &t->addr) ||
	    nla_put_u8(skb, KEEL_TARGET_CONNECTED, connected) ||
	    nla_put_u64_64bit(skb, KEEL_TARGET_ACCEPTED, accepted,
			      KEEL_TARGET_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_TARGET_REFUSED, refused,
			      KEEL_TARGET_PAD) ||
	    nla_put_s32(skb, KEEL_TARGET_ERRNO, err) ||
	    nla_put_string(skb, KEEL_TARGET_MESSAGE, msg) ||
	    nla_put_u64_64bit(skb, KEEL_TARGET_BYTES_WRITTEN, written,
			      KEEL_TARGET_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/* Settings, peers and target of a volume (never the secret). */
static int keel_nl_put_repl(struct sk_buff *skb, struct keel_volume *vol)
{
	struct keel_peer_snap *snap;
	struct nlattr *nest;
	int slot, ret = 0;
	u32 gran;

	if (nla_put_u32(skb, KEEL_ATTR_FREEZE_POLICY, vol->freeze_policy) ||
	    nla_put_u32(skb, KEEL_ATTR_FREEZE_TIMEOUT_MS,
			vol->freeze_timeout_ms) ||
	    nla_put_u32(skb, KEEL_ATTR_PEER_TIMEOUT_MS, vol->peer_timeout_ms) ||
	    nla_put_u64_64bit(skb, KEEL_ATTR_RESYNC_RATE, vol->resync_rate,
			      KEEL_ATTR_PAD) ||
	    nla_put_u8(skb, KEEL_ATTR_DATA_DIGEST, vol->digest))
		return -EMSGSIZE;
	if (vol->target && keel_nl_put_target(skb, vol->target))
		return -EMSGSIZE;

	snap = kmalloc(sizeof(*snap), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	nest = nla_nest_start(skb, KEEL_ATTR_PEERS);
	if (!nest) {
		kfree(snap);
		return -EMSGSIZE;
	}
	gran = vol->diskless ? KEEL_META_GRANULARITY :
			       vol->backing.meta.granularity;
	for (slot = 0; slot < KEEL_META_MAX_PEERS && !ret; slot++) {
		struct keel_peer *p;

		spin_lock_irq(&vol->repl_lock);
		p = vol->peers[slot];
		if (p) {
			snap->slot = slot;
			snap->state = keel_peer_state(p);
			snap->in_sync = p->in_sync;
			snap->connected = p->connected;
			snap->pulling = p->pull;
			snap->percent = p->in_sync && !p->pull ? 100 :
					p->sync_percent;
			snap->dirty = p->dirty_bits * gran;
			snap->sent = p->bytes_sent;
			snap->acked = p->bytes_acked;
			snap->resynced = p->resync_bytes;
			snap->rate = p->resync_rate;
			snap->epoch = p->peer_epoch;
			snap->connects = p->connects;
			snap->err = p->last_err;
			snap->addr = p->addr;
			strscpy(snap->name, p->name, sizeof(snap->name));
			strscpy(snap->msg, p->last_msg, sizeof(snap->msg));
		}
		spin_unlock_irq(&vol->repl_lock);
		if (p)
			ret = keel_nl_put_peer(skb, snap);
	}
	kfree(snap);
	if (ret) {
		nla_nest_cancel(skb, nest);
		return ret;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int keel_nl_fill_volume(struct sk_buff *skb, struct keel_volume *vol,
			       u32 portid, u32 seq, int flags, u8 cmd)
{
	void *hdr;

	lockdep_assert_held(&keel_lock);
	hdr = genlmsg_put(skb, portid, seq, &keel_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, KEEL_ATTR_VOLUME_ID, vol->id) ||
	    nla_put(skb, KEEL_ATTR_UUID, KEEL_UUID_LEN, vol->uuid) ||
	    nla_put_u64_64bit(skb, KEEL_ATTR_SIZE, vol->size, KEEL_ATTR_PAD) ||
	    nla_put_u32(skb, KEEL_ATTR_BLOCK_SIZE, vol->block_size) ||
	    nla_put_u32(skb, KEEL_ATTR_STATE, keel_volume_state(vol)) ||
	    nla_put_u64_64bit(skb, KEEL_ATTR_EPOCH, keel_volume_epoch(vol),
			      KEEL_ATTR_PAD) ||
	    nla_put_u64_64bit(skb, KEEL_ATTR_DATA_OFFSET,
			      vol->backing.meta.data_offset, KEEL_ATTR_PAD))
		goto err_cancel;
	if (vol->disk &&
	    (nla_put_string(skb, KEEL_ATTR_DEVICE_NAME, vol->disk->disk_name) ||
	     nla_put_u32(skb, KEEL_ATTR_DEVICE_MAJOR, vol->disk->major) ||
	     nla_put_u32(skb, KEEL_ATTR_DEVICE_MINOR, vol->disk->first_minor)))
		goto err_cancel;
	if (vol->backing.path &&
	    (nla_put_string(skb, KEEL_ATTR_BACKING_PATH, vol->backing.path) ||
	     nla_put_u32(skb, KEEL_ATTR_GRANULARITY,
			 vol->backing.meta.granularity)))
		goto err_cancel;
	if (keel_nl_put_stats(skb, vol) || keel_nl_put_repl(skb, vol))
		goto err_cancel;
	genlmsg_end(skb, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* A reply big enough for one volume's status. */
static struct sk_buff *keel_nl_volume_msg(void)
{
	return genlmsg_new(NLMSG_DEFAULT_SIZE + PATH_MAX, GFP_KERNEL);
}

static int keel_nl_reply_volume(struct sk_buff *reply, struct genl_info *info,
				struct keel_volume *vol, u8 cmd)
{
	int ret;

	ret = keel_nl_fill_volume(reply, vol, info->snd_portid, info->snd_seq,
				  0, cmd);
	if (ret) {
		nlmsg_free(reply);
		return ret;
	}
	return genlmsg_reply(reply, info);
}

/* The volume named by KEEL_ATTR_VOLUME_ID, or NULL with extack set. */
static struct keel_volume *keel_nl_volume(struct genl_info *info, int *err)
{
	struct keel_volume *vol;

	lockdep_assert_held(&keel_lock);
	if (GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_VOLUME_ID)) {
		*err = -EINVAL;
		return NULL;
	}
	vol = keel_volume_find(nla_get_u32(info->attrs[KEEL_ATTR_VOLUME_ID]));
	if (!vol) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[KEEL_ATTR_VOLUME_ID],
				    "no volume with this id");
		*err = -ENOENT;
	}
	return vol;
}

static u32 keel_nl_flags(struct genl_info *info)
{
	return info->attrs[KEEL_ATTR_FLAGS] ?
		nla_get_u32(info->attrs[KEEL_ATTR_FLAGS]) : 0;
}

static bool keel_uuid_is_nil(const u8 *uuid)
{
	return !memchr_inv(uuid, 0, KEEL_UUID_LEN);
}

static int keel_nl_create(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct keel_volume *vol;
	struct keel_meta want = {};
	struct sk_buff *reply;
	const char *path;
	bool pick_id;
	u32 id = 0;
	int ret;

	bool diskless = keel_nl_flags(info) & KEEL_CREATE_F_DISKLESS;

	if (GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_UUID) ||
	    GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_SIZE))
		return -EINVAL;
	if (!diskless && GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_BACKING_PATH))
		return -EINVAL;
	if (diskless && attrs[KEEL_ATTR_BACKING_PATH]) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KEEL_ATTR_BACKING_PATH],
				    "a diskless volume has no backing path");
		return -EINVAL;
	}

	memcpy(want.uuid, nla_data(attrs[KEEL_ATTR_UUID]), KEEL_UUID_LEN);
	if (keel_uuid_is_nil(want.uuid)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KEEL_ATTR_UUID],
				    "volume UUID must not be nil");
		return -EINVAL;
	}
	want.block_size = attrs[KEEL_ATTR_BLOCK_SIZE] ?
			  nla_get_u32(attrs[KEEL_ATTR_BLOCK_SIZE]) : 512;
	if (want.block_size != 512 && want.block_size != 4096) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KEEL_ATTR_BLOCK_SIZE],
				    "block size must be 512 or 4096");
		return -EINVAL;
	}
	want.size = nla_get_u64(attrs[KEEL_ATTR_SIZE]);
	if (!want.size || want.size % want.block_size ||
	    want.size > KEEL_MAX_VOLUME_SIZE) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KEEL_ATTR_SIZE],
				    "size must be a non-zero multiple of the block size, at most 1 PiB");
		return -EINVAL;
	}
	if (attrs[KEEL_ATTR_GRANULARITY]) {
		want.granularity = nla_get_u32(attrs[KEEL_ATTR_GRANULARITY]);
		if ((want.granularity & (want.granularity - 1)) ||
		    want.granularity < KEEL_META_GRANULARITY_MIN ||
		    want.granularity > KEEL_META_GRANULARITY_MAX) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[KEEL_ATTR_GRANULARITY],
					    "granularity must be a power of two from 4 KiB to 16 MiB");
			return -EINVAL;
		}
	}
	path = diskless ? "" : nla_data(attrs[KEEL_ATTR_BACKING_PATH]);
	if (!diskless && path[0] != '/') {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KEEL_ATTR_BACKING_PATH],
				    "backing path must be absolute");
		return -EINVAL;
	}
	pick_id = !attrs[KEEL_ATTR_VOLUME_ID];
	if (!pick_id)
		id = nla_get_u32(attrs[KEEL_ATTR_VOLUME_ID]);

	/* Allocate the reply first: once created, nothing may fail. */
	reply = keel_nl_volume_msg();
	if (!reply)
		return -ENOMEM;

	mutex_lock(&keel_lock);
	ret = keel_volume_create(&want, id, pick_id, path, keel_nl_flags(info),
				 genl_info_net(info), &vol, info->extack);
	if (ret) {
		nlmsg_free(reply);
		goto out_unlock;
	}
	pr_info("volume %u created on %s (%llu bytes, %s)\n", vol->id,
		diskless ? "no local replica" : path, vol->size,
		diskless ? "diskless" :
		vol->formatted ? "formatted" : "existing data");
	ret = keel_nl_reply_volume(reply, info, vol, KEEL_CMD_VOLUME_CREATE);
out_unlock:
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_delete(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	int ret = 0;

	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_volume_delete(vol, keel_nl_flags(info) &
					 KEEL_DELETE_F_FORCE, info->extack);
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_attach(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	struct sk_buff *reply;
	int ret = 0;

	reply = keel_nl_volume_msg();
	if (!reply)
		return -ENOMEM;

	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_disk_attach(vol, info->extack);
	if (ret) {
		nlmsg_free(reply);
		goto out_unlock;
	}
	keel_event(vol, KEEL_EVENT_VOLUME_ATTACHED, 0, 0, GFP_KERNEL);
	ret = keel_nl_reply_volume(reply, info, vol, KEEL_CMD_VOLUME_ATTACH);
out_unlock:
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_detach(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	int ret = 0;

	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_disk_detach(vol, keel_nl_flags(info) &
				       KEEL_DETACH_F_FORCE, info->extack);
	if (vol && !ret)
		keel_event(vol, KEEL_EVENT_VOLUME_DETACHED, 0, 0, GFP_KERNEL);
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_set(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct keel_volume *vol;
	struct sk_buff *reply;
	int ret = 0;

	reply = keel_nl_volume_msg();
	if (!reply)
		return -ENOMEM;
	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (!vol)
		goto err_unlock;
	if (attrs[KEEL_ATTR_EPOCH]) {
		u64 epoch = nla_get_u64(attrs[KEEL_ATTR_EPOCH]);

		if (epoch < keel_volume_epoch(vol)) {
			NL_SET_ERR_MSG_ATTR(info->extack, attrs[KEEL_ATTR_EPOCH],
					    "the epoch of a volume never goes down");
			ret = -EINVAL;
			goto err_unlock;
		}
		ret = keel_volume_set_epoch(vol, epoch);
		if (ret) {
			NL_SET_ERR_MSG(info->extack, "cannot write the epoch to the metadata");
			goto err_unlock;
		}
	}
	spin_lock_irq(&vol->repl_lock);
	if (attrs[KEEL_ATTR_SECRET]) {
		vol->secret_len = nla_len(attrs[KEEL_ATTR_SECRET]);
		memcpy(vol->secret, nla_data(attrs[KEEL_ATTR_SECRET]),
		       vol->secret_len);
	}
	if (attrs[KEEL_ATTR_FREEZE_POLICY])
		vol->freeze_policy = nla_get_u32(attrs[KEEL_ATTR_FREEZE_POLICY]);
	if (attrs[KEEL_ATTR_FREEZE_TIMEOUT_MS])
		vol->freeze_timeout_ms =
			nla_get_u32(attrs[KEEL_ATTR_FREEZE_TIMEOUT_MS]);
	if (attrs[KEEL_ATTR_PEER_TIMEOUT_MS])
		vol->peer_timeout_ms =
			nla_get_u32(attrs[KEEL_ATTR_PEER_TIMEOUT_MS]);
	if (attrs[KEEL_ATTR_RESYNC_RATE])
		vol->resync_rate = nla_get_u64(attrs[KEEL_ATTR_RESYNC_RATE]);
	if (attrs[KEEL_ATTR_DATA_DIGEST])
		vol->digest = nla_get_u8(attrs[KEEL_ATTR_DATA_DIGEST]);
	spin_unlock_irq(&vol->repl_lock);
	ret = keel_nl_reply_volume(reply, info, vol, KEEL_CMD_VOLUME_SET);
	mutex_unlock(&keel_lock);
	return ret;

err_unlock:
	mutex_unlock(&keel_lock);
	nlmsg_free(reply);
	return ret;
}

/* KEEL_ATTR_ADDR and KEEL_ATTR_PORT as a socket address. */
static int keel_nl_addr(struct genl_info *info, struct sockaddr_storage *ss)
{
	struct nlattr *a = info->attrs[KEEL_ATTR_ADDR];

	if (GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_ADDR) ||
	    GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_PORT))
		return -EINVAL;
	if (keel_addr_parse(nla_data(a), nla_len(a),
			    nla_get_u16(info->attrs[KEEL_ATTR_PORT]), ss)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a,
				    "address must be 4 (IPv4) or 16 (IPv6) bytes");
		return -EINVAL;
	}
	return 0;
}

static int keel_nl_listen_start(struct sk_buff *skb, struct genl_info *info)
{
	struct sockaddr_storage ss;
	struct keel_volume *vol;
	int ret;

	ret = keel_nl_addr(info, &ss);
	if (ret)
		return ret;
	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_target_start(vol, genl_info_net(info), &ss,
					info->extack);
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_listen_stop(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	int ret = 0;

	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol && !vol->target) {
		NL_SET_ERR_MSG(info->extack, "the replica target is not listening");
		ret = -ENOENT;
	} else if (vol) {
		keel_target_stop(vol);
	}
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_peer_add(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct sockaddr_storage ss;
	struct keel_volume *vol;
	const char *name = NULL;
	u32 sync = KEEL_PEER_SYNC_BITMAP;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_PEER_SLOT))
		return -EINVAL;
	ret = keel_nl_addr(info, &ss);
	if (ret)
		return ret;
	if (attrs[KEEL_ATTR_PEER_NAME])
		name = nla_data(attrs[KEEL_ATTR_PEER_NAME]);
	if (attrs[KEEL_ATTR_PEER_SYNC])
		sync = nla_get_u32(attrs[KEEL_ATTR_PEER_SYNC]);
	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_peer_add(vol, nla_get_u32(attrs[KEEL_ATTR_PEER_SLOT]),
				    name, &ss, genl_info_net(info), sync,
				    info->extack);
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_peer_remove(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_PEER_SLOT))
		return -EINVAL;
	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_peer_remove(vol,
				       nla_get_u32(info->attrs[KEEL_ATTR_PEER_SLOT]),
				       info->extack);
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_peer_outdate(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_PEER_SLOT) ||
	    GENL_REQ_ATTR_CHECK(info, KEEL_ATTR_EPOCH))
		return -EINVAL;
	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_peer_outdate(vol,
					nla_get_u32(info->attrs[KEEL_ATTR_PEER_SLOT]),
					nla_get_u64(info->attrs[KEEL_ATTR_EPOCH]),
					info->extack);
	mutex_unlock(&keel_lock);
	return ret;
}

static int keel_nl_get(struct sk_buff *skb, struct genl_info *info)
{
	struct keel_volume *vol;
	struct sk_buff *reply;
	int ret = 0;

	reply = keel_nl_volume_msg();
	if (!reply)
		return -ENOMEM;
	mutex_lock(&keel_lock);
	vol = keel_nl_volume(info, &ret);
	if (vol)
		ret = keel_nl_reply_volume(reply, info, vol,
					   KEEL_CMD_VOLUME_GET);
	else
		nlmsg_free(reply);
	mutex_unlock(&keel_lock);
	return ret;
}

/* Dump: cb->args[0] is the next volume id to send. */
static int keel_nl_get_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct keel_volume *vol;
	u32 id = cb->args[0];

	mutex_lock(&keel_lock);
	while (id < KEEL_MAX_VOLUMES && (vol = keel_volume_next(&id))) {
		if (keel_nl_fill_volume(skb, vol, NETLINK_CB(cb->skb).portid,
					cb->nlh->nlmsg_seq, NLM_F_MULTI,
					KEEL_CMD_VOLUME_GET))
			break;
		id++;
	}
	mutex_unlock(&keel_lock);
	cb->args[0] = id;
	return skb->len;
}

int keel_nl_send_event(struct net *net, const struct keel_event_info *ev)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	hdr = genlmsg_put(skb, 0, 0, &keel_genl_family, 0, KEEL_CMD_EVENT);
	if (!hdr)
		goto err_free;
	if (nla_put_u32(skb, KEEL_ATTR_EVENT_TYPE, ev->type) ||
	    nla_put_u32(skb, KEEL_ATTR_VOLUME_ID, ev->id) ||
	    nla_put(skb, KEEL_ATTR_UUID, KEEL_UUID_LEN, ev->uuid) ||
	    nla_put_u64_64bit(skb, KEEL_ATTR_EPOCH, ev->epoch, KEEL_ATTR_PAD))
		goto err_free;
	if (ev->type == KEEL_EVENT_IO_ERROR &&
	    nla_put_u64_64bit(skb, KEEL_ATTR_SECTOR, ev->sector, KEEL_ATTR_PAD))
		goto err_free;
	if (ev->err && nla_put_s32(skb, KEEL_ATTR_ERRNO, ev->err))
		goto err_free;
	if (ev->slot >= 0 && nla_put_u32(skb, KEEL_ATTR_PEER_SLOT, ev->slot))
		goto err_free;
	if (ev->percent >= 0 &&
	    nla_put_u32(skb, KEEL_ATTR_SYNC_PERCENT, ev->percent))
		goto err_free;
	if (ev->msg[0] && nla_put_string(skb, KEEL_ATTR_MESSAGE, ev->msg))
		goto err_free;
	genlmsg_end(skb, hdr);
	return genlmsg_multicast_netns(&keel_genl_family, net, skb, 0, 0,
				       GFP_KERNEL);

err_free:
	nlmsg_free(skb);
	return -EMSGSIZE;
}

static const struct genl_ops keel_nl_ops[] = {
	{
		.cmd	= KEEL_CMD_GET_INFO,
		.doit	= keel_nl_get_info,
		.flags	= GENL_ADMIN_PERM,
		/* no policy: the core rejects every attribute */
	},
	{
		.cmd	= KEEL_CMD_VOLUME_CREATE,
		.doit	= keel_nl_create,
		.policy	= keel_create_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_VOLUME_DELETE,
		.doit	= keel_nl_delete,
		.policy	= keel_delete_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_VOLUME_ATTACH,
		.doit	= keel_nl_attach,
		.policy	= keel_id_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_VOLUME_DETACH,
		.doit	= keel_nl_detach,
		.policy	= keel_detach_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_VOLUME_GET,
		.doit	= keel_nl_get,
		.dumpit	= keel_nl_get_dump,
		.policy	= keel_id_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_VOLUME_SET,
		.doit	= keel_nl_set,
		.policy	= keel_set_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_LISTEN_START,
		.doit	= keel_nl_listen_start,
		.policy	= keel_listen_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_LISTEN_STOP,
		.doit	= keel_nl_listen_stop,
		.policy	= keel_id_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_PEER_ADD,
		.doit	= keel_nl_peer_add,
		.policy	= keel_peer_add_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_PEER_REMOVE,
		.doit	= keel_nl_peer_remove,
		.policy	= keel_peer_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KEEL_CMD_PEER_OUTDATE,
		.doit	= keel_nl_peer_outdate,
		.policy	= keel_peer_policy,
		.maxattr = KEEL_ATTR_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group keel_nl_mcgrps[] = {
	{ .name = KEEL_MCGRP_EVENTS },
};

static struct genl_family keel_genl_family __ro_after_init = {
	.name		= KEEL_GENL_NAME,
	.version	= KEEL_GENL_VERSION,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.ops		= keel_nl_ops,
	.n_ops		= ARRAY_SIZE(keel_nl_ops),
	/* Strict header, flag and attribute checks for every command. */
	.resv_start_op	= KEEL_CMD_GET_INFO,
	.mcgrps		= keel_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(keel_nl_mcgrps),
};

int __init keel_netlink_init(void)
{
	return genl_register_family(&keel_genl_family);
}

void keel_netlink_exit(void)
{
	genl_unregister_family(&keel_genl_family);
}
