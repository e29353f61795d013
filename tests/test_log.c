/* Tests of logfmt formatting, quoting, truncation and secret redaction. */
#include <string.h>

#include "log.h"
#include "t.h"

static int64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return 1764130254123; /* 2025-11-26T04:10:54.123Z */
}

static const char *fmt(enum log_level lv, const char *msg, const struct log_kv *kv, int n)
{
	static char buf[LOG_LINE_MAX + 1];

	log_setup(2, LOG_INFO, fixed_clock, NULL);
	buf[log_format(buf, LOG_LINE_MAX, lv, msg, kv, n)] = 0;
	return buf;
}

TEST(log_line_is_logfmt)
{
	struct log_kv kv[] = { LS("host", "127.0.0.1"), LI("port", 5432), LI("neg", -7) };

	T_EQ_STR(fmt(LOG_INFO, "connected to PostgreSQL", kv, 3),
		 "ts=2025-11-26T04:10:54.123Z level=info msg=\"connected to PostgreSQL\" "
		 "host=127.0.0.1 port=5432 neg=-7\n");
}

TEST(log_values_are_quoted_and_escaped)
{
	struct log_kv kv[] = { LS("a", "x y"), LS("b", "q\"uote"), LS("c", "line\nbreak"),
			       LS("d", ""), LS("e", "k=v"), LS("f", "\x01") };

	T_EQ_STR(fmt(LOG_WARN, "m", kv, 6),
		 "ts=2025-11-26T04:10:54.123Z level=warn msg=m a=\"x y\" b=\"q\\\"uote\" "
		 "c=\"line\\nbreak\" d=\"\" e=\"k=v\" f=\"\\x01\"\n");
}

TEST(log_secrets_are_redacted_wherever_they_appear)
{
	const char *secret = "s3cr3t-API-KEY";
	struct log_kv kv[] = { LS("api_key", "s3cr3t-API-KEY"),
			       LS("url", "wss://x/?k=s3cr3t-API-KEYs3cr3t-API-KEY") };
	const char *line;

	log_secrets_clear();
	T_EQ_INT(log_secret_add(secret), 0);
	T_EQ_INT(log_secret_add(""), 0); /* ignored: would match everywhere */
	line = fmt(LOG_ERROR, "auth failed for s3cr3t-API-KEY", kv, 2);
	T_CHECK(strstr(line, "s3cr3t") == NULL);
	T_CHECK(strstr(line, "msg=\"auth failed for [redacted]\"") != NULL);
	T_CHECK(strstr(line, "api_key=[redacted]") != NULL);
	T_CHECK(strstr(line, "k=[redacted][redacted]") != NULL);
	log_secrets_clear();
}

TEST(log_secret_with_quotes_is_redacted_before_escaping)
{
	struct log_kv kv[] = { LS("pw", "a\"b\\c") };
	const char *line;

	log_secrets_clear();
	log_secret_add("a\"b\\c");
	line = fmt(LOG_INFO, "x", kv, 1);
	T_CHECK(strstr(line, "pw=[redacted]") != NULL);
	T_CHECK(strstr(line, "a\\\"b") == NULL);
	log_secrets_clear();
}

TEST(log_long_lines_are_cut_and_marked)
{
	static char big[3 * LOG_LINE_MAX];
	struct log_kv kv[1];
	const char *line;

	memset(big, 'x', sizeof big - 1);
	memcpy(big + sizeof big - 20, "TOPSECRETVALUE", 14);
	kv[0] = LS("v", big);
	log_secrets_clear();
	log_secret_add("TOPSECRETVALUE");
	line = fmt(LOG_INFO, "big", kv, 1);
	T_EQ_INT(strlen(line), LOG_LINE_MAX);
	T_CHECK(strcmp(line + LOG_LINE_MAX - 13, " truncated=1\n") == 0);
	T_CHECK(strstr(line, "TOPSEC") == NULL);
	log_secrets_clear();
}

TEST(log_cut_value_never_shows_a_secret_prefix)
{
	static char big[2 * LOG_LINE_MAX + 8];
	struct log_kv kv[1];
	const char *line;

	/* The secret straddles the point where the value is cut. */
	memset(big, 'y', sizeof big - 1);
	memcpy(big + 2 * LOG_LINE_MAX - 1 - 4, "ABCDEFGHIJ", 10);
	kv[0] = LS("v", big);
	log_secrets_clear();
	log_secret_add("ABCDEFGHIJ");
	line = fmt(LOG_INFO, "m", kv, 1);
	T_CHECK(strstr(line, "ABCD") == NULL);
	log_secrets_clear();
}

TEST(log_levels_parse_and_filter)
{
	T_EQ_INT(log_level_parse("debug"), LOG_DEBUG);
	T_EQ_INT(log_level_parse("error"), LOG_ERROR);
	T_EQ_INT(log_level_parse("verbose"), -1);
	log_set_level(LOG_WARN);
	T_EQ_INT(log_get_level(), LOG_WARN);
	log_set_level(LOG_INFO);
}
