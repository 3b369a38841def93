#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# netfence-install-cni: put netfence-cni on a node (DaemonSet init container and
# sidecar; also usable by hand on any host).
#
# Usage: netfence-install-cni install|watch|uninstall
#   install    copy netfence-cni into $CNI_BIN_DIR atomically, then configure
#              CNI according to $NETFENCE_CNI_MODE
#   watch      install, then re-check every $NETFENCE_CNI_WATCH_INTERVAL seconds
#              (the primary CNI may rewrite its conflist and drop our entry)
#   uninstall  remove the chain entry (chain mode), the conflists this script
#              installed (conflist mode) and the binary
#
# Environment:
#   NETFENCE_CNI_MODE      chain (default): insert {"type":"netfence-cni"} right
#                          after the first plugin of the primary conflist;
#                          binary: only the binary (Multus NetworkAttachmentDefinitions
#                          reference it themselves);
#                          conflist: also install the conflists in $NETFENCE_CNI_CONFLIST_SRC
#   NETFENCE_CNI_CONFLIST  chain mode: file name in $CNI_CONF_DIR to chain into
#                          (default: the first *.conflist/*.conf/*.json in lexical
#                          order, the one container runtimes use)
#   NETFENCE_CNI_CONFLIST_SRC  conflist mode: directory (default /usr/share/netfence/cni)
#   CNI_BIN_DIR            default /host/opt/cni/bin
#   CNI_CONF_DIR           default /host/etc/cni/net.d
#   NETFENCE_CNI_SRC       default /opt/cni/bin/netfence-cni (where `make install` puts it)
#   NETFENCE_CNI_WAIT      seconds to wait for a primary conflist to appear (default 300)
#
# Every file is written under a temporary dot-name in its final directory and
# renamed into place, so a runtime never sees a half-written plugin or config.
set -eu

MODE=${NETFENCE_CNI_MODE:-chain}
BIN_DIR=${CNI_BIN_DIR:-/host/opt/cni/bin}
CONF_DIR=${CNI_CONF_DIR:-/host/etc/cni/net.d}
SRC=${NETFENCE_CNI_SRC:-/opt/cni/bin/netfence-cni}
CONFLIST_SRC=${NETFENCE_CNI_CONFLIST_SRC:-/usr/share/netfence/cni}
INTERVAL=${NETFENCE_CNI_WATCH_INTERVAL:-10}
WAIT=${NETFENCE_CNI_WAIT:-300}

log() { echo "netfence-install-cni: $*" >&2; }
die() { log "$*"; exit 1; }

install_file() { # install_file SRC DIR NAME MODE
	if [ -f "$2/$3" ] && cmp -s "$1" "$2/$3"; then
		return 0
	fi
	tmp="$2/.$3.netfence-tmp.$$"
	cp "$1" "$tmp"
	chmod "$4" "$tmp"
	mv -f "$tmp" "$2/$3"
	log "installed $2/$3"
}

install_binary() {
	[ -x "$SRC" ] || die "$SRC not found"
	mkdir -p "$BIN_DIR"
	install_file "$SRC" "$BIN_DIR" netfence-cni 0755
}

primary_conf() {
	if [ -n "${NETFENCE_CNI_CONFLIST:-}" ]; then
		[ -f "$CONF_DIR/$NETFENCE_CNI_CONFLIST" ] && echo "$NETFENCE_CNI_CONFLIST"
		return 0
	fi
	# Same choice as containerd / CRI-O / libcni: lexically first config file.
	find "$CONF_DIR" -maxdepth 1 -type f \( -name '*.conflist' -o -name '*.conf' -o -name '*.json' \) \
		! -name '.*' -printf '%f\n' 2>/dev/null | LC_ALL=C sort | head -n 1
}

ensure_chain() {
	name=$(primary_conf)
	if [ -z "$name" ]; then
		return 1
	fi
	f="$CONF_DIR/$name"
	case "$name" in
	*.conf) die "$f is a single-plugin .conf: convert it to a .conflist to chain netfence-cni" ;;
	esac
	jq -e '.plugins | type == "array" and length > 0' "$f" >/dev/null 2>&1 ||
		die "$f has no \"plugins\" list"
	if jq -e 'any(.plugins[]; .type == "netfence-cni")' "$f" >/dev/null; then
		return 0
	fi
	# Right after the interface-creating plugin, before portmap, bandwidth...
	tmp="$CONF_DIR/.$name.netfence-tmp.$$"
	jq '.plugins = [.plugins[0], {"type": "netfence-cni"}] + .plugins[1:]' "$f" >"$tmp"
	mv -f "$tmp" "$f"
	log "chained netfence-cni into $f"
}

remove_chain() {
	name=$(primary_conf)
	[ -n "$name" ] || return 0
	f="$CONF_DIR/$name"
	jq -e 'any(.plugins[]?; .type == "netfence-cni")' "$f" >/dev/null 2>&1 || return 0
	tmp="$CONF_DIR/.$name.netfence-tmp.$$"
	jq '.plugins |= map(select(.type != "netfence-cni"))' "$f" >"$tmp"
	mv -f "$tmp" "$f"
	log "removed netfence-cni from $f"
}

configure() {
	case "$MODE" in
	binary) ;;
	conflist)
		mkdir -p "$CONF_DIR"
		for c in "$CONFLIST_SRC"/*.conflist; do
			[ -f "$c" ] || die "no conflist in $CONFLIST_SRC"
			jq -e . "$c" >/dev/null || die "$c is not valid JSON"
			install_file "$c" "$CONF_DIR" "$(basename "$c")" 0644
		done ;;
	chain)
		waited=0
		until ensure_chain; do
			[ "$waited" -ge "$WAIT" ] && die "no CNI config in $CONF_DIR after ${WAIT}s (is the primary CNI installed?)"
			[ "$waited" -eq 0 ] && log "waiting for a CNI config in $CONF_DIR"
			sleep 2
			waited=$((waited + 2))
		done ;;
	*) die "NETFENCE_CNI_MODE=$MODE: expected chain, binary or conflist" ;;
	esac
}

case "${1:-}" in
install)
	install_binary
	configure ;;
watch)
	trap 'exit 0' TERM INT
	while :; do
		install_binary
		configure
		sleep "$INTERVAL" &
		wait $!
	done ;;
uninstall)
	case "$MODE" in
	chain) remove_chain ;;
	conflist)
		for c in "$CONFLIST_SRC"/*.conflist; do
			[ -f "$c" ] && rm -f "$CONF_DIR/$(basename "$c")"
		done ;;
	esac
	rm -f "$BIN_DIR/netfence-cni"
	log "removed $BIN_DIR/netfence-cni" ;;
*)
	echo "usage: $0 install|watch|uninstall" >&2
	exit 2 ;;
esac
