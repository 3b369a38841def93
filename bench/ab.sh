#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bench/ab.sh: two netfence builds side by side on the veth connect loop (or
# the 64-byte UDP flood), for development. Not part of `make bench`.
#
#   bash bench/ab.sh [--udp] [--pair] [--rounds N] [--seconds S] NETFENCE_A NETFENCE_B
#
# Run as root from the repository's top, after `make all` (bench_net and
# bench_tcx come from ./build). Each binary loads its own datapath in a
# private mount namespace (tests/e2e/lib/private.sh: its own bpffs and
# /run/netfence, never the node's), with the bench's 10,000-rule tenant on
# its own veth pair, moved to tcx by its own `serve`, as the veth rows of
# `make bench` set netfence up: the receiver the endpoint, enforced on its
# host-side peer (with --pair both ends endpoints, as the -pair rows).
# Beside them: no filter and the stateful floor through tcx, attached the
# same way. One client (bench_net --netns) takes 100 ms turns between the
# four pairs, ROUNDS rounds of SECONDS each, so all four see the same swings
# of the machine. Printed: each round's rates, the paired ratios to no filter
# and A/B, and from kernel.bpf_stats_enabled (on for the run, then restored)
# each side's program time per connection (per packet sent with --udp) and
# the floor's. With the default 9 rounds of 2 s, builds that differ only
# off this path measure A/B 0.99-1.00 in rates and within 1% in program time
# (20 ns of a connection's ~2 us); a single 1 s round varies by 5%.
#
# --perf (needs perf): after the rounds, the same client sends to A's pair
# alone while `perf record` samples for 2 s (the sender's CPU 0 with --udp,
# where the flood runs both programs; both CPUs for connections, which
# cross them). Printed: the share of the samples in A's tc_peer, and its
# source lines by samples (bench_jitlines maps each sample's address to the
# line info of the program's JIT image): where the real path's program time
# goes, which BPF_PROG_TEST_RUN's tight loops, all in the cache, don't show.
# Namespaces: nfab-*, removed on exit.
set -u
usage() { echo "usage: bash bench/ab.sh [--udp] [--pair] [--perf] [--rounds N] [--seconds S] NETFENCE_A NETFENCE_B" >&2; exit 2; }

OUT=build
WORK=""
MODE=CONN
ROUNDS=9
PERF=""
SECS=2
PAIR=""	# "-pair": both ends endpoints (the bench's -pair configurations)

# pair_up CONFIG LABEL OUT: CONFIG's veth pair with its filter (bench/lib/veth.sh)
# and, in its receiver, the server of the measurement (output in OUT); says
# why, as LABEL, and fails when it can't.
pair_up() {
	local why mode=tcp-accept port=$PORT_CONN

	[ "$MODE" = UDP ] && mode=udp-sink port=$PORT_UDP
	use_pair "$1"
	veth_up || { echo "$2: veth setup failed"; return 1; }
	why=$(veth_filter "$1") || { echo "$2: $why"; return 1; }
	bg_ns "$VB" taskset -c 1 "$BENCH_BIN/bench_net" "$mode" --port "$port" \
		--idle-ms 100000000 >"$3" 2>&1
	wait_ready "$3" || { echo "$2: its $mode did not start"; return 1; }
}

# ---- one side: a datapath of its own, its pair, its server; until $STATE/stop ----
if [ "${1:-}" = --side ]; then
	TAG=$2 NF=$3 STATE=$4 MODE=$5 PAIR=${6:-}
	BENCH_NS_PREFIX=nfab-${TAG,,}-
	WORK=$(mktemp -d /tmp/nfab.XXXXXX)
	# shellcheck source=bench/lib/common.sh
	. bench/lib/common.sh
	# shellcheck source=bench/lib/rules.sh
	. bench/lib/rules.sh
	# shellcheck source=bench/lib/veth.sh
	. bench/lib/veth.sh
	trap 'jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null; cleanup_netns; cleanup_tenants; rm -rf "$WORK"' EXIT
	trap 'exit 143' INT TERM	# the cleanup above runs when the driver stops us too
	cleanup_netns
	nf_probe || { echo "side $TAG: $NF_WHY"; exit 1; }
	NF_VETH_WHY=""
	veth_prepare
	[ -n "$NF_VETH_WHY" ] && { echo "side $TAG: $NF_VETH_WHY"; exit 1; }
	pair_up "netfence$PAIR" "side $TAG" "$WORK/server" || exit 1
	"$NF" status | grep -m1 datapath | sed "s/^/side $TAG: /"
	# the client enters the sender's netns through this process's
	bg_ns "$VA" sleep 1000000
	echo "$BG_PID" >"$STATE/pid.$TAG"
	while [ ! -e "$STATE/stop" ]; do sleep 0.5; done
	exit 0
fi

# ---- the driver ----
while [ $# -gt 0 ]; do
	case $1 in
	--udp) MODE=UDP; shift ;;
	--rounds) ROUNDS=${2:-}; shift 2 ;;
	--seconds) SECS=${2:-}; shift 2 ;;
	--perf) PERF=1; shift ;;
	--pair) PAIR=-pair; shift ;;
	--main) IN_PRIVATE=1; shift ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || usage
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$SECS" =~ ^[1-9][0-9]*$ ]] || usage
NFA=$(realpath "$1") NFB=$(realpath "$2")
if [ ! -x "$NFA" ] || [ ! -x "$NFB" ]; then
	echo "ab.sh: $1 or $2 is not an executable" >&2
	exit 2
fi
if [ ! -x "$OUT/bench/bench_net" ] || [ ! -x "$OUT/bench/bench_tcx" ]; then
	echo "ab.sh: build/bench/bench_net or bench_tcx missing: run make all" >&2
	exit 1
fi
if [ -z "${IN_PRIVATE:-}" ]; then
	args=(--rounds "$ROUNDS" --seconds "$SECS")
	[ -n "$PERF" ] && args+=(--perf)
	[ "$MODE" = UDP ] && args+=(--udp)
	[ -n "$PAIR" ] && args+=(--pair)
	exec unshare --mount --propagation private tests/e2e/lib/private.sh \
		bash bench/ab.sh --main "${args[@]}" "$NFA" "$NFB"
fi

WORK=$(mktemp -d /tmp/nfab.XXXXXX)
BENCH_NS_PREFIX=nfab-r-
# shellcheck source=bench/lib/common.sh
. bench/lib/common.sh
# shellcheck source=bench/lib/rules.sh
. bench/lib/rules.sh
# shellcheck source=bench/lib/veth.sh
. bench/lib/veth.sh
FLOOR_PIN=/sys/fs/bpf/nfab-floor
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
SIDES=()
finish() {
	trap - EXIT INT TERM
	touch "$WORK/stop"
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	# the sides see stop and clean up their own namespaces (made in their
	# mount namespaces: from here, only they can remove them)
	for i in $(seq 60); do
		kill -0 "${SIDES[@]}" 2>/dev/null || break
		sleep 0.5
	done
	jobs -p | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	cleanup_netns
	rm -rf "$WORK" "$FLOOR_PIN"
}
trap finish EXIT
trap 'exit 130' INT TERM
cleanup_netns

# The ids of the programs each side loads: started one after the other.
# (tc_peer since datapath 6; the two before it for builds older than that.)
nf_prog_ids() {
	bpftool prog show -j | jq -r '.[] | select(.name == "tc_peer" or
		.name == "tc_peer_ingress" or .name == "tc_peer_egress") | .id' | sort
}
nf_prog_ids >"$WORK/ids.before"
for t in A B; do
	bin=NF$t
	unshare --mount --propagation private tests/e2e/lib/private.sh \
		bash bench/ab.sh --side "$t" "${!bin}" "$WORK" "$MODE" "$PAIR" >"$WORK/side.$t.log" 2>&1 &
	spid=$!
	SIDES+=("$spid")
	for i in $(seq 240); do
		[ -s "$WORK/pid.$t" ] || ! kill -0 "$spid" 2>/dev/null && break
		sleep 0.5
	done
	[ -s "$WORK/pid.$t" ] || { echo "side $t did not come up:"; cat "$WORK/side.$t.log"; exit 1; }
	grep "^side" "$WORK/side.$t.log"
	nf_prog_ids >"$WORK/ids.after"
	comm -13 "$WORK/ids.before" "$WORK/ids.after" >"$WORK/ids.$t"
	cp "$WORK/ids.after" "$WORK/ids.before"
done

declare -A P N R
for c in none floor-tcx; do
	f=$c
	[ "$c" = floor-tcx ] && f=floor-tcx$PAIR
	pair_up "$f" "$c" "$WORK/server.$c" || exit 1
	P[$c]=/var/run/netns/$VA
done
bpftool prog show -j | jq -r '.[] | select(.name == "ref_floor") | .id' >"$WORK/ids.F"
P[A]=/proc/$(cat "$WORK/pid.A")/ns/net
P[B]=/proc/$(cat "$WORK/pid.B")/ns/net

# prog_time SET: the summed run_time_ns and run_cnt of the programs in ids.SET
prog_time() {
	local id t=0 n=0 a b
	while read -r id; do
		read -r a b < <(bpftool prog show id "$id" -j |
			jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"')
		t=$((t + a)) n=$((n + b))
	done <"$WORK/ids.$1"
	echo "$t $n"
}
# field CONFIG KEY: KEY's value in the client's line for CONFIG's netns
field() { grep "^netns=${P[$1]} " "$WORK/send" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

sysctl -qw kernel.bpf_stats_enabled=1
declare -A T0 T1
for s in A B F; do T0[$s]=$(prog_time $s); done
order=(none A floor-tcx B)
for c in "${order[@]}"; do N[$c]=0; R[$c]=""; done
if [ "$MODE" = UDP ]; then
	unit=pkt count=sent rate=pps
else
	unit=conn count=connections rate=per_sec
fi
for ((r = 0; r < ROUNDS; r++)); do
	list=""
	for ((i = 0; i < 4; i++)); do list+="${list:+,}${P[${order[$(((i + r) % 4))]}]}"; done
	if [ "$MODE" = UDP ]; then
		taskset -c 0 "$BENCH_BIN/bench_net" udp-flood --len 64 --netns "$list" \
			--dst "$ADDR_B" --port "$PORT_UDP" --seconds "$SECS" >"$WORK/send" 2>&1
	else
		taskset -c 0 "$BENCH_BIN/bench_net" tcp-connect --netns "$list" \
			--dst "$ADDR_B" --port "$PORT_CONN" --seconds "$SECS" >"$WORK/send" 2>&1
	fi
	line=""
	for c in "${order[@]}"; do
		v=$(field "$c" "$rate") n=$(field "$c" "$count")
		R[$c]+="${v:--} " N[$c]=$((N[$c] + ${n:-0}))
		line+=" $c ${v:--}"
	done
	echo "round $((r + 1))/$ROUNDS ($rate):$line"
done
for s in A B F; do T1[$s]=$(prog_time $s); done
for c in A B floor-tcx; do
	# shellcheck disable=SC2086
	echo "$c / none: $(paired_ratio "${R[$c]}" "${R[none]}")x (median $(median ${R[$c]}) against $(median ${R[none]}))"
done
echo "A / B: $(paired_ratio "${R[A]}" "${R[B]}")x"
# program time per connection (per packet sent) from bpf_stats
per() {
	local -a a b
	read -ra a <<<"${T0[$1]}"
	read -ra b <<<"${T1[$1]}"
	awk -v t=$((b[0] - a[0])) -v c=$((b[1] - a[1])) -v n="$2" \
		'BEGIN { if (n > 0) printf "%.0f ns per '"$unit"' (%.2f runs)", t / n, c / n; else printf "n/a" }'
}
echo "program time (bpf_stats): A $(per A "${N[A]}"), B $(per B "${N[B]}"), floor $(per F "${N[floor-tcx]}")"

# ---- --perf: A's pair alone under perf, its samples by source line ----
[ -n "$PERF" ] || exit 0
if ! command -v perf >/dev/null; then
	echo "perf: skipped (no perf on this machine)"
	exit 0
fi
if [ "$MODE" = UDP ]; then
	taskset -c 0 "$BENCH_BIN/bench_net" udp-flood --len 64 --netns "${P[A]}" \
		--dst "$ADDR_B" --port "$PORT_UDP" --seconds 4 >/dev/null 2>&1 &
	cpus=(-C 0)
else
	taskset -c 0 "$BENCH_BIN/bench_net" tcp-connect --netns "${P[A]}" \
		--dst "$ADDR_B" --port "$PORT_CONN" --seconds 4 >/dev/null 2>&1 &
	cpus=(-a)
fi
sender=$!
sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"	# the statistics' timing off the samples
sleep 1
perf record "${cpus[@]}" -o "$WORK/perf.data" -- sleep 2 >/dev/null 2>&1
wait "$sender"
perf script -i "$WORK/perf.data" -F ip,sym 2>/dev/null >"$WORK/samples"
for id in $(cat "$WORK/ids.A"); do
	"$BENCH_BIN/bench_jitlines" --id "$id" --image "$WORK/jit.$id.bin" >"$WORK/jit.$id.lines" ||
		continue
	python3 - "$WORK/samples" "$WORK/jit.$id.bin" "$WORK/jit.$id.lines" "$id" <<'PY'
import bisect, collections, os, sys
samples, image, lines, pid = sys.argv[1:5]
recs = []
for l in open(lines):
    a, n, src = (l.rstrip("\n").split(" ", 2) + [""])[:3]
    recs.append((int(a, 16), int(n), src.strip()))
recs.sort()
if not recs:
    sys.exit(0)
lo, hi = recs[0][0], recs[0][0] + os.path.getsize(image)
keys = [r[0] for r in recs]
total, mine, by = 0, 0, collections.Counter()
for l in open(samples):
    p = l.split()
    if not p:
        continue
    total += 1
    try:
        ip = int(p[0], 16)
    except ValueError:
        continue
    if lo <= ip < hi:
        mine += 1
        r = recs[bisect.bisect_right(keys, ip - 1) - 1]   # the stalled one: just before ip
        by[(r[1], r[2])] += 1
print(f"perf: program {pid} took {mine} of {total} samples ({100.0 * mine / max(total, 1):.1f}%)")
for (n, src), c in by.most_common(20):
    print(f"  {100.0 * c / max(mine, 1):5.1f}%  line {n:4d}  {src[:90]}")
PY
done

