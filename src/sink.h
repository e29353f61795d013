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
 *   2. sink_before_sleep (register it with loop_set_before_sleep) moves every
 *      record journaled since -- or sink_push/sink_rest_page itself, at once,
 *      when nothing older waits (the usual case: then a fill reaches Redis
 *      before the next frame is read) --, in journal order, into the book
 *      and the open PostgreSQL batch: each record is decoded again from its
 *      raw text (wrapped in a REST envelope carrying its category), fills go
 *      through book_apply, their derived columns, allocations (split fills),
 *      closed round trips and bot positions become rows; orders, positions
 *      and wallet coins become rows too. A batch is submitted with the
 *      sequence of the last journal record it covers when it has no room for
 *      the next record, and at the end of every before-sleep step. Only then
 *      is the journal made durable (journal_sync, policy batch): PostgreSQL
 *      works on the batch meanwhile. Moving does not wait for the fsync: the
 *      sinks are idempotent, and a record PostgreSQL committed is safe
 *      whether or not the journal's copy reached the disk (what a power loss
 *      can take is what spill_fsync documents; the backfill brings it back).
 *   3. When PostgreSQL commits a batch (sink_pg_on_commit, which the caller
 *      puts in pg_opts.on_commit with arg = the sink), the journal is
 *      checkpointed at the batch's sequence (segments wholly covered are
 *      freed) -- at most every SINK_CKPT_MS unless the checkpoint frees a
 *      segment or the journal is past half its limit, because each one costs
 *      two fsyncs, and a checkpoint that lags only means records replayed
 *      (as duplicates) after a crash. A deferred checkpoint is made by a
 *      timer even when no commit follows, and a message refused because the
 *      journal (or its disk) is full checkpoints at once: what PostgreSQL
 *      holds never keeps the journal full.
 *
 * Redis. Every fill the book APPLIES in step 2 goes to Redis right then
 * (rds_fill with RDS_PUBLISH), not after PostgreSQL's commit or an fsync:
 * Redis writes are guarded by version (an older or repeated write changes
 * nothing) and the publish carries a once-marker in Redis itself (rds.h), so
 * a bot sees its position within a loop iteration of the frame and is told of
 * a fill once -- a duplicate push, a REST page or a replay is a book
 * DUPLICATE and writes nothing; a journal replayed after a crash, whose
 * fills may have been published before it, finds their markers. A fill the
 * book applies is written to PostgreSQL in the same step (its batch), so
 * Redis is never ahead of what the journal holds.
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
 * rejects (a timestamp past the year 9999, a \u0000 PostgreSQL cannot store,
 * a missing field...) are logged at warn with the reason and a prefix of the
 * raw text, counted (stats.rejected), never stop the stream (sink_push
 * returns 0) and never reach the book: each is journaled as
 * JOURNAL_KIND_REJECT and lands, in journal order, in trading.rejects (kind,
 * its execId/orderId as ref, the reason as error, the text exactly as
 * received), once even when replayed. A record larger than JOURNAL_RAW_MAX
 * is logged and counted (stats.too_large) only. Rows PostgreSQL itself
 * refuses are quarantined by pg.h.
 *
 * Orders. Fills take their order's positionIdx, orderLinkId, parent link id
 * and create/stop types from the order records seen (pushes, REST pages,
 * PostgreSQL's trading.orders at start-up), kept in a direct-mapped table of
 * SINK_ORDERS_MAX entries by (account, orderId): a newer entry replaces an
 * older one in its slot. A fill whose order is unknown (never seen, or
 * evicted) is applied with what it carries itself (book.h: positionIdx 0).
 *
 * Late fills (BOOK_LATE). A fill that sorts before the last one applied to
 * its symbol (account, category, symbol) is written to PostgreSQL in the open
 * batch as the book left it (ON CONFLICT dedupes it; a new one is stored
 * "unattributed" with no derived columns for now) and counted in stats.late.
 * When its batch commits and PostgreSQL says the row is NEW (or the batch is
 * in doubt), the symbol is marked dirty (SINK_DIRTY_MAX symbols at a time;
 * beyond that an error asks for `fillrelay rebuild`); a late fill PostgreSQL
 * already had changes nothing and triggers nothing -- a backfill brings back
 * many of those within its margin. From then on the sink
 * HOLDS: it stops moving records at the first record of a dirty symbol (they
 * stay in the journal: nothing is lost, the spill grows meanwhile). Once every
 * batch has committed (pg_drained: PostgreSQL then holds every fill of the
 * symbol) and pg is ready, the next sink_before_sleep rebuilds each dirty
 * symbol (sink_rebuild_symbol: its fills read from trading.fills in exchange
 * order, joined with trading.orders, re-applied from a reset symbol; derived
 * columns, allocations, round trips and bot positions rewritten in one
 * transaction; every APPLIED result reported to rds with RDS_NO_PUBLISH,
 * whose equal versions overwrite) and then moves on. So a symbol ends exactly
 * as if its fills had arrived in exchange order, in PostgreSQL and in Redis.
 * The rebuild runs on the loop over two non-blocking connections of its own
 * (pg.h, pg_rbio: one streams the fills, one writes in a pipeline), a few
 * hundred fills per loop iteration, so the loop goes on reading the exchange,
 * pinging and journaling while a long history is re-applied; records of
 * other symbols keep moving until the first of a dirty symbol. A failed
 * rebuild (logged) keeps the symbol dirty and is tried again after
 * SINK_REBUILD_RETRY_MS.
 * Redis follows the rebuild: every re-applied fill's positions are written
 * (equal versions overwrite), a bot that no longer holds the symbol gets its
 * key written flat, and a late fill that was new to PostgreSQL is published
 * then (SINK_LATE_PUB_MAX at a time; beyond that it is only logged). After a
 * restart the journal records replayed that PostgreSQL already holds are
 * book DUPLICATEs, or LATEs whose rebuild changes nothing.
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
#define SINK_WRAP_MAX (JOURNAL_RAW_MAX + 256) /* a raw record in its envelope */
#define SINK_DIRTY_MAX 16             /* symbols waiting for a rebuild */
#define SINK_PAGE_MAX 200             /* fills of one REST page journaled oldest first */
#define SINK_REBUILD_RETRY_MS 1000    /* after a failed rebuild */
#define SINK_WARM_RETRY_MS 1000       /* after a failed warm-up */
#define SINK_CKPT_MS 1000             /* checkpoints at most this often (step 3) */
#define SINK_CKPT_POLL_MS 20          /* looks for a checkpoint written off the loop */
#define SINK_TAKEN_MAX 4096           /* records whose take time is kept (a power of two) */
#define SINK_LATE_PUB_MAX 64          /* late fills awaiting their publish (a rebuild) */

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
	uint64_t rebuilds;        /* symbols rebuilt after late fills */
	uint64_t rebuild_failures;
	uint64_t held;            /* before-sleep steps that held a dirty symbol's record */
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


enum sink_phase_ { SINK_PH_TAKE = 0, SINK_PH_MOVE, SINK_PH_WARM };

/* Called with every APPLIED result of a rebuild, in exchange order, then once
 * for each bot that held the symbol before the rebuild and holds nothing in it
 * after (a position that came from an attribution in the wrong order): r then
 * has status BOOK_APPLIED, no allocations and that bot's position, flat, and
 * x is the symbol's last fill (its version). */
typedef void (*sink_rebuilt_fn)(void *ctx, const char *account, const struct decode_exec *x,
                                const struct book_result *r);

/*
 * A rebuild of symbols from trading.fills (see "Late fills"); also used by
 * the rebuild verb. Caller-owned (about 200 KiB: the decoder). The counters
 * add up over calls: fills re-applied, rows changed (inserted, updated or
 * deleted: 0 when everything stored was already right).
 */
struct sink_rebuild {
	const struct cfg *cfg;
	struct book *book;
	struct pg *pg;
	sink_rebuilt_fn fn; /* may be NULL */
	void *ctx;
	int (*may_read)(void *ctx); /* NULL, or 0 while fn's consumer is busy: rows wait */
	uint64_t symbols, fills, changed;
	uint64_t skipped; /* fills whose stored derived columns were already right */
	/* private */
	const char *const *stored_; /* the row being re-applied: its stored derived columns */
	int err_;
	struct pg_rbio io_; /* io_.wr: the writes */
	/* account, category, symbol being rebuilt */
	char sym_[3][DECODE_SYMBOL_MAX > CFG_NAME_MAX ? DECODE_SYMBOL_MAX : CFG_NAME_MAX];
	const char *params_[3]; /* account, category, symbol: sym_ */
	uint64_t changed0_;
	void (*done_)(void *ctx, int rc);
	void *done_ctx_;
	int waiting_, wait_rc_; /* sink_rebuild_symbol */
	int have_order_;
	struct book_order order_;
	int keep_n_; /* bots with closed round trips in this symbol */
	struct {
		char bot[BOOK_BOT_MAX];
		int64_t max_seq;
	} keep_[BOOK_ALLOC_MAX + 1];
	int held_n_; /* bots that held the symbol before the rebuild */
	struct book_position held_[BOOK_ALLOC_MAX + 1];
	int have_last_; /* the last fill re-applied: the version of flat writes */
	struct decode_exec last_x_;
	struct decode d_;
	struct book_result res_;
	char wrap_[SINK_WRAP_MAX];
};

struct sink_late_pub_ { /* a late fill new to PostgreSQL: published by its rebuild */
	char account[CFG_NAME_MAX];
	char exec_id[DECODE_ID_MAX];
};

struct sink_dirty_ {
	char account[CFG_NAME_MAX];
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
};

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
	int rev_n_; /* fills of the REST page being taken, in list order */
	struct {
		struct decode_span raw;
		char category[DECODE_CATEGORY_MAX];
	} rev_[SINK_PAGE_MAX];
	int64_t received_ms_;
	int take_rc_;
	uint64_t moved_seq_;     /* last journal record moved into a batch */
	uint64_t submitted_seq_; /* seq of the last batch submitted */
	int warm_pending_;
	int64_t warm_after_ms_;
	int have_warm_order_;
	const char *warm_bot_, *warm_close_; /* the stored derived columns of the row */
	struct book_order warm_order_;
	int dirty_n_;
	struct sink_dirty_ dirty_[SINK_DIRTY_MAX];
	int64_t rebuild_after_ms_; /* no rebuild attempt before this wall time */
	int64_t ckpt_ms_;          /* wall time of the last checkpoint */
	int ckpt_timer_;           /* a deferred checkpoint's timer, or -1 */
	int ckpt_poll_;            /* polls a checkpoint the journal thread writes, or -1 */
	uint64_t taken_us_[SINK_TAKEN_MAX]; /* monotonic us a record was taken, by seq */
	uint64_t cur_seq_;         /* the record being moved */
	uint64_t take_us_;         /* when the message being taken arrived */
	int late_pub_n_;
	struct sink_late_pub_ late_pub_[SINK_LATE_PUB_MAX];
	uint64_t committed_seq_;   /* journal sequence PostgreSQL holds up to */
	struct sink_rebuild rb_;
	uint64_t rb_fills0_, rb_skipped0_; /* at the rebuild's start: its log line */
	int64_t rb_started_ms_;
	struct journal_iter it_;
	struct journal j;
	struct decode d;
	struct ring ring;
	struct book_result res_;
	struct sink_order_ orders_[SINK_ORDERS_MAX];
	uint8_t late_[PG_BATCHES_MAX][PG_BATCH_FILLS_MAX]; /* BOOK_LATE fills of each batch */
	char wrap_[SINK_WRAP_MAX];
	unsigned char ring_buf_[SINK_RING_BYTES];
};

/* ---- calls --------------------------------------------------------------- */

/*
 * Opens the sink: the journal (o->journal), then the warm-up (o->warm).
 * book, pg and rds are initialised (book_init, pg_init with on_commit =
 * sink_pg_on_commit and arg = s, rds_init) and not necessarily started.
 * Returns 0, or the journal's error (FR_EINVAL damage or locked, FR_EIO,
 * FR_ERANGE: s->msg repeats journal_error). A warm-up that fails (PostgreSQL
 * down at start: logged) is not an error: the sink opens with the warm-up
 * pending (sink_warm_pending), journals what it is given, moves nothing, and
 * the before-sleep step warms the book (from scratch, blocking, as at start)
 * once pg is ready -- every SINK_WARM_RETRY_MS until it succeeds -- and then
 * replays the journal as usual.
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

/* Journal records not yet committed to PostgreSQL (the spill). */
uint64_t sink_spill_depth(const struct sink *s);
/* Journal records after the checkpoint: what still takes room in the journal
 * (the checkpoint lags commits by up to SINK_CKPT_MS, or less when the
 * journal is past half full). A caller waiting for room waits for this to drop. */
uint64_t sink_journal_held(const struct sink *s);

/* 1 when the journal is writable, PostgreSQL ready and Redis READY. */
int sink_healthy(const struct sink *s);

/* Symbols waiting for a rebuild (see "Late fills"): 0 when none is held. */
int sink_dirty(const struct sink *s);

/* 1 while the book waits for its warm-up (PostgreSQL was down at open). */
int sink_warm_pending(const struct sink *s);

/* Prepares rb (counters zeroed): b and p as for the sink, on loop l; fn may
 * be NULL. */
void sink_rebuild_init(struct sink_rebuild *rb, const struct cfg *c, struct book *b,
                       struct pg *p, struct loop *l, sink_rebuilt_fn fn, void *ctx);

/*
 * Starts rebuilding (account, category, symbol) from trading.fills (see "Late
 * fills") on the loop: once connected, resets the symbol in the book,
 * re-applies its stored fills in exchange order as they stream in and writes
 * every derived row that differs, in one transaction. done(done_ctx, rc)
 * ends it: 0, or FR_EIO (a connection or statement failed: rolled back; the
 * reason in pg->msg; the book then holds the fills read so far). Returns 0
 * started, or FR_EIO/FR_EFULL (not started; done not called). The strings
 * are copied. One rebuild at a time (sink_rebuild_busy).
 */
int sink_rebuild_start(struct sink_rebuild *rb, const char *account, const char *category,
                       const char *symbol, void (*done)(void *ctx, int rc), void *done_ctx);
int sink_rebuild_busy(const struct sink_rebuild *rb);
void sink_rebuild_cancel(struct sink_rebuild *rb);

/* The same, waiting for it: runs the loop until the rebuild ends (for the
 * rebuild verb, which has nothing else to do). 0 or FR_EIO. */
int sink_rebuild_symbol(struct sink_rebuild *rb, const char *account, const char *category,
                        const char *symbol);

#endif
