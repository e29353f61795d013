/*
 * fuzz_push.c -- libFuzzer target for decode_push and decode_any.
 *
 * The input is one WebSocket message: any bytes, not NUL-terminated (libFuzzer
 * hands out an exact-size buffer, so ASan sees any read past it). Every
 * callback checks what decode.h promises about what it hands out, and the call
 * as a whole is checked against the callbacks it made and against decode_scan.
 * Dictionary: fuzz/json.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode.h"
#include "err.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static struct decode d;
static const char *msg;
static size_t msg_len;
static int n_records, n_rejects, n_whole;

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define STR_OK(a) CHECK(terminated((a), sizeof(a)))

/* A record's raw text is exactly one JSON object inside the message. */
static void check_object(struct decode_span s)
{
	size_t end = 0;

	CHECK((size_t)s.off + s.len <= msg_len && s.len >= 2);
	CHECK(msg[s.off] == '{' && msg[s.off + s.len - 1] == '}');
	CHECK(decode_scan(msg + s.off, s.len, &end, NULL, 0) == 0 && end == s.len);
}

static void check_dec(struct decode_dec v)
{
	char b[DEC_STR_MAX];

	CHECK(v.present ? dec_format(v.v, b, sizeof b) > 0 : v.v.v == 0);
}

static void check_env(const struct decode_env *e)
{
	CHECK(e == &d.env);
	STR_OK(e->topic);
	STR_OK(e->id);
	STR_OK(e->cursor);
	STR_OK(e->ret_msg);
	CHECK((size_t)e->msg.off + e->msg.len <= msg_len);
}

static int on_exec(void *ctx, const struct decode_env *e, const struct decode_exec *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	STR_OK(r->exec_id);
	STR_OK(r->order_link_id);
	CHECK(r->exec_id[0] && r->symbol[0] && r->category[0] && r->exec_type[0]);
	CHECK(strcmp(r->side, "Buy") == 0 || strcmp(r->side, "Sell") == 0);
	CHECK(r->exec_qty.present && r->exec_price.present && r->exec_time_ms >= 0);
	check_dec(r->exec_qty);
	check_dec(r->exec_fee);
	CHECK(r->is_maker >= DECODE_BOOL_ABSENT && r->is_maker <= DECODE_BOOL_TRUE);
	CHECK(r->extra_fees.n >= -1);
	if (r->extra_fees.n >= 0)
		CHECK((size_t)r->extra_fees.raw.off + r->extra_fees.raw.len <= msg_len);
	CHECK(!e->fast && e->kind == DECODE_KIND_EXECUTION);
	n_records++;
	return 0;
}

static int on_order(void *ctx, const struct decode_env *e, const struct decode_order *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	STR_OK(r->order_status);
	CHECK(r->order_id[0] && r->symbol[0] && r->order_status[0]);
	check_dec(r->cum_exec_qty);
	n_records++;
	return 0;
}

static int on_position(void *ctx, const struct decode_env *e, const struct decode_position *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	STR_OK(r->side);
	CHECK(r->symbol[0] && r->category[0] && r->size.present);
	check_dec(r->size);
	n_records++;
	return 0;
}

static int on_wallet(void *ctx, const struct decode_env *e, const struct decode_wallet *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	check_object(r->account_raw);
	CHECK(r->account_type[0] && (r->coin_index < 0 || r->coin[0]));
	CHECK(r->coin_index < r->coins_n || (r->coin_index == -1 && r->coins_n == 0));
	check_dec(r->wallet_balance);
	n_records++;
	return 0;
}

static int on_control(void *ctx, const struct decode_env *e, const struct decode_control *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	STR_OK(r->op_str);
	STR_OK(r->ret_msg);
	CHECK(r->op_str[0] || r->op == DECODE_OP_OTHER);
	CHECK(e->kind == DECODE_KIND_CONTROL);
	n_records++;
	return 0;
}

static int on_reject(void *ctx, const struct decode_env *e, const struct decode_reject *r)
{
	(void)ctx;
	check_env(e);
	STR_OK(r->reason);
	CHECK(r->reason[0] && r->err < 0);
	CHECK((size_t)r->raw.off + r->raw.len <= msg_len);
	CHECK(r->index >= -1 && r->coin_index >= -1);
	if (r->index == -1)
		n_whole++;
	else
		n_rejects++;
	return 0;
}

static const struct decode_sink sink = {
	.on_exec = on_exec,
	.on_order = on_order,
	.on_position = on_position,
	.on_wallet = on_wallet,
	.on_control = on_control,
	.on_reject = on_reject,
};

static void check_call(int rc)
{
	size_t end = 0;

	if (rc >= 0) {
		CHECK(rc == n_records && rc == d.env.records);
		CHECK(n_rejects == d.env.rejects && n_whole == 0);
		CHECK(d.err == 0 && d.why[0] == 0);
		/* what decoded is one JSON value, then blanks only */
		CHECK(decode_scan(msg, msg_len, &end, NULL, 0) == 0 && end <= msg_len);
		CHECK(d.env.entries >= 0 && d.env.ignored <= d.env.entries);
		return;
	}
	CHECK(rc == FR_EINVAL || rc == FR_ERANGE || rc == FR_ENOMEM);
	CHECK(d.err == rc && d.why[0] && terminated(d.why, sizeof d.why));
	CHECK(n_whole == 1 && n_records == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msg = (const char *)data;
	msg_len = size;
	n_records = n_rejects = n_whole = 0;
	check_call(decode_push(&d, msg, size, &sink));
	n_records = n_rejects = n_whole = 0;
	check_call(decode_any(&d, msg, size, &sink));
	return 0;
}
