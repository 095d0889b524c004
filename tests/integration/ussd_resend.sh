#!/usr/bin/env bash
# Re-sent deliver_sm do not advance a USSD session, in each shape a real centre
# produces: the same sequence number, a new sequence number, after a rebind,
# and after an ESME_RX_T_APPN (the audit append failed; the centre redelivers
# and gets the stored answer). A subscriber who really types the same digit
# twice is served twice (its_session_info's dialogue sequence tells them
# apart). A typed PIN reaches neither Redis, nor the log, nor the audit journal.
source "$(dirname "$0")/ussd_lib.bash"

start_wallet
start_sim --redeliver-ms 300 --redeliver-max 3
write_config 1
start_gw 1
wait_binds 1
wait_menu
A=254700000001
key="ussd:{$LINK:$A}:s"
steps() { rcli HGET "$key" rec | jq -r .n; }
gen() { rcli HGET "$key" gen; }
resend() { # MODE: re-send the last subscriber deliver_sm, expect the same screen again
	local before=$TEXT g0 n0
	g0=$(gen) n0=$(steps)
	post /ussd/resend "{\"session\": \"$SID\", \"mode\": \"$1\", \"wait_ms\": 15000}" > "$tmp/resend.json"
	jq -e .deliver_sm_seq "$tmp/resend.json" > /dev/null || fail "resend $1: $(cat "$tmp/resend.json")"
	screen
	[ "$TEXT" = "$before" ] || fail "resend $1: another answer: $TEXT (was $before)"
	[ "$(gen)" = "$g0" ] && [ "$(steps)" = "$n0" ] || fail "resend $1 advanced the session ($g0/$n0 -> $(gen)/$(steps))"
	echo "resend $1: same answer, step $n0 kept"
}

dial $A '*384#'
has "1. Send money"
reply 1
has "Enter recipient phone number"
[ "$(steps)" = 2 ] || fail "steps after two inputs: $(steps)"
resend same_seq
resend new_seq
resend after_rebind
wait_binds 1
grep -c "re-sent step 2 answered again" "$tmp/gw1.log" | grep -qx 3 || fail "re-sends not recognised 3 times"
# The subscriber types "1" again: a new dialogue sequence, served (an invalid number here).
reply 1
has "Invalid phone number."
[ "$(steps)" = 3 ] || fail "typed-twice not served as a step: $(steps)"
reply 0700000002
has "Enter amount"
reply 10
has "Enter PIN"
reply 9731   # wrong PIN
has "Wrong PIN."
reply 1234
has "Send KES 10.00"
[ "$(steps)" = 7 ] || fail "steps: $(steps)"

# --- ESME_RX_T_APPN: the first audit append of a fresh node fails -------------
kill -TERM "${gw_pids[1]}"; wait "${gw_pids[1]}" || true; gw_pids[1]=
write_config 2
USSDGW_AUDIT_FAIL_NEXT=1 start_gw 2
wait_binds 1
B=254700000002
dial $B '*384#'
has "1. Send money"
ctl "$CTL/ussd/session?session=$SID" > "$tmp/sess.json"
[ "$(jq -c '.deliver_resp' "$tmp/sess.json")" = "[100,0]" ] ||
	fail "not deferred then accepted: $(jq -c .deliver_resp "$tmp/sess.json")"
[ "$(jq '.screens | length' "$tmp/sess.json")" = 1 ] || fail "more than one screen: $(cat "$tmp/sess.json")"
grep -q "step not audited (.*): ESME_RX_T_APPN" "$tmp/gw2.log" || fail "audit failure not logged"
grep -q "re-sent step 1 answered again" "$tmp/gw2.log" || fail "redelivery not answered from the store"
[ "$(rcli HGET "ussd:{$LINK:$B}:s" rec | jq -r .n)" = 1 ] || fail "the redelivery advanced the session"
reply 3
has "Enter business number"

# --- the PIN was never stored, logged or audited ----------------------------
dump() {
	rcli --scan --pattern "*{$LINK*" | while read -r k; do
		case "$(rcli TYPE "$k")" in
		hash) rcli HGETALL "$k" ;;
		string) rcli GET "$k" ;;
		stream) rcli XRANGE "$k" - + ;;
		list) rcli LRANGE "$k" 0 -1 ;;
		esac
	done
}
dump > "$tmp/redis.dump"
grep -q "Enter PIN\|Send KES 10.00" "$tmp/redis.dump" || fail "the dump holds no session (wrong keys?)"
# ids and fingerprints are random hex: strip runs of 16+ hex digits first
# A PIN shows up as a number of its own, never inside a longer one (ports,
# times, counters), so match it between non-digits.
for pin in 9731 1234; do
	re="(^|[^0-9])$pin([^0-9]|\$)"
	sed 's/[0-9a-fA-F-]\{16,\}//g' "$tmp/redis.dump" | grep -qaE "$re" && fail "PIN $pin in Redis"
	grep -qaE "$re" "$tmp/gw1.log" "$tmp/gw2.log" && fail "PIN $pin in the log"
	cat "$tmp"/journal1/* | sed 's/[0-9a-fA-F]\{16,\}//g' | grep -qaE "$re" && fail "PIN $pin in the audit journal"
done
grep -q '"pin withheld"\|pin withheld' "$tmp"/journal1/* || fail "the PIN steps are not in the audit journal"
echo "ussd_resend: ok"
