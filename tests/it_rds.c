/*
 * it_rds.c -- integration test of the Redis sink against the real Redis 7 of
 * tests/services.sh (FR_TEST_REDIS_HOST/PORT/PASSWORD, FR_TEST_SERVICES_DIR):
 * connect and AUTH, positions from a book in each bot's db read the way the
 * seed's bots read them, the version guard, Redis restarted empty, publish once,
 * the heartbeat, the exchange's view and drift, and a wrong password.
 *
 * The sink runs on a real loop; the test checks Redis with a second, blocking
 * hiredis connection. Each test starts from FLUSHALL.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "book.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "rds.h"
#include "resolv.h"
#include "t.h"

static struct cfg cfg;
static struct loop loop;
static struct resolv res;
static struct book book;
static struct book_result R;
static struct rds rd;

struct it_redis {
	const char *host, *port, *password, *dir;
};

static int it_env(struct it_redis *e)
{
	e->host = getenv("FR_TEST_REDIS_HOST");
	e->port = getenv("FR_TEST_REDIS_PORT");
	e->password = getenv("FR_TEST_REDIS_PASSWORD");
	e->dir = getenv("FR_TEST_SERVICES_DIR");
	if (!e->host || !e->port || !e->password || !e->dir) {
		printf("    it_rds: FR_TEST_REDIS_* unset; run under tests/services.sh run DIR --\n");
		return 0;
	}
	return 1;
}

/* The seed's three bots, one account each, dbs 0, 1, 2. */
static void setup(const char *password)
{
	struct it_redis e;
	struct cfg_error ce;
	char text[2048];

	T_REQUIRE(it_env(&e));
	snprintf(text, sizeof text,
	         "[listener]\ninstance = it_rds\n"
	         "[account seed_ss]\napi_key = KEYseedss0123456789\n"
	         "api_secret = SECRETseedss0123456789\n"
	         "[account seed_lx]\napi_key = KEYseedlx0123456789\n"
	         "api_secret = SECRETseedlx0123456789\n"
	         "[account seed_mom]\napi_key = KEYseedmo0123456789\n"
	         "api_secret = SECRETseedmo0123456789\n"
	         "[bot shortseller_001]\naccount = seed_ss\nredis_db = 0\n"
	         "[bot lxalgo_001]\naccount = seed_lx\nredis_db = 1\n"
	         "[bot momentum_001]\naccount = seed_mom\nredis_db = 2\n"
	         "[postgres]\nconninfo = host=127.0.0.1\n"
	         "[redis]\nhost = %s\nport = %s\npassword = %s\n",
	         e.host, e.port, password ? password : e.password);
	if (cfg_parse(&cfg, text, strlen(text), "it_rds.conf", &ce) != 0) {
		printf("    cfg: line %d: %s\n", ce.line, ce.msg);
		T_REQUIRE(0);
	}
	loop_init(&loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&res, &loop, "/nonexistent/resolv.conf", "/nonexistent/hosts") == 0);
	T_REQUIRE(book_init(&book, &cfg, NULL) == 0);
	T_REQUIRE(rds_init(&rd, &loop, &res, &cfg, &book) == 0);
}

static void teardown(void)
{
	rds_stop(&rd);
	resolv_close(&res);
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
}

/* Runs the loop until cond() or ms pass; returns cond(). */
static int run_until(int (*cond)(void), int ms)
{
	int64_t end = loop_sys_real.mono_ms(NULL) + ms;

	while (!cond() && loop_sys_real.mono_ms(NULL) < end)
		loop_run_once(&loop, 50);
	return cond();
}

static int is_idle(void)
{
	return rds_idle(&rd);
}

/* ---- the checking connection ----------------------------------------------- */

static redisContext *chk_connect(void)
{
	struct it_redis e;
	struct timeval tv = { 5, 0 };
	redisContext *c;
	redisReply *r;

	T_REQUIRE(it_env(&e));
	c = redisConnectWithTimeout(e.host, atoi(e.port), tv);
	T_REQUIRE(c != NULL && c->err == 0);
	redisSetTimeout(c, tv);
	r = redisCommand(c, "AUTH %s", e.password);
	T_REQUIRE(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	return c;
}

static void chk_cmd_ok(redisContext *c, const char *cmd)
{
	redisReply *r = redisCommand(c, cmd);

	T_REQUIRE(r != NULL);
	T_CHECK(r->type != REDIS_REPLY_ERROR);
	freeReplyObject(r);
}

/* GET key in db into buf ("(nil)" when missing). */
static const char *chk_get(redisContext *c, int db, const char *key, char *buf, size_t n)
{
	redisReply *r = redisCommand(c, "SELECT %d", db);

	freeReplyObject(r);
	r = redisCommand(c, "GET %s", key);
	T_REQUIRE(r != NULL);
	snprintf(buf, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	return buf;
}

static const char *chk_hget(redisContext *c, int db, const char *key, const char *field,
                            char *buf, size_t n)
{
	redisReply *r = redisCommand(c, "SELECT %d", db);

	freeReplyObject(r);
	r = redisCommand(c, "HGET %s %s", key, field);
	T_REQUIRE(r != NULL);
	snprintf(buf, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	return buf;
}

static long long chk_int(redisContext *c, int db, const char *fmt, const char *key)
{
	redisReply *r = redisCommand(c, "SELECT %d", db);
	long long v;

	freeReplyObject(r);
	r = redisCommand(c, fmt, key);
	T_REQUIRE(r != NULL);
	v = r->type == REDIS_REPLY_INTEGER ? r->integer
	    : r->type == REDIS_REPLY_ARRAY ? (long long)r->elements
	                                   : -999;
	freeReplyObject(r);
	return v;
}

static void flushall(void)
{
	redisContext *c = chk_connect();

	chk_cmd_ok(c, "FLUSHALL");
	redisFree(c);
}

/* ---- fills ------------------------------------------------------------------ */

static struct decode_exec fill(const char *id, const char *sym, const char *side,
                               const char *qty, const char *price, const char *link,
                               int64_t t, int64_t seq)
{
	struct decode_exec x;

	memset(&x, 0, sizeof x);
	snprintf(x.exec_id, sizeof x.exec_id, "%s", id);
	strcpy(x.category, "linear");
	snprintf(x.symbol, sizeof x.symbol, "%s", sym);
	strcpy(x.exec_type, "Trade");
	snprintf(x.side, sizeof x.side, "%s", side);
	snprintf(x.order_link_id, sizeof x.order_link_id, "%s", link);
	dec_parse(&x.exec_qty.v, qty, strlen(qty));
	x.exec_qty.present = 1;
	dec_parse(&x.exec_price.v, price, strlen(price));
	x.exec_price.present = 1;
	strcpy(x.fee_currency, "USDT");
	x.exec_time_ms = t;
	x.seq.v = seq;
	x.seq.present = 1;
	x.is_maker = DECODE_BOOL_ABSENT;
	return x;
}

/* Applies x to the book and reports it to the sink; returns rds_fill's result. */
static int apply(const char *account, struct decode_exec x, enum rds_publish pub)
{
	T_REQUIRE(book_apply(&book, account, &x, NULL, &R) == BOOK_APPLIED);
	return rds_fill(&rd, account, &x, &R, pub);
}

#define T0 1700000000000LL

/* The seed's scenario, first legs: three bots, three dbs. */
static void seed_fills(enum rds_publish pub)
{
	apply("seed_ss", fill("ss-1", "BTCUSDT", "Sell", "0.1", "43000", "shortseller_001:entry:1700000000",
	                      T0, 10),
	      pub);
	apply("seed_ss", fill("ss-2", "BTCUSDT", "Sell", "0.2", "43010", "shortseller_001:entry:1700000001",
	                      T0 + 1, 11),
	      pub);
	apply("seed_lx", fill("lx-1", "ETHUSDT", "Buy", "1.5", "2300.25", "lxalgo_001:rule_3:1700000002",
	                      T0 + 2, 20),
	      pub);
	apply("seed_mom", fill("mo-1", "SOLUSDT", "Buy", "10", "60.1",
	                       "momentum_001:volatility_breakout:1700000003", T0 + 3, 30),
	      pub);
}

static void check_seed_keys(redisContext *c)
{
	char b[128];

	/* the seed's reads, verbatim: exact decimals, never 0.30000000000000004 */
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "0.3");
	T_EQ_STR(chk_get(c, 1, "lxalgo_001:position:ETHUSDT", b, sizeof b), "1.5");
	T_EQ_STR(chk_get(c, 2, "momentum_001:position:SOLUSDT", b, sizeof b), "10");
	/* each in its own db only */
	T_EQ_STR(chk_get(c, 1, "shortseller_001:position:BTCUSDT", b, sizeof b), "(nil)");
	T_EQ_INT(chk_int(c, 1, "KEYS %s", "lxalgo_001:position:*"), 1);
	T_EQ_INT(chk_int(c, 0, "KEYS %s", "shortseller_001:position:*"), 1);
	/* the detail hash */
	T_EQ_STR(chk_hget(c, 0, "shortseller_001:position_detail:BTCUSDT", "side", b, sizeof b),
	         "short");
	T_EQ_STR(chk_hget(c, 0, "shortseller_001:position_detail:BTCUSDT", "size", b, sizeof b),
	         "-0.3");
	T_EQ_STR(chk_hget(c, 0, "shortseller_001:position_detail:BTCUSDT", "last_exec_id", b,
	                  sizeof b),
	         "ss-2");
	T_EQ_STR(chk_hget(c, 0, "shortseller_001:position_detail:BTCUSDT", "trade_seq", b, sizeof b),
	         "1");
	T_EQ_STR(chk_hget(c, 1, "lxalgo_001:position_detail:ETHUSDT", "avg_price", b, sizeof b),
	         "2300.25");
	/* position keys never expire */
	T_EQ_INT(chk_int(c, 0, "PTTL %s", "shortseller_001:position:BTCUSDT"), -1);
	T_EQ_INT(chk_int(c, 0, "PTTL %s", "shortseller_001:position_detail:BTCUSDT"), -1);
}

/* ---- tests ------------------------------------------------------------------ */

TEST(it_rds_positions_in_each_bot_db)
{
	redisContext *c;
	char b[128];

	setup(NULL);
	flushall();
	/* fills before the connection: the book holds them; the connect rewrites */
	seed_fills(RDS_NO_PUBLISH);
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_INT(rds_state(&rd), RDS_READY);
	c = chk_connect();
	check_seed_keys(c);
	/* a fill while connected: a guarded write; closing to flat writes "0" */
	T_CHECK(apply("seed_ss", fill("ss-3", "BTCUSDT", "Buy", "0.3", "42000",
	                              "shortseller_001:trailing_stop:1700000004", T0 + 4, 12),
	              RDS_NO_PUBLISH) >= 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "0");
	T_EQ_STR(chk_hget(c, 0, "shortseller_001:position_detail:BTCUSDT", "side", b, sizeof b),
	         "flat");
	T_EQ_STR(chk_hget(c, 0, "shortseller_001:position_detail:BTCUSDT", "realized_pnl", b,
	                  sizeof b),
	         "302");
	T_EQ_INT(rd.stats.positions_written, 4); /* 3 rewritten at connect, then ss-3 */
	T_EQ_INT(rd.stats.positions_stale, 0);
	T_EQ_INT(rd.stats.command_errors, 0);
	redisFree(c);
	teardown();
}

TEST(it_rds_guard_older_refused_equal_overwrites)
{
	redisContext *c;
	struct decode_exec x;
	static struct book_result old;
	char b[128];

	setup(NULL);
	flushall();
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	seed_fills(RDS_NO_PUBLISH);
	T_CHECK(run_until(is_idle, 5000));
	c = chk_connect();
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "0.3");
	/* a replay of the older state (after ss-1: 0.1) must not overwrite */
	x = fill("ss-1", "BTCUSDT", "Sell", "0.1", "43000", "shortseller_001:entry:1700000000", T0, 10);
	old = (struct book_result){ 0 };
	old.status = BOOK_APPLIED;
	old.positions_n = 1;
	old.positions[0] = *book_position_find(&book, "seed_ss", "shortseller_001", "linear",
	                                       "BTCUSDT", 0);
	dec_parse(&old.positions[0].size, "-0.1", 4);
	strcpy(old.positions[0].last_exec_id, "ss-1");
	old.positions[0].last_exec_time_ms = T0;
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &old, RDS_NO_PUBLISH), 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "0.3");
	T_EQ_INT(rd.stats.positions_stale, 1);
	/* the same version as stored (ss-2) overwrites: a rebuild corrects a value */
	x = fill("ss-2", "BTCUSDT", "Sell", "0.2", "43010", "shortseller_001:entry:1700000001",
	         T0 + 1, 11);
	old.positions[0] = *book_position_find(&book, "seed_ss", "shortseller_001", "linear",
	                                       "BTCUSDT", 0);
	dec_parse(&old.positions[0].size, "-0.25", 5);
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &old, RDS_NO_PUBLISH), 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "0.25");
	T_EQ_INT(rd.stats.positions_stale, 1);
	/* a lower seq at the same ms is older too */
	x = fill("ss-2", "BTCUSDT", "Sell", "0.2", "43010", "", T0 + 1, 9);
	dec_parse(&old.positions[0].size, "-9", 2);
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &old, RDS_NO_PUBLISH), 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "0.25");
	T_EQ_INT(rd.stats.positions_stale, 2);
	redisFree(c);
	teardown();
}

static int reconnected(void)
{
	return rd.stats.connects >= 2 && rds_idle(&rd);
}

TEST(it_rds_redis_restarted_empty_is_rewritten)
{
	struct it_redis e;
	redisContext *c;
	char cmd[1024], b[128];
	int rc;

	setup(NULL);
	T_REQUIRE(it_env(&e));
	flushall();
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	seed_fills(RDS_NO_PUBLISH);
	T_CHECK(run_until(is_idle, 5000));
	snprintf(cmd, sizeof cmd, "bash tests/services.sh restart-redis '%s' >/dev/null 2>&1",
	         e.dir);
	rc = system(cmd);
	T_REQUIRE(rc == 0);
	c = chk_connect();
	T_EQ_STR(chk_get(c, 0, "shortseller_001:position:BTCUSDT", b, sizeof b), "(nil)");
	redisFree(c);
	/* the client notices on its own, reconnects and rewrites every key */
	T_CHECK(run_until(reconnected, 15000));
	T_EQ_INT(rd.stats.disconnects, 1);
	c = chk_connect();
	check_seed_keys(c);
	T_CHECK(chk_int(c, 2, "PTTL %s", "fillrelay:heartbeat:it_rds") > 0);
	redisFree(c);
	teardown();
}

/* Reads pub/sub messages until none arrives for 700 ms; returns the count. */
static int count_messages(redisContext *sub, const char *want_exec_id)
{
	struct timeval tv = { 0, 700000 };
	void *reply;
	int n = 0;

	redisSetTimeout(sub, tv);
	while (redisGetReply(sub, &reply) == REDIS_OK) {
		redisReply *r = reply;

		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    strcmp(r->element[0]->str, "message") == 0) {
			n++;
			T_CHECK(strstr(r->element[2]->str, want_exec_id) != NULL);
		}
		freeReplyObject(r);
	}
	return n;
}

TEST(it_rds_publish_once_per_new_fill)
{
	redisContext *sub;
	redisReply *r;
	struct decode_exec x;

	setup(NULL);
	flushall();
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	sub = chk_connect();
	r = redisCommand(sub, "SUBSCRIBE %s", "fillrelay:fills:shortseller_001");
	T_REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	/* a new fill: published once */
	x = fill("pub-1", "BTCUSDT", "Sell", "0.1", "43000", "shortseller_001:entry:1700000000", T0,
	         10);
	T_REQUIRE(book_apply(&book, "seed_ss", &x, NULL, &R) == BOOK_APPLIED);
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &R, RDS_PUBLISH), 2); /* write + publish */
	/* the same fill again: the book says duplicate, nothing is reported */
	T_EQ_INT(book_apply(&book, "seed_ss", &x, NULL, &R), BOOK_DUPLICATE);
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &R, RDS_PUBLISH), FR_EINVAL);
	/* a replay (start-up, rebuild) of an applied fill: state only */
	T_REQUIRE(book_init(&book, &cfg, NULL) == 0);
	T_REQUIRE(book_apply(&book, "seed_ss", &x, NULL, &R) == BOOK_APPLIED);
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &R, RDS_NO_PUBLISH), 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_INT(count_messages(sub, "\"exec_id\":\"pub-1\""), 1);
	T_EQ_INT(rd.stats.publishes_sent, 1);
	T_EQ_INT(rd.stats.publish_receivers, 1);
	/* while Redis is not READY a publish is lost (documented), not queued */
	rds_stop(&rd);
	x = fill("pub-2", "BTCUSDT", "Sell", "0.1", "43000", "shortseller_001:entry:1700000001",
	         T0 + 1, 11);
	T_REQUIRE(book_apply(&book, "seed_ss", &x, NULL, &R) == BOOK_APPLIED);
	T_EQ_INT(rds_fill(&rd, "seed_ss", &x, &R, RDS_PUBLISH), 0);
	T_EQ_INT(rd.stats.publishes_lost, 1);
	redisFree(sub);
	teardown();
}

TEST(it_rds_heartbeat_with_ttl_in_each_bot_db)
{
	redisContext *c;
	char b[64];

	setup(NULL);
	flushall();
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	c = chk_connect();
	for (int db = 0; db < 3; db++) {
		long long ttl = chk_int(c, db, "PTTL %s", "fillrelay:heartbeat:it_rds");

		T_CHECK(ttl > 0 && ttl <= RDS_HEARTBEAT_TTL_MS);
		T_CHECK(atoll(chk_get(c, db, "fillrelay:heartbeat:it_rds", b, sizeof b)) > T0);
	}
	T_EQ_INT(chk_int(c, 3, "EXISTS %s", "fillrelay:heartbeat:it_rds"), 0);
	redisFree(c);
	teardown();
}

TEST(it_rds_exchange_view_and_drift)
{
	redisContext *c;
	struct decode_position p;
	char b[64];
	const char *key = "fillrelay:account:seed_ss:position:BTCUSDT";

	setup(NULL);
	flushall();
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	seed_fills(RDS_NO_PUBLISH);
	memset(&p, 0, sizeof p);
	strcpy(p.category, "linear");
	strcpy(p.symbol, "BTCUSDT");
	strcpy(p.side, "Sell");
	dec_parse(&p.size.v, "0.3", 3);
	p.size.present = 1;
	p.seq.v = 11; /* the last applied fill's (ss-2) */
	p.seq.present = 1;
	p.updated_time_ms = T0 + 1;
	T_EQ_INT(rds_exchange_position(&rd, "seed_ss", &p), RDS_DRIFT_OK);
	T_CHECK(run_until(is_idle, 5000));
	c = chk_connect();
	T_EQ_STR(chk_hget(c, 0, key, "drift", b, sizeof b), "0");
	T_EQ_STR(chk_hget(c, 0, key, "size", b, sizeof b), "0.3");
	T_EQ_STR(chk_hget(c, 0, key, "bots_sum", b, sizeof b), "-0.3");
	/* a newer push with another size and a seq no fill has: pending */
	p.seq.v = 12;
	p.updated_time_ms = T0 + 5;
	dec_parse(&p.size.v, "0.5", 3);
	T_EQ_INT(rds_exchange_position(&rd, "seed_ss", &p), RDS_DRIFT_PENDING);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_hget(c, 0, key, "drift", b, sizeof b), "pending");
	/* the fill with seq 12 arrives and leaves the bots at -0.4: a real drift */
	T_CHECK(apply("seed_ss", fill("ss-x", "BTCUSDT", "Sell", "0.1", "43000",
	                              "shortseller_001:entry:1700000009", T0 + 5, 12),
	              RDS_NO_PUBLISH) >= 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_hget(c, 0, key, "drift", b, sizeof b), "1");
	T_EQ_INT(rd.stats.drift_mismatches, 1);
	/* an older push replayed later changes nothing */
	p.seq.v = 11;
	p.updated_time_ms = T0 + 1;
	T_EQ_INT(rds_exchange_position(&rd, "seed_ss", &p), RDS_DRIFT_MISMATCH);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_hget(c, 0, key, "seq", b, sizeof b), "12");
	/* the drift persists through the next fill in flight: logged once only */
	p.seq.v = 13;
	p.updated_time_ms = T0 + 6;
	dec_parse(&p.size.v, "0.6", 3);
	T_EQ_INT(rds_exchange_position(&rd, "seed_ss", &p), RDS_DRIFT_PENDING);
	T_CHECK(apply("seed_ss", fill("ss-y", "BTCUSDT", "Sell", "0.1", "43000",
	                              "shortseller_001:entry:1700000010", T0 + 6, 13),
	              RDS_NO_PUBLISH) >= 1);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_hget(c, 0, key, "drift", b, sizeof b), "1");
	T_EQ_INT(rd.stats.drift_mismatches, 1);
	/* and a push that agrees resolves it */
	p.seq.v = 13;
	p.updated_time_ms = T0 + 7;
	dec_parse(&p.size.v, "0.5", 3);
	T_EQ_INT(rds_exchange_position(&rd, "seed_ss", &p), RDS_DRIFT_OK);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_STR(chk_hget(c, 0, key, "drift", b, sizeof b), "0");
	T_EQ_STR(chk_hget(c, 0, key, "bots_sum", b, sizeof b), "-0.5");
	redisFree(c);
	teardown();
}

static int failed_a_few_times(void)
{
	return rd.stats.connect_failures >= 3;
}

TEST(it_rds_wrong_password_clear_error_no_secret_in_log)
{
	const char *pw = "Wr0ng_pa55word_xyz";
	char path[512], *text;
	const char *msg = NULL, *p;
	int fd, n = 0;

	snprintf(path, sizeof path, "%s/rds_wrongpw.log", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_REQUIRE(fd >= 0);
	setup(pw);
	log_setup(fd, LOG_DEBUG, loop_sys_real.wall_ms, loop_sys_real.ctx);
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(failed_a_few_times, 8000));
	T_CHECK(rds_state(&rd) != RDS_READY);
	T_EQ_INT(rds_last_error(&rd, &msg), FR_ECONFIG);
	T_CHECK(msg && strstr(msg, "AUTH refused") != NULL);
	teardown();
	close(fd);
	text = t_read_file(path, NULL);
	T_REQUIRE(text != NULL);
	T_CHECK(strstr(text, pw) == NULL);
	for (p = text; (p = strstr(p, "cannot connect to Redis")) != NULL; p++)
		n++;
	T_EQ_INT(n, 1); /* once per outage; retries log at debug as "still unavailable" */
	T_CHECK(strstr(text, "WRONGPASS") != NULL || strstr(text, "invalid password") != NULL);
	T_CHECK(strstr(text, "connected to Redis") == NULL);
	free(text);
}

TEST(it_rds_refused_port_backs_off_then_connects)
{
	setup(NULL);
	/* nothing listens on port 1: refused, retried, no crash */
	cfg.redis.port = 1;
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(failed_a_few_times, 8000));
	T_CHECK(rds_last_error(&rd, NULL) < 0);
	teardown();
	setup(NULL);
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	T_EQ_INT(rds_last_error(&rd, NULL), 0);
	teardown();
}

/* More position writes at once than the queue holds: some are dropped, a full
 * rewrite follows, and every key ends right. */
TEST(it_rds_queue_overflow_rewrites_every_position)
{
	enum { N = 900 };
	redisContext *c;
	char sym[32], id[32], key[80], b[64];
	int full = 0, bad = 0;

	setup(NULL);
	flushall();
	T_EQ_INT(rds_start(&rd), 0);
	T_CHECK(run_until(is_idle, 5000));
	for (int i = 0; i < N; i++) {
		snprintf(sym, sizeof sym, "S%04dUSDT", i);
		snprintf(id, sizeof id, "q-%d", i);
		full += apply("seed_ss", fill(id, sym, "Buy", "0.5", "10", "shortseller_001:entry:1700000000",
		                              T0 + i, i),
		              RDS_NO_PUBLISH) == FR_EFULL;
	}
	T_CHECK(full > 0);
	T_CHECK(rd.stats.positions_dropped > 0);
	T_CHECK(rd.stats.queue_high_water == RDS_QUEUE_MAX);
	T_CHECK(run_until(is_idle, 15000));
	c = chk_connect();
	T_EQ_INT(chk_int(c, 0, "KEYS %s", "shortseller_001:position:*"), N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "shortseller_001:position:S%04dUSDT", i);
		bad += strcmp(chk_get(c, 0, key, b, sizeof b), "0.5") != 0;
	}
	T_EQ_INT(bad, 0);
	T_EQ_INT(rd.stats.command_errors, 0);
	redisFree(c);
	teardown();
}

/* ---- a fake server on our loop, for the reply limits ------------------------ */

static int fake_mode; /* 0: a 5000-byte reply; 1: a huge bulk announced, 80 KiB sent */
static int fake_conn = -1;

static void fake_accept(struct loop *l, int fd, short revents, void *arg)
{
	static char junk[80 * 1024];
	char head[64];
	int c = accept(fd, NULL, NULL);

	(void)l;
	(void)revents;
	(void)arg;
	if (c < 0)
		return;
	if (fake_conn >= 0)
		close(fake_conn);
	fake_conn = c;
	memset(junk, 'x', sizeof junk);
	if (fake_mode == 0) {
		snprintf(head, sizeof head, "$%d\r\n", RDS_REPLY_STR_MAX + 1);
		T_CHECK(write(c, head, strlen(head)) > 0);
		T_CHECK(write(c, junk, RDS_REPLY_STR_MAX + 1) > 0);
		T_CHECK(write(c, "\r\n", 2) == 2);
	} else {
		T_CHECK(write(c, "$100000000\r\n", 12) == 12);
		T_CHECK(write(c, junk, sizeof junk) > 0);
	}
}

static int fake_listen(unsigned *port)
{
	struct sockaddr_in a;
	socklen_t n = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0);
	T_REQUIRE(getsockname(fd, (struct sockaddr *)&a, &n) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int failed_once(void)
{
	return rd.stats.connect_failures >= 1;
}

TEST(it_rds_reply_limits_drop_the_connection)
{
	for (fake_mode = 0; fake_mode < 2; fake_mode++) {
		const char *msg = NULL;
		int lfd;

		setup(NULL);
		lfd = fake_listen(&cfg.redis.port);
		T_REQUIRE(loop_fd_add(&loop, lfd, POLLIN, fake_accept, NULL) == 0);
		T_EQ_INT(rds_start(&rd), 0);
		T_CHECK(run_until(failed_once, 5000));
		T_EQ_INT(rds_last_error(&rd, &msg), FR_ERANGE);
		T_CHECK(msg && strstr(msg, "exceeds") != NULL);
		T_CHECK(rds_state(&rd) != RDS_READY);
		loop_fd_del(&loop, lfd);
		close(lfd);
		if (fake_conn >= 0)
			close(fake_conn);
		fake_conn = -1;
		teardown();
	}
}
