/*
 * rest.h -- one account's Bybit V5 REST client, driven by the loop
 * (DESIGN.md 2: backfill, reconciliation, the clock, check --connect).
 *
 * A request walks: resolve rest_url.host (resolv.h, never blocking) ->
 * non-blocking TCP connect -> TLS (tls.h: SNI and certificate name =
 * rest_url.host, the account's trust anchors) -> HTTP/1.1 GET (http.h) ->
 * the answer. The connection is kept alive and carries the next request;
 * it is closed when the server says "Connection: close", when it ends, and
 * after any failure. A request that fails on a kept-alive connection
 * before any byte of its answer arrived (the server closed the idle
 * connection as we sent) is retried once at once on a fresh connection:
 * that is the ordinary end of keep-alive, not a fault.
 *
 * One request at a time. rest_get queues it; the callback runs exactly once
 * per accepted request, always from inside loop_run_once (a timer or fd
 * callback), never from inside rest_get, with one of three outcomes:
 *   REST_OK        HTTP 200 and retCode 0;
 *   REST_FAILED    an answer that retrying will not change: retCode 10001
 *                  (parameters), 10003 (key), 10004 (signature), any other
 *                  non-zero retCode not listed below, a second 10002 in a
 *                  row, HTTP 4xx other than 403/408/429, or a request that
 *                  cannot be built (path or query too long or ill-formed);
 *   REST_DEADLINE  the request's budget (budget_ms) ran out -- or the next
 *                  wait would outlast it -- before an answer of the first
 *                  two kinds; ret_msg says what the last attempt met.
 *
 * Retries happen inside, paced by loop timers, never blocking:
 *   - HTTP 429, or retCode 10006 (also in an HTTP 200): rate limited. The
 *     wait is the server's Retry-After, else X-Bapi-Limit-Reset-Timestamp
 *     minus the answer's server time (+ REST_RATE_MARGIN_MS), else
 *     HTTP_RATE_WAIT_MS doubled per rate-limited answer in a row, capped
 *     at REST_RATE_WAIT_MAX_MS (rest_rate_wait_ms).
 *   - HTTP 403: Bybit's IP ban. The client sends NOTHING -- no request of
 *     any kind, no connection -- until st.banned_until_ms (monotonic, at
 *     least HTTP_BAN_WAIT_MS after the 403, longer if Retry-After says so).
 *     Requests queued meanwhile wait for it (or end REST_DEADLINE).
 *   - retCode 10002 (timestamp outside the recv window): the answer's time
 *     has already corrected the clock (below); retried at once, once in a
 *     row -- a second 10002 is REST_FAILED (the clock is not the problem).
 *   - HTTP 5xx and 408, an HTTP 200 that is not a Bybit envelope, retCode
 *     10000 (server timeout) and 10016 (server error), and transport
 *     failures (resolve, connect, TLS, a connection lost mid-answer, an
 *     attempt that took longer than the I/O timeout): capped exponential
 *     backoff with jitter, rest_backoff_ms (a Retry-After, if longer, wins).
 * Every retry rebuilds and re-signs the request with a fresh timestamp.
 * Without a budget a request retries until it succeeds or fails for good.
 *
 * Each attempt has an I/O timeout (REST_IO_TIMEOUT_MS, rest_set_io_timeout)
 * from its start (connection set-up included) to the end of the answer, so
 * a server that stalls cannot hang the client.
 *
 * Clock: every answer that carries the server's time -- the body's "time",
 * else the Timenow header -- is an xclock_sample(clock, server_ms, local
 * wall when the request was queued, local wall at the end of the answer).
 * Timestamps sent are xclock_now(clock, local wall): exchange time.
 *
 * Signing (sign = 1): X-BAPI-API-KEY, X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW,
 * X-BAPI-SIGN over timestamp + key + recv window + the query exactly as
 * sent (http.h). sign = 0 (public endpoints such as /v5/market/time) sends
 * no key and no signature.
 *
 * Logging (account=NAME on every line, warn unless said): each rate-limited
 * answer, the ban (with its length), each retried failure, a permanent
 * failure (retCode and retMsg), a request ending on its deadline; a kept-
 * alive connection found closed at info. Never the secret, the signature
 * or the query (a cursor is harmless but long); the path is logged.
 *
 * Memory: struct rest_client (about 1.1 MB: the response body buffer of
 * HTTP_BODY_MAX, the TLS record buffers) lives in the caller's static
 * storage; nothing is allocated. The envelope of each answer is read with
 * one struct decode shared by every client (single-threaded, like bybit.c's).
 * The loop, resolver, anchors, account and clock must outlive the client.
 * Each client holds at most two loop timers, one fd and one resolver query.
 */
#ifndef FR_REST_H
#define FR_REST_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "decode.h"
#include "err.h"
#include "http.h"
#include "loop.h"
#include "pem.h"
#include "resolv.h"
#include "stream.h"
#include "tls.h"
#include "xclock.h"

#define REST_IO_TIMEOUT_MS 15000         /* one attempt, connection set-up included */
#define REST_BACKOFF_MAX_MS 60000        /* cap of the transient-failure backoff */
#define REST_RATE_WAIT_MAX_MS 60000      /* cap of the grown default rate-limit wait */
#define REST_RATE_MARGIN_MS 50           /* after the server's reset time: its clock's grain */
#define REST_PATH_MAX 256                /* rest_url.path + the endpoint's path */
#define REST_QUERY_MAX 2048              /* the built query string (a cursor is <= 512) */
#define REST_HOST_MAX (CFG_HOST_MAX + 8) /* Host header: "[v6]:65535" */
#define REST_HEAD_KEEP 4096              /* bytes of an answer's head kept to read headers */
#define REST_MSG_MAX (ERR_MSG_MAX + 64)  /* a result's ret_msg / why */

_Static_assert(REST_QUERY_MAX + REST_PATH_MAX + REST_HOST_MAX + 2 * CFG_SECRET_MAX + 256 <=
                   HTTP_REQ_MAX,
               "the longest signed request fits http_conn's request buffer");
_Static_assert(REST_QUERY_MAX > DECODE_CURSOR_MAX + 256, "a cursor and the usual parameters fit");
_Static_assert(REST_MSG_MAX >= DECODE_TEXT_MAX + 32, "a retMsg with its context fits");

enum rest_outcome {
	REST_OK = 0,
	REST_FAILED,
	REST_DEADLINE,
};

/* What the client is doing now (rest_status.state). */
enum rest_state {
	REST_IDLE = 0, /* no request (a kept-alive connection may be open) */
	REST_ATTEMPT,  /* connecting, sending or waiting for the answer */
	REST_WAIT,     /* waiting before a retry (backoff or rate limit) */
	REST_BANNED,   /* waiting out an IP ban: nothing is sent */
};

/* Handed to the callback; every pointer is valid during the call only. */
struct rest_result {
	enum rest_outcome outcome;
	int http_status;     /* of the last answer; 0 when none arrived */
	int64_t ret_code;    /* the last answer's retCode; -1 when it had none */
	const char *ret_msg; /* retMsg, or why it failed / gave up; never NULL */
	const char *body;    /* the last answer's body, NUL-terminated; "" if none */
	size_t body_len;
	int64_t server_ms;  /* the last answer's server time; 0 when none */
	const char *cursor; /* result.nextPageCursor verbatim (already percent-
	                     * encoded: pass back with http_kv.verbatim); "" */
	int attempts;       /* attempts this request made (>= 1 unless banned) */
};

struct rest_client;
typedef void (*rest_done_fn)(void *ctx, struct rest_client *c, const struct rest_result *r);

struct rest_status {
	enum rest_state state;
	uint64_t requests;              /* rest_get calls accepted */
	uint64_t sent;                  /* attempts whose request was handed to the connection */
	uint64_t retries;               /* attempts after a request's first */
	uint64_t answers;               /* whole HTTP answers read */
	uint64_t ok, failed, deadlines; /* requests ended, by outcome */
	uint64_t rate_limited;          /* 429 / 10006 answers */
	uint64_t bans;                  /* 403 answers */
	uint64_t ts_resyncs;            /* 10002 answers retried */
	uint64_t timeouts;              /* attempts ended by the I/O timeout */
	uint64_t connects;              /* TCP connections started */
	uint64_t reconnects;            /* connections started after the first */
	uint64_t keepalive_retries;     /* retries at once after a kept-alive connection closed */
	uint64_t bytes_out, bytes_in;   /* HTTP request and answer bytes (above TLS) */
	int64_t banned_until_ms;        /* monotonic end of the last ban; 0: never banned */
	int64_t last_wait_ms;           /* the last retry wait chosen */
	int last_http_status;
	int64_t last_ret_code; /* -1: the last answer had none */
};

enum rest_conn_state {
	REST_C_NONE = 0,
	REST_C_RESOLVING,
	REST_C_CONNECTING,
	REST_C_TLS,
	REST_C_OPEN,
};

struct rest_client {
	/* set by rest_init, constant after */
	struct loop *loop;
	struct resolv *resolv;
	const struct pem_ta_store *anchors;
	const struct cfg_account *acct;
	struct xclock *clock;
	int64_t recv_window_ms;
	int64_t io_timeout_ms;
	char host_hdr[REST_HOST_MAX];
	uint64_t rng; /* xorshift64 for the backoff jitter, never 0 */

	/* the connection */
	enum rest_conn_state conn;
	int fd, qid;
	int addr_rot;          /* rotates through a lookup's addresses after failures */
	uint64_t conn_answers; /* answers read on this connection */
	struct tls_conn tls;
	struct fr_stream stream;
	struct http_conn http;
	size_t ans_bytes;          /* bytes of the current answer read so far */
	char head[REST_HEAD_KEEP]; /* the current answer's first bytes */
	size_t head_len;

	/* the request */
	int active; /* a request is accepted and not yet ended */
	int sent;   /* this attempt's request is on the connection */
	int reused; /* this attempt went out on a kept-alive connection */
	int sign;
	char path[REST_PATH_MAX];
	char query[REST_QUERY_MAX];
	rest_done_fn fn;
	void *fn_ctx;
	int64_t deadline_mono_ms; /* 0: none */
	int attempts;
	int fresh_retry_used; /* the keep-alive retry at once was taken */
	int ts_retry;         /* the last answer was a 10002 retried at once */
	int fail_streak;      /* transient failures in a row (backoff exponent) */
	int rate_streak;      /* rate-limited answers in a row */
	int64_t sent_wall_ms;
	int64_t attempt_mono_ms; /* when this attempt began */
	int t_wait, t_io;        /* loop timer ids, -1 when none */
	/* the last answer / failure, for the result */
	int last_status;
	int64_t last_code;
	int64_t last_server_ms;
	char why[REST_MSG_MAX];
	char cursor[DECODE_CURSOR_MAX];
	/* copies handed to the callback, so that a rest_get made from inside
	 * it does not change what the result points to */
	char res_msg[REST_MSG_MAX];
	char res_cursor[DECODE_CURSOR_MAX];

	struct rest_status st;
};

/*
 * Prepares c for acct (its ep.rest_url, ep.ca_file's anchors, api_key,
 * api_secret); recv_window_ms is X-BAPI-RECV-WINDOW (cfg: exchange.
 * recv_window_ms); clock is the account's exchange clock (shared with its
 * stream). Does not connect. Returns 0, or FR_EINVAL when the URL's host
 * is empty or the Host header would not fit. c must be new or rest_close'd
 * (rest_init forgets an open connection, and a ban: call it once per
 * client at start-up).
 */
int rest_init(struct rest_client *c, struct loop *l, struct resolv *r,
              const struct pem_ta_store *anchors, const struct cfg_account *acct,
              int64_t recv_window_ms, struct xclock *clock);

/* Changes the per-attempt I/O timeout (ms, > 0), for tests and tools. */
void rest_set_io_timeout(struct rest_client *c, int64_t timeout_ms);

/*
 * Queues GET rest_url.path + path ? kv[0..n) (percent-encoded in order,
 * verbatim values as they are: http_query_build), signed when sign is 1.
 * budget_ms bounds the whole request, waits and retries included (0: no
 * bound). fn(ctx, c, result) runs once, later (see the top). Returns 0,
 * FR_EAGAIN while another request is active, FR_EINVAL for a path not
 * starting with '/' or holding a byte outside visible ASCII, '?' or '#', or
 * a verbatim value that is not percent-encoded, FR_EFULL when no loop timer
 * is free, or
 * FR_ERANGE when the path or query does not fit. kv and the strings are
 * copied: they need not outlive the call.
 */
int rest_get(struct rest_client *c, const char *path, const struct http_kv *kv, size_t n, int sign,
             int64_t budget_ms, rest_done_fn fn, void *ctx);

/* A request is active (rest_get would return FR_EAGAIN). */
int rest_busy(const struct rest_client *c);

/* Drops the active request (its callback never runs), the timers and the
 * connection. The client can take a new request afterwards; a ban stays in
 * force. Idempotent. */
void rest_close(struct rest_client *c);

/* Milliseconds of the ban still to run (0 when not banned). */
int64_t rest_ban_left_ms(const struct rest_client *c);

const char *rest_outcome_name(enum rest_outcome o); /* "ok", "failed", "deadline" */
const char *rest_state_name(enum rest_state s);

/* ---- pure parts, for tests ---- */

/*
 * The wait before retrying a rate-limited request: retry_after_s (>= 0:
 * the Retry-After header) wins, capped at HTTP_WAIT_MAX_MS; else
 * reset_ms - server_ms + REST_RATE_MARGIN_MS when both are > 0 (the
 * X-Bapi-Limit-Reset-Timestamp and the answer's own server time, so the
 * two clocks agree), at least REST_RATE_MARGIN_MS and at most
 * HTTP_WAIT_MAX_MS; else HTTP_RATE_WAIT_MS << (streak - 1) capped at
 * REST_RATE_WAIT_MAX_MS, streak (>= 1) counting rate-limited answers in a
 * row.
 */
int64_t rest_rate_wait_ms(int64_t retry_after_s, int64_t reset_ms, int64_t server_ms, int streak);

/*
 * The backoff after failure number streak (>= 1) in a row: d =
 * min(REST_BACKOFF_MAX_MS, HTTP_RETRY_WAIT_MS << (streak - 1)), drawn
 * uniformly from [d/2, d] with the random value rnd ("equal jitter").
 */
int64_t rest_backoff_ms(int streak, uint64_t rnd);

/*
 * The value of header name (case-insensitive, without the colon) in an
 * answer's head (status line and header lines, CR LF or LF, the head may
 * be cut anywhere), parsed as a decimal integer of 1..18 digits; -1 when
 * absent or not such a number. Only the first header block is read.
 */
int64_t rest_head_int(const char *head, size_t len, const char *name);

#endif
