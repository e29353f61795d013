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
 *   replay   not yet available (EX_UNAVAILABLE): it needs the sinks.
 *
 * Exit codes (sysexits.h): EX_USAGE for a wrong subcommand or argument,
 * EX_NOINPUT when the directory does not exist, EX_IOERR for I/O errors,
 * EX_DATAERR as above, EX_TEMPFAIL when --truncate-torn finds the journal
 * locked by a running fillrelay.
 */
#ifndef FR_VERB_SPILL_H
#define FR_VERB_SPILL_H

#include <stdint.h>

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

#endif
