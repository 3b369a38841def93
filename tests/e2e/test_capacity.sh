#!/usr/bin/env bash
# A policy that does not fit the datapath's maps fails loudly (exit 1, a
# message naming the tenant) and changes nothing: the previous policy stays
# in force (SPEC §4, issue "The fence").
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init
T=$NF_PREFIX-cap
trap 'rm -f "$T".json "$T".big.json "$T".err; nf_cleanup' EXIT

cat > "$T.json" <<JSON
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
 "metadata":{"name":"small","namespace":"capacity"},
 "spec":{"podSelector":{},"policyTypes":["Egress"],
  "egress":[{"to":[{"ipBlock":{"cidr":"10.1.0.0/16"}}],"ports":[{"port":443}]}]}}
JSON
"$NF" apply "$T.json" >/dev/null || fail "apply the small policy"

# 10,000 peers x 60 odd single ports: 600,000 port entries, more than the
# half of nf_ports a tenant may use (the other half holds a swap).
python3 - "$T.big.json" <<'PY'
import json, sys
rules = [{"to": [{"ipBlock": {"cidr": "10.%d.%d.%d/32" % (2 + i // 65536, (i // 256) % 256, i % 256)}}],
          "ports": [{"port": 1001 + 2 * (i % 7) + 20 * j} for j in range(60)]} for i in range(10000)]
json.dump({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "big", "namespace": "capacity"},
           "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": rules}},
          open(sys.argv[1], "w"))
PY
"$NF" apply "$T.big.json" >/dev/null 2>"$T.err"
rc=$?
[ $rc -eq 1 ] && ok "too big: exit 1" || fail "too big: exit $rc, expected 1"
grep -q "tenant capacity: the policy does not fit" "$T.err" && ok "message: $(head -1 "$T.err")" ||
	fail "message: $(cat "$T.err")"
out=$("$NF" check --tenant capacity --direction egress --peer 10.1.2.3 --port 443)
[[ $out == *"allow: policy capacity/small"* ]] && ok "the previous policy is still in force" ||
	fail "after the failed apply: $out"
out=$("$NF" check --tenant capacity --direction egress --peer 10.2.0.5 --port 1001)
[[ $out == deny* || $out == *$'\n'deny* ]] && ok "nothing of the big policy was installed" ||
	fail "big policy leaked: $out"
"$NF" status | grep "NetworkPolicy/small" >/dev/null && ok "the store still holds only the small policy" ||
	fail "status: $("$NF" status)"
nf_done
