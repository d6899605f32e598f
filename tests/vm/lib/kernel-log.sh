# lib/kernel-log.sh - reading and judging the guest's kernel log.
# Sourced by guest/init.sh (inside the guest) and by vm-run (on the host).

# Lines that mean the kernel is unhappy: any one of them fails the test that
# was running.  Kept in one place so guest and host judge alike.
KEEL_BAD_KERNEL_LOG='WARNING:|BUG:|BUG kernel|kernel BUG|Oops|general protection|hung task|blocked for more than|refcount_t|list_add corruption|list_del corruption|list corruption|Call Trace:|UBSAN:|KASAN:|soft lockup|hard LOCKUP|Kernel panic|stack-protector|double free|use-after-free|slab-out-of-bounds|leaked|rcu_.*stall'

# kernel_log_is_bad < LOG: print the offending lines; true if there are any.
kernel_log_is_bad() {
	grep -E "$KEEL_BAD_KERNEL_LOG"
}

# kernel_log_between BEGIN END: the kernel log lines strictly between the
# two marker messages (logged by guest/init.sh through /dev/kmsg).
kernel_log_between() {
	dmesg 2>/dev/null | awk -v b="keel-vm: $1" -v e="keel-vm: $2" '
		index($0, e) { inside = 0 }
		inside { print }
		index($0, b) { inside = 1 }'
}
