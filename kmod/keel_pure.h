/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_pure.h - what the pure-logic files of keel.ko (keel_meta.c, ...)
 * may use.  Those files do no IO and touch no kernel object, so they are
 * also compiled in user space and unit-tested there (kmod/keel_meta_test.cpp): in
 * the kernel this maps to kernel headers, in user space to libc and to the
 * user-space crc32c of manager/common.
 */
#ifndef KEEL_PURE_H
#define KEEL_PURE_H

#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/types.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/crc32c.h>
#include <asm/byteorder.h>
#else
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#define cpu_to_le16(x) ((__le16)htole16(x))
#define cpu_to_le32(x) ((__le32)htole32(x))
#define cpu_to_le64(x) ((__le64)htole64(x))
#define le16_to_cpu(x) le16toh((uint16_t)(x))
#define le32_to_cpu(x) le32toh((uint32_t)(x))
#define le64_to_cpu(x) le64toh((uint64_t)(x))
#ifdef __cplusplus
extern "C" {
#endif
/* Kernel semantics: no final inversion (crc32c(~0, ...) ^ ~0 is standard). */
u32 crc32c(u32 crc, const void *data, unsigned int len);
#ifdef __cplusplus
}
#endif
#endif

#endif /* KEEL_PURE_H */
