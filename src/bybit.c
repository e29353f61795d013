/*
 * bybit.c -- the private-stream session state machine. See bybit.h.
 *
 * Every fd event runs bybit_on_io, which pumps TLS and then calls the
 * function of the current state; message callbacks from ws_pump go to the
 * message function of the current state. Failures found inside a callback
 * set s->fail and are acted on after ws_pump returns (ws.h forbids
 * releasing the connection from inside on_message).
 */
#define _GNU_SOURCE
#include "bybit.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bearssl.h>

#include "decode.h"
#include "log.h"

/* One decoder for every session: the loop is single-threaded and a message
 * is decoded completely before the next one is read. */
static struct decode bybit_dec;

static const char *const bybit_topic_names[] = { "execution", "order", "position", "wallet" };

/* ---- pure parts ---------------------------------------------------------- */

int bybit_budget_take(struct bybit_budget *b, int64_t now_ms)
{
	assert(b->n >= 0 && b->n <= BYBIT_BUDGET_CONNECTS);
	while (b->n > 0 && b->t_ms[b->head] <= now_ms - BYBIT_BUDGET_WINDOW_MS) {
		b->head = (b->head + 1) % BYBIT_BUDGET_CONNECTS;
		b->n--;
	}
	if (b->n == BYBIT_BUDGET_CONNECTS)
		return FR_EFULL;
	b->t_ms[(b->head + b->n) % BYBIT_BUDGET_CONNECTS] = now_ms;
	b->n++;
	return 0;
}

int64_t bybit_budget_wait_ms(const struct bybit_budget *b, int64_t now_ms)
{
	int64_t wait;

	if (b->n < BYBIT_BUDGET_CONNECTS)
		return 0;
	wait = b->t_ms[b->head] + BYBIT_BUDGET_WINDOW_MS - now_ms;
	return wait > 0 ? wait : 0;
}

void bybit_backoff_init(struct bybit_backoff *b, uint64_t seed)
{
	if (seed == 0 && getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
		seed = 0x9e3779b97f4a7c15u;
	/* splitmix64 spreads nearby seeds over the whole state space */
	seed += 0x9e3779b97f4a7c15u;
	seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9u;
	seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebu;
	seed ^= seed >> 31;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15u;
	b->attempt = 0;
}

static uint64_t bybit_rand(struct bybit_backoff *b)
{
	uint64_t x = b->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rng = x;
	return x;
}

int64_t bybit_backoff_next(struct bybit_backoff *b)
{
	int64_t d = BYBIT_BACKOFF_MAX_MS;

	assert(b->rng != 0 && b->attempt >= 0);
	if (b->attempt < 16 && ((int64_t)BYBIT_BACKOFF_MIN_MS << b->attempt) < d)
		d = (int64_t)BYBIT_BACKOFF_MIN_MS << b->attempt;
	if (b->attempt < 1000)
		b->attempt++;
	return d / 2 + (int64_t)(bybit_rand(b) % (uint64_t)(d - d / 2 + 1));
}

void bybit_backoff_reset(struct bybit_backoff *b)
{
	b->attempt = 0;
}

void bybit_sign(const char *secret, int64_t expires_ms, char out[BYBIT_SIG_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char mac[32];
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRId64, expires_ms);

	assert(n > 0 && (size_t)n < sizeof num);
	br_hmac_key_init(&kc, &br_sha256_vtable, secret, strlen(secret));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, "GET/realtime", 12);
	br_hmac_update(&hc, num, (size_t)n);
	br_hmac_out(&hc, mac);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[BYBIT_SIG_HEX] = '\0';
}

/* A bounded appender: once a piece does not fit, every later one fails too. */
struct bybit_buf {
	char *p;
	size_t cap, len;
	int over;
};

static void bb_raw(struct bybit_buf *b, const char *s, size_t n)
{
	if (b->over || n >= b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void bb_str(struct bybit_buf *b, const char *s)
{
	bb_raw(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			bb_raw(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			bb_raw(b, esc, 6);
		} else {
			bb_raw(b, s, 1);
		}
	}
	bb_raw(b, "\"", 1);
}

static int bb_end(const struct bybit_buf *b)
{
	return b->over ? FR_ERANGE : (int)b->len;
}

int bybit_auth_json(char *buf, size_t cap, const char *req_id, const char *api_key,
                    int64_t expires_ms, const char *signature)
{
	struct bybit_buf b = { buf, cap, 0, cap == 0 };
	char num[24];

	snprintf(num, sizeof num, "%" PRId64, expires_ms);
	bb_raw(&b, "{\"req_id\":", 10);
	bb_str(&b, req_id);
	bb_raw(&b, ",\"op\":\"auth\",\"args\":[", 21);
	bb_str(&b, api_key);
	bb_raw(&b, ",", 1);
	bb_raw(&b, num, strlen(num));
	bb_raw(&b, ",", 1);
	bb_str(&b, signature);
	bb_raw(&b, "]}", 2);
	return bb_end(&b);
}

int bybit_subscribe_json(char *buf, size_t cap, const char *req_id, unsigned topics)
{
	struct bybit_buf b = { buf, cap, 0, cap == 0 };
	int first = 1;

	if ((topics & 0xfu) == 0)
		return FR_EINVAL;
	bb_raw(&b, "{\"req_id\":", 10);
	bb_str(&b, req_id);
	bb_raw(&b, ",\"op\":\"subscribe\",\"args\":[", 26);
	for (unsigned i = 0; i < 4; i++) {
		if (!(topics & (1u << i)))
			continue;
		if (!first)
			bb_raw(&b, ",", 1);
		bb_str(&b, bybit_topic_names[i]);
		first = 0;
	}
	bb_raw(&b, "]}", 2);
	return bb_end(&b);
}

enum bybit_topic_idx bybit_topic_idx(const char *topic)
{
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(bybit_topic_names[i]);

		if (strncmp(topic, bybit_topic_names[i], n) == 0 &&
		    (topic[n] == '\0' || topic[n] == '.') && strncmp(topic + n, ".fast", 5) != 0)
			return (enum bybit_topic_idx)i;
	}
	return BYBIT_T_OTHER;
}

const char *bybit_state_name(enum bybit_state st)
{
	static const char *const names[] = {"idle", "resolving", "connecting", "tls",     "ws",
	                                    "auth", "gated",     "subscribe",  "live",    "backoff", "held"};

	_Static_assert(sizeof names / sizeof names[0] == BYBIT_HELD + 1, "a name per state");

	return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

/* ---- plumbing ------------------------------------------------------------ */

static int64_t bybit_mono(const struct bybit_session *s)
{
	return s->loop->sys->mono_ms(s->loop->sys->ctx);
}

static int64_t bybit_wall(const struct bybit_session *s)
{
	return s->loop->sys->wall_ms(s->loop->sys->ctx);
}

int64_t bybit_exchange_now_ms(const struct bybit_session *s)
{
	return xclock_now(s->clock, bybit_wall(s));
}

void bybit_share_clock(struct bybit_session *s, struct xclock *clock)
{
	assert(s->st.state == BYBIT_IDLE && clock);
	s->clock = clock;
}

int64_t bybit_last_msg_age_ms(const struct bybit_session *s)
{
	return s->st.last_msg_mono_ms < 0 ? -1 : bybit_mono(s) - s->st.last_msg_mono_ms;
}

static int bybit_stream_read(void *ctx, void *buf, size_t n)
{
	return tls_read(ctx, buf, n);
}

static int bybit_stream_write(void *ctx, const void *buf, size_t n)
{
	return tls_write(ctx, buf, n);
}

static void bybit_set_state(struct bybit_session *s, enum bybit_state st)
{
	s->st.state = st;
}

static void bybit_timer_drop(struct bybit_session *s, int *id)
{
	if (*id >= 0)
		loop_timer_cancel(s->loop, *id);
	*id = -1;
}

/* Releases everything the current connection holds. */
static void bybit_teardown(struct bybit_session *s)
{
	if (s->qid >= 0)
		resolv_cancel(s->resolv, s->qid);
	s->qid = -1;
	bybit_timer_drop(s, &s->t_ping);
	bybit_timer_drop(s, &s->t_watchdog);
	bybit_timer_drop(s, &s->t_backoff);
	ws_release(&s->ws);
	if (s->fd >= 0) {
		loop_fd_del(s->loop, s->fd);
		s->loop->sys->close(s->loop->sys->ctx, s->fd);
	}
	s->fd = -1;
	s->ping_wall_ms = -1;
	s->live_mono_ms = -1;
	s->fail = 0;
	s->held = 0;
}

/* Before a teardown: a close frame when the WebSocket is open (after a
 * WebSocket error ws.h has queued its own), then close_notify, both only as
 * far as the socket takes them now. Only a connection whose TLS handshake
 * is done has anything to say; in earlier states s->tls may still hold the
 * previous connection. */
static void bybit_goodbye(struct bybit_session *s, int code, const char *reason)
{
	if (s->fd < 0 || s->st.state < BYBIT_TLS || s->st.state > BYBIT_LIVE ||
	    !tls_handshake_done(&s->tls))
		return;
	if (s->st.state >= BYBIT_WS && ws_is_open(&s->ws))
		(void)ws_close(&s->ws, code, reason); /* flushes into TLS */
	(void)tls_close(&s->tls);                     /* cuts the record, close_notify, one pump */
}

/* The backoff's attempt count restarts after a connection that had been
 * LIVE long enough: its end is not a sign of trouble with the exchange. */
static void bybit_backoff_settle(struct bybit_session *s)
{
	if (s->live_mono_ms >= 0 && bybit_mono(s) - s->live_mono_ms >= BYBIT_STABLE_MS)
		bybit_backoff_reset(&s->backoff);
}

static void bybit_attempt(struct loop *l, int id, void *arg);
static void bybit_drive(struct bybit_session *s);

static void bybit_schedule(struct bybit_session *s, int64_t delay_ms)
{
	s->st.last_backoff_ms = delay_ms;
	bybit_set_state(s, BYBIT_BACKOFF);
	s->t_backoff = loop_timer_add(s->loop, delay_ms, 0, bybit_attempt, s);
	assert(s->t_backoff >= 0); /* the timer table is sized for every session */
}

/* Any failure: log once, tear down, back off. */
static void bybit_lost(struct bybit_session *s, const char *why, const char *detail)
{
	enum bybit_state was = s->st.state;
	int64_t delay;

	bybit_backoff_settle(s);
	bybit_goodbye(s, BYBIT_CLOSE_RECONNECT, "reconnecting");
	bybit_teardown(s);
	s->st.reconnects++;
	delay = bybit_backoff_next(&s->backoff);
	log_warn("stream lost", LS("account", s->acct->name), LS("state", bybit_state_name(was)),
	         LS("reason", why), LS("detail", detail), LI("retry_ms", delay));
	bybit_schedule(s, delay);
}

/* on_push refused a push: close, and wait for bybit_resume (bybit.h,
 * "Back-pressure"). Nothing is scheduled, so nothing reconnects. */
static void bybit_hold(struct bybit_session *s)
{
	enum bybit_state was = s->st.state;
	uint64_t withheld = s->st.withheld - s->held_mark;

	s->st.holds++;
	bybit_backoff_settle(s);
	bybit_goodbye(s, BYBIT_CLOSE_HOLD, "sink full");
	bybit_teardown(s);
	bybit_set_state(s, BYBIT_HELD);
	log_warn("sink full, closing the stream", LS("account", s->acct->name),
	         LS("state", bybit_state_name(was)), LI("close_code", BYBIT_CLOSE_HOLD),
	         LI("withheld", withheld));
}

static void bybit_kick_watchdog(struct bybit_session *s)
{
	if (s->t_watchdog >= 0)
		loop_timer_rearm(s->loop, s->t_watchdog, s->silence_timeout_ms);
}

static int bybit_send(struct bybit_session *s, int len)
{
	int r;

	if (len < 0)
		return len;
	r = ws_send_text(&s->ws, s->req, (size_t)len);
	return r;
}

static void bybit_next_req_id(struct bybit_session *s, char *out, size_t cap)
{
	snprintf(out, cap, "%s-%" PRIu64, s->acct->name, ++s->req_seq);
}

/* ---- timers -------------------------------------------------------------- */

static void bybit_on_watchdog(struct loop *l, int id, void *arg)
{
	struct bybit_session *s = arg;
	char detail[64];

	(void)l;
	(void)id;
	s->t_watchdog = -1; /* one-shot: the loop freed it */
	s->st.watchdog_fires++;
	snprintf(detail, sizeof detail, "nothing received for %" PRIu32 " ms",
	         s->silence_timeout_ms);
	bybit_lost(s, "silence", detail);
}

static void bybit_on_ping(struct loop *l, int id, void *arg)
{
	struct bybit_session *s = arg;
	char rid[64];
	int r;

	(void)l;
	(void)id;
	assert(s->st.state == BYBIT_LIVE || s->st.state == BYBIT_GATED);
	bybit_next_req_id(s, rid, sizeof rid);
	r = snprintf(s->req, sizeof s->req, "{\"req_id\":\"%s\",\"op\":\"ping\"}", rid);
	if (bybit_send(s, r) == 0) {
		s->ping_wall_ms = bybit_wall(s);
		s->st.pings_out++;
	}
	bybit_drive(s); /* the frame goes out now, not at the next readiness */
}

/* ---- messages, one handler per waiting state ----------------------------- */

struct bybit_ctl {
	int seen;
	enum decode_op op;
	int8_t success;
	int64_t server_ms;
	int has_server_ms;
	char ret_msg[DECODE_TEXT_MAX];
};

static int bybit_on_control(void *ctx, const struct decode_env *env,
                            const struct decode_control *r)
{
	struct bybit_ctl *c = ctx;

	(void)env;
	c->seen = 1;
	c->op = r->op;
	c->success = r->success;
	c->server_ms = r->server_time_ms.v;
	c->has_server_ms = r->server_time_ms.present;
	memcpy(c->ret_msg, r->ret_msg, sizeof c->ret_msg);
	return 0;
}

static void bybit_pong(struct bybit_session *s, const struct bybit_ctl *c)
{
	int64_t now = bybit_wall(s);

	s->st.pongs_in++;
	if (!c->has_server_ms || s->ping_wall_ms < 0)
		return;
	xclock_sample(s->clock, c->server_ms, s->ping_wall_ms, now);
	s->ping_wall_ms = -1;
}

/* Pings from GATED or LIVE on, whichever comes first on a connection. */
static void bybit_start_pings(struct bybit_session *s)
{
	if (s->t_ping >= 0)
		return;
	s->t_ping = loop_timer_add(s->loop, s->ping_interval_ms, s->ping_interval_ms,
	                           bybit_on_ping, s);
	assert(s->t_ping >= 0);
}

static void bybit_send_subscribe(struct bybit_session *s)
{
	char rid[64];

	bybit_next_req_id(s, rid, sizeof rid);
	if (bybit_send(s, bybit_subscribe_json(s->req, sizeof s->req, rid, s->acct->ep.topics)) < 0) {
		s->fail = 1;
		snprintf(s->fail_why, sizeof s->fail_why, "subscribe request not sent");
		return;
	}
	bybit_set_state(s, BYBIT_SUBSCRIBE);
}

static void bybit_msg_auth(struct bybit_session *s, const struct bybit_ctl *c)
{
	if (c->op != DECODE_OP_AUTH)
		return;
	if (c->success != DECODE_BOOL_TRUE) {
		s->st.auth_failures++;
		log_warn("authentication failed", LS("account", s->acct->name),
		         LS("ret_msg", c->ret_msg));
		s->fail = 1;
		snprintf(s->fail_why, sizeof s->fail_why, "auth refused: %s", c->ret_msg);
		return;
	}
	log_info("authentication successful", LS("account", s->acct->name));
	if (!s->gate) {
		bybit_send_subscribe(s);
		return;
	}
	bybit_set_state(s, BYBIT_GATED);
	s->st.gates++;
	bybit_start_pings(s);
}

static void bybit_msg_subscribe(struct bybit_session *s, const struct bybit_ctl *c)
{
	if (c->op != DECODE_OP_SUBSCRIBE)
		return;
	if (c->success != DECODE_BOOL_TRUE) {
		s->st.sub_failures++;
		log_warn("subscription failed", LS("account", s->acct->name),
		         LS("ret_msg", c->ret_msg));
		s->fail = 1;
		snprintf(s->fail_why, sizeof s->fail_why, "subscribe refused: %s", c->ret_msg);
		return;
	}
	log_info("subscription successful", LS("account", s->acct->name));
	bybit_set_state(s, BYBIT_LIVE);
	s->st.lives++;
	s->live_mono_ms = bybit_mono(s);
	bybit_start_pings(s);
}

/* Hands a push to the owner; a refusal holds the session (acted on after
 * ws_pump returns, as ws.h forbids releasing the connection in here). */
static void bybit_hand_on(struct bybit_session *s, const char *msg, size_t n)
{
	if (s->on_push && s->on_push(s->push_ctx, s->acct->name, msg, n) < 0) {
		s->held = 1;
		s->held_mark = s->st.withheld;
	}
}

static void bybit_on_message(void *ctx, const char *msg, size_t n, int is_text)
{
	struct bybit_session *s = ctx;
	struct bybit_ctl c = { 0 };
	struct decode_sink sink = { .ctx = &c, .on_control = bybit_on_control, .envelope_only = 1 };
	int r;

	s->st.msgs_in++;
	if (s->held) {
		/* read in the same pump as a refused push: the backfill after
		 * bybit_resume brings it back, handing it on now would reorder */
		s->st.withheld++;
		return;
	}
	s->st.last_msg_mono_ms = bybit_mono(s);
	bybit_kick_watchdog(s);
	if (s->fail)
		return;
	r = is_text ? decode_push(&bybit_dec, msg, n, &sink) : FR_EINVAL;
	if (r < 0) {
		/* Still the sink's to see: it keeps the raw text of what it rejects,
		 * so nothing that might hold a fill vanishes here. */
		s->st.bad_msgs++;
		log_warn("undecodable message", LS("account", s->acct->name),
		         LS("why", is_text ? bybit_dec.why : "binary frame"), LI("bytes", n));
		s->st.pushes[BYBIT_T_OTHER]++;
		bybit_hand_on(s, msg, n);
		return;
	}
	if (c.seen && c.op == DECODE_OP_PONG)
		bybit_pong(s, &c);
	else if (c.seen && s->st.state == BYBIT_AUTH)
		bybit_msg_auth(s, &c);
	else if (c.seen && s->st.state == BYBIT_SUBSCRIBE)
		bybit_msg_subscribe(s, &c);
	else if (!c.seen) {
		s->st.pushes[bybit_topic_idx(bybit_dec.env.topic)]++;
		bybit_hand_on(s, msg, n);
	}
}

/* ---- states driven by fd readiness --------------------------------------- */

static void bybit_send_auth(struct bybit_session *s)
{
	char rid[64], sig[BYBIT_SIG_HEX + 1];
	int64_t expires = bybit_exchange_now_ms(s) + BYBIT_AUTH_AHEAD_MS;

	bybit_sign(s->acct->api_secret.value, expires, sig);
	bybit_next_req_id(s, rid, sizeof rid);
	if (bybit_send(s, bybit_auth_json(s->req, sizeof s->req, rid, s->acct->api_key.value,
	                                  expires, sig)) < 0) {
		s->fail = 1;
		snprintf(s->fail_why, sizeof s->fail_why, "auth request not sent");
		return;
	}
	bybit_set_state(s, BYBIT_AUTH);
}

static void bybit_st_connecting(struct bybit_session *s, short revents)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;
	char why[ERR_MSG_MAX];

	if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
		return;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr != 0) {
		snprintf(why, sizeof why, "connect: %s", strerror(soerr));
		s->addr_rot++;
		bybit_lost(s, "connect", why);
		return;
	}
	if (tls_start(&s->tls, s->fd, s->acct->ep.ws_url.host, s->anchors, s->loop->sys) < 0) {
		bybit_lost(s, "tls", tls_errmsg(&s->tls));
		return;
	}
	bybit_set_state(s, BYBIT_TLS);
}

static void bybit_st_tls(struct bybit_session *s)
{
	if (!tls_handshake_done(&s->tls))
		return;
	s->stream = (struct fr_stream){ bybit_stream_read, bybit_stream_write, &s->tls };
	if (ws_start(&s->ws, &s->stream, s->ws_host, s->acct->ep.ws_url.path, bybit_on_message,
	             s) < 0) {
		bybit_lost(s, "ws", ws_errmsg(&s->ws));
		return;
	}
	ws_set_msg_max(&s->ws, s->msg_max);
	bybit_set_state(s, BYBIT_WS);
}

/* Acts on what a ws_pump found: a refused push first (it holds even when
 * the connection also failed in the same pump), then the pump's error, then
 * a refusal seen by a message handler. -1 when the connection is gone. */
static int bybit_after_pump(struct bybit_session *s, int r)
{
	if (s->held) {
		bybit_hold(s);
		return -1;
	}
	if (r < 0 && r != FR_EAGAIN) {
		bybit_lost(s, ws_err(&s->ws) == FR_ERANGE ? "message too big" : "ws",
		           ws_errmsg(&s->ws));
		return -1;
	}
	if (s->fail) {
		bybit_lost(s, "refused", s->fail_why);
		return -1;
	}
	return 0;
}

/* WS, AUTH, SUBSCRIBE and LIVE all read frames; the message handlers above
 * make the state-specific moves. */
static int bybit_st_frames(struct bybit_session *s)
{
	if (bybit_after_pump(s, ws_pump(&s->ws)) < 0)
		return -1;
	if (s->st.state == BYBIT_WS && ws_is_open(&s->ws)) {
		log_info("WebSocket connected", LS("account", s->acct->name),
		         LS("host", s->acct->ep.ws_url.host), LS("path", s->acct->ep.ws_url.path));
		bybit_send_auth(s);
		/* push the auth frame into TLS */
		if (bybit_after_pump(s, ws_pump(&s->ws)) < 0)
			return -1;
	}
	return 0;
}

/* Moves bytes through TLS and WebSocket as far as they go, runs the state
 * functions, and asks the loop for what TLS wants next. */
static void bybit_drive(struct bybit_session *s)
{
	short want;

	/* ws_pump reads only what tls_read holds; loop until the engine is idle. */
	for (int round = 0; round < 8; round++) {
		int r = tls_pump(&s->tls);

		if (r < 0 && r != FR_EAGAIN && tls_pending(&s->tls) == 0) {
			bybit_lost(s, "tls", tls_errmsg(&s->tls));
			return;
		}
		if (s->st.state == BYBIT_TLS)
			bybit_st_tls(s);
		if (s->st.state >= BYBIT_WS && s->st.state <= BYBIT_LIVE && bybit_st_frames(s) < 0)
			return;
		if (s->st.state < BYBIT_TLS || s->st.state > BYBIT_LIVE)
			return;
		r = tls_flush(&s->tls);
		if (r < 0 && r != FR_EAGAIN) {
			bybit_lost(s, "tls", tls_errmsg(&s->tls));
			return;
		}
		if (tls_pending(&s->tls) == 0)
			break;
	}
	want = tls_want(&s->tls);
	loop_fd_events(s->loop, s->fd, want ? want : POLLIN);
}

static void bybit_on_io(struct loop *l, int fd, short revents, void *arg)
{
	struct bybit_session *s = arg;

	(void)l;
	assert(fd == s->fd);
	if (s->st.state == BYBIT_CONNECTING) {
		bybit_st_connecting(s, revents);
		if (s->st.state != BYBIT_TLS)
			return;
	}
	bybit_drive(s);
}

/* ---- starting an attempt ------------------------------------------------- */

static void bybit_connect(struct bybit_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = resolv_addr_sockaddr(&s->addr, (uint16_t)s->acct->ep.ws_url.port, &ss);
	char why[ERR_MSG_MAX];
	int fd = socket(s->addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, sizeof why, "socket: %s", strerror(errno));
		bybit_lost(s, "connect", why);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
		snprintf(why, sizeof why, "connect: %s", strerror(errno));
		s->loop->sys->close(s->loop->sys->ctx, fd);
		s->addr_rot++;
		bybit_lost(s, "connect", why);
		return;
	}
	s->fd = fd;
	if (loop_fd_add(s->loop, fd, POLLOUT, bybit_on_io, s) < 0) {
		bybit_lost(s, "connect", "loop fd table full");
		return;
	}
	bybit_set_state(s, BYBIT_CONNECTING);
}

static void bybit_on_resolved(struct resolv *r, int qid, const struct resolv_result *res,
                              void *arg)
{
	struct bybit_session *s = arg;

	(void)r;
	(void)qid;
	s->qid = -1;
	if (res->status != RESOLV_OK || res->n < 1) {
		bybit_lost(s, "resolve", res->msg);
		return;
	}
	s->addr = res->addrs[(unsigned)s->addr_rot % (unsigned)res->n];
	bybit_connect(s);
}

static void bybit_attempt(struct loop *l, int id, void *arg)
{
	struct bybit_session *s = arg;
	int64_t now = bybit_mono(s);

	(void)l;
	(void)id;
	s->t_backoff = -1;
	if (bybit_budget_take(s->budget, now) < 0) {
		int64_t wait = bybit_budget_wait_ms(s->budget, now);

		s->st.budget_refusals++;
		log_warn("connect budget exhausted", LS("account", s->acct->name),
		         LI("connects_max", BYBIT_BUDGET_CONNECTS), LI("retry_ms", wait));
		bybit_schedule(s, wait > 0 ? wait : 1);
		return;
	}
	s->st.connects++;
	bybit_set_state(s, BYBIT_RESOLVING);
	s->t_watchdog = loop_timer_add(s->loop, s->silence_timeout_ms, 0, bybit_on_watchdog, s);
	assert(s->t_watchdog >= 0);
	s->qid = resolv_lookup(s->resolv, s->acct->ep.ws_url.host, AF_UNSPEC, bybit_on_resolved, s);
	if (s->qid < 0) {
		s->qid = -1;
		bybit_lost(s, "resolve", "resolver busy or bad name");
	}
}

/* ---- public -------------------------------------------------------------- */

int bybit_init(struct bybit_session *s, struct loop *l, struct resolv *r,
               const struct pem_ta_store *anchors, const struct cfg_account *acct,
               uint32_t ping_interval_ms, uint32_t silence_timeout_ms,
               struct bybit_budget *budget, bybit_push_fn on_push, void *push_ctx)
{
	const struct cfg_url *u = &acct->ep.ws_url;
	int n;

	assert(l && r && anchors && acct && ping_interval_ms > 0 && silence_timeout_ms > 0);
	memset(s, 0, offsetof(struct bybit_session, tls));
	memset(&s->st, 0, sizeof s->st);
	if ((acct->ep.topics & 0xfu) == 0 || u->host[0] == '\0' || u->path[0] != '/')
		return FR_EINVAL;
	n = u->port == 443 ? snprintf(s->ws_host, sizeof s->ws_host, "%s", u->host)
	                   : snprintf(s->ws_host, sizeof s->ws_host, "%s:%u", u->host, u->port);
	if (n < 0 || (size_t)n >= sizeof s->ws_host)
		return FR_EINVAL;
	s->loop = l;
	s->resolv = r;
	s->anchors = anchors;
	s->acct = acct;
	s->ping_interval_ms = ping_interval_ms;
	s->silence_timeout_ms = silence_timeout_ms;
	s->msg_max = WS_MSG_MAX;
	s->budget = budget ? budget : &s->own_budget;
	xclock_init(&s->own_clock, acct->name);
	s->clock = &s->own_clock;
	s->on_push = on_push;
	s->push_ctx = push_ctx;
	bybit_backoff_init(&s->backoff, 0);
	s->fd = s->qid = -1;
	s->t_ping = s->t_watchdog = s->t_backoff = -1;
	s->ping_wall_ms = s->live_mono_ms = -1;
	s->fail = s->held = 0;
	s->held_mark = 0;
	s->ws.state = WS_IDLE;
	s->st.last_msg_mono_ms = -1;
	s->st.state = BYBIT_IDLE;
	return 0;
}

int bybit_start(struct bybit_session *s)
{
	if (s->st.state != BYBIT_IDLE)
		return FR_EINVAL;
	bybit_attempt(s->loop, -1, s);
	return 0;
}

void bybit_stop(struct bybit_session *s)
{
	bybit_goodbye(s, BYBIT_CLOSE_STOP, "shutdown");
	bybit_teardown(s);
	bybit_set_state(s, BYBIT_IDLE);
}

int bybit_resume(struct bybit_session *s)
{
	if (s->st.state != BYBIT_HELD)
		return FR_EINVAL;
	assert(s->fd < 0 && s->t_backoff < 0 && s->t_watchdog < 0);
	bybit_attempt(s->loop, -1, s);
	return 0;
}

void bybit_set_gate(struct bybit_session *s, int on)
{
	s->gate = on != 0;
}

int bybit_open_gate(struct bybit_session *s)
{
	if (s->st.state != BYBIT_GATED)
		return FR_EINVAL;
	bybit_send_subscribe(s);
	if (s->fail)
		bybit_lost(s, "refused", s->fail_why);
	else
		bybit_drive(s); /* the request goes out now */
	return 0;
}

void bybit_set_msg_max(struct bybit_session *s, size_t msg_max)
{
	assert(msg_max >= 1 && msg_max <= WS_MSG_MAX);
	s->msg_max = msg_max;
}
