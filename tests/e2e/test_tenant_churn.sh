#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Tenant churn (SPEC §10.2, issue 13): create and delete NF_CHURN_TENANTS
# tenants (default 20,000, more than the 4,095 ids there are) in
# NF_CHURN_ROUNDS rounds (default 10). Each round:
#   - one `apply` of a List with the round's tenants, each with a policy
#     whose namespaceSelector names the next tenant of the round (a ring:
#     every tenant is named by another's selector);
#   - the tenant that now holds the id the previous round's "open" tenant
#     had is attached to endpoint e1 and must be default deny: its drop
#     counters start at 0, and datagrams from e1 (same source port as the
#     old tenant's allowed flow) to the address the old tenant allowed are
#     dropped, counted exactly;
#   - another tenant gets a policy that opens udp/7001 to srv (a second
#     apply), is attached to e1 and the flow passes; drops to udp/7002 are
#     counted; a third tenant on e2 drops what it sends, counted exactly;
#   - teardown: detach e1 and e2; `delete` tenants 0..4 one by one (0 keeps
#     its id: the last tenant's selector names it; 1..4 are freed at once),
#     then the last tenant (0 is freed with it; the last stays, named by the
#     one before); then `apply --prune` removes the rest
#     (a directory holding only the keeper's policy: a tenant that lives
#     through every round and whose policy is replaced by one of the same
#     size each round, so its previous parity must be swept);
#   - after >1 s and one more state-changing command (the old parity is
#     swept): every map's usage equals the baseline measured before round 1.
# Ids are reused (the lowest free first): a round's ids equal the first's.
#
#   e1 10.246.1.2 --veth-- srv 10.246.1.1
#   e2 10.246.2.2 --veth-- srv 10.246.2.1
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init

N=${NF_CHURN_TENANTS:-20000}
R=${NF_CHURN_ROUNDS:-10}
PER=$((N / R))
if [ "$PER" -lt 10 ] || [ "$PER" -gt 4000 ]; then
	echo "  FAIL: NF_CHURN_TENANTS/NF_CHURN_ROUNDS must be 10..4000 tenants a round (got $PER)"
	exit 1
fi
P=$NF_PREFIX
S=$P-s E1=$P-e1 E2=$P-e2
WORK=$(mktemp -d /tmp/nf-churn.XXXXXX)
trap 'rc=$?; rm -rf "$WORK"; (exit $rc); nf_cleanup' EXIT
nf_netns "$S"
for i in 1 2; do
	ns=$P-e$i
	nf_netns "$ns"
	ip link add "$P"e$i netns "$ns" type veth peer name "$P"s$i netns "$S"
	# no IPv6: no router solicitations or DAD counted as drops behind our back
	in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	in_ns "$S" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	in_ns "$ns" ip addr add 10.246.$i.2/24 dev "$P"e$i
	in_ns "$S" ip addr add 10.246.$i.1/24 dev "$P"s$i
	in_ns "$ns" ip link set "$P"e$i up
	in_ns "$S" ip link set "$P"s$i up
done
udp_server "$S" 7001
udp_server "$S" 7002
mkdir "$WORK/keep"
KEEP=$P-keep
# keeper VARIANT: the keeper's policy; variants differ in ports only (same entries)
keeper() {
	cat >"$WORK/keep/keep.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"keep","namespace":"$KEEP"},
 "spec":{"podSelector":{},"policyTypes":["Ingress","Egress"],
  "ingress":[{"from":[{"ipBlock":{"cidr":"10.247.0.0/16"}}],"ports":[{"port":$((1000 + $1))},{"protocol":"UDP","port":$((2000 + $1))}]}],
  "egress":[{"to":[{"ipBlock":{"cidr":"10.248.0.0/16"}}],"ports":[{"port":$((3000 + $1))}]}]}}
JSON
}

now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
# run DESC CMD...: a command that must succeed
run() {
	local d=$1 out
	shift
	out=$("$@" 2>&1) || fail "$d: exit $?: $(tail -3 <<<"$out")"
}
# usage: map usage that must return to the baseline, one line: every map's
# entries, the ipcache's less the node's own addresses (NF_ID_HOST entries,
# which follow the host's interfaces, not tenants; host_addrs lists them).
usage() {
	local hosts
	hosts=$(grep -c . /run/netfence/host_addrs 2>/dev/null || echo 0)
	"$NF" status --json | jq -c --argjson h "$hosts" '[.maps[] |
		select(.name | IN("peer_cache", "verdicts") | not) |
		{(.name): (if .name == "ipcache" then .entries - $h else .entries end)}] | add'
}
ids_json() { "$NF" status --json | jq -c '[.tenants[] | {key: .name, value: .id}] | from_entries'; }
id_of() { jq -r --arg t "$2" '.[$t] // empty' <<<"$1"; }
name_of() { jq -r --argjson i "$2" 'to_entries[] | select(.value == $i) | .key' <<<"$1"; }
# drops TENANT: every drop counter of TENANT summed (packets)
drops() {
	"$NF" stats --json | jq --arg t "$1" '[.tenants[]? | select(.tenant == $t) | .drops[]?.packets] | add // 0'
}
# send_udp NS ADDR PORT N: N datagrams from source port 41000
send_udp() {
	in_ns "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 41000))
for i in range(int(sys.argv[3])): s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))' "$2" "$3" "$4"
	sleep 0.3
}
# udp_ask NS ADDR PORT: one datagram from source port 41000, answered
udp_ask() {
	in_ns "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 41000)); s.settimeout(1.5)
s.sendto(b"q", (sys.argv[1], int(sys.argv[2])))
assert s.recvfrom(64)[0] == b"q"' "$2" "$3"
}
# policies ROUND: a List of the round's tenants' policies (the ring)
policies() {
	python3 - "$P-r$1" "$PER" <<'PY'
import json, sys
pre, n = sys.argv[1], int(sys.argv[2])
items = []
for i in range(n):
    items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "%s-%d" % (pre, i)},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels":
                {"kubernetes.io/metadata.name": "%s-%d" % (pre, (i + 1) % n)}}}],
                "ports": [{"port": 80}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.250.%d.%d/32" % (i // 250, i % 250)}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
}
# open_policy TENANT NEXT: the ring policy plus egress udp/7001 to srv
open_policy() {
	cat <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"p","namespace":"$1"},
 "spec":{"podSelector":{},"policyTypes":["Ingress","Egress"],
  "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"$2"}}}],"ports":[{"port":80}]}],
  "egress":[{"to":[{"ipBlock":{"cidr":"10.246.1.1/32"}}],"ports":[{"protocol":"UDP","port":7001}]}]}}
JSON
}

# the datapath loaded, the keeper only: the baseline
keeper 0
run "load, the keeper" "$NF" apply --prune "$WORK/keep"
sleep 2.1
run "one more change (sweeps nothing: no old parity yet)" "$NF" apply --prune "$WORK/keep"
BASE=$(usage)
echo "baseline: $BASE"
[ -n "$BASE" ] && [ "$BASE" != null ] || fail "no map usage in status --json"

T0=$(now)
first_ids=
old_open_id=
for r in $(seq 1 "$R"); do
	t=$(now)
	pre=$P-r$r
	policies "$r" >"$WORK/round.json"
	run "round $r: apply $PER tenants" "$NF" apply "$WORK/round.json"
	ids=$(ids_json)
	expect_eq "round $r: tenants with ids (and the keeper)" "$(jq length <<<"$ids")" "$((PER + 1))"
	sorted=$(jq -c --arg k "$KEEP" '[to_entries[] | select(.key != $k) | .value] | sort' <<<"$ids")
	if [ -z "$first_ids" ]; then
		first_ids=$sorted
	else
		expect_eq "round $r: the same ids as round 1 (reused)" "$sorted" "$first_ids"
	fi

	# the previous open tenant's id, now someone else's: default deny
	if [ -n "$old_open_id" ]; then
		heir=$(name_of "$ids" "$old_open_id")
		if [ -z "$heir" ]; then
			fail "round $r: id $old_open_id not reused"
		else
			expect_eq "round $r: $heir (id $old_open_id, the old open tenant's) drop counters" \
				"$(drops "$heir")" 0
			run "round $r: attach e1 to $heir" "$NF" attach --tenant "$heir" --iface "$P"e1 \
				--netns /var/run/netns/"$E1"
			expect_fail "round $r: $heir -> srv udp/7001 (the old tenant's allowed flow)" \
				udp_ask "$E1" 10.246.1.1 7001
			before=$(nf_stat "$heir" egress policy_denied tc)
			send_udp "$E1" 10.246.1.1 7001 5
			expect_eq "round $r: 5 datagrams e1 -> srv udp/7001 dropped for $heir" \
				"$(($(nf_stat "$heir" egress policy_denied tc) - before))" 5
			run "round $r: detach e1" "$NF" detach --iface "$P"e1 --netns /var/run/netns/"$E1"
		fi
	fi

	# a new open tenant, not on the old open tenant's id
	k=$(((r * 7) % (PER - 9) + 5))	# 5..PER-5: none of the deleted-by-name ones, not e2's
	[ "$(id_of "$ids" "$pre-$k")" = "$old_open_id" ] && k=$((k + 1))
	open=$pre-$k
	open_policy "$open" "$pre-$((k + 1))" >"$WORK/open.json"
	run "round $r: apply $open's open policy" "$NF" apply "$WORK/open.json"
	run "round $r: attach e1 to $open" "$NF" attach --tenant "$open" --iface "$P"e1 \
		--netns /var/run/netns/"$E1"
	expect_ok "round $r: $open -> srv udp/7001" udp_ask "$E1" 10.246.1.1 7001
	send_udp "$E1" 10.246.1.1 7002 3
	expect_eq "round $r: $open's drops (3 datagrams to udp/7002)" "$(drops "$open")" 3
	old_open_id=$(id_of "$ids" "$open")
	# e2: another tenant, its drops counted too
	other=$pre-$((PER - 3))
	run "round $r: attach e2 to $other" "$NF" attach --tenant "$other" --iface "$P"e2 \
		--netns /var/run/netns/"$E2"
	send_udp "$E2" 10.246.2.1 7002 4
	expect_eq "round $r: $other's drops (4 datagrams)" "$(drops "$other")" 4

	# teardown
	run "round $r: detach e1" "$NF" detach --iface "$P"e1 --netns /var/run/netns/"$E1"
	run "round $r: detach e2" "$NF" detach --iface "$P"e2 --netns /var/run/netns/"$E2"
	id0=$(id_of "$ids" "$pre-0")
	for i in 0 1 2 3 4; do
		run "round $r: delete $pre-$i" "$NF" delete "$pre-$i"
	done
	ids=$(ids_json)
	expect_eq "round $r: $pre-0 deleted but named by $pre-$((PER - 1)): keeps id" \
		"$(id_of "$ids" "$pre-0")" "$id0"
	expect_eq "round $r: 1..4 deleted and named by no one: freed" \
		"$(jq length <<<"$ids")" "$((PER - 4 + 1))"
	idl=$(id_of "$ids" "$pre-$((PER - 1))")
	run "round $r: delete $pre-$((PER - 1))" "$NF" delete "$pre-$((PER - 1))"
	ids=$(ids_json)
	expect_eq "round $r: $pre-0 freed with the selector naming it" "$(id_of "$ids" "$pre-0")" ""
	expect_eq "round $r: $pre-$((PER - 1)) deleted but named by $pre-$((PER - 2)): keeps id" \
		"$(id_of "$ids" "$pre-$((PER - 1))")" "$idl"
	expect_eq "round $r: tenants with ids" "$(jq length <<<"$ids")" "$((PER - 5 + 1))"
	keeper "$r"
	run "round $r: prune to the keeper (its policy replaced)" "$NF" apply --prune "$WORK/keep"
	expect_eq "round $r: tenants after the prune" "$("$NF" status --json | jq -c '[.tenants[].name]')" "[\"$KEEP\"]"
	# the old parity goes with the next change once its flip is over 1 s old
	# (file times are whole seconds: wait 2)
	sleep 2.1
	run "round $r: one more change (sweeps the old parity)" "$NF" apply --prune "$WORK/keep"
	expect_eq "round $r: map usage back to the baseline" "$(usage)" "$BASE"
	echo "round $r: $PER tenants in $(since "$t") s"
done
echo "$N tenants in $R rounds: $(since "$T0") s"
nf_done
