/*
 * verb_run.c -- `fillrelay run`. See verb_run.h.
 *
 * Scheduling lives in one before-sleep step (after the sink's own), so it
 * sees every change of a session's lives counter, a paused backfill or a
 * held session within one loop iteration; a 1 s timer keeps it running when
 * nothing else wakes the loop.
 */
#define _GNU_SOURCE
#include "verb_run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "arena.h"
#include "backfill.h"
#include "book.h"
#include "bybit.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "pem.h"
#include "pg.h"
#include "rds.h"
#include "resolv.h"
#include "rest.h"
#include "sink.h"
#include "xclock.h"

/* The position lists read per reconciliation (linear by settle coin). */
static const char *const run_settle_coins[] = { "USDT", "USDC" };
#define RUN_POS_STEPS ((int)(sizeof run_settle_coins / sizeof run_settle_coins[0]))

struct run_acct {
	const struct cfg_account *acct;
	char label[METRICS_LABELS_MAX]; /* account="NAME" */
	struct xclock clock;
	struct rest_client rest;
	struct backfill bf;
	struct bybit_session ss;
	int64_t last_known_ms; /* newest execTime known, 0 none */
	uint64_t lives_seen, gates_seen;
	int want_exec;          /* an execution backfill is due */
	int pos_step;           /* next position list; RUN_POS_STEPS: none due */
	int64_t retry_mono_ms;  /* no job before this (after a failure) */
	uint64_t depth_at_pause, depth_at_hold;
	/* metrics */
	int64_t state_v, age_v, offset_v;
	uint64_t bf_runs, bf_failures, bf_pages, bf_fills, bf_pauses, pos_runs, resumes;
};

static struct verb_run_sinks run_s; /* loop, resolver, book, pg, rds, sink */
static struct metrics run_metrics;
static struct pem_ta_store run_anchors[VERB_RUN_CA_MAX];
static const char *run_ca_files[VERB_RUN_CA_MAX];
static int run_ca_n;
static struct bybit_budget run_budgets[CFG_ACCOUNTS_MAX];
static struct run_acct run_accts[CFG_ACCOUNTS_MAX];
static int run_accts_n;
static const struct cfg *run_cfg;
static int run_tick = -1;
static int64_t run_next_sweep_ms;
static int run_accts_up, run_signals_up; /* what run_stop undoes */
static int run_known_pending;            /* run_last_known still to read */
static int64_t run_known_retry_ms;

static int64_t run_mono(void)
{
	return run_s.loop.sys->mono_ms(run_s.loop.sys->ctx);
}

static int64_t run_wall(void)
{
	return run_s.loop.sys->wall_ms(run_s.loop.sys->ctx);
}

/* ---- the sink as seen by sessions and backfills -------------------------- */

static int run_on_push(void *ctx, const char *account, const char *msg, size_t len)
{
	(void)ctx;
	return sink_push(&run_s.sink, account, msg, len);
}

static int run_on_page(void *ctx, const char *account, const char *category, const char *body,
                       size_t len)
{
	struct run_acct *a = ctx;
	int rc = sink_rest_page(&run_s.sink, account, category, body, len);

	if (rc == FR_EFULL) {
		/* Asked again, the same page, once the journal has room. */
		a->depth_at_pause = sink_journal_held(&run_s.sink);
		a->bf_pauses++;
		return FR_EAGAIN;
	}
	if (rc >= 0) {
		a->bf_pages++;
	}
	return rc;
}

static void run_on_exec_done(void *ctx, int status, const struct backfill_stats *st)
{
	struct run_acct *a = ctx;

	a->bf_runs++;
	a->bf_fills += st->fills;
	if (status != 0) {
		a->bf_failures++;
		a->retry_mono_ms = run_mono() + VERB_RUN_RETRY_MS;
		a->want_exec = 1;
		return;
	}
	a->pos_step = 0; /* reconcile positions after every execution backfill */
}

static void run_on_pos_done(void *ctx, int status, const struct backfill_stats *st)
{
	struct run_acct *a = ctx;

	a->pos_runs++;
	(void)st;
	if (status != 0) {
		a->bf_failures++;
		a->retry_mono_ms = run_mono() + VERB_RUN_RETRY_MS;
		a->pos_step = RUN_POS_STEPS; /* the next sweep tries again */
		return;
	}
	a->pos_step++;
}

/* ---- scheduling ---------------------------------------------------------- */

/* The newest execTime the book applied for the account (0 none). */
static int64_t run_book_newest(const char *account)
{
	const struct book_position *p;
	int64_t t = 0;
	int cur = 0;

	while ((p = book_position_next(&run_s.book, &cur)) != NULL)
		if (p->last_exec_time_ms > t && strcmp(p->account, account) == 0)
			t = p->last_exec_time_ms;
	return t;
}

static void run_start_exec(struct run_acct *a)
{
	int64_t now = xclock_now(&a->clock, run_wall());
	int64_t newest = run_book_newest(a->acct->name), since;
	int rc;

	if (newest > a->last_known_ms)
		a->last_known_ms = newest;
	if (a->last_known_ms > 0)
		since = a->last_known_ms - VERB_RUN_MARGIN_MS;
	else
		since = now - (int64_t)a->acct->backfill_horizon_ms;
	if (since < 0)
		since = 0;
	rc = backfill_start(&a->bf, a->acct->ep.categories, since, 0, run_on_page,
	                    run_on_exec_done, a);
	if (rc == 0) {
		a->want_exec = 0;
		log_info("backfill started", LS("account", a->acct->name), LI("since_ms", since),
		         LI("lookback_ms", now - since));
	} else if (rc != FR_EAGAIN) {
		log_warn("backfill not started", LS("account", a->acct->name),
		         LS("error", err_str(rc)));
		a->retry_mono_ms = run_mono() + VERB_RUN_RETRY_MS;
	}
}

static void run_start_pos(struct run_acct *a)
{
	int rc;

	if (!(a->acct->ep.categories & CFG_CAT_LINEAR)) {
		a->pos_step = RUN_POS_STEPS;
		return;
	}
	rc = backfill_positions(&a->bf, "linear", run_settle_coins[a->pos_step], NULL,
	                        run_on_page, run_on_pos_done, a);
	if (rc != 0 && rc != FR_EAGAIN) {
		log_warn("position list not requested", LS("account", a->acct->name),
		         LS("error", err_str(rc)));
		a->pos_step = RUN_POS_STEPS;
	}
}

/* Resumes what waits for room in the journal: a held session, a paused job. */
static void run_resume(struct run_acct *a, uint64_t depth)
{
	if (a->ss.st.state == BYBIT_HELD) {
		if (a->depth_at_hold == 0)
			a->depth_at_hold = depth ? depth : 1;
		if (depth < a->depth_at_hold && run_s.sink.err == 0 && bybit_resume(&a->ss) == 0) {
			a->resumes++;
			a->depth_at_hold = 0;
			log_info("journal has room again, resuming the stream",
			         LS("account", a->acct->name), LI("spill_depth", depth));
		}
	}
	if (backfill_paused(&a->bf) && depth < a->depth_at_pause && run_s.sink.err == 0)
		backfill_resume(&a->bf);
}

/* A gated session (authenticated, not subscribed) waits for the backfill of
 * what its connection missed; it is let through once no execution backfill
 * runs or is due, or when the due one is waiting out a failure (the stream
 * must not stay shut while REST is refused: what arrives late is still
 * applied, by a rebuild of its symbol). */
static void run_gate(struct run_acct *a, int64_t now_mono)
{
	int failed = a->want_exec && now_mono < a->retry_mono_ms;

	if (a->ss.st.state != BYBIT_GATED || run_s.loop.stopping)
		return;
	if (backfill_busy(&a->bf) && a->bf.job == BACKFILL_EXEC)
		return;
	if (a->want_exec && !failed)
		return;
	if (failed)
		log_warn("backfill failed, subscribing without it", LS("account", a->acct->name));
	(void)bybit_open_gate(&a->ss);
}

static void run_schedule(struct run_acct *a, int64_t now_mono)
{
	uint64_t depth = sink_journal_held(&run_s.sink); /* room comes back with checkpoints */

	if (a->ss.st.gates != a->gates_seen || a->ss.st.lives != a->lives_seen) {
		/* every (re)connect may have missed fills: once before the
		 * subscription (the gate), once after it for what happened
		 * between the first pass and the subscription */
		a->gates_seen = a->ss.st.gates;
		a->lives_seen = a->ss.st.lives;
		a->want_exec = 1;
		a->retry_mono_ms = 0;
	}
	run_resume(a, depth);
	run_gate(a, now_mono);
	if (backfill_busy(&a->bf) || now_mono < a->retry_mono_ms || run_s.loop.stopping)
		return;
	/* No backfill before the book is warm and the newest stored fills are
	 * known (PostgreSQL down at start): it would start from the horizon, and
	 * the gate keeps the stream shut meanwhile -- REST has it all. */
	if (run_known_pending)
		return;
	if (a->want_exec)
		run_start_exec(a);
	else if (a->pos_step < RUN_POS_STEPS)
		run_start_pos(a);
}

static int run_last_known(void);

static void run_before_sleep(struct loop *l, void *arg)
{
	int64_t now = run_mono();

	sink_before_sleep(l, arg);
	if (run_known_pending && !sink_warm_pending(&run_s.sink) && now >= run_known_retry_ms) {
		run_known_pending = run_last_known() != EX_OK;
		run_known_retry_ms = now + VERB_RUN_RETRY_MS / 10;
	}
	if (now >= run_next_sweep_ms) {
		run_next_sweep_ms = now + VERB_RUN_SWEEP_MS;
		for (int i = 0; i < run_accts_n; i++)
			if (run_accts[i].lives_seen > 0)
				run_accts[i].want_exec = 1;
	}
	for (int i = 0; i < run_accts_n; i++)
		run_schedule(&run_accts[i], now);
}

static void run_on_tick(struct loop *l, int id, void *arg)
{
	/* Only wakes the loop: the before-sleep step does the work. */
	(void)l;
	(void)id;
	(void)arg;
}

/* ---- health and metrics -------------------------------------------------- */

/* LIVE, or reconnecting normally: it was LIVE and heard from recently. */
static int run_acct_ok(const struct run_acct *a)
{
	int64_t age = bybit_last_msg_age_ms(&a->ss);
	enum bybit_state s = a->ss.st.state;

	if (s == BYBIT_LIVE)
		return 1;
	if (s == BYBIT_IDLE || s == BYBIT_HELD || a->ss.st.lives == 0 || age < 0)
		return 0;
	return age < 2 * (int64_t)run_cfg->exchange.silence_timeout_ms;
}

static int run_health(void *ctx, char *buf, size_t cap)
{
	int ok = sink_healthy(&run_s.sink);
	size_t n;
	int w;

	(void)ctx;
	for (int i = 0; i < run_accts_n; i++)
		ok = ok && run_acct_ok(&run_accts[i]);
	w = snprintf(buf, cap,
	             "{\"status\":\"%s\",\"instance\":\"%s\",\"postgres\":\"%s\","
	             "\"redis\":\"%s\",\"journal\":\"%s\",\"spill_depth\":%" PRIu64
	             ",\"accounts\":{",
	             ok ? "ok" : "unhealthy", run_cfg->listener.instance,
	             pg_state_str(run_s.pg.state), rds_state_name(rds_state(&run_s.rds)),
	             run_s.sink.err ? "broken" : "ok", sink_spill_depth(&run_s.sink));
	n = w > 0 && (size_t)w < cap ? (size_t)w : cap - 1;
	for (int i = 0; i < run_accts_n && n + 1 < cap; i++) {
		const struct run_acct *a = &run_accts[i];

		w = snprintf(buf + n, cap - n,
		             "%s\"%s\":{\"state\":\"%s\",\"ok\":%s,\"lives\":%" PRIu64
		             ",\"reconnects\":%" PRIu64 ",\"last_message_age_ms\":%" PRId64
		             ",\"clock_offset_ms\":%" PRId64 "}",
		             i ? "," : "", a->acct->name, bybit_state_name(a->ss.st.state),
		             run_acct_ok(a) ? "true" : "false", a->ss.st.lives, a->ss.st.reconnects,
		             bybit_last_msg_age_ms(&a->ss), a->clock.offset_ms);
		n = w > 0 && (size_t)w < cap - n ? n + (size_t)w : cap - 1;
	}
	if (n + 3 <= cap)
		memcpy(buf + n, "}}", 3);
	return ok ? 200 : 503;
}

static int64_t run_m_state(void *ctx)
{
	return (int64_t)((struct run_acct *)ctx)->ss.st.state;
}

static int64_t run_m_live(void *ctx)
{
	return ((struct run_acct *)ctx)->ss.st.state == BYBIT_LIVE;
}

static int64_t run_m_age(void *ctx)
{
	return bybit_last_msg_age_ms(&((struct run_acct *)ctx)->ss);
}

static int64_t run_m_offset(void *ctx)
{
	return ((struct run_acct *)ctx)->clock.offset_ms;
}

#define RUN_C METRICS_COUNTER
#define RUN_G METRICS_GAUGE

/* The process arena's figures (0 where the arena is not the allocator). */
static int64_t run_m_arena(void *ctx)
{
	const char *what = ctx;
	struct arena_stats st, boot;

	memset(&st, 0, sizeof st);
	if (arena_is_process_allocator())
		arena_process_stats(&st, &boot);
	if (!strcmp(what, "in_use"))
		return (int64_t)st.in_use;
	if (!strcmp(what, "high_water"))
		return (int64_t)st.high_water;
	if (!strcmp(what, "size"))
		return (int64_t)st.size;
	return (int64_t)st.failures;
}

/* Durations as cumulative buckets (le in microseconds), their count and the
 * slowest; labels is the caller's static storage for the le labels. */
static int run_metrics_lat(struct metrics *m, const char *name, const char *help,
                           const struct loop_lat *h, char (*labels)[32])
{
	char bucket[METRICS_NAME_MAX], count[METRICS_NAME_MAX], max[METRICS_NAME_MAX];
	int rc = 0;

	snprintf(bucket, sizeof bucket, "%s_us_bucket", name);
	snprintf(count, sizeof count, "%s_count", name);
	snprintf(max, sizeof max, "%s_us_max", name);
	for (int i = 0; i < LOOP_LAT_BUCKETS; i++) {
		snprintf(labels[i], sizeof labels[i], "le=\"%llu\"",
		         (unsigned long long)loop_lat_le_us[i]);
		rc |= metrics_add_u64(m, bucket, help, RUN_C, labels[i], &h->le[i]);
	}
	rc |= metrics_add_u64(m, count, "How many were timed", RUN_C, NULL, &h->n);
	rc |= metrics_add_u64(m, max, "The slowest (us)", RUN_G, NULL, &h->max_us);
	return rc;
}

/* Journal fsyncs, frame-to-Redis times and the loop's work per iteration. */
static int run_metrics_journal(struct metrics *m)
{
	static char labels[3][LOOP_LAT_BUCKETS][32];
	int rc;

	rc = metrics_add_u64(m, "fillrelay_journal_fsyncs_total", "Journal fsyncs", RUN_C, NULL,
	                     &run_s.sink.j.fsyncs);
	rc |= run_metrics_lat(m, "fillrelay_journal_fsync",
	                      "Journal fsyncs taking at most le microseconds",
	                      &run_s.sink.j.fsync_lat, labels[0]);
	rc |= run_metrics_lat(m, "fillrelay_frame_to_redis",
	                      "Fills whose publish Redis answered within le us of their frame",
	                      &run_s.rds.stats.publish_lat, labels[1]);
	rc |= run_metrics_lat(m, "fillrelay_loop_busy",
	                      "Loop iterations whose work took at most le us (the loop's lag)",
	                      &run_s.loop.busy, labels[2]);
	return rc;
}

static int64_t run_m_spill(void *ctx)
{
	(void)ctx;
	return (int64_t)sink_spill_depth(&run_s.sink);
}

static int64_t run_m_pg(void *ctx)
{
	(void)ctx;
	return pg_ready(&run_s.pg);
}

static int64_t run_m_rds(void *ctx)
{
	(void)ctx;
	return rds_state(&run_s.rds) == RDS_READY;
}

static int64_t run_m_journal(void *ctx)
{
	(void)ctx;
	return run_s.sink.open && run_s.sink.err == 0;
}

static int64_t run_m_healthy(void *ctx)
{
	(void)ctx;
	return sink_healthy(&run_s.sink);
}


static int run_metrics_acct(struct metrics *m, struct run_acct *a)
{
	const char *l = a->label;
	int rc = 0;

	rc |= metrics_add_fn(m, "fillrelay_stream_state", "Private stream state (bybit.h enum)",
	                     RUN_G, l, run_m_state, a);
	rc |= metrics_add_fn(m, "fillrelay_stream_live", "1 when the private stream is LIVE",
	                     RUN_G, l, run_m_live, a);
	rc |= metrics_add_fn(m, "fillrelay_last_message_age_ms",
	                     "Milliseconds since the stream's last message (-1 none)", RUN_G, l,
	                     run_m_age, a);
	rc |= metrics_add_fn(m, "fillrelay_server_time_offset_ms",
	                     "Exchange clock minus local clock", RUN_G, l, run_m_offset, a);
	rc |= metrics_add_u64(m, "fillrelay_stream_lives_total", "Times the stream became LIVE",
	                      RUN_C, l, &a->ss.st.lives);
	rc |= metrics_add_u64(m, "fillrelay_stream_gates_total",
	                      "Connections that waited for a backfill before subscribing", RUN_C, l,
	                      &a->ss.st.gates);
	rc |= metrics_add_u64(m, "fillrelay_stream_reconnects_total", "Stream connections lost",
	                      RUN_C, l, &a->ss.st.reconnects);
	rc |= metrics_add_u64(m, "fillrelay_stream_holds_total",
	                      "Streams closed because the journal was full", RUN_C, l,
	                      &a->ss.st.holds);
	rc |= metrics_add_u64(m, "fillrelay_stream_messages_total", "Stream messages received",
	                      RUN_C, l, &a->ss.st.msgs_in);
	rc |= metrics_add_u64(m, "fillrelay_backfill_runs_total",
	                      "Execution backfills finished", RUN_C, l, &a->bf_runs);
	rc |= metrics_add_u64(m, "fillrelay_backfill_failures_total", "Backfill jobs failed",
	                      RUN_C, l, &a->bf_failures);
	rc |= metrics_add_u64(m, "fillrelay_backfill_pages_total", "REST pages handed to the sink",
	                      RUN_C, l, &a->bf_pages);
	rc |= metrics_add_u64(m, "fillrelay_backfill_fills_total", "Fills listed by backfills",
	                      RUN_C, l, &a->bf_fills);
	rc |= metrics_add_u64(m, "fillrelay_backfill_pauses_total",
	                      "Backfill pages refused by a full journal", RUN_C, l, &a->bf_pauses);
	rc |= metrics_add_u64(m, "fillrelay_reconcile_runs_total", "Position lists read", RUN_C,
	                      l, &a->pos_runs);
	return rc;
}

static int run_metrics_sink(struct metrics *m)
{
	const struct sink_stats *s = &run_s.sink.stats;
	int rc = 0;

	rc |= metrics_add_u64(m, "fillrelay_messages_total", "Pushes and REST pages taken", RUN_C,
	                      NULL, &s->messages);
	rc |= metrics_add_u64(m, "fillrelay_fills_received_total", "Execution records decoded",
	                      RUN_C, NULL, &s->fills_received);
	rc |= metrics_add_u64(m, "fillrelay_fills_journaled_total", "Fills journaled", RUN_C,
	                      NULL, &s->fills_journaled);
	rc |= metrics_add_u64(m, "fillrelay_fills_written_total", "Fills new in PostgreSQL",
	                      RUN_C, NULL, &s->fills_written);
	rc |= metrics_add_u64(m, "fillrelay_fills_deduplicated_total",
	                      "Fills PostgreSQL already had", RUN_C, NULL, &s->fills_deduplicated);
	rc |= metrics_add_u64(m, "fillrelay_fills_published_total", "Fills published to bots",
	                      RUN_C, NULL, &s->published);
	rc |= metrics_add_u64(m, "fillrelay_fills_late_total", "Fills older than the book's",
	                      RUN_C, NULL, &s->late);
	rc |= metrics_add_u64(m, "fillrelay_refused_total", "Messages refused (journal full)",
	                      RUN_C, NULL, &s->refused);
	rc |= metrics_add_u64(m, "fillrelay_rejected_total", "Undecodable messages and records",
	                      RUN_C, NULL, &s->rejected);
	rc |= metrics_add_u64(m, "fillrelay_commits_total", "PostgreSQL batches committed", RUN_C,
	                      NULL, &s->commits);
	rc |= metrics_add_i64(m, "fillrelay_sink_latency_ms",
	                      "Received to committed, last fill", RUN_G, NULL, &s->latency_last_ms);
	rc |= metrics_add_i64(m, "fillrelay_sink_latency_max_ms", "Received to committed, max",
	                      RUN_G, NULL, &s->latency_max_ms);
	rc |= metrics_add_fn(m, "fillrelay_spill_depth", "Journal records not yet committed",
	                     RUN_G, NULL, run_m_spill, NULL);
	rc |= metrics_add_fn(m, "fillrelay_postgres_up", "1 when PostgreSQL is ready", RUN_G,
	                     NULL, run_m_pg, NULL);
	rc |= metrics_add_fn(m, "fillrelay_redis_up", "1 when Redis is ready", RUN_G, NULL,
	                     run_m_rds, NULL);
	rc |= metrics_add_fn(m, "fillrelay_journal_ok", "1 when the journal is writable", RUN_G,
	                     NULL, run_m_journal, NULL);
	rc |= metrics_add_fn(m, "fillrelay_sink_healthy", "1 when the whole sink is healthy",
	                     RUN_G, NULL, run_m_healthy, NULL);
	rc |= metrics_add_u64(m, "fillrelay_postgres_losses_total", "PostgreSQL connections lost",
	                      RUN_C, NULL, &run_s.pg.stats.losses);
	rc |= metrics_add_u64(m, "fillrelay_redis_disconnects_total", "Redis connections lost",
	                      RUN_C, NULL, &run_s.rds.stats.disconnects);
	rc |= run_metrics_journal(m);
	rc |= metrics_add_fn(m, "fillrelay_arena_in_use_bytes", "Process arena bytes in use",
	                     RUN_G, NULL, run_m_arena, (void *)"in_use");
	rc |= metrics_add_fn(m, "fillrelay_arena_high_water_bytes",
	                     "Process arena: most bytes ever in use", RUN_G, NULL, run_m_arena,
	                     (void *)"high_water");
	rc |= metrics_add_fn(m, "fillrelay_arena_size_bytes", "Process arena size", RUN_G, NULL,
	                     run_m_arena, (void *)"size");
	rc |= metrics_add_fn(m, "fillrelay_arena_failures_total",
	                     "Process arena allocations refused", RUN_C, NULL, run_m_arena,
	                     (void *)"failures");
	return rc;
}

static int run_metrics_setup(void)
{
	const struct cfg_listener *li = &run_cfg->listener;
	int rc;

	metrics_init(&run_metrics);
	rc = run_metrics_sink(&run_metrics);
	for (int i = 0; i < run_accts_n; i++)
		rc |= run_metrics_acct(&run_metrics, &run_accts[i]);
	if (rc != 0) {
		log_error("metrics registry refused an entry", LS("error", err_str(rc)));
		return EX_SOFTWARE;
	}
	rc = metrics_listen(&run_metrics, &run_s.loop, li->metrics_host, li->metrics_port,
	                    run_health, NULL);
	if (rc != 0) {
		log_error("cannot serve metrics", LS("host", li->metrics_host),
		          LI("port", li->metrics_port), LS("error", err_str(rc)),
		          LS("reason", run_metrics.errmsg));
		return rc == FR_EINVAL ? EX_CONFIG : EX_OSERR;
	}
	return EX_OK;
}

/* ---- start-up ------------------------------------------------------------ */

static int run_last_known_row(void *arg, int ncols, const char *const *vals)
{
	(void)arg;
	if (ncols != 2 || !vals[0] || !vals[1])
		return 0;
	for (int i = 0; i < run_accts_n; i++)
		if (strcmp(run_accts[i].acct->name, vals[0]) == 0)
			run_accts[i].last_known_ms = strtoll(vals[1], NULL, 10);
	return 0;
}

static int run_has_fills_row(void *arg, int ncols, const char *const *vals)
{
	*(int *)arg = ncols == 1 && vals[0] && vals[0][0] == 't';
	return 0;
}

/* The newest stored execTime per account (blocking: before the loop runs). */
static int run_last_known(void)
{
	int have = 0;
	int rc = pg_query_blocking(&run_s.pg, "SELECT to_regclass('trading.fills') IS NOT NULL",
	                           run_has_fills_row, &have);

	if (rc >= 0 && have)
		rc = pg_query_blocking(&run_s.pg,
		                       "SELECT account, (extract(epoch FROM max(exec_time)) * 1000)"
		                       "::bigint FROM trading.fills GROUP BY account",
		                       run_last_known_row, NULL);
	if (rc < 0) {
		log_warn("cannot read the newest stored fills: no backfill until they are",
		         LS("error", run_s.pg.msg));
		return EX_UNAVAILABLE;
	}
	for (int i = 0; i < run_accts_n; i++)
		log_info("newest stored fill", LS("account", run_accts[i].acct->name),
		         LI("exec_time_ms", run_accts[i].last_known_ms));
	return EX_OK;
}

/* ---- the sink stack (shared with `spill replay`) ------------------------- */

/* mkdir -p dir with mode 0700 for every directory it makes: 0 when dir is a
 * directory at the end (*created: this call made it), else -1 with errno
 * (ENOTDIR: it, or a parent, exists as something else). */
static int run_mkdirs(const char *dir, int *created)
{
	char path[CFG_PATH_MAX];
	struct stat st;
	size_t n = strlen(dir);

	*created = 0;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
	if (n == 0 || n >= sizeof path)
		return errno = n ? ENAMETOOLONG : ENOENT, -1;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == 0)
			*created = 1;
		else if (errno != EEXIST)
			return -1;
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(dir, &st) != 0)
		return -1;
	return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
}

/* The journal refuses a missing directory (journal.h): a fresh install's
 * spill_dir is made here, private to the service's user. */
static int run_spill_dir(const char *dir)
{
	int created;

	if (run_mkdirs(dir, &created) != 0) {
		int e = errno;

		log_error(e == ENOTDIR ? "spill_dir is not a directory"
		                       : "cannot create the spill directory",
		          LS("path", dir), LS("error", strerror(e)));
		return EX_CONFIG;
	}
	if (created)
		log_info("created the spill directory", LS("path", dir), LS("mode", "0700"));
	return EX_OK;
}

static int run_sinks_init(struct verb_run_sinks *s, const struct cfg *c)
{
	struct pg_opts po = {
	    .migrate = 1, .reconnect = 1, .on_commit = sink_pg_on_commit, .arg = &s->sink};

	if (book_init(&s->book, c, NULL) != 0) {
		log_error("cannot set up the book", LS("error", "book_init"));
		return EX_CONFIG;
	}
	if (pg_init(&s->pg, &s->loop, &s->resolv, &c->postgres, &po) != 0) {
		log_error("cannot set up PostgreSQL", LS("reason", s->pg.msg));
		return EX_CONFIG;
	}
	if (rds_init(&s->rds, &s->loop, &s->resolv, c, &s->book) != 0) {
		log_error("cannot set up Redis", LS("reason", "no bot uses Redis"));
		return EX_CONFIG;
	}
	s->sinks_up_ = 1;
	return EX_OK;
}

/* see verb_run.h */
int verb_run_sinks_open(struct verb_run_sinks *s, const struct cfg *c, const char *spill_dir)
{
	const struct cfg_listener *li = &c->listener;
	struct sink_opts so;
	int rc;

	memset(&so, 0, sizeof so);
	so.journal.dir = spill_dir ? spill_dir : li->spill_dir;
	so.journal.limit_bytes = li->spill_limit_bytes;
	so.journal.fsync = (enum journal_fsync)li->spill_fsync;
	so.warm = 1;
	s->open_rc = FR_EINVAL; /* until sink_open says otherwise */
	loop_init(&s->loop, &loop_sys_real);
	if (resolv_init(&s->resolv, &s->loop, NULL, NULL) != 0) {
		log_error("cannot set up the resolver", LS("error", "resolv_init"));
		return EX_OSERR;
	}
	s->resolv_up_ = 1;
	rc = run_spill_dir(so.journal.dir);
	if (rc == EX_OK)
		rc = run_sinks_init(s, c);
	if (rc != EX_OK)
		return rc;
	s->open_rc = sink_open(&s->sink, c, &s->loop, &s->book, &s->pg, &s->rds, &so);
	if (s->open_rc != 0) {
		log_error("cannot open the sink", LS("error", err_str(s->open_rc)),
		          LS("reason", s->sink.msg));
		return EX_UNAVAILABLE;
	}
	/* Resident from the start, like the arena: a burst reaching the far end
	 * of a table later does not grow the process (arena.h arena_touch). */
	arena_touch(s, sizeof *s);
	pg_touch_buffers();
	return EX_OK;
}

/* see verb_run.h */
struct verb_run_sinks *verb_run_sinks_storage(void)
{
	return &run_s;
}

/* see verb_run.h */
int verb_run_sinks_drained(const struct verb_run_sinks *s)
{
	return sink_spill_depth(&s->sink) == 0 && sink_dirty(&s->sink) == 0 && pg_drained(&s->pg) &&
	       rds_idle(&s->rds);
}

/* see verb_run.h */
void verb_run_sinks_close(struct verb_run_sinks *s)
{
	if (s->sinks_up_) {
		pg_stop(&s->pg);
		rds_stop(&s->rds);
		s->sinks_up_ = 0;
	}
	sink_close(&s->sink);
	if (s->resolv_up_) {
		resolv_close(&s->resolv);
		s->resolv_up_ = 0;
	}
}

/* The anchors of ca_file, loaded once per distinct file. */
static const struct pem_ta_store *run_anchors_for(const char *ca_file)
{
	struct pem_ta_store *s;

	for (int i = 0; i < run_ca_n; i++)
		if (strcmp(run_ca_files[i], ca_file) == 0)
			return &run_anchors[i];
	if (run_ca_n == VERB_RUN_CA_MAX) {
		log_error("too many distinct ca_file values", LI("max", VERB_RUN_CA_MAX));
		return NULL;
	}
	s = &run_anchors[run_ca_n];
	pem_ta_init(s);
	if (pem_ta_load_file(s, ca_file) < 1) {
		log_error("no trust anchors", LS("ca_file", ca_file), LS("reason", pem_ta_errmsg(s)));
		return NULL;
	}
	run_ca_files[run_ca_n++] = ca_file;
	return s;
}

/* Sessions of one exchange host share one connection budget. */
static struct bybit_budget *run_budget_for(int i)
{
	const char *host = run_cfg->accounts[i].ep.ws_url.host;

	for (int k = 0; k < i; k++)
		if (strcmp(run_cfg->accounts[k].ep.ws_url.host, host) == 0)
			return &run_budgets[k];
	return &run_budgets[i];
}

static int run_setup_acct(int i)
{
	const struct cfg_exchange *ex = &run_cfg->exchange;
	struct run_acct *a = &run_accts[i];
	const struct pem_ta_store *ta;
	char esc[CFG_NAME_MAX * 2];
	int rc;

	a->acct = &run_cfg->accounts[i];
	a->pos_step = RUN_POS_STEPS;
	metrics_label_escape(esc, sizeof esc, a->acct->name);
	snprintf(a->label, sizeof a->label, "account=\"%s\"", esc);
	ta = run_anchors_for(a->acct->ep.ca_file);
	if (!ta)
		return EX_CONFIG;
	xclock_init(&a->clock, a->acct->name);
	rc = rest_init(&a->rest, &run_s.loop, &run_s.resolv, ta, a->acct, ex->recv_window_ms,
	               &a->clock);
	if (rc == 0)
		rc = bybit_init(&a->ss, &run_s.loop, &run_s.resolv, ta, a->acct, ex->ping_interval_ms,
		                ex->silence_timeout_ms, run_budget_for(i), run_on_push, NULL);
	if (rc != 0) {
		log_error("cannot use the account's endpoints", LS("account", a->acct->name),
		          LS("error", err_str(rc)));
		return EX_CONFIG;
	}
	bybit_share_clock(&a->ss, &a->clock);
	bybit_set_gate(&a->ss, 1); /* subscribe after the backfill: bybit.h, "The gate" */
	backfill_init(&a->bf, &a->rest);
	return EX_OK;
}

static int run_setup(void)
{
	int rc;

	run_accts_n = run_cfg->accounts_n;
	for (int i = 0; i < run_accts_n; i++)
		run_accts[i].acct = &run_cfg->accounts[i]; /* run_last_known looks them up */
	rc = verb_run_sinks_open(&run_s, run_cfg, NULL);
	run_known_pending = 1;
	if (rc == EX_OK && !sink_warm_pending(&run_s.sink))
		run_known_pending = run_last_known() != EX_OK;
	for (int i = 0; i < run_accts_n && rc == EX_OK; i++) {
		arena_touch(&run_accts[i], sizeof run_accts[i]); /* as verb_run_sinks_open */
		rc = run_setup_acct(i);
		run_accts_up += rc == EX_OK;
	}
	if (rc == EX_OK && (pg_start(&run_s.pg) != 0 || rds_start(&run_s.rds) != 0)) {
		log_error("cannot start PostgreSQL or Redis", LS("error", "start"));
		rc = EX_OSERR;
	}
	if (rc == EX_OK)
		rc = run_metrics_setup();
	if (rc == EX_OK && loop_signals_install(&run_s.loop, NULL, NULL) != 0) {
		log_error("cannot install the signal handlers", LS("error", "signals"));
		rc = EX_OSERR;
	}
	run_signals_up = rc == EX_OK;
	return rc;
}

static int run_start(void)
{
	loop_set_before_sleep(&run_s.loop, run_before_sleep, &run_s.sink);
	run_tick = loop_timer_add(&run_s.loop, VERB_RUN_TICK_MS, VERB_RUN_TICK_MS, run_on_tick, NULL);
	run_next_sweep_ms = run_mono() + VERB_RUN_SWEEP_MS;
	for (int i = 0; i < run_accts_n; i++)
		if (bybit_start(&run_accts[i].ss) != 0) {
			log_error("cannot start the stream", LS("account", run_accts[i].acct->name));
			return EX_SOFTWARE;
		}
	return EX_OK;
}

/* ---- shutdown ------------------------------------------------------------ */

static int run_drained(void)
{
	return sink_spill_depth(&run_s.sink) == 0 && (rds_state(&run_s.rds) != RDS_READY ||
	                                            rds_idle(&run_s.rds));
}

/* Lets PostgreSQL commit what is journaled, for at most VERB_RUN_DRAIN_MS. */
static void run_drain(void)
{
	int64_t end = run_mono() + VERB_RUN_DRAIN_MS;

	while (!run_drained() && pg_ready(&run_s.pg) && run_s.sink.err == 0 && run_mono() < end)
		if (loop_run_once(&run_s.loop, 50) < 0)
			break;
	log_info("shutdown drain", LI("spill_depth", sink_spill_depth(&run_s.sink)),
	         LI("drained", run_drained()));
}

static void run_stop(void)
{
	for (int i = 0; i < run_accts_up; i++)
		bybit_stop(&run_accts[i].ss);
	for (int i = 0; i < run_accts_up; i++) {
		backfill_cancel(&run_accts[i].bf);
		rest_close(&run_accts[i].rest);
	}
	if (run_s.sink.open && run_accts_up == run_accts_n)
		run_drain();
	if (run_tick >= 0)
		loop_timer_cancel(&run_s.loop, run_tick);
	metrics_close(&run_metrics);
	if (run_signals_up)
		loop_signals_remove(&run_s.loop);
	verb_run_sinks_close(&run_s);
}

/* see verb_run.h */
int verb_run(const struct cfg *c)
{
	int rc;

	run_cfg = c;
	metrics_init(&run_metrics); /* metrics_close is safe whatever happens */
	rc = run_setup();
	if (rc == EX_OK)
		rc = run_start();
	if (rc == EX_OK) {
		log_info("fillrelay started", LS("instance", c->listener.instance),
		         LI("accounts", run_accts_n), LS("metrics_host", c->listener.metrics_host),
		         LI("metrics_port", run_metrics.port));
		if (loop_run(&run_s.loop) != 0) {
			log_error("event loop failed", LS("error", "poll"));
			rc = EX_OSERR;
		}
	}
	run_stop();
	log_info("fillrelay stopped", LS("instance", c->listener.instance), LI("exit", rc),
	         LI("fills_written", run_s.sink.stats.fills_written),
	         LI("spill_depth", sink_spill_depth(&run_s.sink)));
	return rc;
}
