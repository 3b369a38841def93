# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The label rows (SPEC §9, §11; BENCH_ONLY=labels), on the scenario of
# labels_gen.sh (10,000 pods in 1,000 label sets, 10 tenants nfbench-lNN):
#  - per-packet, established and new flow vs the stateful floor, and vs a
#    tenant without labels, in one run (bench_labels, BPF_PROG_TEST_RUN);
#  - one pod's label change with everything loaded: the whole `netfence
#    apply` of one changed Pod document, p50/p99 over LBL_CHANGES changes;
#  - label churn: updates arriving at 100/s, each counted from its arrival
#    until the `netfence apply` that carries it has returned (its tables are
#    switched then) and `netfence check` shows its new verdict.
# Sourced by bench/run.sh (needs common.sh, apply.sh's time_cmd).
# shellcheck source=bench/lib/labels_gen.sh
. bench/lib/labels_gen.sh

# The label change of the change row: pod p50-0 of tenant 3 (app0) goes from
# role r5, which every tenant's `mon` policy admits on TCP 9100 (namespaces
# with a team label, pods app=app0,role=r5), to role r9, which none does, and
# back: other tenants' selectors stop and start covering it. Both label sets
# have other pods, so no identity comes or goes: only the pod moves.
LBL_CHG_T=3
LBL_CHG_K=50
LBL_WATCHER=0	# check as this tenant (its `mon` policy is in its own rules)

# lbl_pod_ip T K J: the IPv4 address of pod pK-J of tenant T.
lbl_pod_ip() { printf '10.%d.%d.%d' $((64 + $1)) "$2" $(($3 + 1)); }

# lbl_verdict T K J: allow / deny, as $LBL_WATCHER's rules judge TCP 9100 from that pod.
lbl_verdict() {
	"$NF" check --tenant "$(lbl_tenant "$LBL_WATCHER")" --direction ingress \
		--peer "$(lbl_pod_ip "$1" "$2" "$3")" --port 9100 2>/dev/null |
		sed -n 's/^\(allow\|deny\):.*/\1/p' | head -1
}

# lbl_prog ROUNDS REPEAT [NAME ARGS...]: the per-packet rows (NAME labels), or
# bench_labels' other rows with more ARGS (NAME cnp: --cnp, bench/lib/cnp.sh).
lbl_prog() {
	local rounds=$1 repeat=$2 name=${3:-labels}
	shift $(($# < 3 ? $# : 3))
	log "$name per-packet: BPF_PROG_TEST_RUN, $rounds rounds of $repeat runs"
	"$BENCH_BIN/bench_labels" --docs "$WORK/labels-all.json" --rounds "$rounds" \
		--repeat "$repeat" --prefix "$LBL_PREFIX" "$@" >"$WORK/$name-prog.rows" \
		2> >(sed 's/^/    /' >&2)
	local rc=$?
	rows_from "$WORK/$name-prog.rows"
	[ $rc -ne 0 ] && row "per-packet, $name" "n/a (bench_labels exit $rc)" n/a n/a n/a n/a
}

# lbl_change CHANGES: LBL_LOAD_WHY or the load time in LBL_LOAD; rows.
lbl_change() {
	local n=$1 i t ts=() noop=() why=$NF_WHY want role v
	local what="one pod's label change (another tenant's selector starts/stops covering it), 10,000 pods loaded, $(lbl_beside): whole \`netfence apply\`"
	if [ -z "$why" ]; then
		lbl_pod_doc "$LBL_CHG_T" "$LBL_CHG_K" 0 r9 >"$WORK/lbl-chg-r9.json"
		lbl_pod_doc "$LBL_CHG_T" "$LBL_CHG_K" 0 r5 >"$WORK/lbl-chg-r5.json"
		[ "$(lbl_verdict "$LBL_CHG_T" "$LBL_CHG_K" 0)" = allow ] ||
			why="before the change, check does not say allow"
	fi
	log "labels: $n label changes of one pod"
	for ((i = 0; i < n; i++)); do
		[ -n "$why" ] && break
		if ((i % 2)); then role=r5 want=allow; else role=r9 want=deny; fi
		if ! t=$(time_cmd "$NF" apply "$WORK/lbl-chg-$role.json"); then
			why="netfence apply failed: $(oneline <"$WORK/cmd.err")"
			break
		fi
		ts+=("$t")
		v=$(lbl_verdict "$LBL_CHG_T" "$LBL_CHG_K" 0)
		[ "$v" = "$want" ] || why="after change $((i + 1)) check says '${v:-nothing}', not $want"
		# the same document again: nothing changes (what any apply costs here)
		if ((i < 10)) && t=$(time_cmd "$NF" apply "$WORK/lbl-chg-$role.json"); then
			noop+=("$t")
		fi
	done
	LBL_CHANGE_P50=$(pct 50 "${ts[@]}")
	if [ -n "$why" ] || [ -z "$LBL_CHANGE_P50" ]; then
		row "$what" "n/a (${why:-no figure})" "—" n/a report n/a
		return
	fi
	row "$what, p50 / p99 of $n" \
		"$(fmt "$LBL_CHANGE_P50" 1e-3 1) ms / $(fmt "$(pct 99 "${ts[@]}")" 1e-3 1) ms" \
		"the same document again (no change) p50 $(fmt "$(pct 50 "${noop[@]}")" 1e-3 1) ms; loading all: $(fmt "$LBL_LOAD" 1 2) s" \
		— report report
}

# What else the node holds, for the row names.
lbl_beside() {
	((LBL_BYSTANDERS > 0)) && printf '%s other tenants beside' \
		"$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$LBL_BYSTANDERS")" || printf 'no other tenants'
}

# lbl_churn UPDATES RATE: UPDATES label changes arriving at RATE/s, each of
# a different pod, every one changing what other tenants' `mon` selectors
# cover: first the pods of set LBL_CHG_K (app0, role r5 -> r9: no longer
# covered), then those of set LBL_CHG_K + 5 (app5 -> app0, role r5: covered
# now), all tenants in turn. They are carried by as few applies as keep up:
# each apply takes every update that has arrived by its start (one v1 List),
# as a controller watching pods would. Latency of an update: its arrival to
# the end of the apply that carries it (`apply` returns once its tables are
# switched); at the end `netfence check` must show every update's new
# verdict. The driver's own work is plain bash arithmetic on $EPOCHREALTIME
# (microseconds); the documents are made before the clock starts.
lbl_churn() {
	local n=$1 rate=$2 why=$NF_WHY i j t p k v t0 now next=0 applies=0 t1=0 d per
	local -a upd=() docs=() batch=() sizes=() durs=() lat=()
	local what="label churn at $rate pod updates/s ($n updates, $(lbl_beside)), arrival to enforced"
	per=$((LBL_TENANTS * LBL_PER_SET))
	if ((n > 2 * per)); then
		why="at most $((2 * per)) distinct pods to change"
	fi
	for ((i = 0; i < n && i < 2 * per; i++)); do
		t=$((i % LBL_TENANTS)) p=$(((i / LBL_TENANTS) % LBL_PER_SET))
		if ((i < per)); then
			upd+=("$t $LBL_CHG_K $p deny")
			docs+=("$(lbl_pod_doc "$t" "$LBL_CHG_K" "$p" r9)")
		else
			upd+=("$t $((LBL_CHG_K + 5)) $p allow")
			docs+=("$(lbl_pod_doc "$t" $((LBL_CHG_K + 5)) "$p" r5 app0)")
		fi
	done
	log "labels: churn, $n updates at $rate/s"
	t0=${EPOCHREALTIME/./}
	while ((next < n)) && [ -z "$why" ]; do
		now=${EPOCHREALTIME/./}
		# the updates that have arrived by now (update i at t0 + i / rate)
		batch=()
		while ((next < n && t0 + next * 1000000 / rate <= now)); do
			batch+=("$next")
			next=$((next + 1))
		done
		if ((${#batch[@]} == 0)); then
			d=$((t0 + next * 1000000 / rate - now))
			sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
			continue
		fi
		{
			echo '{"apiVersion":"v1","kind":"List","items":['
			for ((j = 0; j < ${#batch[@]}; j++)); do
				((j)) && echo ,
				echo "${docs[${batch[j]}]}"
			done
			echo ']}'
		} >"$WORK/lbl-churn.json"
		if ! "$NF" apply "$WORK/lbl-churn.json" >/dev/null 2>"$WORK/cmd.err"; then
			why="netfence apply failed: $(oneline <"$WORK/cmd.err")"
			break
		fi
		t1=${EPOCHREALTIME/./}
		applies=$((applies + 1))
		sizes+=("${#batch[@]}")
		durs+=("$((t1 - now))")
		for i in "${batch[@]}"; do
			lat+=("$((t1 - (t0 + i * 1000000 / rate)))")
		done
	done
	log "labels: churn: $applies applies of ${sizes[*]} updates, in ${durs[*]} us"
	# every changed pod, checked again at the end
	for ((i = 0; i < n; i++)); do
		[ -n "$why" ] && break
		read -r t k p v <<<"${upd[i]}"
		[ "$(lbl_verdict "$t" "$k" "$p")" = "$v" ] ||
			why="update $i is not enforced at the end (check does not say $v)"
	done
	local p50 p99 mx
	p50=$(pct 50 "${lat[@]}"); p99=$(pct 99 "${lat[@]}"); mx=$(pct 100 "${lat[@]}")
	if [ -n "$why" ] || [ -z "$p99" ]; then
		row "$what" "n/a (${why:-no figure})" "—" n/a "p99 ≤ 100 ms" n/a
		return
	fi
	local r one=""
	r=$(ratio "$p99" 100000)
	[ -n "${LBL_CHANGE_P50:-}" ] && one="; one update per apply: at most $(awk -v t="$LBL_CHANGE_P50" 'BEGIN {printf "%.1f", 1 / t}') updates/s"
	row "$what, p99 (each apply carries every update arrived by its start)" \
		"p99 $(fmt "$p99" 1e3 0) ms (p50 $(fmt "$p50" 1e3 0), max $(fmt "$mx" 1e3 0))" \
		"$applies applies of $(pct 0 "${sizes[@]}")-$(pct 100 "${sizes[@]}") updates, each $(fmt "$(pct 0 "${durs[@]}")" 1e3 0)-$(fmt "$(pct 100 "${durs[@]}")" 1e3 0) ms; all $n enforced $(fmt "$((t1 - t0))" 1e6 2) s after the first arrived ($(awk -v n="$n" -v t="$((t1 - t0))" 'BEGIN {printf "%.0f", n / t * 1e6}')/s)$one" \
		"${r}x" "p99 ≤ 100 ms" "$(met "$r" le 1.0)"
}

# bench_labels: every label row (knobs BENCH_LABEL_CHANGES, BENCH_LABEL_CHURN;
# the per-packet rows use BENCH_ROUNDS and BENCH_REPEAT like bench_prog's).
bench_labels() {
	local i
	set -- "$ROUNDS" "$REPEAT" "${BENCH_LABEL_CHANGES:-$(q 50 10)}" \
		"${BENCH_LABEL_CHURN:-$(q 200 100)}"
	lbl_gen_all >"$WORK/labels-all.json"
	lbl_prog "$1" "$2"
	LBL_LOAD=""
	# a node with many namespaces besides the scenario's: the metrics rows'
	# tenants (the same names: after them, this apply changes nothing)
	if [ -z "$NF_WHY" ] && ((LBL_BYSTANDERS > 0)); then
		log "labels: $LBL_BYSTANDERS other tenants, each with a policy, beside the scenario"
		met_load_tenants "$LBL_BYSTANDERS" ||
			NF_LBL_WHY="loading $LBL_BYSTANDERS other tenants failed: $(oneline <"$WORK/cmd.err")"
	fi
	if [ -z "${NF_LBL_WHY:-}" ] && [ -z "$NF_WHY" ]; then
		for ((i = 0; i < LBL_TENANTS; i++)); do nf_tenant_used "$(lbl_tenant "$i")"; done
		log "labels: loading 10 tenants' policies, namespaces and 10,000 pods (one v1 List)"
		LBL_LOAD=$(time_cmd "$NF" apply "$WORK/labels-all.json") ||
			NF_LBL_WHY="loading the label scenario failed: $(oneline <"$WORK/cmd.err")"
	fi
	NF_WHY=${NF_LBL_WHY:-$NF_WHY} lbl_change "$3"
	NF_WHY=${NF_LBL_WHY:-$NF_WHY} lbl_churn "$4" 100
}
