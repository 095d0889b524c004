#!/usr/bin/env bash
# Two gateway processes, each with its own bind of the same link to one
# ctest: serial
# simulator, serve alternate steps of one session (the state is in Redis); a
# step delivered to both nodes is applied once (compare-and-set) and both
# answer it alike. Menus: a reload on one node publishes a new version to
# Redis; new sessions on both nodes start on it (the other node fetches it from
# Redis, its own file still being the old one) while a session in flight keeps
# the version it began with.
source "$(dirname "$0")/ussd_lib.bash"

start_wallet
start_sim
mkdir "$tmp/menus1" "$tmp/menus2"
cp "$src/menus/demo.json" "$tmp/menus1/"
cp "$src/menus/demo.json" "$tmp/menus2/"
MENUS_DIR=$tmp/menus1 write_config 1
MENUS_DIR=$tmp/menus2 write_config 2
start_gw 1
wait_binds 1
start_gw 2
wait_binds 2
wait_menu
b1=$(jq -r '.binds[0].id' "$tmp/binds.json")
b2=$(jq -r '.binds[1].id' "$tmp/binds.json")
A=254700000001
on() { # BIND TEXT: the subscriber's answer goes in on that bind
	post /ussd/reply "{\"session\": \"$SID\", \"text\": \"$2\", \"bind\": $1}" > "$tmp/reply.json"
	jq -e .deliver_sm_seq "$tmp/reply.json" > /dev/null || fail "reply: $(cat "$tmp/reply.json")"
	screen
}
served() { grep -c "session $1: " "$tmp/gw$2.log" || true; }

dial $A '*384#'
has "1. Send money"
on "$b1" 1
has "Enter recipient"
on "$b2" 0700000002
has "Enter amount"
on "$b1" 20
has "Enter PIN"
on "$b2" 1234
has "Send KES 20.00"
sid=$(rcli HGET "ussd:{$LINK:$A}:s" rec | jq -r .sid)
# Steps 2 and 4 went to one node, 3 and 5 to the other: both logged work for the session
# (the PIN check on node 2, the awaited actions of step 5), and the state counted all five.
[ "$(rcli HGET "ussd:{$LINK:$A}:s" rec | jq -r .n)" = 5 ] || fail "steps: $(rcli HGET "ussd:{$LINK:$A}:s" rec)"
[ "$(served "$sid" 2)" -ge 1 ] || fail "node 2 did not serve the PIN step"
# The same step (confirm) reaches both nodes: applied once, answered alike.
on "$b1" 1
has "Sent KES 20.00"
post /ussd/resend "{\"session\": \"$SID\", \"mode\": \"new_seq\", \"bind\": $b2, \"wait_ms\": 10000}" > /dev/null
screen
has "Sent KES 20.00"
grep -q "session $sid: re-sent step 6 answered again" "$tmp/gw2.log" || fail "node 2 did not recognise the step node 1 applied"
bal=$(curl -sS "$WALLET/healthz" > /dev/null; rcli HGET "ussd:{$LINK:$A}:s" rec | jq -r .ans)
case "$bal" in *"Balance KES 4,980.00"*) ;; *) fail "money moved twice or not at all: $bal" ;; esac

# --- menu versions -------------------------------------------------------------
v1=$(rcli GET ussd:menu:demo:cur)
dial 254700000002 '*384#'
has "1. Send money"
reply 1
has "Enter recipient phone number"
# Node 1 gets a new version of the menu (a changed prompt) and reloads it by the admin API.
sed 's/Enter recipient phone number/Enter the number to send to/' "$src/menus/demo.json" > "$tmp/menus1/demo.json"
curl -sS -X POST "http://127.0.0.1:$ADMIN_1/admin/menus/reload" > "$tmp/reload.json"
[ "$(jq -r .status "$tmp/reload.json")" = ok ] || fail "reload: $(cat "$tmp/reload.json")"
v2=$(rcli GET ussd:menu:demo:cur)
[ -n "$v2" ] && [ "$v2" != "$v1" ] || fail "no new version published ($v1 -> $v2)"
# The session in flight stays on its version, on either node.
on "$b2" 9
has "Enter recipient phone number"
on "$b1" 9
has "Enter recipient phone number"
# New sessions start on the new version on both nodes (node 2's file is still the old one).
for b in "$b1" "$b2"; do
	post /ussd/dial "{\"msisdn\": \"254700000003\", \"code\": \"*384#\", \"system_id\": \"ussdgw\"}" > "$tmp/dial.json"
	SID=$(jq -r .session "$tmp/dial.json")
	screen
	on "$b" 1
	has "Enter the number to send to"
done
grep -q "menu demo version $v2 fetched from Redis" "$tmp/gw2.log" || fail "node 2 did not fetch the new version"
# A broken menu file is refused with its line; the published version stays.
echo '{"id": "demo", "screens": [' > "$tmp/menus1/demo.json"
curl -sS -X POST "http://127.0.0.1:$ADMIN_1/admin/menus/reload" > "$tmp/reload.json"
[ "$(jq -r .status "$tmp/reload.json")" = error ] || fail "broken menu accepted: $(cat "$tmp/reload.json")"
[ "$(rcli GET ussd:menu:demo:cur)" = "$v2" ] || fail "a broken file changed the published version"
# SIGHUP reloads too.
cp "$src/menus/demo.json" "$tmp/menus2/demo.json"
kill -HUP "${gw_pids[2]}"
for _ in $(seq 50); do [ "$(rcli GET ussd:menu:demo:cur)" = "$v1" ] && break; sleep 0.1; done
[ "$(rcli GET ussd:menu:demo:cur)" = "$v1" ] || fail "SIGHUP did not publish node 2's menu"
echo "ussd_two_nodes: ok"
