# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The label scenario of the label rows (SPEC §9, §11), as v1 JSON documents:
# the same documents feed bench_labels (per-packet rows, compiled with the
# real compiler) and `netfence apply` (label change and churn rows).
#
#   tenants  nfbench-l00 .. nfbench-lNN (LBL_TENANTS, default 10), each with a
#            Namespace document: team=team<t%2>, env=prod (t < half) or dev
#   pods     per tenant LBL_SETS label sets (default 100): set k has
#            app=app<k%10>, role=r<k/10>; LBL_PER_SET pods per set (default
#            10), pod p<k>-<j> at 10.<64+t>.<k>.<j+1> and fd00:64:<t>::<k>:<j+1>,
#            one container port named http (8080)
#   policies per tenant (NetworkPolicy, pod and namespace selectors):
#     fence  every pod: ingress from its own pods TCP 9000; egress to every
#            namespace, and DNS (10.96.0.10/32 UDP 53)
#     web    role=r0: ingress from app In (app1,app2,app3) to port "http";
#            from namespaces team=<the other team>, pods role=r1, TCP 8080
#     db     role In (r2,r3): from role=r0 TCP 5432; from namespaces env=prod,
#            pods app NotIn (app9), TCP 5432
#     mon    every pod: from namespaces having a team label, pods app=app0 and
#            role=r5, TCP 9100
# 10 x 100 x 10 = 10,000 pods in 1,000 label sets (identities).
# Sourced; needs nothing else.

LBL_TENANTS=${LBL_TENANTS:-10}
LBL_SETS=${LBL_SETS:-100}
LBL_PER_SET=${LBL_PER_SET:-10}
LBL_PREFIX=${LBL_PREFIX:-nfbench-l}

# lbl_tenant T: the tenant name of index T.
lbl_tenant() { printf '%s%02d' "$LBL_PREFIX" "$1"; }

# lbl_pod_doc T K J ROLE [APP]: one Pod document (app APP, default set K's;
# role ROLE) on one line.
lbl_pod_doc() {
	local t=$1 k=$2 j=$3 role=$4 app=${5:-app$(($2 % 10))}
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p%d-%d","namespace":"%s","labels":{"app":"%s","role":"%s"}},"spec":{"containers":[{"name":"c","ports":[{"name":"http","containerPort":8080}]}]},"status":{"phase":"Running","podIP":"10.%d.%d.%d","podIPs":[{"ip":"10.%d.%d.%d"},{"ip":"fd00:64:%x::%x:%x"}]}}\n' \
		"$k" "$j" "$(lbl_tenant "$t")" "$app" "$role" \
		$((64 + t)) "$k" $((j + 1)) $((64 + t)) "$k" $((j + 1)) "$t" "$k" $((j + 1))
}

# lbl_gen_all > FILE: every Namespace, Pod and NetworkPolicy, one v1 List.
lbl_gen_all() {
	awk -v nt="$LBL_TENANTS" -v ns="$LBL_SETS" -v np="$LBL_PER_SET" -v pre="$LBL_PREFIX" '
	function tn(t) { return sprintf("%s%02d", pre, t) }
	function item(s) { printf "%s%s", (n++ ? ",\n" : ""), s }
	BEGIN {
		printf "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"
		for (t = 0; t < nt; t++) {
			item(sprintf("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubernetes.io/metadata.name\":\"%s\",\"team\":\"team%d\",\"env\":\"%s\"}}}",
				tn(t), tn(t), t % 2, (t < nt / 2 ? "prod" : "dev")))
			other = sprintf("team%d", (t + 1) % 2)
			item(sprintf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"fence\",\"namespace\":\"%s\"},\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],\"ingress\":[{\"from\":[{\"podSelector\":{}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":9000}]}],\"egress\":[{\"to\":[{\"namespaceSelector\":{}}]},{\"to\":[{\"ipBlock\":{\"cidr\":\"10.96.0.10/32\"}}],\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]}}", tn(t)))
			item(sprintf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"web\",\"namespace\":\"%s\"},\"spec\":{\"podSelector\":{\"matchLabels\":{\"role\":\"r0\"}},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":[{\"podSelector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\",\"values\":[\"app1\",\"app2\",\"app3\"]}]}}],\"ports\":[{\"port\":\"http\"}]},{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"%s\"}},\"podSelector\":{\"matchLabels\":{\"role\":\"r1\"}}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":8080}]}]}}", tn(t), other))
			item(sprintf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"db\",\"namespace\":\"%s\"},\"spec\":{\"podSelector\":{\"matchExpressions\":[{\"key\":\"role\",\"operator\":\"In\",\"values\":[\"r2\",\"r3\"]}]},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"role\":\"r0\"}}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":5432}]},{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"env\":\"prod\"}},\"podSelector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"NotIn\",\"values\":[\"app9\"]}]}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":5432}]}]}}", tn(t)))
			item(sprintf("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"mon\",\"namespace\":\"%s\"},\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"Exists\"}]},\"podSelector\":{\"matchLabels\":{\"app\":\"app0\",\"role\":\"r5\"}}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":9100}]}]}}", tn(t)))
			for (k = 0; k < ns; k++)
				for (j = 0; j < np; j++)
					item(sprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%d-%d\",\"namespace\":\"%s\",\"labels\":{\"app\":\"app%d\",\"role\":\"r%d\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.%d.%d.%d\",\"podIPs\":[{\"ip\":\"10.%d.%d.%d\"},{\"ip\":\"fd00:64:%x::%x:%x\"}]}}",
						k, j, tn(t), k % 10, int(k / 10), 64 + t, k, j + 1, 64 + t, k, j + 1, t, k, j + 1))
		}
		printf "\n]}\n"
	}'
}
