#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `make bench`: every measurement of SPEC §9 in one run, one Markdown table
# on stdout and in bench/results.md (not committed). Each row puts netfence
# beside its reference measured in the same run, the ratio, the target and
# whether it is met. What each row measures and how: bench/README.md.
#
# Needs root. Creates only namespaces named nfb-* and tenants named
# nfbench-*, and removes them on exit (also on failure or Ctrl-C); iptables
# and nftables rules only ever go into those namespaces.
#
# Knobs (environment), defaults sized for ~16 minutes on 2 cores, plus ~1 for
# removing the 1,000 tenants again:
#   BENCH_ROUNDS=7 BENCH_REPEAT=1000000 BENCH_COLD=2000     per-packet rows
#   BENCH_VETH_ROUNDS=11 BENCH_VETH_SECONDS=2               veth rows
#   BENCH_VETH_METRICS="TCP UDP CONN"  BENCH_VETH_CONFIGS="netfence netfence-clsact
#     floor floor-tcx noop-tcx netfence-pair floor-tcx-pair iptables nftables"
#     a subset of the veth rows, for development
#     (no filter is always measured: every ratio is to it)
#   BENCH_APPLY_REPS=3 BENCH_TENANTS=1000 BENCH_REPLACES=20 apply rows
#   BENCH_LOSS_REPLACES=100                                 stream during replaces
#   BENCH_CNI_COUNT=100 BENCH_CNI_PARALLEL=20               CNI rows
#   BENCH_CNI_SCALE_EPS=1000 BENCH_CNI_SCALE_COUNT=200      CNI ADD, 1,000 endpoints
#   BENCH_MET_TENANTS=4000 BENCH_MET_COUNT=50 BENCH_MET_KEYS=4  GET /metrics
#   BENCH_QUICK=1   fewer repeats everywhere (never fewer rows)
#   BENCH_LABEL_CHANGES=50 BENCH_LABEL_CHURN=200            label rows (bench/lib/labels.sh)
#   BENCH_LABEL_BYSTANDERS=4000   other tenants loaded beside the label scenario
#   (the CNP rows, bench/lib/cnp.sh, use BENCH_ROUNDS, BENCH_REPEAT, BENCH_COLD)
#   BENCH_NS_PREFIX=nfb-  namespace prefix (another one: two runs at once)
#   BENCH_ONLY="prog veth apply replace loss upgrade cni cniscale metrics labels cnp"
#                   a subset (development)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-build}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (network namespaces, BPF, iptables in namespaces)" >&2
	exit 1
fi
for tool in ip nsenter taskset iperf3 jq nft "${IPT_RESTORE:-iptables-restore}"; do
	command -v "$tool" >/dev/null || { echo "bench: $tool missing (make deps)" >&2; exit 1; }
done
for bin in bench_prog bench_net bench_tcx bench_cni bench_metrics bench_labels; do
	[ -x "$OUT/bench/$bin" ] || { echo "bench: $OUT/bench/$bin not built (make all)" >&2; exit 1; }
done

quick=${BENCH_QUICK:-0}
q() { [ "$quick" = 1 ] && echo "$2" || echo "$1"; }
ROUNDS=${BENCH_ROUNDS:-$(q 7 3)}
REPEAT=${BENCH_REPEAT:-$(q 1000000 1000000)}
COLD=${BENCH_COLD:-$(q 2000 500)}
VETH_ROUNDS=${BENCH_VETH_ROUNDS:-$(q 11 3)}
VETH_SECONDS=${BENCH_VETH_SECONDS:-$(q 2 1)}
VETH_METRICS=${BENCH_VETH_METRICS:-TCP UDP CONN}
VETH_CONFIGS=${BENCH_VETH_CONFIGS:-}
APPLY_REPS=${BENCH_APPLY_REPS:-$(q 3 1)}
TENANTS=${BENCH_TENANTS:-1000}
REPLACES=${BENCH_REPLACES:-$(q 20 10)}
LOSS_REPLACES=${BENCH_LOSS_REPLACES:-100}
CNI_COUNT=${BENCH_CNI_COUNT:-$(q 100 40)}
CNI_PARALLEL=${BENCH_CNI_PARALLEL:-20}
CNI_TCX_COUNT=${BENCH_CNI_TCX_COUNT:-40}
CNI_SCALE_EPS=${BENCH_CNI_SCALE_EPS:-1000}
CNI_SCALE_COUNT=${BENCH_CNI_SCALE_COUNT:-$(q 200 40)}
MET_TENANTS=${BENCH_MET_TENANTS:-4000}
MET_COUNT=${BENCH_MET_COUNT:-$(q 50 20)}
MET_KEYS=${BENCH_MET_KEYS:-4}
LBL_BYSTANDERS=${BENCH_LABEL_BYSTANDERS:-$MET_TENANTS}
ONLY=${BENCH_ONLY:-prog veth apply replace loss upgrade cni cniscale metrics labels cnp}

WORK=$(mktemp -d /tmp/nfbench.XXXXXX)
# shellcheck source=bench/lib/common.sh
. bench/lib/common.sh
# shellcheck source=bench/lib/rules.sh
. bench/lib/rules.sh
# shellcheck source=bench/lib/veth.sh
. bench/lib/veth.sh
# shellcheck source=bench/lib/apply.sh
. bench/lib/apply.sh
# shellcheck source=bench/lib/cni.sh
. bench/lib/cni.sh
# shellcheck source=bench/lib/upgrade.sh
. bench/lib/upgrade.sh
# shellcheck source=bench/lib/metrics.sh
. bench/lib/metrics.sh
# shellcheck source=bench/lib/labels.sh
. bench/lib/labels.sh
# shellcheck source=bench/lib/cnp.sh
. bench/lib/cnp.sh

cleanup() {
	trap - EXIT INT TERM
	jobs -p | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	cleanup_scale_eps
	cleanup_netns
	cleanup_tenants
	rm -rf "$WORK" "$FLOOR_PIN"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

want() { [[ " $ONLY " == *" $1 "* ]]; }
: >"$ROWS"
cleanup_netns	# leftovers of an earlier run that was killed hard
nf_probe || log "netfence rows will be n/a: $NF_WHY"

if want prog; then
	log "per-packet cost: BPF_PROG_TEST_RUN, $ROUNDS rounds of $REPEAT runs"
	"$BENCH_BIN/bench_prog" --rounds "$ROUNDS" --repeat "$REPEAT" --cold-samples "$COLD" \
		>"$WORK/prog.rows" 2> >(sed 's/^/    /' >&2)
	rc=$?
	rows_from "$WORK/prog.rows"
	[ $rc -ne 0 ] && row "per-packet cost" "n/a (bench_prog exit $rc)" n/a n/a n/a n/a
fi
if want veth; then
	log "veth: $VETH_ROUNDS rounds of ${VETH_SECONDS}s per measurement and configuration"
	bench_veth "$VETH_ROUNDS" "$VETH_SECONDS"
fi
if want apply; then
	bench_apply_big "$APPLY_REPS"
fi
if want replace; then
	bench_replace_many "$TENANTS" "$REPLACES"
fi
if want loss; then
	[ -z "${NF_VETH_WHY+x}" ] && NF_VETH_WHY=$NF_WHY && [ -z "$NF_WHY" ] && veth_prepare
	bench_loss "$LOSS_REPLACES"
fi
if want upgrade; then
	bench_upgrade
fi
if want cni; then
	bench_cni "$CNI_COUNT" "$CNI_PARALLEL"
fi
if want cniscale; then
	bench_cni_scale "$CNI_SCALE_EPS" "$CNI_SCALE_COUNT"
fi
if want metrics; then
	# its 4,000 tenants and the replace row's 1,000 would not fit the 4,095 ids together
	cleanup_tenants
	bench_metrics_scale "$MET_TENANTS" "$MET_COUNT" "$MET_KEYS"
fi
# the label rows (SPEC §9, §11): bench/lib/labels.sh
if want labels; then
	bench_labels
fi
# per-packet with 100 ClusterNetworkPolicies vs none (SPEC §9, §13): bench/lib/cnp.sh
if want cnp; then
	bench_cnp
fi

elapsed=$((SECONDS - BENCH_T0))
{
	echo "# netfence bench results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs" \
		"($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), netfence" \
		"$(git describe --always --dirty 2>/dev/null || echo '?'), run took ${elapsed}s."
	echo "Every ratio is netfence over its reference, both measured in this run;"
	echo "what each row measures: bench/README.md."
	echo
	echo "| measurement | netfence | reference | ratio | target | met |"
	echo "|---|---|---|---|---|---|"
	cat "$ROWS"
} >"$WORK/results.md"
cp "$WORK/results.md" bench/results.md
cat bench/results.md
unmet=$(grep -c '| NO |$' "$ROWS" || true)
log "done in ${elapsed}s: $unmet target(s) not met; written to bench/results.md"
exit 0
