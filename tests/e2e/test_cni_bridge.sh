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
deploy_bridge_conflist "$CONF" '[[{subnet: "10.123.0.0/24"}]]'

two_tenant_scenario "$CONF" eth0
