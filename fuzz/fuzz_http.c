/*
 * fuzz_http.c -- libFuzzer target for the HTTP response parser.
 *
 * The input's first byte picks a fragment size and a body bound; the rest is
 * what a server sends on one keep-alive connection. It is parsed twice, once
 * in a single feed per response and once in fragments, and both runs must
 * agree on every response (status, body bytes, framing flags) and on the
 * final outcome and error message: the parser's answer must not depend on
 * how the stream was cut. Each done response must hold a NUL-terminated body
 * within its bound. Seeds: fuzz/corpus/http.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "http.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define FUZZ_RESPONSES_MAX 8

struct outcome {
	int n, rc;
	int status[FUZZ_RESPONSES_MAX], close[FUZZ_RESPONSES_MAX];
	size_t body_len[FUZZ_RESPONSES_MAX];
	uint64_t body_hash[FUZZ_RESPONSES_MAX];
	char errmsg[ERR_MSG_MAX];
};

static struct http_resp r;
static struct outcome whole, pieces;

static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603u;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 1099511628211u;
	return h;
}

static void record(struct outcome *o)
{
	CHECK(r.body_len <= r.body_max && r.body[r.body_len] == '\0');
	CHECK(r.status >= 200 && r.status <= 599);
	o->status[o->n] = r.status;
	o->close[o->n] = r.conn_close;
	o->body_len[o->n] = r.body_len;
	o->body_hash[o->n] = hash(r.body, r.body_len);
	o->n++;
}

static void run(const char *p, size_t n, size_t chunk, size_t body_max, struct outcome *o)
{
	size_t off = 0, used;
	int rc = FR_EAGAIN;

	memset(o, 0, sizeof *o);
	http_resp_init(&r, body_max);
	while (off < n && o->n < FUZZ_RESPONSES_MAX) {
		size_t k = n - off < chunk ? n - off : chunk;

		rc = http_resp_feed(&r, p + off, k, &used);
		CHECK(used <= k);
		if (rc < 0 && rc != FR_EAGAIN)
			break;
		off += rc == HTTP_DONE ? used : k;
		if (rc == HTTP_DONE) {
			record(o);
			if (r.conn_close)
				break;
			http_resp_next(&r);
		}
	}
	if (rc == FR_EAGAIN && o->n < FUZZ_RESPONSES_MAX) {
		rc = http_resp_eof(&r);
		if (rc == HTTP_DONE)
			record(o);
	}
	if (rc < 0)
		CHECK(r.errmsg[0] != '\0' && r.err == rc);
	o->rc = rc;
	memcpy(o->errmsg, r.errmsg, sizeof o->errmsg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bounds[4] = {16, 1000, 65536, 0};
	size_t chunk, body_max;

	if (size == 0)
		return 0;
	chunk = (size_t)(data[0] & 31) + 1;
	body_max = bounds[data[0] >> 6];
	run((const char *)data + 1, size - 1, size, body_max, &whole);
	run((const char *)data + 1, size - 1, chunk, body_max, &pieces);
	CHECK(whole.n == pieces.n && whole.rc == pieces.rc);
	CHECK(memcmp(whole.status, pieces.status, sizeof whole.status) == 0);
	CHECK(memcmp(whole.close, pieces.close, sizeof whole.close) == 0);
	CHECK(memcmp(whole.body_len, pieces.body_len, sizeof whole.body_len) == 0);
	CHECK(memcmp(whole.body_hash, pieces.body_hash, sizeof whole.body_hash) == 0);
	CHECK(strcmp(whole.errmsg, pieces.errmsg) == 0);
	return 0;
}
