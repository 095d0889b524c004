#!/usr/bin/env bash
# The demo menu through a real bind: the simulator plays the operator's USSD
# centre, tools/phone the subscriber, the demo wallet the business service,
# the dev stack's Redis the session store. Every path of menus/demo.json in
# English and in Swahili (send money with its receipt SMS, airtime with the
# paginated amount list, pay bill up to its confirm, balance, statement,
# language), back, home, more, invalid input, lockout (menu and PIN), the idle
# timeout and the resume offered by the next dial.
source "$(dirname "$0")/ussd_lib.bash"

start_wallet
start_sim
write_config 1 '' '"ussd": {"idle_timeout_ms": 3000}'
start_gw 1
wait_binds 1
wait_menu
A=254700000001 B=254700000002 C=254700000003 D=254700000004
p() { phone "$@" > "$tmp/phone.out" 2>&1 || { cat "$tmp/phone.out" >&2; fail "phone script failed"; }; }

# --- English ---------------------------------------------------------------
# Send money: recipient (national form), amount, PIN, confirm; receipt SMS.
p $A 'dial *384#' 'expect DemoPesa' 'expect 1. Send money' 'send 1' 'expect recipient phone' \
	'send 0700000002' 'expect Enter amount' 'send 150' 'expect Enter PIN' 'send 1234' \
	'expect /Send KES 150.00 to/' 'send 1' 'expect-end' 'expect Sent KES 150.00' 'expect Balance KES 4,850.00' \
	'expect-sms /DemoPesa: you sent KES 150.00 to 254700000002/'
# Airtime for another number: dial string walks two screens, more, back, other amount.
p $A 'dial *384*2#' 'expect Buy airtime for' 'send 2' 'expect Enter phone number' 'send 0700000003' \
	'expect 1. KES 10' 'send 98' 'expect 11. KES 10,000' 'expect 12. Other amount' 'send 0' \
	'expect 1. KES 10' 'send 98' 'send 12' 'expect Enter amount (KES 5' 'send 25' 'expect Enter PIN' \
	'send 1234' 'expect /Buy KES 25.00 airtime/' 'send 1' 'expect-end' 'expect Airtime KES 25.00 sent'
# Pay bill up to its confirm; the payment itself is refused (payments are not wired yet).
p $A 'dial *384#' 'send 3' 'expect business number' 'send 12' 'expect Business numbers have 5 to 7 digits' \
	'send 123456' 'expect account number' 'send ACC-9' 'expect Enter amount' 'send 0' \
	'expect account number' 'send ACC-9' 'send 2500' 'expect /Pay KES 2,500.00 to 123456 account ACC-9/' \
	'expect 1. Confirm' 'send 1' 'expect-end' 'expect Payment could not be started'
# Cancel at a confirm.
p $B 'dial *384*3*55555*71*100#' 'expect /Pay KES 100.00 to 55555/' 'send 2' 'expect-end' 'expect Cancelled'
# Balance and the paginated statement behind one PIN screen; home from the statement.
p $A 'dial *384#' 'send 4' 'expect My account' 'send 1' 'expect Enter PIN' 'send 1234' 'expect-end' \
	'expect Your DemoPesa balance is KES 4,825.00'
p $A 'dial *384#' 'send 4' 'send 2' 'send 1234' 'expect Mini statement' 'expect /airtime/' \
	'send 00' 'expect 1. Send money' 'send 4' 'expect My account'
# Back and home; invalid choice; lockout after three invalid inputs.
p $B 'dial *384#' 'send 1' 'send 0' 'expect 1. Send money' 'send 1' 'send 0700000001' 'expect Enter amount' \
	'send 00' 'expect 1. Send money' 'send 9' 'expect Invalid choice.' 'expect 1. Send money' \
	'send 9' 'expect Invalid choice.' 'send 7' 'expect-end' 'expect Too many invalid attempts'
# Insufficient funds (C has KES 0): the wallet's 422 body drives the router.
p $C 'dial *384#' 'send 1' 'send 0700000001' 'send 50' 'send 1111' 'send 1' 'expect-end' \
	'expect Insufficient funds'
# PIN lockout: three wrong PINs, the wallet locks the PIN (423).
p $C 'dial *384#' 'send 4' 'send 1' 'send 9999' 'expect Wrong PIN' 'send 9998' 'expect Wrong PIN' \
	'send 9997' 'expect-end' 'expect Your PIN is locked'

# --- Swahili ---------------------------------------------------------------
p $D 'dial *384#' 'send 5' 'expect Choose language' 'send 2' 'expect 1. Tuma pesa' 'expect 5. Lugha' \
	'send 4' 'expect Akaunti yangu' 'send 0' 'expect Lipa bili' 'send 99' 'expect Chaguo batili.'
# The language stays with the subscriber's next session.
p $D 'dial *384#' 'expect 1. Tuma pesa' 'send 1' 'expect mpokeaji' 'send 07' 'expect Namba ya simu si sahihi' \
	'send 0700000001' 'expect Weka kiasi' 'send 0' 'expect mpokeaji' 'send 00' 'expect Nunua muda'
p $D 'dial *384#' 'send 2' 'send 1' 'expect 1. KES 10' 'send 98' 'expect 12. Kiasi kingine' 'expect 10. KES 5,000' \
	'send 0' 'send 3' 'expect Weka PIN' 'send 0000' 'expect PIN si sahihi'
# That session was cut at its PIN screen: the next dial offers to resume it (no: main menu).
p $D 'dial *384#' 'expect Kipindi chako kilikatika. Endelea ulipoishia?' 'send 2' 'expect 1. Tuma pesa' \
	'send 3' 'send 123456' 'send ACC-1' 'send 100' 'expect /Lipa KES 100.00 kwa 123456 akaunti ACC-1/' \
	'expect 1. Thibitisha' 'expect 2. Ghairi' 'send 1' 'expect-end' 'expect Malipo hayakuanza'
p $D 'dial *384#' 'send 3' 'send 123456' 'send ACC-1' 'send 100' 'send 2' 'expect-end' 'expect Imeghairiwa'
p $D 'dial *384#' 'send 9' 'send 9' 'send 9' 'expect-end' 'expect Majaribio mengi batili'
p $D 'dial *384#' 'send 5' 'send 1' 'expect 1. Send money'

# --- idle timeout and resume -----------------------------------------------
dial $B '*384#'
reply 1
reply 0700000001
has "Enter amount"
sleep 3.5
reply 100
has "Your session has expired"
[ "$ENDS" = true ] || fail "expired answer does not end the dialog"
dial $B '*384#'
has "Continue where you left off?"
reply 1
has "Enter amount"
reply 100
has "Enter PIN"
# A dial without answering the resume prompt's yes: "no" goes to the main menu.
dial $B '*384#'
has "Continue where you left off?"
reply 2
has "1. Send money"

# Every step was audited with its end reason; the PIN never reached the log.
grep -q "1234" "$tmp/gw1.log" && fail "a PIN in the log"
steps=$(grep -c "" "$tmp"/journal1/* 2>/dev/null || true)
echo "ussd_demo: ok"
