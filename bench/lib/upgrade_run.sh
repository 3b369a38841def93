#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The measurement of bench/lib/upgrade.sh, run in a private mount namespace
# (tests/e2e/lib/private.sh): its own bpffs and /run/netfence, so the test
# variant of the datapath never replaces the node's.
#
#   nfb-up-a 10.201.0.1 --veth-- nfb-up-b 10.201.0.2, netfence (tc) on both
#   ends, tenant nfbench-up: a's egress and b's ingress allow udp/5400 and
#   tcp/5500; what comes back is allowed by conntrack alone.
#
# build/netfence loads this build's datapath version (V1); a UDP stream at 20,000 packets/s with
# sequence numbers and a TCP stream paced at 50 MB/s run from a to b; then
# build/next/netfence upgrade. Writes one line of key=value pairs to
# DIR/result, or the reason it could not measure to DIR/why.
# Usage: upgrade_run.sh DIR (OUT and BENCH_BIN in the environment)
set -u
cd "$(dirname "$0")/../.." || exit 1
DIR=$1
OUT=${OUT:-build}
BENCH_BIN=${BENCH_BIN:-$OUT/bench}
NF=$OUT/netfence
NEXT=$OUT/next/netfence
VA=nfb-up-a VB=nfb-up-b
ADDR_A=10.201.0.1 ADDR_B=10.201.0.2
PORT_UDP=5400 PORT_STREAM=5500
TENANT=nfbench-up
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$NEXT" reset >/dev/null 2>&1
	ip netns del "$VA" 2>/dev/null
	ip netns del "$VB" 2>/dev/null
}
trap cleanup EXIT
# give_up REASON: the row says n/a (REASON)
give_up() { echo "$*" >"$DIR/why"; exit 0; }
in_ns() { local n=$1; shift; nsenter --net="/var/run/netns/$n" "$@"; }
bg_ns() { local n=$1; shift; nsenter --net="/var/run/netns/$n" "$@" & pids+=($!); }
kv() { tail -n 1 "$2" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"; }
wait_ready() {
	for _ in $(seq 50); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
drops() {
	"$NEXT" stats --json 2>/dev/null |
		jq -r --arg t "$TENANT" '[.tenants[]? | select(.tenant == $t) | .drops[]?.packets] | add // 0'
}
# sample: "SECONDS UDP_DATAGRAMS_RECEIVED_BY_B TCP_BYTES_ACKED_TO_A"
sample() {
	local udp tcp t
	udp=$(in_ns "$VB" awk '/^Udp:/ { if (seen) { print $2; exit } seen = 1 }' /proc/net/snmp)
	t=$EPOCHREALTIME
	tcp=$(in_ns "$VA" ss -tinH "( dport = :$PORT_STREAM )" | grep -o 'bytes_acked:[0-9]*' | head -1)
	echo "$t ${udp:-0} ${tcp#bytes_acked:}"
}
# rate FROM TO FIELD: per second between two samples
rate() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { split(a, x, " "); split(b, y, " ");
	if (y[1] > x[1]) printf "%.0f", (y[f] - x[f]) / (y[1] - x[1]) }'; }

ip netns del "$VA" 2>/dev/null; ip netns del "$VB" 2>/dev/null
ip netns add "$VA" && ip netns add "$VB" || give_up "cannot create network namespaces"
ip -n "$VA" link set lo up; ip -n "$VB" link set lo up
ip link add nfb0 netns "$VA" type veth peer name nfb0 netns "$VB" || give_up "cannot create a veth pair"
ip -n "$VA" addr add "$ADDR_A/24" dev nfb0
ip -n "$VB" addr add "$ADDR_B/24" dev nfb0
ip -n "$VA" link set nfb0 up
ip -n "$VB" link set nfb0 up

for ns in "$VA" "$VB"; do
	err=$("$NF" attach --tenant "$TENANT" --iface nfb0 --netns "/var/run/netns/$ns" 2>&1) ||
		give_up "netfence attach failed: $err"
done
cat >"$DIR/policy.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"streams","namespace":"$TENANT"},
 "spec":{"podSelector":{},"policyTypes":["Ingress","Egress"],
  "egress":[{"to":[{"ipBlock":{"cidr":"$ADDR_B/32"}}],
             "ports":[{"protocol":"UDP","port":$PORT_UDP},{"protocol":"TCP","port":$PORT_STREAM}]}],
  "ingress":[{"from":[{"ipBlock":{"cidr":"$ADDR_A/32"}}],
              "ports":[{"protocol":"UDP","port":$PORT_UDP},{"protocol":"TCP","port":$PORT_STREAM}]}]}}
JSON
err=$("$NF" apply "$DIR/policy.json" 2>&1) || give_up "netfence apply failed: $err"
# this build's datapath version, and the variant's one up (include/netfence/abi.h)
V1=$(sed -n '/^#else/,/^#endif/s/^#define NF_DATAPATH_VERSION[[:space:]]*\([0-9]*\).*/\1/p' \
	include/netfence/abi.h)
V2=$((V1 + 1))
v=$("$NF" status --json 2>/dev/null | jq -r '.datapath.version // empty')
[ "$v" = "$V1" ] || give_up "build/netfence loaded datapath version '${v:-none}', not $V1"

: >"$DIR/udp.out"; : >"$DIR/tcp.out"
bg_ns "$VB" taskset -c 1 "$BENCH_BIN/bench_net" udp-sink --port "$PORT_UDP" --idle-ms 2000 >"$DIR/udp.out" 2>&1
bg_ns "$VB" taskset -c 1 "$BENCH_BIN/bench_net" tcp-sink --port "$PORT_STREAM" --idle-ms 2000 >"$DIR/tcp.out" 2>&1
wait_ready "$DIR/udp.out" && wait_ready "$DIR/tcp.out" || give_up "the sinks did not start"
d0=$(drops)
bg_ns "$VA" taskset -c 0 "$BENCH_BIN/bench_net" udp-flood --dst "$ADDR_B" --port "$PORT_UDP" \
	--pps 20000 --seconds 60 >"$DIR/udp.send" 2>&1
uflood=${pids[-1]}
bg_ns "$VA" taskset -c 0 "$BENCH_BIN/bench_net" tcp-stream --dst "$ADDR_B" --port "$PORT_STREAM" \
	--rate 50000000 --seconds 60 >"$DIR/tcp.send" 2>&1
tstream=${pids[-1]}
sleep 1
s0=$(sample)
sleep 2
s1=$(sample)
t0=$EPOCHREALTIME
"$NEXT" upgrade >"$DIR/upgrade.out" 2>&1
rc=$?
t1=$EPOCHREALTIME
s2=$(sample)
sleep 1
kill -TERM "$uflood" "$tstream" 2>/dev/null
wait "$uflood" "$tstream" 2>/dev/null
for _ in $(seq 50); do [ -n "$(kv received "$DIR/udp.out")" ] && [ -n "$(kv bytes "$DIR/tcp.out")" ] && break; sleep 0.1; done
d1=$(drops)
[ "$rc" = 0 ] || give_up "netfence upgrade failed (exit $rc): $(head -3 "$DIR/upgrade.out")"
v=$("$NEXT" status --json 2>/dev/null | jq -r '.datapath.version // empty')
[ "$v" = "$V2" ] || give_up "after netfence upgrade the datapath is version '${v:-none}', not $V2"
[ -n "$(kv received "$DIR/udp.out")" ] || give_up "the UDP sink reported nothing"
[ -n "$(kv retransmits "$DIR/tcp.send")" ] || give_up "the TCP stream reported nothing"
echo "udp_lost=$(kv lost "$DIR/udp.out") udp_received=$(kv received "$DIR/udp.out")" \
	"udp_pps_before=$(rate "$s0" "$s1" 2) udp_pps_during=$(rate "$s1" "$s2" 2)" \
	"tcp_retrans=$(kv retransmits "$DIR/tcp.send")" \
	"tcp_bytes_s_before=$(rate "$s0" "$s1" 3) tcp_bytes_s_during=$(rate "$s1" "$s2" 3)" \
	"drops=$((d1 - d0)) upgrade_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" >"$DIR/result"
