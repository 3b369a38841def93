#!/usr/bin/env bash
# SPEC §3.4, §3.13: tracked connections live in per-tenant shares of a table
# that never evicts, so expired entries must go by themselves: a timer in the
# kernel sweeps them, with no netfence process running. A TCP connection that
# closes ends its entry with its last packet; unanswered UDP flows expire after
# 30 s and the tenant's count (status --json tracked_connections) returns to 0,
# and its share is usable again.
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
  "egress":[{"to":[{"ipBlock":{"cidr":"10.231.0.1/32"}}],
   "ports":[{"port":8080},{"protocol":"UDP","port":8080}]}]}}
JSON

tracked() {
	"$NF" status --json | python3 -c '
import json, sys
print(sum(t.get("tracked_connections", 0) for t in json.load(sys.stdin)["tenants"]
          if t["name"] == "sweep"))'
}

# a share of 10 tracked flows
NETFENCE_CT_TENANT_MAX=10 "$NF" attach --tenant sweep --iface "$P"a0 --netns /var/run/netns/"$A" ||
	fail "attach"
"$NF" apply "$T.json" >/dev/null || fail "apply"
sleep 0.3

# TCP connections that close end their entries with their last packet:
# 25 of them in a row fit in a share of 10
in_ns "$A" python3 -c '
import socket
for _ in range(25):
    s = socket.create_connection(("10.231.0.1", 8080), timeout=2)
    s.sendall(b"x"); s.recv(1); s.close()' && ok "25 TCP connections opened and closed with a share of 10" ||
	fail "25 TCP connections with a share of 10"
sleep 0.5
n=$(tracked)
[ "$n" -eq 0 ] && ok "closed connections left nothing tracked" || fail "tracked after closing: $n"

# 10 UDP flows nobody answers stay tracked (30 s) and fill the share
sent=$SECONDS
in_ns "$A" python3 -c '
import socket
for i in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.231.0.2", 41000 + i)); s.sendto(b"x", ("10.231.0.1", 8080))'
n=$(tracked)
[ "$n" -eq 10 ] && ok "10 unanswered UDP flows tracked, the share full" || fail "tracked: $n, want 10"
before=$(nf_stat sweep egress conntrack_full tc)
expect_fail "a TCP connection while the share is full" tcp_probe "$A" 10.231.0.1 8080
after=$(nf_stat sweep egress conntrack_full tc)
[ $((after - before)) -ge 1 ] && ok "counted conntrack_full (+$((after - before)))" ||
	fail "conntrack_full moved by $((after - before))"

# No netfence process runs from here on: the kernel's sweep frees them.
while [ $((SECONDS - sent)) -lt 60 ]; do
	n=$(tracked)
	[ "$n" -eq 0 ] && break
	sleep 1
done
[ "$n" -eq 0 ] && ok "expired entries swept in the kernel $((SECONDS - sent)) s after they were sent (unanswered UDP lives 30 s)" ||
	fail "still tracked 60 s after they were sent: $n"
expect_ok "the share is usable again" tcp_probe "$A" 10.231.0.1 8080
nf_done
