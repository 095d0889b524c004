#!/usr/bin/env bash
# tools/phone in script mode against tools/smsc-sim, with the small node
# ESME (esme_client.js menu) answering the USSD screens and SMS keywords.
set -euo pipefail
src=${GW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$src/tests/interop
if ! command -v node >/dev/null 2>&1 || [ ! -d "$here/node_modules/smpp" ]; then
	echo "node or npm smpp missing: run tools/bootstrap"; exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do { wait "$p"; } 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

"$src/tools/smsc-sim/smsc-sim" --port 0 --control-port 0 --ussd-timeout-ms 2000 >"$tmp/sim.out" 2>"$tmp/sim.err" &
pids+=($!)
for i in $(seq 1 100); do
	read -r word SMPP_PORT CTL_PORT <"$tmp/sim.out" 2>/dev/null && [ "$word" = listening ] && break
	sleep 0.1
done
[ "${word:-}" = listening ] || { echo "simulator did not start"; cat "$tmp/sim.err"; exit 1; }
ctl=http://127.0.0.1:$CTL_PORT
phone() { "$src/tools/phone" --control "$ctl" --timeout-ms 5000 "$@"; }

fail=0
expect_rc() { # expect_rc RC DESC -- CMD...
	local want=$1 desc=$2; shift 3
	local rc=0
	"$@" >"$tmp/out" 2>&1 || rc=$?
	cat "$tmp/out"
	if [ "$rc" -ne "$want" ]; then echo "FAILED ($desc): exit $rc, wanted $want"; fail=1; return 1; fi
	echo "ok   $desc"
}

echo "== no gateway bound: dial fails cleanly"
expect_rc 1 "dial without a bound gateway exits 1" -- phone --msisdn 254700000001 -e 'dial *384#'
grep -q 'no_bind' "$tmp/out" || { echo "FAILED: no_bind not reported"; fail=1; }

node "$here/esme_client.js" menu --port "$SMPP_PORT" >"$tmp/esme.out" 2>&1 &
pids+=($!)
b=$(curl -s "$ctl/binds?min=1&wait_ms=5000")
grep -q '"bound":true' <<<"$b" || { echo "ESME did not bind: $b"; cat "$tmp/esme.out"; exit 1; }

echo "== -e commands: balance"
expect_rc 0 "balance script passes" -- phone --msisdn 254700000001 \
	-e 'dial *384#' -e 'expect Welcome' -e 'expect-continue' -e 'send 1' \
	-e 'expect /balance is KES [0-9,.]+/' -e 'expect-end'
grep -q '^| Welcome to Demo' "$tmp/out" || { echo "FAILED: screen not drawn in a box"; fail=1; }
grep -q '(reply expected)' "$tmp/out" && grep -q '(session ended)' "$tmp/out" ||
	{ echo "FAILED: continue/end footers missing"; fail=1; }

echo "== --script FILE: send money, SMS keyword, receipt SMS"
cat >"$tmp/send.phone" <<'S'
# send money, then ask for the balance by SMS
dial *384#
expect Welcome
send 2
expect Enter amount
send 500
expect Sent KES 500
expect-end
expect-sms You sent KES 500
sms 384 BAL
expect-sms /^Balance: KES/
S
expect_rc 0 "script file passes" -- phone --msisdn 254700000002 --script "$tmp/send.phone"
grep -q '\[SMS from DEMO\] You sent KES 500' "$tmp/out" || { echo "FAILED: SMS line missing"; fail=1; }

echo "== a failed expect exits 1 and stops"
expect_rc 1 "wrong expect fails" -- phone --msisdn 254700000003 -e 'dial *384#' -e 'expect Goodbye' -e 'send 3'
grep -q 'FAIL expect Goodbye' "$tmp/out" && ! grep -q '> send 3' "$tmp/out" ||
	{ echo "FAILED: transcript does not show the failure or went on"; fail=1; }
expect_rc 1 "expect-sms with nothing arriving fails" -- phone --msisdn 254700000004 --timeout-ms 500 -e 'expect-sms never'

echo "== sending to an ended session fails"
expect_rc 1 "send after end fails" -- phone --msisdn 254700000005 -e 'dial *384#' -e 'send 3' -e 'expect-end' -e 'send 1'

if [ "$fail" -ne 0 ]; then echo "phone_script: FAILED"; exit 1; fi
echo "phone_script: all passed"
