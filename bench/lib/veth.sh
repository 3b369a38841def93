# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The veth rows: for each configuration (none, netfence, netfence-clsact,
# floor, floor-tcx, noop-tcx, netfence-pair, floor-tcx-pair, iptables,
# nftables) two namespaces joined by a veth pair, sender nfb-CONFIG-a
# (10.200.0.1) and receiver nfb-CONFIG-b (10.200.0.2), each end named nfb0.
#
# SPEC §9's configuration: the receiver's namespace is the endpoint (the
# pod), and the sender's holds its veth's host-side peer, where netfence
# enforces (SPEC §3.11) and where the references are attached the same way.
# The -pair configurations make both namespaces endpoints of the same
# tenant: each one's host-side peer is then the other's end, so every packet
# is judged twice (the sender's egress, the receiver's ingress), as between
# two pods on a node, but with no bridge or routing between the two judges
# that a node's path has (and the no-filter path lacks too). Reported beside.
#
# All pairs exist side by side, and every measurement runs
# on each of them in turn, in a rotating order, round after round: the
# machine is shared and noisy, so short samples interleaved many times and
# their medians compare far better than one long run each. UDP packets/s
# and connections/s interleave finer still: within a round one sender takes
# 100 ms turns between the pairs (measure_udp_all, measure_conn_all). The sender is pinned to CPU 0, the
# receiver to CPU 1.
# Sourced by bench/run.sh (needs common.sh and rules.sh).

VA=""
VB=""
VETH_IF=nfb0
ADDR_A=10.200.0.1
ADDR_B=10.200.0.2
VETH_TENANT=${TENANT_PREFIX}veth
IPT_RESTORE=${IPT_RESTORE:-iptables-restore}

# Which iptables a user of this machine gets (Debian: nf_tables backend by default).
ipt_variant() { "$IPT_RESTORE" --version 2>/dev/null | sed -n 's/.*(\(.*\)).*/\1/p' | head -1; }

# use_pair CONFIG: point VA/VB at CONFIG's namespaces.
use_pair() { VA=${NS_PREFIX}$1-a; VB=${NS_PREFIX}$1-b; }

veth_up() {
	netns_add "$VA" && netns_add "$VB" || return 1
	ip link add "$VETH_IF" netns "$VA" type veth peer name "$VETH_IF" netns "$VB" || return 1
	ip -n "$VA" addr add "$ADDR_A/24" dev "$VETH_IF"
	ip -n "$VB" addr add "$ADDR_B/24" dev "$VETH_IF"
	ip -n "$VA" link set "$VETH_IF" up
	ip -n "$VB" link set "$VETH_IF" up
	# room for a few seconds of connect/close without running out of ports
	in_ns "$VA" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
}

# The stateful floor (bpf/bench_ref.bpf.c) as a cls_bpf filter, like
# netfence's default hook: the least a stateful tc enforcer costs on this path.
FLOOR_PIN=/sys/fs/bpf/${TENANT_PREFIX}ref

veth_down() {
	if [[ "${1:-}" == netfence* ]] && [ -x "$NF" ]; then
		"$NF" detach --iface "$VETH_IF" --netns "/var/run/netns/$VA" >/dev/null 2>&1
		"$NF" detach --iface "$VETH_IF" --netns "/var/run/netns/$VB" >/dev/null 2>&1
	fi
	netns_del "$VA"
	netns_del "$VB"
}

# nf_endpoint_ns CONFIG: the namespaces of CONFIG's endpoints (netfence
# enforces on their host-side peers, the other end of the pair).
nf_endpoint_ns() { [[ $1 == *-pair ]] && echo "$VA $VB" || echo "$VB"; }

# ref_ends CONFIG: the namespaces whose end gets a reference program: where
# netfence's programs are for the same configuration.
ref_ends() { [[ $1 == *-pair ]] && echo "$VA $VB" || echo "$VA"; }

# veth_hooks: the hooks of this pair's endpoints, from status --json.
veth_hooks() {
	"$NF" status --json | jq -r --arg a "/var/run/netns/$VA" --arg b "/var/run/netns/$VB" \
		'[.endpoints[] | select(.netns == $a or .netns == $b) | .attach.hook] | sort | join(" ")'
}

# veth_qdiscs: the clsact qdiscs left on this pair's ends.
veth_qdiscs() {
	local ns n=0
	for ns in "$VA" "$VB"; do
		in_ns "$ns" tc qdisc show dev "$VETH_IF" | grep -q '^qdisc clsact' && n=$((n + 1))
	done
	echo "$n"
}

# veth_serve_move NS...: serve run (in a namespace of its own) until it has
# moved this pair's endpoints (in namespaces NS...) from clsact to tcx and removed the qdiscs their
# attach made (a second after the move, the pair being quiet), as a node's
# serve would; at most 20 s. Prints why and fails when it does not.
veth_serve_move() {
	local ns=${NS_PREFIX}vserve pid port h="" q="" i want
	want=$(printf 'tcx %.0s' "$@") want=${want% }
	netns_add "$ns" || { echo "cannot make $ns"; return 1; }
	port=$(in_ns "$ns" python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	bg_ns "$ns" env -u NETFENCE_TC_HOOK "$NF" serve --listen "127.0.0.1:$port" \
		>"$WORK/vserve.log" 2>&1
	pid=$BG_PID
	for ((i = 0; i < 200; i++)); do
		h=$(veth_hooks)
		[ "$h" = "$want" ] && q=$(veth_qdiscs) && [ "$q" = 0 ] && break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	netns_del "$ns"
	[ "$h" = "$want" ] && [ "$q" = 0 ] && return 0
	echo "serve did not move the endpoints to tcx and remove their clsact qdiscs in 20 s" \
		"(hooks: ${h:-none}; qdiscs left: ${q:-?}; $(oneline <"$WORK/vserve.log"))"
	return 1
}

# veth_filter CONFIG: install CONFIG's 10,000 rules (files made by veth_prepare).
# Prints the reason and fails when it can't.
veth_filter() {
	local err
	case $1 in
	none) ;;
	netfence | netfence-clsact | netfence-pair)
		[ -n "$NF_WHY" ] && { echo "$NF_WHY"; return 1; }
		local eps
		eps=$(nf_endpoint_ns "$1")
		for ns in $eps; do
			if ! err=$(env -u NETFENCE_TC_HOOK \
				"$NF" attach --tenant "$VETH_TENANT" --iface "$VETH_IF" \
				--netns "/var/run/netns/$ns" 2>&1); then
				echo "netfence attach failed: $(printf '%s' "$err" | oneline)"
				return 1
			fi
		done
		# the default deployment runs serve (the DaemonSet): it moves them to tcx
		if [ "$1" != netfence-clsact ]; then
			# shellcheck disable=SC2086
			veth_serve_move $eps || return 1
		fi ;;
	floor | floor-tcx | noop-tcx | floor-tcx-pair)
		if [ ! -e "$FLOOR_PIN/ref_floor" ] &&
			! err=$(bpftool prog loadall "$OUT/bench_ref.bpf.o" "$FLOOR_PIN" type classifier 2>&1); then
			echo "cannot load the floor: $(printf '%s' "$err" | oneline)"
			return 1
		fi
		for ns in $(ref_ends "$1"); do
			if [ "$1" != floor ]; then
				# noop-tcx: the tcx hook with nothing in it, what any program pays
				local prog=ref_floor
				[ "$1" = noop-tcx ] && prog=ref_noop
				err=$(in_ns "$ns" "$BENCH_BIN/bench_tcx" --pin "$FLOOR_PIN/$prog" \
					--iface "$VETH_IF" 2>&1) ||
					{ echo "cannot attach $prog through tcx: $(printf '%s' "$err" | oneline)"; return 1; }
				continue
			fi
			in_ns "$ns" tc qdisc add dev "$VETH_IF" clsact &&
				in_ns "$ns" tc filter add dev "$VETH_IF" ingress bpf da pinned "$FLOOR_PIN/ref_floor" &&
				in_ns "$ns" tc filter add dev "$VETH_IF" egress bpf da pinned "$FLOOR_PIN/ref_floor" ||
				{ echo "cannot attach the floor"; return 1; }
		done ;;
	iptables)
		if ! err=$(in_ns "$VB" "$IPT_RESTORE" <"$WORK/veth.ipt" 2>&1); then
			echo "iptables-restore failed: $(printf '%s' "$err" | oneline)"
			return 1
		fi ;;
	nftables)
		if ! err=$(in_ns "$VB" nft -f "$WORK/veth.nft" 2>&1); then
			echo "nft -f failed: $(printf '%s' "$err" | oneline)"
			return 1
		fi ;;
	esac
}

# wait_ready FILE: until a server printed "ready" (5 s at most).
wait_ready() {
	local i
	for i in $(seq 50); do
		grep -q ready "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# kv KEY FILE: the value of KEY=value in the last line of FILE.
kv() { tail -n 1 "$2" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# wait_listen NS PORT: until a TCP socket listens on PORT in NS (5 s at most).
wait_listen() {
	local i
	for i in $(seq 50); do
		in_ns "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

# measure_tcp SECONDS: iperf3 throughput in bit/s (empty if none).
measure_tcp() {
	local i out=""
	bg_ns "$VB" taskset -c 1 iperf3 -s -p "$PORT_IPERF" >/dev/null 2>&1
	local spid=$BG_PID
	if wait_listen "$VB" "$PORT_IPERF"; then
		for i in 1 2 3; do
			out=$(in_ns "$VA" taskset -c 0 timeout $(($1 + 15)) iperf3 -c "$ADDR_B" \
				-p "$PORT_IPERF" -t "$1" -J 2>/dev/null) && break
			sleep 0.2
		done
	fi
	kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
	printf '%s' "$out" >"$WORK/iperf3.last.json"
	printf '%s' "$out" | jq -r '.end.sum_received.bits_per_second // empty' 2>/dev/null
}

# turns_run NAME SECONDS SERVER_MODE PORT SENDER_MODE [SENDER ARGS...] -- CONFIG...:
# a SERVER_MODE bench_net in each CONFIG's receiver namespace (output in
# $WORK/NAME.CONFIG.out), then one SENDER_MODE bench_net that takes 100 ms
# turns between their sender namespaces (--netns) until each had SECONDS
# (output in $WORK/NAME.send), then the servers stopped. TURNS_OK gets the
# configurations whose server was ready.
TURNS_OK=()
turns_run() {
	local name=$1 secs=$2 smode=$3 port=$4 cmode=$5 c list="" spids=() f
	shift 5
	local cargs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do cargs+=("$1"); shift; done
	shift
	TURNS_OK=()
	for c in "$@"; do
		use_pair "$c"
		f=$WORK/$name.$c.out
		: >"$f"
		bg_ns "$VB" taskset -c 1 "$BENCH_BIN/bench_net" "$smode" --port "$port" \
			--idle-ms 10000 >"$f" 2>&1
		spids+=("$BG_PID")
		wait_ready "$f" || continue
		TURNS_OK+=("$c")
		list+="${list:+,}/var/run/netns/$VA"
	done
	if [ -n "$list" ]; then
		taskset -c 0 timeout $((secs * ${#TURNS_OK[@]} + 20)) "$BENCH_BIN/bench_net" \
			"$cmode" --netns "$list" --dst "$ADDR_B" --port "$port" --seconds "$secs" \
			"${cargs[@]}" >"$WORK/$name.send" 2>&1
	fi
	sleep 0.3	# what is still queued reaches the servers
	kill -TERM "${spids[@]}" 2>/dev/null
	wait "${spids[@]}" 2>/dev/null
}

# turns_field NAME KEY: KEY's value in the sender's line for the current pair.
turns_field() {
	grep "^netns=/var/run/netns/$VA " "$WORK/$1.send" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# measure_conn_all SECONDS CONFIG...: new TCP connections/s through each
# CONFIG's pair, from one client (bench_net tcp-connect --netns) that takes
# 100 ms turns between their sender namespaces until each had SECONDS: every
# configuration sees the same swings of this shared machine, which 2-second
# samples one after another did not (connections/s moved by ±15% between
# them). Prints "CONFIG RATE" per configuration that got connections through.
measure_conn_all() {
	local secs=$1 c f
	shift
	turns_run conn "$secs" tcp-accept "$PORT_CONN" tcp-connect -- "$@"
	for c in "${TURNS_OK[@]}"; do
		use_pair "$c"
		f=$(turns_field conn per_sec)
		[ "${f:-0}" != 0 ] && echo "$c $f"
	done
}

# measure_udp_all SECONDS CONFIG...: 64-byte UDP packets/s received through
# each CONFIG's pair, from one sender (bench_net udp-flood --netns, a socket
# in each sender namespace) taking 100 ms turns between them until each had
# SECONDS; each pair's sink counts what arrived, over its pair's seconds.
# Prints "CONFIG RATE" per configuration that got packets through.
measure_udp_all() {
	local secs=$1 c n t
	shift
	turns_run udp "$secs" udp-sink "$PORT_UDP" udp-flood --len 64 -- "$@"
	for c in "${TURNS_OK[@]}"; do
		use_pair "$c"
		n=$(kv received "$WORK/udp.$c.out")
		t=$(turns_field udp seconds)
		[ "${n:-0}" != 0 ] && [ -n "$t" ] && awk -v c="$c" -v n="$n" -v t="$t" \
			'BEGIN { if (t > 0) printf "%s %.0f\n", c, n / t }'
	done
}

veth_prepare() {
	gen_policy_json "$VETH_TENANT" 10000 both 0 >"$WORK/veth.json"
	gen_iptables 10000 >"$WORK/veth.ipt"
	gen_nft 10000 >"$WORK/veth.nft"
	if [ -z "$NF_WHY" ]; then
		local err
		nf_tenant_used "$VETH_TENANT"
		if ! err=$("$NF" apply "$WORK/veth.json" 2>&1); then
			NF_VETH_WHY="netfence apply failed: $(printf '%s' "$err" | oneline)"
		fi
	fi
}

# bench_veth ROUNDS SECONDS: the rows for TCP, UDP 64 B and connections/s.
bench_veth() {
	local rounds=$1 secs=$2 r c i m v why
	local configs=(none) all=(netfence netfence-clsact floor floor-tcx noop-tcx netfence-pair
		floor-tcx-pair iptables nftables)
	for c in "${all[@]}"; do
		[[ " ${VETH_CONFIGS:-${all[*]}} " == *" $c "* ]] && configs+=("$c")
	done
	declare -gA V_TCP V_UDP V_CONN V_WHY
	NF_VETH_WHY=$NF_WHY
	veth_prepare
	for c in "${configs[@]}"; do V_TCP[$c]=""; V_UDP[$c]=""; V_CONN[$c]=""; V_WHY[$c]=""; done
	[ -n "$NF_VETH_WHY" ] && V_WHY[netfence]=$NF_VETH_WHY
	for c in "${configs[@]}"; do
		[ -n "${V_WHY[$c]}" ] && continue
		use_pair "$c"
		if ! veth_up; then
			V_WHY[$c]="veth setup failed"
		elif ! why=$(veth_filter "$c"); then
			V_WHY[$c]=$why
		fi
	done
	for m in $VETH_METRICS; do
		for ((r = 0; r < rounds; r++)); do
			log "veth $m round $((r + 1))/$rounds"
			if [ $m != TCP ]; then
				veth_turns_round "$m" "$r" "$secs" "${configs[@]}"
				continue
			fi
			# rotate the order each round: no configuration always runs first
			for ((i = 0; i < ${#configs[@]}; i++)); do
				c=${configs[$(((i + r) % ${#configs[@]}))]}
				[ -n "${V_WHY[$c]}" ] && continue
				use_pair "$c"
				v=$(measure_tcp "$secs")
				# one slot per round ("-" when nothing got through), so
				# rounds line up for the paired ratios
				V_TCP[$c]+="${v:--} "
			done
		done
	done
	for c in "${configs[@]}"; do
		use_pair "$c"
		veth_down "$c"
	done
	veth_rows "${configs[@]:1}"
}

# veth_turns_round UDP|CONN ROUND SECONDS CONFIG...: one round of UDP
# packets/s or connections/s, all configurations interleaved
# (measure_udp_all, measure_conn_all), starting with a different one each
# round; one slot per configuration in V_UDP or V_CONN ("-" for none).
veth_turns_round() {
	local m=$1 r=$2 secs=$3 i c order=() out
	shift 3
	local configs=("$@")
	local -n V=V_$m
	for ((i = 0; i < ${#configs[@]}; i++)); do
		c=${configs[$(((i + r) % ${#configs[@]}))]}
		[ -z "${V_WHY[$c]}" ] && order+=("$c")
	done
	case $m in
	UDP) out=$(measure_udp_all "$secs" "${order[@]}") ;;
	CONN) out=$(measure_conn_all "$secs" "${order[@]}") ;;
	esac
	for c in "${order[@]}"; do
		V[$c]+="$(printf '%s\n' "$out" | sed -n "s/^$c //p" | grep . || echo -) "
	done
}

# paired_ratio "A1 A2 ..." "B1 B2 ...": median over rounds of Ai/Bi, each pair
# measured back to back, so slow swings of the machine's load cancel out.
paired_ratio() {
	local -a a=($1) b=($2)
	local i rs=()
	for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do
		rs+=("$(ratio "${a[$i]/-/}" "${b[$i]/-/}")")
	done
	local m; m=$(median "${rs[@]}")
	[ -n "$m" ] && printf '%.2f' "$m"
}

# veth_rows CONFIG...: the rows of the measurements taken (VETH_METRICS),
# for each CONFIG beside no filter.
veth_rows() {
	local metric c base v r tgt unit scale dec label name ipt
	ipt="iptables ($(ipt_variant)), INPUT chain"
	for metric in $VETH_METRICS; do
		case $metric in
		TCP) label="veth TCP throughput (iperf3)"; unit="Gbit/s"; scale=1e9; dec=2; tgt=0.95 ;;
		UDP) label="veth UDP 64-byte packets/s received"; unit="Mpps"; scale=1e6; dec=3; tgt=0.95 ;;
		CONN) label="veth new TCP connections/s"; unit="conn/s"; scale=1; dec=0; tgt=0.95 ;;
		esac
		local -n M=V_$metric
		# shellcheck disable=SC2086
		base=$(median ${M[none]})
		for c in "$@"; do
			case $c in
			netfence) name="netfence, 10,000 rules, on the receiver's host-side peer (attached on clsact, moved to tcx by serve: the default)" ;;
			netfence-clsact) name="netfence left on clsact (no serve), 10,000 rules, host-side peer" ;;
			floor) name="stateful floor (bench_ref) as a cls_bpf filter, host-side peer" ;;
			floor-tcx) name="stateful floor (bench_ref) through tcx, host-side peer (netfence's default hook)" ;;
			noop-tcx) name="a no-op program through tcx, host-side peer: the hook's own cost" ;;
			netfence-pair) name="netfence, both namespaces endpoints (each packet judged at both ends, as between two pods), on tcx" ;;
			floor-tcx-pair) name="stateful floor through tcx at both ends (as netfence-pair)" ;;
			iptables) name="$ipt, 10,000 rules" ;;
			nftables) name="nftables set, INPUT hook, 10,000 elements" ;;
			esac
			# shellcheck disable=SC2086
			v=$(median ${M[$c]})
			if [ -n "${V_WHY[$c]}" ] || [ -z "$v" ] || [ -z "$base" ]; then
				local why=${V_WHY[$c]:-${V_WHY[none]:-no traffic got through}}
				[ -z "$base" ] && why="no baseline figure"
				row "$label: $name" "n/a ($why)" "no filter $(fmt "$base" $scale $dec) $unit" \
					n/a "$([ $c = netfence ] && echo "≥ ${tgt}x" || echo report)" n/a
				continue
			fi
			r=$(paired_ratio "${M[$c]}" "${M[none]}")
			if [ $c = netfence ]; then
				row "$label: $name" "$(fmt "$v" $scale $dec) $unit" \
					"no filter $(fmt "$base" $scale $dec) $unit" "${r}x" "≥ ${tgt}x" \
					"$(met "$r" ge "$tgt")"
			else
				row "$label: $name" "$c: $(fmt "$v" $scale $dec) $unit" \
					"no filter $(fmt "$base" $scale $dec) $unit" "${r}x" "beside" report
			fi
		done
	done
}
