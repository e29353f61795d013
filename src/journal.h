/*
 * journal.h -- the disk journal: the durability point of every fill.
 *
 * What it is. An append-only log of records in the spill directory
 * ([listener] spill_dir). The sink path appends each record it receives from
 * the exchange (an execution, order, position or wallet object, exactly as
 * received) before handing it to PostgreSQL and Redis, and checkpoints the
 * journal when PostgreSQL has committed; after a restart or a sink outage the
 * records after the checkpoint are read back (journal_iter_*) and replayed.
 * Every sink is idempotent (fills dedupe on (account, execId)), so replaying a
 * record that already reached a sink is harmless: the journal promises "at
 * least once", never "exactly once".
 *
 * ------------------------------------------------------------------------------
 * Durability and the fsync policy ([listener] spill_fsync), after Redis'
 * appendfsync:
 *
 *   always  journal_append fsyncs the segment (and the directory when it made
 *           a new segment) before it returns. A record is on disk before the
 *           caller hands it to any sink. A crash or power loss loses nothing
 *           that was acknowledged by journal_append. Slowest: one fsync per
 *           record (a few hundred microseconds to milliseconds each).
 *   batch   (default) journal_append only writes (the page cache has the
 *           record); journal_sync, called from the loop's before-sleep hook,
 *           fsyncs once for everything appended since the last one. With
 *           opts.background_fsync (what fillrelay run uses) that fsync runs
 *           on a thread of the journal's own, like Redis' bio thread, so a
 *           slow disk (an SD card's fsync can take 100 ms) never stalls the
 *           loop: one fsync in flight at a time, the next covering everything
 *           appended meanwhile. The sinks do not wait for it (every sink is
 *           idempotent; sink.h). A process crash (kill -9) loses nothing:
 *           written data is in the kernel. A power loss or kernel crash can
 *           lose what the fsync in flight and the next one cover (typically a
 *           few milliseconds of fills).
 *   os      never fsync segments explicitly; the kernel writes them back when
 *           it wants (Linux: about 30 s). A process crash loses nothing; a
 *           power loss can lose the last ~30 s of records.
 *
 *   What closes the window in every setting: Bybit acknowledges nothing and
 *   keeps no replay, so a fill lost between the socket and the disk comes back
 *   only through the REST backfill, which fillrelay runs after every start and
 *   reconnect from the earlier of the journal's and PostgreSQL's last execTime
 *   minus a margin. A record lost to a power cut therefore reappears in the
 *   backfill after the reboot; the fsync policy chooses how often that is
 *   needed, not whether fills are lost. Redis visibility never waits for an
 *   fsync (a bot may see a position a moment before the fill is durable; the
 *   backfill would re-create it after a crash).
 *
 *   A limit of batch and os: within the unsynced part of the last segment the
 *   kernel may write pages back out of order, so a power loss (never a
 *   process crash) can leave a hole followed by valid records. Recovery
 *   cannot tell that from damage and refuses to start, naming the offset; the
 *   operator then decides (the records after the hole were never fsynced, and
 *   the backfill brings them back). Under always this cannot happen: every
 *   record is fsynced before the next is written, so only the last can tear.
 *
 *   The checkpoint file is fsynced under every policy (a lost checkpoint only
 *   replays committed records again, but a torn one would stop start-up).
 *   Deleting segments after a checkpoint is not fsynced: segments a checkpoint
 *   covers are deleted again at the next open.
 *   An fsync that fails makes the journal unusable (sticky FR_EIO; Linux may
 *   have dropped the dirty pages, so retrying could report a success that
 *   never reached the disk). The caller stops, and recovery reads what is on
 *   disk.
 *
 * ------------------------------------------------------------------------------
 * On disk (all integers little-endian):
 *
 *   DIR/SSSSSSSSSSSSSSSSSSSS.jnl  a segment: 20 decimal digits, the sequence of
 *                                 its first record; records back to back, no
 *                                 file header. Other names are ignored.
 *   DIR/checkpoint                JOURNAL_CKPT_BYTES: "FRJCKPT1", u64 seq,
 *                                 u32 CRC-32C of the first 16 bytes, u32 0.
 *                                 Missing means checkpoint 0 (nothing committed).
 *   DIR/checkpoint.tmp            the checkpoint being written, and between
 *                                 checkpoints the previous one: a spare file whose
 *                                 block is overwritten in place, so a checkpoint
 *                                 needs no new disk space (on a full disk it is
 *                                 what frees space). Written with open(O_CREAT)
 *                                 without O_TRUNC, fsynced, then swapped with
 *                                 `checkpoint` (renameat2 RENAME_EXCHANGE, else
 *                                 rename), then the directory fsynced. Ignored
 *                                 on open.
 *
 *   A record: a JOURNAL_HDR_BYTES header, then `len` payload bytes.
 *     off  0  u32  magic JOURNAL_MAGIC ("FRJR" in file order)
 *     off  4  u32  len, the payload's length, 0..JOURNAL_PAYLOAD_MAX
 *     off  8  u64  seq, >= 1, each record exactly one more than the one before
 *                  it (across segments too)
 *     off 16  u16  type: the payload's format; JOURNAL_TYPE_V1 is the only one
 *     off 18  u16  0 (reserved)
 *     off 20  u32  CRC-32C of header bytes 0..19 followed by the payload
 *
 *   Payload of type JOURNAL_TYPE_V1 (a new layout gets a new type; readers
 *   refuse types they do not know rather than guess):
 *     off  0  u8   kind: enum journal_kind
 *     off  1  u8   source: enum journal_source
 *     off  2  u8   account name length a, 1..JOURNAL_ACCOUNT_MAX-1
 *     off  3  u8   category length c, 0..JOURNAL_CATEGORY_MAX-1 ("" = unknown)
 *     off  4  i64  received_at_ms: Unix ms when fillrelay received the message
 *     off 12  u32  raw length r, 1..JOURNAL_RAW_MAX
 *     off 16       account (a bytes), category (c bytes), raw (r bytes): the
 *                  JSON object exactly as received (decode's `raw` span),
 *                  which decode can read again. len == 16 + a + c + r.
 *
 * Segments roll when the next record would take the active segment past
 * segment_bytes (a segment always holds at least one record). The total of all
 * segment sizes never exceeds limit_bytes.
 *
 * ------------------------------------------------------------------------------
 * Recovery (journal_open). Every segment after the checkpoint is read and
 * every record checked (magic, length, type, CRC, sequence). Then:
 *  - A torn tail -- an incomplete or bad record at the end of the LAST
 *    segment with no valid record anywhere after it (what a crash in the
 *    middle of a write leaves) -- is truncated at the last valid record and
 *    logged as a warning with the file, the offset and the bytes dropped. An
 *    empty last segment is removed.
 *  - Anything else refuses to open with FR_EINVAL and a message naming the
 *    file and the byte offset (journal_error): a bad record followed by a
 *    valid one, a damaged segment that is not the last, a sequence gap inside
 *    or between segments, a segment whose name is not its first record's
 *    sequence, records missing between the checkpoint and the first segment,
 *    a damaged checkpoint file. Start-up stops; `fillrelay spill verify`
 *    shows the same message. Nothing is repaired behind the operator's back.
 *  - Segments wholly covered by the checkpoint are deleted without being read
 *    (they are leftovers of a crash between checkpoint and delete).
 *  - The next sequence is one more than the larger of the last record and the
 *    checkpoint, so a sequence is never reused for a record a sink may have
 *    committed. (A torn record's sequence may be reused: it was never
 *    acknowledged, and sinks dedupe on exchange ids, not on sequences.)
 *
 * Errors (err.h): FR_EFULL when an append would take the journal past
 * limit_bytes ("journal full"), and also when the filesystem says ENOSPC
 * (with its own message): the caller closes the exchange connection (a fill
 * is never dropped; the backfill brings it back) and retries after a
 * checkpoint has freed space. A failed write leaves nothing half-written: the
 * segment is truncated back to its last whole record, so appends can resume.
 * FR_EIO for other I/O failures; a failed fsync, or a failed write that cannot
 * be undone, is sticky (every later call returns FR_EIO). FR_EINVAL for
 * damage and bad arguments, FR_ERANGE for a record that does not fit its
 * limits (a raw object over JOURNAL_RAW_MAX: decode accepts messages up to
 * 1 MiB, so the caller must quarantine such a record). Each error leaves a
 * one-line message in journal_error(j) (replaced by the next error).
 *
 * I/O. Every file operation goes through a struct journal_sys so tests inject
 * ENOSPC, EIO, short writes and crashes deterministically. Reads use pread
 * into one fixed window of JOURNAL_BUF_BYTES inside struct journal.
 *
 * Memory and threads. struct journal is caller-owned (static storage: about
 * 150 KiB), sized by the constants below; nothing is allocated. One thread.
 * A record read back (struct journal_rec.raw) points into the journal's read
 * window and is valid until the next call on that journal. Two processes must
 * not open one directory for writing: journal_open takes an exclusive
 * advisory lock (flock) on the directory and fails with FR_EINVAL when another
 * process holds it. A read-only open takes no lock and changes nothing.
 */
#ifndef FR_JOURNAL_H
#define FR_JOURNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"
#include "loop.h"

/* ---- limits and format constants ---------------------------------------- */

#define JOURNAL_MAGIC 0x524A5246u /* bytes "FRJR" */
#define JOURNAL_TYPE_V1 1
#define JOURNAL_HDR_BYTES 24
#define JOURNAL_V1_FIXED 16   /* payload bytes before the account name */
#define JOURNAL_ACCOUNT_MAX 33 /* with NUL: cfg.h CFG_NAME_MAX */
#define JOURNAL_CATEGORY_MAX 16 /* with NUL: decode.h DECODE_CATEGORY_MAX */
/* A raw object: an execution is about 1-2 KiB, a wallet account with many
 * coins tens of KiB. */
#define JOURNAL_RAW_MAX (60u * 1024)
#define JOURNAL_PAYLOAD_MAX \
	(JOURNAL_V1_FIXED + (JOURNAL_ACCOUNT_MAX - 1) + (JOURNAL_CATEGORY_MAX - 1) + JOURNAL_RAW_MAX)
#define JOURNAL_RECORD_MAX (JOURNAL_HDR_BYTES + JOURNAL_PAYLOAD_MAX)
/* The read window: the largest record, rounded up, so any record fits whole. */
#define JOURNAL_BUF_BYTES (64u * 1024)
#define JOURNAL_SEGMENTS_MAX 1024
/* Default segment size; larger when limit_bytes / JOURNAL_SEGMENT_SHARE is, so a
 * full journal has at most about JOURNAL_SEGMENT_SHARE segments. */
#define JOURNAL_SEGMENT_BYTES (64u << 20)
#define JOURNAL_SEGMENT_SHARE 512
#define JOURNAL_PATH_MAX 256     /* the directory path, with NUL */
#define JOURNAL_NAME_BYTES 24    /* "SSSSSSSSSSSSSSSSSSSS.jnl" */
#define JOURNAL_CKPT_BYTES 24
#define JOURNAL_CKPT_NAME "checkpoint"
#define JOURNAL_ERR_MAX 512

_Static_assert(JOURNAL_RECORD_MAX <= JOURNAL_BUF_BYTES, "a whole record fits the read window");
_Static_assert(JOURNAL_ACCOUNT_MAX <= 256 && JOURNAL_CATEGORY_MAX <= 256, "u8 lengths");
_Static_assert(JOURNAL_SEGMENTS_MAX > JOURNAL_SEGMENT_SHARE + 2, "room for a full journal");
_Static_assert(JOURNAL_PATH_MAX + JOURNAL_NAME_BYTES + 2 <= 512, "paths fit path buffers");

/* ---- records ------------------------------------------------------------ */

enum journal_kind { /* the values of decode.h enum decode_kind */
	JOURNAL_KIND_EXECUTION = 1,
	JOURNAL_KIND_ORDER = 2,
	JOURNAL_KIND_POSITION = 3,
	JOURNAL_KIND_WALLET = 4,
	/* A record (or a whole message) decode refused, kept so that it reaches
	 * trading.rejects: category holds what it was ("execution", "order",
	 * "position", "wallet", "message"), raw the reason, a newline, then the
	 * text exactly as received. */
	JOURNAL_KIND_REJECT = 5,
};

enum journal_source { /* the values of decode.h enum decode_source */
	JOURNAL_SRC_PUSH = 1,
	JOURNAL_SRC_REST = 2,
};

/*
 * One record. For journal_append the caller fills everything but seq; the
 * strings are NUL-terminated, account non-empty, raw holds raw_len (1..
 * JOURNAL_RAW_MAX) bytes. From journal_iter_next, raw points into the journal's
 * read window (valid until the next call on the journal; not NUL-terminated).
 */
struct journal_rec {
	uint64_t seq;
	enum journal_kind kind;
	enum journal_source source;
	int64_t received_at_ms;
	char account[JOURNAL_ACCOUNT_MAX];
	char category[JOURNAL_CATEGORY_MAX];
	const char *raw;
	uint32_t raw_len;
};

/*
 * Encodes r (seq included) as one whole record into buf of cap bytes.
 * Returns its length, FR_ERANGE when a field is over its limit or cap is too
 * small, FR_EINVAL for an empty account or raw, sequence 0, or an unknown kind
 * or source.
 */
int journal_encode(const struct journal_rec *r, unsigned char *buf, size_t cap);

/*
 * Checks and decodes the record at the start of buf[0..n): magic, length,
 * type, CRC and payload layout. On success fills *r (raw points into buf) and
 * returns the record's length. FR_EAGAIN when n is too short for the record
 * its header announces (or for a header); FR_EINVAL when it is not a valid
 * record (*why, when not NULL, gets a static reason: "bad magic", "bad CRC",
 * ...). Reads nothing outside buf[0..n). The fuzz target's entry point.
 */
int journal_decode(const unsigned char *buf, size_t n, struct journal_rec *r, const char **why);

/* ---- the file system ---------------------------------------------------- */

typedef int (*journal_list_fn)(void *arg, const char *name);

/*
 * POSIX calls, each returning what the system call returns (-1 with errno
 * set on failure). list calls fn for each entry name of the directory fd
 * (".", ".." included or not) and returns 0, -1 with errno, or fn's first
 * non-zero result. lock takes an exclusive non-blocking flock.
 */
struct journal_sys {
	int (*open)(void *ctx, const char *path, int flags, mode_t mode);
	int (*close)(void *ctx, int fd);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, off_t off);
	int (*fsync)(void *ctx, int fd);
	int (*ftruncate)(void *ctx, int fd, off_t len);
	int (*fstat)(void *ctx, int fd, struct stat *st);
	int (*rename)(void *ctx, const char *from, const char *to);
	/* Atomically swaps two names (renameat2 RENAME_EXCHANGE); -1 with EINVAL
	 * or ENOSYS where the filesystem cannot, and the journal falls back to
	 * rename. */
	int (*exchange)(void *ctx, const char *a, const char *b);
	int (*unlink)(void *ctx, const char *path);
	int (*list)(void *ctx, int dir_fd, journal_list_fn fn, void *arg);
	int (*lock)(void *ctx, int fd);
	void *ctx;
};

/* The real world: open(2), pread(2), ..., getdents64(2), flock(2). */
extern const struct journal_sys journal_sys_real;

/* ---- the journal -------------------------------------------------------- */

enum journal_fsync {
	JOURNAL_FSYNC_ALWAYS,
	JOURNAL_FSYNC_BATCH,
	JOURNAL_FSYNC_OS,
};

struct journal_opts {
	const char *dir;         /* must exist; at most JOURNAL_PATH_MAX - 1 bytes */
	uint64_t limit_bytes;    /* total of all segments; >= JOURNAL_RECORD_MAX */
	uint64_t segment_bytes;  /* 0: JOURNAL_SEGMENT_BYTES or limit / SHARE */
	enum journal_fsync fsync;
	int read_only;           /* inspect only: no repair, no lock, no writes */
	int background_fsync;    /* policy batch: fsync on a thread (journal_sync) */
	const struct journal_sys *sys; /* NULL: journal_sys_real */
};

struct journal_seg {
	uint64_t first_seq; /* its name */
	uint64_t last_seq;  /* first_seq - 1 while empty */
	uint64_t bytes;     /* whole records only */
};

/* What open found and repaired (for `spill stat|verify` and the log). */
struct journal_report {
	int torn;                  /* a torn tail was found (and cut unless read-only) */
	char torn_file[JOURNAL_PATH_MAX + JOURNAL_NAME_BYTES + 2];
	uint64_t torn_offset;      /* where the last valid record ends */
	uint64_t torn_bytes;       /* bytes after it */
	int segments_deleted;      /* covered by the checkpoint */
	int empty_removed;         /* an empty last segment */
};

struct journal_stat {
	int segments;
	uint64_t records;       /* in the segments kept */
	uint64_t first_seq;     /* first record kept; 0 when none */
	uint64_t last_seq;      /* last record; 0 when none */
	uint64_t checkpoint;
	uint64_t bytes;         /* total of the segments */
	uint64_t limit_bytes;
	uint64_t unsynced_first_seq; /* oldest record not yet fsynced; 0: none */
	uint64_t unsynced_records;
	uint64_t fsyncs;        /* fsync calls made by this journal (all files) */
};

struct journal {
	struct journal_opts o;
	const struct journal_sys *sys;
	char dir[JOURNAL_PATH_MAX];
	int dir_fd;
	int open;                /* 1 between a successful open and close */
	int broken;              /* sticky FR_EIO after a failed fsync */
	int dir_dirty;           /* a segment was created and the dir not fsynced */
	struct journal_seg segs[JOURNAL_SEGMENTS_MAX];
	int segs_n;
	int wfd;                 /* the last segment, O_RDWR; -1 when none is open */
	uint64_t bytes;          /* total of segs[].bytes */
	uint64_t next_seq;
	uint64_t checkpoint;
	uint64_t synced_seq;     /* everything <= this is fsynced (or policy os) */
	uint64_t fsyncs;
	struct loop_lat fsync_lat; /* fsync durations (under bg_mu with the thread) */
	/* The background fsync (opts.background_fsync): one thread, one request
	 * at a time -- fd (a dup of the active segment) synced up to bg_seq --,
	 * under bg_mu. Private. */
	int bg_on, bg_busy, bg_stop, bg_fd, bg_err;
	uint64_t bg_seq, bg_done;
	/* ... and the checkpoint: ck_seq asked (0: none), ck_done written, ck_want
	 * the next one to ask, ck_err an errno. */
	int ck_busy, ck_err;
	uint64_t ck_seq, ck_done, ck_want;
	pthread_t bg_thread;
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	/* read window: bytes [win_off, win_off + win_len) of segment win_first */
	int rfd;                 /* read fd of segment rfd_first, or -1 */
	uint64_t rfd_first;
	uint64_t win_first;
	uint64_t win_off;
	uint32_t win_len;
	struct journal_report report;
	char err[JOURNAL_ERR_MAX];
	unsigned char wbuf[JOURNAL_RECORD_MAX];
	size_t wlen; /* bytes of wbuf the last append wrote */
	unsigned char win[JOURNAL_BUF_BYTES];
};

/* A reader position; any number may exist. */
struct journal_iter {
	uint64_t next_seq; /* the record it returns next */
	uint64_t seg_first;
	uint64_t off;      /* of that record in segment seg_first */
	uint64_t last_seq; /* the record returned last (0: none), at last_off */
	uint64_t last_off;
};

/*
 * Opens and recovers the journal in o->dir (which must exist) as described
 * above; a writable open also makes sure DIR/checkpoint and its spare exist
 * (failing to is only logged: it matters on a full disk). Segments are
 * created by appends, never here. Returns 0, or FR_EINVAL (damage, bad options, locked by
 * another process: journal_error says which), FR_EIO, FR_ERANGE (more than
 * JOURNAL_SEGMENTS_MAX segments). On error everything opened is closed again.
 * j->report tells what was repaired. Precondition: j and o non-NULL.
 */
int journal_open(struct journal *j, const struct journal_opts *o);

/* Closes every fd (no fsync: call journal_sync first). Safe on a closed journal. */
void journal_close(struct journal *j);

/*
 * Appends r (its seq is ignored) and sets *seq to the sequence it got.
 * Policy always: durable on return. Returns 0, FR_EFULL (limit or ENOSPC;
 * nothing was written), FR_ERANGE/FR_EINVAL (a bad record; nothing written),
 * FR_EIO (nothing half-written stays unless the journal is broken).
 * Not on a read-only journal (FR_EINVAL).
 */
int journal_append(struct journal *j, const struct journal_rec *r, uint64_t *seq);

/* The encoded bytes (journal_encode's) of the record the last successful
 * journal_append wrote, its seq included; valid until the next append. For a
 * caller keeping a copy (the sink's ring) without encoding it again. */
const unsigned char *journal_last_record(const struct journal *j, size_t *len);

/*
 * Makes everything appended so far durable under policy batch: fsyncs the
 * active segment (and the directory after a new segment) when anything is
 * unsynced. With background_fsync the segment's fsync is handed to the
 * journal's thread when it is idle (else the next call does) and this
 * returns at once; a failure it met is reported by the next call. No-op
 * under always (already durable) and os. Call it from the loop's
 * before-sleep hook. Returns 0 or FR_EIO (sticky).
 */
int journal_sync(struct journal *j);

/*
 * Everything <= seq is committed downstream: writes the checkpoint file
 * atomically (checkpoint.tmp, fsync, rename, fsync the directory), then
 * deletes every segment whose records are all <= seq (the active one too:
 * the next append starts a new segment). seq below the current checkpoint is a
 * no-op. Returns 0, FR_EINVAL when seq was never appended (> last sequence),
 * FR_EIO. After FR_EIO the old checkpoint still holds.
 * With background_fsync the file work (two fsyncs) is the journal thread's:
 * this asks for it and returns 0; j->checkpoint moves, and the segments go,
 * when a later journal_checkpoint, journal_sync or journal_poll finds it done
 * (a failure is reported then, once). A journal_close finishes what is asked.
 */
int journal_checkpoint(struct journal *j, uint64_t seq);

/* Collects what the journal thread finished (checkpoints, fsyncs): 1 while
 * a checkpoint is still in flight or waiting, 0 when none is, FR_EIO when one
 * failed. Cheap; without the thread always 0. */
int journal_poll(struct journal *j);

/* Positions it at the first record >= from_seq (from 0 or 1: the oldest kept). */
void journal_iter_init(struct journal *j, struct journal_iter *it, uint64_t from_seq);

/*
 * Moves it to seq without starting over where it can: back to the record it
 * returned last, or forward (the records in between are stepped over by
 * their headers, not decoded); otherwise as journal_iter_init. A reader that
 * is refused the record it just read (no room downstream) and a reader whose
 * records are mostly served from memory (ring.h) both stay linear in the
 * journal's size.
 */
void journal_iter_seek(struct journal *j, struct journal_iter *it, uint64_t seq);

/*
 * Reads the next record into *r (r->raw is valid until the next call on j).
 * Returns 1 with a record, 0 at the end (appends made later are returned by
 * later calls), FR_EINVAL on damage (journal_error names file and offset),
 * FR_EIO. A record deleted by a checkpoint meanwhile is skipped over.
 */
int journal_iter_next(struct journal *j, struct journal_iter *it, struct journal_rec *r);

void journal_stat(const struct journal *j, struct journal_stat *st);

/* The last error's message ("" when none). */
const char *journal_error(const struct journal *j);

/* "always", "batch", "os"; journal_fsync_parse returns the policy or -1. */
const char *journal_fsync_name(enum journal_fsync f);
int journal_fsync_parse(const char *name);

/* Writes DIR/SSSSSSSSSSSSSSSSSSSS.jnl for segment first into buf of n bytes. */
int journal_seg_path(const char *dir, uint64_t first, char *buf, size_t n);

#endif
