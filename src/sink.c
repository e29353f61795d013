/*
 * sink.c -- the sink core: journal, ring, book, PostgreSQL and Redis joined
 * (see sink.h for the contract).
 */
#define _POSIX_C_SOURCE 200809L
#include "sink.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "orderid.h"

/* ---- small helpers ------------------------------------------------------- */

static void sink_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static int64_t sink_now(const struct sink *s)
{
	return s->loop->sys->wall_ms(s->loop->sys->ctx);
}

/* Logs a record nobody can use, with a prefix of its text. */
static void sink_log_reject(const char *what, const char *account, const char *why,
                            const char *raw, size_t n)
{
	char head[160];

	if (n >= sizeof head)
		n = sizeof head - 1;
	memcpy(head, raw, n);
	head[n] = 0;
	log_warn(what, LS("account", account), LS("reason", why), LS("raw", head));
}

/* ---- the order table ----------------------------------------------------- */

static uint32_t sink_hash(const char *a, const char *b)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 16777619u;
	return h;
}

static struct sink_order_ *sink_order_slot(struct sink *s, const char *account,
                                           const char *order_id)
{
	return &s->orders_[sink_hash(account, order_id) & (SINK_ORDERS_MAX - 1)];
}

/* Remembers an order unless the slot holds a newer state of the same order. */
static void sink_order_note(struct sink *s, const char *account, const struct decode_order *o)
{
	struct sink_order_ *e = sink_order_slot(s, account, o->order_id);

	if (!strcmp(e->account, account) && !strcmp(e->order_id, o->order_id) &&
	    e->updated_ms > o->updated_time_ms)
		return;
	sink_copy(e->account, sizeof e->account, account);
	sink_copy(e->order_id, sizeof e->order_id, o->order_id);
	e->updated_ms = o->updated_time_ms;
	book_order_from_decode(&e->o, o);
}

static const struct book_order *sink_order_find(struct sink *s, const char *account,
                                                const char *order_id)
{
	struct sink_order_ *e;

	if (!order_id[0])
		return NULL;
	e = sink_order_slot(s, account, order_id);
	if (strcmp(e->account, account) != 0 || strcmp(e->order_id, order_id) != 0)
		return NULL;
	return &e->o;
}

/* ---- step 1: messages into the journal ----------------------------------- */

static int sink_journal(struct sink *s, enum journal_kind kind, const char *category,
                        const char *msg, struct decode_span raw)
{
	struct journal_rec r;
	const unsigned char *enc;
	uint64_t seq;
	size_t n;
	int rc;

	if (raw.len > JOURNAL_RAW_MAX) {
		s->stats.too_large++;
		sink_log_reject("record larger than the journal takes: not kept", s->account_,
		                "too large", msg + raw.off, raw.len);
		return 0;
	}
	memset(&r, 0, sizeof r);
	r.kind = kind;
	r.source = s->src_;
	r.received_at_ms = s->received_ms_;
	sink_copy(r.account, sizeof r.account, s->account_);
	sink_copy(r.category, sizeof r.category, category);
	r.raw = msg + raw.off;
	r.raw_len = raw.len;
	rc = journal_append(&s->j, &r, &seq);
	if (rc == FR_EINVAL || rc == FR_ERANGE) {
		s->stats.rejected++;
		sink_log_reject("record the journal refuses: not kept", s->account_,
		                journal_error(&s->j), r.raw, r.raw_len);
		return 0;
	}
	if (rc != 0)
		return rc;
	s->stats.records_journaled++;
	s->stats.fills_journaled += kind == JOURNAL_KIND_EXECUTION;
	s->taken_us_[seq & (SINK_TAKEN_MAX - 1)] = s->take_us_;
	enc = journal_last_record(&s->j, &n);
	if (s->ring.next_seq != seq)
		ring_reset(&s->ring, seq);
	ring_push(&s->ring, seq, enc, n);
	return 0;
}

/* ---- step 2: records into the book and batches --------------------------- */

static void sink_rebuild_dirty(struct sink *s);

/* Submits b as covering the journal up to what was moved; the next open batch
 * (NULL when none is free). */
static struct pg_batch *sink_submit(struct sink *s, struct pg_batch *b)
{
	pg_batch_submit(s->pg, b, s->moved_seq_);
	s->submitted_seq_ = s->moved_seq_;
	return pg_batch_open(s->pg);
}

/* Room in the open batch for a record needing `rows` of kind k (and allocs,
 * trips, bot positions for a fill of k holders) plus text bytes: the open
 * batch, after submitting a full one; NULL when no batch is free. */
static struct pg_batch *sink_room(struct sink *s, enum pg_kind k, int rows, int holders,
                                  uint32_t text)
{
	struct pg_batch *b = pg_batch_open(s->pg);
	int full;

	if (!b)
		return NULL;
	full = b->n[k] + rows > (k == PG_KIND_FILL ? PG_BATCH_FILLS_MAX
	                         : k == PG_KIND_ORDER ? PG_BATCH_ORDERS_MAX
	                         : k == PG_KIND_POSITION ? PG_BATCH_POSITIONS_MAX
	                                                 : PG_BATCH_WALLET_MAX);
	full |= b->text_used + text > PG_BATCH_TEXT_MAX;
	if (k == PG_KIND_FILL) {
		int trips = 2 * holders < PG_BATCH_TRIPS_MAX ? 2 * holders : PG_BATCH_TRIPS_MAX;
		full |= b->n[PG_KIND_ALLOC] + holders > PG_BATCH_ALLOCS_MAX;
		full |= b->n[PG_KIND_BOTPOS] + holders > PG_BATCH_BOTPOS_MAX;
		full |= b->n[PG_KIND_TRIP] + trips > PG_BATCH_TRIPS_MAX;
	}
	if (!full)
		return b;
	for (int i = 0; i < PG_KINDS; i++)
		if (b->n[i])
			goto submit;
	return b; /* empty: takes what it can */
submit:
	return sink_submit(s, b);
}

static void sink_row_lost(struct sink *s, int rc, const char *what)
{
	if (rc == 0)
		return;
	s->stats.rows_lost++;
	log_error("a row did not fit its batch", LS("row", what), LS("error", err_str(rc)));
}

static void sink_add_applied(struct sink *s, struct pg_batch *b, const char *account,
                             const struct decode_exec *x)
{
	const struct book_result *r = &s->res_;

	if (r->allocs_n > 1)
		for (int i = 0; i < r->allocs_n; i++)
			sink_row_lost(s, pg_batch_add_alloc(b, account, x->exec_id, &r->allocs[i]),
			              "allocation");
	for (int i = 0; i < r->trips_n; i++)
		sink_row_lost(s, pg_batch_add_trip(b, &r->trips[i]), "trip");
	for (int i = 0; i < r->positions_n; i++)
		sink_row_lost(s, pg_batch_add_bot_position(b, &r->positions[i]), "bot position");
}

/* ---- dirty symbols (late fills wait for a rebuild) ------------------------ */

static int sink_dirty_find(const struct sink *s, const char *account, const char *category,
                           const char *symbol)
{
	for (int i = 0; i < s->dirty_n_; i++) {
		const struct sink_dirty_ *e = &s->dirty_[i];

		if (!strcmp(e->account, account) && !strcmp(e->category, category) &&
		    !strcmp(e->symbol, symbol))
			return i;
	}
	return -1;
}

/* 0 marked (or already), FR_EFULL when the table is full. */
static int sink_dirty_add(struct sink *s, const char *account, const struct decode_exec *x)
{
	struct sink_dirty_ *e;

	if (sink_dirty_find(s, account, x->category, x->symbol) >= 0)
		return 0;
	if (s->dirty_n_ >= SINK_DIRTY_MAX)
		return FR_EFULL;
	e = &s->dirty_[s->dirty_n_++];
	sink_copy(e->account, sizeof e->account, account);
	sink_copy(e->category, sizeof e->category, x->category);
	sink_copy(e->symbol, sizeof e->symbol, x->symbol);
	return 0;
}

static int sink_move_exec(void *ctx, const struct decode_env *env, const struct decode_exec *x)
{
	struct sink *s = ctx;
	const char *account = s->account_;
	int holders = book_holders(s->book, account, x->category, x->symbol) + 1;
	struct pg_batch *b;
	struct pg_derived d;
	int rc, st, fill_i;

	(void)env;
	if (sink_dirty_find(s, account, x->category, x->symbol) >= 0) {
		s->stats.held++; /* a rebuild is pending: this fill waits in the journal */
		return FR_EAGAIN;
	}
	b = sink_room(s, PG_KIND_FILL, 1, holders, x->raw.len + 1);
	if (!b)
		return FR_EAGAIN;
	rc = st = book_apply(s->book, account, x, sink_order_find(s, account, x->order_id), &s->res_);
	fill_i = b->n[PG_KIND_FILL];
	if (rc == BOOK_APPLIED)
		pg_derived_from_book(&d, &s->res_);
	if (rc < 0) {
		s->stats.book_errors++;
		log_warn("fill the book refuses: stored unattributed", LS("account", account),
		         LS("exec_id", x->exec_id), LS("reason", s->res_.why));
	} else if (rc == BOOK_DUPLICATE) {
		s->stats.book_duplicates++;
	} else if (rc == BOOK_LATE) {
		s->stats.late++;
		log_debug("late fill: the symbol is rebuilt if PostgreSQL did not have it",
		          LS("account", account), LS("symbol", x->symbol), LS("exec_id", x->exec_id));
	}
	rc = pg_batch_add_fill(b, account, x, s->wrap_, rc == BOOK_APPLIED ? &d : NULL,
	                       s->received_ms_);
	if (rc != 0) {
		sink_row_lost(s, rc, "fill");
		return 0;
	}
	/* A late fill makes its symbol dirty only if PostgreSQL did not have it
	 * (sink_pg_on_commit): a backfill brings back, within its margin, many
	 * fills already stored and applied, and those change nothing. */
	s->late_[b - s->pg->batches][fill_i] = st == BOOK_LATE;
	if (st == BOOK_APPLIED) {
		sink_add_applied(s, b, account, x);
		/* Redis sees the fill now, not after the commit: its writes are
		 * guarded and its publish happens once (rds.h), so nothing waits
		 * for PostgreSQL or an fsync to show a bot its position. */
		s->stats.published++;
		rds_set_origin(s->rds, s->cur_seq_ + SINK_TAKEN_MAX > s->j.next_seq
		                       ? s->taken_us_[s->cur_seq_ & (SINK_TAKEN_MAX - 1)] : 0);
		rds_fill(s->rds, account, x, &s->res_, RDS_PUBLISH);
		rds_set_origin(s->rds, 0);
	}
	return 0;
}

static int sink_move_order(void *ctx, const struct decode_env *env, const struct decode_order *o)
{
	struct sink *s = ctx;
	struct pg_batch *b = sink_room(s, PG_KIND_ORDER, 1, 0, o->raw.len + 1);
	struct orderid_parsed id;
	const char *link = o->order_link_id[0] ? o->order_link_id : o->parent_order_link_id;

	(void)env;
	if (!b)
		return FR_EAGAIN;
	sink_order_note(s, s->account_, o);
	if (orderid_parse(link, strlen(link), s->cfg, &id) != 0)
		memset(&id, 0, sizeof id);
	sink_row_lost(s, pg_batch_add_order(b, s->account_, o, s->wrap_, id.bot, id.reason), "order");
	return 0;
}

static int sink_move_position(void *ctx, const struct decode_env *env,
                              const struct decode_position *p)
{
	struct sink *s = ctx;
	struct pg_batch *b = sink_room(s, PG_KIND_POSITION, 1, 0, p->raw.len + 1);

	(void)env;
	if (!b)
		return FR_EAGAIN;
	rds_exchange_position(s->rds, s->account_, p);
	sink_row_lost(s, pg_batch_add_position(b, s->account_, p, s->wrap_), "position");
	return 0;
}

static int sink_move_wallet(void *ctx, const struct decode_env *env, const struct decode_wallet *w)
{
	struct sink *s = ctx;
	int rows = w->coin_index <= 0 ? (w->coins_n > 0 ? w->coins_n : 1) : 0;
	struct pg_batch *b = sink_room(s, PG_KIND_WALLET, rows, 0, w->account_raw.len + 1);

	if (!b)
		return FR_EAGAIN;
	sink_row_lost(s, pg_batch_add_wallet(b, s->account_, w, s->wrap_, env->time_ms.v),
	              "wallet");
	return 0;
}

static const struct decode_sink sink_move_cbs = {
	.on_exec = sink_move_exec,
	.on_order = sink_move_order,
	.on_position = sink_move_position,
	.on_wallet = sink_move_wallet,
};

/* Puts raw into a REST envelope carrying category and a time: its length in
 * buf (SINK_WRAP_MAX bytes), or FR_ERANGE. */
static int sink_wrap_into(char *buf, int64_t ms, const char *category, const char *raw,
                          size_t len)
{
	int n = snprintf(buf, SINK_WRAP_MAX,
	                 "{\"retCode\":0,\"retMsg\":\"OK\",\"time\":%lld,\"result\":{"
	                 "\"category\":\"%s\",\"list\":[",
	                 (long long)ms, category);

	if (n < 0 || (size_t)n + len + 3 > SINK_WRAP_MAX)
		return FR_ERANGE;
	memcpy(buf + n, raw, len);
	memcpy(buf + n + len, "]}}", 3);
	return n + (int)len + 3;
}

/* A journal record in its envelope, in s->wrap_. */
static int sink_wrap(struct sink *s, const struct journal_rec *r)
{
	return sink_wrap_into(s->wrap_, r->received_at_ms, r->category, r->raw, r->raw_len);
}

/* The record of sequence seq, from the ring or else the journal. 1, 0 none. */
static int sink_read(struct sink *s, uint64_t seq, struct journal_rec *r)
{
	const void *p;
	size_t n;
	int rc;

	if (ring_get(&s->ring, seq, &p, &n) == 0 && journal_decode(p, n, r, NULL) > 0)
		return 1;
	/* Not journal_iter_init: a fresh iterator reads its segment from the
	 * start, and doing that at every ring miss, or every time a record
	 * found no free batch, made a spill quadratic. */
	journal_iter_seek(&s->j, &s->it_, seq);
	rc = journal_iter_next(&s->j, &s->it_, r);
	if (rc == 1 && r->seq != seq)
		return 0;
	return rc;
}

/* The value of "key" in a JSON text, when a plain string: its execId, say. */
static void sink_ref(char *dst, size_t cap, const char *t, size_t n, const char *key)
{
	size_t kl = strlen(key), i = 0, w = 0;

	dst[0] = 0;
	for (; i + kl + 2 <= n; i++)
		if (t[i] == '"' && memcmp(t + i + 1, key, kl) == 0 && t[i + 1 + kl] == '"')
			break;
	if (i + kl + 2 > n)
		return;
	for (i += kl + 2; i < n && (t[i] == ' ' || t[i] == ':'); i++)
		;
	if (i >= n || t[i] != '"')
		return;
	for (i++; i < n && t[i] != '"' && t[i] != '\\' && w + 1 < cap; i++)
		dst[w++] = t[i];
	dst[w] = 0;
}

/* A refused record into the open batch's rejects: 1 moved, 0 no batch free. */
static int sink_move_reject(struct sink *s, const struct journal_rec *r)
{
	const char *nl = memchr(r->raw, '\n', r->raw_len);
	size_t rn = nl ? (size_t)(nl - r->raw) : 0;
	const char *text = nl ? nl + 1 : r->raw;
	size_t tn = r->raw_len - (size_t)(text - r->raw);
	char reason[PG_REJECT_MSG_MAX], ref[64];
	const char *key = !strcmp(r->category, "execution") ? "execId"
	                  : !strcmp(r->category, "order") ? "orderId" : "symbol";
	struct pg_batch *b = pg_batch_open(s->pg);
	int rc;

	if (!b)
		return 0;
	snprintf(reason, sizeof reason, "%.*s", (int)rn, r->raw);
	sink_ref(ref, sizeof ref, text, tn, key);
	rc = pg_batch_add_reject(b, r->account, r->category, ref, reason, text, tn,
	                         r->received_at_ms);
	if (rc == FR_EFULL) {
		if (!(b = sink_submit(s, b)))
			return 0;
		rc = pg_batch_add_reject(b, r->account, r->category, ref, reason, text, tn,
		                         r->received_at_ms);
	}
	sink_row_lost(s, rc, "reject");
	return 1;
}

static const enum decode_kind sink_kinds[] = {
	[JOURNAL_KIND_EXECUTION] = DECODE_KIND_EXECUTION,
	[JOURNAL_KIND_ORDER] = DECODE_KIND_ORDER,
	[JOURNAL_KIND_POSITION] = DECODE_KIND_POSITION,
	[JOURNAL_KIND_WALLET] = DECODE_KIND_WALLET,
};

/* Moves one record into the open batch: 1 moved, 0 stop (no batch free or
 * nothing to read). */
static int sink_move_one(struct sink *s, uint64_t seq)
{
	struct journal_rec r;
	int n, rc = sink_read(s, seq, &r);

	if (rc < 0) {
		log_error("journal read failed", LS("error", journal_error(&s->j)));
		return 0;
	}
	if (rc == 0)
		return 0;
	if (r.kind == JOURNAL_KIND_REJECT) {
		if (!sink_move_reject(s, &r))
			return 0;
		s->moved_seq_ = seq;
		s->stats.records_moved++;
		return 1;
	}
	n = sink_wrap(s, &r);
	s->cur_seq_ = seq;
	s->account_ = r.account;
	s->received_ms_ = r.received_at_ms;
	s->phase_ = SINK_PH_MOVE;
	struct decode_sink cbs = sink_move_cbs;

	cbs.ctx = s;
	rc = n < 0 ? n : decode_rest(&s->d, sink_kinds[r.kind], s->wrap_, (size_t)n, &cbs);
	if (rc == FR_EAGAIN)
		return 0;
	if (rc < 0)
		log_warn("journal record does not decode again: skipped", LI("seq", seq),
		         LS("reason", s->d.why));
	s->moved_seq_ = seq;
	s->stats.records_moved++;
	return 1;
}

/* ---- rebuilds ------------------------------------------------------------ */

/* see sink.h */
static int sink_rb_may_read(void *arg)
{
	struct sink_rebuild *rb = arg;

	return !rb->may_read || rb->may_read(rb->ctx);
}

void sink_rebuild_init(struct sink_rebuild *rb, const struct cfg *c, struct book *b,
                       struct pg *p, struct loop *l, sink_rebuilt_fn fn, void *ctx)
{
	rb->cfg = c;
	rb->book = b;
	rb->pg = p;
	rb->fn = fn;
	rb->ctx = ctx;
	rb->symbols = rb->fills = rb->changed = rb->skipped = 0;
	rb->stored_ = NULL;
	rb->may_read = NULL;
	pg_rbio_init(&rb->io_, p, l);
	rb->io_.may_read_ = sink_rb_may_read;
}

/* Adds a write's result: rows changed, or the error that stops the rebuild. */
static int sink_rb_count(struct sink_rebuild *rb, int rc)
{
	if (rc < 0) {
		rb->err_ = rc;
		return rc;
	}
	rb->changed += (uint64_t)rc;
	return 0;
}

/* Remembers the highest closed round trip of a bot. */
static void sink_rb_keep(struct sink_rebuild *rb, const struct book_trip *t)
{
	int i;

	for (i = 0; i < rb->keep_n_; i++)
		if (!strcmp(rb->keep_[i].bot, t->bot))
			break;
	if (i == rb->keep_n_) {
		if (i >= (int)(sizeof rb->keep_ / sizeof rb->keep_[0]))
			return; /* cannot happen: holders are bounded; its trips then go */
		sink_copy(rb->keep_[i].bot, sizeof rb->keep_[i].bot, t->bot);
		rb->keep_[i].max_seq = 0;
		rb->keep_n_++;
	}
	if (t->trade_seq > rb->keep_[i].max_seq)
		rb->keep_[i].max_seq = t->trade_seq;
}

static int sink_rb_order(void *ctx, const struct decode_env *env, const struct decode_order *o)
{
	struct sink_rebuild *rb = ctx;

	(void)env;
	book_order_from_decode(&rb->order_, o);
	rb->have_order_ = 1;
	return 0;
}

static int sink_rb_is(const char *stored, const char *want)
{
	return stored && !strcmp(stored, want);
}

/*
 * Whether the row as stored (bot_id, reason, close_reason, realized_pnl,
 * trade_seq, has allocations) already says what the rebuilt book says: then
 * nothing is written for it. A rebuild re-applies a symbol's whole history,
 * and rewriting every fill of it (three statements each) cost seconds once a
 * symbol held thousands of fills; usually only the fills after the late one
 * change.
 */
static int sink_rb_unchanged(const struct sink_rebuild *rb, const struct pg_derived *d,
                             const struct book_result *r)
{
	const char *const *v = rb->stored_;
	char pnl[DEC_STR_MAX], seq[24];
	struct dec zero;

	if (!v)
		return 0;
	dec_parse(&zero, "0", 1);
	dec_format(d ? d->realized_pnl : zero, pnl, sizeof pnl);
	snprintf(seq, sizeof seq, "%lld", (long long)(d ? d->trade_seq : 0));
	return sink_rb_is(v[0], d && d->bot[0] ? d->bot : BOOK_BOT_UNATTRIBUTED) &&
	       sink_rb_is(v[1], d ? d->reason : "") && sink_rb_is(v[2], d ? d->close_reason : "") &&
	       sink_rb_is(v[3], pnl) && sink_rb_is(v[4], seq) &&
	       sink_rb_is(v[5], "f") && !(r && r->allocs_n > 1);
}

/* One stored fill, in exchange order: applied, its derived rows rewritten. */
static int sink_rb_exec(void *ctx, const struct decode_env *env, const struct decode_exec *x)
{
	struct sink_rebuild *rb = ctx;
	struct book_result *r = &rb->res_;
	struct pg_derived d;
	int st = book_apply(rb->book, rb->sym_[0], x, rb->have_order_ ? &rb->order_ : NULL, r);

	(void)env;
	rb->fills++;
	if (st < 0)
		log_warn("stored fill the book refuses", LS("exec_id", x->exec_id), LS("reason", r->why));
	if (st == BOOK_APPLIED)
		pg_derived_from_book(&d, r);
	if (sink_rb_unchanged(rb, st == BOOK_APPLIED ? &d : NULL, st == BOOK_APPLIED ? r : NULL))
		rb->skipped++;
	else if (sink_rb_count(rb, pg_blk_fill_derived(&rb->io_.wr, rb->sym_[0], x->exec_id,
	                                               st == BOOK_APPLIED ? &d : NULL)) ||
	         sink_rb_count(rb, pg_blk_allocs(&rb->io_.wr, rb->sym_[0], x->exec_id,
	                                         st == BOOK_APPLIED ? r : NULL)))
		return rb->err_;
	if (st != BOOK_APPLIED)
		return 0;
	rb->last_x_ = *x;
	rb->have_last_ = 1;
	for (int i = 0; i < r->trips_n; i++) {
		if (sink_rb_count(rb, pg_blk_trip(&rb->io_.wr, &r->trips[i])))
			return rb->err_;
		sink_rb_keep(rb, &r->trips[i]);
	}
	if (rb->fn)
		rb->fn(rb->ctx, rb->sym_[0], x, r);
	return 0;
}

static const struct decode_sink sink_rb_cbs = {
	.on_exec = sink_rb_exec,
	.on_order = sink_rb_order,
};

/* One row: category, fill raw, order raw (or NULL). */
static int sink_rb_row(void *arg, int ncols, const char *const *v)
{
	struct sink_rebuild *rb = arg;
	struct decode_sink cbs = sink_rb_cbs;
	int n;

	cbs.ctx = rb;
	if (ncols < 3 || !v[0] || !v[1])
		return 0;
	rb->stored_ = ncols >= 9 ? v + 3 : NULL;
	rb->have_order_ = 0;
	if (v[2] && (n = sink_wrap_into(rb->wrap_, 0, v[0], v[2], strlen(v[2]))) > 0)
		decode_rest(&rb->d_, DECODE_KIND_ORDER, rb->wrap_, (size_t)n, &cbs);
	n = sink_wrap_into(rb->wrap_, 0, v[0], v[1], strlen(v[1]));
	if (n < 0) {
		log_warn("stored fill too large to rebuild: skipped", LS("account", rb->sym_[0]));
		return 0;
	}
	n = decode_rest(&rb->d_, DECODE_KIND_EXECUTION, rb->wrap_, (size_t)n, &cbs);
	rb->stored_ = NULL;
	if (n < 0 && rb->err_)
		return rb->err_;
	return 0;
}

/* The symbol's positions and round trips as the rebuilt book has them. */
static int sink_rb_finish(struct sink_rebuild *rb, const char *account, const char *category,
                          const char *symbol)
{
	static char keep[(BOOK_ALLOC_MAX + 1) * 3 * (BOOK_BOT_MAX + 24)];
	const struct book_position *q;
	size_t used = 0;
	int cur = 0;

	keep[0] = 0;
	while ((q = book_position_next(rb->book, &cur)) != NULL) {
		if (strcmp(q->account, account) || strcmp(q->category, category) ||
		    strcmp(q->symbol, symbol))
			continue;
		if (sink_rb_count(rb, pg_blk_bot_position(&rb->io_.wr, q)))
			return rb->err_;
		if (used + BOOK_BOT_MAX + 24 < sizeof keep)
			used += (size_t)snprintf(keep + used, sizeof keep - used, "%s%s:%d",
			                         used ? "," : "", q->bot, q->position_idx);
	}
	if (sink_rb_count(rb, pg_blk_bot_positions_keep(&rb->io_.wr, account, category, symbol, keep)))
		return rb->err_;
	used = 0;
	keep[0] = 0;
	for (int i = 0; i < rb->keep_n_; i++)
		used += (size_t)snprintf(keep + used, sizeof keep - used, "%s%s:%lld",
		                         used ? "," : "", rb->keep_[i].bot,
		                         (long long)rb->keep_[i].max_seq);
	return sink_rb_count(rb, pg_blk_trips_keep(&rb->io_.wr, account, category, symbol, keep));
}

static const char sink_rb_sql[] =
	"SELECT f.category, f.raw::text, o.raw::text, f.bot_id, f.reason, f.close_reason,"
	" f.realized_pnl::text, f.trade_seq::text, EXISTS (SELECT 1 FROM"
	" trading.fill_allocations a WHERE a.account = f.account AND a.exec_id = f.exec_id)"
	" FROM trading.fills f LEFT JOIN trading.orders o"
	" ON o.account = f.account AND o.order_id = f.order_id AND f.order_id <> ''"
	" WHERE f.account = $1 AND f.category = $2 AND f.symbol = $3"
	" ORDER BY f.exec_time, COALESCE(f.seq, -1), f.exec_id COLLATE \"C\"";

/* The bots holding the symbol now (before its rebuild). */
static void sink_rb_held(struct sink_rebuild *rb, const char *account, const char *category,
                         const char *symbol)
{
	const struct book_position *q;
	int cur = 0;

	rb->held_n_ = 0;
	while ((q = book_position_next(rb->book, &cur)) != NULL &&
	       rb->held_n_ < (int)(sizeof rb->held_ / sizeof rb->held_[0]))
		if (!strcmp(q->account, account) && !strcmp(q->category, category) &&
		    !strcmp(q->symbol, symbol))
			rb->held_[rb->held_n_++] = *q;
}

/* Those of them the rebuilt book has no position for: told flat. */
static void sink_rb_flat(struct sink_rebuild *rb)
{
	for (int i = 0; rb->fn && rb->have_last_ && i < rb->held_n_; i++) {
		const struct book_position *h = &rb->held_[i], *q;
		int cur = 0, found = 0;

		while (!found && (q = book_position_next(rb->book, &cur)) != NULL)
			found = !strcmp(q->account, h->account) && !strcmp(q->bot, h->bot) &&
			        !strcmp(q->category, h->category) && !strcmp(q->symbol, h->symbol) &&
			        q->position_idx == h->position_idx;
		if (found)
			continue;
		memset(&rb->res_, 0, sizeof rb->res_);
		rb->res_.status = BOOK_APPLIED;
		sink_copy(rb->res_.bot, sizeof rb->res_.bot, h->bot);
		rb->res_.positions_n = 1;
		memset(&rb->res_.positions[0], 0, sizeof rb->res_.positions[0]);
		sink_copy(rb->res_.positions[0].account, sizeof rb->res_.positions[0].account,
		          h->account);
		sink_copy(rb->res_.positions[0].bot, sizeof rb->res_.positions[0].bot, h->bot);
		sink_copy(rb->res_.positions[0].category, sizeof rb->res_.positions[0].category,
		          h->category);
		sink_copy(rb->res_.positions[0].symbol, sizeof rb->res_.positions[0].symbol, h->symbol);
		sink_copy(rb->res_.positions[0].currency, sizeof rb->res_.positions[0].currency,
		          h->currency);
		rb->res_.positions[0].position_idx = h->position_idx;
		log_info("rebuild: a bot no longer holds the symbol: its position is flat",
		         LS("account", h->account), LS("bot", h->bot), LS("symbol", h->symbol));
		rb->fn(rb->ctx, h->account, &rb->last_x_, &rb->res_);
	}
}

static void sink_rb_ready(void *arg)
{
	struct sink_rebuild *rb = arg;

	sink_rb_held(rb, rb->sym_[0], rb->sym_[1], rb->sym_[2]);
	book_reset_symbol(rb->book, rb->sym_[0], rb->sym_[1], rb->sym_[2]);
}

static int sink_rb_end(void *arg)
{
	struct sink_rebuild *rb = arg;

	return sink_rb_finish(rb, rb->sym_[0], rb->sym_[1], rb->sym_[2]);
}

static void sink_rb_done(void *arg, int rc)
{
	struct sink_rebuild *rb = arg;

	if (rc == 0) {
		rb->changed += rb->io_.wr.changed;
		sink_rb_flat(rb);
		rb->symbols++;
	} else {
		rb->changed = rb->changed0_;
	}
	rb->done_(rb->done_ctx_, rc == 0 ? 0 : FR_EIO);
}

/* see sink.h */
int sink_rebuild_start(struct sink_rebuild *rb, const char *account, const char *category,
                       const char *symbol, void (*done)(void *ctx, int rc), void *done_ctx)
{
	const char *in[3] = { account, category, symbol };

	for (int i = 0; i < 3; i++) {
		sink_copy(rb->sym_[i], sizeof rb->sym_[i], in[i]);
		rb->params_[i] = rb->sym_[i];
	}
	rb->err_ = 0;
	rb->keep_n_ = 0;
	rb->have_last_ = 0;
	rb->changed0_ = rb->changed;
	rb->done_ = done;
	rb->done_ctx_ = done_ctx;
	return pg_rbio_start(&rb->io_, sink_rb_sql, 3, rb->params_, sink_rb_ready, sink_rb_row,
	                     sink_rb_end, sink_rb_done, rb);
}

/* see sink.h */
int sink_rebuild_busy(const struct sink_rebuild *rb)
{
	return pg_rbio_busy(&rb->io_);
}

/* see sink.h */
void sink_rebuild_cancel(struct sink_rebuild *rb)
{
	pg_rbio_cancel(&rb->io_);
}

static void sink_rb_waited(void *ctx, int rc)
{
	struct sink_rebuild *rb = ctx;

	rb->waiting_ = 0;
	rb->wait_rc_ = rc;
}

/* see sink.h */
int sink_rebuild_symbol(struct sink_rebuild *rb, const char *account, const char *category,
                        const char *symbol)
{
	if (sink_rebuild_start(rb, account, category, symbol, sink_rb_waited, rb) != 0)
		return FR_EIO;
	rb->waiting_ = 1;
	while (rb->waiting_)
		if (loop_run_once(rb->io_.loop, 1000) == FR_EIO) {
			sink_rebuild_cancel(rb);
			return FR_EIO;
		}
	return rb->wait_rc_;
}

/* Redis keeps up with what a rebuild re-applies: its queue is never filled
 * (a full one drops publishes; the state would only come back by a rewrite). */
static int sink_rb_room(void *ctx)
{
	const struct sink *s = ctx;

	return rds_backlog(s->rds) < RDS_QUEUE_MAX / 4; /* a step adds PG_RBIO_ROWS_STEP or so */
}

static void sink_rebuilt_rds(void *ctx, const char *account, const struct decode_exec *x,
                             const struct book_result *r)
{
	struct sink *s = ctx;
	enum rds_publish pub = RDS_NO_PUBLISH;

	for (int i = 0; i < s->late_pub_n_; i++) {
		if (strcmp(s->late_pub_[i].account, account) || strcmp(s->late_pub_[i].exec_id, x->exec_id))
			continue;
		pub = RDS_PUBLISH; /* the late fill PostgreSQL had not seen: told now, once */
		s->stats.published++;
		s->late_pub_[i] = s->late_pub_[--s->late_pub_n_];
		break;
	}
	rds_fill(s->rds, account, x, r, pub);
}

/* Remembers a late fill new to PostgreSQL, for its rebuild to publish. */
static void sink_late_pub_add(struct sink *s, const char *account, const char *exec_id)
{
	if (s->late_pub_n_ >= SINK_LATE_PUB_MAX) {
		log_warn("too many late fills waiting for their rebuild: this one is not published",
		         LS("account", account), LS("exec_id", exec_id));
		return;
	}
	sink_copy(s->late_pub_[s->late_pub_n_].account, sizeof s->late_pub_[0].account, account);
	sink_copy(s->late_pub_[s->late_pub_n_].exec_id, sizeof s->late_pub_[0].exec_id, exec_id);
	s->late_pub_n_++;
}

static void sink_wake(struct loop *l, int id, void *arg)
{
	(void)l;
	(void)id;
	(void)arg; /* only wakes the loop: the next before-sleep step retries */
}

static void sink_rebuild_failed(struct sink *s)
{
	const struct sink_dirty_ *e = &s->dirty_[0];

	s->stats.rebuild_failures++;
	s->rebuild_after_ms_ = sink_now(s) + SINK_REBUILD_RETRY_MS;
	log_warn("rebuild of a symbol failed: retried", LS("account", e->account),
	         LS("symbol", e->symbol), LS("error", s->pg->msg));
	loop_timer_add(s->loop, SINK_REBUILD_RETRY_MS, 0, sink_wake, s);
}

/* The rebuild of dirty_[0] ended; the next starts from the before-sleep step. */
static void sink_rebuilt(void *ctx, int rc)
{
	struct sink *s = ctx;
	const struct sink_dirty_ *e = &s->dirty_[0];

	if (rc != 0) {
		sink_rebuild_failed(s);
		return;
	}
	s->stats.rebuilds++;
	log_info("symbol rebuilt in exchange order", LS("account", e->account),
	         LS("category", e->category), LS("symbol", e->symbol),
	         LI("fills", s->rb_.fills - s->rb_fills0_),
	         LI("unchanged", s->rb_.skipped - s->rb_skipped0_),
	         LI("rows_changed", s->rb_.changed - s->rb_.changed0_),
	         LI("duration_ms", sink_now(s) - s->rb_started_ms_));
	memmove(&s->dirty_[0], &s->dirty_[1], sizeof s->dirty_[0] * (size_t)(s->dirty_n_ - 1));
	s->dirty_n_--;
}

/* Starts rebuilding the first dirty symbol once PostgreSQL holds all its
 * fills (every batch committed), one symbol at a time. */
static void sink_rebuild_dirty(struct sink *s)
{
	const struct sink_dirty_ *e = &s->dirty_[0];

	if (s->dirty_n_ == 0 || sink_rebuild_busy(&s->rb_) || !pg_ready(s->pg) ||
	    !pg_drained(s->pg) || sink_now(s) < s->rebuild_after_ms_)
		return;
	s->rb_fills0_ = s->rb_.fills;
	s->rb_skipped0_ = s->rb_.skipped;
	s->rb_started_ms_ = sink_now(s);
	if (sink_rebuild_start(&s->rb_, e->account, e->category, e->symbol, sink_rebuilt, s) != 0)
		sink_rebuild_failed(s);
}

/*
 * A message taken while nothing waits before it (the usual case: the sink
 * keeps up) is moved at once, not at the end of the loop iteration, and
 * what it wrote to Redis leaves now: a fill is visible before the next frame
 * of the same burst is even read. With a backlog (a spill, a burst faster
 * than the sink) records wait for the before-sleep step, in journal order.
 * The PostgreSQL batch is still submitted by the before-sleep step.
 */
static void sink_move_now(struct sink *s)
{
	struct journal_stat st;

	if (!s->open || s->err || s->dirty_n_ || s->warm_pending_)
		return;
	journal_stat(&s->j, &st);
	while (s->moved_seq_ < st.last_seq && sink_move_one(s, s->moved_seq_ + 1))
		;
	rds_flush(s->rds);
}

/* The journal's sync of the before-sleep step (journal.h: the policy's). */
static void sink_sync(struct sink *s)
{
	if (journal_sync(&s->j) != 0) {
		s->err = FR_EIO;
		sink_copy(s->msg, sizeof s->msg, journal_error(&s->j));
		log_error("journal sync failed: the sink stops", LS("error", s->msg));
	}
}

static int sink_warm_late(struct sink *s);

/* see sink.h */
void sink_before_sleep(struct loop *l, void *arg)
{
	struct sink *s = arg;
	struct journal_stat st;
	struct pg_batch *b;
	uint64_t upto;

	(void)l;
	if (!s->open || s->err)
		return;
	if (s->warm_pending_ && !sink_warm_late(s)) {
		sink_sync(s);
		return; /* nothing moves before the book is warm */
	}
	if (s->dirty_n_)
		sink_rebuild_dirty(s);
	journal_stat(&s->j, &st);
	upto = st.last_seq;
	while (s->moved_seq_ < upto && sink_move_one(s, s->moved_seq_ + 1))
		;
	/* A rebuild waits for every batch: an open one, even empty, is sent. */
	if ((s->moved_seq_ > s->submitted_seq_ || (s->dirty_n_ && s->pg->open_ >= 0)) &&
	    (b = pg_batch_open(s->pg)) != NULL) {
		pg_batch_submit(s->pg, b, s->moved_seq_); /* and no new batch opened yet */
		s->submitted_seq_ = s->moved_seq_;
	}
	/* The fsync last: PostgreSQL has the batch by now and works meanwhile. */
	sink_sync(s);
}

static void sink_ckpt_cancel(struct sink *s)
{
	if (s->ckpt_timer_ >= 0)
		loop_timer_cancel(s->loop, s->ckpt_timer_);
	if (s->ckpt_poll_ >= 0)
		loop_timer_cancel(s->loop, s->ckpt_poll_);
	s->ckpt_timer_ = s->ckpt_poll_ = -1;
}

/* Collects a checkpoint the journal's thread is writing; polls again soon
 * while one is in flight (the loop may have nothing else to wake it). */
static void sink_ckpt_poll(struct loop *l, int id, void *arg)
{
	struct sink *s = arg;
	int rc;

	(void)l;
	(void)id;
	s->ckpt_poll_ = -1;
	if (!s->open)
		return;
	rc = journal_poll(&s->j);
	if (rc < 0)
		log_warn("journal checkpoint failed", LS("error", journal_error(&s->j)));
	else if (rc > 0)
		s->ckpt_poll_ = loop_timer_add(s->loop, SINK_CKPT_POLL_MS, 0, sink_ckpt_poll, s);
}

static void sink_ckpt_force(struct sink *s)
{
	if (!s->open || s->committed_seq_ <= s->j.checkpoint)
		return;
	s->ckpt_ms_ = sink_now(s);
	if (journal_checkpoint(&s->j, s->committed_seq_) != 0)
		log_warn("journal checkpoint failed", LS("error", journal_error(&s->j)));
	else if (s->ckpt_poll_ < 0 && journal_poll(&s->j) > 0)
		s->ckpt_poll_ = loop_timer_add(s->loop, SINK_CKPT_POLL_MS, 0, sink_ckpt_poll, s);
}

static void sink_ckpt_timer(struct loop *l, int id, void *arg)
{
	struct sink *s = arg;

	(void)l;
	(void)id;
	s->ckpt_timer_ = -1;
	sink_ckpt_force(s);
}

/* Checkpoints at the last commit when it is time (sink.h, step 3), or arms
 * a timer so a deferred checkpoint happens even if no commit follows. */
static void sink_checkpoint(struct sink *s, int64_t now)
{
	struct journal_stat st;
	int due;

	if (s->committed_seq_ <= s->j.checkpoint)
		return;
	journal_stat(&s->j, &st);
	due = now - s->ckpt_ms_ >= SINK_CKPT_MS || st.bytes * 2 > st.limit_bytes ||
	      (s->j.segs_n > 1 && s->committed_seq_ >= s->j.segs[0].last_seq);
	if (due)
		sink_ckpt_force(s);
	else if (s->ckpt_timer_ < 0)
		s->ckpt_timer_ = loop_timer_add(s->loop, SINK_CKPT_MS - (now - s->ckpt_ms_), 0,
		                                sink_ckpt_timer, s);
}

/* ---- step 3: commits ----------------------------------------------------- */

/* see sink.h */
void sink_pg_on_commit(void *arg, struct pg *p, const struct pg_batch *b)
{
	struct sink *s = arg;
	uint8_t *late = s->late_[b - p->batches];
	int64_t now = sink_now(s);

	s->stats.commits++;
	if (b->seq > s->committed_seq_)
		s->committed_seq_ = b->seq;
	sink_checkpoint(s, now);
	for (int i = 0; i < b->n[PG_KIND_FILL]; i++) {
		const struct pg_fill *f = &b->fills[i];
		int st = b->st[PG_KIND_FILL][i];

		s->stats.fills_written += st == PG_ROW_NEW;
		s->stats.fills_deduplicated += st == PG_ROW_DUP;
		s->stats.latency_last_ms = now - f->received_at_ms;
		if (s->stats.latency_last_ms > s->stats.latency_max_ms)
			s->stats.latency_max_ms = s->stats.latency_last_ms;
		if (late[i] && (st == PG_ROW_NEW || b->in_doubt)) {
			log_warn("late fill stored: its symbol is rebuilt in exchange order",
			         LS("account", f->account), LS("symbol", f->x.symbol),
			         LS("exec_id", f->x.exec_id));
			if (sink_dirty_add(s, f->account, &f->x) != 0) {
				s->stats.rebuild_failures++;
				log_error("too many symbols waiting for a rebuild: run fillrelay rebuild",
				          LS("account", f->account), LS("symbol", f->x.symbol));
			} else if (st == PG_ROW_NEW) {
				sink_late_pub_add(s, f->account, f->x.exec_id);
			}
		}
		late[i] = 0;
	}
}

/* ---- step 1 again: the decode callbacks of messages ----------------------- */

static int sink_take_exec(void *ctx, const struct decode_env *env, const struct decode_exec *x)
{
	struct sink *s = ctx;

	(void)env;
	s->stats.fills_received++;
	if (s->src_ == JOURNAL_SRC_REST && s->rev_n_ < SINK_PAGE_MAX) {
		/* Bybit lists newest first: keep the page's fills and journal them
		 * oldest first (sink_take), so a backfill page is not a run of late
		 * fills, each forcing a rebuild of its symbol. */
		s->rev_[s->rev_n_].raw = x->raw;
		memcpy(s->rev_[s->rev_n_].category, x->category, sizeof s->rev_[0].category);
		s->rev_n_++;
		return 0;
	}
	return sink_journal(s, JOURNAL_KIND_EXECUTION, x->category, s->take_msg_, x->raw);
}

static int sink_take_order(void *ctx, const struct decode_env *env, const struct decode_order *o)
{
	struct sink *s = ctx;

	(void)env;
	return sink_journal(s, JOURNAL_KIND_ORDER, o->category, s->take_msg_, o->raw);
}

static int sink_take_position(void *ctx, const struct decode_env *env,
                              const struct decode_position *p)
{
	struct sink *s = ctx;

	(void)env;
	return sink_journal(s, JOURNAL_KIND_POSITION, p->category, s->take_msg_, p->raw);
}

/* A wallet account is journaled once, whole, at its first coin. */
static int sink_take_wallet(void *ctx, const struct decode_env *env, const struct decode_wallet *w)
{
	struct sink *s = ctx;

	(void)env;
	if (w->coin_index > 0)
		return 0;
	return sink_journal(s, JOURNAL_KIND_WALLET, "", s->take_msg_, w->account_raw);
}

/* A refused record is journaled (JOURNAL_KIND_REJECT: reason, newline, text)
 * and so reaches trading.rejects in journal order; it never reaches the book. */
static int sink_take_reject(void *ctx, const struct decode_env *env, const struct decode_reject *r)
{
	struct sink *s = ctx;
	size_t n = strnlen(r->reason, sizeof r->reason);
	struct decode_span all = { 0, 0 };

	(void)env;
	s->stats.rejected++;
	sink_log_reject("undecodable record: quarantined in trading.rejects", s->account_, r->reason,
	                s->take_msg_ + r->raw.off, r->raw.len);
	if (n + 1 + r->raw.len > sizeof s->wrap_ || r->raw.len == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		s->wrap_[i] = r->reason[i] == '\n' ? ' ' : r->reason[i];
	s->wrap_[n] = '\n';
	memcpy(s->wrap_ + n + 1, s->take_msg_ + r->raw.off, r->raw.len);
	all.len = (uint32_t)(n + 1 + r->raw.len);
	return sink_journal(s, JOURNAL_KIND_REJECT, decode_kind_name(r->kind), s->wrap_, all);
}

static const struct decode_sink sink_take_cbs = {
	.on_exec = sink_take_exec,
	.on_order = sink_take_order,
	.on_position = sink_take_position,
	.on_wallet = sink_take_wallet,
	.on_reject = sink_take_reject,
};

static int sink_take(struct sink *s, const char *account, enum journal_source src,
                     const char *category, const char *msg, size_t len)
{
	struct decode_sink cbs = sink_take_cbs;
	uint64_t before = s->j.next_seq - 1;
	int rc;

	if (s->err)
		return s->err;
	s->stats.messages++;
	s->phase_ = SINK_PH_TAKE;
	s->account_ = account;
	s->src_ = src;
	s->received_ms_ = sink_now(s);
	s->take_us_ = loop_mono_us();
	s->take_msg_ = msg;
	cbs.ctx = s;
	if (src == JOURNAL_SRC_PUSH) {
		rc = decode_push(&s->d, msg, len, &cbs);
	} else {
		s->rev_n_ = 0;
		rc = decode_rest(&s->d, DECODE_KIND_NONE, msg, len, &cbs);
		if (rc >= 0 && category[0] && !s->d.env.category[0])
			log_debug("REST page without result.category", LS("category", category));
		for (int i = s->rev_n_ - 1; i >= 0 && rc != FR_EFULL && rc != FR_EIO; i--) {
			int r = sink_journal(s, JOURNAL_KIND_EXECUTION, s->rev_[i].category, msg,
			                     s->rev_[i].raw);
			if (r == FR_EFULL || r == FR_EIO)
				rc = r;
		}
		s->rev_n_ = 0;
	}
	if (rc != FR_EFULL && rc != FR_EIO && s->moved_seq_ >= before)
		sink_move_now(s);
	if (rc == FR_EFULL || rc == FR_EIO) {
		s->stats.refused++;
		if (rc == FR_EFULL)
			sink_ckpt_force(s); /* the disk may be what is full: free what is committed */
		if (rc == FR_EIO) {
			s->err = FR_EIO; /* a failed write that could not be undone: sticky */
			sink_copy(s->msg, sizeof s->msg, journal_error(&s->j));
		}
		return rc;
	}
	return 0; /* whole-message rejects were logged by sink_take_reject */
}

/* see sink.h */
int sink_push(struct sink *s, const char *account, const char *msg, size_t len)
{
	return sink_take(s, account, JOURNAL_SRC_PUSH, "", msg, len);
}

/* see sink.h */
int sink_rest_page(struct sink *s, const char *account, const char *category, const char *body,
                   size_t len)
{
	return sink_take(s, account, JOURNAL_SRC_REST, category, body, len);
}

/* ---- start-up ------------------------------------------------------------ */

static int sink_warm_order(void *ctx, const struct decode_env *env, const struct decode_order *o)
{
	struct sink *s = ctx;

	(void)env;
	sink_order_note(s, s->account_, o);
	book_order_from_decode(&s->warm_order_, o);
	s->have_warm_order_ = 1;
	return 0;
}

static int sink_warm_exec(void *ctx, const struct decode_env *env, const struct decode_exec *x)
{
	struct sink *s = ctx;
	int rc;

	(void)env;
	rc = book_apply(s->book, s->account_, x, s->have_warm_order_ ? &s->warm_order_ : NULL,
	                &s->res_);
	if (rc == BOOK_APPLIED) {
		s->stats.warmed++;
		rds_fill(s->rds, s->account_, x, &s->res_, RDS_NO_PUBLISH);
		/* A row stored before its symbol's rebuild ran (a crash between a
		 * late fill's commit and the rebuild) still carries what the book
		 * knew then: rebuild it once the loop runs. */
		if (s->warm_bot_ && (strcmp(s->warm_bot_, s->res_.bot) != 0 ||
		                     strcmp(s->warm_close_, s->res_.close_reason) != 0) &&
		    sink_dirty_find(s, s->account_, x->category, x->symbol) < 0) {
			log_warn("stored derived columns differ from exchange order: rebuilt",
			         LS("account", s->account_), LS("symbol", x->symbol),
			         LS("exec_id", x->exec_id), LS("stored_bot", s->warm_bot_),
			         LS("bot", s->res_.bot));
			if (sink_dirty_add(s, s->account_, x) != 0)
				log_error("too many symbols waiting for a rebuild: run fillrelay rebuild",
				          LS("account", s->account_), LS("symbol", x->symbol));
		}
	} else if (rc < 0) {
		log_warn("stored fill the book refuses", LS("exec_id", x->exec_id),
		         LS("reason", s->res_.why));
	}
	return 0;
}

static const struct decode_sink sink_warm_cbs = {
	.on_exec = sink_warm_exec,
	.on_order = sink_warm_order,
};

/* One row: account, category, fill raw, order raw (or NULL). */
static int sink_warm_row(void *arg, int ncols, const char *const *v)
{
	struct sink *s = arg;
	struct decode_sink cbs = sink_warm_cbs;
	struct journal_rec r;
	int n;

	cbs.ctx = s;
	if (ncols < 6 || !v[0] || !v[1] || !v[2])
		return 0;
	s->warm_bot_ = v[4];
	s->warm_close_ = v[5] ? v[5] : "";
	memset(&r, 0, sizeof r);
	sink_copy(r.category, sizeof r.category, v[1]);
	s->account_ = v[0];
	s->have_warm_order_ = 0;
	if (v[3] && strlen(v[3]) <= JOURNAL_RAW_MAX) {
		r.raw = v[3];
		r.raw_len = (uint32_t)strlen(v[3]);
		if ((n = sink_wrap(s, &r)) > 0)
			decode_rest(&s->d, DECODE_KIND_ORDER, s->wrap_, (size_t)n, &cbs);
	}
	if (strlen(v[2]) > JOURNAL_RAW_MAX)
		return 0;
	r.raw = v[2];
	r.raw_len = (uint32_t)strlen(v[2]);
	if ((n = sink_wrap(s, &r)) > 0 &&
	    decode_rest(&s->d, DECODE_KIND_EXECUTION, s->wrap_, (size_t)n, &cbs) < 0)
		log_warn("stored fill does not decode", LS("reason", s->d.why));
	return 0;
}

static int sink_has_schema(void *arg, int ncols, const char *const *v)
{
	*(int *)arg = ncols >= 1 && v[0] && v[0][0] == 't';
	return 0;
}

static int sink_warm(struct sink *s)
{
	int have = 0, rc;

	s->phase_ = SINK_PH_WARM;
	rc = pg_query_blocking(s->pg, "SELECT to_regclass('trading.fills') IS NOT NULL",
	                       sink_has_schema, &have);
	if (rc >= 0 && have)
		rc = pg_query_blocking(
		        s->pg,
		        "SELECT f.account, f.category, f.raw::text, o.raw::text, f.bot_id,"
		        " f.close_reason"
		        " FROM trading.fills f LEFT JOIN trading.orders o"
		        " ON o.account = f.account AND o.order_id = f.order_id AND f.order_id <> ''"
		        " ORDER BY f.account, f.category, f.symbol, f.exec_time,"
		        " COALESCE(f.seq, -1), f.exec_id COLLATE \"C\"",
		        sink_warm_row, s);
	if (rc < 0) {
		sink_copy(s->msg, sizeof s->msg, s->pg->msg);
		return FR_EIO; /* logged by the caller */
	}
	s->warm_bot_ = s->warm_close_ = NULL;
	log_info("book warmed from PostgreSQL", LI("fills", s->stats.warmed),
	         LI("symbols_to_rebuild", s->dirty_n_));
	return 0;
}

/* see sink.h */
int sink_open(struct sink *s, const struct cfg *c, struct loop *l, struct book *b, struct pg *p,
              struct rds *r, const struct sink_opts *o)
{
	struct journal_opts jo;
	struct journal_stat st;
	int rc;

	memset(&s->stats, 0, sizeof s->stats);
	memset(s->orders_, 0, sizeof s->orders_);
	s->dirty_n_ = 0;
	s->late_pub_n_ = 0;
	s->rebuild_after_ms_ = 0;
	s->ckpt_ms_ = 0;
	s->ckpt_timer_ = s->ckpt_poll_ = -1;
	s->committed_seq_ = 0;
	sink_rebuild_init(&s->rb_, c, b, p, l, sink_rebuilt_rds, s);
	s->rb_.may_read = sink_rb_room;
	s->cfg = c;
	s->loop = l;
	s->book = b;
	s->pg = p;
	s->rds = r;
	s->err = 0;
	s->msg[0] = 0;
	memset(s->late_, 0, sizeof s->late_);
	memset(s->taken_us_, 0, sizeof s->taken_us_);
	jo = o->journal;
	jo.background_fsync = jo.sys == NULL; /* the real disk: fsyncs off the loop */
	rc = journal_open(&s->j, &jo);
	if (rc != 0) {
		sink_copy(s->msg, sizeof s->msg, journal_error(&s->j));
		return rc;
	}
	journal_stat(&s->j, &st);
	s->moved_seq_ = st.checkpoint;
	s->submitted_seq_ = st.checkpoint;
	memset(&s->it_, 0, sizeof s->it_);
	ring_init(&s->ring, s->ring_buf_, sizeof s->ring_buf_, s->j.next_seq);
	if (st.last_seq > st.checkpoint)
		log_info("journal records to replay", LI("from", st.checkpoint + 1),
		         LI("to", st.last_seq));
	s->warm_pending_ = 0;
	s->warm_after_ms_ = 0;
	if (o->warm && sink_warm(s) != 0) {
		s->warm_pending_ = 1;
		s->warm_after_ms_ = sink_now(s) + SINK_WARM_RETRY_MS;
		log_warn("PostgreSQL not reachable at start: records wait in the journal until the "
		         "book is warmed", LS("error", s->msg));
	}
	s->open = 1;
	return 0;
}

/* The warm-up that failed at open, once PostgreSQL answers: 1 done. */
static int sink_warm_late(struct sink *s)
{
	int64_t now = sink_now(s);

	if (!pg_ready(s->pg) || now < s->warm_after_ms_)
		return 0;
	book_clear(s->book); /* a warm-up cut short may have applied some fills */
	s->stats.warmed = 0;
	s->dirty_n_ = 0;
	if (sink_warm(s) != 0) {
		log_warn("warm-up from PostgreSQL failed: retried", LS("error", s->msg),
		         LI("retry_ms", SINK_WARM_RETRY_MS));
		s->warm_after_ms_ = now + SINK_WARM_RETRY_MS;
		loop_timer_add(s->loop, SINK_WARM_RETRY_MS, 0, sink_wake, s);
		return 0;
	}
	s->warm_pending_ = 0;
	return 1;
}

/* see sink.h */
int sink_warm_pending(const struct sink *s)
{
	return s->warm_pending_;
}

/* see sink.h */
void sink_close(struct sink *s)
{
	if (!s->open)
		return;
	sink_rebuild_cancel(&s->rb_); /* the symbol is rebuilt at the next start */
	journal_sync(&s->j);
	sink_ckpt_force(s);
	sink_ckpt_cancel(s);
	journal_close(&s->j);
	s->open = 0;
}

/* see sink.h */
void sink_abandon(struct sink *s)
{
	sink_rebuild_cancel(&s->rb_);
	sink_ckpt_cancel(s);
	journal_close(&s->j);
	s->open = 0;
}

/* see sink.h */
uint64_t sink_spill_depth(const struct sink *s)
{
	struct journal_stat st;

	uint64_t done;

	journal_stat(&s->j, &st);
	done = st.checkpoint > s->committed_seq_ ? st.checkpoint : s->committed_seq_;
	return st.last_seq > done ? st.last_seq - done : 0;
}

/* see sink.h */
uint64_t sink_journal_held(const struct sink *s)
{
	struct journal_stat st;

	journal_stat(&s->j, &st);
	return st.last_seq > st.checkpoint ? st.last_seq - st.checkpoint : 0;
}

/* see sink.h */
int sink_healthy(const struct sink *s)
{
	return s->open && !s->err && !s->j.broken && pg_ready(s->pg) &&
	       rds_state(s->rds) == RDS_READY;
}

/* see sink.h */
int sink_dirty(const struct sink *s)
{
	return s->dirty_n_;
}
