/*
 * it_sink.c -- integration test of the sink core (sink.h) against the real
 * PostgreSQL 15 and Redis 7 of tests/services.sh: synthetic execution and
 * order pushes for two bots of one account go through journal, book,
 * PostgreSQL and Redis; checked with blocking libpq and hiredis connections.
 * Each test starts from an empty database, FLUSHALL and an empty journal.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "book.h"
#include "cfg.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "pg.h"
#include "rds.h"
#include "resolv.h"
#include "sink.h"
#include "itpeer.h"
#include "t.h"

#define T0 1678886400000LL

static struct cfg C;
static struct loop L;
static struct resolv RS;
static struct book B;
static struct pg P;
static struct rds R;
static struct sink S;
static char JDIR[128];
static char MSG[4096];

static struct itenv E;
static const char *SVC_DIR; /* FR_TEST_SERVICES_DIR */

static int env_ok(void)
{
	SVC_DIR = getenv("FR_TEST_SERVICES_DIR");
	if (!itenv_read(&E) || !SVC_DIR) {
		printf("    it_sink: FR_TEST_* unset; run under tests/services.sh run DIR --\n");
		return 0;
	}
	return 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run_until(int (*done)(void), int ms)
{
	int64_t end = now_ms() + ms;

	while (!done() && now_ms() < end)
		loop_run_once(&L, 20);
	return done();
}

static int services(const char *verb)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "bash tests/services.sh %s %s >/dev/null 2>&1", verb, SVC_DIR);
	return system(cmd);
}

/* ---- checking connections ------------------------------------------------- */

static PGconn *db(void)
{
	char ci[512];
	PGconn *c;

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s",
	         E.pghost, E.pgport, E.pgdb, E.pguser, E.pgpass);
	c = PQconnectdb(ci);
	T_REQUIRE(PQstatus(c) == CONNECTION_OK);
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

/* The one value of a one-row query as text. */
static const char *val(const char *fmt, ...)
{
	static char out[8][1024];
	static int i;
	char sql[2048];
	va_list ap;
	PGconn *c = db();
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	i = (i + 1) % 8;
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		snprintf(out[i], sizeof out[i], "<none: %s>", PQerrorMessage(c));
	else
		snprintf(out[i], sizeof out[i], "%s",
		         PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return out[i];
}

static redisContext *rc_connect(void)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(E.rhost, atoi(E.rport), tv);
	redisReply *r;

	T_REQUIRE(c && !c->err);
	redisSetTimeout(c, tv);
	r = redisCommand(c, "AUTH %s", E.rpass);
	T_REQUIRE(r && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	return c;
}

/* GET key in db ("(nil)" when missing). */
static const char *rget(int dbn, const char *key)
{
	static char out[8][256];
	static int i;
	redisContext *c = rc_connect();
	redisReply *r;

	i = (i + 1) % 8;
	freeReplyObject(redisCommand(c, "SELECT %d", dbn));
	r = redisCommand(c, "GET %s", key);
	snprintf(out[i], sizeof out[i], "%s",
	         r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	redisFree(c);
	return out[i];
}

/* ---- set-up ----------------------------------------------------------------- */

static void setup_cfg(void)
{
	struct cfg_error ce;
	char text[2048];

	snprintf(text, sizeof text,
	         "[listener]\ninstance = it_sink\n"
	         "[account acc]\napi_key = KEYacc0123456789\napi_secret = SECRETacc0123456789\n"
	         "[bot bota]\naccount = acc\nredis_db = 0\n"
	         "[bot botb]\naccount = acc\nredis_db = 1\n"
	         "[postgres]\nconninfo = host=%s port=%s dbname=%s user=%s\npassword = %s\n"
	         "[redis]\nhost = %s\nport = %s\npassword = %s\n",
	         E.pghost, E.pgport, E.pgdb, E.pguser, E.pgpass, E.rhost, E.rport, E.rpass);
	if (cfg_parse(&C, text, strlen(text), "it_sink.conf", &ce) != 0) {
		printf("    cfg: line %d: %s\n", ce.line, ce.msg);
		T_REQUIRE(0);
	}
}

static int ready(void)
{
	return pg_ready(&P) && rds_state(&R) == RDS_READY && rds_idle(&R);
}

/* Opens the whole pipeline on the journal in JDIR with limit bytes. */
static void up_nowait(uint64_t limit);

static void up(uint64_t limit)
{
	up_nowait(limit);
	T_REQUIRE(run_until(ready, 15000));
}

/* The pipeline started, PostgreSQL and Redis perhaps not reachable. */
static void up_nowait(uint64_t limit)
{
	struct pg_opts po = { .migrate = 1, .reconnect = 1, .connect_timeout_ms = 5000,
		              .backoff_min_ms = 50, .backoff_max_ms = 300,
		              .on_commit = sink_pg_on_commit, .arg = &S };
	struct sink_opts so;
	int rc;

	memset(&so, 0, sizeof so);
	so.journal.dir = JDIR;
	so.journal.limit_bytes = limit;
	so.journal.segment_bytes = limit / 4;
	so.journal.fsync = JOURNAL_FSYNC_BATCH;
	so.warm = 1;
	loop_init(&L, &loop_sys_real);
	T_REQUIRE(resolv_init(&RS, &L, "/nonexistent/resolv.conf", "/nonexistent/hosts") == 0);
	T_REQUIRE(book_init(&B, &C, NULL) == 0);
	T_REQUIRE(pg_init(&P, &L, &RS, &C.postgres, &po) == 0);
	T_REQUIRE(rds_init(&R, &L, &RS, &C, &B) == 0);
	rc = sink_open(&S, &C, &L, &B, &P, &R, &so);
	if (rc != 0)
		printf("    sink_open: %s: %s\n", err_str(rc), S.msg);
	T_REQUIRE(rc == 0);
	loop_set_before_sleep(&L, sink_before_sleep, &S);
	T_REQUIRE(pg_start(&P) == 0);
	T_REQUIRE(rds_start(&R) == 0);
}

static void down_crash(void)
{
	sink_abandon(&S);
	pg_stop(&P);
	rds_stop(&R);
	resolv_close(&RS);
}

static void down(void)
{
	sink_close(&S);
	pg_stop(&P);
	rds_stop(&R);
	resolv_close(&RS);
}

static void fresh(void)
{
	PGconn *c;
	redisContext *r;
	char cmd[300];

	T_REQUIRE(env_ok());
	setup_cfg();
	c = db();
	PQclear(PQexec(c, "DROP SCHEMA IF EXISTS trading CASCADE"));
	PQfinish(c);
	r = rc_connect();
	freeReplyObject(redisCommand(r, "FLUSHALL"));
	redisFree(r);
	snprintf(JDIR, sizeof JDIR, "/tmp/it_sink.XXXXXX");
	T_REQUIRE(mkdtemp(JDIR) != NULL);
	snprintf(cmd, sizeof cmd, "rm -f %s/*", JDIR);
	T_CHECK(system(cmd) == 0);
}

/* ---- messages ------------------------------------------------------------- */

/* An execution push: fill n of bot (bota/botb), side, qty, at T0 + n s. */
static const char *exec_msg(int n, const char *bot, const char *side, const char *qty)
{
	int64_t t = T0 + n * 1000LL;

	snprintf(MSG, sizeof MSG,
	         "{\"topic\":\"execution\",\"id\":\"e%d\",\"creationTime\":%lld,\"data\":[{"
	         "\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"execId\":\"x-%04d\","
	         "\"orderId\":\"o-%04d\",\"orderLinkId\":\"%s:entry:%lld\",\"side\":\"%s\","
	         "\"execQty\":\"%s\",\"execPrice\":\"30000\",\"execFee\":\"0.1\","
	         "\"feeCurrency\":\"USDT\",\"execType\":\"Trade\",\"orderType\":\"Market\","
	         "\"createType\":\"CreateByUser\",\"isMaker\":false,\"execTime\":\"%lld\","
	         "\"seq\":%d}]}",
	         n, (long long)t, n, n, bot, (long long)(t / 1000), side, qty, (long long)t, n);
	return MSG;
}

/* The same fill as one entry of a REST /v5/execution/list page. */
static const char *exec_page(int n, const char *bot, const char *side, const char *qty)
{
	static char page[4096];
	const char *m = exec_msg(n, bot, side, qty);
	const char *obj = strstr(m, "[{") + 1;
	size_t len = strlen(obj) - 2; /* drop "]}" */

	snprintf(page, sizeof page,
	         "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"category\":\"linear\","
	         "\"list\":[%.*s],\"nextPageCursor\":\"\"},\"time\":1}",
	         (int)len, obj);
	return page;
}

static void push(const char *m)
{
	T_EQ_INT(sink_push(&S, "acc", m, strlen(m)), 0);
}

static int settled(void)
{
	return pg_ready(&P) && pg_drained(&P) && rds_idle(&R) && sink_spill_depth(&S) == 0;
}

/* bota buys 1,2,3 (size 6); botb sells 1 then buys 1 back (flat, one trip). */
static void stream(void)
{
	push(exec_msg(1, "bota", "Buy", "1"));
	push(exec_msg(2, "botb", "Sell", "1"));
	push(exec_msg(3, "bota", "Buy", "2"));
	push(exec_msg(4, "botb", "Buy", "1"));
	push(exec_msg(5, "bota", "Buy", "3"));
}

/* ---- tests ------------------------------------------------------------------ */

/* (1) and (2): rows, derived columns, keys, one publish per fill; then the
 * same pushes and a REST page again change nothing and publish nothing. */
TEST(it_sink_stream_then_replays_idempotent)
{
	redisContext *sub;
	redisReply *rr;
	uint64_t recv;

	fresh();
	up(8u << 20);
	sub = rc_connect();
	rr = redisCommand(sub, "SUBSCRIBE fillrelay:fills:bota fillrelay:fills:botb");
	freeReplyObject(rr);
	T_REQUIRE(run_until(ready, 5000));
	stream();
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT count(*) FROM trading.fills"), "5");
	T_EQ_STR(val("SELECT string_agg(bot_id || '/' || reason, ',' ORDER BY exec_id)"
	             " FROM trading.fills"),
	         "bota/entry,botb/entry,bota/entry,botb/entry,bota/entry");
	T_EQ_STR(val("SELECT count(*) FROM trading.trades_pnl WHERE bot_id = 'botb'"), "1");
	T_EQ_STR(val("SELECT close_reason <> '' FROM trading.fills WHERE exec_id = 'x-0004'"),
	         "t");
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "6");
	T_EQ_STR(rget(1, "botb:position:BTCUSDT"), "0");
	T_EQ_INT((int)S.stats.published, 5);
	T_EQ_INT((int)S.stats.fills_written, 5);
	recv = R.stats.publish_receivers;
	T_CHECK(recv >= 5); /* each publish reached our subscriber */
	printf("    stream: 5 fills, publishes %d, receivers %d, commits %d\n",
	       (int)R.stats.publishes_sent, (int)recv, (int)S.stats.commits);

	/* (2) the same pushes, and the same fills as a REST page */
	stream();
	for (int n = 1; n <= 5; n++) {
		const char *pg = exec_page(n, n % 2 ? "bota" : "botb", "Buy", "1");

		T_EQ_INT(sink_rest_page(&S, "acc", "linear", pg, strlen(pg)), 0);
	}
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT count(*) FROM trading.fills"), "5");
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "6");
	T_EQ_STR(rget(1, "botb:position:BTCUSDT"), "0");
	T_EQ_INT((int)S.stats.published, 5);
	T_EQ_INT((int)R.stats.publishes_sent, 5);
	T_CHECK(S.stats.fills_deduplicated >= 10);
	T_CHECK(sink_healthy(&S));
	redisFree(sub);
	down();
}

/* (7) an older order state after a newer one: the stored row keeps the newer. */
TEST(it_sink_order_older_after_newer)
{
#define ORDER_FMT \
	        "{\"topic\":\"order\",\"id\":\"o\",\"creationTime\":1,\"data\":[{" \
	        "\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"orderId\":\"o-7\"," \
	        "\"orderLinkId\":\"bota:entry:1678886400\",\"side\":\"Buy\",\"orderType\":" \
	        "\"Limit\",\"orderStatus\":\"%s\",\"qty\":\"2\",\"price\":\"30000\"," \
	        "\"cumExecQty\":\"%s\",\"positionIdx\":0,\"createdTime\":\"%lld\"," \
	        "\"updatedTime\":\"%lld\"}]}"
	char m[1024];

	fresh();
	up(8u << 20);
	snprintf(m, sizeof m, ORDER_FMT, "Filled", "2", T0, T0 + 2000);
	push(m);
	T_CHECK(run_until(settled, 10000));
	snprintf(m, sizeof m, ORDER_FMT, "PartiallyFilled", "1", T0, T0 + 1000);
	push(m);
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT order_status || '/' || cum_exec_qty FROM trading.orders"
	             " WHERE order_id = 'o-7'"),
	         "Filled/2");
	T_EQ_STR(val("SELECT bot_id FROM trading.orders WHERE order_id = 'o-7'"), "bota");
	down();
}

/* (6) a small journal fills up: refused, then accepted again after commits. */
TEST(it_sink_journal_full_refuses_then_accepts)
{
	int taken = 0, refused = 0, n;

	fresh();
	up(JOURNAL_RECORD_MAX + 4096); /* room for a few small records only */
	T_REQUIRE(services("stop-pg") == 0);
	for (n = 1; n <= 200 && !refused; n++) {
		const char *m = exec_msg(n, "bota", "Buy", "1");
		int rc = sink_push(&S, "acc", m, strlen(m));

		if (rc == 0)
			taken++;
		else
			refused = rc == FR_EFULL;
		loop_run_once(&L, 0);
	}
	printf("    journal full after %d fills (limit %u bytes)\n", taken,
	       (unsigned)(JOURNAL_RECORD_MAX + 4096));
	T_CHECK(refused);
	T_CHECK(taken > 0);
	T_EQ_INT((int)sink_spill_depth(&S), taken);
	T_REQUIRE(services("start-pg") == 0);
	T_CHECK(run_until(settled, 20000));
	{
		char want[16];
		const char *m;

		snprintf(want, sizeof want, "%d", taken);
		T_EQ_STR(val("SELECT count(*) FROM trading.fills"), want);
		m = exec_msg(500, "bota", "Buy", "1"); /* accepted again */
		T_EQ_INT(sink_push(&S, "acc", m, strlen(m)), 0);
		T_CHECK(run_until(settled, 10000));
		snprintf(want, sizeof want, "%d", taken + 1);
		T_EQ_STR(val("SELECT count(*) FROM trading.fills"), want);
	}
	down();
}

/* (5) a crash (no sync, no checkpoint) with fills journaled but not committed:
 * the restart warms from PostgreSQL, replays the journal, loses nothing and
 * duplicates nothing; the book state equals the one before. */
TEST(it_sink_crash_restart_replays)
{
	char pnl_before[1024];

	fresh();
	up(8u << 20);
	stream();
	T_CHECK(run_until(settled, 10000));
	snprintf(pnl_before, sizeof pnl_before, "%s",
	         val("SELECT string_agg(bot_id || ':' || trade_seq || ':' || net_pnl, ',' ORDER BY"
	             " bot_id, trade_seq) FROM trading.trades_pnl"));
	push(exec_msg(6, "bota", "Sell", "2")); /* journaled only: no loop iteration */
	push(exec_msg(7, "botb", "Sell", "4"));
	down_crash();

	up(8u << 20);
	T_EQ_INT((int)S.stats.warmed, 5);
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT count(*) FROM trading.fills"), "7");
	T_EQ_STR(val("SELECT count(DISTINCT exec_id) FROM trading.fills"), "7");
	T_EQ_STR(val("SELECT string_agg(bot_id || ':' || trade_seq || ':' || net_pnl, ',' ORDER BY"
	             " bot_id, trade_seq) FROM trading.trades_pnl"),
	         pnl_before);
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "4");
	T_EQ_STR(rget(1, "botb:position:BTCUSDT"), "4");
	T_EQ_INT((int)S.stats.published, 2);
	T_EQ_INT((int)sink_spill_depth(&S), 0);
	down();

	/* a clean restart: same state, nothing replayed, nothing published */
	up(8u << 20);
	T_EQ_INT((int)S.stats.warmed, 7);
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "4");
	T_EQ_INT((int)S.stats.published, 0);
	down();
}

/* (6) records decode refuses never reach the book; they land in
 * trading.rejects once, with their execId and reason, and a replay of the
 * journal adds no second row. */
TEST(it_sink_rejects_quarantined_once)
{
	char bad[2048];
	const char *m;

	fresh();
	up(8u << 20);
	push(exec_msg(1, "bota", "Buy", "1"));
	m = exec_msg(2, "bota", "Buy", "5");
	{
		const char *v = strstr(m, "\"execTime\":\"") + 12, *e = strchr(v, '"');

		snprintf(bad, sizeof bad, "%.*s99999999999999999%s", (int)(v - m), m, e);
	}
	push(bad);
	push(exec_msg(3, "bota", "Buy", "2"));
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT count(*) FROM trading.fills"), "2");
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "3");
	T_EQ_STR(val("SELECT kind || '|' || ref || '|' || sqlstate || '|' || left(error, 42) FROM"
	             " trading.rejects"),
	         "execution|x-0002||execution[0]: execTime: timestamp after th");
	T_CHECK(strstr(val("SELECT raw FROM trading.rejects"), "99999999999999999") != NULL);
	T_EQ_INT((int)S.stats.rejected, 1);
	down_crash(); /* no checkpoint: the restart replays the reject record */
	up(8u << 20);
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT count(*) FROM trading.rejects"), "1");
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "3");
	down();
}

/* (7) the crash window of a publish: a fill applied and published whose row
 * PostgreSQL never got (simulated by deleting it) comes back from the journal
 * or the exchange after a restart: PostgreSQL gets it once more, Redis's
 * marker keeps the second publish out. */
TEST(it_sink_publish_once_across_a_crash)
{
	redisContext *sub;
	redisReply *rep;
	int msgs = 0;

	fresh();
	sub = rc_connect();
	freeReplyObject(redisCommand(sub, "SUBSCRIBE fillrelay:fills:bota"));
	up(8u << 20);
	push(exec_msg(1, "bota", "Buy", "1"));
	T_CHECK(run_until(settled, 10000));
	T_EQ_INT((int)R.stats.publishes_repeated, 0);
	down();
	{
		PGconn *c = db();

		PQclear(PQexec(c, "TRUNCATE trading.fills, trading.bot_positions"));
		PQfinish(c);
	}
	up(8u << 20);
	T_EQ_INT((int)S.stats.warmed, 0);
	push(exec_msg(1, "bota", "Buy", "1"));
	T_CHECK(run_until(settled, 10000));
	T_EQ_STR(val("SELECT count(*) FROM trading.fills"), "1");
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "1");
	T_EQ_INT((int)S.stats.published, 1);      /* applied again: a publish was asked ... */
	T_EQ_INT((int)R.stats.publishes_repeated, 1); /* ... and the marker kept it out */
	redisSetTimeout(sub, (struct timeval){ 0, 300000 });
	while (redisGetReply(sub, (void **)&rep) == REDIS_OK) {
		msgs += rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
		        !strcmp(rep->element[0]->str, "message");
		freeReplyObject(rep);
	}
	T_EQ_INT(msgs, 1);
	redisFree(sub);
	down();
}

static int settled_clean(void)
{
	return settled() && sink_dirty(&S) == 0;
}

/* (8) a stop-loss fill (no orderLinkId) arrives before the entry it closes,
 * whose push was missed: no holder then, so it goes to "unattributed". The
 * entry comes by REST, late: the rebuild attributes the stop-loss to bota,
 * and the unattributed bot's Redis key, which no fill of the rebuilt order
 * gives it, is written flat. */
TEST(it_sink_rebuild_flattens_a_stale_holder)
{
	char m2[2048];
	const char *page, *p;

	fresh();
	up(8u << 20);
	p = exec_msg(2, "bota", "Sell", "1");
	{
		const char *a = strstr(p, "\"orderLinkId\":\"") + 15, *b = strchr(a, '"');

		snprintf(m2, sizeof m2, "%.*s%s", (int)(a - p), p, b);
	}
	push(m2);
	T_CHECK(run_until(settled_clean, 10000));
	T_EQ_STR(rget(0, "unattributed:position:BTCUSDT"), "1");
	page = exec_page(1, "bota", "Buy", "1");
	T_EQ_INT(sink_rest_page(&S, "acc", "linear", page, strlen(page)), 0);
	T_CHECK(run_until(settled_clean, 15000));
	T_EQ_INT((int)S.stats.rebuilds, 1);
	T_EQ_STR(val("SELECT bot_id FROM trading.fills WHERE exec_id = 'x-0002'"), "bota");
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "0");
	T_EQ_STR(rget(0, "unattributed:position:BTCUSDT"), "0");
	T_EQ_STR(val("SELECT count(*) FROM trading.bot_positions WHERE bot_id = 'unattributed'"),
	         "0");
	down();
}

static int warm_and_settled(void)
{
	return !sink_warm_pending(&S) && settled();
}

/* PostgreSQL down when the sink opens: it opens anyway with the warm-up
 * pending, journals what it is given and moves nothing; once PostgreSQL is
 * back the book is warmed from what was stored before, then the journal
 * replays on top of it: every fill once, positions as if nothing happened. */
TEST(it_sink_opens_while_postgres_is_down)
{
	int64_t t0;

	fresh();
	up(8u << 20);
	push(exec_msg(1, "bota", "Buy", "1"));
	push(exec_msg(2, "bota", "Buy", "2"));
	T_CHECK(run_until(settled, 10000));
	down();
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "3");
	T_REQUIRE(services("stop-pg") == 0);
	up_nowait(8u << 20);
	T_EQ_INT(sink_warm_pending(&S), 1);
	push(exec_msg(3, "bota", "Buy", "3"));
	push(exec_msg(4, "bota", "Sell", "1"));
	t0 = now_ms();
	while (now_ms() - t0 < 1500)
		loop_run_once(&L, 50);
	T_EQ_INT(sink_warm_pending(&S), 1);
	T_EQ_INT((int)sink_spill_depth(&S), 2);
	T_EQ_INT((int)S.stats.records_moved, 0);
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "3"); /* untouched until the book is warm */
	T_REQUIRE(services("start-pg") == 0);
	T_CHECK(run_until(warm_and_settled, 20000));
	T_EQ_INT((int)S.stats.warmed, 2);
	T_EQ_INT((int)S.stats.late, 0);
	T_EQ_STR(val("SELECT count(*) FROM trading.fills"), "4");
	T_EQ_STR(val("SELECT count(DISTINCT exec_id) FROM trading.fills"), "4");
	T_EQ_STR(val("SELECT size::text FROM trading.bot_positions WHERE bot_id = 'bota'"), "5");
	T_CHECK(run_until(settled, 5000));
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "5");
	down();
}
