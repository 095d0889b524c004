#!/usr/bin/env bash
# ussdgw-keys end to end: init, modes, check naming an offending file, pubkey,
# TLS issuing checked by openssl(1) as an independent verifier.
set -euo pipefail
tool="${GW_BUILD_DIR:?GW_BUILD_DIR not set}/ussdgw-keys"
[ -x "$tool" ] || { echo "missing $tool" >&2; exit 1; }
work=$(mktemp -d /tmp/gw-keys-XXXXXX)
trap 'rm -rf "$work"' EXIT
dir="$work/keys"
fails=0
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then echo "ok   $what"; else echo "FAIL $what" >&2; fails=$((fails + 1)); fi
}
mode() { stat -c %a "$1"; }
# Run the tool; leave stdout+stderr in $out and the exit status in $rc.
run() { set +e; out=$("$tool" "$@" 2>&1); rc=$?; set -e; }

run
check "no arguments is a usage error (2)" test "$rc" -eq 2
check "usage text printed" grep -q "usage: ussdgw-keys" <<<"$out"
run frobnicate "$dir"
check "unknown command is a usage error" test "$rc" -eq 2
run tls "$dir"
check "tls without NAME is a usage error" test "$rc" -eq 2

umask 022 # the tool must not depend on a careful umask
run init "$dir"
check "init succeeds" test "$rc" -eq 0
check "dir is 0700" test "$(mode "$dir")" = 700
check "tls/ is 0700" test "$(mode "$dir/tls")" = 700
for f in master.key msisdn-token.key audit-signing.pem; do
	check "$f is 0600" test "$(mode "$dir/$f")" = 600
done
check "master key is 64 hex digits" grep -Eqx '[0-9a-f]{64}' "$dir/master.key"
check "token key differs from master key" test "$(cat "$dir/master.key")" != "$(cat "$dir/msisdn-token.key")"
check "signing key is PKCS#8 Ed25519" bash -c "openssl pkey -in '$dir/audit-signing.pem' -noout -text | grep -q ED25519"

before=$(sha256sum "$dir/master.key")
run init "$dir"
check "second init refused (1)" test "$rc" -eq 1
check "second init names the existing key" grep -q "master.key" <<<"$out"
check "existing key untouched" test "$(sha256sum "$dir/master.key")" = "$before"

run check "$dir"
check "check passes on a fresh dir" test "$rc" -eq 0

run pubkey "$dir"
check "pubkey succeeds" test "$rc" -eq 0
check "pubkey is 32 bytes hex" grep -Eqx '[0-9a-f]{64}' <<<"$out"
# The same public key as openssl derives from the PEM (raw key = last 32 bytes of the DER).
ref=$(openssl pkey -in "$dir/audit-signing.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
check "pubkey matches openssl's derivation" test "$out" = "$ref"

run tls "$dir" smpp --san "localhost,127.0.0.1"
check "tls issue succeeds" test "$rc" -eq 0
for f in ca.crt ca.key smpp.crt smpp.key; do
	check "tls/$f is 0600" test "$(mode "$dir/tls/$f")" = 600
done
check "openssl verifies the leaf against the CA" \
	openssl verify -CAfile "$dir/tls/ca.crt" "$dir/tls/smpp.crt"
check "leaf carries the SANs" bash -c "openssl x509 -in '$dir/tls/smpp.crt' -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1'"
check "leaf key matches the cert" test \
	"$(openssl x509 -in "$dir/tls/smpp.crt" -noout -pubkey)" = "$(openssl pkey -in "$dir/tls/smpp.key" -pubout)"
run tls "$dir" smpp
check "re-issuing an existing name is refused" test "$rc" -eq 1
run tls "$dir" http --ca other-ca --san api.test
check "issue under a second CA" test "$rc" -eq 0
check "second CA verifies its leaf" openssl verify -CAfile "$dir/tls/other-ca.crt" "$dir/tls/http.crt"
check "first CA does not verify it" bash -c "! openssl verify -CAfile '$dir/tls/ca.crt' '$dir/tls/http.crt' >/dev/null 2>&1"

chmod 0644 "$dir/msisdn-token.key"
run check "$dir"
check "check fails on a 0644 key file (1)" test "$rc" -eq 1
check "check names the file" grep -q "$dir/msisdn-token.key" <<<"$out"
check "check shows the mode" grep -q "0644" <<<"$out"
run pubkey "$dir"
check "pubkey refuses the insecure dir too" test "$rc" -eq 1
chmod 0600 "$dir/msisdn-token.key"

chmod 0755 "$dir"
chmod 0640 "$dir/tls/smpp.key"
run check "$dir"
check "check fails on 0755 dir" test "$rc" -eq 1
check "check names the dir" grep -q "$dir: mode 0755" <<<"$out"
check "check names tls/smpp.key as well" grep -q "$dir/tls/smpp.key" <<<"$out"
chmod 0700 "$dir"
chmod 0600 "$dir/tls/smpp.key"
run check "$dir"
check "check passes again once fixed" test "$rc" -eq 0

echo "not a key" >"$dir/master.key"
run check "$dir"
check "check loads the keys, not just modes" test "$rc" -eq 1

exit $((fails > 0))
