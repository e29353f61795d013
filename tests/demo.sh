#!/usr/bin/env bash
# make demo: start a private PostgreSQL, Redis and pgbouncer (tests/services.sh)
# and the local Bybit-compatible peer (tests/peer/), write a configuration for
# the seed's three bots (one account each), and run fillrelay against them:
# `fillrelay version`, `check`, `check --connect` (REST with each account's
# key, the clock offset, the private stream authenticated and subscribed),
# then `fillrelay run` in the background (log: DIR/fillrelay.log), the
# three-bot scenario played through the peer (tests/scenario/three_bots.sh:
# the seed's query 1 and 2, its Redis reads, trading.orders / positions /
# wallet and the position_detail hashes, asserted, also through pgbouncer),
# and fillrelay stopped with SIGTERM. Without `fillrelay run` in the build it
# stops after check --connect and says so.
#
# Environment: FR_DEMO_BIN (default build/x86_64/fillrelay), FR_DEMO_DIR
# (default build/demo; emptied first). Exit status: the scenario's (0 when
# every check passed), 0 when run is not available yet.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FR_DEMO_BIN:-build/x86_64/fillrelay}
dir=${FR_DEMO_DIR:-build/demo}
rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
peer_pid=
run_pid=
cleanup() {
	if [ -n "$run_pid" ]; then kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
	if [ -n "$peer_pid" ]; then
		# SIGTERM, then SIGKILL if the peer is still closing connections after 3 s.
		kill "$peer_pid" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$peer_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$peer_pid" 2>/dev/null || true
	fi
	bash tests/services.sh stop "$dir/services" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash tests/services.sh start "$dir/services" >/dev/null
. "$dir/services/env"

# The local exchange: a test CA and certificates, then the peer on free ports.
for i in 1 2 3; do
	export "FR_DEMO_API_KEY_$i=demo-api-key-000$i" "FR_DEMO_API_SECRET_$i=demo-api-secret-000$i"
done
tests/peer/mkcerts.sh "$dir/peer" >/dev/null 2>&1
/usr/bin/python3 tests/peer/bybit_peer.py --dir "$dir/peer" --ws-port 0 --rest-port 0 \
	--control-port 0 --ready-file "$dir/peer/ready" \
	--accounts "$FR_DEMO_API_KEY_1:$FR_DEMO_API_SECRET_1,$FR_DEMO_API_KEY_2:$FR_DEMO_API_SECRET_2,$FR_DEMO_API_KEY_3:$FR_DEMO_API_SECRET_3" \
	>/dev/null 2>"$dir/peer/peer.log" &
peer_pid=$!
for _ in $(seq 100); do [ -s "$dir/peer/ready" ] && break; sleep 0.1; done
read -r _ ws rest ctl <"$dir/peer/ready"
ws=${ws#ws=} rest=${rest#rest=} ctl=${ctl#control=}
# A free port for /metrics and /healthz, so two demos (make demo beside make
# test) do not meet on 9464.
metrics_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$dir/fillrelay.conf" <<CONF
# Written by tests/demo.sh: the seed's three bots, each on its own demo account.
[listener]
instance = demo
spill_dir = $dir/spill
metrics_addr = 127.0.0.1:$metrics_port
[exchange]
# The local peer; its certificate names "localhost" (BearSSL checks DNS names).
ws_url = wss://localhost:$ws/v5/private
rest_url = https://localhost:$rest
ca_file = $dir/peer/ca.pem
# One account (or sub-account) per bot, as in the seed: each bot has its own key.
[account shortseller]
api_key = env:FR_DEMO_API_KEY_1
api_secret = env:FR_DEMO_API_SECRET_1
[account lxalgo]
api_key = env:FR_DEMO_API_KEY_2
api_secret = env:FR_DEMO_API_SECRET_2
[account momentum]
api_key = env:FR_DEMO_API_KEY_3
api_secret = env:FR_DEMO_API_SECRET_3
[bot shortseller_001]
account = shortseller
redis_db = 0
[bot lxalgo_001]
account = lxalgo
redis_db = 1
[bot momentum_001]
account = momentum
redis_db = 2
[reasons]
tsx = trailing_stop
[postgres]
conninfo = hostaddr=$FR_TEST_PGHOST port=$FR_TEST_PGPORT dbname=$FR_TEST_PGDATABASE user=$FR_TEST_PGUSER
password = env:FR_TEST_PGPASSWORD
[redis]
host = $FR_TEST_REDIS_HOST
port = $FR_TEST_REDIS_PORT
password = env:FR_TEST_REDIS_PASSWORD
CONF
chmod 600 "$dir/fillrelay.conf"

echo "== fillrelay version"
"$bin" version
echo
echo "== fillrelay check -c $dir/fillrelay.conf"
"$bin" check -c "$dir/fillrelay.conf"
echo
echo "== fillrelay check -c $dir/fillrelay.conf --connect   (the local Bybit peer on :$ws/:$rest)"
"$bin" check -c "$dir/fillrelay.conf" --connect
echo
if "$bin" run --help 2>&1 | grep -q "ot yet available"; then
	echo "== PostgreSQL and Redis are up for it:"
	echo "   psql: PGPASSWORD=... psql -h $FR_TEST_PGHOST -p $FR_TEST_PGPORT -U $FR_TEST_PGUSER $FR_TEST_PGDATABASE"
	echo "   redis: redis-cli -p $FR_TEST_REDIS_PORT (AUTH required)"
	echo
	echo "   peer control: curl -s http://127.0.0.1:$ctl/state   (tests/peer/README.md)"
	echo
	echo "The three-bot scenario (tests/scenario/three_bots.sh) needs \`fillrelay run\`,"
	echo "which is not yet available in this build; the demo stops the servers and the peer now."
	exit 0
fi

# The journal's directory (spill_dir) is created by fillrelay run itself.
echo "== fillrelay run -c $dir/fillrelay.conf   (background; log: $dir/fillrelay.log)"
"$bin" run -c "$dir/fillrelay.conf" >"$dir/fillrelay.log" 2>&1 &
run_pid=$!
healthy=0
for _ in $(seq 150); do
	if "$bin" health "127.0.0.1:$metrics_port" >"$dir/health.out" 2>&1; then healthy=1; break; fi
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.2
done
if [ "$healthy" = 0 ]; then
	echo "fillrelay did not become healthy; its log ($dir/fillrelay.log) ends:"
	tail -n 30 "$dir/fillrelay.log"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "   /healthz: $(head -c 300 "$dir/health.out")"
echo "   the seed's debugging milestones in the log:"
grep -E 'PostgreSQL|Redis|WebSocket|authenticat|subscri' "$dir/fillrelay.log" | head -n 12 | sed 's/^/   /' || true
echo

rc=0
bash tests/scenario/three_bots.sh --pgbouncer --timeout "${FR_DEMO_TIMEOUT:-30}" "$ctl" || rc=$?

echo
echo "== stopping fillrelay (SIGTERM)"
kill -TERM "$run_pid"
stopped=0
for _ in $(seq 100); do
	kill -0 "$run_pid" 2>/dev/null || { stopped=1; break; }
	sleep 0.1
done
if [ "$stopped" = 1 ]; then
	wait "$run_pid" && echo "   fillrelay exited with status 0" || echo "   fillrelay exited with status $?"
else
	echo "   fillrelay still running 10 s after SIGTERM: killed"
	kill -KILL "$run_pid" 2>/dev/null
	rc=1
fi
run_pid=
exit "$rc"
