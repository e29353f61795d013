/*
 * dec.h -- exact fixed-point decimals for money and sizes.
 *
 * Bybit sends every price, size, fee and balance as a decimal string; fillrelay
 * keeps them exact: a struct dec is an integer count of 10^-DEC_SCALE units in a
 * signed 128-bit integer (range about +/-1.7e20 with 18 fractional digits). No
 * binary floating point is used anywhere on a money or size path.
 *
 * Every operation that can overflow returns FR_ERANGE; nothing wraps. On any
 * error *out is left untouched. Division and multiplication say how they round
 * (enum dec_round); addition and subtraction are exact. Formatting is canonical:
 * no exponent, no trailing fractional zeros, no '+', "0" for zero (never "-0"),
 * so 0.1 + 0.2 prints "0.3".
 *
 * Plain values, no allocation, no global state: safe to use anywhere.
 *
 * Preconditions (asserted, as programmer errors): every struct dec passed in has
 * |v| <= DEC_MAX_V -- which every function here guarantees for what it returns,
 * so only a hand-built v == -2^127 breaks it -- and every enum dec_round is one of
 * the five below.
 */
#ifndef FR_DEC_H
#define FR_DEC_H

#include <stddef.h>
#include <stdint.h>

#define DEC_SCALE 18                 /* fractional digits kept */
#define DEC_STR_MAX 48               /* sign, 21 integer digits, '.', 18 digits, NUL */
/* The largest magnitude of v, 2^127 - 1, so that every value can be negated. */
#define DEC_MAX_V ((__int128)(((unsigned __int128)1 << 127) - 1))

struct dec {
	__int128 v;                  /* value * 10^DEC_SCALE */
};

enum dec_round {
	DEC_ROUND_HALF_EVEN,         /* banker's rounding */
	DEC_ROUND_HALF_UP,           /* half away from zero */
	DEC_ROUND_DOWN,              /* toward zero (truncate) */
	DEC_ROUND_FLOOR,             /* toward -infinity */
	DEC_ROUND_CEIL,              /* toward +infinity */
};

#define DEC_ZERO ((struct dec){ 0 })

/*
 * Parses s[0..n): optional '-' or '+', digits, optional '.' and digits (at least
 * one digit in all; "5." and ".5" are accepted; no exponent, no blanks, no
 * thousands separators). More than DEC_SCALE fractional digits: FR_EINVAL unless
 * every extra digit is 0. Returns 0, FR_EINVAL (not a decimal) or FR_ERANGE.
 * An empty string is FR_EINVAL: Bybit's "" fields are absent values, which the
 * caller decides about.
 */
int dec_parse(struct dec *out, const char *s, size_t n);

/* Writes the canonical form into buf of n bytes (DEC_STR_MAX always suffices);
 * returns its length, or FR_ERANGE when buf is too small (buf then holds "",
 * unless n is 0: then nothing is written). */
int dec_format(struct dec d, char *buf, size_t n);

struct dec dec_from_int(int64_t i);      /* exact: every int64 fits */
/* The integer part (rounded as asked) when it fits an int64, else FR_ERANGE. */
int dec_to_int(int64_t *out, struct dec d, enum dec_round r);

int dec_add(struct dec *out, struct dec a, struct dec b);
int dec_sub(struct dec *out, struct dec a, struct dec b);
/* a*b rounded to DEC_SCALE digits as asked (the full product is exact first). */
int dec_mul(struct dec *out, struct dec a, struct dec b, enum dec_round r);
/* a/b rounded to DEC_SCALE digits; b == 0 is FR_EINVAL. */
int dec_div(struct dec *out, struct dec a, struct dec b, enum dec_round r);
/* a rounded to `places` fractional digits (0..DEC_SCALE; others are FR_EINVAL). */
int dec_round(struct dec *out, struct dec a, int places, enum dec_round r);

int dec_cmp(struct dec a, struct dec b); /* -1, 0, 1 */
int dec_is_zero(struct dec a);
int dec_sign(struct dec a);              /* -1, 0, 1 */
struct dec dec_neg(struct dec a);        /* never overflows: values stay within +/-DEC_MAX_V */
struct dec dec_abs(struct dec a);
struct dec dec_min(struct dec a, struct dec b);

#endif
