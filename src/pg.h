/*
 * pg.h -- the PostgreSQL sink: one libpq connection driven by the loop, never
 * blocking, that migrates the schema (schema.h) and writes batches of rows as
 * one transaction each, idempotently.
 *
 * Connection. pg_init parses [postgres] conninfo with PQconninfoParse: host
 * (one name or address; a path starting with '/' is a Unix socket directory),
 * hostaddr, port, dbname, user and every other keyword are passed through to
 * PQconnectStartParams, plus the configured password and application_name
 * "fillrelay" unless given. A host name is looked up with the non-blocking
 * resolver (resolv.h) and handed to libpq as hostaddr (the first address), so
 * libpq never calls getaddrinfo; a numeric host (IPv4 or IPv6 literal)
 * becomes hostaddr itself, with no lookup. A conninfo
 * with several hosts ("host=a,b") is refused (FR_ECONFIG): failover is not
 * ours. PQconnectPoll is driven by the fd's readiness; libpq ignores
 * connect_timeout in that mode, so pg arms its own timer (connect_timeout
 * from the conninfo, else opts.connect_timeout_ms). The libpq defaults taken
 * from the environment (PGHOST, ...) still apply when the conninfo leaves a
 * keyword out: the service's environment should not set them.
 *
 * Once connected the socket is non-blocking (PQsetnonblocking): sends only
 * buffer, PQflush runs when the fd is writable, PQconsumeInput when readable.
 * "connected to PostgreSQL" is logged once per connection. A failed attempt
 * is logged with libpq's message (first of a series at warn, repeats of the
 * same message at debug); passwords never appear (libpq does not print them
 * and the logger redacts registered secrets). After a failure or a lost
 * connection pg retries after a backoff that doubles from opts.backoff_min_ms
 * to opts.backoff_max_ms, reset by a successful connection; with
 * opts.reconnect == 0 the first failure is final (PG_FAILED).
 *
 * Migration (opts.migrate): after each connect, before any batch, the steps
 * of schema.h are applied as described there (one transaction per step under
 * pg_advisory_xact_lock; a no-op when up to date). version_before/after say
 * what happened. A database newer than this build (version > SCHEMA_VERSION)
 * is FR_ECONFIG and a failed step FR_EPROTO: both final (PG_FAILED), because
 * retrying cannot help.
 *
 * Batches. The caller fills the open batch (pg_batch_open) with rows and
 * submits it with a sequence number of its own (the journal checkpoint to
 * advance on commit). pg sends submitted batches in order, one at a time, each
 * as ONE pipeline: BEGIN; a statement per row (unnamed, PQsendQueryParams, text
 * parameters); COMMIT; one Sync. No named prepared statements, no session
 * state, one Sync per transaction: safe through pgbouncer in transaction
 * pooling mode (1.18 mishandles several transactions in one pipeline). Rows
 * are sent in kind order: fills, allocations, trips, bot positions, orders,
 * positions, wallet.
 *   fills       INSERT ... ON CONFLICT (account, exec_id) DO NOTHING RETURNING
 *               exec_id: a fill is PG_ROW_NEW when inserted now, PG_ROW_DUP
 *               when it was already there (Redis publishes only NEW ones).
 *   allocations upsert on (account, exec_id, bot_id, position_idx)
 *   trips       upsert on (account, bot_id, category, symbol, trade_seq)
 *   bot positions upsert; an older row never replaces a newer one: guard
 *               (last_exec_time, last_exec_id) >= the stored one
 *   orders      upsert; guard (updated_time, cum_exec_qty) >= stored
 *   positions   upsert; guard (seq, updated_time) >= stored
 *   wallet      upsert; guard updated_at >= stored
 * A row the guard keeps out is PG_ROW_STALE (not an error).
 * When the whole transaction commits, opts.on_commit(batch) runs; then the
 * batch is free again. on_commit may open and submit the next batch.
 *
 * Rejected rows. When a row's statement fails with a data or constraint error
 * (SQLSTATE class 22, 23 or 54) the transaction is rolled back, the row is
 * marked PG_ROW_REJECTED and the batch is sent again with, in its place, an
 * INSERT into trading.rejects (kind, ref, sqlstate, error, raw text): the bad
 * row is quarantined and the rest commits in the same transaction. Each round
 * removes one bad row, so a batch commits after at most (bad rows + 1) rounds.
 * If the quarantine insert itself is refused the row is PG_ROW_DROPPED and
 * logged at error with its raw text (the caller's journal still holds it).
 * Any other failure is not the row's: a lost connection (the batch is sent
 * again after the reconnect), or a statement error of another class
 * (serialization failure, a missing table, a permission): the transaction is
 * rolled back and the whole batch sent again after a pause that grows like the
 * reconnect backoff (logged at warn each time, sticky err FR_EIO), so a lasting
 * fault is not a busy loop and loses nothing. A batch whose COMMIT may have reached the server before
 * the connection was lost is marked in_doubt: its fills are then reported DUP
 * if the first attempt committed them, so the caller treats every fill of an
 * in_doubt batch as possibly new (Redis updates are idempotent).
 *
 * Memory. struct pg is caller-owned static storage (about 3.5 MiB: PG_BATCHES_MAX
 * batches of about 870 KiB); nothing is allocated by pg.c. libpq allocates internally (through
 * the arena in the product build): its output buffer holds one batch.
 * One thread; callbacks run from inside loop_run_once.
 */
#ifndef FR_PG_H
#define FR_PG_H

#include <stddef.h>
#include <stdint.h>

#include "book.h"
#include "cfg.h"
#include "dec.h"
#include "decode.h"
#include "err.h"
#include "loop.h"
#include "resolv.h"

/* ---- limits -------------------------------------------------------------- */

#define PG_PARAMS_MAX 40            /* conninfo keywords passed to libpq */
#define PG_CONNINFO_TEXT_MAX 2048   /* their copied values, NULs included */
#define PG_BATCHES_MAX 4            /* open + queued + in flight */
#define PG_BATCH_FILLS_MAX 128
#define PG_BATCH_ALLOCS_MAX 256
#define PG_BATCH_TRIPS_MAX 128
#define PG_BATCH_BOTPOS_MAX 128
#define PG_BATCH_ORDERS_MAX 128
#define PG_BATCH_POSITIONS_MAX 64
#define PG_BATCH_WALLET_MAX 64
#define PG_BATCH_ROWS_MAX 256       /* the largest of the above */
#define PG_BATCH_TEXT_MAX (256u * 1024) /* raw JSON of one batch's rows, NULs included */
#define PG_REJECT_MSG_MAX 256       /* a quarantined row's error text */
#define PG_BATCH_REJECTS_MAX 16     /* records decode refused, for trading.rejects */
#define PG_STMTS_MAX (7 * PG_BATCH_ROWS_MAX + 2)
#define PG_SQL_MAX (32 * 1024)      /* one migration message */
#define PG_CONNECT_TIMEOUT_MS 10000
#define PG_CONNECT_TIMEOUT_S "10" /* libpq's connect_timeout when the conninfo has none */
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 30000

_Static_assert(PG_BATCH_FILLS_MAX <= PG_BATCH_ROWS_MAX && PG_BATCH_ALLOCS_MAX <= PG_BATCH_ROWS_MAX &&
                   PG_BATCH_TRIPS_MAX <= PG_BATCH_ROWS_MAX &&
                   PG_BATCH_BOTPOS_MAX <= PG_BATCH_ROWS_MAX &&
                   PG_BATCH_ORDERS_MAX <= PG_BATCH_ROWS_MAX &&
                   PG_BATCH_POSITIONS_MAX <= PG_BATCH_ROWS_MAX &&
                   PG_BATCH_WALLET_MAX <= PG_BATCH_ROWS_MAX,
               "PG_BATCH_ROWS_MAX bounds every kind");
_Static_assert(PG_BATCH_TEXT_MAX < UINT32_MAX, "text offsets are uint32_t");

/* ---- rows ---------------------------------------------------------------- */

enum pg_kind {
	PG_KIND_FILL,
	PG_KIND_ALLOC,
	PG_KIND_TRIP,
	PG_KIND_BOTPOS,
	PG_KIND_ORDER,
	PG_KIND_POSITION,
	PG_KIND_WALLET,
	PG_KINDS
};

enum pg_row_state {
	PG_ROW_PENDING = 0, /* not yet committed */
	PG_ROW_NEW,         /* fill inserted by this batch; other kinds: written */
	PG_ROW_DUP,         /* fill already present: nothing written */
	PG_ROW_STALE,       /* upsert kept out by its guard: a newer state is stored */
	PG_ROW_REJECTED,    /* quarantined in trading.rejects */
	PG_ROW_DROPPED,     /* refused, and its quarantine refused too: logged */
};

/* A fill's derived columns (book.h); pg_derived_from_book fills one. */
struct pg_derived {
	char bot[BOOK_BOT_MAX]; /* "" is stored as "unattributed" */
	char reason[BOOK_REASON_MAX];
	char close_reason[BOOK_REASON_MAX];
	struct dec realized_pnl;
	int64_t trade_seq;
};

struct pg_fill {
	char account[CFG_NAME_MAX];
	struct decode_exec x; /* x.raw: span in the batch's text */
	struct pg_derived d;
	int64_t received_at_ms;
};

struct pg_alloc {
	char account[CFG_NAME_MAX];
	char exec_id[DECODE_ID_MAX];
	struct book_alloc a;
};

struct pg_order {
	char account[CFG_NAME_MAX];
	struct decode_order o;
	char bot[BOOK_BOT_MAX];       /* from its orderLinkId, "" unknown */
	char reason[BOOK_REASON_MAX]; /* canonical reason, "" unknown */
};

struct pg_position {
	char account[CFG_NAME_MAX];
	struct decode_position p;
};

struct pg_wallet {
	char account[CFG_NAME_MAX];
	struct decode_wallet w;
	int64_t updated_ms; /* the push's creationTime or the REST answer's time */
};

/* A record that never decoded, quarantined as it came (pg_batch_add_reject). */
struct pg_reject_row {
	char account[CFG_NAME_MAX];
	char kind[16];               /* "execution", ..., "message" */
	char ref[64];                /* its execId / orderId when one is readable */
	char reason[PG_REJECT_MSG_MAX];
	struct decode_span raw;      /* in the batch's text */
	int64_t received_ms;
};

/* Why a row was quarantined (state PG_ROW_REJECTED or DROPPED). */
struct pg_reject {
	char sqlstate[6];
	char msg[PG_REJECT_MSG_MAX];
};

enum pg_batch_state { PG_BATCH_FREE = 0, PG_BATCH_OPEN, PG_BATCH_QUEUED, PG_BATCH_SENT };

struct pg_batch {
	enum pg_batch_state state;
	uint64_t seq;       /* the caller's, from pg_batch_submit */
	uint64_t order_;    /* submission order: private */
	int in_doubt;       /* see "Rejected rows" above */
	int rounds;         /* pipelines sent for this batch (retries included) */
	int single_;        /* private: one statement per row (a row was refused) */
	int n[PG_KINDS];    /* rows of each kind */
	int new_n;          /* fills PG_ROW_NEW, final in on_commit */
	int dup_n, stale_n, rejected_n, dropped_n;
	uint8_t st[PG_KINDS][PG_BATCH_ROWS_MAX];             /* enum pg_row_state */
	struct pg_reject *rej_[PG_KINDS][PG_BATCH_ROWS_MAX]; /* private */
	struct pg_fill fills[PG_BATCH_FILLS_MAX];
	struct pg_alloc allocs[PG_BATCH_ALLOCS_MAX];
	struct book_trip trips[PG_BATCH_TRIPS_MAX];
	struct book_position botpos[PG_BATCH_BOTPOS_MAX];
	struct pg_order orders[PG_BATCH_ORDERS_MAX];
	struct pg_position positions[PG_BATCH_POSITIONS_MAX];
	struct pg_wallet wallet[PG_BATCH_WALLET_MAX];
	int rejrows_n;
	struct pg_reject_row rejrows[PG_BATCH_REJECTS_MAX];
	int rejects_n;                  /* private */
	struct pg_reject rejects_[16];  /* private: later rejections share the last */
	uint32_t text_used;
	char text[PG_BATCH_TEXT_MAX];   /* raw JSON, each NUL-terminated */
};

/* ---- the connection ------------------------------------------------------ */

enum pg_state {
	PG_IDLE = 0,   /* initialised, not started, or stopped */
	PG_RESOLVING,  /* looking up the host name */
	PG_CONNECTING, /* PQconnectPoll */
	PG_MIGRATING,  /* applying schema steps */
	PG_READY,      /* connected; sending batches when there are */
	PG_BACKOFF,    /* waiting before the next attempt */
	PG_FAILED,     /* final: see err/msg */
};

enum pg_event { PG_EV_CONNECTED, PG_EV_MIGRATED, PG_EV_LOST, PG_EV_FAILED };

struct pg;
typedef void (*pg_commit_fn)(void *arg, struct pg *p, const struct pg_batch *b);
typedef void (*pg_event_fn)(void *arg, struct pg *p, enum pg_event ev);

struct pg_opts {
	int migrate;   /* apply pending schema steps after each connect */
	int reconnect; /* 0: the first failure is final */
	int connect_timeout_ms; /* 0: the conninfo's connect_timeout, else PG_CONNECT_TIMEOUT_MS */
	int backoff_min_ms;     /* 0: PG_BACKOFF_MIN_MS */
	int backoff_max_ms;     /* 0: PG_BACKOFF_MAX_MS */
	pg_commit_fn on_commit; /* may be NULL */
	pg_event_fn on_event;   /* may be NULL */
	void *arg;
};

struct pg_stats {
	uint64_t connects, connect_failures, losses;
	uint64_t batches, rounds, retries;
	uint64_t fills_new, fills_dup, stale, rejected, dropped;
};

enum pg_round { PG_ROUND_NONE = 0, PG_ROUND_BATCH, PG_ROUND_ROLLBACK };

/* How a round went: its first failed statement. Private. */
struct pg_outcome_ {
	int failed;
	int stmt;
	char sqlstate[6];
	char msg[ERR_MSG_MAX];
};

struct pg {
	struct loop *loop;
	struct resolv *resolv;
	struct pg_opts opts;
	enum pg_state state;
	int err;               /* sticky: the last failure (0 none) */
	char msg[ERR_MSG_MAX]; /* its message: libpq's, the server's, ours */
	int version_before;    /* schema version found by the last migration, -1 unknown */
	int version_after;
	struct pg_stats stats;
	/* private: conninfo */
	const char *keys_[PG_PARAMS_MAX + 1];
	const char *vals_[PG_PARAMS_MAX + 1];
	int kv_n_, hostaddr_i_;
	char kv_text_[PG_CONNINFO_TEXT_MAX];
	uint32_t kv_used_;
	char host_[CFG_HOST_MAX];    /* name to resolve, "" none */
	char hostaddr_[64];          /* resolved or configured */
	int timeout_ms_;
	/* private: connection */
	void *conn_; /* PGconn */
	int fd_, timer_, qid_;
	int64_t backoff_ms_;
	char last_fail_[ERR_MSG_MAX];
	int mig_stage_, mig_step_;
	/* private: batches */
	uint64_t submitted_;
	int open_, sent_;  /* batch indexes, -1 none */
	enum pg_round round_;
	int need_rollback_;
	int stmts_n_, stmt_cur_, got_cur_;
	struct pg_outcome_ out_;
	uint8_t stmt_kind_[PG_STMTS_MAX];
	uint16_t stmt_row_[PG_STMTS_MAX];
	uint64_t key_[PG_KINDS][PG_BATCH_ROWS_MAX]; /* rows' conflict keys, hashed */
	char sql_[PG_SQL_MAX];
	struct pg_batch batches[PG_BATCHES_MAX];
};

/*
 * Prepares p (not yet connecting): parses pc->conninfo (FR_ECONFIG with the
 * reason in p->msg when libpq refuses it, names several hosts, or holds more
 * than PG_PARAMS_MAX keywords / PG_CONNINFO_TEXT_MAX bytes). l and r must
 * outlive p; pc is copied. May allocate (PQconninfoParse): call at start-up.
 */
int pg_init(struct pg *p, struct loop *l, struct resolv *r, const struct cfg_postgres *pc,
            const struct pg_opts *o);

/* Makes the module's own statement buffers resident now (arena_touch; a
 * struct pg is the caller's storage, touched with the rest of it): for a
 * long-running process, whose resident size then does not grow when a burst
 * first fills whole batches. */
void pg_touch_buffers(void);

/* Starts connecting (resolving first when needed). 0, or FR_EINVAL if not idle. */
int pg_start(struct pg *p);

/* Closes the connection and cancels timers and lookups; queued batches stay
 * queued (a later pg_start sends them). The state becomes PG_IDLE. */
void pg_stop(struct pg *p);

/* 1 when connected and migrated (if asked): batches are being written. */
int pg_ready(const struct pg *p);
/* 1 when no batch is open, queued or in flight. */
int pg_drained(const struct pg *p);

/*
 * The open batch, opening a free one when none is: NULL when all
 * PG_BATCHES_MAX batches are queued or in flight (back-pressure: keep the
 * rows in the journal and try again after a commit).
 */
struct pg_batch *pg_batch_open(struct pg *p);

/* Submits the open batch b (which may be empty) with the caller's seq. */
int pg_batch_submit(struct pg *p, struct pg_batch *b, uint64_t seq);

/*
 * Adders: copy the row into b (strings and the raw JSON, msg[rec->raw.off ..
 * + raw.len), the message the record was decoded from). Each returns 0, or
 * FR_EFULL when b has no room for this kind or its text (submit it and add to
 * the next), or FR_EINVAL for an empty account or id, or a raw text that does
 * not fit PG_BATCH_TEXT_MAX at all. b must be open.
 */
int pg_batch_add_fill(struct pg_batch *b, const char *account, const struct decode_exec *x,
                      const char *msg, const struct pg_derived *d, int64_t received_at_ms);
int pg_batch_add_alloc(struct pg_batch *b, const char *account, const char *exec_id,
                       const struct book_alloc *a);
int pg_batch_add_trip(struct pg_batch *b, const struct book_trip *t);
int pg_batch_add_bot_position(struct pg_batch *b, const struct book_position *bp);
int pg_batch_add_order(struct pg_batch *b, const char *account, const struct decode_order *o,
                       const char *msg, const char *bot, const char *reason);
int pg_batch_add_position(struct pg_batch *b, const char *account,
                          const struct decode_position *pos, const char *msg);
int pg_batch_add_wallet(struct pg_batch *b, const char *account, const struct decode_wallet *w,
                        const char *msg, int64_t updated_ms);
/*
 * A record decode refused, for trading.rejects (sqlstate "", error = reason,
 * raw = the text, len bytes, stored as text: it may be exactly what jsonb
 * refuses). Inserted once: a replay of the same account, kind, ref and raw
 * adds nothing. FR_EFULL when the batch has no room (submit it, retry in the
 * next), FR_EINVAL when the text alone exceeds PG_BATCH_TEXT_MAX.
 */
int pg_batch_add_reject(struct pg_batch *b, const char *account, const char *kind,
                        const char *ref, const char *reason, const char *raw, size_t len,
                        int64_t received_ms);

/* The derived columns of a fill from book_apply's result. */
void pg_derived_from_book(struct pg_derived *d, const struct book_result *r);

/* The raw JSON of a row (NUL-terminated, in b's text). */
const char *pg_batch_raw(const struct pg_batch *b, struct decode_span raw);
/* Why row i of kind k was quarantined; NULL unless REJECTED or DROPPED. */
const struct pg_reject *pg_batch_reject(const struct pg_batch *b, enum pg_kind k, int i);

const char *pg_state_str(enum pg_state s);

/* ---- a blocking read, for start-up only ---------------------------------- */

/* One row of pg_query_blocking: vals[0..ncols) as text, NULL for SQL NULL.
 * Valid during the call. Return 0 to go on, negative to stop (returned). */
typedef int (*pg_row_fn)(void *arg, int ncols, const char *const *vals);

/*
 * Runs one read-only query over a connection of its own, BLOCKING, before the
 * loop runs (the sink's warm-up): the same conninfo keywords as pg_start, the
 * numeric hostaddr when the host is a literal (a host name is then looked up
 * by libpq itself, blocking: acceptable once at start-up, never in the loop).
 * Rows arrive one at a time (libpq single-row mode: memory stays bounded
 * whatever the table's size). Returns the number of rows, FR_EIO (connection
 * or query failed; the reason in p->msg, which is not sticky here), or fn's
 * error. p must be initialised (pg_init) and need not be started.
 */
int pg_query_blocking(struct pg *p, const char *sql, pg_row_fn fn, void *arg);

/* ---- statements of rebuilds ------------------------------------------------ */

/*
 * A connection of its own, BLOCKING, like pg_query_blocking's (same keywords,
 * the numeric hostaddr when known): start-up reads and the rebuild verb's
 * list of symbols. Every call waits for the server. The writers below write
 * a symbol's rebuilt derived rows (sink.h "Late fills") on a pg_rbio's
 * writer, or on a blocking connection.
 * The writers below change a row only when a value differs (IS DISTINCT FROM)
 * and return the number of rows they inserted, updated or deleted, so a
 * rebuild of an already correct symbol reports 0. Errors: FR_EIO with the
 * reason in p->msg (not sticky). The connection is the caller's: one
 * pg_blk_close per successful pg_blk_open. libpq allocates (the arena).
 * The writers also feed a pg_rbio's writer (below): there they send and
 * return 0, and what they change adds up in its k->changed.
 */
struct pg_rbio;

struct pg_blk {
	struct pg *p;
	void *conn; /* PGconn, NULL when closed */
	/* a pg_rbio's writer: statements are sent, not waited for */
	struct pg_rbio *io;
	uint64_t changed; /* rows the answered statements changed (pg_rbio) */
};

int pg_blk_open(struct pg *p, struct pg_blk *k);
void pg_blk_close(struct pg_blk *k);
/* A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK): 0. */
int pg_blk_exec(struct pg_blk *k, const char *sql);
/* A query with n text parameters (NULL = SQL NULL); rows stream to fn one at
 * a time (single-row mode). Returns the row count or FR_EIO or fn's error. */
int pg_blk_query(struct pg_blk *k, const char *sql, int n, const char *const *params,
                 pg_row_fn fn, void *arg);
/* trading.fills' derived columns of (account, exec_id); d NULL: what a fill
 * the book did not apply carries (bot "unattributed", no reason, no PnL). */
int pg_blk_fill_derived(struct pg_blk *k, const char *account, const char *exec_id,
                        const struct pg_derived *d);
/* trading.fill_allocations of (account, exec_id): r's parts when it has more
 * than one (upserted), every other row of that fill deleted. */
int pg_blk_allocs(struct pg_blk *k, const char *account, const char *exec_id,
                  const struct book_result *r);
/* trading.trades_pnl: upsert of one round trip. */
int pg_blk_trip(struct pg_blk *k, const struct book_trip *t);
/* Deletes the round trips of (account, category, symbol) that are not in
 * keep: "BOT:MAXSEQ,BOT:MAXSEQ,..." (a bot's trips above MAXSEQ, and every
 * trip of a bot not listed). */
int pg_blk_trips_keep(struct pg_blk *k, const char *account, const char *category,
                      const char *symbol, const char *keep);
/* trading.bot_positions: upsert of one position, without the exchange-order
 * guard of batches (a rebuild's state replaces whatever is stored). */
int pg_blk_bot_position(struct pg_blk *k, const struct book_position *q);
/* Deletes the bot positions of (account, category, symbol) whose
 * "BOT:POSITIONIDX" is not in keep (comma-separated). */
int pg_blk_bot_positions_keep(struct pg_blk *k, const char *account, const char *category,
                              const char *symbol, const char *keep);

/* ---- a rebuild's connections, on the loop -------------------------------- */

/*
 * Two connections of its own, non-blocking, driven by the loop, so a rebuild
 * of a long symbol history does not stop it (`run` keeps reading the
 * exchange, pinging and journaling meanwhile): a reader streaming one query's
 * rows (single-row mode) and a writer in pipeline mode inside one
 * transaction (BEGIN, what the pg_blk writers send on wr, COMMIT; one Sync),
 * whose statements are sent without waiting for their answers.
 *
 * pg_rbio_start connects both (to the numeric hostaddr the main connection
 * uses: no lookup), then calls on_ready (the caller resets what it is about
 * to rebuild) and sends BEGIN and the query. Rows go to on_row as they
 * arrive, at most PG_RBIO_ROWS_STEP per loop iteration; a negative return
 * fails the job. A step waits while the writer's output has not reached the
 * server yet or PG_RBIO_INFLIGHT_MAX of its statements await an answer, or
 * while may_read (set by the caller, may be NULL) says 0: memory stays
 * bounded whatever the length of the history. After the last row on_end makes the last writes (negative:
 * fail), then COMMIT goes out; on_done(arg, 0) comes once the server has
 * committed, or on_done(arg, FR_EIO) at the first failure -- a refused
 * connection or statement, PG_RBIO_STALL_MS without an answer -- with the
 * reason in p->msg. Before on_done both connections are closed (an
 * unfinished transaction is rolled back by the server) and nothing else is
 * called. One job at a time per struct; pg_rbio_cancel ends one silently.
 */
#define PG_RBIO_ROWS_STEP 256
#define PG_RBIO_STALL_MS 30000
#define PG_RBIO_WAIT_MS 5 /* a step waiting for the writer or may_read looks again */
#define PG_RBIO_INFLIGHT_MAX 64 /* writer statements unanswered (libpq keeps each one's text) */

enum pg_rbio_state { PG_RBIO_IDLE = 0, PG_RBIO_CONNECTING, PG_RBIO_READING, PG_RBIO_COMMITTING };

struct pg_rbio {
	struct pg *p;
	struct loop *loop;
	struct pg_blk rd, wr; /* wr: where the caller's writes go */
	enum pg_rbio_state state;
	/* private */
	int rd_fd_, wr_fd_, rd_ok_, wr_ok_, wr_got_, wr_inflight_, wr_unasked_, timer_, step_;
	const char *sql_;
	int nparams_;
	const char *const *params_;
	pg_row_fn on_row_;
	void (*on_ready_)(void *arg);
	int (*on_end_)(void *arg);
	void (*on_done_)(void *arg, int rc);
	void *arg_;
	int (*may_read_)(void *arg); /* set after pg_rbio_init; NULL: always */
};

void pg_rbio_init(struct pg_rbio *io, struct pg *p, struct loop *l);
/* 0 started, or FR_EIO/FR_EFULL (nothing started, on_done not called),
 * FR_EINVAL when a job runs already.
 * sql and params must stay valid until on_done. */
int pg_rbio_start(struct pg_rbio *io, const char *sql, int nparams, const char *const *params,
                  void (*on_ready)(void *arg), pg_row_fn on_row, int (*on_end)(void *arg),
                  void (*on_done)(void *arg, int rc), void *arg);
int pg_rbio_busy(const struct pg_rbio *io);
void pg_rbio_cancel(struct pg_rbio *io);

#endif
