/*
 * cfg.c -- line-by-line INI parser into struct cfg, then cross-checks.
 *
 * The parser copies each line into a NUL-terminated buffer and dispatches on
 * the current section's key table. Every key's line is remembered (per section
 * instance) so that duplicates and later cross-reference errors can name it.
 */
#define _POSIX_C_SOURCE 200809L

#include "cfg.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)
#define SEC_MS UINT64_C(1000)
#define MIN_MS (60 * SEC_MS)
#define DAY_MS (24 * 60 * MIN_MS)

/* Keys shared by [exchange] and [account]: they come first in both tables. */
enum { EP_WS_URL, EP_REST_URL, EP_CA_FILE, EP_TOPICS, EP_CATEGORIES, EP_N };
enum { EXC_PING = EP_N, EXC_SILENCE, EXC_RECV_WINDOW, EXC_N };
enum { ACC_API_KEY = EP_N, ACC_API_SECRET, ACC_DEFAULT_BOT, ACC_HORIZON, ACC_N };
enum {
	LIS_INSTANCE,
	LIS_SPILL_DIR,
	LIS_SPILL_LIMIT,
	LIS_METRICS,
	LIS_LOG_LEVEL,
	LIS_ARENA,
	LIS_SPILL_FSYNC,
	LIS_N
};
enum { BOT_ACCOUNT, BOT_REDIS_DB, BOT_CATEGORY, BOT_N };
enum { PG_CONNINFO, PG_PASSWORD, PG_N };
enum { RDS_HOST, RDS_PORT, RDS_PASSWORD, RDS_N };
#define KEYS_MAX 10
_Static_assert(EXC_N <= KEYS_MAX && ACC_N <= KEYS_MAX && LIS_N <= KEYS_MAX,
               "every section's keys fit a line table");

enum sect { S_LISTENER, S_EXCHANGE, S_ACCOUNT, S_BOT, S_REASONS, S_POSTGRES, S_REDIS, S_N };

struct parser;

struct section {
	const char *name;
	int named;               /* takes [name NAME] */
	const char *const *keys; /* NULL: free keys, as in [reasons] */
	int (*open)(struct parser *ps, const char *name);
	/* v is the line buffer's copy, which a setter may cut up. */
	int (*set)(struct parser *ps, int key, const char *k, char *v);
};

struct parser {
	struct cfg *c;
	struct cfg_error *e;
	int line;
	const struct section *sect;    /* NULL before the first header */
	int *lines;                    /* key lines of the current section instance */
	int idx;                       /* current account or bot */
	char label[CFG_NAME_MAX + 16]; /* "account main", for messages */
	int sect_line[S_N];            /* header line of each singleton section */
	int single_lines[S_N][KEYS_MAX];
	int acc_lines[CFG_ACCOUNTS_MAX][KEYS_MAX];
	int bot_lines[CFG_BOTS_MAX][KEYS_MAX];
	char buf[CFG_LINE_MAX + 1];
};

struct range {
	uint64_t min, max;
	const char *text;
};

static const struct range spill_range = {MIB, TIB, "1M..1T"};
static const struct range arena_range = {4 * MIB, GIB, "4M..1G"};
static const struct range ping_range = {SEC_MS, 60 * SEC_MS, "1s..60s"};
static const struct range silence_range = {2 * SEC_MS, 10 * MIN_MS, "2s..10m"};
static const struct range recv_range = {100, 60 * SEC_MS, "100ms..60s"};
static const struct range horizon_range = {MIN_MS, 730 * DAY_MS, "1m..730d"};

static const char *const category_names[] = {"linear", "inverse", "spot", "option", NULL};
static const char *const topic_names[] = {"execution", "order", "position", "wallet", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
/* In enum cfg_spill_fsync order. */
static const char *const fsync_names[] = {"always", "batch", "os", NULL};

/*
 * Reason names an alias may not shadow: the seed's standard reasons (rule_N is
 * matched apart) and those fillrelay derives from the exchange.
 */
static const char *const reserved_reasons[] = {
    "entry",
    "scale_in",
    "manual_entry",
    "trailing_stop",
    "take_profit",
    "stop_loss",
    "ma_exit",
    "time_exit",
    "risk_limit",
    "manual_exit",
    "volatility_breakout",
    "ema_cross",
    "liquidation",
    "adl",
    "settlement",
    "unknown",
    NULL,
};

/* fillrelay's own bot ids (DESIGN.md sections 3 and 4). */
static const char *const reserved_bots[] = {"unattributed", "shared", NULL};

/* ---- small helpers ------------------------------------------------------- */

/*
 * memset called through a volatile pointer: the compiler cannot prove what it
 * calls, so wiping a secret just before it goes out of scope is never elided.
 */
static void *(*const volatile memset_v)(void *, int, size_t) = memset;

static void wipe(void *p, size_t n)
{
	memset_v(p, 0, n);
}

static int word_index(const char *const *words, const char *s)
{
	for (int i = 0; words[i]; i++)
		if (strcmp(words[i], s) == 0)
			return i;
	return -1;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int is_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

static int is_host_char(char ch)
{
	return is_name_char(ch) || ch == '.' || ch == '-';
}

static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	assert(n < size);
	memcpy(dst, src, n + 1);
}

static int fail(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;

	ps->e->line = line;
	va_start(ap, fmt);
	vsnprintf(ps->e->msg, sizeof ps->e->msg, fmt, ap);
	va_end(ap);
	return FR_ECONFIG;
}

/* Puts prefix before the message a check just failed with. */
static int fail_prefixed(struct parser *ps, const char *prefix)
{
	char msg[ERR_MSG_MAX];

	memcpy(msg, ps->e->msg, sizeof msg);
	return fail(ps, ps->e->line, "%s: %s", prefix, msg);
}

/* Adds a warning to c; line as for errors. */
static void warn(struct cfg *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(struct cfg *c, int line, const char *fmt, ...)
{
	struct cfg_error *w;
	va_list ap;
	int n;

	if (c->warnings_n == CFG_WARNINGS_MAX) {
		c->warnings_dropped++;
		return;
	}
	w = &c->warnings[c->warnings_n++];
	copy(w->file, sizeof w->file, c->file);
	w->line = line;
	n = snprintf(w->msg, sizeof w->msg, "warning: ");
	va_start(ap, fmt);
	vsnprintf(w->msg + n, sizeof w->msg - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- value syntax: numbers, sizes, durations, names ------------------------ */

/* Reads decimal digits at *s into *out; 0, or -1 on no digit or overflow. */
static int scan_u64(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t n = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*out = n;
	return 0;
}

static int mul_u64(uint64_t n, uint64_t mul, uint64_t *out)
{
	if (mul && n > UINT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

static uint64_t size_unit(const char *u)
{
	static const char letters[] = "KMGT";
	char up = *u >= 'a' && *u <= 'z' ? (char)(*u - 'a' + 'A') : *u;
	const char *l;

	if (!*u)
		return 1;
	l = strchr(letters, up);
	if (!l || (u[1] && strcmp(u + 1, "iB") != 0))
		return 0;
	return KIB << (10 * (l - letters));
}

static int parse_size(const char *s, uint64_t *out)
{
	uint64_t n, unit;

	if (scan_u64(&s, &n))
		return -1;
	unit = size_unit(s);
	return unit ? mul_u64(n, unit, out) : -1;
}

static uint64_t duration_unit(const char *u)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = {{"", 1},       {"ms", 1},          {"s", SEC_MS},
	             {"m", MIN_MS}, {"h", 60 * MIN_MS}, {"d", DAY_MS}};

	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(units[i].name, u) == 0)
			return units[i].ms;
	return 0;
}

static int parse_duration(const char *s, uint64_t *out)
{
	uint64_t n, unit;

	if (scan_u64(&s, &n))
		return -1;
	unit = duration_unit(s);
	return unit ? mul_u64(n, unit, out) : -1;
}

static int parse_uint(const char *s, uint64_t *out)
{
	return scan_u64(&s, out) || *s ? -1 : 0;
}

static int check_range(struct parser *ps, const char *k, uint64_t v, const struct range *r)
{
	if (v < r->min || v > r->max)
		return fail(ps, ps->line, "%s: out of range %s", k, r->text);
	return 0;
}

/* what: "bot id", "alias", ...; max: characters. */
static int check_name(struct parser *ps, const char *what, const char *s, size_t max)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return fail(ps, ps->line, "invalid %s '%.64s': use letters, digits and _",
			            what, s);
	if (n == 0)
		return fail(ps, ps->line, "empty %s", what);
	if (n > max)
		return fail(ps, ps->line, "%s '%.64s' too long (max %zu characters)", what, s, max);
	return 0;
}

static int set_str(struct parser *ps, const char *k, char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return fail(ps, ps->line, "%s: value too long (max %zu bytes)", k, size - 1);
	copy(dst, size, v);
	return 0;
}

static int set_name(struct parser *ps, const char *k, const char *what, char *dst, size_t size,
                    const char *v)
{
	if (check_name(ps, what, v, size - 1))
		return fail_prefixed(ps, k);
	copy(dst, size, v);
	return 0;
}

static int set_size(struct parser *ps, const char *k, uint64_t *dst, const struct range *r,
                    const char *v)
{
	uint64_t n;

	if (parse_size(v, &n))
		return fail(ps, ps->line,
		            "%s: bad size '%.64s' (bytes, or a number with K, M, G or T)", k, v);
	if (check_range(ps, k, n, r))
		return FR_ECONFIG;
	*dst = n;
	return 0;
}

static int set_duration64(struct parser *ps, const char *k, uint64_t *dst, const struct range *r,
                          const char *v)
{
	uint64_t n;

	if (parse_duration(v, &n))
		return fail(ps, ps->line,
		            "%s: bad duration '%.64s' (ms, or a number with ms, s, m, h or d)", k,
		            v);
	if (check_range(ps, k, n, r))
		return FR_ECONFIG;
	*dst = n;
	return 0;
}

static int set_duration32(struct parser *ps, const char *k, uint32_t *dst, const struct range *r,
                          const char *v)
{
	uint64_t n;

	assert(r->max <= UINT32_MAX);
	if (set_duration64(ps, k, &n, r, v))
		return FR_ECONFIG;
	*dst = (uint32_t)n;
	return 0;
}

static int set_uint(struct parser *ps, const char *k, unsigned *dst, unsigned min, unsigned max,
                    const char *v)
{
	uint64_t n;

	if (parse_uint(v, &n))
		return fail(ps, ps->line, "%s: not a number: '%.64s'", k, v);
	if (n < min || n > max)
		return fail(ps, ps->line, "%s: out of range %u..%u", k, min, max);
	*dst = (unsigned)n;
	return 0;
}

/* ---- hosts and URLs -------------------------------------------------------- */

/* A host name or IPv4 address, or (bracketed) an IPv6 address. */
static int check_host(const char *h, size_t n, int v6)
{
	if (n == 0 || n >= CFG_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = h[i];
		int hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		          (ch >= 'A' && ch <= 'F');

		if (v6 ? !(hex || ch == ':' || ch == '.') : !is_host_char(ch))
			return -1;
	}
	return 0;
}

static int parse_port(const char *s, size_t n, unsigned *port)
{
	char digits[8];
	uint64_t v;

	if (n == 0 || n >= sizeof digits)
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (parse_uint(digits, &v) || v < 1 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/*
 * Splits "host", "host:port", "[v6]" or "[v6]:port" (s, n bytes) into host and
 * port; *port is left alone when there is none. 0, or -1 when malformed.
 */
static int split_hostport(const char *s, size_t n, char *host, unsigned *port)
{
	const char *h = s, *colon;
	size_t hn;
	int v6 = n && s[0] == '[';

	if (v6) {
		const char *close = memchr(s, ']', n);

		if (!close)
			return -1;
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1 < s + n ? close + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = memchr(s, ':', n);
		hn = colon ? (size_t)(colon - s) : n;
	}
	if (check_host(h, hn, v6))
		return -1;
	if (colon && parse_port(colon + 1, (size_t)(s + n - colon - 1), port))
		return -1;
	memcpy(host, h, hn);
	host[hn] = '\0';
	return 0;
}

static int set_hostport(struct parser *ps, const char *k, char *host, unsigned *port, const char *v)
{
	unsigned p = 0;

	if (split_hostport(v, strlen(v), host, &p) || p == 0)
		return fail(ps, ps->line, "%s: expected HOST:PORT, got '%.64s'", k, v);
	*port = p;
	return 0;
}

static int has_prefix_nocase(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;

		if (ch != *prefix)
			return 0;
	}
	return 1;
}

static int check_scheme(struct parser *ps, const char *k, const char *v, int rest)
{
	const char *want = rest ? "https://" : "wss://";
	const char *plain = rest ? "http://" : "ws://";

	if (has_prefix_nocase(v, want))
		return 0;
	if (has_prefix_nocase(v, plain))
		return fail(ps, ps->line, "%s: %s is refused: TLS is never skipped (use %s)", k,
		            plain, want);
	return fail(ps, ps->line, "%s: must start with %s", k, want);
}

static int check_url_chars(struct parser *ps, const char *k, const char *v, int rest)
{
	if (strpbrk(v, " \t"))
		return fail(ps, ps->line, "%s: blank inside the URL", k);
	if (strchr(v, '#'))
		return fail(ps, ps->line, "%s: a URL fragment ('#') is not allowed", k);
	if (rest && strchr(v, '?'))
		return fail(ps, ps->line, "%s: a query ('?') is not allowed", k);
	return 0;
}

static int set_url(struct parser *ps, const char *k, struct cfg_url *u, const char *v, int rest)
{
	const char *auth, *slash;
	size_t n;

	if (check_scheme(ps, k, v, rest) || check_url_chars(ps, k, v, rest) ||
	    set_str(ps, k, u->text, sizeof u->text, v))
		return FR_ECONFIG;
	auth = strstr(v, "://") + 3;
	slash = strchr(auth, '/');
	n = slash ? (size_t)(slash - auth) : strlen(auth);
	if (memchr(auth, '@', n))
		return fail(ps, ps->line, "%s: user info ('@') is not allowed", k);
	u->port = 443;
	if (split_hostport(auth, n, u->host, &u->port))
		return fail(ps, ps->line, "%s: bad host or port in '%.64s'", k, v);
	copy(u->path, sizeof u->path, slash ? slash : "");
	if (rest) {
		/* So that path + "/v5/..." is always right. */
		n = strlen(u->path);
		while (n && u->path[n - 1] == '/')
			u->path[--n] = '\0';
		n = strlen(u->text);
		while (u->text[n - 1] == '/')
			u->text[--n] = '\0';
	}
	return 0;
}

/* ---- lists: topics and categories ------------------------------------------ */

static int list_item(struct parser *ps, const char *k, const char *const *names, char *item,
                     unsigned *mask)
{
	int i;

	item = trim(item);
	if (!*item)
		return fail(ps, ps->line, "%s: empty item in the list", k);
	i = word_index(names, item);
	if (i < 0 && names == topic_names && strcmp(item, "execution.fast") == 0)
		return fail(ps, ps->line,
		            "%s: execution.fast has no fees nor execType: "
		            "use execution",
		            k);
	if (i < 0 && names == topic_names && strchr(item, '.'))
		return fail(ps, ps->line,
		            "%s: '%.64s' is a categorised topic: use "
		            "all-in-one topics (categories = selects categories)",
		            k, item);
	if (i < 0)
		return fail(ps, ps->line, "%s: unknown %s '%.64s'", k,
		            names == topic_names ? "topic" : "category", item);
	if (*mask & (1u << i))
		return fail(ps, ps->line, "%s: '%s' listed twice", k, item);
	*mask |= 1u << i;
	return 0;
}

static int set_list(struct parser *ps, const char *k, const char *const *names, char *v,
                    unsigned *out)
{
	unsigned mask = 0;
	char *item = v, *comma;

	do {
		comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		if (list_item(ps, k, names, item, &mask))
			return FR_ECONFIG;
		if (comma)
			item = comma + 1;
	} while (comma);
	*out = mask;
	return 0;
}

static int set_topics(struct parser *ps, const char *k, char *v, unsigned *out)
{
	if (set_list(ps, k, topic_names, v, out))
		return FR_ECONFIG;
	if (!(*out & CFG_TOPIC_EXECUTION))
		return fail(ps, ps->line, "%s: must include execution (fills come from it)", k);
	if (!(*out & CFG_TOPIC_ORDER))
		warn(ps->c, ps->line,
		     "topics without order: attached TP/SL fills and "
		     "hedge-mode positionIdx need it");
	return 0;
}

/* ---- secrets --------------------------------------------------------------- */

enum rd { RD_OK, RD_OPEN, RD_NOTREG, RD_READ, RD_TOOBIG };

/*
 * Reads the regular file at path into buf (cap bytes; the file must be shorter).
 * O_NONBLOCK: a FIFO must not hang the open, it is then refused as not regular.
 */
static enum rd read_whole(const char *path, char *buf, size_t cap, size_t *len, mode_t *mode,
                          int *err)
{
	struct stat st;
	enum rd r = RD_OK;
	ssize_t got = 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	*len = 0;
	if (fd < 0) {
		*err = errno;
		return RD_OPEN;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		r = RD_NOTREG;
	else
		*mode = st.st_mode;
	while (r == RD_OK && got && *len < cap) {
		got = read(fd, buf + *len, cap - *len);
		if (got < 0 && errno != EINTR) {
			*err = errno;
			r = RD_READ;
		} else if (got > 0) {
			*len += (size_t)got;
		}
	}
	if (r == RD_OK && *len == cap)
		r = RD_TOOBIG;
	close(fd);
	return r;
}

static int secret_text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* POSIX: [A-Za-z_][A-Za-z0-9_]* */
static int is_env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	while (is_name_char(*s))
		s++;
	return !*s;
}

static int secret_env(struct parser *ps, const char *k, struct cfg_secret *s)
{
	const char *name = s->ref, *v;

	if (!is_env_name(name))
		return fail(ps, ps->line, "%s: bad environment variable name in env:%.64s", k,
		            name);
	v = getenv(name);
	if (!v)
		return fail(ps, ps->line, "%s: environment variable %s is not set", k, name);
	if (!*v)
		return fail(ps, ps->line, "%s: environment variable %s is empty", k, name);
	if (strlen(v) >= sizeof s->value)
		return fail(ps, ps->line,
		            "%s: environment variable %s is longer than %zu "
		            "bytes",
		            k, name, sizeof s->value - 1);
	if (!secret_text_ok(v, strlen(v)))
		return fail(ps, ps->line,
		            "%s: environment variable %s holds a control "
		            "character",
		            k, name);
	copy(s->value, sizeof s->value, v);
	return 0;
}

static int secret_file_error(struct parser *ps, const char *k, const char *path, enum rd r, int err)
{
	switch (r) {
	case RD_OPEN:
		return fail(ps, ps->line, "%s: cannot open file:%s: %s", k, path, strerror(err));
	case RD_NOTREG:
		return fail(ps, ps->line, "%s: file:%s is not a regular file", k, path);
	case RD_READ:
		return fail(ps, ps->line, "%s: cannot read file:%s: %s", k, path, strerror(err));
	case RD_TOOBIG:
	case RD_OK:
		break;
	}
	return fail(ps, ps->line, "%s: file:%s is longer than %d bytes", k, path,
	            CFG_SECRET_MAX - 1);
}

static int secret_file(struct parser *ps, const char *k, struct cfg_secret *s)
{
	/* Room for the value, CRLF, and one byte to tell "too long". */
	char buf[CFG_SECRET_MAX + 2];
	size_t n;
	mode_t mode;
	int err = 0, rc = 0;
	enum rd r;

	if (s->ref[0] != '/')
		return fail(ps, ps->line, "%s: file: needs an absolute path", k);
	r = read_whole(s->ref, buf, sizeof buf, &n, &mode, &err);
	if (r != RD_OK)
		rc = secret_file_error(ps, k, s->ref, r, err);
	if (!rc && n && buf[n - 1] == '\n')
		n -= n > 1 && buf[n - 2] == '\r' ? 2 : 1;
	if (!rc && n == 0)
		rc = fail(ps, ps->line, "%s: file:%s is empty", k, s->ref);
	if (!rc && n >= sizeof s->value)
		rc = secret_file_error(ps, k, s->ref, RD_TOOBIG, 0);
	if (!rc && !secret_text_ok(buf, n))
		rc = fail(ps, ps->line,
		          "%s: file:%s holds more than one line or a control "
		          "character",
		          k, s->ref);
	if (!rc) {
		memcpy(s->value, buf, n);
		s->value[n] = '\0';
	}
	wipe(buf, sizeof buf);
	return rc;
}

static int set_secret(struct parser *ps, const char *k, struct cfg_secret *s, const char *v)
{
	int rc;

	s->line = ps->line;
	if (strncmp(v, "env:", 4) == 0 || strncmp(v, "file:", 5) == 0) {
		int env = v[0] == 'e';

		s->src = env ? CFG_SECRET_ENV : CFG_SECRET_FILE;
		if (set_str(ps, k, s->ref, sizeof s->ref, v + (env ? 4 : 5)))
			return FR_ECONFIG;
		rc = env ? secret_env(ps, k, s) : secret_file(ps, k, s);
	} else {
		s->src = CFG_SECRET_LITERAL;
		rc = set_str(ps, k, s->value, sizeof s->value, v);
	}
	if (!rc && strlen(s->value) < CFG_SECRET_SHORT)
		warn(ps->c, ps->line,
		     "%s is shorter than %d bytes: logs cannot reliably "
		     "redact it",
		     k, CFG_SECRET_SHORT);
	return rc;
}

/* ---- conninfo -------------------------------------------------------------- */

/* Skips one keyword/value value (quoted or not) at p; NULL if unterminated. */
static const char *conninfo_value(const char *p)
{
	int quoted = *p == '\'';

	p += quoted;
	while (*p && (quoted ? *p != '\'' : !is_blank(*p))) {
		if (*p == '\\' && p[1])
			p++;
		p++;
	}
	if (quoted && !*p)
		return NULL;
	return p + quoted;
}

static int conninfo_keywords(struct parser *ps, const char *k, const char *p)
{
	for (;;) {
		const char *kw;
		size_t n;

		while (is_blank(*p))
			p++;
		if (!*p)
			return 0;
		for (kw = p; *p && *p != '=' && !is_blank(*p); p++)
			;
		n = (size_t)(p - kw);
		while (is_blank(*p))
			p++;
		if (*p != '=' || n == 0)
			return fail(ps, ps->line, "%s: expected keyword=value at '%.*s'", k,
			            (int)(n > 64 ? 64 : n), kw);
		if (n == 8 && memcmp(kw, "password", 8) == 0)
			return fail(ps, ps->line,
			            "%s: holds a password: use the password "
			            "key (a secret, never logged)",
			            k);
		for (p++; is_blank(*p); p++)
			;
		p = conninfo_value(p);
		if (!p)
			return fail(ps, ps->line, "%s: unterminated quote", k);
	}
}

static int conninfo_uri(struct parser *ps, const char *k, const char *v)
{
	const char *auth = strstr(v, "://") + 3;
	size_t n = strcspn(auth, "/?");
	const char *at = memchr(auth, '@', n);
	const char *q = strchr(v, '?');

	if ((at && memchr(auth, ':', (size_t)(at - auth))) ||
	    (q && (strstr(q, "?password=") || strstr(q, "&password="))))
		return fail(ps, ps->line,
		            "%s: holds a password: use the password key "
		            "(a secret, never logged)",
		            k);
	return 0;
}

static int set_conninfo(struct parser *ps, const char *k, const char *v)
{
	struct cfg_postgres *pg = &ps->c->postgres;
	int uri = strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0;

	if (uri ? conninfo_uri(ps, k, v) : conninfo_keywords(ps, k, v))
		return FR_ECONFIG;
	return set_str(ps, k, pg->conninfo, sizeof pg->conninfo, v);
}

/* ---- section setters ------------------------------------------------------- */

static int endpoint_set(struct parser *ps, struct cfg_endpoint *ep, int key, const char *k, char *v)
{
	switch (key) {
	case EP_WS_URL:
		return set_url(ps, k, &ep->ws_url, v, 0);
	case EP_REST_URL:
		return set_url(ps, k, &ep->rest_url, v, 1);
	case EP_CA_FILE:
		return set_str(ps, k, ep->ca_file, sizeof ep->ca_file, v);
	case EP_TOPICS:
		return set_topics(ps, k, v, &ep->topics);
	case EP_CATEGORIES:
		return set_list(ps, k, category_names, v, &ep->categories);
	}
	assert(0);
	return FR_ECONFIG;
}

static int set_spill_fsync(struct parser *ps, const char *k, struct cfg_listener *l,
                           const char *v)
{
	int f = word_index(fsync_names, v);

	if (f < 0)
		return fail(ps, ps->line, "%s: unknown policy '%.64s' (always, batch, os)", k, v);
	l->spill_fsync = (enum cfg_spill_fsync)f;
	return 0;
}

static int listener_set(struct parser *ps, int key, const char *k, char *v)
{
	struct cfg_listener *l = &ps->c->listener;
	int level = word_index(level_names, v);

	switch (key) {
	case LIS_INSTANCE:
		for (const char *p = v; *p; p++)
			if (!is_host_char(*p))
				return fail(ps, ps->line, "%s: use letters, digits, _, . and -", k);
		return set_str(ps, k, l->instance, sizeof l->instance, v);
	case LIS_SPILL_DIR:
		return set_str(ps, k, l->spill_dir, sizeof l->spill_dir, v);
	case LIS_SPILL_LIMIT:
		return set_size(ps, k, &l->spill_limit_bytes, &spill_range, v);
	case LIS_METRICS:
		return set_hostport(ps, k, l->metrics_host, &l->metrics_port, v);
	case LIS_LOG_LEVEL:
		if (level < 0)
			return fail(ps, ps->line,
			            "%s: unknown level '%.64s' (debug, info, "
			            "warn, error)",
			            k, v);
		l->log_level = (enum cfg_log_level)level;
		return 0;
	case LIS_ARENA:
		return set_size(ps, k, &l->arena_size_bytes, &arena_range, v);
	case LIS_SPILL_FSYNC:
		return set_spill_fsync(ps, k, l, v);
	}
	assert(0);
	return FR_ECONFIG;
}

static int exchange_set(struct parser *ps, int key, const char *k, char *v)
{
	struct cfg_exchange *x = &ps->c->exchange;

	switch (key) {
	case EXC_PING:
		return set_duration32(ps, k, &x->ping_interval_ms, &ping_range, v);
	case EXC_SILENCE:
		return set_duration32(ps, k, &x->silence_timeout_ms, &silence_range, v);
	case EXC_RECV_WINDOW:
		return set_duration32(ps, k, &x->recv_window_ms, &recv_range, v);
	}
	return endpoint_set(ps, &x->ep, key, k, v);
}

static int account_set(struct parser *ps, int key, const char *k, char *v)
{
	struct cfg_account *a = &ps->c->accounts[ps->idx];

	switch (key) {
	case ACC_API_KEY:
		return set_secret(ps, k, &a->api_key, v);
	case ACC_API_SECRET:
		return set_secret(ps, k, &a->api_secret, v);
	case ACC_DEFAULT_BOT:
		return set_name(ps, k, "bot id", a->default_bot, sizeof a->default_bot, v);
	case ACC_HORIZON:
		return set_duration64(ps, k, &a->backfill_horizon_ms, &horizon_range, v);
	}
	return endpoint_set(ps, &a->ep, key, k, v);
}

static int bot_set(struct parser *ps, int key, const char *k, char *v)
{
	struct cfg_bot *b = &ps->c->bots[ps->idx];
	int cat = word_index(category_names, v);

	switch (key) {
	case BOT_ACCOUNT:
		return set_name(ps, k, "account name", b->account, sizeof b->account, v);
	case BOT_REDIS_DB:
		if (set_uint(ps, k, &b->redis_db, 0, CFG_REDIS_DB_MAX, v))
			return FR_ECONFIG;
		if (b->redis_db >= 16)
			warn(ps->c, ps->line,
			     "redis_db %u needs `databases %u` or more in "
			     "redis.conf (the default is 16)",
			     b->redis_db, b->redis_db + 1);
		return 0;
	case BOT_CATEGORY:
		if (cat < 0)
			return fail(ps, ps->line,
			            "%s: unknown category '%.64s' (linear, "
			            "inverse, spot, option)",
			            k, v);
		b->category = (enum cfg_category)(1u << cat);
		return 0;
	}
	assert(0);
	return FR_ECONFIG;
}

static int postgres_set(struct parser *ps, int key, const char *k, char *v)
{
	if (key == PG_CONNINFO)
		return set_conninfo(ps, k, v);
	assert(key == PG_PASSWORD);
	return set_secret(ps, k, &ps->c->postgres.password, v);
}

static int redis_set(struct parser *ps, int key, const char *k, char *v)
{
	struct cfg_redis *r = &ps->c->redis;

	switch (key) {
	case RDS_HOST:
		if (check_host(v, strlen(v), 0) && check_host(v, strlen(v), 1))
			return fail(ps, ps->line, "%s: bad host '%.64s'", k, v);
		return set_str(ps, k, r->host, sizeof r->host, v);
	case RDS_PORT:
		return set_uint(ps, k, &r->port, 1, 65535, v);
	}
	assert(key == RDS_PASSWORD);
	return set_secret(ps, k, &r->password, v);
}

static int is_reserved_reason(const char *s)
{
	const char *p = s + 5;

	if (strncmp(s, "rule_", 5) == 0 && *p) {
		while (*p >= '0' && *p <= '9')
			p++;
		if (!*p)
			return 1;
	}
	return word_index(reserved_reasons, s) >= 0;
}

static int reasons_set(struct parser *ps, int key, const char *k, char *v)
{
	struct cfg *c = ps->c;
	struct cfg_alias *a;
	char prefix[CFG_ALIAS_MAX + 16];

	(void)key;
	if (check_name(ps, "alias", k, CFG_ALIAS_MAX - 1))
		return FR_ECONFIG;
	if (is_reserved_reason(k))
		return fail(ps, ps->line,
		            "alias '%s' is a standard reason name: an alias "
		            "must not shadow it",
		            k);
	for (int i = 0; i < c->aliases_n; i++)
		if (strcmp(c->aliases[i].alias, k) == 0)
			return fail(ps, ps->line, "alias '%s' defined twice (first at line %d)", k,
			            c->aliases[i].line);
	snprintf(prefix, sizeof prefix, "alias '%s'", k);
	if (check_name(ps, "reason", v, CFG_REASON_MAX - 1))
		return fail_prefixed(ps, prefix);
	if (strcmp(k, v) == 0)
		return fail(ps, ps->line, "alias '%s' maps to itself", k);
	if (c->aliases_n == CFG_ALIASES_MAX)
		return fail(ps, ps->line, "too many aliases (max %d)", CFG_ALIASES_MAX);
	a = &c->aliases[c->aliases_n++];
	copy(a->alias, sizeof a->alias, k);
	copy(a->reason, sizeof a->reason, v);
	a->line = ps->line;
	return 0;
}

/* ---- section headers ------------------------------------------------------- */

static int open_single(struct parser *ps, enum sect s)
{
	if (ps->sect_line[s])
		return fail(ps, ps->line, "duplicate section [%s] (first at line %d)",
		            ps->sect->name, ps->sect_line[s]);
	ps->sect_line[s] = ps->line;
	ps->lines = ps->single_lines[s];
	snprintf(ps->label, sizeof ps->label, "%s", ps->sect->name);
	return 0;
}

static int open_listener(struct parser *ps, const char *name)
{
	(void)name;
	return open_single(ps, S_LISTENER);
}

static int open_exchange(struct parser *ps, const char *name)
{
	(void)name;
	return open_single(ps, S_EXCHANGE);
}

static int open_reasons(struct parser *ps, const char *name)
{
	(void)name;
	return open_single(ps, S_REASONS);
}

static int open_postgres(struct parser *ps, const char *name)
{
	(void)name;
	return open_single(ps, S_POSTGRES);
}

static int open_redis(struct parser *ps, const char *name)
{
	(void)name;
	return open_single(ps, S_REDIS);
}

static int open_account(struct parser *ps, const char *name)
{
	struct cfg *c = ps->c;
	const struct cfg_account *old = cfg_account_find(c, name);
	struct cfg_account *a;

	if (check_name(ps, "account name", name, CFG_NAME_MAX - 1))
		return FR_ECONFIG;
	if (old)
		return fail(ps, ps->line, "duplicate section [account %s] (first at line %d)", name,
		            old->line);
	if (c->accounts_n == CFG_ACCOUNTS_MAX)
		return fail(ps, ps->line, "too many accounts (max %d)", CFG_ACCOUNTS_MAX);
	ps->idx = c->accounts_n++;
	a = &c->accounts[ps->idx];
	copy(a->name, sizeof a->name, name);
	a->line = ps->line;
	a->default_bot_idx = -1;
	a->backfill_horizon_ms = 7 * DAY_MS;
	ps->lines = ps->acc_lines[ps->idx];
	snprintf(ps->label, sizeof ps->label, "account %s", name);
	return 0;
}

static int open_bot(struct parser *ps, const char *name)
{
	struct cfg *c = ps->c;
	const struct cfg_bot *old = cfg_bot_find(c, name);
	struct cfg_bot *b;

	if (check_name(ps, "bot id", name, CFG_BOT_ID_MAX - 1))
		return FR_ECONFIG;
	if (word_index(reserved_bots, name) >= 0)
		return fail(ps, ps->line, "bot id '%s' is reserved for fillrelay's own use", name);
	if (old)
		return fail(ps, ps->line, "duplicate section [bot %s] (first at line %d)", name,
		            old->line);
	if (c->bots_n == CFG_BOTS_MAX)
		return fail(ps, ps->line, "too many bots (max %d)", CFG_BOTS_MAX);
	ps->idx = c->bots_n++;
	b = &c->bots[ps->idx];
	copy(b->id, sizeof b->id, name);
	b->line = ps->line;
	b->account_idx = -1;
	b->category = CFG_CAT_LINEAR;
	ps->lines = ps->bot_lines[ps->idx];
	snprintf(ps->label, sizeof ps->label, "bot %s", name);
	return 0;
}

static const char *const listener_keys[] = {
    "instance",  "spill_dir",  "spill_limit", "metrics_addr",
    "log_level", "arena_size", "spill_fsync", NULL};
static const char *const exchange_keys[] = {
    "ws_url",           "rest_url",           "ca_file",        "topics", "categories",
    "ping_interval_ms", "silence_timeout_ms", "recv_window_ms", NULL};
static const char *const account_keys[] = {
    "ws_url",  "rest_url",   "ca_file",     "topics",           "categories",
    "api_key", "api_secret", "default_bot", "backfill_horizon", NULL};
static const char *const bot_keys[] = {"account", "redis_db", "category", NULL};
static const char *const postgres_keys[] = {"conninfo", "password", NULL};
static const char *const redis_keys[] = {"host", "port", "password", NULL};

static const struct section sections[S_N] = {
    [S_LISTENER] = {"listener", 0, listener_keys, open_listener, listener_set},
    [S_EXCHANGE] = {"exchange", 0, exchange_keys, open_exchange, exchange_set},
    [S_ACCOUNT] = {"account", 1, account_keys, open_account, account_set},
    [S_BOT] = {"bot", 1, bot_keys, open_bot, bot_set},
    [S_REASONS] = {"reasons", 0, NULL, open_reasons, reasons_set},
    [S_POSTGRES] = {"postgres", 0, postgres_keys, open_postgres, postgres_set},
    [S_REDIS] = {"redis", 0, redis_keys, open_redis, redis_set},
};

/* ---- lines ------------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (n > 0 bytes), 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int check_bytes(struct parser *ps, const unsigned char *s, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		if (s[i] == 0)
			return fail(ps, ps->line, "NUL byte (is this a binary file?)");
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return fail(ps, ps->line, "control character 0x%02x", (unsigned)s[i]);
		len = s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
		if (!len)
			return fail(ps, ps->line, "invalid UTF-8");
		i += len;
	}
	return 0;
}

static int on_header(struct parser *ps, char *t)
{
	char *close = strchr(t, ']'), *type, *name;
	int s;

	if (!close)
		return fail(ps, ps->line, "unterminated section header (missing ']')");
	if (*trim(close + 1))
		return fail(ps, ps->line, "text after ']' (comments must start a line)");
	*close = '\0';
	type = trim(t + 1);
	name = type + strcspn(type, " \t");
	if (*name)
		*name++ = '\0';
	name = trim(name);
	if (!*type)
		return fail(ps, ps->line, "empty section header '[]'");
	for (s = 0; s < S_N && strcmp(sections[s].name, type) != 0; s++)
		;
	if (s == S_N)
		return fail(ps, ps->line,
		            "unknown section [%.64s] (known: listener, "
		            "exchange, account, bot, reasons, postgres, redis)",
		            type);
	if (sections[s].named && !*name)
		return fail(ps, ps->line, "section [%s] needs a name: [%s NAME]", type, type);
	if (!sections[s].named && *name)
		return fail(ps, ps->line, "section [%s] takes no name", type);
	ps->sect = &sections[s];
	return ps->sect->open(ps, name);
}

static int on_key(struct parser *ps, const char *k, char *v)
{
	const struct section *s = ps->sect;
	int i = -1;

	if (!s)
		return fail(ps, ps->line, "key '%.64s' outside any section", k);
	if (s->keys) {
		i = word_index(s->keys, k);
		if (i < 0)
			return fail(ps, ps->line, "unknown key '%.64s' in [%s]", k, ps->label);
		if (ps->lines[i])
			return fail(ps, ps->line, "duplicate key '%s' (first at line %d)", k,
			            ps->lines[i]);
		ps->lines[i] = ps->line;
	}
	if (!*v && !s->keys)
		return fail(ps, ps->line, "alias '%.64s': empty reason", k);
	if (!*v)
		return fail(ps, ps->line,
		            "%.64s: empty value (leave the key out for its "
		            "default)",
		            k);
	return s->set(ps, i, k, v);
}

static int on_assign(struct parser *ps, char *t)
{
	char *eq = strchr(t, '='), *k, *v;
	size_t n;

	if (!eq)
		return fail(ps, ps->line, "missing '=' (expected key = value)");
	*eq = '\0';
	k = trim(t);
	v = trim(eq + 1);
	if (!*k)
		return fail(ps, ps->line, "empty key before '='");
	if (*v == '"') {
		n = strlen(v);
		if (n < 2 || v[n - 1] != '"')
			return fail(ps, ps->line, "%.64s: unterminated quote", k);
		v[n - 1] = '\0';
		v++;
	}
	return on_key(ps, k, v);
}

static int parse_line(struct parser *ps, const char *s, size_t n)
{
	char *t;

	if (n && s[n - 1] == '\r')
		n--;
	if (n > CFG_LINE_MAX)
		return fail(ps, ps->line, "line longer than %d bytes", CFG_LINE_MAX);
	if (check_bytes(ps, (const unsigned char *)s, n))
		return FR_ECONFIG;
	memcpy(ps->buf, s, n);
	ps->buf[n] = '\0';
	t = trim(ps->buf);
	if (!*t || *t == '#' || *t == ';')
		return 0;
	if (*t == '[')
		return on_header(ps, t);
	return on_assign(ps, t);
}

static int parse_text(struct parser *ps, const char *p, size_t len)
{
	const char *end = p + len;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		ps->line++;
		if (parse_line(ps, p, (size_t)(eol - p)))
			return FR_ECONFIG;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* ---- defaults and cross-checks ---------------------------------------------- */

static void set_default_url(struct cfg_url *u, const char *text, const char *host, const char *path)
{
	copy(u->text, sizeof u->text, text);
	copy(u->host, sizeof u->host, host);
	copy(u->path, sizeof u->path, path);
	u->port = 443;
}

static void set_defaults(struct cfg *c, const char *name)
{
	struct cfg_listener *l = &c->listener;
	struct cfg_exchange *x = &c->exchange;

	snprintf(c->file, sizeof c->file, "%s", name);
	copy(l->instance, sizeof l->instance, "fillrelay");
	copy(l->spill_dir, sizeof l->spill_dir, "/var/lib/fillrelay");
	l->spill_limit_bytes = GIB;
	l->spill_fsync = CFG_FSYNC_BATCH;
	copy(l->metrics_host, sizeof l->metrics_host, "127.0.0.1");
	l->metrics_port = 9464;
	l->log_level = CFG_LOG_INFO;
	l->arena_size_bytes = 16 * MIB;
	set_default_url(&x->ep.ws_url, "wss://stream.bybit.com/v5/private", "stream.bybit.com",
	                "/v5/private");
	set_default_url(&x->ep.rest_url, "https://api.bybit.com", "api.bybit.com", "");
	copy(x->ep.ca_file, sizeof x->ep.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	x->ep.topics =
	    CFG_TOPIC_EXECUTION | CFG_TOPIC_ORDER | CFG_TOPIC_POSITION | CFG_TOPIC_WALLET;
	x->ep.categories = CFG_CAT_LINEAR;
	x->ping_interval_ms = 20000;
	x->silence_timeout_ms = 60000;
	x->recv_window_ms = 5000;
	copy(c->redis.host, sizeof c->redis.host, "127.0.0.1");
	c->redis.port = 6379;
}

static int check_required(struct parser *ps)
{
	struct cfg *c = ps->c;
	int pg = ps->sect_line[S_POSTGRES];

	if (c->accounts_n == 0)
		return fail(ps, 0, "no [account] section");
	if (c->bots_n == 0)
		return fail(ps, 0, "no [bot] section");
	if (!pg)
		return fail(ps, 0, "no [postgres] section (conninfo is required)");
	if (!c->postgres.conninfo[0])
		return fail(ps, pg, "[postgres] needs conninfo");
	return 0;
}

static int check_exchange(struct parser *ps)
{
	const struct cfg_exchange *x = &ps->c->exchange;
	const int *lines = ps->single_lines[S_EXCHANGE];
	int line = lines[EXC_SILENCE] ? lines[EXC_SILENCE] : lines[EXC_PING];

	if (x->silence_timeout_ms <= x->ping_interval_ms)
		return fail(ps, line,
		            "silence_timeout_ms (%" PRIu32 ") must be longer "
		            "than ping_interval_ms (%" PRIu32 ")",
		            x->silence_timeout_ms, x->ping_interval_ms);
	return 0;
}

/* Copies into the account what it did not override. */
static void inherit_endpoint(struct parser *ps, int i)
{
	const struct cfg_endpoint *x = &ps->c->exchange.ep;
	struct cfg_endpoint *ep = &ps->c->accounts[i].ep;
	const int *lines = ps->acc_lines[i];

	if (!lines[EP_WS_URL])
		ep->ws_url = x->ws_url;
	if (!lines[EP_REST_URL])
		ep->rest_url = x->rest_url;
	if (!lines[EP_CA_FILE])
		copy(ep->ca_file, sizeof ep->ca_file, x->ca_file);
	if (!lines[EP_TOPICS])
		ep->topics = x->topics;
	if (!lines[EP_CATEGORIES])
		ep->categories = x->categories;
}

static int check_accounts(struct parser *ps)
{
	for (int i = 0; i < ps->c->accounts_n; i++) {
		struct cfg_account *a = &ps->c->accounts[i];

		if (a->api_key.src == CFG_SECRET_NONE)
			return fail(ps, a->line, "[account %s] needs api_key", a->name);
		if (a->api_secret.src == CFG_SECRET_NONE)
			return fail(ps, a->line, "[account %s] needs api_secret", a->name);
		inherit_endpoint(ps, i);
	}
	return 0;
}

static int bot_account(struct parser *ps, int i)
{
	struct cfg *c = ps->c;
	struct cfg_bot *b = &c->bots[i];
	const struct cfg_account *a;

	if (!ps->bot_lines[i][BOT_ACCOUNT]) {
		if (c->accounts_n > 1)
			return fail(ps, b->line,
			            "[bot %s] needs account = (there are %d "
			            "accounts)",
			            b->id, c->accounts_n);
		copy(b->account, sizeof b->account, c->accounts[0].name);
	}
	a = cfg_account_find(c, b->account);
	if (!a)
		return fail(ps, ps->bot_lines[i][BOT_ACCOUNT], "account: no [account %s] section",
		            b->account);
	b->account_idx = (int)(a - c->accounts);
	c->accounts[b->account_idx].bots_n++;
	return 0;
}

static int check_bots(struct parser *ps)
{
	for (int i = 0; i < ps->c->bots_n; i++) {
		const struct cfg_bot *b = &ps->c->bots[i];
		const struct cfg_account *a;
		int line = ps->bot_lines[i][BOT_CATEGORY];

		if (bot_account(ps, i))
			return FR_ECONFIG;
		a = &ps->c->accounts[b->account_idx];
		if (!(a->ep.categories & b->category))
			return fail(ps, line ? line : b->line,
			            "category: account %s does "
			            "not follow %s: add it to the account's categories",
			            a->name, cfg_category_name(b->category));
	}
	return 0;
}

static int check_default_bots(struct parser *ps)
{
	for (int i = 0; i < ps->c->accounts_n; i++) {
		struct cfg_account *a = &ps->c->accounts[i];
		const struct cfg_bot *b = cfg_bot_find(ps->c, a->default_bot);
		int line = ps->acc_lines[i][ACC_DEFAULT_BOT];

		if (!line)
			continue;
		if (!b)
			return fail(ps, line, "default_bot: no [bot %s] section", a->default_bot);
		if (b->account_idx != i)
			return fail(ps, line,
			            "default_bot: bot %s belongs to account %s, not "
			            "%s",
			            b->id, b->account, a->name);
		a->default_bot_idx = (int)(b - ps->c->bots);
	}
	return 0;
}

static int check_aliases(struct parser *ps)
{
	const struct cfg *c = ps->c;

	for (int i = 0; i < c->aliases_n; i++) {
		const struct cfg_alias *a = &c->aliases[i];

		if (cfg_reason_for_alias(c, a->reason))
			return fail(ps, a->line,
			            "alias '%s': reason '%s' is itself an alias "
			            "(aliases must name a reason)",
			            a->alias, a->reason);
	}
	return 0;
}

/* The line where account i's ca_file was set: its own, [exchange]'s, or 0. */
static int ca_file_line(const struct parser *ps, int i)
{
	int line = ps->acc_lines[i][EP_CA_FILE];

	return line ? line : ps->single_lines[S_EXCHANGE][EP_CA_FILE];
}

static int check_ca_files(struct parser *ps)
{
	for (int i = 0; i < ps->c->accounts_n; i++) {
		const char *path = ps->c->accounts[i].ep.ca_file;
		int line = ca_file_line(ps, i);
		struct stat st;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		int err = errno, reg = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);

		if (fd >= 0)
			close(fd);
		if (fd < 0)
			return fail(ps, line, "ca_file: cannot open %s%s: %s", path,
			            line ? "" : " (the default)", strerror(err));
		if (!reg)
			return fail(ps, line, "ca_file: %s is not a regular file", path);
	}
	return 0;
}

/* Which Bybit environment a host belongs to: 0 unknown, 1 main, 2 test, 3 demo. */
static int bybit_env(const char *host)
{
	static const char *const hosts[] = {"stream.bybit.com",
	                                    "api.bybit.com",
	                                    "stream.bytick.com",
	                                    "api.bytick.com",
	                                    "stream-testnet.bybit.com",
	                                    "api-testnet.bybit.com",
	                                    "stream-demo.bybit.com",
	                                    "api-demo.bybit.com",
	                                    NULL};
	static const int env[] = {1, 1, 1, 1, 2, 2, 3, 3};
	int i = word_index(hosts, host);

	return i < 0 ? 0 : env[i];
}

static void warn_accounts(struct cfg *c)
{
	static const char *const env_names[] = {"", "mainnet", "testnet", "demo"};

	for (int i = 0; i < c->accounts_n; i++) {
		const struct cfg_account *a = &c->accounts[i];
		int ws = bybit_env(a->ep.ws_url.host), rest = bybit_env(a->ep.rest_url.host);

		if (a->bots_n == 0)
			warn(c, a->line,
			     "account %s has no bot: its fills go to bot "
			     "unattributed",
			     a->name);
		if (ws && rest && ws != rest)
			warn(c, a->line,
			     "account %s: ws_url is Bybit %s but rest_url is "
			     "Bybit %s: an API key works on one of them only",
			     a->name, env_names[ws], env_names[rest]);
	}
}

static void warn_shared_accounts(struct cfg *c)
{
	for (int i = 0; i < c->bots_n; i++) {
		const struct cfg_bot *b = &c->bots[i];
		int j = 0;

		while (c->bots[j].account_idx != b->account_idx)
			j++;
		if (j < i)
			warn(c, b->line,
			     "bots %s and %s share account %s: in one-way mode "
			     "the exchange nets their positions; prefer one account per bot",
			     c->bots[j].id, b->id, b->account);
	}
}

static int finish(struct parser *ps)
{
	if (check_required(ps) || check_exchange(ps) || check_accounts(ps) || check_bots(ps) ||
	    check_default_bots(ps) || check_aliases(ps) || check_ca_files(ps))
		return FR_ECONFIG;
	warn_accounts(ps->c);
	warn_shared_accounts(ps->c);
	return 0;
}

/* ---- API ------------------------------------------------------------------ */

static void error_init(struct cfg_error *e, const char *name)
{
	memset(e, 0, sizeof *e);
	snprintf(e->file, sizeof e->file, "%s", name);
}

/* see cfg.h */
int cfg_parse(struct cfg *c, const char *text, size_t len, const char *name, struct cfg_error *e)
{
	struct parser ps;
	int rc;

	assert(c && name && e && (text || len == 0));
	error_init(e, name);
	cfg_wipe(c);
	memset(&ps, 0, sizeof ps);
	ps.c = c;
	ps.e = e;
	set_defaults(c, name);
	if (len > CFG_FILE_MAX)
		rc = fail(&ps, 0, "file larger than %d bytes", CFG_FILE_MAX);
	else
		rc = parse_text(&ps, text, len) || finish(&ps) ? FR_ECONFIG : 0;
	wipe(ps.buf, sizeof ps.buf);
	if (rc)
		cfg_wipe(c);
	assert(rc == 0 || e->msg[0]);
	return rc;
}

static void warn_world_readable(struct cfg *c, mode_t mode)
{
	const struct cfg_secret *s[CFG_SECRETS_MAX];
	int n = 0;

	for (int i = 0; i < c->accounts_n; i++) {
		s[n++] = &c->accounts[i].api_key;
		s[n++] = &c->accounts[i].api_secret;
	}
	s[n++] = &c->postgres.password;
	s[n++] = &c->redis.password;
	for (int i = 0; i < n; i++)
		if (s[i]->src == CFG_SECRET_LITERAL) {
			warn(c, s[i]->line,
			     "a literal secret in a file every user can read "
			     "(mode %04o): use env: or file:, or chmod o-r",
			     (unsigned)(mode & 07777));
			return;
		}
}

/* see cfg.h */
int cfg_load(struct cfg *c, const char *path, struct cfg_error *e)
{
	static char text[CFG_FILE_MAX + 1];
	size_t len;
	mode_t mode = 0;
	int err = 0, rc;
	enum rd r;

	assert(c && path && e);
	r = read_whole(path, text, sizeof text, &len, &mode, &err);
	if (r != RD_OK) {
		cfg_wipe(c);
		error_init(e, path);
		e->line = 0;
		if (r == RD_OPEN || r == RD_READ)
			snprintf(e->msg, sizeof e->msg, "cannot %s: %s",
			         r == RD_OPEN ? "open" : "read", strerror(err));
		else if (r == RD_NOTREG)
			snprintf(e->msg, sizeof e->msg, "not a regular file");
		else
			snprintf(e->msg, sizeof e->msg, "file larger than %d bytes", CFG_FILE_MAX);
		wipe(text, len);
		return FR_ECONFIG;
	}
	rc = cfg_parse(c, text, len, path, e);
	wipe(text, len);
	if (rc == 0 && (mode & S_IROTH))
		warn_world_readable(c, mode);
	return rc;
}

/* see cfg.h */
int cfg_error_format(const struct cfg_error *e, char *buf, size_t n)
{
	int w;

	assert(e && buf && n > 0);
	if (e->line > 0)
		w = snprintf(buf, n, "%s:%d: %s", e->file, e->line, e->msg);
	else
		w = snprintf(buf, n, "%s: %s", e->file, e->msg);
	if (w < 0) {
		buf[0] = '\0';
		return FR_EINVAL;
	}
	return (size_t)w >= n ? FR_ERANGE : w;
}

/* see cfg.h */
const struct cfg_account *cfg_account_find(const struct cfg *c, const char *name)
{
	assert(c && name);
	for (int i = 0; i < c->accounts_n; i++)
		if (strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}

/* see cfg.h */
const struct cfg_bot *cfg_bot_find(const struct cfg *c, const char *id)
{
	assert(c && id);
	for (int i = 0; i < c->bots_n; i++)
		if (strcmp(c->bots[i].id, id) == 0)
			return &c->bots[i];
	return NULL;
}

/* see cfg.h */
const char *cfg_reason_for_alias(const struct cfg *c, const char *alias)
{
	assert(c && alias);
	for (int i = 0; i < c->aliases_n; i++)
		if (strcmp(c->aliases[i].alias, alias) == 0)
			return c->aliases[i].reason;
	return NULL;
}

static void add_secret(const struct cfg_secret *s, const char **out, int out_max, int *n)
{
	if (s->src == CFG_SECRET_NONE || !s->value[0])
		return;
	if (*n < out_max)
		out[*n] = s->value;
	(*n)++;
}

/* see cfg.h */
int cfg_secrets(const struct cfg *c, const char **out, int out_max)
{
	int n = 0;

	assert(c && (out || out_max == 0));
	for (int i = 0; i < c->accounts_n; i++) {
		add_secret(&c->accounts[i].api_key, out, out_max, &n);
		add_secret(&c->accounts[i].api_secret, out, out_max, &n);
	}
	add_secret(&c->postgres.password, out, out_max, &n);
	add_secret(&c->redis.password, out, out_max, &n);
	assert(n <= CFG_SECRETS_MAX);
	return n;
}

/* see cfg.h */
void cfg_wipe(struct cfg *c)
{
	wipe(c, sizeof *c);
}

static const char *bit_name(const char *const *names, int n, unsigned bit)
{
	for (int i = 0; i < n; i++)
		if (bit == 1u << i)
			return names[i];
	return NULL;
}

/* see cfg.h */
const char *cfg_category_name(unsigned category)
{
	return bit_name(category_names, 4, category);
}

/* see cfg.h */
const char *cfg_topic_name(unsigned topic)
{
	return bit_name(topic_names, 4, topic);
}

/* see cfg.h */
const char *cfg_log_level_name(enum cfg_log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : NULL;
}
