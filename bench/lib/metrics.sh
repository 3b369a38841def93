# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The /metrics row: GET /metrics of `netfence serve` with 4,000 tenants
# loaded, each with the SPEC §1 policy (gen_many_tenants) and counters in
# nf_stats (bench_metrics seed). serve runs in a namespace of its own
# (nfb-met, loopback only), so its port can't meet anything on the node;
# the GETs come from there too, each on a new connection, one after another.
# Sourced by bench/run.sh (needs common.sh, apply.sh).

MET_PREFIX=${TENANT_PREFIX}m
MET_PORT=9471

# bench_metrics_scale TENANTS COUNT KEYS
# met_load_tenants N: N tenants $MET_PREFIX0000.., each with the SPEC §1
# policy, applied (and removed at the end); the error in $WORK/cmd.err.
# The label rows load the same ones: a second load changes nothing.
met_load_tenants() {
	local i
	MANY_PREFIX=$MET_PREFIX gen_many_tenants "$1" >"$WORK/met.json"
	for ((i = 0; i < $1; i++)); do printf '%s%04d\n' "$MET_PREFIX" "$i"; done >>"$TENANTS_FILE"
	"$NF" apply "$WORK/met.json" >/dev/null 2>"$WORK/cmd.err"
}

bench_metrics_scale() {
	local tenants=$1 count=$2 keys=$3 ns=${NS_PREFIX}met why=$NF_WHY pid="" i seeded=""
	local what
	what="GET /metrics, $(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$tenants") tenants"
	local target="< 100 ms"
	if [ -z "$why" ]; then
		log "metrics: loading $tenants tenants, each with a policy"
		met_load_tenants "$tenants" || why="netfence apply failed: $(oneline <"$WORK/cmd.err")"
	fi
	if [ -z "$why" ]; then
		seeded=$("$BENCH_BIN/bench_metrics" seed --prefix "$MET_PREFIX" --keys "$keys" \
			2>"$WORK/cmd.err") || why="bench_metrics seed failed: $(oneline <"$WORK/cmd.err")"
	fi
	if [ -z "$why" ]; then
		netns_add "$ns"
		bg_ns "$ns" "$NF" serve --listen "127.0.0.1:$MET_PORT" >"$WORK/serve.log" 2>&1
		pid=$BG_PID
		for ((i = 0; i < 100; i++)); do
			in_ns "$ns" "$BENCH_BIN/bench_metrics" get --port "$MET_PORT" --count 1 \
				>/dev/null 2>&1 && break
			sleep 0.1
		done
		log "metrics: $count GETs ($seeded)"
		in_ns "$ns" "$BENCH_BIN/bench_metrics" get --port "$MET_PORT" --count "$count" \
			>"$WORK/met.samples" 2>"$WORK/met.err" ||
			why="GET /metrics failed: $(oneline <"$WORK/met.err")"
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		netns_del "$ns"
	fi
	local s p50 p99 kb
	mapfile -t s <"$WORK/met.samples" 2>/dev/null
	p50=$(pct 50 "${s[@]}"); p99=$(pct 99 "${s[@]}")
	kb=$(sed -n 's/^bytes=//p' "$WORK/met.err" 2>/dev/null)
	if [ -n "$why" ] || [ -z "$p50" ]; then
		row "$what, p50 and p99" "n/a (${why:-no samples})" "budget 100 ms" n/a "$target" n/a
		return
	fi
	local note
	note="$(fmt "$kb" 1024 0) kB; $keys counters a tenant"
	row "$what, p50 of $count GETs ($note)" "$(fmt "$p50" 1 1) ms" "budget 100 ms" \
		"$(ratio "$p50" 100)x" "$target" "$(awk -v v="$p50" 'BEGIN {print (v < 100) ? "yes" : "NO"}')"
	row "$what, p99 of $count GETs" "$(fmt "$p99" 1 1) ms" "budget 100 ms" \
		"$(ratio "$p99" 100)x" "$target" "$(awk -v v="$p99" 'BEGIN {print (v < 100) ? "yes" : "NO"}')"
}
