#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# kill -9 at random instants of every state-changing netfence process but
# apply (test_crash_apply.sh has that): attach (fresh, and re-attach to
# another tenant), detach, delete, CNI ADD and CNI DEL of netfence-cni in a
# real bridge chain, and `serve --policy-dir` while it applies a changed
# directory (SPEC §10.3). NF_CHAOS_ITERS kills in all (default 84, ~6 min on a loaded 2-core machine;
# 168 by hand: 108 killed mid-run, 691 s), the
# kinds in turn. After each kill:
#  - the kernel enforces old-or-new for every endpoint (real TCP probes from an
#    unfenced pod to every pod on both test ports, all at once);
#  - `netfence status` succeeds and its endpoints are exactly the interfaces
#    that carry both programs, each in the tenant its probes show;
#  - the next command of the same kind runs to completion (exit 0, or for
#    delete/detach exit 1 "nothing to delete"/"no such endpoint" when the
#    killed one had finished), and then the new state holds exactly.
#
# What "old or new" means here, from the code:
#  - attach (userspace/lib/dp/tc.c dp__attach_iface) writes the record, then
#    the address and endpoint map entries, then attaches the ingress and the
#    egress program. A fresh attach: old = no programs (traffic open), new =
#    both programs, the tenant's policy. One program without the other is a
#    mix (one direction fenced): a failure. A re-attach to another tenant
#    (programs already there) changes only the endpoint map entry, one atomic
#    update: the old tenant's verdicts or the new one's.
#  - detach (dp_detach_record) takes the programs off first, then the map
#    entries, then the record: old = fenced in its tenant, new = no programs.
#  - delete of a tenant's only policy: old = that policy, new = default deny.
#  - CNI ADD / DEL: as attach / detach of the pod's host-side veth.
#  - serve --policy-dir: the directory's two tenants both on the old set or
#    both on the new one (an apply is all or nothing).
# A record whose interface carries no programs (or the reverse) makes
# `status` describe what the kernel does not enforce: counted, and a failure
# (SPEC §10.3: status describes what the kernel enforces).
#
# Layout: every pod is a netns on one bridge (plugins run in $P-node).
#   cl  unfenced client (bridge only): it probes the others on tcp 7000/7001
#   x0  attach/detach (tenants $P-a: 7000 allowed, $P-b: 7001 allowed)
#   x1  tenant $P-d, its policy p (7000) deleted and re-applied
#   x2, x3  tenants $P-s0, $P-s1 of serve's policy dir (old 7000, new 7001)
#   c0  CNI ADD/DEL (netfence-cni after the bridge plugin), tenant $P-a
# Probe patterns: 7000 (only 7000 answers), 7001, open (both), deny (none).
set -uo pipefail
cd "$(dirname "$0")/../.."
# the interpreter itself: a version manager's shim costs ~0.5 s a start here
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
. tests/e2e/lib/cni.sh

ITERS=${NF_CHAOS_ITERS:-84}	# 12 of each kind; 2-7 s each on this loaded machine
T_START=$(date +%s)
cni_setup
command -v curl >/dev/null || die "curl not found"
CONFB=$WORK/bridge.conflist	# the bridge plugin alone
CONF=$WORK/chain.conflist	# bridge + netfence-cni
SUBNET=10.127.0.0/16
# shellcheck disable=SC2016
BRIDGE=$(jq -n --arg br "${IFP}br" --arg d "$WORK/ipam" --arg s "$SUBNET" '{
	type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: $s}]]}}')
write_conflist "$CONF" "$P-net" 1.0.0 "$BRIDGE"
jq '.plugins |= .[:1]' "$CONF" >"$CONFB"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# No forks between starting a process and killing it (a fork takes tens of
# ms on this machine, as long as the commands themselves): no $(...) there.
# sleep_ms MS: without starting a process (a fork costs tens of ms here):
# read with a timeout from a FIFO nobody writes to
mkfifo "$WORK/never"
exec 9<>"$WORK/never"
sleep_ms() {
	local t
	printf -v t %d.%03d $(($1 / 1000)) $(($1 % 1000))
	read -r -t "$t" -u 9 || true
}
# kill_after PID DUR: kill -9 PID at a random instant in [0, DUR * 5/4] ms
# (a little past the end too); RES = "killed at MS ms" or "finished" (it
# ended first). KILLS counts the kills.
KILLS=0
kill_after() {
	set -- "$1" $(((RANDOM * 32768 + RANDOM) % ($2 * 5 / 4 + 1)))
	sleep_ms "$2"
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	if [ $? -eq 137 ]; then RES="killed at $2 ms"; KILLS=$((KILLS + 1)); else RES=finished; fi
}

# policy TENANT PORT [FILLER]: ingress tcp PORT from the pods' subnet, egress
# all; FILLER extra ipBlock peers (on PORT+100) make compiling it slow.
policy() {
	python3 - "$1" "$2" "${3:-0}" "$SUBNET" <<'PY'
import json, sys
t, port, nfill, subnet = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ing = [{"from": [{"ipBlock": {"cidr": subnet}}], "ports": [{"port": port}]}]
if nfill:
    ing.append({"from": [{"ipBlock": {"cidr": "172.%d.%d.%d/32" % (16 + k // 65536, (k // 256) % 256, k % 256)}}
                         for k in range(nfill)], "ports": [{"port": port + 100}]})
print(json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "p", "namespace": t},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{}], "ingress": ing}}))
PY
}
# policy_set PORT: serve's directory content: the serve tenants' policies
# (large) on PORT, and the others' as they are applied (serve prunes every
# object the directory does not hold)
policy_set() {
	{ policy "$P-s0" "$1" 3000; policy "$P-s1" "$1" 3000
	  policy "$P-a" 7000; policy "$P-b" 7001; policy "$P-d" 7000; } |
		jq -s '{apiVersion: "v1", kind: "List", items: .}'
}

# --- pods ---
POD_LIST=(x0 x1 x2 x3 c0)
declare -A IP HOSTIF
bridge_add() { # bridge_add POD: the pod's network (bridge plugin only)
	cni ADD "$CONFB" "$1" eth0 "" >/dev/null || { fail "bridge ADD $1"; return 1; }
	IP[$1]=$(pod_ip "$CONFB" "$1" eth0)
	# its veth's host side (in the node netns): where netfence's programs go
	HOSTIF[$1]=$(jq -r --arg br "${IFP}br" '[.interfaces[] | select(.sandbox == null and
		.name != $br) | .name][0]' "$WORK/cache/$P-net-$P-$1-eth0.json")
}
# (progs_on HOSTIF, in lib/cni.sh: netfence's programs on that node interface)
for pod in cl "${POD_LIST[@]}"; do
	pod_add "$pod"
	bridge_add "$pod" || die "cannot set up pod $pod"
	[ "$pod" = cl ] || start_server "$pod" tcp:7000 tcp:7001
done
for pod in "${POD_LIST[@]}"; do wait_server "$pod" 7000; wait_server "$pod" 7001; done

# probe_all TIMEOUT: "pod=pattern" for every pod, probed from cl all at once
probe_all() {
	local args=() pod
	for pod in "${POD_LIST[@]}"; do args+=("$pod" "${IP[$pod]}"); done
	in_ns "$P-cl" "$PYTHON" - "$1" "${args[@]}" <<'PY'
import socket, sys, threading
t = float(sys.argv[1]); a = sys.argv[2:]; pods = list(zip(a[0::2], a[1::2])); res = {}
def probe(ip, port):
    try:
        s = socket.create_connection((ip, port), timeout=t); s.settimeout(t)
        res[ip, port] = bool(s.recv(16))
    except OSError:
        res[ip, port] = False
ts = [threading.Thread(target=probe, args=(ip, p)) for _, ip in pods for p in (7000, 7001)]
for x in ts: x.start()
for x in ts: x.join()
names = {(True, False): "7000", (False, True): "7001", (True, True): "open", (False, False): "deny"}
print(" ".join("%s=%s" % (n, names[res[ip, 7000], res[ip, 7001]]) for n, ip in pods))
PY
}

# The model: each pod's pattern now (WANT), and what a killed command may
# leave (ALT: the other acceptable pattern, "" = none).
declare -A WANT ALT
X0_TENANT=""	# x0's tenant ("" = not attached)
C0_ON=0		# c0 attached by netfence-cni
pattern_of_x0() { case $X0_TENANT in "") echo open ;; "$P-a") echo 7000 ;; *) echo 7001 ;; esac; }

# verify WHAT: the probes match WANT (or ALT) for every pod; a mismatch in the
# quick probe is confirmed with a slow one before it counts. Sets GOT[pod].
declare -A GOT
verify() {
	local what=$1 line kv pod bad=0 try
	for try in 0.3 2; do
		bad=0
		line=$(probe_all "$try")
		for kv in $line; do
			pod=${kv%%=*}
			GOT[$pod]=${kv#*=}
			if [ "${GOT[$pod]}" != "${WANT[$pod]}" ] && [ "${GOT[$pod]}" != "${ALT[$pod]:-}" ]; then
				bad=1
			fi
		done
		[ $bad -eq 0 ] && return 0
	done
	local want=""
	for pod in "${POD_LIST[@]}"; do want+="$pod=${WANT[$pod]}${ALT[$pod]:+|${ALT[$pod]}} "; done
	fail "$what: probes show $line; want $want"
	return 1
}

# status_vs_kernel WHAT: `netfence status` succeeds; the pods it lists as
# endpoints are exactly those whose host-side veth carries netfence's two
# programs; none carries one alone; each listed one's tenant is its own.
# Prints "pod:tenant" of the listed pods. MISMATCH counts disagreements.
# On a mismatch it prints what explains it: the endpoint changes a killed
# command left marked (the intent journal, /run/netfence/pending/<ep_id>)
# and the endpoint records before status ran (status finishes those changes:
# apply__settle) and after, what status said on stderr, the veth's tc
# filters, and the killed command's output.
MISMATCH=0
STATUS_JSON=
# nf_state: intent marks, the apply journal, endpoint records and index
# entries, one per line (builtins only: no fork)
nf_state() {
	local f line
	for f in /run/netfence/pending/* /run/netfence/objects/.journal /run/netfence/recompile \
		/run/netfence/endpoints/*.json /run/netfence/endpoints/.index/[ic]-*; do
		[ -e "$f" ] || continue
		line=
		read -r -d '' line <"$f"
		echo "    ${f#/run/netfence/}: ${line:0:600}"
	done
}
status_vs_kernel() {
	local what=$1 pod n owner tenant listed out="" bad=0 d
	nf_state >"$WORK/state.before"
	if ! STATUS_JSON=$("$NETFENCE" status --json 2>"$WORK/status.err"); then
		fail "$what: status fails: $(head -c 300 "$WORK/status.err")"
		return 1
	fi
	for pod in "${POD_LIST[@]}"; do
		n=$(progs_on "${HOSTIF[$pod]}")
		# CNI endpoints are owned by "<container id>/eth0", attach ones by nobody: match the
		# interface (the host-side peer where the programs run) instead
		tenant=$(jq -r --arg i "${HOSTIF[$pod]}" \
			'[.endpoints[] | select(.attach.iface == $i) | .tenant][0] // ""' <<<"$STATUS_JSON")
		listed=$([ -n "$tenant" ] && echo 1 || echo 0)
		if [ "$n" = 1 ] || { [ "$listed" = 1 ] && [ "$n" != 2 ]; } ||
			{ [ "$listed" = 0 ] && [ "$n" != 0 ]; }; then
			MISMATCH=$((MISMATCH + 1))
			bad=1
			fail "$what: $pod: status lists it: $listed (tenant '$tenant'), programs on its veth ${HOSTIF[$pod]}: $n"
			for d in ingress egress; do
				echo "  tc filter show dev ${HOSTIF[$pod]} $d (in $NODE):"
				in_ns "$NODE" tc filter show dev "${HOSTIF[$pod]}" "$d" 2>&1 | sed 's/^/    /'
			done
		fi
		out+="$pod:$tenant "
	done
	if [ $bad = 1 ]; then
		echo "  before status (intent marks, journal, records, index):"
		cat "$WORK/state.before"
		echo "  status's stderr:"
		sed 's/^/    /' "$WORK/status.err"
		echo "  after status:"
		nf_state
		echo "  status lists: $(jq -c '[.endpoints[] | {id, tenant, owner, attach}]' <<<"$STATUS_JSON")"
		echo "  the last netfence-cni's output: $(head -c 600 "$WORK/nfcni.out" 2>/dev/null)"
		echo "  serve.log (last lines):"
		tail -5 "$WORK/serve.log" 2>/dev/null | sed 's/^/    /'
	fi
	echo "$out" >"$WORK/listed"
	return 0
}
listed_tenant() { tr ' ' '\n' <"$WORK/listed" | grep "^$1:" | cut -d: -f2-; }

# expect_now WHAT: after the re-run: WANT exactly, status agrees, tenants right
expect_now() {
	local pod
	for pod in "${POD_LIST[@]}"; do ALT[$pod]=""; done
	verify "$1" || true
	status_vs_kernel "$1" || return
	[ "$(listed_tenant x0)" = "$X0_TENANT" ] ||
		fail "$1: status: x0's tenant '$(listed_tenant x0)', want '$X0_TENANT'"
	[ "$(listed_tenant c0)" = "$([ $C0_ON = 1 ] && echo "$P-a")" ] ||
		fail "$1: status: c0's tenant '$(listed_tenant c0)', want $([ $C0_ON = 1 ] && echo "$P-a" || echo none)"
	[ "$(listed_tenant x1)" = "$P-d" ] || fail "$1: status: x1's tenant '$(listed_tenant x1)'"
}

# rerun WHAT NOTHING_MSG CMD...: the next command of the same kind completes:
# exit 0, or exit 1 saying NOTHING_MSG (the killed one had finished that)
rerun() {
	local what=$1 nothing=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && ! { [ -n "$nothing" ] && [ $rc -eq 1 ] && grep -q "$nothing" <<<"$out"; }; then
		fail "$what: the next command fails (exit $rc): $(head -c 300 <<<"$out")"
	fi
}

# --- initial state ---
policy "$P-a" 7000 >"$WORK/a.json"
policy "$P-b" 7001 >"$WORK/b.json"
policy "$P-d" 7000 >"$WORK/d.json"
for f in a b d; do "$NETFENCE" apply "$WORK/$f.json" >/dev/null || die "apply $f"; done
"$NETFENCE" attach --tenant "$P-d" --iface eth0 --netns "$(netns_path "$P-x1")" || die "attach x1"
"$NETFENCE" attach --tenant "$P-s0" --iface eth0 --netns "$(netns_path "$P-x2")" || die "attach x2"
"$NETFENCE" attach --tenant "$P-s1" --iface eth0 --netns "$(netns_path "$P-x3")" || die "attach x3"
policy_set 7000 >"$WORK/old.json"
policy_set 7001 >"$WORK/new.json"
PDIR=$WORK/pdir
mkdir "$PDIR"
cp "$WORK/old.json" "$PDIR/policy.json"
SERVE_SET=7000
"$NETFENCE" apply "$WORK/old.json" >/dev/null || die "apply the serve set"
WANT=([x0]=open [x1]=7000 [x2]=7000 [x3]=7000 [c0]=open)

# serve: started (it applies the directory), waited for until it says so
SERVE_PID=
serve_start() {
	local port i
	port=$(free_port_py)
	: >"$WORK/serve.log"
	"$NETFENCE" serve --listen "127.0.0.1:$port" --policy-dir "$PDIR" >"$WORK/serve.log" 2>&1 &
	SERVE_PID=$!
	echo "$SERVE_PID" >"$WORK/pids/serve"
	for i in $(seq 600); do	# until it has applied the directory (60 s at most)
		grep -q "policy-dir: applied" "$WORK/serve.log" && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "serve did not apply $PDIR: $(tail -3 "$WORK/serve.log")"
	return 1
}
free_port_py() {
	"$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
serve_start
expect_now "initial state"

# --- durations of a completed run of each kind: the window to kill in ---
nf_conf() { # nf_conf POD: netfence-cni's config for POD (prevResult: its bridge result)
	jq -c --arg name "$P-net" '{cniVersion: "1.0.0", name: $name, type: "netfence-cni",
		prevResult: .}' "$WORK/cache/$P-net-$P-$1-eth0.json"
}
# nfcni_bg CMD POD: netfence-cni (alone) in the background; $! is the plugin
nfcni_bg() {
	nf_conf "$2" >"$WORK/nfconf.json"
	nsenter --net="$(netns_path "$NODE")" env CNI_COMMAND="$1" CNI_PATH="$CNI_PATH_DIRS" \
		CNI_CONTAINERID="$P-$2" CNI_NETNS="$(netns_path "$P-$2")" CNI_IFNAME=eth0 \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=$2;K8S_POD_NAMESPACE=$P-a" \
		"$WORK/bin/netfence-cni" <"$WORK/nfconf.json" >"$WORK/nfcni.out" 2>&1 &
}
declare -A DUR
timed() { # timed KIND CMD...: run it to completion, DUR[KIND] = its ms
	local t0
	t0=$(now_ms)
	"${@:2}" >/dev/null 2>&1 || fail "warm-up $1: exit $?"
	DUR[$1]=$(($(now_ms) - t0 + 1))
}
X0NS=$(netns_path "$P-x0")
timed attach "$NETFENCE" attach --tenant "$P-a" --iface eth0 --netns "$X0NS"
timed detach "$NETFENCE" detach --iface eth0 --netns "$X0NS"
timed delete "$NETFENCE" delete "$P-d/p"
"$NETFENCE" apply "$WORK/d.json" >/dev/null || fail "re-apply $P-d"
nfcni_bg ADD c0
t0=$(now_ms); wait $! || fail "warm-up CNI ADD"; DUR[cniadd]=$(($(now_ms) - t0 + 1))
nfcni_bg DEL c0
t0=$(now_ms); wait $! || fail "warm-up CNI DEL"; DUR[cnidel]=$(($(now_ms) - t0 + 1))
t0=$(now_ms)
"$NETFENCE" apply "$WORK/new.json" >/dev/null || fail "warm-up apply of the serve set"
DUR[serve]=$(($(now_ms) - t0 + 1))
"$NETFENCE" apply "$WORK/old.json" >/dev/null || fail "apply the serve set back"
expect_now "after the warm-up runs"
echo "# durations (ms): attach ${DUR[attach]}, detach ${DUR[detach]}, delete ${DUR[delete]}," \
	"CNI ADD ${DUR[cniadd]}, CNI DEL ${DUR[cnidel]}, apply of serve's set ${DUR[serve]}" \
	"(setup took $(($(date +%s) - T_START)) s)"

# --- one iteration per kind ---
x0_attach() { "$NETFENCE" attach --tenant "$1" --iface eth0 --netns "$X0NS"; }
it_attach() { # fresh when x0 is not attached, else to the other tenant
	local to res
	if [ -z "$X0_TENANT" ]; then to=$P-a; elif [ "$X0_TENANT" = "$P-a" ]; then to=$P-b; else to=$P-a; fi
	"$NETFENCE" attach --tenant "$to" --iface eth0 --netns "$X0NS" >/dev/null 2>&1 &
	kill_after $! "${DUR[attach]}"; res=$RES
	ALT[x0]=$(pattern_of_x0)
	X0_TENANT=$to
	WANT[x0]=$(pattern_of_x0)
	verify "$ITW: attach ${ALT[x0]} -> ${WANT[x0]} $res" && status_vs_kernel "$ITW (before the re-run)"
	STEP="attach x0 to ${to#"$P"-} ($res, probes ${GOT[x0]})"
	rerun "$ITW" "" x0_attach "$to"
}
it_detach() {
	local res
	[ -n "$X0_TENANT" ] || it_quiet_attach
	"$NETFENCE" detach --iface eth0 --netns "$X0NS" >/dev/null 2>&1 &
	kill_after $! "${DUR[detach]}"; res=$RES
	ALT[x0]=$(pattern_of_x0)
	X0_TENANT=""
	WANT[x0]=open
	verify "$ITW: detach ${ALT[x0]} -> open $res" && status_vs_kernel "$ITW (before the re-run)"
	STEP="detach x0 ($res, probes ${GOT[x0]})"
	rerun "$ITW" "no such endpoint" "$NETFENCE" detach --iface eth0 --netns "$X0NS"
}
it_quiet_attach() { x0_attach "$P-a" >/dev/null || fail "attach x0"; X0_TENANT=$P-a; WANT[x0]=7000; }
it_delete() {
	local res
	if [ "${WANT[x1]}" = deny ]; then
		"$NETFENCE" apply "$WORK/d.json" >/dev/null || fail "$ITW: apply $P-d/p"
		WANT[x1]=7000
	fi
	"$NETFENCE" delete "$P-d/p" >/dev/null 2>&1 &
	kill_after $! "${DUR[delete]}"; res=$RES
	WANT[x1]=deny
	ALT[x1]=7000
	verify "$ITW: delete $res" && status_vs_kernel "$ITW (before the re-run)"
	STEP="delete $P-d/p ($res, probes ${GOT[x1]})"
	rerun "$ITW" "nothing to delete" "$NETFENCE" delete "$P-d/p"
}
it_cniadd() {
	local res
	[ $C0_ON = 0 ] || it_cnidel_full
	nfcni_bg ADD c0
	kill_after $! "${DUR[cniadd]}"; res=$RES
	C0_ON=1
	WANT[c0]=7000
	ALT[c0]=open
	verify "$ITW: CNI ADD $res" && status_vs_kernel "$ITW (before the re-run)"
	STEP="CNI ADD c0 ($res, probes ${GOT[c0]})"
	nfcni_bg ADD c0
	wait $! || fail "$ITW: the next CNI ADD fails: $(head -c 300 "$WORK/nfcni.out")"
}
it_cnidel_full() { # DEL of the whole chain, then the pod's network again
	cni DEL "$CONF" c0 eth0 "$P-a" || fail "$ITW: DEL of the chain for c0"
	C0_ON=0
	WANT[c0]=open
	bridge_add c0
}
it_cnidel() {
	local res
	if [ $C0_ON = 0 ]; then
		nfcni_bg ADD c0
		wait $! || fail "$ITW: CNI ADD c0"
		C0_ON=1
	fi
	nfcni_bg DEL c0
	kill_after $! "${DUR[cnidel]}"; res=$RES
	C0_ON=0
	WANT[c0]=open
	ALT[c0]=7000
	verify "$ITW: CNI DEL $res" && status_vs_kernel "$ITW (before the re-run)"
	STEP="CNI DEL c0 ($res, probes ${GOT[c0]})"
	# the runtime retries the DEL of the whole chain; then the pod is gone:
	# nothing of it may be left; a new network for the next round
	cni DEL "$CONF" c0 eth0 "$P-a" || fail "$ITW: the next CNI DEL (the chain) fails"
	[ "$(nf_owners | grep -c "^$P-c0/")" = 0 ] || fail "$ITW: c0 still an endpoint after DEL"
	bridge_add c0
}
it_serve() {
	local res other
	[ "$SERVE_SET" = 7000 ] && other=7001 || other=7000
	cp "$WORK/$([ $other = 7000 ] && echo old || echo new).json" "$PDIR/.policy.json.tmp"
	mv "$PDIR/.policy.json.tmp" "$PDIR/policy.json"	# an atomic change of the directory
	kill_after "$SERVE_PID" "${DUR[serve]}"; res=$RES
	rm -f "$WORK/pids/serve"
	WANT[x2]=$other WANT[x3]=$other ALT[x2]=$SERVE_SET ALT[x3]=$SERVE_SET
	# the directory holds $P-d/p: a delete of it is undone by the directory's apply
	x1_was=${WANT[x1]}
	WANT[x1]=7000 ALT[x1]=$x1_was
	if verify "$ITW: serve applying $SERVE_SET -> $other $res"; then
		[ "${GOT[x2]}" = "${GOT[x3]}" ] ||
			fail "$ITW: the serve tenants are on different sets: x2 ${GOT[x2]}, x3 ${GOT[x3]}"
		[ "${GOT[x1]}" = "$([ "${GOT[x2]}" = "$other" ] && echo 7000 || echo "$x1_was")" ] ||
			fail "$ITW: the directory's apply is half done: x2 ${GOT[x2]}, x1 ${GOT[x1]}"
		status_vs_kernel "$ITW (before the re-run)"
	fi
	STEP="serve $SERVE_SET -> $other ($res, probes ${GOT[x2]} ${GOT[x3]})"
	SERVE_SET=$other
	serve_start	# the next serve applies the directory
}

KINDS=(attach cniadd attach delete cnidel detach serve)
declare -A COUNT
T0=$(date +%s)
for k in $(seq "$ITERS"); do
	kind=${KINDS[$(((k - 1) % ${#KINDS[@]}))]}
	ITW="iteration $k ($kind)"
	COUNT[$kind]=$((${COUNT[$kind]:-0} + 1))
	STEP=
	"it_$kind"
	expect_now "$ITW: after the next command"
	echo "  $k: $STEP"
done
T_LOOP=$(($(date +%s) - T0))
kill "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" 2>/dev/null
rm -f "$WORK/pids/serve"
summary=""
for kind in "${!COUNT[@]}"; do summary+="$kind ${COUNT[$kind]}, "; done
echo "# $ITERS iterations (${summary%, }), $KILLS killed mid-run, in $T_LOOP s; status disagreed with the kernel $MISMATCH time(s)"
[ "$FAILS" -eq 0 ] && pass "every kill left old-or-new state, and the next command completed"
echo "# total $(($(date +%s) - T_START)) s"
