/*
 * ws.h -- a WebSocket client (RFC 6455) over a non-blocking byte stream.
 *
 * The opening handshake is built and checked here; frames are cut and parsed
 * by wslay's frame layer only (wslay_frame_*: its event layer allocates per
 * message). Messages are reassembled into a buffer inside struct ws_conn and
 * handed to a callback whole. Nothing is allocated by this module, but wslay
 * itself allocates its frame context (about 4.2 KB) with malloc in
 * wslay_frame_context_init: once per connection, in ws_start, freed as soon
 * as the connection ends (sticky error) or by ws_release. In the product
 * build that malloc is served by the arena (arena.h). It is the only heap use
 * on this path, and it is bounded: at most one context per struct ws_conn at
 * any time, so the arena budget needs WS_WSLAY_CTX_BYTES per connection.
 *
 * Using a connection (the caller owns the socket and the TLS layer):
 *
 *   ws_start(w, &stream, "stream.bybit.com", "/v5/private", on_msg, ctx);
 *   each loop iteration, after tls_pump:
 *     r = ws_pump(w);              // handshake, then frames; on_msg runs here
 *     if (ws_is_open(w)) ws_send_text(w, "{\"op\":\"ping\"}", 13);
 *     ws_pump(w) again (or tls_flush) so queued frames reach the stream;
 *   r < 0 other than FR_EAGAIN: log ws_errmsg(w) once, reconnect later.
 *
 * Results follow err.h: >= 0 success, FR_EAGAIN an ordinary "not now", any
 * other negative value is the sticky error, returned again by every later
 * call until the next ws_start:
 *   FR_EPROTO   the handshake was refused ("handshake: status 403",
 *               "handshake: bad Sec-WebSocket-Accept", ...) or the server
 *               broke the framing rules (we answered with close 1002, or
 *               1007 for invalid UTF-8);
 *   FR_ERANGE   a message larger than msg_max (close 1009 queued; the
 *               message names the limit and the size seen so far: the
 *               frame's announced length plus earlier fragments), or a
 *               handshake response header longer than WS_HS_MAX;
 *   FR_ECLOSED  the peer sent a close frame (answered; the message holds
 *               its code and reason) or closed the stream;
 *   else        the stream's own error, or FR_EIO when getrandom fails.
 * After the error, ws_pump keeps trying to flush the close frame it queued
 * (best effort); the caller may drop the stream at any time.
 *
 * Client frames are masked with keys from a generator seeded by getrandom at
 * each ws_start. Server frames must not be masked. No extension or
 * subprotocol is offered, so any reserved bit is an error.
 */
#ifndef FR_WS_H
#define FR_WS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "stream.h"

struct wslay_frame_context;

/* Largest message reassembled (the struct holds a buffer this size + 1).
 * Bybit's private pushes are a few KB; a wallet snapshot stays far below. */
#ifndef WS_MSG_MAX
#define WS_MSG_MAX (256 * 1024)
#endif
#define WS_HS_MAX 4096          /* handshake response header, bytes */
#define WS_OUT_MAX 8192         /* queued outgoing bytes (request and frames) */
#define WS_HOST_MAX 261         /* Host value: name (255) and ":port" */
#define WS_PATH_MAX 1024        /* request target */
#define WS_CTRL_MAX 125         /* control frame payload (RFC 6455 5.5) */
#define WS_WSLAY_CTX_BYTES 8192 /* arena block for wslay 1.1.1's 4256-byte frame context */
#define WS_FRAME_HDR_MAX 14     /* 2 + 8 length + 4 mask key */
#define WS_KEY_LEN 24           /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28        /* base64 of a SHA-1 */
/* Room kept free in the out buffer for one pong and one close frame, so a
 * full queue of text never stops the protocol's own answers. */
#define WS_CTRL_RESERVE (2 * (WS_FRAME_HDR_MAX + WS_CTRL_MAX))
/* Largest text ws_send_text takes. */
#define WS_SEND_MAX (WS_OUT_MAX - WS_CTRL_RESERVE - WS_FRAME_HDR_MAX)

_Static_assert(WS_HOST_MAX + WS_PATH_MAX + 256 <= WS_OUT_MAX,
               "the handshake request fits the out buffer");
_Static_assert(WS_SEND_MAX >= 1024, "auth and subscribe requests fit");
_Static_assert(WS_MSG_MAX >= WS_CTRL_MAX, "messages hold control payloads");

/* Close status codes this module sends (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_BAD_DATA 1007
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_TRY_AGAIN 1013 /* "Try Again Later" (IANA registry) */

/* A complete message: msg[n] is a NUL (not part of it), is_text 1 for text
 * (valid UTF-8, checked), 0 for binary. msg is valid during the call only. */
typedef void (*ws_msg_fn)(void *ctx, const char *msg, size_t n, int is_text);

enum ws_state {
	WS_IDLE,      /* never started, or released */
	WS_HANDSHAKE, /* request queued or sent, reading the 101 */
	WS_OPEN,      /* messages flow both ways */
	WS_CLOSING,   /* we sent close (ws_close), waiting for the peer's */
	WS_DONE,      /* ended: see err */
};

struct ws_conn {
	struct fr_stream io;
	struct wslay_frame_context *frame; /* wslay's, malloc'd: see above */
	enum ws_state state;
	ws_msg_fn on_message;
	void *cb_ctx;
	size_t msg_max;                 /* <= WS_MSG_MAX; ws_set_msg_max */
	uint64_t mask_state;            /* mask key generator */
	char accept[WS_ACCEPT_LEN + 1]; /* the Sec-WebSocket-Accept we expect */

	/* handshake response; after it, hs[hs_off..hs_len) are frame bytes */
	char hs[WS_HS_MAX];
	size_t hs_len, hs_off;

	/* receiving */
	int frame_started;  /* the current frame's header was checked */
	uint64_t frame_got; /* payload bytes of the current frame so far */
	int msg_opcode;     /* 1 text, 2 binary, 0 none in progress */
	size_t msg_len;
	unsigned char ctrl[WS_CTRL_MAX];
	size_t ctrl_len;
	char msg[WS_MSG_MAX + 1];
	int io_err; /* the stream's error seen inside wslay's recv */

	/* sending */
	unsigned char out[WS_OUT_MAX];
	size_t out_off, out_len;
	int close_sent; /* 0, or the code of the close frame queued */

	/* counters */
	uint64_t msgs_in, pings_in, pongs_in, pongs_dropped;

	int err; /* sticky: 0 or a negative FR_* */
	char errmsg[ERR_MSG_MAX];
};

/*
 * Starts a connection over io (which must stay valid while it is used):
 * resets w, makes a fresh Sec-WebSocket-Key (getrandom), allocates wslay's
 * frame context, and queues the GET request for host (the Host value,
 * ":port" included when not 443) and path (the request target, starting with
 * '/', query allowed). Nothing is written until ws_pump. msg_max becomes
 * WS_MSG_MAX. Returns 0, or sets and returns the sticky error: FR_EINVAL a
 * host or path that is empty, too long or holds a byte outside visible ASCII;
 * FR_EIO getrandom failed; FR_ENOMEM wslay's malloc failed.
 */
int ws_start(struct ws_conn *w, const struct fr_stream *io, const char *host, const char *path,
             ws_msg_fn on_message, void *cb_ctx);

/* Lowers the largest message accepted (1..WS_MSG_MAX; tests, or a tighter
 * bound in production). Call after ws_start. */
void ws_set_msg_max(struct ws_conn *w, size_t msg_max);

/*
 * Moves everything that can move now: flushes queued bytes, reads and checks
 * the handshake response, then reads frames, delivering each complete message
 * through on_message, answering pings and close, and flushes again. Returns
 * the number of messages delivered (>= 0) -- also 0 while the handshake is
 * still under way -- or the sticky error. on_message must not call ws_pump
 * or ws_release, but may call ws_send_text and ws_close.
 */
int ws_pump(struct ws_conn *w);

/*
 * Queues one text message (a single final frame, masked) of n bytes, n <=
 * WS_SEND_MAX; the bytes are copied. The caller vouches that s is UTF-8.
 * Returns 0, FR_EAGAIN before the handshake has succeeded, FR_EFULL when the
 * out buffer has not the room now (try after the next ws_pump), FR_EINVAL
 * for n too large or after ws_close, or the sticky error.
 */
int ws_send_text(struct ws_conn *w, const char *s, size_t n);

/*
 * Starts the closing handshake: queues a close frame with code (1000..4999)
 * and reason (<= 123 bytes, may be NULL) and flushes what it can. Later
 * ws_pump calls end with FR_ECLOSED when the peer answers; a caller that
 * will not wait drops the stream and calls ws_release. Returns 0 or the
 * sticky error; before the handshake has succeeded the connection simply
 * ends (FR_ECLOSED).
 */
int ws_close(struct ws_conn *w, int code, const char *reason);

/* Frees wslay's context if still held; w is WS_IDLE after. Idempotent. */
void ws_release(struct ws_conn *w);

int ws_is_open(const struct ws_conn *w);        /* WS_OPEN */
size_t ws_out_pending(const struct ws_conn *w); /* queued bytes not yet written */
int ws_err(const struct ws_conn *w);
const char *ws_errmsg(const struct ws_conn *w);

/*
 * The pure parts, exported for tests and the fuzzer.
 *
 * ws_hs_parse checks a handshake response held in buf[0..n): returns the
 * length of the header (status line through the empty line, > 0) when it is
 * complete and accepts the upgrade with Sec-WebSocket-Accept equal to
 * accept; FR_EAGAIN when the empty line has not arrived and n < WS_HS_MAX;
 * FR_ERANGE when it has not and n >= WS_HS_MAX; FR_EPROTO for a refusal or a
 * malformed response. msg (msg_cap > 0) receives the reason in words.
 */
int ws_hs_parse(const char *buf, size_t n, const char *accept, char *msg, size_t msg_cap);

/* The Sec-WebSocket-Accept for key: base64(SHA-1(key + RFC 6455's GUID)). */
void ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Base64 (RFC 4648, padded) of n bytes into out (4 * ceil(n / 3) + 1
 * bytes, NUL-terminated); returns the length written. */
size_t ws_base64(const unsigned char *in, size_t n, char *out);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF), else 0. */
int ws_utf8_valid(const unsigned char *s, size_t n);

#endif
