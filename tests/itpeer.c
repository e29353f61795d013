/*
 * itpeer.c -- see itpeer.h.
 */
#define _GNU_SOURCE
#include "itpeer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "t.h"

struct itpeer itpeer;

int itpeer_sh(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	if (!p)
		return -1;
	if (out && cap) {
		n = fread(out, 1, cap - 1, p);
		out[n] = '\0';
	} else {
		char sink[256];
		while (fread(sink, 1, sizeof sink, p) > 0) {
		}
	}
	return pclose(p);
}

void itpeer_ctl(const char *name, const char *json, char *out, size_t cap)
{
	static char cmd[8192];
	char none[64];

	snprintf(cmd, sizeof cmd, "curl -s -m 20 -d '%s' http://127.0.0.1:%d/%s", json,
	         itpeer.ctl_port, name);
	if (!out) {
		out = none;
		cap = sizeof none;
	}
	itpeer_sh(cmd, out, cap);
}

long itpeer_counter(const char *name, const char *account)
{
	char json[256], out[256];
	const char *v;

	if (account)
		snprintf(json, sizeof json,
		         "{\"counter\":\"%s\",\"account\":\"%s\",\"atleast\":0}", name, account);
	else
		snprintf(json, sizeof json, "{\"counter\":\"%s\",\"atleast\":0}", name);
	itpeer_ctl("wait", json, out, sizeof out);
	v = strstr(out, "\"value\":");
	return v ? atol(v + 8) : -1;
}

static int itpeer_atexit_done;

int itpeer_start(const char *accounts, const char *extra)
{
	char cmd[2048], path[512], line[256] = "";

	if (!itpeer_atexit_done) {
		atexit(itpeer_stop); /* a stopped test must not leave the peer running */
		itpeer_atexit_done = 1;
	}
	snprintf(itpeer.dir, sizeof itpeer.dir, "%s/peer", t_tmpdir());
	snprintf(path, sizeof path, "%s/ca.pem", itpeer.dir);
	if (access(path, R_OK) != 0) {
		snprintf(cmd, sizeof cmd, "tests/peer/mkcerts.sh %s >/dev/null 2>&1", itpeer.dir);
		if (itpeer_sh(cmd, NULL, 0) != 0)
			return -1;
	}
	snprintf(path, sizeof path, "%s/ready", itpeer.dir);
	unlink(path);
	snprintf(cmd, sizeof cmd,
	         "/usr/bin/python3 tests/peer/bybit_peer.py --dir %s --ws-port 0 --rest-port 0 "
	         "--control-port 0 --accounts %s --ready-file %s %s "
	         ">%s/peer.out 2>>%s/peer.log & echo $!",
	         itpeer.dir, accounts, path, extra ? extra : "", itpeer.dir, itpeer.dir);
	itpeer_sh(cmd, itpeer.pid, sizeof itpeer.pid);
	itpeer.pid[strcspn(itpeer.pid, "\n")] = '\0';
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			int got = fgets(line, sizeof line, f) != NULL;
			fclose(f);
			if (got && sscanf(line, "ready ws=%d rest=%d control=%d", &itpeer.ws_port,
			                  &itpeer.rest_port, &itpeer.ctl_port) == 3)
				return 0;
		}
		usleep(50000);
	}
	return -1;
}

void itpeer_stop(void)
{
	if (itpeer.ctl_port > 0)
		itpeer_ctl("shutdown", "{}", NULL, 0);
	if (itpeer.pid[0]) {
		char cmd[256];
		/* give it 2 s to exit on its own, then make sure */
		snprintf(cmd, sizeof cmd,
		         "for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 %s 2>/dev/null || exit 0; "
		         "sleep 0.2; done; kill %s 2>/dev/null",
		         itpeer.pid, itpeer.pid);
		itpeer_sh(cmd, NULL, 0);
	}
	itpeer.pid[0] = '\0';
	itpeer.ctl_port = 0;
}

static int itpeer_read(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (int)n;
}

int itpeer_file_has(const char *path, const char *needle)
{
	static char buf[1 << 18];

	return itpeer_read(path, buf, sizeof buf) >= 0 && strstr(buf, needle) != NULL;
}

int itpeer_file_count(const char *path, const char *needle)
{
	static char buf[1 << 20];
	int n = 0;

	if (itpeer_read(path, buf, sizeof buf) < 0 || !*needle)
		return 0;
	for (const char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

int itpeer_run_until(struct loop *l, const uint64_t *v, uint64_t want, int timeout_ms)
{
	int64_t end = loop_sys_real.mono_ms(loop_sys_real.ctx) + timeout_ms;

	while (*v < want && loop_sys_real.mono_ms(loop_sys_real.ctx) < end)
		loop_run_once(l, 100);
	return *v >= want;
}

void itpeer_run_for(struct loop *l, int ms)
{
	int64_t end = loop_sys_real.mono_ms(loop_sys_real.ctx) + ms;

	while (loop_sys_real.mono_ms(loop_sys_real.ctx) < end)
		loop_run_once(l, 50);
}

void itpeer_account(struct cfg_account *a, const char *name, const char *key,
                    const char *secret)
{
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	snprintf(a->api_key.value, sizeof a->api_key.value, "%s", key);
	snprintf(a->api_secret.value, sizeof a->api_secret.value, "%s", secret);
	snprintf(a->ep.ws_url.text, sizeof a->ep.ws_url.text, "wss://localhost:%d/v5/private",
	         itpeer.ws_port);
	strcpy(a->ep.ws_url.host, "localhost");
	a->ep.ws_url.port = (unsigned)itpeer.ws_port;
	strcpy(a->ep.ws_url.path, "/v5/private");
	snprintf(a->ep.rest_url.text, sizeof a->ep.rest_url.text, "https://localhost:%d",
	         itpeer.rest_port);
	strcpy(a->ep.rest_url.host, "localhost");
	a->ep.rest_url.port = (unsigned)itpeer.rest_port;
	a->ep.rest_url.path[0] = '\0';
	snprintf(a->ep.ca_file, sizeof a->ep.ca_file, "%s/ca.pem", itpeer.dir);
	a->ep.topics = CFG_TOPIC_EXECUTION | CFG_TOPIC_ORDER | CFG_TOPIC_POSITION |
	               CFG_TOPIC_WALLET;
	a->ep.categories = CFG_CAT_LINEAR;
}

const char *itpeer_product_bin(void)
{
	static char bin[300];
	size_t n;

	snprintf(bin, sizeof bin, "%s", FR_OBJ_DIR);
	n = strlen(bin);
	if (strstr(FR_OBJ_DIR, "asan") || n < 4 || strcmp(bin + n - 4, "/obj") != 0)
		return "";
	snprintf(bin + n - 4, sizeof bin - (n - 4), "/fillrelay");
	return access(bin, X_OK) == 0 ? bin : "";
}

const char *itpeer_exec_wrap(void)
{
	const char *w = getenv("FR_TEST_EXEC");

	return w ? w : "";
}

/* see itpeer.h */
int itenv_read(struct itenv *e)
{
	e->pghost = getenv("FR_TEST_PGHOST");
	e->pgport = getenv("FR_TEST_PGPORT");
	e->pguser = getenv("FR_TEST_PGUSER");
	e->pgpass = getenv("FR_TEST_PGPASSWORD");
	e->pgdb = getenv("FR_TEST_PGDATABASE");
	e->rhost = getenv("FR_TEST_REDIS_HOST");
	e->rport = getenv("FR_TEST_REDIS_PORT");
	e->rpass = getenv("FR_TEST_REDIS_PASSWORD");
	return e->pghost && e->pgport && e->pguser && e->pgpass && e->pgdb && e->rhost &&
	       e->rport && e->rpass;
}

/* see itpeer.h */
long itenv_pg_num(const struct itenv *e, const char *sql)
{
	char ci[512];
	PGconn *c;
	PGresult *r;
	long v = -1;

	snprintf(ci, sizeof ci, "hostaddr=%s port=%s dbname=%s user=%s password=%s", e->pghost,
	         e->pgport, e->pgdb, e->pguser, e->pgpass);
	c = PQconnectdb(ci);
	T_REQUIRE(PQstatus(c) == CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* see itpeer.h */
int itpeer_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t n = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	T_REQUIRE(getsockname(fd, (struct sockaddr *)&a, &n) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}
