/*
 * http.h -- an HTTP/1.1 client for Bybit's signed REST GETs, over a
 * non-blocking byte stream (stream.h; tls_read/tls_write in production).
 *
 * Three layers, each usable alone:
 *   - request building: http_query_build (percent-encoding, cursor kept
 *     verbatim), http_sign_hex (X-BAPI-SIGN), http_build_get (the bytes);
 *   - a pure, incremental response parser (struct http_resp): status line,
 *     headers, a Content-Length, chunked (extensions and trailers allowed) or
 *     read-until-close body into a bounded buffer, fed in any fragments, one
 *     response after another on a keep-alive connection;
 *   - struct http_conn: one request at a time over a stream.
 * http_classify turns a response into what the caller should do (429 rate
 * limited, 403 IP ban, 5xx retry, 200 + JSON body). Reading retCode and time
 * out of the body is decode_rest's job (decode.h).
 *
 * Nothing is allocated; every buffer is inside the structs, sized by the
 * constants below. Results follow err.h: >= 0 success, FR_EAGAIN "not yet",
 * other negative values are errors, sticky in the structs that keep one:
 *   FR_EPROTO   a malformed response (the message says where);
 *   FR_ERANGE   a response larger than its bound (header, line, body);
 *   FR_EINVAL   a request part that is empty, too long or has a byte it
 *               must not;
 *   FR_ECLOSED  the stream ended before the response did;
 *   else        the stream's own error.
 */
#ifndef FR_HTTP_H
#define FR_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "stream.h"

/* Largest body kept. /v5/execution/list with limit=100 answers ~60-100 KB. */
#ifndef HTTP_BODY_MAX
#define HTTP_BODY_MAX (1024 * 1024)
#endif
#define HTTP_HEAD_MAX 16384  /* status line + headers, and trailers, bytes */
#define HTTP_LINE_MAX 4096   /* one header, status or chunk-size line */
#define HTTP_REQ_MAX 4096    /* a whole request */
#define HTTP_RBUF_MAX 4096   /* http_conn's read buffer */
#define HTTP_SIGN_HEX_LEN 64 /* hex of an HMAC-SHA256 */
#define HTTP_DONE 1          /* a complete response is ready */

/* Default waits when the server names none (Retry-After). */
#define HTTP_RATE_WAIT_MS 2000
#define HTTP_RETRY_WAIT_MS 1000
#define HTTP_BAN_WAIT_MS (10 * 60 * 1000) /* Bybit: an IP ban lasts >= 10 min */
#define HTTP_WAIT_MAX_MS (60 * 60 * 1000) /* cap on a server's Retry-After */

_Static_assert(HTTP_LINE_MAX <= HTTP_HEAD_MAX, "a line fits the header budget");
_Static_assert(HTTP_BODY_MAX < INT32_MAX, "body offsets fit an int");

/* ---- requests ---- */

/* One query parameter. A verbatim value is copied as is: Bybit's
 * nextPageCursor comes back already percent-encoded ("123%3A1%2C123%3A1"),
 * and encoding it again ("%253A") would hand the server a different cursor
 * (the signature covers the query as sent, so it would still verify). Verbatim values may hold only
 * unreserved bytes and well-formed %XX escapes. */
struct http_kv {
	const char *key;
	const char *value;
	int verbatim;
};

/*
 * Writes "k1=v1&k2=v2..." into out (cap bytes, NUL-terminated), keys and
 * non-verbatim values percent-encoded (RFC 3986 unreserved bytes kept, the
 * rest %XX, upper case). Order is kept: Bybit signs the string as sent.
 * Returns the length, FR_ERANGE when it does not fit, FR_EINVAL for an empty
 * key or a verbatim value with a byte it must not have.
 */
int http_query_build(char *out, size_t cap, const struct http_kv *kv, size_t n);

/*
 * X-BAPI-SIGN: lower-case hex of HMAC-SHA256(secret, timestamp_ms (decimal)
 * + api_key + recv_window_ms (decimal) + query) into hex (65 bytes, NUL-
 * terminated).
 */
void http_sign_hex(const char *secret, int64_t timestamp_ms, const char *api_key,
                   int64_t recv_window_ms, const char *query, char hex[HTTP_SIGN_HEX_LEN + 1]);

struct http_get_req {
	const char *host;  /* Host value, ":port" included when not 443 */
	const char *path;  /* "/v5/execution/list", starts with '/' */
	const char *query; /* from http_query_build; "" for none */
	const char *api_key;  /* NULL: a public request, no X-BAPI-* headers */
	const char *secret;   /* never copied into out: only its HMAC is */
	int64_t timestamp_ms; /* exchange time (local clock + tracked offset) */
	int64_t recv_window_ms;
};

/*
 * Writes the request (GET path?query HTTP/1.1, Host, Connection: keep-alive,
 * X-BAPI-API-KEY, X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW, X-BAPI-SIGN, empty
 * line; without api_key only the first three) into out (cap bytes; not
 * NUL-terminated). Returns the length,
 * FR_ERANGE when it does not fit, FR_EINVAL for an empty or ill-formed part
 * (a byte outside visible ASCII, a path without '/', a query byte outside
 * the query set).
 */
int http_build_get(char *out, size_t cap, const struct http_get_req *g);

/* ---- responses ---- */

struct http_resp {
	int state;      /* private */
	int status;     /* 100..599 once the status line is read */
	int http_minor; /* HTTP/1.x */
	int conn_close; /* the server will close after this response */
	int chunked;
	int64_t content_length; /* -1 when none */
	int64_t retry_after_s;  /* -1 when none or not delta-seconds */
	size_t head_used;       /* header and trailer bytes so far */
	uint64_t chunk_left;    /* private */
	size_t body_max;        /* <= HTTP_BODY_MAX */
	size_t body_len;
	size_t line_len;
	char line[HTTP_LINE_MAX];
	char body[HTTP_BODY_MAX + 1]; /* body[body_len] is a NUL when done */
	int err;                      /* sticky: 0 or FR_EPROTO / FR_ERANGE / FR_ECLOSED */
	char errmsg[ERR_MSG_MAX];
};

/* Readies r for a first response; body_max 0 means HTTP_BODY_MAX, else
 * 1..HTTP_BODY_MAX. */
void http_resp_init(struct http_resp *r, size_t body_max);

/*
 * Parses n more bytes. Returns FR_EAGAIN when all were taken and the
 * response is not complete; HTTP_DONE when it is, *used saying how many of
 * the n bytes it took (the rest begin the next response: call
 * http_resp_next, then feed them); or the sticky error. Interim 1xx
 * responses are skipped; 101 is an error (no upgrade was asked). Feeding a
 * done response takes nothing and returns HTTP_DONE again.
 */
int http_resp_feed(struct http_resp *r, const void *buf, size_t n, size_t *used);

/* The stream ended: completes a body delimited by the close (HTTP_DONE),
 * returns HTTP_DONE for a complete response, else sets FR_ECLOSED. */
int http_resp_eof(struct http_resp *r);

/* After HTTP_DONE: readies r for the next response on the same connection
 * (body_max kept). */
void http_resp_next(struct http_resp *r);

enum http_class {
	HTTP_CLASS_OK,           /* 200 with a JSON object body: decode it */
	HTTP_CLASS_RATE_LIMITED, /* 429: wait, then retry */
	HTTP_CLASS_BANNED,       /* 403: IP ban, wait at least HTTP_BAN_WAIT_MS */
	HTTP_CLASS_RETRY,        /* 5xx, 408, or 200 without JSON: transient */
	HTTP_CLASS_FAIL,         /* any other status: do not retry as is */
};

/* Classifies a done response; *wait_ms gets the wait before a retry (0 for
 * OK and FAIL), from Retry-After when given (capped at HTTP_WAIT_MAX_MS). */
enum http_class http_classify(const struct http_resp *r, int64_t *wait_ms);

/* ---- one request at a time over a stream ---- */

struct http_conn {
	struct fr_stream io;
	int busy; /* a request is out, its response not done */
	char req[HTTP_REQ_MAX];
	size_t req_off, req_len;
	unsigned char rbuf[HTTP_RBUF_MAX];
	size_t rb_off, rb_len; /* read but not yet parsed */
	struct http_resp resp;
	int err; /* sticky */
	char errmsg[ERR_MSG_MAX];
};

/* Readies c for a new connection over io (valid while c is used). */
void http_conn_init(struct http_conn *c, const struct fr_stream *io, size_t body_max);

/*
 * Queues the signed GET (the previous response is dropped). Returns 0,
 * FR_EAGAIN while a response is still outstanding, FR_EINVAL/FR_ERANGE from
 * http_build_get (not sticky), or the sticky error.
 */
int http_conn_get(struct http_conn *c, const struct http_get_req *g);

/*
 * Writes the request and reads the response as far as the stream allows.
 * Returns HTTP_DONE once c->resp holds the whole response (again on later
 * calls until the next http_conn_get), FR_EAGAIN, or the sticky error. When
 * c->resp.conn_close is set the connection cannot carry another request.
 */
int http_conn_pump(struct http_conn *c);

int http_conn_err(const struct http_conn *c);
const char *http_conn_errmsg(const struct http_conn *c);

#endif
