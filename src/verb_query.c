/*
 * verb_query.c -- see verb_query.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "verb_query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>

#include <hiredis/hiredis.h>

#include "book.h"
#include "dec.h"
#include "loop.h"
#include "pg.h"
#include "rds.h"
#include "resolv.h"

/* How a column prints: text left-aligned; decimals and counts right-aligned;
 * in JSON a decimal is a string (exact), a count a number. */
enum vq_type { VQ_T_TEXT, VQ_T_DEC, VQ_T_INT };

struct vq_col {
	const char *name;
	enum vq_type type;
};

struct vq_table {
	const struct vq_col *cols;
	int cols_n;
	int rows_n;
	int overflow; /* rows that did not fit */
	char cell[VQ_ROWS_MAX][VQ_COLS_MAX][VQ_CELL_MAX];
	unsigned char null[VQ_ROWS_MAX][VQ_COLS_MAX];
};

/* Static: the pg context is MiB, the table about 1 MiB. */
static struct loop vq_loop;
static struct resolv vq_resolv;
static struct pg vq_pg;
static struct vq_table vq_tab;
static const struct cfg *vq_cfg;
static enum vq_verb vq_verb_cur;

/* see verb_query.h */
const char *vq_verb_name(enum vq_verb v)
{
	return v == VQ_FILLS ? "fills" : v == VQ_PNL ? "pnl" : "positions";
}

__attribute__((format(printf, 1, 2))) static void vq_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fillrelay %s: ", vq_verb_name(vq_verb_cur));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the table ------------------------------------------------------------ */

static void vq_table_init(const struct vq_col *cols, int n)
{
	vq_tab.cols = cols;
	vq_tab.cols_n = n;
	vq_tab.rows_n = 0;
	vq_tab.overflow = 0;
}

/* Appends one row of vals[0..cols_n) (NULL = SQL NULL); 0 or FR_EFULL. */
static int vq_table_add(const char *const *vals)
{
	int r = vq_tab.rows_n;

	if (r >= VQ_ROWS_MAX) {
		vq_tab.overflow++;
		return FR_EFULL;
	}
	for (int i = 0; i < vq_tab.cols_n; i++) {
		vq_tab.null[r][i] = vals[i] == NULL;
		snprintf(vq_tab.cell[r][i], VQ_CELL_MAX, "%s", vals[i] ? vals[i] : "-");
	}
	vq_tab.rows_n++;
	return 0;
}

static void vq_print_padded(const char *s, int width, int right, int last)
{
	int pad = width - (int)strlen(s);

	if (right)
		printf("%*s%s", pad > 0 ? pad : 0, "", s);
	else if (last)
		fputs(s, stdout); /* no trailing blanks */
	else
		printf("%s%*s", s, pad > 0 ? pad : 0, "");
}

static void vq_print_line(const char *const *v, const int *w, int header)
{
	for (int i = 0; i < vq_tab.cols_n; i++) {
		int right = !header && vq_tab.cols[i].type != VQ_T_TEXT;

		if (header)
			right = vq_tab.cols[i].type != VQ_T_TEXT;
		if (i)
			fputs("  ", stdout);
		vq_print_padded(v[i], w[i], right, i == vq_tab.cols_n - 1);
	}
	putchar('\n');
}

static void vq_print_table(void)
{
	int w[VQ_COLS_MAX];
	const char *v[VQ_COLS_MAX];

	for (int i = 0; i < vq_tab.cols_n; i++) {
		w[i] = (int)strlen(vq_tab.cols[i].name);
		for (int r = 0; r < vq_tab.rows_n; r++)
			if ((int)strlen(vq_tab.cell[r][i]) > w[i])
				w[i] = (int)strlen(vq_tab.cell[r][i]);
		v[i] = vq_tab.cols[i].name;
	}
	vq_print_line(v, w, 1);
	for (int r = 0; r < vq_tab.rows_n; r++) {
		for (int i = 0; i < vq_tab.cols_n; i++)
			v[i] = vq_tab.cell[r][i];
		vq_print_line(v, w, 0);
	}
}

static void vq_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void vq_print_json(void)
{
	for (int r = 0; r < vq_tab.rows_n; r++) {
		putchar('{');
		for (int i = 0; i < vq_tab.cols_n; i++) {
			if (i)
				putchar(',');
			vq_json_str(vq_tab.cols[i].name);
			putchar(':');
			if (vq_tab.null[r][i])
				fputs("null", stdout);
			else if (vq_tab.cols[i].type == VQ_T_INT)
				fputs(vq_tab.cell[r][i], stdout);
			else
				vq_json_str(vq_tab.cell[r][i]);
		}
		fputs("}\n", stdout);
	}
}

/* Prints the table in the asked form; EX_SOFTWARE when rows were cut. */
static int vq_print(int json)
{
	if (json)
		vq_print_json();
	else
		vq_print_table();
	fflush(stdout);
	if (vq_tab.overflow) {
		vq_err("%d more rows than the table holds (%d) were not printed", vq_tab.overflow,
		       VQ_ROWS_MAX);
		return EX_SOFTWARE;
	}
	return EX_OK;
}

/* A pg_row_fn: the query's columns are the table's. */
static int vq_row(void *arg, int ncols, const char *const *v)
{
	(void)arg;
	if (ncols != vq_tab.cols_n)
		return FR_EPROTO;
	vq_table_add(v);
	return 0; /* past VQ_ROWS_MAX: counted, and the query goes on */
}

/* ---- PostgreSQL ----------------------------------------------------------- */

static void vq_on_pg_event(void *arg, struct pg *p, enum pg_event ev)
{
	(void)arg;
	if (ev == PG_EV_CONNECTED || ev == PG_EV_MIGRATED || ev == PG_EV_FAILED)
		loop_stop(p->loop);
}

/* Resolves and connects once through the loop (numeric hostaddr for libpq),
 * then opens the blocking connection k. */
static int vq_pg_open(struct pg_blk *k)
{
	const struct pg_opts opts = { .migrate = 0, .reconnect = 0, .on_event = vq_on_pg_event };

	if (pg_init(&vq_pg, &vq_loop, &vq_resolv, &vq_cfg->postgres, &opts) != 0) {
		vq_err("[postgres] conninfo: %s", vq_pg.msg);
		return EX_CONFIG;
	}
	pg_start(&vq_pg);
	if (loop_run(&vq_loop) != 0 || vq_pg.state == PG_FAILED || vq_pg.state == PG_IDLE) {
		vq_err("cannot connect to PostgreSQL: %s", vq_pg.msg);
		pg_stop(&vq_pg);
		return EX_UNAVAILABLE;
	}
	pg_stop(&vq_pg); /* keeps the resolved hostaddr for the blocking connection */
	if (pg_blk_open(&vq_pg, k) != 0) {
		vq_err("cannot connect to PostgreSQL: %s", vq_pg.msg);
		return EX_UNAVAILABLE;
	}
	return EX_OK;
}

/* One query into the table; EX_SOFTWARE (with the reason) when it fails. */
static int vq_pg_table(const char *sql, int n, const char *const *params)
{
	struct pg_blk k;
	int rc = vq_pg_open(&k);

	if (rc != EX_OK)
		return rc;
	rc = pg_blk_query(&k, sql, n, params, vq_row, NULL);
	pg_blk_close(&k);
	if (rc < 0) {
		vq_err("query failed: %s%s", rc == FR_EPROTO ? "unexpected columns" : vq_pg.msg,
		       strstr(vq_pg.msg, "does not exist") ? " (run `fillrelay migrate`)" : "");
		return EX_SOFTWARE;
	}
	return EX_OK;
}

/* ---- fills ---------------------------------------------------------------- */

static const struct vq_col vq_fills_cols[] = {
	{ "time", VQ_T_TEXT },         { "account", VQ_T_TEXT },    { "symbol", VQ_T_TEXT },
	{ "side", VQ_T_TEXT },         { "qty", VQ_T_DEC },         { "price", VQ_T_DEC },
	{ "fee", VQ_T_DEC },           { "fee_ccy", VQ_T_TEXT },    { "reason", VQ_T_TEXT },
	{ "close_reason", VQ_T_TEXT }, { "realized_pnl", VQ_T_DEC }, { "exec_type", VQ_T_TEXT },
};

/* Seed query 1, plus the fills the bot holds a part of (fill_allocations). */
static const char vq_fills_sql[] =
	"SELECT to_char(f.exec_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	" f.account, f.symbol, f.side, coalesce(a.qty, f.exec_qty)::text,"
	" f.exec_price::text, coalesce(a.fee, f.commission)::text, f.fee_currency, f.reason,"
	" f.close_reason, coalesce(a.realized_pnl, f.realized_pnl)::text, f.exec_type"
	" FROM trading.fills f LEFT JOIN trading.fill_allocations a"
	" ON a.account = f.account AND a.exec_id = f.exec_id AND a.bot_id = $1"
	" WHERE f.bot_id = $1 OR a.bot_id IS NOT NULL"
	" ORDER BY f.exec_time DESC, f.seq DESC NULLS LAST, f.exec_id COLLATE \"C\" DESC,"
	" a.position_idx LIMIT $2::int";

static int vq_fills(const struct vq_opts *o)
{
	char limit[16];
	const char *params[2] = { o->bot, limit };
	int rc;

	snprintf(limit, sizeof limit, "%d", o->limit ? o->limit : VQ_LIMIT_DEFAULT);
	vq_table_init(vq_fills_cols, (int)(sizeof vq_fills_cols / sizeof vq_fills_cols[0]));
	rc = vq_pg_table(vq_fills_sql, 2, params);
	return rc == EX_OK ? vq_print(o->json) : rc;
}

/* ---- pnl ------------------------------------------------------------------ */

static const struct vq_col vq_pnl_cols[] = {
	{ "bot", VQ_T_TEXT },   { "close_reason", VQ_T_TEXT }, { "currency", VQ_T_TEXT },
	{ "trades", VQ_T_INT }, { "total_pnl", VQ_T_DEC },     { "avg_pnl", VQ_T_DEC },
	{ "wins", VQ_T_INT },   { "win_rate", VQ_T_DEC },
};

#define VQ_AVG_PLACES_SQL "8" /* an average is not stored: rounded half away from zero */

/* Seed query 2 by close reason and currency; exact numeric, no ::FLOAT. */
static const char vq_pnl_sql[] =
	"SELECT bot_id, close_reason, currency, count(*)::text, sum(net_pnl)::text,"
	" trim_scale(round(avg(net_pnl), " VQ_AVG_PLACES_SQL "))::text,"
	" sum(CASE WHEN net_pnl > 0 THEN 1 ELSE 0 END)::text,"
	" trim_scale(round(sum(CASE WHEN net_pnl > 0 THEN 1 ELSE 0 END)::numeric / count(*), 4))::text"
	" FROM trading.trades_pnl WHERE $1::text IS NULL OR bot_id = $1"
	" GROUP BY bot_id, close_reason, currency"
	" ORDER BY bot_id COLLATE \"C\", currency COLLATE \"C\", sum(net_pnl) DESC,"
	" close_reason COLLATE \"C\"";

static int vq_pnl(const struct vq_opts *o)
{
	const char *params[1] = { o->bot };
	int rc;

	vq_table_init(vq_pnl_cols, (int)(sizeof vq_pnl_cols / sizeof vq_pnl_cols[0]));
	rc = vq_pg_table(vq_pnl_sql, 1, params);
	return rc == EX_OK ? vq_print(o->json) : rc;
}

/* ---- positions ------------------------------------------------------------ */

enum {
	VQ_P_ACCOUNT,
	VQ_P_BOT,
	VQ_P_CATEGORY,
	VQ_P_SYMBOL,
	VQ_P_IDX,
	VQ_P_SIZE,
	VQ_P_KEY,
	VQ_P_REDIS,
	VQ_P_EXCH_SIZE,
	VQ_P_EXCH_SIDE,
	VQ_P_DRIFT,
	VQ_P_STATUS,
	VQ_P_N
};

static const struct vq_col vq_pos_cols[VQ_P_N] = {
	{ "account", VQ_T_TEXT },   { "bot", VQ_T_TEXT },          { "category", VQ_T_TEXT },
	{ "symbol", VQ_T_TEXT },    { "position_idx", VQ_T_INT },  { "size", VQ_T_DEC },
	{ "redis_key", VQ_T_TEXT }, { "redis", VQ_T_DEC },         { "exchange", VQ_T_DEC },
	{ "exchange_side", VQ_T_TEXT }, { "drift", VQ_T_TEXT },    { "status", VQ_T_TEXT },
};

/* The first seven columns come from PostgreSQL (redis_key is filled later). */
static const char vq_pos_sql[] =
	"SELECT account, bot_id, category, symbol, position_idx::text, size::text, NULL,"
	" NULL, NULL, NULL, NULL, NULL"
	" FROM trading.bot_positions WHERE $1::text IS NULL OR bot_id = $1"
	" ORDER BY account COLLATE \"C\", bot_id COLLATE \"C\", category COLLATE \"C\","
	" symbol COLLATE \"C\", position_idx";

struct vq_redis {
	redisContext *c;
	int db; /* selected, -1 none */
	char addr[64];
	int resolved, done;
	char msg[RESOLV_MSG_MAX];
};

static void vq_on_resolved(struct resolv *r, int qid, const struct resolv_result *res, void *arg)
{
	struct vq_redis *v = arg;

	(void)r;
	(void)qid;
	if (res->status == RESOLV_OK && res->n > 0) {
		resolv_addr_str(&res->addrs[0], v->addr, sizeof v->addr);
		v->resolved = 1;
	} else {
		snprintf(v->msg, sizeof v->msg, "%s", res->msg);
	}
	v->done = 1;
}

/* One command's reply; NULL (and the connection's error printed) on failure. */
static redisReply *vq_redis_cmd(struct vq_redis *v, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(v->c, argc, argv, NULL);

	if (!r)
		vq_err("Redis: %s", v->c->errstr);
	else if (r->type == REDIS_REPLY_ERROR) {
		vq_err("Redis: %s", r->str);
		freeReplyObject(r);
		r = NULL;
	}
	return r;
}

static int vq_redis_open(struct vq_redis *v)
{
	const char *pw = vq_cfg->redis.password.value;
	struct timeval tv = { VQ_REDIS_TIMEOUT_MS / 1000, (VQ_REDIS_TIMEOUT_MS % 1000) * 1000 };
	const char *auth[2] = { "AUTH", pw };
	redisReply *r;

	/* The callback always runs (resolv.h), after the resolver's own timeouts. */
	if (resolv_lookup(&vq_resolv, vq_cfg->redis.host, AF_UNSPEC, vq_on_resolved, v) >= 0)
		while (!v->done && loop_run_once(&vq_loop, 100) >= 0)
			;
	if (!v->resolved) {
		vq_err("cannot connect to Redis: %s: %s", vq_cfg->redis.host,
		       v->msg[0] ? v->msg : "lookup failed");
		return EX_UNAVAILABLE;
	}
	v->c = redisConnectWithTimeout(v->addr, (int)vq_cfg->redis.port, tv);
	if (!v->c || v->c->err) {
		vq_err("cannot connect to Redis: %s", v->c ? v->c->errstr : "out of memory");
		return EX_UNAVAILABLE;
	}
	redisSetTimeout(v->c, tv);
	v->c->reader->maxbuf = 16 * 1024; /* never hiredis's defaults (STYLE.md) */
	if (pw && pw[0]) {
		if (!(r = vq_redis_cmd(v, 2, auth)))
			return EX_UNAVAILABLE;
		freeReplyObject(r);
	}
	return EX_OK;
}

static int vq_redis_select(struct vq_redis *v, int db)
{
	char n[16];
	const char *argv[2] = { "SELECT", n };
	redisReply *r;

	if (v->db == db)
		return 0;
	snprintf(n, sizeof n, "%d", db);
	if (!(r = vq_redis_cmd(v, 2, argv)))
		return FR_EIO;
	freeReplyObject(r);
	v->db = db;
	return 0;
}

/* The db and configured category of a bot; invented bots live in the db of
 * the account's default bot, else its first bot, else 0, category linear
 * (rds.h "Keys"). */
static void vq_bot_db(const char *bot, const char *account, int *db, const char **category)
{
	const struct cfg_bot *b = NULL;

	for (int i = 0; i < vq_cfg->bots_n && !b; i++)
		if (!strcmp(vq_cfg->bots[i].id, bot))
			b = &vq_cfg->bots[i];
	if (b) {
		*db = (int)b->redis_db;
		*category = cfg_category_name(b->category);
		return;
	}
	*category = "linear";
	*db = 0;
	for (int a = 0; a < vq_cfg->accounts_n; a++) {
		const struct cfg_account *acc = &vq_cfg->accounts[a];

		if (strcmp(acc->name, account))
			continue;
		for (int i = 0; i < vq_cfg->bots_n; i++) {
			if (!strcmp(vq_cfg->bots[i].account, account) &&
			    (acc->default_bot_idx < 0 || acc->default_bot_idx == i)) {
				*db = (int)vq_cfg->bots[i].redis_db;
				return;
			}
		}
	}
}

static void vq_status_add(char *status, const char *what)
{
	size_t n = strlen(status);

	snprintf(status + n, VQ_CELL_MAX - n, "%s%s", n ? "," : "", what);
}

/* |size| == value, as exact decimals. */
static int vq_same_abs(const char *size, const char *value)
{
	struct dec a, b;

	if (dec_parse(&a, size, strlen(size)) != 0 || dec_parse(&b, value, strlen(value)) != 0)
		return 0;
	return dec_cmp(dec_abs(a), b) == 0;
}

/* The exchange's view hash: size, side, drift into the row. */
static int vq_row_view(struct vq_redis *v, int row, char *status)
{
	char key[RDS_KEY_MAX];
	const char *argv[5] = { "HMGET", key, "size", "side", "drift" };
	const int cols[3] = { VQ_P_EXCH_SIZE, VQ_P_EXCH_SIDE, VQ_P_DRIFT };
	redisReply *r;

	if (rds_view_key(key, sizeof key, vq_tab.cell[row][VQ_P_ACCOUNT],
	                 vq_tab.cell[row][VQ_P_CATEGORY], vq_tab.cell[row][VQ_P_SYMBOL],
	                 atoi(vq_tab.cell[row][VQ_P_IDX])) < 0)
		return 0;
	if (!(r = vq_redis_cmd(v, 5, argv)))
		return FR_EIO;
	for (size_t i = 0; i < 3 && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type == REDIS_REPLY_STRING) {
			snprintf(vq_tab.cell[row][cols[i]], VQ_CELL_MAX, "%s", e->str);
			vq_tab.null[row][cols[i]] = 0;
		}
	}
	freeReplyObject(r);
	if (!strcmp(vq_tab.cell[row][VQ_P_DRIFT], "1"))
		vq_status_add(status, "drift");
	else if (!strcmp(vq_tab.cell[row][VQ_P_DRIFT], "pending"))
		vq_status_add(status, "pending");
	return 0;
}

/* The bot's key and its value, then the view, then the status of one row. */
static int vq_row_redis(struct vq_redis *v, int row)
{
	char (*cell)[VQ_CELL_MAX] = vq_tab.cell[row];
	char status[VQ_CELL_MAX] = "";
	const char *bot_cat, *argv[2] = { "GET", cell[VQ_P_KEY] };
	redisReply *r;
	int db;

	vq_bot_db(cell[VQ_P_BOT], cell[VQ_P_ACCOUNT], &db, &bot_cat);
	if (rds_position_key(cell[VQ_P_KEY], VQ_CELL_MAX, cell[VQ_P_BOT], bot_cat,
	                     cell[VQ_P_CATEGORY], cell[VQ_P_SYMBOL], atoi(cell[VQ_P_IDX]), 0) < 0)
		snprintf(cell[VQ_P_KEY], VQ_CELL_MAX, "-");
	vq_tab.null[row][VQ_P_KEY] = 0;
	if (vq_redis_select(v, db) != 0 || !(r = vq_redis_cmd(v, 2, argv)))
		return FR_EIO;
	if (r->type == REDIS_REPLY_STRING) {
		snprintf(cell[VQ_P_REDIS], VQ_CELL_MAX, "%s", r->str);
		vq_tab.null[row][VQ_P_REDIS] = 0;
		if (!vq_same_abs(cell[VQ_P_SIZE], r->str))
			vq_status_add(status, "redis-mismatch");
	} else {
		vq_status_add(status, "redis-missing");
	}
	freeReplyObject(r);
	if (vq_row_view(v, row, status) != 0)
		return FR_EIO;
	snprintf(cell[VQ_P_STATUS], VQ_CELL_MAX, "%s", status[0] ? status : "ok");
	vq_tab.null[row][VQ_P_STATUS] = 0;
	return 0;
}

static int vq_positions(const struct vq_opts *o)
{
	const char *params[1] = { o->bot };
	struct vq_redis v = { .db = -1 };
	int rc;

	vq_table_init(vq_pos_cols, VQ_P_N);
	rc = vq_pg_table(vq_pos_sql, 1, params);
	if (rc != EX_OK)
		return rc;
	rc = vq_redis_open(&v);
	for (int i = 0; rc == EX_OK && i < vq_tab.rows_n; i++)
		if (vq_row_redis(&v, i) != 0)
			rc = EX_UNAVAILABLE;
	if (v.c)
		redisFree(v.c);
	return rc == EX_OK ? vq_print(o->json) : rc;
}

/* ---- the verb ------------------------------------------------------------- */

/* A --bot must be configured, or one of the bots fillrelay invents. */
static int vq_bot_known(const char *bot)
{
	if (!strcmp(bot, BOOK_BOT_UNATTRIBUTED) || !strcmp(bot, BOOK_BOT_SHARED))
		return 1;
	for (int i = 0; i < vq_cfg->bots_n; i++)
		if (!strcmp(vq_cfg->bots[i].id, bot))
			return 1;
	return 0;
}

/* see verb_query.h */
int verb_query(enum vq_verb v, const struct cfg *c, const struct vq_opts *o)
{
	int rc;

	vq_cfg = c;
	vq_verb_cur = v;
	if (v == VQ_FILLS && !o->bot) {
		vq_err("--bot BOT is required");
		return EX_USAGE;
	}
	if (o->limit < 0 || o->limit > VQ_ROWS_MAX || (o->limit && v != VQ_FILLS)) {
		vq_err("--limit goes with fills, 1..%d", VQ_ROWS_MAX);
		return EX_USAGE;
	}
	if (o->bot && !vq_bot_known(o->bot)) {
		vq_err("bot '%s' is not in %s", o->bot, c->file);
		return EX_CONFIG;
	}
	loop_init(&vq_loop, &loop_sys_real);
	if (resolv_init(&vq_resolv, &vq_loop, NULL, NULL) != 0) {
		vq_err("cannot read /etc/resolv.conf or /etc/hosts");
		return EX_OSERR;
	}
	rc = v == VQ_FILLS ? vq_fills(o) : v == VQ_PNL ? vq_pnl(o) : vq_positions(o);
	resolv_close(&vq_resolv);
	return rc;
}
