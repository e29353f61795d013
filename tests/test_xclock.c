/*
 * test_xclock.c -- the exchange clock: offset from a round trip's midpoint,
 * and the log lines when it exceeds 500 ms, moves, and comes back.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "t.h"
#include "xclock.h"

static int64_t tx_wall(void *ctx)
{
	(void)ctx;
	return 1763500000000;
}

/* Runs the samples with the log going to a file; returns what was logged. */
static char *tx_log_of(struct xclock *c, const int64_t (*s)[3], int n)
{
	char path[512];
	int fd;
	char *text;

	snprintf(path, sizeof path, "%s/xclock.log", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return NULL;
	log_setup(fd, LOG_INFO, tx_wall, NULL);
	for (int i = 0; i < n; i++)
		xclock_sample(c, s[i][0], s[i][1], s[i][2]);
	log_setup(2, LOG_INFO, NULL, NULL);
	close(fd);
	text = t_read_file(path, NULL);
	return text;
}

static int tx_count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

TEST(xclock_offset_is_server_minus_midpoint)
{
	struct xclock c;

	xclock_init(&c, "main");
	T_EQ_INT(c.known, 0);
	T_EQ_INT(xclock_now(&c, 1000), 1000); /* no offset until a sample */
	xclock_sample(&c, 10300, 10000, 10200); /* midpoint 10100 */
	T_EQ_INT(c.known, 1);
	T_EQ_INT(c.offset_ms, 200);
	T_EQ_INT(xclock_now(&c, 5000), 5200);
	xclock_sample(&c, 9000, 10000, 10000); /* exchange behind */
	T_EQ_INT(c.offset_ms, -1000);
	xclock_sample(&c, 20000, 20010, 20000); /* recv before sent: taken as equal */
	T_EQ_INT(c.offset_ms, -10);
	T_EQ_INT(c.samples, 3);
}

TEST(xclock_logs_large_offsets_once_per_move)
{
	static const int64_t s[][3] = {
		{ 1100, 1000, 1000 },   /* +100: quiet */
		{ 4000, 1000, 1000 },   /* +3000: warn */
		{ 4200, 1000, 1000 },   /* +3200: same standing, quiet */
		{ 4100, 1000, 1000 },   /* quiet */
		{ 5000, 1000, 1000 },   /* +4000: moved 1000 since last warn: warn */
		{ 1400, 1000, 1000 },   /* +400: back, info */
		{ 1450, 1000, 1000 },   /* quiet */
		{ 400, 1000, 1000 },    /* -600: warn */
	};
	struct xclock c;
	char *log;

	xclock_init(&c, "acct_a");
	log = tx_log_of(&c, s, 8);
	T_REQUIRE(log != NULL);
	T_EQ_INT(tx_count(log, "msg=\"exchange clock offset\""), 3);
	T_EQ_INT(tx_count(log, "msg=\"exchange clock offset back within bounds\""), 1);
	T_CHECK(strstr(log, "account=acct_a offset_ms=3000 ") != NULL);
	T_CHECK(strstr(log, "offset_ms=4000 ") != NULL);
	T_CHECK(strstr(log, "offset_ms=-600 ") != NULL);
	T_CHECK(strstr(log, "offset_ms=3200") == NULL);
	T_CHECK(strstr(log, "level=warn") != NULL);
	free(log);
}
