# Helpers for script tests that run the real ussdgw daemon against the dev
# stack (environment from `tools/devstack env`, exported by tools/run-tests).
# Source after setting `tmp`. Requires GW_BUILD_DIR.

: "${tmp:?set tmp before sourcing gw.sh}"
: "${GW_BUILD_DIR:?}"
: "${USSDGW_REDIS_PORT:?the dev stack environment is missing: eval \"\$(tools/devstack env)\"}"
: "${USSDGW_PG_DSN:?the dev stack environment is missing}"

# gw_keys DIR: a fresh key directory.
gw_keys() { "$GW_BUILD_DIR/ussdgw-keys" init "$1" >/dev/null; }

# gw_config PATH [EXTRA_JSON]: a daemon config on the dev stack with both
# listeners on port 0; EXTRA_JSON (an object) is merged over it, key by key.
gw_config() {
	local path=$1 extra=${2:-'{}'}
	[ -d "$tmp/keys" ] || gw_keys "$tmp/keys"
	local pwline=''
	[ -n "${USSDGW_PG_APP_PASSWORD_FILE:-}" ] && pwline=", \"password_file\": \"$USSDGW_PG_APP_PASSWORD_FILE\""
	node -e '
		const base = JSON.parse(process.argv[1]), extra = JSON.parse(process.argv[2]);
		const merge = (a, b) => { for (const k of Object.keys(b)) {
			if (b[k] && typeof b[k] === "object" && !Array.isArray(b[k]) && a[k] && typeof a[k] === "object")
				merge(a[k], b[k]); else a[k] = b[k]; } return a; };
		process.stdout.write(JSON.stringify(merge(base, extra), null, 2));
	' "{
	  \"node\": { \"id\": \"test-$$\" },
	  \"log\": { \"level\": \"info\", \"format\": \"text\" },
	  \"keys\": { \"dir\": \"$tmp/keys\" },
	  \"redis\": { \"host\": \"127.0.0.1\", \"port\": $USSDGW_REDIS_PORT },
	  \"postgres\": { \"dsn\": \"$USSDGW_PG_DSN\"$pwline },
	  \"listeners\": {
	    \"admin\": { \"address\": \"127.0.0.1\", \"port\": 0 },
	    \"public\": { \"address\": \"127.0.0.1\", \"port\": 0 }
	  },
	  \"audit\": { \"journal_dir\": \"$tmp/journal\", \"export_file\": \"$tmp/heads.log\" },
	  \"shutdown\": { \"deadline_ms\": 3000 }
	}" "$extra" > "$path"
	chmod 600 "$path"
}

# gw_start VAR CONFIG [LOG]: start ussdgw, wait (<= 10 s) for both listeners,
# set VAR_admin, VAR_public and VAR_pid.
gw_start() {
	local _v=$1 cfg=$2 log=${3:-$tmp/$1.log} _i
	"$GW_BUILD_DIR/ussdgw" --config "$cfg" 2>"$log" &
	local _pid=$!
	pids+=("$_pid")
	for _i in $(seq 1 100); do
		grep -q "public: listening on" "$log" 2>/dev/null && break
		kill -0 "$_pid" 2>/dev/null || { cat "$log" >&2; fail "ussdgw exited early"; }
		sleep 0.1
	done
	local a p
	a=$(sed -n 's/.*admin: listening on [0-9.]* port \([0-9]*\).*/\1/p' "$log" | tail -1)
	p=$(sed -n 's/.*public: listening on [0-9.]* port \([0-9]*\).*/\1/p' "$log" | tail -1)
	[ -n "$a" ] && [ -n "$p" ] || { cat "$log" >&2; fail "listeners did not report ports"; }
	printf -v "${_v}_admin" '%s' "$a"
	printf -v "${_v}_public" '%s' "$p"
	printf -v "${_v}_pid" '%s' "$_pid"
}

# wait_ready URL EXPECTED_STATUS [SECONDS]: poll until /readyz answers with that HTTP status.
wait_status() {
	local url=$1 want=$2 secs=${3:-15} _i got
	for _i in $(seq 1 $((secs * 10))); do
		got=$(curl -s -o "$tmp/last_body" -w '%{http_code}' "$url" || true)
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	echo "last status $got, body: $(cat "$tmp/last_body" 2>/dev/null)" >&2
	return 1
}
