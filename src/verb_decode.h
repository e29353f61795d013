/*
 * verb_decode.h -- `fillrelay decode FILE|-`: what fillrelay makes of Bybit
 * messages, for operators and for golden tests.
 *
 * Input: FILE, or standard input for "-", of at most VERB_DECODE_INPUT_MAX
 * bytes, read with read(2) into one static buffer (a larger input is refused
 * with EX_DATAERR before anything is decoded). It holds one or more messages:
 * one JSON document (pretty-printed or not), NDJSON (a message per line, as
 * captured from the WebSocket), or documents one after another. Each is
 * decoded with decode_any: pushes, control answers, and REST bodies whose
 * record kind is guessed from the first entry. After a malformed message,
 * reading resumes at the next line that starts with '{'.
 *
 * Output: one JSON object per line on standard output, in this order per
 * message:
 *   - a line per record, "kind" first: "execution", "order", "position",
 *     "wallet" (one per coin), each with "source" ("push" or "rest"), the push
 *     envelope ("topic", "id", "creationTime"), "index", then the record's
 *     fields under Bybit's names. Decimals are canonical strings (dec_format:
 *     "80626.2", never "80626.20"), timestamps and integers are numbers,
 *     booleans are true/false; a value that is absent or "" is null. Strings
 *     that are absent print as "". An execution line may carry members added
 *     by the attribution hook below.
 *   - a line per rejected entry: {"kind":"reject","of":"execution","index":2,
 *     "reason":"execution[2]: execQty: not a decimal: \"abc\"",...}; a message
 *     that cannot be decoded at all gives one such line with "index":-1 and
 *     "of":"message" (or the topic's kind) and nothing else.
 *   - control answers give one line whose kind is "auth", "subscribe",
 *     "unsubscribe", "pong" or "control" (any other op).
 *   - pushes end with {"kind":"push",...,"entries":N,"records":N,"rejects":N,
 *     "ignored":N} (ignored: execution.fast entries, never persisted), REST
 *     bodies with {"kind":"rest","list":KIND,"retCode":..,"nextPageCursor":..}.
 *   "raw":[OFFSET,LENGTH] is the byte span of the record's JSON in the input.
 *
 * Exit (sysexits.h): EX_OK when every message and entry decoded (an auth
 * failure answer is a message that decoded); EX_DATAERR when anything was
 * rejected or malformed, the input is empty, or too large; EX_USAGE for a
 * wrong argument count; EX_NOINPUT when FILE cannot be opened; EX_IOERR on a
 * read or write error. Errors about the input as a whole go to standard error.
 */
#ifndef FR_VERB_DECODE_H
#define FR_VERB_DECODE_H

#include <stddef.h>

#include "decode.h"

#define VERB_DECODE_INPUT_MAX (4u << 20) /* bytes of input: several whole messages */
#define VERB_DECODE_LINE_MAX (32u << 10) /* one output line; records need < 8 KiB */

struct cfg;

/*
 * Attribution hook: the module that owns attribution and close reasons sets it
 * (decode itself knows no bots). For each execution line it is called with the
 * configuration (NULL when none was given) and writes extra members, each
 * starting with ',' (e.g. ,"bot":"momentum_001","reason":"entry"), into
 * buf[0..n); it returns their length, or a negative value to add nothing.
 * Without a hook, lines carry no attribution.
 */
typedef int (*verb_decode_exec_hook)(const struct cfg *c, const struct decode_env *env,
                                     const struct decode_exec *e, char *buf, size_t n);
void verb_decode_set_exec_hook(verb_decode_exec_hook fn);

/*
 * argv[0..argc) are the verb's own arguments, after "decode" (main strips the
 * global options and the verb name): exactly one, FILE or "-". c may be NULL.
 * Writes to standard output and standard error; returns a sysexits code.
 */
int verb_decode(int argc, char **argv, const struct cfg *c);

/* The same with the output and error streams given as file descriptors (tests). */
int verb_decode_fds(int argc, char **argv, const struct cfg *c, int out_fd, int err_fd);

#endif
