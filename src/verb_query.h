/*
 * verb_query.h -- the query verbs of DESIGN.md section 6, the seed guide's three
 * queries as an operator runs them:
 *
 *   fillrelay fills --bot B [--limit N]   seed query 1: the bot's latest fills,
 *       newest first (exec_time, seq, exec_id descending), at most N (default
 *       VQ_LIMIT_DEFAULT, 1..VQ_ROWS_MAX). Columns: time (UTC, ms), account,
 *       symbol, side, qty, price, fee, fee_ccy, reason, close_reason,
 *       realized_pnl, exec_type. A fill split among holders (netted close,
 *       shared funding; trading.fill_allocations) is listed for every holder
 *       with that holder's qty, fee and realized_pnl.
 *   fillrelay pnl [--bot B]   seed query 2 over trading.trades_pnl, one row per
 *       (bot, close reason, currency): trades, total (sum net_pnl), average
 *       (avg net_pnl rounded to 8 places, trailing zeros trimmed), wins (net_pnl > 0) and win_rate
 *       (wins / trades, rounded to 4 places, exact numeric -- the seed's
 *       ::FLOAT is not used). Ordered by bot, currency, total descending.
 *   fillrelay positions [--bot B]   seed query 3 with drift: one row per
 *       trading.bot_positions row (account, bot, category, symbol,
 *       position_idx): fillrelay's signed size, the bot's Redis key (rds.h
 *       "Keys", in the bot's db) and its value, the exchange's view from
 *       fillrelay:account:ACCOUNT:position...:SYMBOL (size, side, drift), and
 *       a status: "ok", "redis-missing" (no key), "redis-mismatch" (the key's
 *       value is not |size|, compared as exact decimals), "drift" (the view's
 *       drift flag is 1), "pending" (drift "pending": a fill is in flight),
 *       several joined by ','. A missing exchange view is not a mismatch (the
 *       exchange has not pushed that symbol since Redis was last emptied): its
 *       columns show "-".
 *
 * Output on standard output: by default an aligned plain-text table (a header
 * line, then one line per row; columns separated by two spaces, numbers
 * right-aligned, no trailing blanks; SQL NULL shows "-"); with --json one JSON
 * object per row and line, keys as the header names, decimals as JSON strings
 * exactly as PostgreSQL prints the stored numeric (never a float), counts as
 * JSON numbers, NULL as null. Nothing else goes to standard output; an empty
 * result is the header alone (table) or no line (JSON).
 *
 * Connections: PostgreSQL through pg's blocking connection (pg_blk_open),
 * after the host is resolved by the non-blocking resolver (numeric hostaddr);
 * Redis (positions only) through hiredis's blocking context to the resolved
 * address, with a timeout of VQ_REDIS_TIMEOUT_MS, AUTH when a password is
 * configured. Read-only: nothing is written anywhere.
 *
 * Exit (sysexits.h): EX_OK; EX_USAGE for fills without --bot, a bad --limit
 * or extra arguments; EX_CONFIG for a --bot that is not in the configuration
 * (the invented bots "unattributed" and "shared" are accepted) or a conninfo
 * libpq refuses; EX_UNAVAILABLE when PostgreSQL or Redis cannot be reached
 * (one line on stderr with the reason, never a password); EX_SOFTWARE when a
 * query fails (e.g. the schema is missing: run `fillrelay migrate`) or more
 * rows than VQ_ROWS_MAX come back (the first VQ_ROWS_MAX are printed);
 * EX_OSERR when the resolver cannot start.
 *
 * Memory: static tables of fixed size (about 1 MiB with the cells); the
 * libraries allocate through the arena in the product build. Not reentrant.
 */
#ifndef FR_VERB_QUERY_H
#define FR_VERB_QUERY_H

#include "cfg.h"

#define VQ_LIMIT_DEFAULT 20
#define VQ_ROWS_MAX 1000       /* rows of one table; also the largest --limit */
#define VQ_COLS_MAX 14
#define VQ_CELL_MAX 80         /* one cell, NUL included; longer text is cut */
#define VQ_REDIS_TIMEOUT_MS 5000

enum vq_verb {
	VQ_FILLS,
	VQ_PNL,
	VQ_POSITIONS,
};

struct vq_opts {
	const char *bot; /* --bot, NULL when not given */
	int json;        /* --json */
	int limit;       /* fills --limit; 0: VQ_LIMIT_DEFAULT */
};

/* Runs verb v with the parsed configuration c; returns a sysexits code. */
int verb_query(enum vq_verb v, const struct cfg *c, const struct vq_opts *o);

/* "fills", "pnl", "positions": the verb's name in messages. */
const char *vq_verb_name(enum vq_verb v);

#endif
