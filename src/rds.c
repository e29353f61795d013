/*
 * rds.c -- the Redis sink: see rds.h for the contract.
 *
 * How: hiredis's async context is attached to our loop through its ev hooks
 * (addRead ... cleanup become loop_fd_events / loop_fd_del). Every context ends
 * in exactly one call of the cleanup hook (hiredis's __redisAsyncFree), which
 * is where a connection's end is handled, whatever ended it. Commands we want
 * dropped from inside a hiredis callback use redisAsyncFree, which hiredis
 * defers until the callback returns.
 */
#define _POSIX_C_SOURCE 200809L
#include "rds.h"

#include <assert.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <bearssl_hash.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "log.h"
#include "loop.h"

/* What a command is, for its reply: passed to hiredis as privdata. */
enum rds_kind {
	OP_NONE = 0,
	OP_AUTH,
	OP_SCRIPT,
	OP_SELECT_HS, /* handshake SELECTs: a refused db fails the connection */
	OP_SELECT,
	OP_POSITION,
	OP_VIEW,
	OP_PUBLISH,
	OP_HEARTBEAT,
};

/*
 * The guard. KEYS: [string key,] hash key. ARGV[1] the version, ARGV[2] the
 * string's value (unused with one key), ARGV[3..] field/value pairs.
 * Versions are fixed-width [0-9a-f], so '>' (strcoll) agrees with strcmp.
 */
const char rds_guard_lua[] =
	"local h = KEYS[#KEYS]\n"
	"local v = redis.call('HGET', h, 'version')\n"
	"if v and v > ARGV[1] then return 0 end\n"
	"if #KEYS == 2 then redis.call('SET', KEYS[1], ARGV[2]) end\n"
	"redis.call('HSET', h, 'version', ARGV[1], unpack(ARGV, 3))\n"
	"return 1\n";

/*
 * Publish once. KEYS[1] the fill's marker, ARGV[1] the channel, ARGV[2] the
 * message, ARGV[3] the marker's lifetime in ms. The first writer of the
 * marker publishes (the reply is PUBLISH's receiver count); anyone later --
 * this instance replaying its journal after a crash, a second instance on
 * the same account -- gets -1 and publishes nothing.
 */
static const char rds_publish_lua[] =
	"if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then\n"
	"  return redis.call('PUBLISH', ARGV[1], ARGV[2])\n"
	"end\n"
	"return -1\n";

static void rds_pump(struct rds *r);
static void rds_backoff(struct rds *r);

/* ---- small helpers -------------------------------------------------------- */

static int64_t mono_ms(const struct rds *r)
{
	return r->loop->sys->mono_ms(r->loop->sys->ctx);
}

static int64_t wall_ms(const struct rds *r)
{
	return r->loop->sys->wall_ms(r->loop->sys->ctx);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv(h, s, strlen(s) + 1); /* the NUL separates fields */
}

/* A slot hash: never 0 (0 marks a free slot). */
static uint64_t key_hash(const char *a, const char *b, const char *c, const char *d, int idx)
{
	uint64_t h = 1469598103934665603ull;

	h = fnv_str(fnv_str(fnv_str(fnv_str(h, a), b), c), d);
	h = fnv(h, &idx, sizeof idx);
	return h ? h : 1;
}

static void put_hex64(char *out, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
}

/* ---- pure parts ----------------------------------------------------------- */

/* see rds.h */
int rds_version(char *buf, size_t cap, int64_t exec_time_ms, int64_t seq, const char *exec_id)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(exec_id);
	char *p = buf + 32;

	if (cap < RDS_VERSION_MAX || n > DECODE_ID_MAX - 1)
		return FR_ERANGE;
	/* Flipping the sign bit maps int64 order onto unsigned (and hex) order. */
	put_hex64(buf, (uint64_t)exec_time_ms ^ (1ull << 63));
	put_hex64(buf + 16, (uint64_t)seq ^ (1ull << 63));
	/* Bytes as hex, padded with "00": a shorter id sorts first, as in strcmp,
	 * because every byte of an id is above the padding's 0. */
	for (size_t i = 0; i < DECODE_ID_MAX - 1; i++) {
		unsigned char c = i < n ? (unsigned char)exec_id[i] : 0;

		*p++ = hex[c >> 4];
		*p++ = hex[c & 15];
	}
	*p = '\0';
	return RDS_VERSION_LEN;
}

static int version_of_exec(char *buf, size_t cap, const struct decode_exec *x)
{
	return rds_version(buf, cap, x->exec_time_ms, x->seq.present ? x->seq.v : -1, x->exec_id);
}

static const char *idx_suffix(int position_idx)
{
	static const char *const s[] = { "", "_long", "_short" };

	return s[position_idx];
}

static int fit(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? FR_ERANGE : n;
}

/* see rds.h */
int rds_position_key(char *buf, size_t cap, const char *bot, const char *bot_category,
                     const char *category, const char *symbol, int position_idx, int detail)
{
	int same = strcmp(bot_category, category) == 0;

	if (position_idx < 0 || position_idx > 2)
		return FR_EINVAL;
	return fit(snprintf(buf, cap, "%s:position%s%s:%s%s%s", bot, detail ? "_detail" : "",
	                    idx_suffix(position_idx), same ? "" : category, same ? "" : ":",
	                    symbol),
	           cap);
}

/* see rds.h */
int rds_view_key(char *buf, size_t cap, const char *account, const char *category,
                 const char *symbol, int position_idx)
{
	int lin = strcmp(category, "linear") == 0;

	if (position_idx < 0 || position_idx > 2)
		return FR_EINVAL;
	return fit(snprintf(buf, cap, "fillrelay:account:%s:position%s:%s%s%s", account,
	                    idx_suffix(position_idx), lin ? "" : category, lin ? "" : ":", symbol),
	           cap);
}

static struct dec signed_size(struct dec size, const char *side)
{
	if (strcmp(side, "Sell") == 0)
		return dec_neg(dec_abs(size));
	if (strcmp(side, "Buy") == 0)
		return dec_abs(size);
	return DEC_ZERO; /* "", "None": flat */
}

/* see rds.h */
enum rds_drift rds_drift_check(struct dec exchange_size, const char *exchange_side,
                               int64_t exchange_seq, struct dec bots_sum, int have_fill,
                               int64_t last_fill_seq)
{
	struct dec ex = signed_size(exchange_size, exchange_side);

	if (have_fill ? exchange_seq != last_fill_seq : exchange_seq != -1)
		return RDS_DRIFT_PENDING;
	return dec_cmp(ex, bots_sum) == 0 ? RDS_DRIFT_OK : RDS_DRIFT_MISMATCH;
}

/* A JSON writer over a fixed buffer; the first overflow sticks. */
struct jw {
	char *buf;
	size_t cap, n;
	int err;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->err || w->n + n >= w->cap) {
		w->err = FR_ERANGE;
		return;
	}
	memcpy(w->buf + w->n, s, n);
	w->n += n;
	w->buf[w->n] = '\0';
}

static void jw_str(struct jw *w, const char *s)
{
	char esc[8];

	jw_raw(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_raw(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			jw_raw(w, esc, 6);
		} else {
			jw_raw(w, s, 1);
		}
	}
	jw_raw(w, "\"", 1);
}

static void jw_key(struct jw *w, const char *k)
{
	jw_raw(w, w->n > 1 ? "," : "", w->n > 1);
	jw_str(w, k);
	jw_raw(w, ":", 1);
}

static void jw_kstr(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

static void jw_kdec(struct jw *w, const char *k, struct dec d)
{
	char t[DEC_STR_MAX];

	dec_format(d, t, sizeof t);
	jw_kstr(w, k, t);
}

static void jw_kint(struct jw *w, const char *k, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%lld", (long long)v);

	jw_key(w, k);
	jw_raw(w, t, (size_t)n);
}

/* see rds.h */
int rds_fill_json(char *buf, size_t cap, const char *account, const struct decode_exec *x,
                  const struct book_result *res, int alloc_i)
{
	struct jw w = { buf, cap, 0, 0 };
	const struct book_alloc *a = alloc_i >= 0 ? &res->allocs[alloc_i] : NULL;

	assert(alloc_i < res->allocs_n && alloc_i <= res->positions_n);
	if (cap == 0)
		return FR_ERANGE;
	jw_raw(&w, "{", 1);
	jw_kstr(&w, "account", account);
	jw_kstr(&w, "bot", a ? a->bot : res->bot);
	jw_kstr(&w, "category", x->category);
	jw_kstr(&w, "symbol", x->symbol);
	jw_kstr(&w, "side", x->side);
	jw_kdec(&w, "qty", a ? a->qty : x->exec_qty.v);
	jw_kdec(&w, "price", x->exec_price.v);
	jw_kstr(&w, "exec_id", x->exec_id);
	jw_kint(&w, "exec_time", x->exec_time_ms);
	jw_kstr(&w, "exec_type", x->exec_type);
	jw_kstr(&w, "reason", res->reason);
	jw_kstr(&w, "close_reason", res->close_reason);
	jw_kint(&w, "position_idx", a ? a->position_idx : 0);
	if (a && alloc_i < res->positions_n) {
		jw_kdec(&w, "position", res->positions[alloc_i].size);
	} else {
		jw_key(&w, "position");
		jw_raw(&w, "null", 4);
	}
	jw_raw(&w, "}", 1);
	return w.err ? w.err : (int)w.n;
}

/* see rds.h */
const char *rds_state_name(enum rds_state s)
{
	switch (s) {
	case RDS_IDLE: return "idle";
	case RDS_BACKOFF: return "backoff";
	case RDS_RESOLVING: return "resolving";
	case RDS_HANDSHAKE: return "handshake";
	case RDS_READY: return "ready";
	}
	return "?";
}

/* ---- commands: arguments in one fixed buffer ------------------------------ */

static void op_reset(struct rds_op_ *op, int kind, int db)
{
	op->kind = (uint8_t)kind;
	op->db = db;
	op->t0_us = 0;
	op->argc = 0;
	op->used = 0;
}

static int op_arg(struct rds_op_ *op, const char *s, size_t n)
{
	if (op->argc >= RDS_ARGS_MAX || op->used + n > RDS_OP_BYTES)
		return FR_ERANGE;
	memcpy(op->buf + op->used, s, n);
	op->len[op->argc++] = (uint16_t)n;
	op->used = (uint16_t)(op->used + n);
	return 0;
}

static int op_str(struct rds_op_ *op, const char *s)
{
	return op_arg(op, s, strlen(s));
}

static int op_dec(struct rds_op_ *op, struct dec d)
{
	char t[DEC_STR_MAX];
	int n = dec_format(d, t, sizeof t);

	return n < 0 ? n : op_arg(op, t, (size_t)n);
}

static int op_int(struct rds_op_ *op, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%lld", (long long)v);

	return op_arg(op, t, (size_t)n);
}

/* ---- where a bot's keys live ---------------------------------------------- */

static const struct cfg_bot *account_home_bot(const struct cfg *c, const char *account)
{
	const struct cfg_account *a = cfg_account_find(c, account);

	if (a && a->default_bot_idx >= 0)
		return &c->bots[a->default_bot_idx];
	for (int i = 0; i < c->bots_n; i++)
		if (strcmp(c->bots[i].account, account) == 0)
			return &c->bots[i];
	return NULL;
}

/* The db and configured category name of bot's keys (see rds.h, "Keys"). */
static void bot_home(const struct rds *r, const char *account, const char *bot, int *db,
                     const char **category)
{
	const struct cfg_bot *b = cfg_bot_find(r->cfg, bot);

	if (!b)
		b = account_home_bot(r->cfg, account);
	*db = b ? (int)b->redis_db : 0;
	*category = b ? cfg_category_name(b->category) : "linear";
}

/* The distinct dbs of account's bots into dbs (RDS_DBS_MAX); at least db 0. */
static int account_dbs(const struct rds *r, const char *account, int *dbs)
{
	int n = 0;

	for (int i = 0; i < r->cfg->bots_n; i++) {
		const struct cfg_bot *b = &r->cfg->bots[i];
		int k = 0;

		if (strcmp(b->account, account) != 0)
			continue;
		while (k < n && dbs[k] != (int)b->redis_db)
			k++;
		if (k == n)
			dbs[n++] = (int)b->redis_db;
	}
	if (n == 0)
		dbs[n++] = 0;
	return n;
}

/* ---- remembered versions --------------------------------------------------- */

static struct rds_version_ *version_slot(struct rds *r, const struct book_position *p, int add)
{
	uint64_t h = key_hash(p->account, p->bot, p->category, p->symbol, p->position_idx);

	for (size_t i = 0; i < RDS_VERSIONS_MAX; i++) {
		struct rds_version_ *v = &r->versions[(h + i) % RDS_VERSIONS_MAX];

		if (v->h == h)
			return v;
		if (v->h == 0) {
			if (!add)
				return NULL;
			v->h = h;
			return v;
		}
	}
	return NULL;
}

static void version_remember(struct rds *r, const struct book_position *p, int64_t seq)
{
	struct rds_version_ *v = version_slot(r, p, 1);

	if (!v)
		return; /* full: a rewrite of p then uses seq -1 (versions_unknown) */
	v->seq = seq;
	snprintf(v->exec_id, sizeof v->exec_id, "%s", p->last_exec_id);
}

/* The version of p's last fill, as rds_fill saw it. */
static int version_of_position(struct rds *r, const struct book_position *p, char *buf)
{
	const struct rds_version_ *v = version_slot(r, p, 0);
	int64_t seq = -1;

	if (v && strcmp(v->exec_id, p->last_exec_id) == 0)
		seq = v->seq;
	else
		r->stats.versions_unknown++;
	return rds_version(buf, RDS_VERSION_MAX, p->last_exec_time_ms, seq, p->last_exec_id);
}

static struct rds_sym_ *sym_slot(struct rds *r, const char *account, const char *category,
                                 const char *symbol, int add)
{
	uint64_t h = key_hash(account, category, symbol, "", 0);

	for (size_t i = 0; i < RDS_SYMS_MAX; i++) {
		struct rds_sym_ *s = &r->syms[(h + i) % RDS_SYMS_MAX];

		if (s->h == h && strcmp(s->account, account) == 0 &&
		    strcmp(s->category, category) == 0 && strcmp(s->symbol, symbol) == 0)
			return s;
		if (s->h == 0) {
			if (!add || strlen(account) >= sizeof s->account ||
			    strlen(category) >= sizeof s->category ||
			    strlen(symbol) >= sizeof s->symbol)
				return NULL;
			memset(s, 0, sizeof *s);
			s->h = h;
			strcpy(s->account, account);
			strcpy(s->category, category);
			strcpy(s->symbol, symbol);
			return s;
		}
	}
	return NULL;
}

/* The bots' signed sum in (account, category, symbol, position_idx). */
static struct dec bots_sum(const struct rds *r, const struct rds_sym_ *s, int idx)
{
	struct dec sum = DEC_ZERO;
	const struct book_position *p;

	for (int i = 0; i <= r->cfg->bots_n; i++) {
		const char *bot = i < r->cfg->bots_n ? r->cfg->bots[i].id : BOOK_BOT_UNATTRIBUTED;

		if (i < r->cfg->bots_n && strcmp(r->cfg->bots[i].account, s->account) != 0)
			continue;
		p = book_position_find(r->book, s->account, bot, s->category, s->symbol, idx);
		if (p && dec_add(&sum, sum, p->size) < 0)
			return p->size; /* absurd magnitudes: any value that differs will do */
	}
	return sum;
}

/* Recomputes a view's drift; returns whether it changed. A mismatch is
 * logged once, not again each time a fill in flight makes it pending. */
static int view_drift(struct rds *r, struct rds_sym_ *s, int idx)
{
	struct rds_view_ *v = &s->views[idx];
	struct dec sum = bots_sum(r, s, idx);
	enum rds_drift d = rds_drift_check(v->size, v->side, v->seq, sum, s->have_fill, s->fill_seq);
	char a[DEC_STR_MAX], b[DEC_STR_MAX];

	if (d == v->drift)
		return 0;
	v->drift = d;
	if (d == RDS_DRIFT_MISMATCH && !v->warned) {
		v->warned = 1;
		r->stats.drift_mismatches++;
		dec_format(signed_size(v->size, v->side), a, sizeof a);
		dec_format(sum, b, sizeof b);
		log_warn("position drift: the bots' sum differs from the exchange",
		         LS("account", s->account), LS("category", s->category),
		         LS("symbol", s->symbol), LI("position_idx", idx), LS("exchange", a),
		         LS("bots_sum", b));
	} else if (d == RDS_DRIFT_OK && v->warned) {
		v->warned = 0;
		log_info("position drift resolved", LS("account", s->account),
		         LS("category", s->category), LS("symbol", s->symbol),
		         LI("position_idx", idx));
	}
	return 1;
}

/* ---- building the writes ---------------------------------------------------- */

static int build_position(struct rds *r, struct rds_op_ *op, const struct book_position *p,
                          const char *version)
{
	char key[RDS_KEY_MAX], dkey[RDS_KEY_MAX];
	const char *cat;
	int db, e = 0;

	bot_home(r, p->account, p->bot, &db, &cat);
	if (rds_position_key(key, sizeof key, p->bot, cat, p->category, p->symbol,
	                     p->position_idx, 0) < 0 ||
	    rds_position_key(dkey, sizeof dkey, p->bot, cat, p->category, p->symbol,
	                     p->position_idx, 1) < 0)
		return FR_ERANGE;
	op_reset(op, OP_POSITION, db);
	e |= op_str(op, "EVALSHA") | op_str(op, r->sha) | op_str(op, "2");
	e |= op_str(op, key) | op_str(op, dkey) | op_str(op, version);
	e |= op_dec(op, dec_abs(p->size));
	e |= op_str(op, "side") |
	     op_str(op, book_side_name((enum book_side)dec_sign(p->size)));
	e |= op_str(op, "size") | op_dec(op, p->size);
	e |= op_str(op, "avg_price") | op_dec(op, p->avg_price);
	e |= op_str(op, "realized_pnl") | op_dec(op, p->realized_pnl);
	e |= op_str(op, "fees") | op_dec(op, p->fees);
	e |= op_str(op, "funding") | op_dec(op, p->funding);
	e |= op_str(op, "currency") | op_str(op, p->currency);
	e |= op_str(op, "trade_seq") | op_int(op, p->trade_seq);
	e |= op_str(op, "last_exec_id") | op_str(op, p->last_exec_id);
	e |= op_str(op, "last_exec_time") | op_int(op, p->last_exec_time_ms);
	e |= op_str(op, "account") | op_str(op, p->account);
	e |= op_str(op, "category") | op_str(op, p->category);
	e |= op_str(op, "symbol") | op_str(op, p->symbol);
	e |= op_str(op, "position_idx") | op_int(op, p->position_idx);
	e |= op_str(op, "updated_ms") | op_int(op, wall_ms(r));
	return e ? FR_ERANGE : 0;
}

static int build_view(struct rds *r, struct rds_op_ *op, const struct rds_sym_ *s, int idx,
                      int db)
{
	const struct rds_view_ *v = &s->views[idx];
	static const char *const drift[] = { "0", "1", "pending" };
	char key[RDS_KEY_MAX], version[RDS_VERSION_MAX];
	int e = 0;

	if (rds_view_key(key, sizeof key, s->account, s->category, s->symbol, idx) < 0)
		return FR_ERANGE;
	rds_version(version, sizeof version, v->updated_ms, v->seq, "");
	op_reset(op, OP_VIEW, db);
	e |= op_str(op, "EVALSHA") | op_str(op, r->sha) | op_str(op, "1");
	e |= op_str(op, key) | op_str(op, version) | op_str(op, "");
	e |= op_str(op, "size") | op_dec(op, v->size);
	e |= op_str(op, "side") | op_str(op, v->side);
	e |= op_str(op, "seq") | op_int(op, v->seq);
	e |= op_str(op, "updated") | op_int(op, v->updated_ms);
	e |= op_str(op, "bots_sum") | op_dec(op, bots_sum(r, s, idx));
	e |= op_str(op, "drift") | op_str(op, drift[v->drift]);
	return e ? FR_ERANGE : 0;
}

static int build_heartbeat(struct rds *r, struct rds_op_ *op, int db)
{
	char key[RDS_KEY_MAX];
	int e = 0;

	if (fit(snprintf(key, sizeof key, "fillrelay:heartbeat:%s", r->cfg->listener.instance),
	        sizeof key) < 0)
		return FR_ERANGE;
	op_reset(op, OP_HEARTBEAT, db);
	e |= op_str(op, "SET") | op_str(op, key) | op_int(op, wall_ms(r));
	e |= op_str(op, "PX") | op_int(op, RDS_HEARTBEAT_TTL_MS);
	return e ? FR_ERANGE : 0;
}

/* ---- the queue ------------------------------------------------------------- */

static struct rds_op_ *queue_tail(struct rds *r)
{
	if (r->q_n == RDS_QUEUE_MAX)
		return NULL;
	return &r->queue[(r->q_head + r->q_n) % RDS_QUEUE_MAX];
}

static void queue_commit(struct rds *r)
{
	r->q_n++;
	if ((uint32_t)r->q_n > r->stats.queue_high_water)
		r->stats.queue_high_water = (uint32_t)r->q_n;
}

/* A state write could not be queued: the next full rewrite restores it. */
static int state_dropped(struct rds *r)
{
	r->stats.positions_dropped++;
	if (r->state == RDS_READY)
		r->rewrite_again = 1;
	return FR_EFULL;
}

/* ---- sending ----------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *priv);

/* see rds.h */
void rds_set_origin(struct rds *r, uint64_t t0_us)
{
	r->origin_us_ = t0_us;
}

/* A publish's privdata carries its start time above the kind (64-bit
 * pointers; elsewhere publishes are not timed). */
static void *priv_of(int kind, uint64_t t0_us)
{
	if (sizeof(uintptr_t) < 8 || !t0_us)
		return (void *)(uintptr_t)kind;
	return (void *)(uintptr_t)((uint64_t)kind | (t0_us << 8));
}

static void publish_timed(struct rds *r, void *priv)
{
	uint64_t t0 = (uint64_t)(uintptr_t)priv >> 8, us;

	if (sizeof(uintptr_t) < 8 || !t0)
		return;
	us = loop_mono_us() - t0;
	loop_lat_note(&r->stats.publish_lat, us);
}

static int send_cmd_t(struct rds *r, int kind, uint64_t t0_us, int argc, const char **argv,
                      const size_t *len)
{
	if (redisAsyncCommandArgv(r->ac, on_reply, priv_of(kind, t0_us), argc, argv, len) !=
	    REDIS_OK)
		return FR_EIO; /* the context is going away; its cleanup follows */
	if (r->inflight++ == 0)
		r->progress_ms = mono_ms(r);
	return 0;
}

static int send_cmd(struct rds *r, int kind, int argc, const char **argv, const size_t *len)
{
	if (redisAsyncCommandArgv(r->ac, on_reply, (void *)(uintptr_t)kind, argc, argv, len) !=
	    REDIS_OK)
		return FR_EIO; /* the context is going away; its cleanup follows */
	if (r->inflight++ == 0)
		r->progress_ms = mono_ms(r);
	return 0;
}

static int send_select(struct rds *r, int kind, int db)
{
	char t[16];
	const char *argv[2] = { "SELECT", t };
	size_t len[2] = { 6, 0 };

	len[1] = (size_t)snprintf(t, sizeof t, "%d", db);
	return send_cmd(r, kind, 2, argv, len);
}

static int send_op(struct rds *r, const struct rds_op_ *op)
{
	const char *argv[RDS_ARGS_MAX];
	size_t len[RDS_ARGS_MAX];
	size_t off = 0;

	if (op->db != r->cur_db) {
		if (send_select(r, OP_SELECT, op->db) < 0)
			return FR_EIO;
		r->cur_db = op->db;
	}
	for (int i = 0; i < op->argc; i++) {
		argv[i] = op->buf + off;
		len[i] = op->len[i];
		off += op->len[i];
	}
	if (op->kind == OP_PUBLISH)
		r->stats.publishes_sent++;
	return send_cmd_t(r, op->kind, op->kind == OP_PUBLISH ? op->t0_us : 0, op->argc, argv, len);
}

/* ---- the full rewrite ------------------------------------------------------ */

static void rewrite_start(struct rds *r)
{
	r->rewrite_active = 1;
	r->rewrite_again = 0;
	r->rewrite_phase = 0;
	r->rewrite_cursor = 0;
	r->rewrite_sub = 0;
	r->stats.rewrites++;
}

/* Phase 0: every position of the book. 1 sent, 0 phase over, < 0 error. */
static int rewrite_position(struct rds *r)
{
	char version[RDS_VERSION_MAX];
	const struct book_position *p;

	while ((p = book_position_next(r->book, &r->rewrite_cursor)) != NULL) {
		if (version_of_position(r, p, version) < 0 ||
		    build_position(r, &r->scratch, p, version) < 0)
			continue; /* cannot happen for what the book holds; skip, never stall */
		return send_op(r, &r->scratch) < 0 ? FR_EIO : 1;
	}
	return 0;
}

/* Phase 1: every exchange view, in each db of its account. */
static int rewrite_view(struct rds *r)
{
	int dbs[RDS_DBS_MAX];

	for (; r->rewrite_cursor < RDS_SYMS_MAX * 3; r->rewrite_cursor++, r->rewrite_sub = 0) {
		struct rds_sym_ *s = &r->syms[r->rewrite_cursor / 3];
		int idx = r->rewrite_cursor % 3, n;

		if (s->h == 0 || !s->views[idx].have)
			continue;
		n = account_dbs(r, s->account, dbs);
		if (r->rewrite_sub >= n)
			continue;
		if (build_view(r, &r->scratch, s, idx, dbs[r->rewrite_sub++]) < 0)
			continue;
		return send_op(r, &r->scratch) < 0 ? FR_EIO : 1;
	}
	return 0;
}

/* Phase 2: the heartbeat in every db. */
static int rewrite_heartbeat(struct rds *r)
{
	if (r->rewrite_cursor >= r->dbs_n)
		return 0;
	if (build_heartbeat(r, &r->scratch, r->dbs[r->rewrite_cursor++]) < 0)
		return 0;
	r->stats.heartbeats++;
	return send_op(r, &r->scratch) < 0 ? FR_EIO : 1;
}

static int rewrite_step(struct rds *r)
{
	static int (*const phase[])(struct rds *) = { rewrite_position, rewrite_view,
		                                       rewrite_heartbeat };
	int n;

	while (r->rewrite_phase < 3) {
		n = phase[r->rewrite_phase](r);
		if (n != 0)
			return n;
		r->rewrite_phase++;
		r->rewrite_cursor = 0;
		r->rewrite_sub = 0;
	}
	r->rewrite_active = 0;
	r->attempts = 0; /* this connection proved useful */
	r->heartbeat_due_ms = mono_ms(r) + RDS_HEARTBEAT_MS;
	return 0;
}

/* Hands hiredis as much as the in-flight bound allows: the rewrite first. */
static void rds_pump(struct rds *r)
{
	while (r->state == RDS_READY && r->ac && r->inflight < RDS_INFLIGHT_MAX) {
		if (r->rewrite_active) {
			if (rewrite_step(r) < 0)
				return;
			continue;
		}
		if (r->q_n > 0) {
			struct rds_op_ *op = &r->queue[r->q_head];

			r->q_head = (r->q_head + 1) % RDS_QUEUE_MAX;
			r->q_n--;
			if (send_op(r, op) < 0)
				return;
			continue;
		}
		if (!r->rewrite_again)
			return;
		rewrite_start(r);
	}
}

/* ---- the connection --------------------------------------------------------- */

/* Reader limits (rds.h): hiredis's defaults, refused past our bounds. */
static redisReplyObjectFunctions lim_base;

static void lim_hit(const redisReadTask *t)
{
	struct rds *r = t->privdata;

	if (r)
		r->limit_hit = 1;
}

static void *lim_string(const redisReadTask *t, char *s, size_t n)
{
	if (n > RDS_REPLY_STR_MAX) {
		lim_hit(t);
		return NULL;
	}
	return lim_base.createString(t, s, n);
}

static void *lim_array(const redisReadTask *t, int n)
{
	if (n > RDS_REPLY_ELEMENTS_MAX || t->parent != NULL) {
		lim_hit(t); /* no reply of ours nests arrays */
		return NULL;
	}
	return lim_base.createArray(t, n);
}

static void *lim_integer(const redisReadTask *t, long long v)
{
	return lim_base.createInteger(t, v);
}

static void *lim_nil(const redisReadTask *t)
{
	return lim_base.createNil(t);
}

static void lim_free(void *o)
{
	lim_base.freeObject(o);
}

static redisReplyObjectFunctions lim_fns = { lim_string, lim_array, lim_integer, lim_nil,
	                                     lim_free };

static void set_error(struct rds *r, int err, const char *msg)
{
	if (r->err != 0)
		return; /* sticky: the first cause of this failure */
	r->err = err;
	snprintf(r->msg, sizeof r->msg, "%s", msg);
}

/* Drops the connection; the cleanup hook does the rest (deferred by hiredis
 * when called from inside one of its callbacks). */
static void rds_drop(struct rds *r, int err, const char *msg)
{
	set_error(r, err, msg);
	if (r->ac)
		redisAsyncFree(r->ac);
}

static void log_failure(struct rds *r, int was_ready)
{
	if (r->logged_outage) {
		log_debug("Redis still unavailable", LS("error", r->msg));
		return;
	}
	r->logged_outage = 1;
	if (was_ready)
		log_warn("lost connection to Redis", LS("host", r->cfg->redis.host),
		         LI("port", r->cfg->redis.port), LS("error", r->msg),
		         LS("code", err_str(r->err)));
	else
		log_warn("cannot connect to Redis", LS("host", r->cfg->redis.host),
		         LI("port", r->cfg->redis.port), LS("error", r->msg),
		         LS("code", err_str(r->err)));
}

/* The end of a context, however it ended (hiredis's cleanup hook). */
static void ev_cleanup(void *priv)
{
	struct rds *r = priv;
	redisAsyncContext *ac = r->ac;
	int was_ready = r->state == RDS_READY;

	if (r->limit_hit)
		set_error(r, FR_ERANGE, "a Redis reply exceeds fillrelay's reply limits");
	if (ac)
		set_error(r, ac->c.err == REDIS_ERR_EOF ? FR_ECLOSED : FR_EIO,
		          ac->c.errstr[0] ? ac->c.errstr : "connection closed");
	if (r->fd >= 0)
		loop_fd_del(r->loop, r->fd);
	r->fd = -1;
	r->ac = NULL;
	r->want = 0;
	r->inflight = 0;
	r->rewrite_active = 0;
	if (r->state == RDS_IDLE)
		return; /* rds_stop */
	if (was_ready)
		r->stats.disconnects++;
	else
		r->stats.connect_failures++;
	log_failure(r, was_ready);
	rds_backoff(r);
}

static void ev_want(struct rds *r, short w)
{
	r->want = w;
	if (r->fd >= 0)
		loop_fd_events(r->loop, r->fd, w);
}

static void ev_add_read(void *p)
{
	struct rds *r = p;

	ev_want(r, (short)(r->want | POLLIN));
}

static void ev_del_read(void *p)
{
	struct rds *r = p;

	ev_want(r, (short)(r->want & ~POLLIN));
}

static void ev_add_write(void *p)
{
	struct rds *r = p;

	ev_want(r, (short)(r->want | POLLOUT));
}

static void ev_del_write(void *p)
{
	struct rds *r = p;

	ev_want(r, (short)(r->want & ~POLLOUT));
}

static void on_fd(struct loop *l, int fd, short revents, void *arg)
{
	struct rds *r = arg;
	redisAsyncContext *ac = r->ac;

	(void)l;
	(void)fd;
	if (!ac)
		return;
	if (revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) {
		redisAsyncHandleRead(ac);
		if (!r->ac)
			return;
		if (ac->c.reader->len - ac->c.reader->pos > RDS_READER_BUF_MAX) {
			r->limit_hit = 1;
			rds_drop(r, FR_ERANGE, "a Redis reply exceeds fillrelay's reply limits");
			return;
		}
	}
	if ((revents & POLLOUT) && r->ac)
		redisAsyncHandleWrite(ac);
}

static void become_ready(struct rds *r)
{
	r->state = RDS_READY;
	r->err = 0;
	r->msg[0] = '\0';
	r->logged_outage = 0;
	r->logged_cmd_error = 0;
	r->stats.connects++;
	log_info("connected to Redis", LS("host", r->cfg->redis.host),
	         LI("port", r->cfg->redis.port), LS("addr", r->addr), LI("dbs", r->dbs_n));
	rewrite_start(r);
	rds_pump(r);
}

static void on_handshake_reply(struct rds *r, int kind, const redisReply *rep)
{
	char m[ERR_MSG_MAX];

	r->handshake_left--;
	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(m, sizeof m, "%s refused: %s",
		         kind == OP_AUTH ? "AUTH" : kind == OP_SCRIPT ? "SCRIPT LOAD" : "SELECT",
		         rep->str);
		set_error(r, kind == OP_AUTH || kind == OP_SELECT_HS ? FR_ECONFIG : FR_EPROTO, m);
		r->handshake_failed = 1;
	} else if (kind == OP_SCRIPT &&
	           (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, r->sha) != 0)) {
		set_error(r, FR_EPROTO, "SCRIPT LOAD answered an unexpected SHA1");
		r->handshake_failed = 1;
	}
	if (r->handshake_left > 0)
		return;
	if (r->handshake_failed)
		rds_drop(r, FR_EPROTO, "handshake failed");
	else
		become_ready(r);
}

static void on_command_error(struct rds *r, int kind, const char *what)
{
	/* No rewrite on an error: one that persists (a key of another type) would
	 * loop; the next connection rewrites every position anyway. */
	r->stats.command_errors++;
	if (!r->logged_cmd_error) {
		r->logged_cmd_error = 1;
		log_error("Redis refused a command", LI("kind", kind), LS("error", what));
	}
	/* The script cache was flushed, or the server lost our AUTH or is loading:
	 * a new connection loads, authenticates and rewrites everything. */
	if (strncmp(what, "NOSCRIPT", 8) == 0 || strncmp(what, "NOAUTH", 6) == 0 ||
	    strncmp(what, "LOADING", 7) == 0)
		rds_drop(r, FR_EPROTO, what);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rds *r = ac->data;
	const redisReply *rep = reply;
	int kind = (int)((uintptr_t)priv & 0xff);

	if (!rep)
		return; /* the context is going away: ev_cleanup handles it */
	if (kind == OP_AUTH || kind == OP_SCRIPT || kind == OP_SELECT_HS) {
		on_handshake_reply(r, kind, rep);
		return;
	}
	r->inflight--;
	r->progress_ms = mono_ms(r);
	if (rep->type == REDIS_REPLY_ERROR) {
		on_command_error(r, kind, rep->str);
	} else if (kind == OP_POSITION || kind == OP_VIEW) {
		int took = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;

		if (kind == OP_VIEW)
			r->stats.views_written += (uint64_t)took;
		else if (took)
			r->stats.positions_written++;
		else
			r->stats.positions_stale++;
	} else if (kind == OP_PUBLISH && rep->type == REDIS_REPLY_INTEGER) {
		publish_timed(r, priv);
		if (rep->integer >= 0)
			r->stats.publish_receivers += (uint64_t)rep->integer;
		else
			r->stats.publishes_repeated++;
	}
	rds_pump(r);
}

static int send_handshake(struct rds *r)
{
	const char *argv[3];
	size_t len[3];
	int e = 0;

	r->handshake_left = 0;
	r->handshake_failed = 0;
	if (r->cfg->redis.password.src != CFG_SECRET_NONE) {
		argv[0] = "AUTH";
		argv[1] = r->cfg->redis.password.value;
		len[0] = 4;
		len[1] = strlen(argv[1]);
		e |= redisAsyncCommandArgv(r->ac, on_reply, (void *)(uintptr_t)OP_AUTH, 2, argv,
		                           len);
		r->handshake_left++;
	}
	argv[0] = "SCRIPT";
	argv[1] = "LOAD";
	argv[2] = rds_guard_lua;
	len[0] = 6;
	len[1] = 4;
	len[2] = strlen(rds_guard_lua);
	e |= redisAsyncCommandArgv(r->ac, on_reply, (void *)(uintptr_t)OP_SCRIPT, 3, argv, len);
	r->handshake_left++;
	for (int i = 0; i < r->dbs_n; i++) {
		char t[16];
		const char *sv[2] = { "SELECT", t };
		size_t sl[2] = { 6, (size_t)snprintf(t, sizeof t, "%d", r->dbs[i]) };

		e |= redisAsyncCommandArgv(r->ac, on_reply, (void *)(uintptr_t)OP_SELECT_HS, 2, sv,
		                           sl);
		r->handshake_left++;
		r->cur_db = r->dbs[i];
	}
	return e ? FR_ENOMEM : 0;
}

/* Connects to the numeric address text; failures go to the backoff. */
static void rds_connect(struct rds *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->addr, (int)r->cfg->redis.port);

	r->state = RDS_HANDSHAKE;
	r->limit_hit = 0;
	if (!ac || ac->err) {
		set_error(r, ac ? FR_EIO : FR_ENOMEM, ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac); /* no hooks attached yet: no cleanup call */
		r->stats.connect_failures++;
		log_failure(r, 0);
		rds_backoff(r);
		return;
	}
	r->ac = ac;
	r->fd = ac->c.fd;
	r->want = 0;
	ac->data = r;
	ac->c.reader->maxbuf = RDS_READER_MAXBUF;
	ac->c.reader->privdata = r;
	if (lim_base.createString == NULL)
		lim_base = *ac->c.reader->fn;
	ac->c.reader->fn = &lim_fns;
	ac->ev.data = r;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	if (loop_fd_add(r->loop, r->fd, 0, on_fd, r) < 0) {
		r->fd = -1;
		rds_drop(r, FR_EFULL, "no loop fd slot free");
		return;
	}
	if (send_handshake(r) < 0)
		rds_drop(r, FR_ENOMEM, "out of memory queueing the handshake");
}

static void on_resolved(struct resolv *res, int qid, const struct resolv_result *out, void *arg)
{
	struct rds *r = arg;

	(void)res;
	(void)qid;
	r->qid = -1;
	if (out->status != RESOLV_OK) {
		set_error(r, out->err, out->msg);
		r->stats.connect_failures++;
		log_failure(r, 0);
		rds_backoff(r);
		return;
	}
	resolv_addr_str(&out->addrs[0], r->addr, sizeof r->addr);
	rds_connect(r);
}

static void rds_attempt(struct rds *r)
{
	int q;

	r->err = 0;
	r->msg[0] = '\0';
	r->attempt_ms = mono_ms(r);
	r->state = RDS_RESOLVING;
	q = resolv_lookup(r->resolv, r->cfg->redis.host, AF_UNSPEC, on_resolved, r);
	if (q < 0) {
		set_error(r, q, "cannot start resolving the Redis host");
		r->stats.connect_failures++;
		log_failure(r, 0);
		rds_backoff(r);
		return;
	}
	r->qid = q;
}

static void on_backoff(struct loop *l, int id, void *arg)
{
	struct rds *r = arg;

	(void)l;
	(void)id;
	r->t_backoff = -1;
	rds_attempt(r);
}

static uint64_t next_rand(struct rds *r)
{
	r->rand ^= r->rand << 13;
	r->rand ^= r->rand >> 7;
	r->rand ^= r->rand << 17;
	return r->rand;
}

static void rds_backoff(struct rds *r)
{
	int a = r->attempts < 20 ? r->attempts : 20;
	int64_t d = (int64_t)RDS_BACKOFF_MIN_MS << a;

	if (d > RDS_BACKOFF_MAX_MS)
		d = RDS_BACKOFF_MAX_MS;
	d = d / 2 + (int64_t)(next_rand(r) % (uint64_t)(d / 2 + 1));
	r->attempts++;
	r->state = RDS_BACKOFF;
	/* No timer slot free: on_tick starts the attempt instead. */
	r->t_backoff = loop_timer_add(r->loop, d, 0, on_backoff, r);
}

/* Timeouts and the heartbeat. */
static void on_tick(struct loop *l, int id, void *arg)
{
	struct rds *r = arg;
	int64_t now = mono_ms(r);

	(void)l;
	(void)id;
	if (r->state == RDS_BACKOFF && r->t_backoff < 0) {
		rds_attempt(r);
		return;
	}
	if (r->state == RDS_HANDSHAKE && now - r->attempt_ms > RDS_CONNECT_TIMEOUT_MS) {
		rds_drop(r, FR_ETIMEDOUT, "connect and handshake timed out");
		return;
	}
	if (r->state != RDS_READY)
		return;
	if (r->inflight > 0 && now - r->progress_ms > RDS_COMMAND_TIMEOUT_MS) {
		rds_drop(r, FR_ETIMEDOUT, "no reply from Redis in time");
		return;
	}
	if (!r->rewrite_active && now >= r->heartbeat_due_ms) {
		r->heartbeat_due_ms = now + RDS_HEARTBEAT_MS;
		for (int i = 0; i < r->dbs_n; i++) {
			struct rds_op_ *op = queue_tail(r);

			if (!op || build_heartbeat(r, op, r->dbs[i]) < 0)
				break;
			queue_commit(r);
			r->stats.heartbeats++;
		}
		rds_pump(r);
	}
}

/* ---- public calls ------------------------------------------------------------ */

static void sha1_hex(const char *s, char *out)
{
	static const char hex[] = "0123456789abcdef";
	br_sha1_context c;
	unsigned char d[20];

	br_sha1_init(&c);
	br_sha1_update(&c, s, strlen(s));
	br_sha1_out(&c, d);
	for (int i = 0; i < 20; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[40] = '\0';
}

/* see rds.h */
int rds_init(struct rds *r, struct loop *l, struct resolv *res, const struct cfg *c,
             const struct book *b)
{
	assert(r && l && res && c && b);
	memset(r, 0, sizeof *r);
	if (c->bots_n == 0)
		return FR_ECONFIG;
	r->loop = l;
	r->resolv = res;
	r->cfg = c;
	r->book = b;
	r->fd = -1;
	r->qid = -1;
	r->t_backoff = -1;
	r->t_tick = -1;
	r->rand = (uint64_t)wall_ms(r) ^ (uint64_t)(uintptr_t)r ^ 0x9e3779b97f4a7c15ull;
	if (r->rand == 0)
		r->rand = 1;
	for (int i = 0; i < c->bots_n; i++) {
		int k = 0;

		while (k < r->dbs_n && r->dbs[k] != (int)c->bots[i].redis_db)
			k++;
		if (k == r->dbs_n)
			r->dbs[r->dbs_n++] = (int)c->bots[i].redis_db;
	}
	sha1_hex(rds_guard_lua, r->sha);
	return 0;
}

/* see rds.h */
int rds_start(struct rds *r)
{
	if (r->state != RDS_IDLE)
		return 0;
	r->t_tick = loop_timer_add(r->loop, RDS_TICK_MS, RDS_TICK_MS, on_tick, r);
	if (r->t_tick < 0)
		return FR_EFULL;
	r->attempts = 0;
	r->logged_outage = 0;
	rds_attempt(r);
	return 0;
}

/* see rds.h */
void rds_stop(struct rds *r)
{
	r->state = RDS_IDLE;
	if (r->qid >= 0)
		resolv_cancel(r->resolv, r->qid);
	r->qid = -1;
	if (r->t_backoff >= 0)
		loop_timer_cancel(r->loop, r->t_backoff);
	if (r->t_tick >= 0)
		loop_timer_cancel(r->loop, r->t_tick);
	r->t_backoff = r->t_tick = -1;
	if (r->ac)
		redisAsyncFree(r->ac); /* pending callbacks get NULL; cleanup runs */
	r->q_n = 0;
	r->q_head = 0;
	r->rewrite_active = r->rewrite_again = 0;
}

static int queue_position(struct rds *r, const struct book_position *p, const char *version)
{
	struct rds_op_ *op;

	if (r->state != RDS_READY) {
		r->stats.positions_dropped++;
		return 0;
	}
	op = queue_tail(r);
	if (!op)
		return state_dropped(r);
	if (build_position(r, op, p, version) < 0)
		return FR_ERANGE;
	queue_commit(r);
	return 1;
}

static int queue_publish(struct rds *r, const char *account, const struct decode_exec *x,
                         const struct book_result *res, int alloc_i)
{
	const char *bot = alloc_i >= 0 ? res->allocs[alloc_i].bot : res->bot;
	char chan[RDS_KEY_MAX], mark[RDS_KEY_MAX], json[RDS_JSON_MAX], ttl[24];
	const char *cat;
	struct rds_op_ *op;
	int db, n;

	if (r->state != RDS_READY || !(op = queue_tail(r))) {
		r->stats.publishes_lost++;
		return r->state == RDS_READY ? FR_EFULL : 0;
	}
	n = rds_fill_json(json, sizeof json, account, x, res, alloc_i);
	if (n < 0 || fit(snprintf(chan, sizeof chan, "fillrelay:fills:%s", bot), sizeof chan) < 0 ||
	    fit(snprintf(mark, sizeof mark, "fillrelay:published:%s:%s:%s", account, x->exec_id,
	                 bot), sizeof mark) < 0)
		return FR_ERANGE;
	snprintf(ttl, sizeof ttl, "%d", RDS_PUBLISHED_TTL_MS);
	bot_home(r, account, bot, &db, &cat);
	op_reset(op, OP_PUBLISH, db);
	op->t0_us = r->origin_us_;
	if (op_str(op, "EVAL") | op_str(op, rds_publish_lua) | op_str(op, "1") | op_str(op, mark) |
	    op_str(op, chan) | op_arg(op, json, (size_t)n) | op_str(op, ttl))
		return FR_ERANGE;
	queue_commit(r);
	return 1;
}

static void note_fill(struct rds *r, const char *account, const struct decode_exec *x)
{
	struct rds_sym_ *s = sym_slot(r, account, x->category, x->symbol, 1);
	int64_t seq = x->seq.present ? x->seq.v : -1;
	struct decode_exec last;

	if (!s)
		return;
	if (s->have_fill) {
		memset(&last, 0, sizeof last);
		last.exec_time_ms = s->fill_time_ms;
		last.seq.present = 1;
		last.seq.v = s->fill_seq;
		snprintf(last.exec_id, sizeof last.exec_id, "%s", s->fill_exec_id);
		if (book_fill_cmp(x, &last) < 0)
			return;
	}
	s->have_fill = 1;
	s->fill_time_ms = x->exec_time_ms;
	s->fill_seq = seq;
	snprintf(s->fill_exec_id, sizeof s->fill_exec_id, "%s", x->exec_id);
	for (int idx = 0; idx < 3; idx++)
		if (s->views[idx].have)
			view_drift(r, s, idx); /* rds_fill writes a view whose drift changed */
}

static int queue_views(struct rds *r, struct rds_sym_ *s, int idx)
{
	int dbs[RDS_DBS_MAX], n = account_dbs(r, s->account, dbs), e = 0;

	if (r->state != RDS_READY)
		return 0;
	for (int i = 0; i < n; i++) {
		struct rds_op_ *op = queue_tail(r);

		if (!op) {
			e = state_dropped(r);
			break;
		}
		if (build_view(r, op, s, idx, dbs[i]) < 0)
			return FR_ERANGE;
		queue_commit(r);
	}
	return e;
}

/* see rds.h */
void rds_flush(struct rds *r)
{
	redisAsyncContext *ac = r->ac;

	if (r->state == RDS_READY && ac && sdslen(ac->c.obuf) > 0)
		redisAsyncHandleWrite(ac);
}

/* see rds.h */
int rds_fill(struct rds *r, const char *account, const struct decode_exec *x,
             const struct book_result *res, enum rds_publish pub)
{
	char version[RDS_VERSION_MAX];
	struct rds_sym_ *s;
	int queued = 0, e = 0, n;
	uint8_t drift_before[3] = { 0, 0, 0 };

	if (res->status != BOOK_APPLIED)
		return FR_EINVAL;
	if (version_of_exec(version, sizeof version, x) < 0)
		return FR_ERANGE;
	s = sym_slot(r, account, x->category, x->symbol, 0);
	for (int i = 0; s && i < 3; i++)
		drift_before[i] = (uint8_t)s->views[i].drift;
	note_fill(r, account, x);
	for (int i = 0; i < res->positions_n; i++) {
		const struct book_position *p = &res->positions[i];

		version_remember(r, p, x->seq.present ? x->seq.v : -1);
		n = queue_position(r, p, version);
		if (n < 0)
			e = e ? e : n;
		else
			queued += n;
	}
	s = sym_slot(r, account, x->category, x->symbol, 0);
	for (int i = 0; s && i < 3; i++)
		if (s->views[i].have && (uint8_t)s->views[i].drift != drift_before[i] &&
		    queue_views(r, s, i) < 0)
			e = e ? e : FR_EFULL;
	for (int i = 0; pub == RDS_PUBLISH && i < (res->allocs_n ? res->allocs_n : 1); i++) {
		n = queue_publish(r, account, x, res, res->allocs_n ? i : -1);
		if (n < 0)
			e = e ? e : n;
		else
			queued += n;
	}
	rds_pump(r);
	return e ? e : queued;
}

static int view_older(const struct rds_view_ *v, const struct decode_position *p)
{
	int64_t seq = p->seq.present ? p->seq.v : -1;

	if (!v->have)
		return 0;
	if (p->updated_time_ms != v->updated_ms)
		return p->updated_time_ms < v->updated_ms;
	return seq < v->seq;
}

/* see rds.h */
int rds_exchange_position(struct rds *r, const char *account, const struct decode_position *p)
{
	int idx = p->position_idx.present ? (int)p->position_idx.v : 0;
	struct rds_sym_ *s;
	struct rds_view_ *v;

	if (idx < 0 || idx > 2)
		return FR_EINVAL;
	s = sym_slot(r, account, p->category, p->symbol, 1);
	if (!s)
		return FR_ENOMEM;
	v = &s->views[idx];
	if (view_older(v, p))
		return (int)v->drift;
	if (!v->have)
		v->drift = RDS_DRIFT_PENDING; /* so that a first MISMATCH is logged */
	v->have = 1;
	v->size = dec_abs(p->size.v);
	snprintf(v->side, sizeof v->side, "%s", p->side);
	v->seq = p->seq.present ? p->seq.v : -1;
	v->updated_ms = p->updated_time_ms;
	view_drift(r, s, idx);
	queue_views(r, s, idx);
	rds_pump(r);
	return (int)v->drift;
}

/* see rds.h */
enum rds_state rds_state(const struct rds *r)
{
	return r->state;
}

/* see rds.h */
int rds_backlog(const struct rds *r)
{
	return r->q_n;
}

/* see rds.h */
int rds_idle(const struct rds *r)
{
	return r->state == RDS_READY && !r->rewrite_active && !r->rewrite_again && r->q_n == 0 &&
	       r->inflight == 0;
}

/* see rds.h */
int rds_last_error(const struct rds *r, const char **msg)
{
	if (msg)
		*msg = r->msg;
	return r->err;
}
