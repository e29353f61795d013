/*
 * test_bybit.c -- the session's pure parts: signature, request bytes,
 * backoff, the connect budget, state names, and the calls that need no
 * connection (resume, stop, message limit). The session against a real
 * peer is tests/it_bybit.c and tests/it_session.c.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bybit.h"
#include "loop.h"
#include "resolv.h"
#include "t.h"

/* HMAC-SHA256 computed by Python's hmac module, not by BearSSL. */
static void py_sign(const char *secret, int64_t expires, char *out, size_t cap)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof cmd,
	         "/usr/bin/python3 -c 'import hmac,hashlib,sys; "
	         "print(hmac.new(sys.argv[1].encode(), (\"GET/realtime\"+sys.argv[2]).encode(), "
	         "hashlib.sha256).hexdigest())' '%s' '%" PRId64 "'",
	         secret, expires);
	p = popen(cmd, "r");
	T_REQUIRE(p != NULL);
	out[0] = '\0';
	if (!fgets(out, (int)cap, p))
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

TEST(bybit_sign_matches_python_hmac)
{
	static const struct {
		const char *secret;
		int64_t expires;
	} v[] = { { "SECRET1", 1763500008000 }, { "xQ9rT2mZ", 1 }, { "s3cr3t-with_chars", 9999999999999 } };
	char want[128], got[BYBIT_SIG_HEX + 1];

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		py_sign(v[i].secret, v[i].expires, want, sizeof want);
		T_EQ_INT(strlen(want), 64);
		bybit_sign(v[i].secret, v[i].expires, got);
		T_EQ_STR(got, want);
	}
}

TEST(bybit_auth_json_bytes)
{
	char buf[512], sig[BYBIT_SIG_HEX + 1];
	int n;

	bybit_sign("SECRET1", 1763500008000, sig);
	n = bybit_auth_json(buf, sizeof buf, "main-1", "KEY1", 1763500008000, sig);
	T_REQUIRE(n > 0);
	T_EQ_INT(n, strlen(buf));
	char want[512];
	snprintf(want, sizeof want,
	         "{\"req_id\":\"main-1\",\"op\":\"auth\",\"args\":[\"KEY1\",1763500008000,\"%s\"]}",
	         sig);
	T_EQ_STR(buf, want);
	/* escaping, and a buffer one byte short */
	n = bybit_auth_json(buf, sizeof buf, "r", "k\"\\", 5, "s");
	T_EQ_STR(buf, "{\"req_id\":\"r\",\"op\":\"auth\",\"args\":[\"k\\\"\\\\\",5,\"s\"]}");
	T_EQ_INT(bybit_auth_json(buf, (size_t)n, "r", "k\"\\", 5, "s"), FR_ERANGE);
	T_EQ_INT(bybit_auth_json(buf, (size_t)n + 1, "r", "k\"\\", 5, "s"), n);
}

TEST(bybit_subscribe_json_bytes)
{
	char buf[256];

	T_CHECK(bybit_subscribe_json(buf, sizeof buf, "a-2", CFG_TOPIC_EXECUTION | CFG_TOPIC_ORDER |
	                                                       CFG_TOPIC_POSITION | CFG_TOPIC_WALLET) > 0);
	T_EQ_STR(buf, "{\"req_id\":\"a-2\",\"op\":\"subscribe\",\"args\":"
	              "[\"execution\",\"order\",\"position\",\"wallet\"]}");
	T_CHECK(bybit_subscribe_json(buf, sizeof buf, "x", CFG_TOPIC_EXECUTION | CFG_TOPIC_WALLET) > 0);
	T_EQ_STR(buf, "{\"req_id\":\"x\",\"op\":\"subscribe\",\"args\":[\"execution\",\"wallet\"]}");
	T_EQ_INT(bybit_subscribe_json(buf, sizeof buf, "x", 0), FR_EINVAL);
	T_EQ_INT(bybit_subscribe_json(buf, 10, "x", CFG_TOPIC_EXECUTION), FR_ERANGE);
}

TEST(bybit_topic_families)
{
	T_EQ_INT(bybit_topic_idx("execution"), BYBIT_T_EXECUTION);
	T_EQ_INT(bybit_topic_idx("execution.linear"), BYBIT_T_EXECUTION);
	T_EQ_INT(bybit_topic_idx("execution.fast"), BYBIT_T_OTHER);
	T_EQ_INT(bybit_topic_idx("order.spot"), BYBIT_T_ORDER);
	T_EQ_INT(bybit_topic_idx("position"), BYBIT_T_POSITION);
	T_EQ_INT(bybit_topic_idx("wallet"), BYBIT_T_WALLET);
	T_EQ_INT(bybit_topic_idx("orders"), BYBIT_T_OTHER);
	T_EQ_INT(bybit_topic_idx(""), BYBIT_T_OTHER);
}

/* Delay of attempt a lies in [d/2, d], d = min(max, min << a); the jitter
 * covers the range (not a constant) and a seed reproduces the sequence. */
TEST(bybit_backoff_bounds_and_jitter)
{
	struct bybit_backoff b, c;
	int64_t lo_seen[8], hi_seen[8];

	for (int a = 0; a < 8; a++) {
		lo_seen[a] = INT64_MAX;
		hi_seen[a] = 0;
	}
	for (uint64_t seed = 1; seed <= 400; seed++) {
		bybit_backoff_init(&b, seed * 7919);
		for (int a = 0; a < 12; a++) {
			int64_t d = (int64_t)BYBIT_BACKOFF_MIN_MS << a, got = bybit_backoff_next(&b);

			if (d > BYBIT_BACKOFF_MAX_MS)
				d = BYBIT_BACKOFF_MAX_MS;
			if (!T_CHECK(got >= d / 2 && got <= d))
				return;
			if (a < 8) {
				lo_seen[a] = got < lo_seen[a] ? got : lo_seen[a];
				hi_seen[a] = got > hi_seen[a] ? got : hi_seen[a];
			}
		}
	}
	/* 400 draws spread over most of each range */
	for (int a = 0; a < 8; a++) {
		int64_t d = (int64_t)BYBIT_BACKOFF_MIN_MS << a;
		d = d > BYBIT_BACKOFF_MAX_MS ? BYBIT_BACKOFF_MAX_MS : d;
		T_CHECK(lo_seen[a] < d / 2 + d / 20);
		T_CHECK(hi_seen[a] > d - d / 20);
	}
	/* capped for ever after, and reset starts over */
	int capped = 1;
	for (int i = 0; i < 2000; i++)
		capped &= bybit_backoff_next(&b) <= BYBIT_BACKOFF_MAX_MS;
	T_CHECK(capped);
	bybit_backoff_reset(&b);
	T_CHECK(bybit_backoff_next(&b) <= BYBIT_BACKOFF_MIN_MS);
	/* same seed, same sequence */
	bybit_backoff_init(&b, 42);
	bybit_backoff_init(&c, 42);
	for (int i = 0; i < 20; i++)
		T_EQ_INT(bybit_backoff_next(&b), bybit_backoff_next(&c));
}

static struct bybit_budget budget;

TEST(bybit_budget_500_per_5_minutes)
{
	int64_t t = 1000000;

	memset(&budget, 0, sizeof budget);
	/* 500 attempts spread over 100 s pass; the 501st is refused */
	for (int i = 0; i < BYBIT_BUDGET_CONNECTS; i++)
		if (!T_EQ_INT(bybit_budget_take(&budget, t + i * 200), 0))
			return;
	int64_t now = t + 499 * 200 + 1;
	T_EQ_INT(bybit_budget_take(&budget, now), FR_EFULL);
	/* the oldest (at t) leaves the window at t + 5 min */
	T_EQ_INT(bybit_budget_wait_ms(&budget, now), t + BYBIT_BUDGET_WINDOW_MS - now);
	T_EQ_INT(bybit_budget_take(&budget, t + BYBIT_BUDGET_WINDOW_MS - 1), FR_EFULL);
	T_EQ_INT(bybit_budget_take(&budget, t + BYBIT_BUDGET_WINDOW_MS), 0);
	/* exactly one slot freed: the next is refused until t + 200 leaves */
	T_EQ_INT(bybit_budget_take(&budget, t + BYBIT_BUDGET_WINDOW_MS), FR_EFULL);
	T_EQ_INT(bybit_budget_wait_ms(&budget, t + BYBIT_BUDGET_WINDOW_MS), 200);
	/* sliding window check: in no 5-minute window more than 500 were taken */
	memset(&budget, 0, sizeof budget);
	int taken = 0;
	static int64_t times[4000];
	for (int64_t ms = 0; ms < 20 * 60 * 1000; ms += 300)
		if (bybit_budget_take(&budget, ms) == 0)
			times[taken++] = ms;
	int worst = 0;
	for (int i = 0, j = 0; i < taken; i++) {
		while (times[i] - times[j] >= BYBIT_BUDGET_WINDOW_MS)
			j++;
		worst = i - j + 1 > worst ? i - j + 1 : worst;
	}
	T_EQ_INT(worst, BYBIT_BUDGET_CONNECTS);
	T_CHECK(taken > 3 * BYBIT_BUDGET_CONNECTS);
	/* a long quiet period empties it */
	T_EQ_INT(bybit_budget_wait_ms(&budget, 40 * 60 * 1000), 0);
}

TEST(bybit_state_names)
{
	static const char *const want[] = {"idle",  "resolving", "connecting", "tls",
	                                   "ws",    "auth",      "gated",      "subscribe",
	                                   "live",  "backoff",   "held"};

	for (int st = BYBIT_IDLE; st <= BYBIT_HELD; st++)
		T_EQ_STR(bybit_state_name((enum bybit_state)st), want[st]);
	T_EQ_STR(bybit_state_name((enum bybit_state)(BYBIT_HELD + 1)), "?");
	T_EQ_STR(bybit_state_name((enum bybit_state)(BYBIT_HELD + 100)), "?");
}

/* The close codes a session sends are ones a peer must accept (RFC 6455
 * 7.4.1: 1000..1003, 1007..1011 and IANA's 1012..1014). */
TEST(bybit_close_codes)
{
	T_EQ_INT(BYBIT_CLOSE_STOP, 1000);
	T_EQ_INT(BYBIT_CLOSE_RECONNECT, 1001);
	T_EQ_INT(BYBIT_CLOSE_HOLD, 1013);
}

static struct loop sess_loop;
static struct resolv sess_resolv;
static struct pem_ta_store sess_anchors;
static struct cfg_account sess_acct;
static struct bybit_session sess;

static int sess_push(void *ctx, const char *account, const char *msg, size_t len)
{
	(void)ctx, (void)account, (void)msg, (void)len;
	return 0;
}

/* Without a connection: resume refuses anything but HELD, stop is
 * idempotent and leaves no fd or timer, the message limit defaults to
 * WS_MSG_MAX and takes a lower one. */
TEST(bybit_resume_stop_and_limit_without_a_connection)
{
	loop_init(&sess_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&sess_resolv, &sess_loop, NULL, NULL) == 0);
	pem_ta_init(&sess_anchors);
	memset(&sess_acct, 0, sizeof sess_acct);
	strcpy(sess_acct.name, "unit");
	strcpy(sess_acct.ep.ws_url.host, "stream.bybit.com");
	strcpy(sess_acct.ep.ws_url.path, "/v5/private");
	sess_acct.ep.ws_url.port = 443;
	sess_acct.ep.topics = CFG_TOPIC_EXECUTION;
	T_REQUIRE(bybit_init(&sess, &sess_loop, &sess_resolv, &sess_anchors, &sess_acct, 20000,
	                     30000, NULL, sess_push, NULL) == 0);
	T_EQ_INT(sess.msg_max, WS_MSG_MAX);
	bybit_set_msg_max(&sess, 4096);
	T_EQ_INT(sess.msg_max, 4096);
	T_EQ_STR(sess.ws_host, "stream.bybit.com");

	T_EQ_INT(bybit_resume(&sess), FR_EINVAL); /* IDLE is not HELD */
	T_EQ_INT(sess.st.state, BYBIT_IDLE);
	bybit_stop(&sess);
	bybit_stop(&sess);
	T_EQ_INT(sess.st.state, BYBIT_IDLE);
	T_EQ_INT(sess.fd, -1);
	T_EQ_INT(sess.t_ping, -1);
	T_EQ_INT(sess.t_watchdog, -1);
	T_EQ_INT(sess.t_backoff, -1);
	T_EQ_INT(sess.st.holds, 0);
	resolv_close(&sess_resolv);
}
