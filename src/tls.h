/*
 * tls.h -- a TLS 1.2 client on BearSSL 0.6, pumped over a socket it does not
 * own.
 *
 * The caller (the loop's owner) creates, connects and closes the socket; this
 * module only moves bytes between it and BearSSL's engine through the
 * engine's _buf/_ack pairs, and every read and write goes through the
 * struct loop_sys given to tls_start, so a test can run it in a simulated
 * world. Nothing is allocated: a struct tls_conn (about 40 KB, BearSSL's
 * BR_SSL_BUFSIZE_BIDI record buffer included) lives in the caller's static
 * storage, and the trust anchors in a struct pem_ta_store (pem.h).
 *
 * Security is not optional: BearSSL's full client profile
 * (br_ssl_client_init_full) restricted to TLS 1.2 (BearSSL 0.6 has no 1.3);
 * the chain is validated up to the store's anchors, the validity dates against
 * the loop's wall clock (sys->wall_ms, so a simulated clock is honoured), and
 * the host name against the certificate's dNSName SANs -- always, there is no
 * option to skip any of it. RSA keys in the chain must have at least
 * TLS_RSA_MIN_BITS; renegotiation is refused (BR_OPT_NO_RENEGOTIATION: no
 * exchange needs it, and it is a second handshake to get wrong). BearSSL
 * sends no application data before the handshake has succeeded: tls_write
 * refuses it until then.
 *
 * Using a connection:
 *
 *   tls_start(c, fd, "stream.bybit.com", &anchors, sys);
 *   each loop iteration: poll the fd for tls_want(c); on readiness
 *     tls_pump(c);                       // socket <-> engine, handshake too
 *     while ((n = tls_read(c, buf, sizeof buf)) > 0) consume(buf, n);
 *     tls_write(c, msg, len) ...;        // batched into records
 *   a negative result other than FR_EAGAIN is the sticky error: log
 *   tls_errmsg(c) once, close the fd, reconnect later with tls_start.
 *
 * Results follow err.h: >= 0 success (a byte count), FR_EAGAIN "nothing can
 * happen now" (an ordinary outcome), any other negative value is the sticky
 * error, which every later call returns again until the next tls_start:
 *   FR_EPROTO   the TLS layer failed: certificate refused, handshake or
 *               record error, alert; tls_br_err() gives BearSSL's code and
 *               tls_errmsg() says it in words (tls_error_text).
 *   FR_EIO      the socket's read or write failed (errno in the message).
 *   FR_ECLOSED  the peer closed: cleanly (close_notify), or abruptly by EOF
 *               (the message says which; an abrupt close may be a
 *               truncation attack, so data read before it is still good but
 *               the stream may be incomplete).
 *
 * The caller's duties (not checkable here, since the fd may be a simulated
 * one): SIGPIPE is ignored (loop_signals_install does it), as sys->write is
 * a plain write(2) on a socket; the fd is non-blocking; the store outlives
 * the connection (BearSSL keeps pointers into it). Pointers and sizes are
 * asserted. This module does not log failures: the owner logs the sticky
 * message once, with its own context. It logs one info line when a
 * handshake completes (version and cipher suite).
 */
#ifndef FR_TLS_H
#define FR_TLS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "err.h"
#include "loop.h"
#include "pem.h"

/* BearSSL's engine keeps the name (SNI and verification) in 256 bytes. */
#define TLS_SERVER_NAME_MAX 255
/* Full-duplex record buffer: a whole 16 KB record each way. */
#define TLS_IOBUF_BYTES BR_SSL_BUFSIZE_BIDI
/* Weakest RSA key accepted anywhere in the chain (BearSSL's default: 1024). */
#define TLS_RSA_MIN_BITS 2048
/* Entropy injected from getrandom(2) at each tls_start. */
#define TLS_SEED_BYTES 32
/* One tls_pump call stops after moving this many bytes (it is called again
 * while tls_want asks), so a fast peer cannot keep the loop from its other
 * fds, and the count always fits the int result. */
#define TLS_PUMP_BYTES_MAX (8 * TLS_IOBUF_BYTES)

_Static_assert(TLS_RSA_MIN_BITS % 8 == 0, "br_x509_minimal_set_minrsa takes bytes");
_Static_assert(TLS_PUMP_BYTES_MAX >= 2 * TLS_IOBUF_BYTES && TLS_PUMP_BYTES_MAX < (1 << 30),
               "a pump moves at least a full buffer each way, and the count fits an int");
_Static_assert(TLS_IOBUF_BYTES >= BR_SSL_BUFSIZE_INPUT + BR_SSL_BUFSIZE_OUTPUT,
               "full-size records in both directions");

struct tls_conn {
	br_ssl_client_context cc;
	br_x509_minimal_context xc;
	unsigned char iobuf[TLS_IOBUF_BYTES];
	char server_name[TLS_SERVER_NAME_MAX + 1];
	const struct loop_sys *sys;
	int fd;
	int handshake_done; /* 1 once application data may flow */
	int unflushed;      /* tls_write queued bytes not yet cut into a record */
	int closing;        /* tls_close was called */
	int err;            /* sticky: 0 or a negative FR_* */
	int br_err;         /* BearSSL's code behind err, 0 if none */
	char msg[ERR_MSG_MAX];
	uint64_t bytes_in, bytes_out; /* on the socket, records included */
};

/*
 * Prepares c for a new connection over fd (connected or still connecting,
 * non-blocking): resets the engine, seeds it from getrandom(2), sets the
 * validation time from sys->wall_ms, and queues the ClientHello (sent by the
 * first tls_pump). server_name is copied: it is sent as SNI and must match a
 * dNSName of the server's certificate (BearSSL 0.6 ignores the subject CN and
 * iPAddress SANs, so connect by name even to an address).
 * Returns 0, or sets and returns the sticky error: FR_EINVAL an empty or
 * too long name, or a store with no anchor or in error; FR_EIO getrandom
 * failed, or the kernel's random pool is not initialised yet (early boot:
 * the message says so; retry later -- tls_start never blocks on it);
 * FR_ERANGE the wall clock is before 0 AD or past BearSSL's range;
 * FR_EPROTO BearSSL refused to start. Reusing c for a later connection is
 * just another tls_start (the old fd is the caller's to close).
 */
int tls_start(struct tls_conn *c, int fd, const char *server_name,
              const struct pem_ta_store *anchors, const struct loop_sys *sys);

/*
 * Moves bytes both ways until the socket would block or the engine needs the
 * application: writes queued records, reads what the engine asks for, and
 * cuts bytes left by tls_write into a record first. The handshake happens
 * here. Returns the bytes moved over the socket (> 0, at most
 * TLS_PUMP_BYTES_MAX), FR_EAGAIN when none could move, or the sticky error.
 */
int tls_pump(struct tls_conn *c);

/*
 * Copies up to n decrypted bytes into buf. No socket I/O: call tls_pump
 * first. Returns the count (> 0), FR_EAGAIN when none is ready (also during
 * the handshake), or the sticky error once everything before it was read
 * (FR_ECLOSED after the peer's close_notify).
 */
int tls_read(struct tls_conn *c, void *buf, size_t n);

/* Decrypted bytes ready for tls_read now (0 when none). */
size_t tls_pending(const struct tls_conn *c);

/*
 * Queues up to n bytes of application data (n > 0). No socket I/O: the bytes
 * are cut into a record and sent by the next tls_pump or tls_flush, and
 * tls_want asks for POLLOUT meanwhile, so writes made within one loop
 * iteration share records. Returns the count accepted (> 0, possibly < n:
 * at most one record's worth), FR_EAGAIN when the engine takes nothing now
 * (handshake not done -- no application data ever precedes it -- or the
 * socket is behind), or the sticky error.
 */
int tls_write(struct tls_conn *c, const void *buf, size_t n);

/*
 * Cuts queued bytes into a record and pumps. Returns 0 when nothing is left
 * for the socket, FR_EAGAIN when some is (wait for POLLOUT), or the sticky
 * error.
 */
int tls_flush(struct tls_conn *c);

/*
 * Starts an orderly close (sends close_notify, once) and pumps. Returns 0
 * when nothing is left to write -- the caller may close the fd now, without
 * waiting for the peer's close_notify (allowed for TLS 1.2) -- FR_EAGAIN
 * while our close_notify is still queued, and 0 as well when the connection
 * had already ended. Application data that is still queued is sent first.
 */
int tls_close(struct tls_conn *c);

/*
 * The poll events the connection needs now: POLLOUT while records (or
 * tls_write bytes) wait for the socket, POLLIN while the engine accepts
 * record bytes. 0 means the socket is not needed now: either tls_pending()
 * bytes wait for tls_read (the engine reads no more until they are taken)
 * or the connection has ended (tls_err).
 */
short tls_want(const struct tls_conn *c);

int tls_handshake_done(const struct tls_conn *c);

/* The sticky error (0 when none), its message ("" when none), and
 * BearSSL's code behind it (0 when the failure was not BearSSL's). */
int tls_err(const struct tls_conn *c);
const char *tls_errmsg(const struct tls_conn *c);
int tls_br_err(const struct tls_conn *c);

/*
 * BearSSL's error code in words, e.g. BR_ERR_X509_NOT_TRUSTED ->
 * "certificate not trusted: its chain does not lead to a configured CA".
 * Codes BR_ERR_RECV_FATAL_ALERT + a and BR_ERR_SEND_FATAL_ALERT + a say who
 * sent a fatal alert; a connection's message adds the alert's name ("...:
 * protocol_version (70)"). Always a static string; unknown codes give
 * "unknown BearSSL error".
 */
const char *tls_error_text(int br_err);

/* The symbolic name of a BearSSL error code ("BR_ERR_X509_EXPIRED"), or
 * NULL for codes this module does not know. */
const char *tls_error_name(int br_err);

/*
 * BearSSL's validation time for Unix epoch milliseconds: days since January
 * 1st, 0 AD in the proleptic Gregorian calendar, and seconds since midnight
 * UTC. Integer arithmetic only. FR_ERANGE before 0 AD or past 2^32-1 days.
 */
int tls_x509_time(int64_t unix_ms, uint32_t *days, uint32_t *seconds);

/* Days since January 1st, 0 AD of a Gregorian date (month 1..12, day
 * 1..31; any year, negative before 0 AD). BearSSL's epoch; 1970-01-01 is
 * TLS_DAYS_0AD_TO_UNIX. */
int64_t tls_days_from_civil(int64_t year, int month, int day);
#define TLS_DAYS_0AD_TO_UNIX 719528

#endif
