#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# An apply that touches several tenants is all or nothing, also when it is
# killed (SPEC §10.3):
#  1. a failed install of one tenant (the test-only NETFENCE_TEST_FAIL_INSTALL)
#     leaves every tenant of the apply on its old policy, exit 1;
#  2. an apply killed right after the 3rd tenant's swap (the test-only
#     NETFENCE_TEST_STOP_AFTER stops it there): the next command installs the
#     rest (all new); and when that install fails too, it rolls all back;
#  3. `apply` of a large multi-tenant set killed with SIGKILL at random
#     instants of its run: the next command succeeds, and every tenant
#     enforces the old set or every tenant the new one, as `check` says and
#     real probes show.
#
# Tenants $P-0..$P-3 have an endpoint (a netns behind router $P-r); tenants
# $P-f0.. have only (large) policies. Old set: ingress tcp/7000 allowed from
# the router, tcp/7001 denied; new set: the reverse.
#   e<i> 10.246.<i>.2 --veth-- r 10.246.<i>.1
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init

P=$NF_PREFIX
R=$P-r
N_EP=4
N_FILL=${N_FILL:-8}
ITER=${ITER:-30}
WORK=$(mktemp -d /tmp/nf-crash.XXXXXX)
trap 'rc=$?; rm -rf "$WORK"; (exit $rc); nf_cleanup' EXIT

TENANTS=()
for i in $(seq 0 $((N_EP - 1))); do TENANTS+=("$P-$i"); done
for i in $(seq 0 $((N_FILL - 1))); do TENANTS+=("$P-f$i"); done

nf_netns "$R"
for i in $(seq 0 $((N_EP - 1))); do
	ns=$P-e$i
	nf_netns "$ns"
	ip link add "$P"e$i netns "$ns" type veth peer name "$P"r$i netns "$R"
	in_ns "$ns" ip addr add 10.246.$i.2/24 dev "$P"e$i
	in_ns "$R" ip addr add 10.246.$i.1/24 dev "$P"r$i
	in_ns "$ns" ip link set "$P"e$i up
	in_ns "$R" ip link set "$P"r$i up
	in_ns "$ns" ip route add default via 10.246.$i.1
	tcp_server "$ns" 7000
	tcp_server "$ns" 7001
done

# policies SET FILE: every tenant's policy "p" of SET (old|new). Each holds
# 3,000 ipBlock peers besides the rule the probes see, so that compiling and
# installing the set takes long enough to be killed in the middle.
policies() {
	python3 - "$1" "${TENANTS[@]}" >"$2" <<'PY'
import json, sys
which, tenants = sys.argv[1], sys.argv[2:]
port = 7000 if which == "old" else 7001
filler = [{"ipBlock": {"cidr": "172.%d.%d.%d/32" % (16 + k // 65536, (k // 256) % 256, k % 256)}}
          for k in range(3000)]
items = []
for t in tenants:
    items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": t},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{}],
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.246.0.0/16"}}],
                         "ports": [{"port": port}]},
                        {"from": filler, "ports": [{"port": port + 100}]}]}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
}
policies old "$WORK/old.json"
policies new "$WORK/new.json"

"$NF" apply "$WORK/old.json" >/dev/null || fail "apply the old set"
for i in $(seq 0 $((N_EP - 1))); do
	"$NF" attach --tenant "$P-$i" --iface "$P"e$i --netns /var/run/netns/"$P"-e$i ||
		fail "attach $P-$i"
done

# check_state: one word per tenant, old|new, from `netfence check` (ingress
# from the router: tcp/7000 allowed = old, denied = new; for the tenants with
# an endpoint the probes look at both ports).
check_state() {
	local t a
	for t in "${TENANTS[@]}"; do
		a=$("$NF" check --tenant "$t" --direction ingress --peer 10.246.0.1 --port 7000 2>&1 | tail -1)
		case $a in allow*) echo -n "old " ;; deny*) echo -n "new " ;; *) echo -n "error " ;; esac
	done
	echo
}
# probe_state: one word per endpoint tenant, from real connections from the
# router to its endpoint on both ports (all at once, 1 s timeout each).
probe_state() {
	in_ns "$R" python3 - $N_EP <<'PY'
import socket, sys, threading
n = int(sys.argv[1]); res = {}
def probe(i, port):
    try:
        s = socket.create_connection(("10.246.%d.2" % i, port), timeout=1.0)
        s.sendall(b"ping\n"); s.settimeout(1.0)
        res[i, port] = s.recv(16).startswith(b"ping")
    except OSError:
        res[i, port] = False
ts = [threading.Thread(target=probe, args=(i, p)) for i in range(n) for p in (7000, 7001)]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join({(True, False): "old", (False, True): "new"}.get((res[i, 7000], res[i, 7001]), "other")
               for i in range(n)))
PY
}
# expect_uniform WHAT: every tenant on one set, and the probes agree with check.
# Prints the set.
STATE=
expect_uniform() {
	local c p first
	c=$(check_state)
	p=$(probe_state)
	first=${c%% *}
	if [[ $first != old && $first != new ]] || [[ $(tr ' ' '\n' <<<"$c" | sort -u | grep -c .) != 1 ]]; then
		fail "$1: tenants not all on one set: $c"
	elif [[ "$p" != "$(cut -d' ' -f1-$N_EP <<<"$c")" ]]; then
		fail "$1: probes ($p) disagree with check ($(cut -d' ' -f1-$N_EP <<<"$c"))"
	fi
	STATE=$first
}

echo "all or nothing: the install of the 3rd tenant fails"
expect_uniform "after the old set"
[ "$STATE" = old ] || fail "the old set is in force (got $STATE)"
out=$(NETFENCE_TEST_FAIL_INSTALL="$P-2" "$NF" apply "$WORK/new.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && ok "apply exits 1" || fail "apply exit code $rc, want 1: $out"
grep -q "rolling back" <<<"$out" && ok "it says it rolls back" || fail "no roll-back message: $out"
expect_uniform "after the failed apply"
[ "$STATE" = old ] && ok "every tenant still on the old set" || fail "state $STATE, want old"
[ ! -e /run/netfence/objects/.journal ] && ok "no journal left" || fail "a journal is left"
t0=$(date +%s%N)
"$NF" apply "$WORK/new.json" >/dev/null && ok "the same apply without the fault" || fail "apply new"
DUR_MS=$((($(date +%s%N) - t0) / 1000000))
expect_uniform "after the new set"
[ "$STATE" = new ] && ok "every tenant on the new set" || fail "state $STATE, want new"

# stopped_apply SET: an apply of SET stopped right after the 3rd tenant's
# swap, then killed; the journal is left.
stopped_apply() {
	local pid st i
	NETFENCE_TEST_STOP_AFTER="$P-2" "$NF" apply "$WORK/$1.json" >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 600); do	# until it stops (or ends): no timing involved
		st=$(awk '{ print $3 }' /proc/$pid/stat 2>/dev/null)
		[ "$st" = T ] || [ -z "$st" ] || [ "$st" = Z ] && break
		sleep 0.1
	done
	[ "$st" = T ] || fail "the apply did not stop after $P-2 (state '$st')"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	[ -e /run/netfence/objects/.journal ] && ok "killed after $P-2's swap: journal left" ||
		fail "killed after $P-2's swap: no journal"
}
echo "killed after the 3rd tenant's swap: the next command finishes the apply"
stopped_apply old
"$NF" status >/dev/null 2>&1 && ok "status" || fail "status after the kill"
expect_uniform "after status finished the interrupted apply"
[ "$STATE" = old ] && ok "every tenant on the set applied" || fail "state $STATE, want old"
[ ! -e /run/netfence/objects/.journal ] && ok "journal gone" || fail "journal left"
echo "... and when finishing it fails, the next command rolls every tenant back"
stopped_apply new
out=$(NETFENCE_TEST_FAIL_INSTALL="$P-f1" "$NF" status 2>&1 >/dev/null)
grep -q "rolling back" <<<"$out" && ok "status rolls back" || fail "no roll back: $out"
expect_uniform "after the roll back"
[ "$STATE" = old ] && ok "every tenant back on the previous set" || fail "state $STATE, want old"
[ ! -e /run/netfence/objects/.journal ] && ok "journal gone" || fail "journal left"

# kill at a random instant of the apply's run (the one above took DUR_MS),
# a little past its end too
echo "kill -9 at random instants of apply ($ITER times, ${#TENANTS[@]} tenants, ~$DUR_MS ms each)"
killed=0 journals=0 olds=0 news=0
for k in $(seq "$ITER"); do
	[ "$STATE" = old ] && want=new || want=old
	"$NF" apply "$WORK/$want.json" >/dev/null 2>&1 &
	pid=$!
	# odd iterations anywhere in the run, even ones in its second half
	# (install and commit come last: parsing and compiling take most of it)
	lo=$((k % 2 ? 0 : DUR_MS / 2))
	ms=$((lo + (RANDOM * 32768 + RANDOM) % (DUR_MS * 5 / 4 - lo + 1)))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $? -eq 137 ] && killed=$((killed + 1))
	j=""
	if [ -e /run/netfence/objects/.journal ]; then
		j=" (journal left)"
		journals=$((journals + 1))
	fi
	if ! "$NF" status >/dev/null 2>&1; then
		fail "iteration $k: status after kill -9 fails"
	fi
	expect_uniform "iteration $k$j"
	[ -e /run/netfence/objects/.journal ] && fail "iteration $k: status did not finish the journal"
	[ "$STATE" = "$want" ] && news=$((news + 1)) || olds=$((olds + 1))
	echo "  iteration $k: killed at $ms ms: $STATE$j"
done
ok "$killed of $ITER applies killed, $journals left a journal; afterwards $news on the applied set, $olds on the previous one"
# the next state-changing command works and changes every tenant
[ "$STATE" = old ] && want=new || want=old
"$NF" apply "$WORK/$want.json" >/dev/null && ok "apply after the kills" || fail "apply after the kills"
expect_uniform "after the last apply"
[ "$STATE" = "$want" ] && ok "every tenant on the $want set" || fail "state $STATE, want $want"
nf_done
