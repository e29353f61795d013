/*
 * it_quiet.c -- the loop stays responsive and idle where it must, with real
 * sessions against the peer (tests/peer/) and a real stub DNS server
 * (tests/dns_stub.py):
 *   - a host name whose DNS answer takes 2 s does not delay the pings of
 *     another account sharing the loop;
 *   - an account whose auth is refused over and over backs off with the CPU
 *     idle between attempts (process CPU time and loop iterations measured).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bybit.h"
#include "itpeer.h"
#include "log.h"
#include "t.h"

static struct loop iq_loop;
static struct resolv iq_resolv;
static struct pem_ta_store iq_anchors;
static struct cfg_account iq_acct[2];
static struct bybit_session iq_sess[2];
static pid_t iq_stub_pid = -1;
static unsigned iq_stub_port;

static int iq_on_push(void *ctx, const char *account, const char *msg, size_t len)
{
	(void)ctx;
	(void)account;
	(void)msg;
	(void)len;
	return 0;
}

static const char *iq_write(const char *name, const char *text)
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

static void iq_stub_stop(void)
{
	if (iq_stub_pid <= 0)
		return;
	kill(iq_stub_pid, SIGTERM);
	waitpid(iq_stub_pid, NULL, 0);
	iq_stub_pid = -1;
}

/* Starts tests/dns_stub.py answering slow.test (127.0.0.1) after 2 s. */
static int iq_stub_start(void)
{
	const char *cfg = iq_write("iq_stub.json", "{\"names\": {\"slow.test\": "
	                                           "{\"A\": [\"127.0.0.1\"], \"delay\": 2.0}}}\n");
	char line[64];
	size_t len = 0;
	int p[2];

	if (!cfg || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	iq_stub_pid = fork();
	if (iq_stub_pid == 0) {
		dup2(p[1], 1);
		execlp("python3", "python3", "tests/dns_stub.py", "--port", "0", "--config", cfg,
		       (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	atexit(iq_stub_stop);
	while (iq_stub_pid > 0 && len < sizeof line - 1) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 10000) != 1 || (n = read(p[0], line + len, sizeof line - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (strchr(line, '\n'))
			break;
	}
	close(p[0]);
	line[len] = '\0';
	return sscanf(line, "ready %u", &iq_stub_port) == 1 ? 0 : -1;
}

/* Peer, log file, loop, resolver (resolv.conf names the stub when it runs). */
static int iq_world(const char *logname, int *logfd, char *logpath, size_t cap)
{
	char conf[128], path[300];

	if (itpeer.ctl_port == 0 && itpeer_start("KEY1:SECRET1,KEY2:SECRET2", "") != 0)
		return -1;
	itpeer_ctl("reset", "{\"data\":true,\"drop_connections\":true}", NULL, 0);
	snprintf(logpath, cap, "%s/%s", t_tmpdir(), logname);
	*logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (*logfd < 0)
		return -1;
	log_setup(*logfd, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	loop_init(&iq_loop, &loop_sys_real);
	snprintf(conf, sizeof conf, "nameserver 127.0.0.1:%u\noptions timeout:5 attempts:1\n",
	         iq_stub_port);
	if (resolv_init(&iq_resolv, &iq_loop, iq_write("iq_resolv.conf", conf),
	                iq_write("iq_hosts", "127.0.0.1 localhost\n")) != 0)
		return -1;
	pem_ta_init(&iq_anchors);
	snprintf(path, sizeof path, "%s/ca.pem", itpeer.dir);
	return pem_ta_load_file(&iq_anchors, path) >= 1 ? 0 : -1;
}

static void iq_world_end(int logfd)
{
	bybit_stop(&iq_sess[0]);
	bybit_stop(&iq_sess[1]);
	resolv_close(&iq_resolv);
	log_setup(2, LOG_INFO, loop_sys_real.wall_ms, loop_sys_real.ctx);
	close(logfd);
}

static int64_t iq_now(void)
{
	return loop_sys_real.mono_ms(loop_sys_real.ctx);
}

static int64_t iq_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

TEST(it_quiet_slow_dns_does_not_delay_other_accounts_pings)
{
	char logpath[400];
	int logfd;
	int64_t start, last_ping_t, gap_max = 0, resolved_after = -1;
	uint64_t last_pings;

	signal(SIGPIPE, SIG_IGN);
	T_REQUIRE(iq_stub_start() == 0);
	T_REQUIRE(iq_world("quiet_dns.log", &logfd, logpath, sizeof logpath) == 0);

	/* "fast" on localhost (the hosts file), pinging every 500 ms */
	itpeer_account(&iq_acct[0], "fast", "KEY2", "SECRET2");
	T_REQUIRE(bybit_init(&iq_sess[0], &iq_loop, &iq_resolv, &iq_anchors, &iq_acct[0], 500,
	                     5000, NULL, iq_on_push, NULL) == 0);
	T_REQUIRE(bybit_start(&iq_sess[0]) == 0);
	T_REQUIRE(itpeer_run_until(&iq_loop, &iq_sess[0].st.pongs_in, 1, 10000));

	/* "slow" names a host the stub answers after 2 s */
	itpeer_account(&iq_acct[1], "slow", "KEY1", "SECRET1");
	strcpy(iq_acct[1].ep.ws_url.host, "slow.test");
	T_REQUIRE(bybit_init(&iq_sess[1], &iq_loop, &iq_resolv, &iq_anchors, &iq_acct[1], 500,
	                     5000, NULL, iq_on_push, NULL) == 0);
	start = last_ping_t = iq_now();
	last_pings = iq_sess[0].st.pings_out;
	T_REQUIRE(bybit_start(&iq_sess[1]) == 0);
	T_EQ_INT(iq_sess[1].st.state, BYBIT_RESOLVING);

	/* 3.5 s: the slow lookup spans most of it; fast's pings go on at 500 ms */
	while (iq_now() - start < 3500) {
		loop_run_once(&iq_loop, 50);
		if (iq_sess[0].st.pings_out != last_pings) {
			int64_t t = iq_now();

			if (t - last_ping_t > gap_max)
				gap_max = t - last_ping_t;
			last_ping_t = t;
			last_pings = iq_sess[0].st.pings_out;
		}
		if (resolved_after < 0 && iq_sess[1].st.state != BYBIT_RESOLVING)
			resolved_after = iq_now() - start;
	}
	printf("    slow lookup answered after %lld ms; fast's largest gap between pings %lld ms\n",
	       (long long)resolved_after, (long long)gap_max);
	T_CHECK(resolved_after >= 1900);             /* the lookup really was slow */
	T_CHECK(gap_max >= 400 && gap_max <= 700);   /* the pings were not held up */
	T_CHECK(iq_sess[0].st.pings_out >= 6);
	T_EQ_INT(iq_sess[0].st.reconnects, 0);
	T_EQ_INT(iq_sess[0].st.state, BYBIT_LIVE);
	T_CHECK(itpeer_counter("pings", "KEY2") >= 6);
	iq_world_end(logfd);
	iq_stub_stop();
}

TEST(it_quiet_refused_auth_backs_off_with_cpu_idle)
{
	char logpath[400];
	int logfd;
	int64_t cpu0, t0;
	uint64_t it0;
	long fails;

	signal(SIGPIPE, SIG_IGN);
	T_REQUIRE(iq_world("quiet_auth.log", &logfd, logpath, sizeof logpath) == 0);
	itpeer_ctl("auth", "{\"account\":\"KEY1\",\"reject_next\":1000,\"ret_msg\":\"Params Error\","
	           "\"then\":\"keep\"}", NULL, 0);
	itpeer_account(&iq_acct[0], "refused", "KEY1", "SECRET1");
	T_REQUIRE(bybit_init(&iq_sess[0], &iq_loop, &iq_resolv, &iq_anchors, &iq_acct[0], 1000,
	                     5000, NULL, iq_on_push, NULL) == 0);
	bybit_backoff_init(&iq_sess[0].backoff, 777);
	cpu0 = iq_cpu_ms();
	it0 = iq_loop.iterations;
	t0 = iq_now();
	T_REQUIRE(bybit_start(&iq_sess[0]) == 0);
	while (iq_now() - t0 < 8000)
		loop_run_once(&iq_loop, 1000); /* sleep as long as the loop wants */

	/* backoff 0.5-1, 1-2, 2-4, 4-8 s: 3 to 5 attempts in 8 s, not dozens */
	fails = itpeer_counter("auth_fail", "KEY1");
	printf("    8 s refused: %ld auths, %llu loop iterations, %lld ms CPU (%lld ms wall)\n", fails,
	       (unsigned long long)(iq_loop.iterations - it0), (long long)(iq_cpu_ms() - cpu0),
	       (long long)(iq_now() - t0));
	T_CHECK(fails >= 3 && fails <= 5); /* the 5th could come at 7.5 s */
	T_EQ_INT(iq_sess[0].st.auth_failures, (uint64_t)fails);
	T_EQ_INT(iq_sess[0].st.lives, 0);
	/* idle between attempts: a sleeping loop wakes at most once a second
	 * (LOOP_WAIT_MAX_MS) plus the attempts' own I/O */
	T_CHECK(iq_loop.iterations - it0 < 150);
	T_CHECK(iq_cpu_ms() - cpu0 < 1500); /* generous for ASan's TLS handshakes */
	T_CHECK(itpeer_file_has(logpath, "ret_msg=\"Params Error\""));
	itpeer_ctl("auth", "{\"clear\":true}", NULL, 0);
	iq_world_end(logfd);
	itpeer_stop();
}
