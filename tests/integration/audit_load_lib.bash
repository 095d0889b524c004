# Shared part of the audit fault tests under USSD load (sourced after
# ussd_lib.bash, not a test itself): the simulator's record of answered steps
# against the chain's rows in PostgreSQL.
drv=$src/tests/integration/helpers/ussd_drive.js
PREFIX=2547$(printf '%02d' $((RANDOM % 100)))
CHAIN=$LINK-1
psql_q() { psql -X -At -v ON_ERROR_STOP=1 -d "${PGDATABASE:-ussdgw}" "$@"; }
metric() { # NAME: the gateway's value of an unlabelled metric (empty if absent)
	curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_1/metrics" 2>/dev/null |
		awk -v n="$1" '$1 == n {print $2; exit}'
}
chain_rows() { psql_q -c "SELECT count(*) FROM audit WHERE chain = '$CHAIN'"; }

# wait_shipped SECONDS: until the node reports nothing unshipped and the chain
# in PostgreSQL stopped growing.
wait_shipped() {
	local prev=-1 n
	for _ in $(seq $(($1 * 4))); do
		n=$(chain_rows 2>/dev/null || echo -1)
		[ "$(metric ussdgw_audit_oldest_unshipped_seconds)" = 0 ] && [ "$n" = "$prev" ] && return 0
		prev=$n
		sleep 0.25
	done
	fail "the journal did not drain into PostgreSQL within $1 s (rows: $n)"
}

# stop_gw_clean: SIGTERM node 1 (it signs the chain head at close).
stop_gw_clean() {
	kill -TERM "${gw_pids[1]}"
	wait "${gw_pids[1]}" || fail "the gateway did not stop cleanly"
	gw_pids[1]=
}

# check_audit: every screen the simulator received for the driven sessions has
# exactly one step record; the chain is 1..max without duplicates, ends at the
# exported head, and verify passes. Sets ANSWERED and ROWS.
check_audit() {
	node "$drv" answered --control "$CTL" --prefix "$PREFIX" > "$tmp/answered.txt" 2> "$tmp/answered.err" ||
		fail "answered: $(cat "$tmp/answered.err")"
	[ ! -s "$tmp/answered.err" ] || fail "screens outside the dialled sessions: $(head -5 "$tmp/answered.err")"
	ANSWERED=$(awk '{s += $2} END {print s + 0}' "$tmp/answered.txt")
	while read -r m _; do
		printf '%s %s\n' "$m" "$("$bld/ussdgw-keys" msisdn-token "$tmp/keys" "$m")"
	done < "$tmp/answered.txt" > "$tmp/tokens.txt"
	psql_q -F ' ' -c "SELECT msisdn_token, body::json->'vars'->>'step', body::json->>'event'
		FROM audit WHERE chain = '$CHAIN' AND kind = 'session_step' AND msisdn_token IS NOT NULL" \
		> "$tmp/rows.txt"
	node "$drv" check --answered "$tmp/answered.txt" --tokens "$tmp/tokens.txt" --rows "$tmp/rows.txt" \
		> "$tmp/check.json" 2> "$tmp/check.err" || fail "answered steps vs audit: $(cat "$tmp/check.err")"
	echo "check: $(cat "$tmp/check.json")"

	local cnt dist lo hi head
	read -r cnt dist lo hi < <(psql_q -F ' ' -c "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
		FROM audit WHERE chain = '$CHAIN'")
	echo "chain $CHAIN: $cnt rows, seq $lo..$hi"
	[ "$cnt" = "$dist" ] || fail "duplicate sequence numbers: $cnt rows, $dist distinct"
	[ "$lo" = 1 ] && [ "$hi" = "$cnt" ] || fail "gap in the chain: $cnt rows, seq $lo..$hi"
	[ "$cnt" -ge "$ANSWERED" ] || fail "fewer records ($cnt) than answered steps ($ANSWERED)"
	# Arrival in order: the shipper's transactions (xmin) and the records' own
	# times never go backwards along the chain.
	local back_tx back_t ntx
	read -r back_tx back_t ntx < <(psql_q -F ' ' -c "SELECT count(*) FILTER (WHERE x < px),
		count(*) FILTER (WHERE occurred < po), count(DISTINCT x)
		FROM (SELECT xmin::text::bigint AS x, occurred, lag(xmin::text::bigint) OVER w AS px,
		             lag(occurred) OVER w AS po
		      FROM audit WHERE chain = '$CHAIN' WINDOW w AS (ORDER BY seq)) t")
	echo "arrived in $ntx transactions"
	[ "$back_tx" = 0 ] || fail "$back_tx records arrived in a transaction before their predecessor's"
	[ "$back_t" = 0 ] || fail "$back_t records occurred before their predecessor"
	# The head signed at the clean stop is the last record in the table.
	head=$(awk -v c="$CHAIN" '$2 == c {s = $3} END {print s}' "$tmp/heads1.log")
	[ "$head" = "$hi" ] || fail "exported head ${head:-none}, table ends at $hi"
	ROWS=$cnt
	"$bld/ussdgw-audit" verify --chain "$CHAIN" --export "$tmp/heads1.log" --keys "$tmp/keys" \
		> "$tmp/verify.txt" 2>&1 || { cat "$tmp/verify.txt" >&2; fail "verify found something"; }
	echo "verify: $(grep '^OK' "$tmp/verify.txt")"
}
