/*
 * verb_orderid.c -- `fillrelay orderid new|parse`: see verb_orderid.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "orderid.h"
#include "verb_orderid.h"

/* Writes s[0..n) as a JSON string; see verb_orderid.h for the escaping. */
static void json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int orderid_usage(void)
{
	fprintf(stderr, "usage: fillrelay [-c FILE] " VERB_ORDERID_USAGE "\n");
	return EX_USAGE;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int orderid_verb_new(const char *bot, const char *reason, const struct cfg *c)
{
	static struct orderid_gen gen;
	struct orderid_parsed p;
	char id[ORDERID_MAX + 1], err[ERR_MSG_MAX];
	uint64_t seed;
	int n;

	if (orderid_seed(&seed) != 0) {
		fprintf(stderr, "fillrelay orderid new: no random seed (getrandom and "
		                "/dev/urandom failed)\n");
		return EX_OSERR;
	}
	orderid_gen_init(&gen, seed);
	n = orderid_new(&gen, c, bot, reason, now_ms(), id, err, sizeof err);
	if (n < 0) {
		fprintf(stderr, "fillrelay orderid new: %s\n", err);
		return n == FR_EINVAL ? EX_USAGE : n == FR_ECONFIG ? EX_CONFIG : EX_DATAERR;
	}
	if (c && !cfg_bot_find(c, bot))
		fprintf(stderr,
		        "fillrelay orderid new: warning: bot '%s' is not in %s: its fills "
		        "will not be attributed to it there\n",
		        bot, c->file);
	/* What a reader of the id will see: checks the pair new/parse on every use. */
	if (orderid_parse(id, (size_t)n, c, &p) != 0 || strcmp(p.bot, bot) != 0) {
		fprintf(stderr, "fillrelay orderid new: internal error: '%s' does not parse\n", id);
		return EX_SOFTWARE;
	}
	printf("{\"id\":\"%s\",\"bot\":\"%s\",\"reason\":\"%s\",\"stamp_ms\":%lld}\n", id, p.bot,
	       p.reason, (long long)p.stamp_ms);
	return EX_OK;
}

static int orderid_verb_parse(const char *id, const struct cfg *c)
{
	struct orderid_parsed p;
	size_t n = strlen(id);

	printf("{\"id\":");
	json_str(id, n);
	if (orderid_parse(id, n, c, &p) != 0) {
		printf(",\"ours\":false}\n");
		fprintf(stderr, "fillrelay orderid parse: not a fillrelay order id (neither "
		                "BOT-REASON-STAMP nor BOT:REASON:TIMESTAMP)\n");
		return EX_DATAERR;
	}
	printf(",\"bot\":\"%s\",\"reason\":\"%s\",\"reason_wire\":\"%s\",\"stamp_ms\":%lld,"
	       "\"form\":\"%s\",\"ours\":true}\n",
	       p.bot, p.reason, p.reason_wire, (long long)p.stamp_ms, orderid_form_name(p.form));
	return EX_OK;
}

/* see verb_orderid.h */
int verb_orderid(int argc, char **argv, const struct cfg *c)
{
	struct cfg_error e;
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];
	int rc;

	if (argc < 1 || !argv || !argv[0])
		return orderid_usage();
	if (strcmp(argv[0], "new") == 0 ? argc != 3 : strcmp(argv[0], "parse") != 0 || argc != 2)
		return orderid_usage();
	if (c && orderid_check_aliases(c, &e) != 0) {
		cfg_error_format(&e, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return EX_CONFIG;
	}
	if (strcmp(argv[0], "new") == 0)
		rc = orderid_verb_new(argv[1], argv[2], c);
	else
		rc = orderid_verb_parse(argv[1], c);
	if (fflush(stdout) != 0) {
		perror("fillrelay orderid: stdout");
		return EX_IOERR;
	}
	return rc;
}
