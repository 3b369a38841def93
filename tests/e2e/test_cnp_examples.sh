#!/usr/bin/env bash
# SPEC §13 with the repository's examples: policies/ (the seed's tenants)
# plus policies/cluster/ (their isolation as Admin-tier ClusterNetworkPolicies,
# DNS for everyone, and a tenant NetworkPolicy that tries to open itself to
# everyone). Verdicts come from `check`, which reads the tables the datapath
# uses (the packets themselves: test_cnp_conformance.sh, tests/bpf). Also:
# delete --cluster, apply --prune, status, and bad input that changes nothing.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init
T=$NF_PREFIX-cnp
trap 'rm -rf "$T".d "$T".err; nf_cleanup' EXIT
mkdir -p "$T.d"

A=10.244.1.5 B=10.244.2.5 DNS=10.96.0.10 WORLD=192.0.2.1
verdict() {	# TENANT DIR PEER PROTO PORT: the verdict line
	"$NF" check --tenant "$1" --direction "$2" --peer "$3" --proto "$4" --port "$5" | tail -1
}
expect() {	# WHAT EXPECTED-PREFIX TENANT DIR PEER PROTO PORT
	local what=$1 want=$2 got
	shift 2
	got=$(verdict "$@")
	[[ $got == "$want"* ]] && ok "$what: $got" || fail "$what: expected '$want...', got '$got'"
}

"$NF" apply policies/ policies/cluster >/dev/null || fail "apply policies/ policies/cluster"

expect "DNS for all (Admin Accept, before any isolation)" \
	'allow: ClusterNetworkPolicy dns-for-all (Admin tier, priority 5), spec.egress[0] "cluster-dns" (Accept)' \
	tenant-b egress $DNS udp 53
expect "tenant-a may not reach tenant-b (its egress)" \
	'deny: ClusterNetworkPolicy isolate-tenant-a (Admin tier, priority 10), spec.egress[0] "no-other-tenant" (Deny)' \
	tenant-a egress $B tcp 9000
expect "tenant-b's own NetworkPolicy allowing tenant-a on 9000 cannot widen it" \
	'deny: ClusterNetworkPolicy isolate-tenant-b (Admin tier, priority 10), spec.ingress[0] "no-other-tenant" (Deny)' \
	tenant-b ingress $A tcp 9000
expect "the world is no tenant: tenant-b's open-9000 decides" \
	'allow: policy tenant-b/open-9000, spec.ingress[0]' tenant-b ingress $WORLD tcp 9000
expect "within tenant-b its NetworkPolicies decide" \
	'allow: policy tenant-b/serve-api, spec.ingress[0]' tenant-b ingress 10.244.2.9 tcp 8050
expect "what no rule allows stays denied" 'deny: no rule of tenant tenant-b' \
	tenant-b ingress $WORLD tcp 22

out=$("$NF" status)
grep -q '^ClusterNetworkPolicy *isolate-tenant-a$' <<<"$out" &&
	ok "status lists the cluster policies" || fail "status: $out"

# bad input (priority 1001) changes nothing
jq '.items[1].spec.priority = 1001' policies/cluster/isolation.json >"$T.d/bad.json"
"$NF" apply "$T.d/bad.json" >/dev/null 2>"$T.err"
rc=$?
[ $rc -eq 2 ] && grep -q 'spec.priority' "$T.err" && ok "priority 1001: exit 2, $(head -1 "$T.err")" ||
	fail "priority 1001: exit $rc, $(cat "$T.err")"
expect "after the refused apply, tenant-a still may not reach tenant-b" 'deny: ClusterNetworkPolicy isolate-tenant-a' \
	tenant-a egress $B tcp 9000

"$NF" delete --cluster cnp/isolate-tenant-b >/dev/null || fail "delete --cluster cnp/isolate-tenant-b"
expect "without isolate-tenant-b, tenant-b's NetworkPolicy lets tenant-a in on 9000" \
	'allow: policy tenant-b/' tenant-b ingress $A tcp 9000
expect "tenant-a's own isolation still holds its egress" 'deny: ClusterNetworkPolicy isolate-tenant-a' \
	tenant-a egress $B tcp 9000
"$NF" delete --cluster cnp/isolate-tenant-b >/dev/null 2>"$T.err"
rc=$?
[ $rc -eq 1 ] && grep -q 'nothing to delete: no ClusterNetworkPolicy isolate-tenant-b' "$T.err" &&
	ok "deleting it again: exit 1, $(cat "$T.err")" || fail "delete again: exit $rc, $(cat "$T.err")"

# Baseline: a default tenants may refine (without the Admin isolation of tenant-a)
"$NF" delete --cluster ClusterNetworkPolicy/isolate-tenant-a >/dev/null ||
	fail "delete --cluster ClusterNetworkPolicy/isolate-tenant-a"
cat >"$T.d/base.json" <<'JSON'
{"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
 "metadata": {"name": "monitoring"}, "spec": {"tier": "Baseline", "priority": 1,
 "subject": {"namespaces": {}}, "ingress": [{"name": "scrape", "action": "Accept",
 "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "tenant-b"}}}],
 "protocols": [{"tcp": {"destinationPort": {"number": 9100}}}]}]}}
JSON
"$NF" apply "$T.d/base.json" >/dev/null || fail "apply the Baseline policy"
expect "tenant-a selects no ingress NetworkPolicy: Baseline decides" \
	'allow: ClusterNetworkPolicy monitoring (Baseline tier, priority 1), spec.ingress[0] "scrape" (Accept)' \
	tenant-a ingress $B tcp 9100
expect "tenant-b has ingress NetworkPolicies: they decide, Baseline is not consulted" \
	'deny: no rule of tenant tenant-b' tenant-b ingress 10.244.2.9 tcp 9100

# Peers that get an id, or labels, after the cluster policy was applied: every
# tenant it is compiled into follows (tenant-b's open-9000 lets the world in).
cat >"$T.d/late.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
  "metadata": {"name": "no-prod"}, "spec": {"tier": "Admin", "priority": 3,
  "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "tenant-b"}}},
  "ingress": [{"name": "prod", "action": "Deny", "from": [{"namespaces": {"matchLabels": {"env": "prod"}}}]},
              {"name": "d", "action": "Deny", "from": [{"namespaces": {"matchLabels":
                {"kubernetes.io/metadata.name": "tenant-d"}}}]}]}}]}
JSON
cat >"$T.d/c.json" <<'JSON'
{"apiVersion": "netfence.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "tenant-c"},
 "spec": {"cidrs": ["10.244.3.0/24"]}}
JSON
cat >"$T.d/c-ns.json" <<'JSON'
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tenant-c", "labels": {"env": "prod"}}}
JSON
cat >"$T.d/d.json" <<'JSON'
{"apiVersion": "netfence.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "tenant-d"},
 "spec": {"cidrs": ["10.244.4.0/24"]}}
JSON
"$NF" apply "$T.d/late.json" >/dev/null || fail "apply no-prod"
expect "tenant-d has no id yet: its address is the world's" 'allow: policy tenant-b/open-9000' 	tenant-b ingress 10.244.4.5 tcp 9000
"$NF" apply "$T.d/d.json" >/dev/null || fail "apply Tenant tenant-d"
expect "tenant-d got its id: the Deny naming it holds in tenant-b" 	'deny: ClusterNetworkPolicy no-prod (Admin tier, priority 3), spec.ingress[1] "d" (Deny)' 	tenant-b ingress 10.244.4.5 tcp 9000
"$NF" apply "$T.d/c.json" >/dev/null || fail "apply Tenant tenant-c"
expect "tenant-c without env=prod" 'allow: policy tenant-b/open-9000' tenant-b ingress 10.244.3.5 tcp 9000
"$NF" apply "$T.d/c-ns.json" >/dev/null || fail "apply Namespace tenant-c"
expect "tenant-c's Namespace gets env=prod: denied" 	'deny: ClusterNetworkPolicy no-prod (Admin tier, priority 3), spec.ingress[0] "prod" (Deny)' 	tenant-b ingress 10.244.3.5 tcp 9000

"$NF" apply --prune policies/ >/dev/null || fail "apply --prune policies/"
out=$("$NF" status --json | jq -c .cluster)
[ "$out" = "[]" ] && ok "apply --prune without cluster policies removes them" || fail "cluster: $out"
expect "pruned: tenant-a reaches tenant-b's 9000 as the seed's policies say" \
	'allow: policy tenant-b/serve-api, spec.ingress[1]' tenant-b ingress $A tcp 9000
nf_done
