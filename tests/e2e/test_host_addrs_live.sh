#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# SPEC §3.8: the node's addresses are followed live. A namespace of this test
# plays the node (every netfence command, serve included, runs in it); a
# "pod" namespace hangs off it by a veth:
#   $NODE: ${P}n 10.231.0.1/24   <-veth->   $POD: eth0 10.231.0.2/24 (endpoint, tenant hal)
# The pod has no policy (default deny): only the node's addresses get in.
#  1. with serve running, an address added to the node is trusted within a
#     second (polled, generous bound): `check` says so and UDP/TCP from it
#     reach the pod; removed, it is no longer trusted: its packets are
#     dropped and counted policy_denied (exactly);
#  2. without serve, a state-changing command (attach, apply) refreshes them:
#     an added address is trusted after it, a removed one no longer.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init
NODE=$NF_PREFIX-node
POD=$NF_PREFIX-pod
P=$NF_PREFIX
TENANT=hal
POD_IP=10.231.0.2
NEW=10.231.0.77
NEW2=10.231.0.78
WORK=$(mktemp -d /tmp/nfhal.XXXXXX)
trap 'r=$?; rm -rf "$WORK"; (exit $r); nf_cleanup' EXIT

NFN() { in_ns "$NODE" "$NF" "$@"; }
verdict() { NFN check --tenant "$TENANT" --direction ingress --peer "$1" --proto udp --port 8080 | tail -1; }
# wait_verdict ADDR allow|deny: poll up to 10 s; prints the milliseconds it took
wait_verdict() {
	local t0 i
	t0=$(date +%s%N)
	for i in $(seq 200); do
		[[ $(verdict "$1") == "$2"* ]] && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
		sleep 0.05
	done
	return 1
}
# udp_from SRC SPORT N: N datagrams from SRC:SPORT (IP_TRANSPARENT: sent from
# SRC even when it is not, or no longer, the node's) to the pod's echo server;
# prints the replies received
udp_from() {
	in_ns "$NODE" python3 - "$1" "$2" "$3" "$POD_IP" <<'EOF'
import socket, sys
src, sport, n, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
s.bind((src, sport))
s.settimeout(0.5)
got = 0
for _ in range(n):
    s.sendto(b"x", (dst, 8080))
    try:
        s.recvfrom(64); got += 1
    except socket.timeout:
        pass
print(got)
EOF
}
tcp_from() { # SRC
	in_ns "$NODE" python3 - "$1" "$POD_IP" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[2], 8081), timeout=2, source_address=(sys.argv[1], 0))
s.sendall(b"ping\n")
assert s.recv(16).startswith(b"ping")
EOF
}
denied() { nf_stat "$TENANT" ingress policy_denied tc; }

nf_netns "$NODE"
nf_netns "$POD"
for ns in "$NODE" "$POD"; do
	in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done
in_ns "$NODE" ip link add "${P}n" type veth peer name eth0 netns "$POD" || { fail "veth"; nf_done; }
in_ns "$NODE" ip addr add 10.231.0.1/24 dev "${P}n"
in_ns "$POD" ip addr add "$POD_IP/24" dev eth0
in_ns "$NODE" ip link set "${P}n" up
in_ns "$POD" ip link set eth0 up
udp_server "$POD" 8080
tcp_server "$POD" 8081

NFN attach --tenant "$TENANT" --iface eth0 --netns "/var/run/netns/$POD" || { fail "attach"; nf_done; }
[[ $(verdict 10.231.0.1) == allow* ]] && ok "the node's address at load is trusted" ||
	fail "node address at load: $(verdict 10.231.0.1)"

PORT=$(in_ns "$NODE" python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nf_bg "$NODE" "$NF" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1
for _ in $(seq 100); do
	in_ns "$NODE" curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && break
	sleep 0.1
done

# ---- 1. serve follows address events
[[ $(verdict $NEW) == deny* ]] && ok "$NEW is not the node yet" || fail "before: $(verdict $NEW)"
d0=$(denied)
expect_eq_n() { [ "$2" = "$3" ] && ok "$1" || fail "$1: got $2, want $3"; }
expect_eq_n "from $NEW before: no reply" "$(udp_from $NEW 40001 3)" 0
expect_eq_n "3 datagrams denied (policy_denied)" $(($(denied) - d0)) 3

in_ns "$NODE" ip addr add "$NEW/32" dev "${P}n"
if ms=$(wait_verdict $NEW allow); then
	ok "address added to the node: trusted after ${ms} ms"
	[ "$ms" -le 1000 ] || echo "  note: slower than the 1 s the SPEC promises (busy machine?)"
else
	fail "added address not trusted within 10 s: $(verdict $NEW)"
fi
d0=$(denied)
expect_eq_n "UDP from the new node address answered" "$(udp_from $NEW 40002 3)" 3
tcp_from $NEW && ok "TCP from the new node address" || fail "TCP from the new node address"
expect_eq_n "nothing denied meanwhile" $(($(denied) - d0)) 0

in_ns "$NODE" ip addr del "$NEW/32" dev "${P}n"
if ms=$(wait_verdict $NEW deny); then
	ok "address removed from the node: no longer trusted after ${ms} ms"
else
	fail "removed address still trusted after 10 s: $(verdict $NEW)"
fi
d0=$(denied)
expect_eq_n "from the removed address: no reply" "$(udp_from $NEW 40003 3)" 0
expect_eq_n "its 3 datagrams denied (policy_denied)" $(($(denied) - d0)) 3
grep -q 'node addresses: 1 added' "$WORK/serve.log" && grep -q 'node addresses: 0 added, 1 removed' "$WORK/serve.log" &&
	ok "serve logged both changes" || { fail "serve log"; cat "$WORK/serve.log"; }

# ---- 2. without serve: every state-changing command refreshes them
kill "${_nf_pids[-1]}"
wait "${_nf_pids[-1]}" 2>/dev/null
in_ns "$NODE" ip addr add "$NEW2/32" dev "${P}n"
sleep 1.5
[[ $(verdict $NEW2) == deny* ]] && ok "no serve: a new address is not followed by itself" ||
	fail "no serve, before a command: $(verdict $NEW2)"
NFN attach --tenant "$TENANT" --iface eth0 --netns "/var/run/netns/$POD" || fail "attach again"
[[ $(verdict $NEW2) == allow* ]] && ok "attach refreshed: $NEW2 trusted" || fail "after attach: $(verdict $NEW2)"
in_ns "$NODE" ip addr del "$NEW2/32" dev "${P}n"
cat >"$WORK/p.json" <<EOF
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"none","namespace":"hal-other"},
 "spec":{"podSelector":{},"policyTypes":["Ingress"],"ingress":[]}}
EOF
NFN apply "$WORK/p.json" >/dev/null || fail "apply"
[[ $(verdict $NEW2) == deny* ]] && ok "apply refreshed: $NEW2 no longer trusted" ||
	fail "after apply: $(verdict $NEW2)"
d0=$(denied)
expect_eq_n "from $NEW2 after its removal: no reply" "$(udp_from $NEW2 40004 2)" 0
expect_eq_n "its 2 datagrams denied" $(($(denied) - d0)) 2
nf_done
