#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Selector names do not use up tenant ids (SPEC §10.2, issue 12): a policy
# whose namespaceSelector names 5,000 namespaces leaves one id in use, and a
# new tenant attaches after it. A tenant that another tenant's rules name
# before it exists is matched from the moment it gets its id: by an attach
# (NotIn: it is excluded, not let in as "any other tenant") or by an apply of
# its own policy (In: it is allowed). Shown with `netfence check` and traffic.
#
#   a (tenant $P-a) 10.245.1.2 --veth-- srv 10.245.1.1 (routes)
#   b (tenant $P-b) 10.245.2.2 --veth-- srv 10.245.2.1
#   c (tenant $P-c) 10.245.3.2 --veth-- srv 10.245.3.1
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init

P=$NF_PREFIX
A=$P-a B=$P-b C=$P-c S=$P-s
TA=$P-a TB=$P-b TC=$P-c
WORK=$(mktemp -d /tmp/nf-tids.XXXXXX)
trap 'rc=$?; rm -rf "$WORK"; (exit $rc); nf_cleanup' EXIT
nf_netns "$S"
i=0
for x in a b c; do
	i=$((i + 1))
	ns=$P-$x
	nf_netns "$ns"
	ip link add "$P$x"0 netns "$ns" type veth peer name "$P"s$x netns "$S"
	in_ns "$ns" ip addr add 10.245.$i.2/24 dev "$P$x"0
	in_ns "$S" ip addr add 10.245.$i.1/24 dev "$P"s$x
	in_ns "$ns" ip link set "$P$x"0 up
	in_ns "$S" ip link set "$P"s$x up
	in_ns "$ns" ip route add default via 10.245.$i.1
done
in_ns "$S" sysctl -qw net.ipv4.ip_forward=1
tcp_server "$A" 7000
tcp_server "$B" 9000
tcp_server "$B" 9001
sleep 0.5
expect_ok "before attach: a -> b tcp/9000" tcp_probe "$A" 10.245.2.2 9000

# ids: tenant ids in use (the nf_tenants map); tenants: what status lists
ids() { "$NF" status --json | jq '.maps[] | select(.name == "tenants") | .entries'; }
tenants() { "$NF" status --json | jq -c '[.tenants[].name] | sort'; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
# check_says WHAT WANT(allow|deny) CHECK-ARGS...
check_says() {
	local what=$1 want=$2 out
	shift 2
	out=$("$NF" check "$@" 2>&1)
	if [[ $(tail -1 <<<"$out") == "$want"* ]]; then ok "$what: $want"; else fail "$what: want $want, check said: $out"; fi
}

"$NF" attach --tenant "$TA" --iface "$P"a0 --netns /var/run/netns/"$A" || fail "attach a"

echo "one policy naming 5,000 namespaces (and b, which has no id yet)"
python3 - "$TA" "$TB" "$TC" >"$WORK/many.json" <<'PY'
import json, sys
ta, tb, tc = sys.argv[1:4]
names = ["ns-%d" % i for i in range(5000)] + [tb]
sel = lambda op, vals: {"namespaceSelector": {"matchExpressions": [
    {"key": "kubernetes.io/metadata.name", "operator": op, "values": vals}]}}
print(json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "many", "namespace": ta},
    "spec": {"podSelector": {}, "policyTypes": ["Egress", "Ingress"],
        "egress": [{"to": [sel("In", names)], "ports": [{"port": 9000}]}],
        # every tenant but c (and 4,000 others that do not exist)
        "ingress": [{"from": [sel("NotIn", ["nx-%d" % i for i in range(4000)] + [tc])],
                     "ports": [{"port": 7000}, {"protocol": "UDP", "port": 7001}]}]}}))
PY
"$NF" apply "$WORK/many.json" >/dev/null || fail "apply the 5,000-name policy"
expect_eq "tenant ids in use after it" "$(ids)" 1
expect_eq "status lists only a" "$(tenants)" "[\"$TA\"]"
check_says "a -> b (no id yet) tcp/9000" deny --tenant "$TA" --direction egress --peer 10.245.2.2 --port 9000

echo "b gets its id by an apply of its own policy: a's In list matches it from then on"
cat >"$WORK/b.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"b","namespace":"$TB"},
 "spec":{"podSelector":{},"policyTypes":["Ingress","Egress"],
  "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"$TA"}}}]}],
  "egress":[{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"$TA"}}}]}]}}
JSON
"$NF" apply "$WORK/b.json" >/dev/null || fail "apply b's policy"
expect_eq "tenant ids in use" "$(ids)" 2
"$NF" attach --tenant "$TB" --iface "$P"b0 --netns /var/run/netns/"$B" || fail "attach b"
check_says "a -> b tcp/9000" allow --tenant "$TA" --direction egress --peer 10.245.2.2 --port 9000
check_says "a -> b tcp/9001" deny --tenant "$TA" --direction egress --peer 10.245.2.2 --port 9001
expect_ok "a -> b tcp/9000" tcp_probe "$A" 10.245.2.2 9000
expect_fail "a -> b tcp/9001" tcp_probe "$A" 10.245.2.2 9001
check_says "b -> a tcp/7000 (NotIn, b not excluded)" allow --tenant "$TA" --direction ingress --peer 10.245.2.2 --port 7000
expect_ok "b -> a tcp/7000" tcp_probe "$B" 10.245.1.2 7000

echo "c gets its id by an attach: a's NotIn list excludes it, not 'any other tenant'"
cat >"$WORK/c.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"c","namespace":"$TC"},
 "spec":{"podSelector":{},"policyTypes":["Egress"],"egress":[{}]}}
JSON
"$NF" attach --tenant "$TC" --iface "$P"c0 --netns /var/run/netns/"$C" || fail "attach c (a new tenant, after the 5,000 names)"
expect_eq "tenant ids in use" "$(ids)" 3
expect_eq "status lists a, b, c" "$(tenants)" "$(jq -cn --arg a "$TA" --arg b "$TB" --arg c "$TC" '[$a, $b, $c] | sort')"
"$NF" apply "$WORK/c.json" >/dev/null || fail "apply c's policy (egress anywhere)"
check_says "c -> a tcp/7000" deny --tenant "$TA" --direction ingress --peer 10.245.3.2 --port 7000
check_says "c egress to a" allow --tenant "$TC" --direction egress --peer 10.245.1.2 --port 7000
expect_fail "c -> a tcp/7000" tcp_probe "$C" 10.245.1.2 7000
expect_ok "b -> a tcp/7000 still" tcp_probe "$B" 10.245.1.2 7000
# send_udp NS N: N datagrams to a's udp/7001 (the NotIn rule's other port)
send_udp() {
	in_ns "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])): s.sendto(b"x", ("10.245.1.2", 7001))' "$2"
	sleep 0.2
}
before=$(nf_stat "$TA" ingress policy_denied tc)
send_udp "$C" 5
after=$(nf_stat "$TA" ingress policy_denied tc)
expect_eq "c sent 5 datagrams to a's udp/7001: a's ingress policy_denied moved by" \
	"$((after - before))" 5
send_udp "$B" 5
expect_eq "b sent 5: a's ingress policy_denied moved by" "$(($(nf_stat "$TA" ingress policy_denied tc) - after))" 0

echo "a replaced by itself: the same verdicts (the names compile the same way)"
"$NF" delete "$TA/many" >/dev/null || fail "delete a/many"
"$NF" apply "$WORK/many.json" >/dev/null || fail "apply a/many again"
check_says "a -> b tcp/9000" allow --tenant "$TA" --direction egress --peer 10.245.2.2 --port 9000
check_says "c -> a tcp/7000" deny --tenant "$TA" --direction ingress --peer 10.245.3.2 --port 7000
check_says "b -> a tcp/7000" allow --tenant "$TA" --direction ingress --peer 10.245.2.2 --port 7000
expect_eq "tenant ids in use" "$(ids)" 3
nf_done
