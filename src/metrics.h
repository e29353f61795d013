/*
 * metrics.h -- what a running fillrelay says about itself: a registry of
 * counters and gauges rendered as Prometheus text, and a small HTTP server on
 * the loop answering GET /metrics and GET /healthz (DESIGN.md 7).
 *
 * Registry. Each entry names a metric family (name, help, type), one label
 * set (preformatted: `account="main"`, "" for none) and where its value is:
 * a uint64_t or int64_t the owner keeps current, or a function asked at
 * render time. Entries of one family are rendered together under one HELP
 * and TYPE line, in the order they were first added. Names and label values
 * are checked when added (Prometheus' name syntax; label values escaped by
 * the caller with metrics_label_escape). The registry holds pointers: the
 * values and the help texts must outlive it (names and labels are copied).
 *
 * Server. One listening socket (non-blocking, SO_REUSEADDR, CLOEXEC) and at
 * most METRICS_CONNS_MAX clients, each with a request buffer and an answer
 * buffer inside struct metrics. A client sends one request; the answer is
 * HTTP/1.1 with Content-Length and "Connection: close", then the connection
 * is closed. A request head larger than METRICS_REQ_MAX is 431, a method
 * other than GET/HEAD 405, another path 404, a client silent for
 * METRICS_CLIENT_TIMEOUT_MS is dropped; with every slot busy a new client is
 * accepted and closed at once (the loop must not spin on a full backlog).
 * /healthz asks the owner's health function for a status (200 healthy, 503
 * not) and a JSON body. Nothing is allocated.
 *
 * The metrics address is a numeric IPv4/IPv6 literal or "localhost" (the
 * caller resolves other names first: resolv.h) -- it is a listening address.
 */
#ifndef FR_METRICS_H
#define FR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"

#define METRICS_MAX 256                /* registry entries */
#define METRICS_NAME_MAX 64            /* family name */
#define METRICS_LABELS_MAX 160         /* the rendered label set */
#define METRICS_CONNS_MAX 4            /* clients at once */
#define METRICS_REQ_MAX 2048           /* request head */
#define METRICS_OUT_MAX (64 * 1024)    /* one answer, head included */
#define METRICS_CLIENT_TIMEOUT_MS 5000
#define METRICS_HEALTH_MAX 8192        /* /healthz body */

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
};

enum metrics_src {
	METRICS_SRC_U64,
	METRICS_SRC_I64,
	METRICS_SRC_FN,
};

/* A value computed at render time (a gauge such as an age). */
typedef int64_t (*metrics_value_fn)(void *ctx);

/*
 * /healthz: writes a JSON body (NUL-terminated, at most cap bytes) into buf
 * and returns 200 (healthy) or 503 (not).
 */
typedef int (*metrics_health_fn)(void *ctx, char *buf, size_t cap);

struct metrics_entry {
	char name[METRICS_NAME_MAX];
	const char *help; /* referenced: a literal */
	char labels[METRICS_LABELS_MAX];
	enum metrics_type type;
	enum metrics_src src;
	const uint64_t *u64;
	const int64_t *i64;
	metrics_value_fn fn;
	void *fn_ctx;
};

struct metrics;

struct metrics_client {
	struct metrics *owner;
	int fd; /* -1: free */
	int timer;
	size_t req_len;
	char req[METRICS_REQ_MAX];
	size_t out_off, out_len;
	char out[METRICS_OUT_MAX];
};

struct metrics_stats {
	uint64_t requests, answered_2xx, answered_4xx, answered_5xx;
	uint64_t refused_busy, timeouts, truncated;
};

struct metrics {
	struct metrics_entry e[METRICS_MAX];
	int n;
	struct loop *loop;
	int listen_fd; /* -1: not listening */
	unsigned port; /* the bound port (useful after port 0) */
	metrics_health_fn health;
	void *health_ctx;
	struct metrics_client c[METRICS_CONNS_MAX];
	struct metrics_stats st;
	char errmsg[ERR_MSG_MAX];
};

/* Readies m: empty registry, not listening. */
void metrics_init(struct metrics *m);

/*
 * Adds one entry. labels may be NULL or "" (none), else `k="v",k2="v2"`
 * (values escaped). Returns 0, FR_EFULL (registry full) or FR_EINVAL (a bad
 * name or label text, or a family re-added with another type).
 */
int metrics_add_u64(struct metrics *m, const char *name, const char *help, enum metrics_type t,
                    const char *labels, const uint64_t *v);
int metrics_add_i64(struct metrics *m, const char *name, const char *help, enum metrics_type t,
                    const char *labels, const int64_t *v);
int metrics_add_fn(struct metrics *m, const char *name, const char *help, enum metrics_type t,
                   const char *labels, metrics_value_fn fn, void *ctx);

/* Escapes a label value (\\, \", \n) into out (cap bytes, NUL-terminated);
 * returns the length or FR_ERANGE. */
int metrics_label_escape(char *out, size_t cap, const char *value);

/* Renders every entry as Prometheus text exposition (version 0.0.4) into
 * buf; returns the length (NUL-terminated) or FR_ERANGE when it does not
 * fit (buf then holds a valid prefix ending at a line). */
int metrics_render(const struct metrics *m, char *buf, size_t cap);

/*
 * Listens on host:port ("127.0.0.1", "::1", "localhost", "0.0.0.0"; port 0:
 * any free one, see m->port) and serves on l. health may be NULL (then
 * /healthz is 200 {"status":"ok"}). Returns 0, FR_EINVAL (host is not a
 * literal), FR_EIO (socket/bind/listen failed: m->errmsg says why) or
 * FR_EFULL (loop fd table full).
 */
int metrics_listen(struct metrics *m, struct loop *l, const char *host, unsigned port,
                   metrics_health_fn health, void *health_ctx);

/* Closes the listening socket and every client. Idempotent. */
void metrics_close(struct metrics *m);

#endif
