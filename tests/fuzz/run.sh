#!/bin/bash
# tests/fuzz/run.sh [-r RESULTS] [-t SECONDS]: build every libFuzzer target
# (clang++ -fsanitize=fuzzer,address,undefined) into build/fuzz/ and run
# each for a bounded time (default 45 s in all, split between them; the
# builds, side by side, about a minute more) from its seed corpus in
# tests/fuzz/corpus/<name>/.  Prints and appends "PASS|FAIL fuzz/<name>
# detail" lines to RESULTS.  Crash inputs are kept in build/fuzz/<name>/.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
results=
total=45
while getopts r:t: o; do
	case $o in
	r) results=$OPTARG ;;
	t) total=$OPTARG ;;
	*) echo "usage: $0 [-r RESULTS] [-t SECONDS]" >&2; exit 2 ;;
	esac
done
rc=0
result() {
	printf '%-4s %s %s\n' "$1" "$2" "${3:+($3)}"
	[ -n "$results" ] && echo "$1 $2 ${3:-}" >> "$results"
	[ "$1" = PASS ] || rc=1
}

# name: sources (beside the target)
declare -A targets=(
	[api_request]="tests/fuzz/api_request_fuzz.cpp manager/api/request.cpp manager/config/config.cpp
		manager/log/log.cpp manager/common/size.cpp manager/common/status.cpp manager/common/json_depth.cpp"
	[bus_message]="tests/fuzz/bus_message_fuzz.cpp manager/bus/message.cpp manager/config/config.cpp
		manager/log/log.cpp manager/common/size.cpp manager/common/status.cpp manager/common/json_depth.cpp"
	[plugin_request]="tests/fuzz/plugin_request_fuzz.cpp manager/plugin/http.cpp
		manager/plugin/volume_driver.cpp manager/log/log.cpp manager/common/size.cpp
		manager/common/status.cpp manager/common/json_depth.cpp"
	[cluster_records]="tests/fuzz/cluster_records_fuzz.cpp manager/cluster/records.cpp
		manager/config/config.cpp manager/log/log.cpp manager/common/size.cpp
		manager/common/status.cpp manager/common/uuid.cpp manager/common/json_depth.cpp"
)
per=$((total / ${#targets[@]}))

# build NAME: the target's binary, rebuilt only when a source or a header
# under manager/ is newer; "$out/build.failed" says it could not be.
build() {
	local name=$1 out=$root/build/fuzz/$1
	local bin=$out/${name}_fuzz
	mkdir -p "$out/corpus"
	rm -f "$out/build.failed"
	# shellcheck disable=SC2086
	if [ -x "$bin" ] && [ -z "$(find ${targets[$name]} manager -name '*.h' -newer "$bin" 2>/dev/null;
		find ${targets[$name]} -newer "$bin")" ]; then
		return 0
	fi
	# shellcheck disable=SC2086
	clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I. -DKEEL_VERSION='"fuzz"' \
		${targets[$name]} -o "$bin" > "$out/build.log" 2>&1 || touch "$out/build.failed"
}
# The builds side by side (one compiler each, every core busy), then the
# runs one after the other, each for its share of the time.
for name in "${!targets[@]}"; do build "$name" & done
wait
for name in "${!targets[@]}"; do
	out=$root/build/fuzz/$name
	bin=$out/${name}_fuzz
	if [ -e "$out/build.failed" ]; then
		result FAIL "fuzz/$name" "build failed: $(grep -m1 error "$out/build.log")"
		continue
	fi
	cp -n tests/fuzz/corpus/$name/* "$out/corpus/" 2>/dev/null
	(cd "$out" && "$bin" -max_total_time="$per" -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 corpus > run.log 2>&1)
	st=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/run.log")
	if [ "$st" = 0 ]; then
		result PASS "fuzz/$name" "${runs:-?} inputs in ${per}s"
	else
		grep -m3 -E 'ERROR|SUMMARY|deadly' "$out/run.log"
		result FAIL "fuzz/$name" "exit $st, see build/fuzz/$name/run.log and crash-* there"
	fi
done
exit $rc
