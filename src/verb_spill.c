/*
 * verb_spill.c -- see verb_spill.h. Each subcommand opens the journal (read-
 * only unless repairing), prints, and maps journal errors to sysexits codes.
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
	}
	return "unknown";
}

static int exit_for(int rc)
{
	if (rc == FR_EINVAL || rc == FR_ERANGE)
		return EX_DATAERR;
	return EX_IOERR;
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
	if (writable && strstr(journal_error(&vs_j), "locked by another process"))
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
		fprintf(stderr, "fillrelay spill replay: not yet available: it arrives with the "
		                "sinks (PostgreSQL and Redis)\n");
		return EX_UNAVAILABLE;
	}
	fprintf(stderr, "fillrelay spill: unknown subcommand '%s' (stat, verify, dump, replay)\n",
	        sub);
	return EX_USAGE;
}
