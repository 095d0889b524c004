#!/usr/bin/env bash
# The demo wallet (tools/demo-wallet): PIN tokens (single use, 120 s), PIN
# lockout after 3 wrong PINs (423, 15 min, kept across a restart), scrypt-
# hashed PINs in the data file, balance, idempotent transfer and airtime,
# statement order, admin account creation, RFC 7807 errors, persistence.
# Loopback only.
set -euo pipefail
src=${GW_SOURCE_DIR:?GW_SOURCE_DIR must point at the source tree}
tmp=$(mktemp -d)
# shellcheck source=helpers/lib.sh
. "$src/tests/integration/helpers/lib.sh"
trap cleanup EXIT

A=254700000001 # built-in demo accounts (tools/wallet/README.md)
B=254700000002
C=254700000003
data="$tmp/wallet.json"
admin=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$admin" >"$tmp/admin.token"
chmod 600 "$tmp/admin.token"
wallet() { start_svc port "wallet$1" "$src/tools/demo-wallet" --port 0 --data "$data" \
	--admin-token-file "$tmp/admin.token" --test-hooks; base="http://127.0.0.1:$port"; }
wallet 1

pin() { req POST "$base/pin/verify" "{\"msisdn\":\"$1\",\"pin\":\"$2\"}"; }
token() { pin "$1" "$2"; expect_status 200 "PIN for $1"; j d.token; }
shift_clock() { req POST "$base/__wallet/clock" "{\"shift_ms\":$1}"; expect_status 200 "clock"; }
is_problem() { # STATUS SLUG WHAT
	expect_status "$1" "$3"
	eq "$(j d.status) $(j d.type)" "$1 urn:ussdgw:wallet:problem:$2" "$3 (problem body)"
	[ "$(j 'typeof d.title')" == string ] || fail "$3: problem without a title"
	grep -qi '^content-type: application/problem+json' "$tmp/hdr" || fail "$3: not application/problem+json"
}
# Headers of the last call, for the content-type and replay checks.
hreq() {
	local m=$1 u=$2 d=${3-}
	shift 2
	[ $# -gt 0 ] && shift
	req "$m" "$u" "$d" -D "$tmp/hdr" "$@"
}

# --- PINs in the data file: salted scrypt, never in clear.
[ -f "$data" ] || fail "no data file written at start"
node -e '
const fs = require("fs"), c = require("crypto");
const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const pins = { "254700000001": "1234", "254700000002": "4321", "254700000003": "1111" };
for (const [m, pin] of Object.entries(pins)) {
	const a = s.accounts[m];
	if (!a) throw new Error("demo account missing: " + m);
	if ("pin" in a) throw new Error("clear pin field for " + m);
	const f = a.pin_hash.split("$");
	if (f[0] !== "scrypt" || f.length !== 6) throw new Error("not an scrypt hash: " + m);
	if (Buffer.from(f[4], "base64").length < 16) throw new Error("salt shorter than 16 bytes: " + m);
	const k = c.scryptSync(pin, Buffer.from(f[4], "base64"), 32, { N: +f[1], r: +f[2], p: +f[3] });
	if (!k.equals(Buffer.from(f[5], "base64"))) throw new Error("hash does not verify the PIN: " + m);
	if (c.scryptSync("0000", Buffer.from(f[4], "base64"), 32, { N: +f[1], r: +f[2], p: +f[3] })
	    .equals(Buffer.from(f[5], "base64"))) throw new Error("hash verifies any PIN: " + m);
}' "$data" || fail "PIN storage"
for p in 1234 4321 1111; do
	! grep -q "\"$p\"" "$data" || fail "clear PIN $p in the data file"
done
[ "$(stat -c %a "$data")" == 600 ] || fail "data file mode $(stat -c %a "$data")"

# --- Tokens: single use, bound to the MSISDN, 120 s.
T=$(token $A 1234)
[ ${#T} -ge 32 ] || fail "short token: $T"
req GET "$base/balance?msisdn=$A&token=$T"
expect_status 200 balance
eq "$(j d.balance) $(j d.currency)" "500000 KES" "Amina's balance in cents"
hreq GET "$base/balance?msisdn=$A&token=$T"
is_problem 401 invalid-token "token reused"
T=$(token $A 1234)
hreq GET "$base/balance?msisdn=$B&token=$T"
is_problem 401 invalid-token "token of another account"
req GET "$base/balance?msisdn=$A&token=$T"
expect_status 200 "the token survives a use attempt by another account"
T=$(token $A 1234)
shift_clock 121000
hreq GET "$base/balance?msisdn=$A&token=$T"
is_problem 401 invalid-token "token after 121 s"

# --- Lockout: 3 wrong PINs, 423 for 15 minutes even with the right PIN.
hreq POST "$base/pin/verify" "{\"msisdn\":\"$B\",\"pin\":\"0000\"}"
is_problem 401 invalid-pin "wrong PIN 1"
eq "$(j d.attempts_left)" 2 "attempts left after 1"
pin $B 0000
eq "$code $(j d.attempts_left)" "401 1" "wrong PIN 2"
hreq POST "$base/pin/verify" "{\"msisdn\":\"$B\",\"pin\":\"0000\"}"
is_problem 423 locked "third wrong PIN"
grep -qi '^retry-after: [0-9]' "$tmp/hdr" || fail "423 without Retry-After"
pin $B 4321
eq "$code $(j d.type)" "423 urn:ussdgw:wallet:problem:locked" "right PIN while locked"
shift_clock 840000
pin $B 4321
expect_status 423 "right PIN 14 minutes into the lockout"
shift_clock 61000
pin $B 4321
expect_status 200 "right PIN after the lockout"
# A success resets the counter: two wrong PINs leave one attempt, not a lock.
pin $B 0000; pin $B 0000
eq "$code $(j d.attempts_left)" "401 1" "counter reset by a success"
pin $B 4321
expect_status 200 "third try right"

# --- Transfer: idempotent by key, replays need no token, mismatches refused.
T=$(token $A 1234)
K=tr-$(date +%s%N)
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":12345,\"idempotency_key\":\"$K\"}"
expect_status 200 transfer
first=$body
eq "$(j d.balance) $(j d.status)" "487655 completed" "balance after the transfer"
REF=$(j d.ref)
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":12345,\"idempotency_key\":\"$K\"}"
expect_status 200 "replayed transfer"
eq "$body" "$first" "replay returns the first answer"
grep -qi '^idempotent-replayed: true' "$tmp/hdr" || fail "replay not marked"
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":999,\"idempotency_key\":\"$K\"}"
is_problem 409 idempotency-mismatch "same key, other amount"
T=$(token $B 4321)
req GET "$base/balance?msisdn=$B&token=$T"
eq "$(j d.balance)" 262345 "recipient credited once"
T=$(token $A 1234)
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":99999999,\"idempotency_key\":\"big-$K\"}"
is_problem 422 insufficient-funds "transfer above the balance"
eq "$(j d.balance)" 487655 "balance in the insufficient-funds problem"
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":99999999,\"idempotency_key\":\"big-$K\"}"
is_problem 422 insufficient-funds "a refused transfer replays as refused"
T=$(token $A 1234)
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"254799999999\",\"amount\":1,\"idempotency_key\":\"nobody-$K\"}"
is_problem 404 not-found "unknown recipient"
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"to\":\"$B\",\"amount\":1,\"idempotency_key\":\"notoken-$K\"}"
is_problem 401 invalid-token "transfer without a token"
hreq POST "$base/transfer" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":1.5,\"idempotency_key\":\"frac-$K\"}"
is_problem 400 bad-request "fractional minor units"
hreq POST "$base/transfer" "{\"msisdn\":\"+$A\",\"token\":\"$T\",\"to\":\"$B\",\"amount\":1,\"idempotency_key\":\"plus-$K\"}"
is_problem 400 bad-request "MSISDN with +"

# --- Airtime: small amounts without a PIN, larger ones with a token; idempotent.
req POST "$base/airtime" "{\"msisdn\":\"$A\",\"to\":\"254711223344\",\"amount\":5000,\"idempotency_key\":\"air1-$K\"}"
expect_status 200 "airtime without PIN"
eq "$(j d.balance)" 482655 "balance after airtime"
req POST "$base/airtime" "{\"msisdn\":\"$A\",\"to\":\"254711223344\",\"amount\":5000,\"idempotency_key\":\"air1-$K\"}"
eq "$code $(j d.balance)" "200 482655" "airtime replay debits nothing"
hreq POST "$base/airtime" "{\"msisdn\":\"$A\",\"to\":\"$A\",\"amount\":20000,\"idempotency_key\":\"air2-$K\"}"
is_problem 401 invalid-token "large airtime without a token"
T=$(token $A 1234)
req POST "$base/airtime" "{\"msisdn\":\"$A\",\"token\":\"$T\",\"to\":\"$A\",\"amount\":20000,\"idempotency_key\":\"air2-$K\"}"
eq "$code $(j d.balance)" "200 462655" "large airtime with a token"

# --- Statement: newest first, limited.
T=$(token $A 1234)
req GET "$base/statement?msisdn=$A&token=$T&limit=3"
expect_status 200 statement
eq "$(j 'd.entries.length')" 3 "statement limit"
eq "$(j 'd.entries.map(e => e.type).join()')" airtime,airtime,transfer_out "newest first"
eq "$(j 'd.entries.map(e => e.amount).join()')" -20000,-5000,-12345 "signed amounts"
eq "$(j 'd.entries[2].ref')" "$REF" "transfer reference"
eq "$(j 'd.entries[0].id > d.entries[1].id && d.entries[1].id > d.entries[2].id')" true "ids descending"
eq "$(j 'd.entries[0].balance_after')" 462655 "balance_after"

# --- Admin: create accounts (bearer token), same PIN -> different salted hashes.
NEW1=254722111001
NEW2=254722111002
hreq POST "$base/accounts" "{\"msisdn\":\"$NEW1\",\"pin\":\"918273\",\"balance\":1000}"
is_problem 401 unauthorized "create without the admin token"
req POST "$base/accounts" "{\"msisdn\":\"$NEW1\",\"pin\":\"918273\",\"name\":\"Test\",\"balance\":1000}" \
	-H "Authorization: Bearer $admin"
expect_status 201 "create account"
req POST "$base/accounts" "{\"msisdn\":\"$NEW2\",\"pin\":\"918273\"}" -H "Authorization: Bearer $admin"
expect_status 201 "create second account"
hreq POST "$base/accounts" "{\"msisdn\":\"$NEW1\",\"pin\":\"111111\"}" -H "Authorization: Bearer $admin"
is_problem 409 exists "duplicate account"
hreq POST "$base/accounts" "{\"msisdn\":\"12\",\"pin\":\"1234\"}" -H "Authorization: Bearer $admin"
is_problem 400 bad-request "bad MSISDN"
T=$(token $NEW1 918273)
req GET "$base/balance?msisdn=$NEW1&token=$T"
eq "$(j d.balance)" 1000 "new account's balance"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const a = s.accounts[process.argv[2]].pin_hash, b = s.accounts[process.argv[3]].pin_hash;
if (a === b) throw new Error("same PIN, same hash: no salt");' "$data" "$NEW1" "$NEW2" || fail "salting"
! grep -q 918273 "$data" || fail "clear PIN in the data file"

# --- Errors: unknown route, wrong method, bad JSON.
hreq GET "$base/nothing"
is_problem 404 not-found "unknown route"
hreq GET "$base/transfer"
is_problem 405 method-not-allowed "GET /transfer"
hreq POST "$base/transfer" "{not json"
is_problem 400 bad-request "malformed JSON"

# --- Lock account C, then restart: balances, lockout and idempotency survive.
for i in 1 2 3; do pin $C 9999; done
expect_status 423 "C locked"
stop_svc "$port_pid"
wallet 2
pin $C 1111
expect_status 423 "lockout kept across a restart"
req POST "$base/transfer" "{\"msisdn\":\"$A\",\"to\":\"$B\",\"amount\":12345,\"idempotency_key\":\"$K\"}"
eq "$code $body" "200 $first" "transfer replay after a restart"
T=$(token $A 1234)
req GET "$base/balance?msisdn=$A&token=$T"
eq "$(j d.balance)" 462655 "balance kept across a restart"

# --- Nothing secret in the log: no PIN, no full MSISDN, no token.
for s in 918273 "$NEW1" "$A" "$T"; do
	! grep -q -- "$s" "$tmp"/wallet*.err || fail "log shows $s"
done
grep -q 'wrong PIN' "$tmp/wallet1.err" || fail "wrong PINs not logged at all"

echo "demo_wallet: ok"
