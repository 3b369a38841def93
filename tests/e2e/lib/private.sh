#!/usr/bin/env bash
# Run an end-to-end test in a private mount namespace (tests/run.sh starts it
# under `unshare --mount --propagation private`): its own bpffs at
# /sys/fs/bpf, its own /run/netfence and /var/lib/cni (host-local IPAM), so
# its `netfence reset` and its CNI calls can't touch the node's real netfence
# state or another test's, and theirs can't touch it. Network namespaces,
# interfaces and cgroups stay global: tests use only ones they create.
# It exports NF_TEST_PRIVATE_NS, this namespace's id, once the mounts are in
# place: the e2e libraries (lib/common.sh) refuse to run anywhere else.
# Usage: private.sh CMD...
set -u
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt 2>/dev/null)" ]; then
	echo "private.sh: not in a private mount namespace" >&2
	exit 1
fi
mount -t bpf bpf /sys/fs/bpf || { echo "private.sh: cannot mount a private bpffs" >&2; exit 1; }
for d in /run/netfence /var/lib/cni; do
	mkdir -p "$d" && mount -t tmpfs -o mode=0700 tmpfs "$d" ||
		{ echo "private.sh: cannot mount a private $d" >&2; exit 1; }
done
NF_TEST_PRIVATE_NS=$(readlink /proc/self/ns/mnt) || exit 1
export NF_TEST_PRIVATE_NS
export NF_CG_PRIVATE=1	# test_cgroup.sh: already private
exec "$@"
