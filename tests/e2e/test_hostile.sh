#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The hostile pod (SPEC §3.8-§3.13, issue 12): a fenced pod that is root in
# its netns with NET_RAW and NET_ADMIN tries every way around its fence.
#
# Pods on one bridge (bridge + host-local, IPv4 and IPv6), netfence-cni
# chained for the fenced ones:
#   t  target, unfenced: UDP 53 and TCP 8080 echo; the one allowed address
#   v  victim, unfenced: a denied address
#   f  attacker, tenant $P-f: egress UDP 53 and TCP 8080 to t, nothing else
#   r  tenant $P-r (same policy), re-attached to $P-x (no policy)
#   h  tenant $P-h (same policy), floods new flows (NETFENCE_CT_TENANT_MAX=200)
#   g  tenant $P-g (same policy), keeps a TCP connection through h's flood
# and, on a macvlan network (pod-side programs: no host-side peer there):
#   m2 unfenced: UDP 53 and TCP 8080 echo
#   m1 tenant $P-m: egress UDP 53 and TCP 8080 to m2
#   o  outside the parent: the other end of the parent veth (10.125.0.200),
#      where the guard on the parent judges what crosses it
# A sniffer (packet sockets in t, v and f) logs every frame that arrives.
# Each attempt asserts that nothing of it arrived and that the drop was
# counted, by an exact delta, with the right reason; one ok/FAIL line each.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

ATTACK=$E2E_LIB/attack.py
N=5	# frames per attempt

cni_setup
mkdir -p "$WORK/ns"
LOG=$WORK/sniff.log
: >"$LOG"

# One network, two conflists: with and without netfence-cni (same bridge, same
# IPAM). No hairpin: f's own broadcasts would come back to f and its spoofed
# ARP would poison f's own cache (where the attack gets through).
deploy_bridge_conflist "$WORK/fenced.conflist" '[[{subnet: "10.123.0.0/24"}], [{subnet: "fd00:123::/64"}]]' \
	'.plugins[0].hairpinMode = false | .plugins[0].ipam.routes = [{dst: "0.0.0.0/0"}, {dst: "::/0"}]'
jq '.plugins = [.plugins[0]]' "$WORK/fenced.conflist" >"$WORK/open.conflist"
# The macvlan network of deploy/cni/multus-nad.yaml, on a veth end in the node netns.
in_ns "$NODE" ip link add "${IFP}p0" type veth peer name "${IFP}p1" || die "cannot create the parent"
in_ns "$NODE" ip link set "${IFP}p0" up
pod_add o
in_ns "$NODE" ip link set "${IFP}p1" netns "/var/run/netns/$P-o" || die "cannot move the parent's peer"
in_ns "$P-o" ip link set "${IFP}p1" name eth0
in_ns "$P-o" ip addr add 10.125.0.200/24 dev eth0
in_ns "$P-o" ip link set eth0 up
awk '/config: \|-/ { on = 1; next } on' deploy/cni/multus-nad.yaml |
	jq --arg name "$P-mv" --arg m "${IFP}p0" --arg d "$WORK/ipam" '
	.name = $name | .plugins[0].master = $m | .plugins[0].ipam.dataDir = $d
	| .plugins[0].ipam.ranges = [[{subnet: "10.125.0.0/24"}]]' >"$WORK/mv-fenced.conflist" ||
	die "cannot read the NetworkAttachmentDefinition's config"
jq '.plugins = [.plugins[0]]' "$WORK/mv-fenced.conflist" >"$WORK/mv-open.conflist"

# att POD ARGS...: attack.py inside the pod, on CPU 0 (every sender and
# server on one CPU: frames are handled in the order they were sent, so a
# sentinel that arrives proves that what was sent before it was handled).
att() { local pod=$1; shift; in_ns "$P-$pod" taskset -c 0 "$PYTHON" "$ATTACK" "$@"; }
bg() { # bg NAME POD ARGS...: attack.py in the background, killed at cleanup
	local name=$1 pod=$2; shift 2
	(exec nsenter --net="/var/run/netns/$P-$pod" taskset -c 0 "$PYTHON" "$ATTACK" "$@" \
		</dev/null >"$WORK/$name.out" 2>&1) &
	echo $! >"$WORK/pids/$name"
}
addr() { # addr POD 4|6|ll
	local q='[.[0].addr_info[] | select(.local) | .local][0] // empty' i
	case $2 in
	4) in_ns "$P-$1" ip -j -4 addr show dev eth0 2>/dev/null | jq -r "$q" ;;
	6) in_ns "$P-$1" ip -j -6 addr show dev eth0 scope global 2>/dev/null | jq -r "$q" ;;
	ll) # appears when the link comes up; wait until it is no longer tentative
		for i in $(seq 100); do
			in_ns "$P-$1" ip -6 addr show dev eth0 scope link 2>/dev/null | grep -q tentative ||
				break
			sleep 0.05
		done
		in_ns "$P-$1" ip -j -6 addr show dev eth0 scope link 2>/dev/null | jq -r "$q" ;;
	esac
}
mac() { in_ns "$P-$1" ip -j link show dev eth0 2>/dev/null | jq -r '.[0].address'; }
snap() { "$NETFENCE" stats --json >"$1" 2>/dev/null || echo '{}' >"$1"; }
# wait_log REGEX: until a sniffer line matches (bounded)
wait_log() {
	local i
	for i in $(seq 200); do
		grep -qE "$1" "$LOG" && return 0
		sleep 0.05
	done
	return 1
}
seen() { grep -cE "$1" "$LOG" || true; }

SENT=0
# sentinel POD DST LABEL: POD sends a tagged UDP datagram to DST:53 (t's
# echo); wait until the sniffer logs it at LABEL.
sentinel() {
	SENT=$((SENT + 1))
	att "$1" udp-send "$2" 53 1 "sentinel-$SENT" || return 1
	wait_log "^$3 .* tag=sentinel-$SENT\$" && return 0
	[ -n "${HOSTILE_DEBUG:-}" ] && { tail -20 "$LOG"; in_ns "$P-$1" ip neigh; } >&2
	return 1
}

# attempt DESC TENANT DIR REASON COUNT SENTINEL WATCH -- CMD...
#   Run CMD (the attack); then SENTINEL ("POD DST LABEL", see sentinel);
#   then assert: the sniffer lines matching each "LABEL:REGEX" of WATCH
#   (;-separated) did not grow, and TENANT's DIR drop counter REASON
#   moved by exactly COUNT ("+N": at least N), nothing else of TENANT in DIR.
attempt() {
	local desc=$1 tenant=$2 dir=$3 reason=$4 count=$5 sent=$6 w out why=""
	local -a watch
	local -A before
	IFS=';' read -ra watch <<<"$7"
	shift 8
	for w in "${watch[@]}"; do before[$w]=$(seen "^${w%%:*} .*${w#*:}"); done
	snap "$WORK/before.json"
	"$@" >"$WORK/attack.out" 2>&1 || why="$why; the attack command failed: $(tail -1 "$WORK/attack.out")"
	# shellcheck disable=SC2086
	sentinel $sent || why="$why; the sentinel ($sent) never arrived"
	snap "$WORK/after.json"
	for w in "${watch[@]}"; do
		out=$(seen "^${w%%:*} .*${w#*:}")
		[ "$out" -eq "${before[$w]}" ] ||
			why="$why; $((out - before[$w])) frame(s) arrived at ${w%%:*}"
	done
	if [[ $count == +* ]]; then
		out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/before.json" "$WORK/after.json" \
			"$tenant" "$dir" "$reason" "${count#+}" --at-least) || why="$why; counters: $out"
	else
		out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/before.json" "$WORK/after.json" \
			"$tenant" "$dir" "$reason" "$count") || why="$why; counters: $out"
	fi
	if [ -z "$why" ]; then pass "$desc"; else fail "$desc${why/#;/:}"; fi
}

log "topology"
for pod in t v f r h g m1 m2; do pod_add "$pod"; done
for pod in t v; do cni ADD "$WORK/open.conflist" "$pod" eth0 "" >/dev/null || die "ADD $pod"; done
cni ADD "$WORK/mv-open.conflist" m2 eth0 "" >/dev/null || die "ADD m2"
TF=$P-f TR=$P-r TX=$P-x TH=$P-h TG=$P-g TM=$P-m
cni ADD "$WORK/mv-fenced.conflist" m1 eth0 "$TM" >/dev/null || die "ADD m1"
M1=$(addr m1 4) M2=$(addr m2 4) M2MAC=$(mac m2)
cni ADD "$WORK/fenced.conflist" f eth0 "$TF" >/dev/null || die "ADD f"
cni ADD "$WORK/fenced.conflist" r eth0 "$TR" >/dev/null || die "ADD r"
cni ADD "$WORK/fenced.conflist" h eth0 "$TH" >/dev/null || die "ADD h"
cni ADD "$WORK/fenced.conflist" g eth0 "$TG" >/dev/null || die "ADD g"
T4=$(addr t 4) T6=$(addr t 6) V4=$(addr v 4) V6=$(addr v 6)
F4=$(addr f 4) F6=$(addr f 6) FLL=$(addr f ll)
TMAC=$(mac t) VMAC=$(mac v) FMAC=$(mac f)
for x in "$T4" "$T6" "$V4" "$V6" "$F4" "$F6" "$FLL" "$M1" "$M2"; do
	[[ $x =~ ^[0-9a-f.:]+$ ]] || die "an address is missing: t=$T4,$T6 v=$V4,$V6 f=$F4,$F6,$FLL"
done
log "t=$T4 $T6 $TMAC  v=$V4 $V6 $VMAC  f=$F4 $F6 $FLL $FMAC"

bg serve-t t serve "$T4" "$T6" --udp 53 --tcp 8080
bg serve-v v serve "$V4" "$V6" --udp 53 --tcp 8080
bg serve-f f serve "$F4" "$F6" --udp 7777
bg serve-m2 m2 serve "$M2" --udp 53 --tcp 8080
bg sniff t sniff "$LOG" "t=/var/run/netns/$P-t:eth0" "v=/var/run/netns/$P-v:eth0" \
	"f=/var/run/netns/$P-f:eth0" "m2=/var/run/netns/$P-m2:eth0" \
	"m1=/var/run/netns/$P-m1:eth0" "o=/var/run/netns/$P-o:eth0"
wait_log '^READY$' || die "the sniffer did not start: $(cat "$WORK/sniff.out")"

POLICY=$WORK/policy.json
policy() { # policy TENANT CIDR...: egress UDP 53 and TCP 8080 to the CIDRs, nothing else
	local t=$1; shift
	printf '%s\n' "$@" | jq -R '{ipBlock: {cidr: .}}' | jq -s --arg ns "$t" '
		{apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy",
		 metadata: {name: "dns-and-8080", namespace: $ns},
		 spec: {podSelector: {}, policyTypes: ["Ingress", "Egress"], ingress: [],
			egress: [{to: ., ports: [{protocol: "UDP", port: 53}, {protocol: "TCP", port: 8080}]}]}}'
}
{
	for t in "$TF" "$TR" "$TH" "$TG"; do policy "$t" "$T4/32" "$T6/128"; done
	policy "$TM" "$M2/32"
} | jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$POLICY"
"$NETFENCE" apply "$POLICY" >/dev/null || die "netfence apply $POLICY"

ctl_wait() { local i; for i in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }

# ---------------------------------------------------------------- controls
section_controls() {
	log "controls: allowed traffic (needing ARP and ND) passes, replies too; the rest is denied"
	in_ns "$P-f" ip neigh flush dev eth0
	in_ns "$P-f" ip -6 neigh flush dev eth0
	snap "$WORK/c0.json"
	for a in "$T4" "$T6"; do
		if att f udp-probe "$a" 53 ctl-udp; then pass "control: f -> t udp/53 ($a) and its reply"
		else fail "control: f -> t udp/53 ($a) and its reply"; fi
		if att f tcp-probe "$a" 8080 ctl-tcp; then pass "control: f -> t tcp/8080 ($a) and its replies"
		else fail "control: f -> t tcp/8080 ($a) and its replies"; fi
	done
	snap "$WORK/c1.json"
	for d in ingress egress; do
		out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/c0.json" "$WORK/c1.json" "$TF" $d policy_denied 0) &&
			pass "control: nothing of it dropped ($d)" || fail "control: drops of allowed traffic ($d): $out"
	done
	[ "$(in_ns "$P-f" ip -j -4 neigh show "$T4" dev eth0 | jq -r '.[0].lladdr')" = "$TMAC" ] &&
		pass "control: f resolved t by ARP" || fail "control: f did not resolve t by ARP"
	[ "$(in_ns "$P-f" ip -j -6 neigh show "$T6" dev eth0 | jq -r '.[0].lladdr')" = "$TMAC" ] &&
		pass "control: f resolved t by ND" || fail "control: f did not resolve t by ND"
	for fam in 4 6; do
		if [ $fam = 4 ]; then tgt=$T4 dst=$V4; else tgt=$T6 dst=$V6; fi
		attempt "control: f -> v udp/9999 ($dst) denied" "$TF" egress policy_denied $N "f $T4 t" \
			"v: tag=ctl-denied$" -- att f udp-send "$dst" 9999 $N ctl-denied
		attempt "control: f -> t udp/54 ($tgt) denied" "$TF" egress policy_denied $N "f $T4 t" \
			"t: tag=ctl-port$" -- att f udp-send "$tgt" 54 $N ctl-port
	done
}

# ---------------------------------------------------------------- packet sockets
section_packet() {
	log "packet sockets: any protocol value, qdisc bypass"
	for fam in 4 6; do
		if [ $fam = 4 ]; then own=$F4 spoof=$T4 dst=$V4; else own=$F6 spoof=$T6 dst=$V6; fi
		attempt "packet socket, sll_protocol ARP, IPv$fam/UDP with a spoofed source -> v" \
			"$TF" egress spoofed_source $N "f $T4 t" "v: tag=pkt-arp-spoof$fam$" -- \
			att f frame eth0 "$VMAC" "$spoof" "$dst" $N "pkt-arp-spoof$fam" --sll-proto 0x0806
		attempt "packet socket, sll_protocol ARP, IPv$fam/UDP with its own source -> v" \
			"$TF" egress policy_denied $N "f $T4 t" "v: tag=pkt-arp-own$fam$" -- \
			att f frame eth0 "$VMAC" "$own" "$dst" $N "pkt-arp-own$fam" --sll-proto 0x0806
		attempt "packet socket, PACKET_QDISC_BYPASS, IPv$fam/UDP -> v" \
			"$TF" egress policy_denied $N "f $T4 t" "v: tag=pkt-bypass$fam$" -- \
			att f frame eth0 "$VMAC" "$own" "$dst" $N "pkt-bypass$fam" --bypass
		attempt "packet socket, PACKET_QDISC_BYPASS, IPv$fam/UDP with a spoofed source -> v" \
			"$TF" egress spoofed_source $N "f $T4 t" "v: tag=pkt-bypass-spoof$fam$" -- \
			att f frame eth0 "$VMAC" "$spoof" "$dst" $N "pkt-bypass-spoof$fam" --bypass
	done
}

# ---------------------------------------------------------------- raw IP sockets
section_raw() {
	log "raw IP sockets writing their own header"
	for fam in 4 6; do
		if [ $fam = 4 ]; then own=$F4 spoof=$V4 dst=$V4 tgt=$T4; else own=$F6 spoof=$V6 dst=$V6 tgt=$T6; fi
		attempt "raw IP socket (HDRINCL), IPv$fam/UDP with v's source -> t udp/53" \
			"$TF" egress spoofed_source $N "f $T4 t" "t: tag=raw-spoof$fam$" -- \
			att f rawip "$spoof" "$tgt" 53 $N "raw-spoof$fam"
		attempt "raw IP socket (HDRINCL), IPv$fam/UDP -> v" \
			"$TF" egress policy_denied $N "f $T4 t" "v: tag=raw-own$fam$" -- \
			att f rawip "$own" "$dst" 9999 $N "raw-own$fam"
	done
}

# ---------------------------------------------------------------- denied ingress
section_ingress() {
	log "denied ingress never enters the pod"
	for a in "$F4" "$F6"; do
		attempt "t -> f udp/7777 ($a): a packet-socket tap in f sees none of it" \
			"$TF" ingress policy_denied $N "f $T4 f" "f: tag=ingress-denied$" -- \
			att t udp-send "$a" 7777 $N ingress-denied
	done
}

# ---------------------------------------------------------------- related ICMP
section_icmp() {
	log "ICMP errors are bound to their flow's addresses"
	for fam in 4 6; do
		if [ $fam = 4 ]; then tgt=$T4 dst=$V4; else tgt=$T6 dst=$V6; fi
		attempt "control: port unreachable about f's udp/53 flow, to the flow's peer t, passes" \
			"$TF" egress policy_denied 0 "f $T4 t" "" -- \
			att f icmp-err "$tgt" 53 "$tgt" $N "icmp-peer$fam"
		got=$(seen "^t .*qtag=icmp-peer$fam$")
		[ "$got" -eq $N ] && pass "control: t got the $N errors (IPv$fam)" ||
			fail "control: t got $got of the $N errors about its flow (IPv$fam)"
		attempt "port unreachable quoting f's allowed udp/53 flow, with data, to v (IPv$fam)" \
			"$TF" egress policy_denied $N "f $T4 t" "v: qtag=icmp-other$fam$" -- \
			att f icmp-err "$tgt" 53 "$dst" $N "icmp-other$fam"
	done
}

# ---------------------------------------------------------------- ARP, ND
section_nd() {
	log "ARP and neighbour discovery cannot carry anything else, nor lie"
	attempt "neighbour solicitation with a payload to v's unicast address" \
		"$TF" egress policy_denied $N "f $T4 t" "v: tag=ns-payload$" -- \
		att f ns6 eth0 "$V6" $N ns-payload

	in_ns "$P-v" sysctl -qw net.ipv4.neigh.eth0.locktime=0
	in_ns "$P-v" ip neigh replace "$T4" lladdr "$TMAC" dev eth0 nud stale
	attempt "ARP reply and gratuitous ARP claiming t's address" \
		"$TF" egress spoofed_source $((2 * N)) "f $T4 t" \
		"v:arp op=[12] sha=$FMAC spa=$T4 ;t:arp op=[12] sha=$FMAC spa=$T4 " -- \
		att f arp eth0 "$T4" "$VMAC" "$V4" $N
	got=$(in_ns "$P-v" ip -j neigh show "$T4" dev eth0 | jq -r '.[0].lladdr')
	[ "$got" = "$TMAC" ] && pass "v's ARP entry for t is not poisoned" ||
		fail "v's ARP entry for t is $got, not t's $TMAC (poisoned)"

	in_ns "$P-v" sysctl -qw net.ipv6.conf.eth0.accept_ra=1
	attempt "router advertisement from f" \
		"$TF" egress policy_denied $N "f $T4 t" "v:src=$FLL .*icmp6=134" -- \
		att f ra eth0 $N
	got=$(in_ns "$P-v" ip -6 route show | grep -c "$FLL" || true)
	[ "$got" -eq 0 ] && pass "v took no route from f's advertisement" ||
		fail "v has $got route(s) via f: $(in_ns "$P-v" ip -6 route show | grep "$FLL" | head -1)"

	in_ns "$P-v" ip -6 neigh replace "$T6" lladdr "$TMAC" dev eth0 nud stale
	attempt "neighbour advertisement claiming t's address, to all nodes" \
		"$TF" egress spoofed_source $N "f $T4 t" "v:icmp6=136 target=$T6 " -- \
		att f na eth0 "$T6" ff02::1 $N
	attempt "neighbour advertisement claiming t's address, to v" \
		"$TF" egress spoofed_source $N "f $T4 t" "v:icmp6=136 target=$T6 " -- \
		att f na eth0 "$T6" "$V6" $N
	got=$(in_ns "$P-v" ip -j -6 neigh show "$T6" dev eth0 | jq -r '.[0].lladdr')
	[ "$got" = "$TMAC" ] && pass "v's neighbour entry for t is not poisoned" ||
		fail "v's neighbour entry for t is $got, not t's $TMAC (poisoned)"
}

# ---------------------------------------------------------------- re-attach
section_reattach() {
	log "re-attach: open connections are judged by the new tenant's policy"
	bg hold-r r tcp-hold "$T4" 8080 "$WORK/r.ctl"
	ctl_wait "$WORK/r.ctl" || fail "r's connection to t: $(cat "$WORK/hold-r.out")"
	[ "$("$PYTHON" "$ATTACK" ctl "$WORK/r.ctl" send reattach-before 2)" = ok ] &&
		pass "r's TCP connection to t works (tenant $TR)" || fail "r's TCP connection to t does not work"
	"$NETFENCE" attach --tenant "$TX" --iface eth0 --netns "/var/run/netns/$P-r" >/dev/null ||
		fail "netfence attach --tenant $TX (re-attach r)"
	snap "$WORK/ra0.json"
	got=$("$PYTHON" "$ATTACK" ctl "$WORK/r.ctl" send reattach-after 1.5)
	sentinel f "$T4" t || fail "sentinel after re-attach"
	snap "$WORK/ra1.json"
	[ "$got" = timeout ] && pass "after re-attach to $TX (no policy) the connection is cut" ||
		fail "after re-attach to $TX (no policy) the connection answered: $got"
	[ "$(seen '^t .* tag=reattach-after$')" -eq 0 ] && pass "t got nothing of it" ||
		fail "t got $(seen '^t .* tag=reattach-after$') segment(s) of it"
	out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/ra0.json" "$WORK/ra1.json" "$TX" egress policy_denied 1 --at-least) &&
		pass "its next packet counted policy_denied under $TX" || fail "re-attach counters: $out"
	out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/ra0.json" "$WORK/ra1.json" "$TR" egress policy_denied 0) &&
		pass "nothing of it counted under $TR" || fail "re-attach counters: $out"
}

# ---------------------------------------------------------------- conntrack flood
section_flood() {
	log "conntrack flood: h's new flows over its quota are dropped, g's connection lives"
	bg hold-g g tcp-hold "$T4" 8080 "$WORK/g.ctl"
	ctl_wait "$WORK/g.ctl" || fail "g's connection to t: $(cat "$WORK/hold-g.out")"
	[ "$("$PYTHON" "$ATTACK" ctl "$WORK/g.ctl" send flood-before 2)" = ok ] &&
		pass "g's TCP connection to t works before the flood" || fail "g's connection does not work"
	NETFENCE_CT_TENANT_MAX=200 "$NETFENCE" apply "$POLICY" >/dev/null ||
		fail "NETFENCE_CT_TENANT_MAX=200 netfence apply"
	snap "$WORK/fl0.json"
	bg flood h udp-flood "$T4" 53 300 flood
	during=ok
	for i in 1 2 3; do
		got=$("$PYTHON" "$ATTACK" ctl "$WORK/g.ctl" send "flood-during-$i" 2)
		[ "$got" = ok ] || during="$during; exchange $i: $got"
	done
	wait "$(cat "$WORK/pids/flood")"
	wait_log '^t .* tag=sentinel-flood$' || fail "the flood's sentinel never arrived at t"
	snap "$WORK/fl1.json"
	[ "$during" = ok ] && pass "g's connection works during the flood" || fail "g's connection during the flood${during#ok}"
	out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/fl0.json" "$WORK/fl1.json" "$TH" egress conntrack_full 100) &&
		pass "h: 300 new flows, quota 200: 100 dropped, conntrack_full +100" || fail "flood counters: $out"
	out=$("$PYTHON" "$ATTACK" stats-delta "$WORK/fl0.json" "$WORK/fl1.json" "$TH" egress allowed_flows 200) &&
		pass "h: 200 new flows allowed" || fail "flood counters: $out"
	got=$(seen '^t .* tag=flood$')
	[ "$got" -eq 200 ] && pass "t got 200 of h's 300 flows" || fail "t got $got of h's 300 flows, want 200"
	got=$(cat "$WORK/flood.out")
	[ "$got" = 200 ] && pass "h got 200 answers" || fail "h got '$got' answers, want 200"
	[ "$("$PYTHON" "$ATTACK" ctl "$WORK/g.ctl" send flood-after 2)" = ok ] &&
		pass "g's connection works after the flood" || fail "g's connection after the flood does not work"
	att g tcp-probe "$T4" 8080 flood-g-new && pass "g opens a new connection after the flood" ||
		fail "g cannot open a new connection after the flood"
	attempt "h's next new flow is still over its quota" "$TH" egress conntrack_full 1 "f $T4 t" \
		"t: tag=flood-next$" -- att h udp-send "$T4" 53 1 flood-next
}

# ---------------------------------------------------------------- the pod's own tc
section_tcdel() {
	log "qdiscs, filters and programs deleted inside the pod change nothing"
	in_ns "$P-f" tc filter del dev eth0 ingress 2>/dev/null
	in_ns "$P-f" tc filter del dev eth0 egress 2>/dev/null
	in_ns "$P-f" "$PYTHON" "$E2E_LIB/tchooks.py" detach eth0 >/dev/null 2>&1
	in_ns "$P-f" tc qdisc del dev eth0 clsact 2>/dev/null
	[ "$(in_ns "$P-f" tc filter show dev eth0 egress 2>/dev/null | wc -l)" -eq 0 ] &&
		pass "nothing left on f's eth0" || fail "filters left on f's eth0 after deleting"
	for a in "$V4" "$V6"; do
		attempt "after tc qdisc del inside f: f -> v udp/9999 ($a) still denied" \
			"$TF" egress policy_denied $N "f $T4 t" "v: tag=after-tc-del$" -- \
			att f udp-send "$a" 9999 $N after-tc-del
	done
	attempt "after tc qdisc del inside f: t -> f udp/7777 still invisible in f" \
		"$TF" ingress policy_denied $N "f $T4 f" "f: tag=after-tc-del-in$" -- \
		att t udp-send "$F4" 7777 $N after-tc-del-in
	att f udp-probe "$T4" 53 after-tc-del-ok && pass "control: f -> t udp/53 still works" ||
		fail "control: f -> t udp/53 no longer works"
}

# ---------------------------------------------------------------- macvlan: the frame's ethertype
section_macvlan() {
	log "macvlan (programs on the pod's side): the frame's ethertype decides, not sll_protocol"
	if att m1 udp-probe "$M2" 53 mv-ctl; then pass "control: m1 -> m2 udp/53 and its reply"
	else fail "control: m1 -> m2 udp/53 and its reply"; fi
	attempt "control: macvlan packet socket, true ethertype, IPv4/UDP -> m2 udp/9999 denied" \
		"$TM" egress policy_denied $N "m1 $M2 m2" "m2: tag=mv-true$" -- \
		att m1 frame eth0 "$M2MAC" "$M1" "$M2" $N mv-true
	attempt "macvlan packet socket, sll_protocol ARP, IPv4/UDP -> m2 udp/53 (allowed as IPv4)" \
		"$TM" egress malformed $N "m1 $M2 m2" "m2: tag=mv-arp-53$" -- \
		att m1 frame eth0 "$M2MAC" "$M1" "$M2" $N mv-arp-53 --sll-proto 0x0806 --dport 53
	attempt "macvlan packet socket, sll_protocol ARP, IPv4/UDP -> m2 udp/9999" \
		"$TM" egress malformed $N "m1 $M2 m2" "m2: tag=mv-arp$" -- \
		att m1 frame eth0 "$M2MAC" "$M1" "$M2" $N mv-arp --sll-proto 0x0806
	attempt "macvlan packet socket, sll_protocol IPv6, IPv4/UDP with a spoofed source -> m2" \
		"$TM" egress malformed $N "m1 $M2 m2" "m2: tag=mv-v6-spoof$" -- \
		att m1 frame eth0 "$M2MAC" 10.125.0.250 "$M2" $N mv-v6-spoof --sll-proto 0x86dd
}

# HOSTILE_SECTIONS="nd flood ...": only those (controls always run); default all
# ---------------------------------------------------------------- macvlan: the guard on the parent
section_guard() {
	local o=10.125.0.200 omac m1mac
	omac=$(mac o) m1mac=$(mac m1)
	log "macvlan: the guard on the parent judges what crosses it (SPEC §3.11)"
	attempt "control: m1 -> o udp/9999 through a socket, denied on m1's own interface" \
		"$TM" egress policy_denied $N "m2 $o o" "o: tag=gd-sock$" -- \
		att m1 udp-send "$o" 9999 $N gd-sock
	attempt "macvlan packet socket, PACKET_QDISC_BYPASS, IPv4/UDP -> o: the guard drops it" \
		"$TM" egress policy_denied $N "m2 $o o" "o: tag=gd-bypass$" -- \
		att m1 frame eth0 "$omac" "$M1" "$o" $N gd-bypass --bypass
	attempt "macvlan packet socket, PACKET_QDISC_BYPASS, under a forged MAC -> o" \
		"$TM" egress spoofed_source $N "m2 $o o" "o: tag=gd-mac$" -- \
		att m1 frame eth0 "$omac" "$M1" "$o" $N gd-mac --bypass --src-mac 02:00:00:00:be:ef
	# o learns m1's MAC first (ARP passes both ways, checked), then sends denied datagrams
	in_ns "$P-o" ip neigh replace "$M1" lladdr "$m1mac" dev eth0 nud permanent
	attempt "o -> m1 udp/7777: dropped on the parent, a tap in m1 sees none of it" \
		"$TM" ingress policy_denied $N "o $M2 m2" "m1: tag=gd-in$" -- \
		att o udp-send "$M1" 7777 $N gd-in
}

for s in controls packet raw ingress icmp nd macvlan guard reattach flood tcdel; do
	[ -z "${HOSTILE_SECTIONS:-}" ] || [ "$s" = controls ] || [[ " $HOSTILE_SECTIONS " == *" $s "* ]] ||
		continue
	"section_$s"
done
