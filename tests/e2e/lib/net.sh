# Shared helpers for end-to-end tests: namespaces, traffic probes, cleanup.
# Source it; set NF=build/netfence beforehand if needed.
# Every test gets a unique prefix; everything it creates is removed by
# nf_cleanup (installed as an EXIT trap by nf_init).
# Only in a private mount namespace of lib/private.sh (tests/run.sh): its
# `netfence reset` must never meet the node's real netfence state.

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
nf_require_private

NF=${NF:-build/netfence}
NF_PREFIX=${NF_PREFIX:-nfe$$}
_nf_netns=()
_nf_pids=()
_nf_fail=0

nf_init() {
	trap nf_cleanup EXIT
	nf_reset "$NF" || exit 1
}

nf_cleanup() {
	local rc=$?
	# a FAIL line always fails the test, whatever ran in the trap before this
	[ "$_nf_fail" -ne 0 ] && [ "$rc" -eq 0 ] && rc=1
	for p in "${_nf_pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	nf_reset "$NF" || rc=1
	for n in "${_nf_netns[@]}"; do ip netns del "$n" 2>/dev/null; done
	exit $rc
}

# nf_netns NAME: create a netns (registered for cleanup) with lo up
nf_netns() {
	ip netns add "$1"
	_nf_netns+=("$1")
	nsenter --net=/var/run/netns/"$1" ip link set lo up
}

# in NS CMD...: run in a netns without remounting /sys (bpffs pins stay visible)
in_ns() {
	local ns=$1
	shift
	nsenter --net=/var/run/netns/"$ns" "$@"
}

# nf_bg NS CMD...: background process in NS, killed at cleanup
nf_bg() {
	local ns=$1
	shift
	nsenter --net=/var/run/netns/"$ns" "$@" &
	_nf_pids+=($!)
}

ok() { echo "  ok: $*"; }
fail() { echo "  FAIL: $*"; _nf_fail=1; }

# expect_eq DESC GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then ok "$1: $2"; else fail "$1: got '$2', want '$3'"; fi; }

# nf_abi_version: the datapath version this tree builds (include/netfence/abi.h)
nf_abi_version() {
	sed -n '/^#else/,/^#endif/s/^#define NF_DATAPATH_VERSION[[:space:]]*\([0-9]*\).*/\1/p' \
		include/netfence/abi.h
}

# expect_ok DESC CMD... / expect_fail DESC CMD...
expect_ok() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else fail "$d (expected success)"; fi; }
expect_fail() { local d=$1; shift; if "$@" >/dev/null 2>&1; then fail "$d (expected failure)"; else ok "$d"; fi; }

# Probes (python3, bounded by timeouts). Exit 0 on success.
tcp_probe() { # NS HOST PORT
	in_ns "$1" python3 - "$2" "$3" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
s.sendall(b"ping\n")
s.settimeout(1.5)
assert s.recv(16).startswith(b"ping")
PY
}
udp_probe() { # NS HOST PORT
	in_ns "$1" python3 - "$2" "$3" <<'PY'
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.sendto(b"q", (sys.argv[1], int(sys.argv[2])))
assert s.recvfrom(64)[0] == b"q"
PY
}
icmp_probe() { in_ns "$1" ping -c1 -W1 "$2"; }

# wait_bound NS PROTO PORT: until a socket of PROTO (tcp|udp) is bound to PORT in
# NS (10 s at most): a loaded machine can take seconds to start python.
wait_bound() {
	local i flag
	[ "$2" = tcp ] && flag=-Hltn || flag=-Hlun
	for i in $(seq 100); do
		[ -n "$(in_ns "$1" ss $flag "sport = :$3" 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	echo "  (no $2 server on port $3 in $1 after 10 s)"
	return 1
}

# echo servers: TCP and UDP echo on PORT in NS (all addresses); they return
# once the server's socket is bound.
tcp_server() { # NS PORT
	nf_bg "$1" python3 -c '
import socket, sys, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1]))); s.listen(64)
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            c.sendall(d)
    except OSError: pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$2"
	wait_bound "$1" tcp "$2"
}
# A UDP server must answer from the address it was asked on (as DNS servers do
# by binding each address): give ADDR, or it binds the wildcard.
udp_server() { # NS PORT [ADDR]
	nf_bg "$1" python3 -c '
import socket, sys
addr = sys.argv[2] if len(sys.argv) > 2 else "::"
if ":" in addr:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65536); s.sendto(d, a)
' "$2" ${3:-}
	wait_bound "$1" udp "$2"
}

# stat TENANT DIRECTION REASON HOOK -> packets (0 if absent)
nf_stat() {
	"$NF" stats --json | python3 -c '
import json, sys
t, d, r, h = sys.argv[1:5]
doc = json.load(sys.stdin)
n = 0
for ten in doc.get("tenants", []):
    if ten.get("tenant") != t: continue
    for x in ten.get("drops", []):
        if x["direction"] == d and x["reason"] == r and x["hook"] == h: n += x["packets"]
print(n)' "$1" "$2" "$3" "$4"
}

nf_done() {
	if [ "$_nf_fail" -ne 0 ]; then
		echo "some checks failed"
		exit 1
	fi
	exit 0
}
