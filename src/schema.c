/*
 * schema.c -- the migration steps (see schema.h). Released steps are frozen:
 * a change to the schema is a new step at the end of schema_steps.
 */
#include "schema.h"

#include <stdio.h>

#include "err.h"

/*
 * Step 1: the tables of DESIGN.md section 4. Notes on choices:
 *  - text, not varchar(n): Bybit's lengths are decode.h's business, and a
 *    longer value must not become a reject here.
 *  - Guards of "latest state" tables (orders, positions, wallet,
 *    bot_positions) are in the upserts of pg.c; the columns they compare
 *    (updated_time, seq, cum_exec_qty, updated_at) are NOT NULL here.
 *  - raw is jsonb for fills (queryable) and text in rejects (a reject may
 *    be exactly a raw text jsonb refuses).
 */
static const char schema_step1[] =
	"CREATE TABLE trading.fills ("
	" account text NOT NULL,"
	" exec_id text NOT NULL,"
	" bot_id text NOT NULL,"
	" symbol text NOT NULL,"
	" category text NOT NULL,"
	" side text NOT NULL,"
	" exec_qty numeric NOT NULL,"
	" exec_price numeric NOT NULL,"
	" exec_value numeric,"
	" commission numeric,"
	" fee_rate numeric,"
	" fee_currency text NOT NULL DEFAULT '',"
	" exec_type text NOT NULL,"
	" is_maker boolean,"
	" order_id text NOT NULL DEFAULT '',"
	" order_link_id text NOT NULL DEFAULT '',"
	" order_type text NOT NULL DEFAULT '',"
	" stop_order_type text NOT NULL DEFAULT '',"
	" create_type text NOT NULL DEFAULT '',"
	" reason text NOT NULL DEFAULT '',"
	" close_reason text NOT NULL DEFAULT '',"
	" closed_size numeric,"
	" exec_pnl numeric,"
	" realized_pnl numeric NOT NULL DEFAULT 0,"
	" trade_seq bigint NOT NULL DEFAULT 0,"
	" mark_price numeric,"
	" index_price numeric,"
	" order_qty numeric,"
	" order_price numeric,"
	" leaves_qty numeric,"
	" exec_time timestamptz NOT NULL,"
	" seq bigint,"
	" received_at timestamptz NOT NULL,"
	" raw jsonb NOT NULL,"
	" PRIMARY KEY (account, exec_id),"
	" CHECK (side IN ('Buy', 'Sell')));\n"
	"CREATE INDEX fills_bot_time ON trading.fills (bot_id, exec_time DESC);\n"
	"CREATE INDEX fills_symbol_order ON trading.fills"
	" (account, category, symbol, exec_time, seq, exec_id COLLATE \"C\");\n"

	"CREATE TABLE trading.fill_allocations ("
	" account text NOT NULL,"
	" exec_id text NOT NULL,"
	" bot_id text NOT NULL,"
	" position_idx int NOT NULL DEFAULT 0,"
	" qty numeric NOT NULL,"
	" fee numeric NOT NULL,"
	" realized_pnl numeric NOT NULL DEFAULT 0,"
	" trade_seq bigint NOT NULL DEFAULT 0,"
	" PRIMARY KEY (account, exec_id, bot_id, position_idx));\n"

	"CREATE TABLE trading.trades_pnl ("
	" account text NOT NULL,"
	" bot_id text NOT NULL,"
	" category text NOT NULL,"
	" symbol text NOT NULL,"
	" trade_seq bigint NOT NULL,"
	" position_idx int NOT NULL DEFAULT 0,"
	" side text NOT NULL,"
	" entry_reason text NOT NULL,"
	" close_reason text NOT NULL,"
	" opened_at timestamptz NOT NULL,"
	" closed_at timestamptz NOT NULL,"
	" qty numeric NOT NULL,"
	" gross_pnl numeric NOT NULL,"
	" fees numeric NOT NULL,"
	" funding numeric NOT NULL,"
	" net_pnl numeric NOT NULL,"
	" currency text NOT NULL,"
	" PRIMARY KEY (account, bot_id, category, symbol, trade_seq));\n"
	"CREATE INDEX trades_pnl_bot ON trading.trades_pnl (bot_id, close_reason);\n"

	"CREATE TABLE trading.bot_positions ("
	" account text NOT NULL,"
	" bot_id text NOT NULL,"
	" category text NOT NULL,"
	" symbol text NOT NULL,"
	" position_idx int NOT NULL DEFAULT 0,"
	" size numeric NOT NULL,"
	" avg_price numeric NOT NULL,"
	" realized_pnl numeric NOT NULL,"
	" fees numeric NOT NULL,"
	" funding numeric NOT NULL,"
	" currency text NOT NULL,"
	" trade_seq bigint NOT NULL,"
	" open_seq bigint NOT NULL,"
	" open_side text NOT NULL,"
	" entry_reason text NOT NULL,"
	" opened_at timestamptz,"
	" open_qty numeric NOT NULL,"
	" open_gross_pnl numeric NOT NULL,"
	" open_fees numeric NOT NULL,"
	" open_funding numeric NOT NULL,"
	" last_exec_id text NOT NULL,"
	" last_exec_time timestamptz NOT NULL,"
	" PRIMARY KEY (account, bot_id, category, symbol, position_idx));\n"
	"CREATE VIEW trading.open_trades AS SELECT"
	" account, bot_id, category, symbol, position_idx, open_seq AS trade_seq,"
	" open_side AS side, entry_reason, opened_at, size, avg_price, open_qty AS qty,"
	" open_gross_pnl AS gross_pnl, open_fees AS fees, open_funding AS funding,"
	" open_gross_pnl - open_fees - open_funding AS net_pnl, currency,"
	" last_exec_id, last_exec_time"
	" FROM trading.bot_positions WHERE open_seq > 0;\n"

	"CREATE TABLE trading.orders ("
	" account text NOT NULL,"
	" order_id text NOT NULL,"
	" category text NOT NULL,"
	" symbol text NOT NULL,"
	" order_link_id text NOT NULL DEFAULT '',"
	" parent_order_link_id text NOT NULL DEFAULT '',"
	" bot_id text NOT NULL DEFAULT '',"
	" reason text NOT NULL DEFAULT '',"
	" side text NOT NULL DEFAULT '',"
	" order_type text NOT NULL DEFAULT '',"
	" order_status text NOT NULL,"
	" stop_order_type text NOT NULL DEFAULT '',"
	" create_type text NOT NULL DEFAULT '',"
	" cancel_type text NOT NULL DEFAULT '',"
	" reject_reason text NOT NULL DEFAULT '',"
	" time_in_force text NOT NULL DEFAULT '',"
	" position_idx int,"
	" qty numeric,"
	" price numeric,"
	" avg_price numeric,"
	" cum_exec_qty numeric NOT NULL DEFAULT 0,"
	" cum_exec_value numeric,"
	" cum_exec_fee numeric,"
	" leaves_qty numeric,"
	" trigger_price numeric,"
	" take_profit numeric,"
	" stop_loss numeric,"
	" reduce_only boolean,"
	" created_time timestamptz,"
	" updated_time timestamptz NOT NULL,"
	" raw jsonb NOT NULL,"
	" PRIMARY KEY (account, order_id));\n"
	"CREATE INDEX orders_link ON trading.orders (account, order_link_id);\n"

	"CREATE TABLE trading.positions ("
	" account text NOT NULL,"
	" category text NOT NULL,"
	" symbol text NOT NULL,"
	" position_idx int NOT NULL,"
	" side text NOT NULL,"
	" size numeric NOT NULL,"
	" entry_price numeric,"
	" mark_price numeric,"
	" position_value numeric,"
	" unrealised_pnl numeric,"
	" cur_realised_pnl numeric,"
	" cum_realised_pnl numeric,"
	" leverage numeric,"
	" liq_price numeric,"
	" take_profit numeric,"
	" stop_loss numeric,"
	" position_status text NOT NULL DEFAULT '',"
	" seq bigint NOT NULL DEFAULT -1,"
	" created_time timestamptz,"
	" updated_time timestamptz NOT NULL,"
	" raw jsonb NOT NULL,"
	" PRIMARY KEY (account, category, symbol, position_idx));\n"

	"CREATE TABLE trading.wallet ("
	" account text NOT NULL,"
	" account_type text NOT NULL,"
	" coin text NOT NULL,"
	" equity numeric,"
	" wallet_balance numeric,"
	" available_to_withdraw numeric,"
	" usd_value numeric,"
	" unrealised_pnl numeric,"
	" cum_realised_pnl numeric,"
	" locked numeric,"
	" total_equity numeric,"
	" total_wallet_balance numeric,"
	" total_available_balance numeric,"
	" total_margin_balance numeric,"
	" updated_at timestamptz NOT NULL,"
	" raw jsonb NOT NULL,"
	" PRIMARY KEY (account, account_type, coin));\n"

	"CREATE TABLE trading.rejects ("
	" id bigserial PRIMARY KEY,"
	" account text NOT NULL,"
	" kind text NOT NULL,"
	" ref text NOT NULL DEFAULT '',"
	" sqlstate text NOT NULL DEFAULT '',"
	" error text NOT NULL,"
	" raw text,"
	" received_at timestamptz,"
	" rejected_at timestamptz NOT NULL DEFAULT now());\n"
	"CREATE INDEX rejects_ref ON trading.rejects (account, kind, ref)";

const struct schema_step schema_steps[] = {
	{ 1, "initial", schema_step1 },
};
const int schema_steps_n = (int)(sizeof schema_steps / sizeof schema_steps[0]);

int schema_version_latest(void)
{
	return schema_steps_n;
}

const char schema_sql_probe[] =
	"BEGIN;\n"
	"SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY_SQL ");\n"
	"CREATE SCHEMA IF NOT EXISTS trading;\n"
	"CREATE TABLE IF NOT EXISTS trading.schema_version ("
	" version int PRIMARY KEY,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now());\n"
	"SELECT coalesce(max(version), 0) FROM trading.schema_version";

/* see schema.h */
int schema_step_sql(const struct schema_step *s, char *buf, int cap)
{
	int n = snprintf(buf, (size_t)cap,
			 "%s;\nINSERT INTO trading.schema_version (version, name) "
			 "VALUES (%d, '%s');\nCOMMIT",
			 s->sql, s->version, s->name);

	if (n < 0 || n >= cap)
		return FR_ERANGE;
	return n;
}
