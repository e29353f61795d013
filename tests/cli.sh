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

# expect NAME CODE COMMAND...: runs COMMAND (killed after 60 s: a hang is a
# failure, exit 124, not a stuck suite), keeps stdout/stderr in $out/$err.
expect() {
	local name=$1 code=$2 rc
	shift 2
	timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
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

# run with nothing listening on the configured PostgreSQL: starts anyway (the
# book's warm-up waits for the database; the stream stays unsubscribed), says
# why, answers /healthz 503, and stops cleanly on SIGTERM. The exchange URLs
# point at a closed local port: nothing outside this machine is contacted.
mport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{ sed '/^\[postgres\]/,$d' tests/cfg/good_minimal.conf
  printf '[listener]\nspill_dir = %s/run-spill\nmetrics_addr = 127.0.0.1:%s\n\n' "$tmp" "$mport"
  printf '[exchange]\nws_url = wss://localhost:1/v5/private\nrest_url = https://localhost:1\n\n'
  printf '[postgres]\nconninfo = hostaddr=127.0.0.1 port=1 dbname=x user=x connect_timeout=2\n'
} >"$tmp/run-unreachable.conf"
mkdir -p "$tmp/run-spill"
"$bin" run -c "$tmp/run-unreachable.conf" >"$tmp/run.log" 2>&1 &
rpid=$!
for _ in $(seq 100); do
	grep -q 'msg="fillrelay started"' "$tmp/run.log" && break
	kill -0 "$rpid" 2>/dev/null || break
	sleep 0.1
done
health=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/healthz")
alive=0
kill -0 "$rpid" 2>/dev/null && alive=1
kill -TERM "$rpid" 2>/dev/null
wait "$rpid"
rrc=$?
if [ "$alive" = 1 ] && [ "$rrc" = 0 ] && [ "$health" = 503 ]; then
	contains run-unreachable "$(cat "$tmp/run.log")" \
		'msg="PostgreSQL not reachable at start: records wait in the journal' 'port 1 failed' \
		'msg="fillrelay stopped" instance=fillrelay exit=0'
else
	bad run-unreachable "alive $alive, /healthz $health (want 503), exit $rrc (want 0)" \
		"log: $(tail -c 600 "$tmp/run.log")"
fi

# the query verbs (tests/it_verbs.c runs them against real services): usage
# errors before anything is read, an unknown bot before any connection.
expect fills-needs-bot 64 "$bin" fills -c tests/cfg/good_minimal.conf &&
	contains fills-needs-bot "$err" 'fillrelay fills: --bot BOT is required'
expect fills-bad-limit 64 "$bin" fills --bot b1 --limit 0 -c tests/cfg/good_minimal.conf &&
	contains fills-bad-limit "$err" 'limit goes with fills, 1\.\.1000'
expect pnl-no-limit 64 "$bin" pnl --limit 5 -c tests/cfg/good_minimal.conf &&
	contains pnl-no-limit "$err" 'limit goes with fills'
expect positions-no-args 64 "$bin" positions extra -c tests/cfg/good_minimal.conf &&
	contains positions-no-args "$err" 'takes no arguments'
expect bot-needs-value 64 "$bin" pnl --bot && contains bot-needs-value "$err" '--bot needs a value'
for verb in fills pnl positions; do
	expect "unknown-bot-$verb" 78 "$bin" "$verb" --bot nobody_001 -c tests/cfg/good_minimal.conf &&
		contains "unknown-bot-$verb" "$err" "fillrelay $verb: bot 'nobody_001' is not in tests/cfg/good_minimal.conf"
done
expect help-fills-options 0 "$bin" fills --help &&
	contains help-fills-options "$out" '--bot BOT' '--limit N' '--json'

# migrate exists: with nothing listening on the configured PostgreSQL it says so
# (the minimal config points at 127.0.0.1:5432; the real runs are in it_pg.c)
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
	expect migrate-unreachable 69 "$bin" migrate -c tests/cfg/good_minimal.conf &&
		contains migrate-unreachable "$err" "cannot connect to PostgreSQL"
	expect pnl-unreachable 69 "$bin" pnl -c tests/cfg/good_minimal.conf &&
		contains pnl-unreachable "$err" "fillrelay pnl: cannot connect to PostgreSQL"
	expect fills-unreachable 69 "$bin" fills --bot alpha_001 --json -c tests/cfg/good_minimal.conf &&
		contains fills-unreachable "$err" "fillrelay fills: cannot connect to PostgreSQL"
fi

# health: a Docker HEALTHCHECK: 1 when nothing answers, 64 for a bad address
# (the 200/503 answers are tested against the metrics server in test_metrics.c)
expect health-bad-address 64 "$bin" health not-an-address &&
	contains health-bad-address "$err" "not HOST:PORT"
expect health-nobody-listening 1 "$bin" health 127.0.0.1:1 &&
	contains health-nobody-listening "$err" "127.0.0.1:1: Connection refused"

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

# ---- spill: the disk journal (journal.h), on journals written here byte by byte
# from the format in journal.h by an independent writer (python3, bitwise CRC-32C).
jgen() { # jgen DIR CHECKPOINT SEGFIRST:N,... : records 1.. in segments of N each
	python3 - "$@" <<'PY'
import struct, sys
def crc32c(b, c=0):
    c ^= 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF
def record(seq):
    acct, cat = b"main", b"linear"
    raw = b'{"execId":"e-%d","symbol":"BTCUSDT",\n"execQty":"0.01"}' % seq
    kind, src = 1 + (seq % 2) * 1, 1 if seq % 3 else 2  # execution/order, push/rest
    payload = struct.pack("<BBBBqI", kind, src, len(acct), len(cat), 1700000000000 + seq, len(raw))
    payload += acct + cat + raw
    hdr = struct.pack("<IIQHH", 0x524A5246, len(payload), seq, 1, 0)
    return hdr + struct.pack("<I", crc32c(payload, crc32c(hdr))) + payload
d, ckpt = sys.argv[1], int(sys.argv[2])
seq = 1
for spec in sys.argv[3:]:
    n = int(spec)
    with open("%s/%020d.jnl" % (d, seq), "wb") as f:
        for _ in range(n):
            f.write(record(seq)); seq += 1
c = b"FRJCKPT1" + struct.pack("<Q", ckpt)
open(d + "/checkpoint", "wb").write(c + struct.pack("<II", crc32c(c), 0))
PY
}
jd=$tmp/journal
mkdir -p "$jd"
jgen "$jd" 2 3 2 # records 1-3 in 00..01.jnl, 4-5 in 00..04.jnl, checkpoint 2
seg1=$jd/00000000000000000001.jnl
seg4=$jd/00000000000000000004.jnl
expect spill-stat 0 "$bin" spill stat --dir "$jd" && contains spill-stat "$out" \
	'^segments +2$' '^records +5$' '^first_seq +1$' '^last_seq +5$' '^checkpoint +2$' \
	'^pending +3$' '^oldest_pending_seq +3$' '^oldest_pending_received_at +2023-11-14T22:13:20\.003Z$' \
	"^bytes +$(($(stat -c %s "$seg1") + $(stat -c %s "$seg4")))\$" '^limit +-$' '^torn_tail +-$'
printf '[listener]\nspill_dir = %s\nspill_limit = 1M\n[account main]\napi_key = key_main_0123456\napi_secret = secret_main_0123456\n[bot b1]\n[postgres]\nconninfo = dbname=x\n' \
	"$jd" >"$tmp/spill.conf"
expect spill-stat-config 0 "$bin" spill stat -c "$tmp/spill.conf" &&
	contains spill-stat-config "$out" '^records +5$' '^limit +1048576 \(0\.[0-9]% used\)$'
expect spill-verify-clean 0 "$bin" spill verify --dir "$jd" && contains spill-verify-clean "$out" \
	'^ok: 5 records in 2 segments, sequences 1\.\.5, checkpoint 2$'
if expect spill-dump 0 "$bin" spill dump --dir "$jd"; then
	contains spill-dump "$out" \
		'^\{"seq":1,"kind":"order","source":"push","account":"main","category":"linear","received_at":1700000000001,"raw":\{"execId":"e-1","symbol":"BTCUSDT", "execQty":"0\.01"\}\}$' \
		'^\{"seq":3,"kind":"order","source":"rest",' '^\{"seq":5,'
	n=$(python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if json.loads(l)["raw"]["symbol"] == "BTCUSDT"))' <<<"$out")
	[ "$n" = 5 ] && ok spill-dump-is-ndjson || bad spill-dump-is-ndjson "$n JSON lines"
fi
expect spill-dump-from 0 "$bin" spill dump 4 --dir "$jd" &&
	contains spill-dump-from "$(wc -l <<<"$out") lines: $out" '^2 lines: \{"seq":4,' '^\{"seq":5,'
expect spill-usage 64 "$bin" spill frob --dir "$jd" && contains spill-usage "$err" "unknown subcommand 'frob'"
expect spill-dump-usage 64 "$bin" spill dump x --dir "$jd" && contains spill-dump-usage "$err" 'FROM_SEQ'
expect spill-truncate-needs-verify 64 "$bin" spill stat --truncate-torn --dir "$jd" &&
	contains spill-truncate-needs-verify "$err" 'goes with verify'
expect spill-replay-needs-config 64 "$bin" spill replay --dir "$jd" &&
	contains spill-replay-needs-config "$err" 'needs the configuration \(-c FILE\)'
expect spill-replay-timeout-usage 64 "$bin" spill replay --timeout 0 -c "$tmp/spill.conf" &&
	contains spill-replay-timeout-usage "$err" '--timeout 0: not a number of seconds in 1\.\.86400'
expect spill-timeout-needs-replay 64 "$bin" spill stat --timeout 5 --dir "$jd" &&
	contains spill-timeout-needs-replay "$err" '--timeout goes with replay'
expect spill-no-dir 66 "$bin" spill stat --dir "$tmp/nowhere" &&
	contains spill-no-dir "$err" 'no journal directory'
expect spill-default-config-dir 66 "$bin" spill stat -c tests/cfg/good_minimal.conf &&
	contains spill-default-config-dir "$err" '/var/lib/fillrelay'

# A torn tail (half of record 6 after a crash): reported, then cut on request.
len4=$(stat -c %s "$seg4")
head -c 30 "$seg1" >>"$seg4"
expect spill-verify-torn 65 "$bin" spill verify --dir "$jd" && contains spill-verify-torn "$out" \
	"^$seg4:$len4: torn tail: 30 bytes after the last valid record\$" 'truncate-torn'
expect spill-stat-torn 0 "$bin" spill stat --dir "$jd" &&
	contains spill-stat-torn "$out" "^torn_tail +$seg4:$len4 \\+30\$" '^records +5$'
expect spill-dump-torn 0 "$bin" spill dump --dir "$jd" &&
	contains spill-dump-torn "$err" 'torn tail: 30 bytes'
expect spill-truncate-locked 75 flock "$jd" "$bin" spill verify --truncate-torn --dir "$jd" &&
	contains spill-truncate-locked "$err" 'locked by another process'
expect spill-truncate-torn 0 "$bin" spill verify --truncate-torn --dir "$jd" &&
	contains spill-truncate-torn "$out" "^truncated at offset $len4\$" '^ok: 5 records'
[ "$(stat -c %s "$seg4")" = "$len4" ] && ok spill-truncated-size || bad spill-truncated-size "$(stat -c %s "$seg4")"
expect spill-verify-after-repair 0 "$bin" spill verify --dir "$jd" &&
	contains spill-verify-after-repair "$out" '^ok: 5 records'

# A flipped byte in record 2 (the middle of segment 1): refused with its offset,
# by every subcommand, and never "repaired".
off2=$(python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(); print(24+struct.unpack("<I",b[4:8])[0])' "$seg1")
printf 'X' | dd of="$seg1" bs=1 seek=$((off2 + 40)) conv=notrunc status=none
for sub in verify stat dump; do
	expect "spill-damage-$sub" 65 "$bin" spill "$sub" --dir "$jd" &&
		contains "spill-damage-$sub" "$err" "$seg1: offset $off2: bad CRC, and a valid record follows at offset [0-9]+: damage in the middle"
done
expect spill-damage-not-truncated 65 "$bin" spill verify --truncate-torn --dir "$jd" &&
	contains spill-damage-not-truncated "$err" 'damage in the middle'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
