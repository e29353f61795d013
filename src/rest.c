/*
 * rest.c -- the REST client state machine. See rest.h.
 *
 * Two things move independently: the connection (c->conn: NONE ->
 * RESOLVING -> CONNECTING -> TLS -> OPEN, back to NONE on any failure or
 * close) and the request (c->active; st.state ATTEMPT / WAIT / BANNED).
 * An attempt starts from a loop timer (rest_on_wait), opens a connection
 * when none is open, queues the request once the connection is OPEN, and
 * ends in rest_on_answer or rest_attempt_failed. Every fd event runs
 * rest_on_io -> rest_drive, which pumps TLS and HTTP as far as they go.
 *
 * Failures inside the drive close the connection and schedule the next
 * attempt through a timer, so no path re-enters the drive or the user's
 * callback from below itself.
 */
#define _GNU_SOURCE
#include "rest.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* One envelope reader for every client: the loop is single-threaded and an
 * answer is read completely before the next one arrives. */
static struct decode rest_dec;

/* ---- pure parts ---------------------------------------------------------- */

/* see rest.h */
int64_t rest_rate_wait_ms(int64_t retry_after_s, int64_t reset_ms, int64_t server_ms, int streak)
{
	int64_t w;

	assert(streak >= 1);
	if (retry_after_s >= 0)
		return retry_after_s > HTTP_WAIT_MAX_MS / 1000 ? HTTP_WAIT_MAX_MS
		                                               : retry_after_s * 1000;
	if (reset_ms > 0 && server_ms > 0) {
		w = reset_ms - server_ms + REST_RATE_MARGIN_MS;
		if (w < REST_RATE_MARGIN_MS)
			w = REST_RATE_MARGIN_MS;
		return w > HTTP_WAIT_MAX_MS ? HTTP_WAIT_MAX_MS : w;
	}
	w = REST_RATE_WAIT_MAX_MS;
	if (streak <= 16 && ((int64_t)HTTP_RATE_WAIT_MS << (streak - 1)) < w)
		w = (int64_t)HTTP_RATE_WAIT_MS << (streak - 1);
	return w;
}

/* see rest.h */
int64_t rest_backoff_ms(int streak, uint64_t rnd)
{
	int64_t d = REST_BACKOFF_MAX_MS;

	assert(streak >= 1);
	if (streak <= 16 && ((int64_t)HTTP_RETRY_WAIT_MS << (streak - 1)) < d)
		d = (int64_t)HTTP_RETRY_WAIT_MS << (streak - 1);
	return d / 2 + (int64_t)(rnd % (uint64_t)(d - d / 2 + 1));
}

static int rest_lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* 1 when line[0..n) is "name:" followed by the value; *v gets the value. */
static int rest_header_is(const char *line, size_t n, const char *name, size_t *v)
{
	size_t k = strlen(name), i;

	if (n <= k || line[k] != ':')
		return 0;
	for (i = 0; i < k; i++)
		if (rest_lower((unsigned char)line[i]) != rest_lower((unsigned char)name[i]))
			return 0;
	*v = k + 1;
	return 1;
}

static int64_t rest_decimal(const char *s, size_t n)
{
	int64_t v = 0;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* see rest.h */
int64_t rest_head_int(const char *head, size_t len, const char *name)
{
	size_t i = 0, first = 1;

	while (i < len) {
		const char *nl = memchr(head + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - head) : len, n = end - i, v;

		if (!nl)
			return -1; /* a cut line is not trusted */
		if (n > 0 && head[end - 1] == '\r')
			n--;
		if (n == 0 && !first)
			return -1; /* the end of the header block */
		if (!first && rest_header_is(head + i, n, name, &v))
			return rest_decimal(head + i + v, n - v);
		first = 0;
		i = end + 1;
	}
	return -1;
}

/* ---- plumbing ------------------------------------------------------------ */

static int64_t rest_mono(const struct rest_client *c)
{
	return c->loop->sys->mono_ms(c->loop->sys->ctx);
}

static int64_t rest_wall(const struct rest_client *c)
{
	return c->loop->sys->wall_ms(c->loop->sys->ctx);
}

static uint64_t rest_rand(struct rest_client *c)
{
	uint64_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rng = x;
	return x;
}

/* The answer's bytes pass through here on their way to http_conn: the
 * first REST_HEAD_KEEP of them are kept, since http_resp keeps no header
 * but Retry-After and Bybit's own (Timenow, X-Bapi-Limit-Reset-Timestamp)
 * matter here. */
static int rest_stream_read(void *ctx, void *buf, size_t n)
{
	struct rest_client *c = ctx;
	int r = tls_read(&c->tls, buf, n);

	if (r > 0) {
		size_t keep = sizeof c->head - c->head_len;

		if (keep > (size_t)r)
			keep = (size_t)r;
		memcpy(c->head + c->head_len, buf, keep);
		c->head_len += keep;
		c->ans_bytes += (size_t)r;
	}
	return r;
}

static int rest_stream_write(void *ctx, const void *buf, size_t n)
{
	struct rest_client *c = ctx;

	return tls_write(&c->tls, buf, n);
}

static void rest_timer_drop(struct rest_client *c, int *id)
{
	if (*id >= 0)
		loop_timer_cancel(c->loop, *id);
	*id = -1;
}

__attribute__((format(printf, 2, 3))) static void rest_why(struct rest_client *c, const char *fmt,
                                                           ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
}

/* Closes the connection without a close_notify: nothing is written once a
 * connection is given up (after a 403 nothing at all may be), and HTTP's
 * own framing already tells the server that our request was complete. */
static void rest_conn_close(struct rest_client *c)
{
	if (c->qid >= 0)
		resolv_cancel(c->resolv, c->qid);
	c->qid = -1;
	if (c->fd >= 0) {
		loop_fd_del(c->loop, c->fd);
		c->loop->sys->close(c->loop->sys->ctx, c->fd);
	}
	c->fd = -1;
	c->conn = REST_C_NONE;
	c->conn_answers = 0;
}

/* ---- ending a request, scheduling the next attempt ----------------------- */

static void rest_on_wait(struct loop *l, int id, void *arg);

static void rest_finish(struct rest_client *c, enum rest_outcome o)
{
	struct rest_result r = {
	    .outcome = o,
	    .http_status = c->last_status,
	    .ret_code = c->last_code,
	    .ret_msg = c->res_msg,
	    .body = "",
	    .server_ms = c->last_server_ms,
	    .cursor = c->res_cursor,
	    .attempts = c->attempts,
	};
	rest_done_fn fn = c->fn;
	void *ctx = c->fn_ctx;

	assert(c->active);
	memcpy(c->res_msg, c->why, sizeof c->res_msg);
	memcpy(c->res_cursor, c->cursor, sizeof c->res_cursor);
	if (c->last_status > 0 && c->http.resp.body_len > 0) {
		r.body = c->http.resp.body;
		r.body_len = c->http.resp.body_len;
	}
	rest_timer_drop(c, &c->t_wait);
	rest_timer_drop(c, &c->t_io);
	c->active = 0;
	c->sent = 0;
	c->st.state = REST_IDLE;
	if (o == REST_OK)
		c->st.ok++;
	else if (o == REST_FAILED)
		c->st.failed++;
	else
		c->st.deadlines++;
	fn(ctx, c, &r); /* last: it may queue the next request */
}

static void rest_give_up(struct rest_client *c, int64_t wait_ms)
{
	log_warn("REST request ends at its deadline", LS("account", c->acct->name),
	         LS("path", c->path), LI("attempts", c->attempts), LI("next_wait_ms", wait_ms),
	         LS("last", c->why));
	rest_finish(c, REST_DEADLINE);
}

static int rest_past_deadline(const struct rest_client *c, int64_t delay_ms)
{
	return c->deadline_mono_ms > 0 && rest_mono(c) + delay_ms >= c->deadline_mono_ms;
}

/* Waits delay_ms before the next attempt, or ends the request when the
 * wait would outlast its budget. */
static void rest_schedule(struct rest_client *c, int64_t delay_ms, enum rest_state st)
{
	assert(c->active && c->t_wait < 0 && delay_ms >= 0);
	rest_timer_drop(c, &c->t_io);
	c->sent = 0;
	c->st.last_wait_ms = delay_ms;
	if (rest_past_deadline(c, delay_ms)) {
		rest_give_up(c, delay_ms);
		return;
	}
	c->st.state = st;
	c->t_wait = loop_timer_add(c->loop, delay_ms, 0, rest_on_wait, c);
	assert(c->t_wait >= 0); /* the timer table is sized for every client */
}

/* A transient failure: back off (at least min_ms). */
static void rest_backoff(struct rest_client *c, const char *what, int64_t min_ms)
{
	int64_t w = rest_backoff_ms(++c->fail_streak, rest_rand(c));

	if (w < min_ms)
		w = min_ms;
	if (!rest_past_deadline(c, w)) /* else rest_schedule says it ends */
		log_warn("REST request failed, retrying", LS("account", c->acct->name),
		         LS("path", c->path), LS("reason", what), LS("detail", c->why),
		         LI("attempt", c->attempts), LI("retry_ms", w));
	rest_schedule(c, w, REST_WAIT);
}

/* The attempt failed below HTTP (err is the FR_* behind it). */
static void rest_attempt_failed(struct rest_client *c, const char *what, int err)
{
	int early = c->sent && c->ans_bytes == 0 && (err == FR_ECLOSED || err == FR_EIO);

	rest_conn_close(c);
	if (!c->active)
		return;
	c->last_status = 0;
	c->last_code = -1;
	if (early && c->reused && !c->fresh_retry_used) {
		/* The server closed the kept-alive connection as we used it. */
		c->fresh_retry_used = 1;
		c->st.keepalive_retries++;
		log_info("REST kept-alive connection closed by the server, retrying on a new one",
		         LS("account", c->acct->name), LS("path", c->path), LS("detail", c->why));
		rest_schedule(c, 0, REST_WAIT);
		return;
	}
	rest_backoff(c, what, 0);
}

/* ---- answers ------------------------------------------------------------- */

struct rest_answer {
	int status;
	int envelope; /* a Bybit JSON envelope was read */
	int64_t code; /* retCode, -1 without an envelope */
	int64_t server_ms, reset_ms;
};

/* Reads retCode, retMsg, time and nextPageCursor. decode_rest fills the
 * envelope before it looks at result.list, so an answer whose result holds
 * no list (/v5/market/time, /v5/user/query-api) still gives its envelope
 * although decode_rest calls it an error: the list is the caller's. */
static void rest_read_envelope(struct rest_client *c, struct rest_answer *a)
{
	static const struct decode_sink none = {.envelope_only = 1};
	const struct http_resp *resp = &c->http.resp;
	const struct decode_env *e = &rest_dec.env;

	c->cursor[0] = '\0';
	if (resp->body_len == 0 || resp->body[strspn(resp->body, " \t\r\n")] != '{')
		return;
	decode_rest(&rest_dec, DECODE_KIND_NONE, resp->body, resp->body_len, &none);
	if (!e->ret_code.present)
		return;
	a->envelope = 1;
	a->code = e->ret_code.v;
	if (e->time_ms.present && e->time_ms.v > 0)
		a->server_ms = e->time_ms.v;
	rest_why(c, "%s", e->ret_msg);
	memcpy(c->cursor, e->cursor, sizeof c->cursor);
	c->cursor[sizeof c->cursor - 1] = '\0';
}

static void rest_rate_limited(struct rest_client *c, const struct rest_answer *a)
{
	int64_t w = rest_rate_wait_ms(c->http.resp.retry_after_s, a->reset_ms, a->server_ms,
	                              ++c->rate_streak);

	c->st.rate_limited++;
	log_warn("REST rate limited", LS("account", c->acct->name), LS("path", c->path),
	         LI("http", a->status), LI("retCode", a->code), LI("wait_ms", w));
	rest_schedule(c, w, REST_WAIT);
}

static void rest_banned(struct rest_client *c, int64_t wait_ms)
{
	int64_t until = rest_mono(c) + wait_ms;

	if (until > c->st.banned_until_ms)
		c->st.banned_until_ms = until;
	c->st.bans++;
	rest_why(c, "HTTP 403: IP banned by the exchange; nothing is sent for %" PRId64 " s",
	         wait_ms / 1000);
	rest_conn_close(c);
	log_warn("REST IP ban: sending nothing until it ends", LS("account", c->acct->name),
	         LS("path", c->path), LI("ban_ms", wait_ms));
	rest_schedule(c, c->st.banned_until_ms - rest_mono(c), REST_BANNED);
}

static void rest_refused(struct rest_client *c, const struct rest_answer *a)
{
	log_warn("REST request refused", LS("account", c->acct->name), LS("path", c->path),
	         LI("http", a->status), LI("retCode", a->code), LS("retMsg", c->why));
	rest_finish(c, REST_FAILED);
}

/* An HTTP 200 with a Bybit envelope: what its retCode asks for. */
static void rest_on_envelope(struct rest_client *c, const struct rest_answer *a)
{
	int ts = a->code == 10002;

	if (a->code != 10006)
		c->rate_streak = 0;
	if (ts && !c->ts_retry) {
		c->ts_retry = 1;
		c->st.ts_resyncs++;
		log_warn("REST timestamp refused, retrying with the corrected clock",
		         LS("account", c->acct->name), LS("path", c->path),
		         LI("offset_ms", c->clock->offset_ms));
		rest_schedule(c, 0, REST_WAIT);
		return;
	}
	c->ts_retry = 0;
	if (a->code == 0) {
		c->fail_streak = 0;
		rest_finish(c, REST_OK);
	} else if (a->code == 10006) {
		rest_rate_limited(c, a);
	} else if (a->code == 10000 || a->code == 10016) {
		rest_backoff(c, "server error", 0);
	} else {
		rest_refused(c, a);
	}
}

/* A whole answer is in c->http.resp. */
static void rest_on_answer(struct rest_client *c)
{
	struct rest_answer a = {.status = c->http.resp.status, .code = -1, .server_ms = -1};
	int64_t now_wall = rest_wall(c), wait = 0, timenow;
	enum http_class cls = http_classify(&c->http.resp, &wait);

	c->conn_answers++;
	c->st.answers++;
	c->st.bytes_in += c->ans_bytes;
	c->reused = 0;
	rest_timer_drop(c, &c->t_io);
	rest_read_envelope(c, &a);
	timenow = rest_head_int(c->head, c->head_len, "Timenow");
	if (a.server_ms <= 0 && timenow > 0)
		a.server_ms = timenow;
	a.reset_ms = rest_head_int(c->head, c->head_len, "X-Bapi-Limit-Reset-Timestamp");
	if (a.server_ms > 0)
		xclock_sample(c->clock, a.server_ms, c->sent_wall_ms, now_wall);
	c->last_status = c->st.last_http_status = a.status;
	c->last_code = c->st.last_ret_code = a.code;
	c->last_server_ms = a.server_ms > 0 ? a.server_ms : 0;
	if (c->http.resp.conn_close)
		rest_conn_close(c);
	if (!a.envelope) {
		rest_why(c, "HTTP %d without a Bybit answer", a.status);
	} else if (a.status != 200) {
		char msg[REST_MSG_MAX];

		memcpy(msg, c->why, sizeof msg);
		rest_why(c, "HTTP %d: %.*s", a.status, (int)sizeof msg - 16, msg);
	}
	if (cls == HTTP_CLASS_OK && a.envelope)
		rest_on_envelope(c, &a);
	else if (cls == HTTP_CLASS_RATE_LIMITED)
		rest_rate_limited(c, &a);
	else if (cls == HTTP_CLASS_BANNED)
		rest_banned(c, wait);
	else if (cls == HTTP_CLASS_RETRY || cls == HTTP_CLASS_OK)
		rest_backoff(c, "server answer", c->http.resp.retry_after_s >= 0 ? wait : 0);
	else
		rest_refused(c, &a);
}

/* ---- sending ------------------------------------------------------------- */

/* A public request (sign = 0) carries no key and no signature. */
static int rest_queue(struct rest_client *c, int64_t ts_ms)
{
	struct http_get_req g = {
	    .host = c->host_hdr,
	    .path = c->path,
	    .query = c->query,
	    .api_key = c->sign ? c->acct->api_key.value : NULL,
	    .secret = c->acct->api_secret.value,
	    .timestamp_ms = ts_ms,
	    .recv_window_ms = c->recv_window_ms,
	};

	return http_conn_get(&c->http, &g);
}

/* Queues this attempt's request on the OPEN connection (rest_drive sends). */
static void rest_send(struct rest_client *c)
{
	int64_t wall = rest_wall(c);
	int r;

	assert(c->conn == REST_C_OPEN && c->active && !c->sent);
	r = rest_queue(c, xclock_now(c->clock, wall));
	if (r == FR_EINVAL || r == FR_ERANGE) {
		rest_why(c, "request not built: %s", err_str(r));
		log_warn("REST request cannot be built", LS("account", c->acct->name),
		         LS("path", c->path), LS("error", err_str(r)));
		rest_finish(c, REST_FAILED);
		return;
	}
	if (r < 0) {
		rest_why(c, "%s", http_conn_errmsg(&c->http));
		rest_attempt_failed(c, "http", r);
		return;
	}
	c->sent = 1;
	c->reused = c->conn_answers > 0;
	c->sent_wall_ms = wall;
	c->ans_bytes = 0;
	c->head_len = 0;
	c->st.sent++;
	c->st.bytes_out += c->http.req_len;
}

/* ---- the connection ------------------------------------------------------ */

static void rest_on_open(struct rest_client *c)
{
	c->conn = REST_C_OPEN;
	c->conn_answers = 0;
	c->stream = (struct fr_stream){rest_stream_read, rest_stream_write, c};
	http_conn_init(&c->http, &c->stream, 0);
	if (c->active && !c->sent && c->st.state == REST_ATTEMPT)
		rest_send(c);
}

/* Reads the answer as far as it has come. 1: the attempt ended (answer or
 * failure), 0: more is to come. */
static int rest_pump_http(struct rest_client *c)
{
	int r = http_conn_pump(&c->http);

	if (r == HTTP_DONE) {
		rest_on_answer(c);
		return 1;
	}
	if (r == FR_EAGAIN && !(tls_err(&c->tls) && tls_pending(&c->tls) == 0))
		return 0;
	if (r == FR_EAGAIN) {
		r = tls_err(&c->tls);
		rest_why(c, "%s", tls_errmsg(&c->tls));
	} else {
		rest_why(c, "%s", http_conn_errmsg(&c->http));
	}
	rest_attempt_failed(c, "connection", r);
	return 1;
}

/* An open connection with no request on it: anything but "nothing yet"
 * ends it (the server closed it, or sent what nobody asked for). */
static int rest_idle_check(struct rest_client *c)
{
	char scratch[64];
	int r = tls_read(&c->tls, scratch, sizeof scratch);

	if (r == FR_EAGAIN)
		return 0;
	log_debug("REST idle connection ends", LS("account", c->acct->name),
	          LS("why", r > 0 ? "unexpected bytes" : tls_errmsg(&c->tls)));
	rest_conn_close(c);
	return 1;
}

/* Moves bytes through TLS and HTTP as far as they go, then asks the loop
 * for what TLS wants next. */
static void rest_drive(struct rest_client *c)
{
	for (int round = 0; round < 8 && c->fd >= 0; round++) {
		int r;

		tls_pump(&c->tls); /* its error, if any, surfaces below */
		if (c->conn == REST_C_TLS) {
			if (tls_err(&c->tls)) {
				rest_why(c, "%s", tls_errmsg(&c->tls));
				rest_attempt_failed(c, "tls", tls_err(&c->tls));
				return;
			}
			if (!tls_handshake_done(&c->tls))
				break;
			rest_on_open(c);
		}
		if (c->conn == REST_C_OPEN && c->active && c->sent) {
			if (rest_pump_http(c))
				break;
		} else if (c->conn == REST_C_OPEN && rest_idle_check(c)) {
			break;
		}
		r = tls_flush(&c->tls);
		if (r < 0 && r != FR_EAGAIN) {
			rest_why(c, "%s", tls_errmsg(&c->tls));
			rest_attempt_failed(c, "tls", r);
			return;
		}
		if (tls_pending(&c->tls) == 0)
			break;
	}
	if (c->fd >= 0) {
		short want = tls_want(&c->tls);

		loop_fd_events(c->loop, c->fd, want ? want : POLLIN);
	}
}

static void rest_st_connecting(struct rest_client *c, short revents)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
		return;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr != 0) {
		rest_why(c, "connect: %s", strerror(soerr));
		c->addr_rot++;
		rest_attempt_failed(c, "connect", FR_EIO);
		return;
	}
	if (tls_start(&c->tls, c->fd, c->acct->ep.rest_url.host, c->anchors, c->loop->sys) < 0) {
		rest_why(c, "%s", tls_errmsg(&c->tls));
		rest_attempt_failed(c, "tls", tls_err(&c->tls));
		return;
	}
	c->conn = REST_C_TLS;
}

static void rest_on_io(struct loop *l, int fd, short revents, void *arg)
{
	struct rest_client *c = arg;

	(void)l;
	assert(fd == c->fd);
	if (c->conn == REST_C_CONNECTING) {
		rest_st_connecting(c, revents);
		if (c->conn != REST_C_TLS)
			return;
	}
	rest_drive(c);
}

static void rest_connect(struct rest_client *c, const struct resolv_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = resolv_addr_sockaddr(a, (uint16_t)c->acct->ep.rest_url.port, &ss);
	int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		rest_why(c, "socket: %s", strerror(errno));
		rest_attempt_failed(c, "connect", FR_EIO);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
		rest_why(c, "connect: %s", strerror(errno));
		c->loop->sys->close(c->loop->sys->ctx, fd);
		c->addr_rot++;
		rest_attempt_failed(c, "connect", FR_EIO);
		return;
	}
	c->fd = fd;
	if (loop_fd_add(c->loop, fd, POLLOUT, rest_on_io, c) < 0) {
		rest_why(c, "loop fd table full");
		rest_attempt_failed(c, "connect", FR_EFULL);
		return;
	}
	c->conn = REST_C_CONNECTING;
	if (c->st.connects++ > 0)
		c->st.reconnects++;
}

static void rest_on_resolved(struct resolv *r, int qid, const struct resolv_result *res, void *arg)
{
	struct rest_client *c = arg;

	(void)r;
	(void)qid;
	c->qid = -1;
	if (res->status != RESOLV_OK || res->n < 1) {
		rest_why(c, "resolve %s: %s", c->acct->ep.rest_url.host, res->msg);
		rest_attempt_failed(c, "resolve", res->err ? res->err : FR_EIO);
		return;
	}
	rest_connect(c, &res->addrs[(unsigned)c->addr_rot % (unsigned)res->n]);
}

static void rest_open(struct rest_client *c)
{
	assert(c->conn == REST_C_NONE && c->fd < 0);
	c->conn = REST_C_RESOLVING;
	c->qid =
	    resolv_lookup(c->resolv, c->acct->ep.rest_url.host, AF_UNSPEC, rest_on_resolved, c);
	if (c->qid < 0) {
		rest_why(c, "resolve %s: %s", c->acct->ep.rest_url.host, err_str(c->qid));
		rest_attempt_failed(c, "resolve", c->qid);
	}
}

/* ---- attempts ------------------------------------------------------------ */

static void rest_on_io_timeout(struct loop *l, int id, void *arg)
{
	struct rest_client *c = arg;
	int64_t now = rest_mono(c);

	(void)l;
	(void)id;
	c->t_io = -1; /* one-shot: the loop freed it */
	c->st.timeouts++;
	rest_why(c, "no answer within %" PRId64 " ms (%s)", now - c->attempt_mono_ms,
	         c->conn == REST_C_OPEN ? "waiting for the answer" : "connecting");
	rest_conn_close(c);
	if (c->deadline_mono_ms > 0 && now >= c->deadline_mono_ms) {
		c->last_status = 0;
		c->last_code = -1;
		rest_give_up(c, 0);
		return;
	}
	rest_attempt_failed(c, "timeout", FR_ETIMEDOUT);
}

static void rest_attempt(struct rest_client *c)
{
	int64_t now = rest_mono(c), io = c->io_timeout_ms;

	assert(c->active && c->t_io < 0 && !c->sent);
	if (c->deadline_mono_ms > 0 && now >= c->deadline_mono_ms) {
		rest_give_up(c, 0);
		return;
	}
	if (c->st.banned_until_ms > now) {
		log_debug("REST request waits for the IP ban to end", LS("account", c->acct->name),
		          LS("path", c->path), LI("ban_left_ms", c->st.banned_until_ms - now));
		rest_why(c, "IP banned by the exchange: nothing is sent for %" PRId64 " ms more",
		         c->st.banned_until_ms - now);
		rest_schedule(c, c->st.banned_until_ms - now, REST_BANNED);
		return;
	}
	if (c->attempts++ > 0)
		c->st.retries++;
	c->st.state = REST_ATTEMPT;
	c->attempt_mono_ms = now;
	if (c->deadline_mono_ms > 0 && c->deadline_mono_ms - now < io)
		io = c->deadline_mono_ms - now;
	c->t_io = loop_timer_add(c->loop, io, 0, rest_on_io_timeout, c);
	assert(c->t_io >= 0);
	if (c->conn == REST_C_NONE) {
		rest_open(c);
		return;
	}
	assert(c->conn == REST_C_OPEN); /* set-up states exist only inside an attempt */
	rest_send(c);
	if (c->active && c->sent)
		rest_drive(c);
}

static void rest_on_wait(struct loop *l, int id, void *arg)
{
	struct rest_client *c = arg;

	(void)l;
	(void)id;
	c->t_wait = -1; /* one-shot: the loop freed it */
	rest_attempt(c);
}

/* ---- public -------------------------------------------------------------- */

/* see rest.h */
int rest_init(struct rest_client *c, struct loop *l, struct resolv *r,
              const struct pem_ta_store *anchors, const struct cfg_account *acct,
              int64_t recv_window_ms, struct xclock *clock)
{
	const struct cfg_url *u = &acct->ep.rest_url;
	const char *lb = strchr(u->host, ':') ? "[" : "", *rb = lb[0] ? "]" : "";
	uint64_t seed = 0;
	int n;

	assert(l && r && anchors && acct && clock && recv_window_ms > 0);
	/* Everything but the TLS and HTTP state, which tls_start and
	 * http_conn_init set up for each connection (1 MB not worth wiping). */
	memset(c, 0, offsetof(struct rest_client, tls));
	memset(&c->ans_bytes, 0, sizeof *c - offsetof(struct rest_client, ans_bytes));
	c->fd = c->qid = -1;
	c->t_wait = c->t_io = -1;
	if (u->host[0] == '\0')
		return FR_EINVAL;
	n = u->port == 443
	        ? snprintf(c->host_hdr, sizeof c->host_hdr, "%s%s%s", lb, u->host, rb)
	        : snprintf(c->host_hdr, sizeof c->host_hdr, "%s%s%s:%u", lb, u->host, rb, u->port);
	if (n < 0 || (size_t)n >= sizeof c->host_hdr)
		return FR_EINVAL;
	c->loop = l;
	c->resolv = r;
	c->anchors = anchors;
	c->acct = acct;
	c->clock = clock;
	c->recv_window_ms = recv_window_ms;
	c->io_timeout_ms = REST_IO_TIMEOUT_MS;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || seed == 0)
		seed = 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)c;
	c->rng = seed ? seed : 0x9e3779b97f4a7c15u;
	c->last_code = c->st.last_ret_code = -1;
	c->st.state = REST_IDLE;
	return 0;
}

/* see rest.h */
void rest_set_io_timeout(struct rest_client *c, int64_t timeout_ms)
{
	assert(timeout_ms > 0);
	c->io_timeout_ms = timeout_ms;
}

/* '/' then visible ASCII without '?' or '#': the query is built apart, and
 * the path goes into the request line as it is (a space or CR LF would
 * forge the request). */
static int rest_path_ok(const char *path)
{
	if (path[0] != '/')
		return 0;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' ||
		    *p == '#')
			return 0;
	return 1;
}

/* see rest.h */
int rest_get(struct rest_client *c, const char *path, const struct http_kv *kv, size_t n, int sign,
             int64_t budget_ms, rest_done_fn fn, void *ctx)
{
	int r;

	assert(c->loop && path && fn && budget_ms >= 0);
	if (c->active)
		return FR_EAGAIN;
	if (!rest_path_ok(path))
		return FR_EINVAL;
	r = snprintf(c->path, sizeof c->path, "%s%s", c->acct->ep.rest_url.path, path);
	if (r < 0 || (size_t)r >= sizeof c->path)
		return FR_ERANGE;
	r = http_query_build(c->query, sizeof c->query, kv, n);
	if (r < 0)
		return r;
	c->t_wait = loop_timer_add(c->loop, 0, 0, rest_on_wait, c);
	if (c->t_wait < 0) {
		c->t_wait = -1;
		return FR_EFULL;
	}
	c->active = 1;
	c->sent = 0;
	c->sign = sign != 0;
	c->fn = fn;
	c->fn_ctx = ctx;
	c->deadline_mono_ms = budget_ms > 0 ? rest_mono(c) + budget_ms : 0;
	c->attempts = 0;
	c->fresh_retry_used = c->ts_retry = 0;
	c->fail_streak = c->rate_streak = 0;
	c->last_status = 0;
	c->last_code = -1;
	c->last_server_ms = 0;
	c->why[0] = c->cursor[0] = '\0';
	c->st.requests++;
	c->st.state = REST_WAIT;
	return 0;
}

/* see rest.h */
int rest_busy(const struct rest_client *c)
{
	return c->active;
}

/* see rest.h */
void rest_close(struct rest_client *c)
{
	rest_timer_drop(c, &c->t_wait);
	rest_timer_drop(c, &c->t_io);
	rest_conn_close(c);
	c->active = 0;
	c->sent = 0;
	c->st.state = REST_IDLE;
}

/* see rest.h */
int64_t rest_ban_left_ms(const struct rest_client *c)
{
	int64_t left = c->st.banned_until_ms - rest_mono(c);

	return c->st.banned_until_ms > 0 && left > 0 ? left : 0;
}

/* see rest.h */
const char *rest_outcome_name(enum rest_outcome o)
{
	static const char *const names[] = {"ok", "failed", "deadline"};

	return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* see rest.h */
const char *rest_state_name(enum rest_state s)
{
	static const char *const names[] = {"idle", "attempt", "wait", "banned"};

	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}
