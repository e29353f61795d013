/*
 * it_pg.c -- integration test of the PostgreSQL sink (pg.h, schema.h) against
 * the real PostgreSQL 15 and pgbouncer 1.18 (transaction pooling) started by
 * tests/services.sh: migrations (from empty, again, two at once), batched
 * idempotent fills and their callback, derived columns, the guards of orders,
 * positions and wallet, a row PostgreSQL refuses quarantined while the rest
 * commits, PostgreSQL stopped mid-stream, the same through pgbouncer, and the
 * seed guide's queries 1 and 2 run verbatim over a three-bot scenario whose
 * derived columns come from the book.
 *
 * Each test starts from an empty database (DROP SCHEMA trading CASCADE over a
 * blocking libpq connection of its own, which also checks the results).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "book.h"
#include "cfg.h"
#include "dec.h"
#include "decode.h"
#include "loop.h"
#include "orderid.h"
#include "pg.h"
#include "resolv.h"
#include "schema.h"
#include "t.h"

#define IT_T0 1678886400000LL /* the seed guide's 1678886400, in ms */

struct it_env {
	const char *host, *port, *user, *password, *db, *bouncer, *dir;
};

static struct it_env E;
static struct loop L;
static struct resolv RS;
static struct pg P, P2;
static struct decode D;

/* ---- environment and a blocking connection for checks -------------------- */

static int it_env(void)
{
	E.host = getenv("FR_TEST_PGHOST");
	E.port = getenv("FR_TEST_PGPORT");
	E.user = getenv("FR_TEST_PGUSER");
	E.password = getenv("FR_TEST_PGPASSWORD");
	E.db = getenv("FR_TEST_PGDATABASE");
	E.bouncer = getenv("FR_TEST_PGBOUNCER_PORT");
	E.dir = getenv("FR_TEST_SERVICES_DIR");
	if (!E.host || !E.port || !E.user || !E.password || !E.db || !E.dir) {
		printf("    it_pg: FR_TEST_* not set; run under 'tests/services.sh run DIR -- CMD'\n");
		return 0;
	}
	return 1;
}

static PGconn *it_db(void)
{
	char ci[512];
	PGconn *c;

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s "
				"connect_timeout=10",
		 E.host, E.port, E.db, E.user, E.password);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		printf("    it_pg: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

/* Runs sql; the result must have status want. Returns the result (caller clears). */
static PGresult *it_q(PGconn *c, ExecStatusType want, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	r = PQexec(c, sql);
	if (!T_EQ_INT(PQresultStatus(r), want))
		printf("    it_pg: %s\n      -> %s", sql, PQerrorMessage(c));
	return r;
}

/* The one value of a one-row query, as text ("<null>", "<none>" otherwise). */
static const char *it_val(PGconn *c, const char *fmt, ...)
{
	static char out[8][512];
	static int i;
	char sql[4096];
	va_list ap;
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	i = (i + 1) % 8;
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		snprintf(out[i], sizeof out[i], "<none: %s>", PQerrorMessage(c));
	} else if (PQgetisnull(r, 0, 0)) {
		snprintf(out[i], sizeof out[i], "<null>");
	} else {
		snprintf(out[i], sizeof out[i], "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return out[i];
}

static void it_reset(PGconn *c)
{
	PQclear(it_q(c, PGRES_COMMAND_OK, "DROP SCHEMA IF EXISTS trading CASCADE"));
}

/* ---- the sink under test ------------------------------------------------- */

#define IT_COMMITS_MAX 32
#define IT_IDS_MAX 512

struct it_rec {
	int commits;
	uint64_t seq[IT_COMMITS_MAX];
	int new_n[IT_COMMITS_MAX], dup_n[IT_COMMITS_MAX], stale_n[IT_COMMITS_MAX];
	int rejected_n[IT_COMMITS_MAX], in_doubt[IT_COMMITS_MAX], rows[IT_COMMITS_MAX];
	int ids_n;
	char ids[IT_IDS_MAX][DECODE_ID_MAX]; /* new exec ids, in commit order */
	int connected, migrated, lost, failed;
	uint8_t st[IT_COMMITS_MAX][PG_KINDS][8]; /* first rows' states */
};

static struct it_rec REC, REC2;

static void it_on_commit(void *arg, struct pg *p, const struct pg_batch *b)
{
	struct it_rec *r = arg;
	int i = r->commits;

	(void)p;
	if (i >= IT_COMMITS_MAX)
		return;
	r->seq[i] = b->seq;
	r->new_n[i] = b->new_n;
	r->dup_n[i] = b->dup_n;
	r->stale_n[i] = b->stale_n;
	r->rejected_n[i] = b->rejected_n;
	r->in_doubt[i] = b->in_doubt;
	r->rows[i] = b->n[PG_KIND_FILL];
	for (int k = 0; k < PG_KINDS; k++)
		for (int j = 0; j < 8 && j < b->n[k]; j++)
			r->st[i][k][j] = b->st[k][j];
	for (int j = 0; j < b->n[PG_KIND_FILL]; j++)
		if (b->st[PG_KIND_FILL][j] == PG_ROW_NEW && r->ids_n < IT_IDS_MAX)
			snprintf(r->ids[r->ids_n++], DECODE_ID_MAX, "%s", b->fills[j].x.exec_id);
	r->commits++;
}

static void it_on_event(void *arg, struct pg *p, enum pg_event ev)
{
	struct it_rec *r = arg;

	(void)p;
	r->connected += ev == PG_EV_CONNECTED;
	r->migrated += ev == PG_EV_MIGRATED;
	r->lost += ev == PG_EV_LOST;
	r->failed += ev == PG_EV_FAILED;
}

/* Sets up p to port (the server's or pgbouncer's) with REC-style recorder rec. */
static int it_pg(struct pg *p, const char *port, int reconnect, struct it_rec *rec)
{
	static struct cfg_postgres pc;
	struct pg_opts o = { .migrate = 1, .reconnect = reconnect, .connect_timeout_ms = 5000,
			     .backoff_min_ms = 50, .backoff_max_ms = 400,
			     .on_commit = it_on_commit, .on_event = it_on_event, .arg = rec };

	memset(rec, 0, sizeof *rec);
	memset(&pc, 0, sizeof pc);
	snprintf(pc.conninfo, sizeof pc.conninfo,
		 "host=%s port=%s dbname=%s user=%s application_name=fillrelay-it", E.host, port,
		 E.db, E.user);
	snprintf(pc.password.value, sizeof pc.password.value, "%s", E.password);
	pc.password.src = CFG_SECRET_LITERAL;
	if (!T_EQ_INT(pg_init(p, &L, &RS, &pc, &o), 0)) {
		printf("    it_pg: pg_init: %s\n", p->msg);
		return 0;
	}
	return 1;
}

static int64_t it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until done(arg) or timeout_ms; returns done's last value. */
static int it_run(int (*done)(void *), void *arg, int timeout_ms)
{
	int64_t end = it_now_ms() + timeout_ms;

	while (!done(arg) && it_now_ms() < end)
		loop_run_once(&L, 20);
	return done(arg);
}

static int it_ready(void *arg)
{
	struct pg *p = arg;

	return pg_ready(p) || p->state == PG_FAILED;
}

static int it_drained(void *arg)
{
	struct pg *p = arg;

	return (pg_ready(p) && pg_drained(p)) || p->state == PG_FAILED;
}

static int it_sleep_done(void *arg)
{
	(void)arg;
	return 0;
}

static void it_setup_loop(void)
{
	static int done;

	if (!done) {
		loop_init(&L, &loop_sys_real);
		resolv_init(&RS, &L, NULL, NULL);
		done = 1;
	}
}

/* Connects and migrates p, or stops the test. */
static void it_start(struct pg *p)
{
	T_REQUIRE(pg_start(p) == 0);
	it_run(it_ready, p, 15000);
	if (!T_CHECK(pg_ready(p)))
		printf("    it_pg: state %s: %s\n", pg_state_str(p->state), p->msg);
	T_REQUIRE(pg_ready(p));
}

/* ---- records from Bybit-shaped messages ---------------------------------- */

static struct decode_exec X;
static struct decode_order O;
static struct decode_position PO;
static struct decode_wallet W;

static int it_take_exec(void *ctx, const struct decode_env *env, const struct decode_exec *r)
{
	(void)ctx;
	(void)env;
	X = *r;
	return 0;
}

static int it_take_order(void *ctx, const struct decode_env *env, const struct decode_order *r)
{
	(void)ctx;
	(void)env;
	O = *r;
	return 0;
}

static int it_take_position(void *ctx, const struct decode_env *env,
			    const struct decode_position *r)
{
	(void)ctx;
	(void)env;
	PO = *r;
	return 0;
}

static int it_take_wallet(void *ctx, const struct decode_env *env, const struct decode_wallet *r)
{
	(void)ctx;
	(void)env;
	W = *r;
	return 0;
}

static const struct decode_sink it_sink = {
	.on_exec = it_take_exec,
	.on_order = it_take_order,
	.on_position = it_take_position,
	.on_wallet = it_take_wallet,
};

/* Decodes a one-record push held in msg; stops the test if it does not decode. */
static void it_decode(const char *msg)
{
	int rc = decode_push(&D, msg, strlen(msg), &it_sink);

	if (!T_EQ_INT(rc, 1))
		printf("    it_pg: decode: %s\n", D.why);
	T_REQUIRE(rc == 1);
}

/* A linear execution push in buf; X holds the decoded record after it. */
static const char *it_exec_msg(char *buf, size_t cap, const char *id, const char *sym,
			       const char *side, const char *qty, const char *price,
			       const char *fee, int64_t t_ms, const char *link,
			       const char *create, const char *stop)
{
	snprintf(buf, cap,
		 "{\"topic\":\"execution\",\"id\":\"e-%s\",\"creationTime\":%lld,\"data\":[{"
		 "\"category\":\"linear\",\"symbol\":\"%s\",\"execId\":\"%s\",\"orderId\":"
		 "\"ord-%s\",\"orderLinkId\":\"%s\",\"side\":\"%s\",\"execQty\":\"%s\","
		 "\"execPrice\":\"%s\",\"execFee\":\"%s\",\"feeCurrency\":\"USDT\","
		 "\"execType\":\"Trade\",\"orderType\":\"Market\",\"createType\":\"%s\","
		 "\"stopOrderType\":\"%s\",\"isMaker\":false,\"execTime\":\"%lld\",\"seq\":%lld}]}",
		 id, (long long)t_ms, sym, id, id, link ? link : "", side, qty, price, fee,
		 create ? create : "CreateByUser", stop ? stop : "", (long long)t_ms,
		 (long long)(t_ms / 1000));
	it_decode(buf);
	return buf;
}

/* Derived columns given explicitly. */
static struct pg_derived it_derived(const char *bot, const char *reason, const char *close,
				    const char *pnl, int64_t trade_seq)
{
	struct pg_derived d;

	memset(&d, 0, sizeof d);
	snprintf(d.bot, sizeof d.bot, "%s", bot);
	snprintf(d.reason, sizeof d.reason, "%s", reason);
	snprintf(d.close_reason, sizeof d.close_reason, "%s", close);
	dec_parse(&d.realized_pnl, pnl, strlen(pnl));
	d.trade_seq = trade_seq;
	return d;
}

/* Adds fill i ("f<i>") of a simple series to b. */
static void it_add_simple(struct pg_batch *b, int i)
{
	static char msgs[64][1024];
	char id[32];
	struct pg_derived d = it_derived("alpha_001", "entry", "", "0", i);

	snprintf(id, sizeof id, "f%d", i);
	it_exec_msg(msgs[i % 64], sizeof msgs[0], id, "BTCUSDT", "Buy", "0.001", "30000", "0.0165",
		    IT_T0 + i * 1000, NULL, NULL, NULL);
	T_EQ_INT(pg_batch_add_fill(b, "main", &X, msgs[i % 64], &d, IT_T0 + i * 1000 + 5), 0);
}

/* ---- migrations ----------------------------------------------------------- */

TEST(it_pg_migrate_from_empty_then_noop)
{
	static const char *const rels[] = {
		"trading.fills",     "trading.fill_allocations", "trading.trades_pnl",
		"trading.bot_positions", "trading.open_trades", "trading.orders",
		"trading.positions", "trading.wallet",           "trading.rejects",
		"trading.schema_version",
	};
	PGconn *c;

	T_REQUIRE(it_env());
	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();

	T_REQUIRE(it_pg(&P, E.port, 0, &REC));
	it_start(&P);
	T_EQ_INT(P.version_before, 0);
	T_EQ_INT(P.version_after, SCHEMA_VERSION);
	T_EQ_INT(REC.connected, 1);
	T_EQ_INT(REC.migrated, 1);
	for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++)
		if (!T_EQ_STR(it_val(c, "SELECT to_regclass('%s') IS NOT NULL", rels[i]), "t"))
			printf("    it_pg: %s missing\n", rels[i]);
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.schema_version"), "1");
	T_EQ_STR(it_val(c, "SELECT name FROM trading.schema_version WHERE version = 1"), "initial");
	pg_stop(&P);

	/* Again: nothing to do, nothing changed. */
	T_REQUIRE(it_pg(&P, E.port, 0, &REC));
	it_start(&P);
	T_EQ_INT(P.version_before, SCHEMA_VERSION);
	T_EQ_INT(P.version_after, SCHEMA_VERSION);
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.schema_version"), "1");
	pg_stop(&P);
	PQfinish(c);
}

/*
 * Two migrators at once serialise on the advisory lock: while a third party
 * holds it, neither gets anywhere; once it is released, one applies the steps
 * and the other finds them applied.
 */
TEST(it_pg_migrate_concurrent_serialise)
{
	PGconn *c, *lock;

	T_REQUIRE(it_env());
	T_REQUIRE((c = it_db()) != NULL);
	T_REQUIRE((lock = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();
	PQclear(it_q(lock, PGRES_COMMAND_OK, "BEGIN"));
	PQclear(it_q(lock, PGRES_TUPLES_OK, "SELECT pg_advisory_xact_lock(%s)", SCHEMA_LOCK_KEY_SQL));

	T_REQUIRE(it_pg(&P, E.port, 0, &REC));
	T_REQUIRE(it_pg(&P2, E.port, 0, &REC2));
	T_REQUIRE(pg_start(&P) == 0);
	T_REQUIRE(pg_start(&P2) == 0);
	it_run(it_sleep_done, NULL, 500);
	T_EQ_INT(P.state, PG_MIGRATING);
	T_EQ_INT(P2.state, PG_MIGRATING);
	T_EQ_STR(it_val(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"),
		 "2");

	PQclear(it_q(lock, PGRES_COMMAND_OK, "COMMIT"));
	it_run(it_ready, &P, 10000);
	it_run(it_ready, &P2, 10000);
	T_REQUIRE(pg_ready(&P) && pg_ready(&P2));
	T_EQ_INT(P.version_after, SCHEMA_VERSION);
	T_EQ_INT(P2.version_after, SCHEMA_VERSION);
	/* Exactly one of them found an empty database. */
	T_EQ_INT((P.version_before == 0) + (P2.version_before == 0), 1);
	T_EQ_INT((P.version_before == SCHEMA_VERSION) + (P2.version_before == SCHEMA_VERSION), 1);
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.schema_version"), "1");
	pg_stop(&P);
	pg_stop(&P2);
	PQfinish(lock);
	PQfinish(c);
}

/* ---- fills ---------------------------------------------------------------- */

static void it_fills_idempotent(const char *port, const char *label)
{
	static char m1[1024], m2[1024], m3[1024];
	struct pg_derived d1 = it_derived("shortseller_001", "entry", "", "0", 1);
	struct pg_derived d2 = it_derived("shortseller_001", "trailing_stop", "trailing_stop",
					  "10.5", 1);
	struct pg_derived d3 = it_derived("", "", "", "0", 0);
	struct decode_exec x1, x2, x3;
	struct pg_batch *b;
	PGconn *c;

	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();
	T_REQUIRE(it_pg(&P, port, 0, &REC));
	it_start(&P);

	it_exec_msg(m1, sizeof m1, "ex-1", "BTCUSDT", "Sell", "0.01", "30000", "0.165", IT_T0,
		    "shortseller_001-entry-x", NULL, NULL);
	x1 = X;
	it_exec_msg(m2, sizeof m2, "ex-2", "BTCUSDT", "Buy", "0.01", "28950", "0.159225",
		    IT_T0 + 60000, "shortseller_001-trailing_stop-x", NULL, NULL);
	x2 = X;
	it_exec_msg(m3, sizeof m3, "ex-3", "ETHUSDT", "Buy", "1.5", "1800.25", "-0.0001",
		    IT_T0 + 61000, NULL, NULL, NULL);
	x3 = X;

	for (int round = 0; round < 2; round++) {
		T_REQUIRE((b = pg_batch_open(&P)) != NULL);
		T_EQ_INT(pg_batch_add_fill(b, "acct_ss", &x1, m1, &d1, IT_T0 + 7), 0);
		T_EQ_INT(pg_batch_add_fill(b, "acct_ss", &x2, m2, &d2, IT_T0 + 60007), 0);
		T_EQ_INT(pg_batch_add_fill(b, "acct_ss", &x3, m3, &d3, IT_T0 + 61007), 0);
		T_EQ_INT(pg_batch_submit(&P, b, 100 + (uint64_t)round), 0);
		it_run(it_drained, &P, 10000);
		T_REQUIRE(REC.commits == round + 1);
		T_EQ_INT(REC.seq[round], 100 + round);
		T_EQ_INT(REC.rows[round], 3);
		T_EQ_INT(REC.new_n[round], round == 0 ? 3 : 0);
		T_EQ_INT(REC.dup_n[round], round == 0 ? 0 : 3);
		T_EQ_INT(REC.ids_n, 3);
		T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.fills"), "3");
	}
	T_EQ_STR(REC.ids[0], "ex-1");
	T_EQ_STR(REC.ids[1], "ex-2");
	T_EQ_STR(REC.ids[2], "ex-3");

	/* Columns as given: Bybit's, the derived ones, times and raw. */
	T_EQ_STR(it_val(c, "SELECT concat_ws('|', account, bot_id, symbol, category, side, exec_qty,"
			   " exec_price, commission, fee_currency, exec_type, is_maker, order_id,"
			   " order_link_id, reason, close_reason, realized_pnl, trade_seq, seq)"
			   " FROM trading.fills WHERE exec_id = 'ex-2'"),
		 "acct_ss|shortseller_001|BTCUSDT|linear|Buy|0.01|28950|0.159225|USDT|Trade|f|"
		 "ord-ex-2|shortseller_001-trailing_stop-x|trailing_stop|trailing_stop|10.5|1|"
		 "1678886460");
	T_EQ_STR(it_val(c, "SELECT (extract(epoch FROM exec_time) * 1000)::bigint FROM trading.fills"
			   " WHERE exec_id = 'ex-2'"),
		 "1678886460000");
	T_EQ_STR(it_val(c, "SELECT (extract(epoch FROM received_at) * 1000)::bigint FROM"
			   " trading.fills WHERE exec_id = 'ex-2'"),
		 "1678886460007");
	T_EQ_STR(it_val(c, "SELECT (raw->>'execId') || (raw->>'execPrice') FROM trading.fills"
			   " WHERE exec_id = 'ex-2'"),
		 "ex-228950");
	T_EQ_STR(it_val(c, "SELECT concat_ws('|', bot_id, reason, close_reason, commission)"
			   " FROM trading.fills WHERE exec_id = 'ex-3'"),
		 "unattributed|||-0.0001");
	T_EQ_STR(it_val(c, "SELECT exec_qty * exec_price FROM trading.fills WHERE exec_id = 'ex-3'"),
		 "2700.375"); /* numeric: scale 1 + 2 */
	printf("    it_pg: %s: 3 fills, then the same 3 again: 0 new\n", label);
	pg_stop(&P);
	PQfinish(c);
}

TEST(it_pg_fills_idempotent_direct)
{
	T_REQUIRE(it_env());
	it_fills_idempotent(E.port, "direct");
}

/* ---- guards --------------------------------------------------------------- */

static const char *it_order_msg(char *buf, size_t cap, const char *status, const char *cum,
				int64_t updated)
{
	snprintf(buf, cap,
		 "{\"topic\":\"order\",\"id\":\"o\",\"creationTime\":%lld,\"data\":[{"
		 "\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"orderId\":\"ord-1\","
		 "\"orderLinkId\":\"momentum_001-entry-x\",\"side\":\"Buy\",\"orderType\":"
		 "\"Limit\",\"orderStatus\":\"%s\",\"qty\":\"1\",\"price\":\"30000\","
		 "\"cumExecQty\":\"%s\",\"avgPrice\":\"30000\",\"positionIdx\":0,"
		 "\"createdTime\":\"%lld\",\"updatedTime\":\"%lld\"}]}",
		 (long long)updated, status, cum, (long long)IT_T0, (long long)updated);
	it_decode(buf);
	return buf;
}

static const char *it_position_msg(char *buf, size_t cap, const char *size, long long seq,
				   int64_t updated)
{
	snprintf(buf, cap,
		 "{\"topic\":\"position\",\"id\":\"p\",\"creationTime\":%lld,\"data\":[{"
		 "\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"side\":\"Buy\",\"size\":\"%s\","
		 "\"positionIdx\":0,\"entryPrice\":\"30000\",\"seq\":%lld,"
		 "\"updatedTime\":\"%lld\"}]}",
		 (long long)updated, size, seq, (long long)updated);
	it_decode(buf);
	return buf;
}

static const char *it_wallet_msg(char *buf, size_t cap, const char *balance)
{
	snprintf(buf, cap,
		 "{\"topic\":\"wallet\",\"id\":\"w\",\"creationTime\":1,\"data\":[{"
		 "\"accountType\":\"UNIFIED\",\"totalEquity\":\"%s\",\"coin\":[{\"coin\":\"USDT\","
		 "\"walletBalance\":\"%s\",\"equity\":\"%s\"}]}]}",
		 balance, balance, balance);
	it_decode(buf);
	return buf;
}

/* One batch with an order, a position and a wallet coin (each optional). */
static void it_guard_batch(struct pg *p, const char *status, const char *cum, int64_t o_upd,
			   const char *size, long long seq, int64_t p_upd, const char *bal,
			   int64_t w_upd)
{
	static char mo[1024], mp[1024], mw[1024];
	struct pg_batch *b = pg_batch_open(p);

	T_REQUIRE(b != NULL);
	it_order_msg(mo, sizeof mo, status, cum, o_upd);
	T_EQ_INT(pg_batch_add_order(b, "acct_m", &O, mo, "momentum_001", "entry"), 0);
	it_position_msg(mp, sizeof mp, size, seq, p_upd);
	T_EQ_INT(pg_batch_add_position(b, "acct_m", &PO, mp), 0);
	it_wallet_msg(mw, sizeof mw, bal);
	T_EQ_INT(pg_batch_add_wallet(b, "acct_m", &W, mw, w_upd), 0);
	T_EQ_INT(pg_batch_submit(p, b, 0), 0);
	it_run(it_drained, p, 10000);
}

static void it_guards(const char *port)
{
	PGconn *c;
	int n;

	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();
	T_REQUIRE(it_pg(&P, port, 0, &REC));
	it_start(&P);

	/* The newer state first ... */
	it_guard_batch(&P, "Filled", "1", IT_T0 + 2000, "1", 10, IT_T0 + 2000, "1000", IT_T0 + 2000);
	/* ... then an older one replayed: kept out, counted stale. */
	it_guard_batch(&P, "New", "0", IT_T0 + 1000, "0.5", 9, IT_T0 + 3000, "900", IT_T0 + 1000);
	T_REQUIRE(REC.commits == 2);
	T_EQ_INT(REC.stale_n[1], 3);
	T_EQ_INT(REC.st[1][PG_KIND_ORDER][0], PG_ROW_STALE);
	T_EQ_INT(REC.st[1][PG_KIND_POSITION][0], PG_ROW_STALE);
	T_EQ_INT(REC.st[1][PG_KIND_WALLET][0], PG_ROW_STALE);
	T_EQ_STR(it_val(c, "SELECT order_status || '|' || cum_exec_qty || '|' || bot_id FROM"
			   " trading.orders WHERE order_id = 'ord-1'"),
		 "Filled|1|momentum_001");
	T_EQ_STR(it_val(c, "SELECT size || '|' || seq FROM trading.positions"), "1|10");
	T_EQ_STR(it_val(c, "SELECT wallet_balance || '|' || total_equity FROM trading.wallet"
			   " WHERE coin = 'USDT'"),
		 "1000|1000");

	/* A newer state still gets in; the same updatedTime with more executed too. */
	it_guard_batch(&P, "Cancelled", "1", IT_T0 + 2000, "0", 11, IT_T0 + 1500, "1100",
		       IT_T0 + 4000);
	T_REQUIRE(REC.commits == 3);
	T_EQ_INT(REC.stale_n[2], 0);
	T_EQ_STR(it_val(c, "SELECT order_status FROM trading.orders"), "Cancelled");
	T_EQ_STR(it_val(c, "SELECT size || '|' || seq FROM trading.positions"), "0|11");
	T_EQ_STR(it_val(c, "SELECT wallet_balance FROM trading.wallet"), "1100");
	n = atoi(it_val(c, "SELECT count(*) FROM trading.orders"));
	T_EQ_INT(n, 1);
	pg_stop(&P);
	PQfinish(c);
}

TEST(it_pg_guards_orders_positions_wallet)
{
	T_REQUIRE(it_env());
	it_guards(E.port);
}

/* ---- a row PostgreSQL refuses -------------------------------------------- */

/*
 * Two real refusals among four fills: a raw text whose \u0000 escape jsonb
 * refuses (22P05), and an execTime so far out that timestamptz arithmetic
 * overflows (22008). Both go to trading.rejects with their raw text; the two
 * good fills commit in the same batch.
 */
static void it_rejects(const char *port)
{
	static char m[4][1024];
	static const char bad_raw[] = "{\"execId\":\"bad-json\",\"note\":\"\\u0000\"}";
	struct pg_derived d = it_derived("alpha_001", "entry", "", "0", 1);
	struct decode_exec x;
	struct pg_batch *b;
	PGconn *c;

	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();
	T_REQUIRE(it_pg(&P, port, 0, &REC));
	it_start(&P);
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);

	it_exec_msg(m[0], sizeof m[0], "good-1", "BTCUSDT", "Buy", "1", "100", "0.1", IT_T0, NULL,
		    NULL, NULL);
	T_EQ_INT(pg_batch_add_fill(b, "main", &X, m[0], &d, IT_T0), 0);

	it_exec_msg(m[1], sizeof m[1], "bad-json", "BTCUSDT", "Buy", "1", "100", "0.1", IT_T0 + 1,
		    NULL, NULL, NULL);
	x = X;
	x.raw.off = 0;
	x.raw.len = (uint32_t)strlen(bad_raw);
	T_EQ_INT(pg_batch_add_fill(b, "main", &x, bad_raw, &d, IT_T0 + 1), 0);

	it_exec_msg(m[2], sizeof m[2], "bad-time", "BTCUSDT", "Buy", "1", "100", "0.1", IT_T0 + 2,
		    NULL, NULL, NULL);
	x = X;
	x.exec_time_ms = INT64_MAX / 2;
	T_EQ_INT(pg_batch_add_fill(b, "main", &x, m[2], &d, IT_T0 + 2), 0);

	it_exec_msg(m[3], sizeof m[3], "good-2", "BTCUSDT", "Sell", "1", "101", "0.1", IT_T0 + 3,
		    NULL, NULL, NULL);
	T_EQ_INT(pg_batch_add_fill(b, "main", &X, m[3], &d, IT_T0 + 3), 0);
	T_EQ_INT(pg_batch_submit(&P, b, 9), 0);
	it_run(it_drained, &P, 10000);

	T_REQUIRE(REC.commits == 1);
	T_EQ_INT(REC.new_n[0], 2);
	T_EQ_INT(REC.rejected_n[0], 2);
	T_EQ_INT(REC.st[0][PG_KIND_FILL][0], PG_ROW_NEW);
	T_EQ_INT(REC.st[0][PG_KIND_FILL][1], PG_ROW_REJECTED);
	T_EQ_INT(REC.st[0][PG_KIND_FILL][2], PG_ROW_REJECTED);
	T_EQ_INT(REC.st[0][PG_KIND_FILL][3], PG_ROW_NEW);
	T_EQ_STR(it_val(c, "SELECT string_agg(exec_id, ',' ORDER BY exec_id) FROM trading.fills"),
		 "good-1,good-2");
	T_EQ_STR(it_val(c, "SELECT string_agg(ref || ':' || kind || ':' || sqlstate, ','"
			   " ORDER BY ref) FROM trading.rejects"),
		 "bad-json:execution:22P05,bad-time:execution:22008");
	T_EQ_STR(it_val(c, "SELECT raw FROM trading.rejects WHERE ref = 'bad-json'"), bad_raw);
	T_EQ_STR(it_val(c, "SELECT raw::jsonb->>'execId' FROM trading.rejects WHERE ref = 'bad-time'"),
		 "bad-time");
	T_EQ_STR(it_val(c, "SELECT error <> '' AND received_at IS NOT NULL FROM trading.rejects"
			   " WHERE ref = 'bad-json'"),
		 "t");
	T_CHECK(P.stats.retries >= 2);
	pg_stop(&P);
	PQfinish(c);
}

TEST(it_pg_reject_quarantined_rest_commits)
{
	T_REQUIRE(it_env());
	it_rejects(E.port);
}

/* ---- PostgreSQL stopped mid-stream --------------------------------------- */

static int it_services(const char *verb)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "bash tests/services.sh %s %s >/dev/null 2>&1", verb, E.dir);
	return system(cmd);
}

TEST(it_pg_outage_reconnect_resend_no_duplicates)
{
	struct pg_batch *b;
	PGconn *c;
	int i, total_new = 0;

	T_REQUIRE(it_env());
	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	PQfinish(c);
	it_setup_loop();
	T_REQUIRE(it_pg(&P, E.port, 1, &REC));
	it_start(&P);

	/* Batch 1 commits normally. */
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	for (i = 0; i < 3; i++)
		it_add_simple(b, i);
	T_EQ_INT(pg_batch_submit(&P, b, 1), 0);
	it_run(it_drained, &P, 10000);
	T_REQUIRE(REC.commits == 1);

	/* Batch 2 goes out, then PostgreSQL stops (fast shutdown) under it. */
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	for (i = 3; i < 6; i++)
		it_add_simple(b, i);
	T_EQ_INT(pg_batch_submit(&P, b, 2), 0);
	T_REQUIRE(it_services("stop-pg") == 0);
	/* Batch 3 (with two fills of batch 1 again) queues behind it. */
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	for (i = 6; i < 9; i++)
		it_add_simple(b, i);
	it_add_simple(b, 0);
	it_add_simple(b, 1);
	T_EQ_INT(pg_batch_submit(&P, b, 3), 0);
	it_run(it_sleep_done, NULL, 1000);
	T_CHECK(REC.lost >= 1);
	T_CHECK(P.stats.losses >= 1);
	T_CHECK(P.stats.connect_failures >= 1); /* it kept trying */
	T_CHECK(!pg_ready(&P));
	T_CHECK(REC.commits <= 2); /* batch 2 may have committed before the stop */

	T_REQUIRE(it_services("start-pg") == 0);
	it_run(it_drained, &P, 20000);
	T_REQUIRE(pg_drained(&P));
	T_EQ_INT(REC.commits, 3);
	T_CHECK(REC.connected >= 2);
	for (i = 0; i < REC.commits; i++) {
		T_EQ_INT(REC.seq[i], i + 1); /* in order */
		T_EQ_INT(REC.new_n[i] + REC.dup_n[i], REC.rows[i]);
		total_new += REC.new_n[i];
	}
	T_EQ_INT(REC.new_n[0], 3);
	T_EQ_INT(REC.new_n[2], 3); /* f6..f8; f0, f1 are duplicates */
	T_EQ_INT(REC.dup_n[2], 2);
	if (!REC.in_doubt[1])
		T_EQ_INT(REC.new_n[1], 3);
	T_CHECK(total_new <= 9);
	T_REQUIRE((c = it_db()) != NULL);
	T_EQ_STR(it_val(c, "SELECT count(*) || '/' || count(DISTINCT exec_id) FROM trading.fills"),
		 "9/9");
	printf("    it_pg: outage: %llu lost, %llu failed attempts, batch 2 in doubt: %d\n",
	       (unsigned long long)P.stats.losses, (unsigned long long)P.stats.connect_failures,
	       REC.in_doubt[1]);
	pg_stop(&P);
	PQfinish(c);
}

/* ---- the same through pgbouncer (transaction pooling) -------------------- */

TEST(it_pg_through_pgbouncer)
{
	PGconn *c;

	T_REQUIRE(it_env());
	if (!T_CHECK(E.bouncer && *E.bouncer)) {
		printf("    it_pg: FR_TEST_PGBOUNCER_PORT is empty: install pgbouncer\n");
		return;
	}
	T_REQUIRE((c = it_db()) != NULL);
	T_EQ_STR(it_val(c, "SELECT 1"), "1");
	PQfinish(c);
	it_fills_idempotent(E.bouncer, "pgbouncer");
	it_guards(E.bouncer);
	it_rejects(E.bouncer);

	/* A migration from empty, and three full batches queued at once: three
	 * pipelines of 130 statements, one after the other on pooled links. */
	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	T_REQUIRE(it_pg(&P, E.bouncer, 0, &REC));
	it_start(&P);
	T_EQ_INT(P.version_before, 0);
	for (int k = 0; k < 3; k++) {
		struct pg_batch *b = pg_batch_open(&P);

		T_REQUIRE(b != NULL);
		for (int i = 0; i < PG_BATCH_FILLS_MAX; i++)
			it_add_simple(b, k * PG_BATCH_FILLS_MAX + i);
		T_EQ_INT(pg_batch_submit(&P, b, (uint64_t)k + 1), 0);
	}
	it_run(it_drained, &P, 10000);
	T_EQ_INT(REC.commits, 3);
	T_EQ_INT(REC.ids_n, 3 * PG_BATCH_FILLS_MAX);
	T_EQ_INT(atoi(it_val(c, "SELECT count(*) FROM trading.fills")), 3 * PG_BATCH_FILLS_MAX);
	for (int k = 0; k < REC.commits; k++)
		T_EQ_INT(REC.seq[k], k + 1);
	pg_stop(&P);
	PQfinish(c);
}

/* ---- the seed guide's queries over a three-bot scenario ------------------ */

static const char it_seed_conf[] =
	"[account seed_ss]\napi_key = KEYseedss0123456789\napi_secret = SECRETseedss0123456789\n"
	"[account seed_lx]\napi_key = KEYseedlx0123456789\napi_secret = SECRETseedlx0123456789\n"
	"[account seed_mom]\napi_key = KEYseedmo0123456789\n"
	"api_secret = SECRETseedmo0123456789\n"
	"[bot shortseller_001]\naccount = seed_ss\nredis_db = 0\n"
	"[bot lxalgo_001]\naccount = seed_lx\nredis_db = 1\n"
	"[bot momentum_001]\naccount = seed_mom\nredis_db = 2\n"
	"[postgres]\nconninfo = host=127.0.0.1\n";

static struct cfg SEED_CFG;
static struct book BOOK;
static struct book_result BR;
static struct orderid_gen GEN;

/* A fill through the book into b: the fill row, its trips and positions. */
static void it_seed_fill(struct pg_batch *b, const char *account, const char *id,
			 const char *side, const char *qty, const char *price, const char *fee,
			 int64_t t, const char *bot, const char *reason, const char *create,
			 const char *stop)
{
	static char msgs[16][1024];
	static int mi;
	char link[ORDERID_MAX + 1] = "", err[ERR_MSG_MAX];
	struct pg_derived d;
	char *m = msgs[mi++ % 16];

	if (bot)
		T_REQUIRE(orderid_new(&GEN, &SEED_CFG, bot, reason, t, link, err, sizeof err) > 0);
	it_exec_msg(m, sizeof msgs[0], id, "BTCUSDT", side, qty, price, fee, t, link, create,
		    stop);
	T_REQUIRE(book_apply(&BOOK, account, &X, NULL, &BR) == BOOK_APPLIED);
	pg_derived_from_book(&d, &BR);
	T_EQ_INT(pg_batch_add_fill(b, account, &X, m, &d, t + 3), 0);
	if (BR.allocs_n > 1)
		for (int i = 0; i < BR.allocs_n; i++)
			T_EQ_INT(pg_batch_add_alloc(b, account, X.exec_id, &BR.allocs[i]), 0);
	for (int i = 0; i < BR.trips_n; i++)
		T_EQ_INT(pg_batch_add_trip(b, &BR.trips[i]), 0);
	for (int i = 0; i < BR.positions_n; i++)
		T_EQ_INT(pg_batch_add_bot_position(b, &BR.positions[i]), 0);
}

static int it_dec_eq(const char *got, const char *want)
{
	struct dec a, w;

	if (dec_parse(&a, got, strlen(got)) != 0 || dec_parse(&w, want, strlen(want)) != 0)
		return 0;
	return dec_cmp(a, w) == 0;
}

/* Query 1, as in the guide: psycopg2's %s is the one parameter ($1 in libpq). */
static const char it_query1[] = "\n"
				"    SELECT\n"
				"        exec_time,\n"
				"        symbol,\n"
				"        side,\n"
				"        exec_qty,\n"
				"        exec_price,\n"
				"        commission,\n"
				"        close_reason\n"
				"    FROM trading.fills\n"
				"    WHERE bot_id = $1\n"
				"    ORDER BY exec_time DESC\n"
				"    LIMIT 100\n";

/* Query 2, verbatim. */
static const char it_query2[] =
	"SELECT\n"
	"    close_reason,\n"
	"    COUNT(*) as trade_count,\n"
	"    SUM(net_pnl) as total_pnl,\n"
	"    AVG(net_pnl) as avg_pnl,\n"
	"    SUM(CASE WHEN net_pnl > 0 THEN 1 ELSE 0 END)::FLOAT / COUNT(*) as win_rate\n"
	"FROM trading.trades_pnl\n"
	"WHERE bot_id = 'momentum_001'\n"
	"GROUP BY close_reason\n"
	"ORDER BY total_pnl DESC;";

static void it_seed_scenario(struct pg_batch *b)
{
	const int64_t t = IT_T0;

	/* shortseller: entry Sell 0.01 @ 30000, trailing_stop Buy 0.01 @ 29000:
	 * gross 10, fees 0.165 + 0.1595 = 0.3245, net 9.6755. */
	it_seed_fill(b, "seed_ss", "ss-1", "Sell", "0.01", "30000", "0.165", t, "shortseller_001",
		     "entry", NULL, NULL);
	it_seed_fill(b, "seed_ss", "ss-2", "Buy", "0.01", "29000", "0.1595", t + 60000,
		     "shortseller_001", "trailing_stop", NULL, NULL);
	/* lxalgo: rule_3 Buy 0.02 @ 30000, closed by the exchange's stop-loss with an
	 * empty orderLinkId: Sell 0.02 @ 29500: gross -10, fees 0.33 + 0.3245. */
	it_seed_fill(b, "seed_lx", "lx-1", "Buy", "0.02", "30000", "0.33", t + 1000, "lxalgo_001",
		     "rule_3", NULL, NULL);
	it_seed_fill(b, "seed_lx", "lx-2", "Sell", "0.02", "29500", "0.3245", t + 120000, NULL, NULL,
		     "CreateByStopLoss", "StopLoss");
	/* momentum: three trips.
	 *   1 volatility_breakout Buy 0.02 @ 30000 (0.33), ma_exit Sell @ 31500 (0.3465):
	 *     gross 30, fees 0.6765, net 29.3235
	 *   2 volatility_breakout Buy 0.01 @ 31000 (0.1705), ma_exit Sell @ 30900 (0.16995):
	 *     gross -1, fees 0.34045, net -1.34045
	 *   3 volatility_breakout Buy 0.01 @ 30000 (0.165), stop_loss Sell @ 29800 (0.1639):
	 *     gross -2, fees 0.3289, net -2.3289 */
	it_seed_fill(b, "seed_mom", "mo-1", "Buy", "0.02", "30000", "0.33", t + 2000, "momentum_001",
		     "volatility_breakout", NULL, NULL);
	it_seed_fill(b, "seed_mom", "mo-2", "Sell", "0.02", "31500", "0.3465", t + 3000,
		     "momentum_001", "ma_exit", NULL, NULL);
	it_seed_fill(b, "seed_mom", "mo-3", "Buy", "0.01", "31000", "0.1705", t + 4000, "momentum_001",
		     "volatility_breakout", NULL, NULL);
	it_seed_fill(b, "seed_mom", "mo-4", "Sell", "0.01", "30900", "0.16995", t + 5000,
		     "momentum_001", "ma_exit", NULL, NULL);
	it_seed_fill(b, "seed_mom", "mo-5", "Buy", "0.01", "30000", "0.165", t + 6000, "momentum_001",
		     "volatility_breakout", NULL, NULL);
	it_seed_fill(b, "seed_mom", "mo-6", "Sell", "0.01", "29800", "0.1639", t + 7000,
		     "momentum_001", "stop_loss", NULL, NULL);
	/* and an open one, for trading.open_trades */
	it_seed_fill(b, "seed_mom", "mo-7", "Buy", "0.005", "30100", "0.08", t + 8000, "momentum_001",
		     "volatility_breakout", NULL, NULL);
}

static void it_check_query1(PGconn *c)
{
	const char *const params[1] = { "shortseller_001" };
	PGresult *r = PQexecParams(c, it_query1, 1, NULL, params, NULL, NULL, 0);

	if (!T_EQ_INT(PQresultStatus(r), PGRES_TUPLES_OK))
		printf("    it_pg: query 1: %s", PQerrorMessage(c));
	else if (T_EQ_INT(PQntuples(r), 2) && T_EQ_INT(PQnfields(r), 7)) {
		T_EQ_STR(PQgetvalue(r, 0, 1), "BTCUSDT");
		T_EQ_STR(PQgetvalue(r, 0, 2), "Buy");
		T_EQ_STR(PQgetvalue(r, 0, 3), "0.01");
		T_EQ_STR(PQgetvalue(r, 0, 4), "29000");
		T_EQ_STR(PQgetvalue(r, 0, 5), "0.1595");
		T_EQ_STR(PQgetvalue(r, 0, 6), "trailing_stop");
		T_EQ_STR(PQgetvalue(r, 1, 2), "Sell");
		T_EQ_STR(PQgetvalue(r, 1, 4), "30000");
		T_EQ_STR(PQgetvalue(r, 1, 6), "");
		T_CHECK(strcmp(PQgetvalue(r, 0, 0), PQgetvalue(r, 1, 0)) > 0); /* newest first */
	}
	PQclear(r);
}

static void it_check_query2(PGconn *c)
{
	PGresult *r = PQexec(c, it_query2);

	if (!T_EQ_INT(PQresultStatus(r), PGRES_TUPLES_OK))
		printf("    it_pg: query 2: %s", PQerrorMessage(c));
	else if (T_EQ_INT(PQntuples(r), 2) && T_EQ_INT(PQnfields(r), 5)) {
		T_EQ_STR(PQgetvalue(r, 0, 0), "ma_exit");
		T_EQ_STR(PQgetvalue(r, 0, 1), "2");
		T_CHECK(it_dec_eq(PQgetvalue(r, 0, 2), "27.98305"));
		T_CHECK(it_dec_eq(PQgetvalue(r, 0, 3), "13.991525"));
		T_EQ_STR(PQgetvalue(r, 0, 4), "0.5");
		T_EQ_STR(PQgetvalue(r, 1, 0), "stop_loss");
		T_EQ_STR(PQgetvalue(r, 1, 1), "1");
		T_CHECK(it_dec_eq(PQgetvalue(r, 1, 2), "-2.3289"));
		T_CHECK(it_dec_eq(PQgetvalue(r, 1, 3), "-2.3289"));
		T_EQ_STR(PQgetvalue(r, 1, 4), "0");
		printf("    it_pg: query 2: %s %s %s %s %s / %s %s %s %s %s\n", PQgetvalue(r, 0, 0),
		       PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
		       PQgetvalue(r, 0, 4), PQgetvalue(r, 1, 0), PQgetvalue(r, 1, 1),
		       PQgetvalue(r, 1, 2), PQgetvalue(r, 1, 3), PQgetvalue(r, 1, 4));
	}
	PQclear(r);
}

static void it_seed(const char *port)
{
	struct cfg_error ce;
	struct pg_batch *b;
	PGconn *c;

	T_REQUIRE(cfg_parse(&SEED_CFG, it_seed_conf, strlen(it_seed_conf), "seed.conf", &ce) == 0);
	T_REQUIRE(book_init(&BOOK, &SEED_CFG, NULL) == 0);
	orderid_gen_init(&GEN, 7);
	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();
	T_REQUIRE(it_pg(&P, port, 0, &REC));
	it_start(&P);
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	it_seed_scenario(b);
	T_EQ_INT(pg_batch_submit(&P, b, 1), 0);
	it_run(it_drained, &P, 10000);
	T_REQUIRE(REC.commits == 1);
	T_EQ_INT(REC.new_n[0], 11);

	it_check_query1(c);
	it_check_query2(c);
	/* The guide's other query, and what the sink derived. */
	PQclear(it_q(c, PGRES_TUPLES_OK, "SELECT * FROM trading.fills ORDER BY exec_time DESC LIMIT 10;"));
	T_EQ_STR(it_val(c, "SELECT bot_id || '|' || close_reason || '|' || realized_pnl FROM"
			   " trading.fills WHERE exec_id = 'lx-2'"),
		 "lxalgo_001|stop_loss|-10");
	T_EQ_STR(it_val(c, "SELECT concat_ws('|', side, entry_reason, close_reason, qty, gross_pnl,"
			   " fees, net_pnl, currency) FROM trading.trades_pnl WHERE bot_id ="
			   " 'shortseller_001'"),
		 "Sell|entry|trailing_stop|0.01|10|0.3245|9.6755|USDT");
	T_EQ_STR(it_val(c, "SELECT concat_ws('|', bot_id, trade_seq, side, entry_reason, size)"
			   " FROM trading.open_trades"),
		 "momentum_001|4|Buy|volatility_breakout|0.005");
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.bot_positions WHERE size = 0"), "2");
	pg_stop(&P);
	PQfinish(c);
}

TEST(it_pg_seed_queries_verbatim)
{
	T_REQUIRE(it_env());
	it_seed(E.port);
}

TEST(it_pg_seed_queries_through_pgbouncer)
{
	T_REQUIRE(it_env());
	if (!T_CHECK(E.bouncer && *E.bouncer))
		return;
	it_seed(E.bouncer);
}

/* ---- a failure that is not one row's ------------------------------------- */

/*
 * A table missing for a while (renamed away) fails the whole batch with
 * 42P01: nothing is quarantined, the batch waits a pause and is sent again
 * until the table is back, then commits whole.
 */
TEST(it_pg_transient_failure_paused_and_retried)
{
	static char mw[1024];
	struct pg_batch *b;
	PGconn *c;

	T_REQUIRE(it_env());
	T_REQUIRE((c = it_db()) != NULL);
	it_reset(c);
	it_setup_loop();
	T_REQUIRE(it_pg(&P, E.port, 1, &REC));
	it_start(&P);
	PQclear(it_q(c, PGRES_COMMAND_OK, "ALTER TABLE trading.wallet RENAME TO wallet_away"));

	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	it_add_simple(b, 1);
	it_wallet_msg(mw, sizeof mw, "5");
	T_EQ_INT(pg_batch_add_wallet(b, "main", &W, mw, IT_T0), 0);
	T_EQ_INT(pg_batch_submit(&P, b, 77), 0);
	it_run(it_sleep_done, NULL, 700);
	T_EQ_INT(REC.commits, 0);
	T_CHECK(P.stats.retries >= 2);  /* paused and retried, ... */
	T_CHECK(P.stats.retries <= 12); /* ... not in a busy loop (50, 100, 200 ms ...) */
	T_EQ_INT(P.err, FR_EIO);
	T_CHECK(strstr(P.msg, "wallet") != NULL);
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.fills"), "0");

	PQclear(it_q(c, PGRES_COMMAND_OK, "ALTER TABLE trading.wallet_away RENAME TO wallet"));
	it_run(it_drained, &P, 5000);
	T_REQUIRE(REC.commits == 1);
	T_EQ_INT(REC.seq[0], 77);
	T_EQ_INT(REC.new_n[0], 1);
	T_EQ_INT(REC.rejected_n[0], 0);
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.fills"), "1");
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.wallet"), "1");
	T_EQ_STR(it_val(c, "SELECT count(*) FROM trading.rejects"), "0");
	pg_stop(&P);
	PQfinish(c);
}

/* ---- fillrelay migrate ----------------------------------------------------- */

#include <sysexits.h>

#include "verb_migrate.h"

TEST(it_pg_verb_migrate_exit_codes)
{
	static struct cfg c;
	PGconn *db;

	T_REQUIRE(it_env());
	T_REQUIRE((db = it_db()) != NULL);
	it_reset(db);
	memset(&c, 0, sizeof c);
	snprintf(c.postgres.password.value, sizeof c.postgres.password.value, "%s", E.password);
	snprintf(c.postgres.conninfo, sizeof c.postgres.conninfo,
		 "host=%s port=%s dbname=%s user=%s connect_timeout=5", E.host, E.port, E.db, E.user);
	T_EQ_INT(verb_migrate(&c), EX_OK);
	T_EQ_STR(it_val(db, "SELECT max(version) FROM trading.schema_version"), "1");
	T_EQ_INT(verb_migrate(&c), EX_OK); /* again: a no-op */
	T_EQ_STR(it_val(db, "SELECT count(*) FROM trading.schema_version"), "1");

	/* A database newer than this build is refused, untouched. */
	PQclear(it_q(db, PGRES_COMMAND_OK,
		     "INSERT INTO trading.schema_version (version, name) VALUES (999, 'future')"));
	T_EQ_INT(verb_migrate(&c), EX_CONFIG);
	PQclear(it_q(db, PGRES_COMMAND_OK, "DELETE FROM trading.schema_version WHERE version = 999"));

	/* Nobody listening: EX_UNAVAILABLE. Port 1 is privileged and unused. */
	snprintf(c.postgres.conninfo, sizeof c.postgres.conninfo,
		 "host=127.0.0.1 port=1 dbname=x user=y connect_timeout=5");
	T_EQ_INT(verb_migrate(&c), EX_UNAVAILABLE);
	/* Wrong password: EX_UNAVAILABLE too (libpq's message on stderr). */
	snprintf(c.postgres.conninfo, sizeof c.postgres.conninfo,
		 "host=%s port=%s dbname=%s user=%s", E.host, E.port, E.db, E.user);
	snprintf(c.postgres.password.value, sizeof c.postgres.password.value, "wrong");
	T_EQ_INT(verb_migrate(&c), EX_UNAVAILABLE);
	PQfinish(db);
}
