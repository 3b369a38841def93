# Sourced by every e2e test (through net.sh, check.sh, cni.sh, or directly):
# the skip convention and the guard that keeps tests off the node's netfence.
#
# Skips (tests/run.sh counts them apart from passes and failures):
#   nf_skip REASON       the whole test cannot run here: prints "SKIP: REASON",
#                        exits 77 (automake's "skipped"). run.sh prints
#                        "--- SKIP name (REASON)"; an exit 77 without a reason
#                        recorded this way is a failure.
#   nf_skip_part REASON  one part of the test cannot run, the rest does: prints
#                        "SKIP PART: REASON" and carries on; run.sh names the
#                        skipped parts next to the test's PASS or FAIL.
# Reasons go to $NF_SKIP_FILE (set by run.sh) as "skip: R" / "part: R" lines.
#
# The guard: tests/e2e/lib/private.sh mounts a private bpffs, /run/netfence and
# /var/lib/cni in a private mount namespace, then exports NF_TEST_PRIVATE_NS
# (that namespace's id). nf_require_private fails unless this process is in
# that very namespace; the libraries call it when sourced, nf_reset calls it
# again before every `netfence reset`.

NF_SKIP_EXIT=77

nf_skip() {
	echo "SKIP: $*"
	[ -n "${NF_SKIP_FILE:-}" ] && echo "skip: $*" >>"$NF_SKIP_FILE"
	exit "$NF_SKIP_EXIT"
}

nf_skip_part() {
	echo "SKIP PART: $*"
	[ -n "${NF_SKIP_FILE:-}" ] && echo "part: $*" >>"$NF_SKIP_FILE"
	return 0
}

# True when this process runs in the private mount namespace private.sh made.
nf_in_private() {
	local me
	me=$(readlink /proc/self/ns/mnt) || return 1
	[ -n "${NF_TEST_PRIVATE_NS:-}" ] && [ "$me" = "$NF_TEST_PRIVATE_NS" ] &&
		[ "$me" != "$(readlink /proc/1/ns/mnt 2>/dev/null)" ]
}

# nf_require_private: exit 1, loudly, outside private.sh's namespace.
nf_require_private() {
	nf_in_private && return 0
	echo "FATAL: ${0##*/}: not in a private mount namespace of tests/e2e/lib/private.sh;" \
		"refusing to touch netfence state (it could be this node's real one)." \
		"Run it with tests/run.sh e2e NAME." >&2
	exit 1
}

# nf_reset NETFENCE: `NETFENCE reset`, output and status ignored (cleanup:
# nothing may be left), only in the private namespace; elsewhere prints why
# on stderr and returns 1 without running it (callers fail the test then).
nf_reset() {
	if ! nf_in_private; then
		echo "FATAL: ${0##*/}: refusing \`netfence reset\` outside a private mount namespace" >&2
		return 1
	fi
	"$1" reset >/dev/null 2>&1
	return 0
}
