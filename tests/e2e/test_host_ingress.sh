#!/usr/bin/env bash
# SPEC §3.8: ingress from the node's own addresses is allowed by default and
# configurable: NETFENCE_ALLOW_HOST_INGRESS=0|1 in the environment of a
# state-changing command sets it (a bad value is bad input: exit 2). Verdicts come from `check`, which reads
# the tables the datapath uses (the datapath side of the flag is covered by
# test_verdict's node_ingress table).
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init
T=$NF_PREFIX-hi
trap 'rm -f "$T".json "$T".err; nf_cleanup' EXIT

cat > "$T.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"none","namespace":"hostin"},
 "spec":{"podSelector":{},"policyTypes":["Ingress"],"ingress":[]}}
JSON
verdict() { "$NF" check --tenant hostin --direction ingress --peer 127.0.0.1 --port 10250 | tail -1; }

"$NF" apply "$T.json" >/dev/null || fail "apply"
[[ $(verdict) == "allow: ingress from the node's own addresses"* ]] && ok "default: the node may connect" ||
	fail "default: $(verdict)"
NETFENCE_ALLOW_HOST_INGRESS=0 "$NF" apply "$T.json" >/dev/null || fail "apply with 0"
[[ $(verdict) == deny* ]] && ok "NETFENCE_ALLOW_HOST_INGRESS=0: denied like any peer" ||
	fail "with 0: $(verdict)"
"$NF" apply "$T.json" >/dev/null || fail "apply without the variable"
[[ $(verdict) == deny* ]] && ok "unset leaves the node-wide setting as it is" || fail "unset: $(verdict)"
NETFENCE_ALLOW_HOST_INGRESS=yes "$NF" apply "$T.json" >/dev/null 2>"$T.err"
rc=$?
[ $rc -eq 2 ] && grep -q 'NETFENCE_ALLOW_HOST_INGRESS="yes": must be 0 or 1' "$T.err" &&
	ok "a bad value is refused: $(cat "$T.err")" || fail "bad value: exit $rc, $(cat "$T.err")"
NETFENCE_ALLOW_HOST_INGRESS=1 "$NF" apply "$T.json" >/dev/null || fail "apply with 1"
[[ $(verdict) == "allow: ingress from the node's own addresses"* ]] && ok "=1: allowed again" ||
	fail "with 1: $(verdict)"

# SPEC §3.13: NETFENCE_CT_TENANT_MAX=N (1..262144) is each tenant's share of
# the connection table (its effect: tests/e2e/test_hostile.sh); bad values are
# bad input and change nothing.
for bad in 0 262145 abc -1 12x; do
	NETFENCE_CT_TENANT_MAX=$bad "$NF" apply "$T.json" >/dev/null 2>"$T.err"
	rc=$?
	[ $rc -eq 2 ] && grep -q "NETFENCE_CT_TENANT_MAX=\"$bad\": must be a number from 1 to 262144" "$T.err" &&
		ok "NETFENCE_CT_TENANT_MAX=$bad refused" || fail "NETFENCE_CT_TENANT_MAX=$bad: exit $rc, $(cat "$T.err")"
done
NETFENCE_CT_TENANT_MAX=1000 "$NF" apply "$T.json" >/dev/null || fail "apply with NETFENCE_CT_TENANT_MAX=1000"
nf_done
