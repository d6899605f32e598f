// SPDX-License-Identifier: GPL-2.0
/*
 * keel_main.c - module entry points of keel.ko, the Keel replicated block
 * device.  Sets up the generic-netlink control interface; everything else
 * hangs off the objects created through it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <net/genetlink.h>

#include "keel.h"

static int __init keel_init(void)
{
	int ret;

	ret = keel_netlink_init();
	if (ret) {
		pr_err("cannot register generic netlink family: %d\n", ret);
		return ret;
	}
	pr_info("version %s loaded\n", KEEL_VERSION);
	return 0;
}

static void __exit keel_exit(void)
{
	keel_netlink_exit();
	pr_info("unloaded\n");
}

module_init(keel_init);
module_exit(keel_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The Keel authors");
MODULE_DESCRIPTION("Keel replicated block device");
MODULE_VERSION(KEEL_VERSION);
MODULE_ALIAS_GENL_FAMILY(KEEL_GENL_NAME);
