/*
 * itpeer.h -- driving the local Bybit peer (tests/peer/) from the C
 * integration tests: start it on free ports with a fresh test CA, send it
 * control commands, read its counters, stop it.
 *
 * One peer per test binary at a time (static state). Commands go through
 * curl, as a shell user would send them; the peer never runs fillrelay code.
 */
#ifndef FR_ITPEER_H
#define FR_ITPEER_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "loop.h"

struct itpeer {
	char dir[200]; /* certificates, ready file, peer.log */
	int ws_port, rest_port, ctl_port;
	char pid[32];
};

extern struct itpeer itpeer;

/* Makes certificates under t_tmpdir()/peer and starts the peer with the
 * given accounts ("KEY1:SECRET1,KEY2:SECRET2") and extra options ("" for
 * none). Registers itpeer_stop at exit. 0 or -1. */
int itpeer_start(const char *accounts, const char *extra);
/* Shuts the peer down (idempotent). */
void itpeer_stop(void);

/* Runs a shell command; its output (up to cap - 1 bytes) in out when out. */
int itpeer_sh(const char *cmd, char *out, size_t cap);
/* POSTs json to the control endpoint /name; the answer in out. */
void itpeer_ctl(const char *name, const char *json, char *out, size_t cap);
/* A peer counter for account (NULL: all accounts), -1 when unreadable. */
long itpeer_counter(const char *name, const char *account);

/* Whether the file at path contains needle (first 256 KiB). */
int itpeer_file_has(const char *path, const char *needle);
/* How many times needle occurs in the file (first 1 MiB). */
int itpeer_file_count(const char *path, const char *needle);

/* Runs l until *v >= want or timeout_ms (real monotonic) passed. */
int itpeer_run_until(struct loop *l, const uint64_t *v, uint64_t want, int timeout_ms);
/* Runs l for ms milliseconds of real time. */
void itpeer_run_for(struct loop *l, int ms);

/* The services tests/services.sh started (FR_TEST_PGHOST ... FR_TEST_REDIS_PASSWORD). */
struct itenv {
	const char *pghost, *pgport, *pguser, *pgpass, *pgdb, *rhost, *rport, *rpass;
};
/* Reads them into e: 1 when all are set, else 0. */
int itenv_read(struct itenv *e);
/* The single number sql gives in e's database (a blocking connection of its
 * own), -1 when it gives none; the test stops when it cannot connect. */
long itenv_pg_num(const struct itenv *e, const char *sql);
/* A free TCP port on 127.0.0.1 (bound, read and released). */
int itpeer_free_port(void);

/* The product binary beside this test build (FR_OBJ_DIR/../fillrelay), or
 * "" in the ASan flavour, which builds none. */
const char *itpeer_product_bin(void);
/* FR_TEST_EXEC: the wrapper that runs another architecture's binary (CI:
 * qemu-aarch64-static), or "". */
const char *itpeer_exec_wrap(void);

/* Fills a with name, key, secret, the peer's ws and rest URLs on "localhost"
 * (BearSSL matches DNS names), the four topics and the linear category. */
void itpeer_account(struct cfg_account *a, const char *name, const char *key,
                    const char *secret);

#endif
