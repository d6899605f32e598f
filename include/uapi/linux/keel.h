/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * keel.h - the one interface shared by keel.ko and its user-space managers.
 *
 * It defines the generic-netlink family "keel": its commands, attributes,
 * multicast groups and feature bits.  Both sides include this file; nothing
 * here may depend on kernel-only or libc-only headers beyond <linux/types.h>.
 *
 * Compatibility rules: enum values are never renumbered or reused; new
 * commands and attributes are appended before the __KEEL_*_MAX sentinel and
 * bump KEEL_GENL_VERSION only when an existing meaning changes.
 */
#ifndef _UAPI_LINUX_KEEL_H
#define _UAPI_LINUX_KEEL_H

#include <linux/types.h>

#define KEEL_GENL_NAME		"keel"
#define KEEL_GENL_VERSION	1
#define KEEL_MCGRP_EVENTS	"events"

/* Feature bits reported by KEEL_CMD_GET_INFO in KEEL_ATTR_FEATURES. */
enum keel_feature {
	/* the "events" multicast group is registered */
	KEEL_FEATURE_EVENTS = (1ULL << 0),
};

enum keel_cmd {
	KEEL_CMD_UNSPEC,
	/*
	 * GET_INFO: no request attributes.  Reply carries KEEL_ATTR_VERSION,
	 * KEEL_ATTR_API_VERSION, KEEL_ATTR_FEATURES, KEEL_ATTR_KERNEL_RELEASE.
	 */
	KEEL_CMD_GET_INFO,

	__KEEL_CMD_MAX,
};
#define KEEL_CMD_MAX (__KEEL_CMD_MAX - 1)

enum keel_attr {
	KEEL_ATTR_UNSPEC,
	KEEL_ATTR_PAD,			/* padding for 64-bit attributes */
	KEEL_ATTR_VERSION,		/* string: module version, "0.1.0" */
	KEEL_ATTR_API_VERSION,		/* u32: KEEL_GENL_VERSION of the module */
	KEEL_ATTR_FEATURES,		/* u64: mask of enum keel_feature */
	KEEL_ATTR_KERNEL_RELEASE,	/* string: utsname release */

	__KEEL_ATTR_MAX,
};
#define KEEL_ATTR_MAX (__KEEL_ATTR_MAX - 1)

/* Longest string attribute the module ever sends, terminator included. */
#define KEEL_STRING_MAX		65

#endif /* _UAPI_LINUX_KEEL_H */
