/*
 * fuzz_journal.c -- libFuzzer target for the journal's record reader and its
 * recovery scan.
 *
 * The input is one record buffer for journal_decode (any bytes, any length:
 * its precondition is only a readable buffer), and also the whole content of
 * the segment file 00000000000000000001.jnl of a journal directory held in
 * memory by a simulated struct journal_sys (no disk I/O). Then:
 *  - journal_decode: a success re-encodes to exactly the bytes it read, and
 *    never claims more bytes than it was given.
 *  - a read-only open either refuses with FR_EINVAL and a message naming the
 *    file and an offset, or succeeds; then the iterator returns exactly the
 *    sequences 1..last, each record checked again.
 *  - a writable open agrees with the read-only one, cuts a torn tail to the
 *    end of the last valid record (the file's new length is that offset),
 *    and a second writable open then finds nothing to repair and the same
 *    records; an append after that gets the next sequence and reads back.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"
#include "log.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MEM_FILES 4
#define MEM_FILE_MAX (1u << 20)
#define MEM_DIR_FD 3
#define MEM_FD0 10

struct mem_file {
	char name[JOURNAL_NAME_BYTES + 8];
	int exists;
	size_t len;
	unsigned char data[MEM_FILE_MAX];
};

static struct mem_file files[MEM_FILES];
static struct journal j;

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static struct mem_file *by_name(const char *name)
{
	for (int i = 0; i < MEM_FILES; i++)
		if (files[i].exists && strcmp(files[i].name, name) == 0)
			return &files[i];
	return NULL;
}

static struct mem_file *by_fd(int fd)
{
	if (fd < MEM_FD0 || fd >= MEM_FD0 + MEM_FILES || !files[fd - MEM_FD0].exists)
		return NULL;
	return &files[fd - MEM_FD0];
}

static int mem_open(void *ctx, const char *path, int flags, mode_t mode)
{
	struct mem_file *f;

	(void)ctx;
	(void)mode;
	if (strcmp(path, "/mem") == 0)
		return MEM_DIR_FD;
	f = by_name(base(path));
	if (f && (flags & O_EXCL)) {
		errno = EEXIST;
		return -1;
	}
	if (!f && !(flags & O_CREAT)) {
		errno = ENOENT;
		return -1;
	}
	for (int i = 0; !f && i < MEM_FILES; i++)
		if (!files[i].exists) {
			f = &files[i];
			f->exists = 1;
			f->len = 0;
			strncpy(f->name, base(path), sizeof f->name - 1);
			f->name[sizeof f->name - 1] = 0;
		}
	if (!f) {
		errno = ENOSPC;
		return -1;
	}
	return MEM_FD0 + (int)(f - files);
}

static int mem_close(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static ssize_t mem_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	struct mem_file *f = by_fd(fd);

	(void)ctx;
	if (!f) {
		errno = EBADF;
		return -1;
	}
	if ((size_t)off >= f->len)
		return 0;
	if (n > f->len - (size_t)off)
		n = f->len - (size_t)off;
	memcpy(buf, f->data + off, n);
	return (ssize_t)n;
}

static ssize_t mem_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	struct mem_file *f = by_fd(fd);

	(void)ctx;
	if (!f) {
		errno = EBADF;
		return -1;
	}
	if ((size_t)off > f->len || (size_t)off + n > MEM_FILE_MAX) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(f->data + off, buf, n);
	if ((size_t)off + n > f->len)
		f->len = (size_t)off + n;
	return (ssize_t)n;
}

static int mem_fsync(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int mem_ftruncate(void *ctx, int fd, off_t len)
{
	struct mem_file *f = by_fd(fd);

	(void)ctx;
	CHECK(f && (size_t)len <= f->len); /* the journal only ever shortens */
	f->len = (size_t)len;
	return 0;
}

static int mem_fstat(void *ctx, int fd, struct stat *st)
{
	struct mem_file *f = by_fd(fd);

	(void)ctx;
	memset(st, 0, sizeof *st);
	if (!f) {
		errno = EBADF;
		return -1;
	}
	st->st_size = (off_t)f->len;
	st->st_mode = S_IFREG | 0600;
	return 0;
}

static int mem_rename(void *ctx, const char *from, const char *to)
{
	struct mem_file *f = by_name(base(from)), *t = by_name(base(to));

	(void)ctx;
	if (!f) {
		errno = ENOENT;
		return -1;
	}
	if (t)
		t->exists = 0;
	strncpy(f->name, base(to), sizeof f->name - 1);
	return 0;
}

static int mem_exchange(void *ctx, const char *a, const char *b)
{
	struct mem_file *fa = by_name(base(a)), *fb = by_name(base(b));
	char tmp[sizeof fa->name];

	(void)ctx;
	if (!fa || !fb) {
		errno = ENOENT;
		return -1;
	}
	memcpy(tmp, fa->name, sizeof tmp);
	memcpy(fa->name, fb->name, sizeof tmp);
	memcpy(fb->name, tmp, sizeof tmp);
	return 0;
}

static int mem_unlink(void *ctx, const char *path)
{
	struct mem_file *f = by_name(base(path));

	(void)ctx;
	if (!f) {
		errno = ENOENT;
		return -1;
	}
	f->exists = 0;
	return 0;
}

static int mem_list(void *ctx, int fd, journal_list_fn fn, void *arg)
{
	(void)ctx;
	CHECK(fd == MEM_DIR_FD);
	for (int i = 0; i < MEM_FILES; i++)
		if (files[i].exists) {
			int rc = fn(arg, files[i].name);

			if (rc != 0)
				return rc;
		}
	return 0;
}

static int mem_lock(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static const struct journal_sys mem_sys = {
	mem_open,     mem_close,  mem_pread, mem_pwrite, mem_fsync, mem_ftruncate, mem_fstat,
	mem_rename,   mem_exchange, mem_unlink, mem_list,  mem_lock,  NULL,
};

static void check_decode(const uint8_t *data, size_t size)
{
	static unsigned char again[JOURNAL_RECORD_MAX];
	struct journal_rec r;
	const char *why = NULL;
	int n = journal_decode(data, size, &r, &why);

	if (n <= 0) {
		CHECK(n == FR_EAGAIN || n == FR_EINVAL);
		CHECK(why && why[0]);
		return;
	}
	CHECK((size_t)n <= size && n <= (int)JOURNAL_RECORD_MAX);
	CHECK(journal_encode(&r, again, sizeof again) == n);
	CHECK(memcmp(again, data, (size_t)n) == 0);
}

/* Reads everything; returns the number of records (1..n in order). */
static uint64_t read_all(void)
{
	struct journal_iter it;
	struct journal_rec r;
	uint64_t n = 0;
	int rc;

	journal_iter_init(&j, &it, 0);
	while ((rc = journal_iter_next(&j, &it, &r)) == 1) {
		n++;
		CHECK(r.seq == n);
		CHECK(r.raw_len > 0 && r.raw_len <= JOURNAL_RAW_MAX && r.account[0]);
	}
	CHECK(rc == 0);
	return n;
}

static int open_mem(int read_only)
{
	struct journal_opts o = { 0 };

	o.dir = "/mem";
	o.limit_bytes = 4u << 20;
	o.segment_bytes = MEM_FILE_MAX;
	o.fsync = JOURNAL_FSYNC_BATCH;
	o.read_only = read_only;
	o.sys = &mem_sys;
	return journal_open(&j, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	uint64_t n, torn_offset;
	int rc;

	if (!quiet) {
		log_setup(2, LOG_ERROR, NULL, NULL); /* torn tails are warnings */
		quiet = 1;
	}
	check_decode(data, size);
	if (size > MEM_FILE_MAX)
		return 0;
	memset(files, 0, sizeof files);
	files[0].exists = 1;
	strcpy(files[0].name, "00000000000000000001.jnl");
	memcpy(files[0].data, data, size);
	files[0].len = size;

	rc = open_mem(1);
	if (rc != 0) {
		CHECK(rc == FR_EINVAL);
		CHECK(strstr(journal_error(&j), "00000000000000000001.jnl: offset "));
		CHECK(open_mem(0) == FR_EINVAL); /* writable agrees, and repairs nothing */
		CHECK(files[0].exists && files[0].len == size);
		return 0;
	}
	n = read_all();
	torn_offset = j.report.torn ? j.report.torn_offset : size;
	CHECK(!j.report.torn || j.report.torn_offset + j.report.torn_bytes == size);
	journal_close(&j);

	CHECK(open_mem(0) == 0);
	CHECK(read_all() == n);
	CHECK(j.next_seq == n + 1);
	journal_close(&j);
	/* The tail is cut at the last valid record (an empty file is removed). */
	struct mem_file *seg = by_name("00000000000000000001.jnl");
	CHECK(torn_offset == 0 ? !seg : (seg && seg->len == torn_offset));

	CHECK(open_mem(0) == 0);
	CHECK(!j.report.torn && read_all() == n);
	struct journal_rec r = { 0 };
	uint64_t seq = 0;
	r.kind = JOURNAL_KIND_EXECUTION;
	r.source = JOURNAL_SRC_PUSH;
	strcpy(r.account, "main");
	r.raw = "{}";
	r.raw_len = 2;
	CHECK(journal_append(&j, &r, &seq) == 0 && seq == n + 1);
	CHECK(read_all() == n + 1);
	journal_close(&j);
	return 0;
}
