/*
 * book.c -- the position book; book.h says what it does, this file how.
 *
 * One fill goes through three stages, so that an error changes nothing:
 *   1. plan: which bots get which part of the fill (attribution, netting,
 *      Funding split) -- reads the book only;
 *   2. apply: every part is applied to a copy of its position, kept in the
 *      caller's result (positions[k]) -- the book is still untouched;
 *   3. commit: the copies go back into the table, the symbol remembers the fill.
 * Only a brand-new symbol slot is taken before stage 1 ends, and it is given
 * back on error.
 */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "book.h"
#include "orderid.h"

#define HALF_EVEN DEC_ROUND_HALF_EVEN

/* Propagates a negative result (dec's FR_ERANGE) to the caller. */
#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int try_rc_ = (expr);                                                              \
		if (try_rc_ < 0)                                                                   \
			return try_rc_;                                                            \
	} while (0)

enum book_kind { KIND_LINEAR, KIND_INVERSE, KIND_SPOT, KIND_OPTION };
enum book_xclass { X_MOVE, X_FUNDING, X_OTHER };
enum book_fee_coin { FEE_SETTLE, FEE_BASE, FEE_OTHER };

/* One bot's part of a fill, as planned. */
struct book_part {
	char bot[BOOK_BOT_MAX];
	struct dec qty; /* of execQty, in the fill's direction */
	struct dec fee; /* of execFee, in the fee's coin */
};

struct book_plan {
	enum book_via via;
	char bot[BOOK_BOT_MAX]; /* result.bot */
	int n;
	struct book_part parts[BOOK_ALLOC_MAX];
};

/* What book_apply knows about the fill while it works on it. */
struct book_fill {
	struct book *b;
	struct book_result *r;
	const struct cfg_account *acct;
	const struct decode_exec *x;
	struct book_order o;
	enum book_kind kind;
	enum book_xclass xclass;
	enum book_fee_coin fee_coin;
	int dir; /* +1 Buy, -1 Sell */
	struct dec qty, price, fee, min_size;
	int sym;
	const char *link_bot, *parent_bot;
	char reason[BOOK_REASON_MAX];
	const char *exch_reason;
	const char *eff_reason;
	int reduced; /* some part reduced a position: the fill has a close reason */
};

/* ---- small helpers ------------------------------------------------------- */

/* Copies s (which must fit: every caller bounds it) into dst[n]. */
static void put(char *dst, size_t n, const char *s)
{
	size_t len = strlen(s);

	assert(len < n);
	memcpy(dst, s, len + 1);
}

static int fits(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

__attribute__((format(printf, 3, 4))) static int fail(struct book_result *r, int err,
                                                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	r->allocs_n = r->positions_n = r->trips_n = 0;
	return err;
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return m <= n && strcmp(s + n - m, suffix) == 0;
}

/* Bybit spells some enum values two ways (CreateByTakeOver_PassThrough and
 * CreateByTakeOverPassThrough, tpslOrder and TpslOrder): compare ignoring
 * ASCII case and '_'. */
static int same_name(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_')
			a++;
		while (*b == '_')
			b++;
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		ca = ca >= 'A' && ca <= 'Z' ? ca + 32 : ca;
		cb = cb >= 'A' && cb <= 'Z' ? cb + 32 : cb;
		if (ca != cb)
			return 0;
		if (ca == '\0')
			return 1;
		a++;
		b++;
	}
}

/* ---- exchange reasons ---------------------------------------------------- */

static const struct book_name_reason {
	const char *name;
	const char *reason;
} book_exec_reasons[] = {
    {"AdlTrade", "adl"},
    {"BustTrade", "liquidation"},
    {"Delivery", "settlement"},
    {"Settle", "settlement"},
};

/* Bybit's stopOrderType and createType values that say why a position closed
 * (docs v5/enum). The rest (CreateByUser, CreateByStopOrder, Stop, tpslOrder,
 * OcoOrder, BidirectionalTpslOrder, grid/TWAP/martingale bots, block trades,
 * UNKNOWN) say nothing: the orderLinkId's reason is the only source then. */
static const struct book_name_reason book_type_reasons[] = {
    {"StopLoss", "stop_loss"},
    {"PartialStopLoss", "stop_loss"},
    {"CreateByStopLoss", "stop_loss"},
    {"CreateByPartialStopLoss", "stop_loss"},
    {"TakeProfit", "take_profit"},
    {"PartialTakeProfit", "take_profit"},
    {"TrailingProfit", "take_profit"},
    {"CreateByTakeProfit", "take_profit"},
    {"CreateByPartialTakeProfit", "take_profit"},
    {"CreateByTrailingProfit", "take_profit"},
    {"TrailingStop", "trailing_stop"},
    {"CreateByTrailingStop", "trailing_stop"},
    {"CreateByLiq", "liquidation"},
    {"CreateByTakeOver_PassThrough", "liquidation"},
    {"BustTrade", "liquidation"},
    {"CreateByAdl_PassThrough", "adl"},
    {"AdlTrade", "adl"},
    {"CreateByClosing", "manual_exit"},
    {"MmRateClose", "risk_limit"},
    {"CreateByMmRateClose", "risk_limit"},
    /* Delisting and delivery closes; an admin closing is the exchange's
     * decision, never the bot's, and Bybit uses it for delistings too. */
    {"CreateBySettle", "settlement"},
    {"CreateByAdminClosing", "settlement"},
};

static const char *lookup_reason(const struct book_name_reason *t, size_t n, const char *name)
{
	if (!name || !name[0])
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (same_name(t[i].name, name))
			return t[i].reason;
	return NULL;
}

/* see book.h */
const char *book_exchange_reason(const char *exec_type, const char *create_type,
                                 const char *stop_order_type)
{
	const char *s = lookup_reason(
	    book_exec_reasons, sizeof book_exec_reasons / sizeof *book_exec_reasons, exec_type);
	const size_t n = sizeof book_type_reasons / sizeof *book_type_reasons;

	if (!s)
		s = lookup_reason(book_type_reasons, n, create_type);
	if (!s)
		s = lookup_reason(book_type_reasons, n, stop_order_type);
	return s ? s : "";
}

/* "" and UNKNOWN carry nothing: the order's value is used instead. */
static int meaningful(const char *s)
{
	return s[0] != '\0' && strcmp(s, "UNKNOWN") != 0;
}

/* ---- classification ------------------------------------------------------ */

static int kind_of(const char *category, enum book_kind *k)
{
	static const char *const names[] = {"linear", "inverse", "spot", "option"};

	for (int i = 0; i < 4; i++)
		if (strcmp(category, names[i]) == 0) {
			*k = (enum book_kind)i;
			return 0;
		}
	return FR_EINVAL;
}

static enum book_xclass xclass_of(const char *exec_type)
{
	static const char *const moves[] = {
	    "Trade",    "BlockTrade", "FutureSpread", "MovePosition",
	    "AdlTrade", "BustTrade",  "Delivery",     "Settle",
	};

	if (strcmp(exec_type, "Funding") == 0)
		return X_FUNDING;
	for (size_t i = 0; i < sizeof moves / sizeof *moves; i++)
		if (strcmp(exec_type, moves[i]) == 0)
			return X_MOVE;
	return X_OTHER; /* CorporateAction, UNKNOWN, anything new */
}

/* Which coin a spot fee is in (see "Fees" in book.h). */
static enum book_fee_coin spot_fee_coin(const struct decode_exec *x)
{
	const char *fc = x->fee_currency;

	if (!fc[0])
		return strcmp(x->side, "Buy") == 0 ? FEE_BASE : FEE_SETTLE;
	if (ends_with(x->symbol, fc))
		return FEE_SETTLE;
	if (starts_with(x->symbol, fc))
		return FEE_BASE;
	return FEE_OTHER;
}

/* Spot quote coins, longest first so FDUSD wins over USD. */
static const char *const book_quotes[] = {
    "FDUSD", "USDT", "USDC", "USDE", "EUR", "BRL", "TRY", "PLN", "BTC", "ETH", "DAI", "MNT", "USD",
};

/* The currency PnL is kept in (see "Currency" in book.h); "" when unknown. */
static void currency_of(char out[DECODE_COIN_MAX], enum book_kind k, const struct decode_exec *x)
{
	const char *s = x->symbol, *fc = x->fee_currency;
	char base[DECODE_SYMBOL_MAX];

	out[0] = '\0';
	if (k == KIND_SPOT) {
		if (fc[0] && ends_with(s, fc))
			put(out, DECODE_COIN_MAX, fc);
		else if (fc[0] && starts_with(s, fc) && fits(s + strlen(fc), DECODE_COIN_MAX))
			put(out, DECODE_COIN_MAX, s + strlen(fc));
		else
			for (size_t i = 0; i < sizeof book_quotes / sizeof *book_quotes; i++)
				if (ends_with(s, book_quotes[i])) {
					put(out, DECODE_COIN_MAX, book_quotes[i]);
					break;
				}
		return;
	}
	if (fc[0] || k == KIND_OPTION) {
		put(out, DECODE_COIN_MAX, fc);
		return;
	}
	put(base, sizeof base, s);
	base[strcspn(base, "-")] = '\0'; /* BTCUSDT-26DEC25, BTC-26DEC25 */
	if (k == KIND_INVERSE) {
		char *usd = strstr(base, "USD");

		if (usd && usd != base && (size_t)(usd - base) < DECODE_COIN_MAX) {
			memcpy(out, base, (size_t)(usd - base));
			out[usd - base] = '\0';
		}
	} else if (ends_with(base, "USDT")) {
		put(out, DECODE_COIN_MAX, "USDT");
	} else if (ends_with(base, "PERP") || ends_with(base, "USDC") || strchr(s, '-')) {
		put(out, DECODE_COIN_MAX, "USDC");
	}
}

static struct dec min_size_of(const struct book *b, const char *symbol)
{
	for (int i = 0; i < b->spot_min_n; i++)
		if (strcmp(b->spot_min[i].symbol, symbol) == 0)
			return b->spot_min[i].min;
	return b->spot_min_default;
}

/* ---- symbols ------------------------------------------------------------- */

static int sym_find(const struct book *b, const char *account, const char *category,
                    const char *symbol)
{
	for (int i = 0; i < b->syms_hw_; i++) {
		const struct book_sym_ *s = &b->syms_[i];

		if (s->in_use && strcmp(s->symbol, symbol) == 0 &&
		    strcmp(s->account, account) == 0 && strcmp(s->category, category) == 0)
			return i;
	}
	return -1;
}

/* Finds the fill's symbol, or takes a new slot for it (*created = 1). */
static int sym_open(struct book_fill *f, const char *account, int *created)
{
	struct book *b = f->b;
	int i = sym_find(b, account, f->x->category, f->x->symbol);

	*created = 0;
	if (i < 0) {
		for (i = 0; i < b->syms_hw_ && b->syms_[i].in_use; i++)
			;
		if (i == BOOK_SYMBOLS_MAX)
			return fail(f->r, FR_ENOMEM, "symbol table full (%d symbols)",
			            BOOK_SYMBOLS_MAX);
		struct book_sym_ *s = &b->syms_[i];

		memset(s, 0, sizeof *s);
		s->in_use = 1;
		put(s->account, sizeof s->account, account);
		put(s->category, sizeof s->category, f->x->category);
		put(s->symbol, sizeof s->symbol, f->x->symbol);
		s->first_pos = -1;
		if (i == b->syms_hw_)
			b->syms_hw_++;
		*created = 1;
	}
	f->sym = i;
	return 0;
}

static void sym_drop(struct book *b, int i)
{
	b->syms_[i].in_use = 0;
	while (b->syms_hw_ > 0 && !b->syms_[b->syms_hw_ - 1].in_use)
		b->syms_hw_--;
}

static int64_t seq_of(const struct decode_exec *x)
{
	return x->seq.present ? x->seq.v : -1;
}

static int key_cmp(int64_t ta, int64_t sa, const char *ia, int64_t tb, int64_t sb, const char *ib)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return strcmp(ia, ib);
}

/* see book.h */
int book_fill_cmp(const struct decode_exec *a, const struct decode_exec *b)
{
	return key_cmp(a->exec_time_ms, seq_of(a), a->exec_id, b->exec_time_ms, seq_of(b),
	               b->exec_id);
}

/* BOOK_DUPLICATE, BOOK_LATE, or BOOK_APPLIED for a fill to apply now. */
static int sym_check(const struct book_sym_ *s, const struct decode_exec *x)
{
	for (int i = 0; i < s->recent_n; i++)
		if (strcmp(s->recent[i], x->exec_id) == 0)
			return BOOK_DUPLICATE;
	if (s->recent_n > 0 && key_cmp(x->exec_time_ms, seq_of(x), x->exec_id, s->last_time_ms,
	                               s->last_seq, s->last_exec_id) < 0)
		return BOOK_LATE;
	return BOOK_APPLIED;
}

static void sym_remember(struct book_sym_ *s, const struct decode_exec *x)
{
	s->last_time_ms = x->exec_time_ms;
	s->last_seq = seq_of(x);
	put(s->last_exec_id, sizeof s->last_exec_id, x->exec_id);
	put(s->recent[s->recent_next], sizeof s->recent[0], x->exec_id);
	s->recent_next = (s->recent_next + 1) % BOOK_RECENT_MAX;
	if (s->recent_n < BOOK_RECENT_MAX)
		s->recent_n++;
}

/* ---- positions ----------------------------------------------------------- */

static int pos_find(const struct book *b, int first, const char *bot, int idx)
{
	for (int i = first; i >= 0; i = b->pos_[i].next_)
		if (b->pos_[i].position_idx == idx && strcmp(b->pos_[i].bot, bot) == 0)
			return i;
	return -1;
}

/* Distinct bots with a non-zero size in the symbol list; *only gets the bot
 * when there is exactly one. */
static int holders_of(const struct book *b, int first, const char **only)
{
	const char *seen[BOOK_ALLOC_MAX]; /* only the account's bots and "unattributed" */
	int n = 0;

	for (int i = first; i >= 0; i = b->pos_[i].next_) {
		const struct book_position *p = &b->pos_[i];
		int dup = 0;

		if (dec_is_zero(p->size))
			continue;
		for (int j = 0; j < n && !dup; j++)
			dup = strcmp(seen[j], p->bot) == 0;
		if (dup)
			continue;
		assert(n < BOOK_ALLOC_MAX);
		seen[n++] = p->bot;
	}
	if (only)
		*only = n == 1 ? seen[0] : NULL;
	return n;
}

/* Slots of the holders of positionIdx idx, sorted by bot id (the canonical
 * order that breaks ties in splits, whatever order the table has). */
static int holders_at(const struct book *b, int first, int idx, int slots[BOOK_ALLOC_MAX])
{
	int n = 0;

	for (int i = first; i >= 0; i = b->pos_[i].next_) {
		if (b->pos_[i].position_idx != idx || dec_is_zero(b->pos_[i].size))
			continue;
		assert(n < BOOK_ALLOC_MAX);
		int j = n++;

		for (; j > 0 && strcmp(b->pos_[slots[j - 1]].bot, b->pos_[i].bot) > 0; j--)
			slots[j] = slots[j - 1];
		slots[j] = i;
	}
	return n;
}

/* ---- splitting ----------------------------------------------------------- */

typedef unsigned __int128 book_u128;

/*
 * floor(a * b / d) and the remainder, exactly: the product is formed in 256
 * bits. a, b < 2^127 and 0 < d < 2^127 (struct dec magnitudes). FR_ERANGE when
 * the quotient exceeds DEC_MAX_V.
 */
static int muldiv(book_u128 a, book_u128 b, book_u128 d, book_u128 *q, book_u128 *rem)
{
	uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64);
	uint64_t b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
	book_u128 p00 = (book_u128)a0 * b0, p01 = (book_u128)a0 * b1;
	book_u128 p10 = (book_u128)a1 * b0, p11 = (book_u128)a1 * b1;
	book_u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
	book_u128 lo = (uint64_t)p00 | (mid << 64);
	book_u128 hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
	book_u128 r = hi, quo = 0;

	assert(d > 0 && d <= (book_u128)DEC_MAX_V);
	if (hi >= d)
		return FR_ERANGE;
	/* Schoolbook binary division; r < d < 2^127, so r << 1 never overflows. */
	for (int i = 127; i >= 0; i--) {
		r = (r << 1) | ((lo >> i) & 1);
		quo <<= 1;
		if (r >= d) {
			r -= d;
			quo |= 1;
		}
	}
	if (quo > (book_u128)DEC_MAX_V)
		return FR_ERANGE;
	*q = quo;
	*rem = r;
	return 0;
}

/* floor(t * w / sum) and its remainder in [0, sum), signed t and w, sum > 0. */
static int share(__int128 t, __int128 w, __int128 sum, __int128 *q, __int128 *rem)
{
	book_u128 qm, rm;
	int neg = (t < 0) != (w < 0);

	TRY(muldiv(t < 0 ? -(book_u128)t : (book_u128)t, w < 0 ? -(book_u128)w : (book_u128)w,
	           (book_u128)sum, &qm, &rm));
	if (neg && rm != 0) {
		*q = -(__int128)qm - 1;
		*rem = sum - (__int128)rm;
	} else {
		*q = neg ? -(__int128)qm : (__int128)qm;
		*rem = (__int128)rm;
	}
	return 0;
}

/*
 * Splits whole into n parts proportional to the signed weights w (their sum
 * not 0), by the largest-remainder method at DEC_SCALE places: every part is
 * its exact share rounded down or up by less than 10^-18, the parts sum
 * exactly to whole, and ties go to the lower index. All integer arithmetic, so
 * the result is exact and the same on every machine.
 */
static int split(struct dec *out, struct dec whole, const struct dec *w, int n)
{
	__int128 sum = 0, k = whole.v, q[BOOK_ALLOC_MAX], rem[BOOK_ALLOC_MAX];
	int flip;

	assert(n > 0 && n <= BOOK_ALLOC_MAX);
	for (int i = 0; i < n; i++)
		sum += w[i].v; /* the callers' dec_add of the same values did not overflow */
	assert(sum != 0);
	flip = sum < 0;
	sum = flip ? -sum : sum;
	for (int i = 0; i < n; i++) {
		TRY(share(whole.v, flip ? -w[i].v : w[i].v, sum, &q[i], &rem[i]));
		if (__builtin_sub_overflow(k, q[i], &k))
			return FR_ERANGE;
	}
	/* k = (sum of remainders) / sum: 0 <= k < n, and more than k remainders
	 * are positive, so k distinct parts get one more unit. */
	assert(k >= 0 && k < n);
	for (; k > 0; k--) {
		int best = -1;

		for (int i = 0; i < n; i++)
			if (rem[i] > 0 && (best < 0 || rem[i] > rem[best]))
				best = i;
		q[best]++;
		rem[best] = 0;
	}
	for (int i = 0; i < n; i++) {
		if (q[i] > DEC_MAX_V || q[i] < -DEC_MAX_V)
			return FR_ERANGE;
		out[i].v = q[i];
	}
	return 0;
}

/* ---- attribution --------------------------------------------------------- */

/*
 * The bot an order link id names, if it is a configured bot of account; else
 * NULL. reason (when not NULL) gets the id's canonical reason whenever the id
 * parses, whichever bot it names.
 */
static const char *link_bot(const struct cfg *c, const char *account, const char *id,
                            char reason[BOOK_REASON_MAX])
{
	struct orderid_parsed parsed;
	const struct cfg_bot *bot;

	if (!id[0] || orderid_parse(id, strlen(id), c, &parsed) != 0)
		return NULL;
	if (reason)
		put(reason, BOOK_REASON_MAX, parsed.reason);
	bot = cfg_bot_find(c, parsed.bot);
	return bot && strcmp(bot->account, account) == 0 ? bot->id : NULL;
}

/* Steps 4 to 6 of the chain: the only holder, default_bot, "unattributed". */
static const char *chain_bot(const struct book_fill *f, enum book_via *via)
{
	const char *only;

	holders_of(f->b, f->b->syms_[f->sym].first_pos, &only);
	if (only) {
		*via = BOOK_VIA_HOLDER;
		return only;
	}
	if (f->acct->default_bot[0]) {
		*via = BOOK_VIA_DEFAULT;
		return f->acct->default_bot;
	}
	*via = BOOK_VIA_UNATTRIBUTED;
	return BOOK_BOT_UNATTRIBUTED;
}

static const char *excess_bot(const struct book_fill *f)
{
	return f->acct->default_bot[0] ? f->acct->default_bot : BOOK_BOT_UNATTRIBUTED;
}

static void plan_one(struct book_fill *f, struct book_plan *pl, const char *bot, enum book_via via)
{
	pl->via = via;
	put(pl->bot, sizeof pl->bot, bot);
	pl->n = 0;
	if (f->xclass == X_OTHER)
		return;
	put(pl->parts[0].bot, sizeof pl->parts[0].bot, bot);
	pl->parts[0].qty = f->qty;
	pl->parts[0].fee = f->fee;
	pl->n = 1;
}

/* Sizes of the holders in slots[0..n) as weights, and their net. */
static int weights(const struct book *b, const int *slots, int n, struct dec *w, struct dec *net)
{
	*net = DEC_ZERO;
	for (int i = 0; i < n; i++) {
		w[i] = b->pos_[slots[i]].size;
		TRY(dec_add(net, *net, w[i]));
	}
	return 0;
}

/* Fills pl->parts[0..n) with the holders and their shares of qty and fee. */
static int plan_split(struct book_fill *f, struct book_plan *pl, const int *slots, int n,
                      struct dec qty, struct dec fee)
{
	struct dec w[BOOK_ALLOC_MAX], net, qparts[BOOK_ALLOC_MAX], fparts[BOOK_ALLOC_MAX];

	TRY(weights(f->b, slots, n, w, &net));
	TRY(split(qparts, qty, w, n));
	TRY(split(fparts, fee, w, n));
	for (int i = 0; i < n; i++) {
		put(pl->parts[i].bot, sizeof pl->parts[i].bot, f->b->pos_[slots[i]].bot);
		pl->parts[i].qty = qparts[i];
		pl->parts[i].fee = fparts[i];
	}
	pl->n = n;
	pl->via = n == 1 ? BOOK_VIA_HOLDER : BOOK_VIA_SPLIT;
	put(pl->bot, sizeof pl->bot, n == 1 ? pl->parts[0].bot : BOOK_BOT_SHARED);
	return 0;
}

/* Adds an excess part (qty, fee) for bot, merged into its part if it has one. */
static int plan_add(struct book_plan *pl, const char *bot, struct dec qty, struct dec fee)
{
	int i = 0;

	while (i < pl->n && strcmp(pl->parts[i].bot, bot) != 0)
		i++;
	if (i == pl->n) {
		assert(pl->n < BOOK_ALLOC_MAX);
		put(pl->parts[i].bot, sizeof pl->parts[i].bot, bot);
		pl->parts[i].qty = pl->parts[i].fee = DEC_ZERO;
		pl->n++;
	}
	TRY(dec_add(&pl->parts[i].qty, pl->parts[i].qty, qty));
	return dec_add(&pl->parts[i].fee, pl->parts[i].fee, fee);
}

/*
 * An exchange close of a net held by two or more bots: split pro rata (see
 * "Netting" in book.h). Returns 1 when it planned, 0 when the fill is not
 * such a close, or an error.
 */
static int plan_netted(struct book_fill *f, struct book_plan *pl)
{
	int slots[BOOK_ALLOC_MAX], n;
	struct dec w[BOOK_ALLOC_MAX], net, close_qty, close_fee = f->fee;

	n = holders_at(f->b, f->b->syms_[f->sym].first_pos, f->o.position_idx, slots);
	if (n < 2)
		return 0;
	TRY(weights(f->b, slots, n, w, &net));
	if (dec_sign(net) != -f->dir)
		return 0; /* net flat, or the fill adds to it: not a close of it */
	close_qty = dec_min(f->qty, dec_abs(net));
	if (dec_cmp(close_qty, f->qty) < 0) {
		TRY(dec_mul(&close_fee, f->fee, close_qty, HALF_EVEN));
		TRY(dec_div(&close_fee, close_fee, f->qty, HALF_EVEN));
	}
	TRY(plan_split(f, pl, slots, n, close_qty, close_fee));
	if (dec_cmp(close_qty, f->qty) < 0) {
		struct dec qty, fee;

		TRY(dec_sub(&qty, f->qty, close_qty));
		TRY(dec_sub(&fee, f->fee, close_fee));
		TRY(plan_add(pl, excess_bot(f), qty, fee));
		f->r->flags |= BOOK_FLAG_EXCESS;
	}
	return 1;
}

/* Funding: to the holders of its positionIdx pro rata, else through the chain. */
static int plan_funding(struct book_fill *f, struct book_plan *pl)
{
	int slots[BOOK_ALLOC_MAX], n;
	struct dec w[BOOK_ALLOC_MAX], net;
	enum book_via via;
	const char *bot;

	n = holders_at(f->b, f->b->syms_[f->sym].first_pos, f->o.position_idx, slots);
	if (n > 0) {
		TRY(weights(f->b, slots, n, w, &net));
		if (!dec_is_zero(net))
			return plan_split(f, pl, slots, n, f->qty, f->fee);
	}
	bot = chain_bot(f, &via);
	plan_one(f, pl, bot, via);
	return 0;
}

static int plan_fill(struct book_fill *f, struct book_plan *pl)
{
	enum book_via via;
	const char *bot;
	int rc;

	if (f->xclass == X_FUNDING)
		return plan_funding(f, pl);
	if (f->link_bot) {
		plan_one(f, pl, f->link_bot, BOOK_VIA_LINK);
		return 0;
	}
	if (f->parent_bot) {
		plan_one(f, pl, f->parent_bot, BOOK_VIA_PARENT);
		return 0;
	}
	if (f->xclass == X_MOVE && f->exch_reason[0]) {
		rc = plan_netted(f, pl);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	bot = chain_bot(f, &via);
	plan_one(f, pl, bot, via);
	return 0;
}

/* ---- PnL ----------------------------------------------------------------- */

/* What q (> 0) is worth at the fill's price in the basis' terms. */
static int value_at(const struct book_fill *f, struct dec *out, struct dec q)
{
	if (f->kind == KIND_INVERSE)
		return dec_div(out, q, f->price, HALF_EVEN);
	return dec_mul(out, q, f->price, HALF_EVEN);
}

static int add_fee(struct book_position *p, struct dec fee)
{
	TRY(dec_add(&p->fees, p->fees, fee));
	if (p->open.seq)
		TRY(dec_add(&p->open.fees, p->open.fees, fee));
	return 0;
}

/* trade_seq counts per (account, bot, category, symbol): one more than the
 * highest of the bot's positions in the symbol (any positionIdx). */
static int64_t next_trade_seq(const struct book_fill *f, const struct book_position *p)
{
	int64_t max = p->trade_seq;

	for (int i = f->b->syms_[f->sym].first_pos; i >= 0; i = f->b->pos_[i].next_)
		if (strcmp(f->b->pos_[i].bot, p->bot) == 0 && f->b->pos_[i].trade_seq > max)
			max = f->b->pos_[i].trade_seq;
	return max + 1;
}

static void open_trip(struct book_fill *f, struct book_position *p, int dir)
{
	memset(&p->open, 0, sizeof p->open);
	p->open.seq = next_trade_seq(f, p);
	p->trade_seq = p->open.seq;
	p->open.side = dir > 0 ? BOOK_LONG : BOOK_SHORT;
	put(p->open.entry_reason, sizeof p->open.entry_reason, f->eff_reason);
	p->open.opened_at_ms = f->x->exec_time_ms;
	p->basis = DEC_ZERO;
}

/* The position went flat: its trip becomes a trades_pnl row (not for options,
 * which have no PnL). */
static int close_trip(struct book_fill *f, struct book_position *p)
{
	struct book_result *r = f->r;

	p->basis = DEC_ZERO;
	if (f->kind != KIND_OPTION) {
		struct book_trip *t = &r->trips[r->trips_n];

		assert(r->trips_n < BOOK_TRIPS_MAX);
		put(t->account, sizeof t->account, p->account);
		put(t->bot, sizeof t->bot, p->bot);
		put(t->category, sizeof t->category, p->category);
		put(t->symbol, sizeof t->symbol, p->symbol);
		t->position_idx = p->position_idx;
		t->trade_seq = p->open.seq;
		t->side = p->open.side;
		put(t->entry_reason, sizeof t->entry_reason, p->open.entry_reason);
		put(t->close_reason, sizeof t->close_reason, f->eff_reason);
		t->opened_at_ms = p->open.opened_at_ms;
		t->closed_at_ms = f->x->exec_time_ms;
		t->qty = p->open.qty;
		t->gross_pnl = p->open.gross_pnl;
		t->fees = p->open.fees;
		t->funding = p->open.funding;
		TRY(dec_sub(&t->net_pnl, t->gross_pnl, t->fees));
		TRY(dec_sub(&t->net_pnl, t->net_pnl, t->funding));
		put(t->currency, sizeof t->currency, p->currency);
		r->trips_n++;
	}
	memset(&p->open, 0, sizeof p->open);
	return 0;
}

/* Adds q (> 0) in direction dir at the fill's price, opening a trip if flat. */
static int grow(struct book_fill *f, struct book_position *p, struct dec q, int dir, struct dec fee)
{
	struct dec v;

	if (dec_is_zero(p->size))
		open_trip(f, p, dir);
	TRY(value_at(f, &v, q));
	TRY(dec_add(&p->basis, p->basis, v));
	TRY(dec_add(&p->size, p->size, dir > 0 ? q : dec_neg(q)));
	TRY(dec_add(&p->open.qty, p->open.qty, q));
	return add_fee(p, fee);
}

/* Takes r (0 < r <= |size|) off the position at the fill's price; *gross gets
 * the PnL realized. */
static int shrink(struct book_fill *f, struct book_position *p, struct dec r, struct dec fee,
                  struct dec *gross)
{
	int dir = dec_sign(p->size);
	struct dec mag = dec_abs(p->size), released = p->basis, v, g;

	assert(dir != 0 && dec_sign(r) > 0 && dec_cmp(r, mag) <= 0);
	if (dec_cmp(r, mag) < 0) {
		TRY(dec_mul(&released, p->basis, r, HALF_EVEN));
		TRY(dec_div(&released, released, mag, HALF_EVEN));
	}
	TRY(value_at(f, &v, r));
	TRY(f->kind == KIND_INVERSE ? dec_sub(&g, released, v) : dec_sub(&g, v, released));
	if (dir < 0)
		g = dec_neg(g);
	if (f->kind == KIND_OPTION)
		g = DEC_ZERO;
	TRY(dec_sub(&p->basis, p->basis, released));
	TRY(dec_add(&p->size, p->size, dir > 0 ? dec_neg(r) : r));
	TRY(dec_add(&p->realized_pnl, p->realized_pnl, g));
	TRY(dec_add(&p->open.gross_pnl, p->open.gross_pnl, g));
	TRY(add_fee(p, fee));
	*gross = g;
	f->reduced = 1;
	return dec_is_zero(p->size) ? close_trip(f, p) : 0;
}

/* A spot position left below its minimum size is closed at the fill's price. */
static int close_dust(struct book_fill *f, struct book_position *p, struct dec *gross)
{
	struct dec g = DEC_ZERO;

	if (f->kind != KIND_SPOT || dec_is_zero(p->size) ||
	    dec_cmp(dec_abs(p->size), f->min_size) >= 0)
		return 0;
	TRY(shrink(f, p, dec_abs(p->size), DEC_ZERO, &g));
	f->r->flags |= BOOK_FLAG_DUST;
	return dec_add(gross, *gross, g);
}

/*
 * Moves the position by delta (signed) at the fill's price with fee (in the
 * position's currency): adds, reduces, or closes and reopens the rest (a flip,
 * whose fee is shared by the two trips pro rata by quantity).
 */
static int trade(struct book_fill *f, struct book_position *p, struct dec delta, struct dec fee,
                 struct book_alloc *a)
{
	int d = dec_sign(delta), s = dec_sign(p->size);
	struct dec mag = dec_abs(delta), have = dec_abs(p->size), r, fee_close = fee;
	struct dec fee_open = DEC_ZERO;

	a->trade_seq = p->open.seq ? p->open.seq : p->trade_seq;
	if (d == 0)
		return add_fee(p, fee);
	if (s == 0 || s == d) {
		TRY(grow(f, p, mag, d, fee));
		a->trade_seq = p->open.seq;
		return 0;
	}
	r = dec_min(mag, have);
	if (dec_cmp(mag, have) > 0) {
		TRY(dec_mul(&fee_close, fee, r, HALF_EVEN));
		TRY(dec_div(&fee_close, fee_close, mag, HALF_EVEN));
		TRY(dec_sub(&fee_open, fee, fee_close));
	}
	TRY(shrink(f, p, r, fee_close, &a->realized_pnl));
	if (dec_cmp(mag, r) > 0) {
		TRY(dec_sub(&mag, mag, r));
		TRY(grow(f, p, mag, d, fee_open));
	}
	return close_dust(f, p, &a->realized_pnl);
}

/* One planned part of a size-moving fill, on its position. */
static int apply_move(struct book_fill *f, struct book_position *p, const struct book_part *pt,
                      struct book_alloc *a)
{
	struct dec delta = f->dir > 0 ? pt->qty : dec_neg(pt->qty), fee = pt->fee;

	if (f->kind == KIND_SPOT && f->fee_coin == FEE_BASE) {
		/* The fee coins leave the holding; their value is the fee. */
		TRY(dec_sub(&delta, delta, pt->fee));
		TRY(dec_mul(&fee, pt->fee, f->price, HALF_EVEN));
	}
	return trade(f, p, delta, fee, a);
}

static int apply_funding(struct book_position *p, const struct book_part *pt, struct book_alloc *a)
{
	TRY(dec_add(&p->funding, p->funding, pt->fee));
	if (p->open.seq)
		TRY(dec_add(&p->open.funding, p->open.funding, pt->fee));
	a->trade_seq = p->trade_seq;
	return 0;
}

static int update_avg(const struct book_fill *f, struct book_position *p)
{
	struct dec mag = dec_abs(p->size);

	p->avg_price = DEC_ZERO;
	if (dec_is_zero(mag) || dec_is_zero(p->basis))
		return 0;
	if (f->kind == KIND_INVERSE)
		return dec_div(&p->avg_price, mag, p->basis, HALF_EVEN);
	return dec_div(&p->avg_price, p->basis, mag, HALF_EVEN);
}

/* ---- book_apply ---------------------------------------------------------- */

static void result_clear(struct book_result *r)
{
	r->status = BOOK_APPLIED;
	r->flags = 0;
	r->via = BOOK_VIA_UNATTRIBUTED;
	r->bot[0] = r->reason[0] = r->close_reason[0] = r->why[0] = '\0';
	r->realized_pnl = DEC_ZERO;
	r->trade_seq = 0;
	r->holders = 0;
	r->allocs_n = r->positions_n = r->trips_n = 0;
}

/* Checks the fill and gathers what the stages need. */
static int fill_init(struct book_fill *f, const char *account, const struct decode_exec *x,
                     const struct book_order *o)
{
	const struct decode_exec *e = x;

	f->x = x;
	f->acct = cfg_account_find(f->b->cfg, account);
	if (!f->acct)
		return fail(f->r, FR_EINVAL, "unknown account '%.40s'", account);
	if (kind_of(e->category, &f->kind) < 0)
		return fail(f->r, FR_EINVAL, "%s: unknown category '%.20s'", e->exec_id,
		            e->category);
	if (!e->exec_id[0] || !e->symbol[0])
		return fail(f->r, FR_EINVAL, "fill without execId or symbol");
	f->xclass = xclass_of(e->exec_type);
	f->dir = strcmp(e->side, "Buy") == 0 ? 1 : strcmp(e->side, "Sell") == 0 ? -1 : 0;
	f->qty = e->exec_qty.v;
	f->price = e->exec_price.v;
	f->fee = e->exec_fee.present ? e->exec_fee.v : DEC_ZERO;
	if (f->xclass == X_MOVE) {
		if (f->dir == 0)
			return fail(f->r, FR_EINVAL, "%s: side '%.20s' is not Buy or Sell",
			            e->exec_id, e->side);
		if (dec_sign(f->qty) <= 0)
			return fail(f->r, FR_EINVAL, "%s: execQty is not positive", e->exec_id);
		if (dec_sign(f->price) < (f->kind == KIND_INVERSE ? 1 : 0))
			return fail(f->r, FR_EINVAL, "%s: execPrice out of range for %s",
			            e->exec_id, e->category);
	}
	memset(&f->o, 0, sizeof f->o);
	if (o)
		f->o = *o;
	if (f->o.position_idx < 0 || f->o.position_idx > 2)
		return fail(f->r, FR_EINVAL, "%s: positionIdx %d", e->exec_id, f->o.position_idx);
	f->fee_coin = f->kind == KIND_SPOT ? spot_fee_coin(e) : FEE_SETTLE;
	f->min_size = f->kind == KIND_SPOT ? min_size_of(f->b, e->symbol) : DEC_ZERO;
	return 0;
}

/* Reasons and the bots named by the ids (see "Reasons" in book.h). */
static void fill_reasons(struct book_fill *f, const char *account)
{
	const struct decode_exec *x = f->x;
	const char *id = x->order_link_id[0] ? x->order_link_id : f->o.order_link_id;
	const char *ct = meaningful(x->create_type) ? x->create_type : f->o.create_type;
	const char *st = meaningful(x->stop_order_type) ? x->stop_order_type : f->o.stop_order_type;

	f->reason[0] = '\0';
	f->link_bot = link_bot(f->b->cfg, account, id, f->reason);
	if (id[0] && !f->link_bot)
		f->r->flags |= BOOK_FLAG_FOREIGN_ID;
	f->parent_bot = link_bot(f->b->cfg, account, f->o.parent_order_link_id, NULL);
	f->exch_reason = book_exchange_reason(x->exec_type, ct, st);
	f->eff_reason = f->reason[0]        ? f->reason
	                : f->exch_reason[0] ? f->exch_reason
	                                    : BOOK_REASON_UNKNOWN;
}

/* Copies (or creates) the position of every part into r->positions. */
static int load_positions(struct book_fill *f, const struct book_plan *pl, const char *account)
{
	struct book *b = f->b;
	int first = b->syms_[f->sym].first_pos, need = 0;

	for (int k = 0; k < pl->n; k++) {
		b->pos_slot_[k] = pos_find(b, first, pl->parts[k].bot, f->o.position_idx);
		need += b->pos_slot_[k] < 0;
	}
	if (need > BOOK_POSITIONS_MAX - b->positions_used_)
		return fail(f->r, FR_ENOMEM, "position table full (%d positions)",
		            BOOK_POSITIONS_MAX);
	for (int k = 0; k < pl->n; k++) {
		struct book_position *p = &f->r->positions[k];

		if (b->pos_slot_[k] >= 0) {
			*p = b->pos_[b->pos_slot_[k]];
			continue;
		}
		memset(p, 0, sizeof *p);
		put(p->account, sizeof p->account, account);
		put(p->bot, sizeof p->bot, pl->parts[k].bot);
		put(p->category, sizeof p->category, f->x->category);
		put(p->symbol, sizeof p->symbol, f->x->symbol);
		p->position_idx = f->o.position_idx;
		p->next_ = -1;
	}
	f->r->positions_n = pl->n;
	return 0;
}

/* Stage 2: every part on its position copy; fills allocs. */
static int apply_parts(struct book_fill *f, const struct book_plan *pl)
{
	struct book_result *r = f->r;

	for (int k = 0; k < pl->n; k++) {
		struct book_position *p = &r->positions[k];
		struct book_alloc *a = &r->allocs[k];

		memset(a, 0, sizeof *a);
		put(a->bot, sizeof a->bot, pl->parts[k].bot);
		a->position_idx = p->position_idx;
		a->qty = pl->parts[k].qty;
		a->fee = pl->parts[k].fee;
		if (!p->currency[0])
			currency_of(p->currency, f->kind, f->x);
		if (f->xclass == X_FUNDING)
			TRY(apply_funding(p, &pl->parts[k], a));
		else
			TRY(apply_move(f, p, &pl->parts[k], a));
		TRY(update_avg(f, p));
		put(p->last_exec_id, sizeof p->last_exec_id, f->x->exec_id);
		p->last_exec_time_ms = f->x->exec_time_ms;
		TRY(dec_add(&r->realized_pnl, r->realized_pnl, a->realized_pnl));
	}
	r->allocs_n = pl->n;
	return 0;
}

/* Stage 3: positions and the symbol's memory into the book. */
static void commit(struct book_fill *f)
{
	struct book *b = f->b;
	struct book_sym_ *s = &b->syms_[f->sym];

	for (int k = 0; k < f->r->positions_n; k++) {
		int slot = b->pos_slot_[k];

		if (slot < 0) {
			slot = b->free_pos_;
			assert(slot >= 0);
			b->free_pos_ = b->pos_[slot].next_;
			b->positions_used_++;
			f->r->positions[k].next_ = s->first_pos;
			s->first_pos = slot;
		}
		b->pos_[slot] = f->r->positions[k];
	}
	sym_remember(s, f->x);
}

static void finish(struct book_fill *f, const struct book_plan *pl)
{
	struct book_result *r = f->r;
	struct book_stats *st = &f->b->stats;

	r->via = pl->via;
	put(r->bot, sizeof r->bot, pl->bot);
	put(r->reason, sizeof r->reason, f->reason);
	if (f->reduced)
		put(r->close_reason, sizeof r->close_reason, f->eff_reason);
	r->trade_seq = r->allocs_n == 1 ? r->allocs[0].trade_seq : 0;
	r->holders = holders_of(f->b, f->b->syms_[f->sym].first_pos, NULL);
	if (pl->via == BOOK_VIA_SPLIT)
		r->flags |= BOOK_FLAG_NETTED;
	if (f->xclass == X_OTHER)
		r->flags |= BOOK_FLAG_NO_EFFECT;
	if (f->xclass == X_MOVE && f->kind == KIND_OPTION)
		r->flags |= BOOK_FLAG_NO_PNL;
	if (f->xclass == X_MOVE && f->fee_coin == FEE_OTHER)
		r->flags |= BOOK_FLAG_FEE_COIN;
	if (r->holders >= 2)
		r->flags |= BOOK_FLAG_SHARED_SYMBOL;
	st->applied++;
	st->netted += (r->flags & BOOK_FLAG_NETTED) != 0;
	st->shared_symbol += (r->flags & BOOK_FLAG_SHARED_SYMBOL) != 0;
	st->no_effect += (r->flags & BOOK_FLAG_NO_EFFECT) != 0;
	st->dust += (r->flags & BOOK_FLAG_DUST) != 0;
}

/* Stages 1 and 2 for a fill that is neither a duplicate nor late. */
static int plan_and_apply(struct book_fill *f, const char *account)
{
	struct book_plan pl;
	int rc;

	fill_reasons(f, account);
	rc = plan_fill(f, &pl);
	if (rc < 0)
		return fail(f->r, rc, "%s: splitting among holders: %s", f->x->exec_id,
		            err_str(rc));
	rc = load_positions(f, &pl, account);
	if (rc < 0)
		return rc;
	rc = apply_parts(f, &pl);
	if (rc < 0)
		return fail(f->r, rc, "%s: PnL arithmetic: %s", f->x->exec_id, err_str(rc));
	commit(f);
	finish(f, &pl);
	return 0;
}

/* see book.h */
int book_apply(struct book *b, const char *account, const struct decode_exec *x,
               const struct book_order *o, struct book_result *r)
{
	struct book_fill f = {.b = b, .r = r};
	int rc, created;

	assert(b && b->cfg && account && x && r);
	result_clear(r);
	rc = fill_init(&f, account, x, o);
	if (rc < 0)
		return rc;
	rc = sym_open(&f, account, &created);
	if (rc < 0)
		return rc;
	rc = sym_check(&b->syms_[f.sym], x);
	if (rc != BOOK_APPLIED) {
		r->status = rc;
		b->stats.duplicates += rc == BOOK_DUPLICATE;
		b->stats.late += rc == BOOK_LATE;
		return rc;
	}
	rc = plan_and_apply(&f, account);
	if (rc < 0) {
		if (created)
			sym_drop(b, f.sym);
		return rc;
	}
	return BOOK_APPLIED;
}

/* ---- the rest of the API ------------------------------------------------- */

/* see book.h */
/* see book.h */
void book_clear(struct book *b)
{
	static struct book_min_size mins[BOOK_MIN_SIZES_MAX];
	struct book_opts o = { b->spot_min_default, mins, b->spot_min_n };

	memcpy(mins, b->spot_min, sizeof mins);
	book_init(b, b->cfg, &o);
}

int book_init(struct book *b, const struct cfg *c, const struct book_opts *o)
{
	assert(b && c);
	memset(b, 0, sizeof *b);
	b->cfg = c;
	if (o && (o->spot_min_n < 0 || o->spot_min_n > BOOK_MIN_SIZES_MAX ||
	          dec_sign(o->spot_min_default) < 0 || (o->spot_min_n > 0 && !o->spot_min)))
		return FR_EINVAL;
	for (int i = 0; o && i < o->spot_min_n; i++) {
		if (dec_sign(o->spot_min[i].min) < 0 ||
		    !fits(o->spot_min[i].symbol, sizeof o->spot_min[i].symbol))
			return FR_EINVAL;
		b->spot_min[i] = o->spot_min[i];
	}
	if (o) {
		b->spot_min_default = o->spot_min_default;
		b->spot_min_n = o->spot_min_n;
	}
	for (int i = 0; i < BOOK_POSITIONS_MAX; i++)
		b->pos_[i].next_ = i + 1 < BOOK_POSITIONS_MAX ? i + 1 : -1;
	b->free_pos_ = 0;
	return 0;
}

/* see book.h */
int book_reset_symbol(struct book *b, const char *account, const char *category, const char *symbol)
{
	int i = sym_find(b, account, category, symbol), n = 0;

	if (i < 0)
		return 0;
	for (int p = b->syms_[i].first_pos, next; p >= 0; p = next) {
		next = b->pos_[p].next_;
		memset(&b->pos_[p], 0, sizeof b->pos_[p]);
		b->pos_[p].next_ = b->free_pos_;
		b->free_pos_ = p;
		b->positions_used_--;
		n++;
	}
	sym_drop(b, i);
	return n;
}

/* see book.h */
int book_rebuild(struct book *b, const char *account, const struct book_input *in, size_t n,
                 struct book_result *scratch, book_result_fn fn, void *ctx)
{
	assert(b && account && scratch && (in || n == 0));
	result_clear(scratch);
	if (n == 0)
		return 0;
	for (size_t i = 1; i < n; i++) {
		const struct decode_exec *p = in[i - 1].exec, *x = in[i].exec;

		if (strcmp(x->category, in[0].exec->category) != 0 ||
		    strcmp(x->symbol, in[0].exec->symbol) != 0)
			return fail(scratch, FR_EINVAL, "rebuild: fill %zu is of another symbol",
			            i);
		if (book_fill_cmp(p, x) > 0)
			return fail(scratch, FR_EINVAL, "rebuild: fill %zu out of exchange order",
			            i);
	}
	book_reset_symbol(b, account, in[0].exec->category, in[0].exec->symbol);
	for (size_t i = 0; i < n; i++) {
		int rc = book_apply(b, account, in[i].exec, in[i].order, scratch);

		if (rc < 0)
			return rc;
		if (fn)
			fn(ctx, &in[i], scratch);
	}
	return 0;
}

/* see book.h */
const struct book_position *book_position_find(const struct book *b, const char *account,
                                               const char *bot, const char *category,
                                               const char *symbol, int position_idx)
{
	int s = sym_find(b, account, category, symbol);
	int i = s < 0 ? -1 : pos_find(b, b->syms_[s].first_pos, bot, position_idx);

	return i < 0 ? NULL : &b->pos_[i];
}

/* see book.h */
const struct book_position *book_position_next(const struct book *b, int *cursor)
{
	while (*cursor >= 0 && *cursor < BOOK_POSITIONS_MAX) {
		const struct book_position *p = &b->pos_[(*cursor)++];

		if (p->bot[0]) /* free slots have no bot */
			return p;
	}
	return NULL;
}

/* see book.h */
int book_holders(const struct book *b, const char *account, const char *category,
                 const char *symbol)
{
	int s = sym_find(b, account, category, symbol);

	return s < 0 ? 0 : holders_of(b, b->syms_[s].first_pos, NULL);
}

/* see book.h */
void book_order_from_decode(struct book_order *o, const struct decode_order *d)
{
	memset(o, 0, sizeof *o);
	o->position_idx = d->position_idx.present ? (int)d->position_idx.v : 0;
	put(o->order_link_id, sizeof o->order_link_id, d->order_link_id);
	put(o->parent_order_link_id, sizeof o->parent_order_link_id, d->parent_order_link_id);
	put(o->create_type, sizeof o->create_type, d->create_type);
	put(o->stop_order_type, sizeof o->stop_order_type, d->stop_order_type);
}

/* see book.h */
const char *book_side_name(enum book_side s)
{
	return s == BOOK_LONG ? "long" : s == BOOK_SHORT ? "short" : "flat";
}

/* see book.h */
const char *book_status_name(int status)
{
	switch (status) {
	case BOOK_APPLIED:
		return "applied";
	case BOOK_DUPLICATE:
		return "duplicate";
	case BOOK_LATE:
		return "late";
	default:
		return NULL;
	}
}
