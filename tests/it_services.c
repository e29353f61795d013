/*
 * it_services.c -- integration test: the PostgreSQL 15 and Redis 7 servers started by
 * tests/services.sh answer the way fillrelay will talk to them (libpq, hiredis 0.14).
 *
 * Needs the FR_TEST_* variables of DIR/env, e.g.
 *   tests/services.sh run /tmp/frsvc -- ./it_services
 * Every connection uses the numeric address (hostaddr / "127.0.0.1"): no name resolution.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "arena.h"
#include "t.h"

/* The FR_TEST_* settings; NULL fields were unset or empty. */
struct it_env {
	const char *pg_host, *pg_port, *pg_user, *pg_password, *pg_db;
	const char *redis_host, *redis_port, *redis_password;
};

static const char *it_getenv(const char *name, int *missing)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		printf("    it_services: %s is not set; run under "
		       "'tests/services.sh run DIR -- CMD' or source DIR/env\n",
		       name);
		(*missing)++;
		return NULL;
	}
	return v;
}

/* Reads every FR_TEST_* variable; returns 1 when all are set (each missing one is reported). */
static int it_env_load(struct it_env *e)
{
	int missing = 0;

	e->pg_host = it_getenv("FR_TEST_PGHOST", &missing);
	e->pg_port = it_getenv("FR_TEST_PGPORT", &missing);
	e->pg_user = it_getenv("FR_TEST_PGUSER", &missing);
	e->pg_password = it_getenv("FR_TEST_PGPASSWORD", &missing);
	e->pg_db = it_getenv("FR_TEST_PGDATABASE", &missing);
	e->redis_host = it_getenv("FR_TEST_REDIS_HOST", &missing);
	e->redis_port = it_getenv("FR_TEST_REDIS_PORT", &missing);
	e->redis_password = it_getenv("FR_TEST_REDIS_PASSWORD", &missing);
	return missing == 0;
}

static PGconn *it_pg_connect(const struct it_env *e, const char *password)
{
	const char *const keys[] = {"hostaddr",         "port",   "user",
	                            "password",         "dbname", "connect_timeout",
	                            "application_name", NULL};
	const char *const vals[] = {e->pg_host, e->pg_port, e->pg_user,     password,
	                            e->pg_db,   "10",       "fillrelay-it", NULL};

	return PQconnectdbParams(keys, vals, 0);
}

/* A connected context, or the test stops with the reason. */
static redisContext *it_redis_connect(const struct it_env *e)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(e->redis_host, atoi(e->redis_port), tv);

	T_REQUIRE(c != NULL);
	if (!T_EQ_INT(c->err, 0)) {
		printf("    it_services: Redis %s:%s: %s\n", e->redis_host, e->redis_port, c->errstr);
		redisFree(c);
		t_abort_test();
	}
	redisSetTimeout(c, tv);
	return c;
}

static const char *it_reply_type(int type)
{
	switch (type) {
	case REDIS_REPLY_STRING:
		return "string";
	case REDIS_REPLY_ARRAY:
		return "array";
	case REDIS_REPLY_INTEGER:
		return "integer";
	case REDIS_REPLY_NIL:
		return "nil";
	case REDIS_REPLY_STATUS:
		return "status";
	case REDIS_REPLY_ERROR:
		return "error";
	default:
		return "?";
	}
}

TEST(it_pg_connect_and_query)
{
	struct it_env e;
	PGconn *conn;
	PGresult *res;
	int v = PQlibVersion();

	printf("    it_services: PQlibVersion() = %d\n", v);
	T_CHECK(v >= 150000 && v < 160000);
	T_REQUIRE(it_env_load(&e));

	conn = it_pg_connect(&e, e.pg_password);
	T_REQUIRE(conn != NULL);
	if (!T_EQ_INT(PQstatus(conn), CONNECTION_OK)) {
		printf("    it_services: PostgreSQL %s:%s: %s", e.pg_host, e.pg_port,
		       PQerrorMessage(conn));
		PQfinish(conn);
		t_abort_test();
	}
	T_EQ_INT(PQconnectionUsedPassword(conn), 1);
	T_CHECK(PQserverVersion(conn) >= 150000 && PQserverVersion(conn) < 160000);

	res = PQexec(conn, "SELECT 1+1, current_user, version()");
	if (!T_EQ_INT(PQresultStatus(res), PGRES_TUPLES_OK)) {
		printf("    it_services: query failed: %s", PQerrorMessage(conn));
	} else if (T_EQ_INT(PQntuples(res), 1) && T_EQ_INT(PQnfields(res), 3)) {
		const char *ver = PQgetvalue(res, 0, 2);

		T_EQ_STR(PQgetvalue(res, 0, 0), "2");
		T_EQ_STR(PQgetvalue(res, 0, 1), "fillrelay");
		T_EQ_STR(PQgetvalue(res, 0, 1), e.pg_user);
		if (!T_CHECK(strncmp(ver, "PostgreSQL 15", 13) == 0))
			printf("      version() = \"%s\"\n", ver);
	}
	PQclear(res);
	PQfinish(conn);
}

TEST(it_pg_wrong_password)
{
	struct it_env e;
	PGconn *conn;
	const char *msg;

	T_REQUIRE(it_env_load(&e));
	conn = it_pg_connect(&e, "not_the_password");
	T_REQUIRE(conn != NULL);
	T_EQ_INT(PQstatus(conn), CONNECTION_BAD);
	msg = PQerrorMessage(conn);
	if (!T_CHECK(strstr(msg, "password authentication failed") != NULL))
		printf("      PQerrorMessage: %s", msg);
	PQfinish(conn);
}

TEST(it_redis_auth_set_get_info)
{
	struct it_env e;
	redisContext *c;
	redisReply *r;

	T_REQUIRE(it_env_load(&e));
	c = it_redis_connect(&e);

	/* requirepass is in force: nothing works before AUTH. */
	r = redisCommand(c, "GET %s", "fr:it:key");
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "error"))
		T_CHECK(strncmp(r->str, "NOAUTH", 6) == 0);
	freeReplyObject(r);

	r = redisCommand(c, "AUTH %s", e.redis_password);
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "status"))
		T_EQ_STR(r->str, "OK");
	freeReplyObject(r);

	r = redisCommand(c, "SET %s %s", "fr:it:key", "42");
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "status"))
		T_EQ_STR(r->str, "OK");
	freeReplyObject(r);

	r = redisCommand(c, "GET %s", "fr:it:key");
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "string"))
		T_EQ_STR(r->str, "42");
	freeReplyObject(r);

	r = redisCommand(c, "INFO server");
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "string")) {
		const char *ver = strstr(r->str, "redis_version:");

		if (!T_CHECK(ver != NULL && strncmp(ver, "redis_version:7.", 16) == 0))
			printf("      INFO server: %.200s\n", r->str);
	}
	freeReplyObject(r);

	r = redisCommand(c, "DEL %s", "fr:it:key");
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "integer"))
		T_EQ_INT(r->integer, 1);
	freeReplyObject(r);

	T_EQ_INT(c->err, 0);
	redisFree(c);
}

TEST(it_redis_wrong_password)
{
	struct it_env e;
	redisContext *c;
	redisReply *r;

	T_REQUIRE(it_env_load(&e));
	c = it_redis_connect(&e);
	r = redisCommand(c, "AUTH %s", "not_the_password");
	if (T_CHECK(r != NULL) && T_EQ_STR(it_reply_type(r->type), "error")) {
		/* Redis 6+: "WRONGPASS invalid username-password pair ..." */
		if (!T_CHECK(strncmp(r->str, "WRONGPASS", 9) == 0))
			printf("      AUTH reply: %s\n", r->str);
	}
	freeReplyObject(r);
	redisFree(c);
}

/*
 * Memory exhaustion inside libpq is an ordinary error, never a crash: with the
 * arena as the process allocator (product build), fail the n-th allocation of a
 * whole connect-and-query for every n until one run needs no failure at all.
 */
TEST(it_pg_survives_every_failed_allocation)
{
	struct it_env e;
	int n, refused = 0, finished = 0;

	T_REQUIRE(it_env_load(&e));
	if (arena_process_fail_nth(0) != 0) {
		T_CHECK(!arena_is_process_allocator()); /* sanitizer build: nothing to inject */
		return;
	}
	for (n = 1; n < 400 && !finished; n++) {
		PGconn *conn;
		PGresult *res;

		arena_process_fail_nth(n);
		conn = it_pg_connect(&e, e.pg_password);
		if (conn && PQstatus(conn) == CONNECTION_OK) {
			res = PQexec(conn, "SELECT 1+1");
			if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
				finished = strcmp(PQgetvalue(res, 0, 0), "2") == 0;
			PQclear(res);
		}
		refused += !finished;
		PQfinish(conn);
	}
	arena_process_fail_nth(0);
	T_CHECK(finished);  /* some n was past the last allocation */
	T_CHECK(refused > 10); /* and many runs really met a failed allocation */
	printf("    it_services: libpq met %d failed allocations without crashing\n", refused);
}

/*
 * The same for hiredis 0.14: connect, AUTH, SET, GET. Out of the box it crashes
 * here (a NULL obuf after a failed sdsempty, abort() in hi_malloc on connect);
 * third_party/patches/hiredis/01-oom-is-an-error.patch makes each an error.
 */
TEST(it_redis_survives_every_failed_allocation)
{
	struct it_env e;
	int n, refused = 0, finished = 0;

	T_REQUIRE(it_env_load(&e));
	if (arena_process_fail_nth(0) != 0) {
		T_CHECK(!arena_is_process_allocator());
		return;
	}
	for (n = 1; n < 400 && !finished; n++) {
		struct timeval tv = {5, 0};
		redisContext *c;
		redisReply *r = NULL;

		arena_process_fail_nth(n);
		c = redisConnectWithTimeout(e.redis_host, atoi(e.redis_port), tv);
		if (c && !c->err)
			r = redisCommand(c, "AUTH %s", e.redis_password);
		if (r && r->type == REDIS_REPLY_STATUS) {
			freeReplyObject(r);
			r = redisCommand(c, "SET fr:it:oom %d", n);
			if (r && r->type == REDIS_REPLY_STATUS) {
				freeReplyObject(r);
				r = redisCommand(c, "GET fr:it:oom");
				finished = r && r->type == REDIS_REPLY_STRING && atoi(r->str) == n;
			}
		}
		arena_process_fail_nth(0);
		if (c && !r)
			T_CHECK(c->err != 0); /* a failed command says why */
		freeReplyObject(r);
		refused += !finished;
		if (c)
			redisFree(c);
	}
	T_CHECK(finished);
	T_CHECK(refused > 5);
	printf("    it_services: hiredis met %d failed allocations without crashing\n", refused);
}
