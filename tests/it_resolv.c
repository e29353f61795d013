/*
 * it_resolv.c -- integration test: the resolver on the real loop (poll(2),
 * the monotonic clock) against tests/dns_stub.py on 127.0.0.1.
 *
 * One stub serves every test, started on first use (python3 from PATH;
 * FR_DNS_STUB overrides the script's path, which is otherwise taken beside
 * this file as compiled, e.g. "tests/dns_stub.py" from the repository root)
 * and stopped at exit; it also exits by itself when this process dies. Each
 * test asks for its own names, so the stub's per-name question counts
 * (read with a "stub:count NAME" control datagram) belong to one test.
 *
 * resolv.conf points at the stub with the "nameserver 127.0.0.1:PORT"
 * extension (see resolv.h). Total time: about 6 s, mostly the slow name,
 * the timeouts and the retry.
 */
#define _GNU_SOURCE
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

#include "err.h"
#include "loop.h"
#include "resolv.h"
#include "t.h"

static const char it_stub_names[] =
    "{\"names\": {\n"
    " \"fast.test\": {\"A\": [\"10.1.2.3\"], \"AAAA\": [\"2001:db8::1\"], \"ttl\": 60},\n"
    " \"slow.test\": {\"A\": [\"10.2.2.2\"], \"delay\": 2.0},\n"
    " \"quick.test\": {\"A\": [\"10.3.3.3\"]},\n"
    " \"drop.test\": {\"mode\": \"drop\"},\n"
    " \"retry.test\": {\"A\": [\"10.9.9.9\"]},\n"
    " \"refused.test\": {\"A\": [\"10.9.9.10\"]},\n"
    " \"servfail.test\": {\"rcode\": 2},\n"
    " \"trunc.test\": {\"A\": [\"10.1.1.1\"], \"mode\": \"truncated\"},\n"
    " \"wrongid.test\": {\"A\": [\"10.4.4.4\"], \"mode\": \"wrong_id_first\"},\n"
    " \"garbage.test\": {\"A\": [\"10.5.5.5\"], \"mode\": \"garbage_first\"},\n"
    " \"spoof.test\": {\"A\": [\"10.6.6.6\"], \"mode\": \"spoof_first\", \"spoof\": \"6.6.6.6\"},\n"
    " \"alias.test\": {\"cname\": \"mid.test\", \"ttl\": 300},\n"
    " \"mid.test\": {\"cname\": \"edge.test\", \"ttl\": 30},\n"
    " \"edge.test\": {\"A\": [\"10.7.7.7\", \"10.7.7.8\"], \"ttl\": 20},\n"
    " \"cached.test\": {\"A\": [\"10.8.8.8\"], \"ttl\": 300}\n"
    "}}\n";

static pid_t it_stub_pid = -1;
static unsigned it_stub_port;

static void it_stub_stop(void)
{
	if (it_stub_pid <= 0)
		return;
	kill(it_stub_pid, SIGTERM);
	waitpid(it_stub_pid, NULL, 0);
	it_stub_pid = -1;
}

/* tests/dns_stub.py, found beside this source file. */
static const char *it_stub_path(void)
{
	static char path[512];
	const char *env = getenv("FR_DNS_STUB");
	const char *slash = strrchr(__FILE__, '/');
	int dir = slash ? (int)(slash - __FILE__ + 1) : 0;

	if (env && *env)
		return env;
	snprintf(path, sizeof path, "%.*sdns_stub.py", dir, __FILE__);
	return path;
}

static const char *it_write(const char *name, const char *text)
{
	static char paths[4][300];
	static int k;
	char *p = paths[k = (k + 1) % 4];
	int fd;

	snprintf(p, sizeof paths[0], "%s/%s", t_tmpdir(), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		p = NULL;
	if (fd >= 0)
		close(fd);
	return p;
}

/* Reads the stub's "ready PORT" line (10 s at most). */
static int it_stub_ready(int fd)
{
	char line[64];
	size_t len = 0;
	struct pollfd pfd = {fd, POLLIN, 0};

	while (len < sizeof line - 1 && poll(&pfd, 1, 10000) == 1) {
		ssize_t n = read(fd, line + len, sizeof line - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (strchr(line, '\n'))
			return sscanf(line, "ready %u", &it_stub_port) == 1;
	}
	return 0;
}

/* Starts the stub once per process; 1 when it is listening. */
static int it_stub_start(void)
{
	static int registered;
	const char *cfg = it_write("dns_stub.json", it_stub_names);
	const char *script = it_stub_path();
	int p[2], ok;

	if (it_stub_pid > 0)
		return 1;
	if (!cfg || pipe2(p, O_CLOEXEC) < 0)
		return 0;
	it_stub_pid = fork();
	if (it_stub_pid == 0) {
		dup2(p[1], 1);
		execlp("python3", "python3", script, "--port", "0", "--config", cfg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	ok = it_stub_pid > 0 && it_stub_ready(p[0]);
	close(p[0]);
	if (!registered && it_stub_pid > 0)
		registered = atexit(it_stub_stop) == 0;
	if (!ok) {
		printf("    it_resolv: %s did not start (python3 in PATH?)\n", script);
		it_stub_stop();
	}
	return ok;
}

/* Sends a control datagram to the stub; returns its reply as a number, or -1. */
static int it_stub_ask(const char *cmd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)it_stub_port),
	                         .sin_addr.s_addr = htonl(0x7F000001)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), v = -1;
	struct pollfd pfd = {fd, POLLIN, 0};
	char buf[32];
	ssize_t n;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    send(fd, cmd, strlen(cmd), 0) == (ssize_t)strlen(cmd) && poll(&pfd, 1, 2000) == 1 &&
	    (n = recv(fd, buf, sizeof buf - 1, 0)) > 0) {
		buf[n] = '\0';
		v = atoi(buf);
	}
	close(fd);
	return v;
}

static int it_stub_count(const char *name)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "stub:count %s", name);
	return it_stub_ask(cmd);
}

/* ---- the world: the real loop, a resolver whose resolv.conf names the stub ---- */

static struct loop it_loop;
static struct resolv it_rv;

static int64_t it_now(void)
{
	return loop_sys_real.mono_ms(NULL);
}

/* extra: resolv.conf lines before the stub's (another server), may be "". */
static void it_world(const char *extra, const char *options)
{
	char conf[512];
	const char *path;

	T_REQUIRE(it_stub_start());
	snprintf(conf, sizeof conf, "%snameserver 127.0.0.1:%u\noptions %s\n", extra, it_stub_port,
	         options);
	path = it_write("resolv.conf", conf);
	T_REQUIRE(path != NULL);
	loop_init(&it_loop, &loop_sys_real);
	T_REQUIRE(resolv_init(&it_rv, &it_loop, path, it_write("hosts", "")) == 0);
}

struct it_got {
	int calls;
	int64_t at_ms;
	struct resolv_result res;
};

static void it_on_result(struct resolv *r, int qid, const struct resolv_result *res, void *arg)
{
	struct it_got *g = arg;

	(void)r;
	(void)qid;
	g->calls++;
	g->at_ms = it_now();
	g->res = *res;
}

static int it_lookup(const char *name, int family, struct it_got *g)
{
	memset(g, 0, sizeof *g);
	return resolv_lookup(&it_rv, name, family, it_on_result, g);
}

/* Runs the loop until g has its result or timeout_ms passed. */
static void it_wait(const struct it_got *g, int timeout_ms)
{
	int64_t end = it_now() + timeout_ms;

	while (!g->calls && it_now() < end)
		loop_run_once(&it_loop, 50);
}

static void it_end(void)
{
	resolv_close(&it_rv);
}

static const char *it_astr(const struct resolv_addr *a)
{
	static char buf[4][64];
	static int k;

	k = (k + 1) % 4;
	return resolv_addr_str(a, buf[k], sizeof buf[k]);
}

TEST(resolv_it_fast_name)
{
	struct it_got g;
	int64_t t0;

	it_world("", "timeout:2 attempts:1");
	t0 = it_now();
	T_REQUIRE(it_lookup("fast.test", AF_UNSPEC, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.calls, 1);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.source, RESOLV_SRC_DNS);
	T_EQ_INT(g.res.n, 2);
	T_EQ_STR(it_astr(&g.res.addrs[0]), "10.1.2.3");
	T_EQ_STR(it_astr(&g.res.addrs[1]), "2001:db8::1");
	T_EQ_INT(g.res.ttl_s, 60);
	T_CHECK(g.at_ms - t0 < 500);
	T_EQ_INT(it_stub_count("fast.test"), 2); /* A and AAAA */
	it_end();
}

/*
 * The acceptance test: a name the server answers only after 2 s does not
 * delay the other timers of the loop -- another account's pings -- nor a
 * second lookup made meanwhile.
 */
struct it_ticker {
	int64_t last_ms, max_gap_ms;
	int ticks;
	const struct it_got *slow;
};

static void it_tick(struct loop *l, int id, void *arg)
{
	struct it_ticker *t = arg;
	int64_t now = it_now();

	(void)l;
	(void)id;
	if (!t->slow->calls && now - t->last_ms > t->max_gap_ms)
		t->max_gap_ms = now - t->last_ms;
	t->last_ms = now;
	t->ticks++;
}

TEST(resolv_it_slow_name_does_not_block_the_loop)
{
	struct it_got slow, quick;
	struct it_ticker tk = {0, 0, 0, &slow};
	int64_t t0;
	int timer;

	it_world("", "timeout:4 attempts:1");
	t0 = tk.last_ms = it_now();
	timer = loop_timer_add(&it_loop, 100, 100, it_tick, &tk);
	T_REQUIRE(timer >= 0);
	T_REQUIRE(it_lookup("slow.test", AF_INET, &slow) >= 0);
	T_REQUIRE(it_lookup("quick.test", AF_INET, &quick) >= 0);
	it_wait(&slow, 5000);
	loop_timer_cancel(&it_loop, timer);
	T_EQ_INT(slow.res.status, RESOLV_OK);
	T_EQ_STR(it_astr(&slow.res.addrs[0]), "10.2.2.2");
	T_CHECK(slow.at_ms - t0 >= 1900);
	T_EQ_INT(quick.res.status, RESOLV_OK);
	T_EQ_STR(it_astr(&quick.res.addrs[0]), "10.3.3.3");
	T_CHECK(quick.at_ms - t0 < 500);
	T_CHECK(tk.ticks >= 15);
	T_CHECK(tk.max_gap_ms < 300);
	printf("    slow %lld ms, quick %lld ms, %d ticks, largest gap %lld ms\n",
	       (long long)(slow.at_ms - t0), (long long)(quick.at_ms - t0), tk.ticks,
	       (long long)tk.max_gap_ms);
	it_end();
}

/* Silence: attempts tries of timeout each, then TIMEOUT; the stub saw both. */
TEST(resolv_it_timeout_after_attempts)
{
	struct it_got g;
	int64_t t0;

	it_world("", "timeout:1 attempts:2");
	t0 = it_now();
	T_REQUIRE(it_lookup("drop.test", AF_INET, &g) >= 0);
	it_wait(&g, 4000);
	T_EQ_INT(g.res.status, RESOLV_TIMEOUT);
	T_EQ_INT(g.res.err, FR_ETIMEDOUT);
	T_EQ_STR(g.res.msg, "no answer after 2 tries (1 servers x 2 attempts, 1000 ms each)");
	T_CHECK(g.at_ms - t0 >= 1950 && g.at_ms - t0 < 2600);
	T_EQ_INT(it_stub_count("drop.test"), 2);
	it_end();
}

/* A first server that swallows questions: the stub answers the second try. */
TEST(resolv_it_retry_on_next_server)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
	socklen_t len = sizeof sa;
	int hole = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char extra[64];
	struct it_got g;
	int64_t t0;

	T_REQUIRE(hole >= 0 && bind(hole, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	          getsockname(hole, (struct sockaddr *)&sa, &len) == 0);
	snprintf(extra, sizeof extra, "nameserver 127.0.0.1:%u\n", ntohs(sa.sin_port));
	it_world(extra, "timeout:1 attempts:1");
	t0 = it_now();
	T_REQUIRE(it_lookup("retry.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_STR(it_astr(&g.res.addrs[0]), "10.9.9.9");
	T_CHECK(g.at_ms - t0 >= 950 && g.at_ms - t0 < 1500);
	T_EQ_INT(it_stub_count("retry.test"), 1);
	close(hole);

	/* Nobody on the first server's port: ICMP says so, no timeout is waited. */
	it_end();
	it_world(extra, "timeout:1 attempts:1");
	t0 = it_now();
	T_REQUIRE(it_lookup("refused.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_CHECK(g.at_ms - t0 < 500);
	it_end();
}

TEST(resolv_it_nxdomain_servfail_truncated)
{
	char want[64];
	struct it_got g;

	it_world("", "timeout:1 attempts:2");
	T_REQUIRE(it_lookup("missing.test", AF_UNSPEC, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.status, RESOLV_NXDOMAIN);
	snprintf(want, sizeof want, "NXDOMAIN from 127.0.0.1:%u", it_stub_port);
	T_EQ_STR(g.res.msg, want);
	T_CHECK(it_stub_count("missing.test") >= 1);

	T_REQUIRE(it_lookup("servfail.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.status, RESOLV_SERVFAIL);
	T_CHECK(strstr(g.res.msg, "SERVFAIL (RCODE 2) from") != NULL);
	T_EQ_INT(it_stub_count("servfail.test"), 2); /* every try, none waited out */

	T_REQUIRE(it_lookup("trunc.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.status, RESOLV_TRUNCATED);
	T_EQ_INT(it_stub_count("trunc.test"), 1);
	it_end();
}

/* Wrong ids, garbage and a spoofed answer from another port are not taken. */
TEST(resolv_it_bad_datagrams_ignored)
{
	static const char *names[] = {"wrongid.test", "garbage.test", "spoof.test"};
	static const char *want[] = {"10.4.4.4", "10.5.5.5", "10.6.6.6"};
	struct it_got g;

	it_world("", "timeout:2 attempts:1");
	for (int i = 0; i < 3; i++) {
		T_REQUIRE(it_lookup(names[i], AF_INET, &g) >= 0);
		it_wait(&g, 3000);
		T_EQ_INT(g.res.status, RESOLV_OK);
		T_EQ_INT(g.res.n, 1);
		T_EQ_STR(it_astr(&g.res.addrs[0]), want[i]);
		T_EQ_INT(it_stub_count(names[i]), 1);
	}
	T_EQ_INT(it_rv.answers_ignored, 2); /* the spoof never reached the socket */
	it_end();
}

TEST(resolv_it_cname_chain)
{
	struct it_got g;

	it_world("", "timeout:2 attempts:1");
	T_REQUIRE(it_lookup("alias.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.status, RESOLV_OK);
	T_EQ_INT(g.res.n, 2);
	T_EQ_STR(it_astr(&g.res.addrs[0]), "10.7.7.7");
	T_EQ_STR(it_astr(&g.res.addrs[1]), "10.7.7.8");
	T_EQ_INT(g.res.ttl_s, 20);
	it_end();
}

/* A cache hit asks nothing; resolv_forget makes the next lookup ask again. */
TEST(resolv_it_cache_and_forget)
{
	struct it_got g;

	it_world("", "timeout:2 attempts:1");
	T_REQUIRE(it_lookup("cached.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.source, RESOLV_SRC_DNS);
	T_EQ_INT(it_stub_count("cached.test"), 1);
	T_REQUIRE(it_lookup("cached.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.source, RESOLV_SRC_CACHE);
	T_EQ_STR(it_astr(&g.res.addrs[0]), "10.8.8.8");
	T_EQ_INT(it_stub_count("cached.test"), 1);
	T_EQ_INT(resolv_forget(&it_rv, "cached.test"), 1);
	T_REQUIRE(it_lookup("cached.test", AF_INET, &g) >= 0);
	it_wait(&g, 3000);
	T_EQ_INT(g.res.source, RESOLV_SRC_DNS);
	T_EQ_INT(it_stub_count("cached.test"), 2);
	it_end();
}
