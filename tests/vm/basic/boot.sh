#!/bin/bash
# The guest sees the host's tools and this tree, and can write to its root.
set -eu
uname -r
test "$(uname -r)" = "$KEEL_KVER"
test -x "$KEEL_ROOT/tests/vm/vm-run"
touch /etc/keel-vm-probe && rm /etc/keel-vm-probe
grep -q keel /proc/modules
echo ok
