#!/usr/bin/env bash
# fuzz/run.sh SECONDS: runs every libFuzzer target in build/fuzz.
#   SECONDS = 0: replays each target's committed corpus (fuzz/corpus/NAME) once,
#                as `make test` does; a crash on any input fails the suite.
#   SECONDS > 0: fuzzes each target that long, starting from its corpus and its
#                dictionary (fuzz/NAME.dict); new inputs go to build/fuzz/corpus-NAME,
#                never into the repository. Crashes are left in build/fuzz/.
# Ends with "N passed, N failed" (one per target).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
pass=0
fail=0
for bin in build/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin#build/fuzz/fuzz_}
	corpus=fuzz/corpus/$name
	dict=()
	[ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		echo "FAIL $name: no seed corpus in $corpus"
		fail=$((fail + 1))
		continue
	fi
	if [ "$seconds" -eq 0 ]; then
		out=$("$bin" -runs=0 "$corpus" 2>&1)
	else
		work=build/fuzz/corpus-$name
		mkdir -p "$work"
		out=$("$bin" "${dict[@]}" -max_total_time="$seconds" -artifact_prefix=build/fuzz/ \
			-print_final_stats=1 "$work" "$corpus" 2>&1)
	fi
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok   $name ($(echo "$out" | grep -Eo '(INITED|DONE) .*' | tail -n 1))"
		pass=$((pass + 1))
	else
		echo "$out" | tail -n 40
		echo "FAIL $name (exit $rc)"
		fail=$((fail + 1))
	fi
done
if [ $((pass + fail)) -eq 0 ]; then
	echo "no fuzz target built (make FLAVOR=fuzz fuzz-bin)"
	fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
