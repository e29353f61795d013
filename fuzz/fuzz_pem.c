/*
 * fuzz_pem.c -- libFuzzer target for the trust-anchor loader (pem.h).
 *
 * The parsing itself is BearSSL's (br_pem_decoder, br_x509_decoder); what is
 * ours, and fuzzed here, is the glue: streaming DER between the two, DN and
 * key bytes into the fixed pool, marks and roll-backs, limits, messages.
 *
 * Each input is loaded three ways and checked against pem.h:
 *   1. whole, with the real limits;
 *   2. cut into pieces whose sizes come from the input itself: the result
 *      (code, anchors, pool bytes, message) must equal the whole load's;
 *   3. whole again, with tiny limits, so table and pool exhaustion and the
 *      roll-back after them are reached.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pem.h"

static struct pem_ta_store whole, cut, tiny; /* large: static, as in the product */

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static int within(const struct pem_ta_store *s, const unsigned char *p, size_t len)
{
	return p >= s->pool && len <= s->pool_used &&
	       p - s->pool <= (ptrdiff_t)(s->pool_used - len);
}

/* The contract of a load's outcome, whichever it was. */
static void check_store(const struct pem_ta_store *s, int rc)
{
	CHECK(s->n <= s->ta_max && s->pool_used <= s->pool_max);
	CHECK(memchr(s->msg, '\0', sizeof s->msg) != NULL);
	if (rc < 0) {
		CHECK(rc == FR_EINVAL || rc == FR_ENOMEM);
		CHECK(s->err == rc && s->msg[0]);
		CHECK(s->n == 0 && s->pool_used == 0); /* a failed load adds nothing */
		return;
	}
	CHECK(rc > 0 && (size_t)rc == s->n && s->err == 0);
	CHECK(s->certs_seen >= s->n);
	for (size_t i = 0; i < s->n; i++) {
		const br_x509_trust_anchor *ta = &s->ta[i];
		const br_x509_pkey *k = &ta->pkey;

		CHECK(ta->flags == BR_X509_TA_CA && ta->dn.len > 0);
		CHECK(within(s, ta->dn.data, ta->dn.len));
		if (k->key_type == BR_KEYTYPE_RSA) {
			CHECK(within(s, k->key.rsa.n, k->key.rsa.nlen));
			CHECK(within(s, k->key.rsa.e, k->key.rsa.elen));
		} else {
			CHECK(k->key_type == BR_KEYTYPE_EC);
			CHECK(within(s, k->key.ec.q, k->key.ec.qlen));
		}
	}
}

/* Feeds data in pieces of 1..64 bytes chosen by a walk over the data. */
static int load_cut(struct pem_ta_store *s, const uint8_t *data, size_t size)
{
	struct pem_ta_loader ld;
	size_t off = 0;

	pem_ta_begin(&ld, s, "fuzz");
	while (off < size) {
		size_t piece = 1 + (size_t)(data[(off * 31) % size] % 64);

		if (piece > size - off)
			piece = size - off;
		pem_ta_feed(&ld, data + off, piece);
		off += piece;
	}
	return pem_ta_end(&ld);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc_whole, rc_cut, rc_tiny;

	pem_ta_init(&whole);
	rc_whole = pem_ta_load_buf(&whole, data, size, "fuzz");
	check_store(&whole, rc_whole);

	pem_ta_init(&cut);
	rc_cut = load_cut(&cut, data, size);
	check_store(&cut, rc_cut);
	CHECK(rc_cut == rc_whole && cut.n == whole.n && cut.pool_used == whole.pool_used);
	CHECK(memcmp(cut.pool, whole.pool, whole.pool_used) == 0);
	CHECK(strcmp(cut.msg, whole.msg) == 0);

	pem_ta_init(&tiny);
	CHECK(pem_ta_set_limits(&tiny, 2, 300) == 0);
	rc_tiny = pem_ta_load_buf(&tiny, data, size, "fuzz");
	check_store(&tiny, rc_tiny);
	CHECK(rc_tiny == rc_whole || rc_tiny == FR_ENOMEM);
	return 0;
}
