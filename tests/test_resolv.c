/*
 * Tests of the resolver: the answer parser on hand-built messages, the query
 * builder, resolv.conf and hosts parsing, literals, and the lookup state
 * machine in a simulated clock against an in-process UDP server on loopback
 * (real sockets, time that jumps: retries and TTLs run in no wall time).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "loop.h"
#include "resolv.h"
#include "t.h"

/* ---- a DNS message builder ---- */

struct mb {
	unsigned char b[70000];
	size_t n;
};

static struct mb m1; /* large: static */

static void mb_u8(struct mb *m, unsigned v)
{
	m->b[m->n++] = (unsigned char)v;
}

static void mb_u16(struct mb *m, unsigned v)
{
	mb_u8(m, v >> 8);
	mb_u8(m, v & 0xFF);
}

static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, v >> 16);
	mb_u16(m, v & 0xFFFF);
}

static void mb_set_u16(struct mb *m, size_t off, unsigned v)
{
	m->b[off] = (unsigned char)(v >> 8);
	m->b[off + 1] = (unsigned char)v;
}

/* An uncompressed name: "a.b" -> 1a1b0; "" is the root. */
static void mb_name(struct mb *m, const char *text)
{
	while (*text) {
		size_t len = strcspn(text, ".");

		mb_u8(m, (unsigned)len);
		memcpy(m->b + m->n, text, len);
		m->n += len;
		text += len + (text[len] == '.');
	}
	mb_u8(m, 0);
}

static void mb_ptr(struct mb *m, size_t off)
{
	mb_u16(m, 0xC000 | (unsigned)off);
}

static void mb_header(struct mb *m, unsigned id, unsigned flags, unsigned qd, unsigned an)
{
	m->n = 0;
	mb_u16(m, id);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, 0);
	mb_u16(m, 0);
}

static void mb_question(struct mb *m, const char *name, unsigned type)
{
	mb_name(m, name);
	mb_u16(m, type);
	mb_u16(m, RESOLV_CLASS_IN);
}

/* After the owner name: type, class IN, TTL and the data length. */
static void mb_rr(struct mb *m, unsigned type, uint32_t ttl, unsigned rdlen)
{
	mb_u16(m, type);
	mb_u16(m, RESOLV_CLASS_IN);
	mb_u32(m, ttl);
	mb_u16(m, rdlen);
}

static void mb_a(struct mb *m, uint32_t ttl, unsigned a, unsigned b, unsigned c, unsigned d)
{
	mb_rr(m, RESOLV_TYPE_A, ttl, 4);
	mb_u8(m, a);
	mb_u8(m, b);
	mb_u8(m, c);
	mb_u8(m, d);
}

#define ID 0x1234
#define FLAGS_OK 0x8180 /* QR, RD, RA, NOERROR */
#define QNAME "api.bybit.com"

/* The usual answer: question QNAME A, then one A record owned by a pointer
 * to the question's name (offset 12). */
static void mb_simple(struct mb *m, uint32_t ttl)
{
	mb_header(m, ID, FLAGS_OK, 1, 1);
	mb_question(m, QNAME, RESOLV_TYPE_A);
	mb_ptr(m, 12);
	mb_a(m, ttl, 10, 1, 2, 3);
}

static struct resolv_answer ans;

static int parse(const struct mb *m, int qtype)
{
	return resolv_parse_answer(m->b, m->n, ID, QNAME, qtype, &ans);
}

/* The address as text, for T_EQ_STR. */
static const char *astr(const struct resolv_addr *a)
{
	static char buf[4][INET6_ADDRSTRLEN];
	static int k;

	k = (k + 1) % 4;
	return resolv_addr_str(a, buf[k], sizeof buf[k]);
}

/* Copies the first n bytes of msg to the very end of a static buffer, where
 * ASan's redzone follows: a read past them is caught. */
static unsigned char tail_buf[70000];

static const unsigned char *at_tail(const unsigned char *msg, size_t n)
{
	unsigned char *p = tail_buf + sizeof tail_buf - n;

	memmove(p, msg, n);
	return p;
}

/* ---- the parser ---- */

TEST(resolv_parse_a_with_compression)
{
	mb_simple(&m1, 300);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
	T_EQ_INT(ans.n, 1);
	T_EQ_INT(ans.addrs[0].family, AF_INET);
	T_EQ_STR(astr(&ans.addrs[0]), "10.1.2.3");
	T_EQ_INT(ans.ttl_s, 300);
	T_EQ_INT(ans.cnames, 0);
	T_EQ_INT(ans.rcode, 0);
}

TEST(resolv_parse_aaaa)
{
	static const unsigned char ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

	mb_header(&m1, ID, FLAGS_OK, 1, 1);
	mb_question(&m1, QNAME, RESOLV_TYPE_AAAA);
	mb_ptr(&m1, 12);
	mb_rr(&m1, RESOLV_TYPE_AAAA, 60, 16);
	memcpy(m1.b + m1.n, ip6, 16);
	m1.n += 16;
	T_EQ_INT(parse(&m1, RESOLV_TYPE_AAAA), RESOLV_OK);
	T_EQ_INT(ans.n, 1);
	T_EQ_INT(ans.addrs[0].family, AF_INET6);
	T_EQ_STR(astr(&ans.addrs[0]), "2001:db8::1");
	/* The same answer read as an answer to an A question is another question. */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
}

/* A CNAME chain in order, as servers send it; TTL is the smallest on the way. */
TEST(resolv_parse_cname_chain)
{
	size_t c1, c2;

	mb_header(&m1, ID, FLAGS_OK, 1, 4);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	mb_ptr(&m1, 12);
	mb_rr(&m1, RESOLV_TYPE_CNAME, 300, 0);
	c1 = m1.n;
	mb_name(&m1, "x.edge.net");
	mb_set_u16(&m1, c1 - 2, (unsigned)(m1.n - c1));
	mb_ptr(&m1, c1); /* owner x.edge.net */
	mb_rr(&m1, RESOLV_TYPE_CNAME, 30, 0);
	c2 = m1.n;
	mb_u8(&m1, 2);
	mb_u8(&m1, 'c');
	mb_u8(&m1, 'f');
	mb_ptr(&m1, c1 + 2); /* "cf" + "edge.net" */
	mb_set_u16(&m1, c2 - 2, (unsigned)(m1.n - c2));
	mb_ptr(&m1, c2);
	mb_a(&m1, 120, 192, 0, 2, 1);
	mb_ptr(&m1, c2);
	mb_a(&m1, 120, 192, 0, 2, 2);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
	T_EQ_INT(ans.cnames, 2);
	T_EQ_INT(ans.n, 2);
	T_EQ_STR(astr(&ans.addrs[0]), "192.0.2.1");
	T_EQ_STR(astr(&ans.addrs[1]), "192.0.2.2");
	T_EQ_INT(ans.ttl_s, 30);
}

/* Owner names built as text, records in the order given. */
struct rec {
	const char *owner;
	unsigned type;
	const char *target; /* CNAME */
	unsigned char ip;   /* A: 10.0.0.ip */
	uint32_t ttl;
};

static void mb_records(struct mb *m, const struct rec *recs, int n)
{
	mb_header(m, ID, FLAGS_OK, 1, (unsigned)n);
	mb_question(m, QNAME, RESOLV_TYPE_A);
	for (int i = 0; i < n; i++) {
		mb_name(m, recs[i].owner);
		if (recs[i].type == RESOLV_TYPE_CNAME) {
			mb_rr(m, RESOLV_TYPE_CNAME, recs[i].ttl, 0);
			size_t at = m->n;

			mb_name(m, recs[i].target);
			mb_set_u16(m, at - 2, (unsigned)(m->n - at));
		} else {
			mb_rr(m, recs[i].type, recs[i].ttl, 4);
			mb_u32(m, 0x0A000000u | recs[i].ip);
		}
	}
}

/* Records in any order; addresses of names off the chain do not count. */
TEST(resolv_parse_cname_out_of_order_and_strangers)
{
	static const struct rec recs[] = {
	    {"b.example", RESOLV_TYPE_A, NULL, 1, 50},
	    {"other.example", RESOLV_TYPE_A, NULL, 9, 50},
	    {"a.example", RESOLV_TYPE_CNAME, "B.example", 0, 40},
	    {QNAME, RESOLV_TYPE_CNAME, "a.example", 0, 70},
	    {QNAME, RESOLV_TYPE_A, NULL, 8, 50}, /* beside a CNAME: illegal, not used */
	    {"B.EXAMPLE", RESOLV_TYPE_A, NULL, 2, 60},
	};

	mb_records(&m1, recs, 6);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
	T_EQ_INT(ans.cnames, 2);
	T_EQ_INT(ans.n, 2);
	T_EQ_STR(astr(&ans.addrs[0]), "10.0.0.1");
	T_EQ_STR(astr(&ans.addrs[1]), "10.0.0.2");
	T_EQ_INT(ans.ttl_s, 40);
}

TEST(resolv_parse_cname_loop_is_malformed)
{
	static const struct rec loop2[] = {
	    {QNAME, RESOLV_TYPE_CNAME, "a.example", 0, 1},
	    {"a.example", RESOLV_TYPE_CNAME, QNAME, 0, 1},
	};
	static const struct rec self[] = {{QNAME, RESOLV_TYPE_CNAME, QNAME, 0, 1}};

	mb_records(&m1, loop2, 2);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "CNAME chain too long or looping");
	T_EQ_INT(ans.n, 0);
	mb_records(&m1, self, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
}

/* RESOLV_CNAME_MAX links are followed; one more is refused. */
TEST(resolv_parse_cname_chain_limit)
{
	static char names[RESOLV_CNAME_MAX + 2][32];
	struct rec recs[RESOLV_CNAME_MAX + 2];

	for (int links = RESOLV_CNAME_MAX; links <= RESOLV_CNAME_MAX + 1; links++) {
		for (int i = 0; i <= links; i++)
			snprintf(names[i], sizeof names[i], i ? "n%d.example" : QNAME, i);
		for (int i = 0; i < links; i++)
			recs[i] = (struct rec){names[i], RESOLV_TYPE_CNAME, names[i + 1], 0, 100};
		recs[links] = (struct rec){names[links], RESOLV_TYPE_A, NULL, 7, 100};
		mb_records(&m1, recs, links + 1);
		T_EQ_INT(parse(&m1, RESOLV_TYPE_A),
		         links <= RESOLV_CNAME_MAX ? RESOLV_OK : RESOLV_MALFORMED);
	}
}

/* The chain ends at a name without records: the name exists, no address. */
TEST(resolv_parse_nodata)
{
	static const struct rec dangling[] = {{QNAME, RESOLV_TYPE_CNAME, "gone.example", 0, 5}};

	mb_header(&m1, ID, FLAGS_OK, 1, 0);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_NODATA);
	T_EQ_INT(ans.n, 0);
	T_EQ_INT(ans.ttl_s, 0);
	mb_records(&m1, dangling, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_NODATA);
	/* Records of other types and classes are skipped. */
	mb_header(&m1, ID, FLAGS_OK, 1, 2);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	mb_ptr(&m1, 12);
	mb_rr(&m1, 16 /* TXT */, 5, 3);
	mb_u8(&m1, 2);
	mb_u8(&m1, 'h');
	mb_u8(&m1, 'i');
	mb_ptr(&m1, 12);
	mb_u16(&m1, RESOLV_TYPE_A);
	mb_u16(&m1, 3 /* CH */);
	mb_u32(&m1, 5);
	mb_u16(&m1, 4);
	mb_u32(&m1, 0x01020304);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_NODATA);
}

TEST(resolv_parse_rcodes_and_tc)
{
	mb_simple(&m1, 1);
	mb_set_u16(&m1, 2, FLAGS_OK | 3);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_NXDOMAIN);
	T_EQ_INT(ans.n, 0);
	mb_set_u16(&m1, 2, FLAGS_OK | 2);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_SERVFAIL);
	T_EQ_INT(ans.rcode, 2);
	mb_set_u16(&m1, 2, FLAGS_OK | 5);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_SERVFAIL);
	T_EQ_INT(ans.rcode, 5);
	mb_set_u16(&m1, 2, FLAGS_OK | 0x0200);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_TRUNCATED);
	T_EQ_INT(ans.truncated, 1);
	T_EQ_INT(ans.n, 0);
	/* REFUSED without the question: taken (right id); NOERROR without it: not ours. */
	mb_header(&m1, ID, 0x8105, 0, 0);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_SERVFAIL);
	mb_header(&m1, ID, FLAGS_OK, 0, 0);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
	/* An NXDOMAIN for another question is not ours either. */
	mb_header(&m1, ID, FLAGS_OK | 3, 1, 0);
	mb_question(&m1, "evil.example", RESOLV_TYPE_A);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
}

TEST(resolv_parse_rejects_other_questions)
{
	mb_simple(&m1, 1);
	T_EQ_INT(resolv_parse_answer(m1.b, m1.n, ID + 1, QNAME, RESOLV_TYPE_A, &ans),
	         RESOLV_MISMATCH);
	T_EQ_STR(ans.why, "another id");
	T_EQ_INT(resolv_parse_answer(m1.b, m1.n, ID, "api.bybit.co", RESOLV_TYPE_A, &ans),
	         RESOLV_MISMATCH);
	T_EQ_INT(resolv_parse_answer(m1.b, m1.n, ID, "www." QNAME, RESOLV_TYPE_A, &ans),
	         RESOLV_MISMATCH);
	T_EQ_STR(ans.why, "another question");
	/* The question's case does not matter (0x20 is not used); a trailing dot neither. */
	T_EQ_INT(resolv_parse_answer(m1.b, m1.n, ID, "API.Bybit.COM.", RESOLV_TYPE_A, &ans),
	         RESOLV_OK);
	mb_set_u16(&m1, 2, 0x0100); /* QR clear: a query, not an answer */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
	mb_set_u16(&m1, 2, FLAGS_OK | 0x1000); /* opcode 2 */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
	mb_simple(&m1, 1);
	mb_set_u16(&m1, 4, 2); /* two questions */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
	mb_simple(&m1, 1);
	m1.b[12 + 15 + 3] = 3; /* class CH in the question */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MISMATCH);
	T_EQ_INT(resolv_parse_answer(m1.b, 11, ID, QNAME, RESOLV_TYPE_A, &ans), RESOLV_MISMATCH);
}

/* Answers with records that do not fit, wrong lengths, lying counts. */
TEST(resolv_parse_malformed_records)
{
	mb_simple(&m1, 1);
	mb_set_u16(&m1, 6, 2); /* claims two answers, holds one */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "name runs past the end");
	T_EQ_INT(ans.ttl_s, 0);
	mb_simple(&m1, 1);
	mb_set_u16(&m1, m1.n - 6, 5); /* rdlength 5: past the end */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "record exceeds the message");
	m1.n -= 5; /* the fixed part of the record cut */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "record exceeds the message");
	mb_simple(&m1, 1);
	mb_set_u16(&m1, m1.n - 6, 3); /* an A of 3 bytes, then one byte left over */
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "address record of the wrong length");
	/* CNAME data longer than its name. */
	mb_header(&m1, ID, FLAGS_OK, 1, 1);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	mb_ptr(&m1, 12);
	mb_rr(&m1, RESOLV_TYPE_CNAME, 1, 4);
	mb_ptr(&m1, 12);
	mb_u16(&m1, 0);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "CNAME data is not one name");
}

/* Every strict prefix of a valid answer is refused, never read past its end. */
TEST(resolv_parse_every_prefix)
{
	static const struct rec recs[] = {
	    {QNAME, RESOLV_TYPE_CNAME, "a.example", 0, 70},
	    {"a.example", RESOLV_TYPE_A, NULL, 2, 60},
	};
	int refused = 0;

	mb_records(&m1, recs, 2);
	for (size_t n = 0; n < m1.n; n++) {
		int st = resolv_parse_answer(at_tail(m1.b, n), n, ID, QNAME, RESOLV_TYPE_A, &ans);

		refused += (st == RESOLV_MISMATCH || st == RESOLV_MALFORMED) && ans.n == 0;
	}
	T_EQ_INT(refused, (long long)m1.n);
	T_EQ_INT(resolv_parse_answer(at_tail(m1.b, m1.n), m1.n, ID, QNAME, RESOLV_TYPE_A, &ans),
	         RESOLV_OK);
	/* Trailing bytes after the answer section (authority, additional) are not read. */
	m1.b[m1.n++] = 0xFF;
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
}

/* Compression pointers: backwards only, never into the header, never past the end. */
TEST(resolv_parse_compression_pointers)
{
	size_t owner;

	/* Owner "x" + pointer to the question name: fine. */
	mb_header(&m1, ID, FLAGS_OK, 1, 1);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	mb_u8(&m1, 1);
	mb_u8(&m1, 'x');
	mb_ptr(&m1, 12);
	mb_a(&m1, 1, 1, 1, 1, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_NODATA); /* x.api... is off the chain */

	/* A pointer to itself. */
	mb_header(&m1, ID, FLAGS_OK, 1, 1);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	owner = m1.n;
	mb_ptr(&m1, owner);
	mb_a(&m1, 1, 1, 1, 1, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "compression pointer not strictly backwards");

	/* Forward, and past the end. */
	m1.b[owner + 1] = (unsigned char)(owner + 2);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	mb_set_u16(&m1, owner, 0xC000 | 0x3FFF);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);

	/* Into the header. */
	mb_set_u16(&m1, owner, 0xC000 | 4);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);

	/* Label, then a pointer back into that same label: a loop. */
	mb_header(&m1, ID, FLAGS_OK, 1, 1);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	owner = m1.n;
	mb_u8(&m1, 1);
	mb_u8(&m1, 'x');
	mb_ptr(&m1, owner);
	mb_a(&m1, 1, 1, 1, 1, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);

	/* Reserved label types 0x40 and 0x80. */
	mb_simple(&m1, 1);
	m1.b[12 + 15 + 4] = 0x40;
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "reserved label type");
	m1.b[12 + 15 + 4] = 0x80;
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);

	/* A pointer cut after its first byte. */
	mb_simple(&m1, 1);
	m1.n = 12 + 15 + 4 + 1;
	mb_set_u16(&m1, 6, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
}

/* Opens a record owned by the root with opaque data (type 99): a place
 * for name pieces that pointers can reach. Returns where its data begins. */
static size_t mb_opaque_begin(struct mb *m)
{
	mb_u8(m, 0);
	mb_rr(m, 99, 1, 0);
	return m->n;
}

static void mb_opaque_end(struct mb *m, size_t data)
{
	mb_set_u16(m, data - 2, (unsigned)(m->n - data));
}

/* A chain of pointers to pointers is bounded (work), and so is a name's length. */
TEST(resolv_parse_long_names)
{
	size_t prev, data, last;

	/* 200 pointers, each to the one before: more jumps than allowed. */
	mb_header(&m1, ID, FLAGS_OK, 1, 2);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	data = mb_opaque_begin(&m1);
	prev = 12;
	for (int i = 0; i < 200; i++) {
		size_t here = m1.n;

		mb_ptr(&m1, prev);
		prev = here;
	}
	mb_opaque_end(&m1, data);
	mb_ptr(&m1, prev); /* the A's owner: 201 jumps to reach QNAME */
	mb_a(&m1, 1, 1, 1, 1, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "too many compression pointers");
	/* Pointing at the 100th pointer instead: 101 jumps, within the bound. */
	mb_set_u16(&m1, m1.n - 16, 0xC000 | (unsigned)(data + 2 * 99));
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);

	/* Names of 63-byte labels, each ending in a pointer to the previous one. */
	mb_header(&m1, ID, FLAGS_OK, 1, 2);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	data = mb_opaque_begin(&m1);
	prev = 12;
	for (int i = 0; i < 4; i++) {
		size_t here = m1.n;

		mb_u8(&m1, 63);
		memset(m1.b + m1.n, 'a' + i, 63);
		m1.n += 63;
		mb_ptr(&m1, prev);
		prev = here;
	}
	mb_opaque_end(&m1, data);
	last = m1.n;
	mb_ptr(&m1, prev); /* 4 x 64 + 15 = 271 bytes: too long */
	mb_a(&m1, 1, 1, 1, 1, 1);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_MALFORMED);
	T_EQ_STR(ans.why, "name longer than 255 bytes");
	/* Three such labels (3 x 64 + 15 = 207 bytes) make a name, just not ours. */
	mb_set_u16(&m1, last, 0xC000 | (unsigned)(data + 66 * 2));
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_NODATA);
}

/* A 65,535-byte answer with thousands of records: bounded output, no duplicates. */
TEST(resolv_parse_oversized)
{
	unsigned records = 0;

	mb_header(&m1, ID, FLAGS_OK, 1, 0);
	mb_question(&m1, QNAME, RESOLV_TYPE_A);
	while (m1.n + 16 <= 65535) {
		mb_ptr(&m1, 12);
		mb_a(&m1, 3600 - records % 7, 10, 0, (records / 3) >> 8 & 0xFF,
		     (records / 3) & 0xFF);
		records++;
	}
	mb_set_u16(&m1, 6, records);
	T_CHECK(records > 4000);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
	T_EQ_INT(ans.n, RESOLV_ADDRS_MAX);
	T_EQ_STR(astr(&ans.addrs[0]), "10.0.0.0");
	T_EQ_STR(astr(&ans.addrs[1]), "10.0.0.1"); /* each address came 3 times */
	T_EQ_INT(ans.ttl_s, 3600 - 6);
}

/* RFC 2181: a TTL with the top bit set is 0. */
TEST(resolv_parse_ttl_top_bit)
{
	mb_simple(&m1, 0x80000001u);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
	T_EQ_INT(ans.ttl_s, 0);
	mb_simple(&m1, 0x7FFFFFFFu);
	T_EQ_INT(parse(&m1, RESOLV_TYPE_A), RESOLV_OK);
	T_EQ_INT(ans.ttl_s, 0x7FFFFFFF);
}

/* ---- the query builder and names ---- */

TEST(resolv_build_query_bytes)
{
	static const unsigned char want[] = {
	    0xAB, 0xCD, 0x01, 0x00, 0,   1,   0, 0,   0,   0,   0, 0, 3,  'a', 'p', 'i',
	    5,    'b',  'y',  'b',  'i', 't', 3, 'c', 'o', 'm', 0, 0, 28, 0,   1,
	};
	unsigned char buf[300];

	T_EQ_INT(resolv_build_query(buf, sizeof buf, 0xABCD, "API.bybit.com.", RESOLV_TYPE_AAAA),
	         sizeof want);
	T_CHECK(memcmp(buf, want, sizeof want) == 0);
	T_EQ_INT(resolv_build_query(buf, sizeof want - 1, 1, "api.bybit.com", 1), FR_ERANGE);
	T_EQ_INT(resolv_build_query(buf, sizeof want, 1, "api.bybit.com", 1),
	         (long long)sizeof want);
}

TEST(resolv_names_validated)
{
	static const char *bad[] = {"",      ".",     "a..b",          ".a", "a b", "a/b",
	                            "é.com", "a.b..", "exa\\mple.com", "a:b"};
	char name[300];
	unsigned char buf[600];

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		T_EQ_INT(resolv_build_query(buf, sizeof buf, 1, bad[i], 1), FR_EINVAL);
	/* Labels of 63 characters, not 64. */
	memset(name, 'a', 64);
	name[64] = '\0';
	T_EQ_INT(resolv_build_query(buf, sizeof buf, 1, name, 1), FR_EINVAL);
	name[63] = '\0';
	T_CHECK(resolv_build_query(buf, sizeof buf, 1, name, 1) > 0);
	/* 253 characters (255 bytes in wire form), not 254; a trailing dot is free. */
	for (int i = 0; i < 253; i++)
		name[i] = i % 2 ? '.' : 'x';
	name[253] = '\0';
	T_EQ_INT(resolv_build_query(buf, sizeof buf, 1, name, 1), 12 + 255 + 4);
	name[253] = '.';
	name[254] = '\0';
	T_EQ_INT(resolv_build_query(buf, sizeof buf, 1, name, 1), 12 + 255 + 4);
	name[253] = 'x';
	T_EQ_INT(resolv_build_query(buf, sizeof buf, 1, name, 1), FR_EINVAL);
	T_CHECK(resolv_build_query(buf, sizeof buf, 1, "_srv-x.Host1.example", 1) > 0);
}

TEST(resolv_status_names_and_errors)
{
	T_EQ_STR(resolv_status_str(RESOLV_NXDOMAIN), "NXDOMAIN");
	T_EQ_STR(resolv_status_str(RESOLV_TIMEOUT), "timeout");
	T_EQ_INT(resolv_status_err(RESOLV_OK), 0);
	T_EQ_INT(resolv_status_err(RESOLV_NXDOMAIN), FR_EINVAL);
	T_EQ_INT(resolv_status_err(RESOLV_TIMEOUT), FR_ETIMEDOUT);
	T_EQ_INT(resolv_status_err(RESOLV_NOSERVERS), FR_ECONFIG);
	T_EQ_INT(resolv_status_err(RESOLV_SERVFAIL), FR_EIO);
	T_EQ_INT(resolv_status_err(RESOLV_MALFORMED), FR_EPROTO);
}

TEST(resolv_addr_sockaddr_forms)
{
	struct resolv_addr a = {AF_INET, {127, 0, 0, 1}};
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	T_EQ_INT(resolv_addr_sockaddr(&a, 443, &ss), sizeof(struct sockaddr_in));
	T_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 443);
	T_EQ_INT(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(0x7F000001));
	a.family = AF_INET6;
	memset(a.ip, 0, 16);
	a.ip[15] = 1;
	T_EQ_INT(resolv_addr_sockaddr(&a, 8443, &ss), sizeof(struct sockaddr_in6));
	T_EQ_INT(in6->sin6_family, AF_INET6);
	T_EQ_INT(ntohs(in6->sin6_port), 8443);
	T_CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
}

/* ---- a simulated clock over real loopback sockets ---- */

struct sim {
	int64_t now;
};

static struct sim sim;

static int64_t sim_clock(void *ctx)
{
	return ((struct sim *)ctx)->now;
}

/* Real poll without sleeping; when nothing is ready, time jumps instead. */
static int sim_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	int rc = poll(fds, n, 0);

	if (rc == 0)
		((struct sim *)ctx)->now += timeout_ms;
	return rc;
}

static ssize_t sim_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	return read(fd, buf, n);
}

static ssize_t sim_write(void *ctx, int fd, const void *buf, size_t n)
{
	(void)ctx;
	return write(fd, buf, n);
}

static int sim_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

static const struct loop_sys sim_sys = {
    sim_clock, sim_clock, sim_poll, sim_read, sim_write, sim_close, &sim,
};

static struct loop lp;
static struct resolv rv; /* large: static, as in the product */

/* Writes text to t_tmpdir()/name; returns the path (one of 8 rotating buffers). */
static const char *tfile(const char *name, const char *text)
{
	static char paths[8][300];
	static int k;
	char *p = paths[k = (k + 1) % 8];
	int fd;

	snprintf(p, sizeof paths[0], "%s/%s", t_tmpdir(), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	T_REQUIRE(fd >= 0);
	T_REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return p;
}

static int world(const char *conf, const char *hosts)
{
	sim.now = 1000000;
	loop_init(&lp, &sim_sys);
	return resolv_init(&rv, &lp, tfile("resolv.conf", conf),
	                   tfile("hosts", hosts ? hosts : ""));
}

static int loop_fds_used(void)
{
	int n = 0;

	for (int i = 0; i < LOOP_FDS_MAX; i++)
		n += lp.fds[i].fd >= 0;
	return n;
}

static int loop_timers_used(void)
{
	int n = 0;

	for (int i = 0; i < LOOP_TIMERS_MAX; i++)
		n += loop_timer_armed(&lp, i);
	return n;
}

struct got {
	int calls;
	int qid;
	int64_t at;
	struct resolv_result res;
};

static void on_result(struct resolv *r, int qid, const struct resolv_result *res, void *arg)
{
	struct got *g = arg;

	(void)r;
	g->calls++;
	g->qid = qid;
	g->at = sim.now;
	g->res = *res;
}

static void run_until(const struct got *g, int iterations_max)
{
	for (int i = 0; i < iterations_max && !g->calls; i++)
		loop_run_once(&lp, LOOP_WAIT_MAX_MS);
}

/* ---- an in-process DNS server on 127.0.0.1 ---- */

struct srv {
	int fd;
	unsigned port;
	struct sockaddr_in peer;
	unsigned char q[600];
	size_t qn;
	unsigned id, qtype;
	int got;
};

static struct mb m2;

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void srv_open(struct srv *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
	socklen_t len = sizeof sa;

	memset(s, 0, sizeof *s);
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	T_REQUIRE(s->fd >= 0);
	T_REQUIRE(bind(s->fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	T_REQUIRE(getsockname(s->fd, (struct sockaddr *)&sa, &len) == 0);
	s->port = ntohs(sa.sin_port);
}

/* Takes the next question, if one came; 1 when it did. */
static int srv_recv(struct srv *s)
{
	socklen_t len = sizeof s->peer;
	ssize_t n = recvfrom(s->fd, s->q, sizeof s->q, 0, (struct sockaddr *)&s->peer, &len);

	if (n < 16)
		return 0;
	s->qn = (size_t)n;
	s->id = be16(s->q);
	s->qtype = be16(s->q + n - 4);
	s->got++;
	return 1;
}

static void srv_send(const struct srv *s, const struct mb *m)
{
	T_CHECK(sendto(s->fd, m->b, m->n, 0, (const struct sockaddr *)&s->peer, sizeof s->peer) ==
	        (ssize_t)m->n);
}

/* The answer to the last question: rcode, naddr addresses 10.9.0.base+i
 * (A) or 2001:db8::base+i (AAAA) owned by the question's name. */
static void srv_answer(struct srv *s, unsigned rcode, uint32_t ttl, int naddr, unsigned base)
{
	memcpy(m2.b, s->q, s->qn);
	m2.n = s->qn;
	mb_set_u16(&m2, 2, FLAGS_OK | rcode);
	mb_set_u16(&m2, 6, (unsigned)naddr);
	for (int i = 0; i < naddr; i++) {
		mb_ptr(&m2, 12);
		if (s->qtype == RESOLV_TYPE_A) {
			mb_a(&m2, ttl, 10, 9, 0, base + (unsigned)i);
			continue;
		}
		mb_rr(&m2, RESOLV_TYPE_AAAA, ttl, 16);
		mb_u32(&m2, 0x20010db8);
		mb_u32(&m2, 0);
		mb_u32(&m2, 0);
		mb_u32(&m2, base + (unsigned)i);
	}
	srv_send(s, &m2);
}

static void srv_close(struct srv *s)
{
	close(s->fd);
}

static const char *conf_for(const struct srv *a, const struct srv *b, const char *options)
{
	static char buf[300];
	int n = snprintf(buf, sizeof buf, "nameserver 127.0.0.1:%u\n", a->port);

	if (b)
		n +=
		    snprintf(buf + n, sizeof buf - (size_t)n, "nameserver 127.0.0.1:%u\n", b->port);
	snprintf(buf + n, sizeof buf - (size_t)n, "options %s\n", options);
	return buf;
}

/* Log lines go to a file while a test looks at them; log_end restores stderr. */
static int log_fd = -1;
static char log_text[8192];

static void log_begin(void)
{
	char path[300];

	snprintf(path, sizeof path, "%s/log", t_tmpdir());
	log_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	T_REQUIRE(log_fd >= 0);
	log_setup(log_fd, LOG_INFO, NULL, NULL);
}

static const char *log_end(void)
{
	ssize_t n = pread(log_fd, log_text, sizeof log_text - 1, 0);

	log_setup(2, LOG_INFO, NULL, NULL);
	close(log_fd);
	log_text[n > 0 ? n : 0] = '\0';
	return log_text;
}

/* ---- resolv.conf and hosts ---- */

TEST(resolv_conf_servers_and_options)
{
	const char *logs;

	log_begin();
	T_EQ_INT(world("# comment\n; comment\nsearch corp.example\ndomain corp.example\n"
	               "nameserver 10.0.0.1\n"
	               "  nameserver\t2001:db8::53 # v6\r\n"
	               "nameserver 127.0.0.1:5353\n"
	               "nameserver 10.0.0.4\n"
	               "options ndots:2 timeout:3 rotate attempts:4\n",
	               NULL),
	         0);
	T_EQ_INT(rv.servers_n, 3); /* the fourth is past RESOLV_SERVERS_MAX */
	T_EQ_STR(rv.servers[0].text, "10.0.0.1:53");
	T_EQ_STR(rv.servers[1].text, "[2001:db8::53]:53");
	T_EQ_STR(rv.servers[2].text, "127.0.0.1:5353");
	T_EQ_INT(rv.servers[1].addr.sa.sa_family, AF_INET6);
	T_EQ_INT(ntohs(rv.servers[2].addr.in4.sin_port), 5353);
	T_EQ_INT(rv.timeout_ms, 3000);
	T_EQ_INT(rv.attempts, 4);
	logs = log_end();
	T_CHECK(strstr(logs, "level=warn msg=\"nameserver ignored\"") != NULL);
	T_CHECK(strstr(logs, "line=8 value=10.0.0.4 reason=\"more than RESOLV_SERVERS_MAX") !=
	        NULL);
	T_CHECK(strstr(logs, "search") == NULL); /* ignored on purpose, silently */
}

TEST(resolv_conf_bad_lines_and_clamps)
{
	const char *logs;

	log_begin();
	T_EQ_INT(world("nameserver\nnameserver foo\nnameserver 1.2.3.4:0\n"
	               "nameserver 1.2.3.4:70000\nnameserver [::1\nnameserver [1.2.3.4]:53\n"
	               "nameserver fe80::1%eth0\nnameserver 1.2.3.4:53x\n"
	               "nameserver [::1]:5300\n"
	               "options timeout:0 attempts:99\n"
	               "nameserver 10.0.0.2", /* the last line has no newline */
	               NULL),
	         0);
	T_EQ_INT(rv.servers_n, 2);
	T_EQ_STR(rv.servers[0].text, "[::1]:5300");
	T_EQ_STR(rv.servers[1].text, "10.0.0.2:53");
	T_EQ_INT(rv.timeout_ms, 1000);
	T_EQ_INT(rv.attempts, RESOLV_ATTEMPTS_MAX);
	T_EQ_INT(world("options timeout:100 attempts:x\n", NULL), 0);
	T_EQ_INT(rv.timeout_ms, RESOLV_TIMEOUT_S_MAX * 1000);
	T_EQ_INT(rv.attempts, RESOLV_ATTEMPTS_DEFAULT);
	T_EQ_INT(world("", NULL), 0);
	T_EQ_INT(rv.servers_n, 0);
	T_EQ_INT(rv.timeout_ms, RESOLV_TIMEOUT_S_DEFAULT * 1000);
	logs = log_end();
	T_CHECK(strstr(logs, "line=1 value=\"\" reason=\"nameserver without an address\"") != NULL);
	T_CHECK(strstr(logs, "line=7 value=fe80::1%eth0 reason=\"not a numeric address") != NULL);
	T_CHECK(strstr(logs, "msg=\"option ignored\"") != NULL);
	T_CHECK(strstr(logs, "msg=\"no nameserver: lookups of names outside the hosts file will "
	                     "fail\"") != NULL);
}

/* A line longer than the line buffer is skipped, and only that line. */
TEST(resolv_conf_long_line)
{
	static char conf[3000];
	size_t n;

	n = (size_t)snprintf(conf, sizeof conf, "nameserver 10.0.0.1 ");
	memset(conf + n, 'x', 2000);
	n += 2000;
	snprintf(conf + n, sizeof conf - n, "\nnameserver 10.0.0.2\n");
	log_begin();
	T_EQ_INT(world(conf, NULL), 0);
	T_EQ_INT(rv.servers_n, 1);
	T_EQ_STR(rv.servers[0].text, "10.0.0.2:53");
	T_CHECK(strstr(log_end(), "msg=\"line too long: ignored\"") != NULL);
}

TEST(resolv_conf_missing_and_unreadable)
{
	const char *logs;

	log_begin();
	loop_init(&lp, &sim_sys);
	T_EQ_INT(resolv_init(&rv, &lp, "/nonexistent/resolv.conf", "/nonexistent/hosts"), 0);
	T_EQ_INT(rv.servers_n, 0);
	T_EQ_INT(rv.hosts_n, 0);
	/* A directory opens but does not read: an error, not "missing". */
	T_EQ_INT(resolv_init(&rv, &lp, t_tmpdir(), "/nonexistent/hosts"), FR_EIO);
	T_EQ_INT(resolv_init(&rv, &lp, "/nonexistent/resolv.conf", t_tmpdir()), FR_EIO);
	logs = log_end();
	T_CHECK(strstr(logs, "msg=\"file not found\" path=/nonexistent/hosts") != NULL);
	T_CHECK(strstr(logs, "level=error msg=\"cannot read file\"") != NULL);
}

TEST(resolv_hosts_parsing)
{
	const char *logs;

	log_begin();
	T_EQ_INT(world("", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# comment\n"
	                   "10.0.0.5  DB.Internal db  # the database\n"
	                   "not-an-ip foo\n10.0.0.6 bad!name ok.example.\n"
	                   "2001:db8::5\tdb.internal\n\n   \n"),
	         0);
	T_EQ_INT(rv.hosts_n, 7);
	T_EQ_STR(rv.hosts[3].name, "db.internal");
	T_EQ_STR(rv.hosts[5].name, "ok.example");
	T_EQ_STR(astr(&rv.hosts[6].addr), "2001:db8::5");
	logs = log_end();
	T_CHECK(strstr(logs, "line=5 value=not-an-ip reason=\"not a numeric address\"") != NULL);
	T_CHECK(strstr(logs, "line=6 value=bad!name reason=\"not a host name\"") != NULL);
}

TEST(resolv_hosts_table_limit)
{
	static char hosts[8000];
	size_t n = 0;

	for (int i = 0; i < RESOLV_HOSTS_MAX + 6; i++)
		n += (size_t)snprintf(hosts + n, sizeof hosts - n, "10.0.%d.%d h%d.example\n",
		                      i / 250, i % 250, i);
	log_begin();
	T_EQ_INT(world("", hosts), 0);
	T_EQ_INT(rv.hosts_n, RESOLV_HOSTS_MAX);
	T_EQ_INT(rv.hosts_dropped, 6);
	T_CHECK(strstr(log_end(), "the rest are ignored\" path=") != NULL);
}

/* ---- lookups without the network ---- */

/* A literal is answered without I/O, yet in the next loop iteration. */
TEST(resolv_lookup_literal_is_deferred)
{
	struct got g = {0};
	int qid;

	T_EQ_INT(world("nameserver 127.0.0.1:9\n", NULL), 0);
	qid = resolv_lookup(&rv, "10.1.2.3", AF_UNSPEC, on_result, &g);
	T_CHECK(qid >= 0);
	T_EQ_INT(g.calls, 0);
	T_EQ_INT(loop_fds_used(), 0);
	T_EQ_INT(resolv_pending(&rv), 1);
	T_CHECK(loop_run_once(&lp, LOOP_WAIT_MAX_MS) >= 1);
	T_EQ_INT(g.calls, 1);
	T_EQ_INT(sim.now, 1000000); /* the loop did not sleep */
	T_EQ_INT(g.qid, qid);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.err, 0);
	T_EQ_INT(g.res.source, RESOLV_SRC_LITERAL);
	T_EQ_INT(g.res.n, 1);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.1.2.3");
	T_EQ_STR(g.res.name, "10.1.2.3");
	T_EQ_INT(resolv_pending(&rv), 0);
	T_EQ_INT(loop_timers_used(), 0);
	T_EQ_INT(rv.questions_sent, 0);
	/* The callback is gone with the query: cancelling now is an error. */
	T_EQ_INT(resolv_cancel(&rv, qid), FR_EINVAL);

	memset(&g, 0, sizeof g);
	T_CHECK(resolv_lookup(&rv, "2001:db8::7", AF_INET6, on_result, &g) >= 0);
	run_until(&g, 1);
	T_EQ_INT(g.res.n, 1);
	T_EQ_INT(g.res.addrs[0].family, AF_INET6);
	T_EQ_STR(astr(&g.res.addrs[0]), "2001:db8::7");
}

TEST(resolv_lookup_rejects_bad_arguments)
{
	struct got g = {0};

	T_EQ_INT(world("nameserver 127.0.0.1:9\n", NULL), 0);
	T_EQ_INT(resolv_lookup(&rv, "10.1.2.3", AF_INET6, on_result, &g), FR_EINVAL);
	T_EQ_INT(resolv_lookup(&rv, "::1", AF_INET, on_result, &g), FR_EINVAL);
	T_EQ_INT(resolv_lookup(&rv, "a..b", AF_INET, on_result, &g), FR_EINVAL);
	T_EQ_INT(resolv_lookup(&rv, "", AF_INET, on_result, &g), FR_EINVAL);
	T_EQ_INT(resolv_lookup(&rv, "fe80::1%eth0", AF_INET6, on_result, &g), FR_EINVAL);
	T_EQ_INT(resolv_lookup(&rv, "example.com", 12345, on_result, &g), FR_EINVAL);
	T_EQ_INT(resolv_forget(&rv, "a..b"), FR_EINVAL);
	T_EQ_INT(resolv_pending(&rv), 0);
	T_EQ_INT(loop_timers_used(), 0);
	loop_run_once(&lp, 0);
	T_EQ_INT(g.calls, 0);
}

TEST(resolv_lookup_hosts_before_dns)
{
	struct got g = {0};
	struct srv s;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"),
	               "10.0.0.5 DB.Internal db\n2001:db8::5 db.internal\n10.0.0.6 db.internal\n"),
	         0);
	T_CHECK(resolv_lookup(&rv, "DB.INTERNAL.", AF_UNSPEC, on_result, &g) >= 0);
	run_until(&g, 2);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.source, RESOLV_SRC_HOSTS);
	T_EQ_STR(g.res.name, "db.internal");
	T_EQ_INT(g.res.n, 3);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.0.0.5"); /* IPv4 first */
	T_EQ_STR(astr(&g.res.addrs[1]), "10.0.0.6");
	T_EQ_STR(astr(&g.res.addrs[2]), "2001:db8::5");
	memset(&g, 0, sizeof g);
	T_CHECK(resolv_lookup(&rv, "db.internal", AF_INET6, on_result, &g) >= 0);
	run_until(&g, 2);
	T_EQ_INT(g.res.n, 1);
	T_EQ_STR(astr(&g.res.addrs[0]), "2001:db8::5");
	T_EQ_INT(rv.questions_sent, 0);
	T_EQ_INT(srv_recv(&s), 0);
	/* "db" has no IPv6 entry: that family goes on to DNS. */
	memset(&g, 0, sizeof g);
	T_CHECK(resolv_lookup(&rv, "db", AF_INET6, on_result, &g) >= 0);
	T_EQ_INT(srv_recv(&s), 1);
	T_EQ_INT(s.qtype, RESOLV_TYPE_AAAA);
	resolv_close(&rv);
	srv_close(&s);
}

TEST(resolv_lookup_without_servers)
{
	struct got g = {0};

	log_begin();
	T_EQ_INT(world("search example.com\n", NULL), 0);
	log_end();
	T_CHECK(resolv_lookup(&rv, "example.com", AF_INET, on_result, &g) >= 0);
	T_EQ_INT(g.calls, 0);
	run_until(&g, 1);
	T_EQ_INT(g.calls, 1);
	T_EQ_INT(g.res.status, RESOLV_NOSERVERS);
	T_EQ_INT(g.res.err, FR_ECONFIG);
	T_EQ_INT(g.res.source, RESOLV_SRC_NONE);
	T_CHECK(strstr(g.res.msg, "no nameserver in ") != NULL);
	T_CHECK(strstr(g.res.msg, "resolv.conf") != NULL);
	T_EQ_INT(loop_timers_used(), 0);
}

/* ---- lookups against the in-process server, in simulated time ---- */

static int lookup(const char *name, int family, struct got *g)
{
	memset(g, 0, sizeof *g);
	return resolv_lookup(&rv, name, family, on_result, g);
}

/* Answer, cache, expiry after the TTL, forget. */
TEST(resolv_dns_cache_ttl_and_forget)
{
	struct got g;
	struct srv s;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	T_CHECK(lookup("Svc.Example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	T_EQ_INT(s.qtype, RESOLV_TYPE_A);
	T_EQ_INT(s.q[2], 0x01); /* RD */
	srv_answer(&s, 0, 30, 2, 1);
	run_until(&g, 3);
	T_EQ_INT(g.calls, 1);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.source, RESOLV_SRC_DNS);
	T_EQ_STR(g.res.name, "svc.example");
	T_EQ_INT(g.res.n, 2);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.9.0.1");
	T_EQ_STR(astr(&g.res.addrs[1]), "10.9.0.2");
	T_EQ_INT(g.res.ttl_s, 30);
	T_CHECK(strstr(g.res.msg, "2 addresses from 127.0.0.1:") != NULL);
	T_EQ_INT(loop_fds_used(), 0);
	T_EQ_INT(loop_timers_used(), 0);

	/* From the cache, without a question; the other family is another key. */
	sim.now += 29000;
	T_CHECK(lookup("svc.example.", AF_INET, &g) >= 0);
	T_EQ_INT(srv_recv(&s), 0);
	run_until(&g, 2);
	T_EQ_INT(g.res.source, RESOLV_SRC_CACHE);
	T_EQ_INT(g.res.n, 2);
	T_EQ_INT(g.res.ttl_s, 1);
	T_EQ_INT(rv.questions_sent, 1);
	T_EQ_INT(rv.cache_hits, 1);

	/* Expired: asked again. */
	sim.now += 1000;
	T_CHECK(lookup("svc.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	srv_answer(&s, 0, 30, 1, 7);
	run_until(&g, 3);
	T_EQ_INT(g.res.source, RESOLV_SRC_DNS);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.9.0.7");

	/* Forgotten: asked again at once. */
	T_EQ_INT(resolv_forget(&rv, "SVC.example"), 1);
	T_EQ_INT(resolv_forget(&rv, "svc.example"), 0);
	T_CHECK(lookup("svc.example", AF_INET, &g) >= 0);
	T_EQ_INT(srv_recv(&s), 1);
	T_EQ_INT(s.got, 3);
	resolv_close(&rv);
	srv_close(&s);
}

TEST(resolv_dns_ttl_clamped)
{
	struct got g;
	struct srv s;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	T_CHECK(lookup("zero.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	srv_answer(&s, 0, 0, 1, 1);
	run_until(&g, 3);
	T_EQ_INT(g.res.ttl_s, RESOLV_TTL_MIN_S);
	T_CHECK(lookup("long.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	srv_answer(&s, 0, 86400, 1, 1);
	run_until(&g, 3);
	T_EQ_INT(g.res.ttl_s, RESOLV_TTL_MAX_S);
	sim.now += (RESOLV_TTL_MAX_S - 1) * 1000;
	T_CHECK(lookup("long.example", AF_INET, &g) >= 0);
	run_until(&g, 2);
	T_EQ_INT(g.res.source, RESOLV_SRC_CACHE);
	srv_close(&s);
}

/* Drains both servers' questions into order ("1", "2") after each iteration. */
static void collect_order(struct srv *a, struct srv *b, char *order, size_t cap)
{
	while (srv_recv(a))
		strncat(order, "1", cap - strlen(order) - 1);
	while (srv_recv(b))
		strncat(order, "2", cap - strlen(order) - 1);
}

/* Silence: every server in order, attempts times, timeout each, then TIMEOUT. */
TEST(resolv_dns_timeout_and_retry_order)
{
	char order[32] = "";
	struct srv a, b;
	struct got g;
	int64_t t0;

	srv_open(&a);
	srv_open(&b);
	T_EQ_INT(world(conf_for(&a, &b, "timeout:1 attempts:2"), NULL), 0);
	t0 = sim.now;
	T_CHECK(lookup("slow.example", AF_INET, &g) >= 0);
	for (int i = 0; i < 20 && !g.calls; i++) {
		collect_order(&a, &b, order, sizeof order);
		loop_run_once(&lp, LOOP_WAIT_MAX_MS);
	}
	T_EQ_STR(order, "1212");
	T_EQ_INT(g.calls, 1);
	T_EQ_INT(g.res.status, RESOLV_TIMEOUT);
	T_EQ_INT(g.res.err, FR_ETIMEDOUT);
	T_EQ_INT(g.at - t0, 4000);
	T_EQ_STR(g.res.msg, "no answer after 4 tries (2 servers x 2 attempts, 1000 ms each)");
	T_EQ_INT(loop_fds_used(), 0);
	T_EQ_INT(loop_timers_used(), 0);
	srv_close(&a);
	srv_close(&b);
}

/* SERVFAIL moves to the next server at once; if all fail, SERVFAIL is reported. */
TEST(resolv_dns_servfail_fails_over)
{
	char order[32] = "";
	struct srv a, b;
	struct got g;
	int64_t t0;

	srv_open(&a);
	srv_open(&b);
	T_EQ_INT(world(conf_for(&a, &b, "timeout:1 attempts:2"), NULL), 0);
	t0 = sim.now;
	T_CHECK(lookup("flaky.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&a));
	srv_answer(&a, 2, 0, 0, 0);
	loop_run_once(&lp, LOOP_WAIT_MAX_MS);
	T_REQUIRE(srv_recv(&b));
	T_EQ_INT(sim.now, t0); /* no timeout waited */
	srv_answer(&b, 0, 60, 1, 4);
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_CHECK(strstr(g.res.msg, "1 address from") != NULL);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.9.0.4");

	T_CHECK(lookup("broken.example", AF_INET, &g) >= 0);
	for (int i = 0; i < 20 && !g.calls; i++) {
		if (srv_recv(&a)) {
			strcat(order, "1");
			srv_answer(&a, i % 2 ? 5 : 2, 0, 0, 0);
		}
		if (srv_recv(&b)) {
			strcat(order, "2");
			srv_answer(&b, 2, 0, 0, 0);
		}
		loop_run_once(&lp, LOOP_WAIT_MAX_MS);
	}
	T_EQ_STR(order, "1212");
	T_EQ_INT(g.res.status, RESOLV_SERVFAIL);
	T_EQ_INT(g.res.err, FR_EIO);
	T_CHECK(strstr(g.res.msg, "SERVFAIL (RCODE 2) from 127.0.0.1:") != NULL);
	T_CHECK(strstr(g.res.msg, "(try 4 of 4)") != NULL);
	srv_close(&a);
	srv_close(&b);
}

/* NXDOMAIN is final: no other server is asked. */
TEST(resolv_dns_nxdomain)
{
	struct srv a, b;
	struct got g;

	srv_open(&a);
	srv_open(&b);
	T_EQ_INT(world(conf_for(&a, &b, "timeout:1 attempts:2"), NULL), 0);
	T_CHECK(lookup("nope.example", AF_UNSPEC, &g) >= 0);
	T_REQUIRE(srv_recv(&a));
	T_REQUIRE(srv_recv(&a));    /* A and AAAA together */
	srv_answer(&a, 3, 0, 0, 0); /* the AAAA question's NXDOMAIN ends both */
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_NXDOMAIN);
	T_EQ_INT(g.res.err, FR_EINVAL);
	T_CHECK(strstr(g.res.msg, "NXDOMAIN from 127.0.0.1:") != NULL);
	T_EQ_INT(srv_recv(&b), 0);
	T_EQ_INT(loop_fds_used(), 0);
	srv_close(&a);
	srv_close(&b);
}

/* Wrong id, garbage, another question: ignored; the right answer still counts. */
TEST(resolv_dns_ignores_non_answers)
{
	struct srv s;
	struct got g;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	T_CHECK(lookup("svc.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	s.q[1] ^= 0x55; /* wrong id */
	srv_answer(&s, 0, 60, 1, 66);
	s.q[1] ^= 0x55;
	m2.n = 7; /* garbage: a cut header */
	srv_send(&s, &m2);
	memcpy(m2.b, s.q, s.qn);
	m2.b[13] = 'x'; /* another question ("xvc.example") */
	m2.b[2] = 0x81;
	srv_send(&s, &m2);
	loop_run_once(&lp, LOOP_WAIT_MAX_MS);
	T_EQ_INT(g.calls, 0);
	T_EQ_INT(rv.answers_ignored, 3);
	srv_answer(&s, 0, 60, 1, 5);
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.9.0.5");
	srv_close(&s);
}

/* The source check: a datagram with the right id from another port never
 * reaches the resolver (its socket is connected to the server). */
TEST(resolv_dns_other_source_dropped)
{
	struct srv s, spoof;
	struct got g;

	srv_open(&s);
	srv_open(&spoof);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	T_CHECK(lookup("svc.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	memcpy(spoof.q, s.q, s.qn);
	spoof.qn = s.qn;
	spoof.qtype = s.qtype;
	spoof.peer = s.peer;
	srv_answer(&spoof, 0, 60, 1, 66);
	loop_run_once(&lp, 10);
	T_EQ_INT(g.calls, 0);
	T_EQ_INT(rv.answers_ignored, 0); /* dropped by the kernel, unseen */
	srv_answer(&s, 0, 60, 1, 5);
	run_until(&g, 3);
	T_EQ_STR(astr(&g.res.addrs[0]), "10.9.0.5");
	srv_close(&s);
	srv_close(&spoof);
}

/* A server port with nobody behind it answers ICMP: the next server at once. */
TEST(resolv_dns_port_unreachable_fails_over)
{
	struct srv dead, b;
	struct got g;
	int64_t t0;

	srv_open(&dead);
	srv_close(&dead); /* the port is free now: nothing listens */
	srv_open(&b);
	T_EQ_INT(world(conf_for(&dead, &b, "timeout:1 attempts:1"), NULL), 0);
	t0 = sim.now;
	T_CHECK(lookup("svc.example", AF_INET, &g) >= 0);
	for (int i = 0; i < 3 && !srv_recv(&b); i++)
		loop_run_once(&lp, 0);
	T_EQ_INT(b.got, 1);
	T_EQ_INT(sim.now, t0);
	srv_answer(&b, 0, 60, 1, 8);
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_OK);
	srv_close(&b);
}

TEST(resolv_dns_truncated_and_malformed)
{
	struct srv s;
	struct got g;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1 attempts:2"), NULL), 0);
	T_CHECK(lookup("big.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	srv_answer(&s, 0x0200, 0, 0, 0); /* TC */
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_TRUNCATED);
	T_EQ_INT(g.res.err, FR_EPROTO);
	T_CHECK(strstr(g.res.msg, "(no TCP fallback)") != NULL);
	T_EQ_INT(s.got, 1);

	/* A malformed answer ends the try; the second try succeeds. */
	T_CHECK(lookup("bad.example", AF_INET, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	memcpy(m2.b, s.q, s.qn);
	m2.n = s.qn;
	mb_set_u16(&m2, 2, FLAGS_OK);
	mb_set_u16(&m2, 6, 1);
	mb_ptr(&m2, 12);
	mb_rr(&m2, RESOLV_TYPE_A, 1, 5); /* 5 bytes, none there */
	srv_send(&s, &m2);
	loop_run_once(&lp, 0);
	T_REQUIRE(srv_recv(&s));
	T_EQ_INT(s.got, 3);
	srv_answer(&s, 0, 60, 1, 9);
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_OK);

	/* Malformed every time: reported with the reason. */
	T_CHECK(lookup("worse.example", AF_INET, &g) >= 0);
	for (int i = 0; i < 10 && !g.calls; i++) {
		if (srv_recv(&s)) {
			memcpy(m2.b, s.q, s.qn);
			m2.n = s.qn; /* claims an answer record, has none */
			mb_set_u16(&m2, 2, FLAGS_OK);
			mb_set_u16(&m2, 6, 1);
			srv_send(&s, &m2);
		}
		loop_run_once(&lp, 0);
	}
	T_EQ_INT(g.res.status, RESOLV_MALFORMED);
	T_CHECK(strstr(g.res.msg, "malformed answer from 127.0.0.1:") != NULL);
	T_CHECK(strstr(g.res.msg, "name runs past the end (try 2 of 2)") != NULL);
	srv_close(&s);
}

/* AF_UNSPEC: IPv4 first; an address known ends the wait for the other type. */
TEST(resolv_dns_unspec)
{
	struct srv s;
	struct got g;
	int64_t t0;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1 attempts:3"), NULL), 0);
	T_CHECK(lookup("dual.example", AF_UNSPEC, &g) >= 0);
	T_REQUIRE(srv_recv(&s));
	srv_answer(&s, 0, 100, 2, 0x30); /* whichever came first */
	T_REQUIRE(srv_recv(&s));
	srv_answer(&s, 0, 50, 1, 0x40);
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.n, 3);
	T_EQ_INT(g.res.addrs[0].family, AF_INET);
	T_EQ_INT(g.res.addrs[1].family, AF_INET);
	T_EQ_INT(g.res.addrs[2].family, AF_INET6);
	T_EQ_INT(g.res.ttl_s, 50);

	/* Only A answers: one timeout later the lookup ends with it. */
	t0 = sim.now;
	T_CHECK(lookup("v4only.example", AF_UNSPEC, &g) >= 0);
	for (int i = 0; i < 2; i++) {
		T_REQUIRE(srv_recv(&s));
		if (s.qtype == RESOLV_TYPE_A)
			srv_answer(&s, 0, 100, 1, 0x50);
	}
	run_until(&g, 5);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.n, 1);
	T_EQ_INT(g.at - t0, 1000);
	T_EQ_INT(srv_recv(&s), 0); /* no retry of AAAA */

	/* Empty A, AAAA answers: the AAAA addresses. */
	T_CHECK(lookup("v6only.example", AF_UNSPEC, &g) >= 0);
	for (int i = 0; i < 2; i++) {
		T_REQUIRE(srv_recv(&s));
		srv_answer(&s, 0, 100, s.qtype == RESOLV_TYPE_A ? 0 : 1, 0x60);
	}
	run_until(&g, 3);
	T_EQ_INT(g.res.n, 1);
	T_EQ_INT(g.res.addrs[0].family, AF_INET6);

	/* Both empty: NODATA. */
	T_CHECK(lookup("txtonly.example", AF_UNSPEC, &g) >= 0);
	for (int i = 0; i < 2; i++) {
		T_REQUIRE(srv_recv(&s));
		srv_answer(&s, 0, 100, 0, 0);
	}
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_NODATA);
	T_EQ_STR(strstr(g.res.msg, "no A or AAAA record"), g.res.msg);
	srv_close(&s);
}

/* The table is fixed: full is FR_EFULL; cancel frees a slot, and no callback runs. */
TEST(resolv_lookup_table_full_and_cancel)
{
	static struct got gs[RESOLV_QUERIES_MAX + 1];
	int qids[RESOLV_QUERIES_MAX];
	char name[32];
	struct srv s;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	for (int i = 0; i < RESOLV_QUERIES_MAX; i++) {
		snprintf(name, sizeof name, "n%d.example", i);
		qids[i] = lookup(name, AF_INET, &gs[i]);
		T_CHECK(qids[i] >= 0);
	}
	T_EQ_INT(lookup("more.example", AF_INET, &gs[RESOLV_QUERIES_MAX]), FR_EFULL);
	T_EQ_INT(lookup("10.0.0.1", AF_INET, &gs[RESOLV_QUERIES_MAX]), FR_EFULL);
	T_EQ_INT(loop_fds_used(), RESOLV_QUERIES_MAX);
	T_EQ_INT(resolv_cancel(&rv, qids[3]), 0);
	T_EQ_INT(resolv_cancel(&rv, qids[3]), FR_EINVAL);
	T_EQ_INT(resolv_cancel(&rv, -1), FR_EINVAL);
	T_EQ_INT(loop_fds_used(), RESOLV_QUERIES_MAX - 1);
	qids[3] = lookup("more.example", AF_INET, &gs[RESOLV_QUERIES_MAX]);
	T_CHECK(qids[3] >= 0);
	T_CHECK(qids[3] != qids[2] && qids[3] % RESOLV_QUERIES_MAX == 3);
	T_EQ_INT(resolv_pending(&rv), RESOLV_QUERIES_MAX);
	resolv_close(&rv);
	T_EQ_INT(resolv_pending(&rv), 0);
	T_EQ_INT(loop_fds_used(), 0);
	T_EQ_INT(loop_timers_used(), 0);
	for (int i = 0; i < 30; i++)
		loop_run_once(&lp, LOOP_WAIT_MAX_MS);
	for (int i = 0; i <= RESOLV_QUERIES_MAX; i++)
		T_EQ_INT(gs[i].calls, 0);
	srv_close(&s);
}

/* Question ids come from getrandom: not a counter, not constant. */
TEST(resolv_dns_ids_vary)
{
	unsigned ids[16];
	int same = 0;
	struct srv s;
	struct got g;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	for (int i = 0; i < 16; i++) {
		T_CHECK(lookup("svc.example", AF_INET, &g) >= 0);
		T_REQUIRE(srv_recv(&s));
		ids[i] = s.id;
		resolv_close(&rv);
	}
	for (int i = 1; i < 16; i++)
		same += ids[i] == ids[i - 1] || ids[i] == ids[i - 1] + 1;
	T_CHECK(same <= 1);
	srv_close(&s);
}

/* A callback may start the next lookup; it runs from the loop, never nested. */
static int chain_depth, chain_max_depth, chain_calls;

static void on_chain(struct resolv *r, int qid, const struct resolv_result *res, void *arg)
{
	(void)qid;
	(void)arg;
	T_EQ_INT(res->status, RESOLV_OK);
	chain_depth++;
	chain_max_depth = chain_depth > chain_max_depth ? chain_depth : chain_max_depth;
	if (++chain_calls < RESOLV_QUERIES_MAX * 3)
		T_CHECK(resolv_lookup(r, "127.0.0.1", AF_INET, on_chain, NULL) >= 0);
	chain_depth--;
}

TEST(resolv_callback_may_look_up_again)
{
	log_begin();
	T_EQ_INT(world("", NULL), 0);
	log_end();
	chain_calls = chain_depth = chain_max_depth = 0;
	T_CHECK(resolv_lookup(&rv, "127.0.0.1", AF_INET, on_chain, NULL) >= 0);
	for (int i = 0; i < RESOLV_QUERIES_MAX * 4; i++)
		loop_run_once(&lp, 0);
	T_EQ_INT(chain_calls, RESOLV_QUERIES_MAX * 3);
	T_EQ_INT(chain_max_depth, 1);
	T_EQ_INT(resolv_pending(&rv), 0);
}

/* The cache is bounded: a full cache replaces the entry that expires first. */
TEST(resolv_cache_replacement)
{
	char name[32];
	struct srv s;
	struct got g;

	srv_open(&s);
	T_EQ_INT(world(conf_for(&s, NULL, "timeout:1"), NULL), 0);
	for (int i = 0; i <= RESOLV_CACHE_MAX; i++) {
		snprintf(name, sizeof name, "c%d.example", i);
		T_CHECK(lookup(name, AF_INET, &g) >= 0);
		T_REQUIRE(srv_recv(&s));
		srv_answer(&s, 0, i == 5 ? 10 : 100 + (uint32_t)i, 1, (unsigned)i);
		run_until(&g, 3);
		T_EQ_INT(g.res.status, RESOLV_OK);
	}
	/* c5 (TTL 10) gave its entry to c16; every other name is still cached. */
	for (int i = 0; i <= RESOLV_CACHE_MAX; i++) {
		snprintf(name, sizeof name, "c%d.example", i);
		T_CHECK(lookup(name, AF_INET, &g) >= 0);
		T_EQ_INT(srv_recv(&s), i == 5);
		resolv_close(&rv);
	}
	srv_close(&s);
}

/* An IPv6 server ("[::1]:PORT"): the same exchange over an AF_INET6 socket. */
TEST(resolv_dns_ipv6_server)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in6 peer;
	socklen_t len = sizeof sa;
	unsigned char q[600];
	char conf[64];
	struct got g;
	ssize_t n;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		printf("    no IPv6 loopback here (%s): only the IPv4 paths were tested\n",
		       strerror(errno));
		T_CHECK(fd < 0 || close(fd) == 0);
		return;
	}
	T_REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(conf, sizeof conf, "nameserver [::1]:%u\n", ntohs(sa.sin6_port));
	T_EQ_INT(world(conf, NULL), 0);
	T_CHECK(lookup("v6server.example", AF_INET, &g) >= 0);
	len = sizeof peer;
	n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&peer, &len);
	T_REQUIRE(n > 16);
	memcpy(m2.b, q, (size_t)n);
	m2.n = (size_t)n;
	mb_set_u16(&m2, 2, FLAGS_OK);
	mb_set_u16(&m2, 6, 1);
	mb_ptr(&m2, 12);
	mb_a(&m2, 60, 192, 0, 2, 66);
	T_REQUIRE(sendto(fd, m2.b, m2.n, 0, (struct sockaddr *)&peer, len) == (ssize_t)m2.n);
	run_until(&g, 3);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_STR(astr(&g.res.addrs[0]), "192.0.2.66");
	T_CHECK(strstr(g.res.msg, "from [::1]:") != NULL);
	close(fd);
}
