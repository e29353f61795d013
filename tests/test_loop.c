/* Tests of the event loop in a simulated world: a clock the test moves, a
 * poll that sleeps by advancing that clock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "t.h"

struct sim {
	int64_t now;
	int polls;
	int last_timeout;
	int ready_fd;     /* poll reports this fd readable once, then clears it */
};

static int64_t sim_clock(void *ctx)
{
	return ((struct sim *)ctx)->now;
}

static int sim_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct sim *s = ctx;
	int ready = 0;

	s->polls++;
	s->last_timeout = timeout_ms;
	for (nfds_t i = 0; i < n; i++) {
		fds[i].revents = fds[i].fd == s->ready_fd ? (short)(fds[i].events & POLLIN) : 0;
		ready += fds[i].revents != 0;
	}
	if (ready) {
		s->ready_fd = -1;
		return ready;
	}
	s->now += timeout_ms; /* sleeping is instant in the simulation */
	return 0;
}

static ssize_t sim_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	return read(fd, buf, n);
}

static struct sim the_sim;
static const struct loop_sys sim_sys = {
	sim_clock, sim_clock, sim_poll, sim_read, NULL, NULL, &the_sim,
};

static char fired[64];
static int64_t fired_at[64];
static int nfired;

static void note(struct loop *l, int id, void *arg)
{
	(void)id;
	if (nfired < 63) {
		fired_at[nfired] = l->now_ms;
		fired[nfired++] = *(const char *)arg;
		fired[nfired] = 0;
	}
}

static void sim_reset(struct loop *l)
{
	memset(&the_sim, 0, sizeof the_sim);
	the_sim.now = 1000;
	the_sim.ready_fd = -1;
	nfired = 0;
	fired[0] = 0;
	loop_init(l, &sim_sys);
}

TEST(loop_timers_fire_in_due_order)
{
	static struct loop l;

	sim_reset(&l);
	T_CHECK(loop_timer_add(&l, 300, 0, note, "c") >= 0);
	T_CHECK(loop_timer_add(&l, 100, 0, note, "a") >= 0);
	T_CHECK(loop_timer_add(&l, 200, 0, note, "b") >= 0);
	for (int i = 0; i < 10 && nfired < 3; i++)
		loop_run_once(&l, -1);
	T_EQ_STR(fired, "abc");
	T_EQ_INT(fired_at[0], 1100);
	T_EQ_INT(fired_at[1], 1200);
	T_EQ_INT(fired_at[2], 1300);
	/* Each poll slept exactly until the next timer: no busy loop, no oversleep. */
	T_EQ_INT(the_sim.polls, 3);
}

TEST(loop_periodic_timer_and_cancel)
{
	static struct loop l;
	int id;

	sim_reset(&l);
	id = loop_timer_add(&l, 20, 20, note, "p");
	T_REQUIRE(id >= 0);
	while (l.now_ms < 1100)
		loop_run_once(&l, -1);
	T_EQ_INT(nfired, 5);
	T_EQ_INT(fired_at[4], 1100);
	T_EQ_INT(loop_timer_cancel(&l, id), 0);
	T_EQ_INT(loop_timer_cancel(&l, id), FR_EINVAL);
	for (int i = 0; i < 5; i++)
		loop_run_once(&l, -1);
	T_EQ_INT(nfired, 5);
}

TEST(loop_periodic_timer_skips_missed_beats)
{
	static struct loop l;

	sim_reset(&l);
	T_REQUIRE(loop_timer_add(&l, 10, 10, note, "p") >= 0);
	the_sim.now += 1000; /* the process was stopped for a second */
	loop_run_once(&l, 0);
	T_EQ_INT(nfired, 1);
	loop_run_once(&l, 0);
	T_EQ_INT(nfired, 1); /* no burst of 99 catch-up calls */
	loop_run_once(&l, -1);
	T_EQ_INT(nfired, 2);
	T_EQ_INT(fired_at[1] - fired_at[0], 10);
}

TEST(loop_rearm_pushes_a_watchdog_back)
{
	static struct loop l;
	int id;

	sim_reset(&l);
	id = loop_timer_add(&l, 100, 0, note, "w");
	for (int i = 0; i < 5; i++) {
		loop_run_once(&l, 50);
		T_EQ_INT(loop_timer_rearm(&l, id, 100), 0);
	}
	T_EQ_INT(nfired, 0);
	loop_run_once(&l, -1);
	loop_run_once(&l, -1);
	T_EQ_STR(fired, "w");
	T_CHECK(!loop_timer_armed(&l, id));
	T_EQ_INT(loop_timer_rearm(&l, id, 10), FR_EINVAL);
}

TEST(loop_timer_table_full_is_an_error)
{
	static struct loop l;
	int last = 0;

	sim_reset(&l);
	for (int i = 0; i < LOOP_TIMERS_MAX; i++)
		last = loop_timer_add(&l, 1000, 0, note, "x");
	T_EQ_INT(last, LOOP_TIMERS_MAX - 1);
	T_EQ_INT(loop_timer_add(&l, 1000, 0, note, "x"), FR_EFULL);
	T_EQ_INT(loop_timer_cancel(&l, 7), 0);
	T_EQ_INT(loop_timer_add(&l, 1000, 0, note, "x"), 7); /* slot reused */
}

TEST(loop_wait_is_bounded)
{
	static struct loop l;

	sim_reset(&l);
	loop_run_once(&l, -1);
	T_EQ_INT(the_sim.last_timeout, LOOP_WAIT_MAX_MS);
	loop_run_once(&l, 7);
	T_EQ_INT(the_sim.last_timeout, 7);
}

static int fd_calls;
static void on_readable(struct loop *l, int fd, short revents, void *arg)
{
	char c;

	(void)arg;
	fd_calls++;
	if (revents & POLLIN && read(fd, &c, 1) == 1 && c == 'q')
		loop_fd_del(l, fd); /* a callback may remove its own fd */
}

TEST(loop_dispatches_ready_fds)
{
	static struct loop l;
	int p[2];

	sim_reset(&l);
	T_REQUIRE(pipe(p) == 0);
	T_EQ_INT(loop_fd_add(&l, p[0], POLLIN, on_readable, NULL), 0);
	T_EQ_INT(loop_fd_add(&l, p[0], POLLIN, on_readable, NULL), FR_EINVAL);
	T_EQ_INT(loop_fd_add(&l, -1, POLLIN, on_readable, NULL), FR_EINVAL);
	T_REQUIRE(write(p[1], "q", 1) == 1);
	the_sim.ready_fd = p[0];
	fd_calls = 0;
	T_EQ_INT(loop_run_once(&l, 10), 1);
	T_EQ_INT(fd_calls, 1);
	T_EQ_INT(loop_fd_del(&l, p[0]), FR_EINVAL); /* already removed by the callback */
	close(p[0]);
	close(p[1]);
}

TEST(loop_fd_table_full_is_an_error)
{
	static struct loop l;

	sim_reset(&l);
	for (int i = 0; i < LOOP_FDS_MAX; i++)
		T_REQUIRE(loop_fd_add(&l, 1000 + i, POLLIN, on_readable, NULL) == 0);
	T_EQ_INT(loop_fd_add(&l, 5000, POLLIN, on_readable, NULL), FR_EFULL);
	T_EQ_INT(loop_fd_events(&l, 1003, POLLOUT), 0);
	T_EQ_INT(loop_fd_events(&l, 4999, POLLOUT), FR_EINVAL);
}

static int sleeps_before;
static void before_sleep(struct loop *l, void *arg)
{
	(void)l;
	(*(int *)arg)++;
}

TEST(loop_before_sleep_runs_every_iteration)
{
	static struct loop l;

	sim_reset(&l);
	sleeps_before = 0;
	loop_set_before_sleep(&l, before_sleep, &sleeps_before);
	for (int i = 0; i < 4; i++)
		loop_run_once(&l, 5);
	T_EQ_INT(sleeps_before, 4);
}

static int signals_seen;
static void on_signal(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	signals_seen++;
}

/* Real signals through the self-pipe, with the real poll. */
TEST(loop_sighup_is_noted_and_sigterm_stops)
{
	static struct loop l;
	int64_t start;

	loop_init(&l, &loop_sys_real);
	signals_seen = 0;
	T_REQUIRE(loop_signals_install(&l, on_signal, NULL) == 0);
	raise(SIGHUP);
	loop_run_once(&l, 100);
	T_EQ_INT(l.sighup_count, 1);
	T_EQ_INT(l.stopping, 0);
	T_EQ_INT(signals_seen, 1);
	raise(SIGTERM);
	start = l.now_ms;
	T_EQ_INT(loop_run(&l), 0);
	T_EQ_INT(l.sigterm_count, 1);
	T_CHECK(l.now_ms - start < 500); /* woken by the pipe, not a timeout */
	loop_signals_remove(&l);
	T_EQ_INT(l.signal_fd, -1);
}
