/*
 * test_rest.c -- the REST client's pure parts (rate-limit waits, backoff,
 * reading a header out of an answer's head) and what it does with no server
 * at all (refused requests, callbacks, the budget). The client against a
 * real server is tests/it_rest.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rest.h"
#include "t.h"

TEST(rest_rate_wait_prefers_retry_after)
{
	T_EQ_INT(rest_rate_wait_ms(3, 5000, 1000, 1), 3000);
	T_EQ_INT(rest_rate_wait_ms(0, -1, -1, 4), 0);
	/* a huge Retry-After is capped, also where seconds * 1000 would overflow */
	T_EQ_INT(rest_rate_wait_ms(INT64_MAX / 10, -1, -1, 1), HTTP_WAIT_MAX_MS);
	T_EQ_INT(rest_rate_wait_ms(HTTP_WAIT_MAX_MS / 1000 + 1, -1, -1, 1), HTTP_WAIT_MAX_MS);
}

TEST(rest_rate_wait_from_reset_timestamp)
{
	/* both times are the server's: the local clock's offset does not matter */
	T_EQ_INT(rest_rate_wait_ms(-1, 1763500001500, 1763500000000, 1),
	         1500 + REST_RATE_MARGIN_MS);
	/* a reset already past still waits a little, never a negative time */
	T_EQ_INT(rest_rate_wait_ms(-1, 1763500000000, 1763500009000, 3), REST_RATE_MARGIN_MS);
	/* a reset absurdly far ahead is capped */
	T_EQ_INT(rest_rate_wait_ms(-1, 1763500000000 + 86400000, 1763500000000, 1),
	         HTTP_WAIT_MAX_MS);
	/* one of the two missing: the default */
	T_EQ_INT(rest_rate_wait_ms(-1, 1763500001500, -1, 1), HTTP_RATE_WAIT_MS);
	T_EQ_INT(rest_rate_wait_ms(-1, -1, 1763500000000, 1), HTTP_RATE_WAIT_MS);
}

TEST(rest_rate_wait_default_grows_and_caps)
{
	T_EQ_INT(rest_rate_wait_ms(-1, -1, -1, 1), HTTP_RATE_WAIT_MS);
	T_EQ_INT(rest_rate_wait_ms(-1, -1, -1, 2), 2 * HTTP_RATE_WAIT_MS);
	T_EQ_INT(rest_rate_wait_ms(-1, -1, -1, 3), 4 * HTTP_RATE_WAIT_MS);
	T_EQ_INT(rest_rate_wait_ms(-1, -1, -1, 10), REST_RATE_WAIT_MAX_MS);
	T_EQ_INT(rest_rate_wait_ms(-1, -1, -1, 1000), REST_RATE_WAIT_MAX_MS);
}

TEST(rest_backoff_equal_jitter_capped)
{
	for (uint64_t rnd = 0; rnd < 5000; rnd += 7) {
		int64_t a = rest_backoff_ms(1, rnd), b = rest_backoff_ms(3, rnd);
		int64_t z = rest_backoff_ms(40, rnd);

		T_CHECK(a >= HTTP_RETRY_WAIT_MS / 2 && a <= HTTP_RETRY_WAIT_MS);
		T_CHECK(b >= 2 * HTTP_RETRY_WAIT_MS && b <= 4 * HTTP_RETRY_WAIT_MS);
		T_CHECK(z >= REST_BACKOFF_MAX_MS / 2 && z <= REST_BACKOFF_MAX_MS);
	}
	/* both ends are reachable */
	T_EQ_INT(rest_backoff_ms(1, 0), HTTP_RETRY_WAIT_MS / 2);
	T_EQ_INT(rest_backoff_ms(1, HTTP_RETRY_WAIT_MS / 2), HTTP_RETRY_WAIT_MS);
	T_EQ_INT(rest_backoff_ms(1000, UINT64_MAX),
	         REST_BACKOFF_MAX_MS / 2 +
	             (int64_t)(UINT64_MAX % (REST_BACKOFF_MAX_MS - REST_BACKOFF_MAX_MS / 2 + 1)));
}

TEST(rest_head_int_reads_bybit_headers)
{
	static const char head[] = "HTTP/1.1 429 Too Many Requests\r\n"
	                           "Content-Type: application/json\r\n"
	                           "timenow: 1763500000123\r\n"
	                           "X-Bapi-Limit-Reset-Timestamp:  1763500001123 \r\n"
	                           "Retry-After: soon\r\n"
	                           "\r\n"
	                           "{\"Timenow\":1}\r\nTimenow: 5\r\n";
	size_t n = sizeof head - 1;

	T_EQ_INT(rest_head_int(head, n, "Timenow"), 1763500000123);
	T_EQ_INT(rest_head_int(head, n, "x-bapi-limit-reset-timestamp"), 1763500001123);
	T_EQ_INT(rest_head_int(head, n, "Retry-After"), -1); /* not a number */
	T_EQ_INT(rest_head_int(head, n, "Traceid"), -1);
	/* the status line is never a header, the body never read */
	T_EQ_INT(rest_head_int("Timenow: 7\r\n\r\n", 14, "Timenow"), -1);
	/* LF-only lines */
	T_EQ_INT(rest_head_int("HTTP/1.1 200 OK\nTimenow: 42\n\n", 29, "Timenow"), 42);
}

TEST(rest_head_int_cut_anywhere)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTimenow: 1763500000123\r\n\r\n";
	size_t full = sizeof head - 1, at = strstr(head, "Timenow") - head;

	/* a head cut before the line ends never gives a partial number */
	for (size_t n = 0; n <= full; n++) {
		int64_t v = rest_head_int(head, n, "Timenow");

		if (n < at + strlen("Timenow: 1763500000123\r\n"))
			T_EQ_INT(v, -1);
		else
			T_EQ_INT(v, 1763500000123);
	}
	/* longer than 18 digits, empty, signed: not numbers */
	T_EQ_INT(rest_head_int("H\r\nA: 1234567890123456789\r\n", 27, "A"), -1);
	T_EQ_INT(rest_head_int("H\r\nA:\r\n", 7, "A"), -1);
	T_EQ_INT(rest_head_int("H\r\nA: -5\r\n", 10, "A"), -1);
	/* a header name that is a prefix of another */
	T_EQ_INT(rest_head_int("H\r\nTimenowX: 1\r\nTimenow: 2\r\n", 28, "Timenow"), 2);
}

TEST(rest_names)
{
	T_EQ_STR(rest_outcome_name(REST_OK), "ok");
	T_EQ_STR(rest_outcome_name(REST_DEADLINE), "deadline");
	T_EQ_STR(rest_state_name(REST_BANNED), "banned");
	T_EQ_STR(rest_state_name((enum rest_state)99), "?");
}

/* ---- the client without a server ---- */

static struct loop tr_loop;
static struct resolv tr_resolv;
static struct pem_ta_store tr_anchors;
static struct cfg_account tr_acct;
static struct xclock tr_clock;
static struct rest_client tr_cli;
static int tr_calls;
static struct rest_result tr_last;
static char tr_msg[REST_MSG_MAX];
static int tr_null = -1;

static void tr_end(void)
{
	resolv_close(&tr_resolv);
	log_setup(2, LOG_INFO, NULL, NULL);
}

static void tr_done(void *ctx, struct rest_client *c, const struct rest_result *r)
{
	(void)ctx;
	(void)c;
	tr_calls++;
	tr_last = *r;
	snprintf(tr_msg, sizeof tr_msg, "%s", r->ret_msg);
}

/* A client whose host no resolver can find: no server is configured. */
static void tr_setup(void)
{
	char conf[600], hosts[600];

	snprintf(conf, sizeof conf, "%s/no-resolv.conf", t_tmpdir());
	snprintf(hosts, sizeof hosts, "%s/no-hosts", t_tmpdir());
	if (tr_null < 0)
		tr_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	log_setup(tr_null, LOG_WARN, NULL, NULL); /* the failures are expected */
	loop_init(&tr_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&tr_resolv, &tr_loop, conf, hosts) == 0);
	pem_ta_init(&tr_anchors);
	memset(&tr_acct, 0, sizeof tr_acct);
	strcpy(tr_acct.name, "unit");
	strcpy(tr_acct.api_key.value, "KEY");
	strcpy(tr_acct.api_secret.value, "SECRET");
	strcpy(tr_acct.ep.rest_url.host, "api.example.invalid");
	tr_acct.ep.rest_url.port = 443;
	xclock_init(&tr_clock, "unit");
	T_REQUIRE(
	    rest_init(&tr_cli, &tr_loop, &tr_resolv, &tr_anchors, &tr_acct, 5000, &tr_clock) == 0);
	tr_calls = 0;
}

TEST(rest_get_refuses_bad_requests_and_never_calls_back_inside)
{
	static const struct http_kv bad_cursor[] = {{"cursor", "a b", 1}};
	static const struct http_kv ok_kv[] = {{"category", "linear", 0}};
	static char long_path[REST_PATH_MAX + 10];

	tr_setup();
	T_EQ_STR(tr_cli.host_hdr, "api.example.invalid");
	T_EQ_INT(rest_get(&tr_cli, "v5/market/time", NULL, 0, 0, 0, tr_done, NULL), FR_EINVAL);
	T_EQ_INT(rest_get(&tr_cli, "/v5/x?y=1", NULL, 0, 0, 0, tr_done, NULL), FR_EINVAL);
	T_EQ_INT(rest_get(&tr_cli, "/v5/x HTTP/1.1\r\nX: y", NULL, 0, 0, 0, tr_done, NULL),
	         FR_EINVAL);
	T_EQ_INT(rest_get(&tr_cli, "/v5/execution/list", bad_cursor, 1, 1, 0, tr_done, NULL),
	         FR_EINVAL);
	memset(long_path, 'a', sizeof long_path - 1);
	long_path[0] = '/';
	T_EQ_INT(rest_get(&tr_cli, long_path, NULL, 0, 0, 0, tr_done, NULL), FR_ERANGE);
	T_CHECK(!rest_busy(&tr_cli));
	T_EQ_INT(tr_cli.st.requests, 0);

	T_EQ_INT(rest_get(&tr_cli, "/v5/execution/list", ok_kv, 1, 1, 0, tr_done, NULL), 0);
	T_CHECK(rest_busy(&tr_cli));
	T_EQ_INT(rest_get(&tr_cli, "/v5/market/time", NULL, 0, 0, 0, tr_done, NULL), FR_EAGAIN);
	T_EQ_INT(tr_calls, 0); /* not from inside rest_get */
	T_EQ_STR(tr_cli.query, "category=linear");
	rest_close(&tr_cli);
	T_CHECK(!rest_busy(&tr_cli));
	loop_run_once(&tr_loop, 0);
	T_EQ_INT(tr_calls, 0); /* a closed request never calls back */
	tr_end();
}

TEST(rest_budget_ends_a_request_that_cannot_connect)
{
	int64_t t0, took;

	tr_setup();
	T_EQ_INT(rest_get(&tr_cli, "/v5/market/time", NULL, 0, 0, 700, tr_done, NULL), 0);
	t0 = loop_sys_real.mono_ms(loop_sys_real.ctx);
	for (int i = 0; i < 100 && tr_calls == 0; i++)
		loop_run_once(&tr_loop, 50);
	took = loop_sys_real.mono_ms(loop_sys_real.ctx) - t0;
	T_EQ_INT(tr_calls, 1);
	T_EQ_INT(tr_last.outcome, REST_DEADLINE);
	T_EQ_INT(tr_last.http_status, 0);
	T_EQ_INT(tr_last.ret_code, -1);
	T_EQ_STR(tr_last.body, "");
	T_CHECK(strstr(tr_msg, "resolve api.example.invalid") != NULL);
	/* the resolver fails at once; the backoff (>= 500 ms) would pass the
	 * 700 ms budget after the second failure at the latest: it ends early */
	T_CHECK(tr_last.attempts >= 1 && tr_last.attempts <= 2);
	T_CHECK(took < 1000);
	T_EQ_INT(tr_cli.st.deadlines, 1);
	T_EQ_INT(tr_cli.st.sent, 0);
	T_EQ_INT(tr_cli.st.state, REST_IDLE);
	/* nothing left running */
	for (int i = 0; i < 3; i++)
		loop_run_once(&tr_loop, 0);
	T_EQ_INT(tr_calls, 1);
	tr_end();
}
