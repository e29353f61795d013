/*
 * orderid.h -- the client order id (Bybit orderLinkId): generate, parse, check
 * the reason aliases. DESIGN.md section 3 is the contract; this header is its
 * precise form. The same format is implemented, with the same alias table, by
 * src/clients/fillrelay_orderid.h (C bots) and src/clients/fillrelay_orderid.py
 * (Python bots); tests/orderid_cross.sh proves the three agree.
 *
 * ------------------------------------------------------------------------------
 * Wire form:   BOT-REASON-STAMP     e.g. shortseller_001-en-0lf9pm51c3k9q2x
 *
 *   BOT      [A-Za-z0-9_]{1,20}  (a bot id as in [bot ID]; never holds '-')
 *   REASON   [A-Za-z0-9_]{1,32}  the reason's wire spelling (see "Aliases")
 *   STAMP    [0-9a-z]{15}, fixed width, so the id parses from the right:
 *            MS      9 chars: milliseconds since the Unix epoch in lowercase
 *                    base36, zero-padded. 36^9 ms reach the year 5188; 8 chars
 *                    would end in May 2059, within the life of an account
 *                    whose ids must stay unique. (Until 2059 MS starts with
 *                    '0': one character paid for not having a year-2059 bug.)
 *            UNIQUE  6 chars: (base + count) mod 36^6 in base36, where base
 *                    is drawn from getrandom(2) when the process starts
 *                    (31.0 bits) and count is the process's own id counter.
 *   The whole id is at most ORDERID_MAX (36) characters of [A-Za-z0-9_-]: BOT
 *   and REASON together have at most ORDERID_NAMES_MAX (19) characters.
 *
 * Why ids are unique (Bybit wants an orderLinkId unique for the life of the
 * account, and answers a duplicate with 110072/170141, which a retrying bot
 * reads as "the first attempt landed": a collision would lose an order).
 *   - One process never repeats an id, whatever its clock does (frozen, stepping
 *     back): UNIQUE alone differs between any two of its first 36^6 (2.18e9)
 *     ids. Past that, ids repeat only if MS repeats too, 2.18e9 ids later.
 *   - Two processes (two instances, a restart, a restart after the clock stepped
 *     back) collide only on the same BOT, REASON and millisecond, and then only
 *     if their UNIQUE values meet: for one such pair of ids the chance is
 *     1/36^6 = 4.6e-10. Even with both clocks frozen on one millisecond, two
 *     processes making n ids each collide with probability about 2n/36^6,
 *     because each walks a contiguous run of UNIQUE values from a random start.
 *   - Different bots never collide: BOT differs (bot ids are unique).
 * A bot that retries an order (timeout, network error) must resend the SAME id:
 * that is what makes a retry safe. Only a new order gets a new id.
 *
 * Colon form (the seed's, accepted by the parser only): BOT:REASON:SECONDS or
 *   BOT:REASON:MILLISECONDS, BOT [A-Za-z0-9_]{1,20}, REASON [A-Za-z0-9_]{1,32},
 *   the stamp 1..15 decimal digits; a value below 10^11 is seconds (10^11 s is
 *   the year 5138, 10^11 ms is 1973), larger ones are milliseconds. Bybit
 *   refuses colons, so such ids come from elsewhere (old data, other venues).
 *
 * Aliases. Every reason has one canonical name (stored in PostgreSQL) and one
 * wire spelling. The generator always writes the shortest spelling it knows,
 * so that a reason looks the same in every id of a set-up and BOT keeps the
 * most room. It starts from the built-in alias if the reason has one (else the
 * reason itself), and takes a [reasons] alias of the configuration instead
 * only when that is strictly shorter (the first in file order among equals).
 * Built-in aliases:
 *        entry en        scale_in si      manual_entry me   trailing_stop ts
 *        take_profit tp  stop_loss sl     ma_exit ma        time_exit te
 *        risk_limit rl   manual_exit mx   volatility_breakout vb
 *        ema_cross ec    rule_N rN (N: 1 to 27 decimal digits, kept as
 *                        written: rule_3 r3, rule_03 r03)
 * The generator also accepts an alias as its REASON argument (vb is
 * volatility_breakout). The parser maps a wire reason back: a built-in alias,
 * then a [reasons] alias, else the wire reason is canonical as it stands. So
 * the built-in aliases (and r followed by 1..27 digits) always mean what the
 * table says: no canonical reason can be spelt that way, and a [reasons] alias
 * may only repeat them with the same meaning (orderid_check_aliases).
 *
 * Memory: no heap; struct orderid_gen and struct orderid_parsed are plain data
 * the caller owns. Not thread-safe per generator (fillrelay has one thread);
 * after fork(2) a child must re-seed its generator (orderid_gen_init with a new
 * orderid_seed), or parent and child would walk the same UNIQUE values.
 */
#ifndef FR_ORDERID_H
#define FR_ORDERID_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"

#define ORDERID_MAX 36       /* characters in a wire id (Bybit's limit), without NUL */
#define ORDERID_MS_LEN 9     /* base36 milliseconds */
#define ORDERID_UNIQUE_LEN 6 /* base36 (base + count) mod ORDERID_UNIQUE_MOD */
#define ORDERID_STAMP_LEN (ORDERID_MS_LEN + ORDERID_UNIQUE_LEN)
#define ORDERID_MS_LIMIT 101559956668416LL      /* 36^9: stamps are in [0, this) */
#define ORDERID_UNIQUE_MOD 2176782336u          /* 36^6 */
#define ORDERID_BOT_MAX (CFG_BOT_ID_MAX - 1)    /* characters in BOT */
#define ORDERID_REASON_MAX (CFG_REASON_MAX - 1) /* characters in a reason, either spelling */
/* BOT and REASON together, in a wire id: 19. */
#define ORDERID_NAMES_MAX (ORDERID_MAX - ORDERID_STAMP_LEN - 2)
/* The longest id the parser can accept (colon form, 15-digit stamp). */
#define ORDERID_PARSE_MAX (ORDERID_BOT_MAX + ORDERID_REASON_MAX + 15 + 2)
#define ORDERID_COLON_SECONDS_LIMIT 100000000000LL       /* 10^11: colon stamps below are seconds */
#define ORDERID_RULE_DIGITS_MAX (ORDERID_REASON_MAX - 5) /* rule_N fits a reason */

/* orderid_parse's result for an id that is not in either form (not an error). */
#define ORDERID_FOREIGN 1

_Static_assert(ORDERID_NAMES_MAX == 19, "the documented room for BOT and REASON");
_Static_assert(ORDERID_BOT_MAX == 20 && ORDERID_REASON_MAX == 32, "as documented");
_Static_assert(ORDERID_MS_LIMIT == 36LL * 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36, "36^9");
_Static_assert(ORDERID_UNIQUE_MOD == 36ull * 36 * 36 * 36 * 36 * 36, "36^6");
_Static_assert(ORDERID_COLON_SECONDS_LIMIT * 1000 < INT64_MAX / 2, "seconds scale safely");
_Static_assert(ERR_MSG_MAX >= 200, "messages quote a bot id and a reason");

/* Per-process generator state. */
struct orderid_gen {
	uint64_t base;  /* random start of the UNIQUE walk, < ORDERID_UNIQUE_MOD */
	uint64_t count; /* ids made so far */
};

enum orderid_form {
	ORDERID_FORM_WIRE = 1,  /* BOT-REASON-STAMP */
	ORDERID_FORM_COLON = 2, /* BOT:REASON:SECONDS|MILLISECONDS (the seed's) */
};

struct orderid_parsed {
	char bot[ORDERID_BOT_MAX + 1];
	char reason[ORDERID_REASON_MAX + 1];      /* canonical: volatility_breakout */
	char reason_wire[ORDERID_REASON_MAX + 1]; /* as written in the id: vb */
	int64_t stamp_ms;                         /* >= 0; seconds scaled to ms */
	uint32_t unique;                          /* wire: the UNIQUE value; colon: 0 */
	enum orderid_form form;
};

/*
 * Draws 64 random bits for orderid_gen_init from getrandom(2) (falling back to
 * /dev/urandom where the system call is missing). Returns 0 or FR_EIO.
 */
int orderid_seed(uint64_t *seed);

/* Starts a generator: base = seed mod ORDERID_UNIQUE_MOD, count 0. Production
 * seeds come from orderid_seed; tests pass fixed seeds. */
void orderid_gen_init(struct orderid_gen *g, uint64_t seed);

/*
 * Makes a new wire id for bot and reason at now_ms into out (NUL-terminated).
 * reason may be canonical or an alias (built-in, or of c's [reasons] when c is
 * not NULL); the id carries its shortest spelling (see "Aliases"). Returns the
 * id's length (19..36), or, with a one-line message in err (errn > 0 bytes;
 * always NUL-terminated, may be cut):
 *   FR_EINVAL  bot or reason is empty, too long or not [A-Za-z0-9_]+:
 *              "bot id 'a-b' is not [A-Za-z0-9_]{1,20}"
 *   FR_ERANGE  now_ms is outside [0, ORDERID_MS_LIMIT), or the id would exceed
 *              36 characters; the message names the fixes that work, e.g.
 *              "id would be 41 characters (max 36): shorten bot id 'X' to at
 *              most 5 characters or add a [reasons] alias for 'Y' of at most
 *              4 characters" (or "give 'Y' a shorter [reasons] alias" when Y
 *              is already written as an alias; only the bot part when no
 *              alias can be short enough, only the alias part when no bot id
 *              can be; "shorten bot id 'X' and ... (together at most 19
 *              characters)" when neither alone would do)
 *   FR_ECONFIG c maps an alias against the built-in table (a configuration
 *              orderid_check_aliases would have refused).
 * Only a success advances the generator. Preconditions: g, bot, reason, out,
 * err non-NULL; bot and reason NUL-terminated (any length, any bytes).
 */
int orderid_new(struct orderid_gen *g, const struct cfg *c, const char *bot, const char *reason,
                int64_t now_ms, char out[ORDERID_MAX + 1], char *err, size_t errn);

/*
 * Parses the n bytes at id (need not be NUL-terminated; any bytes, any n).
 * Returns 0 and fills *out when the id is in the wire or the colon form (the
 * reason expanded through the built-in aliases, then c's [reasons] when c is
 * not NULL); returns ORDERID_FOREIGN, with *out zeroed, for anything else: "",
 * a random hex id, a UUID, a number, a misplaced '-', a wire-shaped id longer
 * than 36. Whether BOT is a configured bot is the caller's question.
 * Preconditions: out non-NULL; id non-NULL unless n is 0.
 */
int orderid_parse(const char *id, size_t n, const struct cfg *c, struct orderid_parsed *out);

/*
 * Checks c's [reasons] against the built-in aliases: an alias that is a
 * built-in alias (en, vb, r3, ...) must map to the same reason, and a reason
 * may not be spelt like a built-in alias (it would read back as another
 * reason). Returns 0, or FR_ECONFIG with *e naming c->file, the alias's line
 * and the fix. Preconditions: c, e non-NULL.
 */
int orderid_check_aliases(const struct cfg *c, struct cfg_error *e);

/* "wire", "colon", or NULL for another value. */
const char *orderid_form_name(enum orderid_form form);

#endif
