/*
 * verb_check.h -- `fillrelay check --connect`: after the configuration check,
 * try every account's exchange endpoints, PostgreSQL and Redis for real.
 *
 * For each account, in file order, within CHECK_ACCOUNT_MS:
 *   1. REST GET /v5/market/time (unsigned): the endpoint answers, TLS and
 *      the trust anchors (ca_file) work, and the clock offset is learned;
 *   2. REST GET /v5/user/query-api (signed, "Get API Key Information"): the
 *      key and secret work; the answer says read-only or read-write and when
 *      the key expires;
 *   3. the private WebSocket: authenticated and subscribed to the account's
 *      topics (bybit.h LIVE), then closed. Runs beside step 2, after step 1,
 *      so that the auth's expires uses the learned clock.
 * One line per account on stdout:
 *   account main: rest ok (key works, read-only, expires 2026-01-01T00:00:00Z,
 *   clock offset +12 ms), stream ok (authenticated, subscribed
 *   execution,order,position,wallet)
 * or what failed, with the exchange's retMsg / ret_msg.
 *
 * Then PostgreSQL, one line:
 *   postgres: ok (PostgreSQL 15.18, database trading_db as trading_user,
 *   schema version 1 (current))
 * [postgres] conninfo and password, connected once through the loop (pg.h:
 * the resolver's numeric address, pg's connect timer of CHECK_SINK_MS unless
 * the conninfo sets connect_timeout), then a blocking connection (pg_blk)
 * reads the server's version and trading.schema_version. The schema part is
 * "schema version N (current)", "schema version N (`fillrelay migrate` or
 * `fillrelay run` brings it to M)", "no trading schema yet: `fillrelay
 * migrate` or `fillrelay run` creates it" -- all of them ok -- or "schema
 * version N newer than this fillrelay knows (M): ..." -- FAILED: run would
 * refuse it. A refused connection is FAILED with libpq's message
 * ("... password authentication failed for user "x"", "Connection refused").
 *
 * Then Redis, one line:
 *   redis: ok (Redis 7.0.15 at localhost:6379 (127.0.0.1), password
 *   accepted, dbs 4,5 selected, no fillrelay heartbeat)
 * [redis] host looked up with the resolver (a name works), hiredis' BLOCKING
 * API on the numeric address with CHECK_SINK_MS for the connect and for each
 * reply (check is a one-shot command: the service itself never blocks); AUTH
 * when a password is configured, PING, INFO server (redis_version), SELECT of
 * every db a bot uses, and in those dbs a SCAN (at most CHECK_SCAN_ROUNDS
 * calls per db) for a heartbeat key fillrelay:heartbeat:* (rds.h): "heartbeat
 * KEY in db N: a fillrelay is running there" is information, not a failure.
 * Failures: "Redis refused the password (WRONGPASS: ...)", "Redis wants a
 * password: [redis] password is not set (NOAUTH ...)", "cannot connect to
 * ADDR:PORT: Connection refused", "SELECT refused: ... (db N of bot B)",
 * "CMD: no answer within 10 s".
 *
 * No secret of the configuration (API keys and secrets, both passwords)
 * appears in a line: every line is redacted against all of them (a 10004
 * retMsg quotes the signed string, which holds the key). Progress and
 * failures are also logged (stderr), through the logger's redaction.
 *
 * Returns EX_OK when every account, PostgreSQL and Redis passed,
 * EX_UNAVAILABLE otherwise (or after SIGINT/SIGTERM), or EX_OSERR when the
 * loop or resolver cannot be set up. Uses about 5 MB of static storage (one
 * REST client, one stream session, one anchor store, reused account after
 * account; one struct pg).
 */
#ifndef FR_VERB_CHECK_H
#define FR_VERB_CHECK_H

#include "cfg.h"

#define CHECK_ACCOUNT_MS 15000 /* the whole check of one account */
#define CHECK_SINK_MS 10000    /* PostgreSQL, Redis: the connect; Redis: each reply */

int verb_check_connect(const struct cfg *c);

#endif
