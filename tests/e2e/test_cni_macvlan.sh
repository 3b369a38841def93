#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# netfence-cni on a Multus-style secondary network: the macvlan + host-local
# config of deploy/cni/multus-nad.yaml (parent: one end of a veth pair in the
# test's node netns; this kernel may lack the dummy driver), interface net1.
# Same two-tenant fence as on the bridge.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/cni.sh

cni_setup
PARENT=${IFP}p0
in_ns "$NODE" ip link add "$PARENT" type veth peer name "${IFP}p1" || die "cannot create the parent"
in_ns "$NODE" ip link set "$PARENT" up
in_ns "$NODE" ip link set "${IFP}p1" up
CONF=$WORK/macvlan.conflist
# The NAD's spec.config is the JSON block after "config: |-".
awk '/config: \|-/ { on = 1; next } on' deploy/cni/multus-nad.yaml |
	jq --arg name "$P-net" --arg m "$PARENT" --arg d "$WORK/ipam" '
	.name = $name
	| .plugins[0].master = $m
	| .plugins[0].ipam.dataDir = $d
	| .plugins[0].ipam.ranges = [[{subnet: "10.125.0.0/24"}]]' >"$CONF" ||
	die "cannot read the NetworkAttachmentDefinition's config"

two_tenant_scenario "$CONF" net1
