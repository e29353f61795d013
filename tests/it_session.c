/*
 * it_session.c -- the Bybit session's promises (issue #3) against the local
 * peer (tests/peer/), one test per point of the acceptance list:
 *
 *   two_accounts   two accounts in one loop, both LIVE, pushes reach the
 *                  right on_push with the right account name;
 *   oversize       a message above A's limit closes A (clear log line, close
 *                  1009), A comes back, B stays LIVE and served throughout;
 *   fragments      fragmented messages (python3-websockets' own, and raw
 *                  5-byte frames cutting UTF-8 with pings between)
 *                  reassembled byte for byte;
 *   bad_certs      untrusted, expired and wrong-host certificates refused
 *                  with the reason logged and nothing sent past TLS; LIVE
 *                  again on its own once the certificate is good;
 *   clock_skew     the peer 3 s ahead, then 3 s behind: auth accepted after
 *                  a reconnect, its expiry set on the exchange's clock;
 *   arena_flat     no allocation while 10,000 messages are received;
 *   stop           bybit_stop sends close 1000;
 *   backpressure   a refused push closes the stream, holds it (no
 *                  reconnect) until bybit_resume, and hands on nothing after
 *                  the refused push.
 *
 * Each test starts its own peer and sessions (fresh counters and backoff),
 * so any one can run alone. Timings are tight (ping 1 s, silence 3 s); the
 * file runs in about 30 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "bybit.h"
#include "itpeer.h"
#include "log.h"
#include "t.h"

#ifdef __SANITIZE_ADDRESS__
/* ASan's allocator hook (sanitizer/allocator_interface.h, not shipped with
 * gcc 12's headers): counts every malloc of the process in that flavour. */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
#endif

#define IS_PING_MS 1000
#define IS_SILENCE_MS 3000
#define IS_N 2 /* accounts: A (alpha, KEY1) and B (beta, KEY2) */

/* What on_push saw for one account. */
struct is_sink {
	const char *name;  /* the account name on_push must be given */
	uint64_t n;        /* pushes handed (the refused one included) */
	uint64_t wrong;    /* pushes handed with another account name */
	uint64_t refuse_n; /* refuse the push that makes n equal this (0: never) */
	uint64_t refused;
	char last[1 << 16];
	size_t last_len;
};

static struct loop is_loop;
static struct resolv is_resolv;
static struct pem_ta_store is_anchors;
static struct cfg_account is_acct[IS_N];
static struct bybit_session is_sess[IS_N];
static struct is_sink is_sinks[IS_N];
static const char *const is_names[IS_N] = {"alpha", "beta"};
static const char *const is_keys[IS_N] = {"KEY1", "KEY2"};
static const char *const is_secrets[IS_N] = {"SECRET1", "SECRET2"};
static int is_nsess;
static int is_logfd = -1;
static char is_logpath[600];
static int is_tracebacks; /* in the peer's log before this test */
static int is_gate;       /* is_up gates its sessions (bybit_set_gate) */

static int is_on_push(void *ctx, const char *account, const char *msg, size_t len)
{
	struct is_sink *k = ctx;

	k->n++;
	if (strcmp(account, k->name) != 0)
		k->wrong++;
	if (len < sizeof k->last) {
		memcpy(k->last, msg, len);
		k->last_len = len;
	}
	if (k->refuse_n && k->n == k->refuse_n) {
		k->refused++;
		return -1;
	}
	return 0;
}

static int64_t is_now(void)
{
	return loop_sys_real.mono_ms(loop_sys_real.ctx);
}

/* ---- set-up and tear-down --------------------------------------------------- */

static void is_down(void)
{
	char path[600];

	for (int i = 0; i < is_nsess; i++)
		bybit_stop(&is_sess[i]);
	if (is_nsess)
		resolv_close(&is_resolv);
	is_nsess = 0;
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	if (is_logfd >= 0)
		close(is_logfd);
	is_logfd = -1;
	itpeer_stop();
	snprintf(path, sizeof path, "%s/peer.log", itpeer.dir);
	T_EQ_INT(itpeer_file_count(path, "Traceback"), is_tracebacks);
}

/* A fresh peer with both keys, the log in a file of this test's own, and n
 * sessions started (A's message limit msg_max_a, 0: default). Waits for
 * every session to be LIVE. */
static void is_up(const char *test, int n, size_t msg_max_a)
{
	char path[600];

	signal(SIGPIPE, SIG_IGN);
	if (is_nsess)
		is_down(); /* an earlier test stopped by T_REQUIRE */
	itpeer_stop();
	T_REQUIRE(itpeer_start("KEY1:SECRET1,KEY2:SECRET2", "") == 0);
	snprintf(path, sizeof path, "%s/peer.log", itpeer.dir);
	is_tracebacks = itpeer_file_count(path, "Traceback");
	snprintf(is_logpath, sizeof is_logpath, "%s/%s.log", itpeer.dir, test);
	is_logfd = open(is_logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	T_REQUIRE(is_logfd >= 0);
	log_setup(is_logfd, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);

	loop_init(&is_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&is_resolv, &is_loop, NULL, NULL) == 0);
	pem_ta_init(&is_anchors);
	snprintf(path, sizeof path, "%s/ca.pem", itpeer.dir);
	T_REQUIRE(pem_ta_load_file(&is_anchors, path) >= 1);
	is_nsess = n;
	for (int i = 0; i < n; i++) {
		memset(&is_sinks[i], 0, sizeof is_sinks[i]);
		is_sinks[i].name = is_names[i];
		itpeer_account(&is_acct[i], is_names[i], is_keys[i], is_secrets[i]);
		T_REQUIRE(bybit_init(&is_sess[i], &is_loop, &is_resolv, &is_anchors, &is_acct[i],
		                     IS_PING_MS, IS_SILENCE_MS, NULL, is_on_push,
		                     &is_sinks[i]) == 0);
		bybit_backoff_init(&is_sess[i].backoff, 1000 + (uint64_t)i);
	}
	if (msg_max_a)
		bybit_set_msg_max(&is_sess[0], msg_max_a);
	for (int i = 0; i < n; i++) {
		bybit_set_gate(&is_sess[i], is_gate);
		T_REQUIRE(bybit_start(&is_sess[i]) == 0);
	}
	for (int i = 0; i < n; i++)
		T_REQUIRE(itpeer_run_until(&is_loop, is_gate ? &is_sess[i].st.gates
		                                             : &is_sess[i].st.lives,
		                           1, 10000));
}

/* ---- small helpers ------------------------------------------------------------ */

static int is_run_until(const uint64_t *v, uint64_t want, int timeout_ms)
{
	return itpeer_run_until(&is_loop, v, want, timeout_ms);
}

/* Runs the loop until the peer's counter (account NULL: all) reaches want;
 * the sessions keep moving meanwhile. The counter's last value. */
static long is_wait_peer(const char *counter, const char *account, long want, int timeout_ms)
{
	int64_t end = is_now() + timeout_ms;
	long v = itpeer_counter(counter, account);

	while (v < want && is_now() < end) {
		itpeer_run_for(&is_loop, 100);
		v = itpeer_counter(counter, account);
	}
	return v;
}

/* JSON string escaping for control bodies (quote and backslash; the texts
 * used here hold no control bytes and no single quote, which the shell
 * quoting in itpeer_ctl would not survive). */
static void is_json_str(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o] = '\0';
}

/* Pushes text byte for byte ("raw") to key's connections; delivered count. */
static int is_push_raw(const char *key, const char *text)
{
	static char body[8192], esc[4096], out[4096];
	const char *d;

	is_json_str(esc, sizeof esc, text);
	snprintf(body, sizeof body, "{\"account\":\"%s\",\"topic\":\"execution\",\"raw\":\"%s\"}",
	         key, esc);
	itpeer_ctl("push", body, out, sizeof out);
	d = strstr(out, "\"delivered\":");
	return d ? atoi(d + 12) : -1;
}

/* The numeric value after the last "key": in s, or def. */
static long is_json_last(const char *s, const char *key, long def)
{
	char pat[64];
	const char *p, *last = NULL;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	for (p = s; (p = strstr(p, pat)) != NULL; p += strlen(pat))
		last = p;
	return last ? atol(last + strlen(pat)) : def;
}

/* The peer's newest event number. */
static long is_peer_seq(void)
{
	char out[256];

	itpeer_ctl("events", "{\"type\":\"none\",\"limit\":1}", out, sizeof out);
	return is_json_last(out, "last_event_seq", -1);
}

/* Events of type (for key, NULL: any) after seq, into out. */
static void is_events(const char *type, const char *key, long since, char *out, size_t cap)
{
	char body[256];

	if (key)
		snprintf(body, sizeof body, "{\"type\":\"%s\",\"account\":\"%s\",\"since\":%ld}",
		         type, key, since);
	else
		snprintf(body, sizeof body, "{\"type\":\"%s\",\"since\":%ld}", type, since);
	itpeer_ctl("events", body, out, cap);
}

/* Runs the loop until the peer has recorded a disconnect of key after seq;
 * its close code (the peer's record of what it received; 1006: none). */
static long is_wait_disconnect(const char *key, long since, int timeout_ms)
{
	static char out[1 << 14];
	int64_t end = is_now() + timeout_ms;

	for (;;) {
		is_events("disconnect", key, since, out, sizeof out);
		if (strstr(out, "\"code\":") || is_now() >= end)
			return is_json_last(out, "code", -1);
		itpeer_run_for(&is_loop, 50);
	}
}

/* Lines of the session log holding both a and b. */
static int is_log_lines(const char *a, const char *b)
{
	size_t n;
	char *buf = t_read_file(is_logpath, &n);
	int count = 0;

	if (!buf)
		return 0;
	for (char *line = buf, *nl; line < buf + n; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = buf + n;
		*nl = '\0';
		count += strstr(line, a) && (!b || strstr(line, b));
	}
	free(buf);
	return count;
}

/* ---- tests ---------------------------------------------------------------------- */

/* Two accounts share the loop; each push reaches its own account's on_push
 * with that account's name. */
TEST(it_session_two_accounts)
{
	is_up("two_accounts", 2, 0);
	T_EQ_INT(is_sess[0].st.state, BYBIT_LIVE);
	T_EQ_INT(is_sess[1].st.state, BYBIT_LIVE);
	T_EQ_INT(itpeer_counter("auth_ok", "KEY1"), 1);
	T_EQ_INT(itpeer_counter("auth_ok", "KEY2"), 1);
	T_EQ_INT(itpeer_counter("subscribed_open", NULL), 2);

	static const char pa[] =
	    "{\"topic\":\"execution\",\"id\":\"for-alpha\",\"creationTime\":1,\"data\":[]}";
	static const char pb[] =
	    "{\"topic\":\"execution\",\"id\":\"for-beta\",\"creationTime\":2,\"data\":[]}";
	T_EQ_INT(is_push_raw("KEY1", pa), 1);
	T_EQ_INT(is_push_raw("KEY2", pb), 1);
	T_CHECK(is_run_until(&is_sinks[0].n, 1, 3000));
	T_CHECK(is_run_until(&is_sinks[1].n, 1, 3000));
	for (int round = 0; round < 3; round++) { /* interleaved, a few times */
		T_EQ_INT(is_push_raw("KEY2", pb), 1);
		T_EQ_INT(is_push_raw("KEY1", pa), 1);
	}
	T_CHECK(is_run_until(&is_sinks[0].n, 4, 3000));
	T_CHECK(is_run_until(&is_sinks[1].n, 4, 3000));
	itpeer_run_for(&is_loop, 200); /* nothing more arrives */
	T_EQ_INT(is_sinks[0].n, 4);
	T_EQ_INT(is_sinks[1].n, 4);
	T_EQ_INT(is_sinks[0].wrong, 0);
	T_EQ_INT(is_sinks[1].wrong, 0);
	T_CHECK(is_sinks[0].last_len == sizeof pa - 1 &&
	        memcmp(is_sinks[0].last, pa, sizeof pa - 1) == 0);
	T_CHECK(is_sinks[1].last_len == sizeof pb - 1 &&
	        memcmp(is_sinks[1].last, pb, sizeof pb - 1) == 0);
	T_EQ_INT(is_sess[0].st.pushes[BYBIT_T_EXECUTION], 4);
	T_EQ_INT(is_sess[1].st.pushes[BYBIT_T_EXECUTION], 4);
	T_EQ_INT(is_sess[0].st.bad_msgs + is_sess[1].st.bad_msgs, 0);
	T_EQ_INT(is_log_lines("msg=\"subscription successful\" account=alpha", NULL), 1);
	T_EQ_INT(is_log_lines("msg=\"subscription successful\" account=beta", NULL), 1);
	is_down();
}

/* A 20,000-byte message to A, whose limit is 16 KiB: A's connection ends
 * with close 1009 and a warn line naming both sizes, A reconnects; B is LIVE
 * at every loop iteration meanwhile and keeps receiving pushes and pongs. */
TEST(it_session_oversize)
{
	static char out[4096];
	static const char pb[] =
	    "{\"topic\":\"execution\",\"id\":\"b-during\",\"creationTime\":3,\"data\":[]}";
	struct bybit_session *a = &is_sess[0], *b = &is_sess[1];
	uint64_t b_pongs, b_pushes;
	int b_left_live = 0;
	long seq;
	int64_t end;

	is_up("oversize", 2, 16384);
	seq = is_peer_seq();
	b_pongs = b->st.pongs_in;
	b_pushes = is_sinks[1].n;
	itpeer_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"huge\",\"bytes\":20000}", out,
	           sizeof out);
	T_CHECK(strstr(out, "sent 20000 bytes") != NULL);
	T_CHECK(is_run_until(&a->st.reconnects, 1, 3000));
	T_CHECK(a->st.state != BYBIT_LIVE);

	/* B is served while A is away */
	T_EQ_INT(is_push_raw("KEY2", pb), 1);
	end = is_now() + 10000;
	while ((is_sinks[1].n < b_pushes + 1 || a->st.lives < 2 || b->st.pongs_in < b_pongs + 2) &&
	       is_now() < end) {
		loop_run_once(&is_loop, 50);
		b_left_live += b->st.state != BYBIT_LIVE;
	}
	T_EQ_INT(is_sinks[1].n, b_pushes + 1);
	T_CHECK(is_sinks[1].last_len == sizeof pb - 1 &&
	        memcmp(is_sinks[1].last, pb, sizeof pb - 1) == 0);
	T_CHECK(b->st.pongs_in >= b_pongs + 2);
	T_EQ_INT(b_left_live, 0);
	T_EQ_INT(b->st.reconnects, 0);
	T_EQ_INT(b->st.lives, 1);

	/* A is back, and said why it left */
	T_EQ_INT(a->st.lives, 2);
	T_EQ_INT(a->st.state, BYBIT_LIVE);
	T_EQ_INT(a->st.reconnects, 1);
	T_EQ_INT(is_log_lines("msg=\"stream lost\" account=alpha",
	                      "message larger than 16384 bytes (at least 20000)"),
	         1);
	T_EQ_INT(is_log_lines("reason=\"message too big\"", "sent close 1009"), 1);
	T_EQ_INT(is_log_lines("msg=\"stream lost\" account=beta", NULL), 0);
	T_EQ_INT(is_sinks[0].n, 0); /* the huge message was never handed on */
	T_EQ_INT(is_wait_disconnect("KEY1", seq, 2000), WS_CLOSE_TOO_BIG);
	is_down();
}

/* Fragmented messages are handed on whole and byte-exact: python3-websockets'
 * own fragmentation (16-byte pieces cut between characters), then raw 5-byte
 * frames cutting multi-byte UTF-8 characters with a ping between each. */
TEST(it_session_fragments)
{
	static char out[1 << 14];
	/* 2-, 3- and 4-byte characters (é € 😀 ✓ 中) at various offsets */
	static const char p1[] = "{\"topic\":\"execution\",\"id\":\"frag-lib\",\"creationTime\":4,"
	                         "\"data\":[],\"note\":\"h\xc3\xa9llo \xe2\x82\xac"
	                         "uro \xf0\x9f\x98\x80 ok \xe2\x9c\x93 \xe4\xb8\xad\"}";
	static const char p2[] = "{\"topic\":\"execution\",\"id\":\"frag-raw\",\"creationTime\":5,"
	                         "\"data\":[],\"note\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	                         "a\xf0\x9f\x98\x80\xe4\xb8\xad\xc3\xa9"
	                         "b\xe2\x82\xac\xe2\x82\xac\"}";
	struct bybit_session *a = &is_sess[0];
	uint64_t pings;
	long seq;

	is_up("fragments", 1, 0);
	seq = is_peer_seq();

	itpeer_ctl("misbehave",
	           "{\"account\":\"KEY1\",\"action\":\"fragment\",\"size\":16,\"mode\":\"lib\","
	           "\"count\":1}",
	           out, sizeof out);
	T_EQ_INT(is_push_raw("KEY1", p1), 1);
	T_CHECK(is_run_until(&is_sinks[0].n, 1, 3000));
	T_EQ_INT(is_sinks[0].last_len, sizeof p1 - 1);
	T_CHECK(is_sinks[0].last_len == sizeof p1 - 1 &&
	        memcmp(is_sinks[0].last, p1, sizeof p1 - 1) == 0);

	pings = a->ws.pings_in;
	itpeer_ctl("misbehave",
	           "{\"account\":\"KEY1\",\"action\":\"fragment\",\"size\":5,\"mode\":\"raw\","
	           "\"ping_between\":true,\"count\":1}",
	           out, sizeof out);
	T_EQ_INT(is_push_raw("KEY1", p2), 1);
	T_CHECK(is_run_until(&is_sinks[0].n, 2, 3000));
	T_EQ_INT(is_sinks[0].last_len, sizeof p2 - 1);
	T_CHECK(is_sinks[0].last_len == sizeof p2 - 1 &&
	        memcmp(is_sinks[0].last, p2, sizeof p2 - 1) == 0);
	/* one ping between every two of the ceil(len / 5) frames, each answered */
	T_EQ_INT(a->ws.pings_in - pings, (sizeof p2 - 1 + 4) / 5 - 1);

	/* the peer really fragmented both */
	is_events("sent_fragmented", "KEY1", seq, out, sizeof out);
	T_CHECK(strstr(out, "\"mode\":\"lib\"") != NULL);
	T_CHECK(strstr(out, "\"mode\":\"raw\"") != NULL);
	T_EQ_INT(is_json_last(out, "frames", 0), (long)((sizeof p2 - 1 + 4) / 5));
	T_EQ_INT(a->st.reconnects, 0);
	T_EQ_INT(a->st.bad_msgs, 0);
	T_EQ_INT(itpeer_counter("ws_bad_in", NULL), 0); /* the pongs were well-formed */
	is_down();
}

/* One bad certificate (for new connections; drop: make A make one): the
 * next connection attempt fails in the TLS handshake with why in the log;
 * the peer saw no WebSocket upgrade and no message. The backoff is reset
 * only to keep the test short (it_bybit and test_bybit cover it). */
static void is_bad_cert(const char *which, const char *why, int drop)
{
	struct bybit_session *a = &is_sess[0];
	char body[128], out[1024];
	long fails, connects, msgs, auths;
	uint64_t lives;
	int logged;

	snprintf(body, sizeof body, "{\"which\":\"%s\"}", which);
	itpeer_ctl("cert", body, out, sizeof out);
	T_CHECK(strstr(out, which) != NULL);
	if (drop) {
		itpeer_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"drop\"}", out,
		           sizeof out);
		T_CHECK(is_run_until(&a->st.reconnects, a->st.reconnects + 1, 2000));
	}
	/* A's next attempt is >= 0.5 s away: time to read the counters */
	fails = itpeer_counter("tls_fail", NULL);
	connects = itpeer_counter("connects", NULL);
	msgs = itpeer_counter("ws_msgs_in", NULL);
	auths = itpeer_counter("auth_ok", NULL) + itpeer_counter("auth_fail", NULL);
	lives = a->st.lives;
	logged = is_log_lines("reason=tls", why);
	bybit_backoff_reset(&a->backoff); /* the failure below waits 0.5..1 s after */
	T_CHECK(is_wait_peer("tls_fail", NULL, fails + 1, 4000) >= fails + 1);
	/* the session's side of the same failure */
	for (int64_t end = is_now() + 2000;
	     is_log_lines("reason=tls", why) == logged && is_now() < end;)
		loop_run_once(&is_loop, 50);
	/* (a retry before the next switch may have failed the same way) */
	T_CHECK(is_log_lines("msg=\"stream lost\" account=alpha state=tls reason=tls", why) >
	        logged);
	T_EQ_INT(itpeer_counter("connects", NULL), connects);
	T_EQ_INT(itpeer_counter("ws_msgs_in", NULL), msgs);
	T_EQ_INT(itpeer_counter("auth_ok", NULL) + itpeer_counter("auth_fail", NULL), auths);
	T_EQ_INT(a->st.lives, lives);
	T_CHECK(a->st.state != BYBIT_LIVE);
}

/* Untrusted, expired and wrong-host certificates, each refused with its
 * reason; then a good one and the session is LIVE again on its own. */
TEST(it_session_bad_certs)
{
	static char out[1 << 15];
	struct bybit_session *a = &is_sess[0];
	long seq;

	is_up("bad_certs", 1, 0);
	seq = is_peer_seq();
	is_bad_cert("untrusted", "certificate not trusted", 1);
	is_bad_cert("expired", "certificate expired or not yet valid", 0);
	is_bad_cert("wronghost", "certificate does not match the server name", 0);

	/* the peer recorded each refusal, by certificate */
	is_events("tls_fail", NULL, seq, out, sizeof out);
	T_CHECK(strstr(out, "\"cert\":\"untrusted-ec\"") != NULL);
	T_CHECK(strstr(out, "\"cert\":\"expired-ec\"") != NULL);
	T_CHECK(strstr(out, "\"cert\":\"wronghost-ec\"") != NULL);
	is_events("connect", NULL, seq, out, sizeof out);
	T_CHECK(strstr(out, "\"type\":\"connect\"") == NULL); /* no upgrade since the drop */

	itpeer_ctl("cert", "{\"which\":\"good\"}", out, sizeof out);
	T_CHECK(is_run_until(&a->st.lives, 2, 6000));
	T_EQ_INT(a->st.state, BYBIT_LIVE);
	T_EQ_INT(itpeer_counter("auth_ok", "KEY1"), 2);
	is_down();
}

/* Sets the peer's clock skew, waits for a pong that shows it, then makes A
 * reconnect; the new auth must be accepted with expires ~BYBIT_AUTH_AHEAD_MS
 * ahead of the peer's clock (without the correction it would be 8 s minus
 * the skew). */
static void is_skew(long skew_ms, uint64_t auth_ok)
{
	struct bybit_session *a = &is_sess[0];
	static char out[1 << 14];
	char body[64];
	long seq, ahead;
	int64_t end;

	snprintf(body, sizeof body, "{\"skew_ms\":%ld}", skew_ms);
	itpeer_ctl("clock", body, out, sizeof out);
	end = is_now() + 4000;
	while ((a->clock->offset_ms < skew_ms - 300 || a->clock->offset_ms > skew_ms + 300) &&
	       is_now() < end)
		loop_run_once(&is_loop, 50);
	T_CHECK(a->clock->offset_ms > skew_ms - 300 && a->clock->offset_ms < skew_ms + 300);
	T_CHECK(bybit_exchange_now_ms(a) - loop_sys_real.wall_ms(loop_sys_real.ctx) >
	        skew_ms - 300);

	seq = is_peer_seq();
	bybit_backoff_reset(&a->backoff); /* keep the test short */
	itpeer_ctl("misbehave", "{\"account\":\"KEY1\",\"action\":\"drop\"}", out, sizeof out);
	T_CHECK(is_run_until(&a->st.lives, auth_ok, 4000));
	T_EQ_INT(itpeer_counter("auth_ok", "KEY1"), auth_ok);
	T_EQ_INT(itpeer_counter("auth_fail", "KEY1"), 0);
	is_events("auth", "KEY1", seq, out, sizeof out);
	T_CHECK(strstr(out, "\"ok\":true") != NULL);
	ahead = is_json_last(out, "expires_minus_now_ms", -1);
	T_CHECK(ahead > BYBIT_AUTH_AHEAD_MS - 500 && ahead <= BYBIT_AUTH_AHEAD_MS + 100);
	if (!(ahead > BYBIT_AUTH_AHEAD_MS - 500 && ahead <= BYBIT_AUTH_AHEAD_MS + 100))
		printf("    skew %ld: expires_minus_now_ms %ld\n", skew_ms, ahead);
}

/* The peer's clock 3 s ahead, then 3 s behind: auth accepted after a
 * reconnect, its expiry computed on the exchange's clock learned from
 * pongs. The peer refuses an expires more than 9.5 s ahead, so 3 s behind
 * without the correction (11 s ahead) would fail. */
TEST(it_session_clock_skew)
{
	char out[1024];

	is_up("clock_skew", 1, 0);
	itpeer_ctl("config", "{\"auth_max_ahead_ms\":9500}", out, sizeof out);
	T_CHECK(strstr(out, "\"auth_max_ahead_ms\":9500") != NULL);
	is_skew(3000, 2);
	is_skew(-3000, 3);
	T_EQ_INT(is_sess[0].st.auth_failures, 0);
	T_CHECK(is_log_lines("msg=\"exchange clock offset\" account=alpha", "offset_ms=") >= 2);
	is_down();
}

/* ---- arena_flat: pushes through a control connection of our own ------------ */

/* itpeer_ctl runs curl through popen, which allocates; while allocations are
 * counted the control requests go over a plain socket instead. */
struct is_ctl {
	int fd;
	int done;
	char answer[4096];
	size_t len;
};

static int is_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends POST /name with body (Connection: close) and leaves the answer to
 * is_ctl_poll. 0 or -1. */
static int is_ctl_send(struct is_ctl *c, const char *name, const char *body, size_t n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char head[256];
	int hn;

	c->done = 0;
	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	sa.sin_port = htons((uint16_t)itpeer.ctl_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hn = snprintf(head, sizeof head,
	              "POST /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
	              "Connection: close\r\n\r\n",
	              name, n);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    is_write_all(c->fd, head, (size_t)hn) != 0 || is_write_all(c->fd, body, n) != 0 ||
	    fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

/* Reads what the answer has ready; 1 once it is complete (the peer closed). */
static int is_ctl_poll(struct is_ctl *c)
{
	while (!c->done) {
		ssize_t r = read(c->fd, c->answer + c->len, sizeof c->answer - 1 - c->len);

		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r > 0) {
			c->len += (size_t)r;
			c->answer[c->len] = '\0';
			if (c->len < sizeof c->answer - 1)
				continue;
		}
		c->done = 1;
		close(c->fd);
		c->fd = -1;
	}
	return 1;
}

static uint64_t is_mallocs; /* ASan flavour: every malloc of the process */
#ifdef __SANITIZE_ADDRESS__
static void is_malloc_hook(const volatile void *p, size_t n)
{
	(void)p;
	(void)n;
	is_mallocs++;
}
static void is_free_hook(const volatile void *p)
{
	(void)p;
}
#endif

/* Allocations so far: the process arena's and its boot arena's (the product
 * build's malloc), plus ASan's count where the arena is not the allocator. */
static uint64_t is_allocs(void)
{
	struct arena_stats main_st, boot_st;

	arena_process_stats(&main_st, &boot_st);
	return main_st.allocs + boot_st.allocs + is_mallocs;
}

#define IS_BATCH 500
#define IS_MESSAGES 10000

/* Pushes IS_BATCH payloads to KEY1 in one control request and runs the loop
 * until A has them all and the peer has answered. Allocates nothing. */
static int is_push_batch(int first)
{
	static char body[IS_BATCH * 96 + 64];
	static struct is_ctl ctl;
	size_t n = 0;
	uint64_t want = is_sinks[0].n + IS_BATCH;
	int64_t end = is_now() + 10000;

	n += (size_t)snprintf(body, sizeof body, "{\"account\":\"KEY1\",\"payloads\":[");
	for (int i = 0; i < IS_BATCH; i++)
		n += (size_t)snprintf(body + n, sizeof body - n,
		                      "%s{\"topic\":\"order\",\"id\":\"m%d\",\"creationTime\":%d,"
		                      "\"data\":[]}",
		                      i ? "," : "", first + i, first + i);
	n += (size_t)snprintf(body + n, sizeof body - n, "]}");
	if (n >= sizeof body || is_ctl_send(&ctl, "push", body, n) != 0)
		return -1;
	while ((is_sinks[0].n < want || !is_ctl_poll(&ctl)) && is_now() < end)
		loop_run_once(&is_loop, 20);
	if (!ctl.done) {
		close(ctl.fd);
		return -1;
	}
	return is_sinks[0].n == want && strstr(ctl.answer, "\"delivered\":1") ? 0 : -1;
}

/* No allocation while 10,000 messages are received, decoded and handed on.
 * Product build: the arena is the process allocator, so its counter covers
 * every malloc (ours, wslay's, libc's). ASan build: the system allocator
 * stays, and ASan's malloc hook counts every malloc of the process instead.
 * Either way the test's own control traffic allocates nothing (no popen,
 * no stdio) while counting. */
TEST(it_session_arena_flat)
{
	struct bybit_session *a = &is_sess[0];
	uint64_t before, after, pings;
	int first = 0, failed = 0;

#ifdef __SANITIZE_ADDRESS__
	static int hooked;
	if (!hooked)
		T_REQUIRE(__sanitizer_install_malloc_and_free_hooks(is_malloc_hook, is_free_hook) !=
		          0);
	hooked = 1;
	T_CHECK(!arena_is_process_allocator());
#else
	T_CHECK(arena_is_process_allocator()); /* else this test would prove nothing */
#endif
	is_up("arena_flat", 1, 0);
	/* warm up: first batch, a ping round trip */
	T_REQUIRE(is_push_batch(first) == 0);
	first += IS_BATCH;
	T_CHECK(is_run_until(&a->st.pongs_in, a->st.pongs_in + 1, 3000));

	/* the counter sees an allocation when there is one */
	before = is_allocs();
	{
		char *volatile p = malloc(64);

		free(p);
	}
	T_CHECK(is_allocs() > before);

	pings = a->st.pings_out;
	before = is_allocs();
	for (int b = 0; b < IS_MESSAGES / IS_BATCH && !failed; b++, first += IS_BATCH)
		failed = is_push_batch(first) != 0;
	itpeer_run_for(&is_loop, IS_PING_MS + 200); /* a ping round trip inside the window */
	after = is_allocs();

	T_EQ_INT(failed, 0);
	T_EQ_INT(is_sinks[0].n, IS_BATCH + IS_MESSAGES);
	T_EQ_INT(after, before);
	T_EQ_INT(a->st.pushes[BYBIT_T_ORDER], IS_BATCH + IS_MESSAGES);
	T_EQ_INT(a->st.bad_msgs, 0);
	T_EQ_INT(a->st.reconnects, 0);
	T_CHECK(is_sinks[0].last_len > 0 && strstr(is_sinks[0].last, "\"id\":\"m10499\"") != NULL);
	T_CHECK(a->st.pings_out > pings);
	printf("    %d messages, allocations %llu -> %llu, pings meanwhile %llu\n", IS_MESSAGES,
	       (unsigned long long)before, (unsigned long long)after,
	       (unsigned long long)(a->st.pings_out - pings));
	is_down();
}

/* bybit_stop says goodbye: the peer receives close 1000 "shutdown". */
TEST(it_session_stop)
{
	static char out[1 << 14];
	long seq;

	is_up("stop", 1, 0);
	seq = is_peer_seq();
	bybit_stop(&is_sess[0]);
	T_EQ_INT(is_sess[0].st.state, BYBIT_IDLE);
	T_EQ_INT(is_sess[0].fd, -1);
	T_EQ_INT(is_wait_disconnect("KEY1", seq, 3000), WS_CLOSE_NORMAL);
	is_events("disconnect", "KEY1", seq, out, sizeof out);
	T_CHECK(strstr(out, "\"reason\":\"shutdown\"") != NULL);
	bybit_stop(&is_sess[0]); /* idempotent */
	T_EQ_INT(is_sess[0].st.state, BYBIT_IDLE);
	T_EQ_INT(bybit_resume(&is_sess[0]), FR_EINVAL);
	is_down();
}

/* A gated session authenticates and waits unsubscribed: the peer delivers it
 * no push, it pings through several silence timeouts without a reconnect,
 * and bybit_open_gate subscribes it; pushes flow from then on. */
TEST(it_session_gate)
{
	static const char push[] =
	    "{\"topic\":\"execution\",\"id\":\"g1\",\"creationTime\":1,\"data\":[]}";

	is_gate = 1;
	is_up("gate", 1, 0);
	is_gate = 0;
	T_EQ_INT(is_sess[0].st.state, BYBIT_GATED);
	T_EQ_STR(bybit_state_name(BYBIT_GATED), "gated");
	T_EQ_INT(itpeer_counter("auth_ok", "KEY1"), 1);
	T_EQ_INT(itpeer_counter("subscribed_open", NULL), 0);
	T_EQ_INT(is_push_raw("KEY1", push), 0);
	/* 2.5 silence timeouts: only the pings' pongs keep the watchdog quiet */
	itpeer_run_for(&is_loop, IS_SILENCE_MS * 5 / 2);
	T_EQ_INT(is_sess[0].st.state, BYBIT_GATED);
	T_EQ_INT(is_sess[0].st.reconnects, 0);
	T_EQ_INT(is_sess[0].st.watchdog_fires, 0);
	T_CHECK(is_sess[0].st.pongs_in >= 3);
	T_EQ_INT(is_sinks[0].n, 0);
	T_EQ_INT(is_sess[0].st.lives, 0);

	T_EQ_INT(bybit_open_gate(&is_sess[0]), 0);
	T_REQUIRE(is_run_until(&is_sess[0].st.lives, 1, 5000));
	T_EQ_INT(is_sess[0].st.state, BYBIT_LIVE);
	T_EQ_INT(bybit_open_gate(&is_sess[0]), FR_EINVAL);
	T_EQ_INT(itpeer_counter("subscribed_open", NULL), 1);
	T_EQ_INT(is_push_raw("KEY1", push), 1);
	T_REQUIRE(is_run_until(&is_sinks[0].n, 1, 3000));
	T_CHECK(is_sinks[0].last_len == strlen(push) && memcmp(is_sinks[0].last, push, strlen(push)) == 0);
	T_EQ_INT(is_sess[0].st.gates, 1);
	is_down();
}

/* on_push refuses the 3rd of 5 messages: the connection is closed (1013),
 * messages 4 and 5 are not handed on, the session holds without
 * reconnecting until bybit_resume, then is LIVE again at once. */
TEST(it_session_backpressure)
{
	static char out[1 << 14];
	struct bybit_session *a = &is_sess[0];
	static const char last_ok[] =
	    "{\"topic\":\"order\",\"id\":\"b3\",\"creationTime\":3,\"data\":[]}";
	long seq, connects;
	uint64_t attempts, lives;
	int64_t backoff, t0;

	is_up("backpressure", 1, 0);
	T_EQ_INT(bybit_resume(a), FR_EINVAL); /* not held */
	seq = is_peer_seq();
	is_sinks[0].refuse_n = 3;
	itpeer_ctl("push",
	           "{\"account\":\"KEY1\",\"payloads\":["
	           "{\"topic\":\"order\",\"id\":\"b1\",\"creationTime\":1,\"data\":[]},"
	           "{\"topic\":\"order\",\"id\":\"b2\",\"creationTime\":2,\"data\":[]},"
	           "{\"topic\":\"order\",\"id\":\"b3\",\"creationTime\":3,\"data\":[]},"
	           "{\"topic\":\"order\",\"id\":\"b4\",\"creationTime\":4,\"data\":[]},"
	           "{\"topic\":\"order\",\"id\":\"b5\",\"creationTime\":5,\"data\":[]}]}",
	           out, sizeof out);
	T_CHECK(is_run_until(&a->st.holds, 1, 3000));
	T_EQ_INT(a->st.state, BYBIT_HELD);
	T_EQ_STR(bybit_state_name(a->st.state), "held");
	T_EQ_INT(is_sinks[0].refused, 1);
	T_EQ_INT(is_sinks[0].n, 3);   /* b1, b2, b3 (refused); b4 and b5 never */
	T_CHECK(a->st.withheld <= 2); /* b4, b5 if they came in the same read */
	T_CHECK(is_sinks[0].last_len == sizeof last_ok - 1 &&
	        memcmp(is_sinks[0].last, last_ok, sizeof last_ok - 1) == 0);
	T_EQ_INT(a->fd, -1);
	T_EQ_INT(
	    is_log_lines("level=warn msg=\"sink full, closing the stream\" account=alpha", NULL),
	    1);
	T_EQ_INT(is_wait_disconnect("KEY1", seq, 2000), BYBIT_CLOSE_HOLD);

	/* held: no reconnect for 3 s */
	connects = itpeer_counter("connects", NULL);
	attempts = a->st.connects;
	backoff = a->st.last_backoff_ms;
	itpeer_run_for(&is_loop, 3000);
	T_EQ_INT(a->st.state, BYBIT_HELD);
	T_EQ_INT(a->st.connects, attempts);
	T_EQ_INT(itpeer_counter("connects", NULL), connects);
	T_EQ_INT(is_sinks[0].n, 3);
	T_EQ_INT(a->st.reconnects, 0); /* a hold is not a lost connection */
	T_EQ_INT(is_log_lines("sink full", NULL), 1);

	/* resumed: connecting at once, no backoff wait */
	lives = a->st.lives;
	t0 = is_now();
	T_EQ_INT(bybit_resume(a), 0);
	T_CHECK(a->st.state != BYBIT_HELD && a->st.state != BYBIT_BACKOFF);
	T_CHECK(is_run_until(&a->st.lives, lives + 1, 3000));
	T_CHECK(is_now() - t0 < 1000);
	T_EQ_INT(a->st.last_backoff_ms, backoff);
	T_EQ_INT(itpeer_counter("connects", NULL), connects + 1);
	T_EQ_INT(bybit_resume(a), FR_EINVAL);

	/* the sink takes pushes again */
	T_EQ_INT(is_push_raw(
	             "KEY1",
	             "{\"topic\":\"execution\",\"id\":\"after\",\"creationTime\":6,\"data\":[]}"),
	         1);
	T_CHECK(is_run_until(&is_sinks[0].n, 4, 3000));
	T_EQ_INT(a->st.holds, 1);
	is_down();
}
