/*
 * decode.h -- one Bybit V5 message (a private-stream push, a control answer or
 * a REST response body) into fixed-size typed records.
 *
 * Flow. decode_push/decode_rest/decode_any take one whole message, check it is
 * well-formed JSON (RFC 8259, strictly: UTF-8, escapes, numbers, nesting, no
 * trailing bytes), tokenize it with jsmn into the caller's struct decode, and
 * hand the records out one at a time through the callbacks of a struct
 * decode_sink, so a push with any number of fills needs no big buffer.
 *
 * Nothing is silently dropped. Every entry of data[] / result.list[] ends in
 * exactly one callback: its record's (on_exec, on_order, on_position,
 * on_wallet) or on_reject, with a specific reason such as
 *     execution[2]: execQty: not a decimal: "abc"
 * and the byte span of the entry's JSON object, so the sink can keep the raw
 * text. A bad entry does not stop the others. A message that cannot be decoded
 * at all (not JSON, too large, too many tokens, not an object, unknown topic,
 * malformed envelope) is reported once through on_reject with index -1 and the
 * whole message as its span, and the call returns the error.
 *
 * Push topics: execution, order, position, wallet, and their categorised forms
 * (execution.linear, order.spot, ...). execution.fast[.CATEGORY] is recognised
 * and never decoded into fills (DESIGN.md 2: no fees, no execType, empty
 * orderLinkId for makers): its entries are only counted in env.ignored.
 * Control answers (auth, subscribe, unsubscribe, pong in both shapes
 * {"op":"pong",...} and {"op":"ping","ret_msg":"pong",...}, any other "op")
 * arrive through on_control.
 *
 * REST bodies: {"retCode":0,"retMsg":"OK","result":{"category":..,"list":[..],
 * "nextPageCursor":".."},"time":..} of /v5/execution/list, /v5/order/realtime,
 * /v5/order/history, /v5/position/list (and /v5/account/wallet-balance, whose
 * list holds wallet accounts). A non-zero retCode is a decoded answer with no
 * records (env.ret_code says why); no list is read then.
 *
 * Field rules (they hold for every record kind):
 *  - Keys are matched after unescaping; unknown keys are ignored; a known key
 *    given twice rejects the record (JSON leaves duplicates undefined).
 *  - Strings are unescaped into fixed buffers (\uXXXX and surrogate pairs to
 *    UTF-8); too long rejects the record. \u0000 or an unpaired surrogate
 *    anywhere in a record's text, unknown keys included, rejects it too: JSON
 *    allows them, PostgreSQL's jsonb does not, and the raw span must store.
 *    A JSON number where a string is expected is taken verbatim (ids converted
 *    from EDN arrive as numbers). An absent string reads as "".
 *  - Decimals (struct decode_dec) are Bybit's decimal strings, or JSON numbers
 *    without exponent; "" or absent leaves present = 0. Never floating point.
 *  - Integers and millisecond timestamps (struct decode_int) are JSON numbers
 *    or strings of digits (Bybit sends times as strings, seq as a number);
 *    "" or absent leaves present = 0. A fraction or exponent is rejected.
 *  - Booleans are true/false (or the strings "true"/"false"; "" is absent);
 *    int8_t fields hold DECODE_BOOL_ABSENT (-1), 0 or 1.
 *  - null counts as absent everywhere.
 *  - A known key with a malformed value rejects the record, required or not:
 *    a fee that cannot be read is never replaced by a guess.
 *
 * Required fields (missing, null, or "" for strings and decimals, rejects):
 *  - execution: execId, symbol, category (the record's, else result.category of
 *    a REST page, else the topic's: "execution.linear"), execType, side (must
 *    be Buy or Sell), execQty, execPrice, execTime. execution_8's spot fill
 *    (no createType, no markPrice) and execution_2's older shape (no execPnl,
 *    createType, feeCurrency) decode: those fields are optional.
 *  - order: orderId, symbol, orderStatus, updatedTime.
 *  - position: symbol, side (the key; "" is a flat position), size,
 *    updatedTime, category (resolved like an execution's: a position's key in
 *    the book is (account, category, symbol, positionIdx)). seq and
 *    curRealisedPnl are absent in the older docs sample (position_2).
 *  - wallet: accountType; per coin: coin.
 *
 * Memory and threads: struct decode is caller-owned (static storage: it holds
 * the token array, about DECODE_TOKENS_MAX * 20 bytes); calls keep no state
 * between messages and allocate nothing. Records and the envelope passed to a
 * callback live in *d and are valid only during that callback (copy what you
 * keep). One struct decode per thread; not reentrant from a callback.
 */
#ifndef FR_DECODE_H
#define FR_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "dec.h"

/* ---- limits -------------------------------------------------------------- */

#define DECODE_MSG_MAX (1u << 20) /* bytes of one message; larger is FR_ERANGE */
#define DECODE_DEPTH_MAX 32       /* nesting of objects/arrays (Bybit uses 4) */
/*
 * Token budget. A record object takes 2 tokens per key plus its nested values:
 * a position (the widest, 43 keys in position_4) 87, an execution with extraFees
 * about 85. REST pages hold at most 200 entries (position/list limit=200;
 * execution/list 100), pushes fewer. DECODE_RECORD_TOKENS leaves room for keys
 * Bybit adds later. A message needing more tokens is FR_ENOMEM with its count.
 */
#define DECODE_LIST_MAX 200
#define DECODE_RECORD_TOKENS 160
#define DECODE_TOKENS_MAX (DECODE_LIST_MAX * DECODE_RECORD_TOKENS + 64)
#define DECODE_TOK_INTS 5 /* ints per token (jsmn with parent links) */

/* String buffers, NUL included; a longer value rejects its record. */
#define DECODE_CATEGORY_MAX 16
#define DECODE_SYMBOL_MAX 48
#define DECODE_ID_MAX 64   /* execId, orderId, orderLinkId, req_id, ... */
#define DECODE_ENUM_MAX 48 /* side, execType, createType, rejectReason, ... */
#define DECODE_COIN_MAX 24
#define DECODE_FLAG_MAX 8 /* isLeverage: "0", "1" or "" */
#define DECODE_TOPIC_MAX 48
#define DECODE_ENV_ID_MAX 128 /* push envelope id */
#define DECODE_CURSOR_MAX 512 /* nextPageCursor, kept verbatim */
#define DECODE_TEXT_MAX 256   /* retMsg / ret_msg: truncated (logged only) */
/* The latest timestamp taken, in Unix ms: 9999-12-31T23:59:59.999Z (PostgreSQL's
 * timestamptz goes further, but no exchange time is that late: a record
 * carrying one is rejected before it reaches the book). */
#define DECODE_TIME_MAX_MS INT64_C(253402300799999)
#define DECODE_REASON_MAX 256 /* a reject reason, truncated */

_Static_assert(DECODE_MSG_MAX <= (1u << 30), "jsmn keeps offsets in int");
_Static_assert(DECODE_TOKENS_MAX < (1 << 30), "token indexes are int");

/* ---- values -------------------------------------------------------------- */

enum decode_bool_v { DECODE_BOOL_ABSENT = -1, DECODE_BOOL_FALSE = 0, DECODE_BOOL_TRUE = 1 };

struct decode_dec {
	struct dec v; /* 0 when !present */
	int present;  /* 0: absent, null or Bybit's "" */
};

struct decode_int {
	int64_t v; /* 0 when !present */
	int present;
};

/* Bytes [off, off + len) of the message: a JSON value exactly as received. */
struct decode_span {
	uint32_t off;
	uint32_t len;
};

/* A nested list or object kept raw: extraFees, cumFeeDetail. */
struct decode_list {
	int n;                  /* entries (keys of an object); -1: absent */
	struct decode_span raw; /* the value as received ("" counts as 0 entries) */
};

enum decode_source { DECODE_SRC_PUSH = 1, DECODE_SRC_REST };

enum decode_kind {
	DECODE_KIND_NONE = 0, /* whole-message rejects; REST page of unknown kind */
	DECODE_KIND_EXECUTION,
	DECODE_KIND_ORDER,
	DECODE_KIND_POSITION,
	DECODE_KIND_WALLET,
	DECODE_KIND_CONTROL,
};

/* ---- the envelope: one per message, passed to every callback ------------- */

struct decode_env {
	enum decode_source source;
	enum decode_kind kind;  /* what data[] / result.list[] holds */
	struct decode_span msg; /* the message's root object (blanks around excluded) */
	/* push */
	char topic[DECODE_TOPIC_MAX]; /* verbatim: "execution", "order.spot" */
	int fast;                     /* execution.fast[.CATEGORY]: entries not decoded */
	char topic_category[DECODE_CATEGORY_MAX]; /* "linear" of "execution.linear", else "" */
	char id[DECODE_ENV_ID_MAX]; /* shared by pushes of one match: never a dedupe key */
	struct decode_int creation_time_ms;
	/* REST */
	struct decode_int ret_code;
	char ret_msg[DECODE_TEXT_MAX];
	char category[DECODE_CATEGORY_MAX]; /* result.category */
	char cursor[DECODE_CURSOR_MAX];     /* result.nextPageCursor verbatim, already
	                                     * percent-encoded: pass back as is; "" = last page */
	struct decode_int time_ms;          /* server time of the answer */
	/* counts for this message, final when the call returns */
	int entries; /* elements of data[] / result.list[] */
	int records; /* records delivered (a wallet coin counts one) */
	int rejects; /* records rejected (a whole-message reject counts one) */
	int ignored; /* execution.fast entries */
};

/* ---- records -------------------------------------------------------------- */

struct decode_exec {
	int index;              /* in data[] / result.list[] */
	struct decode_span raw; /* the execution object: `raw jsonb` */
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	char exec_id[DECODE_ID_MAX];
	char order_id[DECODE_ID_MAX];
	char order_link_id[DECODE_ID_MAX]; /* "" for makers' and exchange orders */
	char side[DECODE_ENUM_MAX];        /* "Buy" or "Sell" */
	char order_type[DECODE_ENUM_MAX];
	char stop_order_type[DECODE_ENUM_MAX];
	char create_type[DECODE_ENUM_MAX]; /* absent for spot and option */
	char exec_type[DECODE_ENUM_MAX];   /* Trade, Funding, AdlTrade, BustTrade, ... */
	char fee_currency[DECODE_COIN_MAX];
	char is_leverage[DECODE_FLAG_MAX]; /* spot margin: "0", "1" or "" as sent */
	char block_trade_id[DECODE_ID_MAX];
	char market_unit[DECODE_ENUM_MAX];
	struct decode_dec exec_qty, exec_price, exec_value, exec_fee, fee_rate;
	struct decode_dec closed_size, exec_pnl, mark_price, index_price;
	struct decode_dec leaves_qty, order_qty, order_price;
	int8_t is_maker;      /* DECODE_BOOL_* */
	int64_t exec_time_ms; /* required */
	struct decode_int seq;
	struct decode_list extra_fees; /* "" or a list of objects */
};

struct decode_order {
	int index;
	struct decode_span raw;
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	char order_id[DECODE_ID_MAX];
	char order_link_id[DECODE_ID_MAX];
	char parent_order_link_id[DECODE_ID_MAX]; /* attached TP/SL: the parent's link id */
	char side[DECODE_ENUM_MAX];
	char order_type[DECODE_ENUM_MAX];
	char order_status[DECODE_ENUM_MAX];
	char stop_order_type[DECODE_ENUM_MAX];
	char create_type[DECODE_ENUM_MAX];
	char cancel_type[DECODE_ENUM_MAX];
	char reject_reason[DECODE_ENUM_MAX];
	char time_in_force[DECODE_ENUM_MAX];
	char tpsl_mode[DECODE_ENUM_MAX];
	char fee_currency[DECODE_COIN_MAX];
	struct decode_dec qty, price, avg_price, cum_exec_qty, cum_exec_value, cum_exec_fee;
	struct decode_dec leaves_qty, leaves_value, trigger_price, take_profit, stop_loss;
	struct decode_dec closed_pnl;
	struct decode_int position_idx, trigger_direction, smp_group;
	int8_t reduce_only, close_on_trigger; /* DECODE_BOOL_* */
	struct decode_int created_time_ms;
	int64_t updated_time_ms;           /* required */
	struct decode_list cum_fee_detail; /* {"USDT":"0.02"}: raw, keys counted */
};

struct decode_position {
	int index;
	struct decode_span raw;
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	char side[DECODE_ENUM_MAX]; /* "Buy", "Sell"; "" (or "None") when flat */
	char position_status[DECODE_ENUM_MAX];
	char tpsl_mode[DECODE_ENUM_MAX];
	struct decode_dec size;        /* required; absolute */
	struct decode_dec entry_price; /* entryPrice (push), else avgPrice (REST) */
	struct decode_dec mark_price, position_value, unrealised_pnl;
	struct decode_dec cur_realised_pnl, cum_realised_pnl, leverage, liq_price, bust_price;
	struct decode_dec take_profit, stop_loss, trailing_stop, position_im, position_mm;
	struct decode_dec position_balance;
	struct decode_int position_idx, trade_mode, auto_add_margin, adl_rank_indicator;
	struct decode_int risk_id;
	struct decode_int seq; /* -1: the symbol never traded */
	int8_t is_reduce_only;
	struct decode_int created_time_ms;
	int64_t updated_time_ms; /* required */
};

/*
 * One coin of one wallet account, with that account's totals repeated, so a
 * wallet with any number of coins needs no big buffer. An account whose coin
 * list is empty or absent is delivered once with coin_index -1.
 */
struct decode_wallet {
	int index;                          /* the account in data[] / result.list[] */
	int coin_index;                     /* in its coin[]; -1: no coin entry */
	int coins_n;                        /* entries of its coin[] */
	struct decode_span raw;             /* the coin object (the account's at -1) */
	struct decode_span account_raw;     /* the account object */
	char account_type[DECODE_ENUM_MAX]; /* required: UNIFIED, CONTRACT, ... */
	struct decode_dec total_equity, total_wallet_balance, total_margin_balance;
	struct decode_dec total_available_balance, total_perp_upl, total_initial_margin;
	struct decode_dec total_maintenance_margin, account_im_rate, account_mm_rate;
	struct decode_dec account_ltv;
	char coin[DECODE_COIN_MAX]; /* required when coin_index >= 0 */
	struct decode_dec equity, usd_value, wallet_balance, available_to_withdraw;
	struct decode_dec locked, borrow_amount, accrued_interest, total_order_im;
	struct decode_dec total_position_im, total_position_mm, unrealised_pnl;
	struct decode_dec cum_realised_pnl;
	int8_t collateral_switch, margin_collateral; /* DECODE_BOOL_* */
};

enum decode_op {
	DECODE_OP_OTHER = 0, /* any other op, e.g. the /v5/trade "order.create" ack */
	DECODE_OP_AUTH,
	DECODE_OP_SUBSCRIBE,
	DECODE_OP_UNSUBSCRIBE,
	DECODE_OP_PONG, /* {"op":"pong"} or {"op":"ping","ret_msg":"pong"} */
};

struct decode_control {
	enum decode_op op;
	struct decode_span raw;
	char op_str[DECODE_TOPIC_MAX];    /* verbatim */
	int8_t success;                   /* DECODE_BOOL_*; auth succeeded only if TRUE */
	char ret_msg[DECODE_TEXT_MAX];    /* ret_msg, else retMsg; truncated */
	struct decode_int ret_code;       /* retCode (WS-trade style answers) */
	char req_id[DECODE_ID_MAX];       /* req_id, else reqId */
	char conn_id[DECODE_ID_MAX];      /* conn_id, else connId */
	struct decode_int server_time_ms; /* private pong: args[0] */
};

struct decode_reject {
	enum decode_kind kind;  /* what the entry would have been; NONE: the message */
	int index;              /* entry in data[] / result.list[]; -1: the message */
	int coin_index;         /* wallet coin; -1 otherwise */
	int err;                /* FR_EINVAL, FR_ERANGE (too long, too big) or FR_ENOMEM */
	struct decode_span raw; /* the rejected object (or the whole message) */
	char reason[DECODE_REASON_MAX];
};

/* ---- the sink ------------------------------------------------------------- */

/*
 * Any callback may be NULL: that record kind is still decoded and counted, then
 * dropped by the caller's choice. A callback returns 0 to go on, or a negative
 * error (FR_EFULL when a ring is full, ...) to stop decoding: the decode call
 * then returns that value at once (d->err holds it too), and env.records /
 * env.rejects say how far it got, counting the entry whose callback stopped.
 * env points into *d; see "Memory" above.
 *
 * envelope_only: a push's envelope is read (topic, id, creationTime,
 * env.entries) and its data[] is not, nor a REST answer's result.list (its
 * envelope and env.entries are): no record callback, records and rejects 0.
 * For readers that only route or count (bybit.c tells control answers from
 * pushes this way, rest.c and backfill.c read envelopes and page sizes; the
 * sink decodes each message in full).
 */
struct decode_sink {
	void *ctx;
	int (*on_exec)(void *ctx, const struct decode_env *env, const struct decode_exec *r);
	int (*on_order)(void *ctx, const struct decode_env *env, const struct decode_order *r);
	int (*on_position)(void *ctx, const struct decode_env *env,
	                   const struct decode_position *r);
	int (*on_wallet)(void *ctx, const struct decode_env *env, const struct decode_wallet *r);
	int (*on_control)(void *ctx, const struct decode_env *env, const struct decode_control *r);
	int (*on_reject)(void *ctx, const struct decode_env *env, const struct decode_reject *r);
	int envelope_only;
};

/* ---- the decoder ---------------------------------------------------------- */

struct decode {
	int tok_[DECODE_TOKENS_MAX][DECODE_TOK_INTS]; /* jsmn's tokens: private to decode.c */
	struct decode_env env;                        /* of the last message; see "Memory" */
	int err;                     /* 0, or the last call's whole-message error */
	char why[DECODE_REASON_MAX]; /* its reason; "" when err == 0 */
	union {                      /* the record being decoded: private */
		struct decode_exec exec;
		struct decode_order order;
		struct decode_position position;
		struct decode_wallet wallet;
		struct decode_control control;
	} rec_;
	struct decode_reject rej_; /* private */
};

/*
 * Decodes one WebSocket message of the private stream: a push (data topics) or
 * a control answer. msg[0..len) need not be NUL-terminated and is not changed;
 * spans refer to it. Returns the number of records delivered (>= 0) when the
 * message as a whole was read (entries may still have been rejected: see
 * d->env.rejects), or a negative error: FR_EINVAL (not JSON, incomplete JSON,
 * not an object, unknown topic, malformed envelope), FR_ERANGE (longer than
 * DECODE_MSG_MAX, an envelope string too long), FR_ENOMEM (more than
 * DECODE_TOKENS_MAX tokens), or a callback's own error. On a whole-message
 * error d->err and d->why say what, and on_reject was called once (index -1).
 * Precondition: d, msg (unless len == 0) and s are non-NULL.
 */
int decode_push(struct decode *d, const char *msg, size_t len, const struct decode_sink *s);

/*
 * Decodes one REST response body whose list holds `kind` records (the caller
 * knows the endpoint it asked). kind DECODE_KIND_NONE guesses it from the first
 * list entry (execId: execution, orderStatus: order, accountType or coin:
 * wallet, size: position). Returns as decode_push; a body without retCode is
 * FR_EINVAL. The envelope (d->env: ret_code, ret_msg, time_ms, category,
 * cursor) is read before result.list: an answer whose result holds no list
 * (/v5/market/time, /v5/user/query-api) still leaves its envelope in d->env,
 * whatever the return value says of the list.
 */
int decode_rest(struct decode *d, enum decode_kind kind, const char *msg, size_t len,
                const struct decode_sink *s);

/* Either of the above, by shape: "topic" or "op" is a push, "retCode" is REST
 * (kind guessed). For tools (fillrelay decode) and fuzzing. */
int decode_any(struct decode *d, const char *msg, size_t len, const struct decode_sink *s);

/*
 * Finds the first JSON value in s[0..n) after leading blanks, for reading a
 * stream of messages (NDJSON, concatenated or pretty-printed documents).
 * Returns 0 and sets *end to the offset just past the value, or FR_EINVAL with
 * a reason in why[0..whyn) ("incomplete JSON: ..." when s ends inside it, which
 * includes s holding only blanks). The same checks as the decode calls, except
 * the size and token limits.
 */
int decode_scan(const char *s, size_t n, size_t *end, char *why, size_t whyn);

/* "execution", "order", "position", "wallet", "control" or "message". */
const char *decode_kind_name(enum decode_kind k);

#endif
