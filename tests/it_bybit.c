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
#include "t.h"

static struct loop it_loop;
static struct resolv it_resolv;
static struct pem_ta_store it_anchors;
static struct cfg_account it_acct;
static struct bybit_session it_sess;
static char it_dir[256];
static int it_ctl_port, it_ws_port;
static char it_peer_pid[32];

/* what on_push saw */
static char it_push[1 << 16];
static size_t it_push_len;
static int it_pushes;

static void it_on_push(void *ctx, const char *account, const char *msg, size_t len)
{
	(void)ctx;
	it_pushes++;
	if (strcmp(account, "main") == 0 && len < sizeof it_push) {
		memcpy(it_push, msg, len);
		it_push_len = len;
	}
}

/* Runs a shell command, returns its first output line (trimmed) in out. */
static int it_sh(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	if (!p)
		return -1;
	if (out && cap) {
		n = fread(out, 1, cap - 1, p);
		out[n] = '\0';
	} else {
		char sink[256];
		while (fread(sink, 1, sizeof sink, p) > 0) {
		}
	}
	return pclose(p);
}

static void it_ctl(const char *name, const char *json, char *out, size_t cap)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd, "curl -s -m 10 -d '%s' http://127.0.0.1:%d/%s", json,
	         it_ctl_port, name);
	it_sh(cmd, out, cap);
}

static int it_peer_start(void)
{
	char cmd[2048], line[256] = "";

	snprintf(it_dir, sizeof it_dir, "%s/peer", t_tmpdir());
	snprintf(cmd, sizeof cmd, "tests/peer/mkcerts.sh %s >/dev/null 2>&1", it_dir);
	if (it_sh(cmd, NULL, 0) != 0)
		return -1;
	snprintf(cmd, sizeof cmd,
	         "/usr/bin/python3 tests/peer/bybit_peer.py --dir %s --ws-port 0 --rest-port 0 "
	         "--control-port 0 --accounts KEY1:SECRET1 --ready-file %s/ready "
	         ">%s/peer.out 2>%s/peer.log & echo $!",
	         it_dir, it_dir, it_dir, it_dir);
	it_sh(cmd, it_peer_pid, sizeof it_peer_pid);
	it_peer_pid[strcspn(it_peer_pid, "\n")] = '\0';
	snprintf(cmd, sizeof cmd, "%s/ready", it_dir);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(cmd, "r");
		if (f) {
			int got = fgets(line, sizeof line, f) != NULL;
			fclose(f);
			if (got && sscanf(line, "ready ws=%d rest=%*d control=%d", &it_ws_port,
			                  &it_ctl_port) == 2)
				return 0;
		}
		usleep(50000);
	}
	return -1;
}

static void it_peer_stop(void)
{
	char out[64];

	if (it_ctl_port > 0)
		it_ctl("shutdown", "{}", out, sizeof out);
	usleep(200000);
	if (it_peer_pid[0]) {
		char cmd[64];
		snprintf(cmd, sizeof cmd, "kill %s 2>/dev/null", it_peer_pid);
		it_sh(cmd, NULL, 0);
	}
	/* Idempotent: it also runs at exit, after a T_REQUIRE stopped the test. */
	it_peer_pid[0] = '\0';
	it_ctl_port = 0;
}

/* Runs the loop until *v >= want or timeout_ms passed; returns *v >= want. */
static int it_run_until(const uint64_t *v, uint64_t want, int timeout_ms)
{
	int64_t end = loop_sys_real.mono_ms(loop_sys_real.ctx) + timeout_ms;

	while (*v < want && loop_sys_real.mono_ms(loop_sys_real.ctx) < end)
		loop_run_once(&it_loop, 100);
	return *v >= want;
}

/* The peer's counter for KEY1, read through /wait with atleast 0. */
static long it_counter(const char *name)
{
	char json[256], out[256];
	const char *v;

	snprintf(json, sizeof json, "{\"counter\":\"%s\",\"account\":\"KEY1\",\"atleast\":0}", name);
	it_ctl("wait", json, out, sizeof out);
	v = strstr(out, "\"value\":");
	return v ? atol(v + 8) : -1;
}

static int it_file_has(const char *path, const char *needle)
{
	static char buf[1 << 18];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

static void it_setup_account(void)
{
	memset(&it_acct, 0, sizeof it_acct);
	strcpy(it_acct.name, "main");
	strcpy(it_acct.api_key.value, "KEY1");
	strcpy(it_acct.api_secret.value, "SECRET1");
	snprintf(it_acct.ep.ws_url.text, sizeof it_acct.ep.ws_url.text,
	         "wss://localhost:%d/v5/private", it_ws_port);
	strcpy(it_acct.ep.ws_url.host, "localhost");
	it_acct.ep.ws_url.port = (unsigned)it_ws_port;
	strcpy(it_acct.ep.ws_url.path, "/v5/private");
	it_acct.ep.topics = CFG_TOPIC_EXECUTION | CFG_TOPIC_ORDER | CFG_TOPIC_POSITION |
	                    CFG_TOPIC_WALLET;
}

TEST(it_bybit_session_against_peer)
{
	char path[600], logpath[600], out[4096];
	int logfd;

	signal(SIGPIPE, SIG_IGN);
	atexit(it_peer_stop); /* a stopped test must not leave the peer running */
	if (!T_CHECK(it_peer_start() == 0)) {
		it_peer_stop();
		return;
	}
	snprintf(logpath, sizeof logpath, "%s/bybit.log", it_dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	T_REQUIRE(logfd >= 0);
	log_setup(logfd, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);

	loop_init(&it_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&it_resolv, &it_loop, NULL, NULL) == 0);
	pem_ta_init(&it_anchors);
	snprintf(path, sizeof path, "%s/ca.pem", it_dir);
	T_REQUIRE(pem_ta_load_file(&it_anchors, path) >= 1);
	it_setup_account();
	T_REQUIRE(bybit_init(&it_sess, &it_loop, &it_resolv, &it_anchors, &it_acct, 1000, 3000,
	                     NULL, it_on_push, NULL) == 0);
	bybit_backoff_init(&it_sess.backoff, 12345);
	T_REQUIRE(bybit_start(&it_sess) == 0);

	/* LIVE, and the peer agrees: auth ok, the four topics subscribed */
	T_CHECK(it_run_until(&it_sess.st.lives, 1, 10000));
	T_EQ_INT(it_sess.st.state, BYBIT_LIVE);
	T_EQ_INT(it_counter("auth_ok"), 1);
	T_EQ_INT(it_counter("subscribed_open"), 1);
	it_ctl("events", "{\"type\":\"subscribe\",\"account\":\"KEY1\",\"since\":0}", out,
	       sizeof out);
	T_CHECK(strstr(out, "execution") && strstr(out, "order") && strstr(out, "position") &&
	        strstr(out, "wallet"));

	/* pings every second, pongs give a clock offset */
	T_CHECK(it_run_until(&it_sess.st.pongs_in, 2, 3500));
	T_CHECK(it_sess.st.pings_out >= 2);
	T_CHECK(it_counter("pings") >= 2);
	T_CHECK(it_sess.st.clock_offset_known);
	T_CHECK(it_sess.st.clock_offset_ms > -1000 && it_sess.st.clock_offset_ms < 1000);
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
		it_ctl("push", body, out, sizeof out);
		T_CHECK(strstr(out, "\"delivered\":1") != NULL);
		T_CHECK(it_run_until(&it_sess.st.pushes[BYBIT_T_EXECUTION], before + 1, 3000));
		T_EQ_INT(it_push_len, n);
		T_CHECK(it_push_len == n && memcmp(it_push, want, n) == 0);
	}

	/* drop: reconnect and resubscribe within the backoff (attempt 0: <= 1 s) */
	it_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"drop\"}", out, sizeof out);
	T_CHECK(it_run_until(&it_sess.st.lives, 2, 5000));
	T_EQ_INT(it_sess.st.reconnects, 1);
	T_CHECK(it_sess.st.last_backoff_ms >= 500 && it_sess.st.last_backoff_ms <= 1000);
	T_EQ_INT(it_counter("subscribe_ok"), 2);

	/* stall: the 3 s watchdog fires, then a new connection */
	it_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"stall\"}", out, sizeof out);
	T_CHECK(it_run_until(&it_sess.st.watchdog_fires, 1, 6000));
	T_CHECK(it_run_until(&it_sess.st.lives, 3, 6000));
	T_EQ_INT(it_sess.st.reconnects, 2);

	/* a refused auth: logged ret_msg, backoff, then success */
	it_ctl("auth", "{\"account\":\"KEY1\",\"reject_next\":1,\"ret_msg\":\"Params Error\",\"then\":\"keep\"}",
	       out, sizeof out);
	it_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"drop\"}", out, sizeof out);
	T_CHECK(it_run_until(&it_sess.st.auth_failures, 1, 8000));
	int64_t backoff_after_fail = it_sess.st.last_backoff_ms;
	T_EQ_INT(it_sess.st.state, BYBIT_BACKOFF);
	T_CHECK(backoff_after_fail >= 4000 && backoff_after_fail <= 8000); /* attempt 3 */
	T_CHECK(it_run_until(&it_sess.st.lives, 4, 10000));
	T_EQ_INT(it_counter("auth_fail"), 1);
	T_EQ_INT(it_sess.st.connects, 5);

	/* the milestones and the refusal are in the log, with the account */
	T_CHECK(it_file_has(logpath, "msg=\"WebSocket connected\" account=main"));
	T_CHECK(it_file_has(logpath, "msg=\"authentication successful\" account=main"));
	T_CHECK(it_file_has(logpath, "msg=\"subscription successful\" account=main"));
	T_CHECK(it_file_has(logpath, "ret_msg=\"Params Error\""));
	T_CHECK(!it_file_has(logpath, "SECRET1"));

	bybit_stop(&it_sess);
	T_EQ_INT(it_sess.st.state, BYBIT_IDLE);
	resolv_close(&it_resolv);
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	close(logfd);
	it_peer_stop();
	snprintf(path, sizeof path, "%s/peer.log", it_dir);
	T_CHECK(!it_file_has(path, "Traceback"));
}
