#!/usr/bin/env bash
# ctest: serial
# The SMPP server under hostile peers (tests/interop/hostile_peers.js: malformed,
# oversized, TLV-flooded, slow-drip, bind-flooding, unauthenticated and
# connection-flooding traffic from 127.0.0.2-8 for 25 s) while a well-behaved
# account on 127.0.0.1 submits 20 MT/s through npm smpp. Bounds stated here:
#   - the good account: every submit answered ESME_ROK, no timeout (5 s), p99 <= 200 ms
#     (500 ms when the gateway runs under AddressSanitizer, which slows it 2-3x)
#   - ussdgw's peak resident memory (VmHWM) <= 128 MiB
#   - each hostile kind got the answer SMPP prescribes, and was cut off
# shellcheck source=srv_lib.bash
. "${GW_SOURCE_DIR:?}/tests/interop/srv_lib.bash"
P99_MAX_MS=200
if ldd "${GW_BUILD_DIR:?}/ussdgw" 2>/dev/null | grep -q libasan; then
	P99_MAX_MS=500
fi
HWM_MAX_KB=$((128 * 1024))
RATE=20
SECS=20

start_sim --mt-log "$tmp/mt.log"
h=$(hash good-pw1)
write_server_config "[{\"name\":\"good\",\"system_id\":\"good\",\"password_hash\":\"$h\",\"allowed_ips\":[\"127.0.0.1/32\"],\"addresses\":[\"5000\"],\"tps\":100,\"window\":20}]" \
	'{"session_init_ms": 3000, "pdu_stall_ms": 2000, "max_conn_per_ip": 16, "max_violations": 20, "bind_fail_max": 5, "bind_fail_block_s": 60}'
start_server
wait_bound

node "$interop/hostile_peers.js" --port "$SRV_PORT" --duration-ms $(((SECS + 5) * 1000)) --system-id good \
	> "$tmp/hostile.json" 2> "$tmp/hostile.err" &
hostile_pid=$!
sleep 2
node "$interop/srv_esme.js" --port "$SRV_PORT" --system-id good --password good-pw1 \
	--count $((RATE * SECS)) --rate $RATE --resp-timeout-ms 5000 --max-ms $(((SECS + 15) * 1000)) \
	> "$tmp/good.json" || true
wait "$hostile_pid" || fail "hostile peers failed: $(cat "$tmp/hostile.err")"
kill -0 "$gw_pid" 2>/dev/null || fail "ussdgw died"
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$gw_pid/status")

echo "good account: $(jq -c '{ok, errors, timeouts, p50_ms, p99_ms, max_ms, elapsed_ms}' "$tmp/good.json")"
echo "hostile: $(cat "$tmp/hostile.json")"
echo "ussdgw VmHWM: ${hwm} kB (cap ${HWM_MAX_KB} kB)"

g() { jq -r "$1" "$tmp/good.json"; }
[ "$(g .bind_status)" = 0 ] || fail "good account did not bind: $(cat "$tmp/good.json")"
[ "$(g .ok)" = $((RATE * SECS)) ] || fail "good account: $(g .ok) of $((RATE * SECS)) accepted"
[ "$(g '.errors | length')" = 0 ] || fail "good account saw errors: $(g -c .errors)"
[ "$(g .timeouts)" = 0 ] || fail "good account saw $(g .timeouts) timeouts"
awk -v p="$(g .p99_ms)" -v m=$P99_MAX_MS 'BEGIN { exit !(p <= m) }' ||
	fail "good account p99 $(g .p99_ms) ms over $P99_MAX_MS ms"
[ "$hwm" -le "$HWM_MAX_KB" ] || fail "VmHWM $hwm kB over $HWM_MAX_KB kB"

h() { jq -r "$1" "$tmp/hostile.json"; }
# command_length out of range: generic_nack ESME_RINVCMDLEN, then the connection is closed.
[ "$(h '.oversized.answers["0x80000000/0x2"] // 0')" -ge 2 ] || fail "oversized: no generic_nack RINVCMDLEN"
[ "$(h '.oversized.closed_by_server')" -ge 2 ] || fail "oversized: connections not closed"
[ "$(h '.tlvflood.answers["0x80000000/0x2"] // 0')" -ge 1 ] || fail "10,000 TLVs: no generic_nack RINVCMDLEN"
# 600 TLVs inside the PDU cap: the submit_sm is answered with an error, header only.
h '.tlvflood.answers | keys[]' | grep -q '^0x80000004/' || fail "600 TLVs: submit_sm not answered"
[ "$(h '.tlvflood.answers["0x80000004/0x0"] // 0')" = 0 ] || fail "a TLV-flooded submit_sm was accepted"
# unknown command ids: generic_nack ESME_RINVCMDID; broken bodies: an error answer.
[ "$(h '.malformed.answers["0x80000000/0x3"] // 0')" -ge 1 ] || fail "malformed: no generic_nack RINVCMDID"
[ "$(h '.malformed.closed_by_server')" -ge 1 ] || fail "malformed: never cut off"
# submit_sm before bind: ESME_RINVBNDSTS, and the connection is cut after max_violations.
[ "$(h '.unauth.answers["0x80000004/0x4"] // 0')" -ge 20 ] || fail "unauth: no ESME_RINVBNDSTS"
[ "$(h '.unauth.closed_by_server')" -ge 1 ] || fail "unauth: never cut off"
# slow drip: cut by session_init / the stall timer, never bound.
[ "$(h '.slowdrip.closed_by_server')" -ge 8 ] || fail "slow drip not cut off"
[ "$(h '.slowdrip.answers["0x80000009/0x0"] // 0')" = 0 ] || fail "a slow-drip bind succeeded"
# bind flood: refused, then the address is blocked.
[ "$(h '.bindflood.answers["0x80000009/0x0"] // 0')" = 0 ] || fail "a wrong password bound"
[ "$(h '.bindflood.answers["0x80000009/0xd"] // 0')" -ge 1 ] || fail "bind flood: no ESME_RBINDFAIL"
grep -q "127.0.0.6 blocked for" "$tmp/gw.log" || fail "bind-flooding address not blocked"
# connection flood: over the per-IP cap, connections are refused at accept.
[ "$(h '.connflood.refused')" -ge 1 ] || fail "connection flood: none refused"

# Still serving: a fresh bind and submit on TLS after all that.
node "$interop/srv_esme.js" --port "$SRV_TLS_PORT" --tls --ca "$tmp/keys/tls/ca.crt" --system-id good \
	--password good-pw1 --count 3 --rate 10 --max-ms 15000 > "$tmp/after.json" ||
	fail "after the attack: $(cat "$tmp/after.json")"
metrics > "$tmp/metrics.txt"
grep -q '^ussdgw_smpp_server_violations_total [1-9]' "$tmp/metrics.txt" || fail "violations not counted"
grep -q '^ussdgw_smpp_server_submits_total{account="good",outcome="queued"} [1-9]' "$tmp/metrics.txt" ||
	fail "per-account submits not counted"
echo "PASS: server_hostile"
