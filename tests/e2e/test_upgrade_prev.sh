#!/usr/bin/env bash
# End-to-end: upgrade in place from the previous datapath version, across a
# change of program names (SPEC §10.1). Datapath 5 ran two programs on a
# veth's host-side peer, tc_peer_ingress and tc_peer_egress; 6 runs one,
# tc_peer, at both hooks (direction from the kernel's tc_at_ingress). The
# upgrade finds a running program's successor by name, so it must map the
# old names to the new one, and the pins of the old programs must go.
#
# build/prev/netfence is the last build of version 5 (`make
# build/prev/netfence`, from git: NF_PREV_COMMIT in the Makefile); without
# it, skipped.
#
#   A (tenant $P-t) 10.252.1.2 --veth-- S 10.252.1.1
#   A's egress allowed to S tcp/8080, its ingress from S to tcp/9000.
#
# With the previous build: apply, attach, the four probes, and a TCP
# connection A -> S:8080 left open. Then this build's `upgrade`: both hooks
# of the peer run tc_peer, no pin of the old programs is left, status says
# the new version, the four probes again (an upgrade that put the
# direction the wrong way round would allow 8081 or 9001, or deny 8080 or
# 9000), and the open connection still echoes (its entry carried over, its
# replies allowed by conntrack through tc_peer).
set -u
. "$(dirname "$(realpath "$0")")/lib/self_private.sh"
SKIP=77	# tests/run.sh: skipped

PREV=build/prev/netfence
NF=build/netfence
PIN=/sys/fs/bpf/netfence
if [ ! -x "$PREV" ]; then
	echo "SKIP: $PREV not built (make build/prev/netfence: needs the git history)"
	exit $SKIP
fi
if [ "$("$PREV" --version 2>/dev/null | awk '{ print $2 }')" = "$("$NF" --version | awk '{ print $2 }')" ]; then
	echo "SKIP: $PREV is this build"
	exit $SKIP
fi

. tests/e2e/lib/net.sh
nf_init

P=$NF_PREFIX
A=$P-a S=$P-s
WORK=$(mktemp -d)
trap 'rc=$?; rm -rf "$WORK"; (exit $rc); nf_cleanup' EXIT

nf_netns "$A"
nf_netns "$S"
ip link add eth0 netns "$A" type veth peer name hv netns "$S"
in_ns "$A" ip addr add 10.252.1.2/24 dev eth0
in_ns "$A" ip link set eth0 up
in_ns "$S" ip addr add 10.252.1.1/24 dev hv
in_ns "$S" ip link set hv up

cat >"$WORK/policy.json" <<EOF
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "p", "namespace": "$P-t"},
 "spec": {"podSelector": {}, "policyTypes": ["Egress", "Ingress"],
  "egress": [{"to": [{"ipBlock": {"cidr": "10.252.1.1/32"}}],
              "ports": [{"protocol": "TCP", "port": 8080}]}],
  "ingress": [{"from": [{"ipBlock": {"cidr": "10.252.1.1/32"}}],
               "ports": [{"protocol": "TCP", "port": 9000}]}]}}
EOF

# peer_progs: the names of the programs on the peer's two hooks, sorted
peer_progs() {
	in_ns "$S" bpftool -j net show dev hv 2>/dev/null |
		jq -r '[.[].tc[]?.name | sub(":.*"; "")] | sort | join(" ")'
}

probes() { # LABEL
	expect_ok "$1: A -> S tcp/8080 (allowed egress)" tcp_probe "$A" 10.252.1.1 8080
	expect_fail "$1: A -> S tcp/8081 (denied egress)" tcp_probe "$A" 10.252.1.1 8081
	expect_ok "$1: S -> A tcp/9000 (allowed ingress)" tcp_probe "$S" 10.252.1.2 9000
	expect_fail "$1: S -> A tcp/9001 (denied ingress)" tcp_probe "$S" 10.252.1.2 9001
}

echo "previous build: $("$PREV" --version)"
"$PREV" apply "$WORK/policy.json" >/dev/null || fail "previous build: apply"
"$PREV" attach --tenant "$P-t" --iface eth0 --netns "/var/run/netns/$A" >/dev/null ||
	fail "previous build: attach"
# (the version of NF_PREV_COMMIT's build)
expect_eq "previous build: datapath version" \
	"$("$PREV" status --json | jq -r .datapath.version)" 5
expect_eq "previous build: the peer's programs" "$(peer_progs)" "tc_peer_egress tc_peer_ingress"
for port in 8080 8081; do tcp_server "$S" "$port" || fail "server on S:$port"; done
for port in 9000 9001; do tcp_server "$A" "$port" || fail "server on A:$port"; done
probes "before"

# a connection left open across the upgrade: one line before, one after
cat >"$WORK/hold.py" <<'PY'
import os, socket, sys, time
w = sys.argv[1]
s = socket.create_connection(("10.252.1.1", 8080), timeout=3)
for line in (b"before\n", b"after\n"):
    if line == b"after\n":
        while not os.path.exists(w + "/go"):
            time.sleep(0.05)
    s.sendall(line)
    got = s.recv(64)
    open(w + "/" + line.decode().strip(), "w").write(got.decode().strip())
PY
nf_bg "$A" python3 "$WORK/hold.py" "$WORK"
for _ in $(seq 50); do [ -e "$WORK/before" ] && break; sleep 0.1; done
expect_eq "open connection, before" "$(cat "$WORK/before" 2>/dev/null)" before

out=$("$NF" upgrade 2>&1) || fail "upgrade: $(printf '%s' "$out" | tail -n 3)"
printf '%s\n' "$out" | grep -E "upgrading|hooks now run" | sed 's/^/  /'
expect_eq "after: datapath version" "$("$NF" status --json | jq -r .datapath.version)" \
	"$(nf_abi_version)"
expect_eq "after: the peer's programs" "$(peer_progs)" "tc_peer tc_peer"
left=""
for pin in "$PIN"/tc_peer_ingress "$PIN"/tc_peer_egress; do
	[ -e "$pin" ] && left+="${pin##*/} "
done
expect_eq "after: pins of the old programs left" "${left:-none}" none
touch "$WORK/go"
for _ in $(seq 50); do [ -e "$WORK/after" ] && break; sleep 0.1; done
expect_eq "open connection, after" "$(cat "$WORK/after" 2>/dev/null)" after
probes "after"
nf_done
