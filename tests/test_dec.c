/*
 * test_dec.c -- exact decimals: parsing (good, bad, every prefix, oversized),
 * canonical formatting, each rounding mode on ties and non-ties of both signs,
 * the range limits of every operation, and a property test of add, sub, mul,
 * div, round and cmp against an independent reference: big integers held as
 * decimal digit strings with schoolbook arithmetic, sharing no code with dec.c.
 * Last, the sources are scanned for binary floating point.
 * Runs from the repository root (the scan reads src/).
 */
#define _POSIX_C_SOURCE 200809L

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "err.h"
#include "t.h"

#define MAX_S "170141183460469231731.687303715884105727"  /* DEC_MAX_V */
#define MIN_S "-170141183460469231731.687303715884105727" /* -DEC_MAX_V */
#define ULP_S "0.000000000000000001"

#define HE DEC_ROUND_HALF_EVEN
#define HU DEC_ROUND_HALF_UP
#define DN DEC_ROUND_DOWN
#define FL DEC_ROUND_FLOOR
#define CE DEC_ROUND_CEIL

static const enum dec_round modes[5] = { HE, HU, DN, FL, CE };

/* ---- helpers: strings in, strings out ---------------------------------------------- */

/* A rotating set of result strings so one check can compare several. */
static char *scratch(void)
{
	static char bufs[16][DEC_STR_MAX + 32];
	static int i;

	i = (i + 1) % 16;
	return bufs[i];
}

/* The canonical string of d, or the error's name. */
static const char *str(struct dec d)
{
	char *s = scratch();
	int n = dec_format(d, s, DEC_STR_MAX);

	if (n < 0 || (size_t)n != strlen(s))
		snprintf(s, DEC_STR_MAX + 32, "FORMAT(%d)", n);
	return s;
}

static const char *err_name(int rc)
{
	return rc == FR_EINVAL ? "EINVAL" : rc == FR_ERANGE ? "ERANGE" : "OTHER";
}

/* What an operation left: its value, or its error if *out stayed untouched. */
static const char *result(int rc, struct dec out, struct dec sentinel)
{
	if (rc == 0)
		return str(out);
	if (out.v != sentinel.v)
		return "CLOBBERED";
	return err_name(rc);
}

static const struct dec sentinel = { 4242 };

/* s parsed: its canonical form, or the error. */
static const char *parse(const char *s)
{
	struct dec d = sentinel;

	return result(dec_parse(&d, s, strlen(s)), d, sentinel);
}

/* A decimal the test relies on; a bad one makes every check that uses it fail. */
static struct dec num(const char *s)
{
	struct dec d = { 77 };

	if (dec_parse(&d, s, strlen(s)) != 0)
		printf("    bad operand \"%s\"\n", s);
	return d;
}

static const char *add(const char *a, const char *b)
{
	struct dec d = sentinel;

	return result(dec_add(&d, num(a), num(b)), d, sentinel);
}

static const char *sub(const char *a, const char *b)
{
	struct dec d = sentinel;

	return result(dec_sub(&d, num(a), num(b)), d, sentinel);
}

static const char *mul(const char *a, const char *b, enum dec_round r)
{
	struct dec d = sentinel;

	return result(dec_mul(&d, num(a), num(b), r), d, sentinel);
}

static const char *dvd(const char *a, const char *b, enum dec_round r)
{
	struct dec d = sentinel;

	return result(dec_div(&d, num(a), num(b), r), d, sentinel);
}

static const char *rnd(const char *a, int places, enum dec_round r)
{
	struct dec d = sentinel;

	return result(dec_round(&d, num(a), places, r), d, sentinel);
}

static const char *to_int(const char *a, enum dec_round r)
{
	int64_t i = 4242;
	int rc = dec_to_int(&i, num(a), r);
	char *s = scratch();

	if (rc < 0)
		return i == 4242 ? err_name(rc) : "CLOBBERED";
	snprintf(s, DEC_STR_MAX, "%lld", (long long)i);
	return s;
}

/* ---- parsing --------------------------------------------------------------------- */

TEST(dec_parse_accepts_decimals)
{
	T_EQ_STR(parse("0"), "0");
	T_EQ_STR(parse("1"), "1");
	T_EQ_STR(parse("+1"), "1"); /* dec.h: an optional '+' */
	T_EQ_STR(parse("-1"), "-1");
	T_EQ_STR(parse("-0"), "0");
	T_EQ_STR(parse("-0.000"), "0");
	T_EQ_STR(parse("+0"), "0");
	T_EQ_STR(parse("100"), "100");
	T_EQ_STR(parse("1.50"), "1.5");
	T_EQ_STR(parse("5."), "5");
	T_EQ_STR(parse(".5"), "0.5");
	T_EQ_STR(parse("-.5"), "-0.5");
	T_EQ_STR(parse("007.250"), "7.25");
	T_EQ_STR(parse("000"), "0");
	T_EQ_STR(parse("0.000000000000000001"), "0.000000000000000001");
	T_EQ_STR(parse("-0.000000000000000001"), "-0.000000000000000001");
	T_EQ_STR(parse("0.1234567890123456789"), "EINVAL"); /* 19 digits, the last not 0 */
	T_EQ_STR(parse("0.1234567890123456780"), "0.123456789012345678");
	T_EQ_STR(parse("1.000000000000000000000000000000"), "1");
	T_EQ_STR(parse("0.0000000000000000001"), "EINVAL");
	T_EQ_STR(parse("0.00000000000000000000000000001"), "EINVAL");
	T_EQ_STR(parse("28500.25"), "28500.25");
	T_EQ_STR(parse("0.00012"), "0.00012");
}

TEST(dec_parse_refuses_what_is_not_a_decimal)
{
	static const char *bad[] = {
		"", "-", "+", ".", "-.", "+.", "1e5", "1E5", "1e-5", " 1", "1 ", "1,000", "1_000",
		"--1", "-+1", "+-1", "++1", "1.2.3", "..1", "1..", "0x10", "inf", "nan",
		"-inf", "1-", "1+", "\t1", "1\n", "١", "1.5.", "½", "0.1e1", "abc",
		"0.12345678901234567891", "1.0000000000000000000001",
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (!T_EQ_STR(parse(bad[i]), "EINVAL"))
			printf("      input \"%s\"\n", bad[i]);
}

TEST(dec_parse_limits)
{
	char s[1100];

	T_EQ_STR(parse(MAX_S), MAX_S);
	T_EQ_STR(parse(MIN_S), MIN_S);
	T_EQ_STR(parse("170141183460469231731.687303715884105728"), "ERANGE");
	T_EQ_STR(parse("-170141183460469231731.687303715884105728"), "ERANGE"); /* -2^127 */
	T_EQ_STR(parse("170141183460469231731.6873037158841057270000"), MAX_S);
	T_EQ_STR(parse("170141183460469231731.7"), "ERANGE");
	T_EQ_STR(parse("170141183460469231731"), "170141183460469231731");
	T_EQ_STR(parse("170141183460469231732"), "ERANGE");
	T_EQ_STR(parse("999999999999999999999"), "ERANGE");     /* 21 digits */
	T_EQ_STR(parse("1000000000000000000000"), "ERANGE");    /* 22 digits */
	T_EQ_STR(parse("-99999999999999999999999999999999999999999.5"), "ERANGE");
	T_EQ_STR(parse("100000000000000000000"), "100000000000000000000");
	/* Syntax is judged before range. */
	T_EQ_STR(parse("1000000000000000000000x"), "EINVAL");
	T_EQ_STR(parse("1000000000000000000000.0000000000000000001"), "EINVAL");
	/* Leading zeros add no magnitude, however many. */
	memset(s, '0', sizeof s);
	memcpy(s + 1000, MAX_S, sizeof MAX_S);
	T_EQ_STR(parse(s), MAX_S);
	s[1000] = '1';
	s[1001] = '\0';
	T_EQ_STR(parse(s), "1");
}

/* The bytes after n are never read: each prefix sits at the very end of a heap
 * block, where ASan catches a read past it; and a NUL inside is just a bad byte. */
TEST(dec_parse_every_prefix_in_place)
{
	static const char *inputs[] = { MIN_S, "+007.2500", "-.5", "1e5", "0.0000000000000000010" };
	struct dec d;

	for (size_t k = 0; k < sizeof inputs / sizeof *inputs; k++) {
		size_t len = strlen(inputs[k]);

		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n ? n : 1);
			char want[64];
			int rc;

			T_REQUIRE(copy);
			memcpy(copy, inputs[k], n);
			snprintf(want, sizeof want, "%.*s", (int)n, inputs[k]);
			d = sentinel;
			rc = dec_parse(&d, copy, n);
			if (!T_EQ_STR(result(rc, d, sentinel), parse(want)))
				printf("      prefix \"%s\"\n", want);
			free(copy);
		}
	}
	T_EQ_INT(dec_parse(&d, "1\0", 2), FR_EINVAL);
	T_EQ_INT(dec_parse(&d, "\0" "1", 2), FR_EINVAL);
	T_EQ_INT(dec_parse(&d, "12", 1), 0);
	T_EQ_STR(str(d), "1");
	T_EQ_INT(dec_parse(&d, NULL, 0), FR_EINVAL);
}

TEST(dec_parse_oversized_input)
{
	static char s[100001];
	struct dec d = sentinel;

	memset(s, '9', sizeof s - 1);
	T_EQ_INT(dec_parse(&d, s, sizeof s - 1), FR_ERANGE);
	s[0] = '0';
	s[1] = '.';
	memset(s + 2, '0', sizeof s - 3);
	T_EQ_INT(dec_parse(&d, s, sizeof s - 1), 0);
	T_EQ_STR(str(d), "0");
	s[20] = '7'; /* past the 18th fractional digit */
	T_EQ_INT(dec_parse(&d, s, sizeof s - 1), FR_EINVAL);
}

/* ---- formatting ------------------------------------------------------------------ */

TEST(dec_format_is_canonical)
{
	struct dec a = num("0.1"), b = num("0.2"), c;

	T_EQ_INT(dec_add(&c, a, b), 0);
	T_EQ_STR(str(c), "0.3");
	T_EQ_STR(str(DEC_ZERO), "0");
	T_EQ_STR(str(dec_neg(DEC_ZERO)), "0");
	T_EQ_STR(str((struct dec){ 1 }), "0.000000000000000001");
	T_EQ_STR(str((struct dec){ -1 }), "-0.000000000000000001");
	T_EQ_STR(str((struct dec){ DEC_MAX_V }), MAX_S);
	T_EQ_STR(str((struct dec){ -DEC_MAX_V }), MIN_S);
	T_EQ_STR(str((struct dec){ (__int128)1000000000000000000 * 100 }), "100");
	T_EQ_STR(str((struct dec){ (__int128)1500000000000000000 }), "1.5");
	T_EQ_STR(str((struct dec){ (__int128)1000000000000000000 * 1000000000000000000 }),
		 "1000000000000000000");
	T_EQ_STR(str((struct dec){ (__int128)1000000000000000000 * 1000000000000000000 * 10 }),
		 "10000000000000000000");
	T_EQ_STR(str((struct dec){ (__int128)1 << 64 }), "18.446744073709551616");
	T_EQ_STR(str((struct dec){ 100000000000000000 }), "0.1");
	T_EQ_STR(str((struct dec){ 1010 }), "0.00000000000000101");
	T_EQ_STR(parse("-120.0300"), "-120.03");
}

TEST(dec_format_needs_room_for_the_nul)
{
	char buf[DEC_STR_MAX];
	struct dec d = num(MIN_S);
	size_t len = strlen(MIN_S);

	for (size_t n = 0; n <= len; n++) {
		memset(buf, 'x', sizeof buf);
		T_EQ_INT(dec_format(d, buf, n), FR_ERANGE);
		if (n > 0)
			T_EQ_INT(buf[0], '\0');
		T_EQ_INT(buf[n > 0 ? 1 : 0], 'x');
	}
	T_EQ_INT(dec_format(d, buf, len + 1), (int)len);
	T_EQ_STR(buf, MIN_S);
	T_EQ_INT(dec_format(DEC_ZERO, buf, 1), FR_ERANGE);
	T_EQ_INT(dec_format(DEC_ZERO, buf, 2), 1);
	T_EQ_INT(dec_format(DEC_ZERO, NULL, 0), FR_ERANGE);
	T_CHECK(len + 1 <= DEC_STR_MAX);
}

/* ---- rounding: each mode, ties and non-ties, both signs ----------------------------- */

struct round_case {
	const char *a, *b;   /* operands (b: places for dec_round) */
	const char *want[5]; /* HALF_EVEN, HALF_UP, DOWN, FLOOR, CEIL */
};

static const struct round_case mul_cases[] = {
	/* 5e-19: a tie on an even digit */
	{ "0.000000000000000005", "0.1", { "0", ULP_S, "0", "0", ULP_S } },
	{ "-0.000000000000000005", "0.1", { "0", "-" ULP_S, "0", "-" ULP_S, "0" } },
	/* 1.5e-18 and 2.5e-18: ties on an odd and an even digit */
	{ "0.000000000000000015", "0.1",
	  { "0.000000000000000002", "0.000000000000000002", ULP_S, ULP_S,
	    "0.000000000000000002" } },
	{ "-0.000000000000000025", "0.1",
	  { "-0.000000000000000002", "-0.000000000000000003", "-0.000000000000000002",
	    "-0.000000000000000003", "-0.000000000000000002" } },
	/* 1.7e-18 and 1.3e-18: not ties */
	{ "0.000000000000000017", "0.1",
	  { "0.000000000000000002", "0.000000000000000002", ULP_S, ULP_S,
	    "0.000000000000000002" } },
	{ "0.000000000000000013", "-0.1",
	  { "-" ULP_S, "-" ULP_S, "-" ULP_S, "-0.000000000000000002", "-" ULP_S } },
	{ "-0.000000000000000013", "-0.1", { ULP_S, ULP_S, ULP_S, ULP_S, "0.000000000000000002" } },
	/* exact products stay exact in every mode */
	{ "1.5", "-2.5", { "-3.75", "-3.75", "-3.75", "-3.75", "-3.75" } },
	{ "0.1", "0.2", { "0.02", "0.02", "0.02", "0.02", "0.02" } },
	{ "0.000000001", "0.000000001", { ULP_S, ULP_S, ULP_S, ULP_S, ULP_S } },
	{ "0.000000001", "0.0000000001", { "0", "0", "0", "0", ULP_S } },
	{ "-0.000000001", "0.0000000001", { "0", "0", "0", "-" ULP_S, "0" } },
	/* a product wider than 128 bits, exact before rounding */
	{ "123456789012.123456789012345678", "987654321.987654321987654321",
	  { "121932631246541684729.666513138956256652",
	    "121932631246541684729.666513138956256652",
	    "121932631246541684729.666513138956256652",
	    "121932631246541684729.666513138956256652",
	    "121932631246541684729.666513138956256653" } },
};

static const struct round_case div_cases[] = {
	{ "1", "3",
	  { "0.333333333333333333", "0.333333333333333333", "0.333333333333333333",
	    "0.333333333333333333", "0.333333333333333334" } },
	{ "-2", "3",
	  { "-0.666666666666666667", "-0.666666666666666667", "-0.666666666666666666",
	    "-0.666666666666666667", "-0.666666666666666666" } },
	{ "0.000000000000000001", "2", { "0", ULP_S, "0", "0", ULP_S } },
	{ "0.000000000000000001", "-2", { "0", "-" ULP_S, "0", "-" ULP_S, "0" } },
	{ "0.000000000000000003", "2",
	  { "0.000000000000000002", "0.000000000000000002", ULP_S, ULP_S,
	    "0.000000000000000002" } },
	{ "-0.000000000000000003", "-2",
	  { "0.000000000000000002", "0.000000000000000002", ULP_S, ULP_S,
	    "0.000000000000000002" } },
	{ "10", "4", { "2.5", "2.5", "2.5", "2.5", "2.5" } },
	{ "-7", "0.5", { "-14", "-14", "-14", "-14", "-14" } },
	{ "0.000000000000000001", MAX_S, { "0", "0", "0", "0", ULP_S } },
	/* -5.9e-21: below one unit */
	{ "-1", MAX_S, { "0", "0", "0", "-" ULP_S, "0" } },
	{ "-1000", MAX_S,
	  { "-0.000000000000000006", "-0.000000000000000006", "-0.000000000000000005",
	    "-0.000000000000000006", "-0.000000000000000005" } },
	/* a divisor wider than 64 bits (the binary long division) */
	{ "100000", "30.000000000000000001",
	  { "3333.333333333333333222", "3333.333333333333333222", "3333.333333333333333222",
	    "3333.333333333333333222", "3333.333333333333333223" } },
};

static const struct round_case round_cases[] = {
	{ "2.5", "0", { "2", "3", "2", "2", "3" } },
	{ "3.5", "0", { "4", "4", "3", "3", "4" } },
	{ "-2.5", "0", { "-2", "-3", "-2", "-3", "-2" } },
	{ "-3.5", "0", { "-4", "-4", "-3", "-4", "-3" } },
	{ "2.6", "0", { "3", "3", "2", "2", "3" } },
	{ "-2.4", "0", { "-2", "-2", "-2", "-3", "-2" } },
	{ "-0.4", "0", { "0", "0", "0", "-1", "0" } },
	{ "1.2345", "2", { "1.23", "1.23", "1.23", "1.23", "1.24" } },
	{ "-1.2355", "3", { "-1.236", "-1.236", "-1.235", "-1.236", "-1.235" } },
	{ "-1.2345", "3", { "-1.234", "-1.235", "-1.234", "-1.235", "-1.234" } },
	{ "0.123456789012345678", "17",
	  { "0.12345678901234568", "0.12345678901234568", "0.12345678901234567",
	    "0.12345678901234567", "0.12345678901234568" } },
	{ "0.123456789012345678", "18",
	  { "0.123456789012345678", "0.123456789012345678", "0.123456789012345678",
	    "0.123456789012345678", "0.123456789012345678" } },
	{ MAX_S, "0",
	  { "ERANGE", "ERANGE", "170141183460469231731", "170141183460469231731", "ERANGE" } },
	{ MIN_S, "3",
	  { "-170141183460469231731.687", "-170141183460469231731.687",
	    "-170141183460469231731.687", "ERANGE", "-170141183460469231731.687" } },
};

static const char *round_case_run(const char *which, const struct round_case *c,
				  enum dec_round r)
{
	if (strcmp(which, "mul") == 0)
		return mul(c->a, c->b, r);
	if (strcmp(which, "div") == 0)
		return dvd(c->a, c->b, r);
	return rnd(c->a, atoi(c->b), r);
}

static void round_cases_check(const char *which, const struct round_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int m = 0; m < 5; m++)
			if (!T_EQ_STR(round_case_run(which, &cases[i], modes[m]),
				      cases[i].want[m]))
				printf("      %s(%s, %s) mode %d\n", which, cases[i].a, cases[i].b,
				       m);
}

TEST(dec_mul_rounds_as_asked)
{
	round_cases_check("mul", mul_cases, sizeof mul_cases / sizeof *mul_cases);
}

TEST(dec_div_rounds_as_asked)
{
	round_cases_check("div", div_cases, sizeof div_cases / sizeof *div_cases);
}

TEST(dec_round_rounds_as_asked)
{
	round_cases_check("round", round_cases, sizeof round_cases / sizeof *round_cases);
	T_EQ_STR(rnd("1.5", -1, HE), "EINVAL");
	T_EQ_STR(rnd("1.5", DEC_SCALE + 1, HE), "EINVAL");
	T_EQ_STR(rnd("0", 0, CE), "0");
	T_EQ_STR(rnd("-0.000000000000000001", 0, HU), "0");
	T_EQ_STR(rnd("-0.000000000000000001", 0, FL), "-1");
}

TEST(dec_to_int_rounds_and_fits)
{
	static const struct round_case cases[] = {
		{ "2.5", "", { "2", "3", "2", "2", "3" } },
		{ "-2.5", "", { "-2", "-3", "-2", "-3", "-2" } },
		{ "-0.5", "", { "0", "-1", "0", "-1", "0" } },
		{ "7", "", { "7", "7", "7", "7", "7" } },
		{ "9223372036854775807", "",
		  { "9223372036854775807", "9223372036854775807", "9223372036854775807",
		    "9223372036854775807", "9223372036854775807" } },
		{ "9223372036854775807.5", "",
		  { "ERANGE", "ERANGE", "9223372036854775807", "9223372036854775807", "ERANGE" } },
		{ "-9223372036854775808.5", "",
		  { "-9223372036854775808", "ERANGE", "-9223372036854775808", "ERANGE",
		    "-9223372036854775808" } },
		{ "-9223372036854775809", "",
		  { "ERANGE", "ERANGE", "ERANGE", "ERANGE", "ERANGE" } },
		{ "9223372036854775808", "", { "ERANGE", "ERANGE", "ERANGE", "ERANGE", "ERANGE" } },
		{ MAX_S, "", { "ERANGE", "ERANGE", "ERANGE", "ERANGE", "ERANGE" } },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		for (int m = 0; m < 5; m++)
			if (!T_EQ_STR(to_int(cases[i].a, modes[m]), cases[i].want[m]))
				printf("      to_int(%s) mode %d\n", cases[i].a, m);
}

TEST(dec_from_int_is_exact)
{
	int64_t back = 0;

	T_EQ_STR(str(dec_from_int(0)), "0");
	T_EQ_STR(str(dec_from_int(-1)), "-1");
	T_EQ_STR(str(dec_from_int(INT64_MAX)), "9223372036854775807");
	T_EQ_STR(str(dec_from_int(INT64_MIN)), "-9223372036854775808");
	T_EQ_INT(dec_to_int(&back, dec_from_int(INT64_MIN), DN), 0);
	T_CHECK(back == INT64_MIN);
	T_EQ_INT(dec_to_int(&back, dec_from_int(INT64_MAX), CE), 0);
	T_CHECK(back == INT64_MAX);
}

/* ---- range limits of every operation ---------------------------------------------- */

TEST(dec_add_sub_limits)
{
	T_EQ_STR(add(MAX_S, "0"), MAX_S);
	T_EQ_STR(add(MAX_S, ULP_S), "ERANGE");
	T_EQ_STR(add(MAX_S, MAX_S), "ERANGE");
	T_EQ_STR(add(MAX_S, MIN_S), "0");
	T_EQ_STR(add(MIN_S, "-" ULP_S), "ERANGE");
	T_EQ_STR(add(MIN_S, MIN_S), "ERANGE");
	T_EQ_STR(add("-170141183460469231731.687303715884105726", "-" ULP_S), MIN_S);
	T_EQ_STR(add("170141183460469231731.687303715884105726", ULP_S), MAX_S);
	T_EQ_STR(sub(MIN_S, ULP_S), "ERANGE");
	T_EQ_STR(sub(MAX_S, "-" ULP_S), "ERANGE");
	T_EQ_STR(sub(MAX_S, MIN_S), "ERANGE");
	T_EQ_STR(sub("0", MIN_S), MAX_S);
	T_EQ_STR(sub("0", MAX_S), MIN_S);
	T_EQ_STR(sub(MIN_S, MIN_S), "0");
	T_EQ_STR(sub("1.1", "2.2"), "-1.1");
}

TEST(dec_mul_limits)
{
	/* 1.5 * (DEC_MAX_V + 1/2 unit): exact value half a unit past the limit. */
	const char *half_over = "113427455640312821154.458202477256070485";
	/* 1.3 * this is DEC_MAX_V + 0.4 unit. */
	const char *frac_over = "130877833431130178255.144079781449312098";
	/* The largest square in range, and the next one is not. */
	const char *root = "13043817825.332782212349571806";

	T_EQ_STR(mul(MAX_S, "1", HE), MAX_S);
	T_EQ_STR(mul(MAX_S, "-1", HE), MIN_S);
	T_EQ_STR(mul(MIN_S, "-1", HE), MAX_S);
	T_EQ_STR(mul(MAX_S, "1.000000000000000001", DN), "ERANGE");
	T_EQ_STR(mul(MAX_S, MAX_S, DN), "ERANGE");
	T_EQ_STR(mul(MIN_S, MAX_S, DN), "ERANGE");
	T_EQ_STR(mul(MAX_S, "0", CE), "0");
	T_EQ_STR(mul(MAX_S, ULP_S, DN), "170.141183460469231731");
	T_EQ_STR(mul(MAX_S, ULP_S, HE), "170.141183460469231732");
	T_EQ_STR(mul(MIN_S, ULP_S, FL), "-170.141183460469231732");
	T_EQ_STR(mul(half_over, "1.5", DN), MAX_S);
	T_EQ_STR(mul(half_over, "1.5", FL), MAX_S);
	T_EQ_STR(mul(half_over, "1.5", HE), "ERANGE"); /* DEC_MAX_V is odd */
	T_EQ_STR(mul(half_over, "1.5", HU), "ERANGE");
	T_EQ_STR(mul(half_over, "1.5", CE), "ERANGE");
	T_EQ_STR(mul(half_over, "-1.5", CE), MIN_S);
	T_EQ_STR(mul(half_over, "-1.5", FL), "ERANGE");
	T_EQ_STR(mul(frac_over, "1.3", HE), MAX_S);
	T_EQ_STR(mul(frac_over, "1.3", HU), MAX_S);
	T_EQ_STR(mul(frac_over, "1.3", CE), "ERANGE");
	T_EQ_STR(mul(root, root, DN), "170141183460469231731.687303709296759401");
	T_EQ_STR(mul(root, root, CE), "170141183460469231731.687303709296759402");
	T_EQ_STR(mul("13043817825.332782212349571807", root, DN), "ERANGE");
	T_EQ_STR(mul("13043817825.332782212349571807", "13043817825.332782212349571807", DN),
		 "ERANGE");
	/* Scaled, this product is 2^192 plus less than 2^128: only the carry out of
	 * the third 64-bit limb shows that it is out of range. */
	T_EQ_STR(mul("79228162532.7110816694009856", "79228162495.817593521981882368", DN),
		 "ERANGE");
	/* Here the quotient by 10^18 is 2^192 plus less than 2^128: its third limb is 0. */
	T_EQ_STR(mul(MAX_S, "36893488147419103232.000000000000000001", DN), "ERANGE");
}

TEST(dec_div_limits)
{
	/* this / 0.7 is DEC_MAX_V + 1/7 unit */
	const char *over = "119098828422328462212.181112601118874009";

	T_EQ_STR(dvd("1", "0", HE), "EINVAL");
	T_EQ_STR(dvd("0", "0", HE), "EINVAL");
	T_EQ_STR(dvd(MAX_S, "0", CE), "EINVAL");
	T_EQ_STR(dvd("0", MIN_S, CE), "0");
	T_EQ_STR(dvd(MAX_S, "1", HE), MAX_S);
	T_EQ_STR(dvd(MAX_S, "-1", HE), MIN_S);
	T_EQ_STR(dvd(MIN_S, "-1", HE), MAX_S);
	T_EQ_STR(dvd(MAX_S, MAX_S, HE), "1");
	T_EQ_STR(dvd(MIN_S, MAX_S, HE), "-1");
	T_EQ_STR(dvd(MAX_S, "0.1", HE), "ERANGE");
	T_EQ_STR(dvd(MAX_S, ULP_S, HE), "ERANGE");
	T_EQ_STR(dvd(MIN_S, ULP_S, HE), "ERANGE");
	T_EQ_STR(dvd("170141183460469231731.687303715884105727", "10", HE),
		 "17014118346046923173.168730371588410573");
	T_EQ_STR(dvd("170.141183460469231731", ULP_S, HE), "170141183460469231731");
	T_EQ_STR(dvd("170.141183460469231732", ULP_S, HE), "ERANGE");
	T_EQ_STR(dvd("170.141183460469231732", "0.000000000000000000", HE), "EINVAL");
	T_EQ_STR(dvd(over, "0.7", DN), MAX_S);
	T_EQ_STR(dvd(over, "0.7", HE), MAX_S);
	T_EQ_STR(dvd(over, "0.7", CE), "ERANGE");
	T_EQ_STR(dvd(over, "-0.7", FL), "ERANGE");
	T_EQ_STR(dvd(over, "-0.7", CE), MIN_S);
	/* divisors at the 64-bit boundary: both division paths */
	T_EQ_STR(dvd("1", "18.446744073709551615", DN), "0.054210108624275221");
	T_EQ_STR(dvd("1", "18.446744073709551616", DN), "0.054210108624275221");
	T_EQ_STR(dvd("1", "18.446744073709551617", CE), "0.054210108624275222");
}

TEST(dec_compare_and_sign)
{
	struct dec a = num("-1.5"), b = num("2"), z = num("-0");

	T_EQ_INT(dec_cmp(a, b), -1);
	T_EQ_INT(dec_cmp(b, a), 1);
	T_EQ_INT(dec_cmp(a, a), 0);
	T_EQ_INT(dec_cmp(num(MIN_S), num(MAX_S)), -1);
	T_EQ_INT(dec_sign(a), -1);
	T_EQ_INT(dec_sign(b), 1);
	T_EQ_INT(dec_sign(z), 0);
	T_CHECK(dec_is_zero(z));
	T_CHECK(!dec_is_zero(num(ULP_S)));
	T_EQ_STR(str(dec_abs(a)), "1.5");
	T_EQ_STR(str(dec_abs(b)), "2");
	T_EQ_STR(str(dec_abs(num(MIN_S))), MAX_S);
	T_EQ_STR(str(dec_neg(num(MAX_S))), MIN_S);
	T_EQ_STR(str(dec_neg(a)), "1.5");
	T_EQ_STR(str(dec_min(a, b)), "-1.5");
	T_EQ_STR(str(dec_min(b, a)), "-1.5");
	T_EQ_STR(str(dec_min(num("0.1"), num("0.10"))), "0.1");
}

/* ---- the independent reference: signed big integers as digit strings ---------------- */

#define REF_DIGITS 128 /* the widest value: 78-digit products of two 39-digit operands */
#define REF_LIMIT "170141183460469231731687303715884105727" /* DEC_MAX_V in decimal */
#define REF_UNIT "1000000000000000000"                     /* 10^18 */

/* value = (neg ? -1 : 1) * m, m in decimal without leading zeros ("0" for zero) */
struct ref {
	int neg;
	char m[REF_DIGITS];
};

static void mag_norm(char *m)
{
	size_t z = strspn(m, "0");

	if (m[z] == '\0')
		strcpy(m, "0");
	else
		memmove(m, m + z, strlen(m + z) + 1);
}

static int mag_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int c = strcmp(a, b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return (c > 0) - (c < 0);
}

/* Each writes a fresh result; out may be an operand. */
static void mag_add(char *out, const char *a, const char *b)
{
	char t[REF_DIGITS];
	int la = (int)strlen(a), lb = (int)strlen(b), n = (la > lb ? la : lb) + 1, carry = 0;

	t[n] = '\0';
	for (int i = 0; i < n; i++) {
		int s = carry + (i < la ? a[la - 1 - i] - '0' : 0) +
			(i < lb ? b[lb - 1 - i] - '0' : 0);

		t[n - 1 - i] = (char)('0' + s % 10);
		carry = s / 10;
	}
	mag_norm(t);
	strcpy(out, t);
}

/* a - b for a >= b */
static void mag_sub(char *out, const char *a, const char *b)
{
	char t[REF_DIGITS];
	int la = (int)strlen(a), lb = (int)strlen(b), borrow = 0;

	t[la] = '\0';
	for (int i = 0; i < la; i++) {
		int s = a[la - 1 - i] - '0' - borrow - (i < lb ? b[lb - 1 - i] - '0' : 0);

		borrow = s < 0;
		t[la - 1 - i] = (char)('0' + s + 10 * borrow);
	}
	mag_norm(t);
	strcpy(out, t);
}

static void mag_mul(char *out, const char *a, const char *b)
{
	int acc[REF_DIGITS] = { 0 };
	int la = (int)strlen(a), lb = (int)strlen(b), n = la + lb;
	char t[REF_DIGITS];

	for (int i = 0; i < la; i++)
		for (int j = 0; j < lb; j++)
			acc[i + j + 1] += (a[i] - '0') * (b[j] - '0');
	for (int k = n - 1; k > 0; k--) {
		acc[k - 1] += acc[k] / 10;
		acc[k] %= 10;
	}
	for (int k = 0; k < n; k++)
		t[k] = (char)('0' + acc[k]);
	t[n] = '\0';
	mag_norm(t);
	strcpy(out, t);
}

/* Long division, one decimal digit of the quotient at a time. */
static void mag_divmod(char *q, char *r, const char *a, const char *b)
{
	char qt[REF_DIGITS], rt[REF_DIGITS] = "0";
	size_t la = strlen(a);

	for (size_t i = 0; i < la; i++) {
		size_t lr = strlen(rt);
		int digit = 0;

		rt[lr] = a[i];
		rt[lr + 1] = '\0';
		mag_norm(rt);
		while (mag_cmp(rt, b) >= 0) {
			mag_sub(rt, rt, b);
			digit++;
		}
		qt[i] = (char)('0' + digit);
	}
	qt[la] = '\0';
	mag_norm(qt);
	strcpy(q, qt);
	strcpy(r, rt);
}

static struct ref ref_add(struct ref a, struct ref b)
{
	struct ref out = a;

	if (a.neg == b.neg) {
		mag_add(out.m, a.m, b.m);
	} else if (mag_cmp(a.m, b.m) >= 0) {
		mag_sub(out.m, a.m, b.m);
	} else {
		mag_sub(out.m, b.m, a.m);
		out.neg = b.neg;
	}
	return out;
}

static int ref_ties; /* exact halves met by ref_div_round: the property test wants many */

/* |n| / d rounded as r says for a result of sign neg: the same rules as dec.h,
 * written from the definitions (twice the remainder against the divisor). */
static void ref_div_round(char *q, const char *n, const char *d, int neg, enum dec_round r)
{
	char rem[REF_DIGITS], twice[REF_DIGITS];
	int away = 0, c;

	mag_divmod(q, rem, n, d);
	if (strcmp(rem, "0") == 0)
		return;
	mag_add(twice, rem, rem);
	c = mag_cmp(twice, d);
	ref_ties += c == 0;
	switch (r) {
	case DEC_ROUND_HALF_EVEN: away = c > 0 || (c == 0 && (q[strlen(q) - 1] - '0') % 2); break;
	case DEC_ROUND_HALF_UP: away = c >= 0; break;
	case DEC_ROUND_DOWN: away = 0; break;
	case DEC_ROUND_FLOOR: away = neg; break;
	case DEC_ROUND_CEIL: away = !neg; break;
	}
	if (away)
		mag_add(q, q, "1");
}

/* The canonical string of the scaled value, or "ERANGE" past the limit. */
static void ref_canon(char *out, struct ref v)
{
	char pad[REF_DIGITS + 32];
	size_t len = strlen(v.m), zeros = len < 19 ? 19 - len : 0, frac_len = 18;

	if (mag_cmp(v.m, REF_LIMIT) > 0) {
		strcpy(out, "ERANGE");
		return;
	}
	if (strcmp(v.m, "0") == 0) {
		strcpy(out, "0");
		return;
	}
	memset(pad, '0', zeros); /* at least one integer digit */
	strcpy(pad + zeros, v.m);
	len += zeros;
	while (frac_len > 0 && pad[len - 18 + frac_len - 1] == '0')
		frac_len--;
	sprintf(out, "%s%.*s%s%.*s", v.neg ? "-" : "", (int)(len - 18), pad,
		frac_len ? "." : "", (int)frac_len, pad + len - 18);
}

/* ---- the property test ------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng() % n);
}

static void rng_digits(char *m, int n)
{
	for (int i = 0; i < n; i++)
		m[i] = (char)('0' + rng_below(10));
	m[n] = '\0';
	if (n > 0 && m[0] == '0')
		m[0] = (char)('1' + rng_below(9));
}

/* Scaled magnitudes at the edges of both division paths and of the range. */
static const char *const special[] = {
	"0", "1", "2", "5", "9", "10", "999999999999999999", REF_UNIT, "1000000000000000001",
	"500000000000000000", "1500000000000000000", "2500000000000000000",
	"18446744073709551615", "18446744073709551616", "18446744073709551617",
	"340282366920938463463374607431768211455", /* over the limit: clamped */
	REF_LIMIT, "170141183460469231731687303715884105726",
	"85070591730234615865843651857942052864",
	"13043817825332782212349571806", "13043817825332782212349571807",
	"9223372036854775808000000000000000000",
	"79228162532711081669400985600", "79228162495817593521981882368", /* 2^192 + ... */
};

/* A random in-range value of one of several shapes, mixing magnitudes. */
static struct ref ref_random(void)
{
	struct ref v = { (int)rng_below(2), "0" };
	int len;

	do {
		switch (rng_below(8)) {
		case 0: strcpy(v.m, special[rng_below(sizeof special / sizeof *special)]); break;
		case 1: rng_digits(v.m, 1 + (int)rng_below(3)); break;  /* a few units */
		case 2: rng_digits(v.m, 1 + (int)rng_below(19)); break; /* below 10 */
		case 3: rng_digits(v.m, 19 + (int)rng_below(21)); break; /* large */
		case 4: rng_digits(v.m, 36 + (int)rng_below(4)); break;  /* near the limit */
		case 5: /* one or two significant digits: ties in mul and div */
			len = 1 + (int)rng_below(39);
			memset(v.m, '0', (size_t)len);
			v.m[len] = '\0';
			v.m[0] = (char)('1' + rng_below(9));
			if (len > 1 && rng_below(2))
				v.m[1] = (char)('0' + rng_below(10));
			break;
		case 6: { /* the limit minus a little */
			char d[8];

			rng_digits(d, 1 + (int)rng_below(4));
			mag_sub(v.m, REF_LIMIT, d);
			break;
		}
		default: /* around the square root of the limit */
			strcpy(v.m, "1304381782533278221");
			rng_digits(v.m + 19, 10);
			v.m[19] = (char)('0' + rng_below(10));
			break;
		}
	} while (mag_cmp(v.m, REF_LIMIT) > 0);
	if (strcmp(v.m, "0") == 0)
		v.neg = 0;
	return v;
}

/* A text for v that dec_parse must read back as v: canonical, or dressed with a
 * '+', "-0", leading zeros or trailing fractional zeros. */
static void ref_text(char *out, struct ref v)
{
	char canon[DEC_STR_MAX + 8];
	const char *digits, *sign = v.neg ? "-" : "", *lead = "", *tail = "";

	ref_canon(canon, v);
	digits = canon + v.neg;
	switch (rng_below(6)) {
	case 1: sign = v.neg ? "-" : "+"; break;
	case 2: sign = strcmp(digits, "0") == 0 ? "-" : sign; break;
	case 3: lead = "000"; break;
	case 4: tail = strchr(digits, '.') ? "0000" : ".000"; break;
	default: break;
	}
	sprintf(out, "%s%s%s%s", sign, lead, digits, tail);
}

#define REF_2_128 "340282366920938463463374607431768211456"

struct prop_stats {
	int cases, failures, erange, ops;
	int wide; /* products and dividends past 128 bits with a result in range */
};

/* One case: two operands as reference values, as texts, and as parsed. */
struct prop {
	struct prop_stats *st;
	uint64_t seed;
	int i;
	struct ref a, b;
	char ta[64], tb[64];
	struct dec da, db;
	enum dec_round r;
};

/* Compares what dec.c gave (rc, out) with the reference's canonical string. */
static void prop_check(struct prop *p, const char *what, int rc, struct dec out,
		       const char *want)
{
	const char *got = result(rc, out, sentinel);

	p->st->ops++;
	if (strcmp(got, want) == 0) {
		p->st->erange += strcmp(want, "ERANGE") == 0;
		return;
	}
	if (p->st->failures++ < 10)
		printf("    seed %llu case %d: %s(%s, %s) mode %d: got %s, want %s\n",
		       (unsigned long long)p->seed, p->i, what, p->ta, p->tb, (int)p->r, got,
		       want);
}

/* want = the canonical n / d rounded for a result of sign neg; counts a wide
 * dividend whose quotient is in range. */
static void prop_quotient(struct prop *p, char *want, const char *n, const char *d, int neg)
{
	struct ref q = { neg, "" };
	int wide = mag_cmp(n, REF_2_128) > 0;

	ref_div_round(q.m, n, d, neg, p->r);
	q.neg &= strcmp(q.m, "0") != 0;
	ref_canon(want, q);
	p->st->wide += wide && strcmp(want, "ERANGE") != 0;
}

static void prop_parse(struct prop *p)
{
	char want[REF_DIGITS + 8];

	ref_canon(want, p->a);
	p->da = sentinel;
	prop_check(p, "parse a", dec_parse(&p->da, p->ta, strlen(p->ta)), p->da, want);
	ref_canon(want, p->b);
	p->db = sentinel;
	prop_check(p, "parse b", dec_parse(&p->db, p->tb, strlen(p->tb)), p->db, want);
}

static void prop_add_sub(struct prop *p)
{
	char want[REF_DIGITS + 8];
	struct ref nb = p->b;
	struct dec out = sentinel;

	ref_canon(want, ref_add(p->a, p->b));
	prop_check(p, "add", dec_add(&out, p->da, p->db), out, want);
	nb.neg = !nb.neg && strcmp(nb.m, "0") != 0;
	ref_canon(want, ref_add(p->a, nb));
	out = sentinel;
	prop_check(p, "sub", dec_sub(&out, p->da, p->db), out, want);
}

/* mul: |a| * |b| / 10^18; div: |a| * 10^18 / |b|; both rounded once. */
static void prop_mul_div(struct prop *p)
{
	char want[REF_DIGITS + 8], n[REF_DIGITS];
	int neg = p->a.neg != p->b.neg;
	struct dec out = sentinel;

	mag_mul(n, p->a.m, p->b.m);
	prop_quotient(p, want, n, REF_UNIT, neg);
	prop_check(p, "mul", dec_mul(&out, p->da, p->db, p->r), out, want);
	strcpy(want, "EINVAL");
	if (strcmp(p->b.m, "0") != 0) {
		mag_mul(n, p->a.m, REF_UNIT);
		prop_quotient(p, want, n, p->b.m, neg);
	}
	out = sentinel;
	prop_check(p, "div", dec_div(&out, p->da, p->db, p->r), out, want);
}

/* round: |a| / 10^(18 - places), rounded, times 10^(18 - places). */
static void prop_round(struct prop *p, int places)
{
	char want[REF_DIGITS + 8], unit[32], what[16];
	struct ref e = { p->a.neg, "" };
	struct dec out = sentinel;

	snprintf(unit, sizeof unit, "1%.*s", DEC_SCALE - places, "000000000000000000");
	ref_div_round(e.m, p->a.m, unit, e.neg, p->r);
	mag_mul(e.m, e.m, unit);
	e.neg &= strcmp(e.m, "0") != 0;
	ref_canon(want, e);
	snprintf(what, sizeof what, "round %d", places);
	prop_check(p, what, dec_round(&out, p->da, places, p->r), out, want);
}

static void prop_cmp(struct prop *p)
{
	int sa = strcmp(p->a.m, "0") == 0 ? 0 : p->a.neg ? -1 : 1;
	int sb = strcmp(p->b.m, "0") == 0 ? 0 : p->b.neg ? -1 : 1;
	int want = sa != sb ? (sa > sb) - (sa < sb) : sa * mag_cmp(p->a.m, p->b.m);

	/* as a decimal, so that prop_check can report it */
	prop_check(p, "cmp", 0, dec_from_int(dec_cmp(p->da, p->db)),
		   want < 0 ? "-1" : want > 0 ? "1" : "0");
}

static void prop_case(struct prop_stats *st, uint64_t seed, int i)
{
	struct prop p = { st, seed, i, { 0, "0" }, { 0, "0" }, "", "", DEC_ZERO, DEC_ZERO, HE };

	/* One draw after another: the order of initialisers is unspecified in C,
	 * and a seed must replay the same cases under every compiler. */
	p.a = ref_random();
	p.b = ref_random();
	p.r = modes[rng_below(5)];
	ref_text(p.ta, p.a);
	ref_text(p.tb, p.b);
	prop_parse(&p);
	prop_add_sub(&p);
	prop_mul_div(&p);
	prop_round(&p, (int)rng_below(DEC_SCALE + 1));
	prop_cmp(&p);
	st->cases++;
}

/* 10,000 cases by default; DEC_SEED and DEC_CASES in the environment explore more. */
TEST(dec_matches_an_independent_reference)
{
	const char *env_seed = getenv("DEC_SEED"), *env_cases = getenv("DEC_CASES");
	uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0) : 20261126;
	int cases = env_cases ? atoi(env_cases) : 10000;
	struct prop_stats st = { 0, 0, 0, 0, 0 };

	rng_state = seed ? seed : 1;
	ref_ties = 0;
	for (int i = 0; i < cases; i++)
		prop_case(&st, seed, i);
	if (!T_EQ_INT(st.failures, 0))
		printf("      seed %llu (rerun with DEC_SEED=%llu)\n", (unsigned long long)seed,
		       (unsigned long long)seed);
	T_EQ_INT(st.cases, cases);
	/* The generator must reach the limits, or the test proves little. */
	T_CHECK(st.erange > cases / 20);
	T_CHECK(st.wide > cases / 20);
	T_CHECK(ref_ties > cases / 100);
	if (getenv("DEC_VERBOSE"))
		printf("    %d cases, %d operations, %d out of range, %d wide products in "
		       "range, %d exact ties\n", st.cases, st.ops, st.erange, st.wide, ref_ties);
}

/* The reference itself, against values worked by hand. */
TEST(dec_reference_self_check)
{
	char q[REF_DIGITS], r[REF_DIGITS], s[REF_DIGITS + 8];
	struct ref v = { 1, "1500000000000000000" };

	mag_divmod(q, r, "1000000000000000000000", "7");
	T_EQ_STR(q, "142857142857142857142");
	T_EQ_STR(r, "6");
	mag_mul(q, "99999999999999999999", "99999999999999999999");
	T_EQ_STR(q, "9999999999999999999800000000000000000001");
	mag_sub(q, "1000", "1");
	T_EQ_STR(q, "999");
	ref_canon(s, v);
	T_EQ_STR(s, "-1.5");
	strcpy(v.m, "1");
	ref_canon(s, v);
	T_EQ_STR(s, "-0.000000000000000001");
	ref_div_round(q, "25", "10", 0, HE);
	T_EQ_STR(q, "2");
	ref_div_round(q, "35", "10", 1, HE);
	T_EQ_STR(q, "4");
	ref_div_round(q, "31", "10", 1, FL);
	T_EQ_STR(q, "4");
}

/* ---- no binary floating point in the sources ------------------------------------- */

/* Identifiers that mean binary floating point. math and tgmath appear only as
 * the names of <math.h> and <tgmath.h>. */
static const char *const float_words[] = {
	"float", "double", "strtod", "strtof", "strtold", "atof", "_Complex", "math", "tgmath",
};

static int float_word(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof float_words / sizeof *float_words; i++)
		if (strlen(float_words[i]) == n && memcmp(float_words[i], s, n) == 0)
			return 1;
	return 0;
}

static int is_ident(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* A printf conversion of a floating type at s[0] == '%' (flags, width, precision
 * and length skipped); *len gets the characters it spans. */
static int float_conversion(const char *s, size_t *len)
{
	size_t i = 1;

	if (s[1] == '%') {
		*len = 2;
		return 0;
	}
	i += strspn(s + i, "-+#0'");
	i += strspn(s + i, "0123456789*");
	if (s[i] == '.')
		i += 1 + strspn(s + i + 1, "0123456789*");
	i += strspn(s + i, "hlLjztq");
	*len = i;
	return s[i] != '\0' && strchr("fFeEgGaA", s[i]) != NULL;
}

/* A floating constant: a number with '.', a decimal exponent, or a hex 'p'. */
static int float_number(const char *s, size_t n)
{
	int hex = n > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' || (!hex && (s[i] == 'e' || s[i] == 'E')) ||
		    (hex && (s[i] == 'p' || s[i] == 'P')))
			return 1;
	return 0;
}

static void float_hit(int *hits, const char *name, int line, const char *what, const char *s,
		      size_t n, int verbose)
{
	(*hits)++;
	if (verbose)
		printf("    %s:%d: %s '%.*s'\n", name, line, what, (int)n, s);
}

/* Counts floating point in C text: words and constants in code, conversions in
 * string literals; comments and character constants are skipped. */
static int float_scan(const char *name, const char *t, int verbose)
{
	int hits = 0, line = 1;

	for (size_t i = 0; t[i];) {
		size_t j = i + 1;

		if (t[i] == '\n') {
			line++;
		} else if (t[i] == '/' && t[i + 1] == '/') {
			j = i + strcspn(t + i, "\n");
		} else if (t[i] == '/' && t[i + 1] == '*') {
			const char *end = strstr(t + i + 2, "*/");

			j = end ? (size_t)(end - t) + 2 : strlen(t);
			for (size_t k = i; k < j; k++)
				line += t[k] == '\n';
		} else if (t[i] == '"' || t[i] == '\'') {
			for (; t[j] && t[j] != t[i] && t[j] != '\n'; j++) {
				size_t len = 1;

				if (t[j] == '\\' && t[j + 1])
					len = 2;
				else if (t[i] == '"' && t[j] == '%' &&
					 float_conversion(t + j, &len))
					float_hit(&hits, name, line, "format", t + j, len + 1,
						  verbose);
				j += len - 1;
			}
			j += t[j] == t[i];
		} else if ((t[i] >= '0' && t[i] <= '9') ||
			   (t[i] == '.' && t[i + 1] >= '0' && t[i + 1] <= '9')) {
			/* a preprocessing number: 1.5, 1e5, 0x1p3, 10ull, 1e+5 */
			while (is_ident(t[j]) || t[j] == '.' ||
			       ((t[j] == '+' || t[j] == '-') && strchr("eEpP", t[j - 1])))
				j++;
			if (float_number(t + i, j - i))
				float_hit(&hits, name, line, "constant", t + i, j - i, verbose);
		} else if (is_ident(t[i])) {
			while (is_ident(t[j]))
				j++;
			if (float_word(t + i, j - i))
				float_hit(&hits, name, line, "word", t + i, j - i, verbose);
		}
		i = j;
	}
	return hits;
}

TEST(dec_float_scanner_sees_what_it_should)
{
	T_EQ_INT(float_scan("t", "/* float double %f */ int x; // double\n", 0), 0);
	T_EQ_INT(float_scan("t", "double x;", 0), 1);
	T_EQ_INT(float_scan("t", "long double x; float y;", 0), 2);
	T_EQ_INT(float_scan("t", "#include <math.h>\n", 0), 1);
	T_EQ_INT(float_scan("t", "x = strtod(s, 0);", 0), 1);
	T_EQ_INT(float_scan("t", "printf(\"%d %s %.2f\", a);", 0), 1);
	T_EQ_INT(float_scan("t", "printf(\"%g %e %10.3Lf %a\");", 0), 4);
	T_EQ_INT(float_scan("t", "printf(\"100%% full, %-5s\\\"%f\");", 0), 1);
	T_EQ_INT(float_scan("t", "printf(\"a double-quoted %s\");", 0), 0);
	T_EQ_INT(float_scan("t", "c = '\"'; int doubled = 1; x = 1e5;", 0), 1);
	T_EQ_INT(float_scan("t", "x = 1.5 + 0x1p3 + 10ull + 0xE + 1e+5;", 0), 3);
	T_EQ_INT(float_scan("t", "int my_float_count = 0x1F; x = .5; s.a1 = 0;", 0), 1);
}


TEST(dec_no_binary_floating_point_in_src)
{
	glob_t g;
	int hits = 0, saw_dec = 0;

	T_REQUIRE(glob("src/*.[ch]", 0, NULL, &g) == 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *text = t_read_file(g.gl_pathv[i], NULL);

		if (!T_CHECK(text != NULL))
			continue;
		hits += float_scan(g.gl_pathv[i], text, 1);
		saw_dec += strcmp(g.gl_pathv[i], "src/dec.c") == 0;
		free(text);
	}
	T_CHECK(g.gl_pathc >= 4);
	T_EQ_INT(saw_dec, 1);
	T_EQ_INT(hits, 0);
	globfree(&g);
}
