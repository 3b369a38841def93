# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Shared helpers of bench/run.sh: logging, the results table, medians and
# ratios, namespaces that are always cleaned up, the netfence CLI.
# Sourced, not run. Expects OUT (build dir) and WORK (scratch dir) set.

NF=${NF:-$OUT/netfence}
BENCH_BIN=$OUT/bench
ROWS=$WORK/rows.md
BENCH_T0=$SECONDS
# Everything the bench creates carries this prefix, so cleanup never touches
# anything else: netns nfb-*, tenants nfbench-*.
# BENCH_NS_PREFIX: another prefix, so that two runs at once (development,
# BENCH_ONLY) don't remove each other's namespaces.
NS_PREFIX=${BENCH_NS_PREFIX:-nfb-}
TENANT_PREFIX=nfbench-

log() { printf '[bench %4ds] %s\n' $((SECONDS - BENCH_T0)) "$*" >&2; }

# row MEASUREMENT NETFENCE REFERENCE RATIO TARGET MET
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >>"$ROWS"; }
# rows_from FILE: append Markdown rows printed by a bench binary.
rows_from() { grep '^|' "$1" >>"$ROWS" || true; }

# One line, no table separators: for "n/a (reason)".
oneline() { tr '\n|' '  ' | sed 's/  */ /g; s/^ //; s/ $//' | cut -c1-160; }

# median N...: the median of the numbers given (empty if none).
median() {
	printf '%s\n' "$@" | grep -E '^[0-9.eE+-]+$' | sort -g |
		awk '{v[NR]=$1} END {if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}

# pct P N...: nearest-rank percentile P (0..100).
pct() {
	local p=$1; shift
	printf '%s\n' "$@" | grep -E '^[0-9.eE+-]+$' | sort -g |
		awk -v p="$p" '{v[NR]=$1} END {if (NR) {i=int(p/100*NR+0.999999); if(i<1)i=1; if(i>NR)i=NR; print v[i]}}'
}

# ratio A B: A/B with 2 decimals, empty when either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "" && b != "" && b+0 != 0) printf "%.2f", a/b}'; }

# met RATIO OP LIMIT: yes / NO / n/a (OP is le or ge).
met() {
	[ -z "$1" ] && { echo n/a; return; }
	awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = (op == "le") ? (r <= l) : (r >= l); print ok ? "yes" : "NO" }'
}

# fmt NUMBER SCALE DECIMALS: NUMBER/SCALE, e.g. fmt 12345678 1e6 1 -> 12.3
fmt() { awk -v v="$1" -v s="$2" -v d="$3" 'BEGIN {if (v == "") print "?"; else printf "%.*f", d, v/s}'; }

# ---- network namespaces (all named nfb-*, all removed by cleanup_netns) ----
netns_add() { ip netns add "$1" && ip -n "$1" link set lo up; }
netns_del() { ip netns del "$1" 2>/dev/null || true; }
cleanup_netns() {
	local n
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX" || true); do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
		netns_del "$n"
	done
}
# in_ns NS CMD...: run in the netns without remounting /sys (bpffs pins stay visible).
in_ns() { local n=$1; shift; nsenter --net="/var/run/netns/$n" "$@"; }
# bg_ns NS CMD... [redirections]: in_ns in the background; BG_PID is the
# command's own pid (nsenter and taskset exec it), so a kill reaches it and
# not a subshell standing in front of it.
BG_PID=""
bg_ns() { local n=$1; shift; nsenter --net="/var/run/netns/$n" "$@" & BG_PID=$!; }

# ---- netfence ----
NF_WHY=""	# set when netfence can't be used: the reason printed as n/a
nf_probe() {
	local err
	if [ ! -x "$NF" ]; then
		NF_WHY="$NF not built"
		return 1
	fi
	if ! err=$("$NF" status 2>&1 >/dev/null); then
		NF_WHY="netfence status failed: $(printf '%s' "$err" | oneline)"
		return 1
	fi
	return 0
}

# Tenants this run created, deleted again by cleanup_tenants.
TENANTS_FILE=$WORK/tenants
nf_tenant_used() { echo "$1" >>"$TENANTS_FILE"; }
cleanup_tenants() {
	[ -s "$TENANTS_FILE" ] && [ -x "$NF" ] || return 0
	log "removing the bench's tenants"
	sort -u "$TENANTS_FILE" | grep "^$TENANT_PREFIX" |
		xargs -r -P 2 -n 1 "$NF" delete >/dev/null 2>&1 || true
	# second pass, one at a time, for any that still hold policies
	"$NF" status --json 2>/dev/null |
		jq -r --arg p "$TENANT_PREFIX" '.tenants[]? | select((.name | startswith($p)) and
			((.policies // []) | length > 0)) | .name' 2>/dev/null |
		xargs -r -n 1 "$NF" delete >/dev/null 2>&1 || true
	: >"$TENANTS_FILE"
}
