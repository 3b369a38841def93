#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# An endpoint change killed at its worst instant (SPEC §10.3), deterministic:
# the test-only NETFENCE_TEST_STOP_AT=<point> stops the command (SIGSTOP)
# exactly there and the test kill -9s it.
#   attach-progs         between the ingress and the egress program of an
#                        interface (fresh attach, re-attach to another
#                        tenant, CNI ADD): one direction fenced;
#   detach-progs         after the programs came off, before the endpoint's
#                        entries and record went: status would list an
#                        endpoint nothing enforces;
#   detach-marked        a CNI DEL marked pending, its programs still on:
#                        finished by a command in another netns than the
#                        plugin's (the record's "" attach netns is the
#                        plugin's), which must find them there;
#   cgroup-attach-progs  after the first of a cgroup's hooks.
# Each time the test first shows that the kill left the half state (one
# program, or a record without programs), then that the next command, a
# read-only `status` or a state-changing one, finishes the change: both
# programs and the right tenant by real probes, or no programs and no record;
# and when the interface is gone meanwhile, the record goes.
#
# Pods (netns on one bridge, plugins in $P-node): cl (unfenced client),
# x0 (attach/detach), c0 (CNI ADD/DEL). Tenants $P-a (tcp 7000 allowed in),
# $P-b (7001).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
CONFB=$WORK/bridge.conflist
CONF=$WORK/chain.conflist
SUBNET=10.126.0.0/16
BRIDGE=$(jq -n --arg br "${IFP}br" --arg d "$WORK/ipam" --arg s "$SUBNET" '{
	type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: $s}]]}}')
write_conflist "$CONF" "$P-net" 1.0.0 "$BRIDGE"
jq '.plugins |= .[:1]' "$CONF" >"$CONFB"

policy() { # policy TENANT PORT
	jq -n --arg t "$1" --argjson port "$2" --arg s "$SUBNET" '{apiVersion: "networking.k8s.io/v1",
		kind: "NetworkPolicy", metadata: {name: "p", namespace: $t},
		spec: {podSelector: {}, policyTypes: ["Ingress", "Egress"], egress: [{}],
		       ingress: [{from: [{ipBlock: {cidr: $s}}], ports: [{port: $port}]}]}}'
}
policy "$P-a" 7000 | nf_apply
policy "$P-b" 7001 | nf_apply

for pod in cl x0; do
	pod_add "$pod"
	cni ADD "$CONFB" "$pod" eth0 "" >/dev/null || die "bridge ADD $pod"
done
pod_add c0
start_server x0 tcp:7000 tcp:7001
wait_server x0 7000
X0=$(pod_ip "$CONFB" x0 eth0)
X0NS=$(netns_path "$P-x0")

# stopped POINT CMD...: run CMD (stdin: the file STOP_IN) with the stop point set, wait until it stops
# there (it must: the point is on its path), kill -9 it
stopped() {
	local point=$1 pid st i
	shift
	# (a background command's stdin is /dev/null unless given: STOP_IN)
	NETFENCE_TEST_STOP_AT=$point "$@" <"${STOP_IN:-/dev/null}" >"$WORK/stopped.out" 2>&1 &
	pid=$!
	for i in $(seq 600); do	# until it stops or ends: no timing involved
		st=$(awk '{ print $3 }' /proc/$pid/stat 2>/dev/null)
		[ "$st" = T ] || [ -z "$st" ] || [ "$st" = Z ] && break
		sleep 0.1
	done
	if [ "$st" != T ]; then
		fail "$* did not stop at $point (state '$st'): $(head -c 300 "$WORK/stopped.out")"
		pkill -9 -P "$pid" 2>/dev/null	# a stopped child must not keep the lock
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	return 0
}
# listed POD: the tenant `status --json` lists POD's eth0 in ("" = none)
listed() { # listed POD
	local dev
	read -r _ dev < <(attach_dev "$1" eth0)
	"$NETFENCE" status --json | jq -r --arg i "$dev" \
		'[.endpoints[] | select(.attach.iface == $i) | .tenant][0] // ""'
}
# records: endpoint records on disk (what status reads)
records() { ls /run/netfence/endpoints 2>/dev/null | grep -c '\.json$' || true; }
pending() { ls /run/netfence/pending 2>/dev/null | wc -l; }
expect_x0() { # expect_x0 WHAT PATTERN: probes from cl to x0 on 7000/7001
	local a b
	case $2 in
	7000) a=allowed b=blocked ;;
	7001) a=blocked b=allowed ;;
	open) a=allowed b=allowed ;;
	esac
	expect_traffic "$1: x0 7000" cl tcp "$X0" 7000 "$a"
	expect_traffic "$1: x0 7001" cl tcp "$X0" 7001 "$b"
}

log "fresh attach killed between its two programs; status finishes it"
expect_eq "x0 unfenced before" "$(tc_filters x0 eth0)" 0
if stopped attach-progs "$NETFENCE" attach --tenant "$P-a" --iface eth0 --netns "$X0NS"; then
	expect_eq "the kill left one program of two" "$(tc_filters x0 eth0)" 1
	expect_eq "... and the change marked pending" "$(pending)" 1
	expect_eq "status lists x0 in $P-a" "$(listed x0)" "$P-a"
	expect_eq "status attached the second program" "$(tc_filters x0 eth0)" 2
	expect_eq "nothing pending" "$(pending)" 0
	expect_x0 "attached" 7000
fi

log "re-attach to another tenant killed there; a state-changing command finishes it"
if stopped attach-progs "$NETFENCE" attach --tenant "$P-b" --iface eth0 --netns "$X0NS"; then
	expect_eq "pending after the kill" "$(pending)" 1
	policy "$P-b" 7001 | nf_apply
	expect_eq "apply finished it: nothing pending" "$(pending)" 0
	expect_eq "both programs" "$(tc_filters x0 eth0)" 2
	expect_eq "status lists x0 in $P-b" "$(listed x0)" "$P-b"
	expect_x0 "re-attached" 7001
fi

log "detach killed after the programs came off, before the record went"
if stopped detach-progs "$NETFENCE" detach --iface eth0 --netns "$X0NS"; then
	expect_eq "the kill left no program" "$(tc_filters x0 eth0)" 0
	expect_eq "... and the record" "$(records)" 1
	policy "$P-a" 7000 | nf_apply
	expect_eq "apply finished the detach: no record" "$(records)" 0
	expect_eq "status lists no x0" "$(listed x0)" ""
	expect_x0 "detached" open
fi

log "attach killed, then its interface gone: the next command forgets the record"
pod_add y0
cni ADD "$CONFB" y0 eth0 "" >/dev/null || die "bridge ADD y0"
if stopped attach-progs "$NETFENCE" attach --tenant "$P-a" --iface eth0 \
	--netns "$(netns_path "$P-y0")"; then
	expect_eq "its record written" "$(records)" 1
	cni DEL "$CONFB" y0 eth0 "" >/dev/null
	ip netns del "$P-y0"
	"$NETFENCE" status >/dev/null || fail "status after y0 went: exit $?"
	expect_eq "no record left" "$(records)" 0
	expect_eq "nothing pending" "$(pending)" 0
fi

log "CNI ADD killed between the programs; CNI DEL after it removes everything"
cni ADD "$CONFB" c0 eth0 "" >/dev/null || die "bridge ADD c0"
jq -c --arg name "$P-net" '{cniVersion: "1.0.0", name: $name, type: "netfence-cni",
	prevResult: .}' "$WORK/cache/$P-net-$P-c0-eth0.json" >"$WORK/c0.json"
c0_cni() { # c0_cni CMD: netfence-cni alone for c0, as the runtime calls it
	nfcni "$1" c0 eth0 "IgnoreUnknown=1;K8S_POD_NAME=c0;K8S_POD_NAMESPACE=$P-a" <"$WORK/c0.json"
}
# the plugin itself as the stopped process (nsenter and env exec it)
if STOP_IN=$WORK/c0.json stopped attach-progs nsenter --net="$(netns_path "$NODE")" env CNI_COMMAND=ADD \
	CNI_PATH="$CNI_PATH_DIRS" CNI_CONTAINERID="$P-c0" CNI_NETNS="$(netns_path "$P-c0")" \
	CNI_IFNAME=eth0 CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=c0;K8S_POD_NAMESPACE=$P-a" \
	"$WORK/bin/netfence-cni"; then
	expect_eq "the kill left one program" "$(tc_filters c0 eth0)" 1
	expect_eq "status lists c0 in $P-a" "$(listed c0)" "$P-a"
	expect_eq "both programs" "$(tc_filters c0 eth0)" 2
	c0_cni DEL >/dev/null || fail "CNI DEL c0: exit $?"
	expect_eq "DEL: no program" "$(tc_filters c0 eth0)" 0
	expect_eq "DEL: no record" "$(records)" 0
fi

log "CNI DEL killed before the programs came off; status, run in another netns, finishes it"
c0_cni ADD >/dev/null || fail "CNI ADD c0: exit $?"
expect_eq "the record names the plugin's own netns (\"\")" \
	"$(jq -r .attach_netns /run/netfence/endpoints/*.json)" ""
if STOP_IN=$WORK/c0.json stopped detach-marked nsenter --net="$(netns_path "$NODE")" env CNI_COMMAND=DEL \
	CNI_PATH="$CNI_PATH_DIRS" CNI_CONTAINERID="$P-c0" CNI_NETNS="$(netns_path "$P-c0")" \
	CNI_IFNAME=eth0 CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=c0;K8S_POD_NAMESPACE=$P-a" \
	"$WORK/bin/netfence-cni"; then
	expect_eq "the kill left both programs" "$(tc_filters c0 eth0)" 2
	expect_eq "... the record" "$(records)" 1
	expect_eq "... and the change marked pending" "$(pending)" 1
	expect_eq "status lists no c0" "$(listed c0)" ""
	expect_eq "status took the programs off" "$(tc_filters c0 eth0)" 0
	expect_eq "no record" "$(records)" 0
	expect_eq "nothing pending" "$(pending)" 0
fi

log "cgroup attach killed after its first hook"
# the cgroup v2 mount as netfence finds it (first cgroup2 entry of mountinfo)
CGROOT=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
if [ -z "$CGROOT" ]; then
	nf_skip_part "no cgroup v2 mount: the cgroup part"
else
	CG=$CGROOT/$P-cg
	mkdir "$CG" || die "mkdir $CG"
	trap 'rc=$?; rmdir "$CG" 2>/dev/null; (exit $rc); cni_cleanup' EXIT
	hooks() { bpftool cgroup show "$CG" 2>/dev/null | grep -cE ' cg_(ingress|egress|connect[46]|sendmsg[46]|sock_create) ' || true; }
	if stopped cgroup-attach-progs "$NETFENCE" attach --tenant "$P-a" --cgroup "$CG"; then
		half=$(hooks)
		"$NETFENCE" status >/dev/null || fail "status: exit $?"
		full=$(hooks)
		"$NETFENCE" attach --tenant "$P-a" --cgroup "$CG" >/dev/null || fail "attach again"
		want=$(hooks)
		[ "$half" -ge 1 ] && [ "$half" -lt "$want" ] && pass "the kill left $half of $want hooks" ||
			fail "hooks after the kill: $half of $want"
		expect_eq "status attached every hook" "$full" "$want"
		"$NETFENCE" detach --cgroup "$CG" >/dev/null || fail "detach the cgroup"
	fi
	rmdir "$CG"
fi
exit 0
