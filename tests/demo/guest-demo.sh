#!/bin/bash
# Runs inside the demo guest: shows keel.ko loaded and talking netlink.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
show() { echo; echo "\$ $*"; "$@"; }
cd "$KEEL_ROOT"
show uname -r
show grep keel /proc/modules
show build/user/cli/keelsetup info
show build/user/cli/keelsetup info --json
echo
echo "\$ setpriv --reuid=nobody ... keelsetup info    # unprivileged callers are refused"
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
	build/user/cli/keelsetup info || echo "(exit status $?)"
