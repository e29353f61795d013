/*
 * test_ws.c -- the WebSocket client against an in-memory stream.
 *
 * Server frames are built here byte by byte (not with wslay), and client
 * frames are decoded by hand, so a misuse of wslay is not mirrored by the
 * test. Input is fed whole, and one byte per read.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "t.h"
#include "ws.h"

struct mem {
	unsigned char in[1 << 18];
	size_t in_len, in_pos, chunk; /* chunk: bytes per read, 0 = all */
	int closed;                   /* reads end with FR_ECLOSED */
	int flip;                     /* chunk 1: every other read would block */
	unsigned char out[1 << 16];
	size_t out_len, out_cap; /* out_cap: write limit, 0 = sizeof out */
};

static struct mem m;
static struct ws_conn w;

static struct {
	int n, is_text;
	size_t len;
	char last[1 << 17];
} got;

static int mem_read(void *ctx, void *buf, size_t n)
{
	struct mem *s = ctx;
	size_t k = s->in_len - s->in_pos;

	if (k == 0)
		return s->closed ? FR_ECLOSED : FR_EAGAIN;
	if (s->chunk == 1 && (s->flip ^= 1))
		return FR_EAGAIN;
	if (k > n)
		k = n;
	if (s->chunk && k > s->chunk)
		k = s->chunk;
	memcpy(buf, s->in + s->in_pos, k);
	s->in_pos += k;
	return (int)k;
}

static int mem_write(void *ctx, const void *buf, size_t n)
{
	struct mem *s = ctx;
	size_t cap = s->out_cap ? s->out_cap : sizeof s->out;

	if (s->out_len >= cap)
		return FR_EAGAIN;
	if (n > cap - s->out_len)
		n = cap - s->out_len;
	memcpy(s->out + s->out_len, buf, n);
	s->out_len += n;
	return (int)n;
}

static const struct fr_stream mem_io = {mem_read, mem_write, &m};

static void on_msg(void *ctx, const char *msg, size_t n, int is_text)
{
	(void)ctx;
	got.n++;
	got.is_text = is_text;
	got.len = n;
	if (n < sizeof got.last)
		memcpy(got.last, msg, n + 1);
}

static void feed(const void *p, size_t n)
{
	T_REQUIRE(m.in_len + n <= sizeof m.in);
	memcpy(m.in + m.in_len, p, n);
	m.in_len += n;
}

static void feeds(const char *s)
{
	feed(s, strlen(s));
}

/* A server frame, written by hand (RFC 6455 5.2). */
static void srv_frame(int fin, int rsv, int op, int masked, const void *payload, size_t n)
{
	static const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
	unsigned char h[14], p[1 << 17];
	size_t hl = 2, i;

	h[0] = (unsigned char)((fin ? 0x80 : 0) | rsv << 4 | op);
	h[1] = masked ? 0x80 : 0;
	if (n < 126) {
		h[1] |= (unsigned char)n;
	} else if (n < 65536) {
		h[1] |= 126;
		h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] |= 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((unsigned long long)n >> (56 - 8 * i));
		hl = 10;
	}
	if (masked) {
		memcpy(h + hl, key, 4);
		hl += 4;
	}
	T_REQUIRE(n <= sizeof p);
	for (i = 0; i < n; i++)
		p[i] = ((const unsigned char *)payload)[i] ^ (masked ? key[i % 4] : 0);
	feed(h, hl);
	feed(p, n);
}

struct cframe {
	int fin, op;
	size_t len;
	unsigned char payload[WS_OUT_MAX];
};

/* Decodes the client frame at m.out[*off]; requires the mask bit. */
static int cli_frame(size_t *off, struct cframe *f)
{
	const unsigned char *b = m.out + *off;
	size_t avail = m.out_len - *off, hl = 2, i;
	unsigned char key[4];

	if (avail < 2 || !(b[1] & 0x80))
		return 0;
	f->fin = b[0] >> 7;
	f->op = b[0] & 15;
	f->len = b[1] & 127;
	if (f->len == 126) {
		f->len = (size_t)b[2] << 8 | b[3];
		hl = 4;
	} else if (f->len == 127) {
		return 0;
	}
	if (avail < hl + 4 + f->len)
		return 0;
	memcpy(key, b + hl, 4);
	for (i = 0; i < f->len; i++)
		f->payload[i] = b[hl + 4 + i] ^ key[i % 4];
	*off += hl + 4 + f->len;
	return 1;
}

static void reset(size_t chunk)
{
	memset(&m, 0, sizeof m);
	memset(&got, 0, sizeof got);
	m.chunk = chunk;
}

/* The key the client sent, "" when none. */
static void sent_key(char key[WS_KEY_LEN + 1])
{
	const char *p;

	key[0] = '\0';
	m.out[m.out_len < sizeof m.out ? m.out_len : sizeof m.out - 1] = 0;
	p = strstr((const char *)m.out, "Sec-WebSocket-Key: ");
	if (p && strlen(p) > 19 + WS_KEY_LEN) {
		memcpy(key, p + 19, WS_KEY_LEN);
		key[WS_KEY_LEN] = '\0';
	}
}

static int pump_all(void)
{
	int r = 0, i, total = 0;

	for (i = 0; i < 1000000; i++) {
		r = ws_pump(&w);
		if (r < 0)
			return r;
		total += r;
		if (m.in_pos == m.in_len)
			break;
	}
	r = ws_pump(&w);
	return r < 0 ? r : total + r;
}

/* Starts w and answers the handshake with extra header lines (and a
 * spoiled Sec-WebSocket-Accept unless good_accept). */
static int handshake(size_t chunk, const char *extra, int good_accept)
{
	char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], resp[1024];

	reset(chunk);
	T_REQUIRE(ws_start(&w, &mem_io, "stream.bybit.com", "/v5/private", on_msg, NULL) == 0);
	T_EQ_INT(ws_pump(&w), 0);
	sent_key(key);
	T_REQUIRE(strlen(key) == WS_KEY_LEN);
	ws_accept_for_key(key, accept);
	if (!good_accept)
		accept[3] ^= 1;
	snprintf(resp, sizeof resp,
	         "HTTP/1.1 101 Switching Protocols\r\n%sSec-WebSocket-Accept: %s\r\n\r\n", extra,
	         accept);
	feeds(resp);
	m.out_len = 0;
	return pump_all();
}

#define STD_HDRS "Upgrade: websocket\r\nConnection: Upgrade\r\n"

static int open_ws(size_t chunk)
{
	int r = handshake(chunk, STD_HDRS, 1);

	T_EQ_INT(r, 0);
	T_REQUIRE(ws_is_open(&w));
	return r;
}

/* The first client frame in m.out. */
static int first_frame(struct cframe *f)
{
	size_t off = 0;

	return cli_frame(&off, f);
}

TEST(ws_base64_and_accept_vectors)
{
	char out[64];
	static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	size_t i;

	for (i = 0; i < 7; i++) {
		ws_base64((const unsigned char *)"foobar", i, out);
		T_EQ_STR(out, want[i]);
	}
	/* RFC 6455 section 1.3 */
	ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	T_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ws_utf8_validation)
{
	T_CHECK(
	    ws_utf8_valid((const unsigned char *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 16));
	T_CHECK(!ws_utf8_valid((const unsigned char *)"\xc0\xaf", 2));         /* overlong */
	T_CHECK(!ws_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3));     /* surrogate */
	T_CHECK(!ws_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	T_CHECK(!ws_utf8_valid((const unsigned char *)"\xe2\x82", 2));         /* truncated */
	T_CHECK(!ws_utf8_valid((const unsigned char *)"\x80", 1));
}

TEST(ws_request_bytes)
{
	char key[WS_KEY_LEN + 1];

	reset(0);
	T_REQUIRE(ws_start(&w, &mem_io, "stream.bybit.com", "/v5/private?max_active_time=1m",
	                   on_msg, NULL) == 0);
	T_EQ_INT(ws_pump(&w), 0);
	T_CHECK(m.out_len > 0 && memcmp(m.out,
	                                "GET /v5/private?max_active_time=1m HTTP/1.1\r\n"
	                                "Host: stream.bybit.com\r\nUpgrade: websocket\r\n"
	                                "Connection: Upgrade\r\nSec-WebSocket-Key: ",
	                                125) == 0);
	sent_key(key);
	T_EQ_INT(strlen(key), WS_KEY_LEN);
	T_CHECK(key[22] == '=' && key[23] == '=');
	T_CHECK(strstr((char *)m.out, "\r\nSec-WebSocket-Version: 13\r\n\r\n") != NULL);
	T_EQ_INT(ws_send_text(&w, "x", 1), FR_EAGAIN);
	ws_release(&w);
	T_EQ_INT(ws_start(&w, &mem_io, "bad host", "/", on_msg, NULL), FR_EINVAL);
	T_EQ_INT(ws_start(&w, &mem_io, "h", "nopath", on_msg, NULL), FR_EINVAL);
	ws_release(&w);
}

TEST(ws_handshake_good_whole_and_byte_at_a_time)
{
	T_EQ_INT(handshake(0, STD_HDRS, 1), 0);
	T_CHECK(ws_is_open(&w));
	T_EQ_INT(handshake(1, "upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n", 1), 0);
	T_CHECK(ws_is_open(&w));
	T_EQ_STR(ws_errmsg(&w), "");
	ws_release(&w);
}

TEST(ws_handshake_refusals)
{
	T_EQ_INT(handshake(1, STD_HDRS, 0), FR_EPROTO);
	T_EQ_STR(ws_errmsg(&w), "handshake: bad Sec-WebSocket-Accept");
	T_EQ_INT(handshake(0, "Connection: Upgrade\r\n", 1), FR_EPROTO);
	T_EQ_STR(ws_errmsg(&w), "handshake: missing Upgrade: websocket");
	T_EQ_INT(handshake(0, "Upgrade: websocket\r\nConnection: keep-alive\r\n", 1), FR_EPROTO);
	T_EQ_STR(ws_errmsg(&w), "handshake: missing Connection: upgrade");
	T_EQ_INT(handshake(0, STD_HDRS "Sec-WebSocket-Extensions: permessage-deflate\r\n", 1),
	         FR_EPROTO);
	T_EQ_STR(ws_errmsg(&w), "handshake: server chose an extension we did not offer");
	T_EQ_INT(handshake(0, STD_HDRS " folded\r\n", 1), FR_EPROTO);
	T_EQ_INT(ws_send_text(&w, "x", 1), FR_EPROTO); /* sticky */
	T_EQ_INT(ws_pump(&w), FR_EPROTO);
	ws_release(&w);
}

TEST(ws_handshake_status_and_missing_accept)
{
	reset(1);
	T_REQUIRE(ws_start(&w, &mem_io, "h", "/", on_msg, NULL) == 0);
	feeds("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
	T_EQ_INT(pump_all(), FR_EPROTO);
	T_EQ_STR(ws_errmsg(&w), "handshake: status 403");

	reset(0);
	T_REQUIRE(ws_start(&w, &mem_io, "h", "/", on_msg, NULL) == 0);
	feeds("HTTP/1.1 101 Switching Protocols\r\n" STD_HDRS "\r\n");
	T_EQ_INT(pump_all(), FR_EPROTO);
	T_EQ_STR(ws_errmsg(&w), "handshake: missing Sec-WebSocket-Accept");

	reset(0);
	T_REQUIRE(ws_start(&w, &mem_io, "h", "/", on_msg, NULL) == 0);
	feeds("HTTP/1.1 101\r\n");
	m.closed = 1;
	T_EQ_INT(pump_all(), FR_ECLOSED);

	reset(0);
	T_REQUIRE(ws_start(&w, &mem_io, "h", "/", on_msg, NULL) == 0);
	feeds("HTTP/1.1 101 OK\r\n");
	while (m.in_len < WS_HS_MAX)
		feeds("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	T_EQ_INT(pump_all(), FR_ERANGE);
	ws_release(&w);
}

TEST(ws_hs_parse_direct)
{
	char msg[ERR_MSG_MAX];
	const char *acc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: "
	                 "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";

	T_EQ_INT(ws_hs_parse(ok, strlen(ok), acc, msg, sizeof msg), (int)strlen(ok) - 4);
	T_EQ_INT(ws_hs_parse(ok, 40, acc, msg, sizeof msg), FR_EAGAIN);
	T_EQ_INT(ws_hs_parse("HTTP/1.1 10\r\n\r\n", 15, acc, msg, sizeof msg), FR_EPROTO);
	T_EQ_STR(msg, "handshake: malformed status line");
	T_EQ_INT(ws_hs_parse("\r\n\r\n", 4, acc, msg, sizeof msg), FR_EPROTO);
	T_EQ_INT(ws_hs_parse("HTTP/1.1 101 X\r\nNoColon\r\n\r\n", 27, acc, msg, sizeof msg),
	         FR_EPROTO);
	T_EQ_STR(msg, "handshake: malformed header line");
}

TEST(ws_frames_byte_at_a_time_and_leftover)
{
	static char big[70000];
	size_t i;

	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 0, 1, 0, "hello", 5);
	T_EQ_INT(pump_all(), 1);
	T_EQ_INT(got.len, 5);
	T_EQ_STR(got.last, "hello");
	T_CHECK(got.is_text);
	for (i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	srv_frame(1, 0, 2, 0, big, 300);
	srv_frame(1, 0, 2, 0, big, sizeof big);
	m.chunk = 7;
	T_EQ_INT(pump_all(), 2);
	T_EQ_INT(got.n, 3);
	T_CHECK(!got.is_text && got.len == sizeof big && memcmp(got.last, big, sizeof big) == 0);
	T_EQ_INT(m.out_len, 0);
	ws_release(&w);
}

TEST(ws_frame_bytes_in_the_handshake_read)
{
	char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], resp[512];

	reset(0);
	T_REQUIRE(ws_start(&w, &mem_io, "h:8443", "/", on_msg, NULL) == 0);
	T_EQ_INT(ws_pump(&w), 0);
	T_CHECK(strstr((char *)m.out, "\r\nHost: h:8443\r\n") != NULL);
	sent_key(key);
	ws_accept_for_key(key, accept);
	snprintf(resp, sizeof resp,
	         "HTTP/1.1 101 x\r\n" STD_HDRS "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	feeds(resp);
	srv_frame(1, 0, 1, 0, "first", 5);
	srv_frame(1, 0, 1, 0, "second", 6);
	T_EQ_INT(ws_pump(&w), 2);
	T_EQ_STR(got.last, "second");
	ws_release(&w);
}

TEST(ws_fragmented_message_reassembled_with_ping_inside)
{
	static const char want[] = "{\"topic\":\"execution\",\"data\":[\xc3\xa9]}";
	struct cframe f;

	T_EQ_INT(open_ws(1), 0);
	srv_frame(0, 0, 1, 0, want, 10);
	srv_frame(0, 0, 0, 0, want + 10, 19); /* splits the 2-byte UTF-8 sequence */
	srv_frame(1, 0, 9, 0, "pp", 2);
	srv_frame(0, 0, 0, 0, want + 29, 0);
	srv_frame(1, 0, 0, 0, want + 29, sizeof want - 1 - 29);
	T_EQ_INT(pump_all(), 1);
	T_EQ_INT(got.len, sizeof want - 1);
	T_CHECK(memcmp(got.last, want, sizeof want) == 0);
	T_REQUIRE(first_frame(&f));
	T_EQ_INT(f.op, 10);
	T_EQ_INT(f.len, 2);
	T_CHECK(memcmp(f.payload, "pp", 2) == 0);
	ws_release(&w);
}

TEST(ws_ping_answered_with_masked_pong)
{
	struct cframe f;

	T_EQ_INT(open_ws(0), 0);
	srv_frame(1, 0, 9, 0, "1700000000", 10);
	srv_frame(1, 0, 10, 0, "", 0);
	T_EQ_INT(pump_all(), 0);
	T_REQUIRE(first_frame(&f));
	T_EQ_INT(f.fin, 1);
	T_EQ_INT(f.op, 10);
	T_EQ_INT(f.len, 10);
	T_CHECK(memcmp(f.payload, "1700000000", 10) == 0);
	T_CHECK(m.out[1] & 0x80);
	T_EQ_INT(w.pings_in, 1);
	T_EQ_INT(w.pongs_in, 1);
	ws_release(&w);
}

static void expect_close(int want_err, int code, const char *msg_part)
{
	struct cframe f;

	T_EQ_INT(pump_all(), want_err);
	T_CHECK(strstr(ws_errmsg(&w), msg_part) != NULL);
	T_REQUIRE(first_frame(&f));
	T_EQ_INT(f.op, 8);
	T_EQ_INT(f.len, 2);
	T_EQ_INT(f.payload[0] << 8 | f.payload[1], code);
	T_EQ_INT(ws_pump(&w), want_err);
}

TEST(ws_oversize_message_closes_1009)
{
	static char big[200];

	memset(big, 'x', sizeof big);
	T_EQ_INT(open_ws(0), 0);
	ws_set_msg_max(&w, 100);
	srv_frame(1, 0, 1, 0, big, 100);
	srv_frame(1, 0, 1, 0, big, 101);
	expect_close(FR_ERANGE, 1009, "message larger than 100 bytes (at least 101)");
	T_EQ_INT(got.n, 1);

	T_EQ_INT(open_ws(1), 0);
	ws_set_msg_max(&w, 100);
	srv_frame(0, 0, 1, 0, big, 60);
	srv_frame(1, 0, 0, 0, big, 60);
	expect_close(FR_ERANGE, 1009, "larger than 100 bytes (at least 120)");
	T_EQ_INT(got.n, 0);
	ws_release(&w);
}

TEST(ws_protocol_violations_close_1002_or_1007)
{
	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 0, 1, 1, "hi", 2);
	expect_close(FR_EPROTO, 1002, "masked frame");

	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 0, 3, 0, "hi", 2);
	expect_close(FR_EPROTO, 1002, "unknown opcode 0x3");

	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 4, 1, 0, "hi", 2);
	expect_close(FR_EPROTO, 1002, "reserved bits");

	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 0, 0, 0, "hi", 2);
	expect_close(FR_EPROTO, 1002, "continuation frame without");

	T_EQ_INT(open_ws(1), 0);
	srv_frame(0, 0, 1, 0, "hi", 2);
	srv_frame(1, 0, 1, 0, "hi", 2);
	expect_close(FR_EPROTO, 1002, "before the fragmented one ended");

	T_EQ_INT(open_ws(1), 0);
	srv_frame(0, 0, 9, 0, "hi", 2);
	expect_close(FR_EPROTO, 1002, "malformed frame header");

	T_EQ_INT(open_ws(0), 0);
	srv_frame(1, 0, 9, 0,
	          "0123456789012345678901234567890123456789012345678901234567890"
	          "12345678901234567890123456789012345678901234567890123456789012345",
	          126);
	expect_close(FR_EPROTO, 1002, "malformed frame header");

	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 0, 1, 0, "a\xff", 2);
	expect_close(FR_EPROTO, 1007, "not valid UTF-8");

	T_EQ_INT(open_ws(0), 0);
	srv_frame(1, 0, 8, 0, "\x03\xed", 2); /* 1005 must not be sent */
	expect_close(FR_EPROTO, 1002, "close code 1005");
	ws_release(&w);
}

TEST(ws_close_from_peer_is_echoed)
{
	T_EQ_INT(open_ws(1), 0);
	srv_frame(1, 0, 8, 0,
	          "\x03\xe8"
	          "bye",
	          5);
	srv_frame(1, 0, 1, 0, "late", 4);
	expect_close(FR_ECLOSED, 1000, "code 1000 reason \"bye\"");
	T_EQ_INT(got.n, 0);
	T_EQ_INT(ws_send_text(&w, "x", 1), FR_ECLOSED);
	ws_release(&w);
}

TEST(ws_close_from_us)
{
	struct cframe f;

	T_EQ_INT(open_ws(0), 0);
	T_EQ_INT(ws_close(&w, 1000, "done"), 0);
	T_REQUIRE(first_frame(&f));
	T_EQ_INT(f.op, 8);
	T_EQ_INT(f.len, 6);
	T_CHECK(memcmp(f.payload,
	               "\x03\xe8"
	               "done",
	               6) == 0);
	T_EQ_INT(ws_send_text(&w, "x", 1), FR_EINVAL);
	srv_frame(1, 0, 1, 0, "still", 5); /* may arrive before the answer */
	srv_frame(1, 0, 8, 0, "\x03\xe8", 2);
	m.out_len = 0;
	T_EQ_INT(pump_all(), FR_ECLOSED);
	T_CHECK(strstr(ws_errmsg(&w), "answered our close 1000 with 1000") != NULL);
	T_EQ_INT(m.out_len, 0); /* no second close */
	T_EQ_INT(got.n, 1);
	ws_release(&w);
}

/* A session that holds (bybit.h) closes with 1013 while its out buffer may
 * be full of text the stream does not take: the reserve still fits the
 * close frame, and it follows the queued text. */
TEST(ws_close_1013_fits_behind_a_full_queue)
{
	struct cframe f;
	size_t off = 0;
	int texts = 0;
	static char text[1000];

	memset(text, 'q', sizeof text);
	T_EQ_INT(open_ws(0), 0);
	m.out_len = 0;
	m.out_cap = 1; /* the stream takes one byte, then blocks */
	while (ws_send_text(&w, text, sizeof text) == 0)
		texts++;
	T_CHECK(texts >= 5);
	T_EQ_INT(ws_send_text(&w, text, sizeof text), FR_EFULL);
	T_EQ_INT(ws_close(&w, WS_CLOSE_TRY_AGAIN, "sink full"), 0);
	m.out_cap = 0;
	T_EQ_INT(ws_pump(&w), 0);
	T_EQ_INT(ws_out_pending(&w), 0);
	for (int i = 0; i < texts; i++) {
		T_REQUIRE(cli_frame(&off, &f));
		T_EQ_INT(f.op, 1);
		T_EQ_INT(f.len, sizeof text);
	}
	T_REQUIRE(cli_frame(&off, &f));
	T_EQ_INT(f.op, 8);
	T_EQ_INT(f.len, 11);
	T_CHECK(memcmp(f.payload, "\x03\xf5sink full", 11) == 0);
	T_EQ_INT(off, m.out_len);
	ws_release(&w);
}

TEST(ws_stream_end_mid_frame)
{
	T_EQ_INT(open_ws(1), 0);
	feed("\x81\x05he", 4);
	m.closed = 1;
	T_EQ_INT(pump_all(), FR_ECLOSED);
	T_EQ_STR(ws_errmsg(&w), "ws: connection closed without a close frame");
	ws_release(&w);
}

TEST(ws_send_text_masked_and_bounded)
{
	static char big[WS_SEND_MAX + 1];
	struct cframe f;
	size_t off = 0;
	int r, sent = 0;

	T_EQ_INT(open_ws(0), 0);
	T_EQ_INT(ws_send_text(&w, "{\"op\":\"ping\"}", 13), 0);
	T_EQ_INT(ws_pump(&w), 0);
	T_REQUIRE(cli_frame(&off, &f));
	T_CHECK(f.fin && f.op == 1 && f.len == 13 &&
	        memcmp(f.payload, "{\"op\":\"ping\"}", 13) == 0);
	T_EQ_INT(ws_send_text(&w, big, sizeof big), FR_EINVAL);

	m.out_cap = m.out_len; /* the stream takes nothing more */
	memset(big, 'y', sizeof big);
	while ((r = ws_send_text(&w, big, 1000)) == 0)
		sent++;
	T_EQ_INT(r, FR_EFULL);
	T_CHECK(sent >= 5 && sent <= 8);
	/* a ping is still answered from the reserve */
	srv_frame(1, 0, 9, 0, "p", 1);
	T_EQ_INT(pump_all(), 0);
	T_EQ_INT(w.pongs_dropped, 0);
	m.out_cap = 0;
	T_EQ_INT(ws_pump(&w), 0);
	T_EQ_INT(ws_out_pending(&w), 0);
	for (r = 0; r < sent; r++)
		T_CHECK(cli_frame(&off, &f) && f.op == 1 && f.len == 1000);
	T_CHECK(cli_frame(&off, &f) && f.op == 10 && f.len == 1);
	ws_release(&w);
}

TEST(ws_ping_flood_drops_pongs_but_close_still_fits)
{
	static char fill[1000];
	struct cframe f;
	size_t off = 0;
	int i, texts = 0, smalls = 0;

	T_EQ_INT(open_ws(0), 0);
	m.out_cap = 1; /* the stream takes nothing after the first byte */
	while (ws_send_text(&w, fill, sizeof fill) == 0)
		texts++;
	while (ws_send_text(&w, fill, 1) == 0)
		smalls++;
	for (i = 0; i < 10; i++)
		srv_frame(1, 0, 9, 0, "0123456789012345678901234567890123456789", 40);
	srv_frame(1, 0, 1, 1, "x", 1); /* masked: must be answered with close 1002 */
	T_EQ_INT(pump_all(), FR_EPROTO);
	T_CHECK(w.pongs_dropped > 0 && w.pongs_dropped < 10);
	m.out_cap = 0;
	T_EQ_INT(ws_pump(&w), FR_EPROTO); /* flushes the queue, close last */
	T_EQ_INT(ws_out_pending(&w), 0);
	for (i = 0; i < texts; i++)
		T_CHECK(cli_frame(&off, &f) && f.op == 1 && f.len == sizeof fill);
	for (i = 0; i < smalls; i++)
		T_CHECK(cli_frame(&off, &f) && f.op == 1 && f.len == 1);
	for (i = 0; i < (int)(10 - w.pongs_dropped); i++)
		T_CHECK(cli_frame(&off, &f) && f.op == 10 && f.len == 40);
	T_REQUIRE(cli_frame(&off, &f));
	T_EQ_INT(f.op, 8);
	T_EQ_INT(f.payload[0] << 8 | f.payload[1], 1002);
	T_EQ_INT(off, m.out_len);
	ws_release(&w);
}
