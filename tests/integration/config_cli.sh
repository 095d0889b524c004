#!/usr/bin/env bash
# The daemon's command line: the reference in etc/CONFIG.md is the schema's,
# a valid config checks, a bad value exits non-zero naming the key, an
# unsafe config or secret file is refused.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
gw=${GW_BUILD_DIR:?}/ussdgw
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$gw" --config-reference > "$tmp/CONFIG.md"
diff -u "$src/etc/CONFIG.md" "$tmp/CONFIG.md" ||
	fail "etc/CONFIG.md is out of date: regenerate with ussdgw --config-reference > etc/CONFIG.md"

"${GW_BUILD_DIR}/ussdgw-keys" init "$tmp/keys" >/dev/null
export USSDGW_KEYS__DIR="$tmp/keys"
cp "$src/etc/ussdgw.example.json" "$tmp/gw.json"
chmod 600 "$tmp/gw.json"
"$gw" --config "$tmp/gw.json" --check-config >/dev/null || fail "example config does not check"

# A bad value: exit non-zero and name the key.
sed 's/"port": 6379/"port": 99999/' "$tmp/gw.json" > "$tmp/bad.json"; chmod 600 "$tmp/bad.json"
if out=$("$gw" --config "$tmp/bad.json" --check-config 2>&1); then fail "bad port accepted"; fi
grep -q "redis.port" <<<"$out" || fail "error does not name redis.port: $out"

# A typo in a key name is refused by name.
sed 's/"command_timeout_ms"/"comand_timeout_ms"/' "$tmp/gw.json" > "$tmp/typo.json"; chmod 600 "$tmp/typo.json"
if out=$("$gw" --config "$tmp/typo.json" --check-config 2>&1); then fail "typo accepted"; fi
grep -q "redis.comand_timeout_ms: unknown key" <<<"$out" || fail "typo not named: $out"

# Environment override reaches the schema check.
if out=$(USSDGW_REDIS__PORT=0 "$gw" --config "$tmp/gw.json" --check-config 2>&1); then
	fail "override to port 0 accepted"; fi
grep -q "redis.port" <<<"$out" || fail "override error does not name redis.port: $out"

# World-readable config refused.
chmod 644 "$tmp/gw.json"
if out=$("$gw" --config "$tmp/gw.json" --check-config 2>&1); then fail "world-readable config accepted"; fi
grep -q "world-readable" <<<"$out" || fail "no world-readable message: $out"
chmod 600 "$tmp/gw.json"

# World-readable secret file refused, naming the key.
echo pw > "$tmp/redis.pass"; chmod 644 "$tmp/redis.pass"
sed 's/"port": 6379,/"port": 6379, "password_file": "redis.pass",/' "$tmp/gw.json" > "$tmp/sec.json"; chmod 600 "$tmp/sec.json"
if out=$("$gw" --config "$tmp/sec.json" --check-config 2>&1); then fail "world-readable secret accepted"; fi
grep -q "redis.password_file" <<<"$out" || fail "secret error does not name the key: $out"
# A key file readable by others is refused at start, naming the file.
chmod 644 "$tmp/keys/master.key"
if out=$("$gw" --config "$tmp/gw.json" --check-config 2>&1); then fail "world-readable key accepted"; fi
grep -q "master.key" <<<"$out" || fail "key error does not name the file: $out"
if out=$(timeout 10 "$gw" --config "$tmp/gw.json" 2>&1); then fail "daemon started with a world-readable key"; fi
grep -q "master.key" <<<"$out" || fail "daemon's key error does not name the file: $out"
chmod 600 "$tmp/keys/master.key"
echo "config_cli: ok"
