/*
 * test_backfill.c -- backfill.h's pure parts (windows, queries, category
 * names) and the job checks that need no network.
 */
#include <stdio.h>
#include <string.h>

#include "backfill.h"
#include "cfg.h"
#include "t.h"

#define DAY_MS (24LL * 3600 * 1000)

/* Walks [since, until] as the backfill does; checks every window and returns
 * how many there were (-1 on a gap, an overlap or a window too long). */
static int walk(int64_t since, int64_t until)
{
	int n = 0;
	int64_t prev_end = since - 1;

	for (int64_t t = since; t <= until; n++) {
		int64_t end = backfill_window_end(t, until);

		if (t != prev_end + 1 || end < t || end - t > BACKFILL_WINDOW_MS - 1 || end > until)
			return -1;
		prev_end = end;
		t = end + 1;
		if (n > 1000)
			return -1;
	}
	if (n > 0 && prev_end != until)
		return -1;
	return n;
}

TEST(backfill_windows)
{
	const int64_t t0 = 1763500000000LL;

	T_EQ_INT(backfill_window_count(t0, t0 + 20 * DAY_MS), 3); /* a 20-day outage */
	T_EQ_INT(walk(t0, t0 + 20 * DAY_MS), 3);
	T_EQ_INT(backfill_window_count(t0 + 1, t0), 0); /* since > until: none */
	T_EQ_INT(walk(t0 + 1, t0), 0);
	T_EQ_INT(backfill_window_count(t0, t0), 1); /* one instant */
	T_EQ_INT(walk(t0, t0), 1);
	T_EQ_INT(backfill_window_end(t0, t0), t0);
	/* exactly 7 days of ms fit one window, one more ms needs a second */
	T_EQ_INT(backfill_window_count(t0, t0 + BACKFILL_WINDOW_MS - 1), 1);
	T_EQ_INT(walk(t0, t0 + BACKFILL_WINDOW_MS - 1), 1);
	T_EQ_INT(backfill_window_count(t0, t0 + BACKFILL_WINDOW_MS), 2);
	T_EQ_INT(walk(t0, t0 + BACKFILL_WINDOW_MS), 2);
	T_EQ_INT(backfill_window_end(t0, t0 + 30 * DAY_MS), t0 + 7 * DAY_MS - 1);
	T_EQ_INT(backfill_window_count(t0, t0 + 21 * DAY_MS - 1), 3);
	T_EQ_INT(backfill_window_count(t0, t0 + 21 * DAY_MS), 4);
	T_EQ_INT(walk(t0, t0 + 21 * DAY_MS), 4);
	/* count and walk agree over many odd spans */
	for (int64_t span = 0; span < 60 * DAY_MS; span += 7919LL * 997 * 13) {
		int64_t want = backfill_window_count(t0, t0 + span);
		T_REQUIRE(walk(t0, t0 + span) == want);
	}
	T_EQ_INT(walk(0, 365 * DAY_MS), 53);
}

static void query(char *out, size_t cap, const struct http_kv *kv, size_t n)
{
	int len = http_query_build(out, cap, kv, n);

	if (len < 0)
		snprintf(out, cap, "error %d", len);
}

TEST(backfill_exec_query)
{
	struct http_kv kv[BACKFILL_KV_MAX];
	char nums[2][24], out[1024];
	size_t n;

	n = backfill_exec_query(kv, nums, "linear", 1763500000000LL, 1764104799999LL, "");
	T_EQ_INT(n, 4);
	query(out, sizeof out, kv, n);
	T_EQ_STR(out, "category=linear&startTime=1763500000000&endTime=1764104799999&limit=100");
	/* the cursor goes back verbatim: encoded once, never again */
	n = backfill_exec_query(kv, nums, "spot", 0, 5,
	                        "page_args%3D1763500000000%3Aexec-000150%26symbol%3D%26");
	T_EQ_INT(n, 5);
	query(out, sizeof out, kv, n);
	T_EQ_STR(out, "category=spot&startTime=0&endTime=5&limit=100&cursor="
	              "page_args%3D1763500000000%3Aexec-000150%26symbol%3D%26");
	n = backfill_exec_query(kv, nums, "linear", 1, 2, NULL);
	T_EQ_INT(n, 4);
}

TEST(backfill_arg_query)
{
	struct http_kv kv[BACKFILL_KV_MAX];
	char out[1024];
	size_t n;

	n = backfill_arg_query(kv, "linear", "orderId", "1f0a-b2", "ignored%3D");
	query(out, sizeof out, kv, n);
	T_EQ_STR(out, "category=linear&orderId=1f0a-b2");
	n = backfill_arg_query(kv, "linear", "settleCoin", "USDT", "");
	query(out, sizeof out, kv, n);
	T_EQ_STR(out, "category=linear&settleCoin=USDT&limit=200");
	n = backfill_arg_query(kv, "inverse", "symbol", "BTCUSD", "c%3D1");
	query(out, sizeof out, kv, n);
	T_EQ_STR(out, "category=inverse&symbol=BTCUSD&limit=200&cursor=c%3D1");
}

TEST(backfill_names)
{
	T_EQ_STR(backfill_category_name(CFG_CAT_LINEAR), "linear");
	T_EQ_STR(backfill_category_name(CFG_CAT_INVERSE), "inverse");
	T_EQ_STR(backfill_category_name(CFG_CAT_SPOT), "spot");
	T_EQ_STR(backfill_category_name(CFG_CAT_OPTION), "option");
	T_CHECK(backfill_category_name(CFG_CAT_LINEAR | CFG_CAT_SPOT) == NULL);
	T_CHECK(backfill_category_name(0) == NULL);
	T_EQ_STR(backfill_job_name(BACKFILL_EXEC), "executions");
	T_EQ_STR(backfill_job_name(BACKFILL_IDLE), "idle");
}

/* ---- jobs that never reach the network ---------------------------------- */

static struct loop u_loop;
static struct resolv u_resolv;
static struct pem_ta_store u_anchors;
static struct cfg_account u_acct;
static struct xclock u_clock;
static struct rest_client u_rest;
static struct backfill u_bf;
static int u_pages, u_done, u_status;
static struct backfill_stats u_st;

static int u_on_page(void *ctx, const char *account, const char *category, const char *body,
                     size_t len)
{
	(void)ctx, (void)account, (void)category, (void)body, (void)len;
	u_pages++;
	return 0;
}

static void u_on_done(void *ctx, int status, const struct backfill_stats *st)
{
	(void)ctx;
	u_done++;
	u_status = status;
	u_st = *st;
}

static void u_setup(void)
{
	loop_init(&u_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&u_resolv, &u_loop, NULL, NULL) == 0);
	pem_ta_init(&u_anchors);
	memset(&u_acct, 0, sizeof u_acct);
	strcpy(u_acct.name, "main");
	strcpy(u_acct.ep.rest_url.host, "127.0.0.1");
	u_acct.ep.rest_url.port = 9;
	xclock_init(&u_clock, "main");
	T_REQUIRE(rest_init(&u_rest, &u_loop, &u_resolv, &u_anchors, &u_acct, 5000, &u_clock) == 0);
	backfill_init(&u_bf, &u_rest);
	u_pages = u_done = 0;
	u_status = 99;
}

TEST(backfill_start_checks)
{
	u_setup();
	T_EQ_INT(backfill_start(&u_bf, 0, 0, 10, u_on_page, u_on_done, NULL), FR_EINVAL);
	T_EQ_INT(backfill_start(&u_bf, 1u << 7, 0, 10, u_on_page, u_on_done, NULL), FR_EINVAL);
	T_EQ_INT(backfill_start(&u_bf, CFG_CAT_LINEAR, -1, 10, u_on_page, u_on_done, NULL),
	         FR_EINVAL);
	T_EQ_INT(backfill_start(&u_bf, CFG_CAT_LINEAR, 0, 10, NULL, u_on_done, NULL), FR_EINVAL);
	T_EQ_INT(backfill_order(&u_bf, "linear", "", u_on_page, u_on_done, NULL), FR_EINVAL);
	T_EQ_INT(backfill_positions(&u_bf, "linear", NULL, NULL, u_on_page, u_on_done, NULL),
	         FR_EINVAL);
	T_CHECK(!backfill_busy(&u_bf));
	T_EQ_INT(backfill_resume(&u_bf), FR_EINVAL);

	/* since > until: no window, on_done(0) from the loop, not from the call */
	T_EQ_INT(backfill_start(&u_bf, CFG_CAT_LINEAR | CFG_CAT_SPOT, 20, 10, u_on_page, u_on_done,
	                        NULL),
	         0);
	T_CHECK(backfill_busy(&u_bf));
	T_EQ_INT(u_done, 0);
	T_EQ_INT(backfill_start(&u_bf, CFG_CAT_LINEAR, 0, 10, u_on_page, u_on_done, NULL),
	         FR_EAGAIN);
	for (int i = 0; i < 5 && !u_done; i++)
		loop_run_once(&u_loop, 10);
	T_EQ_INT(u_done, 1);
	T_EQ_INT(u_status, 0);
	T_EQ_INT(u_pages, 0);
	T_EQ_INT(u_st.windows, 0);
	T_EQ_INT(u_st.requests, 0);
	T_CHECK(!backfill_busy(&u_bf));

	/* cancel before the first request: no on_done ever */
	T_EQ_INT(backfill_start(&u_bf, CFG_CAT_LINEAR, 0, 10, u_on_page, u_on_done, NULL), 0);
	backfill_cancel(&u_bf);
	backfill_cancel(&u_bf);
	T_CHECK(!backfill_busy(&u_bf));
	for (int i = 0; i < 3; i++)
		loop_run_once(&u_loop, 5);
	T_EQ_INT(u_done, 1);
	T_EQ_INT(u_rest.st.requests, 0);
	rest_close(&u_rest);
	resolv_close(&u_resolv);
}
