# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The apply rows:
#  - `netfence apply` of N = 100,000 rules vs `iptables-restore` of the same
#    rules (in a namespace of our own), and `nft -f` with a set beside;
#  - replacing one policy of one tenant while 1,000 tenants are loaded (the
#    whole `netfence apply` command, p50 and max over BENCH_REPLACES);
#  - a UDP stream with sequence numbers and a paced TCP stream that stay
#    allowed while their tenant's 10,000-rule policy is replaced 100 times:
#    lost packets, TCP retransmits and netfence drop counters, beside the
#    same streams for as long without replaces.
# Sourced by bench/run.sh (needs common.sh, rules.sh, veth.sh).

BIG_TENANT=${TENANT_PREFIX}big
MANY_PREFIX=${TENANT_PREFIX}t

# time_cmd CMD...: seconds the command took (empty if it failed); its stderr in $WORK/cmd.err.
# The clock is bash's own $EPOCHREALTIME: a `date` process on either side
# would add its own start-up (1-2 ms here) to a command that takes a few.
time_cmd() {
	local t0 t1
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>"$WORK/cmd.err" || return 1
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}'
}

# spawn_cmd CMD...: seconds the command took as a program spawning it pays
# (bench_exec: posix_spawn to exit, without bash's fork of itself); empty if
# it failed; its stderr in $WORK/cmd.err.
spawn_cmd() {
	"$BENCH_BIN/bench_exec" "$@" 2>"$WORK/cmd.err"
}

# bench_apply_big REPS
bench_apply_big() {
	local reps=$1 i t nf_ts=() ipt_ts=() nft_ts=() why=$NF_WHY ns=${NS_PREFIX}ipt
	gen_policy_json "$BIG_TENANT" 100000 ingress 0 >"$WORK/big.json"
	gen_iptables 100000 >"$WORK/big.ipt"
	gen_nft 100000 >"$WORK/big.nft"
	netns_add "$ns"
	[ -z "$why" ] && nf_tenant_used "$BIG_TENANT"
	for ((i = 0; i < reps; i++)); do
		log "apply 100,000 rules: rep $((i + 1))/$reps"
		# start from nothing each time, so every apply really installs
		in_ns "$ns" "$IPT_RESTORE" <<<$'*filter\n:INPUT ACCEPT [0:0]\nCOMMIT' >/dev/null 2>&1
		in_ns "$ns" nft delete table inet nfbench >/dev/null 2>&1
		t=$(time_cmd in_ns "$ns" "$IPT_RESTORE" "$WORK/big.ipt") && ipt_ts+=("$t")
		t=$(time_cmd in_ns "$ns" nft -f "$WORK/big.nft") && nft_ts+=("$t")
		if [ -z "$why" ]; then
			"$NF" delete "$BIG_TENANT" >/dev/null 2>&1
			if t=$(time_cmd "$NF" apply "$WORK/big.json"); then
				nf_ts+=("$t")
			else
				why="netfence apply failed: $(oneline <"$WORK/cmd.err")"
			fi
		fi
	done
	[ -z "$why" ] && "$NF" delete "$BIG_TENANT" >/dev/null 2>&1
	netns_del "$ns"
	local ipt nft nf
	ipt=$(median "${ipt_ts[@]}"); nft=$(median "${nft_ts[@]}"); nf=$(median "${nf_ts[@]}")
	local ref="iptables-restore ($(ipt_variant)) $(fmt "$ipt" 1 2) s; nft -f (set) $(fmt "$nft" 1 2) s"
	if [ -n "$why" ] || [ -z "$nf" ]; then
		row "apply 100,000 rules (median of $reps)" "n/a (${why:-no figure})" "$ref" n/a \
			"< 1.00x iptables-restore" n/a
	else
		local r; r=$(ratio "$nf" "$ipt")
		row "apply 100,000 rules (median of $reps)" "$(fmt "$nf" 1 2) s" "$ref" "${r}x" \
			"< 1.00x iptables-restore" "$(awk -v r="$r" 'BEGIN {print (r < 1) ? "yes" : "NO"}')"
	fi
}

# gen_many_tenants COUNT > FILE: COUNT tenants, each with the SPEC §1 policy
# (egress to cluster DNS and its storage subnet, ingress from its own pods).
gen_many_tenants() {
	awk -v n="$1" -v pre="$MANY_PREFIX" 'BEGIN {
		printf "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"
		for (i = 0; i < n; i++)
			printf "%s{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"fence\",\"namespace\":\"%s%04d\"},\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],\"ingress\":[{\"from\":[{\"podSelector\":{}}]}],\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.96.0.10/32\"}}],\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]},{\"to\":[{\"ipBlock\":{\"cidr\":\"192.168.%d.0/24\"}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":8080}]}]}}", (i ? ",\n" : ""), pre, i, i % 256
		printf "\n]}\n"
	}'
}

# one_policy TENANT PORT > FILE: the replaced policy (only its storage port changes).
one_policy() {
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"fence","namespace":"%s"},"spec":{"podSelector":{},"policyTypes":["Ingress","Egress"],"ingress":[{"from":[{"podSelector":{}}]}],"egress":[{"to":[{"ipBlock":{"cidr":"10.96.0.10/32"}}],"ports":[{"protocol":"UDP","port":53}]},{"to":[{"ipBlock":{"cidr":"192.168.7.0/24"}}],"ports":[{"protocol":"TCP","port":%d}]}]}}\n' "$1" "$2"
}

# bench_replace_many TENANTS REPLACES
bench_replace_many() {
	local n=$1 reps=$2 i t ts=() ref=() why=$NF_WHY load="" victim
	victim=$(printf '%s%04d' "$MANY_PREFIX" $((n / 2)))
	if [ -z "$why" ]; then
		gen_many_tenants "$n" >"$WORK/many.json"
		for ((i = 0; i < n; i++)); do printf '%s%04d\n' "$MANY_PREFIX" "$i"; done >>"$TENANTS_FILE"
		log "loading $n tenants"
		if load=$(time_cmd "$NF" apply "$WORK/many.json"); then
			one_policy "$victim" 8081 >"$WORK/one-a.json"
			one_policy "$victim" 8080 >"$WORK/one-b.json"
			log "replacing one policy $reps times"
			for ((i = 0; i < reps; i++)); do
				# beside each: what spawning a process costs here at all
				t=$(spawn_cmd /bin/true) && ref+=("$t")
				if t=$(spawn_cmd "$NF" apply "$WORK/one-$([ $((i % 2)) = 0 ] && echo a || echo b).json"); then
					ts+=("$t")
				else
					why="netfence apply failed: $(oneline <"$WORK/cmd.err")"
					break
				fi
			done
		else
			why="loading $n tenants failed: $(oneline <"$WORK/cmd.err")"
		fi
	fi
	local what="replace one policy of one tenant, $n tenants loaded (whole command)"
	local p50 mx rp50
	p50=$(pct 50 "${ts[@]}"); mx=$(pct 100 "${ts[@]}"); rp50=$(pct 50 "${ref[@]}")
	if [ -n "$why" ] || [ -z "$p50" ]; then
		row "$what, p50 of $reps" "n/a (${why:-no figure})" "budget 10 ms" n/a "≤ 1.00x (10 ms)" n/a
		return
	fi
	local r; r=$(ratio "$p50" 0.010)
	row "$what, p50 of $reps" "$(fmt "$p50" 1e-3 1) ms (max $(fmt "$mx" 1e-3 1) ms)" \
		"budget 10 ms; spawning /bin/true the same way: $(fmt "$rp50" 1e-3 1) ms (p50); loading all $n: $(fmt "$load" 1 2) s" \
		"${r}x" "≤ 1.00x (10 ms)" \
		"$(met "$r" le 1.0)"
}

# nf_drops TENANT: netfence's drop counter total for the tenant (all reasons).
nf_drops() {
	"$NF" stats --json 2>/dev/null |
		jq -r --arg t "$1" '[.tenants[]? | select(.tenant == $t) | .drops[]?.packets] | add // 0'
}

# stream_run SECONDS_OR_0 REPLACES: run the UDP and TCP streams over the
# netfence pair; with REPLACES > 0, replace the policy that many times and
# stop the streams when done, else run them for SECONDS.
# Leaves "udp_lost udp_received tcp_retrans drops" in $WORK/stream.res.
stream_run() {
	local secs=$1 reps=$2 i d0 d1 limit=300
	# the senders stop by themselves at the latest after $limit seconds
	[ "$reps" -eq 0 ] && limit=$((secs + 1))
	: >"$WORK/s-udp.out"; : >"$WORK/s-tcp.out"
	bg_ns "$VB" taskset -c 1 "$BENCH_BIN/bench_net" udp-sink --port "$PORT_UDP" \
		--idle-ms 1000 >"$WORK/s-udp.out" 2>&1
	local usink=$BG_PID
	bg_ns "$VB" taskset -c 1 "$BENCH_BIN/bench_net" tcp-sink --port "$PORT_STREAM" \
		--idle-ms 1000 >"$WORK/s-tcp.out" 2>&1
	local tsink=$BG_PID
	wait_ready "$WORK/s-udp.out" && wait_ready "$WORK/s-tcp.out"
	d0=$(nf_drops "$VETH_TENANT")
	# 20,000 packets/s and 50 MB/s: steady streams that leave CPU for the applies
	bg_ns "$VA" taskset -c 0 "$BENCH_BIN/bench_net" udp-flood --dst "$ADDR_B" --port "$PORT_UDP" \
		--pps 20000 --seconds "$limit" >"$WORK/s-udp.send" 2>&1
	local uflood=$BG_PID
	bg_ns "$VA" taskset -c 0 "$BENCH_BIN/bench_net" tcp-stream --dst "$ADDR_B" \
		--port "$PORT_STREAM" --rate 50000000 --seconds "$limit" >"$WORK/s-tcp.send" 2>&1
	local tstream=$BG_PID
	sleep 0.5
	if [ "$reps" -gt 0 ]; then
		for ((i = 0; i < reps; i++)); do
			"$NF" apply "$WORK/veth-v$((1 - i % 2)).json" >/dev/null 2>"$WORK/cmd.err" ||
				echo "apply failed: $(oneline <"$WORK/cmd.err")" >"$WORK/stream.err"
		done
	else
		sleep "$secs"
	fi
	sleep 0.5
	kill -TERM "$uflood" "$tstream" 2>/dev/null
	wait "$uflood" "$tstream" "$usink" "$tsink" 2>/dev/null
	d1=$(nf_drops "$VETH_TENANT")
	echo "$(kv lost "$WORK/s-udp.out") $(kv received "$WORK/s-udp.out")" \
		"$(kv retransmits "$WORK/s-tcp.send") $((d1 - d0))" >"$WORK/stream.res"
}

# bench_loss REPLACES: the streams with and without REPLACES policy replaces.
bench_loss() {
	local reps=$1 why=${NF_VETH_WHY:-$NF_WHY} t0 secs ref res
	local what="stream kept allowed during $reps replaces of its tenant's 10,000-rule policy"
	if [ -z "$why" ]; then
		gen_policy_json "$VETH_TENANT" 10000 both 1 >"$WORK/veth-v1.json"
		cp "$WORK/veth.json" "$WORK/veth-v0.json"
		use_pair netfence
		if ! veth_up || ! why=$(veth_filter netfence); then
			why=${why:-veth setup failed}
		fi
	fi
	if [ -z "$why" ]; then
		rm -f "$WORK/stream.err"
		log "streams during $reps policy replaces"
		t0=$SECONDS
		stream_run 0 "$reps"
		res=$(cat "$WORK/stream.res")
		secs=$((SECONDS - t0 > 2 ? SECONDS - t0 - 1 : 1))
		[ "$secs" -gt 20 ] && secs=20	# a baseline, not a second endurance run
		log "the same streams for ${secs}s without replaces"
		stream_run "$secs" 0
		ref=$(cat "$WORK/stream.res")
		[ -s "$WORK/stream.err" ] && why=$(cat "$WORK/stream.err")
	fi
	veth_down netfence
	if [ -n "$why" ]; then
		row "UDP 20k pps, $what: lost packets" "n/a ($why)" "—" n/a "0 lost" n/a
		row "TCP 50 MB/s, $what: retransmits, netfence drops" "n/a ($why)" "—" n/a "0" n/a
		return
	fi
	local -a a=($res) b=($ref)
	row "UDP 20k pps, $what: lost packets (sequence gaps)" \
		"${a[0]:-?} lost of ${a[1]:-?}" "no replaces: ${b[0]:-?} lost of ${b[1]:-?}" — "0 lost" \
		"$([ "${a[0]:-x}" = 0 ] && echo yes || echo NO)"
	row "TCP 50 MB/s, $what: retransmits; netfence drops of the tenant" \
		"${a[2]:-?} retransmits; ${a[3]:-?} drops" \
		"no replaces: ${b[2]:-?} retransmits; ${b[3]:-?} drops" — "0 and 0" \
		"$([ "${a[2]:-x}" = 0 ] && [ "${a[3]:-x}" = 0 ] && echo yes || echo NO)"
}
