#!/usr/bin/env bash
# SMPP over TLS: the gateway binds to the simulator serving TLS with a
# certificate of our test CA (peer name 127.0.0.1 checked), submits an MT over
# it; a link whose CA file is another CA is refused during the handshake and
# never binds.
source "$(dirname "$0")/links_lib.bash"

"$bld/ussdgw-keys" tls "$tmp/keys" smsc --san "localhost,127.0.0.1" > /dev/null
mkdir -m 700 "$tmp/other"
"$bld/ussdgw-keys" init "$tmp/other" > /dev/null
"$bld/ussdgw-keys" tls "$tmp/other" unused > /dev/null  # creates another self-signed CA
start_sim --tls-key "$tmp/keys/tls/smsc.key" --tls-cert "$tmp/keys/tls/smsc.crt" --mt-log "$tmp/mt.log"
write_config "\"tls\": true, \"tls_ca_file\": \"$tmp/keys/tls/ca.crt\","
start_gw
wait_bound 1
wait_for grep -q "$LINK/0: CONNECTING -> TLS_HANDSHAKE" "$tmp/gw.log" || fail "no TLS handshake state"
grep -q "$LINK/0: TLS_HANDSHAKE -> BINDING" "$tmp/gw.log" || fail "handshake not completed"
enqueue --to 255700000051 --text "over tls" --id-prefix "tls$$-" > /dev/null
wait_for state_is "tls$$-0" submitted || fail "MT over TLS: $(show "tls$$-0")"
[ "$(jq -r .destination_addr "$tmp/mt.log")" = 255700000051 ] || fail "SMSC did not get the MT"
kill -TERM "$gw_pid"; wait "$gw_pid" || fail "exit status"; gw_pid=

# The wrong CA: handshake refused, the bind backs off and never binds.
: > "$tmp/gw.log"
write_config "\"tls\": true, \"tls_ca_file\": \"$tmp/other/tls/ca.crt\","
start_gw
wait_for grep -q "$LINK/0: TLS_HANDSHAKE -> BACKOFF" "$tmp/gw.log" || fail "wrong CA not refused"
grep -q "connection down: .*certificate" "$tmp/gw.log" || fail "no certificate error logged"
sleep 1
grep -q "BINDING" "$tmp/gw.log" && fail "bound with a wrong CA"
[ "$(stats | jq '.binds.accepted')" = 1 ] || fail "the SMSC accepted a bind through the wrong CA"
echo "links_tls: ok"
