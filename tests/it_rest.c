/*
 * it_rest.c -- the REST client (rest.h) and `fillrelay check --connect`
 * against the local Bybit peer (tests/peer/).
 *
 *   it_rest_client:   a signed request verified by the peer; 250 fills in
 *                     three pages following nextPageCursor verbatim; a
 *                     chunked answer equal to the plain one; keep-alive (one
 *                     TCP connection, a closed one retried at once); 429 and
 *                     10006 waited out for at least the announced time; 503
 *                     backed off; a 3 s clock skew resynced through 10002;
 *                     an unknown key failing once, with its retMsg; a
 *                     stalled answer timed out and retried; a budget ending
 *                     a request.
 *   it_rest_ban:      HTTP 403 -> nothing sent for 10 minutes, proved on a
 *                     loop whose clocks the test moves forward.
 *   it_rest_check_connect: the fillrelay binary's check --connect, a good and
 *                     a wrong secret.
 * About 15 s in all.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "itpeer.h"
#include "log.h"
#include "rest.h"
#include "t.h"

static struct loop it_loop;
static struct resolv it_resolv;
static struct pem_ta_store it_anchors;
static struct cfg_account it_acct, it_acct_bad;
static struct xclock it_clock;
static struct rest_client it_cli;
static struct decode it_dec;

/* What the callback saw. */
struct it_res {
	uint64_t done; /* counts callbacks */
	enum rest_outcome outcome;
	int http;
	int64_t code;
	int attempts;
	int64_t server_ms;
	char msg[REST_MSG_MAX];
	char cursor[DECODE_CURSOR_MAX];
	size_t body_len;
	char body[HTTP_BODY_MAX + 1];
};

static struct it_res it_r;

static void it_on_done(void *ctx, struct rest_client *c, const struct rest_result *r)
{
	struct it_res *o = ctx;

	(void)c;
	o->outcome = r->outcome;
	o->http = r->http_status;
	o->code = r->ret_code;
	o->attempts = r->attempts;
	o->server_ms = r->server_ms;
	snprintf(o->msg, sizeof o->msg, "%s", r->ret_msg);
	snprintf(o->cursor, sizeof o->cursor, "%s", r->cursor);
	o->body_len = r->body_len < HTTP_BODY_MAX ? r->body_len : HTTP_BODY_MAX;
	memcpy(o->body, r->body, o->body_len);
	o->body[o->body_len] = '\0';
	o->done++;
}

static int64_t it_real_mono(void)
{
	return loop_sys_real.mono_ms(loop_sys_real.ctx);
}

/* Runs one request on cli (driven by loop l) to its end; 1 when it ended
 * within timeout_ms. */
static int it_get_on(struct loop *l, struct rest_client *cli, const char *path,
                     const struct http_kv *kv, size_t n, int sign, int64_t budget_ms,
                     int timeout_ms)
{
	uint64_t before = it_r.done;

	if (rest_get(cli, path, kv, n, sign, budget_ms, it_on_done, &it_r) != 0)
		return 0;
	return itpeer_run_until(l, &it_r.done, before + 1, timeout_ms);
}

static int it_get(const char *path, const struct http_kv *kv, size_t n, int sign)
{
	return it_get_on(&it_loop, &it_cli, path, kv, n, sign, 0, 10000);
}

/* ---- the peer's events ---------------------------------------------------- */

static char it_ev[1 << 20];

/* Fetches the events of type since seq into it_ev; returns the last seq. */
static long it_events(const char *type, long since)
{
	char body[128];
	const char *p;

	snprintf(body, sizeof body, "{\"type\":\"%s\",\"since\":%ld,\"limit\":1000}", type, since);
	itpeer_ctl("events", body, it_ev, sizeof it_ev);
	p = strstr(it_ev, "\"last_event_seq\":");
	return p ? atol(p + 17) : -1;
}

/* The start of event i (0-based) in it_ev, NULL past the last. */
static const char *it_event_at(int i)
{
	const char *p = it_ev;

	for (int k = 0; p && k <= i; k++) {
		p = strstr(p, "{\"seq\":");
		if (p && k < i)
			p++;
	}
	return p;
}

/* An integer field of event i; LONG_MIN when absent. */
static long it_event_int(int i, const char *field)
{
	const char *e = it_event_at(i), *next, *f;
	char key[64];

	if (!e)
		return -1000000;
	next = strstr(e + 1, "{\"seq\":");
	snprintf(key, sizeof key, "\"%s\":", field);
	f = strstr(e, key);
	if (!f || (next && f > next))
		return -1000000;
	return atol(f + strlen(key));
}

/* Whether event i holds text. */
static int it_event_has(int i, const char *text)
{
	const char *e = it_event_at(i), *next, *f;

	if (!e)
		return 0;
	next = strstr(e + 1, "{\"seq\":");
	f = strstr(e, text);
	return f && (!next || f < next);
}

static int it_event_count(void)
{
	int n = 0;

	while (it_event_at(n))
		n++;
	return n;
}

static long it_last_seq(void)
{
	return it_events("none", 0);
}

/* ---- set-up ---------------------------------------------------------------- */

static char it_logpath[600];
static int it_logfd = -1;

static void it_setup(const char *accounts)
{
	char path[600];

	signal(SIGPIPE, SIG_IGN);
	T_REQUIRE(itpeer_start(accounts, "") == 0);
	snprintf(it_logpath, sizeof it_logpath, "%s/rest.log", itpeer.dir);
	it_logfd = open(it_logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	T_REQUIRE(it_logfd >= 0);
	log_setup(it_logfd, LOG_DEBUG, loop_sys_real.wall_ms, loop_sys_real.ctx);
	log_secrets_clear();
	log_secret_add("SECRET1");
	loop_init(&it_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&it_resolv, &it_loop, NULL, NULL) == 0);
	pem_ta_init(&it_anchors);
	snprintf(path, sizeof path, "%s/ca.pem", itpeer.dir);
	T_REQUIRE(pem_ta_load_file(&it_anchors, path) >= 1);
	itpeer_account(&it_acct, "main", "KEY1", "SECRET1");
	xclock_init(&it_clock, "main");
	T_REQUIRE(
	    rest_init(&it_cli, &it_loop, &it_resolv, &it_anchors, &it_acct, 5000, &it_clock) == 0);
}

static void it_teardown(void)
{
	char path[600];

	rest_close(&it_cli);
	resolv_close(&it_resolv);
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	log_secrets_clear();
	if (it_logfd >= 0)
		close(it_logfd);
	it_logfd = -1;
	T_CHECK(!itpeer_file_has(it_logpath, "SECRET1"));
	itpeer_stop();
	snprintf(path, sizeof path, "%s/peer.log", itpeer.dir);
	T_CHECK(!itpeer_file_has(path, "Traceback"));
}

/* ---- (a) a signed request ------------------------------------------------- */

static void it_signed_position_list(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"settleCoin", "USDT", 0}};
	char out[512];
	long seq = it_last_seq();

	itpeer_ctl("load",
	           "{\"account\":\"KEY1\",\"kind\":\"position\",\"category\":\"linear\",\"items\":"
	           "[{\"symbol\":\"BTCUSDT\",\"positionIdx\":0,\"size\":\"0.5\",\"side\":\"Buy\","
	           "\"seq\":12,\"updatedTime\":\"1763500000000\"}]}",
	           out, sizeof out);
	T_REQUIRE(it_get("/v5/position/list", kv, 2, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.http, 200);
	T_EQ_INT(it_r.code, 0);
	T_EQ_STR(it_r.msg, "OK");
	T_CHECK(strstr(it_r.body, "\"symbol\":\"BTCUSDT\"") != NULL);
	T_CHECK(it_r.server_ms > 0);
	T_EQ_INT(itpeer_counter("rest_verified", "KEY1"), 1);
	it_events("rest", seq);
	T_EQ_INT(it_event_count(), 1);
	T_CHECK(it_event_has(0, "\"verified\":true"));
	T_CHECK(it_event_has(0, "\"query\":\"category=linear&settleCoin=USDT\""));
	/* the answer's time taught the clock */
	T_CHECK(it_clock.known && it_clock.samples >= 1);
	T_CHECK(it_clock.offset_ms > -1000 && it_clock.offset_ms < 1000);
}

/* ---- (b) three pages by cursor -------------------------------------------- */

#define IT_FILLS 250
static char it_seen[IT_FILLS];
static int it_seen_dup, it_seen_bad;

static int it_on_exec(void *ctx, const struct decode_env *env, const struct decode_exec *r)
{
	int i;

	(void)ctx;
	(void)env;
	if (sscanf(r->exec_id, "it-exec-%d", &i) != 1 || i < 0 || i >= IT_FILLS) {
		it_seen_bad++;
		return 0;
	}
	it_seen_dup += it_seen[i];
	it_seen[i] = 1;
	return 0;
}

static void it_load_fills(void)
{
	char path[600], body[800], out[512];
	int64_t now = loop_sys_real.wall_ms(loop_sys_real.ctx);
	FILE *f;

	snprintf(path, sizeof path, "%s/fills.json", t_tmpdir());
	f = fopen(path, "w");
	T_REQUIRE(f != NULL);
	fputc('[', f);
	for (int i = 0; i < IT_FILLS; i++)
		fprintf(
		    f,
		    "%s{\"symbol\":\"BTCUSDT\",\"execId\":\"it-exec-%03d\",\"orderId\":\"o-%03d\","
		    "\"orderLinkId\":\"bot_1-en-%03d\",\"side\":\"Buy\",\"execType\":\"Trade\","
		    "\"execQty\":\"0.001\",\"execPrice\":\"95000.5\",\"execValue\":\"95.0005\","
		    "\"execFee\":\"0.05\",\"feeRate\":\"0.00055\",\"feeCurrency\":\"USDT\","
		    "\"isMaker\":false,\"execTime\":\"%" PRId64 "\",\"seq\":%d}",
		    i ? "," : "", i, i, i, now - 3600000 + i * 1000, 1000 + i);
	fputc(']', f);
	T_REQUIRE(fclose(f) == 0);
	snprintf(body, sizeof body,
	         "{\"account\":\"KEY1\",\"kind\":\"execution\",\"category\":\"linear\","
	         "\"replace\":true,\"file\":\"%s\"}",
	         path);
	itpeer_ctl("load", body, out, sizeof out);
	T_CHECK(strstr(out, "\"ok\":true") != NULL);
}

static void it_pages(void)
{
	static const struct decode_sink sink = {.on_exec = it_on_exec};
	static char cursor[DECODE_CURSOR_MAX];
	int pages = 0, sizes[5] = {0};
	long seq = it_last_seq();

	it_load_fills();
	memset(it_seen, 0, sizeof it_seen);
	cursor[0] = '\0';
	do {
		struct http_kv kv[] = {
		    {"category", "linear", 0}, {"limit", "100", 0}, {"cursor", cursor, 1}};

		T_REQUIRE(it_get("/v5/execution/list", kv, cursor[0] ? 3 : 2, 1));
		T_REQUIRE(it_r.outcome == REST_OK);
		T_REQUIRE(decode_rest(&it_dec, DECODE_KIND_EXECUTION, it_r.body, it_r.body_len,
		                      &sink) >= 0);
		sizes[pages] = it_dec.env.entries;
		T_EQ_STR(it_r.cursor, it_dec.env.cursor); /* the result hands the cursor too */
		snprintf(cursor, sizeof cursor, "%s", it_r.cursor);
	} while (cursor[0] && ++pages < 5);
	T_EQ_INT(pages, 2); /* the third page has no cursor */
	T_EQ_INT(sizes[0], 100);
	T_EQ_INT(sizes[1], 100);
	T_EQ_INT(sizes[2], 50);
	T_EQ_INT(it_seen_dup, 0);
	T_EQ_INT(it_seen_bad, 0);
	T_CHECK(memchr(it_seen, 0, IT_FILLS) == NULL); /* all 250 seen */
	it_events("rest", seq);
	T_EQ_INT(it_event_count(), 3);
	T_CHECK(!it_event_has(0, "\"cursor\":{"));
	T_CHECK(it_event_has(1, "\"cursor\":{\"verbatim\":true}"));
	T_CHECK(it_event_has(2, "\"cursor\":{\"verbatim\":true}"));
	T_CHECK(it_event_has(1, "&cursor=page_args%3D")); /* sent as received: encoded once */
}

/* ---- (c) chunked ------------------------------------------------------------ */

/* The body up to its "time" (which differs between two answers). */
static size_t it_until_time(const char *body)
{
	const char *t = strstr(body, ",\"time\":");

	return t ? (size_t)(t - body) : strlen(body);
}

static void it_chunked(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"limit", "100", 0}};
	static char plain[HTTP_BODY_MAX + 1];
	size_t n;
	char out[512];
	long seq;

	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	T_REQUIRE(it_r.outcome == REST_OK && it_r.body_len > 10000);
	memcpy(plain, it_r.body, it_r.body_len + 1);
	itpeer_ctl("rest", "{\"mode\":\"chunked\",\"chunk_size\":64}", out, sizeof out);
	seq = it_last_seq();
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	itpeer_ctl("rest", "{\"mode\":\"chunked\",\"chunk_size\":0}", out, sizeof out);
	T_EQ_INT(it_r.outcome, REST_OK);
	n = it_until_time(plain);
	T_EQ_INT(it_until_time(it_r.body), n);
	T_CHECK(memcmp(plain, it_r.body, n) == 0);
	it_events("rest", seq);
	T_CHECK(it_event_has(0, "\"chunked\":true"));
}

/* ---- (d) keep-alive ---------------------------------------------------------- */

static void it_keepalive(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"symbol", "BTCUSDT", 0}};
	uint64_t connects = it_cli.st.connects;
	long tcp = itpeer_counter("rest_tcp", NULL), seq = it_last_seq(), first_req;
	char out[512];
	int64_t t0;

	for (int i = 0; i < 4; i++) {
		T_REQUIRE(i % 2 ? it_get("/v5/market/time", NULL, 0, 0)
		                : it_get("/v5/position/list", kv, 2, 1));
		T_EQ_INT(it_r.outcome, REST_OK);
	}
	T_EQ_INT(it_cli.st.connects, connects);
	T_EQ_INT(itpeer_counter("rest_tcp", NULL), tcp);
	it_events("rest", seq);
	T_EQ_INT(it_event_count(), 4);
	first_req = it_event_int(0, "req");
	for (int i = 0; i < 4; i++) {
		T_EQ_INT(it_event_int(i, "tcp"), it_event_int(0, "tcp"));
		T_EQ_INT(it_event_int(i, "req"), first_req + i);
	}
	/* the public request carried no key */
	T_CHECK(!it_event_has(1, "\"account\":\"KEY1\""));

	/* the server closes the kept-alive connection on the next request, no
	 * byte answered: one retry at once on a new connection */
	itpeer_ctl("rest", "{\"mode\":\"close\",\"count\":1}", out, sizeof out);
	t0 = it_real_mono();
	T_REQUIRE(it_get("/v5/position/list", kv, 2, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.attempts, 2);
	T_EQ_INT(it_cli.st.keepalive_retries, 1);
	T_EQ_INT(it_cli.st.connects, connects + 1);
	T_CHECK(it_real_mono() - t0 < HTTP_RETRY_WAIT_MS / 2); /* no backoff */
	T_CHECK(itpeer_file_has(it_logpath, "kept-alive connection closed by the server"));
}

/* ---- (e) rate limits, 5xx ------------------------------------------------------ */

/* The peer's time between the last two REST events since seq. */
static long it_gap_ms(long seq)
{
	int n;

	it_events("rest", seq);
	n = it_event_count();
	return n >= 2 ? it_event_int(n - 1, "t") - it_event_int(n - 2, "t") : -1;
}

static void it_rate_limits(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"limit", "1", 0}};
	char out[512];
	long seq = it_last_seq();

	/* HTTP 429, announcing the reset 1.2 s ahead */
	itpeer_ctl("rest",
	           "{\"mode\":\"ratelimit\",\"count\":1,\"account\":\"KEY1\",\"reset_ms\":1200}",
	           out, sizeof out);
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.attempts, 2);
	T_EQ_INT(it_cli.st.rate_limited, 1);
	T_EQ_INT(it_cli.st.last_wait_ms, 1200 + REST_RATE_MARGIN_MS);
	T_CHECK(it_gap_ms(seq) >= 1200);
	T_CHECK(itpeer_file_has(it_logpath, "msg=\"REST rate limited\" account=main"));

	/* retCode 10006 in an HTTP 200 */
	seq = it_last_seq();
	itpeer_ctl("rest", "{\"mode\":\"ratelimit\",\"count\":1,\"http\":200,\"reset_ms\":700}",
	           out, sizeof out);
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.attempts, 2);
	T_EQ_INT(it_cli.st.rate_limited, 2);
	T_CHECK(it_gap_ms(seq) >= 700);

	/* HTTP 503: backed off (first failure: 0.5..1 s), then served */
	seq = it_last_seq();
	itpeer_ctl("rest", "{\"mode\":\"error\",\"http\":503,\"count\":1}", out, sizeof out);
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.attempts, 2);
	T_CHECK(it_cli.st.last_wait_ms >= HTTP_RETRY_WAIT_MS / 2 &&
	        it_cli.st.last_wait_ms <= HTTP_RETRY_WAIT_MS);
	T_CHECK(it_gap_ms(seq) >= HTTP_RETRY_WAIT_MS / 2);
}

/* ---- (g) clock skew ------------------------------------------------------------- */

static void it_clock_skew(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"limit", "1", 0}};
	char out[512];
	long seq;

	/* A fresh client and clock, and a 2 s window: a timestamp 3 s behind the
	 * server is refused (10002) until the clock is corrected. */
	rest_close(&it_cli);
	xclock_init(&it_clock, "main");
	T_REQUIRE(
	    rest_init(&it_cli, &it_loop, &it_resolv, &it_anchors, &it_acct, 2000, &it_clock) == 0);
	itpeer_ctl("clock", "{\"skew_ms\":3000}", out, sizeof out);
	seq = it_last_seq();
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	itpeer_ctl("clock", "{\"skew_ms\":0}", out, sizeof out);
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.attempts, 2);
	T_EQ_INT(it_cli.st.ts_resyncs, 1);
	T_CHECK(it_clock.offset_ms > 2700 && it_clock.offset_ms < 3300);
	it_events("rest", seq);
	T_EQ_INT(it_event_count(), 2);
	T_CHECK(it_event_has(0, "\"reason\":\"timestamp_too_old\""));
	T_CHECK(it_event_has(1, "\"verified\":true"));
	/* back to no skew: one more resync, then quiet */
	T_REQUIRE(it_get("/v5/market/time", NULL, 0, 0));
	T_CHECK(it_clock.offset_ms > -300 && it_clock.offset_ms < 300);
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	T_EQ_INT(it_r.attempts, 1);
	T_EQ_INT(it_cli.st.ts_resyncs, 1);
}

/* ---- (h) a permanent error --------------------------------------------------------- */

static void it_unknown_key(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}};

	rest_close(&it_cli);
	itpeer_account(&it_acct_bad, "other", "NOPEKEY", "NOPESECRET");
	T_REQUIRE(rest_init(&it_cli, &it_loop, &it_resolv, &it_anchors, &it_acct_bad, 5000,
	                    &it_clock) == 0);
	T_REQUIRE(it_get("/v5/execution/list", kv, 1, 1));
	T_EQ_INT(it_r.outcome, REST_FAILED);
	T_EQ_INT(it_r.code, 10003);
	T_EQ_STR(it_r.msg, "API key is invalid.");
	T_EQ_INT(it_r.attempts, 1);
	itpeer_run_for(&it_loop, 1000); /* no retry storm behind the callback's back */
	T_EQ_INT(itpeer_counter("rest_requests", "NOPEKEY"), 1);
	T_CHECK(itpeer_file_has(it_logpath, "msg=\"REST request refused\" account=other"));
	rest_close(&it_cli);
	T_REQUIRE(
	    rest_init(&it_cli, &it_loop, &it_resolv, &it_anchors, &it_acct, 5000, &it_clock) == 0);
}

/* ---- (i) a stalled answer; a budget ------------------------------------------------ */

static void it_stall(void)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"limit", "1", 0}};
	char out[512];
	int64_t t0;

	rest_set_io_timeout(&it_cli, 1500);
	itpeer_ctl("rest", "{\"mode\":\"stall\",\"ms\":20000,\"count\":1}", out, sizeof out);
	t0 = it_real_mono();
	T_REQUIRE(it_get("/v5/execution/list", kv, 2, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_EQ_INT(it_r.attempts, 2);
	T_EQ_INT(it_cli.st.timeouts, 1);
	T_CHECK(it_real_mono() - t0 >= 1500 + HTTP_RETRY_WAIT_MS / 2);
	T_CHECK(itpeer_file_has(it_logpath, "reason=timeout"));

	/* a 1 s budget ends a stalled request after 1 s, whatever the I/O timeout */
	itpeer_ctl("rest", "{\"mode\":\"stall\",\"ms\":20000,\"count\":1}", out, sizeof out);
	t0 = it_real_mono();
	T_REQUIRE(it_get_on(&it_loop, &it_cli, "/v5/execution/list", kv, 2, 1, 1000, 5000));
	T_EQ_INT(it_r.outcome, REST_DEADLINE);
	T_EQ_INT(it_r.attempts, 1);
	T_CHECK(it_real_mono() - t0 >= 1000 && it_real_mono() - t0 < 2000);
	T_CHECK(strstr(it_r.msg, "no answer within") != NULL);
	T_EQ_INT(it_cli.st.deadlines, 1);
	rest_set_io_timeout(&it_cli, REST_IO_TIMEOUT_MS);
}

TEST(it_rest_client)
{
	it_setup("KEY1:SECRET1");
	it_signed_position_list();
	it_pages();
	it_chunked();
	it_keepalive();
	it_rate_limits();
	it_clock_skew();
	it_unknown_key();
	it_stall();
	T_CHECK(it_cli.st.state == REST_IDLE && !rest_busy(&it_cli));
	it_teardown();
}

/* ---- (f) an IP ban, on moved clocks ------------------------------------------------- */

/* The real world with both clocks moved by shift_ms. */
struct it_sim {
	int64_t shift_ms;
};

static struct it_sim it_sim;

static int64_t it_sim_mono(void *ctx)
{
	return loop_sys_real.mono_ms(loop_sys_real.ctx) + ((struct it_sim *)ctx)->shift_ms;
}

static int64_t it_sim_wall(void *ctx)
{
	return loop_sys_real.wall_ms(loop_sys_real.ctx) + ((struct it_sim *)ctx)->shift_ms;
}

static int it_sim_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	(void)ctx;
	return loop_sys_real.poll(loop_sys_real.ctx, fds, n, timeout_ms);
}

static ssize_t it_sim_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	return loop_sys_real.read(loop_sys_real.ctx, fd, buf, n);
}

static ssize_t it_sim_write(void *ctx, int fd, const void *buf, size_t n)
{
	(void)ctx;
	return loop_sys_real.write(loop_sys_real.ctx, fd, buf, n);
}

static int it_sim_close(void *ctx, int fd)
{
	(void)ctx;
	return loop_sys_real.close(loop_sys_real.ctx, fd);
}

static const struct loop_sys it_sim_sys = {it_sim_mono,  it_sim_wall,  it_sim_poll, it_sim_read,
                                           it_sim_write, it_sim_close, &it_sim};

static struct loop it_sim_loop;
static struct resolv it_sim_resolv;

TEST(it_rest_ban)
{
	static const struct http_kv kv[] = {{"category", "linear", 0}, {"limit", "1", 0}};
	char out[512];
	uint64_t before;
	long sent;
	int64_t left;

	it_setup("KEY1:SECRET1");
	rest_close(&it_cli);
	it_sim.shift_ms = 0;
	loop_init(&it_sim_loop, &it_sim_sys);
	T_REQUIRE(resolv_init(&it_sim_resolv, &it_sim_loop, NULL, NULL) == 0);
	T_REQUIRE(rest_init(&it_cli, &it_sim_loop, &it_sim_resolv, &it_anchors, &it_acct, 5000,
	                    &it_clock) == 0);
	/* warm up: a connection and a clock */
	T_REQUIRE(it_get_on(&it_sim_loop, &it_cli, "/v5/execution/list", kv, 2, 1, 0, 10000));
	T_EQ_INT(it_r.outcome, REST_OK);

	itpeer_ctl("rest", "{\"mode\":\"ban\",\"count\":1}", out, sizeof out);
	before = it_r.done;
	T_REQUIRE(rest_get(&it_cli, "/v5/execution/list", kv, 2, 1, 0, it_on_done, &it_r) == 0);
	T_CHECK(itpeer_run_until(&it_sim_loop, &it_cli.st.bans, 1, 5000));
	T_EQ_INT(it_cli.st.state, REST_BANNED);
	T_EQ_INT(it_cli.st.last_http_status, 403);
	left = rest_ban_left_ms(&it_cli);
	T_CHECK(left > HTTP_BAN_WAIT_MS - 2000 && left <= HTTP_BAN_WAIT_MS);
	T_EQ_INT(it_cli.fd, -1); /* the connection is gone: nothing can be sent */
	T_CHECK(itpeer_file_has(it_logpath, "msg=\"REST IP ban: sending nothing until it ends\" "
	                                    "account=main"));
	sent = itpeer_counter("rest_requests", NULL);

	/* 9 min 59 s later (one second of the ban left): still nothing */
	it_sim.shift_ms += rest_ban_left_ms(&it_cli) - 1000;
	itpeer_run_for(&it_sim_loop, 600);
	T_EQ_INT(itpeer_counter("rest_requests", NULL), sent);
	T_EQ_INT(it_cli.st.state, REST_BANNED);
	T_EQ_INT(it_r.done, before);

	/* past 10 min: sent, and served. The wall clock moved 10 min too, so
	 * the first timestamp is 10 min ahead: the 10002 answer corrects it. */
	it_sim.shift_ms += 2000;
	T_CHECK(itpeer_run_until(&it_sim_loop, &it_r.done, before + 1, 8000));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_CHECK(itpeer_counter("rest_requests", NULL) > sent);
	T_EQ_INT(it_cli.st.bans, 1);
	T_CHECK(it_clock.offset_ms < -(HTTP_BAN_WAIT_MS - 5000));

	rest_close(&it_cli);
	resolv_close(&it_sim_resolv);
	T_REQUIRE(
	    rest_init(&it_cli, &it_loop, &it_resolv, &it_anchors, &it_acct, 5000, &it_clock) == 0);
	it_teardown();
}

/* ---- check --connect -------------------------------------------------------------- */

#define IT_CK_KEY "CHECKKEY00000001"
#define IT_CK_SECRET "CHECKSECRET000000000001"
#define IT_CK_WRONG "WRONGSECRET0000000000"

static void it_write_conf(const char *path, int with_bad)
{
	FILE *f = fopen(path, "w");

	T_REQUIRE(f != NULL);
	fprintf(f,
	        "[exchange]\nws_url = wss://localhost:%d/v5/private\n"
	        "rest_url = https://localhost:%d\nca_file = %s/ca.pem\n\n"
	        "[account main]\napi_key = %s\napi_secret = %s\n\n",
	        itpeer.ws_port, itpeer.rest_port, itpeer.dir, IT_CK_KEY, IT_CK_SECRET);
	if (with_bad)
		fprintf(f, "[account bad]\napi_key = %s\napi_secret = %s\n\n", IT_CK_KEY,
		        IT_CK_WRONG);
	/* check --connect tries PostgreSQL and Redis too: the test services' */
	fprintf(f, "[bot alpha]\naccount = main\n\n[postgres]\n"
	           "conninfo = host=%s port=%s dbname=%s user=%s\npassword = env:FR_TEST_PGPASSWORD\n\n"
	           "[redis]\nhost = %s\nport = %s\npassword = env:FR_TEST_REDIS_PASSWORD\n",
	        getenv("FR_TEST_PGHOST"), getenv("FR_TEST_PGPORT"), getenv("FR_TEST_PGDATABASE"),
	        getenv("FR_TEST_PGUSER"), getenv("FR_TEST_REDIS_HOST"), getenv("FR_TEST_REDIS_PORT"));
	T_REQUIRE(fclose(f) == 0);
	chmod(path, 0600);
}

/* Runs the binary; its stdout and stderr in out, the exit status returned. */
static int it_run_check(const char *bin, const char *conf, char *out, size_t cap)
{
	char cmd[1200];
	int st;

	/* the kernel may have no binfmt entry for another architecture */
	snprintf(cmd, sizeof cmd, "timeout 60 %s %s check -c %s --connect 2>&1", itpeer_exec_wrap(),
	         bin, conf);
	st = itpeer_sh(cmd, out, cap);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(it_rest_check_connect)
{
	static char out[1 << 16];
	char bin[300], conf[600];
	const char *line, *off;
	int rc;

	it_setup("KEY1:SECRET1," IT_CK_KEY ":" IT_CK_SECRET);
	/* The REST side of the check, in both builds: the key query over rest.h */
	T_REQUIRE(it_get("/v5/user/query-api", NULL, 0, 1));
	T_EQ_INT(it_r.outcome, REST_OK);
	T_CHECK(strstr(it_r.body, "\"apiKey\":\"KEY1\"") && strstr(it_r.body, "\"readOnly\":1"));

	/* The binary exists only in the product build (build/x86_64/fillrelay);
	 * the ASan flavour builds test binaries only, so it skips this part, as
	 * does a run outside tests/services.sh (PostgreSQL and Redis are checked
	 * too: tests/it_verbs.c covers that side). */
	snprintf(bin, sizeof bin, "%s", itpeer_product_bin());
	if (!getenv("FR_TEST_PGHOST") || !getenv("FR_TEST_REDIS_HOST")) {
		printf("    (check --connect: FR_TEST_* unset, skipped: run under tests/services.sh)\n");
		it_teardown();
		return;
	}
	if (!bin[0]) {
		printf("    (check --connect: no product binary in %s, skipped)\n", FR_OBJ_DIR);
		it_teardown();
		return;
	}

	/* a good key, the exchange 1.5 s ahead */
	itpeer_ctl("clock", "{\"skew_ms\":1500}", out, sizeof out);
	snprintf(conf, sizeof conf, "%s/check_good.conf", t_tmpdir());
	it_write_conf(conf, 0);
	rc = it_run_check(bin, conf, out, sizeof out);
	T_EQ_INT(rc, 0);
	line = strstr(out, "account main: rest ok (key works, read-only, expires ");
	T_CHECK(line != NULL);
	T_CHECK(strstr(out, "stream ok (authenticated, subscribed "
	                    "execution,order,position,wallet)\n") != NULL);
	off = strstr(out, "clock offset +");
	T_CHECK(off && atol(off + 14) > 1300 && atol(off + 14) < 1700);
	T_CHECK(strstr(out, "\npostgres: ok (") != NULL && strstr(out, "\nredis: ok (") != NULL);
	T_CHECK(!strstr(out, IT_CK_SECRET));
	if (!line)
		printf("    output:\n%s\n", out);
	itpeer_ctl("clock", "{\"skew_ms\":0}", out, sizeof out);

	/* plus an account with a wrong secret: both lines, exit 69 */
	snprintf(conf, sizeof conf, "%s/check_bad.conf", t_tmpdir());
	it_write_conf(conf, 1);
	rc = it_run_check(bin, conf, out, sizeof out);
	T_EQ_INT(rc, 69);
	T_CHECK(strstr(out, "account main: rest ok (") != NULL);
	line = strstr(out, "account bad: rest FAILED (key refused: retCode 10004: error sign!");
	T_CHECK(line != NULL);
	T_CHECK(line && strstr(line, "stream FAILED (auth refused: ") != NULL);
	T_CHECK(!strstr(out, IT_CK_SECRET) && !strstr(out, IT_CK_WRONG));
	T_CHECK(!strstr(out, IT_CK_KEY)); /* the key is redacted too (10004 quotes it) */
	if (!line)
		printf("    output:\n%s\n", out);
	it_teardown();
}
