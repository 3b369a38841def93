# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The reachability-matrix harness of the upstream-style policy tests
# (test_netpol_labels.sh: Kubernetes' netpol suite; test_cnp_conformance.sh:
# network-policy-api's conformance suite). Pods are network namespaces wired
# by the real CNI bridge plugin + host-local IPAM + netfence-cni (CNI_ARGS
# K8S_POD_NAMESPACE=NS;K8S_POD_NAME=NAME), each running netpol_matrix.py's
# servers, described to netfence by v1 Pod and Namespace documents. A case
# writes its documents into $STATE, applies it as the whole desired state
# (`apply --prune`), and measures the whole pods x pods x ports matrix with
# real traffic (netpol_matrix.py probe), compared to the expected one
# (printed as a table on mismatch). Every case runs even when an earlier one
# failed; a summary lists them.
#
# Before sourcing, the test sets:
#   ALL_PODS   its pods, NS/NAME (NS is the namespace = tenant)
#   ALL_PORTS  the matrix's ports: tcp/80 udp/53 ...
#   SERVE      the servers in every pod (netpol_matrix.py serve: tcp:P udp:P echo:P)
#   ECHO_PORT  the echo: port, for hold_start (optional)
# and defines:
#   pod_labels NS NAME   the Pod's labels by default (a JSON object)
#   pod_ports NS NAME    its named container ports: JSON [[NAME, PORT, "TCP"|"UDP"], ...]
#   ns_labels NS         the Namespace's labels by default (a JSON object; the
#                        name label kubernetes.io/metadata.name is always added)
#   pod_short NS/NAME    (optional) a short name for the matrix tables
#   PROBE_TIMEOUT        (optional) seconds a blocked cell is waited for (1.5);
#                        a reachable one that timed out is probed twice more
# then: nph_setup; cases as functions t_NAME added to CASES (each starts with
# case_begin); nph_run_cases; nph_teardown.
# NETPOL_CASES=REGEX runs only the cases whose function name matches.

# the interpreter itself: a version manager's shim (pyenv) costs a second a start
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)}
# the test sources the guarded lib/cni.sh first (test_production_untouched checks that)
declare -F cni_setup >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/cni.sh"
MATRIX=tests/e2e/lib/netpol_matrix.py
PROBE_TIMEOUT=${PROBE_TIMEOUT:-1.5}
CASES=()
declare -A IP EXP

# pod_cni CMD NS POD: the runtime (cni.sh's cni-run.py) for pod NS/POD, whose
# netns and container id are $P-NS-POD
pod_cni() {
	in_ns "$NODE" env CNI_PATH="$CNI_PATH_DIRS" "$PYTHON" "$WORK/cni-run.py" "$1" "$CONF" \
		"$(netns_path "$P-$2-$3")" eth0 "$P-$2-$3" \
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=$2;K8S_POD_NAME=$3" "$WORK/cache"
}

# nph_setup: the node, the conflist, every pod of ALL_PODS up and serving
nph_setup() {
	local pod ns p
	cni_setup
	NF=$NETFENCE
	STATE=$WORK/state	# the whole desired state: `apply --prune $STATE`
	HELD=$WORK/held		# Pod/Namespace documents a build does not take (see objdir)
	mkdir -p "$STATE" "$HELD"
	CONF=$WORK/bridge.conflist
	deploy_bridge_conflist "$CONF" '[[{subnet: "10.128.0.0/24"}]]'
	for pod in "${ALL_PODS[@]}"; do
		ns=${pod%%/*}
		p=${pod#*/}
		pod_add "$ns-$p"
		(exec nsenter --net="$(netns_path "$P-$ns-$p")" "$PYTHON" "$MATRIX" serve \
			"${SERVE[@]}" </dev/null >/dev/null 2>&1) &
		echo $! >"$WORK/pids/server-$ns-$p"
		pod_cni ADD "$ns" "$p" >/dev/null || die "CNI ADD $pod"
		IP[$pod]=$(pod_ip "$CONF" "$ns-$p" eth0)
	done
	: >"$WORK/pods"
	for pod in "${ALL_PODS[@]}"; do
		wait_server "${pod/\//-}" "${SERVE[0]#*:}"
		echo "$pod $(netns_path "$P-${pod/\//-}") ${IP[$pod]} $(nph_short "$pod")" >>"$WORK/pods"
	done
	log "$SECONDS s: ${#ALL_PODS[@]} pods up: $(for pod in "${ALL_PODS[@]}"; do
		printf '%s=%s ' "$pod" "${IP[$pod]}"; done)"
}
nph_short() { if declare -F pod_short >/dev/null; then pod_short "$1"; else echo "$1"; fi; }

# nph_teardown: CNI DEL of every pod; no endpoint of ours may be left
nph_teardown() {
	local pod
	log "$SECONDS s: cases done"
	for pod in "${ALL_PODS[@]}"; do
		pod_cni DEL "${pod%%/*}" "${pod#*/}" >/dev/null || fail "CNI DEL $pod"
	done
	expect_eq "endpoints left after DEL" "$(nf_my_endpoints)" 0
}

# ---- documents ----

LABELS=1	# 0: this build rejects Pod/Namespace documents (they go to $HELD)
objdir() { if [ "$LABELS" = 1 ]; then echo "$STATE"; else echo "$HELD"; fi; }

# pod_doc NS POD [LABELS_JSON]: the Pod as `kubectl get pod -o json` has it
# (the fields netfence reads, and a few it must ignore); one container per
# named port of pod_ports.
pod_doc() {
	local ns=$1 p=$2 labels=${3:-}
	[ -n "$labels" ] || labels=$(pod_labels "$ns" "$p")
	jq -n --arg ns "$ns" --arg name "$p" --argjson labels "$labels" --arg ip "${IP[$ns/$p]}" \
		--argjson ports "$(pod_ports "$ns" "$p")" '
	def c(n; port; proto): {name: ("cont-" + n), image: "registry.k8s.io/e2e-test-images/agnhost:2.47",
		command: ["/agnhost", "serve-hostname"],
		ports: [{name: n, containerPort: port, protocol: proto}]};
	{apiVersion: "v1", kind: "Pod",
	 metadata: {name: $name, namespace: $ns, labels: $labels, uid: ("uid-" + $ns + "-" + $name),
	            resourceVersion: "1"},
	 spec: {nodeName: "node-1", containers: [$ports[] | c(.[0]; .[1]; .[2])]},
	 status: {phase: "Running", hostIP: "192.0.2.1", podIP: $ip, podIPs: [{ip: $ip}]}}' \
		>"$(objdir)/pod-$ns-$p.json"
}
# ns_doc NS [LABELS_JSON]: the Namespace (Kubernetes always sets the name label)
ns_doc() {
	local labels=${2:-}
	[ -n "$labels" ] || labels=$(ns_labels "$1")
	jq -n --arg ns "$1" --argjson labels "$labels" '
	{apiVersion: "v1", kind: "Namespace",
	 metadata: {name: $ns, labels: ({"kubernetes.io/metadata.name": $ns} + $labels)},
	 spec: {finalizers: ["kubernetes"]}, status: {phase: "Active"}}' >"$(objdir)/ns-$1.json"
}
# pol NS NAME SPEC_JSON: a NetworkPolicy of this case
pol() {
	jq -n --arg ns "$1" --arg name "$2" --argjson spec "$3" '
	{apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy",
	 metadata: {name: $name, namespace: $ns}, spec: $spec}' >"$STATE/pol-$1-$2.json" ||
		die "bad policy $1/$2: $3"
}

# nph_apply_cluster: every pod's and namespace's document, first as one v1
# List mixing kinds, as `kubectl get pods,ns -A -o json` prints them. A build
# that refuses them: the cases that need labels fail (LABELS=0).
nph_apply_cluster() {
	local pod out
	for pod in "${ALL_PODS[@]}"; do
		[ -f "$STATE/ns-${pod%%/*}.json" ] || ns_doc "${pod%%/*}"
		pod_doc "${pod%%/*}" "${pod#*/}"
	done
	jq -s '{apiVersion: "v1", kind: "List", items: .}' "$STATE"/ns-*.json "$STATE"/pod-*.json \
		>"$WORK/cluster.json"
	if out=$("$NF" apply "$WORK/cluster.json" 2>&1); then
		pass "apply of the Namespace and Pod documents (one v1 List)"
	else
		fail "apply of the Namespace and Pod documents (one v1 List) was refused: $(head -3 <<<"$out")"
		log "without them the cases that need labels fail below (their policies are refused too)"
		LABELS=0
		mv "$STATE"/ns-*.json "$STATE"/pod-*.json "$HELD"/
	fi
}

# ---- expectations and measurements ----

# exp FROM TO 0|1 [PORT...]: FROM and TO are pods or glob patterns (x/*, */a, *);
# default: every port
exp() {
	local f=$1 t=$2 v=$3 a b port ports
	shift 3
	ports=("$@")
	[ ${#ports[@]} -eq 0 ] && ports=("${ALL_PORTS[@]}")
	for a in "${ALL_PODS[@]}"; do
		[[ $a == $f ]] || continue
		for b in "${ALL_PODS[@]}"; do
			[[ $b == $t ]] || continue
			for port in "${ports[@]}"; do EXP["$a $b $port"]=$v; done
		done
	done
}

CASE=""
CASE_BROKEN=0
CASE_FAILS=0
RESULTS=()
case_end() {
	[ -n "$CASE" ] || return 0
	local r=FAIL
	[ "$FAILS" -eq "$CASE_FAILS" ] && r=pass
	RESULTS+=("$(printf '%s %3ss  %s' "$r" $((SECONDS - CASE_START)) "$CASE")")
	CASE=""
}
# case_begin NAME: no policies (every $STATE/pol-*.json goes), every cell
# blocked until exp says otherwise
case_begin() {
	case_end
	CASE=$1
	CASE_BROKEN=0
	CASE_FAILS=$FAILS
	CASE_START=$SECONDS
	rm -f "$STATE"/pol-*.json
	EXP=()
	exp '*' '*' 0
	echo
	log "case: $CASE"
}
# apply_state: make $STATE the whole desired state
apply_state() {
	local out
	if out=$("$NF" apply --prune "$STATE" 2>&1); then
		return 0
	fi
	fail "$CASE: apply --prune refused: $(head -3 <<<"$out")"
	CASE_BROKEN=1
	return 1
}
# apply_obj FILE: create or replace one object (a label change)
apply_obj() {
	local out
	if out=$("$NF" apply "$1" 2>&1); then
		return 0
	fi
	fail "$CASE: apply $(basename "$1") refused: $(head -3 <<<"$out")"
	CASE_BROKEN=1
	return 1
}
# matrix DESC: measure and compare to EXP
matrix() {
	local k a b port v out
	if [ "$CASE_BROKEN" = 1 ]; then
		fail "$CASE: $1: not measured (an apply of this case was refused)"
		return 1
	fi
	for k in "${!EXP[@]}"; do
		read -r a b port <<<"$k"
		v=${EXP[$k]}
		[ "$a" = "$b" ] && v=1	# loopback: never through the fence
		echo "$k $v"
	done >"$WORK/expect"
	if out=$("$PYTHON" "$MATRIX" probe "$WORK/pods" "$WORK/expect" \
		--timeout "$PROBE_TIMEOUT" 2>&1); then
		pass "$CASE: $1"
	else
		fail "$CASE: $1: reachability differs"
		echo "$out"
	fi
}
# check_says DESC PATTERN ARGS...: `netfence check ARGS` exits 0 and prints a
# line matching PATTERN (an extended regex)
check_says() {
	local d=$1 pat=$2 out rc
	shift 2
	if [ "$CASE_BROKEN" = 1 ]; then
		fail "$CASE: check $d: not asked (an apply of this case was refused)"
		return 1
	fi
	out=$("$NF" check "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && grep -Eq "$pat" <<<"$out"; then
		pass "$CASE: check $d"
	else
		fail "$CASE: check $d: exit $rc, want a line /$pat/, got: $(tr '\n' '|' <<<"$out")"
	fi
}

# A long-lived TCP connection (bash coproc HOLD) FROM -> TO's echo port.
# After an apply of the case was refused they only report that.
hold_start() { # FROM TO
	local line
	if [ "$CASE_BROKEN" = 1 ]; then
		fail "$CASE: long-lived connection $1 -> $2: not opened (an apply of this case was refused)"
		return 1
	fi
	coproc HOLD { exec nsenter --net="$(netns_path "$P-${1/\//-}")" "$PYTHON" -u "$MATRIX" \
		hold "${IP[$2]}" "$ECHO_PORT" 2>&1; }
	echo "$HOLD_PID" >"$WORK/pids/hold"
	HOLD_IN=${HOLD[1]}
	HOLD_OUT=${HOLD[0]}
	read -r -t 10 line <&"$HOLD_OUT"
	expect_eq "$CASE: long-lived connection $1 -> $2 tcp/$ECHO_PORT opens" "$line" connected
	[ "$line" = connected ] || hold_stop
}
# hold_ping WANT DESC: send a line, the answer (ok | timeout | closed...) must be WANT.
# Not in $(...): a coproc's descriptors are not available in subshells.
hold_ping() {
	local line=""
	if [ ! -f "$WORK/pids/hold" ]; then
		line="no connection"
	elif ! echo ping 2>/dev/null >&"$HOLD_IN"; then
		line=closed
	else
		read -r -t 10 line <&"$HOLD_OUT"
	fi
	expect_eq "$CASE: $2" "${line:-no answer}" "$1"
}
hold_stop() {
	[ -f "$WORK/pids/hold" ] || return 0
	kill "$(cat "$WORK/pids/hold")" 2>/dev/null
	wait "$(cat "$WORK/pids/hold")" 2>/dev/null
	rm -f "$WORK/pids/hold"
}

# scrape: GET /metrics of `netfence serve` (started on first use, in the node
# netns) into $WORK/metrics; 1 when it does not answer ($WORK/serve.log says why)
MPORT=9155	# in the node netns: no other listener there
scrape() {
	if [ ! -f "$WORK/pids/serve" ]; then
		(exec nsenter --net="$(netns_path "$NODE")" "$NF" serve --listen "127.0.0.1:$MPORT" \
			>"$WORK/serve.log" 2>&1) &
		echo $! >"$WORK/pids/serve"
	fi
	rm -f "$WORK/metrics"
	for _ in $(seq 50); do
		in_ns "$NODE" curl -sf -o "$WORK/metrics" "http://127.0.0.1:$MPORT/metrics" && return 0
		sleep 0.1
	done
	return 1
}
serve_stop() {
	[ -f "$WORK/pids/serve" ] || return 0
	kill "$(cat "$WORK/pids/serve")" 2>/dev/null
	wait "$(cat "$WORK/pids/serve")" 2>/dev/null
	rm -f "$WORK/pids/serve"
}
# metric_sum NAME [LABEL=VALUE...]: the sum of the series NAME of the last
# scrape that carry those labels, or "absent"
metric_sum() {
	local name=$1
	shift
	awk -v name="$name" -v want="$*" '
		BEGIN { n = split(want, w, " ") }
		$1 == name || index($1, name "{") == 1 {
			for (i = 1; i <= n; i++) {
				split(w[i], kv, "=")
				if (index($1, kv[1] "=\"" kv[2] "\"") == 0) next
			}
			sum += $NF; seen = 1
		}
		END { print seen ? sum : "absent" }' "$WORK/metrics"
}

# nph_run_cases: every case of CASES (NETPOL_CASES=REGEX: those matching), then the summary
nph_run_cases() {
	local t
	for t in "${CASES[@]}"; do
		[[ $t =~ ${NETPOL_CASES:-.} ]] && "$t"
	done
	case_end
	echo
	log "cases:"
	printf '#   %s\n' "${RESULTS[@]}"
}
