#!/usr/bin/env bash
# Run netfence's tests: cmocka unit tests, BPF_PROG_TEST_RUN verdict tables,
# end-to-end scripts (tests/e2e/*.sh) and a bounded fuzz run.
# Usage: tests/run.sh [all|unit|bpf|e2e|fuzz] [filter]
# Prints "N passed, N failed" last and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-build}
what=${1:-all}
filter=${2:-}
passed=0
failed=0
failed_names=()

run_one() {
	local name=$1; shift
	[ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return 0
	echo "=== $name"
	local start=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "--- PASS $name ($((SECONDS - start))s)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "--- FAIL $name ($((SECONDS - start))s)"
	fi
}

if [[ $what == all || $what == unit ]]; then
	for t in "$OUT"/tests/unit/test_*; do
		[ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
	done
fi
if [[ $what == all || $what == bpf ]]; then
	for t in "$OUT"/tests/bpf/test_*; do
		[ -x "$t" ] && run_one "bpf/$(basename "$t")" "$t"
	done
fi
if [[ $what == all || $what == e2e ]]; then
	for t in tests/e2e/test_*.sh; do
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
if [ ${#failed_names[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failed_names[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
