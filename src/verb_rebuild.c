/*
 * verb_rebuild.c -- see verb_rebuild.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "verb_rebuild.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "book.h"
#include "loop.h"
#include "pg.h"
#include "rds.h"
#include "resolv.h"
#include "sink.h"

/* Static: the book, pg, rds and the rebuilder are MiB each. */
static struct loop rbv_loop;
static struct resolv rbv_resolv;
static struct pg rbv_pg;
static struct rds rbv_rds;
static struct book rbv_book;
static struct sink_rebuild rbv_rb;

struct rbv_sym {
	char account[CFG_NAME_MAX];
	char category[DECODE_CATEGORY_MAX];
	char symbol[DECODE_SYMBOL_MAX];
};
static struct rbv_sym rbv_syms[BOOK_SYMBOLS_MAX];
static int rbv_syms_n, rbv_skipped, rbv_too_many;
static const struct cfg *rbv_cfg;

static void rbv_on_event(void *arg, struct pg *p, enum pg_event ev)
{
	(void)arg;
	if (ev == PG_EV_CONNECTED || ev == PG_EV_MIGRATED || ev == PG_EV_FAILED)
		loop_stop(p->loop);
}

static int rbv_known_account(const char *name)
{
	for (int i = 0; i < rbv_cfg->accounts_n; i++)
		if (!strcmp(rbv_cfg->accounts[i].name, name))
			return 1;
	return 0;
}

/* One row: account, category, symbol. */
static int rbv_sym_row(void *arg, int ncols, const char *const *v)
{
	struct rbv_sym *e;

	(void)arg;
	if (ncols < 3 || !v[0] || !v[1] || !v[2])
		return 0;
	if (!rbv_known_account(v[0])) {
		rbv_skipped++;
		return 0;
	}
	if (rbv_syms_n >= BOOK_SYMBOLS_MAX || strlen(v[0]) >= sizeof e->account ||
	    strlen(v[1]) >= sizeof e->category || strlen(v[2]) >= sizeof e->symbol) {
		rbv_too_many++;
		return 0;
	}
	e = &rbv_syms[rbv_syms_n++];
	snprintf(e->account, sizeof e->account, "%s", v[0]);
	snprintf(e->category, sizeof e->category, "%s", v[1]);
	snprintf(e->symbol, sizeof e->symbol, "%s", v[2]);
	return 0;
}

static void rbv_rds_fill(void *ctx, const char *account, const struct decode_exec *x,
                         const struct book_result *r)
{
	(void)ctx;
	rds_fill(&rbv_rds, account, x, r, RDS_NO_PUBLISH);
}

static int64_t rbv_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Resolves and connects once through the loop, so hostaddr is numeric. */
static int rbv_connect(const struct cfg *c)
{
	const struct pg_opts opts = { .migrate = 0, .reconnect = 0, .on_event = rbv_on_event };

	if (pg_init(&rbv_pg, &rbv_loop, &rbv_resolv, &c->postgres, &opts) != 0) {
		fprintf(stderr, "fillrelay rebuild: [postgres] conninfo: %s\n", rbv_pg.msg);
		return EX_CONFIG;
	}
	pg_start(&rbv_pg);
	if (loop_run(&rbv_loop) != 0 || rbv_pg.state == PG_FAILED || rbv_pg.state == PG_IDLE) {
		fprintf(stderr, "fillrelay rebuild: cannot connect to PostgreSQL: %s\n", rbv_pg.msg);
		pg_stop(&rbv_pg);
		return EX_UNAVAILABLE;
	}
	pg_stop(&rbv_pg); /* keeps hostaddr_ for the blocking connections */
	return EX_OK;
}

/* Rewrites every position of the book in Redis (done on connect) and waits. */
static int rbv_redis(void)
{
	int64_t end = rbv_mono_ms() + RBV_REDIS_WAIT_MS;
	const char *msg = "timed out";

	if (rds_start(&rbv_rds) != 0)
		return EX_UNAVAILABLE;
	while (!rds_idle(&rbv_rds) && rbv_mono_ms() < end)
		loop_run_once(&rbv_loop, 50);
	if (rds_idle(&rbv_rds)) {
		rds_stop(&rbv_rds);
		return EX_OK;
	}
	rds_last_error(&rbv_rds, &msg);
	fprintf(stderr, "fillrelay rebuild: Redis not rewritten: %s\n", msg ? msg : "timed out");
	rds_stop(&rbv_rds);
	return EX_UNAVAILABLE;
}

/* see verb_rebuild.h */
int verb_rebuild(const struct cfg *c)
{
	struct pg_blk k;
	int rc, failed = 0;

	rbv_cfg = c;
	rbv_syms_n = rbv_skipped = rbv_too_many = 0;
	loop_init(&rbv_loop, &loop_sys_real);
	if (resolv_init(&rbv_resolv, &rbv_loop, NULL, NULL) != 0) {
		fprintf(stderr, "fillrelay rebuild: cannot read /etc/resolv.conf or /etc/hosts\n");
		return EX_OSERR;
	}
	if (book_init(&rbv_book, c, NULL) != 0 ||
	    rds_init(&rbv_rds, &rbv_loop, &rbv_resolv, c, &rbv_book) != 0) {
		fprintf(stderr, "fillrelay rebuild: cannot prepare the book or Redis\n");
		resolv_close(&rbv_resolv);
		return EX_CONFIG;
	}
	if ((rc = rbv_connect(c)) != EX_OK) {
		resolv_close(&rbv_resolv);
		return rc;
	}
	if (pg_blk_open(&rbv_pg, &k) != 0) {
		fprintf(stderr, "fillrelay rebuild: cannot connect to PostgreSQL: %s\n", rbv_pg.msg);
		resolv_close(&rbv_resolv);
		return EX_UNAVAILABLE;
	}
	rc = pg_blk_query(&k,
	                  "SELECT DISTINCT account, category, symbol FROM trading.fills"
	                  " ORDER BY 1, 2, 3",
	                  0, NULL, rbv_sym_row, NULL);
	pg_blk_close(&k);
	if (rc < 0) {
		fprintf(stderr, "fillrelay rebuild: reading trading.fills: %s\n", rbv_pg.msg);
		resolv_close(&rbv_resolv);
		return EX_SOFTWARE;
	}
	sink_rebuild_init(&rbv_rb, c, &rbv_book, &rbv_pg, &rbv_loop, rbv_rds_fill, NULL);
	for (int i = 0; i < rbv_syms_n; i++) {
		const struct rbv_sym *e = &rbv_syms[i];

		if (sink_rebuild_symbol(&rbv_rb, e->account, e->category, e->symbol) != 0) {
			fprintf(stderr, "fillrelay rebuild: %s %s %s: %s\n", e->account, e->category,
			        e->symbol, rbv_pg.msg);
			failed++;
		}
	}
	rc = rbv_redis();
	printf("rebuild: %llu symbols, %llu fills, %llu rows changed, redis %s",
	       (unsigned long long)rbv_rb.symbols, (unsigned long long)rbv_rb.fills,
	       (unsigned long long)rbv_rb.changed, rc == EX_OK ? "rewritten" : "NOT rewritten");
	if (rbv_skipped)
		printf(", %d skipped (account not configured)", rbv_skipped);
	if (rbv_too_many)
		printf(", %d symbols over the limit not rebuilt", rbv_too_many);
	printf("\n");
	resolv_close(&rbv_resolv);
	if (failed || rbv_too_many)
		return EX_SOFTWARE;
	return rc;
}
