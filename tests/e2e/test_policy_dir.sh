#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `netfence serve --policy-dir`: a directory laid out like a mounted Kubernetes
# ConfigMap (key -> ..data/key, ..data -> ..<timestamp>, updates by renaming
# ..data_tmp over ..data) is applied with --prune at start and after every
# change; a broken update is logged with its problem line and counted as an
# error while the last good policy stays in force; plain files work too.
# Verdicts are observed on real traffic: one UDP datagram from the endpoint
# (fresh source port each time) and whether the tenant's drop counter moved.
#   $P-a: ${IFP}a 10.213.0.1/24  (endpoint of tenant $TENANT)
#   $P-b: ${IFP}b 10.213.0.2/24
set -uo pipefail
cd "$(dirname "$0")/../.."

NETFENCE=${NETFENCE:-build/netfence}
P=nfpd-$$
IFP=nfp$$
NSA=$P-a
NSB=$P-b
TENANT=pd-t1
A=10.213.0.1
B=10.213.0.2
FAILS=0
SERVE_PID=
WORK=
SPORT=41000
GEN=0

. tests/e2e/lib/check.sh

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	nf_reset "$NETFENCE" || rc=1
	[[ "$WORK" == /tmp/nfpd.* ]] && rm -rf "$WORK"
	[ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ] && rc=1
	echo "$FAILS failure(s)"
	exit "$rc"
}

metric_value() {
	curl -sf "http://127.0.0.1:$PORT/metrics" |
		awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }'
}

drops() {
	"$NETFENCE" stats --json | jq -r "[.tenants[] | select(.tenant == \"$TENANT\") | .drops[] |
		select(.direction == \"egress\" and .reason == \"policy_denied\") | .packets] | add // 0"
}

# verdict PORT -> allow|deny, from one datagram A -> B:PORT
verdict() {
	local before after
	before=$(drops)
	SPORT=$((SPORT + 1))
	in_ns "$NSA" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
try:
    s.sendto(b"probe", (sys.argv[3], int(sys.argv[4])))
except OSError:
    pass' "$A" "$SPORT" "$B" "$1"
	after=$(drops)
	if [ "$after" -eq "$before" ]; then echo allow; else echo deny; fi
}

# wait_verdict PORT WANT: the watcher applies asynchronously
wait_verdict() {
	local v
	for _ in $(seq 40); do
		v=$(verdict "$1")
		[ "$v" = "$2" ] && break
		sleep 0.25
	done
	echo "$v"
}

# policy NAME PORT...: a NetworkPolicy allowing egress UDP to B on those ports
policy() {
	local name=$1 ports="" p
	shift
	for p in "$@"; do ports+="${ports:+,}{\"protocol\":\"UDP\",\"port\":$p}"; done
	cat <<EOF
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"$name","namespace":"$TENANT"},
 "spec":{"podSelector":{},"policyTypes":["Egress"],
  "egress":[{"to":[{"ipBlock":{"cidr":"$B/32"}}],"ports":[$ports]}]}}
EOF
}

# cm_update KEY=FILE...: what the kubelet's atomic writer does for a ConfigMap
# volume: a new timestamped dir, ..data_tmp -> it, rename over ..data, then
# the per-key symlinks for new keys, stale key links and the old dir removed.
cm_update() {
	local new old kv key
	GEN=$((GEN + 1))
	new="..$(date +%Y_%m_%d_%H_%M_%S).$$$GEN"
	old=$(readlink "$DIR/..data" 2>/dev/null)
	mkdir "$DIR/$new"
	for kv in "$@"; do cp "${kv#*=}" "$DIR/$new/${kv%%=*}"; done
	ln -s "$new" "$DIR/..data_tmp"
	mv -T "$DIR/..data_tmp" "$DIR/..data"
	for kv in "$@"; do
		key=${kv%%=*}
		[ -L "$DIR/$key" ] || ln -s "..data/$key" "$DIR/$key"
	done
	for key in "$DIR"/*; do
		[ -L "$key" ] && [ ! -e "$key" ] && rm -f "$key"
	done
	[ -n "$old" ] && rm -rf "${DIR:?}/$old"
	return 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root"
for c in python3 curl jq ip nsenter; do
	command -v "$c" >/dev/null || die "$c not found"
done
[ -x "$NETFENCE" ] || die "$NETFENCE missing: run make"
WORK=$(mktemp -d /tmp/nfpd.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM
DIR=$WORK/policies
mkdir "$DIR"

pair_setup

"$NETFENCE" attach --tenant "$TENANT" --iface "${IFP}a" --netns "/var/run/netns/$NSA" ||
	die "attach failed"

# v1 in place before serve starts: applied at start.
policy udp 6001 >"$WORK/v1.json"
cm_update policy.json="$WORK/v1.json"
PORT=$(free_port)
"$NETFENCE" serve --listen "127.0.0.1:$PORT" --policy-dir "$DIR" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && break
	sleep 0.1
done
expect_eq "initial: 6001 allowed" "$(wait_verdict 6001 allow)" allow
expect_eq "initial: 6002 denied" "$(verdict 6002)" deny
expect_eq "status: stored policy" \
	"$("$NETFENCE" status --json | jq -c "[.tenants[] | select(.name == \"$TENANT\") | .policies[].name]")" \
	'["udp"]'
ERR0=$(metric_value 'netfence_policy_applies_total{result="error"}')

# ConfigMap update: the same key now allows 6002 only.
policy udp 6002 >"$WORK/v2.json"
cm_update policy.json="$WORK/v2.json"
expect_eq "swap: 6002 allowed" "$(wait_verdict 6002 allow)" allow
expect_eq "swap: 6001 denied" "$(verdict 6001)" deny

# Broken update: logged, counted as error, v2 stays.
policy udp 70000 >"$WORK/bad.json"
cm_update policy.json="$WORK/bad.json"
for _ in $(seq 40); do
	[ "$(metric_value 'netfence_policy_applies_total{result="error"}')" != "$ERR0" ] && break
	sleep 0.25
done
sleep 0.5	# one change, one apply
expect_eq "broken: one error counted" \
	"$(metric_value 'netfence_policy_applies_total{result="error"}')" $((ERR0 + 1))
grep -q 'policy.json: spec.egress\[0\].ports\[0\].port' "$WORK/serve.log" &&
	pass "broken: problem line logged" || { fail "broken: problem not logged"; cat "$WORK/serve.log"; }
grep -q 'level=error msg="policy-dir: .*last good policy stays in force' "$WORK/serve.log" &&
	pass "broken: daemon error logged" || fail "broken: no daemon error line"
expect_eq "broken: 6002 still allowed" "$(verdict 6002)" allow
expect_eq "broken: 6001 still denied" "$(verdict 6001)" deny

# Fixed, plus a new key (new symlink after the swap).
policy extra 6003 >"$WORK/extra.json"
cm_update policy.json="$WORK/v2.json" extra.json="$WORK/extra.json"
expect_eq "new key: 6003 allowed" "$(wait_verdict 6003 allow)" allow
expect_eq "new key: 6002 allowed" "$(verdict 6002)" allow
expect_eq "status: two stored policies" \
	"$("$NETFENCE" status --json | jq -c "[.tenants[] | select(.name == \"$TENANT\") | .policies[].name]")" \
	'["extra","udp"]'

# A plain file written into the directory (IN_CLOSE_WRITE).
policy direct 6004 >"$DIR/direct.json"
expect_eq "plain file: 6004 allowed" "$(wait_verdict 6004 allow)" allow
# Removed (prune): denied again.
rm -f "$DIR/direct.json"
expect_eq "plain file removed: 6004 denied" "$(wait_verdict 6004 deny)" deny
# Key removed from the ConfigMap.
cm_update policy.json="$WORK/v2.json"
expect_eq "key removed: 6003 denied" "$(wait_verdict 6003 deny)" deny
expect_eq "key removed: 6002 allowed" "$(verdict 6002)" allow
# Editor droppings are ignored (not *.json).
echo garbage >"$DIR/.policy.json.swp"
echo garbage >"$DIR/notes.txt"
errs=$(metric_value 'netfence_policy_applies_total{result="error"}')
sleep 0.6
expect_eq "non-json files ignored" "$(metric_value 'netfence_policy_applies_total{result="error"}')" "$errs"

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
expect_eq "serve exits 0 on SIGTERM" "$?" 0
SERVE_PID=
