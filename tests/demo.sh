#!/usr/bin/env bash
# make demo: start a private PostgreSQL and Redis, write a configuration that
# points fillrelay at them, and run what this build can do with it.
#
# Today (Foundation) that is `fillrelay version` and `fillrelay check`; the
# exchange peer, `fillrelay run` and the seed's three queries join as their
# issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/x86_64/fillrelay
dir=build/demo
rm -rf "$dir"
mkdir -p "$dir"
trap 'bash tests/services.sh stop "$dir/services" >/dev/null 2>&1 || true' EXIT
bash tests/services.sh start "$dir/services" >/dev/null
. "$dir/services/env"

printf -- '-----BEGIN CERTIFICATE-----\n' >"$dir/ca.pem" # replaced by the peer's CA later
cat >"$dir/fillrelay.conf" <<CONF
# Written by tests/demo.sh: the seed's three bots, each on its own demo account.
[listener]
instance = demo
spill_dir = $PWD/$dir/spill
metrics_addr = 127.0.0.1:9464
[exchange]
ws_url = wss://127.0.0.1:8443/v5/private
rest_url = https://127.0.0.1:8443
ca_file = $PWD/$dir/ca.pem
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
for i in 1 2 3; do
	export "FR_DEMO_API_KEY_$i=demo-api-key-000$i" "FR_DEMO_API_SECRET_$i=demo-api-secret-000$i"
done

echo "== fillrelay version"
"$bin" version
echo
echo "== fillrelay check -c $dir/fillrelay.conf"
"$bin" check -c "$dir/fillrelay.conf"
echo
echo "== PostgreSQL and Redis are up for it:"
echo "   psql: PGPASSWORD=... psql -h $FR_TEST_PGHOST -p $FR_TEST_PGPORT -U $FR_TEST_PGUSER $FR_TEST_PGDATABASE"
echo "   redis: redis-cli -p $FR_TEST_REDIS_PORT (AUTH required)"
echo
echo "fillrelay run is not yet available in this build (it arrives with the sink path);"
echo "the demo stops the servers now."
