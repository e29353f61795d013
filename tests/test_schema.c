/*
 * test_schema.c -- the parts of the PostgreSQL sink that need no server:
 * the migration steps (numbered, named, fitting the migration buffer, the
 * probe under the advisory lock), pg_init's reading of [postgres] conninfo
 * (what reaches libpq, when a lookup is needed, what is refused), and the
 * batch queue's bounds (rows, text, batches: FR_EFULL, never a crash).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "loop.h"
#include "pg.h"
#include "resolv.h"
#include "schema.h"
#include "t.h"

static struct loop L;
static struct pg P;

/* ---- steps ---------------------------------------------------------------- */

TEST(schema_steps_numbered_named_and_fit)
{
	static char buf[PG_SQL_MAX];

	T_REQUIRE(schema_steps_n >= 1);
	T_EQ_INT(SCHEMA_VERSION, schema_steps_n);
	for (int i = 0; i < schema_steps_n; i++) {
		const struct schema_step *s = &schema_steps[i];

		T_EQ_INT(s->version, i + 1);
		T_CHECK(strspn(s->name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s->name));
		T_CHECK(s->name[0] != 0);
		/* The transaction is the migrator's: a step has no BEGIN/COMMIT of its own. */
		T_CHECK(strstr(s->sql, "BEGIN") == NULL && strstr(s->sql, "COMMIT") == NULL);
		T_CHECK(schema_step_sql(s, buf, (int)sizeof buf) > 0);
		T_CHECK(strstr(buf, "INSERT INTO trading.schema_version") != NULL);
	}
	T_EQ_INT(schema_step_sql(&schema_steps[0], buf, 16), FR_ERANGE);
}

TEST(schema_probe_locks_first)
{
	const char *lock = strstr(schema_sql_probe, "pg_advisory_xact_lock(" SCHEMA_LOCK_KEY_SQL ")");
	const char *create = strstr(schema_sql_probe, "CREATE SCHEMA IF NOT EXISTS trading");

	T_CHECK(strncmp(schema_sql_probe, "BEGIN;", 6) == 0);
	T_REQUIRE(lock && create);
	T_CHECK(lock < create); /* nothing is touched before the lock is held */
	T_CHECK(strstr(schema_sql_probe, "COMMIT") == NULL);
	/* The SQL key is the C key. */
	T_EQ_INT(strtoll(SCHEMA_LOCK_KEY_SQL, NULL, 10) == SCHEMA_LOCK_KEY, 1);
}

/* Every table and column the seed's queries name exists in step 1's text. */
TEST(schema_has_what_the_seed_queries_use)
{
	static const char *const needles[] = {
		"CREATE TABLE trading.fills", "exec_time timestamptz", "commission numeric",
		"close_reason text", "bot_id text", "exec_qty numeric", "exec_price numeric",
		"CREATE TABLE trading.trades_pnl", "net_pnl numeric", "PRIMARY KEY (account, exec_id)",
		"CREATE VIEW trading.open_trades", "CREATE TABLE trading.rejects",
		"CREATE TABLE trading.fill_allocations", "raw jsonb",
	};

	for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
		if (!T_CHECK(strstr(schema_steps[0].sql, needles[i]) != NULL))
			printf("    missing: %s\n", needles[i]);
}

/* ---- conninfo ------------------------------------------------------------- */

static const char *kv(const struct pg *p, const char *key)
{
	for (int i = 0; p->keys_[i]; i++)
		if (strcmp(p->keys_[i], key) == 0)
			return p->vals_[i];
	return NULL;
}

static int init(const char *conninfo, const char *password, struct resolv *r)
{
	static struct cfg_postgres pc;

	memset(&pc, 0, sizeof pc);
	snprintf(pc.conninfo, sizeof pc.conninfo, "%s", conninfo);
	if (password)
		snprintf(pc.password.value, sizeof pc.password.value, "%s", password);
	loop_init(&L, &loop_sys_real);
	return pg_init(&P, &L, r, &pc, NULL);
}

TEST(pg_conninfo_numeric_host_needs_no_lookup)
{
	T_REQUIRE(init("host=127.0.0.1 port=6432 dbname=trading_db user=trading_user", "pw", NULL) ==
		  0);
	T_EQ_STR(P.host_, "");
	T_EQ_STR(kv(&P, "hostaddr"), "127.0.0.1");
	T_EQ_STR(kv(&P, "host"), "127.0.0.1");
	T_EQ_STR(kv(&P, "port"), "6432");
	T_EQ_STR(kv(&P, "dbname"), "trading_db");
	T_EQ_STR(kv(&P, "user"), "trading_user");
	T_EQ_STR(kv(&P, "password"), "pw");
	T_EQ_STR(kv(&P, "application_name"), "fillrelay");
	T_EQ_INT(P.state, PG_IDLE);
	T_EQ_INT(P.timeout_ms_, PG_CONNECT_TIMEOUT_MS);

	T_REQUIRE(init("host=::1 connect_timeout=3 application_name=mine", NULL, NULL) == 0);
	T_EQ_STR(kv(&P, "hostaddr"), "::1");
	T_EQ_STR(kv(&P, "application_name"), "mine");
	T_CHECK(kv(&P, "password") == NULL);
	T_EQ_INT(P.timeout_ms_, 3000);
}

TEST(pg_conninfo_name_is_looked_up_unless_hostaddr)
{
	static struct resolv r;
	char hosts[512], conf[512];

	loop_init(&L, &loop_sys_real);
	snprintf(hosts, sizeof hosts, "%s/none-hosts", t_tmpdir());
	snprintf(conf, sizeof conf, "%s/none-resolv.conf", t_tmpdir());
	T_REQUIRE(resolv_init(&r, &L, conf, hosts) == 0);

	/* The seed's pgbouncer:6432, as a URI. */
	T_REQUIRE(init("postgresql://trading_user@pgbouncer:6432/trading_db", "pw", &r) == 0);
	T_EQ_STR(P.host_, "pgbouncer");
	T_EQ_STR(kv(&P, "host"), "pgbouncer");
	T_CHECK(kv(&P, "hostaddr") != NULL); /* its slot, filled after the lookup */
	T_EQ_STR(kv(&P, "port"), "6432");

	T_REQUIRE(init("host=db.example hostaddr=10.1.2.3", NULL, &r) == 0);
	T_EQ_STR(P.host_, "");
	T_EQ_STR(kv(&P, "hostaddr"), "10.1.2.3");
	T_EQ_STR(kv(&P, "host"), "db.example");

	/* A Unix socket directory: passed on, no address. */
	T_REQUIRE(init("host=/var/run/postgresql dbname=x", NULL, NULL) == 0);
	T_EQ_STR(P.host_, "");
	T_CHECK(kv(&P, "hostaddr") == NULL);
	T_EQ_STR(kv(&P, "host"), "/var/run/postgresql");

	/* A name with no resolver is a set-up error. */
	T_EQ_INT(init("host=db.example", NULL, NULL), FR_ECONFIG);
	resolv_close(&r);
}

TEST(pg_conninfo_refused)
{
	T_EQ_INT(init("host=a,b", NULL, NULL), FR_ECONFIG); /* several hosts */
	T_EQ_INT(init("hostaddr=10.0.0.1,10.0.0.2", NULL, NULL), FR_ECONFIG);
	T_EQ_INT(init("no_such_keyword=1", NULL, NULL), FR_ECONFIG);
	T_CHECK(strstr(P.msg, "no_such_keyword") != NULL); /* libpq's reason */
	T_EQ_INT(init("host='unterminated", NULL, NULL), FR_ECONFIG);
	T_EQ_INT(P.err, FR_ECONFIG);
}

/* ---- the batch queue ------------------------------------------------------ */

static struct decode_exec exec_named(const char *id)
{
	struct decode_exec x;

	memset(&x, 0, sizeof x);
	snprintf(x.exec_id, sizeof x.exec_id, "%s", id);
	snprintf(x.symbol, sizeof x.symbol, "BTCUSDT");
	return x;
}

TEST(pg_batches_are_bounded)
{
	static char big[PG_BATCH_TEXT_MAX + 16];
	struct decode_exec x = exec_named("e1");
	struct pg_batch *b, *b2;
	int i, rc = 0;

	T_REQUIRE(init("host=127.0.0.1", NULL, NULL) == 0);
	T_CHECK(pg_drained(&P));
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	T_CHECK(pg_batch_open(&P) == b); /* the same open batch */
	x.raw.off = 0;
	x.raw.len = 7;
	T_CHECK(!pg_drained(&P));

	for (i = 0; i < PG_BATCH_FILLS_MAX + 1; i++)
		if ((rc = pg_batch_add_fill(b, "main", &x, "{\"a\":1}", NULL, 0)) != 0)
			break;
	T_EQ_INT(i, PG_BATCH_FILLS_MAX);
	T_EQ_INT(rc, FR_EFULL);
	T_EQ_INT(b->n[PG_KIND_FILL], PG_BATCH_FILLS_MAX);
	/* Defaults: no derived columns is bot "unattributed"; raw copied. */
	T_EQ_STR(b->fills[0].d.bot, BOOK_BOT_UNATTRIBUTED);
	T_EQ_STR(pg_batch_raw(b, b->fills[3].x.raw), "{\"a\":1}");
	T_EQ_INT(b->st[PG_KIND_FILL][0], PG_ROW_PENDING);
	T_CHECK(pg_batch_reject(b, PG_KIND_FILL, 0) == NULL);
	T_EQ_INT(pg_batch_submit(&P, b, 1), 0);
	T_EQ_INT(pg_batch_submit(&P, b, 1), FR_EINVAL); /* no longer open */

	/* Text: a raw larger than a batch can ever hold, then one that fills it. */
	T_REQUIRE((b2 = pg_batch_open(&P)) != NULL && b2 != b);
	memset(big, 'x', sizeof big);
	x.raw.off = 0;
	x.raw.len = PG_BATCH_TEXT_MAX + 8;
	T_EQ_INT(pg_batch_add_fill(b2, "main", &x, big, NULL, 0), FR_EINVAL);
	x.raw.len = PG_BATCH_TEXT_MAX - 1;
	T_EQ_INT(pg_batch_add_fill(b2, "main", &x, big, NULL, 0), 0);
	x.raw.len = 2;
	T_EQ_INT(pg_batch_add_fill(b2, "main", &x, big, NULL, 0), FR_EFULL);
	T_EQ_INT(pg_batch_add_fill(b2, "", &x, big, NULL, 0), FR_EINVAL);
	x.exec_id[0] = 0;
	T_EQ_INT(pg_batch_add_fill(b2, "main", &x, big, NULL, 0), FR_EINVAL);
	T_EQ_INT(pg_batch_submit(&P, b2, 2), 0);

	/* Every batch queued (not connected): back-pressure, not a crash. */
	for (i = 2; i < PG_BATCHES_MAX; i++) {
		T_REQUIRE((b = pg_batch_open(&P)) != NULL);
		T_EQ_INT(pg_batch_submit(&P, b, (uint64_t)i + 1), 0);
	}
	T_CHECK(pg_batch_open(&P) == NULL);
	T_CHECK(!pg_drained(&P));
}

TEST(pg_batch_other_kinds_bounded)
{
	struct decode_order o;
	struct decode_position pos;
	struct decode_wallet w;
	struct book_alloc a;
	struct book_trip t;
	struct pg_batch *b;
	int i;

	T_REQUIRE(init("host=127.0.0.1", NULL, NULL) == 0);
	T_REQUIRE((b = pg_batch_open(&P)) != NULL);
	memset(&o, 0, sizeof o);
	memset(&pos, 0, sizeof pos);
	memset(&w, 0, sizeof w);
	memset(&a, 0, sizeof a);
	memset(&t, 0, sizeof t);
	T_EQ_INT(pg_batch_add_order(b, "main", &o, NULL, "", ""), FR_EINVAL); /* no orderId */
	snprintf(o.order_id, sizeof o.order_id, "o1");
	for (i = 0; pg_batch_add_order(b, "main", &o, NULL, "bot", "entry") == 0; i++)
		;
	T_EQ_INT(i, PG_BATCH_ORDERS_MAX);
	T_EQ_STR(pg_batch_raw(b, b->orders[0].o.raw), "{}"); /* no raw: an empty object */
	snprintf(pos.symbol, sizeof pos.symbol, "BTCUSDT");
	for (i = 0; pg_batch_add_position(b, "main", &pos, NULL) == 0; i++)
		;
	T_EQ_INT(i, PG_BATCH_POSITIONS_MAX);
	snprintf(w.account_type, sizeof w.account_type, "UNIFIED");
	for (i = 0; pg_batch_add_wallet(b, "main", &w, NULL, 1) == 0; i++)
		;
	T_EQ_INT(i, PG_BATCH_WALLET_MAX);
	T_EQ_INT(pg_batch_add_alloc(b, "main", "e1", &a), FR_EINVAL); /* no bot */
	snprintf(a.bot, sizeof a.bot, "alpha_001");
	for (i = 0; pg_batch_add_alloc(b, "main", "e1", &a) == 0; i++)
		;
	T_EQ_INT(i, PG_BATCH_ALLOCS_MAX);
	snprintf(t.account, sizeof t.account, "main");
	snprintf(t.bot, sizeof t.bot, "alpha_001");
	for (i = 0; pg_batch_add_trip(b, &t) == 0; i++)
		;
	T_EQ_INT(i, PG_BATCH_TRIPS_MAX);
	T_EQ_STR(pg_state_str(PG_READY), "ready");
}
