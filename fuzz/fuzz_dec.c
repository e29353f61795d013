/*
 * fuzz_dec.c -- libFuzzer target for dec_parse and the algebra of dec.h.
 *
 * The whole input is parsed (dec_parse takes any bytes, not NUL-terminated);
 * what parses must format canonically and parse back to the same value. The
 * input is also split at its first ' ' -- a byte no decimal contains -- into two
 * operands; when both parse, identities that hold exactly in every rounding mode
 * are checked. Only values dec_parse returned reach the other functions, so the
 * contract's preconditions hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dec.h"
#include "err.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static const enum dec_round modes[] = {
	DEC_ROUND_HALF_EVEN, DEC_ROUND_HALF_UP, DEC_ROUND_DOWN, DEC_ROUND_FLOOR, DEC_ROUND_CEIL,
};
#define MODES_N ((int)(sizeof modes / sizeof *modes))

static const struct dec sentinel = { 4242 };
static const struct dec one = { 1000000000000000000 };

static int same(struct dec a, struct dec b)
{
	return dec_cmp(a, b) == 0;
}

/* The canonical text: no "-0", no trailing fractional zero, no needless leading 0. */
static void check_canonical(const char *s, int len)
{
	const char *digits = s + (s[0] == '-');
	const char *dot = strchr(s, '.');

	CHECK(len > 0 && len < DEC_STR_MAX && (size_t)len == strlen(s));
	CHECK(strcmp(s, "-0") != 0);
	CHECK(digits[0] >= '0' && digits[0] <= '9');
	CHECK(digits[0] != '0' || digits[1] == '\0' || digits[1] == '.');
	CHECK(!dot || (dot[1] != '\0' && s[len - 1] != '0'));
	CHECK(strspn(digits, "0123456789.") == strlen(digits));
}

/* format -> parse -> format is the identity, and too small a buffer is refused. */
static void check_round_trip(struct dec d)
{
	char s[DEC_STR_MAX], t[DEC_STR_MAX];
	struct dec back = sentinel;
	int len = dec_format(d, s, sizeof s);

	check_canonical(s, len);
	CHECK(dec_parse(&back, s, (size_t)len) == 0 && same(back, d));
	CHECK(dec_format(back, t, sizeof t) == len && strcmp(s, t) == 0);
	CHECK(dec_format(d, t, (size_t)len) == FR_ERANGE && t[0] == '\0');
}

/* Rounding brackets the value: floor <= d <= ceil, one unit of 10^-places apart. */
static void check_round(struct dec d, int places)
{
	struct dec lo = sentinel, hi = sentinel, gap, x, unit = { 1 };
	int64_t i;

	for (int k = places; k < DEC_SCALE; k++)
		unit.v *= 10;

	CHECK(dec_round(&x, d, DEC_SCALE, DEC_ROUND_HALF_EVEN) == 0 && same(x, d));
	if (dec_round(&lo, d, places, DEC_ROUND_FLOOR) == 0) {
		CHECK(dec_cmp(lo, d) <= 0);
		if (dec_round(&hi, d, places, DEC_ROUND_CEIL) == 0) {
			CHECK(dec_cmp(d, hi) <= 0 && dec_sub(&gap, hi, lo) == 0);
			CHECK(dec_is_zero(gap) == same(lo, d));
			CHECK(dec_is_zero(gap) || same(gap, unit));
		}
	}
	if (dec_to_int(&i, d, DEC_ROUND_FLOOR) == 0) {
		CHECK(dec_sub(&gap, d, dec_from_int(i)) == 0);
		CHECK(dec_sign(gap) >= 0 && dec_cmp(gap, one) < 0);
	}
}

static void check_one(struct dec d, size_t size)
{
	struct dec n = dec_neg(d);

	check_round_trip(d);
	check_round(d, (int)(size % (DEC_SCALE + 1)));
	CHECK(same(dec_neg(n), d) && dec_sign(n) == -dec_sign(d));
	CHECK(dec_sign(dec_abs(d)) >= 0 && dec_is_zero(d) == (dec_sign(d) == 0));
	CHECK(dec_cmp(d, d) == 0);
}

static void check_add_sub(struct dec a, struct dec b)
{
	struct dec s = sentinel, t = sentinel, back = sentinel;
	int rs = dec_add(&s, a, b), rt = dec_add(&t, b, a);

	CHECK(rs == rt && (rs == FR_ERANGE || (rs == 0 && same(s, t))));
	if (rs == 0) {
		CHECK(dec_sub(&back, s, b) == 0 && same(back, a));
		CHECK(dec_cmp(s, a) == dec_sign(b));
	} else {
		CHECK(same(s, sentinel));
	}
	rs = dec_sub(&s, a, b);
	rt = dec_sub(&t, b, a);
	CHECK(rs == rt && (rs == FR_ERANGE || same(s, dec_neg(t))));
	if (rs == 0)
		CHECK(dec_sign(s) == dec_cmp(a, b));
}

/* Every mode gives the floor or the ceiling, one unit apart at most, and when
 * both are in range so is every mode. Negating an operand swaps floor and ceil.
 * rc[] and v[] are the results in the order of modes[]. */
static void check_bracket(const int *rc, const struct dec *v, int rc_neg_floor,
			  struct dec neg_floor)
{
	struct dec gap;

	if (rc[3] == 0 && rc[4] == 0) {
		for (int m = 0; m < MODES_N; m++)
			CHECK(rc[m] == 0 && (same(v[m], v[3]) || same(v[m], v[4])));
		CHECK(dec_sub(&gap, v[4], v[3]) == 0 && gap.v >= 0 && gap.v <= 1);
	}
	for (int m = 0; m < MODES_N; m++)
		CHECK(rc[m] == 0 || (rc[m] == FR_ERANGE && same(v[m], sentinel)));
	CHECK(rc_neg_floor == rc[4]);
	if (rc[4] == 0)
		CHECK(same(neg_floor, dec_neg(v[4])));
}

static void check_mul(struct dec a, struct dec b)
{
	int rc[MODES_N], rn;
	struct dec v[MODES_N], w, n;

	for (int m = 0; m < MODES_N; m++) {
		v[m] = sentinel;
		rc[m] = dec_mul(&v[m], a, b, modes[m]);
		CHECK(dec_mul(&w, a, one, modes[m]) == 0 && same(w, a));
		CHECK(rc[m] == dec_mul(&w, b, a, modes[m]) && (rc[m] || same(w, v[m])));
	}
	rn = dec_mul(&n, dec_neg(a), b, DEC_ROUND_FLOOR);
	check_bracket(rc, v, rn, n);
	/* An exact product divides back to a in every mode. */
	if (rc[3] == 0 && rc[4] == 0 && same(v[3], v[4]) && !dec_is_zero(b))
		for (int m = 0; m < MODES_N; m++)
			CHECK(dec_div(&w, v[3], b, modes[m]) == 0 && same(w, a));
}

static void check_div(struct dec a, struct dec b)
{
	int rc[MODES_N], rn;
	struct dec v[MODES_N], w, n;

	for (int m = 0; m < MODES_N; m++) {
		v[m] = sentinel;
		rc[m] = dec_div(&v[m], a, b, modes[m]);
		CHECK(dec_div(&w, a, one, modes[m]) == 0 && same(w, a));
	}
	if (dec_is_zero(b)) {
		for (int m = 0; m < MODES_N; m++)
			CHECK(rc[m] == FR_EINVAL && same(v[m], sentinel));
		return;
	}
	rn = dec_div(&n, dec_neg(a), b, DEC_ROUND_FLOOR);
	check_bracket(rc, v, rn, n);
	/* Truncated, the quotient times b does not pass a. */
	if (rc[2] == 0) {
		CHECK(dec_mul(&w, v[2], b, DEC_ROUND_DOWN) == 0);
		CHECK(dec_cmp(dec_abs(w), dec_abs(a)) <= 0);
	}
}

static void check_pair(struct dec a, struct dec b)
{
	struct dec lo = dec_min(a, b);

	CHECK(dec_cmp(a, b) == -dec_cmp(b, a));
	CHECK(same(lo, dec_min(b, a)) && dec_cmp(lo, a) <= 0 && dec_cmp(lo, b) <= 0);
	check_add_sub(a, b);
	check_mul(a, b);
	check_div(a, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *space = memchr(s, ' ', size);
	struct dec d = sentinel, a = sentinel, b = sentinel;
	int rc = dec_parse(&d, s, size);

	CHECK(rc == 0 || rc == FR_EINVAL || rc == FR_ERANGE);
	if (rc == 0)
		check_one(d, size);
	else
		CHECK(same(d, sentinel));
	if (space) {
		size_t n = (size_t)(space - s);

		if (dec_parse(&a, s, n) == 0 && dec_parse(&b, space + 1, size - n - 1) == 0)
			check_pair(a, b);
	}
	return 0;
}
