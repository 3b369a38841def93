#!/usr/bin/env bash
# End-to-end: the tc fence with real traffic between network namespaces,
# driven by the CLI only (SPEC §3, issue "The fence").
#
#   pod-a (tenant-a) 10.244.1.2 --veth-- srv: 10.244.1.1, DNS 10.96.0.10, storage 192.168.1.10
#   pod-b (tenant-b) 10.244.2.2 --veth-- srv: 10.244.2.1
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init

P=$NF_PREFIX
A=$P-a B=$P-b S=$P-s
nf_netns "$A"; nf_netns "$B"; nf_netns "$S"
ip link add "$P"a0 netns "$A" type veth peer name "$P"sa netns "$S"
ip link add "$P"b0 netns "$B" type veth peer name "$P"sb netns "$S"
in_ns "$A" ip addr add 10.244.1.2/24 dev "$P"a0
in_ns "$A" ip -6 addr add fd00:a::2/64 dev "$P"a0 nodad
in_ns "$B" ip addr add 10.244.2.2/24 dev "$P"b0
in_ns "$S" ip addr add 10.244.1.1/24 dev "$P"sa
in_ns "$S" ip -6 addr add fd00:a::1/64 dev "$P"sa nodad
in_ns "$S" ip addr add 10.244.2.1/24 dev "$P"sb
in_ns "$S" ip addr add 10.96.0.10/32 dev lo
in_ns "$S" ip addr add 192.168.1.10/32 dev lo
for l in "$A:${P}a0" "$B:${P}b0" "$S:${P}sa" "$S:${P}sb"; do in_ns "${l%%:*}" ip link set "${l#*:}" up; done
in_ns "$A" ip route add default via 10.244.1.1
in_ns "$B" ip route add default via 10.244.2.1
in_ns "$S" sysctl -qw net.ipv4.ip_forward=1
udp_server "$S" 53 10.96.0.10
tcp_server "$S" 8080
tcp_server "$S" 22
tcp_server "$B" 9000
tcp_server "$A" 7000
sleep 0.5

echo "before attach: everything flows"
expect_ok "pod-a -> storage tcp/22" tcp_probe "$A" 192.168.1.10 22

"$NF" attach --tenant tenant-a --iface "$P"a0 --netns /var/run/netns/"$A" || fail "attach a"
"$NF" attach --tenant tenant-b --iface "$P"b0 --netns /var/run/netns/"$B" || fail "attach b"

echo "default deny, no policy"
expect_fail "pod-a -> DNS udp/53" udp_probe "$A" 10.96.0.10 53
expect_fail "pod-a -> storage tcp/8080" tcp_probe "$A" 192.168.1.10 8080
expect_fail "pod-a -> DNS icmp" icmp_probe "$A" 10.96.0.10
expect_fail "pod-a -> storage tcp/8080 over IPv6" tcp_probe "$A" fd00:a::1 8080
expect_fail "srv -> pod-a tcp/7000" tcp_probe "$S" 10.244.1.2 7000

echo "counters move by exactly what was sent"
before=$(nf_stat tenant-a egress policy_denied tc)
in_ns "$A" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(7): s.sendto(b"x", ("10.96.0.10", 5353))'
sleep 0.2
after=$(nf_stat tenant-a egress policy_denied tc)
[ $((after - before)) -eq 7 ] && ok "7 datagrams sent, egress policy_denied +7" ||
	fail "egress policy_denied moved by $((after - before)), expected 7"

echo "the SPEC §1 tenant: DNS on UDP 53 and storage on TCP 8080, nothing else"
"$NF" apply policies/tenant-a.json >/dev/null || fail "apply tenant-a"
expect_ok "pod-a -> DNS udp/53" udp_probe "$A" 10.96.0.10 53
expect_ok "pod-a -> storage tcp/8080" tcp_probe "$A" 192.168.1.10 8080
expect_fail "pod-a -> storage tcp/22" tcp_probe "$A" 192.168.1.10 22
expect_fail "pod-a -> DNS tcp/53" tcp_probe "$A" 10.96.0.10 53
expect_fail "pod-a -> DNS icmp" icmp_probe "$A" 10.96.0.10
expect_fail "pod-a -> storage over IPv6 (not in policy)" tcp_probe "$A" fd00:a::1 8080
echo "replies pass, the opposite direction stays denied"
expect_fail "srv -> pod-a tcp/7000 (ingress not allowed)" tcp_probe "$S" 10.244.1.2 7000
out=$("$NF" check --tenant tenant-a --direction egress --peer 192.168.1.10 --proto tcp --port 8080)
[[ $out == *"allow: policy tenant-a/"* ]] && ok "check names the policy" || fail "check said: $out"
out=$("$NF" check --tenant tenant-a --direction egress --peer 192.168.1.10 --proto tcp --port 22)
[[ $out == *"deny"* ]] && ok "check denies tcp/22" || fail "check said: $out"

echo "two tenants can't reach each other until a policy allows it"
expect_fail "pod-a -> pod-b tcp/9000" tcp_probe "$A" 10.244.2.2 9000
cat > "$S.json" <<JSON
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
  "metadata":{"name":"to-b","namespace":"tenant-a"},
  "spec":{"podSelector":{},"policyTypes":["Egress"],
   "egress":[{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"tenant-b"}}}],
              "ports":[{"port":9000}]}]}},
 {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
  "metadata":{"name":"from-a","namespace":"tenant-b"},
  "spec":{"podSelector":{},"policyTypes":["Ingress"],
   "ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"In","values":["tenant-a"]}]}}],
              "ports":[{"port":9000}]}]}}]}
JSON
"$NF" apply "$S.json" >/dev/null || fail "apply cross-tenant"
expect_ok "pod-a -> pod-b tcp/9000 (both ends allow)" tcp_probe "$A" 10.244.2.2 9000
expect_fail "pod-b -> pod-a tcp/7000" tcp_probe "$B" 10.244.1.2 7000
"$NF" delete tenant-b/from-a >/dev/null || fail "delete from-a"
expect_fail "pod-a -> pod-b tcp/9000 after the receiver's ingress rule is deleted" tcp_probe "$A" 10.244.2.2 9000
rm -f "$S.json"

echo "a TCP stream across policy replaces"
# A client that sends a line every 20 ms and expects each echoed back; it reports
# how many round trips it completed and whether it was cut.
# It touches READY after its first round trip: a loaded machine can take
# seconds to start python, and the test must change policy under a live stream.
stream() { # seconds ready-file
	rm -f "$2"
	in_ns "$A" python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.create_connection(("192.168.1.10", 8080), timeout=5)
s.settimeout(1.0)
n, end = 0, time.time() + float(sys.argv[1])
try:
    while time.time() < end:
        if n == 1:
            open(sys.argv[2], "w").close()
        s.sendall(b"%08d\n" % n)
        got = b""
        while len(got) < 9:
            d = s.recv(9 - len(got))
            if not d: raise OSError("closed")
            got += d
        assert got == b"%08d\n" % n
        n += 1
        time.sleep(0.02)
    print("ok", n)
except OSError as e:
    print("cut", n)
PY
}
wait_ready() { # ready-file: up to 10 s
	local i
	for i in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	return 1
}
rm -f "$S.ready" # here, not only in the background job: a stale file would race it
stream 3 "$S.ready" > "$S.stream" &
spid=$!
wait_ready "$S.ready" || fail "the stream did not start"
for i in $(seq 1 10); do "$NF" apply policies/tenant-a.json >/dev/null; "$NF" delete tenant-a/to-b >/dev/null 2>&1
	"$NF" apply policies/tenant-a.json >/dev/null; sleep 0.1; done
# same policy content again: a replace with an unchanged store still swaps nothing;
# force real swaps by alternating an extra policy in and out
for i in $(seq 1 10); do
	sed 's/"name": *"[^"]*"/"name": "extra"/' policies/tenant-a.json > "$S.extra.json"
	"$NF" apply "$S.extra.json" >/dev/null; "$NF" delete tenant-a/extra >/dev/null; sleep 0.05
done
wait $spid
res=$(cat "$S.stream")
[[ $res == ok* ]] && ok "stream still allowed survived replaces ($res)" || fail "stream: $res"
rm -f "$S.ready"
stream 4 "$S.ready" > "$S.stream" &
spid=$!
wait_ready "$S.ready" || fail "the stream did not start"
"$NF" delete tenant-a >/dev/null || fail "delete tenant-a"
wait $spid
res=$(cat "$S.stream")
rm -f "$S.ready"
[[ $res == cut* ]] && ok "stream cut when its policy was revoked ($res)" || fail "stream after revoke: $res"
rm -f "$S.stream" "$S.extra.json"

echo "detach lifts the fence"
"$NF" detach --iface "$P"a0 --netns /var/run/netns/"$A" || fail "detach"
expect_ok "pod-a -> storage tcp/22 after detach" tcp_probe "$A" 192.168.1.10 22
nf_done
