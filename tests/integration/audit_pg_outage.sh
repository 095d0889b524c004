#!/usr/bin/env bash
# ctest: serial
# PostgreSQL stopped for 30 s under USSD load and started again: the gateway
# keeps answering every step (the journal carries the audit; /readyz stays 200
# "degraded"), and once PostgreSQL is back every record arrives, in order: each
# step the simulator saw answered has its record, the chain is contiguous from
# 1 and `ussdgw-audit verify` passes. Stops and starts the dev stack's
# PostgreSQL (tools/devstack stop-pg / start-pg), hence serial.
source "$(dirname "$0")/ussd_lib.bash"
source "$(dirname "$0")/audit_load_lib.bash"
OUTAGE_S=${USSDGW_TEST_PG_OUTAGE_S:-30}
restore() {
	local rc=$?
	"$src/tools/devstack" start-pg >/dev/null 2>&1 || true
	(exit $rc)
	cleanup
}
trap restore EXIT
ready() { curl -s --max-time 5 -o "$tmp/readyz.json" -w '%{http_code}' "http://127.0.0.1:$ADMIN_1/readyz" || true; }
screens() { curl -sS "$CTL/stats" | jq '.submit_sm.ussd'; }

start_sim --ussd-timeout-ms 8000
write_config 1 '' '"postgres": {"reconnect_max_ms": 500}'
start_gw 1
wait_binds 1
wait_menu
[ "$(ready)" = 200 ] && grep -q '"status":"ready"' "$tmp/readyz.json" || fail "not ready: $(cat "$tmp/readyz.json")"

# Load for 4 s + the outage + 6 s, fewer workers than the kill test: the
# journal grows by every step of the outage.
node "$drv" drive --control "$CTL" --seconds $((OUTAGE_S + 10)) --workers 16 --prefix "$PREFIX" --wait-ms 8000 \
	> "$tmp/drive.json" 2> "$tmp/drive.err" &
drv_pid=$!
gw_pids[9]=$drv_pid # killed by the cleanup if still running
sleep 4
"$src/tools/devstack" stop-pg >/dev/null
t0=$SECONDS
s0=$(screens)
echo "PostgreSQL stopped after $s0 screens"
# Throughout the outage: ready, degraded, the shipper reports PostgreSQL down.
checks=0
while [ $((SECONDS - t0)) -lt "$OUTAGE_S" ]; do
	code=$(ready)
	[ "$code" = 200 ] || fail "/readyz $code during the outage: $(cat "$tmp/readyz.json")"
	if [ $((SECONDS - t0)) -ge 3 ]; then
		grep -q '"status":"degraded"' "$tmp/readyz.json" || fail "not degraded during the outage: $(cat "$tmp/readyz.json")"
		[ "$(metric ussdgw_audit_postgres_up)" = 0 ] || fail "the shipper still reports PostgreSQL up"
		checks=$((checks + 1))
	fi
	sleep 1
done
s1=$(screens)
unshipped=$(metric ussdgw_audit_oldest_unshipped_seconds)
"$src/tools/devstack" start-pg >/dev/null
echo "PostgreSQL started again after $((SECONDS - t0)) s; $((s1 - s0)) screens answered meanwhile, oldest unshipped record ${unshipped} s old"
[ "$checks" -ge $((OUTAGE_S / 2)) ] || fail "only $checks readiness checks during the outage"
[ $((s1 - s0)) -ge $((OUTAGE_S * 5)) ] || fail "the gateway hardly answered during the outage: $((s1 - s0)) screens"
awk -v u="$unshipped" -v o="$OUTAGE_S" 'BEGIN {exit !(u >= o - 5)}' ||
	fail "the oldest unshipped record is $unshipped s old at the end of a $OUTAGE_S s outage"

wait "$drv_pid" || fail "driver: $(cat "$tmp/drive.err")"
gw_pids[9]=
echo "driver: $(cat "$tmp/drive.json")"
# Every step was answered: nothing refused, nothing left without a screen.
for k in dials_refused inputs_refused unanswered; do
	[ "$(jq ".$k" "$tmp/drive.json")" = 0 ] || fail "$k: $(cat "$tmp/drive.json")"
done
[ "$(screens)" -gt "$s1" ] || fail "nothing answered after PostgreSQL came back"

wait_shipped 40
for _ in $(seq 50); do
	[ "$(ready)" = 200 ] && grep -q '"status":"ready"' "$tmp/readyz.json" && break
	sleep 0.2
done
grep -q '"status":"ready"' "$tmp/readyz.json" || fail "not ready again: $(cat "$tmp/readyz.json")"
stop_gw_clean
check_audit
echo "audit_pg_outage: ok ($ANSWERED answered steps counted by the simulator, $((s1 - s0)) during the ${OUTAGE_S} s outage, $ROWS records)"
