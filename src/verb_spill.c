/*
 * verb_spill.c -- see verb_spill.h. Each inspecting subcommand opens the
 * journal (read-only unless repairing), prints, and maps journal errors to
 * sysexits codes; replay drives the sink stack of `run` (verb_run.h) until
 * the journal is drained.
 */
#define _POSIX_C_SOURCE 200809L

#include "verb_spill.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "journal.h"
#include "log.h"
#include "verb_run.h"

static struct journal vs_j; /* large: static */

static const char *kind_name(enum journal_kind k)
{
	switch (k) {
	case JOURNAL_KIND_EXECUTION:
		return "execution";
	case JOURNAL_KIND_ORDER:
		return "order";
	case JOURNAL_KIND_POSITION:
		return "position";
	case JOURNAL_KIND_WALLET:
		return "wallet";
	case JOURNAL_KIND_REJECT:
		return "reject";
	}
	return "unknown";
}

static int exit_for(int rc)
{
	if (rc == FR_EINVAL || rc == FR_ERANGE)
		return EX_DATAERR;
	return EX_IOERR;
}

/* journal_open's refusal when another process holds the directory's lock
 * (journal.h): the one refusal that waiting cures. */
static int vs_locked(const char *journal_msg)
{
	return strstr(journal_msg, "locked by another process") != NULL;
}

/* Opens the journal; prints why not and returns a sysexits code. */
static int vs_open(const struct verb_spill_opts *o, int writable)
{
	struct journal_opts jo = {0};
	struct stat st;
	int rc;

	if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "fillrelay spill: %s: no journal directory (%s)\n", o->dir,
		        errno ? strerror(errno) : "not a directory");
		return EX_NOINPUT;
	}
	jo.dir = o->dir;
	jo.limit_bytes = o->limit_bytes ? o->limit_bytes : UINT64_MAX;
	jo.fsync = JOURNAL_FSYNC_BATCH;
	jo.read_only = !writable;
	rc = journal_open(&vs_j, &jo);
	if (rc == 0)
		return EX_OK;
	fprintf(stderr, "fillrelay spill: %s\n", journal_error(&vs_j));
	if (writable && vs_locked(journal_error(&vs_j)))
		return EX_TEMPFAIL;
	return exit_for(rc);
}

static void print_torn(FILE *f, const struct journal_report *r)
{
	fprintf(f, "%s:%" PRIu64 ": torn tail: %" PRIu64 " bytes after the last valid record\n",
	        r->torn_file, r->torn_offset, r->torn_bytes);
}

/* The first record after the checkpoint, for its age; 1 when there is one. */
static int oldest_pending(struct journal_rec *r)
{
	struct journal_iter it;

	journal_iter_init(&vs_j, &it, vs_j.checkpoint + 1);
	return journal_iter_next(&vs_j, &it, r);
}

static void print_ms(const char *key, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	if (!gmtime_r(&s, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm)) {
		printf("%-27s %" PRId64 "\n", key, ms);
		return;
	}
	printf("%-27s %s.%03dZ\n", key, buf, (int)(ms % 1000));
}

static int vs_stat(const struct verb_spill_opts *o)
{
	struct journal_stat st;
	struct journal_rec r;
	int rc = vs_open(o, 0);

	if (rc != EX_OK)
		return rc;
	journal_stat(&vs_j, &st);
	printf("%-27s %s\n%-27s %d\n%-27s %" PRIu64 "\n", "dir", o->dir, "segments", st.segments,
	       "records", st.records);
	printf("%-27s %" PRIu64 "\n%-27s %" PRIu64 "\n%-27s %" PRIu64 "\n", "first_seq",
	       st.first_seq, "last_seq", st.last_seq, "checkpoint", st.checkpoint);
	printf("%-27s %" PRIu64 "\n", "pending",
	       st.last_seq > st.checkpoint ? st.last_seq - st.checkpoint : 0);
	rc = oldest_pending(&r);
	if (rc == 1) {
		printf("%-27s %" PRIu64 "\n", "oldest_pending_seq", r.seq);
		print_ms("oldest_pending_received_at", r.received_at_ms);
	} else {
		printf("%-27s -\n%-27s -\n", "oldest_pending_seq", "oldest_pending_received_at");
	}
	printf("%-27s %" PRIu64 "\n", "bytes", st.bytes);
	if (o->limit_bytes) {
		/* Integers only (no floating point in src/): per mille, printed as %. */
		uint64_t pm = st.bytes / (o->limit_bytes / 1000 ? o->limit_bytes / 1000 : 1);

		printf("%-27s %" PRIu64 " (%" PRIu64 ".%" PRIu64 "%% used)\n", "limit",
		       o->limit_bytes, pm / 10, pm % 10);
	} else
		printf("%-27s -\n", "limit");
	if (vs_j.report.torn)
		printf("%-27s %s:%" PRIu64 " +%" PRIu64 "\n", "torn_tail", vs_j.report.torn_file,
		       vs_j.report.torn_offset, vs_j.report.torn_bytes);
	else
		printf("%-27s -\n", "torn_tail");
	journal_close(&vs_j);
	if (rc < 0) {
		fprintf(stderr, "fillrelay spill: %s\n", journal_error(&vs_j));
		return exit_for(rc);
	}
	return EX_OK;
}

/* Reads every record once more through the iterator (payloads decoded). */
static int read_everything(uint64_t *n)
{
	struct journal_iter it;
	struct journal_rec r;
	int rc;

	*n = 0;
	journal_iter_init(&vs_j, &it, 0);
	while ((rc = journal_iter_next(&vs_j, &it, &r)) == 1)
		(*n)++;
	return rc;
}

static int vs_verify(const struct verb_spill_opts *o)
{
	struct journal_stat st;
	uint64_t n;
	int rc = vs_open(o, o->truncate_torn);

	if (rc != EX_OK)
		return rc;
	rc = read_everything(&n);
	journal_stat(&vs_j, &st);
	journal_close(&vs_j);
	if (rc < 0) {
		fprintf(stderr, "fillrelay spill: %s\n", journal_error(&vs_j));
		return exit_for(rc);
	}
	if (vs_j.report.torn && !o->truncate_torn) {
		print_torn(stdout, &vs_j.report);
		printf("(fillrelay run cuts it at start; or: fillrelay spill verify "
		       "--truncate-torn)\n");
		return EX_DATAERR;
	}
	if (vs_j.report.torn) {
		print_torn(stdout, &vs_j.report);
		printf("truncated at offset %" PRIu64 "\n", vs_j.report.torn_offset);
	}
	printf("ok: %" PRIu64 " records in %d segments, sequences %" PRIu64 "..%" PRIu64
	       ", checkpoint %" PRIu64 "\n",
	       n, st.segments, st.first_seq, st.last_seq, st.checkpoint);
	return EX_OK;
}

/* Writes raw with line breaks as blanks: one NDJSON line, same JSON value. */
static void put_raw(const char *raw, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		putchar(raw[i] == '\n' || raw[i] == '\r' ? ' ' : raw[i]);
}

static void put_rec(const struct journal_rec *r)
{
	/* account and category are [A-Za-z0-9_] names: nothing to escape. */
	printf("{\"seq\":%" PRIu64 ",\"kind\":\"%s\",\"source\":\"%s\",\"account\":\"%s\","
	       "\"category\":\"%s\",\"received_at\":%" PRId64 ",\"raw\":",
	       r->seq, kind_name(r->kind), r->source == JOURNAL_SRC_PUSH ? "push" : "rest",
	       r->account, r->category, r->received_at_ms);
	put_raw(r->raw, r->raw_len);
	fputs("}\n", stdout);
}

static int parse_seq(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int vs_dump(int argc, char **argv, const struct verb_spill_opts *o)
{
	struct journal_iter it;
	struct journal_rec r;
	uint64_t from = 0;
	int rc;

	if (argc > 1 || (argc == 1 && parse_seq(argv[0], &from) != 0)) {
		fprintf(stderr, "fillrelay spill dump: takes at most one FROM_SEQ (a number)\n");
		return EX_USAGE;
	}
	rc = vs_open(o, 0);
	if (rc != EX_OK)
		return rc;
	journal_iter_init(&vs_j, &it, from);
	while ((rc = journal_iter_next(&vs_j, &it, &r)) == 1)
		put_rec(&r);
	journal_close(&vs_j);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	if (rc < 0) {
		fprintf(stderr, "fillrelay spill: %s\n", journal_error(&vs_j));
		return exit_for(rc);
	}
	if (vs_j.report.torn)
		print_torn(stderr, &vs_j.report);
	return EX_OK;
}

/* see verb_spill.h */
int verb_spill(int argc, char **argv, const struct verb_spill_opts *o)
{
	const char *sub = argc > 0 ? argv[0] : "";

	if (o->truncate_torn && strcmp(sub, "verify") != 0) {
		fprintf(stderr, "fillrelay spill: --truncate-torn goes with verify\n");
		return EX_USAGE;
	}
	if (strcmp(sub, "dump") == 0)
		return vs_dump(argc - 1, argv + 1, o);
	if (argc != 1) {
		fprintf(stderr, "fillrelay spill: usage: spill stat|verify|dump [FROM_SEQ]|replay "
		                "[-c FILE | --dir DIR]\n");
		return EX_USAGE;
	}
	if (strcmp(sub, "stat") == 0)
		return vs_stat(o);
	if (strcmp(sub, "verify") == 0)
		return vs_verify(o);
	if (strcmp(sub, "replay") == 0) {
		fprintf(stderr, "fillrelay spill replay: needs the configuration (-c FILE), not "
		                "only --dir: it writes to PostgreSQL and Redis\n");
		return EX_USAGE;
	}
	fprintf(stderr, "fillrelay spill: unknown subcommand '%s' (stat, verify, dump, replay)\n",
	        sub);
	return EX_USAGE;
}

/* ---- replay ------------------------------------------------------------- */

static struct verb_run_sinks *vs_s; /* verb_run's: one verb per process */

/* The replay's clock and what counts as progress (see verb_spill.h). */
struct vs_replay {
	int64_t timeout_ms, deadline_ms;
	uint64_t moved, commits; /* sink stats seen last */
	int pg_up, rds_up;
};

static int64_t vs_now(void)
{
	return vs_s->loop.sys->mono_ms(vs_s->loop.sys->ctx);
}

static int vs_parse_timeout(const char *text, int64_t *ms)
{
	char *end;
	long v;

	*ms = (int64_t)VERB_SPILL_TIMEOUT_S * 1000;
	if (!text)
		return 0;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 1 || v > VERB_SPILL_TIMEOUT_MAX_S)
		return -1;
	*ms = (int64_t)v * 1000;
	return 0;
}

/* Anything that moved restarts the timeout. */
static void vs_progress(struct vs_replay *r)
{
	const struct sink_stats *st = &vs_s->sink.stats;
	int pg_up = pg_ready(&vs_s->pg), rds_up = rds_state(&vs_s->rds) == RDS_READY;

	if (st->records_moved != r->moved || st->commits != r->commits || pg_up > r->pg_up ||
	    rds_up > r->rds_up)
		r->deadline_ms = vs_now() + r->timeout_ms;
	r->moved = st->records_moved;
	r->commits = st->commits;
	r->pg_up = pg_up;
	r->rds_up = rds_up;
}

/* The timeout ran out: says what is stuck. */
static void vs_stuck(const struct vs_replay *r)
{
	long long s = (long long)(r->timeout_ms / 1000);
	const char *why = "";

	if (rds_state(&vs_s->rds) != RDS_READY) {
		rds_last_error(&vs_s->rds, &why);
		fprintf(stderr, "fillrelay spill replay: Redis unreachable for %lld s: %s\n", s,
		        why && why[0] ? why : "not connected");
	} else if (!pg_ready(&vs_s->pg)) {
		fprintf(stderr, "fillrelay spill replay: PostgreSQL unreachable for %lld s: %s\n",
		        s, vs_s->pg.msg[0] ? vs_s->pg.msg : "not connected");
	} else {
		fprintf(stderr,
		        "fillrelay spill replay: no progress for %lld s (%" PRIu64
		        " records still pending, %d symbols waiting for a rebuild)\n",
		        s, sink_spill_depth(&vs_s->sink), sink_dirty(&vs_s->sink));
	}
}

/* Why the loop must stop before the journal is drained: a sysexits code with
 * its line printed, or EX_OK to go on. */
static int vs_failed(struct vs_replay *r)
{
	if (vs_s->sink.err || vs_s->sink.j.broken) {
		fprintf(stderr, "fillrelay spill replay: the journal failed: %s\n",
		        vs_s->sink.msg[0] ? vs_s->sink.msg : journal_error(&vs_s->sink.j));
		return EX_IOERR;
	}
	if (vs_s->pg.state == PG_FAILED) { /* final: a newer schema, a failed migration */
		fprintf(stderr, "fillrelay spill replay: PostgreSQL: %s\n", vs_s->pg.msg);
		return EX_UNAVAILABLE;
	}
	if (vs_s->loop.stopping) {
		fprintf(stderr, "fillrelay spill replay: interrupted\n");
		return EX_TEMPFAIL;
	}
	vs_progress(r);
	if (vs_now() >= r->deadline_ms) {
		vs_stuck(r);
		return EX_UNAVAILABLE;
	}
	return EX_OK;
}

/* Runs the loop until done() or a failure (vs_failed). */
static int vs_run_until(struct vs_replay *r, int (*done)(void))
{
	int rc;

	while (!done()) {
		rc = vs_failed(r);
		if (rc != EX_OK)
			return rc;
		if (loop_run_once(&vs_s->loop, 100) < 0) {
			fprintf(stderr, "fillrelay spill replay: the event loop failed\n");
			return EX_OSERR;
		}
	}
	return EX_OK;
}

static int vs_rds_idle(void)
{
	return rds_idle(&vs_s->rds);
}

static int vs_drained(void)
{
	return pg_ready(&vs_s->pg) && verb_run_sinks_drained(vs_s);
}

/* Redis first (READY, positions rewritten from the warmed book) and only
 * then the sink's moving step and PostgreSQL: a fill applied while Redis is
 * not READY would have its publish lost (rds.h), and a replay exists so that
 * nothing is. Then until everything is committed and written. */
static int vs_replay_loop(struct vs_replay *r)
{
	int rc;

	r->deadline_ms = vs_now() + r->timeout_ms;
	if (rds_start(&vs_s->rds) != 0) {
		fprintf(stderr, "fillrelay spill replay: cannot start Redis (no loop timer)\n");
		return EX_OSERR;
	}
	rc = vs_run_until(r, vs_rds_idle);
	if (rc != EX_OK)
		return rc;
	loop_set_before_sleep(&vs_s->loop, sink_before_sleep, &vs_s->sink);
	if (pg_start(&vs_s->pg) != 0) {
		fprintf(stderr, "fillrelay spill replay: cannot start PostgreSQL\n");
		return EX_OSERR;
	}
	return vs_run_until(r, vs_drained);
}

static void vs_summary(uint64_t pending)
{
	const struct sink_stats *st = &vs_s->sink.stats;
	const struct rds_stats *rs = &vs_s->rds.stats;
	uint64_t again = rs->publishes_repeated;

	if (pending == 0 && st->records_moved == 0) {
		printf("spill replay: nothing to replay (checkpoint %" PRIu64 "); PostgreSQL and "
		       "Redis reachable\n",
		       vs_s->sink.j.checkpoint);
		return;
	}
	printf("spill replay: %" PRIu64 " records replayed, %" PRIu64
	       " fills written (new), %" PRIu64 " duplicate%s, %" PRIu64 " published",
	       st->records_moved, st->fills_written, st->fills_deduplicated,
	       st->fills_deduplicated == 1 ? "" : "s",
	       rs->publishes_sent > again ? rs->publishes_sent - again : 0);
	if (again)
		printf(" (%" PRIu64 " more published before)", again);
	printf("; checkpoint %" PRIu64 "\n", vs_s->sink.j.checkpoint);
}

/* verb_run_sinks_open failed: its log line said why; one plain line more. */
static int vs_open_failed(int rc)
{
	if (rc != EX_UNAVAILABLE || vs_s->open_rc == 0)
		return rc;
	fprintf(stderr, "fillrelay spill replay: cannot start: %s\n", vs_s->sink.msg);
	return vs_locked(vs_s->sink.msg) ? EX_TEMPFAIL : EX_UNAVAILABLE;
}

/* see verb_spill.h */
int verb_spill_replay(int argc, char **argv, const struct cfg *c,
                      const struct verb_spill_replay_opts *o)
{
	struct vs_replay r = {0};
	uint64_t pending;
	int rc;

	if (argc != 1 || strcmp(argv[0], "replay") != 0) {
		fprintf(stderr, "fillrelay spill replay: takes no arguments (see --help)\n");
		return EX_USAGE;
	}
	if (vs_parse_timeout(o->timeout, &r.timeout_ms) != 0) {
		fprintf(stderr,
		        "fillrelay spill replay: --timeout %s: not a number of seconds in "
		        "1..%d\n",
		        o->timeout, VERB_SPILL_TIMEOUT_MAX_S);
		return EX_USAGE;
	}
	vs_s = verb_run_sinks_storage();
	rc = verb_run_sinks_open(vs_s, c, o->dir);
	if (rc == EX_OK && loop_signals_install(&vs_s->loop, NULL, NULL) != 0) {
		fprintf(stderr, "fillrelay spill replay: cannot install the signal handlers\n");
		verb_run_sinks_close(vs_s);
		return EX_OSERR;
	}
	if (rc != EX_OK) {
		rc = vs_open_failed(rc);
		verb_run_sinks_close(vs_s);
		return rc;
	}
	pending = sink_spill_depth(&vs_s->sink);
	log_info("replaying the journal", LS("dir", o->dir ? o->dir : c->listener.spill_dir),
	         LI("pending", pending), LI("timeout_s", r.timeout_ms / 1000));
	rc = vs_replay_loop(&r);
	loop_signals_remove(&vs_s->loop);
	verb_run_sinks_close(vs_s); /* checkpoints what was committed */
	if (rc == EX_OK)
		vs_summary(pending);
	return rc;
}
