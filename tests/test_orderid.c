/*
 * test_orderid.c -- the client order id (orderid.h): exact format, a million
 * ids unique and valid under a frozen and an advancing clock, two processes at
 * once, the clock stepping back, restarts, the seed guide's ids, aliases
 * (built-in, configured, checked), refusals and their messages, foreign ids,
 * oversized and byte-at-a-time input, and the C helper for bots
 * (src/clients/fillrelay_orderid.h) agreeing with the module on every input.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "clients/fillrelay_orderid.h"
#include "orderid.h"
#include "t.h"

#define MILLION 1000000
#define T0_MS 1678886400000LL /* the seed guide's 1678886400, in ms */

struct id_slot {
	char s[ORDERID_MAX + 1];
};

/* Big: static. One million ids of 37 bytes, reused by the tests in turn. */
static struct id_slot slots[MILLION];
static struct cfg cfg;
static struct cfg_error cerr;

#define MINIMAL                                                                                    \
	"[account main]\napi_key = KEYmain0123456789\n"                                            \
	"api_secret = SECRETmain0123456789abcdef\n[bot alpha_001]\n"                               \
	"[postgres]\nconninfo = host=127.0.0.1\n"

static int load_cfg(const char *reasons)
{
	char text[2048];
	int n = snprintf(text, sizeof text, "%s[reasons]\n%s", MINIMAL, reasons);

	if (cfg_parse(&cfg, text, (size_t)n, "t.conf", &cerr) != 0) {
		printf("    cfg: line %d: %s\n", cerr.line, cerr.msg);
		return -1;
	}
	return 0;
}

static int cmp_slot(const void *a, const void *b)
{
	return strcmp(((const struct id_slot *)a)->s, ((const struct id_slot *)b)->s);
}

/* Sorts slots[0..n) and counts ids equal to their predecessor. */
static long duplicates(size_t n)
{
	long dups = 0;

	qsort(slots, n, sizeof slots[0], cmp_slot);
	for (size_t i = 1; i < n; i++)
		if (strcmp(slots[i - 1].s, slots[i].s) == 0) {
			if (dups++ < 3)
				printf("    duplicate id %s\n", slots[i].s);
		}
	return dups;
}

/* 1 when id is a well-formed wire id that parses back to bot and reason. */
static int valid(const char *id, const char *bot, const char *reason, int64_t ms)
{
	struct orderid_parsed p;
	size_t n = strlen(id);

	if (n > ORDERID_MAX || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                  "0123456789_-") != n)
		return 0;
	if (orderid_parse(id, n, NULL, &p) != 0)
		return 0;
	return strcmp(p.bot, bot) == 0 && strcmp(p.reason, reason) == 0 && p.stamp_ms == ms &&
	       p.form == ORDERID_FORM_WIRE;
}

static int gen(struct orderid_gen *g, const struct cfg *c, const char *bot, const char *reason,
               int64_t ms, char out[ORDERID_MAX + 1])
{
	char err[ERR_MSG_MAX];
	int rc = orderid_new(g, c, bot, reason, ms, out, err, sizeof err);

	if (rc < 0)
		printf("    orderid_new(%s, %s): %s\n", bot, reason, err);
	return rc;
}

TEST(orderid_exact_format)
{
	struct orderid_gen g;
	struct orderid_parsed p;
	char id[ORDERID_MAX + 1];

	/* Values computed apart with Python's int(s, 36): 0lf9pm51c is 1678886400000,
	 * 64sgsf is (2^64 - 1) mod 36^6. */
	orderid_gen_init(&g, 0);
	T_EQ_INT(gen(&g, NULL, "shortseller_001", "entry", T0_MS, id), 34);
	T_EQ_STR(id, "shortseller_001-en-0lf9pm51c000000");
	T_EQ_INT(gen(&g, NULL, "shortseller_001", "entry", T0_MS, id), 34);
	T_EQ_STR(id, "shortseller_001-en-0lf9pm51c000001");
	orderid_gen_init(&g, UINT64_MAX);
	T_EQ_INT(gen(&g, NULL, "lxalgo_001", "rule_3", 0, id), 29);
	T_EQ_STR(id, "lxalgo_001-r3-00000000064sgsf");
	T_EQ_INT(gen(&g, NULL, "momentum_001", "volatility_breakout", ORDERID_MS_LIMIT - 1, id),
	         31);
	T_EQ_STR(id, "momentum_001-vb-zzzzzzzzz64sgsg");
	T_REQUIRE(orderid_parse(id, strlen(id), NULL, &p) == 0);
	T_EQ_STR(p.bot, "momentum_001");
	T_EQ_STR(p.reason, "volatility_breakout");
	T_EQ_STR(p.reason_wire, "vb");
	T_EQ_INT(p.stamp_ms, ORDERID_MS_LIMIT - 1);
	T_EQ_INT(p.unique, 370843648);
	T_EQ_STR(orderid_form_name(p.form), "wire");
	/* The counter wraps within UNIQUE: 36^6 - 1, then 0. */
	orderid_gen_init(&g, ORDERID_UNIQUE_MOD - 1);
	gen(&g, NULL, "b", "x", 1, id);
	T_EQ_STR(id, "b-x-000000001zzzzzz");
	gen(&g, NULL, "b", "x", 1, id);
	T_EQ_STR(id, "b-x-000000001000000");
	T_EQ_STR(orderid_form_name(ORDERID_FORM_COLON), "colon");
	T_CHECK(orderid_form_name((enum orderid_form)0) == NULL);
}

/* n ids of one bot and reason; clock: ms of id i. Returns ids that fail valid(). */
static long make_million(uint64_t seed, int64_t (*clock)(size_t i))
{
	struct orderid_gen g;
	long bad = 0;

	orderid_gen_init(&g, seed);
	for (size_t i = 0; i < MILLION; i++) {
		char err[ERR_MSG_MAX];
		int64_t ms = clock(i);

		if (orderid_new(&g, NULL, "shortseller_001", "trailing_stop", ms, slots[i].s, err,
		                sizeof err) < 0 ||
		    !valid(slots[i].s, "shortseller_001", "trailing_stop", ms))
			bad++;
	}
	return bad;
}

static int64_t frozen(size_t i)
{
	(void)i;
	return T0_MS;
}

static int64_t advancing(size_t i)
{
	return T0_MS + (int64_t)(i / 7); /* seven ids per millisecond */
}

TEST(orderid_million_frozen_clock_unique_and_valid)
{
	T_EQ_INT(make_million(0x5eed0001, frozen), 0);
	T_EQ_INT(duplicates(MILLION), 0);
	/* A start near the top of UNIQUE wraps around inside the run. */
	T_EQ_INT(make_million(ORDERID_UNIQUE_MOD - MILLION / 2, frozen), 0);
	T_EQ_INT(duplicates(MILLION), 0);
}

TEST(orderid_million_advancing_clock_unique_and_valid)
{
	T_EQ_INT(make_million(0x5eed0002, advancing), 0);
	T_EQ_INT(duplicates(MILLION), 0);
}

/* Within one process the clock may step back any number of times. */
TEST(orderid_clock_stepping_back_does_not_repeat)
{
	struct orderid_gen g;
	size_t n = 0;
	long bad = 0;

	orderid_gen_init(&g, 12345);
	for (int round = 0; round < 50; round++)           /* NTP steps back 2 s, 50 times */
		for (int64_t ms = 0; ms < 2000; ms += 1) { /* over the same two seconds */
			if (gen(&g, NULL, "momentum_001", "ma_exit", T0_MS + ms, slots[n].s) < 0)
				bad++;
			n++;
		}
	T_EQ_INT(bad, 0);
	T_EQ_INT(n, 100000);
	T_EQ_INT(duplicates(n), 0);
}

/*
 * A restart (a new seed) after the clock stepped back re-lives the same
 * milliseconds. Each run walks its own UNIQUE values from a random start, so
 * two runs can meet only where their walks overlap: for 5 runs of 4,000 ids on
 * five milliseconds, the chance of any collision is below 5*4*2*4000/36^6 =
 * 7e-5 (an overlap must also land on the same millisecond). That is the
 * scheme's property, not the test's flakiness; with ids spread over real
 * milliseconds it is orders of magnitude lower.
 */
TEST(orderid_restarts_on_the_same_milliseconds_do_not_collide)
{
	size_t n = 0;
	long bad = 0;

	for (int run = 0; run < 5; run++) {
		struct orderid_gen g;
		uint64_t seed;

		T_REQUIRE(orderid_seed(&seed) == 0);
		orderid_gen_init(&g, seed);
		for (int i = 0; i < 4000; i++, n++)
			if (gen(&g, NULL, "lxalgo_001", "rule_3", T0_MS + i % 5, slots[n].s) < 0)
				bad++;
	}
	T_EQ_INT(bad, 0);
	T_EQ_INT(duplicates(n), 0);
}

#define FORK_IDS 20000

/* Child: FORK_IDS ids on the frozen clock into path; never returns. */
static void child_generate(const char *path)
{
	struct orderid_gen g;
	uint64_t seed;
	FILE *f = fopen(path, "w");
	char id[ORDERID_MAX + 1], err[ERR_MSG_MAX];
	int ok = f && orderid_seed(&seed) == 0;

	if (ok)
		orderid_gen_init(&g, seed);
	for (int i = 0; ok && i < FORK_IDS; i++)
		ok = orderid_new(&g, NULL, "shortseller_001", "entry", T0_MS, id, err, sizeof err) >
		         0 &&
		     fprintf(f, "%s\n", id) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	_exit(ok ? 0 : 1);
}

static size_t read_ids(const char *path, size_t at)
{
	FILE *f = fopen(path, "r");
	char line[128];
	size_t n = 0;

	while (f && fgets(line, sizeof line, f) && at + n < MILLION) {
		line[strcspn(line, "\n")] = '\0';
		if (strlen(line) <= ORDERID_MAX)
			memcpy(slots[at + n++].s, line, strlen(line) + 1);
	}
	if (f)
		fclose(f);
	return n;
}

/*
 * Two processes generate at once, each seeded from getrandom, both clocks
 * frozen on one millisecond: the union is unique. (Chance of a collision for
 * the scheme: 2 * FORK_IDS / 36^6 = 1.8e-5; see orderid.h.)
 */
TEST(orderid_two_processes_at_once_do_not_collide)
{
	char path[2][512];
	pid_t pid[2];
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		snprintf(path[i], sizeof path[i], "%s/orderid_child%d", t_tmpdir(), i);
		fflush(NULL);
		pid[i] = fork();
		T_REQUIRE(pid[i] >= 0);
		if (pid[i] == 0)
			child_generate(path[i]);
	}
	for (int i = 0; i < 2; i++) {
		int status = 0;

		T_REQUIRE(waitpid(pid[i], &status, 0) == pid[i]);
		T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	n += read_ids(path[0], n);
	n += read_ids(path[1], n);
	T_EQ_INT(n, 2 * FORK_IDS);
	for (size_t i = 0; i < n; i++)
		if (!valid(slots[i].s, "shortseller_001", "entry", T0_MS)) {
			T_CHECK(!"every child id is valid");
			break;
		}
	T_EQ_INT(duplicates(n), 0);
}

static void expect_parse(const char *id, const struct cfg *c, const char *bot, const char *reason,
                         int64_t ms, enum orderid_form form)
{
	struct orderid_parsed p;

	if (!T_EQ_INT(orderid_parse(id, strlen(id), c, &p), 0)) {
		printf("      id %s\n", id);
		return;
	}
	T_EQ_STR(p.bot, bot);
	T_EQ_STR(p.reason, reason);
	T_EQ_INT(p.stamp_ms, ms);
	T_EQ_INT(p.form, form);
}

/* Every id of seed/BOT_INTEGRATION_GUIDE.md: its examples and its f-strings. */
TEST(orderid_seed_guide_ids_parse)
{
	static const struct {
		const char *bot, *reason;
	} fstrings[] = {
	    /* f"{self.bot_id}:{order_reason}:{int(time.time())}" with the guide's bots */
	    {"shortseller_001", "entry"},
	    {"shortseller_001", "trailing_stop"},
	    {"lxalgo_001", "entry"},
	    {"lxalgo_001", "rule_1"},
	    {"lxalgo_001", "rule_2"},
	    {"lxalgo_001", "rule_42"},
	    {"momentum_001", "volatility_breakout"},
	    {"momentum_001", "ma_exit"},
	    {"momentum_001", "entry"},
	    {"shortseller_001", "ema_cross"},
	    {"shortseller_001", "scale_in"},
	    {"shortseller_001", "manual_entry"},
	    {"shortseller_001", "take_profit"},
	    {"shortseller_001", "stop_loss"},
	    {"shortseller_001", "time_exit"},
	    {"shortseller_001", "risk_limit"},
	    {"shortseller_001", "manual_exit"},
	};
	char id[128];
	int64_t now_s = (int64_t)time(NULL);

	expect_parse("shortseller_001:entry:1678886400", NULL, "shortseller_001", "entry", T0_MS,
	             ORDERID_FORM_COLON);
	expect_parse("lxalgo_001:rule_3:1678886400", NULL, "lxalgo_001", "rule_3", T0_MS,
	             ORDERID_FORM_COLON);
	expect_parse("momentum_001:trailing_stop:1678886600", NULL, "momentum_001", "trailing_stop",
	             1678886600000LL, ORDERID_FORM_COLON);
	expect_parse("shortseller_001:manual_exit:1678886700", NULL, "shortseller_001",
	             "manual_exit", 1678886700000LL, ORDERID_FORM_COLON);
	/* DESIGN.md's example of an id Bybit refuses: 43 characters, still ours. */
	expect_parse("momentum_001:volatility_breakout:1678886400", NULL, "momentum_001",
	             "volatility_breakout", T0_MS, ORDERID_FORM_COLON);
	/* A millisecond stamp in the colon form, and the boundary between the two. */
	expect_parse("momentum_001:ma_exit:1678886400123", NULL, "momentum_001", "ma_exit",
	             1678886400123LL, ORDERID_FORM_COLON);
	expect_parse("a:b:99999999999", NULL, "a", "b", 99999999999000LL, ORDERID_FORM_COLON);
	expect_parse("a:b:100000000000", NULL, "a", "b", 100000000000LL, ORDERID_FORM_COLON);
	expect_parse("a:vb:0", NULL, "a", "volatility_breakout", 0, ORDERID_FORM_COLON);
	for (size_t i = 0; i < sizeof fstrings / sizeof fstrings[0]; i++) {
		snprintf(id, sizeof id, "%s:%s:%lld", fstrings[i].bot, fstrings[i].reason,
		         (long long)now_s);
		expect_parse(id, NULL, fstrings[i].bot, fstrings[i].reason, now_s * 1000,
		             ORDERID_FORM_COLON);
	}
}

TEST(orderid_builtin_aliases_round_trip)
{
	static const char *const table[][2] = {
	    {"entry", "en"},
	    {"scale_in", "si"},
	    {"manual_entry", "me"},
	    {"trailing_stop", "ts"},
	    {"take_profit", "tp"},
	    {"stop_loss", "sl"},
	    {"ma_exit", "ma"},
	    {"time_exit", "te"},
	    {"risk_limit", "rl"},
	    {"manual_exit", "mx"},
	    {"volatility_breakout", "vb"},
	    {"ema_cross", "ec"},
	    {"rule_1", "r1"},
	    {"rule_3", "r3"},
	    {"rule_03", "r03"},
	    {"rule_12345678901234567", "r12345678901234567"}, /* the longest that fits */
	};
	struct orderid_gen g;
	struct orderid_parsed p;
	char id[ORDERID_MAX + 1], want[64];

	orderid_gen_init(&g, 7);
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const char *bot = strlen(table[i][1]) > 8 ? "b" : "momentum_001";

		/* canonical in, alias on the wire, canonical back */
		T_REQUIRE(gen(&g, NULL, bot, table[i][0], T0_MS, id) > 0);
		snprintf(want, sizeof want, "%s-%s-", bot, table[i][1]);
		T_CHECK(strncmp(id, want, strlen(want)) == 0);
		T_REQUIRE(orderid_parse(id, strlen(id), NULL, &p) == 0);
		T_EQ_STR(p.reason, table[i][0]);
		T_EQ_STR(p.reason_wire, table[i][1]);
		/* the alias in gives the same wire spelling */
		T_REQUIRE(gen(&g, NULL, bot, table[i][1], T0_MS, id) > 0);
		T_CHECK(strncmp(id, want, strlen(want)) == 0);
	}
	/* Not aliases: kept as they are. */
	T_REQUIRE(gen(&g, NULL, "b", "rule_", T0_MS, id) > 0);
	T_CHECK(strncmp(id, "b-rule_-", 8) == 0);
	T_REQUIRE(gen(&g, NULL, "b", "r", T0_MS, id) > 0);
	T_CHECK(strncmp(id, "b-r-", 4) == 0);
	T_REQUIRE(gen(&g, NULL, "b", "r3x", T0_MS, id) > 0);
	T_CHECK(strncmp(id, "b-r3x-", 6) == 0);
	/* r and 27 digits is the longest rule alias (rule_N then has 32 characters);
	 * with 28 digits it would expand past 32: a plain reason. */
	expect_parse("b:r123456789012345678901234567:1", NULL, "b",
	             "rule_123456789012345678901234567", 1000, ORDERID_FORM_COLON);
	expect_parse("b:r1234567890123456789012345678:1", NULL, "b",
	             "r1234567890123456789012345678", 1000, ORDERID_FORM_COLON);
	/* A reason with no alias is written as it is, and is canonical on the way back. */
	expect_parse("b-breakout_v2-0lf9pm51c000000", NULL, "b", "breakout_v2", T0_MS,
	             ORDERID_FORM_WIRE);
	/* A canonical reason on the wire (written by hand or by an older tool). */
	expect_parse("b-entry-0lf9pm51c000000", NULL, "b", "entry", T0_MS, ORDERID_FORM_WIRE);
}

TEST(orderid_config_aliases)
{
	struct orderid_gen g;
	char id[ORDERID_MAX + 1];

	/* The seed's set-up (tests/cfg/good_seed.conf) plus two spellings of one reason. */
	T_REQUIRE(
	    load_cfg("vb = volatility_breakout\nbo = breakout_retest\nema_x = ema_cross\n"
	             "long_alias = mean_reversion\nmr = mean_reversion\nm_r = mean_reversion\n"
	             "e = entry\n") == 0);
	T_EQ_INT(orderid_check_aliases(&cfg, &cerr), 0);
	orderid_gen_init(&g, 0);
	T_REQUIRE(gen(&g, &cfg, "lxalgo_001", "breakout_retest", T0_MS, id) > 0);
	T_EQ_STR(id, "lxalgo_001-bo-0lf9pm51c000000");
	T_REQUIRE(gen(&g, &cfg, "lxalgo_001", "bo", T0_MS, id) > 0);
	T_EQ_STR(id, "lxalgo_001-bo-0lf9pm51c000001");
	T_REQUIRE(gen(&g, &cfg, "lxalgo_001", "long_alias", T0_MS, id) > 0); /* shortest wins */
	T_EQ_STR(id, "lxalgo_001-mr-0lf9pm51c000002");
	T_REQUIRE(gen(&g, &cfg, "lxalgo_001", "ema_x", T0_MS, id) > 0); /* built-in is shorter */
	T_EQ_STR(id, "lxalgo_001-ec-0lf9pm51c000003");
	T_REQUIRE(gen(&g, &cfg, "lxalgo_001", "entry", T0_MS, id) > 0); /* "e" is shorter */
	T_EQ_STR(id, "lxalgo_001-e-0lf9pm51c000004");
	/* Without the configuration the same reason takes its built-in alias. */
	T_REQUIRE(gen(&g, NULL, "lxalgo_001", "entry", T0_MS, id) > 0);
	T_EQ_STR(id, "lxalgo_001-en-0lf9pm51c000005");
	expect_parse("lxalgo_001-bo-0lf9pm51c000000", &cfg, "lxalgo_001", "breakout_retest", T0_MS,
	             ORDERID_FORM_WIRE);
	expect_parse("lxalgo_001-e-0lf9pm51c000000", &cfg, "lxalgo_001", "entry", T0_MS,
	             ORDERID_FORM_WIRE);
	expect_parse("lxalgo_001-ema_x-0lf9pm51c000000", &cfg, "lxalgo_001", "ema_cross", T0_MS,
	             ORDERID_FORM_WIRE);
	expect_parse("lxalgo_001:bo:1678886400", &cfg, "lxalgo_001", "breakout_retest", T0_MS,
	             ORDERID_FORM_COLON);
	expect_parse("lxalgo_001-vb-0lf9pm51c000000", &cfg, "lxalgo_001", "volatility_breakout",
	             T0_MS, ORDERID_FORM_WIRE);
	/* Without the configuration a configured alias is a reason of its own. */
	expect_parse("lxalgo_001-bo-0lf9pm51c000000", NULL, "lxalgo_001", "bo", T0_MS,
	             ORDERID_FORM_WIRE);
}

TEST(orderid_check_aliases_refuses_clashes)
{
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];
	struct orderid_gen g;
	char id[ORDERID_MAX + 1], err[ERR_MSG_MAX];

	T_REQUIRE(load_cfg("bo = breakout_retest\nvb = breakout_v2\n") == 0);
	T_EQ_INT(orderid_check_aliases(&cfg, &cerr), FR_ECONFIG);
	cfg_error_format(&cerr, line, sizeof line);
	T_EQ_STR(line, "t.conf:9: alias 'vb' is built in for 'volatility_breakout': it cannot "
	               "stand for 'breakout_v2' (choose another alias)");
	/* Unchecked, the generator still refuses to write an id that reads back wrong. */
	orderid_gen_init(&g, 0);
	T_EQ_INT(orderid_new(&g, &cfg, "b", "breakout_v2", T0_MS, id, err, sizeof err), FR_ECONFIG);
	T_EQ_STR(err, "[reasons] alias 'vb' of 'breakout_v2' clashes with the built-in aliases "
	              "(fillrelay check names the line)");
	T_EQ_STR(id, "");

	T_REQUIRE(load_cfg("r7 = breakout_v2\n") == 0);
	T_EQ_INT(orderid_check_aliases(&cfg, &cerr), FR_ECONFIG);
	T_EQ_INT(cerr.line, 8);
	T_EQ_STR(cerr.msg, "alias 'r7' is built in for 'rule_7': it cannot stand for "
	                   "'breakout_v2' (choose another alias)");
	T_REQUIRE(load_cfg("x = vb\n") == 0);
	T_EQ_INT(orderid_check_aliases(&cfg, &cerr), FR_ECONFIG);
	T_EQ_STR(cerr.msg, "alias 'x': reason 'vb' is the built-in alias of 'volatility_breakout' "
	                   "(write 'x = volatility_breakout', or leave the line out)");
	T_REQUIRE(load_cfg("x = r12\n") == 0);
	T_EQ_INT(orderid_check_aliases(&cfg, &cerr), FR_ECONFIG);
	/* Repeating a built-in alias with its own meaning is harmless. */
	T_REQUIRE(load_cfg("vb = volatility_breakout\nr3 = rule_3\nrx = rule_x\n") == 0);
	T_EQ_INT(orderid_check_aliases(&cfg, &cerr), 0);
	T_EQ_INT(cerr.line, 0);
}

static void expect_refusal(const char *bot, const char *reason, int64_t ms, int code,
                           const char *msg)
{
	struct orderid_gen g;
	char id[ORDERID_MAX + 1], err[ERR_MSG_MAX];

	orderid_gen_init(&g, 1);
	T_EQ_INT(orderid_new(&g, NULL, bot, reason, ms, id, err, sizeof err), code);
	T_EQ_STR(err, msg);
	T_EQ_STR(id, "");
	T_EQ_INT(g.count, 0);
}

TEST(orderid_refuses_what_cannot_fit)
{
	struct orderid_gen g;
	char id[ORDERID_MAX + 1], err[16];

	/* 17 + 2 fits exactly: 36 characters. */
	orderid_gen_init(&g, 0);
	T_EQ_INT(gen(&g, NULL, "abcdefghijklmnopq", "entry", T0_MS, id), 36);
	T_EQ_INT(gen(&g, NULL, "abcdefghijklmnopqr", "x", T0_MS, id), 36);
	expect_refusal("abcdefghijklmnopqr", "entry", T0_MS, FR_ERANGE,
	               "id would be 37 characters (max 36): shorten bot id 'abcdefghijklmnopqr' to "
	               "at most 17 characters or give 'entry' a shorter [reasons] alias of at most "
	               "1 character");
	expect_refusal("momentum_001", "breakout_retest", T0_MS, FR_ERANGE,
	               "id would be 44 characters (max 36): shorten bot id 'momentum_001' to at "
	               "most 4 characters or add a [reasons] alias for 'breakout_retest' of at "
	               "most 7 characters");
	/* No alias can be short enough for a 19-character bot id. */
	expect_refusal("abcdefghijklmnopqrs", "entry", T0_MS, FR_ERANGE,
	               "id would be 38 characters (max 36): shorten bot id 'abcdefghijklmnopqrs' "
	               "to at most 17 characters");
	/* No bot id can be short enough for a 19-character reason. */
	expect_refusal("b", "breakout_retest_long", T0_MS, FR_ERANGE,
	               "id would be 38 characters (max 36): add a [reasons] alias for "
	               "'breakout_retest_long' of at most 18 characters");
	expect_refusal("abcdefghijklmnopqrst", "breakout_retest_long", T0_MS, FR_ERANGE,
	               "id would be 57 characters (max 36): shorten bot id 'abcdefghijklmnopqrst' "
	               "and add a [reasons] alias for 'breakout_retest_long' (together at most 19 "
	               "characters)");
	expect_refusal("", "entry", T0_MS, FR_EINVAL, "bot id is empty");
	expect_refusal("b", "", T0_MS, FR_EINVAL, "reason is empty");
	expect_refusal("bot-1", "entry", T0_MS, FR_EINVAL,
	               "bot id 'bot-1' has a character outside [A-Za-z0-9_]");
	expect_refusal("bot", "stop:loss", T0_MS, FR_EINVAL,
	               "reason 'stop:loss' has a character outside [A-Za-z0-9_]");
	expect_refusal("bot\n\x01\xff", "entry", T0_MS, FR_EINVAL,
	               "bot id 'bot\?\?\?' has a character outside [A-Za-z0-9_]");
	expect_refusal("abcdefghijklmnopqrstu", "entry", T0_MS, FR_EINVAL,
	               "bot id 'abcdefghijklmnopqrstu' is longer than 20 characters");
	expect_refusal("b", "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop", T0_MS,
	               FR_EINVAL,
	               "reason 'abcdefghijklmnopqrstuvwxyz0123456789abcd...' is longer than 32 "
	               "characters");
	expect_refusal("b", "entry", -1, FR_ERANGE, "clock reads -1 ms, outside the id's range");
	expect_refusal("b", "entry", ORDERID_MS_LIMIT, FR_ERANGE,
	               "clock reads 101559956668416 ms, outside the id's range");
	/* A short message buffer is cut, never overrun. */
	orderid_gen_init(&g, 0);
	T_EQ_INT(orderid_new(&g, NULL, "b-", "x", 0, id, err, sizeof err), FR_EINVAL);
	T_EQ_INT(strlen(err), sizeof err - 1);
}

static void expect_foreign(const char *id, size_t n)
{
	struct orderid_parsed p, zero;

	memset(&zero, 0, sizeof zero);
	memset(&p, 0x5a, sizeof p);
	if (!T_EQ_INT(orderid_parse(id, n, NULL, &p), ORDERID_FOREIGN))
		printf("      id %.*s\n", (int)n, id);
	T_CHECK(memcmp(&p, &zero, sizeof p) == 0);
}

#define FOREIGN(s) expect_foreign((s), strlen(s))

TEST(orderid_foreign_ids)
{
	char hex[33];
	unsigned char raw[16];
	uint64_t a, b;

	/* The seed's lxalgo: os.urandom(16).hex() */
	T_REQUIRE(orderid_seed(&a) == 0 && orderid_seed(&b) == 0);
	memcpy(raw, &a, 8);
	memcpy(raw + 8, &b, 8);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	expect_foreign(hex, 32);
	FOREIGN("5f3c2a9e8b7d4c1f0a6e9d8c7b6a5f4e");
	FOREIGN("550e8400-e29b-41d4-a716-446655440000"); /* a UUID */
	FOREIGN("550E8400-E29B-41D4-A716-446655440000");
	expect_foreign("", 0);
	expect_foreign(NULL, 0);
	FOREIGN("abc");
	FOREIGN("1234567890");
	FOREIGN("1795669100123");
	/* a '-' in a wrong place */
	FOREIGN("shortseller_001-en-0lf9pm51c00000");   /* STAMP one short */
	FOREIGN("shortseller_001-en-0lf9pm51c0000000"); /* STAMP one long */
	FOREIGN("shortseller-001-en-0lf9pm51c000000");  /* a '-' in BOT */
	FOREIGN("-en-0lf9pm51c000000");                 /* no BOT */
	FOREIGN("bot--0lf9pm51c000000");                /* no REASON */
	FOREIGN("boten-0lf9pm51c000000");               /* one '-' */
	FOREIGN("bot-en-0lf9pm51c000000-");             /* trailing '-' */
	FOREIGN("bot-en-0lf9pm51c-00000");              /* '-' inside STAMP */
	FOREIGN("bot-en-0LF9PM51C000000");              /* uppercase STAMP */
	FOREIGN("bot-en-0lf9pm51c00000_");              /* '_' in STAMP */
	FOREIGN("bot-e n-0lf9pm51c000000");
	FOREIGN("bot-en-0lf9pm51c000000\n");
	expect_foreign("bot-en-0lf9pm51c000000\0", 23); /* a NUL counts */
	expect_foreign("bot-en\0-0lf9pm51c000000", 23);
	FOREIGN("abcdefghijklmnopqrstu-x-0lf9pm51c000000"); /* BOT over 20, id over 36 */
	FOREIGN("abcdefghijklmnopqrs-x-0lf9pm51c000000");   /* 37 characters */
	/* colon shapes that are not the seed's */
	FOREIGN("bot:entry");
	FOREIGN("bot:entry:");
	FOREIGN(":entry:1678886400");
	FOREIGN("bot::1678886400");
	FOREIGN("bot:entry:1678886400:1");
	FOREIGN("bot:entry:-1678886400");
	FOREIGN("bot:entry:16788864.00");
	FOREIGN("bot:entry:1234567890123456"); /* 16 digits */
	FOREIGN("bot-x:entry:1678886400");
	FOREIGN("abcdefghijklmnopqrstu:entry:1678886400");
	FOREIGN("bot:abcdefghijklmnopqrstuvwxyz0123456:1678886400");
	FOREIGN("a\xff:b:1");
}

/* Both C parsers (module and bots' helper) on the n bytes at buf; their result
 * when they agree, else -1. */
static int parse_both(const char *buf, size_t n)
{
	struct orderid_parsed p;
	struct fr_orderid_parsed h;
	int rc = orderid_parse(buf, n, NULL, &p);

	return fr_orderid_parse(buf, n, NULL, 0, &h) == rc ? rc : -1;
}

/* Oversized input, input with no NUL after it, every prefix of good ids. */
TEST(orderid_parse_oversized_and_byte_at_a_time)
{
	static const char *const good[] = {
	    "shortseller_001-en-0lf9pm51c000000",
	    "abcdefghijklmnopq-en-0lf9pm51c000000",
	    "momentum_001:volatility_breakout:1678886400",
	    "abcdefghijklmnopqrst:abcdefghijklmnopqrstuvwxyz012345:123456789012345",
	};
	char *buf;
	long bad = 0;

	for (size_t n = 37; n <= 4096; n = n * 2 + 1) {
		buf = malloc(n); /* exactly n bytes: ASan sees any read past them */
		T_REQUIRE(buf);
		memset(buf, 'a', n);
		memcpy(buf + n - 16, "-0lf9pm51c000000", 16);
		memcpy(buf + n / 2, "-", 1);
		T_EQ_INT(parse_both(buf, n), ORDERID_FOREIGN);
		memset(buf, ':', n);
		T_EQ_INT(parse_both(buf, n), ORDERID_FOREIGN);
		free(buf);
	}
	buf = malloc(ORDERID_PARSE_MAX + 1);
	T_REQUIRE(buf);
	memcpy(buf, good[3], ORDERID_PARSE_MAX);
	T_EQ_INT(strlen(good[3]), ORDERID_PARSE_MAX);
	T_EQ_INT(parse_both(buf, ORDERID_PARSE_MAX), 0); /* the longest accepted */
	buf[ORDERID_PARSE_MAX] = '1';
	T_EQ_INT(parse_both(buf, ORDERID_PARSE_MAX + 1), ORDERID_FOREIGN);
	free(buf);
	for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
		size_t len = strlen(good[k]);

		for (size_t n = 0; n <= len; n++) {
			int rc;

			buf = malloc(n ? n : 1);
			T_REQUIRE(buf);
			memcpy(buf, good[k], n);
			rc = parse_both(buf, n);
			free(buf);
			/* A wire id has no proper prefix that parses; a colon id's prefixes
			 * parse once the stamp has a digit (a shorter stamp). */
			if (rc < 0 || (n == len ? rc != 0 : !strchr(good[k], ':') && rc == 0))
				bad++;
		}
	}
	T_EQ_INT(bad, 0);
}

/* A small deterministic generator for the twin test. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int same_parse(const char *id, size_t n, const struct fr_orderid_alias *tab, size_t tab_n)
{
	struct orderid_parsed a;
	struct fr_orderid_parsed b;
	int ra = orderid_parse(id, n, &cfg, &a), rb = fr_orderid_parse(id, n, tab, tab_n, &b);

	if (ra != rb)
		return 0;
	return strcmp(a.bot, b.bot) == 0 && strcmp(a.reason, b.reason) == 0 &&
	       strcmp(a.reason_wire, b.reason_wire) == 0 && a.stamp_ms == b.stamp_ms &&
	       a.unique == b.unique && (int)a.form == b.form;
}

/*
 * The bots' C helper and the module agree on every input: the same ids from
 * the same seed and clock, the same refusals word for word, the same parse.
 */
TEST(orderid_c_helper_agrees_with_module)
{
	static const char *const bots[] = {
	    "shortseller_001",
	    "lxalgo_001",
	    "momentum_001",
	    "b",
	    "abcdefghijklmnopq",
	    "abcdefghijklmnopqr",
	    "abcdefghijklmnopqrst",
	    "abcdefghijklmnopqrstu",
	    "",
	    "a-b",
	    "a:b",
	    "x\xff",
	};
	static const char *const reasons[] = {
	    "entry",
	    "en",
	    "rule_3",
	    "r3",
	    "rule_",
	    "r",
	    "volatility_breakout",
	    "bo",
	    "breakout_retest",
	    "mean_reversion",
	    "long_alias",
	    "e",
	    "ema_x",
	    "ema_cross",
	    "breakout_retest_long",
	    "abcdefghijklmnopqrstuvwxyz0123456",
	    "",
	    "a-b",
	    "rule_0001",
	};
	static const char alphabet[] = "ab_-:019zAZ\xff";
	struct fr_orderid_alias tab[CFG_ALIASES_MAX];
	struct orderid_gen g;
	struct fr_orderid_gen h = FR_ORDERID_GEN_INIT;
	long gen_diff = 0, parse_diff = 0, made = 0;

	T_REQUIRE(
	    load_cfg("bo = breakout_retest\nlong_alias = mean_reversion\nmr = mean_reversion\n"
	             "e = entry\nema_x = ema_cross\n") == 0);
	for (int i = 0; i < cfg.aliases_n; i++)
		tab[i] = (struct fr_orderid_alias){cfg.aliases[i].alias, cfg.aliases[i].reason};
	orderid_gen_init(&g, 0xfeedULL);
	fr_orderid_gen_seed(&h, 0xfeedULL);
	h.aliases = tab;
	h.aliases_n = (size_t)cfg.aliases_n;
	for (int i = 0; i < 200000; i++) {
		const char *bot = bots[rng() % (sizeof bots / sizeof *bots)];
		const char *reason = reasons[rng() % (sizeof reasons / sizeof *reasons)];
		int64_t ms = (int64_t)(rng() % (uint64_t)ORDERID_MS_LIMIT);
		char a[ORDERID_MAX + 1], b[FR_ORDERID_MAX + 1], ea[ERR_MSG_MAX], eb[ERR_MSG_MAX];
		char id[96];
		size_t n;
		int ra, rb;

		if (rng() % 64 == 0)
			ms = rng() % 2 ? -1 - ms : ORDERID_MS_LIMIT + ms;
		ra = orderid_new(&g, &cfg, bot, reason, ms, a, ea, sizeof ea);
		rb = fr_orderid_new_at(&h, bot, reason, ms, b, eb, sizeof eb);
		if (ra != rb || strcmp(a, b) != 0 || strcmp(ea, eb) != 0) {
			if (gen_diff++ < 3)
				printf("    new(%s, %s): %d '%s' '%s' / %d '%s' '%s'\n", bot,
				       reason, ra, a, ea, rb, b, eb);
			continue;
		}
		made += ra > 0;
		/* parse the id, then a mutation of it, then random bytes */
		n = ra > 0 ? (size_t)ra : 0;
		memcpy(id, a, n);
		parse_diff += !same_parse(id, n, tab, h.aliases_n);
		if (n > 0) {
			id[rng() % n] = alphabet[rng() % (sizeof alphabet - 1)];
			n = rng() % 3 == 0 ? (size_t)(rng() % (n + 1)) : n;
			parse_diff += !same_parse(id, n, tab, h.aliases_n);
		}
		n = rng() % sizeof id;
		for (size_t k = 0; k < n; k++)
			id[k] = alphabet[rng() % (sizeof alphabet - 1)];
		parse_diff += !same_parse(id, n, tab, h.aliases_n);
	}
	T_EQ_INT(gen_diff, 0);
	T_EQ_INT(parse_diff, 0);
	T_CHECK(made > 50000); /* the comparison covered successes, not only refusals */
	T_EQ_INT(g.count, h.count);
}

/* The helper seeds itself from the system on first use, and again after fork. */
TEST(orderid_c_helper_seeds_itself_and_after_fork)
{
	struct fr_orderid_gen h = FR_ORDERID_GEN_INIT;
	char id[FR_ORDERID_MAX + 1], err[256], child_id[FR_ORDERID_MAX + 1] = "";
	int fd[2], status = 0;
	pid_t pid;

	T_EQ_INT(fr_orderid_new(&h, "shortseller_001", "entry", id, err, sizeof err), 34);
	T_EQ_INT(h.pid, getpid());
	T_EQ_INT(h.count, 1);
	T_REQUIRE(pipe(fd) == 0);
	fflush(NULL);
	pid = fork();
	T_REQUIRE(pid >= 0);
	if (pid == 0) {
		/* same count as the parent's next id: only a new seed tells them apart */
		int ok = fr_orderid_new_at(&h, "b", "x", 5, id, err, sizeof err) > 0 &&
		         h.count == 1 && write(fd[1], id, strlen(id) + 1) > 0;

		_exit(ok ? 0 : 1);
	}
	close(fd[1]);
	T_CHECK(read(fd[0], child_id, sizeof child_id) > 0);
	close(fd[0]);
	T_REQUIRE(waitpid(pid, &status, 0) == pid);
	T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	T_EQ_INT(fr_orderid_new_at(&h, "b", "x", 5, id, err, sizeof err), 19);
	T_CHECK(strcmp(id, child_id) != 0);
	T_EQ_INT(h.count, 2);
}
