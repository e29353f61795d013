/*
 * verb_spill.h -- `fillrelay spill stat|verify|dump|replay`: the disk journal
 * (journal.h) as an operator sees it.
 *
 * The journal directory is --dir DIR, else [listener] spill_dir of the
 * configuration (-c FILE, default /etc/fillrelay.conf). Every subcommand but
 * `verify --truncate-torn` opens the journal read-only: it takes no lock,
 * repairs nothing and may run beside a live fillrelay (whose last record may
 * then look torn while it is being written).
 *
 *   stat     one "key value" line each: dir, segments, records, first_seq,
 *            last_seq, checkpoint, pending (records after the checkpoint, i.e.
 *            not yet committed to PostgreSQL), oldest_pending_seq and
 *            oldest_pending_received_at (the oldest record not yet committed,
 *            "-" when none), bytes, limit (from the configuration; "-" with
 *            --dir), torn_tail ("-" or FILE:OFFSET +BYTES). Whether a record
 *            is fsynced is known only inside the running process (its
 *            metrics); on disk, what is there is what survived.
 *   verify   a full scan: every record's header, CRC, payload and sequence,
 *            in every segment (checkpointed ones still on disk too). Prints
 *            "ok: ..." and exits 0 when clean. A torn tail prints
 *            "FILE:OFFSET: torn tail: N bytes after the last valid record"
 *            and exits EX_DATAERR; with --truncate-torn the journal is opened
 *            for writing (which fails while fillrelay runs: the directory is
 *            locked), the tail is cut, and it exits 0. Damage prints
 *            "FILE: offset N: ..." on standard error and exits EX_DATAERR;
 *            it is never repaired here (see journal.h: nothing is repaired
 *            behind the operator's back).
 *   dump [FROM_SEQ]  the records as NDJSON on standard output, one per line:
 *            {"seq":N,"kind":"execution","source":"push","account":"main",
 *            "category":"linear","received_at":MS,"raw":{...}} with raw the
 *            object exactly as received (line breaks turned into blanks, which
 *            JSON ignores between tokens). A torn tail is reported on standard
 *            error after the records before it (exit 0); damage exits
 *            EX_DATAERR.
 *   replay   verb_spill_replay below: it needs the configuration (-c FILE);
 *            verb_spill refuses it (EX_USAGE) since it has none.
 *
 * Exit codes (sysexits.h): EX_USAGE for a wrong subcommand or argument,
 * EX_NOINPUT when the directory does not exist, EX_IOERR for I/O errors,
 * EX_DATAERR as above, EX_TEMPFAIL when --truncate-torn finds the journal
 * locked by a running fillrelay.
 *
 * `spill replay [--timeout SECONDS]`: drains the journal into PostgreSQL and
 * Redis without connecting to the exchange -- after an outage, when no
 * fillrelay runs, so that bots see their positions before the listener is
 * back. It builds the sink stack of `run` (verb_run.h verb_run_sinks_open:
 * the spill directory, made when missing; the journal, opened for writing
 * under its lock; the book warmed from trading.fills -- when PostgreSQL is
 * down at start, once it answers, and nothing moves before), connects to
 * Redis first and waits until Redis is READY
 * with every position rewritten -- only then does the sink start moving
 * records, so that no fill's pub/sub message is lost to a Redis not yet
 * connected --, then to PostgreSQL (migrating the schema), and runs the loop
 * until every record after the checkpoint is committed and Redis is idle
 * (verb_run_sinks_drained). Each record goes the way it goes in `run`
 * (sink.h): exactly once in PostgreSQL, positions in Redis, each fill
 * published at most once, duplicates written nowhere twice. Then it closes
 * the sink, which checkpoints, and prints one line on standard output:
 *   spill replay: N records replayed, N fills written (new), N duplicates,
 *   N published (N more published before); checkpoint SEQ
 * (records: journal records moved, every kind; duplicates: fills PostgreSQL
 * already had; published: messages sent on fillrelay:fills:BOT channels; the
 * part in parentheses, only when not 0: messages Redis kept out because the
 * fill had been published already, e.g. by the `run` that journaled it), or,
 * when nothing follows the checkpoint (still connecting to both, so that an
 * unreachable sink is reported):
 *   spill replay: nothing to replay (checkpoint SEQ); PostgreSQL and Redis
 *   reachable
 * The timeout (default VERB_SPILL_TIMEOUT_S) runs from the start and again
 * from every sign of progress (a connection made, a record moved, a batch
 * committed): when it runs out, one line on standard error names what is
 * stuck ("Redis unreachable for 60 s: ...", "PostgreSQL unreachable for 60 s:
 * ...", or "no progress for 60 s") and the exit is EX_UNAVAILABLE; what was
 * committed until then is checkpointed.
 * Exit codes: EX_OK; EX_USAGE (an extra argument, a bad --timeout);
 * EX_TEMPFAIL when another fillrelay holds the journal (its message printed)
 * or on SIGTERM/SIGINT; EX_UNAVAILABLE on the timeout (PostgreSQL down all
 * along included), or when PostgreSQL fails for good (a schema newer
 * than this build); EX_CONFIG, EX_OSERR as verb_run_sinks_open; EX_IOERR when
 * the journal breaks (a failed fsync). Logs go to standard error (logfmt).
 * Uses `run`'s static storage (verb_run_sinks_storage, about 18 MiB).
 */
#ifndef FR_VERB_SPILL_H
#define FR_VERB_SPILL_H

#include <stdint.h>

#include "cfg.h"

#define VERB_SPILL_TIMEOUT_S 60        /* replay: default --timeout */
#define VERB_SPILL_TIMEOUT_MAX_S 86400 /* replay: largest --timeout */

struct verb_spill_opts {
	const char *dir;     /* the journal directory */
	uint64_t limit_bytes; /* 0: unknown (no configuration) */
	int truncate_torn;   /* verify --truncate-torn */
};

/*
 * argv[0..argc) are the verb's arguments after "spill": the subcommand and
 * its operands. Writes to standard output and error; returns a sysexits code.
 * Not reentrant (the journal context is static: about 150 KiB).
 */
int verb_spill(int argc, char **argv, const struct verb_spill_opts *o);

struct verb_spill_replay_opts {
	const char *dir;     /* --dir DIR; NULL: c's [listener] spill_dir */
	const char *timeout; /* --timeout SECONDS as given, 1..VERB_SPILL_TIMEOUT_MAX_S;
	                        NULL: VERB_SPILL_TIMEOUT_S */
};

/*
 * `spill replay`, described above. argv[0..argc) are the arguments after
 * "spill" (argv[0] is "replay"). c is loaded and the arena reserved by the
 * caller; c outlives the call. Returns a sysexits code. Once per process
 * (static state, signal handlers installed for the call).
 */
int verb_spill_replay(int argc, char **argv, const struct cfg *c,
                      const struct verb_spill_replay_opts *o);

#endif
