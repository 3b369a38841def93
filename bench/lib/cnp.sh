# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The CNP rows (SPEC §9, §13; BENCH_ONLY=cnp): per-packet cost of one
# endpoint of the label scenario (labels_gen.sh) with vs without 100
# ClusterNetworkPolicies that select it, established, new flow to a seen peer
# and cold first packet, for a flow a NetworkPolicy rule decides and one a
# cluster rule decides (bench_labels --cnp, BPF_PROG_TEST_RUN, private
# datapath instances: the node's state is not touched).
# Sourced by bench/run.sh (needs common.sh and labels.sh's lbl_prog).
#
# The cluster policies of the CNP rows, as one v1 List of
# CNP_COUNT (default 100) ClusterNetworkPolicies (v1alpha2) over the label
# scenario of labels_gen.sh. Every one selects tenant nfbench-l00 (team0,
# env=prod) and its pod p0-0 (app0, r0), the measured endpoint of
# bench_labels --cnp. Policy i (nfbench-cnp-III):
#   tier      Admin for i < 70, else Baseline; priority 10 * (i % 40) (ties
#             are ordered by name)
#   subject   by i % 5: namespaces {}, team=team0, env=prod, team Exists;
#             pods {namespaceSelector env=prod, podSelector role In (r0,r1,r2)}
#   ingress   1 + i % 3 rules, kind (i + m) % 7:
#     0 Deny   from namespaces env=dev: TCP 22 and named port http
#     1 Deny   from namespaces team=team1: TCP 6000-6999
#     2 Pass   from pods app=app<1 + i % 9> in every namespace: TCP 5432
#     3 Accept from namespace nfbench-l0<i % 10>: TCP 3000+i .. 3099+i
#     4 Deny   from pods role In (r6,r7,r8) in namespaces team=team1 (every port)
#     5 Accept from namespaces {}: UDP 53, TCP 443
#     6 Deny   from pods app In (app7,app8,app9) in namespaces env=prod: TCP 8080
#   egress    i % 3 rules, kind (i + m) % 4: Deny to 169.254.169.254/32;
#             Accept to 10.96.0.0/12 and fd00:96::/108 UDP 53; Deny to
#             198.51.<i>.0/24 TCP 1-1023; Pass to namespaces team=team1 TCP 5432
#   policy 42 (Admin, priority 20) has first the ingress rule "monitoring":
#             Accept from pods app=app0,role=r5 in namespaces with a team
#             label, TCP 9100.
# No rule matches the flow nfbench-l01/p10-0 (team1, prod; app0, r1) -> TCP
# 8080, which the tenant's NetworkPolicy `web` allows; "monitoring" is the
# first Admin rule to match nfbench-l01/p50-0 (app0, r5) -> TCP 9100, which
# the NetworkPolicy `mon` allows too. Many rules cover those peers on other
# ports, so their identity classes are tiered.

CNP_COUNT=${CNP_COUNT:-100}

# cnp_gen_all > FILE: the ClusterNetworkPolicies, one v1 List.
cnp_gen_all() {
	awk -v n="$CNP_COUNT" '
	function item(s) { printf "%s%s", (cnt++ ? ",\n" : ""), s }
	function tcp(p) { return sprintf("{\"tcp\":{\"destinationPort\":{\"number\":%d}}}", p) }
	function tcpr(a, b) {
		return sprintf("{\"tcp\":{\"destinationPort\":{\"range\":{\"start\":%d,\"end\":%d}}}}", a, b)
	}
	function sel(k, v) { return sprintf("{\"matchLabels\":{\"%s\":\"%s\"}}", k, v) }
	function pods(ns, pod) { return sprintf("{\"pods\":{\"namespaceSelector\":%s,\"podSelector\":%s}}", ns, pod) }
	function rule(name, act, peers, protos, dir) {
		return sprintf("{\"name\":\"%s\",\"action\":\"%s\",\"%s\":[%s]%s}", name, act,
			       dir == "in" ? "from" : "to", peers,
			       protos == "" ? "" : ",\"protocols\":[" protos "]")
	}
	function in_rule(k, i) {
		if (k == 0) return rule("no-dev-ssh", "Deny", "{\"namespaces\":" sel("env", "dev") "}",
					tcp(22) ",{\"destinationNamedPort\":\"http\"}", "in")
		if (k == 1) return rule("no-team1-high", "Deny", "{\"namespaces\":" sel("team", "team1") "}",
					tcpr(6000, 6999), "in")
		if (k == 2) return rule("db-app", "Pass", pods("{}", sel("app", "app" (1 + i % 9))),
					tcp(5432), "in")
		if (k == 3) return rule("from-ns", "Accept",
					"{\"namespaces\":" sel("kubernetes.io/metadata.name",
					sprintf("nfbench-l%02d", i % 10)) "}", tcpr(3000 + i, 3099 + i), "in")
		if (k == 4) return rule("no-batch", "Deny", pods(sel("team", "team1"),
					"{\"matchExpressions\":[{\"key\":\"role\",\"operator\":\"In\",\"values\":[\"r6\",\"r7\",\"r8\"]}]}"),
					"", "in")
		if (k == 5) return rule("dns-https", "Accept", "{\"namespaces\":{}}",
					"{\"udp\":{\"destinationPort\":{\"number\":53}}}," tcp(443), "in")
		return rule("no-legacy-web", "Deny", pods(sel("env", "prod"),
			    "{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\",\"values\":[\"app7\",\"app8\",\"app9\"]}]}"),
			    tcp(8080), "in")
	}
	function eg_rule(k, i) {
		if (k == 0) return rule("no-metadata", "Deny", "{\"networks\":[\"169.254.169.254/32\"]}", "", "out")
		if (k == 1) return rule("dns", "Accept", "{\"networks\":[\"10.96.0.0/12\",\"fd00:96::/108\"]}",
					"{\"udp\":{\"destinationPort\":{\"number\":53}}}", "out")
		if (k == 2) return rule("no-low-ports", "Deny",
					sprintf("{\"networks\":[\"198.51.%d.0/24\"]}", i), tcpr(1, 1023), "out")
		return rule("db-team1", "Pass", "{\"namespaces\":" sel("team", "team1") "}", tcp(5432), "out")
	}
	BEGIN {
		subj[0] = "{\"namespaces\":{}}"
		subj[1] = "{\"namespaces\":" sel("team", "team0") "}"
		subj[2] = "{\"namespaces\":" sel("env", "prod") "}"
		subj[3] = "{\"namespaces\":{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"Exists\"}]}}"
		subj[4] = pods(sel("env", "prod"),
			       "{\"matchExpressions\":[{\"key\":\"role\",\"operator\":\"In\",\"values\":[\"r0\",\"r1\",\"r2\"]}]}")
		printf "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"
		for (i = 0; i < n; i++) {
			ing = ""
			if (i == 42)
				ing = rule("monitoring", "Accept",
					   pods("{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"Exists\"}]}",
						"{\"matchLabels\":{\"app\":\"app0\",\"role\":\"r5\"}}"), tcp(9100), "in")
			for (m = 0; m < 1 + i % 3; m++)
				ing = ing (ing == "" ? "" : ",") in_rule((i + m) % 7, i)
			eg = ""
			for (m = 0; m < i % 3; m++)
				eg = eg (eg == "" ? "" : ",") eg_rule((i + m) % 4, i)
			item(sprintf("{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":\"ClusterNetworkPolicy\",\"metadata\":{\"name\":\"nfbench-cnp-%03d\"},\"spec\":{\"tier\":\"%s\",\"priority\":%d,\"subject\":%s,\"ingress\":[%s]%s}}",
				     i, i < 70 ? "Admin" : "Baseline", 10 * (i % 40), subj[i % 5], ing,
				     eg == "" ? "" : ",\"egress\":[" eg "]"))
		}
		printf "\n]}\n"
	}'
}

# bench_cnp: the CNP rows (BENCH_ROUNDS, BENCH_REPEAT, BENCH_COLD as bench_prog's).
bench_cnp() {
	lbl_gen_all >"$WORK/labels-all.json"
	cnp_gen_all >"$WORK/cnp.json"
	lbl_prog "$ROUNDS" "$REPEAT" cnp --cnp "$WORK/cnp.json" --cold-samples "$COLD"
}
