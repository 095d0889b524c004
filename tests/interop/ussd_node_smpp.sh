#!/usr/bin/env bash
# An independent SMPP peer (npm smpp 0.5.1) as the operator's USSD centre:
# ussdgw binds to it as a transceiver and serves the demo menu (with the demo
# wallet and the dev stack's Redis) in English and Swahili; tests/interop/ussd_centre.js
# checks each screen, the its_session_info echo, the end marking and a re-send.
source "$(dirname "$0")/../integration/ussd_lib.bash"
cd "$src/tests/interop"
[ -d node_modules/smpp ] || fail "npm smpp missing: (cd tests/interop && npm ci)"
start_wallet
node ussd_centre.js > "$tmp/centre.out" 2>&1 &
centre=$!
for _ in $(seq 100); do grep -q '^listening' "$tmp/centre.out" && break; sleep 0.1; done
SIM_PORT=$(awk '/^listening/ {print $2; exit}' "$tmp/centre.out")
[ -n "$SIM_PORT" ] || fail "centre did not start"
write_config 1
start_gw 1
rc=0
wait "$centre" || rc=$?
cat "$tmp/centre.out"
[ "$rc" = 0 ] || fail "the centre's checks failed"
grep -q "re-sent step 2 answered again" "$tmp/gw1.log" || fail "the re-send was not recognised"
echo "ussd_node_smpp: ok"
