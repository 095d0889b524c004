# Shared setup for the SMS keyword script tests (sourced, not a test itself):
# the links test setup (simulator + real daemon on the dev stack) plus a keyword
# file, routes, the sms.* keys and helpers to send MO and read MT.
# shellcheck source=links_lib.bash
. "${GW_SOURCE_DIR:?}/tests/integration/links_lib.bash"

# Run-unique subscriber numbers (the dev stack's Redis and database outlive a run).
salt=$(((RANDOM * 32768 + RANDOM) % 1000000))
P() { printf '2547%02d%06d' "$1" "$salt"; }

# write_kw_config FILE_JSON [EXTRA_TOP_LEVEL_JSON]: the links config plus the
# keyword file, a route to the link and quick forward retries.
write_kw_config() {
	printf '%s\n' "$1" > "$tmp/keywords.json"
	write_config
	jq --arg kw "$tmp/keywords.json" --arg menus "$src/menus" --arg link "$LINK" \
		--argjson extra "${2:-{\}}" \
		'. + {routes: [{prefix: "", links: [$link]}],
		      sms: {keywords_file: $kw, menus_dir: $menus, forward_max_attempts: 3,
		            forward_backoff_min_ms: 200, forward_backoff_max_ms: 400,
		            forward_poll_ms: 50, forward_timeout_ms: 2000, consent_flush_ms: 200}}
		 * $extra' "$tmp/gw.json" > "$tmp/gw.json.new"
	mv "$tmp/gw.json.new" "$tmp/gw.json"
	chmod 600 "$tmp/gw.json"
}

# mo FROM TO TEXT [CTL]: send an MO through the simulator; prints its deliver_sm_resp statuses.
mo() {
	local body
	body=$(jq -nc --arg f "$1" --arg t "$2" --arg x "$3" '{from: $f, to: $t, text: $x}')
	ctl -X POST -H 'Content-Type: application/json' -d "$body" "${4:-$CTL}/sms/mo" | jq -c .statuses
}
# next_mt TO [CTL]: wait (<= 15 s) for the next MT to TO after the last one read;
# prints the message JSON (text, parts, from, ...), "" when none came.
next_mt() {
	local to=$1 c=${2:-$CTL} key cur
	key=$(printf '%s' "$to$c" | md5sum | cut -c1-12)
	cur=$(cat "$tmp/cursor.$key" 2>/dev/null || echo "")
	ctl "$c/sms/mt?to=$to&wait_ms=15000${cur:+&since=$cur}" > "$tmp/mt.json"
	jq -c '.messages[0] // empty' "$tmp/mt.json"
	local n
	n=$(jq -r '.messages[0].cursor // empty' "$tmp/mt.json")
	[ -z "$n" ] || printf '%s' "$n" > "$tmp/cursor.$key"
}
# ask FROM TO TEXT EXPECT_REGEX: send an MO, expect status [0] and an answer matching.
ask() {
	local st msg
	st=$(mo "$1" "$2" "$3")
	[ "$st" = "[0]" ] || fail "MO '$3': deliver_sm_resp statuses $st"
	msg=$(next_mt "$1")
	[ -n "$msg" ] || fail "MO '$3': no answer"
	printf '%s' "$msg" | jq -r .text | grep -Eq "$4" ||
		fail "MO '$3': answer $(printf '%s' "$msg" | jq -r .text) does not match /$4/"
	printf '%s' "$msg" > "$tmp/last_answer.json"
}
token() { "$bld/ussdgw-keys" msisdn-token "$tmp/keys" "$1"; }
rcli() { redis-cli -p "$USSDGW_REDIS_PORT" "$@"; }
# Extra processes a test starts (sinks, second nodes): killed at exit before the
# links cleanup, keeping the script's exit status.
extra_pids=()
trap 'st=$?; set +e; for p in "${extra_pids[@]}"; do kill -9 "$p"; wait "$p"; done 2>/dev/null; (exit $st); cleanup' EXIT
# find_mt TO REGEX [CTL]: read MT to TO (in order, <= 5) until one's text matches; prints it.
find_mt() {
	local m
	for _ in 1 2 3 4 5; do
		m=$(next_mt "$1" "${3:-$CTL}")
		[ -n "$m" ] || break
		if printf '%s' "$m" | jq -r .text | grep -Eq "$2"; then
			printf '%s' "$m"
			return 0
		fi
	done
	return 1
}
