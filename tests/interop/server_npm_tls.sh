#!/usr/bin/env bash
# npm smpp as an ESME over TLS against ussdgw's SMPP server, with the simulator as
# the operator's SMSC behind client links:
#  - TLS with the CA verified; a client trusting another CA fails the handshake
#  - submits go through the egress point into the MT queue and out on the link;
#    receipts come back to the account under the message id it was given
#  - no route -> ESME_RINVDSTADR; a source address not the account's -> ESME_RINVSRCADR
#  - consent: promotional refused (0x401) to a number opted out of the service,
#    transactional passes and is counted
#  - failover: a link whose SMSC refuses with a permanent error hands the MT to
#    the next link of the route
#  - MO for the account's address delivered to its bound transceiver
#  - wrong password refused; graceful shutdown unbinds the account
# shellcheck source=srv_lib.bash
. "${GW_SOURCE_DIR:?}/tests/interop/srv_lib.bash"

start_sim --mt-log "$tmp/mt.log"
# A second SMSC for the failover link; it refuses every submit_sm with ESME_RSUBMITFAIL.
"$src/tools/smsc-sim/smsc-sim" --port 0 --control-port 0 > "$tmp/sim2.out" 2>> "$tmp/sim2.err" &
sim2_pid=$!
trap 'kill -9 $sim2_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do grep -q '^listening' "$tmp/sim2.out" 2>/dev/null && break; sleep 0.1; done
read -r _ SIM2_PORT CTL2_PORT < <(head -n1 "$tmp/sim2.out")
[ -n "$SIM2_PORT" ] || fail "second simulator did not start"
curl -sS -X POST -H 'Content-Type: application/json' \
	-d '{"submit_error": {"status": 69, "for_ms": 600000}}' "http://127.0.0.1:$CTL2_PORT/faults" > /dev/null

ha=$(hash acme-pw1)
hp=$(hash promo-pw)
write_server_config "[
  {\"name\":\"acme\",\"password_hash\":\"$ha\",\"addresses\":[\"5000\"],\"allowed_ips\":[\"127.0.0.0/8\"]},
  {\"name\":\"promo\",\"password_hash\":\"$hp\",\"addresses\":[\"7000\"],\"msg_class\":\"promotional\"}]" '{}' \
	"[{\"prefix\":\"254\",\"links\":[\"$LINK\"]},
	  {\"prefix\":\"2549\",\"links\":[\"${LINK}b\",\"$LINK\"],\"failover_on\":\"permanent\"}]"
jq --arg n "${LINK}b" --argjson p "$SIM2_PORT" \
	'.links += [.links[0] + {name: $n, binds: [{host: "127.0.0.1", port: $p}]}]' "$tmp/gw.json" > "$tmp/gw2.json"
mv "$tmp/gw2.json" "$tmp/gw.json"
chmod 600 "$tmp/gw.json"
start_server
wait_bound
esme() { node "$interop/srv_esme.js" --port "$SRV_TLS_PORT" --tls --ca "$tmp/keys/tls/ca.crt" "$@"; }

# TLS: a client that trusts another CA does not get through the handshake.
node "$interop/srv_esme.js" --port "$SRV_TLS_PORT" --tls --ca /etc/ssl/certs/ca-certificates.crt \
	--system-id acme --password acme-pw1 --max-ms 5000 > "$tmp/badca.json" || true
[ "$(jq -r .bind_status "$tmp/badca.json")" = null ] || fail "bound with an untrusted CA: $(cat "$tmp/badca.json")"
jq -r .error "$tmp/badca.json" | grep -qi 'certificate\|self.signed\|verify' || fail "bad CA: $(cat "$tmp/badca.json")"

# Wrong password: refused.
esme --system-id acme --password nope --max-ms 5000 > "$tmp/badpw.json" || true
[ "$(jq -r .bind_status "$tmp/badpw.json")" = 13 ] || fail "wrong password: $(cat "$tmp/badpw.json")"

# Submits with receipts over TLS.
esme --system-id acme --password acme-pw1 --count 5 --rate 20 --to 254700000001 --receipts \
	--max-ms 20000 > "$tmp/acme.json" || fail "acme submits: $(cat "$tmp/acme.json")"
[ "$(jq .ok "$tmp/acme.json")" = 5 ] || fail "acme: $(cat "$tmp/acme.json")"
jq -e '(.message_ids | sort) == ([.receipts[].id] | sort)' "$tmp/acme.json" > /dev/null ||
	fail "receipts do not carry the ids the account was given: $(cat "$tmp/acme.json")"
jq -e '[.receipts[].stat] | all(. == "DELIVRD")' "$tmp/acme.json" > /dev/null || fail "receipt stat"
curl -sS "$CTL/sms/mt?to=254700000001&wait_ms=5000" | jq -e '.messages | length == 5' > /dev/null ||
	fail "the SMSC did not get the 5 MT"

# No route, and a source address that is not the account's.
esme --system-id acme --password acme-pw1 --count 1 --to 15550001 --max-ms 10000 > "$tmp/noroute.json" || true
[ "$(jq -r '.errors["0x0000000b"]' "$tmp/noroute.json")" = 1 ] || fail "no route: $(cat "$tmp/noroute.json")"
esme --system-id acme --password acme-pw1 --count 1 --from 9999 --max-ms 10000 > "$tmp/badsrc.json" || true
[ "$(jq -r '.errors["0x0000000a"]' "$tmp/badsrc.json")" = 1 ] || fail "source address: $(cat "$tmp/badsrc.json")"

# Consent: 254700000002 opted out of the promo service.
tok=$("$bld/ussdgw-keys" msisdn-token "$tmp/keys" 254700000002)
redis-cli -p "$USSDGW_REDIS_PORT" HSET "ussdgw:consent:{$tok}" promo 1 acme 1 > /dev/null
esme --system-id promo --password promo-pw --count 1 --from 7000 --to 254700000002 --max-ms 10000 > "$tmp/promo.json" || true
[ "$(jq -r '.errors["0x00000401"]' "$tmp/promo.json")" = 1 ] || fail "promotional to an opt-out: $(cat "$tmp/promo.json")"
esme --system-id promo --password promo-pw --count 1 --from 7000 --to 254700000003 --max-ms 10000 > "$tmp/promo2.json" || true
[ "$(jq .ok "$tmp/promo2.json")" = 1 ] || fail "promotional to a subscriber who did not opt out: $(cat "$tmp/promo2.json")"
esme --system-id acme --password acme-pw1 --count 1 --to 254700000002 --max-ms 10000 > "$tmp/trans.json" || true
[ "$(jq .ok "$tmp/trans.json")" = 1 ] || fail "transactional to an opt-out: $(cat "$tmp/trans.json")"
redis-cli -p "$USSDGW_REDIS_PORT" DEL "ussdgw:consent:{$tok}" > /dev/null

# Failover: 2549... routes to the refusing link first, then to the good one.
esme --system-id acme --password acme-pw1 --count 1 --to 254900000001 --receipts --max-ms 30000 > "$tmp/fo.json" ||
	fail "failover submit: $(cat "$tmp/fo.json")"
curl -sS "$CTL/sms/mt?to=254900000001&wait_ms=10000" | jq -e '.messages | length == 1' > /dev/null ||
	fail "the failover MT did not reach the second link's SMSC"
grep -q "failing over to $LINK" "$tmp/gw.log" || fail "no failover logged"
[ "$(jq -r '.receipts[0].id' "$tmp/fo.json")" = "$(jq -r '.message_ids[0]' "$tmp/fo.json")" ] ||
	fail "receipt after failover: $(cat "$tmp/fo.json")"

# MO to the account's address reaches its bound transceiver; the SMSC sees ESME_ROK.
esme --system-id acme --password acme-pw1 --expect-mo 1 --max-ms 20000 > "$tmp/mo.json" &
mo_pid=$!
wait_for grep -q "bound as transceiver of account acme (TLS)" "$tmp/gw.log" || fail "acme not bound for MO"
sleep 0.5
curl -sS -X POST -H 'Content-Type: application/json' \
	-d '{"from":"254700000005","to":"5000","text":"hello acme"}' "$CTL/sms/mo" > "$tmp/mo_post.json"
wait "$mo_pid" || fail "MO not received: $(cat "$tmp/mo.json")"
[ "$(jq -r '.mo[0].text' "$tmp/mo.json")" = "hello acme" ] || fail "MO text: $(cat "$tmp/mo.json")"
jq -e '.statuses == [0]' "$tmp/mo_post.json" > /dev/null || fail "SMSC's MO status: $(cat "$tmp/mo_post.json")"

metrics > "$tmp/metrics.txt"
grep -q '^ussdgw_sms_consent_override_total{class="transactional"} 1' "$tmp/metrics.txt" ||
	fail "consent override not counted"
grep -q '^ussdgw_sms_egress_total{class="promotional",outcome="opted_out"} 1' "$tmp/metrics.txt" ||
	fail "opt-out refusal not counted"
grep -q '^ussdgw_smpp_server_binds_total{account="acme"} [1-9]' "$tmp/metrics.txt" || fail "per-account binds"

# Graceful shutdown: a bound account is unbound by the server.
esme --system-id acme --password acme-pw1 --expect-mo 1 --max-ms 20000 > "$tmp/shut.json" &
shut_pid=$!
sleep 1.5
kill -TERM "$gw_pid"
wait "$shut_pid" || true
[ "$(jq -r .unbound_by_server "$tmp/shut.json")" = true ] || fail "shutdown: no unbind: $(cat "$tmp/shut.json")"
wait "$gw_pid" || fail "ussdgw exit status $? on SIGTERM"
gw_pid=
grep -q "smpp-server draining" "$tmp/gw.log" || fail "no drain"
echo "PASS: server_npm_tls"
