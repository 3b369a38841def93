#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Labels, pods and named ports (SPEC §11, issue 15), the way the upstream
# Kubernetes NetworkPolicy e2e suite tests them (test/e2e/network/netpol):
# namespaces x, y, z (tenants, labelled ns=x|y|z) times pods a, b, c
# (labelled pod=a|b|c), each pod a network namespace wired by the real CNI
# bridge plugin + host-local IPAM + netfence-cni (CNI_ARGS
# K8S_POD_NAMESPACE=x;K8S_POD_NAME=a), described to netfence by v1 Pod and
# Namespace documents (labels, status.podIPs, named container ports) and then
# fenced by NetworkPolicies. Every case measures the whole 9x9 reachability
# matrix with real traffic on TCP 80, TCP 81 and UDP 80
# (tests/e2e/lib/netpol_matrix.py) and compares it to the expected one
# (printed as a table on mismatch).
#
# netfence's semantics differ from Kubernetes' in one point (SPEC §11): an
# endpoint selected by no policy for a direction is default deny there, where
# Kubernetes would leave it open. Where an upstream case expects "pods no
# policy selects are open", this test gives each tenant an explicit "open"
# policy (ingress [{}] / egress [{}]) whose podSelector selects exactly those
# pods (e.g. pod NotIn [a]), so the expectations are upstream's and the
# emulation itself exercises selectors on the policy's subject.
# Pod-to-itself traffic goes through the pod's loopback, never through the
# fenced interface: always reachable (upstream's AllowLoopback).
#
# Also: label, namespace-label and pod deletion changes grant and revoke
# (established connections included), `check --pod NS/NAME` names the policy
# and rule, `status` shows identities, /metrics has netfence_identities.
# Every case runs even when an earlier one failed; a summary lists them.
# The harness (pods, documents, matrix, cases) is tests/e2e/lib/netpol_harness.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
ALL_PODS=(x/a x/b x/c y/a y/b y/c z/a z/b z/c)
ALL_PORTS=(tcp/80 tcp/81 udp/80)
ECHO_PORT=8000	# TCP echo in every pod, for long-lived connections
SERVE=(tcp:80 tcp:81 udp:80 echo:$ECHO_PORT)
. tests/e2e/lib/cni.sh
. tests/e2e/lib/netpol_harness.sh

# Pods are labelled pod=NAME, namespaces ns=NAME. Containers and named ports
# as upstream's model: serve-80-tcp, serve-81-tcp, serve-80-udp; and
# serve-alt, a TCP port whose number differs per pod: 81 on x/b, none on z/c,
# 80 on the others (egress named ports resolve per destination pod).
pod_labels() { echo "{\"pod\": \"$2\"}"; }
ns_labels() { echo "{\"ns\": \"$1\"}"; }
pod_ports() {
	local alt='["serve-alt", 80, "TCP"]'
	[ "$1/$2" = x/b ] && alt='["serve-alt", 81, "TCP"]'
	[ "$1/$2" = z/c ] && alt=
	echo "[[\"serve-80-tcp\", 80, \"TCP\"], [\"serve-81-tcp\", 81, \"TCP\"],
		[\"serve-80-udp\", 80, \"UDP\"]${alt:+, $alt}]"
}

nph_setup
nph_apply_cluster

# open NS ingress|egress [PODSELECTOR_JSON]: allow everything in that
# direction to the pods the selector picks (default: all of NS's pods)
open() {
	local dir=$2 sel=${3:-'{}'} type
	[ "$dir" = ingress ] && type=Ingress || type=Egress
	pol "$1" "open-$dir" "{\"podSelector\": $sel, \"policyTypes\": [\"$type\"], \"$dir\": [{}]}"
}
# open_all NS...: both directions open for every pod of each NS
open_all() { local ns; for ns in "$@"; do open "$ns" ingress; open "$ns" egress; done; }
# pods_not_in POD...: a selector for the pods whose "pod" label is none of these
pods_not_in() {
	printf '{"matchExpressions": [{"key": "pod", "operator": "NotIn", "values": %s}]}' \
		"$(printf '%s\n' "$@" | jq -R . | jq -sc .)"
}

# ---- cases that need no labels ----

t_no_policy() {
	case_begin "no policy: default deny in both directions (netfence's fence)"
	apply_state && matrix "only loopback"
}
CASES+=(t_no_policy)

t_allow_all() {
	case_begin "allow-all (upstream: should support allow-all policy)"
	open_all x y z
	exp '*' '*' 1
	apply_state && matrix "everything reachable"
}
CASES+=(t_allow_all)

t_deny_ingress_x() {
	case_begin "default-deny-ingress in x (upstream: should support a 'default-deny-ingress' policy)"
	open_all y z
	open x egress
	exp '*' '*' 1
	exp '*' 'x/*' 0
	apply_state && matrix "nothing reaches x"
}
CASES+=(t_deny_ingress_x)

t_deny_all_x() {
	case_begin "default-deny-all in x (upstream: should support a 'default-deny-all' policy)"
	open_all y z
	exp '*' '*' 1
	exp '*' 'x/*' 0
	exp 'x/*' '*' 0
	apply_state && matrix "x isolated both ways"
}
CASES+=(t_deny_all_x)

t_own_namespace() {
	case_begin "ingress from own namespace, podSelector {} peer (upstream: should deny ingress from pods on other namespaces)"
	open_all y z
	open x egress
	pol x same-ns '{"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}'
	exp '*' '*' 1
	exp '[yz]/*' 'x/*' 0
	apply_state && matrix "only x reaches x"
}
CASES+=(t_own_namespace)

t_ns_name() {
	case_begin "namespaceSelector on the name label (upstream: ... NamespaceSelector with MatchLabels using default ns label)"
	open_all y z
	open x egress
	pol x from-y '{"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [
		{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}]}'
	exp '*' '*' 1
	exp '[xz]/*' 'x/*' 0
	apply_state && matrix "only y reaches x"
}
CASES+=(t_ns_name)

# ---- podSelector and namespaceSelector on labels ----

t_pod_peer() {
	case_begin "podSelector peer: x/a from pod=b of x (upstream: ... allow traffic from pods within server namespace based on PodSelector)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-from-b '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp x/b x/a 1
	apply_state && matrix "only x/b reaches x/a"
	check_says "--pod x/a ingress from x/b tcp/80: allowed by x/allow-from-b spec.ingress[0]" \
		'^allow: .*x/allow-from-b.*spec\.ingress\[0\]' \
		--pod x/a --direction ingress --peer "${IP[x/b]}" --port 80
	check_says "--pod x/a ingress from y/b tcp/80: denied" '^deny' \
		--pod x/a --direction ingress --peer "${IP[y/b]}" --port 80
	check_says "--pod x/c ingress from y/b tcp/80: allowed by x/open-ingress" \
		'^allow: .*x/open-ingress.*spec\.ingress\[0\]' \
		--pod x/c --direction ingress --peer "${IP[y/b]}" --port 80
}
CASES+=(t_pod_peer)

t_pod_in() {
	case_begin "podSelector matchExpressions In [b, c] (upstream: ... based on any PodSelectors)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-from-bc '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"podSelector": {"matchExpressions": [
			{"key": "pod", "operator": "In", "values": ["b", "c"]}]}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp 'x/[bc]' x/a 1
	apply_state && matrix "x/b and x/c reach x/a"
}
CASES+=(t_pod_in)

t_ns_label() {
	case_begin "namespaceSelector on a namespace label, ns=y (upstream: ... only from a different namespace, based on NamespaceSelector)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-ns-y '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp 'y/*' x/a 1
	apply_state && matrix "only y reaches x/a"
}
CASES+=(t_ns_label)

t_ns_notin() {
	case_begin "namespaceSelector matchExpressions NotIn [x] (upstream: ... NamespaceSelector with MatchExpressions)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-not-x '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
			{"key": "ns", "operator": "NotIn", "values": ["x"]}]}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp '[yz]/*' x/a 1
	apply_state && matrix "y and z reach x/a"
}
CASES+=(t_ns_notin)

t_pod_and_ns() {
	case_begin "podSelector AND namespaceSelector in one peer (upstream: ... based on PodSelector and NamespaceSelector)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-and '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{
			"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]},
			"podSelector": {"matchLabels": {"pod": "b"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp '[yz]/b' x/a 1
	apply_state && matrix "y/b and z/b reach x/a"
}
CASES+=(t_pod_and_ns)

t_pod_or_ns() {
	case_begin "podSelector OR namespaceSelector as two peers (upstream: ... based on PodSelector or NamespaceSelector)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-or '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [
			{"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}},
			{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp '[yz]/*' x/a 1
	exp x/b x/a 1
	apply_state && matrix "y, z and x/b reach x/a"
}
CASES+=(t_pod_or_ns)

t_multi_selectors() {
	case_begin "pods In [b, c] of namespaces NotIn [x] (upstream: ... Multiple PodSelectors and NamespaceSelectors)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-multi '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{
			"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]},
			"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["b", "c"]}]}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp '[yz]/[bc]' x/a 1
	apply_state && matrix "y/b, y/c, z/b, z/c reach x/a"
}
CASES+=(t_multi_selectors)

t_pod_in_ns() {
	case_begin "pod in a namespace: ns=y AND pod=a (upstream: ... only from a pod in a different namespace based on PodSelector and NamespaceSelector)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-ya '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}},
			"podSelector": {"matchLabels": {"pod": "a"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp y/a x/a 1
	apply_state && matrix "only y/a reaches x/a"
}
CASES+=(t_pod_in_ns)

t_exists() {
	case_begin "Exists and DoesNotExist on pod labels"
	# rule 0: pods without a "pod" label in any namespace (none of ours);
	# rule 1: pods with one, in x itself (no namespaceSelector), on TCP 80
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x exists '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [
		  {"from": [{"namespaceSelector": {},
		             "podSelector": {"matchExpressions": [{"key": "pod", "operator": "DoesNotExist"}]}}]},
		  {"from": [{"podSelector": {"matchExpressions": [{"key": "pod", "operator": "Exists"}]}}],
		   "ports": [{"protocol": "TCP", "port": 80}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp 'x/*' x/a 1 tcp/80
	apply_state && matrix "x's pods reach x/a on TCP 80, nobody else"
}
CASES+=(t_exists)

t_stacked() {
	case_begin "stacked policies with overlapping podSelectors (upstream: ... multiple, stacked policies with overlapping podSelectors)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a b)"
	pol x ab-80 '{"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["a", "b"]}]},
		"policyTypes": ["Ingress"], "ingress": [{"ports": [{"protocol": "TCP", "port": 80}]}]}'
	pol x a-81 '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"ports": [{"port": 81}]}]}'
	exp '*' '*' 1
	exp '*' 'x/[ab]' 0
	exp '*' x/a 1 tcp/80 tcp/81
	exp '*' x/b 1 tcp/80
	apply_state && matrix "x/a: TCP 80 and 81, x/b: TCP 80"
}
CASES+=(t_stacked)

# ---- named ports ----

t_named_ingress() {
	case_begin "named port on ingress, serve-80-tcp (upstream: should allow ingress access on one named port)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x named-80 '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"ports": [{"port": "serve-80-tcp"}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp '*' x/a 1 tcp/80
	apply_state && matrix "x/a only on TCP 80"
	check_says "--pod x/a ingress from y/b tcp/80: allowed by x/named-80" \
		'^allow: .*x/named-80.*spec\.ingress\[0\]' \
		--pod x/a --direction ingress --peer "${IP[y/b]}" --port 80
	check_says "--pod x/a ingress from y/b tcp/81: denied" '^deny' \
		--pod x/a --direction ingress --peer "${IP[y/b]}" --port 81
}
CASES+=(t_named_ingress)

t_named_udp() {
	case_begin "named UDP port from a namespace; a named port's protocol must match (upstream: should allow ingress access from namespace on one named port)"
	# rule 0: serve-80-udp over UDP from ns=y; rule 1: the same name over TCP
	# (x/a has no TCP port of that name): nothing
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x named-udp '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [
		  {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
		   "ports": [{"protocol": "UDP", "port": "serve-80-udp"}]},
		  {"ports": [{"protocol": "TCP", "port": "serve-80-udp"}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp 'y/*' x/a 1 udp/80
	apply_state && matrix "x/a only from y on UDP 80"
}
CASES+=(t_named_udp)

t_named_egress() {
	case_begin "named port on egress, resolved per destination pod (upstream: should allow egress access on one named port)"
	# serve-alt is TCP 81 on x/b, absent on z/c, TCP 80 elsewhere
	open_all y z
	open x ingress
	open x egress "$(pods_not_in a)"
	pol x egress-alt '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
		"egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": "serve-alt"}]}]}'
	exp '*' '*' 1
	exp x/a '*' 0
	exp x/a '*' 1 tcp/80
	exp x/a x/b 0
	exp x/a x/b 1 tcp/81
	exp x/a z/c 0
	apply_state && matrix "x/a: x/b on TCP 81, z/c not at all, the others on TCP 80"
	check_says "--pod x/a egress to x/b tcp/81: allowed by x/egress-alt spec.egress[0]" \
		'^allow: .*x/egress-alt.*spec\.egress\[0\]' \
		--pod x/a --direction egress --peer "${IP[x/b]}" --port 81
	check_says "--pod x/a egress to x/b tcp/80: denied" '^deny' \
		--pod x/a --direction egress --peer "${IP[x/b]}" --port 80
	check_says "--pod x/a egress to y/c tcp/80: allowed" '^allow: .*x/egress-alt' \
		--pod x/a --direction egress --peer "${IP[y/c]}" --port 80
}
CASES+=(t_named_egress)

# ---- egress ----

t_egress_peers() {
	case_begin "egress podSelector peers (upstream: ... egress policy ... based on PodSelector and NamespaceSelector)"
	open_all y z
	open x ingress
	open x egress "$(pods_not_in a)"
	pol x egress-peers '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
		"egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "b"}}},
		                   {"namespaceSelector": {"matchLabels": {"ns": "y"}},
		                    "podSelector": {"matchLabels": {"pod": "c"}}}]}]}'
	exp '*' '*' 1
	exp x/a '*' 0
	exp x/a x/b 1
	exp x/a y/c 1
	apply_state && matrix "x/a reaches x/b and y/c only"
}
CASES+=(t_egress_peers)

t_both_ends() {
	case_begin "both ends: client egress and server ingress by labels (upstream: ... denying of egress traffic on the client side)"
	# x/a may send only to ns=y; y/a accepts only from ns=z
	open x ingress
	open x egress "$(pods_not_in a)"
	open z ingress
	open z egress
	open y egress
	open y ingress "$(pods_not_in a)"
	pol x a-to-y '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
		"egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}'
	pol y a-from-z '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}]}'
	exp '*' '*' 1
	exp x/a '*' 0
	exp x/a 'y/[bc]' 1
	exp '*' y/a 0
	exp 'z/*' y/a 1
	apply_state && matrix "x/a reaches y/b and y/c; only z reaches y/a"
}
CASES+=(t_both_ends)

# ---- changes: labels, namespaces, pods ----

t_updated_pod() {
	case_begin "ingress from an updated pod (upstream: should allow ingress access from updated pod)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x from-pod2 '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "pod2", "operator": "Exists"}]}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	apply_state && matrix "nobody reaches x/a"
	pod_doc x b '{"pod": "b", "pod2": "updated"}'
	apply_obj "$(objdir)/pod-x-b.json"
	exp x/b x/a 1
	matrix "x/b labelled pod2=updated reaches x/a"
	hold_start x/b x/a
	hold_ping ok "the connection carries data"
	pod_doc x b
	apply_obj "$(objdir)/pod-x-b.json"
	exp x/b x/a 0
	hold_ping timeout "label removed: the established connection stops"
	hold_stop
	matrix "x/b without pod2 no longer reaches x/a"
}
CASES+=(t_updated_pod)

t_updated_target() {
	case_begin "deny ingress to an updated pod (upstream: should deny ingress access to updated pod)"
	# open: the pods without a "target" label; x/a labelled target=isolated is
	# selected only by the isolating policy (no rules)
	open_all y z
	open x egress
	open x ingress '{"matchExpressions": [{"key": "target", "operator": "DoesNotExist"}]}'
	pol x isolate '{"podSelector": {"matchLabels": {"target": "isolated"}}, "policyTypes": ["Ingress"]}'
	exp '*' '*' 1
	apply_state && matrix "everything reachable"
	hold_start y/a x/a
	hold_ping ok "the connection carries data"
	pod_doc x a '{"pod": "a", "target": "isolated"}'
	apply_obj "$(objdir)/pod-x-a.json"
	exp '*' x/a 0
	hold_ping timeout "x/a isolated: the established connection stops"
	hold_stop
	matrix "nothing reaches x/a labelled target=isolated"
	pod_doc x a
	apply_obj "$(objdir)/pod-x-a.json"
	exp '*' x/a 1
	matrix "label removed: x/a reachable again"
}
CASES+=(t_updated_target)

t_updated_ns() {
	case_begin "ingress from an updated namespace (upstream: should allow ingress access from updated namespace)"
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x from-ns2 '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns2": "updated"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	apply_state && matrix "nobody reaches x/a"
	ns_doc y '{"ns": "y", "ns2": "updated"}'
	apply_obj "$(objdir)/ns-y.json"
	exp 'y/*' x/a 1
	matrix "namespace y labelled ns2=updated reaches x/a"
	ns_doc y
	apply_obj "$(objdir)/ns-y.json"
	exp 'y/*' x/a 0
	matrix "label removed: y no longer reaches x/a"
}
CASES+=(t_updated_ns)

t_deleted_pod() {
	case_begin "a deleted Pod document revokes, a new one grants"
	# Without its Pod document x/b has no labels (SPEC §11): pod=b no longer
	# matches; x/b's own subjects (podSelector {} and pod NotIn [a]) still do.
	open_all y z
	open x egress
	open x ingress "$(pods_not_in a)"
	pol x allow-from-b '{"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
		"ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}'
	exp '*' '*' 1
	exp '*' x/a 0
	exp x/b x/a 1
	apply_state && matrix "x/b reaches x/a"
	hold_start x/b x/a
	hold_ping ok "the connection carries data"
	mv "$(objdir)/pod-x-b.json" "$WORK/pod-x-b.json"
	apply_state
	exp x/b x/a 0
	hold_ping timeout "Pod deleted: the established connection stops"
	hold_stop
	matrix "x/b without a Pod document no longer reaches x/a"
	mv "$WORK/pod-x-b.json" "$(objdir)/pod-x-b.json"
	apply_obj "$(objdir)/pod-x-b.json"
	exp x/b x/a 1
	matrix "Pod document back: x/b reaches x/a"
}
CASES+=(t_deleted_pod)

# ---- what the tools show ----

t_tools() {
	case_begin "status and metrics show identities"
	local n ids
	if [ "$LABELS" = 1 ]; then
		# 9 pods, each its own (tenant, label set): at least 9 identities
		n=$("$NF" status --json 2>/dev/null | jq '[.. | objects | to_entries[] |
			select(.key | test("identit"; "i")) | .value | if type == "array" then length
			elif type == "object" then length elif type == "number" then . else 0 end] | max // 0')
		[ "${n:-0}" -ge 9 ] && pass "$CASE: status --json lists $n identities" ||
			fail "$CASE: status --json: no identities field with >= 9 entries (got '${n:-}')"
		# not `status | grep -q`: grep's early exit would kill status (SIGPIPE),
		# and pipefail would count that as no match
		grep -qi identit <<<"$("$NF" status 2>/dev/null)" && pass "$CASE: status names identities" ||
			fail "$CASE: status (text) does not mention identities"
	else
		fail "$CASE: not checked: this build refused the Pod/Namespace documents"
	fi
	if scrape; then
		ids=$(metric_sum netfence_identities)
	else
		ids="no answer from serve: $(head -2 "$WORK/serve.log" | tr '\n' ' ')"
	fi
	if [ "$ids" != absent ] && [ "${ids%.*}" -ge 9 ] 2>/dev/null; then
		pass "$CASE: /metrics netfence_identities = $ids (>= 9)"
	else
		fail "$CASE: /metrics netfence_identities: got '${ids:-no scrape}', want >= 9"
	fi
	serve_stop
}
CASES+=(t_tools)

nph_run_cases
nph_teardown
