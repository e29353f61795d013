/*
 * test_decode.c -- the decoder (src/decode.c) and `fillrelay decode`
 * (src/verb_decode.c): field-by-field checks against Bybit's samples
 * (../shared/fixtures/bybit, relative to the repository root, the tests' cwd)
 * and the project's own fixtures (tests/fixtures), golden outputs
 * (tests/golden/NAME.out), every prefix of every message, fragmented,
 * oversized, deeply nested and token-exhausting input.
 *
 * FR_GOLDEN_UPDATE=1 rewrites tests/golden from the current output instead of
 * comparing; review every changed file against its fixture before committing.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "decode.h"
#include "err.h"
#include "t.h"
#include "verb_decode.h"

#define SHARED_DIR "../shared/fixtures/bybit"
#define OWN_DIR "tests/fixtures"
#define GOLDEN_DIR "tests/golden"
#define CAP_MAX 8
#define FILE_MAX (1u << 20)

/* ---- a sink that keeps copies -------------------------------------------- */

struct cap {
	int n_exec, n_order, n_pos, n_wallet, n_ctl, n_rej;
	struct decode_exec exec[CAP_MAX];
	struct decode_order order[CAP_MAX];
	struct decode_position pos[CAP_MAX];
	struct decode_wallet wallet[CAP_MAX];
	struct decode_control ctl;
	struct decode_reject rej[CAP_MAX];
	struct decode_env env;
	int stop_at_exec; /* > 0: that execution callback answers FR_EFULL */
};

static struct cap cap;
static struct decode dec;
static char file_buf[FILE_MAX];

static int cap_exec(void *ctx, const struct decode_env *e, const struct decode_exec *r)
{
	struct cap *c = ctx;

	c->env = *e;
	if (c->n_exec < CAP_MAX)
		c->exec[c->n_exec] = *r;
	c->n_exec++;
	return c->n_exec == c->stop_at_exec ? FR_EFULL : 0;
}

static int cap_order(void *ctx, const struct decode_env *e, const struct decode_order *r)
{
	struct cap *c = ctx;

	c->env = *e;
	if (c->n_order < CAP_MAX)
		c->order[c->n_order] = *r;
	c->n_order++;
	return 0;
}

static int cap_pos(void *ctx, const struct decode_env *e, const struct decode_position *r)
{
	struct cap *c = ctx;

	c->env = *e;
	if (c->n_pos < CAP_MAX)
		c->pos[c->n_pos] = *r;
	c->n_pos++;
	return 0;
}

static int cap_wallet(void *ctx, const struct decode_env *e, const struct decode_wallet *r)
{
	struct cap *c = ctx;

	c->env = *e;
	if (c->n_wallet < CAP_MAX)
		c->wallet[c->n_wallet] = *r;
	c->n_wallet++;
	return 0;
}

static int cap_ctl(void *ctx, const struct decode_env *e, const struct decode_control *r)
{
	struct cap *c = ctx;

	c->env = *e;
	c->ctl = *r;
	c->n_ctl++;
	return 0;
}

static int cap_rej(void *ctx, const struct decode_env *e, const struct decode_reject *r)
{
	struct cap *c = ctx;

	c->env = *e;
	if (c->n_rej < CAP_MAX)
		c->rej[c->n_rej] = *r;
	c->n_rej++;
	return 0;
}

static const struct decode_sink cap_sink = {
	.ctx = &cap,
	.on_exec = cap_exec,
	.on_order = cap_order,
	.on_position = cap_pos,
	.on_wallet = cap_wallet,
	.on_control = cap_ctl,
	.on_reject = cap_rej,
};

static int records(void)
{
	return cap.n_exec + cap.n_order + cap.n_pos + cap.n_wallet + cap.n_ctl;
}

static int push_n(const char *msg, size_t n)
{
	memset(&cap, 0, sizeof cap);
	return decode_push(&dec, msg, n, &cap_sink);
}

static int push(const char *msg)
{
	return push_n(msg, strlen(msg));
}

static int any_n(const char *msg, size_t n)
{
	memset(&cap, 0, sizeof cap);
	return decode_any(&dec, msg, n, &cap_sink);
}

static int rest(enum decode_kind k, const char *msg)
{
	memset(&cap, 0, sizeof cap);
	return decode_rest(&dec, k, msg, strlen(msg), &cap_sink);
}

/* Reads a whole file into file_buf (NUL-terminated); its length, or -1. */
static long slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	n = fread(file_buf, 1, FILE_MAX - 1, f);
	fclose(f);
	file_buf[n] = 0;
	return (long)n;
}

static const char *shared(const char *name)
{
	static char path[256];

	snprintf(path, sizeof path, SHARED_DIR "/%.127s", name);
	return path;
}

static const char *own(const char *name)
{
	static char path[256];

	snprintf(path, sizeof path, OWN_DIR "/%.127s", name);
	return path;
}

/* Decodes a fixture file with decode_any: its return value, or -100 if unreadable. */
static int any_file(const char *path)
{
	long n = slurp(path);

	if (n < 0) {
		printf("    cannot read %s\n", path);
		return -100;
	}
	return any_n(file_buf, (size_t)n);
}

static const char *dec_str(struct decode_dec d)
{
	static char ring[4][DEC_STR_MAX];
	static int k;
	char *b = ring[k++ % 4];

	if (!d.present)
		return "(absent)";
	if (dec_format(d.v, b, DEC_STR_MAX) < 0)
		return "(unformattable)";
	return b;
}

#define T_DEC(d, want) T_EQ_STR(dec_str(d), want)
#define T_INT_ABSENT(i) T_CHECK(!(i).present && (i).v == 0)
#define T_INT_IS(i, want)                                                                          \
	do {                                                                                       \
		T_CHECK((i).present);                                                              \
		T_EQ_INT((i).v, want);                                                             \
	} while (0)

/* The span's text, for comparing with what the fixture holds. */
static const char *span_text(const char *msg, struct decode_span s)
{
	static char b[4096];
	size_t n = s.len < sizeof b - 1 ? s.len : sizeof b - 1;

	memcpy(b, msg + s.off, n);
	b[n] = 0;
	return b;
}

/* A span that is exactly one JSON object of msg. */
static int span_is_object(const char *msg, struct decode_span s)
{
	size_t end = 0;

	return s.len >= 2 && msg[s.off] == '{' && msg[s.off + s.len - 1] == '}' &&
	       decode_scan(msg + s.off, s.len, &end, NULL, 0) == 0 && end == s.len;
}

/* Appends s at q (NUL-terminated); returns the new end. */
static char *put_s(char *q, const char *s)
{
	size_t n = strlen(s);

	memcpy(q, s, n + 1);
	return q + n;
}

/* ---- executions -------------------------------------------------------------- */

TEST(decode_execution_1_fields)
{
	const struct decode_exec *e = &cap.exec[0];

	T_EQ_INT(any_file(shared("execution_1.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_INT(cap.n_rej, 0);
	T_EQ_INT(cap.env.source, DECODE_SRC_PUSH);
	T_EQ_INT(cap.env.kind, DECODE_KIND_EXECUTION);
	T_EQ_STR(cap.env.topic, "execution");
	T_EQ_STR(cap.env.topic_category, "");
	T_EQ_STR(cap.env.id, "386825804_BTCUSDT_140612148849382");
	T_INT_IS(cap.env.creation_time_ms, 1746270400355);
	T_EQ_INT(e->index, 0);
	T_EQ_STR(e->category, "linear");
	T_EQ_STR(e->symbol, "BTCUSDT");
	T_EQ_STR(e->exec_id, "0ab1bdf7-4219-438b-b30a-32ec863018f7");
	T_EQ_STR(e->order_id, "9aac161b-8ed6-450d-9cab-c5cc67c21784");
	T_EQ_STR(e->order_link_id, "");
	T_EQ_STR(e->side, "Sell");
	T_EQ_STR(e->order_type, "Market");
	T_EQ_STR(e->stop_order_type, "UNKNOWN");
	T_EQ_STR(e->create_type, "CreateByUser");
	T_EQ_STR(e->exec_type, "Trade");
	T_DEC(e->exec_qty, "0.5");
	T_DEC(e->exec_price, "95900.1");
	T_DEC(e->exec_value, "47950.05");
	T_DEC(e->exec_fee, "26.3725275");
	T_DEC(e->fee_rate, "0.00055");
	T_EQ_STR(e->fee_currency, "USDT");
	T_DEC(e->closed_size, "0.5");
	T_DEC(e->exec_pnl, "0.05");
	T_DEC(e->mark_price, "95901.48");
	T_DEC(e->index_price, "(absent)"); /* "" */
	T_DEC(e->leaves_qty, "0");
	T_DEC(e->order_qty, "0.5");
	T_DEC(e->order_price, "94942.5");
	T_EQ_INT(e->is_maker, DECODE_BOOL_FALSE);
	T_EQ_STR(e->is_leverage, "0");
	T_EQ_INT(e->exec_time_ms, 1746270400353);
	T_INT_IS(e->seq, 140612148849382);
	T_EQ_STR(e->block_trade_id, "");
	T_EQ_STR(e->market_unit, "");
	T_EQ_INT(e->extra_fees.n, 1);
	T_EQ_STR(
	    span_text(file_buf, e->extra_fees.raw),
	    "[{\"feeCoin\":\"USDT\",\"feeType\":\"GST\",\"subFeeType\":\"IND_GST\",\"feeRate\":"
	    "\"0.0000675\",\"fee\":\"0.006403779\"}]");
	T_CHECK(span_is_object(file_buf, e->raw));
	T_CHECK(strstr(span_text(file_buf, e->raw), "\"execId\": \"0ab1bdf7") != NULL);
	T_EQ_INT(cap.env.entries, 1);
	T_EQ_INT(cap.env.records, 1);
	T_EQ_INT(dec.err, 0);
	T_EQ_STR(dec.why, "");
}

TEST(decode_execution_6_funding)
{
	const struct decode_exec *e = &cap.exec[0];

	T_EQ_INT(any_file(shared("execution_6.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(e->exec_type, "Funding");
	T_EQ_STR(e->order_type, "UNKNOWN");
	T_EQ_STR(e->side, "Buy");
	T_DEC(e->exec_qty, "0.093");     /* the position size funded, not a fill */
	T_DEC(e->exec_price, "80626.2"); /* "80626.20" canonical */
	T_DEC(e->exec_value, "7498.2366");
	T_DEC(e->exec_fee, "0.7506234"); /* positive: paid */
	T_DEC(e->fee_rate, "0.0001");
	T_DEC(e->index_price, "80620.1");
	T_DEC(e->order_price, "0");
	T_DEC(e->closed_size, "0");
	T_DEC(e->exec_pnl, "(absent)");
	T_EQ_STR(e->fee_currency, "USDT");
	T_EQ_STR(e->create_type, "");  /* absent */
	T_EQ_INT(e->extra_fees.n, -1); /* absent */
	T_EQ_INT(e->exec_time_ms, 1788508800000);
	T_INT_IS(e->seq, 140612148849384);
}

TEST(decode_execution_7_adl_empty_link_id)
{
	const struct decode_exec *e = &cap.exec[0];

	T_EQ_INT(any_file(shared("execution_7.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(e->exec_type, "AdlTrade");
	T_EQ_STR(e->order_link_id, ""); /* exchange-originated: nothing to attribute */
	T_EQ_STR(e->side, "Sell");
	T_DEC(e->exec_qty, "0.5");
	T_DEC(e->exec_price, "95850");
	T_DEC(e->exec_value, "47925");
	T_DEC(e->exec_fee, "0");
	T_DEC(e->closed_size, "0.5");
	T_DEC(e->order_price, "0");
	T_EQ_STR(e->fee_currency, "");
	T_EQ_INT(e->exec_time_ms, 1746270400398);
}

TEST(decode_execution_8_spot_converted)
{
	const struct decode_exec *e = &cap.exec[0];

	T_EQ_INT(any_file(shared("execution_8.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(cap.env.id, "102782796_20000_1452874840");
	T_EQ_STR(e->category, "spot");
	T_EQ_STR(e->exec_id, "2100000000079525951");
	T_EQ_STR(e->order_id, "1736161684319725568");
	T_EQ_STR(e->order_link_id, "31k32-8-");
	T_EQ_STR(e->stop_order_type, ""); /* spot: no createType, stopOrderType "" */
	T_EQ_STR(e->create_type, "");
	T_DEC(e->exec_qty, "0.001"); /* "0.001000" */
	T_DEC(e->leaves_qty, "0");
	T_DEC(e->exec_value, "68.08703");
	T_DEC(e->exec_fee, "0.000001");
	T_DEC(e->mark_price, "(absent)");
	T_DEC(e->closed_size, "(absent)");
	T_INT_IS(e->seq, 1452874840);
	T_EQ_INT(e->exec_time_ms, 1721702600932);
}

TEST(decode_execution_older_docs_shape)
{
	const struct decode_exec *e = &cap.exec[0];

	/* execution_2: no execPnl, createType, feeCurrency, extraFees: all optional */
	T_EQ_INT(any_file(shared("execution_2.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(e->symbol, "XRPUSDT");
	T_DEC(e->exec_pnl, "(absent)");
	T_DEC(e->closed_size, "(absent)");
	T_EQ_STR(e->create_type, "");
	T_INT_IS(e->seq, 4688002127);
	/* execution_4: a real capture with a foreign orderLinkId, kept verbatim */
	T_EQ_INT(any_file(shared("execution_4.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(e->order_link_id, "SkeltonAgentlp9qlB-0001");
	T_DEC(e->exec_fee, "0.02285465");
}

TEST(decode_execution_fast_is_never_a_fill)
{
	static const char *const files[] = {"execution_fast_1.json", "execution_fast_2.json",
	                                    "execution_fast_3.json"};

	for (int i = 0; i < 3; i++) {
		T_EQ_INT(any_file(shared(files[i])), 0);
		T_EQ_INT(cap.n_exec, 0);
		T_EQ_INT(cap.n_rej, 0);
		T_EQ_INT(dec.env.fast, 1);
		T_EQ_INT(dec.env.kind, DECODE_KIND_EXECUTION);
		T_EQ_INT(dec.env.entries, 1);
		T_EQ_INT(dec.env.ignored, 1);
	}
	T_EQ_INT(any_file(own("execution_fast_categorised.json")), 0);
	T_EQ_INT(cap.n_exec, 0);
	T_EQ_INT(dec.env.ignored, 2);
	T_EQ_STR(dec.env.topic_category, "linear");
}

TEST(decode_several_fills_in_one_push)
{
	T_EQ_INT(any_file(own("exec_multi_fill.json")), 3);
	T_REQUIRE(cap.n_exec == 3);
	T_EQ_INT(cap.n_rej, 0);
	for (int i = 0; i < 3; i++) {
		T_EQ_INT(cap.exec[i].index, i);
		T_EQ_STR(cap.exec[i].order_link_id, "momentum_001-vb-lx3k9v2a7f3q");
		T_CHECK(span_is_object(file_buf, cap.exec[i].raw));
	}
	T_EQ_STR(cap.exec[0].exec_id, "5b0a3c1e-7d2f-5e4a-9c8b-1f2e3d4c5b6a");
	T_EQ_STR(cap.exec[2].exec_id, "5b0a3c1e-7d2f-5e4a-9c8b-1f2e3d4c5b6c");
	T_DEC(cap.exec[0].exec_qty, "0.3");
	T_DEC(cap.exec[1].exec_qty, "0.2");
	T_DEC(cap.exec[2].exec_qty, "0.5");
	T_DEC(cap.exec[2].exec_fee, "-0.05"); /* a maker rebate */
	T_EQ_INT(cap.exec[2].is_maker, DECODE_BOOL_TRUE);
	T_EQ_INT(cap.exec[0].extra_fees.n, 2); /* a list */
	T_EQ_INT(cap.exec[1].extra_fees.n, 0); /* "" */
	T_EQ_STR(span_text(file_buf, cap.exec[1].extra_fees.raw), "\"\"");
	T_EQ_INT(cap.exec[2].extra_fees.n, -1); /* absent */
	/* the raw spans do not overlap and come in order */
	T_CHECK(cap.exec[0].raw.off + cap.exec[0].raw.len < cap.exec[1].raw.off);
	T_CHECK(cap.exec[1].raw.off + cap.exec[1].raw.len < cap.exec[2].raw.off);
}

TEST(decode_funding_received_negative_fee)
{
	T_EQ_INT(any_file(own("exec_funding_received.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(cap.exec[0].exec_type, "Funding");
	T_DEC(cap.exec[0].exec_fee, "-0.0665"); /* negative: received */
	T_DEC(cap.exec[0].fee_rate, "-0.0001");
}

/* ---- orders, positions, wallets ------------------------------------------- */

TEST(decode_order_fields)
{
	const struct decode_order *o = &cap.order[0];

	T_EQ_INT(any_file(shared("order_1.json")), 1);
	T_REQUIRE(cap.n_order == 1);
	T_EQ_STR(o->category, "option");
	T_EQ_STR(o->symbol, "ETH-30DEC22-1400-C");
	T_EQ_STR(o->order_id, "5cf98598-39a7-459e-97bf-76ca765ee020");
	T_EQ_STR(o->order_link_id, "");
	T_EQ_STR(o->side, "Sell");
	T_EQ_STR(o->order_type, "Market");
	T_EQ_STR(o->order_status, "Filled");
	T_EQ_STR(o->cancel_type, "UNKNOWN");
	T_EQ_STR(o->reject_reason, "EC_NoError");
	T_EQ_STR(o->time_in_force, "IOC");
	T_EQ_STR(o->tpsl_mode, "");
	T_DEC(o->qty, "1");
	T_DEC(o->price, "72.5");
	T_DEC(o->avg_price, "75");
	T_DEC(o->cum_exec_qty, "1");
	T_DEC(o->cum_exec_value, "75");
	T_DEC(o->cum_exec_fee, "0.358635");
	T_DEC(o->leaves_qty, "(absent)");
	T_DEC(o->closed_pnl, "0");
	T_INT_IS(o->position_idx, 0);
	T_INT_IS(o->trigger_direction, 0);
	T_INT_IS(o->smp_group, 0);
	T_EQ_INT(o->reduce_only, DECODE_BOOL_FALSE);
	T_EQ_INT(o->close_on_trigger, DECODE_BOOL_FALSE);
	T_INT_IS(o->created_time_ms, 1672364262444);
	T_EQ_INT(o->updated_time_ms, 1672364262457);
	T_EQ_INT(o->cum_fee_detail.n, 1);
	T_CHECK(strstr(span_text(file_buf, o->cum_fee_detail.raw), "\"MNT\": \"0.00242968\""));
	T_CHECK(span_is_object(file_buf, o->raw));

	T_EQ_INT(any_file(shared("order_6.json")), 1); /* pretty-printed, data first */
	T_REQUIRE(cap.n_order == 1);
	T_EQ_STR(cap.env.id, "8d7f01d1-2457-4d20-b35c-d8691cc75dbb");
	T_EQ_STR(o->order_status, "Untriggered");
	T_EQ_STR(o->stop_order_type, "TrailingStop");
	T_EQ_STR(o->create_type, "CreateByTrailingStop");
	T_DEC(o->trigger_price, "62591.7");
	T_INT_IS(o->trigger_direction, 2);
	T_EQ_INT(o->reduce_only, DECODE_BOOL_TRUE);
	T_EQ_INT(o->close_on_trigger, DECODE_BOOL_TRUE);
	T_DEC(o->avg_price, "(absent)");

	T_EQ_INT(any_file(shared("order_5.json")), 1);
	T_EQ_STR(o->parent_order_link_id, "");
	T_EQ_INT(o->cum_fee_detail.n, 1);

	T_EQ_INT(any_file(shared("order_9.json")), 1);
	T_EQ_STR(o->order_status, "Rejected");
	T_EQ_STR(o->reject_reason, "EC_PostOnlyWillTakeLiquidity");
	T_EQ_STR(o->order_link_id, "1733814124603074561");
}

TEST(decode_position_fields)
{
	const struct decode_position *p = &cap.pos[0];

	T_EQ_INT(any_file(shared("position_1.json")), 1);
	T_REQUIRE(cap.n_pos == 1);
	T_EQ_STR(p->category, "linear");
	T_EQ_STR(p->symbol, "BTCUSDT");
	T_EQ_STR(p->side, ""); /* flat */
	T_DEC(p->size, "0");
	T_INT_IS(p->position_idx, 2); /* hedge mode, sell side */
	T_DEC(p->entry_price, "0");
	T_DEC(p->mark_price, "28184.5");
	T_DEC(p->cur_realised_pnl, "1.26");
	T_DEC(p->cum_realised_pnl, "-25.06579337");
	T_DEC(p->leverage, "10");
	T_DEC(p->liq_price, "0");
	T_DEC(p->bust_price, "(absent)");
	T_EQ_STR(p->position_status, "Normal");
	T_EQ_STR(p->tpsl_mode, "Full");
	T_INT_IS(p->trade_mode, 0);
	T_INT_IS(p->auto_add_margin, 0);
	T_INT_IS(p->adl_rank_indicator, 0);
	T_INT_IS(p->risk_id, 1);
	T_INT_IS(p->seq, 8327597863);
	T_EQ_INT(p->is_reduce_only, DECODE_BOOL_FALSE);
	T_INT_IS(p->created_time_ms, 1694402496913);
	T_EQ_INT(p->updated_time_ms, 1697682317038);

	T_EQ_INT(any_file(shared("position_2.json")), 1); /* older docs: no seq */
	T_REQUIRE(cap.n_pos == 1);
	T_EQ_STR(p->side, "Buy");
	T_DEC(p->size, "75");
	T_DEC(p->entry_price, "0.3615");
	T_DEC(p->unrealised_pnl, "-1.8075");
	T_DEC(p->cur_realised_pnl, "(absent)");
	T_INT_ABSENT(p->seq);
	T_INT_ABSENT(p->auto_add_margin);
	T_EQ_INT(p->is_reduce_only, DECODE_BOOL_ABSENT);
	T_EQ_STR(p->position_status, "Classic");

	T_EQ_INT(any_file(own("position_never_traded.json")), 1);
	T_REQUIRE(cap.n_pos == 1);
	T_INT_IS(p->seq, -1);
	T_EQ_STR(p->category, "linear");
	T_EQ_STR(cap.env.topic_category, "linear");
	T_DEC(p->liq_price, "(absent)");
}

TEST(decode_wallet_fields)
{
	const struct decode_wallet *w = cap.wallet;

	T_EQ_INT(any_file(shared("wallet_2.json")), 3);
	T_REQUIRE(cap.n_wallet == 3);
	for (int i = 0; i < 3; i++) {
		T_EQ_INT(w[i].index, 0);
		T_EQ_INT(w[i].coin_index, i);
		T_EQ_INT(w[i].coins_n, 3);
		T_EQ_STR(w[i].account_type, "UNIFIED");
		T_DEC(w[i].total_equity, "19620.93864593");
		T_DEC(w[i].total_perp_upl, "-101.10604881");
		T_CHECK(span_is_object(file_buf, w[i].raw));
		T_CHECK(span_is_object(file_buf, w[i].account_raw));
		T_CHECK(w[i].raw.off > w[i].account_raw.off);
	}
	T_EQ_STR(w[0].coin, "USDC");
	T_EQ_STR(w[1].coin, "BTC");
	T_EQ_STR(w[2].coin, "USDT");
	T_DEC(w[2].equity, "4.93036732");
	T_DEC(w[2].wallet_balance, "106.03036732");
	T_DEC(w[2].available_to_withdraw, "0");
	T_DEC(w[2].unrealised_pnl, "-101.1");
	T_DEC(w[2].cum_realised_pnl, "-55295.06268939");
	T_DEC(w[2].total_order_im, "7539.624");
	T_EQ_INT(w[1].collateral_switch, DECODE_BOOL_FALSE);
	T_EQ_INT(w[1].margin_collateral, DECODE_BOOL_TRUE);

	T_EQ_INT(any_file(shared("wallet_3.json")), 1);
	T_DEC(w[0].available_to_withdraw, "(absent)"); /* "" */
	T_DEC(w[0].wallet_balance, "1000.05007561");

	T_EQ_INT(any_file(own("wallet_no_coins.json")), 1);
	T_EQ_INT(w[0].coin_index, -1);
	T_EQ_INT(w[0].coins_n, 0);
	T_EQ_STR(w[0].coin, "");
	T_EQ_INT(w[0].collateral_switch, DECODE_BOOL_ABSENT);
}

/* ---- REST ----------------------------------------------------------------- */

TEST(decode_rest_execution_list)
{
	const struct decode_exec *e = &cap.exec[0];

	T_REQUIRE(slurp(shared("rest_execution_list_1.json")) > 0);
	T_EQ_INT(rest(DECODE_KIND_EXECUTION, file_buf), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_INT(dec.env.source, DECODE_SRC_REST);
	T_INT_IS(dec.env.ret_code, 0);
	T_EQ_STR(dec.env.ret_msg, "OK");
	T_EQ_STR(dec.env.category, "linear");
	T_EQ_STR(dec.env.cursor, "132766%3A2%2C132766%3A2"); /* verbatim, still encoded */
	T_INT_IS(dec.env.time_ms, 1672283754510);
	T_EQ_STR(e->category, "linear"); /* from result.category: the entry has none */
	T_EQ_STR(e->symbol, "ETHPERP");
	T_EQ_STR(e->exec_id, "e0cbe81d-0f18-5866-9415-cf319b5dab3b");
	T_DEC(e->exec_qty, "0.1");
	T_DEC(e->exec_price, "1190.15");
	T_DEC(e->exec_fee, "0.071409");
	T_EQ_INT(e->extra_fees.n, 0); /* "" */
	T_EQ_STR(e->is_leverage, "");
	T_EQ_INT(e->exec_time_ms, 1672282722429);
	T_INT_IS(e->seq, 4688002127);

	T_REQUIRE(slurp(own("rest_exec_list_cursor.json")) > 0);
	T_EQ_INT(rest(DECODE_KIND_EXECUTION, file_buf), 3);
	T_EQ_STR(dec.env.cursor, "page_args%3D1234%26symbol%3D");
	T_EQ_STR(cap.exec[1].stop_order_type, "TakeProfit");
	T_EQ_INT(cap.exec[1].extra_fees.n, 1);
	T_EQ_STR(cap.exec[2].exec_type, "Funding");
	/* told the wrong kind, every entry is rejected, none is lost */
	T_EQ_INT(rest(DECODE_KIND_POSITION, file_buf), 0);
	T_EQ_INT(cap.n_rej, 3);
	T_EQ_STR(cap.rej[0].reason, "position[0]: size: missing");
}

TEST(decode_rest_order_and_position_lists)
{
	T_REQUIRE(slurp(shared("rest_order_realtime_1.json")) > 0);
	T_EQ_INT(rest(DECODE_KIND_NONE, file_buf), 1); /* kind guessed: orderStatus */
	T_EQ_INT(dec.env.kind, DECODE_KIND_ORDER);
	T_REQUIRE(cap.n_order == 1);
	T_EQ_STR(dec.env.cursor,
	         "page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26");
	T_EQ_STR(cap.order[0].order_link_id, "test-000005");
	T_INT_IS(cap.order[0].position_idx, 1);
	T_DEC(cap.order[0].take_profit, "2500");
	T_DEC(cap.order[0].qty, "0.1");

	T_REQUIRE(slurp(shared("rest_position_list_1.json")) > 0);
	T_EQ_INT(rest(DECODE_KIND_POSITION, file_buf), 1);
	T_REQUIRE(cap.n_pos == 1);
	T_EQ_STR(cap.pos[0].category, "inverse");        /* from result.category */
	T_DEC(cap.pos[0].entry_price, "27464.50441675"); /* REST calls it avgPrice */
	T_DEC(cap.pos[0].size, "300");
	T_INT_IS(cap.pos[0].auto_add_margin, 1);
	T_EQ_STR(dec.env.cursor, "");

	T_REQUIRE(slurp(own("rest_position_list_hedge.json")) > 0);
	T_EQ_INT(rest(DECODE_KIND_POSITION, file_buf), 2);
	T_INT_IS(cap.pos[0].position_idx, 1);
	T_INT_IS(cap.pos[1].position_idx, 2);
	T_INT_IS(cap.pos[1].seq, -1);
	T_DEC(cap.pos[0].entry_price, "66200.5");
}

/* decode.h promises the envelope even when result holds no list (what rest.c
 * reads of /v5/market/time and /v5/user/query-api). */
TEST(decode_rest_envelope_without_a_list)
{
	static const char body[] = "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"timeSecond\":"
	                           "\"1700000000\",\"timeNano\":\"1700000000123456789\"},"
	                           "\"retExtInfo\":{},\"time\":1700000000123}";
	static const struct decode_sink none = {0};
	int r = decode_rest(&dec, DECODE_KIND_NONE, body, sizeof body - 1, &none);

	T_CHECK(r == 0 || r == FR_EINVAL);
	T_EQ_INT(dec.env.source, DECODE_SRC_REST);
	T_INT_IS(dec.env.ret_code, 0);
	T_EQ_STR(dec.env.ret_msg, "OK");
	T_INT_IS(dec.env.time_ms, 1700000000123);
	T_EQ_INT(dec.env.records, 0);
}

TEST(decode_rest_answers_without_records)
{
	T_EQ_INT(any_file(own("rest_rate_limited.json")), 0);
	T_EQ_INT(dec.err, 0);
	T_EQ_INT(dec.env.source, DECODE_SRC_REST);
	T_INT_IS(dec.env.ret_code, 10006);
	T_EQ_STR(dec.env.ret_msg, "Too many visits!");
	T_INT_IS(dec.env.time_ms, 1774800300000);
	T_EQ_INT(cap.n_rej, 0);

	T_EQ_INT(any_file(own("rest_exec_list_empty.json")), 0);
	T_EQ_INT(dec.env.entries, 0);
	T_EQ_STR(dec.env.cursor, "");

	T_EQ_INT(any_file(own("rest_wallet_balance.json")), 1);
	T_EQ_INT(dec.env.kind, DECODE_KIND_WALLET);
	T_EQ_STR(cap.wallet[0].coin, "BTC");
}

/* ---- control answers ------------------------------------------------------- */

TEST(decode_control_answers)
{
	T_EQ_INT(any_file(shared("control_auth_ok_1.json")), 1);
	T_REQUIRE(cap.n_ctl == 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_AUTH);
	T_EQ_INT(cap.ctl.success, DECODE_BOOL_TRUE);
	T_EQ_STR(cap.ctl.req_id, "637267887005765");
	T_EQ_STR(cap.ctl.conn_id, "ct7b5b9qo29o0l72ltjg-4r9wz");
	T_EQ_INT(dec.env.kind, DECODE_KIND_CONTROL);

	T_EQ_INT(any_file(shared("control_auth_fail_params_error.json")), 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_AUTH);
	T_EQ_INT(cap.ctl.success, DECODE_BOOL_FALSE);
	T_EQ_STR(cap.ctl.ret_msg, "Params Error");

	T_EQ_INT(any_file(shared("control_auth_fail_nautilus.json")), 1);
	T_EQ_INT(cap.ctl.success, DECODE_BOOL_FALSE);
	T_EQ_STR(cap.ctl.ret_msg, "Invalid apikey"); /* retMsg, WS-trade style */
	T_INT_IS(cap.ctl.ret_code, 10003);
	T_EQ_STR(cap.ctl.conn_id, "cejreaspqfm9se7usbrg-3ab"); /* connId */

	T_EQ_INT(any_file(shared("control_subscribe_fail_nautilus.json")), 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_SUBSCRIBE);
	T_EQ_INT(cap.ctl.success, DECODE_BOOL_FALSE);

	T_EQ_INT(any_file(shared("control_private_pong_1.json")), 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_PONG);
	T_INT_IS(cap.ctl.server_time_ms, 1699766561376);

	T_EQ_INT(any_file(shared("control_ping_pong_1.json")), 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_PONG); /* {"op":"ping","ret_msg":"pong"} */
	T_EQ_STR(cap.ctl.op_str, "ping");
	T_INT_ABSENT(cap.ctl.server_time_ms);

	T_EQ_INT(any_file(shared("control_ws_trade_order_create_ack_1.json")), 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_OTHER);
	T_EQ_STR(cap.ctl.op_str, "order.create");
	T_EQ_STR(cap.ctl.req_id, "1759432560816495533"); /* reqId */
	T_INT_IS(cap.ctl.ret_code, 0);

	T_EQ_INT(push("{\"op\":\"ping\"}"), 1); /* not a pong: our own ping echoed */
	T_EQ_INT(cap.ctl.op, DECODE_OP_OTHER);
	T_EQ_INT(push("{\"op\":\"unsubscribe\",\"success\":true}"), 1);
	T_EQ_INT(cap.ctl.op, DECODE_OP_UNSUBSCRIBE);
	T_EQ_INT(push("{\"op\":\"pong\",\"args\":[1699766561377]}"), 1);
	T_INT_IS(cap.ctl.server_time_ms, 1699766561377);
	T_EQ_INT(push("{\"op\":\"pong\",\"args\":[\"x\"]}"), FR_EINVAL);
	T_EQ_STR(dec.why, "args[0]: not a timestamp: \"x\"");
	T_EQ_INT(push("{\"op\":false}"), FR_EINVAL);
	T_EQ_STR(dec.why, "op: not a string: false");
	T_EQ_INT(push("{\"op\":7}"), 1); /* a number where a string belongs is taken as text */
	T_EQ_STR(cap.ctl.op_str, "7");
}

/* ---- topics ------------------------------------------------------------------- */

TEST(decode_categorised_topics)
{
	static const char *const unknown[] = {
	    "execution.futures", "wallet.linear", "executionx", "order.fast", "execution.fast.",
	    "execution.",        "greeks",        "",           "Execution",  "execution.fast.fast",
	};
	char msg[256];

	T_EQ_INT(any_file(own("exec_categorised_linear.json")), 1);
	T_REQUIRE(cap.n_exec == 1);
	T_EQ_STR(cap.env.topic, "execution.linear");
	T_EQ_STR(cap.env.topic_category, "linear");
	T_EQ_STR(cap.exec[0].category, "linear"); /* from the topic: the entry has none */
	T_EQ_STR(cap.exec[0].stop_order_type, "StopLoss");

	T_EQ_INT(any_file(own("order_categorised_spot.json")), 1);
	T_EQ_STR(cap.env.topic, "order.spot");
	T_EQ_STR(cap.order[0].order_status, "PartiallyFilled");
	T_EQ_INT(cap.order[0].cum_fee_detail.n, 1);

	T_EQ_INT(push("{\"topic\":\"position.inverse\",\"data\":[]}"), 0);
	T_EQ_INT(dec.env.kind, DECODE_KIND_POSITION);
	T_EQ_STR(dec.env.topic_category, "inverse");
	T_EQ_INT(push("{\"topic\":\"execution.option\",\"data\":[]}"), 0);
	T_EQ_INT(push("{\"topic\":\"execution.fast.spot\",\"data\":[{}]}"), 0);
	T_EQ_INT(dec.env.ignored, 1);

	for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
		snprintf(msg, sizeof msg, "{\"topic\":\"%s\",\"data\":[]}", unknown[i]);
		T_EQ_INT(push(msg), FR_EINVAL);
		T_CHECK(strstr(dec.why, "unknown topic") == dec.why ||
		        strstr(dec.why, "topic: empty"));
		T_EQ_INT(cap.n_rej, 1);
	}
}

/* ---- every fixture ----------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Lists NAME.json files of dir, sorted, into names; returns how many. */
static int list_fixtures(const char *dir, char names[][128], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) && n < max) {
		size_t len = strlen(de->d_name);

		if (len > 5 && len < 128 && strcmp(de->d_name + len - 5, ".json") == 0)
			memcpy(names[n++], de->d_name, len + 1);
	}
	closedir(d);
	qsort(names, (size_t)n, 128, name_cmp);
	return n;
}

static char shared_names[128][128], own_names[128][128];

TEST(decode_every_shared_fixture_decodes)
{
	int n = list_fixtures(SHARED_DIR, shared_names, 128);

	T_REQUIRE(n >= 38); /* the CI checkout has ../shared beside the repository */
	for (int i = 0; i < n; i++) {
		int rc = any_file(shared(shared_names[i]));

		if (!T_CHECK(rc >= 0 && dec.env.rejects == 0 && cap.n_rej == 0))
			printf("    %s: rc %d: %s\n", shared_names[i], rc,
			       cap.n_rej ? cap.rej[0].reason : dec.why);
		/* something came out of each: a record, a control answer, or counted fast entries
		 */
		T_CHECK(records() > 0 || dec.env.ignored > 0);
		T_EQ_INT(records(), dec.env.records);
	}
}

/* Runs the verb on path; its exit code, output in out[0..*n). */
static int verb_run(const char *path, char *out, size_t size, size_t *n)
{
	char opath[512];
	char *argv[] = {(char *)path, NULL};
	int fd, null_fd, rc;
	ssize_t r;

	snprintf(opath, sizeof opath, "%.400s/verb.out", t_tmpdir());
	fd = open(opath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	null_fd = open("/dev/null", O_WRONLY);
	if (fd < 0 || null_fd < 0)
		return -1;
	rc = verb_decode_fds(1, argv, NULL, fd, null_fd);
	r = pread(fd, out, size - 1, 0);
	*n = r > 0 ? (size_t)r : 0;
	out[*n] = 0;
	close(fd);
	close(null_fd);
	return rc;
}

static char verb_out[1u << 20], golden_buf[1u << 20];

/* Compares (or with FR_GOLDEN_UPDATE rewrites) NAME.out for one fixture. */
static void golden_one(const char *dir, const char *name, int want_rc)
{
	char path[512], gpath[512];
	size_t n = 0, gn;
	FILE *f;
	int rc;

	snprintf(path, sizeof path, "%.200s/%.127s", dir, name);
	snprintf(gpath, sizeof gpath, GOLDEN_DIR "/%.*s.out", (int)(strlen(name) - 5), name);
	rc = verb_run(path, verb_out, sizeof verb_out, &n);
	if (!T_EQ_INT(rc, want_rc))
		printf("    %s\n", path);
	if (getenv("FR_GOLDEN_UPDATE")) {
		f = fopen(gpath, "wb");
		T_REQUIRE(f && fwrite(verb_out, 1, n, f) == n && fclose(f) == 0);
		return;
	}
	f = fopen(gpath, "rb");
	if (!T_CHECK(f != NULL)) {
		printf("    no golden file %s (FR_GOLDEN_UPDATE=1 writes it)\n", gpath);
		return;
	}
	gn = fread(golden_buf, 1, sizeof golden_buf, f);
	fclose(f);
	if (!T_CHECK(gn == n && memcmp(golden_buf, verb_out, n) == 0))
		printf("    %s differs from %s\n", gpath, path);
}

/* Every output line is one JSON object (the verb's output is machine-readable). */
static void lines_are_json(const char *out, size_t n)
{
	const char *p = out, *end = out + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), e = 0;

		T_CHECK(p[0] == '{' && decode_scan(p, len, &e, NULL, 0) == 0 && e == len);
		p += len + 1;
	}
}

TEST(decode_golden_outputs)
{
	int ns = list_fixtures(SHARED_DIR, shared_names, 128);
	int no = list_fixtures(OWN_DIR, own_names, 128);
	char names[256][128];
	int total = 0;
	DIR *d;
	struct dirent *de;

	T_REQUIRE(ns >= 38 && no >= 20);
	for (int i = 0; i < ns; i++) {
		golden_one(SHARED_DIR, shared_names[i], EX_OK);
		lines_are_json(verb_out, strlen(verb_out));
		snprintf(names[total++], 128, "%.127s", shared_names[i]);
	}
	for (int i = 0; i < no; i++) {
		for (int j = 0; j < ns; j++) /* one golden name space */
			T_CHECK(strcmp(own_names[i], shared_names[j]) != 0);
		golden_one(OWN_DIR, own_names[i],
		           strncmp(own_names[i], "bad_", 4) == 0 ? EX_DATAERR : EX_OK);
		lines_are_json(verb_out, strlen(verb_out));
		snprintf(names[total++], 128, "%.127s", own_names[i]);
	}
	/* no golden file outlives its fixture */
	d = opendir(GOLDEN_DIR);
	T_REQUIRE(d != NULL);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		int found = 0;

		if (len < 5 || strcmp(de->d_name + len - 4, ".out") != 0)
			continue;
		for (int i = 0; i < total; i++)
			found |= strlen(names[i]) == len + 1 &&
			         strncmp(names[i], de->d_name, len - 4) == 0;
		if (!T_CHECK(found))
			printf("    %s/%s has no fixture\n", GOLDEN_DIR, de->d_name);
	}
	closedir(d);
}

/* ---- truncation, fragmentation, size and depth ------------------------------- */

/* Every proper prefix of msg (up to its closing brace) is rejected as incomplete. */
static int prefixes_incomplete(const char *msg, size_t len)
{
	int bad = 0;

	while (len > 0 && msg[len - 1] != '}')
		len--;
	for (size_t k = 0; k < len; k++) {
		char *copy = malloc(k ? k : 1); /* exact size: ASan sees any overread */
		int rc;

		memcpy(copy, msg, k);
		rc = any_n(copy, k);
		if (rc != FR_EINVAL || strncmp(dec.why, "incomplete JSON", 15) != 0 ||
		    records() != 0 || cap.n_rej != 1 || cap.rej[0].index != -1) {
			if (bad++ == 0)
				printf("    prefix %zu: rc %d, %s\n", k, rc, dec.why);
		}
		free(copy);
	}
	return bad;
}

TEST(decode_every_prefix_is_incomplete)
{
	int ns = list_fixtures(SHARED_DIR, shared_names, 128);
	int no = list_fixtures(OWN_DIR, own_names, 128);
	int checked = 0;

	T_REQUIRE(ns >= 38);
	for (int i = 0; i < ns; i++) {
		long n = slurp(shared(shared_names[i]));

		T_REQUIRE(n > 0);
		T_EQ_INT(prefixes_incomplete(file_buf, (size_t)n), 0);
		checked++;
	}
	for (int i = 0; i < no; i++) {
		long n = slurp(own(own_names[i]));
		size_t end = 0;

		T_REQUIRE(n > 0);
		/* single, well-formed messages only (not bad_*, not streams) */
		if (strncmp(own_names[i], "bad_", 4) == 0 ||
		    decode_scan(file_buf, (size_t)n, &end, NULL, 0) != 0 ||
		    strspn(file_buf + end, " \t\r\n") != (size_t)n - end)
			continue;
		T_EQ_INT(prefixes_incomplete(file_buf, (size_t)n), 0);
		checked++;
	}
	T_CHECK(checked >= 50);
}

TEST(decode_fragments_reassembled_byte_at_a_time)
{
	static char frame[8192];
	long n = slurp(shared("execution_1.json"));
	size_t have = 0, end = 0, step = 1, last = strrchr(file_buf, '}') - file_buf + 1;

	T_REQUIRE(n > 0 && (size_t)n < sizeof frame);
	/* fragments of 1, 2, 3, ... bytes, as a transport might deliver them */
	while (have < (size_t)n) {
		size_t k = step < (size_t)n - have ? step : (size_t)n - have;

		memcpy(frame + have, file_buf + have, k);
		have += k;
		step = step % 7 + 1;
		/* complete exactly once the last brace has arrived, and never before */
		T_EQ_INT(decode_scan(frame, have, &end, NULL, 0) == 0, have >= last);
	}
	T_EQ_INT(end, last);
	T_EQ_INT(push_n(frame, have), 1);
	T_EQ_STR(cap.exec[0].exec_id, "0ab1bdf7-4219-438b-b30a-32ec863018f7");
}

TEST(decode_scan_splits_a_stream)
{
	const char *s = " {\"op\":\"pong\"}\n{\"a\":[1,{\"b\":\"}\"}]}{\"c\":2}  ";
	size_t end = 0, pos = 0;
	char why[128];
	int n = 0;

	while (pos < strlen(s) && strspn(s + pos, " \n") < strlen(s + pos)) {
		T_REQUIRE(decode_scan(s + pos, strlen(s) - pos, &end, why, sizeof why) == 0);
		pos += end;
		n++;
	}
	T_EQ_INT(n, 3);
	T_EQ_INT(decode_scan("  \n", 3, &end, why, sizeof why), FR_EINVAL);
	T_EQ_STR(why, "incomplete JSON: input ends before any value (after 3 bytes)");
	T_EQ_INT(decode_scan("{\"a\":", 5, &end, why, sizeof why), FR_EINVAL);
	T_EQ_STR(why, "incomplete JSON: input ends where a value belongs (after 5 bytes)");
}

/*
 * Large test messages live in static storage: in the product build malloc is
 * the fixed arena, far smaller before arena_reserve. Each ends exactly at the
 * end of big_buf, where ASan's redzone follows, so a read past it is caught.
 */
#define BIG_MAX (16u << 20)
static char big_buf[BIG_MAX];

static char *big_tail(size_t len)
{
	char *p = big_buf + BIG_MAX - len;

	memmove(p, big_buf, len);
	return p;
}

/* A push of n minimal fills, at the end of big_buf. */
static char *many_fills(int n, size_t *len)
{
	static const char head[] = "{\"topic\":\"execution\",\"data\":[";
	static const char fill[] =
	    "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"execId\":\"x\","
	    "\"side\":\"Buy\",\"execType\":\"Trade\",\"execQty\":\"1\","
	    "\"execPrice\":\"2\",\"execTime\":\"3\"}";
	char *q = big_buf;

	memcpy(q, head, sizeof head - 1);
	q += sizeof head - 1;
	for (int i = 0; i < n; i++) {
		if (i)
			*q++ = ',';
		memcpy(q, fill, sizeof fill - 1);
		q += sizeof fill - 1;
	}
	*q++ = ']';
	*q++ = '}';
	*len = (size_t)(q - big_buf);
	return big_tail(*len);
}

TEST(decode_oversized_messages)
{
	size_t len = 0;
	char *big = many_fills(100000, &len); /* 100k fills: about 15 MB */
	char *pad = big_buf;
	static const char head[] = "{\"topic\":\"execution\",\"data\":[],\"pad\":\"";

	T_REQUIRE(len > DECODE_MSG_MAX);
	T_EQ_INT(push_n(big, len), FR_ERANGE);
	T_CHECK(strstr(dec.why, "larger than DECODE_MSG_MAX") != NULL);
	T_EQ_INT(cap.n_rej, 1);
	T_EQ_INT(cap.rej[0].index, -1);
	T_EQ_INT(cap.rej[0].err, FR_ERANGE);
	T_EQ_INT(cap.n_exec, 0);

	/* exactly DECODE_MSG_MAX bytes is accepted, one more is not */
	memcpy(pad, head, sizeof head - 1);
	memset(pad + sizeof head - 1, 'x', DECODE_MSG_MAX - (sizeof head - 1) - 2);
	memcpy(pad + DECODE_MSG_MAX - 2, "\"}", 2);
	pad[DECODE_MSG_MAX] = ' ';
	T_EQ_INT(push_n(big_tail(DECODE_MSG_MAX + 1), DECODE_MSG_MAX + 1), FR_ERANGE);
	T_EQ_INT(push_n(big_tail(DECODE_MSG_MAX), DECODE_MSG_MAX), 0);
	T_EQ_INT(dec.err, 0);
}

TEST(decode_token_exhaustion)
{
	/* execution.fast: 5 envelope tokens + n empty objects, none decoded */
	size_t n = DECODE_TOKENS_MAX - 5;
	char *q = big_buf;
	size_t len = 0;
	char *fills, want[128];

	q = put_s(q, "{\"topic\":\"execution.fast\",\"data\":[");
	for (size_t i = 0; i < n; i++)
		q = put_s(q, i ? ",{}" : "{}");
	q = put_s(q, "]}");
	len = (size_t)(q - big_buf);
	T_EQ_INT(push_n(big_tail(len), len), 0); /* exactly DECODE_TOKENS_MAX */
	T_EQ_INT(dec.env.ignored, (int)n);
	q = put_s(big_buf + len - 2, ",{}]}");
	len = (size_t)(q - big_buf);
	T_EQ_INT(push_n(big_tail(len), len), FR_ENOMEM);
	snprintf(want, sizeof want, "needs %d tokens, more than DECODE_TOKENS_MAX (%d)",
	         DECODE_TOKENS_MAX + 1, DECODE_TOKENS_MAX);
	T_CHECK(strstr(dec.why, want) != NULL);
	T_EQ_INT(cap.n_rej, 1);
	T_EQ_INT(cap.rej[0].err, FR_ENOMEM);

	/* realistic: 3000 fills fit DECODE_MSG_MAX but not the token budget */
	fills = many_fills(3000, &len);
	T_CHECK(len < DECODE_MSG_MAX);
	T_EQ_INT(push_n(fills, len), FR_ENOMEM);
	T_EQ_INT(cap.n_exec, 0);
	/* DECODE_LIST_MAX fills do fit */
	fills = many_fills(DECODE_LIST_MAX, &len);
	T_EQ_INT(push_n(fills, len), DECODE_LIST_MAX);
}

/* The budget holds a full REST page of the widest record: position/list, limit=200. */
TEST(decode_token_budget_fits_a_full_position_page)
{
	long n = slurp(shared("position_4.json"));
	const char *entry = strstr(file_buf, "[{"), *end = strstr(file_buf, "}]");
	size_t elen, len;
	char *page = big_buf, *q;

	T_REQUIRE(n > 0 && entry && end);
	entry++;
	elen = (size_t)(end + 1 - entry); /* 43 keys: 87 tokens */
	q = page + sprintf(page, "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"list\":[");
	for (int i = 0; i < DECODE_LIST_MAX; i++) {
		if (i)
			*q++ = ',';
		memcpy(q, entry, elen);
		q += elen;
	}
	q = put_s(q, "],\"nextPageCursor\":\"\",\"category\":\"linear\"},\"time\":1}");
	len = (size_t)(q - page);
	T_CHECK(len < DECODE_MSG_MAX);
	memset(&cap, 0, sizeof cap);
	T_EQ_INT(decode_rest(&dec, DECODE_KIND_POSITION, big_tail(len), len, &cap_sink),
	         DECODE_LIST_MAX);
	T_EQ_INT(cap.n_rej, 0);
}

TEST(decode_nesting_limit)
{
	char msg[512], *q;
	size_t end = 0;

	/* root, data, the entry: 3 levels, then k lists in an unknown key */
	for (int k = 29; k <= 30; k++) {
		q = msg + sprintf(msg, "{\"topic\":\"execution\",\"data\":[{\"note\":");
		for (int i = 0; i < k; i++)
			*q++ = '[';
		for (int i = 0; i < k; i++)
			*q++ = ']';
		q = put_s(q, "}]}");
		if (k == 29) {
			T_EQ_INT(push_n(msg, (size_t)(q - msg)), 0); /* depth 32: fine */
			T_EQ_INT(cap.n_rej, 1); /* the entry itself lacks its fields */
			T_EQ_STR(cap.rej[0].reason, "execution[0]: symbol: missing");
		} else {
			T_EQ_INT(push_n(msg, (size_t)(q - msg)), FR_EINVAL);
			T_CHECK(strstr(dec.why, "nesting deeper than DECODE_DEPTH_MAX (32)") !=
			        NULL);
		}
	}
	memset(msg, '[', 200);
	T_EQ_INT(decode_scan(msg, 200, &end, NULL, 0), FR_EINVAL);
}

/* ---- malformed JSON and strings ---------------------------------------------- */

TEST(decode_invalid_json_is_rejected)
{
	static const char *const bad[] = {
	    "{\"a\":1 \"b\":2}",
	    "{\"a\" 1}",
	    "{a:1}",
	    "{\"a\":tru}",
	    "{\"a\":01}",
	    "{\"a\":1.}",
	    "{\"a\":-}",
	    "{\"a\":+1}",
	    "{\"a\":.5}",
	    "{\"a\":1e}",
	    "{\"a\":\"x\ty\"}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\u12G4\"}",
	    "{\"a\":[1,]}",
	    "{\"a\":1,}",
	    "{,}",
	    "{\"a\":1}}",
	    "{\"a\":1} x",
	    "{\"a\":[}",
	    "{\"a\":NaN}",
	    "\xef\xbb\xbf{}",
	    "{\"a\":'x'}",
	    "{\"a\":1}{",
	    "{\"a\":truex}",
	    "{\"a\":nul}",
	    "{\"a\":[1 2]}",
	    "{\"a\":\"\\'\"}",
	    "{\"a\"::1}",
	    "{\"a\":1,,\"b\":2}",
	    "}",
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = push(bad[i]);

		if (!T_CHECK(rc == FR_EINVAL && strncmp(dec.why, "not JSON: ", 10) == 0))
			printf("    %s: rc %d, %s\n", bad[i], rc, dec.why);
		T_EQ_INT(cap.n_rej, 1);
		T_EQ_INT(records(), 0);
	}
	T_EQ_INT(push_n("{\"a\":\"\0\"}", 9), FR_EINVAL); /* a NUL byte */
	T_EQ_STR(dec.why, "not JSON: control character in a string at byte 6 (0x00)");
	T_EQ_INT(push("{\"a\":1 \"b\":2}"), FR_EINVAL);
	T_EQ_STR(dec.why, "not JSON: expected ',' or '}' at byte 7 ('\"')");
	T_EQ_INT(push("[]"), FR_EINVAL);
	T_EQ_STR(dec.why, "not a JSON object");
	T_EQ_INT(push("{}"), FR_EINVAL);
	T_EQ_STR(dec.why, "not a push or control answer: no topic or op");
	T_EQ_INT(any_n("{\"x\":1}", 7), FR_EINVAL);
	T_EQ_STR(dec.why, "not a Bybit message: no topic, op or retCode");
}

TEST(decode_invalid_utf8_is_rejected)
{
	static const char *const bad[] = {
	    "\xc0\x80", "\xc1\xbf", "\xed\xa0\x80",     "\xf4\x90\x80\x80", "\xff",
	    "\x80",     "\xe2\x82", "\xf0\x8f\xbf\xbf", "\xf5\x80\x80\x80", "\xe0\x9f\xbf",
	};
	static const char *const good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	                                   "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"};
	char msg[128];

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(msg, sizeof msg, "{\"op\":\"x%sy\"}", bad[i]);
		T_EQ_INT(push(msg), FR_EINVAL);
		T_CHECK(strncmp(dec.why, "not JSON: invalid UTF-8", 23) == 0);
	}
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		snprintf(msg, sizeof msg, "{\"op\":\"x%sy\"}", good[i]);
		T_EQ_INT(push(msg), 1);
		T_CHECK(strlen(cap.ctl.op_str) == strlen(good[i]) + 2 &&
		        memcmp(cap.ctl.op_str + 1, good[i], strlen(good[i])) == 0);
	}
}

/*
 * A push of one fill built from JSON texts: NULL takes the default, "" leaves
 * the key out; extra is appended as more members.
 */
enum { FI_CATEGORY, FI_SYMBOL, FI_EXEC_ID, FI_SIDE, FI_EXEC_TYPE, FI_QTY, FI_PRICE, FI_TIME, FI_N };

struct fill {
	const char *v[FI_N];
	const char *extra;
};

static const char *fill_push(const struct fill *f)
{
	static char msg[4096];
	const char *keys[] = {"category", "symbol",  "execId",    "side",
	                      "execType", "execQty", "execPrice", "execTime"};
	const char *defs[] = {"\"linear\"", "\"BTCUSDT\"", "\"e-1\"",     "\"Buy\"",
	                      "\"Trade\"",  "\"0.010\"",   "\"66500.0\"", "\"1774779000000\""};
	int n = sprintf(msg, "{\"topic\":\"execution\",\"data\":[{");
	const char *sep = "";

	for (int i = 0; i < 8; i++) {
		const char *v = f->v[i] ? f->v[i] : defs[i];

		if (!v[0])
			continue;
		n += sprintf(msg + n, "%s\"%s\":%s", sep, keys[i], v);
		sep = ",";
	}
	if (f->extra)
		n += sprintf(msg + n, "%s%s", sep, f->extra);
	sprintf(msg + n, "}]}");
	return msg;
}

/* Decodes a one-fill push: 1 if it was delivered, else 0 with the reason in why. */
static int one_fill(const struct fill *f, const char **why)
{
	int rc = push(fill_push(f));

	*why = cap.n_rej ? cap.rej[0].reason : dec.why;
	return rc == 1 && cap.n_exec == 1;
}

TEST(decode_string_escapes)
{
	const char *why = NULL;
	char long_sym[512], *q;

	T_CHECK(one_fill(&(struct fill){.v[FI_SYMBOL] = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""}, &why));
	T_EQ_STR(cap.exec[0].symbol, "\"\\/\b\f\n\r\t");
	T_CHECK(one_fill(
	    &(struct fill){.v[FI_SYMBOL] = "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uD83D\\uDE00\""},
	    &why));
	T_EQ_STR(cap.exec[0].symbol, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
	/* a JSON-valid escape jsonb refuses, in a field fillrelay reads... */
	T_CHECK(!one_fill(&(struct fill){.v[FI_EXEC_ID] = "\"a\\u0000b\""}, &why));
	T_EQ_STR(why, "execution[0]: execId: contains \\u0000");
	T_CHECK(!one_fill(&(struct fill){.v[FI_EXEC_ID] = "\"\\ud800\""}, &why));
	T_EQ_STR(why, "execution[0]: execId: unpaired surrogate \\uD800");
	T_CHECK(!one_fill(&(struct fill){.v[FI_EXEC_ID] = "\"\\ud800\\u0041\""}, &why));
	T_CHECK(!one_fill(&(struct fill){.v[FI_EXEC_ID] = "\"\\udfff\""}, &why));
	T_EQ_STR(why, "execution[0]: execId: unpaired surrogate \\uDFFF");
	/* ... or in one it does not: the raw text would still be refused */
	T_CHECK(!one_fill(&(struct fill){.extra = "\"note\":[\"\\ud83d\"]"}, &why));
	T_EQ_STR(why, "execution[0]: note: unpaired surrogate \\uD83D");
	T_CHECK(!one_fill(&(struct fill){.extra = "\"extraFees\":[{\"x\":\"\\u0000\"}]"}, &why));
	T_EQ_STR(why, "execution[0]: extraFees: contains \\u0000");
	T_CHECK(!one_fill(&(struct fill){.extra = "\"n\\u0000te\":1"}, &why));
	/* an escaped key is still the key */
	T_CHECK(one_fill(&(struct fill){.v[FI_EXEC_ID] = "", .extra = "\"exec\\u0049d\":\"e-2\""},
	                 &why));
	T_EQ_STR(cap.exec[0].exec_id, "e-2");
	/* the limit counts decoded bytes: DECODE_SYMBOL_MAX - 1 fit, one more does not */
	q = long_sym + sprintf(long_sym, "\"");
	for (int i = 0; i < DECODE_SYMBOL_MAX - 1; i++)
		q = put_s(q, "\\u0041");
	put_s(q, "\"");
	T_CHECK(one_fill(&(struct fill){.v[FI_SYMBOL] = long_sym}, &why));
	T_EQ_INT(strlen(cap.exec[0].symbol), DECODE_SYMBOL_MAX - 1);
	put_s(q, "B\"");
	T_CHECK(!one_fill(&(struct fill){.v[FI_SYMBOL] = long_sym}, &why));
	T_EQ_STR(why, "execution[0]: symbol: longer than 47 bytes");
	T_EQ_INT(cap.rej[0].err, FR_ERANGE);
	/* text fields (logged only) are cut at a character boundary instead */
	q = long_sym + sprintf(long_sym, "{\"op\":\"auth\",\"ret_msg\":\"");
	for (int i = 0; i < 60; i++)
		q = put_s(q, "\xe2\x82\xac"); /* 180 bytes: fits DECODE_TEXT_MAX */
	put_s(q, "\"}");
	T_EQ_INT(push(long_sym), 1);
	T_EQ_INT(strlen(cap.ctl.ret_msg), 180);
}

TEST(decode_long_text_is_truncated_on_a_character_boundary)
{
	static char msg[2048];
	char *q = msg + sprintf(msg, "{\"op\":\"auth\",\"success\":false,\"ret_msg\":\"a");

	for (int i = 0; i < 200; i++)
		q = put_s(q, "\\u20ac"); /* 3 bytes each once decoded */
	put_s(q, "\"}");
	T_EQ_INT(push(msg), 1);
	/* the largest 1 + 3k <= DECODE_TEXT_MAX - 1: 84 euro signs after the 'a' */
	T_EQ_INT(strlen(cap.ctl.ret_msg), 1 + 3 * 84);
	T_CHECK(memcmp(cap.ctl.ret_msg + strlen(cap.ctl.ret_msg) - 3, "\xe2\x82\xac", 3) == 0);
}

/* ---- record-level rejects ----------------------------------------------------- */

TEST(decode_missing_field_rejects_only_that_fill)
{
	T_EQ_INT(any_file(own("bad_exec_missing_qty.json")), 2);
	T_REQUIRE(cap.n_exec == 2 && cap.n_rej == 1);
	T_EQ_INT(cap.exec[0].index, 0);
	T_EQ_INT(cap.exec[1].index, 2);
	T_EQ_INT(cap.rej[0].kind, DECODE_KIND_EXECUTION);
	T_EQ_INT(cap.rej[0].index, 1);
	T_EQ_INT(cap.rej[0].err, FR_EINVAL);
	T_EQ_STR(cap.rej[0].reason, "execution[1]: execQty: missing");
	T_CHECK(span_is_object(file_buf, cap.rej[0].raw));
	T_CHECK(
	    strstr(span_text(file_buf, cap.rej[0].raw), "9b000000-0000-5000-8000-000000000002"));
	T_EQ_INT(dec.env.entries, 3);
	T_EQ_INT(dec.env.records, 2);
	T_EQ_INT(dec.env.rejects, 1);
	T_EQ_INT(dec.err, 0); /* the message as a whole was read */

	T_EQ_INT(any_file(own("bad_exec_decimal.json")), 2);
	T_EQ_STR(cap.rej[0].reason, "execution[2]: execQty: not a decimal: \"abc\"");
}

TEST(decode_required_execution_fields)
{
	static const char *const names[] = {"category", "symbol",  "execId",    "side",
	                                    "execType", "execQty", "execPrice", "execTime"};
	char want[128];
	const char *why = NULL;

	for (int i = 0; i < FI_N; i++) {
		struct fill f = {{0}, NULL};

		f.v[i] = ""; /* left out */
		T_CHECK(!one_fill(&f, &why));
		snprintf(want, sizeof want, "execution[0]: %s: missing", names[i]);
		T_EQ_STR(why, want);
		f.v[i] = i == FI_CATEGORY ? "\"\"" : "null";
		T_CHECK(!one_fill(&f, &why));
		snprintf(want, sizeof want, "execution[0]: %s: %s", names[i],
		         i ? "empty" : "missing");
		T_EQ_STR(why, want);
	}
	T_CHECK(!one_fill(&(struct fill){.v[FI_QTY] = "\"\""}, &why));
	T_EQ_STR(why, "execution[0]: execQty: empty");
	T_CHECK(!one_fill(&(struct fill){.v[FI_SIDE] = "\"buy\""}, &why));
	T_EQ_STR(why, "execution[0]: side: not Buy or Sell: \"buy\"");
	T_CHECK(one_fill(&(struct fill){.v[FI_SIDE] = "\"Sell\""}, &why));
}

TEST(decode_value_types)
{
	const struct decode_exec *e = &cap.exec[0];
	const char *why = NULL;

	/* numbers where strings are expected, strings where numbers are */
	T_CHECK(one_fill(&(struct fill){.v[FI_EXEC_ID] = "2100000000079526000",
	                                .v[FI_TIME] = "1721702799990",
	                                .extra = "\"orderId\":1736161684319725570,\"seq\":\"77\","
	                                         "\"isMaker\":\"true\",\"execFee\":-0.5"},
	                 &why));
	T_EQ_STR(e->exec_id, "2100000000079526000");
	T_EQ_STR(e->order_id, "1736161684319725570");
	T_EQ_INT(e->exec_time_ms, 1721702799990);
	T_INT_IS(e->seq, 77);
	T_EQ_INT(e->is_maker, DECODE_BOOL_TRUE);
	T_DEC(e->exec_fee, "-0.5");
	/* null is absent */
	T_CHECK(one_fill(&(struct fill){.extra = "\"execFee\":null,\"isMaker\":null,\"seq\":null,"
	                                         "\"orderId\":null,\"extraFees\":null"},
	                 &why));
	T_DEC(e->exec_fee, "(absent)");
	T_EQ_INT(e->is_maker, DECODE_BOOL_ABSENT);
	T_INT_ABSENT(e->seq);
	T_EQ_INT(e->extra_fees.n, -1);
	T_CHECK(one_fill(&(struct fill){.extra = "\"seq\":-9223372036854775808,\"extraFees\":[]"},
	                 &why));
	T_INT_IS(e->seq, INT64_MIN);
	T_EQ_INT(e->extra_fees.n, 0);
	T_CHECK(one_fill(&(struct fill){.extra = "\"seq\":9223372036854775807"}, &why));
	T_INT_IS(e->seq, INT64_MAX);

	static const struct {
		const char *extra, *reason;
	} bad[] = {
	    {"\"seq\":9223372036854775808", "seq: integer out of range: 9223372036854775808"},
	    {"\"seq\":1.5", "seq: not an integer: 1.5"},
	    {"\"seq\":1e3", "seq: not an integer: 1e3"},
	    {"\"seq\":\" 1\"", "seq: not an integer: \" 1\""},
	    {"\"seq\":true", "seq: not an integer: true"},
	    {"\"execFee\":\"1e5\"", "execFee: not a decimal: \"1e5\""},
	    {"\"execFee\":1E5", "execFee: not a decimal: 1E5"},
	    {"\"execFee\":{}", "execFee: not a decimal: an object"},
	    {"\"execFee\":\"999999999999999999999999\"",
	     "execFee: decimal out of range: \"999999999999999999999999\""},
	    {"\"isMaker\":\"yes\"", "isMaker: not a boolean: \"yes\""},
	    {"\"isMaker\":0", "isMaker: not a boolean: 0"},
	    {"\"orderId\":true", "orderId: not a string: true"},
	    {"\"orderId\":[1]", "orderId: not a string: a list"},
	    {"\"extraFees\":{}", "extraFees: not \"\" or a list: an object"},
	    {"\"extraFees\":\"x\"", "extraFees: not \"\" or a list: \"x\""},
	    {"\"extraFees\":[{},2]", "extraFees: entry 1 is not an object"},
	    {"\"execId\":\"e-2\"", "execId: duplicate key"},
	    {"\"execValue\":\"0123456789012345678901234567890123456789012345678901234567"
	     "890123456789\"",
	     "execValue: not a decimal: \"0123456789012345678901234567890123456789...\""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[256];

		T_CHECK(!one_fill(&(struct fill){.extra = bad[i].extra}, &why));
		snprintf(want, sizeof want, "execution[0]: %s", bad[i].reason);
		T_EQ_STR(why, want);
	}
	T_CHECK(!one_fill(&(struct fill){.v[FI_TIME] = "\"-1\""}, &why));
	T_EQ_STR(why, "execution[0]: execTime: negative timestamp: \"-1\"");
	/* the fault suite's absurd time: PostgreSQL would refuse it after the book applied it */
	T_CHECK(!one_fill(&(struct fill){.v[FI_TIME] = "\"99999999999999999\""}, &why));
	T_EQ_STR(why, "execution[0]: execTime: timestamp after the year 9999: \"99999999999999999\"");
	T_CHECK(one_fill(&(struct fill){.v[FI_TIME] = "\"253402300799999\""}, &why));
	T_CHECK(!one_fill(&(struct fill){.v[FI_TIME] = "\"17747790000001774779000000\""}, &why));
	T_EQ_INT(cap.rej[0].err, FR_ERANGE);
	/* unknown keys, even odd ones, are ignored */
	T_CHECK(one_fill(&(struct fill){.extra = "\"tradeIv\":\"\",\"future\":{\"a\":[1,{}]},"
	                                         "\"\":0,\"execid\":\"other\""},
	                 &why));
	T_EQ_STR(e->exec_id, "e-1");
}

TEST(decode_whole_message_rejects)
{
	static const struct {
		const char *msg, *why;
	} bad[] = {
	    {"{\"topic\":\"execution\"}", "data: missing"},
	    {"{\"topic\":\"execution\",\"data\":{}}", "data: not a list: an object"},
	    {"{\"topic\":\"execution\",\"data\":null}", "data: missing"},
	    {"{\"topic\":[],\"data\":[]}", "topic: not a string: a list"},
	    {"{\"topic\":1,\"data\":[]}", "unknown topic \"1\""},
	    {"{\"topic\":\"order\",\"topic\":\"order\",\"data\":[]}", "topic: duplicate key"},
	    {"{\"topic\":\"order\",\"creationTime\":\"soon\",\"data\":[]}",
	     "creationTime: not a timestamp: \"soon\""},
	    {"{\"retCode\":0,\"result\":[]}", "result: not an object"},
	    {"{\"retCode\":0}", "result: missing"},
	    {"{\"retCode\":\"0\",\"result\":{\"list\":[],\"nextPageCursor\":3}}", NULL},
	    {"{\"retCode\":0,\"result\":{\"list\":[{\"a\":1}]}}",
	     "result.list: entries of unknown kind (no execId, orderStatus, accountType, coin or "
	     "size)"},
	    {"{\"retCode\":0,\"result\":{\"list\":[],\"category\":\"linearlinearlinear\"}}",
	     "result.category: longer than 15 bytes"},
	    {"{\"retCode\":null,\"result\":{}}", "retCode: empty"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = any_n(bad[i].msg, strlen(bad[i].msg));

		if (!bad[i].why) { /* a number as a cursor is taken verbatim */
			T_EQ_INT(rc, 0);
			T_EQ_STR(dec.env.cursor, "3");
			continue;
		}
		T_CHECK(rc < 0);
		T_EQ_STR(dec.why, bad[i].why);
		T_EQ_INT(cap.n_rej, 1);
		T_EQ_INT(cap.rej[0].index, -1);
		T_EQ_INT(cap.rej[0].raw.off, 0);
		T_EQ_INT(cap.rej[0].raw.len, strlen(bad[i].msg));
		T_EQ_STR(cap.rej[0].reason, bad[i].why);
	}
	/* a push handed to decode_rest, and the reverse */
	T_EQ_INT(rest(DECODE_KIND_EXECUTION, "{\"topic\":\"execution\",\"data\":[]}"), FR_EINVAL);
	T_EQ_STR(dec.why, "retCode: missing");
	T_EQ_INT(push("{\"retCode\":0,\"result\":{\"list\":[]}}"), FR_EINVAL);
}

TEST(decode_wallet_rejects)
{
	T_EQ_INT(any_file(own("bad_wallet.json")), 1);
	T_EQ_INT(cap.n_wallet, 1);
	T_EQ_STR(cap.wallet[0].coin, "USDT");
	T_REQUIRE(cap.n_rej == 3);
	T_EQ_STR(cap.rej[0].reason, "wallet[0].coin[1]: coin: missing");
	T_EQ_INT(cap.rej[0].coin_index, 1);
	T_EQ_STR(cap.rej[1].reason, "wallet[0].coin[2]: walletBalance: not a decimal: \"1,5\"");
	T_EQ_STR(cap.rej[2].reason, "wallet[1]: totalEquity: not a decimal: \"x\"");
	T_EQ_INT(cap.rej[2].coin_index, -1);
}

/* ---- the sink contract --------------------------------------------------------- */

TEST(decode_callback_can_stop_decoding)
{
	long n = slurp(own("exec_multi_fill.json"));

	T_REQUIRE(n > 0);
	memset(&cap, 0, sizeof cap);
	cap.stop_at_exec = 2;
	T_EQ_INT(decode_push(&dec, file_buf, (size_t)n, &cap_sink), FR_EFULL);
	T_EQ_INT(cap.n_exec, 2);
	T_EQ_INT(dec.env.records, 2);
	T_EQ_INT(dec.err, FR_EFULL);
	T_CHECK(strstr(dec.why, "stopped by a callback") != NULL);
	/* the next message starts clean */
	T_EQ_INT(push("{\"op\":\"pong\"}"), 1);
	T_EQ_INT(dec.err, 0);
	T_EQ_STR(dec.why, "");
}

TEST(decode_null_callbacks_still_count)
{
	static const struct decode_sink none = {0};
	long n = slurp(own("bad_exec_missing_qty.json"));

	T_REQUIRE(n > 0);
	T_EQ_INT(decode_push(&dec, file_buf, (size_t)n, &none), 2);
	T_EQ_INT(dec.env.rejects, 1);
	T_EQ_INT(decode_push(&dec, "{", 1, &none), FR_EINVAL);
	T_EQ_INT(decode_push(&dec, NULL, 0, &none), FR_EINVAL);
	T_EQ_STR(dec.why, "incomplete JSON: input ends before any value (after 0 bytes)");
}

/* envelope_only reads a push's envelope and skips its records; control
 * answers still reach on_control (how bybit.c routes messages). */
TEST(decode_envelope_only)
{
	struct decode_sink env_only = cap_sink;
	long n = slurp(own("exec_multi_fill.json"));

	env_only.envelope_only = 1;
	T_REQUIRE(n > 0);
	memset(&cap, 0, sizeof cap);
	T_EQ_INT(decode_push(&dec, file_buf, (size_t)n, &env_only), 0);
	T_EQ_INT(records(), 0);
	T_EQ_INT(cap.n_rej, 0);
	T_EQ_INT(dec.env.entries, 3);
	T_EQ_INT(dec.env.records, 0);
	T_EQ_INT(dec.env.kind, DECODE_KIND_EXECUTION);
	T_EQ_STR(dec.env.topic, "execution");
	/* records it would refuse are not looked at either */
	n = slurp(own("bad_exec_missing_qty.json"));
	T_REQUIRE(n > 0);
	T_EQ_INT(decode_push(&dec, file_buf, (size_t)n, &env_only), 0);
	T_EQ_INT(dec.env.rejects, 0);
	T_EQ_INT(cap.n_rej, 0);
	/* a control answer is still one */
	T_EQ_INT(decode_push(&dec, "{\"op\":\"pong\",\"args\":[\"1700000000000\"]}", 38,
	                     &env_only),
	         1);
	T_EQ_INT(cap.n_ctl, 1);
	/* the whole message is still checked */
	T_EQ_INT(decode_push(&dec, "{\"topic\":\"execution\",\"data\":[", 29, &env_only),
	         FR_EINVAL);
	/* a REST page: its envelope and size, not its records */
	memset(&cap, 0, sizeof cap);
	n = slurp(own("rest_exec_list_cursor.json"));
	T_REQUIRE(n > 0);
	T_EQ_INT(decode_rest(&dec, DECODE_KIND_EXECUTION, file_buf, (size_t)n, &env_only), 0);
	T_EQ_INT(records(), 0);
	T_CHECK(dec.env.entries > 0);
	T_INT_IS(dec.env.ret_code, 0);
}

TEST(decode_kind_names)
{
	T_EQ_STR(decode_kind_name(DECODE_KIND_EXECUTION), "execution");
	T_EQ_STR(decode_kind_name(DECODE_KIND_WALLET), "wallet");
	T_EQ_STR(decode_kind_name(DECODE_KIND_CONTROL), "control");
	T_EQ_STR(decode_kind_name(DECODE_KIND_NONE), "message");
}

/* ---- the verb ------------------------------------------------------------------ */

static int hook_bot(const struct cfg *c, const struct decode_env *env, const struct decode_exec *e,
                    char *buf, size_t n)
{
	(void)c;
	(void)env;
	return snprintf(buf, n, ",\"bot\":\"%s\"", e->order_link_id[0] ? "linked" : "unattributed");
}

TEST(decode_verb_errors_and_hook)
{
	char path[512];
	char *none[] = {NULL}, *two[] = {"a", "b", NULL};
	size_t n = 0;
	int fd, saved;

	T_EQ_INT(verb_decode_fds(0, none, NULL, -1, -1), EX_USAGE);
	T_EQ_INT(verb_decode_fds(2, two, NULL, -1, -1), EX_USAGE);
	T_EQ_INT(verb_run("/nonexistent/x.json", verb_out, sizeof verb_out, &n), EX_NOINPUT);
	T_EQ_INT(verb_run("tests", verb_out, sizeof verb_out, &n), EX_NOINPUT);
	/* empty, and larger than VERB_DECODE_INPUT_MAX */
	snprintf(path, sizeof path, "%.400s/big.json", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_REQUIRE(fd >= 0);
	T_EQ_INT(verb_run(path, verb_out, sizeof verb_out, &n), EX_DATAERR);
	T_REQUIRE(ftruncate(fd, VERB_DECODE_INPUT_MAX + 1) == 0);
	close(fd);
	T_EQ_INT(verb_run(path, verb_out, sizeof verb_out, &n), EX_DATAERR);
	T_EQ_INT(n, 0);

	/* "-" reads standard input */
	saved = dup(0);
	fd = open(SHARED_DIR "/execution_7.json", O_RDONLY);
	T_REQUIRE(saved >= 0 && fd >= 0 && dup2(fd, 0) == 0);
	T_EQ_INT(verb_run("-", verb_out, sizeof verb_out, &n), EX_OK);
	dup2(saved, 0);
	close(saved);
	close(fd);
	T_CHECK(strstr(verb_out, "\"execType\":\"AdlTrade\"") != NULL);

	/* an output that cannot be written stops the run */
	fd = open("/dev/null", O_RDONLY);
	T_REQUIRE(fd >= 0);
	{
		char *arg[] = {SHARED_DIR "/execution_1.json", NULL};

		T_EQ_INT(verb_decode_fds(1, arg, NULL, fd, -1), EX_IOERR);
	}
	close(fd);

	verb_decode_set_exec_hook(hook_bot);
	T_EQ_INT(verb_run(SHARED_DIR "/execution_4.json", verb_out, sizeof verb_out, &n), EX_OK);
	T_CHECK(strstr(verb_out, "\"extraFees\":null,\"bot\":\"linked\",\"raw\":") != NULL);
	verb_decode_set_exec_hook(NULL);
	T_EQ_INT(verb_run(SHARED_DIR "/execution_4.json", verb_out, sizeof verb_out, &n), EX_OK);
	T_CHECK(strstr(verb_out, "\"bot\"") == NULL);
	lines_are_json(verb_out, n);
}
