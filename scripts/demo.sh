#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# netfence two-tenant demo (run by `make demo`, as root).
#
# Everything happens in network namespaces this script creates, so the host's
# own routes, sysctls and traffic are never touched:
#
#   nfdemo-node      stands in for the node: the CNI plugins run here, so the
#                    bridge "nfdemo0" (10.99.0.1/24), the pods' host-side veths
#                    and IP forwarding live here.
#   nfdemo-pod-a     tenant-a's pod, eth0 wired by bridge + host-local + netfence-cni
#   nfdemo-pod-b     tenant-b's pod, the same conflist
#   nfdemo-dns       "cluster DNS" 10.96.0.10, UDP 53 (and TCP 53) echo server
#   nfdemo-storage   "storage" 192.168.1.10, TCP 8080 and TCP 22 servers
#
# It applies policies/ (tenant-a.json: egress only to 10.96.0.10/32 UDP 53 and
# to 192.168.1.0/24 TCP 8080; tenant-b.json: ingress only), probes allowed and
# denied connections, prints the drop counters, a few drop events, a `check`
# explanation and the Prometheus metrics, then cleans up. Exit status: 0 when every probe behaved as the policy
# says, 1 otherwise (or on any runtime failure), 2 on bad usage.
#
# Environment: NETFENCE (default build/netfence), NETFENCE_CNI (default
# build/netfence-cni), CNI_PLUGIN_DIR (default /usr/lib/cni, then /opt/cni/bin),
# NFDEMO_KEEP=1 leaves everything in place for poking around (clean up with
# `scripts/demo.sh --cleanup`), NO_COLOR=1 plain output.
set -euo pipefail
cd "$(dirname "$0")/.."

NETFENCE=${NETFENCE:-build/netfence}
NETFENCE_CNI=${NETFENCE_CNI:-build/netfence-cni}
POLICY_DIR=${NFDEMO_POLICY_DIR:-policies}
P=nfdemo
NODE=$P-node
NS_A=$P-pod-a
NS_B=$P-pod-b
NS_DNS=$P-dns
NS_STO=$P-storage
DNS_IP=10.96.0.10
STO_IP=192.168.1.10
BLOCK_TIMEOUT=1.5
STATE_FILE=/run/netfence-demo.state
LOCK_FILE=/run/netfence-demo.lock

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	OK=$'\e[32m✓\e[0m' BAD=$'\e[31m✗\e[0m' B=$'\e[1m' N=$'\e[0m'
else
	OK='✓' BAD='✗' B='' N=''
fi

die() { echo "demo: $*" >&2; exit 1; }
section() { printf '\n%s%s%s\n' "$B" "$*" "$N"; }
netns_path() { echo "/var/run/netns/$1"; }
# `ip netns exec` remounts /sys, which hides the bpffs pins: use nsenter.
in_ns() { local ns=$1; shift; nsenter --net="$(netns_path "$ns")" "$@"; }

find_cni_dir() {
	local d
	for d in ${CNI_PLUGIN_DIR:-} /usr/lib/cni /opt/cni/bin; do
		[ -x "$d/bridge" ] && [ -x "$d/host-local" ] && { echo "$d"; return 0; }
	done
	return 1
}

# ---------------------------------------------------------------- cleanup
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [ "${NFDEMO_KEEP:-0}" = 1 ] && [ "$rc" -ne 130 ]; then
		echo "demo: NFDEMO_KEEP=1: left everything in place; remove with: $0 --cleanup"
		exit "$rc"
	fi
	do_cleanup
	exit "$rc"
}

do_cleanup() {
	set +e
	local work="" fresh=0 cni_dir
	if [ -f "$STATE_FILE" ]; then
		work=$(sed -n 's/^work=//p' "$STATE_FILE")
		fresh=$(sed -n 's/^fresh=//p' "$STATE_FILE")
	fi
	# Servers and monitors first: they hold the namespaces open.
	if [ -n "$work" ] && [ -d "$work/pids" ]; then
		for f in "$work"/pids/*; do
			[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
		done
	fi
	# CNI DEL through the same chain: detaches the netfence endpoints.
	cni_dir=$(find_cni_dir)
	if [ -n "$work" ] && [ -f "$work/demo.conflist" ] && [ -n "$cni_dir" ] &&
	   [ -e "$(netns_path "$NODE")" ]; then
		for pod in a b; do
			[ -f "$work/cache/pod-$pod.json" ] || continue
			in_ns "$NODE" env CNI_PATH="$cni_dir:$work/bin" \
				python3 "$work/cni-run.py" DEL "$work/demo.conflist" \
				"$(netns_path "$P-pod-$pod")" eth0 "$P-pod-$pod" \
				"IgnoreUnknown=1;K8S_POD_NAMESPACE=tenant-$pod;K8S_POD_NAME=pod-$pod" \
				"$work/cache" >/dev/null 2>&1
		done
	fi
	if [ -x "$NETFENCE" ]; then
		"$NETFENCE" delete tenant-a >/dev/null 2>&1
		"$NETFENCE" delete tenant-b >/dev/null 2>&1
		# Remove all state only if there was none before the demo started,
		# so the demo never wipes a real installation.
		[ "$fresh" = 1 ] && "$NETFENCE" reset >/dev/null 2>&1
	fi
	for ns in "$NS_A" "$NS_B" "$NS_DNS" "$NS_STO" "$NODE"; do
		[ -e "$(netns_path "$ns")" ] && ip netns del "$ns" 2>/dev/null
	done
	[ -n "$work" ] && [[ "$work" == /tmp/nfdemo.* ]] && rm -rf "$work"
	rm -f "$STATE_FILE"
	return 0
}

case "${1:-}" in
--cleanup)
	exec 9>"$LOCK_FILE"
	flock -w 300 9 || die "another demo is running"
	do_cleanup
	exit 0 ;;
-h|--help)
	sed -n '4,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit 0 ;;
"") ;;
*) echo "usage: $0 [--cleanup|--help]" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- preflight
[ "$(id -u)" -eq 0 ] || die "must run as root (it creates network namespaces and loads BPF)"
for c in python3 ip nsenter jq; do
	command -v "$c" >/dev/null || die "$c not found (run scripts/install-deps.sh)"
done
[ -x "$NETFENCE" ] && [ -x "$NETFENCE_CNI" ] || die "$NETFENCE or $NETFENCE_CNI missing: run make"
CNI_DIR=$(find_cni_dir) || die "CNI bridge/host-local plugins not found (apt-get install containernetworking-plugins)"
[ -f "$POLICY_DIR/tenant-a.json" ] || die "$POLICY_DIR/tenant-a.json missing"
# One demo at a time (they share names and the state file); wait for another.
exec 9>"$LOCK_FILE"
if ! flock -n 9; then
	echo "demo: another demo is running, waiting for it"
	flock -w 300 9 || die "another demo is still running after 300s"
fi
[ -f "$STATE_FILE" ] && { echo "demo: leftovers of an earlier run, cleaning up"; do_cleanup; }
for ns in "$NODE" "$NS_A" "$NS_B" "$NS_DNS" "$NS_STO"; do
	[ -e "$(netns_path "$ns")" ] && die "netns $ns already exists (another demo running? $0 --cleanup)"
done

FRESH=0
[ -d /sys/fs/bpf/netfence ] || FRESH=1
WORK=$(mktemp -d /tmp/nfdemo.XXXXXX)
mkdir -p "$WORK/pids" "$WORK/cache" "$WORK/ipam" "$WORK/bin"
printf 'work=%s\nfresh=%s\n' "$WORK" "$FRESH" >"$STATE_FILE"
trap cleanup EXIT
trap 'exit 130' INT TERM

# netfence-cni is found by the runtime through CNI_PATH, next to the plugins.
ln -s "$(readlink -f "$NETFENCE_CNI")" "$WORK/bin/netfence-cni"

# A CNI runtime in 50 lines: runs a conflist's plugins in order (ADD, CHECK) or
# in reverse (DEL) with the chained prevResult, as containerd/CRI-O do.
cat >"$WORK/cni-run.py" <<'EOF'
import json, os, subprocess, sys

cmd, conflist, netns, ifname, cid, cni_args, cachedir = sys.argv[1:8]
conf = json.load(open(conflist))
cache = os.path.join(cachedir, cid + ".json")
env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns,
           CNI_IFNAME=ifname, CNI_ARGS=cni_args)
paths = env["CNI_PATH"].split(":")
prev = None
if cmd in ("DEL", "CHECK") and os.path.exists(cache):
    prev = json.load(open(cache))
plugins = conf["plugins"] if cmd != "DEL" else list(reversed(conf["plugins"]))
failed = False
for p in plugins:
    net = dict(p, name=conf["name"], cniVersion=conf["cniVersion"])
    if prev is not None:
        net["prevResult"] = prev
    exe = next((os.path.join(d, p["type"]) for d in paths
                if os.access(os.path.join(d, p["type"]), os.X_OK)), None)
    if exe is None:
        sys.exit("cni-run: plugin %s not found in %s" % (p["type"], paths))
    r = subprocess.run([exe], input=json.dumps(net).encode(), env=env,
                       capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("cni-run: %s %s failed (exit %d): %s%s\n" % (
            p["type"], cmd, r.returncode, r.stdout.decode(), r.stderr.decode()))
        failed = True
        if cmd != "DEL":
            break
        continue
    if cmd == "ADD":
        prev = json.loads(r.stdout)
if cmd == "ADD" and not failed:
    json.dump(prev, open(cache, "w"))
    print(json.dumps(prev))
if cmd == "DEL" and os.path.exists(cache):
    os.unlink(cache)
sys.exit(1 if failed else 0)
EOF

# Tiny servers: udp:PORT answers every datagram, tcp:PORT greets and closes.
cat >"$WORK/server.py" <<'EOF'
import socket, sys, threading
name = sys.argv[1]
def tcp(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        try: c.sendall(b"hello from %s tcp/%d\n" % (name.encode(), port))
        except OSError: pass
        c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(b"answer from " + name.encode() + b": " + d, a)
ts = []
for spec in sys.argv[2:]:
    proto, port = spec.split(":")
    ts.append(threading.Thread(target=tcp if proto == "tcp" else udp,
                               args=(int(port),), daemon=True))
for t in ts: t.start()
for t in ts: t.join()
EOF

# Probe: prints ok | timeout | denied (EPERM: refused locally) | refused (RST or
# ICMP unreachable came back) | error:ERRNO.
cat >"$WORK/probe.py" <<'EOF'
import errno, socket, sys
proto, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    if proto == "tcp":
        s = socket.create_connection((host, port), timeout=timeout)
        if not s.recv(64): raise socket.timeout()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
        s.connect((host, port)); s.send(b"netfence-demo")
        if not s.recv(256): raise socket.timeout()
    print("ok")
except socket.timeout: print("timeout")
except PermissionError: print("denied")
except ConnectionRefusedError: print("refused")
except OSError as e: print("error:" + errno.errorcode.get(e.errno, str(e.errno)))
EOF

cat >"$WORK/demo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "nfdemo",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "nfdemo0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$WORK/ipam",
        "ranges": [[{ "subnet": "10.99.0.0/24", "gateway": "10.99.0.1" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "netfence-cni" }
  ]
}
EOF

cni() { # cni ADD|CHECK|DEL POD TENANT
	in_ns "$NODE" env CNI_PATH="$CNI_DIR:$WORK/bin" python3 "$WORK/cni-run.py" "$1" \
		"$WORK/demo.conflist" "$(netns_path "$P-$2")" eth0 "$P-$2" \
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$2" "$WORK/cache"
}

start_server() { # start_server NS NAME SPEC...
	local ns=$1 name=$2; shift 2
	# nsenter execs python3, so $! is the server itself (a function run in
	# the background would be a subshell, and killing it would leak python3).
	nsenter --net="$(netns_path "$ns")" python3 "$WORK/server.py" "$name" "$@" \
		</dev/null >/dev/null 2>&1 9>&- &
	echo $! >"$WORK/pids/$name"
}

probe() { # probe NS PROTO HOST PORT [TIMEOUT]
	in_ns "$1" python3 "$WORK/probe.py" "$2" "$3" "$4" "${5:-$BLOCK_TIMEOUT}" 2>&1 || true
}

# ---------------------------------------------------------------- topology
section "netfence demo: two tenants on one node"
for ns in "$NODE" "$NS_A" "$NS_B" "$NS_DNS" "$NS_STO"; do
	ip netns add "$ns"
	in_ns "$ns" ip link set lo up
done
in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=1

# The servers hang off the node namespace on routed veths, like services and a
# storage network reached through the node.
link_server() { # link_server NS HOSTIF NODE_CIDR SERVER_CIDR GW
	ip link add "$2" netns "$NODE" type veth peer name eth0 netns "$1"
	in_ns "$NODE" ip addr add "$3" dev "$2"
	in_ns "$NODE" ip link set "$2" up
	in_ns "$1" ip addr add "$4" dev eth0
	in_ns "$1" ip link set eth0 up
	in_ns "$1" ip route add default via "$5"
}
link_server "$NS_DNS" nfd-dns 10.96.0.1/24 "$DNS_IP/24" 10.96.0.1
link_server "$NS_STO" nfd-storage 192.168.1.1/24 "$STO_IP/24" 192.168.1.1

start_server "$NS_DNS" dns udp:53 tcp:53
start_server "$NS_STO" storage tcp:8080 tcp:22

# Pods through the real CNI chain: bridge + host-local, then netfence-cni.
pod_ip() { # pod_ip POD TENANT: CNI ADD, prints the address the chain assigned
	local out ip
	out=$(cni ADD "$1" "$2") || die "CNI ADD of $1 failed"
	ip=$(jq -r '.ips[0].address' <<<"$out")
	echo "${ip%/*}"
}
IP_a=$(pod_ip pod-a tenant-a) || exit 1
IP_b=$(pod_ip pod-b tenant-b) || exit 1
start_server "$NS_A" pod-a tcp:8080
start_server "$NS_B" pod-b tcp:8080 tcp:9000

# Wait until the servers answer from the (unfenced) node namespace.
for i in $(seq 50); do
	if [ "$(probe "$NODE" udp "$DNS_IP" 53 0.2)" = ok ] &&
	   [ "$(probe "$NODE" tcp "$STO_IP" 22 0.2)" = ok ] &&
	   [ "$(probe "$NODE" tcp "$STO_IP" 8080 0.2)" = ok ]; then
		break
	fi
	[ "$i" -eq 50 ] && die "demo servers did not come up"
	sleep 0.1
done

cat <<EOF
  node     netns $NODE: bridge nfdemo0 10.99.0.1/24, plugins from $CNI_DIR
  pod-a    tenant-a  $IP_a  (CNI bridge + host-local + netfence-cni)
  pod-b    tenant-b  $IP_b  (same conflist)
  dns      $DNS_IP  udp/53 tcp/53      storage  $STO_IP  tcp/8080 tcp/22
EOF

# ---------------------------------------------------------------- probes
FAILS=0
ROWS=()
expect() { # expect LABEL NS PROTO HOST PORT allowed|blocked
	local label=$1 ns=$2 proto=$3 host=$4 port=$5 want=$6 got res mark
	res=$(probe "$ns" "$proto" "$host" "$port")
	case "$res" in
	ok) got=allowed ;;
	timeout | denied) got=blocked ;;
	*) got="reached ($res)" ;;	# a refusal means the packet got through
	esac
	if [ "$got" = "$want" ]; then mark=$OK; else mark=$BAD; FAILS=$((FAILS + 1)); fi
	ROWS+=("$(printf '  %s %-40s %-9s %-8s %s' "$mark" "$label" "$proto/$port" "$want" "$got")")
}
print_rows() {
	printf '    %-40s %-9s %-8s %s\n' "connection" "proto" "expected" "actual"
	printf '%s\n' "${ROWS[@]}"
	ROWS=()
}

section "1. Pods attached, no policy yet: default deny in both directions"
expect "node  -> dns $DNS_IP (unfenced)" "$NODE" udp "$DNS_IP" 53 allowed
expect "node  -> storage $STO_IP (unfenced)" "$NODE" tcp "$STO_IP" 22 allowed
expect "pod-a -> dns $DNS_IP" "$NS_A" udp "$DNS_IP" 53 blocked
expect "pod-a -> storage $STO_IP" "$NS_A" tcp "$STO_IP" 8080 blocked
print_rows

section "2. netfence apply $POLICY_DIR/"
echo "    $POLICY_DIR/tenant-a.json: tenant-a may send only to its DNS and its storage"
sed 's/^/      /' "$POLICY_DIR/tenant-a.json"
others=""
for f in "$POLICY_DIR"/*.json; do
	[ "${f##*/}" = tenant-a.json ] || others="$others ${f##*/}"
done
echo "    also:$others"
echo "    (tenant-b admits tenant-a on TCP 9000 and itself on TCP 8000-8100; no egress)"
if ! "$NETFENCE" apply "$POLICY_DIR/"; then
	echo "  $BAD netfence apply failed"
	FAILS=$((FAILS + 1))
fi

# Collect drop events while the probes run (stopped with SIGTERM after them).
"$NETFENCE" monitor --json --timeout 60 >"$WORK/monitor.json" 2>"$WORK/monitor.err" 9>&- &
echo $! >"$WORK/pids/monitor"
sleep 0.3

section "3. Traffic under the policy"
expect "pod-a -> dns $DNS_IP" "$NS_A" udp "$DNS_IP" 53 allowed
expect "pod-a -> storage $STO_IP" "$NS_A" tcp "$STO_IP" 8080 allowed
expect "pod-a -> storage $STO_IP (ssh)" "$NS_A" tcp "$STO_IP" 22 blocked
expect "pod-a -> dns $DNS_IP (tcp)" "$NS_A" tcp "$DNS_IP" 53 blocked
expect "pod-a -> pod-b $IP_b" "$NS_A" tcp "$IP_b" 8080 blocked
expect "pod-a -> pod-b $IP_b (b admits a)" "$NS_A" tcp "$IP_b" 9000 blocked
expect "pod-b -> pod-a $IP_a" "$NS_B" tcp "$IP_a" 8080 blocked
expect "pod-b -> dns $DNS_IP" "$NS_B" udp "$DNS_IP" 53 blocked
expect "pod-b -> storage $STO_IP" "$NS_B" tcp "$STO_IP" 8080 blocked
print_rows

section "4. Drop counters: netfence stats"
if ! "$NETFENCE" stats | sed 's/^/    /'; then
	echo "  $BAD netfence stats failed"
	FAILS=$((FAILS + 1))
fi
# The denied probes above must show up in the counters.
for t in tenant-a tenant-b; do
	n=$("$NETFENCE" stats --json 2>/dev/null | jq --arg t "$t" '[.tenants[]? | select(.tenant == $t)
		| .drops[]? | select(.direction == "egress" and .reason == "policy_denied") | .packets] | add // 0')
	if [ "${n:-0}" -gt 0 ]; then
		echo "  $OK $t: $n egress packets dropped as policy_denied"
	else
		echo "  $BAD $t: no egress policy_denied drops counted"
		FAILS=$((FAILS + 1))
	fi
done

section "5. Drop events: netfence monitor --json (the demo pods', first 4 flows)"
kill -TERM "$(cat "$WORK/pids/monitor")" 2>/dev/null || true
wait "$(cat "$WORK/pids/monitor")" 2>/dev/null || true
rm -f "$WORK/pids/monitor"
events=$(jq -c 'select(.tenant == "tenant-a" or .tenant == "tenant-b") | select(.saddr != null)' \
	"$WORK/monitor.json" 2>/dev/null || true)
if [ -n "$events" ]; then
	# One line per flow (a denied TCP connect retransmits its SYN).
	jq -r '"    \(.tenant) \(.direction) \(.reason): \(.proto) \(.saddr):\(.sport // "-") -> \(.daddr):\(.dport // "-") on \(.owner // .ifname // "?")"' \
		<<<"$events" 2>/dev/null | awk '!seen[$0]++' | head -n 4 || true
	echo "    the first one as JSON:"
	head -n 1 <<<"$events" | sed 's/^/    /'
else
	echo "  $BAD no drop event of tenant-a or tenant-b seen: $(head -c 300 "$WORK/monitor.err")"
	FAILS=$((FAILS + 1))
fi

section "6. Why? netfence check"
explain() { # explain WANT ARGS...
	local want=$1 out; shift
	echo "    \$ netfence check $*"
	out=$("$NETFENCE" check "$@" 2>&1) || true
	sed 's/^/      /' <<<"$out"
	if grep -qiw "$want" <<<"$out"; then
		echo "    $OK verdict: $want"
	else
		echo "    $BAD expected verdict: $want"
		FAILS=$((FAILS + 1))
	fi
}
explain allow --tenant tenant-a --direction egress --peer "$STO_IP" --proto tcp --port 8080
explain deny --tenant tenant-a --direction egress --peer "$STO_IP" --proto tcp --port 22

section "7. Prometheus: netfence serve, GET /metrics (the demo tenants' series)"
PORT=$((20000 + RANDOM % 20000))
"$NETFENCE" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 9>&- &
echo $! >"$WORK/pids/serve"
metrics=""
for i in $(seq 30); do
	metrics=$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null) && break
	sleep 0.1
done
kill "$(cat "$WORK/pids/serve")" 2>/dev/null || true
rm -f "$WORK/pids/serve"
if grep -q '^netfence_drops_total{tenant="tenant-a"' <<<"$metrics"; then
	grep -E '^netfence_(drops_total|allowed_flows_total|endpoints|policy_rules)\{tenant="tenant-[ab]"' \
		<<<"$metrics" | sed 's/^/    /'
else
	echo "  $BAD no netfence_drops_total series: $(head -c 300 "$WORK/serve.log")"
	FAILS=$((FAILS + 1))
fi

echo
if [ "$FAILS" -eq 0 ]; then
	echo "${B}demo: everything behaved as the policy says $OK${N}"
else
	echo "${B}demo: $FAILS result(s) differ from the policy $BAD${N}"
fi
echo "cleaning up (namespaces, bridge, servers, netfence state)"
[ "$FAILS" -eq 0 ]
