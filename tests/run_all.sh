#!/usr/bin/env bash
# Runs every test suite of `make test` and ends with one line "N passed, N failed".
#
# Suites: product unit tests (static musl, fixed arena), the same under ASan/UBSan,
# the command line, the fuzz corpora replayed, and the integration tests against a
# private PostgreSQL 15 and Redis 7 (tests/services.sh), in both builds.
# Each suite prints its own "N passed, N failed" line; this script adds them up.
set -uo pipefail
cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
log_dir=$(mktemp -d /tmp/fr-run-all-XXXXXX)
trap 'rm -rf "$log_dir"' EXIT

# suite NAME COMMAND...: runs it, shows its output, and counts its closing line.
suite() {
	local name=$1 out="$log_dir/$1.log" rc line p f
	shift
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: no result line (exit $rc): counted as 1 failure"
		total_fail=$((total_fail + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: exit $rc with no failed test: counted as 1 failure"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

suite unit-product build/x86_64/test_unit
suite unit-asan build/asan/test_unit
suite cli bash tests/cli.sh build/x86_64/fillrelay
suite orderid-cross bash tests/orderid_cross.sh build/x86_64/fillrelay
suite fuzz-corpora bash fuzz/run.sh 0
suite peer-selftest bash tests/peer/selftest.sh
svc="$log_dir/services"
trap 'bash tests/services.sh stop "$svc" >/dev/null 2>&1; rm -rf "$log_dir"' EXIT
if bash tests/services.sh start "$svc" >"$log_dir/services.log" 2>&1; then
	# shellcheck disable=SC1091
	. "$svc/env"
	suite integration-product build/x86_64/test_it
	suite integration-asan build/asan/test_it
	bash tests/services.sh stop "$svc" >/dev/null 2>&1
else
	cat "$log_dir/services.log"
	echo "integration: PostgreSQL/Redis did not start: counted as 1 failure"
	total_fail=$((total_fail + 1))
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
