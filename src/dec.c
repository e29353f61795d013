/*
 * dec.c -- exact fixed-point decimals: a signed 128-bit count of 10^-18 units.
 *
 * All arithmetic works on magnitudes (unsigned __int128) and puts the sign back
 * at the end, so rounding toward or away from zero is one rule for both signs.
 * Products and scaled dividends can need up to 2 * 127 bits: they are held in a
 * 256-bit integer of four 64-bit limbs and divided exactly, so every result is
 * the true value rounded once, as asked.
 */
#include <assert.h>
#include <string.h>

#include "dec.h"
#include "err.h"

typedef unsigned __int128 u128;

/* 256-bit unsigned integer, least significant limb first. */
struct u256 {
	uint64_t w[4];
};

#define DEC_ONE_V 1000000000000000000ull /* 10^DEC_SCALE: the unit of v */
#define DEC_INT_DIGITS_MAX 21             /* digits of DEC_MAX_V / 10^DEC_SCALE */

/* Every function accepts only values an operation of this module can produce. */
#define DEC_VALID(d) ((d).v >= -DEC_MAX_V)

_Static_assert(DEC_STR_MAX >= 1 + DEC_INT_DIGITS_MAX + 1 + DEC_SCALE + 1, "DEC_STR_MAX");

static const uint64_t dec_pow10[DEC_SCALE + 1] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull,
};

static u128 dec_mag(__int128 v)
{
	/* Negating in unsigned arithmetic is defined even for the most negative
	 * value, although valid values never reach it. */
	return v < 0 ? -(u128)v : (u128)v;
}

/* The signed value of a magnitude already checked against DEC_MAX_V. */
static struct dec dec_signed(u128 mag, int neg)
{
	assert(mag <= (u128)DEC_MAX_V);
	return (struct dec){ neg ? -(__int128)mag : (__int128)mag };
}

/*
 * Whether a truncated magnitude q must step one unit away from zero, given the
 * remainder rem of divisor d that truncation dropped. neg is the sign of the
 * exact result: toward -infinity is away from zero only for negatives.
 */
static int dec_round_away(enum dec_round r, int neg, u128 q, u128 rem, u128 d)
{
	assert(rem < d);
	if (rem == 0)
		return 0;
	switch (r) {
	case DEC_ROUND_HALF_EVEN:
		/* rem vs d - rem compares 2 * rem with d without overflow. */
		return rem > d - rem || (rem == d - rem && (q & 1));
	case DEC_ROUND_HALF_UP:
		return rem >= d - rem;
	case DEC_ROUND_DOWN:
		return 0;
	case DEC_ROUND_FLOOR:
		return neg;
	case DEC_ROUND_CEIL:
		return !neg;
	}
	assert(0 && "bad enum dec_round");
	return 0;
}

/* The exact product of two 128-bit magnitudes, from four 64x64 partial products. */
static struct u256 u256_mul(u128 a, u128 b)
{
	uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64);
	uint64_t b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
	u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1;
	u128 p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
	/* Each column sum adds at most four 64-bit values: no carry is lost. */
	u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
	u128 top = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + (uint64_t)p11;
	struct u256 n;

	n.w[0] = (uint64_t)p00;
	n.w[1] = (uint64_t)mid;
	n.w[2] = (uint64_t)top;
	n.w[3] = (uint64_t)((top >> 64) + (p11 >> 64));
	return n;
}

/* Schoolbook division by one limb: each step divides a 128-bit value whose high
 * half (the running remainder) is below d, so every quotient digit fits a limb. */
static u128 u256_divmod_u64(struct u256 *q, struct u256 n, uint64_t d)
{
	u128 rem = 0;

	for (int i = 3; i >= 0; i--) {
		u128 cur = rem << 64 | n.w[i];

		q->w[i] = (uint64_t)(cur / d);
		rem = cur % d;
	}
	return rem;
}

static int u256_top_bit(struct u256 n)
{
	for (int i = 3; i >= 0; i--)
		if (n.w[i])
			return 64 * i + 63 - __builtin_clzll(n.w[i]);
	return -1;
}

/*
 * Binary long division for a divisor of more than one limb. The remainder stays
 * below d < 2^127, so shifting one more bit into it never overflows 128 bits.
 * At most 187 iterations (the widest dividend is DEC_MAX_V * 10^18).
 */
static u128 u256_divmod_u128(struct u256 *q, struct u256 n, u128 d)
{
	u128 rem = 0;

	assert(d < (u128)1 << 127);
	memset(q, 0, sizeof *q);
	for (int i = u256_top_bit(n); i >= 0; i--) {
		rem = rem << 1 | (n.w[i / 64] >> (i % 64) & 1);
		if (rem >= d) {
			rem -= d;
			q->w[i / 64] |= 1ull << (i % 64);
		}
	}
	return rem;
}

/* n / d rounded as asked into a magnitude no greater than DEC_MAX_V. */
static int dec_quotient(u128 *out, struct u256 n, u128 d, enum dec_round r, int neg)
{
	struct u256 q;
	u128 rem, qv;

	assert(d != 0);
	if (d >> 64 == 0)
		rem = u256_divmod_u64(&q, n, (uint64_t)d);
	else
		rem = u256_divmod_u128(&q, n, d);
	if (q.w[3] || q.w[2])
		return FR_ERANGE;
	qv = (u128)q.w[1] << 64 | q.w[0];
	if (qv > (u128)DEC_MAX_V)
		return FR_ERANGE;
	qv += dec_round_away(r, neg, qv, rem, d);
	if (qv > (u128)DEC_MAX_V)
		return FR_ERANGE;
	*out = qv;
	return 0;
}

/* A run of digits that is all '0'. */
static int dec_all_zeros(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return 0;
	return 1;
}

static size_t dec_digits(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* The magnitude of syntactically valid integer and fraction digit runs. */
static int dec_parse_mag(u128 *out, const char *ip, size_t in, const char *fp, size_t fn)
{
	u128 m = 0;
	uint64_t f = 0;

	while (in > 0 && *ip == '0') /* leading zeros add no magnitude */
		ip++, in--;
	if (in > DEC_INT_DIGITS_MAX)
		return FR_ERANGE;
	/* 21 digits stay below 2^70: no overflow before the range check. */
	for (size_t i = 0; i < in; i++)
		m = m * 10 + (u128)(ip[i] - '0');
	if (m > (u128)DEC_MAX_V / DEC_ONE_V)
		return FR_ERANGE;
	if (fn > DEC_SCALE)
		fn = DEC_SCALE; /* the caller checked that the rest is zeros */
	for (size_t i = 0; i < fn; i++)
		f = f * 10 + (uint64_t)(fp[i] - '0');
	m = m * DEC_ONE_V + f * dec_pow10[DEC_SCALE - fn];
	if (m > (u128)DEC_MAX_V)
		return FR_ERANGE;
	*out = m;
	return 0;
}

/* see dec.h */
int dec_parse(struct dec *out, const char *s, size_t n)
{
	size_t i = 0, int_at, int_end, frac_at, frac_end;
	int neg = 0, rc;
	u128 m;

	assert(out && (s || n == 0));
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	int_at = i;
	int_end = i = dec_digits(s, n, i);
	frac_at = frac_end = i;
	if (i < n && s[i] == '.') {
		frac_at = i + 1;
		frac_end = i = dec_digits(s, n, frac_at);
	}
	/* Syntax first: a malformed string is FR_EINVAL however long it is. */
	if (i != n || (int_end == int_at && frac_end == frac_at))
		return FR_EINVAL;
	if (frac_end - frac_at > DEC_SCALE &&
	    !dec_all_zeros(s + frac_at + DEC_SCALE, frac_end - frac_at - DEC_SCALE))
		return FR_EINVAL; /* not representable exactly: never round input */
	rc = dec_parse_mag(&m, s + int_at, int_end - int_at, s + frac_at, frac_end - frac_at);
	if (rc < 0)
		return rc;
	*out = dec_signed(m, neg);
	return 0;
}

/* Writes x's decimal digits backward ending just before *p, at least min_digits
 * of them (zero-padded); moves *p to the first digit. */
static void dec_put_u64(char **p, uint64_t x, int min_digits)
{
	for (int k = 0; x != 0 || k < min_digits; k++) {
		*--*p = (char)('0' + x % 10);
		x /= 10;
	}
}

/* see dec.h */
int dec_format(struct dec d, char *buf, size_t n)
{
	char tmp[DEC_STR_MAX];
	char *p = tmp + sizeof tmp;
	u128 mag = dec_mag(d.v), ip = mag / DEC_ONE_V;
	uint64_t frac = (uint64_t)(mag % DEC_ONE_V);
	int frac_digits = DEC_SCALE;
	size_t len;

	assert(DEC_VALID(d) && (buf || n == 0));
	if (frac != 0) {
		while (frac % 10 == 0) /* canonical: no trailing zeros */
			frac /= 10, frac_digits--;
		dec_put_u64(&p, frac, frac_digits);
		*--p = '.';
	}
	/* The integer part (< 2^70) is written as two 18-digit chunks. */
	if (ip >= DEC_ONE_V) {
		dec_put_u64(&p, (uint64_t)(ip % DEC_ONE_V), DEC_SCALE);
		dec_put_u64(&p, (uint64_t)(ip / DEC_ONE_V), 0);
	} else {
		dec_put_u64(&p, (uint64_t)ip, 1);
	}
	if (d.v < 0)
		*--p = '-';
	len = (size_t)(tmp + sizeof tmp - p);
	if (len >= n) {
		if (n > 0)
			buf[0] = '\0';
		return FR_ERANGE;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	return (int)len;
}

/* see dec.h */
struct dec dec_from_int(int64_t i)
{
	/* |i| <= 2^63 and 10^18 < 2^60: the product is below 2^123. */
	return (struct dec){ (__int128)i * (__int128)DEC_ONE_V };
}

/* see dec.h */
int dec_to_int(int64_t *out, struct dec d, enum dec_round r)
{
	u128 mag = dec_mag(d.v);
	u128 q = mag / DEC_ONE_V;
	int neg = d.v < 0;

	assert(out && DEC_VALID(d));
	q += dec_round_away(r, neg, q, mag % DEC_ONE_V, DEC_ONE_V);
	if (q > (u128)INT64_MAX + (u128)neg) /* INT64_MIN has one more unit */
		return FR_ERANGE;
	*out = neg ? (int64_t)-(__int128)q : (int64_t)q;
	return 0;
}

/* see dec.h */
int dec_add(struct dec *out, struct dec a, struct dec b)
{
	assert(out && DEC_VALID(a) && DEC_VALID(b));
	/* Compared before adding: both bounds are computed without overflow, and
	 * the result stays symmetric (never the unnegatable -2^127). */
	if (b.v > 0 ? a.v > DEC_MAX_V - b.v : a.v < -DEC_MAX_V - b.v)
		return FR_ERANGE;
	out->v = a.v + b.v;
	return 0;
}

/* see dec.h */
int dec_sub(struct dec *out, struct dec a, struct dec b)
{
	assert(DEC_VALID(b));
	return dec_add(out, a, dec_neg(b));
}

/* see dec.h */
int dec_mul(struct dec *out, struct dec a, struct dec b, enum dec_round r)
{
	int neg = (a.v < 0) != (b.v < 0);
	u128 mag;
	int rc;

	assert(out && DEC_VALID(a) && DEC_VALID(b));
	/* (a * 10^18) * (b * 10^18) / 10^18: the 254-bit product, divided once. */
	rc = dec_quotient(&mag, u256_mul(dec_mag(a.v), dec_mag(b.v)), DEC_ONE_V, r, neg);
	if (rc < 0)
		return rc;
	*out = dec_signed(mag, neg);
	return 0;
}

/* see dec.h */
int dec_div(struct dec *out, struct dec a, struct dec b, enum dec_round r)
{
	int neg = (a.v < 0) != (b.v < 0);
	u128 mag;
	int rc;

	assert(out && DEC_VALID(a) && DEC_VALID(b));
	if (b.v == 0)
		return FR_EINVAL;
	/* (a * 10^18) * 10^18 / (b * 10^18): the dividend needs up to 187 bits. */
	rc = dec_quotient(&mag, u256_mul(dec_mag(a.v), DEC_ONE_V), dec_mag(b.v), r, neg);
	if (rc < 0)
		return rc;
	*out = dec_signed(mag, neg);
	return 0;
}

/* see dec.h */
int dec_round(struct dec *out, struct dec a, int places, enum dec_round r)
{
	u128 mag = dec_mag(a.v), unit, q;
	int neg = a.v < 0;

	assert(out && DEC_VALID(a));
	if (places < 0 || places > DEC_SCALE)
		return FR_EINVAL;
	unit = dec_pow10[DEC_SCALE - places];
	q = mag / unit;
	q += dec_round_away(r, neg, q, mag % unit, unit);
	if (q > (u128)DEC_MAX_V / unit) /* rounding up can leave the range */
		return FR_ERANGE;
	*out = dec_signed(q * unit, neg);
	return 0;
}

/* see dec.h */
int dec_cmp(struct dec a, struct dec b)
{
	return (a.v > b.v) - (a.v < b.v);
}

/* see dec.h */
int dec_is_zero(struct dec a)
{
	return a.v == 0;
}

/* see dec.h */
int dec_sign(struct dec a)
{
	return (a.v > 0) - (a.v < 0);
}

/* see dec.h */
struct dec dec_neg(struct dec a)
{
	assert(DEC_VALID(a));
	return (struct dec){ -a.v };
}

/* see dec.h */
struct dec dec_abs(struct dec a)
{
	assert(DEC_VALID(a));
	return a.v < 0 ? dec_neg(a) : a;
}

/* see dec.h */
struct dec dec_min(struct dec a, struct dec b)
{
	return a.v <= b.v ? a : b;
}
