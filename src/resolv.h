/*
 * resolv.h -- a non-blocking stub resolver driven by the loop: numeric
 * literals, /etc/hosts, a TTL cache, then DNS over UDP to the servers of
 * /etc/resolv.conf.
 *
 * Why not getaddrinfo: it blocks the only thread for up to timeout x attempts x
 * servers seconds, and every other connection misses its pings meanwhile.
 *
 * A lookup tries, in order, and stops at the first that knows the name:
 *   1. a numeric IPv4/IPv6 literal ("10.0.0.1", "::1"): no I/O at all;
 *   2. the hosts table (resolv_init's hosts file): every address of the name
 *      of the asked family; a name listed only with the other family goes on;
 *   3. the cache: an earlier DNS answer for the same name and family whose
 *      TTL has not run out;
 *   4. DNS: one UDP question per record type (A, AAAA, or both for
 *      AF_UNSPEC, sent together) to the configured servers.
 *
 * Callbacks: a lookup's callback runs exactly once, from inside
 * loop_run_once (a loop timer or fd callback), never from inside a resolv_*
 * call -- also when the answer is known at once (literal, hosts, cache, no
 * server configured): it then runs in the next loop iteration, which polls
 * without sleeping. One rule for every path, so that a caller can store the
 * returned id and change its own state after resolv_lookup returns without
 * being re-entered halfway through. The callback may call any resolv_*
 * function, including resolv_lookup (its own slot is free again by then).
 * After resolv_cancel or resolv_close the callback is never called.
 *
 * DNS, in detail:
 *   - Tries: attempts x servers, server (try mod servers): every server in
 *     file order, then again, as glibc does. Each try waits timeout_ms.
 *   - Each try opens a fresh non-blocking UDP socket connected to its server
 *     (a new kernel-chosen source port per try) and registers it with the
 *     loop. Because the socket is connected, the kernel delivers only
 *     datagrams whose source address and port are the server's: that is the
 *     source check. Each question carries a fresh 16-bit id from getrandom
 *     and the RD flag; no EDNS, so answers stay within 512 bytes.
 *   - An answer is accepted only if its id, QR bit, opcode and echoed
 *     question (name, type, class IN) match; anything else is ignored and the
 *     try goes on waiting (an off-path sender cannot end a lookup).
 *   - NXDOMAIN ends the lookup. SERVFAIL, REFUSED, other RCODEs, a malformed
 *     answer, an ICMP "port unreachable" and local socket errors end only the
 *     try: the next one starts at once. A truncated answer (TC) ends that
 *     record type with RESOLV_TRUNCATED: there is no TCP fallback.
 *   - CNAME chains inside the answer are followed (at most RESOLV_CNAME_MAX
 *     links); addresses count only when owned by the chain's last name.
 *   - AF_UNSPEC: the result lists the IPv4 addresses first, then IPv6, up
 *     to RESOLV_ADDRS_MAX in all. If one type has addresses and the other's
 *     try fails or times out, the lookup ends with what it has instead of
 *     waiting through more tries.
 *   - Successes are cached for the smallest TTL of the records used, clamped
 *     to [RESOLV_TTL_MIN_S, RESOLV_TTL_MAX_S]; failures are not cached (the
 *     caller's reconnect backoff already paces retries). RESOLV_CACHE_MAX
 *     entries; a full cache replaces the entry that expires first.
 *
 * Files are read once, by resolv_init (at start-up, before the loop runs,
 * where a blocking read of a local file is allowed); later edits need a
 * restart. resolv.conf:
 *   - "nameserver ADDR": IPv4 or IPv6 (no %scope), port 53. Up to
 *     RESOLV_SERVERS_MAX; later ones are ignored with a warning.
 *   - Extension, for tests: "nameserver 127.0.0.1:5353" and
 *     "nameserver [::1]:5353" set a port. glibc and musl skip such a line as
 *     an unparsable address, so a file using it harms no other program.
 *   - "options timeout:N attempts:N" (seconds, tries per server), clamped to
 *     1..RESOLV_TIMEOUT_S_MAX and 1..RESOLV_ATTEMPTS_MAX; defaults
 *     RESOLV_TIMEOUT_S_DEFAULT and RESOLV_ATTEMPTS_DEFAULT (glibc's). Other
 *     options (ndots, rotate, edns0, ...) are ignored.
 *   - "search" and "domain" are ignored: the hosts fillrelay resolves come
 *     from its configuration and are meant to be fully qualified, and a
 *     search list would multiply the queries and the delays of every failure.
 *     A single-label name is asked as it is (Docker's embedded server answers
 *     service names that way).
 *   - No nameserver line, or no file: no server. Unlike glibc, there is no
 *     fallback to 127.0.0.1: a DNS lookup then fails at once with
 *     RESOLV_NOSERVERS, which names the file, instead of timing out against a
 *     server that was never configured.
 * hosts: "ADDR NAME [ALIAS...]" lines, '#' comments, up to RESOLV_HOSTS_MAX
 * (name, address) pairs; more are ignored with a warning.
 *
 * Names: host names of letters, digits, '-' and '_', labels of 1..63
 * characters, at most 253 characters, one trailing dot allowed. Lookups and
 * results use the lowercased name without the trailing dot.
 *
 * Limits: RESOLV_QUERIES_MAX lookups in flight, each holding one loop timer
 * from resolv_lookup to its callback and one loop fd while a try waits.
 * The resolver logs configuration warnings at init and ignored datagrams at
 * debug level; it never logs a lookup's outcome: the caller does, once, with
 * its own context, from the result's status and message.
 */
#ifndef FR_RESOLV_H
#define FR_RESOLV_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

#define RESOLV_SERVERS_MAX 3      /* as glibc's MAXNS */
#define RESOLV_QUERIES_MAX 8      /* lookups in flight */
#define RESOLV_ADDRS_MAX 8        /* addresses in one result */
#define RESOLV_CACHE_MAX 16       /* cached (name, family) results */
#define RESOLV_HOSTS_MAX 64       /* (name, address) pairs from the hosts file */
#define RESOLV_NAME_MAX 254       /* 253 characters and the NUL */
#define RESOLV_WIRE_NAME_MAX 255  /* RFC 1035 2.3.4, the final zero included */
#define RESOLV_CNAME_MAX 8        /* CNAME links followed; more is a loop or abuse */
#define RESOLV_UDP_MAX 4096       /* largest datagram taken as an answer */
#define RESOLV_MSG_MAX 160        /* a result's message, NUL included */
#define RESOLV_SERVER_TEXT_MAX 56 /* "[v6 address]:65535" */
#define RESOLV_PATH_MAX 256
#define RESOLV_PORT 53
#define RESOLV_TIMEOUT_S_DEFAULT 5
#define RESOLV_TIMEOUT_S_MAX 30
#define RESOLV_ATTEMPTS_DEFAULT 2
#define RESOLV_ATTEMPTS_MAX 5
/* A TTL of 0 or 1 s would send a query per reconnect of every connection;
 * a day-long TTL would keep an exchange's moved endpoint for a day. */
#define RESOLV_TTL_MIN_S 5
#define RESOLV_TTL_MAX_S 600

#define RESOLV_TYPE_A 1
#define RESOLV_TYPE_AAAA 28
#define RESOLV_TYPE_CNAME 5
#define RESOLV_CLASS_IN 1

/* What a lookup ended with. resolv_status_err maps each to an FR_* code. */
enum resolv_status {
	RESOLV_OK = 0,    /* n >= 1 addresses */
	RESOLV_NXDOMAIN,  /* the name does not exist (RCODE 3)          FR_EINVAL */
	RESOLV_NODATA,    /* it exists but has no address of the family FR_EINVAL */
	RESOLV_SERVFAIL,  /* SERVFAIL, REFUSED or another error RCODE   FR_EIO */
	RESOLV_TIMEOUT,   /* no answer within all tries                 FR_ETIMEDOUT */
	RESOLV_TRUNCATED, /* TC set: the answer needs TCP               FR_EPROTO */
	RESOLV_MALFORMED, /* the answer breaks RFC 1035                 FR_EPROTO */
	RESOLV_NOSERVERS, /* no nameserver configured                   FR_ECONFIG */
	RESOLV_IO,        /* socket error; ICMP port unreachable        FR_EIO */
	RESOLV_MISMATCH,  /* parser only: not an answer to this question: ignore it */
};

enum resolv_source {
	RESOLV_SRC_NONE = 0, /* the lookup failed */
	RESOLV_SRC_LITERAL,
	RESOLV_SRC_HOSTS,
	RESOLV_SRC_CACHE,
	RESOLV_SRC_DNS,
};

struct resolv_addr {
	int family;           /* AF_INET or AF_INET6 */
	unsigned char ip[16]; /* network byte order; AF_INET uses the first 4 */
};

/* Handed to the callback; valid only during the call (copy what you keep). */
struct resolv_result {
	enum resolv_status status;
	int err; /* resolv_status_err(status) */
	enum resolv_source source;
	int family;                 /* as asked: AF_INET, AF_INET6 or AF_UNSPEC */
	char name[RESOLV_NAME_MAX]; /* lowercased, no trailing dot; a literal as given */
	int n;
	struct resolv_addr addrs[RESOLV_ADDRS_MAX];
	uint32_t ttl_s;           /* DNS and cache: the clamped TTL; else 0 */
	char msg[RESOLV_MSG_MAX]; /* why, with the server: "NXDOMAIN from 10.0.0.2:53" */
};

struct resolv;
typedef void (*resolv_cb)(struct resolv *r, int qid, const struct resolv_result *res, void *arg);

/* What resolv_parse_answer found. */
struct resolv_answer {
	int rcode;     /* the header's RCODE */
	int truncated; /* the TC bit */
	int cnames;    /* CNAME links followed */
	int n;         /* addresses, at most RESOLV_ADDRS_MAX, no duplicates */
	struct resolv_addr addrs[RESOLV_ADDRS_MAX];
	uint32_t ttl_s;  /* smallest TTL of the chain and the addresses; 0 if n = 0 */
	const char *why; /* static text for MALFORMED and MISMATCH, else "" */
};

/* ---- state; callers hold struct resolv in static storage ---- */

struct resolv_server {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	socklen_t addr_len;
	char text[RESOLV_SERVER_TEXT_MAX]; /* "10.0.0.2:53", "[::1]:53" */
};

struct resolv_host {
	char name[RESOLV_NAME_MAX]; /* lowercased */
	struct resolv_addr addr;
};

struct resolv_cache_entry {
	int used;
	int family;
	char name[RESOLV_NAME_MAX];
	int64_t expires_ms; /* monotonic */
	uint32_t ttl_s;
	int n;
	struct resolv_addr addrs[RESOLV_ADDRS_MAX];
};

/* One record type of a DNS lookup. */
struct resolv_sub {
	uint16_t qtype; /* RESOLV_TYPE_A or RESOLV_TYPE_AAAA */
	uint16_t id;    /* the id of this try's question */
	int done;       /* has its final status */
	enum resolv_status status;
	int server; /* index of the server that answered */
	struct resolv_answer ans;
};

struct resolv_query {
	struct resolv *r;
	int qid; /* -1: free slot */
	int family;
	char name[RESOLV_NAME_MAX];
	resolv_cb cb;
	void *arg;
	int timer;  /* held from lookup to callback */
	int fd;     /* this try's socket, -1 between tries */
	int server; /* this try's server index */
	int try_n, tries_max;
	int subs_n;
	struct resolv_sub subs[2];
	enum resolv_status fail; /* how the last failed try ended */
	char fail_msg[RESOLV_MSG_MAX];
	int finished; /* res is final; waiting for the timer */
	struct resolv_result res;
};

struct resolv {
	struct loop *loop;
	char conf_path[RESOLV_PATH_MAX];
	struct resolv_server servers[RESOLV_SERVERS_MAX];
	int servers_n;
	int timeout_ms;
	int attempts;
	struct resolv_host hosts[RESOLV_HOSTS_MAX];
	int hosts_n;
	int hosts_dropped; /* pairs past RESOLV_HOSTS_MAX */
	struct resolv_cache_entry cache[RESOLV_CACHE_MAX];
	struct resolv_query queries[RESOLV_QUERIES_MAX];
	uint32_t qid_seq;
	uint32_t rand_state; /* fallback when getrandom cannot answer */
	/* Counters, for metrics and tests. */
	uint64_t questions_sent;
	uint64_t answers_ignored; /* datagrams that answered no question */
	uint64_t cache_hits;
};

/*
 * Reads resolv_conf_path and hosts_path (NULL: /etc/resolv.conf, /etc/hosts)
 * as described above. A missing file is not an error (no servers / no
 * hosts; a warning is logged); unparsable lines are ignored with a warning.
 * Returns 0, FR_EIO when a file exists but cannot be read, FR_ERANGE for a
 * path longer than RESOLV_PATH_MAX - 1. r may be reused after resolv_close.
 */
int resolv_init(struct resolv *r, struct loop *l, const char *resolv_conf_path,
                const char *hosts_path);

/*
 * Starts a lookup of name for family AF_INET, AF_INET6 or AF_UNSPEC; cb(arg)
 * gets the result later (see "Callbacks" above). Returns the query id (>= 0,
 * not reused for a long time: at least 2^27 lookups), or
 *   FR_EINVAL  name is not a host name or literal, family is none of the
 *              three, or a literal of the other family was asked for;
 *   FR_EFULL   RESOLV_QUERIES_MAX lookups in flight, or no loop timer free.
 * Every other failure (NXDOMAIN, timeout, no server, ...) goes to cb.
 */
int resolv_lookup(struct resolv *r, const char *name, int family, resolv_cb cb, void *arg);

/* Stops a lookup: its socket and timer are released and cb is never called.
 * Returns 0, or FR_EINVAL if qid is not in flight (its callback has run). */
int resolv_cancel(struct resolv *r, int qid);

/* Drops the cached results of name (every family), so that the next lookup
 * asks DNS again -- e.g. before reconnecting after a connection failed.
 * Returns how many entries were dropped, or FR_EINVAL for a bad name. */
int resolv_forget(struct resolv *r, const char *name);

/* Cancels every lookup (no callbacks) and releases their sockets and timers. */
void resolv_close(struct resolv *r);

/* Lookups in flight (callbacks not yet run). */
int resolv_pending(const struct resolv *r);

/*
 * The answer parser, pure (no I/O, no state): checks that msg (n bytes, any
 * content) answers the question (id, name, qtype) and extracts the addresses
 * of qtype at the end of the CNAME chain starting at name. name must be a
 * valid host name (see "Names"); qtype RESOLV_TYPE_A or RESOLV_TYPE_AAAA.
 * Returns:
 *   RESOLV_MISMATCH   not an answer to this question (id, QR, opcode, question
 *                     count or echo differ; shorter than a header): ignore it.
 *                     A header with no question is taken as an answer only
 *                     when its RCODE is an error (servers answer REFUSED
 *                     and FORMERR that way);
 *   RESOLV_NXDOMAIN, RESOLV_SERVFAIL (every other error RCODE; out->rcode
 *                     tells which), RESOLV_TRUNCATED (TC set, no error RCODE);
 *   RESOLV_MALFORMED  a record or name does not fit the message, a
 *                     compression pointer does not point strictly backwards
 *                     (which rules out loops), a name exceeds 255 bytes, an
 *                     address has the wrong length, the CNAME chain is
 *                     longer than RESOLV_CNAME_MAX (or loops);
 *   RESOLV_NODATA     a valid answer without an address at the chain's end;
 *   RESOLV_OK         out->n >= 1.
 * The authority and additional sections are not read.
 */
int resolv_parse_answer(const unsigned char *msg, size_t n, uint16_t id, const char *name,
                        int qtype, struct resolv_answer *out);

/*
 * Writes a standard query (the given id, RD set, one question: name, qtype,
 * class IN) into buf of cap bytes. Returns its length, FR_EINVAL for a bad
 * name, or FR_ERANGE when cap is too small (12 + 255 + 4 always suffices).
 */
int resolv_build_query(unsigned char *buf, size_t cap, uint16_t id, const char *name, int qtype);

/* "RESOLV_OK" style names: "ok", "NXDOMAIN", "timeout", ... (static). */
const char *resolv_status_str(int status);
/* 0 for RESOLV_OK, else the FR_* code listed in enum resolv_status. */
int resolv_status_err(int status);

/* 1 and *a filled when text is a numeric IPv4 or IPv6 literal (no brackets),
 * else 0 (a is zeroed). No I/O: for addresses that must not be looked up,
 * such as a listening address. */
int resolv_literal(const char *text, struct resolv_addr *a);

/* The address as text ("10.0.0.1", "2001:db8::1") in buf of cap bytes
 * (INET6_ADDRSTRLEN suffices); returns buf. */
const char *resolv_addr_str(const struct resolv_addr *a, char *buf, size_t cap);
/* Fills *ss with a, port (host order); returns the length to pass to connect. */
socklen_t resolv_addr_sockaddr(const struct resolv_addr *a, uint16_t port,
                               struct sockaddr_storage *ss);

#endif
