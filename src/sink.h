/*
 * sink.h -- the sink core (DESIGN.md 2, 4, 5, 7): the pipeline from a decoded
 * exchange message to the journal, the book, PostgreSQL and Redis.
 *
 * Path of one record.
 *   1. sink_push (a private-stream push) or sink_rest_page (a REST page body)
 *      decodes the message and appends every execution, order, position and
 *      wallet record to the journal (journal.h: kind, source, account,
 *      category, received_at, the raw JSON object as received) and to the
 *      ring (ring.h: the encoded journal record, so records that are read
 *      back soon never touch the disk). A wallet is journaled once per wallet
 *      account (its account object, all coins), not once per coin.
 *   2. sink_before_sleep (register it with loop_set_before_sleep) makes the
 *      journal durable (journal_sync: policy batch) and then moves every
 *      record that is journaled AND synced, in journal order, into the book
 *      and the open PostgreSQL batch: each record is decoded again from its
 *      raw text (wrapped in a REST envelope carrying its category), fills go
 *      through book_apply, their derived columns, allocations (split fills),
 *      closed round trips and bot positions become rows; orders, positions
 *      and wallet coins become rows too. A batch is submitted with the
 *      sequence of the last journal record it covers when it has no room for
 *      the next record, and at the end of every before-sleep step.
 *   3. When PostgreSQL commits a batch (sink_pg_on_commit, which the caller
 *      puts in pg_opts.on_commit with arg = the sink), the journal is
 *      checkpointed at the batch's sequence (segments wholly covered are
 *      freed), and every fill of the batch the book APPLIED is reported to
 *      Redis in book order: rds_fill with RDS_PUBLISH when PostgreSQL says
 *      the row is new (PG_ROW_NEW, or any fill of an in_doubt batch), else
 *      RDS_NO_PUBLISH. So a bot is told of a fill once, after it is durable
 *      in PostgreSQL; a fill seen again (push + REST, a replay) is written
 *      nowhere twice and published never twice.
 *
 * Back-pressure. sink_push returns 0 when the message is taken, or a
 * negative error when it is refused (bybit.h: the session closes and holds,
 * and the backfill brings the refused fills back):
 *   FR_EFULL  the journal is full (its limit, or the disk). A message with
 *             several records that fills the journal midway is NOT rolled
 *             back: the records already journaled are kept (every sink is
 *             idempotent on exchange ids) and the rest of the message is
 *             refused with it; the backfill after the reconnect brings the
 *             whole message's fills again, and the kept ones dedupe.
 *   FR_EIO    the journal is broken (a failed fsync: sticky); the sink is
 *             unhealthy and stays so.
 * When PostgreSQL is down, batches queue in pg (PG_BATCHES_MAX); once none is
 * free the sink stops moving records out of the journal (they stay there and
 * are picked up where it stopped: the spill), so the journal's limit, not
 * memory, bounds an outage.
 *
 * Rejects. A message that cannot be decoded at all and a record decode
 * rejects are logged at warn with the reason and a prefix of the raw text,
 * counted (stats.rejected), and never stop the stream (sink_push returns 0).
 * A record larger than JOURNAL_RAW_MAX is logged and counted the same way
 * (stats.too_large). They are NOT written to trading.rejects in this part:
 * pg.h has no adder for a row that never decoded (its quarantine covers rows
 * PostgreSQL refuses).
 *
 * Orders. Fills take their order's positionIdx, orderLinkId, parent link id
 * and create/stop types from the order records seen (pushes, REST pages,
 * PostgreSQL's trading.orders at start-up), kept in a direct-mapped table of
 * SINK_ORDERS_MAX entries by (account, orderId): a newer entry replaces an
 * older one in its slot. A fill whose order is unknown (never seen, or
 * evicted) is applied with what it carries itself (book.h: positionIdx 0).
 *
 * Late fills (BOOK_LATE). In this part a late fill is written to PostgreSQL
 * (ON CONFLICT dedupes it when it was there already; a genuinely new late
 * fill is stored with bot "unattributed" and no derived columns), counted in
 * stats.late and logged at warn; the book is NOT rebuilt and Redis is not
 * touched. Restarting the process corrects the book and Redis (the warm-up
 * applies every stored fill in exchange order), but not the stored derived
 * columns of that fill. A later part adds the rebuild: reset the symbol, re-
 * apply its fills from PostgreSQL plus the uncommitted ones, rewrite its
 * derived rows. After a restart the journal records replayed that PostgreSQL
 * already holds are book DUPLICATEs or LATEs of this kind: harmless.
 *
 * Start-up (sink_open). Opens the journal (recovery per journal.h: a torn
 * tail is cut, damage refuses with the file and offset in journal_error),
 * then, when opts.warm, reads trading.fills (joined with trading.orders) over
 * a blocking connection (pg_query_blocking) in exchange order and applies each
 * fill to the book, reporting every APPLIED one to rds with RDS_NO_PUBLISH;
 * a database without the schema yet warms nothing. The records after the
 * journal's checkpoint are then replayed by the first sink_before_sleep
 * through the normal path (exactly once in PostgreSQL; NEW ones publish).
 *
 * Memory and threads. struct sink is caller-owned static storage (about
 * 9 MiB: the journal, the decoder, the ring buffer, the order table, the
 * per-batch result pools). The book, pg and rds are the caller's, initialised
 * before sink_open with the same cfg, and must outlive the sink. Nothing is
 * allocated after start-up (the warm-up's libpq connection allocates, once).
 * One thread; every call runs on the loop's thread.
 */
#ifndef FR_SINK_H
#define FR_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "book.h"
#include "cfg.h"
#include "decode.h"
#include "err.h"
#include "journal.h"
#include "loop.h"
#include "pg.h"
#include "rds.h"
#include "ring.h"

/* ---- limits -------------------------------------------------------------- */

#define SINK_ORDERS_MAX 4096          /* order table slots, a power of two */
#define SINK_RING_BYTES (4u << 20)    /* records kept in memory for the sinks */
#define SINK_POOL_BYTES (512u * 1024) /* book results of one batch's fills */
#define SINK_WRAP_MAX (JOURNAL_RAW_MAX + 256) /* a raw record in its envelope */

_Static_assert((SINK_ORDERS_MAX & (SINK_ORDERS_MAX - 1)) == 0, "a power of two");

/* ---- values -------------------------------------------------------------- */

struct sink_stats {
	uint64_t messages;        /* sink_push + sink_rest_page calls */
	uint64_t fills_received;  /* execution records decoded from messages */
	uint64_t records_journaled;
	uint64_t fills_journaled;
	uint64_t refused;         /* messages refused (FR_EFULL, FR_EIO) */
	uint64_t rejected;        /* undecodable messages and records */
	uint64_t too_large;       /* records over JOURNAL_RAW_MAX */
	uint64_t records_moved;   /* journal records moved into batches */
	uint64_t fills_written;   /* PG_ROW_NEW at commit */
	uint64_t fills_deduplicated; /* PG_ROW_DUP at commit */
	uint64_t book_duplicates, late, book_errors;
	uint64_t rows_lost;       /* rows a batch had no room for (logged) */
	uint64_t published;       /* fills reported with RDS_PUBLISH */
	uint64_t warmed;          /* fills applied by the warm-up */
	uint64_t commits;
	int64_t latency_last_ms;  /* received -> committed, of the last fill */
	int64_t latency_max_ms;
};

struct sink_opts {
	struct journal_opts journal; /* dir, limit, segments, fsync policy */
	int warm;                    /* 1: warm the book from PostgreSQL at open */
};

/* Private. */
struct sink_order_ {
	char account[CFG_NAME_MAX]; /* "" free */
	char order_id[DECODE_ID_MAX];
	int64_t updated_ms;
	struct book_order o;
};

struct sink_pool_ {
	uint32_t used;
	int32_t off[PG_BATCH_FILLS_MAX]; /* a fill's result, -1 none (not APPLIED) */
	unsigned char buf[SINK_POOL_BYTES];
};

enum sink_phase_ { SINK_PH_TAKE = 0, SINK_PH_MOVE, SINK_PH_WARM };

struct sink {
	const struct cfg *cfg;
	struct loop *loop;
	struct book *book;
	struct pg *pg;
	struct rds *rds;
	int open;
	int err;               /* sticky: journal broken (FR_EIO) */
	char msg[ERR_MSG_MAX];
	struct sink_stats stats;
	/* private */
	enum sink_phase_ phase_;
	enum journal_source src_;
	const char *account_;
	const char *take_msg_;
	int64_t received_ms_;
	int take_rc_;
	uint64_t moved_seq_;     /* last journal record moved into a batch */
	uint64_t submitted_seq_; /* seq of the last batch submitted */
	int have_warm_order_;
	struct book_order warm_order_;
	struct journal_iter it_;
	struct journal j;
	struct decode d;
	struct ring ring;
	struct book_result res_;
	struct sink_order_ orders_[SINK_ORDERS_MAX];
	struct sink_pool_ pools_[PG_BATCHES_MAX];
	unsigned char enc_[JOURNAL_RECORD_MAX];
	char wrap_[SINK_WRAP_MAX];
	unsigned char ring_buf_[SINK_RING_BYTES];
};

/* ---- calls --------------------------------------------------------------- */

/*
 * Opens the sink: the journal (o->journal), then the warm-up (o->warm).
 * book, pg and rds are initialised (book_init, pg_init with on_commit =
 * sink_pg_on_commit and arg = s, rds_init) and not necessarily started.
 * Returns 0, the journal's error (FR_EINVAL damage or locked, FR_EIO,
 * FR_ERANGE: s->msg repeats journal_error), or FR_EIO when the warm-up's
 * query failed (s->msg says why: the database must be reachable at start).
 */
int sink_open(struct sink *s, const struct cfg *c, struct loop *l, struct book *b, struct pg *p,
              struct rds *r, const struct sink_opts *o);

/* Clean shutdown: syncs and closes the journal (the checkpoint stays where
 * the last commit put it). Safe on a closed sink. */
void sink_close(struct sink *s);

/* What a crash leaves: closes the journal's fds without any sync. For tests. */
void sink_abandon(struct sink *s);

/* A push message of account's private stream (the bybit_push_fn shape).
 * 0 taken, FR_EFULL / FR_EIO refused (see "Back-pressure"). */
int sink_push(struct sink *s, const char *account, const char *msg, size_t len);

/* A REST page body (/v5/execution/list, order lists, position list, wallet
 * balance) of account; category is the request's (a record's own wins).
 * Returns as sink_push. */
int sink_rest_page(struct sink *s, const char *account, const char *category, const char *body,
                   size_t len);

/* The loop's before-sleep step (loop_hook_fn shape: arg is the sink). */
void sink_before_sleep(struct loop *l, void *arg);

/* pg_opts.on_commit (arg is the sink). */
void sink_pg_on_commit(void *arg, struct pg *p, const struct pg_batch *b);

/* Journal records after the checkpoint: not yet committed to PostgreSQL. */
uint64_t sink_spill_depth(const struct sink *s);

/* 1 when the journal is writable, PostgreSQL ready and Redis READY. */
int sink_healthy(const struct sink *s);

#endif
