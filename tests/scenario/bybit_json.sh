# tests/scenario/bybit_json.sh -- sourced (bash): Bybit payload pieces shared by
# the shell scenarios (three_bots.sh, image/e2e.sh). Defines b36, oid and
# execution; runs nothing.

# oid BOT ALIAS MS N: an orderLinkId in fillrelay's wire form BOT-REASON-STAMP
# (DESIGN.md 3; src/orderid.h): STAMP = 9 base36 digits of MS, then 6 of N.
# Built by hand so the run is deterministic; `fillrelay orderid new` makes the
# same shape with a random UNIQUE part.
b36() {
	local n=$1 w=$2 s='' d=0123456789abcdefghijklmnopqrstuvwxyz
	while [ "$n" -gt 0 ]; do s=${d:$((n % 36)):1}$s; n=$((n / 36)); done
	while [ ${#s} -lt "$w" ]; do s=0$s; done
	echo "$s"
}
oid() { echo "$1-$2-$(b36 "$3" 9)$(b36 "$4" 6)"; }

# execution ID ORDER LINK SYMBOL SIDE QTY PRICE VALUE FEE RATE MAKER TIME SEQ
#           ORDER_TYPE STOP_TYPE CREATE_TYPE CLOSED EXEC_PNL
# One execution object in the shape of Bybit's V5 `execution` topic
# (fixtures/bybit/execution_1.json).
execution() {
	printf '{"category":"linear","symbol":"%s","closedSize":"%s","execFee":"%s",' "$4" "${16}" "$9"
	printf '"execId":"%s","execPrice":"%s","execQty":"%s","execType":"Trade",' "$1" "$7" "$6"
	printf '"execValue":"%s","feeRate":"%s","tradeIv":"","markIv":"","blockTradeId":"",' "$8" "${10}"
	printf '"markPrice":"%s","indexPrice":"","underlyingPrice":"","leavesQty":"0",' "$7"
	printf '"orderId":"%s","orderLinkId":"%s","orderPrice":"%s","orderQty":"%s",' "$2" "$3" "$7" "$6"
	printf '"orderType":"%s","stopOrderType":"%s","side":"%s","execTime":"%s",' "${14}" "${15}" "$5" "${12}"
	printf '"isLeverage":"0","isMaker":%s,"seq":%s,"marketUnit":"","execPnl":"%s",' "${11}" "${13}" "${17}"
	printf '"createType":"%s","extraFees":"","feeCurrency":"USDT"}' "${CREATE:-CreateByUser}"
}
