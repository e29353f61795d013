#!/usr/bin/env bash
# The seed's three-bot scenario (issue #5 acceptance; the seed guide's testing
# checklist, automated). Plays Bybit pushes through the local peer
# (tests/peer/) to a running `fillrelay run`, waits until PostgreSQL and Redis
# hold them, prints the seed's queries and Redis reads, and asserts the values.
#
#   tests/scenario/three_bots.sh [--pgbouncer] [--timeout SECONDS] CONTROL_PORT
#   tests/scenario/three_bots.sh --dump DIR       (write the pushes, contact nothing)
#   tests/scenario/three_bots.sh --report-only [--pgbouncer]   (assert, play nothing)
#
# Needs: the peer's control port; fillrelay running with the demo's
# configuration (tests/demo.sh writes it: accounts shortseller, lxalgo,
# momentum with keys FR_DEMO_API_KEY_1..3, bots shortseller_001 / lxalgo_001 /
# momentum_001 in Redis dbs 0 / 1 / 2, category linear); the services' env
# (tests/services.sh: FR_TEST_PG*, FR_TEST_REDIS_*, FR_TEST_PGBOUNCER_PORT);
# a fresh database (the expected rows are the scenario's alone).
# --pgbouncer also runs every query through pgbouncer (transaction pooling, as
# the seed connects) and asserts the output equal to the direct one.
# --dump writes every push payload to DIR/push-NN-TOPIC.json (one message per
# file, for `fillrelay decode`) and the REST loads to DIR/load-NN-KIND.json.
# --report-only prints and asserts what PostgreSQL and Redis hold now.
# Ends with "N passed, N failed"; exit status 1 on any failure, 2 on usage.
#
# Tools: bash, curl, psql (postgresql-15), redis-cli (redis-server): all in
# tests/deps.sh. Timestamps are fixed (2026-01-01T00:00:00Z onwards) and every
# id is built by hand, so the output is the same on every run.
set -uo pipefail

bouncer=0
timeout_s=30
dump=
report_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--pgbouncer) bouncer=1 ;;
	--dump) dump=$2; shift ;;
	--report-only) report_only=1 ;;
	--timeout) timeout_s=$2; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	-*) echo "three_bots.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
if [ $# -ne 1 ] && [ -z "$dump" ] && [ "$report_only" = 0 ]; then
	echo "usage: three_bots.sh [--pgbouncer] [--timeout SECONDS] CONTROL_PORT" >&2
	echo "       three_bots.sh --dump DIR | --report-only [--pgbouncer]" >&2
	exit 2
fi
C=http://127.0.0.1:${1:-0}
KEY_SS=${FR_DEMO_API_KEY_1:-demo-api-key-0001}
KEY_LX=${FR_DEMO_API_KEY_2:-demo-api-key-0002}
KEY_MO=${FR_DEMO_API_KEY_3:-demo-api-key-0003}
[ -n "$dump" ] || : "${FR_TEST_PGHOST:?services env missing (tests/services.sh)}"
guide=$(dirname "$0")/../../../shared/seed/BOT_INTEGRATION_GUIDE.md

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# ---- tools -----------------------------------------------------------------

# sql [--bouncer] [psql options...]: psql on the test database, UTC, no psqlrc.
sql() {
	local port=$FR_TEST_PGPORT
	if [ "${1:-}" = --bouncer ]; then port=$FR_TEST_PGBOUNCER_PORT; shift; fi
	PGPASSWORD=$FR_TEST_PGPASSWORD PGTZ=UTC psql -X -q -v ON_ERROR_STOP=1 \
		-h "$FR_TEST_PGHOST" -p "$port" -U "$FR_TEST_PGUSER" -d "$FR_TEST_PGDATABASE" "$@"
}
# rcli DB ARGS...: redis-cli on the test Redis (password through the environment).
rcli() {
	local db=$1
	shift
	REDISCLI_AUTH=$FR_TEST_REDIS_PASSWORD redis-cli --no-auth-warning \
		-h "$FR_TEST_REDIS_HOST" -p "$FR_TEST_REDIS_PORT" -n "$db" "$@"
}
# norm: exact decimals compared by value, not by scale: trailing fractional
# zeros dropped from every '|'-separated field that is a plain decimal
# ("0.010000" and "0.01" are the same numeric; "0.0100" stays unequal to "0.011").
norm() {
	sed -E ':a; s/(^|\|)(-?[0-9]+\.[0-9]*[1-9])0+(\||$)/\1\2\3/; ta;
		:b; s/(^|\|)(-?[0-9]+)\.0+(\||$)/\1\2\3/; tb'
}
# expect NAME EXPECTED ACTUAL (after norm)
expect() {
	local e a
	e=$(printf '%s\n' "$2" | norm)
	a=$(printf '%s\n' "$3" | norm)
	if [ "$e" = "$a" ]; then
		ok "$1"
	else
		bad "$1"
		echo "     expected: $(printf '%s' "$e" | sed 's/$/⏎/' | tr -d '\n')"
		echo "     actual:   $(printf '%s' "$a" | sed 's/$/⏎/' | tr -d '\n')"
	fi
}
# ctl PATH JSON: a peer control command; prints the answer.
ctl() { curl -s --max-time 20 -d "$2" "$C/$1"; }

# ---- the scenario's data -----------------------------------------------------
# Time: T0 = 2026-01-01T00:00:00Z in ms. All linear USDT perpetuals, one-way
# mode (positionIdx 0), taker fee rate 0.00055, maker 0.0002.
T0=1767225600000
ts() { echo $((T0 + $1)); }

. "$(dirname "$0")/bybit_json.sh"   # oid, execution
# order ID LINK SYMBOL SIDE TYPE QTY PRICE STATUS CUMQTY CUMVALUE AVG CUMFEE CREATED
#       UPDATED STOP_TYPE CREATE_TYPE REDUCE TRIGGER
# One order object as in Bybit's `order` topic (fixtures/bybit/order_*.json).
order() {
	local leaves
	leaves=$(if [ "$8" = Filled ]; then echo 0; else echo "$6"; fi)
	printf '{"category":"linear","symbol":"%s","orderId":"%s","side":"%s",' "$3" "$1" "$4"
	printf '"orderType":"%s","cancelType":"UNKNOWN","price":"%s","qty":"%s",' "$5" "$7" "$6"
	printf '"orderIv":"","timeInForce":"%s","orderStatus":"%s","orderLinkId":"%s",' \
		"$([ "$5" = Limit ] && echo GTC || echo IOC)" "$8" "$2"
	printf '"lastPriceOnCreated":"%s","reduceOnly":%s,"leavesQty":"%s","leavesValue":"0",' "$7" "${17}" "$leaves"
	printf '"cumExecQty":"%s","cumExecValue":"%s","avgPrice":"%s","blockTradeId":"",' "$9" "${10}" "${11}"
	printf '"positionIdx":0,"cumExecFee":"%s","closedPnl":"0","createdTime":"%s",' "${12}" "${13}"
	printf '"updatedTime":"%s","rejectReason":"EC_NoError","stopOrderType":"%s",' "${14}" "${15}"
	printf '"tpslMode":"%s","triggerPrice":"%s","takeProfit":"","stopLoss":"",' \
		"$([ -n "${15}" ] && echo Full)" "${18}"
	printf '"tpTriggerBy":"","slTriggerBy":"","tpLimitPrice":"","slLimitPrice":"",'
	printf '"triggerDirection":%s,"triggerBy":"%s","closeOnTrigger":%s,' \
		"$([ -n "${18}" ] && echo 2 || echo 0)" "$([ -n "${18}" ] && echo LastPrice)" "${17}"
	printf '"placeType":"","smpType":"None","smpGroup":0,"smpOrderId":"","feeCurrency":"",'
	printf '"createType":"%s","parentOrderLinkId":"","cumFeeDetail":{"USDT":"%s"}}' "${16}" "${12}"
}
# position SYMBOL SIDE SIZE ENTRY VALUE CUM_REALISED UPDATED SEQ
position() {
	printf '{"positionIdx":0,"tradeMode":0,"riskId":1,"riskLimitValue":"2000000",'
	printf '"symbol":"%s","side":"%s","size":"%s","entryPrice":"%s","leverage":"10",' "$1" "$2" "$3" "$4"
	printf '"positionValue":"%s","positionBalance":"0","markPrice":"%s","positionIM":"0",' "$5" "$4"
	printf '"positionMM":"0","takeProfit":"0","stopLoss":"0","trailingStop":"0",'
	printf '"unrealisedPnl":"0","curRealisedPnl":"%s","cumRealisedPnl":"%s",' "$6" "$6"
	printf '"sessionAvgPrice":"0","createdTime":"%s","updatedTime":"%s","tpslMode":"Full",' "$T0" "$7"
	printf '"liqPrice":"","bustPrice":"","category":"linear","positionStatus":"Normal",'
	printf '"adlRankIndicator":0,"autoAddMargin":0,"seq":%s,"isReduceOnly":false}' "$8"
}
# wallet BALANCE EQUITY: a UNIFIED account's USDT (fixtures/bybit/wallet_1.json).
wallet() {
	printf '{"accountIMRate":"0","accountMMRate":"0","totalEquity":"%s",' "$2"
	printf '"totalWalletBalance":"%s","totalMarginBalance":"%s","totalAvailableBalance":"%s",' "$1" "$2" "$1"
	printf '"totalPerpUPL":"0","totalInitialMargin":"0","totalMaintenanceMargin":"0","coin":[{'
	printf '"coin":"USDT","equity":"%s","usdValue":"%s","walletBalance":"%s",' "$2" "$2" "$1"
	printf '"availableToWithdraw":"%s","availableToBorrow":"","borrowAmount":"0",' "$1"
	printf '"accruedInterest":"0","totalOrderIM":"0","totalPositionIM":"0","totalPositionMM":"0",'
	printf '"unrealisedPnl":"0","cumRealisedPnl":"0","bonus":"0","collateralSwitch":true,'
	printf '"marginCollateral":true,"locked":"0","spotHedgingQty":"0","spotBorrow":"0"}],'
	printf '"accountLTV":"0","accountType":"UNIFIED"}'
}
# push KEY TOPIC TIME DATA...: one push (envelope id, creationTime, data list)
# to the account's subscribed connection; counts as a failure unless delivered.
push_n=0
push() {
	local key=$1 topic=$2 t=$3 data ans
	shift 3
	data=$(IFS=,; echo "$*")
	push_n=$((push_n + 1))
	if [ -n "$dump" ]; then
		printf '{"id":"scenario-%s","topic":"%s","creationTime":%s,"data":[%s]}\n' \
			"$push_n" "$topic" "$t" "$data" >"$dump/push-$(printf %02d "$push_n")-$topic.json"
		return 0
	fi
	ans=$(ctl push "{\"account\":\"$key\",\"payload\":{\"id\":\"scenario-$push_n\",\"topic\":\"$topic\",\"creationTime\":$t,\"data\":[$data]}}")
	case $ans in
	*'"delivered":1'*) return 0 ;;
	*) bad "push $push_n ($topic to $key) delivered: $ans"; return 1 ;;
	esac
}
load_n=0
# load KEY KIND ITEM...: the same records in the peer's REST lists (what Bybit's
# /v5/execution/list and /v5/order/* hold), so a backfill, a sweep or an order
# lookup sees what the pushes said.
load() {
	local key=$1 kind=$2 items ans
	shift 2
	items=$(IFS=,; echo "$*")
	load_n=$((load_n + 1))
	if [ -n "$dump" ]; then
		printf '{"retCode":0,"retMsg":"OK","result":{"category":"linear","nextPageCursor":"","list":[%s]},"retExtInfo":{},"time":%s}\n' \
			"$items" "$T0" >"$dump/load-$(printf %02d "$load_n")-$kind.json"
		return 0
	fi
	ans=$(ctl load "{\"account\":\"$key\",\"kind\":\"$kind\",\"category\":\"linear\",\"items\":[$items]}")
	case $ans in
	*'"ok":true'*) ;;
	*) bad "load $kind for $key: $ans" ;;
	esac
}

# The ids: orderIds are Bybit-style UUIDs; orderLinkIds fillrelay's wire form.
OA=0a000000-0000-4000-8000-00000000000a OB=0a000000-0000-4000-8000-00000000000b
OC=0a000000-0000-4000-8000-00000000000c OD=0a000000-0000-4000-8000-00000000000d
OE=0a000000-0000-4000-8000-00000000000e OF=0a000000-0000-4000-8000-00000000000f
OG=0a000000-0000-4000-8000-000000000010 OH=0a000000-0000-4000-8000-000000000011
OI=0a000000-0000-4000-8000-000000000012 OJ=0a000000-0000-4000-8000-000000000013
LA=$(oid shortseller_001 en "$(ts 1000)" 1)
LB=$(oid shortseller_001 en "$(ts 60000)" 2)
LC=$(oid shortseller_001 ts "$(ts 3600000)" 3)
LD=$(oid lxalgo_001 r3 "$(ts 120000)" 4)
LF=$(oid lxalgo_001 r1 "$(ts 2400000)" 5)
LG=$(oid momentum_001 vb "$(ts 300000)" 6)
LH=$(oid momentum_001 ma "$(ts 5400000)" 7)
LI=$(oid momentum_001 vb "$(ts 6000000)" 8)
LJ=$(oid momentum_001 ma "$(ts 7200000)" 9)
S1=5e000000-0000-4000-8000-000000000001 S2=5e000000-0000-4000-8000-000000000002
S3=5e000000-0000-4000-8000-000000000003 S4=5e000000-0000-4000-8000-000000000004
X1=1a000000-0000-4000-8000-000000000001 X2=1a000000-0000-4000-8000-000000000002
X3=1a000000-0000-4000-8000-000000000003
M1=30000000-0000-4000-8000-000000000001 M2=30000000-0000-4000-8000-000000000002
M3=30000000-0000-4000-8000-000000000003 M4=30000000-0000-4000-8000-000000000004

# ---- play --------------------------------------------------------------------

# wait_subscribed KEY: fillrelay's session for that account is up and subscribed.
wait_subscribed() {
	local ans
	ans=$(curl -s --max-time $((timeout_s + 5)) -d "{\"counter\":\"subscribed_open\",\"account\":\"$1\",\"atleast\":1,\"timeout_ms\":$((timeout_s * 1000))}" "$C/wait")
	case $ans in
	*'"value"'*) ok "fillrelay subscribed for $1" ;;
	*) bad "fillrelay subscribed for $1: $ans"; return 1 ;;
	esac
}

play_shortseller() {
	# entry: Sell 0.02 BTCUSDT Market, two fills (0.01 @ 95000, 0.01 @ 95100),
	# then a second entry: Sell 0.3 ETHUSDT @ 3400 (left open); exit on the
	# trailing stop: the bot's own Market Buy 0.02 @ 94000 with reason
	# trailing_stop (the seed's shortseller places it itself).
	local e1 e2 e3 e4 oa ob oc
	e1=$(execution "$S1" "$OA" "$LA" BTCUSDT Sell 0.01 95000 950 0.5225 0.00055 false "$(ts 1000)" 5001 Market UNKNOWN 0 0)
	e2=$(execution "$S2" "$OA" "$LA" BTCUSDT Sell 0.01 95100 951 0.52305 0.00055 false "$(ts 1005)" 5002 Market UNKNOWN 0 0)
	oa=$(order "$OA" "$LA" BTCUSDT Sell Market 0.02 94050 Filled 0.02 1901 95050 1.04555 "$(ts 990)" "$(ts 1005)" "" CreateByUser false "")
	e3=$(execution "$S3" "$OB" "$LB" ETHUSDT Sell 0.3 3400 1020 0.561 0.00055 false "$(ts 60000)" 5003 Market UNKNOWN 0 0)
	ob=$(order "$OB" "$LB" ETHUSDT Sell Market 0.3 3366 Filled 0.3 1020 3400 0.561 "$(ts 59990)" "$(ts 60000)" "" CreateByUser false "")
	e4=$(execution "$S4" "$OC" "$LC" BTCUSDT Buy 0.02 94000 1880 1.034 0.00055 false "$(ts 3600000)" 5004 Market UNKNOWN 0.02 21)
	oc=$(order "$OC" "$LC" BTCUSDT Buy Market 0.02 94940 Filled 0.02 1880 94000 1.034 "$(ts 3599990)" "$(ts 3600000)" "" CreateByUser true "")
	load "$KEY_SS" order_history "$oa" "$ob" "$oc"
	load "$KEY_SS" execution "$e1" "$e2" "$e3" "$e4"
	push "$KEY_SS" order "$(ts 1005)" "$oa"
	push "$KEY_SS" execution "$(ts 1006)" "$e1" "$e2"
	push "$KEY_SS" position "$(ts 1006)" "$(position BTCUSDT Sell 0.02 95050 1901 -1.04555 "$(ts 1005)" 5002)"
	push "$KEY_SS" order "$(ts 60000)" "$ob"
	push "$KEY_SS" execution "$(ts 60001)" "$e3"
	push "$KEY_SS" position "$(ts 60001)" "$(position ETHUSDT Sell 0.3 3400 1020 -0.561 "$(ts 60000)" 5003)"
	push "$KEY_SS" order "$(ts 3600000)" "$oc"
	push "$KEY_SS" execution "$(ts 3600001)" "$e4"
	push "$KEY_SS" position "$(ts 3600001)" "$(position BTCUSDT "" 0 0 0 18.92045 "$(ts 3600000)" 5004)"
	push "$KEY_SS" wallet "$(ts 3600002)" "$(wallet 10018.35925 10018.35925)"
}

play_lxalgo() {
	# rule_3: Buy 0.5 ETHUSDT @ 3400; lxalgo sets a position stop-loss at 3350,
	# which Bybit runs as its own order: orderLinkId "", stopOrderType StopLoss,
	# createType CreateByStopLoss; it fills Sell 0.5 @ 3350. The fill carries no
	# bot: fillrelay attributes it by the chain (DESIGN.md 3: the only holder of
	# ETHUSDT in the account) and closes with stop_loss. Then rule_1: Buy 4
	# SOLUSDT @ 150.5, left open. The stop order's Untriggered state is pushed
	# again after Filled (an old push replayed): trading.orders keeps Filled.
	local e1 e2 e3 od oe_new oe oF
	e1=$(execution "$X1" "$OD" "$LD" ETHUSDT Buy 0.5 3400 1700 0.935 0.00055 false "$(ts 120000)" 7001 Market UNKNOWN 0 0)
	od=$(order "$OD" "$LD" ETHUSDT Buy Market 0.5 3434 Filled 0.5 1700 3400 0.935 "$(ts 119990)" "$(ts 120000)" "" CreateByUser false "")
	oe_new=$(order "$OE" "" ETHUSDT Sell Market 0.5 0 Untriggered 0 0 "" 0 "$(ts 120500)" "$(ts 120500)" StopLoss CreateByStopLoss true 3350)
	e2=$(CREATE=CreateByStopLoss execution "$X2" "$OE" "" ETHUSDT Sell 0.5 3350 1675 0.92125 0.00055 false "$(ts 1800000)" 7002 Market StopLoss 0.5 -25)
	oe=$(order "$OE" "" ETHUSDT Sell Market 0.5 0 Filled 0.5 1675 3350 0.92125 "$(ts 120500)" "$(ts 1800000)" StopLoss CreateByStopLoss true 3350)
	e3=$(execution "$X3" "$OF" "$LF" SOLUSDT Buy 4 150.5 602 0.3311 0.00055 false "$(ts 2400000)" 7003 Market UNKNOWN 0 0)
	oF=$(order "$OF" "$LF" SOLUSDT Buy Market 4 151.9 Filled 4 602 150.5 0.3311 "$(ts 2399990)" "$(ts 2400000)" "" CreateByUser false "")
	load "$KEY_LX" order_history "$od" "$oe" "$oF"
	load "$KEY_LX" execution "$e1" "$e2" "$e3"
	push "$KEY_LX" order "$(ts 120000)" "$od"
	push "$KEY_LX" execution "$(ts 120001)" "$e1"
	push "$KEY_LX" position "$(ts 120001)" "$(position ETHUSDT Buy 0.5 3400 1700 -0.935 "$(ts 120000)" 7001)"
	push "$KEY_LX" order "$(ts 120500)" "$oe_new"
	push "$KEY_LX" order "$(ts 1800000)" "$oe"
	push "$KEY_LX" execution "$(ts 1800001)" "$e2"
	push "$KEY_LX" position "$(ts 1800001)" "$(position ETHUSDT "" 0 0 0 -26.85625 "$(ts 1800000)" 7002)"
	push "$KEY_LX" order "$(ts 1800002)" "$oe_new"
	push "$KEY_LX" order "$(ts 2400000)" "$oF"
	push "$KEY_LX" execution "$(ts 2400001)" "$e3"
	push "$KEY_LX" position "$(ts 2400001)" "$(position SOLUSDT Buy 4 150.5 602 -0.3311 "$(ts 2400000)" 7003)"
	push "$KEY_LX" wallet "$(ts 2400002)" "$(wallet 9972.81265 9972.81265)"
}

play_momentum() {
	# Two round trips in SOLUSDT, both volatility_breakout then ma_exit:
	#  1: Buy 10 Limit @ 150 (maker, fee 0.3), Sell 10 @ 156.5 (fee 0.86075);
	#  2: Buy 10 @ 158 (fee 0.869), Sell 10 @ 155.2 (fee 0.8536). In trip 2 the
	#     execution pushes come before their order pushes (Bybit allows it).
	local e1 e2 e3 e4 og oh oi oj
	e1=$(execution "$M1" "$OG" "$LG" SOLUSDT Buy 10 150 1500 0.3 0.0002 true "$(ts 300000)" 9001 Limit UNKNOWN 0 0)
	og=$(order "$OG" "$LG" SOLUSDT Buy Limit 10 150 Filled 10 1500 150 0.3 "$(ts 290000)" "$(ts 300000)" "" CreateByUser false "")
	e2=$(execution "$M2" "$OH" "$LH" SOLUSDT Sell 10 156.5 1565 0.86075 0.00055 false "$(ts 5400000)" 9002 Market UNKNOWN 10 65)
	oh=$(order "$OH" "$LH" SOLUSDT Sell Market 10 148.7 Filled 10 1565 156.5 0.86075 "$(ts 5399990)" "$(ts 5400000)" "" CreateByUser true "")
	e3=$(execution "$M3" "$OI" "$LI" SOLUSDT Buy 10 158 1580 0.869 0.00055 false "$(ts 6000000)" 9003 Market UNKNOWN 0 0)
	oi=$(order "$OI" "$LI" SOLUSDT Buy Market 10 165.9 Filled 10 1580 158 0.869 "$(ts 5999990)" "$(ts 6000000)" "" CreateByUser false "")
	e4=$(execution "$M4" "$OJ" "$LJ" SOLUSDT Sell 10 155.2 1552 0.8536 0.00055 false "$(ts 7200000)" 9004 Market UNKNOWN 10 -28)
	oj=$(order "$OJ" "$LJ" SOLUSDT Sell Market 10 147.4 Filled 10 1552 155.2 0.8536 "$(ts 7199990)" "$(ts 7200000)" "" CreateByUser true "")
	load "$KEY_MO" order_history "$og" "$oh" "$oi" "$oj"
	load "$KEY_MO" execution "$e1" "$e2" "$e3" "$e4"
	push "$KEY_MO" order "$(ts 300000)" "$og"
	push "$KEY_MO" execution "$(ts 300001)" "$e1"
	push "$KEY_MO" order "$(ts 5400000)" "$oh"
	push "$KEY_MO" execution "$(ts 5400001)" "$e2"
	push "$KEY_MO" execution "$(ts 6000001)" "$e3"
	push "$KEY_MO" order "$(ts 6000002)" "$oi"
	push "$KEY_MO" execution "$(ts 7200001)" "$e4"
	push "$KEY_MO" order "$(ts 7200002)" "$oj"
	push "$KEY_MO" position "$(ts 7200002)" "$(position SOLUSDT "" 0 0 0 -29.7226 "$(ts 7200000)" 9004)"
	push "$KEY_MO" wallet "$(ts 7200003)" "$(wallet 10034.11665 10034.11665)"
}

# ---- the seed's queries, verbatim ----------------------------------------------
# Query 1 as the guide gives it to psycopg2 (BOT_INTEGRATION_GUIDE.md, "Query 1").
# Its one placeholder %s is the only change: psql's :'bot_id' (a quoted literal
# of the psql variable, what psycopg2 substitutes for %s with ('BOT',)).
QUERY1='    SELECT
        exec_time,
        symbol,
        side,
        exec_qty,
        exec_price,
        commission,
        close_reason
    FROM trading.fills
    WHERE bot_id = %s
    ORDER BY exec_time DESC
    LIMIT 100'
# Query 2 verbatim (for momentum_001); the other bots get the same text with
# their id in place of 'momentum_001'.
QUERY2="SELECT
    close_reason,
    COUNT(*) as trade_count,
    SUM(net_pnl) as total_pnl,
    AVG(net_pnl) as avg_pnl,
    SUM(CASE WHEN net_pnl > 0 THEN 1 ELSE 0 END)::FLOAT / COUNT(*) as win_rate
FROM trading.trades_pnl
WHERE bot_id = 'momentum_001'
GROUP BY close_reason
ORDER BY total_pnl DESC;"

q1() { printf '%s\n' "${QUERY1/\%s/:\'bot_id\'}" | sql "$@" -v "bot_id=$BOT"; }
q2() { printf '%s\n' "${QUERY2/momentum_001/$BOT}" | sql "$@"; }
# rows QUERYFN [--bouncer]: the query's rows, unaligned, '|' between fields.
rows() { local f=$1; shift; $f "$@" -A -t -F '|'; }

check_guide_text() {
	local g1 g2
	if [ ! -r "$guide" ]; then
		echo "note: $guide not found: the embedded queries are not compared with the guide"
		return
	fi
	g1=$(sed -n '/cursor.execute("""/,/^""", (/p' "$guide" | sed '1d;$d')
	g2=$(sed -n '/^### Query 2/,/^```$/p' "$guide" | sed '1,/^```sql$/d;$d')
	expect "query 1 is the guide's text" "$QUERY1" "$g1"
	expect "query 2 is the guide's text" "$QUERY2" "$g2"
}

# ---- wait ------------------------------------------------------------------------

# done_yet: every record of the scenario is in PostgreSQL and Redis.
done_yet() {
	local n
	n=$(sql -A -t -c "SELECT (SELECT count(*) FROM trading.fills) || ' ' ||
		(SELECT count(*) FROM trading.trades_pnl) || ' ' ||
		(SELECT count(*) FROM trading.orders) || ' ' ||
		(SELECT count(*) FROM trading.positions) || ' ' ||
		(SELECT count(*) FROM trading.wallet)" 2>/dev/null) || return 1
	[ "$n" = "11 4 10 5 3" ] || return 1
	[ "$(rcli 0 HGET shortseller_001:position_detail:BTCUSDT last_exec_id)" = "$S4" ] &&
		[ "$(rcli 1 HGET lxalgo_001:position_detail:SOLUSDT last_exec_id)" = "$X3" ] &&
		[ "$(rcli 2 HGET momentum_001:position_detail:SOLUSDT last_exec_id)" = "$M4" ]
}

wait_written() {
	local t0=$SECONDS
	while ! done_yet; do
		if [ $((SECONDS - t0)) -ge "$timeout_s" ]; then
			bad "fillrelay wrote the scenario within ${timeout_s}s (counts fills trades_pnl orders positions wallet: $(sql -A -t -c "SELECT (SELECT count(*) FROM trading.fills) || ' ' || (SELECT count(*) FROM trading.trades_pnl) || ' ' || (SELECT count(*) FROM trading.orders) || ' ' || (SELECT count(*) FROM trading.positions) || ' ' || (SELECT count(*) FROM trading.wallet)" 2>&1); expected 11 4 10 5 3)"
			return 1
		fi
		sleep 0.2
	done
	ok "fillrelay wrote the scenario to PostgreSQL and Redis ($((SECONDS - t0))s)"
}

# ---- expected values -----------------------------------------------------------
# Average-cost PnL, linear USDT; fee = qty * price * rate; net = gross - fees.
#
# shortseller_001 BTCUSDT, short 0.02: sold 0.01 @ 95000 (fee 0.5225) and
#   0.01 @ 95100 (fee 0.52305): avg 95050; bought back 0.02 @ 94000 (fee 1.034)
#   on trailing_stop. gross = (95050 - 94000) * 0.02 = 21; fees 2.07955;
#   net 18.92045. ETHUSDT short 0.3 @ 3400 (fee 0.561), open.
# lxalgo_001 ETHUSDT, long 0.5 @ 3400 (fee 0.935, rule_3); stop-loss sells 0.5
#   @ 3350 (fee 0.92125): gross (3350 - 3400) * 0.5 = -25; fees 1.85625; net
#   -26.85625. SOLUSDT long 4 @ 150.5 (fee 0.3311, rule_1), open.
# momentum_001 SOLUSDT trip 1: 10 @ 150 (fee 0.3) -> 10 @ 156.5 (fee 0.86075):
#   gross 65, fees 1.16075, net 63.83925; trip 2: 10 @ 158 (fee 0.869) -> 10 @
#   155.2 (fee 0.8536): gross -28, fees 1.7226, net -29.7226. By ma_exit: 2
#   trades, total 34.11665, avg 17.058325, win rate 1/2.
# Timestamps print in UTC (PGTZ=UTC).
declare -A EXP_Q1 EXP_Q2
EXP_Q1[shortseller_001]='2026-01-01 01:00:00+00|BTCUSDT|Buy|0.02|94000|1.034|trailing_stop
2026-01-01 00:01:00+00|ETHUSDT|Sell|0.3|3400|0.561|
2026-01-01 00:00:01.005+00|BTCUSDT|Sell|0.01|95100|0.52305|
2026-01-01 00:00:01+00|BTCUSDT|Sell|0.01|95000|0.5225|'
EXP_Q1[lxalgo_001]='2026-01-01 00:40:00+00|SOLUSDT|Buy|4|150.5|0.3311|
2026-01-01 00:30:00+00|ETHUSDT|Sell|0.5|3350|0.92125|stop_loss
2026-01-01 00:02:00+00|ETHUSDT|Buy|0.5|3400|0.935|'
EXP_Q1[momentum_001]='2026-01-01 02:00:00+00|SOLUSDT|Sell|10|155.2|0.8536|ma_exit
2026-01-01 01:40:00+00|SOLUSDT|Buy|10|158|0.869|
2026-01-01 01:30:00+00|SOLUSDT|Sell|10|156.5|0.86075|ma_exit
2026-01-01 00:05:00+00|SOLUSDT|Buy|10|150|0.3|'
EXP_Q2[shortseller_001]='trailing_stop|1|18.92045|18.92045|1'
EXP_Q2[lxalgo_001]='stop_loss|1|-26.85625|-26.85625|0'
EXP_Q2[momentum_001]='ma_exit|2|34.11665|17.058325|0.5'
# trading.trades_pnl, every column the seed names (DESIGN.md 4).
SQL_TRIPS="SELECT bot_id, symbol, trade_seq, side, entry_reason, close_reason, opened_at,
	closed_at, qty, gross_pnl, fees, funding, net_pnl, currency
	FROM trading.trades_pnl ORDER BY bot_id, symbol, trade_seq"
EXP_TRIPS='lxalgo_001|ETHUSDT|1|Buy|rule_3|stop_loss|2026-01-01 00:02:00+00|2026-01-01 00:30:00+00|0.5|-25|1.85625|0|-26.85625|USDT
momentum_001|SOLUSDT|1|Buy|volatility_breakout|ma_exit|2026-01-01 00:05:00+00|2026-01-01 01:30:00+00|10|65|1.16075|0|63.83925|USDT
momentum_001|SOLUSDT|2|Buy|volatility_breakout|ma_exit|2026-01-01 01:40:00+00|2026-01-01 02:00:00+00|10|-28|1.7226|0|-29.7226|USDT
shortseller_001|BTCUSDT|1|Sell|entry|trailing_stop|2026-01-01 00:00:01+00|2026-01-01 01:00:00+00|0.02|21|2.07955|0|18.92045|USDT'
# Attribution of every fill (the stop-loss fill by the chain: its only holder).
SQL_ATTR="SELECT account, exec_id, bot_id, reason, close_reason, realized_pnl, trade_seq
	FROM trading.fills ORDER BY exec_time, exec_id"
EXP_ATTR="shortseller|$S1|shortseller_001|entry||0|1
shortseller|$S2|shortseller_001|entry||0|1
shortseller|$S3|shortseller_001|entry||0|1
lxalgo|$X1|lxalgo_001|rule_3||0|1
momentum|$M1|momentum_001|volatility_breakout||0|1
lxalgo|$X2|lxalgo_001||stop_loss|-25|1
lxalgo|$X3|lxalgo_001|rule_1||0|1
shortseller|$S4|shortseller_001|trailing_stop|trailing_stop|21|1
momentum|$M2|momentum_001|ma_exit|ma_exit|65|1
momentum|$M3|momentum_001|volatility_breakout||0|2
momentum|$M4|momentum_001|ma_exit|ma_exit|-28|2"
SQL_ORDERS="SELECT account, order_link_id, reason, side, order_type, order_status,
	stop_order_type, qty, cum_exec_qty, avg_price, cum_exec_fee
	FROM trading.orders ORDER BY account, created_time, order_id"
EXP_ORDERS="lxalgo|$LD|rule_3|Buy|Market|Filled||0.5|0.5|3400|0.935
lxalgo|||Sell|Market|Filled|StopLoss|0.5|0.5|3350|0.92125
lxalgo|$LF|rule_1|Buy|Market|Filled||4|4|150.5|0.3311
momentum|$LG|volatility_breakout|Buy|Limit|Filled||10|10|150|0.3
momentum|$LH|ma_exit|Sell|Market|Filled||10|10|156.5|0.86075
momentum|$LI|volatility_breakout|Buy|Market|Filled||10|10|158|0.869
momentum|$LJ|ma_exit|Sell|Market|Filled||10|10|155.2|0.8536
shortseller|$LA|entry|Sell|Market|Filled||0.02|0.02|95050|1.04555
shortseller|$LB|entry|Sell|Market|Filled||0.3|0.3|3400|0.561
shortseller|$LC|trailing_stop|Buy|Market|Filled||0.02|0.02|94000|1.034"
SQL_POSITIONS="SELECT account, symbol, position_idx, side, size, entry_price, cum_realised_pnl, seq
	FROM trading.positions ORDER BY account, symbol"
EXP_POSITIONS='lxalgo|ETHUSDT|0||0|0|-26.85625|7002
lxalgo|SOLUSDT|0|Buy|4|150.5|-0.3311|7003
momentum|SOLUSDT|0||0|0|-29.7226|9004
shortseller|BTCUSDT|0||0|0|18.92045|5004
shortseller|ETHUSDT|0|Sell|0.3|3400|-0.561|5003'
SQL_WALLET="SELECT account, account_type, coin, wallet_balance, equity, available_to_withdraw
	FROM trading.wallet ORDER BY account, coin"
EXP_WALLET='lxalgo|UNIFIED|USDT|9972.81265|9972.81265|9972.81265
momentum|UNIFIED|USDT|10034.11665|10034.11665|10034.11665
shortseller|UNIFIED|USDT|10018.35925|10018.35925|10018.35925'
# Redis: BOT DB SYMBOL |size| then the position_detail fields below.
DETAIL_FIELDS='side size avg_price realized_pnl fees funding currency trade_seq last_exec_id last_exec_time'
EXP_REDIS="shortseller_001 0 BTCUSDT 0 flat|0|0|21|2.07955|0|USDT|1|$S4|$(ts 3600000)
shortseller_001 0 ETHUSDT 0.3 short|-0.3|3400|0|0.561|0|USDT|1|$S3|$(ts 60000)
lxalgo_001 1 ETHUSDT 0 flat|0|0|-25|1.85625|0|USDT|1|$X2|$(ts 1800000)
lxalgo_001 1 SOLUSDT 4 long|4|150.5|0|0.3311|0|USDT|1|$X3|$(ts 2400000)
momentum_001 2 SOLUSDT 0 flat|0|0|37|2.88335|0|USDT|2|$M4|$(ts 7200000)"

# ---- show and assert -------------------------------------------------------------

show_sql() { # TITLE SQL
	echo
	echo "== $1"
	sql -P footer=off -c "$2"
}
check_sql() { # NAME SQL EXPECTED
	expect "$1" "$3" "$(sql -A -t -F '|' -c "$2" 2>&1)"
}

report_postgres() {
	local bot
	for bot in shortseller_001 lxalgo_001 momentum_001; do
		BOT=$bot
		echo
		echo "== seed query 1 (psql, %s = :'bot_id' = '$bot')"
		q1 -P footer=off
		expect "query 1 rows for $bot" "${EXP_Q1[$bot]}" "$(rows q1 2>&1)"
	done
	for bot in momentum_001 shortseller_001 lxalgo_001; do
		BOT=$bot
		echo
		if [ "$bot" = momentum_001 ]; then
			echo "== seed query 2 (psql, verbatim)"
		else
			echo "== seed query 2 (psql, with '$bot' for 'momentum_001')"
		fi
		q2 -P footer=off
		expect "query 2 rows for $bot" "${EXP_Q2[$bot]}" "$(rows q2 2>&1)"
	done
	show_sql "trading.trades_pnl" "$SQL_TRIPS"
	check_sql "trading.trades_pnl rows" "$SQL_TRIPS" "$EXP_TRIPS"
	show_sql "trading.open_trades" "SELECT bot_id, symbol, trade_seq, side, entry_reason, size, avg_price, fees FROM trading.open_trades ORDER BY bot_id, symbol"
	check_sql "trading.open_trades rows" \
		"SELECT bot_id, symbol, trade_seq, side, entry_reason, size, avg_price, fees FROM trading.open_trades ORDER BY bot_id, symbol" \
		'lxalgo_001|SOLUSDT|1|Buy|rule_1|4|150.5|0.3311
shortseller_001|ETHUSDT|1|Sell|entry|-0.3|3400|0.561'
	show_sql "trading.fills: attribution and derived columns" "$SQL_ATTR"
	check_sql "trading.fills attribution, reasons, realized_pnl, trade_seq" "$SQL_ATTR" "$EXP_ATTR"
	show_sql "trading.orders" "$SQL_ORDERS"
	check_sql "trading.orders rows (the replayed Untriggered push did not win)" "$SQL_ORDERS" "$EXP_ORDERS"
	show_sql "trading.positions" "$SQL_POSITIONS"
	check_sql "trading.positions rows" "$SQL_POSITIONS" "$EXP_POSITIONS"
	show_sql "trading.wallet" "$SQL_WALLET"
	check_sql "trading.wallet rows" "$SQL_WALLET" "$EXP_WALLET"
	check_sql "trading.rejects is empty" "SELECT count(*) FROM trading.rejects" 0
}

report_redis() {
	local bot db sym size detail got keys exp_keys
	echo
	echo "== Redis: the seed's reads (redis-cli)"
	for bot in shortseller_001:0 lxalgo_001:1 momentum_001:2; do
		db=${bot#*:} bot=${bot%:*}
		echo "-- db $db: KEYS $bot:position:*"
		keys=$(rcli "$db" KEYS "$bot:position:*" | sort)
		printf '%s\n' "$keys" | sed 's/^/   /'
		exp_keys=$(printf '%s\n' "$EXP_REDIS" | awk -v b="$bot" '$1 == b { print b ":position:" $3 }' | sort)
		expect "KEYS $bot:position:* in db $db" "$exp_keys" "$keys"
		echo "-- db $db: KEYS *:position:*   (the guide's debugging read)"
		rcli "$db" KEYS '*:position:*' | sort | sed 's/^/   /'
	done
	while read -r bot db sym size detail; do
		got=$(rcli "$db" GET "$bot:position:$sym")
		echo "   db $db GET $bot:position:$sym -> \"$got\""
		# exact string: the key is what float(r.get(key) or 0) reads
		if [ "$got" = "$size" ]; then ok "GET $bot:position:$sym = \"$size\" (db $db)"
		else bad "GET $bot:position:$sym = \"$size\" (db $db): got \"$got\""; fi
		# shellcheck disable=SC2086
		got=$(rcli "$db" HMGET "$bot:position_detail:$sym" $DETAIL_FIELDS | paste -sd '|')
		echo "   db $db HMGET $bot:position_detail:$sym $DETAIL_FIELDS -> $got"
		expect "$bot:position_detail:$sym" "$detail" "$got"
	done <<<"$EXP_REDIS"
}

report_bouncer() {
	local bot direct pooled f
	echo
	if [ -z "${FR_TEST_PGBOUNCER_PORT:-}" ]; then
		bad "pgbouncer: FR_TEST_PGBOUNCER_PORT is empty (is pgbouncer installed?)"
		return
	fi
	echo "== the same queries through pgbouncer (port $FR_TEST_PGBOUNCER_PORT, transaction pooling)"
	for bot in shortseller_001 lxalgo_001 momentum_001; do
		BOT=$bot
		for f in q1 q2; do
			direct=$(rows $f 2>&1)
			pooled=$(rows $f --bouncer 2>&1)
			if [ "$direct" = "$pooled" ]; then ok "pgbouncer: $f for $bot equals the direct output"
			else bad "pgbouncer: $f for $bot differs"; echo "     direct: $direct"; echo "     pooled: $pooled"; fi
		done
	done
	direct=$(sql -A -t -F '|' -c "$SQL_TRIPS" 2>&1)
	pooled=$(sql --bouncer -A -t -F '|' -c "$SQL_TRIPS" 2>&1)
	if [ "$direct" = "$pooled" ]; then ok "pgbouncer: trading.trades_pnl equals the direct output"
	else bad "pgbouncer: trading.trades_pnl differs: $pooled"; fi
}

main() {
	local key
	if [ -n "$dump" ]; then
		mkdir -p "$dump"
		play_shortseller
		play_lxalgo
		play_momentum
		echo "$push_n pushes and $load_n REST loads written to $dump"
		exit 0
	fi
	check_guide_text
	if [ "$report_only" = 0 ]; then
		echo "== three-bot scenario through the peer at $C"
		for key in "$KEY_SS" "$KEY_LX" "$KEY_MO"; do wait_subscribed "$key"; done
		play_shortseller
		play_lxalgo
		play_momentum
		echo "   $push_n pushes played"
	fi
	if [ "$report_only" = 1 ] || wait_written; then
		report_postgres
		report_redis
		[ "$bouncer" = 1 ] && report_bouncer
	fi
	echo
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
main
