#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# SPEC §11: a label change is enforced on connections already open, also when
# the pod only moves between label sets that other pods keep (no identity
# comes or goes, so no tenant is recompiled: the flows with the pod's address
# are judged again). And a move to a label set nobody had (a new identity)
# recompiles the tenants whose selectors may cover it, and grants.
#   $P-s: eth0 10.78.0.1 (tenant x, pod srv: an echo server on TCP 8080)
#   $P-c1: eth0 10.78.0.2 (tenant y, pod web, role=fe)
#   $P-c2: eth0 10.78.0.3 (tenant y, pod other: role=fe, then be, then new;
#          attached without --pod: linked to its Pod document by address)
# all on a bridge in $P-hub; x admits role=fe pods of any namespace.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/check.sh

NF=${NETFENCE:-build/netfence}
P=nflr-$$
FAILS=0
PIDS=()
WORK=$(mktemp -d /tmp/nflr.XXXXXX)

cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for n in hub s c1 c2; do ip netns del "$P-$n" 2>/dev/null; done
	nf_reset "$NF" || rc=1
	rm -rf "$WORK"
	[ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ] && rc=1
	echo "$FAILS failure(s)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
nf_reset "$NF" || exit 1
PY=$(command -v python3)
PY=$("$PY" -c 'import sys; print(sys.executable)')	# not a pyenv shim: 1 s per start

ip netns add "$P-hub" || die "netns"
in_ns "$P-hub" ip link add br0 type bridge
in_ns "$P-hub" ip link set br0 up
i=1
for n in s c1 c2; do
	ip netns add "$P-$n"
	in_ns "$P-$n" ip link set lo up
	in_ns "$P-hub" ip link add "h$n" type veth peer name eth0 netns "/var/run/netns/$P-$n"
	in_ns "$P-hub" ip link set "h$n" master br0
	in_ns "$P-hub" ip link set "h$n" up
	in_ns "$P-$n" ip addr add "10.78.0.$i/24" dev eth0
	in_ns "$P-$n" ip link set eth0 up
	i=$((i + 1))
done

docs() { # docs ROLE_OF_OTHER
	cat <<J
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"srv","namespace":"x","labels":{"app":"db"}},"status":{"podIPs":[{"ip":"10.78.0.1"}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"y","labels":{"role":"fe"}},"status":{"podIPs":[{"ip":"10.78.0.2"}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"other","namespace":"y","labels":{"role":"$1"}},"status":{"podIPs":[{"ip":"10.78.0.3"}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"remote","namespace":"y","labels":{"role":"be"}},"status":{"podIPs":[{"ip":"10.78.1.9"}]}},
 {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"db","namespace":"x"},"spec":{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchExpressions":[{"key":"role","operator":"In","values":["fe","new"]}]}}]}]}},
 {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"out","namespace":"y"},"spec":{"podSelector":{},"policyTypes":["Egress"],"egress":[{}]}}
]}
J
}

docs fe >"$WORK/docs.json"
"$NF" apply "$WORK/docs.json" >/dev/null || fail "apply"
"$NF" attach --tenant x --iface eth0 --netns "/var/run/netns/$P-s" --ip 10.78.0.1 --pod srv ||
	fail "attach srv"
"$NF" attach --tenant y --iface eth0 --netns "/var/run/netns/$P-c1" --ip 10.78.0.2 --pod web ||
	fail "attach web"
# without --pod: linked to its Pod document by its address
"$NF" attach --tenant y --iface eth0 --netns "/var/run/netns/$P-c2" --ip 10.78.0.3 ||
	fail "attach other"
expect_eq "other's endpoint carries its pod's identity (linked by address)" \
	"$("$NF" status --json | jq '[.endpoints[] | select(.iface == "eth0" and (.netns | endswith("-c2"))) | .identity > 4095] | .[0]')" true

in_ns "$P-s" "$PY" -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(50)
def echo(c):
    while True:
        d = c.recv(100)
        if not d: break
        c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()' &
PIDS+=($!)
for _ in $(seq 100); do in_ns "$P-s" ss -ltn | grep -q ':8080 ' && break; sleep 0.1; done

# A long-lived connection from `other`: one echo every 0.2 s, "ok" or "timeout" per line.
in_ns "$P-c2" "$PY" -u -c '
import socket, time
c = socket.create_connection(("10.78.0.1", 8080), timeout=2); c.settimeout(0.5)
while True:
    try:
        c.sendall(b"x"); c.recv(10); print("ok")
    except Exception:
        print("timeout")
    time.sleep(0.2)' >"$WORK/conn.txt" 2>&1 &
PIDS+=($!)
last_ok() { sleep "$1"; tail -n 2 "$WORK/conn.txt" | grep -c '^ok'; }
expect_eq "other (role=fe): its open connection to x carries data" "$(last_ok 1.5)" 2

# fe -> be: both label sets stay (web keeps fe, remote has be): nothing recompiled
docs be >"$WORK/docs.json"
out=$("$NF" apply "$WORK/docs.json" 2>&1)
if grep -q recompiling <<<"$out"; then
	fail "a move between label sets that stay recompiled tenants: $out"
else
	pass "a move between label sets that stay recompiles no tenant"
fi
expect_eq "other (role=be): its open connection is cut" "$(last_ok 1.5)" 0
"$NF" check --tenant x --direction ingress --peer 10.78.0.3 --port 8080 >"$WORK/check" 2>&1
grep -q '^deny' "$WORK/check" && pass "check: x denies other now" ||
	fail "check: $(tr '\n' ' ' <"$WORK/check")"

# be -> new: a label set nobody had: x (whose selector covers it) is recompiled
docs new >"$WORK/docs.json"
out=$("$NF" apply "$WORK/docs.json" 2>&1)
grep -q recompiling <<<"$out" && pass "a new label set recompiles the tenants that may cover it" ||
	fail "no recompile for a new label set: $out"
probe=$(in_ns "$P-c2" timeout 3 "$PY" -c '
import socket
c = socket.create_connection(("10.78.0.1", 8080), timeout=2); c.sendall(b"y"); print(c.recv(10).decode())' 2>/dev/null)
expect_eq "other (role=new): a new connection to x is allowed" "$probe" y
"$NF" check --tenant x --direction ingress --peer 10.78.0.3 --port 8080 >"$WORK/check" 2>&1
grep -q '^allow: policy x/db, spec.ingress\[0\]' "$WORK/check" && pass "check: x/db allows other" ||
	fail "check: $(tr '\n' ' ' <"$WORK/check")"
