#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# deploy/ is correct as shipped:
#  1. every YAML/JSON file parses; Kubernetes objects have apiVersion, kind and
#     metadata.name; the DaemonSet mounts what netfence needs; names that refer
#     to each other (ServiceAccount, ConfigMap, Service, labels) match;
#  2. the policies ConfigMap holds exactly policies/*.json, and netfence
#     validates it;
#  3. Prometheus config and rules pass promtool, systemd units pass
#     systemd-analyze verify (each a "SKIP PART" when the tool is missing);
#  4. the Dockerfile copies files that exist and installs Debian packages that
#     exist; the CNI installer installs atomically, chains, unchains;
#  5. every conflist in deploy/cni (and the Multus NAD's config) is accepted by
#     the real plugins: ADD, CHECK, DEL, DEL again, in namespaces of our own.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
nf_require_private	# CNI ADD/DEL and netfence delete: never the node's state

NETFENCE=${NETFENCE:-build/netfence}
NETFENCE_CNI=${NETFENCE_CNI:-build/netfence-cni}
P=nftdeploy
TENANT=nftest-deploy
FAILS=0
T=$(mktemp -d /tmp/nftdeploy.XXXXXX)

pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; FAILS=$((FAILS + 1)); }
SKIPPED=0
# a part that cannot run here: said in the output and to tests/run.sh
skip() { nf_skip_part "$*"; SKIPPED=$((SKIPPED + 1)); }

cleanup() {
	set +e
	for f in "$T"/pids/*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-"); do
		ip netns del "$ns"
	done
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/pids"

# ------------------------------------------------------------- 1, 2: manifests
echo "manifests"
if python3 - "$T" <<'EOF'; then pass "manifests"; else fail "manifests"; fi
import glob, json, os, sys
import yaml

tmp = sys.argv[1]
errors = []
def err(msg):
    errors.append(msg)
    print("  FAIL " + msg)

docs = {}   # path -> list of documents
for path in sorted(glob.glob("deploy/**/*", recursive=True)):
    if not os.path.isfile(path):
        continue
    try:
        if path.endswith((".yaml", ".yml")):
            docs[path] = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        elif path.endswith((".json", ".conflist", ".conf")):
            docs[path] = [json.load(open(path))]
    except Exception as e:
        err("%s does not parse: %s" % (path, e))
print("  ok   %d YAML/JSON files parse" % len(docs))

objs = []
for path, ds in docs.items():
    k8s = path.startswith("deploy/kubernetes/") or path.startswith("deploy/cni/") and path.endswith(".yaml")
    for d in ds:
        if not isinstance(d, dict) or not k8s:
            continue
        if d.get("kind") == "Kustomization":
            for r in d.get("resources", []):
                if not os.path.exists(os.path.join(os.path.dirname(path), r)):
                    err("%s: resource %s does not exist" % (path, r))
            continue
        name = (d.get("metadata") or {}).get("name")
        if not (d.get("apiVersion") and d.get("kind") and name):
            err("%s: object without apiVersion, kind or metadata.name: %s" % (path, str(d)[:80]))
            continue
        objs.append((path, d))
print("  ok   %d Kubernetes objects" % len(objs))

def find(kind, name=None):
    r = [d for _, d in objs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return r[0] if r else None

cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
for path, d in objs:
    if path.startswith("deploy/kubernetes/") and d["kind"] not in cluster_scoped:
        if d["metadata"].get("namespace") != "netfence-system":
            err("%s: %s/%s not in netfence-system" % (path, d["kind"], d["metadata"]["name"]))

ds = find("DaemonSet", "netfence")
if ds is None:
    err("no DaemonSet netfence")
else:
    pod = ds["spec"]["template"]["spec"]
    if ds["spec"]["selector"]["matchLabels"].items() - ds["spec"]["template"]["metadata"]["labels"].items():
        err("DaemonSet selector does not match its pod labels")
    if not pod.get("hostNetwork"):
        err("DaemonSet: hostNetwork is not set")
    vols = {v["name"]: v for v in pod["volumes"]}
    host = {v["hostPath"]["path"]: n for n, v in vols.items() if "hostPath" in v}
    for p in ("/sys/fs/bpf", "/sys/fs/cgroup", "/opt/cni/bin", "/etc/cni/net.d", "/run/netfence"):
        if p not in host:
            err("DaemonSet: no hostPath volume for " + p)
    main = [c for c in pod["containers"] if c["name"] == "netfence"]
    if not main:
        err("DaemonSet: no container named netfence")
    else:
        c = main[0]
        if not c.get("securityContext", {}).get("privileged"):
            err("DaemonSet: netfence container is not privileged")
        cmd = c.get("command", []) + c.get("args", [])
        pdir = cmd[cmd.index("--policy-dir") + 1] if "--policy-dir" in cmd[:-1] else None
        if cmd[:2] != ["netfence", "serve"] or not pdir:
            err("DaemonSet: netfence container does not run netfence serve --policy-dir: %s" % cmd)
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        bpf = mounts.get("/sys/fs/bpf")
        if not bpf or vols[bpf["name"]].get("hostPath", {}).get("path") != "/sys/fs/bpf" \
                or bpf.get("mountPropagation") != "Bidirectional":
            err("DaemonSet: /sys/fs/bpf is not the host's, mounted Bidirectional")
        for p in ("/sys/fs/cgroup", "/run/netfence"):
            if p not in mounts or vols[mounts[p]["name"]].get("hostPath", {}).get("path") != p:
                err("DaemonSet: host %s not mounted at %s" % (p, p))
        pm = mounts.get(pdir)
        if not pm or "configMap" not in vols[pm["name"]]:
            err("DaemonSet: policies ConfigMap not mounted at the --policy-dir")
        elif find("ConfigMap", vols[pm["name"]]["configMap"]["name"]) is None:
            err("DaemonSet: ConfigMap %s not defined" % vols[pm["name"]]["configMap"]["name"])
        if not any(p.get("containerPort") == 9471 and p.get("name") == "metrics" for p in c.get("ports", [])):
            err("DaemonSet: no containerPort 9471 named metrics")
    for c in pod.get("initContainers", []) + pod["containers"]:
        for m in c.get("volumeMounts", []):
            if m["name"] not in vols:
                err("DaemonSet: %s mounts undefined volume %s" % (c["name"], m["name"]))
    init = [c for c in pod.get("initContainers", []) if c["name"] == "install-cni"]
    if not init:
        err("DaemonSet: no install-cni init container")
    else:
        mp = {vols[m["name"]].get("hostPath", {}).get("path") for m in init[0]["volumeMounts"]}
        if not {"/opt/cni/bin", "/etc/cni/net.d"} <= mp:
            err("DaemonSet: install-cni does not mount /opt/cni/bin and /etc/cni/net.d")
    sa = pod.get("serviceAccountName")
    if not find("ServiceAccount", sa):
        err("DaemonSet: ServiceAccount %s not defined" % sa)
    crb = find("ClusterRoleBinding")
    if not crb or not any(s["name"] == sa for s in crb["subjects"]) or \
            not find("ClusterRole", crb["roleRef"]["name"]):
        err("RBAC: no ClusterRoleBinding of an existing ClusterRole to " + str(sa))

    svc = find("Service", "netfence-metrics")
    sm = find("ServiceMonitor")
    labels = ds["spec"]["template"]["metadata"]["labels"]
    if not svc or svc["spec"]["selector"].items() - labels.items():
        err("metrics Service does not select the DaemonSet's pods")
    elif not sm or sm["spec"]["selector"]["matchLabels"].items() - svc["metadata"]["labels"].items():
        err("ServiceMonitor does not select the metrics Service")
    # /metrics on a pod-reachable address needs the token (SPEC §7), and the
    # ServiceMonitor must send that Secret.
    if main:
        listen = cmd[cmd.index("--listen") + 1] if "--listen" in cmd[:-1] else "127.0.0.1:9471"
        if not (listen.startswith("127.") or listen.startswith("[::1]")):
            tf = cmd[cmd.index("--token-file") + 1] if "--token-file" in cmd[:-1] else None
            tm = [m for m in main[0]["volumeMounts"]
                  if tf and tf.startswith(m["mountPath"].rstrip("/") + "/")]
            secret = vols[tm[0]["name"]].get("secret", {}).get("secretName") if tm else None
            if not secret:
                err("DaemonSet: /metrics on %s (reachable from pods) without --token-file "
                    "from a mounted Secret" % listen)
            elif sm and not all(e.get("authorization", {}).get("credentials", {}).get("name") == secret
                                for e in sm["spec"]["endpoints"]):
                err("ServiceMonitor does not send the token Secret %s" % secret)

cm = find("ConfigMap", "netfence-policies")
if cm is None:
    err("no ConfigMap netfence-policies")
else:
    want = {os.path.basename(f): json.load(open(f)) for f in glob.glob("policies/*.json")}
    got = {}
    os.makedirs(os.path.join(tmp, "cm"), exist_ok=True)
    for k, v in cm["data"].items():
        try:
            got[k] = json.loads(v)
        except ValueError as e:
            err("ConfigMap key %s is not JSON: %s" % (k, e))
        open(os.path.join(tmp, "cm", k), "w").write(v)
    if got != want:
        err("ConfigMap netfence-policies differs from policies/*.json (keys %s vs %s)"
            % (sorted(got), sorted(want)))

# CNI configs to try with the real plugins: conflists and NAD configs.
os.makedirs(os.path.join(tmp, "cni"), exist_ok=True)
n = 0
for path, ds_ in docs.items():
    if not path.startswith("deploy/cni/"):
        continue
    for d in ds_:
        conf = None
        if isinstance(d, dict) and d.get("kind") == "NetworkAttachmentDefinition":
            try:
                conf = json.loads(d["spec"]["config"])
            except (KeyError, ValueError) as e:
                err("%s: NAD spec.config is not JSON: %s" % (path, e))
        elif isinstance(d, dict) and "plugins" in d:
            conf = d
        if conf is None:
            continue
        types = [p.get("type") for p in conf.get("plugins", [])]
        if "netfence-cni" not in types[1:]:
            err("%s: netfence-cni is not chained after the interface plugin: %s" % (path, types))
        n += 1
        json.dump(conf, open(os.path.join(tmp, "cni", "%02d-%s.conflist" % (n, conf["name"])), "w"))
sys.exit(1 if errors else 0)
EOF

if [ -x "$NETFENCE" ]; then
	if out=$("$NETFENCE" validate "$T/cm" 2>&1); then
		pass "netfence validate accepts the ConfigMap's policies"
	else
		fail "netfence validate rejects the ConfigMap's policies: $out"
	fi
else
	fail "$NETFENCE missing (make)"
fi

# ------------------------------------------------------------- 3: tools
echo "prometheus, systemd"
if command -v promtool >/dev/null; then
	mkdir -p "$T/prom"
	cp deploy/prometheus/*.yaml "$T/prom/"
	if out=$(promtool check rules "$T/prom/netfence-rules.yaml" 2>&1); then
		pass "promtool check rules"
	else
		fail "promtool check rules: $out"
	fi
	if out=$(promtool check config "$T/prom/scrape-config.yaml" 2>&1); then
		pass "promtool check config"
	elif grep -q 'field kubernetes_sd_configs not found' <<<"$out"; then
		# Debian's promtool is built without Kubernetes discovery: check the rest.
		python3 - "$T/prom/scrape-config.yaml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["scrape_configs"] = [s for s in c["scrape_configs"] if "kubernetes_sd_configs" not in s]
yaml.safe_dump(c, open(sys.argv[1], "w"))
EOF
		if out=$(promtool check config "$T/prom/scrape-config.yaml" 2>&1); then
			pass "promtool check config (without the kubernetes_sd job: this promtool lacks it)"
			skip "promtool check config of the kubernetes_sd job (this promtool lacks Kubernetes discovery)"
		else
			fail "promtool check config: $out"
		fi
	else
		fail "promtool check config: $out"
	fi
else
	skip "promtool not installed"
fi

if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart binaries exist: point them at the build.
	mkdir -p "$T/units"
	for u in deploy/systemd/*.service; do
		sed "s#/usr/local/bin/netfence#$PWD/$NETFENCE#g" "$u" >"$T/units/$(basename "$u")"
	done
	if out=$(systemd-analyze verify "$T"/units/*.service 2>&1) && [ -z "$out" ]; then
		pass "systemd-analyze verify deploy/systemd/*.service"
	else
		fail "systemd-analyze verify: $out"
	fi
	grep -q '^ExecStart=.*netfence serve .*--policy-dir /etc/netfence/policies' \
		deploy/systemd/netfence.service && grep -q '^Restart=on-failure' deploy/systemd/netfence.service &&
		pass "netfence.service runs serve --policy-dir, Restart=on-failure" ||
		fail "netfence.service: ExecStart or Restart"
else
	skip "systemd-analyze not installed"
fi

# ------------------------------------------------------------- 4: image
echo "image"
DF=deploy/docker/Dockerfile
bad=0
while read -r src; do
	[ -e "$src" ] || { fail "Dockerfile: COPY source $src does not exist"; bad=1; }
done < <(awk '/^COPY/ && !/--from=/ { for (i = 2; i < NF; i++) print $i }' "$DF")
[ "$bad" = 0 ] && pass "Dockerfile: every COPY source exists"
pkgs=$(awk '/apt-get install/ {f = 1} f { print } f && !/\\$/ {f = 0}' "$DF" |
	tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|y|no|recommends|var|lib|apt|lists)$' || true)
if apt-cache show ca-certificates >/dev/null 2>&1; then
	# One query: every package must have an installation candidate.
	known=$(apt-cache policy $pkgs 2>/dev/null | awk '/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) }
		/Candidate:/ && $2 != "(none)" { print p }')
	missing=""
	for p in $pkgs; do
		grep -qx "$p" <<<"$known" || missing="$missing $p"
	done
	[ -z "$missing" ] && pass "Dockerfile: $(wc -w <<<"$pkgs") Debian packages exist" ||
		fail "Dockerfile: unknown Debian packages:$missing"
else
	skip "no apt lists to check the Dockerfile's packages"
fi
grep -q '^FROM debian:12' "$DF" && [ "$(grep -c '^FROM ' "$DF")" -ge 2 ] &&
	pass "Dockerfile: multi-stage, from debian:12" || fail "Dockerfile: not multi-stage from debian:12"

# The installer, against scratch directories.
I=deploy/docker/install-cni.sh
mkdir -p "$T/inst/bin" "$T/inst/conf" "$T/inst/src"
printf '#!/bin/sh\n' >"$T/inst/src/netfence-cni"
chmod 0755 "$T/inst/src/netfence-cni"
cat >"$T/inst/conf/10-primary.conflist" <<'EOF'
{"cniVersion": "1.0.0", "name": "primary",
 "plugins": [{"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
cp "$T/inst/conf/10-primary.conflist" "$T/inst/orig.conflist"
echo '{"cniVersion": "1.0.0", "name": "later", "plugins": [{"type": "ptp"}]}' >"$T/inst/conf/20-later.conflist"
inst() { env CNI_BIN_DIR="$T/inst/bin" CNI_CONF_DIR="$T/inst/conf" NETFENCE_CNI_SRC="$T/inst/src/netfence-cni" \
	NETFENCE_CNI_CONFLIST_SRC=deploy/cni NETFENCE_CNI_WAIT=0 sh "$I" "$@" 2>/dev/null; }
order() { jq -c '[.plugins[].type]' "$1"; }
if inst install && inst install && cmp -s "$T/inst/src/netfence-cni" "$T/inst/bin/netfence-cni" &&
   [ -x "$T/inst/bin/netfence-cni" ] &&
   [ "$(order "$T/inst/conf/10-primary.conflist")" = '["bridge","netfence-cni","portmap"]' ] &&
   [ "$(order "$T/inst/conf/20-later.conflist")" = '["ptp"]' ] &&
   [ -z "$(find "$T/inst" -name '.*netfence-tmp*')" ]; then
	pass "install-cni: binary installed, chained once after the first plugin of the primary conflist"
else
	fail "install-cni chain: $(order "$T/inst/conf/10-primary.conflist"); $(ls -A "$T/inst/bin")"
fi
if inst uninstall && [ ! -e "$T/inst/bin/netfence-cni" ] &&
   [ "$(jq -S . "$T/inst/conf/10-primary.conflist")" = "$(jq -S . "$T/inst/orig.conflist")" ]; then
	pass "install-cni: uninstall restores the conflist and removes the binary"
else
	fail "install-cni uninstall"
fi
if [ -d deploy/cni ] && NETFENCE_CNI_MODE=conflist inst install &&
   [ "$(ls "$T"/inst/conf/*.conflist | wc -l)" -gt 2 ]; then
	pass "install-cni: conflist mode installs deploy/cni's conflists"
else
	fail "install-cni conflist mode"
fi
rm -f "$T"/inst/conf/*
if ! inst install; then
	pass "install-cni: chain mode fails when there is no CNI config to chain into"
else
	fail "install-cni: chain mode succeeded without a primary conflist"
fi

# ------------------------------------------------------------- 5: real plugins
echo "conflists with the real plugins"
CNI_DIR=""
for d in ${CNI_PLUGIN_DIR:-} /usr/lib/cni /opt/cni/bin; do
	[ -x "$d/bridge" ] && { CNI_DIR=$d; break; }
done
if [ "$(id -u)" -ne 0 ]; then
	skip "not root: conflists not run"
elif [ -z "$CNI_DIR" ]; then
	fail "CNI plugins not found (containernetworking-plugins)"
elif ! ls "$T"/cni/*.conflist >/dev/null 2>&1; then
	skip "no conflist in deploy/cni yet"
elif [ ! -x "$NETFENCE_CNI" ]; then
	fail "$NETFENCE_CNI missing (make)"
else
	mkdir -p "$T/bin" "$T/cache" "$T/ipam"
	ln -s "$(readlink -f "$NETFENCE_CNI")" "$T/bin/netfence-cni"
	# Runs a conflist like a container runtime: plugins in order with the
	# chained prevResult (ADD, CHECK), in reverse for DEL.
	cat >"$T/cni-run.py" <<'EOF'
import json, os, subprocess, sys
cmd, conflist, netns, ifname, cid, cni_args, cachedir = sys.argv[1:8]
conf = json.load(open(conflist))
cache = os.path.join(cachedir, cid + ".json")
env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns,
           CNI_IFNAME=ifname, CNI_ARGS=cni_args)
paths = env["CNI_PATH"].split(":")
prev = json.load(open(cache)) if cmd in ("DEL", "CHECK") and os.path.exists(cache) else None
plugins = conf["plugins"] if cmd != "DEL" else list(reversed(conf["plugins"]))
failed = False
for p in plugins:
    net = dict(p, name=conf["name"], cniVersion=conf["cniVersion"])
    if prev is not None:
        net["prevResult"] = prev
    exe = next((os.path.join(d, p["type"]) for d in paths
                if os.access(os.path.join(d, p["type"]), os.X_OK)), None)
    if exe is None:
        sys.exit("cni-run: plugin %s not found in %s" % (p["type"], paths))
    r = subprocess.run([exe], input=json.dumps(net).encode(), env=env, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("%s %s failed (exit %d): %s%s\n" % (p["type"], cmd, r.returncode,
                         r.stdout.decode(), r.stderr.decode()))
        failed = True
        if cmd != "DEL":
            break
        continue
    if cmd == "ADD":
        prev = json.loads(r.stdout)
if cmd == "ADD" and not failed:
    json.dump(prev, open(cache, "w"))
    print(json.dumps(prev))
sys.exit(1 if failed else 0)
EOF
	owned() { # endpoints of our tenant owned by a CNI attachment "cid/ifname"
		"$NETFENCE" status --json 2>/dev/null | jq --arg o "$1" --arg t "$TENANT" \
			'[.endpoints[]? | select(.owner == $o and .tenant == $t)] | length'
	}
	i=0
	for c in "$T"/cni/*.conflist; do
		i=$((i + 1))
		name=$(jq -r .name "$c")
		node=$P-node$i
		pod=$P-pod$i
		ip netns add "$node"
		ip netns add "$pod"
		nsenter --net="/var/run/netns/$node" ip link set lo up
		# Our own IPAM store; a parent interface where the plugin needs one.
		jq --arg d "$T/ipam" '(.plugins[] | select(.ipam.type == "host-local") | .ipam.dataDir) = $d' \
			"$c" >"$c.run"
		for m in $(jq -r '.plugins[] | (.master // empty), (.device // empty)' "$c"); do
			# A veth end serves as parent (the dummy driver may be absent).
			nsenter --net="/var/run/netns/$node" ip link add "$m" type veth peer name "$m-peer"
			nsenter --net="/var/run/netns/$node" ip link set "$m" up
			nsenter --net="/var/run/netns/$node" ip link set "$m-peer" up
		done
		run() {
			nsenter --net="/var/run/netns/$node" env CNI_PATH="$CNI_DIR:$T/bin" python3 "$T/cni-run.py" \
				"$1" "$c.run" "/var/run/netns/$pod" eth0 "$pod" \
				"IgnoreUnknown=1;K8S_POD_NAMESPACE=$TENANT;K8S_POD_NAME=$pod" "$T/cache"
		}
		if ! out=$(run ADD 2>&1); then
			fail "$name: ADD: $out"
		else
			addr=$(jq -r '.ips[0].address // empty' <<<"$out" 2>/dev/null)
			# read all of ip's output: grep -q exiting early would SIGPIPE ip and
			# fail the pipeline under pipefail
			pod_addrs=$(nsenter --net="/var/run/netns/$pod" ip -o addr show dev eth0)
			if [ -z "$addr" ] || ! grep -qF " ${addr%/*}/" <<<"$pod_addrs"; then
				fail "$name: ADD result has no address on eth0 in the pod: $out"
			else
				pass "$name: ADD (eth0 ${addr})"
			fi
			if out=$(run CHECK 2>&1); then
				pass "$name: CHECK"
			else
				fail "$name: CHECK: $out"
			fi
			[ "$(owned "$pod/eth0")" = 1 ] && pass "$name: endpoint of tenant $TENANT in netfence status" ||
				fail "$name: no endpoint owned by $pod/eth0 in netfence status"
		fi
		if out=$(run DEL 2>&1) && out=$(run DEL 2>&1); then
			pass "$name: DEL, DEL again"
		else
			fail "$name: DEL: $out"
		fi
		[ "$(owned "$pod/eth0")" = 0 ] || fail "$name: endpoint still there after DEL"
		ip netns del "$pod"
		ip netns del "$node"
	done
	[ -x "$NETFENCE" ] && "$NETFENCE" delete "$TENANT" >/dev/null 2>&1 || true
fi

echo
if [ "$FAILS" -eq 0 ]; then
	echo "test_deploy: all checks that ran passed; $SKIPPED part(s) skipped"
else
	echo "test_deploy: $FAILS check(s) failed"
	exit 1
fi
