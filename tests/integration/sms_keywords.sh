#!/usr/bin/env bash
# SMS keywords end to end: the real ussdgw daemon bound to the simulator (npm
# smpp as the SMSC) on the dev stack, with a keyword file.
#  - routing by keyword with aliases, case and accents ("sürvey", "ENQUÊTE"),
#    per short code (a keyword of 384 is unknown on 385);
#  - a multi-message menu flow whose state is in Redis;
#  - HELP (and MSAADA), an unknown word answered (never silence);
#  - STOP / START round trip: answers, the Redis view, the audit;
#  - an HTTP forward that fails twice and is retried (signed with HMAC-SHA256,
#    same delivery id), the business's reply relayed; a forward dead-lettered
#    after the attempt limit;
#  - a long reply split into three parts, delivered, and its receipt tracked;
#  - tools/phone --script sending a keyword and expecting the reply.
source "$(dirname "$0")/sms_lib.bash"
export NODE_PATH=$src/tests/interop/node_modules

start_svc_sink() {
	node "$src/tests/integration/helpers/http_sink.js" "$tmp/sink.jsonl" > "$tmp/sink.out" 2> "$tmp/sink.err" &
	sink_pid=$!
	extra_pids+=("$sink_pid")
	for _ in $(seq 100); do grep -q '^listening' "$tmp/sink.out" 2>/dev/null && break; sleep 0.1; done
	SINK=http://127.0.0.1:$(awk '{print $2}' "$tmp/sink.out")
}
start_svc_sink

start_sim --mt-log "$tmp/mt.log"
long=$(printf 'Opening hours are long. %.0s' $(seq 14))
crm=crm$$ dead=dead$$
kwfile=$(jq -n --arg long "$long" --arg crm "$crm" --arg dead "$dead" '{shortcodes: {
  "384": {service: "demopesa", keywords: [
    {keyword: "SURVEY", aliases: ["UTAFITI", "ENQUÊTE"], menu: "sms_survey"},
    {keyword: "JOIN", aliases: ["JIUNGE"], forward: $crm, reply: "Thanks, request received."},
    {keyword: "LOST", forward: $dead},
    {keyword: "HOURS", aliases: ["SAA"], reply: $long}]},
  "385": {service: "other", keywords: [{keyword: "NEWS", reply: "No news today."}]}}}')
printf 'crm-secret-1\n' > "$tmp/crm.key"
printf 'dead-secret' > "$tmp/dead.key"
chmod 600 "$tmp/crm.key" "$tmp/dead.key"
write_kw_config "$kwfile" "$(jq -nc --arg s "$SINK" --arg k1 "$tmp/crm.key" --arg k2 "$tmp/dead.key" \
	'{forwards: {($crm): {url: ($s + "/flaky/crm?fail=2&reply=Welcome%20to%20the%20club"), secret_file: $k1},
	             ($dead): {url: ($s + "/fail/lost"), secret_file: $k2}}}' --arg crm "$crm" --arg dead "$dead")"
start_gw
wait_bound 1
wait_for grep -q "keyword router up" "$tmp/gw.log" || fail "router not up"

A=$(P 1) B=$(P 2) C=$(P 3) D=$(P 4)

# 1. Keywords: accents, case, aliases; a multi-message flow with its state in Redis.
ask "$A" 384 "  sürvey" "favourite drink"
tokA=$(token "$A")
[ "$(rcli EXISTS "ussdgw:smsflow:{$tokA}:384")" = 1 ] || fail "flow state not in Redis"
ask "$A" 384 "2" "first name"
ask "$A" 384 "Amina" "^Thanks Amina, you chose coffee\.$"
[ "$(rcli EXISTS "ussdgw:smsflow:{$tokA}:384")" = 0 ] || fail "ended flow still in Redis"
ask "$B" 384 "enquête" "favourite drink"
ask "$B" 384 "1" "first name"
ask "$B" 384 "Baraka" "you chose tea"
ask "$B" 384 "Utafiti" "favourite drink"       # Swahili alias, mixed case
ask "$B" 384 "msaada" "demopesa: send SURVEY, JOIN, LOST, HOURS"   # HELP while a flow is live
ask "$B" 384 "1" "first name"                   # the flow goes on after HELP
[ "$(jq -r .from "$tmp/last_answer.json")" = 384 ] || fail "answer not from the short code"

# 2. Unknown words and per-short-code tables: never silence.
ask "$C" 384 "blah blah" '"BLAH" is not a keyword of demopesa'
ask "$C" 385 "survey" '"SURVEY" is not a keyword of other'
ask "$C" 385 "news" "No news today"
ask "$C" 384 "HELP" "Send HELP|STOP to opt out"

# 3. STOP / START: answered, the live view written before the answer, audited.
tokC=$(token "$C")
ask "$C" 384 "Stop" "no more promotional messages from demopesa"
[ "$(rcli HGET "ussdgw:consent:{$tokC}" demopesa)" = 1 ] || fail "STOP not in the Redis view"
ask "$C" 384 "anza" "again get messages from demopesa"
[ -z "$(rcli HGET "ussdgw:consent:{$tokC}" demopesa)" ] || fail "START did not clear the view"
ask "$C" 384 "stop all" "from any service"
[ "$(rcli HGET "ussdgw:consent:{$tokC}" '*')" = 1 ] || fail "STOPALL not in the Redis view"
ask "$C" 384 "START" "again get messages"
[ -z "$(rcli HGET "ussdgw:consent:{$tokC}" '*')" ] || fail "START did not clear STOPALL"
grep -q '"kind":"consent_change"' "$tmp/journal"/* 2>/dev/null ||
	grep -rqa 'consent_change' "$tmp/journal" || fail "consent change not in the audit journal"

# 4. HTTP forward: fails twice (503), retried with backoff, then delivered; signed.
ask "$D" 384 "jiunge gold plan" "Thanks, request received"
msg=$(next_mt "$D")
[ "$(printf '%s' "$msg" | jq -r .text)" = "Welcome to the club" ] || fail "business reply not relayed: $msg"
wait_for sh -c "[ \$(grep -c '/flaky/crm' '$tmp/sink.jsonl') -ge 3 ]" || fail "forward not retried 3 times"
jq -s '[.[] | select(.path | startswith("/flaky/crm"))]' "$tmp/sink.jsonl" > "$tmp/crm.json"
[ "$(jq '[.[].status]' -c "$tmp/crm.json")" = "[503,503,200]" ] || fail "attempts: $(jq -c '[.[].status]' "$tmp/crm.json")"
[ "$(jq '[.[].headers["x-ussdgw-delivery"]] | unique | length' "$tmp/crm.json")" = 1 ] || fail "delivery id changed"
[ "$(jq -c '[.[].headers["x-ussdgw-attempt"]]' "$tmp/crm.json")" = '["1","2","3"]' ] || fail "attempt numbers"
jq -e '.[2].body | fromjson | .keyword == "JOIN" and .args == "gold plan" and .shortcode == "384"' \
	"$tmp/crm.json" > /dev/null || fail "forward body: $(jq -r '.[2].body' "$tmp/crm.json")"
for i in 0 1 2; do
	ts=$(jq -r ".[$i].headers[\"x-ussdgw-timestamp\"]" "$tmp/crm.json")
	sig=$(jq -r ".[$i].headers[\"x-ussdgw-signature\"]" "$tmp/crm.json")
	want=$(printf '%s.%s' "$ts" "$(jq -j ".[$i].body" "$tmp/crm.json")" |
		openssl dgst -sha256 -hmac crm-secret-1 -r | cut -d' ' -f1)
	[ "$sig" = "v1=$want" ] || fail "signature of attempt $i: $sig, want v1=$want"
done
# Backoff: the attempts are spread out, not back to back.
grep -q "forward .* ($crm): attempt 1 failed (HTTP 503): retry in" "$tmp/gw.log" || fail "retry not logged"

# 5. A forward that always fails is dead-lettered after 3 attempts.
[ "$(mo "$D" 384 "lost card $$")" = "[0]" ] || fail "forward MO not acknowledged"
wait_for sh -c "redis-cli -p $USSDGW_REDIS_PORT LRANGE ussdgw:fwd:dead 0 -1 | grep -q 'lost card $$'" ||
	fail "forward not dead-lettered"
[ "$(grep -c '/fail/lost' "$tmp/sink.jsonl")" = 3 ] || fail "dead forward attempts: $(grep -c '/fail/lost' "$tmp/sink.jsonl")"
rcli LRANGE ussdgw:fwd:dead 0 -1 | grep "lost card $$" | jq -e '.attempts == 3 and .last_error == "HTTP 500"' > /dev/null ||
	fail "dead letter: $(rcli LRANGE ussdgw:fwd:dead 0 0)"

# 6. A long reply: split into 3 parts by the SMPP layer, delivered, its receipt tracked.
ask "$D" 384 "hours" "^Opening hours are long"
[ "$(jq -r .parts "$tmp/last_answer.json")" = 3 ] || fail "long reply parts: $(cat "$tmp/last_answer.json")"
[ "$(jq -r .text "$tmp/last_answer.json")" = "$long" ] || fail "long reply text changed"
mt_id=$(sed -n 's/.*answer \([^ ]*\) to the MO (reply) queued.*/\1/p' "$tmp/gw.log" | tail -n1)
[ -n "$mt_id" ] || fail "long reply's MT id not logged"
wait_for dlr_state_is "$mt_id" 2 || fail "receipt of the long reply not tracked: $(show "$mt_id")"

# 7. The handset: tools/phone sends a keyword and shows the reply.
cat > "$tmp/phone.script" <<SCRIPT
sms 384 SAA
expect-sms /Opening hours are long/
sms 384 hêlp
expect-sms /demopesa: send SURVEY/
SCRIPT
"$src/tools/phone" --control "$CTL" --msisdn "$(P 5)" --script "$tmp/phone.script" --timeout-ms 15000 \
	> "$tmp/phone.out" 2>&1 || { cat "$tmp/phone.out" >&2; fail "phone script"; }
grep -q FAIL "$tmp/phone.out" && fail "phone: $(cat "$tmp/phone.out")"

metrics > "$tmp/metrics.txt"
grep -q '^ussdgw_sms_mo_total{outcome="ok",target="menu"}' "$tmp/metrics.txt" || fail "MO metrics"
grep -q '^ussdgw_sms_forward_total{outcome="dead"} 1' "$tmp/metrics.txt" || fail "dead-letter metric"
grep -q "$A" "$tmp/gw.log" && fail "MSISDN in clear in the log"
# Graceful shutdown: exit status 0 (under ASan, also no leak).
kill -TERM "$gw_pid"
wait "$gw_pid" || fail "gateway exit status $? after SIGTERM"
gw_pid=
echo "sms_keywords: ok"
