/*
 * verb_check.c -- `fillrelay check --connect`. See verb_check.h.
 *
 * One account at a time on one loop: REST market time, then the key query
 * and the stream side by side, until both have an answer or the account's
 * time is up. Everything lives in static storage and is reused for the
 * next account.
 */
#define _GNU_SOURCE
#include "verb_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "bybit.h"
#include "log.h"
#include "loop.h"
#include "pem.h"
#include "resolv.h"
#include "rest.h"
#include "xclock.h"

#define CHECK_TEXT_MAX 384   /* one part of an account's line */
#define CHECK_KEY_TOKENS 512 /* query-api's result has about 80 tokens */

/* What one account's check found. */
struct check_acct {
	const struct cfg_account *acct;
	int64_t end_mono_ms;
	int time_done, key_done, stream_done;
	int rest_ok, stream_ok;
	int64_t offset_ms;
	int offset_known;
	char rest[CHECK_TEXT_MAX]; /* what follows "rest ok (" / "rest FAILED (" */
	char stream[CHECK_TEXT_MAX];
};

static struct loop check_loop;
static struct resolv check_resolv;
static struct pem_ta_store check_anchors;
static struct xclock check_clock;
static struct rest_client check_rest;
static struct bybit_session check_stream;
static jsmntok_t check_toks[CHECK_KEY_TOKENS];

static int64_t check_now(void)
{
	return check_loop.sys->mono_ms(check_loop.sys->ctx);
}

static int64_t check_left_ms(const struct check_acct *a)
{
	int64_t left = a->end_mono_ms - check_now();

	return left > 1 ? left : 1;
}

/* Copies s into out with every occurrence of the account's key and secret
 * replaced: Bybit's 10004 retMsg quotes the signed string, key included. */
static void check_redact(const struct cfg_account *acct, const char *s, char *out, size_t cap)
{
	const char *secrets[2] = {acct->api_key.value, acct->api_secret.value};
	size_t n = 0;

	while (*s && n + 1 < cap) {
		size_t k = 0;

		for (int i = 0; i < 2 && !k; i++)
			if (secrets[i][0] && strncmp(s, secrets[i], strlen(secrets[i])) == 0)
				k = strlen(secrets[i]);
		if (k) {
			int w = snprintf(out + n, cap - n, "%s", LOG_REDACTED);

			n = w < 0 || (size_t)w >= cap - n ? cap - 1 : n + (size_t)w;
			s += k;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
}

/* ---- the key's information (/v5/user/query-api) -------------------------- */

static int check_tok_is(const char *js, const jsmntok_t *t, const char *s)
{
	size_t n = strlen(s);

	return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
	       memcmp(js + t->start, s, n) == 0;
}

/* The value token of key in the object at index obj, or -1. */
static int check_field(const char *js, int ntok, int obj, const char *key)
{
	for (int i = obj + 1; i + 1 < ntok; i++)
		if (check_toks[i].parent == obj && check_tok_is(js, &check_toks[i], key))
			return i + 1;
	return -1;
}

/* "read-only, expires 2026-01-01T00:00:00Z" from the answer's result. */
static void check_key_info(const char *body, size_t len, char *out, size_t cap)
{
	jsmn_parser p;
	int n, res, ro, exp;

	jsmn_init(&p);
	n = jsmn_parse(&p, body, len, check_toks, CHECK_KEY_TOKENS);
	res = n > 0 && check_toks[0].type == JSMN_OBJECT ? check_field(body, n, 0, "result") : -1;
	if (res < 0 || check_toks[res].type != JSMN_OBJECT) {
		snprintf(out, cap, "key information unreadable");
		return;
	}
	ro = check_field(body, n, res, "readOnly");
	exp = check_field(body, n, res, "expiredAt");
	if (ro < 0 || check_toks[ro].type != JSMN_PRIMITIVE)
		snprintf(out, cap, "read-only unknown");
	else if (body[check_toks[ro].start] == '1')
		snprintf(out, cap, "read-only");
	else
		snprintf(out, cap, "read-write: more than fillrelay needs");
	if (exp >= 0 && check_toks[exp].type == JSMN_STRING &&
	    check_toks[exp].end > check_toks[exp].start) {
		size_t k = strlen(out);

		snprintf(out + k, cap - k, ", expires %.*s",
		         (int)(check_toks[exp].end - check_toks[exp].start) > 40
		             ? 40
		             : check_toks[exp].end - check_toks[exp].start,
		         body + check_toks[exp].start);
	}
}

/* ---- REST callbacks ------------------------------------------------------ */

static void check_failed_text(struct check_acct *a, const char *what, const struct rest_result *r)
{
	char msg[REST_MSG_MAX];

	check_redact(a->acct, r->ret_msg, msg, sizeof msg);
	if (r->ret_code > 0)
		snprintf(a->rest, sizeof a->rest, "%s: retCode %" PRId64 ": %s", what, r->ret_code,
		         msg);
	else
		snprintf(a->rest, sizeof a->rest, "%s: %s%s", what,
		         r->outcome == REST_DEADLINE ? "no answer in time: " : "", msg);
}

static void check_on_key(void *ctx, struct rest_client *c, const struct rest_result *r)
{
	struct check_acct *a = ctx;
	char info[CHECK_TEXT_MAX / 2];

	(void)c;
	a->key_done = 1;
	if (r->outcome != REST_OK) {
		check_failed_text(a, "key refused", r);
		return;
	}
	check_key_info(r->body, r->body_len, info, sizeof info);
	a->rest_ok = 1;
	snprintf(a->rest, sizeof a->rest, "key works, %s, clock offset %+" PRId64 " ms", info,
	         check_clock.offset_ms);
}

static void check_start_stream(struct check_acct *a)
{
	if (bybit_start(&check_stream) != 0) {
		a->stream_done = 1;
		snprintf(a->stream, sizeof a->stream, "could not start");
	}
}

static void check_on_time(void *ctx, struct rest_client *c, const struct rest_result *r)
{
	struct check_acct *a = ctx;
	int rc;

	a->time_done = 1;
	a->offset_known = check_clock.known;
	a->offset_ms = check_clock.offset_ms;
	check_start_stream(a);
	if (r->outcome != REST_OK) {
		check_failed_text(a, "market time", r);
		a->key_done = 1; /* the endpoint does not answer: the key cannot be judged */
		return;
	}
	rc = rest_get(c, "/v5/user/query-api", NULL, 0, 1, check_left_ms(a), check_on_key, a);
	if (rc != 0) {
		a->key_done = 1;
		snprintf(a->rest, sizeof a->rest, "key query not sent: %s", err_str(rc));
	}
}

/* ---- the stream ---------------------------------------------------------- */

static void check_topics(unsigned topics, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned bit = 1; bit <= CFG_TOPIC_WALLET; bit <<= 1) {
		int w;

		if (!(topics & bit))
			continue;
		w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", cfg_topic_name(bit));
		if (w < 0 || (size_t)w >= cap - n)
			return;
		n += (size_t)w;
	}
}

/* Looks at the session after each loop iteration. */
static void check_stream_poll(struct check_acct *a)
{
	const struct bybit_status *st = &check_stream.st;
	char msg[BYBIT_ERRMSG_MAX], topics[64];

	if (a->stream_done || !a->time_done)
		return;
	if (st->lives > 0) {
		check_topics(a->acct->ep.topics, topics, sizeof topics);
		snprintf(a->stream, sizeof a->stream, "authenticated, subscribed %s", topics);
		a->stream_ok = a->stream_done = 1;
	} else if (st->auth_failures > 0 || st->sub_failures > 0) {
		check_redact(a->acct, check_stream.fail_why, msg, sizeof msg);
		snprintf(a->stream, sizeof a->stream, "%s", msg);
		a->stream_done = 1;
	}
}

static void check_stream_timeout(struct check_acct *a)
{
	const struct bybit_status *st = &check_stream.st;

	snprintf(a->stream, sizeof a->stream,
	         "not live within %d s (state %s, %" PRIu64 " connection attempt%s)",
	         CHECK_ACCOUNT_MS / 1000, bybit_state_name(st->state), st->connects,
	         st->connects == 1 ? "" : "s");
}

/* ---- one account --------------------------------------------------------- */

static int check_setup(struct check_acct *a, const struct cfg *c)
{
	const struct cfg_account *acct = a->acct;
	int rc;

	pem_ta_init(&check_anchors);
	if (pem_ta_load_file(&check_anchors, acct->ep.ca_file) < 1) {
		snprintf(a->rest, sizeof a->rest, "ca_file %s: %s", acct->ep.ca_file,
		         pem_ta_errmsg(&check_anchors)[0] ? pem_ta_errmsg(&check_anchors)
		                                          : "no CA certificate");
		snprintf(a->stream, sizeof a->stream, "not tried");
		return -1;
	}
	xclock_init(&check_clock, acct->name);
	rc = rest_init(&check_rest, &check_loop, &check_resolv, &check_anchors, acct,
	               c->exchange.recv_window_ms, &check_clock);
	if (rc == 0)
		rc = bybit_init(&check_stream, &check_loop, &check_resolv, &check_anchors, acct,
		                c->exchange.ping_interval_ms, c->exchange.silence_timeout_ms, NULL,
		                NULL, NULL);
	if (rc != 0) {
		snprintf(a->rest, sizeof a->rest, "cannot use the endpoints: %s", err_str(rc));
		snprintf(a->stream, sizeof a->stream, "not tried");
		return -1;
	}
	bybit_share_clock(&check_stream, &check_clock);
	return 0;
}

static void check_run(struct check_acct *a)
{
	/* A third of the time at most, so that the stream still gets its turn
	 * when the REST endpoint does not answer. */
	int rc = rest_get(&check_rest, "/v5/market/time", NULL, 0, 0, CHECK_ACCOUNT_MS / 3,
	                  check_on_time, a);

	if (rc != 0) {
		snprintf(a->rest, sizeof a->rest, "market time not sent: %s", err_str(rc));
		a->time_done = a->key_done = 1;
		check_start_stream(a);
	}
	while (!(a->key_done && a->stream_done) && check_now() < a->end_mono_ms &&
	       !check_loop.stopping) {
		if (loop_run_once(&check_loop, 100) < 0)
			break;
		check_stream_poll(a);
	}
	if (!a->key_done)
		snprintf(a->rest, sizeof a->rest, "no answer within %d s", CHECK_ACCOUNT_MS / 1000);
	if (!a->stream_done)
		check_stream_timeout(a);
	bybit_stop(&check_stream);
	rest_close(&check_rest);
}

static int check_account(const struct cfg *c, const struct cfg_account *acct)
{
	static struct check_acct a;

	memset(&a, 0, sizeof a);
	a.acct = acct;
	a.end_mono_ms = check_now() + CHECK_ACCOUNT_MS;
	if (check_setup(&a, c) == 0)
		check_run(&a);
	printf("account %s: rest %s (%s), stream %s (%s)\n", acct->name,
	       a.rest_ok ? "ok" : "FAILED", a.rest, a.stream_ok ? "ok" : "FAILED", a.stream);
	fflush(stdout);
	return a.rest_ok && a.stream_ok ? 0 : -1;
}

/* see verb_check.h */
int verb_check_connect(const struct cfg *c)
{
	int failed = 0;

	loop_init(&check_loop, &loop_sys_real);
	if (loop_signals_install(&check_loop, NULL, NULL) != 0 ||
	    resolv_init(&check_resolv, &check_loop, NULL, NULL) != 0) {
		fprintf(stderr, "fillrelay check --connect: cannot set up the event loop or the "
		                "resolver\n");
		return EX_OSERR;
	}
	for (int i = 0; i < c->accounts_n && !check_loop.stopping; i++)
		failed += check_account(c, &c->accounts[i]) != 0;
	printf("postgres, redis: not checked yet (the sinks arrive in a later version)\n");
	resolv_close(&check_resolv);
	loop_signals_remove(&check_loop);
	return failed || check_loop.stopping ? EX_UNAVAILABLE : EX_OK;
}
