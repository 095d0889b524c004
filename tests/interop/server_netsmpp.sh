#!/usr/bin/env bash
# Net::SMPP (Debian libnet-smpp-perl) as an ESME against ussdgw's SMPP server
# (tests/interop/server_netsmpp.pl), with tools/smsc-sim behind a client link.
# shellcheck source=srv_lib.bash
. "${GW_SOURCE_DIR:?}/tests/interop/srv_lib.bash"
start_sim --mt-log "$tmp/mt.log"
h=$(hash perl-pw1)
write_server_config "[{\"name\":\"perl\",\"password_hash\":\"$h\",\"addresses\":[\"6000\"]}]"
start_server
wait_bound
perl "$interop/server_netsmpp.pl" "$SRV_PORT" "$CTL_PORT" perl-pw1 || fail "Net::SMPP ESME"
curl -sS "$CTL/sms/mt?to=254711000001&wait_ms=5000" | jq -e '.messages[0].text == "Perl MT"' > /dev/null ||
	fail "the SMSC did not get the Perl MT"
grep -q 'account perl' "$tmp/gw.log" || fail "no account log"
echo "PASS: server_netsmpp"
