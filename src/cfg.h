/*
 * cfg.h -- the configuration file: one INI file, parsed into a fixed struct.
 *
 * Ownership and memory. struct cfg is plain data with every size fixed here, so
 * the caller keeps it in static storage (it is about 70 KiB). Nothing is
 * allocated: cfg_load reads the file into one static buffer of CFG_FILE_MAX
 * bytes inside cfg.c, so cfg_load and cfg_parse are not reentrant: call them
 * from one thread (main, at start-up). After a successful load the struct owns
 * copies of every value; it holds no pointer into the text.
 *
 * Errors. The first error stops parsing: cfg_load and cfg_parse return 0 or
 * FR_ECONFIG, and fill struct cfg_error with the file name, the line (1-based;
 * 0 for a whole-file error such as "no [account] section") and one reason.
 * For an error found after parsing (a reference to an unknown bot, ...) the line
 * is that of the offending key, or of its section header when the key is
 * missing. On error *c is wiped (all zero): nothing is half-configured, and no
 * secret lingers. Messages never contain a secret value.
 *
 * Warnings (legal but probably not what the operator wants) are kept in
 * c->warnings as struct cfg_error whose msg starts with "warning: ", so
 * cfg_error_format gives "FILE:LINE: warning: ...".
 *
 * ------------------------------------------------------------------------------
 * Syntax
 *   [section] or [section NAME] on a line of its own; `key = value` lines.
 *   Lines whose first non-blank character is '#' or ';' are comments; there are no
 *   comments after a value (a password may hold '#'). Blanks around keys and
 *   values are trimmed; a value in double quotes keeps its blanks (the quotes
 *   are removed, nothing inside is escaped). An empty value is an error: leave
 *   the key out to get its default. Keys and section names are case-sensitive.
 *   A line is at most CFG_LINE_MAX bytes, the file at most CFG_FILE_MAX. The
 *   file is UTF-8 (a leading BOM is skipped); NUL and control characters other
 *   than tab are errors; lines end in LF or CRLF. Unknown sections, unknown
 *   keys, a key given twice in one section and a section given twice are errors.
 *
 * Names (account names, bot ids, aliases, reasons) match [A-Za-z0-9_]+: bot ids
 * and reasons go into Redis keys (BOT:position:SYMBOL) and client order ids
 * (BOT-REASON-STAMP), where '-' and ':' are separators.
 *
 * Secrets (api_key, api_secret, [postgres] password, [redis] password) are
 *   literal text, or `env:NAME` (the variable must be set and non-empty), or
 *   `file:/ABSOLUTE/PATH` (a regular file; one trailing LF or CRLF is removed;
 *   the rest must be one non-empty line of at most CFG_SECRET_MAX - 1 bytes).
 *   They are resolved while parsing. cfg_secrets lists them for the logger.
 *
 * Sizes: bytes, or a number with K, M, G or T (binary: 1K = 1024), optionally
 *   followed by "iB" (64M, 64MiB). Durations: milliseconds, or a number with
 *   ms, s, m, h or d (20000, 20s, 7d).
 *
 * ------------------------------------------------------------------------------
 * [listener]                                                   (optional)
 *   instance = NAME      default "fillrelay"; [A-Za-z0-9_.-]+, names this process
 *                        in fillrelay:heartbeat:INSTANCE and in metrics.
 *   spill_dir = PATH     default "/var/lib/fillrelay"; the disk journal.
 *   spill_limit = SIZE   default 1G, 1M..1T; journal size at which the exchange
 *                        connection is closed until there is room again.
 *   spill_fsync = always|batch|os   default batch; when the journal is
 *                        fsynced: before each record goes to the sinks
 *                        (always), once per loop iteration (batch), or when
 *                        the kernel decides (os). What each can lose and how
 *                        the REST backfill closes the window: journal.h.
 *   metrics_addr = HOST:PORT  default 127.0.0.1:9464 (IPv6: [::1]:9464); serves
 *                        GET /metrics and GET /healthz.
 *   log_level = debug|info|warn|error   default info.
 *   arena_size = SIZE    default 16M, 4M..1G; the fixed heap of libpq and hiredis
 *                        (make bench: its high-water mark stays under 1 MiB).
 *
 * [exchange]                                                   (optional)
 *   ws_url = URL         default wss://stream.bybit.com/v5/private; must be
 *                        wss:// (plain ws:// is refused: TLS is never skipped).
 *                        Testnet: wss://stream-testnet.bybit.com/v5/private,
 *                        demo: wss://stream-demo.bybit.com/v5/private.
 *   rest_url = URL       default https://api.bybit.com; must be https://, no
 *                        query; trailing '/' removed.
 *   ca_file = PATH       default /etc/ssl/certs/ca-certificates.crt; must be a
 *                        readable regular file (checked at load).
 *   topics = LIST        default execution,order,position,wallet; all-in-one
 *                        topics only, execution is required.
 *   categories = LIST    default linear; of linear, inverse, spot, option: the
 *                        categories backfilled over REST.
 *   ping_interval_ms = DURATION    default 20s, 1s..60s.
 *   silence_timeout_ms = DURATION  default 60s, 2s..10m, > ping_interval_ms;
 *                        reconnect when nothing arrived for this long.
 *   recv_window_ms = DURATION      default 5s, 100ms..60s; X-BAPI-RECV-WINDOW.
 *
 * [account NAME]                                  (at least one, CFG_ACCOUNTS_MAX)
 *   api_key = SECRET     required.
 *   api_secret = SECRET  required.
 *   default_bot = BOT    default none; a bot of this account that takes fills
 *                        nothing else attributes (else bot "unattributed").
 *   backfill_horizon = DURATION   default 7d, 1m..730d; how far back the first
 *                        start backfills.
 *   ws_url, rest_url, ca_file, topics, categories: override [exchange].
 *
 * [bot ID]                                            (at least one, CFG_BOTS_MAX)
 *   account = NAME       the bot's account; may be left out when exactly one
 *                        account exists. ID "unattributed" and "shared" are
 *                        reserved (fillrelay's own bot ids).
 *   redis_db = N         default 0, 0..CFG_REDIS_DB_MAX (16 and up warn: Redis
 *                        has 16 databases unless redis.conf says otherwise).
 *   category = CATEGORY  default linear; must be in the account's categories.
 *                        Positions of this category are BOT:position:SYMBOL.
 *
 * [reasons]                                      (optional, CFG_ALIASES_MAX lines)
 *   ALIAS = REASON       ALIAS at most CFG_ALIAS_MAX - 1 characters, REASON at
 *                        most CFG_REASON_MAX - 1. An alias may not be a standard
 *                        reason name (entry, stop_loss, rule_N, ... see
 *                        DESIGN.md section 3, plus liquidation, adl, settlement,
 *                        unknown), nor map to itself or to another alias.
 *                        Built-in aliases live in the orderid module, not here.
 *
 * [postgres]                                                   (required)
 *   conninfo = TEXT      required; libpq keyword/value or URI form. It must not
 *                        hold a password: use the password key.
 *   password = SECRET    default none.
 *
 * [redis]                                                      (optional)
 *   host = HOST          default 127.0.0.1.
 *   port = N             default 6379, 1..65535.
 *   password = SECRET    default none.
 *
 * Warnings: two or more bots on one account (one-way mode nets their positions),
 * an account without a bot, ws_url and rest_url on different Bybit environments,
 * topics without order, redis_db 16 or more, a secret shorter than
 * CFG_SECRET_SHORT bytes (hard to redact), and (cfg_load only) a literal secret
 * in a file every user can read.
 */
#ifndef FR_CFG_H
#define FR_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Sizes of char arrays include the terminating NUL. */
#define CFG_FILE_MAX (64 * 1024) /* bytes in a config file */
#define CFG_LINE_MAX 1024        /* bytes in one line, without its newline */
#define CFG_PATH_MAX 256
#define CFG_URL_MAX 256
#define CFG_HOST_MAX 254 /* a DNS name has at most 253 characters */
#define CFG_SECRET_MAX 256
#define CFG_CONNINFO_MAX 512
#define CFG_NAME_MAX 33   /* account and instance names */
#define CFG_BOT_ID_MAX 21 /* short: the id goes into a 36-char order id */
#define CFG_ALIAS_MAX 17  /* short, or it saves nothing in an order id */
#define CFG_REASON_MAX 33
#define CFG_ACCOUNTS_MAX 16
#define CFG_BOTS_MAX 64
#define CFG_ALIASES_MAX 64
#define CFG_WARNINGS_MAX 16
#define CFG_REDIS_DB_MAX 255
#define CFG_SECRET_SHORT 8 /* shorter secrets get a warning */
/* api_key and api_secret of each account, the two passwords. */
#define CFG_SECRETS_MAX (2 * CFG_ACCOUNTS_MAX + 2)

_Static_assert(CFG_LINE_MAX < CFG_FILE_MAX, "a line fits in a file");
_Static_assert(CFG_CONNINFO_MAX < CFG_LINE_MAX, "the longest value fits a line");
_Static_assert(CFG_HOST_MAX <= CFG_URL_MAX, "a URL's host fits in a host buffer");
_Static_assert(CFG_BOT_ID_MAX <= CFG_NAME_MAX, "bot ids are names");
_Static_assert(CFG_ALIAS_MAX <= CFG_REASON_MAX, "an alias is shorter than a reason");
_Static_assert(ERR_MSG_MAX >= 2 * CFG_NAME_MAX + 128, "messages quote two names");

enum cfg_log_level {
	CFG_LOG_DEBUG,
	CFG_LOG_INFO,
	CFG_LOG_WARN,
	CFG_LOG_ERROR,
};

/* Bybit categories; one bit each so that a set is an unsigned mask. */
enum cfg_category {
	CFG_CAT_LINEAR = 1u << 0,
	CFG_CAT_INVERSE = 1u << 1,
	CFG_CAT_SPOT = 1u << 2,
	CFG_CAT_OPTION = 1u << 3,
};

/* All-in-one private topics; a set is an unsigned mask. */
enum cfg_topic {
	CFG_TOPIC_EXECUTION = 1u << 0,
	CFG_TOPIC_ORDER = 1u << 1,
	CFG_TOPIC_POSITION = 1u << 2,
	CFG_TOPIC_WALLET = 1u << 3,
};

enum cfg_secret_src {
	CFG_SECRET_NONE, /* not configured */
	CFG_SECRET_LITERAL,
	CFG_SECRET_ENV,
	CFG_SECRET_FILE,
};

struct cfg_secret {
	enum cfg_secret_src src;
	int line;                   /* where it was configured; 0 when NONE */
	char ref[CFG_PATH_MAX];     /* env name or file path; "" for literal; loggable */
	char value[CFG_SECRET_MAX]; /* the resolved secret: never log it */
};

struct cfg_url {
	char text[CFG_URL_MAX];  /* the whole URL as configured */
	char host[CFG_HOST_MAX]; /* name or address, IPv6 without brackets */
	unsigned port;           /* 443 unless given */
	/* From the first '/' on ("" when none). A ws_url's query stays in it; a
	 * rest_url's path has no trailing '/' so "path/v5/..." works. */
	char path[CFG_URL_MAX];
};

/* What [exchange] sets and an account may override. */
struct cfg_endpoint {
	struct cfg_url ws_url;
	struct cfg_url rest_url;
	char ca_file[CFG_PATH_MAX];
	unsigned topics;     /* enum cfg_topic mask, has CFG_TOPIC_EXECUTION */
	unsigned categories; /* enum cfg_category mask, not empty */
};

/* [listener] spill_fsync; the values of journal.h enum journal_fsync. */
enum cfg_spill_fsync {
	CFG_FSYNC_ALWAYS,
	CFG_FSYNC_BATCH,
	CFG_FSYNC_OS,
};

struct cfg_listener {
	char instance[CFG_NAME_MAX];
	char spill_dir[CFG_PATH_MAX];
	uint64_t spill_limit_bytes;
	enum cfg_spill_fsync spill_fsync;
	char metrics_host[CFG_HOST_MAX]; /* IPv6 without brackets */
	unsigned metrics_port;
	enum cfg_log_level log_level;
	uint64_t arena_size_bytes;
};

struct cfg_exchange {
	struct cfg_endpoint ep; /* the defaults of every account */
	uint32_t ping_interval_ms;
	uint32_t silence_timeout_ms;
	uint32_t recv_window_ms;
};

struct cfg_account {
	char name[CFG_NAME_MAX];
	int line; /* of the section header */
	struct cfg_secret api_key;
	struct cfg_secret api_secret;
	char default_bot[CFG_BOT_ID_MAX]; /* "" when none */
	int default_bot_idx;              /* index in cfg.bots, -1 when none */
	uint64_t backfill_horizon_ms;
	struct cfg_endpoint ep; /* effective: [exchange] plus this account's overrides */
	int bots_n;             /* bots on this account */
};

struct cfg_bot {
	char id[CFG_BOT_ID_MAX];
	int line;                   /* of the section header */
	char account[CFG_NAME_MAX]; /* resolved, also when left out */
	int account_idx;            /* index in cfg.accounts */
	unsigned redis_db;
	enum cfg_category category; /* exactly one bit */
};

struct cfg_alias {
	char alias[CFG_ALIAS_MAX];
	char reason[CFG_REASON_MAX];
	int line;
};

struct cfg_postgres {
	char conninfo[CFG_CONNINFO_MAX];
	struct cfg_secret password;
};

struct cfg_redis {
	char host[CFG_HOST_MAX];
	unsigned port;
	struct cfg_secret password;
};

struct cfg_error {
	char file[CFG_PATH_MAX]; /* the name given to cfg_parse, or the path */
	int line;                /* 1-based; 0 for the whole file */
	char msg[ERR_MSG_MAX];   /* one reason, no trailing newline */
};

struct cfg {
	char file[CFG_PATH_MAX];
	struct cfg_listener listener;
	struct cfg_exchange exchange;
	struct cfg_account accounts[CFG_ACCOUNTS_MAX]; /* in file order */
	int accounts_n;
	struct cfg_bot bots[CFG_BOTS_MAX]; /* in file order */
	int bots_n;
	struct cfg_alias aliases[CFG_ALIASES_MAX];
	int aliases_n;
	struct cfg_postgres postgres;
	struct cfg_redis redis;
	struct cfg_error warnings[CFG_WARNINGS_MAX];
	int warnings_n;
	int warnings_dropped; /* warnings beyond CFG_WARNINGS_MAX, not kept */
};

/*
 * Reads and parses the file at path (a regular file of at most CFG_FILE_MAX
 * bytes). Whole-file errors have line 0: "cannot open: <strerror>", "not a
 * regular file", "cannot read: <strerror>", "file larger than 65536 bytes".
 * Adds the warning about a world-readable file holding a literal secret.
 * Returns 0 or FR_ECONFIG. Not reentrant (one static read buffer).
 */
int cfg_load(struct cfg *c, const char *path, struct cfg_error *e);

/*
 * Parses len bytes of text (need not be NUL-terminated; may hold any bytes);
 * name is the file name used in messages. Resolves env: and file: secrets and
 * checks each account's ca_file, so it reads the environment and the file
 * system, but never blocks on them (FIFOs and devices are refused).
 * Returns 0 or FR_ECONFIG. Preconditions: c, name, e non-NULL; text non-NULL
 * unless len is 0.
 */
int cfg_parse(struct cfg *c, const char *text, size_t len, const char *name, struct cfg_error *e);

/*
 * Writes "FILE:LINE: MSG" (or "FILE: MSG" when line is 0) into buf of n > 0
 * bytes, always NUL-terminated. Returns its length, or FR_ERANGE when it was
 * cut to fit.
 */
int cfg_error_format(const struct cfg_error *e, char *buf, size_t n);

/* The account named name, or NULL. */
const struct cfg_account *cfg_account_find(const struct cfg *c, const char *name);

/* The bot with that id, or NULL. */
const struct cfg_bot *cfg_bot_find(const struct cfg *c, const char *id);

/* The reason a [reasons] alias stands for, or NULL (built-ins are not here). */
const char *cfg_reason_for_alias(const struct cfg *c, const char *alias);

/*
 * Stores pointers to the resolved secret strings of c (into c, valid while c
 * is) in out[0..out_max), for the logger to redact. Returns how many secrets
 * there are (which may exceed out_max; at most CFG_SECRETS_MAX).
 */
int cfg_secrets(const struct cfg *c, const char **out, int out_max);

/* Zeroes *c, secrets included, in a way the compiler does not drop. */
void cfg_wipe(struct cfg *c);

/* Static names ("linear", "execution", "info"), or NULL for a bad value. */
const char *cfg_category_name(unsigned category);
const char *cfg_topic_name(unsigned topic);
const char *cfg_log_level_name(enum cfg_log_level level);

#endif
