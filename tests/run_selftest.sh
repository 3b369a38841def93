#!/usr/bin/env bash
# Self-test of tests/run.sh (run by `tests/run.sh selftest` and `all`): feed it
# scripts and cmocka binaries that pass, fail, skip, skip a part, or exit 77
# without a reason, and check each verdict line, the "N passed, N failed,
# N skipped" summary and the exit code. Also checks the private-namespace
# guard of tests/e2e/lib/common.sh from inside run.sh's private namespace.
set -uo pipefail
cd "$(dirname "$0")/.."
fails=0
T=$(mktemp -d /tmp/nfrunself.XXXXXX)
trap 'rm -rf "$T"' EXIT

fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "  ok: $*"; }

# run_case DESC WANT_RC(a number|nonzero) WANT_SUMMARY [LINE...] -- ARGS...:
# run.sh ARGS must end with WANT_SUMMARY as its last line, print every LINE
# (exactly, a whole line), and exit as WANT_RC says.
run_case() {
	local desc=$1 want_rc=$2 want_sum=$3 out rc l
	shift 3
	local lines=()
	while [ "$1" != -- ]; do lines+=("$1"); shift; done
	shift
	out=$(env "${ENVS[@]}" tests/run.sh "$@" 2>&1)
	rc=$?
	local bad=0
	[ "$(tail -n1 <<<"$out")" = "$want_sum" ] || { fail "$desc: summary '$(tail -n1 <<<"$out")', want '$want_sum'"; bad=1; }
	if [ "$want_rc" = nonzero ]; then
		[ "$rc" -ne 0 ] || { fail "$desc: exit 0, want non-zero"; bad=1; }
	else
		[ "$rc" -eq "$want_rc" ] || { fail "$desc: exit $rc, want $want_rc"; bad=1; }
	fi
	for l in "${lines[@]}"; do
		# the time in "(3s" varies: compare with it blanked
		grep -qxF -- "$l" <<<"$(sed -E 's/\(([0-9]+)s/(Ns/' <<<"$out")" ||
			{ fail "$desc: no line '$l'"; bad=1; }
	done
	if [ "$bad" -eq 0 ]; then
		ok "$desc"
	else
		sed 's/^/    | /' <<<"$out"
	fi
}

# --- e2e scripts, run by run.sh as it runs the real ones (private.sh)
mkdir -p "$T/e2e"
echo 'echo fine' >"$T/e2e/test_pass.sh"
echo 'echo "broken"; exit 1' >"$T/e2e/test_fail.sh"
echo '. tests/e2e/lib/common.sh; nf_skip "no frobnicator here"; echo "not reached"' >"$T/e2e/test_skip.sh"
echo 'echo "exit 77 by accident"; exit 77' >"$T/e2e/test_bare77.sh"
echo '. tests/e2e/lib/common.sh; nf_skip_part "step two: no widget"; echo "step one ok"' >"$T/e2e/test_part.sh"
cat >"$T/e2e/test_guard.sh" <<'G'
. tests/e2e/lib/common.sh
nf_require_private || exit 1
# another mount namespace (marker inherited), and no marker: both refused, loudly
out=$(unshare --mount --propagation private bash -c '. tests/e2e/lib/common.sh; nf_require_private; echo ran' 2>&1)
[ $? -eq 1 ] && grep -q "^FATAL: .*not in a private mount namespace" <<<"$out" && ! grep -q ran <<<"$out" || exit 1
out=$(env -u NF_TEST_PRIVATE_NS bash -c '. tests/e2e/lib/common.sh; nf_reset /bin/false; echo "rc=$?"' 2>&1)
grep -q "^FATAL: .*refusing .netfence reset. outside" <<<"$out" && grep -qx "rc=1" <<<"$out" || exit 1
echo "guard ok"
G

ENVS=(NF_E2E_DIR="$T/e2e")
run_case "e2e: pass, fail, skip, part, bare 77, guard" nonzero "3 passed, 2 failed, 1 skipped" \
	"--- PASS e2e/test_pass (Ns)" \
	"--- FAIL e2e/test_fail (Ns)" \
	"--- SKIP e2e/test_skip (no frobnicator here)" \
	"--- FAIL e2e/test_bare77 (Ns; exit 77 without a SKIP reason)" \
	"--- PASS e2e/test_part (Ns; skipped parts: step two: no widget)" \
	"SKIP PART: step two: no widget" \
	"--- PASS e2e/test_guard (Ns)" \
	"skipped: e2e/test_skip (no frobnicator here)" \
	"partly skipped: e2e/test_part (step two: no widget)" \
	-- e2e
run_case "e2e: filters pass + skip: a skip does not fail the run" 0 "1 passed, 0 failed, 1 skipped" \
	"--- PASS e2e/test_pass (Ns)" "--- SKIP e2e/test_skip (no frobnicator here)" -- e2e test_pass test_skip
run_case "e2e: only a skip: exit 0" 0 "0 passed, 0 failed, 1 skipped" -- e2e test_skip
run_case "e2e: nothing selected: exit non-zero" nonzero "0 passed, 0 failed, 0 skipped" -- e2e no_such_test

# --- cmocka binaries: cases skipped with skip()
mkdir -p "$T/out/tests/unit"
cat >"$T/cm.c" <<'C'
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
static void t_pass(void **s) { (void)s; assert_true(1); }
static void t_skip(void **s) { (void)s; skip(); }
static void t_fail(void **s) { (void)s; assert_true(0); }
int main(void)
{
	const struct CMUnitTest all_skip[] = { cmocka_unit_test(t_skip) };
	const struct CMUnitTest some[] = { cmocka_unit_test(t_pass), cmocka_unit_test(t_skip) };
	const struct CMUnitTest failing[] = { cmocka_unit_test(t_fail), cmocka_unit_test(t_skip) };
#if MODE == 0
	return cmocka_run_group_tests(all_skip, NULL, NULL);
#elif MODE == 1
	return cmocka_run_group_tests(some, NULL, NULL);
#else
	return cmocka_run_group_tests(failing, NULL, NULL);
#endif
}
C
m=0
for n in allskip some failing; do
	${CC:-cc} -DMODE=$m -o "$T/out/tests/unit/test_cm_$n" "$T/cm.c" -lcmocka ||
		{ fail "cannot build a cmocka test (libcmocka-dev)"; exit 1; }
	m=$((m + 1))
done
ENVS=(OUTPUT="$T/out")
run_case "unit: cmocka all skipped, some skipped, failing" nonzero "1 passed, 1 failed, 1 skipped" \
	"--- SKIP unit/test_cm_allskip (all 1 cmocka test(s) skipped: t_skip)" \
	"--- PASS unit/test_cm_some (Ns; skipped parts: 1 cmocka test(s) skipped: t_skip)" \
	"--- FAIL unit/test_cm_failing (Ns; skipped parts: 1 cmocka test(s) skipped: t_skip)" \
	-- unit
ENVS=(X=1)
run_case "bad mode: exit 2" 2 "usage: tests/run.sh [all|unit|bpf|e2e|fuzz|selftest] [filter...]" -- nosuchmode

[ "$fails" -eq 0 ] && echo "run.sh self-test: all checks passed" || echo "run.sh self-test: $fails check(s) failed"
[ "$fails" -eq 0 ]
