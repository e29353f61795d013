/*
 * resolv.c -- the non-blocking stub resolver; the contract is in resolv.h.
 *
 * Layout: names (text and wire forms), the answer parser, the start-up files,
 * the cache, and the lookup state machine (lookup -> try -> answer or
 * timeout -> finish -> deliver from the query's timer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "resolv.h"

#define RESOLV_HDR 12        /* DNS header bytes */
#define RESOLV_JUMPS_MAX 128 /* compression pointers in one name */
#define RESOLV_LINE_MAX 1024 /* longer lines of the start-up files are skipped */
/* The query timer is periodic only so that the loop keeps its slot between
 * tries: it is always re-armed or cancelled before this period runs out. */
#define RESOLV_TIMER_HOLD_MS ((int64_t)1 << 40)

/* A lookup holds one loop timer and at most one fd; the resolver may take a
 * quarter of each table, the connections and sinks keep the rest. */
_Static_assert(RESOLV_QUERIES_MAX <= LOOP_FDS_MAX / 4, "resolver fds vs loop table");
_Static_assert(RESOLV_QUERIES_MAX <= LOOP_TIMERS_MAX / 4, "resolver timers vs loop table");
/* Query ids are seq * RESOLV_QUERIES_MAX + slot; see resolv_query_new. */
_Static_assert((RESOLV_QUERIES_MAX & (RESOLV_QUERIES_MAX - 1)) == 0, "slot bits");
_Static_assert(RESOLV_ADDRS_MAX >= 1 && RESOLV_CNAME_MAX >= 1, "limits");

/* ---- names ---- */

static unsigned char resolv_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static int resolv_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Ends the label whose length byte is at out[at] (text at *p is '.' or NUL);
 * returns the new used length, or 0 when the label is invalid. */
static size_t resolv_label_end(unsigned char *out, size_t at, size_t len, char c)
{
	size_t label = len - at - 1;

	/* Only the root may be empty, and only after a trailing dot. */
	if (label > 63 || (label == 0 && (c != '\0' || at == 0)))
		return 0;
	out[at] = (unsigned char)label;
	if (c == '\0' && label > 0) {
		if (len >= RESOLV_WIRE_NAME_MAX)
			return 0;
		out[len++] = 0;
	}
	return len;
}

/*
 * A host name as text -> its uncompressed wire form, lowercased, into out
 * (RESOLV_WIRE_NAME_MAX bytes). Comparing names in wire form is exact: a '.'
 * can never be taken for a label boundary or the other way round.
 */
static int resolv_name_to_wire(const char *name, unsigned char *out, size_t *out_len)
{
	size_t at = 0, len = 1; /* at: the current label's length byte */

	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			len = resolv_label_end(out, at, len, *p);
			if (len == 0)
				return FR_EINVAL;
			if (*p == '\0') {
				*out_len = len;
				return 0;
			}
			if (len >= RESOLV_WIRE_NAME_MAX)
				return FR_EINVAL;
			at = len++;
			continue;
		}
		if (!resolv_host_char((unsigned char)*p) || len >= RESOLV_WIRE_NAME_MAX)
			return FR_EINVAL;
		out[len++] = resolv_lower((unsigned char)*p);
	}
}

/* Validates name and writes its lookup form (lowercased, no trailing dot). */
static int resolv_name_norm(const char *name, char out[RESOLV_NAME_MAX])
{
	unsigned char wire[RESOLV_WIRE_NAME_MAX];
	size_t wire_len, len = strlen(name);

	if (resolv_name_to_wire(name, wire, &wire_len) < 0)
		return FR_EINVAL;
	if (len > 0 && name[len - 1] == '.')
		len--;
	assert(len < RESOLV_NAME_MAX); /* the wire form's 255 bytes bound the text */
	for (size_t i = 0; i < len; i++)
		out[i] = (char)resolv_lower((unsigned char)name[i]);
	out[len] = '\0';
	return 0;
}

/* ---- the answer parser ---- */

static unsigned resolv_u16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t resolv_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Follows a compression pointer at pos; returns 0 or -1. */
static int resolv_name_jump(const unsigned char *msg, size_t n, size_t *pos, size_t *run,
                            int *jumps, const char **why)
{
	size_t to;

	*why = "compression pointer not strictly backwards";
	if (*pos + 1 >= n) {
		*why = "name runs past the end";
		return -1;
	}
	to = (size_t)(msg[*pos] & 0x3F) << 8 | msg[*pos + 1];
	/* Only to before where the current run of labels began: each jump
	 * lowers run, so no pointer chain can loop; the jump bound caps the
	 * work a chain of pointers to pointers can cost. No name lives in the
	 * header. */
	if (to >= *run || to < RESOLV_HDR)
		return -1;
	if (++*jumps > RESOLV_JUMPS_MAX) {
		*why = "too many compression pointers";
		return -1;
	}
	*pos = *run = to;
	return 0;
}

/* Checks a label's length byte c at pos; 0, or -1 with the reason. */
static int resolv_label_check(size_t n, size_t pos, unsigned c, size_t len, const char **why)
{
	if (c & 0xC0)
		*why = "reserved label type"; /* 0x40, 0x80: obsolete or unassigned */
	else if (len + 1 + c > RESOLV_WIRE_NAME_MAX)
		*why = "name longer than 255 bytes";
	else if (pos + 1 + c > n)
		*why = "name runs past the end";
	else
		return 0;
	return -1;
}

/*
 * Reads the possibly compressed name at *off into out (uncompressed wire
 * form, lowercased, at most RESOLV_WIRE_NAME_MAX bytes); moves *off past the
 * name where it is stored. Returns 0, or -1 with the reason in *why.
 */
static int resolv_name_read(const unsigned char *msg, size_t n, size_t *off, unsigned char *out,
                            size_t *out_len, const char **why)
{
	size_t pos = *off, run = *off, len = 0, end = 0;
	int jumps = 0;

	for (;;) {
		unsigned c;

		if (pos >= n) {
			*why = "name runs past the end";
			return -1;
		}
		c = msg[pos];
		if ((c & 0xC0) == 0xC0) {
			if (end == 0)
				end = pos + 2;
			if (resolv_name_jump(msg, n, &pos, &run, &jumps, why) < 0)
				return -1;
			continue;
		}
		if (resolv_label_check(n, pos, c, len, why) < 0)
			return -1;
		out[len++] = (unsigned char)c;
		for (unsigned i = 0; i < c; i++)
			out[len++] = resolv_lower(msg[pos + 1 + i]);
		pos += 1 + c;
		if (c == 0)
			break;
	}
	*out_len = len;
	*off = end ? end : pos;
	return 0;
}

/* One resource record of the answer section. */
struct resolv_rr {
	unsigned char owner[RESOLV_WIRE_NAME_MAX];
	size_t owner_len;
	unsigned type, cls;
	uint32_t ttl_s;
	size_t rdata, rdlen; /* offset and length of the data in the message */
};

/* Reads the record at *off and moves past it; 0, or -1 with the reason. */
static int resolv_rr_read(const unsigned char *msg, size_t n, size_t *off, struct resolv_rr *rr,
                          const char **why)
{
	size_t p = *off;

	if (resolv_name_read(msg, n, &p, rr->owner, &rr->owner_len, why) < 0)
		return -1;
	*why = "record exceeds the message";
	if (n - p < 10)
		return -1;
	rr->type = resolv_u16(msg + p);
	rr->cls = resolv_u16(msg + p + 2);
	rr->ttl_s = resolv_u32(msg + p + 4);
	if (rr->ttl_s > 0x7FFFFFFFu) /* RFC 2181 8: a TTL with the top bit set means 0 */
		rr->ttl_s = 0;
	rr->rdlen = resolv_u16(msg + p + 8);
	rr->rdata = p + 10;
	if (n - rr->rdata < rr->rdlen)
		return -1;
	*off = rr->rdata + rr->rdlen;
	return 0;
}

/* The message being parsed and where its answer section is. */
struct resolv_msg {
	const unsigned char *p;
	size_t n;
	size_t an_off;
	unsigned an;
	int qtype;
};

static int resolv_owner_is(const struct resolv_rr *rr, const unsigned char *name, size_t len)
{
	return rr->owner_len == len && memcmp(rr->owner, name, len) == 0;
}

/* Adds the address record rr to out unless already there or out is full. */
static int resolv_addr_add(const struct resolv_msg *m, const struct resolv_rr *rr,
                           struct resolv_answer *out)
{
	struct resolv_addr a = {m->qtype == RESOLV_TYPE_A ? AF_INET : AF_INET6, {0}};
	size_t want = m->qtype == RESOLV_TYPE_A ? 4 : 16;

	if (rr->rdlen != want) {
		out->why = "address record of the wrong length";
		return -1;
	}
	memcpy(a.ip, m->p + rr->rdata, want);
	if (rr->ttl_s < out->ttl_s)
		out->ttl_s = rr->ttl_s;
	for (int i = 0; i < out->n; i++)
		if (memcmp(&out->addrs[i], &a, sizeof a) == 0)
			return 0;
	if (out->n < RESOLV_ADDRS_MAX)
		out->addrs[out->n++] = a;
	return 0;
}

/* Reads the CNAME target of rr; it must fill the record's data exactly. */
static int resolv_cname_read(const struct resolv_msg *m, const struct resolv_rr *rr,
                             unsigned char *target, size_t *target_len)
{
	const char *why;
	size_t p = rr->rdata;

	if (resolv_name_read(m->p, m->n, &p, target, target_len, &why) < 0 ||
	    p != rr->rdata + rr->rdlen)
		return -1;
	return 0;
}

/*
 * Walks the answer section once, checking every record against the
 * message's bounds. collect = 0: returns 1 with the target of the first
 * CNAME owned by name (0: there is none). collect = 1: adds the records of
 * the asked type owned by name to out. -1 when the message is malformed.
 */
static int resolv_scan(const struct resolv_msg *m, const unsigned char *name, size_t name_len,
                       int collect, unsigned char *target, size_t *target_len,
                       struct resolv_answer *out)
{
	size_t off = m->an_off;
	struct resolv_rr rr;

	for (unsigned i = 0; i < m->an; i++) {
		if (resolv_rr_read(m->p, m->n, &off, &rr, &out->why) < 0)
			return -1;
		if (rr.cls != RESOLV_CLASS_IN || !resolv_owner_is(&rr, name, name_len))
			continue;
		if (!collect && rr.type == RESOLV_TYPE_CNAME) {
			if (resolv_cname_read(m, &rr, target, target_len) < 0) {
				out->why = "CNAME data is not one name";
				return -1;
			}
			if (rr.ttl_s < out->ttl_s)
				out->ttl_s = rr.ttl_s;
			return 1;
		}
		if (collect && rr.type == (unsigned)m->qtype && resolv_addr_add(m, &rr, out) < 0)
			return -1;
	}
	return 0;
}

/* Follows the CNAME chain from the question's name, then collects the
 * addresses of its last name. */
static int resolv_answers(const struct resolv_msg *m, const unsigned char *qname, size_t qlen,
                          struct resolv_answer *out)
{
	unsigned char names[2][RESOLV_WIRE_NAME_MAX]; /* the next target never overwrites name */
	const unsigned char *name = qname;
	size_t len = qlen;
	int rc, cur = 0;

	out->ttl_s = UINT32_MAX;
	while ((rc = resolv_scan(m, name, len, 0, names[cur], &len, out)) == 1) {
		/* A loop (a -> b -> a) also ends here: it never stops finding a CNAME. */
		if (++out->cnames > RESOLV_CNAME_MAX) {
			out->why = "CNAME chain too long or looping";
			return RESOLV_MALFORMED;
		}
		name = names[cur];
		cur ^= 1;
	}
	if (rc < 0 || resolv_scan(m, name, len, 1, NULL, NULL, out) < 0)
		return RESOLV_MALFORMED;
	if (out->n == 0) {
		out->ttl_s = 0;
		return RESOLV_NODATA;
	}
	return RESOLV_OK;
}

static int resolv_rcode_status(int rcode)
{
	return rcode == 3 ? RESOLV_NXDOMAIN : RESOLV_SERVFAIL;
}

static const char *resolv_rcode_str(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 3:
		return "NXDOMAIN";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	}
	return "error RCODE";
}

/* The header: id, QR set, opcode QUERY; takes RCODE and TC. */
static int resolv_header(const unsigned char *msg, size_t n, uint16_t id, struct resolv_answer *out)
{
	unsigned flags;

	if (n < RESOLV_HDR) {
		out->why = "shorter than a header";
		return RESOLV_MISMATCH;
	}
	flags = resolv_u16(msg + 2);
	if (resolv_u16(msg) != id) {
		out->why = "another id";
		return RESOLV_MISMATCH;
	}
	if ((flags & 0x8000) == 0 || (flags & 0x7800) != 0) {
		out->why = "not an answer to a standard query";
		return RESOLV_MISMATCH;
	}
	out->rcode = (int)(flags & 0x000F);
	out->truncated = (flags & 0x0200) != 0;
	return RESOLV_OK;
}

/* The echoed question must be ours: one question, same name, type, class IN. */
static int resolv_question(const unsigned char *msg, size_t n, size_t *off,
                           const unsigned char *want, size_t want_len, int qtype,
                           struct resolv_answer *out)
{
	unsigned char name[RESOLV_WIRE_NAME_MAX];
	const char *why;
	size_t len;

	if (resolv_u16(msg + 4) != 1) {
		out->why = "question count is not 1";
		return RESOLV_MISMATCH;
	}
	if (resolv_name_read(msg, n, off, name, &len, &why) < 0 || n - *off < 4) {
		out->why = "unreadable question";
		return RESOLV_MISMATCH;
	}
	if (len != want_len || memcmp(name, want, len) != 0 ||
	    resolv_u16(msg + *off) != (unsigned)qtype ||
	    resolv_u16(msg + *off + 2) != RESOLV_CLASS_IN) {
		out->why = "another question";
		return RESOLV_MISMATCH;
	}
	*off += 4;
	return RESOLV_OK;
}

/* see resolv.h */
int resolv_parse_answer(const unsigned char *msg, size_t n, uint16_t id, const char *name,
                        int qtype, struct resolv_answer *out)
{
	unsigned char want[RESOLV_WIRE_NAME_MAX];
	size_t want_len, off = RESOLV_HDR;
	int st;

	assert(qtype == RESOLV_TYPE_A || qtype == RESOLV_TYPE_AAAA);
	memset(out, 0, sizeof *out);
	out->why = "";
	st = resolv_name_to_wire(name, want, &want_len);
	assert(st == 0); /* precondition: a valid host name */
	if ((st = resolv_header(msg, n, id, out)) != RESOLV_OK)
		return st;
	/* REFUSED and FORMERR often come without the question; with the right
	 * id from the connected server they are taken as the answer. */
	if (resolv_u16(msg + 4) == 0 && out->rcode != 0)
		return resolv_rcode_status(out->rcode);
	if ((st = resolv_question(msg, n, &off, want, want_len, qtype, out)) != RESOLV_OK)
		return st;
	if (out->rcode != 0)
		return resolv_rcode_status(out->rcode);
	if (out->truncated)
		return RESOLV_TRUNCATED;
	st = resolv_answers(&(struct resolv_msg){msg, n, off, resolv_u16(msg + 6), qtype}, want,
	                    want_len, out);
	if (st != RESOLV_OK) {
		out->n = 0;
		out->ttl_s = 0;
		memset(out->addrs, 0, sizeof out->addrs);
	}
	assert(st != RESOLV_OK || (out->n >= 1 && out->n <= RESOLV_ADDRS_MAX));
	return st;
}

/* see resolv.h */
int resolv_build_query(unsigned char *buf, size_t cap, uint16_t id, const char *name, int qtype)
{
	unsigned char wire[RESOLV_WIRE_NAME_MAX];
	size_t len;

	if (resolv_name_to_wire(name, wire, &len) < 0)
		return FR_EINVAL;
	if (cap < RESOLV_HDR + len + 4)
		return FR_ERANGE;
	memset(buf, 0, RESOLV_HDR);
	buf[0] = (unsigned char)(id >> 8);
	buf[1] = (unsigned char)id;
	buf[2] = 0x01; /* RD: the server recurses for us */
	buf[5] = 1;    /* one question */
	memcpy(buf + RESOLV_HDR, wire, len);
	buf[RESOLV_HDR + len] = (unsigned char)(qtype >> 8);
	buf[RESOLV_HDR + len + 1] = (unsigned char)qtype;
	buf[RESOLV_HDR + len + 2] = 0;
	buf[RESOLV_HDR + len + 3] = RESOLV_CLASS_IN;
	return (int)(RESOLV_HDR + len + 4);
}

/* ---- addresses and small helpers ---- */

/* 1 when text is a numeric IPv4 or IPv6 address, stored in *a. */
/* see resolv.h */
int resolv_literal(const char *text, struct resolv_addr *a)
{
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, text, a->ip) == 1) {
		a->family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, text, a->ip) == 1) {
		a->family = AF_INET6;
		return 1;
	}
	return 0;
}

/* see resolv.h */
const char *resolv_addr_str(const struct resolv_addr *a, char *buf, size_t cap)
{
	if (!inet_ntop(a->family, a->ip, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
	return buf;
}

/* see resolv.h */
socklen_t resolv_addr_sockaddr(const struct resolv_addr *a, uint16_t port,
                               struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		memcpy(&in4->sin_addr, a->ip, 4);
		return sizeof *in4;
	}
	assert(a->family == AF_INET6);
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	memcpy(&in6->sin6_addr, a->ip, 16);
	return sizeof *in6;
}

/* see resolv.h */
const char *resolv_status_str(int status)
{
	switch (status) {
	case RESOLV_OK:
		return "ok";
	case RESOLV_NXDOMAIN:
		return "NXDOMAIN";
	case RESOLV_NODATA:
		return "no address";
	case RESOLV_SERVFAIL:
		return "server failure";
	case RESOLV_TIMEOUT:
		return "timeout";
	case RESOLV_TRUNCATED:
		return "truncated";
	case RESOLV_MALFORMED:
		return "malformed answer";
	case RESOLV_NOSERVERS:
		return "no nameserver";
	case RESOLV_IO:
		return "socket error";
	case RESOLV_MISMATCH:
		return "not an answer";
	}
	return "unknown";
}

/* see resolv.h */
int resolv_status_err(int status)
{
	switch (status) {
	case RESOLV_OK:
		return 0;
	case RESOLV_NXDOMAIN:
	case RESOLV_NODATA:
		return FR_EINVAL;
	case RESOLV_TIMEOUT:
		return FR_ETIMEDOUT;
	case RESOLV_TRUNCATED:
	case RESOLV_MALFORMED:
	case RESOLV_MISMATCH:
		return FR_EPROTO;
	case RESOLV_NOSERVERS:
		return FR_ECONFIG;
	case RESOLV_SERVFAIL:
	case RESOLV_IO:
		return FR_EIO;
	}
	return FR_EIO;
}

static void resolv_copy(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src);

	assert(len < cap);
	memcpy(dst, src, len + 1);
}

/* Splits the next blank-separated token off *p (NUL-terminating it); NULL at the end. */
static char *resolv_token(char **p)
{
	char *s = *p, *t;

	s += strspn(s, " \t\r\f\v");
	if (*s == '\0')
		return NULL;
	t = s + strcspn(s, " \t\r\f\v");
	if (*t != '\0')
		*t++ = '\0';
	*p = t;
	return s;
}

/* A decimal number of at most 9 digits; 0 or -1. */
static int resolv_uint(const char *s, long *v)
{
	size_t len = strspn(s, "0123456789");

	if (len == 0 || len > 9 || s[len] != '\0')
		return -1;
	*v = 0;
	for (size_t i = 0; i < len; i++)
		*v = *v * 10 + (s[i] - '0');
	return 0;
}

static long resolv_clamp(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- /etc/resolv.conf and /etc/hosts ---- */

typedef void (*resolv_line_fn)(struct resolv *r, char *line, const char *path, int lineno);

static void resolv_line_done(struct resolv *r, resolv_line_fn fn, char *line, size_t len,
                             int overlong, const char *path, int lineno)
{
	if (overlong) {
		log_warn("line too long: ignored", LS("path", path), LI("line", lineno),
		         LI("max", RESOLV_LINE_MAX - 1));
		return;
	}
	line[len] = '\0';
	fn(r, line, path, lineno);
}

/*
 * Calls fn for every line of path, read through fixed buffers (no stdio:
 * nothing may allocate). Returns 0, 1 when the file does not exist, or FR_EIO.
 */
static int resolv_file_lines(struct resolv *r, const char *path, resolv_line_fn fn)
{
	char chunk[2048], line[RESOLV_LINE_MAX];
	size_t len = 0;
	int lineno = 1, overlong = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 : FR_EIO;
	while ((got = read(fd, chunk, sizeof chunk)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			close(fd);
			return FR_EIO;
		}
		for (ssize_t i = 0; i < got; i++) {
			if (chunk[i] != '\n') {
				if (len < sizeof line - 1)
					line[len++] = chunk[i];
				else
					overlong = 1;
				continue;
			}
			resolv_line_done(r, fn, line, len, overlong, path, lineno++);
			len = 0;
			overlong = 0;
		}
	}
	if (len > 0 || overlong) /* a last line without its newline */
		resolv_line_done(r, fn, line, len, overlong, path, lineno);
	close(fd);
	return 0;
}

static void resolv_server_text(struct resolv_server *s, const char *host, unsigned port)
{
	if (s->addr.sa.sa_family == AF_INET6)
		snprintf(s->text, sizeof s->text, "[%s]:%u", host, port);
	else
		snprintf(s->text, sizeof s->text, "%s:%u", host, port);
}

/* host is a numeric address (IPv6 only when v6_only). */
static int resolv_server_set(struct resolv_server *s, const char *host, long port, int v6_only)
{
	memset(s, 0, sizeof *s);
	if (!v6_only && inet_pton(AF_INET, host, &s->addr.in4.sin_addr) == 1) {
		s->addr.in4.sin_family = AF_INET;
		s->addr.in4.sin_port = htons((uint16_t)port);
		s->addr_len = sizeof s->addr.in4;
	} else if (inet_pton(AF_INET6, host, &s->addr.in6.sin6_addr) == 1) {
		s->addr.in6.sin6_family = AF_INET6;
		s->addr.in6.sin6_port = htons((uint16_t)port);
		s->addr_len = sizeof s->addr.in6;
	} else {
		return -1;
	}
	resolv_server_text(s, host, (unsigned)port);
	return 0;
}

/*
 * "ADDR", or the test extension "IPv4:PORT" / "[IPv6]:PORT". An IPv6
 * address has at least two colons, so exactly one colon means IPv4:PORT.
 */
static int resolv_server_parse(const char *text, struct resolv_server *s)
{
	char host[INET6_ADDRSTRLEN];
	const char *start = text, *end, *port_text = NULL, *colon = strchr(text, ':');
	long port = RESOLV_PORT;
	int bracketed = text[0] == '[';

	if (bracketed) {
		start = text + 1;
		end = strchr(start, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -1;
		port_text = end[1] == ':' ? end + 2 : NULL;
	} else if (colon && !strchr(colon + 1, ':')) {
		end = colon;
		port_text = colon + 1;
	} else {
		end = text + strlen(text);
	}
	if ((size_t)(end - start) >= sizeof host)
		return -1;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	if (port_text && (resolv_uint(port_text, &port) < 0 || port < 1 || port > 65535))
		return -1;
	return resolv_server_set(s, host, port, bracketed);
}

static void resolv_conf_nameserver(struct resolv *r, const char *text, const char *path, int lineno)
{
	const char *why = NULL;

	if (!text)
		why = "nameserver without an address";
	else if (r->servers_n == RESOLV_SERVERS_MAX)
		why = "more than RESOLV_SERVERS_MAX nameservers";
	else if (resolv_server_parse(text, &r->servers[r->servers_n]) < 0)
		why = "not a numeric address (with an optional :port)";
	if (why) {
		log_warn("nameserver ignored", LS("path", path), LI("line", lineno),
		         LS("value", text), LS("reason", why));
		return;
	}
	r->servers_n++;
}

static void resolv_conf_option(struct resolv *r, const char *opt, const char *path, int lineno)
{
	long v;

	if (strncmp(opt, "timeout:", 8) == 0 && resolv_uint(opt + 8, &v) == 0)
		r->timeout_ms = (int)resolv_clamp(v, 1, RESOLV_TIMEOUT_S_MAX) * 1000;
	else if (strncmp(opt, "attempts:", 9) == 0 && resolv_uint(opt + 9, &v) == 0)
		r->attempts = (int)resolv_clamp(v, 1, RESOLV_ATTEMPTS_MAX);
	else if (strncmp(opt, "timeout:", 8) == 0 || strncmp(opt, "attempts:", 9) == 0)
		log_warn("option ignored", LS("path", path), LI("line", lineno), LS("value", opt),
		         LS("reason", "not a number"));
	/* Other options (ndots, rotate, edns0, ...) do not apply here. */
}

static void resolv_conf_line(struct resolv *r, char *line, const char *path, int lineno)
{
	char *p = line, *key, *opt;

	line[strcspn(line, "#;")] = '\0';
	key = resolv_token(&p);
	if (!key)
		return;
	if (strcmp(key, "nameserver") == 0)
		resolv_conf_nameserver(r, resolv_token(&p), path, lineno);
	else if (strcmp(key, "options") == 0)
		while ((opt = resolv_token(&p)))
			resolv_conf_option(r, opt, path, lineno);
	/* search, domain, sortlist: ignored on purpose, see resolv.h. */
}

static void resolv_hosts_add(struct resolv *r, const char *name, const struct resolv_addr *a,
                             const char *path, int lineno)
{
	struct resolv_host *h;

	if (r->hosts_n == RESOLV_HOSTS_MAX) {
		r->hosts_dropped++;
		return;
	}
	h = &r->hosts[r->hosts_n];
	if (resolv_name_norm(name, h->name) < 0) {
		log_warn("hosts name ignored", LS("path", path), LI("line", lineno),
		         LS("value", name), LS("reason", "not a host name"));
		return;
	}
	h->addr = *a;
	r->hosts_n++;
}

static void resolv_hosts_line(struct resolv *r, char *line, const char *path, int lineno)
{
	struct resolv_addr a;
	char *p = line, *addr, *name;

	line[strcspn(line, "#")] = '\0';
	addr = resolv_token(&p);
	if (!addr)
		return;
	if (!resolv_literal(addr, &a)) {
		log_warn("hosts line ignored", LS("path", path), LI("line", lineno),
		         LS("value", addr), LS("reason", "not a numeric address"));
		return;
	}
	while ((name = resolv_token(&p)))
		resolv_hosts_add(r, name, &a, path, lineno);
}

/* Reads one start-up file; a missing one is reported and otherwise fine. */
static int resolv_read_file(struct resolv *r, const char *path, resolv_line_fn fn)
{
	int rc = resolv_file_lines(r, path, fn);

	if (rc == 1)
		log_warn("file not found", LS("path", path));
	else if (rc < 0)
		log_error("cannot read file", LS("path", path), LS("error", strerror(errno)));
	return rc < 0 ? rc : 0;
}

/* ---- the cache ---- */

static int64_t resolv_now_ms(const struct resolv *r)
{
	const struct loop_sys *sys = r->loop->sys;

	return sys->mono_ms(sys->ctx);
}

static struct resolv_cache_entry *resolv_cache_find(struct resolv *r, const char *name, int family)
{
	for (int i = 0; i < RESOLV_CACHE_MAX; i++) {
		struct resolv_cache_entry *e = &r->cache[i];

		if (e->used && e->family == family && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

/* Where (name, family) goes: its own entry, a free one, or the one that
 * expires first (expired entries first of all). */
static struct resolv_cache_entry *resolv_cache_slot(struct resolv *r, const char *name, int family)
{
	struct resolv_cache_entry *e = resolv_cache_find(r, name, family), *best = NULL;

	for (int i = 0; !e && i < RESOLV_CACHE_MAX; i++) {
		if (!r->cache[i].used)
			return &r->cache[i];
		if (!best || r->cache[i].expires_ms < best->expires_ms)
			best = &r->cache[i];
	}
	return e ? e : best;
}

static void resolv_cache_put(struct resolv *r, const struct resolv_result *res)
{
	struct resolv_cache_entry *e = resolv_cache_slot(r, res->name, res->family);

	assert(res->status == RESOLV_OK && res->n >= 1 && res->ttl_s >= RESOLV_TTL_MIN_S);
	e->used = 1;
	e->family = res->family;
	resolv_copy(e->name, sizeof e->name, res->name);
	e->ttl_s = res->ttl_s;
	e->expires_ms = resolv_now_ms(r) + (int64_t)res->ttl_s * 1000;
	e->n = res->n;
	memcpy(e->addrs, res->addrs, sizeof e->addrs);
}

/* see resolv.h */
int resolv_forget(struct resolv *r, const char *name)
{
	char norm[RESOLV_NAME_MAX];
	int dropped = 0;

	if (resolv_name_norm(name, norm) < 0)
		return FR_EINVAL;
	for (int i = 0; i < RESOLV_CACHE_MAX; i++) {
		if (r->cache[i].used && strcmp(r->cache[i].name, norm) == 0) {
			r->cache[i].used = 0;
			dropped++;
		}
	}
	return dropped;
}

/* ---- lookups ---- */

static void resolv_on_timer(struct loop *l, int timer, void *arg);
static void resolv_on_readable(struct loop *l, int fd, short revents, void *arg);
static void resolv_try_next(struct resolv_query *q);

__attribute__((format(printf, 4, 5))) static void resolv_result_set(struct resolv_result *res,
                                                                    enum resolv_status st,
                                                                    enum resolv_source src,
                                                                    const char *fmt, ...)
{
	va_list ap;

	res->status = st;
	res->err = resolv_status_err(st);
	res->source = st == RESOLV_OK ? src : RESOLV_SRC_NONE;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof res->msg, fmt, ap);
	va_end(ap);
}

/* Records how the current try failed; the lookup's message if it is the last. */
__attribute__((format(printf, 3, 4))) static void
resolv_fail(struct resolv_query *q, enum resolv_status st, const char *fmt, ...)
{
	va_list ap;

	q->fail = st;
	va_start(ap, fmt);
	vsnprintf(q->fail_msg, sizeof q->fail_msg, fmt, ap);
	va_end(ap);
}

static const char *resolv_server_of(const struct resolv_query *q)
{
	return q->r->servers[q->server].text;
}

static int resolv_fail_errno(struct resolv_query *q, const char *what)
{
	resolv_fail(q, RESOLV_IO, "%s to %s: %s", what, resolv_server_of(q), strerror(errno));
	return -1;
}

/* Fallback ids when getrandom cannot answer (early boot, old kernel). */
static uint16_t resolv_xorshift(struct resolv *r)
{
	uint32_t x = r->rand_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	r->rand_state = x;
	return (uint16_t)(x >> 8);
}

/* An unpredictable question id: with the kernel's random source port it is
 * what keeps an off-path sender from forging an answer. */
static uint16_t resolv_random16(struct resolv *r)
{
	uint16_t v;

	if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
		return v;
	return resolv_xorshift(r);
}

static struct resolv_query *resolv_query_new(struct resolv *r, resolv_cb cb, void *arg)
{
	for (int slot = 0; slot < RESOLV_QUERIES_MAX; slot++) {
		struct resolv_query *q = &r->queries[slot];
		uint32_t seq;
		int timer;

		if (q->qid >= 0)
			continue;
		/* Armed now (due at once) and held until the callback ran: a lookup
		 * never finds the loop's timer table full halfway through. */
		timer = loop_timer_add(r->loop, 0, RESOLV_TIMER_HOLD_MS, resolv_on_timer, q);
		if (timer < 0)
			return NULL;
		/* Ids stay positive: the sequence wraps below 2^31 / RESOLV_QUERIES_MAX. */
		seq = r->qid_seq++ & (0x80000000u / RESOLV_QUERIES_MAX - 1);
		memset(q, 0, sizeof *q);
		q->r = r;
		q->qid = (int)(seq * RESOLV_QUERIES_MAX) + slot;
		q->timer = timer;
		q->fd = -1;
		q->cb = cb;
		q->arg = arg;
		q->fail = RESOLV_TIMEOUT;
		return q;
	}
	return NULL;
}

static void resolv_socket_close(struct resolv_query *q)
{
	const struct loop_sys *sys = q->r->loop->sys;

	if (q->fd < 0)
		return;
	loop_fd_del(q->r->loop, q->fd);
	sys->close(sys->ctx, q->fd);
	q->fd = -1;
}

static void resolv_query_free(struct resolv_query *q)
{
	resolv_socket_close(q);
	if (q->timer >= 0)
		loop_timer_cancel(q->r->loop, q->timer);
	q->timer = -1;
	q->qid = -1;
}

/* The result is final: the callback runs from the query's timer, now due. */
static void resolv_finish(struct resolv_query *q)
{
	assert(!q->finished && q->timer >= 0);
	q->finished = 1;
	loop_timer_rearm(q->r->loop, q->timer, 0);
}

static void resolv_deliver(struct resolv_query *q)
{
	struct resolv_result res = q->res;
	struct resolv *r = q->r;
	resolv_cb cb = q->cb;
	void *arg = q->arg;
	int qid = q->qid;

	/* Freed before the call: the callback may start its next lookup here. */
	resolv_query_free(q);
	cb(r, qid, &res, arg);
}

/* Opens this try's socket, connected to its server. connect on UDP only
 * records the peer (it never blocks); from then on the kernel drops every
 * datagram from another address or port. */
static int resolv_socket_open(struct resolv_query *q)
{
	const struct resolv_server *s = &q->r->servers[q->server];
	const struct loop_sys *sys = q->r->loop->sys;
	int fd = socket(s->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return resolv_fail_errno(q, "socket");
	if (connect(fd, &s->addr.sa, s->addr_len) < 0) {
		int e = errno;

		sys->close(sys->ctx, fd);
		errno = e;
		return resolv_fail_errno(q, "connect");
	}
	if (loop_fd_add(q->r->loop, fd, POLLIN, resolv_on_readable, q) < 0) {
		sys->close(sys->ctx, fd);
		resolv_fail(q, RESOLV_IO, "the loop's fd table is full");
		return -1;
	}
	q->fd = fd;
	return 0;
}

/* Sends sub's question with a fresh id. */
static int resolv_send(struct resolv_query *q, struct resolv_sub *sub)
{
	unsigned char buf[RESOLV_HDR + RESOLV_WIRE_NAME_MAX + 4];
	const struct loop_sys *sys = q->r->loop->sys;
	int len;
	ssize_t sent;

	sub->id = resolv_random16(q->r);
	len = resolv_build_query(buf, sizeof buf, sub->id, q->name, sub->qtype);
	assert(len > 0); /* resolv_lookup validated the name */
	sent = sys->write(sys->ctx, q->fd, buf, (size_t)len);
	if (sent != len) {
		if (sent >= 0)
			errno = EMSGSIZE; /* UDP sends whole datagrams or nothing */
		return resolv_fail_errno(q, "send");
	}
	q->r->questions_sent++;
	return 0;
}

/* Starts a try against q->server: a socket and the questions still open. */
static int resolv_try_send(struct resolv_query *q)
{
	if (resolv_socket_open(q) < 0)
		return -1;
	for (int i = 0; i < q->subs_n; i++) {
		if (!q->subs[i].done && resolv_send(q, &q->subs[i]) < 0) {
			resolv_socket_close(q);
			return -1;
		}
	}
	return 0;
}

static int resolv_status_rank(enum resolv_status st)
{
	return st == RESOLV_NXDOMAIN ? 3 : st == RESOLV_NODATA ? 1 : st == RESOLV_OK ? 0 : 2;
}

static const char *resolv_family_types(int family)
{
	return family == AF_INET ? "A" : family == AF_INET6 ? "AAAA" : "A or AAAA";
}

/* The message of a failed DNS lookup, from the sub-query that failed worst. */
static void resolv_result_failure(struct resolv_query *q, const struct resolv_sub *sub)
{
	struct resolv_result *res = &q->res;
	const char *server = q->r->servers[sub->server].text;

	switch (sub->status) {
	case RESOLV_NXDOMAIN:
		resolv_result_set(res, sub->status, RESOLV_SRC_DNS, "NXDOMAIN from %s", server);
		break;
	case RESOLV_NODATA:
		resolv_result_set(res, sub->status, RESOLV_SRC_DNS, "no %s record (answer from %s)",
		                  resolv_family_types(q->family), server);
		break;
	case RESOLV_TRUNCATED:
		resolv_result_set(res, sub->status, RESOLV_SRC_DNS,
		                  "truncated answer from %s (no TCP fallback)", server);
		break;
	case RESOLV_TIMEOUT:
		resolv_result_set(res, sub->status, RESOLV_SRC_DNS,
		                  "no answer after %d tries (%d servers x %d attempts, %d ms each)",
		                  q->try_n, q->r->servers_n, q->r->attempts, q->r->timeout_ms);
		break;
	default:
		resolv_result_set(res, sub->status, RESOLV_SRC_DNS, "%s (try %d of %d)",
		                  q->fail_msg, q->try_n, q->tries_max);
		break;
	}
}

static void resolv_result_success(struct resolv_query *q, const struct resolv_sub *first,
                                  uint32_t ttl_s)
{
	struct resolv_result *res = &q->res;

	res->ttl_s = (uint32_t)resolv_clamp(ttl_s, RESOLV_TTL_MIN_S, RESOLV_TTL_MAX_S);
	resolv_result_set(res, RESOLV_OK, RESOLV_SRC_DNS, "%d address%s from %s", res->n,
	                  res->n == 1 ? "" : "es", q->r->servers[first->server].text);
}

/* Merges the sub-queries (A first) into the result. A type still open
 * ended with the last failed try. */
static void resolv_combine(struct resolv_query *q)
{
	const struct resolv_sub *worst = NULL, *first_ok = NULL;
	uint32_t ttl_s = UINT32_MAX;

	for (int i = 0; i < q->subs_n; i++) {
		struct resolv_sub *sub = &q->subs[i];

		if (!sub->done) {
			sub->status = q->fail;
			sub->server = q->server;
		}
		if (sub->status != RESOLV_OK) {
			if (!worst ||
			    resolv_status_rank(sub->status) > resolv_status_rank(worst->status))
				worst = sub;
			continue;
		}
		first_ok = first_ok ? first_ok : sub;
		ttl_s = sub->ans.ttl_s < ttl_s ? sub->ans.ttl_s : ttl_s;
		for (int k = 0; k < sub->ans.n && q->res.n < RESOLV_ADDRS_MAX; k++)
			q->res.addrs[q->res.n++] = sub->ans.addrs[k];
	}
	if (first_ok)
		resolv_result_success(q, first_ok, ttl_s);
	else
		resolv_result_failure(q, worst);
}

static void resolv_finish_dns(struct resolv_query *q)
{
	resolv_socket_close(q);
	resolv_combine(q);
	if (q->res.status == RESOLV_OK)
		resolv_cache_put(q->r, &q->res);
	resolv_finish(q);
}

static int resolv_addrs_known(const struct resolv_query *q)
{
	for (int i = 0; i < q->subs_n; i++)
		if (q->subs[i].done && q->subs[i].status == RESOLV_OK)
			return 1;
	return 0;
}

/* The current try ended without a final answer for every type. */
static void resolv_try_over(struct resolv_query *q)
{
	resolv_socket_close(q);
	/* Waiting through more tries for the other type would delay a usable answer. */
	if (resolv_addrs_known(q))
		resolv_finish_dns(q);
	else
		resolv_try_next(q);
}

/* Starts the next try that can send; when none is left, the lookup ends. */
static void resolv_try_next(struct resolv_query *q)
{
	while (q->try_n < q->tries_max) {
		q->server = q->try_n++ % q->r->servers_n;
		if (resolv_try_send(q) == 0) {
			loop_timer_rearm(q->r->loop, q->timer, q->r->timeout_ms);
			return;
		}
	}
	resolv_finish_dns(q);
}

static void resolv_sub_done(struct resolv_query *q, struct resolv_sub *sub, int st,
                            const struct resolv_answer *ans)
{
	sub->done = 1;
	sub->status = (enum resolv_status)st;
	sub->server = q->server;
	sub->ans = *ans;
}

static int resolv_all_done(const struct resolv_query *q)
{
	for (int i = 0; i < q->subs_n; i++)
		if (!q->subs[i].done)
			return 0;
	return 1;
}

/* An answer to sub's question (parse status st). */
static void resolv_on_answer(struct resolv_query *q, struct resolv_sub *sub, int st,
                             const struct resolv_answer *ans)
{
	switch (st) {
	case RESOLV_OK:
	case RESOLV_NODATA:
	case RESOLV_TRUNCATED:
		resolv_sub_done(q, sub, st, ans);
		break;
	case RESOLV_NXDOMAIN: /* no such name, whatever the type: stop the others too */
		for (int i = 0; i < q->subs_n; i++)
			if (!q->subs[i].done)
				resolv_sub_done(q, &q->subs[i], st, ans);
		break;
	case RESOLV_SERVFAIL:
		resolv_fail(q, RESOLV_SERVFAIL, "%s (RCODE %d) from %s",
		            resolv_rcode_str(ans->rcode), ans->rcode, resolv_server_of(q));
		resolv_try_over(q);
		return;
	default:
		assert(st == RESOLV_MALFORMED);
		resolv_fail(q, RESOLV_MALFORMED, "malformed answer from %s: %s",
		            resolv_server_of(q), ans->why);
		resolv_try_over(q);
		return;
	}
	if (resolv_all_done(q))
		resolv_finish_dns(q);
}

static void resolv_on_datagram(struct resolv_query *q, const unsigned char *msg, size_t n)
{
	struct resolv_answer ans = {.why = "no question open"};

	for (int i = 0; i < q->subs_n; i++) {
		struct resolv_sub *sub = &q->subs[i];
		int st;

		if (sub->done)
			continue;
		st = resolv_parse_answer(msg, n, sub->id, q->name, sub->qtype, &ans);
		if (st == RESOLV_MISMATCH)
			continue;
		if (n > RESOLV_UDP_MAX) { /* the read may have cut it */
			st = RESOLV_MALFORMED;
			ans.why = "answer larger than RESOLV_UDP_MAX";
		}
		resolv_on_answer(q, sub, st, &ans);
		return;
	}
	q->r->answers_ignored++;
	log_debug("dns datagram ignored", LS("name", q->name), LS("server", resolv_server_of(q)),
	          LI("bytes", n), LS("reason", ans.why));
}

static void resolv_on_readable(struct loop *l, int fd, short revents, void *arg)
{
	struct resolv_query *q = arg;
	unsigned char buf[RESOLV_UDP_MAX + 1]; /* one more: to see a datagram that was cut */

	(void)revents;
	/* Stop when an answer ended the try: fd is closed, or a new try's. */
	while (q->fd == fd && !q->finished) {
		ssize_t n = l->sys->read(l->sys->ctx, fd, buf, sizeof buf);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n < 0) { /* ECONNREFUSED: an ICMP port unreachable from the server */
			resolv_fail_errno(q, "receive");
			resolv_try_over(q);
			return;
		}
		resolv_on_datagram(q, buf, (size_t)n);
	}
}

static void resolv_on_timer(struct loop *l, int timer, void *arg)
{
	struct resolv_query *q = arg;

	(void)l;
	assert(q->qid >= 0 && q->timer == timer);
	if (q->finished) {
		resolv_deliver(q);
		return;
	}
	resolv_fail(q, RESOLV_TIMEOUT, "no answer from %s within %d ms", resolv_server_of(q),
	            q->r->timeout_ms);
	resolv_try_over(q);
}

/* Every address of name in the hosts table, IPv4 first as in DNS results. */
static int resolv_hosts_find(const struct resolv *r, const char *name, int family,
                             struct resolv_result *res)
{
	static const int order[2] = {AF_INET, AF_INET6};

	for (int k = 0; k < 2; k++) {
		if (family != AF_UNSPEC && family != order[k])
			continue;
		for (int i = 0; i < r->hosts_n && res->n < RESOLV_ADDRS_MAX; i++)
			if (r->hosts[i].addr.family == order[k] &&
			    strcmp(r->hosts[i].name, name) == 0)
				res->addrs[res->n++] = r->hosts[i].addr;
	}
	return res->n;
}

static int resolv_cache_get(struct resolv *r, const char *name, int family,
                            struct resolv_result *res)
{
	const struct resolv_cache_entry *e = resolv_cache_find(r, name, family);
	int64_t left_ms = e ? e->expires_ms - resolv_now_ms(r) : 0;

	if (left_ms <= 0)
		return 0;
	res->n = e->n;
	memcpy(res->addrs, e->addrs, sizeof res->addrs);
	res->ttl_s = (uint32_t)((left_ms + 999) / 1000);
	resolv_result_set(res, RESOLV_OK, RESOLV_SRC_CACHE, "cached, %u s left", res->ttl_s);
	r->cache_hits++;
	return 1;
}

/* Answers from what is known here (literal, hosts, cache) or starts DNS. */
static void resolv_start(struct resolv_query *q, const struct resolv_addr *literal)
{
	struct resolv *r = q->r;
	struct resolv_result *res = &q->res;

	if (literal) {
		res->n = 1;
		res->addrs[0] = *literal;
		resolv_result_set(res, RESOLV_OK, RESOLV_SRC_LITERAL, "numeric address");
	} else if (resolv_hosts_find(r, q->name, q->family, res)) {
		resolv_result_set(res, RESOLV_OK, RESOLV_SRC_HOSTS, "hosts file");
	} else if (resolv_cache_get(r, q->name, q->family, res)) {
		/* res is filled */
	} else if (r->servers_n == 0) {
		resolv_result_set(res, RESOLV_NOSERVERS, RESOLV_SRC_NONE, "no nameserver in %s",
		                  r->conf_path);
	} else {
		if (q->family != AF_INET6)
			q->subs[q->subs_n++].qtype = RESOLV_TYPE_A;
		if (q->family != AF_INET)
			q->subs[q->subs_n++].qtype = RESOLV_TYPE_AAAA;
		q->tries_max = r->attempts * r->servers_n;
		resolv_try_next(q);
		return;
	}
	resolv_finish(q);
}

/* see resolv.h */
int resolv_lookup(struct resolv *r, const char *name, int family, resolv_cb cb, void *arg)
{
	struct resolv_addr lit;
	char norm[RESOLV_NAME_MAX];
	struct resolv_query *q;
	int is_literal;

	assert(r->loop != NULL && name != NULL && cb != NULL);
	if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC)
		return FR_EINVAL;
	is_literal = resolv_literal(name, &lit);
	if (is_literal && family != AF_UNSPEC && lit.family != family)
		return FR_EINVAL;
	if (!is_literal && resolv_name_norm(name, norm) < 0)
		return FR_EINVAL;
	q = resolv_query_new(r, cb, arg);
	if (!q)
		return FR_EFULL;
	q->family = family;
	resolv_copy(q->name, sizeof q->name, is_literal ? name : norm);
	q->res.family = family;
	resolv_copy(q->res.name, sizeof q->res.name, q->name);
	resolv_start(q, is_literal ? &lit : NULL);
	return q->qid;
}

/* see resolv.h */
int resolv_cancel(struct resolv *r, int qid)
{
	struct resolv_query *q;

	if (qid < 0)
		return FR_EINVAL;
	q = &r->queries[qid % RESOLV_QUERIES_MAX];
	if (q->qid != qid)
		return FR_EINVAL;
	resolv_query_free(q);
	return 0;
}

/* see resolv.h */
void resolv_close(struct resolv *r)
{
	for (int i = 0; i < RESOLV_QUERIES_MAX; i++)
		if (r->queries[i].qid >= 0)
			resolv_query_free(&r->queries[i]);
}

/* see resolv.h */
int resolv_pending(const struct resolv *r)
{
	int n = 0;

	for (int i = 0; i < RESOLV_QUERIES_MAX; i++)
		n += r->queries[i].qid >= 0;
	return n;
}

/* see resolv.h */
int resolv_init(struct resolv *r, struct loop *l, const char *resolv_conf_path,
                const char *hosts_path)
{
	const char *conf = resolv_conf_path ? resolv_conf_path : "/etc/resolv.conf";
	const char *hosts = hosts_path ? hosts_path : "/etc/hosts";
	int rc;

	assert(l != NULL && l->sys->read && l->sys->write && l->sys->close && l->sys->mono_ms);
	if (strlen(conf) >= RESOLV_PATH_MAX)
		return FR_ERANGE;
	memset(r, 0, sizeof *r);
	r->loop = l;
	resolv_copy(r->conf_path, sizeof r->conf_path, conf);
	r->timeout_ms = RESOLV_TIMEOUT_S_DEFAULT * 1000;
	r->attempts = RESOLV_ATTEMPTS_DEFAULT;
	for (int i = 0; i < RESOLV_QUERIES_MAX; i++)
		r->queries[i] = (struct resolv_query){.r = r, .qid = -1, .timer = -1, .fd = -1};
	r->rand_state = ((uint32_t)l->sys->mono_ms(l->sys->ctx) ^ (uint32_t)getpid() << 16) | 1u;
	if ((rc = resolv_read_file(r, conf, resolv_conf_line)) < 0 ||
	    (rc = resolv_read_file(r, hosts, resolv_hosts_line)) < 0)
		return rc;
	if (r->servers_n == 0)
		log_warn("no nameserver: lookups of names outside the hosts file will fail",
		         LS("path", conf));
	if (r->hosts_dropped)
		log_warn("hosts file has more entries than RESOLV_HOSTS_MAX: the rest are ignored",
		         LS("path", hosts), LI("ignored", r->hosts_dropped));
	log_debug("resolver ready", LI("servers", r->servers_n), LI("timeout_ms", r->timeout_ms),
	          LI("attempts", r->attempts), LI("hosts", r->hosts_n));
	return 0;
}
