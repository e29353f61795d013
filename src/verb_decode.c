/*
 * verb_decode.c -- `fillrelay decode`: reads the input into a static buffer,
 * splits it into messages with decode_scan, decodes each with decode_any and
 * prints a JSON line per record from the decode callbacks.
 *
 * No stdio streams and no heap: lines are built in a fixed buffer and written
 * with write(2), so the same code serves stdout and a test's file descriptor.
 */
#define _POSIX_C_SOURCE 200809L

#include "verb_decode.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "err.h"

/* Everything one run needs, static: the input alone is VERB_DECODE_INPUT_MAX. */
struct vd {
	const struct cfg *cfg;
	int out_fd, err_fd;
	int io_err;  /* errno of a failed write (stops the run), or 0 */
	size_t base; /* offset of the current message in the input */
	size_t len;  /* bytes in line */
	char line[VERB_DECODE_LINE_MAX];
	struct decode dec;
	char in[VERB_DECODE_INPUT_MAX + 1];
};

static struct vd vd;
static verb_decode_exec_hook vd_hook;

/* see verb_decode.h */
void verb_decode_set_exec_hook(verb_decode_exec_hook fn)
{
	vd_hook = fn;
}

/* ---- output ----------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return FR_EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

__attribute__((format(printf, 2, 3))) static void say(struct vd *v, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(v->err_fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

static void put(struct vd *v, const char *s, size_t n)
{
	/* Records are bounded by decode.h's sizes: a line that does not fit is a bug. */
	assert(v->len + n < sizeof v->line);
	memcpy(v->line + v->len, s, n);
	v->len += n;
}

static void puts_(struct vd *v, const char *s)
{
	put(v, s, strlen(s));
}

/* s as the contents of a JSON string: decode hands out valid UTF-8. */
static void put_esc(struct vd *v, const char *s)
{
	for (; *s; s++) {
		unsigned char b = (unsigned char)*s;
		char u[8];

		if (b == '"' || b == '\\') {
			put(v, "\\", 1);
			put(v, s, 1);
		} else if (b == '\n') {
			puts_(v, "\\n");
		} else if (b == '\r') {
			puts_(v, "\\r");
		} else if (b == '\t') {
			puts_(v, "\\t");
		} else if (b < 0x20) {
			snprintf(u, sizeof u, "\\u%04x", b);
			puts_(v, u);
		} else {
			put(v, s, 1);
		}
	}
}

static void key(struct vd *v, const char *k)
{
	put(v, ",\"", 2);
	puts_(v, k);
	put(v, "\":", 2);
}

static void f_str(struct vd *v, const char *k, const char *s)
{
	key(v, k);
	put(v, "\"", 1);
	put_esc(v, s);
	put(v, "\"", 1);
}

static void f_i64(struct vd *v, const char *k, int64_t i)
{
	char b[24];

	key(v, k);
	snprintf(b, sizeof b, "%" PRId64, i);
	puts_(v, b);
}

static void f_int(struct vd *v, const char *k, struct decode_int i)
{
	if (i.present) {
		f_i64(v, k, i.v);
		return;
	}
	key(v, k);
	puts_(v, "null");
}

static void f_dec(struct vd *v, const char *k, struct decode_dec d)
{
	char b[DEC_STR_MAX];

	key(v, k);
	if (!d.present || dec_format(d.v, b, sizeof b) < 0) {
		puts_(v, "null");
		return;
	}
	put(v, "\"", 1);
	puts_(v, b);
	put(v, "\"", 1);
}

static void f_bool(struct vd *v, const char *k, int8_t b)
{
	key(v, k);
	puts_(v, b == DECODE_BOOL_ABSENT ? "null" : b ? "true" : "false");
}

/* A raw list or object: its entry count, or null when absent. */
static void f_list(struct vd *v, const char *k, const struct decode_list *l)
{
	if (l->n >= 0) {
		f_i64(v, k, l->n);
		return;
	}
	key(v, k);
	puts_(v, "null");
}

/* A span as [offset in the input, length]. */
static void f_span(struct vd *v, const char *k, struct decode_span s)
{
	char b[48];

	key(v, k);
	snprintf(b, sizeof b, "[%zu,%" PRIu32 "]", v->base + s.off, s.len);
	puts_(v, b);
}

static void line_begin(struct vd *v, const char *kind)
{
	v->len = 0;
	puts_(v, "{\"kind\":\"");
	puts_(v, kind);
	put(v, "\"", 1);
}

static int line_end(struct vd *v)
{
	put(v, "}\n", 2);
	if (!v->io_err && write_all(v->out_fd, v->line, v->len) != 0)
		v->io_err = errno ? errno : EIO;
	return v->io_err ? FR_EIO : 0;
}

/* "source", and for a push its envelope, then the entry's index. */
static void f_env(struct vd *v, const struct decode_env *e, int index)
{
	if (e->source == DECODE_SRC_REST) {
		f_str(v, "source", "rest");
	} else {
		f_str(v, "source", "push");
		f_str(v, "topic", e->topic);
		f_str(v, "id", e->id);
		f_int(v, "creationTime", e->creation_time_ms);
	}
	f_i64(v, "index", index);
}

/* ---- records ---------------------------------------------------------------- */

static void exec_hook(struct vd *v, const struct decode_env *e, const struct decode_exec *r)
{
	size_t room = sizeof v->line - v->len - 64; /* what "raw" and the end need */
	int n;

	if (!vd_hook)
		return;
	n = vd_hook(v->cfg, e, r, v->line + v->len, room);
	if (n > 0 && (size_t)n < room)
		v->len += (size_t)n;
}

static void exec_ids(struct vd *v, const struct decode_exec *r)
{
	f_str(v, "category", r->category);
	f_str(v, "symbol", r->symbol);
	f_str(v, "execId", r->exec_id);
	f_str(v, "orderId", r->order_id);
	f_str(v, "orderLinkId", r->order_link_id);
	f_str(v, "side", r->side);
	f_str(v, "orderType", r->order_type);
	f_str(v, "stopOrderType", r->stop_order_type);
	f_str(v, "createType", r->create_type);
	f_str(v, "execType", r->exec_type);
}

static int on_exec(void *ctx, const struct decode_env *e, const struct decode_exec *r)
{
	struct vd *v = ctx;

	line_begin(v, "execution");
	f_env(v, e, r->index);
	exec_ids(v, r);
	f_dec(v, "execQty", r->exec_qty);
	f_dec(v, "execPrice", r->exec_price);
	f_dec(v, "execValue", r->exec_value);
	f_dec(v, "execFee", r->exec_fee);
	f_dec(v, "feeRate", r->fee_rate);
	f_str(v, "feeCurrency", r->fee_currency);
	f_dec(v, "closedSize", r->closed_size);
	f_dec(v, "execPnl", r->exec_pnl);
	f_dec(v, "markPrice", r->mark_price);
	f_dec(v, "indexPrice", r->index_price);
	f_dec(v, "leavesQty", r->leaves_qty);
	f_dec(v, "orderQty", r->order_qty);
	f_dec(v, "orderPrice", r->order_price);
	f_bool(v, "isMaker", r->is_maker);
	f_str(v, "isLeverage", r->is_leverage);
	f_i64(v, "execTime", r->exec_time_ms);
	f_int(v, "seq", r->seq);
	f_str(v, "blockTradeId", r->block_trade_id);
	f_str(v, "marketUnit", r->market_unit);
	f_list(v, "extraFees", &r->extra_fees);
	exec_hook(v, e, r);
	f_span(v, "raw", r->raw);
	return line_end(v);
}

static void order_strs(struct vd *v, const struct decode_order *r)
{
	f_str(v, "category", r->category);
	f_str(v, "symbol", r->symbol);
	f_str(v, "orderId", r->order_id);
	f_str(v, "orderLinkId", r->order_link_id);
	f_str(v, "parentOrderLinkId", r->parent_order_link_id);
	f_str(v, "side", r->side);
	f_str(v, "orderType", r->order_type);
	f_str(v, "orderStatus", r->order_status);
	f_str(v, "stopOrderType", r->stop_order_type);
	f_str(v, "createType", r->create_type);
	f_str(v, "cancelType", r->cancel_type);
	f_str(v, "rejectReason", r->reject_reason);
	f_str(v, "timeInForce", r->time_in_force);
	f_str(v, "tpslMode", r->tpsl_mode);
	f_str(v, "feeCurrency", r->fee_currency);
}

static int on_order(void *ctx, const struct decode_env *e, const struct decode_order *r)
{
	struct vd *v = ctx;

	line_begin(v, "order");
	f_env(v, e, r->index);
	order_strs(v, r);
	f_dec(v, "qty", r->qty);
	f_dec(v, "price", r->price);
	f_dec(v, "avgPrice", r->avg_price);
	f_dec(v, "cumExecQty", r->cum_exec_qty);
	f_dec(v, "cumExecValue", r->cum_exec_value);
	f_dec(v, "cumExecFee", r->cum_exec_fee);
	f_dec(v, "leavesQty", r->leaves_qty);
	f_dec(v, "leavesValue", r->leaves_value);
	f_dec(v, "triggerPrice", r->trigger_price);
	f_dec(v, "takeProfit", r->take_profit);
	f_dec(v, "stopLoss", r->stop_loss);
	f_dec(v, "closedPnl", r->closed_pnl);
	f_int(v, "positionIdx", r->position_idx);
	f_int(v, "triggerDirection", r->trigger_direction);
	f_int(v, "smpGroup", r->smp_group);
	f_bool(v, "reduceOnly", r->reduce_only);
	f_bool(v, "closeOnTrigger", r->close_on_trigger);
	f_list(v, "cumFeeDetail", &r->cum_fee_detail);
	f_int(v, "createdTime", r->created_time_ms);
	f_i64(v, "updatedTime", r->updated_time_ms);
	f_span(v, "raw", r->raw);
	return line_end(v);
}

static void position_decs(struct vd *v, const struct decode_position *r)
{
	f_dec(v, "size", r->size);
	f_dec(v, "entryPrice", r->entry_price);
	f_dec(v, "markPrice", r->mark_price);
	f_dec(v, "positionValue", r->position_value);
	f_dec(v, "unrealisedPnl", r->unrealised_pnl);
	f_dec(v, "curRealisedPnl", r->cur_realised_pnl);
	f_dec(v, "cumRealisedPnl", r->cum_realised_pnl);
	f_dec(v, "leverage", r->leverage);
	f_dec(v, "liqPrice", r->liq_price);
	f_dec(v, "bustPrice", r->bust_price);
	f_dec(v, "takeProfit", r->take_profit);
	f_dec(v, "stopLoss", r->stop_loss);
	f_dec(v, "trailingStop", r->trailing_stop);
	f_dec(v, "positionIM", r->position_im);
	f_dec(v, "positionMM", r->position_mm);
	f_dec(v, "positionBalance", r->position_balance);
}

static int on_position(void *ctx, const struct decode_env *e, const struct decode_position *r)
{
	struct vd *v = ctx;

	line_begin(v, "position");
	f_env(v, e, r->index);
	f_str(v, "category", r->category);
	f_str(v, "symbol", r->symbol);
	f_str(v, "side", r->side);
	f_int(v, "positionIdx", r->position_idx);
	position_decs(v, r);
	f_str(v, "positionStatus", r->position_status);
	f_str(v, "tpslMode", r->tpsl_mode);
	f_int(v, "tradeMode", r->trade_mode);
	f_int(v, "autoAddMargin", r->auto_add_margin);
	f_int(v, "adlRankIndicator", r->adl_rank_indicator);
	f_int(v, "riskId", r->risk_id);
	f_bool(v, "isReduceOnly", r->is_reduce_only);
	f_int(v, "seq", r->seq);
	f_int(v, "createdTime", r->created_time_ms);
	f_i64(v, "updatedTime", r->updated_time_ms);
	f_span(v, "raw", r->raw);
	return line_end(v);
}

static void wallet_account(struct vd *v, const struct decode_wallet *r)
{
	f_str(v, "accountType", r->account_type);
	f_dec(v, "totalEquity", r->total_equity);
	f_dec(v, "totalWalletBalance", r->total_wallet_balance);
	f_dec(v, "totalMarginBalance", r->total_margin_balance);
	f_dec(v, "totalAvailableBalance", r->total_available_balance);
	f_dec(v, "totalPerpUPL", r->total_perp_upl);
	f_dec(v, "totalInitialMargin", r->total_initial_margin);
	f_dec(v, "totalMaintenanceMargin", r->total_maintenance_margin);
	f_dec(v, "accountIMRate", r->account_im_rate);
	f_dec(v, "accountMMRate", r->account_mm_rate);
	f_dec(v, "accountLTV", r->account_ltv);
}

static void wallet_coin(struct vd *v, const struct decode_wallet *r)
{
	f_str(v, "coin", r->coin);
	f_dec(v, "equity", r->equity);
	f_dec(v, "usdValue", r->usd_value);
	f_dec(v, "walletBalance", r->wallet_balance);
	f_dec(v, "availableToWithdraw", r->available_to_withdraw);
	f_dec(v, "locked", r->locked);
	f_dec(v, "borrowAmount", r->borrow_amount);
	f_dec(v, "accruedInterest", r->accrued_interest);
	f_dec(v, "totalOrderIM", r->total_order_im);
	f_dec(v, "totalPositionIM", r->total_position_im);
	f_dec(v, "totalPositionMM", r->total_position_mm);
	f_dec(v, "unrealisedPnl", r->unrealised_pnl);
	f_dec(v, "cumRealisedPnl", r->cum_realised_pnl);
	f_bool(v, "collateralSwitch", r->collateral_switch);
	f_bool(v, "marginCollateral", r->margin_collateral);
}

static int on_wallet(void *ctx, const struct decode_env *e, const struct decode_wallet *r)
{
	struct vd *v = ctx;

	line_begin(v, "wallet");
	f_env(v, e, r->index);
	f_i64(v, "coinIndex", r->coin_index);
	f_i64(v, "coins", r->coins_n);
	wallet_account(v, r);
	wallet_coin(v, r);
	f_span(v, "raw", r->raw);
	f_span(v, "accountRaw", r->account_raw);
	return line_end(v);
}

static int on_control(void *ctx, const struct decode_env *e, const struct decode_control *r)
{
	static const char *const kinds[] = {
	    [DECODE_OP_OTHER] = "control",       [DECODE_OP_AUTH] = "auth",
	    [DECODE_OP_SUBSCRIBE] = "subscribe", [DECODE_OP_UNSUBSCRIBE] = "unsubscribe",
	    [DECODE_OP_PONG] = "pong",
	};
	struct vd *v = ctx;

	(void)e;
	line_begin(v, kinds[r->op]);
	f_str(v, "op", r->op_str);
	f_bool(v, "success", r->success);
	f_str(v, "retMsg", r->ret_msg);
	f_int(v, "retCode", r->ret_code);
	f_str(v, "reqId", r->req_id);
	f_str(v, "connId", r->conn_id);
	f_int(v, "serverTime", r->server_time_ms);
	f_span(v, "raw", r->raw);
	return line_end(v);
}

static int on_reject(void *ctx, const struct decode_env *e, const struct decode_reject *r)
{
	struct vd *v = ctx;

	line_begin(v, "reject");
	f_str(v, "of", decode_kind_name(r->kind));
	if (r->index >= 0)
		f_env(v, e, r->index);
	else
		f_i64(v, "index", -1);
	if (r->coin_index >= 0)
		f_i64(v, "coinIndex", r->coin_index);
	f_str(v, "reason", r->reason);
	f_span(v, "raw", r->raw);
	return line_end(v);
}

static const struct decode_sink vd_sink = {
    .ctx = &vd,
    .on_exec = on_exec,
    .on_order = on_order,
    .on_position = on_position,
    .on_wallet = on_wallet,
    .on_control = on_control,
    .on_reject = on_reject,
};

/* The closing line of a push or REST message that decoded. */
static int summary(struct vd *v, const struct decode_env *e)
{
	if (e->kind == DECODE_KIND_CONTROL)
		return 0;
	if (e->source == DECODE_SRC_REST) {
		line_begin(v, "rest");
		key(v, "list");
		puts_(v, e->kind == DECODE_KIND_NONE ? "null" : "\"");
		if (e->kind != DECODE_KIND_NONE) {
			puts_(v, decode_kind_name(e->kind));
			put(v, "\"", 1);
		}
		f_int(v, "retCode", e->ret_code);
		f_str(v, "retMsg", e->ret_msg);
		f_str(v, "category", e->category);
		f_str(v, "nextPageCursor", e->cursor);
		f_int(v, "time", e->time_ms);
	} else {
		line_begin(v, "push");
		f_str(v, "topic", e->topic);
		f_str(v, "id", e->id);
		f_int(v, "creationTime", e->creation_time_ms);
	}
	f_i64(v, "entries", e->entries);
	f_i64(v, "records", e->records);
	f_i64(v, "rejects", e->rejects);
	if (e->source == DECODE_SRC_PUSH)
		f_i64(v, "ignored", e->ignored);
	f_span(v, "raw", e->msg);
	return line_end(v);
}

/* ---- input ------------------------------------------------------------------ */

/* Reads fd to its end into v->in (one byte more than the limit, to tell "too
 * large" from "exactly full"); 0 or errno. */
static int read_all(struct vd *v, int fd, size_t *n)
{
	*n = 0;
	while (*n < sizeof v->in) {
		ssize_t r = read(fd, v->in + *n, sizeof v->in - *n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	return 0;
}

/* Reads the whole input into v->in: EX_OK and its length, or a sysexits code. */
static int read_input(struct vd *v, const char *path, size_t *n)
{
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int err;

	if (fd < 0) {
		say(v, "fillrelay decode: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		say(v, "fillrelay decode: %s: is a directory\n", path);
		close(fd);
		return EX_NOINPUT;
	}
	err = read_all(v, fd, n);
	if (fd != 0)
		close(fd);
	if (err) {
		say(v, "fillrelay decode: %s: %s\n", path, strerror(err));
		return EX_IOERR;
	}
	if (*n > VERB_DECODE_INPUT_MAX) {
		say(v,
		    "fillrelay decode: %s: input larger than %u bytes (VERB_DECODE_INPUT_MAX): "
		    "split it into smaller files\n",
		    path, VERB_DECODE_INPUT_MAX);
		return EX_DATAERR;
	}
	return EX_OK;
}

/* Length of the message at in[0..n): the first JSON value, or when there is
 * none, up to the next line that starts with '{' (NDJSON resynchronises there). */
static size_t message_len(const char *in, size_t n)
{
	size_t end = 0;
	const char *nl;

	if (decode_scan(in, n, &end, NULL, 0) == 0)
		return end;
	for (nl = memchr(in, '\n', n); nl; nl = memchr(nl + 1, '\n', n - (size_t)(nl + 1 - in)))
		if ((size_t)(nl + 1 - in) < n && nl[1] == '{')
			return (size_t)(nl + 1 - in);
	return n;
}

static int is_blank(char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* Decodes every message of v->in[0..n); returns how many had a problem. */
static int decode_all(struct vd *v, size_t n, int *messages)
{
	size_t pos = 0;
	int bad = 0;

	*messages = 0;
	while (!v->io_err) {
		size_t len;
		int rc;

		while (pos < n && is_blank(v->in[pos]))
			pos++;
		if (pos == n)
			break;
		len = message_len(v->in + pos, n - pos);
		v->base = pos;
		rc = decode_any(&v->dec, v->in + pos, len, &vd_sink);
		if (rc >= 0)
			summary(v, &v->dec.env);
		bad += rc < 0 || v->dec.env.rejects > 0;
		(*messages)++;
		pos += len;
	}
	return bad;
}

/* see verb_decode.h */
int verb_decode_fds(int argc, char **argv, const struct cfg *c, int out_fd, int err_fd)
{
	struct vd *v = &vd;
	int bad, messages, rc;
	size_t n = 0;

	v->cfg = c;
	v->out_fd = out_fd;
	v->err_fd = err_fd;
	v->io_err = 0;
	if (argc != 1) {
		say(v, "usage: fillrelay decode FILE|-\n");
		return EX_USAGE;
	}
	rc = read_input(v, argv[0], &n);
	if (rc != EX_OK)
		return rc;
	bad = decode_all(v, n, &messages);
	if (v->io_err) {
		say(v, "fillrelay decode: cannot write the output: %s\n", strerror(v->io_err));
		return EX_IOERR;
	}
	if (messages == 0) {
		say(v, "fillrelay decode: %s: no message in the input\n", argv[0]);
		return EX_DATAERR;
	}
	if (bad) {
		say(v,
		    "fillrelay decode: %s: %d of %d message%s had rejects (see the \"reject\" "
		    "lines)\n",
		    argv[0], bad, messages, messages == 1 ? "" : "s");
		return EX_DATAERR;
	}
	return EX_OK;
}

/* see verb_decode.h */
int verb_decode(int argc, char **argv, const struct cfg *c)
{
	return verb_decode_fds(argc, argv, c, 1, 2);
}
