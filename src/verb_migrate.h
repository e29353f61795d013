/*
 * verb_migrate.h -- `fillrelay migrate [-c FILE]`: connect to PostgreSQL
 * ([postgres] conninfo and password), apply the pending steps of schema.h
 * (serialised with other migrators by an advisory lock, a no-op when up to
 * date) and print the schema version before and after on standard output:
 *     trading schema: version 0 -> 1 (1 step applied)
 *
 * The connection runs in the event loop like the sink's (non-blocking libpq,
 * the host looked up by the non-blocking resolver); one attempt, bounded by the
 * connect timeout (the conninfo's connect_timeout, else PG_CONNECT_TIMEOUT_MS).
 *
 * Exit (sysexits.h): EX_OK; EX_UNAVAILABLE when PostgreSQL cannot be reached
 * (lookup, connect, authentication), with libpq's message on standard error;
 * EX_CONFIG for a conninfo libpq refuses or a database whose schema is newer
 * than this build; EX_SOFTWARE when a step fails (the message says which; the
 * schema stays at the last version that committed); EX_OSERR when the loop
 * cannot run.
 */
#ifndef FR_VERB_MIGRATE_H
#define FR_VERB_MIGRATE_H

#include "cfg.h"

int verb_migrate(const struct cfg *c);

#endif
