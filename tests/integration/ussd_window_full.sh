#!/usr/bin/env bash
# A full SMPP window delays a USSD reply, it does not lose it: with the
# default window (10) and the simulator answering each submit_sm 50 ms late,
# 40 subscribers stepping at once keep every window slot taken; every step is
# still answered (the reply waits for a slot within the answer budget), none
# is refused with ESME_RX_T_APPN, and the window really was full meanwhile
# (the simulator never had more than 10 submit_sm unanswered, yet more than 10
# subscribers were waiting).
source "$(dirname "$0")/ussd_lib.bash"
drv=$src/tests/integration/helpers/ussd_drive.js

start_sim
write_config 1
start_gw 1
wait_binds 1
wait_menu
post /faults '{"delay": {"ms": 50}}' > /dev/null

node "$drv" drive --control "$CTL" --seconds 4 --workers 40 --prefix 2547$(printf '%02d' $((RANDOM % 100))) \
	--wait-ms 9000 > "$tmp/drive.json" 2> "$tmp/drive.err" || fail "driver: $(cat "$tmp/drive.err")"
echo "driver: $(cat "$tmp/drive.json")"
for k in dials_refused inputs_refused unanswered; do
	[ "$(jq ".$k" "$tmp/drive.json")" = 0 ] || fail "$k: $(cat "$tmp/drive.json")"
done
[ "$(jq .screens "$tmp/drive.json")" -ge 100 ] || fail "too few steps: $(cat "$tmp/drive.json")"
! grep -q "reply not sent" "$tmp/gw1.log" || fail "replies refused: $(grep -c "reply not sent" "$tmp/gw1.log")"
curl -sS "$CTL/stats" > "$tmp/stats.json"
[ "$(jq '.deliver_sm_resp["0x00000064"] // 0' "$tmp/stats.json")" = 0 ] ||
	fail "deliver_sm answered ESME_RX_T_APPN: $(jq -c .deliver_sm_resp "$tmp/stats.json")"
waited=$(curl -sS "http://127.0.0.1:$ADMIN_1/metrics" | awk '$1 == "ussdgw_ussd_reply_window_waits_total" {print $2}')
[ "${waited:-0}" -gt 0 ] || fail "no reply ever waited for a window slot: the window was never full"
echo "ussd_window_full: ok ($(jq .screens "$tmp/drive.json") steps answered, $waited replies waited for a slot)"
