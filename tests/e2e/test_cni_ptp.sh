#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# netfence-cni chained after ptp + host-local (deploy/cni/10-netfence-ptp.conflist,
# with test names): pods reach each other routed through the node; the same
# two-tenant fence as on the bridge. The programs go on through tcx
# (NETFENCE_TC_HOOK=tcx); the bridge and macvlan tests use the default,
# cls_bpf filters on clsact.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
CONF=$WORK/ptp.conflist
jq --arg name "$P-net" --arg d "$WORK/ipam" '
	.name = $name
	| .plugins[0].ipMasq = false
	| .plugins[0].ipam.dataDir = $d
	| .plugins[0].ipam.ranges = [[{subnet: "10.124.0.0/24"}]]' \
	deploy/cni/10-netfence-ptp.conflist >"$CONF" || die "bad deploy conflist"

NETFENCE_TC_HOOK=tcx two_tenant_scenario "$CONF" eth0
