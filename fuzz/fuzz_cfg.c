/*
 * fuzz_cfg.c -- libFuzzer target for cfg_parse.
 *
 * The input is the whole file (cfg_parse takes any bytes, not NUL-terminated).
 * env: and file: secrets and ca_file really read the environment and the file
 * system; cfg.c opens with O_NONBLOCK and refuses anything but regular files,
 * so no input can hang on a FIFO or a device. After each call the result is
 * checked against the contract in cfg.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg.h"

static struct cfg c; /* large: static, as in the product */
static struct cfg_error e;

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_ok(void)
{
	const char *secrets[CFG_SECRETS_MAX];
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];

	CHECK(c.accounts_n >= 1 && c.accounts_n <= CFG_ACCOUNTS_MAX);
	CHECK(c.bots_n >= 1 && c.bots_n <= CFG_BOTS_MAX);
	CHECK(c.postgres.conninfo[0]);
	for (int i = 0; i < c.bots_n; i++) {
		const struct cfg_bot *b = &c.bots[i];

		CHECK(terminated(b->id, sizeof b->id) && b->id[0]);
		CHECK(b->account_idx >= 0 && b->account_idx < c.accounts_n);
		CHECK(strcmp(c.accounts[b->account_idx].name, b->account) == 0);
		CHECK(cfg_category_name(b->category) != NULL);
		CHECK(c.accounts[b->account_idx].ep.categories & b->category);
		CHECK(cfg_bot_find(&c, b->id) == b);
	}
	for (int i = 0; i < c.accounts_n; i++) {
		const struct cfg_account *a = &c.accounts[i];

		CHECK(a->api_key.value[0] && a->api_secret.value[0]);
		CHECK(a->ep.topics & CFG_TOPIC_EXECUTION);
		CHECK(a->default_bot_idx < c.bots_n);
		CHECK(a->default_bot_idx < 0 || c.bots[a->default_bot_idx].account_idx == i);
		CHECK(cfg_account_find(&c, a->name) == a);
	}
	for (int i = 0; i < c.aliases_n; i++)
		CHECK(cfg_reason_for_alias(&c, c.aliases[i].alias) == c.aliases[i].reason);
	CHECK(c.exchange.silence_timeout_ms > c.exchange.ping_interval_ms);
	CHECK(cfg_secrets(&c, secrets, CFG_SECRETS_MAX) <= CFG_SECRETS_MAX);
	for (int i = 0; i < c.warnings_n; i++)
		CHECK(cfg_error_format(&c.warnings[i], line, sizeof line) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];
	int rc = cfg_parse(&c, (const char *)data, size, "fuzz.conf", &e);

	if (rc == 0) {
		check_ok();
		return 0;
	}
	CHECK(rc == FR_ECONFIG);
	CHECK(e.msg[0] && terminated(e.msg, sizeof e.msg));
	CHECK(e.line >= 0 && (size_t)e.line <= size + 1);
	CHECK(c.accounts_n == 0 && c.bots_n == 0); /* wiped */
	CHECK(cfg_error_format(&e, line, sizeof line) > 0);
	return 0;
}
