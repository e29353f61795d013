#!/usr/bin/env bash
# make bench: figures, not a timed test (issue #5). Starts a private PostgreSQL
# and Redis (tests/services.sh), the local Bybit peer (tests/peer/), and
# `fillrelay run` with a one-bot configuration (as tests/demo.sh does), then
# tests/bench/bench.py measures, and everything is stopped on exit (trap).
# Prints one table (figure, measured, target or ceiling, note) and writes it to
# build/bench/report.txt. Never fails on a slow figure: exit status 1 only
# when something could not be measured (a phase failed, a start-up failed).
#
# Environment:
#   FR_BENCH_BIN          fillrelay binary (default build/x86_64/fillrelay: make bench)
#   FR_BENCH_DIR          work directory (default build/bench/run; emptied first)
#   FR_BENCH_FILLS        fills of the throughput phase (default 100000)
#   FR_BENCH_RSS_FILLS    fills applied in all by the end of the RSS phase (1000000)
#   FR_BENCH_RSS_BUDGET_S time allowed for the RSS phase's pushing (240)
#   FR_BENCH_LAT_FILLS    fills of the latency phase (5000), FR_BENCH_LAT_RATE (1000/s)
#   FR_BENCH_PEER_FILLS   fills of the peer-ceiling phase (min(FILLS, 50000))
#   FR_BENCH_PER_MSG      executions per WebSocket message (1), FR_BENCH_BATCH
#                         messages per /push request (500)
#   FR_BENCH_FSYNC        spill_fsync policy of the run (batch: the default)
#   FR_BENCH_PHASES       subset of peer,latency,thru,rss,pg,fsync
#   FR_BENCH_SMAPS_DIR    copy fillrelay's /proc/PID/smaps there at each RSS mark
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${FR_BENCH_BIN:-build/x86_64/fillrelay}
dir=${FR_BENCH_DIR:-build/bench/run}
report=build/bench/report.txt
[ -x "$bin" ] || { echo "bench: no fillrelay binary at $bin (make bench builds it)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir" build/bench
dir=$(cd "$dir" && pwd)
peer_pid=
run_pid=
cleanup() {
	if [ -n "$run_pid" ]; then kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
	if [ -n "$peer_pid" ]; then
		kill "$peer_pid" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$peer_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$peer_pid" 2>/dev/null || true
	fi
	bash tests/services.sh stop "$dir/services" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash tests/services.sh start "$dir/services" >/dev/null
. "$dir/services/env"

key=bench-api-key-0001 secret=bench-api-secret-0001
sink_key=bench-sink-key-0002 sink_secret=bench-sink-secret-0002
export FR_BENCH_API_KEY=$key FR_BENCH_API_SECRET=$secret
tests/peer/mkcerts.sh "$dir/peer" >/dev/null 2>&1
/usr/bin/python3 tests/peer/bybit_peer.py --dir "$dir/peer" --ws-port 0 --rest-port 0 \
	--control-port 0 --ready-file "$dir/peer/ready" --log-level warning \
	--accounts "$key:$secret,$sink_key:$sink_secret" >/dev/null 2>"$dir/peer/peer.log" &
peer_pid=$!
for _ in $(seq 100); do [ -s "$dir/peer/ready" ] && break; sleep 0.1; done
read -r _ ws rest ctl <"$dir/peer/ready"
ws=${ws#ws=} rest=${rest#rest=} ctl=${ctl#control=}
metrics_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/spill"
cat >"$dir/fillrelay.conf" <<CONF
# Written by tests/bench/run.sh: one bot on one account, the local peer.
[listener]
instance = bench
spill_dir = $dir/spill
spill_fsync = ${FR_BENCH_FSYNC:-batch}
metrics_addr = 127.0.0.1:$metrics_port
[exchange]
ws_url = wss://localhost:$ws/v5/private
rest_url = https://localhost:$rest
ca_file = $dir/peer/ca.pem
[account bench]
api_key = env:FR_BENCH_API_KEY
api_secret = env:FR_BENCH_API_SECRET
[bot bench_001]
account = bench
redis_db = 0
[postgres]
conninfo = hostaddr=$FR_TEST_PGHOST port=$FR_TEST_PGPORT dbname=$FR_TEST_PGDATABASE user=$FR_TEST_PGUSER
password = env:FR_TEST_PGPASSWORD
[redis]
host = $FR_TEST_REDIS_HOST
port = $FR_TEST_REDIS_PORT
password = env:FR_TEST_REDIS_PASSWORD
CONF
chmod 600 "$dir/fillrelay.conf"
"$bin" run -c "$dir/fillrelay.conf" >"$dir/fillrelay.log" 2>&1 &
run_pid=$!
healthy=0
for _ in $(seq 150); do
	if "$bin" health "127.0.0.1:$metrics_port" >"$dir/health.out" 2>&1; then healthy=1; break; fi
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.2
done
if [ "$healthy" = 0 ]; then
	echo "bench: fillrelay did not become healthy; its log ($dir/fillrelay.log) ends:" >&2
	tail -n 30 "$dir/fillrelay.log" >&2
	exit 1
fi
# Healthy is not yet subscribed: wait for the peer to see the subscription.
curl -sf -d "{\"counter\":\"subscribe_ok\",\"account\":\"$key\",\"timeout_ms\":20000}" \
	"http://127.0.0.1:$ctl/wait" >/dev/null || { echo "bench: fillrelay never subscribed" >&2; exit 1; }
echo "bench: fillrelay pid $run_pid healthy; peer ws=$ws control=$ctl; work dir $dir" >&2

rc=0
BENCH_CTL_PORT=$ctl BENCH_WS_PORT=$ws BENCH_CA=$dir/peer/ca.pem \
	BENCH_KEY=$key BENCH_SECRET=$secret BENCH_SINK_KEY=$sink_key BENCH_SINK_SECRET=$sink_secret \
	BENCH_FR_PID=$run_pid BENCH_METRICS=127.0.0.1:$metrics_port BENCH_SPILL=$dir/spill \
	BENCH_REPORT=$report BENCH_DIR=$dir \
	/usr/bin/python3 tests/bench/bench.py || rc=$?
if ! kill -0 "$run_pid" 2>/dev/null; then
	echo "bench: fillrelay exited during the bench; its log ends:" >&2
	tail -n 20 "$dir/fillrelay.log" >&2
	rc=1
fi
errs=$(grep -c 'level=error' "$dir/fillrelay.log" || true)
[ "$errs" = 0 ] || { echo "bench: fillrelay logged $errs errors ($dir/fillrelay.log), first:" >&2; grep -m3 'level=error' "$dir/fillrelay.log" >&2; }
echo "report: $report" >&2
exit "$rc"
