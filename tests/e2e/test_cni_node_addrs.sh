#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# SPEC §3.8 through netfence-cni: the node's addresses that a CNI ADD's own
# plugins create are trusted when the ADD returns, with real traffic.
#  1. The first pod of a bridge network: the bridge plugin puts the gateway
#     (10.125.0.1, fd00:125::1) on the new bridge during the ADD. After it,
#     `check` trusts both, and a TCP connection from the node (source: the
#     gateway, as a kubelet probe's) reaches the default-deny pod, while a
#     pod of another tenant is refused.
#  2. IPv6 link-local addresses are not the node's (hostaddr.c): the
#     bridge's fe80:: address is judged by policy (deny).
#  3. An ADD reads only the host-side links of its prevResult, so that its
#     cost does not grow with the node's links: an address put on another
#     link is trusted at the next full sync (here `netfence apply`), and one
#     removed stops being trusted there too.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
CONF=$WORK/bridge.conflist
deploy_bridge_conflist "$CONF" '[[{subnet: "10.125.0.0/24"}], [{subnet: "fd00:125::/64"}]]' \
	'.plugins[0].ipam.routes = [{dst: "0.0.0.0/0"}, {dst: "::/0"}]'
TA=$P-a
TB=$P-b
OTHER=10.126.0.9

# verdict TENANT PEER: allow or deny, for a TCP 8080 flow from PEER into TENANT
verdict() {
	"$NETFENCE" check --tenant "$1" --direction ingress --peer "$2" --proto tcp --port 8080 |
		tail -1 | awk '{sub(/:$/, "", $1); print $1}'
}

# another link of the node (no dummy driver in every kernel: a veth pair)
in_ns "$NODE" ip link add "${IFP}d" type veth peer name "${IFP}e"
in_ns "$NODE" ip link set "${IFP}d" up

log "1. the first pod of the network: its ADD creates the bridge and its gateway"
in_ns "$NODE" ip link show "${IFP}br" >/dev/null 2>&1 && fail "bridge exists before the first ADD"
for pod in a1 b1; do
	pod_add "$pod"
	start_server "$pod" tcp:8080
done
cni ADD "$CONF" a1 eth0 "$TA" >/dev/null || fail "ADD a1"
expect_eq "the bridge plugin made the gateway 10.125.0.1" \
	"$(in_ns "$NODE" ip -4 -o addr show dev "${IFP}br" | awk '{print $4}')" 10.125.0.1/24
expect_eq "node address 10.125.0.1 trusted after the ADD" "$(verdict "$TA" 10.125.0.1)" allow
expect_eq "node address fd00:125::1 trusted after the ADD" "$(verdict "$TA" fd00:125::1)" allow
IP_a1=$(pod_ip "$CONF" a1 eth0)
wait_server a1 8080
# From the node to the pod: the route is the bridge's, the source its gateway.
expect_traffic "the node (bridge gateway) reaches the default-deny pod" node tcp "$IP_a1" 8080 allowed
cni ADD "$CONF" b1 eth0 "$TB" >/dev/null || fail "ADD b1"
expect_traffic "another tenant's pod is refused" b1 tcp "$IP_a1" 8080 blocked

log "2. IPv6 link-local addresses are not the node's"
LL=$(in_ns "$NODE" ip -6 -o addr show dev "${IFP}br" scope link | awk '{print $4}' | cut -d/ -f1 | head -1)
if [ -n "$LL" ]; then
	expect_eq "the bridge's link-local $LL is judged by policy" "$(verdict "$TA" "$LL")" deny
else
	fail "the bridge has no IPv6 link-local address"
fi

log "3. an ADD reads its own links; a full sync reads them all"
in_ns "$NODE" ip addr add "$OTHER/32" dev "${IFP}d"
pod_add a2
cni ADD "$CONF" a2 eth0 "$TA" >/dev/null || fail "ADD a2"
expect_eq "an address on another link is not read by the ADD" "$(verdict "$TA" $OTHER)" deny
apply_any() {
	in_ns "$NODE" "$NETFENCE" apply /dev/stdin >/dev/null <<EOF || fail "apply"
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"none-$1","namespace":"$P-other"},
 "spec":{"podSelector":{},"policyTypes":["Ingress"],"ingress":[]}}
EOF
}
apply_any 1
expect_eq "the next apply trusts it" "$(verdict "$TA" $OTHER)" allow
in_ns "$NODE" ip addr del "$OTHER/32" dev "${IFP}d"
pod_add a3
cni ADD "$CONF" a3 eth0 "$TA" >/dev/null || fail "ADD a3"
expect_eq "an ADD removes nothing (not its link)" "$(verdict "$TA" $OTHER)" allow
apply_any 2
expect_eq "the next apply no longer trusts it" "$(verdict "$TA" $OTHER)" deny
expect_eq "the gateway is still trusted" "$(verdict "$TA" 10.125.0.1)" allow

for pod in a1 a2 a3 b1; do
	cni DEL "$CONF" "$pod" eth0 "$TA" >/dev/null || fail "DEL $pod"
done
expect_eq "no endpoint left" "$(nf_my_endpoints)" 0
in_ns "$NODE" "$NETFENCE" delete "$P-other" >/dev/null 2>&1
exit 0
