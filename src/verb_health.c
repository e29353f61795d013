/*
 * verb_health.c -- see verb_health.h. A plain blocking client: the verb runs
 * alone, without the loop, and every step is bounded by one deadline.
 */
#define _GNU_SOURCE
#include "verb_health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "resolv.h"

#define VERB_HEALTH_ANSWER_MAX 16384

static int64_t vh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int verb_health_parse_addr(const char *s, char *host, unsigned cap, unsigned *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= cap || (s[0] != '[' && memchr(h, ':', hl)))
		return -1; /* an IPv6 literal needs its brackets */
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || p == 0 || p > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (unsigned)p;
	return 0;
}

static int vh_wait(int fd, short ev, int64_t deadline)
{
	struct pollfd p = { fd, ev, 0 };
	int64_t left = deadline - vh_now_ms();

	if (left <= 0)
		return -1;
	return poll(&p, 1, (int)left) == 1 ? 0 : -1;
}

/* Connects with the deadline; the socket or -1 (errno set). */
static int vh_connect(const char *host, unsigned port, int64_t deadline)
{
	struct sockaddr_storage ss;
	struct resolv_addr a;
	socklen_t len;
	int fd, err = 0;

	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (!resolv_literal(host, &a)) {
		errno = EINVAL;
		return -1;
	}
	len = resolv_addr_sockaddr(&a, (uint16_t)port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		socklen_t el = sizeof err;

		if (errno != EINPROGRESS || vh_wait(fd, POLLOUT, deadline) != 0) {
			err = errno == EINPROGRESS ? ETIMEDOUT : errno;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) {
			err = errno;
		}
	}
	if (err) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Sends the request and reads the answer until the server closes; its
 * length, or -1. */
static int vh_exchange(int fd, const char *host, char *buf, size_t cap, int64_t deadline)
{
	char req[256];
	int n = snprintf(req, sizeof req,
	                 "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
	size_t off = 0, len = 0;

	while (off < (size_t)n) {
		ssize_t w = write(fd, req + off, (size_t)n - off);

		if (w < 0 && errno == EAGAIN && vh_wait(fd, POLLOUT, deadline) == 0)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	for (;;) {
		ssize_t r;

		if (len + 1 >= cap)
			break;
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EAGAIN) {
			if (vh_wait(fd, POLLIN, deadline) != 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return (int)len;
}

int verb_health(const char *host, unsigned port)
{
	static char answer[VERB_HEALTH_ANSWER_MAX];
	int64_t deadline = vh_now_ms() + VERB_HEALTH_TIMEOUT_MS;
	int fd = vh_connect(host, port, deadline), n, status = 0;
	const char *body;

	if (fd < 0) {
		fprintf(stderr, "fillrelay health: %s:%u: %s\n", host, port, strerror(errno));
		return 1;
	}
	n = vh_exchange(fd, host, answer, sizeof answer, deadline);
	close(fd);
	if (n < 0) {
		fprintf(stderr, "fillrelay health: %s:%u: %s\n", host, port, strerror(errno));
		return 1;
	}
	if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "fillrelay health: %s:%u: not an HTTP answer\n", host, port);
		return 1;
	}
	body = strstr(answer, "\r\n\r\n");
	body = body ? body + 4 : "";
	fputs(body, stdout);
	if (*body && body[strlen(body) - 1] != '\n')
		fputc('\n', stdout);
	if (status != 200) {
		fprintf(stderr, "fillrelay health: %s:%u answered %d: unhealthy\n", host, port, status);
		return 1;
	}
	return 0;
}
