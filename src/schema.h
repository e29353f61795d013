/*
 * schema.h -- the `trading` schema of DESIGN.md section 4, as an ordered list of
 * migration steps, and the SQL the migrator runs around them.
 *
 * Versions. Step i (0-based) brings the schema from version i to version i + 1;
 * trading.schema_version holds one row per applied step (version, name,
 * applied_at), so the schema's version is max(version), 0 when the table is
 * empty or absent. Steps are never edited once released: a change is a new step.
 *
 * How pg.c applies them (one transaction per step, so a failed step leaves the
 * schema at the previous version, and every step is applied exactly once):
 *   1. SCHEMA_SQL_PROBE: BEGIN; pg_advisory_xact_lock(SCHEMA_LOCK_KEY); create
 *      the schema and trading.schema_version if missing; SELECT the version.
 *      The lock is held until this transaction ends, so two migrators (two
 *      fillrelay processes, or `fillrelay migrate` beside a running one)
 *      serialise: the second reads the version the first committed.
 *   2. version >= SCHEMA_VERSION: COMMIT; done.
 *      otherwise: the next step's SQL, its schema_version row, COMMIT (one
 *      simple-protocol message); then back to 1 for the following step.
 * Everything is plain SQL in simple-protocol messages, transaction-scoped
 * (xact lock, no SET, no prepared statements), so it works through pgbouncer
 * in transaction pooling mode.
 *
 * Tables (money and sizes numeric, exact; times timestamptz):
 *   trading.fills            one row per (account, exec_id); derived columns
 *                            bot_id, reason, close_reason, realized_pnl,
 *                            trade_seq; raw jsonb = the execution as received
 *   trading.fill_allocations (account, exec_id, bot_id, position_idx): a fill's
 *                            parts when it is split among holders
 *   trading.trades_pnl       one row per closed round trip (book_trip), unique
 *                            on (account, bot_id, category, symbol, trade_seq)
 *   trading.bot_positions    fillrelay's book: each bot's position, latest
 *   trading.open_trades      view: bot_positions with a round trip open
 *   trading.orders           latest state per (account, order_id)
 *   trading.positions        the exchange's latest per (account, category,
 *                            symbol, position_idx)
 *   trading.wallet           latest per (account, account_type, coin)
 *   trading.rejects          quarantine: rows PostgreSQL refused, raw text kept
 *   trading.schema_version   applied steps
 */
#ifndef FR_SCHEMA_H
#define FR_SCHEMA_H

#include <stdint.h>

/* pg_advisory_xact_lock key: "fillrelay" squeezed into 63 bits, fixed forever. */
#define SCHEMA_LOCK_KEY 7308613581937226099LL
#define SCHEMA_LOCK_KEY_SQL "7308613581937226099" /* the same, for SQL text */

struct schema_step {
	int version;      /* i + 1 for schema_steps[i] */
	const char *name; /* short, [a-z0-9_]: goes into schema_version.name */
	const char *sql;  /* one or more statements; no BEGIN/COMMIT, no trailing ';' needed */
};

extern const struct schema_step schema_steps[];
extern const int schema_steps_n;

/* The version this build brings a database to: schema_steps_n. */
#define SCHEMA_VERSION schema_version_latest()
int schema_version_latest(void);

/*
 * The probe of step 1 above, as one simple-protocol message. Its last result
 * is one row, one column: the current version (an integer, 0 for a fresh
 * database). Leaves the transaction open, holding the lock.
 */
extern const char schema_sql_probe[];

/*
 * Writes into buf (cap bytes) the message that applies step s inside the
 * probe's transaction and commits: s->sql; the schema_version row; COMMIT.
 * Returns its length, or FR_ERANGE when it does not fit.
 */
int schema_step_sql(const struct schema_step *s, char *buf, int cap);

#endif
