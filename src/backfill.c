/*
 * backfill.c -- see backfill.h.
 *
 * Every request goes out from the one timer (bf_on_timer -> bf_send), so a
 * start, a resume, a busy REST client and an empty walk all take the same
 * path and no callback ever runs inside an API call. The REST callback
 * (bf_on_rest) hands the page on, then decides the next step in one
 * function per job.
 */
#include "backfill.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

/* Counts a page's entries; shared by every backfill (single-threaded). */
static struct decode bf_dec;
static const struct decode_sink bf_no_sink = {.envelope_only = 1};

static void bf_arm(struct backfill *bf, int64_t delay_ms);

/* ---- pure parts -------------------------------------------------------- */

const char *backfill_category_name(unsigned cat_bit)
{
	switch (cat_bit) {
	case CFG_CAT_LINEAR:
		return "linear";
	case CFG_CAT_INVERSE:
		return "inverse";
	case CFG_CAT_SPOT:
		return "spot";
	case CFG_CAT_OPTION:
		return "option";
	default:
		return NULL;
	}
}

int64_t backfill_window_count(int64_t since_ms, int64_t until_ms)
{
	if (since_ms > until_ms)
		return 0;
	return (until_ms - since_ms) / BACKFILL_WINDOW_MS + 1;
}

int64_t backfill_window_end(int64_t start_ms, int64_t until_ms)
{
	/* 7 d - 1 ms keeps the span under Bybit's limit whichever way it counts
	 * the bounds, and lets the next window start 1 ms later: no overlap */
	int64_t end = start_ms + BACKFILL_WINDOW_MS - 1;

	assert(start_ms <= until_ms);
	return end < until_ms ? end : until_ms;
}

size_t backfill_exec_query(struct http_kv *kv, char nums[2][24], const char *category,
                           int64_t start_ms, int64_t end_ms, const char *cursor)
{
	size_t n = 0;

	snprintf(nums[0], 24, "%" PRId64, start_ms);
	snprintf(nums[1], 24, "%" PRId64, end_ms);
	kv[n++] = (struct http_kv){"category", category, 0};
	kv[n++] = (struct http_kv){"startTime", nums[0], 0};
	kv[n++] = (struct http_kv){"endTime", nums[1], 0};
	kv[n++] = (struct http_kv){"limit", "100", 0};
	if (cursor && cursor[0])
		kv[n++] = (struct http_kv){"cursor", cursor, 1}; /* already encoded */
	assert(n <= BACKFILL_KV_MAX);
	return n;
}

size_t backfill_arg_query(struct http_kv *kv, const char *category, const char *key,
                          const char *arg, const char *cursor)
{
	size_t n = 0;

	kv[n++] = (struct http_kv){"category", category, 0};
	kv[n++] = (struct http_kv){key, arg, 0};
	if (strcmp(key, "orderId") == 0)
		return n; /* one order: no paging */
	kv[n++] = (struct http_kv){"limit", "200", 0};
	if (cursor && cursor[0])
		kv[n++] = (struct http_kv){"cursor", cursor, 1};
	assert(n <= BACKFILL_KV_MAX);
	return n;
}

const char *backfill_job_name(enum backfill_job j)
{
	switch (j) {
	case BACKFILL_IDLE:
		return "idle";
	case BACKFILL_EXEC:
		return "executions";
	case BACKFILL_ORDER_HIST:
		return "order_history";
	case BACKFILL_ORDER_RT:
		return "order_realtime";
	case BACKFILL_POS:
		return "positions";
	}
	return "?";
}

/* ---- set-up -------------------------------------------------------------- */

void backfill_init(struct backfill *bf, struct rest_client *rest)
{
	assert(rest && rest->loop);
	memset(bf, 0, sizeof *bf);
	bf->rest = rest;
	bf->budget_ms = BACKFILL_BUDGET_MS;
	bf->timer = -1;
	bf->st.ret_code = -1;
	bf->oldest_first = 1;
}

void backfill_set_budget(struct backfill *bf, int64_t budget_ms)
{
	assert(budget_ms > 0);
	bf->budget_ms = budget_ms;
}

void backfill_set_oldest_first(struct backfill *bf, int on)
{
	bf->oldest_first = on != 0;
}

int backfill_busy(const struct backfill *bf)
{
	return bf->job != BACKFILL_IDLE;
}

int backfill_paused(const struct backfill *bf)
{
	return bf->job != BACKFILL_IDLE && bf->paused;
}

static const char *bf_account(const struct backfill *bf)
{
	return bf->rest->acct ? bf->rest->acct->name : "";
}

static int64_t bf_mono(const struct backfill *bf)
{
	const struct loop_sys *s = bf->rest->loop->sys;

	return s->mono_ms(s->ctx);
}

/* Common to the three starts: checks, resets the stats, schedules the first
 * request. */
static int bf_begin(struct backfill *bf, enum backfill_job job, backfill_page_fn on_page,
                    backfill_done_fn on_done, void *ctx)
{
	if (bf->job != BACKFILL_IDLE)
		return FR_EAGAIN;
	if (!on_page || !on_done)
		return FR_EINVAL;
	memset(&bf->st, 0, sizeof bf->st);
	bf->st.ret_code = -1;
	bf->on_page = on_page;
	bf->on_done = on_done;
	bf->ctx = ctx;
	bf->cursor[0] = '\0';
	bf->paused = 0;
	bf->in_flight = 0;
	bf->start_mono_ms = bf_mono(bf);
	bf->job = job;
	bf_arm(bf, 0);
	if (bf->timer < 0) {
		bf->job = BACKFILL_IDLE;
		return FR_EFULL;
	}
	return 0;
}

/* The lowest category bit of the mask, 0 when none. */
static unsigned bf_lowest(unsigned mask)
{
	return mask & (~mask + 1u);
}

int backfill_start(struct backfill *bf, unsigned cats, int64_t since_ms, int64_t until_ms,
                   backfill_page_fn on_page, backfill_done_fn on_done, void *ctx)
{
	const unsigned all = CFG_CAT_LINEAR | CFG_CAT_INVERSE | CFG_CAT_SPOT | CFG_CAT_OPTION;

	if (bf->job != BACKFILL_IDLE)
		return FR_EAGAIN;
	if (!cats || (cats & ~all) || since_ms < 0 || until_ms < 0)
		return FR_EINVAL;
	if (until_ms == 0) {
		const struct loop_sys *s = bf->rest->loop->sys;
		until_ms = xclock_now(bf->rest->clock, s->wall_ms(s->ctx));
	}
	bf->cats_left = since_ms > until_ms ? 0 : cats;
	bf->cat = bf_lowest(bf->cats_left);
	bf->since_ms = since_ms;
	bf->until_ms = until_ms;
	bf->win_start_ms = since_ms;
	bf->win_end_ms = since_ms <= until_ms ? backfill_window_end(since_ms, until_ms) : since_ms;
	bf->span_ms = BACKFILL_WINDOW_MS;
	return bf_begin(bf, BACKFILL_EXEC, on_page, on_done, ctx);
}

static int bf_set_arg(struct backfill *bf, const char *category, const char *key, const char *arg)
{
	if (!category || !arg || !arg[0] || strlen(arg) >= sizeof bf->arg ||
	    strlen(category) >= sizeof bf->category)
		return FR_EINVAL;
	snprintf(bf->category, sizeof bf->category, "%s", category);
	snprintf(bf->arg_key, sizeof bf->arg_key, "%s", key);
	snprintf(bf->arg, sizeof bf->arg, "%s", arg);
	return 0;
}

int backfill_order(struct backfill *bf, const char *category, const char *order_id,
                   backfill_page_fn on_page, backfill_done_fn on_done, void *ctx)
{
	int rc;

	if (bf->job != BACKFILL_IDLE)
		return FR_EAGAIN;
	rc = bf_set_arg(bf, category, "orderId", order_id);
	return rc < 0 ? rc : bf_begin(bf, BACKFILL_ORDER_HIST, on_page, on_done, ctx);
}

int backfill_positions(struct backfill *bf, const char *category, const char *settle_coin,
                       const char *symbol, backfill_page_fn on_page, backfill_done_fn on_done,
                       void *ctx)
{
	int by_coin = settle_coin && settle_coin[0];
	int rc;

	if (bf->job != BACKFILL_IDLE)
		return FR_EAGAIN;
	rc = bf_set_arg(bf, category, by_coin ? "settleCoin" : "symbol",
	                by_coin ? settle_coin : symbol);
	return rc < 0 ? rc : bf_begin(bf, BACKFILL_POS, on_page, on_done, ctx);
}

/* ---- the end -------------------------------------------------------------- */

static void bf_finish(struct backfill *bf, int status)
{
	struct backfill_stats st;
	backfill_done_fn fn = bf->on_done;
	enum backfill_job job = bf->job;

	assert(job != BACKFILL_IDLE && !bf->in_flight);
	if (bf->timer >= 0)
		loop_timer_cancel(bf->rest->loop, bf->timer);
	bf->timer = -1;
	bf->st.duration_ms = bf_mono(bf) - bf->start_mono_ms;
	st = bf->st; /* fn may start the next job, which resets bf->st */
	bf->job = BACKFILL_IDLE;
	bf->paused = 0;
	if (status == 0)
		log_info("backfill done", LS("account", bf_account(bf)),
		         LS("job", backfill_job_name(job)), LI("pages", st.pages),
		         LI("fills", st.fills), LI("windows", st.windows), LI("splits", st.splits),
		         LI("requests", st.requests), LI("retries", st.retries),
		         LI("duration_ms", st.duration_ms));
	else
		log_warn("backfill failed", LS("account", bf_account(bf)),
		         LS("job", backfill_job_name(job)), LS("status", err_str(status)),
		         LI("http", st.http_status), LI("ret_code", st.ret_code),
		         LS("ret_msg", st.ret_msg), LI("pages", st.pages),
		         LI("requests", st.requests), LI("duration_ms", st.duration_ms));
	fn(bf->ctx, status, &st);
}

void backfill_cancel(struct backfill *bf)
{
	if (bf->job == BACKFILL_IDLE)
		return;
	if (bf->in_flight)
		rest_close(bf->rest); /* drops our request; its callback never runs */
	if (bf->timer >= 0)
		loop_timer_cancel(bf->rest->loop, bf->timer);
	bf->timer = -1;
	bf->in_flight = 0;
	bf->paused = 0;
	bf->job = BACKFILL_IDLE;
}

/* ---- sending -------------------------------------------------------------- */

static void bf_on_timer(struct loop *l, int id, void *arg);

/* (Re)arms the one timer; bf->timer stays -1 when the table is full (the
 * caller decides what that means). */
static void bf_arm(struct backfill *bf, int64_t delay_ms)
{
	if (bf->timer >= 0 && loop_timer_rearm(bf->rest->loop, bf->timer, delay_ms) == 0)
		return;
	bf->timer = loop_timer_add(bf->rest->loop, delay_ms, 0, bf_on_timer, bf);
	if (bf->timer < 0)
		bf->timer = -1;
}

static void bf_on_rest(void *ctx, struct rest_client *c, const struct rest_result *r);

/* The execution walk's next request, or the end when no category is left. */
static int bf_send_exec(struct backfill *bf)
{
	struct http_kv kv[BACKFILL_KV_MAX];
	char nums[2][24];
	size_t n;

	if (!bf->cat)
		return 1; /* done */
	n = backfill_exec_query(kv, nums, backfill_category_name(bf->cat), bf->win_start_ms,
	                        bf->win_end_ms, bf->cursor);
	return rest_get(bf->rest, "/v5/execution/list", kv, n, 1, bf->budget_ms, bf_on_rest, bf);
}

static int bf_send_arg(struct backfill *bf, const char *path)
{
	struct http_kv kv[BACKFILL_KV_MAX];
	size_t n = backfill_arg_query(kv, bf->category, bf->arg_key, bf->arg, bf->cursor);

	return rest_get(bf->rest, path, kv, n, 1, bf->budget_ms, bf_on_rest, bf);
}

static int bf_send_job(struct backfill *bf)
{
	switch (bf->job) {
	case BACKFILL_EXEC:
		return bf_send_exec(bf);
	case BACKFILL_ORDER_HIST:
		return bf_send_arg(bf, "/v5/order/history");
	case BACKFILL_ORDER_RT:
		return bf_send_arg(bf, "/v5/order/realtime");
	case BACKFILL_POS:
		return bf_send_arg(bf, "/v5/position/list");
	case BACKFILL_IDLE:
		break;
	}
	return FR_EINVAL;
}

static void bf_send(struct backfill *bf)
{
	int rc = bf_send_job(bf);

	if (rc == 1) {
		bf_finish(bf, 0);
	} else if (rc == 0) {
		bf->in_flight = 1;
		bf->st.requests++;
	} else if (rc == FR_EAGAIN) {
		bf_arm(bf, BACKFILL_BUSY_RETRY_MS); /* someone else's request on the client */
		if (bf->timer < 0)
			bf_finish(bf, FR_EFULL);
	} else {
		snprintf(bf->st.ret_msg, sizeof bf->st.ret_msg, "request not built: %s",
		         err_str(rc));
		bf_finish(bf, rc == FR_EFULL ? FR_EFULL : FR_EPROTO);
	}
}

static void bf_on_timer(struct loop *l, int id, void *arg)
{
	struct backfill *bf = arg;

	(void)l;
	(void)id;
	bf->timer = -1; /* one-shot: the slot is free again */
	if (bf->job != BACKFILL_IDLE && !bf->paused && !bf->in_flight)
		bf_send(bf);
}

int backfill_resume(struct backfill *bf)
{
	if (bf->job == BACKFILL_IDLE || !bf->paused)
		return FR_EINVAL;
	bf_arm(bf, 0);
	if (bf->timer < 0)
		return FR_EFULL;
	bf->paused = 0;
	return 0;
}

/* ---- answers ---------------------------------------------------------------- */

/* Entries of the page's list (0 when it has none or does not decode). */
static int bf_entries(const struct rest_result *r, enum decode_kind kind)
{
	decode_rest(&bf_dec, kind, r->body, r->body_len, &bf_no_sink);
	return bf_dec.env.entries;
}

/* Hands the page to on_page: 1 taken, 0 paused, < 0 the job has ended. */
static int bf_deliver(struct backfill *bf, const char *category, const struct rest_result *r,
                      int entries)
{
	int rc = bf->on_page(bf->ctx, bf_account(bf), category, r->body, r->body_len);

	if (rc == FR_EAGAIN) {
		bf->paused = 1;
		bf->st.pauses++;
		return 0;
	}
	if (rc < 0) {
		snprintf(bf->st.ret_msg, sizeof bf->st.ret_msg, "the page sink refused: %s",
		         err_str(rc));
		bf_finish(bf, rc);
		return rc;
	}
	bf->st.pages++;
	bf->st.fills += (uint64_t)entries;
	return 1;
}

/* Takes the answer's cursor for the next page: 1 there is one, 0 the list
 * ended, < 0 the exchange handed back the cursor it was sent (job ended). */
static int bf_next_cursor(struct backfill *bf, const char *cursor)
{
	if (!cursor[0])
		return 0;
	if (strcmp(cursor, bf->cursor) == 0) {
		snprintf(bf->st.ret_msg, sizeof bf->st.ret_msg, "the same nextPageCursor again");
		bf_finish(bf, FR_EPROTO);
		return FR_EPROTO;
	}
	snprintf(bf->cursor, sizeof bf->cursor, "%s", cursor);
	return 1;
}

/* The window is done: the next window, else the next category (whose walk
 * starts again with the longest window). */
static void bf_next_window(struct backfill *bf)
{
	int64_t end;

	bf->st.windows++;
	bf->cursor[0] = '\0';
	if (bf->win_end_ms < bf->until_ms) {
		bf->win_start_ms = bf->win_end_ms + 1;
	} else {
		bf->cats_left &= ~bf->cat;
		bf->cat = bf_lowest(bf->cats_left);
		bf->win_start_ms = bf->since_ms;
		bf->span_ms = BACKFILL_WINDOW_MS;
	}
	end = backfill_window_end(bf->win_start_ms, bf->until_ms);
	if (end - bf->win_start_ms + 1 > bf->span_ms)
		end = bf->win_start_ms + bf->span_ms - 1;
	bf->win_end_ms = end;
}

static void bf_answer_exec(struct backfill *bf, const struct rest_result *r)
{
	int entries = bf_entries(r, DECODE_KIND_EXECUTION), rc;

	/* More than a page from the window's start: its older half first (see
	 * backfill.h); this page, the window's newest, is not handed on. */
	if (bf->oldest_first && !bf->cursor[0] && r->cursor[0] &&
	    bf->win_end_ms > bf->win_start_ms) {
		bf->win_end_ms = bf->win_start_ms + (bf->win_end_ms - bf->win_start_ms) / 2;
		bf->span_ms = bf->win_end_ms - bf->win_start_ms + 1;
		bf->st.splits++;
		bf_send(bf);
		return;
	}
	rc = bf_deliver(bf, backfill_category_name(bf->cat), r, entries);
	if (rc <= 0)
		return;
	rc = bf_next_cursor(bf, r->cursor);
	if (rc < 0)
		return;
	if (rc == 0) {
		if (entries < BACKFILL_EXEC_LIMIT / 2 && bf->span_ms < BACKFILL_WINDOW_MS)
			bf->span_ms = bf->span_ms > BACKFILL_WINDOW_MS / 2 ? BACKFILL_WINDOW_MS
			                                                   : 2 * bf->span_ms;
		bf_next_window(bf);
	}
	bf_send(bf);
}

static void bf_answer_order(struct backfill *bf, const struct rest_result *r)
{
	int entries = bf_entries(r, DECODE_KIND_ORDER);

	if (entries == 0 && bf->job == BACKFILL_ORDER_HIST) {
		bf->job = BACKFILL_ORDER_RT; /* still open: not in the history yet */
		bf_send(bf);
		return;
	}
	if (bf_deliver(bf, bf->category, r, entries) > 0)
		bf_finish(bf, 0);
}

static void bf_answer_pos(struct backfill *bf, const struct rest_result *r)
{
	int rc = bf_deliver(bf, bf->category, r, bf_entries(r, DECODE_KIND_POSITION));

	if (rc <= 0)
		return;
	rc = bf_next_cursor(bf, r->cursor);
	if (rc == 0)
		bf_finish(bf, 0);
	else if (rc > 0)
		bf_send(bf);
}

static void bf_note_answer(struct backfill *bf, const struct rest_result *r)
{
	bf->in_flight = 0;
	if (r->attempts > 1)
		bf->st.retries += (uint64_t)(r->attempts - 1);
	bf->st.http_status = r->http_status;
	bf->st.ret_code = r->ret_code;
	snprintf(bf->st.ret_msg, sizeof bf->st.ret_msg, "%s", r->ret_msg);
}

static void bf_on_rest(void *ctx, struct rest_client *c, const struct rest_result *r)
{
	struct backfill *bf = ctx;

	(void)c;
	assert(bf->in_flight && bf->job != BACKFILL_IDLE);
	bf_note_answer(bf, r);
	if (r->outcome != REST_OK) {
		bf_finish(bf, r->outcome == REST_DEADLINE ? FR_ETIMEDOUT : FR_EPROTO);
		return;
	}
	switch (bf->job) {
	case BACKFILL_EXEC:
		bf_answer_exec(bf, r);
		break;
	case BACKFILL_ORDER_HIST:
	case BACKFILL_ORDER_RT:
		bf_answer_order(bf, r);
		break;
	case BACKFILL_POS:
		bf_answer_pos(bf, r);
		break;
	case BACKFILL_IDLE:
		break;
	}
}
