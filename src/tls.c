/*
 * tls.c -- BearSSL client engine pumped over a caller-owned socket.
 *
 * The engine tells what it wants through br_ssl_engine_current_state; this
 * file only ever answers those wants (SENDREC: write, RECVREC: read) and checks
 * the engine after every _ack, because an _ack is where BearSSL runs its
 * state machine and where it can fail or close. That check is also what makes
 * the error sticky before tls_want can report "nothing to wait for".
 */
#define _GNU_SOURCE /* getrandom */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "tls.h"

/* Sets the sticky error once: the first cause is the one worth reading. */
__attribute__((format(printf, 4, 5))) static int tls_fail(struct tls_conn *c, int err, int br_err,
                                                          const char *fmt, ...)
{
	va_list ap;

	assert(err < 0 && err != FR_EAGAIN);
	if (c->err)
		return c->err;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof c->msg, fmt, ap);
	va_end(ap);
	c->err = err;
	c->br_err = br_err;
	return err;
}

static const char *tls_stage(const struct tls_conn *c)
{
	return c->handshake_done ? "TLS connection to" : "TLS handshake with";
}

struct tls_code {
	int code;
	const char *name, *text;
};

#define TLS_CODE(n, t)                                                                             \
	{                                                                                          \
		n, #n, t                                                                           \
	}
static const struct tls_code tls_codes[] = {
    TLS_CODE(BR_ERR_OK, "no error"),
    TLS_CODE(BR_ERR_BAD_PARAM, "invalid parameter given to BearSSL"),
    TLS_CODE(BR_ERR_BAD_STATE, "BearSSL called in the wrong state"),
    TLS_CODE(BR_ERR_UNSUPPORTED_VERSION,
             "the server answered with another protocol version than TLS 1.2 (or not TLS)"),
    TLS_CODE(BR_ERR_BAD_VERSION, "record with an unexpected protocol version"),
    TLS_CODE(BR_ERR_BAD_LENGTH, "record with an invalid length"),
    TLS_CODE(BR_ERR_TOO_LARGE, "record too large for the buffer"),
    TLS_CODE(BR_ERR_BAD_MAC, "record failed its integrity check (bad MAC)"),
    TLS_CODE(BR_ERR_NO_RANDOM, "no entropy to seed the random generator"),
    TLS_CODE(BR_ERR_UNKNOWN_TYPE, "record of an unknown type"),
    TLS_CODE(BR_ERR_UNEXPECTED, "unexpected message from the server"),
    TLS_CODE(BR_ERR_BAD_CCS, "invalid ChangeCipherSpec message"),
    TLS_CODE(BR_ERR_BAD_ALERT, "invalid alert message"),
    TLS_CODE(BR_ERR_BAD_HANDSHAKE, "malformed handshake message"),
    TLS_CODE(BR_ERR_OVERSIZED_ID, "session ID longer than 32 bytes"),
    TLS_CODE(BR_ERR_BAD_CIPHER_SUITE, "the server chose a cipher suite we did not offer"),
    TLS_CODE(BR_ERR_BAD_COMPRESSION, "the server chose a compression we did not offer"),
    TLS_CODE(BR_ERR_BAD_FRAGLEN, "the server chose an invalid maximum fragment length"),
    TLS_CODE(BR_ERR_BAD_SECRENEG, "secure renegotiation failed"),
    TLS_CODE(BR_ERR_EXTRA_EXTENSION, "the server sent an extension we did not ask for"),
    TLS_CODE(BR_ERR_BAD_SNI, "invalid server name indication"),
    TLS_CODE(BR_ERR_BAD_HELLO_DONE, "invalid ServerHelloDone message"),
    TLS_CODE(BR_ERR_LIMIT_EXCEEDED, "a BearSSL limit was exceeded"),
    TLS_CODE(BR_ERR_BAD_FINISHED, "Finished message mismatch (handshake tampered with?)"),
    TLS_CODE(BR_ERR_RESUME_MISMATCH, "session resumption mismatch"),
    TLS_CODE(BR_ERR_INVALID_ALGORITHM, "the server used an unsupported or disallowed algorithm"),
    TLS_CODE(BR_ERR_BAD_SIGNATURE, "the server's key exchange signature is invalid"),
    TLS_CODE(BR_ERR_WRONG_KEY_USAGE, "the server's key usage forbids this key exchange"),
    TLS_CODE(BR_ERR_NO_CLIENT_AUTH, "the server requires a client certificate"),
    TLS_CODE(BR_ERR_IO, "socket I/O error reported to BearSSL"),
    TLS_CODE(BR_ERR_X509_INVALID_VALUE, "certificate: invalid value in an element"),
    TLS_CODE(BR_ERR_X509_TRUNCATED, "certificate: DER data truncated"),
    TLS_CODE(BR_ERR_X509_EMPTY_CHAIN, "the server sent no certificate"),
    TLS_CODE(BR_ERR_X509_INNER_TRUNC, "certificate: an inner element is truncated"),
    TLS_CODE(BR_ERR_X509_BAD_TAG_CLASS, "certificate: unsupported DER tag class"),
    TLS_CODE(BR_ERR_X509_BAD_TAG_VALUE, "certificate: unsupported DER tag value"),
    TLS_CODE(BR_ERR_X509_INDEFINITE_LENGTH, "certificate: indefinite length (not DER)"),
    TLS_CODE(BR_ERR_X509_EXTRA_ELEMENT, "certificate: unexpected extra element"),
    TLS_CODE(BR_ERR_X509_UNEXPECTED, "certificate: unexpected element"),
    TLS_CODE(BR_ERR_X509_NOT_CONSTRUCTED, "certificate: expected a constructed element"),
    TLS_CODE(BR_ERR_X509_NOT_PRIMITIVE, "certificate: expected a primitive element"),
    TLS_CODE(BR_ERR_X509_PARTIAL_BYTE, "certificate: BIT STRING with a partial byte"),
    TLS_CODE(BR_ERR_X509_BAD_BOOLEAN, "certificate: invalid BOOLEAN"),
    TLS_CODE(BR_ERR_X509_OVERFLOW, "certificate: a value is too large"),
    TLS_CODE(BR_ERR_X509_BAD_DN, "certificate: invalid distinguished name"),
    TLS_CODE(BR_ERR_X509_BAD_TIME, "certificate: invalid validity date"),
    TLS_CODE(BR_ERR_X509_UNSUPPORTED, "certificate uses an unsupported feature or algorithm"),
    TLS_CODE(BR_ERR_X509_LIMIT_EXCEEDED, "certificate exceeds a BearSSL limit"),
    TLS_CODE(BR_ERR_X509_WRONG_KEY_TYPE, "certificate key type does not match its use"),
    TLS_CODE(BR_ERR_X509_BAD_SIGNATURE, "certificate signature is invalid"),
    TLS_CODE(BR_ERR_X509_TIME_UNKNOWN, "certificate dates not checkable: time unknown"),
    TLS_CODE(BR_ERR_X509_EXPIRED, "certificate expired or not yet valid (check the system clock)"),
    TLS_CODE(BR_ERR_X509_DN_MISMATCH, "certificate chain is broken: issuer name mismatch"),
    TLS_CODE(BR_ERR_X509_BAD_SERVER_NAME,
             "certificate does not match the server name (wrong host)"),
    TLS_CODE(BR_ERR_X509_CRITICAL_EXTENSION, "certificate has an unsupported critical extension"),
    TLS_CODE(BR_ERR_X509_NOT_CA, "an intermediate certificate is not a CA"),
    TLS_CODE(BR_ERR_X509_FORBIDDEN_KEY_USAGE, "certificate key usage forbids server use"),
    TLS_CODE(BR_ERR_X509_WEAK_PUBLIC_KEY, "certificate key too weak (RSA below TLS_RSA_MIN_BITS)"),
    TLS_CODE(BR_ERR_X509_NOT_TRUSTED,
             "certificate not trusted: its chain does not lead to a configured CA"),
};

static const struct tls_code *tls_code_find(int br_err)
{
	for (size_t i = 0; i < sizeof tls_codes / sizeof *tls_codes; i++)
		if (tls_codes[i].code == br_err)
			return &tls_codes[i];
	return NULL;
}

/* see tls.h */
const char *tls_error_text(int br_err)
{
	const struct tls_code *k = tls_code_find(br_err);

	if (k)
		return k->text;
	if (br_err >= BR_ERR_SEND_FATAL_ALERT && br_err < BR_ERR_SEND_FATAL_ALERT + 256)
		return "we aborted the connection with a fatal alert";
	if (br_err >= BR_ERR_RECV_FATAL_ALERT && br_err < BR_ERR_RECV_FATAL_ALERT + 256)
		return "the server sent a fatal alert";
	return "unknown BearSSL error";
}

/* see tls.h */
const char *tls_error_name(int br_err)
{
	const struct tls_code *k = tls_code_find(br_err);

	if (k)
		return k->name;
	if (br_err >= BR_ERR_SEND_FATAL_ALERT && br_err < BR_ERR_SEND_FATAL_ALERT + 256)
		return "BR_ERR_SEND_FATAL_ALERT";
	if (br_err >= BR_ERR_RECV_FATAL_ALERT && br_err < BR_ERR_RECV_FATAL_ALERT + 256)
		return "BR_ERR_RECV_FATAL_ALERT";
	return NULL;
}

/* TLS alert descriptions (RFC 5246 7.2, RFC 6066). */
static const char *tls_alert_name(int alert)
{
	switch (alert) {
	case 0:
		return "close_notify";
	case 10:
		return "unexpected_message";
	case 20:
		return "bad_record_mac";
	case 22:
		return "record_overflow";
	case 40:
		return "handshake_failure";
	case 42:
		return "bad_certificate";
	case 43:
		return "unsupported_certificate";
	case 44:
		return "certificate_revoked";
	case 45:
		return "certificate_expired";
	case 46:
		return "certificate_unknown";
	case 47:
		return "illegal_parameter";
	case 48:
		return "unknown_ca";
	case 49:
		return "access_denied";
	case 50:
		return "decode_error";
	case 51:
		return "decrypt_error";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 86:
		return "inappropriate_fallback";
	case 90:
		return "user_canceled";
	case 100:
		return "no_renegotiation";
	case 110:
		return "unsupported_extension";
	case 112:
		return "unrecognized_name";
	}
	return "unknown alert";
}

/* The engine closed: cleanly (both close_notify) or by failing. */
static int tls_fail_engine(struct tls_conn *c)
{
	int e = br_ssl_engine_last_error(&c->cc.eng);
	const char *name = tls_error_name(e);

	if (e == BR_ERR_OK)
		return tls_fail(c, FR_ECLOSED, 0, "%s %s closed with close_notify", tls_stage(c),
		                c->server_name);
	if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT + 256)
		return tls_fail(c, FR_EPROTO, e, "%s %s failed: %s: %s (%d)", tls_stage(c),
		                c->server_name, tls_error_text(e), tls_alert_name(e & 0xff),
		                e & 0xff);
	return tls_fail(c, FR_EPROTO, e, "%s %s failed: %s (%s %d)", tls_stage(c), c->server_name,
	                tls_error_text(e), name ? name : "BearSSL error", e);
}

static void tls_on_handshake(struct tls_conn *c)
{
	br_ssl_session_parameters sp;
	char suite[8];

	c->handshake_done = 1;
	br_ssl_engine_get_session_parameters(&c->cc.eng, &sp);
	snprintf(suite, sizeof suite, "0x%04X", sp.cipher_suite & 0xffffu);
	log_info("tls handshake done", LS("server", c->server_name),
	         LS("version", sp.version == BR_TLS12 ? "TLS1.2" : "other"), LS("suite", suite));
}

/* Run after every _ack: notes the handshake's end and makes a closed
 * engine's outcome sticky. Returns 0 or the sticky error. */
static int tls_check_engine(struct tls_conn *c)
{
	unsigned st = br_ssl_engine_current_state(&c->cc.eng);

	if (st & BR_SSL_CLOSED)
		return tls_fail_engine(c);
	if (!c->handshake_done && (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)))
		tls_on_handshake(c);
	return c->err;
}

/* Writes queued record bytes: > 0 written, 0 none queued, FR_EAGAIN, or error. */
static int tls_send_some(struct tls_conn *c)
{
	size_t len;
	unsigned char *rec = br_ssl_engine_sendrec_buf(&c->cc.eng, &len);
	ssize_t w;

	if (!rec)
		return 0;
	do
		w = c->sys->write(c->sys->ctx, c->fd, rec, len);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return FR_EAGAIN;
	if (w < 0)
		return tls_fail(c, FR_EIO, 0, "%s %s: write: %s", tls_stage(c), c->server_name,
		                strerror(errno));
	if (w == 0)
		return FR_EAGAIN;
	assert((size_t)w <= len);
	br_ssl_engine_sendrec_ack(&c->cc.eng, (size_t)w);
	c->bytes_out += (uint64_t)w;
	return tls_check_engine(c) < 0 ? c->err : (int)w;
}

/* EOF from the socket while the engine still expected records. */
static int tls_fail_eof(struct tls_conn *c)
{
	if (c->closing)
		return tls_fail(c, FR_ECLOSED, 0, "%s %s closed", tls_stage(c), c->server_name);
	if (!c->handshake_done)
		return tls_fail(c, FR_ECLOSED, 0,
		                "TLS handshake with %s failed: the server closed "
		                "the connection",
		                c->server_name);
	return tls_fail(c, FR_ECLOSED, 0,
	                "TLS connection to %s closed by the server without "
	                "close_notify (data may be truncated)",
	                c->server_name);
}

/* Reads what the engine asks for: > 0 read, 0 not wanted now, FR_EAGAIN, or error. */
static int tls_recv_some(struct tls_conn *c)
{
	size_t len;
	unsigned char *rec = br_ssl_engine_recvrec_buf(&c->cc.eng, &len);
	ssize_t r;

	if (!rec)
		return 0;
	do
		r = c->sys->read(c->sys->ctx, c->fd, rec, len);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return FR_EAGAIN;
	if (r < 0)
		return tls_fail(c, FR_EIO, 0, "%s %s: read: %s", tls_stage(c), c->server_name,
		                strerror(errno));
	if (r == 0)
		return tls_fail_eof(c);
	assert((size_t)r <= len);
	br_ssl_engine_recvrec_ack(&c->cc.eng, (size_t)r);
	c->bytes_in += (uint64_t)r;
	return tls_check_engine(c) < 0 ? c->err : (int)r;
}

/* Turns bytes accepted by tls_write into a record (which SENDREC then shows). */
static void tls_cut_record(struct tls_conn *c)
{
	if (!c->unflushed)
		return;
	c->unflushed = 0;
	br_ssl_engine_flush(&c->cc.eng, 0);
	tls_check_engine(c);
}

/* see tls.h */
int tls_pump(struct tls_conn *c)
{
	int moved = 0;

	assert(c->sys != NULL);
	if (c->err)
		return c->err;
	tls_cut_record(c);
	/* Each pass moves at most a buffer each way, or stops: the engine wants
	 * only what fits its buffer, and stops reading while decrypted data
	 * waits. The bound is for a peer feeding records that carry no data. */
	while (!c->err && moved < TLS_PUMP_BYTES_MAX - 2 * TLS_IOBUF_BYTES) {
		int w = tls_send_some(c);
		int r = c->err ? 0 : tls_recv_some(c);

		if (w <= 0 && r <= 0)
			break;
		moved += (w > 0 ? w : 0) + (r > 0 ? r : 0);
	}
	if (c->err)
		return c->err;
	return moved > 0 ? moved : FR_EAGAIN;
}

/* see tls.h */
int tls_read(struct tls_conn *c, void *buf, size_t n)
{
	size_t len;
	unsigned char *app = br_ssl_engine_recvapp_buf(&c->cc.eng, &len);

	assert(buf != NULL && n > 0);
	/* Data decrypted before a failure or EOF was authenticated: hand it out
	 * first, the error after. */
	if (!app || len == 0)
		return c->err ? c->err : FR_EAGAIN;
	if (len > n)
		len = n;
	if (len > INT_MAX)
		len = INT_MAX;
	memcpy(buf, app, len);
	br_ssl_engine_recvapp_ack(&c->cc.eng, len);
	tls_check_engine(c);
	return (int)len;
}

/* see tls.h */
size_t tls_pending(const struct tls_conn *c)
{
	size_t len;

	return br_ssl_engine_recvapp_buf(&c->cc.eng, &len) ? len : 0;
}

/* see tls.h */
int tls_write(struct tls_conn *c, const void *buf, size_t n)
{
	size_t len;
	unsigned char *app;

	assert(buf != NULL && n > 0);
	assert(!c->closing); /* writing after tls_close is a caller bug */
	if (c->err)
		return c->err;
	/* NULL until the handshake has succeeded: BearSSL's guarantee that no
	 * application byte precedes the server's authentication. */
	app = br_ssl_engine_sendapp_buf(&c->cc.eng, &len);
	if (!app || len == 0)
		return FR_EAGAIN;
	if (len > n)
		len = n;
	if (len > INT_MAX)
		len = INT_MAX;
	memcpy(app, buf, len);
	br_ssl_engine_sendapp_ack(&c->cc.eng, len);
	c->unflushed = 1;
	if (tls_check_engine(c) < 0)
		return c->err;
	return (int)len;
}

/* see tls.h */
int tls_flush(struct tls_conn *c)
{
	int r = tls_pump(c);

	if (r < 0 && r != FR_EAGAIN)
		return r;
	return br_ssl_engine_current_state(&c->cc.eng) & BR_SSL_SENDREC ? FR_EAGAIN : 0;
}

/* see tls.h */
int tls_close(struct tls_conn *c)
{
	int r;

	if (c->err)
		return 0;
	if (!c->closing) {
		/* Cut pending data into a record first: close_notify must follow it. */
		tls_cut_record(c);
		c->closing = 1;
		br_ssl_engine_close(&c->cc.eng);
		if (tls_check_engine(c) < 0)
			return 0;
	}
	r = tls_pump(c);
	if (r < 0 && r != FR_EAGAIN)
		return 0;
	return br_ssl_engine_current_state(&c->cc.eng) & BR_SSL_SENDREC ? FR_EAGAIN : 0;
}

/* see tls.h */
short tls_want(const struct tls_conn *c)
{
	unsigned st;
	short ev = 0;

	if (c->err || !c->sys)
		return 0;
	st = br_ssl_engine_current_state(&c->cc.eng);
	if (st & BR_SSL_CLOSED)
		return 0;
	if ((st & BR_SSL_SENDREC) || c->unflushed)
		ev |= POLLOUT;
	if (st & BR_SSL_RECVREC)
		ev |= POLLIN;
	return ev;
}

/* see tls.h */
int tls_handshake_done(const struct tls_conn *c)
{
	return c->handshake_done;
}

/* see tls.h */
int tls_err(const struct tls_conn *c)
{
	return c->err;
}

/* see tls.h */
const char *tls_errmsg(const struct tls_conn *c)
{
	return c->err ? c->msg : "";
}

/* see tls.h */
int tls_br_err(const struct tls_conn *c)
{
	return c->br_err;
}

/* see tls.h */
int64_t tls_days_from_civil(int64_t year, int month, int day)
{
	/* H. Hinnant's days_from_civil: years start in March, so the leap day
	 * is the last day of its year and eras of 400 years repeat exactly. */
	int64_t y, era, yoe, doy, doe;

	assert(month >= 1 && month <= 12 && day >= 1 && day <= 31);
	y = year - (month <= 2);
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	/* era * 146097 + doe counts from 0000-03-01; 0000-01-01 is 60 days
	 * earlier (year 0 is a leap year). */
	return era * 146097 + doe + 60;
}

/* see tls.h */
int tls_x509_time(int64_t unix_ms, uint32_t *days, uint32_t *seconds)
{
	const int64_t day_ms = 86400000;
	int64_t d = unix_ms / day_ms, rem = unix_ms % day_ms;

	if (rem < 0) { /* C division truncates; dates before 1970 need floor */
		d--;
		rem += day_ms;
	}
	if (d < -(int64_t)TLS_DAYS_0AD_TO_UNIX || d > (int64_t)UINT32_MAX - TLS_DAYS_0AD_TO_UNIX)
		return FR_ERANGE;
	*days = (uint32_t)(d + TLS_DAYS_0AD_TO_UNIX);
	*seconds = (uint32_t)(rem / 1000);
	return 0;
}

/* Injects TLS_SEED_BYTES from getrandom(2): BearSSL 0.6 seeds itself only
 * from RDRAND or /dev/urandom, which a scratch image or initramfs may lack. */
static int tls_seed(struct tls_conn *c)
{
	unsigned char seed[TLS_SEED_BYTES];
	ssize_t r;

	do
		r = getrandom(seed, sizeof seed, GRND_NONBLOCK);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return tls_fail(c, FR_EIO, 0,
		                "TLS to %s: the kernel's random pool is not "
		                "initialised yet (early boot): retry later",
		                c->server_name);
	if (r != (ssize_t)sizeof seed)
		return tls_fail(c, FR_EIO, 0, "TLS to %s: getrandom: %s", c->server_name,
		                r < 0 ? strerror(errno) : "short read");
	br_ssl_engine_inject_entropy(&c->cc.eng, seed, sizeof seed);
	/* Keep the seed out of later stack frames; volatile stops the compiler
	 * from dropping a store to memory about to die. */
	for (size_t i = 0; i < sizeof seed; i++)
		((volatile unsigned char *)seed)[i] = 0;
	return 0;
}

/* The validation time from the loop's wall clock, so simulated time counts. */
static int tls_set_time(struct tls_conn *c)
{
	uint32_t days, seconds;
	int64_t now_ms = c->sys->wall_ms(c->sys->ctx);

	/* 0/0 would mean "use time(NULL)" to BearSSL: refuse rather than let the
	 * real clock slip in behind a simulated one. */
	if (tls_x509_time(now_ms, &days, &seconds) < 0 || (days == 0 && seconds == 0))
		return tls_fail(c, FR_ERANGE, 0,
		                "TLS to %s: wall clock %lld ms is outside "
		                "certificate dates' range",
		                c->server_name, (long long)now_ms);
	br_x509_minimal_set_time(&c->xc, days, seconds);
	return 0;
}

static int tls_check_args(struct tls_conn *c, const char *server_name,
                          const struct pem_ta_store *anchors)
{
	size_t len = strlen(server_name);

	/* An empty name would make BearSSL skip the host name check. */
	if (len == 0 || len > TLS_SERVER_NAME_MAX)
		return tls_fail(c, FR_EINVAL, 0, "TLS: server name must be 1..%d bytes, got %zu",
		                TLS_SERVER_NAME_MAX, len);
	memcpy(c->server_name, server_name, len + 1);
	if (anchors->err || anchors->n == 0)
		return tls_fail(c, FR_EINVAL, 0, "TLS to %s: no trust anchor loaded%s%s",
		                c->server_name, anchors->err ? ": " : "", pem_ta_errmsg(anchors));
	return 0;
}

/* see tls.h */
int tls_start(struct tls_conn *c, int fd, const char *server_name,
              const struct pem_ta_store *anchors, const struct loop_sys *sys)
{
	assert(c != NULL && server_name != NULL && anchors != NULL && sys != NULL);
	assert(fd >= 0);
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->sys = sys;
	if (tls_check_args(c, server_name, anchors) < 0)
		return c->err;
	br_ssl_client_init_full(&c->cc, &c->xc, anchors->ta, anchors->n);
	br_ssl_engine_set_versions(&c->cc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_add_flags(&c->cc.eng, BR_OPT_NO_RENEGOTIATION);
	br_x509_minimal_set_minrsa(&c->xc, TLS_RSA_MIN_BITS / 8);
	br_ssl_engine_set_buffer(&c->cc.eng, c->iobuf, sizeof c->iobuf, 1);
	/* Entropy after init_full (the DRBG needs its hash functions) and
	 * before reset (which refuses an unseeded engine). */
	if (tls_set_time(c) < 0 || tls_seed(c) < 0)
		return c->err;
	if (!br_ssl_client_reset(&c->cc, c->server_name, 0))
		return tls_fail_engine(c);
	return 0;
}
