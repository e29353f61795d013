/*
 * loop.c -- poll loop, timer table and self-pipe signals.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"

static int64_t loop_real_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t loop_real_mono(void *ctx)
{
	(void)ctx;
	return loop_real_clock(CLOCK_MONOTONIC);
}

static int64_t loop_real_wall(void *ctx)
{
	(void)ctx;
	return loop_real_clock(CLOCK_REALTIME);
}

static int loop_real_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	(void)ctx;
	return poll(fds, n, timeout_ms);
}

static ssize_t loop_real_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	return read(fd, buf, n);
}

static ssize_t loop_real_write(void *ctx, int fd, const void *buf, size_t n)
{
	(void)ctx;
	return write(fd, buf, n);
}

static int loop_real_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

const struct loop_sys loop_sys_real = {
	loop_real_mono, loop_real_wall, loop_real_poll, loop_real_read,
	loop_real_write, loop_real_close, NULL,
};

/* see loop.h */
void loop_init(struct loop *l, const struct loop_sys *sys)
{
	memset(l, 0, sizeof *l);
	l->sys = sys;
	l->signal_fd = -1;
	for (int i = 0; i < LOOP_FDS_MAX; i++)
		l->fds[i].fd = -1;
	l->now_ms = sys->mono_ms(sys->ctx);
}

static struct loop_fd *loop_fd_find(struct loop *l, int fd)
{
	for (int i = 0; i < LOOP_FDS_MAX; i++)
		if (l->fds[i].fd == fd)
			return &l->fds[i];
	return NULL;
}

/* see loop.h */
int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	struct loop_fd *slot;

	assert(fn != NULL);
	if (fd < 0 || loop_fd_find(l, fd))
		return FR_EINVAL;
	slot = loop_fd_find(l, -1);
	if (!slot)
		return FR_EFULL;
	*slot = (struct loop_fd){ fd, events, fn, arg };
	return 0;
}

/* see loop.h */
int loop_fd_events(struct loop *l, int fd, short events)
{
	struct loop_fd *slot = fd < 0 ? NULL : loop_fd_find(l, fd);

	if (!slot)
		return FR_EINVAL;
	slot->events = events;
	return 0;
}

/* see loop.h */
int loop_fd_del(struct loop *l, int fd)
{
	struct loop_fd *slot = fd < 0 ? NULL : loop_fd_find(l, fd);

	if (!slot)
		return FR_EINVAL;
	slot->fd = -1;
	slot->fn = NULL;
	return 0;
}

/* see loop.h */
int loop_timer_add(struct loop *l, int64_t delay_ms, int64_t period_ms, loop_timer_fn fn,
		   void *arg)
{
	assert(fn != NULL && delay_ms >= 0 && period_ms >= 0);
	for (int id = 0; id < LOOP_TIMERS_MAX; id++) {
		if (l->timers[id].fn)
			continue;
		l->timers[id] = (struct loop_timer){ l->now_ms + delay_ms, period_ms, fn, arg };
		return id;
	}
	return FR_EFULL;
}

/* see loop.h */
int loop_timer_armed(const struct loop *l, int id)
{
	return id >= 0 && id < LOOP_TIMERS_MAX && l->timers[id].fn != NULL;
}

/* see loop.h */
int loop_timer_rearm(struct loop *l, int id, int64_t delay_ms)
{
	if (!loop_timer_armed(l, id))
		return FR_EINVAL;
	l->timers[id].due_ms = l->now_ms + delay_ms;
	return 0;
}

/* see loop.h */
int loop_timer_cancel(struct loop *l, int id)
{
	if (!loop_timer_armed(l, id))
		return FR_EINVAL;
	l->timers[id].fn = NULL;
	return 0;
}

/* see loop.h */
void loop_set_before_sleep(struct loop *l, loop_hook_fn fn, void *arg)
{
	l->before_sleep = fn;
	l->before_sleep_arg = arg;
}

/* The earliest armed timer, or -1. Ties go to the lower id, so order is stable. */
static int loop_timer_next(const struct loop *l)
{
	int best = -1;

	for (int id = 0; id < LOOP_TIMERS_MAX; id++)
		if (l->timers[id].fn &&
		    (best < 0 || l->timers[id].due_ms < l->timers[best].due_ms))
			best = id;
	return best;
}

static int loop_wait_ms(const struct loop *l, int max_wait_ms)
{
	int next = loop_timer_next(l);
	int64_t wait = max_wait_ms < 0 || max_wait_ms > LOOP_WAIT_MAX_MS ? LOOP_WAIT_MAX_MS
									 : max_wait_ms;

	if (next >= 0 && l->timers[next].due_ms - l->now_ms < wait)
		wait = l->timers[next].due_ms - l->now_ms;
	return wait < 0 ? 0 : (int)wait;
}

static int loop_dispatch_fds(struct loop *l, nfds_t n)
{
	int ran = 0;

	for (nfds_t i = 0; i < n; i++) {
		struct loop_fd *slot;

		if (!l->pfds[i].revents)
			continue;
		/* An earlier callback may have removed or replaced this fd. */
		slot = loop_fd_find(l, l->pfds[i].fd);
		if (!slot)
			continue;
		slot->fn(l, slot->fd, l->pfds[i].revents, slot->arg);
		ran++;
	}
	return ran;
}

/* Fires due timers one at a time, earliest first; a periodic timer that fell
 * behind skips the missed beats instead of firing in a burst. */
static int loop_fire_timers(struct loop *l)
{
	int ran = 0, id;

	while ((id = loop_timer_next(l)) >= 0 && l->timers[id].due_ms <= l->now_ms) {
		struct loop_timer *t = &l->timers[id];
		loop_timer_fn fn = t->fn;
		void *arg = t->arg;

		if (t->period_ms > 0) {
			t->due_ms += t->period_ms;
			if (t->due_ms <= l->now_ms)
				t->due_ms = l->now_ms + t->period_ms;
		} else {
			t->fn = NULL;
		}
		fn(l, id, arg);
		ran++;
	}
	return ran;
}

/* see loop.h */
int loop_run_once(struct loop *l, int max_wait_ms)
{
	const struct loop_sys *s = l->sys;
	nfds_t n = 0;
	int rc, wait;
	uint64_t t0 = loop_mono_us(), before;

	l->iterations++;
	l->now_ms = s->mono_ms(s->ctx);
	if (l->before_sleep)
		l->before_sleep(l, l->before_sleep_arg);
	for (int i = 0; i < LOOP_FDS_MAX; i++)
		if (l->fds[i].fd >= 0)
			l->pfds[n++] = (struct pollfd){ l->fds[i].fd, l->fds[i].events, 0 };
	wait = l->stopping ? 0 : loop_wait_ms(l, max_wait_ms);
	before = loop_mono_us() - t0; /* before-sleep work */
	rc = s->poll(s->ctx, l->pfds, n, wait);
	if (rc < 0 && errno != EINTR)
		return FR_EIO;
	t0 = loop_mono_us();
	l->now_ms = s->mono_ms(s->ctx);
	rc = rc > 0 ? loop_dispatch_fds(l, n) : 0;
	rc += loop_fire_timers(l);
	loop_lat_note(&l->busy, before + (loop_mono_us() - t0));
	return rc;
}

/* see loop.h */
int loop_run(struct loop *l)
{
	while (!l->stopping)
		if (loop_run_once(l, LOOP_WAIT_MAX_MS) == FR_EIO)
			return FR_EIO;
	return 0;
}

/* see loop.h */
void loop_stop(struct loop *l)
{
	l->stopping = 1;
}

/* ---- signals ---- */

static int loop_sig_wfd = -1;

static void loop_sig_handler(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	/* A full pipe already holds a wake-up; losing this byte loses nothing. */
	if (write(loop_sig_wfd, &b, 1) < 0)
		(void)0;
	errno = saved;
}

static void loop_sig_readable(struct loop *l, int fd, short revents, void *arg)
{
	unsigned char buf[64];
	ssize_t n;

	(void)revents;
	(void)arg;
	while ((n = l->sys->read(l->sys->ctx, fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == SIGHUP) {
				l->sighup_count++;
			} else {
				l->sigterm_count++;
				l->stopping = 1;
			}
		}
	}
	if (l->on_signal)
		l->on_signal(l, l->on_signal_arg);
}

/* see loop.h */
int loop_signals_install(struct loop *l, loop_hook_fn on_signal, void *arg)
{
	struct sigaction sa;
	int p[2], rc;

	assert(loop_sig_wfd < 0);
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return FR_EIO;
	rc = loop_fd_add(l, p[0], POLLIN, loop_sig_readable, NULL);
	if (rc < 0) {
		close(p[0]);
		close(p[1]);
		return rc;
	}
	l->signal_fd = p[0];
	l->on_signal = on_signal;
	l->on_signal_arg = arg;
	loop_sig_wfd = p[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = loop_sig_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* see loop.h */
void loop_signals_remove(struct loop *l)
{
	if (l->signal_fd < 0)
		return;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	loop_fd_del(l, l->signal_fd);
	close(l->signal_fd);
	close(loop_sig_wfd);
	l->signal_fd = -1;
	loop_sig_wfd = -1;
}

/* see loop.h */
uint64_t loop_mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* see loop.h */
const uint64_t loop_lat_le_us[LOOP_LAT_BUCKETS] = {
	50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 25000, 100000, 1000000,
};

/* see loop.h */
void loop_lat_note(struct loop_lat *h, uint64_t us)
{
	h->n++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
	for (int i = 0; i < LOOP_LAT_BUCKETS; i++)
		h->le[i] += us <= loop_lat_le_us[i];
}
