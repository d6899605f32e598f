/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel.h - internal declarations shared by the files of keel.ko.
 */
#ifndef KEEL_H
#define KEEL_H

#include <linux/types.h>

#include "keel_compat.h"

#define KEEL_FEATURES_SUPPORTED	((u64)KEEL_FEATURE_EVENTS)

/* keel_netlink.c */
int keel_netlink_init(void);
void keel_netlink_exit(void);

#endif /* KEEL_H */
