# Shared by the observability e2e tests (metrics, monitor, policy-dir):
# result reporting into FAILS, netns entry without remounting /sys, a free
# loopback port. Source it after setting FAILS=0. Only in a private mount
# namespace of lib/private.sh (lib/common.sh); reset with nf_reset.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
nf_require_private
log() { echo "# $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FATAL: $*" >&2; exit 1; }
skip() { nf_skip "$@"; }	# exit 77: tests/run.sh counts it as skipped
in_ns() { local ns=$1; shift; nsenter --net="/var/run/netns/$ns" "$@"; }
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pair_setup: namespaces $NSA and $NSB (IPv6 off) joined by the veth pair
# ${IFP}a / ${IFP}b with $A/24 and $B/24, and static neighbour entries both
# ways so no ARP precedes the packets a test counts. Sets MAC_A, MAC_B and
# IFINDEX_A (of ${IFP}a in $NSA).
pair_setup() {
	local ns
	ip netns add "$NSA" && ip netns add "$NSB" || die "cannot create netns"
	for ns in "$NSA" "$NSB"; do
		in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
		in_ns "$ns" ip link set lo up
	done
	in_ns "$NSA" ip link add "${IFP}a" type veth peer name "${IFP}b" netns "$NSB" || die "veth"
	in_ns "$NSA" ip addr add "$A/24" dev "${IFP}a"
	in_ns "$NSB" ip addr add "$B/24" dev "${IFP}b"
	in_ns "$NSA" ip link set "${IFP}a" up
	in_ns "$NSB" ip link set "${IFP}b" up
	MAC_A=$(in_ns "$NSA" ip -j link show dev "${IFP}a" | jq -r ".[0].address")
	MAC_B=$(in_ns "$NSB" ip -j link show dev "${IFP}b" | jq -r ".[0].address")
	IFINDEX_A=$(in_ns "$NSA" ip -j link show dev "${IFP}a" | jq -r ".[0].ifindex")
	in_ns "$NSA" ip neigh replace "$B" lladdr "$MAC_B" dev "${IFP}a" nud permanent
	in_ns "$NSB" ip neigh replace "$A" lladdr "$MAC_A" dev "${IFP}b" nud permanent
}
