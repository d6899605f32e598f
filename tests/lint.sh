#!/bin/bash
# tests/lint.sh [-r RESULTS]: style checks.
#   checkpatch: the kernel's scripts/checkpatch.pl (from Debian's
#               linux-source-6.1 tarball) on kmod/ and include/uapi/
#   clang-format: the C++ of manager/ and cli/ is formatted (.clang-format)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
results=
[ "${1:-}" = -r ] && results=$2
rc=0
result() {
	printf '%-4s %s %s\n' "$1" "$2" "${3:+($3)}"
	[ -n "$results" ] && echo "$1 $2 ${3:-}" >> "$results"
	[ "$1" = PASS ] || rc=1
}

cp_dir=$root/build/checkpatch
if [ ! -x "$cp_dir/scripts/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1)
	if [ -z "$tarball" ]; then
		result FAIL lint/checkpatch "no /usr/src/linux-source-*.tar.xz: run make deps"
	else
		mkdir -p "$cp_dir"
		top=$(basename "$tarball" .tar.xz)
		tar -xJf "$tarball" -C "$cp_dir" --strip-components=1 \
			"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
			"$top/scripts/const_structs.checkpatch"
	fi
fi
if [ -x "$cp_dir/scripts/checkpatch.pl" ]; then
	files=$(ls kmod/*.c kmod/*.h kmod/compat/probes/*.c include/uapi/linux/*.h | grep -v keel_compat_probes.h)
	# shellcheck disable=SC2086
	out=$("$cp_dir/scripts/checkpatch.pl" --no-tree --quiet --show-types \
		--ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES,LINUX_VERSION_CODE -f $files 2>&1)
	if [ -z "$out" ]; then
		result PASS lint/checkpatch "$(echo $files | wc -w) files"
	else
		echo "$out"
		result FAIL lint/checkpatch "$(echo "$out" | grep -cE '^(WARNING|ERROR|CHECK)') findings"
	fi
fi

cxx=$(find manager cli tests/tools kmod -name '*.cpp' -o -name '*.h' | grep -v '^kmod/.*\.h$' | sort)
# shellcheck disable=SC2086
if out=$(clang-format --dry-run -Werror $cxx 2>&1); then
	result PASS lint/clang-format "$(echo $cxx | wc -w) files"
else
	echo "$out" | head -30
	result FAIL lint/clang-format "run: clang-format -i on the files above"
fi
exit $rc
