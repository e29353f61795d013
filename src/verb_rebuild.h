/*
 * verb_rebuild.h -- `fillrelay rebuild [-c FILE]`: recompute every symbol of
 * every configured account from trading.fills in exchange order (DESIGN.md 4)
 * and rewrite what derives from the fills: trading.fills' bot_id, reason,
 * close_reason, realized_pnl and trade_seq, trading.fill_allocations,
 * trading.trades_pnl and trading.bot_positions (sink_rebuild_symbol: only rows
 * whose values differ are written, each symbol in one transaction), then the
 * Redis position keys of the rebuilt book (rds.h: a full rewrite on connect;
 * equal versions overwrite).
 *
 * Prints one summary line on standard output:
 *     rebuild: S symbols, F fills, C rows changed, redis rewritten
 * (C is 0 when everything stored was already right: run twice, the second
 * run reports 0). Fills of accounts not in the configuration are skipped
 * (counted in the line as "N skipped").
 *
 * It is meant for a stopped fillrelay (a running one writes the same rows
 * with its own book; run's rebuilds after late fills are automatic). The
 * host name is looked up by the non-blocking resolver first (pg_start), so
 * libpq gets a numeric hostaddr; the statements then block (a verb).
 *
 * Exit (sysexits.h): EX_OK; EX_UNAVAILABLE when PostgreSQL cannot be reached
 * or Redis does not become ready within RBV_REDIS_WAIT_MS (PostgreSQL is
 * rebuilt by then); EX_CONFIG for a conninfo libpq refuses; EX_SOFTWARE when
 * a statement fails (that symbol's transaction is rolled back, the others
 * stay); EX_OSERR when the resolver cannot start.
 */
#ifndef FR_VERB_REBUILD_H
#define FR_VERB_REBUILD_H

#include "cfg.h"

#define RBV_REDIS_WAIT_MS 15000

int verb_rebuild(const struct cfg *c);

#endif
