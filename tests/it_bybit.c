/*
 * it_bybit.c -- a session against the local Bybit peer (tests/peer/): reach
 * LIVE, pings at 1 s, a pushed execution byte-exact, drop -> reconnect and
 * resubscribe, stall -> watchdog reconnect (3 s), a refused auth -> backoff
 * with its ret_msg logged. One test, about 20-30 s.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bybit.h"
#include "log.h"
#include "itpeer.h"
#include "t.h"

static struct loop it_loop;
static struct resolv it_resolv;
static struct pem_ta_store it_anchors;
static struct cfg_account it_acct;
static struct bybit_session it_sess;

/* what on_push saw */
static char it_push[1 << 16];
static size_t it_push_len;
static int it_pushes;

static int it_on_push(void *ctx, const char *account, const char *msg, size_t len)
{
	(void)ctx;
	it_pushes++;
	if (strcmp(account, "main") == 0 && len < sizeof it_push) {
		memcpy(it_push, msg, len);
		it_push_len = len;
	}
	return 0;
}

static int it_run_until(const uint64_t *v, uint64_t want, int timeout_ms)
{
	return itpeer_run_until(&it_loop, v, want, timeout_ms);
}

static long it_counter(const char *name)
{
	return itpeer_counter(name, "KEY1");
}

TEST(it_bybit_against_peer)
{
	char path[600], logpath[600], out[4096];
	int logfd;

	signal(SIGPIPE, SIG_IGN);
	T_REQUIRE(itpeer_start("KEY1:SECRET1", "") == 0);
	snprintf(logpath, sizeof logpath, "%s/bybit.log", itpeer.dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	T_REQUIRE(logfd >= 0);
	log_setup(logfd, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);

	loop_init(&it_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&it_resolv, &it_loop, NULL, NULL) == 0);
	pem_ta_init(&it_anchors);
	snprintf(path, sizeof path, "%s/ca.pem", itpeer.dir);
	T_REQUIRE(pem_ta_load_file(&it_anchors, path) >= 1);
	itpeer_account(&it_acct, "main", "KEY1", "SECRET1");
	T_REQUIRE(bybit_init(&it_sess, &it_loop, &it_resolv, &it_anchors, &it_acct, 1000, 3000,
	                     NULL, it_on_push, NULL) == 0);
	bybit_backoff_init(&it_sess.backoff, 12345);
	T_REQUIRE(bybit_start(&it_sess) == 0);

	/* LIVE, and the peer agrees: auth ok, the four topics subscribed */
	T_CHECK(it_run_until(&it_sess.st.lives, 1, 10000));
	T_EQ_INT(it_sess.st.state, BYBIT_LIVE);
	T_EQ_INT(it_counter("auth_ok"), 1);
	T_EQ_INT(it_counter("subscribed_open"), 1);
	itpeer_ctl("events", "{\"type\":\"subscribe\",\"account\":\"KEY1\",\"since\":0}", out,
	       sizeof out);
	T_CHECK(strstr(out, "execution") && strstr(out, "order") && strstr(out, "position") &&
	        strstr(out, "wallet"));

	/* pings every second, pongs give a clock offset */
	T_CHECK(it_run_until(&it_sess.st.pongs_in, 2, 3500));
	T_CHECK(it_sess.st.pings_out >= 2);
	T_CHECK(it_counter("pings") >= 2);
	T_CHECK(it_sess.clock->known);
	T_CHECK(it_sess.clock->offset_ms > -1000 && it_sess.clock->offset_ms < 1000);
	T_CHECK(bybit_last_msg_age_ms(&it_sess) >= 0 && bybit_last_msg_age_ms(&it_sess) < 1500);

	/* a pushed execution reaches on_push byte for byte */
	{
		static char want[1 << 16];
		static char fixture[512], body[700];
		FILE *f = fopen("../shared/fixtures/bybit/execution_1.json", "r");
		size_t n;
		uint64_t before = it_sess.st.pushes[BYBIT_T_EXECUTION];

		T_REQUIRE(f != NULL);
		/* The peer runs elsewhere: hand it an absolute path (CI puts shared/
		 * beside the clone; the tests' cwd is the repository root). */
		T_REQUIRE(realpath("../shared/fixtures/bybit/execution_1.json", fixture) != NULL);
		n = fread(want, 1, sizeof want, f);
		fclose(f);
		while (n > 0 && want[n - 1] == '\n')
			n--;
		snprintf(body, sizeof body, "{\"account\":\"KEY1\",\"file\":\"%.600s\"}", fixture);
		itpeer_ctl("push", body, out, sizeof out);
		T_CHECK(strstr(out, "\"delivered\":1") != NULL);
		T_CHECK(it_run_until(&it_sess.st.pushes[BYBIT_T_EXECUTION], before + 1, 3000));
		T_EQ_INT(it_push_len, n);
		T_CHECK(it_push_len == n && memcmp(it_push, want, n) == 0);
	}

	/* drop: reconnect and resubscribe within the backoff (attempt 0: <= 1 s) */
	itpeer_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"drop\"}", out, sizeof out);
	T_CHECK(it_run_until(&it_sess.st.lives, 2, 5000));
	T_EQ_INT(it_sess.st.reconnects, 1);
	T_CHECK(it_sess.st.last_backoff_ms >= 500 && it_sess.st.last_backoff_ms <= 1000);
	T_EQ_INT(it_counter("subscribe_ok"), 2);

	/* stall: the 3 s watchdog fires, then a new connection */
	itpeer_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"stall\"}", out, sizeof out);
	T_CHECK(it_run_until(&it_sess.st.watchdog_fires, 1, 6000));
	T_CHECK(it_run_until(&it_sess.st.lives, 3, 6000));
	T_EQ_INT(it_sess.st.reconnects, 2);

	/* a refused auth: logged ret_msg, backoff, then success */
	itpeer_ctl("auth", "{\"account\":\"KEY1\",\"reject_next\":1,\"ret_msg\":\"Params Error\",\"then\":\"keep\"}",
	       out, sizeof out);
	itpeer_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"drop\"}", out, sizeof out);
	T_CHECK(it_run_until(&it_sess.st.auth_failures, 1, 8000));
	int64_t backoff_after_fail = it_sess.st.last_backoff_ms;
	T_EQ_INT(it_sess.st.state, BYBIT_BACKOFF);
	T_CHECK(backoff_after_fail >= 4000 && backoff_after_fail <= 8000); /* attempt 3 */
	T_CHECK(it_run_until(&it_sess.st.lives, 4, 10000));
	T_EQ_INT(it_counter("auth_fail"), 1);
	T_EQ_INT(it_sess.st.connects, 5);

	/* the milestones and the refusal are in the log, with the account */
	T_CHECK(itpeer_file_has(logpath, "msg=\"WebSocket connected\" account=main"));
	T_CHECK(itpeer_file_has(logpath, "msg=\"authentication successful\" account=main"));
	T_CHECK(itpeer_file_has(logpath, "msg=\"subscription successful\" account=main"));
	T_CHECK(itpeer_file_has(logpath, "ret_msg=\"Params Error\""));
	T_CHECK(!itpeer_file_has(logpath, "SECRET1"));

	bybit_stop(&it_sess);
	T_EQ_INT(it_sess.st.state, BYBIT_IDLE);
	resolv_close(&it_resolv);
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	close(logfd);
	itpeer_stop();
	snprintf(path, sizeof path, "%s/peer.log", itpeer.dir);
	T_CHECK(!itpeer_file_has(path, "Traceback"));
}
