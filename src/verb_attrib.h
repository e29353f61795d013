/*
 * verb_attrib.h -- `fillrelay decode -c FILE`: what the book makes of each
 * execution in the input, added to decode's output lines.
 *
 * The executions of one `decode` run are applied, in input order, to one book
 * built from the configuration, as if they were the account's stream: a file of
 * several pushes shows positions opening and closing. Orders are unknown here
 * (no REST lookups), so positionIdx is 0 and parentOrderLinkId is not followed.
 * Members added to an execution line:
 *   "account", "status" (applied|duplicate|late|error), and when applied "bot",
 *   "via" (link|parent|split|holder|default|unattributed), "reason",
 *   "close_reason", "realized_pnl", "trade_seq", "size_after" (the bot's signed
 *   size; with a split, the first part's), "allocations" (with a split).
 * The book (several MiB) lives in static storage, used by this verb only.
 */
#ifndef FR_VERB_ATTRIB_H
#define FR_VERB_ATTRIB_H

#include <stddef.h>

struct cfg;

/*
 * Installs the hook for configuration c (which must outlive the verb), for the
 * account named account, or c's only account when account is NULL. Returns 0,
 * or FR_EINVAL with a reason in err when the account is unknown or must be named.
 */
int verb_attrib_setup(const struct cfg *c, const char *account, char *err, size_t errn);

#endif
