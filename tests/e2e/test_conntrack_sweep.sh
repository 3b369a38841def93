#!/usr/bin/env bash
# SPEC §3.4, §3.13: tracked connections live in per-tenant shares of a table
# that never evicts, so expired entries must go by themselves: a timer in the
# kernel sweeps them, with no netfence process running. Closed TCP flows
# expire after 10 s; the tenant's count (status --json tracked_connections)
# returns to 0, and its share is usable again.
#
#   pod (tenant sweep) 10.231.0.2 --veth-- srv 10.231.0.1: TCP echo on 8080
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init

P=$NF_PREFIX
A=$P-a S=$P-s
T=$P-sweep
trap 'rm -f "$T".json; nf_cleanup' EXIT
nf_netns "$A"; nf_netns "$S"
ip link add "$P"a0 netns "$A" type veth peer name "$P"s0 netns "$S"
in_ns "$A" ip addr add 10.231.0.2/24 dev "$P"a0
in_ns "$S" ip addr add 10.231.0.1/24 dev "$P"s0
in_ns "$A" ip link set "$P"a0 up
in_ns "$S" ip link set "$P"s0 up
tcp_server "$S" 8080
cat > "$T.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"srv","namespace":"sweep"},
 "spec":{"podSelector":{},"policyTypes":["Egress"],
  "egress":[{"to":[{"ipBlock":{"cidr":"10.231.0.1/32"}}],"ports":[{"port":8080}]}]}}
JSON

tracked() {
	"$NF" status --json | python3 -c '
import json, sys
print(sum(t.get("tracked_connections", 0) for t in json.load(sys.stdin)["tenants"]
          if t["name"] == "sweep"))'
}

# a share of 10 connections: the 11th open one is conntrack_full
NETFENCE_CT_TENANT_MAX=10 "$NF" attach --tenant sweep --iface "$P"a0 --netns /var/run/netns/"$A" ||
	fail "attach"
"$NF" apply "$T.json" >/dev/null || fail "apply"
sleep 0.3
expect_ok "a connection before the share is used" tcp_probe "$A" 10.231.0.1 8080

# 10 connections opened and closed: each stays tracked (closed) until it expires
in_ns "$A" python3 -c '
import socket
for _ in range(9):
    s = socket.create_connection(("10.231.0.1", 8080), timeout=2)
    s.sendall(b"x"); s.recv(1); s.close()'
n=$(tracked)
[ "$n" -eq 10 ] && ok "10 closed connections tracked, the share full" || fail "tracked: $n, want 10"
before=$(nf_stat sweep egress conntrack_full tc)
expect_fail "an 11th connection while the share is full" tcp_probe "$A" 10.231.0.1 8080
after=$(nf_stat sweep egress conntrack_full tc)
[ $((after - before)) -ge 1 ] && ok "counted conntrack_full (+$((after - before)))" ||
	fail "conntrack_full moved by $((after - before))"

# No netfence process runs from here on: the kernel's sweep frees them.
for i in $(seq 40); do
	n=$(tracked)
	[ "$n" -eq 0 ] && break
	sleep 1
done
[ "$n" -eq 0 ] && ok "expired entries swept in the kernel after ~${i} s (closed TCP lives 10 s)" ||
	fail "still tracked after 40 s: $n"
expect_ok "the share is usable again" tcp_probe "$A" 10.231.0.1 8080
nf_done
