# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Helpers for the netfence-cni end-to-end tests: drive the real CNI plugins
# exactly like a runtime (containerd/CRI-O via libcni) would, in network
# namespaces the test creates, and probe traffic between "pods".
#
# Source it, then call cni_setup. Everything lives under a unique prefix
# ($P = nfcni-<pid>) and is removed on exit (cni_cleanup runs from the trap):
#   $P-node   stands in for the node: the plugins run there (bridge, host
#             veths, macvlan parent), so the host's own network is untouched.
#   $P-<pod>  one netns per pod.
# Plugins are run with nsenter --net (not `ip netns exec`, which remounts /sys
# and hides the bpffs pins). Only in a private mount namespace of
# lib/private.sh (lib/common.sh): its `netfence reset` and host-local IPAM
# state must never be the node's.

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
nf_require_private

NETFENCE=${NETFENCE:-build/netfence}
NETFENCE_CNI=${NETFENCE_CNI:-build/netfence-cni}
PYTHON=${PYTHON:-python3}
E2E_LIB=tests/e2e/lib
P=nfcni-$$
NODE=$P-node
# Interface names are at most 15 characters.
IFP=nfc$$
BLOCK_TIMEOUT=${BLOCK_TIMEOUT:-1}
FAILS=0
PODS=()

log() { echo "# $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FATAL: $*" >&2; exit 1; }
skip() { nf_skip "$@"; }	# exit 77: tests/run.sh counts it as skipped
netns_path() { echo "/var/run/netns/$1"; }
in_ns() { local ns=$1; shift; nsenter --net="$(netns_path "$ns")" "$@"; }

find_cni_dir() {
	local d
	for d in ${CNI_PLUGIN_DIR:-} /usr/lib/cni /opt/cni/bin; do
		[ -x "$d/bridge" ] && [ -x "$d/host-local" ] && { echo "$d"; return 0; }
	done
	return 1
}

# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

cni_setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	local c
	for c in "$PYTHON" ip nsenter jq tc; do
		command -v "$c" >/dev/null || die "$c not found"
	done
	[ -x "$NETFENCE" ] && [ -x "$NETFENCE_CNI" ] || die "$NETFENCE or $NETFENCE_CNI missing: run make"
	CNI_DIR=$(find_cni_dir) || die "CNI plugins not found (containernetworking-plugins)"
	WORK=$(mktemp -d /tmp/nfcni.XXXXXX)
	mkdir -p "$WORK/pids" "$WORK/cache" "$WORK/ipam" "$WORK/bin"
	ln -s "$(readlink -f "$NETFENCE_CNI")" "$WORK/bin/netfence-cni"
	CNI_PATH_DIRS="$CNI_DIR:$WORK/bin"
	trap cni_cleanup EXIT
	trap 'exit 130' INT TERM
	ip netns add "$NODE"
	in_ns "$NODE" ip link set lo up
	in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$NODE" sysctl -qw net.ipv6.conf.all.forwarding=1
	cni_write_helpers
}

cni_cleanup() {
	local rc=$? f ns
	trap - EXIT INT TERM
	set +e
	for f in "$WORK"/pids/*; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	[ -n "$WORK" ] && pkill -f "$WORK/server.py" 2>/dev/null
	wait 2>/dev/null
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-"); do
		ip netns del "$ns" 2>/dev/null
	done
	nf_reset "$NETFENCE" || rc=1
	rm -rf /run/netfence/cni/"$P"-*	# netfence-cni's GC markers of our networks
	rmdir /run/netfence/cni 2>/dev/null
	[[ "$WORK" == /tmp/nfcni.* ]] && rm -rf "$WORK"
	if [ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ]; then
		rc=1
	fi
	echo "$FAILS failure(s)"
	exit "$rc"
}

cni_write_helpers() {
	# A CNI runtime: runs a conflist's plugins in order (ADD, CHECK) or in
	# reverse (DEL), each with name and cniVersion inserted and the previous
	# result as prevResult (CHECK and DEL: the cached ADD result), like libcni.
	# On failure prints the failing plugin's stdout (the error JSON) and exits 1.
	cat >"$WORK/cni-run.py" <<'EOF'
import json, os, subprocess, sys

cmd, conflist, netns, ifname, cid, cni_args, cachedir = sys.argv[1:8]
conf = json.load(open(conflist))
cache = os.path.join(cachedir, "%s-%s-%s.json" % (conf["name"], cid, ifname))
env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns,
           CNI_IFNAME=ifname, CNI_ARGS=cni_args)
if not netns:
    del env["CNI_NETNS"]
paths = env["CNI_PATH"].split(":")
prev = None
if cmd in ("DEL", "CHECK") and os.path.exists(cache):
    prev = json.load(open(cache))
plugins = conf["plugins"] if cmd != "DEL" else list(reversed(conf["plugins"]))
failed = None
for p in plugins:
    net = dict(p, name=conf["name"], cniVersion=conf["cniVersion"])
    if prev is not None:
        net["prevResult"] = prev
    exe = next((os.path.join(d, p["type"]) for d in paths
                if os.access(os.path.join(d, p["type"]), os.X_OK)), None)
    if exe is None:
        sys.exit("cni-run: plugin %s not found in %s" % (p["type"], paths))
    r = subprocess.run([exe], input=json.dumps(net).encode(), env=env, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("cni-run: %s %s failed (exit %d): %s%s\n" % (
            p["type"], cmd, r.returncode, r.stdout.decode(), r.stderr.decode()))
        if failed is None:
            failed = r.stdout.decode()
        if cmd != "DEL":
            break
        continue
    if cmd == "ADD":
        prev = json.loads(r.stdout)
if failed is not None:
    sys.stdout.write(failed)
    sys.exit(1)
if cmd == "ADD":
    json.dump(prev, open(cache, "w"))
    print(json.dumps(prev))
if cmd == "DEL" and os.path.exists(cache):
    os.unlink(cache)
EOF

	# servers: tcp:PORT greets and closes, udp:PORT echoes.
	cat >"$WORK/server.py" <<'EOF'
import socket, sys, threading
def tcp(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        try: c.sendall(b"hello\n")
        except OSError: pass
        c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)
ts = [threading.Thread(target=tcp if sp.split(":")[0] == "tcp" else udp,
                       args=(int(sp.split(":")[1]),), daemon=True) for sp in sys.argv[1:]]
for t in ts: t.start()
for t in ts: t.join()
EOF

	# probe PROTO HOST PORT TIMEOUT -> ok | timeout | denied | refused | error:X
	# icmp: an echo request over a raw socket (no ping binary needed).
	cat >"$WORK/probe.py" <<'EOF'
import errno, os, select, socket, struct, sys, time
proto, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
try:
    if proto == "tcp":
        s = socket.create_connection((host, port), timeout=timeout)
        if not s.recv(64): raise socket.timeout()
    elif proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
        s.connect((host, port)); s.send(b"netfence-cni-test")
        if not s.recv(256): raise socket.timeout()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        ident = os.getpid() & 0xffff
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"nfcni"
        pkt = hdr[:2] + struct.pack("!H", csum(hdr)) + hdr[4:]
        s.sendto(pkt, (host, 0))
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0 or not select.select([s], [], [], left)[0]: raise socket.timeout()
            d, a = s.recvfrom(2048)
            ihl = (d[0] & 0xf) * 4
            t, _, _, i = struct.unpack("!BBHH", d[ihl:ihl + 6])
            if a[0] == host and t == 0 and i == ident: break
    print("ok")
except socket.timeout: print("timeout")
except PermissionError: print("denied")
except ConnectionRefusedError: print("refused")
except OSError as e: print("error:" + errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

# pod_add NAME: create the pod's netns.
pod_add() {
	ip netns add "$P-$1"
	in_ns "$P-$1" ip link set lo up
	PODS+=("$1")
}

# cni CMD CONFLIST POD IFNAME TENANT: the runtime, run in the node netns.
# TENANT goes into CNI_ARGS as K8S_POD_NAMESPACE (empty: none). CNI_NETNS
# may be overridden with NETNS_OVERRIDE (empty string: unset).
cni() {
	local cmd=$1 conflist=$2 pod=$3 ifname=$4 tenant=$5 args netns
	args="IgnoreUnknown=1;K8S_POD_NAME=$pod"
	[ -n "$tenant" ] && args="$args;K8S_POD_NAMESPACE=$tenant"
	netns=$(netns_path "$P-$pod")
	[ "${NETNS_OVERRIDE-unset}" != unset ] && netns=$NETNS_OVERRIDE
	in_ns "$NODE" env CNI_PATH="$CNI_PATH_DIRS" "$PYTHON" "$WORK/cni-run.py" "$cmd" \
		"$conflist" "$netns" "$ifname" "$P-$pod" "$args" "$WORK/cache"
}

# nfcni CMD POD IFNAME ARGS < CONFIG: netfence-cni alone, as a runtime would
# call it. POD "" leaves CNI_CONTAINERID and CNI_NETNS unset; CNI_NETNS is the
# pod's netns if it exists, or NETNS_OVERRIDE when set ("" = unset).
nfcni() {
	local cmd=$1 pod=$2 ifname=$3 args=$4
	local -a envs=(CNI_COMMAND="$cmd" CNI_PATH="$CNI_PATH_DIRS" CNI_ARGS="$args")
	if [ -n "$pod" ]; then
		envs+=(CNI_CONTAINERID="$P-$pod")
		if [ "${NETNS_OVERRIDE-unset}" != unset ]; then
			[ -n "$NETNS_OVERRIDE" ] && envs+=(CNI_NETNS="$NETNS_OVERRIDE")
		elif [ -e "$(netns_path "$P-$pod")" ]; then
			envs+=(CNI_NETNS="$(netns_path "$P-$pod")")
		fi
	fi
	[ -n "$ifname" ] && envs+=(CNI_IFNAME="$ifname")
	in_ns "$NODE" env -u CNI_CONTAINERID -u CNI_NETNS -u CNI_IFNAME "${envs[@]}" \
		"$WORK/bin/netfence-cni"
}

# A conflist with the interface plugin's JSON and netfence-cni after it.
# write_conflist FILE NAME VERSION PLUGIN_JSON [NETFENCE_EXTRA_JSON]
write_conflist() {
	local nf='{"type":"netfence-cni"}'
	[ -n "${5:-}" ] && nf=$(jq -c ". + $5" <<<"$nf")
	jq -n --arg name "$2" --arg v "$3" --argjson p "$4" --argjson nf "$nf" \
		'{cniVersion: $v, name: $name, plugins: [$p, $nf]}' >"$1"
}

# deploy_bridge_conflist FILE RANGES [JQ]: deploy/cni/10-netfence-bridge.conflist
# with this test's names (network $P-net, bridge ${IFP}br, IPAM state in
# $WORK/ipam), no masquerade, IPAM ranges RANGES (a jq array of range sets,
# e.g. '[[{subnet: "10.123.0.0/24"}]]') and the jq filter JQ applied last.
deploy_bridge_conflist() {
	jq --arg name "$P-net" --arg br "${IFP}br" --arg d "$WORK/ipam" "
		.name = \$name
		| .plugins[0].bridge = \$br | .plugins[0].ipMasq = false
		| .plugins[0].ipam.dataDir = \$d
		| .plugins[0].ipam.ranges = $2 | ${3:-.}" \
		deploy/cni/10-netfence-bridge.conflist >"$1" || die "bad deploy conflist"
}

# The pod's first IPv4 address from its cached ADD result.
pod_ip() { # pod_ip CONFLIST POD IFNAME
	local name
	name=$(jq -r .name "$1")
	jq -r '[.ips[].address | select(test(":") | not)][0] | split("/")[0]' \
		"$WORK/cache/$name-$P-$2-$3.json"
}

start_server() { # start_server POD SPEC...
	local pod=$1; shift
	# exec: $! must be the server itself, not a subshell that would leave it orphaned
	(exec nsenter --net="/var/run/netns/$P-$pod" "$PYTHON" "$WORK/server.py" "$@" \
		</dev/null >/dev/null 2>&1) &
	echo $! >"$WORK/pids/server-$pod"
}

probe() { # probe POD PROTO HOST PORT [TIMEOUT]
	in_ns "$P-$1" "$PYTHON" "$WORK/probe.py" "$2" "$3" "$4" "${5:-$BLOCK_TIMEOUT}" 2>&1 || true
}

# expect_traffic LABEL POD PROTO HOST PORT allowed|blocked
expect_traffic() {
	local res got
	if [ "$6" = allowed ]; then
		# allowed traffic may need a retry while a server starts
		for _ in 1 2 3; do
			res=$(probe "$2" "$3" "$4" "$5" 2)
			[ "$res" = ok ] && break
			sleep 0.3
		done
	else
		res=$(probe "$2" "$3" "$4" "$5")
	fi
	case "$res" in
	ok) got=allowed ;;
	timeout | denied) got=blocked ;;
	*) got="reached($res)" ;;
	esac
	expect_eq "$1 ($3/$5 -> $4)" "$got" "$6"
}

# Wait until a pod's TCP server answers on its loopback (not fenced).
wait_server() { # wait_server POD PORT
	local i
	for i in $(seq 50); do
		[ "$(probe "$1" tcp 127.0.0.1 "$2" 0.2)" = ok ] && return 0
		sleep 0.1
	done
	fail "server in $1 on port $2 did not come up"
}

# Endpoint owners netfence knows (from `netfence status --json`), one a line.
nf_owners() {
	"$NETFENCE" status --json 2>/dev/null |
		jq -r '[.. | objects | .owner? | strings | select(length > 0)] | .[]'
}
# How many endpoints this test's containers own.
nf_my_endpoints() { nf_owners | grep -c "^$P-" || true; }

# hostif CONFLIST POD: the host side of POD's eth0 veth (the bridge plugin's
# cached result): where netfence's programs run
hostif() {
	jq -r --arg br "${IFP}br" '[.interfaces[] | select(.sandbox == null and .name != $br) |
		.name][0]' "$WORK/cache/$(jq -r .name "$1")-$P-$2-eth0.json"
}
# progs_on HOSTIF: at how many of that node interface's points (tc ingress,
# egress) netfence's program runs, through our cls_bpf filter or tcx (serve
# moves endpoints from the one to the other; midway a point has both: 1).
# The filters are read first: serve adds the tcx program before it takes a
# filter off, so a move under way is never seen as neither.
progs_on() {
	local n=0 d cls=""
	for d in ingress egress; do
		in_ns "$NODE" tc filter show dev "$1" "$d" 2>/dev/null | grep -q ' bpf .* handle ' &&
			cls+=" $d"
	done
	local tcx
	tcx=$(in_ns "$NODE" "$PYTHON" "$E2E_LIB/tchooks.py" ids "$1" 2>/dev/null)
	for d in ingress egress; do
		if [[ " $cls " == *" $d "* ]] || grep -q "^$d " <<<"$tcx"; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

# Number of BPF programs on IFNAME in POD (ingress + egress): cls_bpf
# filters, and tcx programs (NETFENCE_TC_HOOK=tcx).
# Where netfence enforces POD's IFNAME (SPEC §3.11): "node PEER" for a veth
# (its peer is in the node netns, where the plugins run), else "pod IFNAME".
attach_dev() { # attach_dev POD IFNAME
	local idx
	idx=$(in_ns "$P-$1" ip -d -j link show dev "$2" 2>/dev/null | "$PYTHON" -c '
import json, sys
try:
    l = json.load(sys.stdin)[0]
    if l["linkinfo"]["info_kind"] == "veth" and "link_netnsid" in l:
        print(l["link_index"])
except Exception:
    pass')
	if [ -n "$idx" ] && in_ns "$NODE" ip -j link show 2>/dev/null | "$PYTHON" -c '
import json, sys
for l in json.load(sys.stdin):
    if l["ifindex"] == int(sys.argv[1]):
        print("node", l["ifname"]); sys.exit(0)
sys.exit(1)' "$idx"; then
		return
	fi
	echo "pod $2"
}

# in_attach POD IFNAME CMD...: run CMD (with @DEV@ as the device) where IFNAME is enforced
in_attach() {
	local pod=$1 ifn=$2 where dev a args=()
	shift 2
	read -r where dev < <(attach_dev "$pod" "$ifn")
	for a in "$@"; do args+=("${a//@DEV@/$dev}"); done
	if [ "$where" = node ]; then in_ns "$NODE" "${args[@]}"; else in_ns "$P-$pod" "${args[@]}"; fi
}

tc_filters() { # tc_filters POD IFNAME: netfence's programs where IFNAME is enforced
	local n d
	n=$(in_attach "$1" "$2" "$PYTHON" "$E2E_LIB/tchooks.py" count @DEV@ 2>/dev/null || echo 0)
	for d in ingress egress; do
		n=$((n + $(in_attach "$1" "$2" tc filter show dev @DEV@ "$d" 2>/dev/null | grep -c ' bpf .* handle ' || true)))
	done
	echo "$n"
}

# Take every BPF program off IFNAME in POD, as another tool (or a person) might.
tc_strip() { # tc_strip POD IFNAME
	in_attach "$1" "$2" "$PYTHON" "$E2E_LIB/tchooks.py" detach @DEV@
	in_attach "$1" "$2" tc qdisc del dev @DEV@ clsact 2>/dev/null || true
}

# Apply a policy JSON given on stdin.
nf_apply() {
	local f
	f=$(mktemp "$WORK/policy.XXXXXX.json")
	cat >"$f"
	"$NETFENCE" apply "$f" || fail "netfence apply $f: exit $?"
}

# The two-tenant scenario on any interface plugin: pods a1, a2 in tenant $TA,
# b1 in tenant $TB, wired by CONFLIST as IFNAME; deny by default, then two
# policies allow exactly what they say; DEL leaves nothing behind.
two_tenant_scenario() { # two_tenant_scenario CONFLIST IFNAME
	local CONF=$1 ifn=$2 pod
	TA=$P-a
	TB=$P-b
	# pods: a1, a2 in tenant A; b1 in tenant B
	for pod in a1 a2 b1; do
		pod_add "$pod"
		start_server "$pod" tcp:8080 tcp:9090 udp:5353
	done
	for pod in a1 a2; do
		cni ADD "$CONF" "$pod" "$ifn" "$TA" >/dev/null || fail "ADD $pod"
	done
	cni ADD "$CONF" b1 "$ifn" "$TB" >/dev/null || fail "ADD b1"
	IP_a1=$(pod_ip "$CONF" a1 "$ifn")
	IP_a2=$(pod_ip "$CONF" a2 "$ifn")
	IP_b1=$(pod_ip "$CONF" b1 "$ifn")
	log "a1=$IP_a1 a2=$IP_a2 (tenant $TA), b1=$IP_b1 (tenant $TB)"
	for pod in a1 a2 b1; do
		wait_server "$pod" 8080
		expect_eq "tc programs on $pod/$ifn" "$(tc_filters "$pod" "$ifn")" 2
		expect_eq "of them tcx (NETFENCE_TC_HOOK=${NETFENCE_TC_HOOK:-})" \
			"$(in_attach "$pod" "$ifn" "$PYTHON" "$E2E_LIB/tchooks.py" count @DEV@)" \
			"$([ "${NETFENCE_TC_HOOK:-}" = tcx ] && echo 2 || echo 0)"
	done

	log "no policy: default deny, same tenant and across tenants"
	expect_traffic "a1 -> a2 same tenant" a1 tcp "$IP_a2" 8080 blocked
	expect_traffic "a1 -> a2 same tenant" a1 udp "$IP_a2" 5353 blocked
	expect_traffic "a1 -> a2 same tenant" a1 icmp "$IP_a2" 0 blocked
	expect_traffic "a1 -> b1 cross tenant" a1 tcp "$IP_b1" 8080 blocked
	expect_traffic "b1 -> a1 cross tenant" b1 tcp "$IP_a1" 8080 blocked

	log "policy 1: tenant A talks to itself on TCP 8080 only"
	nf_apply <<EOF
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "same-tenant-8080", "namespace": "$TA"},
 "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
  "ingress": [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
  "egress": [{"to": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}]}}
EOF
	expect_traffic "a1 -> a2 allowed port" a1 tcp "$IP_a2" 8080 allowed
	expect_traffic "a2 -> a1 allowed port" a2 tcp "$IP_a1" 8080 allowed
	expect_traffic "a1 -> a2 other port" a1 tcp "$IP_a2" 9090 blocked
	expect_traffic "a1 -> a2 other protocol" a1 icmp "$IP_a2" 0 blocked
	expect_traffic "a1 -> b1 cross tenant" a1 tcp "$IP_b1" 8080 blocked
	expect_traffic "b1 -> a1 cross tenant" b1 tcp "$IP_a1" 8080 blocked

	log "policy 2: A reaches B on TCP 8080 (A egress + B ingress); A to itself on everything"
	nf_apply <<EOF
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "same-tenant-all", "namespace": "$TA"},
  "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
   "ingress": [{"from": [{"podSelector": {}}]}],
   "egress": [{"to": [{"podSelector": {}}]},
              {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "$TB"}}}],
               "ports": [{"protocol": "TCP", "port": 8080}]}]}},
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "from-a", "namespace": "$TB"},
  "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
   "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "$TA"}}}],
                "ports": [{"protocol": "TCP", "port": 8080}]}]}}]}
EOF
	expect_traffic "a1 -> b1 allowed both ends" a1 tcp "$IP_b1" 8080 allowed
	expect_traffic "a1 -> b1 other port" a1 tcp "$IP_b1" 9090 blocked
	expect_traffic "b1 -> a1 (B has no egress)" b1 tcp "$IP_a1" 8080 blocked
	expect_traffic "a1 -> a2 any protocol" a1 icmp "$IP_a2" 0 allowed
	expect_traffic "a1 -> a2 any protocol" a1 udp "$IP_a2" 5353 allowed
	expect_traffic "a1 -> a2 any port" a1 tcp "$IP_a2" 9090 allowed

	log "DEL through the chain removes every endpoint and program"
	cni CHECK "$CONF" a1 "$ifn" "$TA" >/dev/null || fail "CHECK a1"
	for pod in a1 a2; do
		cni DEL "$CONF" "$pod" "$ifn" "$TA" || fail "DEL $pod"
	done
	cni DEL "$CONF" b1 "$ifn" "$TB" || fail "DEL b1"
	expect_eq "endpoints left after DEL" "$(nf_my_endpoints)" 0
}
