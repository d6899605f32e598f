#!/bin/bash
# keelsetup reaches keel.ko over generic netlink; non-root is refused.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"

out=$("$KEELSETUP" info --json)
echo "$out"
expect_eq version "$(json_get version <<< "$out")" "$(cat "$KEEL_ROOT/VERSION")"
expect_eq api_version "$(json_get api_version <<< "$out")" 1
expect_eq kernel "$(json_get kernel_release <<< "$out")" "$(uname -r)"
json_get features <<< "$out" | grep -q events || fail "events feature missing"

"$KEELSETUP" info | grep -q "module version: *$(cat "$KEEL_ROOT/VERSION")"

# GENL_ADMIN_PERM: an unprivileged caller gets EPERM and a hint.
expect_fail setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	--bounding-set=-all "$KEELSETUP" info
echo "$LAST_OUT"
grep -q "CAP_SYS_ADMIN" <<< "$LAST_OUT" || fail "no permission hint: $LAST_OUT"
