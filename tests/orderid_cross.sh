#!/usr/bin/env bash
# tests/orderid_cross.sh BINARY: the three generators of client order ids agree.
#
#   fillrelay orderid new|parse          BINARY (src/orderid.c, src/verb_orderid.c)
#   src/clients/fillrelay_orderid.h      compiled here into a small driver (${CC:-cc})
#   src/clients/fillrelay_orderid.py     imported by python3
#
# The command line must accept "--" before an id that starts with '-'
# (`fillrelay orderid parse -- -x-...`), as foreign ids may.
#
# Ids made by each are parsed by all three, which must print the same line
# (bot, canonical reason, wire reason, stamp, form); the seed guide's colon ids,
# foreign ids and oversized input get the same answer from all three; all three
# refuse an id that cannot fit with the same message; the C helper and the Python
# module make the same id from the same seed and clock; thousands of ids from
# all three together are unique. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bin=${1:-build/x86_64/fillrelay}
py=${PYTHON:-python3}
pass=0
fail=0
tmp=$(mktemp -d /tmp/fr-oidx-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fail=$((fail + 1)); }

if [ ! -x "$bin" ]; then
	echo "no binary at $bin"
	echo "0 passed, 1 failed"
	exit 1
fi

# ---- the drivers: one command per stdin line, fields separated by tabs ------
#   new BOT REASON        -> {"id":...,"bot":...,"reason":...,"stamp_ms":...} or "error MSG"
#   parse ID              -> the line of `fillrelay orderid parse`
#   seeded SEED MS BOT REASON -> the id made by a generator seeded with SEED at MS
#   bulk N BOT REASON     -> N ids, one a line
# Arguments: ALIAS=REASON pairs, like [reasons].
cat >"$tmp/cdrv.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fillrelay_orderid.h"

static struct fr_orderid_alias tab[64];
static size_t tab_n;
static struct fr_orderid_gen gen = FR_ORDERID_GEN_INIT;

static void json_id(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void do_parse(const char *id, size_t n)
{
	struct fr_orderid_parsed p;

	printf("{\"id\":");
	json_id(id, n);
	if (fr_orderid_parse(id, n, tab, tab_n, &p) != 0) {
		printf(",\"ours\":false}\n");
		return;
	}
	printf(",\"bot\":\"%s\",\"reason\":\"%s\",\"reason_wire\":\"%s\",\"stamp_ms\":%lld,"
	       "\"form\":\"%s\",\"ours\":true}\n",
	       p.bot, p.reason, p.reason_wire, (long long)p.stamp_ms,
	       p.form == FR_ORDERID_FORM_WIRE ? "wire" : "colon");
}

int main(int argc, char **argv)
{
	static char line[16384];
	char id[FR_ORDERID_MAX + 1], err[256];

	for (int i = 1; i < argc && tab_n < 64; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq) {
			*eq = '\0';
			tab[tab_n++] = (struct fr_orderid_alias){ argv[i], eq + 1 };
		}
	}
	gen.aliases = tab;
	gen.aliases_n = tab_n;
	while (fgets(line, sizeof line, stdin)) {
		char *f[6] = { 0 };
		size_t nf = 0, len = strcspn(line, "\n");

		line[len] = '\0';
		for (char *p = line; nf < 6; p = NULL) {
			char *t = strtok(p, "\t");

			if (!t)
				break;
			f[nf++] = t;
		}
		if (nf == 0) {
			printf("bad command\n");
		} else if (nf == 3 && strcmp(f[0], "new") == 0) {
			struct fr_orderid_parsed p;
			int n = fr_orderid_new(&gen, f[1], f[2], id, err, sizeof err);

			if (n < 0) {
				printf("error %s\n", err);
				continue;
			}
			fr_orderid_parse(id, (size_t)n, tab, tab_n, &p);
			printf("{\"id\":\"%s\",\"bot\":\"%s\",\"reason\":\"%s\",\"stamp_ms\":%lld}\n",
			       id, p.bot, p.reason, (long long)p.stamp_ms);
		} else if (strcmp(f[0], "parse") == 0) {
			do_parse(line + 6, len >= 6 ? len - 6 : 0);
		} else if (nf == 5 && strcmp(f[0], "seeded") == 0) {
			struct fr_orderid_gen g = FR_ORDERID_GEN_INIT;

			fr_orderid_gen_seed(&g, strtoull(f[1], NULL, 10));
			g.aliases = tab;
			g.aliases_n = tab_n;
			if (fr_orderid_new_at(&g, f[3], f[4], strtoll(f[2], NULL, 10), id, err,
			                      sizeof err) < 0)
				printf("error %s\n", err);
			else
				printf("%s\n", id);
		} else if (nf == 4 && strcmp(f[0], "bulk") == 0) {
			for (long k = strtol(f[1], NULL, 10); k > 0; k--)
				if (fr_orderid_new(&gen, f[2], f[3], id, err, sizeof err) < 0)
					printf("error %s\n", err);
				else
					printf("%s\n", id);
		} else {
			printf("bad command\n");
		}
	}
	return 0;
}
EOF

cat >"$tmp/pydrv.py" <<'EOF'
import sys
sys.path.insert(0, "src/clients")
import fillrelay_orderid as f

aliases = dict(a.split("=", 1) for a in sys.argv[1:])
gen = f.Generator()
out = sys.stdout
for raw in sys.stdin.buffer:
    line = raw.rstrip(b"\n")
    fld = line.split(b"\t")
    cmd = fld[0]
    if cmd == b"new" and len(fld) == 3:
        try:
            oid = gen.new(fld[1], fld[2], aliases)
        except f.OrderIdError as e:
            out.write("error %s\n" % e)
            continue
        p = f.parse(oid, aliases)
        out.write('{"id":"%s","bot":"%s","reason":"%s","stamp_ms":%d}\n'
                  % (oid, p.bot, p.reason, p.stamp_ms))
    elif cmd == b"parse":
        oid = line[6:]
        p = f.parse(oid, aliases)
        if p is None:
            out.write('{"id":%s,"ours":false}\n' % f._json_str(oid))
        else:
            out.write('{"id":%s,"bot":"%s","reason":"%s","reason_wire":"%s","stamp_ms":%d,'
                      '"form":"%s","ours":true}\n' % (f._json_str(oid), p.bot, p.reason,
                                                      p.reason_wire, p.stamp_ms, p.form))
    elif cmd == b"seeded" and len(fld) == 5:
        g = f.Generator(seed=int(fld[1]))
        try:
            out.write(g.new(fld[3], fld[4], aliases, now_ms=int(fld[2])) + "\n")
        except f.OrderIdError as e:
            out.write("error %s\n" % e)
    elif cmd == b"bulk" and len(fld) == 4:
        for _ in range(int(fld[1])):
            out.write(gen.new(fld[2], fld[3], aliases) + "\n")
    else:
        out.write("bad command\n")
EOF

if ! ${CC:-cc} -std=c11 -Wall -Wextra -Werror -Isrc/clients "$tmp/cdrv.c" -o "$tmp/cdrv"; then
	bad c-helper-compiles "${CC:-cc} failed on src/clients/fillrelay_orderid.h"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok c-helper-compiles

# verb_run ALIASES(0|1) new|parse ARGS: one line like the drivers' (errors as "error MSG").
verb_run() {
	local conf=() rc
	[ "$1" = 1 ] && conf=(-c "$tmp/aliases.conf")
	shift
	"$bin" "${conf[@]}" orderid "$@" >"$tmp/vout" 2>"$tmp/verr"
	rc=$?
	if [ "$1" = new ] && [ "$rc" -ne 0 ]; then
		echo "error $(sed 's/^fillrelay orderid new: //' "$tmp/verr")"
	else
		cat "$tmp/vout"
	fi
	return $rc
}

cat >"$tmp/aliases.conf" <<'EOF'
[account main]
api_key = KEYmain0123456789
api_secret = SECRETmain0123456789abcdef
[bot shortseller_001]
[bot lxalgo_001]
[bot momentum_001]
[postgres]
conninfo = host=127.0.0.1
[reasons]
bo = breakout_retest
ema_x = ema_cross
e = entry
EOF
chmod 600 "$tmp/aliases.conf"
alias_args=(bo=breakout_retest ema_x=ema_cross e=entry)

# BOT REASON CANONICAL: made by each generator, parsed by all three.
gen_cases=(
	"shortseller_001 entry entry" "shortseller_001 trailing_stop trailing_stop"
	"shortseller_001 scale_in scale_in" "shortseller_001 manual_entry manual_entry"
	"shortseller_001 take_profit take_profit" "shortseller_001 stop_loss stop_loss"
	"shortseller_001 time_exit time_exit" "shortseller_001 risk_limit risk_limit"
	"shortseller_001 manual_exit manual_exit" "shortseller_001 ema_cross ema_cross"
	"lxalgo_001 rule_3 rule_3" "lxalgo_001 r7 rule_7" "lxalgo_001 rule_1234 rule_1234"
	"momentum_001 volatility_breakout volatility_breakout"
	"momentum_001 vb volatility_breakout" "momentum_001 ma_exit ma_exit"
	"b breakout_v2 breakout_v2" "abcdefghijklmnopq entry entry"
	"Bot_UPPER_9 Reason_X Reason_X"
)

# parse_three ALIASES(0|1) ID...: sets arrays pv, pc, pp to the lines of the verb
# (one run per id), the C helper and the Python module (one run for all ids).
parse_three() {
	local use_alias=$1 id
	local drv_args=()
	shift
	[ "$use_alias" = 1 ] && drv_args=("${alias_args[@]}")
	pv=()
	for id in "$@"; do
		# An id may start with '-' (a foreign one): "--" ends the options.
		if [[ $id == -* ]]; then
			pv+=("$(verb_run "$use_alias" parse -- "$id")")
		else
			pv+=("$(verb_run "$use_alias" parse "$id")")
		fi
	done
	printf 'parse\t%s\n' "$@" >"$tmp/pcmds"
	mapfile -t pc < <("$tmp/cdrv" "${drv_args[@]}" <"$tmp/pcmds")
	mapfile -t pp < <("$py" "$tmp/pydrv.py" "${drv_args[@]}" <"$tmp/pcmds")
}

# run_cross NAME ALIASES(0|1) CASES...: generate with each, parse with all three.
run_cross() {
	local name=$1 use_alias=$2 bad_n=0 c bot reason canon gen line want got
	local drv_args=()
	shift 2
	[ "$use_alias" = 1 ] && drv_args=("${alias_args[@]}")
	: >"$tmp/ids"
	: >"$tmp/cmds"
	for c in "$@"; do
		read -r bot reason canon <<<"$c"
		printf 'new\t%s\t%s\n' "$bot" "$reason" >>"$tmp/cmds"
	done
	"$tmp/cdrv" "${drv_args[@]}" <"$tmp/cmds" >"$tmp/new.c"
	"$py" "$tmp/pydrv.py" "${drv_args[@]}" <"$tmp/cmds" >"$tmp/new.py"
	: >"$tmp/new.verb"
	for c in "$@"; do
		read -r bot reason canon <<<"$c"
		verb_run "$use_alias" new "$bot" "$reason" >>"$tmp/new.verb"
	done
	local i=0
	for c in "$@"; do
		i=$((i + 1))
		read -r bot reason canon <<<"$c"
		want="\"bot\":\"$bot\",\"reason\":\"$canon\","
		for gen in verb c py; do
			line=$(sed -n "${i}p" "$tmp/new.$gen")
			if [[ $line != *"$want"* ]]; then
				bad_n=$((bad_n + 1))
				echo "    $gen new $bot $reason: $line (want $want)"
				continue
			fi
			got=${line#\{\"id\":\"}
			echo "${got%%\"*} $gen $bot $canon" >>"$tmp/ids"
		done
	done
	# every id parsed by the three parsers: identical lines, right bot and reason
	local ids=() gens=() bots=() canons=() id
	while read -r id gen bot canon; do
		ids+=("$id") gens+=("$gen") bots+=("$bot") canons+=("$canon")
	done <"$tmp/ids"
	parse_three "$use_alias" "${ids[@]}"
	for i in "${!ids[@]}"; do
		if [ "${pv[i]}" != "${pc[i]}" ] || [ "${pv[i]}" != "${pp[i]}" ] ||
			[[ ${pv[i]} != *"\"bot\":\"${bots[i]}\",\"reason\":\"${canons[i]}\","*'"form":"wire","ours":true}' ]]; then
			bad_n=$((bad_n + 1))
			echo "    id ${ids[i]} from ${gens[i]}: verb ${pv[i]}"
			echo "        c    ${pc[i]}"
			echo "        py   ${pp[i]}"
		fi
	done
	if [ "$bad_n" -eq 0 ] && [ "$(wc -l <"$tmp/ids")" -eq $((3 * $#)) ]; then
		ok "$name ($(wc -l <"$tmp/ids") ids, each parsed by all three)"
	else
		bad "$name" "$bad_n disagreements"
	fi
}

run_cross generate-and-parse-builtin 0 "${gen_cases[@]}"
run_cross generate-and-parse-configured 1 "lxalgo_001 breakout_retest breakout_retest" \
	"lxalgo_001 bo breakout_retest" "momentum_001 ema_x ema_cross" \
	"momentum_001 ema_cross ema_cross" "shortseller_001 entry entry" \
	"shortseller_001 e entry" "shortseller_001 volatility_breakout volatility_breakout"

# The spelling each chose with aliases: the shortest (e, not en; ec, not ema_x).
spell_bad=0
for gen in verb c py; do
	grep -q '"id":"lxalgo_001-bo-' "$tmp/new.$gen" && grep -q '"id":"momentum_001-ec-' "$tmp/new.$gen" &&
		grep -q '"id":"shortseller_001-e-' "$tmp/new.$gen" || {
		spell_bad=1
		echo "    $gen: $(cat "$tmp/new.$gen")"
	}
done
[ "$spell_bad" -eq 0 ] && ok shortest-spelling-with-aliases || bad shortest-spelling-with-aliases

# parse_all NAME ALIASES ID...: the three parsers print the same line for each id.
parse_all() {
	local name=$1 use_alias=$2 i bad_n=0
	shift 2
	parse_three "$use_alias" "$@"
	local ids=("$@")
	for i in "${!ids[@]}"; do
		if [ "${pv[i]}" != "${pc[i]}" ] || [ "${pv[i]}" != "${pp[i]}" ] || [ -z "${pv[i]}" ]; then
			bad_n=$((bad_n + 1))
			echo "    ${ids[i]:0:80}: verb ${pv[i]}"
			echo "        c    ${pc[i]}"
			echo "        py   ${pp[i]}"
		fi
	done
	[ "$bad_n" -eq 0 ] && [ "${#pc[@]}" -eq $# ] && [ "${#pp[@]}" -eq $# ] &&
		ok "$name ($# ids)" || bad "$name" "$bad_n disagreements"
}

seed_ids=(
	shortseller_001:entry:1678886400 lxalgo_001:rule_3:1678886400
	momentum_001:trailing_stop:1678886600 shortseller_001:manual_exit:1678886700
	momentum_001:volatility_breakout:1678886400 "momentum_001:ma_exit:$(date +%s)"
	"lxalgo_001:rule_5:$(date +%s)" momentum_001:ma_exit:1678886400123 a:vb:0
	a:b:99999999999 a:b:100000000000 lxalgo_001:bo:1678886400
)
parse_all parse-seed-colon-ids 0 "${seed_ids[@]}"
parse_all parse-seed-colon-ids-with-aliases 1 "${seed_ids[@]}"
seed_bad=0
for id in "${seed_ids[@]:0:5}"; do
	v=$(verb_run 0 parse "$id")
	IFS=: read -r b r s <<<"$id"
	[[ $v == *"\"bot\":\"$b\",\"reason\":\"$r\",\"reason_wire\":\"$r\",\"stamp_ms\":${s}000,\"form\":\"colon\",\"ours\":true}" ]] ||
		{ seed_bad=1; echo "    $id: $v"; }
done
[ "$seed_bad" -eq 0 ] && ok seed-guide-examples-fields || bad seed-guide-examples-fields

long_a=$(printf 'a%.0s' $(seq 1 1200))
wire_like=$(printf 'a%.0s' $(seq 1 1100))-en-0lf9pm51c000000
foreign=(
	"" abc 1234567890 5f3c2a9e8b7d4c1f0a6e9d8c7b6a5f4e "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
	550e8400-e29b-41d4-a716-446655440000 shortseller-001-en-0lf9pm51c000000
	shortseller_001-en-0lf9pm51c00000 bot--0lf9pm51c000000 -en-0lf9pm51c000000
	bot-en-0LF9PM51C000000 bot-en-0lf9pm51c000000- abcdefghijklmnopqrs-x-0lf9pm51c000000
	bot:entry bot:entry:1678886400:1 bot:entry:-5 bot:entry:1234567890123456 'a"b\c'
	"$long_a" "$wire_like" "$(printf 'x\001y\377')"
)
parse_all parse-foreign-and-oversized 0 "${foreign[@]}"
foreign_bad=0
for id in "${foreign[@]}"; do
	if [[ $id == -* ]]; then verb_run 0 parse -- "$id"; else verb_run 0 parse "$id"; fi >"$tmp/f"
	rc=$?
	grep -q '"ours":false}$' "$tmp/f" && [ "$rc" -eq 65 ] || { foreign_bad=1; echo "    ${id:0:60}: exit $rc $(cat "$tmp/f")"; }
done
[ "$foreign_bad" -eq 0 ] && ok foreign-ids-are-not-ours-exit-65 || bad foreign-ids-are-not-ours-exit-65
parse_all parse-wire-ids 1 shortseller_001-en-0lf9pm51c000000 lxalgo_001-r3-00000000064sgsf \
	momentum_001-vb-zzzzzzzzz64sgsg lxalgo_001-bo-0lf9pm51c000000 lxalgo_001-e-0lf9pm51c000000 \
	b-breakout_v2-0lf9pm51c000000 abcdefghijklmnopq-en-0lf9pm51c000000
parse_all parse-wire-ids-without-aliases 0 lxalgo_001-bo-0lf9pm51c000000 lxalgo_001-e-0lf9pm51c000000

# The same refusals, word for word.
refuse_cases=("abcdefghijklmnopqr entry" "momentum_001 breakout_retest" "abcdefghijklmnopqrs entry"
	"b breakout_retest_long" "abcdefghijklmnopqrst breakout_retest_long" "bot-1 entry"
	"bot stop:loss" "abcdefghijklmnopqrstu entry" "b abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop")
refuse_bad=0
: >"$tmp/cmds"
for c in "${refuse_cases[@]}"; do
	read -r bot reason <<<"$c"
	printf 'new\t%s\t%s\n' "$bot" "$reason" >>"$tmp/cmds"
done
"$tmp/cdrv" <"$tmp/cmds" >"$tmp/ref.c"
"$py" "$tmp/pydrv.py" <"$tmp/cmds" >"$tmp/ref.py"
i=0
for c in "${refuse_cases[@]}"; do
	i=$((i + 1))
	read -r bot reason <<<"$c"
	v=$(verb_run 0 new "$bot" "$reason")
	rc=$?
	cc=$(sed -n "${i}p" "$tmp/ref.c")
	p=$(sed -n "${i}p" "$tmp/ref.py")
	case $v in
	"error id would be"*) want_rc=65 ;;
	*) want_rc=64 ;;
	esac
	if [ "$v" != "$cc" ] || [ "$v" != "$p" ] || [[ $v != error* ]] || [ "$rc" -ne "$want_rc" ]; then
		refuse_bad=1
		echo "    $c: verb (exit $rc) $v"
		echo "        c    $cc"
		echo "        py   $p"
	fi
done
[ "$refuse_bad" -eq 0 ] && ok "same-refusals (${#refuse_cases[@]} cases, exit 65 or 64)" ||
	bad same-refusals
v=$(verb_run 0 new abcdefghijklmnopqr entry)
[[ $v == *"shorten bot id 'abcdefghijklmnopqr' to at most 17 characters"* ]] &&
	ok refusal-names-the-fix || bad refusal-names-the-fix "$v"

# Same seed and clock: the same id from the C helper and the Python module.
: >"$tmp/cmds"
for s in 0 1 2176782335 2176782336 18446744073709551615 12345678901234567; do
	for c in "shortseller_001 entry" "lxalgo_001 rule_3" "momentum_001 breakout_retest" "b x"; do
		read -r bot reason <<<"$c"
		printf 'seeded\t%s\t%s\t%s\t%s\n' "$s" "$((1678886400000 + s % 1000))" "$bot" "$reason" >>"$tmp/cmds"
	done
done
printf 'seeded\t7\t0\tb\tx\nseeded\t7\t101559956668415\tb\tx\nseeded\t7\t101559956668416\tb\tx\n' >>"$tmp/cmds"
"$tmp/cdrv" "${alias_args[@]}" <"$tmp/cmds" >"$tmp/seeded.c"
"$py" "$tmp/pydrv.py" "${alias_args[@]}" <"$tmp/cmds" >"$tmp/seeded.py"
if cmp -s "$tmp/seeded.c" "$tmp/seeded.py" && grep -qx 'shortseller_001-e-0lf9pm51c000000' "$tmp/seeded.c"; then
	ok "same-seed-same-id ($(wc -l <"$tmp/seeded.c") ids)"
else
	bad same-seed-same-id "$(diff "$tmp/seeded.c" "$tmp/seeded.py" | head -5)"
fi

# Many ids from all three at once (same bot, reason and wall clock): unique.
n=20000
printf 'bulk\t%s\tshortseller_001\tentry\n' "$n" | "$tmp/cdrv" >"$tmp/all" &
printf 'bulk\t%s\tshortseller_001\tentry\n' "$n" | "$py" "$tmp/pydrv.py" >>"$tmp/all.py" &
for _ in $(seq 1 100); do verb_run 0 new shortseller_001 entry; done |
	sed 's/^{"id":"\([^"]*\)".*/\1/' >"$tmp/all.verb"
wait
cat "$tmp/all.py" "$tmp/all.verb" >>"$tmp/all"
total=$(wc -l <"$tmp/all")
dups=$(sort "$tmp/all" | uniq -d | wc -l)
badfmt=$(grep -cvE '^shortseller_001-en-[0-9a-z]{15}$' "$tmp/all")
if [ "$total" -eq $((2 * n + 100)) ] && [ "$dups" -eq 0 ] && [ "$badfmt" -eq 0 ]; then
	ok "unique-across-generators ($total ids)"
else
	bad unique-across-generators "total $total, duplicates $dups, malformed $badfmt"
fi

# The Python module's own command line, as a bot's operator would use it.
pyout=$("$py" src/clients/fillrelay_orderid.py new momentum_001 volatility_breakout)
[ $? -eq 0 ] && [[ $pyout == '{"id":"momentum_001-vb-'*'"reason":"volatility_breakout"'* ]] &&
	ok python-cli-new || bad python-cli-new "$pyout"
pyout=$("$py" src/clients/fillrelay_orderid.py parse "$(verb_run 0 new lxalgo_001 rule_3 | sed 's/^{"id":"\([^"]*\)".*/\1/')")
[ $? -eq 0 ] && [[ $pyout == *'"reason":"rule_3","reason_wire":"r3"'* ]] && ok python-cli-parse ||
	bad python-cli-parse "$pyout"
"$py" src/clients/fillrelay_orderid.py parse 550e8400-e29b-41d4-a716-446655440000 >/dev/null 2>&1
[ $? -eq 65 ] && ok python-cli-foreign-exit-65 || bad python-cli-foreign-exit-65
"$py" src/clients/fillrelay_orderid.py new only_bot >/dev/null 2>&1
[ $? -eq 64 ] && ok python-cli-usage-exit-64 || bad python-cli-usage-exit-64

# The Python module re-seeds in a forked child (else both would walk the same values).
pyfork=$("$py" - <<'EOF'
import os, sys
sys.path.insert(0, "src/clients")
import fillrelay_orderid as f
g = f.Generator()
g.new("b", "x", now_ms=5)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, g.new("b", "x", now_ms=5).encode())
    os._exit(0)
os.waitpid(pid, 0)
child = os.read(r, 100).decode()
print("differ" if child != g.new("b", "x", now_ms=5) and child.startswith("b-x-") else "same")
EOF
)
[ "$pyfork" = differ ] && ok python-reseeds-after-fork || bad python-reseeds-after-fork "$pyfork"

# The verb's own edges: usage, a configuration whose alias clashes.
verb_run 0 new onlybot >/dev/null 2>&1
[ $? -eq 64 ] && ok verb-usage-exit-64 || bad verb-usage-exit-64
verb_run 0 frobnicate x >/dev/null 2>&1
[ $? -eq 64 ] && ok verb-unknown-subverb-exit-64 || bad verb-unknown-subverb-exit-64
sed 's/^bo = breakout_retest$/vb = breakout_v2/' "$tmp/aliases.conf" >"$tmp/clash.conf"
chmod 600 "$tmp/clash.conf"
"$bin" -c "$tmp/clash.conf" orderid new lxalgo_001 entry >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 78 ] && grep -q "clash.conf:10: alias 'vb' is built in for 'volatility_breakout'" "$tmp/err" &&
	ok verb-refuses-clashing-alias-exit-78 || bad verb-refuses-clashing-alias-exit-78 "exit $rc: $(cat "$tmp/err")"
"$bin" -c "$tmp/aliases.conf" orderid new ghost_bot entry >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && grep -q "warning: bot 'ghost_bot' is not in" "$tmp/err" &&
	ok verb-warns-unknown-bot || bad verb-warns-unknown-bot "exit $rc: $(cat "$tmp/err")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
