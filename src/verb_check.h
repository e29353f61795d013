/*
 * verb_check.h -- `fillrelay check --connect`: after the configuration check,
 * try every account's exchange endpoints for real.
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
 * or what failed, with the exchange's retMsg / ret_msg. The API key and
 * secret never appear in it (a 10004 retMsg quotes the signed string, which
 * holds the key: it is redacted). A last line says that PostgreSQL and Redis
 * are not checked yet. Progress and failures are also logged (stderr).
 *
 * Returns EX_OK when every account passed, EX_UNAVAILABLE otherwise, or
 * EX_OSERR when the loop or resolver cannot be set up. Uses about 1.5 MB of
 * static storage (one REST client, one stream session, one anchor store,
 * reused account after account).
 */
#ifndef FR_VERB_CHECK_H
#define FR_VERB_CHECK_H

#include "cfg.h"

#define CHECK_ACCOUNT_MS 15000 /* the whole check of one account */

int verb_check_connect(const struct cfg *c);

#endif
