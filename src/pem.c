/*
 * pem.c -- PEM CA file -> BearSSL trust anchors, in fixed storage.
 *
 * The PEM decoder's output goes straight into the X.509 decoder, and the
 * X.509 decoder's DN output straight into the pool, so an object needs no
 * buffer of its own: the pool position at BEGIN is a mark to roll back to
 * when the object turns out not to be an anchor.
 */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pem.h"

enum { PEM_OBJ_NONE, PEM_OBJ_CERT, PEM_OBJ_SKIP };

/* Sets the sticky error once (the first cause is the one worth reading). */
__attribute__((format(printf, 3, 4))) static int pem_fail(struct pem_ta_store *s, int err,
                                                          const char *fmt, ...)
{
	va_list ap;

	assert(err < 0);
	if (s->err)
		return s->err;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof s->msg, fmt, ap);
	va_end(ap);
	s->err = err;
	return err;
}

/* see pem.h */
void pem_ta_init(struct pem_ta_store *s)
{
	s->n = 0;
	s->pool_used = 0;
	s->ta_max = PEM_TA_MAX;
	s->pool_max = PEM_TA_POOL_BYTES;
	s->certs_seen = s->skipped_non_ca = s->skipped_unsupported = s->skipped_other = 0;
	s->err = 0;
	s->msg[0] = 0;
}

/* see pem.h */
int pem_ta_set_limits(struct pem_ta_store *s, size_t ta_max, size_t pool_max)
{
	if (ta_max > PEM_TA_MAX || pool_max > PEM_TA_POOL_BYTES || s->n || s->pool_used)
		return FR_EINVAL;
	s->ta_max = ta_max;
	s->pool_max = pool_max;
	return 0;
}

/* see pem.h */
const char *pem_ta_errmsg(const struct pem_ta_store *s)
{
	return s->err ? s->msg : "";
}

/* Words for the failures of br_x509_decoder on a CA file; the rest keep
 * only their number, since they cannot arise from a well-formed PEM. */
static const char *pem_x509_text(int br_err)
{
	switch (br_err) {
	case BR_ERR_X509_TRUNCATED:
		return "DER data truncated";
	case BR_ERR_X509_INNER_TRUNC:
		return "an inner DER element is truncated";
	case BR_ERR_X509_EXTRA_ELEMENT:
		return "extra bytes after the certificate";
	case BR_ERR_X509_LIMIT_EXCEEDED:
		return "an element exceeds BearSSL's limits";
	case BR_ERR_X509_BAD_TIME:
		return "invalid validity date";
	case BR_ERR_X509_BAD_DN:
		return "invalid subject name";
	case BR_ERR_X509_OVERFLOW:
		return "an integer is too large";
	}
	return "malformed DER";
}

/* br_x509_decoder's DN sink: appends to the pool, or notes that it cannot. */
static void pem_dn_append(void *ctx, const void *buf, size_t len)
{
	struct pem_ta_loader *ld = ctx;
	struct pem_ta_store *s = ld->s;

	if (ld->pool_short || len > s->pool_max - s->pool_used) {
		ld->pool_short = 1;
		return;
	}
	memcpy(s->pool + s->pool_used, buf, len);
	s->pool_used += len;
}

/* br_pem_decoder's sink: DER bytes of the current certificate. */
static void pem_der_push(void *ctx, const void *buf, size_t len)
{
	struct pem_ta_loader *ld = ctx;
	int xerr = br_x509_decoder_last_error(&ld->x509);

	/* BearSSL 0.6's decoder does not stop after a failure: pushed more
	 * bytes, it runs on and overwrites its error code with a meaningless
	 * one. Stop feeding at the first real error (TRUNCATED only means "not
	 * finished yet"). */
	if (xerr != 0 && xerr != BR_ERR_X509_TRUNCATED)
		return;
	br_x509_decoder_push(&ld->x509, buf, len);
}

/* Compares a BEGIN name with want, ignoring what BearSSL 0.6 leaves at the
 * end when the line ends in CR LF: it strips the trailing dashes only when
 * LF follows them, so "CERTIFICATE-----" (CR dropped) reaches us. */
static int pem_name_is(const char *name, const char *want)
{
	size_t n = strlen(want);

	if (strncmp(name, want, n) != 0)
		return 0;
	for (name += n; *name; name++)
		if (*name != '-' && *name != '\r' && *name != ' ')
			return 0;
	return 1;
}

/* Copies len bytes to the pool; NULL when they do not fit. */
static unsigned char *pem_pool_copy(struct pem_ta_store *s, const void *src, size_t len)
{
	unsigned char *dst;

	if (len > s->pool_max - s->pool_used)
		return NULL;
	dst = s->pool + s->pool_used;
	memcpy(dst, src, len);
	s->pool_used += len;
	return dst;
}

/* Copies the decoded key next to the DN; 0, or -1 when the pool is full. */
static int pem_copy_key(struct pem_ta_store *s, br_x509_pkey *dst, const br_x509_pkey *pk)
{
	*dst = *pk;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		dst->key.rsa.n = pem_pool_copy(s, pk->key.rsa.n, pk->key.rsa.nlen);
		dst->key.rsa.e = pem_pool_copy(s, pk->key.rsa.e, pk->key.rsa.elen);
		return dst->key.rsa.n && dst->key.rsa.e ? 0 : -1;
	}
	assert(pk->key_type == BR_KEYTYPE_EC);
	dst->key.ec.q = pem_pool_copy(s, pk->key.ec.q, pk->key.ec.qlen);
	return dst->key.ec.q ? 0 : -1;
}

static int pem_pool_full(struct pem_ta_loader *ld)
{
	return pem_fail(ld->s, FR_ENOMEM,
	                "%s: trust anchor pool full: PEM_TA_POOL_BYTES (%zu bytes) exhausted "
	                "at PEM object %u (line %u)",
	                ld->origin, ld->s->pool_max, ld->objects, ld->obj_line);
}

/* The end of a certificate object: keep it as an anchor, skip it, or fail. */
static int pem_cert_end(struct pem_ta_loader *ld)
{
	struct pem_ta_store *s = ld->s;
	br_x509_pkey *pk = br_x509_decoder_get_pkey(&ld->x509);
	int xerr = br_x509_decoder_last_error(&ld->x509);
	br_x509_trust_anchor *ta;

	s->certs_seen++;
	if (!pk && xerr == BR_ERR_X509_UNSUPPORTED) {
		s->skipped_unsupported++;
		goto skip;
	}
	if (!pk)
		return pem_fail(s, FR_EINVAL,
		                "%s: PEM object %u (line %u) is not a valid X.509 certificate: "
		                "%s (BearSSL error %d)",
		                ld->origin, ld->objects, ld->obj_line, pem_x509_text(xerr), xerr);
	if (!br_x509_decoder_isCA(&ld->x509)) {
		s->skipped_non_ca++;
		goto skip;
	}
	if (ld->pool_short)
		return pem_pool_full(ld);
	if (s->n == s->ta_max)
		return pem_fail(s, FR_ENOMEM,
		                "%s: trust anchor table full: PEM_TA_MAX (%zu anchors) reached "
		                "at PEM object %u (line %u)",
		                ld->origin, s->ta_max, ld->objects, ld->obj_line);
	ta = &s->ta[s->n];
	ta->dn.data = s->pool + ld->obj_pool_mark;
	ta->dn.len = s->pool_used - ld->obj_pool_mark;
	ta->flags = BR_X509_TA_CA;
	if (pem_copy_key(s, &ta->pkey, pk) < 0)
		return pem_pool_full(ld);
	s->n++;
	return 0;
skip:
	s->pool_used = ld->obj_pool_mark;
	return 0;
}

/* BEGIN: certificates go to a fresh X.509 decoder, other objects nowhere. */
static void pem_obj_begin(struct pem_ta_loader *ld)
{
	const char *name = br_pem_decoder_name(&ld->pem);

	/* A BEGIN inside an unfinished object drops that object's bytes. */
	if (ld->in_obj != PEM_OBJ_NONE)
		ld->s->pool_used = ld->obj_pool_mark;
	ld->objects++;
	ld->obj_line = ld->line;
	ld->obj_pool_mark = ld->s->pool_used;
	ld->pool_short = 0;
	if (pem_name_is(name, "CERTIFICATE") || pem_name_is(name, "X509 CERTIFICATE")) {
		br_x509_decoder_init(&ld->x509, pem_dn_append, ld);
		br_pem_decoder_setdest(&ld->pem, pem_der_push, ld);
		ld->in_obj = PEM_OBJ_CERT;
	} else {
		br_pem_decoder_setdest(&ld->pem, NULL, NULL);
		ld->s->skipped_other++;
		ld->in_obj = PEM_OBJ_SKIP;
	}
}

/* Acts on one decoder event; 0 or the sticky error. */
static int pem_event(struct pem_ta_loader *ld, int ev)
{
	int was = ld->in_obj;

	switch (ev) {
	case BR_PEM_BEGIN_OBJ:
		pem_obj_begin(ld);
		return 0;
	case BR_PEM_END_OBJ:
		ld->in_obj = PEM_OBJ_NONE;
		return was == PEM_OBJ_CERT ? pem_cert_end(ld) : 0;
	case BR_PEM_ERROR:
		/* BearSSL raises it after consuming the offending line, newline
		 * included: that line is the last one counted. */
		ld->s->pool_used = ld->obj_pool_mark;
		return pem_fail(ld->s, FR_EINVAL,
		                "%s: invalid PEM encoding in object %u (begins line %u, error "
		                "at line %u)%s",
		                ld->origin, ld->objects, ld->obj_line, ld->line,
		                ld->at_end ? ": the input ends inside it (truncated file?)" : "");
	}
	return 0;
}

static unsigned pem_count_lines(const unsigned char *p, size_t n)
{
	unsigned lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

/* see pem.h */
int pem_ta_begin(struct pem_ta_loader *ld, struct pem_ta_store *s, const char *origin)
{
	memset(ld, 0, sizeof *ld);
	ld->s = s;
	ld->n_at_begin = s->n;
	ld->pool_at_begin = s->pool_used;
	ld->seen_at_begin = s->certs_seen;
	ld->non_ca_at_begin = s->skipped_non_ca;
	ld->unsupported_at_begin = s->skipped_unsupported;
	snprintf(ld->origin, sizeof ld->origin, "%s", origin ? origin : "input");
	br_pem_decoder_init(&ld->pem);
	return s->err;
}

/* see pem.h */
int pem_ta_feed(struct pem_ta_loader *ld, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	assert(!ld->ended);
	ld->bytes += len;
	while (len > 0 && !ld->s->err) {
		size_t used = br_pem_decoder_push(&ld->pem, p, len);
		int ev = br_pem_decoder_event(&ld->pem);

		/* An event is raised after the byte that caused it is consumed,
		 * so counting first gives the event's own line. */
		ld->line += pem_count_lines(p, used);
		p += used;
		len -= used;
		/* push stops only at an event, which event() then clears. */
		assert(used > 0 || ev != 0);
		if (ev)
			pem_event(ld, ev);
	}
	return ld->s->err;
}

/* see pem.h */
int pem_ta_end(struct pem_ta_loader *ld)
{
	struct pem_ta_store *s = ld->s;

	/* BearSSL raises END only after the END line's newline, which the last
	 * line of many real files lacks (BearSSL's own tools do the same). */
	if (!s->err && ld->bytes == 0)
		pem_fail(s, FR_EINVAL, "%s: empty: no PEM data", ld->origin);
	ld->at_end = 1;
	if (!s->err)
		pem_ta_feed(ld, "\n", 1);
	ld->ended = 1;
	if (!s->err && ld->in_obj != PEM_OBJ_NONE)
		pem_fail(s, FR_EINVAL,
		         "%s: PEM object %u (line %u) has no END line (truncated file?)",
		         ld->origin, ld->objects, ld->obj_line);
	if (!s->err && s->n == ld->n_at_begin)
		pem_fail(s, FR_EINVAL,
		         "%s: no CA certificate found (%u PEM objects, %u certificates, %u "
		         "without the CA flag, %u with keys BearSSL cannot use)",
		         ld->origin, ld->objects, s->certs_seen - ld->seen_at_begin,
		         s->skipped_non_ca - ld->non_ca_at_begin,
		         s->skipped_unsupported - ld->unsupported_at_begin);
	if (s->err) {
		/* All or nothing: a half-loaded bundle would fail later and obscurely. */
		s->n = ld->n_at_begin;
		s->pool_used = ld->pool_at_begin;
		return s->err;
	}
	return (int)(s->n - ld->n_at_begin);
}

/* see pem.h */
int pem_ta_load_buf(struct pem_ta_store *s, const void *buf, size_t len, const char *origin)
{
	struct pem_ta_loader ld;

	pem_ta_begin(&ld, s, origin);
	pem_ta_feed(&ld, buf, len);
	return pem_ta_end(&ld);
}

/* Reads the open file fd chunk by chunk into the loader; 0 or an error. */
static int pem_read_all(struct pem_ta_loader *ld, int fd, const char *path)
{
	unsigned char chunk[PEM_READ_CHUNK_BYTES];
	size_t total = 0;

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return pem_fail(ld->s, FR_EIO, "cannot read %s: %s", path, strerror(errno));
		if (r == 0)
			return 0;
		total += (size_t)r;
		if (total > PEM_FILE_MAX)
			return pem_fail(ld->s, FR_ERANGE, "%s: larger than PEM_FILE_MAX (%u bytes)",
			                path, PEM_FILE_MAX);
		if (pem_ta_feed(ld, chunk, (size_t)r) < 0)
			return ld->s->err;
	}
}

/* see pem.h */
int pem_ta_load_file(struct pem_ta_store *s, const char *path)
{
	struct pem_ta_loader ld;
	int fd;

	if (s->err)
		return s->err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pem_fail(s, FR_EIO, "cannot open %s: %s", path, strerror(errno));
	pem_ta_begin(&ld, s, path);
	pem_read_all(&ld, fd, path);
	close(fd);
	return pem_ta_end(&ld);
}
