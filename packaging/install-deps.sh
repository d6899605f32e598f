#!/bin/sh
# install-deps.sh [LIST]: install, with apt-get, every Debian package named
# in LIST (default packaging/build-deps.txt) that is not installed yet.
# Idempotent: when everything is present it only runs one dpkg-query.
set -eu
list=${1:-$(dirname "$0")/build-deps.txt}
want=$(grep -v '^[[:space:]]*#' "$list" | grep -v '^[[:space:]]*$')
# shellcheck disable=SC2086
have=$(dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' $want 2>/dev/null | awk '$2 == "ii" { print $1 }')
missing=
for p in $want; do
	echo "$have" | grep -qx "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install packages (run: sudo make deps)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
