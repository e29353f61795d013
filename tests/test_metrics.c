/*
 * test_metrics.c -- the registry's Prometheus text, and the server on a real
 * loop over loopback sockets: /metrics, /healthz (200 and 503), HEAD, 404,
 * 405, 431, a full house, an idle client dropped (shifted clock), and the
 * health verb against it (in a child process, since the verb blocks).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "t.h"
#include "verb_health.h"

static struct metrics tm_m;
static struct loop tm_loop;

TEST(metrics_render_families_in_order)
{
	static uint64_t fills_a = 12, fills_b = 3;
	static int64_t offset = -250;
	static char buf[4096];
	int n;

	metrics_init(&tm_m);
	T_EQ_INT(metrics_add_u64(&tm_m, "fillrelay_fills_received_total", "Fills received.",
	                         METRICS_COUNTER, "account=\"a\"", &fills_a), 0);
	T_EQ_INT(metrics_add_i64(&tm_m, "fillrelay_clock_offset_ms", "Exchange minus local.",
	                         METRICS_GAUGE, "account=\"a\"", &offset), 0);
	T_EQ_INT(metrics_add_u64(&tm_m, "fillrelay_fills_received_total", "Fills received.",
	                         METRICS_COUNTER, "account=\"b\"", &fills_b), 0);
	n = metrics_render(&tm_m, buf, sizeof buf);
	T_CHECK(n > 0);
	T_EQ_STR(buf, "# HELP fillrelay_fills_received_total Fills received.\n"
	              "# TYPE fillrelay_fills_received_total counter\n"
	              "fillrelay_fills_received_total{account=\"a\"} 12\n"
	              "fillrelay_fills_received_total{account=\"b\"} 3\n"
	              "# HELP fillrelay_clock_offset_ms Exchange minus local.\n"
	              "# TYPE fillrelay_clock_offset_ms gauge\n"
	              "fillrelay_clock_offset_ms{account=\"a\"} -250\n");
	fills_a = 13; /* values are read at render time */
	metrics_render(&tm_m, buf, sizeof buf);
	T_CHECK(strstr(buf, "{account=\"a\"} 13\n") != NULL);
	/* too small: a prefix of whole lines and FR_ERANGE */
	T_EQ_INT(metrics_render(&tm_m, buf, 120), FR_ERANGE);
	T_CHECK(strlen(buf) < 120 && buf[strlen(buf) - 1] == '\n');
}

static int64_t tm_seven(void *ctx)
{
	(void)ctx;
	return 7;
}

TEST(metrics_rejects_bad_names_labels_and_type_changes)
{
	static uint64_t v;
	char esc[64];

	metrics_init(&tm_m);
	T_EQ_INT(metrics_add_u64(&tm_m, "9bad", "h", METRICS_GAUGE, NULL, &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "bad-name", "h", METRICS_GAUGE, NULL, &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "", "h", METRICS_GAUGE, NULL, &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "ok", "h", METRICS_GAUGE, "a=b", &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "ok", "h", METRICS_GAUGE, "a=\"b", &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "ok", "h", METRICS_GAUGE, "a=\"b\",", &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "ok", "h", METRICS_GAUGE, "1a=\"b\"", &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "ok", "h", METRICS_GAUGE, "a=\"x\\q\"", &v), FR_EINVAL);
	T_EQ_INT(metrics_add_u64(&tm_m, "ok", "h", METRICS_GAUGE, "a=\"b\",c=\"d\\\"e\"", &v), 0);
	T_EQ_INT(metrics_add_fn(&tm_m, "ok", "h", METRICS_COUNTER, NULL, tm_seven, NULL), FR_EINVAL);
	T_EQ_INT(metrics_add_fn(&tm_m, "ok_fn", "h", METRICS_GAUGE, NULL, tm_seven, NULL), 0);
	T_EQ_INT(tm_m.n, 2);
	T_EQ_INT(metrics_label_escape(esc, sizeof esc, "a\"b\\c\nd"), 10);
	T_EQ_STR(esc, "a\\\"b\\\\c\\nd");
	T_EQ_INT(metrics_label_escape(esc, 4, "abcd"), FR_ERANGE);
	for (int i = tm_m.n; i < METRICS_MAX; i++)
		T_REQUIRE(metrics_add_u64(&tm_m, "many", "h", METRICS_GAUGE, NULL, &v) == 0);
	T_EQ_INT(metrics_add_u64(&tm_m, "many", "h", METRICS_GAUGE, NULL, &v), FR_EFULL);
}

/* ---- the server ---------------------------------------------------------- */

static int64_t tm_shift_ms;

static int64_t tm_mono(void *ctx)
{
	(void)ctx;
	return loop_sys_real.mono_ms(loop_sys_real.ctx) + tm_shift_ms;
}

static struct loop_sys tm_sys;
static int tm_healthy = 1;

static int tm_health(void *ctx, char *buf, size_t cap)
{
	(void)ctx;
	snprintf(buf, cap, "{\"status\":\"%s\"}\n", tm_healthy ? "ok" : "degraded");
	return tm_healthy ? 200 : 503;
}

static int tm_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tm_m.port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Sends req, runs the loop until the server closes; the answer in out. */
static size_t tm_ask(const char *req, size_t req_len, char *out, size_t cap)
{
	int fd = tm_connect();
	size_t len = 0;

	if (fd < 0)
		return 0;
	if (write(fd, req, req_len) != (ssize_t)req_len) {
		close(fd);
		return 0;
	}
	for (int i = 0; i < 400; i++) {
		ssize_t r;

		loop_run_once(&tm_loop, 10);
		r = read(fd, out + len, cap - 1 - len);
		if (r == 0)
			break;
		if (r > 0)
			len += (size_t)r;
	}
	out[len] = '\0';
	close(fd);
	return len;
}

static void tm_server(void)
{
	static uint64_t fills = 42;

	tm_sys = loop_sys_real;
	tm_sys.mono_ms = tm_mono;
	tm_shift_ms = 0;
	loop_init(&tm_loop, &tm_sys);
	metrics_init(&tm_m);
	metrics_add_u64(&tm_m, "fillrelay_fills_written_total", "Fills committed.",
	                METRICS_COUNTER, "account=\"main\"", &fills);
}

TEST(metrics_server_answers_metrics_and_healthz)
{
	static char out[METRICS_OUT_MAX + 1024], want[4096];
	const char *get_m = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

	tm_server();
	T_REQUIRE(metrics_listen(&tm_m, &tm_loop, "127.0.0.1", 0, tm_health, NULL) == 0);
	T_CHECK(tm_m.port > 0);

	T_CHECK(tm_ask(get_m, strlen(get_m), out, sizeof out) > 0);
	T_CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	T_CHECK(strstr(out, "Content-Type: text/plain; version=0.0.4") != NULL);
	metrics_render(&tm_m, want, sizeof want);
	T_CHECK(strstr(out, "\r\n\r\n") && strcmp(strstr(out, "\r\n\r\n") + 4, want) == 0);
	T_CHECK(strstr(out, "fillrelay_fills_written_total{account=\"main\"} 42\n") != NULL);

	T_CHECK(tm_ask("GET /healthz HTTP/1.0\r\n\r\n", 25, out, sizeof out) > 0);
	T_CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	T_CHECK(strstr(out, "{\"status\":\"ok\"}") != NULL);
	tm_healthy = 0;
	T_CHECK(tm_ask("GET /healthz?x=1 HTTP/1.1\n\n", 27, out, sizeof out) > 0);
	T_CHECK(strncmp(out, "HTTP/1.1 503 ", 13) == 0);
	T_CHECK(strstr(out, "degraded") != NULL);
	tm_healthy = 1;

	T_CHECK(tm_ask("HEAD /metrics HTTP/1.1\r\n\r\n", 26, out, sizeof out) > 0);
	T_CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	T_CHECK(strstr(out, "\r\n\r\n") && strstr(out, "\r\n\r\n")[4] == '\0');
	T_CHECK(strstr(out, "Content-Length: 0\r\n") == NULL); /* the GET's length */

	T_CHECK(tm_ask("GET /nope HTTP/1.1\r\n\r\n", 22, out, sizeof out) > 0);
	T_CHECK(strncmp(out, "HTTP/1.1 404 ", 13) == 0);
	T_CHECK(tm_ask("POST /metrics HTTP/1.1\r\n\r\n", 26, out, sizeof out) > 0);
	T_CHECK(strncmp(out, "HTTP/1.1 405 ", 13) == 0);
	{
		static char big[METRICS_REQ_MAX + 100];

		memset(big, 'a', sizeof big);
		memcpy(big, "GET /", 5);
		T_CHECK(tm_ask(big, sizeof big, out, sizeof out) > 0);
		T_CHECK(strncmp(out, "HTTP/1.1 431 ", 13) == 0);
	}
	T_EQ_INT(tm_m.st.requests, 6);
	T_EQ_INT(tm_m.st.answered_2xx, 3);
	T_EQ_INT(tm_m.st.answered_4xx, 3);
	T_EQ_INT(tm_m.st.answered_5xx, 1);
	metrics_close(&tm_m);
	metrics_close(&tm_m); /* idempotent */
	T_CHECK(tm_connect() < 0); /* no longer listening */
}

TEST(metrics_server_full_house_and_idle_timeout)
{
	int fds[METRICS_CONNS_MAX + 1], extra;
	char b;

	tm_server();
	T_REQUIRE(metrics_listen(&tm_m, &tm_loop, "localhost", 0, NULL, NULL) == 0);
	for (int i = 0; i <= METRICS_CONNS_MAX; i++)
		fds[i] = tm_connect();
	for (int i = 0; i < 20; i++)
		loop_run_once(&tm_loop, 10);
	/* every slot taken: the last one was accepted and closed at once */
	T_EQ_INT(tm_m.st.refused_busy, 1);
	extra = 0;
	for (int i = 0; i <= METRICS_CONNS_MAX; i++)
		if (read(fds[i], &b, 1) == 0)
			extra++;
	T_EQ_INT(extra, 1);
	/* silent clients are dropped after METRICS_CLIENT_TIMEOUT_MS */
	tm_shift_ms = METRICS_CLIENT_TIMEOUT_MS + 10;
	for (int i = 0; i < 10; i++)
		loop_run_once(&tm_loop, 10);
	T_EQ_INT(tm_m.st.timeouts, METRICS_CONNS_MAX);
	for (int i = 0; i <= METRICS_CONNS_MAX; i++) {
		T_EQ_INT(read(fds[i], &b, 1), 0);
		close(fds[i]);
	}
	/* the slots are free again */
	{
		static char out[8192];
		T_CHECK(tm_ask("GET /healthz HTTP/1.1\r\n\r\n", 25, out, sizeof out) > 0);
		T_CHECK(strstr(out, "{\"status\":\"ok\"}") != NULL);
	}
	metrics_close(&tm_m);
	T_EQ_INT(metrics_listen(&tm_m, &tm_loop, "example.com", 0, NULL, NULL), FR_EINVAL);
}

TEST(metrics_health_verb_against_the_server)
{
	char host[64];
	unsigned port = 0;
	pid_t child;
	int st, rc_ok, rc_bad, rc_none, devnull, saved;

	T_EQ_INT(verb_health_parse_addr("127.0.0.1:9464", host, sizeof host, &port), 0);
	T_EQ_STR(host, "127.0.0.1");
	T_EQ_INT(port, 9464);
	T_EQ_INT(verb_health_parse_addr("[::1]:80", host, sizeof host, &port), 0);
	T_EQ_STR(host, "::1");
	T_EQ_INT(verb_health_parse_addr("::1", host, sizeof host, &port), -1);
	T_EQ_INT(verb_health_parse_addr("h:0", host, sizeof host, &port), -1);
	T_EQ_INT(verb_health_parse_addr("h:65536", host, sizeof host, &port), -1);
	T_EQ_INT(verb_health_parse_addr(":80", host, sizeof host, &port), -1);

	tm_server();
	T_REQUIRE(metrics_listen(&tm_m, &tm_loop, "127.0.0.1", 0, tm_health, NULL) == 0);
	fflush(stdout);
	child = fork();
	T_REQUIRE(child >= 0);
	if (child == 0) { /* the server, for 4 s */
		int64_t end = loop_sys_real.mono_ms(NULL) + 4000;

		while (loop_sys_real.mono_ms(NULL) < end)
			loop_run_once(&tm_loop, 50);
		_exit(0);
	}
	/* the verb's stdout/stderr out of the test's report */
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved = dup(1);
	fflush(stdout);
	dup2(devnull, 1);
	tm_healthy = 1;
	rc_ok = verb_health("127.0.0.1", tm_m.port);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(devnull);
	kill(child, SIGTERM);
	waitpid(child, &st, 0);
	metrics_close(&tm_m);
	T_EQ_INT(rc_ok, 0);

	/* unhealthy: 503 -> 1 */
	tm_server();
	tm_healthy = 0;
	T_REQUIRE(metrics_listen(&tm_m, &tm_loop, "127.0.0.1", 0, tm_health, NULL) == 0);
	child = fork();
	T_REQUIRE(child >= 0);
	if (child == 0) {
		int64_t end = loop_sys_real.mono_ms(NULL) + 4000;

		while (loop_sys_real.mono_ms(NULL) < end)
			loop_run_once(&tm_loop, 50);
		_exit(0);
	}
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved = dup(1);
	fflush(stdout);
	dup2(devnull, 1);
	rc_bad = verb_health("127.0.0.1", tm_m.port);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(devnull);
	kill(child, SIGTERM);
	waitpid(child, &st, 0);
	port = tm_m.port;
	metrics_close(&tm_m);
	tm_healthy = 1;
	T_EQ_INT(rc_bad, 1);
	/* nobody listening -> 1 */
	rc_none = verb_health("127.0.0.1", port);
	T_EQ_INT(rc_none, 1);
}
