/*
 * orderid.c -- the client order id: see orderid.h for the format and why ids
 * are unique. src/clients/fillrelay_orderid.h and .py are line-by-line twins of
 * the generating and parsing code here (same table, same messages): change
 * all three together, and tests/orderid_cross.sh will tell.
 */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "orderid.h"

/* The seed's standard reasons and their built-in aliases (rule_N is apart). */
static const struct orderid_builtin {
	const char *alias;
	const char *reason;
} orderid_builtins[] = {
    {"en", "entry"},
    {"si", "scale_in"},
    {"me", "manual_entry"},
    {"ts", "trailing_stop"},
    {"tp", "take_profit"},
    {"sl", "stop_loss"},
    {"ma", "ma_exit"},
    {"te", "time_exit"},
    {"rl", "risk_limit"},
    {"mx", "manual_exit"},
    {"vb", "volatility_breakout"},
    {"ec", "ema_cross"},
};
#define ORDERID_BUILTINS_N (sizeof orderid_builtins / sizeof orderid_builtins[0])

/* Characters of a user's string quoted in a message. */
#define ORDERID_QUOTE_MAX 40

static const char orderid_digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static int is_name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

/* s[0..n) matches [A-Za-z0-9_]{1,max}. */
static int is_name(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

static int is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

static int is_word(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Copies s[0..n) with a NUL; n <= ORDERID_REASON_MAX. Returns n. */
static size_t put_reason(char out[ORDERID_REASON_MAX + 1], const char *s, size_t n)
{
	assert(n <= ORDERID_REASON_MAX);
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

/* The canonical reason the built-in alias w[0..n) stands for, into out: its
 * length, or 0 when w is no built-in alias. */
static size_t builtin_expand(const char *w, size_t n, char out[ORDERID_REASON_MAX + 1])
{
	if (n >= 2 && n <= 1 + ORDERID_RULE_DIGITS_MAX && w[0] == 'r' && is_digits(w + 1, n - 1)) {
		memcpy(out, "rule_", 5);
		memcpy(out + 5, w + 1, n - 1);
		out[n + 4] = '\0';
		return n + 4;
	}
	for (size_t i = 0; i < ORDERID_BUILTINS_N; i++)
		if (is_word(w, n, orderid_builtins[i].alias))
			return put_reason(out, orderid_builtins[i].reason,
			                  strlen(orderid_builtins[i].reason));
	return 0;
}

/* The built-in alias of the canonical reason r[0..n), into out: its length, or 0. */
static size_t builtin_shorten(const char *r, size_t n, char out[ORDERID_REASON_MAX + 1])
{
	if (n >= 6 && n <= 5 + ORDERID_RULE_DIGITS_MAX && memcmp(r, "rule_", 5) == 0 &&
	    is_digits(r + 5, n - 5)) {
		out[0] = 'r';
		memcpy(out + 1, r + 5, n - 5);
		out[n - 4] = '\0';
		return n - 4;
	}
	for (size_t i = 0; i < ORDERID_BUILTINS_N; i++)
		if (is_word(r, n, orderid_builtins[i].reason))
			return put_reason(out, orderid_builtins[i].alias,
			                  strlen(orderid_builtins[i].alias));
	return 0;
}

/* Wire spelling (or any alias) -> canonical reason; returns its length. */
static size_t reason_expand(const struct cfg *c, const char *w, size_t n,
                            char out[ORDERID_REASON_MAX + 1])
{
	size_t len = builtin_expand(w, n, out);

	if (len)
		return len;
	for (int i = 0; c && i < c->aliases_n; i++)
		if (is_word(w, n, c->aliases[i].alias))
			return put_reason(out, c->aliases[i].reason, strlen(c->aliases[i].reason));
	return put_reason(out, w, n);
}

/* Canonical reason -> its shortest spelling (orderid.h, "Aliases"): the built-in
 * alias, else the reason; a [reasons] alias only when strictly shorter. */
static size_t reason_shorten(const struct cfg *c, const char *r, size_t n,
                             char out[ORDERID_REASON_MAX + 1])
{
	size_t best = builtin_shorten(r, n, out);
	const char *pick = NULL;

	if (!best)
		best = n, pick = r;
	for (int i = 0; c && i < c->aliases_n; i++) {
		size_t an = strlen(c->aliases[i].alias);

		if (an < best && is_word(r, n, c->aliases[i].reason)) {
			best = an;
			pick = c->aliases[i].alias;
		}
	}
	if (pick)
		put_reason(out, pick, best);
	return best;
}

static void base36_put(char *out, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = orderid_digits[v % 36];
		v /= 36;
	}
	assert(v == 0);
}

/* Lowercase base36 s[0..width) into *v; 0 when a character is not [0-9a-z]. */
static int base36_get(const char *s, int width, uint64_t *v)
{
	uint64_t acc = 0;

	for (int i = 0; i < width; i++) {
		char ch = s[i];

		if (ch >= '0' && ch <= '9')
			acc = acc * 36 + (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'z')
			acc = acc * 36 + (uint64_t)(ch - 'a' + 10);
		else
			return 0;
	}
	*v = acc;
	return 1;
}

/* see orderid.h */
int orderid_seed(uint64_t *seed)
{
	unsigned char *p = (unsigned char *)seed;
	size_t got = 0;
	int fd;

	assert(seed);
	while (got < sizeof *seed) {
		ssize_t n = getrandom(p + got, sizeof *seed - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno == ENOSYS)
			break;
		else if (errno != EINTR)
			return FR_EIO;
	}
	if (got == sizeof *seed)
		return 0;
	/* Kernels before 3.17 have no getrandom: the device gives the same bits. */
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FR_EIO;
	while (got < sizeof *seed) {
		ssize_t n = read(fd, p + got, sizeof *seed - got);

		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	close(fd);
	return got == sizeof *seed ? 0 : FR_EIO;
}

/* see orderid.h */
void orderid_gen_init(struct orderid_gen *g, uint64_t seed)
{
	assert(g);
	g->base = seed % ORDERID_UNIQUE_MOD;
	g->count = 0;
}

/* A user's string for a message: at most ORDERID_QUOTE_MAX bytes, bytes outside
 * printable ASCII as '?', "..." when cut. The twins quote the same way. */
static const char *quote(char out[ORDERID_QUOTE_MAX + 4], const char *s)
{
	size_t n = strnlen(s, ORDERID_QUOTE_MAX + 1), i;

	for (i = 0; i < n && i < ORDERID_QUOTE_MAX; i++)
		out[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	if (n > ORDERID_QUOTE_MAX)
		out[i++] = '.', out[i++] = '.', out[i++] = '.';
	out[i] = '\0';
	return out;
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errn, int code,
                                                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errn, fmt, ap);
	va_end(ap);
	return code;
}

/* 0, or FR_EINVAL with the message: what is "bot id" or "reason". */
static int check_name(const char *what, const char *s, size_t max, char *err, size_t errn)
{
	char q[ORDERID_QUOTE_MAX + 4];
	size_t n = strnlen(s, max + 1);

	if (n == 0)
		return fail(err, errn, FR_EINVAL, "%s is empty", what);
	if (n > max)
		return fail(err, errn, FR_EINVAL, "%s '%s' is longer than %zu characters", what,
		            quote(q, s), max);
	if (!is_name(s, n, max))
		return fail(err, errn, FR_EINVAL, "%s '%s' has a character outside [A-Za-z0-9_]",
		            what, quote(q, s));
	return 0;
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/*
 * FR_ERANGE with a message naming the fixes that work: a shorter bot id (when
 * the reason leaves it room), a shorter alias (when the bot id leaves room), or
 * both. BOT + REASON > ORDERID_NAMES_MAX, so each room is below what is there.
 */
static int too_long(size_t len, const char *bot, size_t bot_n, const char *canon, size_t wire_n,
                    int aliased, char *err, size_t errn)
{
	long bot_room = (long)ORDERID_NAMES_MAX - (long)wire_n;
	long alias_room = (long)ORDERID_NAMES_MAX - (long)bot_n;
	char fix_bot[128], fix_alias[192];

	snprintf(fix_bot, sizeof fix_bot, "shorten bot id '%s' to at most %ld character%s", bot,
	         bot_room, plural((size_t)bot_room));
	snprintf(fix_alias, sizeof fix_alias, "%s%s%s of at most %ld character%s",
	         aliased ? "give '" : "add a [reasons] alias for '", canon,
	         aliased ? "' a shorter [reasons] alias" : "'", alias_room,
	         plural((size_t)alias_room));
	if (bot_room >= 1 && alias_room >= 1)
		return fail(err, errn, FR_ERANGE, "id would be %zu characters (max %d): %s or %s",
		            len, ORDERID_MAX, fix_bot, fix_alias);
	if (bot_room >= 1 || alias_room >= 1)
		return fail(err, errn, FR_ERANGE, "id would be %zu characters (max %d): %s", len,
		            ORDERID_MAX, bot_room >= 1 ? fix_bot : fix_alias);
	return fail(err, errn, FR_ERANGE,
	            "id would be %zu characters (max %d): shorten bot id '%s' and %s%s%s "
	            "(together at most %d characters)",
	            len, ORDERID_MAX, bot, aliased ? "give '" : "add a [reasons] alias for '",
	            canon, aliased ? "' a shorter [reasons] alias" : "'", ORDERID_NAMES_MAX);
}

/* see orderid.h */
int orderid_new(struct orderid_gen *g, const struct cfg *c, const char *bot, const char *reason,
                int64_t now_ms, char out[ORDERID_MAX + 1], char *err, size_t errn)
{
	char canon[ORDERID_REASON_MAX + 1], wire[ORDERID_REASON_MAX + 1];
	char back[ORDERID_REASON_MAX + 1];
	size_t bot_n, canon_n, wire_n, len;
	int rc;

	assert(g && bot && reason && out && err && errn > 0);
	assert(g->base < ORDERID_UNIQUE_MOD);
	err[0] = '\0';
	out[0] = '\0';
	if ((rc = check_name("bot id", bot, ORDERID_BOT_MAX, err, errn)) != 0 ||
	    (rc = check_name("reason", reason, ORDERID_REASON_MAX, err, errn)) != 0)
		return rc;
	if (now_ms < 0 || now_ms >= ORDERID_MS_LIMIT)
		return fail(err, errn, FR_ERANGE, "clock reads %lld ms, outside the id's range",
		            (long long)now_ms);
	bot_n = strlen(bot);
	canon_n = reason_expand(c, reason, strlen(reason), canon);
	wire_n = reason_shorten(c, canon, canon_n, wire);
	if (reason_expand(c, wire, wire_n, back) != canon_n || strcmp(back, canon) != 0)
		return fail(err, errn, FR_ECONFIG,
		            "[reasons] alias '%s' of '%s' clashes with the built-in aliases "
		            "(fillrelay check names the line)",
		            wire, canon);
	len = bot_n + wire_n + 2 + ORDERID_STAMP_LEN;
	if (len > ORDERID_MAX)
		return too_long(len, bot, bot_n, canon, wire_n, strcmp(wire, canon) != 0, err,
		                errn);
	memcpy(out, bot, bot_n);
	out[bot_n] = '-';
	memcpy(out + bot_n + 1, wire, wire_n);
	out[bot_n + 1 + wire_n] = '-';
	base36_put(out + bot_n + wire_n + 2, (uint64_t)now_ms, ORDERID_MS_LEN);
	base36_put(out + len - ORDERID_UNIQUE_LEN,
	           (g->base + g->count % ORDERID_UNIQUE_MOD) % ORDERID_UNIQUE_MOD,
	           ORDERID_UNIQUE_LEN);
	out[len] = '\0';
	g->count++;
	return (int)len;
}

/* Fills p from validated fields. */
static void parsed_set(struct orderid_parsed *p, const struct cfg *c, const char *bot, size_t bot_n,
                       const char *wire, size_t wire_n)
{
	assert(bot_n <= ORDERID_BOT_MAX && wire_n <= ORDERID_REASON_MAX);
	memcpy(p->bot, bot, bot_n);
	p->bot[bot_n] = '\0';
	put_reason(p->reason_wire, wire, wire_n);
	reason_expand(c, wire, wire_n, p->reason);
}

static int parse_wire(const char *id, size_t n, const struct cfg *c, struct orderid_parsed *p)
{
	size_t head, bot_n;
	const char *dash, *stamp;
	uint64_t ms, unique;

	if (n > ORDERID_MAX || n < ORDERID_STAMP_LEN + 4)
		return ORDERID_FOREIGN;
	head = n - ORDERID_STAMP_LEN - 1; /* BOT-REASON */
	stamp = id + head + 1;
	if (id[head] != '-' || !(dash = memchr(id, '-', head)))
		return ORDERID_FOREIGN;
	bot_n = (size_t)(dash - id);
	if (!is_name(id, bot_n, ORDERID_BOT_MAX) ||
	    !is_name(dash + 1, head - bot_n - 1, ORDERID_REASON_MAX) ||
	    !base36_get(stamp, ORDERID_MS_LEN, &ms) ||
	    !base36_get(stamp + ORDERID_MS_LEN, ORDERID_UNIQUE_LEN, &unique))
		return ORDERID_FOREIGN;
	parsed_set(p, c, id, bot_n, dash + 1, head - bot_n - 1);
	p->stamp_ms = (int64_t)ms;
	p->unique = (uint32_t)unique;
	p->form = ORDERID_FORM_WIRE;
	return 0;
}

static int parse_colon(const char *id, size_t n, const struct cfg *c, struct orderid_parsed *p)
{
	const char *c1 = memchr(id, ':', n), *c2, *stamp;
	size_t bot_n, reason_n, stamp_n;
	int64_t v = 0;

	assert(c1);
	c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - id));
	if (!c2)
		return ORDERID_FOREIGN;
	bot_n = (size_t)(c1 - id);
	reason_n = (size_t)(c2 - c1 - 1);
	stamp = c2 + 1;
	stamp_n = n - (size_t)(stamp - id);
	if (!is_name(id, bot_n, ORDERID_BOT_MAX) ||
	    !is_name(c1 + 1, reason_n, ORDERID_REASON_MAX) || stamp_n > 15 ||
	    !is_digits(stamp, stamp_n))
		return ORDERID_FOREIGN;
	for (size_t i = 0; i < stamp_n; i++)
		v = v * 10 + (stamp[i] - '0');
	parsed_set(p, c, id, bot_n, c1 + 1, reason_n);
	p->stamp_ms = v < ORDERID_COLON_SECONDS_LIMIT ? v * 1000 : v;
	p->unique = 0;
	p->form = ORDERID_FORM_COLON;
	return 0;
}

/* see orderid.h */
int orderid_parse(const char *id, size_t n, const struct cfg *c, struct orderid_parsed *out)
{
	int rc;

	assert(out && (id || n == 0));
	memset(out, 0, sizeof *out);
	if (n == 0 || n > ORDERID_PARSE_MAX)
		return ORDERID_FOREIGN;
	if (memchr(id, ':', n))
		rc = parse_colon(id, n, c, out);
	else
		rc = parse_wire(id, n, c, out);
	if (rc != 0)
		memset(out, 0, sizeof *out);
	assert(rc == ORDERID_FOREIGN || (out->bot[0] && out->reason[0] && out->stamp_ms >= 0));
	return rc;
}

/* see orderid.h */
int orderid_check_aliases(const struct cfg *c, struct cfg_error *e)
{
	char built[ORDERID_REASON_MAX + 1];

	assert(c && e);
	memset(e, 0, sizeof *e);
	snprintf(e->file, sizeof e->file, "%s", c->file);
	for (int i = 0; i < c->aliases_n; i++) {
		const struct cfg_alias *a = &c->aliases[i];

		e->line = a->line;
		if (builtin_expand(a->alias, strlen(a->alias), built) && strcmp(built, a->reason))
			return fail(e->msg, sizeof e->msg, FR_ECONFIG,
			            "alias '%s' is built in for '%s': it cannot stand for '%s' "
			            "(choose another alias)",
			            a->alias, built, a->reason);
		if (builtin_expand(a->reason, strlen(a->reason), built))
			return fail(e->msg, sizeof e->msg, FR_ECONFIG,
			            "alias '%s': reason '%s' is the built-in alias of '%s' "
			            "(write '%s = %s', or leave the line out)",
			            a->alias, a->reason, built, a->alias, built);
	}
	e->line = 0;
	return 0;
}

/* see orderid.h */
const char *orderid_form_name(enum orderid_form form)
{
	switch (form) {
	case ORDERID_FORM_WIRE:
		return "wire";
	case ORDERID_FORM_COLON:
		return "colon";
	}
	return NULL;
}
