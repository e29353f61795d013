/*
 * fuzz_rest.c -- libFuzzer target for decode_rest.
 *
 * The input is one REST response body (any bytes, not NUL-terminated). It is
 * decoded once per record kind a caller may ask for (and once with the kind
 * guessed), and each call is checked against the callbacks it made: every list
 * entry ends in exactly one record or reject, spans lie inside the body, the
 * cursor is kept verbatim. Dictionary: fuzz/json.dict.
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
static const char *body;
static size_t body_len;
static enum decode_kind want;
static int n_records, n_rejects, n_whole, n_coins;

static void check_object(struct decode_span s)
{
	size_t end = 0;

	CHECK((size_t)s.off + s.len <= body_len && s.len >= 2);
	CHECK(body[s.off] == '{' && body[s.off + s.len - 1] == '}');
	CHECK(decode_scan(body + s.off, s.len, &end, NULL, 0) == 0 && end == s.len);
}

static void check_env(const struct decode_env *e)
{
	CHECK(e == &d.env && e->source == DECODE_SRC_REST);
	CHECK(memchr(e->cursor, 0, sizeof e->cursor) && memchr(e->category, 0, sizeof e->category));
	CHECK(e->ret_code.present && e->ret_code.v == 0); /* records only from a success */
	CHECK(want == DECODE_KIND_NONE || e->kind == want);
}

static int on_exec(void *ctx, const struct decode_env *e, const struct decode_exec *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	/* the category is the entry's own or result.category: never missing */
	CHECK(r->exec_id[0] && r->category[0] && r->exec_qty.present && r->exec_price.present);
	CHECK(r->index >= 0 && r->index < e->entries);
	n_records++;
	return 0;
}

static int on_order(void *ctx, const struct decode_env *e, const struct decode_order *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	CHECK(r->order_id[0] && r->order_status[0] && r->index < e->entries);
	n_records++;
	return 0;
}

static int on_position(void *ctx, const struct decode_env *e, const struct decode_position *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	CHECK(r->symbol[0] && r->category[0] && r->size.present && r->index < e->entries);
	n_records++;
	return 0;
}

static int on_wallet(void *ctx, const struct decode_env *e, const struct decode_wallet *r)
{
	(void)ctx;
	check_env(e);
	check_object(r->raw);
	check_object(r->account_raw);
	CHECK(r->account_raw.off <= r->raw.off &&
	      r->raw.off + r->raw.len <= r->account_raw.off + r->account_raw.len);
	n_records++;
	n_coins += r->coin_index > 0;
	return 0;
}

static int on_control(void *ctx, const struct decode_env *e, const struct decode_control *r)
{
	(void)ctx;
	(void)e;
	(void)r;
	CHECK(0); /* decode_rest never sees a control answer */
	return 0;
}

static int on_reject(void *ctx, const struct decode_env *e, const struct decode_reject *r)
{
	(void)ctx;
	CHECK(e == &d.env);
	CHECK(memchr(r->reason, 0, sizeof r->reason) && r->reason[0] && r->err < 0);
	CHECK((size_t)r->raw.off + r->raw.len <= body_len);
	if (r->index < 0) {
		n_whole++;
		return 0;
	}
	CHECK(r->index < e->entries);
	n_rejects++;
	n_coins += r->coin_index > 0;
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

static void run(enum decode_kind k)
{
	int rc;

	want = k;
	n_records = n_rejects = n_whole = n_coins = 0;
	rc = decode_rest(&d, k, body, body_len, &sink);
	if (rc < 0) {
		CHECK(rc == FR_EINVAL || rc == FR_ERANGE || rc == FR_ENOMEM);
		CHECK(d.err == rc && d.why[0] && n_whole == 1 && n_records == 0);
		return;
	}
	CHECK(rc == n_records && rc == d.env.records && n_rejects == d.env.rejects);
	CHECK(d.err == 0 && n_whole == 0);
	/* every entry accounted for (a wallet account's extra coins add lines) */
	CHECK(n_records + n_rejects - n_coins == d.env.entries || d.env.ret_code.v != 0);
	CHECK(d.env.ret_code.v == 0 || (n_records == 0 && n_rejects == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	body = (const char *)data;
	body_len = size;
	run(DECODE_KIND_NONE);
	run(DECODE_KIND_EXECUTION);
	run(DECODE_KIND_ORDER);
	run(DECODE_KIND_POSITION);
	run(DECODE_KIND_WALLET);
	return 0;
}
