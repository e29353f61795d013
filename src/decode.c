/*
 * decode.c -- a strict JSON check, jsmn tokens, table-driven records.
 *
 * Three passes over one message:
 *  1. jc_*: an RFC 8259 checker that also counts tokens and nesting. jsmn,
 *     even in strict mode, accepts text that is not JSON (a missing comma,
 *     bare words, control characters and invalid UTF-8 in strings, "01"), and
 *     the raw spans handed out end up in PostgreSQL jsonb, which refuses them;
 *     counting first also turns "too many tokens" into a precise message.
 *  2. jsmn (with parent links, so closing a container is O(depth), not a scan
 *     back over every earlier token) tokenizes the now-valid text. It cannot
 *     fail any more: an assertion pairs its count with the checker's.
 *  3. Envelopes and records are read through field tables: key, type, flags
 *     and the offset of the slot in the record struct.
 */
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "decode.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

_Static_assert(sizeof(jsmntok_t) == DECODE_TOK_INTS * sizeof(int), "struct decode token layout");
_Static_assert(_Alignof(jsmntok_t) == _Alignof(int), "struct decode token alignment");

#define SHOW_MAX 40 /* bytes of an offending value quoted in a reason */
#define KEY_MAX 64  /* longer keys are unknown by definition */
#define NUM_TEXT_MAX 64

/* ---- small helpers -------------------------------------------------------- */

static int is_blank(unsigned char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static int is_digit(unsigned char b)
{
	return b >= '0' && b <= '9';
}

static int is_hex(unsigned char b)
{
	return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

/* Length of the UTF-8 sequence a (valid) lead byte starts. */
static size_t utf8_len(unsigned char lead)
{
	return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
}

/* Drops a multi-byte sequence that snprintf's truncation cut in half. */
static void utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;

	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && (unsigned char)s[i - 1] >= 0xc0 &&
	    i - 1 + utf8_len((unsigned char)s[i - 1]) > n)
		s[i - 1] = 0;
}

/* ---- pass 1: the JSON check ------------------------------------------------ */

struct jc {
	const unsigned char *s;
	size_t n, i;
	int depth;
	long tokens;
	unsigned char stack[DECODE_DEPTH_MAX]; /* '{' or '[' */
	char *why;
	size_t whyn;
};

enum { JC_VALUE, JC_KEY, JC_AFTER };

/* The input ended where more was needed: every proper prefix of a message ends here. */
static int jc_part(struct jc *c, const char *where)
{
	snprintf(c->why, c->whyn, "incomplete JSON: input ends %s (after %zu bytes)", where, c->n);
	return FR_EINVAL;
}

static int jc_bad(struct jc *c, const char *what)
{
	unsigned char b = c->s[c->i];

	if (b > 0x20 && b < 0x7f)
		snprintf(c->why, c->whyn, "not JSON: %s at byte %zu ('%c')", what, c->i, b);
	else
		snprintf(c->why, c->whyn, "not JSON: %s at byte %zu (0x%02x)", what, c->i, b);
	return FR_EINVAL;
}

static void jc_blanks(struct jc *c)
{
	while (c->i < c->n && is_blank(c->s[c->i]))
		c->i++;
}

/* Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 if invalid, -1 if the input ends in it. */
static int jc_utf8(const unsigned char *s, size_t n, size_t i)
{
	unsigned char b = s[i], lo = 0x80, hi = 0xbf;
	int len = b >= 0xc2 && b <= 0xdf   ? 2
	          : b >= 0xe0 && b <= 0xef ? 3
	          : b >= 0xf0 && b <= 0xf4 ? 4
	                                   : 0;

	if (b == 0xe0)
		lo = 0xa0;
	else if (b == 0xed)
		hi = 0x9f;
	else if (b == 0xf0)
		lo = 0x90;
	else if (b == 0xf4)
		hi = 0x8f;
	for (int k = 1; k < len; k++) {
		if (i + (size_t)k >= n)
			return -1;
		if (s[i + k] < lo || s[i + k] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

static int jc_escape(struct jc *c)
{
	unsigned char b;

	c->i++;
	if (c->i >= c->n)
		return jc_part(c, "inside an escape");
	b = c->s[c->i];
	if (b != 0 && strchr("\"\\/bfnrt", b)) {
		c->i++;
		return 0;
	}
	if (b != 'u')
		return jc_bad(c, "invalid escape");
	for (int k = 0; k < 4; k++) {
		c->i++;
		if (c->i >= c->n)
			return jc_part(c, "inside a \\u escape");
		if (!is_hex(c->s[c->i]))
			return jc_bad(c, "invalid \\u escape");
	}
	c->i++;
	return 0;
}

static int jc_string(struct jc *c)
{
	c->i++; /* the opening quote */
	for (;;) {
		unsigned char b;
		int len;

		if (c->i >= c->n)
			return jc_part(c, "inside a string");
		b = c->s[c->i];
		if (b == '"') {
			c->i++;
			return 0;
		}
		if (b == '\\') {
			if (jc_escape(c))
				return FR_EINVAL;
			continue;
		}
		if (b < 0x20)
			return jc_bad(c, "control character in a string");
		len = b < 0x80 ? 1 : jc_utf8(c->s, c->n, c->i);
		if (len < 0)
			return jc_part(c, "inside a UTF-8 sequence");
		if (len == 0)
			return jc_bad(c, "invalid UTF-8");
		c->i += (size_t)len;
	}
}

static int jc_digits(struct jc *c)
{
	if (c->i >= c->n)
		return jc_part(c, "inside a number");
	if (!is_digit(c->s[c->i]))
		return jc_bad(c, "digit expected in a number");
	while (c->i < c->n && is_digit(c->s[c->i]))
		c->i++;
	return 0;
}

static int jc_number(struct jc *c)
{
	if (c->s[c->i] == '-')
		c->i++;
	if (c->i < c->n && c->s[c->i] == '0')
		c->i++;
	else if (jc_digits(c))
		return FR_EINVAL;
	if (c->i < c->n && c->s[c->i] == '.') {
		c->i++;
		if (jc_digits(c))
			return FR_EINVAL;
	}
	if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
		c->i++;
		if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
			c->i++;
		if (jc_digits(c))
			return FR_EINVAL;
	}
	return 0;
}

static int jc_literal(struct jc *c, const char *lit)
{
	for (size_t k = 0; lit[k]; k++, c->i++) {
		if (c->i >= c->n)
			return jc_part(c, "inside a literal");
		if (c->s[c->i] != (unsigned char)lit[k])
			return jc_bad(c, "invalid literal");
	}
	return 0;
}

static int jc_open(struct jc *c, unsigned char b, int *state)
{
	unsigned char close = b == '{' ? '}' : ']';

	if (c->depth == DECODE_DEPTH_MAX)
		return jc_bad(c, "nesting deeper than DECODE_DEPTH_MAX (32)");
	c->stack[c->depth++] = b;
	c->tokens++;
	c->i++;
	jc_blanks(c);
	if (c->i >= c->n)
		return jc_part(c, b == '{' ? "inside an object" : "inside a list");
	if (c->s[c->i] == close) {
		c->depth--;
		c->i++;
		*state = JC_AFTER;
		return 0;
	}
	*state = b == '{' ? JC_KEY : JC_VALUE;
	return 0;
}

static int jc_value(struct jc *c, int *state)
{
	unsigned char b;
	int rc;

	jc_blanks(c);
	if (c->i >= c->n)
		return jc_part(c, c->depth ? "where a value belongs" : "before any value");
	b = c->s[c->i];
	if (b == '{' || b == '[')
		return jc_open(c, b, state);
	if (b == '"')
		rc = jc_string(c);
	else if (b == '-' || is_digit(b))
		rc = jc_number(c);
	else if (b == 't')
		rc = jc_literal(c, "true");
	else if (b == 'f')
		rc = jc_literal(c, "false");
	else if (b == 'n')
		rc = jc_literal(c, "null");
	else
		return jc_bad(c, "unexpected character");
	c->tokens++;
	*state = JC_AFTER;
	return rc;
}

static int jc_key(struct jc *c, int *state)
{
	jc_blanks(c);
	if (c->i >= c->n)
		return jc_part(c, "where a key belongs");
	if (c->s[c->i] != '"')
		return jc_bad(c, "expected a string key");
	if (jc_string(c))
		return FR_EINVAL;
	c->tokens++;
	jc_blanks(c);
	if (c->i >= c->n)
		return jc_part(c, "where ':' belongs");
	if (c->s[c->i] != ':')
		return jc_bad(c, "expected ':'");
	c->i++;
	*state = JC_VALUE;
	return 0;
}

static int jc_after(struct jc *c, int *state)
{
	unsigned char top = c->stack[c->depth - 1];

	jc_blanks(c);
	if (c->i >= c->n)
		return jc_part(c, top == '{' ? "inside an object" : "inside a list");
	if (c->s[c->i] == ',') {
		c->i++;
		*state = top == '{' ? JC_KEY : JC_VALUE;
		return 0;
	}
	if (c->s[c->i] == (top == '{' ? '}' : ']')) {
		c->depth--;
		c->i++;
		return 0;
	}
	return jc_bad(c, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Checks the first JSON value of the input: 0 and *end just past it, or FR_EINVAL. */
static int jc_run(struct jc *c, size_t *end)
{
	int state = JC_VALUE, rc;

	for (;;) {
		if (state == JC_AFTER && c->depth == 0) {
			*end = c->i;
			return 0;
		}
		if (state == JC_VALUE)
			rc = jc_value(c, &state);
		else if (state == JC_KEY)
			rc = jc_key(c, &state);
		else
			rc = jc_after(c, &state);
		if (rc)
			return rc;
	}
}

/* see decode.h */
int decode_scan(const char *s, size_t n, size_t *end, char *why, size_t whyn)
{
	char spare[8];
	struct jc c = {.s = (const unsigned char *)s,
	               .n = n,
	               .why = why ? why : spare,
	               .whyn = why ? whyn : sizeof spare};

	assert(end && (s || n == 0));
	return jc_run(&c, end);
}

/* ---- walking tokens -------------------------------------------------------- */

struct walk {
	struct decode *d;
	const char *js;
	jsmntok_t *t;
	int n; /* tokens */
	const struct decode_sink *s;
	/* the object being read */
	uint64_t seen;     /* bit per table field: the key appeared */
	uint64_t have;     /* ... with a value (not null, not "") */
	int aux;           /* token of the table's F_ARR/F_ANY value; -1: absent */
	int check_raw;     /* a record: its raw text must be storable as jsonb */
	const char *field; /* the key a problem is about ("" for the object) */
	char key[KEY_MAX]; /* the member being read */
	int err;           /* the problem's error */
	char prob[160];
};

static jsmntok_t *decode_toks(struct decode *d)
{
	/* The storage is declared as ints; jsmntok_t is made of ints (see the
	 * assertions above) and only this file ever touches it. */
	return (jsmntok_t *)(void *)d->tok_;
}

/* The token after i's whole subtree: children lie inside the parent's bytes. */
static int tok_next(const struct walk *w, int i)
{
	int end = w->t[i].end, j = i + 1;

	while (j < w->n && w->t[j].start < end)
		j++;
	return j;
}

/* The value's bytes as received; a string's quotes included. */
static struct decode_span tok_span(const struct walk *w, int i)
{
	const jsmntok_t *t = &w->t[i];
	int q = t->type == JSMN_STRING;

	return (struct decode_span){(uint32_t)(t->start - q),
	                            (uint32_t)(t->end - t->start + 2 * q)};
}

static size_t tok_len(const struct walk *w, int i)
{
	return (size_t)(w->t[i].end - w->t[i].start);
}

static const char *tok_text(const struct walk *w, int i)
{
	return w->js + w->t[i].start;
}

static int tok_is_null(const struct walk *w, int i)
{
	return w->t[i].type == JSMN_PRIMITIVE && tok_text(w, i)[0] == 'n';
}

static int tok_is_number(const struct walk *w, int i)
{
	char b = tok_text(w, i)[0];

	return w->t[i].type == JSMN_PRIMITIVE && (b == '-' || is_digit((unsigned char)b));
}

__attribute__((format(printf, 3, 4))) static int prob(struct walk *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->prob, sizeof w->prob, fmt, ap);
	va_end(ap);
	utf8_trim(w->prob);
	w->err = err;
	return err;
}

/* The value as a reason quotes it: "abc", 12, a list, an object; cut to SHOW_MAX. */
static void show(const struct walk *w, int i, char *buf, size_t size)
{
	size_t n = tok_len(w, i), cut = n > SHOW_MAX ? SHOW_MAX : n;
	const char *p = tok_text(w, i);

	if (w->t[i].type == JSMN_OBJECT || w->t[i].type == JSMN_ARRAY) {
		snprintf(buf, size, "%s", w->t[i].type == JSMN_OBJECT ? "an object" : "a list");
		return;
	}
	while (cut > 0 && cut < n && ((unsigned char)p[cut] & 0xc0) == 0x80)
		cut--;
	snprintf(buf, size, w->t[i].type == JSMN_STRING ? "\"%.*s%s\"" : "%.*s%s", (int)cut, p,
	         cut < n ? "..." : "");
}

static int prob_show(struct walk *w, int err, int i, const char *what)
{
	char v[SHOW_MAX + 8];

	show(w, i, v, sizeof v);
	return prob(w, err, "%s: %s", what, v);
}

/* ---- strings ----------------------------------------------------------------- */

struct ubuf {
	char *out;
	size_t size; /* NUL included */
	size_t len;
	int truncate; /* 1: stop quietly at a code point that does not fit */
	char *prob;   /* NULL: no reason wanted */
	size_t probn;
};

static unsigned hex4(const char *p)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		unsigned char b = (unsigned char)p[k];

		v = v * 16 + (is_digit(b) ? b - '0' : (b | 0x20) - 'a' + 10);
	}
	return v;
}

/* Appends bytes b[0..n) (one whole code point); FR_ERANGE when they do not fit. */
static int ubuf_put(struct ubuf *u, const char *b, size_t n)
{
	if (u->len + n >= u->size) {
		if (!u->truncate && u->prob)
			snprintf(u->prob, u->probn, "longer than %zu bytes", u->size - 1);
		return FR_ERANGE;
	}
	memcpy(u->out + u->len, b, n);
	u->len += n;
	return 0;
}

static int ubuf_cp(struct ubuf *u, unsigned cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return ubuf_put(u, b, n);
}

static int ubuf_bad(struct ubuf *u, const char *what, unsigned cp)
{
	if (u->prob)
		snprintf(u->prob, u->probn, "%s \\u%04X", what, cp);
	return FR_EINVAL;
}

/* Decodes the escape at s[*i] (checked by pass 1) into *cp. */
static int escape_cp(struct ubuf *u, const char *s, size_t n, size_t *i, unsigned *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char e = s[*i + 1];
	unsigned lo;

	if (e != 'u') {
		*cp = (unsigned char)to[strchr(from, e) - from];
		*i += 2;
		return 0;
	}
	*cp = hex4(s + *i + 2);
	*i += 6;
	if (*cp == 0)
		return ubuf_bad(u, "contains", 0);
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return ubuf_bad(u, "unpaired surrogate", *cp);
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	if (*i + 6 > n || s[*i] != '\\' || s[*i + 1] != 'u' || (lo = hex4(s + *i + 2)) < 0xdc00 ||
	    lo > 0xdfff)
		return ubuf_bad(u, "unpaired surrogate", *cp);
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	*i += 6;
	return 0;
}

/*
 * Unescapes string content s[0..n) (valid JSON, checked by pass 1) into u:
 * 0, or FR_ERANGE (too long, unless u->truncate) or FR_EINVAL (\u0000, an
 * unpaired surrogate) with a reason in u->prob. u->out is NUL-terminated
 * either way.
 */
static int unescape(struct ubuf *u, const char *s, size_t n)
{
	size_t i = 0;
	int rc = 0;

	u->len = 0;
	while (i < n && rc == 0) {
		unsigned cp;
		size_t k;

		if (s[i] != '\\') {
			k = utf8_len((unsigned char)s[i]);
			rc = ubuf_put(u, s + i, k);
			i += k;
		} else if ((rc = escape_cp(u, s, n, &i, &cp)) == 0) {
			rc = ubuf_cp(u, cp);
		}
	}
	u->out[u->len] = 0;
	return rc == FR_ERANGE && u->truncate ? 0 : rc;
}

/* The key of token k unescaped into buf, or "" when it cannot be a known key. */
static const char *key_text(const struct walk *w, int k, char *buf, size_t size)
{
	size_t n = tok_len(w, k);
	const char *p = tok_text(w, k);
	struct ubuf u = {buf, size, 0, 0, NULL, 0};

	if (n < size && !memchr(p, '\\', n)) {
		memcpy(buf, p, n);
		buf[n] = 0;
		return buf;
	}
	if (unescape(&u, p, n) != 0)
		buf[0] = 0;
	return buf;
}

/*
 * Strings that are valid JSON but that PostgreSQL's jsonb refuses: \u0000 and
 * unpaired surrogates. Fields fillrelay reads are checked as they are
 * unescaped; this covers the rest of a record's raw text (unknown keys,
 * extraFees, cumFeeDetail), so every record handed out can be stored as is.
 */
static int raw_check(struct walk *w, int from, int to)
{
	struct ubuf u = {NULL, 0, 0, 0, w->prob, sizeof w->prob};

	for (int j = from; j < to; j++) {
		const char *s = tok_text(w, j);
		size_t n = tok_len(w, j), i = 0;
		unsigned cp;

		if (w->t[j].type != JSMN_STRING)
			continue;
		while (i < n) {
			if (s[i] != '\\')
				i++;
			else if (escape_cp(&u, s, n, &i, &cp) < 0)
				return w->err = FR_EINVAL;
		}
	}
	return 0;
}

/* The value of key name in object obj, or -1. */
static int obj_get(const struct walk *w, int obj, const char *name)
{
	char key[KEY_MAX];
	int j = obj + 1;

	for (int k = 0; k < w->t[obj].size; k++) {
		if (strcmp(key_text(w, j, key, sizeof key), name) == 0)
			return j + 1;
		j = tok_next(w, j + 1);
	}
	return -1;
}

/* ---- values ------------------------------------------------------------------ */

/*
 * Readers return 1 (a value was stored), 0 (absent: null, or "" where Bybit
 * means "no value"), or a negative error with w->prob set.
 */

static int rd_str(struct walk *w, int i, char *dst, size_t size, int truncate)
{
	struct ubuf u = {dst, size, 0, truncate, w->prob, sizeof w->prob};
	size_t n = tok_len(w, i);
	int rc;

	if (tok_is_null(w, i))
		return 0;
	if (tok_is_number(w, i)) { /* an id converted from EDN: verbatim */
		if (n >= size)
			return prob(w, FR_ERANGE, "longer than %zu bytes", size - 1);
		memcpy(dst, tok_text(w, i), n);
		dst[n] = 0;
		return n > 0;
	}
	if (w->t[i].type != JSMN_STRING)
		return prob_show(w, FR_EINVAL, i, "not a string");
	rc = unescape(&u, tok_text(w, i), n);
	if (rc < 0) {
		w->err = rc;
		return rc;
	}
	return u.len > 0;
}

/* A number's text, or a string's content unescaped into buf: 1, 0 (absent), < 0. */
static int num_text(struct walk *w, int i, char *buf, const char **p, size_t *n, const char *what)
{
	struct ubuf u = {buf, NUM_TEXT_MAX, 0, 0, NULL, 0};

	if (tok_is_null(w, i))
		return 0;
	if (tok_is_number(w, i)) {
		*p = tok_text(w, i);
		*n = tok_len(w, i);
		return 1;
	}
	if (w->t[i].type != JSMN_STRING || unescape(&u, tok_text(w, i), tok_len(w, i)) != 0)
		return prob_show(w, FR_EINVAL, i, what);
	*p = buf;
	*n = u.len;
	return u.len > 0;
}

static int rd_dec(struct walk *w, int i, struct decode_dec *out)
{
	char buf[NUM_TEXT_MAX];
	const char *p = NULL;
	size_t n = 0;
	int rc = num_text(w, i, buf, &p, &n, "not a decimal");

	if (rc <= 0)
		return rc;
	rc = dec_parse(&out->v, p, n);
	if (rc == FR_ERANGE)
		return prob_show(w, FR_ERANGE, i, "decimal out of range");
	if (rc != 0)
		return prob_show(w, FR_EINVAL, i, "not a decimal");
	out->present = 1;
	return 1;
}

/* Digits with an optional '-': no '+', no blanks, no fraction, no exponent. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
	uint64_t v = 0, lim = INT64_MAX;
	size_t i = 0;
	int neg = n > 0 && s[0] == '-';

	if (neg) {
		i = 1;
		lim = (uint64_t)INT64_MAX + 1;
	}
	if (i == n)
		return FR_EINVAL;
	for (; i < n; i++) {
		unsigned dg = (unsigned char)s[i] - '0';

		if (dg > 9)
			return FR_EINVAL;
		if (v > (lim - dg) / 10)
			return FR_ERANGE;
		v = v * 10 + dg;
	}
	*out = !neg ? (int64_t)v : v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	return 0;
}

static int rd_int(struct walk *w, int i, struct decode_int *out, int is_time)
{
	char buf[NUM_TEXT_MAX];
	const char *p = NULL;
	size_t n = 0;
	int rc = num_text(w, i, buf, &p, &n, is_time ? "not a timestamp" : "not an integer");

	if (rc <= 0)
		return rc;
	rc = parse_i64(p, n, &out->v);
	if (rc == FR_ERANGE)
		return prob_show(w, FR_ERANGE, i, "integer out of range");
	if (rc != 0)
		return prob_show(w, FR_EINVAL, i, is_time ? "not a timestamp" : "not an integer");
	if (is_time && out->v < 0)
		return prob_show(w, FR_EINVAL, i, "negative timestamp");
	/* PostgreSQL would refuse it (22008) after the book had applied it. */
	if (is_time && out->v > DECODE_TIME_MAX_MS)
		return prob_show(w, FR_EINVAL, i, "timestamp after the year 9999");
	out->present = 1;
	return 1;
}

static int rd_bool(struct walk *w, int i, int8_t *out)
{
	const char *p = tok_text(w, i);
	size_t n = tok_len(w, i);

	if (tok_is_null(w, i) || (w->t[i].type == JSMN_STRING && n == 0))
		return 0;
	/* true/false, or the same as strings (seen in converted captures) */
	if ((w->t[i].type == JSMN_PRIMITIVE || w->t[i].type == JSMN_STRING) &&
	    ((n == 4 && memcmp(p, "true", 4) == 0) || (n == 5 && memcmp(p, "false", 5) == 0))) {
		*out = n == 4 ? DECODE_BOOL_TRUE : DECODE_BOOL_FALSE;
		return 1;
	}
	return prob_show(w, FR_EINVAL, i, "not a boolean");
}

/* extraFees: "" (none) or a list of objects; kept raw, entries counted. */
static int rd_list(struct walk *w, int i, struct decode_list *out)
{
	int j = i + 1;

	if (tok_is_null(w, i))
		return 0;
	if (w->t[i].type == JSMN_STRING && tok_len(w, i) == 0) {
		*out = (struct decode_list){0, tok_span(w, i)};
		return 1;
	}
	if (w->t[i].type != JSMN_ARRAY)
		return prob_show(w, FR_EINVAL, i, "not \"\" or a list");
	for (int k = 0; k < w->t[i].size; k++) {
		if (w->t[j].type != JSMN_OBJECT)
			return prob(w, FR_EINVAL, "entry %d is not an object", k);
		j = tok_next(w, j);
	}
	*out = (struct decode_list){w->t[i].size, tok_span(w, i)};
	return 1;
}

/* cumFeeDetail: an object (or ""), kept raw, keys counted. */
static int rd_obj(struct walk *w, int i, struct decode_list *out)
{
	if (tok_is_null(w, i))
		return 0;
	if (w->t[i].type == JSMN_STRING && tok_len(w, i) == 0) {
		*out = (struct decode_list){0, tok_span(w, i)};
		return 1;
	}
	if (w->t[i].type != JSMN_OBJECT)
		return prob_show(w, FR_EINVAL, i, "not an object");
	*out = (struct decode_list){w->t[i].size, tok_span(w, i)};
	return 1;
}

/* ---- field tables --------------------------------------------------------- */

enum ftype {
	F_STR,  /* char[size]; too long rejects */
	F_TEXT, /* char[size]; truncated (only logged) */
	F_DEC,  /* struct decode_dec */
	F_INT,  /* struct decode_int */
	F_TIME, /* struct decode_int, >= 0 */
	F_MS,   /* int64_t, >= 0 (required timestamps) */
	F_BOOL, /* int8_t DECODE_BOOL_* */
	F_LIST, /* struct decode_list: "" or a list of objects */
	F_OBJ,  /* struct decode_list: an object */
	F_ARR,  /* a list the caller walks: its token goes to walk.aux */
	F_ANY,  /* any value the caller walks: walk.aux */
};

enum {
	F_REQ = 1,  /* must have a value */
	F_KEY = 2,  /* the key must appear (the value may be "") */
	F_WEAK = 4, /* an alias: fills the slot only when nothing else did */
};

struct field {
	const char *key;
	uint8_t type;
	uint8_t flags;
	uint16_t off;
	uint16_t size;
};

#define FLD(k, ty, fl, S, m)                                                                       \
	{                                                                                          \
		k, ty, fl, (uint16_t)offsetof(S, m), (uint16_t)sizeof(((S *)0)->m)                 \
	}
#define AUX(k, ty)                                                                                 \
	{                                                                                          \
		k, ty, 0, 0, 0                                                                     \
	}
#define TABLE_FITS(t) _Static_assert(sizeof(t) / sizeof((t)[0]) <= 65, #t ": one bit per field")

static void fields_init(const struct field *tab, char *base)
{
	for (const struct field *f = tab; f->key; f++) {
		char *slot = base + f->off;

		if (f->type == F_BOOL)
			*(int8_t *)(void *)slot = DECODE_BOOL_ABSENT;
		else if (f->type == F_LIST || f->type == F_OBJ)
			*(struct decode_list *)(void *)slot = (struct decode_list){-1, {0, 0}};
		else if (f->type != F_ARR && f->type != F_ANY)
			memset(slot, 0, f->size);
	}
}

/* Whether an alias's slot already holds a value. */
static int slot_has(const struct field *f, const char *slot)
{
	if (f->type == F_STR || f->type == F_TEXT)
		return slot[0] != 0;
	if (f->type == F_DEC)
		return ((const struct decode_dec *)(const void *)slot)->present;
	assert(f->type == F_INT || f->type == F_TIME);
	return ((const struct decode_int *)(const void *)slot)->present;
}

static int field_aux(struct walk *w, const struct field *f, int i)
{
	if (tok_is_null(w, i))
		return 0;
	if (f->type == F_ARR && w->t[i].type != JSMN_ARRAY)
		return prob_show(w, FR_EINVAL, i, "not a list");
	w->aux = i;
	return 1;
}

static int field_ms(struct walk *w, int i, int64_t *out)
{
	struct decode_int v = {0, 0};
	int rc = rd_int(w, i, &v, 1);

	*out = v.v;
	return rc;
}

static int field_read(struct walk *w, const struct field *f, int i, char *base)
{
	union {
		struct decode_dec dec;
		struct decode_int in;
		char s[DECODE_TEXT_MAX];
	} spare;
	void *slot = base + f->off;

	if ((f->flags & F_WEAK) && slot_has(f, slot)) {
		assert(f->size <= sizeof spare);
		memset(&spare, 0, sizeof spare);
		slot = &spare; /* still checked, then dropped */
	}
	switch ((enum ftype)f->type) {
	case F_STR:
		return rd_str(w, i, slot, f->size, 0);
	case F_TEXT:
		return rd_str(w, i, slot, f->size, 1);
	case F_DEC:
		return rd_dec(w, i, slot);
	case F_INT:
		return rd_int(w, i, slot, 0);
	case F_TIME:
		return rd_int(w, i, slot, 1);
	case F_MS:
		return field_ms(w, i, slot);
	case F_BOOL:
		return rd_bool(w, i, slot);
	case F_LIST:
		return rd_list(w, i, slot);
	case F_OBJ:
		return rd_obj(w, i, slot);
	case F_ARR:
	case F_ANY:
		return field_aux(w, f, i);
	}
	assert(0);
	return FR_EINVAL;
}

static const struct field *field_find(const struct field *tab, const char *key)
{
	for (const struct field *f = tab; f->key; f++)
		if (f->key[0] == key[0] && strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

static int field_take(struct walk *w, const struct field *tab, const struct field *f, int i,
                      char *base)
{
	uint64_t bit = UINT64_C(1) << (f - tab);
	int rc;

	w->field = f->key;
	if (w->seen & bit)
		return prob(w, FR_EINVAL, "duplicate key");
	w->seen |= bit;
	rc = field_read(w, f, i, base);
	if (rc > 0)
		w->have |= bit;
	return rc < 0 ? rc : 0;
}

static int fields_required(struct walk *w, const struct field *tab)
{
	for (const struct field *f = tab; f->key; f++) {
		uint64_t bit = UINT64_C(1) << (f - tab);

		if (((f->flags & F_REQ) && !(w->have & bit)) ||
		    ((f->flags & F_KEY) && !(w->seen & bit))) {
			w->field = f->key;
			return prob(w, FR_EINVAL, "%s", w->seen & bit ? "empty" : "missing");
		}
	}
	return 0;
}

/* Reads object obj into base through tab; 0, or < 0 with w->field and w->prob. */
static int object_read(struct walk *w, const struct field *tab, int obj, void *base)
{
	int j = obj + 1;

	assert(w->t[obj].type == JSMN_OBJECT);
	w->seen = w->have = 0;
	w->aux = -1;
	w->field = "";
	w->prob[0] = 0;
	fields_init(tab, base);
	for (int k = 0; k < w->t[obj].size; k++) {
		const struct field *f = field_find(tab, key_text(w, j, w->key, sizeof w->key));
		int next = tok_next(w, j + 1);

		if (f && field_take(w, tab, f, j + 1, base) < 0)
			return w->err;
		w->field = w->key;
		if (w->check_raw && (!f || f->type == F_LIST || f->type == F_OBJ) &&
		    raw_check(w, j, next) < 0)
			return w->err;
		j = next;
	}
	w->field = "";
	return fields_required(w, tab);
}

/* ---- the tables ----------------------------------------------------------- */

#define S struct decode_exec
static const struct field exec_fields[] = {
    FLD("category", F_STR, 0, S, category),
    FLD("symbol", F_STR, F_REQ, S, symbol),
    FLD("execId", F_STR, F_REQ, S, exec_id),
    FLD("orderId", F_STR, 0, S, order_id),
    FLD("orderLinkId", F_STR, 0, S, order_link_id),
    FLD("side", F_STR, F_REQ, S, side),
    FLD("orderType", F_STR, 0, S, order_type),
    FLD("stopOrderType", F_STR, 0, S, stop_order_type),
    FLD("createType", F_STR, 0, S, create_type),
    FLD("execType", F_STR, F_REQ, S, exec_type),
    FLD("feeCurrency", F_STR, 0, S, fee_currency),
    FLD("isLeverage", F_STR, 0, S, is_leverage),
    FLD("blockTradeId", F_STR, 0, S, block_trade_id),
    FLD("marketUnit", F_STR, 0, S, market_unit),
    FLD("execQty", F_DEC, F_REQ, S, exec_qty),
    FLD("execPrice", F_DEC, F_REQ, S, exec_price),
    FLD("execValue", F_DEC, 0, S, exec_value),
    FLD("execFee", F_DEC, 0, S, exec_fee),
    FLD("feeRate", F_DEC, 0, S, fee_rate),
    FLD("closedSize", F_DEC, 0, S, closed_size),
    FLD("execPnl", F_DEC, 0, S, exec_pnl),
    FLD("markPrice", F_DEC, 0, S, mark_price),
    FLD("indexPrice", F_DEC, 0, S, index_price),
    FLD("leavesQty", F_DEC, 0, S, leaves_qty),
    FLD("orderQty", F_DEC, 0, S, order_qty),
    FLD("orderPrice", F_DEC, 0, S, order_price),
    FLD("isMaker", F_BOOL, 0, S, is_maker),
    FLD("execTime", F_MS, F_REQ, S, exec_time_ms),
    FLD("seq", F_INT, 0, S, seq),
    FLD("extraFees", F_LIST, 0, S, extra_fees),
    {0},
};
TABLE_FITS(exec_fields);
#undef S

#define S struct decode_order
static const struct field order_fields[] = {
    FLD("category", F_STR, 0, S, category),
    FLD("symbol", F_STR, F_REQ, S, symbol),
    FLD("orderId", F_STR, F_REQ, S, order_id),
    FLD("orderLinkId", F_STR, 0, S, order_link_id),
    FLD("parentOrderLinkId", F_STR, 0, S, parent_order_link_id),
    FLD("side", F_STR, 0, S, side),
    FLD("orderType", F_STR, 0, S, order_type),
    FLD("orderStatus", F_STR, F_REQ, S, order_status),
    FLD("stopOrderType", F_STR, 0, S, stop_order_type),
    FLD("createType", F_STR, 0, S, create_type),
    FLD("cancelType", F_STR, 0, S, cancel_type),
    FLD("rejectReason", F_STR, 0, S, reject_reason),
    FLD("timeInForce", F_STR, 0, S, time_in_force),
    FLD("tpslMode", F_STR, 0, S, tpsl_mode),
    FLD("feeCurrency", F_STR, 0, S, fee_currency),
    FLD("qty", F_DEC, 0, S, qty),
    FLD("price", F_DEC, 0, S, price),
    FLD("avgPrice", F_DEC, 0, S, avg_price),
    FLD("cumExecQty", F_DEC, 0, S, cum_exec_qty),
    FLD("cumExecValue", F_DEC, 0, S, cum_exec_value),
    FLD("cumExecFee", F_DEC, 0, S, cum_exec_fee),
    FLD("leavesQty", F_DEC, 0, S, leaves_qty),
    FLD("leavesValue", F_DEC, 0, S, leaves_value),
    FLD("triggerPrice", F_DEC, 0, S, trigger_price),
    FLD("takeProfit", F_DEC, 0, S, take_profit),
    FLD("stopLoss", F_DEC, 0, S, stop_loss),
    FLD("closedPnl", F_DEC, 0, S, closed_pnl),
    FLD("positionIdx", F_INT, 0, S, position_idx),
    FLD("triggerDirection", F_INT, 0, S, trigger_direction),
    FLD("smpGroup", F_INT, 0, S, smp_group),
    FLD("reduceOnly", F_BOOL, 0, S, reduce_only),
    FLD("closeOnTrigger", F_BOOL, 0, S, close_on_trigger),
    FLD("createdTime", F_TIME, 0, S, created_time_ms),
    FLD("updatedTime", F_MS, F_REQ, S, updated_time_ms),
    FLD("cumFeeDetail", F_OBJ, 0, S, cum_fee_detail),
    {0},
};
TABLE_FITS(order_fields);
#undef S

#define S struct decode_position
static const struct field position_fields[] = {
    FLD("category", F_STR, 0, S, category),
    FLD("symbol", F_STR, F_REQ, S, symbol),
    FLD("side", F_STR, F_KEY, S, side),
    FLD("positionStatus", F_STR, 0, S, position_status),
    FLD("tpslMode", F_STR, 0, S, tpsl_mode),
    FLD("size", F_DEC, F_REQ, S, size),
    FLD("entryPrice", F_DEC, 0, S, entry_price),
    FLD("avgPrice", F_DEC, F_WEAK, S, entry_price),
    FLD("markPrice", F_DEC, 0, S, mark_price),
    FLD("positionValue", F_DEC, 0, S, position_value),
    FLD("unrealisedPnl", F_DEC, 0, S, unrealised_pnl),
    FLD("curRealisedPnl", F_DEC, 0, S, cur_realised_pnl),
    FLD("cumRealisedPnl", F_DEC, 0, S, cum_realised_pnl),
    FLD("leverage", F_DEC, 0, S, leverage),
    FLD("liqPrice", F_DEC, 0, S, liq_price),
    FLD("bustPrice", F_DEC, 0, S, bust_price),
    FLD("takeProfit", F_DEC, 0, S, take_profit),
    FLD("stopLoss", F_DEC, 0, S, stop_loss),
    FLD("trailingStop", F_DEC, 0, S, trailing_stop),
    FLD("positionIM", F_DEC, 0, S, position_im),
    FLD("positionMM", F_DEC, 0, S, position_mm),
    FLD("positionBalance", F_DEC, 0, S, position_balance),
    FLD("positionIdx", F_INT, 0, S, position_idx),
    FLD("tradeMode", F_INT, 0, S, trade_mode),
    FLD("autoAddMargin", F_INT, 0, S, auto_add_margin),
    FLD("adlRankIndicator", F_INT, 0, S, adl_rank_indicator),
    FLD("riskId", F_INT, 0, S, risk_id),
    FLD("seq", F_INT, 0, S, seq),
    FLD("isReduceOnly", F_BOOL, 0, S, is_reduce_only),
    FLD("createdTime", F_TIME, 0, S, created_time_ms),
    FLD("updatedTime", F_MS, F_REQ, S, updated_time_ms),
    {0},
};
TABLE_FITS(position_fields);
#undef S

#define S struct decode_wallet
static const struct field wallet_fields[] = {
    FLD("accountType", F_STR, F_REQ, S, account_type),
    FLD("totalEquity", F_DEC, 0, S, total_equity),
    FLD("totalWalletBalance", F_DEC, 0, S, total_wallet_balance),
    FLD("totalMarginBalance", F_DEC, 0, S, total_margin_balance),
    FLD("totalAvailableBalance", F_DEC, 0, S, total_available_balance),
    FLD("totalPerpUPL", F_DEC, 0, S, total_perp_upl),
    FLD("totalInitialMargin", F_DEC, 0, S, total_initial_margin),
    FLD("totalMaintenanceMargin", F_DEC, 0, S, total_maintenance_margin),
    FLD("accountIMRate", F_DEC, 0, S, account_im_rate),
    FLD("accountMMRate", F_DEC, 0, S, account_mm_rate),
    FLD("accountLTV", F_DEC, 0, S, account_ltv),
    AUX("coin", F_ARR),
    {0},
};
TABLE_FITS(wallet_fields);

static const struct field coin_fields[] = {
    FLD("coin", F_STR, F_REQ, S, coin),
    FLD("equity", F_DEC, 0, S, equity),
    FLD("usdValue", F_DEC, 0, S, usd_value),
    FLD("walletBalance", F_DEC, 0, S, wallet_balance),
    FLD("availableToWithdraw", F_DEC, 0, S, available_to_withdraw),
    FLD("locked", F_DEC, 0, S, locked),
    FLD("borrowAmount", F_DEC, 0, S, borrow_amount),
    FLD("accruedInterest", F_DEC, 0, S, accrued_interest),
    FLD("totalOrderIM", F_DEC, 0, S, total_order_im),
    FLD("totalPositionIM", F_DEC, 0, S, total_position_im),
    FLD("totalPositionMM", F_DEC, 0, S, total_position_mm),
    FLD("unrealisedPnl", F_DEC, 0, S, unrealised_pnl),
    FLD("cumRealisedPnl", F_DEC, 0, S, cum_realised_pnl),
    FLD("collateralSwitch", F_BOOL, 0, S, collateral_switch),
    FLD("marginCollateral", F_BOOL, 0, S, margin_collateral),
    {0},
};
TABLE_FITS(coin_fields);
#undef S

#define S struct decode_control
static const struct field control_fields[] = {
    FLD("op", F_STR, F_REQ, S, op_str),
    FLD("success", F_BOOL, 0, S, success),
    FLD("ret_msg", F_TEXT, 0, S, ret_msg),
    FLD("retMsg", F_TEXT, F_WEAK, S, ret_msg),
    FLD("retCode", F_INT, 0, S, ret_code),
    FLD("req_id", F_STR, 0, S, req_id),
    FLD("reqId", F_STR, F_WEAK, S, req_id),
    FLD("conn_id", F_STR, 0, S, conn_id),
    FLD("connId", F_STR, F_WEAK, S, conn_id),
    AUX("args", F_ARR),
    {0},
};
TABLE_FITS(control_fields);
#undef S

#define S struct decode_env
static const struct field push_fields[] = {
    FLD("topic", F_STR, F_REQ, S, topic),
    FLD("id", F_STR, 0, S, id),
    FLD("creationTime", F_TIME, 0, S, creation_time_ms),
    AUX("data", F_ARR),
    {0},
};

static const struct field rest_fields[] = {
    FLD("retCode", F_INT, F_REQ, S, ret_code),
    FLD("retMsg", F_TEXT, 0, S, ret_msg),
    FLD("time", F_TIME, 0, S, time_ms),
    AUX("result", F_ANY),
    {0},
};

static const struct field result_fields[] = {
    FLD("category", F_STR, 0, S, category),
    FLD("nextPageCursor", F_STR, 0, S, cursor),
    AUX("list", F_ARR),
    {0},
};
#undef S

/* ---- rejects and delivery ------------------------------------------------- */

/* see decode.h */
const char *decode_kind_name(enum decode_kind k)
{
	switch (k) {
	case DECODE_KIND_EXECUTION:
		return "execution";
	case DECODE_KIND_ORDER:
		return "order";
	case DECODE_KIND_POSITION:
		return "position";
	case DECODE_KIND_WALLET:
		return "wallet";
	case DECODE_KIND_CONTROL:
		return "control";
	case DECODE_KIND_NONE:
		break;
	}
	return "message";
}

static int reject_send(struct walk *w, enum decode_kind k, int index, int coin, int err,
                       struct decode_span raw)
{
	struct decode_reject *r = &w->d->rej_;

	r->kind = k;
	r->index = index;
	r->coin_index = coin;
	r->err = err;
	r->raw = raw;
	utf8_trim(r->reason);
	w->d->env.rejects++;
	return w->s->on_reject ? w->s->on_reject(w->s->ctx, &w->d->env, r) : 0;
}

/* Rejects one entry with the problem in w; the callback's answer decides whether to go on. */
static int entry_reject(struct walk *w, enum decode_kind k, int index, int coin,
                        struct decode_span raw)
{
	char where[64];
	char *reason = w->d->rej_.reason;

	if (coin >= 0)
		snprintf(where, sizeof where, "%s[%d].coin[%d]", decode_kind_name(k), index, coin);
	else
		snprintf(where, sizeof where, "%s[%d]", decode_kind_name(k), index);
	if (w->field[0])
		snprintf(reason, DECODE_REASON_MAX, "%s: %s: %s", where, w->field, w->prob);
	else
		snprintf(reason, DECODE_REASON_MAX, "%s: %s", where, w->prob);
	return reject_send(w, k, index, coin, w->err, raw);
}

/* The whole message is rejected with d->why: always returns err. */
static int fail_why(struct walk *w, int err)
{
	struct decode *d = w->d;

	utf8_trim(d->why);
	d->err = err;
	snprintf(d->rej_.reason, DECODE_REASON_MAX, "%s", d->why);
	reject_send(w, d->env.kind, -1, -1, err, d->env.msg);
	return err;
}

__attribute__((format(printf, 3, 4))) static int fail(struct walk *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->d->why, sizeof w->d->why, fmt, ap);
	va_end(ap);
	return fail_why(w, err);
}

/* The envelope field problem in w rejects the message; prefix names the object. */
static int fail_field(struct walk *w, const char *prefix)
{
	if (w->field[0])
		return fail(w, w->err, "%s%s: %s", prefix, w->field, w->prob);
	return fail(w, w->err, "%s%s", prefix, w->prob);
}

static int deliver(struct walk *w, enum decode_kind k)
{
	const struct decode_sink *s = w->s;
	struct decode *d = w->d;

	d->env.records++;
	switch (k) {
	case DECODE_KIND_EXECUTION:
		return s->on_exec ? s->on_exec(s->ctx, &d->env, &d->rec_.exec) : 0;
	case DECODE_KIND_ORDER:
		return s->on_order ? s->on_order(s->ctx, &d->env, &d->rec_.order) : 0;
	case DECODE_KIND_POSITION:
		return s->on_position ? s->on_position(s->ctx, &d->env, &d->rec_.position) : 0;
	case DECODE_KIND_WALLET:
		return s->on_wallet ? s->on_wallet(s->ctx, &d->env, &d->rec_.wallet) : 0;
	case DECODE_KIND_CONTROL:
		return s->on_control ? s->on_control(s->ctx, &d->env, &d->rec_.control) : 0;
	case DECODE_KIND_NONE:
		break;
	}
	assert(0);
	return 0;
}

/* ---- records ---------------------------------------------------------------- */

/* A record without its own category takes the REST page's, else the topic's. */
static int category_fill(struct walk *w, char *cat, int required)
{
	const struct decode_env *e = &w->d->env;

	if (!cat[0])
		memcpy(cat, e->category[0] ? e->category : e->topic_category, DECODE_CATEGORY_MAX);
	if (required && !cat[0]) {
		w->field = "category";
		return prob(w, FR_EINVAL, "missing");
	}
	return 0;
}

static int entry_exec(struct walk *w, int index, int obj)
{
	struct decode_exec *r = &w->d->rec_.exec;
	int rc;

	memset(r, 0, sizeof *r);
	r->index = index;
	r->raw = tok_span(w, obj);
	rc = object_read(w, exec_fields, obj, r);
	if (rc == 0)
		rc = category_fill(w, r->category, 1);
	if (rc == 0 && strcmp(r->side, "Buy") != 0 && strcmp(r->side, "Sell") != 0) {
		/* the book cannot apply a fill of no direction */
		w->field = "side";
		rc = prob(w, FR_EINVAL, "not Buy or Sell: \"%.40s\"", r->side);
	}
	if (rc < 0)
		return entry_reject(w, DECODE_KIND_EXECUTION, index, -1, r->raw);
	return deliver(w, DECODE_KIND_EXECUTION);
}

static int entry_order(struct walk *w, int index, int obj)
{
	struct decode_order *r = &w->d->rec_.order;

	memset(r, 0, sizeof *r);
	r->index = index;
	r->raw = tok_span(w, obj);
	if (object_read(w, order_fields, obj, r) < 0)
		return entry_reject(w, DECODE_KIND_ORDER, index, -1, r->raw);
	category_fill(w, r->category, 0);
	return deliver(w, DECODE_KIND_ORDER);
}

static int entry_position(struct walk *w, int index, int obj)
{
	struct decode_position *r = &w->d->rec_.position;

	memset(r, 0, sizeof *r);
	r->index = index;
	r->raw = tok_span(w, obj);
	if (object_read(w, position_fields, obj, r) < 0 || category_fill(w, r->category, 1) < 0)
		return entry_reject(w, DECODE_KIND_POSITION, index, -1, r->raw);
	return deliver(w, DECODE_KIND_POSITION);
}

static int wallet_coin(struct walk *w, struct decode_wallet *r, int k, int obj)
{
	r->coin_index = k;
	r->raw = tok_span(w, obj);
	if (w->t[obj].type != JSMN_OBJECT) {
		w->field = "";
		prob(w, FR_EINVAL, "not an object");
		return entry_reject(w, DECODE_KIND_WALLET, r->index, k, r->raw);
	}
	if (object_read(w, coin_fields, obj, r) < 0)
		return entry_reject(w, DECODE_KIND_WALLET, r->index, k, r->raw);
	return deliver(w, DECODE_KIND_WALLET);
}

static int entry_wallet(struct walk *w, int index, int obj)
{
	struct decode_wallet *r = &w->d->rec_.wallet;
	int coins, j, rc;

	memset(r, 0, sizeof *r);
	r->index = index;
	r->coin_index = -1;
	r->raw = r->account_raw = tok_span(w, obj);
	fields_init(coin_fields, (char *)r);
	if (object_read(w, wallet_fields, obj, r) < 0)
		return entry_reject(w, DECODE_KIND_WALLET, index, -1, r->raw);
	coins = w->aux;
	if (coins < 0 || w->t[coins].size == 0)
		return deliver(w, DECODE_KIND_WALLET);
	r->coins_n = w->t[coins].size;
	j = coins + 1;
	for (int k = 0; k < r->coins_n; k++) {
		int next = tok_next(w, j);

		if ((rc = wallet_coin(w, r, k, j)) < 0)
			return rc;
		j = next;
	}
	return 0;
}

static int entry(struct walk *w, enum decode_kind kind, int index, int obj)
{
	w->check_raw = 1;
	if (w->t[obj].type != JSMN_OBJECT) {
		w->field = "";
		prob(w, FR_EINVAL, "not an object");
		return entry_reject(w, kind, index, -1, tok_span(w, obj));
	}
	switch (kind) {
	case DECODE_KIND_EXECUTION:
		return entry_exec(w, index, obj);
	case DECODE_KIND_ORDER:
		return entry_order(w, index, obj);
	case DECODE_KIND_POSITION:
		return entry_position(w, index, obj);
	case DECODE_KIND_WALLET:
		return entry_wallet(w, index, obj);
	case DECODE_KIND_CONTROL:
	case DECODE_KIND_NONE:
		break;
	}
	assert(0);
	return FR_EINVAL;
}

/* Every element of list arr; stops only when a callback says so. */
static int entries(struct walk *w, enum decode_kind kind, int arr)
{
	int j = arr + 1;

	for (int k = 0; k < w->t[arr].size; k++) {
		int next = tok_next(w, j), rc = entry(w, kind, k, j);

		if (rc < 0)
			return rc;
		j = next;
	}
	return 0;
}

/* ---- envelopes ------------------------------------------------------------ */

static int category_known(const char *c)
{
	return strcmp(c, "linear") == 0 || strcmp(c, "inverse") == 0 || strcmp(c, "spot") == 0 ||
	       strcmp(c, "option") == 0;
}

/* BASE[.fast][.CATEGORY]: 0, or -1 for a topic fillrelay does not know. */
static int topic_parse(struct decode_env *e)
{
	static const struct {
		const char *name;
		enum decode_kind kind;
	} bases[] = {
	    {"execution", DECODE_KIND_EXECUTION},
	    {"order", DECODE_KIND_ORDER},
	    {"position", DECODE_KIND_POSITION},
	    {"wallet", DECODE_KIND_WALLET},
	};
	const char *dot = strchr(e->topic, '.'), *rest = dot ? dot + 1 : NULL;
	size_t blen = dot ? (size_t)(dot - e->topic) : strlen(e->topic);
	enum decode_kind kind = DECODE_KIND_NONE;

	for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++)
		if (strlen(bases[k].name) == blen && memcmp(bases[k].name, e->topic, blen) == 0)
			kind = bases[k].kind;
	if (kind == DECODE_KIND_NONE)
		return -1;
	if (rest && kind == DECODE_KIND_EXECUTION && strncmp(rest, "fast", 4) == 0 &&
	    (rest[4] == 0 || rest[4] == '.')) {
		e->fast = 1;
		rest = rest[4] ? rest + 5 : NULL;
	}
	if (rest && (kind == DECODE_KIND_WALLET || !category_known(rest)))
		return -1;
	if (rest)
		snprintf(e->topic_category, sizeof e->topic_category, "%s", rest);
	e->kind = kind;
	return 0;
}

static int push_data(struct walk *w)
{
	struct decode_env *e = &w->d->env;
	int data;

	if (object_read(w, push_fields, 0, e) < 0)
		return fail_field(w, "");
	data = w->aux;
	if (topic_parse(e) != 0)
		return fail(w, FR_EINVAL, "unknown topic \"%s\"", e->topic);
	if (data < 0)
		return fail(w, FR_EINVAL, "data: missing");
	e->entries = w->t[data].size;
	if (w->s->envelope_only)
		return 0;
	if (e->fast) {
		/* DESIGN.md 2: fills are persisted from execution, never execution.fast */
		e->ignored = e->entries;
		return 0;
	}
	return entries(w, e->kind, data);
}

static enum decode_op op_of(const struct decode_control *r)
{
	if (strcmp(r->op_str, "auth") == 0)
		return DECODE_OP_AUTH;
	if (strcmp(r->op_str, "subscribe") == 0)
		return DECODE_OP_SUBSCRIBE;
	if (strcmp(r->op_str, "unsubscribe") == 0)
		return DECODE_OP_UNSUBSCRIBE;
	if (strcmp(r->op_str, "pong") == 0 ||
	    (strcmp(r->op_str, "ping") == 0 && strcmp(r->ret_msg, "pong") == 0))
		return DECODE_OP_PONG;
	return DECODE_OP_OTHER;
}

static int control(struct walk *w)
{
	struct decode_control *r = &w->d->rec_.control;
	int args;

	memset(r, 0, sizeof *r);
	w->d->env.kind = DECODE_KIND_CONTROL;
	r->raw = w->d->env.msg;
	if (object_read(w, control_fields, 0, r) < 0)
		return fail_field(w, "");
	r->op = op_of(r);
	args = w->aux;
	/* the private pong carries the server's clock: DESIGN.md 2, "Clock" */
	if (r->op == DECODE_OP_PONG && args >= 0 && w->t[args].size > 0 &&
	    rd_int(w, args + 1, &r->server_time_ms, 1) < 0) {
		w->field = "args[0]";
		return fail_field(w, "");
	}
	return deliver(w, DECODE_KIND_CONTROL);
}

/* The kind of a REST page from its first entry's keys. */
static enum decode_kind rest_guess(const struct walk *w, int list)
{
	int first = list + 1;

	if (w->t[list].size == 0 || w->t[first].type != JSMN_OBJECT)
		return DECODE_KIND_NONE;
	if (obj_get(w, first, "execId") >= 0)
		return DECODE_KIND_EXECUTION;
	if (obj_get(w, first, "orderStatus") >= 0)
		return DECODE_KIND_ORDER;
	if (obj_get(w, first, "accountType") >= 0 || obj_get(w, first, "coin") >= 0)
		return DECODE_KIND_WALLET;
	if (obj_get(w, first, "size") >= 0)
		return DECODE_KIND_POSITION;
	return DECODE_KIND_NONE;
}

static int rest_body(struct walk *w, enum decode_kind kind)
{
	struct decode_env *e = &w->d->env;
	int result, list;

	e->source = DECODE_SRC_REST;
	e->kind = kind;
	if (object_read(w, rest_fields, 0, e) < 0)
		return fail_field(w, "");
	if (e->ret_code.v != 0)
		return 0; /* an error answer: its result is {} and says nothing */
	result = w->aux;
	if (result < 0)
		return fail(w, FR_EINVAL, "result: missing");
	if (w->t[result].type != JSMN_OBJECT)
		return fail(w, FR_EINVAL, "result: not an object");
	if (object_read(w, result_fields, result, e) < 0)
		return fail_field(w, "result.");
	list = w->aux;
	if (list < 0)
		return fail(w, FR_EINVAL, "result.list: missing");
	e->entries = w->t[list].size;
	if (e->kind == DECODE_KIND_NONE)
		e->kind = rest_guess(w, list);
	if (e->kind == DECODE_KIND_NONE && e->entries > 0)
		return fail(w, FR_EINVAL,
		            "result.list: entries of unknown kind (no execId, "
		            "orderStatus, accountType, coin or size)");
	if (w->s->envelope_only)
		return 0;
	return entries(w, e->kind, list);
}

/* ---- entry points ------------------------------------------------------------ */

/* Passes 1 and 2: checks, tokenizes and sets up w; 0 or the message's error. */
static int begin(struct walk *w, struct decode *d, const char *msg, size_t len,
                 const struct decode_sink *s, enum decode_source src)
{
	struct jc c = {
	    .s = (const unsigned char *)msg, .n = len, .why = d->why, .whyn = sizeof d->why};
	jsmn_parser p;
	size_t end = 0;
	int r;

	assert(d && s && (msg || len == 0));
	memset(&d->env, 0, sizeof d->env);
	d->env.source = src;
	d->env.msg = (struct decode_span){0, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len)};
	d->err = 0;
	d->why[0] = 0;
	*w = (struct walk){.d = d, .js = msg, .t = decode_toks(d), .n = 0, .s = s, .aux = -1};
	if (len > DECODE_MSG_MAX)
		return fail(w, FR_ERANGE, "message of %zu bytes is larger than DECODE_MSG_MAX (%u)",
		            len, DECODE_MSG_MAX);
	if (jc_run(&c, &end) != 0)
		return fail_why(w, FR_EINVAL);
	jc_blanks(&c);
	if (c.i < len)
		return fail(w, FR_EINVAL, "not JSON: bytes after the value at byte %zu", c.i);
	if (c.tokens > DECODE_TOKENS_MAX)
		return fail(w, FR_ENOMEM,
		            "message needs %ld tokens, more than DECODE_TOKENS_MAX (%d)", c.tokens,
		            DECODE_TOKENS_MAX);
	jsmn_init(&p);
	r = jsmn_parse(&p, msg, end, w->t, DECODE_TOKENS_MAX);
	assert(r == c.tokens); /* pass 1 accepted exactly what jsmn can tokenize */
	w->n = r;
	d->env.msg = tok_span(w, 0);
	if (w->t[0].type != JSMN_OBJECT)
		return fail(w, FR_EINVAL, "not a JSON object");
	return 0;
}

static int finish(struct walk *w, int rc)
{
	struct decode *d = w->d;

	if (rc < 0 && d->err == 0) {
		d->err = rc;
		snprintf(d->why, sizeof d->why, "stopped by a callback: %s", err_str(rc));
	}
	return rc < 0 ? rc : d->env.records;
}

/* see decode.h */
int decode_push(struct decode *d, const char *msg, size_t len, const struct decode_sink *s)
{
	struct walk w;
	int rc = begin(&w, d, msg, len, s, DECODE_SRC_PUSH);

	if (rc == 0) {
		if (obj_get(&w, 0, "topic") >= 0)
			rc = push_data(&w);
		else if (obj_get(&w, 0, "op") >= 0)
			rc = control(&w);
		else
			rc = fail(&w, FR_EINVAL, "not a push or control answer: no topic or op");
	}
	return finish(&w, rc);
}

/* see decode.h */
int decode_rest(struct decode *d, enum decode_kind kind, const char *msg, size_t len,
                const struct decode_sink *s)
{
	struct walk w;
	int rc;

	assert(kind != DECODE_KIND_CONTROL);
	rc = begin(&w, d, msg, len, s, DECODE_SRC_REST);
	if (rc == 0)
		rc = rest_body(&w, kind);
	return finish(&w, rc);
}

/* see decode.h */
int decode_any(struct decode *d, const char *msg, size_t len, const struct decode_sink *s)
{
	struct walk w;
	int rc = begin(&w, d, msg, len, s, DECODE_SRC_PUSH);

	if (rc == 0) {
		if (obj_get(&w, 0, "topic") >= 0)
			rc = push_data(&w);
		else if (obj_get(&w, 0, "op") >= 0)
			rc = control(&w);
		else if (obj_get(&w, 0, "retCode") >= 0)
			rc = rest_body(&w, DECODE_KIND_NONE);
		else
			rc = fail(&w, FR_EINVAL, "not a Bybit message: no topic, op or retCode");
	}
	return finish(&w, rc);
}
