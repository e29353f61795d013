/*
 * loop.h -- the single-threaded event loop: poll over registered fds, a fixed
 * timer table, a before-sleep hook, and signals delivered through a self-pipe.
 *
 * Everything the loop asks of the outside world (clocks, poll, read, write,
 * close) goes through a struct loop_sys, so a test can run the loop in a
 * simulated world: a clock that jumps, a poll that returns what the test wants.
 *
 * Limits: LOOP_FDS_MAX registered fds, LOOP_TIMERS_MAX timers; running out is
 * FR_EFULL, never a crash. The loop owns no fd: callers register and close.
 * Callbacks may add or remove fds and timers, including their own.
 */
#ifndef FR_LOOP_H
#define FR_LOOP_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOOP_FDS_MAX 64
#define LOOP_TIMERS_MAX 64
#define LOOP_WAIT_MAX_MS 1000 /* never sleep longer: bounds a stale-timer bug's cost */

struct loop_sys {
	int64_t (*mono_ms)(void *ctx); /* monotonic clock: timers */
	int64_t (*wall_ms)(void *ctx); /* Unix epoch milliseconds: timestamps */
	int (*poll)(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms);
	ssize_t (*read)(void *ctx, int fd, void *buf, size_t n);
	ssize_t (*write)(void *ctx, int fd, const void *buf, size_t n);
	int (*close)(void *ctx, int fd);
	void *ctx;
};

/* The real world: clock_gettime, poll(2), read(2), write(2), close(2). */
extern const struct loop_sys loop_sys_real;

struct loop;
typedef void (*loop_fd_fn)(struct loop *l, int fd, short revents, void *arg);
typedef void (*loop_timer_fn)(struct loop *l, int timer_id, void *arg);
typedef void (*loop_hook_fn)(struct loop *l, void *arg);

struct loop_fd {
	int fd;              /* -1: free slot */
	short events;
	loop_fd_fn fn;
	void *arg;
};

struct loop_timer {
	int64_t due_ms;      /* monotonic */
	int64_t period_ms;   /* 0: one-shot */
	loop_timer_fn fn;    /* NULL: free slot */
	void *arg;
};

/* Durations as cumulative buckets, the way Prometheus histograms count:
 * le[i] counts those of at most loop_lat_le_us[i] microseconds. */
#define LOOP_LAT_BUCKETS 14
extern const uint64_t loop_lat_le_us[LOOP_LAT_BUCKETS];

struct loop_lat {
	uint64_t le[LOOP_LAT_BUCKETS];
	uint64_t n, max_us, sum_us;
};

struct loop {
	const struct loop_sys *sys;
	struct loop_fd fds[LOOP_FDS_MAX];
	struct pollfd pfds[LOOP_FDS_MAX];
	struct loop_timer timers[LOOP_TIMERS_MAX];
	loop_hook_fn before_sleep;
	void *before_sleep_arg;
	loop_hook_fn on_signal;      /* after a signal is noted; may be NULL */
	void *on_signal_arg;
	int64_t now_ms;              /* monotonic time at the start of this iteration */
	int stopping;                /* set by loop_stop or SIGTERM/SIGINT */
	int signal_fd;               /* read end of the self-pipe, -1 without signals */
	uint64_t sigterm_count, sighup_count;
	uint64_t iterations;
	/* Work per iteration (before-sleep step, handlers, timers: all but the
	 * poll wait), real clock: how long the loop could not answer. */
	struct loop_lat busy;
};

void loop_init(struct loop *l, const struct loop_sys *sys);

/* Registers fd for events (POLLIN/POLLOUT). FR_EFULL, or FR_EINVAL if fd is
 * already registered or negative. */
int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg);
int loop_fd_events(struct loop *l, int fd, short events); /* FR_EINVAL if unknown */
int loop_fd_del(struct loop *l, int fd);                   /* FR_EINVAL if unknown */

/* Arms a timer delay_ms from now, repeating every period_ms when > 0.
 * Returns its id (>= 0) or FR_EFULL. Ids are reused after cancel/expiry. */
int loop_timer_add(struct loop *l, int64_t delay_ms, int64_t period_ms, loop_timer_fn fn,
		   void *arg);
/* Re-arms an existing timer delay_ms from now (a watchdog's "kick"). */
int loop_timer_rearm(struct loop *l, int id, int64_t delay_ms);
int loop_timer_cancel(struct loop *l, int id); /* FR_EINVAL if not armed */
int loop_timer_armed(const struct loop *l, int id);

void loop_set_before_sleep(struct loop *l, loop_hook_fn fn, void *arg);

/*
 * One iteration: runs before_sleep, polls until the next timer is due (at most
 * max_wait_ms and LOOP_WAIT_MAX_MS; 0 does not sleep), dispatches ready fds,
 * then fires every due timer in due order. Returns the number of callbacks
 * run, or FR_EIO when poll fails for another reason than EINTR.
 */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Iterates until loop_stop or a SIGTERM/SIGINT; returns 0 or FR_EIO. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/*
 * Installs SIGTERM, SIGINT (orderly stop) and SIGHUP (counted, reported to
 * on_signal) handlers writing to a non-blocking self-pipe registered with the
 * loop, and ignores SIGPIPE. One loop per process may own the signals.
 * Returns 0 or FR_EIO / FR_EFULL.
 */
int loop_signals_install(struct loop *l, loop_hook_fn on_signal, void *arg);
void loop_signals_remove(struct loop *l);

/* CLOCK_MONOTONIC in microseconds, for durations reported as figures (fsync
 * and publish latencies); decisions use struct loop_sys, which tests control. */
uint64_t loop_mono_us(void);

void loop_lat_note(struct loop_lat *h, uint64_t us);

#endif
