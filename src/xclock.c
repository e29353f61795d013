/*
 * xclock.c -- see xclock.h.
 */
#include "xclock.h"

#include <string.h>

#include "log.h"

void xclock_init(struct xclock *c, const char *account)
{
	memset(c, 0, sizeof *c);
	c->account = account ? account : "";
}

static int64_t xclock_abs(int64_t v)
{
	return v < 0 ? -v : v;
}

void xclock_sample(struct xclock *c, int64_t server_ms, int64_t sent_ms, int64_t recv_ms)
{
	if (recv_ms < sent_ms)
		recv_ms = sent_ms;
	c->offset_ms = server_ms - (sent_ms + (recv_ms - sent_ms) / 2);
	c->known = 1;
	c->samples++;
	if (xclock_abs(c->offset_ms) > XCLOCK_WARN_MS) {
		if (!c->warned || xclock_abs(c->offset_ms - c->logged_ms) > XCLOCK_WARN_MS) {
			log_warn("exchange clock offset", LS("account", c->account),
			         LI("offset_ms", c->offset_ms), LI("round_trip_ms", recv_ms - sent_ms));
			c->warned = 1;
			c->logged_ms = c->offset_ms;
		}
	} else if (c->warned) {
		log_info("exchange clock offset back within bounds", LS("account", c->account),
		         LI("offset_ms", c->offset_ms), LI("bound_ms", XCLOCK_WARN_MS));
		c->warned = 0;
		c->logged_ms = c->offset_ms;
	}
}

int64_t xclock_now(const struct xclock *c, int64_t local_wall_ms)
{
	return local_wall_ms + c->offset_ms;
}
