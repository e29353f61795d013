/*
 * verb_orderid.h -- the `fillrelay orderid` verb: generate or parse a client
 * order id (the format is in orderid.h).
 *
 *   fillrelay [-c FILE] orderid new BOT REASON
 *     stdout: {"id":"...","bot":"...","reason":"...","stamp_ms":N}
 *     reason is canonical (the id carries its shortest spelling). Exit 0;
 *     EX_USAGE for a BOT or REASON that is not [A-Za-z0-9_]{1,20} / {1,32};
 *     EX_DATAERR when the id cannot fit 36 characters (stderr names the fix);
 *     EX_OSERR when no random seed can be drawn. With a configuration, a BOT it
 *     does not list gets a warning on stderr (the id is still made: the file
 *     may belong to another host).
 *
 *   fillrelay [-c FILE] orderid parse ID
 *     stdout, ours:    {"id":"...","bot":"...","reason":"...","reason_wire":"...",
 *                       "stamp_ms":N,"form":"wire"|"colon","ours":true}   exit 0
 *     stdout, foreign: {"id":"...","ours":false}                          exit EX_DATAERR
 *     A foreign id is a normal answer (fillrelay attributes such fills by
 *     other means), but scripts asking "is this ours?" want the exit status;
 *     the stdout line is the same shape either way. In "id", '"', '\' and bytes
 *     outside printable ASCII are escaped (\u00XX), so the line is always JSON.
 *
 * Both: with a configuration, its [reasons] aliases are used, after
 * orderid_check_aliases (EX_CONFIG with FILE:LINE: reason). Wrong argument
 * count or sub-verb: usage on stderr, EX_USAGE.
 */
#ifndef FR_VERB_ORDERID_H
#define FR_VERB_ORDERID_H

#include "cfg.h"

#define VERB_ORDERID_USAGE "orderid new BOT REASON | orderid parse ID"

/*
 * argv[0] is "new" or "parse", the rest its arguments (argc counts them all);
 * c is the loaded configuration, or NULL when none was given. Writes stdout and
 * stderr; returns a sysexits.h code.
 */
int verb_orderid(int argc, char **argv, const struct cfg *c);

#endif
