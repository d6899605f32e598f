// SPDX-License-Identifier: GPL-2.0
/*
 * keel_main.c - module entry points of keel.ko, the Keel replicated block
 * device.  Sets up the block major, the work queue and the generic-netlink
 * control interface; everything else hangs off the objects created through
 * it.  Unloading is refused while any volume exists (each holds a module
 * reference).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <net/genetlink.h>

#include "keel.h"

struct workqueue_struct *keel_wq;
struct workqueue_struct *keel_io_wq;
struct workqueue_struct *keel_io_fast_wq;
struct workqueue_struct *keel_net_wq;

static int __init keel_init(void)
{
	int ret;

	keel_wq = alloc_workqueue("keel", WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!keel_wq)
		return -ENOMEM;
	keel_io_wq = alloc_workqueue("keel_io", WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!keel_io_wq) {
		ret = -ENOMEM;
		goto err_destroy_wq;
	}
	keel_io_fast_wq = alloc_workqueue("keel_io_fast", WQ_MEM_RECLAIM |
					  WQ_HIGHPRI, 0);
	if (!keel_io_fast_wq) {
		ret = -ENOMEM;
		goto err_destroy_io_wq;
	}

	keel_net_wq = alloc_workqueue("keel_net", WQ_MEM_RECLAIM | WQ_UNBOUND,
				      0);
	if (!keel_net_wq) {
		ret = -ENOMEM;
		goto err_destroy_io_fast_wq;
	}
	ret = keel_disk_init();
	if (ret) {
		pr_err("cannot register the block major: %d\n", ret);
		goto err_destroy_net_wq;
	}

	ret = keel_netlink_init();
	if (ret) {
		pr_err("cannot register generic netlink family: %d\n", ret);
		goto err_disk_exit;
	}
	pr_info("version %s loaded (block major %d)\n", KEEL_VERSION,
		keel_major);
	return 0;

err_disk_exit:
	keel_disk_exit();
err_destroy_net_wq:
	destroy_workqueue(keel_net_wq);
err_destroy_io_fast_wq:
	destroy_workqueue(keel_io_fast_wq);
err_destroy_io_wq:
	destroy_workqueue(keel_io_wq);
err_destroy_wq:
	destroy_workqueue(keel_wq);
	return ret;
}

static void __exit keel_exit(void)
{
	long leaked;

	keel_netlink_exit();
	keel_events_exit();
	keel_disk_exit();
	destroy_workqueue(keel_net_wq);
	destroy_workqueue(keel_io_fast_wq);
	destroy_workqueue(keel_io_wq);
	destroy_workqueue(keel_wq);
	leaked = atomic_long_read(&keel_objects);
	if (leaked)
		pr_err("%ld objects leaked\n", leaked);
	pr_info("unloaded\n");
}

module_init(keel_init);
module_exit(keel_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The Keel authors");
MODULE_DESCRIPTION("Keel replicated block device");
MODULE_VERSION(KEEL_VERSION);
MODULE_ALIAS_GENL_FAMILY(KEEL_GENL_NAME);
