#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Concurrency (SPEC §10.4, issue 13): for CONC_SECONDS (default 120) these
# run at once, every command's exit code checked (all must succeed: commands
# wait for the node lock, none fails because another holds it):
#  - CONC_CNI_WORKERS (3) pod workers: a netns, CNI ADD through the real
#    bridge + host-local plugins chained with netfence-cni (K8S_POD_NAMESPACE
#    one of 4 tenants), every other pod probed (invariants below), CNI DEL,
#    netns deleted; at the deadline each worker leaves its last pod alive or
#    not (at random);
#  - two policy workers: one owns policy "a" of tenants t0..t2, the other "b"
#    (a namespaceSelector naming the next tenant and t3, which has no objects
#    and whose id comes and goes with its pods). Each applies its policy to
#    a tenant that lacks it or deletes it where it exists, sometimes all
#    three in one List apply; it knows what exists, so the expected verdicts
#    at the end are exact;
#  - an endpoint worker: attach / re-attach (t0, t1, t3) / detach of an interface (pod
#    x0, bridge only) and of a cgroup;
#  - a scrape worker: /metrics of `netfence serve` (started here, in the
#    node netns), promtool on it, `status --json`, `stats --json`, and `check`
#    of the rules that never change (policy "base": tcp/7002 allowed, 7009
#    denied).
# Invariants checked on the fly for each probed new pod, from the unfenced
# client cl: tcp/7002 passes for t0..t2 (base), nothing passes for t3 (no
# policy), tcp/7009 never (no server there: "refused" would mean it got
# through).
# At the end (quiescent):
#  - `status --json` endpoints are exactly the live pods (anchors, the pods the
#    workers left), x0 and the cgroup if attached, each in its tenant; the
#    endpoint records and CNI markers in /run/netfence match; every live
#    pod's host-side veth carries netfence's two programs; no netns or veth
#    of a deleted pod is left;
#  - real probes to every live pod: 7000 passes iff "a" is applied, 7001
#    from cl (ipBlock) and from the next tenant's anchor (selector) iff "b",
#    7002 always, 7009 never; UDP to 7009 is dropped and counted exactly;
#    `check` says the same; /metrics passes promtool, its endpoint gauges
#    match, no apply counted as an error, nothing quarantined;
#  - after every pod is deleted, x0 and the cgroup detached and the
#    policies back where they started, map usage (all but the connection
#    tracking, fragment, peer cache and counter maps, whose content follows
#    traffic) equals the baseline taken before the run.
#
# Layout: one node netns ($P-node) with the bridge; pods are netns on it.
#   cl        unfenced client (bridge plugin only)
#   anc0..2   anchor pods of t0..t2 (CNI, live all along)
#   x0        bridge only; the endpoint worker attaches it with `netfence attach`
#   wN-M      pod M of CNI worker N
# Servers and probes come from one process (lib/nshub.py) that enters pod
# namespaces per thread: a python start per probe would cost more than
# the CNI ADD it probes on this 2-core machine.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
. tests/e2e/lib/cni.sh

RUN=${CONC_SECONDS:-120}
NCNI=${CONC_CNI_WORKERS:-3}
[[ "$RUN" =~ ^[0-9]+$ ]] && [ "$RUN" -ge 5 ] || { echo "CONC_SECONDS must be a number >= 5 (got '$RUN')"; exit 2; }
[[ "$NCNI" =~ ^[1-9]$ ]] || { echo "CONC_CNI_WORKERS must be 1..9 (got '$NCNI')"; exit 2; }
T_START=$EPOCHSECONDS
cni_setup
for c in curl promtool bpftool; do command -v "$c" >/dev/null || die "$c not found"; done
CGROOT=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
CG=
if [ -n "$CGROOT" ]; then
	CG=$CGROOT/$P-cg
	mkdir "$CG" || die "cannot create $CG"
else
	nf_skip_part "no cgroup v2 hierarchy: no cgroup attach/detach"
fi
conc_cleanup() {
	local rc=$?
	local f
	for f in "$WORK"/pids/*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null
	(exit $rc)
	cni_cleanup
}
trap conc_cleanup EXIT

NET=$P-net
CONF=$WORK/chain.conflist	# bridge + netfence-cni
CONFB=$WORK/bridge.conflist	# the bridge plugin alone
# 13 addresses for cl, x0, the anchors and the workers' pods: host-local hands
# a deleted pod's address to a new one (of another tenant) within a few pods
SUBNET=10.125.0.0/16
# shellcheck disable=SC2016
write_conflist "$CONF" "$NET" 1.0.0 "$(jq -n --arg br "${IFP}br" --arg d "$WORK/ipam" --arg s "$SUBNET" '{
	type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	ipam: {type: "host-local", dataDir: $d,
		ranges: [[{subnet: $s, rangeStart: "10.125.0.2", rangeEnd: "10.125.0.14"}]]}}')"
jq '.plugins |= .[:1]' "$CONF" >"$CONFB"
# no IPv6: no router solicitations or DAD counted as drops behind our back
in_ns "$NODE" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
T=("$P-t0" "$P-t1" "$P-t2" "$P-t3")
# netfence runs where the node's CNI plugins run (its addresses are the
# node's, SPEC §3.8): in $NODE, like the CNI runtime here
nfc() { nsenter --net="$(netns_path "$NODE")" "$NETFENCE" "$@"; }
FAILF=$WORK/fails
: >"$FAILF"
# wfail: a failure in a worker (a subshell: FAILS would not survive it)
wfail() { echo "FAIL: $*" | tee -a "$FAILF"; }

# --- the hub: servers and probes in pod namespaces ---
(exec "$PYTHON" "$E2E_LIB/nshub.py" "$WORK/hub.port" </dev/null >"$WORK/hub.log" 2>&1) &
echo $! >"$WORK/pids/hub"
for _ in $(seq 100); do [ -s "$WORK/hub.port" ] && break; sleep 0.1; done
HUB_PORT=$(cat "$WORK/hub.port" 2>/dev/null) || die "nshub did not start: $(cat "$WORK/hub.log")"
# hub LINE: one request; the reply in HUB_R (no fork)
hub() {
	local fd
	HUB_R=
	exec {fd}<>"/dev/tcp/127.0.0.1/$HUB_PORT" || { HUB_R=error:hub; return 1; }
	echo "$*" >&"$fd"
	IFS= read -r -t 60 HUB_R <&"$fd" || HUB_R=error:noreply
	exec {fd}>&-
	[ "${HUB_R%%:*}" != error ]
}
# tcpv FROM IP PORT [WANT]: V = "allowed" or "blocked" (a blocked probe must
# time out: anything else, e.g. refused, is reported as it is). When WANT is
# allowed, a timeout is tried again with 3 s (a loaded machine).
tcpv() {
	hub tcp "$P-$1" "$2" "$3" 1
	[ "$HUB_R" = timeout ] && [ "${4:-}" = allowed ] && hub tcp "$P-$1" "$2" "$3" 3
	case $HUB_R in ok) V=allowed ;; timeout) V=blocked ;; *) V="reached($HUB_R)" ;; esac
}

# --- pods ---
# newns POD: the pod's netns, lo up, no IPv6
newns() {
	ip netns add "$P-$1" || return 1
	in_ns "$P-$1" ip link set lo up
	in_ns "$P-$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}
cg_progs() { bpftool -j cgroup show "$CG" 2>/dev/null | jq -s '.[0] // [] | length'; }

newns cl && cni ADD "$CONFB" cl eth0 "" >/dev/null || die "cannot set up the client pod"
CL_IP=$(pod_ip "$CONFB" cl eth0)
newns x0 && cni ADD "$CONFB" x0 eth0 "" >/dev/null || die "cannot set up pod x0"
X0IF=$(hostif "$CONFB" x0)
X0NS=$(netns_path "$P-x0")
# the address worker's interface (a bridge without ports): node addresses 10.124.0.1..6 come and go
in_ns "$NODE" ip link add "${IFP}d" type bridge && in_ns "$NODE" ip link set "${IFP}d" up ||
	die "cannot create the address worker's interface"

# --- policies ---
PD=$WORK/pol
mkdir "$PD"
np() { # np TENANT NAME TYPES INGRESS [EGRESS]
	echo "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",
 \"metadata\":{\"name\":\"$2\",\"namespace\":\"$1\"},
 \"spec\":{\"podSelector\":{},\"policyTypes\":$3,\"ingress\":$4${5:+,\"egress\":$5}}}"
}
list() { echo "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[$(IFS=,; echo "$*")]}"; }
for i in 0 1 2; do
	np "${T[i]}" base '["Ingress","Egress"]' \
		"[{\"from\":[{\"ipBlock\":{\"cidr\":\"$SUBNET\"}}],\"ports\":[{\"port\":7002}]}]" '[{}]' \
		>"$PD/base-$i.json"
	np "${T[i]}" a '["Ingress"]' \
		"[{\"from\":[{\"ipBlock\":{\"cidr\":\"$SUBNET\"}}],\"ports\":[{\"port\":7000}]}]" >"$PD/a-$i.json"
	np "${T[i]}" b '["Ingress"]' "[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{
		\"key\":\"kubernetes.io/metadata.name\",\"operator\":\"In\",
		\"values\":[\"${T[(i + 1) % 3]}\",\"${T[3]}\"]}]}},{\"ipBlock\":{\"cidr\":\"$CL_IP/32\"}}],
		\"ports\":[{\"port\":7001}]}]" >"$PD/b-$i.json"
done
for k in a b; do list "$(cat "$PD/$k-0.json")" "$(cat "$PD/$k-1.json")" "$(cat "$PD/$k-2.json")" >"$PD/$k-all.json"; done
for f in "$PD"/*.json; do nfc validate "$f" >/dev/null || die "invalid test policy $f"; done
for i in 0 1 2; do nfc apply "$PD/base-$i.json" >/dev/null || die "apply base-$i"; done

# --- anchors: one pod per base tenant, live all along ---
declare -A LIVE_T LIVE_IF LIVE_IP	# the end's live CNI pods
for i in 0 1 2; do
	newns "anc$i" && cni ADD "$CONF" "anc$i" eth0 "${T[i]}" >/dev/null || die "ADD anc$i"
	LIVE_T[anc$i]=${T[i]}
	LIVE_IF[anc$i]=$(hostif "$CONF" "anc$i")
	LIVE_IP[anc$i]=$(pod_ip "$CONF" "anc$i" eth0)
	hub serve "$P-anc$i" || die "serve in anc$i: $HUB_R"
done

# --- check across two applies, a deterministic interleaving: `check` stopped
# by gdb once it has read the tenant's epoch E (at lookup__judge); meanwhile
# "a" is deleted (E + 1) and "b" applied (E + 2, written over E's entries and
# rule names); then check goes on. It must describe one epoch, not E's rule
# numbers with E + 2's names (before: "allow: rule #2 of tenant ...") ---
if command -v gdb >/dev/null; then
	nfc apply "$PD/a-0.json" >/dev/null || die "apply a-0"
	cat >"$WORK/between.sh" <<EOS
nsenter --net="$(netns_path "$NODE")" "$NETFENCE" delete "${T[0]}/a" >/dev/null &&
nsenter --net="$(netns_path "$NODE")" "$NETFENCE" apply "$PD/b-0.json" >/dev/null && echo between: ok
EOS
	out=$(nsenter --net="$(netns_path "$NODE")" gdb -q -batch -ex 'break lookup__judge' -ex run \
		-ex "shell sh $WORK/between.sh" -ex delete -ex continue \
		--args "$NETFENCE" check --tenant "${T[0]}" --direction ingress --peer "$CL_IP" --port 7002 2>&1)
	grep -q '^between: ok' <<<"$out" || fail "check across two applies: the applies between failed: $out"
	got=$(grep -E '^(allow|deny):' <<<"$out")
	expect_eq "check stopped across two applies of its tenant" "$got" \
		"allow: policy ${T[0]}/base, spec.ingress[0]"
	nfc delete "${T[0]}/b" >/dev/null || die "delete ${T[0]}/b"
else
	nf_skip_part "no gdb: check across two applies not run"
fi

# --- the baseline: map usage with the policies and endpoints of the start ---
# usage: every map's entries but ct, frags, peer_cache, verdicts, stats (they follow
# traffic and time), the ipcache's less the node's own addresses
usage() {
	local hosts
	hosts=$(grep -c . /run/netfence/host_addrs 2>/dev/null || echo 0)
	nfc status --json | jq -c --argjson h "$hosts" '[.maps[] |
		select(.name | IN("ct", "frags", "peer_cache", "verdicts", "stats") | not) |
		{(.name): (if .name == "ipcache" then .entries - $h else .entries end)}] | add'
}
tenants_now() { nfc status --json | jq -c '[.tenants[] | {(.name): .epoch > 0}] | add'; }
sleep 2.1	# the old parity goes with a change once its flip is over 1 s old
nfc apply "$PD/base-0.json" >/dev/null || die "apply base-0 again"
BASE=$(usage)
BASE_TENANTS=$(nfc status --json | jq -c '[.tenants[].name] | sort')
log "baseline: $BASE; tenants $BASE_TENANTS"

# --- serve, in the node netns ---
SPORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(exec nsenter --net="$(netns_path "$NODE")" "$NETFENCE" serve --listen "127.0.0.1:$SPORT" \
	>"$WORK/serve.log" 2>&1) &
SERVE_PID=$!
echo "$SERVE_PID" >"$WORK/pids/serve"
scrape() { in_ns "$NODE" curl -sf --max-time 20 "http://127.0.0.1:$SPORT/metrics"; }
for _ in $(seq 100); do scrape >/dev/null 2>&1 && break; sleep 0.1; done
scrape >/dev/null || die "serve does not answer: $(tail -3 "$WORK/serve.log")"

# --- workers ---
# run_ok WHO CMD...: the command must exit 0; its output in OUT, its
# duration (ms) in MS, the longest one in MAXMS
MAXMS=0
run_ok() {
	local who=$1 rc t0=${EPOCHREALTIME/./}
	shift
	OUT=$("$@" 2>&1)
	rc=$?
	MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
	[ $MS -gt $MAXMS ] && MAXMS=$MS
	[ $rc -eq 0 ] && return 0
	wfail "$who: $* -> exit $rc: $(tr '\n' ' ' <<<"$OUT" | head -c 400)"
	return 1
}
END=$((EPOCHSECONDS + RUN))
# ep_tenant OWNER|iface:IF: the tenant of that endpoint in `status --json` ("" = none)
ep_tenant() {
	nfc status --json | jq -r --arg o "$1" '[.endpoints[] |
		select(.owner == $o or "iface:\(.attach.iface)" == $o) | .tenant][0] // ""'
}

worker_cni() {
	local w=$1 n=0 pod t ti ip v port want
	local adds=0 dels=0 probes=0
	while :; do
		n=$((n + 1))
		pod=w$w-$n
		ti=$((RANDOM % 4))
		t=${T[ti]}
		newns "$pod" || { wfail "w$w: netns $pod"; break; }
		ip=
		echo "$t" >"$WORK/live/$pod"	# before the ADD: a failed ADD is still seen at the end
		run_ok "w$w" cni ADD "$CONF" "$pod" eth0 "$t" && adds=$((adds + 1))
		# its endpoint, in its tenant, its two programs (nothing else touches them)
		v=$(ep_tenant "$P-$pod/eth0")
		[ "$v" = "$t" ] || wfail "w$w: after ADD $pod ($t): status gives its endpoint tenant '$v'"
		v=$(progs_on "$(hostif "$CONF" "$pod")")
		[ "$v" = 2 ] || wfail "w$w: after ADD $pod ($t): $v programs on its host-side veth"
		if [ $((n % 2)) = 0 ]; then
			ip=$(pod_ip "$CONF" "$pod" eth0)
			# cl may hold another MAC for this address again after the previous
			# pod's DEL removed its entry (CI, 2026-12-04: a probe blocked on a
			# DELAY entry whose MAC was not the pod's, allowed once it went; a
			# deleted netns's veth goes later, in the kernel's own time). The
			# probes test netfence's verdict, not the bridge plugin's lack of ARP.
			in_ns "$P-cl" ip neigh del "$ip" dev eth0 2>/dev/null
			hub serve "$P-$pod" || wfail "w$w: serve in $pod: $HUB_R"
			for port in 7002 7009 7000; do
				case $port:$ti in
				7002:3 | 7009:*) want=blocked ;;
				7002:*) want=allowed ;;
				*) want=any ;;	# 7000: a and the policy worker race
				esac
				tcpv cl "$ip" "$port" "$want"
				probes=$((probes + 1))
				if [ "$want" = any ]; then
					[ "$V" = allowed ] || [ "$V" = blocked ] || wfail "w$w: cl -> $pod ($t) tcp/$port: $V"
				elif [ "$V" != "$want" ]; then
					wfail "w$w: cl -> $pod ($t) tcp/$port: $V, want $want; $(diag "$pod" "$ip" "$t")"
				fi
			done
			hub unserve "$P-$pod"
		fi
		if [ "$EPOCHSECONDS" -ge "$END" ] && [ $((RANDOM % 2)) = 0 ]; then
			break	# this one stays
		fi
		run_ok "w$w" cni DEL "$CONF" "$pod" eth0 "$t" && dels=$((dels + 1))
		v=$(ep_tenant "$P-$pod/eth0")
		[ -z "$v" ] || wfail "w$w: after DEL $pod ($t): status still lists its endpoint (tenant '$v')"
		[ $((n % 5)) = 0 ] && { run_ok "w$w" cni DEL "$CONF" "$pod" eth0 "$t" && dels=$((dels + 1)); }
		ip netns del "$P-$pod" || wfail "w$w: ip netns del $pod"
		# host-local gives its address to another pod soon, and the bridge plugin
		# (1.1.1) sends no gratuitous ARP: cl would send to the old MAC for ~30 s
		[ -n "$ip" ] && in_ns "$P-cl" ip neigh del "$ip" dev eth0 2>/dev/null
		rm -f "$WORK/live/$pod"
		[ "$EPOCHSECONDS" -ge "$END" ] && break
	done
	echo "w$w: $adds ADD, $dels DEL, $probes probes, pods $n; longest ADD/DEL $MAXMS ms"
}

# diag POD IP TENANT: what may explain a wrong verdict (one line)
diag() {
	local mac neigh
	mac=$(in_ns "$P-$1" cat /sys/class/net/eth0/address 2>/dev/null)
	neigh=$(in_ns "$P-cl" ip neigh show "$2" 2>/dev/null)
	echo "pod mac $mac; cl's neighbour entry: $neigh; $3's drops: $(nfc stats --json | jq -c --arg t "$3" \
		'[.tenants[]? | select(.tenant == $t) | .drops[]? | {(.direction + "/" + .reason): .packets}] | add')"
	in_ns "$P-cl" ip neigh del "$2" dev eth0 2>/dev/null
	tcpv cl "$2" 7002 allowed
	echo "; after the neighbour entry was deleted: $V; status: $(nfc status --json | jq -c --arg o "$P-$1/eth0" \
		'[.endpoints[] | select(.owner == $o) | {tenant, addrs: (.addresses // .addrs)}]')"
}

# policy worker NAME: owns policy NAME of t0..t2; its state in $WORK/pol-NAME-i
worker_pol() {
	local k=$1 i n=0 lists=0 dels=0 applies=0
	local -a have=(0 0 0)
	while [ "$EPOCHSECONDS" -lt "$END" ]; do
		n=$((n + 1))
		i=$((RANDOM % 3))
		if [ $((RANDOM % 6)) = 0 ]; then
			run_ok "pol-$k" nfc apply "$PD/$k-all.json" && have=(1 1 1) && lists=$((lists + 1))
		elif [ "${have[i]}" = 1 ]; then
			run_ok "pol-$k" nfc delete "${T[i]}/$k" && have[i]=0 && dels=$((dels + 1))
		else
			run_ok "pol-$k" nfc apply "$PD/$k-$i.json" && have[i]=1 && applies=$((applies + 1))
		fi
		for i in 0 1 2; do echo "${have[i]}" >"$WORK/pol-$k-$i"; done
	done
	echo "pol-$k: $applies applies, $lists List applies, $dels deletes; longest $MAXMS ms"
}

# endpoint worker: x0 none -> t0 -> t1 -> t3 (re-attaches; t3 may have no id
# yet) -> none; the cgroup t2 <-> none
worker_ep() {
	local n=0 x0=none cg=none v
	while [ "$EPOCHSECONDS" -lt "$END" ]; do
		n=$((n + 1))
		case $x0 in
		none) run_ok ep nfc attach --tenant "${T[0]}" --iface eth0 --netns "$X0NS" && x0=${T[0]} ;;
		"${T[0]}") run_ok ep nfc attach --tenant "${T[1]}" --iface eth0 --netns "$X0NS" && x0=${T[1]} ;;
		"${T[1]}") run_ok ep nfc attach --tenant "${T[3]}" --iface eth0 --netns "$X0NS" && x0=${T[3]} ;;
		*) run_ok ep nfc detach --iface eth0 --netns "$X0NS" && x0=none ;;
		esac
		echo "$x0" >"$WORK/ep-x0"
		v=$(ep_tenant "iface:$X0IF")
		[ "$v" = "${x0/none/}" ] || wfail "ep: x0 should be in '${x0/none/}': status says '$v'"
		if [ -n "$CG" ] && [ $((n % 2)) = 0 ]; then
			if [ "$cg" = none ]; then
				run_ok ep nfc attach --tenant "${T[2]}" --cgroup "$CG" && cg=${T[2]}
			else
				run_ok ep nfc detach --cgroup "$CG" && cg=none
			fi
			echo "$cg" >"$WORK/ep-cg"
		fi
		sleep 0.$((RANDOM % 5))
	done
	echo "ep: $n rounds; longest command $MAXMS ms"
}

# address worker: node addresses come and go (serve follows them, every
# state-changing command syncs them)
worker_addr() {
	local n=0 k
	local -a on=(0 0 0 0 0 0 0)
	while [ "$EPOCHSECONDS" -lt "$END" ]; do
		n=$((n + 1))
		k=$((RANDOM % 6 + 1))
		if [ "${on[k]}" = 1 ]; then
			run_ok addr in_ns "$NODE" ip addr del "10.124.0.$k/32" dev "${IFP}d" && on[k]=0
		else
			run_ok addr in_ns "$NODE" ip addr add "10.124.0.$k/32" dev "${IFP}d" && on[k]=1
		fi
		echo "${on[k]}" >"$WORK/addr-$k"
		sleep 0.$((RANDOM % 4))
	done
	echo "addr: $n changes"
}

# scrape worker: /metrics (promtool on every 3rd), status, stats, check
worker_scrape() {
	local n=0 i
	while [ "$EPOCHSECONDS" -lt "$END" ]; do
		n=$((n + 1))
		if scrape >"$WORK/scrape.txt" 2>"$WORK/scrape.err"; then
			if [ $((n % 3)) = 1 ] && ! promtool check metrics <"$WORK/scrape.txt" >"$WORK/promtool.out" 2>&1; then
				wfail "scrape: promtool: $(head -c 300 "$WORK/promtool.out")"
				cp "$WORK/scrape.txt" "$WORK/scrape-bad-$n.txt"
			fi
		else
			wfail "scrape: curl /metrics: exit $?: $(head -c 200 "$WORK/scrape.err")"
		fi
		run_ok scrape nfc status --json && { jq -e '.endpoints | type == "array"' <<<"$OUT" >/dev/null ||
			wfail "scrape: status --json is not a status document: $(head -c 200 <<<"$OUT")"; }
		run_ok scrape nfc stats --json
		i=$((RANDOM % 3))
		run_ok scrape nfc check --tenant "${T[i]}" --direction ingress --peer "$CL_IP" --port 7002 &&
			{ [[ "$OUT" == *"allow: policy ${T[i]}/base"* ]] || wfail "scrape: check 7002 ${T[i]}: $OUT"; }
		run_ok scrape nfc check --tenant "${T[i]}" --direction ingress --peer "$CL_IP" --port 7009 &&
			{ [[ "$OUT" == *"deny: "* ]] || wfail "scrape: check 7009 ${T[i]}: $OUT"; }
	done
	echo "scrape: $n rounds; longest command $MAXMS ms"
}

mkdir "$WORK/live"
echo none >"$WORK/ep-x0"
echo none >"$WORK/ep-cg"
for k in a b; do for i in 0 1 2; do echo 0 >"$WORK/pol-$k-$i"; done; done
for k in 1 2 3 4 5 6; do echo 0 >"$WORK/addr-$k"; done
log "running for $RUN s: $NCNI CNI workers, 2 policy workers, an endpoint worker, a scrape worker (setup took $((EPOCHSECONDS - T_START)) s)"
T_RUN=$EPOCHSECONDS
WPIDS=()
for w in $(seq "$NCNI"); do worker_cni "$w" >"$WORK/w$w.log" 2>&1 & WPIDS+=($!); echo $! >"$WORK/pids/w$w"; done
worker_pol a >"$WORK/pol-a.log" 2>&1 & WPIDS+=($!); echo $! >"$WORK/pids/pol-a"
worker_pol b >"$WORK/pol-b.log" 2>&1 & WPIDS+=($!); echo $! >"$WORK/pids/pol-b"
worker_ep >"$WORK/ep.log" 2>&1 & WPIDS+=($!); echo $! >"$WORK/pids/ep"
worker_scrape >"$WORK/scrape.log" 2>&1 & WPIDS+=($!); echo $! >"$WORK/pids/scrape"
worker_addr >"$WORK/addr.log" 2>&1 & WPIDS+=($!); echo $! >"$WORK/pids/addr"
for p in "${WPIDS[@]}"; do wait "$p"; done
rm -f "$WORK"/pids/w* "$WORK"/pids/pol-* "$WORK"/pids/ep "$WORK"/pids/scrape "$WORK"/pids/addr
log "workers done after $((EPOCHSECONDS - T_RUN)) s:"
for f in "$WORK"/w[0-9]*.log "$WORK"/pol-?.log "$WORK"/ep.log "$WORK"/scrape.log "$WORK"/addr.log; do
	grep -v '^FAIL' "$f" | sed 's/^/#   /'
done
NWF=$(grep -c . "$FAILF")
expect_eq "failed commands and invariants during the run" "$NWF" 0
[ "$NWF" = 0 ] || head -40 "$FAILF"

# ---------------- quiescent: the end state ----------------
for f in "$WORK"/live/*; do
	[ -f "$f" ] || continue
	pod=${f##*/}
	LIVE_T[$pod]=$(cat "$f")
	LIVE_IF[$pod]=$(hostif "$CONF" "$pod")
	LIVE_IP[$pod]=$(pod_ip "$CONF" "$pod" eth0)
done
X0_T=$(cat "$WORK/ep-x0")
CG_T=$(cat "$WORK/ep-cg")
declare -A HAVE
for k in a b; do for i in 0 1 2; do HAVE[$k$i]=$(cat "$WORK/pol-$k-$i"); done; done
log "live pods: ${!LIVE_T[*]}; x0: $X0_T; cgroup: $CG_T; a: ${HAVE[a0]}${HAVE[a1]}${HAVE[a2]} b: ${HAVE[b0]}${HAVE[b1]}${HAVE[b2]}"

log "endpoints = live pods"
ST=$(nfc status --json) || fail "status --json after the run"
want=$(for pod in "${!LIVE_T[@]}"; do echo "$P-$pod/eth0 ${LIVE_T[$pod]}"; done
	[ "$X0_T" != none ] && echo "x0:$X0IF $X0_T"
	[ "$CG_T" != none ] && echo "cg:$CG $CG_T"
	true)
got=$(jq -r --arg x0 "$X0IF" --arg cg "$CG" '.endpoints[] |
	if .type == "cgroup" then "cg:\(.cgroup) \(.tenant)"
	elif .owner != "" and .owner != null then "\(.owner) \(.tenant)"
	else "x0:\(.attach.iface) \(.tenant)" end' <<<"$ST")
expect_eq "endpoints (owner tenant)" "$(sort <<<"$got" | tr '\n' ' ')" "$(sort <<<"$want" | tr '\n' ' ')"
nrec=$(find /run/netfence/endpoints -name '*.json' 2>/dev/null | wc -l)
expect_eq "endpoint records in /run/netfence/endpoints" "$nrec" "$(grep -c . <<<"$want")"
expect_eq "CNI markers in /run/netfence/cni/$NET" \
	"$(find "/run/netfence/cni/$NET" -type f 2>/dev/null | wc -l)" "${#LIVE_T[@]}"
bad=""
for pod in "${!LIVE_T[@]}"; do
	n=$(progs_on "${LIVE_IF[$pod]}")
	[ "$n" = 2 ] || bad+="$pod(${LIVE_IF[$pod]}):$n "
done
expect_eq "live pods whose host-side veth lacks netfence's two programs" "$bad" ""
expect_eq "programs on x0's veth (attached: $X0_T)" "$(progs_on "$X0IF")" "$([ "$X0_T" = none ] && echo 0 || echo 2)"
if [ -n "$CG" ]; then
	expect_eq "netfence programs on the cgroup (attached: $CG_T)" "$(cg_progs)" \
		"$([ "$CG_T" = none ] && echo 0 || echo 7)"
fi
left_ns=$(for f in /var/run/netns/"$P"-w*; do [ -e "$f" ] && echo "${f##*/"$P"-}"; done | sort | tr '\n' ' ')
expect_eq "worker netns left" "$left_ns" "$(for p in "${!LIVE_T[@]}"; do [[ $p == w* ]] && echo "$p"; done | sort | tr '\n' ' ')"
expect_eq "veths in the node netns (cl, x0 and the live pods)" \
	"$(in_ns "$NODE" ip -o link show type veth 2>/dev/null | wc -l)" "$((${#LIVE_T[@]} + 2))"

log "verdicts by real probes, per the last applied policies"
for k in a b; do for i in 0 1 2; do
	got=$(nfc status --json | jq -r --arg t "${T[i]}" --arg k "$k" \
		'[.tenants[] | select(.name == $t) | .policies[]? | select(.name == $k)] | length')
	expect_eq "status: ${T[i]} has policy $k" "$got" "${HAVE[$k$i]}"
done; done
for pod in "${!LIVE_T[@]}"; do
	hub serve "$P-$pod" >/dev/null 2>&1	# anchors' already run: "address in use" is fine
done
# EXP["FROM POD PORT"]: the verdict the last applied policies give
declare -A EXP
for pod in "${!LIVE_T[@]}"; do
	t=${LIVE_T[$pod]}
	for i in 0 1 2 3; do [ "$t" = "${T[i]}" ] && ti=$i; done
	if [ "$ti" = 3 ]; then
		for port in 7000 7001 7002 7009; do EXP["cl $pod $port"]=blocked; done
		continue
	fi
	EXP["cl $pod 7000"]=$([ "${HAVE[a$ti]}" = 1 ] && echo allowed || echo blocked)
	EXP["cl $pod 7001"]=$([ "${HAVE[b$ti]}" = 1 ] && echo allowed || echo blocked)
	EXP["cl $pod 7002"]=allowed
	EXP["cl $pod 7009"]=blocked
	EXP["anc$(((ti + 1) % 3)) $pod 7001"]=${EXP["cl $pod 7001"]}
done
# the probes of one pod run in the background (a blocked one costs its timeout)
probe_pod() { # probe_pod POD: lines "FROM POD PORT VERDICT"
	local k
	for k in "${!EXP[@]}"; do
		set -- $k
		[ "$2" = "$POD" ] || continue
		tcpv "$1" "${LIVE_IP[$2]}" "$3" "${EXP[$k]}"
		echo "$k $V"
	done
}
want=$(for k in "${!EXP[@]}"; do echo "$k ${EXP[$k]}"; done | sort)
PPIDS=()
for pod in "${!LIVE_T[@]}"; do POD=$pod probe_pod >"$WORK/probe-$pod" & PPIDS+=($!); done
for p in "${PPIDS[@]}"; do wait "$p"; done
got=$(cat "$WORK"/probe-* | sort)
if [ "$got" = "$want" ]; then
	pass "$(grep -c . <<<"$want") probes as the last applied policies say"
else
	fail "probes differ from the last applied policies (< got, > want):"
	diff <(echo "$got") <(echo "$want") | grep '^[<>]'
fi
for i in 0 1 2; do
	for port in 7000 7001; do
		k=$([ $port = 7000 ] && echo a || echo b)
		got=$(nfc check --tenant "${T[i]}" --direction ingress --peer "$CL_IP" --port $port)
		[ "${HAVE[$k$i]}" = 1 ] && w="allow: policy ${T[i]}/$k" || w="deny: "
		[[ "$got" == *"$w"* ]] && pass "check ${T[i]} tcp/$port: $w" ||
			fail "check ${T[i]} tcp/$port: '$got', want '$w...'"
	done
done

log "the node's addresses: trusted for ingress while they are the node's"
nfc apply "$PD/base-0.json" >/dev/null || fail "apply base-0 again (syncs the node's addresses)"
got="" want=""
for k in 1 2 3 4 5 6; do
	out=$(nfc check --tenant "${T[0]}" --direction ingress --peer "10.124.0.$k" --port 7009)
	case $out in *"allow: ingress from the node's own addresses"*) got+="$k:node " ;; *deny:*) got+="$k:deny " ;; *) got+="$k:?($out) " ;; esac
	[ "$(cat "$WORK/addr-$k")" = 1 ] && want+="$k:node " || want+="$k:deny "
done
expect_eq "check of ingress from 10.124.0.1..6" "$got" "$want"
expect_eq "node addresses in /run/netfence/host_addrs" \
	"$(sed "s/^::ffff://" /run/netfence/host_addrs | sort | tr '\n' ' ')" \
	"$(in_ns "$NODE" ip -j addr show | jq -r '.[].addr_info[].local' | sort | tr '\n' ' ')"
hub tcp "$P-node" "${LIVE_IP[anc0]}" 7009 3
expect_eq "the node -> anc0 tcp/7009 (host ingress allowed; no server there)" "$HUB_R" refused

log "denied datagrams are dropped and counted, exactly"
in_drops() { # in_drops TENANT: its ingress drops (packets, every reason and hook)
	nfc stats --json | jq --arg t "$1" \
		'[.tenants[]? | select(.tenant == $t) | .drops[]? | select(.direction == "ingress") | .packets] | add // 0'
}
for t in "${T[@]}"; do
	pods=()
	for pod in "${!LIVE_T[@]}"; do [ "${LIVE_T[$pod]}" = "$t" ] && pods+=("$pod"); done
	[ ${#pods[@]} -gt 0 ] || continue
	before=$(in_drops "$t")
	for pod in "${pods[@]}"; do hub udp "$P-cl" "${LIVE_IP[$pod]}" 7009 5 || fail "udp to $pod: $HUB_R"; done
	sleep 0.5
	expect_eq "$t: ingress drops for 5 datagrams to each of ${pods[*]}" \
		"$(($(in_drops "$t") - before))" "$((5 * ${#pods[@]}))"
done

log "/metrics"
scrape >"$WORK/metrics.txt" || fail "scrape after the run"
if promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1; then
	pass "promtool check metrics"
else
	fail "promtool check metrics: $(head -c 300 "$WORK/promtool.out")"
fi
got=$(grep '^netfence_endpoints{' "$WORK/metrics.txt" | sed 's/^netfence_endpoints{tenant="\([^"]*\)"} /\1 /' |
	awk '$2 > 0' | sort | tr '\n' ' ')
want=$(for pod in "${!LIVE_T[@]}"; do echo "${LIVE_T[$pod]}"; done
	[ "$X0_T" != none ] && echo "$X0_T"; [ "$CG_T" != none ] && echo "$CG_T"; true)
want=$(sort <<<"$want" | uniq -c | awk '{print $2, $1}' | tr '\n' ' ')
expect_eq "netfence_endpoints per tenant" "$got" "$want"
expect_eq "netfence_policy_applies_total{result=\"error\"}" \
	"$(awk '/^netfence_policy_applies_total\{result="error"\}/ {print $2}' "$WORK/metrics.txt")" 0
expect_eq "netfence_unfenced_interfaces_total" \
	"$(awk '/^netfence_unfenced_interfaces_total / {print $2}' "$WORK/metrics.txt")" 0
kill "$SERVE_PID"
wait "$SERVE_PID"
expect_eq "serve's exit on SIGTERM" "$?" 0
rm -f "$WORK/pids/serve"
errs=$(grep -c 'level=error' "$WORK/serve.log")
expect_eq "serve's error lines" "$errs" 0
[ "$errs" = 0 ] || grep 'level=error' "$WORK/serve.log" | head -5

log "back to the start: map usage returns to the baseline"
for pod in "${!LIVE_T[@]}"; do
	[[ $pod == w* ]] || continue
	hub unserve "$P-$pod"
	cni DEL "$CONF" "$pod" eth0 "${LIVE_T[$pod]}" || fail "DEL $pod"
	ip netns del "$P-$pod"
done
[ "$X0_T" = none ] || nfc detach --iface eth0 --netns "$X0NS" || fail "detach x0"
[ "$CG_T" = none ] || nfc detach --cgroup "$CG" || fail "detach the cgroup"
for k in a b; do for i in 0 1 2; do
	[ "${HAVE[$k$i]}" = 0 ] || nfc delete "${T[i]}/$k" >/dev/null || fail "delete ${T[i]}/$k"
done; done
sleep 2.1
nfc apply "$PD/base-0.json" >/dev/null || fail "apply base-0 again"
expect_eq "tenants" "$(nfc status --json | jq -c '[.tenants[].name] | sort')" "$BASE_TENANTS"
expect_eq "map usage" "$(usage)" "$BASE"
expect_eq "endpoint records" "$(find /run/netfence/endpoints -name '*.json' 2>/dev/null | wc -l)" 3
log "total $((EPOCHSECONDS - T_START)) s (run $RUN s)"
