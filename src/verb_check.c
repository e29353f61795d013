/*
 * verb_check.c -- `fillrelay check --connect`. See verb_check.h.
 *
 * One account at a time on one loop: REST market time, then the key query
 * and the stream side by side, until both have an answer or the account's
 * time is up. Everything lives in static storage and is reused for the
 * next account. Then PostgreSQL (pg.h: a non-blocking connect through the
 * loop and the resolver, then a blocking connection for two queries) and
 * Redis (hiredis' blocking API with timeouts: check is a one-shot command,
 * not the service loop).
 */
#define _GNU_SOURCE
#include "verb_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>

#include <hiredis/hiredis.h>

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "bybit.h"
#include "log.h"
#include "loop.h"
#include "pem.h"
#include "pg.h"
#include "resolv.h"
#include "rest.h"
#include "schema.h"
#include "xclock.h"

#define CHECK_TEXT_MAX 384   /* one part of an account's line */
#define CHECK_KEY_TOKENS 512 /* query-api's result has about 80 tokens */
#define CHECK_SCAN_ROUNDS 64 /* SCAN calls per Redis db looking for a heartbeat */
#define CHECK_SCAN_COUNT "1000"
#define CHECK_REDIS_MAXBUF (16 * 1024) /* hiredis' idle reader buffer (STYLE.md) */
#define CHECK_HEARTBEAT_MATCH "fillrelay:heartbeat:*"

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
static struct pg check_pg;
static const struct cfg *check_cfg;

static int64_t check_now(void)
{
	return check_loop.sys->mono_ms(check_loop.sys->ctx);
}

static int64_t check_left_ms(const struct check_acct *a)
{
	int64_t left = a->end_mono_ms - check_now();

	return left > 1 ? left : 1;
}

/* Copies s into out with every occurrence of a secret of the configuration
 * (keys, api secrets, passwords) replaced: Bybit's 10004 retMsg quotes the
 * signed string, key included, and a server's error may echo what it got. */
static void check_redact(const char *s, char *out, size_t cap)
{
	const char *secrets[CFG_SECRETS_MAX];
	int m = cfg_secrets(check_cfg, secrets, CFG_SECRETS_MAX);
	size_t n = 0;

	if (m > CFG_SECRETS_MAX)
		m = CFG_SECRETS_MAX;
	while (*s && n + 1 < cap) {
		size_t k = 0;

		for (int i = 0; i < m && !k; i++)
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

	check_redact(r->ret_msg, msg, sizeof msg);
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
		check_redact(check_stream.fail_why, msg, sizeof msg);
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

/* ---- PostgreSQL and Redis ------------------------------------------------ */

/* The outcome of one sink's check: "postgres: ok (TEXT)" or "FAILED (TEXT)". */
struct check_sink {
	int ok;
	char text[CHECK_TEXT_MAX];
};

static void check_line(const char *name, const struct check_sink *k)
{
	char text[CHECK_TEXT_MAX];

	check_redact(k->text, text, sizeof text);
	printf("%s: %s (%s)\n", name, k->ok ? "ok" : "FAILED", text);
	fflush(stdout);
}

/* Appends to k's text (cut at its end). */
__attribute__((format(printf, 2, 3))) static void check_add(struct check_sink *k, const char *fmt,
                                                            ...)
{
	size_t n = strlen(k->text);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->text + n, sizeof k->text - n, fmt, ap);
	va_end(ap);
}

/* The loop until *done, the deadline or a signal. */
static void check_wait(const int *done, int64_t end_mono_ms)
{
	while (!*done && check_now() < end_mono_ms && !check_loop.stopping)
		if (loop_run_once(&check_loop, 100) < 0)
			break;
}

/* ---- PostgreSQL ---------------------------------------------------------- */

struct check_pg_info {
	char version[64], db[64], user[64];
	int have_table; /* trading.schema_version exists */
	long schema;    /* its max(version) */
};

static void check_on_pg_event(void *arg, struct pg *p, enum pg_event ev)
{
	(void)p;
	if (ev == PG_EV_CONNECTED || ev == PG_EV_FAILED)
		*(int *)arg = 1;
}

/* "15.18 (Debian 15.18-0+deb12u1)" -> "15.18" */
static void check_first_word(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%.*s", (int)strcspn(src ? src : "?", " "), src ? src : "?");
}

static int check_pg_row(void *arg, int ncols, const char *const *v)
{
	struct check_pg_info *i = arg;

	if (ncols != 4)
		return FR_EPROTO;
	check_first_word(i->version, sizeof i->version, v[0]);
	snprintf(i->db, sizeof i->db, "%s", v[1] ? v[1] : "?");
	snprintf(i->user, sizeof i->user, "%s", v[2] ? v[2] : "?");
	i->have_table = v[3] && v[3][0] == 't';
	return 0;
}

static int check_pg_schema_row(void *arg, int ncols, const char *const *v)
{
	if (ncols != 1 || !v[0])
		return FR_EPROTO;
	((struct check_pg_info *)arg)->schema = strtol(v[0], NULL, 10);
	return 0;
}

/* Connects once through the loop (the resolver's numeric address, pg's own
 * connect timer): the password and the server are tried without blocking
 * on a name lookup or a silent host. */
static int check_pg_connect(struct check_sink *k)
{
	static int done;
	struct pg_opts o = {
	    .connect_timeout_ms = CHECK_SINK_MS, .on_event = check_on_pg_event, .arg = &done};
	int ready;

	done = 0;
	if (pg_init(&check_pg, &check_loop, &check_resolv, &check_cfg->postgres, &o) != 0) {
		snprintf(k->text, sizeof k->text, "[postgres] conninfo: %s", check_pg.msg);
		return -1;
	}
	if (pg_start(&check_pg) == 0)
		check_wait(&done, check_now() + CHECK_SINK_MS + 1000);
	ready = check_pg.state == PG_READY;
	if (!ready)
		snprintf(k->text, sizeof k->text, "%s",
		         check_pg.msg[0] ? check_pg.msg : "no answer in time");
	pg_stop(&check_pg); /* keeps the resolved address for pg_blk_open */
	return ready ? 0 : -1;
}

static void check_pg_verdict(struct check_sink *k, const struct check_pg_info *i)
{
	k->ok = i->schema <= SCHEMA_VERSION;
	check_add(k, "PostgreSQL %s, database %s as %s, ", i->version, i->db, i->user);
	if (!i->have_table || i->schema <= 0)
		check_add(k, "no trading schema yet: `fillrelay migrate` or `fillrelay run` "
		             "creates it");
	else if (i->schema > SCHEMA_VERSION)
		check_add(k,
		          "schema version %ld newer than this fillrelay knows (%d): use the "
		          "fillrelay that migrated it, or a newer one",
		          i->schema, SCHEMA_VERSION);
	else if (i->schema < SCHEMA_VERSION)
		check_add(k,
		          "schema version %ld (`fillrelay migrate` or `fillrelay run` brings it "
		          "to %d)",
		          i->schema, SCHEMA_VERSION);
	else
		check_add(k, "schema version %ld (current)", i->schema);
}

static void check_postgres(struct check_sink *k)
{
	struct check_pg_info info = {.schema = 0};
	struct pg_blk b;
	int rc;

	if (check_pg_connect(k) != 0)
		return;
	if (pg_blk_open(&check_pg, &b) != 0) {
		snprintf(k->text, sizeof k->text, "%s", check_pg.msg);
		return;
	}
	rc = pg_blk_query(&b,
	                  "SELECT current_setting('server_version'), current_database(),"
	                  " current_user, to_regclass('trading.schema_version') IS NOT NULL",
	                  0, NULL, check_pg_row, &info);
	if (rc >= 0 && info.have_table)
		rc =
		    pg_blk_query(&b, "SELECT coalesce(max(version), 0) FROM trading.schema_version",
		                 0, NULL, check_pg_schema_row, &info);
	pg_blk_close(&b);
	if (rc < 0) {
		snprintf(k->text, sizeof k->text, "query failed: %s",
		         rc == FR_EPROTO ? "unexpected answer" : check_pg.msg);
		return;
	}
	check_pg_verdict(k, &info);
}

/* ---- Redis --------------------------------------------------------------- */

struct check_redis {
	redisContext *c;
	int looked_up, resolved;
	char addr[64];
	char why[RESOLV_MSG_MAX]; /* the lookup's failure */
	char version[32];
	char dbs[128];  /* "4,5" */
	char beat[160]; /* a heartbeat key found, "" none */
	unsigned beat_db;
	int scan_cut; /* a db was not scanned to its end */
};

static struct check_redis check_r;

static void check_on_redis_addr(struct resolv *r, int qid, const struct resolv_result *res,
                                void *arg)
{
	struct check_redis *x = arg;

	(void)r;
	(void)qid;
	x->looked_up = 1;
	if (res->status == RESOLV_OK && res->n > 0) {
		resolv_addr_str(&res->addrs[0], x->addr, sizeof x->addr);
		x->resolved = 1;
	} else {
		snprintf(x->why, sizeof x->why, "%s", res->msg);
	}
}

/* A command that got no reply: the connection's error, a timeout said so. */
static void check_io_error(struct check_sink *k, const char *cmd)
{
	const char *e = check_r.c->errstr;

	if (check_r.c->err == REDIS_ERR_IO && strcmp(e, strerror(EAGAIN)) == 0)
		snprintf(k->text, sizeof k->text, "%s: no answer within %d s", cmd,
		         CHECK_SINK_MS / 1000);
	else
		snprintf(k->text, sizeof k->text, "%s: %s", cmd, e[0] ? e : "connection lost");
}

/* The reply to argv, or NULL with the reason in k: an error reply's text
 * after the command's name, never its arguments. */
static redisReply *check_cmd(struct check_sink *k, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(check_r.c, argc, argv, NULL);

	if (!r) {
		check_io_error(k, argv[0]);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(k->text, sizeof k->text, "%s refused: %s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static int check_redis_connect(struct check_sink *k)
{
	const struct cfg_redis *rc = &check_cfg->redis;
	struct timeval tv = {CHECK_SINK_MS / 1000, (CHECK_SINK_MS % 1000) * 1000};
	int q;

	memset(&check_r, 0, sizeof check_r);
	q = resolv_lookup(&check_resolv, rc->host, AF_UNSPEC, check_on_redis_addr, &check_r);
	if (q >= 0)
		check_wait(&check_r.looked_up, check_now() + CHECK_SINK_MS);
	if (q >= 0 && !check_r.looked_up)
		resolv_cancel(&check_resolv, q);
	if (!check_r.resolved) {
		check_add(k, "%s: %s", rc->host,
		          q < 0               ? "not a host name"
		          : check_r.looked_up ? check_r.why
		                              : "no address in time");
		return -1;
	}
	check_r.c = redisConnectWithTimeout(check_r.addr, (int)rc->port, tv);
	if (!check_r.c || check_r.c->err) {
		snprintf(k->text, sizeof k->text, "cannot connect to %s:%u: %s", check_r.addr,
		         rc->port, check_r.c ? check_r.c->errstr : "out of memory");
		return -1;
	}
	redisSetTimeout(check_r.c, tv);
	check_r.c->reader->maxbuf = CHECK_REDIS_MAXBUF;
	return 0;
}

/* AUTH when a password is configured, then PING: a clear line for each way
 * the password can be wrong; the password itself is never part of it. */
static int check_redis_auth(struct check_sink *k)
{
	const char *pw = check_cfg->redis.password.value;
	const char *auth[2] = {"AUTH", pw}, *ping[1] = {"PING"};
	redisReply *r;
	int rc;

	if (pw[0]) {
		r = redisCommandArgv(check_r.c, 2, auth, NULL);
		if (!r) {
			check_io_error(k, "AUTH");
			return -1;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			size_t w = strcspn(r->str, " ");

			snprintf(k->text, sizeof k->text, "Redis refused the password (%.*s)%s%s",
			         (int)w, r->str, r->str[w] ? ":" : "", r->str + w);
			freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	r = redisCommandArgv(check_r.c, 1, ping, NULL);
	if (!r) {
		check_io_error(k, "PING");
		return -1;
	}
	rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
	if (rc != 0)
		snprintf(k->text, sizeof k->text,
		         strncmp(r->str, "NOAUTH", 6) == 0
		             ? "Redis wants a password: [redis] password is not set (%s)"
		             : "PING refused: %s",
		         r->str);
	freeReplyObject(r);
	return rc;
}

/* redis_version from INFO server. */
static void check_redis_version(void)
{
	const char *argv[2] = {"INFO", "server"};
	struct check_sink ignored;
	redisReply *r = check_cmd(&ignored, 2, argv);
	const char *v =
	    r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:") : NULL;

	snprintf(check_r.version, sizeof check_r.version, "%.*s",
	         v ? (int)strcspn(v + 14, "\r\n") : 1, v ? v + 14 : "?");
	freeReplyObject(r);
}

/* Looks for a heartbeat key (rds.h) in the selected db, SCAN by SCAN: a
 * running listener, which is worth knowing before starting another one.
 * Information only: a SCAN Redis refuses (a renamed command) ends the search;
 * -1 only when the connection failed (the reason in k). */
static int check_redis_heartbeat(struct check_sink *k, unsigned db)
{
	char cursor[32] = "0";
	const char *argv[6] = {"SCAN",  cursor,          "MATCH", CHECK_HEARTBEAT_MATCH,
	                       "COUNT", CHECK_SCAN_COUNT};
	int round = 0;

	do {
		redisReply *r = check_cmd(k, 6, argv);

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			check_r.scan_cut = 1;
			return check_r.c->err ? -1 : 0;
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		if (r->element[1]->elements > 0 &&
		    r->element[1]->element[0]->type == REDIS_REPLY_STRING) {
			snprintf(check_r.beat, sizeof check_r.beat, "%s",
			         r->element[1]->element[0]->str);
			check_r.beat_db = db;
		}
		freeReplyObject(r);
	} while (!check_r.beat[0] && strcmp(cursor, "0") != 0 && ++round < CHECK_SCAN_ROUNDS);
	check_r.scan_cut |= !check_r.beat[0] && strcmp(cursor, "0") != 0;
	return 0;
}

/* SELECT of every db a bot uses, each once, in file order. */
static int check_redis_dbs(struct check_sink *k)
{
	size_t n = 0;

	for (int i = 0; i < check_cfg->bots_n; i++) {
		unsigned db = check_cfg->bots[i].redis_db;
		char num[16];
		const char *argv[2] = {"SELECT", num};
		redisReply *r;
		int seen = 0;

		for (int j = 0; j < i && !seen; j++)
			seen = check_cfg->bots[j].redis_db == db;
		if (seen)
			continue;
		snprintf(num, sizeof num, "%u", db);
		if (!(r = check_cmd(k, 2, argv))) {
			check_add(k, " (db %u of bot %s)", db, check_cfg->bots[i].id);
			return -1;
		}
		freeReplyObject(r);
		if (n + 1 < sizeof check_r.dbs)
			n += (size_t)snprintf(check_r.dbs + n, sizeof check_r.dbs - n, "%s%u",
			                      n ? "," : "", db);
		if (!check_r.beat[0] && check_redis_heartbeat(k, db) != 0)
			return -1;
	}
	return 0;
}

static void check_redis_verdict(struct check_sink *k)
{
	const struct cfg_redis *rc = &check_cfg->redis;

	k->ok = 1;
	k->text[0] = '\0';
	check_add(k, "Redis %s at %s:%u", check_r.version, rc->host, rc->port);
	if (strcmp(rc->host, check_r.addr) != 0)
		check_add(k, " (%s)", check_r.addr);
	check_add(k, ", %s, db%s %s selected, ",
	          rc->password.value[0] ? "password accepted" : "no password",
	          strchr(check_r.dbs, ',') ? "s" : "", check_r.dbs);
	if (check_r.beat[0])
		check_add(k, "heartbeat %s in db %u: a fillrelay is running there", check_r.beat,
		          check_r.beat_db);
	else
		check_add(k, "no fillrelay heartbeat%s",
		          check_r.scan_cut ? " in the keys looked at" : "");
}

static void check_redis(struct check_sink *k)
{
	if (check_redis_connect(k) == 0 && check_redis_auth(k) == 0) {
		check_redis_version();
		if (check_redis_dbs(k) == 0)
			check_redis_verdict(k);
	}
	if (check_r.c)
		redisFree(check_r.c);
	check_r.c = NULL;
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

/* One sink's check and its line; 0 when it passed. */
static int check_sink(const char *name, void (*fn)(struct check_sink *k))
{
	static struct check_sink k;

	memset(&k, 0, sizeof k);
	fn(&k);
	check_line(name, &k);
	return k.ok ? 0 : -1;
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
	check_cfg = c;
	for (int i = 0; i < c->accounts_n && !check_loop.stopping; i++)
		failed += check_account(c, &c->accounts[i]) != 0;
	failed += !check_loop.stopping && check_sink("postgres", check_postgres) != 0;
	failed += !check_loop.stopping && check_sink("redis", check_redis) != 0;
	resolv_close(&check_resolv);
	loop_signals_remove(&check_loop);
	return failed || check_loop.stopping ? EX_UNAVAILABLE : EX_OK;
}
