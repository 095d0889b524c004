#!/usr/bin/env bash
# Our SMPP traffic decoded by an independent dissector: tshark captures on lo
# (port filter) while the daemon binds, keeps the link alive, submits a short
# and a long MT (UDH) and unbinds; the decoded fields must be what we meant,
# and no packet may be malformed. tshark missing or unable to capture is a
# failure, not a skip (tools/bootstrap installs it; capturing as root works).
source "$(dirname "$0")/links_lib.bash"
command -v tshark > /dev/null || fail "tshark not installed (tools/bootstrap)"

start_sim
write_config '"enquire_link_s": 1,'
tshark -i lo -f "tcp port $SIM_PORT" -w "$tmp/cap.pcapng" -a duration:50 > /dev/null 2> "$tmp/tshark.err" &
ts_pid=$!
wait_for grep -q "Capturing on" "$tmp/tshark.err" || fail "tshark does not capture: $(cat "$tmp/tshark.err")"
start_gw
wait_bound 1
enqueue --to 255700000061 --text "short one" --id-prefix "w$$-" > /dev/null
long=$(printf 'L%.0s' $(seq 200))
enqueue --to 255700000062 --text "$long" --id-prefix "x$$-" > /dev/null
wait_for state_is "w$$-0" submitted || fail "short MT"
wait_for state_is "x$$-0" submitted || fail "long MT"
sleep 1.5 # an idle second: enquire_link
kill -TERM "$gw_pid"; wait "$gw_pid" || fail "exit status"; gw_pid=
sleep 0.5
kill -INT "$ts_pid"; wait "$ts_pid" || true

dec() { tshark -r "$tmp/cap.pcapng" -d "tcp.port==$SIM_PORT,smpp" "$@" 2> /dev/null; }
dec -T fields -E separator='|' -e smpp.command_id -e smpp.sequence_number -e smpp.command_status \
	-e smpp.system_id -e smpp.interface_version -e smpp.destination_addr -e smpp.data_coding \
	-e smpp.sm_length -e smpp.message_id -Y smpp > "$tmp/fields"
[ -s "$tmp/fields" ] || fail "no SMPP decoded"
cat "$tmp/fields" >&2
bind=$(grep '^0x00000009|' "$tmp/fields" | head -n1)
IFS='|' read -r _ seq _ sid iv _ <<< "$bind"
[ "$seq" = 1 ] && [ "$sid" = ussdgw ] && [ "$iv" = 52 ] || fail "bind_transceiver fields: $bind"
grep -q '^0x80000009|1|0x00000000|' "$tmp/fields" || fail "bind_transceiver_resp"
sub=$(grep '^0x00000004|.*|255700000061|' "$tmp/fields" | head -n1)
IFS='|' read -r _ _ _ _ _ _ dcs smlen _ <<< "$sub"
[ "$dcs" = 0x00 ] && [ "$smlen" = 9 ] || fail "short submit_sm: $sub"
[ "$(grep -c '^0x00000004|.*|255700000062|' "$tmp/fields")" = 2 ] || fail "long MT not 2 submit_sm"
# The long MT's parts carry a UDH: esm_class UDHI and a concatenation IE, parts 1 and 2 of 2.
dec -Y "smpp.destination_addr == \"255700000062\"" -T fields -E separator='|' \
	-e smpp.esm.submit.features -e gsm_sms.udh.mm.msg_parts -e gsm_sms.udh.mm.msg_part > "$tmp/udh"
cat "$tmp/udh" >&2
grep -q '|2|1$' "$tmp/udh" && grep -q '|2|2$' "$tmp/udh" || fail "UDH parts: $(cat "$tmp/udh")"
grep -Eq '^0x80000004\|[0-9]+\|0x00000000\|\|\|\|\|\|[0-9a-f]+$' "$tmp/fields" || fail "submit_sm_resp"
grep -q '^0x00000015|' "$tmp/fields" || fail "no enquire_link"
# Receipts (deliver_sm) answered with deliver_sm_resp ESME_ROK, echoing their sequence numbers.
for s in $(grep '^0x00000005|' "$tmp/fields" | cut -d'|' -f2); do
	grep -q "^0x80000005|$s|0x00000000|" "$tmp/fields" || fail "deliver_sm $s not answered ESME_ROK"
done
[ "$(grep -c '^0x00000005|' "$tmp/fields")" = 3 ] || fail "expected 3 receipts"
grep -q '^0x00000006|' "$tmp/fields" || fail "no unbind"
grep -q '^0x80000006|' "$tmp/fields" || fail "no unbind_resp"
# Sequence numbers of our requests go up by one.
grep -E '^0x000000(04|09|15|06)\|' "$tmp/fields" | cut -d'|' -f2 | sort -n | uniq -d | grep -q . &&
	fail "a sequence number was reused"
[ "$(dec -Y _ws.malformed | wc -l)" = 0 ] || fail "malformed packets: $(dec -Y _ws.malformed)"
echo "links_tshark: ok"
