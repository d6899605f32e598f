#!/bin/bash
# vm-timeout: 300
# vm-kernels: one
# vm-cost: 85
# kill -9 at every step of create, attach, detach and delete: keeld is
# started with KEELD_CRASH_AT=<point>, which makes it _exit right there;
# the next keeld finishes or rolls back the operation.  After each restart
# keel.ko, keel.db, kvdb.db and the pool agree: no orphan backing file, no
# orphan kernel object, no half-attached volume; a volume attached all
# along kept its disk and its data.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
pool_setup
keeld_config
keeld_start
api volume.create name=keep size=64M > /dev/null
keepdev=$(api volume.attach name=keep | json_get result.device)
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
dd if=/tmp/pattern of="$keepdev" bs=1M oflag=direct status=none
want=$(sha256sum < /tmp/pattern | cut -d' ' -f1)

points="create:intent-written create:backing-created create:kernel-created create:kvdb-written
	attach:intent-written attach:kernel-attached attach:kvdb-written
	detach:intent-written detach:kernel-detached detach:kvdb-written
	delete:intent-written delete:kernel-deleted delete:backing-removed delete:kvdb-removed"
for point in $points; do
	op=${point%%:*}
	echo "== crash at $point"
	# Set the stage with the running keeld, then restart it armed.
	case $op in
	attach) api volume.create name=v size=32M > /dev/null ;;
	detach | delete)
		api volume.create name=v size=32M > /dev/null
		api volume.attach name=v > /dev/null
		;;
	esac
	keeld_stop
	keeld_start KEELD_CRASH_AT="$point"
	case $op in
	create) req="volume.create name=v size=32M" ;;
	attach) req="volume.attach name=v" ;;
	detach) req="volume.detach name=v" ;;
	delete) req="volume.delete name=v force=true" ;;
	esac
	# shellcheck disable=SC2086
	if api $req > /tmp/reply 2>&1; then fail "$point: got a reply: $(cat /tmp/reply)"; fi
	keeld_wait_exit
	expect_eq "$point: keeld exit status" "$KEELD_EXIT" 86
	keeld_start
	keeld_consistent || fail "$point: inconsistent after restart"
	state=$(api_code volume.inspect name=v)
	case $op in
	create | delete) expect_eq "$point: volume v" "$state" not_found ;;
	*) expect_eq "$point: volume v" "$state" ok ;;
	esac
	# Whatever happened, the operation can be done (again) now; a delete
	# that was completed says the volume is gone.
	# shellcheck disable=SC2086
	if [ "$op" = delete ]; then
		expect_eq "$point: delete again" "$(api_code $req)" not_found
	else
		expect_eq "$point: $req again" "$(api_code $req)" ok
	fi
	expect_eq "$point: keep's device" "$(api_code volume.attach name=keep)" ok
	[ -b "$keepdev" ] || fail "$point: $keepdev is gone"
	api volume.delete name=v force=true > /dev/null 2>&1 || true
done
keeld_consistent
expect_eq "data of keep" "$(dev_sum "$keepdev" 0 4)" "$want"
expect_eq "recoveries logged" "$(grep -c 'msg="unfinished operation recovered"' "$KEELD_LOG")" 14
api volume.delete name=keep force=true > /dev/null
keeld_consistent
expect_eq "kernel objects" "$(keel_objects)" 0
keeld_stop
