/*
 * it_verbs.c -- the query verbs (verb_query.h: fills, pnl, positions) against
 * the real PostgreSQL 15 and Redis 7 of tests/services.sh. Rows are inserted
 * with SQL (a shortseller round trip, a shared funding fill split by
 * fill_allocations, momentum trades in USDT and BTC) and Redis keys with SET /
 * HSET, so every expected line below is known in advance. The product flavour
 * runs the real binary; the ASan flavour (no product binary) calls
 * verb_query in a forked child with stdout and stderr sent to files.
 *
 * Then `check --connect` (verb_check.h) against the peer and the real
 * PostgreSQL and Redis: the PostgreSQL and Redis lines for a missing, a
 * current and a future schema, a heartbeat, host names; wrong passwords and a
 * closed port give a clear line and exit 69, and no password is printed.
 * And `spill replay` (verb_spill.h): `run` creates its missing spill_dir
 * (0700), journals fills while PostgreSQL is stopped, refuses a replay beside
 * it (75), stops; the replay then writes every fill once to trading.fills and
 * to an emptied Redis, checkpoints the journal, and a second replay changes
 * nothing; a Redis that never answers ends in 69 after --timeout, a spill_dir
 * that is a file in 78. Same split: the binary, or the verbs in a child.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cfg.h"
#include "itpeer.h"
#include "log.h"
#include "schema.h"
#include "t.h"
#include "verb_check.h"
#include "verb_migrate.h"
#include "verb_query.h"
#include "verb_run.h"
#include "verb_spill.h"

#define DB_SHORT 4
#define DB_MOMENTUM 5

static struct cfg C;
static char CONF_PATH[300];
static struct itenv ENV;
static char OUT[16384], ERR[4096];

static int env_ok(void)
{
	return itenv_read(&ENV);
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
	         DB_SHORT, DB_MOMENTUM, ENV.pghost, pg_port ? pg_port : ENV.pgport, ENV.pgdb,
	         ENV.pguser, ENV.pgpass, ENV.rhost, redis_port ? redis_port : ENV.rport, ENV.rpass);
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

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s", ENV.pghost,
	         ENV.pgport, ENV.pgdb, ENV.pguser, ENV.pgpass);
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
	redisContext *c = redisConnectWithTimeout(ENV.rhost, atoi(ENV.rport), tv);
	redisReply *r;

	T_REQUIRE(c && !c->err);
	r = redisCommand(c, "AUTH %s", ENV.rpass);
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
	T_CHECK(strstr(ERR, ENV.pgpass) == NULL);
	T_EQ_STR(OUT, "");
	setup();
	setup_cfg(NULL, "1");
	rc = run(VQ_POSITIONS, NULL, 0, 0);
	show("positions, Redis down", rc);
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(ERR, "fillrelay positions: cannot connect to Redis") != NULL);
	T_CHECK(strstr(ERR, ENV.rpass) == NULL);
	T_EQ_STR(OUT, "");
	/* no schema: the query fails and says what to do */
	setup_cfg(NULL, NULL);
	exec_sql("DROP SCHEMA IF EXISTS trading CASCADE");
	rc = run(VQ_PNL, NULL, 0, 0);
	T_EQ_INT(rc, EX_SOFTWARE);
	T_CHECK(strstr(ERR, "fillrelay migrate") != NULL);
}

/* ---- check --connect, spill replay, the spill directory ------------------ */

#define VB_KEY "VBKEY00000000001"
#define VB_SECRET "VBSECRET0000000000000001"
#define VB_BAD_REDIS_PW "WrongRedisPw_4711"
#define VB_BAD_PG_PW "WrongPgPw_4711"
#define VB_FILLS "SELECT count(*) FROM trading.fills"
#define VB_DISTINCT "SELECT count(DISTINCT exec_id) FROM trading.fills"

enum vb_verb { VB_CHECK, VB_RUN, VB_REPLAY, VB_STAT };

/* What a configuration of these tests changes; NULL: the test services'. */
struct vb_conf {
	const char *pg_host, *pg_port, *pg_pass, *redis_host, *redis_port, *redis_pass;
	const char *spill_dir;
};

static char VB_SPILL[300], VB_LOG[300], VB_ERR[1 << 16];
static int vb_metrics_port;
static int64_t vb_base_ms; /* fills are an hour old: inside the backfill horizon */

static int64_t vb_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vb_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* The peer, once per binary, with the one account of these tests. */
static void vb_peer(void)
{
	static int up;

	if (!up)
		T_REQUIRE(itpeer_start(VB_KEY ":" VB_SECRET, "") == 0);
	up = 1;
}

/* Writes CONF_PATH (the exchange is the peer, bots bota and botb in the dbs
 * of the query tests) and parses it into C. */
static void vb_write_conf(const struct vb_conf *o)
{
	static char text[4096];
	struct cfg_error ce;
	FILE *f;

	snprintf(text, sizeof text,
	         "[listener]\ninstance = it_verbs_vb\nspill_dir = %s\nspill_limit = 16M\n"
	         "metrics_addr = 127.0.0.1:%d\narena_size = 64M\n"
	         "[exchange]\nws_url = wss://localhost:%d/v5/private\n"
	         "rest_url = https://localhost:%d\nca_file = %s/ca.pem\n"
	         "ping_interval_ms = 1s\nsilence_timeout_ms = 5s\n"
	         "[account main]\napi_key = " VB_KEY "\napi_secret = " VB_SECRET "\n"
	         "[bot bota]\naccount = main\nredis_db = %d\n"
	         "[bot botb]\naccount = main\nredis_db = %d\n"
	         "[postgres]\nconninfo = host=%s port=%s dbname=%s user=%s\npassword = %s\n"
	         "[redis]\nhost = %s\nport = %s\npassword = %s\n",
	         o->spill_dir ? o->spill_dir : VB_SPILL, vb_metrics_port, itpeer.ws_port,
	         itpeer.rest_port, itpeer.dir, DB_SHORT, DB_MOMENTUM,
	         o->pg_host ? o->pg_host : ENV.pghost, o->pg_port ? o->pg_port : ENV.pgport,
	         ENV.pgdb, ENV.pguser,
	         o->pg_pass ? o->pg_pass : ENV.pgpass, o->redis_host ? o->redis_host : ENV.rhost,
	         o->redis_port ? o->redis_port : ENV.rport, o->redis_pass ? o->redis_pass : ENV.rpass);
	T_REQUIRE(cfg_parse(&C, text, strlen(text), "vb.conf", &ce) == 0);
	snprintf(CONF_PATH, sizeof CONF_PATH, "%s/vb.conf", t_tmpdir());
	f = fopen(CONF_PATH, "w");
	T_REQUIRE(f != NULL);
	fputs(text, f);
	T_REQUIRE(fclose(f) == 0);
	chmod(CONF_PATH, 0600);
}

/* The ASan flavour's stand-in for main.c: the verb in this (child) process. */
static int vb_inproc(enum vb_verb v, const char *timeout)
{
	const char *secrets[CFG_SECRETS_MAX];
	int n = cfg_secrets(&C, secrets, CFG_SECRETS_MAX);
	char *replay[1] = {"replay"}, *stat[1] = {"stat"};
	struct verb_spill_replay_opts ro = {NULL, timeout};
	struct verb_spill_opts so = {C.listener.spill_dir, C.listener.spill_limit_bytes, 0};

	log_setup(2, LOG_INFO, NULL, NULL);
	for (int i = 0; i < n && i < CFG_SECRETS_MAX; i++)
		log_secret_add(secrets[i]);
	switch (v) {
	case VB_CHECK:
		return verb_check_connect(&C);
	case VB_RUN:
		return verb_run(&C);
	case VB_REPLAY:
		return verb_spill_replay(1, replay, &C, &ro);
	case VB_STAT:
		return verb_spill(1, stat, &so);
	}
	return EX_SOFTWARE;
}

static void vb_redirect(int fd, const char *path)
{
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (f < 0)
		_exit(70);
	dup2(f, fd);
	close(f);
}

/* Starts verb v (the product binary, else vb_inproc in a child) with its
 * stdout in out and stderr in err. */
static pid_t vb_spawn(enum vb_verb v, const char *timeout, const char *out, const char *err)
{
	const char *bin = itpeer_product_bin(), *wrap = itpeer_exec_wrap(), *a[12];
	int n = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	T_REQUIRE(pid >= 0);
	if (pid > 0)
		return pid;
	vb_redirect(1, out);
	vb_redirect(2, err);
	if (!bin[0])
		_exit(vb_inproc(v, timeout));
	if (*wrap)
		a[n++] = wrap;
	a[n++] = bin;
	a[n++] = v == VB_CHECK ? "check" : v == VB_RUN ? "run" : "spill";
	if (v == VB_CHECK || v == VB_REPLAY || v == VB_STAT)
		a[n++] = v == VB_CHECK ? "--connect" : v == VB_REPLAY ? "replay" : "stat";
	if (timeout) {
		a[n++] = "--timeout";
		a[n++] = timeout;
	}
	a[n++] = "-c";
	a[n++] = CONF_PATH;
	a[n] = NULL;
	execvp(a[0], (char *const *)a);
	_exit(71);
}

/* Its exit status, or -1 (and killed) when it did not end within ms. */
static int vb_wait(pid_t pid, int ms)
{
	int64_t end = vb_ms(CLOCK_MONOTONIC) + ms;
	int st;

	while (vb_ms(CLOCK_MONOTONIC) < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		vb_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Runs verb v to its end: stdout in OUT, stderr in VB_ERR; its exit code. */
static int vb_verb(enum vb_verb v, const char *timeout)
{
	char out[300], err[300];
	int rc;

	snprintf(out, sizeof out, "%s/vb.out", t_tmpdir());
	snprintf(err, sizeof err, "%s/vb.err", t_tmpdir());
	rc = vb_wait(vb_spawn(v, timeout, out, err), 60000);
	read_into(out, OUT, sizeof OUT);
	read_into(err, VB_ERR, sizeof VB_ERR);
	return rc;
}

static void vb_show(const char *what, int rc)
{
	printf("    %s: exit %d\n%s", what, rc, OUT);
}

/* No secret of any configuration used here, right or wrong, in OUT or VB_ERR. */
static int vb_no_secret(void)
{
	const char *s[] = {ENV.pgpass, ENV.rpass, VB_BAD_REDIS_PW, VB_BAD_PG_PW, VB_SECRET, NULL};

	for (int i = 0; s[i]; i++)
		if (strstr(OUT, s[i]) || strstr(VB_ERR, s[i])) {
			printf("    secret %d printed\n", i);
			return 0;
		}
	return 1;
}

static long vb_qnum(const char *sql)
{
	char ci[512];
	PGconn *c;
	PGresult *r;
	long v = -1;

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s", ENV.pghost,
	         ENV.pgport, ENV.pgdb, ENV.pguser, ENV.pgpass);
	c = PQconnectdb(ci);
	r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* ms until sql gives want, -1 when not within ms. */
static int64_t vb_wait_num(const char *sql, long want, int ms)
{
	int64_t t0 = vb_ms(CLOCK_MONOTONIC);

	while (vb_ms(CLOCK_MONOTONIC) - t0 < ms) {
		if (vb_qnum(sql) == want)
			return vb_ms(CLOCK_MONOTONIC) - t0;
		vb_sleep_ms(100);
	}
	return -1;
}

static const char *vb_rget(int db, const char *key)
{
	static char val[2][64];
	static int i;
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(ENV.rhost, atoi(ENV.rport), tv);
	redisReply *r;

	T_REQUIRE(c && !c->err);
	i = !i;
	freeReplyObject(redisCommand(c, "AUTH %s", ENV.rpass));
	freeReplyObject(redisCommand(c, "SELECT %d", db));
	r = redisCommand(c, "GET %s", key);
	snprintf(val[i], sizeof val[i], "%s",
	         r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	redisFree(c);
	return val[i];
}

static int vb_services(const char *what)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "bash tests/services.sh %s %s >/dev/null 2>&1", what,
	         getenv("FR_TEST_SERVICES_DIR"));
	return system(cmd);
}

/* Fill n of bot as a push of the peer; 1 when a subscriber got it. */
static int vb_push(int n, const char *bot, const char *side, const char *qty)
{
	char cmd[2048], out[1024];
	long long t = (long long)(vb_base_ms + n * 1000);

	snprintf(
	    cmd, sizeof cmd,
	    "{\"account\":\"" VB_KEY "\",\"payload\":{\"topic\":\"execution\",\"id\":\"vb%d\","
	    "\"creationTime\":%lld,\"data\":[{\"category\":\"linear\",\"symbol\":\"BTCUSDT\","
	    "\"execId\":\"vb-%04d\",\"orderId\":\"vbo-%04d\",\"orderLinkId\":\"%s:entry:%lld\","
	    "\"side\":\"%s\",\"execQty\":\"%s\",\"execPrice\":\"30000\",\"execFee\":\"0.1\","
	    "\"feeCurrency\":\"USDT\",\"execType\":\"Trade\",\"orderType\":\"Market\","
	    "\"createType\":\"CreateByUser\",\"isMaker\":false,\"execTime\":\"%lld\","
	    "\"seq\":%d}]}}",
	    n, (long long)vb_ms(CLOCK_REALTIME), n, n, bot, t / 1000, side, qty, t, n);
	itpeer_ctl("push", cmd, out, sizeof out);
	return strstr(out, "\"delivered\":1") != NULL;
}

/* `spill stat`'s pending line (records not yet committed), -1 unreadable. */
static long vb_pending(void)
{
	const char *p;

	if (vb_verb(VB_STAT, NULL) != 0 || !(p = strstr(OUT, "\npending ")))
		return -1;
	return atol(p + 9 + strspn(p + 9, " "));
}

static int vb_healthz(void)
{
	char cmd[256], out[64] = "";

	snprintf(cmd, sizeof cmd,
	         "curl -s -m 2 -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/healthz",
	         vb_metrics_port);
	itpeer_sh(cmd, out, sizeof out);
	return atoi(out);
}

static int vb_wait_healthy(int ms)
{
	int64_t end = vb_ms(CLOCK_MONOTONIC) + ms;

	while (vb_ms(CLOCK_MONOTONIC) < end)
		if (vb_healthz() == 200)
			return 1;
		else
			vb_sleep_ms(100);
	return 0;
}

/* The test services, the peer, a fresh spill path, and Redis dbs 4 and 5
 * without heartbeats. */
static void vb_setup(const char *spill_name)
{
	static const char *const none[] = {NULL};

	T_REQUIRE(env_ok());
	vb_peer();
	vb_metrics_port = itpeer_free_port();
	snprintf(VB_SPILL, sizeof VB_SPILL, "%s/%s", t_tmpdir(), spill_name);
	snprintf(VB_LOG, sizeof VB_LOG, "%s/vb-run.log", t_tmpdir());
	redis_cmds(DB_SHORT, none);
	redis_cmds(DB_MOMENTUM, none);
}

static void vb_migrate(void)
{
	int saved = dup(1), fd = open("/dev/null", O_WRONLY), rc;

	fflush(stdout);
	dup2(fd, 1);
	close(fd);
	rc = verb_migrate(&C);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	T_REQUIRE(rc == EX_OK);
}

TEST(it_verbs_check_connect_reports_postgres_and_redis)
{
	static const char *const beat[] = {"SET fillrelay:heartbeat:elsewhere 1 PX 60000", NULL};
	const struct vb_conf names = {.pg_host = "localhost", .redis_host = "localhost"};
	char want[160];
	int rc;

	vb_setup("vb-check-spill");
	vb_write_conf(&names); /* host names, looked up: not only literals */
	exec_sql("DROP SCHEMA IF EXISTS trading CASCADE");
	rc = vb_verb(VB_CHECK, NULL);
	vb_show("check --connect, no schema", rc);
	T_EQ_INT(rc, 0);
	T_CHECK(strstr(OUT, "account main: rest ok (key works, ") != NULL);
	T_CHECK(strstr(OUT, "\npostgres: ok (PostgreSQL 15.") != NULL);
	T_CHECK(strstr(OUT, ", no trading schema yet: `fillrelay migrate` or `fillrelay run` "
	                    "creates it)\n") != NULL);
	T_CHECK(strstr(OUT, "\nredis: ok (Redis 7.") != NULL);
	snprintf(want, sizeof want,
	         " at localhost:%s (127.0.0.1), password accepted, dbs 4,5 "
	         "selected, no fillrelay heartbeat)\n",
	         ENV.rport);
	T_CHECK(strstr(OUT, want) != NULL);
	T_CHECK(vb_no_secret());

	/* migrated, and another listener's heartbeat in db 5: still ok */
	vb_migrate();
	redis_cmds(DB_MOMENTUM, beat);
	rc = vb_verb(VB_CHECK, NULL);
	vb_show("check --connect, migrated, a heartbeat", rc);
	T_EQ_INT(rc, 0);
	snprintf(want, sizeof want, ", schema version %d (current))\n", SCHEMA_VERSION);
	T_CHECK(strstr(OUT, want) != NULL);
	T_CHECK(strstr(OUT, "heartbeat fillrelay:heartbeat:elsewhere in db 5: a fillrelay is "
	                    "running there)\n") != NULL);

	/* a schema newer than this build: run would refuse it, so check fails */
	exec_sql("INSERT INTO trading.schema_version (version, name) VALUES (999, 'future')");
	rc = vb_verb(VB_CHECK, NULL);
	vb_show("check --connect, schema from the future", rc);
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(OUT, "\npostgres: FAILED (PostgreSQL 15.") != NULL);
	snprintf(want, sizeof want, ", schema version 999 newer than this fillrelay knows (%d)",
	         SCHEMA_VERSION);
	T_CHECK(strstr(OUT, want) != NULL);
	T_CHECK(strstr(OUT, "\nredis: ok (") != NULL);
	exec_sql("DELETE FROM trading.schema_version WHERE version = 999");
}

TEST(it_verbs_check_connect_refusals_are_clear_and_secret_free)
{
	const struct vb_conf bad_pw = {.pg_pass = VB_BAD_PG_PW, .redis_pass = VB_BAD_REDIS_PW};
	const struct vb_conf closed = {.pg_port = "1"};
	int rc;

	vb_setup("vb-check-spill");
	vb_write_conf(&bad_pw);
	rc = vb_verb(VB_CHECK, NULL);
	vb_show("check --connect, wrong passwords", rc);
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(OUT, "account main: rest ok (") != NULL);
	T_CHECK(strstr(OUT, "\npostgres: FAILED (") != NULL);
	T_CHECK(strstr(OUT, "password authentication failed for user \"") != NULL);
	T_CHECK(strstr(OUT, "\nredis: FAILED (Redis refused the password (WRONGPASS)") != NULL);
	T_CHECK(vb_no_secret());

	vb_write_conf(&closed); /* nothing listens on port 1 */
	rc = vb_verb(VB_CHECK, NULL);
	vb_show("check --connect, PostgreSQL port closed", rc);
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(OUT, "\npostgres: FAILED (") != NULL && strstr(OUT, "Connection refused"));
	T_CHECK(strstr(OUT, "\nredis: ok (") != NULL);
	T_CHECK(vb_no_secret());
}

/* `run` with its spill directory missing: made (0700), and fills flow. */
static pid_t vb_start_run(void)
{
	pid_t run = vb_spawn(VB_RUN, NULL, VB_LOG, VB_LOG);
	struct stat st;

	/* the child's own dup2 of one path twice: one file, stdout and stderr */
	T_CHECK(vb_wait_healthy(20000));
	T_CHECK(stat(VB_SPILL, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	T_CHECK(itpeer_file_has(VB_LOG, "msg=\"created the spill directory\""));
	T_CHECK(vb_push(1, "bota", "Buy", "1"));
	T_CHECK(vb_wait_num(VB_FILLS, 1, 10000) >= 0);
	return run;
}

/* PostgreSQL stops; fills arrive (one of them a repeat); the journal keeps
 * them; `run` stops. Returns the journal's pending records. */
static long vb_outage(pid_t run)
{
	static const char *const empty[] = {NULL};
	long pending = -1;
	int rc;

	T_REQUIRE(vb_services("stop-pg") == 0);
	T_CHECK(vb_push(2, "bota", "Buy", "2"));
	T_CHECK(vb_push(3, "botb", "Buy", "1"));
	T_CHECK(vb_push(4, "bota", "Sell", "1"));
	T_CHECK(vb_push(5, "botb", "Buy", "3"));
	T_CHECK(vb_push(6, "bota", "Buy", "0.5"));
	T_CHECK(vb_push(1, "bota", "Buy", "1")); /* already in PostgreSQL */
	for (int i = 0; i < 50 && pending < 6; i++, vb_sleep_ms(100))
		pending = vb_pending();
	T_CHECK(pending >= 6);

	/* the journal is run's while it runs */
	rc = vb_verb(VB_REPLAY, NULL);
	vb_show("spill replay beside run", rc);
	T_EQ_INT(rc, EX_TEMPFAIL);
	T_CHECK(strstr(VB_ERR, "locked by another process") != NULL);

	kill(run, SIGTERM);
	T_EQ_INT(vb_wait(run, 10000), 0);
	pending = vb_pending();
	printf("    run stopped with %ld journal records pending\n", pending);
	printf("    Redis before the replay: bota %s, botb %s (emptied now)\n",
	       vb_rget(DB_SHORT, "bota:position:BTCUSDT"),
	       vb_rget(DB_MOMENTUM, "botb:position:BTCUSDT"));
	/* as after a Redis restart without persistence: the replay must write it */
	redis_cmds(DB_SHORT, empty);
	redis_cmds(DB_MOMENTUM, empty);
	return pending;
}

/* The replay line's "N published (M more published before)": N + M. */
static long vb_published(void)
{
	const char *p = strstr(OUT, " published");
	const char *q = strstr(OUT, " more published before)");
	long n = -1;

	while (p && p > OUT && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p)
		n = atol(p);
	if (q && p && q > p)
		n += atol(strstr(p, "(") + 1);
	return n;
}

TEST(it_verbs_spill_replay_drains_the_journal_exactly_once)
{
	const struct vb_conf dflt = {0};
	char want[200];
	long pending;
	int64_t t0;
	int rc;

	vb_setup("vb-spill/made/by-run"); /* does not exist */
	vb_base_ms = vb_ms(CLOCK_REALTIME) - 3600 * 1000LL;
	exec_sql("DROP SCHEMA IF EXISTS trading CASCADE");
	vb_write_conf(&dflt);
	pending = vb_outage(vb_start_run());
	T_CHECK(pending >= 6);
	T_REQUIRE(vb_services("start-pg") == 0);

	t0 = vb_ms(CLOCK_MONOTONIC);
	rc = vb_verb(VB_REPLAY, NULL);
	vb_show("spill replay", rc);
	printf("    (%lld ms)\n", (long long)(vb_ms(CLOCK_MONOTONIC) - t0));
	T_EQ_INT(rc, 0);
	snprintf(want, sizeof want,
	         "spill replay: %ld records replayed, 5 fills written (new), "
	         "1 duplicate, ",
	         pending);
	T_CHECK(strstr(OUT, want) == OUT);
	/* each new fill published once, by run (before the outage ended it) or here */
	T_EQ_INT(vb_published(), 5);
	T_EQ_INT(vb_qnum(VB_FILLS), 6);
	T_EQ_INT(vb_qnum(VB_DISTINCT), 6);
	T_EQ_STR(vb_rget(DB_SHORT, "bota:position:BTCUSDT"), "2.5");
	T_EQ_STR(vb_rget(DB_MOMENTUM, "botb:position:BTCUSDT"), "4");
	T_EQ_INT(vb_pending(), 0);

	/* again: nothing left, nothing changes */
	rc = vb_verb(VB_REPLAY, NULL);
	vb_show("spill replay again", rc);
	T_EQ_INT(rc, 0);
	T_CHECK(strstr(OUT, "spill replay: nothing to replay (checkpoint ") == OUT);
	T_EQ_INT(vb_qnum(VB_FILLS), 6);
	T_EQ_STR(vb_rget(DB_SHORT, "bota:position:BTCUSDT"), "2.5");
	T_EQ_STR(vb_rget(DB_MOMENTUM, "botb:position:BTCUSDT"), "4");
	T_CHECK(vb_no_secret());
}

TEST(it_verbs_spill_replay_gives_up_and_refuses_clearly)
{
	const struct vb_conf no_redis = {.redis_port = "1"};
	struct vb_conf file_dir = {0};
	char path[320];
	int64_t t0;
	int rc;

	vb_setup("vb-replay-timeout");
	vb_write_conf(&no_redis);
	t0 = vb_ms(CLOCK_MONOTONIC);
	rc = vb_verb(VB_REPLAY, "1");
	printf("    replay, Redis closed, --timeout 1: exit %d after %lld ms\n", rc,
	       (long long)(vb_ms(CLOCK_MONOTONIC) - t0));
	T_EQ_INT(rc, EX_UNAVAILABLE);
	T_CHECK(strstr(VB_ERR, "fillrelay spill replay: Redis unreachable for 1 s: ") != NULL);
	T_CHECK(vb_ms(CLOCK_MONOTONIC) - t0 < 10000);

	snprintf(path, sizeof path, "%s/vb-a-file", t_tmpdir());
	T_REQUIRE(close(open(path, O_WRONLY | O_CREAT, 0600)) == 0);
	file_dir.spill_dir = path;
	vb_write_conf(&file_dir);
	rc = vb_verb(VB_REPLAY, NULL);
	T_EQ_INT(rc, EX_CONFIG);
	T_CHECK(strstr(VB_ERR, "msg=\"spill_dir is not a directory\"") != NULL);
	T_CHECK(vb_no_secret());
}
