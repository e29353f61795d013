/*
 * journal.c -- see journal.h for the format, the policies and the promises.
 *
 * How: the segment table (j->segs) mirrors the directory; the last entry is
 * the active segment, written with pwrite at its known size through j->wfd.
 * Reads go through one window buffer (j->win) filled by pread, so a record is
 * always checked from one contiguous copy. Recovery and `spill verify` share
 * scan_seg; a bad record is classified by searching the rest of the file for
 * any valid record (find_valid_after): none means a torn tail, one means
 * damage in the middle.
 */
#define _GNU_SOURCE

#include "journal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "loop.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define CKPT_MAGIC "FRJCKPT1"
#define TMP_NAME JOURNAL_CKPT_NAME ".tmp"
#define FILE_MAX (JOURNAL_PATH_MAX + JOURNAL_NAME_BYTES + 2)

/* ---- little-endian fields -------------------------------------------------- */

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- records ------------------------------------------------------------------ */

static uint32_t rec_crc(const unsigned char *hdr, const unsigned char *payload, uint32_t len)
{
	return crc32c_update(crc32c(hdr, JOURNAL_HDR_BYTES - 4), payload, len);
}

/* see journal.h */
int journal_encode(const struct journal_rec *r, unsigned char *buf, size_t cap)
{
	size_t a = strnlen(r->account, JOURNAL_ACCOUNT_MAX);
	size_t c = strnlen(r->category, JOURNAL_CATEGORY_MAX);
	size_t len = JOURNAL_V1_FIXED + a + c + r->raw_len;
	unsigned char *p = buf + JOURNAL_HDR_BYTES;

	if (r->kind < JOURNAL_KIND_EXECUTION || r->kind > JOURNAL_KIND_REJECT ||
	    (r->source != JOURNAL_SRC_PUSH && r->source != JOURNAL_SRC_REST) || a == 0 || r->seq == 0 ||
	    r->raw_len == 0 || !r->raw)
		return FR_EINVAL;
	if (a >= JOURNAL_ACCOUNT_MAX || c >= JOURNAL_CATEGORY_MAX || r->raw_len > JOURNAL_RAW_MAX ||
	    JOURNAL_HDR_BYTES + len > cap)
		return FR_ERANGE;
	p[0] = (unsigned char)r->kind;
	p[1] = (unsigned char)r->source;
	p[2] = (unsigned char)a;
	p[3] = (unsigned char)c;
	put64(p + 4, (uint64_t)r->received_at_ms);
	put32(p + 12, r->raw_len);
	memcpy(p + 16, r->account, a);
	memcpy(p + 16 + a, r->category, c);
	memcpy(p + 16 + a + c, r->raw, r->raw_len);
	put32(buf, JOURNAL_MAGIC);
	put32(buf + 4, (uint32_t)len);
	put64(buf + 8, r->seq);
	put16(buf + 16, JOURNAL_TYPE_V1);
	put16(buf + 18, 0);
	put32(buf + 20, rec_crc(buf, p, (uint32_t)len));
	return (int)(JOURNAL_HDR_BYTES + len);
}

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return FR_EINVAL;
}

/* The V1 payload's layout, once its CRC has held. */
static int decode_v1(const unsigned char *p, uint32_t len, struct journal_rec *r, const char **why)
{
	uint32_t a, c, raw;

	if (len < JOURNAL_V1_FIXED)
		return bad(why, "payload shorter than its fixed part");
	a = p[2];
	c = p[3];
	raw = get32(p + 12);
	if (p[0] < JOURNAL_KIND_EXECUTION || p[0] > JOURNAL_KIND_REJECT)
		return bad(why, "unknown kind");
	if (p[1] != JOURNAL_SRC_PUSH && p[1] != JOURNAL_SRC_REST)
		return bad(why, "unknown source");
	if (a == 0 || a >= JOURNAL_ACCOUNT_MAX || c >= JOURNAL_CATEGORY_MAX || raw == 0 ||
	    raw > JOURNAL_RAW_MAX || (uint64_t)JOURNAL_V1_FIXED + a + c + raw != len)
		return bad(why, "payload lengths disagree");
	r->kind = (enum journal_kind)p[0];
	r->source = (enum journal_source)p[1];
	r->received_at_ms = (int64_t)get64(p + 4);
	memcpy(r->account, p + 16, a);
	r->account[a] = 0;
	memcpy(r->category, p + 16 + a, c);
	r->category[c] = 0;
	r->raw = (const char *)p + 16 + a + c;
	r->raw_len = raw;
	return 0;
}

/* see journal.h */
int journal_decode(const unsigned char *buf, size_t n, struct journal_rec *r, const char **why)
{
	uint32_t len;

	if (n < JOURNAL_HDR_BYTES) {
		if (why)
			*why = "incomplete header";
		return FR_EAGAIN;
	}
	len = get32(buf + 4);
	if (get32(buf) != JOURNAL_MAGIC)
		return bad(why, "bad magic");
	if (len > JOURNAL_PAYLOAD_MAX)
		return bad(why, "length over the maximum");
	if (get16(buf + 16) != JOURNAL_TYPE_V1 || get16(buf + 18) != 0)
		return bad(why, "unknown record type");
	if (n - JOURNAL_HDR_BYTES < len) {
		if (why)
			*why = "incomplete record";
		return FR_EAGAIN;
	}
	if (rec_crc(buf, buf + JOURNAL_HDR_BYTES, len) != get32(buf + 20))
		return bad(why, "bad CRC");
	r->seq = get64(buf + 8);
	if (r->seq == 0)
		return bad(why, "sequence 0");
	if (decode_v1(buf + JOURNAL_HDR_BYTES, len, r, why) != 0)
		return FR_EINVAL;
	return (int)(JOURNAL_HDR_BYTES + len);
}

/* ---- the real file system ------------------------------------------------------ */

static int real_open(void *ctx, const char *path, int flags, mode_t mode)
{
	(void)ctx;
	return open(path, flags | O_CLOEXEC, mode);
}

static int real_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

static ssize_t real_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	(void)ctx;
	return pread(fd, buf, n, off);
}

static ssize_t real_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	(void)ctx;
	return pwrite(fd, buf, n, off);
}

static int real_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd);
}

static int real_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ftruncate(fd, len);
}

static int real_fstat(void *ctx, int fd, struct stat *st)
{
	(void)ctx;
	return fstat(fd, st);
}

static int real_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to);
}

static int real_exchange(void *ctx, const char *a, const char *b)
{
	(void)ctx;
#ifdef SYS_renameat2
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static int real_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path);
}

/* getdents64 directly: opendir would allocate (tests/test_arena.c). */
static int real_list(void *ctx, int dir_fd, journal_list_fn fn, void *arg)
{
	_Alignas(8) char buf[4096];

	(void)ctx;
	if (lseek(dir_fd, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		long n = syscall(SYS_getdents64, dir_fd, buf, sizeof buf);

		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name */
			unsigned short reclen;
			int rc;

			memcpy(&reclen, buf + off + 16, sizeof reclen);
			rc = fn(arg, buf + off + 19);
			if (rc != 0)
				return rc;
			off += reclen;
		}
	}
}

static int real_lock(void *ctx, int fd)
{
	(void)ctx;
	return flock(fd, LOCK_EX | LOCK_NB);
}

const struct journal_sys journal_sys_real = {
	real_open, real_close, real_pread, real_pwrite, real_fsync, real_ftruncate, real_fstat,
	real_rename, real_exchange, real_unlink, real_list, real_lock, NULL,
};

/* ---- helpers ------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int fail(struct journal *j, int code,
                                                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->err, sizeof j->err, fmt, ap);
	va_end(ap);
	return code;
}

/* see journal.h */
int journal_seg_path(const char *dir, uint64_t first, char *buf, size_t n)
{
	int len = snprintf(buf, n, "%s/%020" PRIu64 ".jnl", dir, first);

	return len < 0 || (size_t)len >= n ? FR_ERANGE : len;
}

static const char *seg_path(const struct journal *j, uint64_t first, char *buf)
{
	journal_seg_path(j->dir, first, buf, FILE_MAX);
	return buf;
}

static const char *dir_file(const struct journal *j, const char *name, char *buf)
{
	snprintf(buf, FILE_MAX, "%s/%s", j->dir, name);
	return buf;
}

static void close_fd(struct journal *j, int *fd)
{
	if (*fd >= 0)
		j->sys->close(j->sys->ctx, *fd);
	*fd = -1;
}

/* Counts one fsync of us microseconds (under bg_mu when the thread runs). */
static void fsync_note(struct journal *j, uint64_t us)
{
	j->fsyncs++;
	loop_lat_note(&j->fsync_lat, us);
}

static int do_fsync(struct journal *j, int fd)
{
	uint64_t t0 = loop_mono_us();
	int rc = j->sys->fsync(j->sys->ctx, fd), e = errno;

	if (j->bg_on)
		pthread_mutex_lock(&j->bg_mu);
	fsync_note(j, loop_mono_us() - t0);
	if (j->bg_on)
		pthread_mutex_unlock(&j->bg_mu);
	errno = e;
	return rc;
}

/* ---- the background fsync --------------------------------------------------------- */

static void ckpt_encode(uint64_t seq, unsigned char *b);
static int ckpt_store(struct journal *j, uint64_t seq, int exists);
static int write_all(struct journal *j, int fd, const unsigned char *p, size_t n, uint64_t off);

/* The checkpoint file for seq, on the thread: what ckpt_store does, without
 * touching the journal's state (no fail()); 0 or an errno. */
static int bg_ckpt(struct journal *j, uint64_t seq)
{
	unsigned char b[JOURNAL_CKPT_BYTES];
	char tmp[FILE_MAX], path[FILE_MAX];
	int fd, e = 0, rc;

	dir_file(j, TMP_NAME, tmp);
	dir_file(j, JOURNAL_CKPT_NAME, path);
	fd = j->sys->open(j->sys->ctx, tmp, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		return errno ? errno : EIO;
	ckpt_encode(seq, b);
	if (write_all(j, fd, b, sizeof b, 0) != 0 || do_fsync(j, fd) != 0)
		e = errno ? errno : EIO;
	j->sys->close(j->sys->ctx, fd);
	if (e)
		return e;
	rc = j->sys->exchange(j->sys->ctx, tmp, path);
	if (rc != 0 && (errno == EINVAL || errno == ENOSYS || errno == ENOENT))
		rc = j->sys->rename(j->sys->ctx, tmp, path);
	if (rc != 0 || do_fsync(j, j->dir_fd) != 0)
		return errno ? errno : EIO;
	return 0;
}

static void *bg_main(void *arg)
{
	struct journal *j = arg;

	pthread_mutex_lock(&j->bg_mu);
	for (;;) {
		uint64_t t0, seq;
		int fd, rc, e;

		while (!j->bg_busy && !j->ck_busy && !j->bg_stop)
			pthread_cond_wait(&j->bg_cv, &j->bg_mu);
		if (j->ck_busy) {
			seq = j->ck_seq;
			pthread_mutex_unlock(&j->bg_mu);
			e = bg_ckpt(j, seq);
			pthread_mutex_lock(&j->bg_mu);
			if (e)
				j->ck_err = e;
			else
				j->ck_done = seq;
			j->ck_busy = 0;
			continue;
		}
		if (!j->bg_busy)
			break;
		fd = j->bg_fd;
		seq = j->bg_seq;
		pthread_mutex_unlock(&j->bg_mu);
		t0 = loop_mono_us();
		rc = j->sys->fsync(j->sys->ctx, fd);
		e = errno;
		j->sys->close(j->sys->ctx, fd);
		pthread_mutex_lock(&j->bg_mu);
		fsync_note(j, loop_mono_us() - t0);
		if (rc != 0 && !j->bg_err)
			j->bg_err = e ? e : EIO;
		else if (rc == 0)
			j->bg_done = seq;
		j->bg_busy = 0;
		pthread_cond_broadcast(&j->bg_cv);
	}
	pthread_mutex_unlock(&j->bg_mu);
	return NULL;
}

static void bg_start(struct journal *j)
{
	if (!j->o.background_fsync || j->o.read_only || j->o.fsync != JOURNAL_FSYNC_BATCH)
		return;
	pthread_mutex_init(&j->bg_mu, NULL);
	pthread_cond_init(&j->bg_cv, NULL);
	j->bg_busy = j->bg_stop = j->bg_err = 0;
	j->bg_fd = -1;
	if (pthread_create(&j->bg_thread, NULL, bg_main, j) != 0) {
		pthread_cond_destroy(&j->bg_cv);
		pthread_mutex_destroy(&j->bg_mu);
		return; /* fsyncs stay on the caller's thread */
	}
	j->bg_on = 1;
}

/* Waits for the request in flight, then stops the thread. */
static void bg_stop(struct journal *j)
{
	if (!j->bg_on)
		return;
	pthread_mutex_lock(&j->bg_mu);
	j->bg_stop = 1;
	pthread_cond_broadcast(&j->bg_cv);
	pthread_mutex_unlock(&j->bg_mu);
	pthread_join(j->bg_thread, NULL);
	pthread_cond_destroy(&j->bg_cv);
	pthread_mutex_destroy(&j->bg_mu);
	j->bg_on = 0;
	if (j->bg_done > j->synced_seq && !j->bg_err)
		j->synced_seq = j->bg_done;
	/* What came after the last request: synced here, as a clean close promises. */
	if (!j->bg_err && j->synced_seq + 1 < j->next_seq && j->wfd >= 0 && do_fsync(j, j->wfd) == 0)
		j->synced_seq = j->next_seq - 1;
	if (j->ck_done > j->checkpoint)
		j->checkpoint = j->ck_done; /* its segments stay: the next open drops them */
	if (j->ck_want > j->checkpoint && j->open && ckpt_store(j, j->ck_want, 1) == 0)
		j->ck_want = 0;
}

/* Sticky: after a failed fsync the page cache may have dropped our writes. */
static int broken(struct journal *j, const char *what, int e)
{
	j->broken = 1;
	return fail(j, FR_EIO, "journal %s: fsync failed: %s; the journal is unusable until "
	                       "restart", what, strerror(e));
}

static int write_all(struct journal *j, int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = j->sys->pwrite(j->sys->ctx, fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Reads up to n bytes at off; returns how many (fewer only at end of file). */
static ssize_t read_full(struct journal *j, int fd, unsigned char *p, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = j->sys->pread(j->sys->ctx, fd, p + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void win_drop(struct journal *j)
{
	j->win_len = 0;
	j->win_first = 0;
}

/*
 * Makes bytes [off, off + want) of segment first (of size bytes) available in
 * the window and points *p at off; returns how many bytes from off are there
 * (less than want only at the end of the file), or FR_EIO.
 */
static int win_get(struct journal *j, int fd, uint64_t first, uint64_t off, uint64_t size,
                   size_t want, const unsigned char **p)
{
	uint64_t have_end = j->win_off + j->win_len;
	uint64_t left = size > off ? size - off : 0;
	ssize_t n;

	if (want > left)
		want = (size_t)left;
	if (j->win_first == first && off >= j->win_off && off + want <= have_end) {
		*p = j->win + (off - j->win_off);
		return (int)(have_end - off < left ? have_end - off : left);
	}
	win_drop(j);
	n = read_full(j, fd, j->win, left < sizeof j->win ? (size_t)left : sizeof j->win, off);
	if (n < 0)
		return FR_EIO;
	j->win_first = first;
	j->win_off = off;
	j->win_len = (uint32_t)n;
	*p = j->win;
	return (int)n;
}

/*
 * The record at off: a window holding its header and, when its length is
 * plausible, all of it; returns the bytes available from off. (Asking
 * win_get for JOURNAL_RECORD_MAX bytes re-read the whole window for every
 * record, the record being so much smaller than the window.)
 */
static int win_record(struct journal *j, int fd, uint64_t first, uint64_t off, uint64_t size,
                      const unsigned char **p)
{
	int n = win_get(j, fd, first, off, size, JOURNAL_HDR_BYTES, p);
	uint32_t len;

	if (n < (int)JOURNAL_HDR_BYTES)
		return n;
	len = get32(*p + 4);
	if (len > JOURNAL_PAYLOAD_MAX || n >= (int)(JOURNAL_HDR_BYTES + len))
		return n;
	return win_get(j, fd, first, off, size, JOURNAL_HDR_BYTES + len, p);
}

/* ---- segment table -------------------------------------------------------------- */

/* An fd to read segment i: the writer's for the active one, else a cached one. */
static int seg_read_fd(struct journal *j, int i, int *fd)
{
	char path[FILE_MAX];

	if (i == j->segs_n - 1 && j->wfd >= 0) {
		*fd = j->wfd;
		return 0;
	}
	if (j->rfd >= 0 && j->rfd_first == j->segs[i].first_seq) {
		*fd = j->rfd;
		return 0;
	}
	close_fd(j, &j->rfd);
	j->rfd = j->sys->open(j->sys->ctx, seg_path(j, j->segs[i].first_seq, path), O_RDONLY, 0);
	if (j->rfd < 0)
		return fail(j, FR_EIO, "%s: cannot open: %s", path, strerror(errno));
	j->rfd_first = j->segs[i].first_seq;
	*fd = j->rfd;
	return 0;
}

static int list_one(void *arg, const char *name)
{
	struct journal *j = arg;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		if (v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (strcmp(name + 20, ".jnl") != 0 || v == 0)
		return 0;
	if (j->segs_n == JOURNAL_SEGMENTS_MAX)
		return FR_ERANGE;
	j->segs[j->segs_n].first_seq = v;
	j->segs[j->segs_n].last_seq = v - 1;
	j->segs[j->segs_n].bytes = 0;
	j->segs_n++;
	return 0;
}

static void segs_sort(struct journal *j)
{
	for (int i = 1; i < j->segs_n; i++) {
		struct journal_seg s = j->segs[i];
		int k = i;

		for (; k > 0 && j->segs[k - 1].first_seq > s.first_seq; k--)
			j->segs[k] = j->segs[k - 1];
		j->segs[k] = s;
	}
}

static void segs_remove(struct journal *j, int i)
{
	j->bytes -= j->segs[i].bytes;
	memmove(&j->segs[i], &j->segs[i + 1], (size_t)(j->segs_n - i - 1) * sizeof j->segs[0]);
	j->segs_n--;
}

/* ---- the checkpoint file ----------------------------------------------------------- */

static void ckpt_encode(uint64_t seq, unsigned char *b)
{
	memcpy(b, CKPT_MAGIC, 8);
	put64(b + 8, seq);
	put32(b + 16, crc32c(b, 16));
	put32(b + 20, 0);
}

/* Reads DIR/checkpoint into j->checkpoint; missing is 0. */
static int ckpt_read(struct journal *j, int *exists)
{
	unsigned char b[JOURNAL_CKPT_BYTES + 1];
	char path[FILE_MAX];
	int fd = j->sys->open(j->sys->ctx, dir_file(j, JOURNAL_CKPT_NAME, path), O_RDONLY, 0);
	ssize_t n;

	*exists = 0;
	j->checkpoint = 0;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return fail(j, FR_EIO, "%s: cannot open: %s", path, strerror(errno));
	n = read_full(j, fd, b, sizeof b, 0);
	j->sys->close(j->sys->ctx, fd);
	if (n < 0)
		return fail(j, FR_EIO, "%s: cannot read: %s", path, strerror(errno));
	if (n != JOURNAL_CKPT_BYTES || memcmp(b, CKPT_MAGIC, 8) != 0 ||
	    crc32c(b, 16) != get32(b + 16) || get32(b + 20) != 0)
		return fail(j, FR_EINVAL, "%s: offset 0: damaged checkpoint file (%zd bytes); "
		                          "refusing to open the journal", path, n);
	j->checkpoint = get64(b + 8);
	*exists = 1;
	return 0;
}

/* Writes the spare DIR/checkpoint.tmp with seq and fsyncs it (no O_TRUNC: an
 * existing spare's block is overwritten in place, so a full disk is no obstacle). */
static int ckpt_write_tmp(struct journal *j, uint64_t seq)
{
	unsigned char b[JOURNAL_CKPT_BYTES];
	char path[FILE_MAX];
	int fd = j->sys->open(j->sys->ctx, dir_file(j, TMP_NAME, path), O_WRONLY | O_CREAT, 0600);
	int e;

	if (fd < 0)
		return fail(j, FR_EIO, "%s: cannot create: %s", path, strerror(errno));
	ckpt_encode(seq, b);
	if (write_all(j, fd, b, sizeof b, 0) != 0 || do_fsync(j, fd) != 0) {
		e = errno;
		j->sys->close(j->sys->ctx, fd);
		return fail(j, FR_EIO, "%s: cannot write: %s", path, strerror(e));
	}
	j->sys->close(j->sys->ctx, fd);
	return 0;
}

/* Makes seq the durable checkpoint: spare written, swapped in, directory fsynced. */
static int ckpt_store(struct journal *j, uint64_t seq, int exists)
{
	char tmp[FILE_MAX], path[FILE_MAX];
	int rc = ckpt_write_tmp(j, seq);

	if (rc != 0)
		return rc;
	dir_file(j, TMP_NAME, tmp);
	dir_file(j, JOURNAL_CKPT_NAME, path);
	rc = exists ? j->sys->exchange(j->sys->ctx, tmp, path) : -1;
	if (rc != 0 && (!exists || errno == EINVAL || errno == ENOSYS || errno == ENOENT))
		rc = j->sys->rename(j->sys->ctx, tmp, path);
	if (rc != 0)
		return fail(j, FR_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
	if (do_fsync(j, j->dir_fd) != 0)
		return fail(j, FR_EIO, "%s: fsync of the directory failed: %s", j->dir,
		            strerror(errno));
	j->checkpoint = seq;
	return 0;
}

/* ---- recovery ---------------------------------------------------------------------- */

/* The offset of the first valid record in [from, size), or -1 (FR_EIO as error). */
static int64_t find_valid_after(struct journal *j, int fd, uint64_t first, uint64_t from,
                                uint64_t size)
{
	for (uint64_t off = from; off + JOURNAL_HDR_BYTES <= size; off++) {
		const unsigned char *p;
		struct journal_rec r;
		int n = win_get(j, fd, first, off, size, 4, &p);

		if (n < 0)
			return FR_EIO;
		if (get32(p) != JOURNAL_MAGIC)
			continue;
		n = win_record(j, fd, first, off, size, &p);
		if (n < 0)
			return FR_EIO;
		if (journal_decode(p, (size_t)n, &r, NULL) > 0)
			return (int64_t)off;
	}
	return -1;
}

/* A bad record at off in segment i: torn tail (cut it) or damage (refuse). */
static int scan_bad(struct journal *j, int i, int fd, uint64_t off, uint64_t size,
                    const char *why)
{
	char path[FILE_MAX];
	struct journal_report *rp = &j->report;
	int64_t next = find_valid_after(j, fd, j->segs[i].first_seq, off + 1, size);

	seg_path(j, j->segs[i].first_seq, path);
	if (next < -1)
		return fail(j, FR_EIO, "%s: cannot read: %s", path, strerror(errno));
	if (next >= 0)
		return fail(j, FR_EINVAL, "%s: offset %" PRIu64 ": %s, and a valid record "
		            "follows at offset %" PRId64 ": damage in the middle of the journal; "
		            "refusing to open it", path, off, why, next);
	if (i != j->segs_n - 1)
		return fail(j, FR_EINVAL, "%s: offset %" PRIu64 ": %s in a segment that is not "
		            "the last: damage in the middle of the journal; refusing to open it",
		            path, off, why);
	rp->torn = 1;
	snprintf(rp->torn_file, sizeof rp->torn_file, "%s", path);
	rp->torn_offset = off;
	rp->torn_bytes = size - off;
	return 0;
}

/* Checks every record of segment i (size bytes) from sequence first_seq on. */
static int scan_seg(struct journal *j, int i, int fd, uint64_t size)
{
	struct journal_seg *s = &j->segs[i];
	char path[FILE_MAX];
	uint64_t off = 0, seq = s->first_seq;

	while (off < size) {
		const unsigned char *p;
		const char *why = "";
		struct journal_rec r;
		int n = win_record(j, fd, s->first_seq, off, size, &p);

		if (n < 0)
			return fail(j, FR_EIO, "%s: cannot read: %s",
			            seg_path(j, s->first_seq, path), strerror(errno));
		n = journal_decode(p, (size_t)n, &r, &why);
		if (n < 0) {
			int rc = scan_bad(j, i, fd, off, size, why);

			if (rc != 0)
				return rc;
			break; /* a torn tail: the segment ends at off */
		}
		if (r.seq != seq)
			return fail(j, FR_EINVAL, "%s: offset %" PRIu64 ": sequence %" PRIu64
			            " where %" PRIu64 " belongs: a gap in the journal; refusing to "
			            "open it", seg_path(j, s->first_seq, path), off, r.seq, seq);
		off += (uint64_t)n;
		seq++;
	}
	s->bytes = off;
	s->last_seq = seq - 1;
	return 0;
}

/* Cuts the torn tail of the last segment (writable opens only) and says so. */
static int cut_torn(struct journal *j, int fd)
{
	struct journal_report *rp = &j->report;

	win_drop(j);
	if (j->sys->ftruncate(j->sys->ctx, fd, (off_t)rp->torn_offset) != 0 ||
	    (j->o.fsync != JOURNAL_FSYNC_OS && do_fsync(j, fd) != 0))
		return fail(j, FR_EIO, "%s: cannot truncate the torn tail: %s", rp->torn_file,
		            strerror(errno));
	log_warn("journal: torn tail truncated", LS("file", rp->torn_file),
	         LI("offset", rp->torn_offset), LI("bytes_dropped", rp->torn_bytes));
	return 0;
}

static int seg_size(struct journal *j, int fd, const char *path, uint64_t *size)
{
	struct stat st;

	if (j->sys->fstat(j->sys->ctx, fd, &st) != 0)
		return fail(j, FR_EIO, "%s: cannot stat: %s", path, strerror(errno));
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Opens, scans and (last one, writable) repairs segment i. */
static int recover_seg(struct journal *j, int i)
{
	char path[FILE_MAX];
	int last = i == j->segs_n - 1;
	int flags = last && !j->o.read_only ? O_RDWR : O_RDONLY;
	int fd = j->sys->open(j->sys->ctx, seg_path(j, j->segs[i].first_seq, path), flags, 0);
	uint64_t size = 0;
	int rc;

	if (fd < 0)
		return fail(j, FR_EIO, "%s: cannot open: %s", path, strerror(errno));
	rc = seg_size(j, fd, path, &size);
	if (rc == 0)
		rc = scan_seg(j, i, fd, size);
	if (rc == 0 && j->report.torn && last && !j->o.read_only)
		rc = cut_torn(j, fd);
	win_drop(j);
	if (rc == 0 && flags == O_RDWR)
		j->wfd = fd;
	else
		j->sys->close(j->sys->ctx, fd);
	return rc;
}

/* Sequences must run on from the checkpoint and from segment to segment. */
static int check_links(struct journal *j, int i)
{
	char path[FILE_MAX];
	uint64_t want = i == 0 ? j->checkpoint + 1 : j->segs[i - 1].last_seq + 1;
	uint64_t have = j->segs[i].first_seq;

	seg_path(j, have, path);
	if (i == 0 && have > want)
		return fail(j, FR_EINVAL, "%s: offset 0: records %" PRIu64 "..%" PRIu64 " after "
		            "the checkpoint are missing; refusing to open the journal", path, want,
		            have - 1);
	if (i > 0 && have != want)
		return fail(j, FR_EINVAL, "%s: offset 0: segment starts at sequence %" PRIu64
		            " where %" PRIu64 " belongs: a gap in the journal; refusing to open it",
		            path, have, want);
	return 0;
}

/* Unlinks segment i; 0, or -1 when the file stays (logged). */
static int seg_unlink(struct journal *j, int i)
{
	char path[FILE_MAX];

	if (j->segs[i].first_seq == j->rfd_first)
		close_fd(j, &j->rfd);
	if (i == j->segs_n - 1)
		close_fd(j, &j->wfd);
	win_drop(j);
	if (j->sys->unlink(j->sys->ctx, seg_path(j, j->segs[i].first_seq, path)) != 0 &&
	    errno != ENOENT) {
		log_warn("journal: cannot delete a checkpointed segment", LS("file", path),
		         LS("error", strerror(errno)));
		return -1;
	}
	return 0;
}

/* Deletes the leading segments whose records are all <= seq. */
static int drop_covered(struct journal *j, uint64_t seq)
{
	int n = 0;

	while (j->segs_n > 0 && j->segs[0].bytes > 0 && j->segs[0].last_seq <= seq) {
		if (seg_unlink(j, 0) != 0)
			break;
		segs_remove(j, 0);
		n++;
	}
	return n;
}

/* Deletes, unread, the segments a following segment shows are covered. */
static void drop_covered_unread(struct journal *j)
{
	while (j->segs_n > 1 && j->segs[1].first_seq - 1 <= j->checkpoint) {
		if (seg_unlink(j, 0) != 0)
			return;
		segs_remove(j, 0);
		j->report.segments_deleted++;
	}
}

static int recover(struct journal *j)
{
	int rc;

	if (!j->o.read_only)
		drop_covered_unread(j);
	for (int i = 0; i < j->segs_n; i++) {
		if (!j->o.read_only || j->segs[i].first_seq > j->checkpoint) {
			rc = check_links(j, i);
			if (rc != 0)
				return rc;
		}
		rc = recover_seg(j, i);
		if (rc != 0)
			return rc;
		j->bytes += j->segs[i].bytes;
		if (j->segs[i].bytes == 0 && i != j->segs_n - 1)
			return fail(j, FR_EINVAL, "%s/%020" PRIu64 ".jnl: offset 0: an empty segment "
			            "that is not the last; refusing to open the journal", j->dir,
			            j->segs[i].first_seq);
	}
	return 0;
}

/* After recovery: the empty last segment goes, covered ones go, next_seq is set. */
static void settle(struct journal *j)
{
	int n = j->segs_n;
	uint64_t last = n > 0 && j->segs[n - 1].bytes > 0 ? j->segs[n - 1].last_seq : 0;

	if (n > 0 && j->segs[n - 1].bytes == 0) {
		last = n > 1 ? j->segs[n - 2].last_seq : 0;
		if (!j->o.read_only && seg_unlink(j, n - 1) == 0) {
			segs_remove(j, n - 1);
			j->report.empty_removed = 1;
		}
	}
	if (!j->o.read_only)
		j->report.segments_deleted += drop_covered(j, j->checkpoint);
	j->next_seq = (last > j->checkpoint ? last : j->checkpoint) + 1;
	j->synced_seq = j->next_seq - 1;
}

/* ---- open and close ---------------------------------------------------------------- */

static int check_opts(struct journal *j, const struct journal_opts *o)
{
	if (!o->dir || !o->dir[0] || strlen(o->dir) >= JOURNAL_PATH_MAX)
		return fail(j, FR_EINVAL, "journal directory path empty or longer than %d bytes",
		            JOURNAL_PATH_MAX - 1);
	if (o->limit_bytes < JOURNAL_RECORD_MAX)
		return fail(j, FR_EINVAL, "journal limit %" PRIu64 " is below one record (%d bytes)",
		            o->limit_bytes, (int)JOURNAL_RECORD_MAX);
	if (o->fsync != JOURNAL_FSYNC_ALWAYS && o->fsync != JOURNAL_FSYNC_BATCH &&
	    o->fsync != JOURNAL_FSYNC_OS)
		return fail(j, FR_EINVAL, "unknown fsync policy %d", (int)o->fsync);
	return 0;
}

static uint64_t segment_bytes(const struct journal_opts *o)
{
	uint64_t share = o->limit_bytes / JOURNAL_SEGMENT_SHARE;

	if (o->segment_bytes)
		return o->segment_bytes;
	return share > JOURNAL_SEGMENT_BYTES ? share : JOURNAL_SEGMENT_BYTES;
}

static int open_dir(struct journal *j)
{
	int rc;

	j->dir_fd = j->sys->open(j->sys->ctx, j->dir, O_RDONLY | O_DIRECTORY, 0);
	if (j->dir_fd < 0)
		return fail(j, FR_EIO, "journal directory %s: cannot open: %s", j->dir,
		            strerror(errno));
	if (!j->o.read_only && j->sys->lock(j->sys->ctx, j->dir_fd) != 0)
		return fail(j, FR_EINVAL, "journal directory %s: locked by another process (%s)",
		            j->dir, strerror(errno));
	rc = j->sys->list(j->sys->ctx, j->dir_fd, list_one, j);
	if (rc == FR_ERANGE)
		return fail(j, FR_ERANGE, "journal directory %s: more than %d segments", j->dir,
		            JOURNAL_SEGMENTS_MAX);
	if (rc != 0)
		return fail(j, FR_EIO, "journal directory %s: cannot list: %s", j->dir,
		            strerror(errno));
	segs_sort(j);
	return 0;
}

/* Writable opens keep a checkpoint file and its spare, so that a checkpoint on a
 * full disk needs no new block. Failing to make them now is not fatal. */
static void ckpt_prepare(struct journal *j, int exists)
{
	if (!exists && ckpt_store(j, j->checkpoint, 0) != 0)
		log_warn("journal: cannot write the checkpoint file", LS("error", j->err));
	else if (ckpt_write_tmp(j, j->checkpoint) != 0)
		log_warn("journal: cannot write the spare checkpoint file", LS("error", j->err));
	j->err[0] = 0;
}

/* see journal.h */
int journal_open(struct journal *j, const struct journal_opts *o)
{
	int rc, exists = 0;

	assert(j && o);
	memset(j, 0, offsetof(struct journal, wbuf));
	j->o = *o;
	j->sys = o->sys ? o->sys : &journal_sys_real;
	j->dir_fd = j->wfd = j->rfd = -1;
	rc = check_opts(j, o);
	if (rc != 0)
		return rc;
	j->o.segment_bytes = segment_bytes(o);
	j->o.dir = j->dir;
	snprintf(j->dir, sizeof j->dir, "%s", o->dir);
	rc = open_dir(j);
	if (rc == 0)
		rc = ckpt_read(j, &exists);
	if (rc == 0)
		rc = recover(j);
	if (rc != 0) {
		journal_close(j);
		return rc;
	}
	settle(j);
	if (!j->o.read_only)
		ckpt_prepare(j, exists);
	j->open = 1;
	bg_start(j);
	return 0;
}

/* see journal.h */
void journal_close(struct journal *j)
{
	if (!j->sys)
		return;
	bg_stop(j);
	close_fd(j, &j->wfd);
	close_fd(j, &j->rfd);
	close_fd(j, &j->dir_fd);
	win_drop(j);
	j->open = 0;
}

/* ---- appending ------------------------------------------------------------------ */

/* Makes a new, empty active segment starting at next_seq. */
static int seg_new(struct journal *j)
{
	char path[FILE_MAX];
	struct journal_seg *s;
	int fd;

	if (j->segs_n == JOURNAL_SEGMENTS_MAX)
		return fail(j, FR_EFULL, "journal full: %d segments", JOURNAL_SEGMENTS_MAX);
	fd = j->sys->open(j->sys->ctx, seg_path(j, j->next_seq, path),
	                  O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && (errno == ENOSPC || errno == EDQUOT))
		return fail(j, FR_EFULL, "disk full: cannot create %s: %s", path, strerror(errno));
	if (fd < 0)
		return fail(j, FR_EIO, "cannot create %s: %s", path, strerror(errno));
	j->wfd = fd;
	s = &j->segs[j->segs_n++];
	s->first_seq = j->next_seq;
	s->last_seq = j->next_seq - 1;
	s->bytes = 0;
	j->dir_dirty = 1;
	return 0;
}

/* Closes the active segment (fsynced first under batch) and starts a new one. */
static int seg_roll(struct journal *j)
{
	char path[FILE_MAX];
	struct journal_seg *s = &j->segs[j->segs_n - 1];

	if (j->o.fsync == JOURNAL_FSYNC_BATCH && j->synced_seq < s->last_seq) {
		if (do_fsync(j, j->wfd) != 0)
			return broken(j, seg_path(j, s->first_seq, path), errno);
		j->synced_seq = s->last_seq;
	}
	close_fd(j, &j->wfd);
	return seg_new(j);
}

/* Undoes a failed write so nothing half-written stays visible. */
static int write_failed(struct journal *j, int e, uint64_t off, int len)
{
	char path[FILE_MAX];
	struct journal_seg *s = &j->segs[j->segs_n - 1];
	int full = e == ENOSPC || e == EDQUOT;

	seg_path(j, s->first_seq, path);
	win_drop(j);
	if (j->sys->ftruncate(j->sys->ctx, j->wfd, (off_t)off) != 0) {
		j->broken = 1;
		return fail(j, FR_EIO, "%s: write failed (%s) and the partial record at offset "
		            "%" PRIu64 " cannot be removed (%s); the journal is unusable until "
		            "restart", path, strerror(e), off, strerror(errno));
	}
	if (s->bytes == 0 && seg_unlink(j, j->segs_n - 1) == 0)
		segs_remove(j, j->segs_n - 1);
	if (full)
		return fail(j, FR_EFULL, "disk full: %s: %s writing %d bytes at offset %" PRIu64
		            "; a checkpoint frees space", path, strerror(e), len, off);
	return fail(j, FR_EIO, "%s: write at offset %" PRIu64 " failed: %s", path, off,
	            strerror(e));
}

/* Policy always: the record is on disk before append returns. */
static int sync_always(struct journal *j, uint64_t seq)
{
	char path[FILE_MAX];

	if (do_fsync(j, j->wfd) != 0)
		return broken(j, seg_path(j, j->segs[j->segs_n - 1].first_seq, path), errno);
	if (j->dir_dirty && do_fsync(j, j->dir_fd) != 0)
		return broken(j, j->dir, errno);
	j->dir_dirty = 0;
	j->synced_seq = seq;
	return 0;
}

static int append_check(struct journal *j, const struct journal_rec *r, int *len)
{
	struct journal_rec w = *r;

	if (!j->open || j->o.read_only)
		return fail(j, FR_EINVAL, "journal not open for writing");
	if (j->broken)
		return fail(j, FR_EIO, "journal unusable after an earlier failure");
	w.seq = j->next_seq;
	*len = journal_encode(&w, j->wbuf, sizeof j->wbuf);
	if (*len == FR_ERANGE)
		return fail(j, FR_ERANGE, "record too large for the journal (raw %" PRIu32
		            " bytes, at most %u)", r->raw_len, JOURNAL_RAW_MAX);
	if (*len < 0)
		return fail(j, *len, "bad record (kind %d, source %d)", (int)r->kind, (int)r->source);
	if (j->bytes + (uint64_t)*len > j->o.limit_bytes)
		return fail(j, FR_EFULL, "journal full: %" PRIu64 " of %" PRIu64 " bytes used "
		            "(spill_limit); a checkpoint frees space", j->bytes, j->o.limit_bytes);
	return 0;
}

/* see journal.h */
int journal_append(struct journal *j, const struct journal_rec *r, uint64_t *seq)
{
	struct journal_seg *s;
	int len = 0, rc = append_check(j, r, &len);

	if (rc != 0)
		return rc;
	s = j->segs_n > 0 ? &j->segs[j->segs_n - 1] : NULL;
	if (j->wfd < 0)
		rc = seg_new(j);
	else if (s->bytes > 0 && s->bytes + (uint64_t)len > j->o.segment_bytes)
		rc = seg_roll(j);
	if (rc != 0)
		return rc;
	s = &j->segs[j->segs_n - 1];
	if (write_all(j, j->wfd, j->wbuf, (size_t)len, s->bytes) != 0)
		return write_failed(j, errno, s->bytes, len);
	s->bytes += (uint64_t)len;
	s->last_seq = j->next_seq;
	j->bytes += (uint64_t)len;
	j->wlen = (size_t)len;
	*seq = j->next_seq++;
	if (j->o.fsync == JOURNAL_FSYNC_ALWAYS)
		return sync_always(j, *seq);
	return 0;
}

/* see journal.h */
const unsigned char *journal_last_record(const struct journal *j, size_t *len)
{
	*len = j->wlen;
	return j->wbuf;
}

/* journal_sync with the thread: collect its result, hand it the next fsync. */
static int bg_sync(struct journal *j)
{
	char path[FILE_MAX];
	int err, fd, here = 0;

	pthread_mutex_lock(&j->bg_mu);
	err = j->bg_err;
	if (j->bg_done > j->synced_seq)
		j->synced_seq = j->bg_done;
	if (!err && !j->bg_busy && j->synced_seq + 1 < j->next_seq && j->wfd >= 0) {
		/* A dup: the writer may close its fd (a new segment) meanwhile. */
		fd = fcntl(j->wfd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0) {
			j->bg_fd = fd;
			j->bg_seq = j->next_seq - 1;
			j->bg_busy = 1;
			pthread_cond_broadcast(&j->bg_cv);
		} else {
			here = 1; /* no fd to hand over (EMFILE): sync on this thread */
		}
	}
	pthread_mutex_unlock(&j->bg_mu);
	if (err)
		return broken(j, seg_path(j, j->segs[j->segs_n - 1].first_seq, path), err);
	if (here && do_fsync(j, j->wfd) != 0)
		return broken(j, seg_path(j, j->segs[j->segs_n - 1].first_seq, path), errno);
	if (here)
		j->synced_seq = j->next_seq - 1;
	if (j->dir_dirty && do_fsync(j, j->dir_fd) != 0)
		return broken(j, j->dir, errno);
	j->dir_dirty = 0;
	journal_poll(j); /* a failed checkpoint is not a broken journal: reported there */
	return 0;
}

/* see journal.h */
int journal_sync(struct journal *j)
{
	char path[FILE_MAX];

	if (j->broken)
		return fail(j, FR_EIO, "journal unusable after an earlier failure");
	if (!j->open || j->o.read_only || j->o.fsync != JOURNAL_FSYNC_BATCH)
		return 0;
	if (j->bg_on)
		return bg_sync(j);
	if (j->synced_seq + 1 < j->next_seq && j->wfd >= 0 && do_fsync(j, j->wfd) != 0)
		return broken(j, seg_path(j, j->segs[j->segs_n - 1].first_seq, path), errno);
	if (j->dir_dirty && do_fsync(j, j->dir_fd) != 0)
		return broken(j, j->dir, errno);
	j->dir_dirty = 0;
	j->synced_seq = j->next_seq - 1;
	return 0;
}

/* see journal.h */
int journal_checkpoint(struct journal *j, uint64_t seq)
{
	int rc;

	if (!j->open || j->o.read_only)
		return fail(j, FR_EINVAL, "journal not open for writing");
	if (seq >= j->next_seq)
		return fail(j, FR_EINVAL, "checkpoint %" PRIu64 " is past the last sequence %" PRIu64,
		            seq, j->next_seq - 1);
	if (seq <= j->checkpoint)
		return 0;
	if (j->bg_on) {
		if (seq > j->ck_want)
			j->ck_want = seq;
		rc = journal_poll(j);
		return rc < 0 ? rc : 0;
	}
	rc = ckpt_store(j, seq, 1);
	if (rc != 0)
		return rc;
	drop_covered(j, seq);
	return 0;
}

/* see journal.h */
int journal_poll(struct journal *j)
{
	uint64_t done;
	int err, busy;

	if (!j->bg_on)
		return 0;
	pthread_mutex_lock(&j->bg_mu);
	done = j->ck_done;
	err = j->ck_err;
	j->ck_err = 0;
	if (!j->ck_busy && j->ck_want > (done > j->checkpoint ? done : j->checkpoint) && !err) {
		j->ck_seq = j->ck_want;
		j->ck_busy = 1;
		pthread_cond_broadcast(&j->bg_cv);
	}
	busy = j->ck_busy;
	pthread_mutex_unlock(&j->bg_mu);
	if (done > j->checkpoint) {
		j->checkpoint = done;
		drop_covered(j, done);
	}
	if (err)
		return fail(j, FR_EIO, "%s/%s: cannot write the checkpoint: %s", j->dir,
		            JOURNAL_CKPT_NAME, strerror(err));
	return busy || j->ck_want > j->checkpoint;
}

/* ---- reading ----------------------------------------------------------------------- */

/* see journal.h */
void journal_iter_init(struct journal *j, struct journal_iter *it, uint64_t from_seq)
{
	(void)j;
	it->next_seq = from_seq > 0 ? from_seq : 1;
	it->seg_first = 0;
	it->off = 0;
	it->last_seq = it->last_off = 0;
}

/* see journal.h */
void journal_iter_seek(struct journal *j, struct journal_iter *it, uint64_t seq)
{
	if (seq == 0) {
		journal_iter_init(j, it, seq);
	} else if (it->last_seq != 0 && seq == it->last_seq) {
		it->next_seq = seq;
		it->off = it->last_off;
	} else if (it->next_seq == 0 || seq < it->next_seq) {
		journal_iter_init(j, it, seq);
	} else {
		it->next_seq = seq;
	}
}

/* The segment holding it->next_seq (moved up past deleted records); -1: none. */
static int iter_seg(struct journal *j, struct journal_iter *it)
{
	for (int i = 0; i < j->segs_n; i++) {
		struct journal_seg *s = &j->segs[i];

		if (s->bytes == 0 || s->last_seq < it->next_seq)
			continue;
		if (it->next_seq < s->first_seq)
			it->next_seq = s->first_seq;
		if (it->seg_first != s->first_seq) {
			it->seg_first = s->first_seq;
			it->off = 0;
		}
		return i;
	}
	return -1;
}

/*
 * Steps over the record at it->off when its header says it comes before the
 * wanted one: 1 stepped, 0 not (a record to decode, or a header too damaged
 * to trust: journal_decode then says what is wrong). Every record was
 * checked whole when the journal was opened or written, so records passed
 * over need no CRC here; the one returned is still checked.
 */
static int iter_skip(struct journal_iter *it, const unsigned char *p, int n)
{
	uint32_t len;

	if (n < (int)JOURNAL_HDR_BYTES || get32(p) != JOURNAL_MAGIC)
		return 0;
	len = get32(p + 4);
	if (len > JOURNAL_PAYLOAD_MAX || get64(p + 8) == 0 || get64(p + 8) >= it->next_seq ||
	    n < (int)(JOURNAL_HDR_BYTES + len))
		return 0;
	it->off += JOURNAL_HDR_BYTES + len;
	return 1;
}

/* see journal.h */
int journal_iter_next(struct journal *j, struct journal_iter *it, struct journal_rec *r)
{
	char path[FILE_MAX];
	int i = iter_seg(j, it);
	int fd = -1, rc;

	if (i < 0)
		return 0;
	rc = seg_read_fd(j, i, &fd);
	if (rc != 0)
		return rc;
	for (;;) {
		const unsigned char *p;
		const char *why = "";
		int n = win_record(j, fd, it->seg_first, it->off, j->segs[i].bytes, &p);

		if (n < 0)
			return fail(j, FR_EIO, "%s: cannot read: %s",
			            seg_path(j, it->seg_first, path), strerror(errno));
		if (iter_skip(it, p, n))
			continue; /* before the wanted record: stepped over by its header */
		seg_path(j, it->seg_first, path);
		n = journal_decode(p, (size_t)n, r, &why);
		if (n < 0)
			return fail(j, FR_EINVAL, "%s: offset %" PRIu64 ": %s", path, it->off, why);
		if (r->seq > it->next_seq)
			return fail(j, FR_EINVAL, "%s: offset %" PRIu64 ": sequence %" PRIu64
			            " where %" PRIu64 " belongs", path, it->off, r->seq, it->next_seq);
		if (r->seq == it->next_seq) {
			it->last_seq = r->seq;
			it->last_off = it->off;
			it->off += (uint64_t)n;
			it->next_seq++;
			return 1;
		}
		it->off += (uint64_t)n;
	}
}

/* ---- status ------------------------------------------------------------------------ */

/* see journal.h */
void journal_stat(const struct journal *j, struct journal_stat *st)
{
	memset(st, 0, sizeof *st);
	st->segments = j->segs_n;
	for (int i = 0; i < j->segs_n; i++) {
		const struct journal_seg *s = &j->segs[i];

		if (s->bytes == 0)
			continue;
		if (!st->first_seq)
			st->first_seq = s->first_seq;
		st->last_seq = s->last_seq;
		st->records += s->last_seq - s->first_seq + 1;
	}
	st->checkpoint = j->checkpoint;
	st->bytes = j->bytes;
	st->limit_bytes = j->o.limit_bytes;
	if (j->synced_seq + 1 < j->next_seq) {
		st->unsynced_first_seq = j->synced_seq + 1;
		st->unsynced_records = j->next_seq - 1 - j->synced_seq;
	}
	st->fsyncs = j->fsyncs;
}

/* see journal.h */
const char *journal_error(const struct journal *j)
{
	return j->err;
}

static const char *const fsync_names[] = {"always", "batch", "os"};

/* see journal.h */
const char *journal_fsync_name(enum journal_fsync f)
{
	return (unsigned)f < 3 ? fsync_names[f] : NULL;
}

/* see journal.h */
int journal_fsync_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, fsync_names[i]) == 0)
			return i;
	return -1;
}
