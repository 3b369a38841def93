#!/usr/bin/env bash
# The index of endpoint records (endpoints/.index, dp/endpoints.c): attach
# finds an interface's record through it, without reading every record
# (SPEC §9), and never trusts it further than the record it names:
#   - re-attach keeps the endpoint's id, one record per interface;
#   - a stale entry (a kill between an entry and its record, an id taken
#     again since) naming another endpoint's id is not that endpoint: the
#     interface gets an id of its own, the other endpoint is untouched;
#   - a store of a build without the index (no .index) is indexed from its
#     records: re-attach still finds the endpoint, no second record;
#   - detach removes the entries with the records.
# Two veth pairs, pod ends a0, b0 in $NF_PREFIX-w, host ends in $NF_PREFIX-h,
# where netfence runs (programs on the host ends, as for a pod).
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/net.sh
nf_init
W=$NF_PREFIX-w
H=$NF_PREFIX-h
TA=$NF_PREFIX-a
TB=$NF_PREFIX-b
EPS=/run/netfence/endpoints
nf_netns "$W"
nf_netns "$H"
for i in a b; do
	ip -n "$W" link add "${i}0" type veth peer name "${i}1" netns "$H"
	ip -n "$W" link set "${i}0" up
	ip -n "$H" link set "${i}1" up
done
ip -n "$W" addr add 10.231.0.1/32 dev a0
ip -n "$W" addr add 10.231.0.2/32 dev b0

nfh() { in_ns "$H" "$NF" "$@"; }
attach() { nfh attach --tenant "$1" --iface "$2" --netns "/var/run/netns/$W"; }
# ep FIELD IFACE: a field of IFACE's endpoint in `status --json` ("" = none)
ep() { nfh status --json | jq -r --arg i "$2" --arg f "$1" \
	'[.endpoints[] | select(.iface == $i)] | if length == 1 then .[0][$f] else length end'; }
records() { ls "$EPS" | grep -c '\.json$'; }

attach "$TA" a0 >/dev/null || fail "attach a0"
ida=$(ep id a0)
[ "$(ep tenant a0)" = "$TA" ] && ok "a0 is an endpoint of $TA (id $ida)" || fail "a0: $(ep tenant a0)"
attach "$TA" a0 >/dev/null || fail "attach a0 again"
[ "$(ep id a0)" = "$ida" ] && [ "$(records)" = 1 ] && ok "re-attach: same id $ida, one record" ||
	fail "re-attach: id $(ep id a0), $(records) records"

# a stale entry for b0's key naming a0's id
cookie=$(jq -r .netns_cookie "$EPS/$ida.json")
ifb=$(ip -n "$W" -o link show b0 2>/dev/null | cut -d: -f1)	# (stderr: other tests' stale netns names)
[ -f "$EPS/.index/i-$cookie-$(jq -r .ifindex "$EPS/$ida.json")" ] && ok "a0 has its index entry" ||
	fail "no index entry for a0: $(ls -A "$EPS/.index")"
printf '%s' "$ida" >"$EPS/.index/i-$cookie-$ifb"
attach "$TB" b0 >/dev/null || fail "attach b0"
idb=$(ep id b0)
if [ -n "$idb" ] && [ "$idb" != "$ida" ] && [ "$(ep tenant b0)" = "$TB" ] &&
	[ "$(ep tenant a0)" = "$TA" ] && [ "$(ep id a0)" = "$ida" ] && [ "$(records)" = 2 ]; then
	ok "stale entry not trusted: b0 got id $idb in $TB, a0 kept id $ida in $TA"
else
	fail "stale entry: b0 id '$idb' tenant $(ep tenant b0), a0 id $(ep id a0) tenant $(ep tenant a0), $(records) records"
fi
[ "$(cat "$EPS/.index/i-$cookie-$ifb")" = "$idb" ] && ok "b0's entry now names $idb" ||
	fail "b0's entry: $(cat "$EPS/.index/i-$cookie-$ifb")"

# a store of a build without the index
rm -rf "$EPS/.index"
attach "$TB" a0 >/dev/null || fail "re-attach a0 without an index"
if [ "$(ep id a0)" = "$ida" ] && [ "$(ep tenant a0)" = "$TB" ] && [ "$(records)" = 2 ]; then
	ok "records indexed again: a0 re-attached to $TB keeps id $ida, no second record"
else
	fail "without an index: a0 id $(ep id a0) tenant $(ep tenant a0), $(records) records"
fi

nfh detach --iface a0 --netns "/var/run/netns/$W" >/dev/null || fail "detach a0"
nfh detach --iface b0 --netns "/var/run/netns/$W" >/dev/null || fail "detach b0"
left=$(ls "$EPS/.index" | grep -c '^[ic]-')
[ "$(records)" = 0 ] && [ "$left" = 0 ] && ok "detach: no record, no entry left" ||
	fail "after detach: $(records) records, $left entries ($(ls "$EPS/.index"))"
nf_done
