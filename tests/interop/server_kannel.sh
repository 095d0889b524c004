#!/usr/bin/env bash
# Kannel (Debian kannel: bearerbox + smsbox) binds to ussdgw's SMPP server as a
# transceiver (config written here, loopback only):
#  - MT through smsbox's sendsms -> Kannel's submit_sm -> our egress -> the link
#    -> tools/smsc-sim; the SMSC's receipt comes back to Kannel, which calls its
#    dlr-url with the delivered status
#  - an MO from the SMSC to the account's address reaches Kannel and smsbox's
#    get-url
# shellcheck source=srv_lib.bash
. "${GW_SOURCE_DIR:?}/tests/interop/srv_lib.bash"
command -v bearerbox > /dev/null && command -v smsbox > /dev/null || fail "kannel is not installed (tools/bootstrap)"
bb_pid= sb_pid= sink_pid=
kcleanup() {
	for p in $sb_pid $bb_pid $sink_pid; do kill -9 "$p" 2> /dev/null || true; done
	cleanup
}
trap kcleanup EXIT

start_sim --mt-log "$tmp/mt.log"
h=$(hash kannel1)
write_server_config "[{\"name\":\"kannel\",\"password_hash\":\"$h\",\"addresses\":[\"5000\"],\"allowed_ips\":[\"127.0.0.1/32\"]}]"
start_server
wait_bound

node "$interop/http_sink.js" "$tmp/sink.log" > "$tmp/sink.out" &
sink_pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/sink.out" 2> /dev/null && break; sleep 0.1; done
SINK=$(awk '{print $2}' "$tmp/sink.out")
[ -n "$SINK" ] || fail "http sink did not start"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
ADMIN_K=$(free_port) BOX_K=$(free_port) SEND_K=$(free_port)

cat > "$tmp/kannel.conf" <<CONF
group = core
admin-port = $ADMIN_K
admin-password = adm
admin-interface = 127.0.0.1
admin-allow-ip = 127.0.0.1
smsbox-port = $BOX_K
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "$tmp/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = ussdgw
host = 127.0.0.1
port = $SRV_PORT
transceiver-mode = true
smsc-username = kannel
smsc-password = kannel1
system-type = ""
enquire-link-interval = 5
reconnect-delay = 1
source-addr-ton = 5
source-addr-npi = 0
dest-addr-ton = 1
dest-addr-npi = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BOX_K
sendsms-port = $SEND_K
sendsms-interface = 127.0.0.1
log-file = "$tmp/smsbox.log"
log-level = 0

group = sendsms-user
username = tester
password = testpw
max-messages = 1

group = sms-service
keyword = default
catch-all = yes
max-messages = 0
get-url = "http://127.0.0.1:$SINK/mo?from=%p&to=%P&text=%a"
CONF

bearerbox "$tmp/kannel.conf" > "$tmp/bearerbox.out" 2>&1 &
bb_pid=$!
wait_for grep -q "bound as transceiver of account kannel" "$tmp/gw.log" ||
	fail "Kannel did not bind: $(tail -n 20 "$tmp/bearerbox.log" 2> /dev/null)"
smsbox "$tmp/kannel.conf" > "$tmp/smsbox.out" 2>&1 &
sb_pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$SEND_K/" && break
	sleep 0.1
done

# MT through sendsms, with a receipt asked for (dlr-mask 1 = delivered, 2 = failed).
dlr_url=$(printf '%s' "http://127.0.0.1:$SINK/dlr?type=%d&id=%F&reply=%A" | jq -sRr @uri)
out=$(curl -sS --max-time 10 "http://127.0.0.1:$SEND_K/cgi-bin/sendsms?username=tester&password=testpw&from=5000&to=254722000001&text=Hello+from+Kannel&dlr-mask=3&dlr-url=$dlr_url")
echo "sendsms: $out"
echo "$out" | grep -qi 'accepted\|queued\|sent' || fail "sendsms refused: $out"
curl -sS "$CTL/sms/mt?to=254722000001&wait_ms=15000" > "$tmp/sim_mt.json"
jq -e '.messages[0].text == "Hello from Kannel"' "$tmp/sim_mt.json" > /dev/null ||
	fail "the SMSC did not get Kannel's MT: $(cat "$tmp/sim_mt.json")"
wait_for grep -q '^/dlr?type=1' "$tmp/sink.log" ||
	fail "Kannel's dlr-url not called with delivered: $(cat "$tmp/sink.log" 2> /dev/null); $(grep -i 'dlr' "$tmp/bearerbox.log" | tail -n 5)"
grep -q "receipt for MT .* (DELIVRD) to account kannel" "$tmp/gw.log" || fail "receipt not relayed"

# MO from the SMSC to the account's address reaches smsbox's get-url.
curl -sS -X POST -H 'Content-Type: application/json' \
	-d '{"from":"254722000002","to":"5000","text":"BAL please"}' "$CTL/sms/mo" > "$tmp/mo_post.json"
jq -e '.statuses == [0]' "$tmp/mo_post.json" > /dev/null || fail "MO status at the SMSC: $(cat "$tmp/mo_post.json")"
wait_for grep -q '^/mo?.*to=5000.*text=BAL' "$tmp/sink.log" || fail "MO not at Kannel's get-url: $(cat "$tmp/sink.log")"
grep '^/mo' "$tmp/sink.log" | grep -q '254722000002' || fail "MO sender: $(grep '^/mo' "$tmp/sink.log")"

# Kannel's enquire_link (every 5 s) kept the session; stop Kannel cleanly.
kill -TERM "$sb_pid" "$bb_pid" 2> /dev/null || true
for _ in $(seq 50); do kill -0 "$bb_pid" 2> /dev/null || break; sleep 0.1; done
sb_pid= bb_pid=
echo "PASS: server_kannel"
