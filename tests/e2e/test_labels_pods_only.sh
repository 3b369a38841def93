#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# SPEC §11, §9 (label churn): an apply of Pod documents alone reads only the
# changed pods' stored documents, not their tenants' others ("changed pods
# only"); it must leave exactly the state the full apply leaves.
#  1. Differential: one random sequence of Pod-only applies (relabels, named
#     ports, new pods, added addresses; and changes that can't be made from
#     the changed pods alone, which must fall back to the full apply: a pod
#     that drops an address, a new pod on another pod's address), run twice
#     from the same start: with the changed-pods-only path, and with it off
#     (NETFENCE_TEST_NO_PODS_ONLY). After every step both runs must agree on
#     the identities (label sets and pod counts), the endpoints' identities
#     and rule sets, and `netfence check` verdicts (with the peer's label
#     set) for five pods' contexts against the step's pods' addresses, and
#     at three checkpoints against every pod address.
#  2. Crash: the last apply of the sequence is killed -9 after its first
#     tenant's swap; the next command finishes it (the journal says it is
#     partial: nothing else of the tenants may be pruned) and the state is
#     the full run's.
#  3. Traffic: a server's own label changes by a Pod-only apply open and
#     close its port (its endpoint linked by pod name, and one by address):
#     its own rules select it by label, and so do the client's egress rules
#     (the server's address must carry its new identity).
# NF_SEED=N replays a sequence.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/check.sh

NF=${NETFENCE:-build/netfence}
P=nflp-$$
FAILS=0
PIDS=()
WORK=$(mktemp -d /tmp/nflp.XXXXXX)
SEED=${NF_SEED:-$((RANDOM * 32768 + RANDOM))}
NSS=(hub a0 b1 srv srv2 cli)

cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for n in "${NSS[@]}"; do ip netns del "$P-$n" 2>/dev/null; done
	nf_reset "$NF" || rc=1
	rm -rf "$WORK"
	[ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ] && rc=1
	echo "$FAILS failure(s)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
nf_reset "$NF" || exit 1
command -v python3 >/dev/null || skip "python3 is not installed"
log "seed $SEED (NF_SEED=$SEED replays it)"

# Namespaces: the endpoints of a/p0 (attached by pod name) and b/p1 (by
# address), and for part 3 a server pair and a client, on a bridge.
ip netns add "$P-hub" || die "netns"
in_ns "$P-hub" ip link add br0 type bridge
in_ns "$P-hub" ip link set br0 up
i=1
for n in a0 b1 srv srv2 cli; do
	ip netns add "$P-$n" || die "netns $n"
	in_ns "$P-$n" ip link set lo up
	in_ns "$P-hub" ip link add "h$n" type veth peer name eth0 netns "/var/run/netns/$P-$n"
	in_ns "$P-hub" ip link set "h$n" master br0
	in_ns "$P-hub" ip link set "h$n" up
	in_ns "$P-$n" ip link set eth0 up
	i=$((i + 1))
done
in_ns "$P-a0" ip addr add 10.79.1.1/16 dev eth0
in_ns "$P-b1" ip addr add 10.79.2.2/16 dev eth0
in_ns "$P-srv" ip addr add 10.79.9.1/16 dev eth0
in_ns "$P-srv2" ip addr add 10.79.9.2/16 dev eth0
in_ns "$P-cli" ip addr add 10.79.9.3/16 dev eth0

# ---- the scenario and the sequence (python: JSON and a seeded RNG) ----
python3 - "$WORK" "$SEED" <<'PY' || die "generator"
import json, random, sys
work, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
T = {"a": 1, "b": 2, "c": 3}
pods = {}          # (tenant, name) -> dict(labels, ports, ips)
endpoint_pods = {("a", "p0"), ("b", "p1")}
next_ip = {t: 100 for t in T}

def ip(t, n): return "10.79.%d.%d" % (T[t], n)
def ip6(t, n): return "fd00:79:%d::%x" % (T[t], n)
def rand_labels():
    l = {"role": "r%d" % rnd.randrange(4)}
    if rnd.random() < 0.8: l["app"] = rnd.choice(["x", "y"])
    return l
def rand_ports():
    r = rnd.random()
    if r < 0.5: return [{"name": "http", "containerPort": 8080}]
    if r < 0.7: return [{"name": "http", "containerPort": 8081}]
    return []
def pod_doc(t, n):
    p = pods[(t, n)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": n, "namespace": t, "labels": p["labels"]},
            "spec": {"containers": [{"name": "c", "ports": p["ports"]}]},
            "status": {"podIPs": [{"ip": a} for a in p["ips"]]}}
def lst(items): return {"apiVersion": "v1", "kind": "List", "items": items}
def pol(t, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": t}, "spec": spec}

base = []
for t, team in (("a", "red"), ("b", "blue"), ("c", "red")):
    base.append({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": t, "labels": {"team": team}}})
    for k in range(12):
        pods[(t, "p%d" % k)] = {"labels": rand_labels(), "ports": rand_ports(),
                                "ips": [ip(t, k + 1)]}
# p0/p1 of a and b: the probed contexts keep a named port
for k in ("p0", "p1"):
    for t in ("a", "b"):
        pods[(t, k)]["ports"] = [{"name": "http", "containerPort": 8080}]
base += [
    pol("a", "in", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "red"}},
                   "podSelector": {"matchLabels": {"role": "r1"}}}],
         "ports": [{"protocol": "TCP", "port": 80}]},
        {"from": [{"podSelector": {"matchLabels": {"app": "x"}}}],
         "ports": [{"port": "http"}]}]}),
    pol("a", "r2", {"podSelector": {"matchLabels": {"role": "r2"}}, "ingress": [
        {"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 80}]}]}),
    pol("b", "in", {"podSelector": {"matchLabels": {"role": "r0"}}, "ingress": [
        {"from": [{"namespaceSelector": {},
                   "podSelector": {"matchExpressions": [
                       {"key": "role", "operator": "In", "values": ["r1", "r2"]}]}}],
         "ports": [{"protocol": "TCP", "port": 81}, {"port": "http"}]}]}),
    pol("b", "all", {"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Exists"}]}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "y"}}}],
         "ports": [{"protocol": "TCP", "port": 81}]}]}),
    pol("c", "in", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "red"}},
                   "podSelector": {"matchExpressions": [
                       {"key": "role", "operator": "NotIn", "values": ["r3"]}]}}],
         "ports": [{"protocol": "TCP", "port": 82}]}]}),
]
base += [pod_doc(t, n) for (t, n) in sorted(pods)]
json.dump(lst(base), open(work + "/base.json", "w"))

steps = []
used_ips = {a for p in pods.values() for a in p["ips"]}
def key(t, n): return json.dumps([pods[(t, n)]["labels"], pods[(t, n)]["ports"]], sort_keys=True)
for s in range(24):
    items, expect, touched = [], "fast", set()
    if s == 22:
        # In one apply: c gets a label set nobody had (role r1, selected by
        # a's policy `in` through team=red), and a pod of a moves between
        # label sets that both keep pods: a's own identities stay, yet a is
        # compiled again, since its rules select c's new identity.
        ka = {}
        for (u, n) in pods:
            if u == "a" and (u, n) not in endpoint_pods:
                ka.setdefault(key(u, n), []).append(n)
        src = [n for ns in ka.values() if len(ns) >= 2 for n in ns]
        if src and len(ka) >= 2:
            n = src[0]
            dst = next(ns[0] for k, ns in ka.items() if k != key("a", n))
            pods[("a", n)]["labels"] = dict(pods[("a", dst)]["labels"])
            pods[("a", n)]["ports"] = list(pods[("a", dst)]["ports"])
            items.append(pod_doc("a", n))
        pods[("c", "p11")]["labels"] = {"role": "r1", "app": "z%d" % s}
        items.append(pod_doc("c", "p11"))
        json.dump(lst(items), open("%s/step%02d.json" % (work, s), "w"))
        open("%s/step%02d.ips" % (work, s), "w").write(pods[("c", "p11")]["ips"][0] + "\n")
        steps.append("fast")
        continue
    if s == 23:
        # The last step's apply is killed after the swap of its first item's
        # tenant: that item gives c a label set nobody had (its own policy
        # selects it), so c is compiled again whatever the seed. A random
        # relabel alone may leave its tenant's rules as they were (no swap,
        # no stop: seed 1064841484).
        pods[("c", "p11")]["labels"] = {"role": "r1", "app": "z%d" % s}
        touched.add(("c", "p11"))
        items.append(pod_doc("c", "p11"))
    for _ in range(rnd.randint(1, 3)):
        t = rnd.choice(list(T))
        kind = rnd.random()
        names = [n for (u, n) in pods if u == t and (u, n) not in touched]
        plain = [n for n in names if (t, n) not in endpoint_pods]
        if kind < 0.6 or not plain:
            n = rnd.choice(names)
            pods[(t, n)]["labels"] = rand_labels()
            if (t, n) not in endpoint_pods and rnd.random() < 0.3:
                pods[(t, n)]["ports"] = rand_ports()
        elif kind < 0.75:       # a new pod on a new address
            n = "q%d" % next_ip[t]
            pods[(t, n)] = {"labels": rand_labels(), "ports": rand_ports(),
                            "ips": [ip(t, next_ip[t])]}
            next_ip[t] += 1
        elif kind < 0.83 and [n for n in plain if len(pods[(t, n)]["ips"]) == 1]:
            # an IPv6 address added
            n = rnd.choice([n for n in plain if len(pods[(t, n)]["ips"]) == 1])
            pods[(t, n)]["ips"].append(ip6(t, next_ip[t]))
            next_ip[t] += 1
        elif kind < 0.92:       # an address dropped: in full
            n = rnd.choice(plain)
            pods[(t, n)]["ips"] = [ip(t, next_ip[t])]
            next_ip[t] += 1
            expect = "full"
        else:                   # a new pod on another pod's address: in full
            other = rnd.choice(plain)
            n = "d%d" % next_ip[t]
            next_ip[t] += 1
            pods[(t, n)] = {"labels": rand_labels(), "ports": [],
                            "ips": [pods[(t, other)]["ips"][0]]}
            expect = "full"
        touched.add((t, n))
        items.append(pod_doc(t, n))
    used_ips |= {a for p in pods.values() for a in p["ips"]}
    json.dump(lst(items), open("%s/step%02d.json" % (work, s), "w"))
    open("%s/step%02d.ips" % (work, s), "w").write(
        "\n".join(sorted({a for it in items for a in (x["ip"] for x in it["status"]["podIPs"])})) + "\n")
    steps.append(expect)
open(work + "/expect", "w").write("\n".join(steps) + "\n")
open(work + "/npods", "w").write("%d\n" % len(pods))
open(work + "/peers", "w").write("\n".join(sorted(used_ips)) + "\n")
PY
N_STEPS=$(wc -l <"$WORK/expect")
mapfile -t EXPECT <"$WORK/expect"
mapfile -t PEERS <"$WORK/peers"

attach_eps() {
	"$NF" attach --tenant a --iface eth0 --netns "/var/run/netns/$P-a0" --ip 10.79.1.1 \
		--pod p0 >/dev/null || fail "attach a/p0"
	"$NF" attach --tenant b --iface eth0 --netns "/var/run/netns/$P-b1" --ip 10.79.2.2 \
		>/dev/null || fail "attach b's endpoint (linked to b/p1 by address)"
}

# snapshot FILE [PEER...]: what both runs must agree on (no identity index:
# a change bringing several new label sets may number them in another
# order); the verdicts for PEERS, or every address the sequence uses.
snapshot() {
	local out=$1 ids pod port peer v idn
	shift
	[ $# -eq 0 ] && set -- "${PEERS[@]}"
	"$NF" status --json >"$WORK/st.json" || fail "status"
	ids=$(jq -c '[.identities[] | {key: "\(.tenant)/\(.index)", value: "\(.labels|tojson) \(.ports|tojson)"}] | from_entries' "$WORK/st.json")
	{
		jq -r '.identities[] | "identity \(.tenant) \(.labels|tojson) \(.ports|tojson) pods=\(.pods)"' \
			"$WORK/st.json" | sort
		jq -r --argjson ids "$ids" '.endpoints[] | "endpoint \(.tenant) \(.pod) \(.rules) " +
			(if .identity > 4095 then ($ids["\(.tenant)/\(.identity / 4096 | floor)"] // "?") else "none" end)' \
			"$WORK/st.json" | sort
		for pod in a/p0:80 a/p0:8080 a/p1:80 b/p0:81 b/p0:8080 b/p1:81 c/p0:82; do
			port=${pod#*:}
			pod=${pod%:*}
			for peer in "$@"; do
				"$NF" check --pod "$pod" --direction ingress --peer "$peer" --port "$port" \
					>"$WORK/chk" 2>&1
				# the whole verdict line: it names the deciding rule
				v=$(grep -a -m1 '^\(allow\|deny\):' "$WORK/chk")
				idn=$(sed -n 's/.*belongs to tenant \([a-z]*\), identity \([0-9]*\).*/\1\/\2/p' "$WORK/chk")
				echo "check $pod $port $peer ${v:-error: $(head -c 200 "$WORK/chk" | tr '\n' ' ')} ${idn:+$(jq -r --arg k "$idn" '.[$k] // "?"' <<<"$ids")}"
			done
		done
	} >"$out"
}

# run NAME [ENV...]: reset, the base, the endpoints, then every step; a
# snapshot after steps 8, 16 and the last. Run "fast": each step's apply
# says whether it read only the changed pods, as EXPECT says; its last
# step is killed after tenant $CRASH_T's swap and finished by `status`.
run() {
	local name=$1 s out fastn=0 fulln=0 pid ips
	shift
	nf_reset "$NF" || die "reset"
	"$NF" apply "$WORK/base.json" >/dev/null || die "$name: apply base"
	attach_eps
	for ((s = 0; s < N_STEPS; s++)); do
		if [ "$name" = fast ] && ((s == N_STEPS - 1)); then
			CRASH_T=$(jq -r '.items[0].metadata.namespace' "$WORK/step$(printf %02d "$s").json")
			env "$@" NETFENCE_TEST_STOP_AFTER="$CRASH_T" "$NF" apply \
				"$WORK/step$(printf %02d "$s").json" >/dev/null 2>&1 &
			pid=$!
			PIDS+=("$pid")
			for _ in $(seq 100); do
				[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = T ] && break
				sleep 0.1
			done
			if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = T ]; then
				if [ "${EXPECT[s]}" = fast ]; then
					expect_eq "the killed apply left a journal that says partial" \
						"$(jq -r '.partial' /run/netfence/objects/.journal 2>/dev/null)" true
				fi
				kill -9 "$pid"
				wait "$pid" 2>/dev/null
				"$NF" status >/dev/null 2>&1 || fail "status after the kill"
				expect_eq "the next command finished the killed apply" \
					"$([ -e /run/netfence/objects/.journal ] && echo left || echo finished)" finished
			else
				fail "the apply of step $s did not stop after tenant $CRASH_T's swap"
				wait "$pid"
			fi
		else
			out=$(env "$@" "$NF" apply "$WORK/step$(printf %02d "$s").json" 2>&1) ||
				fail "$name: step $s: apply: $out"
			if [ "$name" = fast ]; then
				case "$out" in
				*"changed pods only"*) got=fast; fastn=$((fastn + 1)) ;;
				*) got=full; fulln=$((fulln + 1)) ;;
				esac
				[ "$got" = "${EXPECT[s]}" ] ||
					fail "step $s: applied $got, expected ${EXPECT[s]}: $out"
			fi
		fi
		if ((s == 7 || s == 15 || s == N_STEPS - 1)); then
			snapshot "$WORK/$name-$s.snap"
		else	# right after each step: the verdicts on its pods' addresses
			mapfile -t ips <"$WORK/step$(printf %02d "$s").ips"
			snapshot "$WORK/$name-$s.snap" "${ips[@]}"
		fi
	done
	[ "$name" = fast ] && log "fast run: $fastn applies of changed pods only, $fulln in full"
}

log "part 1: the sequence with the changed-pods-only path"
run fast
log "part 1: the same sequence in full"
run full NETFENCE_TEST_NO_PODS_ONLY=1
for ((s = 0; s < N_STEPS; s++)); do
	if cmp -s "$WORK/fast-$s.snap" "$WORK/full-$s.snap"; then
		pass "after step $s: identities, endpoints and $(grep -c '^check' "$WORK/full-$s.snap") verdicts agree"
	else
		fail "after step $s the two runs differ (< changed pods only, > full):"
		diff "$WORK/fast-$s.snap" "$WORK/full-$s.snap" | head -20
	fi
done
# the snapshots are not vacuous: verdicts of both kinds, errors none
last=$WORK/full-$((N_STEPS - 1)).snap
expect_eq "verdicts of both kinds in the last snapshot" \
	"$(grep -c ' allow: ' "$last" | awk '{print ($1 > 0)}') $(grep -c ' deny: ' "$last" | awk '{print ($1 > 0)}')" "1 1"
expect_eq "no check failed" "$(grep -c ' error' "$last")" 0
expect_eq "the endpoints carry label identities" "$(grep -c '^endpoint.* none$\|^endpoint.* ?$' "$last")" 0
# pods that no step touched are still there after the partial journal's recovery
expect_eq "identities count every pod after the recovery" \
	"$(grep '^identity' "$WORK/fast-$((N_STEPS - 1)).snap" | sed 's/.*pods=//' | awk '{s += $1} END {print s}')" \
	"$(cat "$WORK/npods")"

# ---- part 3: traffic ----
log "part 3: a server's own labels, by Pod-only applies"
nf_reset "$NF" || die "reset"
srv_docs() { # srv_docs ROLE_OF_SRV ROLE_OF_SRV2
	cat <<J
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"srv","namespace":"x","labels":{"role":"$1"}},"status":{"podIPs":[{"ip":"10.79.9.1"}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"srv2","namespace":"x","labels":{"role":"$2"}},"status":{"podIPs":[{"ip":"10.79.9.2"}]}}
]}
J
}
cat >"$WORK/pol.json" <<'J'
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"open","namespace":"x"},"spec":{"podSelector":{"matchLabels":{"role":"open"}},"ingress":[{"ports":[{"protocol":"TCP","port":8080}]}]}},
 {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"out","namespace":"y"},"spec":{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"role":"open"}}}]}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"cli","namespace":"y","labels":{"role":"c"}},"status":{"podIPs":[{"ip":"10.79.9.3"}]}}
]}
J
"$NF" apply "$WORK/pol.json" >/dev/null || fail "apply the policies"
srv_docs closed closed >"$WORK/srv.json"
"$NF" apply "$WORK/srv.json" >/dev/null || fail "apply the servers' pods"
"$NF" attach --tenant x --iface eth0 --netns "/var/run/netns/$P-srv" --ip 10.79.9.1 --pod srv \
	>/dev/null || fail "attach srv"
"$NF" attach --tenant x --iface eth0 --netns "/var/run/netns/$P-srv2" --ip 10.79.9.2 \
	>/dev/null || fail "attach srv2 (by address)"
"$NF" attach --tenant y --iface eth0 --netns "/var/run/netns/$P-cli" --ip 10.79.9.3 --pod cli \
	>/dev/null || fail "attach cli"
for n in srv srv2; do
	in_ns "$P-$n" socat -T 5 TCP-LISTEN:8080,fork,reuseaddr EXEC:/bin/cat >/dev/null 2>&1 &
	PIDS+=($!)
done
sleep 0.5
reach() { # reach IP: ok / no
	if echo ping | in_ns "$P-cli" timeout 3 socat -T 2 - "TCP:$1:8080,connect-timeout=2" 2>/dev/null |
		grep -q ping; then echo ok; else echo no; fi
}
expect_eq "srv (role=closed) is fenced" "$(reach 10.79.9.1)" no
expect_eq "srv2 (role=closed) is fenced" "$(reach 10.79.9.2)" no
for step in "open closed ok no" "open open ok ok" "closed open no ok" "closed closed no no"; do
	read -r r1 r2 w1 w2 <<<"$step"
	srv_docs "$r1" "$r2" >"$WORK/srv.json"
	out=$("$NF" apply "$WORK/srv.json" 2>&1) || fail "apply srv=$r1 srv2=$r2: $out"
	case "$out" in
	*"changed pods only"*) ;;
	*) fail "srv=$r1 srv2=$r2: not applied from the changed pods only: $out" ;;
	esac
	expect_eq "srv role=$r1: reached: $w1" "$(reach 10.79.9.1)" "$w1"
	expect_eq "srv2 role=$r2 (endpoint linked by address): reached: $w2" "$(reach 10.79.9.2)" "$w2"
done
