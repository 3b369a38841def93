# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The CNI rows: bridge ADD alone vs bridge + netfence-cni ADD (bench_cni).
# A namespace nfb-cnihost stands in for the host (the bridge nfb-br0 and the
# host ends of the veths live there, never in the real host namespace);
# pods are nfb-pod0..nfb-pod(P-1), reused after each DEL.
# Sourced by bench/run.sh (needs common.sh).

CNI_TENANT=${TENANT_PREFIX}cni
CNI_BIN_DIR=${CNI_BIN_DIR:-/usr/lib/cni}

# bench_cni COUNT PARALLEL
bench_cni() {
	local count=$1 par=$2 i host=${NS_PREFIX}cnihost
	if [ ! -x "$CNI_BIN_DIR/bridge" ]; then
		row "CNI ADD overhead over bridge" "n/a (no $CNI_BIN_DIR/bridge)" n/a n/a \
			"≤ 1.50x bridge" n/a
		return
	fi
	netns_add "$host"
	for ((i = 0; i < par; i++)); do netns_add "${NS_PREFIX}pod$i"; done
	nf_tenant_used "$CNI_TENANT"
	log "CNI: $count ADDs sequential, $count in batches of $par, each with and without netfence-cni"
	in_ns "$host" "$BENCH_BIN/bench_cni" --count "$count" --parallel "$par" \
		--cni-path "$CNI_BIN_DIR" --bridge "$CNI_BIN_DIR/bridge" \
		--plugin "$(realpath "$OUT/netfence-cni")" --tenant "$CNI_TENANT" \
		--netns-prefix "/var/run/netns/${NS_PREFIX}pod" --ipam-dir "$WORK/cni-ipam" \
		>"$WORK/cni.rows" 2>"$WORK/cni.err"
	rows_from "$WORK/cni.rows"
	for ((i = 0; i < par; i++)); do netns_del "${NS_PREFIX}pod$i"; done
	netns_del "$host"
}
