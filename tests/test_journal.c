/*
 * Tests of the disk journal: record format, append and read back, segments,
 * reopen, torn tails at every byte, damage at every byte of a middle record,
 * the size limit and ENOSPC, fsync policies counted through the sys table,
 * checkpoints, and seeded crashes (a write cut at byte k, then power loss that
 * keeps what was fsynced plus a random prefix of the rest).
 *
 * The journal runs on real files in the test's scratch directory; a
 * simulated sys table (struct sim) passes calls through to the real one and
 * injects faults deterministically.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "journal.h"
#include "log.h"
#include "t.h"

static struct journal j; /* large: static, as in the product */

/* ---- the simulated file system --------------------------------------------- */

#define SIM_FDS 1024

struct sim {
	int pwrites, fsyncs, ftruncates, unlinks, renames;
	int fail_pwrite_at;   /* the N-th pwrite fails with fail_errno ... */
	int fail_errno;
	int fail_after_bytes; /* ... after writing this many bytes of it */
	int fail_fsync_at;    /* the N-th fsync fails with EIO */
	int fail_unlink;      /* every unlink fails with EIO */
	int fail_ftruncate;   /* every ftruncate fails with EIO */
	int short_writes;     /* each pwrite writes at most 1 + off % 7 bytes */
	int crashed;          /* after a cut write: everything but close fails */
	long disk_left;       /* > 0: bytes the "disk" still takes, then ENOSPC */
	int no_new_space;     /* creating a file or growing one is ENOSPC */
	uint64_t synced[SIM_FDS];
	char path[SIM_FDS][300];
};

static struct sim sim;

static int sim_dead(void)
{
	if (!sim.crashed)
		return 0;
	errno = EIO;
	return 1;
}

static int sim_open(void *ctx, const char *path, int flags, mode_t mode)
{
	int fd;

	if (sim_dead())
		return -1;
	if (sim.no_new_space && (flags & O_CREAT) && access(path, F_OK) != 0) {
		errno = ENOSPC;
		return -1;
	}
	fd = journal_sys_real.open(ctx, path, flags, mode);
	if (fd >= 0 && fd < SIM_FDS) {
		struct stat st;

		snprintf(sim.path[fd], sizeof sim.path[fd], "%s", path);
		sim.synced[fd] = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	return fd;
}

static int sim_close(void *ctx, int fd)
{
	if (fd >= 0 && fd < SIM_FDS)
		sim.path[fd][0] = 0;
	return journal_sys_real.close(ctx, fd);
}

static ssize_t sim_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	if (sim_dead())
		return -1;
	if (sim.short_writes && n > 3 + (size_t)off % 5)
		n = 3 + (size_t)off % 5; /* short reads as well */
	return journal_sys_real.pread(ctx, fd, buf, n, off);
}

static ssize_t sim_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	if (sim_dead())
		return -1;
	sim.pwrites++;
	if (sim.pwrites == sim.fail_pwrite_at) {
		size_t k = (size_t)sim.fail_after_bytes < n ? (size_t)sim.fail_after_bytes : n;

		if (k > 0 && journal_sys_real.pwrite(ctx, fd, buf, k, off) != (ssize_t)k)
			return -1;
		if (sim.fail_errno == 0) { /* a crash in the middle of the write */
			sim.crashed = 1;
			errno = EIO;
			return -1;
		}
		errno = sim.fail_errno;
		return -1;
	}
	if (sim.no_new_space) {
		struct stat st;

		if (fstat(fd, &st) != 0 || (uint64_t)off + n > (uint64_t)st.st_size) {
			errno = ENOSPC;
			return -1;
		}
	}
	if (sim.disk_left > 0) {
		if ((long)n > sim.disk_left) {
			if (sim.disk_left > 1)
				journal_sys_real.pwrite(ctx, fd, buf, (size_t)sim.disk_left - 1, off);
			errno = ENOSPC;
			return -1;
		}
		sim.disk_left -= (long)n;
	}
	if (sim.short_writes && n > 1 + (size_t)off % 7)
		n = 1 + (size_t)off % 7;
	return journal_sys_real.pwrite(ctx, fd, buf, n, off);
}

static int sim_fsync(void *ctx, int fd)
{
	struct stat st;

	if (sim_dead())
		return -1;
	sim.fsyncs++;
	if (sim.fsyncs == sim.fail_fsync_at) {
		errno = EIO;
		return -1;
	}
	if (fd >= 0 && fd < SIM_FDS && fstat(fd, &st) == 0)
		sim.synced[fd] = (uint64_t)st.st_size;
	(void)ctx;
	return 0; /* counted, not done: power loss is simulated (power_loss), and
	           * real fsyncs would only make the tests slow */
}

static int sim_ftruncate(void *ctx, int fd, off_t len)
{
	if (sim_dead())
		return -1;
	sim.ftruncates++;
	if (sim.fail_ftruncate) {
		errno = EIO;
		return -1;
	}
	if (fd >= 0 && fd < SIM_FDS && sim.synced[fd] > (uint64_t)len)
		sim.synced[fd] = (uint64_t)len;
	return journal_sys_real.ftruncate(ctx, fd, len);
}

static int sim_fstat(void *ctx, int fd, struct stat *st)
{
	if (sim_dead())
		return -1;
	return journal_sys_real.fstat(ctx, fd, st);
}

static int sim_rename(void *ctx, const char *a, const char *b)
{
	if (sim_dead())
		return -1;
	sim.renames++;
	return journal_sys_real.rename(ctx, a, b);
}

static int sim_exchange(void *ctx, const char *a, const char *b)
{
	if (sim_dead())
		return -1;
	sim.renames++;
	return journal_sys_real.exchange(ctx, a, b);
}

static int sim_unlink(void *ctx, const char *path)
{
	if (sim_dead())
		return -1;
	sim.unlinks++;
	if (sim.fail_unlink) {
		errno = EIO;
		return -1;
	}
	return journal_sys_real.unlink(ctx, path);
}

static int sim_list(void *ctx, int fd, journal_list_fn fn, void *arg)
{
	if (sim_dead())
		return -1;
	return journal_sys_real.list(ctx, fd, fn, arg);
}

static int sim_lock(void *ctx, int fd)
{
	return journal_sys_real.lock(ctx, fd);
}

static const struct journal_sys sim_sys = {
	sim_open,  sim_close,    sim_pread,  sim_pwrite, sim_fsync, sim_ftruncate, sim_fstat,
	sim_rename, sim_exchange, sim_unlink, sim_list,   sim_lock,  NULL,
};

static void sim_reset(void)
{
	memset(&sim, 0, sizeof sim);
}

/* ---- helpers ------------------------------------------------------------------- */

static char dirbuf[512];

/* A fresh, empty directory under the scratch dir. */
static const char *fresh_dir(const char *name)
{
	char cmd[1100];

	snprintf(dirbuf, sizeof dirbuf, "%s/%s", t_tmpdir(), name);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dirbuf, dirbuf);
	if (system(cmd) != 0)
		printf("    cannot make %s\n", dirbuf);
	return dirbuf;
}

static struct journal_opts opts(const char *dir, enum journal_fsync f)
{
	struct journal_opts o = {0};

	o.dir = dir;
	o.limit_bytes = 64u << 20;
	o.segment_bytes = 0;
	o.fsync = f;
	o.sys = &sim_sys;
	return o;
}

/* Record i's raw JSON: deterministic, of varying length. */
static int raw_of(uint64_t i, char *buf, size_t n)
{
	int len = snprintf(buf, n, "{\"execId\":\"e-%" PRIu64 "\",\"symbol\":\"BTCUSDT\",\"execQty\":"
	                   "\"0.%03" PRIu64 "\",\"pad\":\"", i, i % 1000);

	for (uint64_t k = 0; k < (i * 37) % 200 && (size_t)len + 3 < n; k++)
		buf[len++] = (char)('a' + (i + k) % 26);
	buf[len++] = '"';
	buf[len++] = '}';
	buf[len] = 0;
	return len;
}

static char rawbuf[4096];

static struct journal_rec rec_of(uint64_t i)
{
	struct journal_rec r = {0};

	r.kind = (enum journal_kind)(1 + i % 4);
	r.source = i % 3 ? JOURNAL_SRC_PUSH : JOURNAL_SRC_REST;
	r.received_at_ms = 1700000000000 + (int64_t)i;
	snprintf(r.account, sizeof r.account, "acct_%" PRIu64, i % 3);
	snprintf(r.category, sizeof r.category, "%s", i % 2 ? "linear" : "spot");
	r.raw_len = (uint32_t)raw_of(i, rawbuf, sizeof rawbuf);
	r.raw = rawbuf;
	return r;
}

/* Is r record i (as rec_of made it)? */
static int rec_is(const struct journal_rec *r, uint64_t i)
{
	char want[4096];
	struct journal_rec w = rec_of(i);
	int n = raw_of(i, want, sizeof want);

	return r->seq == i && r->kind == w.kind && r->source == w.source &&
	       r->received_at_ms == w.received_at_ms && strcmp(r->account, w.account) == 0 &&
	       strcmp(r->category, w.category) == 0 && r->raw_len == (uint32_t)n &&
	       memcmp(r->raw, want, (size_t)n) == 0;
}

/* Appends records first..last (their sequences must come out the same). */
static int append_range(uint64_t first, uint64_t last)
{
	for (uint64_t i = first; i <= last; i++) {
		struct journal_rec r = rec_of(i);
		uint64_t seq = 0;
		int rc = journal_append(&j, &r, &seq);

		if (rc != 0) {
			printf("    append %" PRIu64 ": %d %s\n", i, rc, journal_error(&j));
			return rc;
		}
		if (seq != i) {
			printf("    append %" PRIu64 " got seq %" PRIu64 "\n", i, seq);
			return FR_EINVAL;
		}
	}
	return 0;
}

/* Reads from `from` to the end; returns how many records were exactly
 * from, from+1, ...; -1 on an error or a wrong record. */
static long read_all(uint64_t from)
{
	struct journal_iter it;
	struct journal_rec r;
	long n = 0;
	int rc;

	journal_iter_init(&j, &it, from);
	while ((rc = journal_iter_next(&j, &it, &r)) == 1) {
		if (!rec_is(&r, (from ? from : 1) + (uint64_t)n)) {
			printf("    record %ld is not %" PRIu64 " (seq %" PRIu64 ")\n", n,
			       from + (uint64_t)n, r.seq);
			return -1;
		}
		n++;
	}
	if (rc != 0) {
		printf("    read: %d %s\n", rc, journal_error(&j));
		return -1;
	}
	return n;
}

static int open_say(const struct journal_opts *o)
{
	int rc = journal_open(&j, o);

	if (rc != 0)
		printf("    open: %d %s\n", rc, journal_error(&j));
	return rc;
}

static long file_size(const char *dir, uint64_t first)
{
	char p[600];
	struct stat st;

	journal_seg_path(dir, first, p, sizeof p);
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int file_exists(const char *dir, const char *name)
{
	char p[600];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".jnl") == 0;
	closedir(d);
	return n;
}

/* Reads a whole file into buf; returns its length or -1. */
static long slurp(const char *path, unsigned char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	long n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap);
	close(fd);
	return n;
}

static int spit(const char *path, const unsigned char *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, buf, n) == (ssize_t)n;
	close(fd);
	return ok ? 0 : -1;
}

/* Expected warnings (torn tails) stay out of the test output. */
static void quiet(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/dev/null", O_WRONLY);
	log_setup(fd, LOG_ERROR, NULL, NULL);
}

/* ---- the record format ---------------------------------------------------------- */

TEST(journal_record_roundtrip_and_layout)
{
	static unsigned char buf[JOURNAL_RECORD_MAX];
	struct journal_rec r = rec_of(7), back;
	const char *why = NULL;
	int n;

	r.seq = 7;
	n = journal_encode(&r, buf, sizeof buf);
	T_REQUIRE(n > JOURNAL_HDR_BYTES);
	T_EQ_INT(n, JOURNAL_HDR_BYTES + JOURNAL_V1_FIXED + 6 + 6 + r.raw_len); /* acct_1, linear */
	T_EQ_INT(memcmp(buf, "FRJR", 4), 0);
	T_EQ_INT(buf[4] | buf[5] << 8, n - JOURNAL_HDR_BYTES);
	T_EQ_INT(buf[8], 7);
	T_EQ_INT(buf[16], JOURNAL_TYPE_V1);
	T_EQ_INT(journal_decode(buf, (size_t)n, &back, &why), n);
	T_CHECK(rec_is(&back, 7));
	/* The CRC covers header bytes 0..19 and the payload. */
	uint32_t c = crc32c_update(crc32c(buf, 20), buf + 24, (size_t)n - 24);
	T_EQ_INT(buf[20] | buf[21] << 8 | buf[22] << 16 | (uint32_t)buf[23] << 24, c);
	/* Every proper prefix is incomplete, never a record. */
	int bad = 0;
	for (int k = 0; k < n; k++)
		bad += journal_decode(buf, (size_t)k, &back, NULL) != FR_EAGAIN;
	T_EQ_INT(bad, 0);
	/* Every flipped byte is refused (or, in the length, reads as incomplete). */
	bad = 0;
	for (int k = 0; k < n; k++) {
		buf[k] ^= 0x5A;
		bad += journal_decode(buf, (size_t)n, &back, NULL) > 0;
		buf[k] ^= 0x5A;
	}
	T_EQ_INT(bad, 0);
}

TEST(journal_encode_limits)
{
	static unsigned char buf[JOURNAL_RECORD_MAX];
	static char big[JOURNAL_RAW_MAX + 1];
	struct journal_rec r = rec_of(1), back;

	memset(big, 'x', sizeof big);
	r.raw = big;
	r.raw_len = JOURNAL_RAW_MAX;
	snprintf(r.account, sizeof r.account, "%s", "a_32_character_account_name_0123");
	snprintf(r.category, sizeof r.category, "%s", "fifteen_chars_x");
	r.seq = 1;
	int n = journal_encode(&r, buf, sizeof buf);
	const char *why = "";
	T_EQ_INT(n, JOURNAL_RECORD_MAX); /* the largest record fits the window */
	T_EQ_INT(journal_decode(buf, (size_t)n, &back, &why), n);
	T_EQ_STR(why, "");
	T_EQ_INT(back.raw_len, JOURNAL_RAW_MAX);
	r.raw_len = JOURNAL_RAW_MAX + 1;
	T_EQ_INT(journal_encode(&r, buf, sizeof buf), FR_ERANGE);
	r.raw_len = 10;
	T_EQ_INT(journal_encode(&r, buf, 30), FR_ERANGE);
	r.account[0] = 0;
	T_EQ_INT(journal_encode(&r, buf, sizeof buf), FR_EINVAL);
	r = rec_of(1);
	r.kind = (enum journal_kind)9;
	T_EQ_INT(journal_encode(&r, buf, sizeof buf), FR_EINVAL);
	r = rec_of(1);
	r.raw_len = 0;
	T_EQ_INT(journal_encode(&r, buf, sizeof buf), FR_EINVAL);
	r = rec_of(1);
	r.seq = 0; /* sequences start at 1 */
	T_EQ_INT(journal_encode(&r, buf, sizeof buf), FR_EINVAL);
	r.seq = 1;
	T_CHECK(journal_encode(&r, buf, sizeof buf) > 0);
}

/* ---- append, read, reopen ---------------------------------------------------------- */

TEST(journal_append_read_back_reopen)
{
	const char *dir = fresh_dir("basic");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	struct journal_stat st;

	sim_reset();
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(read_all(0), 0);
	T_REQUIRE(append_range(1, 100) == 0);
	T_EQ_INT(read_all(0), 100);
	T_EQ_INT(read_all(50), 51);
	T_EQ_INT(read_all(101), 0);
	journal_stat(&j, &st);
	T_EQ_INT(st.records, 100);
	T_EQ_INT(st.first_seq, 1);
	T_EQ_INT(st.last_seq, 100);
	T_EQ_INT(st.segments, 1);
	T_EQ_INT(st.unsynced_first_seq, 1);
	T_EQ_INT(st.unsynced_records, 100);
	T_EQ_INT(journal_sync(&j), 0);
	journal_stat(&j, &st);
	T_EQ_INT(st.unsynced_first_seq, 0);
	T_EQ_INT((long)st.bytes, file_size(dir, 1));
	journal_close(&j);

	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.report.torn, 0);
	T_EQ_INT(read_all(0), 100);
	T_REQUIRE(append_range(101, 120) == 0); /* sequences continue */
	T_EQ_INT(read_all(1), 120);
	journal_close(&j);
	T_CHECK(file_exists(dir, "checkpoint"));
	T_CHECK(file_exists(dir, "checkpoint.tmp"));
}

/* An iterator sees records appended after it reached the end. */
TEST(journal_iterator_follows_appends)
{
	const char *dir = fresh_dir("follow");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_OS);
	struct journal_iter it;
	struct journal_rec r;

	sim_reset();
	o.segment_bytes = 2000;
	T_REQUIRE(open_say(&o) == 0);
	journal_iter_init(&j, &it, 0);
	T_EQ_INT(journal_iter_next(&j, &it, &r), 0);
	int ok = 1;
	for (uint64_t i = 1; i <= 60; i++) {
		ok &= append_range(i, i) == 0;
		ok &= journal_iter_next(&j, &it, &r) == 1 && rec_is(&r, i);
		ok &= journal_iter_next(&j, &it, &r) == 0;
	}
	T_CHECK(ok);
	T_CHECK(count_segments(dir) > 5);
	journal_close(&j);
}

TEST(journal_segments_roll_and_are_named_by_first_seq)
{
	const char *dir = fresh_dir("roll");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	struct journal_stat st;
	uint64_t firsts[64];
	int n;

	sim_reset();
	o.segment_bytes = 4096;
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 200) == 0);
	journal_stat(&j, &st);
	n = j.segs_n;
	T_CHECK(n > 5 && n < 64);
	T_EQ_INT(st.segments, n);
	T_EQ_INT(count_segments(dir), n);
	uint64_t total = 0;
	for (int i = 0; i < n && i < 64; i++) {
		firsts[i] = j.segs[i].first_seq;
		T_CHECK(file_size(dir, firsts[i]) == (long)j.segs[i].bytes);
		T_CHECK(j.segs[i].bytes <= 4096);
		total += j.segs[i].bytes;
		if (i > 0)
			T_EQ_INT(firsts[i], j.segs[i - 1].last_seq + 1);
	}
	T_EQ_INT(total, st.bytes);
	T_EQ_INT(firsts[0], 1);
	journal_close(&j);
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.segs_n, n);
	T_EQ_INT(read_all(0), 200);
	T_EQ_INT(read_all(77), 124);
	journal_close(&j);
}

TEST(journal_second_writer_is_locked_out)
{
	const char *dir = fresh_dir("lock");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	static struct journal other;

	sim_reset();
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(journal_open(&other, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&other), "locked by another process"));
	o.read_only = 1; /* inspection needs no lock */
	T_EQ_INT(journal_open(&other, &o), 0);
	journal_close(&other);
	journal_close(&j);
}

/* ---- torn tails and damage ------------------------------------------------------ */

/* Writes records 1..n into dir (segment_bytes seg) and closes. */
static int make_journal(const char *dir, uint64_t n, uint64_t seg)
{
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);

	o.segment_bytes = seg;
	if (open_say(&o) != 0 || append_range(1, n) != 0)
		return -1;
	journal_sync(&j);
	journal_close(&j);
	return 0;
}

/* Offsets of the records in one segment, via the decoder. */
static int record_offsets(const unsigned char *buf, long n, long *offs, int max)
{
	struct journal_rec r;
	long off = 0;
	int k = 0;

	while (off < n && k < max) {
		int len = journal_decode(buf + off, (size_t)(n - off), &r, NULL);

		if (len <= 0)
			return -1;
		offs[k++] = off;
		off += len;
	}
	offs[k] = off;
	return k;
}

TEST(journal_torn_tail_at_every_byte_is_cut_to_the_previous_record)
{
	static unsigned char orig[65536];
	const char *src = fresh_dir("torn_src");
	char seg[600], dst[600];
	long offs[16], n;
	int k, failures = 0;

	quiet();
	sim_reset();
	T_REQUIRE(make_journal(src, 3, 0) == 0);
	journal_seg_path(src, 1, seg, sizeof seg);
	n = slurp(seg, orig, sizeof orig);
	k = record_offsets(orig, n, offs, 15);
	T_REQUIRE(k == 3);
	const char *dir = fresh_dir("torn");
	journal_seg_path(dir, 1, dst, sizeof dst);
	/* The file cut inside the last record at every byte, then the last record whole
	 * but with every byte flipped in turn (a bad CRC at the very end). */
	for (long cut = offs[2]; cut < n * 2 - offs[2]; cut++) {
		struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
		long keep = cut < n ? cut : n;
		long flip = cut < n ? -1 : offs[2] + (cut - n);

		unlink(dst);
		if (flip >= 0)
			orig[flip] ^= 0x01;
		spit(dst, orig, (size_t)keep);
		if (flip >= 0)
			orig[flip] ^= 0x01;
		if (open_say(&o) != 0) {
			failures++;
			continue;
		}
		int bytes_dropped = (int)(keep - offs[2]);
		int ok = read_all(0) == 2 && j.next_seq == 3 &&
		         j.report.torn == (bytes_dropped > 0) &&
		         (bytes_dropped == 0 || (j.report.torn_offset == (uint64_t)offs[2] &&
		                                 j.report.torn_bytes == (uint64_t)bytes_dropped)) &&
		         file_size(dir, 1) == offs[2];
		/* Appending goes on from the cut: nothing valid was lost. */
		ok = ok && append_range(3, 4) == 0 && read_all(0) == 4;
		journal_close(&j);
		if (!ok) {
			printf("    cut at %ld (flip %ld) went wrong\n", cut, flip);
			failures++;
		}
	}
	T_EQ_INT(failures, 0);
	log_setup(2, LOG_INFO, NULL, NULL);
}

/* A whole last segment torn away to nothing: the empty file is removed. */
TEST(journal_torn_first_record_of_last_segment)
{
	const char *dir = fresh_dir("torn_seg");
	char p[600];
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	uint64_t last_first;

	quiet();
	sim_reset();
	T_REQUIRE(make_journal(dir, 50, 2048) == 0);
	T_REQUIRE(open_say(&o) == 0);
	last_first = j.segs[j.segs_n - 1].first_seq;
	int segs = j.segs_n;
	journal_close(&j);
	journal_seg_path(dir, last_first, p, sizeof p);
	T_REQUIRE(truncate(p, 10) == 0);
	/* The repair is logged once, as a warning naming file, offset and bytes. */
	char logpath[600], want[800];
	snprintf(logpath, sizeof logpath, "%s/torn_seg.log", t_tmpdir());
	int lfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	log_setup(lfd, LOG_INFO, NULL, NULL);
	T_REQUIRE(open_say(&o) == 0);
	quiet();
	close(lfd);
	char *logged = t_read_file(logpath, NULL);
	snprintf(want, sizeof want, "level=warn msg=\"journal: torn tail truncated\" file=%s "
	         "offset=0 bytes_dropped=10\n", p);
	T_CHECK(logged && strstr(logged, want));
	if (logged && !strstr(logged, want))
		printf("    logged: %s", logged);
	free(logged);
	T_EQ_INT(j.report.torn, 1);
	T_EQ_INT(j.report.empty_removed, 1);
	T_EQ_INT(j.segs_n, segs - 1);
	T_EQ_INT(file_size(dir, last_first), -1);
	T_EQ_INT(read_all(0), (long)last_first - 1);
	T_REQUIRE(append_range(last_first, 60) == 0);
	T_EQ_INT(read_all(0), 60);
	journal_close(&j);
	log_setup(2, LOG_INFO, NULL, NULL);
}

TEST(journal_flipped_byte_in_a_middle_record_is_refused_with_its_offset)
{
	static unsigned char orig[65536];
	const char *src = fresh_dir("flip_src");
	char seg[600], dst[600], want[700];
	long offs[16], n;
	int failures = 0;

	sim_reset();
	T_REQUIRE(make_journal(src, 3, 0) == 0);
	journal_seg_path(src, 1, seg, sizeof seg);
	n = slurp(seg, orig, sizeof orig);
	T_REQUIRE(record_offsets(orig, n, offs, 15) == 3);
	const char *dir = fresh_dir("flip");
	journal_seg_path(dir, 1, dst, sizeof dst);
	snprintf(want, sizeof want, "%s: offset %ld: ", dst, offs[1]);
	for (long b = offs[1]; b < offs[2]; b++) {
		struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);

		orig[b] ^= 0x80;
		spit(dst, orig, (size_t)n);
		orig[b] ^= 0x80;
		for (int ro = 0; ro <= 1; ro++) {
			o.read_only = ro;
			int rc = journal_open(&j, &o);
			if (rc != FR_EINVAL || !strstr(journal_error(&j), want) ||
			    !strstr(journal_error(&j), "damage in the middle")) {
				printf("    byte %ld (ro %d): rc %d: %s\n", b, ro, rc, journal_error(&j));
				failures++;
				if (rc == 0)
					journal_close(&j);
			}
		}
		/* Refusing changed nothing on disk. */
		if (file_size(dir, 1) != n)
			failures++;
	}
	T_EQ_INT(failures, 0);
}

TEST(journal_damaged_segment_that_is_not_the_last_is_refused)
{
	const char *dir = fresh_dir("midseg");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	char p[600];
	uint64_t second;
	long size;

	sim_reset();
	T_REQUIRE(make_journal(dir, 60, 2048) == 0);
	T_REQUIRE(open_say(&o) == 0);
	second = j.segs[1].first_seq;
	journal_close(&j);
	/* A torn tail in the FIRST segment is damage: later segments exist. */
	journal_seg_path(dir, 1, p, sizeof p);
	size = file_size(dir, 1);
	T_REQUIRE(truncate(p, size - 5) == 0);
	T_EQ_INT(journal_open(&j, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&j), p));
	T_CHECK(strstr(journal_error(&j), "in a segment that is not the last"));
	T_CHECK(file_size(dir, 1) == size - 5); /* nothing repaired */
	/* A missing segment is a gap between its neighbours. */
	fresh_dir("midseg");
	T_REQUIRE(make_journal(dir, 60, 2048) == 0);
	journal_seg_path(dir, second, p, sizeof p);
	T_REQUIRE(unlink(p) == 0);
	T_EQ_INT(journal_open(&j, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&j), "a gap in the journal"));
	/* A segment renamed: records before its name are missing. */
	fresh_dir("midseg");
	T_REQUIRE(make_journal(dir, 10, 0) == 0);
	char q[600];
	journal_seg_path(dir, 1, p, sizeof p);
	journal_seg_path(dir, 2, q, sizeof q);
	T_REQUIRE(rename(p, q) == 0);
	T_EQ_INT(journal_open(&j, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&j), "offset 0: records 1..1 after the checkpoint are missing"));
	/* A segment whose name is not its first record's sequence. */
	static unsigned char b[65536];
	long offs[16];
	long n = slurp(q, b, sizeof b);
	T_REQUIRE(record_offsets(b, n, offs, 15) == 10);
	unlink(q);
	spit(p, b + offs[1], (size_t)(n - offs[1])); /* named 1, starts with record 2 */
	T_EQ_INT(journal_open(&j, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&j), "00000000000000000001.jnl: offset 0: sequence 2 where 1 "
	                                  "belongs"));
}

/* ---- limit, ENOSPC, I/O errors ------------------------------------------------------ */

TEST(journal_full_then_checkpoint_frees_and_appends_resume)
{
	const char *dir = fresh_dir("full");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	struct journal_rec r;
	uint64_t seq = 0, last = 0;
	int rc = 0;

	sim_reset();
	o.limit_bytes = JOURNAL_RECORD_MAX + 10000;
	o.segment_bytes = 8192;
	T_REQUIRE(open_say(&o) == 0);
	for (uint64_t i = 1; i < 10000; i++) {
		r = rec_of(i);
		rc = journal_append(&j, &r, &seq);
		if (rc != 0)
			break;
		last = seq;
	}
	T_EQ_INT(rc, FR_EFULL);
	T_CHECK(strstr(journal_error(&j), "journal full"));
	T_CHECK(j.bytes <= o.limit_bytes);
	T_CHECK(last > 50);
	/* Full is not sticky, and nothing was half-written. */
	r = rec_of(last + 1);
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EFULL);
	T_EQ_INT(read_all(0), (long)last);
	/* PostgreSQL committed the first half: the segments it covers go. */
	int segs = j.segs_n;
	T_EQ_INT(journal_checkpoint(&j, last / 2), 0);
	T_CHECK(j.segs_n < segs);
	T_EQ_INT(count_segments(dir), j.segs_n);
	T_CHECK(j.segs[0].first_seq <= last / 2 + 1);
	T_REQUIRE(append_range(last + 1, last + 10) == 0);
	/* Everything committed: every segment goes, the next append starts a new one. */
	T_EQ_INT(journal_checkpoint(&j, last + 10), 0);
	T_EQ_INT(j.segs_n, 0);
	T_EQ_INT(j.bytes, 0);
	T_EQ_INT(count_segments(dir), 0);
	T_REQUIRE(append_range(last + 11, last + 12) == 0);
	T_EQ_INT(file_size(dir, last + 11) > 0, 1);
	T_EQ_INT(read_all(last + 11), 2);
	journal_close(&j);
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.checkpoint, last + 10);
	T_EQ_INT(read_all(last + 11), 2);
	T_EQ_INT(j.next_seq, last + 13);
	journal_close(&j);
}

TEST(journal_enospc_leaves_nothing_half_written)
{
	const char *dir = fresh_dir("enospc");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_ALWAYS);
	struct journal_rec r;
	uint64_t seq;

	sim_reset();
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 10) == 0);
	long before = file_size(dir, 1);
	sim.fail_pwrite_at = sim.pwrites + 1;
	sim.fail_errno = ENOSPC;
	sim.fail_after_bytes = 30; /* part of the record reached the file */
	r = rec_of(11);
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EFULL);
	T_CHECK(strstr(journal_error(&j), "disk full"));
	T_CHECK(strstr(journal_error(&j), "No space left on device"));
	T_EQ_INT(file_size(dir, 1), before);
	/* EIO likewise, and neither is sticky. */
	sim.fail_pwrite_at = sim.pwrites + 1;
	sim.fail_errno = EIO;
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EIO);
	T_EQ_INT(file_size(dir, 1), before);
	T_REQUIRE(append_range(11, 12) == 0);
	journal_close(&j);
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.report.torn, 0);
	T_EQ_INT(read_all(0), 12);
	/* ENOSPC on the first write of a new segment removes the new file again. */
	journal_close(&j);
	fresh_dir("enospc");
	o.segment_bytes = 1024;
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 3) == 0);
	int segs = count_segments(dir);
	for (uint64_t i = 4; j.segs[j.segs_n - 1].bytes + 700 < 1024; i++)
		T_REQUIRE(append_range(i, i) == 0);
	segs = count_segments(dir);
	uint64_t next = j.next_seq;
	sim.fail_pwrite_at = sim.pwrites + 1;
	sim.fail_errno = ENOSPC;
	sim.fail_after_bytes = 0;
	r = rec_of(next);
	r.raw_len = 900; /* does not fit the active segment: a new one is made */
	memset(rawbuf + 100, 'z', 900);
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EFULL);
	T_EQ_INT(count_segments(dir), segs);
	T_EQ_INT(file_size(dir, next), -1);
	T_REQUIRE(append_range(next, next + 5) == 0);
	T_EQ_INT(read_all(0), (long)next + 5);
	journal_close(&j);
}

TEST(journal_short_writes_and_reads)
{
	const char *dir = fresh_dir("short");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);

	sim_reset();
	sim.short_writes = 1;
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 40) == 0);
	T_CHECK(sim.pwrites > 40 * 10);
	T_EQ_INT(read_all(0), 40);
	journal_close(&j);
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(read_all(0), 40);
	journal_close(&j);
}

TEST(journal_failed_undo_or_fsync_is_sticky)
{
	const char *dir = fresh_dir("sticky");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	struct journal_rec r = rec_of(3);
	uint64_t seq;

	sim_reset();
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 2) == 0);
	sim.fail_fsync_at = sim.fsyncs + 1;
	T_EQ_INT(journal_sync(&j), FR_EIO);
	T_CHECK(strstr(journal_error(&j), "fsync failed"));
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EIO);
	T_EQ_INT(journal_sync(&j), FR_EIO);
	journal_close(&j);
	/* A write that fails and cannot be undone. */
	T_REQUIRE(open_say(&o) == 0);
	sim.fail_pwrite_at = sim.pwrites + 1;
	sim.fail_errno = EIO;
	sim.fail_after_bytes = 10;
	sim.fail_ftruncate = 1;
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EIO);
	T_CHECK(strstr(journal_error(&j), "cannot be removed"));
	sim.fail_ftruncate = 0;
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EIO);
	journal_close(&j);
	/* What it left is a torn tail to the next open. */
	quiet();
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.report.torn, 1);
	T_EQ_INT(j.report.torn_bytes, 10);
	T_EQ_INT(read_all(0), 2);
	journal_close(&j);
	log_setup(2, LOG_INFO, NULL, NULL);
}

/* ---- fsync policies ------------------------------------------------------------------ */

TEST(journal_fsync_policies_count_fsyncs)
{
	struct journal_opts o;
	int base;

	/* always: one fsync per record, plus the directory after a new segment. */
	sim_reset();
	o = opts(fresh_dir("fs_always"), JOURNAL_FSYNC_ALWAYS);
	T_REQUIRE(open_say(&o) == 0);
	base = sim.fsyncs;
	T_REQUIRE(append_range(1, 1) == 0);
	T_EQ_INT(sim.fsyncs - base, 2); /* segment + directory */
	T_REQUIRE(append_range(2, 11) == 0);
	T_EQ_INT(sim.fsyncs - base, 12);
	T_EQ_INT(journal_sync(&j), 0);
	T_EQ_INT(sim.fsyncs - base, 12);
	T_EQ_INT(j.fsyncs >= 12, 1);
	journal_close(&j);

	/* batch: none per append, one per journal_sync with something to sync. */
	sim_reset();
	o = opts(fresh_dir("fs_batch"), JOURNAL_FSYNC_BATCH);
	T_REQUIRE(open_say(&o) == 0);
	base = sim.fsyncs;
	T_REQUIRE(append_range(1, 10) == 0);
	T_EQ_INT(sim.fsyncs - base, 0);
	T_EQ_INT(journal_sync(&j), 0);
	T_EQ_INT(sim.fsyncs - base, 2); /* segment + directory (new segment) */
	T_EQ_INT(journal_sync(&j), 0);
	T_EQ_INT(sim.fsyncs - base, 2); /* nothing new: no fsync */
	T_REQUIRE(append_range(11, 20) == 0);
	T_EQ_INT(journal_sync(&j), 0);
	T_EQ_INT(sim.fsyncs - base, 3);
	journal_close(&j);
	/* batch with rolls: the segment left behind is fsynced when it is closed. */
	sim_reset();
	o = opts(fresh_dir("fs_batch_roll"), JOURNAL_FSYNC_BATCH);
	o.segment_bytes = 1024;
	T_REQUIRE(open_say(&o) == 0);
	base = sim.fsyncs;
	T_REQUIRE(append_range(1, 30) == 0);
	int rolls = j.segs_n - 1;
	T_CHECK(rolls > 3);
	T_EQ_INT(sim.fsyncs - base, rolls);
	T_EQ_INT(journal_sync(&j), 0);
	T_EQ_INT(sim.fsyncs - base, rolls + 2);
	journal_close(&j);

	/* os: never, not even in journal_sync. */
	sim_reset();
	o = opts(fresh_dir("fs_os"), JOURNAL_FSYNC_OS);
	o.segment_bytes = 1024;
	T_REQUIRE(open_say(&o) == 0);
	base = sim.fsyncs;
	T_REQUIRE(append_range(1, 30) == 0);
	T_EQ_INT(journal_sync(&j), 0);
	T_EQ_INT(sim.fsyncs - base, 0);
	/* A checkpoint is fsynced under every policy: the file and the directory. */
	T_EQ_INT(journal_checkpoint(&j, 5), 0);
	T_EQ_INT(sim.fsyncs - base, 2);
	journal_close(&j);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

TEST(journal_checkpoint_survives_reopen_and_deletes_segments)
{
	const char *dir = fresh_dir("ckpt");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	uint64_t mid;

	sim_reset();
	o.segment_bytes = 2048;
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 100) == 0);
	int segs = j.segs_n;
	mid = j.segs[3].last_seq; /* segments 0..3 wholly covered */
	T_EQ_INT(journal_checkpoint(&j, mid + 1), 0);
	T_EQ_INT(j.segs_n, segs - 4);
	T_EQ_INT(count_segments(dir), segs - 4);
	T_EQ_INT(file_size(dir, 1), -1);
	/* Not past the end; backwards is a no-op. */
	T_EQ_INT(journal_checkpoint(&j, 101), FR_EINVAL);
	T_EQ_INT(journal_checkpoint(&j, 3), 0);
	T_EQ_INT(j.checkpoint, mid + 1);
	T_EQ_INT(read_all(mid + 2), 100 - (long)mid - 1);
	journal_close(&j);
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.checkpoint, mid + 1);
	T_EQ_INT(j.segs_n, segs - 4);
	T_EQ_INT(read_all(mid + 2), 100 - (long)mid - 1);
	journal_close(&j);
	/* A crash between the checkpoint and the deletes: the next open deletes. */
	T_REQUIRE(open_say(&o) == 0);
	sim.fail_unlink = 1;
	quiet();
	uint64_t mid2 = j.segs[2].last_seq;
	T_EQ_INT(journal_checkpoint(&j, mid2), 0);
	T_EQ_INT(count_segments(dir), segs - 4);
	journal_close(&j);
	sim.fail_unlink = 0;
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.report.segments_deleted, 3);
	T_EQ_INT(count_segments(dir), segs - 7);
	T_EQ_INT(read_all(mid2 + 1), 100 - (long)mid2);
	journal_close(&j);
	log_setup(2, LOG_INFO, NULL, NULL);
}

TEST(journal_checkpoint_needs_no_new_space)
{
	const char *dir = fresh_dir("ckpt_full");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	int renames;

	sim_reset();
	T_REQUIRE(open_say(&o) == 0);
	T_REQUIRE(append_range(1, 20) == 0);
	/* The spare exists: the checkpoint overwrites it and swaps it in. */
	T_CHECK(file_exists(dir, "checkpoint.tmp"));
	sim.no_new_space = 1;
	struct journal_rec r = rec_of(21);
	uint64_t seq;
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EFULL);
	renames = sim.renames;
	T_EQ_INT(journal_checkpoint(&j, 10), 0);
	T_EQ_INT(journal_checkpoint(&j, 15), 0);
	T_EQ_INT(sim.renames - renames, 2);
	sim.no_new_space = 0;
	T_CHECK(file_exists(dir, "checkpoint.tmp")); /* the old one, now the spare */
	journal_close(&j);
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT(j.checkpoint, 15);
	T_EQ_INT(read_all(16), 5);
	journal_close(&j);
}

TEST(journal_bad_checkpoint_file_or_missing_records_refused)
{
	const char *dir = fresh_dir("ckpt_bad");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	unsigned char b[64];
	char p[600];

	sim_reset();
	o.segment_bytes = 2048;
	T_REQUIRE(make_journal(dir, 60, 2048) == 0);
	T_REQUIRE(open_say(&o) == 0);
	uint64_t covered = j.segs[1].last_seq;
	T_EQ_INT(journal_checkpoint(&j, covered), 0);
	journal_close(&j);
	snprintf(p, sizeof p, "%s/checkpoint", dir);
	long n = slurp(p, b, sizeof b);
	T_EQ_INT(n, JOURNAL_CKPT_BYTES);
	b[9] ^= 1;
	spit(p, b, (size_t)n);
	T_EQ_INT(journal_open(&j, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&j), "damaged checkpoint file"));
	/* Without the checkpoint, the deleted records are a hole at the start. */
	unlink(p);
	T_EQ_INT(journal_open(&j, &o), FR_EINVAL);
	T_CHECK(strstr(journal_error(&j), "after the checkpoint are missing"));
}

/* ---- seeded crashes ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * "Power loss" after a crash: every file the journal had open keeps what was
 * fsynced plus a random prefix of the rest (writeback in file order).
 */
static void power_loss(void)
{
	for (int fd = 0; fd < SIM_FDS; fd++) {
		struct stat st;

		if (!sim.path[fd][0] || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		uint64_t size = (uint64_t)st.st_size, keep = sim.synced[fd];
		if (size > keep)
			keep += rng() % (size - keep + 1);
		if (ftruncate(fd, (off_t)keep) != 0)
			printf("    cannot truncate %s\n", sim.path[fd]);
	}
}

/*
 * For each seed: a policy, a segment size, records appended (with syncs and
 * checkpoints in between), a crash cutting one write at a random byte, maybe
 * a power loss; then the journal must open, hold exactly the records 1..m in
 * order (nothing invented), and keep every record the policy made durable.
 */
TEST(journal_seeded_crashes_lose_nothing_durable)
{
	int failures = 0;

	quiet();
	for (uint64_t seed = 1; seed <= 150; seed++) {
		const char *dir = fresh_dir("crash");
		struct journal_opts o;
		uint64_t acked = 0, durable = 0, ckpt = 0;
		int power, rc = 0;

		rng_state = seed * 0x9E3779B97F4A7C15ull;
		sim_reset();
		o = opts(dir, (enum journal_fsync)(seed % 3));
		o.segment_bytes = 1024 + rng() % 4096;
		power = o.fsync != JOURNAL_FSYNC_OS && rng() % 2;
		if (open_say(&o) != 0) {
			failures++;
			continue;
		}
		sim.fail_pwrite_at = 1 + (int)(rng() % 120);
		sim.fail_errno = 0;
		sim.fail_after_bytes = (int)(rng() % 300);
		for (uint64_t i = 1; rc == 0 && i < 200; i++) {
			struct journal_rec r = rec_of(i);
			uint64_t seq;

			rc = journal_append(&j, &r, &seq);
			if (rc != 0)
				break;
			acked = seq;
			if (o.fsync == JOURNAL_FSYNC_ALWAYS)
				durable = seq;
			if (rng() % 4 == 0 && journal_sync(&j) == 0 && o.fsync == JOURNAL_FSYNC_BATCH)
				durable = seq;
			if (rng() % 16 == 0 && journal_checkpoint(&j, seq / 2) == 0)
				ckpt = seq / 2;
		}
		if (power)
			power_loss();
		journal_close(&j);
		sim_reset();
		if (open_say(&o) != 0) {
			printf("    seed %" PRIu64 ": refused after a crash\n", seed);
			failures++;
			continue;
		}
		uint64_t from = j.segs_n > 0 ? j.segs[0].first_seq : 0;
		long n = from ? read_all(from) : 0;
		/* The newest record kept, or the checkpoint when every segment went. */
		uint64_t top = n > 0 ? from + (uint64_t)n - 1 : j.checkpoint;
		/* The write that crashed may have landed whole before the error: one more. */
		int ok = n >= 0 && j.checkpoint >= ckpt && top <= acked + 1 &&
		         (power ? top >= durable : top >= acked) &&
		         (from == 0 || from <= j.checkpoint + 1) && j.next_seq == top + 1;
		if (!ok) {
			printf("    seed %" PRIu64 " (%s, power %d): acked %" PRIu64 " durable %" PRIu64
			       " ckpt %" PRIu64 ", read %" PRIu64 "..%" PRIu64 " (n %ld)\n",
			       seed, journal_fsync_name(o.fsync), power, acked, durable, ckpt, from,
			       top, n);
			failures++;
		}
		/* And it goes on from there. */
		if (ok && append_range(top + 1, top + 3) != 0) {
			printf("    seed %" PRIu64 ": cannot append after recovery\n", seed);
			failures++;
		}
		journal_close(&j);
	}
	T_EQ_INT(failures, 0);
	log_setup(2, LOG_INFO, NULL, NULL);
}

/* ---- a real small filesystem ---------------------------------------------------------------- */

/*
 * tmpfs of 256 KiB: appends until the filesystem itself says ENOSPC (the limit
 * is far above), then a checkpoint frees space and appends go on. Needs root
 * (mount); skipped with the reason otherwise. The body never stops the test
 * early, so the tmpfs is always unmounted.
 */
static void full_filesystem_body(const char *dir)
{
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_ALWAYS);
	struct journal_rec r;
	uint64_t seq = 0, last = 0;
	int rc = 0;

	o.sys = NULL; /* the real system calls */
	o.limit_bytes = 1u << 30;
	o.segment_bytes = 16384;
	if (!T_CHECK(open_say(&o) == 0))
		return;
	for (uint64_t i = 1; i < 100000; i++) {
		r = rec_of(i);
		rc = journal_append(&j, &r, &seq);
		if (rc != 0)
			break;
		last = seq;
	}
	T_EQ_INT(rc, FR_EFULL);
	T_CHECK(strstr(journal_error(&j), "disk full"));
	T_CHECK(strstr(journal_error(&j), "No space left on device"));
	T_CHECK(last > 100);
	T_EQ_INT(read_all(0), (long)last);
	/* Still full: nothing half-written, nothing lost. */
	T_EQ_INT(journal_append(&j, &r, &seq), FR_EFULL);
	T_EQ_INT(read_all(0), (long)last);
	/* PostgreSQL committed all but the last 5: the checkpoint needs no new
	 * block (its spare is overwritten), and deleting segments makes room. */
	T_EQ_INT(journal_checkpoint(&j, last - 5), 0);
	T_EQ_INT(append_range(last + 1, last + 50), 0);
	T_EQ_INT(read_all(last - 4), 55);
	journal_close(&j);
	if (!T_CHECK(open_say(&o) == 0))
		return;
	T_EQ_INT(j.report.torn, 0);
	T_EQ_INT(j.checkpoint, last - 5);
	T_EQ_INT(read_all(last - 4), 55);
	journal_close(&j);
}

TEST(journal_real_full_filesystem)
{
	const char *dir = fresh_dir("tmpfs");

	if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=256k") != 0) {
		printf("    skipped: cannot mount a tmpfs here (%s)\n",
		       geteuid() != 0 ? "not root" : strerror(errno));
		T_CHECK(1);
		return;
	}
	full_filesystem_body(dir);
	T_EQ_INT(umount(dir), 0);
}

/* The background fsync: journal_sync hands the fsync to the journal's thread
 * and returns; the result is collected by a later call; a close syncs what is
 * left; everything reads back after reopening. */
TEST(journal_background_fsync)
{
	const char *dir = fresh_dir("bgsync");
	struct journal_opts o = opts(dir, JOURNAL_FSYNC_BATCH);
	struct journal_stat st;
	struct journal_rec r;
	uint64_t seq = 0, fsyncs0;
	int spins = 0;

	o.sys = NULL;
	o.segment_bytes = 8192; /* several segments: requests span rolls */
	o.background_fsync = 1;
	if (!T_CHECK(open_say(&o) == 0))
		return;
	T_EQ_INT(j.bg_on, 1);
	fsyncs0 = j.fsyncs;
	for (uint64_t i = 1; i <= 300; i++) {
		r = rec_of(i);
		T_REQUIRE(journal_append(&j, &r, &seq) == 0);
		if (i % 10 == 0)
			T_REQUIRE(journal_sync(&j) == 0);
	}
	/* collect until the thread has caught up with everything */
	do {
		T_REQUIRE(journal_sync(&j) == 0);
		journal_stat(&j, &st);
		usleep(1000);
	} while (st.unsynced_records > 0 && ++spins < 5000);
	T_EQ_INT((long)st.unsynced_records, 0);
	T_CHECK(j.fsyncs > fsyncs0);
	T_CHECK(j.fsync_lat.le[LOOP_LAT_BUCKETS - 1] > 0);
	/* the checkpoint is written by the thread too: asked, then collected */
	T_EQ_INT(journal_checkpoint(&j, 200), 0);
	spins = 0;
	while (journal_poll(&j) > 0 && ++spins < 5000)
		usleep(1000);
	T_EQ_INT(journal_poll(&j), 0);
	T_EQ_INT((long)j.checkpoint, 200);
	journal_stat(&j, &st);
	T_CHECK(st.first_seq > 1); /* segments wholly <= 200 are gone */
	T_EQ_INT(journal_checkpoint(&j, 250), 0); /* asked, closed before collected */
	r = rec_of(301);
	T_REQUIRE(journal_append(&j, &r, &seq) == 0);
	journal_close(&j); /* syncs record 301 itself */
	T_EQ_INT(j.bg_on, 0);
	T_EQ_INT((long)j.synced_seq, 301);
	o.background_fsync = 0;
	T_REQUIRE(open_say(&o) == 0);
	T_EQ_INT((long)j.checkpoint, 250); /* the close finished what was asked */
	T_EQ_INT(read_all(251), 301 - 250);
	journal_close(&j);
}
