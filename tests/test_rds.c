/*
 * test_rds.c -- the pure parts of the Redis sink: the version encoding, key
 * names, the drift comparison and the published JSON. The connection is
 * tested against a real Redis in it_rds.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "book.h"
#include "rds.h"
#include "t.h"

static struct dec D(const char *s)
{
	struct dec d = DEC_ZERO;

	if (dec_parse(&d, s, strlen(s)) != 0) {
		printf("    bad decimal in test: %s\n", s);
		abort();
	}
	return d;
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

/* A random fill key drawn from small pools, so that ties on time and seq are common. */
static void random_key(struct decode_exec *x)
{
	static const int64_t times[] = { INT64_MIN, -1, 0, 1, 1700000000000, 1700000000001,
		                         INT64_MAX };
	static const int64_t seqs[] = { INT64_MIN, -2, -1, 0, 1, 255, 256, 4294967296, INT64_MAX };
	size_t n = rnd() % 5 == 0 ? 0 : 1 + rnd() % (DECODE_ID_MAX - 1);

	memset(x, 0, sizeof *x);
	x->exec_time_ms = times[rnd() % (sizeof times / sizeof times[0])];
	x->seq.present = rnd() % 4 != 0;
	x->seq.v = x->seq.present ? seqs[rnd() % (sizeof seqs / sizeof seqs[0])] : 0;
	for (size_t i = 0; i < n; i++) /* bytes 1..255, biased to a few to get shared prefixes */
		x->exec_id[i] = (char)(rnd() % 3 ? 'a' + rnd() % 3 : 1 + rnd() % 255);
	x->exec_id[n] = '\0';
}

static int vers(char *buf, const struct decode_exec *x)
{
	return rds_version(buf, RDS_VERSION_MAX, x->exec_time_ms, x->seq.present ? x->seq.v : -1,
	                   x->exec_id);
}

TEST(rds_version_sorts_like_book_fill_cmp)
{
	struct decode_exec a, b;
	char va[RDS_VERSION_MAX], vb[RDS_VERSION_MAX];
	int bad = 0;

	for (int i = 0; i < 200000; i++) {
		random_key(&a);
		random_key(&b);
		if (i % 7 == 0) /* same id, other fields random; or a prefix of it */
			snprintf(b.exec_id, sizeof b.exec_id, "%.*s", (int)(rnd() % 64), a.exec_id);
		if (vers(va, &a) != RDS_VERSION_LEN || vers(vb, &b) != RDS_VERSION_LEN) {
			bad++;
			continue;
		}
		if (sign(strcmp(va, vb)) != sign(book_fill_cmp(&a, &b)))
			bad++;
	}
	T_EQ_INT(bad, 0);
}

TEST(rds_version_is_fixed_width_lowercase_hex)
{
	char v[RDS_VERSION_MAX], w[RDS_VERSION_MAX];

	T_EQ_INT(rds_version(v, sizeof v, 1700000000000, 42, "e0b4ea5c-8d3a-4f1e"), RDS_VERSION_LEN);
	T_EQ_INT(strlen(v), RDS_VERSION_LEN);
	T_EQ_INT(strspn(v, "0123456789abcdef"), RDS_VERSION_LEN);
	/* absent seq and seq -1 are the same key, as in book_fill_cmp */
	T_EQ_INT(rds_version(w, sizeof w, 1700000000000, -1, "x"), RDS_VERSION_LEN);
	T_CHECK(strncmp(v, w, 16) == 0); /* same time */
	T_CHECK(strcmp(w, v) < 0);       /* seq -1 < 42 */
	/* limits */
	T_EQ_INT(rds_version(v, RDS_VERSION_MAX - 1, 0, 0, "x"), FR_ERANGE);
	{
		char id[DECODE_ID_MAX + 1];

		memset(id, 'z', DECODE_ID_MAX);
		id[DECODE_ID_MAX] = '\0';
		T_EQ_INT(rds_version(v, sizeof v, 0, 0, id), FR_ERANGE);
		id[DECODE_ID_MAX - 1] = '\0';
		T_EQ_INT(rds_version(v, sizeof v, 0, 0, id), RDS_VERSION_LEN);
	}
}

TEST(rds_keys_for_default_other_category_and_hedge)
{
	char k[RDS_KEY_MAX];

	T_EQ_INT(rds_position_key(k, sizeof k, "shortseller_001", "linear", "linear", "BTCUSDT", 0, 0),
	         (int)strlen("shortseller_001:position:BTCUSDT"));
	T_EQ_STR(k, "shortseller_001:position:BTCUSDT");
	rds_position_key(k, sizeof k, "shortseller_001", "linear", "linear", "BTCUSDT", 0, 1);
	T_EQ_STR(k, "shortseller_001:position_detail:BTCUSDT");
	rds_position_key(k, sizeof k, "lx", "linear", "inverse", "BTCUSD", 0, 0);
	T_EQ_STR(k, "lx:position:inverse:BTCUSD");
	rds_position_key(k, sizeof k, "lx", "linear", "spot", "ETHUSDT", 0, 1);
	T_EQ_STR(k, "lx:position_detail:spot:ETHUSDT");
	/* a bot configured for spot: spot is its default, linear is qualified */
	rds_position_key(k, sizeof k, "sp", "spot", "spot", "ETHUSDT", 0, 0);
	T_EQ_STR(k, "sp:position:ETHUSDT");
	rds_position_key(k, sizeof k, "sp", "spot", "linear", "ETHUSDT", 0, 0);
	T_EQ_STR(k, "sp:position:linear:ETHUSDT");
	rds_position_key(k, sizeof k, "h", "linear", "linear", "BTCUSDT", 1, 0);
	T_EQ_STR(k, "h:position_long:BTCUSDT");
	rds_position_key(k, sizeof k, "h", "linear", "linear", "BTCUSDT", 2, 1);
	T_EQ_STR(k, "h:position_detail_short:BTCUSDT");
	T_EQ_INT(rds_position_key(k, sizeof k, "h", "linear", "linear", "BTCUSDT", 3, 0), FR_EINVAL);
	T_EQ_INT(rds_position_key(k, 10, "h", "linear", "linear", "BTCUSDT", 0, 0), FR_ERANGE);
	rds_view_key(k, sizeof k, "seed_ss", "linear", "BTCUSDT", 0);
	T_EQ_STR(k, "fillrelay:account:seed_ss:position:BTCUSDT");
	rds_view_key(k, sizeof k, "seed_ss", "inverse", "BTCUSD", 2);
	T_EQ_STR(k, "fillrelay:account:seed_ss:position_short:inverse:BTCUSD");
}

TEST(rds_drift_compares_only_when_seq_matches)
{
	/* exchange short 0.3 (Sell), bots' sum -0.1 + -0.2 */
	T_EQ_INT(rds_drift_check(D("0.3"), "Sell", 100, D("-0.3"), 1, 100), RDS_DRIFT_OK);
	T_EQ_INT(rds_drift_check(D("0.3"), "Sell", 100, D("-0.2"), 1, 100), RDS_DRIFT_MISMATCH);
	T_EQ_INT(rds_drift_check(D("0.3"), "Buy", 100, D("-0.3"), 1, 100), RDS_DRIFT_MISMATCH);
	T_EQ_INT(rds_drift_check(D("0.3"), "Buy", 100, D("0.3"), 1, 100), RDS_DRIFT_OK);
	/* a fill in flight: not compared, whatever the sizes */
	T_EQ_INT(rds_drift_check(D("0.3"), "Sell", 101, D("-0.2"), 1, 100), RDS_DRIFT_PENDING);
	T_EQ_INT(rds_drift_check(D("0.3"), "Sell", 99, D("-0.3"), 1, 100), RDS_DRIFT_PENDING);
	/* flat: side "" or "None", size 0 */
	T_EQ_INT(rds_drift_check(D("0"), "", 100, D("0"), 1, 100), RDS_DRIFT_OK);
	T_EQ_INT(rds_drift_check(D("0"), "None", 100, D("0.001"), 1, 100), RDS_DRIFT_MISMATCH);
	/* never traded (seq -1) and no fill applied: compared */
	T_EQ_INT(rds_drift_check(D("0"), "", -1, D("0"), 0, 0), RDS_DRIFT_OK);
	/* the exchange has traded but no fill was applied yet: in flight */
	T_EQ_INT(rds_drift_check(D("1"), "Buy", 7, D("0"), 0, 0), RDS_DRIFT_PENDING);
	/* exact decimals: 0.1 + 0.2 is 0.3 */
	{
		struct dec s;

		dec_add(&s, D("0.1"), D("0.2"));
		T_EQ_INT(rds_drift_check(D("0.3"), "Buy", 5, s, 1, 5), RDS_DRIFT_OK);
	}
}

static void fill_fixture(struct decode_exec *x, struct book_result *res)
{
	memset(x, 0, sizeof *x);
	memset(res, 0, sizeof *res);
	strcpy(x->category, "linear");
	strcpy(x->symbol, "BTCUSDT");
	strcpy(x->exec_id, "e-1");
	strcpy(x->side, "Sell");
	strcpy(x->exec_type, "Trade");
	x->exec_qty.v = D("0.3");
	x->exec_qty.present = 1;
	x->exec_price.v = D("43000.5");
	x->exec_price.present = 1;
	x->exec_time_ms = 1700000000123;
	x->seq.v = 77;
	x->seq.present = 1;
	res->status = BOOK_APPLIED;
	strcpy(res->bot, "shortseller_001");
	strcpy(res->reason, "entry");
	res->allocs_n = 1;
	strcpy(res->allocs[0].bot, "shortseller_001");
	res->allocs[0].qty = D("0.3");
	res->positions_n = 1;
	res->positions[0].size = D("-0.3");
}

TEST(rds_fill_json_exact)
{
	struct decode_exec x;
	struct book_result res;
	char j[RDS_JSON_MAX];
	int n;

	fill_fixture(&x, &res);
	n = rds_fill_json(j, sizeof j, "seed_ss", &x, &res, 0);
	T_EQ_STR(j, "{\"account\":\"seed_ss\",\"bot\":\"shortseller_001\",\"category\":\"linear\","
	            "\"symbol\":\"BTCUSDT\",\"side\":\"Sell\",\"qty\":\"0.3\","
	            "\"price\":\"43000.5\",\"exec_id\":\"e-1\",\"exec_time\":1700000000123,"
	            "\"exec_type\":\"Trade\",\"reason\":\"entry\",\"close_reason\":\"\","
	            "\"position_idx\":0,\"position\":\"-0.3\"}");
	T_EQ_INT(n, (int)strlen(j));
	/* no parts (a NO_EFFECT fill): the whole qty, position null; escaping */
	strcpy(x.exec_id, "a\"b\\c\n");
	res.allocs_n = 0;
	res.positions_n = 0;
	strcpy(res.close_reason, "stop_loss");
	rds_fill_json(j, sizeof j, "seed_ss", &x, &res, -1);
	T_CHECK(strstr(j, "\"exec_id\":\"a\\\"b\\\\c\\u000a\"") != NULL);
	T_CHECK(strstr(j, "\"qty\":\"0.3\"") != NULL);
	T_CHECK(strstr(j, "\"close_reason\":\"stop_loss\"") != NULL);
	T_CHECK(strstr(j, "\"position\":null}") != NULL);
	/* too small a buffer: an error, never a cut message */
	T_EQ_INT(rds_fill_json(j, 40, "seed_ss", &x, &res, -1), FR_ERANGE);
}

TEST(rds_guard_script_has_no_arithmetic)
{
	/* Money is computed in C; the script compares and stores strings only. */
	T_CHECK(strstr(rds_guard_lua, "tonumber") == NULL);
	T_CHECK(strchr(rds_guard_lua, '+') == NULL);
	T_CHECK(strchr(rds_guard_lua, '*') == NULL);
	T_CHECK(strstr(rds_guard_lua, "v > ARGV[1]") != NULL);
	T_EQ_STR(rds_state_name(RDS_READY), "ready");
}
