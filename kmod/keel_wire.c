// SPDX-License-Identifier: GPL-2.0
/*
 * keel_wire.c - wire protocol encoding and validation (keel_wire.h).
 * Pure logic; also compiled in user space by kmod/keel_wire_test.cpp.
 */
#include "keel_wire.h"

/* The layout is part of the protocol: any change must be deliberate. */
_Static_assert(sizeof(struct keel_wire_hdr) == KEEL_WIRE_HDR_SIZE,
	       "wire header size");
_Static_assert(sizeof(struct keel_wire_hello) == KEEL_WIRE_HELLO_SIZE,
	       "wire hello size");
_Static_assert(sizeof(struct keel_wire_challenge) == KEEL_WIRE_CHALLENGE_SIZE,
	       "wire challenge size");
_Static_assert(sizeof(struct keel_wire_auth) == KEEL_WIRE_AUTH_SIZE,
	       "wire auth size");
_Static_assert(sizeof(struct keel_wire_refuse) == KEEL_WIRE_REFUSE_SIZE,
	       "wire refuse size");
_Static_assert(sizeof(struct keel_wire_transcript) ==
	       KEEL_WIRE_TRANSCRIPT_SIZE, "wire transcript size");

void keel_wire_encode(const struct keel_wire_msg *m, struct keel_wire_hdr *h)
{
	h->magic = cpu_to_le32(KEEL_WIRE_MAGIC);
	h->type = cpu_to_le16(m->type);
	h->flags = cpu_to_le16(m->flags);
	h->length = cpu_to_le32(m->length);
	h->size = cpu_to_le32(m->size);
	h->seq = cpu_to_le64(m->seq);
	h->offset = cpu_to_le64(m->offset);
	h->epoch = cpu_to_le64(m->epoch);
	h->digest = cpu_to_le32(m->digest);
	h->status = cpu_to_le32(m->status);
}

/* Is [offset, offset + size) a valid request range? */
static const char *keel_wire_range(const struct keel_wire_msg *m,
				   u64 vol_size, u32 block_size)
{
	if (m->size == 0)
		return "empty range";
	if (m->size > KEEL_WIRE_MAX_PAYLOAD)
		return "range larger than a request may be";
	if (block_size && (m->offset % block_size || m->size % block_size))
		return "range not aligned to the block size";
	if (m->offset > vol_size || m->size > vol_size - m->offset)
		return "range beyond the end of the volume";
	return NULL;
}

const char *keel_wire_decode(const struct keel_wire_hdr *h,
			     struct keel_wire_msg *m, u64 vol_size,
			     u32 block_size)
{
	if (le32_to_cpu(h->magic) != KEEL_WIRE_MAGIC)
		return "bad magic";
	m->type = le16_to_cpu(h->type);
	m->flags = le16_to_cpu(h->flags);
	m->length = le32_to_cpu(h->length);
	m->size = le32_to_cpu(h->size);
	m->seq = le64_to_cpu(h->seq);
	m->offset = le64_to_cpu(h->offset);
	m->epoch = le64_to_cpu(h->epoch);
	m->digest = le32_to_cpu(h->digest);
	m->status = le32_to_cpu(h->status);

	if (m->length > KEEL_WIRE_MAX_PAYLOAD)
		return "payload too large";
	if (m->flags & ~KEEL_WIRE_F_ALL)
		return "unknown flags";
	switch (m->type) {
	case KEEL_WIRE_HELLO:
		return m->length == KEEL_WIRE_HELLO_SIZE ? NULL :
			"HELLO of the wrong length";
	case KEEL_WIRE_CHALLENGE:
		return m->length == KEEL_WIRE_CHALLENGE_SIZE ? NULL :
			"CHALLENGE of the wrong length";
	case KEEL_WIRE_AUTH:
		return m->length == KEEL_WIRE_AUTH_SIZE ? NULL :
			"AUTH of the wrong length";
	case KEEL_WIRE_REFUSE:
		return m->length == KEEL_WIRE_REFUSE_SIZE ? NULL :
			"REFUSE of the wrong length";
	case KEEL_WIRE_WELCOME:
	case KEEL_WIRE_FLUSH:
	case KEEL_WIRE_PING:
	case KEEL_WIRE_PONG:
		return m->length == 0 ? NULL : "unexpected payload";
	case KEEL_WIRE_WRITE:
		if (m->length != m->size)
			return "WRITE payload length differs from its size";
		return keel_wire_range(m, vol_size, block_size);
	case KEEL_WIRE_READ:
	case KEEL_WIRE_DISCARD:
	case KEEL_WIRE_WRITE_ZEROES:
		if (m->length != 0)
			return "unexpected payload";
		return keel_wire_range(m, vol_size, block_size);
	case KEEL_WIRE_ACK:
		return NULL;
	default:
		return "unknown message type";
	}
}

void keel_wire_make_transcript(struct keel_wire_transcript *t, bool target,
			  const u8 *nonce_i, const u8 *nonce_t,
			  const u8 *uuid, u64 epoch_i, u64 epoch_t)
{
	const char *label = target ? KEEL_WIRE_LABEL_TARGET :
				     KEEL_WIRE_LABEL_INITIATOR;

	memset(t, 0, sizeof(*t));
	memcpy(t->label, label, strlen(label));
	memcpy(t->nonce_i, nonce_i, KEEL_WIRE_NONCE_LEN);
	memcpy(t->nonce_t, nonce_t, KEEL_WIRE_NONCE_LEN);
	memcpy(t->uuid, uuid, KEEL_UUID_LEN);
	t->epoch_i = cpu_to_le64(epoch_i);
	t->epoch_t = cpu_to_le64(epoch_t);
}

const char *keel_wire_type_str(u16 type)
{
	static const char * const names[] = {
		[KEEL_WIRE_HELLO] = "HELLO",
		[KEEL_WIRE_CHALLENGE] = "CHALLENGE",
		[KEEL_WIRE_AUTH] = "AUTH",
		[KEEL_WIRE_WELCOME] = "WELCOME",
		[KEEL_WIRE_REFUSE] = "REFUSE",
		[KEEL_WIRE_WRITE] = "WRITE",
		[KEEL_WIRE_FLUSH] = "FLUSH",
		[KEEL_WIRE_DISCARD] = "DISCARD",
		[KEEL_WIRE_WRITE_ZEROES] = "WRITE_ZEROES",
		[KEEL_WIRE_READ] = "READ",
		[KEEL_WIRE_ACK] = "ACK",
		[KEEL_WIRE_PING] = "PING",
		[KEEL_WIRE_PONG] = "PONG",
	};

	if (type < ARRAY_SIZE(names) && names[type])
		return names[type];
	return "unknown";
}
