#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bench/decompose.sh: where a new TCP connection's cost goes on the veth
# row's path, for development. Not part of `make bench`.
#
#   bash bench/decompose.sh [--rounds N] [--base REV] [VARIANT...]
#
# Run as root from the repository's top, after `make all`. Each variant is a
# patch in bench/variants/ that adds or removes one piece of the program's
# work on the connect loop's path; its hunk says which (the list and what
# each measured: bench/README.md and README, Performance). By default all but
# ct-noprealloc, no-cl and no-usage, which measured the same as the base.
# The variants were written against db40cb4, the tree before young
# connections (bpf/lib/young.bpf.h): `--base db40cb4` measures them there;
# noop, ct-small, ct-noprealloc, fc-small and verdict-twice apply to later
# trees too. Every variant and the base are built from REV (default HEAD) in
# worktrees of their own (uncommitted changes are not measured), and each
# variant is measured against the base with bench/ab.sh: both in one run,
# with no filter and the stateful floor beside them. Printed per variant:
# connections/s over no filter for base and variant, and their program time
# per connection from kernel.bpf_stats_enabled (which counts its own clock
# reads: the noop variant shows how much). Takes about 90 s per variant with
# the default 7 rounds. Worktrees: under a temporary directory, removed on
# exit.
set -u
ROUNDS=7
BASE=HEAD
usage() { echo "usage: bash bench/decompose.sh [--rounds N] [--base REV] [VARIANT...]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) [ $# -ge 2 ] || usage; ROUNDS=$2; shift 2 ;;
	--base) [ $# -ge 2 ] || usage; BASE=$2; shift 2 ;;
	-*) usage ;;
	*) break ;;
	esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || usage
git rev-parse --verify -q "$BASE^{commit}" >/dev/null ||
	{ echo "decompose.sh: --base $BASE: no such commit" >&2; exit 2; }
if [ $# -eq 0 ]; then
	set -- noop no-ct ct-array ct-array-small ct-array-local ct-twice ct-small \
		verdict-twice fc-small
fi
for v in "$@"; do
	[ -f "bench/variants/$v.patch" ] || { echo "decompose.sh: no bench/variants/$v.patch" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "decompose.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/nfdec.XXXXXX)
TREES=()
cleanup() {
	local t

	for t in "${TREES[@]}"; do git worktree remove --force "$t" >/dev/null 2>&1; done
	git worktree prune >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build NAME [PATCH]: BASE (with PATCH applied) built in its own worktree
build() {
	local dir="$WORK/$1"

	git worktree add --detach "$dir" "$BASE" >/dev/null 2>&1 ||
		{ echo "decompose.sh: git worktree add failed" >&2; return 1; }
	TREES+=("$dir")
	if [ -n "${2:-}" ] && ! git -C "$dir" apply "$(realpath "$2")"; then
		echo "decompose.sh: $2 does not apply to $BASE (see --base)" >&2
		return 1
	fi
	make -C "$dir" -j2 build/netfence >"$WORK/$1.build" 2>&1 ||
		{ echo "decompose.sh: $1 does not build (see below)" >&2; tail -20 "$WORK/$1.build" >&2; return 1; }
}

build base || exit 1
printf '%-14s %-10s %-10s %-12s %-12s %s\n' variant base/none var/none "base ns/conn" "var ns/conn" "var - base"
for v in "$@"; do
	build "$v" "bench/variants/$v.patch" || exit 1
	bash bench/ab.sh --rounds "$ROUNDS" "$WORK/base/build/netfence" "$WORK/$v/build/netfence" \
		>"$WORK/$v.ab" 2>&1
	a=$(sed -n 's/^A \/ none: \([0-9.]*x\).*/\1/p' "$WORK/$v.ab")
	b=$(sed -n 's/^B \/ none: \([0-9.]*x\).*/\1/p' "$WORK/$v.ab")
	ta=$(sed -n 's/^program time (bpf_stats): A \([0-9]*\) ns.*/\1/p' "$WORK/$v.ab")
	tb=$(sed -n 's/^program time (bpf_stats): .*, B \([0-9]*\) ns.*/\1/p' "$WORK/$v.ab")
	if [ -z "$a" ] || [ -z "$b" ] || [ -z "$ta" ] || [ -z "$tb" ]; then
		echo "decompose.sh: $v: bench/ab.sh gave no result:" >&2
		tail -20 "$WORK/$v.ab" >&2
		exit 1
	fi
	printf '%-14s %-10s %-10s %-12s %-12s %+d\n' "$v" "$a" "$b" "$ta" "$tb" $((tb - ta))
done
