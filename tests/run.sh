#!/usr/bin/env bash
# Run netfence's tests: cmocka unit tests, BPF_PROG_TEST_RUN verdict tables,
# end-to-end scripts (tests/e2e/*.sh), a bounded fuzz run, and this runner's
# own self-test (tests/run_selftest.sh).
# Usage: tests/run.sh [all|unit|bpf|e2e|fuzz|selftest] [filter...]
#   a test runs when its name (e.g. e2e/test_datapath) contains any filter.
# Prints "N passed, N failed, N skipped" last; exits non-zero on any failure,
# or when nothing passed or skipped. Skips don't fail the run.
#
# Skips: an e2e script that cannot run here calls nf_skip (tests/e2e/lib/
# common.sh): "SKIP: reason", exit 77, the reason in $NF_SKIP_FILE; run.sh
# prints "--- SKIP name (reason)". Exit 77 without a recorded reason is a
# failure. A part that cannot run (nf_skip_part) is named next to the test's
# PASS/FAIL. cmocka binaries: cases skipped with skip() are read from cmocka's
# summary; all cases skipped = the binary is skipped, some = partly skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-build}
E2E_DIR=${NF_E2E_DIR:-tests/e2e}	# run_selftest.sh points it at its own scripts
SKIP_EXIT=77
what=${1:-all}
shift
filters=("$@")
passed=0
failed=0
skipped=0
failed_names=()
skipped_names=()
partly_names=()
tmp=$(mktemp -d /tmp/nfrun.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

selected() {
	local f
	[ ${#filters[@]} -eq 0 ] && return 0
	for f in "${filters[@]}"; do
		[[ "$1" == *"$f"* ]] && return 0
	done
	return 1
}

# reasons KIND FILE: the reasons of one kind ("skip" or "part"), joined by "; "
reasons() {
	awk -v k="$1: " 'index($0, k) == 1 { r = r (r == "" ? "" : "; ") substr($0, length(k) + 1) }
		END { print r }' "$2"
}

run_one() {
	local name=$1 rc why parts start=$SECONDS
	shift
	selected "$name" || return 0
	echo "=== $name"
	export NF_SKIP_FILE=$tmp/skip
	: >"$NF_SKIP_FILE"
	"$@"
	rc=$?
	why=$(reasons skip "$NF_SKIP_FILE")
	parts=$(reasons part "$NF_SKIP_FILE")
	unset NF_SKIP_FILE
	if [ -n "$parts" ]; then
		partly_names+=("$name ($parts)")
		parts="; skipped parts: $parts"
	fi
	if [ "$rc" -eq "$SKIP_EXIT" ] && [ -n "$why" ]; then
		skipped=$((skipped + 1))
		skipped_names+=("$name ($why)")
		echo "--- SKIP $name ($why)"
	elif [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "--- PASS $name ($((SECONDS - start))s$parts)"
	else
		[ "$rc" -eq "$SKIP_EXIT" ] && parts="$parts; exit $SKIP_EXIT without a SKIP reason"
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "--- FAIL $name ($((SECONDS - start))s$parts)"
	fi
}

# cmocka BINARY: run a cmocka test binary, turn the cases it skipped into
# skip reasons (all skipped: exit 77; some: skipped parts).
cmocka() {
	local log=$tmp/cmocka.log rc npass nskip names
	"$1" >"$log" 2>&1
	rc=$?
	cat "$log"
	# summed over the binary's groups: "[  PASSED  ] 4 test(s)."
	npass=$(awk '/^\[  PASSED  \] [0-9]+ test/ { n += $4 } END { print n + 0 }' "$log")
	nskip=$(awk '/^\[  SKIPPED \] [0-9]+ test\(s\), listed below/ { n += $4 } END { print n + 0 }' "$log")
	names=$(awk '/^\[  SKIPPED \] [^ ]+$/ && !seen[$4]++ { printf "%s%s", (n++ ? " " : ""), $4 }' "$log")
	if [ "$nskip" -gt 0 ]; then
		if [ "$rc" -eq 0 ] && [ "$npass" -eq 0 ]; then
			echo "skip: all $nskip cmocka test(s) skipped: $names" >>"$NF_SKIP_FILE"
			return "$SKIP_EXIT"
		fi
		echo "part: $nskip cmocka test(s) skipped: $names" >>"$NF_SKIP_FILE"
	fi
	return "$rc"
}

case $what in
all | unit | bpf | e2e | fuzz | selftest) ;;
*)
	echo "usage: tests/run.sh [all|unit|bpf|e2e|fuzz|selftest] [filter...]" >&2
	exit 2
	;;
esac

if [[ $what == all || $what == selftest ]]; then
	run_one "selftest/run.sh" tests/run_selftest.sh
fi
if [[ $what == all || $what == unit ]]; then
	for t in "$OUT"/tests/unit/test_*; do
		[ -x "$t" ] && run_one "unit/$(basename "$t")" cmocka "$t"
	done
fi
if [[ $what == all || $what == bpf ]]; then
	for t in "$OUT"/tests/bpf/test_*; do
		[ -x "$t" ] && run_one "bpf/$(basename "$t")" cmocka "$t"
	done
fi
if [[ $what == all || $what == e2e ]]; then
	for t in "$E2E_DIR"/test_*.sh; do
		# each in a private mount namespace: never the node's netfence state
		[ -f "$t" ] && run_one "e2e/$(basename "$t" .sh)" \
			unshare --mount --propagation private tests/e2e/lib/private.sh bash "$t"
	done
fi
if [[ $what == all || $what == fuzz ]]; then
	if [ -x "$OUT/fuzz/fuzz_policy" ]; then
		mkdir -p "$OUT/fuzz/corpus"
		run_one "fuzz/fuzz_policy" "$OUT/fuzz/fuzz_policy" -max_total_time="${FUZZ_SECONDS:-60}" \
			-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/fuzz/" \
			"$OUT/fuzz/corpus" tests/fuzz/corpus
	fi
fi

echo
[ ${#skipped_names[@]} -gt 0 ] && printf 'skipped: %s\n' "${skipped_names[@]}"
[ ${#partly_names[@]} -gt 0 ] && printf 'partly skipped: %s\n' "${partly_names[@]}"
[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
