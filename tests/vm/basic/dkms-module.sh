#!/bin/bash
# The keel.ko that DKMS built from this tree loads and answers over netlink.
# (tests/dkms/dkms-build.sh KVER build/dkms/KVER/keel.ko builds it; make
# check runs that first.)
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
ko=$KEEL_ROOT/build/dkms/$KEEL_KVER/keel.ko
[ -f "$ko" ] || fail "$ko missing: run tests/dkms/dkms-build.sh $KEEL_KVER $ko"
rmmod keel
insmod "$ko"
"$KEELSETUP" info --json | json_get version | grep -qx "$(cat "$KEEL_ROOT/VERSION")"
rmmod keel
insmod "$KEEL_MODULE_PATH"
