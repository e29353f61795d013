/*
 * fillrelay_orderid.h -- client order ids (Bybit orderLinkId) for C bots whose
 * fills fillrelay records. Header only, C11 or later, libc only (getrandom(2)
 * or /dev/urandom, timespec_get). Copy it into your bot.
 *
 *   #include "fillrelay_orderid.h"
 *
 *   static struct fr_orderid_gen gen = FR_ORDERID_GEN_INIT;  one per process
 *   char id[FR_ORDERID_MAX + 1], err[256];
 *
 *   if (fr_orderid_new(&gen, "shortseller_001", "entry", id, err, sizeof err) < 0)
 *           fail(err);          the id cannot be made: the message says why
 *   place_order(..., "orderLinkId", id);
 *
 * RETRIES: make the id once per order and resend the SAME id on every retry of
 * that order (timeout, network error, 5xx). Bybit refuses a duplicate
 * orderLinkId (110072, 170141): on a retry that answer means the first attempt
 * landed. A new id for a retry could place the order twice.
 *
 * Format (the contract is fillrelay's src/orderid.h; fillrelay's
 * `orderid new`, this header and fillrelay_orderid.py agree, tested by
 * tests/orderid_cross.sh):
 *   BOT-REASON-STAMP, at most 36 characters of [A-Za-z0-9_-]
 *   BOT     your bot id, [A-Za-z0-9_]{1,20}, as in fillrelay's [bot ID]
 *   REASON  why the order is placed, [A-Za-z0-9_]{1,32}, written in its
 *           shortest spelling: the seed's standard reasons have built-in
 *           aliases (entry en, scale_in si, manual_entry me, trailing_stop ts,
 *           take_profit tp, stop_loss sl, ma_exit ma, time_exit te,
 *           risk_limit rl, manual_exit mx, volatility_breakout vb,
 *           ema_cross ec, rule_N rN), else the reason itself; an alias you
 *           give the generator (the [reasons] of fillrelay's configuration)
 *           replaces that only when strictly shorter. fillrelay stores the
 *           canonical reason.
 *   STAMP   15 characters [0-9a-z]: 9 of milliseconds since the epoch in
 *           base36, 6 of a per-process counter added to a random start.
 *   BOT and REASON together fit in 19 characters; a longer pair is refused with
 *   a message naming the fix (a shorter bot id, or an alias).
 *
 * One generator per process: ids of one generator never repeat; two
 * generators (two processes, a restart) collide with chance 4.6e-10 per pair
 * of ids made in the same millisecond for the same bot and reason. A generator
 * notices fork(2) and re-seeds itself in the child. Not thread-safe: guard it
 * with a mutex if several threads place orders.
 *
 * Functions return >= 0 on success, else one of the FR_ORDERID_E* values with
 * a one-line message in err.
 */
#ifndef FILLRELAY_ORDERID_H
#define FILLRELAY_ORDERID_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#define FR_ORDERID_HAVE_GETRANDOM 1
#endif
#endif

#define FR_ORDERID_MAX 36
#define FR_ORDERID_MS_LEN 9
#define FR_ORDERID_UNIQUE_LEN 6
#define FR_ORDERID_STAMP_LEN 15
#define FR_ORDERID_MS_LIMIT 101559956668416LL /* 36^9 */
#define FR_ORDERID_UNIQUE_MOD 2176782336u     /* 36^6 */
#define FR_ORDERID_BOT_MAX 20
#define FR_ORDERID_REASON_MAX 32
#define FR_ORDERID_NAMES_MAX 19 /* BOT and REASON together */
#define FR_ORDERID_PARSE_MAX 69
#define FR_ORDERID_RULE_DIGITS_MAX 27
#define FR_ORDERID_COLON_SECONDS_LIMIT 100000000000LL
#define FR_ORDERID_QUOTE_MAX 40

#define FR_ORDERID_FOREIGN 1    /* fr_orderid_parse: not a fillrelay id */
#define FR_ORDERID_EINVAL (-3)  /* bad bot id or reason */
#define FR_ORDERID_EIO (-4)     /* no random seed */
#define FR_ORDERID_ECONFIG (-5) /* an alias you gave clashes with the built-ins */
#define FR_ORDERID_ERANGE (-6)  /* the id would exceed 36 characters; clock out of range */

/* A [reasons] alias: alias stands for the canonical reason. Entries whose names
 * are not [A-Za-z0-9_]{1,32} are ignored. */
struct fr_orderid_alias {
	const char *alias;
	const char *reason;
};

struct fr_orderid_gen {
	uint64_t base;  /* random start, < FR_ORDERID_UNIQUE_MOD */
	uint64_t count; /* ids made */
	long pid;       /* process that seeded it; 0 not yet; -1 fixed (tests) */
	const struct fr_orderid_alias *aliases; /* optional, set before use */
	size_t aliases_n;
};
#define FR_ORDERID_GEN_INIT                                                                        \
	{                                                                                          \
		0, 0, 0, NULL, 0                                                                   \
	}

enum { FR_ORDERID_FORM_WIRE = 1, FR_ORDERID_FORM_COLON = 2 };

struct fr_orderid_parsed {
	char bot[FR_ORDERID_BOT_MAX + 1];
	char reason[FR_ORDERID_REASON_MAX + 1];      /* canonical */
	char reason_wire[FR_ORDERID_REASON_MAX + 1]; /* as in the id */
	int64_t stamp_ms;
	uint32_t unique; /* wire form: the counter part; colon form: 0 */
	int form;        /* FR_ORDERID_FORM_WIRE or FR_ORDERID_FORM_COLON */
};

static inline int fr_orderid__name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

static inline int fr_orderid__is_name(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!fr_orderid__name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

static inline int fr_orderid__is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

static inline int fr_orderid__is_word(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* The seed's standard reasons and their aliases (rule_N is apart); *n entries. */
static inline const struct fr_orderid_alias *fr_orderid_builtins(size_t *n)
{
	static const struct fr_orderid_alias table[] = {
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

	*n = sizeof table / sizeof table[0];
	return table;
}

static inline size_t fr_orderid__len(const char *s, size_t max)
{
	size_t n = 0;

	while (n <= max && s[n])
		n++;
	return n; /* max + 1 when longer than max */
}

static inline size_t fr_orderid__put(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

/* Built-in alias -> canonical reason into out (33 bytes); 0 when not one. */
static inline size_t fr_orderid__builtin_expand(const char *w, size_t n, char *out)
{
	size_t i, bn;
	const struct fr_orderid_alias *b = fr_orderid_builtins(&bn);

	if (n >= 2 && n <= 1 + FR_ORDERID_RULE_DIGITS_MAX && w[0] == 'r' &&
	    fr_orderid__is_digits(w + 1, n - 1)) {
		memcpy(out, "rule_", 5);
		return 5 + fr_orderid__put(out + 5, w + 1, n - 1);
	}
	for (i = 0; i < bn; i++)
		if (fr_orderid__is_word(w, n, b[i].alias))
			return fr_orderid__put(out, b[i].reason, strlen(b[i].reason));
	return 0;
}

/* Canonical reason -> built-in alias into out; 0 when it has none. */
static inline size_t fr_orderid__builtin_shorten(const char *r, size_t n, char *out)
{
	size_t i, bn;
	const struct fr_orderid_alias *b = fr_orderid_builtins(&bn);

	if (n >= 6 && n <= 5 + FR_ORDERID_RULE_DIGITS_MAX && memcmp(r, "rule_", 5) == 0 &&
	    fr_orderid__is_digits(r + 5, n - 5)) {
		out[0] = 'r';
		return 1 + fr_orderid__put(out + 1, r + 5, n - 5);
	}
	for (i = 0; i < bn; i++)
		if (fr_orderid__is_word(r, n, b[i].reason))
			return fr_orderid__put(out, b[i].alias, strlen(b[i].alias));
	return 0;
}

/* Entry i of a caller's alias table, when both names are [A-Za-z0-9_]{1,32}. */
static inline int fr_orderid__alias_ok(const struct fr_orderid_alias *a)
{
	return a->alias && a->reason &&
	       fr_orderid__is_name(a->alias, fr_orderid__len(a->alias, FR_ORDERID_REASON_MAX),
	                           FR_ORDERID_REASON_MAX) &&
	       fr_orderid__is_name(a->reason, fr_orderid__len(a->reason, FR_ORDERID_REASON_MAX),
	                           FR_ORDERID_REASON_MAX);
}

static inline size_t fr_orderid__expand(const struct fr_orderid_alias *al, size_t al_n,
                                        const char *w, size_t n, char *out)
{
	size_t len = fr_orderid__builtin_expand(w, n, out), i;

	if (len)
		return len;
	for (i = 0; al && i < al_n; i++)
		if (fr_orderid__alias_ok(&al[i]) && fr_orderid__is_word(w, n, al[i].alias))
			return fr_orderid__put(out, al[i].reason, strlen(al[i].reason));
	return fr_orderid__put(out, w, n);
}

/* Canonical reason -> its shortest spelling: the built-in alias, else the
 * reason; an alias of the table only when strictly shorter (first among equals). */
static inline size_t fr_orderid__shorten(const struct fr_orderid_alias *al, size_t al_n,
                                         const char *r, size_t n, char *out)
{
	size_t best = fr_orderid__builtin_shorten(r, n, out), i;
	const char *pick = NULL;

	if (!best) {
		best = n;
		pick = r;
	}
	for (i = 0; al && i < al_n; i++) {
		size_t an;

		if (!fr_orderid__alias_ok(&al[i]))
			continue;
		an = strlen(al[i].alias);
		if (an < best && fr_orderid__is_word(r, n, al[i].reason)) {
			best = an;
			pick = al[i].alias;
		}
	}
	if (pick)
		fr_orderid__put(out, pick, best);
	return best;
}

static inline void fr_orderid__b36_put(char *out, uint64_t v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		out[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
		v /= 36;
	}
}

static inline int fr_orderid__b36_get(const char *s, int width, uint64_t *v)
{
	uint64_t acc = 0;
	int i;

	for (i = 0; i < width; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			acc = acc * 36 + (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'z')
			acc = acc * 36 + (uint64_t)(s[i] - 'a' + 10);
		else
			return 0;
	}
	*v = acc;
	return 1;
}

static inline int fr_orderid__fail(char *err, size_t errn, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static inline int fr_orderid__fail(char *err, size_t errn, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errn) {
		va_start(ap, fmt);
		vsnprintf(err, errn, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* At most 40 bytes of s, non-printable bytes as '?', "..." when cut. */
static inline const char *fr_orderid__quote(char out[FR_ORDERID_QUOTE_MAX + 4], const char *s)
{
	size_t n = fr_orderid__len(s, FR_ORDERID_QUOTE_MAX), i;

	for (i = 0; i < n && i < FR_ORDERID_QUOTE_MAX; i++)
		out[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	if (n > FR_ORDERID_QUOTE_MAX) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static inline int fr_orderid__check(const char *what, const char *s, size_t max, char *err,
                                    size_t errn)
{
	char q[FR_ORDERID_QUOTE_MAX + 4];
	size_t n = fr_orderid__len(s, max);

	if (n == 0)
		return fr_orderid__fail(err, errn, FR_ORDERID_EINVAL, "%s is empty", what);
	if (n > max)
		return fr_orderid__fail(err, errn, FR_ORDERID_EINVAL,
		                        "%s '%s' is longer than %u characters", what,
		                        fr_orderid__quote(q, s), (unsigned)max);
	if (!fr_orderid__is_name(s, n, max))
		return fr_orderid__fail(err, errn, FR_ORDERID_EINVAL,
		                        "%s '%s' has a character outside [A-Za-z0-9_]", what,
		                        fr_orderid__quote(q, s));
	return 0;
}

/* FR_ORDERID_ERANGE with a message naming the fixes that work (same text as
 * fillrelay's orderid.c). */
static inline int fr_orderid__too_long(size_t len, const char *bot, size_t bot_n, const char *canon,
                                       size_t wire_n, int aliased, char *err, size_t errn)
{
	long bot_room = (long)FR_ORDERID_NAMES_MAX - (long)wire_n;
	long alias_room = (long)FR_ORDERID_NAMES_MAX - (long)bot_n;
	const char *a1 = aliased ? "give '" : "add a [reasons] alias for '";
	const char *a2 = aliased ? "' a shorter [reasons] alias" : "'";
	char fix_bot[128], fix_alias[192];

	snprintf(fix_bot, sizeof fix_bot, "shorten bot id '%s' to at most %ld character%s", bot,
	         bot_room, bot_room == 1 ? "" : "s");
	snprintf(fix_alias, sizeof fix_alias, "%s%s%s of at most %ld character%s", a1, canon, a2,
	         alias_room, alias_room == 1 ? "" : "s");
	if (bot_room >= 1 && alias_room >= 1)
		return fr_orderid__fail(err, errn, FR_ORDERID_ERANGE,
		                        "id would be %u characters (max %d): %s or %s",
		                        (unsigned)len, FR_ORDERID_MAX, fix_bot, fix_alias);
	if (bot_room >= 1 || alias_room >= 1)
		return fr_orderid__fail(err, errn, FR_ORDERID_ERANGE,
		                        "id would be %u characters (max %d): %s", (unsigned)len,
		                        FR_ORDERID_MAX, bot_room >= 1 ? fix_bot : fix_alias);
	return fr_orderid__fail(err, errn, FR_ORDERID_ERANGE,
	                        "id would be %u characters (max %d): shorten bot id '%s' and "
	                        "%s%s%s (together at most %d characters)",
	                        (unsigned)len, FR_ORDERID_MAX, bot, a1, canon, a2,
	                        FR_ORDERID_NAMES_MAX);
}

/* Seeds g with a fixed value (tests, reproducible runs): fork is not noticed. */
static inline void fr_orderid_gen_seed(struct fr_orderid_gen *g, uint64_t seed)
{
	g->base = seed % FR_ORDERID_UNIQUE_MOD;
	g->count = 0;
	g->pid = -1;
}

/* Seeds g from the operating system's randomness; 0 or FR_ORDERID_EIO. */
static inline int fr_orderid_gen_reseed(struct fr_orderid_gen *g)
{
	unsigned char b[8];
	size_t got = 0;
	uint64_t seed = 0;
	int fd, i;

#ifdef FR_ORDERID_HAVE_GETRANDOM
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
#endif
	if (got < sizeof b) {
#ifdef O_CLOEXEC
		fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
#else
		fd = open("/dev/urandom", O_RDONLY);
#endif
		if (fd < 0)
			return FR_ORDERID_EIO;
		while (got < sizeof b) {
			ssize_t n = read(fd, b + got, sizeof b - got);

			if (n > 0)
				got += (size_t)n;
			else if (n == 0 || errno != EINTR)
				break;
		}
		close(fd);
		if (got < sizeof b)
			return FR_ORDERID_EIO;
	}
	for (i = 0; i < 8; i++)
		seed = seed << 8 | b[i];
	fr_orderid_gen_seed(g, seed);
	g->pid = (long)getpid();
	return 0;
}

/*
 * Makes a new id for bot and reason (canonical, or an alias) at now_ms into out.
 * Returns its length (19..36) or FR_ORDERID_EINVAL, _ERANGE, _ECONFIG, _EIO with
 * the message in err (errn bytes; err may be NULL when errn is 0).
 */
static inline int fr_orderid_new_at(struct fr_orderid_gen *g, const char *bot, const char *reason,
                                    int64_t now_ms, char out[FR_ORDERID_MAX + 1], char *err,
                                    size_t errn)
{
	char canon[FR_ORDERID_REASON_MAX + 1], wire[FR_ORDERID_REASON_MAX + 1];
	char back[FR_ORDERID_REASON_MAX + 1];
	size_t bot_n, canon_n, wire_n, len;
	int rc;

	if (err && errn)
		err[0] = '\0';
	out[0] = '\0';
	if ((rc = fr_orderid__check("bot id", bot, FR_ORDERID_BOT_MAX, err, errn)) != 0 ||
	    (rc = fr_orderid__check("reason", reason, FR_ORDERID_REASON_MAX, err, errn)) != 0)
		return rc;
	if (now_ms < 0 || now_ms >= FR_ORDERID_MS_LIMIT)
		return fr_orderid__fail(err, errn, FR_ORDERID_ERANGE,
		                        "clock reads %lld ms, outside the id's range",
		                        (long long)now_ms);
	if ((g->pid == 0 || (g->pid > 0 && g->pid != (long)getpid())) &&
	    fr_orderid_gen_reseed(g) != 0)
		return fr_orderid__fail(err, errn, FR_ORDERID_EIO,
		                        "no random seed (getrandom and /dev/urandom failed)");
	bot_n = strlen(bot);
	canon_n = fr_orderid__expand(g->aliases, g->aliases_n, reason, strlen(reason), canon);
	wire_n = fr_orderid__shorten(g->aliases, g->aliases_n, canon, canon_n, wire);
	if (fr_orderid__expand(g->aliases, g->aliases_n, wire, wire_n, back) != canon_n ||
	    strcmp(back, canon) != 0)
		return fr_orderid__fail(err, errn, FR_ORDERID_ECONFIG,
		                        "[reasons] alias '%s' of '%s' clashes with the built-in "
		                        "aliases (fillrelay check names the line)",
		                        wire, canon);
	len = bot_n + wire_n + 2 + FR_ORDERID_STAMP_LEN;
	if (len > FR_ORDERID_MAX)
		return fr_orderid__too_long(len, bot, bot_n, canon, wire_n,
		                            strcmp(wire, canon) != 0, err, errn);
	memcpy(out, bot, bot_n);
	out[bot_n] = '-';
	memcpy(out + bot_n + 1, wire, wire_n);
	out[bot_n + 1 + wire_n] = '-';
	fr_orderid__b36_put(out + bot_n + wire_n + 2, (uint64_t)now_ms, FR_ORDERID_MS_LEN);
	fr_orderid__b36_put(out + len - FR_ORDERID_UNIQUE_LEN,
	                    (g->base + g->count % FR_ORDERID_UNIQUE_MOD) % FR_ORDERID_UNIQUE_MOD,
	                    FR_ORDERID_UNIQUE_LEN);
	out[len] = '\0';
	g->count++;
	return (int)len;
}

/* The wall clock in milliseconds since the epoch, or -1. */
static inline int64_t fr_orderid_now_ms(void)
{
	struct timespec ts;

	if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
		return -1;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fr_orderid_new_at with the wall clock. */
static inline int fr_orderid_new(struct fr_orderid_gen *g, const char *bot, const char *reason,
                                 char out[FR_ORDERID_MAX + 1], char *err, size_t errn)
{
	return fr_orderid_new_at(g, bot, reason, fr_orderid_now_ms(), out, err, errn);
}

static inline void fr_orderid__set(struct fr_orderid_parsed *p, const struct fr_orderid_alias *al,
                                   size_t al_n, const char *bot, size_t bot_n, const char *wire,
                                   size_t wire_n)
{
	fr_orderid__put(p->bot, bot, bot_n);
	fr_orderid__put(p->reason_wire, wire, wire_n);
	fr_orderid__expand(al, al_n, wire, wire_n, p->reason);
}

static inline int fr_orderid__parse_wire(const char *id, size_t n,
                                         const struct fr_orderid_alias *al, size_t al_n,
                                         struct fr_orderid_parsed *p)
{
	size_t head, bot_n;
	const char *dash, *stamp;
	uint64_t ms, unique;

	if (n > FR_ORDERID_MAX || n < FR_ORDERID_STAMP_LEN + 4)
		return FR_ORDERID_FOREIGN;
	head = n - FR_ORDERID_STAMP_LEN - 1;
	stamp = id + head + 1;
	if (id[head] != '-' || !(dash = (const char *)memchr(id, '-', head)))
		return FR_ORDERID_FOREIGN;
	bot_n = (size_t)(dash - id);
	if (!fr_orderid__is_name(id, bot_n, FR_ORDERID_BOT_MAX) ||
	    !fr_orderid__is_name(dash + 1, head - bot_n - 1, FR_ORDERID_REASON_MAX) ||
	    !fr_orderid__b36_get(stamp, FR_ORDERID_MS_LEN, &ms) ||
	    !fr_orderid__b36_get(stamp + FR_ORDERID_MS_LEN, FR_ORDERID_UNIQUE_LEN, &unique))
		return FR_ORDERID_FOREIGN;
	fr_orderid__set(p, al, al_n, id, bot_n, dash + 1, head - bot_n - 1);
	p->stamp_ms = (int64_t)ms;
	p->unique = (uint32_t)unique;
	p->form = FR_ORDERID_FORM_WIRE;
	return 0;
}

static inline int fr_orderid__parse_colon(const char *id, size_t n,
                                          const struct fr_orderid_alias *al, size_t al_n,
                                          struct fr_orderid_parsed *p)
{
	const char *c1 = (const char *)memchr(id, ':', n), *c2, *stamp;
	size_t bot_n, reason_n, stamp_n, i;
	int64_t v = 0;

	c2 = (const char *)memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - id));
	if (!c2)
		return FR_ORDERID_FOREIGN;
	bot_n = (size_t)(c1 - id);
	reason_n = (size_t)(c2 - c1 - 1);
	stamp = c2 + 1;
	stamp_n = n - (size_t)(stamp - id);
	if (!fr_orderid__is_name(id, bot_n, FR_ORDERID_BOT_MAX) ||
	    !fr_orderid__is_name(c1 + 1, reason_n, FR_ORDERID_REASON_MAX) || stamp_n > 15 ||
	    !fr_orderid__is_digits(stamp, stamp_n))
		return FR_ORDERID_FOREIGN;
	for (i = 0; i < stamp_n; i++)
		v = v * 10 + (stamp[i] - '0');
	fr_orderid__set(p, al, al_n, id, bot_n, c1 + 1, reason_n);
	p->stamp_ms = v < FR_ORDERID_COLON_SECONDS_LIMIT ? v * 1000 : v;
	p->unique = 0;
	p->form = FR_ORDERID_FORM_COLON;
	return 0;
}

/*
 * Parses the n bytes at id (any bytes; need not be NUL-terminated). Returns 0
 * with *out filled for a fillrelay id (BOT-REASON-STAMP, or the seed's
 * BOT:REASON:TIMESTAMP), the reason expanded through the built-in aliases,
 * then aliases[0..aliases_n) (may be NULL); FR_ORDERID_FOREIGN, *out zeroed,
 * for anything else.
 */
static inline int fr_orderid_parse(const char *id, size_t n, const struct fr_orderid_alias *aliases,
                                   size_t aliases_n, struct fr_orderid_parsed *out)
{
	int rc;

	memset(out, 0, sizeof *out);
	if (!id || n == 0 || n > FR_ORDERID_PARSE_MAX)
		return FR_ORDERID_FOREIGN;
	if (memchr(id, ':', n))
		rc = fr_orderid__parse_colon(id, n, aliases, aliases_n, out);
	else
		rc = fr_orderid__parse_wire(id, n, aliases, aliases_n, out);
	if (rc != 0)
		memset(out, 0, sizeof *out);
	return rc;
}

#endif
