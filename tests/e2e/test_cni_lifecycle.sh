#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# netfence-cni lifecycle as a runtime drives it (SPEC §6 and the CNI spec):
# VERSION; error codes (no prevResult, no tenant, bad version, bad JSON, bad
# env, unknown netns); the tenant source (K8S_POD_NAMESPACE, else the
# config's "tenant"; a config naming another tenant is refused); ADD -> CHECK -> DEL -> DEL again; CHECK noticing a
# missing endpoint or detached programs; DEL after the netns is gone and
# without CNI_NETNS; prevResult in the 0.4.0 and 1.0.0 shapes; GC (scoped to
# its network); STATUS;
# 20 parallel ADDs then DELs leaving no endpoint and no tc program behind.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
T=$P-t
CONF=$WORK/bridge.conflist
# shellcheck disable=SC2016
write_conflist "$CONF" "$P-net" 1.0.0 "$(jq -n --arg br "${IFP}br" --arg d "$WORK/ipam" '{
	type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: "10.126.0.0/16"}]]}}')"
CONF04=$WORK/bridge04.conflist
jq '.cniVersion = "0.4.0" | .name += "-04"' "$CONF" >"$CONF04"

# nf_conf VERSION [EXTRA_JSON]: a netfence-cni network config.
nf_conf() {
	jq -cn --arg v "$1" --arg name "$P-net" --argjson x "${2:-{\}}" \
		'{cniVersion: $v, name: $name, type: "netfence-cni"} + $x'
}
# expect_code WHAT WANT_CODE -- COMMAND...: exits non-zero, the JSON's code.
expect_code() {
	local what=$1 want=$2 out rc
	shift 3
	out=$("$@" 2>"$WORK/stderr")
	rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$what: exit 0, want error code $want (stdout: $out)"
		return
	fi
	expect_eq "$what: error code" "$(jq -r .code <<<"$out" 2>/dev/null)" "$want"
	jq -e 'has("msg") and has("cniVersion")' <<<"$out" >/dev/null ||
		fail "$what: error JSON lacks msg/cniVersion: $out"
}
owned() { nf_owners | grep -cx "$P-$1/${2:-eth0}" || true; }

log "VERSION"
for v in 0.4.0 1.0.0 1.1.0; do
	out=$(nfcni VERSION "" "" "" <<<"{\"cniVersion\":\"$v\"}")
	expect_eq "VERSION ($v) cniVersion" "$(jq -r .cniVersion <<<"$out")" "$v"
	expect_eq "VERSION ($v) supportedVersions" "$(jq -c .supportedVersions <<<"$out")" \
		'["0.4.0","1.0.0","1.1.0"]'
done
out=$(nfcni VERSION "" "" "" </dev/null)
expect_eq "VERSION without config" "$(jq -r .cniVersion <<<"$out")" 1.1.0

log "errors, before any datapath is needed"
pod_add e1
PREV='{"prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.126.9.9/16"}]}}'
expect_code "ADD without prevResult" 7 -- \
	nfcni ADD e1 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0)"
expect_code "ADD without tenant" 7 -- \
	nfcni ADD e1 eth0 "IgnoreUnknown=1;K8S_POD_NAME=x" <<<"$(nf_conf 1.0.0 "$PREV")"
grep -q K8S_POD_NAMESPACE "$WORK/stderr" || fail "no-tenant error does not name K8S_POD_NAMESPACE"
expect_code "ADD with an invalid tenant" 7 -- \
	nfcni ADD e1 eth0 "" <<<"$(nf_conf 1.0.0 "$(jq -c '. + {tenant: "Not_A_Label"}' <<<"$PREV")")"
expect_code "ADD with cniVersion 0.3.1" 1 -- \
	nfcni ADD e1 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 0.3.1 "$PREV")"
expect_code "ADD with a config that is not JSON" 6 -- \
	nfcni ADD e1 eth0 "K8S_POD_NAMESPACE=$T" <<<'{"cniVersion": '
expect_code "ADD without CNI_CONTAINERID" 4 -- \
	nfcni ADD "" eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "$PREV")"
NETNS_OVERRIDE=/var/run/netns/$P-nonexistent expect_code "ADD with an unknown netns" 3 -- \
	nfcni ADD e1 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "$PREV")"
expect_code "CHECK without prevResult" 7 -- \
	nfcni CHECK e1 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0)"
expect_code "unknown CNI_COMMAND" 4 -- nfcni FROB e1 eth0 "" <<<"$(nf_conf 1.0.0)"

log "ADD -> CHECK -> DEL -> DEL (1.0.0 chain)"
pod_add p1
out=$(cni ADD "$CONF" p1 eth0 "$T") || fail "ADD p1"
expect_eq "ADD result cniVersion" "$(jq -r .cniVersion <<<"$out")" 1.0.0
expect_eq "ADD result: 1.0.0 ips carry no version" "$(jq '[.ips[] | has("version")] | any' <<<"$out")" false
expect_eq "endpoint registered for $P-p1/eth0" "$(owned p1)" 1
expect_eq "tc programs attached" "$(tc_filters p1 eth0)" 2
cni CHECK "$CONF" p1 eth0 "$T" >/dev/null || fail "CHECK p1 after ADD"
P1_RESULT=$out
cni DEL "$CONF" p1 eth0 "$T" || fail "DEL p1"
expect_eq "endpoint gone after DEL" "$(owned p1)" 0
cni DEL "$CONF" p1 eth0 "$T" || fail "second DEL p1 (no cached result: no prevResult)"
expect_code "CHECK after DEL" 101 -- \
	nfcni CHECK p1 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "{\"prevResult\": $P1_RESULT}")"

log "netfence-cni DEL alone: programs go, the interface stays; CHECK notices"
pod_add p2
out=$(cni ADD "$CONF" p2 eth0 "$T") || fail "ADD p2"
nfcni DEL p2 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0)" || fail "netfence-cni DEL p2"
expect_eq "tc programs after DEL" "$(tc_filters p2 eth0)" 0
in_ns "$P-p2" ip link show eth0 >/dev/null 2>&1 || fail "DEL removed the interface"
expect_eq "endpoint gone after DEL" "$(owned p2)" 0
expect_code "CHECK of a removed endpoint" 101 -- \
	nfcni CHECK p2 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "{\"prevResult\": $out}")"
nfcni DEL p2 eth0 "" <<<"$(nf_conf 1.0.0)" || fail "DEL of an endpoint already gone"
cni DEL "$CONF" p2 eth0 "$T" || fail "DEL p2 chain"

log "CHECK notices detached programs"
pod_add p3
out=$(cni ADD "$CONF" p3 eth0 "$T") || fail "ADD p3"
tc_strip p3 eth0 || fail "cannot detach p3's programs"
expect_eq "programs left after stripping them" "$(tc_filters p3 eth0)" 0
expect_code "CHECK with programs detached" 101 -- \
	nfcni CHECK p3 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "{\"prevResult\": $out}")"
expect_code "CHECK in another tenant" 101 -- \
	nfcni CHECK p3 eth0 "K8S_POD_NAMESPACE=$T-other" <<<"$(nf_conf 1.0.0 "{\"prevResult\": $out}")"
cni DEL "$CONF" p3 eth0 "$T" || fail "DEL p3"
expect_eq "endpoint gone after DEL" "$(owned p3)" 0

log "tenant source: K8S_POD_NAMESPACE wins; the config's \"tenant\" only without it"
# tenant_of POD: the tenant of the pod's endpoint ("" when it has none)
tenant_of() {
	"$NETFENCE" status --json 2>/dev/null |
		jq -r --arg o "$P-$1/eth0" '[.endpoints[] | select(.owner == $o) | .tenant][0] // ""'
}
pod_add s1
out=$(cni ADD "$CONF" s1 eth0 "$T") || fail "ADD s1"
R_S1=$out
expect_eq "env alone: the pod's namespace is the tenant" "$(tenant_of s1)" "$T"
expect_code "config \"tenant\" naming another tenant than K8S_POD_NAMESPACE" 7 -- \
	nfcni ADD s1 eth0 "K8S_POD_NAMESPACE=$T-x" \
	<<<"$(nf_conf 1.0.0 "{\"prevResult\": $R_S1, \"tenant\": \"$T\"}")"
grep -q "\"$T\" is not the pod's namespace \"$T-x\"" "$WORK/stderr" ||
	fail "the mismatch error does not name both tenants: $(head -c 300 "$WORK/stderr")"
expect_eq "refused ADD left the endpoint in its tenant" "$(tenant_of s1)" "$T"
pod_add s2
in_ns "$P-s2" ip link add eth0 type veth peer name eth0p && in_ns "$P-s2" ip link set eth0 up
S2_PREV='{"prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.126.9.2/16"}]}}'
expect_code "mismatch on a fresh pod" 7 -- \
	nfcni ADD s2 eth0 "K8S_POD_NAMESPACE=$T" \
	<<<"$(nf_conf 1.0.0 "$(jq -c --arg t "$T-other" '. + {tenant: $t}' <<<"$S2_PREV")")"
expect_eq "mismatch: no endpoint" "$(owned s2)" 0
expect_eq "mismatch: no programs" "$(tc_filters s2 eth0)" 0
"$NETFENCE" status --json | jq -e --arg t "$T-other" '[.tenants[] | select(.name == $t)] == []' \
	>/dev/null || fail "mismatch: the refused tenant $T-other got an id"
out=$(nfcni ADD s2 eth0 "IgnoreUnknown=1;K8S_POD_NAME=s2" \
	<<<"$(nf_conf 1.0.0 "$(jq -c --arg t "$T-cfg" '. + {tenant: $t}' <<<"$S2_PREV")")") ||
	fail "config \"tenant\" alone: ADD failed: $out"
expect_eq "config alone: its \"tenant\" is the tenant" "$(tenant_of s2)" "$T-cfg"
out=$(nfcni ADD s2 eth0 "K8S_POD_NAMESPACE=$T-cfg" \
	<<<"$(nf_conf 1.0.0 "$(jq -c --arg t "$T-cfg" '. + {tenant: $t}' <<<"$S2_PREV")")") ||
	fail "config \"tenant\" equal to K8S_POD_NAMESPACE: ADD failed: $out"
expect_eq "both, the same: that tenant" "$(tenant_of s2)" "$T-cfg"
nfcni DEL s2 eth0 "" <<<"$(nf_conf 1.0.0)" || fail "DEL s2"
cni DEL "$CONF" s1 eth0 "$T" || fail "DEL s1"
expect_eq "endpoints of s1, s2 gone" "$(( $(owned s1) + $(owned s2) ))" 0

log "NETFENCE_TC_HOOK: a bad value fails and attaches nothing"
pod_add h1
NETFENCE_TC_HOOK=bogus expect_code "ADD with NETFENCE_TC_HOOK=bogus" 4 -- \
	nfcni ADD h1 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "{\"prevResult\": $P1_RESULT}")"
grep -q 'NETFENCE_TC_HOOK="bogus": must be clsact or tcx' "$WORK/stderr" ||
	fail "the plugin does not name the bad setting: $(head -c 300 "$WORK/stderr")"
in_ns "$P-h1" ip link add eth0 type veth peer name eth0p && in_ns "$P-h1" ip link set eth0 up
NETFENCE_TC_HOOK=bogus "$NETFENCE" attach --tenant "$T" --iface eth0 \
	--netns "$(netns_path "$P-h1")" >/dev/null 2>"$WORK/stderr"
expect_eq "netfence attach with NETFENCE_TC_HOOK=bogus: exit code" "$?" 2
expect_eq "endpoint after the refused attach" "$(owned h1)" 0
expect_eq "programs after the refused attach" "$(tc_filters h1 eth0)" 0

log "0.4.0 chain and prevResult shape conversion"
pod_add p4
out=$(cni ADD "$CONF04" p4 eth0 "$T") || fail "ADD p4 (0.4.0)"
expect_eq "0.4.0 result cniVersion" "$(jq -r .cniVersion <<<"$out")" 0.4.0
expect_eq "0.4.0 result ips carry version" "$(jq -c '[.ips[].version]' <<<"$out")" '["4"]'
cni CHECK "$CONF04" p4 eth0 "$T" >/dev/null || fail "CHECK p4 (0.4.0)"
R040=$out
R100=$(jq -c '.cniVersion = "1.0.0" | .ips |= map(del(.version))' <<<"$R040")
# a 1.0.0 config holding a 0.4.0-shaped prevResult: printed in 1.0.0
out=$(nfcni ADD p4 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 1.0.0 "{\"prevResult\": $R040}")") ||
	fail "ADD 1.0.0 with 0.4.0-shaped prevResult"
expect_eq "converted to 1.0.0" "$(jq -S -c . <<<"$out")" "$(jq -S -c . <<<"$R100")"
# a 0.4.0 config holding a 1.0.0-shaped prevResult: printed in 0.4.0
out=$(nfcni ADD p4 eth0 "K8S_POD_NAMESPACE=$T" <<<"$(nf_conf 0.4.0 "{\"prevResult\": $R100}")") ||
	fail "ADD 0.4.0 with 1.0.0-shaped prevResult"
expect_eq "converted to 0.4.0" "$(jq -S -c . <<<"$out")" "$(jq -S -c . <<<"$R040")"
expect_eq "repeated ADD: still one endpoint" "$(owned p4)" 1
cni DEL "$CONF04" p4 eth0 "$T" || fail "DEL p4 (0.4.0)"
expect_eq "endpoint gone after DEL" "$(owned p4)" 0

log "DEL after the netns is gone, and without CNI_NETNS"
pod_add p5
pod_add p6
cni ADD "$CONF" p5 eth0 "$T" >/dev/null || fail "ADD p5"
cni ADD "$CONF" p6 eth0 "$T" >/dev/null || fail "ADD p6"
ip netns del "$P-p5"
cni DEL "$CONF" p5 eth0 "$T" || fail "DEL p5 after its netns was deleted"
expect_eq "endpoint gone after DEL (netns deleted)" "$(owned p5)" 0
NETNS_OVERRIDE="" nfcni DEL p6 eth0 "" <<<"$(nf_conf 1.0.0)" || fail "DEL p6 without CNI_NETNS"
expect_eq "endpoint gone after DEL (no CNI_NETNS)" "$(owned p6)" 0
cni DEL "$CONF" p6 eth0 "$T" || fail "DEL p6 chain"

# The DEL finds its endpoint by the owner index (/run/netfence/endpoints/.index/
# o-<container id>@<ifname>), not by reading every record; where the index has
# no entry and this network's marker (/run/netfence/cni/<network>/<id>@<ifname>)
# says it was added (a record of a build before the owner index), by every
# record; an index without .index/complete.2 is rebuilt first.
log "DEL by the owner index, and without it"
IDX=/run/netfence/endpoints/.index
MARK=/run/netfence/cni/$P-net
for p in p7 p8 p9; do
	pod_add "$p"
	cni ADD "$CONF" "$p" eth0 "$T" >/dev/null || fail "ADD $p"
	[ -s "$IDX/o-$P-$p@eth0" ] && [ -e "$MARK/$P-$p@eth0" ] ||
		fail "ADD $p: no owner index entry or no marker"
done
rm -f "$MARK/$P-p7@eth0"	# found by the index alone
cni DEL "$CONF" p7 eth0 "$T" || fail "DEL p7"
expect_eq "DEL without its marker: endpoint gone (owner index)" "$(owned p7)" 0
[ -e "$IDX/o-$P-p7@eth0" ] && fail "DEL p7 left its owner index entry"
rm -f "$IDX/o-$P-p8@eth0"	# a record without an entry: the marker sends DEL to every record
cni DEL "$CONF" p8 eth0 "$T" || fail "DEL p8"
expect_eq "DEL without an owner index entry: endpoint gone (marker, every record)" "$(owned p8)" 0
rm -f "$IDX/o-$P-p9@eth0" "$IDX/complete.2" "$MARK/$P-p9@eth0"	# an index of an older build
cni DEL "$CONF" p9 eth0 "$T" || fail "DEL p9"
expect_eq "DEL with the index incomplete: endpoint gone (index rebuilt)" "$(owned p9)" 0
[ -e "$IDX/complete.2" ] || fail "index not marked complete.2 after its rebuild"

log "GC and STATUS (1.1.0)"
pod_add g1
pod_add g2
cni ADD "$CONF" g1 eth0 "$T" >/dev/null || fail "ADD g1"
cni ADD "$CONF" g2 eth0 "$T" >/dev/null || fail "ADD g2"
pod_add g3	# on another network: not this GC's to judge
cni ADD "$CONF04" g3 eth0 "$T" >/dev/null || fail "ADD g3"
GCX=$(jq -cn --arg c "$P-g1" '{"cni.dev/valid-attachments": [{containerID: $c, ifname: "eth0"}]}')
expect_code "GC with cniVersion 1.0.0" 1 -- nfcni GC "" "" "" <<<"$(nf_conf 1.0.0 "$GCX")"
expect_eq "GC 1.0.0 removed nothing" "$(owned g2)" 1
out=$(nfcni GC "" "" "" <<<"$(nf_conf 1.1.0 "$GCX")") || fail "GC"
expect_eq "GC prints nothing" "$out" ""
expect_eq "GC kept the valid attachment" "$(owned g1)" 1
expect_eq "GC removed the stale endpoint" "$(owned g2)" 0
expect_eq "GC detached the stale endpoint's programs" "$(tc_filters g2 eth0)" 0
expect_eq "GC left another network's endpoint" "$(owned g3)" 1
out=$(nfcni GC "" "" "" <<<"$(nf_conf 1.1.0 '{"cni.dev/valid-attachments": []}' |
	jq -c '.name += "-04"')") || fail "GC of the other network"
expect_eq "that network's GC removed it" "$(owned g3)" 0
expect_eq "and kept this network's" "$(owned g1)" 1
out=$(nfcni STATUS "" "" "" <<<"$(nf_conf 1.1.0)") || fail "STATUS"
expect_eq "STATUS prints nothing" "$out" ""
expect_code "STATUS with cniVersion 1.0.0" 1 -- nfcni STATUS "" "" "" <<<"$(nf_conf 1.0.0)"
cni DEL "$CONF" g1 eth0 "$T" || fail "DEL g1"
cni DEL "$CONF" g2 eth0 "$T" || fail "DEL g2"
cni DEL "$CONF04" g3 eth0 "$T" || fail "DEL g3"

log "20 parallel ADDs, then 20 parallel DELs"
N=20
for i in $(seq $N); do pod_add "q$i"; done
pids=()
for i in $(seq $N); do
	cni ADD "$CONF" "q$i" eth0 "$T" >"$WORK/add-q$i.out" 2>"$WORK/add-q$i.err" &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
expect_eq "parallel ADDs failed" "$bad" 0
[ "$bad" -eq 0 ] || cat "$WORK"/add-q*.err | head -20
expect_eq "endpoints after parallel ADDs" "$(nf_owners | grep -c "^$P-q[0-9]*/eth0$")" $N
attached=0
for i in $(seq $N); do [ "$(tc_filters "q$i" eth0)" = 2 ] && attached=$((attached + 1)); done
expect_eq "pods with both programs attached" "$attached" $N
pids=()
for i in $(seq $N); do
	cni DEL "$CONF" "q$i" eth0 "$T" >/dev/null 2>"$WORK/del-q$i.err" &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
expect_eq "parallel DELs failed" "$bad" 0
expect_eq "endpoints after parallel DELs" "$(nf_my_endpoints)" 0
left=0
for i in $(seq $N); do left=$((left + $(tc_filters "q$i" eth0))); done
expect_eq "tc programs left" "$left" 0
