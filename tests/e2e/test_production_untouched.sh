#!/usr/bin/env bash
# `make test` is safe on a node that runs netfence in production (issue 13).
#
# This test's own private mount namespace (tests/run.sh starts it under
# lib/private.sh) stands in for the node: the real node is never touched. In it
# the "production" netfence runs: tenant $T with a policy, an endpoint on the
# veth $P"p0" of netns $PA (egress to $SRV tcp/8080 allowed; tcp/9090, udp and
# ingress denied), counters that moved, and a TCP connection that stays open
# across the suite. Then a few real e2e tests run exactly
# as `make test` runs them (tests/run.sh e2e: each in a nested private mount
# namespace), and the e2e libraries are sourced where they must refuse to run.
# Afterwards production must be byte-for-byte what it was: the same pins
# (names, map and program ids), the same map contents, the same files under
# /run/netfence (endpoint records, policy store) and /var/lib/cni, the same
# programs on the production interface, status and stats unchanged (the suite
# moved no counter of ours; the only change allowed is the sweep count of
# production's own conntrack timer), the open connection still carrying data,
# and the policy still enforced by real probes, counting denied packets exactly.
#
#   netns $PA (pod, tenant $T) 10.213.0.2 --veth-- netns $PS (server) 10.213.0.1
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib/net.sh
nf_init

# tc endpoints, policies, reset (datapath); CNI ADD/DEL, IPAM, GC markers (cni_bridge)
SUITE=${NF_PROD_SUITE:-test_datapath test_cni_bridge}
P=$NF_PREFIX
T=$P-prod
PA=$P-pa PS=$P-ps
POD=10.213.0.2 SRV=10.213.0.1
IF=${P}p0
WORK=$(mktemp -d /tmp/nfprod.XXXXXX)
_prod_cleanup() {
	local rc=$?
	rm -rf "$WORK"
	(exit "$rc")
	nf_cleanup
}
trap _prod_cleanup EXIT

# ------------------------------------------------------------ production
echo "production: tenant $T, endpoint $IF in $PA, a policy, live traffic"
nf_netns "$PA"
nf_netns "$PS"
ip link add "$IF" netns "$PA" type veth peer name "${P}ps" netns "$PS"
in_ns "$PA" ip addr add "$POD/24" dev "$IF"
in_ns "$PS" ip addr add "$SRV/24" dev "${P}ps"
in_ns "$PA" ip link set "$IF" up
in_ns "$PS" ip link set "${P}ps" up
tcp_server "$PS" 8080 || fail "server tcp/8080"
tcp_server "$PS" 9090 || fail "server tcp/9090"
udp_server "$PS" 5353 "$SRV" || fail "server udp/5353"
tcp_server "$PA" 7000 || fail "server tcp/7000 in the pod"
"$NF" attach --tenant "$T" --iface "$IF" --netns /var/run/netns/"$PA" >/dev/null || fail "attach $IF"
cat >"$WORK/policy.json" <<EOF
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "prod-8080", "namespace": "$T"},
 "spec": {"podSelector": {}, "policyTypes": ["Egress"],
  "egress": [{"to": [{"ipBlock": {"cidr": "$SRV/32"}}], "ports": [{"protocol": "TCP", "port": 8080}]}]}}
EOF
"$NF" apply "$WORK/policy.json" >/dev/null || fail "apply the production policy"

# probes: the production policy, enforced
probes() { # WHEN
	expect_ok "$1: pod -> server tcp/8080 (allowed)" tcp_probe "$PA" "$SRV" 8080
	expect_fail "$1: pod -> server tcp/9090 (denied)" tcp_probe "$PA" "$SRV" 9090
	expect_fail "$1: pod -> server udp/5353 (denied)" udp_probe "$PA" "$SRV" 5353
	expect_fail "$1: server -> pod tcp/7000 (ingress denied)" tcp_probe "$PS" "$POD" 7000
}
probes "before the suite"

# a connection of production's that stays open across the suite: one echo
# now, one when $WORK/go appears; the result goes to $WORK/conn
nf_bg "$PA" python3 -c '
import os, socket, sys, time
srv, work = sys.argv[1], sys.argv[2]
def echo(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(64)
        if not d: break
        got += d
    return got == msg
res = "fail"
try:
    s = socket.create_connection((srv, 8080), timeout=5)
    s.settimeout(5)
    if echo(s, b"before\n"):
        open(work + "/conn.ready", "w").close()
        while not os.path.exists(work + "/go"):
            time.sleep(0.1)
        res = "ok" if echo(s, b"after\n") else "fail"
except OSError as e:
    res = "error " + str(e)
open(work + "/conn", "w").write(res)
' "$SRV" "$WORK"
# until it has echoed once and production tracks only that connection (the
# probes' closed one expires in 10 s): then nothing of production's expires
# during the suite. Waits for a state, asserts nothing on time.
tracked() { "$NF" status --json | jq --arg t "$T" '.tenants[] | select(.name == $t) | .tracked_connections'; }
for _ in $(seq 600); do
	[ -e "$WORK/conn.ready" ] && [ "$(tracked)" = 1 ] && break
	sleep 0.1
done
[ -e "$WORK/conn.ready" ] && ok "a connection open to tcp/8080" || fail "no open connection to tcp/8080"
[ "$(tracked)" = 1 ] && ok "production tracks 1 connection" || fail "production tracks $(tracked) connections, want 1"
# and until production's sweep has moved that connection out of its young
# slot into nf_ct (about a second after its SYN): a move is production's own
# doing, which the suite must not be blamed for
young_held() {
	bpftool -j map dump pinned /sys/fs/bpf/netfence/nf_ct_young 2>/dev/null |
		jq '[.[] | select(.formatted.value.state != 0)] | length'
}
for _ in $(seq 60); do
	[ "$(young_held)" = 0 ] && break
	sleep 0.5
done
[ "$(young_held)" = 0 ] && ok "no young connection in production (moved into nf_ct)" ||
	fail "production still holds $(young_held) young connections"

# snapshot DIR: everything of production's netfence state that can be read
snapshot() {
	local d=$1 p kind
	mkdir -p "$d"
	# pins: name, kind and id; map contents
	while read -r p; do
		if [ -d "$p" ]; then
			echo "$p dir"
		elif bpftool -j map show pinned "$p" >"$d/tmp" 2>/dev/null; then
			echo "$p map $(jq -c '{id, type, name, max_entries}' "$d/tmp")"
			bpftool -j map dump pinned "$p" >"$d/map.$(jq .id "$d/tmp")" 2>&1
		elif bpftool -j prog show pinned "$p" >"$d/tmp" 2>/dev/null; then
			echo "$p prog $(jq -c '{id, type, name, tag}' "$d/tmp")"
		elif bpftool -j link show pinned "$p" >"$d/tmp" 2>/dev/null; then
			echo "$p link $(jq -c '{id, type, prog_id}' "$d/tmp")"
		else
			echo "$p unknown"
		fi
	done < <(find /sys/fs/bpf -mindepth 1 | sort) >"$d/pins"
	rm -f "$d/tmp"
	# files: endpoint records, policy store, IPAM
	find /run/netfence /var/lib/cni -mindepth 1 -printf '%p %y %s %m\n' | sort >"$d/files"
	find /run/netfence /var/lib/cni -type f -print0 | sort -z | xargs -0r sha256sum >"$d/sums"
	# programs on the production endpoint: netfence enforces a veth on its
	# peer (SPEC §3.11), here ${P}ps in $PS; and nothing on $IF itself
	for dev in "$PA:$IF" "$PS:${P}ps"; do
		for kind in ingress egress; do
			echo "${dev#*:} $kind"
			in_ns "${dev%%:*}" tc filter show dev "${dev#*:}" "$kind"
		done
		in_ns "${dev%%:*}" python3 tests/e2e/lib/tchooks.py ids "${dev#*:}" | sed "s/^/tcx ${dev#*:} /"
	done >"$d/tc" 2>&1
	"$NF" status --json >"$d/status" 2>&1
	"$NF" stats --json >"$d/stats" 2>&1
}
snapshot "$WORK/before"
npins=$(grep -c ' \(map\|prog\|link\) ' "$WORK/before/pins")
# cls_bpf filters by their "id N", tcx programs one "tcx DEV ingress|egress ID" line each
nprogs=$(($(grep -c ' id [0-9]' "$WORK/before/tc") + $(grep -c '^tcx ' "$WORK/before/tc")))
[ "$npins" -gt 0 ] && ok "production pins: $npins" || fail "no production pins under /sys/fs/bpf"
[ "$nprogs" -eq 2 ] && ok "programs on $IF's endpoint: $nprogs" || fail "$nprogs programs on $IF's endpoint, want 2"
grep -q "$T" "$WORK/before/status" && ok "status shows tenant $T" || fail "status does not show $T"
[ "$(nf_stat "$T" egress policy_denied tc)" -gt 0 ] && ok "denied probes counted" ||
	fail "the denied probes did not count"

# ------------------------------------------------------------ the libraries' guard
echo "the e2e libraries refuse to run outside a private namespace of private.sh"
guard() { # DESC CMD...: CMD must exit 1 with a FATAL line and not reach "reached"
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q '^FATAL: .*private mount namespace' <<<"$out" && ! grep -q reached <<<"$out"; then
		ok "$desc"
	else
		fail "$desc: exit $rc: $out"
	fi
}
for lib in net check cni; do
	# a new mount namespace that did not mount its own: it still sees production's pins
	guard "lib/$lib.sh in another mount namespace" unshare --mount --propagation private \
		bash -c ". tests/e2e/lib/$lib.sh; nf_reset $NF; echo reached"
	guard "lib/$lib.sh without private.sh's marker" env -u NF_TEST_PRIVATE_NS \
		bash -c ". tests/e2e/lib/$lib.sh; nf_reset $NF; echo reached"
done
guard "nf_reset in another mount namespace" unshare --mount --propagation private \
	bash -c ". tests/e2e/lib/common.sh; nf_reset $NF || exit 1; echo reached"
guard "a test run by hand (not through tests/run.sh)" env -u NF_TEST_PRIVATE_NS bash tests/e2e/test_datapath.sh
# every test starts with a guarded library; only lib/common.sh runs `reset` for the libraries
for t in tests/e2e/test_*.sh; do
	grep -qE '^\. tests/e2e/lib/(net|check|cni|common)\.sh' "$t" || fail "$t sources no guarded library"
done
ok "every e2e test sources a guarded library"
grep -nE '^[^#]*\$\{?(NF|NETFENCE)\}?"? +reset' tests/e2e/lib/*.sh &&
	fail "a library runs netfence reset without nf_reset" || ok "the libraries reset only through nf_reset"

# ------------------------------------------------------------ the suite
echo "the suite, as make test runs it: tests/run.sh e2e $SUITE"
# shellcheck disable=SC2086
tests/run.sh e2e $SUITE >"$WORK/suite.log" 2>&1
rc=$?
sed 's/^/    | /' "$WORK/suite.log"
[ "$rc" -eq 0 ] && ok "the suite passed: $(tail -n1 "$WORK/suite.log")" || fail "the suite failed (exit $rc)"
n=$(grep -c '^--- \(PASS\|SKIP\) ' "$WORK/suite.log")
[ "$n" -eq "$(wc -w <<<"$SUITE")" ] && ok "all $n tests ran" || fail "$n of $(wc -w <<<"$SUITE") tests ran"

# ------------------------------------------------------------ production untouched
echo "production after the suite"
snapshot "$WORK/after"
for f in pins files sums tc status stats; do
	if cmp -s "$WORK/before/$f" "$WORK/after/$f"; then
		ok "unchanged: $f"
	else
		fail "changed: $f"
		diff "$WORK/before/$f" "$WORK/after/$f" | head -20 | sed 's/^/    /'
	fi
done
nmaps=0
gc_id=$(sed -n 's#^/sys/fs/bpf/netfence/nf_gc map {"id":\([0-9]*\),.*#\1#p' "$WORK/before/pins")
if [ -n "$gc_id" ]; then
	# nf_gc holds the conntrack timer: its sweep count moves every second on
	# its own; what it swept must not (nothing of production's expired)
	for s in before after; do
		jq '.[].formatted.value.sweeps' "$WORK/$s/map.$gc_id" >"$WORK/$s/sweeps"
		jq 'del(.[].value, .[].formatted.value.sweeps)' "$WORK/$s/map.$gc_id" >"$WORK/$s/gc"
		mv "$WORK/$s/gc" "$WORK/$s/map.$gc_id"
	done
	[ "$(cat "$WORK/after/sweeps")" -gt "$(cat "$WORK/before/sweeps")" ] &&
		ok "production's conntrack timer kept sweeping ($(cat "$WORK/before/sweeps") -> $(cat "$WORK/after/sweeps"))" ||
		fail "production's conntrack timer stopped: sweeps $(cat "$WORK/before/sweeps") -> $(cat "$WORK/after/sweeps")"
else
	fail "no nf_gc map pinned"
fi
for m in "$WORK"/before/map.*; do
	[ -e "$m" ] || continue
	nmaps=$((nmaps + 1))
	if ! cmp -s "$m" "$WORK/after/${m##*/}"; then
		fail "map contents changed: $(grep "\"id\":${m##*.}," "$WORK/before/pins")"
		diff <(jq -c '.[]' "$m") <(jq -c '.[]' "$WORK/after/${m##*/}") | head -10 | sed 's/^/    /'
	fi
done
[ "$nmaps" -gt 0 ] && ok "contents of $nmaps maps compared" || fail "no production map dumped"

touch "$WORK/go"
for _ in $(seq 100); do [ -e "$WORK/conn" ] && break; sleep 0.1; done
[ "$(cat "$WORK/conn" 2>/dev/null)" = ok ] && ok "the connection opened before the suite still echoes" ||
	fail "the connection opened before the suite: $(cat "$WORK/conn" 2>/dev/null || echo "no answer")"
probes "after the suite"
# the counters still count, exactly
before=$(nf_stat "$T" egress policy_denied tc)
in_ns "$PA" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
    try: s.sendto(b"x", (sys.argv[1], 5353))
    except OSError: pass' "$SRV"
after=$(nf_stat "$T" egress policy_denied tc)
[ $((after - before)) -eq 5 ] && ok "5 denied datagrams, egress policy_denied +5" ||
	fail "egress policy_denied moved by $((after - before)), expected 5"
nf_done
