# image/e2e.sh -- sourced (bash) by image/test-oci.sh and image/test-board.sh: a
# local exchange and its sinks for a packaged fillrelay, and the checks that a
# fill went through it.
#
#   e2e_up DIR            PostgreSQL, Redis (tests/services.sh), the test CA and
#                         the Bybit peer (tests/peer/) on free loopback ports;
#                         sets E2E_WS E2E_REST E2E_CTL and the FR_TEST_* variables
#   e2e_conf FILE EXCHANGE_HOST WS_PORT REST_PORT CA PG_HOST PG_PORT REDIS_HOST
#            REDIS_PORT SPILL_DIR SECRETS_DIR METRICS_ADDR
#                         a configuration for one account and one bot, its
#                         secrets read from files under SECRETS_DIR (as Docker
#                         secrets are); the secret files go in DIR/secrets
#   e2e_push N            pushes the bot's Nth fill (0.001 BTCUSDT bought)
#   e2e_wait N SECONDS    waits until PostgreSQL holds fill N exactly once and
#                         Redis the position N x 0.001; ok/bad on the way
#   e2e_down              stops the peer and the servers (also on exit)
#   e2e_free_port         a free TCP port of 127.0.0.1
# ok/bad/E2E_PASS/E2E_FAIL count checks; e2e_summary prints "N passed, N failed".
E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_KEY=e2e-api-key-0001
E2E_SECRET=e2e-api-secret-0001
E2E_BOT=probe_001
E2E_PASS=0
E2E_FAIL=0
E2E_PEER=
E2E_DIR=
. "$E2E_ROOT/tests/scenario/bybit_json.sh"

ok() { E2E_PASS=$((E2E_PASS + 1)); echo "ok   $*"; }
bad() { E2E_FAIL=$((E2E_FAIL + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
e2e_summary() {
	echo "$E2E_PASS passed, $E2E_FAIL failed"
	[ "$E2E_FAIL" = 0 ]
}

e2e_up() {
	E2E_DIR=$1
	mkdir -p "$E2E_DIR/peer" "$E2E_DIR/secrets"
	bash "$E2E_ROOT/tests/services.sh" start "$E2E_DIR/services" >/dev/null
	. "$E2E_DIR/services/env"
	"$E2E_ROOT/tests/peer/mkcerts.sh" "$E2E_DIR/peer" >/dev/null 2>&1
	/usr/bin/python3 "$E2E_ROOT/tests/peer/bybit_peer.py" --dir "$E2E_DIR/peer" --ws-port 0 \
		--rest-port 0 --control-port 0 --ready-file "$E2E_DIR/peer/ready" \
		--accounts "$E2E_KEY:$E2E_SECRET" >/dev/null 2>"$E2E_DIR/peer/peer.log" &
	E2E_PEER=$!
	for _ in $(seq 100); do [ -s "$E2E_DIR/peer/ready" ] && break; sleep 0.1; done
	read -r _ E2E_WS E2E_REST E2E_CTL <"$E2E_DIR/peer/ready"
	E2E_WS=${E2E_WS#ws=} E2E_REST=${E2E_REST#rest=} E2E_CTL=${E2E_CTL#control=}
	printf '%s\n' "$E2E_KEY" >"$E2E_DIR/secrets/bybit_api_key"
	printf '%s\n' "$E2E_SECRET" >"$E2E_DIR/secrets/bybit_api_secret"
	printf '%s\n' "$FR_TEST_PGPASSWORD" >"$E2E_DIR/secrets/postgres_password"
	printf '%s\n' "$FR_TEST_REDIS_PASSWORD" >"$E2E_DIR/secrets/redis_password"
	chmod 600 "$E2E_DIR"/secrets/*
}

e2e_down() {
	if [ -n "$E2E_PEER" ]; then
		kill "$E2E_PEER" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$E2E_PEER" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$E2E_PEER" 2>/dev/null || true
		E2E_PEER=
	fi
	[ -z "$E2E_DIR" ] || bash "$E2E_ROOT/tests/services.sh" stop "$E2E_DIR/services" >/dev/null 2>&1 || true
}

e2e_conf() {
	cat >"$1" <<CONF
# Written by image/e2e.sh: one account, one bot, against the local peer.
[listener]
instance = e2e
spill_dir = ${10}
metrics_addr = ${12}
[exchange]
ws_url = wss://$2:$3/v5/private
rest_url = https://$2:$4
ca_file = $5
[account probe]
api_key = file:${11}/bybit_api_key
api_secret = file:${11}/bybit_api_secret
[bot $E2E_BOT]
account = probe
redis_db = 0
[postgres]
conninfo = hostaddr=$6 port=$7 dbname=$FR_TEST_PGDATABASE user=$FR_TEST_PGUSER
password = file:${11}/postgres_password
[redis]
host = $8
port = $9
password = file:${11}/redis_password
CONF
}

e2e_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

e2e_sql() {
	PGPASSWORD=$FR_TEST_PGPASSWORD psql -X -q -t -A -h "$FR_TEST_PGHOST" -p "$FR_TEST_PGPORT" \
		-U "$FR_TEST_PGUSER" -d "$FR_TEST_PGDATABASE" -c "$1" 2>/dev/null
}
e2e_redis() {
	REDISCLI_AUTH=$FR_TEST_REDIS_PASSWORD redis-cli --no-auth-warning -h "$FR_TEST_REDIS_HOST" \
		-p "$FR_TEST_REDIS_PORT" "$@" 2>/dev/null
}

# The Nth fill: 0.001 BTCUSDT bought at 50000 + N, execTime now.
e2e_push() {
	local n=$1 t link x ans
	t=$(($(date +%s%N) / 1000000))
	link=$(oid "$E2E_BOT" open "$t" "$n")
	x=$(execution "e2e-exec-$n" "e2e-order-$n" "$link" BTCUSDT Buy 0.001 $((50000 + n)) \
		"$((50000 + n)).0" 0.0275 0.00055 false "$t" $((1000 + n)) Market UNKNOWN 0 0)
	ans=$(curl -s --max-time 20 -d "{\"account\":\"$E2E_KEY\",\"payload\":{\"id\":\"e2e-$n\",\"topic\":\"execution\",\"creationTime\":$t,\"data\":[$x]}}" \
		"http://127.0.0.1:$E2E_CTL/push")
	case $ans in
	*'"delivered":1'*) ok "fill $n pushed by the peer on the live stream" ;;
	*) bad "fill $n pushed by the peer: $ans" ;;
	esac
	# The same record in the exchange's REST list, as Bybit would hold it.
	curl -s --max-time 20 -d "{\"account\":\"$E2E_KEY\",\"kind\":\"execution\",\"category\":\"linear\",\"items\":[$x]}" \
		"http://127.0.0.1:$E2E_CTL/load" >/dev/null
}

e2e_wait() {
	local n=$1 s=$2 rows pos want
	want=$(printf '0.%03d' "$n")
	for _ in $(seq $((s * 5))); do
		rows=$(e2e_sql "SELECT count(*) FROM trading.fills WHERE exec_id = 'e2e-exec-$n' AND bot_id = '$E2E_BOT'")
		pos=$(e2e_redis GET "$E2E_BOT:position:BTCUSDT")
		[ "$rows" = 1 ] && [ "$pos" = "$want" ] && break
		sleep 0.2
	done
	check "fill $n in PostgreSQL (trading.fills, bot $E2E_BOT): $rows row(s), want 1" [ "$rows" = 1 ]
	check "Redis GET $E2E_BOT:position:BTCUSDT = \"$pos\", want \"$want\"" [ "$pos" = "$want" ]
}

# e2e_subscribed SECONDS: the peer saw the account's stream subscribe.
e2e_subscribed() {
	local ans
	ans=$(curl -s --max-time $(($1 + 5)) -d "{\"counter\":\"subscribed_open\",\"account\":\"$E2E_KEY\",\"atleast\":1,\"timeout_ms\":$(($1 * 1000))}" \
		"http://127.0.0.1:$E2E_CTL/wait")
	case $ans in *'"ok":true'*) return 0 ;; esac
	echo "   peer /wait: $ans"
	return 1
}
