/*
 * fuzz_dns.c -- libFuzzer target for resolv_parse_answer, the DNS answer parser.
 *
 * The input is a datagram as a server (or anyone) could send it. The question
 * it is checked against is taken from the input itself where possible, so that
 * mutations get past the id and question checks into the answer section: the
 * id is the input's first two bytes, the name is the input's first question
 * name when it is an uncompressed valid host name (else "api.bybit.com", the
 * seed corpus's), and both A and AAAA are asked. The parser's precondition (a
 * valid host name, qtype A or AAAA) is always respected.
 *
 * Every result is checked against the contract in resolv.h: a known status;
 * addresses exactly when RESOLV_OK, at most RESOLV_ADDRS_MAX, of the asked
 * family, without duplicates; a TTL without the top bit; no more CNAME links
 * than RESOLV_CNAME_MAX; RCODE and TC consistent with the status; a reason for
 * every refusal; the same answer twice; and another id never matches.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "resolv.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static int fuzz_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* The input's first question name as text, if uncompressed and a valid host name. */
static const char *fuzz_qname(const uint8_t *d, size_t n, char out[RESOLV_NAME_MAX])
{
	size_t pos = 12, len = 0;

	while (pos < n && d[pos] != 0) {
		size_t label = d[pos];

		if (label > 63 || pos + 1 + label > n || len + label + 1 >= RESOLV_NAME_MAX - 1)
			return "api.bybit.com";
		for (size_t i = 0; i < label; i++) {
			if (!fuzz_host_char(d[pos + 1 + i]))
				return "api.bybit.com";
			out[len++] = (char)d[pos + 1 + i];
		}
		out[len++] = '.';
		pos += 1 + label;
	}
	if (len == 0)
		return "api.bybit.com";
	out[len - 1] = '\0';
	return out;
}

static void fuzz_check(const struct resolv_answer *a, int st, int qtype)
{
	int family = qtype == RESOLV_TYPE_A ? AF_INET : AF_INET6;

	CHECK(st >= RESOLV_OK && st <= RESOLV_MISMATCH);
	CHECK(st != RESOLV_TIMEOUT && st != RESOLV_NOSERVERS && st != RESOLV_IO);
	CHECK((st == RESOLV_OK) == (a->n > 0));
	CHECK(a->n >= 0 && a->n <= RESOLV_ADDRS_MAX);
	CHECK(a->cnames >= 0 && a->cnames <= RESOLV_CNAME_MAX + 1);
	CHECK(a->why != NULL);
	if (st == RESOLV_MISMATCH || st == RESOLV_MALFORMED)
		CHECK(a->why[0] != '\0');
	if (st == RESOLV_NXDOMAIN)
		CHECK(a->rcode == 3);
	if (st == RESOLV_SERVFAIL)
		CHECK(a->rcode != 0 && a->rcode != 3);
	if (st == RESOLV_TRUNCATED)
		CHECK(a->truncated && a->rcode == 0);
	if (st != RESOLV_OK) {
		CHECK(a->ttl_s == 0);
		return;
	}
	CHECK(a->ttl_s <= 0x7FFFFFFFu && a->cnames <= RESOLV_CNAME_MAX);
	for (int i = 0; i < a->n; i++) {
		CHECK(a->addrs[i].family == family);
		for (int k = 0; k < i; k++)
			CHECK(memcmp(&a->addrs[i], &a->addrs[k], sizeof a->addrs[i]) != 0);
	}
}

static void fuzz_one(const uint8_t *d, size_t n, uint16_t id, const char *name, int qtype)
{
	static struct resolv_answer a, b;
	int st = resolv_parse_answer(d, n, id, name, qtype, &a);

	fuzz_check(&a, st, qtype);
	CHECK(resolv_parse_answer(d, n, id, name, qtype, &b) == st);
	CHECK(b.n == a.n && b.ttl_s == a.ttl_s && b.cnames == a.cnames);
	CHECK(memcmp(a.addrs, b.addrs, sizeof a.addrs) == 0);
	CHECK(resolv_parse_answer(d, n, (uint16_t)(id ^ 0x8001), name, qtype, &b) ==
	      RESOLV_MISMATCH);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char buf[RESOLV_NAME_MAX];
	uint16_t id = n >= 2 ? (uint16_t)(d[0] << 8 | d[1]) : 0;
	const char *name = fuzz_qname(d, n, buf);

	fuzz_one(d, n, id, name, RESOLV_TYPE_A);
	fuzz_one(d, n, id, name, RESOLV_TYPE_AAAA);
	fuzz_one(d, n, id, "api.bybit.com", RESOLV_TYPE_A);
	return 0;
}
