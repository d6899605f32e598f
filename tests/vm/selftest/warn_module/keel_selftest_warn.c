// SPDX-License-Identifier: GPL-2.0
/*
 * keel_selftest_warn.ko - raises one real kernel WARN when loaded.  Used only
 * by the VM harness's self-test to prove that a WARN in the guest's kernel
 * log fails the test that caused it.  Never installed or packaged.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init keel_selftest_warn_init(void)
{
	WARN(1, "keel_selftest_warn: deliberate warning for the harness self-test\n");
	return 0;
}

static void __exit keel_selftest_warn_exit(void)
{
}

module_init(keel_selftest_warn_init);
module_exit(keel_selftest_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VM harness self-test: raises a kernel WARN on load");
