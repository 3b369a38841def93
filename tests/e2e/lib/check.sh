# Shared by the observability e2e tests (metrics, monitor, policy-dir):
# result reporting into FAILS, netns entry without remounting /sys, a free
# loopback port. Source it after setting FAILS=0.
log() { echo "# $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FATAL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 0; }
in_ns() { local ns=$1; shift; nsenter --net="/var/run/netns/$ns" "$@"; }
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
