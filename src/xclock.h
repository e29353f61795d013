/*
 * xclock.h -- the exchange's clock as seen from here: an offset added to the
 * local wall clock, learned from the exchange's own timestamps (the private
 * pong's args[0], REST responses' "time").
 *
 * Bybit refuses an auth whose expires lies in its past and a REST timestamp
 * more than 1 s ahead of its clock (10002), so every timestamp sent is
 * local wall + offset. A sample taken around a round trip is
 * offset = server_ms - midpoint(sent, received): the error is at most half
 * the round trip, which the 5..10 s auth lead and the REST recv_window
 * absorb.
 *
 * The offset is logged (warn, with the account) when its size first exceeds
 * XCLOCK_WARN_MS and again each time it moves by more than XCLOCK_WARN_MS
 * since the last line; once it is back within XCLOCK_WARN_MS an info line
 * says so. One xclock per account, shared by its stream and REST client.
 */
#ifndef FR_XCLOCK_H
#define FR_XCLOCK_H

#include <stdint.h>

#define XCLOCK_WARN_MS 500

struct xclock {
	const char *account; /* for log lines; must outlive the clock */
	int64_t offset_ms;   /* exchange - local wall; 0 until known */
	int known;
	uint64_t samples;
	int64_t logged_ms; /* offset of the last warn line */
	int warned;        /* a warn line is standing */
};

void xclock_init(struct xclock *c, const char *account);

/* One sample: the exchange said server_ms about an exchange that left at
 * local wall sent_ms and whose answer arrived at recv_ms (recv_ms >= sent_ms;
 * a backwards pair counts as recv_ms = sent_ms). */
void xclock_sample(struct xclock *c, int64_t server_ms, int64_t sent_ms, int64_t recv_ms);

/* Exchange time for a local wall time. */
int64_t xclock_now(const struct xclock *c, int64_t local_wall_ms);

#endif
