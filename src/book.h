/*
 * book.h -- the position book: per bot positions, round trips and PnL, built
 * from an account's fills (DESIGN.md sections 2 to 5). Pure logic: no I/O, no
 * heap, no floating point, no clock. The sinks write what book_apply returns:
 * trading.fills' derived columns, trading.fill_allocations, trading.trades_pnl,
 * and the Redis position keys.
 *
 * ------------------------------------------------------------------------------
 * Keys. A position is kept per (account, bot, category, symbol, positionIdx).
 * Fills are ordered and deduplicated per (account, category, symbol): that is
 * "the symbol" below. The book never looks across symbols, so the state of a
 * symbol is a function of that symbol's fills alone.
 *
 * Exchange order. Fills of a symbol are applied in the order (execTime, seq,
 * execId), book_fill_cmp: execTime in ms, then seq (an absent seq counts as -1),
 * then execId compared bytewise (strcmp; in SQL: ORDER BY exec_time,
 * COALESCE(seq, -1), exec_id COLLATE "C"). book_apply returns
 *   BOOK_APPLIED    the fill changed the book (or, for CorporateAction and
 *                   unknown execTypes, was recorded as seen: BOOK_FLAG_NO_EFFECT);
 *   BOOK_DUPLICATE  its execId is among the last BOOK_RECENT_MAX fills applied to
 *                   the symbol: nothing changed, nothing is to be written or
 *                   published again;
 *   BOOK_LATE       it sorts before the last fill applied to the symbol and is not
 *                   a recent duplicate: nothing changed. The caller then rebuilds
 *                   the symbol from the full set of its fills in exchange order
 *                   (book_rebuild, or book_reset_symbol and book_apply for each)
 *                   and rewrites every derived row of the symbol.
 * So the state is a pure function of the set of fills: any arrival order, with
 * rebuilds on BOOK_LATE, ends in the same positions and the same round trips
 * (tests/test_book.c proves it over random sequences). The window is a second
 * line of defence: the sink dedupes on (account, execId) in PostgreSQL first, and
 * a duplicate older than the window is BOOK_LATE, whose rebuild (from a set that
 * holds it once) changes nothing either.
 *
 * ------------------------------------------------------------------------------
 * Attribution (DESIGN.md 3), in this order:
 *   1. the bot of the fill's orderLinkId (the order's, when the fill's is ""),
 *      if orderid_parse reads one and it is a configured bot of this account;
 *   2. the bot of the order's parentOrderLinkId (attached TP/SL), same test;
 *   3. an exchange close (see Netting) split among two or more holders;
 *   4. the only bot holding a position (size != 0, any positionIdx) in the symbol;
 *   5. the account's default_bot;
 *   6. bot "unattributed" (BOOK_BOT_UNATTRIBUTED), which then holds positions
 *      like any bot, so the bots' sizes always add up to the account's net.
 * Funding goes to the holders of the position it was charged on (see Funding);
 * when nobody holds that positionIdx (or their sizes cancel out), down the
 * chain from step 4: hedge-mode funding whose order is unknown (positionIdx 0)
 * then reaches the only holder of the symbol.
 * An id in our format whose bot is not a bot of this account (a foreign or
 * unknown bot) still gives its reason; such ids, UUIDs, random hex and "" set
 * BOOK_FLAG_FOREIGN_ID when non-empty and fall through the chain.
 *
 * Netting (one-way mode nets all bots of an account). A fill that steps 1 and 2
 * do not attribute, that the exchange originated (execType AdlTrade, BustTrade,
 * Delivery, Settle, or a createType/stopOrderType that book_exchange_reason maps,
 * e.g. a position-level TP/SL with an empty orderLinkId) and that reduces the
 * net of two or more holders of the symbol and positionIdx is split among them
 * pro rata: every holder's size is scaled by the same factor (1 - |qty|/|net|),
 * each closing with the fill's reason, so no bot keeps a size the exchange no
 * longer has. bot = "shared" (BOOK_BOT_SHARED), BOOK_FLAG_NETTED, and
 * allocs[] holds the parts. A close larger than the net flattens every holder
 * and gives the excess to the default_bot, else "unattributed"
 * (BOOK_FLAG_EXCESS). With a single holder, step 4 gives it the whole fill.
 *
 * Splitting (netted closes and Funding). The parts of execQty and of execFee
 * are exact decimals and sum exactly to the whole: each is the holder's exact
 * share (whole * size_i / net) rounded to DEC_SCALE (18) places, down or up, by
 * the largest-remainder method (ties: bot ids in strcmp order). Not "the last
 * holder takes the remainder": that can push a small last holder past flat;
 * largest remainder never moves a part by 10^-18 or more from its exact share.
 * The book knows no lot sizes, so a partial split of 1 among three equal
 * holders leaves sizes such as 0.666666666666666667 (a full close is always
 * exact: every holder goes to 0). Holders are weighted by signed size: with one
 * bot long 2 and another short 1 (net 1), closing the net 1 sells 2 for the
 * first and buys 1 for the second.
 *
 * ------------------------------------------------------------------------------
 * execType: Trade, BlockTrade, FutureSpread, MovePosition move positions;
 * AdlTrade, BustTrade, Delivery, Settle move them too, with close reasons adl,
 * liquidation, settlement; Funding moves no size (see Funding); CorporateAction,
 * UNKNOWN and any other value move nothing and charge nothing: they are
 * attributed (for the fills row), ordered and deduplicated like fills, and
 * flagged BOOK_FLAG_NO_EFFECT, for a human to look at.
 *
 * Reasons. reason = the canonical reason of the fill's orderLinkId, "" when it
 * has none. The fill's effective reason is that reason, else
 * book_exchange_reason(execType, createType, stopOrderType) (the fill's own
 * createType and stopOrderType, the order's when the fill's are "" or UNKNOWN),
 * else "unknown". A fill that reduces a position closes with its effective
 * reason (close_reason; "" when it reduced nothing); a fill that opens one opens
 * it with its effective reason (entry_reason). A round trip's close_reason is
 * that of the fill that made it flat; a flip closes one trip and opens the next
 * with the remainder, both with that fill's reason.
 *
 * PnL, average cost. A position keeps its basis: for linear, spot and option
 * the quote value paid, sum of qty * price; for inverse the coin value, sum of
 * qty / price (harmonic average entry: avg = size / basis). A reduction by r
 * releases basis * r / |size| (all the basis when it goes flat) and realizes,
 * for a long (negated for a short),
 *   linear, spot  r * price - released          (in the settle/quote coin)
 *   inverse       released - r / price          (= r * (1/entry - 1/exit), coin)
 * Rounding: sums and differences are exact; qty * price is exact whenever the
 * product has at most 18 fractional digits, which holds for every fill as Bybit
 * sends it; qty / price, basis * r / |size|, avg_price and the fee part of a
 * flip are rounded half-even to DEC_SCALE (18) places. So a linear or spot
 * round trip's gross PnL is exactly its cash result (the basis released over a
 * trip telescopes to exactly what was paid), and an inverse one is within
 * 1e-18 coin per fill. One exception: a size left with 18 places by a pro-rata
 * split (see Splitting) makes later products round too, by at most 5e-19 each.
 * Option fills move sizes and fees (basis and avg_price as for linear) but
 * realize no PnL (BOOK_FLAG_NO_PNL) and produce no round trip rows.
 * Currency (the position's, on first fill): linear and inverse: the fill's
 * feeCurrency (the settle coin), else from the symbol (..USDT: USDT, ..PERP and
 * ..USDC: USDC, inverse BTCUSD..: BTC); spot: the quote coin (from feeCurrency
 * and the symbol, else a table of quote coins), because PnL is in the quote.
 * Fees: execFee, negative is a rebate. Spot fees charged in the base coin (the
 * feeCurrency is the symbol's base; with no feeCurrency, a Buy's fee is in the
 * base coin and a Sell's in the quote, Bybit's rule) shrink the held size (buy 1
 * with fee 0.001 holds 0.999) and count in fees at fee * price, so a round
 * trip's net PnL is exactly the cash result. A fee in any other coin is counted
 * as is (BOOK_FLAG_FEE_COIN). A spot position left with 0 < |size| < the
 * symbol's minimum size (book_opts) is dust: it is closed at the fill's price,
 * the round trip ends, the size becomes 0 (BOOK_FLAG_DUST).
 *
 * Funding (execType Funding): a fee on the position, positive execFee = paid.
 * It goes to the holders of (account, category, symbol, positionIdx) pro rata
 * by signed size (a short holder's part of a paid funding is negative:
 * received); bot = the sole holder, else "shared" with BOOK_FLAG_NETTED. Each
 * part adds to the position's funding and to its open round trip's funding.
 * net_pnl = gross_pnl - fees - funding.
 *
 * positionIdx comes from the order (struct book_order; executions carry none)
 * and is 0 when the order is unknown.
 *
 * ------------------------------------------------------------------------------
 * Memory and threads. struct book is caller-owned, plain data, about 4.1 MiB:
 * keep it in static storage. Every table has a fixed size (BOOK_*_MAX); a full
 * table is FR_ENOMEM for the fill that needed a new entry, with nothing changed.
 * The book keeps a pointer to the struct cfg given to book_init, which must
 * outlive it and not change. struct book_result is caller-owned too (about
 * 80 KiB). Not thread-safe; one thread.
 *
 * Errors. book_apply and book_rebuild return a BOOK_* status (>= 0) or
 *   FR_EINVAL  bad input: unknown account, category not linear/inverse/spot/
 *              option, empty execId or symbol, positionIdx not 0..2; for a
 *              size-moving fill also side not Buy/Sell, execQty <= 0, execPrice
 *              <= 0 for inverse or < 0 for the rest (0 is legal: an option
 *              expiring worthless);
 *   FR_ENOMEM  a table is full (BOOK_SYMBOLS_MAX, BOOK_POSITIONS_MAX);
 *   FR_ERANGE  a value overflows exact arithmetic (absurd magnitudes).
 * with result.why saying what. On error nothing in the book changed.
 * Preconditions (asserted): non-NULL pointers except where NULL is allowed,
 * NUL-terminated strings.
 */
#ifndef FR_BOOK_H
#define FR_BOOK_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "dec.h"
#include "decode.h"
#include "err.h"

/* ---- limits -------------------------------------------------------------- */

#define BOOK_SYMBOLS_MAX 1024   /* (account, category, symbol) ever traded */
#define BOOK_POSITIONS_MAX 4096 /* (account, bot, category, symbol, positionIdx) */
#define BOOK_RECENT_MAX 32      /* execIds remembered per symbol for dedupe */
#define BOOK_MIN_SIZES_MAX 256  /* per-symbol spot minimum sizes */
/* Holders of one symbol and positionIdx: the account's bots and "unattributed". */
#define BOOK_ALLOC_MAX (CFG_BOTS_MAX + 1)
/* A part closes at most one trip, opens the next, and may leave it as dust. */
#define BOOK_TRIPS_MAX (2 * BOOK_ALLOC_MAX)

#define BOOK_BOT_MAX CFG_BOT_ID_MAX
#define BOOK_REASON_MAX CFG_REASON_MAX
#define BOOK_BOT_UNATTRIBUTED "unattributed"
#define BOOK_BOT_SHARED "shared"
#define BOOK_REASON_UNKNOWN "unknown"

_Static_assert(sizeof BOOK_BOT_UNATTRIBUTED <= BOOK_BOT_MAX, "fits a bot id");
_Static_assert(BOOK_POSITIONS_MAX >= BOOK_SYMBOLS_MAX, "a symbol needs a position");
_Static_assert(BOOK_RECENT_MAX >= 1, "the last fill is always remembered");

/* ---- values -------------------------------------------------------------- */

enum book_status {
	BOOK_APPLIED = 0,
	BOOK_DUPLICATE = 1,
	BOOK_LATE = 2,
};

enum book_side {
	BOOK_SHORT = -1,
	BOOK_FLAT = 0,
	BOOK_LONG = 1,
};

/* How bot was chosen: the step of the attribution chain. */
enum book_via {
	BOOK_VIA_LINK = 1,     /* the fill's (or its order's) orderLinkId */
	BOOK_VIA_PARENT,       /* the order's parentOrderLinkId */
	BOOK_VIA_SPLIT,        /* netted close or Funding split among >= 2 holders */
	BOOK_VIA_HOLDER,       /* the only holder of the symbol */
	BOOK_VIA_DEFAULT,      /* the account's default_bot */
	BOOK_VIA_UNATTRIBUTED, /* nobody: bot "unattributed" */
};

/* result.flags */
/* >= 2 bots hold the symbol on the account after this fill: warn, count a metric */
#define BOOK_FLAG_SHARED_SYMBOL 0x01u
#define BOOK_FLAG_NETTED 0x02u    /* split among >= 2 holders (allocs[]) */
#define BOOK_FLAG_NO_EFFECT 0x04u /* CorporateAction, UNKNOWN, other execType */
#define BOOK_FLAG_DUST 0x08u      /* a spot position below min size closed */
#define BOOK_FLAG_NO_PNL 0x10u    /* option: sizes and fees, no PnL */
#define BOOK_FLAG_EXCESS 0x20u    /* exchange close larger than the net */
#define BOOK_FLAG_FEE_COIN 0x40u  /* spot fee in neither base nor quote coin */
/* a non-empty orderLinkId naming no bot of this account */
#define BOOK_FLAG_FOREIGN_ID 0x80u

/* What is known of the fill's order (from the order stream or REST). */
struct book_order {
	int position_idx;                         /* 0 one-way; 1, 2 hedge Buy/Sell side */
	char order_link_id[DECODE_ID_MAX];        /* the order's own; "" unknown */
	char parent_order_link_id[DECODE_ID_MAX]; /* attached TP/SL: the parent's */
	char create_type[DECODE_ENUM_MAX];
	char stop_order_type[DECODE_ENUM_MAX];
};

/* The round trip in progress of a position; seq == 0 when flat. */
struct book_open {
	int64_t seq;
	enum book_side side;
	char entry_reason[BOOK_REASON_MAX];
	int64_t opened_at_ms;
	struct dec qty;       /* size added over the trip (entries, scale-ins) */
	struct dec gross_pnl; /* realized so far by partial exits */
	struct dec fees;      /* in the position's currency */
	struct dec funding;   /* paid (>0) or received (<0) */
};

/*
 * One position: what BOT:position:SYMBOL and BOT:position_detail:SYMBOL show.
 * Money is in currency; totals (realized_pnl, fees, funding) run over the life
 * of the position key, across round trips.
 */
struct book_position {
	char account[CFG_NAME_MAX];
	char bot[BOOK_BOT_MAX];
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	int position_idx;
	char currency[DECODE_COIN_MAX];
	struct dec size;         /* signed: > 0 long, < 0 short, 0 flat */
	struct dec basis;        /* see "PnL"; 0 when flat */
	struct dec avg_price;    /* linear, spot: basis/|size|; inverse: |size|/basis; 0 flat */
	struct dec realized_pnl; /* gross: price PnL only */
	struct dec fees;
	struct dec funding;
	int64_t trade_seq; /* the open trip's, else the last closed one's; 0 none yet */
	struct book_open open;
	char last_exec_id[DECODE_ID_MAX]; /* last fill (or funding) that touched it */
	int64_t last_exec_time_ms;
	int next_; /* private: the symbol's list of positions */
};

/* A closed round trip: one row of trading.trades_pnl. Unique on (account, bot,
 * category, symbol, trade_seq): trade_seq counts per (account, bot, category,
 * symbol), from 1, across positionIdx. */
struct book_trip {
	char account[CFG_NAME_MAX];
	char bot[BOOK_BOT_MAX];
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	int position_idx;
	int64_t trade_seq;
	enum book_side side;
	char entry_reason[BOOK_REASON_MAX];
	char close_reason[BOOK_REASON_MAX];
	int64_t opened_at_ms;
	int64_t closed_at_ms;
	struct dec qty; /* as book_open.qty */
	struct dec gross_pnl;
	struct dec fees;
	struct dec funding;
	struct dec net_pnl; /* gross_pnl - fees - funding */
	char currency[DECODE_COIN_MAX];
};

/* One bot's part of a fill: a row of trading.fill_allocations when the fill is
 * split (allocs_n > 1), else the whole fill's effect on its one bot. */
struct book_alloc {
	char bot[BOOK_BOT_MAX];
	int position_idx;
	struct dec qty;          /* part of execQty in the fill's direction (< 0:
	                          * against it); the parts sum to execQty */
	struct dec fee;          /* part of execFee, in the fee's coin; sum to execFee */
	struct dec realized_pnl; /* gross PnL this part realized */
	int64_t trade_seq;       /* the trip this part reduced, else the one it opened
	                          * or added to (a flip: the one it closed) */
};

struct book_result {
	enum book_status status;
	unsigned flags;                     /* BOOK_FLAG_* (APPLIED only) */
	enum book_via via;                  /* APPLIED only */
	char bot[BOOK_BOT_MAX];             /* fills.bot_id: a bot, "shared", "unattributed" */
	char reason[BOOK_REASON_MAX];       /* the orderLinkId's canonical reason, or "" */
	char close_reason[BOOK_REASON_MAX]; /* "" when the fill reduced no position */
	struct dec realized_pnl;            /* sum over allocs */
	int64_t trade_seq;                  /* allocs[0]'s when one part, else 0 */
	int holders;                        /* bots holding the symbol on the account after */
	int allocs_n;                       /* 0 for NO_EFFECT fills */
	struct book_alloc allocs[BOOK_ALLOC_MAX];
	int positions_n; /* positions touched, after the fill, one per alloc */
	struct book_position positions[BOOK_ALLOC_MAX];
	int trips_n; /* round trips this fill closed */
	struct book_trip trips[BOOK_TRIPS_MAX];
	char why[ERR_MSG_MAX]; /* on error: what was wrong; else "" */
};

struct book_min_size {
	char symbol[DECODE_SYMBOL_MAX];
	struct dec min;
};

struct book_opts {
	struct dec spot_min_default;          /* dust threshold of spot symbols not listed */
	const struct book_min_size *spot_min; /* copied by book_init; may be NULL if n 0 */
	int spot_min_n;                       /* <= BOOK_MIN_SIZES_MAX */
};

struct book_stats {
	uint64_t applied, duplicates, late;
	uint64_t netted;        /* fills split among >= 2 holders */
	uint64_t shared_symbol; /* fills leaving >= 2 bots on one symbol */
	uint64_t no_effect, dust;
};

/* A symbol: ordering and dedupe state. Private. */
struct book_sym_ {
	int in_use;
	char account[CFG_NAME_MAX];
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
	int64_t last_time_ms, last_seq;
	char last_exec_id[DECODE_ID_MAX];
	int recent_n, recent_next;
	char recent[BOOK_RECENT_MAX][DECODE_ID_MAX];
	int first_pos; /* head of its positions, -1 none */
};

struct book {
	const struct cfg *cfg;
	struct dec spot_min_default;
	int spot_min_n;
	struct book_min_size spot_min[BOOK_MIN_SIZES_MAX];
	struct book_stats stats;
	/* private */
	int syms_hw_;  /* symbols in use are in [0, syms_hw_) */
	int free_pos_; /* head of the free positions, -1 none */
	int positions_used_;
	struct book_sym_ syms_[BOOK_SYMBOLS_MAX];
	struct book_position pos_[BOOK_POSITIONS_MAX];
	int pos_slot_[BOOK_ALLOC_MAX]; /* scratch of book_apply */
};

/* A fill for book_rebuild: its execution and what is known of its order. */
struct book_input {
	const struct decode_exec *exec;
	const struct book_order *order; /* NULL: unknown */
};

typedef void (*book_result_fn)(void *ctx, const struct book_input *in, const struct book_result *r);

/* ---- calls --------------------------------------------------------------- */

/*
 * Empties b and keeps c (which must outlive b) and a copy of o's minimum sizes
 * (o may be NULL: no dust rule). Returns 0, or FR_EINVAL when o has more than
 * BOOK_MIN_SIZES_MAX sizes, a negative size or a symbol that does not fit.
 */
int book_init(struct book *b, const struct cfg *c, const struct book_opts *o);

/* Forgets every symbol and position (as book_init left it, same cfg and
 * options): for a warm-up that starts over. */
void book_clear(struct book *b);

/*
 * Applies one fill of account (a configured account name): x as decoded, o what
 * is known of its order (NULL: nothing). Fills *r (always, also on error) and
 * returns BOOK_APPLIED, BOOK_DUPLICATE, BOOK_LATE or an error (see above).
 */
int book_apply(struct book *b, const char *account, const struct decode_exec *x,
               const struct book_order *o, struct book_result *r);

/*
 * Forgets the symbol (account, category, symbol): every position of every bot
 * in it, its order and its dedupe window. Returns the number of positions
 * forgotten (0 when the symbol is unknown).
 */
int book_reset_symbol(struct book *b, const char *account, const char *category,
                      const char *symbol);

/*
 * Rebuilds one symbol from the full set of its fills: in[0..n) must share one
 * (category, symbol) and be sorted by book_fill_cmp (else FR_EINVAL and nothing
 * changes). Resets the symbol, applies each fill and calls fn (may be NULL)
 * with each result, kept in *scratch (statuses included: a fill given twice
 * reports BOOK_DUPLICATE the second time). n == 0 does nothing: forget a
 * symbol with book_reset_symbol. Returns 0, or the first error of book_apply:
 * the symbol then holds the fills before the failing one.
 */
int book_rebuild(struct book *b, const char *account, const struct book_input *in, size_t n,
                 struct book_result *scratch, book_result_fn fn, void *ctx);

/* Exchange order of two fills of one symbol: < 0, 0 or > 0 (see above). */
int book_fill_cmp(const struct decode_exec *a, const struct decode_exec *b);

/* The position, or NULL when the book has none (never traded, or reset). */
const struct book_position *book_position_find(const struct book *b, const char *account,
                                               const char *bot, const char *category,
                                               const char *symbol, int position_idx);

/* Iterates over every position: start with *cursor = 0; NULL at the end. For
 * rewriting all Redis keys after a reconnect. */
const struct book_position *book_position_next(const struct book *b, int *cursor);

/* Bots holding a non-zero size in (account, category, symbol). */
int book_holders(const struct book *b, const char *account, const char *category,
                 const char *symbol);

/*
 * The close reason the exchange gives a fill: execType AdlTrade: adl, BustTrade:
 * liquidation, Delivery and Settle: settlement; else createType (if not "" or
 * UNKNOWN), else stopOrderType, through this table (both fields accept both
 * spellings, compared ignoring case and '_'):
 *   StopLoss PartialStopLoss CreateByStopLoss CreateByPartialStopLoss  stop_loss
 *   TakeProfit PartialTakeProfit TrailingProfit CreateByTakeProfit
 *     CreateByPartialTakeProfit CreateByTrailingProfit                   take_profit
 *   TrailingStop CreateByTrailingStop                                    trailing_stop
 *   CreateByLiq CreateByTakeOver_PassThrough BustTrade                   liquidation
 *   CreateByAdl_PassThrough AdlTrade                                     adl
 *   CreateByClosing (close button of web/app)                            manual_exit
 *   MmRateClose CreateByMmRateClose                                      risk_limit
 *   CreateBySettle CreateByAdminClosing (closed by the exchange)         settlement
 * Every other value (CreateByUser, CreateByStopOrder, Stop, tpslOrder,
 * OcoOrder, BidirectionalTpslOrder, bots' and block-trade types, UNKNOWN, "")
 * says nothing about why: "". Never NULL; arguments may be NULL (as "").
 */
const char *book_exchange_reason(const char *exec_type, const char *create_type,
                                 const char *stop_order_type);

/* Copies what the book uses of a decoded order. */
void book_order_from_decode(struct book_order *o, const struct decode_order *d);

/* "long", "short", "flat". */
const char *book_side_name(enum book_side s);

/* "applied", "duplicate", "late", or NULL. */
const char *book_status_name(int status);

#endif
