/*
 * it_backfill.c -- backfill.h against the local Bybit peer (tests/peer/).
 *
 *   it_backfill_walk:     1,000 linear fills over 20 days and 50 spot fills:
 *                         every execId delivered exactly once, three windows
 *                         per category, none over 7 days, contiguous, every
 *                         request verified, no 10001, cursors verbatim.
 *   it_backfill_full_page: cursor_on_full_page: 200 fills in one window, the
 *                         extra empty page handled, exactly once.
 *   it_backfill_pause:    on_page refuses one page mid-way: paused, resumed,
 *                         the same page asked again, exactly once overall.
 *   it_backfill_ratelimit: two 429s mid-way: waited out, exactly once.
 *   it_backfill_order:    an order found in the history; one only in realtime
 *                         (fallback); an unknown one (empty realtime page).
 *   it_backfill_positions: 250 open and 30 flat positions by settleCoin: two
 *                         pages, flat ones left out; by symbol a flat one in.
 *   it_backfill_failures: a 10001 ends the job FR_EPROTO with the retMsg; a
 *                         stalled exchange ends it FR_ETIMEDOUT on the budget.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "decode.h"
#include "itpeer.h"
#include "log.h"
#include "rest.h"
#include "t.h"

#define DAY_MS (24LL * 3600 * 1000)
#define LIN_N 1000
#define SPOT_N 50

static struct loop b_loop;
static struct resolv b_resolv;
static struct pem_ta_store b_anchors;
static struct cfg_account b_acct;
static struct xclock b_clock;
static struct rest_client b_rest;
static struct backfill b_bf;
static struct decode b_dec;

/* ---- the sink ------------------------------------------------------------ */

struct b_sink {
	unsigned char lin[LIN_N], spot[SPOT_N];
	int dup, bad, wrong_cat;
	int pages, empty_pages;
	int refuse_at; /* refuse page number refuse_at (1-based) once; 0: never */
	int rule_at;   /* at page rule_at, set the peer's 429 rule */
	uint64_t done; /* on_done calls */
	int status;
	struct backfill_stats st;
	char category[16]; /* of the current page */
	/* order / position pages */
	char last_body[4096];
	int pos_seen[300];
	/* execTime order across pages: a page older than one handed on before */
	int64_t page_min, page_max, prev_max;
	int out_of_order;
};

static struct b_sink bs;

static int b_on_exec(void *ctx, const struct decode_env *env, const struct decode_exec *r)
{
	int i;

	(void)ctx;
	(void)env;
	if (!bs.page_min || r->exec_time_ms < bs.page_min)
		bs.page_min = r->exec_time_ms;
	if (r->exec_time_ms > bs.page_max)
		bs.page_max = r->exec_time_ms;
	if (sscanf(r->exec_id, "lin-%d", &i) == 1 && i >= 0 && i < LIN_N) {
		bs.wrong_cat += strcmp(bs.category, "linear") != 0;
		bs.dup += bs.lin[i];
		bs.lin[i] = 1;
	} else if (sscanf(r->exec_id, "spt-%d", &i) == 1 && i >= 0 && i < SPOT_N) {
		bs.wrong_cat += strcmp(bs.category, "spot") != 0;
		bs.dup += bs.spot[i];
		bs.spot[i] = 1;
	} else {
		bs.bad++;
	}
	return 0;
}

static void b_set_429(void);

static int b_on_page(void *ctx, const char *account, const char *category, const char *body,
                     size_t len)
{
	static const struct decode_sink sink = {.on_exec = b_on_exec};

	(void)ctx;
	bs.wrong_cat += strcmp(account, "main") != 0;
	if (bs.refuse_at && bs.pages + 1 == bs.refuse_at) {
		bs.refuse_at = 0; /* once */
		return FR_EAGAIN;
	}
	bs.pages++;
	if (bs.rule_at && bs.pages == bs.rule_at)
		b_set_429();
	snprintf(bs.category, sizeof bs.category, "%s", category);
	bs.page_min = bs.page_max = 0;
	if (decode_rest(&b_dec, DECODE_KIND_EXECUTION, body, len, &sink) < 0)
		bs.bad++;
	bs.empty_pages += b_dec.env.entries == 0;
	if (b_dec.env.entries > 0) {
		bs.out_of_order += bs.page_min < bs.prev_max;
		if (bs.page_max > bs.prev_max)
			bs.prev_max = bs.page_max;
	}
	return 0;
}

static void b_on_done(void *ctx, int status, const struct backfill_stats *st)
{
	(void)ctx;
	bs.status = status;
	bs.st = *st;
	bs.done++;
}

static void b_reset_sink(void)
{
	memset(&bs, 0, sizeof bs);
	bs.status = 99;
}

static int b_run(int timeout_ms)
{
	return itpeer_run_until(&b_loop, &bs.done, 1, timeout_ms);
}

/* ---- the peer's events --------------------------------------------------- */

static char b_ev[1 << 20];

static long b_events(const char *type, long since)
{
	char body[128];
	const char *p;

	snprintf(body, sizeof body, "{\"type\":\"%s\",\"since\":%ld,\"limit\":2000}", type, since);
	itpeer_ctl("events", body, b_ev, sizeof b_ev);
	p = strstr(b_ev, "\"last_event_seq\":");
	return p ? atol(p + 17) : -1;
}

static long b_last_seq(void)
{
	return b_events("none", 0);
}

/* Event i's text [*s, *e); 0 past the last. */
static int b_event(int i, const char **s, const char **e)
{
	const char *p = b_ev;

	for (int k = 0; k <= i; k++) {
		p = strstr(p, "{\"seq\":");
		if (!p)
			return 0;
		if (k < i)
			p++;
	}
	*s = p;
	*e = strstr(p + 1, "{\"seq\":");
	if (!*e)
		*e = p + strlen(p);
	return 1;
}

static int b_event_count(void)
{
	const char *s, *e;
	int n = 0;

	while (b_event(n, &s, &e))
		n++;
	return n;
}

static int b_event_has(int i, const char *text)
{
	const char *s, *e, *f;

	if (!b_event(i, &s, &e))
		return 0;
	f = strstr(s, text);
	return f && f < e;
}

/* The "window":[lo,hi] of event i; 0 when it has none. */
static int b_event_window(int i, int64_t *lo, int64_t *hi)
{
	const char *s, *e, *f;

	if (!b_event(i, &s, &e))
		return 0;
	f = strstr(s, "\"window\":[");
	if (!f || f > e)
		return 0;
	return sscanf(f + 10, "%" SCNd64 " , %" SCNd64, lo, hi) == 2;
}

/* Every REST event since seq: verified, retCode 0, cursors verbatim; returns
 * the number of events, -1 when one is not so. */
static int b_events_clean(long seq)
{
	int n;

	b_events("rest", seq);
	n = b_event_count();
	for (int i = 0; i < n; i++) {
		if (!b_event_has(i, "\"verified\":true") || !b_event_has(i, "\"retCode\":0") ||
		    b_event_has(i, "\"verbatim\":false"))
			return -1;
	}
	return n;
}

static int b_events_with(const char *text)
{
	int n = 0;

	for (int i = 0, m = b_event_count(); i < m; i++)
		n += b_event_has(i, text);
	return n;
}

/* ---- data ---------------------------------------------------------------- */

static int64_t b_peer_now(void)
{
	char out[256];
	const char *p;

	itpeer_ctl("health", "{}", out, sizeof out);
	p = strstr(out, "\"now_ms\":");
	return p ? strtoll(p + 9, NULL, 10) : 0;
}

/* Loads n fills "<prefix>-NNNN" of category, execTime t0 + i * step. */
static void b_load_fills(const char *category, const char *prefix, int n, int64_t t0, int64_t step,
                         int replace)
{
	char path[600], body[800], out[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/fills-%s.json", t_tmpdir(), category);
	f = fopen(path, "w");
	T_REQUIRE(f != NULL);
	fputc('[', f);
	for (int i = 0; i < n; i++)
		fprintf(f,
		        "%s{\"symbol\":\"BTCUSDT\",\"execId\":\"%s-%04d\",\"orderId\":\"o-%04d\","
		        "\"orderLinkId\":\"bot_1-en-%04d\",\"side\":\"Buy\",\"execType\":\"Trade\","
		        "\"execQty\":\"0.001\",\"execPrice\":\"95000.5\",\"execValue\":\"95.0005\","
		        "\"execFee\":\"0.05\",\"feeRate\":\"0.00055\",\"feeCurrency\":\"USDT\","
		        "\"isMaker\":false,\"execTime\":\"%" PRId64 "\",\"seq\":%d}",
		        i ? "," : "", prefix, i, i, i, t0 + i * step, 1000 + i);
	fputc(']', f);
	T_REQUIRE(fclose(f) == 0);
	snprintf(body, sizeof body,
	         "{\"account\":\"KEY1\",\"kind\":\"execution\",\"category\":\"%s\","
	         "\"replace\":%s,\"file\":\"%s\"}",
	         category, replace ? "true" : "false", path);
	itpeer_ctl("load", body, out, sizeof out);
	T_REQUIRE(strstr(out, "\"ok\":true") != NULL);
}

static int b_all_seen(const unsigned char *seen, int n)
{
	return memchr(seen, 0, (size_t)n) == NULL;
}

/* ---- set-up ---------------------------------------------------------------- */

static char b_logpath[600];
static int b_logfd = -1;

static void b_setup(void)
{
	char path[600];

	signal(SIGPIPE, SIG_IGN);
	T_REQUIRE(itpeer_start("KEY1:SECRET1", "") == 0);
	snprintf(b_logpath, sizeof b_logpath, "%s/backfill.log", itpeer.dir);
	b_logfd = open(b_logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	T_REQUIRE(b_logfd >= 0);
	log_setup(b_logfd, LOG_DEBUG, loop_sys_real.wall_ms, loop_sys_real.ctx);
	log_secrets_clear();
	log_secret_add("SECRET1");
	loop_init(&b_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&b_resolv, &b_loop, NULL, NULL) == 0);
	pem_ta_init(&b_anchors);
	snprintf(path, sizeof path, "%s/ca.pem", itpeer.dir);
	T_REQUIRE(pem_ta_load_file(&b_anchors, path) >= 1);
	itpeer_account(&b_acct, "main", "KEY1", "SECRET1");
	xclock_init(&b_clock, "main");
	T_REQUIRE(rest_init(&b_rest, &b_loop, &b_resolv, &b_anchors, &b_acct, 5000, &b_clock) == 0);
	backfill_init(&b_bf, &b_rest);
	/* the tests below check the cursor walk of whole windows; the split
	 * into oldest-first windows has its own (it_backfill_oldest_first) */
	backfill_set_oldest_first(&b_bf, 0);
	b_reset_sink();
}

static void b_teardown(void)
{
	char path[600];

	backfill_cancel(&b_bf);
	rest_close(&b_rest);
	resolv_close(&b_resolv);
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	log_secrets_clear();
	if (b_logfd >= 0)
		close(b_logfd);
	b_logfd = -1;
	T_CHECK(!itpeer_file_has(b_logpath, "SECRET1"));
	T_CHECK(!itpeer_file_has(b_logpath, "page_args")); /* no cursor logged */
	itpeer_stop();
	snprintf(path, sizeof path, "%s/peer.log", itpeer.dir);
	T_CHECK(!itpeer_file_has(path, "Traceback"));
}

/* ---- (1) 20 days, two categories ---------------------------------------- */

/* Checks the windows of the REST events (one category's requests in a row):
 * 3 distinct, each <= 7 days, the first from since, contiguous. */
static void b_check_windows(int first, int count, int64_t since)
{
	int64_t lo, hi, prev_lo = -1, prev_hi = since - 1;
	int windows = 0;

	for (int i = first; i < first + count; i++) {
		T_REQUIRE(b_event_window(i, &lo, &hi));
		T_CHECK(hi - lo <= BACKFILL_WINDOW_MS);
		if (lo == prev_lo)
			continue;          /* the next page of the same window */
		T_EQ_INT(lo, prev_hi + 1); /* no gap, no overlap */
		prev_lo = lo;
		prev_hi = hi;
		windows++;
	}
	T_EQ_INT(windows, 3);
}

TEST(it_backfill_walk)
{
	int64_t now, since;
	long seq;
	int n, lin_events;

	b_setup();
	now = b_peer_now();
	T_REQUIRE(now > 0);
	since = now - 20 * DAY_MS - 60000;
	b_load_fills("linear", "lin", LIN_N, now - 20 * DAY_MS, 20 * DAY_MS / LIN_N, 1);
	b_load_fills("spot", "spt", SPOT_N, now - 20 * DAY_MS + 7, 20 * DAY_MS / SPOT_N, 1);
	seq = b_last_seq();
	T_EQ_INT(backfill_start(&b_bf, CFG_CAT_LINEAR | CFG_CAT_SPOT, since, 0, b_on_page,
	                        b_on_done, NULL),
	         0);
	T_CHECK(backfill_busy(&b_bf));
	T_EQ_INT(backfill_start(&b_bf, CFG_CAT_LINEAR, since, 0, b_on_page, b_on_done, NULL),
	         FR_EAGAIN);
	T_REQUIRE(b_run(20000));
	T_EQ_INT(bs.status, 0);
	T_CHECK(!backfill_busy(&b_bf));
	T_EQ_INT(bs.dup, 0);
	T_EQ_INT(bs.bad, 0);
	T_EQ_INT(bs.wrong_cat, 0);
	T_CHECK(b_all_seen(bs.lin, LIN_N));
	T_CHECK(b_all_seen(bs.spot, SPOT_N));
	T_EQ_INT(bs.st.fills, LIN_N + SPOT_N);
	T_EQ_INT(bs.st.windows, 6);
	T_EQ_INT(bs.st.pages, bs.pages);
	T_EQ_INT(bs.st.requests, bs.pages);
	T_EQ_INT(bs.st.retries, 0);
	T_EQ_INT(bs.st.ret_code, 0);

	n = b_events_clean(seq);
	T_EQ_INT(n, bs.pages); /* all verified, none refused */
	T_EQ_INT(b_events_with("\"retCode\":10001"), 0);
	T_EQ_INT(b_events_with("/v5/execution/list"), n);
	lin_events = b_events_with("category=linear");
	T_EQ_INT(lin_events + b_events_with("category=spot"), n);
	/* linear first (bit order), then spot */
	T_CHECK(lin_events > 0 && b_event_has(0, "category=linear") &&
	        b_event_has(lin_events, "category=spot"));
	b_check_windows(0, lin_events, since);
	b_check_windows(lin_events, n - lin_events, since);
	/* every page after a window's first carried its cursor back, verbatim */
	T_EQ_INT(b_events_with("\"cursor\":{\"verbatim\":true}"), n - 6);
	T_EQ_INT(b_events_with("&cursor=page_args%3D"), n - 6);
	T_EQ_INT(b_events_with("&limit=100"), n);
	b_teardown();
}

/* ---- (1b) oldest first ------------------------------------------------------ */

/* 350 fills over 6 minutes in a 2-hour walk: windows holding more than a
 * page are asked again as their older half, so every page handed on is no
 * older than the ones before (Bybit lists a window newest first); 150 more
 * in one single millisecond cannot be split: cursor paging, none lost. */
TEST(it_backfill_oldest_first)
{
	int64_t now;
	long seq;

	b_setup();
	backfill_set_oldest_first(&b_bf, 1);
	now = b_peer_now();
	b_load_fills("linear", "lin", 350, now - 3600000, 1000, 1);
	seq = b_last_seq();
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	T_REQUIRE(b_run(20000));
	printf("    350 fills: %d pages, %llu splits, %llu requests, %llu windows\n", bs.pages,
	       (unsigned long long)bs.st.splits, (unsigned long long)bs.st.requests,
	       (unsigned long long)bs.st.windows);
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.dup, 0);
	T_EQ_INT(bs.bad, 0);
	T_CHECK(b_all_seen(bs.lin, 350));
	T_EQ_INT(bs.out_of_order, 0);
	T_CHECK(bs.st.splits >= 3);
	T_EQ_INT(bs.st.fills, 350);
	T_EQ_INT(bs.st.requests, (uint64_t)bs.pages + bs.st.splits);
	T_EQ_INT(b_events_clean(seq), (int)bs.st.requests);
	T_EQ_INT(b_events_with("&cursor="), 0); /* every window fitted a page */

	b_reset_sink();
	b_load_fills("linear", "lin", 150, now - 1800000, 0, 1); /* one millisecond */
	seq = b_last_seq();
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	T_REQUIRE(b_run(20000));
	printf("    150 fills in 1 ms: %d pages, %llu splits, %llu requests\n", bs.pages,
	       (unsigned long long)bs.st.splits, (unsigned long long)bs.st.requests);
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.dup, 0);
	T_CHECK(b_all_seen(bs.lin, 150));
	T_EQ_INT(bs.out_of_order, 0);
	T_EQ_INT(b_events_clean(seq), (int)bs.st.requests);
	T_CHECK(b_events_with("&cursor=") >= 1); /* the millisecond's second page */
	b_teardown();
}

/* ---- (2) a cursor on a full last page ----------------------------------- */

TEST(it_backfill_full_page)
{
	char out[512];
	int64_t now;
	long seq;

	b_setup();
	now = b_peer_now();
	b_load_fills("linear", "lin", 200, now - 3600000, 1000, 1);
	itpeer_ctl("config", "{\"cursor_on_full_page\":true}", out, sizeof out);
	seq = b_last_seq();
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	T_REQUIRE(b_run(10000));
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.dup, 0);
	T_EQ_INT(bs.bad, 0);
	T_CHECK(b_all_seen(bs.lin, 200));
	T_EQ_INT(bs.pages, 3); /* 100, 100, then the empty page the cursor promised */
	T_EQ_INT(bs.empty_pages, 1);
	T_EQ_INT(bs.st.fills, 200);
	T_EQ_INT(bs.st.windows, 1);
	T_EQ_INT(b_events_clean(seq), 3);
	b_teardown();
}

/* ---- (3) back-pressure ------------------------------------------------------ */

TEST(it_backfill_pause)
{
	int64_t now;
	long seq;
	int n;

	b_setup();
	now = b_peer_now();
	b_load_fills("linear", "lin", 350, now - 3600000, 1000, 1);
	bs.refuse_at = 2;
	seq = b_last_seq();
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	/* the second page is refused: paused, nothing more is sent */
	for (int i = 0; i < 200 && !backfill_paused(&b_bf); i++)
		loop_run_once(&b_loop, 50);
	T_REQUIRE(backfill_paused(&b_bf));
	T_EQ_INT(bs.pages, 1);
	itpeer_run_for(&b_loop, 300);
	T_EQ_INT(bs.done, 0);
	T_EQ_INT(b_rest.st.requests, 2);
	T_EQ_INT(backfill_resume(&b_bf), 0);
	T_EQ_INT(backfill_resume(&b_bf), FR_EINVAL);
	T_REQUIRE(b_run(10000));
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.dup, 0);
	T_EQ_INT(bs.bad, 0);
	T_CHECK(b_all_seen(bs.lin, 350));
	T_EQ_INT(bs.pages, 4);
	T_EQ_INT(bs.st.pages, 4);
	T_EQ_INT(bs.st.pauses, 1);
	T_EQ_INT(bs.st.requests, 5); /* the refused page was asked twice */
	T_EQ_INT(bs.st.fills, 350);
	n = b_events_clean(seq);
	T_EQ_INT(n, 5);
	/* the second and third requests are the same page */
	{
		const char *s1, *e1, *s2, *e2, *q1, *q2;
		T_REQUIRE(b_event(1, &s1, &e1) && b_event(2, &s2, &e2));
		q1 = strstr(s1, "\"query\":\"");
		q2 = strstr(s2, "\"query\":\"");
		T_REQUIRE(q1 && q2 && q1 < e1 && q2 < e2);
		T_CHECK(strncmp(q1, q2, (size_t)(strchr(q1 + 9, '"') - q1)) == 0);
		T_CHECK(b_event_has(1, "&cursor=page_args"));
	}
	b_teardown();
}

/* ---- (4) rate limited mid-way --------------------------------------------- */

static void b_set_429(void)
{
	char out[256];

	itpeer_ctl("rest",
	           "{\"mode\":\"ratelimit\",\"count\":2,\"account\":\"KEY1\",\"reset_ms\":300}",
	           out, sizeof out);
}

TEST(it_backfill_ratelimit)
{
	int64_t now;
	long seq;

	b_setup();
	now = b_peer_now();
	b_load_fills("linear", "lin", 450, now - 3600000, 1000, 1);
	bs.rule_at = 2;
	seq = b_last_seq();
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	T_REQUIRE(b_run(15000));
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.dup, 0);
	T_EQ_INT(bs.bad, 0);
	T_CHECK(b_all_seen(bs.lin, 450));
	T_EQ_INT(bs.pages, 5);
	T_EQ_INT(bs.st.retries, 2);
	T_EQ_INT(bs.st.requests, 5);
	T_EQ_INT(b_rest.st.rate_limited, 2);
	b_events("rest", seq);
	T_EQ_INT(b_event_count(), 7);
	T_EQ_INT(b_events_with("\"http\":429"), 2);
	T_EQ_INT(b_events_with("\"verbatim\":false"), 0);
	b_teardown();
}

/* ---- (5) order lookups ----------------------------------------------------- */

static int b_on_body(void *ctx, const char *account, const char *category, const char *body,
                     size_t len)
{
	(void)ctx;
	(void)account;
	bs.pages++;
	bs.wrong_cat += strcmp(category, "linear") != 0;
	snprintf(bs.last_body, sizeof bs.last_body, "%.*s", (int)len, body);
	return 0;
}

static void b_order(const char *order_id)
{
	b_reset_sink();
	T_REQUIRE(backfill_order(&b_bf, "linear", order_id, b_on_body, b_on_done, NULL) == 0);
	T_REQUIRE(b_run(10000));
}

TEST(it_backfill_order)
{
	char out[512];
	long seq;

	b_setup();
	itpeer_ctl("load",
	           "{\"account\":\"KEY1\",\"kind\":\"order_history\",\"category\":\"linear\","
	           "\"items\":[{\"orderId\":\"oh-1\",\"orderLinkId\":\"bot1-en-hist\","
	           "\"symbol\":\"BTCUSDT\",\"orderStatus\":\"Filled\",\"createdTime\":"
	           "\"1763500000000\"}]}",
	           out, sizeof out);
	itpeer_ctl("load",
	           "{\"account\":\"KEY1\",\"kind\":\"order_realtime\",\"category\":\"linear\","
	           "\"items\":[{\"orderId\":\"or-1\",\"orderLinkId\":\"bot1-en-open\","
	           "\"symbol\":\"BTCUSDT\",\"orderStatus\":\"PartiallyFilled\",\"createdTime\":"
	           "\"1763500000000\"}]}",
	           out, sizeof out);

	seq = b_last_seq();
	b_order("oh-1");
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.pages, 1);
	T_CHECK(strstr(bs.last_body, "\"orderLinkId\":\"bot1-en-hist\"") != NULL);
	T_EQ_INT(bs.st.requests, 1);
	T_EQ_INT(bs.st.fills, 1);
	T_EQ_INT(b_events_clean(seq), 1);
	T_CHECK(b_event_has(0, "\"path\":\"/v5/order/history\""));
	T_CHECK(b_event_has(0, "\"query\":\"category=linear&orderId=oh-1\""));

	seq = b_last_seq();
	b_order("or-1"); /* still open: only realtime has it */
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.pages, 1);
	T_CHECK(strstr(bs.last_body, "\"orderLinkId\":\"bot1-en-open\"") != NULL);
	T_EQ_INT(bs.st.requests, 2);
	T_EQ_INT(b_events_clean(seq), 2);
	T_CHECK(b_event_has(0, "\"path\":\"/v5/order/history\""));
	T_CHECK(b_event_has(1, "\"path\":\"/v5/order/realtime\""));

	b_order("nobody"); /* neither: the empty realtime page, status 0 */
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.pages, 1);
	T_EQ_INT(bs.st.fills, 0);
	T_CHECK(strstr(bs.last_body, "\"list\":[]") != NULL);
	T_EQ_INT(bs.wrong_cat, 0);
	b_teardown();
}

/* ---- (6) positions ---------------------------------------------------------- */

static int b_on_pos(void *ctx, const char *account, const char *category, const char *body,
                    size_t len)
{
	const char *p = body, *end = body + len;
	int i;

	(void)ctx;
	(void)account;
	(void)category;
	bs.pages++;
	while ((p = strstr(p, "\"symbol\":\"P")) != NULL && p < end) {
		if (sscanf(p, "\"symbol\":\"P%dUSDT\"", &i) == 1 && i >= 0 && i < 300)
			bs.pos_seen[i]++;
		p++;
	}
	return 0;
}

TEST(it_backfill_positions)
{
	char out[512], path[600], body[800];
	long seq;
	int open_ok = 1, flat_none = 1;
	FILE *f;

	b_setup();
	snprintf(path, sizeof path, "%s/positions.json", t_tmpdir());
	f = fopen(path, "w");
	T_REQUIRE(f != NULL);
	fputc('[', f);
	for (int i = 0; i < 280; i++) /* 250 open, 30 flat */
		fprintf(f,
		        "%s{\"symbol\":\"P%03dUSDT\",\"positionIdx\":0,\"size\":\"%s\","
		        "\"side\":\"%s\",\"seq\":%d}",
		        i ? "," : "", i, i < 250 ? "0.5" : "0", i < 250 ? "Buy" : "", 100 + i);
	fputc(']', f);
	T_REQUIRE(fclose(f) == 0);
	snprintf(body, sizeof body,
	         "{\"account\":\"KEY1\",\"kind\":\"position\",\"category\":\"linear\","
	         "\"file\":\"%s\"}",
	         path);
	itpeer_ctl("load", body, out, sizeof out);
	T_REQUIRE(strstr(out, "\"ok\":true") != NULL);

	seq = b_last_seq();
	b_reset_sink();
	T_EQ_INT(backfill_positions(&b_bf, "linear", "USDT", NULL, b_on_pos, b_on_done, NULL), 0);
	T_REQUIRE(b_run(10000));
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.pages, 2); /* 200 + 50 */
	T_EQ_INT(bs.st.fills, 250);
	for (int i = 0; i < 280; i++) {
		open_ok &= i >= 250 || bs.pos_seen[i] == 1;
		flat_none &= i < 250 || bs.pos_seen[i] == 0;
	}
	T_CHECK(open_ok);
	T_CHECK(flat_none);
	T_EQ_INT(b_events_clean(seq), 2);
	T_CHECK(b_event_has(0, "\"query\":\"category=linear&settleCoin=USDT&limit=200\""));
	T_CHECK(b_event_has(1, "&cursor=page_args"));

	/* by symbol a flat position is returned */
	b_reset_sink();
	T_EQ_INT(backfill_positions(&b_bf, "linear", NULL, "P260USDT", b_on_pos, b_on_done, NULL),
	         0);
	T_REQUIRE(b_run(10000));
	T_EQ_INT(bs.status, 0);
	T_EQ_INT(bs.pages, 1);
	T_EQ_INT(bs.pos_seen[260], 1);
	T_EQ_INT(bs.st.fills, 1);
	b_teardown();
}

/* ---- (7) failures ------------------------------------------------------------- */

TEST(it_backfill_failures)
{
	char out[512];
	int64_t now, t0;

	b_setup();
	now = b_peer_now();
	b_load_fills("linear", "lin", 10, now - 3600000, 1000, 1);

	/* refused for good: FR_EPROTO with the exchange's words */
	itpeer_ctl("rest",
	           "{\"mode\":\"error\",\"retCode\":10001,\"retMsg\":\"params error: test\","
	           "\"count\":1}",
	           out, sizeof out);
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	T_REQUIRE(b_run(10000));
	T_EQ_INT(bs.status, FR_EPROTO);
	T_EQ_INT(bs.st.ret_code, 10001);
	T_CHECK(strstr(bs.st.ret_msg, "params error: test") != NULL);
	T_EQ_INT(bs.pages, 0);
	T_CHECK(itpeer_file_has(b_logpath, "backfill failed"));

	/* a dead exchange: the request budget ends the job */
	b_reset_sink();
	backfill_set_budget(&b_bf, 1500);
	rest_set_io_timeout(&b_rest, 1000);
	itpeer_ctl("rest", "{\"mode\":\"stall\",\"ms\":20000,\"count\":-1}", out, sizeof out);
	t0 = loop_sys_real.mono_ms(loop_sys_real.ctx);
	T_EQ_INT(
	    backfill_start(&b_bf, CFG_CAT_LINEAR, now - 7200000, 0, b_on_page, b_on_done, NULL), 0);
	T_REQUIRE(b_run(10000));
	T_EQ_INT(bs.status, FR_ETIMEDOUT);
	T_CHECK(loop_sys_real.mono_ms(loop_sys_real.ctx) - t0 < 5000);
	T_EQ_INT(bs.pages, 0);
	T_CHECK(!backfill_busy(&b_bf));
	itpeer_ctl("rest", "{\"mode\":\"clear\"}", out, sizeof out);
	b_teardown();
}
