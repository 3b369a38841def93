#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `netfence serve` hardening (SPEC §7): no client can hold the connections.
#  1. slowloris: 40 connections from 10 loopback addresses that trickle a
#     request header a byte at a time; scrapes still answer, and every slow
#     connection is closed by the server (request deadline, not idleness);
#  2. the per-client limit: the 5th connection of one address is closed at
#     once, another address still gets in, and so does a scrape;
#  3. TLS with a certificate made here by openssl; bad files exit 2 naming
#     the file;
#  4. bearer token: 401 without, 401 wrong, 200 right; promtool on the output;
#  5. a real Prometheus scraping over TLS with the token.
# serve listens on loopback only; no datapath is needed.
set -uo pipefail
cd "$(dirname "$0")/../.."

NETFENCE=${NETFENCE:-build/netfence}
FAILS=0
PIDS=()
WORK=

. tests/e2e/lib/check.sh

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[[ "$WORK" == /tmp/nfsh.* ]] && rm -rf "$WORK"
	[ "$rc" -eq 0 ] && [ "$FAILS" -ne 0 ] && rc=1
	echo "$FAILS failure(s)"
	exit "$rc"
}

[ "$(id -u)" -eq 0 ] || skip "needs root"
for c in python3 curl openssl promtool; do
	command -v "$c" >/dev/null || die "$c not found"
done
[ -x "$NETFENCE" ] || die "$NETFENCE missing: run make"
WORK=$(mktemp -d /tmp/nfsh.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_serve LOG ARGS...: serve in the background; sets SPID
start_serve() {
	local log=$1
	shift
	"$NETFENCE" serve "$@" >"$log" 2>&1 &
	SPID=$!
	PIDS+=("$SPID")
}
# wait_up URL [CURL ARGS...]: until serve answers at all (any HTTP status)
wait_up() {
	local url=$1 code
	shift
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
		[ "$code" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------ 1. slowloris
PORT=$(free_port)
start_serve "$WORK/serve.log" --listen "127.0.0.1:$PORT" --max-connections 16 \
	--max-client-connections 4 --request-timeout 3
wait_up "http://127.0.0.1:$PORT/metrics" || { cat "$WORK/serve.log"; die "serve not up"; }

# 10 addresses x 4 connections, each sending a header byte every 0.3 s (well
# inside libmicrohttpd's inactivity timeout) for up to 30 s. Prints, when done,
# how many the server closed while they were still trickling.
python3 - "$PORT" "$WORK/slow.ready" >"$WORK/slow.out" 2>&1 <<'EOF' &
import socket, sys, time, select
port, ready = int(sys.argv[1]), sys.argv[2]
conns = []
for a in range(2, 12):
    for _ in range(4):
        s = socket.socket()
        s.bind(("127.0.0.%d" % a, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        conns.append(s)
open(ready, "w").write("%d\n" % len(conns))
closed, start = set(), time.time()
while len(closed) < len(conns) and time.time() - start < 30:
    for i, s in enumerate(conns):
        if i in closed:
            continue
        try:
            r, _, _ = select.select([s], [], [], 0)
            if r and not s.recv(100):
                closed.add(i); continue
            s.sendall(b"X")        # never a complete header line
        except OSError:
            closed.add(i)
    time.sleep(0.3)
print("opened %d closed_by_server %d" % (len(conns), len(closed)))
EOF
SLOW=$!
PIDS+=("$SLOW")
for _ in $(seq 100); do [ -s "$WORK/slow.ready" ] && break; sleep 0.1; done
expect_eq "40 slow connections opened" "$(cat "$WORK/slow.ready" 2>/dev/null)" 40
# While they trickle: 5 scrapes, each within curl's own 5 s.
good=0
for i in 1 2 3 4 5; do
	curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics" >"$WORK/m$i.txt" && good=$((good + 1))
	sleep 0.5
done
expect_eq "scrapes answered while slowloris clients trickle" "$good" 5
promtool check metrics <"$WORK/m5.txt" >/dev/null 2>&1 && pass "promtool check metrics" ||
	fail "promtool check metrics"
wait "$SLOW"
expect_eq "every slow connection closed by the server" "$(cat "$WORK/slow.out")" \
	"opened 40 closed_by_server 40"

# ------------------------------------------------------- 2. per-client limit
# 4 held connections from 127.0.0.20: a 5th from there is closed at once,
# one from 127.0.0.21 is not; a scrape from .20 fails, from .1 works.
python3 - "$PORT" "$WORK/hold.ready" "$WORK/hold.out" <<'EOF' &
import socket, sys, time
port, ready, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def conn(a):
    s = socket.socket()
    s.bind((a, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    return s
held = [conn("127.0.0.20") for _ in range(4)]
time.sleep(0.3)
def fate(s):
    s.settimeout(1.5)
    try:
        return "closed" if not s.recv(100) else "answered"
    except socket.timeout:
        return "open"
    except OSError:
        return "closed"
res = [fate(conn("127.0.0.20")), fate(conn("127.0.0.21"))]
open(out, "w").write(" ".join(res) + "\n")
open(ready, "w").write("1\n")
time.sleep(2.5)   # keep the 4 while the shell scrapes (inside the 3 s deadline)
EOF
HOLD=$!
PIDS+=("$HOLD")
for _ in $(seq 100); do [ -s "$WORK/hold.ready" ] && break; sleep 0.1; done
expect_eq "5th connection of one client closed, another client's kept" \
	"$(cat "$WORK/hold.out" 2>/dev/null)" "closed open"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --interface 127.0.0.20 \
	"http://127.0.0.1:$PORT/metrics")
expect_eq "scrape from the client at its limit refused" "$code" 000
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/metrics")
expect_eq "scrape from another client answered" "$code" 200
wait "$HOLD"
code=000
for _ in $(seq 50); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.20 \
		"http://127.0.0.1:$PORT/metrics")
	[ "$code" = 200 ] && break
	sleep 0.1
done
expect_eq "the client gets in again once its connections are closed" "$code" 200
kill -TERM "$SPID"; wait "$SPID"; expect_eq "serve exits 0 on SIGTERM" "$?" 0

# --------------------------------------------------------------- 3. TLS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl req"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
	-keyout "$WORK/key2.pem" -out "$WORK/cert2.pem" >/dev/null 2>&1 || die "openssl req"
echo "not a certificate" >"$WORK/junk.pem"

# bad_files DESC WANT_IN_MESSAGE ARGS...: exit 2 and one line naming the file
bad_files() {
	local desc=$1 want=$2 rc
	shift 2
	"$NETFENCE" serve --listen "127.0.0.1:$(free_port)" "$@" >"$WORK/bad.out" 2>&1
	rc=$?
	if [ "$rc" = 2 ] && grep -qF -- "$want" "$WORK/bad.out"; then pass "$desc"; else
		fail "$desc: rc $rc: $(cat "$WORK/bad.out")"; fi
}
bad_files "--tls-cert alone" "--tls-cert and --tls-key go together" --tls-cert "$WORK/cert.pem"
bad_files "missing certificate" "--tls-cert $WORK/nope.pem: No such file" \
	--tls-cert "$WORK/nope.pem" --tls-key "$WORK/key.pem"
bad_files "unreadable key" "--tls-key $WORK/nokey.pem: No such file" \
	--tls-cert "$WORK/cert.pem" --tls-key "$WORK/nokey.pem"
bad_files "not a certificate" "--tls-cert $WORK/junk.pem: not a PEM certificate" \
	--tls-cert "$WORK/junk.pem" --tls-key "$WORK/key.pem"
bad_files "a certificate as the key" "--tls-key $WORK/cert.pem: not an unencrypted PEM private key" \
	--tls-cert "$WORK/cert.pem" --tls-key "$WORK/cert.pem"
bad_files "key of another certificate" "--tls-key $WORK/key2.pem does not go with --tls-cert" \
	--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key2.pem"

TPORT=$(free_port)
start_serve "$WORK/tls.log" --listen "127.0.0.1:$TPORT" --tls-cert "$WORK/cert.pem" \
	--tls-key "$WORK/key.pem"
wait_up "https://127.0.0.1:$TPORT/metrics" --cacert "$WORK/cert.pem" ||
	{ cat "$WORK/tls.log"; die "TLS serve not up"; }
code=$(curl -s -o "$WORK/tls.txt" -w '%{http_code}' --cacert "$WORK/cert.pem" \
	"https://127.0.0.1:$TPORT/metrics")
expect_eq "HTTPS scrape, certificate verified" "$code" 200
promtool check metrics <"$WORK/tls.txt" >/dev/null 2>&1 && pass "promtool on the HTTPS output" ||
	fail "promtool on the HTTPS output"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$TPORT/metrics")
expect_eq "plain HTTP to the TLS port gets no answer" "$code" 000
kill -TERM "$SPID"; wait "$SPID"

# ------------------------------------------------------------- 4. token
printf '%s\n' "tok-$$-s3cret" >"$WORK/token"
: >"$WORK/empty"
bad_files "empty token file" "--token-file $WORK/empty: the file is empty" \
	--token-file "$WORK/empty"
bad_files "missing token file" "--token-file $WORK/none: No such file" --token-file "$WORK/none"
APORT=$(free_port)
start_serve "$WORK/auth.log" --listen "127.0.0.1:$APORT" --tls-cert "$WORK/cert.pem" \
	--tls-key "$WORK/key.pem" --token-file "$WORK/token"
URL="https://127.0.0.1:$APORT/metrics"
wait_up "$URL" --cacert "$WORK/cert.pem" || { cat "$WORK/auth.log"; die "serve not up"; }
curl -s -D "$WORK/h401" -o /dev/null --cacert "$WORK/cert.pem" "$URL"
expect_eq "no token: 401" "$(head -1 "$WORK/h401" | awk '{print $2}')" 401
tr -d '\r' <"$WORK/h401" | grep -q '^WWW-Authenticate: Bearer' && pass "401 has WWW-Authenticate: Bearer" ||
	fail "401 without WWW-Authenticate: Bearer"
expect_eq "wrong token: 401" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/cert.pem" \
	-H "Authorization: Bearer tok-$$-s3creT" "$URL")" 401
expect_eq "token prefix only: 401" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/cert.pem" \
	-H "Authorization: Bearer tok-$$" "$URL")" 401
expect_eq "right token: 200" "$(curl -s -o "$WORK/auth.txt" -w '%{http_code}' \
	--cacert "$WORK/cert.pem" -H "Authorization: Bearer tok-$$-s3cret" "$URL")" 200
promtool check metrics <"$WORK/auth.txt" >/dev/null 2>&1 && pass "promtool on the authorized output" ||
	fail "promtool on the authorized output"
grep -q '^netfence_unfenced_interfaces_total 0$' "$WORK/auth.txt" &&
	pass "netfence_unfenced_interfaces_total present" || fail "netfence_unfenced_interfaces_total missing"

# ------------------------------------------- 5. Prometheus: TLS + bearer token
if command -v prometheus >/dev/null; then
	PPORT=$(free_port)
	cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: netfence
    scheme: https
    tls_config:
      ca_file: $WORK/cert.pem
    authorization:
      type: Bearer
      credentials_file: $WORK/token
    static_configs:
      - targets: ["127.0.0.1:$APORT"]
EOF
	prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
		--web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
	PIDS+=($!)
	up=none
	for _ in $(seq 60); do
		up=$(curl -s -G "http://127.0.0.1:$PPORT/api/v1/query" \
			--data-urlencode 'query=up{job="netfence"}' |
			python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")' 2>/dev/null)
		[ "$up" = 1 ] && break
		sleep 0.5
	done
	expect_eq "Prometheus scrapes over TLS with the bearer token" "$up" 1
else
	fail "prometheus binary not found"
fi
kill -TERM "$SPID"; wait "$SPID"; expect_eq "serve exits 0" "$?" 0
