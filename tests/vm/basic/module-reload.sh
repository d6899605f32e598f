#!/bin/bash
# keel.ko unloads and loads again cleanly, and the family comes back.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
for i in 1 2 3; do
	rmmod keel
	expect_fail "$KEELSETUP" info
	grep -q "modprobe keel" <<< "$LAST_OUT" || fail "no load hint: $LAST_OUT"
	insmod "$KEEL_MODULE_PATH"
	"$KEELSETUP" info > /dev/null
done
