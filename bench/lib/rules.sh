# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The same N allow rules in three forms: netfence policy JSON, an
# iptables-restore file, an nftables ruleset (one set of concatenations).
#
# Rule i (0 <= i < N-1) is "from 10.0.0.0/8 cut in /28s, block i, TCP port
# 1024 + i % 60000". The last rule is the one that allows the bench traffic:
# from ALLOW_CIDR, TCP 5201 (iperf3), TCP 5300 (connections), UDP 5400
# (small packets), TCP 5500 (the stream kept during policy replaces).
# Sourced by bench/run.sh.

ALLOW_CIDR=10.200.0.0/24
PORT_IPERF=5201
PORT_CONN=5300
PORT_UDP=5400
PORT_STREAM=5500
RULES_PER_POLICY=10000	# netfence's per-policy limit (NF_POLICY_MAX_RULES)

# gen_policy_json TENANT N DIRS VARIANT > FILE
#   DIRS: ingress | egress | both. A List of ceil(N/10000) NetworkPolicies
#   (bench-000, bench-001, ...). VARIANT shifts filler rule 0's port, so two
#   variants are two different policies that allow the same bench traffic.
gen_policy_json() {
	awk -v tenant="$1" -v n="$2" -v dirs="$3" -v variant="$4" -v per="$RULES_PER_POLICY" \
	    -v allow="$ALLOW_CIDR" -v p1="$PORT_IPERF" -v p2="$PORT_CONN" -v p3="$PORT_UDP" \
	    -v p4="$PORT_STREAM" '
	function cidr(i,   a) { a = i * 16; return sprintf("10.%d.%d.%d/28", int(a / 65536) % 256, int(a / 256) % 256, a % 256) }
	function rules(key, first, last,   i, port) {
		for (i = first; i < last; i++) {
			if (i == n - 1)
				printf "%s{\"%s\":[{\"ipBlock\":{\"cidr\":\"%s\"}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":%d},{\"protocol\":\"TCP\",\"port\":%d},{\"protocol\":\"UDP\",\"port\":%d},{\"protocol\":\"TCP\",\"port\":%d}]}", (i > first ? "," : ""), key, allow, p1, p2, p3, p4
			else {
				port = 1024 + i % 60000 + (i == 0 ? variant : 0)
				printf "%s{\"%s\":[{\"ipBlock\":{\"cidr\":\"%s\"}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":%d}]}", (i > first ? "," : ""), key, cidr(i), port
			}
		}
	}
	BEGIN {
		np = int((n + per - 1) / per)
		printf "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"
		for (k = 0; k < np; k++) {
			first = k * per; last = first + per; if (last > n) last = n
			types = dirs == "both" ? "\"Ingress\",\"Egress\"" : dirs == "egress" ? "\"Egress\"" : "\"Ingress\""
			printf "%s{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"bench-%03d\",\"namespace\":\"%s\"},\"spec\":{\"podSelector\":{},\"policyTypes\":[%s]", (k ? ",\n" : ""), k, tenant, types
			if (dirs != "egress") {
				printf ",\"ingress\":["; rules("from", first, last); printf "]"
			}
			if (dirs != "ingress") {
				printf ",\"egress\":["; rules("to", first, last); printf "]"
			}
			printf "}}"
		}
		printf "\n]}\n"
	}'
}

# gen_iptables N > FILE: filter table, INPUT: established first, N rules, default DROP.
gen_iptables() {
	awk -v n="$1" -v allow="$ALLOW_CIDR" -v p1="$PORT_IPERF" -v p2="$PORT_CONN" \
	    -v p3="$PORT_UDP" -v p4="$PORT_STREAM" '
	function cidr(i,   a) { a = i * 16; return sprintf("10.%d.%d.%d/28", int(a / 65536) % 256, int(a / 256) % 256, a % 256) }
	BEGIN {
		print "*filter"
		print ":INPUT DROP [0:0]"
		print ":FORWARD ACCEPT [0:0]"
		print ":OUTPUT ACCEPT [0:0]"
		print "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
		print "-A INPUT -i lo -j ACCEPT"
		for (i = 0; i < n - 1; i++)
			printf "-A INPUT -s %s -p tcp -m tcp --dport %d -j ACCEPT\n", cidr(i), 1024 + i % 60000
		printf "-A INPUT -s %s -p tcp -m tcp --dport %d -j ACCEPT\n", allow, p1
		printf "-A INPUT -s %s -p tcp -m tcp --dport %d -j ACCEPT\n", allow, p2
		printf "-A INPUT -s %s -p udp -m udp --dport %d -j ACCEPT\n", allow, p3
		printf "-A INPUT -s %s -p tcp -m tcp --dport %d -j ACCEPT\n", allow, p4
		print "COMMIT"
	}'
}

# gen_nft N > FILE: table inet nfbench, one interval set of addr . proto . port.
gen_nft() {
	awk -v n="$1" -v allow="$ALLOW_CIDR" -v p1="$PORT_IPERF" -v p2="$PORT_CONN" \
	    -v p3="$PORT_UDP" -v p4="$PORT_STREAM" '
	function cidr(i,   a) { a = i * 16; return sprintf("10.%d.%d.%d/28", int(a / 65536) % 256, int(a / 256) % 256, a % 256) }
	BEGIN {
		print "table inet nfbench {"
		print "\tset allow4 {"
		print "\t\ttype ipv4_addr . inet_proto . inet_service"
		print "\t\tflags interval"
		printf "\t\telements = {"
		for (i = 0; i < n - 1; i++)
			printf "%s%s . tcp . %d", (i ? ",\n\t\t\t" : " "), cidr(i), 1024 + i % 60000
		printf ",\n\t\t\t%s . tcp . %d, %s . tcp . %d, %s . udp . %d, %s . tcp . %d }\n", allow, p1, allow, p2, allow, p3, allow, p4
		print "\t}"
		print "\tchain input {"
		print "\t\ttype filter hook input priority filter; policy drop;"
		print "\t\tct state established,related accept"
		print "\t\tiif \"lo\" accept"
		print "\t\tip saddr . meta l4proto . th dport @allow4 accept"
		print "\t}"
		print "}"
	}'
}
