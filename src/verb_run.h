/*
 * verb_run.h -- `fillrelay run`: the product's main job (DESIGN.md 2, 4, 5, 7).
 *
 * Assembles the committed modules in STYLE.md's fixed order, on one loop:
 *   the spill directory (made, mode 0700, when missing) -> the disk journal
 *   and the book's warm-up (sink_open, warm) -> PostgreSQL
 *   (pg: migrate at every connect, commits reported to the sink) -> Redis
 *   (rds) -> the resolver -> the trust anchors of each distinct ca_file ->
 *   per account one exchange clock (xclock), REST client, backfill and
 *   private stream session (sessions whose ws_url share a host share one
 *   connection budget) -> the metrics server (/metrics, /healthz) -> the
 *   signal handlers -> the sessions -> loop_run.
 *
 * Backfill (DESIGN.md 2: Bybit does not replay). Sessions are gated
 * (bybit.h): each connection authenticates, then waits unsubscribed while an
 * execution backfill brings what no stream saw, so those fills are applied
 * before the first push of the connection, in exchange order ("live fills
 * are held while a backfill runs": the exchange holds them). The gate opens
 * when that backfill ends, or when it failed (the stream is not kept shut
 * while REST is refused; a late fill is still applied, by a rebuild of its
 * symbol). Each time an account's session reaches GATED or LIVE (st.gates
 * or st.lives moved: the second pass covers what happened between the
 * first and the subscription), an execution backfill of the
 * account's categories runs from since = max(0, last known execTime -
 * VERB_RUN_MARGIN_MS) to the exchange's now; "last known" is the newest
 * exec_time of the account in trading.fills at start-up, raised by every
 * fill the book applies afterwards (book positions' last_exec_time_ms). With
 * no fill known, since = exchange now - the account's backfill_horizon. The
 * same runs every VERB_RUN_SWEEP_MS, and after each execution backfill the
 * linear position list is read by settleCoin USDT and USDC (reconciliation:
 * positions reach rds's exchange view through the sink). Every page goes to
 * sink_rest_page; when the journal is full the job pauses and resumes once
 * the spill depth fell. A failed backfill is retried after
 * VERB_RUN_RETRY_MS.
 *
 * PostgreSQL down at start: `run` starts anyway (sink.h, sink_open: the
 * book's warm-up waits for PostgreSQL, the journal takes what comes); the
 * newest stored fills are read once the book is warm, and until then no
 * backfill starts, so gated sessions stay unsubscribed: REST holds what
 * happens meanwhile, and the first backfill after brings it.
 *
 * Back-pressure: a push the sink refuses holds the session (bybit.h); it is
 * resumed (bybit_resume) once the spill depth fell below what it was at the
 * hold, and the backfill after the new LIVE brings the refused fills.
 *
 * /healthz: 200 when the sink is healthy (journal writable, PostgreSQL ready,
 * Redis ready) and every account is LIVE, or reconnecting after having been
 * LIVE with its last message less than 2 silence timeouts ago; else 503.
 * The body is one JSON object: status, instance, postgres, redis, journal,
 * spill_depth, and accounts (state, lives, reconnects, last_message_age_ms,
 * clock_offset_ms per account).
 *
 * Shutdown (SIGTERM, SIGINT), in reverse: sessions stopped (close 1000),
 * backfills cancelled, the loop run until every journaled record is
 * committed and Redis is idle, at most VERB_RUN_DRAIN_MS, then the metrics
 * server, PostgreSQL, Redis, the journal (final sync), the resolver close.
 *
 * Memory: everything lives in static storage of verb_run.c (the sink's
 * 9 MiB, one session of about 310 KB per account, VERB_RUN_CA_MAX anchor
 * stores); call once per process. Logs "fillrelay started" and "fillrelay
 * stopped" with the instance.
 */
#ifndef FR_VERB_RUN_H
#define FR_VERB_RUN_H

#include "book.h"
#include "cfg.h"
#include "loop.h"
#include "pg.h"
#include "rds.h"
#include "resolv.h"
#include "sink.h"

#define VERB_RUN_MARGIN_MS (5 * 60 * 1000) /* backfill overlap before the newest fill */
#define VERB_RUN_SWEEP_MS (5 * 60 * 1000)  /* periodic backfill and reconciliation */
#define VERB_RUN_RETRY_MS 30000            /* after a failed backfill */
#define VERB_RUN_DRAIN_MS 5000             /* shutdown: wait for PostgreSQL this long */
#define VERB_RUN_TICK_MS 1000              /* scheduling check without traffic */
#define VERB_RUN_CA_MAX 4                  /* distinct ca_file values */

/*
 * Runs until SIGTERM/SIGINT. c is loaded (cfg_load) and the arena reserved
 * by the caller; c must outlive the call. Returns a sysexits code: EX_OK
 * after an orderly stop, EX_UNAVAILABLE when the journal or the database
 * cannot be opened at start, EX_CONFIG for a configuration the modules
 * refuse (a spill_dir that is not a directory or cannot be created, a
 * ca_file without anchors, an unusable URL, too many ca_files, a metrics
 * address that is not a literal), EX_OSERR when the loop, the resolver, the
 * signals or the metrics socket cannot be set up.
 */
int verb_run(const struct cfg *c);

/* ---- the sink stack, shared with `spill replay` (verb_spill.h) ------------ */

/*
 * Everything `run` assembles but the exchange side: one loop on the real
 * clocks, the resolver, the book, PostgreSQL (migrating at every connect,
 * reconnecting, commits reported to the sink), Redis and the sink. The
 * fields are the modules' own contexts, for the caller to drive (pg_start,
 * rds_start, loop_set_before_sleep with sink_before_sleep, loop_run_once).
 * Caller-owned static storage: about 18 MiB (sink, book, pg, rds).
 */
struct verb_run_sinks {
	struct loop loop;
	struct resolv resolv;
	struct book book;
	struct pg pg;
	struct rds rds;
	struct sink sink;
	int open_rc;               /* sink_open's result (err.h); 0 once open */
	int resolv_up_, sinks_up_; /* private: what verb_run_sinks_close undoes */
};

/*
 * Sets s up for c, in this order: the loop, the resolver, the spill
 * directory (spill_dir, or c's [listener] spill_dir when NULL; created with
 * any missing parent, mode 0700, when it does not exist, logged "created the
 * spill directory"), the book, pg, rds, then sink_open with the warm-up
 * (journal recovery under the journal's lock, then the stored fills read over
 * a blocking PostgreSQL connection, or later when it is down). Starts nothing. Returns EX_OK or, having
 * logged why: EX_OSERR (the resolver), EX_CONFIG (spill_dir exists but is not
 * a directory, or cannot be created; a conninfo pg refuses), EX_UNAVAILABLE
 * (sink_open failed: s->open_rc and s->sink.msg say why -- a damaged journal,
 * or one locked by another process ("locked by another process", journal.h);
 * PostgreSQL not answering leaves the warm-up pending, sink.h). s is zeroed
 * static storage, c and
 * spill_dir outlive it. Call verb_run_sinks_close after any result.
 */
int verb_run_sinks_open(struct verb_run_sinks *s, const struct cfg *c, const char *spill_dir);

/* The one static struct verb_run_sinks (about 18 MiB of zeroed storage) that
 * `run` uses: a verb run in the same process (spill replay) shares it rather
 * than keeping another. Not to be used while `run` runs. */
struct verb_run_sinks *verb_run_sinks_storage(void);

/* 1 when everything journaled is committed and written: spill depth 0, no
 * symbol waiting for a rebuild, no PostgreSQL batch open, queued or in
 * flight, and Redis idle (READY, rewrite done, nothing queued or awaited). */
int verb_run_sinks_drained(const struct verb_run_sinks *s);

/* Stops pg and rds, closes the sink (final sync; checkpoint at the last
 * commit) and the resolver. Safe after any result of verb_run_sinks_open. */
void verb_run_sinks_close(struct verb_run_sinks *s);

#endif
