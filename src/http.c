/*
 * http.c -- HTTP/1.1 client for signed REST GETs (see http.h).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bearssl.h>

#include "http.h"

enum {
	H_STATUS,     /* status line */
	H_HEADER,     /* header lines up to the empty one */
	H_BODY_LEN,   /* Content-Length bytes */
	H_BODY_EOF,   /* everything until the stream ends */
	H_CHUNK_SIZE, /* chunk-size [; extensions] line */
	H_CHUNK_DATA,
	H_CHUNK_CRLF, /* the empty line after a chunk's data */
	H_TRAILER,    /* trailer lines up to the empty one */
	H_DONE,
};

/* ---- small helpers ---- */

static int http_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int http_ieq(const char *a, size_t n, const char *b)
{
	size_t i;

	if (strlen(b) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != b[i])
			return 0;
	return 1;
}

static int http_is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int http_is_unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = http_lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 1 when the comma-separated list v[0..n) holds token (lower case). */
static int http_list_has(const char *v, size_t n, const char *token)
{
	size_t i = 0;

	while (i < n) {
		size_t a, b;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (a = i; i < n && v[i] != ','; i++)
			;
		for (b = i; b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'); b--)
			;
		if (b > a && http_ieq(v + a, b - a, token))
			return 1;
	}
	return 0;
}

/* Parses 1..18 decimal digits (no sign, no space); -1 otherwise. */
static int64_t http_decimal(const char *s, size_t n)
{
	int64_t v = 0;
	size_t i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* ---- requests ---- */

/* Appends s[0..n) to out at *len, percent-encoding unless verbatim. */
static int http_put(char *out, size_t cap, size_t *len, const char *s, size_t n, int encode)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int plain = !encode || http_is_unreserved(c);

		if (cap - *len < (plain ? 2u : 4u))
			return FR_ERANGE;
		if (plain) {
			out[(*len)++] = (char)c;
		} else {
			out[(*len)++] = '%';
			out[(*len)++] = hex[c >> 4];
			out[(*len)++] = hex[c & 15];
		}
	}
	return 0;
}

/* Unreserved bytes and well-formed %XX escapes only. */
static int http_verbatim_ok(const char *s)
{
	for (; *s; s++) {
		if (http_is_unreserved((unsigned char)*s))
			continue;
		if (*s != '%' || http_hexval((unsigned char)s[1]) < 0 ||
		    http_hexval((unsigned char)s[2]) < 0)
			return 0;
		s += 2;
	}
	return 1;
}

/* see http.h */
int http_query_build(char *out, size_t cap, const struct http_kv *kv, size_t n)
{
	size_t len = 0, i;

	assert(out && cap > 0 && (kv || n == 0));
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *v = kv[i].value ? kv[i].value : "";

		if (!kv[i].key || !kv[i].key[0] || (kv[i].verbatim && !http_verbatim_ok(v)))
			return FR_EINVAL;
		if ((i && http_put(out, cap, &len, "&", 1, 0) < 0) ||
		    http_put(out, cap, &len, kv[i].key, strlen(kv[i].key), 1) < 0 ||
		    http_put(out, cap, &len, "=", 1, 0) < 0 ||
		    http_put(out, cap, &len, v, strlen(v), !kv[i].verbatim) < 0) {
			out[0] = '\0';
			return FR_ERANGE;
		}
	}
	out[len] = '\0';
	return (int)len;
}

/* see http.h */
void http_sign_hex(const char *secret, int64_t timestamp_ms, const char *api_key,
                   int64_t recv_window_ms, const char *query, char hex[HTTP_SIGN_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char mac[32];
	char ts[24], rw[24];
	size_t i;

	snprintf(ts, sizeof ts, "%" PRId64, timestamp_ms);
	snprintf(rw, sizeof rw, "%" PRId64, recv_window_ms);
	br_hmac_key_init(&kc, &br_sha256_vtable, secret, strlen(secret));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, ts, strlen(ts));
	br_hmac_update(&hc, api_key, strlen(api_key));
	br_hmac_update(&hc, rw, strlen(rw));
	br_hmac_update(&hc, query, strlen(query));
	assert(br_hmac_size(&hc) == sizeof mac);
	br_hmac_out(&hc, mac);
	for (i = 0; i < sizeof mac; i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	hex[HTTP_SIGN_HEX_LEN] = '\0';
}

/* Non-empty visible ASCII. */
static int http_token_ok(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* Bytes a query may carry as sent: unreserved, %XX, '=' and '&'. */
static int http_query_ok(const char *q)
{
	for (; *q; q++) {
		if (*q == '=' || *q == '&' || http_is_unreserved((unsigned char)*q))
			continue;
		if (*q != '%' || http_hexval((unsigned char)q[1]) < 0 ||
		    http_hexval((unsigned char)q[2]) < 0)
			return 0;
		q += 2;
	}
	return 1;
}

/* see http.h */
int http_build_get(char *out, size_t cap, const struct http_get_req *g)
{
	char sign[HTTP_SIGN_HEX_LEN + 1];
	int n;

	assert(out && g);
	if (!http_token_ok(g->host) || !http_token_ok(g->path) || g->path[0] != '/' || !g->query ||
	    !http_query_ok(g->query))
		return FR_EINVAL;
	if (!g->api_key) {
		n = snprintf(out, cap, "GET %s%s%s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n",
		             g->path, g->query[0] ? "?" : "", g->query, g->host);
		return n < 0 || (size_t)n >= cap ? FR_ERANGE : n;
	}
	assert(g->secret);
	if (!http_token_ok(g->api_key) || g->timestamp_ms <= 0 || g->recv_window_ms <= 0)
		return FR_EINVAL;
	http_sign_hex(g->secret, g->timestamp_ms, g->api_key, g->recv_window_ms, g->query, sign);
	n = snprintf(out, cap,
	             "GET %s%s%s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n"
	             "X-BAPI-API-KEY: %s\r\nX-BAPI-TIMESTAMP: %" PRId64 "\r\n"
	             "X-BAPI-RECV-WINDOW: %" PRId64 "\r\nX-BAPI-SIGN: %s\r\n\r\n",
	             g->path, g->query[0] ? "?" : "", g->query, g->host, g->api_key,
	             g->timestamp_ms, g->recv_window_ms, sign);
	if (n < 0 || (size_t)n >= cap)
		return FR_ERANGE;
	return n;
}

/* ---- response parser ---- */

__attribute__((format(printf, 3, 4))) static int http_fail(struct http_resp *r, int err,
                                                           const char *fmt, ...)
{
	va_list ap;

	if (r->err)
		return r->err;
	r->err = err;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

/* see http.h */
void http_resp_init(struct http_resp *r, size_t body_max)
{
	assert(body_max <= HTTP_BODY_MAX);
	r->body_max = body_max ? body_max : HTTP_BODY_MAX;
	r->err = 0;
	r->errmsg[0] = '\0';
	http_resp_next(r);
}

/* see http.h */
void http_resp_next(struct http_resp *r)
{
	assert(!r->err && r->body_max > 0);
	r->state = H_STATUS;
	r->status = 0;
	r->http_minor = 1;
	r->conn_close = 0;
	r->chunked = 0;
	r->content_length = -1;
	r->retry_after_s = -1;
	r->head_used = 0;
	r->chunk_left = 0;
	r->body_len = 0;
	r->line_len = 0;
	r->body[0] = '\0';
}

static int http_on_status(struct http_resp *r, const char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return http_fail(r, FR_EPROTO, "http: malformed status line");
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r->http_minor = l[7] - '0';
	r->conn_close = r->http_minor == 0;
	r->state = H_HEADER;
	return 0;
}

static int http_on_length(struct http_resp *r, const char *v, size_t n)
{
	int64_t len = http_decimal(v, n);

	if (len < 0)
		return http_fail(r, FR_EPROTO, "http: malformed Content-Length");
	if (r->content_length >= 0 && r->content_length != len)
		return http_fail(r, FR_EPROTO, "http: conflicting Content-Length headers");
	if ((uint64_t)len > r->body_max)
		return http_fail(r, FR_ERANGE, "http: body of %" PRId64 " bytes exceeds %zu", len,
		                 r->body_max);
	r->content_length = len;
	return 0;
}

static int http_on_field(struct http_resp *r, const char *name, size_t nn, const char *v, size_t n)
{
	if (http_ieq(name, nn, "content-length"))
		return http_on_length(r, v, n);
	if (http_ieq(name, nn, "transfer-encoding")) {
		if (r->chunked || !http_ieq(v, n, "chunked"))
			return http_fail(r, FR_EPROTO, "http: unsupported Transfer-Encoding");
		r->chunked = 1;
	} else if (http_ieq(name, nn, "connection")) {
		if (http_list_has(v, n, "close"))
			r->conn_close = 1;
		else if (http_list_has(v, n, "keep-alive"))
			r->conn_close = 0;
	} else if (http_ieq(name, nn, "retry-after")) {
		r->retry_after_s = http_decimal(v, n);
	}
	return 0;
}

/* Splits "name: value" and hands it to http_on_field (or, for trailers,
 * only checks it). */
static int http_on_header_line(struct http_resp *r, const char *l, size_t n, int trailer)
{
	size_t i = 0, v, e;

	if (l[0] == ' ' || l[0] == '\t')
		return http_fail(r, FR_EPROTO, "http: obsolete header line folding");
	while (i < n && http_is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return http_fail(r, FR_EPROTO, "http: malformed header line");
	for (v = i + 1; v < n && (l[v] == ' ' || l[v] == '\t'); v++)
		;
	for (e = n; e > v && (l[e - 1] == ' ' || l[e - 1] == '\t'); e--)
		;
	return trailer ? 0 : http_on_field(r, l, i, l + v, e - v);
}

static int http_finish(struct http_resp *r)
{
	r->body[r->body_len] = '\0';
	r->state = H_DONE;
	return HTTP_DONE;
}

/* The empty line after the headers: how is the body delimited? */
static int http_on_headers_end(struct http_resp *r)
{
	if (r->status == 101)
		return http_fail(r, FR_EPROTO, "http: unexpected 101 Switching Protocols");
	if (r->status < 200) {
		r->state = H_STATUS; /* interim: the real status line follows */
		return 0;
	}
	if (r->chunked && r->content_length >= 0)
		return http_fail(r, FR_EPROTO, "http: both Content-Length and chunked");
	if (r->chunked)
		r->state = H_CHUNK_SIZE;
	else if (r->status == 204 || r->status == 304 || r->content_length == 0)
		return http_finish(r);
	else if (r->content_length > 0)
		r->state = H_BODY_LEN;
	else {
		r->state = H_BODY_EOF;
		r->conn_close = 1;
	}
	return 0;
}

static int http_on_chunk_size(struct http_resp *r, const char *l, size_t n)
{
	uint64_t size = 0;
	size_t i;
	int d;

	for (i = 0; i < n && (d = http_hexval((unsigned char)l[i])) >= 0; i++) {
		if (i == 15)
			return http_fail(r, FR_EPROTO, "http: chunk size too long");
		size = size << 4 | (uint64_t)d;
	}
	if (i == 0)
		return http_fail(r, FR_EPROTO, "http: malformed chunk size");
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i < n && l[i] != ';')
		return http_fail(r, FR_EPROTO, "http: malformed chunk size");
	if (size > r->body_max - r->body_len)
		return http_fail(r, FR_ERANGE, "http: chunked body exceeds %zu bytes", r->body_max);
	r->chunk_left = size;
	r->state = size ? H_CHUNK_DATA : H_TRAILER;
	return 0;
}

/* A whole line (CR LF or LF stripped) in the current state. */
static int http_on_line(struct http_resp *r, const char *l, size_t n)
{
	switch (r->state) {
	case H_STATUS:
		if (n == 0)
			return 0; /* RFC 9112 2.2: ignore empty lines before the status line */
		return http_on_status(r, l, n);
	case H_HEADER:
		return n ? http_on_header_line(r, l, n, 0) : http_on_headers_end(r);
	case H_CHUNK_SIZE:
		return http_on_chunk_size(r, l, n);
	case H_CHUNK_CRLF:
		if (n)
			return http_fail(r, FR_EPROTO, "http: chunk data longer than its size");
		r->state = H_CHUNK_SIZE;
		return 0;
	case H_TRAILER:
		return n ? http_on_header_line(r, l, n, 1) : http_finish(r);
	}
	assert(0 && "http_on_line: not a line state");
	return FR_EPROTO;
}

static int http_line_state(int state)
{
	return state == H_STATUS || state == H_HEADER || state == H_CHUNK_SIZE ||
	       state == H_CHUNK_CRLF || state == H_TRAILER;
}

/* Takes one byte of a line; runs http_on_line at its LF. */
static int http_line_byte(struct http_resp *r, unsigned char c)
{
	int counted = r->state != H_CHUNK_SIZE && r->state != H_CHUNK_CRLF;
	size_t n;

	if (counted && ++r->head_used > HTTP_HEAD_MAX)
		return http_fail(r, FR_ERANGE, "http: header longer than %d bytes", HTTP_HEAD_MAX);
	if (c != '\n') {
		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return http_fail(r, FR_EPROTO, "http: control byte in a header line");
		if (r->line_len == HTTP_LINE_MAX)
			return http_fail(r, FR_ERANGE, "http: line longer than %d bytes",
			                 HTTP_LINE_MAX);
		r->line[r->line_len++] = (char)c;
		return 0;
	}
	n = r->line_len;
	r->line_len = 0;
	if (n && r->line[n - 1] == '\r')
		n--;
	if (memchr(r->line, '\r', n))
		return http_fail(r, FR_EPROTO, "http: stray CR in a header line");
	return http_on_line(r, r->line, n);
}

/* Copies body bytes; returns how many of n it took. */
static size_t http_body_bytes(struct http_resp *r, const char *p, size_t n)
{
	size_t k = n;

	if (r->state == H_BODY_LEN && k > (uint64_t)r->content_length - r->body_len)
		k = (size_t)((uint64_t)r->content_length - r->body_len);
	if (r->state == H_CHUNK_DATA && k > r->chunk_left)
		k = (size_t)r->chunk_left;
	if (r->state == H_BODY_EOF && k > r->body_max - r->body_len) {
		http_fail(r, FR_ERANGE, "http: body exceeds %zu bytes", r->body_max);
		return 0;
	}
	memcpy(r->body + r->body_len, p, k);
	r->body_len += k;
	if (r->state == H_CHUNK_DATA) {
		r->chunk_left -= k;
		if (r->chunk_left == 0)
			r->state = H_CHUNK_CRLF;
	}
	if (r->state == H_BODY_LEN && r->body_len == (uint64_t)r->content_length)
		http_finish(r);
	return k;
}

/* see http.h */
int http_resp_feed(struct http_resp *r, const void *buf, size_t n, size_t *used)
{
	const char *p = buf;
	size_t i = 0;
	int rc;

	assert(used && (buf || n == 0));
	*used = 0;
	if (r->err)
		return r->err;
	while (i < n && r->state != H_DONE) {
		if (http_line_state(r->state)) {
			rc = http_line_byte(r, (unsigned char)p[i++]);
			if (rc < 0)
				return rc;
		} else {
			i += http_body_bytes(r, p + i, n - i);
			if (r->err)
				return r->err;
		}
	}
	*used = i;
	return r->state == H_DONE ? HTTP_DONE : FR_EAGAIN;
}

/* see http.h */
int http_resp_eof(struct http_resp *r)
{
	if (r->err)
		return r->err;
	if (r->state == H_BODY_EOF)
		return http_finish(r);
	if (r->state == H_DONE)
		return HTTP_DONE;
	return http_fail(r, FR_ECLOSED, "http: connection closed before the response ended");
}

/* Retry-After in ms, capped; def when none. */
static int64_t http_wait(const struct http_resp *r, int64_t def)
{
	if (r->retry_after_s < 0)
		return def;
	if (r->retry_after_s > HTTP_WAIT_MAX_MS / 1000)
		return HTTP_WAIT_MAX_MS;
	return r->retry_after_s * 1000;
}

static int http_body_is_json(const struct http_resp *r)
{
	size_t i = 0;

	while (i < r->body_len && strchr(" \t\r\n", r->body[i]) && r->body[i])
		i++;
	return i < r->body_len && r->body[i] == '{';
}

/* see http.h */
enum http_class http_classify(const struct http_resp *r, int64_t *wait_ms)
{
	int64_t w;

	assert(r->state == H_DONE && wait_ms);
	*wait_ms = 0;
	if (r->status == 200 && http_body_is_json(r))
		return HTTP_CLASS_OK;
	if (r->status == 429) {
		*wait_ms = http_wait(r, HTTP_RATE_WAIT_MS);
		return HTTP_CLASS_RATE_LIMITED;
	}
	if (r->status == 403) {
		w = http_wait(r, HTTP_BAN_WAIT_MS);
		*wait_ms = w > HTTP_BAN_WAIT_MS ? w : HTTP_BAN_WAIT_MS;
		return HTTP_CLASS_BANNED;
	}
	if (r->status >= 500 || r->status == 408 || r->status == 200) {
		*wait_ms = http_wait(r, HTTP_RETRY_WAIT_MS);
		return HTTP_CLASS_RETRY;
	}
	return HTTP_CLASS_FAIL;
}

/* ---- connection ---- */

__attribute__((format(printf, 3, 4))) static int http_conn_fail(struct http_conn *c, int err,
                                                                const char *fmt, ...)
{
	va_list ap;

	if (c->err)
		return c->err;
	c->err = err;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

/* see http.h */
void http_conn_init(struct http_conn *c, const struct fr_stream *io, size_t body_max)
{
	assert(c && io && io->read && io->write);
	c->io = *io;
	c->busy = 0;
	c->req_off = c->req_len = 0;
	c->rb_off = c->rb_len = 0;
	c->err = 0;
	c->errmsg[0] = '\0';
	http_resp_init(&c->resp, body_max);
}

/* see http.h */
int http_conn_get(struct http_conn *c, const struct http_get_req *g)
{
	int n;

	if (c->err)
		return c->err;
	if (c->busy)
		return FR_EAGAIN;
	if (c->resp.state == H_DONE && c->resp.conn_close)
		return http_conn_fail(c, FR_ECLOSED, "http: the server closes this connection");
	n = http_build_get(c->req, sizeof c->req, g);
	if (n < 0)
		return n;
	c->req_off = 0;
	c->req_len = (size_t)n;
	http_resp_next(&c->resp);
	c->busy = 1;
	return 0;
}

static int http_conn_write(struct http_conn *c)
{
	while (c->req_off < c->req_len) {
		int w = c->io.write(c->io.ctx, c->req + c->req_off, c->req_len - c->req_off);

		if (w == FR_EAGAIN)
			return FR_EAGAIN;
		if (w <= 0)
			return http_conn_fail(c, w < 0 ? w : FR_EIO, "http: write: %s", err_str(w));
		c->req_off += (size_t)w;
	}
	return 0;
}

/* Parses what is buffered; HTTP_DONE, FR_EAGAIN or the error. */
static int http_conn_parse(struct http_conn *c)
{
	size_t used = 0;
	int r = http_resp_feed(&c->resp, c->rbuf + c->rb_off, c->rb_len - c->rb_off, &used);

	if (r < 0 && r != FR_EAGAIN)
		return http_conn_fail(c, r, "%s", c->resp.errmsg);
	c->rb_off = r == HTTP_DONE ? c->rb_off + used : c->rb_len;
	if (c->rb_off == c->rb_len)
		c->rb_off = c->rb_len = 0;
	return r;
}

static int http_conn_read(struct http_conn *c)
{
	for (;;) {
		int r = http_conn_parse(c);

		if (r != FR_EAGAIN)
			return r;
		r = c->io.read(c->io.ctx, c->rbuf, sizeof c->rbuf);
		if (r == FR_EAGAIN)
			return FR_EAGAIN;
		if (r == FR_ECLOSED) {
			r = http_resp_eof(&c->resp);
			return r == HTTP_DONE ? r : http_conn_fail(c, r, "%s", c->resp.errmsg);
		}
		if (r <= 0)
			return http_conn_fail(c, r < 0 ? r : FR_EIO, "http: read: %s", err_str(r));
		c->rb_off = 0;
		c->rb_len = (size_t)r;
	}
}

/* see http.h */
int http_conn_pump(struct http_conn *c)
{
	int r;

	if (c->err)
		return c->err;
	if (!c->busy)
		return c->resp.state == H_DONE ? HTTP_DONE : FR_EAGAIN;
	/* A response can only answer a request the server has whole. */
	r = http_conn_write(c);
	if (r < 0)
		return r;
	r = http_conn_read(c);
	if (r == HTTP_DONE)
		c->busy = 0;
	return r;
}

/* see http.h */
int http_conn_err(const struct http_conn *c)
{
	return c->err;
}

/* see http.h */
const char *http_conn_errmsg(const struct http_conn *c)
{
	return c->errmsg;
}
