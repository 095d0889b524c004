# Shared helpers for the script tests that drive the loopback services in
# tools/ (Daraja emulator, demo wallet). Source after setting `tmp`.
# Every wait is bounded; every started process is killed by cleanup().

pids=()
: "${tmp:?set tmp before sourcing lib.sh}"

fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

# start_svc VAR NAME CMD... : run CMD in the background, wait (at most 10 s)
# for its first stdout line `listening PORT`, store PORT in VAR and the pid
# in VAR_pid. Output goes to $tmp/NAME.out and $tmp/NAME.err.
start_svc() {
	local _var=$1 _name=$2 _i _port='' _pid
	shift 2
	: >"$tmp/$_name.out"
	"$@" >"$tmp/$_name.out" 2>"$tmp/$_name.err" &
	_pid=$!
	pids+=("$_pid")
	for _i in $(seq 1 100); do
		_port=$(sed -n '1s/^listening \([0-9][0-9]*\)$/\1/p' "$tmp/$_name.out")
		[ -n "$_port" ] && break
		kill -0 "$_pid" 2>/dev/null || { cat "$tmp/$_name.err" >&2; fail "$_name exited before listening"; }
		sleep 0.1
	done
	[ -n "$_port" ] || fail "$_name printed no 'listening PORT' line"
	printf -v "$_var" '%s' "$_port"
	printf -v "${_var}_pid" '%s' "$_pid"
}

# stop_svc PID : stop one service and wait for it.
stop_svc() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# req METHOD URL [JSON] [CURL-ARGS...] : sets $code (HTTP status, or 000 and
# $curl_rc on transport failure) and $body.
req() {
	local method=$1 url=$2 data=${3-}
	shift 2
	[ $# -gt 0 ] && shift
	local args=(-s -o "$tmp/resp" -w '%{http_code}' --max-time 5 -X "$method")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	rm -f "$tmp/resp"
	curl_rc=0
	code=$(curl "${args[@]}" "$@" "$url") || curl_rc=$?
	body=$(cat "$tmp/resp" 2>/dev/null || true)
}

# j EXPR : evaluate a JavaScript expression over the parsed $body (as `d`);
# strings print raw, everything else as JSON, undefined as <undefined>. One
# node process serves all calls (a node start per assertion is slow), over
# two FIFOs on fds 7 and 8 so that calls from $(...) subshells work too.
j_start() {
	mkfifo "$tmp/j.in" "$tmp/j.out"
	node -e '
const rl = require("readline").createInterface({ input: process.stdin });
const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
rl.on("line", (line) => {
	const [e, b] = line.split("\t").map((x) => Buffer.from(x, "base64").toString("utf8"));
	let out;
	try {
		const d = JSON.parse(b);
		const v = eval(e);
		out = b64(v === undefined ? "<undefined>" : typeof v === "string" ? v : JSON.stringify(v));
	} catch (err) {
		out = "!" + b64(String(err));
	}
	process.stdout.write(out + "\n");
});' <"$tmp/j.in" >"$tmp/j.out" &
	pids+=("$!")
	exec 7>"$tmp/j.in" 8<"$tmp/j.out"
}

j() {
	local line
	printf '%s\t%s\n' "$(printf '%s' "$1" | base64 -w0)" "$(printf '%s' "$body" | base64 -w0)" >&7
	IFS= read -r -t 20 line <&8 || { echo "j: no answer for $1" >&2; return 1; }
	case $line in
	'!'*) printf '%s' "${line#!}" | base64 -d >&2; echo " (j $1)" >&2; return 1 ;;
	*) printf '%s' "$line" | base64 -d ;;
	esac
}

# eq GOT WANT WHAT
eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; }

# expect_status WANT WHAT
expect_status() { [ "$code" == "$1" ] || fail "$2: HTTP $1 expected, got $code (curl $curl_rc): $body"; }

# wait_for CMD... : retry CMD every 0.1 s for at most 10 s.
wait_for() {
	local i
	for i in $(seq 1 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

j_start
