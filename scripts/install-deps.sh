#!/usr/bin/env bash
# Install the Debian packages netfence needs to build, test, demo and bench.
# Idempotent: does nothing when everything is present.
set -euo pipefail
PKGS=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libnl-3-dev libnl-route-3-dev
      libjansson-dev libcmocka-dev libmicrohttpd-dev pkg-config make gcc
      containernetworking-plugins iproute2 iperf3 iptables nftables prometheus jq
      libclang-rt-14-dev util-linux procps iputils-ping netcat-openbsd socat curl python3 python3-yaml openssl gdb
      podman runc busybox-static)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages and not root: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
