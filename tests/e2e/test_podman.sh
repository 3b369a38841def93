#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# A real container runtime (SPEC §6, §12): Debian's podman with its CNI
# network backend and runc runs containers whose podman networks chain
# netfence-cni after bridge + host-local. Container c is attached to two
# podman networks, "primary" (covered by its tenant's NetworkPolicy) and
# "storage" (covered by a MultiNetworkPolicy): real traffic from it gets the
# right rules on each; `podman rm` removes its endpoints.
#
# Nothing of the host's podman changes: private containers.conf
# (CONTAINERS_CONF, default_ulimits within this session's hard limits),
# storage (--root/--runroot, vfs), network config dir and tmpdir under the
# test's work dir; podman runs in the test's node netns (its bridges and
# veths are there) and the test's private mount namespace, with its own
# /run/netns. The container's root file system is a busybox tree (--rootfs):
# no image, no registry.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

command -v podman >/dev/null || skip "podman not installed (scripts/install-deps.sh installs it)"
command -v runc >/dev/null || skip "runc not installed"
BUSYBOX=$(command -v busybox) || skip "busybox not installed (busybox-static)"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	skip "$BUSYBOX is not statically linked (busybox-static)"
# our own /run/netns: podman puts its container netns there (private mount namespace)
mount -t tmpfs -o mode=0755 tmpfs /run/netns || die "cannot mount a private /run/netns"

cni_setup
TA=$P-a
NET_P=$P-primary
NET_S=$P-storage
PD=$WORK/podman
mkdir -p "$PD"/{conf,root,runroot,tmp,rootfs} "$WORK/srvipam"

# the busybox tree
mkdir -p "$PD"/rootfs/{bin,etc,proc,sys,dev,tmp,run}
cp "$BUSYBOX" "$PD/rootfs/bin/busybox"
for a in sh sleep; do ln -s busybox "$PD/rootfs/bin/$a"; done

# default_ulimits at or below this session's hard limits (podman's default asks for 1048576)
NOFILE=$(ulimit -Hn)
NPROC=$(ulimit -Hu)
[ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 4096 ] && NOFILE=4096
[ "$NPROC" = unlimited ] || [ "$NPROC" -gt 4096 ] && NPROC=4096
cat >"$PD/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
log_driver = "k8s-file"
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI_DIR", "$WORK/bin"]
network_config_dir = "$PD/conf"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PD/tmp"
EOF
export CONTAINERS_CONF=$PD/containers.conf
export CONTAINERS_STORAGE_CONF=$PD/storage.conf
printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' "$PD/runroot" "$PD/root" \
	>"$CONTAINERS_STORAGE_CONF"
pm() {
	in_ns "$NODE" podman --root "$PD/root" --runroot "$PD/runroot" --storage-driver vfs \
		--tmpdir "$PD/tmp" --network-config-dir "$PD/conf" --cgroup-manager cgroupfs \
		--events-backend file --runtime runc "$@"
}
# containers' cgroups under one of the test's own (cgroupfs manager)
CGP=/$P
podman_cleanup() {
	local rc=$?
	pm rm -af -t 0 >/dev/null 2>&1
	[ -d "/sys/fs/cgroup$CGP" ] && rmdir "/sys/fs/cgroup$CGP" 2>/dev/null
	(exit "$rc")	# cni_cleanup exits with the status the test ended with
	cni_cleanup
}
trap podman_cleanup EXIT

# Two podman networks, each a bridge + host-local chain with netfence-cni
# (podman sets no K8S_POD_NAMESPACE: the "tenant" key names the tenant).
# podnet NAME BRIDGE SUBNET
podnet() {
	jq -n --arg n "$1" --arg br "$2" --arg sub "$3" --arg t "$TA" '
	{cniVersion: "1.0.0", name: $n, plugins: [
	  {type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	   ipam: {type: "host-local", ranges: [[{subnet: $sub, rangeStart: ($sub | sub("0/24$"; "10")),
	                                         rangeEnd: ($sub | sub("0/24$"; "99"))}]]}},
	  {type: "netfence-cni", tenant: $t}]}' >"$PD/conf/$1.conflist"
}
podnet "$NET_P" "${IFP}b1" 10.128.0.0/24
podnet "$NET_S" "${IFP}b2" 10.129.0.0/24
got=$(pm network ls --format '{{.Name}}' 2>&1 | grep -c "^$P-")
[ "$got" = 2 ] || skip "podman does not list the CNI networks of $PD/conf: $(pm network ls 2>&1 | head -3)"

# Servers on both bridges, unfenced (the runner of lib/cni.sh, no netfence-cni).
srvnet() { # srvnet NAME BRIDGE SUBNET
	jq -n --arg n "$1-srv" --arg br "$2" --arg sub "$3" --arg d "$WORK/srvipam" '
	{cniVersion: "1.0.0", name: $n, plugins: [
	  {type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
	   ipam: {type: "host-local", dataDir: $d,
	          ranges: [[{subnet: $sub, rangeStart: ($sub | sub("0/24$"; "100")),
	                     rangeEnd: ($sub | sub("0/24$"; "199"))}]]}}]}' >"$WORK/$1-srv.conflist"
}
srvnet "$NET_P" "${IFP}b1" 10.128.0.0/24
srvnet "$NET_S" "${IFP}b2" 10.129.0.0/24
pod_add srvp
pod_add srvs
cni ADD "$WORK/$NET_P-srv.conflist" srvp eth0 "" >/dev/null || die "ADD srvp"
cni ADD "$WORK/$NET_S-srv.conflist" srvs eth0 "" >/dev/null || die "ADD srvs"
SRV_P=$(pod_ip "$WORK/$NET_P-srv.conflist" srvp eth0)
SRV_S=$(pod_ip "$WORK/$NET_S-srv.conflist" srvs eth0)
for pod in srvp srvs; do
	start_server "$pod" tcp:8080 tcp:9090
	wait_server "$pod" 8080
done

log "podman run: container c on $NET_P and $NET_S (runc, --rootfs busybox)"
if ! pm run -d --cgroup-parent "$CGP" --name "$P-c" --network "$NET_P" --network "$NET_S" --rootfs "$PD/rootfs" \
	/bin/sleep 600 >"$WORK/run.out" 2>&1; then
	cat "$WORK/run.out"
	fail "podman run"
	exit 1
fi
CPID=$(pm inspect -f '{{.State.Pid}}' "$P-c")
[ -n "$CPID" ] && [ "$CPID" != 0 ] || die "no pid for the container"
# cprobe PROTO HOST PORT: traffic from the container's network namespace
cprobe() { nsenter --net="/proc/$CPID/ns/net" "$PYTHON" "$WORK/probe.py" "$1" "$2" "$3" 1 2>&1; }
# expect_c LABEL HOST PORT allowed|blocked
expect_c() {
	local res got
	for _ in 1 2 3; do
		res=$(cprobe tcp "$2" "$3")
		[ "$4" = blocked ] || [ "$res" = ok ] && break
		sleep 0.3
	done
	case "$res" in ok) got=allowed ;; timeout | denied) got=blocked ;; *) got="reached($res)" ;; esac
	expect_eq "$1 (tcp/$3 -> $2)" "$got" "$4"
}
# c's endpoints as netfence sees them: "network rules" lines, sorted (podman
# names the interfaces eth0, eth1 in no fixed order of the networks)
c_eps() {
	"$NETFENCE" status --json | jq -r --arg t "$TA" \
		'.endpoints[] | select(.tenant == $t) | "\(.network) \(.rules)"' | sort
}
expect_eq "c's endpoints" "$(c_eps)" "$NET_P NetworkPolicy
$NET_S NetworkPolicy"
expect_c "no policy: default deny (primary)" "$SRV_P" 8080 blocked
expect_c "no policy: default deny (storage)" "$SRV_S" 9090 blocked

log "tenant $TA: NetworkPolicy TCP 8080 anywhere; MultiNetworkPolicy for $NET_S: TCP 9090 only"
nf_apply <<EOF
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "egress-8080", "namespace": "$TA"},
  "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
   "egress": [{"ports": [{"protocol": "TCP", "port": 8080}]}]}},
 {"apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
  "metadata": {"name": "storage-9090", "namespace": "$TA",
   "annotations": {"k8s.v1.cni.cncf.io/policy-for": "$NET_S"}},
  "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
   "egress": [{"to": [{"ipBlock": {"cidr": "10.129.0.0/24"}}],
               "ports": [{"protocol": "TCP", "port": 9090}]}]}}]}
EOF
expect_c "primary: the NetworkPolicy's port" "$SRV_P" 8080 allowed
expect_c "primary: not the MNP's port" "$SRV_P" 9090 blocked
expect_c "storage: the MNP's port" "$SRV_S" 9090 allowed
expect_c "storage: not the NetworkPolicy's port" "$SRV_S" 8080 blocked
expect_eq "c's endpoints" "$(c_eps)" "$NET_P NetworkPolicy
$NET_S MultiNetworkPolicy"

log "a second container on the storage network only"
pm run -d --cgroup-parent "$CGP" --name "$P-d" --network "$NET_S" --rootfs "$PD/rootfs" /bin/sleep 600 >/dev/null 2>&1 ||
	fail "podman run d"
DPID=$(pm inspect -f '{{.State.Pid}}' "$P-d")
res=$(nsenter --net="/proc/$DPID/ns/net" "$PYTHON" "$WORK/probe.py" tcp "$SRV_S" 9090 2 2>&1)
expect_eq "d, storage: the MNP's port" "$res" ok
res=$(nsenter --net="/proc/$DPID/ns/net" "$PYTHON" "$WORK/probe.py" tcp "$SRV_S" 8080 1 2>&1)
expect_eq "d, storage: not the NetworkPolicy's port" "$res" timeout

log "podman rm removes the endpoints"
pm rm -f -t 0 "$P-c" "$P-d" >/dev/null || fail "podman rm"
expect_eq "tenant $TA's endpoints after podman rm" "$(c_eps | grep -c . || true)" 0
