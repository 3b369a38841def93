#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# `make demo` works: scripts/demo.sh checks every connection against the policy
# itself and exits non-zero on any difference; here we also check that it
# leaves nothing behind (namespaces, state file, work directory).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib/common.sh
nf_require_private	# the demo resets netfence when it finds none of its own

[ "$(id -u)" -eq 0 ] || nf_skip "the demo needs root"
before=$(ls -d /tmp/nfdemo.* 2>/dev/null | sort)
NO_COLOR=1 scripts/demo.sh </dev/null
rc=$?
fails=0
if [ "$rc" -ne 0 ]; then
	echo "FAIL: scripts/demo.sh exited $rc"
	fails=1
fi
left=$(ip netns list | awk '{print $1}' | grep '^nfdemo-' || true)
if [ -n "$left" ]; then
	echo "FAIL: namespaces left behind: $left"
	fails=1
fi
if [ -e /run/netfence-demo.state ]; then
	echo "FAIL: /run/netfence-demo.state left behind"
	fails=1
fi
# A demo server whose work directory is gone was leaked by a finished run.
leaked=""
for pid in $(pgrep -f '/tmp/nfdemo[.][A-Za-z0-9]+/server.py'); do
	d=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -o '/tmp/nfdemo[.][A-Za-z0-9]*' | head -n 1)
	[ -n "$d" ] && [ ! -d "$d" ] && leaked="$leaked $pid"
done
if [ -n "$leaked" ]; then
	echo "FAIL: demo servers left running:$leaked"
	fails=1
fi
after=$(ls -d /tmp/nfdemo.* 2>/dev/null | sort)
new=$(comm -13 <(echo "$before") <(echo "$after"))
if [ -n "$new" ]; then
	echo "FAIL: work directory left behind: $new"
	fails=1
fi

# The demo really checks: with a tenant-a policy that allows all egress, the
# rows that expect "blocked" must fail and the demo must exit 1.
wrong=$(mktemp -d /tmp/nftdemo-policy.XXXXXX)
jq '.spec.egress += [{}]' policies/tenant-a.json >"$wrong/tenant-a.json"
out=$(NO_COLOR=1 NFDEMO_POLICY_DIR="$wrong" scripts/demo.sh </dev/null 2>&1)
rc=$?
rm -rf "$wrong"
if [ "$rc" -ne 1 ] || ! grep -q '✗ pod-a -> storage 192.168.1.10 (ssh)' <<<"$out"; then
	echo "FAIL: with an allow-all tenant-a policy the demo exited $rc:"
	echo "$out" | tail -n 30
	fails=1
else
	echo "ok: the demo flags an allow-all tenant-a policy and exits 1"
fi
exit "$fails"
