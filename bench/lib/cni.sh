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
	# the same with the plugin attaching through tcx: what that hook's RCU
	# waits (under RTNL) would cost an ADD (README: why clsact is the default)
	log "CNI: the same with NETFENCE_TC_HOOK=tcx ($CNI_TCX_COUNT ADDs each way)"
	NETFENCE_TC_HOOK=tcx in_ns "$host" "$BENCH_BIN/bench_cni" --count "$CNI_TCX_COUNT" \
		--parallel "$par" --cni-path "$CNI_BIN_DIR" --bridge "$CNI_BIN_DIR/bridge" \
		--plugin "$(realpath "$OUT/netfence-cni")" --tenant "$CNI_TENANT" \
		--netns-prefix "/var/run/netns/${NS_PREFIX}pod" --ipam-dir "$WORK/cni-ipam" \
		--tag "attached through tcx" >"$WORK/cni-tcx.rows" 2>>"$WORK/cni.err"
	rows_from "$WORK/cni-tcx.rows"
	for ((i = 0; i < par; i++)); do netns_del "${NS_PREFIX}pod$i"; done
	netns_del "$host"
}

# ---- CNI ADD with 1,000 endpoints on the node vs on an empty node ----
# The endpoints are real: veth pairs whose pod ends are in nfb-eps (one
# namespace for all, cheaper than 1,000) and whose host ends are in
# nfb-cnihost beside the bench pod's, each attached with `netfence attach`
# (a record, its index entry, map entries, tc programs on the host end).
# They are attached through tcx (NETFENCE_TC_HOOK=tcx): where the default
# deployment's serve moves every veth endpoint a second after its ADD, with
# the clsact qdisc the ADD made removed. BENCH_CNI_SCALE_HOOK=clsact leaves
# them on clsact instead, as on a node without serve.
# Samples: netfence-cni's own ADD (bench_cni --samples: wall and CPU
# time; the target is on wall time, p50), half before the
# endpoints are added, all of them while they are there, the other half
# after they are gone again, so a drift of the machine's load cancels out.

SCALE_NS=${NS_PREFIX}eps
SCALE_TENANT=${TENANT_PREFIX}eps
SCALE_EPS_FILE=$WORK/scale-eps	# attached interfaces, for cleanup_scale_eps
SCALE_HOOK=${BENCH_CNI_SCALE_HOOK:-tcx}

# scale_eps_add COUNT: COUNT endpoints eN in $SCALE_NS, host ends hN in the host stand-in.
scale_eps_add() {
	local n=$1 host=${NS_PREFIX}cnihost i
	netns_add "$SCALE_NS"
	for ((i = 0; i < n; i++)); do
		echo "link add e$i type veth peer name h$i netns $host"
		echo "addr add 10.202.$((i / 250)).$((i % 250 + 1))/32 dev e$i"
		echo "link set e$i up"
	done | ip -n "$SCALE_NS" -b - || return 1
	ip -n "$host" -b - < <(for ((i = 0; i < n; i++)); do echo "link set h$i up"; done) || return 1
	for ((i = 0; i < n; i++)); do
		in_ns "$host" env NETFENCE_TC_HOOK="$SCALE_HOOK" "$NF" attach --tenant "$SCALE_TENANT" \
			--iface "e$i" --netns "/var/run/netns/$SCALE_NS" >/dev/null 2>"$WORK/cmd.err" ||
			return 1
		echo "e$i" >>"$SCALE_EPS_FILE"
	done
}

# Detach what scale_eps_add attached (also from cleanup), then drop its namespace.
cleanup_scale_eps() {
	[ -s "$SCALE_EPS_FILE" ] && [ -x "$NF" ] &&
		xargs -r -P 2 -I{} nsenter --net="/var/run/netns/${NS_PREFIX}cnihost" "$NF" detach \
			--iface {} --netns "/var/run/netns/$SCALE_NS" <"$SCALE_EPS_FILE" >/dev/null 2>&1
	rm -f "$SCALE_EPS_FILE"
	netns_del "$SCALE_NS"
}

# scale_settle HOST: wait (at most 60 s) until the kernel has destroyed the
# endpoints' veths, which it does in the background after their namespace
# is deleted, then 2 s more. Without it the samples on the node as it was
# again ran beside that teardown: they came out 10-20% slower than those
# before, and the row's ratio came out as low as 0.84x.
scale_settle() {
	local i
	for ((i = 0; i < 600; i++)); do
		ip -n "$1" -o link show 2>/dev/null | grep -q ': h[0-9]*@' || break
		sleep 0.1
	done
	sleep 2
}

# scale_samples COUNT FILE: netfence-cni ADD times (ms: wall CPU), a line each, appended to FILE.
scale_samples() {
	in_ns "${NS_PREFIX}cnihost" "$BENCH_BIN/bench_cni" --samples --count "$1" \
		--cni-path "$CNI_BIN_DIR" --bridge "$CNI_BIN_DIR/bridge" \
		--plugin "$(realpath "$OUT/netfence-cni")" --tenant "$CNI_TENANT" \
		--netns-prefix "/var/run/netns/${NS_PREFIX}pod" --ipam-dir "$WORK/cni-ipam" \
		>>"$2" 2>"$WORK/cni.err"
}

# bench_cni_scale ENDPOINTS COUNT
bench_cni_scale() {
	local eps=$1 count=$2 host=${NS_PREFIX}cnihost why=$NF_WHY before
	local name
	name="CNI ADD with $(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$eps") endpoints on the node (on $SCALE_HOOK), p50 ($count ADDs each)"
	local target="≤ 1.20x empty node"
	if [ ! -x "$CNI_BIN_DIR/bridge" ]; then
		row "$name" "n/a (no $CNI_BIN_DIR/bridge)" n/a n/a "$target" n/a
		return
	fi
	if [ -n "$why" ]; then
		row "$name" "n/a ($why)" n/a n/a "$target" n/a
		return
	fi
	netns_add "$host"
	netns_add "${NS_PREFIX}pod0"
	nf_tenant_used "$CNI_TENANT"
	nf_tenant_used "$SCALE_TENANT"
	: >"$WORK/scale-empty"; : >"$WORK/scale-full"
	before=$("$NF" status --json 2>/dev/null | jq '[.endpoints[]?] | length' 2>/dev/null)
	log "CNI with $eps endpoints: $((count / 2)) ADDs on the node as it is (${before:-?} endpoints)"
	scale_samples $((count / 2)) "$WORK/scale-empty" || why="bench_cni failed: $(oneline <"$WORK/cni.err")"
	if [ -z "$why" ]; then
		log "CNI with $eps endpoints: attaching $eps endpoints"
		scale_eps_add "$eps" || why="attaching the endpoints failed: $(oneline <"$WORK/cmd.err")"
	fi
	if [ -z "$why" ]; then
		log "CNI with $eps endpoints: $count ADDs"
		scale_samples "$count" "$WORK/scale-full" || why="bench_cni failed: $(oneline <"$WORK/cni.err")"
	fi
	log "CNI with $eps endpoints: detaching them"
	cleanup_scale_eps
	scale_settle "$host"
	if [ -z "$why" ]; then
		log "CNI with $eps endpoints: $((count - count / 2)) ADDs on the node as it was"
		scale_samples $((count - count / 2)) "$WORK/scale-empty" ||
			why="bench_cni failed: $(oneline <"$WORK/cni.err")"
	fi
	netns_del "${NS_PREFIX}pod0"
	netns_del "$host"
	local e50 e99 f50 f99 ec fc r
	# the machine's drift: the two blocks on the node as it was, apart
	mapfile -t es < <(head -n $((count / 2)) "$WORK/scale-empty" | awk '{print $1}')
	mapfile -t fs < <(tail -n +$((count / 2 + 1)) "$WORK/scale-empty" | awk '{print $1}')
	log "CNI with $eps endpoints: ADD p50 on the node as it was: $(pct 50 "${es[@]}") ms before, $(pct 50 "${fs[@]}") ms after"
	mapfile -t es < <(awk '{print $1}' "$WORK/scale-empty")
	mapfile -t fs < <(awk '{print $1}' "$WORK/scale-full")
	e50=$(pct 50 "${es[@]}"); e99=$(pct 99 "${es[@]}")
	f50=$(pct 50 "${fs[@]}"); f99=$(pct 99 "${fs[@]}")
	mapfile -t es < <(awk '{print $2}' "$WORK/scale-empty")
	mapfile -t fs < <(awk '{print $2}' "$WORK/scale-full")
	ec=$(pct 50 "${es[@]}"); fc=$(pct 50 "${fs[@]}")
	if [ -n "$why" ] || [ -z "$f50" ] || [ -z "$e50" ]; then
		row "$name" "n/a (${why:-no samples})" n/a n/a "$target" n/a
		return
	fi
	r=$(ratio "$f50" "$e50")
	row "$name" "netfence-cni $(fmt "$f50" 1 1) ms (p99 $(fmt "$f99" 1 1); CPU $(fmt "$fc" 1 1) ms)" \
		"node as it was (${before:-?} endpoints) $(fmt "$e50" 1 1) ms (p99 $(fmt "$e99" 1 1); CPU $(fmt "$ec" 1 1) ms)" \
		"${r}x (CPU $(ratio "$fc" "$ec")x)" "$target" "$(met "$r" le 1.2)"
	# the DEL after each ADD: it holds the node lock that ADDs wait for
	mapfile -t es < <(awk '{print $3}' "$WORK/scale-empty")
	mapfile -t fs < <(awk '{print $3}' "$WORK/scale-full")
	e50=$(pct 50 "${es[@]}"); f50=$(pct 50 "${fs[@]}")
	[ -n "$e50" ] && [ -n "$f50" ] &&
		row "${name/CNI ADD/CNI DEL}" "netfence-cni $(fmt "$f50" 1 1) ms (p99 $(fmt "$(pct 99 "${fs[@]}")" 1 1))" \
			"node as it was $(fmt "$e50" 1 1) ms (p99 $(fmt "$(pct 99 "${es[@]}")" 1 1))" \
			"$(ratio "$f50" "$e50")x" report report
}
