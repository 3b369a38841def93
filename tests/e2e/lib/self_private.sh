# shellcheck shell=bash
# Sourced first by an e2e test that may also be run by hand, as
#   . "$(dirname "$(realpath "$0")")/lib/self_private.sh"
# It moves to the repository's top and, unless tests/run.sh already started
# the test in a private mount namespace (lib/private.sh), starts it again in
# one: its datapath, pins and CNI state are never the node's.
self=$(realpath "$0")
cd "$(dirname "$self")/../.." || exit 1
if [ -z "${NF_CG_PRIVATE:-}" ]; then
	exec unshare --mount --propagation private tests/e2e/lib/private.sh bash "$self" "$@"
fi
