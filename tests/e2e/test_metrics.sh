#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `netfence serve`: exact drop counters for known traffic, promtool on the live
# output, 404/405, a real Prometheus scraping it, clean stop on SIGTERM.
#
# Two namespaces joined by a veth pair (IPv6 off, static neighbours, so the
# only packets are the ones this test sends); the endpoint is the A side:
#   $P-a: ${IFP}a 10.211.0.1/24  (endpoint of tenant $TENANT)
#   $P-b: ${IFP}b 10.211.0.2/24
set -uo pipefail
cd "$(dirname "$0")/../.."

NETFENCE=${NETFENCE:-build/netfence}
P=nfmet-$$
IFP=nfm$$
NSA=$P-a
NSB=$P-b
TENANT=met-t1
A=10.211.0.1
B=10.211.0.2
FAILS=0
SERVE_PID=
PROM_PID=
WORK=

. tests/e2e/lib/check.sh

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
	[ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	nf_reset "$NETFENCE" || rc=1
	[[ "$WORK" == /tmp/nfmet.* ]] && rm -rf "$WORK"
	[ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ] && rc=1
	echo "$FAILS failure(s)"
	exit "$rc"
}

# send_udp NS SRC DST DPORT COUNT PAYLOAD_BYTES [SPORT]
send_udp() {
	in_ns "$1" python3 - "$2" "$3" "$4" "$5" "$6" "${7:-0}" <<'EOF'
import socket, sys
src, dst, dport, n, size, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
for _ in range(n):
    try:
        s.sendto(b"x" * size, (dst, dport))
    except OSError:
        pass
EOF
}

scrape() { curl -sf "http://127.0.0.1:$PORT/metrics"; }

# metric_value 'NAME{LABELS}' -> value or "absent"
metric_value() {
	scrape | awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "absent" : v) }'
}

[ "$(id -u)" -eq 0 ] || skip "needs root"
for c in python3 curl jq promtool ip nsenter; do
	command -v "$c" >/dev/null || die "$c not found"
done
[ -x "$NETFENCE" ] || die "$NETFENCE missing: run make"
WORK=$(mktemp -d /tmp/nfmet.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

pair_setup

"$NETFENCE" attach --tenant "$TENANT" --iface "${IFP}a" --netns "/var/run/netns/$NSA" ||
	die "attach failed"

PORT=$(free_port)
"$NETFENCE" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && break
	sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" || { cat "$WORK/serve.log"; die "serve not up"; }

DROPS="netfence_drops_total{tenant=\"$TENANT\",direction=\"egress\",reason=\"policy_denied\",hook=\"tc\"}"
DBYTES="netfence_drop_bytes_total{tenant=\"$TENANT\",direction=\"egress\",reason=\"policy_denied\",hook=\"tc\"}"
INDROPS="netfence_drops_total{tenant=\"$TENANT\",direction=\"ingress\",reason=\"policy_denied\",hook=\"tc\"}"
ALLOWED="netfence_allowed_flows_total{tenant=\"$TENANT\",direction=\"egress\"}"
APPLIES_OK='netfence_policy_applies_total{result="ok"}'

expect_eq "a new tenant has no drops" "$(metric_value "$DROPS")" absent
expect_eq "endpoints gauge" "$(metric_value "netfence_endpoints{tenant=\"$TENANT\"}")" 1
expect_eq "no rules yet (egress)" \
	"$(metric_value "netfence_policy_rules{tenant=\"$TENANT\",direction=\"egress\"}")" 0
expect_eq "allowed flows start at 0" "$(metric_value "$ALLOWED")" 0
expect_eq "ct capacity" "$(metric_value 'netfence_map_capacity{map="ct"}')" 262144
scrape | grep '^netfence_build_info{version=".*"} 1$' >/dev/null && pass "build_info" || fail "build_info"

# Default deny: exactly 5 UDP datagrams of 10 bytes (frames of 14+20+8+10 = 52 bytes).
send_udp "$NSA" "$A" "$B" 5001 5 10
expect_eq "5 egress drops" "$(metric_value "$DROPS")" 5
expect_eq "5 x 52 bytes dropped" "$(metric_value "$DBYTES")" 260
# 3 datagrams towards the endpoint: its ingress denies them.
send_udp "$NSB" "$B" "$A" 5001 3 10
expect_eq "3 ingress drops" "$(metric_value "$INDROPS")" 3

# Allow egress UDP to B:5002; one new flow of 4 datagrams counts once.
ok_before=$(metric_value "$APPLIES_OK")
[ "$ok_before" = absent ] && ok_before=0
cat >"$WORK/allow.json" <<EOF
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"udp-5002","namespace":"$TENANT"},
 "spec":{"podSelector":{},"policyTypes":["Egress"],
  "egress":[{"to":[{"ipBlock":{"cidr":"$B/32"}}],"ports":[{"protocol":"UDP","port":5002}]}]}}
EOF
"$NETFENCE" apply "$WORK/allow.json" >/dev/null || fail "apply"
expect_eq "applies ok +1" "$(metric_value "$APPLIES_OK")" $((ok_before + 1))
expect_eq "1 egress rule" \
	"$(metric_value "netfence_policy_rules{tenant=\"$TENANT\",direction=\"egress\"}")" 1
send_udp "$NSA" "$A" "$B" 5002 4 10 40002
expect_eq "1 allowed flow" "$(metric_value "$ALLOWED")" 1
expect_eq "drops unchanged" "$(metric_value "$DROPS")" 5
ct=$(metric_value netfence_conntrack_entries)
[ "$ct" != absent ] && [ "$ct" -ge 1 ] && pass "conntrack entries >= 1 ($ct)" ||
	fail "conntrack entries: $ct"

scrape >"$WORK/metrics.txt"
if promtool check metrics <"$WORK/metrics.txt"; then pass "promtool check metrics"; else
	fail "promtool check metrics"; fi

expect_eq "GET /foo" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/foo")" 404
expect_eq "POST /metrics" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x=1 "http://127.0.0.1:$PORT/metrics")" 405
curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$PORT/metrics" | tr -d '\r' |
	grep -qi '^Allow: GET, HEAD$' && pass "405 has Allow" || fail "405 without Allow: GET, HEAD"
expect_eq "HEAD /metrics" "$(curl -s -I -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" 200
curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/metrics" | tr -d '\r' |
	grep -qi '^Content-Type: text/plain; version=0.0.4' && pass "content type" || fail "content type"

# IPv6 literal listen address (loopback ::1 exists even with IPv6 off in the test netns).
PORT6=$(free_port)
"$NETFENCE" serve --listen "[::1]:$PORT6" >"$WORK/serve6.log" 2>&1 &
pid6=$!
code=000
for _ in $(seq 50); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://[::1]:$PORT6/metrics")
	[ "$code" = 200 ] && break
	sleep 0.1
done
expect_eq "serve on [::1]" "$code" 200
kill -TERM "$pid6"; wait "$pid6"; expect_eq "[::1] serve exit" "$?" 0
"$NETFENCE" serve --listen "nonsense" >/dev/null 2>&1
expect_eq "bad --listen" "$?" 2

# A real Prometheus scraping serve every second.
if command -v prometheus >/dev/null; then
	PPORT=$(free_port)
	cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: netfence
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF
	prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
		--web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
	PROM_PID=$!
	q="netfence_drops_total{tenant=\"$TENANT\",direction=\"egress\",reason=\"policy_denied\",hook=\"tc\"}"
	val=none
	for _ in $(seq 60); do
		val=$(curl -s -G "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$q" |
			jq -r '.data.result[0].value[1] // "none"' 2>/dev/null)
		[ "$val" = 5 ] && break
		sleep 0.5
	done
	expect_eq "Prometheus query netfence_drops_total" "$val" 5
	up=$(curl -s -G "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode 'query=up{job="netfence"}' |
		jq -r '.data.result[0].value[1] // "none"')
	expect_eq "Prometheus target up" "$up" 1
	kill "$PROM_PID"; wait "$PROM_PID" 2>/dev/null; PROM_PID=
else
	fail "prometheus binary not found"
fi

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
expect_eq "serve exits 0 on SIGTERM" "$?" 0
SERVE_PID=
grep -q 'level=info msg=".*stopping' "$WORK/serve.log" && pass "stop logged" ||
	{ fail "stop not logged"; cat "$WORK/serve.log"; }
