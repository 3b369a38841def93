# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The upgrade rows (SPEC §9, §10.1): a UDP stream with sequence numbers and a
# paced TCP stream that stay allowed while `netfence upgrade` replaces the
# loaded datapath (this build's version, build/netfence) by the test variant one version
# up (build/next/netfence, NF_TEST_NEXT_LAYOUT: nf_ct's value grows, so its
# entries are carried over into a new map). Lost packets, retransmits and
# netfence drops, and each stream's rate in the seconds before the upgrade
# and while it ran.
#
# The variant is a test-only datapath: it must never replace the node's, so
# the measurement (bench/lib/upgrade_run.sh) runs in a private mount
# namespace with its own bpffs and /run/netfence (tests/e2e/lib/private.sh).
# Sourced by bench/run.sh (needs common.sh).

# bench_upgrade
bench_upgrade() {
	local why="" res dir=$WORK/upgrade
	local v1
	v1=$(sed -n '/^#else/,/^#endif/s/^#define NF_DATAPATH_VERSION[[:space:]]*\([0-9]*\).*/\1/p' \
		include/netfence/abi.h)
	local what="across \`netfence upgrade\` (datapath version $v1 → $((v1 + 1)), nf_ct carried over into a new map)"
	if [ ! -x "$OUT/next/netfence" ]; then
		why="$OUT/next/netfence not built (make $OUT/next/netfence)"
	elif [ ! -x "$OUT/netfence" ]; then
		why="$OUT/netfence not built"
	fi
	if [ -z "$why" ]; then
		log "streams across a datapath upgrade (private bpffs)"
		mkdir -p "$dir"
		OUT=$OUT BENCH_BIN=$BENCH_BIN unshare --mount --propagation private \
			tests/e2e/lib/private.sh bash bench/lib/upgrade_run.sh "$dir" 2> >(sed 's/^/    /' >&2)
		if [ -s "$dir/why" ]; then
			why=$(oneline <"$dir/why")
		elif [ ! -s "$dir/result" ]; then
			why="no result (bench/lib/upgrade_run.sh exit status)"
		fi
	fi
	if [ -n "$why" ]; then
		row "UDP 20k pps $what: lost packets" "n/a ($why)" "—" n/a "0 lost" n/a
		row "TCP 50 MB/s $what: retransmits, netfence drops" "n/a ($why)" "—" n/a "0 and 0" n/a
		return
	fi
	res=$(cat "$dir/result")
	upg_kv() { tr ' ' '\n' <<<"$res" | sed -n "s/^$1=//p"; }
	row "UDP 20k pps $what: lost packets (sequence gaps)" \
		"$(upg_kv udp_lost) lost of $(upg_kv udp_received)" \
		"received before: $(fmt "$(upg_kv udp_pps_before)" 1e3 1) kpps; during the upgrade ($(fmt "$(upg_kv upgrade_s)" 1e-3 0) ms): $(fmt "$(upg_kv udp_pps_during)" 1e3 1) kpps" \
		— "0 lost" "$([ "$(upg_kv udp_lost)" = 0 ] && echo yes || echo NO)"
	row "TCP 50 MB/s $what: retransmits; netfence drops of the tenant" \
		"$(upg_kv tcp_retrans) retransmits; $(upg_kv drops) drops" \
		"throughput before: $(fmt "$(upg_kv tcp_bytes_s_before)" 1e6 1) MB/s; during the upgrade: $(fmt "$(upg_kv tcp_bytes_s_during)" 1e6 1) MB/s" \
		— "0 and 0" "$([ "$(upg_kv tcp_retrans)" = 0 ] && [ "$(upg_kv drops)" = 0 ] && echo yes || echo NO)"
}
