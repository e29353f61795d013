/*
 * pem.h -- trust anchors for BearSSL from a PEM CA file (one test CA or a
 * system bundle such as Debian's /etc/ssl/certs/ca-certificates.crt).
 *
 * A store is a fixed table of PEM_TA_MAX br_x509_trust_anchor entries whose
 * DN and public-key bytes are copied into a fixed pool of PEM_TA_POOL_BYTES;
 * nothing is allocated. Declared here so callers keep it in static storage.
 *
 * Parsing is BearSSL's own: br_pem_decoder_* turns the text into DER, which is
 * streamed straight into br_x509_decoder_* (no DER buffer), whose DN callback
 * writes into the pool. The input may arrive in pieces of any size; the
 * result does not depend on how it was cut.
 *
 * What becomes an anchor:
 *   - objects named CERTIFICATE or X509 CERTIFICATE whose Basic Constraints
 *     say CA, with an RSA or EC (P-256/384/521) key;
 *   - other PEM objects (keys, CRLs, OpenSSL's TRUSTED CERTIFICATE) are
 *     skipped and counted in skipped_other;
 *   - certificates without the CA flag are skipped and counted in
 *     skipped_non_ca. BearSSL would take them as "direct trust" anchors (the
 *     server's own key pinned, no chain, no issuer): that is not what a CA
 *     file means, so a stray server certificate in a bundle must not
 *     silently turn into a pin;
 *   - certificates whose key BearSSL cannot use (Ed25519, DSA, other curves)
 *     are skipped and counted in skipped_unsupported: a system bundle may
 *     legitimately carry them, and they could never verify a chain here.
 * Anything else that is malformed (bad base64, a BEGIN line with no END, DER
 * that is not a certificate) rejects the whole input: a damaged CA file must
 * not half-load. A load that yields no anchor at all is an error too.
 *
 * Errors (sticky in the store until pem_ta_init): FR_EINVAL malformed or no
 * CA certificate; FR_ENOMEM the table or the pool is full (the message names
 * the limit); FR_ERANGE the file exceeds PEM_FILE_MAX; FR_EIO open/read
 * failed. The message says which file, which object and which line.
 * A failed load adds nothing (n and the pool are rolled back to where that
 * load began), but the error stays: reset with pem_ta_init.
 */
#ifndef FR_PEM_H
#define FR_PEM_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "err.h"

/* Debian 12's bundle holds about 140 roots; a full Mozilla set under 160. */
#define PEM_TA_MAX 320
/* Per anchor: a DN (typically 60-200 bytes) plus a key of at most
 * BR_X509_BUFSIZE_KEY bytes (RSA-4096 is 512 + 3). */
#define PEM_TA_DN_TYPICAL_BYTES 200
#define PEM_TA_BYTES_TYPICAL (PEM_TA_DN_TYPICAL_BYTES + BR_X509_BUFSIZE_KEY)
#define PEM_TA_POOL_BYTES (PEM_TA_MAX * PEM_TA_BYTES_TYPICAL)
/* Largest file pem_ta_load_file reads (Debian's bundle is about 220 KB). */
#define PEM_FILE_MAX (1u << 20)
/* The file is read and parsed in chunks of this size (on the stack). */
#define PEM_READ_CHUNK_BYTES 4096
#define PEM_ORIGIN_MAX 128

_Static_assert(PEM_TA_POOL_BYTES >= 128 * (PEM_TA_DN_TYPICAL_BYTES + 515),
               "the pool holds a system bundle of RSA-4096 roots");
_Static_assert(PEM_TA_BYTES_TYPICAL >= BR_X509_BUFSIZE_KEY,
               "the largest key BearSSL decodes fits one anchor's share");

struct pem_ta_store {
	br_x509_trust_anchor ta[PEM_TA_MAX];
	size_t n; /* anchors in ta[] */
	unsigned char pool[PEM_TA_POOL_BYTES];
	size_t pool_used;
	/* Limits in force: the constants above unless a test lowered them
	 * (pem_ta_set_limits); never above the reserved sizes. */
	size_t ta_max, pool_max;
	/* Counters over every load since pem_ta_init. */
	unsigned certs_seen, skipped_non_ca, skipped_unsupported, skipped_other;
	int err; /* sticky: 0 or a negative FR_* */
	char msg[ERR_MSG_MAX];
};

/* Empties the store and clears its error; limits back to the constants. */
void pem_ta_init(struct pem_ta_store *s);

/* Lowers the limits (for tests of exhaustion): ta_max <= PEM_TA_MAX and
 * pool_max <= PEM_TA_POOL_BYTES, else FR_EINVAL. Call right after init. */
int pem_ta_set_limits(struct pem_ta_store *s, size_t ta_max, size_t pool_max);

/*
 * Adds the anchors of the PEM text buf[0..len) (len may be 0); origin names
 * the input in messages (e.g. a file name; NULL: "input"). Returns the
 * number of anchors added (> 0) or a negative FR_* (also kept in s->err).
 * A store in error refuses further loads with its sticky error.
 */
int pem_ta_load_buf(struct pem_ta_store *s, const void *buf, size_t len, const char *origin);

/* The same from a file, read with open/read in PEM_READ_CHUNK_BYTES pieces.
 * Files over PEM_FILE_MAX bytes are refused with FR_ERANGE. */
int pem_ta_load_file(struct pem_ta_store *s, const char *path);

/* The sticky error's message, "" when there is none. */
const char *pem_ta_errmsg(const struct pem_ta_store *s);

/*
 * Incremental form, for callers that receive the text in pieces (and for
 * the fuzz target's cut-anywhere check): begin, feed any number of times,
 * end. Each returns 0 or the sticky error; end returns the anchors added
 * since begin. end must be called, also after an error (it rolls back). The loader keeps BearSSL's
 * decoders (about 2 KB): it is meant for the stack of the function doing the load.
 */
struct pem_ta_loader {
	struct pem_ta_store *s;
	br_pem_decoder_context pem;
	br_x509_decoder_context x509;
	char origin[PEM_ORIGIN_MAX];
	size_t n_at_begin, pool_at_begin;
	unsigned seen_at_begin, non_ca_at_begin, unsupported_at_begin;
	size_t obj_pool_mark; /* pool_used when the current object began */
	unsigned line;        /* newlines consumed so far */
	unsigned obj_line;    /* line of the current BEGIN */
	unsigned objects;     /* PEM objects begun */
	int in_obj;           /* 0 none, 1 a certificate, 2 skipped kind */
	int pool_short;       /* the DN of the current object did not fit */
	size_t bytes;         /* bytes fed since begin */
	int at_end;           /* feeding end's closing newline */
	int ended;
};

int pem_ta_begin(struct pem_ta_loader *ld, struct pem_ta_store *s, const char *origin);
int pem_ta_feed(struct pem_ta_loader *ld, const void *buf, size_t len);
int pem_ta_end(struct pem_ta_loader *ld);

#endif
