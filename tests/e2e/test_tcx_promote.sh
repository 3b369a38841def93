#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `serve` moves veth endpoints from clsact (the hook attach and CNI ADD use:
# no RCU wait on the ADD path) to tcx (cheaper per packet), off the ADD path
# (userspace/cmd/promote.c):
#  - an attached endpoint is on clsact; with serve running it is on tcx within
#    seconds, its filters gone, and every packet is still judged exactly once
#    at each point (counter deltas equal the packets sent, both directions);
#  - a stream through an endpoint attached while serve runs loses nothing
#    across the move;
#  - serve killed between its tcx attaches leaves the endpoint enforced (a
#    mix, each packet judged once), and the next serve finishes the move;
#  - the clsact qdisc an attach made goes after the move, but not while the
#    node sends towards the pod: a stream into pod 1 across the move loses
#    nothing (removing the qdisc of an interface that is up drops what it
#    transmits meanwhile), and the qdisc goes once the stream is over; one
#    another tool made (pod 3), or one holding another tool's filter
#    (pod 2), stays;
#  - an endpoint sent to without a pause for 12 s: after 8 busy checks serve
#    says it looks less often, the qdisc stays, nothing is lost, and the
#    qdisc still goes once the stream is over;
#  - NETFENCE_TC_HOOK=clsact keeps endpoints on clsact;
#  - detach takes the tcx programs off (traffic flows unjudged again).
#   $NODE: ${P}hI 10.234.I.1/24 <-veth-> $POD-I: eth0 10.234.I.2/24, I = 1..3, tenant tp
#   the node forwards between the pods.
# Tenant tp: egress to 10.234.0.0/16 UDP 5000 and 6000 only; no ingress.
# IPv6 off and static neighbours, so the only packets are the ones counted.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init
NODE=$NF_PREFIX-node
POD=$NF_PREFIX-pod
P=$NF_PREFIX
TENANT=tp
WORK=$(mktemp -d /tmp/nftcx.XXXXXX)
trap 'r=$?; rm -rf "$WORK"; (exit $r); nf_cleanup' EXIT

NFN() { in_ns "$NODE" "$NF" "$@"; }
eq() { [ "$2" = "$3" ] && ok "$1" || fail "$1: got '$2', want '$3'"; }
mac() { in_ns "$1" ip link show dev "$2" 2>/dev/null | awk '/link\/ether/ { print $2 }'; }
# hook I: where pod I's programs run, from status --json
hook() {
	NFN status --json | jq -r --arg n "/var/run/netns/$POD-$1" \
		'[.endpoints[] | select(.netns == $n)] | if length == 0 then "absent" else .[0].attach.hook end'
}
# wait_eq TRIES WANT CMD...: run CMD every 0.1 s, at most TRIES times, until
# it prints WANT; prints the milliseconds taken
wait_eq() {
	local tries=$1 want=$2 t0 i
	shift 2
	t0=$(date +%s%N)
	for i in $(seq "$tries"); do
		[ "$("$@")" = "$want" ] && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
		sleep 0.1
	done
	return 1
}
# wait_hook I HOOK: poll status up to 15 s; prints the milliseconds taken
wait_hook() { wait_eq 150 "$2" hook "$1"; }
tcx_count() { in_ns "$NODE" python3 tests/e2e/lib/tchooks.py count "${P}h$1"; }
our_filters() {
	{ in_ns "$NODE" tc filter show dev "${P}h$1" ingress; in_ns "$NODE" tc filter show dev "${P}h$1" egress; } |
		grep -c 'handle 0x4e46'
}
clsacts() { in_ns "$NODE" tc qdisc show dev "${P}h$1" | grep -c '^qdisc clsact'; }
# wait_clsacts I N: poll up to 10 s for N clsact qdiscs on pod I's host side; prints ms taken
wait_clsacts() { wait_eq 100 "$2" clsacts "$1"; }
tx_dropped() { in_ns "$NODE" ip -j -s link show dev "${P}h$1" | jq '.[0].stats64.tx.dropped'; }
u32_filters() { in_ns "$NODE" tc filter show dev "${P}h$1" ingress | grep -c 'u32.*fh 800::800'; }
# send NS SRC DST PORT N [PPS]: N datagrams of 16 bytes (sequence numbers), at PPS
send() {
	in_ns "$1" python3 - "$2" "$3" "$4" "$5" "${6:-0}" <<'EOF'
import socket, struct, sys, time
src, dst, port, n, pps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
t0 = time.monotonic()
for i in range(n):
    if pps:
        d = t0 + i / pps - time.monotonic()
        if d > 0:
            time.sleep(d)
    try:
        s.sendto(struct.pack("!Q", i) + b"x" * 8, (dst, port))
    except OSError:
        pass
EOF
}
# recv_start NS ADDR PORT FILE: count distinct datagrams into FILE once idle 1.5 s (max 30 s)
recv_start() {
	nf_bg "$1" python3 "$WORK/recv.py" "$2" "$3" "$4"
	for _ in $(seq 100); do [ -e "$4.ready" ] && return 0; sleep 0.05; done
	return 1
}
recv_wait() { # FILE: the count, once written (40 s at most)
	for _ in $(seq 400); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.1; done
	echo none
}
# judged I WHAT: datagrams out of pod I to UDP 5001 (3) and into it from
# another pod (2: the node's own are let in) are each counted once as
# policy_denied; 4 to UDP 5000 arrive.
judged() {
	local j=$(($1 % 3 + 1))
	local eg0 in0 got
	eg0=$(nf_stat "$TENANT" egress policy_denied tc)
	in0=$(nf_stat "$TENANT" ingress policy_denied tc)
	recv_start "$NODE" "10.234.$1.1" 5000 "$WORK/ok$1.$2" || fail "$2: no receiver"
	send "$POD-$1" "10.234.$1.2" "10.234.$1.1" 5001 3
	send "$POD-$j" "10.234.$j.2" "10.234.$1.2" 6000 2
	send "$POD-$1" "10.234.$1.2" "10.234.$1.1" 5000 4
	got=$(recv_wait "$WORK/ok$1.$2")
	eq "$2: 3 datagrams out denied, each counted once" \
		$(($(nf_stat "$TENANT" egress policy_denied tc) - eg0)) 3
	eq "$2: 2 datagrams in denied, each counted once" \
		$(($(nf_stat "$TENANT" ingress policy_denied tc) - in0)) 2
	eq "$2: 4 allowed datagrams arrived" "$got" 4
}
serve_start() { # [ENV=VALUE...]: serve in $NODE, its log in $WORK/serve.log
	nf_bg "$NODE" env "$@" "$NF" serve --listen "127.0.0.1:$PORT" >>"$WORK/serve.log" 2>&1
	SERVE=$!
	for _ in $(seq 100); do
		in_ns "$NODE" curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && return 0
		sleep 0.1
	done
	fail "serve did not start"
}
serve_stop() { kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null; }
attach() { NFN attach --tenant "$TENANT" --iface eth0 --netns "/var/run/netns/$POD-$1"; }

cat >"$WORK/recv.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[3] + ".ready", "w").close()
seen, t_end = set(), time.monotonic() + 30
s.settimeout(3.0)
while time.monotonic() < t_end:
    try:
        d = s.recv(64)
    except socket.timeout:
        break
    seen.add(d[:8])
    s.settimeout(1.5)
open(sys.argv[3], "w").write(str(len(seen)))
EOF
nf_netns "$NODE"
in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=1
for ns in "$NODE" "$POD-1" "$POD-2" "$POD-3"; do
	[ "$ns" = "$NODE" ] || nf_netns "$ns"
	in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done
for i in 1 2 3; do
	in_ns "$NODE" ip link add "${P}h$i" type veth peer name eth0 netns "$POD-$i" || { fail "veth $i"; nf_done; }
	in_ns "$NODE" ip addr add "10.234.$i.1/24" dev "${P}h$i"
	in_ns "$POD-$i" ip addr add "10.234.$i.2/24" dev eth0
	in_ns "$NODE" ip link set "${P}h$i" up
	in_ns "$POD-$i" ip link set eth0 up
	in_ns "$POD-$i" ip neigh replace "10.234.$i.1" nud permanent dev eth0 lladdr "$(mac "$NODE" "${P}h$i")"
	in_ns "$NODE" ip neigh replace "10.234.$i.2" nud permanent dev "${P}h$i" lladdr "$(mac "$POD-$i" eth0)"
	in_ns "$POD-$i" ip route add default via "10.234.$i.1"
done
cat >"$WORK/p.json" <<EOF
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"p","namespace":"$TENANT"},
 "spec":{"podSelector":{},"policyTypes":["Ingress","Egress"],
  "egress":[{"to":[{"ipBlock":{"cidr":"10.234.0.0/16"}}],"ports":[{"protocol":"UDP","port":5000},{"protocol":"UDP","port":6000}]}]}}
EOF
NFN apply "$WORK/p.json" >/dev/null || { fail "apply"; nf_done; }
PORT=$(in_ns "$NODE" python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

if ! in_ns "$NODE" python3 tests/e2e/lib/tchooks.py count lo >/dev/null 2>&1; then
	nf_skip "this kernel has no tcx (Linux 6.6+)"
fi

# ---- attached: on clsact
eq "before attach: no clsact qdisc on ${P}h1" "$(clsacts 1)" 0
attach 1 || { fail "attach 1"; nf_done; }
eq "attached: on clsact" "$(hook 1)" clsact
eq "attached: the clsact qdisc it made" "$(clsacts 1)" 1
eq "attached: our filters at both points" "$(our_filters 1)" 2
judged 1 "on clsact"

# ---- serve moves it to tcx while the node sends to it (the node's own are let in)
drop0=$(tx_dropped 1)
recv_start "$POD-1" 10.234.1.2 7000 "$WORK/into1" || fail "receiver in pod 1"
send "$NODE" 10.234.1.1 10.234.1.2 7000 8000 2000 &	# 4 s; the move comes after 1-2 s
STREAM=$!
_nf_pids+=("$STREAM")
serve_start
if ms=$(wait_hook 1 tcx); then ok "serve moved it to tcx after ${ms} ms"; else fail "not on tcx: $(hook 1)"; fi
eq "on tcx: 2 tcx programs" "$(tcx_count 1)" 2
eq "on tcx: our filters gone" "$(our_filters 1)" 0
kill -0 "$STREAM" 2>/dev/null || fail "the stream into pod 1 ended before the move: start it longer"
eq "on tcx, the node sending to it: the clsact qdisc its attach made stays" "$(clsacts 1)" 1
wait "$STREAM"
eq "stream into pod 1 across the move: 8000 of 8000 datagrams arrived" "$(recv_wait "$WORK/into1")" 8000
eq "no packet dropped on its way to pod 1" $(($(tx_dropped 1) - drop0)) 0
if ms=$(wait_clsacts 1 0); then ok "the stream over: the qdisc went after ${ms} ms"; else fail "the qdisc stayed"; fi
judged 1 "on tcx"
grep -q "endpoint [0-9]* (eth0, on ${P}h1): moved from clsact to tcx" "$WORK/serve.log" &&
	ok "logged" || { fail "not logged"; cat "$WORK/serve.log"; }
grep -q "endpoint [0-9]* (eth0, on ${P}h1): removed the clsact qdisc its attach made" \
	"$WORK/serve.log" && ok "its removal logged" || fail "its removal not logged"

# ---- attached while serve runs: a stream across the move loses nothing
recv_start "$NODE" 10.234.2.1 5000 "$WORK/stream" || fail "stream receiver"
attach 2 || fail "attach 2"
eq "pod 2 attached: on clsact first" "$(hook 2)" clsact
# another tool's filter on the qdisc netfence made (after ours: it never runs)
in_ns "$NODE" tc filter add dev "${P}h2" ingress prio 50 protocol all u32 match u32 0 0 flowid 1:1 ||
	fail "another tool's filter on ${P}h2"
send "$POD-2" 10.234.2.2 10.234.2.1 5000 10000 2000	# 5 s; the move comes after 1-2 s
got=$(recv_wait "$WORK/stream")
eq "pod 2 moved to tcx during its stream" "$(hook 2)" tcx
eq "stream across the move: 10000 of 10000 datagrams arrived" "$got" 10000
eq "pod 2 on tcx: its qdisc stays with the other tool's filter" "$(clsacts 2) $(u32_filters 2)" "1 1"
judged 2 "pod 2 on tcx"

# ---- serve killed between its tcx attaches: enforced, and finished later
serve_stop
# a clsact qdisc another tool made before the attach, with nothing on it
in_ns "$NODE" tc qdisc add dev "${P}h3" clsact || fail "another tool's clsact on ${P}h3"
attach 3 || fail "attach 3"
serve_start NETFENCE_TEST_STOP_AT=promote-tcx
stopped=""
for _ in $(seq 150); do
	[ "$(awk '{ print $3 }' "/proc/$SERVE/stat" 2>/dev/null)" = T ] && { stopped=$SERVE; break; }
	sleep 0.1
done
if [ -n "$stopped" ]; then
	kill -9 "$stopped"
	serve_stop
	eq "killed between its attaches: a mix" "$(hook 3)" tcx+clsact
	judged 3 "a mix"
	serve_start
	if ms=$(wait_hook 3 tcx); then ok "the next serve finished the move after ${ms} ms"; else fail "pod 3: $(hook 3)"; fi
	eq "pod 3: 2 tcx programs, no filter" "$(tcx_count 3) $(our_filters 3)" "2 0"
	eq "pod 3: the clsact qdisc another tool made stays" "$(clsacts 3)" 1
	judged 3 "pod 3 on tcx"
else
	fail "serve never reached the stop point (promote-tcx)"
fi

# ---- NETFENCE_TC_HOOK=clsact: left on clsact
serve_stop
NFN detach --iface eth0 --netns "/var/run/netns/$POD-3" || fail "detach 3"
attach 3 || fail "attach 3 again"
serve_start NETFENCE_TC_HOOK=clsact
sleep 2.5
eq "NETFENCE_TC_HOOK=clsact: still on clsact" "$(hook 3)" clsact
grep -q "NETFENCE_TC_HOOK=clsact: endpoints stay on clsact" "$WORK/serve.log" && ok "said so" ||
	fail "not said"
serve_stop

# ---- detach takes the tcx programs off
NFN detach --iface eth0 --netns "/var/run/netns/$POD-1" || fail "detach 1"
eq "detached: no tcx program, no filter" "$(tcx_count 1) $(our_filters 1)" "0 0"
eg0=$(nf_stat "$TENANT" egress policy_denied tc)
recv_start "$NODE" 10.234.1.1 5001 "$WORK/free" || fail "receiver"
send "$POD-1" 10.234.1.2 10.234.1.1 5001 3
eq "detached: UDP 5001 flows again" "$(recv_wait "$WORK/free")" 3
eq "detached: nothing judged" $(($(nf_stat "$TENANT" egress policy_denied tc) - eg0)) 0

# ---- sent to without a pause: serve backs off, and still removes the qdisc after
attach 1 || fail "attach 1 again"
eq "pod 1 attached again: its clsact qdisc" "$(clsacts 1)" 1
recv_start "$POD-1" 10.234.1.2 7000 "$WORK/long1" || fail "receiver in pod 1"
send "$NODE" 10.234.1.1 10.234.1.2 7000 6000 500 &	# 12 s: 8 busy checks and more
STREAM=$!
_nf_pids+=("$STREAM")
serve_start
if ms=$(wait_hook 1 tcx); then ok "serve moved it to tcx after ${ms} ms"; else fail "not on tcx: $(hook 1)"; fi
backoffs() { grep -c "endpoint [0-9]* (eth0, on ${P}h1): still sent to after 8 s" "$WORK/serve.log"; }
ms=$(wait_eq 150 1 backoffs)
kill -0 "$STREAM" 2>/dev/null || fail "the stream into pod 1 ended before the backoff: start it longer"
[ -n "$ms" ] && ok "busy for 8 checks: serve said once that it backs off (after ${ms} ms)" ||
	fail "serve did not say it backs off (said so $(backoffs) times)"
eq "backing off, the node still sending to it: the qdisc stays" "$(clsacts 1)" 1
wait "$STREAM"
eq "12 s stream into pod 1: 6000 of 6000 datagrams arrived" "$(recv_wait "$WORK/long1")" 6000
if ms=$(wait_eq 300 0 clsacts 1); then ok "the stream over: the qdisc went after ${ms} ms"; else fail "the qdisc stayed after the backoff"; fi
eq "its removal logged (pod 1's second)" "$(grep -c "endpoint [0-9]* (eth0, on ${P}h1): removed the clsact qdisc" "$WORK/serve.log")" 2
serve_stop
nf_done
