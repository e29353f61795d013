/*
 * test_book.c -- the position book (book.h): scripted scenarios whose expected
 * values are computed by hand in the comments (entry, scale-in, partial and
 * full exit, flip, short, funding, liquidation, ADL, exchange TP/SL with one
 * and several holders, inverse, spot dust, options, hedge mode, the seed's
 * three bots), every step of the attribution chain with foreign ids, the close
 * reason table, exchange order, duplicates and late fills, errors and full
 * tables; then properties over random fill sequences (xorshift, seed printed
 * on failure): sizes add up exactly, every arrival order (with the caller's
 * rebuild-on-late protocol) ends in the identical state, and replaying any
 * prefix changes nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "book.h"
#include "cfg.h"
#include "dec.h"
#include "orderid.h"
#include "t.h"

#define T0_MS 1678886400000LL /* the seed guide's 1678886400, in ms */

/*
 * Accounts: the seed's set-up (one account per bot), a single-bot account, an
 * account shared by three bots without default_bot, and one shared by two bots
 * whose default_bot is delta_001.
 */
static const char book_conf[] =
    "[account seed_ss]\napi_key = KEYseedss0123456789\napi_secret = SECRETseedss0123456789\n"
    "[account seed_lx]\napi_key = KEYseedlx0123456789\napi_secret = SECRETseedlx0123456789\n"
    "[account seed_mom]\napi_key = KEYseedmo0123456789\n"
    "api_secret = SECRETseedmo0123456789\n"
    "[account solo]\napi_key = KEYsolo0123456789\napi_secret = SECRETsolo0123456789\n"
    "[account multi]\napi_key = KEYmulti0123456789\napi_secret = SECRETmulti0123456789\n"
    "[account multi_d]\napi_key = KEYmultid0123456789\n"
    "api_secret = SECRETmultid0123456789\ndefault_bot = delta_001\n"
    "[bot shortseller_001]\naccount = seed_ss\nredis_db = 0\n"
    "[bot lxalgo_001]\naccount = seed_lx\nredis_db = 1\n"
    "[bot momentum_001]\naccount = seed_mom\nredis_db = 2\n"
    "[bot solo_001]\naccount = solo\n"
    "[bot alpha_001]\naccount = multi\n"
    "[bot beta_001]\naccount = multi\n"
    "[bot gamma_001]\naccount = multi\n"
    "[bot delta_001]\naccount = multi_d\n"
    "[bot eps_001]\naccount = multi_d\n"
    "[postgres]\nconninfo = host=127.0.0.1\n";

static struct cfg cfg;
static struct orderid_gen gen;
static struct book B, B2;
static struct book_result R, R2;

/* Spot minimum sizes: BTCUSDT 0.0001 (Bybit's is smaller; round for the
 * arithmetic), ETHUSDT 0.01; others 0. */
static struct book_min_size min_sizes[2];

static void setup_cfg(void)
{
	static int done;
	struct cfg_error e;

	if (done)
		return;
	if (cfg_parse(&cfg, book_conf, strlen(book_conf), "book.conf", &e) != 0) {
		printf("    cfg: line %d: %s\n", e.line, e.msg);
		abort();
	}
	orderid_gen_init(&gen, 42);
	strcpy(min_sizes[0].symbol, "BTCUSDT");
	dec_parse(&min_sizes[0].min, "0.0001", 6);
	strcpy(min_sizes[1].symbol, "ETHUSDT");
	dec_parse(&min_sizes[1].min, "0.01", 4);
	done = 1;
}

static void setup_book(struct book *b)
{
	struct book_opts o = {DEC_ZERO, min_sizes, 2};

	setup_cfg();
	T_REQUIRE(book_init(b, &cfg, &o) == 0);
}

/* ---- helpers: strings in, strings out ------------------------------------ */

static struct dec D(const char *s) {
	struct dec d = DEC_ZERO;

	if (dec_parse(&d, s, strlen(s)) != 0) {
		printf("    bad decimal in test: %s\n", s);
		abort();
	}
	return d;
}

static const char *
S(struct dec d)
{
	static char bufs[16][DEC_STR_MAX];
	static int i;

	i = (i + 1) % 16;
	dec_format(d, bufs[i], DEC_STR_MAX);
	return bufs[i];
}

/* A wire-form order link id for bot and reason (aliases applied). */
static const char *lid(const char *bot, const char *reason)
{
	static char bufs[8][ORDERID_MAX + 1];
	static int i;
	char err[ERR_MSG_MAX];

	i = (i + 1) % 8;
	if (orderid_new(&gen, &cfg, bot, reason, T0_MS + i, bufs[i], err, sizeof err) < 0) {
		printf("    orderid_new: %s\n", err);
		abort();
	}
	return bufs[i];
}

/* One execution, from strings. Unset strings are "" (fee: absent). */
struct fx {
	const char *id, *cat, *sym, *type, *side, *qty, *price, *fee, *ccy, *link, *create, *stop;
	int64_t t, seq;
	int no_seq;
};

static void copy(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

static struct decode_exec ex(struct fx s)
{
	struct decode_exec x;

	memset(&x, 0, sizeof x);
	copy(x.exec_id, sizeof x.exec_id, s.id);
	copy(x.category, sizeof x.category, s.cat ? s.cat : "linear");
	copy(x.symbol, sizeof x.symbol, s.sym ? s.sym : "BTCUSDT");
	copy(x.exec_type, sizeof x.exec_type, s.type ? s.type : "Trade");
	copy(x.side, sizeof x.side, s.side);
	copy(x.fee_currency, sizeof x.fee_currency, s.ccy);
	copy(x.order_link_id, sizeof x.order_link_id, s.link);
	copy(x.create_type, sizeof x.create_type, s.create);
	copy(x.stop_order_type, sizeof x.stop_order_type, s.stop);
	x.exec_qty.v = D(s.qty ? s.qty : "0");
	x.exec_qty.present = 1;
	x.exec_price.v = D(s.price ? s.price : "0");
	x.exec_price.present = 1;
	if (s.fee) {
		x.exec_fee.v = D(s.fee);
		x.exec_fee.present = 1;
	}
	x.exec_time_ms = s.t;
	x.seq.present = !s.no_seq;
	x.seq.v = s.seq;
	x.is_maker = DECODE_BOOL_ABSENT;
	return x;
}
#define EX(...) ex((struct fx){__VA_ARGS__})

/* Applies to B with result R. */
static int ap(const char *account, struct decode_exec x, const struct book_order *o)
{
	return book_apply(&B, account, &x, o, &R);
}

static const struct book_position *pos_at(const char *account, const char *bot, const char *cat,
                                          const char *sym, int idx)
{
	return book_position_find(&B, account, bot, cat, sym, idx);
}

/* p, or (a failed check and) an empty position, so that a missing position
 * fails its test instead of crashing the runner. */
static const struct book_position *must(const struct book_position *p, int line)
{
	static struct book_position missing;

	if (!T_CHECK(p != NULL))
		printf("      (no such position, line %d)\n", line);
	return p ? p : &missing;
}
#define MUST(p) must((p), __LINE__)

static const struct book_position *pos(const char *account, const char *bot, const char *sym)
{
	return pos_at(account, bot, "linear", sym, 0);
}

/* Checks a position's size, average price, realized PnL, fees, funding and
 * trade_seq; line says where it was called from. */
static void check_pos(int line, const struct book_position *p, const char *size, const char *avg,
                      const char *realized, const char *fees, const char *funding, int64_t seq)
{
	int ok = 1;

	if (!T_CHECK(p != NULL)) {
		printf("      (position checked at line %d)\n", line);
		return;
	}
	ok &= T_EQ_STR(S(p->size), size);
	ok &= T_EQ_STR(S(p->avg_price), avg);
	ok &= T_EQ_STR(S(p->realized_pnl), realized);
	ok &= T_EQ_STR(S(p->fees), fees);
	ok &= T_EQ_STR(S(p->funding), funding);
	ok &= T_EQ_INT(p->trade_seq, seq);
	if (!ok)
		printf("      (position checked at line %d)\n", line);
}
#define CHECK_POS(p, size, avg, realized, fees, funding, seq)                                      \
	check_pos(__LINE__, (p), (size), (avg), (realized), (fees), (funding), (seq))

/* Checks one trades_pnl row. */
struct trip_want {
	const char *bot;
	int64_t seq;
	enum book_side side;
	const char *entry, *close;
	int64_t opened, closed;
	const char *qty, *gross, *fees, *funding, *net, *ccy;
};

static void check_trip(int line, const struct book_trip *t, struct trip_want w)
{
	int ok = 1;

	ok &= T_EQ_STR(t->bot, w.bot);
	ok &= T_EQ_INT(t->trade_seq, w.seq);
	ok &= T_EQ_INT(t->side, w.side);
	ok &= T_EQ_STR(t->entry_reason, w.entry);
	ok &= T_EQ_STR(t->close_reason, w.close);
	ok &= T_EQ_INT(t->opened_at_ms, w.opened);
	ok &= T_EQ_INT(t->closed_at_ms, w.closed);
	ok &= T_EQ_STR(S(t->qty), w.qty);
	ok &= T_EQ_STR(S(t->gross_pnl), w.gross);
	ok &= T_EQ_STR(S(t->fees), w.fees);
	ok &= T_EQ_STR(S(t->funding), w.funding);
	ok &= T_EQ_STR(S(t->net_pnl), w.net);
	ok &= T_EQ_STR(t->currency, w.ccy);
	if (!ok)
		printf("      (trip checked at line %d)\n", line);
}
#define CHECK_TRIP(t, ...) check_trip(__LINE__, (t), (struct trip_want){__VA_ARGS__})

static const struct book_alloc *alloc_of(const char *bot)
{
	for (int i = 0; i < R.allocs_n; i++)
		if (strcmp(R.allocs[i].bot, bot) == 0)
			return &R.allocs[i];
	return NULL;
}

static const struct book_trip *trip_of(const char *bot)
{
	for (int i = 0; i < R.trips_n; i++)
		if (strcmp(R.trips[i].bot, bot) == 0)
			return &R.trips[i];
	return NULL;
}

/* ---- linear round trips ---------------------------------------------------- */

/*
 * momentum_001 on its own account, BTCUSDT linear (prices kept small):
 *   1 Buy 1 @ 100, fee 0.06 (entry)        size 1, basis 100, avg 100
 *   2 Buy 2 @ 103, fee 0.12 (scale_in)     size 3, basis 100 + 206 = 306, avg 102
 *   3 Sell 1 @ 110, fee 0.066 (time_exit)  releases 306 * 1/3 = 102;
 *                                          gross 110 - 102 = 8; size 2, basis 204
 *   4 Sell 2 @ 99, fee 0.1188 (ma_exit)    releases 204; gross 198 - 204 = -6; flat
 * Trip 1: long, entry -> ma_exit, qty 3, gross 8 - 6 = 2,
 *   fees 0.06 + 0.12 + 0.066 + 0.1188 = 0.3648, net 2 - 0.3648 = 1.6352 USDT.
 *   5 Buy 1 @ 100 opens trip 2.
 */
TEST(book_linear_entry_scale_in_partial_and_full_exit)
{
	const char *a = "seed_mom", *bot = "momentum_001";

	setup_book(&B);
	T_EQ_INT(ap(a,
	            EX(.id = "e1", .side = "Buy", .qty = "1", .price = "100", .fee = "0.06",
	               .ccy = "USDT", .link = lid(bot, "entry"), .t = 1000),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_STR(R.bot, bot);
	T_EQ_INT(R.via, BOOK_VIA_LINK);
	T_EQ_STR(R.reason, "entry");
	T_EQ_STR(R.close_reason, "");
	T_EQ_STR(S(R.realized_pnl), "0");
	T_EQ_INT(R.trade_seq, 1);
	T_EQ_INT(R.allocs_n, 1);
	T_EQ_STR(S(R.allocs[0].qty), "1");
	T_EQ_STR(S(R.allocs[0].fee), "0.06");
	T_EQ_INT(R.trips_n, 0);
	T_EQ_INT(R.positions_n, 1);
	T_EQ_STR(S(R.positions[0].size), "1");
	T_EQ_STR(R.positions[0].open.entry_reason, "entry");
	T_EQ_INT(R.positions[0].open.side, BOOK_LONG);
	T_EQ_STR(R.positions[0].currency, "USDT");
	T_EQ_STR(R.positions[0].last_exec_id, "e1");
	T_EQ_INT(R.flags, 0);
	CHECK_POS(pos(a, bot, "BTCUSDT"), "1", "100", "0", "0.06", "0", 1);

	ap(a,
	   EX(.id = "e2", .side = "Buy", .qty = "2", .price = "103", .fee = "0.12", .ccy = "USDT",
	      .link = lid(bot, "scale_in"), .t = 2000),
	   NULL);
	T_EQ_STR(R.reason, "scale_in");
	T_EQ_STR(R.close_reason, "");
	CHECK_POS(pos(a, bot, "BTCUSDT"), "3", "102", "0", "0.18", "0", 1);
	T_EQ_STR(S(MUST(pos(a, bot, "BTCUSDT"))->basis), "306");

	ap(a,
	   EX(.id = "e3", .side = "Sell", .qty = "1", .price = "110", .fee = "0.066", .ccy = "USDT",
	      .link = lid(bot, "time_exit"), .t = 3000),
	   NULL);
	T_EQ_STR(R.close_reason, "time_exit");
	T_EQ_STR(S(R.realized_pnl), "8");
	T_EQ_INT(R.trade_seq, 1);
	T_EQ_INT(R.trips_n, 0);
	CHECK_POS(pos(a, bot, "BTCUSDT"), "2", "102", "8", "0.246", "0", 1);
	T_EQ_STR(S(MUST(pos(a, bot, "BTCUSDT"))->open.gross_pnl), "8");

	ap(a,
	   EX(.id = "e4", .side = "Sell", .qty = "2", .price = "99", .fee = "0.1188", .ccy = "USDT",
	      .link = lid(bot, "ma_exit"), .t = 4000),
	   NULL);
	T_EQ_STR(R.close_reason, "ma_exit");
	T_EQ_STR(S(R.realized_pnl), "-6");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_LONG, .entry = "entry",
	           .close = "ma_exit", .opened = 1000, .closed = 4000, .qty = "3", .gross = "2",
	           .fees = "0.3648", .funding = "0", .net = "1.6352", .ccy = "USDT");
	T_EQ_STR(R.trips[0].account, a);
	T_EQ_STR(R.trips[0].symbol, "BTCUSDT");
	CHECK_POS(pos(a, bot, "BTCUSDT"), "0", "0", "2", "0.3648", "0", 1);
	T_EQ_INT(MUST(pos(a, bot, "BTCUSDT"))->open.seq, 0);
	T_EQ_STR(S(MUST(pos(a, bot, "BTCUSDT"))->basis), "0");

	ap(a,
	   EX(.id = "e5", .side = "Buy", .qty = "1", .price = "100", .link = lid(bot, "entry"),
	      .t = 5000),
	   NULL);
	T_EQ_INT(R.trade_seq, 2);
	T_EQ_INT(MUST(pos(a, bot, "BTCUSDT"))->open.seq, 2);
}

/*
 * A flip, solo_001 on BTCUSDT:
 *   1 Buy 1 @ 100, fee 0.1 (entry)
 *   2 Sell 3 @ 110, fee 0.3 (ema_cross): closes 1 (gross 110 - 100 = 10) and
 *     opens a short of 2 @ 110. The fee is shared by quantity: 0.3 * 1/3 = 0.1
 *     to the closed trip, 0.2 to the new one.
 *     Trip 1: long, entry -> ema_cross, qty 1, gross 10, fees 0.1 + 0.1 = 0.2, net 9.8.
 *   3 Buy 2 @ 100, fee 0.04 (take_profit): short releases 220, pays 200: gross 20.
 *     Trip 2: short, ema_cross -> take_profit, qty 2, fees 0.2 + 0.04 = 0.24, net 19.76.
 */
TEST(book_flip_closes_one_trip_and_opens_the_next)
{
	const char *a = "solo", *bot = "solo_001";

	setup_book(&B);
	ap(a,
	   EX(.id = "f1", .side = "Buy", .qty = "1", .price = "100", .fee = "0.1",
	      .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	T_EQ_INT(ap(a,
	            EX(.id = "f2", .side = "Sell", .qty = "3", .price = "110", .fee = "0.3",
	               .link = lid(bot, "ema_cross"), .t = 2000),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_STR(R.close_reason, "ema_cross");
	T_EQ_STR(S(R.realized_pnl), "10");
	T_EQ_INT(R.trade_seq, 1); /* the trip it closed */
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_LONG, .entry = "entry",
	           .close = "ema_cross", .opened = 1000, .closed = 2000, .qty = "1", .gross = "10",
	           .fees = "0.2", .funding = "0", .net = "9.8", .ccy = "USDT");
	CHECK_POS(&R.positions[0], "-2", "110", "10", "0.4", "0", 2); /* fees: 0.1 + 0.3 */
	T_EQ_INT(R.positions[0].open.side, BOOK_SHORT);
	T_EQ_STR(R.positions[0].open.entry_reason, "ema_cross");
	T_EQ_STR(S(R.positions[0].open.fees), "0.2");
	T_EQ_STR(S(R.positions[0].open.qty), "2");
	T_EQ_INT(R.positions[0].open.opened_at_ms, 2000);

	ap(a,
	   EX(.id = "f3", .side = "Buy", .qty = "2", .price = "100", .fee = "0.04",
	      .link = lid(bot, "take_profit"), .t = 3000),
	   NULL);
	T_EQ_STR(S(R.realized_pnl), "20");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 2, .side = BOOK_SHORT, .entry = "ema_cross",
	           .close = "take_profit", .opened = 2000, .closed = 3000, .qty = "2",
	           .gross = "20", .fees = "0.24", .funding = "0", .net = "19.76", .ccy = "USDT");
	CHECK_POS(pos(a, bot, "BTCUSDT"), "0", "0", "30", "0.44", "0", 2);
}

/*
 * A short round trip, solo_001 on ETHUSDT:
 *   Sell 2 @ 50, fee 0.05 (entry)          basis 100, avg 50
 *   Buy 1 @ 45, fee 0.0225 (take_profit)   releases 50, pays 45: gross +5
 *   Buy 1 @ 52, fee 0.026 (stop_loss)      releases 50, pays 52: gross -2
 * Trip: short, entry -> stop_loss (the fill that made it flat), qty 2,
 *   gross 3, fees 0.0985, net 2.9015.
 */
TEST(book_short_round_trip)
{
	const char *a = "solo", *bot = "solo_001";

	setup_book(&B);
	ap(a,
	   EX(.id = "s1", .sym = "ETHUSDT", .side = "Sell", .qty = "2", .price = "50",
	      .fee = "0.05", .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	CHECK_POS(pos(a, bot, "ETHUSDT"), "-2", "50", "0", "0.05", "0", 1);
	ap(a,
	   EX(.id = "s2", .sym = "ETHUSDT", .side = "Buy", .qty = "1", .price = "45",
	      .fee = "0.0225", .link = lid(bot, "take_profit"), .t = 2000),
	   NULL);
	T_EQ_STR(S(R.realized_pnl), "5");
	T_EQ_STR(R.close_reason, "take_profit");
	ap(a,
	   EX(.id = "s3", .sym = "ETHUSDT", .side = "Buy", .qty = "1", .price = "52",
	      .fee = "0.026", .link = lid(bot, "stop_loss"), .t = 3000),
	   NULL);
	T_EQ_STR(S(R.realized_pnl), "-2");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_SHORT, .entry = "entry",
	           .close = "stop_loss", .opened = 1000, .closed = 3000, .qty = "2", .gross = "3",
	           .fees = "0.0985", .funding = "0", .net = "2.9015", .ccy = "USDT");
}

/* ---- funding --------------------------------------------------------------- */

/*
 * Funding on one holder: solo_001 long 2 @ 100 (no fees).
 *   Funding execQty 2, execFee 0.02 (paid): funding 0.02, no size change.
 *   Funding execFee -0.005 (received): funding 0.015.
 *   Sell 2 @ 101 (ma_exit): gross 2. Trip: fees 0, funding 0.015,
 *   net = 2 - 0 - 0.015 = 1.985.
 */
TEST(book_funding_one_holder)
{
	const char *a = "solo", *bot = "solo_001";

	setup_book(&B);
	ap(a,
	   EX(.id = "g1", .side = "Buy", .qty = "2", .price = "100", .link = lid(bot, "entry"),
	      .t = 1000),
	   NULL);
	T_EQ_INT(ap(a,
	            EX(.id = "g2", .type = "Funding", .side = "Buy", .qty = "2", .price = "100.5",
	               .fee = "0.02", .t = 2000),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_STR(R.bot, bot);
	T_EQ_INT(R.via, BOOK_VIA_HOLDER);
	T_EQ_STR(R.close_reason, "");
	T_EQ_STR(R.reason, "");
	T_EQ_STR(S(R.realized_pnl), "0");
	T_EQ_INT(R.trade_seq, 1);
	T_REQUIRE(R.allocs_n == 1);
	T_EQ_STR(S(R.allocs[0].qty), "2");
	T_EQ_STR(S(R.allocs[0].fee), "0.02");
	T_EQ_INT(R.flags & BOOK_FLAG_NETTED, 0);
	CHECK_POS(pos(a, bot, "BTCUSDT"), "2", "100", "0", "0", "0.02", 1);
	T_EQ_STR(S(MUST(pos(a, bot, "BTCUSDT"))->open.funding), "0.02");

	ap(a,
	   EX(.id = "g3", .type = "Funding", .side = "Buy", .qty = "2", .price = "99",
	      .fee = "-0.005", .t = 3000),
	   NULL);
	CHECK_POS(pos(a, bot, "BTCUSDT"), "2", "100", "0", "0", "0.015", 1);

	ap(a,
	   EX(.id = "g4", .side = "Sell", .qty = "2", .price = "101", .link = lid(bot, "ma_exit"),
	      .t = 4000),
	   NULL);
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_LONG, .entry = "entry",
	           .close = "ma_exit", .opened = 1000, .closed = 4000, .qty = "2", .gross = "2",
	           .fees = "0", .funding = "0.015", .net = "1.985", .ccy = "USDT");
}

/*
 * Funding shared by holders of account multi, pro rata by signed size:
 *   alpha long 1, beta long 2 (net 3). Funding execQty 3, execFee 0.1000001:
 *     alpha's exact share 0.1000001 / 3 = 0.03333336666666666666..., beta's twice
 *     that. At 18 places, floors 0.033333366666666666 (remainder 2/3 of a unit)
 *     and 0.066666733333333333 (remainder 1/3): one unit is left over and goes
 *     to the larger remainder, alpha: 0.033333366666666667 + 0.066666733333333333
 *     = 0.1000001 exactly. bot "shared", allocations qty 1 and 2.
 *   gamma then goes short 1 (net 2). Funding execQty 2, fee 0.01:
 *     alpha 0.01 * 1/2 = 0.005, beta 0.01 * 2/2 = 0.01, gamma 0.01 * -1/2 = -0.005
 *     (a short receives what a long pays); qty parts 1, 2, -1.
 */
TEST(book_funding_split_pro_rata_between_holders)
{
	const char *a = "multi";

	setup_book(&B);
	ap(a,
	   EX(.id = "h1", .side = "Buy", .qty = "1", .price = "100",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	T_EQ_INT(R.flags & BOOK_FLAG_SHARED_SYMBOL, 0);
	ap(a,
	   EX(.id = "h2", .side = "Buy", .qty = "2", .price = "100",
	      .link = lid("beta_001", "entry"), .t = 2000),
	   NULL);
	T_CHECK(R.flags & BOOK_FLAG_SHARED_SYMBOL); /* two bots on one symbol: warn */
	T_EQ_INT(R.holders, 2);
	T_EQ_INT(ap(a,
	            EX(.id = "h3", .type = "Funding", .side = "Buy", .qty = "3", .price = "100",
	               .fee = "0.1000001", .t = 3000),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_STR(R.bot, "shared");
	T_EQ_INT(R.via, BOOK_VIA_SPLIT);
	T_CHECK(R.flags & BOOK_FLAG_NETTED);
	T_REQUIRE(R.allocs_n == 2 && alloc_of("alpha_001") && alloc_of("beta_001"));
	T_EQ_STR(S(alloc_of("alpha_001")->fee), "0.033333366666666667");
	T_EQ_STR(S(alloc_of("beta_001")->fee), "0.066666733333333333");
	T_EQ_STR(S(alloc_of("alpha_001")->qty), "1");
	T_EQ_STR(S(alloc_of("beta_001")->qty), "2");
	T_EQ_INT(R.trade_seq, 0);
	T_EQ_INT(alloc_of("beta_001")->trade_seq, 1);
	T_EQ_STR(S(MUST(pos(a, "alpha_001", "BTCUSDT"))->funding), "0.033333366666666667");
	T_EQ_STR(S(MUST(pos(a, "beta_001", "BTCUSDT"))->open.funding), "0.066666733333333333");
	T_EQ_STR(S(MUST(pos(a, "beta_001", "BTCUSDT"))->size), "2");

	ap(a,
	   EX(.id = "h4", .side = "Sell", .qty = "1", .price = "100",
	      .link = lid("gamma_001", "entry"), .t = 4000),
	   NULL);
	ap(a,
	   EX(.id = "h5", .type = "Funding", .side = "Buy", .qty = "2", .price = "100",
	      .fee = "0.01", .t = 5000),
	   NULL);
	T_REQUIRE(R.allocs_n == 3 && alloc_of("gamma_001"));
	T_EQ_STR(S(alloc_of("alpha_001")->fee), "0.005");
	T_EQ_STR(S(alloc_of("beta_001")->fee), "0.01");
	T_EQ_STR(S(alloc_of("gamma_001")->fee), "-0.005");
	T_EQ_STR(S(alloc_of("gamma_001")->qty), "-1");
	T_EQ_STR(S(MUST(pos(a, "gamma_001", "BTCUSDT"))->funding), "-0.005");
	T_EQ_STR(S(MUST(pos(a, "gamma_001", "BTCUSDT"))->size), "-1"); /* funding moves no size */
	T_EQ_INT(B.stats.netted, 2);
}

/* Funding with nobody holding the symbol: the default_bot, else unattributed. */
TEST(book_funding_without_holder_goes_down_the_chain)
{
	setup_book(&B);
	ap("multi_d",
	   EX(.id = "n1", .type = "Funding", .side = "Sell", .qty = "1", .price = "100",
	      .fee = "0.5", .t = 1000),
	   NULL);
	T_EQ_STR(R.bot, "delta_001");
	T_EQ_INT(R.via, BOOK_VIA_DEFAULT);
	T_EQ_STR(S(MUST(pos("multi_d", "delta_001", "BTCUSDT"))->funding), "0.5");
	T_EQ_STR(S(MUST(pos("multi_d", "delta_001", "BTCUSDT"))->size), "0");
	ap("multi",
	   EX(.id = "n2", .type = "Funding", .side = "Sell", .qty = "1", .price = "100",
	      .fee = "0.5", .t = 1000),
	   NULL);
	T_EQ_STR(R.bot, "unattributed");
	T_EQ_INT(R.via, BOOK_VIA_UNATTRIBUTED);
}

/* ---- forced and exchange closes --------------------------------------------- */

/*
 * Liquidation of a single holder (execType BustTrade, empty orderLinkId): the
 * only holder takes it, close reason liquidation.
 *   Buy 1 @ 100 fee 0.055 (entry); BustTrade Sell 1 @ 80 fee 0.044:
 *   gross 80 - 100 = -20, fees 0.099, net -20.099.
 */
TEST(book_liquidation_one_holder)
{
	const char *a = "solo", *bot = "solo_001";

	setup_book(&B);
	ap(a,
	   EX(.id = "l1", .side = "Buy", .qty = "1", .price = "100", .fee = "0.055",
	      .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "l2", .type = "BustTrade", .side = "Sell", .qty = "1", .price = "80",
	      .fee = "0.044", .create = "CreateByTakeOver_PassThrough", .t = 2000),
	   NULL);
	T_EQ_STR(R.bot, bot);
	T_EQ_INT(R.via, BOOK_VIA_HOLDER);
	T_EQ_STR(R.reason, "");
	T_EQ_STR(R.close_reason, "liquidation");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_LONG, .entry = "entry",
	           .close = "liquidation", .opened = 1000, .closed = 2000, .qty = "1",
	           .gross = "-20", .fees = "0.099", .funding = "0", .net = "-20.099",
	           .ccy = "USDT");
}

/*
 * Liquidation of a net held by two bots of account multi: alpha long 1 and
 * beta long 3, both @ 100. BustTrade Sell 4 @ 90, fee 0.2: split 1/4 and 3/4,
 *   alpha: qty 1, fee 0.05, gross -10, net -10.05
 *   beta:  qty 3, fee 0.15, gross -30, net -30.15
 * Both flat: no bot keeps a size the exchange no longer has.
 */
TEST(book_liquidation_netted_between_two_holders)
{
	const char *a = "multi";

	setup_book(&B);
	ap(a,
	   EX(.id = "m1", .side = "Buy", .qty = "1", .price = "100",
	      .link = lid("alpha_001", "rule_1"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "m2", .side = "Buy", .qty = "3", .price = "100",
	      .link = lid("beta_001", "entry"), .t = 2000),
	   NULL);
	ap(a,
	   EX(.id = "m3", .type = "BustTrade", .side = "Sell", .qty = "4", .price = "90",
	      .fee = "0.2", .t = 3000),
	   NULL);
	T_EQ_STR(R.bot, "shared");
	T_EQ_INT(R.via, BOOK_VIA_SPLIT);
	T_CHECK(R.flags & BOOK_FLAG_NETTED);
	T_EQ_INT(R.flags & BOOK_FLAG_SHARED_SYMBOL, 0); /* after it, nobody holds */
	T_EQ_STR(R.close_reason, "liquidation");
	T_EQ_STR(S(R.realized_pnl), "-40");
	T_REQUIRE(R.allocs_n == 2 && R.trips_n == 2 && trip_of("alpha_001") && trip_of("beta_001"));
	T_EQ_STR(S(alloc_of("alpha_001")->qty), "1");
	T_EQ_STR(S(alloc_of("alpha_001")->fee), "0.05");
	T_EQ_STR(S(alloc_of("beta_001")->qty), "3");
	T_EQ_STR(S(alloc_of("beta_001")->fee), "0.15");
	CHECK_TRIP(trip_of("alpha_001"), .bot = "alpha_001", .seq = 1, .side = BOOK_LONG,
	           .entry = "rule_1", .close = "liquidation", .opened = 1000, .closed = 3000,
	           .qty = "1", .gross = "-10", .fees = "0.05", .funding = "0", .net = "-10.05",
	           .ccy = "USDT");
	CHECK_TRIP(trip_of("beta_001"), .bot = "beta_001", .seq = 1, .side = BOOK_LONG,
	           .entry = "entry", .close = "liquidation", .opened = 2000, .closed = 3000,
	           .qty = "3", .gross = "-30", .fees = "0.15", .funding = "0", .net = "-30.15",
	           .ccy = "USDT");
	T_EQ_STR(S(MUST(pos(a, "alpha_001", "BTCUSDT"))->size), "0");
	T_EQ_STR(S(MUST(pos(a, "beta_001", "BTCUSDT"))->size), "0");
	T_EQ_INT(book_holders(&B, a, "linear", "BTCUSDT"), 0);
}

/*
 * An exchange stop-loss (createType CreateByStopLoss, stopOrderType StopLoss,
 * empty orderLinkId) on two holders: alpha long 0.3 and beta long 0.1 @ 100.
 *   Sell 0.4 @ 95, fee 0.0209: alpha 0.3 (fee 0.0209 * 3/4 = 0.015675),
 *   beta 0.1 (fee 0.005225). alpha gross 0.3 * -5 = -1.5, net -1.515675;
 *   beta gross -0.5, net -0.505225. Both flat.
 */
TEST(book_exchange_stop_loss_netted_between_two_holders)
{
	const char *a = "multi";

	setup_book(&B);
	ap(a,
	   EX(.id = "p1", .side = "Buy", .qty = "0.3", .price = "100",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "p2", .side = "Buy", .qty = "0.1", .price = "100",
	      .link = lid("beta_001", "entry"), .t = 1001),
	   NULL);
	ap(a,
	   EX(.id = "p3", .side = "Sell", .qty = "0.4", .price = "95", .fee = "0.0209",
	      .create = "CreateByStopLoss", .stop = "StopLoss", .t = 2000),
	   NULL);
	T_EQ_STR(R.bot, "shared");
	T_EQ_STR(R.close_reason, "stop_loss");
	T_REQUIRE(R.trips_n == 2 && trip_of("alpha_001") && trip_of("beta_001"));
	CHECK_TRIP(trip_of("alpha_001"), .bot = "alpha_001", .seq = 1, .side = BOOK_LONG,
	           .entry = "entry", .close = "stop_loss", .opened = 1000, .closed = 2000,
	           .qty = "0.3", .gross = "-1.5", .fees = "0.015675", .funding = "0",
	           .net = "-1.515675", .ccy = "USDT");
	CHECK_TRIP(trip_of("beta_001"), .bot = "beta_001", .seq = 1, .side = BOOK_LONG,
	           .entry = "entry", .close = "stop_loss", .opened = 1001, .closed = 2000,
	           .qty = "0.1", .gross = "-0.5", .fees = "0.005225", .funding = "0",
	           .net = "-0.505225", .ccy = "USDT");
	T_EQ_STR(S(MUST(pos(a, "alpha_001", "BTCUSDT"))->size), "0");
	T_EQ_STR(S(MUST(pos(a, "beta_001", "BTCUSDT"))->size), "0");
}

/*
 * A partial exchange take-profit on two holders scales both by the same
 * factor: alpha 0.3 and beta 0.1 @ 100; TakeProfit Sell 0.2 @ 105, fee 0.01
 * (half the net): alpha sells 0.15 (fee 0.0075, gross 0.75), beta 0.05
 * (fee 0.0025, gross 0.25); left 0.15 and 0.05, trips still open.
 */
TEST(book_exchange_take_profit_partial_pro_rata)
{
	const char *a = "multi";

	setup_book(&B);
	ap(a,
	   EX(.id = "q1", .side = "Buy", .qty = "0.3", .price = "100",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "q2", .side = "Buy", .qty = "0.1", .price = "100",
	      .link = lid("beta_001", "entry"), .t = 1001),
	   NULL);
	ap(a,
	   EX(.id = "q3", .side = "Sell", .qty = "0.2", .price = "105", .fee = "0.01",
	      .create = "CreateByTakeProfit", .stop = "TakeProfit", .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "take_profit");
	T_EQ_INT(R.trips_n, 0);
	T_REQUIRE(R.allocs_n == 2);
	T_EQ_STR(S(alloc_of("alpha_001")->qty), "0.15");
	T_EQ_STR(S(alloc_of("alpha_001")->fee), "0.0075");
	T_EQ_STR(S(alloc_of("alpha_001")->realized_pnl), "0.75");
	T_EQ_STR(S(alloc_of("beta_001")->qty), "0.05");
	T_EQ_STR(S(alloc_of("beta_001")->realized_pnl), "0.25");
	T_EQ_STR(S(R.realized_pnl), "1");
	CHECK_POS(pos(a, "alpha_001", "BTCUSDT"), "0.15", "100", "0.75", "0.0075", "0", 1);
	CHECK_POS(pos(a, "beta_001", "BTCUSDT"), "0.05", "100", "0.25", "0.0025", "0", 1);
}

/*
 * Rounding of a split: alpha, beta, gamma long 1 each (net 3); a stop-loss
 * sells 1. Each exact share is 1/3 = 0.333...: floors 0.333333333333333333
 * with equal remainders, one unit (1e-18) left over, which goes to the first
 * bot in id order, alpha. Parts 0.333333333333333334 + 2 * 0.333333333333333333
 * = 1 exactly; sizes left 0.666666666666666666, 0.666666666666666667 twice,
 * summing to 2, the exchange's net.
 */
TEST(book_split_rounding_is_exact_and_deterministic)
{
	const char *a = "multi";
	struct dec sum = DEC_ZERO;

	setup_book(&B);
	ap(a,
	   EX(.id = "r3", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("gamma_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "r1", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("alpha_001", "entry"), .t = 1001),
	   NULL);
	ap(a,
	   EX(.id = "r2", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("beta_001", "entry"), .t = 1002),
	   NULL);
	ap(a,
	   EX(.id = "r4", .side = "Sell", .qty = "1", .price = "9", .stop = "StopLoss", .t = 2000),
	   NULL);
	T_REQUIRE(R.allocs_n == 3);
	T_EQ_STR(S(alloc_of("alpha_001")->qty), "0.333333333333333334");
	T_EQ_STR(S(alloc_of("beta_001")->qty), "0.333333333333333333");
	T_EQ_STR(S(alloc_of("gamma_001")->qty), "0.333333333333333333");
	T_EQ_STR(S(MUST(pos(a, "alpha_001", "BTCUSDT"))->size), "0.666666666666666666");
	T_EQ_STR(S(MUST(pos(a, "gamma_001", "BTCUSDT"))->size), "0.666666666666666667");
	for (int i = 0; i < R.allocs_n; i++)
		dec_add(&sum, sum, R.allocs[i].qty);
	T_EQ_STR(S(sum), "1");
	/* realized: 0.333333333333333334 * (9 - 10) and so on: sums to -1 exactly */
	T_EQ_STR(S(R.realized_pnl), "-1");
}

/*
 * Holders on both sides: alpha long 2, beta short 1 (net long 1), all @ 100.
 * Liquidation Sell 1 @ 90 closes the net: alpha sells 2 (gross -20), beta buys
 * 1 (gross +10); -10 in all, what the exchange's net long 1 lost.
 */
TEST(book_netted_close_with_holders_on_both_sides)
{
	const char *a = "multi";

	setup_book(&B);
	ap(a,
	   EX(.id = "w1", .side = "Buy", .qty = "2", .price = "100",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "w2", .side = "Sell", .qty = "1", .price = "100",
	      .link = lid("beta_001", "entry"), .t = 1001),
	   NULL);
	ap(a,
	   EX(.id = "w3", .type = "BustTrade", .side = "Sell", .qty = "1", .price = "90",
	      .t = 2000),
	   NULL);
	T_REQUIRE(R.allocs_n == 2);
	T_EQ_STR(S(alloc_of("alpha_001")->qty), "2");
	T_EQ_STR(S(alloc_of("beta_001")->qty), "-1"); /* against the fill's direction */
	T_EQ_STR(S(alloc_of("alpha_001")->realized_pnl), "-20");
	T_EQ_STR(S(alloc_of("beta_001")->realized_pnl), "10");
	T_EQ_STR(S(R.realized_pnl), "-10");
	T_EQ_INT(R.trips_n, 2);
	T_EQ_INT(book_holders(&B, a, "linear", "BTCUSDT"), 0);
}

/*
 * ADL larger than the net (multi_d, default_bot delta_001): delta and eps long
 * 1 each; AdlTrade Sell 3 @ 100. Both are closed (2), the excess 1 goes to the
 * default bot, which ends short 1: delta's part is 1 + 1 = 2, a flip.
 */
TEST(book_adl_larger_than_the_net_gives_the_excess_to_the_default_bot)
{
	const char *a = "multi_d";

	setup_book(&B);
	ap(a,
	   EX(.id = "x1", .side = "Buy", .qty = "1", .price = "100",
	      .link = lid("delta_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "x2", .side = "Buy", .qty = "1", .price = "100",
	      .link = lid("eps_001", "entry"), .t = 1001),
	   NULL);
	ap(a,
	   EX(.id = "x3", .type = "AdlTrade", .side = "Sell", .qty = "3", .price = "100",
	      .fee = "0.3", .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "adl");
	T_CHECK(R.flags & BOOK_FLAG_EXCESS);
	T_CHECK(R.flags & BOOK_FLAG_NETTED);
	T_REQUIRE(R.allocs_n == 2);
	T_EQ_STR(S(alloc_of("delta_001")->qty), "2");
	T_EQ_STR(S(alloc_of("eps_001")->qty), "1");
	/* fee: 0.3 * 2/3 = 0.2 for the close, split 0.1 + 0.1; 0.1 for the excess */
	T_EQ_STR(S(alloc_of("delta_001")->fee), "0.2");
	T_EQ_STR(S(alloc_of("eps_001")->fee), "0.1");
	T_EQ_STR(S(MUST(pos(a, "delta_001", "BTCUSDT"))->size), "-1");
	T_EQ_STR(S(MUST(pos(a, "eps_001", "BTCUSDT"))->size), "0");
	T_EQ_STR(MUST(pos(a, "delta_001", "BTCUSDT"))->open.entry_reason, "adl");
}

/* Delivery and Settle close with reason settlement; AdlTrade with adl. */
TEST(book_delivery_settle_adl_reasons)
{
	const char *a = "solo";

	setup_book(&B);
	ap(a,
	   EX(.id = "d1", .sym = "BTC-27DEC24", .side = "Buy", .qty = "1", .price = "100",
	      .link = lid("solo_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "d2", .sym = "BTC-27DEC24", .type = "Delivery", .side = "Sell", .qty = "1",
	      .price = "101", .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "settlement");
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(R.trips[0].close_reason, "settlement");
	T_EQ_STR(R.trips[0].currency, "USDC"); /* USDC futures, no feeCurrency sent */
	ap(a,
	   EX(.id = "d3", .cat = "inverse", .sym = "BTCUSDH25", .side = "Sell", .qty = "100",
	      .price = "50000", .link = lid("solo_001", "entry"), .t = 1000),
	   NULL);
	ap(a,
	   EX(.id = "d4", .cat = "inverse", .sym = "BTCUSDH25", .type = "Settle", .side = "Buy",
	      .qty = "100", .price = "50000", .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "settlement");
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(R.trips[0].currency, "BTC");
	ap(a,
	   EX(.id = "d5", .side = "Sell", .qty = "1", .price = "100",
	      .link = lid("solo_001", "entry"), .t = 3000),
	   NULL);
	ap(a,
	   EX(.id = "d6", .type = "AdlTrade", .side = "Buy", .qty = "1", .price = "100", .t = 4000),
	   NULL);
	T_EQ_STR(R.close_reason, "adl");
}

/* ---- inverse, spot, option -------------------------------------------------- */

/*
 * Inverse BTCUSD (qty in USD contracts, PnL in BTC), solo_001, fees in BTC:
 *   1 Buy 100 @ 20000, fee 0.000003   basis 100/20000 = 0.005 BTC
 *   2 Buy 100 @ 25000, fee 0.0000024  basis + 100/25000 = 0.009; harmonic avg
 *     = 200 / 0.009 = 22222.222222222222222222 (18 places, half-even)
 *   3 Sell 50 @ 30000, fee 0.000001   releases 0.009 * 50/200 = 0.00225;
 *     50/30000 = 0.001666666666666667 (rounded half-even at 18 places);
 *     gross = 0.00225 - 0.001666666666666667 = 0.000583333333333333
 *   4 Sell 150 @ 30000, fee 0.000003  releases 0.00675; 150/30000 = 0.005;
 *     gross 0.00175
 * Trip: gross 0.002333333333333333 (= 200 * (1/22222.2... - 1/30000) within
 *   1e-18), fees 0.0000094, net 0.002323933333333333 BTC.
 * A short: Sell 300 @ 30000 (basis 0.01), Buy 300 @ 25000 (300/25000 = 0.012):
 *   gross = 300 * (1/25000 - 1/30000) = 0.012 - 0.01 = 0.002 BTC.
 */
TEST(book_inverse_round_trips_harmonic_average)
{
	const char *a = "solo", *bot = "solo_001";
	const struct book_position *p;

	setup_book(&B);
	ap(a,
	   EX(.id = "i1", .cat = "inverse", .sym = "BTCUSD", .side = "Buy", .qty = "100",
	      .price = "20000", .fee = "0.000003", .ccy = "BTC", .link = lid(bot, "entry"),
	      .t = 1000),
	   NULL);
	p = MUST(pos_at(a, bot, "inverse", "BTCUSD", 0));
	CHECK_POS(p, "100", "20000", "0", "0.000003", "0", 1);
	T_EQ_STR(S(p->basis), "0.005");
	ap(a,
	   EX(.id = "i2", .cat = "inverse", .sym = "BTCUSD", .side = "Buy", .qty = "100",
	      .price = "25000", .fee = "0.0000024", .ccy = "BTC", .link = lid(bot, "scale_in"),
	      .t = 2000),
	   NULL);
	CHECK_POS(p, "200", "22222.222222222222222222", "0", "0.0000054", "0", 1);
	ap(a,
	   EX(.id = "i3", .cat = "inverse", .sym = "BTCUSD", .side = "Sell", .qty = "50",
	      .price = "30000", .fee = "0.000001", .ccy = "BTC", .link = lid(bot, "take_profit"),
	      .t = 3000),
	   NULL);
	T_EQ_STR(S(R.realized_pnl), "0.000583333333333333");
	T_EQ_STR(S(p->basis), "0.00675");
	ap(a,
	   EX(.id = "i4", .cat = "inverse", .sym = "BTCUSD", .side = "Sell", .qty = "150",
	      .price = "30000", .fee = "0.000003", .ccy = "BTC", .link = lid(bot, "take_profit"),
	      .t = 4000),
	   NULL);
	T_EQ_STR(S(R.realized_pnl), "0.00175");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_LONG, .entry = "entry",
	           .close = "take_profit", .opened = 1000, .closed = 4000, .qty = "200",
	           .gross = "0.002333333333333333", .fees = "0.0000094", .funding = "0",
	           .net = "0.002323933333333333", .ccy = "BTC");

	ap(a,
	   EX(.id = "i5", .cat = "inverse", .sym = "BTCUSD", .side = "Sell", .qty = "300",
	      .price = "30000", .link = lid(bot, "entry"), .t = 5000),
	   NULL);
	T_EQ_STR(S(p->avg_price), "30000");
	ap(a,
	   EX(.id = "i6", .cat = "inverse", .sym = "BTCUSD", .side = "Buy", .qty = "300",
	      .price = "25000", .link = lid(bot, "take_profit"), .t = 6000),
	   NULL);
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(S(R.trips[0].gross_pnl), "0.002");
	T_EQ_INT(R.trips[0].side, BOOK_SHORT);
	T_EQ_STR(R.trips[0].currency, "BTC"); /* kept from the position's first fill */
}

/*
 * Spot BTCUSDT (min size 0.0001), solo_001:
 *   1 Buy 0.01 @ 60000, fee 0.00001 BTC: holds 0.01 - 0.00001 = 0.00999, basis
 *     0.00999 * 60000 = 599.4 (avg 60000); the fee is worth 0.00001 * 60000 = 0.6 USDT.
 *   2 Sell 0.00995 @ 61000, fee 0.60695 USDT: releases 599.4 * 0.00995/0.00999 = 597,
 *     gross 606.95 - 597 = 9.95. Left 0.00004 < 0.0001: dust, closed at 61000:
 *     releases 2.4, worth 2.44, gross 0.04.
 * Trip: qty 0.00999, gross 9.99, fees 0.6 + 0.60695 = 1.20695, net 8.78305 USDT:
 *   exactly the cash result (-600 + 606.95 - 0.60695) plus the dust's worth (2.44).
 */
TEST(book_spot_round_trip_ends_in_dust)
{
	const char *a = "solo", *bot = "solo_001";
	const struct book_position *p;

	setup_book(&B);
	ap(a,
	   EX(.id = "sp1", .cat = "spot", .side = "Buy", .qty = "0.01", .price = "60000",
	      .fee = "0.00001", .ccy = "BTC", .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	p = MUST(pos_at(a, bot, "spot", "BTCUSDT", 0));
	CHECK_POS(p, "0.00999", "60000", "0", "0.6", "0", 1);
	T_EQ_STR(p->currency, "USDT");
	T_EQ_STR(S(R.allocs[0].fee), "0.00001"); /* allocations keep the fee's own coin */
	ap(a,
	   EX(.id = "sp2", .cat = "spot", .side = "Sell", .qty = "0.00995", .price = "61000",
	      .fee = "0.60695", .ccy = "USDT", .link = lid(bot, "ma_exit"), .t = 2000),
	   NULL);
	T_CHECK(R.flags & BOOK_FLAG_DUST);
	T_EQ_STR(S(R.realized_pnl), "9.99");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = bot, .seq = 1, .side = BOOK_LONG, .entry = "entry",
	           .close = "ma_exit", .opened = 1000, .closed = 2000, .qty = "0.00999",
	           .gross = "9.99", .fees = "1.20695", .funding = "0", .net = "8.78305",
	           .ccy = "USDT");
	CHECK_POS(p, "0", "0", "9.99", "1.20695", "0", 1);
	T_EQ_INT(B.stats.dust, 1);
}

/*
 * The dust rule's edges (BTCUSDT spot, min size 0.0001, fees in USDT, 0):
 * a buy below the minimum from flat is a position, not dust (dust is what a
 * reduction leaves); a remainder equal to the minimum stays open; below it
 * closes. Buy 0.00005 @ 100, Buy 0.00025 @ 100 (0.0003), Sell 0.0002 @ 110
 * leaves 0.0001: open, gross 0.002; Sell 0.00005 @ 120 leaves 0.00005: dust,
 * closed at 120: gross 0.001 + 0.001 = 0.002; trip gross 0.004.
 */
TEST(book_spot_dust_edges)
{
	const char *a = "solo", *bot = "solo_001";
	const struct book_position *p;

	setup_book(&B);
	ap(a,
	   EX(.id = "u1", .cat = "spot", .side = "Buy", .qty = "0.00005", .price = "100",
	      .fee = "0", .ccy = "USDT", .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	p = MUST(pos_at(a, bot, "spot", "BTCUSDT", 0));
	T_EQ_STR(S(p->size), "0.00005");
	T_EQ_INT(R.flags & BOOK_FLAG_DUST, 0);
	ap(a,
	   EX(.id = "u2", .cat = "spot", .side = "Buy", .qty = "0.00025", .price = "100",
	      .fee = "0", .ccy = "USDT", .link = lid(bot, "scale_in"), .t = 2000),
	   NULL);
	ap(a,
	   EX(.id = "u3", .cat = "spot", .side = "Sell", .qty = "0.0002", .price = "110",
	      .fee = "0", .ccy = "USDT", .link = lid(bot, "take_profit"), .t = 3000),
	   NULL);
	T_EQ_INT(R.flags & BOOK_FLAG_DUST, 0);
	T_EQ_INT(R.trips_n, 0);
	T_EQ_STR(S(p->size), "0.0001");
	T_EQ_STR(S(R.realized_pnl), "0.002");
	ap(a,
	   EX(.id = "u4", .cat = "spot", .side = "Sell", .qty = "0.00005", .price = "120",
	      .fee = "0", .ccy = "USDT", .link = lid(bot, "take_profit"), .t = 4000),
	   NULL);
	T_CHECK(R.flags & BOOK_FLAG_DUST);
	T_EQ_STR(S(R.realized_pnl), "0.002");
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(S(R.trips[0].gross_pnl), "0.004");
	T_EQ_STR(S(R.trips[0].qty), "0.0003");
	T_EQ_STR(S(p->size), "0");
	/* other spot symbols use the default minimum, 0 here: no dust */
	ap(a,
	   EX(.id = "u5", .cat = "spot", .sym = "DOGEUSDT", .side = "Buy", .qty = "2",
	      .price = "0.1", .fee = "0", .ccy = "USDT", .link = lid(bot, "entry"), .t = 5000),
	   NULL);
	ap(a,
	   EX(.id = "u6", .cat = "spot", .sym = "DOGEUSDT", .side = "Sell", .qty = "1.99999",
	      .price = "0.1", .fee = "0", .ccy = "USDT", .link = lid(bot, "ma_exit"), .t = 6000),
	   NULL);
	T_EQ_INT(R.flags & BOOK_FLAG_DUST, 0);
	T_EQ_STR(S(MUST(pos_at(a, bot, "spot", "DOGEUSDT", 0))->size), "0.00001");
}

/* Spot without feeCurrency (the older shape): a Buy's fee is in the base coin,
 * a Sell's in the quote. A fee in a third coin is counted as is and flagged. */
TEST(book_spot_fee_coin_rules)
{
	const char *a = "solo", *bot = "solo_001";

	setup_book(&B);
	/* Buy 1 @ 100 fee 0.001 (base): holds 0.999, fee worth 0.1 */
	ap(a,
	   EX(.id = "c1", .cat = "spot", .sym = "SOLUSDT", .side = "Buy", .qty = "1",
	      .price = "100", .fee = "0.001", .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	CHECK_POS(pos_at(a, bot, "spot", "SOLUSDT", 0), "0.999", "100", "0", "0.1", "0", 1);
	T_EQ_STR(MUST(pos_at(a, bot, "spot", "SOLUSDT", 0))->currency, "USDT");
	/* Sell 0.999 @ 110 fee 0.10989 (quote): gross 0.999 * 10 = 9.99, net 9.78011 */
	ap(a,
	   EX(.id = "c2", .cat = "spot", .sym = "SOLUSDT", .side = "Sell", .qty = "0.999",
	      .price = "110", .fee = "0.10989", .link = lid(bot, "ma_exit"), .t = 2000),
	   NULL);
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(S(R.trips[0].net_pnl), "9.78011");
	T_EQ_INT(R.flags & BOOK_FLAG_DUST, 0); /* flat exactly */
	ap(a,
	   EX(.id = "c3", .cat = "spot", .sym = "SOLUSDT", .side = "Buy", .qty = "1",
	      .price = "100", .fee = "0.5", .ccy = "MNT", .link = lid(bot, "entry"), .t = 3000),
	   NULL);
	T_CHECK(R.flags & BOOK_FLAG_FEE_COIN);
	T_EQ_STR(S(MUST(pos_at(a, bot, "spot", "SOLUSDT", 0))->size), "1");
}

/* Options move sizes and fees, realize no PnL and make no trades_pnl rows. */
TEST(book_option_fills_have_no_pnl)
{
	const char *a = "solo", *bot = "solo_001", *sym = "BTC-30DEC22-1400-C";

	setup_book(&B);
	ap(a,
	   EX(.id = "o1", .cat = "option", .sym = sym, .side = "Buy", .qty = "1", .price = "100",
	      .fee = "0.3", .ccy = "USDC", .link = lid(bot, "entry"), .t = 1000),
	   NULL);
	T_CHECK(R.flags & BOOK_FLAG_NO_PNL);
	T_EQ_STR(R.bot, bot);
	T_EQ_STR(R.reason, "entry");
	ap(a,
	   EX(.id = "o2", .cat = "option", .sym = sym, .side = "Sell", .qty = "1", .price = "150",
	      .fee = "0.3", .ccy = "USDC", .link = lid(bot, "take_profit"), .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "take_profit");
	T_EQ_STR(S(R.realized_pnl), "0");
	T_EQ_INT(R.trips_n, 0);
	CHECK_POS(pos_at(a, bot, "option", sym, 0), "0", "0", "0", "0.6", "0", 1);
}

/* ---- the seed's three bots ---------------------------------------------------- */

/*
 * The seed's set-up: one account per bot.
 * shortseller_001, ETHUSDT: entry Sell 0.5 @ 2000 (fee 0.055% of 1000 = 0.55),
 *   trailing_stop Buy 0.5 @ 1900 (fee 0.5225): gross 0.5 * 100 = 50,
 *   fees 1.0725, net 48.9275.
 * lxalgo_001, XRPUSDT: rule_3 Buy 100 @ 0.5 (fee 0.0275) with the seed's own
 *   colon id; closed by an exchange stop-loss with an empty orderLinkId
 *   (CreateByStopLoss/StopLoss) Sell 100 @ 0.48 (fee 0.0264), which goes to the
 *   only holder: gross -2, fees 0.0539, net -2.0539, close_reason stop_loss.
 * momentum_001, BTCUSDT: volatility_breakout Buy 0.02 @ 30000 (fee 0.33, id
 *   with the alias vb), ma_exit Sell 0.02 @ 31500 (fee 0.3465): gross 30,
 *   fees 0.6765, net 29.3235.
 */
TEST(book_seed_three_bots)
{
	setup_book(&B);
	ap("seed_ss",
	   EX(.id = "ss1", .sym = "ETHUSDT", .side = "Sell", .qty = "0.5", .price = "2000",
	      .fee = "0.55", .ccy = "USDT", .link = lid("shortseller_001", "entry"), .t = T0_MS),
	   NULL);
	T_EQ_STR(R.bot, "shortseller_001");
	ap("seed_ss",
	   EX(.id = "ss2", .sym = "ETHUSDT", .side = "Buy", .qty = "0.5", .price = "1900",
	      .fee = "0.5225", .ccy = "USDT", .link = lid("shortseller_001", "trailing_stop"),
	      .t = T0_MS + 60000),
	   NULL);
	T_EQ_STR(R.close_reason, "trailing_stop");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = "shortseller_001", .seq = 1, .side = BOOK_SHORT,
	           .entry = "entry", .close = "trailing_stop", .opened = T0_MS,
	           .closed = T0_MS + 60000, .qty = "0.5", .gross = "50", .fees = "1.0725",
	           .funding = "0", .net = "48.9275", .ccy = "USDT");

	ap("seed_lx",
	   EX(.id = "lx1", .sym = "XRPUSDT", .side = "Buy", .qty = "100", .price = "0.5",
	      .fee = "0.0275", .ccy = "USDT", .link = "lxalgo_001:rule_3:1678886400", .t = T0_MS),
	   NULL);
	T_EQ_STR(R.bot, "lxalgo_001");
	T_EQ_STR(R.reason, "rule_3");
	ap("seed_lx",
	   EX(.id = "lx2", .sym = "XRPUSDT", .side = "Sell", .qty = "100", .price = "0.48",
	      .fee = "0.0264", .ccy = "USDT", .link = "", .create = "CreateByStopLoss",
	      .stop = "StopLoss", .t = T0_MS + 5000),
	   NULL);
	T_EQ_STR(R.bot, "lxalgo_001");
	T_EQ_INT(R.via, BOOK_VIA_HOLDER);
	T_EQ_STR(R.reason, "");
	T_EQ_STR(R.close_reason, "stop_loss");
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = "lxalgo_001", .seq = 1, .side = BOOK_LONG, .entry = "rule_3",
	           .close = "stop_loss", .opened = T0_MS, .closed = T0_MS + 5000, .qty = "100",
	           .gross = "-2", .fees = "0.0539", .funding = "0", .net = "-2.0539",
	           .ccy = "USDT");

	ap("seed_mom",
	   EX(.id = "mo1", .side = "Buy", .qty = "0.02", .price = "30000", .fee = "0.33",
	      .ccy = "USDT", .link = lid("momentum_001", "volatility_breakout"), .t = T0_MS),
	   NULL);
	T_EQ_STR(R.reason, "volatility_breakout");
	ap("seed_mom",
	   EX(.id = "mo2", .side = "Sell", .qty = "0.02", .price = "31500", .fee = "0.3465",
	      .ccy = "USDT", .link = lid("momentum_001", "ma_exit"), .t = T0_MS + 3600000),
	   NULL);
	T_REQUIRE(R.trips_n == 1);
	CHECK_TRIP(&R.trips[0], .bot = "momentum_001", .seq = 1, .side = BOOK_LONG,
	           .entry = "volatility_breakout", .close = "ma_exit", .opened = T0_MS,
	           .closed = T0_MS + 3600000, .qty = "0.02", .gross = "30", .fees = "0.6765",
	           .funding = "0", .net = "29.3235", .ccy = "USDT");
	/* what Redis shows: every position flat, "0" */
	T_EQ_STR(S(MUST(pos("seed_ss", "shortseller_001", "ETHUSDT"))->size), "0");
	T_EQ_STR(S(MUST(pos("seed_lx", "lxalgo_001", "XRPUSDT"))->size), "0");
	T_EQ_STR(S(MUST(pos("seed_mom", "momentum_001", "BTCUSDT"))->size), "0");
}

/* ---- attribution chain ------------------------------------------------------- */

static const char hex32[] = "3f9a1c0b7d2e4f6a8b9c0d1e2f3a4b5c"; /* os.urandom(16).hex() */
static const char uuid[] = "9aac161b-8ed6-450d-9cab-c5cc67c21784";

/* Step 1: the id's bot, only if it is a bot of this account. */
TEST(book_attribution_link_must_name_a_bot_of_the_account)
{
	setup_book(&B);
	ap("multi",
	   EX(.id = "a1", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	T_EQ_STR(R.bot, "alpha_001");
	T_EQ_INT(R.via, BOOK_VIA_LINK);
	T_EQ_INT(R.flags & BOOK_FLAG_FOREIGN_ID, 0);
	/* the seed's colon form parses too */
	ap("multi",
	   EX(.id = "a2", .side = "Buy", .qty = "1", .price = "10",
	      .link = "beta_001:scale_in:1678886400123", .t = 2000),
	   NULL);
	T_EQ_STR(R.bot, "beta_001");
	T_EQ_STR(R.reason, "scale_in");
	/* momentum_001 is a bot of seed_mom, not of multi: falls through (two
	 * holders, no default): unattributed; its reason still counts */
	ap("multi",
	   EX(.id = "a3", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("momentum_001", "entry"), .t = 3000),
	   NULL);
	T_EQ_STR(R.bot, "unattributed");
	T_EQ_INT(R.via, BOOK_VIA_UNATTRIBUTED);
	T_EQ_STR(R.reason, "entry");
	T_CHECK(R.flags & BOOK_FLAG_FOREIGN_ID);
	/* an unknown bot in our format */
	ap("multi",
	   EX(.id = "a4", .side = "Buy", .qty = "1", .price = "10",
	      .link = "ghost_001:entry:1678886400", .t = 4000),
	   NULL);
	T_EQ_STR(R.bot, "unattributed");
	T_CHECK(R.flags & BOOK_FLAG_FOREIGN_ID);
	/* the order's own id when the execution's is empty */
	{
		struct book_order o = {0};

		snprintf(o.order_link_id, sizeof o.order_link_id, "%s",
		         lid("gamma_001", "rule_12"));
		ap("multi", EX(.id = "a5", .side = "Buy", .qty = "1", .price = "10", .t = 5000),
		   &o);
		T_EQ_STR(R.bot, "gamma_001");
		T_EQ_STR(R.reason, "rule_12");
		T_EQ_INT(R.via, BOOK_VIA_LINK);
	}
}

/* Step 2: the parent's id (attached TP/SL), same test. */
TEST(book_attribution_parent_order_link_id)
{
	struct book_order o = {0};

	setup_book(&B);
	snprintf(o.parent_order_link_id, sizeof o.parent_order_link_id, "%s",
	         lid("beta_001", "entry"));
	snprintf(o.create_type, sizeof o.create_type, "CreateByTakeProfit");
	ap("multi",
	   EX(.id = "b1", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	ap("multi",
	   EX(.id = "b2", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("beta_001", "entry"), .t = 2000),
	   NULL);
	/* the TP of beta's order: beta's alone, not netted, reason from createType */
	ap("multi", EX(.id = "b3", .side = "Sell", .qty = "1", .price = "12", .t = 3000), &o);
	T_EQ_STR(R.bot, "beta_001");
	T_EQ_INT(R.via, BOOK_VIA_PARENT);
	T_EQ_STR(R.close_reason, "take_profit");
	T_EQ_INT(R.allocs_n, 1);
	T_EQ_STR(S(MUST(pos("multi", "alpha_001", "BTCUSDT"))->size), "1");
	T_EQ_STR(S(MUST(pos("multi", "beta_001", "BTCUSDT"))->size), "0");
	/* a parent naming another account's bot falls through */
	snprintf(o.parent_order_link_id, sizeof o.parent_order_link_id, "%s",
	         lid("solo_001", "entry"));
	ap("multi", EX(.id = "b4", .side = "Sell", .qty = "1", .price = "12", .t = 4000), &o);
	T_EQ_STR(R.bot, "alpha_001"); /* the only holder left */
	T_EQ_INT(R.via, BOOK_VIA_HOLDER);
}

/* Step 4: the only holder takes foreign ids (random hex, UUID, ""). */
TEST(book_attribution_only_holder_takes_foreign_ids)
{
	const char *ids[] = {hex32, uuid, "", "31k32-8-"};

	setup_book(&B);
	ap("multi",
	   EX(.id = "c0", .side = "Buy", .qty = "10", .price = "10",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   NULL);
	for (int i = 0; i < 4; i++) {
		char id[16];

		snprintf(id, sizeof id, "c%d", i + 1);
		ap("multi",
		   EX(.id = id, .side = "Sell", .qty = "1", .price = "11", .link = ids[i],
		      .create = "CreateByUser", .t = 2000 + i),
		   NULL);
		T_EQ_STR(R.bot, "alpha_001");
		T_EQ_INT(R.via, BOOK_VIA_HOLDER);
		T_EQ_STR(R.reason, "");
		T_EQ_STR(R.close_reason, "unknown");
		T_EQ_INT(!!(R.flags & BOOK_FLAG_FOREIGN_ID), ids[i][0] != '\0');
	}
	T_EQ_STR(S(MUST(pos("multi", "alpha_001", "BTCUSDT"))->size), "6");
}

/* Steps 5 and 6: default_bot, else unattributed (no holder, or several). */
TEST(book_attribution_default_bot_then_unattributed)
{
	setup_book(&B);
	ap("multi_d",
	   EX(.id = "d1", .side = "Buy", .qty = "1", .price = "10", .link = hex32, .t = 1000),
	   NULL);
	T_EQ_STR(R.bot, "delta_001");
	T_EQ_INT(R.via, BOOK_VIA_DEFAULT);
	T_EQ_STR(R.reason, "");
	T_EQ_STR(MUST(pos("multi_d", "delta_001", "BTCUSDT"))->open.entry_reason, "unknown");
	ap("multi_d",
	   EX(.id = "d2", .side = "Buy", .qty = "1", .price = "10", .link = lid("eps_001", "entry"),
	      .t = 2000),
	   NULL);
	/* two holders, a foreign manual order (not an exchange close): default_bot */
	ap("multi_d",
	   EX(.id = "d3", .side = "Sell", .qty = "1", .price = "10", .link = uuid,
	      .create = "CreateByUser", .t = 3000),
	   NULL);
	T_EQ_STR(R.bot, "delta_001");
	T_EQ_INT(R.via, BOOK_VIA_DEFAULT);
	/* multi has no default: unattributed, which then holds a position */
	ap("multi", EX(.id = "d4", .side = "Buy", .qty = "2", .price = "10", .link = "", .t = 1000),
	   NULL);
	T_EQ_STR(R.bot, "unattributed");
	T_EQ_INT(R.via, BOOK_VIA_UNATTRIBUTED);
	T_EQ_STR(S(MUST(pos("multi", "unattributed", "BTCUSDT"))->size), "2");
	/* ... and, as the only holder, takes the next foreign fill */
	ap("multi",
	   EX(.id = "d5", .side = "Sell", .qty = "2", .price = "11", .link = hex32, .t = 2000),
	   NULL);
	T_EQ_STR(R.bot, "unattributed");
	T_EQ_INT(R.via, BOOK_VIA_HOLDER);
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(S(R.trips[0].gross_pnl), "2");
}

/* ---- execTypes ------------------------------------------------------------------ */

TEST(book_exec_types_that_move_nothing_are_recorded_and_flagged)
{
	const char *types[] = {"CorporateAction", "UNKNOWN", "SomethingNew"};

	setup_book(&B);
	ap("solo",
	   EX(.id = "t0", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("solo_001", "entry"), .t = 1000),
	   NULL);
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof id, "t%d", i + 1);
		T_EQ_INT(ap("solo",
		            EX(.id = id, .type = types[i], .side = "Sell", .qty = "1",
		               .price = "10", .fee = "1", .t = 2000 + i),
		            NULL),
		         BOOK_APPLIED);
		T_CHECK(R.flags & BOOK_FLAG_NO_EFFECT);
		T_EQ_STR(R.bot, "solo_001");
		T_EQ_INT(R.allocs_n, 0);
		T_EQ_INT(R.positions_n, 0);
		CHECK_POS(pos("solo", "solo_001", "BTCUSDT"), "1", "10", "0", "0", "0", 1);
		/* ordered and deduplicated like any fill */
		T_EQ_INT(ap("solo",
		            EX(.id = id, .type = types[i], .side = "Sell", .qty = "1",
		               .price = "10", .t = 2000 + i),
		            NULL),
		         BOOK_DUPLICATE);
	}
	T_EQ_INT(B.stats.no_effect, 3);
}

TEST(book_block_trade_future_spread_move_position_move_sizes)
{
	const char *types[] = {"BlockTrade", "FutureSpread", "MovePosition", "Trade"};

	setup_book(&B);
	for (int i = 0; i < 4; i++) {
		char id[16];

		snprintf(id, sizeof id, "v%d", i);
		ap("solo",
		   EX(.id = id, .type = types[i], .side = "Buy", .qty = "1", .price = "10",
		      .link = lid("solo_001", "scale_in"), .t = 1000 + i),
		   NULL);
		T_EQ_INT(R.flags & BOOK_FLAG_NO_EFFECT, 0);
	}
	T_EQ_STR(S(MUST(pos("solo", "solo_001", "BTCUSDT"))->size), "4");
	/* Funding never moves a size, whatever its execQty and side */
	ap("solo",
	   EX(.id = "v9", .type = "Funding", .side = "Sell", .qty = "1000", .price = "10",
	      .fee = "0.1", .t = 2000),
	   NULL);
	T_EQ_STR(S(MUST(pos("solo", "solo_001", "BTCUSDT"))->size), "4");
	T_EQ_STR(S(MUST(pos("solo", "solo_001", "BTCUSDT"))->funding), "0.1");
}

/* ---- close reasons ------------------------------------------------------------- */

TEST(book_exchange_reason_table)
{
	static const struct {
		const char *exec, *create, *stop, *want;
	} cases[] = {
	    {"Trade", "CreateByStopLoss", "", "stop_loss"},
	    {"Trade", "CreateByPartialStopLoss", "", "stop_loss"},
	    {"Trade", "", "StopLoss", "stop_loss"},
	    {"Trade", "", "PartialStopLoss", "stop_loss"},
	    {"Trade", "CreateByTakeProfit", "", "take_profit"},
	    {"Trade", "CreateByPartialTakeProfit", "", "take_profit"},
	    {"Trade", "CreateByTrailingProfit", "", "take_profit"},
	    {"Trade", "", "TakeProfit", "take_profit"},
	    {"Trade", "", "PartialTakeProfit", "take_profit"},
	    {"Trade", "", "TrailingProfit", "take_profit"},
	    {"Trade", "CreateByTrailingStop", "", "trailing_stop"},
	    {"Trade", "", "TrailingStop", "trailing_stop"},
	    {"Trade", "CreateByLiq", "", "liquidation"},
	    {"Trade", "CreateByTakeOver_PassThrough", "", "liquidation"},
	    {"Trade", "CreateByTakeOverPassThrough", "", "liquidation"}, /* SDK spelling */
	    {"BustTrade", "", "", "liquidation"},
	    {"AdlTrade", "", "", "adl"},
	    {"Trade", "CreateByAdl_PassThrough", "", "adl"},
	    {"Trade", "CreateByClosing", "", "manual_exit"},
	    {"Trade", "CreateByMmRateClose", "", "risk_limit"},
	    {"Trade", "", "MmRateClose", "risk_limit"},
	    {"Delivery", "", "", "settlement"},
	    {"Settle", "", "", "settlement"},
	    {"Trade", "CreateBySettle", "", "settlement"},
	    {"Trade", "CreateByAdminClosing", "", "settlement"},
	    {"Trade", "createbystoploss", "", "stop_loss"}, /* case and '_' ignored */
	    {"Trade", "", "stop_loss", "stop_loss"},
	    /* say nothing about why */
	    {"Trade", "CreateByUser", "", ""},
	    {"Trade", "CreateByStopOrder", "Stop", ""},
	    {"Trade", "CreateByFutureSpread", "", ""},
	    {"Trade", "CreateByBlock_PassThrough", "", ""},
	    {"Trade", "CreateByBlockTradeMovePosition_PassThrough", "", ""},
	    {"Trade", "CreateByFGridBot", "", ""},
	    {"Trade", "CloseByFGridBot", "", ""},
	    {"Trade", "CreateByTWAP", "", ""},
	    {"Trade", "CreateByTVSignal", "", ""},
	    {"Trade", "CreateByMartingaleBot", "", ""},
	    {"Trade", "CloseByMartingaleBot", "", ""},
	    {"Trade", "CreateByIceBerg", "", ""},
	    {"Trade", "CreateByArbitrage", "", ""},
	    {"Trade", "CreateByDdh", "", ""},
	    {"Trade", "CreateByBboOrder", "", ""},
	    {"Trade", "", "tpslOrder", ""},
	    {"Trade", "", "TpslOrder", ""},
	    {"Trade", "", "OcoOrder", ""},
	    {"Trade", "", "BidirectionalTpslOrder", ""},
	    {"Trade", "UNKNOWN", "UNKNOWN", ""},
	    {"Funding", "", "", ""},
	    /* precedence: execType, then createType, then stopOrderType */
	    {"BustTrade", "CreateByStopLoss", "TakeProfit", "liquidation"},
	    {"Trade", "CreateByStopLoss", "TakeProfit", "stop_loss"},
	    {"Trade", "UNKNOWN", "TakeProfit", "take_profit"},
	    {"Trade", "CreateByUser", "TrailingStop", "trailing_stop"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		if (!T_EQ_STR(book_exchange_reason(cases[i].exec, cases[i].create, cases[i].stop),
		              cases[i].want))
			printf("      case %zu: %s %s %s\n", i, cases[i].exec, cases[i].create,
			       cases[i].stop);
	T_EQ_STR(book_exchange_reason(NULL, NULL, NULL), "");
}

/* In a fill: the orderLinkId's reason first; the execution's createType and
 * stopOrderType, else the order's; spot and options only have stopOrderType. */
TEST(book_close_reason_sources)
{
	struct book_order o = {0};

	setup_book(&B);
	ap("solo",
	   EX(.id = "k1", .side = "Buy", .qty = "5", .price = "10",
	      .link = lid("solo_001", "entry"), .t = 1000),
	   NULL);
	/* our id says time_exit, createType says StopLoss: the id wins */
	ap("solo",
	   EX(.id = "k2", .side = "Sell", .qty = "1", .price = "10",
	      .link = lid("solo_001", "time_exit"), .create = "CreateByStopLoss", .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "time_exit");
	/* the execution's stopOrderType is UNKNOWN: the order's */
	snprintf(o.stop_order_type, sizeof o.stop_order_type, "TrailingStop");
	ap("solo",
	   EX(.id = "k3", .side = "Sell", .qty = "1", .price = "10", .stop = "UNKNOWN", .t = 3000),
	   &o);
	T_EQ_STR(R.close_reason, "trailing_stop");
	/* CreateByClosing: the close button */
	ap("solo",
	   EX(.id = "k4", .side = "Sell", .qty = "1", .price = "10", .create = "CreateByClosing",
	      .t = 4000),
	   NULL);
	T_EQ_STR(R.close_reason, "manual_exit");
	/* nothing known */
	ap("solo", EX(.id = "k5", .side = "Sell", .qty = "1", .price = "10", .t = 5000), NULL);
	T_EQ_STR(R.close_reason, "unknown");
	/* spot: no createType, stopOrderType tells */
	ap("solo",
	   EX(.id = "k6", .cat = "spot", .side = "Buy", .qty = "1", .price = "10", .fee = "0",
	      .link = lid("solo_001", "entry"), .t = 1000),
	   NULL);
	ap("solo",
	   EX(.id = "k7", .cat = "spot", .side = "Sell", .qty = "1", .price = "9", .fee = "0",
	      .stop = "StopLoss", .t = 2000),
	   NULL);
	T_EQ_STR(R.close_reason, "stop_loss");
	T_REQUIRE(R.trips_n == 1);
	T_EQ_STR(R.trips[0].close_reason, "stop_loss");
}

/* ---- exchange order, duplicates, late fills ---------------------------------- */

/* Field-by-field equality of two positions (the private link aside). */
static int same_position(const struct book_position *a, const struct book_position *b)
{
	return strcmp(a->account, b->account) == 0 && strcmp(a->bot, b->bot) == 0 &&
	       strcmp(a->category, b->category) == 0 && strcmp(a->symbol, b->symbol) == 0 &&
	       a->position_idx == b->position_idx && strcmp(a->currency, b->currency) == 0 &&
	       dec_cmp(a->size, b->size) == 0 && dec_cmp(a->basis, b->basis) == 0 &&
	       dec_cmp(a->avg_price, b->avg_price) == 0 &&
	       dec_cmp(a->realized_pnl, b->realized_pnl) == 0 && dec_cmp(a->fees, b->fees) == 0 &&
	       dec_cmp(a->funding, b->funding) == 0 && a->trade_seq == b->trade_seq &&
	       a->open.seq == b->open.seq && a->open.side == b->open.side &&
	       strcmp(a->open.entry_reason, b->open.entry_reason) == 0 &&
	       a->open.opened_at_ms == b->open.opened_at_ms &&
	       dec_cmp(a->open.qty, b->open.qty) == 0 &&
	       dec_cmp(a->open.gross_pnl, b->open.gross_pnl) == 0 &&
	       dec_cmp(a->open.fees, b->open.fees) == 0 &&
	       dec_cmp(a->open.funding, b->open.funding) == 0 &&
	       strcmp(a->last_exec_id, b->last_exec_id) == 0 &&
	       a->last_exec_time_ms == b->last_exec_time_ms;
}

/* Every position of x is in y, equal, and they have as many. */
static int same_books(const struct book *x, const struct book *y)
{
	const struct book_position *p;
	int cx = 0, cy = 0, nx = 0, ny = 0;

	while ((p = book_position_next(x, &cx))) {
		const struct book_position *q = book_position_find(
		    y, p->account, p->bot, p->category, p->symbol, p->position_idx);

		nx++;
		if (!q || !same_position(p, q)) {
			printf("      position %s/%s/%s/%s/%d differs (size %s vs %s)\n",
			       p->account, p->bot, p->category, p->symbol, p->position_idx,
			       S(p->size), q ? S(q->size) : "none");
			return 0;
		}
	}
	while (book_position_next(y, &cy))
		ny++;
	return nx == ny;
}

TEST(book_fill_cmp_is_exchange_order)
{
	struct decode_exec a = EX(.id = "b", .t = 1000, .seq = 5);
	struct decode_exec b = EX(.id = "a", .t = 1000, .seq = 6);
	struct decode_exec c = EX(.id = "a", .t = 1000, .seq = 5);
	struct decode_exec d = EX(.id = "z", .t = 1000, .no_seq = 1);
	struct decode_exec e = EX(.id = "a", .t = 999, .seq = 99);

	T_CHECK(book_fill_cmp(&a, &b) < 0); /* seq before execId */
	T_CHECK(book_fill_cmp(&c, &a) < 0); /* then execId, bytewise */
	T_CHECK(book_fill_cmp(&d, &c) < 0); /* an absent seq counts as -1 */
	T_CHECK(book_fill_cmp(&e, &d) < 0); /* execTime first */
	T_EQ_INT(book_fill_cmp(&a, &a), 0);
}

TEST(book_duplicates_and_late_fills_change_nothing)
{
	struct decode_exec f0 = EX(.id = "f0", .side = "Buy", .qty = "1", .price = "90",
	                           .link = "solo_001:entry:1678886400", .t = 500);
	struct decode_exec f1 = EX(.id = "f1", .side = "Buy", .qty = "1", .price = "100",
	                           .link = "solo_001:entry:1678886401", .t = 1000);
	struct decode_exec f2 = EX(.id = "f2", .side = "Sell", .qty = "1", .price = "110",
	                           .link = "solo_001:ma_exit:1678886402", .t = 2000);
	struct book_input in[3] = {{&f0, NULL}, {&f1, NULL}, {&f2, NULL}};
	struct book_position before;

	setup_book(&B);
	setup_book(&B2);
	T_EQ_INT(book_apply(&B, "solo", &f1, NULL, &R), BOOK_APPLIED);
	T_EQ_INT(book_apply(&B, "solo", &f2, NULL, &R), BOOK_APPLIED);
	before = *MUST(pos("solo", "solo_001", "BTCUSDT"));
	T_EQ_INT(book_apply(&B, "solo", &f1, NULL, &R), BOOK_DUPLICATE);
	T_EQ_INT(R.status, BOOK_DUPLICATE);
	T_EQ_INT(R.trips_n, 0);
	T_EQ_INT(book_apply(&B, "solo", &f2, NULL, &R), BOOK_DUPLICATE);
	T_EQ_INT(book_apply(&B, "solo", &f0, NULL, &R), BOOK_LATE);
	T_CHECK(same_position(&before, MUST(pos("solo", "solo_001", "BTCUSDT"))));
	T_EQ_INT(B.stats.duplicates, 2);
	T_EQ_INT(B.stats.late, 1);
	/* the caller's rebuild gives what in-order application gives */
	T_EQ_INT(book_rebuild(&B, "solo", in, 3, &R, NULL, NULL), 0);
	for (int i = 0; i < 3; i++)
		T_EQ_INT(book_apply(&B2, "solo", in[i].exec, NULL, &R2), BOOK_APPLIED);
	T_CHECK(same_books(&B, &B2));
	/* long 2 @ 95, sold 1 @ 110: realized 15 */
	CHECK_POS(pos("solo", "solo_001", "BTCUSDT"), "1", "95", "15", "0", "0", 1);
	/* equal times: seq decides, then execId */
	T_EQ_INT(ap("solo",
	            EX(.id = "g", .side = "Buy", .qty = "1", .price = "1", .t = 3000, .seq = 5),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_INT(ap("solo",
	            EX(.id = "h", .side = "Buy", .qty = "1", .price = "1", .t = 3000, .seq = 4),
	            NULL),
	         BOOK_LATE);
	T_EQ_INT(ap("solo",
	            EX(.id = "a", .side = "Buy", .qty = "1", .price = "1", .t = 3000, .seq = 5),
	            NULL),
	         BOOK_LATE);
	T_EQ_INT(ap("solo",
	            EX(.id = "i", .side = "Buy", .qty = "1", .price = "1", .t = 3000, .seq = 5),
	            NULL),
	         BOOK_APPLIED);
}

/* The window is BOOK_RECENT_MAX fills: an older duplicate is "late", and its
 * rebuild (from a set holding it once) changes nothing. */
TEST(book_duplicate_older_than_the_window_is_late)
{
	static struct decode_exec xs[BOOK_RECENT_MAX + 8];
	static struct book_input in[BOOK_RECENT_MAX + 8];
	int n = BOOK_RECENT_MAX + 8;

	setup_book(&B);
	setup_book(&B2);
	for (int i = 0; i < n; i++) {
		char id[16];

		snprintf(id, sizeof id, "w%03d", i);
		xs[i] = EX(.id = id, .side = i % 3 ? "Buy" : "Sell", .qty = "1", .price = "100",
		           .link = "solo_001:entry:1678886400", .t = 1000 + i);
		in[i] = (struct book_input){&xs[i], NULL};
		T_EQ_INT(book_apply(&B, "solo", &xs[i], NULL, &R), BOOK_APPLIED);
		book_apply(&B2, "solo", &xs[i], NULL, &R2);
	}
	T_EQ_INT(book_apply(&B, "solo", &xs[n - BOOK_RECENT_MAX], NULL, &R), BOOK_DUPLICATE);
	T_EQ_INT(book_apply(&B, "solo", &xs[n - BOOK_RECENT_MAX - 1], NULL, &R), BOOK_LATE);
	T_EQ_INT(book_rebuild(&B, "solo", in, (size_t)n, &R, NULL, NULL), 0);
	T_CHECK(same_books(&B, &B2));
}

struct rebuild_log {
	int calls, trips;
};

static void on_rebuilt(void *ctx, const struct book_input *in, const struct book_result *r)
{
	struct rebuild_log *log = ctx;

	(void)in;
	log->calls++;
	log->trips += r->trips_n;
}

TEST(book_rebuild_checks_its_input_and_reports_each_fill)
{
	struct decode_exec a = EX(.id = "a", .side = "Buy", .qty = "1", .price = "10",
	                          .link = "solo_001:entry:1", .t = 1000);
	struct decode_exec b = EX(.id = "b", .side = "Sell", .qty = "1", .price = "11",
	                          .link = "solo_001:ma_exit:2", .t = 2000);
	struct decode_exec c =
	    EX(.id = "c", .sym = "ETHUSDT", .side = "Sell", .qty = "1", .price = "11", .t = 3000);
	struct book_input sorted[2] = {{&a, NULL}, {&b, NULL}};
	struct book_input unsorted[2] = {{&b, NULL}, {&a, NULL}};
	struct book_input mixed[2] = {{&a, NULL}, {&c, NULL}};
	struct rebuild_log log = {0, 0};

	setup_book(&B);
	T_EQ_INT(book_apply(&B, "solo", &a, NULL, &R), BOOK_APPLIED);
	T_EQ_INT(book_rebuild(&B, "solo", unsorted, 2, &R, NULL, NULL), FR_EINVAL);
	T_CHECK(strstr(R.why, "order") != NULL);
	T_EQ_INT(book_rebuild(&B, "solo", mixed, 2, &R, NULL, NULL), FR_EINVAL);
	T_EQ_STR(S(MUST(pos("solo", "solo_001", "BTCUSDT"))->size), "1"); /* untouched */
	T_EQ_INT(book_rebuild(&B, "solo", sorted, 2, &R, on_rebuilt, &log), 0);
	T_EQ_INT(log.calls, 2);
	T_EQ_INT(log.trips, 1);
	T_EQ_INT(book_rebuild(&B, "solo", NULL, 0, &R, NULL, NULL), 0);
	T_EQ_INT(book_reset_symbol(&B, "solo", "linear", "BTCUSDT"), 1);
	T_CHECK(pos("solo", "solo_001", "BTCUSDT") == NULL);
	T_EQ_INT(book_reset_symbol(&B, "solo", "linear", "BTCUSDT"), 0);
}

/* ---- hedge mode --------------------------------------------------------------- */

/* positionIdx 1 and 2 are separate positions; trade_seq counts per bot and
 * symbol across them; a netted close touches only its side. */
TEST(book_hedge_mode_positions)
{
	struct book_order buy_side = {.position_idx = 1}, sell_side = {.position_idx = 2};

	setup_book(&B);
	ap("multi",
	   EX(.id = "y1", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("alpha_001", "entry"), .t = 1000),
	   &buy_side);
	ap("multi",
	   EX(.id = "y2", .side = "Sell", .qty = "2", .price = "10",
	      .link = lid("alpha_001", "entry"), .t = 2000),
	   &sell_side);
	T_EQ_INT(R.trade_seq, 2);
	ap("multi",
	   EX(.id = "y3", .side = "Buy", .qty = "3", .price = "10",
	      .link = lid("beta_001", "entry"), .t = 3000),
	   &buy_side);
	T_EQ_STR(S(MUST(pos_at("multi", "alpha_001", "linear", "BTCUSDT", 1))->size), "1");
	T_EQ_STR(S(MUST(pos_at("multi", "alpha_001", "linear", "BTCUSDT", 2))->size), "-2");
	T_CHECK(pos_at("multi", "alpha_001", "linear", "BTCUSDT", 0) == NULL);
	/* a stop-loss of the buy side (net 4 there) sells 2: alpha 0.5, beta 1.5 */
	ap("multi",
	   EX(.id = "y4", .side = "Sell", .qty = "2", .price = "9", .create = "CreateByStopLoss",
	      .t = 4000),
	   &buy_side);
	T_REQUIRE(R.allocs_n == 2);
	T_EQ_STR(S(alloc_of("alpha_001")->qty), "0.5");
	T_EQ_INT(alloc_of("alpha_001")->position_idx, 1);
	T_EQ_STR(S(MUST(pos_at("multi", "alpha_001", "linear", "BTCUSDT", 2))->size), "-2");
	T_EQ_STR(S(MUST(pos_at("multi", "beta_001", "linear", "BTCUSDT", 1))->size), "1.5");
	/* alpha closes its short: trip 2 */
	ap("multi",
	   EX(.id = "y5", .side = "Buy", .qty = "2", .price = "8",
	      .link = lid("alpha_001", "take_profit"), .t = 5000),
	   &sell_side);
	T_REQUIRE(R.trips_n == 1);
	T_EQ_INT(R.trips[0].trade_seq, 2);
	T_EQ_INT(R.trips[0].position_idx, 2);
	T_EQ_STR(S(R.trips[0].gross_pnl), "4");
}

/* Funding down the chain: hedge-mode funding whose order is unknown reaches
 * the only holder (of positionIdx 1); holders whose sizes cancel out (net 0,
 * no exchange funding could be charged on it) give it to the default_bot. */
TEST(book_funding_fallbacks)
{
	struct book_order buy_side = {.position_idx = 1};

	setup_book(&B);
	ap("solo",
	   EX(.id = "j1", .side = "Buy", .qty = "2", .price = "10",
	      .link = lid("solo_001", "entry"), .t = 1000),
	   &buy_side);
	ap("solo",
	   EX(.id = "j2", .type = "Funding", .side = "Buy", .qty = "2", .price = "10",
	      .fee = "0.01", .t = 2000),
	   NULL);
	T_EQ_STR(R.bot, "solo_001");
	T_EQ_INT(R.via, BOOK_VIA_HOLDER);
	T_REQUIRE(R.allocs_n == 1);
	T_EQ_INT(R.allocs[0].position_idx, 0); /* booked where the fill said: idx 0 */
	T_EQ_STR(S(MUST(pos_at("solo", "solo_001", "linear", "BTCUSDT", 0))->funding), "0.01");

	ap("multi_d",
	   EX(.id = "j3", .side = "Buy", .qty = "1", .price = "10", .link = lid("eps_001", "entry"),
	      .t = 1000),
	   NULL);
	ap("multi_d",
	   EX(.id = "j4", .side = "Sell", .qty = "1", .price = "10",
	      .link = lid("delta_001", "entry"), .t = 1001),
	   NULL);
	ap("multi_d",
	   EX(.id = "j5", .type = "Funding", .side = "Buy", .qty = "1", .price = "10",
	      .fee = "0.01", .t = 2000),
	   NULL);
	T_EQ_STR(R.bot, "delta_001");
	T_EQ_INT(R.via, BOOK_VIA_DEFAULT);
}

/* ---- errors and limits ---------------------------------------------------------- */

TEST(book_bad_input_is_refused_and_changes_nothing)
{
	struct book_order bad_idx = {.position_idx = 3};

	setup_book(&B);
	ap("solo",
	   EX(.id = "z0", .side = "Buy", .qty = "1", .price = "10",
	      .link = lid("solo_001", "entry"), .t = 1000),
	   NULL);
	T_EQ_INT(
	    ap("nobody", EX(.id = "z1", .side = "Buy", .qty = "1", .price = "10", .t = 2000), NULL),
	    FR_EINVAL);
	T_CHECK(strstr(R.why, "nobody") != NULL);
	T_EQ_INT(ap("solo",
	            EX(.id = "z2", .cat = "futures", .side = "Buy", .qty = "1", .price = "10",
	               .t = 2000),
	            NULL),
	         FR_EINVAL);
	T_EQ_INT(
	    ap("solo", EX(.id = "z3", .side = "Buy", .qty = "0", .price = "10", .t = 2000), NULL),
	    FR_EINVAL);
	T_EQ_INT(
	    ap("solo", EX(.id = "z4", .side = "Buy", .qty = "-1", .price = "10", .t = 2000), NULL),
	    FR_EINVAL);
	T_EQ_INT(
	    ap("solo", EX(.id = "z5", .side = "Hold", .qty = "1", .price = "10", .t = 2000), NULL),
	    FR_EINVAL);
	T_EQ_INT(ap("solo",
	            EX(.id = "z6", .cat = "inverse", .sym = "BTCUSD", .side = "Buy", .qty = "1",
	               .price = "0", .t = 2000),
	            NULL),
	         FR_EINVAL);
	T_EQ_INT(
	    ap("solo", EX(.id = "z7", .side = "Buy", .qty = "1", .price = "-1", .t = 2000), NULL),
	    FR_EINVAL);
	T_EQ_INT(ap("solo", EX(.id = "z8", .side = "Buy", .qty = "1", .price = "10", .t = 2000),
	            &bad_idx),
	         FR_EINVAL);
	T_EQ_INT(
	    ap("solo", EX(.id = "", .side = "Buy", .qty = "1", .price = "10", .t = 2000), NULL),
	    FR_EINVAL);
	T_CHECK(R.why[0] != '\0');
	T_EQ_INT(R.allocs_n + R.positions_n + R.trips_n, 0);
	CHECK_POS(pos("solo", "solo_001", "BTCUSDT"), "1", "10", "0", "0", "0", 1);
	T_CHECK(pos_at("solo", "solo_001", "inverse", "BTCUSD", 0) == NULL);
	T_EQ_INT(book_holders(&B, "solo", "inverse", "BTCUSD"), 0);
	/* a refused fill is not remembered: fixed, it applies */
	T_EQ_INT(
	    ap("solo", EX(.id = "z3", .side = "Buy", .qty = "1", .price = "10", .t = 2000), NULL),
	    BOOK_APPLIED);
	/* a price of 0 is legal outside inverse (an option expiring worthless) */
	T_EQ_INT(
	    ap("solo", EX(.id = "z9", .side = "Buy", .qty = "1", .price = "0", .t = 3000), NULL),
	    BOOK_APPLIED);
}

TEST(book_init_checks_its_options)
{
	struct book_min_size neg = {"BTCUSDT", {-1}};
	struct book_opts o = {DEC_ZERO, &neg, 1};

	setup_cfg();
	T_EQ_INT(book_init(&B, &cfg, &o), FR_EINVAL);
	o.spot_min_n = BOOK_MIN_SIZES_MAX + 1;
	T_EQ_INT(book_init(&B, &cfg, &o), FR_EINVAL);
	T_EQ_INT(book_init(&B, &cfg, NULL), 0);
}

/* Symbols full, then positions full: FR_ENOMEM for the fill that needs a new
 * entry, nothing changed, and a reset makes room. */
TEST(book_full_tables_are_errors_not_crashes)
{
	struct book_order idx[3] = {{.position_idx = 0}, {.position_idx = 1}, {.position_idx = 2}};
	char sym[32], id[32];

	setup_book(&B);
	for (int i = 0; i < BOOK_SYMBOLS_MAX; i++) {
		snprintf(sym, sizeof sym, "S%04dUSDT", i);
		snprintf(id, sizeof id, "s%d", i);
		T_REQUIRE(ap("multi",
		             EX(.id = id, .sym = sym, .side = "Buy", .qty = "1", .price = "1",
		                .link = "alpha_001:entry:1", .t = 1),
		             NULL) == BOOK_APPLIED);
	}
	T_EQ_INT(ap("multi",
	            EX(.id = "one_more", .sym = "ZZZUSDT", .side = "Buy", .qty = "1", .price = "1",
	               .t = 1),
	            NULL),
	         FR_ENOMEM);
	T_CHECK(strstr(R.why, "symbol table full") != NULL);
	/* 1024 positions used; three more per symbol fill 4096 */
	for (int i = 0; i < BOOK_SYMBOLS_MAX; i++) {
		snprintf(sym, sizeof sym, "S%04dUSDT", i);
		for (int k = 1; k <= 3; k++) {
			snprintf(id, sizeof id, "s%d_%d", i, k);
			T_REQUIRE(
			    ap("multi",
			       EX(.id = id, .sym = sym, .side = "Buy", .qty = "1", .price = "1",
			          .link = k == 3 ? "beta_001:entry:1" : "alpha_001:entry:1",
			          .t = 1 + k),
			       k == 3 ? &idx[0] : &idx[k]) == BOOK_APPLIED);
		}
	}
	T_EQ_INT(ap("multi",
	            EX(.id = "p_more", .sym = "S0000USDT", .side = "Buy", .qty = "1", .price = "1",
	               .link = "gamma_001:entry:1", .t = 10),
	            NULL),
	         FR_ENOMEM);
	T_CHECK(strstr(R.why, "position table full") != NULL);
	T_CHECK(pos_at("multi", "gamma_001", "linear", "S0000USDT", 0) == NULL);
	/* an existing position still trades */
	T_EQ_INT(ap("multi",
	            EX(.id = "p_ok", .sym = "S0000USDT", .side = "Buy", .qty = "1", .price = "1",
	               .link = "beta_001:entry:1", .t = 11),
	            NULL),
	         BOOK_APPLIED);
	/* a reset frees S0001's symbol slot and 4 positions; take the positions
	 * back on existing symbols */
	T_EQ_INT(book_reset_symbol(&B, "multi", "linear", "S0001USDT"), 4);
	for (int k = 0; k < 4; k++) {
		snprintf(id, sizeof id, "g%d", k);
		T_REQUIRE(ap("multi",
		             EX(.id = id, .sym = k < 3 ? "S0000USDT" : "S0002USDT", .side = "Buy",
		                .qty = "1", .price = "1", .link = "gamma_001:entry:1", .t = 20),
		             &idx[k % 3]) == BOOK_APPLIED);
	}
	/* a new symbol finds a slot but no position: refused, and its slot given back */
	T_EQ_INT(ap("multi",
	            EX(.id = "z", .sym = "ZZZUSDT", .side = "Buy", .qty = "1", .price = "1",
	               .link = "gamma_001:entry:1", .t = 1),
	            NULL),
	         FR_ENOMEM);
	T_CHECK(strstr(R.why, "position table full") != NULL);
	T_EQ_INT(book_holders(&B, "multi", "linear", "ZZZUSDT"), 0);
	/* with S0003 gone, two symbol slots are free (not one: nothing leaked) */
	T_EQ_INT(book_reset_symbol(&B, "multi", "linear", "S0003USDT"), 4);
	T_EQ_INT(ap("multi",
	            EX(.id = "y", .sym = "YYYUSDT", .side = "Buy", .qty = "1", .price = "1",
	               .link = "gamma_001:entry:1", .t = 1),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_INT(ap("multi",
	            EX(.id = "x", .sym = "XXXUSDT", .side = "Buy", .qty = "1", .price = "1",
	               .link = "gamma_001:entry:1", .t = 1),
	            NULL),
	         BOOK_APPLIED);
	T_EQ_INT(ap("multi",
	            EX(.id = "w", .sym = "WWWUSDT", .side = "Buy", .qty = "1", .price = "1",
	               .link = "gamma_001:entry:1", .t = 1),
	            NULL),
	         FR_ENOMEM);
	T_CHECK(strstr(R.why, "symbol table full") != NULL);
}

TEST(book_position_iteration_and_order_copy)
{
	struct decode_order d;
	struct book_order o;
	const struct book_position *p;
	int cursor = 0, n = 0;

	setup_book(&B);
	ap("multi",
	   EX(.id = "i1", .side = "Buy", .qty = "1", .price = "1", .link = "alpha_001:entry:1",
	      .t = 1),
	   NULL);
	ap("multi",
	   EX(.id = "i2", .sym = "ETHUSDT", .side = "Buy", .qty = "1", .price = "1",
	      .link = "beta_001:entry:1", .t = 1),
	   NULL);
	while ((p = book_position_next(&B, &cursor)))
		n++;
	T_EQ_INT(n, 2);
	memset(&d, 0, sizeof d);
	d.position_idx.present = 1;
	d.position_idx.v = 2;
	strcpy(d.order_link_id, "x");
	strcpy(d.parent_order_link_id, "y");
	strcpy(d.create_type, "CreateByStopLoss");
	strcpy(d.stop_order_type, "StopLoss");
	book_order_from_decode(&o, &d);
	T_EQ_INT(o.position_idx, 2);
	T_EQ_STR(o.parent_order_link_id, "y");
	T_EQ_STR(o.stop_order_type, "StopLoss");
	T_EQ_STR(book_side_name(BOOK_SHORT), "short");
	T_EQ_STR(book_status_name(BOOK_LATE), "late");
	T_CHECK(book_status_name(-1) == NULL);
}

/* ---- properties over random fill sequences ------------------------------------- */

/*
 * A sequence is PT_FILLS_MIN..PT_FILLS_MAX fills over five symbols: BTCUSDT
 * linear, BTCUSD inverse, ETHUSDT spot (fees in base or quote coin, dust) and
 * SOLUSDT linear in hedge mode on account multi (alpha, beta, gamma, no
 * default_bot), and BTCUSDT linear on multi_d (delta, eps, default delta).
 * Fills: trades attributed every way (wire and colon ids, parent ids, foreign
 * hex, "", another account's bot), exchange closes (BustTrade, AdlTrade,
 * Delivery, StopLoss, TakeProfit; partial, whole, larger than the net),
 * Funding (paid and received), CorporateAction/UNKNOWN; execTimes that tie,
 * seq absent or not. Generated with xorshift64* from a printed seed.
 */
#define PT_FILLS_MIN 8
#define PT_FILLS_MAX 80
#define PT_ROWS_MAX 2048
#define PT_KEYS 5
#define PT_SEED 0x5eedb00c2024ULL

static const struct pt_key {
	const char *account, *category, *symbol;
	int hedge;
	int nbots;
	const char *bots[3];
} pt_keys[PT_KEYS] = {
    {"multi", "linear", "BTCUSDT", 0, 3, {"alpha_001", "beta_001", "gamma_001"}},
    {"multi", "inverse", "BTCUSD", 0, 3, {"alpha_001", "beta_001", "gamma_001"}},
    {"multi", "spot", "ETHUSDT", 0, 3, {"alpha_001", "beta_001", "gamma_001"}},
    {"multi", "linear", "SOLUSDT", 1, 3, {"alpha_001", "beta_001", "gamma_001"}},
    {"multi_d", "linear", "BTCUSDT", 0, 2, {"delta_001", "eps_001"}},
};

struct pt_fill {
	struct decode_exec x;
	struct book_order o;
	int key;
	int moves; /* a size-moving execType */
};

struct pt_seq {
	int n;
	struct pt_fill f[PT_FILLS_MAX];
};

struct pt_rows {
	int n;
	int key[PT_ROWS_MAX];
	struct book_trip t[PT_ROWS_MAX];
};

/* One book fed by the caller's protocol, with the trades_pnl rows it wrote. */
struct pt_run {
	struct book *b;
	const struct pt_seq *q;
	int received[PT_FILLS_MAX];
	int rebuild_key;
	int rebuilds;
	int errors;
	struct pt_rows rows;
};

static uint64_t pt_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static int pt_rnd(uint64_t *s, int n)
{
	return (int)(pt_next(s) % (uint64_t)n);
}

/* units * 10^-places, exactly. */
static struct dec U(int64_t units, int places) {
	struct dec d, p = dec_from_int(1), ten = dec_from_int(10);

	for (int i = 0; i < places; i++)
		dec_mul(&p, p, ten, DEC_ROUND_HALF_EVEN);
	dec_div(&d, dec_from_int(units), p, DEC_ROUND_HALF_EVEN);
	return d;
}

static void
pt_set(struct decode_dec *d, struct dec v)
{
	d->v = v;
	d->present = 1;
}

/* A random size on the key's grid, price and fee. */
static struct dec pt_qty(uint64_t *r, int key)
{
	if (key == 1)
		return U(1 + pt_rnd(r, 500), 0); /* USD contracts */
	if (key == 2)
		return U(1 + pt_rnd(r, 100), 2); /* 0.01 .. 1 ETH */
	return U(1 + pt_rnd(r, 50), 3);          /* 0.001 .. 0.05 */
}

static struct dec pt_price(uint64_t *r, int key)
{
	if (key == 1)
		return U(40000 + pt_rnd(r, 20001), 1); /* 20000 .. 30000 by 0.5 */
	if (key == 2)
		return U(190000 + pt_rnd(r, 20001), 2);
	return U(900 + pt_rnd(r, 201), 1);
}

/* Fee and fee coin of a fill of key; spot fees may be in the base coin. */
static void pt_fee(uint64_t *r, struct pt_fill *f)
{
	struct decode_exec *x = &f->x;

	if (f->key == 2) {
		int coin = pt_rnd(r, 3); /* ETH (base), USDT (quote), "" (by side) */
		int base = coin == 0 || (coin == 2 && strcmp(x->side, "Buy") == 0);

		strcpy(x->fee_currency, coin == 0 ? "ETH" : coin == 1 ? "USDT" : "");
		if (base) /* 0.1% of the quantity, in ETH */
			dec_mul(&x->exec_fee.v, x->exec_qty.v, U(1, 3), DEC_ROUND_HALF_EVEN);
		else
			x->exec_fee.v = U(pt_rnd(r, 200000), 5);
		x->exec_fee.present = 1;
		return;
	}
	strcpy(x->fee_currency, f->key == 1 ? "BTC" : "USDT");
	pt_set(&x->exec_fee,
	       f->key == 1 ? U(pt_rnd(r, 1000), 8) : U(pt_rnd(r, 5000001) - 500000, 8));
}

/* Who the fill names: our ids (wire, colon), a parent, foreign ids, "". */
static void pt_attribution(uint64_t *r, struct pt_fill *f)
{
	static const char *const reasons[] = {"entry",  "scale_in", "ma_exit",
	                                      "rule_7", "vb",       "time_exit"};
	const struct pt_key *k = &pt_keys[f->key];
	const char *bot = k->bots[pt_rnd(r, k->nbots)];
	const char *reason = reasons[pt_rnd(r, 6)];
	char *link = f->x.order_link_id;
	int how = pt_rnd(r, 10);

	if (how <= 4)
		strcpy(link, lid(bot, reason));
	else if (how == 5)
		snprintf(link, DECODE_ID_MAX, "%s:%s:%d", bot, reason, 1678886400 + how);
	else if (how == 6)
		strcpy(f->o.parent_order_link_id, lid(bot, "entry"));
	else if (how == 7)
		snprintf(link, DECODE_ID_MAX, "%016llx%016llx", (unsigned long long)pt_next(r),
		         (unsigned long long)pt_next(r));
	else if (how == 8)
		strcpy(f->x.create_type, "CreateByUser");
	else
		strcpy(link, lid("momentum_001", "entry"));
}

/* An exchange close of the modelled net; 0 when there is no net to close. */
static int pt_exchange_close(uint64_t *r, struct pt_fill *f, struct dec net)
{
	static const char *const types[] = {"BustTrade", "AdlTrade", "Delivery", "Trade", "Trade"};
	int t = pt_rnd(r, 5), how = pt_rnd(r, 10);
	struct dec mag = dec_abs(net), q = pt_qty(r, f->key);

	if (dec_is_zero(net))
		return 0;
	strcpy(f->x.exec_type, types[t]);
	if (t == 3) {
		strcpy(f->x.create_type, "CreateByStopLoss");
		strcpy(f->x.stop_order_type, "StopLoss");
	} else if (t == 4) {
		strcpy(f->x.stop_order_type, "TakeProfit");
	}
	strcpy(f->x.side, dec_sign(net) > 0 ? "Sell" : "Buy");
	if (how < 7)
		q = dec_min(q, mag);
	else if (how < 9)
		q = mag;
	else
		dec_add(&q, q, mag); /* larger than the net: an excess */
	pt_set(&f->x.exec_qty, q);
	return 1;
}

static int pt_cmp(const void *a, const void *b)
{
	return book_fill_cmp(&((const struct pt_fill *)a)->x, &((const struct pt_fill *)b)->x);
}

static void pt_generate(struct pt_seq *q, uint64_t seed)
{
	struct dec net[PT_KEYS][3];
	uint64_t r = seed ? seed : 1;
	int64_t t = T0_MS;

	memset(net, 0, sizeof net);
	q->n = PT_FILLS_MIN + pt_rnd(&r, PT_FILLS_MAX - PT_FILLS_MIN + 1);
	for (int i = 0; i < q->n; i++) {
		struct pt_fill *f = &q->f[i];
		struct decode_exec *x = &f->x;
		int key = pt_rnd(&r, PT_KEYS), roll = pt_rnd(&r, 100);
		int idx = pt_keys[key].hedge ? 1 + pt_rnd(&r, 2) : 0;

		memset(f, 0, sizeof *f);
		f->key = key;
		f->o.position_idx = idx;
		strcpy(x->category, pt_keys[key].category);
		strcpy(x->symbol, pt_keys[key].symbol);
		snprintf(x->exec_id, sizeof x->exec_id, "%016llx", (unsigned long long)pt_next(&r));
		t += pt_rnd(&r, 3); /* ties happen */
		x->exec_time_ms = t;
		x->seq.present = pt_rnd(&r, 10) != 0;
		x->seq.v = x->seq.present ? pt_rnd(&r, 1000) : 0;
		strcpy(x->exec_type, "Trade");
		strcpy(x->side, pt_rnd(&r, 2) ? "Buy" : "Sell");
		pt_set(&x->exec_qty, pt_qty(&r, key));
		pt_set(&x->exec_price, pt_price(&r, key));
		if (roll < 15 && pt_exchange_close(&r, f, net[key][idx])) {
			/* done: an exchange close with an empty orderLinkId */
		} else if (roll < 30) {
			strcpy(x->exec_type, "Funding");
			if (!dec_is_zero(net[key][idx]))
				pt_set(&x->exec_qty, dec_abs(net[key][idx]));
		} else if (roll < 35) {
			strcpy(x->exec_type, pt_rnd(&r, 2) ? "CorporateAction" : "UNKNOWN");
			pt_attribution(&r, f);
		} else {
			pt_attribution(&r, f);
		}
		pt_fee(&r, f);
		if (strcmp(x->exec_type, "Funding") == 0)
			pt_set(&x->exec_fee, U(pt_rnd(&r, 2000001) - 1000000, 8));
		f->moves = strcmp(x->exec_type, "Funding") != 0 &&
		           strcmp(x->exec_type, "CorporateAction") != 0 &&
		           strcmp(x->exec_type, "UNKNOWN") != 0;
		if (f->moves) {
			struct dec d = x->exec_qty.v;

			dec_add(&net[key][idx], net[key][idx],
			        strcmp(x->side, "Buy") == 0 ? d : dec_neg(d));
		}
	}
	qsort(q->f, (size_t)q->n, sizeof q->f[0], pt_cmp); /* exchange order */
}

static void pt_add_rows(struct pt_run *u, int key, const struct book_result *r)
{
	for (int i = 0; i < r->trips_n; i++) {
		if (u->rows.n == PT_ROWS_MAX) {
			u->errors++;
			return;
		}
		u->rows.key[u->rows.n] = key;
		u->rows.t[u->rows.n++] = r->trips[i];
	}
}

static void pt_on_rebuilt(void *ctx, const struct book_input *in, const struct book_result *r)
{
	struct pt_run *u = ctx;

	(void)in;
	pt_add_rows(u, u->rebuild_key, r);
}

/* The caller's side of BOOK_LATE: rebuild the symbol from every fill of it
 * received so far, in exchange order, and rewrite its trades_pnl rows. */
static void pt_rebuild(struct pt_run *u, int key)
{
	static struct book_input in[PT_FILLS_MAX];
	int n = 0, kept = 0;

	for (int j = 0; j < u->q->n; j++) /* q is sorted, so in is too */
		if (u->received[j] && u->q->f[j].key == key)
			in[n++] = (struct book_input){&u->q->f[j].x, &u->q->f[j].o};
	for (int i = 0; i < u->rows.n; i++)
		if (u->rows.key[i] != key) {
			u->rows.key[kept] = u->rows.key[i];
			u->rows.t[kept++] = u->rows.t[i];
		}
	u->rows.n = kept;
	u->rebuild_key = key;
	u->rebuilds++;
	if (book_rebuild(u->b, pt_keys[key].account, in, (size_t)n, &R, pt_on_rebuilt, u) != 0) {
		printf("      rebuild failed: %s\n", R.why);
		u->errors++;
	}
}

/* Delivers fill i the way the sink does; counts protocol violations. */
static void pt_deliver(struct pt_run *u, int i)
{
	const struct pt_fill *f = &u->q->f[i];
	int rc = book_apply(u->b, pt_keys[f->key].account, &f->x, &f->o, &R);

	if (rc == BOOK_APPLIED) {
		if (u->received[i]) { /* a fill applied twice */
			printf("      %s applied twice\n", f->x.exec_id);
			u->errors++;
		}
		u->received[i] = 1;
		pt_add_rows(u, f->key, &R);
	} else if (rc == BOOK_DUPLICATE) {
		if (!u->received[i]) { /* a new fill taken for a duplicate: lost */
			printf("      %s lost as a duplicate\n", f->x.exec_id);
			u->errors++;
		}
	} else if (rc == BOOK_LATE) {
		u->received[i] = 1;
		pt_rebuild(u, f->key);
	} else {
		printf("      %s: %s\n", f->x.exec_id, R.why);
		u->errors++;
	}
}

static void pt_start(struct pt_run *u, struct book *b, const struct pt_seq *q)
{
	for (int k = 0; k < PT_KEYS; k++)
		book_reset_symbol(b, pt_keys[k].account, pt_keys[k].category, pt_keys[k].symbol);
	memset(u, 0, offsetof(struct pt_run, rows));
	u->b = b;
	u->q = q;
	u->rows.n = 0;
}

static int pt_trip_cmp(const struct book_trip *a, int ka, const struct book_trip *b, int kb)
{
	int c = ka - kb;

	if (c == 0)
		c = strcmp(a->bot, b->bot);
	if (c == 0)
		c = (a->trade_seq > b->trade_seq) - (a->trade_seq < b->trade_seq);
	return c;
}

static int same_trip(const struct book_trip *a, const struct book_trip *b)
{
	return strcmp(a->account, b->account) == 0 && strcmp(a->bot, b->bot) == 0 &&
	       strcmp(a->category, b->category) == 0 && strcmp(a->symbol, b->symbol) == 0 &&
	       a->position_idx == b->position_idx && a->trade_seq == b->trade_seq &&
	       a->side == b->side && strcmp(a->entry_reason, b->entry_reason) == 0 &&
	       strcmp(a->close_reason, b->close_reason) == 0 &&
	       a->opened_at_ms == b->opened_at_ms && a->closed_at_ms == b->closed_at_ms &&
	       dec_cmp(a->qty, b->qty) == 0 && dec_cmp(a->gross_pnl, b->gross_pnl) == 0 &&
	       dec_cmp(a->fees, b->fees) == 0 && dec_cmp(a->funding, b->funding) == 0 &&
	       dec_cmp(a->net_pnl, b->net_pnl) == 0 && strcmp(a->currency, b->currency) == 0;
}

/* Sorts the rows by (symbol key, bot, trade_seq): their unique key. */
static void pt_sort_rows(struct pt_rows *w)
{
	for (int i = 1; i < w->n; i++)
		for (int j = i;
		     j > 0 && pt_trip_cmp(&w->t[j - 1], w->key[j - 1], &w->t[j], w->key[j]) > 0;
		     j--) {
			struct book_trip t = w->t[j];
			int k = w->key[j];

			w->t[j] = w->t[j - 1];
			w->key[j] = w->key[j - 1];
			w->t[j - 1] = t;
			w->key[j - 1] = k;
		}
}

/* Identical positions (every field) and identical trades_pnl rows. */
static int pt_same_state(struct pt_run *x, struct pt_run *y)
{
	if (!same_books(x->b, y->b))
		return 0;
	pt_sort_rows(&x->rows);
	pt_sort_rows(&y->rows);
	if (x->rows.n != y->rows.n) {
		printf("      %d trades_pnl rows vs %d\n", x->rows.n, y->rows.n);
		return 0;
	}
	for (int i = 0; i < x->rows.n; i++)
		if (x->rows.key[i] != y->rows.key[i] || !same_trip(&x->rows.t[i], &y->rows.t[i])) {
			printf("      row %d differs: %s seq %lld net %s vs %s\n", i,
			       x->rows.t[i].bot, (long long)x->rows.t[i].trade_seq,
			       S(x->rows.t[i].net_pnl), S(y->rows.t[i].net_pnl));
			return 0;
		}
	return 1;
}

/* Applies q in exchange order: nothing may be late or a duplicate. */
static void pt_in_order(struct pt_run *u, struct book *b, const struct pt_seq *q)
{
	pt_start(u, b, q);
	for (int i = 0; i < q->n; i++)
		pt_deliver(u, i);
	if (u->rebuilds)
		u->errors++;
}

/* Per symbol, the bots' sizes add up exactly to the net of the size-moving
 * fills (linear and inverse: spot fees in the base coin and dust are apart). */
static int pt_sizes_add_up(const struct book *b, const struct pt_seq *q)
{
	for (int k = 0; k < PT_KEYS; k++) {
		struct dec want = DEC_ZERO, got = DEC_ZERO;
		const struct book_position *p;
		int cursor = 0;

		if (strcmp(pt_keys[k].category, "spot") == 0)
			continue;
		for (int i = 0; i < q->n; i++)
			if (q->f[i].key == k && q->f[i].moves)
				dec_add(&want, want,
				        strcmp(q->f[i].x.side, "Buy") == 0
				            ? q->f[i].x.exec_qty.v
				            : dec_neg(q->f[i].x.exec_qty.v));
		while ((p = book_position_next(b, &cursor)))
			if (strcmp(p->account, pt_keys[k].account) == 0 &&
			    strcmp(p->category, pt_keys[k].category) == 0 &&
			    strcmp(p->symbol, pt_keys[k].symbol) == 0)
				dec_add(&got, got, p->size);
		if (dec_cmp(want, got) != 0) {
			printf("      %s %s: sizes sum to %s, fills to %s\n", pt_keys[k].account,
			       pt_keys[k].symbol, S(got), S(want));
			return 0;
		}
	}
	return 1;
}

/*
 * Money is conserved, per linear symbol: the cash of the size-moving fills
 * (sells +qty*price, buys -qty*price) equals, over the bots' positions,
 * realized_pnl minus the basis still held (plus for a short: what it sold and
 * has not bought back); fees add up exactly to the fills' execFee, funding to
 * the Funding fills' execFee, however the book split them. The cash is exact
 * unless a pro-rata split left 18-place sizes, whose products with a price
 * round (book.h, "Rounding"): at most 5e-19 per product, a few products per
 * part, at most 3 parts per fill here: 1e-17 per fill bounds it.
 */
static int pt_money_conserved(const struct book *b, const struct pt_seq *q)
{
	for (int k = 0; k < PT_KEYS; k++) {
		struct dec cash = DEC_ZERO, fees = DEC_ZERO, funding = DEC_ZERO;
		struct dec got = DEC_ZERO, got_fees = DEC_ZERO, got_funding = DEC_ZERO, v, diff;
		const struct book_position *p;
		int cursor = 0, fills = 0;

		if (strcmp(pt_keys[k].category, "linear") != 0)
			continue;
		for (int i = 0; i < q->n; i++) {
			const struct decode_exec *x = &q->f[i].x;

			if (q->f[i].key != k)
				continue;
			fills++;
			if (strcmp(x->exec_type, "Funding") == 0)
				dec_add(&funding, funding, x->exec_fee.v);
			if (!q->f[i].moves)
				continue;
			dec_mul(&v, x->exec_qty.v, x->exec_price.v, DEC_ROUND_HALF_EVEN);
			dec_add(&cash, cash, strcmp(x->side, "Buy") == 0 ? dec_neg(v) : v);
			dec_add(&fees, fees, x->exec_fee.v);
		}
		while ((p = book_position_next(b, &cursor))) {
			if (strcmp(p->account, pt_keys[k].account) != 0 ||
			    strcmp(p->category, pt_keys[k].category) != 0 ||
			    strcmp(p->symbol, pt_keys[k].symbol) != 0)
				continue;
			dec_add(&got, got, p->realized_pnl);
			dec_sub(&got, got, dec_sign(p->size) < 0 ? dec_neg(p->basis) : p->basis);
			dec_add(&got_fees, got_fees, p->fees);
			dec_add(&got_funding, got_funding, p->funding);
		}
		dec_sub(&diff, cash, got);
		if (dec_cmp(dec_abs(diff), U(fills, 17)) > 0 || dec_cmp(fees, got_fees) != 0 ||
		    dec_cmp(funding, got_funding) != 0) {
			printf("      %s %s: cash %s vs %s, fees %s vs %s, funding %s vs %s\n",
			       pt_keys[k].account, pt_keys[k].symbol, S(cash), S(got), S(fees),
			       S(got_fees), S(funding), S(got_funding));
			return 0;
		}
	}
	return 1;
}

static struct pt_seq pt_q;
static struct pt_run pt_a, pt_b;

static void pt_report(const char *what, uint64_t seed, int seq)
{
	printf("    %s: failed for seed %#llx (sequence %d; rerun with that seed)\n", what,
	       (unsigned long long)seed, seq);
}

static uint64_t pt_seed(int i)
{
	return PT_SEED ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL);
}

#define PT_SUM_SEQUENCES 3000
#define PT_PERMUTATION_SEQUENCES 2000
#define PT_PREFIX_SEQUENCES 1000

TEST(book_property_sizes_and_money_add_up)
{
	int failures = 0, fills = 0, trips = 0;

	setup_book(&B);
	for (int i = 0; i < PT_SUM_SEQUENCES && !failures; i++) {
		pt_generate(&pt_q, pt_seed(i));
		pt_in_order(&pt_a, &B, &pt_q);
		fills += pt_q.n;
		trips += pt_a.rows.n;
		if (pt_a.errors || !pt_sizes_add_up(&B, &pt_q) || !pt_money_conserved(&B, &pt_q)) {
			pt_report("sizes and money", pt_seed(i), i);
			failures++;
		}
	}
	T_EQ_INT(failures, 0);
	T_CHECK(trips > fills / 10); /* the sequences do close round trips */
	T_CHECK(B.stats.netted > 100 && B.stats.dust > 10 && B.stats.no_effect > 100);
	printf("    %d sequences, %d fills, %d round trips, %llu netted, %llu dust\n",
	       PT_SUM_SEQUENCES, fills, trips, (unsigned long long)B.stats.netted,
	       (unsigned long long)B.stats.dust);
}

/* Any arrival order, with duplicates thrown in and the rebuild-on-late
 * protocol, ends in the state of in-order application. */
TEST(book_property_any_arrival_order_gives_the_same_state)
{
	int failures = 0, rebuilds = 0;
	int order[2 * PT_FILLS_MAX];

	setup_book(&B);
	setup_book(&B2);
	for (int i = 0; i < PT_PERMUTATION_SEQUENCES && !failures; i++) {
		uint64_t r = pt_seed(i) ^ 0xA5A5A5A5ULL;
		int n;

		pt_generate(&pt_q, pt_seed(i));
		pt_in_order(&pt_a, &B, &pt_q);
		/* arrival: a shuffle, plus up to n/4 re-sent fills */
		n = pt_q.n;
		for (int j = 0; j < pt_q.n; j++)
			order[j] = j;
		for (int j = pt_rnd(&r, pt_q.n / 4 + 1); j > 0; j--)
			order[n++] = pt_rnd(&r, pt_q.n);
		for (int j = n - 1; j > 0; j--) {
			int k = pt_rnd(&r, j + 1), t = order[j];

			order[j] = order[k];
			order[k] = t;
		}
		pt_start(&pt_b, &B2, &pt_q);
		for (int j = 0; j < n; j++)
			pt_deliver(&pt_b, order[j]);
		rebuilds += pt_b.rebuilds;
		if (pt_a.errors || pt_b.errors || !pt_same_state(&pt_a, &pt_b)) {
			pt_report("arrival order", pt_seed(i), i);
			failures++;
		}
	}
	T_EQ_INT(failures, 0);
	T_CHECK(rebuilds > PT_PERMUTATION_SEQUENCES); /* the protocol was exercised */
	printf("    %d sequences, %d rebuilds\n", PT_PERMUTATION_SEQUENCES, rebuilds);
}

/* After the whole sequence, replaying any prefix again changes nothing. */
TEST(book_property_replaying_a_prefix_changes_nothing)
{
	int failures = 0;

	setup_book(&B);
	setup_book(&B2);
	for (int i = 0; i < PT_PREFIX_SEQUENCES && !failures; i++) {
		uint64_t r = pt_seed(i) ^ 0x5A5A5A5AULL;
		int k;

		pt_generate(&pt_q, pt_seed(i));
		pt_in_order(&pt_a, &B, &pt_q);
		pt_in_order(&pt_b, &B2, &pt_q);
		k = pt_rnd(&r, pt_q.n + 1);
		for (int j = 0; j < k; j++)
			pt_deliver(&pt_b, j);
		if (pt_a.errors || pt_b.errors || !pt_same_state(&pt_a, &pt_b)) {
			pt_report("prefix replay", pt_seed(i), i);
			failures++;
		}
	}
	T_EQ_INT(failures, 0);
}
