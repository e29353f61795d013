/*
 * bybit.h -- one account's Bybit V5 private WebSocket session (DESIGN.md 2).
 *
 * A session walks RESOLVING -> CONNECTING (non-blocking TCP) -> TLS -> WS
 * (upgrade) -> AUTH (request sent, waiting for the answer) [-> GATED] ->
 * SUBSCRIBE (request sent, waiting) -> LIVE, and from any of them, on an error, a close,
 * a refused answer or the silence watchdog, to BACKOFF (the connection is torn
 * down first) and then RESOLVING again; from WS..LIVE to HELD when the owner
 * refuses a push (below). bybit_stop ends in IDLE.
 *
 * Leaving a connection is polite where it can be: when the WebSocket is open
 * a close frame goes out (1000 "shutdown" from bybit_stop, 1013 from a hold,
 * 1001 before a reconnect; after a WebSocket error the close frame ws.h
 * queued, e.g. 1009 for an oversize message), then TLS close_notify, each
 * only as far as the socket takes it now (never waiting), then the fd is
 * closed.
 *
 * The gate (bybit_set_gate): a gated session that authenticated waits in
 * GATED, subscribed to nothing -- so the exchange sends it no push -- until
 * the owner calls bybit_open_gate. The owner backfills over REST meanwhile:
 * fills made while no stream was open are then applied before the first
 * push of the new connection, in exchange order, instead of arriving late
 * behind newer pushes (DESIGN.md 2 has no replay). A GATED session pings
 * and keeps its watchdog like a LIVE one; st.gates counts the times GATED
 * was reached (the owner's cue to backfill).
 *
 * In GATED and LIVE a `{"op":"ping"}` goes out every ping_interval_ms (a loop timer);
 * every message received re-arms the silence watchdog (silence_timeout_ms,
 * armed from the moment a connection attempt starts, so it also bounds the
 * handshakes). A private pong's args[0] (server ms) is a sample for the
 * account's exchange clock (xclock.h) taken around the ping's round trip. The
 * public pong shape is accepted and only kicks the watchdog.
 *
 * Auth: {"req_id":..,"op":"auth","args":[api_key, expires, signature]} with
 * expires = local wall + offset + BYBIT_AUTH_AHEAD_MS and signature the
 * lowercase hex HMAC-SHA256(api_secret, "GET/realtime" + expires). Anything
 * but "success":true is a failure: ret_msg is logged (warn) and the session
 * backs off. Subscribe asks for the account's configured all-in-one topics.
 *
 * Backoff: attempt a waits a uniformly drawn delay in [d/2, d], d =
 * min(BYBIT_BACKOFF_MAX_MS, BYBIT_BACKOFF_MIN_MS << a) ("equal jitter"). The
 * attempt count goes back to 0 when a session had stayed LIVE for at least
 * BYBIT_STABLE_MS, so a stream dropped right after subscribing keeps backing
 * off. Independently, a budget refuses more than BYBIT_BUDGET_CONNECTS
 * connection attempts in any BYBIT_BUDGET_WINDOW_MS (monotonic); a refused
 * attempt waits until the oldest one leaves the window. Sessions of one
 * exchange domain may share one struct bybit_budget.
 *
 * Messages that are not control answers (pushes) are handed whole to on_push
 * (msg valid during the call only) and counted per topic. Milestones are
 * logged at info with account=NAME: "WebSocket connected", "authentication
 * successful", "subscription successful"; failures at warn, once each.
 *
 * Back-pressure (DESIGN.md 7): when on_push returns a negative value (the
 * sink, e.g. a full disk journal, cannot take the push), the session hands on
 * nothing more from this connection -- messages after the refused one, even
 * those already read in the same pump, are dropped (counted in withheld) --
 * closes it (close 1013 "try again later"), counts a hold, logs "sink full,
 * closing the stream" once at warn and waits in HELD: no timer, no
 * reconnect, no backoff step, until the owner calls bybit_resume when there
 * is room. A hold counts in holds, not in reconnects. The refused push and
 * everything after it are not lost: Bybit does not replay, so the owner
 * backfills over REST after the resume (as after any reconnect), and handing
 * on later messages meanwhile would only reorder them. The connection is
 * closed rather than left unread because an unread stream also delivers no
 * pongs: it would look dead to the watchdog while the exchange kept
 * queueing for it.
 *
 * Message size: a message larger than the session's limit (WS_MSG_MAX unless
 * lowered with bybit_set_msg_max) ends the connection with close 1009 and a
 * warn line naming the limit and the size seen; the session reconnects as
 * after any failure.
 *
 * Memory: a struct bybit_session (about 310 KB: TLS record buffers and the
 * WebSocket message buffer) lives in the caller's static storage; nothing is
 * allocated here (ws.h notes wslay's own frame context). One decoder shared by
 * every session lives in bybit.c: single-threaded use only. The loop, the
 * resolver, the trust anchors and the account must outlive the session.
 */
#ifndef FR_BYBIT_H
#define FR_BYBIT_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"
#include "loop.h"
#include "pem.h"
#include "resolv.h"
#include "stream.h"
#include "tls.h"
#include "ws.h"
#include "xclock.h"

#define BYBIT_AUTH_AHEAD_MS 8000 /* DESIGN.md: 5..10 s; 1 s fails under skew */
#define BYBIT_BACKOFF_MIN_MS 1000
#define BYBIT_BACKOFF_MAX_MS 60000
#define BYBIT_STABLE_MS 30000
#define BYBIT_BUDGET_CONNECTS 500
#define BYBIT_BUDGET_WINDOW_MS (5 * 60 * 1000)
#define BYBIT_REQ_MAX 1024 /* one outgoing request (auth is the longest) */
#define BYBIT_SIG_HEX 64   /* hex digits of an HMAC-SHA256 */
#define BYBIT_ERRMSG_MAX (ERR_MSG_MAX + 64) /* "subscribe refused: " + a ret_msg */

/* Close codes (RFC 6455 7.4.1) sent when the session leaves a connection. */
#define BYBIT_CLOSE_STOP WS_CLOSE_NORMAL          /* bybit_stop, reason "shutdown" */
#define BYBIT_CLOSE_RECONNECT WS_CLOSE_GOING_AWAY /* failure, reconnecting */
#define BYBIT_CLOSE_HOLD WS_CLOSE_TRY_AGAIN       /* a push was refused, "sink full" */

_Static_assert(BYBIT_REQ_MAX <= WS_SEND_MAX, "a request fits one ws_send_text");
_Static_assert(BYBIT_REQ_MAX >= 2 * CFG_SECRET_MAX + 128, "auth holds a key and signature");
_Static_assert(BYBIT_AUTH_AHEAD_MS >= 5000 && BYBIT_AUTH_AHEAD_MS <= 10000, "DESIGN.md 2");

enum bybit_state {
	BYBIT_IDLE = 0,
	BYBIT_RESOLVING,
	BYBIT_CONNECTING,
	BYBIT_TLS,
	BYBIT_WS,
	BYBIT_AUTH,
	BYBIT_GATED, /* authenticated, waits for bybit_open_gate (gated sessions only) */
	BYBIT_SUBSCRIBE,
	BYBIT_LIVE,
	BYBIT_BACKOFF,
	BYBIT_HELD, /* closed because a push was refused; waits for bybit_resume */
};

/* Push counters per topic family (categorised topics count with theirs). */
enum bybit_topic_idx {
	BYBIT_T_EXECUTION,
	BYBIT_T_ORDER,
	BYBIT_T_POSITION,
	BYBIT_T_WALLET,
	BYBIT_T_OTHER,
	BYBIT_T_N,
};

/* Connection budget: the monotonic times of the last BYBIT_BUDGET_CONNECTS
 * attempts, a ring. Zero-initialised storage is an empty budget. */
struct bybit_budget {
	int64_t t_ms[BYBIT_BUDGET_CONNECTS];
	int head; /* index of the oldest entry */
	int n;
};

/* Takes one attempt at now_ms: 0, or FR_EFULL when BYBIT_BUDGET_CONNECTS
 * attempts already lie in (now_ms - BYBIT_BUDGET_WINDOW_MS, now_ms]. now_ms
 * must not go backwards (monotonic). */
int bybit_budget_take(struct bybit_budget *b, int64_t now_ms);
/* Milliseconds until bybit_budget_take can succeed (0: now). */
int64_t bybit_budget_wait_ms(const struct bybit_budget *b, int64_t now_ms);

struct bybit_backoff {
	uint64_t rng; /* xorshift64 state, never 0 */
	int attempt;
};

/* seed 0 takes one from getrandom(2) (a constant when that fails). */
void bybit_backoff_init(struct bybit_backoff *b, uint64_t seed);
/* The delay before the next attempt (ms), and counts the attempt. */
int64_t bybit_backoff_next(struct bybit_backoff *b);
void bybit_backoff_reset(struct bybit_backoff *b);

/* Writes the 64 lowercase hex digits of HMAC-SHA256(secret, "GET/realtime"
 * + decimal expires_ms) and a NUL into out. */
void bybit_sign(const char *secret, int64_t expires_ms, char out[BYBIT_SIG_HEX + 1]);

/* The auth request (JSON strings escaped) into buf of cap bytes; returns its
 * length (no NUL counted) or FR_ERANGE when it does not fit. */
int bybit_auth_json(char *buf, size_t cap, const char *req_id, const char *api_key,
                    int64_t expires_ms, const char *signature);
/* {"req_id":..,"op":"subscribe","args":[..]} for a cfg_topic mask (in the
 * order execution, order, position, wallet); length or FR_ERANGE/FR_EINVAL
 * (empty mask). */
int bybit_subscribe_json(char *buf, size_t cap, const char *req_id, unsigned topics);

/* The topic family of a push topic ("execution.linear" -> EXECUTION). */
enum bybit_topic_idx bybit_topic_idx(const char *topic);
const char *bybit_state_name(enum bybit_state st);

/* Handed every push; msg[0..len) is valid during the call only. Returns 0
 * when the push was taken, or a negative value when it could not be (the
 * sink is full): see "Back-pressure" above and bybit_resume. */
typedef int (*bybit_push_fn)(void *ctx, const char *account, const char *msg, size_t len);

struct bybit_status {
	enum bybit_state state;
	uint64_t connects;      /* connection attempts started (budget takes) */
	uint64_t lives;         /* times LIVE was reached */
	uint64_t gates;         /* times GATED was reached */
	uint64_t reconnects;    /* connections lost after starting (any state) */
	uint64_t auth_failures; /* auth answers that were not success */
	uint64_t sub_failures;
	uint64_t watchdog_fires;
	uint64_t budget_refusals;
	uint64_t holds;    /* connections closed because on_push refused a push */
	uint64_t withheld; /* messages read after a refused push, not handed on */
	uint64_t msgs_in, pings_out, pongs_in, bad_msgs;
	uint64_t pushes[BYBIT_T_N];
	int64_t last_msg_mono_ms; /* -1 before any message */
	int64_t last_backoff_ms;
};

struct bybit_session {
	/* set by bybit_init, constant after */
	struct loop *loop;
	struct resolv *resolv;
	const struct pem_ta_store *anchors;
	const struct cfg_account *acct;
	uint32_t ping_interval_ms, silence_timeout_ms;
	size_t msg_max; /* largest message accepted; bybit_set_msg_max */
	int gate;       /* bybit_set_gate */
	bybit_push_fn on_push;
	void *push_ctx;
	struct bybit_budget *budget; /* &own_budget unless shared */
	struct bybit_budget own_budget;
	struct xclock *clock; /* &own_clock unless shared (bybit_share_clock) */
	struct xclock own_clock;
	struct bybit_backoff backoff;
	char ws_host[WS_HOST_MAX]; /* Host header value */

	/* the current connection */
	int fd;                            /* -1 when none */
	int qid;                           /* resolver query, -1 when none */
	int t_ping, t_watchdog, t_backoff; /* loop timer ids, -1 when none */
	struct resolv_addr addr;
	int addr_rot; /* rotates through a lookup's addresses across attempts */
	struct tls_conn tls;
	struct fr_stream stream;
	struct ws_conn ws;
	uint64_t req_seq;
	int64_t ping_wall_ms; /* local wall time of the ping in flight, -1: none */
	int64_t live_mono_ms; /* when LIVE was reached, -1 when not LIVE */
	int fail;             /* set from inside a message callback */
	int held;             /* on_push refused a push on this connection */
	uint64_t held_mark;   /* st.withheld when it did */
	char fail_why[BYBIT_ERRMSG_MAX];
	char req[BYBIT_REQ_MAX];

	struct bybit_status st;
};

/*
 * Prepares s for acct (its ep.ws_url, ep.topics, api_key, api_secret) with the
 * exchange timings; budget NULL gives the session its own. Does not connect.
 * Returns 0 or FR_EINVAL (no topics, URL host/path unusable).
 */
int bybit_init(struct bybit_session *s, struct loop *l, struct resolv *r,
               const struct pem_ta_store *anchors, const struct cfg_account *acct,
               uint32_t ping_interval_ms, uint32_t silence_timeout_ms,
               struct bybit_budget *budget, bybit_push_fn on_push, void *push_ctx);

/* Starts the first connection attempt (from IDLE). 0 or FR_EINVAL. */
int bybit_start(struct bybit_session *s);

/* Ends the connection politely (close frame 1000 "shutdown" when the
 * WebSocket is open, then TLS close_notify, both best effort and without
 * waiting), tears it down and stays IDLE (shutdown). Idempotent; not from
 * inside on_push. */
void bybit_stop(struct bybit_session *s);

/* Leaves HELD: starts a connection attempt at once (no backoff delay, and
 * the backoff's attempt count is not raised by the hold). 0, or FR_EINVAL
 * when s is not HELD. Not from inside on_push. The caller backfills over
 * REST for what the hold missed. */
int bybit_resume(struct bybit_session *s);

/* on != 0: from the next authentication on, the session waits in GATED
 * until bybit_open_gate (see "The gate" above); 0: it subscribes at once
 * (the default). */
void bybit_set_gate(struct bybit_session *s, int on);

/* Leaves GATED: sends the subscribe request. 0, or FR_EINVAL when s is not
 * GATED. Not from inside on_push. */
int bybit_open_gate(struct bybit_session *s);

/* Sets the largest message the session accepts (1..WS_MSG_MAX bytes; the
 * default is WS_MSG_MAX), from the next connection on. */
void bybit_set_msg_max(struct bybit_session *s, size_t msg_max);

/* Milliseconds since the last message (-1: none yet), for metrics. */
int64_t bybit_last_msg_age_ms(const struct bybit_session *s);
/* Exchange time now: local wall + offset (offset 0 until known). */
int64_t bybit_exchange_now_ms(const struct bybit_session *s);
/* Makes s use clock (the account's, shared with its REST client) instead of
 * its own; call after bybit_init, before bybit_start. */
void bybit_share_clock(struct bybit_session *s, struct xclock *clock);

#endif
