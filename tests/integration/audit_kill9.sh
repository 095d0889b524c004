#!/usr/bin/env bash
# kill -9 of the gateway under USSD load, then a restart on the same journal:
# every step the subscriber side saw answered (counted by the simulator, the
# SMSC peer, not by the gateway) has its audit record in PostgreSQL, with no
# gap and no duplicate in the chain, and `ussdgw-audit verify` passes.
#
# Load: concurrent sessions over the simulator's control API
# (helpers/ussd_drive.js), pure menu steps of the demo menu (no wallet call).
# The gateway is killed mid-load and restarted while the load goes on; the
# restarted node continues the chain from its journal and ships the backlog.
source "$(dirname "$0")/ussd_lib.bash"
drv=$src/tests/integration/helpers/ussd_drive.js
psql_q() { psql -X -At -v ON_ERROR_STOP=1 -d "${PGDATABASE:-ussdgw}" "$@"; }
metric() { # NAME: the gateway's value of an unlabelled metric (empty if absent)
	curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_1/metrics" | awk -v n="$1" '$1 == n {print $2; exit}'
}
PREFIX=2547$(printf '%02d' $((RANDOM % 100)))
CHAIN=$LINK-1

start_sim --ussd-timeout-ms 4000
# A window above the driver's concurrency: a full window refuses a reply at
# once (ESME_RX_T_APPN for the SMSC to redeliver), which is not what this
# test is about.
write_config 1 '"window": 64'
start_gw 1
wait_binds 1
wait_menu

# Load for 9 s; the gateway dies at about 3.5 s and is back about 1 s later.
node "$drv" drive --control "$CTL" --seconds 9 --workers 32 --prefix "$PREFIX" --wait-ms 3000 \
	> "$tmp/drive.json" 2> "$tmp/drive.err" &
drv_pid=$!
gw_pids+=("$drv_pid")
sleep 3.5
journaled_before=$(metric ussdgw_audit_records_journaled_total)
kill -9 "${gw_pids[1]}"
wait "${gw_pids[1]}" 2>/dev/null || true
echo "killed the gateway (it had journaled ${journaled_before:-?} records a moment before)"
sleep 1
mv "$tmp/gw1.log" "$tmp/gw1-killed.log"
start_gw 1
grep -q "chain $CHAIN at seq [1-9]" "$tmp/gw1.log" || fail "the restarted node did not continue the chain from its journal"
wait "$drv_pid" || fail "driver: $(cat "$tmp/drive.err")"
echo "driver: $(cat "$tmp/drive.json")"
[ "$(jq .dials_refused "$tmp/drive.json")" -gt 0 ] || fail "no dial was refused: the kill missed the load"
[ "$(jq .screens "$tmp/drive.json")" -gt 200 ] || fail "too little load: $(cat "$tmp/drive.json")"

# The simulator's record of what the subscriber side received.
node "$drv" answered --control "$CTL" --prefix "$PREFIX" > "$tmp/answered.txt" 2> "$tmp/answered.err" ||
	fail "answered: $(cat "$tmp/answered.err")"
[ ! -s "$tmp/answered.err" ] || fail "screens outside the dialled sessions: $(head -5 "$tmp/answered.err")"
answered=$(awk '{s += $2} END {print s + 0}' "$tmp/answered.txt")
after_restart=$(curl -sS "$CTL/stats" | jq '.submit_sm.ussd')

# Let the restarted node ship everything: its oldest unshipped record goes to
# 0 and the chain in PostgreSQL stops growing; then stop it cleanly (a signed
# head at close goes to the export file and the table).
prev=-1
for _ in $(seq 200); do
	n=$(psql_q -c "SELECT count(*) FROM audit WHERE chain = '$CHAIN'")
	[ "$(metric ussdgw_audit_oldest_unshipped_seconds)" = 0 ] && [ "$n" = "$prev" ] && break
	prev=$n
	sleep 0.25
done
kill -TERM "${gw_pids[1]}"
wait "${gw_pids[1]}" || fail "the gateway did not stop cleanly"
gw_pids[1]=

# Tokens of the dialled MSISDNs, and the chain's step records.
while read -r m _; do
	printf '%s %s\n' "$m" "$("$bld/ussdgw-keys" msisdn-token "$tmp/keys" "$m")"
done < "$tmp/answered.txt" > "$tmp/tokens.txt"
psql_q -F ' ' -c "SELECT msisdn_token, body::json->'vars'->>'step', body::json->>'event'
	FROM audit WHERE chain = '$CHAIN' AND kind = 'session_step' AND msisdn_token IS NOT NULL" > "$tmp/rows.txt"
node "$drv" check --answered "$tmp/answered.txt" --tokens "$tmp/tokens.txt" --rows "$tmp/rows.txt" \
	> "$tmp/check.json" 2> "$tmp/check.err" || fail "answered steps vs audit: $(cat "$tmp/check.err")"
echo "check: $(cat "$tmp/check.json")"

# The chain: seq 1..max, each once.
read -r cnt dist lo hi < <(psql_q -F ' ' -c "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
	FROM audit WHERE chain = '$CHAIN'")
echo "chain $CHAIN: $cnt rows, seq $lo..$hi"
[ "$cnt" = "$dist" ] || fail "duplicate sequence numbers: $cnt rows, $dist distinct"
[ "$lo" = 1 ] && [ "$hi" = "$cnt" ] || fail "gap in the chain: $cnt rows, seq $lo..$hi"
[ "$cnt" -ge "$answered" ] || fail "fewer records ($cnt) than answered steps ($answered)"
# The head signed at the clean stop is the last record shipped.
head_seq=$(awk -v c="$CHAIN" '$2 == c {s = $3} END {print s}' "$tmp/heads1.log")
[ "$head_seq" = "$hi" ] || fail "exported head $head_seq, table ends at $hi"

"$bld/ussdgw-audit" verify --chain "$CHAIN" --export "$tmp/heads1.log" --keys "$tmp/keys" \
	> "$tmp/verify.txt" 2>&1 || { cat "$tmp/verify.txt" >&2; fail "verify found something"; }
echo "verify: $(tail -n 3 "$tmp/verify.txt" | tr '\n' ' ')"
echo "audit_kill9: ok ($answered answered steps (simulator), $cnt records, submit_sm seen by the simulator $after_restart)"
