/*
 * it_verbs.c -- the query verbs (verb_query.h: fills, pnl, positions) against
 * the real PostgreSQL 15 and Redis 7 of tests/services.sh. Rows are inserted
 * with SQL (a shortseller round trip, a shared funding fill split by
 * fill_allocations, momentum trades in USDT and BTC) and Redis keys with SET /
 * HSET, so every expected line below is known in advance. The product flavour
 * runs the real binary; the ASan flavour (no product binary) calls
 * verb_query in a forked child with stdout and stderr sent to files.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cfg.h"
#include "itpeer.h"
#include "t.h"
#include "verb_migrate.h"
#include "verb_query.h"

#define DB_SHORT 4
#define DB_MOMENTUM 5

static struct cfg C;
static char CONF_PATH[300];
static const char *pghost, *pgport, *pguser, *pgpass, *pgdb, *rhost, *rport, *rpass;
static char OUT[16384], ERR[4096];

static int env_ok(void)
{
	pghost = getenv("FR_TEST_PGHOST");
	pgport = getenv("FR_TEST_PGPORT");
	pguser = getenv("FR_TEST_PGUSER");
	pgpass = getenv("FR_TEST_PGPASSWORD");
	pgdb = getenv("FR_TEST_PGDATABASE");
	rhost = getenv("FR_TEST_REDIS_HOST");
	rport = getenv("FR_TEST_REDIS_PORT");
	rpass = getenv("FR_TEST_REDIS_PASSWORD");
	return pghost && pgport && pguser && pgpass && pgdb && rhost && rport && rpass;
}

/* Writes the configuration (pg_port/redis_port NULL: the test services') to
 * CONF_PATH and parses it into C. */
static void setup_cfg(const char *pg_port, const char *redis_port)
{
	static char text[2048];
	struct cfg_error ce;
	FILE *f;

	snprintf(text, sizeof text,
	         "[listener]\ninstance = it_verbs\n"
	         "[account main]\napi_key = KEYmain0123456789\napi_secret = SECRETmain0123456789\n"
	         "[bot shortseller_001]\naccount = main\nredis_db = %d\n"
	         "[bot momentum_001]\naccount = main\nredis_db = %d\n"
	         "[postgres]\nconninfo = host=%s port=%s dbname=%s user=%s connect_timeout=3\n"
	         "password = %s\n"
	         "[redis]\nhost = %s\nport = %s\npassword = %s\n",
	         DB_SHORT, DB_MOMENTUM, pghost, pg_port ? pg_port : pgport, pgdb, pguser, pgpass,
	         rhost, redis_port ? redis_port : rport, rpass);
	T_REQUIRE(cfg_parse(&C, text, strlen(text), "it_verbs.conf", &ce) == 0);
	snprintf(CONF_PATH, sizeof CONF_PATH, "%s/it_verbs.conf", t_tmpdir());
	f = fopen(CONF_PATH, "w");
	T_REQUIRE(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void exec_sql(const char *sql)
{
	char ci[512];
	PGconn *c;
	PGresult *r;

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s", pghost,
	         pgport, pgdb, pguser, pgpass);
	c = PQconnectdb(ci);
	T_REQUIRE(PQstatus(c) == CONNECTION_OK);
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	r = PQexec(c, sql);
	if (!T_CHECK(PQresultStatus(r) == PGRES_COMMAND_OK))
		printf("    sql failed: %s\n", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static void redis_cmds(int db, const char *const *cmds)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(rhost, atoi(rport), tv);
	redisReply *r;

	T_REQUIRE(c && !c->err);
	r = redisCommand(c, "AUTH %s", rpass);
	T_REQUIRE(r && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	freeReplyObject(redisCommand(c, "SELECT %d", db));
	freeReplyObject(redisCommand(c, "FLUSHDB"));
	for (; *cmds; cmds++) {
		r = redisCommand(c, *cmds);
		T_CHECK(r && r->type != REDIS_REPLY_ERROR);
		freeReplyObject(r);
	}
	redisFree(c);
}

#define FILL_COLS                                                                          \
	"INSERT INTO trading.fills (account, exec_id, bot_id, symbol, category, side,"   \
	" exec_qty, exec_price, commission, fee_currency, exec_type, reason, close_reason," \
	" realized_pnl, exec_time, seq, received_at, raw) VALUES "

static const char *const SQL_ROWS[] = {
	FILL_COLS
	"('main', 'e-1', 'shortseller_001', 'BTCUSDT', 'linear', 'Sell', 0.010, 30000.5,"
	" 0.165, 'USDT', 'Trade', 'entry', '', 0, '2023-03-15 13:20:00.123+00', 10, now(), '{}'),"
	"('main', 'e-2', 'shortseller_001', 'BTCUSDT', 'linear', 'Buy', 0.010, 29000.5,"
	" 0.16, 'USDT', 'Trade', 'trailing_stop', 'trailing_stop', 10,"
	" '2023-03-15 13:30:00.456+00', 11, now(), '{}'),"
	"('main', 'e-3', 'momentum_001', 'ETHUSDT', 'linear', 'Buy', 1.5, 1650.25, NULL, 'USDT',"
	" 'Trade', 'volatility_breakout', '', 0, '2023-03-15 13:40:00+00', 12, now(), '{}'),"
	"('main', 'e-4', 'shared', 'BTCUSDT', 'linear', 'Sell', 0.020, 30000, 0.03, 'USDT',"
	" 'Funding', '', '', 0, '2023-03-15 13:25:00+00', 13, now(), '{}')",
	"INSERT INTO trading.fill_allocations (account, exec_id, bot_id, qty, fee) VALUES"
	" ('main', 'e-4', 'shortseller_001', 0.005, 0.0075),"
	" ('main', 'e-4', 'momentum_001', 0.015, 0.0225)",
	"INSERT INTO trading.trades_pnl (account, bot_id, category, symbol, trade_seq, side,"
	" entry_reason, close_reason, opened_at, closed_at, qty, gross_pnl, fees, funding,"
	" net_pnl, currency) VALUES"
	" ('main', 'shortseller_001', 'linear', 'BTCUSDT', 1, 'Sell', 'entry', 'trailing_stop',"
	" now(), now(), 0.01, 10, 0.325, 0, 9.675, 'USDT'),"
	" ('main', 'shortseller_001', 'linear', 'BTCUSDT', 2, 'Sell', 'entry', 'stop_loss',"
	" now(), now(), 0.01, -5, 0.5, 0, -5.5, 'USDT'),"
	" ('main', 'shortseller_001', 'linear', 'BTCUSDT', 3, 'Sell', 'entry', 'trailing_stop',"
	" now(), now(), 0.01, 4.5, 0.175, 0, 4.325, 'USDT'),"
	" ('main', 'momentum_001', 'linear', 'ETHUSDT', 1, 'Buy', 'volatility_breakout',"
	" 'ma_exit', now(), now(), 1, 20, 0, 0, 20, 'USDT'),"
	" ('main', 'momentum_001', 'linear', 'ETHUSDT', 2, 'Buy', 'volatility_breakout',"
	" 'ma_exit', now(), now(), 1, -3, 0, 0, -3, 'USDT'),"
	" ('main', 'momentum_001', 'linear', 'ETHUSDT', 3, 'Buy', 'volatility_breakout',"
	" 'ma_exit', now(), now(), 1, -1, 0, 0, -1, 'USDT'),"
	" ('main', 'momentum_001', 'inverse', 'BTCUSD', 1, 'Buy', 'volatility_breakout',"
	" 'ma_exit', now(), now(), 100, 0.0001, 0, 0, 0.0001, 'BTC')",
	"INSERT INTO trading.bot_positions (account, bot_id, category, symbol, position_idx,"
	" size, avg_price, realized_pnl, fees, funding, currency, trade_seq, open_seq,"
	" open_side, entry_reason, open_qty, open_gross_pnl, open_fees, open_funding,"
	" last_exec_id, last_exec_time) VALUES"
	" ('main', 'shortseller_001', 'linear', 'BTCUSDT', 0, -0.010, 30000.5, 0, 0, 0, 'USDT',"
	" 4, 4, 'Sell', 'entry', 0.01, 0, 0, 0, 'e-9', now()),"
	" ('main', 'shortseller_001', 'linear', 'ETHUSDT', 0, 0, 0, 0, 0, 0, 'USDT',"
	" 1, 0, '', '', 0, 0, 0, 0, 'e-8', now()),"
	" ('main', 'momentum_001', 'linear', 'ETHUSDT', 0, 1.5, 1650.25, 0, 0, 0, 'USDT',"
	" 4, 4, 'Buy', 'volatility_breakout', 1.5, 0, 0, 0, 'e-3', now()),"
	" ('main', 'momentum_001', 'linear', 'SOLUSDT', 0, 2, 20, 0, 0, 0, 'USDT',"
	" 1, 1, 'Buy', 'entry', 2, 0, 0, 0, 'e-7', now())",
	NULL,
};

static const char *const REDIS_SHORT[] = {
	"SET shortseller_001:position:BTCUSDT 0.01",
	"SET shortseller_001:position:ETHUSDT 0",
	"HSET fillrelay:account:main:position:BTCUSDT size 0.01 side Sell drift 0 seq 11",
	NULL,
};
static const char *const REDIS_MOMENTUM[] = {
	"SET momentum_001:position:ETHUSDT 1.4",
	"HSET fillrelay:account:main:position:ETHUSDT size 1.5 side Buy drift 1 seq 12",
	NULL,
};

/* A fresh schema with the rows above, and the Redis dbs of both bots. */
static void setup(void)
{
	static int migrated_out;
	int saved, fd;

	T_REQUIRE(env_ok());
	setup_cfg(NULL, NULL);
	exec_sql("DROP SCHEMA IF EXISTS trading CASCADE");
	/* migrate prints its versions: keep them out of the test's output */
	fflush(stdout);
	saved = dup(1);
	fd = open("/dev/null", O_WRONLY);
	T_REQUIRE(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	migrated_out = verb_migrate(&C);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	T_REQUIRE(migrated_out == EX_OK);
	for (int i = 0; SQL_ROWS[i]; i++)
		exec_sql(SQL_ROWS[i]);
	redis_cmds(DB_SHORT, REDIS_SHORT);
	redis_cmds(DB_MOMENTUM, REDIS_MOMENTUM);
}

static void read_into(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}


/* Runs verb v: the binary with these options, or verb_query in a child. Its
 * stdout in OUT, stderr in ERR; returns the exit code. */
static int run(enum vq_verb v, const char *bot, int json, int limit)
{
	char out_path[300], err_path[300], cmd[1200], lim[32] = "";
	const char *bin = itpeer_product_bin();
	int st;
	pid_t pid;

	snprintf(out_path, sizeof out_path, "%s/verb.out", t_tmpdir());
	snprintf(err_path, sizeof err_path, "%s/verb.err", t_tmpdir());
	if (bin[0]) {
		if (limit)
			snprintf(lim, sizeof lim, " --limit %d", limit);
		snprintf(cmd, sizeof cmd, "timeout 30 %s %s %s -c %s%s%s%s%s >%s 2>%s",
		         itpeer_exec_wrap(), bin,
		         vq_verb_name(v), CONF_PATH, bot ? " --bot " : "", bot ? bot : "",
		         json ? " --json" : "", lim, out_path, err_path);
		st = system(cmd);
	} else {
		struct vq_opts o = { bot, json, limit };

		fflush(stdout);
		fflush(stderr);
		pid = fork();
		T_REQUIRE(pid >= 0);
		if (pid == 0) {
			int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			dup2(fo, 1);
			dup2(fe, 2);
			st = verb_query(v, &C, &o);
			fflush(stdout);
			fflush(stderr);
			_exit(st);
		}
		T_REQUIRE(waitpid(pid, &st, 0) == pid);
	}
	read_into(out_path, OUT, sizeof OUT);
	read_into(err_path, ERR, sizeof ERR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void show(const char *what, int rc)
{
	printf("    %s: exit %d\n%s", what, rc, OUT);
	if (ERR[0])
		printf("    stderr: %s", ERR);
}

TEST(it_verbs_fills_table_and_json)
{
	int rc;

	setup();
	rc = run(VQ_FILLS, "shortseller_001", 0, 0);
	show("fills --bot shortseller_001", rc);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT,
	         "time                      account  symbol   side    qty    price     fee  fee_ccy"
	         "  reason         close_reason   realized_pnl  exec_type\n"
	         "2023-03-15T13:30:00.456Z  main     BTCUSDT  Buy   0.010  29000.5    0.16  USDT   "
	         "  trailing_stop  trailing_stop            10  Trade\n"
	         "2023-03-15T13:25:00.000Z  main     BTCUSDT  Sell  0.005    30000  0.0075  USDT   "
	         "                                           0  Funding\n"
	         "2023-03-15T13:20:00.123Z  main     BTCUSDT  Sell  0.010  30000.5   0.165  USDT   "
	         "  entry                                    0  Trade\n");
	rc = run(VQ_FILLS, "momentum_001", 1, 1);
	show("fills --bot momentum_001 --json --limit 1", rc);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT, "{\"time\":\"2023-03-15T13:40:00.000Z\",\"account\":\"main\",\"symbol\":"
	              "\"ETHUSDT\",\"side\":\"Buy\",\"qty\":\"1.5\",\"price\":\"1650.25\",\"fee\":null,"
	              "\"fee_ccy\":\"USDT\",\"reason\":\"volatility_breakout\",\"close_reason\":\"\","
	              "\"realized_pnl\":\"0\",\"exec_type\":\"Trade\"}\n");
	rc = run(VQ_FILLS, "unattributed", 1, 0);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT, "");
}

TEST(it_verbs_pnl_by_reason_and_currency)
{
	int rc;

	setup();
	rc = run(VQ_PNL, NULL, 0, 0);
	show("pnl", rc);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT,
	         "bot              close_reason   currency  trades  total_pnl     avg_pnl  wins  win_rate\n"
	         "momentum_001     ma_exit        BTC            1     0.0001      0.0001     1         1\n"
	         "momentum_001     ma_exit        USDT           3         16  5.33333333     1    0.3333\n"
	         "shortseller_001  trailing_stop  USDT           2     14.000           7     2         1\n"
	         "shortseller_001  stop_loss      USDT           1       -5.5        -5.5     0         0\n");
	rc = run(VQ_PNL, "shortseller_001", 1, 0);
	show("pnl --bot shortseller_001 --json", rc);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT, "{\"bot\":\"shortseller_001\",\"close_reason\":\"trailing_stop\",\"currency\":"
	              "\"USDT\",\"trades\":2,\"total_pnl\":\"14.000\",\"avg_pnl\":\"7\",\"wins\":2,"
	              "\"win_rate\":\"1\"}\n"
	              "{\"bot\":\"shortseller_001\",\"close_reason\":\"stop_loss\",\"currency\":"
	              "\"USDT\",\"trades\":1,\"total_pnl\":\"-5.5\",\"avg_pnl\":\"-5.5\",\"wins\":0,"
	              "\"win_rate\":\"0\"}\n");
}

TEST(it_verbs_positions_with_redis_and_drift)
{
	int rc;

	setup();
	rc = run(VQ_POSITIONS, NULL, 1, 0);
	show("positions --json", rc);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT,
	         "{\"account\":\"main\",\"bot\":\"momentum_001\",\"category\":\"linear\",\"symbol\":"
	         "\"ETHUSDT\",\"position_idx\":0,\"size\":\"1.5\",\"redis_key\":"
	         "\"momentum_001:position:ETHUSDT\",\"redis\":\"1.4\",\"exchange\":\"1.5\","
	         "\"exchange_side\":\"Buy\",\"drift\":\"1\",\"status\":\"redis-mismatch,drift\"}\n"
	         "{\"account\":\"main\",\"bot\":\"momentum_001\",\"category\":\"linear\",\"symbol\":"
	         "\"SOLUSDT\",\"position_idx\":0,\"size\":\"2\",\"redis_key\":"
	         "\"momentum_001:position:SOLUSDT\",\"redis\":null,\"exchange\":null,"
	         "\"exchange_side\":null,\"drift\":null,\"status\":\"redis-missing\"}\n"
	         "{\"account\":\"main\",\"bot\":\"shortseller_001\",\"category\":\"linear\",\"symbol\":"
	         "\"BTCUSDT\",\"position_idx\":0,\"size\":\"-0.010\",\"redis_key\":"
	         "\"shortseller_001:position:BTCUSDT\",\"redis\":\"0.01\",\"exchange\":\"0.01\","
	         "\"exchange_side\":\"Sell\",\"drift\":\"0\",\"status\":\"ok\"}\n"
	         "{\"account\":\"main\",\"bot\":\"shortseller_001\",\"category\":\"linear\",\"symbol\":"
	         "\"ETHUSDT\",\"position_idx\":0,\"size\":\"0\",\"redis_key\":"
	         "\"shortseller_001:position:ETHUSDT\",\"redis\":\"0\",\"exchange\":null,"
	         "\"exchange_side\":null,\"drift\":null,\"status\":\"ok\"}\n");
	rc = run(VQ_POSITIONS, "shortseller_001", 0, 0);
	show("positions --bot shortseller_001", rc);
	T_EQ_INT(rc, 0);
	T_EQ_STR(OUT,
	         "account  bot              category  symbol   position_idx    size  redis_key        "
	         "                 redis  exchange  exchange_side  drift  status\n"
	         "main     shortseller_001  linear    BTCUSDT             0  -0.010  shortseller_001:"
	         "position:BTCUSDT   0.01      0.01  Sell           0      ok\n"
	         "main     shortseller_001  linear    ETHUSDT             0       0  shortseller_001:"
	         "position:ETHUSDT      0         -  -              -      ok\n");
}

TEST(it_verbs_errors_and_exit_codes)
{
	int rc;

	T_REQUIRE(env_ok());
	setup_cfg(NULL, NULL);
	rc = run(VQ_PNL, "nobody_001", 0, 0);
	T_EQ_INT(rc, EX_CONFIG);
	T_CHECK(strstr(ERR, "fillrelay pnl: bot 'nobody_001' is not in it_verbs.conf") != NULL ||
	        strstr(ERR, "fillrelay pnl: bot 'nobody_001' is not in ") != NULL);
	rc = run(VQ_FILLS, NULL, 0, 0);
	T_EQ_INT(rc, EX_USAGE);
	T_CHECK(strstr(ERR, "--bot BOT is required") != NULL);
	/* nothing listens on port 1: unavailable, said clearly, no password */
	setup_cfg("1", NULL);
	rc = run(VQ_FILLS, "shortseller_001", 0, 0);
	show("fills, PostgreSQL down", rc);
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(ERR, "fillrelay fills: cannot connect to PostgreSQL") != NULL);
	T_CHECK(strstr(ERR, pgpass) == NULL);
	T_EQ_STR(OUT, "");
	setup();
	setup_cfg(NULL, "1");
	rc = run(VQ_POSITIONS, NULL, 0, 0);
	show("positions, Redis down", rc);
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(ERR, "fillrelay positions: cannot connect to Redis") != NULL);
	T_CHECK(strstr(ERR, rpass) == NULL);
	T_EQ_STR(OUT, "");
	/* no schema: the query fails and says what to do */
	setup_cfg(NULL, NULL);
	exec_sql("DROP SCHEMA IF EXISTS trading CASCADE");
	rc = run(VQ_PNL, NULL, 0, 0);
	T_EQ_INT(rc, EX_SOFTWARE);
	T_CHECK(strstr(ERR, "fillrelay migrate") != NULL);
}
