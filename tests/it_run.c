/*
 * it_run.c -- `fillrelay run` end to end: the local Bybit peer (itpeer.h) and
 * the PostgreSQL and Redis of tests/services.sh.
 *
 * The product flavour runs the real binary (next to FR_OBJ_DIR); the ASan
 * flavour has no binary, so it forks and calls verb_run in the child (same
 * config file, same scenario, ASan watching).
 *
 *   it_run_end_to_end:
 *     (5) a fill loaded in the peer's REST before the first start is
 *         backfilled (first start: within the horizon);
 *     (1) /healthz 200 within a few s, "subscription successful" logged;
 *         pushes for two bots -> rows in trading.fills and Redis keys;
 *         /metrics has the fills counters; `fillrelay health` exits 0;
 *     (3) kill -9 during a stream of fills (all also in the peer's REST),
 *         restart -> every fill exactly once, Redis positions right;
 *     (4) stream dropped and kept down a moment while fills are made (REST
 *         only), one older than fills already applied -> after the
 *         reconnect the backfill brings them, exactly once;
 *     (6) the stream drops after a fill made at the exchange (REST only);
 *         the peer pushes a newer fill the moment the new connection
 *         subscribes -> the REST one is applied first (the session is gated:
 *         the backfill runs before the subscribe), no fill is late;
 *     (2) SIGTERM -> exit 0 within 5 s, the peer saw close code 1000.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cfg.h"
#include "itpeer.h"
#include "log.h"
#include "t.h"
#include "verb_run.h"

#define RK "RUNKEY0000000001"
#define RS "RUNSECRET00000000000001"

static struct itenv E;
static char conf_path[300], log_path[300], bin_path[300];
static int metrics_port;
static int use_bin;
static pid_t child = -1;
static int64_t base_ms; /* wall ms at the test's start: fills are recent */
static struct cfg run_c;

static int env_ok(void)
{
	if (!itenv_read(&E)) {
		printf("    it_run: FR_TEST_* unset; run under tests/services.sh run DIR --\n");
		return 0;
	}
	return 1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- PostgreSQL and Redis, blocking ----------------------------------------- */

static PGconn *db(void)
{
	char ci[512];
	PGconn *c;

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s", E.pghost,
	         E.pgport, E.pgdb, E.pguser, E.pgpass);
	c = PQconnectdb(ci);
	T_REQUIRE(PQstatus(c) == CONNECTION_OK);
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

static long qnum(const char *sql)
{
	return itenv_pg_num(&E, sql);
}

static redisContext *rc_connect(void)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(E.rhost, atoi(E.rport), tv);
	redisReply *r;

	T_REQUIRE(c && !c->err);
	r = redisCommand(c, "AUTH %s", E.rpass);
	T_REQUIRE(r && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	return c;
}

static const char *rget(int dbn, const char *key)
{
	static char out[4][128];
	static int i;
	redisContext *c = rc_connect();
	redisReply *r;

	i = (i + 1) % 4;
	freeReplyObject(redisCommand(c, "SELECT %d", dbn));
	r = redisCommand(c, "GET %s", key);
	snprintf(out[i], sizeof out[i], "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
	redisFree(c);
	return out[i];
}

static void fresh_stores(void)
{
	PGconn *c = db();
	redisContext *r = rc_connect();

	PQclear(PQexec(c, "DROP SCHEMA IF EXISTS trading CASCADE"));
	PQfinish(c);
	freeReplyObject(redisCommand(r, "FLUSHALL"));
	redisFree(r);
}

/* ---- fills ------------------------------------------------------------------ */

/* Fill n of bot, side, qty at base_ms + t_off_ms, as one REST/push list item. */
static const char *item(int n, const char *bot, const char *side, const char *qty, int64_t t_off)
{
	static char out[4][1024];
	static int i;
	long long t = (long long)(base_ms + t_off);

	i = (i + 1) % 4;
	snprintf(out[i], sizeof out[i],
	         "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"execId\":\"run-%04d\","
	         "\"orderId\":\"o-%04d\",\"orderLinkId\":\"%s:entry:%lld\",\"side\":\"%s\","
	         "\"execQty\":\"%s\",\"execPrice\":\"30000\",\"execFee\":\"0.1\","
	         "\"feeCurrency\":\"USDT\",\"execType\":\"Trade\",\"orderType\":\"Market\","
	         "\"createType\":\"CreateByUser\",\"isMaker\":false,\"execTime\":\"%lld\","
	         "\"seq\":%d}",
	         n, n, bot, t / 1000, side, qty, t, n);
	return out[i];
}

static void load(const char *items)
{
	static char cmd[1 << 16], out[4096];

	snprintf(cmd, sizeof cmd,
	         "{\"account\":\"" RK "\",\"kind\":\"execution\",\"category\":\"linear\","
	         "\"items\":[%s]}",
	         items);
	itpeer_ctl("load", cmd, out, sizeof out);
	T_CHECK(strstr(out, "\"ok\":true") != NULL);
}

static int push(int n, const char *it)
{
	char cmd[2048], out[1024];

	snprintf(cmd, sizeof cmd,
	         "{\"account\":\"" RK "\",\"payload\":{\"topic\":\"execution\",\"id\":\"p%d\","
	         "\"creationTime\":%lld,\"data\":[%s]}}",
	         n, (long long)wall_ms(), it);
	itpeer_ctl("push", cmd, out, sizeof out);
	return strstr(out, "\"delivered\":1") != NULL;
}

/* ---- the process -------------------------------------------------------------- */

static void write_conf(void)
{
	char spill[300];
	FILE *f;

	snprintf(spill, sizeof spill, "%s/run-spill", t_tmpdir());
	mkdir(spill, 0700);
	snprintf(conf_path, sizeof conf_path, "%s/run.conf", t_tmpdir());
	f = fopen(conf_path, "w");
	T_REQUIRE(f != NULL);
	fprintf(f,
	        "[listener]\ninstance = it_run\nspill_dir = %s\nspill_limit = 16M\n"
	        "metrics_addr = 127.0.0.1:%d\narena_size = 64M\n\n"
	        "[exchange]\nws_url = wss://localhost:%d/v5/private\n"
	        "rest_url = https://localhost:%d\nca_file = %s/ca.pem\n"
	        "ping_interval_ms = 1s\nsilence_timeout_ms = 5s\n\n"
	        "[account acc]\napi_key = %s\napi_secret = %s\n\n"
	        "[bot bota]\naccount = acc\nredis_db = 0\n\n"
	        "[bot botb]\naccount = acc\nredis_db = 1\n\n"
	        "[postgres]\nconninfo = hostaddr=%s port=%s dbname=%s user=%s\n"
	        "password = env:FR_TEST_PGPASSWORD\n\n"
	        "[redis]\nhost = %s\nport = %s\npassword = env:FR_TEST_REDIS_PASSWORD\n",
	        spill, metrics_port, itpeer.ws_port, itpeer.rest_port, itpeer.dir, RK, RS, E.pghost,
	        E.pgport, E.pgdb, E.pguser, E.rhost, E.rport);
	T_REQUIRE(fclose(f) == 0);
	chmod(conf_path, 0600);
}

/* The child of the ASan flavour: verb_run in-process (no exec). */
static void child_in_process(void)
{
	struct cfg_error e;
	const char *secrets[CFG_SECRETS_MAX];
	int n;

	log_setup(2, LOG_INFO, NULL, NULL);
	if (cfg_load(&run_c, conf_path, &e) != 0) {
		fprintf(stderr, "cfg: %s:%d: %s\n", e.file, e.line, e.msg);
		_exit(78);
	}
	n = cfg_secrets(&run_c, secrets, CFG_SECRETS_MAX);
	for (int i = 0; i < n && i < CFG_SECRETS_MAX; i++)
		log_secret_add(secrets[i]);
	_exit(verb_run(&run_c));
}

static void start_run(void)
{
	int fd;

	fflush(stdout);
	child = fork();
	T_REQUIRE(child >= 0);
	if (child == 0) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0)
			_exit(70);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		if (use_bin) {
			const char *wrap = itpeer_exec_wrap();

			if (*wrap)
				execlp(wrap, wrap, bin_path, "run", "-c", conf_path, (char *)NULL);
			else
				execl(bin_path, "fillrelay", "run", "-c", conf_path, (char *)NULL);
			_exit(71);
		}
		child_in_process();
	}
}

/* Waits for the child: its exit status, -1 when it did not end in ms. */
static int wait_child(int ms)
{
	int64_t end = mono_ms() + ms;
	int st;

	while (mono_ms() < end) {
		pid_t p = waitpid(child, &st, WNOHANG);

		if (p == child) {
			child = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(20000);
	}
	return -1;
}

static int http_code(const char *path)
{
	char cmd[256], out[64] = "";

	snprintf(cmd, sizeof cmd,
	         "curl -s -m 2 -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d%s", metrics_port,
	         path);
	itpeer_sh(cmd, out, sizeof out);
	return atoi(out);
}

/* ms until /healthz says 200, -1 when not within ms. */
static int64_t wait_healthy(int ms)
{
	int64_t t0 = mono_ms();

	while (mono_ms() - t0 < ms) {
		if (http_code("/healthz") == 200)
			return mono_ms() - t0;
		usleep(100000);
	}
	return -1;
}

/* ms until sql gives want, -1 when not within ms. */
static int64_t wait_num(const char *sql, long want, int ms)
{
	int64_t t0 = mono_ms();
	long v = -1;

	while (mono_ms() - t0 < ms) {
		v = qnum(sql);
		if (v == want)
			return mono_ms() - t0;
		usleep(100000);
	}
	printf("    %s: %ld, want %ld\n", sql, v, want);
	return -1;
}

static void kill_child(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		wait_child(5000);
	}
}

#define COUNT "SELECT count(*) FROM trading.fills"
#define DISTINCT "SELECT count(DISTINCT exec_id) FROM trading.fills"

/* ---- the scenario ------------------------------------------------------------- */

static void setup(void)
{
	T_REQUIRE(env_ok());
	T_REQUIRE(itpeer_start(RK ":" RS, "") == 0);
	fresh_stores();
	metrics_port = itpeer_free_port();
	base_ms = wall_ms() - 3600 * 1000LL; /* an hour ago */
	snprintf(log_path, sizeof log_path, "%s/run.log", t_tmpdir());
	snprintf(bin_path, sizeof bin_path, "%s", itpeer_product_bin());
	use_bin = bin_path[0] != '\0';
	printf("    running %s\n", use_bin ? bin_path : "verb_run in a forked child");
	write_conf();
}

/* (5) and (1): a REST fill before the first start, then pushes for two bots. */
static void first_start(void)
{
	char cmd[512], out[1 << 14];
	int64_t ms;

	load(item(1, "bota", "Buy", "1", 0)); /* an hour ago: inside the 7 d horizon */
	start_run();
	ms = wait_healthy(15000);
	printf("    /healthz 200 after %lld ms\n", (long long)ms);
	T_CHECK(ms >= 0);
	T_CHECK(itpeer_file_has(log_path, "subscription successful"));
	T_CHECK(itpeer_file_has(log_path, "msg=\"fillrelay started\" instance=it_run"));
	ms = wait_num(COUNT, 1, 10000);
	printf("    first-start backfill: REST fill stored after %lld ms\n", (long long)ms);
	T_CHECK(ms >= 0);

	T_CHECK(push(2, item(2, "bota", "Buy", "2", 60000)));
	T_CHECK(push(3, item(3, "botb", "Buy", "1", 61000)));
	ms = wait_num(COUNT, 3, 10000);
	printf("    two pushed fills stored after %lld ms\n", (long long)ms);
	T_CHECK(ms >= 0);
	usleep(300000);
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "3");
	T_EQ_STR(rget(1, "botb:position:BTCUSDT"), "1");

	snprintf(cmd, sizeof cmd, "curl -s -m 2 http://127.0.0.1:%d/metrics", metrics_port);
	itpeer_sh(cmd, out, sizeof out);
	T_CHECK(strstr(out, "fillrelay_fills_written_total 3\n") != NULL);
	T_CHECK(strstr(out, "fillrelay_fills_received_total ") != NULL);
	T_CHECK(strstr(out, "fillrelay_stream_live{account=\"acc\"} 1\n") != NULL);
	T_CHECK(strstr(out, "fillrelay_spill_depth ") != NULL);
	if (use_bin) {
		snprintf(cmd, sizeof cmd, "%s %s health 127.0.0.1:%d >/dev/null 2>&1",
		         itpeer_exec_wrap(), bin_path, metrics_port);
		T_EQ_INT(itpeer_sh(cmd, NULL, 0), 0);
	} else {
		printf("    (health verb: no product binary in this flavour, /healthz checked)\n");
	}
}

/* (3): kill -9 during a stream of fills that the exchange also lists. */
static void crash_restart(void)
{
	static char items[1 << 15];
	char cmd[2048];
	size_t n = 0;
	int64_t ms;

	for (int i = 10; i < 50; i++) { /* loaded 10 at a time: itpeer_ctl's 8 KiB command */
		n += (size_t)snprintf(items + n, sizeof items - n, "%s%s", n ? "," : "",
		                      item(i, i % 2 ? "botb" : "bota", "Buy", "1", 120000 + i * 100));
		if (i % 10 == 9) {
			load(items);
			n = 0;
		}
	}
	/* The pushes go out from a shell in the background while we kill. */
	snprintf(cmd, sizeof cmd,
	         "( for i in $(seq 10 49); do b=bota; [ $((i %% 2)) = 1 ] && b=botb; "
	         "curl -s -m 2 -d \"{\\\"account\\\":\\\"%s\\\",\\\"payload\\\":{\\\"topic\\\":"
	         "\\\"execution\\\",\\\"data\\\":[{\\\"category\\\":\\\"linear\\\",\\\"symbol\\\":"
	         "\\\"BTCUSDT\\\",\\\"execId\\\":\\\"run-00$i\\\",\\\"orderId\\\":\\\"o-00$i\\\","
	         "\\\"orderLinkId\\\":\\\"$b:entry:1\\\",\\\"side\\\":\\\"Buy\\\",\\\"execQty\\\":"
	         "\\\"1\\\",\\\"execPrice\\\":\\\"30000\\\",\\\"execFee\\\":\\\"0.1\\\","
	         "\\\"feeCurrency\\\":\\\"USDT\\\",\\\"execType\\\":\\\"Trade\\\",\\\"orderType\\\":"
	         "\\\"Market\\\",\\\"execTime\\\":\\\"$((%lld + i * 100))\\\",\\\"seq\\\":$i}]}}\" "
	         "http://127.0.0.1:%d/push >/dev/null; sleep 0.02; done ) >/dev/null 2>&1 &",
	         RK, (long long)(base_ms + 120000), itpeer.ctl_port);
	itpeer_sh(cmd, NULL, 0);
	usleep(400000);
	kill_child();
	printf("    killed -9 with %ld fills stored\n", qnum(COUNT));
	usleep(1500000); /* the rest of the pushes find no subscriber */
	start_run();
	ms = wait_num(COUNT, 43, 20000);
	printf("    after the restart all 43 fills stored in %lld ms\n", (long long)ms);
	T_CHECK(ms >= 0);
	T_EQ_INT(qnum(DISTINCT), 43);
	usleep(500000);
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "23");
	T_EQ_STR(rget(1, "botb:position:BTCUSDT"), "21");
}

/* (4): the stream drops and stays down while fills are made. */
static void gap_backfill(void)
{
	char out[4096];
	int64_t ms;
	char items[3000];
	long newest = qnum("SELECT (extract(epoch FROM max(exec_time))*1000)::bigint "
	                   "FROM trading.fills");

	itpeer_ctl("misbehave",
	           "{\"account\":\"" RK "\",\"sticky\":true,\"when\":\"connect\",\"action\":"
	           "\"drop\",\"count_conns\":2}",
	           out, sizeof out);
	itpeer_ctl("misbehave", "{\"account\":\"" RK "\",\"action\":\"drop\"}", out, sizeof out);
	/* one older than fills already applied (within the margin), one new */
	snprintf(items, sizeof items, "%s,%s",
	         item(60, "bota", "Buy", "1", newest - base_ms - 60000),
	         item(61, "botb", "Buy", "1", wall_ms() - base_ms - 1000));
	load(items);
	ms = wait_num(COUNT, 45, 30000);
	printf("    fills of the gap backfilled %lld ms after the drop\n", (long long)ms);
	T_CHECK(ms >= 0);
	T_EQ_INT(qnum(DISTINCT), 45);
	T_EQ_INT(qnum("SELECT count(*) FROM trading.fills WHERE exec_id IN ('run-0060','run-0061')"),
	         2);
}

/* A counter's value from /metrics (the line "name value"), -1 when absent. */
static long metric(const char *name)
{
	static char out[1 << 16];
	char cmd[256], pat[160];
	const char *p;

	snprintf(cmd, sizeof cmd, "curl -s -m 2 http://127.0.0.1:%d/metrics", metrics_port);
	itpeer_sh(cmd, out, sizeof out);
	snprintf(pat, sizeof pat, "\n%s ", name);
	p = strstr(out, pat);
	return p ? atol(p + strlen(pat)) : -1;
}

/* (6): live fills wait for the backfill of the gap. */
static void gap_in_order(void)
{
	static char frame[4096], hex[8192], cmd[9000], out[1 << 15];
	char it[1024];
	long late0 = metric("fillrelay_fills_late_total");
	long seq0, count0 = qnum(COUNT);
	int64_t ms, t = wall_ms() - base_ms;
	size_t n, fl;
	const char *rest, *sub;

	T_CHECK(late0 >= 0);
	itpeer_ctl("events", "{\"type\":\"none\",\"limit\":1}", out, sizeof out);
	seq0 = atol(strstr(out, "\"last_event_seq\":") + 17);
	/* the newer fill, as the server's WebSocket frame (FIN, text, unmasked) */
	snprintf(it, sizeof it, "%s", item(71, "bota", "Buy", "2", t));
	n = (size_t)snprintf(frame + 4, sizeof frame - 4,
	                     "{\"topic\":\"execution\",\"id\":\"p71\",\"creationTime\":%lld,"
	                     "\"data\":[%s]}",
	                     (long long)wall_ms(), it);
	T_REQUIRE(n > 125 && n < 65536);
	frame[0] = (char)0x81;
	frame[1] = 126;
	frame[2] = (char)(n >> 8);
	frame[3] = (char)(n & 0xff);
	fl = n + 4;
	for (size_t i = 0; i < fl; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)frame[i]);
	snprintf(cmd, sizeof cmd,
	         "{\"account\":\"" RK "\",\"sticky\":true,\"when\":\"subscribe\",\"action\":"
	         "\"raw\",\"hex\":\"%s\",\"count_conns\":1}",
	         hex);
	itpeer_ctl("misbehave", cmd, out, sizeof out);
	T_CHECK(strstr(out, "\"sticky\"") != NULL);
	load(item(70, "bota", "Buy", "1", t - 1000)); /* older, at the exchange only */
	/* a slow REST answer: without the gate the push would be applied first */
	itpeer_ctl("rest",
	           "{\"mode\":\"delay\",\"path\":\"/v5/execution/list\",\"delay_ms\":500,"
	           "\"count\":1}",
	           out, sizeof out);
	itpeer_ctl("misbehave", "{\"account\":\"" RK "\",\"action\":\"drop\"}", out, sizeof out);
	ms = wait_num(COUNT, count0 + 2, 30000);
	printf("    REST fill and the push after the subscribe stored %lld ms after the drop\n",
	       (long long)ms);
	T_CHECK(ms >= 0);
	usleep(300000);
	T_EQ_INT(metric("fillrelay_fills_late_total"), late0);
	T_EQ_STR(rget(0, "bota:position:BTCUSDT"), "27"); /* 23 + 1 (gap) + 1 (6) + 2 */
	snprintf(cmd, sizeof cmd, "{\"type\":\"rest,subscribe\",\"since\":%ld}", seq0);
	itpeer_ctl("events", cmd, out, sizeof out);
	rest = strstr(out, "/v5/execution/list");
	sub = strstr(out, "\"type\":\"subscribe\"");
	T_CHECK(rest != NULL && sub != NULL && rest < sub);
}

/* (2): SIGTERM, orderly. */
static void sigterm_stop(void)
{
	char out[1 << 15];
	int64_t t0 = mono_ms();
	int rc;

	T_CHECK(wait_healthy(15000) >= 0);
	kill(child, SIGTERM);
	rc = wait_child(5000);
	printf("    SIGTERM -> exit %d after %lld ms\n", rc, (long long)(mono_ms() - t0));
	T_EQ_INT(rc, 0);
	T_CHECK(itpeer_file_has(log_path, "msg=\"fillrelay stopped\" instance=it_run exit=0"));
	usleep(300000);
	itpeer_ctl("events", "{\"type\":\"disconnect\",\"since\":0,\"limit\":1000}", out,
	           sizeof out);
	T_CHECK(strstr(out, "\"code\":1000") != NULL);
}

TEST(it_run_end_to_end)
{
	int64_t t0 = mono_ms();

	setup();
	first_start();
	crash_restart();
	gap_backfill();
	gap_in_order();
	sigterm_stop();
	kill_child();
	itpeer_stop();
	if (getenv("FR_IT_RUN_KEEP_LOG")) {
		char cmd[700];

		snprintf(cmd, sizeof cmd, "cp %s %s", log_path, getenv("FR_IT_RUN_KEEP_LOG"));
		itpeer_sh(cmd, NULL, 0);
	}
	printf("    it_run: %lld ms in all\n", (long long)(mono_ms() - t0));
}
