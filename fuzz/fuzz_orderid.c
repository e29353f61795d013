/*
 * fuzz_orderid.c -- libFuzzer target for orderid_parse and orderid_new.
 *
 * The input is parsed as an id, with and without a configuration holding
 * [reasons] aliases (orderid_parse takes any bytes of any length, not
 * NUL-terminated); any success is checked against the contract in orderid.h:
 * field charsets and limits, the form's shape, and for the wire form an exact
 * rebuild of the input from the fields. The bots' C helper must answer the same.
 *
 * The input is also split into a bot id and a reason (at the first '\n'; the
 * next 8 bytes, when there, are the clock) for orderid_new, whose
 * precondition is NUL-terminated strings: a success must parse back to the
 * same bot and to the reason's canonical form, and generating again from that
 * canonical reason must give the same wire spelling; a refusal must be one of
 * the documented errors with a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg.h"
#include "clients/fillrelay_orderid.h"
#include "orderid.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static const char fuzz_conf[] = "[account main]\napi_key = KEYmain0123456789\n"
                                "api_secret = SECRETmain0123456789abcdef\n[bot alpha_001]\n"
                                "[postgres]\nconninfo = host=127.0.0.1\n"
                                "[reasons]\nbo = breakout_retest\nvb = volatility_breakout\n"
                                "ema_x = ema_cross\ne = entry\nlong_alias = mean_reversion\n"
                                "mr = mean_reversion\n";

static struct cfg c; /* large: static, as in the product */
static struct fr_orderid_alias tab[CFG_ALIASES_MAX];
static struct orderid_gen gen;
static struct fr_orderid_gen hgen[2]; /* the helper's twins: without, with aliases */

static void setup(void)
{
	static int done;
	struct cfg_error e;

	if (done)
		return;
	done = 1;
	CHECK(cfg_parse(&c, fuzz_conf, sizeof fuzz_conf - 1, "fuzz.conf", &e) == 0);
	CHECK(orderid_check_aliases(&c, &e) == 0);
	for (int i = 0; i < c.aliases_n; i++)
		tab[i] = (struct fr_orderid_alias){c.aliases[i].alias, c.aliases[i].reason};
	orderid_gen_init(&gen, 0x0123456789abcdefULL);
}

/* The bots' helper makes the same id, or the same refusal, from the same state. */
static void check_helper_new(const struct cfg *cp, const char *bot, const char *reason, int64_t ms,
                             int rc, const char *id, const char *err)
{
	struct fr_orderid_gen *h = &hgen[cp != NULL];
	char hid[FR_ORDERID_MAX + 1], herr[ERR_MSG_MAX];

	fr_orderid_gen_seed(h, 0);
	h->base = gen.base;
	h->count = gen.count - (rc > 0); /* gen has counted this id already */
	h->aliases = cp ? tab : NULL;
	h->aliases_n = cp ? (size_t)cp->aliases_n : 0;
	CHECK(fr_orderid_new_at(h, bot, reason, ms, hid, herr, sizeof herr) == rc);
	CHECK(strcmp(hid, id) == 0 && strcmp(herr, err) == 0);
}

static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static void b36(char *out, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 36)
		out[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
}

static void check_parsed(const uint8_t *data, size_t size, const struct orderid_parsed *p)
{
	char rebuilt[ORDERID_MAX + 1];
	size_t bn = strlen(p->bot), wn = strlen(p->reason_wire);

	CHECK(name_ok(p->bot, ORDERID_BOT_MAX));
	CHECK(name_ok(p->reason, ORDERID_REASON_MAX));
	CHECK(name_ok(p->reason_wire, ORDERID_REASON_MAX));
	CHECK(p->stamp_ms >= 0);
	CHECK(memcmp(data, p->bot, bn) == 0);
	if (p->form == ORDERID_FORM_WIRE) {
		CHECK(size <= ORDERID_MAX && size == bn + wn + 2 + ORDERID_STAMP_LEN);
		CHECK(p->stamp_ms < ORDERID_MS_LIMIT && p->unique < ORDERID_UNIQUE_MOD);
		memcpy(rebuilt, p->bot, bn);
		rebuilt[bn] = '-';
		memcpy(rebuilt + bn + 1, p->reason_wire, wn);
		rebuilt[bn + 1 + wn] = '-';
		b36(rebuilt + bn + wn + 2, (uint64_t)p->stamp_ms, ORDERID_MS_LEN);
		b36(rebuilt + size - ORDERID_UNIQUE_LEN, p->unique, ORDERID_UNIQUE_LEN);
		CHECK(memcmp(rebuilt, data, size) == 0);
	} else {
		CHECK(p->form == ORDERID_FORM_COLON);
		CHECK(data[bn] == ':' && memcmp(data + bn + 1, p->reason_wire, wn) == 0);
		CHECK(data[bn + 1 + wn] == ':' && p->unique == 0);
	}
	CHECK(orderid_form_name(p->form) != NULL);
}

static void fuzz_parse(const uint8_t *data, size_t size, const struct cfg *cp)
{
	struct orderid_parsed p;
	struct fr_orderid_parsed h;
	int rc = orderid_parse((const char *)data, size, cp, &p);
	int rh = fr_orderid_parse((const char *)data, size, cp ? tab : NULL,
	                          cp ? (size_t)cp->aliases_n : 0, &h);

	CHECK(rc == 0 || rc == ORDERID_FOREIGN);
	CHECK(rc == rh);
	if (rc != 0) {
		CHECK(p.bot[0] == '\0' && p.form == 0);
		return;
	}
	check_parsed(data, size, &p);
	CHECK(strcmp(p.bot, h.bot) == 0 && strcmp(p.reason, h.reason) == 0);
	CHECK(strcmp(p.reason_wire, h.reason_wire) == 0 && p.stamp_ms == h.stamp_ms);
	CHECK(p.unique == h.unique && (int)p.form == h.form);
}

static void fuzz_new(const uint8_t *data, size_t size, const struct cfg *cp)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t bot_n = nl ? (size_t)(nl - data) : size, rest, reason_n;
	char bot[ORDERID_PARSE_MAX + 1], reason[ORDERID_PARSE_MAX + 1];
	char id[ORDERID_MAX + 1], id2[ORDERID_MAX + 1], err[ERR_MSG_MAX];
	struct orderid_parsed p, p2;
	int64_t ms = 1678886400000LL;
	int rc;

	if (bot_n > ORDERID_PARSE_MAX)
		return;
	memcpy(bot, data, bot_n);
	bot[bot_n] = '\0'; /* an embedded NUL just ends the string early */
	rest = nl ? size - bot_n - 1 : 0;
	reason_n = rest > 8 ? rest - 8 : rest;
	if (reason_n > ORDERID_PARSE_MAX)
		return;
	memcpy(reason, nl ? (const char *)nl + 1 : "", reason_n);
	reason[reason_n] = '\0';
	if (rest > 8)
		memcpy(&ms, nl + 1 + reason_n, 8);
	rc = orderid_new(&gen, cp, bot, reason, ms, id, err, sizeof err);
	check_helper_new(cp, bot, reason, ms, rc, id, err);
	if (rc < 0) {
		CHECK(rc == FR_EINVAL || rc == FR_ERANGE);
		CHECK(err[0] != '\0' && id[0] == '\0');
		CHECK((rc == FR_EINVAL) ==
		      (!name_ok(bot, ORDERID_BOT_MAX) || !name_ok(reason, ORDERID_REASON_MAX)));
		return;
	}
	CHECK((size_t)rc == strlen(id) && rc <= ORDERID_MAX);
	CHECK(orderid_parse(id, (size_t)rc, cp, &p) == 0 && p.form == ORDERID_FORM_WIRE);
	check_parsed((const uint8_t *)id, (size_t)rc, &p);
	CHECK(strcmp(p.bot, bot) == 0 && p.stamp_ms == ms);
	/* the canonical reason is a fixed point: it gives the same spelling */
	CHECK(orderid_new(&gen, cp, bot, p.reason, ms, id2, err, sizeof err) == rc);
	CHECK(orderid_parse(id2, (size_t)rc, cp, &p2) == 0);
	CHECK(strcmp(p2.reason, p.reason) == 0 && strcmp(p2.reason_wire, p.reason_wire) == 0);
	CHECK(strcmp(id, id2) != 0); /* and a new id */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	fuzz_parse(data, size, NULL);
	fuzz_parse(data, size, &c);
	fuzz_new(data, size, NULL);
	fuzz_new(data, size, &c);
	return 0;
}
