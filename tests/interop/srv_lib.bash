# Shared setup for the SMPP server script tests (sourced, not a test itself): the
# simulator as the operator's SMSC behind one client link, and ussdgw's SMPP server
# with accounts, on the dev stack's Redis. Builds on the links test setup.
# shellcheck source=../integration/links_lib.bash
. "${GW_SOURCE_DIR:?}/tests/integration/links_lib.bash"
interop=$src/tests/interop
export NODE_PATH=$interop/node_modules
[ -d "$interop/node_modules/smpp" ] || fail "npm smpp missing (tools/bootstrap or npm ci in tests/interop)"

# hash PASSWORD: a password hash as accounts[].password_hash wants it
hash() { printf '%s\n' "$1" | "$bld/ussdgw-keys" hash-password; }

# write_server_config ACCOUNTS_JSON [SERVER_JSON] [ROUTES_JSON]: the links config plus the
# server (TCP and TLS on ports the kernel picks) and the accounts.
write_server_config() {
	local accounts=$1 server=${2:-'{}'} routes=${3:-}
	write_config
	[ -n "$routes" ] || routes="[{\"prefix\": \"\", \"links\": [\"$LINK\"]}]"
	[ -f "$tmp/keys/tls/smpp-server.crt" ] ||
		"$bld/ussdgw-keys" tls "$tmp/keys" smpp-server >/dev/null
	jq --argjson a "$accounts" --argjson s "$server" --argjson r "$routes" \
		'. + {accounts: $a, routes: $r, smpp_server: ({port: 0, tls_port: 0, session_init_ms: 3000} + $s)}' \
		"$tmp/gw.json" > "$tmp/gw.json.new"
	mv "$tmp/gw.json.new" "$tmp/gw.json"
	chmod 600 "$tmp/gw.json"
}
# start_server: start ussdgw and read the server's ports into SRV_PORT and SRV_TLS_PORT
start_server() {
	start_gw
	for _ in $(seq 100); do
		grep -q "smpp-server: listening on .*(tls)" "$tmp/gw.log" 2>/dev/null && break
		kill -0 "$gw_pid" 2>/dev/null || fail "ussdgw exited early"
		sleep 0.1
	done
	SRV_PORT=$(sed -n 's/.*smpp-server: listening on [0-9.]* port \([0-9]*\) (tcp).*/\1/p' "$tmp/gw.log" | tail -n1)
	SRV_TLS_PORT=$(sed -n 's/.*smpp-server: listening on [0-9.]* port \([0-9]*\) (tls).*/\1/p' "$tmp/gw.log" | tail -n1)
	[ -n "$SRV_PORT" ] && [ -n "$SRV_TLS_PORT" ] || fail "the SMPP server did not report its ports"
}
