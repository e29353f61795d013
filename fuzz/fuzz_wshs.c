/*
 * fuzz_wshs.c -- libFuzzer target for the WebSocket client's input side.
 *
 * The input is what a server sends: a handshake response, then frames. It is
 * checked twice: by ws_hs_parse directly (the header length it returns lies
 * inside the input and ends with an LF), and through a whole struct ws_conn
 * over an in-memory stream that hands out the input in pieces whose size comes
 * from the input's first byte, with the expected Sec-WebSocket-Accept pinned
 * to RFC 6455's example so that frames are reached. Every delivered message
 * must fit msg_max and text must be UTF-8; every error must leave a message.
 * Seeds: fuzz/corpus/wshs.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "ws.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define FUZZ_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define FUZZ_MSG_MAX 4096

static struct ws_conn w;
static const uint8_t *in;
static size_t in_len, in_pos, chunk;
static size_t out_bytes;

static int f_read(void *ctx, void *buf, size_t n)
{
	size_t k = in_len - in_pos;

	(void)ctx;
	if (k == 0)
		return FR_ECLOSED;
	if (k > n)
		k = n;
	if (k > chunk)
		k = chunk;
	memcpy(buf, in + in_pos, k);
	in_pos += k;
	return (int)k;
}

static int f_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx, (void)buf;
	out_bytes += n;
	return (int)n;
}

static void f_msg(void *ctx, const char *msg, size_t n, int is_text)
{
	(void)ctx;
	CHECK(n <= FUZZ_MSG_MAX && msg[n] == '\0');
	CHECK(!is_text || ws_utf8_valid((const unsigned char *)msg, n));
}

static void check_parse(const uint8_t *data, size_t size)
{
	char msg[ERR_MSG_MAX];
	size_t n = size < WS_HS_MAX ? size : WS_HS_MAX;
	int r = ws_hs_parse((const char *)data, n, FUZZ_ACCEPT, msg, sizeof msg);

	if (r > 0)
		CHECK((size_t)r <= n && data[r - 1] == '\n');
	else if (r != FR_EAGAIN)
		CHECK((r == FR_EPROTO || r == FR_ERANGE) && msg[0] != '\0');
	else
		CHECK(n < WS_HS_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fr_stream io = {f_read, f_write, NULL};
	int r, i;

	check_parse(data, size);
	if (size == 0)
		return 0;
	chunk = (size_t)(data[0] % 16) + 1;
	in = data + 1, in_len = size - 1, in_pos = 0;
	CHECK(ws_start(&w, &io, "stream.bybit.com", "/v5/private", f_msg, NULL) == 0);
	memcpy(w.accept, FUZZ_ACCEPT, sizeof w.accept);
	ws_set_msg_max(&w, FUZZ_MSG_MAX);
	if (data[0] & 0x80)
		CHECK(ws_close(&w, 1000, "fuzz") == FR_ECLOSED);
	for (i = 0, r = 0; r >= 0 && i < 1 << 20; i++) {
		r = ws_pump(&w);
		if (r >= 0 && ws_is_open(&w) && (data[0] & 0x40))
			(void)ws_send_text(&w, "{\"op\":\"ping\"}", 13);
	}
	CHECK(r < 0 && r == ws_err(&w) && ws_errmsg(&w)[0] != '\0');
	ws_release(&w);
	return 0;
}
