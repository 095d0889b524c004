#!/usr/bin/env bash
# tools/run-demo: the whole demo comes up (dev stack, wallet, Daraja emulator,
# simulator as the USSD centre, ussdgw bound to it), a person's keystrokes on
# the interactive phone walk the menu (a balance, then pay bill to M-Pesa: the
# session ends with the prompt notice, the emulator charges once and its
# callback settles the payment), an SMS keyword is answered, and `quit` stops
# everything it started.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
bld=${GW_BUILD_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$tmp/out" >&2 || true; tail -n 30 "$tmp/state/ussdgw.log" >&2 || true; exit 1; }
# A session of an earlier run (its language, its resume offer) is not this run's business.
eval "$("$src/tools/devstack" env)"
redis-cli -p "$USSDGW_REDIS_PORT" DEL "ussd:{demo-mno:254700000001}:s" > /dev/null
# run-demo keeps the emulator's ledger in the dev stack's folder: count this run's charges.
ledger=$USSDGW_DEVSTACK_DIR/daraja/ledger.jsonl
charges() { if [ -f "$ledger" ]; then grep -c '"phone":"254700000001"' "$ledger" || true; else echo 0; fi; }
before=$(charges)
since=$(psql -X -tA -U postgres -d "${PGDATABASE:-ussdgw}" -c "SELECT now()")
paid() { # this run's payments of the demo phone
	psql -X -tA -U postgres -d "${PGDATABASE:-ussdgw}" -c \
		"SELECT string_agg(state, ',') FROM payment WHERE msisdn = '254700000001' AND created_at >= '$since'"
}
# The phone reads the person's lines from stdin; each waits for the screen before the next.
{
	sleep 1
	printf '*384#\n'; sleep 1
	printf '4\n'; sleep 1
	printf '1\n'; sleep 1
	printf '1234\n'; sleep 1.5
	printf '*384#\n'; sleep 1
	printf '3\n'; sleep 1
	printf '123456\n'; sleep 1
	printf 'ACC9\n'; sleep 1
	printf '25\n'; sleep 1
	printf '1\n'
	# The emulator's subscriber takes ~3 s, then its callback settles the
	# payment: quit once the row says so (bounded).
	for _ in $(seq 300); do
		[ "$(paid)" = succeeded ] && break
		sleep 0.1
	done
	# The settled payment's receipt SMS reaches the phone.
	sleep 3
	printf 'sms 384 Saa\n'; sleep 3
	printf 'quit\n'
} | timeout 90 "$src/tools/run-demo" --build "$bld" --state "$tmp/state" > "$tmp/out" 2>&1 || fail "run-demo exit status"
grep -q "Your DemoPesa balance is KES 5,000.00" "$tmp/out" || fail "the balance screen was not shown"
# (the phone wraps the screen in a box: match the notice's lines)
grep -q "You will receive an M-Pesa prompt" "$tmp/out" && grep -q "Dial \*384# to check" "$tmp/out" ||
	fail "pay bill did not end with the M-Pesa prompt notice"
grep -q "DemoPesa agents: Mon-Sat 08:00-18:00" "$tmp/out" || fail "the keyword's SMS answer was not shown"
grep -q "Payment received: KES 25" "$tmp/out" || fail "the payment's SMS receipt was not shown on the phone"
grep -q "run-demo: stopped" "$tmp/out" || fail "run-demo did not stop cleanly"
after=$(charges)
[ "$after" = $((before + 1)) ] || fail "charges on the Daraja ledger: $before before, $after after (expected one more)"
[ "$(stat -c %a "$ledger")" = 600 ] || fail "ledger mode $(stat -c %a "$ledger")"
for f in daraja-consumer-key daraja-consumer-secret daraja-passkey; do
	[ "$(stat -c %a "$USSDGW_DEVSTACK_DIR/secrets/$f")" = 600 ] || fail "secret $f is not 0600"
done
state=$(paid)
[ "$state" = succeeded ] || fail "the demo payment: '$state', expected succeeded"
for f in wallet daraja sim; do
	grep -q . "$tmp/state/$f.out" || fail "$f did not start"
done
sleep 0.5
pgrep -f "$tmp/state" > /dev/null && fail "processes left running: $(pgrep -fa "$tmp/state")"
echo "run_demo: ok"
