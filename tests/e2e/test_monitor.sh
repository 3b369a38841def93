#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `netfence monitor`: one denied datagram gives one event with the right tenant,
# direction, reason, hook, addresses, ports and interface (JSON Lines and text);
# `stats` counts it; without the datapath monitor fails and status says so.
#   $P-a: ${IFP}a 10.212.0.1/24  (endpoint of tenant $TENANT)
#   $P-b: ${IFP}b 10.212.0.2/24
set -uo pipefail
cd "$(dirname "$0")/../.."

NETFENCE=${NETFENCE:-build/netfence}
P=nfmon-$$
IFP=nfo$$
NSA=$P-a
NSB=$P-b
TENANT=mon-t1
A=10.212.0.1
B=10.212.0.2
FAILS=0
MON_PID=
WORK=
CG=

. tests/e2e/lib/check.sh

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[ -n "$MON_PID" ] && kill "$MON_PID" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	nf_reset "$NETFENCE" || rc=1
	[ -n "$CG" ] && rmdir "$CG/child" "$CG" 2>/dev/null
	[[ "$WORK" == /tmp/nfmon.* ]] && rm -rf "$WORK"
	[ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ] && rc=1
	echo "$FAILS failure(s)"
	exit "$rc"
}

# send_udp NS SRC SPORT DST DPORT
send_udp() {
	in_ns "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
try:
    s.sendto(b"hello", (sys.argv[3], int(sys.argv[4])))
except OSError:
    pass' "$2" "$3" "$4" "$5"
}

# start_monitor OUT ARGS...: background monitor, wait until it listens
start_monitor() {
	local out=$1; shift
	"$NETFENCE" monitor "$@" >"$out" 2>"$out.err" &
	MON_PID=$!
	for _ in $(seq 50); do
		grep -q monitoring "$out.err" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$out.err"
	die "monitor did not start"
}

wait_monitor() {
	wait "$MON_PID"
	local rc=$?
	MON_PID=
	return $rc
}

[ "$(id -u)" -eq 0 ] || skip "needs root"
for c in python3 jq ip nsenter; do
	command -v "$c" >/dev/null || die "$c not found"
done
[ -x "$NETFENCE" ] || die "$NETFENCE missing: run make"
WORK=$(mktemp -d /tmp/nfmon.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

pair_setup

"$NETFENCE" attach --tenant "$TENANT" --iface "${IFP}a" --netns "/var/run/netns/$NSA" ||
	die "attach failed"

# 1. JSON: one egress drop.
start_monitor "$WORK/ev1.json" --json --count 1 --timeout 10
send_udp "$NSA" "$A" 40001 "$B" 5001
wait_monitor; expect_eq "monitor --json --count 1 exit" "$?" 0
expect_eq "one line" "$(wc -l <"$WORK/ev1.json")" 1
ev=$(head -1 "$WORK/ev1.json")
echo "# $ev"
jf() { jq -r "$1" <<<"$ev"; }
expect_eq "tenant" "$(jf .tenant)" "$TENANT"
expect_eq "direction" "$(jf .direction)" egress
expect_eq "reason" "$(jf .reason)" policy_denied
expect_eq "hook" "$(jf .hook)" tc
expect_eq "proto" "$(jf .proto)" udp
expect_eq "saddr" "$(jf .saddr)" "$A"
expect_eq "sport" "$(jf .sport)" 40001
expect_eq "daddr" "$(jf .daddr)" "$B"
expect_eq "dport" "$(jf .dport)" 5001
expect_eq "ifindex" "$(jf .ifindex)" "$IFINDEX_A"
expect_eq "ifname" "$(jf .ifname)" "${IFP}a"
expect_eq "len (14+20+8+5)" "$(jf .len)" 47
jf .time | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' >/dev/null &&
	pass "RFC 3339 time" || fail "time: $(jf .time)"

# 2. Text: one ingress drop (B -> endpoint A); older events are not replayed.
start_monitor "$WORK/ev2.txt" --count 1 --timeout 10
send_udp "$NSB" "$B" 40003 "$A" 5003
wait_monitor; expect_eq "monitor --count 1 exit" "$?" 0
line=$(head -1 "$WORK/ev2.txt")
echo "# $line"
[[ "$line" == *" $TENANT ingress policy_denied tc udp $B:40003 -> $A:5003 len=47 if=$IFINDEX_A (${IFP}a in /var/run/netns/$NSA) network=default" ]] &&
	pass "text event line" || fail "text event line: '$line'"

# 3. --timeout before --count events: exit 1 (a count no one reaches in 1 s, so
# unrelated drops elsewhere on the node don't matter).
"$NETFENCE" monitor --json --count 100000 --timeout 1 >"$WORK/ev3.json" 2>/dev/null
expect_eq "timeout exit" "$?" 1

# 4. SIGINT stops it cleanly.
start_monitor "$WORK/ev4.json" --json
kill -INT "$MON_PID"
wait_monitor; expect_eq "SIGINT exit" "$?" 0

# 5. stats agrees.
"$NETFENCE" stats --json >"$WORK/stats.json"; expect_eq "stats exit" "$?" 0
jq -e . "$WORK/stats.json" >/dev/null && pass "stats --json is one JSON document" || fail "stats json"
sel=".tenants[] | select(.tenant == \"$TENANT\")"
expect_eq "stats egress drops" "$(jq -r "$sel | .drops[] | select(.direction == \"egress\" and .reason == \"policy_denied\" and .hook == \"tc\") | .packets" "$WORK/stats.json")" 1
expect_eq "stats ingress drop bytes" "$(jq -r "$sel | .drops[] | select(.direction == \"ingress\") | .bytes" "$WORK/stats.json")" 47
expect_eq "stats allowed egress" "$(jq -r "$sel | .allowed_flows.egress" "$WORK/stats.json")" 0
"$NETFENCE" stats | grep -E "^$TENANT +egress +policy_denied +tc +1 +47$" >/dev/null && pass "stats table" ||
	fail "stats table: $("$NETFENCE" stats)"

# 6. status shows the tenant and its endpoint.
"$NETFENCE" status --json >"$WORK/status.json"; expect_eq "status exit" "$?" 0
expect_eq "status loaded" "$(jq -r .datapath.loaded "$WORK/status.json")" true
expect_eq "status tenant endpoints" "$(jq -r ".tenants[] | select(.name == \"$TENANT\") | .endpoints" "$WORK/status.json")" 1
expect_eq "status endpoint iface" "$(jq -r ".endpoints[] | select(.tenant == \"$TENANT\") | .iface" "$WORK/status.json")" "${IFP}a"
expect_eq "status ct map capacity" "$(jq -r '.maps[] | select(.name == "ct") | .capacity' "$WORK/status.json")" 262144
"$NETFENCE" status | grep "${IFP}a (ifindex $IFINDEX_A) in /var/run/netns/$NSA" >/dev/null &&
	pass "status text endpoint" || fail "status text: $("$NETFENCE" status)"

# 7. A cgroup endpoint: the event names the hook and the endpoint's cgroup, also
# when the sender sits in a child of the fenced cgroup.
CGROOT=$(findmnt -t cgroup2 -n -o TARGET | head -1)
if [ -n "$CGROOT" ]; then
	CG=$CGROOT/$P
	mkdir -p "$CG/child" || die "cannot create $CG"
	"$NETFENCE" attach --tenant "$TENANT" --cgroup "$CG" || fail "attach --cgroup"
	start_monitor "$WORK/ev6.json" --json --count 1 --timeout 10
	in_ns "$NSA" sh -c 'echo $$ >"$1/cgroup.procs" && exec python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((\"10.212.0.1\", 40006))
try:
    s.sendto(b\"hello\", (\"10.212.0.2\", 5006))
except OSError:
    pass"' sh "$CG/child"
	wait_monitor; expect_eq "cgroup event exit" "$?" 0
	ev=$(head -1 "$WORK/ev6.json")
	echo "# $ev"
	expect_eq "cgroup: tenant" "$(jf .tenant)" "$TENANT"
	expect_eq "cgroup: hook" "$(jf .hook)" cgroup
	expect_eq "cgroup: direction" "$(jf .direction)" egress
	expect_eq "cgroup: dport" "$(jf .dport)" 5006
	expect_eq "cgroup: path" "$(jf .cgroup)" "$CG"
	"$NETFENCE" detach --cgroup "$CG" || fail "detach --cgroup"
else
	nf_skip_part "cgroup events: no cgroup2 mount"
fi

# 8. Lost events: with nf_config.events_per_sec = 1 (a bucket of one token), a
# burst of 10 denied datagrams gives at most 2 events, and the rest is reported
# as lost. struct nf_config { flags, ipc_epoch, events_per_sec, pad }, little endian.
CFG=/sys/fs/bpf/netfence/nf_config
set_rate() {
	local cur new
	cur=$(bpftool -j map lookup pinned "$CFG" key 0 0 0 0 | jq -r '.value | join(" ")') || return 1
	new=$(python3 -c '
import sys
v = [int(x, 16) for x in sys.argv[1].split()]
v[8:12] = int(sys.argv[2]).to_bytes(4, "little")
print(" ".join(str(b) for b in v))' "$cur" "$1")
	bpftool map update pinned "$CFG" key 0 0 0 0 value $new
}
if command -v bpftool >/dev/null; then
	old_rate=$(bpftool -j map lookup pinned "$CFG" key 0 0 0 0 | python3 -c '
import json, sys
v = [int(x, 16) for x in json.load(sys.stdin)["value"]]
print(int.from_bytes(bytes(v[8:12]), "little"))')
	set_rate 1 || fail "cannot set events_per_sec"
	sleep 1.1	# the bucket refills to its one token
	start_monitor "$WORK/ev5.json" --json --timeout 3
	in_ns "$NSA" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.212.0.1", 40005))
for _ in range(10):
    try:
        s.sendto(b"hello", ("10.212.0.2", 5005))
    except OSError:
        pass'
	wait_monitor; expect_eq "monitor --timeout exit" "$?" 0
	set_rate "$old_rate" || fail "cannot restore events_per_sec"
	sed 's/^/# /' "$WORK/ev5.json"
	nev=$(jq -s "[.[] | select(.tenant == \"$TENANT\" and .dport == 5005)] | length" "$WORK/ev5.json")
	lost=$(jq -s '[.[] | .lost // 0] | add // 0' "$WORK/ev5.json")
	[ "$nev" -ge 1 ] && [ "$nev" -le 2 ] && pass "rate limited events ($nev)" ||
		fail "rate limited events: $nev"
	[ $((nev + lost)) -ge 10 ] && pass "lost reported ($lost)" || fail "lost: $lost (events $nev)"
	grep -q '^{"lost":[0-9]*}$' "$WORK/ev5.json" && pass "lost line format" || fail "lost line format"
else
	nf_skip_part "lost events: bpftool not found"
fi

# 9. The datapath replaced under a running monitor (reset and load again; an
# upgrade that resizes the ring buffer is the same case): it follows the new
# ring buffer and reports the new programs' drops.
start_monitor "$WORK/ev7.json" --json --count 1 --timeout 20
"$NETFENCE" reset >/dev/null 2>&1 || fail "reset"
"$NETFENCE" attach --tenant "$TENANT" --iface "${IFP}a" --netns "/var/run/netns/$NSA" ||
	fail "attach after the reset"
for _ in $(seq 40); do	# until it says so (it looks once a second)
	grep -q "following its ring buffer" "$WORK/ev7.json.err" && break
	sleep 0.1
done
send_udp "$NSA" "$A" 40009 "$B" 5009
wait_monitor; expect_eq "monitor across a reset: exit" "$?" 0
grep -q "following its ring buffer" "$WORK/ev7.json.err" && pass "monitor followed the new datapath" ||
	fail "monitor did not follow: $(cat "$WORK/ev7.json.err")"
expect_eq "the new datapath's drop" "$(jq -r '"\(.tenant) \(.dport)"' "$WORK/ev7.json" | head -1)" "$TENANT 5009"

# 10. Without the datapath: monitor fails, status and stats say so and succeed.
"$NETFENCE" reset >/dev/null 2>&1 || fail "reset"
"$NETFENCE" monitor --count 1 --timeout 1 >/dev/null 2>"$WORK/nodp.err"
expect_eq "monitor without datapath" "$?" 1
grep -q "not loaded" "$WORK/nodp.err" && pass "monitor says not loaded" || fail "monitor message"
out=$("$NETFENCE" status); rc=$?
expect_eq "status without datapath exit" "$rc" 0
expect_eq "status without datapath" "$(head -1 <<<"$out")" "datapath not loaded"
expect_eq "status --json without datapath" "$("$NETFENCE" status --json | jq -r .datapath.loaded)" false
expect_eq "stats --json without datapath" "$("$NETFENCE" stats --json | jq -c .tenants)" "[]"
