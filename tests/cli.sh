#!/usr/bin/env bash
# tests/cli.sh BINARY: the command line as an operator meets it -- verbs, help,
# exit codes (sysexits.h), configuration errors as FILE:LINE: reason, and no
# secret in any log line. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/x86_64/fillrelay}
pass=0
fail=0
tmp=$(mktemp -d /tmp/fr-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fail=$((fail + 1)); }

# expect NAME CODE COMMAND...: runs COMMAND, keeps stdout/stderr in $out/$err.
expect() {
	local name=$1 code=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	if [ "$rc" -eq "$code" ]; then
		return 0
	fi
	bad "$name" "exit $rc, want $code" "stdout: ${out:0:300}" "stderr: ${err:0:300}"
	return 1
}

# contains NAME TEXT PATTERN...: every extended regexp must match TEXT.
contains() {
	local name=$1 text=$2 p
	shift 2
	for p in "$@"; do
		if ! grep -Eq -- "$p" <<<"$text"; then
			bad "$name" "missing /$p/ in:" "${text:0:600}"
			return
		fi
	done
	ok "$name"
}

if [ ! -x "$bin" ]; then
	echo "no binary at $bin"
	echo "0 passed, 1 failed"
	exit 1
fi

expect static-binary 0 file "$bin" && contains static-binary "$out" "statically linked"

expect version 0 "$bin" version && contains version "$out" \
	'^fillrelay [0-9]+\.[0-9]+\.[0-9]+ ' 'bearssl 0\.6' 'wslay 1\.1\.1' 'jsmn 1\.1\.0' \
	'hiredis 0\.14\.1.*Debian patches.*CVE-2021-32765' 'libpq 15\.' \
	'linked: libpq 15[0-9]{4}, hiredis 0\.14\.1, wslay 1\.1\.1'

expect help 0 "$bin" --help && contains help "$out" '^usage: fillrelay' \
	'^  run ' '^  check ' '^  migrate ' '^  rebuild ' '^  decode ' '^  orderid ' \
	'^  fills ' '^  pnl ' '^  positions ' '^  spill ' '^  health ' '^  version '
expect no-verb-is-usage-error 64 "$bin" && contains no-verb-is-usage-error "$err" '^usage:'
expect unknown-verb 64 "$bin" frobnicate && contains unknown-verb "$err" "unknown verb 'frobnicate'"
expect unknown-option 64 "$bin" check --frob && contains unknown-option "$err" 'unknown option --frob'
expect option-without-value 64 "$bin" check -c && contains option-without-value "$err" '-c needs a value'

for verb in run check migrate rebuild decode orderid fills pnl positions spill health version; do
	expect "help-$verb" 0 "$bin" "$verb" --help &&
		contains "help-$verb" "$out" "^usage: fillrelay $verb"
done

for verb in run migrate rebuild fills pnl positions spill health; do
	expect "unavailable-$verb" 69 "$bin" "$verb" -c tests/cfg/good_minimal.conf &&
		contains "unavailable-$verb" "$err" "fillrelay $verb: not yet available"
done

expect missing-config 78 "$bin" check -c "$tmp/nope.conf" &&
	contains missing-config "$err" "^$tmp/nope.conf: cannot open: No such file or directory\$"

# Every bad configuration is refused with exit EX_CONFIG and one first line
# "FILE:LINE: reason" ("FILE: reason" for a whole-file error). The exact line and
# reason of each file are asserted by tests/test_cfg.c's table.
nbad=0
for f in tests/cfg/bad_*.conf; do
	name=check-$(basename "$f" .conf)
	nbad=$((nbad + 1))
	expect "$name" 78 "$bin" check -c "$f" || continue
	first=$(head -n 1 <<<"$err")
	if grep -Eq "^$f:[0-9]+: [a-z\[\"'A-Z].{4,}\$|^$f: [a-z].{4,}\$" <<<"$first" &&
		[ -z "$out" ]; then
		ok "$name"
	else
		bad "$name" "stderr: $first" "stdout: $out"
	fi
done
[ "$nbad" -ge 15 ] && ok "at-least-15-bad-configs ($nbad)" ||
	bad at-least-15-bad-configs "only $nbad bad configurations"

# Secrets never reach a log line: a debug-level run logs every account, and
# neither the literal, env: nor file: secrets may appear; [redacted] must.
printf 'file-secret-0123456789\n' >"$tmp/secret"
printf -- '-----BEGIN CERTIFICATE-----\n' >"$tmp/ca.pem"
cat >"$tmp/secrets.conf" <<CONF
[exchange]
ca_file = $tmp/ca.pem
[account main]
api_key = literal-key-0123456789
api_secret = env:FR_CLI_SECRET
[account second]
api_key = second-literal-key-987654
api_secret = file:$tmp/secret
[bot b1]
account = main
[bot b2]
account = second
[postgres]
conninfo = host=127.0.0.1 dbname=fillrelay
password = pg-password-0123456789
[redis]
password = redis-password-0123456789
CONF
chmod 600 "$tmp/secrets.conf"
if expect secrets-run 0 env FR_CLI_SECRET=env-secret-0123456789 "$bin" --log-level debug \
	check -c "$tmp/secrets.conf"; then
	all="$out$err"
	leaked=""
	for s in literal-key-0123456789 env-secret-0123456789 second-literal-key-987654 \
		file-secret-0123456789 pg-password-0123456789 redis-password-0123456789; do
		grep -q -- "$s" <<<"$all" && leaked="$leaked $s"
	done
	if [ -n "$leaked" ]; then
		bad secrets-never-logged "leaked:$leaked"
	else
		contains secrets-never-logged "$err" 'level=debug msg="account configured" account=main api_key=\[redacted\] api_secret=\[redacted\]' \
			'password=\[redacted\]'
	fi
fi

# decode -c: the book's view of each execution, applied in input order -- the
# seed's shortseller entry and its trailing-stop exit, then the exit replayed.
cat >"$tmp/attrib.conf" <<CONF
[exchange]
ca_file = $tmp/ca.pem
[account main]
api_key = key_main_0123456
api_secret = secret_main_0123456
[bot shortseller_001]
[postgres]
conninfo = dbname=x
CONF
if expect decode-attrib 0 "$bin" decode -c "$tmp/attrib.conf" tests/attrib/shortseller_round_trip.ndjson; then
	contains decode-attrib "$out" \
		'"execId":"e-1".*"status":"applied","bot":"shortseller_001","via":"link","reason":"entry","close_reason":"","realized_pnl":"0","trade_seq":1,"size_after":"-0.01"' \
		'"execId":"e-2".*"status":"applied","bot":"shortseller_001","via":"link","reason":"trailing_stop","close_reason":"trailing_stop","realized_pnl":"10","trade_seq":1,"size_after":"0"' \
		'"execId":"e-2".*"status":"duplicate"'
fi
printf '[account second]\napi_key = key_second_0123\napi_secret = secret_second_0123\n[bot b2]\naccount = second\n' >>"$tmp/attrib.conf"
sed -i 's/^\[bot shortseller_001\]$/[bot shortseller_001]\naccount = main/' "$tmp/attrib.conf"
expect decode-attrib-needs-account 64 "$bin" decode -c "$tmp/attrib.conf" tests/attrib/shortseller_round_trip.ndjson &&
	contains decode-attrib-needs-account "$err" 'name one with --account'
expect decode-attrib-account 0 "$bin" decode -c "$tmp/attrib.conf" --account main tests/attrib/shortseller_round_trip.ndjson &&
	contains decode-attrib-account "$out" '"account":"main","status":"applied","bot":"shortseller_001"'
expect orderid-parse-dash-id 65 "$bin" orderid parse -- -not-ours &&
	contains orderid-parse-dash-id "$out" '"ours":false'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
