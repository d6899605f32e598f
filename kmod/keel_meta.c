// SPDX-License-Identifier: GPL-2.0
/*
 * keel_meta.c - the replica metadata superblock (docs/on-disk-format.md).
 * Pure logic: no IO, no allocation; compiled in user space by the unit
 * tests too (keel_meta_test.cpp).
 */
#include "keel_meta.h"

static u64 keel_round_up(u64 v, u64 align)
{
	return (v + align - 1) / align * align;
}

static u32 keel_sb_crc(const struct keel_meta_sb *sb)
{
	return crc32c(~0U, sb, offsetof(struct keel_meta_sb, crc)) ^ ~0U;
}

int keel_meta_layout(struct keel_meta *m)
{
	u64 bits, bytes;

	if (m->block_size != 512 && m->block_size != 4096)
		return -EINVAL;
	if (m->size == 0 || m->size % m->block_size ||
	    m->size > KEEL_MAX_VOLUME_SIZE)
		return -EINVAL;

	if (m->granularity == 0)
		m->granularity = KEEL_META_GRANULARITY;
	if (m->granularity < KEEL_META_GRANULARITY_MIN ||
	    m->granularity > KEEL_META_GRANULARITY_MAX ||
	    (m->granularity & (m->granularity - 1)))
		return -EINVAL;
	m->max_peers = KEEL_META_MAX_PEERS;
	bits = (m->size + m->granularity - 1) / m->granularity;
	bytes = keel_round_up((bits + 7) / 8, KEEL_META_BLOCK);
	m->bitmap_offset = KEEL_META_BLOCK;
	m->bitmap_bytes = (u32)bytes;
	m->data_offset = keel_round_up(m->bitmap_offset +
				       bytes * m->max_peers, KEEL_META_ALIGN);
	return 0;
}

u64 keel_meta_backing_bytes(const struct keel_meta *m)
{
	return m->data_offset + m->size;
}

void keel_meta_encode(const struct keel_meta *m, void *buf)
{
	struct keel_meta_sb *sb = buf;

	memset(buf, 0, KEEL_META_BLOCK);
	sb->magic = cpu_to_le32(KEEL_META_MAGIC);
	sb->version = cpu_to_le32(KEEL_META_VERSION);
	sb->sb_size = cpu_to_le32(sizeof(*sb));
	sb->flags = cpu_to_le32(m->flags);
	memcpy(sb->uuid, m->uuid, KEEL_UUID_LEN);
	sb->size = cpu_to_le64(m->size);
	sb->block_size = cpu_to_le32(m->block_size);
	sb->granularity = cpu_to_le32(m->granularity);
	sb->epoch = cpu_to_le64(m->epoch);
	sb->bitmap_offset = cpu_to_le64(m->bitmap_offset);
	sb->bitmap_bytes = cpu_to_le32(m->bitmap_bytes);
	sb->max_peers = cpu_to_le32(m->max_peers);
	sb->data_offset = cpu_to_le64(m->data_offset);
	sb->created_sec = cpu_to_le64(m->created_sec);
	sb->crc = cpu_to_le32(keel_sb_crc(sb));
}

static bool keel_all_zero(const u8 *p, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

enum keel_meta_verdict keel_meta_decode(const void *buf, struct keel_meta *m)
{
	const struct keel_meta_sb *sb = buf;
	struct keel_meta tmp;

	if (le32_to_cpu(sb->magic) != KEEL_META_MAGIC)
		return keel_all_zero(buf, KEEL_META_BLOCK) ?
			KEEL_META_EMPTY : KEEL_META_FOREIGN;
	if (le32_to_cpu(sb->version) > KEEL_META_VERSION)
		return KEEL_META_TOO_NEW;
	if (le32_to_cpu(sb->version) != KEEL_META_VERSION ||
	    le32_to_cpu(sb->sb_size) != sizeof(*sb) ||
	    le32_to_cpu(sb->crc) != keel_sb_crc(sb))
		return KEEL_META_CORRUPT;

	memset(&tmp, 0, sizeof(tmp));
	tmp.flags = le32_to_cpu(sb->flags);
	memcpy(tmp.uuid, sb->uuid, KEEL_UUID_LEN);
	tmp.size = le64_to_cpu(sb->size);
	tmp.block_size = le32_to_cpu(sb->block_size);
	tmp.granularity = le32_to_cpu(sb->granularity);
	tmp.epoch = le64_to_cpu(sb->epoch);
	tmp.bitmap_offset = le64_to_cpu(sb->bitmap_offset);
	tmp.bitmap_bytes = le32_to_cpu(sb->bitmap_bytes);
	tmp.max_peers = le32_to_cpu(sb->max_peers);
	tmp.data_offset = le64_to_cpu(sb->data_offset);
	tmp.created_sec = le64_to_cpu(sb->created_sec);

	/* The layout must be exactly what this size would get. */
	{
		struct keel_meta want = tmp;

		if (keel_meta_layout(&want) ||
		    want.granularity != tmp.granularity ||
		    want.bitmap_offset != tmp.bitmap_offset ||
		    want.bitmap_bytes != tmp.bitmap_bytes ||
		    want.max_peers != tmp.max_peers ||
		    want.data_offset != tmp.data_offset)
			return KEEL_META_CORRUPT;
	}
	*m = tmp;
	return KEEL_META_VALID;
}

const char *keel_meta_verdict_str(enum keel_meta_verdict v)
{
	switch (v) {
	case KEEL_META_VALID:
		return "valid keel metadata";
	case KEEL_META_EMPTY:
		return "empty (never formatted)";
	case KEEL_META_FOREIGN:
		return "not a keel replica (holds other data)";
	case KEEL_META_CORRUPT:
		return "corrupt keel metadata (checksum or layout mismatch)";
	case KEEL_META_TOO_NEW:
		return "keel metadata of a newer, unknown format";
	}
	return "unknown";
}
