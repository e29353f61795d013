/*
 * it_tls.c -- integration test: real TLS 1.2 handshakes of tls.c against a
 * Python ssl (OpenSSL) server on a free loopback port, with certificates the
 * test makes with the openssl CLI: an RSA and an EC CA, servers for
 * localhost/127.0.0.1 under each, and an untrusted, an expired, a wrong-host
 * and an IP-only one.
 *
 * The server (inline Python, started by fork/exec) echoes application data
 * after a good handshake and logs one line per event to a file; after a
 * failed handshake it reads the rest of the raw stream and logs how many
 * application-data records (type 23) arrived: none may. The client side is
 * driven by a plain poll loop over a non-blocking socket, every byte going
 * through a loop_sys that also records what the client wrote.
 *
 * Needs openssl and python3 on PATH.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pem.h"
#include "t.h"
#include "tls.h"

#define IT_TIMEOUT_MS 15000
#define IT_ECHO_BYTES 200000
#define IT_SERVERS_MAX 32

static const char it_gen_script[] =
    "set -eu\n"
    "cd \"$1\"\n"
    "ossl() { openssl \"$@\" >>openssl.log 2>&1; }\n"
    "printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature,"
    "keyEncipherment\\nextendedKeyUsage=serverAuth\\nsubjectAltName=DNS:localhost,"
    "IP:127.0.0.1\\n' > srv.ext\n"
    "printf 'basicConstraints=critical,CA:FALSE\\nsubjectAltName=DNS:wrong.example\\n' > "
    "wrong.ext\n"
    "printf 'basicConstraints=critical,CA:FALSE\\nsubjectAltName=IP:127.0.0.1\\n' > ip.ext\n"
    "ca() { ossl req -x509 -newkey \"$2\" $3 -nodes -keyout \"$1.key\" -out \"$1.pem\" "
    "-days 3650 -subj \"/CN=fillrelay it $1\" -addext basicConstraints=critical,CA:TRUE "
    "-addext keyUsage=critical,keyCertSign,cRLSign; }\n"
    "leaf() {\n"
    "  ossl req -newkey \"$3\" $4 -nodes -keyout \"$1.key\" -out \"$1.csr\" -subj \"/CN=$1\"\n"
    "  ossl x509 -req -in \"$1.csr\" -CA \"$2.pem\" -CAkey \"$2.key\" -CAcreateserial "
    "-days 365 -extfile \"$5\" -out \"$1.pem\"\n"
    "}\n"
    "ca ca_rsa rsa:2048 ''\n"
    "ca ca_ec ec '-pkeyopt ec_paramgen_curve:secp384r1'\n"
    "ca ca_rogue rsa:2048 ''\n"
    "leaf srv_rsa ca_rsa rsa:2048 '' srv.ext\n"
    "leaf srv_ec ca_ec ec '-pkeyopt ec_paramgen_curve:prime256v1' srv.ext\n"
    "leaf untrusted ca_rogue rsa:2048 '' srv.ext\n"
    "leaf wronghost ca_rsa rsa:2048 '' wrong.ext\n"
    "leaf iponly ca_rsa rsa:2048 '' ip.ext\n"
    /* Only `openssl ca` sets arbitrary validity dates (x509 -req has -days). */
    "ossl req -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj /CN=expired\n"
    ": > index.txt\n"
    "echo 1000 > serial\n"
    "printf '[ca]\\ndefault_ca = d\\n[d]\\ndatabase = index.txt\\nnew_certs_dir = .\\n"
    "serial = serial\\ndefault_md = sha256\\npolicy = p\\n[p]\\ncommonName = supplied\\n' "
    "> ca.cnf\n"
    "ossl ca -batch -notext -config ca.cnf -cert ca_rsa.pem -keyfile ca_rsa.key "
    "-in expired.csr -out expired.pem -startdate 20200101000000Z -enddate 20210101000000Z "
    "-extfile srv.ext\n"
    "cat ca_rsa.pem ca_ec.pem > trust.pem\n";

/* argv: cert key log mode. Modes: "tls12+" echo; "tls13" refuse TLS 1.2;
 * "hello-close" send a greeting, then close_notify; "hello-eof" send a
 * greeting, then a bare TCP close. Prints its port, then serves connections
 * one at a time until killed. */
static const char it_server_py[] =
    "import socket, ssl, sys\n"
    "cert, key, logp, mode = sys.argv[1:5]\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(cert, key)\n"
    "ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if mode == 'tls13' "
    "else ssl.TLSVersion.TLSv1_2\n"
    "srv = socket.socket()\n"
    "srv.bind(('127.0.0.1', 0))\n"
    "srv.listen(8)\n"
    "sys.stdout.write('%d\\n' % srv.getsockname()[1])\n"
    "sys.stdout.flush()\n"
    "log = open(logp, 'a', buffering=1)\n"
    "def app_records(raw):\n"
    "    raw.settimeout(5)\n"
    "    data = b''\n"
    "    try:\n"
    "        while True:\n"
    "            d = raw.recv(65536)\n"
    "            if not d: break\n"
    "            data += d\n"
    "    except OSError:\n"
    "        pass\n"
    "    n, i = 0, 0\n"
    "    while i + 5 <= len(data):\n"
    "        n += data[i] == 23\n"
    "        i += 5 + (data[i + 3] << 8 | data[i + 4])\n"
    "    return n\n"
    "while True:\n"
    "    conn, _ = srv.accept()\n"
    "    raw = conn.dup()\n"
    "    s = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)\n"
    "    try:\n"
    "        s.do_handshake()\n"
    "    except (ssl.SSLError, OSError) as e:\n"
    "        log.write('handshake-failed %s\\n' % (getattr(e, 'reason', None) or e))\n"
    "        log.write('raw-appdata-records %d\\n' % app_records(raw))\n"
    "        raw.close()\n"
    "        s.close()\n"
    "        continue\n"
    "    log.write('handshake-ok %s %s\\n' % (s.version(), s.cipher()[0]))\n"
    "    if mode.startswith('hello-'):\n"
    "        s.sendall(b'hello from server')\n"
    "        if mode == 'hello-close':\n"
    "            s.settimeout(5)\n"
    "            try:\n"
    "                s.unwrap()\n"
    "                log.write('closed-notify\\n')\n"
    "            except (ssl.SSLError, OSError) as e:\n"
    "                log.write('unwrap-error %s\\n' % e)\n"
    "        else:\n"
    "            raw.shutdown(socket.SHUT_RDWR)\n"
    "            log.write('closed-eof\\n')\n"
    "        raw.close()\n"
    "        s.close()\n"
    "        continue\n"
    "    raw.close()\n"
    "    n = 0\n"
    "    try:\n"
    "        while True:\n"
    "            d = s.recv(65536)\n"
    "            if not d: break\n"
    "            n += len(d)\n"
    "            s.sendall(d)\n"
    "    except (ssl.SSLError, OSError) as e:\n"
    "        log.write('error %s\\n' % e)\n"
    "    log.write('appdata %d\\n' % n)\n"
    "    s.close()\n";

static char it_dir[300];
static pid_t it_pids[IT_SERVERS_MAX];
static struct pem_ta_store it_trust;
static struct tls_conn it_conn;

static int64_t it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void it_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void it_kill_servers(void)
{
	for (int i = 0; i < IT_SERVERS_MAX; i++)
		if (it_pids[i] > 0) {
			kill(it_pids[i], SIGKILL);
			waitpid(it_pids[i], NULL, 0);
			it_pids[i] = 0;
		}
}

/* Makes the certificates once per run; the test stops when that fails. */
static const char *it_certs(void)
{
	static int made;
	char cmd[1200], script[400];
	FILE *f;

	if (made)
		return it_dir;
	signal(SIGPIPE, SIG_IGN); /* tls.h precondition: the loop owner does this */
	atexit(it_kill_servers);
	snprintf(it_dir, sizeof it_dir, "%s/tls", t_tmpdir());
	T_REQUIRE(mkdir(it_dir, 0700) == 0 || errno == EEXIST);
	snprintf(script, sizeof script, "%s/gen.sh", it_dir);
	f = fopen(script, "w");
	T_REQUIRE(f != NULL);
	fputs(it_gen_script, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "sh '%s' '%s'", script, it_dir);
	if (!T_EQ_INT(system(cmd), 0)) {
		snprintf(cmd, sizeof cmd, "tail -n 20 '%s/openssl.log'", it_dir);
		if (system(cmd) != 0)
			printf("    (no openssl log: is openssl installed?)\n");
		t_abort_test();
	}
	made = 1;
	return it_dir;
}

static const char *it_path(const char *name)
{
	static char paths[8][400];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof paths[0], "%s/%s", it_certs(), name);
	return p;
}

/* The trust store: the test's RSA and EC CAs. */
static const struct pem_ta_store *it_anchors(void)
{
	pem_ta_init(&it_trust);
	T_REQUIRE(pem_ta_load_file(&it_trust, it_path("trust.pem")) == 2);
	return &it_trust;
}

struct it_server {
	pid_t pid;
	int port;
	char log[400];
};

/* Starts the Python server with NAME.pem/NAME.key; stops the test on failure. */
static void it_server_start(struct it_server *s, const char *name, const char *mode)
{
	char cert[400], key[400], line[32] = {0};
	int pfd[2], slot = -1;
	struct pollfd p;
	ssize_t r;

	snprintf(cert, sizeof cert, "%s/%s.pem", it_certs(), name);
	snprintf(key, sizeof key, "%s/%s.key", it_certs(), name);
	snprintf(s->log, sizeof s->log, "%s/server-%s-%lld.log", it_dir, name,
	         (long long)it_now_ms());
	for (int i = 0; i < IT_SERVERS_MAX && slot < 0; i++)
		if (it_pids[i] == 0)
			slot = i;
	T_REQUIRE(slot >= 0 && pipe(pfd) == 0);
	s->pid = fork();
	T_REQUIRE(s->pid >= 0);
	if (s->pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execlp("python3", "python3", "-c", it_server_py, cert, key, s->log, mode,
		       (char *)NULL);
		_exit(127);
	}
	it_pids[slot] = s->pid;
	close(pfd[1]);
	/* Read the whole line before closing: a partial read and close would
	 * kill the server with EPIPE on the rest. */
	for (size_t got = 0; got < sizeof line - 1 && !strchr(line, '\n'); got += (size_t)r) {
		p = (struct pollfd){pfd[0], POLLIN, 0};
		r = poll(&p, 1, 10000) == 1 ? read(pfd[0], line + got, sizeof line - 1 - got) : -1;
		if (r <= 0)
			break;
	}
	close(pfd[0]);
	s->port = strchr(line, '\n') ? atoi(line) : 0;
	if (!T_CHECK(s->port > 0)) {
		printf("    the Python TLS server did not start (python3 with ssl needed)\n");
		t_abort_test();
	}
}

static void it_server_stop(struct it_server *s)
{
	for (int i = 0; i < IT_SERVERS_MAX; i++)
		if (it_pids[i] == s->pid)
			it_pids[i] = 0;
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
}

/* Waits until the server's log holds needle; returns 1 if it did. */
static int it_server_log_has(const struct it_server *s, const char *needle)
{
	static char buf[8192];

	for (int64_t end = it_now_ms() + 10000; it_now_ms() < end; it_sleep_ms(20)) {
		int fd = open(s->log, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;

		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = 0;
		if (strstr(buf, needle))
			return 1;
	}
	printf("    server log lacks \"%s\"; it has:\n%s", needle, buf);
	return 0;
}

/* A non-blocking socket connecting to 127.0.0.1:port (connect in progress). */
static int it_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	T_REQUIRE(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
	return fd;
}

/* The world as tls.c sees it: real socket calls, a clock that may be moved,
 * an optional fragmenter, and a copy of the first bytes the client wrote. */
struct it_world {
	int64_t wall_offset_ms;
	int frag; /* 1: 1..7 bytes per call, and EAGAIN now and then */
	uint32_t rng;
	unsigned char sent[1 << 16];
	size_t sent_len;
	uint64_t reads, writes;
};

static struct it_world it_w;

static int64_t it_mono(void *ctx)
{
	(void)ctx;
	return it_now_ms();
}

static int64_t it_wall(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	       ((struct it_world *)ctx)->wall_offset_ms;
}

static int it_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	(void)ctx;
	return poll(fds, n, timeout_ms);
}

/* Fragmenting: a deterministic xorshift, so a failure replays. */
static size_t it_frag(struct it_world *w, size_t n, int *eagain)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 17;
	w->rng ^= w->rng << 5;
	*eagain = w->frag && w->rng % 5 == 0;
	if (w->frag && n > 1 + w->rng % 7)
		n = 1 + w->rng % 7;
	return n;
}

static ssize_t it_read(void *ctx, int fd, void *buf, size_t n)
{
	struct it_world *w = ctx;
	int eagain;

	n = it_frag(w, n, &eagain);
	w->reads++;
	if (eagain) {
		errno = EAGAIN;
		return -1;
	}
	return read(fd, buf, n);
}

static ssize_t it_write(void *ctx, int fd, const void *buf, size_t n)
{
	struct it_world *w = ctx;
	int eagain;
	ssize_t r;

	n = it_frag(w, n, &eagain);
	w->writes++;
	if (eagain) {
		errno = EAGAIN;
		return -1;
	}
	r = write(fd, buf, n);
	if (r > 0 && w->sent_len + (size_t)r <= sizeof w->sent) {
		memcpy(w->sent + w->sent_len, buf, (size_t)r);
		w->sent_len += (size_t)r;
	}
	return r;
}

static int it_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

static const struct loop_sys it_sys = {it_mono,  it_wall,  it_poll, it_read,
                                       it_write, it_close, &it_w};

/* TLS records of a content type in the bytes the client wrote. */
static int it_sent_records(int type)
{
	int count = 0;

	for (size_t i = 0; i + 5 <= it_w.sent_len;
	     i += 5 + (size_t)(it_w.sent[i + 3] << 8 | it_w.sent[i + 4]))
		count += it_w.sent[i] == type;
	return count;
}

/* One client run: what to send, what came back, and what tls_write did
 * before the handshake had succeeded. */
struct it_run {
	int fd;
	const unsigned char *tx;
	size_t tx_len, tx_off;
	unsigned char *rx;
	size_t rx_cap, rx_len;
	int early_accepted; /* tls_write calls that took bytes before the handshake */
	int early_tries;
	int pump_max; /* the largest tls_pump result */
};

/* One loop iteration: wait for what tls_want asks, pump, read, write. */
static void it_step(struct it_run *r)
{
	struct pollfd p = {r->fd, tls_want(&it_conn), 0};
	int n;

	if (p.events)
		poll(&p, 1, 50);
	n = tls_pump(&it_conn);
	if (n > r->pump_max)
		r->pump_max = n;
	while (r->rx_len < r->rx_cap &&
	       (n = tls_read(&it_conn, r->rx + r->rx_len, r->rx_cap - r->rx_len)) > 0)
		r->rx_len += (size_t)n;
	if (r->tx_off < r->tx_len) {
		int done = tls_handshake_done(&it_conn);

		n = tls_write(&it_conn, r->tx + r->tx_off, r->tx_len - r->tx_off);
		r->early_tries += !done;
		if (n > 0) {
			r->early_accepted += !done;
			r->tx_off += (size_t)n;
		}
	}
}

/* Steps until every byte sent came back, or the connection failed. */
static int it_run_until_echoed(struct it_run *r)
{
	int64_t end = it_now_ms() + IT_TIMEOUT_MS;

	while (!tls_err(&it_conn) && r->rx_len < r->tx_len && it_now_ms() < end)
		it_step(r);
	return tls_err(&it_conn);
}

/* Sends close_notify and closes the socket. */
static void it_close_conn(int fd)
{
	int64_t end = it_now_ms() + IT_TIMEOUT_MS;

	while (tls_close(&it_conn) == FR_EAGAIN && it_now_ms() < end) {
		struct pollfd p = {fd, POLLOUT, 0};

		poll(&p, 1, 50);
	}
	close(fd);
}

static unsigned char it_tx[IT_ECHO_BYTES], it_rx[IT_ECHO_BYTES];

/* Every byte value, in an order that is not a short cycle. */
static void it_fill(unsigned char *p, size_t n)
{
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)(i < 256 ? i : x >> 24);
	}
}

/* A good server: handshake, IT_ECHO_BYTES echoed byte-exact, orderly close. */
static void it_echo_case(const char *cert, int frag, const char *want_cipher_part)
{
	struct it_server srv;
	struct it_run run = {0};
	char want[64];

	memset(&it_w, 0, sizeof it_w);
	it_w.frag = frag;
	it_w.rng = 12345;
	it_server_start(&srv, cert, "tls12+");
	run.fd = it_connect(srv.port);
	T_REQUIRE(tls_start(&it_conn, run.fd, "localhost", it_anchors(), &it_sys) == 0);
	it_fill(it_tx, sizeof it_tx);
	run.tx = it_tx;
	run.tx_len = frag ? 20000 : sizeof it_tx;
	run.rx = it_rx;
	run.rx_cap = sizeof it_rx;
	if (!T_EQ_INT(it_run_until_echoed(&run), 0))
		printf("    %s\n", tls_errmsg(&it_conn));
	T_CHECK(tls_handshake_done(&it_conn));
	T_EQ_INT(run.rx_len, run.tx_len);
	T_CHECK(memcmp(it_rx, it_tx, run.tx_len) == 0);
	T_CHECK(run.early_tries > 0);    /* writes were tried during the handshake... */
	T_EQ_INT(run.early_accepted, 0); /* ...and refused */
	T_CHECK(it_sent_records(23) > 0);
	T_CHECK(run.pump_max > 0 && run.pump_max <= TLS_PUMP_BYTES_MAX);
	it_close_conn(run.fd);
	T_CHECK(it_server_log_has(&srv, "handshake-ok TLSv1.2"));
	T_CHECK(it_server_log_has(&srv, want_cipher_part));
	snprintf(want, sizeof want, "appdata %zu\n", run.tx_len);
	T_CHECK(it_server_log_has(&srv, want));
	it_server_stop(&srv);
}

TEST(it_tls_rsa_echo_round_trip)
{
	it_echo_case("srv_rsa", 0, "ECDHE-RSA-");
}

TEST(it_tls_ecdsa_echo_round_trip)
{
	it_echo_case("srv_ec", 0, "ECDHE-ECDSA-");
}

/* Reads and writes of 1..7 bytes with spurious EAGAINs: the pump's
 * bookkeeping, not the kernel's buffering, must carry the handshake. */
TEST(it_tls_fragmented_io_echo)
{
	it_echo_case("srv_rsa", 1, "ECDHE-RSA-");
	T_CHECK(it_w.reads > 1000 && it_w.writes > 1000);
}

/* A refused server: the handshake fails with the words for br_err, and the
 * server saw no application data although the client kept trying to write. */
static void it_refused_case(const char *cert, const char *mode, const char *name,
                            int64_t clock_offset_ms, int want_br_err, const char *want_text)
{
	static const unsigned char secret[] = "early application data must never leave";
	struct it_server srv;
	struct it_run run = {0};
	unsigned char rx[64];

	memset(&it_w, 0, sizeof it_w);
	it_w.wall_offset_ms = clock_offset_ms;
	it_server_start(&srv, cert, mode);
	run.fd = it_connect(srv.port);
	T_REQUIRE(tls_start(&it_conn, run.fd, name, it_anchors(), &it_sys) == 0);
	run.tx = secret;
	run.tx_len = sizeof secret;
	run.rx = rx;
	run.rx_cap = sizeof rx;
	T_EQ_INT(it_run_until_echoed(&run), FR_EPROTO);
	T_EQ_INT(tls_br_err(&it_conn), want_br_err);
	if (!T_CHECK(strstr(tls_errmsg(&it_conn), want_text) != NULL))
		printf("    message: %s\n", tls_errmsg(&it_conn));
	T_CHECK(strstr(tls_errmsg(&it_conn), name) != NULL);
	T_EQ_INT(tls_handshake_done(&it_conn), 0);
	T_CHECK(run.early_tries > 0);
	T_EQ_INT(run.early_accepted, 0);
	T_EQ_INT(run.rx_len, 0);
	T_EQ_INT(it_sent_records(23), 0);
	T_EQ_INT(tls_write(&it_conn, "x", 1), FR_EPROTO); /* sticky */
	T_EQ_INT(tls_want(&it_conn), 0);
	T_EQ_INT(tls_close(&it_conn), 0);
	close(run.fd);
	T_CHECK(it_server_log_has(&srv, "handshake-failed"));
	T_CHECK(it_server_log_has(&srv, "raw-appdata-records 0\n"));
	printf("    %s\n", tls_errmsg(&it_conn));
	it_server_stop(&srv);
}

#define IT_YEAR_MS (366LL * 86400 * 1000)

TEST(it_tls_untrusted_ca_refused)
{
	it_refused_case("untrusted", "tls12+", "localhost", 0, BR_ERR_X509_NOT_TRUSTED,
	                "certificate not trusted");
}

TEST(it_tls_expired_certificate_refused)
{
	it_refused_case("expired", "tls12+", "localhost", 0, BR_ERR_X509_EXPIRED,
	                "certificate expired");
}

TEST(it_tls_wrong_host_refused)
{
	it_refused_case("wronghost", "tls12+", "localhost", 0, BR_ERR_X509_BAD_SERVER_NAME,
	                "does not match the server name");
}

/* The validation time is the loop's wall clock, not time(NULL): a good
 * certificate seen from two years later, or from five years earlier. */
TEST(it_tls_simulated_clock_decides_validity)
{
	it_refused_case("srv_rsa", "tls12+", "localhost", 2 * IT_YEAR_MS, BR_ERR_X509_EXPIRED,
	                "expired or not yet valid");
	it_refused_case("srv_ec", "tls12+", "localhost", -5 * IT_YEAR_MS, BR_ERR_X509_EXPIRED,
	                "expired or not yet valid");
}

/* BearSSL 0.6 matches dNSName SANs only: an iPAddress SAN never matches, so
 * fillrelay must connect by name. This documents the limit. */
TEST(it_tls_ip_address_san_is_not_matched)
{
	it_refused_case("iponly", "tls12+", "127.0.0.1", 0, BR_ERR_X509_BAD_SERVER_NAME,
	                "does not match the server name");
}

/* A server that insists on TLS 1.3 says so with an alert, which we name. */
TEST(it_tls_tls13_only_server_alert_named)
{
	it_refused_case("srv_rsa", "tls13", "localhost", 0, BR_ERR_RECV_FATAL_ALERT + 70,
	                "protocol_version (70)");
}

/* The server ends the stream after a greeting: with close_notify, or with
 * a bare TCP close; both are FR_ECLOSED after the data, told apart in words. */
static void it_server_close_case(const char *mode, const char *want_text)
{
	static const char hello[] = "hello from server";
	struct it_server srv;
	struct it_run run = {0};
	unsigned char rx[64];
	int64_t end = it_now_ms() + IT_TIMEOUT_MS;

	memset(&it_w, 0, sizeof it_w);
	it_server_start(&srv, "srv_ec", mode);
	run.fd = it_connect(srv.port);
	T_REQUIRE(tls_start(&it_conn, run.fd, "localhost", it_anchors(), &it_sys) == 0);
	run.rx = rx;
	run.rx_cap = sizeof rx;
	while (!tls_err(&it_conn) && it_now_ms() < end)
		it_step(&run);
	T_EQ_INT(tls_err(&it_conn), FR_ECLOSED);
	T_EQ_INT(tls_br_err(&it_conn), 0);
	T_EQ_INT(run.rx_len, sizeof hello - 1);
	T_CHECK(memcmp(rx, hello, sizeof hello - 1) == 0);
	if (!T_CHECK(strstr(tls_errmsg(&it_conn), want_text) != NULL))
		printf("    message: %s\n", tls_errmsg(&it_conn));
	T_EQ_INT(tls_read(&it_conn, rx, sizeof rx), FR_ECLOSED);
	T_EQ_INT(tls_want(&it_conn), 0);
	T_EQ_INT(tls_close(&it_conn), 0);
	close(run.fd);
	T_CHECK(
	    it_server_log_has(&srv, strcmp(mode, "hello-close") ? "closed-eof" : "closed-notify"));
	printf("    %s\n", tls_errmsg(&it_conn));
	it_server_stop(&srv);
}

TEST(it_tls_server_close_notify_after_data)
{
	it_server_close_case("hello-close", "closed with close_notify");
}

TEST(it_tls_server_eof_without_close_notify)
{
	it_server_close_case("hello-eof", "without close_notify (data may be truncated)");
}

/* Control for the checks above: the server's detector does see an
 * application-data record sent after a failed handshake. */
TEST(it_tls_server_detector_counts_app_records)
{
	static const unsigned char bad_hello[] = {22, 3, 1, 0, 4, 1, 0, 0, 0};
	static const unsigned char app_rec[] = {23, 3, 3, 0, 1, 'x'};
	struct it_server srv;
	int fd;
	struct pollfd p;

	it_server_start(&srv, "srv_rsa", "tls12+");
	fd = it_connect(srv.port);
	p = (struct pollfd){fd, POLLOUT, 0};
	T_REQUIRE(poll(&p, 1, 5000) == 1);
	T_REQUIRE(write(fd, bad_hello, sizeof bad_hello) == (ssize_t)sizeof bad_hello);
	it_sleep_ms(300); /* let OpenSSL consume exactly that record and fail */
	T_REQUIRE(write(fd, app_rec, sizeof app_rec) == (ssize_t)sizeof app_rec);
	close(fd);
	T_CHECK(it_server_log_has(&srv, "handshake-failed"));
	T_CHECK(it_server_log_has(&srv, "raw-appdata-records 1\n"));
	it_server_stop(&srv);
}

/* The system bundle trusts none of the test's CAs. */
TEST(it_tls_system_bundle_does_not_trust_test_ca)
{
	struct it_server srv;
	struct it_run run = {0};
	unsigned char rx[16];

	memset(&it_w, 0, sizeof it_w);
	it_server_start(&srv, "srv_ec", "tls12+");
	pem_ta_init(&it_trust);
	T_REQUIRE(pem_ta_load_file(&it_trust, "/etc/ssl/certs/ca-certificates.crt") > 100);
	run.fd = it_connect(srv.port);
	T_REQUIRE(tls_start(&it_conn, run.fd, "localhost", &it_trust, &it_sys) == 0);
	run.rx = rx;
	run.rx_cap = sizeof rx;
	run.tx = (const unsigned char *)"x";
	run.tx_len = 1;
	T_EQ_INT(it_run_until_echoed(&run), FR_EPROTO);
	T_EQ_INT(tls_br_err(&it_conn), BR_ERR_X509_NOT_TRUSTED);
	close(run.fd);
	it_server_stop(&srv);
}

/* A refused connection (nobody listening) is a socket error, in words. */
TEST(it_tls_connection_refused_is_eio)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), port, fd;
	struct it_run run = {0};
	unsigned char rx[16];

	memset(&it_w, 0, sizeof it_w);
	/* A port that was free a moment ago: bind, read it, close. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_REQUIRE(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
	T_REQUIRE(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(lfd);
	fd = it_connect(port);
	T_REQUIRE(tls_start(&it_conn, fd, "localhost", it_anchors(), &it_sys) == 0);
	run.fd = fd;
	run.rx = rx;
	run.rx_cap = sizeof rx;
	run.tx = (const unsigned char *)"x";
	run.tx_len = 1;
	T_EQ_INT(it_run_until_echoed(&run), FR_EIO);
	T_CHECK(strstr(tls_errmsg(&it_conn), strerror(ECONNREFUSED)) != NULL);
	printf("    %s\n", tls_errmsg(&it_conn));
	close(fd);
}
