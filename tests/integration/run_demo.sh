#!/usr/bin/env bash
# tools/run-demo: the whole demo comes up (dev stack, wallet, Daraja emulator,
# simulator as the USSD centre, ussdgw bound to it), a person's keystrokes on
# the interactive phone walk the menu, an SMS keyword is answered, and `quit`
# stops everything it started.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
bld=${GW_BUILD_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$tmp/out" >&2 || true; tail -n 30 "$tmp/state/ussdgw.log" >&2 || true; exit 1; }
# A session of an earlier run (its language, its resume offer) is not this run's business.
eval "$("$src/tools/devstack" env)"
redis-cli -p "$USSDGW_REDIS_PORT" DEL "ussd:{demo-mno:254700000001}:s" > /dev/null
# The phone reads the person's lines from stdin; each waits for the screen before the next.
{
	sleep 1
	printf '*384#\n'; sleep 1
	printf '4\n'; sleep 1
	printf '1\n'; sleep 1
	printf '1234\n'; sleep 1.5
	printf 'sms 384 Saa\n'; sleep 3
	printf 'quit\n'
} | timeout 50 "$src/tools/run-demo" --build "$bld" --state "$tmp/state" > "$tmp/out" 2>&1 || fail "run-demo exit status"
grep -q "Your DemoPesa balance is KES 5,000.00" "$tmp/out" || fail "the balance screen was not shown"
grep -q "DemoPesa agents: Mon-Sat 08:00-18:00" "$tmp/out" || fail "the keyword's SMS answer was not shown"
grep -q "run-demo: stopped" "$tmp/out" || fail "run-demo did not stop cleanly"
for f in wallet daraja sim; do
	grep -q . "$tmp/state/$f.out" || fail "$f did not start"
done
sleep 0.5
pgrep -f "$tmp/state" > /dev/null && fail "processes left running: $(pgrep -fa "$tmp/state")"
echo "run_demo: ok"
