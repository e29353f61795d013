/*
 * verb_migrate.c -- `fillrelay migrate` (see verb_migrate.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "verb_migrate.h"

#include <stdio.h>
#include <sysexits.h>

#include "err.h"
#include "loop.h"
#include "pg.h"
#include "resolv.h"

/* Static: struct pg holds its batches (a few MiB), too big for the stack. */
static struct loop vm_loop;
static struct resolv vm_resolv;
static struct pg vm_pg;

static void vm_on_event(void *arg, struct pg *p, enum pg_event ev)
{
	(void)arg;
	if (ev == PG_EV_MIGRATED || ev == PG_EV_FAILED)
		loop_stop(p->loop);
}

/* Never connected, or lost on the way: unavailable; else the migration's own. */
static int vm_exit_code(const struct pg *p)
{
	if (p->stats.connects == 0 || p->err == FR_ECLOSED)
		return EX_UNAVAILABLE;
	return p->err == FR_ECONFIG ? EX_CONFIG : EX_SOFTWARE;
}

/* see verb_migrate.h */
int verb_migrate(const struct cfg *c)
{
	const struct pg_opts opts = { .migrate = 1, .reconnect = 0, .on_event = vm_on_event };
	int steps;

	loop_init(&vm_loop, &loop_sys_real);
	if (resolv_init(&vm_resolv, &vm_loop, NULL, NULL) != 0) {
		fprintf(stderr, "fillrelay migrate: cannot read /etc/resolv.conf or /etc/hosts\n");
		return EX_OSERR;
	}
	if (pg_init(&vm_pg, &vm_loop, &vm_resolv, &c->postgres, &opts) != 0) {
		fprintf(stderr, "fillrelay migrate: [postgres] conninfo: %s\n", vm_pg.msg);
		return EX_CONFIG;
	}
	pg_start(&vm_pg);
	if (loop_run(&vm_loop) != 0) {
		fprintf(stderr, "fillrelay migrate: the event loop failed\n");
		return EX_OSERR;
	}
	if (vm_pg.state != PG_READY) {
		fprintf(stderr, "fillrelay migrate: %s%s\n",
			vm_pg.state == PG_FAILED && vm_pg.stats.connects == 0
				? "cannot connect to PostgreSQL: "
				: "",
			vm_pg.state == PG_FAILED ? vm_pg.msg : "interrupted");
		pg_stop(&vm_pg);
		resolv_close(&vm_resolv);
		return vm_pg.state == PG_IDLE && vm_pg.err == 0 ? EX_TEMPFAIL : vm_exit_code(&vm_pg);
	}
	steps = vm_pg.version_after - vm_pg.version_before;
	printf("trading schema: version %d -> %d (%d step%s applied)\n", vm_pg.version_before,
	       vm_pg.version_after, steps, steps == 1 ? "" : "s");
	pg_stop(&vm_pg);
	resolv_close(&vm_resolv);
	return EX_OK;
}
