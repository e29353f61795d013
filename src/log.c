/*
 * log.c -- logfmt formatting, redaction and the single write per line.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

static struct {
	int fd;
	enum log_level min;
	int64_t (*wall_ms)(void *);
	void *clock_ctx;
	const char *secrets[LOG_SECRETS_MAX];
	int nsecrets;
} log_state = { 2, LOG_INFO, NULL, NULL, { 0 }, 0 };

/* see log.h */
void log_setup(int fd, enum log_level min, int64_t (*wall_ms)(void *), void *clock_ctx)
{
	log_state.fd = fd;
	log_state.min = min;
	log_state.wall_ms = wall_ms;
	log_state.clock_ctx = clock_ctx;
}

/* see log.h */
void log_set_level(enum log_level min)
{
	log_state.min = min;
}

/* see log.h */
enum log_level log_get_level(void)
{
	return log_state.min;
}

/* see log.h */
int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return i;
	return -1;
}

/* see log.h */
int log_secret_add(const char *secret)
{
	if (!secret || !secret[0])
		return 0;
	for (int i = 0; i < log_state.nsecrets; i++)
		if (strcmp(log_state.secrets[i], secret) == 0)
			return 0;
	if (log_state.nsecrets == LOG_SECRETS_MAX)
		return FR_EFULL;
	log_state.secrets[log_state.nsecrets++] = secret;
	return 0;
}

/* see log.h */
void log_secrets_clear(void)
{
	log_state.nsecrets = 0;
}

/* A bounded appender: once full, further text is dropped and noted. */
struct log_buf {
	char *p;
	int len, cap, cut;
};

static void log_put(struct log_buf *b, const char *s, int n)
{
	if (n > b->cap - b->len) {
		n = b->cap - b->len;
		b->cut = 1;
	}
	memcpy(b->p + b->len, s, (size_t)n);
	b->len += n;
}

static void log_puts(struct log_buf *b, const char *s)
{
	log_put(b, s, (int)strlen(s));
}

static int log_needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' ||
		    *s == 0x7f)
			return 1;
	return 0;
}

/* Replaces every registered secret in buf[0..len) by LOG_REDACTED, in place. */
static int log_redact(char *buf, int len, int cap)
{
	const int rl = (int)strlen(LOG_REDACTED);

	for (int s = 0; s < log_state.nsecrets; s++) {
		const char *sec = log_state.secrets[s];
		int sl = (int)strlen(sec);

		for (int i = 0; i + sl <= len;) {
			if (memcmp(buf + i, sec, (size_t)sl) != 0) {
				i++;
				continue;
			}
			if (len - sl + rl > cap) {
				/* No room to expand: blank it rather than keep it. */
				memset(buf + i, '*', (size_t)sl);
				i += sl;
				continue;
			}
			memmove(buf + i + rl, buf + i + sl, (size_t)(len - i - sl));
			memcpy(buf + i, LOG_REDACTED, (size_t)rl);
			len += rl - sl;
			i += rl;
		}
	}
	return len;
}

/* A value cut short may end in the first bytes of a secret: blank them. */
static void log_blank_partial_tail(char *buf, int len)
{
	for (int s = 0; s < log_state.nsecrets; s++) {
		const char *sec = log_state.secrets[s];
		int sl = (int)strlen(sec);

		for (int k = sl - 1; k > 0; k--)
			if (k <= len && memcmp(buf + len - k, sec, (size_t)k) == 0) {
				memset(buf + len - k, '*', (size_t)k);
				break;
			}
	}
}

/* Redacts, then writes s as a logfmt value, quoted and escaped when needed. */
static void log_put_value(struct log_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[2 * LOG_LINE_MAX];
	int n = (int)strnlen(s, sizeof tmp - 1);
	int whole = s[n] == 0;

	memcpy(tmp, s, (size_t)n);
	n = log_redact(tmp, n, (int)sizeof tmp - 1);
	if (!whole)
		log_blank_partial_tail(tmp, n);
	tmp[n] = 0;
	if (!log_needs_quotes(tmp)) {
		log_puts(b, tmp);
		return;
	}
	log_put(b, "\"", 1);
	for (s = tmp; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[4] = { '\\', (char)c, 0, 0 };

		if (c == '"' || c == '\\')
			log_put(b, esc, 2);
		else if (c == '\n')
			log_put(b, "\\n", 2);
		else if (c < ' ' || c == 0x7f)
			log_put(b, (char[]){ '\\', 'x', hex[c >> 4], hex[c & 15] }, 4);
		else
			log_put(b, (const char *)&c, 1);
	}
	log_put(b, "\"", 1);
}

static void log_put_int(struct log_buf *b, long long v)
{
	char tmp[24];
	int n = 0;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do
		tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		tmp[sizeof tmp - 1 - n++] = '-';
	log_put(b, tmp + sizeof tmp - n, n);
}

static void log_put_time(struct log_buf *b)
{
	struct timespec ts;
	int64_t ms;
	time_t sec;
	struct tm tm;
	char out[32];

	if (log_state.wall_ms) {
		ms = log_state.wall_ms(log_state.clock_ctx);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	sec = (time_t)(ms / 1000);
	gmtime_r(&sec, &tm);
	strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
	log_puts(b, out);
	log_put(b, (char[]){ '.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10),
			     (char)('0' + ms % 10), 'Z' }, 5);
}

/* see log.h */
int log_format(char *buf, int cap, enum log_level lv, const char *msg, const struct log_kv *kv,
	       int n)
{
	const char *tail = " truncated=1\n";
	const int reserve = (int)strlen(tail);
	struct log_buf b = { buf, 0, cap - reserve, 0 };

	log_puts(&b, "ts=");
	log_put_time(&b);
	log_puts(&b, " level=");
	log_puts(&b, log_level_names[lv]);
	log_puts(&b, " msg=");
	log_put_value(&b, msg);
	for (int i = 0; i < n; i++) {
		log_put(&b, " ", 1);
		log_puts(&b, kv[i].key);
		log_put(&b, "=", 1);
		if (kv[i].is_int)
			log_put_int(&b, kv[i].i);
		else
			log_put_value(&b, kv[i].s ? kv[i].s : "");
	}
	b.cap = cap;
	log_puts(&b, b.cut ? tail : "\n");
	return b.len;
}

/* see log.h */
void log_emit(enum log_level lv, const char *msg, const struct log_kv *kv, int n)
{
	char line[LOG_LINE_MAX];
	int len;

	if (lv < log_state.min)
		return;
	len = log_format(line, sizeof line, lv, msg, kv, n);
	/* stderr is best effort: a full pipe must not stop the listener. */
	if (write(log_state.fd, line, (size_t)len) < 0)
		(void)0;
}
