/*
 * metrics.c -- see metrics.h.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolv.h"

/* ---- registry ------------------------------------------------------------ */

void metrics_init(struct metrics *m)
{
	memset(m->e, 0, sizeof m->e);
	m->n = 0;
	m->loop = NULL;
	m->listen_fd = -1;
	m->port = 0;
	m->health = NULL;
	m->health_ctx = NULL;
	for (int i = 0; i < METRICS_CONNS_MAX; i++) {
		m->c[i].owner = m;
		m->c[i].fd = -1;
		m->c[i].timer = -1;
	}
	memset(&m->st, 0, sizeof m->st);
	m->errmsg[0] = '\0';
}

/* Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]* */
static int metrics_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= METRICS_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == ':'))
			return 0;
	}
	return 1;
}

/* `k="v",...`: label names as metric names without ':', values quoted with
 * only escaped quotes, backslashes and no raw newline inside. */
static int metrics_labels_ok(const char *s)
{
	size_t i = 0, n = strlen(s);

	if (n >= METRICS_LABELS_MAX)
		return 0;
	while (i < n) {
		size_t k = i;

		while (k < n && s[k] != '=') {
			char c = s[k];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			      (k > i && c >= '0' && c <= '9')))
				return 0;
			k++;
		}
		if (k == i || k + 1 >= n || s[k + 1] != '"')
			return 0;
		for (k += 2; k < n && s[k] != '"'; k++) {
			if (s[k] == '\n')
				return 0;
			if (s[k] == '\\' && (k + 1 >= n || !strchr("\\\"n", s[++k])))
				return 0;
		}
		if (k >= n)
			return 0; /* unterminated value */
		i = k + 1;
		if (i < n && s[i++] != ',')
			return 0;
		if (i == n && s[n - 1] == ',')
			return 0;
	}
	return 1;
}

static int metrics_add(struct metrics *m, const char *name, const char *help,
                       enum metrics_type t, const char *labels, struct metrics_entry *tmpl)
{
	struct metrics_entry *e;

	if (!labels)
		labels = "";
	if (!metrics_name_ok(name) || !help || !metrics_labels_ok(labels))
		return FR_EINVAL;
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->e[i].name, name) == 0 && m->e[i].type != t)
			return FR_EINVAL;
	if (m->n == METRICS_MAX)
		return FR_EFULL;
	e = &m->e[m->n++];
	*e = *tmpl;
	snprintf(e->name, sizeof e->name, "%s", name);
	snprintf(e->labels, sizeof e->labels, "%s", labels);
	e->help = help;
	e->type = t;
	return 0;
}

int metrics_add_u64(struct metrics *m, const char *name, const char *help, enum metrics_type t,
                    const char *labels, const uint64_t *v)
{
	struct metrics_entry e = { .src = METRICS_SRC_U64, .u64 = v };

	assert(v);
	return metrics_add(m, name, help, t, labels, &e);
}

int metrics_add_i64(struct metrics *m, const char *name, const char *help, enum metrics_type t,
                    const char *labels, const int64_t *v)
{
	struct metrics_entry e = { .src = METRICS_SRC_I64, .i64 = v };

	assert(v);
	return metrics_add(m, name, help, t, labels, &e);
}

int metrics_add_fn(struct metrics *m, const char *name, const char *help, enum metrics_type t,
                   const char *labels, metrics_value_fn fn, void *ctx)
{
	struct metrics_entry e = { .src = METRICS_SRC_FN, .fn = fn, .fn_ctx = ctx };

	assert(fn);
	return metrics_add(m, name, help, t, labels, &e);
}

int metrics_label_escape(char *out, size_t cap, const char *value)
{
	size_t o = 0;

	for (const char *p = value; *p; p++) {
		const char *rep = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
		size_t k = rep ? 2 : 1;

		if (o + k >= cap)
			return FR_ERANGE;
		memcpy(out + o, rep ? rep : p, k);
		o += k;
	}
	if (cap == 0)
		return FR_ERANGE;
	out[o] = '\0';
	return (int)o;
}

/* Appends one formatted line; once one does not fit, the buffer ends at
 * the last whole line and *over is set. */
struct metrics_out {
	char *buf;
	size_t cap, len;
	int over;
};

__attribute__((format(printf, 2, 3))) static void mo_line(struct metrics_out *o,
                                                          const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->over = 1;
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

static void metrics_render_entry(const struct metrics_entry *e, struct metrics_out *o)
{
	char value[32];

	if (e->src == METRICS_SRC_U64)
		snprintf(value, sizeof value, "%" PRIu64, *e->u64);
	else if (e->src == METRICS_SRC_I64)
		snprintf(value, sizeof value, "%" PRId64, *e->i64);
	else
		snprintf(value, sizeof value, "%" PRId64, e->fn(e->fn_ctx));
	if (e->labels[0])
		mo_line(o, "%s{%s} %s\n", e->name, e->labels, value);
	else
		mo_line(o, "%s %s\n", e->name, value);
}

int metrics_render(const struct metrics *m, char *buf, size_t cap)
{
	struct metrics_out o = { buf, cap, 0, cap == 0 };

	if (cap > 0)
		buf[0] = '\0';
	for (int i = 0; i < m->n; i++) {
		int first = 1;

		for (int k = 0; k < i; k++)
			if (strcmp(m->e[k].name, m->e[i].name) == 0)
				first = 0;
		if (!first)
			continue; /* rendered with its family */
		mo_line(&o, "# HELP %s %s\n# TYPE %s %s\n", m->e[i].name, m->e[i].help,
		        m->e[i].name, m->e[i].type == METRICS_COUNTER ? "counter" : "gauge");
		for (int k = i; k < m->n; k++)
			if (strcmp(m->e[k].name, m->e[i].name) == 0)
				metrics_render_entry(&m->e[k], &o);
	}
	return o.over ? FR_ERANGE : (int)o.len;
}

/* ---- server -------------------------------------------------------------- */

static void metrics_client_close(struct metrics *m, struct metrics_client *c)
{
	if (c->timer >= 0)
		loop_timer_cancel(m->loop, c->timer);
	c->timer = -1;
	if (c->fd >= 0) {
		loop_fd_del(m->loop, c->fd);
		m->loop->sys->close(m->loop->sys->ctx, c->fd);
	}
	c->fd = -1;
}

static void metrics_on_timeout(struct loop *l, int id, void *arg)
{
	struct metrics_client *c = arg;

	(void)l;
	(void)id;
	c->timer = -1; /* one-shot: the loop freed it */
	c->owner->st.timeouts++;
	metrics_client_close(c->owner, c);
}

/* The answer: status line, headers, body (omitted for HEAD). */
static void metrics_answer(struct metrics *m, struct metrics_client *c, int status,
                           const char *ctype, const char *body, size_t body_len, int head_only)
{
	static const char *const reasons[] = { [200] = "OK",  [400] = "Bad Request",
		                               [404] = "Not Found", [405] = "Method Not Allowed",
		                               [431] = "Request Header Fields Too Large",
		                               [500] = "Internal Server Error",
		                               [503] = "Service Unavailable" };
	int n = snprintf(c->out, sizeof c->out,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	                 status, reasons[status] ? reasons[status] : "", ctype, body_len);

	assert(n > 0 && (size_t)n < sizeof c->out);
	if (!head_only) {
		if (body_len > sizeof c->out - (size_t)n)
			body_len = sizeof c->out - (size_t)n; /* cannot happen: callers bound it */
		memmove(c->out + n, body, body_len);
		n += (int)body_len;
	}
	c->out_off = 0;
	c->out_len = (size_t)n;
	if (status < 300)
		m->st.answered_2xx++;
	else if (status < 500)
		m->st.answered_4xx++;
	else
		m->st.answered_5xx++;
}

#define METRICS_TEXT "text/plain; version=0.0.4; charset=utf-8"

/* The request head is complete in c->req: route it. */
static void metrics_route(struct metrics *m, struct metrics_client *c)
{
	static char health[METRICS_HEALTH_MAX];
	char *sp1 = memchr(c->req, ' ', c->req_len), *sp2, *q;
	size_t path_len;
	int head_only, status;

	m->st.requests++;
	sp2 = sp1 ? memchr(sp1 + 1, ' ', c->req_len - (size_t)(sp1 + 1 - c->req)) : NULL;
	if (!sp1 || !sp2) {
		metrics_answer(m, c, 400, "text/plain", "bad request\n", 12, 0);
		return;
	}
	head_only = sp1 - c->req == 4 && memcmp(c->req, "HEAD", 4) == 0;
	if (!head_only && !(sp1 - c->req == 3 && memcmp(c->req, "GET", 3) == 0)) {
		metrics_answer(m, c, 405, "text/plain", "only GET\n", 9, 0);
		return;
	}
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	path_len = (size_t)((q ? q : sp2) - (sp1 + 1));
	if (path_len == 8 && memcmp(sp1 + 1, "/metrics", 8) == 0) {
		/* render behind the largest possible head, then answer from there */
		static char body[METRICS_OUT_MAX];
		int n = metrics_render(m, body, sizeof body - 256);

		if (n < 0) {
			m->st.truncated++;
			n = (int)strlen(body);
		}
		metrics_answer(m, c, 200, METRICS_TEXT, body, (size_t)n, head_only);
		return;
	}
	if (path_len == 8 && memcmp(sp1 + 1, "/healthz", 8) == 0) {
		status = 200;
		if (m->health)
			status = m->health(m->health_ctx, health, sizeof health);
		else
			snprintf(health, sizeof health, "{\"status\":\"ok\"}\n");
		health[sizeof health - 1] = '\0';
		metrics_answer(m, c, status == 200 ? 200 : 503, "application/json", health,
		               strlen(health), head_only);
		return;
	}
	metrics_answer(m, c, 404, "text/plain", "not found: try /metrics or /healthz\n", 36, 0);
}

static void metrics_client_write(struct metrics *m, struct metrics_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = m->loop->sys->write(m->loop->sys->ctx, c->fd, c->out + c->out_off,
		                                c->out_len - c->out_off);

		if (w < 0 && errno == EAGAIN) {
			loop_fd_events(m->loop, c->fd, POLLOUT);
			return;
		}
		if (w <= 0)
			break; /* the client went away: nothing to tell anyone */
		c->out_off += (size_t)w;
	}
	metrics_client_close(m, c);
}

static void metrics_client_read(struct metrics *m, struct metrics_client *c)
{
	for (;;) {
		ssize_t r;

		if (c->req_len == sizeof c->req) {
			metrics_answer(m, c, 431, "text/plain", "request too large\n", 18, 0);
			metrics_client_write(m, c);
			return;
		}
		r = m->loop->sys->read(m->loop->sys->ctx, c->fd, c->req + c->req_len,
		                       sizeof c->req - c->req_len);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			metrics_client_close(m, c);
			return;
		}
		c->req_len += (size_t)r;
		if (memmem(c->req, c->req_len, "\r\n\r\n", 4) || memmem(c->req, c->req_len, "\n\n", 2)) {
			metrics_route(m, c);
			metrics_client_write(m, c);
			return;
		}
	}
}

static void metrics_on_client(struct loop *l, int fd, short revents, void *arg)
{
	struct metrics_client *c = arg;

	(void)l;
	assert(fd == c->fd);
	if (c->out_len > 0)
		metrics_client_write(c->owner, c);
	else if (revents & (POLLIN | POLLHUP | POLLERR))
		metrics_client_read(c->owner, c);
}

static void metrics_on_accept(struct loop *l, int fd, short revents, void *arg)
{
	struct metrics *m = arg;

	(void)l;
	(void)revents;
	for (int k = 0; k < 16; k++) { /* bounded: other fds get their turn */
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct metrics_client *c = NULL;

		if (cfd < 0)
			return;
		for (int i = 0; i < METRICS_CONNS_MAX && !c; i++)
			if (m->c[i].fd < 0)
				c = &m->c[i];
		if (!c || loop_fd_add(m->loop, cfd, POLLIN, metrics_on_client, c) < 0) {
			m->st.refused_busy++;
			m->loop->sys->close(m->loop->sys->ctx, cfd);
			continue;
		}
		c->fd = cfd;
		c->req_len = c->out_off = c->out_len = 0;
		c->timer = loop_timer_add(m->loop, METRICS_CLIENT_TIMEOUT_MS, 0, metrics_on_timeout, c);
	}
}

static int metrics_fail(struct metrics *m, int fd, const char *what)
{
	snprintf(m->errmsg, sizeof m->errmsg, "metrics: %s: %s", what, strerror(errno));
	if (fd >= 0)
		close(fd);
	return FR_EIO;
}

int metrics_listen(struct metrics *m, struct loop *l, const char *host, unsigned port,
                   metrics_health_fn health, void *health_ctx)
{
	struct sockaddr_storage ss;
	struct resolv_addr a;
	socklen_t len;
	int fd, one = 1;

	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (port > 65535)
		return FR_EINVAL;
	if (!resolv_literal(host, &a)) {
		snprintf(m->errmsg, sizeof m->errmsg, "metrics: %s is not an IP address", host);
		return FR_EINVAL;
	}
	len = resolv_addr_sockaddr(&a, (uint16_t)port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return metrics_fail(m, -1, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		return metrics_fail(m, fd, "bind");
	if (listen(fd, 16) != 0)
		return metrics_fail(m, fd, "listen");
	len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	m->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
	m->loop = l;
	m->health = health;
	m->health_ctx = health_ctx;
	if (loop_fd_add(l, fd, POLLIN, metrics_on_accept, m) < 0) {
		close(fd);
		snprintf(m->errmsg, sizeof m->errmsg, "metrics: loop fd table full");
		return FR_EFULL;
	}
	m->listen_fd = fd;
	return 0;
}

void metrics_close(struct metrics *m)
{
	if (!m->loop)
		return;
	for (int i = 0; i < METRICS_CONNS_MAX; i++)
		metrics_client_close(m, &m->c[i]);
	if (m->listen_fd >= 0) {
		loop_fd_del(m->loop, m->listen_fd);
		close(m->listen_fd);
	}
	m->listen_fd = -1;
}
