/*
 * pg.c -- the PostgreSQL sink (see pg.h for the contract).
 *
 * One state function per connection state; the fd callback dispatches on the
 * state. A "round" is one pipeline ended by one Sync: a batch (BEGIN, rows,
 * COMMIT) or, after a failed batch left the transaction aborted, a ROLLBACK.
 */
#define _POSIX_C_SOURCE 200809L
#include "pg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "arena.h"
#include "log.h"
#include "schema.h"

enum { PG_MIG_PROBE = 1, PG_MIG_STEP, PG_MIG_DONE };

static void pg_on_fd(struct loop *l, int fd, short revents, void *arg);
static void pg_lost(struct pg *p, const char *why);
static void pg_kick(struct pg *p);
static void pg_pause(struct pg *p);

/* ---- small helpers -------------------------------------------------------- */

static void pg_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

/* libpq's messages end in "\n" and may span lines: one line for the log. */
static void pg_set_msg(char *dst, size_t cap, const char *m)
{
	size_t n;

	pg_copy(dst, cap, m && *m ? m : "unknown error");
	for (char *c = dst; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	n = strlen(dst);
	while (n > 0 && dst[n - 1] == ' ')
		dst[--n] = 0;
}

static void pg_fail_sticky(struct pg *p, int err, const char *m)
{
	p->err = err;
	pg_set_msg(p->msg, sizeof p->msg, m);
}

static void pg_event(struct pg *p, enum pg_event ev)
{
	if (p->opts.on_event)
		p->opts.on_event(p->opts.arg, p, ev);
}

/* ---- conninfo ------------------------------------------------------------- */

static const char *pg_kv_dup(struct pg *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (p->kv_used_ + n > sizeof p->kv_text_)
		return NULL;
	d = p->kv_text_ + p->kv_used_;
	memcpy(d, s, n);
	p->kv_used_ += (uint32_t)n;
	return d;
}

static int pg_kv_add(struct pg *p, const char *k, const char *v)
{
	const char *kk, *vv;

	if (p->kv_n_ >= PG_PARAMS_MAX)
		return FR_ECONFIG;
	kk = pg_kv_dup(p, k);
	vv = pg_kv_dup(p, v);
	if (!kk || !vv)
		return FR_ECONFIG;
	p->keys_[p->kv_n_] = kk;
	p->vals_[p->kv_n_] = vv;
	p->kv_n_++;
	p->keys_[p->kv_n_] = NULL;
	p->vals_[p->kv_n_] = NULL;
	return 0;
}

/* One conninfo keyword: host and hostaddr are kept aside, the rest passed on. */
static int pg_conninfo_opt(struct pg *p, const PQconninfoOption *o, int *have)
{
	if (strcmp(o->keyword, "host") == 0) {
		if (strchr(o->val, ','))
			return FR_ECONFIG;
		pg_copy(p->host_, sizeof p->host_, o->val);
		return 0;
	}
	if (strcmp(o->keyword, "hostaddr") == 0) {
		if (strchr(o->val, ','))
			return FR_ECONFIG;
		pg_copy(p->hostaddr_, sizeof p->hostaddr_, o->val);
		return 0;
	}
	if (strcmp(o->keyword, "connect_timeout") == 0) {
		p->timeout_ms_ = 1000 * (int)strtol(o->val, NULL, 10);
		*have |= 2;
	}
	if (strcmp(o->keyword, "application_name") == 0)
		*have |= 1;
	return pg_kv_add(p, o->keyword, o->val);
}

static int pg_is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int pg_conninfo(struct pg *p, const struct cfg_postgres *pc)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(pc->conninfo, &err);
	int rc = 0, have = 0; /* 1: application_name, 2: connect_timeout given */

	if (!opts) {
		pg_fail_sticky(p, FR_ECONFIG, err ? err : "conninfo: out of memory");
		PQfreemem(err);
		return FR_ECONFIG;
	}
	for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++)
		if (o->val && *o->val && strcmp(o->keyword, "password") != 0)
			rc = pg_conninfo_opt(p, o, &have);
	PQconninfoFree(opts);
	if (rc == 0 && !(have & 1))
		rc = pg_kv_add(p, "application_name", "fillrelay");
	/* Blocking connects (start-up reads) must not wait forever for a host
	 * that drops packets; the loop's own connects have their timer. */
	if (rc == 0 && !(have & 2))
		rc = pg_kv_add(p, "connect_timeout", PG_CONNECT_TIMEOUT_S);
	if (rc == 0 && pc->password.value[0])
		rc = pg_kv_add(p, "password", pc->password.value);
	if (rc == 0 && p->host_[0])
		rc = pg_kv_add(p, "host", p->host_);
	/* A numeric host is its own address; a Unix socket directory (or an
	 * abstract socket, '@') has none; only a name needs a lookup. */
	if (!p->hostaddr_[0] && pg_is_numeric(p->host_))
		pg_copy(p->hostaddr_, sizeof p->hostaddr_, p->host_);
	if (p->hostaddr_[0] || p->host_[0] == '/' || p->host_[0] == '@')
		p->host_[0] = 0;
	/* hostaddr last, so its slot can be rewritten after each lookup. */
	if (rc == 0 && (p->host_[0] || p->hostaddr_[0])) {
		p->hostaddr_i_ = p->kv_n_;
		rc = pg_kv_add(p, "hostaddr", p->hostaddr_[0] ? p->hostaddr_ : "0.0.0.0");
	}
	if (rc != 0)
		pg_fail_sticky(p, FR_ECONFIG, "conninfo: several hosts, or too many or too long "
					      "keywords");
	return rc;
}

/* see pg.h */
int pg_init(struct pg *p, struct loop *l, struct resolv *r, const struct cfg_postgres *pc,
            const struct pg_opts *o)
{
	assert(p && l && pc);
	memset(p, 0, offsetof(struct pg, batches));
	for (int i = 0; i < PG_BATCHES_MAX; i++)
		p->batches[i].state = PG_BATCH_FREE;
	p->loop = l;
	p->resolv = r;
	if (o)
		p->opts = *o;
	p->fd_ = -1;
	p->timer_ = -1;
	p->qid_ = -1;
	p->open_ = -1;
	p->sent_ = -1;
	p->hostaddr_i_ = -1;
	p->version_before = p->version_after = -1;
	p->keys_[0] = p->vals_[0] = NULL;
	if (pg_conninfo(p, pc) != 0)
		return FR_ECONFIG;
	if (p->host_[0] && !r) {
		pg_fail_sticky(p, FR_ECONFIG, "conninfo names a host to look up but no resolver");
		return FR_ECONFIG;
	}
	/* libpq built without OpenSSL takes its SCRAM nonce from /dev/urandom and
	 * says only "could not generate nonce" when it cannot: a chroot or a
	 * container without /dev. Said once, here, with the cure. */
	if (access("/dev/urandom", R_OK) != 0)
		log_warn("/dev/urandom is not readable: PostgreSQL logins (SCRAM) will fail with "
		         "\"could not generate nonce\"; give fillrelay a /dev",
		         LS("error", strerror(errno)));
	if (p->opts.connect_timeout_ms > 0)
		p->timeout_ms_ = p->opts.connect_timeout_ms;
	else if (p->timeout_ms_ <= 0)
		p->timeout_ms_ = PG_CONNECT_TIMEOUT_MS;
	if (p->opts.backoff_min_ms <= 0)
		p->opts.backoff_min_ms = PG_BACKOFF_MIN_MS;
	if (p->opts.backoff_max_ms < p->opts.backoff_min_ms)
		p->opts.backoff_max_ms = PG_BACKOFF_MAX_MS > p->opts.backoff_min_ms
						 ? PG_BACKOFF_MAX_MS
						 : p->opts.backoff_min_ms;
	p->backoff_ms_ = p->opts.backoff_min_ms;
	return 0;
}

/* ---- connection life ------------------------------------------------------ */

static void pg_timer_clear(struct pg *p)
{
	if (p->timer_ >= 0 && loop_timer_armed(p->loop, p->timer_))
		loop_timer_cancel(p->loop, p->timer_);
	p->timer_ = -1;
}

static void pg_close_conn(struct pg *p)
{
	if (p->fd_ >= 0)
		loop_fd_del(p->loop, p->fd_);
	p->fd_ = -1;
	if (p->conn_)
		PQfinish(p->conn_);
	p->conn_ = NULL;
	pg_timer_clear(p);
	if (p->qid_ >= 0 && p->resolv)
		resolv_cancel(p->resolv, p->qid_);
	p->qid_ = -1;
	p->round_ = PG_ROUND_NONE;
	p->need_rollback_ = 0;
	p->mig_stage_ = 0;
}

/* The batch in flight goes back to the queue; its COMMIT may have landed. */
static void pg_requeue_sent(struct pg *p)
{
	struct pg_batch *b;

	if (p->sent_ < 0)
		return;
	b = &p->batches[p->sent_];
	b->state = PG_BATCH_QUEUED;
	if (b->rounds > 0)
		b->in_doubt = 1;
	p->sent_ = -1;
}

static void pg_connect_start(struct pg *p);

static void pg_on_backoff(struct loop *l, int id, void *arg)
{
	struct pg *p = arg;

	(void)l;
	(void)id;
	p->timer_ = -1;
	pg_start(p);
}

/* Logs a failed attempt: first of a series at warn, the same again at debug. */
static void pg_log_failure(struct pg *p)
{
	if (strcmp(p->last_fail_, p->msg) != 0) {
		log_warn("PostgreSQL connection failed", LS("error", p->msg),
			 LS("host", p->host_[0] ? p->host_ : p->hostaddr_));
		pg_copy(p->last_fail_, sizeof p->last_fail_, p->msg);
	} else {
		log_debug("PostgreSQL connection failed again", LS("error", p->msg));
	}
}

/* A failed attempt or a lost connection: back off, or give up. */
static void pg_retry_later(struct pg *p)
{
	pg_close_conn(p);
	pg_requeue_sent(p);
	if (!p->opts.reconnect) {
		p->state = PG_FAILED;
		pg_event(p, PG_EV_FAILED);
		return;
	}
	p->state = PG_BACKOFF;
	p->timer_ = loop_timer_add(p->loop, p->backoff_ms_, 0, pg_on_backoff, p);
	if (p->timer_ < 0) {
		pg_fail_sticky(p, FR_EFULL, "no loop timer for the reconnect backoff");
		p->state = PG_FAILED;
		pg_event(p, PG_EV_FAILED);
		return;
	}
	p->backoff_ms_ *= 2;
	if (p->backoff_ms_ > p->opts.backoff_max_ms)
		p->backoff_ms_ = p->opts.backoff_max_ms;
}

static void pg_connect_failed(struct pg *p, int err, const char *m)
{
	pg_fail_sticky(p, err, m);
	p->stats.connect_failures++;
	pg_log_failure(p);
	pg_retry_later(p);
}

/* see pg_lost's callers: a connection that worked is gone. */
static void pg_lost(struct pg *p, const char *why)
{
	pg_fail_sticky(p, FR_ECLOSED, why);
	p->stats.losses++;
	log_warn("PostgreSQL connection lost", LS("error", p->msg),
		 LI("batch_in_flight", p->sent_ >= 0));
	p->last_fail_[0] = 0;
	pg_retry_later(p);
	pg_event(p, PG_EV_LOST);
}

static void pg_fatal(struct pg *p, int err, const char *m)
{
	pg_fail_sticky(p, err, m);
	log_error("PostgreSQL sink stopped", LS("error", p->msg), LS("why", err_str(err)));
	pg_close_conn(p);
	pg_requeue_sent(p);
	p->state = PG_FAILED;
	pg_event(p, PG_EV_FAILED);
}

static void pg_on_resolved(struct resolv *r, int qid, const struct resolv_result *res, void *arg)
{
	struct pg *p = arg;

	(void)r;
	(void)qid;
	p->qid_ = -1;
	if (res->status != RESOLV_OK) {
		char m[ERR_MSG_MAX];

		snprintf(m, sizeof m, "could not look up %.80s: %.150s", p->host_, res->msg);
		pg_connect_failed(p, res->err, m);
		return;
	}
	resolv_addr_str(&res->addrs[0], p->hostaddr_, sizeof p->hostaddr_);
	pg_connect_start(p);
}

static void pg_on_connect_timeout(struct loop *l, int id, void *arg)
{
	struct pg *p = arg;
	char m[96];

	(void)l;
	(void)id;
	p->timer_ = -1;
	snprintf(m, sizeof m, "connection timed out after %d ms", p->timeout_ms_);
	pg_connect_failed(p, FR_ETIMEDOUT, m);
}

/* see pg.h */
int pg_start(struct pg *p)
{
	if (p->state != PG_IDLE && p->state != PG_BACKOFF)
		return FR_EINVAL;
	pg_timer_clear(p);
	if (!p->host_[0]) {
		pg_connect_start(p);
		return 0;
	}
	p->state = PG_RESOLVING;
	p->qid_ = resolv_lookup(p->resolv, p->host_, AF_UNSPEC, pg_on_resolved, p);
	if (p->qid_ < 0) {
		int err = p->qid_;

		p->qid_ = -1;
		pg_connect_failed(p, err, "cannot start the host name lookup");
	}
	return 0;
}

/* Watches conn's socket for events with fn(arg); *fd is the one watched (-1
 * none): libpq may change sockets while connecting. 0 or FR_EFULL. */
static int pg_watch_conn(struct loop *l, void *conn, int *fd, short events, loop_fd_fn fn,
                         void *arg)
{
	int s = PQsocket(conn);

	if (s != *fd) {
		if (*fd >= 0)
			loop_fd_del(l, *fd);
		*fd = -1;
		if (s < 0 || loop_fd_add(l, s, events, fn, arg) != 0)
			return FR_EFULL;
		*fd = s;
		return 0;
	}
	return loop_fd_events(l, s, events);
}

static int pg_watch(struct pg *p, short events)
{
	return pg_watch_conn(p->loop, p->conn_, &p->fd_, events, pg_on_fd, p);
}

/* Server notices ("already exists, skipping") would go to stderr raw. */
static void pg_notice(void *arg, const char *message)
{
	char m[ERR_MSG_MAX];

	(void)arg;
	pg_set_msg(m, sizeof m, message);
	log_debug("PostgreSQL notice", LS("notice", m));
}

static void pg_connect_start(struct pg *p)
{
	if (p->hostaddr_i_ >= 0)
		p->vals_[p->hostaddr_i_] = p->hostaddr_;
	p->state = PG_CONNECTING;
	p->conn_ = PQconnectStartParams(p->keys_, p->vals_, 0);
	if (!p->conn_) {
		pg_connect_failed(p, FR_ENOMEM, "out of memory starting a connection");
		return;
	}
	if (PQstatus(p->conn_) == CONNECTION_BAD) {
		pg_connect_failed(p, FR_EIO, PQerrorMessage(p->conn_));
		return;
	}
	PQsetNoticeProcessor(p->conn_, pg_notice, p);
	p->timer_ = loop_timer_add(p->loop, p->timeout_ms_, 0, pg_on_connect_timeout, p);
	if (pg_watch(p, POLLOUT) != 0)
		pg_connect_failed(p, FR_EFULL, "no loop slot for the PostgreSQL socket");
}

static void pg_migrate_begin(struct pg *p);

static void pg_connected(struct pg *p)
{
	pg_timer_clear(p);
	if (PQsetnonblocking(p->conn_, 1) != 0) {
		pg_connect_failed(p, FR_EIO, PQerrorMessage(p->conn_));
		return;
	}
	p->stats.connects++;
	p->backoff_ms_ = p->opts.backoff_min_ms;
	p->last_fail_[0] = 0;
	log_info("connected to PostgreSQL", LS("host", p->host_[0] ? p->host_ : p->hostaddr_),
		 LS("address", p->hostaddr_), LS("port", PQport(p->conn_)),
		 LS("database", PQdb(p->conn_)), LS("user", PQuser(p->conn_)),
		 LI("server_version", PQserverVersion(p->conn_)));
	pg_event(p, PG_EV_CONNECTED);
	if (p->state != PG_CONNECTING) /* the callback stopped us */
		return;
	if (pg_watch(p, POLLIN) != 0) {
		pg_lost(p, "no loop slot for the PostgreSQL socket");
		return;
	}
	if (p->opts.migrate) {
		pg_migrate_begin(p);
		return;
	}
	p->state = PG_READY;
	pg_kick(p);
}

static void pg_connect_step(struct pg *p)
{
	switch (PQconnectPoll(p->conn_)) {
	case PGRES_POLLING_READING:
		if (pg_watch(p, POLLIN) != 0)
			pg_connect_failed(p, FR_EFULL, "no loop slot for the PostgreSQL socket");
		return;
	case PGRES_POLLING_WRITING:
		if (pg_watch(p, POLLOUT) != 0)
			pg_connect_failed(p, FR_EFULL, "no loop slot for the PostgreSQL socket");
		return;
	case PGRES_POLLING_OK:
		pg_connected(p);
		return;
	default:
		pg_connect_failed(p, FR_EIO, PQerrorMessage(p->conn_));
		return;
	}
}

/* see pg.h */
void pg_stop(struct pg *p)
{
	pg_close_conn(p);
	pg_requeue_sent(p);
	p->state = PG_IDLE;
}

int pg_ready(const struct pg *p)
{
	return p->state == PG_READY;
}

int pg_drained(const struct pg *p)
{
	for (int i = 0; i < PG_BATCHES_MAX; i++)
		if (p->batches[i].state != PG_BATCH_FREE)
			return 0;
	return 1;
}

/* ---- I/O ------------------------------------------------------------------ */

/* Sends what libpq buffered; watches for writability while some is left. */
static int pg_flush(struct pg *p)
{
	int r = PQflush(p->conn_);

	if (r < 0) {
		pg_lost(p, PQerrorMessage(p->conn_));
		return FR_EIO;
	}
	if (pg_watch(p, r ? POLLIN | POLLOUT : POLLIN) != 0) {
		pg_lost(p, "no loop slot for the PostgreSQL socket");
		return FR_EFULL;
	}
	return 0;
}

static void pg_migrate_results(struct pg *p);
static void pg_round_results(struct pg *p);

static void pg_drop_results(struct pg *p)
{
	while (!PQisBusy(p->conn_)) { /* stray results; notices go to pg_notice */
		PGresult *r = PQgetResult(p->conn_);

		if (!r)
			break;
		PQclear(r);
	}
}

/*
 * Readable: consume, then hand the results to the state's reader. When the
 * server went away, results it sent before (a whole committed batch, say)
 * are still read first, so a batch is not resent for nothing.
 */
static void pg_on_fd(struct loop *l, int fd, short revents, void *arg)
{
	struct pg *p = arg;
	char why[ERR_MSG_MAX];
	int ok;

	(void)l;
	(void)fd;
	if (p->state == PG_CONNECTING) {
		pg_connect_step(p);
		return;
	}
	if ((revents & POLLOUT) && pg_flush(p) != 0)
		return;
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	ok = PQconsumeInput(p->conn_) && PQstatus(p->conn_) != CONNECTION_BAD;
	pg_copy(why, sizeof why, PQerrorMessage(p->conn_));
	if (!ok && p->state == PG_MIGRATING) {
		pg_lost(p, why);
		return;
	}
	if (p->state == PG_MIGRATING)
		pg_migrate_results(p);
	else if (p->round_ != PG_ROUND_NONE)
		pg_round_results(p);
	else
		pg_drop_results(p);
	if (p->conn_ && (!ok || PQstatus(p->conn_) == CONNECTION_BAD))
		pg_lost(p, ok ? PQerrorMessage(p->conn_) : why);
}

/* ---- migration ------------------------------------------------------------ */

static void pg_migrate_send(struct pg *p, const char *sql)
{
	if (!PQsendQuery(p->conn_, sql)) {
		pg_lost(p, PQerrorMessage(p->conn_));
		return;
	}
	pg_flush(p);
}

static void pg_migrate_begin(struct pg *p)
{
	p->state = PG_MIGRATING;
	p->mig_stage_ = PG_MIG_PROBE;
	p->version_before = -1;
	pg_migrate_send(p, schema_sql_probe);
}

/* The probe's answer: commit when up to date, else send the next step. */
static void pg_migrate_next(struct pg *p, int version)
{
	int n;

	if (p->version_before < 0)
		p->version_before = version;
	p->version_after = version;
	if (version > schema_version_latest()) {
		char m[ERR_MSG_MAX];

		snprintf(m, sizeof m, "the database's trading schema is version %d, newer than "
				      "this fillrelay knows (%d)", version, schema_version_latest());
		pg_fatal(p, FR_ECONFIG, m);
		return;
	}
	if (version == schema_version_latest()) {
		p->mig_stage_ = PG_MIG_DONE;
		pg_migrate_send(p, "COMMIT");
		return;
	}
	p->mig_step_ = version;
	n = schema_step_sql(&schema_steps[version], p->sql_, (int)sizeof p->sql_);
	assert(n > 0);
	p->mig_stage_ = PG_MIG_STEP;
	pg_migrate_send(p, p->sql_);
}

static void pg_migrate_finished(struct pg *p)
{
	if (p->mig_stage_ == PG_MIG_STEP) {
		log_info("schema migrated", LI("version", schema_steps[p->mig_step_].version),
			 LS("step", schema_steps[p->mig_step_].name));
		p->mig_stage_ = PG_MIG_PROBE;
		pg_migrate_send(p, schema_sql_probe);
		return;
	}
	p->mig_stage_ = 0;
	p->state = PG_READY;
	log_info("schema up to date", LI("version", p->version_after),
		 LI("version_before", p->version_before));
	pg_event(p, PG_EV_MIGRATED);
	if (p->state == PG_READY)
		pg_kick(p);
}

static void pg_migrate_results(struct pg *p)
{
	int version = -1, failed = 0;
	char m[ERR_MSG_MAX] = "";

	while (!PQisBusy(p->conn_)) {
		PGresult *r = PQgetResult(p->conn_);
		ExecStatusType st;

		if (!r) {
			if (failed) {
				pg_fatal(p, FR_EPROTO, m);
			} else if (p->mig_stage_ == PG_MIG_PROBE) {
				if (version < 0)
					pg_fatal(p, FR_EPROTO, "the schema probe returned no version");
				else
					pg_migrate_next(p, version);
			} else {
				pg_migrate_finished(p);
			}
			return;
		}
		st = PQresultStatus(r);
		if (st == PGRES_FATAL_ERROR && !failed) {
			failed = 1;
			snprintf(m, sizeof m, "migration to version %d: %s",
				 p->mig_stage_ == PG_MIG_STEP ? schema_steps[p->mig_step_].version
							      : 0,
				 PQresultErrorMessage(r));
		} else if (st == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1) {
			version = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
		}
		PQclear(r);
	}
}

/* ---- batches: the caller's side ------------------------------------------ */

/* see pg.h */
struct pg_batch *pg_batch_open(struct pg *p)
{
	struct pg_batch *b;

	if (p->open_ >= 0)
		return &p->batches[p->open_];
	for (int i = 0; i < PG_BATCHES_MAX; i++) {
		b = &p->batches[i];
		if (b->state != PG_BATCH_FREE)
			continue;
		b->state = PG_BATCH_OPEN;
		b->seq = 0;
		b->in_doubt = b->rounds = b->single_ = 0;
		memset(b->n, 0, sizeof b->n);
		b->new_n = b->dup_n = b->stale_n = b->rejected_n = b->dropped_n = 0;
		b->rejects_n = 0;
		b->rejrows_n = 0;
		b->text_used = 0;
		p->open_ = i;
		return b;
	}
	return NULL;
}

/* see pg.h */
int pg_batch_submit(struct pg *p, struct pg_batch *b, uint64_t seq)
{
	if (p->open_ < 0 || b != &p->batches[p->open_] || b->state != PG_BATCH_OPEN)
		return FR_EINVAL;
	b->state = PG_BATCH_QUEUED;
	b->seq = seq;
	b->order_ = ++p->submitted_;
	p->open_ = -1;
	pg_kick(p);
	return 0;
}

/* Copies msg[raw] into b's text; returns 0, FR_EFULL or FR_EINVAL. */
static int pg_text_add(struct pg_batch *b, const char *msg, struct decode_span *raw)
{
	if (!msg || raw->len == 0) {
		static const char empty[] = "{}";

		msg = empty;
		raw->off = 0;
		raw->len = 2;
	}
	if ((size_t)raw->len + 1 > PG_BATCH_TEXT_MAX)
		return FR_EINVAL;
	if ((size_t)b->text_used + raw->len + 1 > PG_BATCH_TEXT_MAX)
		return FR_EFULL;
	memcpy(b->text + b->text_used, msg + raw->off, raw->len);
	b->text[b->text_used + raw->len] = 0;
	raw->off = b->text_used;
	b->text_used += raw->len + 1;
	return 0;
}

static int pg_room(const struct pg_batch *b, enum pg_kind k, int max)
{
	assert(b->state == PG_BATCH_OPEN);
	return b->n[k] < max ? 0 : FR_EFULL;
}

static void pg_row_added(struct pg_batch *b, enum pg_kind k)
{
	b->st[k][b->n[k]] = PG_ROW_PENDING;
	b->rej_[k][b->n[k]] = NULL;
	b->n[k]++;
}

/* see pg.h */
int pg_batch_add_fill(struct pg_batch *b, const char *account, const struct decode_exec *x,
                      const char *msg, const struct pg_derived *d, int64_t received_at_ms)
{
	struct pg_fill *f;
	int rc = pg_room(b, PG_KIND_FILL, PG_BATCH_FILLS_MAX);

	if (rc != 0)
		return rc;
	if (!account[0] || !x->exec_id[0])
		return FR_EINVAL;
	f = &b->fills[b->n[PG_KIND_FILL]];
	f->x = *x;
	rc = pg_text_add(b, msg, &f->x.raw);
	if (rc != 0)
		return rc;
	pg_copy(f->account, sizeof f->account, account);
	if (d)
		f->d = *d;
	else
		memset(&f->d, 0, sizeof f->d);
	if (!f->d.bot[0])
		pg_copy(f->d.bot, sizeof f->d.bot, BOOK_BOT_UNATTRIBUTED);
	f->received_at_ms = received_at_ms;
	pg_row_added(b, PG_KIND_FILL);
	return 0;
}

int pg_batch_add_alloc(struct pg_batch *b, const char *account, const char *exec_id,
                       const struct book_alloc *a)
{
	struct pg_alloc *r;
	int rc = pg_room(b, PG_KIND_ALLOC, PG_BATCH_ALLOCS_MAX);

	if (rc != 0)
		return rc;
	if (!account[0] || !exec_id[0] || !a->bot[0])
		return FR_EINVAL;
	r = &b->allocs[b->n[PG_KIND_ALLOC]];
	pg_copy(r->account, sizeof r->account, account);
	pg_copy(r->exec_id, sizeof r->exec_id, exec_id);
	r->a = *a;
	pg_row_added(b, PG_KIND_ALLOC);
	return 0;
}

int pg_batch_add_trip(struct pg_batch *b, const struct book_trip *t)
{
	int rc = pg_room(b, PG_KIND_TRIP, PG_BATCH_TRIPS_MAX);

	if (rc != 0)
		return rc;
	if (!t->account[0] || !t->bot[0])
		return FR_EINVAL;
	b->trips[b->n[PG_KIND_TRIP]] = *t;
	pg_row_added(b, PG_KIND_TRIP);
	return 0;
}

int pg_batch_add_bot_position(struct pg_batch *b, const struct book_position *bp)
{
	int rc = pg_room(b, PG_KIND_BOTPOS, PG_BATCH_BOTPOS_MAX);

	if (rc != 0)
		return rc;
	if (!bp->account[0] || !bp->bot[0])
		return FR_EINVAL;
	b->botpos[b->n[PG_KIND_BOTPOS]] = *bp;
	pg_row_added(b, PG_KIND_BOTPOS);
	return 0;
}

int pg_batch_add_order(struct pg_batch *b, const char *account, const struct decode_order *o,
                       const char *msg, const char *bot, const char *reason)
{
	struct pg_order *r;
	int rc = pg_room(b, PG_KIND_ORDER, PG_BATCH_ORDERS_MAX);

	if (rc != 0)
		return rc;
	if (!account[0] || !o->order_id[0])
		return FR_EINVAL;
	r = &b->orders[b->n[PG_KIND_ORDER]];
	r->o = *o;
	rc = pg_text_add(b, msg, &r->o.raw);
	if (rc != 0)
		return rc;
	pg_copy(r->account, sizeof r->account, account);
	pg_copy(r->bot, sizeof r->bot, bot);
	pg_copy(r->reason, sizeof r->reason, reason);
	pg_row_added(b, PG_KIND_ORDER);
	return 0;
}

int pg_batch_add_position(struct pg_batch *b, const char *account,
                          const struct decode_position *pos, const char *msg)
{
	struct pg_position *r;
	int rc = pg_room(b, PG_KIND_POSITION, PG_BATCH_POSITIONS_MAX);

	if (rc != 0)
		return rc;
	if (!account[0] || !pos->symbol[0])
		return FR_EINVAL;
	r = &b->positions[b->n[PG_KIND_POSITION]];
	r->p = *pos;
	rc = pg_text_add(b, msg, &r->p.raw);
	if (rc != 0)
		return rc;
	pg_copy(r->account, sizeof r->account, account);
	pg_row_added(b, PG_KIND_POSITION);
	return 0;
}

int pg_batch_add_wallet(struct pg_batch *b, const char *account, const struct decode_wallet *w,
                        const char *msg, int64_t updated_ms)
{
	struct pg_wallet *r;
	int rc = pg_room(b, PG_KIND_WALLET, PG_BATCH_WALLET_MAX);

	if (rc != 0)
		return rc;
	if (!account[0] || !w->account_type[0])
		return FR_EINVAL;
	r = &b->wallet[b->n[PG_KIND_WALLET]];
	r->w = *w;
	rc = pg_text_add(b, msg, &r->w.raw);
	if (rc != 0)
		return rc;
	pg_copy(r->account, sizeof r->account, account);
	r->updated_ms = updated_ms;
	pg_row_added(b, PG_KIND_WALLET);
	return 0;
}

int pg_batch_add_reject(struct pg_batch *b, const char *account, const char *kind,
                        const char *ref, const char *reason, const char *raw, size_t len,
                        int64_t received_ms)
{
	struct pg_reject_row *r;
	struct decode_span sp = { 0, (uint32_t)len };
	int rc;

	if (b->state != PG_BATCH_OPEN || len == 0 || len >= PG_BATCH_TEXT_MAX)
		return FR_EINVAL;
	if (b->rejrows_n >= PG_BATCH_REJECTS_MAX)
		return FR_EFULL;
	r = &b->rejrows[b->rejrows_n];
	rc = pg_text_add(b, raw, &sp);
	if (rc != 0)
		return rc;
	r->raw = sp;
	pg_copy(r->account, sizeof r->account, account);
	pg_copy(r->kind, sizeof r->kind, kind);
	pg_copy(r->ref, sizeof r->ref, ref);
	pg_copy(r->reason, sizeof r->reason, reason);
	r->received_ms = received_ms;
	b->rejrows_n++;
	return 0;
}

void pg_derived_from_book(struct pg_derived *d, const struct book_result *r)
{
	memset(d, 0, sizeof *d);
	pg_copy(d->bot, sizeof d->bot, r->bot);
	pg_copy(d->reason, sizeof d->reason, r->reason);
	pg_copy(d->close_reason, sizeof d->close_reason, r->close_reason);
	d->realized_pnl = r->realized_pnl;
	d->trade_seq = r->trade_seq;
}

const char *pg_batch_raw(const struct pg_batch *b, struct decode_span raw)
{
	return raw.off < PG_BATCH_TEXT_MAX ? b->text + raw.off : "";
}

const struct pg_reject *pg_batch_reject(const struct pg_batch *b, enum pg_kind k, int i)
{
	if (k >= PG_KINDS || i < 0 || i >= b->n[k])
		return NULL;
	return b->rej_[k][i];
}

const char *pg_state_str(enum pg_state s)
{
	static const char *const names[] = { "idle",  "resolving", "connecting", "migrating",
					     "ready", "backoff",   "failed" };

	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* ---- batches: statements -------------------------------------------------- */

/*
 * Parameters are text, formatted into a fixed table; NULL is SQL NULL (an
 * absent decimal). Timestamps go as milliseconds and become timestamptz in
 * SQL with exact integer arithmetic (no double on the way).
 */
#define PG_PARAMS_ROW_MAX 40
#define PG_MS(n) "'epoch'::timestamptz + $" #n "::bigint * interval '1 millisecond'"

struct pg_params {
	int n;
	int stop; /* > 0: only the first `stop` values are made (a key), the rest counted */
	const char *v[PG_PARAMS_ROW_MAX];
	char buf[PG_PARAMS_ROW_MAX][DEC_STR_MAX];
};

static void pp_str(struct pg_params *pp, const char *s)
{
	assert(pp->n < PG_PARAMS_ROW_MAX);
	pp->v[pp->n++] = s;
}

/* Past the key the caller asked for: counted, not formatted. */
static int pp_past(struct pg_params *pp)
{
	if (pp->stop <= 0 || pp->n < pp->stop)
		return 0;
	pp->v[pp->n++] = NULL;
	return 1;
}

static void pp_decv(struct pg_params *pp, struct dec d)
{
	assert(pp->n < PG_PARAMS_ROW_MAX);
	if (pp_past(pp))
		return;
	dec_format(d, pp->buf[pp->n], DEC_STR_MAX);
	pp->v[pp->n] = pp->buf[pp->n];
	pp->n++;
}

static void pp_dec(struct pg_params *pp, const struct decode_dec *d)
{
	if (d->present)
		pp_decv(pp, d->v);
	else
		pp_str(pp, NULL);
}

static void pp_int(struct pg_params *pp, int64_t i)
{
	assert(pp->n < PG_PARAMS_ROW_MAX);
	if (pp_past(pp))
		return;
	snprintf(pp->buf[pp->n], DEC_STR_MAX, "%" PRId64, i);
	pp->v[pp->n] = pp->buf[pp->n];
	pp->n++;
}

static void pp_oint(struct pg_params *pp, const struct decode_int *i)
{
	if (i->present)
		pp_int(pp, i->v);
	else
		pp_str(pp, NULL);
}

static void pp_bool(struct pg_params *pp, int8_t b)
{
	pp_str(pp, b == DECODE_BOOL_TRUE ? "t" : b == DECODE_BOOL_FALSE ? "f" : NULL);
}

static int pg_send(PGconn *c, const char *sql, const struct pg_params *pp)
{
	return PQsendQueryParams(c, sql, pp->n, NULL, pp->v, NULL, NULL, 0);
}

static const char pg_sql_fill[] =
	"INSERT INTO trading.fills (account, exec_id, bot_id, symbol, category, side,"
	" exec_qty, exec_price, exec_value, commission, fee_rate, fee_currency, exec_type,"
	" is_maker, order_id, order_link_id, order_type, stop_order_type, create_type,"
	" reason, close_reason, closed_size, exec_pnl, realized_pnl, trade_seq, mark_price,"
	" index_price, order_qty, order_price, leaves_qty, exec_time, seq, received_at, raw)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
	" $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, " PG_MS(31) ", $32, "
	PG_MS(33) ", $34)"
	" ON CONFLICT (account, exec_id) DO NOTHING RETURNING account, exec_id";

static void pg_pp_fill_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	const struct pg_fill *f = &b->fills[i];
	const struct decode_exec *x = &f->x;

	pp->n = 0;
	pp_str(pp, f->account);
	pp_str(pp, x->exec_id);
	pp_str(pp, f->d.bot);
	pp_str(pp, x->symbol);
	pp_str(pp, x->category);
	pp_str(pp, x->side);
	pp_dec(pp, &x->exec_qty);
	pp_dec(pp, &x->exec_price);
	pp_dec(pp, &x->exec_value);
	pp_dec(pp, &x->exec_fee);
	pp_dec(pp, &x->fee_rate);
	pp_str(pp, x->fee_currency);
	pp_str(pp, x->exec_type);
	pp_bool(pp, x->is_maker);
	pp_str(pp, x->order_id);
	pp_str(pp, x->order_link_id);
	pp_str(pp, x->order_type);
	pp_str(pp, x->stop_order_type);
	pp_str(pp, x->create_type);
	pp_str(pp, f->d.reason);
	pp_str(pp, f->d.close_reason);
	pp_dec(pp, &x->closed_size);
	pp_dec(pp, &x->exec_pnl);
	pp_decv(pp, f->d.realized_pnl);
	pp_int(pp, f->d.trade_seq);
	pp_dec(pp, &x->mark_price);
	pp_dec(pp, &x->index_price);
	pp_dec(pp, &x->order_qty);
	pp_dec(pp, &x->order_price);
	pp_dec(pp, &x->leaves_qty);
	pp_int(pp, x->exec_time_ms);
	pp_oint(pp, &x->seq);
	pp_int(pp, f->received_at_ms);
	pp_str(pp, pg_batch_raw(b, x->raw));
}

/* The upsert of each book-derived table, shared by the batch statement
 * (which returns its key) and the rebuild's blocking one (which writes only
 * what differs); alias t for the guards. */
#define PG_ALLOC_UPSERT \
	"INSERT INTO trading.fill_allocations AS t (account, exec_id, bot_id, position_idx, qty," \
	" fee, realized_pnl, trade_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)" \
	" ON CONFLICT (account, exec_id, bot_id, position_idx) DO UPDATE SET" \
	" qty = excluded.qty, fee = excluded.fee, realized_pnl = excluded.realized_pnl," \
	" trade_seq = excluded.trade_seq"

static const char pg_sql_alloc[] =
	PG_ALLOC_UPSERT " RETURNING account, exec_id, bot_id, position_idx";

static void pg_pp_alloc_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	const struct pg_alloc *a = &b->allocs[i];

	pp->n = 0;
	pp_str(pp, a->account);
	pp_str(pp, a->exec_id);
	pp_str(pp, a->a.bot);
	pp_int(pp, a->a.position_idx);
	pp_decv(pp, a->a.qty);
	pp_decv(pp, a->a.fee);
	pp_decv(pp, a->a.realized_pnl);
	pp_int(pp, a->a.trade_seq);
}

static const char *pg_side_str(enum book_side s)
{
	return s == BOOK_LONG ? "Buy" : s == BOOK_SHORT ? "Sell" : "";
}

#define PG_TRIP_UPSERT \
	"INSERT INTO trading.trades_pnl AS t (account, bot_id, category, symbol, trade_seq," \
	" position_idx, side, entry_reason, close_reason, opened_at, closed_at, qty, gross_pnl," \
	" fees, funding, net_pnl, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " \
	PG_MS(10) ", " PG_MS(11) ", $12, $13, $14, $15, $16, $17)" \
	" ON CONFLICT (account, bot_id, category, symbol, trade_seq) DO UPDATE SET" \
	" position_idx = excluded.position_idx, side = excluded.side," \
	" entry_reason = excluded.entry_reason, close_reason = excluded.close_reason," \
	" opened_at = excluded.opened_at, closed_at = excluded.closed_at, qty = excluded.qty," \
	" gross_pnl = excluded.gross_pnl, fees = excluded.fees, funding = excluded.funding," \
	" net_pnl = excluded.net_pnl, currency = excluded.currency"

static const char pg_sql_trip[] =
	PG_TRIP_UPSERT " RETURNING account, bot_id, category, symbol, trade_seq";

static void pg_pp_trip(struct pg_params *pp, const struct book_trip *t);

static void pg_pp_trip_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	pg_pp_trip(pp, &b->trips[i]);
}

static void pg_pp_trip(struct pg_params *pp, const struct book_trip *t)
{
	pp->n = 0;
	pp_str(pp, t->account);
	pp_str(pp, t->bot);
	pp_str(pp, t->category);
	pp_str(pp, t->symbol);
	pp_int(pp, t->trade_seq);
	pp_int(pp, t->position_idx);
	pp_str(pp, pg_side_str(t->side));
	pp_str(pp, t->entry_reason);
	pp_str(pp, t->close_reason);
	pp_int(pp, t->opened_at_ms);
	pp_int(pp, t->closed_at_ms);
	pp_decv(pp, t->qty);
	pp_decv(pp, t->gross_pnl);
	pp_decv(pp, t->fees);
	pp_decv(pp, t->funding);
	pp_decv(pp, t->net_pnl);
	pp_str(pp, t->currency);
}

/* The book's rows are replaced only by a state at least as late (exchange
 * order of the last fill applied), so an old batch replayed changes nothing. */
#define PG_BOTPOS_UPSERT \
	"INSERT INTO trading.bot_positions AS t (account, bot_id, category, symbol," \
	" position_idx, size, avg_price, realized_pnl, fees, funding, currency, trade_seq," \
	" open_seq, open_side, entry_reason, opened_at, open_qty, open_gross_pnl, open_fees," \
	" open_funding, last_exec_id, last_exec_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8," \
	" $9, $10, $11, $12, $13, $14, $15, CASE WHEN $13::bigint > 0 THEN " PG_MS(16) \
	" END, $17, $18, $19, $20, $21, " PG_MS(22) ")" \
	" ON CONFLICT (account, bot_id, category, symbol, position_idx) DO UPDATE SET" \
	" size = excluded.size, avg_price = excluded.avg_price," \
	" realized_pnl = excluded.realized_pnl, fees = excluded.fees," \
	" funding = excluded.funding, currency = excluded.currency," \
	" trade_seq = excluded.trade_seq, open_seq = excluded.open_seq," \
	" open_side = excluded.open_side, entry_reason = excluded.entry_reason," \
	" opened_at = excluded.opened_at, open_qty = excluded.open_qty," \
	" open_gross_pnl = excluded.open_gross_pnl, open_fees = excluded.open_fees," \
	" open_funding = excluded.open_funding, last_exec_id = excluded.last_exec_id," \
	" last_exec_time = excluded.last_exec_time"

static const char pg_sql_botpos[] =
	PG_BOTPOS_UPSERT
	" WHERE (excluded.last_exec_time, excluded.last_exec_id COLLATE \"C\")"
	" >= (t.last_exec_time, t.last_exec_id COLLATE \"C\")"
	" RETURNING account, bot_id, category, symbol, position_idx";

static void pg_pp_botpos(struct pg_params *pp, const struct book_position *q)
{
	pp->n = 0;
	pp_str(pp, q->account);
	pp_str(pp, q->bot);
	pp_str(pp, q->category);
	pp_str(pp, q->symbol);
	pp_int(pp, q->position_idx);
	pp_decv(pp, q->size);
	pp_decv(pp, q->avg_price);
	pp_decv(pp, q->realized_pnl);
	pp_decv(pp, q->fees);
	pp_decv(pp, q->funding);
	pp_str(pp, q->currency);
	pp_int(pp, q->trade_seq);
	pp_int(pp, q->open.seq);
	pp_str(pp, pg_side_str(q->open.side));
	pp_str(pp, q->open.entry_reason);
	pp_int(pp, q->open.opened_at_ms);
	pp_decv(pp, q->open.qty);
	pp_decv(pp, q->open.gross_pnl);
	pp_decv(pp, q->open.fees);
	pp_decv(pp, q->open.funding);
	pp_str(pp, q->last_exec_id);
	pp_int(pp, q->last_exec_time_ms);
}

static void pg_pp_botpos_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	pg_pp_botpos(pp, &b->botpos[i]);
}

/* An order push replayed after a newer one (earlier updatedTime, or the same
 * with less executed) is kept out. */
static const char pg_sql_order[] =
	"INSERT INTO trading.orders AS t (account, order_id, category, symbol, order_link_id,"
	" parent_order_link_id, bot_id, reason, side, order_type, order_status,"
	" stop_order_type, create_type, cancel_type, reject_reason, time_in_force,"
	" position_idx, qty, price, avg_price, cum_exec_qty, cum_exec_value, cum_exec_fee,"
	" leaves_qty, trigger_price, take_profit, stop_loss, reduce_only, created_time,"
	" updated_time, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
	" $14, $15, $16, $17, $18, $19, $20, coalesce($21::numeric, 0), $22, $23, $24, $25,"
	" $26, $27, $28, CASE WHEN $29::bigint IS NOT NULL THEN " PG_MS(29) " END, "
	PG_MS(30) ", $31)"
	" ON CONFLICT (account, order_id) DO UPDATE SET category = excluded.category,"
	" symbol = excluded.symbol, order_link_id = excluded.order_link_id,"
	" parent_order_link_id = excluded.parent_order_link_id, bot_id = excluded.bot_id,"
	" reason = excluded.reason, side = excluded.side, order_type = excluded.order_type,"
	" order_status = excluded.order_status, stop_order_type = excluded.stop_order_type,"
	" create_type = excluded.create_type, cancel_type = excluded.cancel_type,"
	" reject_reason = excluded.reject_reason, time_in_force = excluded.time_in_force,"
	" position_idx = excluded.position_idx, qty = excluded.qty, price = excluded.price,"
	" avg_price = excluded.avg_price, cum_exec_qty = excluded.cum_exec_qty,"
	" cum_exec_value = excluded.cum_exec_value, cum_exec_fee = excluded.cum_exec_fee,"
	" leaves_qty = excluded.leaves_qty, trigger_price = excluded.trigger_price,"
	" take_profit = excluded.take_profit, stop_loss = excluded.stop_loss,"
	" reduce_only = excluded.reduce_only, created_time = excluded.created_time,"
	" updated_time = excluded.updated_time, raw = excluded.raw"
	" WHERE (excluded.updated_time, excluded.cum_exec_qty) >= (t.updated_time, t.cum_exec_qty)"
	" RETURNING account, order_id";

static void pg_pp_order_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	const struct pg_order *r = &b->orders[i];
	const struct decode_order *o = &r->o;

	pp->n = 0;
	pp_str(pp, r->account);
	pp_str(pp, o->order_id);
	pp_str(pp, o->category);
	pp_str(pp, o->symbol);
	pp_str(pp, o->order_link_id);
	pp_str(pp, o->parent_order_link_id);
	pp_str(pp, r->bot);
	pp_str(pp, r->reason);
	pp_str(pp, o->side);
	pp_str(pp, o->order_type);
	pp_str(pp, o->order_status);
	pp_str(pp, o->stop_order_type);
	pp_str(pp, o->create_type);
	pp_str(pp, o->cancel_type);
	pp_str(pp, o->reject_reason);
	pp_str(pp, o->time_in_force);
	pp_oint(pp, &o->position_idx);
	pp_dec(pp, &o->qty);
	pp_dec(pp, &o->price);
	pp_dec(pp, &o->avg_price);
	pp_dec(pp, &o->cum_exec_qty);
	pp_dec(pp, &o->cum_exec_value);
	pp_dec(pp, &o->cum_exec_fee);
	pp_dec(pp, &o->leaves_qty);
	pp_dec(pp, &o->trigger_price);
	pp_dec(pp, &o->take_profit);
	pp_dec(pp, &o->stop_loss);
	pp_bool(pp, o->reduce_only);
	pp_oint(pp, &o->created_time_ms);
	pp_int(pp, o->updated_time_ms);
	pp_str(pp, pg_batch_raw(b, o->raw));
}

/* seq first: it counts the position's trades; updatedTime orders the pushes
 * between two trades (TP/SL set, margin added). */
static const char pg_sql_position[] =
	"INSERT INTO trading.positions AS t (account, category, symbol, position_idx, side,"
	" size, entry_price, mark_price, position_value, unrealised_pnl, cur_realised_pnl,"
	" cum_realised_pnl, leverage, liq_price, take_profit, stop_loss, position_status, seq,"
	" created_time, updated_time, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
	" $11, $12, $13, $14, $15, $16, $17, $18, CASE WHEN $19::bigint IS NOT NULL THEN "
	PG_MS(19) " END, " PG_MS(20) ", $21)"
	" ON CONFLICT (account, category, symbol, position_idx) DO UPDATE SET"
	" side = excluded.side, size = excluded.size, entry_price = excluded.entry_price,"
	" mark_price = excluded.mark_price, position_value = excluded.position_value,"
	" unrealised_pnl = excluded.unrealised_pnl,"
	" cur_realised_pnl = excluded.cur_realised_pnl,"
	" cum_realised_pnl = excluded.cum_realised_pnl, leverage = excluded.leverage,"
	" liq_price = excluded.liq_price, take_profit = excluded.take_profit,"
	" stop_loss = excluded.stop_loss, position_status = excluded.position_status,"
	" seq = excluded.seq, created_time = excluded.created_time,"
	" updated_time = excluded.updated_time, raw = excluded.raw"
	" WHERE (excluded.seq, excluded.updated_time) >= (t.seq, t.updated_time)"
	" RETURNING account, category, symbol, position_idx";

static void pg_pp_position_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	const struct pg_position *r = &b->positions[i];
	const struct decode_position *q = &r->p;

	pp->n = 0;
	pp_str(pp, r->account);
	pp_str(pp, q->category);
	pp_str(pp, q->symbol);
	pp_int(pp, q->position_idx.present ? q->position_idx.v : 0);
	pp_str(pp, q->side);
	pp_dec(pp, &q->size);
	pp_dec(pp, &q->entry_price);
	pp_dec(pp, &q->mark_price);
	pp_dec(pp, &q->position_value);
	pp_dec(pp, &q->unrealised_pnl);
	pp_dec(pp, &q->cur_realised_pnl);
	pp_dec(pp, &q->cum_realised_pnl);
	pp_dec(pp, &q->leverage);
	pp_dec(pp, &q->liq_price);
	pp_dec(pp, &q->take_profit);
	pp_dec(pp, &q->stop_loss);
	pp_str(pp, q->position_status);
	pp_int(pp, q->seq.present ? q->seq.v : -1);
	pp_oint(pp, &q->created_time_ms);
	pp_int(pp, q->updated_time_ms);
	pp_str(pp, pg_batch_raw(b, q->raw));
}

static const char pg_sql_wallet[] =
	"INSERT INTO trading.wallet AS t (account, account_type, coin, equity, wallet_balance,"
	" available_to_withdraw, usd_value, unrealised_pnl, cum_realised_pnl, locked,"
	" total_equity, total_wallet_balance, total_available_balance, total_margin_balance,"
	" updated_at, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
	PG_MS(15) ", $16)"
	" ON CONFLICT (account, account_type, coin) DO UPDATE SET equity = excluded.equity,"
	" wallet_balance = excluded.wallet_balance,"
	" available_to_withdraw = excluded.available_to_withdraw,"
	" usd_value = excluded.usd_value, unrealised_pnl = excluded.unrealised_pnl,"
	" cum_realised_pnl = excluded.cum_realised_pnl, locked = excluded.locked,"
	" total_equity = excluded.total_equity,"
	" total_wallet_balance = excluded.total_wallet_balance,"
	" total_available_balance = excluded.total_available_balance,"
	" total_margin_balance = excluded.total_margin_balance,"
	" updated_at = excluded.updated_at, raw = excluded.raw"
	" WHERE excluded.updated_at >= t.updated_at RETURNING account, account_type, coin";

static void pg_pp_wallet_row(struct pg_params *pp, const struct pg_batch *b, int i)
{
	const struct pg_wallet *r = &b->wallet[i];
	const struct decode_wallet *w = &r->w;

	pp->n = 0;
	pp_str(pp, r->account);
	pp_str(pp, w->account_type);
	pp_str(pp, w->coin_index >= 0 ? w->coin : "");
	pp_dec(pp, &w->equity);
	pp_dec(pp, &w->wallet_balance);
	pp_dec(pp, &w->available_to_withdraw);
	pp_dec(pp, &w->usd_value);
	pp_dec(pp, &w->unrealised_pnl);
	pp_dec(pp, &w->cum_realised_pnl);
	pp_dec(pp, &w->locked);
	pp_dec(pp, &w->total_equity);
	pp_dec(pp, &w->total_wallet_balance);
	pp_dec(pp, &w->total_available_balance);
	pp_dec(pp, &w->total_margin_balance);
	pp_int(pp, r->updated_ms);
	pp_str(pp, pg_batch_raw(b, w->raw));
}

/* ---- batches: one statement per kind -------------------------------------- */

/*
 * A batch goes as BEGIN, one multi-row INSERT per kind of row it holds, and
 * COMMIT: PostgreSQL parses and plans once per kind instead of once per row,
 * and a statement per row is what bounded the rate (about 2,000 fills/s on
 * two cores; make bench). A kind's statement is its one-row statement with
 * the VALUES list repeated and the parameters renumbered.
 *
 * Keys. ON CONFLICT DO UPDATE may not touch a row twice in one statement, so
 * each key is sent once: of a batch's rows with one key, the one its guard
 * would leave in place when they were written one after another (the last of
 * the newest: pg_kind_sql.newer); the others are PG_ROW_STALE, as they would
 * end. Of a fill present twice, the first goes and the others are PG_ROW_DUP.
 * Every statement returns the key columns of the rows it wrote, so each row
 * learns NEW, DUP or STALE by its key (a 64-bit hash of the key's text).
 *
 * A row PostgreSQL refuses fails its whole statement without saying which
 * row: the batch is then sent again one statement per row (single_), which
 * names the row, and that row is quarantined as before (pg_row_refused).
 */
#define PG_STMT_BULK 0xffffu                 /* stmt_row_ of a multi-row statement */
#define PG_BULK_VALUES_MAX (PG_BATCH_ROWS_MAX * PG_PARAMS_ROW_MAX)
#define PG_BULK_TEXT_MAX (256u * 1024)       /* numbers formatted for one statement */
#define PG_BULK_SQL_MAX (192u * 1024)        /* one statement's text */

static int pg_newer_last(const struct pg_batch *b, int i, int j)
{
	(void)b;
	return i > j; /* no guard: the later row wins */
}

static int pg_cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int pg_newer_botpos(const struct pg_batch *b, int i, int j)
{
	const struct book_position *x = &b->botpos[i], *y = &b->botpos[j];
	int c = pg_cmp_i64(x->last_exec_time_ms, y->last_exec_time_ms);

	return c ? c > 0 : strcmp(x->last_exec_id, y->last_exec_id) >= 0;
}

static struct dec pg_order_cum(const struct decode_order *o)
{
	struct dec z;

	if (o->cum_exec_qty.present)
		return o->cum_exec_qty.v;
	dec_parse(&z, "0", 1);
	return z;
}

static int pg_newer_order(const struct pg_batch *b, int i, int j)
{
	const struct decode_order *x = &b->orders[i].o, *y = &b->orders[j].o;
	int c = pg_cmp_i64(x->updated_time_ms, y->updated_time_ms);

	return c ? c > 0 : dec_cmp(pg_order_cum(x), pg_order_cum(y)) >= 0;
}

static int pg_newer_position(const struct pg_batch *b, int i, int j)
{
	const struct decode_position *x = &b->positions[i].p, *y = &b->positions[j].p;
	int c = pg_cmp_i64(x->seq.present ? x->seq.v : -1, y->seq.present ? y->seq.v : -1);

	return c ? c > 0 : x->updated_time_ms >= y->updated_time_ms;
}

static int pg_newer_wallet(const struct pg_batch *b, int i, int j)
{
	return b->wallet[i].updated_ms >= b->wallet[j].updated_ms;
}

/* One kind's statement: its first `keys` parameters are the conflict key, and
 * its RETURNING lists those columns. newer(b, i, j): row i (later) would
 * replace row j; NULL for DO NOTHING (the first stays). */
struct pg_kind_sql_ {
	const char *sql;
	void (*row)(struct pg_params *pp, const struct pg_batch *b, int i);
	int keys;
	int (*newer)(const struct pg_batch *b, int i, int j);
};

static const struct pg_kind_sql_ pg_kind_sql[PG_KINDS] = {
	[PG_KIND_FILL] = { pg_sql_fill, pg_pp_fill_row, 2, NULL },
	[PG_KIND_ALLOC] = { pg_sql_alloc, pg_pp_alloc_row, 4, pg_newer_last },
	[PG_KIND_TRIP] = { pg_sql_trip, pg_pp_trip_row, 5, pg_newer_last },
	[PG_KIND_BOTPOS] = { pg_sql_botpos, pg_pp_botpos_row, 5, pg_newer_botpos },
	[PG_KIND_ORDER] = { pg_sql_order, pg_pp_order_row, 2, pg_newer_order },
	[PG_KIND_POSITION] = { pg_sql_position, pg_pp_position_row, 4, pg_newer_position },
	[PG_KIND_WALLET] = { pg_sql_wallet, pg_pp_wallet_row, 3, pg_newer_wallet },
};

static struct {
	const char *v[PG_BULK_VALUES_MAX];
	char text[PG_BULK_TEXT_MAX];
	char sql[PG_BULK_SQL_MAX];
} pg_bulk;

static uint64_t pg_key_add(uint64_t h, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)v[i]) * 1099511628211u; /* FNV-1a */
	return (h ^ 0x1fu) * 1099511628211u;
}

static uint64_t pg_key_pp(const struct pg_params *pp, int keys)
{
	uint64_t h = 14695981039346656037u;

	for (int i = 0; i < keys; i++)
		h = pg_key_add(h, pp->v[i] ? pp->v[i] : "", pp->v[i] ? strlen(pp->v[i]) : 0);
	return h;
}

static uint64_t pg_key_result(const PGresult *r, int t)
{
	uint64_t h = 14695981039346656037u;

	for (int c = 0; c < PQnfields(r); c++)
		h = pg_key_add(h, PQgetvalue(r, t, c), (size_t)PQgetlength(r, t, c));
	return h;
}

/* Hashes every pending row's key and leaves one row per key pending. */
static void pg_bulk_pick(struct pg *p, struct pg_batch *b, enum pg_kind k)
{
	const struct pg_kind_sql_ *ks = &pg_kind_sql[k];
	static struct pg_params pp;

	for (int i = 0; i < b->n[k]; i++) {
		if (b->st[k][i] != PG_ROW_PENDING)
			continue;
		pp.n = 0;
		pp.stop = ks->keys; /* the key only: the values are made once, by the build */
		ks->row(&pp, b, i);
		p->key_[k][i] = pg_key_pp(&pp, ks->keys);
		for (int j = 0; j < i; j++) {
			if (b->st[k][j] != PG_ROW_PENDING || p->key_[k][j] != p->key_[k][i])
				continue;
			if (!ks->newer) {
				b->st[k][i] = PG_ROW_DUP;
			} else if (ks->newer(b, i, j)) {
				b->st[k][j] = PG_ROW_STALE;
			} else {
				b->st[k][i] = PG_ROW_STALE;
			}
			break; /* at most one earlier row of a key is still pending */
		}
	}
}

/* Appends the template (one VALUES row) with $N renumbered to $N+base. */
static size_t pg_bulk_tmpl(char *dst, size_t cap, const char *t, size_t n, int base)
{
	size_t w = 0;

	for (size_t i = 0; i < n && w + 16 < cap;) {
		if (t[i] == '$' && i + 1 < n && t[i + 1] >= '0' && t[i + 1] <= '9') {
			int v = 0;

			for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++)
				v = v * 10 + (t[i] - '0');
			w += (size_t)snprintf(dst + w, cap - w, "$%d", v + base);
		} else {
			dst[w++] = t[i++];
		}
	}
	return w;
}

/* Where the VALUES row of a one-row statement starts and ends. */
static int pg_bulk_split(const char *sql, size_t *open, size_t *close)
{
	const char *v = strstr(sql, " VALUES (");
	int depth = 0;

	if (!v)
		return FR_EINVAL;
	*open = (size_t)(v - sql) + 8;
	for (size_t i = *open; sql[i]; i++) {
		depth += sql[i] == '(';
		depth -= sql[i] == ')';
		if (depth == 0) {
			*close = i + 1;
			return 0;
		}
	}
	return FR_EINVAL;
}

/* see pg.h */
void pg_touch_buffers(void)
{
	arena_touch(&pg_bulk, sizeof pg_bulk);
}

/* The pending rows of kind k as one statement into pg_bulk: its parameter
 * count, 0 when no row is pending, FR_ERANGE when it does not fit. */
static int pg_bulk_build(const struct pg_batch *b, enum pg_kind k)
{
	const struct pg_kind_sql_ *ks = &pg_kind_sql[k];
	static struct pg_params pp;
	size_t open, close, sw, tw = 0;
	int vals = 0, rows = 0;

	if (pg_bulk_split(ks->sql, &open, &close) != 0)
		return FR_EINVAL;
	memcpy(pg_bulk.sql, ks->sql, open);
	sw = open;
	for (int i = 0; i < b->n[k]; i++) {
		if (b->st[k][i] != PG_ROW_PENDING)
			continue;
		pp.n = 0;
		ks->row(&pp, b, i);
		if (vals + pp.n > PG_BULK_VALUES_MAX || vals + pp.n > 65535 ||
		    sw + 2 * (close - open) + 2 + strlen(ks->sql + close) >= PG_BULK_SQL_MAX)
			return FR_ERANGE;
		for (int j = 0; j < pp.n; j++, vals++) {
			const char *v = pp.v[j];
			size_t n;

			if (v != pp.buf[j]) { /* text of the batch: stays put until sent */
				pg_bulk.v[vals] = v;
				continue;
			}
			n = strlen(v) + 1;
			if (tw + n > PG_BULK_TEXT_MAX)
				return FR_ERANGE;
			memcpy(pg_bulk.text + tw, v, n);
			pg_bulk.v[vals] = pg_bulk.text + tw;
			tw += n;
		}
		if (rows++)
			pg_bulk.sql[sw++] = ',';
		sw += pg_bulk_tmpl(pg_bulk.sql + sw, PG_BULK_SQL_MAX - sw, ks->sql + open,
		                   close - open, vals - pp.n);
	}
	memcpy(pg_bulk.sql + sw, ks->sql + close, strlen(ks->sql + close) + 1);
	return vals;
}

/* Rows of the batch's kind k that its statement's result names: NEW; the
 * others it carried: DUP (fills) or STALE (kept out by the guard). */
static void pg_bulk_result(struct pg *p, struct pg_batch *b, enum pg_kind k, const PGresult *r)
{
	for (int t = 0; t < PQntuples(r); t++) {
		uint64_t h = pg_key_result(r, t);

		for (int i = 0; i < b->n[k]; i++)
			if (b->st[k][i] == PG_ROW_PENDING && p->key_[k][i] == h) {
				b->st[k][i] = PG_ROW_NEW;
				break;
			}
	}
	for (int i = 0; i < b->n[k]; i++)
		if (b->st[k][i] == PG_ROW_PENDING)
			b->st[k][i] = k == PG_KIND_FILL ? PG_ROW_DUP : PG_ROW_STALE;
}

static int pg_sql_row(PGconn *c, const struct pg_batch *b, enum pg_kind k, int i)
{
	static struct pg_params pp;

	pp.n = 0;
	pg_kind_sql[k].row(&pp, b, i);
	return pg_send(c, pg_kind_sql[k].sql, &pp);
}

static const char *const pg_kind_names[PG_KINDS] = {
	"execution", "allocation", "trip", "bot_position", "order", "position", "wallet",
};

/* What identifies a row in trading.rejects.ref, and its account. */
static const char *pg_row_ref(const struct pg_batch *b, enum pg_kind k, int i,
			      const char **account)
{
	switch (k) {
	case PG_KIND_FILL:
		*account = b->fills[i].account;
		return b->fills[i].x.exec_id;
	case PG_KIND_ALLOC:
		*account = b->allocs[i].account;
		return b->allocs[i].exec_id;
	case PG_KIND_TRIP:
		*account = b->trips[i].account;
		return b->trips[i].symbol;
	case PG_KIND_BOTPOS:
		*account = b->botpos[i].account;
		return b->botpos[i].symbol;
	case PG_KIND_ORDER:
		*account = b->orders[i].account;
		return b->orders[i].o.order_id;
	case PG_KIND_POSITION:
		*account = b->positions[i].account;
		return b->positions[i].p.symbol;
	default:
		*account = b->wallet[i].account;
		return b->wallet[i].w.coin;
	}
}

/* The raw JSON of rows that carry one; "" for the book's own rows. */
static const char *pg_sql_row_raw(const struct pg_batch *b, enum pg_kind k, int i)
{
	switch (k) {
	case PG_KIND_FILL:
		return pg_batch_raw(b, b->fills[i].x.raw);
	case PG_KIND_ORDER:
		return pg_batch_raw(b, b->orders[i].o.raw);
	case PG_KIND_POSITION:
		return pg_batch_raw(b, b->positions[i].p.raw);
	case PG_KIND_WALLET:
		return pg_batch_raw(b, b->wallet[i].w.raw);
	default:
		return "";
	}
}

static const char pg_sql_reject_ins[] =
	"INSERT INTO trading.rejects (account, kind, ref, sqlstate, error, raw, received_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::bigint IS NOT NULL THEN " PG_MS(7)
	" END)";

static int pg_sql_reject(PGconn *c, const struct pg_batch *b, enum pg_kind k, int i)
{
	static struct pg_params pp;
	const struct pg_reject *rj = b->rej_[k][i];
	const char *account;
	const char *ref = pg_row_ref(b, k, i, &account);

	assert(rj);
	pp.n = 0;
	pp_str(&pp, account);
	pp_str(&pp, pg_kind_names[k]);
	pp_str(&pp, ref);
	pp_str(&pp, rj->sqlstate);
	pp_str(&pp, rj->msg);
	pp_str(&pp, pg_sql_row_raw(b, k, i));
	if (k == PG_KIND_FILL)
		pp_int(&pp, b->fills[i].received_at_ms);
	else
		pp_str(&pp, NULL);
	return pg_send(c, pg_sql_reject_ins, &pp);
}

/* ---- batches: rounds ------------------------------------------------------ */

static struct pg_batch *pg_next_queued(struct pg *p)
{
	struct pg_batch *best = NULL;

	for (int i = 0; i < PG_BATCHES_MAX; i++) {
		struct pg_batch *b = &p->batches[i];

		if (b->state == PG_BATCH_QUEUED && (!best || b->order_ < best->order_))
			best = b;
	}
	return best;
}

static int pg_stmt(struct pg *p, enum pg_kind k, int row, int ok)
{
	if (!ok)
		return FR_EIO;
	assert(p->stmts_n_ < PG_STMTS_MAX);
	p->stmt_kind_[p->stmts_n_] = (uint8_t)k;
	p->stmt_row_[p->stmts_n_] = (uint16_t)row;
	p->stmts_n_++;
	return 0;
}

#define PG_STMT_CTL 0xff /* BEGIN, COMMIT, ROLLBACK */

static int pg_send_ctl(struct pg *p, const char *sql)
{
	int ok = PQsendQueryParams(p->conn_, sql, 0, NULL, NULL, NULL, NULL, 0);

	return pg_stmt(p, (enum pg_kind)PG_STMT_CTL, 0, ok);
}

/* One row: its statement, or its quarantine once it was rejected. */
static int pg_send_row(struct pg *p, struct pg_batch *b, enum pg_kind k, int i)
{
	switch (b->st[k][i]) {
	case PG_ROW_REJECTED:
		return pg_stmt(p, k, i, pg_sql_reject(p->conn_, b, k, i));
	case PG_ROW_DROPPED:
		return 0;
	default:
		return pg_stmt(p, k, i, pg_sql_row(p->conn_, b, k, i));
	}
}

/* Kind k of b as one statement; row by row when it does not fit pg_bulk. */
static int pg_send_kind(struct pg *p, struct pg_batch *b, enum pg_kind k)
{
	int rc, vals;

	if (b->single_ || b->n[k] == 0)
		goto rows;
	pg_bulk_pick(p, b, k);
	vals = pg_bulk_build(b, k);
	if (vals == 0)
		return 0;
	if (vals > 0)
		return pg_stmt(p, k, PG_STMT_BULK,
		               PQsendQueryParams(p->conn_, pg_bulk.sql, vals, NULL, pg_bulk.v, NULL,
		                                 NULL, 0));
rows:
	rc = 0;
	for (int i = 0; i < b->n[k] && rc == 0; i++)
		if (b->st[k][i] == PG_ROW_PENDING || b->single_)
			rc = pg_send_row(p, b, k, i);
	return rc;
}

/* Records that never decoded: once each (a replay finds the row there). */
static const char pg_sql_reject_rec[] =
	"INSERT INTO trading.rejects (account, kind, ref, sqlstate, error, raw, received_at)"
	" SELECT $1::text, $2::text, $3::text, '', $4::text, $5::text, " PG_MS(6)
	" WHERE NOT EXISTS (SELECT 1 FROM trading.rejects WHERE account = $1 AND kind = $2"
	" AND ref = $3 AND raw = $5)";

static int pg_send_reject_rec(struct pg *p, const struct pg_batch *b, int i)
{
	static struct pg_params pp;
	const struct pg_reject_row *r = &b->rejrows[i];

	pp.n = 0;
	pp_str(&pp, r->account);
	pp_str(&pp, r->kind);
	pp_str(&pp, r->ref);
	pp_str(&pp, r->reason);
	pp_str(&pp, pg_batch_raw(b, r->raw));
	pp_int(&pp, r->received_ms);
	/* a control statement: its result carries no row state */
	return pg_stmt(p, (enum pg_kind)PG_STMT_CTL, 0, pg_send(p->conn_, pg_sql_reject_rec, &pp));
}

static int pg_send_batch(struct pg *p, struct pg_batch *b)
{
	int rc = pg_send_ctl(p, "BEGIN");

	for (int k = 0; k < PG_KINDS && rc == 0; k++)
		rc = pg_send_kind(p, b, (enum pg_kind)k);
	for (int i = 0; i < b->rejrows_n && rc == 0; i++)
		rc = pg_send_reject_rec(p, b, i);
	if (rc == 0)
		rc = pg_send_ctl(p, "COMMIT");
	return rc;
}

static void pg_round_start(struct pg *p, enum pg_round kind, struct pg_batch *b)
{
	int rc;

	if (!PQenterPipelineMode(p->conn_)) {
		pg_lost(p, PQerrorMessage(p->conn_));
		return;
	}
	p->round_ = kind;
	p->stmts_n_ = p->stmt_cur_ = p->got_cur_ = 0;
	memset(&p->out_, 0, sizeof p->out_);
	if (kind == PG_ROUND_ROLLBACK) {
		rc = pg_send_ctl(p, "ROLLBACK");
	} else {
		for (int k = 0; k < PG_KINDS; k++)
			for (int i = 0; i < b->n[k]; i++)
				if (b->st[k][i] != PG_ROW_REJECTED && b->st[k][i] != PG_ROW_DROPPED)
					b->st[k][i] = PG_ROW_PENDING;
		b->rounds++;
		p->stats.rounds++;
		rc = pg_send_batch(p, b);
	}
	if (rc != 0 || !PQpipelineSync(p->conn_)) {
		pg_lost(p, PQerrorMessage(p->conn_));
		return;
	}
	pg_flush(p);
}

static void pg_on_pause_end(struct loop *l, int id, void *arg)
{
	struct pg *p = arg;

	(void)l;
	(void)id;
	p->timer_ = -1;
	pg_kick(p);
}

/*
 * A batch failed for a reason that is not one row's (a serialization failure,
 * a permission or a missing table): wait before sending it again, with the
 * reconnect backoff, so a lasting fault does not become a busy loop.
 */
static void pg_pause(struct pg *p)
{
	pg_timer_clear(p);
	p->timer_ = loop_timer_add(p->loop, p->backoff_ms_, 0, pg_on_pause_end, p);
	p->backoff_ms_ *= 2;
	if (p->backoff_ms_ > p->opts.backoff_max_ms)
		p->backoff_ms_ = p->opts.backoff_max_ms;
	if (p->timer_ < 0)
		pg_lost(p, "no loop timer for the retry pause");
}

/* Starts the next round when connected, not pausing, and nothing is in flight. */
static void pg_kick(struct pg *p)
{
	struct pg_batch *b;

	if (p->state != PG_READY || p->round_ != PG_ROUND_NONE || p->timer_ >= 0)
		return;
	if (p->need_rollback_) {
		p->need_rollback_ = 0;
		pg_round_start(p, PG_ROUND_ROLLBACK, NULL);
		return;
	}
	b = pg_next_queued(p);
	if (!b)
		return;
	b->state = PG_BATCH_SENT;
	p->sent_ = (int)(b - p->batches);
	pg_round_start(p, PG_ROUND_BATCH, b);
}

/* ---- batches: results ----------------------------------------------------- */

/* SQLSTATE classes a single row can cause: data exception, integrity
 * constraint violation, program limit exceeded. */
static int pg_row_fault(const char *sqlstate)
{
	return sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
			    strncmp(sqlstate, "54", 2) == 0);
}

static void pg_note_result(struct pg *p, PGresult *r, struct pg_outcome_ *out)
{
	ExecStatusType st = PQresultStatus(r);
	int i = p->stmt_cur_;
	struct pg_batch *b = p->sent_ >= 0 ? &p->batches[p->sent_] : NULL;

	if (st == PGRES_FATAL_ERROR && !out->failed) {
		out->failed = 1;
		out->stmt = i;
		pg_copy(out->sqlstate, sizeof out->sqlstate,
			PQresultErrorField(r, PG_DIAG_SQLSTATE));
		pg_set_msg(out->msg, sizeof out->msg, PQresultErrorMessage(r));
		return;
	}
	if (!b || i >= p->stmts_n_ || p->stmt_kind_[i] == PG_STMT_CTL || p->round_ != PG_ROUND_BATCH)
		return;
	if (st == PGRES_TUPLES_OK && p->stmt_row_[i] == PG_STMT_BULK) {
		pg_bulk_result(p, b, (enum pg_kind)p->stmt_kind_[i], r);
	} else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		enum pg_kind k = (enum pg_kind)p->stmt_kind_[i];
		int row = p->stmt_row_[i];

		if (b->st[k][row] == PG_ROW_PENDING)
			b->st[k][row] = PQntuples(r) > 0 || st == PGRES_COMMAND_OK
						? PG_ROW_NEW
						: (k == PG_KIND_FILL ? PG_ROW_DUP : PG_ROW_STALE);
	}
}

static void pg_batch_committed(struct pg *p, struct pg_batch *b)
{
	for (int i = 0; i < b->n[PG_KIND_FILL]; i++) {
		b->new_n += b->st[PG_KIND_FILL][i] == PG_ROW_NEW;
		b->dup_n += b->st[PG_KIND_FILL][i] == PG_ROW_DUP;
	}
	for (int k = 0; k < PG_KINDS; k++)
		for (int i = 0; i < b->n[k]; i++) {
			b->stale_n += b->st[k][i] == PG_ROW_STALE;
			b->rejected_n += b->st[k][i] == PG_ROW_REJECTED;
			b->dropped_n += b->st[k][i] == PG_ROW_DROPPED;
		}
	p->stats.batches++;
	p->stats.fills_new += (uint64_t)b->new_n;
	p->stats.fills_dup += (uint64_t)b->dup_n;
	p->stats.stale += (uint64_t)b->stale_n;
	p->stats.rejected += (uint64_t)b->rejected_n;
	p->stats.dropped += (uint64_t)b->dropped_n;
	p->sent_ = -1;
	p->backoff_ms_ = p->opts.backoff_min_ms;
	if (p->opts.on_commit)
		p->opts.on_commit(p->opts.arg, p, b);
	b->state = PG_BATCH_FREE;
}

static struct pg_reject *pg_reject_slot(struct pg_batch *b)
{
	const int max = (int)(sizeof b->rejects_ / sizeof b->rejects_[0]);

	return &b->rejects_[b->rejects_n < max ? b->rejects_n++ : max - 1];
}

/* A row refused the batch: quarantine it (or drop it if its quarantine was
 * refused) and send the batch again. */
static void pg_row_refused(struct pg *p, struct pg_batch *b, const struct pg_outcome_ *o)
{
	enum pg_kind k = (enum pg_kind)p->stmt_kind_[o->stmt];
	int row = p->stmt_row_[o->stmt];
	struct pg_reject *rj;

	if (b->st[k][row] == PG_ROW_REJECTED) {
		b->st[k][row] = PG_ROW_DROPPED;
		log_error("PostgreSQL refused a row and its quarantine", LI("kind", k),
			  LS("error", o->msg), LS("raw", pg_sql_row_raw(b, k, row)));
		return;
	}
	rj = pg_reject_slot(b);
	pg_copy(rj->sqlstate, sizeof rj->sqlstate, o->sqlstate);
	pg_copy(rj->msg, sizeof rj->msg, o->msg);
	b->rej_[k][row] = rj;
	b->st[k][row] = PG_ROW_REJECTED;
	log_warn("PostgreSQL refused a row: quarantined in trading.rejects", LI("kind", k),
		 LS("sqlstate", o->sqlstate), LS("error", o->msg));
}

static void pg_round_done(struct pg *p, const struct pg_outcome_ *o)
{
	struct pg_batch *b = p->sent_ >= 0 ? &p->batches[p->sent_] : NULL;
	enum pg_round kind = p->round_;

	p->round_ = PG_ROUND_NONE;
	if (!PQexitPipelineMode(p->conn_)) {
		pg_lost(p, PQerrorMessage(p->conn_));
		return;
	}
	if (PQtransactionStatus(p->conn_) == PQTRANS_INERROR)
		p->need_rollback_ = 1;
	if (kind == PG_ROUND_BATCH && b && !o->failed) {
		pg_batch_committed(p, b);
	} else if (kind == PG_ROUND_BATCH && b) {
		int row_fault = o->stmt < p->stmts_n_ && p->stmt_kind_[o->stmt] != PG_STMT_CTL &&
				pg_row_fault(o->sqlstate);

		int bulk = o->stmt < p->stmts_n_ && p->stmt_row_[o->stmt] == PG_STMT_BULK &&
			   (row_fault || strncmp(o->sqlstate, "21", 2) == 0);

		p->stats.retries++;
		if (bulk) {
			/* Which row, the multi-row statement does not say: ask row by row. */
			log_info("PostgreSQL refused a multi-row statement: sending the batch row by row",
				 LS("sqlstate", o->sqlstate), LS("error", o->msg));
			b->single_ = 1;
			row_fault = 1;
		} else if (row_fault) {
			pg_row_refused(p, b, o);
		} else {
			log_warn("PostgreSQL batch failed; sending it again after a pause",
				 LS("sqlstate", o->sqlstate), LS("error", o->msg),
				 LI("pause_ms", p->backoff_ms_));
			pg_fail_sticky(p, FR_EIO, o->msg);
		}
		b->state = PG_BATCH_QUEUED;
		p->sent_ = -1;
		if (!row_fault) {
			pg_pause(p);
			return;
		}
	} else if (o->failed) {
		pg_lost(p, o->msg); /* a failed ROLLBACK: start over on a new connection */
		return;
	}
	pg_kick(p);
}

static void pg_round_results(struct pg *p)
{
	struct pg_outcome_ *o = &p->out_;

	while (p->round_ != PG_ROUND_NONE && !PQisBusy(p->conn_)) {
		PGresult *r = PQgetResult(p->conn_);

		if (!r) {
			if (!p->got_cur_)
				break;
			p->stmt_cur_++;
			p->got_cur_ = 0;
			continue;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			pg_round_done(p, o);
			return;
		}
		pg_note_result(p, r, o);
		p->got_cur_ = 1;
		PQclear(r);
	}
}

/* ---- the blocking read --------------------------------------------------- */

/* see pg.h */
int pg_query_blocking(struct pg *p, const char *sql, pg_row_fn fn, void *arg)
{
	struct pg_blk k;
	int rc = pg_blk_open(p, &k);

	if (rc != 0)
		return rc;
	rc = pg_blk_query(&k, sql, 0, NULL, fn, arg);
	pg_blk_close(&k);
	return rc;
}

/* ---- blocking statements ------------------------------------------------- */

/* see pg.h */
/* The conninfo values of a connection of its own: the main one's, with the
 * address it resolved, or NULL for hostaddr while none is known (libpq then
 * looks the name up itself, blocking: start-up only). */
static void pg_own_vals(const struct pg *p, const char **vals)
{
	memcpy(vals, p->vals_, sizeof p->vals_);
	if (p->hostaddr_i_ >= 0)
		vals[p->hostaddr_i_] = p->hostaddr_[0] ? p->hostaddr_ : NULL;
}

int pg_blk_open(struct pg *p, struct pg_blk *k)
{
	const char *vals[PG_PARAMS_MAX + 1];
	PGconn *c;

	k->p = p;
	k->conn = NULL;
	k->io = NULL;
	k->changed = 0;
	pg_own_vals(p, vals);
	c = PQconnectdbParams(p->keys_, vals, 0);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		pg_set_msg(p->msg, sizeof p->msg, c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return FR_EIO;
	}
	k->conn = c;
	return 0;
}

/* see pg.h */
void pg_blk_close(struct pg_blk *k)
{
	if (k->conn)
		PQfinish(k->conn);
	k->conn = NULL;
}

/* Hands a single-row result's fields (NULL for SQL NULL, at most 64) to fn. */
static int pg_row_call(const PGresult *r, pg_row_fn fn, void *arg)
{
	const char *row[64];
	int n = PQnfields(r);

	if (n > (int)(sizeof row / sizeof row[0]))
		n = (int)(sizeof row / sizeof row[0]);
	for (int i = 0; i < n; i++)
		row[i] = PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
	return fn(arg, n, row);
}

/* see pg.h */
int pg_blk_query(struct pg_blk *k, const char *sql, int nparams, const char *const *params,
                 pg_row_fn fn, void *arg)
{
	struct pg *p = k->p;
	PGconn *c = k->conn;
	PGresult *r;
	int rc = 0, rows = 0;

	if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0) || !PQsetSingleRowMode(c)) {
		pg_set_msg(p->msg, sizeof p->msg, PQerrorMessage(c));
		return FR_EIO;
	}
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_SINGLE_TUPLE && rc == 0) {
			rc = pg_row_call(r, fn, arg);
			rows++;
		} else if (st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE && rc == 0) {
			pg_set_msg(p->msg, sizeof p->msg, PQresultErrorMessage(r));
			rc = FR_EIO;
		}
		PQclear(r);
	}
	return rc < 0 ? rc : rows;
}

static int pg_rbio_sent(struct pg_rbio *io);

/* Runs one statement; returns the rows it affected (PQcmdTuples) or FR_EIO.
 * A pg_rbio's writer sends it and returns 0 (its answer is counted there). */
static int pg_blk_run(struct pg_blk *k, const char *sql, const struct pg_params *pp)
{
	PGresult *r;
	ExecStatusType st;
	int rc;

	if (k->io) {
		if (!PQsendQueryParams(k->conn, sql, pp ? pp->n : 0, NULL, pp ? pp->v : NULL, NULL,
		                       NULL, 0)) {
			pg_set_msg(k->p->msg, sizeof k->p->msg, PQerrorMessage(k->conn));
			return FR_EIO;
		}
		return pg_rbio_sent(k->io);
	}
	r = PQexecParams(k->conn, sql, pp ? pp->n : 0, NULL, pp ? pp->v : NULL, NULL, NULL, 0);
	st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_set_msg(k->p->msg, sizeof k->p->msg,
		           r ? PQresultErrorMessage(r) : PQerrorMessage(k->conn));
		PQclear(r);
		return FR_EIO;
	}
	rc = atoi(PQcmdTuples(r));
	PQclear(r);
	return rc;
}

/* see pg.h */
int pg_blk_exec(struct pg_blk *k, const char *sql)
{
	int rc = pg_blk_run(k, sql, NULL);

	return rc < 0 ? rc : 0;
}

static const char pg_sql_derived[] =
	"UPDATE trading.fills SET bot_id = $3, reason = $4, close_reason = $5,"
	" realized_pnl = $6, trade_seq = $7 WHERE account = $1 AND exec_id = $2 AND"
	" (bot_id, reason, close_reason, realized_pnl, trade_seq) IS DISTINCT FROM"
	" ($3, $4, $5, $6::numeric, $7::bigint)";

/* see pg.h */
int pg_blk_fill_derived(struct pg_blk *k, const char *account, const char *exec_id,
                        const struct pg_derived *d)
{
	static struct pg_params pp;
	struct pg_derived none;

	if (!d || !d->bot[0]) {
		if (d)
			none = *d;
		else
			memset(&none, 0, sizeof none);
		pg_copy(none.bot, sizeof none.bot, BOOK_BOT_UNATTRIBUTED);
		d = &none;
	}
	pp.n = 0;
	pp_str(&pp, account);
	pp_str(&pp, exec_id);
	pp_str(&pp, d->bot);
	pp_str(&pp, d->reason);
	pp_str(&pp, d->close_reason);
	pp_decv(&pp, d->realized_pnl);
	pp_int(&pp, d->trade_seq);
	return pg_blk_run(k, pg_sql_derived, &pp);
}

static const char pg_sql_alloc_rb[] =
	PG_ALLOC_UPSERT " WHERE (t.qty, t.fee, t.realized_pnl, t.trade_seq)"
	" IS DISTINCT FROM (excluded.qty, excluded.fee, excluded.realized_pnl,"
	" excluded.trade_seq)";

static const char pg_sql_alloc_keep[] =
	"DELETE FROM trading.fill_allocations WHERE account = $1 AND exec_id = $2 AND"
	" NOT (bot_id || ':' || position_idx = ANY (string_to_array($3, ',')))";

/* see pg.h */
int pg_blk_allocs(struct pg_blk *k, const char *account, const char *exec_id,
                  const struct book_result *r)
{
	static struct pg_params pp;
	char keep[BOOK_ALLOC_MAX * (BOOK_BOT_MAX + 8)];
	size_t used = 0;
	int rc, changed = 0;

	keep[0] = 0;
	for (int i = 0; r && r->allocs_n > 1 && i < r->allocs_n; i++) {
		const struct book_alloc *a = &r->allocs[i];

		pp.n = 0;
		pp_str(&pp, account);
		pp_str(&pp, exec_id);
		pp_str(&pp, a->bot);
		pp_int(&pp, a->position_idx);
		pp_decv(&pp, a->qty);
		pp_decv(&pp, a->fee);
		pp_decv(&pp, a->realized_pnl);
		pp_int(&pp, a->trade_seq);
		if ((rc = pg_blk_run(k, pg_sql_alloc_rb, &pp)) < 0)
			return rc;
		changed += rc;
		used += (size_t)snprintf(keep + used, sizeof keep - used, "%s%s:%d",
		                         used ? "," : "", a->bot, a->position_idx);
	}
	pp.n = 0;
	pp_str(&pp, account);
	pp_str(&pp, exec_id);
	pp_str(&pp, keep);
	if ((rc = pg_blk_run(k, pg_sql_alloc_keep, &pp)) < 0)
		return rc;
	return changed + rc;
}

static const char pg_sql_trip_rb[] =
	PG_TRIP_UPSERT
	" WHERE (t.position_idx, t.side, t.entry_reason, t.close_reason, t.opened_at,"
	" t.closed_at, t.qty, t.gross_pnl, t.fees, t.funding, t.net_pnl, t.currency)"
	" IS DISTINCT FROM (excluded.position_idx, excluded.side, excluded.entry_reason,"
	" excluded.close_reason, excluded.opened_at, excluded.closed_at, excluded.qty,"
	" excluded.gross_pnl, excluded.fees, excluded.funding, excluded.net_pnl,"
	" excluded.currency)";

/* see pg.h */
int pg_blk_trip(struct pg_blk *k, const struct book_trip *t)
{
	static struct pg_params pp;

	pg_pp_trip(&pp, t);
	return pg_blk_run(k, pg_sql_trip_rb, &pp);
}

/* keep is "BOT:MAXSEQ,...": a trip stays when its bot is listed with a
 * MAXSEQ >= its trade_seq. */
static const char pg_sql_trips_keep[] =
	"DELETE FROM trading.trades_pnl t WHERE account = $1 AND category = $2 AND symbol = $3"
	" AND NOT EXISTS (SELECT 1 FROM unnest(string_to_array($4, ',')) AS k(v)"
	" WHERE split_part(k.v, ':', 1) = t.bot_id"
	" AND t.trade_seq <= split_part(k.v, ':', 2)::bigint)";

/* see pg.h */
int pg_blk_trips_keep(struct pg_blk *k, const char *account, const char *category,
                      const char *symbol, const char *keep)
{
	static struct pg_params pp;

	pp.n = 0;
	pp_str(&pp, account);
	pp_str(&pp, category);
	pp_str(&pp, symbol);
	pp_str(&pp, keep);
	return pg_blk_run(k, pg_sql_trips_keep, &pp);
}

static const char pg_sql_botpos_rb[] =
	PG_BOTPOS_UPSERT
	" WHERE (t.size, t.avg_price, t.realized_pnl, t.fees, t.funding, t.currency,"
	" t.trade_seq, t.open_seq, t.open_side, t.entry_reason, t.opened_at, t.open_qty,"
	" t.open_gross_pnl, t.open_fees, t.open_funding, t.last_exec_id, t.last_exec_time)"
	" IS DISTINCT FROM (excluded.size, excluded.avg_price, excluded.realized_pnl,"
	" excluded.fees, excluded.funding, excluded.currency, excluded.trade_seq,"
	" excluded.open_seq, excluded.open_side, excluded.entry_reason, excluded.opened_at,"
	" excluded.open_qty, excluded.open_gross_pnl, excluded.open_fees,"
	" excluded.open_funding, excluded.last_exec_id, excluded.last_exec_time)";

/* see pg.h */
int pg_blk_bot_position(struct pg_blk *k, const struct book_position *q)
{
	static struct pg_params pp;

	pg_pp_botpos(&pp, q);
	return pg_blk_run(k, pg_sql_botpos_rb, &pp);
}

static const char pg_sql_botpos_keep[] =
	"DELETE FROM trading.bot_positions WHERE account = $1 AND category = $2 AND symbol = $3"
	" AND NOT (bot_id || ':' || position_idx = ANY (string_to_array($4, ',')))";

/* see pg.h */
int pg_blk_bot_positions_keep(struct pg_blk *k, const char *account, const char *category,
                              const char *symbol, const char *keep)
{
	static struct pg_params pp;

	pp.n = 0;
	pp_str(&pp, account);
	pp_str(&pp, category);
	pp_str(&pp, symbol);
	pp_str(&pp, keep);
	return pg_blk_run(k, pg_sql_botpos_keep, &pp);
}

/* ---- a rebuild's connections, on the loop --------------------------------- */

static void pg_rbio_on_rd(struct loop *l, int fd, short revents, void *arg);
static void pg_rbio_on_wr(struct loop *l, int fd, short revents, void *arg);

/* see pg.h */
void pg_rbio_init(struct pg_rbio *io, struct pg *p, struct loop *l)
{
	memset(io, 0, sizeof *io);
	io->p = p;
	io->loop = l;
	io->rd.p = io->wr.p = p;
	io->rd_fd_ = io->wr_fd_ = io->timer_ = io->step_ = -1;
}

/* see pg.h */
int pg_rbio_busy(const struct pg_rbio *io)
{
	return io->state != PG_RBIO_IDLE;
}

static void pg_rbio_unwatch(struct pg_rbio *io, int *fd)
{
	if (*fd >= 0)
		loop_fd_del(io->loop, *fd);
	*fd = -1;
}

static void pg_rbio_close(struct pg_rbio *io)
{
	pg_rbio_unwatch(io, &io->rd_fd_);
	pg_rbio_unwatch(io, &io->wr_fd_);
	if (io->timer_ >= 0)
		loop_timer_cancel(io->loop, io->timer_);
	if (io->step_ >= 0)
		loop_timer_cancel(io->loop, io->step_);
	io->timer_ = io->step_ = -1;
	if (io->rd.conn)
		PQfinish(io->rd.conn);
	if (io->wr.conn)
		PQfinish(io->wr.conn);
	io->rd.conn = io->wr.conn = NULL;
	io->wr.io = NULL;
	io->state = PG_RBIO_IDLE;
}

/* see pg.h */
void pg_rbio_cancel(struct pg_rbio *io)
{
	pg_rbio_close(io);
}

static void pg_rbio_end(struct pg_rbio *io, int rc, const char *why)
{
	if (rc != 0 && why)
		pg_set_msg(io->p->msg, sizeof io->p->msg, why);
	pg_rbio_close(io);
	io->on_done_(io->arg_, rc);
}

static void pg_rbio_on_stall(struct loop *l, int id, void *arg)
{
	struct pg_rbio *io = arg;

	(void)l;
	(void)id;
	io->timer_ = -1;
	pg_rbio_end(io, FR_EIO, io->state == PG_RBIO_CONNECTING
	                            ? "rebuild: no connection to PostgreSQL in time"
	                            : "rebuild: PostgreSQL stopped answering");
}

/* Something moved: the stall timer starts again. */
static void pg_rbio_progress(struct pg_rbio *io)
{
	int ms = io->state == PG_RBIO_CONNECTING ? io->p->timeout_ms_ : PG_RBIO_STALL_MS;

	if (io->timer_ >= 0)
		loop_timer_cancel(io->loop, io->timer_);
	io->timer_ = loop_timer_add(io->loop, ms, 0, pg_rbio_on_stall, io);
}

static int pg_rbio_watch(struct pg_rbio *io, void *conn, int *fd, short events, loop_fd_fn fn)
{
	return pg_watch_conn(io->loop, conn, fd, events, fn, io);
}

/* The writer's events: answers always, the socket while output waits. */
static int pg_rbio_wr_want(struct pg_rbio *io)
{
	int f = PQflush(io->wr.conn);

	if (f < 0)
		return FR_EIO;
	return pg_rbio_watch(io, io->wr.conn, &io->wr_fd_, (short)(POLLIN | (f ? POLLOUT : 0)),
	                     pg_rbio_on_wr);
}

static int pg_rbio_sent(struct pg_rbio *io)
{
	io->wr_inflight_++;
	io->wr_unasked_ = 1;
	if (pg_rbio_wr_want(io) != 0) {
		pg_set_msg(io->p->msg, sizeof io->p->msg, PQerrorMessage(io->wr.conn));
		return FR_EIO;
	}
	return 0;
}

static int pg_rbio_connect_one(struct pg_rbio *io, struct pg_blk *k)
{
	struct pg *p = io->p;
	const char *vals[PG_PARAMS_MAX + 1];

	pg_own_vals(p, vals);
	if (p->hostaddr_i_ >= 0 && !vals[p->hostaddr_i_]) { /* never a lookup on the loop */
		pg_set_msg(p->msg, sizeof p->msg, "rebuild: PostgreSQL's address is not known yet");
		return FR_EIO;
	}
	k->conn = PQconnectStartParams(p->keys_, vals, 0);
	if (!k->conn || PQstatus(k->conn) == CONNECTION_BAD) {
		pg_set_msg(p->msg, sizeof p->msg, k->conn ? PQerrorMessage(k->conn) : "out of memory");
		return FR_EIO;
	}
	PQsetNoticeProcessor(k->conn, pg_notice, p);
	return 0;
}

/* Both connected: BEGIN on the writer, the query on the reader. */
static void pg_rbio_go(struct pg_rbio *io)
{
	if (PQsetnonblocking(io->rd.conn, 1) != 0 || PQsetnonblocking(io->wr.conn, 1) != 0 ||
	    !PQenterPipelineMode(io->wr.conn)) {
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
		return;
	}
	io->state = PG_RBIO_READING;
	io->wr.io = io;
	io->wr.changed = 0;
	io->wr_got_ = io->wr_inflight_ = io->wr_unasked_ = 0;
	pg_rbio_progress(io);
	io->on_ready_(io->arg_);
	if (!PQsendQueryParams(io->wr.conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
	    pg_rbio_wr_want(io) != 0) {
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
		return;
	}
	if (!PQsendQueryParams(io->rd.conn, io->sql_, io->nparams_, NULL, io->params_, NULL, NULL,
	                       0) ||
	    !PQsetSingleRowMode(io->rd.conn) || PQflush(io->rd.conn) < 0 ||
	    pg_rbio_watch(io, io->rd.conn, &io->rd_fd_, POLLIN, pg_rbio_on_rd) != 0)
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->rd.conn));
}

/* One connection's PQconnectPoll step; the job goes on once both are up. */
static void pg_rbio_connect_step(struct pg_rbio *io, struct pg_blk *k, int *fd, int *ok,
                                 loop_fd_fn fn)
{
	short ev = 0;

	switch (PQconnectPoll(k->conn)) {
	case PGRES_POLLING_READING:
		ev = POLLIN;
		break;
	case PGRES_POLLING_WRITING:
		ev = POLLOUT;
		break;
	case PGRES_POLLING_OK:
		*ok = 1;
		ev = POLLIN;
		break;
	default:
		pg_rbio_end(io, FR_EIO, PQerrorMessage(k->conn));
		return;
	}
	if (pg_rbio_watch(io, k->conn, fd, ev, fn) != 0) {
		pg_rbio_end(io, FR_EIO, "rebuild: no loop slot for a PostgreSQL socket");
		return;
	}
	if (io->rd_ok_ && io->wr_ok_)
		pg_rbio_go(io);
}

/* see pg.h */
int pg_rbio_start(struct pg_rbio *io, const char *sql, int nparams, const char *const *params,
                  void (*on_ready)(void *arg), pg_row_fn on_row, int (*on_end)(void *arg),
                  void (*on_done)(void *arg, int rc), void *arg)
{
	int rc;

	if (io->state != PG_RBIO_IDLE) {
		pg_set_msg(io->p->msg, sizeof io->p->msg, "rebuild: one is already running");
		return FR_EINVAL;
	}
	io->sql_ = sql;
	io->nparams_ = nparams;
	io->params_ = params;
	io->on_ready_ = on_ready;
	io->on_row_ = on_row;
	io->on_end_ = on_end;
	io->on_done_ = on_done;
	io->arg_ = arg;
	io->rd_ok_ = io->wr_ok_ = 0;
	io->state = PG_RBIO_CONNECTING;
	rc = pg_rbio_connect_one(io, &io->rd);
	if (rc == 0)
		rc = pg_rbio_connect_one(io, &io->wr);
	if (rc == 0 && (pg_rbio_watch(io, io->rd.conn, &io->rd_fd_, POLLOUT, pg_rbio_on_rd) != 0 ||
	                pg_rbio_watch(io, io->wr.conn, &io->wr_fd_, POLLOUT, pg_rbio_on_wr) != 0))
		rc = FR_EFULL;
	if (rc != 0) {
		if (rc == FR_EFULL)
			pg_set_msg(io->p->msg, sizeof io->p->msg,
			           "rebuild: no loop slot for a PostgreSQL socket");
		pg_rbio_close(io);
		return rc;
	}
	pg_rbio_progress(io);
	return 0;
}

static void pg_rbio_read(struct pg_rbio *io);

static void pg_rbio_on_step(struct loop *l, int id, void *arg)
{
	struct pg_rbio *io = arg;

	(void)l;
	(void)id;
	io->step_ = -1;
	if (io->state == PG_RBIO_READING)
		pg_rbio_read(io);
}

/* Rows as libpq holds them, PG_RBIO_ROWS_STEP at most per loop iteration;
 * the reader's socket is watched only while libpq needs more input, so what
 * libpq buffers stays about one read (a long history never sits in memory).
 * A step waits while the writer still has output for the server or the
 * caller says so (may_read): memory stays bounded when a sink is slower. */
static void pg_rbio_read(struct pg_rbio *io)
{
	PGconn *c = io->rd.conn;
	int n = 0, done = 0, f = PQflush(io->wr.conn);

	if (f != 0 || io->wr_inflight_ >= PG_RBIO_INFLIGHT_MAX ||
	    (io->may_read_ && !io->may_read_(io->arg_))) {
		if (f < 0) {
			pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
			return;
		}
		if (pg_rbio_watch(io, c, &io->rd_fd_, 0, pg_rbio_on_rd) != 0 || pg_rbio_wr_want(io) != 0) {
			pg_rbio_end(io, FR_EIO, "rebuild: no loop slot for a PostgreSQL socket");
			return;
		}
		if (io->step_ < 0)
			io->step_ = loop_timer_add(io->loop, PG_RBIO_WAIT_MS, 0, pg_rbio_on_step, io);
		return;
	}
	while (n < PG_RBIO_ROWS_STEP && io->wr_inflight_ < PG_RBIO_INFLIGHT_MAX && !PQisBusy(c)) {
		PGresult *r = PQgetResult(c);
		ExecStatusType st;

		if (!r) {
			done = 1;
			break;
		}
		st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE) {
			int rc = pg_row_call(r, io->on_row_, io->arg_);

			PQclear(r);
			n++;
			if (rc < 0 || io->state != PG_RBIO_READING) {
				if (io->state == PG_RBIO_READING)
					pg_rbio_end(io, FR_EIO, NULL);
				return;
			}
			continue;
		}
		if (st != PGRES_TUPLES_OK) {
			char why[ERR_MSG_MAX];

			pg_set_msg(why, sizeof why, PQresultErrorMessage(r));
			PQclear(r);
			pg_rbio_end(io, FR_EIO, why);
			return;
		}
		PQclear(r);
	}
	if (n)
		pg_rbio_progress(io);
	/* The server holds its answers until asked (no Sync inside the
	 * transaction): ask, so they come back and the in-flight count falls. */
	if (io->wr_unasked_) {
		io->wr_unasked_ = 0;
		if (!PQsendFlushRequest(io->wr.conn) || pg_rbio_wr_want(io) != 0) {
			pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
			return;
		}
	}
	if (!done) {
		/* libpq may hold more rows: on at the next iteration (or once the
		 * writer's answers came back) without waiting for the socket */
		int more = n >= PG_RBIO_ROWS_STEP || io->wr_inflight_ >= PG_RBIO_INFLIGHT_MAX;

		if (pg_rbio_watch(io, c, &io->rd_fd_, more ? 0 : POLLIN, pg_rbio_on_rd) != 0) {
			pg_rbio_end(io, FR_EIO, "rebuild: no loop slot for a PostgreSQL socket");
			return;
		}
		if (more && io->step_ < 0)
			io->step_ = loop_timer_add(io->loop, 0, 0, pg_rbio_on_step, io);
		return;
	}
	/* Every row is in: the last writes, then COMMIT and the one Sync. */
	pg_rbio_unwatch(io, &io->rd_fd_);
	PQfinish(c);
	io->rd.conn = NULL;
	if (io->on_end_(io->arg_) < 0) {
		pg_rbio_end(io, FR_EIO, NULL);
		return;
	}
	if (io->state != PG_RBIO_READING)
		return;
	io->state = PG_RBIO_COMMITTING;
	if (!PQsendQueryParams(io->wr.conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(io->wr.conn) || pg_rbio_wr_want(io) != 0)
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
}

static void pg_rbio_on_rd(struct loop *l, int fd, short revents, void *arg)
{
	struct pg_rbio *io = arg;

	(void)l;
	(void)fd;
	(void)revents;
	if (io->state == PG_RBIO_CONNECTING) {
		pg_rbio_connect_step(io, &io->rd, &io->rd_fd_, &io->rd_ok_, pg_rbio_on_rd);
		return;
	}
	if (!PQconsumeInput(io->rd.conn)) {
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->rd.conn));
		return;
	}
	pg_rbio_read(io);
}

/* The writer's answers: rows changed add up; the first failure ends the job
 * (the transaction is rolled back when the connection closes); the Sync
 * after COMMIT ends it well. */
static void pg_rbio_answers(struct pg_rbio *io)
{
	PGconn *c = io->wr.conn;

	while (!PQisBusy(c)) {
		PGresult *r = PQgetResult(c);
		ExecStatusType st;

		if (!r) {
			if (!io->wr_got_)
				return;
			io->wr_got_ = 0;
			continue;
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			if (io->state == PG_RBIO_COMMITTING)
				pg_rbio_end(io, 0, NULL);
			return;
		}
		io->wr_got_ = 1;
		if (io->wr_inflight_ > 0)
			io->wr_inflight_--;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			io->wr.changed += (uint64_t)atoi(PQcmdTuples(r));
			PQclear(r);
			pg_rbio_progress(io);
			continue;
		}
		{
			char why[ERR_MSG_MAX];

			pg_set_msg(why, sizeof why, PQresultErrorMessage(r));
			PQclear(r);
			pg_rbio_end(io, FR_EIO, why);
			return;
		}
	}
}

static void pg_rbio_on_wr(struct loop *l, int fd, short revents, void *arg)
{
	struct pg_rbio *io = arg;

	(void)l;
	(void)fd;
	if (io->state == PG_RBIO_CONNECTING) {
		pg_rbio_connect_step(io, &io->wr, &io->wr_fd_, &io->wr_ok_, pg_rbio_on_wr);
		return;
	}
	if ((revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(io->wr.conn)) {
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
		return;
	}
	pg_rbio_answers(io);
	if (io->state != PG_RBIO_IDLE && pg_rbio_wr_want(io) != 0)
		pg_rbio_end(io, FR_EIO, PQerrorMessage(io->wr.conn));
}
