#!/usr/bin/env bash
# Interop test of tools/smsc-sim: a node-smpp ESME (esme_client.js) binds,
# answers USSD, sends MT with receipts and walks through every fault; the
# --mt-log fsync-before-resp ordering is checked by a SIGKILL mid-burst; a
# Net::SMPP (Debian libnet-smpp-perl) ESME binds and submits.
set -euo pipefail
src=${GW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$src/tests/interop
sim=$src/tools/smsc-sim/smsc-sim

if ! command -v node >/dev/null 2>&1; then
	echo "node not installed (tools/bootstrap installs it)"; exit 77
fi
if [ ! -d "$here/node_modules/smpp" ]; then
	echo "npm smpp missing: run tools/bootstrap (npm ci in tests/interop)"; exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# start_sim NAME ARGS...: starts the simulator, sets SIM_PID, SMPP_PORT, CTL_PORT
start_sim() {
	local name=$1; shift
	"$sim" --port 0 --control-port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	SIM_PID=$!
	pids+=("$SIM_PID")
	local i
	for i in $(seq 1 100); do
		if read -r word SMPP_PORT CTL_PORT <"$tmp/$name.out" 2>/dev/null && [ "$word" = listening ]; then
			return 0
		fi
		if ! kill -0 "$SIM_PID" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "simulator $name did not start"; cat "$tmp/$name.err"; exit 1
}

fail=0
run() { # run DESC CMD...
	if "$@"; then :; else echo "FAILED: $*"; fail=1; fi
}

echo "== main checks (dialect standard)"
start_sim main --accounts '[{"system_id":"ussdgw","password":"ussdgw"},{"system_id":"other","password":"pw2"}]' \
	--ussd-timeout-ms 1500 --resp-timeout-ms 1000 --mo-log "$tmp/mo.log"
run node "$here/smsc_sim_check.js" main --port "$SMPP_PORT" --control "$CTL_PORT"
# the MO log holds one JSON line per deliver_sm_resp, with its status
if ! grep -q '"status":100' "$tmp/mo.log" || ! grep -q '"kind":"receipt"' "$tmp/mo.log"; then
	echo "FAILED: --mo-log lacks the ESME_RX_T_APPN line or a receipt line"; fail=1
else
	echo "ok   --mo-log records deliver_sm_resp statuses ($(wc -l <"$tmp/mo.log") lines)"
fi

echo "== Net::SMPP (libnet-smpp-perl) bind + submit"
if perl -MNet::SMPP -e 1 2>/dev/null; then
	if SMPP_PORT=$SMPP_PORT perl -MNet::SMPP -e '
		my ($smpp, $resp) = Net::SMPP->new_transceiver("127.0.0.1", port => $ENV{SMPP_PORT},
			system_id => "other", password => "pw2", smpp_version => 0x34) or die "connect: $!";
		die "bind status $resp->{status}\n" if $resp->{status};
		$resp = $smpp->submit_sm(destination_addr => "254744000001", source_addr => "DEMO",
			short_message => "perl hello", registered_delivery => 0);
		die "submit status $resp->{status}\n" if $resp->{status};
		print "message_id=$resp->{message_id}\n";
		$resp = $smpp->unbind();
		die "unbind status $resp->{status}\n" if $resp->{status};' >"$tmp/perl.out" 2>&1; then
		mt=$(curl -s "http://127.0.0.1:$CTL_PORT/sms/mt?to=254744000001&wait_ms=2000")
		if grep -q '"text":"perl hello"' <<<"$mt"; then
			echo "ok   Net::SMPP bound, submitted ($(cat "$tmp/perl.out")), unbound; the MT is visible"
		else
			echo "FAILED: Net::SMPP MT not visible: $mt"; fail=1
		fi
	else
		echo "FAILED: Net::SMPP: $(cat "$tmp/perl.out")"; fail=1
	fi
	if perl "$here/netsmpp_ussd.pl" "$SMPP_PORT" "$CTL_PORT" >"$tmp/perl2.out" 2>&1; then
		cat "$tmp/perl2.out"
		sc=$(curl -s "http://127.0.0.1:$CTL_PORT/ussd/sessions?msisdn=254755000001")
		if grep -q '"text":"Perl says bye"' <<<"$sc" && grep -q '"ends":true' <<<"$sc"; then
			echo "ok   Net::SMPP's PSSR response shows as the final screen"
		else
			echo "FAILED: Net::SMPP USSD answer not seen: $sc"; fail=1
		fi
	else
		echo "FAILED: Net::SMPP USSD: $(cat "$tmp/perl2.out")"; fail=1
	fi
else
	echo "FAILED: Net::SMPP not installed (tools/bootstrap installs libnet-smpp-perl)"; fail=1
fi

echo "== SIGTERM: unbind, close, exit 0"
run node "$here/smsc_sim_check.js" sigterm --port "$SMPP_PORT" --pid "$SIM_PID"
rc=0; wait "$SIM_PID" || rc=$?
if [ "$rc" -eq 0 ]; then echo "ok   simulator exited 0 after SIGTERM"; else echo "FAILED: exit $rc after SIGTERM"; fail=1; fi

for spec in "umr" "packed" "none" "standard --code-field destination_addr --dcs 0"; do
	set -- $spec
	echo "== dialect $*"
	start_sim "d_$1" --dialect "$@"
	run node "$here/smsc_sim_check.js" dialect --port "$SMPP_PORT" --control "$CTL_PORT" --dialect "$@"
	kill "$SIM_PID"; wait "$SIM_PID" || true
done

echo "== TLS"
if command -v openssl >/dev/null 2>&1; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
		-days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1
	start_sim tls --tls-key "$tmp/key.pem" --tls-cert "$tmp/cert.pem" --enquire-link-ms 100
	run node "$here/smsc_sim_check.js" tls --port "$SMPP_PORT" --control "$CTL_PORT"
	kill "$SIM_PID"; wait "$SIM_PID" || true
else
	echo "FAILED: openssl missing"; fail=1
fi

echo "== --mt-log: SIGKILL during a burst loses no acknowledged MT"
start_sim burst --mt-log "$tmp/mt.log" --msgid-format dec --msgid-pad 12
run node "$here/smsc_sim_check.js" burst --port "$SMPP_PORT" --control "$CTL_PORT" --pid "$SIM_PID" --log "$tmp/mt.log"
{ wait "$SIM_PID"; } 2>/dev/null || true
echo "== --mt-log: the simulator crashes right after its 150th submit_sm_resp"
start_sim burst2 --mt-log "$tmp/mt2.log"
run node "$here/smsc_sim_check.js" burst --self-kill --port "$SMPP_PORT" --control "$CTL_PORT" --pid "$SIM_PID" --log "$tmp/mt2.log"
{ wait "$SIM_PID"; } 2>/dev/null || true

if [ "$fail" -ne 0 ]; then echo "smsc_sim: FAILED"; exit 1; fi
echo "smsc_sim: all passed"
