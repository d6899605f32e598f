/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_wire.h - encoding and validation of the replication wire protocol
 * (include/uapi/linux/keel.h, docs/wire-protocol.md).  Pure logic (see
 * keel_pure.h): the sockets live in keel_net.c.
 */
#ifndef KEEL_WIRE_H
#define KEEL_WIRE_H

#include "keel_pure.h"
#include <linux/keel.h>

/* A wire header in CPU byte order. */
struct keel_wire_msg {
	u16 type;
	u16 flags;
	u32 length;
	u32 size;
	u64 seq;
	u64 offset;
	u64 epoch;
	u32 digest;
	u32 status;
};

#define KEEL_WIRE_F_ALL	(KEEL_WIRE_F_FUA | KEEL_WIRE_F_DIGEST | \
			 KEEL_WIRE_F_RESYNC)

void keel_wire_encode(const struct keel_wire_msg *m, struct keel_wire_hdr *h);

/*
 * keel_wire_decode - decode @h into @m and check what a header alone can
 * tell: magic, known type and flags, payload limit, the payload length the
 * type needs, and for requests that the range [offset, offset + size) is
 * non-empty, aligned to @block_size and inside a volume of @vol_size bytes.
 * Returns NULL if valid, else a short reason (for the log).
 */
const char *keel_wire_decode(const struct keel_wire_hdr *h,
			     struct keel_wire_msg *m, u64 vol_size,
			     u32 block_size);

/* What the MACs cover (struct keel_wire_transcript); @target picks the label. */
void keel_wire_make_transcript(struct keel_wire_transcript *t, bool target,
			  const u8 *nonce_i, const u8 *nonce_t,
			  const u8 *uuid, u64 epoch_i, u64 epoch_t);

/* A name for a message type, for the log. */
const char *keel_wire_type_str(u16 type);

#endif /* KEEL_WIRE_H */
