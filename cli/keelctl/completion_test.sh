#!/bin/bash
# packaging/keelctl.bash-completion: commands, subcommands, flags, option
# values, volume and node names (from a stand-in keelctl that records how it
# was asked).  Usage: completion_test.sh PATH/TO/keelctl.bash-completion
set -euo pipefail
# shellcheck source=/dev/null
. "$1"

# shellcheck disable=SC2317 # called by the completion
keelctl() { # the stand-in: volume or node names, and the arguments it got
	echo "$*" > "$ASKED"
	case " $* " in
	*" node list "*) printf 'n1\nn2\nn3\n' ;;
	*) printf 'db\nweb\ndata\n' ;;
	esac
}
ASKED=$(mktemp)
trap 'rm -f "$ASKED"' EXIT

fails=0
# expect "WORDS..." "WANT": complete the last word of WORDS (may be "").
expect() {
	read -r -a COMP_WORDS <<< "$1"
	[[ $1 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	_keelctl
	local got="${COMPREPLY[*]-}"
	if [ "$got" != "$2" ]; then
		echo "FAIL: '$1': got '$got', want '$2'"
		fails=$((fails + 1))
	fi
}

expect "keelctl " "volume node cluster version"
expect "keelctl v" "volume version"
expect "keelctl volume " "create list inspect attach detach delete"
expect "keelctl volume de" "detach delete"
expect "keelctl node " "list inspect cordon uncordon drain maintenance"
expect "keelctl node maintenance n1 --o" "--output --off"
expect "keelctl node c" "cordon"
expect "keelctl node d" "drain"
expect "keelctl cluster " "status rebalance"
expect "keelctl cluster rebalance --d" "--dry-run"
expect "keelctl cluster rebalance --m" "--max-moves"
expect "keelctl c" "cluster"
expect "keelctl node inspect " "n1 n2 n3"
expect "keelctl node inspect n" "n1 n2 n3"
expect "keelctl node list " ""
expect "keelctl node cordon " "n1 n2 n3"
expect "keelctl node uncordon n" "n1 n2 n3"
expect "keelctl node drain " "n1 n2 n3"
expect "keelctl node drain n1 " ""
expect "keelctl node drain n1 --w" "--wait --wait-timeout"
expect "keelctl node drain n1 --wait --wait-" "--wait-timeout"
expect "keelctl node drain n1 --wait --wait-timeout " ""
expect "keelctl node cordon n1 --w" ""
expect "keelctl volume attach " "db web data"
expect "keelctl volume delete d" "db data"
expect "keelctl -o json volume inspect w" "web"
expect "keelctl volume attach db " ""
expect "keelctl volume attach db --n" "--node"
expect "keelctl volume attach db --node " "n1 n2 n3"
expect "keelctl volume attach db -n n" "n1 n2 n3"
expect "keelctl volume attach db --node n2 " ""
expect "keelctl volume attach --node n2 " "db web data"
expect "keelctl volume attach db --w" "--wait --wait-timeout"
expect "keelctl volume inspect db --w" "--watch"
expect "keelctl volume inspect db -" "--help --version --socket -o --output -q --quiet --timeout -w --watch"
expect "keelctl volume create db --block-size " "512 4096"
expect "keelctl volume create db --size " ""
expect "keelctl volume list -o " "text json"
expect "keelctl volume delete db --y" "--yes"
expect "keelctl volume detach db --f" "--force"
expect "keelctl volume create db --re" "--repl"
expect "keelctl volume create db --z" "--zone-spread"
expect "keelctl volume create db --repl " "1 2 3"
expect "keelctl --q" "--quiet"
# Volume names come from the same socket as the command line.
expect "keelctl --socket /tmp/k.sock volume detach " "db web data"
grep -q -- "--socket /tmp/k.sock --timeout 2 volume list -q" "$ASKED" ||
	{ echo "FAIL: asked: $(cat "$ASKED")"; fails=$((fails + 1)); }
expect "keelctl --socket=/tmp/n2.sock node inspect " "n1 n2 n3"
grep -q -- "--socket=/tmp/n2.sock --timeout 2 node list -q" "$ASKED" ||
	{ echo "FAIL: asked: $(cat "$ASKED")"; fails=$((fails + 1)); }
[ "$fails" = 0 ] && echo "completion ok"
exit "$fails"
