/*
 * verb_run.h -- `fillrelay run`: the product's main job (DESIGN.md 2, 4, 5, 7).
 *
 * Assembles the committed modules in STYLE.md's fixed order, on one loop:
 *   the disk journal and the book's warm-up (sink_open, warm) -> PostgreSQL
 *   (pg: migrate at every connect, commits reported to the sink) -> Redis
 *   (rds) -> the resolver -> the trust anchors of each distinct ca_file ->
 *   per account one exchange clock (xclock), REST client, backfill and
 *   private stream session (sessions whose ws_url share a host share one
 *   connection budget) -> the metrics server (/metrics, /healthz) -> the
 *   signal handlers -> the sessions -> loop_run.
 *
 * Backfill (DESIGN.md 2: Bybit does not replay). Each time an account's
 * session reaches LIVE (its st.lives moved), an execution backfill of the
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

#include "cfg.h"

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
 * refuse (a ca_file without anchors, an unusable URL, too many ca_files, a
 * metrics address that is not a literal), EX_OSERR when the loop, the
 * resolver, the signals or the metrics socket cannot be set up.
 */
int verb_run(const struct cfg *c);

#endif
