#!/usr/bin/env bash
# Overload and slow services: with ussd.max_inflight 1, a dial that arrives
# while another step is in flight is shed with the "busy" end screen (audited
# with end reason overload); an action whose service does not answer within its
# deadline never holds the reply past the answer budget: the menu's timeout
# path answers (here the "service unavailable" end screen) well inside it.
source "$(dirname "$0")/ussd_lib.bash"

# A "wallet" that accepts requests and answers none of them within 8 s.
node -e '
const http = require("http");
const s = http.createServer((q, r) => { setTimeout(() => { r.end("{}"); }, 8000); });
s.listen(0, "127.0.0.1", () => console.log("listening " + s.address().port));
' > "$tmp/slow.out" &
slow_pid=$!
gw_pids+=("$slow_pid")
for _ in $(seq 50); do grep -q listening "$tmp/slow.out" && break; sleep 0.1; done
WALLET=http://127.0.0.1:$(awk '{print $2; exit}' "$tmp/slow.out")
start_sim
write_config 1 '' '"ussd": {"max_inflight": 1}'
start_gw 1
wait_binds 1
wait_menu

dial 254700000001 '*384#'
SID_A=$SID
# The PIN check goes to the slow service (deadline 3 s in the menu).
post /ussd/reply "{\"session\": \"$SID\", \"text\": \"4\"}" > /dev/null; screen
post /ussd/reply "{\"session\": \"$SID\", \"text\": \"1\"}" > /dev/null; screen
has "Enter PIN"
post /ussd/reply "{\"session\": \"$SID\", \"text\": \"1234\"}" > /dev/null
sleep 0.5
# Meanwhile another subscriber dials: shed.
dial 254700000002 '*384#'
has "Service busy, please try again later."
[ "$ENDS" = true ] || fail "busy screen does not end the dialog"
grep -q "overload: .* steps in flight, step shed" "$tmp/gw1.log" || fail "shedding not logged"
# The slow step ends on the menu's timeout path, inside the 10 s budget.
SID=$SID_A
screen
has "Service unavailable"
lat=$(jq -r .screen.latency_ms "$tmp/screen.json")
[ "$lat" -lt 10000 ] || fail "answer after the budget: $lat ms"
[ "$(jq -r .screen.late "$tmp/screen.json")" = false ] || fail "the answer was late"
echo "slow action answered in $lat ms"
grep -q "action a[0-9.]* timed out" "$tmp/gw1.log" || fail "action timeout not logged"
cat "$tmp"/journal1/* | grep -q '"overload"' || fail "the shed step is not audited with its reason"
echo "ussd_overload: ok"
