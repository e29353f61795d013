/*
 * test_cfg.c -- the configuration parser: good files field by field, every
 * tests/cfg/bad_*.conf with its line and reason, file-level errors, secrets,
 * limits, and every prefix of a good file (no over-read, no crash).
 * Runs from the repository root (paths are relative to it).
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "t.h"

#define CFG_DIR "tests/cfg/"

static struct cfg c; /* about 90 KiB: static, as in the product */
static struct cfg_error e;


static int spill(const char *path, const char *data, size_t n, mode_t mode)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(data, 1, n, f) == n;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok && chmod(path, mode) == 0;
}

static const char *tmp(const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof path[i], "%s/%s", t_tmpdir(), name);
	return path[i];
}

/* text with every "@TMPDIR@" replaced by the test's scratch directory. */
static char *subst_tmpdir(const char *text)
{
	const char *key = "@TMPDIR@", *dir = t_tmpdir(), *p;
	size_t n = strlen(text) + 1, hits = 0;
	char *out, *o;

	for (p = text; (p = strstr(p, key)); p += strlen(key))
		hits++;
	out = malloc(n + hits * strlen(dir));
	if (!out)
		return NULL;
	for (o = out, p = text; *p;) {
		if (strncmp(p, key, strlen(key)) == 0) {
			o += sprintf(o, "%s", dir);
			p += strlen(key);
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static int parse_str(const char *text)
{
	return cfg_parse(&c, text, strlen(text), "test.conf", &e);
}

/* Prints the error when rc is not 0, so a failing test says why. */
static int ok_or_say(int rc)
{
	char line[600];

	if (rc != 0) {
		cfg_error_format(&e, line, sizeof line);
		printf("      %s\n", line);
	}
	return rc;
}

static int has_warning(int line, const char *part)
{
	for (int i = 0; i < c.warnings_n; i++)
		if (c.warnings[i].line == line && strstr(c.warnings[i].msg, part))
			return 1;
	return 0;
}

static void set_example_env(void)
{
	setenv("BYBIT_MAIN_API_KEY", "EXAMPLEmainKEY0001", 1);
	setenv("BYBIT_MAIN_API_SECRET", "EXAMPLEmainSECRET0000000000000001", 1);
	setenv("BYBIT_MOMENTUM_API_KEY", "EXAMPLEmomKEY00002", 1);
	setenv("BYBIT_MOMENTUM_API_SECRET", "EXAMPLEmomSECRET00000000000000002", 1);
	setenv("POSTGRES_PASSWORD", "example-pg-password", 1);
	setenv("REDIS_PASSWORD", "example-redis-password", 1);
}

/* The smallest valid file, for tests that add one thing to it. */
#define MINIMAL                                                                                    \
	"[account main]\napi_key = KEYmain0123456789\n"                                            \
	"api_secret = SECRETmain0123456789abcdef\n[bot alpha_001]\n"                               \
	"[postgres]\nconninfo = host=127.0.0.1\n"

TEST(cfg_minimal_defaults)
{
	const struct cfg_account *a;
	const struct cfg_bot *b;
	const char *secrets[CFG_SECRETS_MAX];
	struct stat st;

	T_REQUIRE(ok_or_say(cfg_load(&c, CFG_DIR "good_minimal.conf", &e)) == 0);
	T_EQ_STR(c.file, CFG_DIR "good_minimal.conf");
	T_EQ_STR(c.listener.instance, "fillrelay");
	T_EQ_STR(c.listener.spill_dir, "/var/lib/fillrelay");
	T_EQ_INT(c.listener.spill_limit_bytes, 1LL << 30);
	T_EQ_INT(c.listener.spill_fsync, CFG_FSYNC_BATCH);
	T_EQ_STR(c.listener.metrics_host, "127.0.0.1");
	T_EQ_INT(c.listener.metrics_port, 9464);
	T_EQ_INT(c.listener.log_level, CFG_LOG_INFO);
	T_EQ_INT(c.listener.arena_size_bytes, 16LL << 20);
	T_EQ_STR(c.exchange.ep.ws_url.text, "wss://stream.bybit.com/v5/private");
	T_EQ_STR(c.exchange.ep.ws_url.host, "stream.bybit.com");
	T_EQ_INT(c.exchange.ep.ws_url.port, 443);
	T_EQ_STR(c.exchange.ep.ws_url.path, "/v5/private");
	T_EQ_STR(c.exchange.ep.rest_url.text, "https://api.bybit.com");
	T_EQ_STR(c.exchange.ep.rest_url.host, "api.bybit.com");
	T_EQ_INT(c.exchange.ep.rest_url.port, 443);
	T_EQ_STR(c.exchange.ep.rest_url.path, "");
	T_EQ_STR(c.exchange.ep.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	T_EQ_INT(c.exchange.ep.topics,
	         CFG_TOPIC_EXECUTION | CFG_TOPIC_ORDER | CFG_TOPIC_POSITION | CFG_TOPIC_WALLET);
	T_EQ_INT(c.exchange.ep.categories, CFG_CAT_LINEAR);
	T_EQ_INT(c.exchange.ping_interval_ms, 20000);
	T_EQ_INT(c.exchange.silence_timeout_ms, 60000);
	T_EQ_INT(c.exchange.recv_window_ms, 5000);
	T_REQUIRE(c.accounts_n == 1 && c.bots_n == 1);
	a = &c.accounts[0];
	T_EQ_STR(a->name, "main");
	T_EQ_INT(a->line, 2);
	T_EQ_INT(a->api_key.src, CFG_SECRET_LITERAL);
	T_EQ_STR(a->api_key.value, "KEYmain0123456789");
	T_EQ_STR(a->api_key.ref, "");
	T_EQ_INT(a->api_key.line, 3);
	T_EQ_STR(a->api_secret.value, "SECRETmain0123456789abcdef");
	T_EQ_STR(a->default_bot, "");
	T_EQ_INT(a->default_bot_idx, -1);
	T_EQ_INT(a->backfill_horizon_ms, 7LL * 24 * 3600 * 1000);
	T_EQ_STR(a->ep.ws_url.text, c.exchange.ep.ws_url.text);
	T_EQ_STR(a->ep.rest_url.host, "api.bybit.com");
	T_EQ_STR(a->ep.ca_file, c.exchange.ep.ca_file);
	T_EQ_INT(a->ep.topics, c.exchange.ep.topics);
	T_EQ_INT(a->ep.categories, CFG_CAT_LINEAR);
	T_EQ_INT(a->bots_n, 1);
	b = &c.bots[0];
	T_EQ_STR(b->id, "alpha_001");
	T_EQ_INT(b->line, 6);
	T_EQ_STR(b->account, "main"); /* the only account */
	T_EQ_INT(b->account_idx, 0);
	T_EQ_INT(b->redis_db, 0);
	T_EQ_INT(b->category, CFG_CAT_LINEAR);
	T_EQ_INT(c.aliases_n, 0);
	T_EQ_STR(c.postgres.conninfo,
	         "host=127.0.0.1 port=5432 dbname=trading_db user=trading_user");
	T_EQ_INT(c.postgres.password.src, CFG_SECRET_NONE);
	T_EQ_STR(c.redis.host, "127.0.0.1");
	T_EQ_INT(c.redis.port, 6379);
	T_EQ_INT(c.redis.password.src, CFG_SECRET_NONE);
	T_EQ_INT(cfg_secrets(&c, secrets, CFG_SECRETS_MAX), 2);
	T_EQ_STR(secrets[0], "KEYmain0123456789");
	T_EQ_STR(secrets[1], "SECRETmain0123456789abcdef");
	/* Literal secrets in a world-readable file warn (the checkout's umask decides). */
	T_REQUIRE(stat(CFG_DIR "good_minimal.conf", &st) == 0);
	T_EQ_INT(c.warnings_n, (st.st_mode & S_IROTH) ? 1 : 0);
	T_CHECK(!(st.st_mode & S_IROTH) ||
	        has_warning(3, "warning: a literal secret in a file every user can read"));
}

/* The example documents every default: setting them all changes nothing. */
TEST(cfg_example_parses_and_documents_defaults)
{
	static struct cfg minimal;
	const struct cfg_account *main_acc, *mom;

	T_REQUIRE(cfg_load(&minimal, CFG_DIR "good_minimal.conf", &e) == 0);
	set_example_env();
	T_REQUIRE(ok_or_say(cfg_load(&c, CFG_DIR "example.conf", &e)) == 0);
	T_CHECK(memcmp(&c.listener, &minimal.listener, sizeof c.listener) == 0);
	T_CHECK(memcmp(&c.exchange, &minimal.exchange, sizeof c.exchange) == 0);
	T_EQ_STR(c.redis.host, minimal.redis.host);
	T_EQ_INT(c.redis.port, minimal.redis.port);
	T_EQ_INT(c.accounts_n, 2);
	T_EQ_INT(c.bots_n, 3);
	T_EQ_INT(c.aliases_n, 2);
	main_acc = cfg_account_find(&c, "main");
	mom = cfg_account_find(&c, "momentum");
	T_REQUIRE(main_acc && mom);
	T_EQ_INT(main_acc->api_key.src, CFG_SECRET_ENV);
	T_EQ_STR(main_acc->api_key.ref, "BYBIT_MAIN_API_KEY");
	T_EQ_STR(main_acc->api_key.value, "EXAMPLEmainKEY0001");
	T_EQ_STR(mom->api_secret.value, "EXAMPLEmomSECRET00000000000000002");
	T_EQ_STR(c.bots[main_acc->default_bot_idx].id, "shortseller_001");
	T_EQ_INT(mom->backfill_horizon_ms, 12LL * 3600 * 1000);
	T_EQ_INT(mom->ep.categories, CFG_CAT_LINEAR | CFG_CAT_SPOT);
	T_EQ_STR(cfg_reason_for_alias(&c, "bo"), "breakout_retest");
	T_EQ_STR(c.postgres.password.value, "example-pg-password");
	T_EQ_STR(c.redis.password.value, "example-redis-password");
	/* shortseller_001 and lxalgo_001 share account main. */
	T_EQ_INT(c.warnings_n, 1);
	T_CHECK(has_warning(cfg_bot_find(&c, "lxalgo_001")->line,
	                    "bots shortseller_001 and lxalgo_001 share account main"));
}

static int write_seed_files(const char *mode_name, mode_t mode)
{
	size_t n;
	char *tpl = t_read_file(CFG_DIR "good_seed.conf", &n);
	char *text = tpl ? subst_tmpdir(tpl) : NULL;
	int ok = text != NULL;

	ok = ok && spill(tmp("main_secret"), "MAINsecret0123456789abcdefABCDEF\n", 33, 0600);
	ok = ok && spill(tmp("redis_password"), "redis-pass-0123\r\n", 17, 0600);
	ok = ok && spill(tmp("ca.pem"), "-----BEGIN CERTIFICATE-----\n", 28, 0644);
	ok = ok && spill(tmp(mode_name), text, strlen(text), mode);
	setenv("FR_TEST_MAIN_KEY", "MAINkey0123456789", 1);
	setenv("FR_TEST_PG_PASSWORD", "pg-password-0123", 1);
	free(text);
	free(tpl);
	return ok;
}

static void check_seed_values(void)
{
	const struct cfg_account *m = &c.accounts[0], *mo = &c.accounts[1];
	const char *s[CFG_SECRETS_MAX];

	T_EQ_STR(c.listener.instance, "relay_a");
	T_EQ_STR(c.listener.spill_dir, tmp("spill"));
	T_EQ_INT(c.listener.spill_limit_bytes, 512LL << 20);
	T_EQ_STR(c.listener.metrics_host, "0.0.0.0");
	T_EQ_INT(c.listener.metrics_port, 9100);
	T_EQ_INT(c.listener.log_level, CFG_LOG_DEBUG);
	T_EQ_INT(c.listener.arena_size_bytes, 32LL << 20);
	T_EQ_STR(c.exchange.ep.ws_url.host, "stream-testnet.bybit.com");
	T_EQ_STR(c.exchange.ep.rest_url.text, "https://api-testnet.bybit.com");
	T_EQ_INT(c.exchange.ping_interval_ms, 15000);
	T_EQ_INT(c.exchange.silence_timeout_ms, 45000);
	T_EQ_INT(c.exchange.recv_window_ms, 10000);
	T_REQUIRE(c.accounts_n == 2 && c.bots_n == 3 && c.aliases_n == 3);
	T_EQ_STR(m->name, "main");
	T_EQ_INT(m->api_key.src, CFG_SECRET_ENV);
	T_EQ_STR(m->api_key.value, "MAINkey0123456789");
	T_EQ_INT(m->api_secret.src, CFG_SECRET_FILE);
	T_EQ_STR(m->api_secret.ref, tmp("main_secret"));
	T_EQ_STR(m->api_secret.value, "MAINsecret0123456789abcdefABCDEF");
	T_EQ_STR(m->default_bot, "shortseller_001");
	T_EQ_INT(m->default_bot_idx, 0);
	T_EQ_INT(m->backfill_horizon_ms, 12LL * 3600 * 1000);
	T_EQ_STR(m->ep.ws_url.text, "wss://stream-testnet.bybit.com/v5/private");
	T_EQ_INT(m->ep.categories, CFG_CAT_LINEAR);
	T_EQ_INT(m->bots_n, 2);
	T_EQ_STR(mo->api_secret.value, "momentum secret with spaces");
	T_EQ_STR(mo->ep.ws_url.host, "127.0.0.1");
	T_EQ_INT(mo->ep.ws_url.port, 8443);
	T_EQ_STR(mo->ep.ws_url.path, "/v5/private");
	T_EQ_STR(mo->ep.rest_url.text, "https://127.0.0.1:8443");
	T_EQ_INT(mo->ep.rest_url.port, 8443);
	T_EQ_STR(mo->ep.ca_file, tmp("ca.pem"));
	T_EQ_INT(mo->ep.categories, CFG_CAT_LINEAR | CFG_CAT_SPOT);
	T_EQ_INT(mo->ep.topics, c.exchange.ep.topics);
	T_EQ_INT(mo->default_bot_idx, -1);
	T_EQ_INT(mo->backfill_horizon_ms, 7LL * 24 * 3600 * 1000);
	T_EQ_STR(c.bots[1].id, "lxalgo_001");
	T_EQ_INT(c.bots[1].redis_db, 1);
	T_EQ_INT(c.bots[1].account_idx, 0);
	T_EQ_STR(c.bots[2].account, "momentum");
	T_EQ_INT(c.bots[2].account_idx, 1);
	T_EQ_INT(c.bots[2].redis_db, 2);
	T_EQ_INT(c.bots[2].category, CFG_CAT_SPOT);
	T_EQ_STR(cfg_reason_for_alias(&c, "vb"), "volatility_breakout");
	T_EQ_STR(cfg_reason_for_alias(&c, "ema_x"), "ema_cross");
	T_CHECK(cfg_reason_for_alias(&c, "sl") == NULL); /* built-ins are not here */
	T_EQ_INT(c.aliases[1].line, 50);
	T_EQ_STR(c.postgres.password.value, "pg-password-0123");
	T_EQ_STR(c.redis.host, "redis");
	T_EQ_INT(c.redis.port, 6380);
	T_EQ_STR(c.redis.password.value, "redis-pass-0123"); /* CRLF removed */
	T_EQ_INT(cfg_secrets(&c, s, CFG_SECRETS_MAX), 6);
	T_EQ_STR(s[0], "MAINkey0123456789");
	T_EQ_STR(s[3], "momentum secret with spaces");
	T_EQ_STR(s[5], "redis-pass-0123");
	T_CHECK(cfg_account_find(&c, "momentum") == mo);
	T_CHECK(cfg_account_find(&c, "Momentum") == NULL);
	T_CHECK(cfg_bot_find(&c, "momentum_001") == &c.bots[2]);
	T_CHECK(cfg_bot_find(&c, "ghost") == NULL);
}

TEST(cfg_seed_two_accounts_three_bots)
{
	T_REQUIRE(write_seed_files("seed.conf", 0644));
	T_REQUIRE(ok_or_say(cfg_load(&c, tmp("seed.conf"), &e)) == 0);
	T_EQ_STR(c.file, tmp("seed.conf"));
	check_seed_values();
	T_EQ_INT(c.warnings_n, 2);
	T_CHECK(has_warning(39, "bots shortseller_001 and lxalgo_001 share account main"));
	T_CHECK(has_warning(28, "a literal secret in a file every user can read (mode 0644)"));
	/* The same text from memory, and a private file: no mode warning. */
	T_REQUIRE(write_seed_files("seed_private.conf", 0600));
	T_REQUIRE(ok_or_say(cfg_load(&c, tmp("seed_private.conf"), &e)) == 0);
	check_seed_values();
	T_EQ_INT(c.warnings_n, 1);
	T_EQ_INT(c.warnings_dropped, 0);
}

TEST(cfg_syntax_corners)
{
	const struct cfg_account *d1, *d2;
	const struct cfg_bot *beta;

	T_REQUIRE(ok_or_say(cfg_load(&c, CFG_DIR "good_syntax.conf", &e)) == 0);
	d1 = cfg_account_find(&c, "desk_1");
	d2 = cfg_account_find(&c, "desk_2");
	beta = cfg_bot_find(&c, "beta_002");
	T_REQUIRE(d1 && d2 && beta);
	T_EQ_STR(beta->account, "desk_2");
	T_EQ_INT(beta->redis_db, 15);
	T_EQ_INT(beta->category, CFG_CAT_INVERSE);
	T_EQ_INT(beta->line, 2);
	T_EQ_STR(d2->api_key.value, "  spaced key with # inside  ");
	T_EQ_STR(d2->api_secret.value, "s3cr3t=with=equals;and;semicolons");
	T_EQ_STR(d2->ep.ws_url.host, "::1");
	T_EQ_INT(d2->ep.ws_url.port, 8443);
	T_EQ_STR(d2->ep.ws_url.path, "/v5/private?x=1");
	T_EQ_STR(d2->ep.rest_url.text, "https://127.0.0.1:8443/prefix");
	T_EQ_STR(d2->ep.rest_url.path, "/prefix");
	T_EQ_INT(d2->ep.categories, CFG_CAT_INVERSE | CFG_CAT_LINEAR);
	T_EQ_INT(d2->ep.topics, CFG_TOPIC_EXECUTION);
	T_EQ_INT(d2->backfill_horizon_ms, 90000);
	T_EQ_STR(c.postgres.conninfo, "postgresql://trading_user@127.0.0.1:6432/"
	                              "trading_db?application_name=fillrelay");
	T_EQ_STR(c.listener.metrics_host, "::1");
	T_EQ_INT(c.listener.metrics_port, 9100);
	T_EQ_INT(c.listener.spill_limit_bytes, 2048 * 1024);
	T_EQ_INT(c.listener.arena_size_bytes, 4096 * 1024);
	T_EQ_STR(c.listener.spill_dir, "/var/lib/fill relay");
	T_EQ_STR(c.listener.instance, "relay-2.eu");
	T_EQ_INT(c.listener.log_level, CFG_LOG_ERROR);
	T_EQ_STR(c.redis.host, "::1");
	T_EQ_INT(c.redis.port, 1);
	T_EQ_INT(c.exchange.ping_interval_ms, 1000);
	T_EQ_INT(c.exchange.silence_timeout_ms, 600000);
	T_EQ_INT(c.exchange.recv_window_ms, 100);
	/* desk_1 inherits [exchange] although [exchange] came after it. */
	T_EQ_INT(d1->ep.categories, CFG_CAT_SPOT);
	T_EQ_STR(c.bots[d1->default_bot_idx].id, "alpha_001");
	T_EQ_INT(c.bots[d1->default_bot_idx].category, CFG_CAT_SPOT);
	T_CHECK(has_warning(15, "topics without order"));
	T_CHECK(has_warning(34, "bots beta_002 and gamma_003 share account desk_2"));
}

static const struct bad_case {
	const char *file;
	int line;
	const char *msg;
} bad_cases[] = {
    {"bad_unknown_section.conf", 11,
     "unknown section [listner] (known: listener, exchange, account, bot, reasons, postgres, "
     "redis)"},
    {"bad_unknown_key.conf", 2, "unknown key 'spill_limt' in [listener]"},
    {"bad_unknown_key_account.conf", 13, "unknown key 'api-secret' in [account other]"},
    {"bad_duplicate_key.conf", 3, "duplicate key 'log_level' (first at line 2)"},
    {"bad_duplicate_section.conf", 4, "duplicate section [listener] (first at line 1)"},
    {"bad_duplicate_account.conf", 11, "duplicate section [account main] (first at line 1)"},
    {"bad_duplicate_bot.conf", 11, "duplicate section [bot alpha_001] (first at line 5)"},
    {"bad_missing_equals.conf", 2, "missing '=' (expected key = value)"},
    {"bad_empty_key.conf", 2, "empty key before '='"},
    {"bad_key_outside_section.conf", 1, "key 'log_level' outside any section"},
    {"bad_empty_value.conf", 2, "log_level: empty value (leave the key out for its default)"},
    {"bad_unterminated_quote.conf", 2, "instance: unterminated quote"},
    {"bad_account_no_name.conf", 1, "section [account] needs a name: [account NAME]"},
    {"bad_bot_no_id.conf", 5, "section [bot] needs a name: [bot NAME]"},
    {"bad_unterminated_header.conf", 1, "unterminated section header (missing ']')"},
    {"bad_header_trailing_text.conf", 1, "text after ']' (comments must start a line)"},
    {"bad_empty_header.conf", 1, "empty section header '[]'"},
    {"bad_section_takes_no_name.conf", 1, "section [listener] takes no name"},
    {"bad_bot_id_chars.conf", 5, "invalid bot id 'momentum-001': use letters, digits and _"},
    {"bad_account_name_chars.conf", 1,
     "invalid account name 'my account': use letters, digits and _"},
    {"bad_bot_id_too_long.conf", 5,
     "bot id 'shortseller_strategy_0001' too long (max 20 characters)"},
    {"bad_bot_id_reserved.conf", 5, "bot id 'unattributed' is reserved for fillrelay's own use"},
    {"bad_value_too_long.conf", 2, "instance: value too long (max 32 bytes)"},
    {"bad_instance_chars.conf", 2, "instance: use letters, digits, _, . and -"},
    {"bad_redis_db_range.conf", 6, "redis_db: out of range 0..255"},
    {"bad_integer.conf", 12, "port: not a number: '63x79'"},
    {"bad_port_range.conf", 12, "port: out of range 1..65535"},
    {"bad_redis_host.conf", 12, "host: bad host 'redis:6379'"},
    {"bad_size_suffix.conf", 2,
     "spill_limit: bad size '10X' (bytes, or a number with K, M, G or T)"},
    {"bad_size_range.conf", 2, "arena_size: out of range 4M..1G"},
    {"bad_duration.conf", 3,
     "backfill_horizon: bad duration '7w' (ms, or a number with ms, s, m, h or d)"},
    {"bad_duration_range.conf", 2, "ping_interval_ms: out of range 1s..60s"},
    {"bad_silence_vs_ping.conf", 3,
     "silence_timeout_ms (30000) must be longer than ping_interval_ms (30000)"},
    {"bad_ws_scheme.conf", 2, "ws_url: ws:// is refused: TLS is never skipped (use wss://)"},
    {"bad_rest_scheme.conf", 2,
     "rest_url: http:// is refused: TLS is never skipped (use https://)"},
    {"bad_url_scheme.conf", 2, "ws_url: must start with wss://"},
    {"bad_url_host.conf", 2, "ws_url: bad host or port in 'wss:///v5/private'"},
    {"bad_url_port.conf", 4, "rest_url: bad host or port in 'https://127.0.0.1:99999'"},
    {"bad_url_userinfo.conf", 2, "rest_url: user info ('@') is not allowed"},
    {"bad_rest_query.conf", 2, "rest_url: a query ('?') is not allowed"},
    {"bad_metrics_addr.conf", 2, "metrics_addr: expected HOST:PORT, got '127.0.0.1'"},
    {"bad_log_level.conf", 2, "log_level: unknown level 'verbose' (debug, info, warn, error)"},
    {"bad_spill_fsync.conf", 3, "spill_fsync: unknown policy 'everysec' (always, batch, os)"},
    {"bad_spill_fsync_twice.conf", 3, "duplicate key 'spill_fsync' (first at line 2)"},
    {"bad_bot_unknown_account.conf", 6, "account: no [account mian] section"},
    {"bad_default_bot_unknown.conf", 4, "default_bot: no [bot alpha_01] section"},
    {"bad_default_bot_other_account.conf", 6,
     "default_bot: bot alpha_001 belongs to account main, not other"},
    {"bad_bot_needs_account.conf", 12, "[bot alpha_001] needs account = (there are 2 accounts)"},
    {"bad_missing_api_key.conf", 1, "[account main] needs api_key"},
    {"bad_missing_api_secret.conf", 1, "[account main] needs api_secret"},
    {"bad_no_account.conf", 0, "no [account] section"},
    {"bad_empty.conf", 0, "no [account] section"},
    {"bad_comments_only.conf", 0, "no [account] section"},
    {"bad_no_bot.conf", 0, "no [bot] section"},
    {"bad_no_postgres.conf", 0, "no [postgres] section (conninfo is required)"},
    {"bad_postgres_no_conninfo.conf", 7, "[postgres] needs conninfo"},
    {"bad_conninfo_password.conf", 6,
     "conninfo: holds a password: use the password key (a secret, never logged)"},
    {"bad_conninfo_uri_password.conf", 6,
     "conninfo: holds a password: use the password key (a secret, never logged)"},
    {"bad_conninfo_syntax.conf", 6, "conninfo: expected keyword=value at 'dbname'"},
    {"bad_unknown_category.conf", 2, "categories: unknown category 'futures'"},
    {"bad_bot_category.conf", 6,
     "category: unknown category 'perp' (linear, inverse, spot, option)"},
    {"bad_bot_category_not_followed.conf", 7,
     "category: account main does not follow spot: add it to the account's categories"},
    {"bad_unknown_topic.conf", 2, "topics: unknown topic 'trades'"},
    {"bad_topic_categorised.conf", 2,
     "topics: 'execution.linear' is a categorised topic: use all-in-one topics (categories = "
     "selects categories)"},
    {"bad_topic_fast.conf", 2, "topics: execution.fast has no fees nor execType: use execution"},
    {"bad_topics_no_execution.conf", 2, "topics: must include execution (fills come from it)"},
    {"bad_list_duplicate.conf", 2, "categories: 'linear' listed twice"},
    {"bad_list_empty_item.conf", 2, "topics: empty item in the list"},
    {"bad_alias_twice.conf", 4, "alias 'vb' defined twice (first at line 2)"},
    {"bad_alias_too_long.conf", 3, "alias 'volatility_breakout_v2' too long (max 16 characters)"},
    {"bad_alias_reserved.conf", 2,
     "alias 'stop_loss' is a standard reason name: an alias must not shadow it"},
    {"bad_alias_rule.conf", 2,
     "alias 'rule_7' is a standard reason name: an alias must not shadow it"},
    {"bad_alias_chars.conf", 2, "invalid alias 'v-b': use letters, digits and _"},
    {"bad_alias_target.conf", 2,
     "alias 'vb': invalid reason 'volatility-breakout': use letters, digits and _"},
    {"bad_alias_target_long.conf", 2,
     "alias 'x': reason 'a_reason_name_that_is_much_too_long_to_keep' too long (max 32 "
     "characters)"},
    {"bad_alias_chain.conf", 12,
     "alias 'vb': reason 'vbo' is itself an alias (aliases must name a reason)"},
    {"bad_alias_self.conf", 2, "alias 'vbo' maps to itself"},
    {"bad_alias_empty.conf", 2, "alias 'vb': empty reason"},
    {"bad_line_too_long.conf", 2, "line longer than 1024 bytes"},
    {"bad_nul_byte.conf", 2, "NUL byte (is this a binary file?)"},
    {"bad_utf8.conf", 1, "invalid UTF-8"},
    {"bad_utf8_overlong.conf", 2, "invalid UTF-8"},
    {"bad_control_char.conf", 2, "control character 0x1b"},
    {"bad_secret_env_missing.conf", 2,
     "api_key: environment variable FILLRELAY_TEST_UNSET_VARIABLE is not set"},
    {"bad_secret_env_name.conf", 2, "api_key: bad environment variable name in env:1BYBIT_KEY"},
    {"bad_secret_file_missing.conf", 3,
     "api_secret: cannot open file:/nonexistent/fillrelay/secret: No such file or directory"},
    {"bad_secret_file_relative.conf", 3, "api_secret: file: needs an absolute path"},
    {"bad_secret_file_dir.conf", 12, "password: file:/ is not a regular file"},
    {"bad_ca_file_missing.conf", 12,
     "ca_file: cannot open /nonexistent/fillrelay/ca.pem: No such file or directory"},
    {"bad_too_many_accounts.conf", 65, "too many accounts (max 16)"},
};

#define BAD_CASES_N ((int)(sizeof bad_cases / sizeof bad_cases[0]))

static void check_bad(const struct bad_case *bc)
{
	char path[256], want[600], got[600];

	snprintf(path, sizeof path, CFG_DIR "%s", bc->file);
	if (bc->line)
		snprintf(want, sizeof want, "%s:%d: %s", path, bc->line, bc->msg);
	else
		snprintf(want, sizeof want, "%s: %s", path, bc->msg);
	T_EQ_INT(cfg_load(&c, path, &e), FR_ECONFIG);
	T_CHECK(cfg_error_format(&e, got, sizeof got) > 0);
	T_EQ_STR(got, want);
	T_EQ_INT(c.accounts_n, 0); /* wiped: nothing half-configured */
	T_EQ_INT(c.warnings_n, 0);
}

TEST(cfg_bad_files)
{
	unsetenv("FILLRELAY_TEST_UNSET_VARIABLE");
	for (int i = 0; i < BAD_CASES_N; i++)
		check_bad(&bad_cases[i]);
	T_CHECK(BAD_CASES_N >= 15);
}

/* Every tests/cfg/bad_*.conf has its expectation in the table. */
TEST(cfg_bad_files_all_listed)
{
	DIR *d = opendir(CFG_DIR);
	struct dirent *de;
	int files = 0;

	T_REQUIRE(d);
	while ((de = readdir(d))) {
		int found = 0;

		if (strncmp(de->d_name, "bad_", 4) != 0)
			continue;
		files++;
		for (int i = 0; i < BAD_CASES_N; i++)
			found |= strcmp(bad_cases[i].file, de->d_name) == 0;
		if (!T_CHECK(found))
			printf("      %s has no entry in bad_cases\n", de->d_name);
	}
	closedir(d);
	T_EQ_INT(files, BAD_CASES_N);
}

TEST(cfg_file_errors)
{
	char buf[600];
	char *big;

	T_EQ_INT(cfg_load(&c, "tests/cfg/no_such_file.conf", &e), FR_ECONFIG);
	T_EQ_INT(e.line, 0);
	cfg_error_format(&e, buf, sizeof buf);
	T_EQ_STR(buf, "tests/cfg/no_such_file.conf: cannot open: No such file or directory");
	T_EQ_INT(cfg_load(&c, "tests/cfg", &e), FR_ECONFIG);
	T_EQ_STR(e.msg, "not a regular file");
	/* A FIFO must be refused, not waited on. */
	T_REQUIRE(mkfifo(tmp("fifo.conf"), 0600) == 0);
	T_EQ_INT(cfg_load(&c, tmp("fifo.conf"), &e), FR_ECONFIG);
	T_EQ_STR(e.msg, "not a regular file");
	big = malloc(CFG_FILE_MAX + 1);
	T_REQUIRE(big);
	memset(big, '#', CFG_FILE_MAX + 1);
	for (int i = 1000; i < CFG_FILE_MAX + 1; i += 1000)
		big[i] = '\n';
	T_REQUIRE(spill(tmp("big.conf"), big, CFG_FILE_MAX + 1, 0600));
	T_EQ_INT(cfg_load(&c, tmp("big.conf"), &e), FR_ECONFIG);
	T_EQ_INT(e.line, 0);
	T_EQ_STR(e.msg, "file larger than 65536 bytes");
	T_EQ_INT(cfg_parse(&c, big, CFG_FILE_MAX + 1, "big", &e), FR_ECONFIG);
	T_EQ_STR(e.msg, "file larger than 65536 bytes");
	/* Exactly CFG_FILE_MAX bytes is fine. */
	memcpy(big, MINIMAL, strlen(MINIMAL));
	big[CFG_FILE_MAX - 1] = '\n';
	T_EQ_INT(ok_or_say(cfg_parse(&c, big, CFG_FILE_MAX, "max", &e)), 0);
	T_REQUIRE(spill(tmp("max.conf"), big, CFG_FILE_MAX, 0600));
	T_EQ_INT(ok_or_say(cfg_load(&c, tmp("max.conf"), &e)), 0);
	free(big);
}

static int parse_with_secret_file(const char *content, size_t n)
{
	char text[1024];

	if (!spill(tmp("secret"), content, n, 0600))
		return -100;
	snprintf(text, sizeof text, "%s[redis]\npassword = file:%s\n", MINIMAL, tmp("secret"));
	return parse_str(text);
}

TEST(cfg_secret_files)
{
	char longest[CFG_SECRET_MAX + 1];

	T_EQ_INT(parse_with_secret_file("abc-password\n", 13), 0);
	T_EQ_STR(c.redis.password.value, "abc-password");
	T_EQ_INT(c.redis.password.line, 8);
	T_EQ_INT(parse_with_secret_file("abc-password", 12), 0); /* no newline */
	T_EQ_STR(c.redis.password.value, "abc-password");
	T_EQ_INT(parse_with_secret_file("abc-password\n\n", 14), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "holds more than one line or a control character"));
	T_EQ_INT(parse_with_secret_file("", 0), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "is empty"));
	T_EQ_INT(parse_with_secret_file("\n", 1), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "is empty"));
	memset(longest, 'x', sizeof longest);
	T_EQ_INT(parse_with_secret_file(longest, CFG_SECRET_MAX - 1), 0);
	T_EQ_INT(strlen(c.redis.password.value), CFG_SECRET_MAX - 1);
	longest[CFG_SECRET_MAX - 1] = '\n';
	T_EQ_INT(parse_with_secret_file(longest, CFG_SECRET_MAX), 0);
	T_EQ_INT(parse_with_secret_file(longest, CFG_SECRET_MAX + 1), FR_ECONFIG);
	T_EQ_INT(e.line, 8);
	T_CHECK(strstr(e.msg, "is longer than 255 bytes"));
	/* A short secret is allowed but hard to redact: a warning. */
	T_EQ_INT(parse_with_secret_file("abc\n", 4), 0);
	T_CHECK(has_warning(8, "password is shorter than 8 bytes"));
}

TEST(cfg_secret_env)
{
	char big[CFG_SECRET_MAX + 1];
	const char *text = MINIMAL "[redis]\npassword = env:FR_TEST_REDIS_PW\n";

	setenv("FR_TEST_REDIS_PW", "", 1);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_EQ_STR(e.msg, "password: environment variable FR_TEST_REDIS_PW is empty");
	memset(big, 'y', sizeof big);
	big[CFG_SECRET_MAX] = '\0';
	setenv("FR_TEST_REDIS_PW", big, 1);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_EQ_STR(e.msg, "password: environment variable FR_TEST_REDIS_PW is longer than "
	                "255 bytes");
	T_CHECK(strstr(e.msg, "yyyy") == NULL);
	setenv("FR_TEST_REDIS_PW", "two\nlines", 1);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "holds a control character"));
	setenv("FR_TEST_REDIS_PW", "redis-password-from-env", 1);
	T_EQ_INT(ok_or_say(parse_str(text)), 0);
	T_EQ_INT(c.redis.password.src, CFG_SECRET_ENV);
	T_EQ_STR(c.redis.password.ref, "FR_TEST_REDIS_PW");
	T_EQ_STR(c.redis.password.value, "redis-password-from-env");
	unsetenv("FR_TEST_REDIS_PW");
}

/* A secret never appears in an error message. */
TEST(cfg_errors_never_quote_secrets)
{
	char text[2048], longest[CFG_SECRET_MAX + 8];

	T_EQ_INT(cfg_load(&c, CFG_DIR "bad_conninfo_password.conf", &e), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "hunter2") == NULL);
	T_EQ_INT(cfg_load(&c, CFG_DIR "bad_conninfo_uri_password.conf", &e), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "hunter2") == NULL);
	memset(longest, 'z', sizeof longest);
	longest[sizeof longest - 1] = '\0';
	snprintf(text, sizeof text, "[account a]\napi_secret = %s\n", longest);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_EQ_STR(e.msg, "api_secret: value too long (max 255 bytes)");
}

TEST(cfg_error_resets_struct)
{
	const char *s[CFG_SECRETS_MAX];

	T_REQUIRE(parse_str(MINIMAL) == 0);
	T_EQ_INT(cfg_secrets(&c, s, CFG_SECRETS_MAX), 2);
	T_EQ_INT(parse_str(MINIMAL "[redis]\nport = 0\n"), FR_ECONFIG);
	T_EQ_INT(e.line, 8);
	T_EQ_INT(cfg_secrets(&c, s, CFG_SECRETS_MAX), 0);
	T_EQ_INT(c.accounts[0].api_secret.value[0], 0);
	T_EQ_INT(c.bots_n, 0);
}

TEST(cfg_error_format)
{
	struct cfg_error x = {"a.conf", 12, "unknown key 'x' in [listener]"};
	char buf[64], small[10];

	T_EQ_INT(cfg_error_format(&x, buf, sizeof buf), 40);
	T_EQ_STR(buf, "a.conf:12: unknown key 'x' in [listener]");
	x.line = 0;
	T_EQ_INT(cfg_error_format(&x, buf, sizeof buf), 37);
	T_EQ_STR(buf, "a.conf: unknown key 'x' in [listener]");
	T_EQ_INT(cfg_error_format(&x, small, sizeof small), FR_ERANGE);
	T_EQ_STR(small, "a.conf: u");
}

TEST(cfg_limits)
{
	char text[4096], line[CFG_LINE_MAX + 2];
	int n;

	/* A line of exactly CFG_LINE_MAX bytes, then one byte more. */
	memset(line, 'x', sizeof line);
	line[0] = '#';
	line[CFG_LINE_MAX] = '\0';
	snprintf(text, sizeof text, "%s\n%s", line, MINIMAL);
	T_EQ_INT(ok_or_say(parse_str(text)), 0);
	line[CFG_LINE_MAX] = 'x';
	line[CFG_LINE_MAX + 1] = '\0';
	snprintf(text, sizeof text, "%s\r\n%s", line, MINIMAL);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_EQ_STR(e.msg, "line longer than 1024 bytes");
	/* Bot id of 20 characters, alias of 16, account name of 32. */
	T_EQ_INT(ok_or_say(parse_str(
	             "[account abcdefghijklmnopqrstuvwxyz_12345]\napi_key = KEY0123456789\n"
	             "api_secret = SECRET0123456789\n[bot abcdefghijklmnopqrst]\n"
	             "[reasons]\nabcdefghijklmnop = a_reason\n"
	             "[postgres]\nconninfo = dbname=x\n")),
	         0);
	T_EQ_INT(c.accounts[0].name[31], '5');
	T_EQ_INT(parse_str("[account abcdefghijklmnopqrstuvwxyz_123456]\n"), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "too long (max 32 characters)"));
	/* Sixteen accounts fit; bots beyond CFG_BOTS_MAX do not. */
	n = 0;
	for (int i = 0; i < CFG_ACCOUNTS_MAX; i++)
		n += snprintf(text + n, sizeof text - (size_t)n,
		              "[account a%d]\napi_key = KEY0123456789\n"
		              "api_secret = SECRET0123456789\n[bot b%d]\naccount = a%d\n",
		              i, i, i);
	snprintf(text + n, sizeof text - (size_t)n, "[postgres]\nconninfo = dbname=x\n");
	T_EQ_INT(ok_or_say(parse_str(text)), 0);
	T_EQ_INT(c.accounts_n, CFG_ACCOUNTS_MAX);
	T_EQ_INT(c.bots[15].account_idx, 15);
}

TEST(cfg_too_many_bots_and_warnings)
{
	static char text[8192];
	int n = snprintf(text, sizeof text, "%s", MINIMAL);

	/* 20 bots on one account: 20 sharing warnings, 16 kept. */
	for (int i = 2; i <= 21; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "[bot b%d]\n", i);
	T_EQ_INT(ok_or_say(parse_str(text)), 0);
	T_EQ_INT(c.bots_n, 21);
	T_EQ_INT(c.warnings_n, CFG_WARNINGS_MAX);
	T_EQ_INT(c.warnings_dropped, 20 - CFG_WARNINGS_MAX);
	for (int i = 22; i <= CFG_BOTS_MAX + 1; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "[bot b%d]\n", i);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_EQ_STR(e.msg, "too many bots (max 64)");
	T_EQ_INT(e.line, 6 + CFG_BOTS_MAX);
}

/* [listener] spill_fsync: the journal's fsync policy (journal.h). */
TEST(cfg_spill_fsync)
{
	static const struct {
		const char *v;
		enum cfg_spill_fsync want;
	} ok[] = {{"always", CFG_FSYNC_ALWAYS}, {"batch", CFG_FSYNC_BATCH}, {"os", CFG_FSYNC_OS}};
	char text[512];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(text, sizeof text, MINIMAL "[listener]\nspill_fsync = %s\n", ok[i].v);
		T_EQ_INT(ok_or_say(parse_str(text)), 0);
		T_EQ_INT(c.listener.spill_fsync, ok[i].want);
	}
	/* Values are case-sensitive like every other word, and never a Redis spelling. */
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_fsync = Always\n"), FR_ECONFIG);
	T_CHECK(strstr(e.msg, "spill_fsync: unknown policy 'Always' (always, batch, os)"));
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_fsync = everysec\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_fsync = no\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_fsync = 1\n"), FR_ECONFIG);
	/* The error wipes the struct: nothing half-configured. */
	T_EQ_INT(c.listener.spill_fsync, 0);
	T_EQ_STR(c.listener.spill_dir, "");
}

TEST(cfg_values)
{
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = 99999999999999999999999\n"),
	         FR_ECONFIG);
	T_CHECK(strstr(e.msg, "bad size"));
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = 18014398509481984K\n"),
	         FR_ECONFIG); /* 2^54 K overflows 64 bits */
	T_CHECK(strstr(e.msg, "bad size"));
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = 1T\n"), 0);
	T_EQ_INT(c.listener.spill_limit_bytes, 1LL << 40);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = 2g\n"), 0);
	T_EQ_INT(c.listener.spill_limit_bytes, 2LL << 30);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = 1 G\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = -1G\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nspill_limit = 1GB\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "backfill_horizon = 730d\n"), FR_ECONFIG); /* in [postgres] */
	T_EQ_STR(e.msg, "unknown key 'backfill_horizon' in [postgres]");
	T_EQ_INT(parse_str("[account a]\nbackfill_horizon = 731d\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "backfill_horizon: out of range 1m..730d");
	T_EQ_INT(parse_str("[account a]\nbackfill_horizon = 0\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nping_interval_ms = +20000\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nping_interval_ms = 60s\n"), FR_ECONFIG);
	T_EQ_INT(e.line, 8); /* the default silence 60s is not longer */
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nrecv_window_ms = 0x10\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "redis_db = 20\n[bot b]\nredis_db = 15\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "unknown key 'redis_db' in [postgres]");
	T_EQ_INT(parse_str("[bot b]\nredis_db = 16\n" MINIMAL), 0);
	T_CHECK(has_warning(2, "redis_db 16 needs `databases 17` or more in redis.conf"));
	T_EQ_INT(parse_str(MINIMAL "[redis]\nhost = 10.0.0.7\nport = 065535\n"), 0);
	T_EQ_INT(c.redis.port, 65535);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nmetrics_addr = [::1]9100\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nmetrics_addr = :9100\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[listener]\nmetrics_addr = localhost:9100\n"), 0);
	T_EQ_STR(c.listener.metrics_host, "localhost");
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nws_url = wss://h/p#frag\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nws_url = wss://h:0/p\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nws_url = \"wss://h/a b\"\n"), FR_ECONFIG);
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nws_url = wss://h\n"), 0);
	T_EQ_STR(c.accounts[0].ep.ws_url.path, "");
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nws_url = wss://stream-demo.bybit.com/v5/private\n"),
	         0);
	T_CHECK(has_warning(1, "ws_url is Bybit demo but rest_url is Bybit mainnet"));
	T_EQ_INT(parse_str(MINIMAL "[exchange]\nca_file = /\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "ca_file: / is not a regular file");
	T_EQ_INT(parse_str(MINIMAL "[postgres]\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "duplicate section [postgres] (first at line 5)");
	T_EQ_INT(parse_str(MINIMAL "[reasons]\nrule_ = r\nrule_x = r\nrule7 = r\n"), 0);
	T_EQ_INT(parse_str("[account main]\napi_key = KEY0123456789\n"
	                   "api_secret = SECRET0123456789\n[postgres]\nconninfo = x=1\n"
	                   "[bot alpha]\n"),
	         0);
	T_CHECK(has_warning(0, "") == 0 && c.warnings_n == 0);
	T_EQ_INT(parse_str("[account main]\napi_key = KEY0123456789\n"
	                   "api_secret = SECRET0123456789\n[account spare]\napi_key = "
	                   "KEY0123456789\napi_secret = SECRET0123456789\n[postgres]\n"
	                   "conninfo = x=1\n[bot alpha]\naccount = main\n"),
	         0);
	T_CHECK(has_warning(4, "account spare has no bot: its fills go to bot unattributed"));
	T_EQ_INT(parse_str(MINIMAL "[postgres]\n"), FR_ECONFIG);
	T_EQ_INT(parse_str("[postgres]\nconninfo = host='my host' application_name='a\\'b'\n"),
	         FR_ECONFIG);
	T_EQ_STR(e.msg, "no [account] section"); /* the quotes were fine */
	T_EQ_INT(parse_str("[postgres]\nconninfo = host='my host\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "conninfo: unterminated quote");
}

TEST(cfg_names)
{
	T_EQ_STR(cfg_category_name(CFG_CAT_LINEAR), "linear");
	T_EQ_STR(cfg_category_name(CFG_CAT_OPTION), "option");
	T_CHECK(cfg_category_name(CFG_CAT_LINEAR | CFG_CAT_SPOT) == NULL);
	T_CHECK(cfg_category_name(0) == NULL);
	T_EQ_STR(cfg_topic_name(CFG_TOPIC_WALLET), "wallet");
	T_CHECK(cfg_topic_name(1u << 4) == NULL);
	T_EQ_STR(cfg_log_level_name(CFG_LOG_WARN), "warn");
	T_CHECK(cfg_log_level_name((enum cfg_log_level)7) == NULL);
}

TEST(cfg_secrets_list_truncates)
{
	const char *s[1] = {NULL};

	set_example_env();
	T_REQUIRE(cfg_load(&c, CFG_DIR "example.conf", &e) == 0);
	T_EQ_INT(cfg_secrets(&c, s, 1), 6);
	T_EQ_STR(s[0], "EXAMPLEmainKEY0001");
	T_EQ_INT(cfg_secrets(&c, NULL, 0), 6);
}

/*
 * Every prefix of good files, each in a buffer of exactly its size (ASan
 * catches a read past it): a clean result or one error with a sane line.
 */
static void check_prefixes(const char *path)
{
	size_t n;
	char *text = t_read_file(path, &n);

	T_REQUIRE(text);
	for (size_t len = 0; len <= n; len++) {
		char *buf = malloc(len ? len : 1);
		int rc;

		T_REQUIRE(buf);
		memcpy(buf, text, len);
		rc = cfg_parse(&c, buf, len, path, &e);
		if (rc != 0 &&
		    !(rc == FR_ECONFIG && e.msg[0] && e.line >= 0 && e.line <= (int)len + 1)) {
			T_CHECK(!"bad result for a prefix");
			printf("      %s, %zu bytes: rc %d line %d\n", path, len, rc, e.line);
		}
		free(buf);
	}
	T_CHECK(cfg_parse(&c, text, n, path, &e) == 0);
	free(text);
}

TEST(cfg_every_prefix)
{
	set_example_env();
	check_prefixes(CFG_DIR "example.conf");
	check_prefixes(CFG_DIR "good_syntax.conf");
}

TEST(cfg_utf8)
{
	/* Two-, three- and four-byte sequences are fine in comments and values. */
	T_EQ_INT(ok_or_say(parse_str("# caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\n" MINIMAL
	                             "[listener]\nspill_dir = /srv/d\xc3\xa9p\xc3\xb4t\n")),
	         0);
	T_EQ_STR(c.listener.spill_dir, "/srv/d\xc3\xa9p\xc3\xb4t");
	/* A surrogate, a code point above U+10FFFF, a cut sequence. */
	T_EQ_INT(parse_str("# \xed\xa0\x80\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "invalid UTF-8");
	T_EQ_INT(parse_str("# \xf4\x90\x80\x80\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "invalid UTF-8");
	T_EQ_INT(parse_str("# \xe2\x9c"), FR_ECONFIG);
	T_EQ_STR(e.msg, "invalid UTF-8");
	T_EQ_INT(parse_str("# \xe2\x9c\n"), FR_ECONFIG);
	T_EQ_INT(e.line, 1);
}

TEST(cfg_reference_names_checked)
{
	static char text[4096];
	int n;

	T_EQ_INT(parse_str("[bot b]\naccount = main-1\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "account: invalid account name 'main-1': use letters, digits and _");
	T_EQ_INT(parse_str("[account a]\ndefault_bot = a_bot_id_longer_than_twenty\n"), FR_ECONFIG);
	T_EQ_STR(e.msg, "default_bot: bot id 'a_bot_id_longer_than_twenty' too long (max 20 "
	                "characters)");
	n = snprintf(text, sizeof text, "[reasons]\n");
	for (int i = 0; i <= CFG_ALIASES_MAX; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "a%d = reason_%d\n", i, i);
	T_EQ_INT(parse_str(text), FR_ECONFIG);
	T_EQ_STR(e.msg, "too many aliases (max 64)");
	T_EQ_INT(e.line, CFG_ALIASES_MAX + 2);
}
