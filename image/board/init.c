/*
 * init.c -- PID 1 of the fillrelay board image (`make board`, README "The arm64
 * board image"). A static aarch64 program in the initramfs beside
 * /bin/fillrelay; nothing else runs on the board.
 *
 * In order, at boot:
 *   1. mounts /proc, /sys, /dev (devtmpfs), /run and /tmp; the console is
 *      fds 0-2;
 *   2. loads the kernel modules listed in /lib/modules/load (one path per
 *      line, dependencies first; `make board` writes it from the kernel
 *      package's module info): virtio, block, ext4 and vfat, network, input;
 *   3. waits for the GPT partition named "fillrelay-data" and mounts it on
 *      /data (ext4, or vfat so a PC can edit it);
 *   4. reads /data/board.conf (network and clock, see board.conf.example);
 *   5. sets the clock: the RTC (which the kernel read at boot), never earlier
 *      than this program's build time, then SNTP when a server is configured
 *      (Bybit rejects requests from a skewed clock), again every hour;
 *   6. brings up lo and the network: a static address or DHCP (renewed at
 *      half the lease); writes /etc/resolv.conf and /etc/hosts (+ /data/hosts);
 *   7. runs `fillrelay run -c /data/fillrelay.conf` as uid/gid 10001 in
 *      /data/journal; when it dies, runs it again after 1 s, doubling to 60 s
 *      while it keeps dying within a minute. Its output and init's own lines
 *      go to the console and to /data/log/fillrelay.log (1 MiB, then renamed
 *      fillrelay.log.1: at most 2 MiB); fillrelay writes them into a pipe it
 *      never waits on (a line is dropped, never the stream stalled, when init
 *      is busy).
 * Then it waits for:
 *   - a power-off request: KEY_POWER from any input device (gpio-keys on a
 *     board and on `qemu -M virt` with a device tree, the ACPI power button
 *     under UEFI), SIGUSR2 or SIGTERM, or "poweroff" on the console: fillrelay
 *     gets SIGTERM (it drains and fsyncs its journal) and up to 30 s, then
 *     the data partition is synced and unmounted and the board powers off;
 *     SIGINT (ctrl-alt-del) or "reboot" does the same, then reboots;
 *   - console lines: "status", "kill" (SIGKILL to fillrelay: init restarts
 *     it), "restart" (SIGTERM, then restart), "poweroff", "reboot".
 * Every line it prints starts with "init: " and the seconds since boot.
 * PID 1 never exits: a failure it cannot mend is logged and retried.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/input.h>
#include <linux/rtc.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef INIT_BUILD_EPOCH
#define INIT_BUILD_EPOCH 1767225600 /* 2026-01-01: set by make board */
#endif

#define DATA_PARTNAME "fillrelay-data"
#ifndef DATA_DIR /* image/board/test_init.c points both elsewhere */
#define DATA_DIR "/data"
#endif
#ifndef ETC_DIR
#define ETC_DIR "/etc"
#endif
#define FR_UID 10001
#define FR_BIN "/bin/fillrelay"
#define FR_CONF DATA_DIR "/fillrelay.conf"
#define FR_JOURNAL DATA_DIR "/journal"
#define RESTART_MIN_MS 1000
#define RESTART_MAX_MS 60000
#define RESTART_STABLE_MS 60000 /* a run this long resets the backoff */
#define STOP_GRACE_MS 30000
#define SNTP_EVERY_MS (3600 * 1000)
#define INPUTS_MAX 8
#define LOG_DIR DATA_DIR "/log"
#define LOG_FILE LOG_DIR "/fillrelay.log"
#define LOG_MAX (1 << 20)
#define LOG_PIPE_BYTES (1 << 20)
#define DNS_MAX 3

struct board {
	char iface[IFNAMSIZ];
	int dhcp;
	struct in_addr addr, mask, gw, dns[DNS_MAX];
	int dns_n;
	struct sockaddr_in sntp;
	int have_sntp;
	char hostname[64];
};

static struct board cfg;
static pid_t child;
static int64_t child_started_ms, restart_at_ms = -1, restart_backoff_ms = RESTART_MIN_MS;
static int stopping;         /* 0, or the reboot command to run once fillrelay is gone */
static int restart_after_stop; /* "restart": a stop that is followed by a start */
static int64_t stop_deadline_ms = -1;
static int64_t dhcp_renew_ms = -1, sntp_next_ms = -1;
static struct in_addr dhcp_server;
static int dhcp_bound; /* a lease is held (renewals ask for it again) */
static int inputs[INPUTS_MAX], inputs_n;
static int console_fd = -1; /* init's own reader of /dev/console */
static int log_fd = -1, out_fd = -1; /* the log file; fillrelay's output pipe */
static int64_t log_bytes;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The log file, renamed to .1 once it passes LOG_MAX. */
static void log_open(void)
{
	struct stat st;

	if (mkdir(LOG_DIR, 0755) != 0 && errno != EEXIST)
		return;
	log_fd = open(LOG_FILE, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	log_bytes = log_fd >= 0 && fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

/* Text to the console and the log file. */
static void emit(const char *text, size_t len)
{
	(void)!write(2, text, len);
	if (log_fd < 0)
		return;
	if (log_bytes + (int64_t)len > LOG_MAX) {
		log_close();
		rename(LOG_FILE, LOG_FILE ".1");
		log_open();
		if (log_fd < 0)
			return;
	}
	if (write(log_fd, text, len) == (ssize_t)len)
		log_bytes += (int64_t)len;
}

static void say(const char *fmt, ...)
{
	char buf[512];
	int64_t t = now_ms();
	int n = snprintf(buf, sizeof buf, "[%5lld.%03lld] init: ", (long long)(t / 1000),
	                 (long long)(t % 1000));
	va_list ap;

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	emit(buf, n);
}

/* fillrelay's output, passed on; the pipe closes when fillrelay is gone. */
static void read_output(void)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(out_fd, buf, sizeof buf)) > 0)
		emit(buf, (size_t)n);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(out_fd);
		out_fd = -1;
	}
}

/* ---- files --------------------------------------------------------------- */

static int read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);
	int rc;

	if (fd < 0)
		return -1;
	rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

/* ---- 1. early mounts ------------------------------------------------------ */

static void early_mounts(void)
{
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mkdir("/run", 0755);
	mkdir("/tmp", 01777);
	mkdir(DATA_DIR, 0755);
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
	mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1m");
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* ---- 2. modules ------------------------------------------------------------ */

static void load_modules(void)
{
	static char list[8192];
	int loaded = 0, failed = 0;

	if (read_file("/lib/modules/load", list, sizeof list) < 0) {
		say("no /lib/modules/load: %s", strerror(errno));
		return;
	}
	for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
		int fd = open(line, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0) {
			if (errno != EEXIST) {
				say("module %s: %s", line, strerror(errno));
				failed++;
			}
		} else {
			loaded++;
		}
		if (fd >= 0)
			close(fd);
	}
	say("modules: %d loaded, %d failed", loaded, failed);
}

/* ---- 3. the data partition ------------------------------------------------- */

/* The /dev node of the partition whose GPT name is DATA_PARTNAME, from the
 * kernel's uevent files (no udev here). */
static int find_data(char *dev, size_t cap)
{
	DIR *d = opendir("/sys/class/block");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], ue[1024];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/sys/class/block/%s/uevent", e->d_name);
		if (read_file(path, ue, sizeof ue) < 0 || !strstr(ue, "PARTNAME=" DATA_PARTNAME "\n"))
			continue;
		snprintf(dev, cap, "/dev/%.58s", e->d_name);
		found = 1;
	}
	closedir(d);
	return found;
}

static void mount_data(void)
{
	char dev[64];
	int64_t said = -1;
	char opts[64];

	for (;;) {
		if (find_data(dev, sizeof dev)) {
			if (mount(dev, DATA_DIR, "ext4", MS_NOATIME | MS_NODEV | MS_NOSUID, "") == 0) {
				say("data partition %s mounted on " DATA_DIR " (ext4)", dev);
				return;
			}
			snprintf(opts, sizeof opts, "uid=%d,gid=%d,fmask=0077,dmask=0077", FR_UID, FR_UID);
			if (mount(dev, DATA_DIR, "vfat", MS_NOATIME | MS_NODEV | MS_NOSUID, opts) == 0) {
				say("data partition %s mounted on " DATA_DIR " (vfat)", dev);
				return;
			}
		}
		if (said < 0 || now_ms() - said > 10000) {
			said = now_ms();
			say("waiting for the partition named \"" DATA_PARTNAME "\"%s%s", dev[0] ? ": " : "",
			    dev[0] ? strerror(errno) : "");
		}
		usleep(100 * 1000);
		dev[0] = 0;
	}
}

/* Files fillrelay reads or writes belong to its user (a PC may have edited
 * them as root). */
static void own_data(void)
{
	DIR *d;
	struct dirent *e;

	if (mkdir(FR_JOURNAL, 0700) != 0 && errno != EEXIST)
		say("mkdir " FR_JOURNAL ": %s", strerror(errno));
	(void)!chown(FR_JOURNAL, FR_UID, FR_UID);
	(void)!chown(FR_CONF, FR_UID, FR_UID);
	chmod(FR_CONF, 0600);
	d = opendir(DATA_DIR "/secrets");
	if (!d)
		return;
	(void)!chown(DATA_DIR "/secrets", FR_UID, FR_UID);
	while ((e = readdir(d))) {
		char p[300];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, DATA_DIR "/secrets/%s", e->d_name);
		(void)!chown(p, FR_UID, FR_UID);
		chmod(p, 0600);
	}
	closedir(d);
}

/* ---- 4. board.conf ------------------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int parse_cidr(const char *v, struct in_addr *a, struct in_addr *m)
{
	char ip[32];
	const char *slash = strchr(v, '/');
	long bits = 24;

	if (!slash || (size_t)(slash - v) >= sizeof ip)
		return -1;
	memcpy(ip, v, slash - v);
	ip[slash - v] = 0;
	char *end;

	bits = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || inet_pton(AF_INET, ip, a) != 1 || bits < 1 || bits > 32)
		return -1;
	m->s_addr = htonl(bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits));
	return 0;
}

/* "IPv4" or "IPv4:PORT". */
static int parse_hostport(const char *v, struct sockaddr_in *sa, int port)
{
	char ip[32];
	const char *colon = strchr(v, ':');
	size_t n = colon ? (size_t)(colon - v) : strlen(v);

	if (n >= sizeof ip)
		return -1;
	memcpy(ip, v, n);
	ip[n] = 0;
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);

		if (*end || p < 1 || p > 65535)
			return -1;
		port = (int)p;
	}
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static int board_key(const char *k, char *v)
{
	if (!strcmp(k, "interface"))
		snprintf(cfg.iface, sizeof cfg.iface, "%s", v);
	else if (!strcmp(k, "address") && !strcmp(v, "dhcp"))
		cfg.dhcp = 1;
	else if (!strcmp(k, "address"))
		return cfg.dhcp = 0, parse_cidr(v, &cfg.addr, &cfg.mask);
	else if (!strcmp(k, "gateway"))
		return inet_pton(AF_INET, v, &cfg.gw) == 1 ? 0 : -1;
	else if (!strcmp(k, "dns")) {
		for (char *t = strtok(v, ", "); t; t = strtok(NULL, ", ")) {
			if (cfg.dns_n == DNS_MAX || inet_pton(AF_INET, t, &cfg.dns[cfg.dns_n]) != 1)
				return -1;
			cfg.dns_n++;
		}
	} else if (!strcmp(k, "sntp"))
		return (cfg.have_sntp = parse_hostport(v, &cfg.sntp, 123) == 0) ? 0 : -1;
	else if (!strcmp(k, "hostname"))
		snprintf(cfg.hostname, sizeof cfg.hostname, "%s", v);
	else
		return -2;
	return 0;
}

static void read_board_conf(void)
{
	static char text[4096];
	int lineno = 0;

	cfg.dhcp = 1;
	snprintf(cfg.hostname, sizeof cfg.hostname, "fillrelay");
	if (read_file(DATA_DIR "/board.conf", text, sizeof text) < 0) {
		say("no " DATA_DIR "/board.conf (%s): DHCP on the first network interface",
		    strerror(errno));
		return;
	}
	for (char *line = text, *next; line; line = next) {
		char *eq, *k;
		int rc;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			say("board.conf:%d: expected key = value", lineno);
			continue;
		}
		*eq = 0;
		k = trim(line);
		rc = board_key(k, trim(eq + 1));
		if (rc == -2)
			say("board.conf:%d: unknown key %s", lineno, k);
		else if (rc != 0)
			say("board.conf:%d: bad value for %s", lineno, k);
	}
}

/* ---- 5. clock ----------------------------------------------------------------- */

static void clock_floor(void)
{
	struct rtc_time rt;
	struct tm tm;
	int fd;

	if (time(NULL) >= INIT_BUILD_EPOCH)
		return;
	fd = open("/dev/rtc0", O_RDONLY | O_CLOEXEC);
	memset(&rt, 0, sizeof rt);
	if (fd >= 0 && ioctl(fd, RTC_RD_TIME, &rt) == 0) {
		struct timeval tv = {0, 0};

		memset(&tm, 0, sizeof tm);
		tm.tm_year = rt.tm_year, tm.tm_mon = rt.tm_mon, tm.tm_mday = rt.tm_mday;
		tm.tm_hour = rt.tm_hour, tm.tm_min = rt.tm_min, tm.tm_sec = rt.tm_sec;
		tv.tv_sec = timegm(&tm);
		if (tv.tv_sec >= INIT_BUILD_EPOCH)
			settimeofday(&tv, NULL);
	}
	if (fd >= 0)
		close(fd);
	if (time(NULL) < INIT_BUILD_EPOCH) {
		struct timeval tv = {INIT_BUILD_EPOCH, 0};

		settimeofday(&tv, NULL);
		say("clock before this image's build and no RTC to correct it: set to the build "
		    "time; configure sntp in board.conf");
	}
}

static uint64_t ntp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)(ts.tv_sec + 2208988800u) << 32) |
	       (uint64_t)(((uint64_t)ts.tv_nsec << 32) / 1000000000u);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* One SNTP exchange (RFC 4330) with server, at most timeout_ms: the clock's
 * offset from the server's in ns (positive: we are behind). -1 with errno
 * set (ETIMEDOUT: no answer) or, for an answer refused (not a server's reply
 * to this request, or an unsynchronised or kiss-o'-death server), EPROTO. */
static int sntp_query(const struct sockaddr_in *server, int timeout_ms, int64_t *off_ns)
{
	unsigned char q[48] = {0x23}, r[48]; /* LI 0, version 4, mode 3 (client) */
	struct pollfd pfd;
	uint64_t t1, t4;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)server, sizeof *server) != 0)
		goto out;
	t1 = ntp_now();
	put64(q + 40, t1);
	if (send(fd, q, sizeof q, 0) != sizeof q)
		goto out;
	pfd.fd = fd, pfd.events = POLLIN;
	for (;;) {
		int64_t d;

		if (poll(&pfd, 1, timeout_ms) != 1) {
			errno = ETIMEDOUT;
			goto out;
		}
		if (recv(fd, r, sizeof r, 0) != sizeof r)
			continue; /* not an SNTP answer: wait for one */
		t4 = ntp_now();
		if ((r[0] & 7) != 4 || (r[0] >> 6) == 3 || r[1] == 0 || r[1] > 15 ||
		    get64(r + 24) != t1 || get64(r + 40) == 0) {
			errno = EPROTO;
			goto out;
		}
		/* ((t2 - t1) + (t3 - t4)) / 2 in 32.32 fixed point, then ns */
		d = (int64_t)(get64(r + 32) - t1) / 2 + (int64_t)(get64(r + 40) - t4) / 2;
		*off_ns = (int64_t)(((__int128)d * 1000000000) >> 32);
		rc = 0;
		break;
	}
out:
	close(fd);
	return rc;
}

/* Steps the clock by off_ns and writes the RTC. */
static void clock_step(int64_t off_ns)
{
	struct timespec ts;
	struct rtc_time rt;
	struct tm tm;
	int64_t ns;
	int fd;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + off_ns;
	ts.tv_sec = ns / 1000000000, ts.tv_nsec = ns % 1000000000;
	if (clock_settime(CLOCK_REALTIME, &ts) != 0)
		say("cannot set the clock: %s", strerror(errno));
	gmtime_r(&ts.tv_sec, &tm);
	memset(&rt, 0, sizeof rt);
	rt.tm_year = tm.tm_year, rt.tm_mon = tm.tm_mon, rt.tm_mday = tm.tm_mday;
	rt.tm_hour = tm.tm_hour, rt.tm_min = tm.tm_min, rt.tm_sec = tm.tm_sec;
	fd = open("/dev/rtc0", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, RTC_SET_TIME, &rt);
		close(fd);
	}
}

/* At boot and every hour: steps the clock when it is off by more than 100 ms. */
static void sntp_sync(void)
{
	int64_t off_ns;
	char who[32];

	sntp_next_ms = now_ms() + SNTP_EVERY_MS;
	snprintf(who, sizeof who, "%s:%d", inet_ntoa(cfg.sntp.sin_addr), ntohs(cfg.sntp.sin_port));
	if (sntp_query(&cfg.sntp, 3000, &off_ns) != 0) {
		say("sntp %s: %s; next try in an hour", who,
		    errno == EPROTO ? "answer refused" : strerror(errno));
	} else if (off_ns > 100000000 || off_ns < -100000000) {
		clock_step(off_ns);
		say("sntp %s: clock stepped by %lld ms (RTC written)", who, (long long)(off_ns / 1000000));
	} else {
		say("sntp %s: clock within %lld ms", who, (long long)(off_ns / 1000000));
	}
}

/* ---- 6. network --------------------------------------------------------------- */

static int ifreq_addr(int s, unsigned long req, const char *ifname, struct in_addr a)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr = a;
	return ioctl(s, req, &ifr);
}

static int if_up(int s, const char *ifname)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static int if_configure(const char *ifname, struct in_addr a, struct in_addr m, struct in_addr gw)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (s < 0)
		return -1;
	if (ifreq_addr(s, SIOCSIFADDR, ifname, a) == 0 &&
	    ifreq_addr(s, SIOCSIFNETMASK, ifname, m) == 0 && if_up(s, ifname) == 0)
		rc = 0;
	if (rc == 0 && gw.s_addr) {
		struct rtentry rt;

		memset(&rt, 0, sizeof rt);
		((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_gateway)->sin_addr = gw;
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)ifname;
		if (ioctl(s, SIOCADDRT, &rt) != 0 && errno != EEXIST)
			rc = -1;
	}
	close(s);
	return rc;
}

/* The first interface that is not lo, waiting up to 10 s for its driver. */
static void pick_iface(void)
{
	for (int i = 0; !cfg.iface[0] && i < 100; i++) {
		DIR *d = opendir("/sys/class/net");
		struct dirent *e;

		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") != 0) {
				snprintf(cfg.iface, sizeof cfg.iface, "%.15s", e->d_name);
				break;
			}
		if (d)
			closedir(d);
		if (!cfg.iface[0])
			usleep(100 * 1000);
	}
}

/* DHCP (RFC 2131), client side, broadcast only: DISCOVER, OFFER, REQUEST,
 * ACK. With renewing set: REQUEST for the address held, unicast to the
 * server that gave it. 0 on an ACK. */
enum { DHCP_DISCOVER = 1, DHCP_OFFER = 2, DHCP_REQUEST = 3, DHCP_ACK = 5, DHCP_NAK = 6 };

struct dhcp_msg {
	uint8_t op, htype, hlen, hops;
	uint32_t xid;
	uint16_t secs, flags;
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[16], sname[64], file[128];
	uint8_t cookie[4], opt[312];
};

struct dhcp_lease {
	struct in_addr addr, mask, router, server, dns[DNS_MAX];
	int dns_n;
	uint32_t lease_s;
};

static int dhcp_send(int s, uint32_t xid, const uint8_t *mac, int type, const struct dhcp_lease *l,
                     int renewing)
{
	struct dhcp_msg m;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(67),
	                         .sin_addr = {htonl(INADDR_BROADCAST)}};
	uint8_t *o = m.opt;

	memset(&m, 0, sizeof m);
	m.op = 1, m.htype = 1, m.hlen = 6, m.xid = xid, m.flags = htons(0x8000);
	memcpy(m.chaddr, mac, 6);
	memcpy(m.cookie, "\x63\x82\x53\x63", 4);
	*o++ = 53, *o++ = 1, *o++ = (uint8_t)type;
	*o++ = 55, *o++ = 4, *o++ = 1, *o++ = 3, *o++ = 6, *o++ = 51;
	if (type == DHCP_REQUEST && renewing) {
		/* RENEWING (RFC 2131 4.4.5): unicast to the server that gave the
		 * lease, ciaddr set, no broadcast flag; the ACK comes back unicast */
		m.ciaddr = l->addr.s_addr;
		m.flags = 0;
		if (l->server.s_addr)
			to.sin_addr = l->server;
	} else if (type == DHCP_REQUEST) {
		*o++ = 50, *o++ = 4, memcpy(o, &l->addr, 4), o += 4;
		*o++ = 54, *o++ = 4, memcpy(o, &l->server, 4), o += 4;
	}
	*o++ = 255;
	return sendto(s, &m, sizeof m, 0, (struct sockaddr *)&to, sizeof to) == sizeof m ? 0 : -1;
}

/* Waits up to ms for an answer to xid of a type in want (a bit per type);
 * its type, or -1. Others are skipped: a server that checks an address
 * before offering it (dnsmasq pings it) answers a repeated DISCOVER late,
 * and that OFFER must not end the wait for an ACK. */
static int dhcp_recv(int s, uint32_t xid, struct dhcp_lease *l, int ms, unsigned want)
{
	int64_t end = now_ms() + ms;
	struct dhcp_msg m;

	for (int64_t left; (left = end - now_ms()) > 0;) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		ssize_t n;
		int type = -1;

		if (poll(&p, 1, (int)left) != 1)
			return errno = ETIMEDOUT, -1;
		n = recv(s, &m, sizeof m, 0);
		if (n < 240 || m.op != 2 || m.xid != xid || memcmp(m.cookie, "\x63\x82\x53\x63", 4))
			continue;
		l->addr.s_addr = m.yiaddr;
		l->dns_n = 0;
		for (uint8_t *o = m.opt, *e = (uint8_t *)&m + n; o + 1 < e && *o != 255;) {
			uint8_t code = o[0], len = o[1];

			if (code == 0) {
				o++;
				continue;
			}
			if (o + 2 + len > e)
				break;
			if (code == 53 && len == 1)
				type = o[2];
			else if (code == 1 && len == 4)
				memcpy(&l->mask, o + 2, 4);
			else if (code == 3 && len >= 4)
				memcpy(&l->router, o + 2, 4);
			else if (code == 54 && len == 4)
				memcpy(&l->server, o + 2, 4);
			else if (code == 51 && len == 4)
				l->lease_s = (uint32_t)o[2] << 24 | o[3] << 16 | o[4] << 8 | o[5];
			else if (code == 6)
				for (int i = 0; i + 4 <= len && l->dns_n < DNS_MAX; i += 4)
					memcpy(&l->dns[l->dns_n++], o + 2 + i, 4);
			o += 2 + len;
		}
		if (type > 0 && type < 32 && (want & 1u << type))
			return type;
	}
	return -1;
}

static int dhcp_run(struct dhcp_lease *l, int renewing, int attempts)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, rc = -1;
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(68)};
	struct ifreq ifr;
	uint32_t xid;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", cfg.iface);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
	setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, cfg.iface, strlen(cfg.iface));
	/* The interface must be up to send from it before it has an address. */
	if (if_up(s, cfg.iface) != 0 || bind(s, (struct sockaddr *)&me, sizeof me) != 0 ||
	    ioctl(s, SIOCGIFHWADDR, &ifr) != 0)
		goto out;
	if (getrandom(&xid, sizeof xid, 0) != sizeof xid)
		xid = (uint32_t)now_ms();
	for (int attempt = 0; attempt < attempts && rc != 0; attempt++) {
		int t;

		if (!renewing) {
			if (dhcp_send(s, xid, (uint8_t *)ifr.ifr_hwaddr.sa_data, DHCP_DISCOVER, l, 0) != 0 ||
			    dhcp_recv(s, xid, l, 2000 << attempt, 1u << DHCP_OFFER) != DHCP_OFFER)
				continue;
		}
		if (dhcp_send(s, xid, (uint8_t *)ifr.ifr_hwaddr.sa_data, DHCP_REQUEST, l, renewing) != 0)
			continue;
		t = dhcp_recv(s, xid, l, 2000 << attempt, 1u << DHCP_ACK | 1u << DHCP_NAK);
		if (t == DHCP_ACK)
			rc = 0;
		else if (t == DHCP_NAK)
			break;
	}
out:
	close(s);
	return rc;
}

static void write_resolv(const struct in_addr *dns, int n)
{
	char text[256];
	int len = 0;

	for (int i = 0; i < n; i++)
		len += snprintf(text + len, sizeof text - len, "nameserver %s\n", inet_ntoa(dns[i]));
	text[len] = 0;
	if (write_file(ETC_DIR "/resolv.conf", text, 0644) != 0)
		say(ETC_DIR "/resolv.conf: %s", strerror(errno));
}

static void write_hosts(void)
{
	static char extra[8192];
	char text[sizeof extra + 128];
	int n = read_file(DATA_DIR "/hosts", extra, sizeof extra);

	snprintf(text, sizeof text, "127.0.0.1 localhost %s\n::1 localhost\n%s", cfg.hostname,
	         n > 0 ? extra : "");
	if (write_file(ETC_DIR "/hosts", text, 0644) != 0)
		say(ETC_DIR "/hosts: %s", strerror(errno));
}

static void dhcp_lease_take(void)
{
	struct dhcp_lease l;
	int renewing = dhcp_bound;

	memset(&l, 0, sizeof l);
	l.addr = cfg.addr;
	l.server = dhcp_server;
	/* At boot (nothing to supervise yet) up to 4 tries, 2 to 16 s each; later
	 * one short try per round, so that a missing DHCP server never keeps init
	 * from a power-off request for long. */
	int attempts = child ? 1 : 4, rc = dhcp_run(&l, renewing, attempts);

	if (rc != 0 && renewing) {
		say("dhcp: renewal of %s refused or not answered: asking again from scratch",
		    inet_ntoa(cfg.addr));
		renewing = 0;
		memset(&l, 0, sizeof l);
		rc = dhcp_run(&l, 0, attempts);
	}
	if (rc != 0 || l.addr.s_addr == 0)
		goto fail;
	if (!renewing || l.addr.s_addr != cfg.addr.s_addr) {
		if (if_configure(cfg.iface, l.addr, l.mask, l.router) != 0) {
			say("dhcp: cannot configure %s: %s", cfg.iface, strerror(errno));
			goto fail;
		}
		cfg.addr = l.addr, cfg.mask = l.mask, cfg.gw = l.router;
		char a[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN] = "none";

		inet_ntop(AF_INET, &l.addr, a, sizeof a);
		if (l.router.s_addr) /* (inet_ntoa has one buffer: not twice in one call) */
			inet_ntop(AF_INET, &l.router, gw, sizeof gw);
		say("dhcp: %s %s/%d gateway %s, lease %u s", cfg.iface, a,
		    __builtin_popcount(l.mask.s_addr), gw, l.lease_s);
		if (!cfg.dns_n)
			write_resolv(l.dns, l.dns_n);
	}
	dhcp_server = l.server;
	dhcp_bound = 1;
	dhcp_renew_ms = now_ms() + (int64_t)(l.lease_s ? l.lease_s : 3600) * 500;
	return;
fail:
	say("dhcp: no lease on %s (%s); trying again in 10 s", cfg.iface, strerror(errno));
	dhcp_renew_ms = now_ms() + 10000;
	dhcp_bound = 0;
	dhcp_server.s_addr = 0;
	cfg.addr.s_addr = 0;
}

static void network_up(void)
{
	struct in_addr lo, lom, none = {0};

	inet_pton(AF_INET, "127.0.0.1", &lo);
	inet_pton(AF_INET, "255.0.0.0", &lom);
	if (if_configure("lo", lo, lom, none) != 0)
		say("lo: %s", strerror(errno));
	sethostname(cfg.hostname, strlen(cfg.hostname));
	write_hosts();
	if (cfg.dns_n)
		write_resolv(cfg.dns, cfg.dns_n);
	pick_iface();
	if (!cfg.iface[0]) {
		say("no network interface found");
		return;
	}
	if (cfg.dhcp) {
		dhcp_lease_take();
		return;
	}
	if (if_configure(cfg.iface, cfg.addr, cfg.mask, cfg.gw) != 0)
		say("%s: cannot set %s: %s", cfg.iface, inet_ntoa(cfg.addr), strerror(errno));
	else
		say("network: %s %s/%d (static)", cfg.iface, inet_ntoa(cfg.addr),
		    __builtin_popcount(cfg.mask.s_addr));
}

/* ---- 7. fillrelay --------------------------------------------------------------- */

static void start_fillrelay(void)
{
	static char *const argv[] = {"fillrelay", "run", "-c", FR_CONF, NULL};
	static char *const envp[] = {"PATH=/bin", "TZ=UTC", NULL};
	sigset_t none;
	int p[2] = {-1, -1};
	pid_t pid;

	if (out_fd >= 0) {
		/* the last run's pipe (a restart can come before its end of file) */
		read_output();
		if (out_fd >= 0)
			close(out_fd);
		out_fd = -1;
	}
	if (pipe2(p, O_CLOEXEC) == 0) {
		/* its end never blocks: a full pipe drops a line, fillrelay goes on */
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		fcntl(p[1], F_SETPIPE_SZ, LOG_PIPE_BYTES);
		fcntl(p[0], F_SETFL, O_NONBLOCK);
	}
	pid = fork();
	restart_at_ms = -1;
	if (pid < 0) {
		say("fork: %s; trying again in 1 s", strerror(errno));
		restart_at_ms = now_ms() + 1000;
		if (p[0] >= 0)
			close(p[0]), close(p[1]);
		return;
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0 && null != 0) {
			dup2(null, 0);
			close(null);
		}
		if (p[1] >= 0) {
			dup2(p[1], 1);
			dup2(p[1], 2);
		}
		if (setgroups(0, NULL) != 0 || setgid(FR_UID) != 0 || setuid(FR_UID) != 0 ||
		    chdir(FR_JOURNAL) != 0)
			_exit(71);
		execve(FR_BIN, argv, envp);
		_exit(127);
	}
	if (p[1] >= 0) {
		close(p[1]);
		out_fd = p[0];
	}
	child = pid;
	child_started_ms = now_ms();
	say("fillrelay started: pid %d, uid %d", (int)pid, FR_UID);
}

static void child_exited(int status)
{
	int64_t ran = now_ms() - child_started_ms;

	child = 0;
	if (WIFSIGNALED(status))
		say("fillrelay (ran %lld ms) killed by signal %d", (long long)ran, WTERMSIG(status));
	else
		say("fillrelay (ran %lld ms) exited with status %d", (long long)ran, WEXITSTATUS(status));
	if (stopping || restart_after_stop) {
		restart_after_stop = 0;
		if (!stopping)
			start_fillrelay();
		return;
	}
	if (ran >= RESTART_STABLE_MS)
		restart_backoff_ms = RESTART_MIN_MS;
	say("restarting fillrelay in %lld ms", (long long)restart_backoff_ms);
	restart_at_ms = now_ms() + restart_backoff_ms;
	restart_backoff_ms = restart_backoff_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS
	                                                              : restart_backoff_ms * 2;
}

static void stop_fillrelay(int how)
{
	if (stopping)
		return;
	stopping = how;
	restart_at_ms = -1;
	say("%s requested: stopping fillrelay (SIGTERM, up to %d s)",
	    how == RB_POWER_OFF ? "power-off" : "reboot", STOP_GRACE_MS / 1000);
	if (child)
		kill(child, SIGTERM);
	stop_deadline_ms = now_ms() + STOP_GRACE_MS;
}

static void finish_stop(void)
{
	if (child) {
		say("fillrelay still running after %d s: SIGKILL", STOP_GRACE_MS / 1000);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = 0;
	}
	if (out_fd >= 0)
		read_output(); /* fillrelay's last lines */
	say("fillrelay stopped: syncing and unmounting the data partition");
	log_close(); /* an open file keeps the partition busy */
	sync();
	if (umount2(DATA_DIR, 0) == 0)
		say("data partition synced and unmounted");
	else if (mount(NULL, DATA_DIR, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0)
		say("data partition synced and read-only (%s)", strerror(errno));
	else
		say("data partition synced (%s)", strerror(errno));
	say("%s", stopping == RB_POWER_OFF ? "powering off" : "rebooting");
	reboot(stopping);
	for (;;)
		pause();
}

/* ---- the wait: inputs, console, signals ------------------------------------------ */

static void open_inputs(void)
{
	DIR *d = opendir("/dev/input");
	struct dirent *e;

	while (d && (e = readdir(d)) && inputs_n < INPUTS_MAX) {
		char p[300], name[64] = "?";

		if (strncmp(e->d_name, "event", 5) != 0)
			continue;
		snprintf(p, sizeof p, "/dev/input/%s", e->d_name);
		int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0)
			continue;
		ioctl(fd, EVIOCGNAME(sizeof name), name);
		say("power key watched on %s (%s)", p, name);
		inputs[inputs_n++] = fd;
	}
	if (d)
		closedir(d);
	if (!inputs_n)
		say("no input device: power off with SIGUSR2 or \"poweroff\" on the console");
}

static void read_input(int fd)
{
	struct input_event ev[16];
	ssize_t n = read(fd, ev, sizeof ev);

	for (int i = 0; i < n / (ssize_t)sizeof ev[0]; i++)
		if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
			stop_fillrelay(RB_POWER_OFF);
}

static void console_line(char *line)
{
	line = trim(line);
	if (!strcmp(line, "status")) {
		say("fillrelay %s%d, up %lld ms, address %s", child ? "pid " : "not running, ", (int)child,
		    child ? (long long)(now_ms() - child_started_ms) : 0LL,
		    cfg.addr.s_addr ? inet_ntoa(cfg.addr) : "none");
	} else if (!strcmp(line, "kill")) {
		say("console: SIGKILL to fillrelay");
		if (child)
			kill(child, SIGKILL);
	} else if (!strcmp(line, "restart")) {
		say("console: restarting fillrelay");
		if (child) {
			restart_after_stop = 1;
			kill(child, SIGTERM);
		}
	} else if (!strcmp(line, "poweroff")) {
		stop_fillrelay(RB_POWER_OFF);
	} else if (!strcmp(line, "reboot")) {
		stop_fillrelay(RB_AUTOBOOT);
	} else if (*line) {
		say("console: unknown command \"%s\" (status, kill, restart, poweroff, reboot)", line);
	}
}

static void read_console(void)
{
	static char buf[256];
	static size_t len;
	ssize_t n = read(console_fd, buf + len, sizeof buf - 1 - len);
	char *nl;

	if (n <= 0)
		return;
	len += (size_t)n;
	buf[len] = 0;
	while ((nl = strpbrk(buf, "\r\n"))) {
		*nl = 0;
		console_line(buf);
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len + 1);
	}
	if (len == sizeof buf - 1)
		len = 0; /* an overlong line is dropped */
}

static void read_signals(int sfd)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(sfd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGUSR2 || si.ssi_signo == SIGPWR)
			stop_fillrelay(RB_POWER_OFF);
		else if (si.ssi_signo == SIGINT)
			stop_fillrelay(RB_AUTOBOOT);
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == child)
			child_exited(status);
}

static int64_t soonest(int64_t a, int64_t b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int main(void)
{
	sigset_t mask;
	int sfd;

	if (getpid() != 1)
		return fprintf(stderr, "init: must run as PID 1\n"), 2;
	early_mounts();
	say("fillrelay board init");
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGPWR);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	reboot(RB_DISABLE_CAD); /* ctrl-alt-del becomes SIGINT */
	load_modules();
	clock_floor();
	mount_data();
	own_data();
	log_open();
	read_board_conf();
	network_up();
	if (cfg.have_sntp)
		sntp_sync();
	open_inputs();
	/* A description of its own: O_NONBLOCK on the shared one would make
	 * fillrelay's writes to the console fail with EAGAIN. */
	console_fd = open("/dev/console", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	start_fillrelay();
	for (;;) {
		struct pollfd p[INPUTS_MAX + 3];
		int n = 0;
		int64_t t = now_ms(), next = -1;

		if (stopping && (!child || t >= stop_deadline_ms))
			finish_stop();
		if (restart_at_ms >= 0 && t >= restart_at_ms)
			start_fillrelay();
		if (cfg.dhcp && dhcp_renew_ms >= 0 && t >= dhcp_renew_ms && !stopping)
			dhcp_lease_take();
		if (cfg.have_sntp && t >= sntp_next_ms && !stopping)
			sntp_sync();
		next = soonest(restart_at_ms, stopping ? stop_deadline_ms : -1);
		next = soonest(next, cfg.dhcp ? dhcp_renew_ms : -1);
		next = soonest(next, cfg.have_sntp ? sntp_next_ms : -1);
		p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = console_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
		for (int i = 0; i < inputs_n; i++)
			p[n++] = (struct pollfd){.fd = inputs[i], .events = POLLIN};
		t = now_ms();
		if (poll(p, n, next < 0 ? -1 : next > t ? (int)(next - t) : 0) <= 0)
			continue;
		if (p[0].revents)
			read_signals(sfd);
		if (p[1].revents)
			read_console();
		if (p[2].revents && out_fd >= 0)
			read_output();
		for (int i = 3; i < n; i++)
			if (p[i].revents)
				read_input(p[i].fd);
	}
}
