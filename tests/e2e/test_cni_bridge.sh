#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# netfence-cni chained after bridge + host-local (deploy/cni/10-netfence-bridge.conflist,
# with test names), driven like a runtime: two tenants' pods on one bridge are
# fenced (default deny) from ADD on, and `netfence apply` then allows exactly
# what the policies say.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
CONF=$WORK/bridge.conflist
jq --arg name "$P-net" --arg br "${IFP}br" --arg d "$WORK/ipam" '
	.name = $name
	| .plugins[0].bridge = $br | .plugins[0].ipMasq = false
	| .plugins[0].ipam.dataDir = $d
	| .plugins[0].ipam.ranges = [[{subnet: "10.123.0.0/24"}]]' \
	deploy/cni/10-netfence-bridge.conflist >"$CONF" || die "bad deploy conflist"

two_tenant_scenario "$CONF" eth0
