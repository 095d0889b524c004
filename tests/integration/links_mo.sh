#!/usr/bin/env bash
# MO SMS through the link to the minimal audited MO handler: an MO whose
# audit_append fails is answered ESME_RX_T_APPN, the SMSC redelivers it and
# it is then answered ESME_ROK; long MOs split by UDH and by sar_* TLVs are
# reassembled from Redis; a part stored before a gateway restart is joined
# with the rest after it.
source "$(dirname "$0")/links_lib.bash"

start_sim --mo-log "$tmp/mo.log" --redeliver-ms 300 --redeliver-max 3
write_config
# The first audit append fails (the audit module's fail-injection hook).
USSDGW_AUDIT_FAIL_NEXT=1 start_gw
wait_bound 1
mo() { ctl -X POST -H 'Content-Type: application/json' -d "$1" "$CTL/sms/mo"; }

# 1. Audit failure: 0x64, redelivered, then 0.
mo '{"from": "255700000031", "to": "384", "text": "BAL"}' > "$tmp/r1.json"
[ "$(jq -c .statuses "$tmp/r1.json")" = "[0]" ] || fail "final status: $(cat "$tmp/r1.json")"
[ "$(jq -c .attempts "$tmp/r1.json")" = "[2]" ] || fail "not redelivered once: $(cat "$tmp/r1.json")"
[ "$(jq -s '[.[] | select(.status == 100)] | length' "$tmp/mo.log")" = 1 ] || fail "no 0x64 in the MO log"
grep -q "not audited (.*): ESME_RX_T_APPN" "$tmp/gw.log" || fail "audit failure not logged"
grep -q "MO from t:[0-9a-f]* on $LINK/0 audited" "$tmp/gw.log" || fail "MSISDN not tokenised in the log"
grep -q "255700000031" "$tmp/gw.log" && fail "MSISDN in clear in the log"

# 2. Long MO by UDH (3 parts) and by sar_* TLVs (2 parts).
long=$(printf 'y%.0s' $(seq 400))
mo "{\"from\": \"255700000032\", \"to\": \"384\", \"text\": \"$long\", \"split\": \"udh\"}" > "$tmp/r2.json"
[ "$(jq -c .statuses "$tmp/r2.json")" = "[0,0,0]" ] || fail "UDH MO: $(cat "$tmp/r2.json")"
grep -q "reassembled: 3 parts, 400 bytes" "$tmp/gw.log" || fail "UDH MO not reassembled"
grep -q "audited (3 parts, 400 bytes)" "$tmp/gw.log" || fail "UDH MO not handed up whole"
long2=$(printf 'z%.0s' $(seq 200))
mo "{\"from\": \"255700000033\", \"to\": \"384\", \"text\": \"$long2\", \"split\": \"sar\"}" > "$tmp/r3.json"
[ "$(jq -c .statuses "$tmp/r3.json")" = "[0,0]" ] || fail "SAR MO: $(cat "$tmp/r3.json")"
grep -q "audited (2 parts, 200 bytes)" "$tmp/gw.log" || fail "SAR MO not reassembled"

# 3. Part 1 of 2 before a gateway restart, part 2 after it: joined from Redis.
pdu() { # seq msisdn ref total n text
	python3 - "$@" <<'PY'
import sys, struct
seq, msisdn, ref, total, n, text = sys.argv[1:]
udh = bytes([5, 0, 3, int(ref), int(total), int(n)])
sm = udh + text.encode()
body = b"\0" + bytes([1, 1]) + msisdn.encode() + b"\0" + bytes([0, 0]) + b"384\0" + \
    bytes([0x40, 0, 0]) + b"\0\0" + bytes([0, 0, 0, 0, len(sm)]) + sm
hdr = struct.pack(">IIII", 16 + len(body), 5, 0, int(seq))
print((hdr + body).hex())
PY
}
raw() { ctl -X POST -H 'Content-Type: application/json' -d "{\"hex\": \"$1\"}" "$CTL/smpp/raw" > /dev/null; }
raw "$(pdu 7001 255700000034 77 2 1 'first half ')"
wait_for grep -q "MO part 1/2 from t:[0-9a-f]* stored (ref 77)" "$tmp/gw.log" || fail "part 1 not stored"
kill -TERM "$gw_pid"; wait "$gw_pid" || fail "gateway exit status"; gw_pid=
start_gw
wait_for sh -c "[ \$(grep -c 'BINDING -> BOUND' '$tmp/gw.log') -ge 2 ]" || fail "not bound again"
raw "$(pdu 7002 255700000034 77 2 2 'second half')"
wait_for grep -q "reassembled: 2 parts, 22 bytes" "$tmp/gw.log" || fail "parts across the restart not joined"
wait_for grep -q "audited (2 parts, 22 bytes)" "$tmp/gw.log" || fail "joined MO not answered"
no_parts() { [ "$(redis-cli -p "$USSDGW_REDIS_PORT" --scan --pattern "ussdgw:mo:{$LINK}*" | wc -l)" = 0 ]; }
wait_for no_parts || fail "parts left in Redis after the answer"
echo "links_mo: ok"
