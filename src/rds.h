/*
 * rds.h -- the Redis sink (DESIGN.md section 5): the bots' current positions,
 * the fills feed, the heartbeat and the exchange's own view, written through
 * hiredis 0.14.1's async API on the project's loop, never blocking.
 *
 * ------------------------------------------------------------------------------
 * Keys (db = the bot's redis_db; CAT: = "CATEGORY:" when the position's
 * category is not the bot's configured one, else nothing):
 *   BOT:position:CAT:SYMBOL          string: |size| as an exact decimal, "0"
 *                                    when flat. Never expires. What the seed's
 *                                    bots read: float(r.get(key) or 0).
 *   BOT:position_detail:CAT:SYMBOL   hash, never expires:
 *       version       the guard (below); side long|short|flat; size (signed);
 *       avg_price; realized_pnl (gross, over the key's life); fees; funding;
 *       currency; trade_seq; last_exec_id; last_exec_time (Unix ms);
 *       account; category; symbol; position_idx; updated_ms (wall clock of
 *       the write: the only field that is not a function of the fills).
 *   Hedge mode: positionIdx 1 (Buy side) and 2 (Sell side) use
 *       BOT:position_long:CAT:SYMBOL / BOT:position_short:CAT:SYMBOL and
 *       BOT:position_detail_long:... / BOT:position_detail_short:..., so that
 *       `KEYS BOT:position:*` still lists one-way string keys only and the
 *       last ':' field of every key is the symbol.
 *   Bots fillrelay invents (BOOK_BOT_UNATTRIBUTED) live in the db of the
 *       account's default_bot, else of the account's first bot, else db 0,
 *       with configured category linear.
 *   fillrelay:fills:BOT              channel: one JSON message per newly
 *       applied fill and bot (a fill split among holders goes to each
 *       holder's channel with that holder's part), published in the bot's db
 *       (pub/sub ignores the db: one message per channel, any db), at most
 *       once: the same script first sets the marker
 *       fillrelay:published:ACCOUNT:EXEC_ID:BOT (NX, PX RDS_PUBLISHED_TTL_MS)
 *       and publishes only when it was not there -- so a journal replayed
 *       after a crash, or a second instance on the account, publishes
 *       nothing again (stats.publishes_repeated):
 *       {"account","bot","category","symbol","side","qty","price","exec_id",
 *        "exec_time","exec_type","reason","close_reason","position_idx",
 *        "position"} -- qty the bot's part (signed toward the fill's side:
 *       negative when a split made this bot trade against it), position the
 *       bot's signed size after the fill; all decimals as strings.
 *   fillrelay:heartbeat:INSTANCE     string: Unix ms of the write, PX
 *       RDS_HEARTBEAT_TTL_MS, rewritten every RDS_HEARTBEAT_MS in every db
 *       a bot uses (cfg [listener] instance). A missing key = no live listener.
 *   fillrelay:account:ACCOUNT:position[_long|_short]:CAT:SYMBOL   hash, the
 *       exchange's view from position pushes (CAT: when not linear), in every
 *       db of the account's bots: version, size (absolute), side (Buy, Sell,
 *       "" flat), seq, updated (the push's updatedTime, ms), bots_sum (the
 *       bots' signed sum from the book), drift: "0" agree, "1" differ,
 *       "pending" (seq differs from the last applied fill's: a fill is in
 *       flight, nothing is compared). A mismatch is logged once, until the
 *       two agree again (which is logged too).
 *
 * Guarded idempotent writes. Each position write carries the version of the
 * last fill applied to the position: rds_version(), a fixed-width string of
 * lowercase hex that sorts (bytewise and in any locale's collation, which
 * Redis's Lua uses for '<') exactly like book_fill_cmp. A Lua script writes
 * the string key and the hash only when its version is >= the hash's stored
 * `version`: a replay or an instance that is behind changes nothing; an equal
 * version overwrites (a rebuild corrects a value at the same version). The
 * script compares strings only; every number is computed in C. The guard lives
 * in the hash, which never expires, so it outlives any backfill horizon. The
 * exchange view is guarded the same way by (updatedTime, seq).
 *
 * Connection. rds_start resolves [redis] host with the caller's resolver,
 * hands hiredis the numeric address, and drives the socket through the loop.
 * Handshake, pipelined: AUTH (when a password is configured), SCRIPT LOAD,
 * then SELECT of every db in use (a db Redis refuses fails the handshake:
 * otherwise later writes would land in the wrong db). All replies OK: the
 * connection is READY, "connected to Redis" is logged once, and before any
 * queued command every position of the book, every known exchange view and
 * the heartbeats are written again: a Redis restarted empty never shows
 * "flat" for a held position. Failures (refused, timeout, wrong password, a
 * reply past the limits) are logged once per outage, never with the
 * password, and retried after a backoff: attempt a waits a uniform delay in
 * [d/2, d], d = min(RDS_BACKOFF_MAX_MS, RDS_BACKOFF_MIN_MS << a); a is reset
 * only when a connection has finished its full rewrite (a connection that
 * keeps failing right after the handshake still backs off). A
 * handshake not done within RDS_CONNECT_TIMEOUT_MS, or a reply awaited for
 * RDS_COMMAND_TIMEOUT_MS, drops the connection.
 *
 * Queue and what an outage loses. Commands wait in a queue of RDS_QUEUE_MAX
 * entries and go to hiredis while fewer than RDS_INFLIGHT_MAX replies are
 * outstanding (which bounds hiredis's buffers). Position and exchange-view
 * writes are state, not events: while Redis is not READY they are not queued
 * (the reconnect rewrites them from the book and the view table), and when the
 * queue is full one is dropped and a full rewrite is scheduled. Publishes are
 * events: one made while Redis is not READY, or with the queue full, is
 * LOST for pub/sub subscribers (counted in stats.publishes_lost) -- Redis
 * pub/sub is fire-and-forget anyway (a subscriber that is disconnected misses
 * messages too); bots must treat the position keys as the truth and the
 * channel as a hint. Queued publishes survive a drop only if not yet sent.
 *
 * Limits set on hiredis (never its defaults): the reader keeps at most
 * RDS_READER_MAXBUF idle bytes, a reply string is at most RDS_REPLY_STR_MAX
 * bytes, an array at most RDS_REPLY_ELEMENTS_MAX elements, and unparsed input
 * at most RDS_READER_BUF_MAX bytes; past any of them the connection is dropped
 * as broken. hiredis allocates (the arena, in the product); its out-of-memory
 * errors are connection errors (third_party/patches/hiredis/01-*.patch).
 * Redis links are plaintext (hiredis 0.14 has no TLS): keep Redis on loopback
 * or a private network.
 *
 * Memory and threads: struct rds is caller-owned plain data (about 2.5 MiB: keep
 * it in static storage). It keeps pointers to the loop, resolver, cfg and book
 * given to rds_init, which must outlive it. One thread. Results per err.h.
 */
#ifndef FR_RDS_H
#define FR_RDS_H

#include <stddef.h>
#include <stdint.h>

#include "book.h"
#include "cfg.h"
#include "dec.h"
#include "decode.h"
#include "err.h"
#include "loop.h"
#include "resolv.h"

/* ---- limits and timing ---------------------------------------------------- */

#define RDS_QUEUE_MAX 512
/* Commands handed to hiredis whose replies are not read yet. It bounds what
 * hiredis allocates for us: its output buffer (at most RDS_INFLIGHT_MAX
 * commands of <= RDS_OP_BYTES + RESP framing; the sds doubles as it grows)
 * and one callback record per command. 64 keeps that under 256 KiB and still
 * pipelines far more than a loopback round trip needs. */
#define RDS_INFLIGHT_MAX 64
#define RDS_ARGS_MAX 40      /* arguments of one command */
#define RDS_OP_BYTES 1792    /* bytes of one command's arguments */
#define RDS_KEY_MAX 192
#define RDS_JSON_MAX 1024
/* Every position of the book may need a remembered version (see rds.c). */
#define RDS_VERSIONS_MAX (2 * BOOK_POSITIONS_MAX)
#define RDS_SYMS_MAX (2 * BOOK_SYMBOLS_MAX) /* (account, category, symbol) views */
#define RDS_DBS_MAX CFG_BOTS_MAX

#define RDS_READER_MAXBUF (16 * 1024)   /* idle reader buffer kept */
#define RDS_READER_BUF_MAX (64 * 1024)  /* unparsed input: our replies are tiny */
#define RDS_REPLY_STR_MAX 4096          /* one string/status/error reply */
#define RDS_REPLY_ELEMENTS_MAX 16       /* one array reply */

#define RDS_CONNECT_TIMEOUT_MS 5000
#define RDS_COMMAND_TIMEOUT_MS 10000
#define RDS_BACKOFF_MIN_MS 200
#define RDS_BACKOFF_MAX_MS 30000
#define RDS_TICK_MS 250
/* No [listener] key for these yet: constants. */
#define RDS_HEARTBEAT_MS 5000
#define RDS_HEARTBEAT_TTL_MS (3 * RDS_HEARTBEAT_MS)
#define RDS_PUBLISHED_TTL_MS 86400000 /* a publish marker lives a day (rds_fill) */

/* exec time (16 hex) + seq (16 hex) + execId bytes (2 hex each, padded "00") */
#define RDS_VERSION_LEN (16 + 16 + 2 * (DECODE_ID_MAX - 1))
#define RDS_VERSION_MAX (RDS_VERSION_LEN + 1)
#define RDS_SHA_HEX 41

_Static_assert(RDS_INFLIGHT_MAX <= RDS_QUEUE_MAX, "in flight comes from the queue");
_Static_assert(RDS_KEY_MAX > CFG_NAME_MAX + BOOK_BOT_MAX + DECODE_CATEGORY_MAX +
                                     DECODE_SYMBOL_MAX + 40,
               "the longest key fits");
/* A position write: 4 fixed args, 2 keys, version, size, 16 field pairs. */
_Static_assert(RDS_ARGS_MAX >= 8 + 2 * 16, "a position write fits its args");
_Static_assert(RDS_OP_BYTES >= 2 * RDS_KEY_MAX + RDS_VERSION_MAX + 6 * DEC_STR_MAX +
                                       DECODE_ID_MAX + CFG_NAME_MAX + 2 * DECODE_SYMBOL_MAX +
                                       16 * 16 + 200,
               "a position write fits its bytes");
_Static_assert(RDS_OP_BYTES >= RDS_JSON_MAX + 3 * RDS_KEY_MAX + 160,
               "a publish fits: script, marker, channel, message");

/* ---- values ------------------------------------------------------------- */

enum rds_state {
	RDS_IDLE = 0,   /* not started, or stopped */
	RDS_BACKOFF,    /* waiting before the next attempt */
	RDS_RESOLVING,  /* the host name is being resolved */
	RDS_HANDSHAKE,  /* connecting; AUTH, SCRIPT LOAD, SELECTs in flight */
	RDS_READY,      /* rewriting (rewrite_active) or streaming the queue */
};

/* Whether rds_fill publishes: the caller knows (PostgreSQL's insert result). */
enum rds_publish {
	RDS_NO_PUBLISH = 0, /* a replay, a rebuild, a duplicate: state only */
	RDS_PUBLISH = 1,    /* a fill applied for the first time */
};

enum rds_drift {
	RDS_DRIFT_OK = 0,       /* the bots' sum equals the exchange's size */
	RDS_DRIFT_MISMATCH = 1, /* they differ, with no fill in flight */
	RDS_DRIFT_PENDING = 2,  /* seq differs from the last applied fill: not compared */
};

struct rds_stats {
	uint64_t connects;          /* handshakes completed */
	uint64_t connect_failures;  /* attempts that did not reach READY */
	uint64_t disconnects;       /* READY connections lost */
	uint64_t rewrites;          /* full rewrites started */
	uint64_t positions_written; /* guarded writes that took effect */
	uint64_t positions_stale;   /* guarded writes refused: older version */
	uint64_t positions_dropped; /* not queued (not READY, or queue full) */
	uint64_t publishes_sent;
	uint64_t publish_receivers; /* sum of PUBLISH replies */
	uint64_t publishes_lost;    /* made while not READY or with the queue full */
	uint64_t publishes_repeated; /* kept out by their marker: published before */
	/* Frame to Redis: from the moment the fill's frame was taken
	 * (rds_set_origin) to Redis's answer to its publish. */
	struct loop_lat publish_lat;
	uint64_t heartbeats;
	uint64_t views_written;     /* exchange views: guarded writes that took effect */
	uint64_t drift_mismatches;  /* mismatches logged (once until resolved) */
	uint64_t command_errors;    /* error replies */
	uint64_t versions_unknown;  /* rewrites of a position rds never saw a fill of */
	uint32_t queue_high_water;
};

/* ---- state (private; in the header so the caller can hold it statically) */

struct rds_op_ {
	int db;
	uint64_t t0_us;    /* a publish: when its frame was taken (0: unknown) */
	uint8_t kind;
	uint8_t argc;
	uint16_t used;
	uint16_t len[RDS_ARGS_MAX];
	char buf[RDS_OP_BYTES];
};

struct rds_version_ {
	uint64_t h; /* 0: free */
	int64_t seq;
	char exec_id[DECODE_ID_MAX];
};

/* The exchange's view of one position index, as last pushed. */
struct rds_view_ {
	int have;
	struct dec size; /* absolute */
	char side[DECODE_ENUM_MAX];
	int64_t seq, updated_ms;
	enum rds_drift drift;
	int warned; /* a mismatch was logged and has not been resolved since */
};

struct rds_sym_ {
	uint64_t h; /* 0: free */
	char account[CFG_NAME_MAX];
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	int have_fill; /* the last applied fill's version, max over rds_fill */
	int64_t fill_time_ms, fill_seq;
	char fill_exec_id[DECODE_ID_MAX];
	struct rds_view_ views[3]; /* by positionIdx */
};

struct rds {
	struct loop *loop;
	struct resolv *resolv;
	const struct cfg *cfg;
	const struct book *book;
	enum rds_state state;
	void *ac;                   /* redisAsyncContext *, NULL when none */
	int fd;                     /* registered with the loop, -1 none */
	short want;                 /* POLLIN/POLLOUT hiredis asked for */
	int qid;                    /* resolver query, -1 none */
	int t_backoff, t_tick;      /* loop timers, -1 none */
	int64_t attempt_ms;         /* when the attempt started (monotonic) */
	int64_t progress_ms;        /* last reply, or when in-flight became non-zero */
	int64_t heartbeat_due_ms;
	int attempts;               /* failed in a row, for the backoff */
	uint64_t rand;              /* jitter */
	int handshake_left;         /* replies still awaited */
	int handshake_failed;
	int inflight;
	int cur_db;                 /* the db the last SELECT sent chose */
	int rewrite_active, rewrite_again;
	int rewrite_phase, rewrite_cursor, rewrite_sub;
	int limit_hit;              /* a reply broke a reader limit */
	int logged_cmd_error;       /* an error reply was logged on this connection */
	int dbs_n;
	int dbs[RDS_DBS_MAX];
	int logged_outage;          /* the failure of this outage was logged */
	int err;                    /* sticky: the last failure, 0 when READY */
	char msg[ERR_MSG_MAX];
	char addr[64];              /* the numeric address in use */
	char sha[RDS_SHA_HEX];      /* of the guard script */
	int q_head, q_n;
	struct rds_op_ queue[RDS_QUEUE_MAX];
	struct rds_op_ scratch;
	struct rds_version_ versions[RDS_VERSIONS_MAX];
	struct rds_sym_ syms[RDS_SYMS_MAX];
	struct rds_stats stats;
	uint64_t origin_us_; /* rds_set_origin */
};

/* ---- calls ---------------------------------------------------------------- */

/*
 * Prepares r (no I/O): remembers l, res, c and b (which must outlive r) and
 * the set of dbs the bots use. Returns 0 or FR_ECONFIG (no bot).
 */
int rds_init(struct rds *r, struct loop *l, struct resolv *res, const struct cfg *c,
             const struct book *b);

/* Starts connecting (at once) and keeps reconnecting until rds_stop. Returns
 * 0, or FR_EFULL when no loop timer is free. Idempotent while started. */
int rds_start(struct rds *r);

/* Closes the connection (unsent commands are discarded), cancels timers and
 * lookups; state IDLE. r may be started again. */
void rds_stop(struct rds *r);

/*
 * Reports one book_apply (or book_rebuild) result with status BOOK_APPLIED, of
 * fill x of account, in the order the book applied them. Precondition: every
 * APPLIED result is reported -- also replays at start-up and rebuilds (with
 * RDS_NO_PUBLISH) -- so that rds knows the version of every position it may
 * have to rewrite. Queues one guarded write per position in res->positions and,
 * with RDS_PUBLISH, one message per bot of res->allocs (res->bot when none).
 * Returns the number of commands queued (0 when not READY: the book is the
 * state, rewritten on reconnect), FR_EFULL when the queue was full (state is
 * kept by a full rewrite; publishes are lost), FR_ERANGE when a key or message
 * does not fit, FR_EINVAL when res is not APPLIED.
 */
int rds_fill(struct rds *r, const char *account, const struct decode_exec *x,
             const struct book_result *res, enum rds_publish pub);

/* The monotonic microseconds (CLOCK_MONOTONIC) at which the frame of the
 * fills rds_fill is given next was taken: their publishes are timed from it
 * (stats.publish_lat). 0: not timed. */
void rds_set_origin(struct rds *r, uint64_t t0_us);

/*
 * Records the exchange's view of a position (a position push or a REST
 * /v5/position/list entry of account), compares it with the bots' sum from
 * the book (see rds_drift_check), and queues its guarded write in every db of
 * the account's bots. An older view (updatedTime, seq) than the one kept is
 * ignored. Returns the drift state (>= 0) or FR_ENOMEM (RDS_SYMS_MAX symbols),
 * FR_EINVAL (positionIdx not 0..2).
 */
int rds_exchange_position(struct rds *r, const char *account, const struct decode_position *p);

enum rds_state rds_state(const struct rds *r);
/* Commands queued and not yet handed to hiredis (at most RDS_QUEUE_MAX). */
int rds_backlog(const struct rds *r);
/* READY, rewrite done, nothing queued and no reply awaited. */
int rds_idle(const struct rds *r);

/* Writes what hiredis holds for Redis now instead of at the loop's next
 * poll (a fill that should be visible at once; a write error is handled as
 * a lost connection, exactly as from the loop). */
void rds_flush(struct rds *r);
/* The sticky error of the current outage (0 when READY) and its message. */
int rds_last_error(const struct rds *r, const char **msg);

/* ---- pure parts (exported for tests) -------------------------------------- */

/*
 * The version of (exec_time_ms, seq, exec_id) into buf (cap >=
 * RDS_VERSION_MAX): exactly RDS_VERSION_LEN characters of [0-9a-f]; strcmp of
 * two versions has the sign of book_fill_cmp of the fills. seq -1 stands for
 * an absent seq. Returns RDS_VERSION_LEN, or FR_ERANGE (cap too small, execId
 * longer than DECODE_ID_MAX - 1).
 */
int rds_version(char *buf, size_t cap, int64_t exec_time_ms, int64_t seq, const char *exec_id);

/* A bot's position key (detail 0) or detail hash key (detail 1); see "Keys".
 * bot_category is the bot's configured category name ("linear"). Returns the
 * length, FR_ERANGE, or FR_EINVAL (position_idx not 0..2). */
int rds_position_key(char *buf, size_t cap, const char *bot, const char *bot_category,
                     const char *category, const char *symbol, int position_idx, int detail);

/* fillrelay:account:ACCOUNT:position...:SYMBOL; same returns. */
int rds_view_key(char *buf, size_t cap, const char *account, const char *category,
                 const char *symbol, int position_idx);

/*
 * The drift state of an exchange position: exchange_size is absolute,
 * exchange_side "Buy", "Sell", or ""/"None" (flat); bots_sum the signed sum of
 * the bots' sizes. Compared only when have_fill and exchange_seq ==
 * last_fill_seq, or when no fill was ever applied and the exchange says the
 * symbol never traded (seq -1) or is flat; else RDS_DRIFT_PENDING.
 */
enum rds_drift rds_drift_check(struct dec exchange_size, const char *exchange_side,
                               int64_t exchange_seq, struct dec bots_sum, int have_fill,
                               int64_t last_fill_seq);

/*
 * The message published for part alloc_i of res (alloc_i -1: the fill has no
 * parts, e.g. a NO_EFFECT fill; qty is then execQty and position absent) into
 * buf. Returns its length or FR_ERANGE.
 */
int rds_fill_json(char *buf, size_t cap, const char *account, const struct decode_exec *x,
                  const struct book_result *res, int alloc_i);

/* The guard script's text (for tests and the SHA). */
extern const char rds_guard_lua[];

const char *rds_state_name(enum rds_state s);

#endif
