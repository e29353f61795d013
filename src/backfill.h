/*
 * backfill.h -- one account's REST backfill and reconciliation fetchers
 * (DESIGN.md 2: no replay on reconnect, so fills missed while the stream
 * was down are read back over REST; positions are re-read to reconcile).
 *
 * Three jobs, one at a time per struct backfill, each on the account's
 * caller-owned struct rest_client (rest.h: one request at a time, its own
 * retries of transient failures):
 *
 *   backfill_start      GET /v5/execution/list for each category of a mask
 *                       (linear, inverse, spot, option, in that order), over
 *                       [since_ms, until_ms] walked oldest window first in
 *                       windows of at most BACKFILL_WINDOW_MS - 1 ms between
 *                       startTime and endTime, both always given (a startTime
 *                       alone covers 7 days and no more; both more than 7 days
 *                       apart is Bybit's 10001), limit=100. Bybit lists a
 *                       window newest first, so a window holding more than a
 *                       page would hand on its newest fills before older
 *                       ones (late fills, rebuilds): a window whose first
 *                       page has a nextPageCursor is asked again as its older
 *                       half (that page is not handed on), until it fits one
 *                       page; the next window starts 1 ms after it, as long
 *                       as the last one that fitted (doubled after a page
 *                       less than half full, up to 7 days). Only a single
 *                       millisecond holding more than a page is followed by
 *                       nextPageCursor, passed back verbatim until it is "".
 *                       Bybit's inclusive execTime bounds make consecutive
 *                       windows [a, b], [b + 1, ...] meet with neither gap
 *                       nor overlap. A cursor on a full last page (Bybit does
 *                       that) costs one split more.
 *   backfill_order      GET /v5/order/history?category&orderId; when its list
 *                       is empty, GET /v5/order/realtime with the same query
 *                       (an order still open is not in the history). The page
 *                       handed on is the one that had the order, else the
 *                       (empty) realtime one.
 *   backfill_positions  GET /v5/position/list?category&(settleCoin|symbol)
 *                       &limit=200 with cursor paging. By settleCoin Bybit
 *                       leaves flat positions out; by symbol they are in.
 *
 * Every page body is handed to on_page(ctx, account, category, body, len)
 * BEFORE the next request is sent, so one body exists at a time (the REST
 * client's buffer; valid during the call only). on_page returns:
 *   >= 0       taken; the job goes on;
 *   FR_EAGAIN  not now (the journal is full): the job pauses, nothing is sent
 *              until backfill_resume, which asks for the SAME page again
 *              (idempotent: the sink dedupes by execId);
 *   other < 0  the sink failed: the job ends with that status.
 *
 * on_done(ctx, status, stats) runs exactly once per started job that is not
 * cancelled, always from inside loop_run_once (a timer or the REST
 * callback), never from inside backfill_start/order/positions/resume:
 *   0             every page delivered;
 *   FR_ETIMEDOUT  a request's budget (backfill_set_budget) ran out: the
 *                 exchange is down or rate-limiting for good; re-run later;
 *   FR_EPROTO     the exchange refused a request for good (rest.h's
 *                 REST_FAILED: a 10001, a bad key...), or handed back the
 *                 cursor it was sent (a loop);
 *   FR_EFULL      no loop timer was free to schedule the next step;
 *   other < 0     on_page's error.
 * stats.ret_msg / http_status / ret_code tell what the exchange said last.
 * on_done may start the next job.
 *
 * Logging (account=NAME): a job's end at info (job, status, pages, fills,
 * windows, requests, retries, duration_ms), a failure at warn with its
 * retMsg; never a cursor or the query.
 *
 * Memory: struct backfill is caller-owned (static storage), about 1.5 KB;
 * one struct decode (to count a page's entries) is shared by every backfill
 * (single-threaded). Nothing is allocated. Holds at most one loop timer.
 */
#ifndef FR_BACKFILL_H
#define FR_BACKFILL_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "err.h"
#include "http.h"
#include "rest.h"

#define BACKFILL_WINDOW_MS (7LL * 24 * 3600 * 1000) /* Bybit's longest execution window */
#define BACKFILL_EXEC_LIMIT 100                     /* Bybit's largest execution page */
#define BACKFILL_POS_LIMIT 200                      /* Bybit's largest position page */
#define BACKFILL_BUDGET_MS 120000  /* default per-request budget, retries included */
#define BACKFILL_BUSY_RETRY_MS 100 /* the REST client was busy with another user */
#define BACKFILL_ARG_MAX 64        /* an orderId, a symbol, a settle coin */
#define BACKFILL_KV_MAX 6          /* parameters of the longest query */

typedef int (*backfill_page_fn)(void *ctx, const char *account, const char *category,
                                const char *body, size_t len);

struct backfill_stats {
	uint64_t pages;             /* pages taken by on_page (a re-asked page counts once) */
	uint64_t fills;             /* list entries of those pages */
	uint64_t windows;           /* execution windows finished */
	uint64_t splits;            /* windows asked again as their older half */
	uint64_t requests;          /* REST requests made (a re-asked page counts again) */
	uint64_t retries;           /* attempts beyond each request's first (rest.h) */
	uint64_t pauses;            /* on_page said FR_EAGAIN */
	int64_t duration_ms;        /* monotonic, from the start to on_done */
	int http_status;            /* of the last answer; 0 when none */
	int64_t ret_code;           /* the last answer's retCode; -1 when none */
	char ret_msg[REST_MSG_MAX]; /* the last answer's retMsg or why it failed */
};

typedef void (*backfill_done_fn)(void *ctx, int status, const struct backfill_stats *st);

enum backfill_job {
	BACKFILL_IDLE = 0,
	BACKFILL_EXEC,       /* walking execution windows */
	BACKFILL_ORDER_HIST, /* order lookup, history first */
	BACKFILL_ORDER_RT,   /* order lookup, then realtime */
	BACKFILL_POS,        /* position list */
};

struct backfill {
	struct rest_client *rest; /* caller-owned; outlives the backfill */
	int64_t budget_ms;        /* per request */
	enum backfill_job job;
	int in_flight; /* a request of ours is queued on rest */
	int paused;    /* on_page said FR_EAGAIN; waiting for backfill_resume */
	int timer;     /* loop timer id, -1 when none */
	/* the execution walk */
	unsigned cats_left;         /* CFG_CAT_* still to walk, the current one included */
	unsigned cat;               /* the current category's bit */
	int64_t since_ms, until_ms; /* inclusive */
	int64_t win_start_ms, win_end_ms;
	int64_t span_ms; /* the next window's length: the last that fitted a page */
	int oldest_first; /* backfill_set_oldest_first: split windows (default 1) */
	/* order / position arguments */
	char category[16];
	char arg_key[16]; /* "orderId", "settleCoin", "symbol" */
	char arg[BACKFILL_ARG_MAX];
	/* the page being asked: its cursor ("" for a first page), verbatim */
	char cursor[DECODE_CURSOR_MAX];
	backfill_page_fn on_page;
	backfill_done_fn on_done;
	void *ctx;
	int64_t start_mono_ms;
	struct backfill_stats st;
};

/* Ties bf to the account's REST client (rest_init'ed). Idle afterwards. */
void backfill_init(struct backfill *bf, struct rest_client *rest);

/* The per-request budget (ms, > 0) for later requests (default
 * BACKFILL_BUDGET_MS). */
void backfill_set_budget(struct backfill *bf, int64_t budget_ms);

/* on (the default): windows holding more than a page are split, so pages
 * come oldest first (see backfill_start); 0: every window is read whole,
 * newest page first, by nextPageCursor (fewer requests). */
void backfill_set_oldest_first(struct backfill *bf, int on);

/*
 * Starts the execution backfill of every category in cats (CFG_CAT_* mask)
 * over [since_ms, until_ms] (exchange ms, inclusive); until_ms 0 means the
 * exchange's now (xclock_now of the REST client's clock) at this call.
 * since_ms > until_ms walks no window: on_done(0) soon. Returns 0,
 * FR_EAGAIN when a job is active, FR_EINVAL for an empty or unknown mask,
 * since_ms < 0 or NULL callbacks, FR_EFULL when no loop timer is free.
 */
int backfill_start(struct backfill *bf, unsigned cats, int64_t since_ms, int64_t until_ms,
                   backfill_page_fn on_page, backfill_done_fn on_done, void *ctx);

/* Looks up one order (see the top). category "linear", "spot", ...;
 * order_id non-empty, shorter than BACKFILL_ARG_MAX. Returns as
 * backfill_start. */
int backfill_order(struct backfill *bf, const char *category, const char *order_id,
                   backfill_page_fn on_page, backfill_done_fn on_done, void *ctx);

/* Reads the position list of category by settle_coin (when non-NULL and
 * non-empty) else by symbol (one of the two must be given). Returns as
 * backfill_start. */
int backfill_positions(struct backfill *bf, const char *category, const char *settle_coin,
                       const char *symbol, backfill_page_fn on_page, backfill_done_fn on_done,
                       void *ctx);

/* Asks again for the page on_page refused. 0, FR_EINVAL when not paused,
 * FR_EFULL when no loop timer is free (still paused). */
int backfill_resume(struct backfill *bf);

/* A job is active (started, paused or waiting for an answer). */
int backfill_busy(const struct backfill *bf);
int backfill_paused(const struct backfill *bf);

/* Ends the job without on_done; drops our request on the REST client (and
 * with it the client's connection). Idempotent. */
void backfill_cancel(struct backfill *bf);

const char *backfill_job_name(enum backfill_job j); /* "idle", "executions", ... */

/* ---- pure parts, for tests ---- */

/* "linear", "inverse", "spot", "option" for one CFG_CAT_* bit; NULL else. */
const char *backfill_category_name(unsigned cat_bit);

/* The number of windows covering [since_ms, until_ms]: 0 when since_ms >
 * until_ms, else (until_ms - since_ms) / BACKFILL_WINDOW_MS + 1. */
int64_t backfill_window_count(int64_t since_ms, int64_t until_ms);

/* The window starting at start_ms (<= until_ms): its inclusive end,
 * min(start_ms + BACKFILL_WINDOW_MS - 1, until_ms). The next starts at the
 * end + 1. */
int64_t backfill_window_end(int64_t start_ms, int64_t until_ms);

/* The query of one execution page, into kv[0..BACKFILL_KV_MAX) with its
 * number strings in nums (two of 24 bytes): category, startTime, endTime,
 * limit=100, then cursor (verbatim) when cursor is non-empty. Returns the
 * number of pairs. */
size_t backfill_exec_query(struct http_kv *kv, char nums[2][24], const char *category,
                           int64_t start_ms, int64_t end_ms, const char *cursor);

/* The query of an order lookup (category, orderId) or a position page
 * (category, key=arg, limit=200, cursor when non-empty): key is "orderId"
 * for orders (no limit, no cursor). Returns the number of pairs. */
size_t backfill_arg_query(struct http_kv *kv, const char *category, const char *key,
                          const char *arg, const char *cursor);

#endif
