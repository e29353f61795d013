/*
 * main.c -- the command line: verbs, their help, and the fixed start-up order
 * (parse the configuration, reserve all memory, then do the work; shut down in
 * reverse). Exit codes come from sysexits.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <bearssl.h>
#include <hiredis/hiredis.h>
#include <jsmn.h>
#include <libpq-fe.h>
#include <wslay/wslay.h>

#include "arena.h"
#include "cfg.h"
#include "err.h"
#include "fr_depvers.h"
#include "fr_version.h"
#include "log.h"
#include "loop.h"
#include "orderid.h"
#include "verb_attrib.h"
#include "verb_check.h"
#include "verb_decode.h"
#include "verb_health.h"
#include "verb_migrate.h"
#include "verb_query.h"
#include "verb_rebuild.h"
#include "verb_orderid.h"
#include "verb_run.h"
#include "verb_spill.h"

#define MAIN_DEFAULT_CONFIG "/etc/fillrelay.conf"

/* Global options, given before or after the verb. */
struct main_opts {
	const char *config;     /* -c FILE */
	const char *log_level;  /* --log-level LEVEL, overrides the file */
	const char *account;    /* --account NAME (decode -c) */
	int help;               /* -h, --help */
	int connect;            /* check --connect */
	const char *dir;        /* spill --dir DIR */
	const char *timeout;    /* spill replay --timeout SECONDS */
	int truncate_torn;      /* spill verify --truncate-torn */
	const char *bot;        /* fills, pnl, positions --bot BOT */
	const char *limit;      /* fills --limit N */
	int json;               /* fills, pnl, positions --json */
	int nargs;              /* verb arguments that are not options */
	char **args;
};

struct main_verb {
	const char *name;
	int (*fn)(struct main_opts *o);
	const char *usage;
	const char *summary;
	const char *issue; /* non-NULL: not yet available, lands with this work */
};

static struct cfg main_cfg; /* about 67 KiB: static, not on the stack */

static int verb_version(struct main_opts *o);
static int verb_check(struct main_opts *o);
static int main_verb_decode(struct main_opts *o);
static int main_verb_orderid(struct main_opts *o);
static int main_verb_migrate(struct main_opts *o);
static int main_verb_rebuild(struct main_opts *o);
static int main_verb_health(struct main_opts *o);
static int main_verb_spill(struct main_opts *o);
static int main_verb_run(struct main_opts *o);
static int main_verb_fills(struct main_opts *o);
static int main_verb_pnl(struct main_opts *o);
static int main_verb_positions(struct main_opts *o);

static const struct main_verb main_verbs[] = {
	{ "run", main_verb_run, "run [-c FILE]",
	  "hold the private streams open and write every fill to PostgreSQL and Redis", NULL },
	{ "check", verb_check, "check [-c FILE] [--connect]",
	  "validate the configuration (--connect: also try each account's REST API and stream, "
	  "PostgreSQL and Redis)",
	  NULL },
	{ "migrate", main_verb_migrate, "migrate [-c FILE]",
	  "create or upgrade the trading schema (prints the version before and after)", NULL },
	{ "rebuild", main_verb_rebuild, "rebuild [-c FILE]",
	  "recompute derived columns and Redis from trading.fills in exchange order", NULL },
	{ "decode", main_verb_decode, "decode [-c FILE [--account NAME]] FILE|-",
	  "print what fillrelay makes of a push or REST response, one JSON line per record",
	  NULL },
	{ "orderid", main_verb_orderid, "orderid [-c FILE] new BOT REASON | orderid parse ID",
	  "generate or parse a client order id (BOT-REASON-STAMP; -c adds [reasons] aliases)",
	  NULL },
	{ "fills", main_verb_fills, "fills [-c FILE] --bot BOT [--limit N] [--json]",
	  "recent fills of a bot, newest first (seed query 1; --limit default 20)", NULL },
	{ "pnl", main_verb_pnl, "pnl [-c FILE] [--bot BOT] [--json]",
	  "PnL of closed trades by bot, close reason and currency (seed query 2)", NULL },
	{ "positions", main_verb_positions, "positions [-c FILE] [--bot BOT] [--json]",
	  "positions: fillrelay's, Redis's and the exchange's view, with drift (seed query 3)",
	  NULL },
	{ "spill", main_verb_spill,
	  "spill stat|verify [--truncate-torn]|dump [FROM_SEQ] [-c FILE | --dir DIR] | "
	  "spill replay [-c FILE] [--dir DIR] [--timeout SECONDS]",
	  "inspect, verify or dump the disk journal; replay it into PostgreSQL and Redis "
	  "without the exchange", NULL },
	{ "health", main_verb_health, "health [-c FILE] [HOST:PORT]",
	  "ask a running fillrelay's /healthz (exit 0 healthy, 1 not: a HEALTHCHECK)", NULL },
	{ "version", verb_version, "version", "print the version and library versions", NULL },
};
#define MAIN_VERBS_N ((int)(sizeof main_verbs / sizeof main_verbs[0]))

static void main_usage(FILE *f)
{
	fprintf(f, "usage: fillrelay [-c FILE] [--log-level LEVEL] VERB [ARGS]\n\n"
		   "Holds Bybit private WebSocket streams open and records every fill in\n"
		   "PostgreSQL and every bot's position in Redis.\n\nverbs:\n");
	for (int i = 0; i < MAIN_VERBS_N; i++)
		fprintf(f, "  %-10s %s%s\n", main_verbs[i].name, main_verbs[i].summary,
			main_verbs[i].issue ? " (not yet available)" : "");
	fprintf(f, "\noptions:\n"
		   "  -c FILE              configuration file (default %s)\n"
		   "  --log-level LEVEL    debug, info, warn or error (overrides the file)\n"
		   "  --account NAME       decode -c: the account the input belongs to\n"
		   "  --dir DIR            spill: the journal directory (instead of -c's spill_dir)\n"
		   "  --timeout SECONDS    spill replay: give up when PostgreSQL or Redis make no\n"
		   "                       progress this long (default 60)\n"
		   "  --bot BOT            fills, pnl, positions: one bot (fills: required)\n"
		   "  --limit N            fills: at most N fills (default 20, at most 1000)\n"
		   "  --json               fills, pnl, positions: one JSON object per line\n"
		   "  -h, --help           this text; after a verb, that verb's help\n"
		   "\n`fillrelay VERB --help` describes one verb.\n",
		MAIN_DEFAULT_CONFIG);
}

static void main_verb_usage(const struct main_verb *v)
{
	printf("usage: fillrelay %s\n\n%s.\n", v->usage, v->summary);
	if (v->issue)
		printf("\nNot yet available in this build: it arrives with %s.\n", v->issue);
	printf("\n  -c FILE              configuration file (default %s)\n"
	       "  --log-level LEVEL    debug, info, warn or error\n",
	       MAIN_DEFAULT_CONFIG);
}

/* Splits argv into options and plain arguments; returns 0 or EX_USAGE. */
static int main_parse_opts(int argc, char **argv, struct main_opts *o, char **plain)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			/* Everything after is an argument, even "-abc" (a foreign order id). */
			while (++i < argc)
				plain[n++] = argv[i];
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = 1;
		} else if (strcmp(a, "--connect") == 0) {
			o->connect = 1;
		} else if (strcmp(a, "--truncate-torn") == 0) {
			o->truncate_torn = 1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = 1;
		} else if (strcmp(a, "--dir") == 0 || strcmp(a, "--bot") == 0 ||
			   strcmp(a, "--limit") == 0 || strcmp(a, "--timeout") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "fillrelay: %s needs a value\n", a);
				return EX_USAGE;
			}
			if (a[2] == 'd')
				o->dir = argv[++i];
			else if (a[2] == 'b')
				o->bot = argv[++i];
			else if (a[2] == 't')
				o->timeout = argv[++i];
			else
				o->limit = argv[++i];
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--log-level") == 0 ||
			   strcmp(a, "--account") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "fillrelay: %s needs a value\n", a);
				return EX_USAGE;
			}
			if (a[1] == 'c')
				o->config = argv[++i];
			else if (a[2] == 'l')
				o->log_level = argv[++i];
			else
				o->account = argv[++i];
		} else if (a[0] == '-' && a[1] != 0) {
			fprintf(stderr, "fillrelay: unknown option %s (see fillrelay --help)\n", a);
			return EX_USAGE;
		} else {
			plain[n++] = argv[i];
		}
	}
	o->nargs = n;
	o->args = plain;
	return 0;
}

static const struct main_verb *main_find_verb(const char *name)
{
	for (int i = 0; i < MAIN_VERBS_N; i++)
		if (strcmp(main_verbs[i].name, name) == 0)
			return &main_verbs[i];
	return NULL;
}

/* see main_verbs */
static int verb_version(struct main_opts *o)
{
	(void)o;
	printf("fillrelay %s (revision %s, %s, %s)\n", FR_VERSION, FR_REVISION, FR_ARCH,
	       arena_is_process_allocator() ? "static, fixed arena allocator"
					    : "system allocator");
	printf("  %s\n  %s\n  %s\n  %s\n  %s\n  %s\n", FR_DEP_BEARSSL, FR_DEP_WSLAY, FR_DEP_JSMN,
	       FR_DEP_HIREDIS, FR_DEP_LIBPQ, FR_DEP_MUSL);
	/* What the linked libraries say of themselves, as a cross-check. */
	printf("  linked: libpq %d, hiredis %d.%d.%d, wslay %s\n", PQlibVersion(),
	       HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, WSLAY_VERSION);
	return EX_OK;
}

/*
 * Parses the configuration and applies its logging settings: the first step
 * of every verb that takes -c. Prints FILE:LINE: reason and returns EX_CONFIG
 * on a bad file.
 */
static int main_load_config(struct main_opts *o)
{
	const char *secrets[CFG_SECRETS_MAX];
	const char *path = o->config ? o->config : MAIN_DEFAULT_CONFIG;
	struct cfg_error err;
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];
	int level, n;

	if (cfg_load(&main_cfg, path, &err) != 0) {
		cfg_error_format(&err, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return EX_CONFIG;
	}
	n = cfg_secrets(&main_cfg, secrets, CFG_SECRETS_MAX);
	for (int i = 0; i < n && i < CFG_SECRETS_MAX; i++)
		log_secret_add(secrets[i]);
	level = (int)main_cfg.listener.log_level;
	if (o->log_level && (level = log_level_parse(o->log_level)) < 0) {
		fprintf(stderr, "fillrelay: --log-level %s: not debug, info, warn or error\n",
			o->log_level);
		return EX_USAGE;
	}
	log_set_level((enum log_level)level);
	return EX_OK;
}

/* Reserves the fixed arena the configuration asks for (product build: every
 * allocation of libpq and hiredis comes from it from now on). */
static int main_reserve_memory(void)
{
	struct arena_stats st, boot;
	int rc = arena_reserve(main_cfg.listener.arena_size_bytes);

	if (rc != 0) {
		log_error("cannot reserve the memory arena",
			  LI("bytes", main_cfg.listener.arena_size_bytes), LS("error", err_str(rc)));
		return EX_OSERR;
	}
	arena_process_stats(&st, &boot);
	log_debug("memory reserved", LI("arena_bytes", st.size),
		  LI("boot_arena_high_water", boot.high_water));
	return EX_OK;
}

static void check_log_account(const struct cfg_account *a)
{
	/* Secrets go to the logger like any value: redacting them is its job. */
	log_debug("account configured", LS("account", a->name), LS("api_key", a->api_key.value),
		  LS("api_secret", a->api_secret.value), LS("ws_url", a->ep.ws_url.text),
		  LS("rest_url", a->ep.rest_url.text), LI("bots", a->bots_n));
}

static void check_print_summary(void)
{
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];

	for (int i = 0; i < main_cfg.warnings_n; i++) {
		cfg_error_format(&main_cfg.warnings[i], line, sizeof line);
		fprintf(stderr, "%s\n", line);
	}
	for (int i = 0; i < main_cfg.accounts_n; i++)
		check_log_account(&main_cfg.accounts[i]);
	log_debug("postgres configured", LS("conninfo", main_cfg.postgres.conninfo),
		  LS("password", main_cfg.postgres.password.value));
	log_debug("redis configured", LS("host", main_cfg.redis.host),
		  LI("port", main_cfg.redis.port), LS("password", main_cfg.redis.password.value));
	printf("%s: ok: %d account%s, %d bot%s, %d reason alias%s, %d warning%s\n",
	       main_cfg.file, main_cfg.accounts_n, main_cfg.accounts_n == 1 ? "" : "s",
	       main_cfg.bots_n, main_cfg.bots_n == 1 ? "" : "s", main_cfg.aliases_n,
	       main_cfg.aliases_n == 1 ? "" : "es",
	       main_cfg.warnings_n + main_cfg.warnings_dropped,
	       main_cfg.warnings_n + main_cfg.warnings_dropped == 1 ? "" : "s");
}

/*
 * The order id contract: [reasons] aliases may not clash with the built-in ones
 * (an error), and a bot id must leave room for a reason in a 36-character id
 * (a warning: such a bot can only use the shortest aliases).
 */
static int check_orderids(void)
{
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];
	struct cfg_error e;
	const int bot_room = ORDERID_NAMES_MAX - 2; /* leaves a 2-character alias */

	if (orderid_check_aliases(&main_cfg, &e) != 0) {
		cfg_error_format(&e, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return EX_CONFIG;
	}
	for (int i = 0; i < main_cfg.bots_n; i++)
		if ((int)strlen(main_cfg.bots[i].id) > bot_room)
			fprintf(stderr, "%s:%d: warning: bot id '%s' is longer than %d characters: "
					"its order ids have room only for 1-character reason aliases\n",
				main_cfg.file, main_cfg.bots[i].line, main_cfg.bots[i].id, bot_room);
	return EX_OK;
}

/* see main_verbs */
static int verb_check(struct main_opts *o)
{
	int rc = main_load_config(o);

	if (rc != EX_OK)
		return rc;
	rc = check_orderids();
	if (rc != EX_OK)
		return rc;
	rc = main_reserve_memory();
	if (rc != EX_OK)
		return rc;
	check_print_summary();
	return o->connect ? verb_check_connect(&main_cfg) : EX_OK;
}

/* Verbs that work without a configuration load one only when -c is given. */
static int main_optional_config(struct main_opts *o, const struct cfg **c)
{
	int rc;

	*c = NULL;
	if (!o->config)
		return EX_OK;
	rc = main_load_config(o);
	if (rc != EX_OK)
		return rc;
	*c = &main_cfg;
	return EX_OK;
}

/* see main_verbs */
static int main_verb_decode(struct main_opts *o)
{
	const struct cfg *c;
	char err[ERR_MSG_MAX];
	int rc = main_optional_config(o, &c);

	if (rc != EX_OK)
		return rc;
	if (c && verb_attrib_setup(c, o->account, err, sizeof err) != 0) {
		fprintf(stderr, "fillrelay decode: %s\n", err);
		return EX_USAGE;
	}
	return verb_decode(o->nargs, o->args, c);
}

/* see main_verbs */
static int main_verb_orderid(struct main_opts *o)
{
	const struct cfg *c;
	struct cfg_error e;
	char line[CFG_PATH_MAX + ERR_MSG_MAX + 16];
	int rc = main_optional_config(o, &c);

	if (rc != EX_OK)
		return rc;
	if (c && orderid_check_aliases(c, &e) != 0) {
		cfg_error_format(&e, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return EX_CONFIG;
	}
	return verb_orderid(o->nargs, o->args, c);
}

/* see main_verbs */
static int main_verb_migrate(struct main_opts *o)
{
	int rc = main_load_config(o);

	if (rc != EX_OK)
		return rc;
	if (o->nargs != 0) {
		fprintf(stderr, "fillrelay migrate: takes no arguments\n");
		return EX_USAGE;
	}
	rc = main_reserve_memory();
	if (rc != EX_OK)
		return rc;
	return verb_migrate(&main_cfg);
}

/* see main_verbs and verb_rebuild.h */
static int main_verb_rebuild(struct main_opts *o)
{
	int rc = main_load_config(o);

	if (rc != EX_OK)
		return rc;
	if (o->nargs != 0) {
		fprintf(stderr, "fillrelay rebuild: takes no arguments\n");
		return EX_USAGE;
	}
	rc = main_reserve_memory();
	if (rc != EX_OK)
		return rc;
	return verb_rebuild(&main_cfg);
}

/* see main_verbs and verb_health.h */
static int main_verb_health(struct main_opts *o)
{
	char host[CFG_HOST_MAX];
	unsigned port = 9464;
	int rc;

	snprintf(host, sizeof host, "127.0.0.1");
	if (o->nargs > 1) {
		fprintf(stderr, "fillrelay health: takes at most one HOST:PORT\n");
		return EX_USAGE;
	}
	if (o->nargs == 1) {
		if (verb_health_parse_addr(o->args[0], host, sizeof host, &port) != 0) {
			fprintf(stderr, "fillrelay health: %s: not HOST:PORT\n", o->args[0]);
			return EX_USAGE;
		}
	} else if (o->config || access(MAIN_DEFAULT_CONFIG, F_OK) == 0) {
		rc = main_load_config(o);
		if (rc != EX_OK)
			return rc;
		snprintf(host, sizeof host, "%s", main_cfg.listener.metrics_host);
		port = main_cfg.listener.metrics_port;
	}
	return verb_health(host, port);
}

/* see verb_spill.h: replay needs the whole configuration (PostgreSQL, Redis,
 * the bots) and the arena; --dir only overrides its spill_dir. */
static int main_verb_spill_replay(struct main_opts *o)
{
	struct verb_spill_replay_opts ro = { o->dir, o->timeout };
	int rc = main_load_config(o);

	if (rc != EX_OK)
		return rc;
	rc = main_reserve_memory();
	if (rc != EX_OK)
		return rc;
	return verb_spill_replay(o->nargs, o->args, &main_cfg, &ro);
}

/* see main_verbs and verb_spill.h: --dir, else the configuration's spill_dir. */
static int main_verb_spill(struct main_opts *o)
{
	struct verb_spill_opts so = { o->dir, 0, o->truncate_torn };
	int rc;

	/* replay with only --dir has no sinks to write to: verb_spill says so */
	if (o->nargs > 0 && strcmp(o->args[0], "replay") == 0 && (o->config || !o->dir))
		return main_verb_spill_replay(o);
	if (o->timeout) {
		fprintf(stderr, "fillrelay spill: --timeout goes with replay\n");
		return EX_USAGE;
	}
	if (!o->dir) {
		rc = main_load_config(o);
		if (rc != EX_OK)
			return rc;
		so.dir = main_cfg.listener.spill_dir;
		so.limit_bytes = main_cfg.listener.spill_limit_bytes;
	}
	return verb_spill(o->nargs, o->args, &so);
}

/* fills, pnl, positions: see verb_query.h. */
static int main_verb_query(struct main_opts *o, enum vq_verb v)
{
	struct vq_opts q = { o->bot, o->json, 0 };
	char *end;
	long n;
	int rc;

	if (o->nargs != 0) {
		fprintf(stderr, "fillrelay %s: takes no arguments (see --help)\n", vq_verb_name(v));
		return EX_USAGE;
	}
	if (o->limit) {
		n = strtol(o->limit, &end, 10);
		if (v != VQ_FILLS || *end || end == o->limit || n < 1 || n > VQ_ROWS_MAX) {
			fprintf(stderr, "fillrelay %s: --limit goes with fills, 1..%d\n",
				vq_verb_name(v), VQ_ROWS_MAX);
			return EX_USAGE;
		}
		q.limit = (int)n;
	}
	if (v == VQ_FILLS && !o->bot) {
		fprintf(stderr, "fillrelay fills: --bot BOT is required\n");
		return EX_USAGE;
	}
	rc = main_load_config(o);
	if (rc != EX_OK)
		return rc;
	rc = main_reserve_memory();
	if (rc != EX_OK)
		return rc;
	return verb_query(v, &main_cfg, &q);
}

static int main_verb_fills(struct main_opts *o)
{
	return main_verb_query(o, VQ_FILLS);
}

static int main_verb_pnl(struct main_opts *o)
{
	return main_verb_query(o, VQ_PNL);
}

static int main_verb_positions(struct main_opts *o)
{
	return main_verb_query(o, VQ_POSITIONS);
}

/* see main_verbs and verb_run.h */
static int main_verb_run(struct main_opts *o)
{
	int rc = main_load_config(o);

	if (rc != EX_OK)
		return rc;
	if (o->nargs != 0) {
		fprintf(stderr, "fillrelay run: takes no arguments\n");
		return EX_USAGE;
	}
	rc = main_reserve_memory();
	if (rc != EX_OK)
		return rc;
	return verb_run(&main_cfg);
}

int main(int argc, char **argv)
{
	static char *plain[256];
	struct main_opts o = { 0 };
	const struct main_verb *v;
	int rc;

	log_setup(2, LOG_INFO, NULL, NULL);
	if (argc > (int)(sizeof plain / sizeof *plain)) {
		fprintf(stderr, "fillrelay: too many arguments\n");
		return EX_USAGE;
	}
	rc = main_parse_opts(argc - 1, argv + 1, &o, plain);
	if (rc != 0)
		return rc;
	if (o.nargs == 0) {
		main_usage(o.help ? stdout : stderr);
		return o.help ? EX_OK : EX_USAGE;
	}
	v = main_find_verb(o.args[0]);
	if (!v) {
		fprintf(stderr, "fillrelay: unknown verb '%s' (see fillrelay --help)\n", o.args[0]);
		return EX_USAGE;
	}
	if (o.help) {
		main_verb_usage(v);
		return EX_OK;
	}
	if (!v->fn) {
		fprintf(stderr, "fillrelay %s: not yet available: it arrives with %s\n", v->name,
			v->issue);
		return EX_UNAVAILABLE;
	}
	o.nargs--;
	o.args++;
	return v->fn(&o);
}
