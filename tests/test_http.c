/*
 * test_http.c -- request building and signing, the response parser fed
 * whole, byte-at-a-time and in fragments, classification, and http_conn over
 * an in-memory stream.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "t.h"

static struct http_resp r;

/* Feeds s in pieces of chunk bytes (0: whole); returns the last result and
 * the bytes the parser took in *taken. */
static int feed_in(const char *s, size_t n, size_t chunk, size_t *taken)
{
	size_t off = 0, used = 0;
	int rc = FR_EAGAIN;

	if (chunk == 0)
		chunk = n ? n : 1;
	while (off < n && rc == FR_EAGAIN) {
		size_t k = n - off < chunk ? n - off : chunk;

		rc = http_resp_feed(&r, s + off, k, &used);
		off += rc == HTTP_DONE ? used : k;
	}
	if (taken)
		*taken = off;
	return rc;
}

static int parse(const char *s, size_t chunk, size_t body_max)
{
	http_resp_init(&r, body_max);
	return feed_in(s, strlen(s), chunk, NULL);
}

TEST(http_query_build_encodes_but_keeps_cursor)
{
	char q[256];
	const struct http_kv kv[] = {
	    {"category", "linear", 0},
	    {"symbol", "BTC USDT/x&y=z", 0},
	    {"limit", "100", 0},
	    {"cursor", "132766%3A2%2C132766%3A2", 1},
	};
	const struct http_kv bad_amp[] = {{"cursor", "a&b", 1}};
	const struct http_kv bad_esc[] = {{"cursor", "a%zz", 1}};
	const struct http_kv short_esc[] = {{"cursor", "a%3", 1}};
	const struct http_kv no_key[] = {{"", "x", 0}};

	T_EQ_INT(http_query_build(q, sizeof q, kv, 4), 86);
	T_EQ_STR(q, "category=linear&symbol=BTC%20USDT%2Fx%26y%3Dz&limit=100&"
	            "cursor=132766%3A2%2C132766%3A2");
	T_EQ_INT(http_query_build(q, sizeof q, kv, 0), 0);
	T_EQ_STR(q, "");
	T_EQ_INT(http_query_build(q, sizeof q, bad_amp, 1), FR_EINVAL);
	T_EQ_INT(http_query_build(q, sizeof q, bad_esc, 1), FR_EINVAL);
	T_EQ_INT(http_query_build(q, sizeof q, short_esc, 1), FR_EINVAL);
	T_EQ_INT(http_query_build(q, sizeof q, no_key, 1), FR_EINVAL);
	T_EQ_INT(http_query_build(q, 20, kv, 4), FR_ERANGE);
	T_EQ_STR(q, "");
	T_EQ_INT(http_query_build(q, 16, kv, 1), 15); /* exactly fits with its NUL */
	T_EQ_INT(http_query_build(q, 15, kv, 1), FR_ERANGE);
}

/* Expected values from Python's hmac module:
 *   hmac.new(b'test-secret-XYZ', ('1700000000000' + 'key123' + '5000' + q)
 *            .encode(), hashlib.sha256).hexdigest() */
#define SIGN_Q "category=linear&limit=100&cursor=132766%3A2%2C132766%3A2"
#define SIGN_Q_HEX "194474f0fe6590eb6121d5aece130982fbf3bee522a245ad976ddf3e8291141f"
#define SIGN_EMPTY_HEX "de315925f121d0dd49bbb5a0df0daf26bcba805dc9c9e8a8aa74276d506896d3"

TEST(http_sign_known_vectors)
{
	char hex[HTTP_SIGN_HEX_LEN + 1];

	http_sign_hex("test-secret-XYZ", 1700000000000, "key123", 5000, SIGN_Q, hex);
	T_EQ_STR(hex, SIGN_Q_HEX);
	http_sign_hex("test-secret-XYZ", 1700000000000, "key123", 5000, "", hex);
	T_EQ_STR(hex, SIGN_EMPTY_HEX);
}

static const struct http_get_req get_req = {
    "api.bybit.com", "/v5/execution/list", SIGN_Q, "key123", "test-secret-XYZ", 1700000000000, 5000,
};

#define GET_BYTES                                                                                  \
	"GET /v5/execution/list?" SIGN_Q " HTTP/1.1\r\nHost: api.bybit.com\r\n"                    \
	"Connection: keep-alive\r\nX-BAPI-API-KEY: key123\r\n"                                     \
	"X-BAPI-TIMESTAMP: 1700000000000\r\nX-BAPI-RECV-WINDOW: 5000\r\n"                          \
	"X-BAPI-SIGN: " SIGN_Q_HEX "\r\n\r\n"

TEST(http_build_get_bytes)
{
	char out[HTTP_REQ_MAX];
	struct http_get_req g = get_req;
	int n = http_build_get(out, sizeof out, &g);

	T_REQUIRE(n > 0 && (size_t)n < sizeof out);
	out[n] = '\0';
	T_EQ_STR(out, GET_BYTES);
	T_CHECK(strstr(out, "test-secret") == NULL);
	T_EQ_INT(http_build_get(out, 100, &g), FR_ERANGE);
	g.query = "a=b c";
	T_EQ_INT(http_build_get(out, sizeof out, &g), FR_EINVAL);
	g.query = "";
	n = http_build_get(out, sizeof out, &g);
	T_REQUIRE(n > 0);
	T_CHECK(memcmp(out, "GET /v5/execution/list HTTP/1.1\r\n", 33) == 0);
	g.path = "v5";
	T_EQ_INT(http_build_get(out, sizeof out, &g), FR_EINVAL);
	g.path = "/v5";
	g.api_key = "a\r\nX: y";
	T_EQ_INT(http_build_get(out, sizeof out, &g), FR_EINVAL);
}

TEST(http_build_get_public_has_no_key_or_signature)
{
	char out[HTTP_REQ_MAX];
	struct http_get_req g = { "api.bybit.com", "/v5/market/time", "", NULL, NULL, 0, 0 };
	int n = http_build_get(out, sizeof out, &g);

	T_REQUIRE(n > 0 && (size_t)n < sizeof out);
	out[n] = '\0';
	T_EQ_STR(out, "GET /v5/market/time HTTP/1.1\r\nHost: api.bybit.com\r\n"
	              "Connection: keep-alive\r\n\r\n");
	g.query = "a=1";
	T_REQUIRE((n = http_build_get(out, sizeof out, &g)) > 0);
	T_CHECK(memcmp(out, "GET /v5/market/time?a=1 HTTP/1.1\r\n", 34) == 0);
	T_EQ_INT(http_build_get(out, 40, &g), FR_ERANGE);
	g.query = "a=b c";
	T_EQ_INT(http_build_get(out, sizeof out, &g), FR_EINVAL);
	g.query = "";
	g.host = "bad host";
	T_EQ_INT(http_build_get(out, sizeof out, &g), FR_EINVAL);
}

#define JSON_BODY "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{},\"time\":1700000000123}"

TEST(http_content_length_body_any_fragmentation)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                           "content-length:  60 \r\n\r\n" JSON_BODY;
	size_t chunk;

	for (chunk = 0; chunk < 9; chunk++) {
		T_EQ_INT(parse(resp, chunk, 0), HTTP_DONE);
		T_EQ_INT(r.status, 200);
		T_EQ_INT(r.body_len, 60);
		T_EQ_STR(r.body, JSON_BODY);
		T_EQ_INT(r.conn_close, 0);
	}
}

TEST(http_chunked_with_extensions_and_trailers_byte_at_a_time)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
	                           "5;name=value\r\n{\"ret\r\n"
	                           "A ; a=\"q\";b\r\nCode\":0,\"r\r\n"
	                           "0000f\r\nesult\":{},\"time\r\n"
	                           "9\r\n\":1700000\r\n"
	                           "1\n}\n"
	                           "0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
	int64_t wait;

	T_EQ_INT(parse(resp, 1, 0), HTTP_DONE);
	T_EQ_STR(r.body, "{\"retCode\":0,\"result\":{},\"time\":1700000}");
	T_CHECK(r.chunked);
	T_EQ_INT(http_classify(&r, &wait), HTTP_CLASS_OK);
	T_EQ_INT(wait, 0);
	T_EQ_INT(parse(resp, 7, 0), HTTP_DONE);
	T_EQ_INT(r.body_len, 40);
}

TEST(http_keep_alive_back_to_back)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	                          "\r\nHTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n"
	                          "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	size_t taken = 0, first = strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
	size_t chunk;

	for (chunk = 0; chunk < 4; chunk++) {
		http_resp_init(&r, 0);
		T_EQ_INT(feed_in(two, strlen(two), chunk, &taken), HTTP_DONE);
		T_EQ_INT(taken, first);
		T_EQ_STR(r.body, "{}");
		http_resp_next(&r);
		T_EQ_INT(feed_in(two + taken, strlen(two) - taken, chunk, &taken), HTTP_DONE);
		T_EQ_INT(r.status, 503);
		T_EQ_STR(r.body, "abc");
		T_CHECK(r.conn_close);
	}
}

TEST(http_oversize_rejected)
{
	static char big[HTTP_HEAD_MAX + 100];
	size_t i;

	T_EQ_INT(parse("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 0, 10), FR_ERANGE);
	T_CHECK(strstr(r.errmsg, "exceeds 10") != NULL);
	T_EQ_INT(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	               "6\r\n123456\r\n5\r\n",
	               1, 10),
	         FR_ERANGE);
	T_EQ_INT(parse("HTTP/1.1 200 OK\r\n\r\n0123456789A", 3, 10), FR_ERANGE);
	T_EQ_INT(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, 0),
	         FR_EPROTO);
	strcpy(big, "HTTP/1.1 200 OK\r\n");
	for (i = strlen(big); i + 40 < sizeof big; i += 20)
		memcpy(big + i, "X-Pad: aaaaaaaaaaa\r\n", 20);
	big[i] = '\0';
	T_EQ_INT(parse(big, 0, 0), FR_ERANGE);
	T_CHECK(strstr(r.errmsg, "header longer") != NULL);
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	big[sizeof big - 1] = '\0';
	T_EQ_INT(parse(big, 0, 0), FR_ERANGE);
	T_CHECK(strstr(r.errmsg, "line longer") != NULL);
}

static void expect_bad(const char *resp, const char *msg_part)
{
	size_t chunk;

	for (chunk = 0; chunk < 3; chunk++) {
		int rc = parse(resp, chunk, 100);

		T_EQ_INT(rc, FR_EPROTO);
		if (!T_CHECK(strstr(r.errmsg, msg_part) != NULL))
			printf("      for %s: %s\n", resp, r.errmsg);
		T_EQ_INT(http_resp_feed(&r, "x", 1, &(size_t){0}), FR_EPROTO); /* sticky */
	}
}

TEST(http_malformed_rejected)
{
	expect_bad("HTTP/2 200 OK\r\n\r\n", "status line");
	expect_bad("HTTP/1.1 20\r\n\r\n", "status line");
	expect_bad("HTTP/1.1 200OK\r\n\r\n", "status line");
	expect_bad("HTTP/1.1 600 X\r\n\r\n", "status line");
	expect_bad("ICY 200 OK\r\n\r\n", "status line");
	expect_bad("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", "malformed header");
	expect_bad("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "malformed header");
	expect_bad("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "folding");
	expect_bad("HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n", "control byte");
	expect_bad("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "stray CR");
	expect_bad("HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n", "Content-Length");
	expect_bad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length");
	expect_bad("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	           "conflicting");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	           "Transfer-Encoding");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	           "both");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "chunk size");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 2\r\n", "chunk size");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "chunk size");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "0000000000000001\r\n",
	           "too long");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
	           "longer than its size");
	expect_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
	           "malformed header");
	expect_bad("HTTP/1.1 101 Switching Protocols\r\n\r\n", "101");
}

TEST(http_interim_no_body_and_until_close)
{
	T_EQ_INT(parse("\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 1, 0),
	         HTTP_DONE);
	T_EQ_INT(r.status, 204);
	T_EQ_INT(r.body_len, 0);
	T_EQ_INT(parse("HTTP/1.0 200 OK\r\n\r\nabc", 1, 0), FR_EAGAIN);
	T_CHECK(r.conn_close);
	T_EQ_INT(http_resp_eof(&r), HTTP_DONE);
	T_EQ_STR(r.body, "abc");
	T_EQ_INT(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", 0, 0), FR_EAGAIN);
	T_EQ_INT(http_resp_eof(&r), FR_ECLOSED);
	T_EQ_INT(
	    parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0, 0),
	    HTTP_DONE);
	T_EQ_INT(r.conn_close, 0);
}

static enum http_class classify(const char *resp, int64_t *wait)
{
	T_REQUIRE(parse(resp, 0, 0) == HTTP_DONE);
	return http_classify(&r, wait);
}

TEST(http_classify_statuses)
{
	int64_t wait = -1;

	T_EQ_INT(classify("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n \n{}", &wait),
	         HTTP_CLASS_OK);
	T_EQ_INT(wait, 0);
	T_EQ_INT(classify("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>", &wait),
	         HTTP_CLASS_RETRY);
	T_EQ_INT(wait, HTTP_RETRY_WAIT_MS);
	T_EQ_INT(
	    classify("HTTP/1.1 429 Too Many\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n", &wait),
	    HTTP_CLASS_RATE_LIMITED);
	T_EQ_INT(wait, 5000);
	T_EQ_INT(classify("HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n", &wait),
	         HTTP_CLASS_RATE_LIMITED);
	T_EQ_INT(wait, HTTP_RATE_WAIT_MS);
	T_EQ_INT(classify("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", &wait),
	         HTTP_CLASS_BANNED);
	T_EQ_INT(wait, 600000);
	T_EQ_INT(
	    classify("HTTP/1.1 403 Forbidden\r\nRetry-After: 1200\r\nContent-Length: 0\r\n\r\n",
	             &wait),
	    HTTP_CLASS_BANNED);
	T_EQ_INT(wait, 1200000);
	T_EQ_INT(classify("HTTP/1.1 503 Unavailable\r\nRetry-After: 999999\r\n"
	                  "Content-Length: 0\r\n\r\n",
	                  &wait),
	         HTTP_CLASS_RETRY);
	T_EQ_INT(wait, HTTP_WAIT_MAX_MS);
	T_EQ_INT(classify("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &wait),
	         HTTP_CLASS_FAIL);
	T_EQ_INT(wait, 0);
}

/* ---- http_conn over memory ---- */

static struct {
	char in[8192];
	size_t in_len, in_pos;
	int flip, closed;
	char out[8192];
	size_t out_len;
} sm;
static struct http_conn hc;

static int sm_read(void *ctx, void *buf, size_t n)
{
	(void)ctx, (void)n;
	if (sm.in_pos == sm.in_len)
		return sm.closed ? FR_ECLOSED : FR_EAGAIN;
	if ((sm.flip ^= 1))
		return FR_EAGAIN;
	memcpy(buf, sm.in + sm.in_pos++, 1); /* one byte per read */
	return 1;
}

static int sm_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	if ((sm.flip ^= 1))
		return FR_EAGAIN;
	n = n > 7 ? 7 : n;
	memcpy(sm.out + sm.out_len, buf, n);
	sm.out_len += n;
	return (int)n;
}

static int conn_until_done(void)
{
	int rc = FR_EAGAIN, i;

	for (i = 0; i < 100000 && rc == FR_EAGAIN; i++)
		rc = http_conn_pump(&hc);
	return rc;
}

TEST(http_conn_two_requests_then_close)
{
	static const struct fr_stream io = {sm_read, sm_write, NULL};
	static const char resps[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	    "2\r\n[]\r\n0\r\n\r\n";

	memset(&sm, 0, sizeof sm);
	http_conn_init(&hc, &io, 0);
	T_EQ_INT(http_conn_pump(&hc), FR_EAGAIN);
	T_EQ_INT(http_conn_get(&hc, &get_req), 0);
	T_EQ_INT(http_conn_get(&hc, &get_req), FR_EAGAIN);
	memcpy(sm.in, resps, sizeof resps - 1);
	sm.in_len = sizeof resps - 1;
	T_EQ_INT(conn_until_done(), HTTP_DONE);
	T_EQ_STR(hc.resp.body, "{}");
	sm.out[sm.out_len] = '\0';
	T_EQ_STR(sm.out, GET_BYTES);
	T_EQ_INT(http_conn_pump(&hc), HTTP_DONE);

	sm.out_len = 0;
	T_EQ_INT(http_conn_get(&hc, &get_req), 0);
	T_EQ_INT(conn_until_done(), HTTP_DONE);
	T_EQ_STR(hc.resp.body, "[]");
	T_CHECK(hc.resp.conn_close);
	T_EQ_INT(sm.out_len, strlen(GET_BYTES));
	T_EQ_INT(http_conn_get(&hc, &get_req), FR_ECLOSED);
	T_EQ_INT(http_conn_err(&hc), FR_ECLOSED);
}

TEST(http_conn_closed_mid_response)
{
	static const struct fr_stream io = {sm_read, sm_write, NULL};
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"retCode\"";

	memset(&sm, 0, sizeof sm);
	http_conn_init(&hc, &io, 0);
	T_EQ_INT(http_conn_get(&hc, &get_req), 0);
	memcpy(sm.in, resp, sizeof resp - 1);
	sm.in_len = sizeof resp - 1;
	sm.closed = 1;
	T_EQ_INT(conn_until_done(), FR_ECLOSED);
	T_CHECK(strstr(http_conn_errmsg(&hc), "closed before the response ended") != NULL);
	T_EQ_INT(http_conn_pump(&hc), FR_ECLOSED);
}
