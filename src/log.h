/*
 * log.h -- logfmt lines on stderr: `ts=... level=... msg="..." key=value ...`.
 *
 * Fields are typed (LS for strings, LI for integers) so the logger, not each
 * caller, decides quoting: a value with a space, quote, '=' or control byte
 * is double-quoted with \" \\ \n escapes. Every line is built in a fixed
 * buffer of LOG_LINE_MAX bytes (a longer one is cut and ends `truncated=1`)
 * and written with one write(2), so lines never interleave.
 *
 * Secrets never reach a log line: every string registered with
 * log_secret_add is replaced by `[redacted]` wherever it appears in the
 * finished line, whatever field carried it. Redaction is the logger's job so
 * that a forgotten call site cannot leak.
 */
#ifndef FR_LOG_H
#define FR_LOG_H

#include <stdint.h>

#define LOG_LINE_MAX 1024
#define LOG_SECRETS_MAX 64
#define LOG_REDACTED "[redacted]"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_kv {
	const char *key;
	const char *s;   /* string value (NULL prints as "") */
	long long i;
	int is_int;      /* 1: i is the value */
};

#define LS(k, v) ((struct log_kv){ (k), (v), 0, 0 })
#define LI(k, v) ((struct log_kv){ (k), NULL, (long long)(v), 1 })

/* Output fd (default 2), minimum level (default LOG_INFO), and the wall clock
 * in Unix ms used for ts (default the real one). */
void log_setup(int fd, enum log_level min, int64_t (*wall_ms)(void *), void *clock_ctx);
void log_set_level(enum log_level min);
enum log_level log_get_level(void);

/* Parses "debug|info|warn|error"; returns the level or -1. */
int log_level_parse(const char *name);

/*
 * Registers a secret to redact. The string is referenced, not copied: it must
 * stay valid while logging goes on (config strings live in static storage).
 * Empty strings are ignored. Returns 0 or FR_EFULL.
 */
int log_secret_add(const char *secret);
void log_secrets_clear(void);

void log_emit(enum log_level lv, const char *msg, const struct log_kv *kv, int n);

/* Formats a line (newline included, no NUL) into buf of cap bytes without
 * writing it; returns its length. For tests. */
int log_format(char *buf, int cap, enum log_level lv, const char *msg, const struct log_kv *kv,
	       int n);

#define LOG_(lv, msg, ...)                                                                   \
	log_emit((lv), (msg), (const struct log_kv[]){ { 0, 0, 0, 0 }, __VA_ARGS__ } + 1,     \
		 (int)(sizeof((const struct log_kv[]){ { 0, 0, 0, 0 }, __VA_ARGS__ }) /         \
		       sizeof(struct log_kv)) - 1)
#define log_debug(msg, ...) LOG_(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) LOG_(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) LOG_(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) LOG_(LOG_ERROR, msg, __VA_ARGS__)

#endif
