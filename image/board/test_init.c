/*
 * test_init.c -- the board init's pieces that can run on the build machine:
 * board.conf parsing and the SNTP client, against chronyd (a real NTP server,
 * run with -x so it never touches this machine's clock) and against
 * image/board/sntp_peer.py's misbehaving servers. Run by image/test-board.sh,
 * which starts both and passes their ports:
 *
 *   FR_CHRONY_PORT=N FR_SNTP_PEER="ahead=N origin=N kod=N silent=N" test_init
 *
 * The dhcp_ tests run inside a network namespace of their own that
 * image/test-board.sh sets up: veth0 (10.9.0.1/24) with dnsmasq serving
 * 10.9.0.50-59 on it, veth1 its peer for the client, and veth2 whose peer has
 * no server (image/board/dhcp-netns.sh; its namespace has its own host name
 * too, for net_static_up):
 *
 *   sh image/board/dhcp-netns.sh WORKDIR test_init     (runs dhcp_ and net_)
 *
 * init.c is included whole; its main is renamed away and never runs, nothing
 * here steps the clock (sntp_query only measures), and /etc is ETC_DIR.
 */
#define DATA_DIR "build/board/test_init.data"
#define ETC_DIR "build/board/test_init.etc"
#define main init_main
#include "init.c"
#undef main

#include "t.h"

static int peer_port(const char *kind)
{
	const char *all = getenv("FR_SNTP_PEER"), *p;
	char key[16];

	snprintf(key, sizeof key, "%s=", kind);
	p = all ? strstr(all, key) : NULL;
	return p ? atoi(p + strlen(key)) : 0;
}

static struct sockaddr_in local(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

TEST(board_hostport)
{
	struct sockaddr_in sa;

	T_EQ_INT(parse_hostport("162.159.200.1", &sa, 123), 0);
	T_EQ_INT(ntohs(sa.sin_port), 123);
	T_EQ_INT(parse_hostport("127.0.0.1:12123", &sa, 123), 0);
	T_EQ_INT(ntohs(sa.sin_port), 12123);
	T_EQ_INT(ntohl(sa.sin_addr.s_addr), 0x7f000001);
	T_EQ_INT(parse_hostport("127.0.0.1:0", &sa, 123), -1);
	T_EQ_INT(parse_hostport("127.0.0.1:65536", &sa, 123), -1);
	T_EQ_INT(parse_hostport("127.0.0.1:12x", &sa, 123), -1);
	T_EQ_INT(parse_hostport("pool.ntp.org", &sa, 123), -1);
}

TEST(board_cidr)
{
	struct in_addr a, m;

	T_EQ_INT(parse_cidr("192.168.1.50/24", &a, &m), 0);
	T_EQ_INT(ntohl(a.s_addr), 0xc0a80132);
	T_EQ_INT(ntohl(m.s_addr), 0xffffff00);
	T_EQ_INT(parse_cidr("10.1.2.3/32", &a, &m), 0);
	T_EQ_INT(ntohl(m.s_addr), 0xffffffff);
	T_EQ_INT(parse_cidr("10.1.2.3/8", &a, &m), 0);
	T_EQ_INT(ntohl(m.s_addr), 0xff000000);
	T_EQ_INT(parse_cidr("10.1.2.3", &a, &m), -1);
	T_EQ_INT(parse_cidr("10.1.2.3/0", &a, &m), -1);
	T_EQ_INT(parse_cidr("10.1.2.3/33", &a, &m), -1);
	T_EQ_INT(parse_cidr("10.1.2.3/24x", &a, &m), -1);
	T_EQ_INT(parse_cidr("10.1.2/24", &a, &m), -1);
}

/* board.conf with text, read into a cleared cfg as init reads it at boot */
static int conf_from(const char *text)
{
	mkdir(DATA_DIR, 0755);
	if (write_file(DATA_DIR "/board.conf", text, 0644) != 0)
		return -1;
	memset(&cfg, 0, sizeof cfg);
	read_board_conf();
	return 0;
}

TEST(board_conf_static)
{
	static const char text[] = "# a static board\n"
	                           "interface = end0\n"
	                           "address = 192.168.7.20/24\n"
	                           "gateway = 192.168.7.1\n"
	                           "  dns = 1.1.1.1, 9.9.9.9  \n"
	                           "sntp = 127.0.0.1:4123\n"
	                           "colour = blue\n"
	                           "hostname = desk-1\n";

	T_REQUIRE(conf_from(text) == 0);
	T_EQ_STR(cfg.iface, "end0");
	T_EQ_INT(cfg.dhcp, 0);
	T_EQ_INT(ntohl(cfg.addr.s_addr), 0xc0a80714);
	T_EQ_INT(ntohl(cfg.mask.s_addr), 0xffffff00);
	T_EQ_INT(ntohl(cfg.gw.s_addr), 0xc0a80701);
	T_EQ_INT(cfg.dns_n, 2);
	T_EQ_INT(ntohl(cfg.dns[1].s_addr), 0x09090909);
	T_EQ_INT(cfg.have_sntp, 1);
	T_EQ_INT(ntohs(cfg.sntp.sin_port), 4123);
	T_EQ_STR(cfg.hostname, "desk-1"); /* the unknown key before it is only reported */
}

TEST(board_conf_defaults_and_bad_values)
{
	static const char text[] = "address = dhcp\n"
	                           "dns = 1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4\n"
	                           "sntp = time.example\n"
	                           "gateway = 300.1.1.1\n";

	T_REQUIRE(conf_from(text) == 0);
	T_EQ_INT(cfg.dhcp, 1);
	T_EQ_STR(cfg.iface, "");
	T_EQ_INT(cfg.have_sntp, 0);
	T_EQ_INT(cfg.gw.s_addr, 0);
	T_EQ_INT(cfg.dns_n, 3); /* the fourth is refused */
	T_EQ_STR(cfg.hostname, "fillrelay");
	unlink(DATA_DIR "/board.conf");
	memset(&cfg, 0, sizeof cfg);
	read_board_conf(); /* no file: DHCP, said once */
	T_EQ_INT(cfg.dhcp, 1);
}

TEST(board_log_rotates)
{
	static char line[1000];
	struct stat st;

	mkdir(DATA_DIR, 0755);
	unlink(LOG_FILE);
	unlink(LOG_FILE ".1");
	log_open();
	T_REQUIRE(log_fd >= 0);
	memset(line, 'x', sizeof line - 1);
	line[sizeof line - 2] = '\n';
	int err = dup(2), null = open("/dev/null", O_WRONLY);

	T_REQUIRE(err >= 0 && null >= 0);
	dup2(null, 2); /* the console's copy of 1 MiB of x */
	for (int i = 0; i < 1100; i++) /* 1.05 MiB */
		emit(line, strlen(line));
	say("after the rotation");
	dup2(err, 2);
	close(err);
	close(null);
	log_close();
	T_REQUIRE(stat(LOG_FILE ".1", &st) == 0);
	T_CHECK(st.st_size <= LOG_MAX && st.st_size > LOG_MAX - 1000);
	T_REQUIRE(stat(LOG_FILE, &st) == 0);
	T_CHECK(st.st_size > 0 && st.st_size < 100 * 1000);
	char *tail = t_read_file(LOG_FILE, NULL);

	T_REQUIRE(tail != NULL);
	T_CHECK(strstr(tail, "init: after the rotation\n") != NULL);
	free(tail);
	/* appends to what is there after a restart */
	log_open();
	T_REQUIRE(log_fd >= 0);
	T_CHECK(log_bytes == st.st_size);
	log_close();
}

TEST(sntp_against_chronyd)
{
	int port = getenv("FR_CHRONY_PORT") ? atoi(getenv("FR_CHRONY_PORT")) : 0;
	struct sockaddr_in sa = local(port);
	int64_t off = INT64_MAX;

	T_REQUIRE(port > 0);
	T_EQ_INT(sntp_query(&sa, 2000, &off), 0);
	/* chronyd serves this machine's own clock: the offset is the noise */
	T_CHECK(off > -50000000 && off < 50000000);
}

TEST(sntp_server_ahead)
{
	struct sockaddr_in sa = local(peer_port("ahead"));
	int64_t off = 0;

	T_REQUIRE(peer_port("ahead") > 0);
	T_EQ_INT(sntp_query(&sa, 2000, &off), 0);
	T_CHECK(off > 4900000000LL && off < 5100000000LL);
}

TEST(sntp_answers_refused)
{
	struct sockaddr_in origin = local(peer_port("origin")), kod = local(peer_port("kod"));
	int64_t off = 0;

	T_REQUIRE(peer_port("origin") > 0 && peer_port("kod") > 0);
	errno = 0;
	T_EQ_INT(sntp_query(&origin, 2000, &off), -1);
	T_EQ_INT(errno, EPROTO);
	errno = 0;
	T_EQ_INT(sntp_query(&kod, 2000, &off), -1);
	T_EQ_INT(errno, EPROTO);
}

TEST(sntp_no_answer)
{
	struct sockaddr_in silent = local(peer_port("silent"));
	int64_t off = 0, t0 = now_ms();

	T_REQUIRE(peer_port("silent") > 0);
	errno = 0;
	T_EQ_INT(sntp_query(&silent, 300, &off), -1);
	T_EQ_INT(errno, ETIMEDOUT);
	T_CHECK(now_ms() - t0 >= 300 && now_ms() - t0 < 2000);
}

static int in_pool(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return h >= 0x0a090032 && h <= 0x0a09003b; /* 10.9.0.50 .. 10.9.0.59 */
}

static void dhcp_setup(const char *iface)
{
	memset(&cfg, 0, sizeof cfg);
	snprintf(cfg.iface, sizeof cfg.iface, "%s", iface);
	cfg.dhcp = 1;
	dhcp_bound = 0;
	dhcp_renew_ms = -1;
	dhcp_server.s_addr = 0;
	child = 0;
	mkdir(DATA_DIR, 0755);
	mkdir(ETC_DIR, 0755);
	/* nothing an earlier run wrote may pass for this run's output */
	unlink(ETC_DIR "/resolv.conf");
	unlink(ETC_DIR "/hosts");
}

TEST(dhcp_lease_from_dnsmasq_then_renewed)
{
	struct in_addr first;
	int64_t t0;
	char *resolv;

	T_REQUIRE(getenv("FR_DHCP_NETNS") != NULL);
	dhcp_setup("veth1");
	t0 = now_ms();
	dhcp_lease_take();
	T_REQUIRE(dhcp_bound == 1);
	T_CHECK(in_pool(cfg.addr));
	T_EQ_INT(ntohl(cfg.mask.s_addr), 0xffffff00);
	T_EQ_INT(ntohl(cfg.gw.s_addr), 0x0a090001);
	T_EQ_INT(ntohl(dhcp_server.s_addr), 0x0a090001);
	/* dnsmasq's lease is 120 s: renewed at half (the lease took t0's wait:
	 * dnsmasq pings an address before it offers it) */
	T_CHECK(dhcp_renew_ms - now_ms() >= 59000 && dhcp_renew_ms - now_ms() <= 60000);
	T_CHECK(now_ms() - t0 < 20000);
	resolv = t_read_file(ETC_DIR "/resolv.conf", NULL);
	T_REQUIRE(resolv != NULL);
	T_EQ_STR(resolv, "nameserver 10.9.0.1\n");
	free(resolv);
	first = cfg.addr;

	/* the renewal asks for the same address and keeps it */
	child = 1; /* supervising: one short try */
	t0 = now_ms();
	dhcp_lease_take();
	child = 0;
	T_EQ_INT(dhcp_bound, 1);
	T_EQ_INT(cfg.addr.s_addr, first.s_addr);
	T_CHECK(now_ms() - t0 < 2000); /* answered: not the 2 s wait of a lost one */
	T_CHECK(dhcp_renew_ms - now_ms() >= 59000 && dhcp_renew_ms - now_ms() <= 60000);
}

TEST(dhcp_renewal_refused_starts_over)
{
	int64_t t0;

	T_REQUIRE(getenv("FR_DHCP_NETNS") != NULL);
	dhcp_setup("veth1");
	dhcp_lease_take();
	T_REQUIRE(dhcp_bound == 1);
	/* a lease the server never gave (an address outside its range): it says
	 * NAK (--dhcp-authoritative) and the client asks again from scratch */
	inet_pton(AF_INET, "10.9.0.200", &cfg.addr);
	t0 = now_ms();
	dhcp_lease_take();
	T_EQ_INT(dhcp_bound, 1);
	T_CHECK(in_pool(cfg.addr));
	T_CHECK(now_ms() - t0 < 5000); /* the NAK ends the wait (four tries take 30 s) */
}

TEST(dhcp_no_server_bounded)
{
	int64_t t0;

	T_REQUIRE(getenv("FR_DHCP_NETNS") != NULL);
	dhcp_setup("veth2");
	child = 1; /* supervising: one 2 s try, not four */
	t0 = now_ms();
	dhcp_lease_take();
	child = 0;
	T_EQ_INT(dhcp_bound, 0);
	T_EQ_INT(cfg.addr.s_addr, 0);
	T_CHECK(now_ms() - t0 >= 2000 && now_ms() - t0 < 5000);
	T_CHECK(dhcp_renew_ms - now_ms() > 9000 && dhcp_renew_ms - now_ms() <= 10000);
}

TEST(net_static_up)
{
	struct ifreq ifr;
	static char route[4096];
	char name[64] = "", *hosts, *resolv;
	int sock;

	T_REQUIRE(getenv("FR_DHCP_NETNS") != NULL);
	dhcp_setup("veth2");
	cfg.dhcp = 0;
	T_REQUIRE(board_key("address", (char[]){"10.9.9.9/24"}) == 0);
	T_REQUIRE(board_key("gateway", (char[]){"10.9.9.1"}) == 0);
	T_REQUIRE(board_key("dns", (char[]){"10.9.9.53"}) == 0);
	T_REQUIRE(board_key("hostname", (char[]){"boardtest"}) == 0);
	T_REQUIRE(write_file(DATA_DIR "/hosts", "10.0.2.100 exchange.fillrelay.test\n", 0644) == 0);
	network_up();

	gethostname(name, sizeof name);
	T_EQ_STR(name, "boardtest");
	hosts = t_read_file(ETC_DIR "/hosts", NULL);
	T_REQUIRE(hosts != NULL);
	T_EQ_STR(hosts, "127.0.0.1 localhost boardtest\n::1 localhost\n"
	                "10.0.2.100 exchange.fillrelay.test\n");
	resolv = t_read_file(ETC_DIR "/resolv.conf", NULL);
	T_REQUIRE(resolv != NULL);
	T_EQ_STR(resolv, "nameserver 10.9.9.53\n");

	sock = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "veth2");
	T_REQUIRE(ioctl(sock, SIOCGIFADDR, &ifr) == 0);
	T_EQ_INT(ntohl(((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr), 0x0a090909);
	T_REQUIRE(ioctl(sock, SIOCGIFNETMASK, &ifr) == 0);
	T_EQ_INT(ntohl(((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr), 0xffffff00);
	T_REQUIRE(ioctl(sock, SIOCGIFFLAGS, &ifr) == 0);
	T_CHECK(ifr.ifr_flags & IFF_UP);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	T_REQUIRE(ioctl(sock, SIOCGIFFLAGS, &ifr) == 0);
	T_CHECK(ifr.ifr_flags & IFF_UP);
	close(sock);
	/* the default route: destination 0, gateway 10.9.9.1 (little-endian hex) */
	T_REQUIRE(read_file("/proc/net/route", route, sizeof route) > 0); /* (st_size 0) */
	T_CHECK(strstr(route, "veth2\t00000000\t0109090A") != NULL);
	free(hosts);
	free(resolv);
}
