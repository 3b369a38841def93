#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Networks (SPEC §12): one pod with two interfaces, eth0 on a bridge network
# ("primary") and net1 on a macvlan network ("storage"), both chained with
# netfence-cni, as Multus would wire them. The tenant's NetworkPolicy allows
# TCP 8080 anywhere; its MultiNetworkPolicy for the storage network allows
# only TCP 9090 to the storage subnet. Real traffic on both interfaces to
# unfenced servers on each network: the storage interface follows the
# MultiNetworkPolicy, eth0 the NetworkPolicy; without the MultiNetworkPolicy
# both follow the NetworkPolicy. Denied packets are dropped and counted on
# the tenant; status, check --network and monitor name the network.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
TA=$P-a
TU=$P-u	# pod u: UDP only, so that its tenant's drop counters move by exactly what it sends
NET_P=$P-primary
NET_S=$P-storage
PARENT=${IFP}p0
in_ns "$NODE" ip link add "$PARENT" type veth peer name "${IFP}p1" || die "cannot create the parent"
in_ns "$NODE" ip link set "$PARENT" up
in_ns "$NODE" ip link set "${IFP}p1" up

# conflist NAME PLUGIN_JSON FENCED: the network's chain, with netfence-cni or without
# (the servers: peers the fence does not concern). Fenced pods get .10-.99,
# unfenced ones .100-.199 of the same subnet (two IPAM stores, no overlap).
conflist() {
	local name=$1 plugin=$2 fenced=$3
	if [ "$fenced" = yes ]; then
		jq -n --arg n "$name" --argjson p "$plugin" \
			'{cniVersion: "1.0.0", name: $n, plugins: [$p, {type: "netfence-cni"}]}'
	else
		jq -n --arg n "$name-srv" --argjson p "$plugin" \
			'{cniVersion: "1.0.0", name: $n, plugins: [$p]}'
	fi
}
bridge_plugin() { # bridge_plugin START END
	jq -cn --arg br "${IFP}br" --arg d "$WORK/ipam" --arg s "$1" --arg e "$2" '
	{type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	 ipam: {type: "host-local", dataDir: $d,
	        ranges: [[{subnet: "10.126.0.0/24", rangeStart: $s, rangeEnd: $e}]]}}'
}
macvlan_plugin() { # macvlan_plugin START END
	jq -cn --arg m "$PARENT" --arg d "$WORK/ipam" --arg s "$1" --arg e "$2" '
	{type: "macvlan", master: $m, mode: "bridge",
	 ipam: {type: "host-local", dataDir: $d,
	        ranges: [[{subnet: "10.127.0.0/24", rangeStart: $s, rangeEnd: $e}]]}}'
}
conflist "$NET_P" "$(bridge_plugin 10.126.0.10 10.126.0.99)" yes >"$WORK/primary.conflist"
# the storage network is deploy/multus/storage-nad.yaml's config (the block after
# "config: |-"), with the test's name, parent and addresses
awk '/config: \|-/ { on = 1; next } on' deploy/multus/storage-nad.yaml |
	jq --arg name "$NET_S" --argjson p "$(macvlan_plugin 10.127.0.10 10.127.0.99)" '
	.name = $name | .plugins[0] += ($p | {master, ipam})' >"$WORK/storage.conflist" ||
	die "cannot read deploy/multus/storage-nad.yaml's config"
expect_eq "the NAD's network name is its own name (what policy-for names)" \
	"$(awk '/config: \|-/ { on = 1; next } on' deploy/multus/storage-nad.yaml | jq -r .name)" \
	"$(awk '/^metadata:/ { m = 1 } m && /^  name:/ { print $2; exit }' deploy/multus/storage-nad.yaml)"
"$NETFENCE" validate deploy/multus/policies.json >/dev/null
expect_eq "netfence validate deploy/multus/policies.json" "$?" 0
conflist "$NET_P" "$(bridge_plugin 10.126.0.100 10.126.0.199)" no >"$WORK/primary-srv.conflist"
conflist "$NET_S" "$(macvlan_plugin 10.127.0.100 10.127.0.199)" no >"$WORK/storage-srv.conflist"

# The pod: eth0 on primary, net1 on storage. The servers: srvp on primary, srvs on storage.
pod_add w
pod_add u
pod_add srvp
pod_add srvs
cni ADD "$WORK/primary.conflist" w eth0 "$TA" >/dev/null || die "ADD w eth0"
cni ADD "$WORK/storage.conflist" w net1 "$TA" >/dev/null || die "ADD w net1"
cni ADD "$WORK/primary.conflist" u eth0 "$TU" >/dev/null || die "ADD u eth0"
cni ADD "$WORK/storage.conflist" u net1 "$TU" >/dev/null || die "ADD u net1"
cni ADD "$WORK/primary-srv.conflist" srvp eth0 "" >/dev/null || die "ADD srvp"
cni ADD "$WORK/storage-srv.conflist" srvs eth0 "" >/dev/null || die "ADD srvs"
SRV_P=$(pod_ip "$WORK/primary-srv.conflist" srvp eth0)
SRV_S=$(pod_ip "$WORK/storage-srv.conflist" srvs eth0)
log "pod w: eth0 on $NET_P, net1 on $NET_S; servers $SRV_P (primary), $SRV_S (storage)"
for pod in srvp srvs; do
	start_server "$pod" tcp:8080 tcp:9090 udp:5353 udp:5454
	wait_server "$pod" 8080
done

NF=$NETFENCE
# flow HOST PORT: one UDP exchange from u, always from source port 40000 (one
# tracked flow across calls): ok | timeout
flow() {
	in_ns "$P-u" "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 40000)); s.settimeout(1)
s.connect((sys.argv[1], int(sys.argv[2]))); s.send(b"flow")
try:
    s.recv(64); print("ok")
except socket.timeout:
    print("timeout")' "$1" "$2"
}
# status_ep IFNAME FIELD: a field of w's endpoint on IFNAME in `status --json`
status_ep() {
	"$NF" status --json | jq -r --arg o "$P-w/$1" '.endpoints[] | select(.owner == $o) | .'"$2"
}
# drops: tenant U's egress policy_denied packets on tc so far
drops() {
	"$NF" stats --json | jq --arg t "$TU" '[.tenants[] | select(.tenant == $t) | .drops[]
		| select(.direction == "egress" and .reason == "policy_denied" and .hook == "tc")
		| .packets] | add // 0'
}
# expect_udp_dropped LABEL HOST PORT: one datagram from u, dropped, counted once on its tenant
expect_udp_dropped() {
	local before after
	before=$(drops)
	expect_traffic "$1" u udp "$2" "$3" blocked
	after=$(drops)
	expect_eq "$1: counted as one policy_denied egress drop" "$((after - before))" 1
}

expect_eq "eth0's network (status --json)" "$(status_ep eth0 network)" "$NET_P"
expect_eq "net1's network (status --json)" "$(status_ep net1 network)" "$NET_S"
expect_eq "net1 judged by (no MultiNetworkPolicy yet)" "$(status_ep net1 rules)" NetworkPolicy

log "NetworkPolicy only: TCP 8080 and UDP 5353 anywhere, on both interfaces"
# netpol TENANT: the NetworkPolicy of both tenants
netpol() {
	cat <<EOF
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "egress-8080", "namespace": "$1"},
 "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
  "egress": [{"ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "UDP", "port": 5353}]}]}}
EOF
}
{ echo '{"apiVersion": "v1", "kind": "List", "items": ['; netpol "$TA"; echo ,; netpol "$TU"; echo ']}'; } | nf_apply
expect_traffic "primary, NetworkPolicy port" w tcp "$SRV_P" 8080 allowed
expect_traffic "primary, other port" w tcp "$SRV_P" 9090 blocked
expect_traffic "storage, NetworkPolicy port (no MNP for storage)" w tcp "$SRV_S" 8080 allowed
expect_traffic "storage, other port" w tcp "$SRV_S" 9090 blocked
expect_traffic "u: storage, UDP the NetworkPolicy allows" u udp "$SRV_S" 5353 allowed
expect_udp_dropped "u: storage, UDP not allowed" "$SRV_S" 5454
expect_eq "u: a tracked UDP flow on storage, allowed by the NetworkPolicy" "$(flow "$SRV_S" 5353)" ok

log "MultiNetworkPolicy for storage: only TCP 9090 and UDP 5454 to the storage subnet there"
# mnp TENANT: the MultiNetworkPolicy of both tenants (the annotation names
# the network as the pod's namespace sees it: a bare name)
mnp() {
	cat <<EOF
{"apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
 "metadata": {"name": "storage-only", "namespace": "$1",
  "annotations": {"k8s.v1.cni.cncf.io/policy-for": "$NET_S"}},
 "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
  "egress": [{"to": [{"ipBlock": {"cidr": "10.127.0.0/24"}}],
              "ports": [{"protocol": "TCP", "port": 9090}, {"protocol": "UDP", "port": 5454}]}]}}
EOF
}
MNP=$WORK/mnp.json
mnp "$TA" >"$MNP"
mnp "$TU" >"$WORK/mnp-u.json"
# all or nothing: A's rule set goes in and its endpoints move, then U's install
# fails: A goes back (its endpoints to the NetworkPolicy, its rule set freed)
NETFENCE_TEST_FAIL_INSTALL=$TU "$NF" apply "$MNP" "$WORK/mnp-u.json" >/dev/null 2>&1
expect_eq "a failed apply: exit" "$?" 1
expect_eq "a failed apply: net1 judged by" "$(status_ep net1 rules)" NetworkPolicy
expect_eq "a failed apply: rule sets" "$("$NF" status --json | jq -c .rule_sets)" "[]"
expect_traffic "a failed apply: storage, NetworkPolicy port still" w tcp "$SRV_S" 8080 allowed
expect_traffic "a failed apply: storage, MNP port not yet" w tcp "$SRV_S" 9090 blocked
"$NF" apply "$MNP" "$WORK/mnp-u.json" >/dev/null || fail "apply the MultiNetworkPolicies"
expect_traffic "storage, MNP port" w tcp "$SRV_S" 9090 allowed
expect_traffic "storage, UDP allowed by the MNP" w udp "$SRV_S" 5454 allowed
expect_traffic "storage, NetworkPolicy port no longer" w tcp "$SRV_S" 8080 blocked
expect_traffic "primary, NetworkPolicy port still" w tcp "$SRV_P" 8080 allowed
expect_traffic "primary, MNP port not here" w tcp "$SRV_P" 9090 blocked
expect_traffic "u: storage, UDP the MNP allows" u udp "$SRV_S" 5454 allowed
expect_eq "u: the tracked flow, which the MNP does not allow, is revoked" "$(flow "$SRV_S" 5353)" timeout
expect_udp_dropped "u: storage, UDP the NetworkPolicy allows" "$SRV_S" 5353
expect_traffic "u: primary, UDP the NetworkPolicy allows" u udp "$SRV_P" 5353 allowed
expect_udp_dropped "u: primary, UDP the MNP allows on storage" "$SRV_P" 5454
expect_eq "net1 judged by" "$(status_ep net1 rules)" MultiNetworkPolicy
expect_eq "eth0 judged by" "$(status_ep eth0 rules)" NetworkPolicy
expect_eq "rule sets (status --json)" \
	"$("$NF" status --json | jq -c --arg t "$TA" '[.rule_sets[] | select(.tenant == $t) | [.network, .rules.egress]]')" \
	"[[\"$TA/$NET_S\",1]]"

log "check --network judges with that network's rules"
out=$("$NF" check --tenant "$TA" --direction egress --peer "$SRV_S" --port 9090 --network "$NET_S")
expect_eq "check storage 9090" "$(tail -1 <<<"$out")" \
	"allow: MultiNetworkPolicy $TA/storage-only, spec.egress[0]"
out=$("$NF" check --tenant "$TA" --direction egress --peer "$SRV_S" --port 8080 --network "$NET_S")
expect_eq "check storage 8080" "$(tail -1 <<<"$out")" \
	"deny: no rule of tenant $TA on network $TA/$NET_S allows egress to $SRV_S tcp/8080 (default deny; 1 egress rule installed)"
out=$("$NF" check --tenant "$TA" --direction egress --peer "$SRV_S" --port 8080 --network "$NET_P")
expect_eq "check primary 8080" "$(tail -1 <<<"$out")" "allow: policy $TA/egress-8080, spec.egress[0]"
"$NF" check --tenant "$TA" --direction egress --peer "$SRV_S" --port 1 --network 'a/b/c' 2>"$WORK/err"
expect_eq "check --network a/b/c: exit" "$?" 2
expect_eq "check --network a/b/c: one line" "$(wc -l <"$WORK/err")" 1

log "monitor names the network of a drop"
"$NF" monitor --json --count 1 --timeout 10 >"$WORK/mon.json" 2>"$WORK/mon.err" &
MON=$!
sleep 1	# monitor subscribes before the packet (it skips events older than its start)
probe u udp "$SRV_S" 5353 >/dev/null
wait "$MON"
expect_eq "monitor exit" "$?" 0
expect_eq "monitor event's network" "$(jq -r .network "$WORK/mon.json")" "$NET_S"
expect_eq "monitor event's interface" "$(jq -r '.ifname + " " + .reason' "$WORK/mon.json")" \
	"net1 policy_denied"

log "an invalid MultiNetworkPolicy changes nothing (exit 2, one line naming the path)"
sed 's|policy-for": "[^"]*"|policy-for": "a/b/c"|' "$MNP" >"$WORK/bad.json"
"$NF" apply "$WORK/bad.json" 2>"$WORK/err"
expect_eq "bad MNP: exit" "$?" 2
expect_eq "bad MNP: message" "$(cat "$WORK/err")" \
	"$WORK/bad.json: metadata.annotations[\"k8s.v1.cni.cncf.io/policy-for\"]: \"a/b/c\" is not a network name (expected NAME or NAMESPACE/NAME: NAME of letters, digits, '_', '.' and '-', at most 128, starting with a letter or digit; NAMESPACE a DNS-1123 label)"
expect_traffic "storage, MNP port still" w tcp "$SRV_S" 9090 allowed

log "attach --network: a bad name is refused before anything changes (exit 2, one line)"
before=$("$NF" status --json | jq -c '[.endpoints[].id]')
"$NF" attach --tenant "$TA" --iface lo --netns "$(netns_path "$P-srvp")" --network 'a/b/c' 2>"$WORK/err"
expect_eq "attach --network a/b/c: exit" "$?" 2
expect_eq "attach --network a/b/c: message" "$(cat "$WORK/err")" \
	"netfence attach: --network: \"a/b/c\" is not a network name (NAME or NAMESPACE/NAME: NAME of letters, digits, '_', '.' and '-', at most 128, starting with a letter or digit; NAMESPACE a DNS-1123 label)"
"$NF" attach --tenant "$TA" --cgroup /sys/fs/cgroup --network storage 2>/dev/null
expect_eq "attach --cgroup --network: exit (a cgroup has no network)" "$?" 2
expect_eq "endpoints unchanged" "$("$NF" status --json | jq -c '[.endpoints[].id]')" "$before"

log "a new pod on the storage network gets the rule set from its ADD on"
pod_add w2
cni ADD "$WORK/storage.conflist" w2 net1 "$TA" >/dev/null || fail "ADD w2 net1"
expect_eq "w2/net1 (status)" "$("$NF" status --json | jq -r --arg o "$P-w2/net1" '.endpoints[] | select(.owner == $o) | .rules')" MultiNetworkPolicy
expect_traffic "w2 storage, MNP port" w2 tcp "$SRV_S" 9090 allowed
expect_traffic "w2 storage, NetworkPolicy port" w2 tcp "$SRV_S" 8080 blocked

log "delete the MultiNetworkPolicy: storage goes back to the NetworkPolicy"
"$NF" delete "$TA/storage-only" >/dev/null || fail "delete the MNP"
expect_traffic "storage, NetworkPolicy port again" w tcp "$SRV_S" 8080 allowed
expect_traffic "storage, MNP port no longer" w tcp "$SRV_S" 9090 blocked
expect_eq "net1 judged by" "$(status_ep net1 rules)" NetworkPolicy
expect_eq "rule sets left" "$("$NF" status --json | jq -c '[.rule_sets[].tenant]')" "[\"$TU\"]"

log "apply --prune with the NetworkPolicies only: U's MultiNetworkPolicy and rule set go"
{ echo '{"apiVersion": "v1", "kind": "List", "items": ['; netpol "$TA"; echo ,; netpol "$TU"; echo ']}'; } >"$WORK/nps.json"
"$NF" apply --prune "$WORK/nps.json" >/dev/null
expect_eq "apply --prune: exit" "$?" 0
expect_eq "apply --prune: rule sets" "$("$NF" status --json | jq -c .rule_sets)" "[]"
expect_traffic "u: storage, UDP the NetworkPolicy allows, again" u udp "$SRV_S" 5353 allowed

log "DEL removes the endpoints"
cni DEL "$WORK/storage.conflist" u net1 "$TU" || fail "DEL u net1"
cni DEL "$WORK/primary.conflist" u eth0 "$TU" || fail "DEL u eth0"
cni DEL "$WORK/storage.conflist" w2 net1 "$TA" || fail "DEL w2"
cni DEL "$WORK/storage.conflist" w net1 "$TA" || fail "DEL w net1"
cni DEL "$WORK/primary.conflist" w eth0 "$TA" || fail "DEL w eth0"
expect_eq "endpoints left after DEL" "$(nf_my_endpoints)" 0
