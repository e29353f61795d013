/*
 * ws.c -- WebSocket client: handshake here, framing through wslay's frame
 * layer (see ws.h for the contract).
 */
#define _GNU_SOURCE /* getrandom, ssize_t for wslay.h */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include <bearssl.h>
#include <wslay/wslay.h>

#include "ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CLOSE_RESERVE (WS_FRAME_HDR_MAX + WS_CTRL_MAX)

enum {
	WS_OP_CONT = 0,
	WS_OP_TEXT = 1,
	WS_OP_BINARY = 2,
	WS_OP_CLOSE = 8,
	WS_OP_PING = 9,
	WS_OP_PONG = 10
};

/* ---- pure helpers ---- */

/* see ws.h */
size_t ws_base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v =
		    (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* see ws.h */
void ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	br_sha1_context sha;
	unsigned char digest[br_sha1_SIZE];

	br_sha1_init(&sha);
	br_sha1_update(&sha, key, strlen(key));
	br_sha1_update(&sha, WS_GUID, sizeof WS_GUID - 1);
	br_sha1_out(&sha, digest);
	ws_base64(digest, sizeof digest, out);
	assert(strlen(out) == WS_ACCEPT_LEN);
}

/* see ws.h */
int ws_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, j, k;

	while (i < n) {
		unsigned long c = s[i], cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i - 1 < k)
			return 0;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* ---- handshake response ---- */

struct ws_hs_seen {
	int upgrade, connection, accepts, accept_bad;
	const char *refusal; /* an extension or subprotocol we did not offer */
};

__attribute__((format(printf, 3, 4))) static int ws_msgf(char *msg, size_t cap, const char *fmt,
                                                         ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
	return FR_EPROTO;
}

static int ws_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ws_ieq(const char *a, size_t n, const char *b)
{
	size_t i;

	if (strlen(b) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (ws_lower((unsigned char)a[i]) != ws_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int ws_is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* 1 when the comma-separated list v[0..n) holds token (case-insensitive). */
static int ws_list_has(const char *v, size_t n, const char *token)
{
	size_t i = 0;

	while (i < n) {
		size_t a, b;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		a = i;
		while (i < n && v[i] != ',')
			i++;
		b = i;
		while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
			b--;
		if (b > a && ws_ieq(v + a, b - a, token))
			return 1;
	}
	return 0;
}

/* Offset just past the empty line ending the header, 0 when not there yet. */
static size_t ws_hs_end(const char *buf, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i == start || (i == start + 1 && buf[start] == '\r'))
			return i + 1;
		start = i + 1;
	}
	return 0;
}

static int ws_hs_status(const char *l, size_t n, char *msg, size_t cap)
{
	int status;

	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return ws_msgf(msg, cap, "handshake: malformed status line");
	status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (status != 101)
		return ws_msgf(msg, cap, "handshake: status %d", status);
	return 0;
}

static int ws_hs_header(const char *l, size_t n, const char *accept, struct ws_hs_seen *s,
                        char *msg, size_t cap)
{
	size_t i = 0, v, e;

	while (i < n && ws_is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return ws_msgf(msg, cap, "handshake: malformed header line");
	for (v = i + 1; v < n && (l[v] == ' ' || l[v] == '\t'); v++)
		;
	for (e = n; e > v && (l[e - 1] == ' ' || l[e - 1] == '\t'); e--)
		;
	if (ws_ieq(l, i, "upgrade"))
		s->upgrade |= ws_list_has(l + v, e - v, "websocket");
	else if (ws_ieq(l, i, "connection"))
		s->connection |= ws_list_has(l + v, e - v, "upgrade");
	else if (ws_ieq(l, i, "sec-websocket-accept")) {
		s->accepts++;
		s->accept_bad |= e - v != WS_ACCEPT_LEN || memcmp(l + v, accept, e - v) != 0;
	} else if (ws_ieq(l, i, "sec-websocket-extensions") && e > v)
		s->refusal = "an extension";
	else if (ws_ieq(l, i, "sec-websocket-protocol") && e > v)
		s->refusal = "a subprotocol";
	return 0;
}

/* Splits buf[0..end) into lines (LF, optional CR before it) and checks each. */
static int ws_hs_lines(const char *buf, size_t end, const char *accept, struct ws_hs_seen *s,
                       char *msg, size_t cap)
{
	size_t start = 0, i, n;
	int r;

	for (i = 0; i < end; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c != '\n' && ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f))
			return ws_msgf(msg, cap, "handshake: control byte in the response header");
		if (c != '\n')
			continue;
		n = i - start;
		if (n > 0 && buf[i - 1] == '\r')
			n--;
		if (memchr(buf + start, '\r', n))
			return ws_msgf(msg, cap, "handshake: stray CR in the response header");
		if (start == 0)
			r = ws_hs_status(buf, n, msg, cap);
		else if (n > 0 && (buf[start] == ' ' || buf[start] == '\t'))
			r = ws_msgf(msg, cap, "handshake: obsolete header line folding");
		else
			r = n ? ws_hs_header(buf + start, n, accept, s, msg, cap) : 0;
		if (r < 0)
			return r;
		start = i + 1;
	}
	return 0;
}

/* see ws.h */
int ws_hs_parse(const char *buf, size_t n, const char *accept, char *msg, size_t msg_cap)
{
	struct ws_hs_seen s = {0};
	size_t end = ws_hs_end(buf, n);
	int r;

	assert(accept && msg && msg_cap > 0);
	msg[0] = '\0';
	if (end == 0 && n >= WS_HS_MAX) {
		snprintf(msg, msg_cap, "handshake: response header longer than %d bytes",
		         WS_HS_MAX);
		return FR_ERANGE;
	}
	if (end == 0)
		return FR_EAGAIN;
	r = ws_hs_lines(buf, end, accept, &s, msg, msg_cap);
	if (r < 0)
		return r;
	if (!s.upgrade)
		return ws_msgf(msg, msg_cap, "handshake: missing Upgrade: websocket");
	if (!s.connection)
		return ws_msgf(msg, msg_cap, "handshake: missing Connection: upgrade");
	if (s.accepts == 0)
		return ws_msgf(msg, msg_cap, "handshake: missing Sec-WebSocket-Accept");
	if (s.accepts > 1 || s.accept_bad)
		return ws_msgf(msg, msg_cap, "handshake: bad Sec-WebSocket-Accept");
	if (s.refusal)
		return ws_msgf(msg, msg_cap, "handshake: server chose %s we did not offer",
		               s.refusal);
	return (int)end;
}

/* ---- connection plumbing ---- */

__attribute__((format(printf, 3, 4))) static int ws_fail(struct ws_conn *w, int err,
                                                         const char *fmt, ...)
{
	va_list ap;

	assert(err < 0 && err != FR_EAGAIN);
	if (w->err)
		return w->err;
	w->err = err;
	va_start(ap, fmt);
	vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
	va_end(ap);
	w->state = WS_DONE;
	if (w->frame) {
		wslay_frame_context_free(w->frame);
		w->frame = NULL;
	}
	return err;
}

static int ws_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, GRND_NONBLOCK);

		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno != EINTR)
			return FR_EIO;
	}
	return 0;
}

/* splitmix64: mask keys need to be unpredictable to the network, and the
 * seed comes from getrandom at each ws_start. */
static int ws_genmask(uint8_t *buf, size_t len, void *user)
{
	struct ws_conn *w = user;
	uint64_t z;
	size_t i;

	w->mask_state += 0x9e3779b97f4a7c15u;
	z = w->mask_state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(z >> (8 * (i % 8)));
	return 0;
}

/* Frame bytes: first what followed the handshake header, then the stream.
 * wslay turns any result <= 0 into WANT_READ, so errors are kept aside. */
static ssize_t ws_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws_conn *w = user;
	int r;

	(void)flags;
	if (w->hs_off < w->hs_len) {
		size_t k = w->hs_len - w->hs_off < len ? w->hs_len - w->hs_off : len;
		memcpy(buf, w->hs + w->hs_off, k);
		w->hs_off += k;
		return (ssize_t)k;
	}
	if (w->io_err)
		return -1;
	r = w->io.read(w->io.ctx, buf, len);
	if (r > 0)
		return r;
	if (r != FR_EAGAIN)
		w->io_err = r < 0 ? r : FR_EIO;
	return -1;
}

/* Never called: frames are written into w->out with wslay_frame_write. */
static ssize_t ws_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	(void)data, (void)len, (void)flags, (void)user;
	return -1;
}

static void ws_compact(struct ws_conn *w)
{
	if (w->out_off == 0)
		return;
	memmove(w->out, w->out + w->out_off, w->out_len - w->out_off);
	w->out_len -= w->out_off;
	w->out_off = 0;
}

/* Queues one final, masked frame, leaving keep_free bytes of room. */
static int ws_queue(struct ws_conn *w, int opcode, const void *data, size_t n, size_t keep_free)
{
	struct wslay_frame_iocb io;
	size_t wrote = 0;
	ssize_t r;

	assert(w->frame && n <= WS_OUT_MAX);
	ws_compact(w);
	if (WS_OUT_MAX - w->out_len < WS_FRAME_HDR_MAX + n + keep_free)
		return FR_EFULL;
	memset(&io, 0, sizeof io);
	io.fin = 1;
	io.opcode = (uint8_t)opcode;
	io.mask = 1;
	io.payload_length = n;
	io.data = data;
	io.data_length = n;
	r = wslay_frame_write(w->frame, &io, w->out + w->out_len, WS_OUT_MAX - w->out_len, &wrote);
	assert(r > 0 && wrote == n);
	w->out_len += (size_t)r;
	return 0;
}

static int ws_queue_close(struct ws_conn *w, int code, const char *reason, size_t reason_len)
{
	unsigned char p[WS_CTRL_MAX];
	size_t n = 0;

	assert(reason_len <= WS_CTRL_MAX - 2);
	if (code) {
		p[0] = (unsigned char)(code >> 8);
		p[1] = (unsigned char)code;
		if (reason_len)
			memcpy(p + 2, reason, reason_len);
		n = 2 + reason_len;
	}
	w->close_sent = code ? code : WS_CLOSE_NORMAL;
	return ws_queue(w, WS_OP_CLOSE, p, n, 0);
}

/* A protocol failure while frames flow: tell the peer why, then end. */
__attribute__((format(printf, 4, 5))) static int ws_fail_close(struct ws_conn *w, int err, int code,
                                                               const char *fmt, ...)
{
	va_list ap;
	char msg[ERR_MSG_MAX];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (w->frame && !w->close_sent)
		(void)ws_queue_close(w, code, NULL, 0);
	return ws_fail(w, err, "%s (sent close %d)", msg, code);
}

static int ws_flush(struct ws_conn *w)
{
	while (w->out_off < w->out_len) {
		int r = w->io.write(w->io.ctx, w->out + w->out_off, w->out_len - w->out_off);

		if (r == FR_EAGAIN)
			return FR_EAGAIN;
		if (r <= 0)
			return r < 0 ? r : FR_EIO;
		assert((size_t)r <= w->out_len - w->out_off);
		w->out_off += (size_t)r;
	}
	w->out_off = w->out_len = 0;
	return 0;
}

/* After the end: the queued close frame goes out if the stream takes it. */
static void ws_flush_best(struct ws_conn *w)
{
	int r = ws_flush(w);

	if (r < 0 && r != FR_EAGAIN)
		w->out_off = w->out_len = 0;
}

static int ws_field_ok(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* see ws.h */
void ws_release(struct ws_conn *w)
{
	if (w->frame)
		wslay_frame_context_free(w->frame);
	w->frame = NULL;
	w->state = WS_IDLE;
}

/* see ws.h */
int ws_start(struct ws_conn *w, const struct fr_stream *io, const char *host, const char *path,
             ws_msg_fn on_message, void *cb_ctx)
{
	static const struct wslay_frame_callbacks cbs = {ws_send_cb, ws_recv_cb, ws_genmask};
	unsigned char nonce[16];
	char key[WS_KEY_LEN + 1];
	int n;

	assert(w && io && io->read && io->write && on_message && host && path);
	ws_release(w);
	/* everything but the message buffer, which msg_len guards */
	memset(w, 0, offsetof(struct ws_conn, msg));
	memset(&w->io_err, 0, sizeof *w - offsetof(struct ws_conn, io_err));
	w->io = *io;
	w->on_message = on_message;
	w->cb_ctx = cb_ctx;
	w->msg_max = WS_MSG_MAX;
	w->state = WS_HANDSHAKE;
	if (!ws_field_ok(host, WS_HOST_MAX) || !ws_field_ok(path, WS_PATH_MAX) || path[0] != '/')
		return ws_fail(w, FR_EINVAL, "ws: bad host or path");
	if (ws_random(nonce, sizeof nonce) < 0 ||
	    ws_random(&w->mask_state, sizeof w->mask_state) < 0)
		return ws_fail(w, FR_EIO, "ws: getrandom: %s", strerror(errno));
	ws_base64(nonce, sizeof nonce, key);
	ws_accept_for_key(key, w->accept);
	if (wslay_frame_context_init(&w->frame, &cbs, w) != 0) {
		w->frame = NULL;
		return ws_fail(w, FR_ENOMEM, "ws: wslay could not allocate its frame context");
	}
	n = snprintf((char *)w->out, WS_OUT_MAX,
	             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	             "Sec-WebSocket-Version: 13\r\n\r\n",
	             path, host, key);
	assert(n > 0 && n < WS_OUT_MAX);
	w->out_len = (size_t)n;
	return 0;
}

/* see ws.h */
void ws_set_msg_max(struct ws_conn *w, size_t msg_max)
{
	assert(msg_max >= 1 && msg_max <= WS_MSG_MAX);
	w->msg_max = msg_max;
}

/* ---- receiving ---- */

static int ws_pump_handshake(struct ws_conn *w)
{
	char msg[ERR_MSG_MAX];
	int r;

	for (;;) {
		if (w->hs_len < WS_HS_MAX) {
			r = w->io.read(w->io.ctx, w->hs + w->hs_len, WS_HS_MAX - w->hs_len);
			if (r == FR_EAGAIN)
				return 0;
			if (r == FR_ECLOSED)
				return ws_fail(w, r,
				               "handshake: connection closed before the response");
			if (r <= 0)
				return ws_fail(w, r < 0 ? r : FR_EIO, "handshake: read: %s",
				               err_str(r));
			w->hs_len += (size_t)r;
		}
		r = ws_hs_parse(w->hs, w->hs_len, w->accept, msg, sizeof msg);
		if (r == FR_EAGAIN)
			continue;
		if (r < 0)
			return ws_fail(w, r, "%s", msg);
		w->hs_off = (size_t)r;
		w->state = WS_OPEN;
		return 0;
	}
}

static int ws_is_control(int opcode)
{
	return opcode >= WS_OP_CLOSE;
}

static int ws_check_data(struct ws_conn *w, const struct wslay_frame_iocb *io)
{
	if (io->opcode == WS_OP_CONT && !w->msg_opcode)
		return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
		                     "ws: continuation frame without a message to continue");
	if (io->opcode != WS_OP_CONT && w->msg_opcode)
		return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
		                     "ws: new message before the fragmented one ended");
	if (io->opcode != WS_OP_CONT) {
		w->msg_opcode = io->opcode;
		w->msg_len = 0;
	}
	/* The size is known from the frame header: refused before any payload
	 * is read, and the log says by how much. */
	if (io->payload_length > w->msg_max - w->msg_len)
		return ws_fail_close(w, FR_ERANGE, WS_CLOSE_TOO_BIG,
		                     "ws: message larger than %zu bytes (at least %llu)",
		                     w->msg_max,
		                     (unsigned long long)w->msg_len + io->payload_length);
	return 0;
}

/* The checks wslay leaves to its caller, once per frame. */
static int ws_check_frame(struct ws_conn *w, const struct wslay_frame_iocb *io)
{
	if (io->mask)
		return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
		                     "ws: masked frame from the server");
	if (io->rsv)
		return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
		                     "ws: reserved bits 0x%x set, no extension negotiated",
		                     (unsigned)io->rsv);
	switch (io->opcode) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		return ws_check_data(w, io);
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!io->fin || io->payload_length > WS_CTRL_MAX)
			return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
			                     "ws: fragmented or oversized control frame");
		w->ctrl_len = 0;
		return 0;
	}
	return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL, "ws: unknown opcode 0x%x",
	                     (unsigned)io->opcode);
}

static int ws_close_code_ok(int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

static int ws_on_close(struct ws_conn *w)
{
	int code = 0;
	const char *reason = (const char *)w->ctrl + 2;
	int reason_len = w->ctrl_len > 2 ? (int)w->ctrl_len - 2 : 0;

	if (w->ctrl_len == 1)
		return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
		                     "ws: close frame with a 1-byte payload");
	if (w->ctrl_len >= 2) {
		code = w->ctrl[0] << 8 | w->ctrl[1];
		if (!ws_close_code_ok(code))
			return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
			                     "ws: close code %d is not allowed", code);
		if (!ws_utf8_valid(w->ctrl + 2, (size_t)reason_len))
			return ws_fail_close(w, FR_EPROTO, WS_CLOSE_BAD_DATA,
			                     "ws: close reason is not UTF-8");
	}
	if (w->state == WS_CLOSING)
		return ws_fail(w, FR_ECLOSED, "ws: closed: the peer answered our close %d with %d",
		               w->close_sent, code);
	(void)ws_queue_close(w, code, NULL, 0); /* echo the code, RFC 6455 5.5.1 */
	return ws_fail(w, FR_ECLOSED, "ws: closed by the peer: code %d reason \"%.*s\"",
	               code ? code : 1005, reason_len, reason);
}

static int ws_on_control(struct ws_conn *w, int opcode)
{
	if (opcode == WS_OP_CLOSE)
		return ws_on_close(w);
	if (opcode == WS_OP_PONG) {
		w->pongs_in++;
		return 0;
	}
	w->pings_in++;
	/* Under a flood of pings only the latest must be answered (5.5.3). */
	if (w->state == WS_OPEN &&
	    ws_queue(w, WS_OP_PONG, w->ctrl, w->ctrl_len, WS_CLOSE_RESERVE) == FR_EFULL)
		w->pongs_dropped++;
	return 0;
}

static int ws_on_data_end(struct ws_conn *w, int fin)
{
	int is_text = w->msg_opcode == WS_OP_TEXT;

	if (!fin)
		return 0;
	if (is_text && !ws_utf8_valid((const unsigned char *)w->msg, w->msg_len))
		return ws_fail_close(w, FR_EPROTO, WS_CLOSE_BAD_DATA,
		                     "ws: text message is not valid UTF-8");
	w->msg[w->msg_len] = '\0';
	w->msgs_in++;
	w->msg_opcode = 0;
	w->on_message(w->cb_ctx, w->msg, w->msg_len, is_text);
	w->msg_len = 0;
	return 1;
}

/* One piece of a frame's payload from wslay; returns messages delivered. */
static int ws_on_chunk(struct ws_conn *w, const struct wslay_frame_iocb *io)
{
	int r;

	if (!w->frame_started) {
		r = ws_check_frame(w, io);
		if (r < 0)
			return r;
		w->frame_started = 1;
		w->frame_got = 0;
	}
	assert(io->data_length <= io->payload_length - w->frame_got);
	if (ws_is_control(io->opcode)) {
		memcpy(w->ctrl + w->ctrl_len, io->data, io->data_length);
		w->ctrl_len += io->data_length;
	} else {
		memcpy(w->msg + w->msg_len, io->data, io->data_length);
		w->msg_len += io->data_length;
	}
	w->frame_got += io->data_length;
	if (w->frame_got < io->payload_length)
		return 0;
	w->frame_started = 0;
	if (ws_is_control(io->opcode))
		return ws_on_control(w, io->opcode);
	return ws_on_data_end(w, io->fin);
}

static int ws_pump_frames(struct ws_conn *w)
{
	int delivered = 0, r;

	while (w->state == WS_OPEN || w->state == WS_CLOSING) {
		struct wslay_frame_iocb io;
		ssize_t got;

		memset(&io, 0, sizeof io);
		got = wslay_frame_recv(w->frame, &io);
		if (got == WSLAY_ERR_WANT_READ && w->io_err == FR_ECLOSED)
			return ws_fail(w, FR_ECLOSED,
			               "ws: connection closed without a close frame");
		if (got == WSLAY_ERR_WANT_READ && w->io_err)
			return ws_fail(w, w->io_err, "ws: read: %s", err_str(w->io_err));
		if (got == WSLAY_ERR_WANT_READ)
			return delivered;
		if (got == WSLAY_ERR_PROTO)
			return ws_fail_close(w, FR_EPROTO, WS_CLOSE_PROTOCOL,
			                     "ws: malformed frame header (oversized or "
			                     "fragmented control frame, or bad length)");
		if (got < 0)
			return ws_fail(w, FR_EPROTO, "ws: wslay error %zd", got);
		r = ws_on_chunk(w, &io);
		if (r < 0)
			return r;
		delivered += r;
	}
	return delivered;
}

/* see ws.h */
int ws_pump(struct ws_conn *w)
{
	int r, n = 0;

	assert(w->state != WS_IDLE);
	if (w->err) {
		ws_flush_best(w);
		return w->err;
	}
	r = ws_flush(w);
	if (r < 0 && r != FR_EAGAIN)
		return ws_fail(w, r, "ws: write: %s", err_str(r));
	if (w->state == WS_HANDSHAKE && (r = ws_pump_handshake(w)) < 0)
		return r;
	if (w->state == WS_OPEN || w->state == WS_CLOSING)
		n = ws_pump_frames(w);
	if (n < 0) {
		ws_flush_best(w);
		return n;
	}
	r = ws_flush(w);
	if (r < 0 && r != FR_EAGAIN)
		return ws_fail(w, r, "ws: write: %s", err_str(r));
	return n;
}

/* ---- sending ---- */

/* see ws.h */
int ws_send_text(struct ws_conn *w, const char *s, size_t n)
{
	assert(w->state != WS_IDLE && (s || n == 0));
	if (w->err)
		return w->err;
	if (w->state == WS_HANDSHAKE)
		return FR_EAGAIN;
	if (w->state != WS_OPEN || n > WS_SEND_MAX)
		return FR_EINVAL;
	return ws_queue(w, WS_OP_TEXT, s, n, WS_CTRL_RESERVE);
}

/* see ws.h */
int ws_close(struct ws_conn *w, int code, const char *reason)
{
	size_t reason_len = reason ? strlen(reason) : 0;
	int r;

	assert(code >= 1000 && code <= 4999 && reason_len <= WS_CTRL_MAX - 2);
	if (w->err)
		return w->err;
	if (w->state == WS_HANDSHAKE)
		return ws_fail(w, FR_ECLOSED, "ws: closed by us during the handshake");
	if (w->state != WS_OPEN)
		return 0;
	(void)ws_queue_close(w, code, reason, reason_len); /* the reserve guarantees room */
	w->state = WS_CLOSING;
	r = ws_flush(w);
	if (r < 0 && r != FR_EAGAIN)
		return ws_fail(w, r, "ws: write: %s", err_str(r));
	return 0;
}

/* see ws.h */
int ws_is_open(const struct ws_conn *w)
{
	return w->state == WS_OPEN;
}

/* see ws.h */
size_t ws_out_pending(const struct ws_conn *w)
{
	return w->out_len - w->out_off;
}

/* see ws.h */
int ws_err(const struct ws_conn *w)
{
	return w->err;
}

/* see ws.h */
const char *ws_errmsg(const struct ws_conn *w)
{
	return w->errmsg;
}
