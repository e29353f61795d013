/*
 * test_tls.c -- unit tests of pem (trust anchors from PEM) and tls (the engine
 * pump, run here in a simulated world: no network, a scripted peer, a chosen
 * clock). The real handshakes are in it_tls.c.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pem.h"
#include "t.h"
#include "tls.h"

#define UT_DEBIAN_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* openssl req -x509 -newkey ec (P-256), CA:TRUE, notBefore 2026-11-26 05:38:54 UTC. */
static const char UT_CA_EC[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBzTCCAXOgAwIBAgIUGBWzMIBcTAu9xMSzZ7r7FoqbsL8wCgYIKoZIzj0EAwIw\n"
                               "MzESMBAGA1UECgwJZmlsbHJlbGF5MR0wGwYDVQQDDBRmaWxscmVsYXkgdW5pdCBF\n"
                               "QyBDQTAgFw0yNjExMjYwNTM4NTRaGA8yMTI2MTEwMjA1Mzg1NFowMzESMBAGA1UE\n"
                               "CgwJZmlsbHJlbGF5MR0wGwYDVQQDDBRmaWxscmVsYXkgdW5pdCBFQyBDQTBZMBMG\n"
                               "ByqGSM49AgEGCCqGSM49AwEHA0IABE1mUcArtm6/tOArY4ga5ky+46h4RUsETXg4\n"
                               "+PaV36FWaXLt02PmtdMgSfZ3WD52sdN8XaHfAWUivQM/Fw+0sV2jYzBhMB0GA1Ud\n"
                               "DgQWBBS4BYzPUIioH3+6H1GwZs239iZQvjAfBgNVHSMEGDAWgBS4BYzPUIioH3+6\n"
                               "H1GwZs239iZQvjAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggq\n"
                               "hkjOPQQDAgNIADBFAiEA3py0Num7/GPctUkY6pq157AbD40zqFLGaUFHbBbw/kUC\n"
                               "IHgE1ySh9p47qHRyXmFDL0ohPIGCYy3P3hh8GsWRMzH3\n"
                               "-----END CERTIFICATE-----\n";

/* RSA-2048, CA:TRUE. */
static const char UT_CA_RSA[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIDIzCCAgugAwIBAgIUQX0X7j4vTa9x9Ge+vqVm5Bk7prMwDQYJKoZIhvcNAQEL\n"
                                "BQAwIDEeMBwGA1UEAwwVZmlsbHJlbGF5IHVuaXQgUlNBIENBMCAXDTI2MTEyNjA1\n"
                                "Mzg1NFoYDzIxMjYxMTAyMDUzODU0WjAgMR4wHAYDVQQDDBVmaWxscmVsYXkgdW5p\n"
                                "dCBSU0EgQ0EwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDGbhmsQNcB\n"
                                "EmhkHGiJNRhOch9r3+Qo9VXOhLezoWf6dh33I50/fZshBYhbbxPmgQaT0qqxEDoo\n"
                                "zl/0V/om5HcxXCsuAUe72IsQLPQ5cBVMOzxLONDvq1w/VBLE8S29xwM859+fuL0i\n"
                                "CLn7DnJwSdseT/W2AwtPEBcSP3XN5QcnHZn+nXpM5J/FRHl9sUoIo+hNu9I5CdNv\n"
                                "NU9uqAdUoMRx061KzRhDU5xlm/Y3mvXuGcnBBqr//2UvAZ1ahaD/wTqD06lkN/cM\n"
                                "LXFZqh5M5ektFVPi3uxqVyaeHHT/XSlbcjQl1qniSyZbEgx02kU8YUhjQuAehCBs\n"
                                "mhGQIsMNjUzvAgMBAAGjUzBRMB0GA1UdDgQWBBSNJZUxZmUYnTo38ENiu4mFnP3k\n"
                                "pDAfBgNVHSMEGDAWgBSNJZUxZmUYnTo38ENiu4mFnP3kpDAPBgNVHRMBAf8EBTAD\n"
                                "AQH/MA0GCSqGSIb3DQEBCwUAA4IBAQDDf0MT9lZaAN1bzmS5/MBmECJrrTzq5Wuh\n"
                                "ZYRpOObUuf3EOnxPtFB5o026Oz8YbJGJEnleG4SFH8atZaeLiHBQDMwAScZZvRM7\n"
                                "aC/OzEecnZR8cHhzSleG9/pMgv2XBm2/b0yJlhc1pqHcaS07JQbDP0mMt60eiFcw\n"
                                "u6K/dFsVv+1Eg+nsKPTzE/eQEJuUWL9J1hf9z4rHCEFEI4vphAG15yLPptYHA5+Z\n"
                                "mPqTr3mnUpeLQi3eZ5x82yQqcdxsvwpe0d79oJfI1uRzGTSZtxdPTCQ6Sat8MKd6\n"
                                "MNgdKE+f0aDMxcflBoqLdm+VC1JOzoFMLkynMMjcIYD/K/fwdN6n\n"
                                "-----END CERTIFICATE-----\n";

/* A server certificate (CA:FALSE) issued by UT_CA_EC. */
static const char UT_LEAF[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBsDCCAVegAwIBAgIUFTDqyot5KT7QBnita6iKzQeMEpkwCgYIKoZIzj0EAwIw\n"
                              "MzESMBAGA1UECgwJZmlsbHJlbGF5MR0wGwYDVQQDDBRmaWxscmVsYXkgdW5pdCBF\n"
                              "QyBDQTAgFw0yNjExMjYwNTM4NTRaGA8yMTI2MTEwMjA1Mzg1NFowFDESMBAGA1UE\n"
                              "AwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECA2DX+jr6FX/\n"
                              "YQtSdIjBmgWzDupgI9KdX+5kW5QA7jvrYRiFdPqKixUrH6zsJhDm6gnpKWRm3En6\n"
                              "O8Dd3jwuyaNmMGQwDAYDVR0TAQH/BAIwADAUBgNVHREEDTALgglsb2NhbGhvc3Qw\n"
                              "HQYDVR0OBBYEFJULuBhX9KkyLxv1lja//HOlst9FMB8GA1UdIwQYMBaAFLgFjM9Q\n"
                              "iKgff7ofUbBmzbf2JlC+MAoGCCqGSM49BAMCA0cAMEQCIFGfIr9lGY5iA0w6RPJp\n"
                              "PSeo3hoC1DjGhhwQYxvBFuEkAiBpNtKSew1uaSoeprwyOHZWhDXHsc+JoX1gAwZP\n"
                              "hFJwgw==\n"
                              "-----END CERTIFICATE-----\n";

/* An Ed25519 CA: valid, but BearSSL 0.6 cannot use the key. */
static const char UT_CA_ED25519[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBXzCCARGgAwIBAgIUecyaurUmINiVguGN2LFfZCFlZ98wBQYDK2VwMCQxIjAg\n"
    "BgNVBAMMGWZpbGxyZWxheSB1bml0IEVkMjU1MTkgQ0EwIBcNMjYxMTI2MDUzODU0\n"
    "WhgPMjEyNjExMDIwNTM4NTRaMCQxIjAgBgNVBAMMGWZpbGxyZWxheSB1bml0IEVk\n"
    "MjU1MTkgQ0EwKjAFBgMrZXADIQAX+CwX/wwKb27L/32T+ZVCIpaw/pf/wAsUh9h0\n"
    "fUAZVaNTMFEwHQYDVR0OBBYEFBLHQrvZM4THcr9ff3rm/k4aOcC7MB8GA1UdIwQY\n"
    "MBaAFBLHQrvZM4THcr9ff3rm/k4aOcC7MA8GA1UdEwEB/wQFMAMBAf8wBQYDK2Vw\n"
    "A0EALW/FKm/uvVsxfg/e3X08yVVmfZtuUKXLEQBrAleAdgHSV3t89qih7+bnLuT2\n"
    "HhjXuWM59sN7chCC5fVGz0OmAQ==\n"
    "-----END CERTIFICATE-----\n";

static const char UT_PUBKEY[] = "-----BEGIN PUBLIC KEY-----\n"
                                "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECA2DX+jr6FX/YQtSdIjBmgWzDupg\n"
                                "I9KdX+5kW5QA7jvrYRiFdPqKixUrH6zsJhDm6gnpKWRm3En6O8Dd3jwuyQ==\n"
                                "-----END PUBLIC KEY-----\n";

/* Stores are big (about 250 KB): static, shared by the tests, re-initialised. */
static struct pem_ta_store ut_store, ut_store2;
static struct tls_conn ut_conn;

/* Writes text to a file in the scratch directory; returns its path. */
static const char *ut_file(const char *name, const void *text, size_t len)
{
	static char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_REQUIRE(fd >= 0);
	T_REQUIRE(write(fd, text, len) == (ssize_t)len);
	close(fd);
	return path;
}

static int ut_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle)) {
		printf("      message \"%s\" lacks \"%s\"\n", hay, needle);
		return 0;
	}
	return 1;
}

/* Every anchor's bytes lie in the used part of its store's pool. */
static int ut_anchors_in_pool(const struct pem_ta_store *s)
{
	const unsigned char *lo = s->pool, *hi = s->pool + s->pool_used;

	for (size_t i = 0; i < s->n; i++) {
		const br_x509_trust_anchor *ta = &s->ta[i];
		const br_x509_pkey *k = &ta->pkey;

		if (ta->dn.len == 0 || ta->dn.data < lo || ta->dn.data + ta->dn.len > hi ||
		    ta->flags != BR_X509_TA_CA)
			return 0;
		if (k->key_type == BR_KEYTYPE_RSA &&
		    (k->key.rsa.n < lo || k->key.rsa.n + k->key.rsa.nlen > hi ||
		     k->key.rsa.e < lo || k->key.rsa.e + k->key.rsa.elen > hi ||
		     k->key.rsa.nlen < 128))
			return 0;
		if (k->key_type == BR_KEYTYPE_EC &&
		    (k->key.ec.q < lo || k->key.ec.q + k->key.ec.qlen > hi || k->key.ec.qlen < 65))
			return 0;
		if (k->key_type != BR_KEYTYPE_RSA && k->key_type != BR_KEYTYPE_EC)
			return 0;
	}
	return 1;
}

TEST(pem_debian_bundle_loads)
{
	int fd = open(UT_DEBIAN_BUNDLE, O_RDONLY);

	if (!T_CHECK(fd >= 0)) {
		printf("    %s missing: apt-get install ca-certificates\n", UT_DEBIAN_BUNDLE);
		return;
	}
	close(fd);
	pem_ta_init(&ut_store);
	T_CHECK(pem_ta_load_file(&ut_store, UT_DEBIAN_BUNDLE) > 100);
	T_CHECK(ut_store.n > 100);
	T_EQ_STR(pem_ta_errmsg(&ut_store), "");
	T_EQ_INT(ut_store.certs_seen,
	         ut_store.n + ut_store.skipped_non_ca + ut_store.skipped_unsupported);
	T_CHECK(ut_anchors_in_pool(&ut_store));
	printf("    %zu anchors, %zu pool bytes of %d\n", ut_store.n, ut_store.pool_used,
	       PEM_TA_POOL_BYTES);
}

TEST(pem_one_ca_ec)
{
	const br_x509_pkey *k;

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, ut_file("ec.pem", UT_CA_EC, strlen(UT_CA_EC))), 1);
	T_REQUIRE(ut_store.n == 1);
	k = &ut_store.ta[0].pkey;
	T_EQ_INT(k->key_type, BR_KEYTYPE_EC);
	T_EQ_INT(k->key.ec.curve, BR_EC_secp256r1);
	T_EQ_INT(k->key.ec.qlen, 65);
	T_EQ_INT(k->key.ec.q[0], 0x04); /* uncompressed point */
	T_CHECK(ut_anchors_in_pool(&ut_store));
	/* The DN is the subject's DER (a SEQUENCE) and names the CA. */
	T_EQ_INT(ut_store.ta[0].dn.data[0], 0x30);
	T_CHECK(memmem(ut_store.ta[0].dn.data, ut_store.ta[0].dn.len, "fillrelay unit EC CA", 20) !=
	        NULL);
}

TEST(pem_one_ca_rsa)
{
	const br_x509_pkey *k;

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_RSA, strlen(UT_CA_RSA), "rsa"), 1);
	T_REQUIRE(ut_store.n == 1);
	k = &ut_store.ta[0].pkey;
	T_EQ_INT(k->key_type, BR_KEYTYPE_RSA);
	T_EQ_INT(k->key.rsa.nlen, 256);
	T_EQ_INT(k->key.rsa.elen, 3);
	T_CHECK(memcmp(k->key.rsa.e, "\x01\x00\x01", 3) == 0);
}

/* The result must not depend on how the input is cut (wslay's habit). */
TEST(pem_fed_byte_at_a_time_equals_whole)
{
	char text[4096];
	struct pem_ta_loader ld;
	int n =
	    snprintf(text, sizeof text, "junk before\n%s%s\r\n%s", UT_CA_EC, UT_LEAF, UT_CA_RSA);

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, text, (size_t)n, "whole"), 2);
	pem_ta_init(&ut_store2);
	T_EQ_INT(pem_ta_begin(&ld, &ut_store2, "bytes"), 0);
	for (int i = 0; i < n; i++)
		T_REQUIRE(pem_ta_feed(&ld, text + i, 1) == 0);
	T_EQ_INT(pem_ta_end(&ld), 2);
	T_EQ_INT(ut_store2.pool_used, ut_store.pool_used);
	T_CHECK(memcmp(ut_store.pool, ut_store2.pool, ut_store.pool_used) == 0);
	T_EQ_INT(ut_store2.skipped_non_ca, 1);
}

TEST(pem_crlf_and_no_final_newline)
{
	char text[4096];
	size_t o = 0;

	for (const char *p = UT_CA_EC; *p; p++) {
		if (*p == '\n')
			text[o++] = '\r';
		text[o++] = *p;
	}
	o -= 2; /* drop the last CR LF: "-----END CERTIFICATE-----" ends the file */
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, text, o, "crlf"), 1);
}

TEST(pem_skips_non_ca_other_objects_and_unsupported_keys)
{
	char text[8192];
	int n =
	    snprintf(text, sizeof text, "%s%s%s%s", UT_LEAF, UT_PUBKEY, UT_CA_ED25519, UT_CA_EC);

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, text, (size_t)n, "mixed"), 1);
	T_EQ_INT(ut_store.skipped_non_ca, 1);
	T_EQ_INT(ut_store.skipped_other, 1);
	T_EQ_INT(ut_store.skipped_unsupported, 1);
	T_EQ_INT(ut_store.certs_seen, 3);
	/* Skipped objects leave nothing in the pool: only the EC CA's DN and key. */
	T_EQ_INT(ut_store.pool_used, ut_store.ta[0].dn.len + 65);
}

TEST(pem_only_a_server_certificate_is_an_error)
{
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_LEAF, strlen(UT_LEAF), "leaf.pem"), FR_EINVAL);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "leaf.pem: no CA certificate found"));
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "1 without the CA flag"));
	T_EQ_INT(ut_store.n, 0);
}

TEST(pem_empty_file)
{
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, ut_file("empty.pem", "", 0)), FR_EINVAL);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "empty"));
}

TEST(pem_garbage_file)
{
	static const char junk[] = "this is not PEM\n\x01\x02\xff binary junk\n-----BEGIN";

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, ut_file("junk.pem", junk, sizeof junk)), FR_EINVAL);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "no CA certificate found (0 PEM objects"));
}

TEST(pem_truncated_mid_line)
{
	size_t cut = strlen(UT_CA_EC) / 2;

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, ut_file("cut.pem", UT_CA_EC, cut)), FR_EINVAL);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "truncated"));
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "object 1"));
}

TEST(pem_truncated_at_line_end)
{
	const char *end = strstr(UT_CA_EC, "-----END");

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_EC, (size_t)(end - UT_CA_EC), "t.pem"),
	         FR_EINVAL);
	T_CHECK(
	    ut_contains(pem_ta_errmsg(&ut_store), "t.pem: PEM object 1 (line 1) has no END line"));
}

TEST(pem_bad_base64)
{
	char text[4096];
	int n = snprintf(text, sizeof text, "%s", UT_CA_RSA);
	char *p = strstr(text, "BQAw");

	T_REQUIRE(p != NULL);
	p[1] = '!';
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, text, (size_t)n, "b64"), FR_EINVAL);
	T_CHECK(
	    ut_contains(pem_ta_errmsg(&ut_store),
	                "b64: invalid PEM encoding in object 1 (begins line 1, error at line 3)"));
}

TEST(pem_not_a_certificate_inside)
{
	static const char text[] = "-----BEGIN CERTIFICATE-----\n"
	                           "aGVsbG8sIHRoaXMgaXMgbm90IERFUgo=\n"
	                           "-----END CERTIFICATE-----\n";

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, text, strlen(text), "der"), FR_EINVAL);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "not a valid X.509 certificate"));
}

/* A failed load adds nothing, and the store stays in error until re-init. */
TEST(pem_failed_load_rolls_back_and_sticks)
{
	char text[4096];
	int n = snprintf(text, sizeof text, "%s%.300s", UT_CA_RSA, UT_CA_EC);

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_EC, strlen(UT_CA_EC), "a"), 1);
	size_t used = ut_store.pool_used;
	T_EQ_INT(pem_ta_load_buf(&ut_store, text, (size_t)n, "b"), FR_EINVAL);
	T_EQ_INT(ut_store.n, 1);
	T_EQ_INT(ut_store.pool_used, used);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_RSA, strlen(UT_CA_RSA), "c"), FR_EINVAL);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "b: "));
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_RSA, strlen(UT_CA_RSA), "c"), 1);
}

TEST(pem_table_exhaustion_names_the_limit)
{
	int rc = 0, loads = 0;

	/* The real limit: loading the system bundle again and again must end in
	 * FR_ENOMEM, not in a crash or a silent cut. */
	pem_ta_init(&ut_store);
	while (loads < 20 && (rc = pem_ta_load_file(&ut_store, UT_DEBIAN_BUNDLE)) > 0)
		loads++;
	T_EQ_INT(rc, FR_ENOMEM);
	T_CHECK(loads >= 1 && ut_store.n <= PEM_TA_MAX);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "trust anchor table full: PEM_TA_MAX"));
	/* A lowered limit (what the limit is for). */
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_set_limits(&ut_store, 1, PEM_TA_POOL_BYTES), 0);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_EC, strlen(UT_CA_EC), "x.pem"), 1);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_RSA, strlen(UT_CA_RSA), "y.pem"), FR_ENOMEM);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store),
	                    "y.pem: trust anchor table full: PEM_TA_MAX (1 anchors)"));
	T_EQ_INT(pem_ta_set_limits(&ut_store, PEM_TA_MAX + 1, 1), FR_EINVAL);
}

TEST(pem_pool_exhaustion_names_the_limit)
{
	/* DN fits, key does not; then a pool too small for the DN itself. */
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_set_limits(&ut_store, PEM_TA_MAX, 100), 0);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_RSA, strlen(UT_CA_RSA), "rsa.pem"), FR_ENOMEM);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store),
	                    "rsa.pem: trust anchor pool full: PEM_TA_POOL_BYTES (100 bytes)"));
	T_EQ_INT(ut_store.pool_used, 0);
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_set_limits(&ut_store, PEM_TA_MAX, 10), 0);
	T_EQ_INT(pem_ta_load_buf(&ut_store, UT_CA_EC, strlen(UT_CA_EC), "ec.pem"), FR_ENOMEM);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "PEM_TA_POOL_BYTES (10 bytes)"));
	/* The real pool holds the real bundle (with room to spare). */
	pem_ta_init(&ut_store);
	T_CHECK(pem_ta_load_file(&ut_store, UT_DEBIAN_BUNDLE) > 100);
	T_CHECK(ut_store.pool_used * 2 < PEM_TA_POOL_BYTES);
}

TEST(pem_file_errors)
{
	static char big[PEM_READ_CHUNK_BYTES];
	char path[512];
	int fd;

	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, "/nonexistent/ca.pem"), FR_EIO);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "cannot open /nonexistent/ca.pem"));
	memset(big, '#', sizeof big);
	snprintf(path, sizeof path, "%s/big.pem", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_REQUIRE(fd >= 0);
	for (unsigned i = 0; i <= PEM_FILE_MAX / sizeof big; i++)
		T_REQUIRE(write(fd, big, sizeof big) == (ssize_t)sizeof big);
	close(fd);
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, path), FR_ERANGE);
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "larger than PEM_FILE_MAX"));
	pem_ta_init(&ut_store);
	T_EQ_INT(pem_ta_load_file(&ut_store, t_tmpdir()), FR_EIO); /* a directory */
	T_CHECK(ut_contains(pem_ta_errmsg(&ut_store), "cannot read"));
}

TEST(tls_days_since_0ad_known_dates)
{
	/* Python: date(y, m, d).toordinal() + 365 (year 0 is a leap year). */
	T_EQ_INT(tls_days_from_civil(0, 1, 1), 0);
	T_EQ_INT(tls_days_from_civil(0, 12, 31), 365);
	T_EQ_INT(tls_days_from_civil(1, 1, 1), 366);
	T_EQ_INT(tls_days_from_civil(1600, 3, 1), 584448);
	T_EQ_INT(tls_days_from_civil(1900, 3, 1), 694020);
	T_EQ_INT(tls_days_from_civil(1970, 1, 1), TLS_DAYS_0AD_TO_UNIX);
	T_EQ_INT(tls_days_from_civil(2000, 3, 1), 730545);
	T_EQ_INT(tls_days_from_civil(2024, 2, 29), 739310);
	T_EQ_INT(tls_days_from_civil(2024, 3, 1), 739311);
	T_EQ_INT(tls_days_from_civil(9999, 12, 31), 3652424);
	T_EQ_INT(tls_days_from_civil(-1, 12, 31), -1);
}

TEST(tls_x509_time_from_unix_ms)
{
	uint32_t d = 1, s = 1;

	T_EQ_INT(tls_x509_time(0, &d, &s), 0);
	T_EQ_INT(d, 719528);
	T_EQ_INT(s, 0);
	/* 2023-11-14T22:13:20.999Z */
	T_EQ_INT(tls_x509_time(1700000000999LL, &d, &s), 0);
	T_EQ_INT(d, tls_days_from_civil(2023, 11, 14));
	T_EQ_INT(s, 22 * 3600 + 13 * 60 + 20);
	/* Before 1970 the division must floor: 1969-12-31T23:59:59.999Z. */
	T_EQ_INT(tls_x509_time(-1, &d, &s), 0);
	T_EQ_INT(d, 719527);
	T_EQ_INT(s, 86399);
	T_EQ_INT(tls_x509_time(-62167219200000LL, &d, &s), 0); /* 0000-01-01T00:00:00Z */
	T_EQ_INT(d, 0);
	T_EQ_INT(tls_x509_time(-62167219200001LL, &d, &s), FR_ERANGE);
	T_EQ_INT(tls_x509_time(INT64_MAX, &d, &s), FR_ERANGE);
}

static void ut_dn_ignore(void *ctx, const void *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
}

static void ut_der_to_decoder(void *ctx, const void *buf, size_t len)
{
	br_x509_decoder_push(ctx, buf, len);
}

/* Our epoch is BearSSL's: its own decoder's notBefore of UT_CA_EC
 * (2026-11-26 05:38:54 UTC) in days and seconds. */
TEST(tls_days_agree_with_bearssl_decoder)
{
	br_pem_decoder_context pc;
	br_x509_decoder_context dc;
	const char *p = UT_CA_EC;
	size_t left = strlen(UT_CA_EC);

	br_pem_decoder_init(&pc);
	br_x509_decoder_init(&dc, ut_dn_ignore, NULL);
	while (left > 0) {
		size_t used = br_pem_decoder_push(&pc, p, left);

		p += used;
		left -= used;
		if (br_pem_decoder_event(&pc) == BR_PEM_BEGIN_OBJ)
			br_pem_decoder_setdest(&pc, ut_der_to_decoder, &dc);
	}
	T_REQUIRE(br_x509_decoder_get_pkey(&dc) != NULL);
	T_EQ_INT(dc.notbefore_days, tls_days_from_civil(2026, 11, 26));
	T_EQ_INT(dc.notbefore_seconds, 5 * 3600 + 38 * 60 + 54);
	T_EQ_INT(dc.notafter_days, tls_days_from_civil(2126, 11, 2));
}

TEST(tls_error_text_names_reasons)
{
	static const int codes[] = {
	    BR_ERR_OK,
	    BR_ERR_BAD_PARAM,
	    BR_ERR_BAD_STATE,
	    BR_ERR_UNSUPPORTED_VERSION,
	    BR_ERR_BAD_VERSION,
	    BR_ERR_BAD_LENGTH,
	    BR_ERR_TOO_LARGE,
	    BR_ERR_BAD_MAC,
	    BR_ERR_NO_RANDOM,
	    BR_ERR_UNKNOWN_TYPE,
	    BR_ERR_UNEXPECTED,
	    BR_ERR_BAD_CCS,
	    BR_ERR_BAD_ALERT,
	    BR_ERR_BAD_HANDSHAKE,
	    BR_ERR_OVERSIZED_ID,
	    BR_ERR_BAD_CIPHER_SUITE,
	    BR_ERR_BAD_COMPRESSION,
	    BR_ERR_BAD_FRAGLEN,
	    BR_ERR_BAD_SECRENEG,
	    BR_ERR_EXTRA_EXTENSION,
	    BR_ERR_BAD_SNI,
	    BR_ERR_BAD_HELLO_DONE,
	    BR_ERR_LIMIT_EXCEEDED,
	    BR_ERR_BAD_FINISHED,
	    BR_ERR_RESUME_MISMATCH,
	    BR_ERR_INVALID_ALGORITHM,
	    BR_ERR_BAD_SIGNATURE,
	    BR_ERR_WRONG_KEY_USAGE,
	    BR_ERR_NO_CLIENT_AUTH,
	    BR_ERR_IO,
	    BR_ERR_X509_INVALID_VALUE,
	    BR_ERR_X509_TRUNCATED,
	    BR_ERR_X509_EMPTY_CHAIN,
	    BR_ERR_X509_INNER_TRUNC,
	    BR_ERR_X509_BAD_TAG_CLASS,
	    BR_ERR_X509_BAD_TAG_VALUE,
	    BR_ERR_X509_INDEFINITE_LENGTH,
	    BR_ERR_X509_EXTRA_ELEMENT,
	    BR_ERR_X509_UNEXPECTED,
	    BR_ERR_X509_NOT_CONSTRUCTED,
	    BR_ERR_X509_NOT_PRIMITIVE,
	    BR_ERR_X509_PARTIAL_BYTE,
	    BR_ERR_X509_BAD_BOOLEAN,
	    BR_ERR_X509_OVERFLOW,
	    BR_ERR_X509_BAD_DN,
	    BR_ERR_X509_BAD_TIME,
	    BR_ERR_X509_UNSUPPORTED,
	    BR_ERR_X509_LIMIT_EXCEEDED,
	    BR_ERR_X509_WRONG_KEY_TYPE,
	    BR_ERR_X509_BAD_SIGNATURE,
	    BR_ERR_X509_TIME_UNKNOWN,
	    BR_ERR_X509_EXPIRED,
	    BR_ERR_X509_DN_MISMATCH,
	    BR_ERR_X509_BAD_SERVER_NAME,
	    BR_ERR_X509_CRITICAL_EXTENSION,
	    BR_ERR_X509_NOT_CA,
	    BR_ERR_X509_FORBIDDEN_KEY_USAGE,
	    BR_ERR_X509_WEAK_PUBLIC_KEY,
	    BR_ERR_X509_NOT_TRUSTED,
	};
	int named = 0;

	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
		named += tls_error_name(codes[i]) != NULL &&
		         strcmp(tls_error_text(codes[i]), "unknown BearSSL error") != 0;
	T_EQ_INT(named, (int)(sizeof codes / sizeof *codes)); /* every documented code */
	T_CHECK(ut_contains(tls_error_text(BR_ERR_X509_NOT_TRUSTED), "not trusted"));
	T_CHECK(ut_contains(tls_error_text(BR_ERR_X509_EXPIRED), "expired"));
	T_CHECK(ut_contains(tls_error_text(BR_ERR_X509_BAD_SERVER_NAME), "server name"));
	T_EQ_STR(tls_error_name(BR_ERR_X509_EXPIRED), "BR_ERR_X509_EXPIRED");
	T_CHECK(ut_contains(tls_error_text(BR_ERR_RECV_FATAL_ALERT + 40), "server sent a fatal"));
	T_CHECK(ut_contains(tls_error_text(BR_ERR_SEND_FATAL_ALERT + 42), "fatal alert"));
	T_EQ_STR(tls_error_text(11), "unknown BearSSL error");
	T_CHECK(tls_error_name(-5) == NULL);
}

/*
 * A simulated world (loop_sys) for the engine: the client's writes are
 * captured, its reads served from a script, its clock chosen.
 */
struct ut_world {
	unsigned char out[16384];
	size_t out_len;
	const unsigned char *in;
	size_t in_len, in_pos;
	int eof_at_end;   /* reads past the script: 1 EOF, 0 EAGAIN */
	int write_errno;  /* != 0: every write fails with it */
	size_t write_max; /* bytes per write at most (0: no limit) */
	int64_t wall;
	int reads, writes;
};

static int64_t ut_mono(void *ctx)
{
	(void)ctx;
	return 0;
}

static int64_t ut_wall(void *ctx)
{
	return ((struct ut_world *)ctx)->wall;
}

static int ut_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	(void)ctx, (void)fds, (void)n, (void)timeout_ms;
	return 0;
}

static ssize_t ut_read(void *ctx, int fd, void *buf, size_t n)
{
	struct ut_world *w = ctx;
	size_t k = w->in_len - w->in_pos;

	(void)fd;
	w->reads++;
	if (k == 0) {
		if (w->eof_at_end)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if (k > n)
		k = n;
	memcpy(buf, w->in + w->in_pos, k);
	w->in_pos += k;
	return (ssize_t)k;
}

static ssize_t ut_write(void *ctx, int fd, const void *buf, size_t n)
{
	struct ut_world *w = ctx;

	(void)fd;
	w->writes++;
	if (w->write_errno) {
		errno = w->write_errno;
		return -1;
	}
	if (w->write_max && n > w->write_max)
		n = w->write_max;
	if (n > sizeof w->out - w->out_len) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(w->out + w->out_len, buf, n);
	w->out_len += n;
	return (ssize_t)n;
}

static int ut_close(void *ctx, int fd)
{
	(void)ctx, (void)fd;
	return 0;
}

static struct ut_world ut_w;
static const struct loop_sys ut_sys = {ut_mono,  ut_wall,  ut_poll, ut_read,
                                       ut_write, ut_close, &ut_w};

/* A fresh world at 2030-01-01 and a store holding UT_CA_EC. */
static void ut_world_reset(void)
{
	memset(&ut_w, 0, sizeof ut_w);
	ut_w.wall = 1893456000000LL;
	pem_ta_init(&ut_store);
	T_REQUIRE(pem_ta_load_buf(&ut_store, UT_CA_EC, strlen(UT_CA_EC), "ec") == 1);
}

/* Counts the TLS records of a content type in a client byte stream. */
static int ut_records_of_type(const unsigned char *p, size_t n, int type)
{
	int count = 0;

	for (size_t i = 0; i + 5 <= n; i += 5 + (size_t)(p[i + 3] << 8 | p[i + 4]))
		count += p[i] == type;
	return count;
}

TEST(tls_start_rejects_bad_arguments)
{
	char long_name[TLS_SERVER_NAME_MAX + 2];

	ut_world_reset();
	T_EQ_INT(tls_start(&ut_conn, 3, "", &ut_store, &ut_sys), FR_EINVAL);
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), "server name must be 1..255 bytes"));
	T_EQ_INT(tls_pump(&ut_conn), FR_EINVAL); /* sticky */
	T_EQ_INT(tls_want(&ut_conn), 0);
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = 0;
	T_EQ_INT(tls_start(&ut_conn, 3, long_name, &ut_store, &ut_sys), FR_EINVAL);
	long_name[TLS_SERVER_NAME_MAX] = 0; /* exactly the maximum is fine */
	T_EQ_INT(tls_start(&ut_conn, 3, long_name, &ut_store, &ut_sys), 0);
	pem_ta_init(&ut_store2);
	T_EQ_INT(tls_start(&ut_conn, 3, "localhost", &ut_store2, &ut_sys), FR_EINVAL);
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), "no trust anchor loaded"));
	/* A clock BearSSL would read as "use time(NULL)", or before 0 AD. */
	ut_w.wall = -62167219200000LL;
	T_EQ_INT(tls_start(&ut_conn, 3, "localhost", &ut_store, &ut_sys), FR_ERANGE);
	ut_w.wall = -62167219200001LL;
	T_EQ_INT(tls_start(&ut_conn, 3, "localhost", &ut_store, &ut_sys), FR_ERANGE);
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), "wall clock"));
}

TEST(tls_unstarted_conn_wants_nothing)
{
	static struct tls_conn zero;

	T_EQ_INT(tls_want(&zero), 0);
	T_EQ_INT(tls_pending(&zero), 0);
	T_EQ_INT(tls_handshake_done(&zero), 0);
	T_EQ_STR(tls_errmsg(&zero), "");
}

TEST(tls_client_hello_goes_out_through_sys_with_sni)
{
	unsigned char buf[16];
	size_t rec;

	ut_world_reset();
	T_EQ_INT(tls_start(&ut_conn, 7, "stream.example.com", &ut_store, &ut_sys), 0);
	T_CHECK(tls_want(&ut_conn) & POLLOUT); /* the ClientHello is queued */
	T_EQ_INT(ut_w.writes, 0);              /* but tls_start does no I/O */
	T_CHECK(tls_pump(&ut_conn) > 0);
	T_REQUIRE(ut_w.out_len > 50);
	rec = (size_t)(ut_w.out[3] << 8 | ut_w.out[4]);
	T_EQ_INT(ut_w.out[0], 22);                         /* handshake record */
	T_EQ_INT(ut_w.out[5], 1);                          /* ClientHello */
	T_EQ_INT(ut_w.out[9] << 8 | ut_w.out[10], 0x0303); /* offers TLS 1.2 */
	T_EQ_INT(ut_w.out_len, 5 + rec);
	T_CHECK(memmem(ut_w.out, ut_w.out_len, "stream.example.com", 18) != NULL);
	T_EQ_INT(tls_want(&ut_conn), POLLIN); /* now it waits for the ServerHello */
	T_EQ_INT(tls_pump(&ut_conn), FR_EAGAIN);
	T_EQ_INT(tls_write(&ut_conn, "secret", 6), FR_EAGAIN); /* nothing before the handshake */
	T_EQ_INT(tls_read(&ut_conn, buf, sizeof buf), FR_EAGAIN);
	T_EQ_INT(tls_flush(&ut_conn), 0);
	T_EQ_INT(ut_records_of_type(ut_w.out, ut_w.out_len, 23), 0);
	T_EQ_INT(tls_handshake_done(&ut_conn), 0);
}

TEST(tls_fragmented_writes_send_the_same_record)
{
	ut_world_reset();
	ut_w.write_max = 1;
	T_EQ_INT(tls_start(&ut_conn, 7, "localhost", &ut_store, &ut_sys), 0);
	T_CHECK(tls_pump(&ut_conn) > 0);
	T_REQUIRE(ut_w.out_len > 5);
	T_EQ_INT(ut_w.writes, (int)ut_w.out_len);
	T_EQ_INT(ut_w.out_len, 5 + (size_t)(ut_w.out[3] << 8 | ut_w.out[4]));
	T_EQ_INT(tls_want(&ut_conn), POLLIN);
}

TEST(tls_server_closing_during_handshake_is_sticky)
{
	unsigned char buf[8];

	ut_world_reset();
	ut_w.eof_at_end = 1;
	T_EQ_INT(tls_start(&ut_conn, 7, "localhost", &ut_store, &ut_sys), 0);
	T_EQ_INT(tls_pump(&ut_conn), FR_ECLOSED);
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), "handshake with localhost failed: the server "
	                                          "closed the connection"));
	T_EQ_INT(tls_want(&ut_conn), 0);
	T_EQ_INT(tls_read(&ut_conn, buf, sizeof buf), FR_ECLOSED);
	T_EQ_INT(tls_write(&ut_conn, "x", 1), FR_ECLOSED);
	T_EQ_INT(tls_pump(&ut_conn), FR_ECLOSED);
	T_EQ_INT(tls_close(&ut_conn), 0);
}

TEST(tls_server_fatal_alert_is_named)
{
	static const unsigned char alert[] = {21, 3, 3, 0, 2, 2, 40}; /* handshake_failure */

	ut_world_reset();
	ut_w.in = alert;
	ut_w.in_len = sizeof alert;
	T_EQ_INT(tls_start(&ut_conn, 7, "localhost", &ut_store, &ut_sys), 0);
	T_EQ_INT(tls_pump(&ut_conn), FR_EPROTO);
	T_EQ_INT(tls_br_err(&ut_conn), BR_ERR_RECV_FATAL_ALERT + 40);
	T_CHECK(
	    ut_contains(tls_errmsg(&ut_conn), "server sent a fatal alert: handshake_failure (40)"));
}

TEST(tls_non_tls_answer_fails_with_words)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

	ut_world_reset();
	ut_w.in = (const unsigned char *)http;
	ut_w.in_len = sizeof http - 1;
	T_EQ_INT(tls_start(&ut_conn, 7, "localhost", &ut_store, &ut_sys), 0);
	T_EQ_INT(tls_pump(&ut_conn), FR_EPROTO);
	T_CHECK(tls_br_err(&ut_conn) > 0);
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), "TLS handshake with localhost failed: "));
	T_CHECK(strstr(tls_errmsg(&ut_conn), "unknown BearSSL error") == NULL);
	printf("    %s\n", tls_errmsg(&ut_conn));
}

TEST(tls_socket_write_error_is_eio)
{
	ut_world_reset();
	ut_w.write_errno = ECONNRESET;
	T_EQ_INT(tls_start(&ut_conn, 7, "localhost", &ut_store, &ut_sys), 0);
	T_EQ_INT(tls_pump(&ut_conn), FR_EIO);
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), "write: "));
	T_CHECK(ut_contains(tls_errmsg(&ut_conn), strerror(ECONNRESET)));
	T_EQ_INT(tls_br_err(&ut_conn), 0);
}

TEST(tls_restart_on_the_same_struct)
{
	ut_world_reset();
	ut_w.write_errno = EPIPE;
	T_EQ_INT(tls_start(&ut_conn, 7, "localhost", &ut_store, &ut_sys), 0);
	T_EQ_INT(tls_pump(&ut_conn), FR_EIO);
	ut_w.write_errno = 0;
	T_EQ_INT(tls_start(&ut_conn, 8, "localhost", &ut_store, &ut_sys), 0);
	T_EQ_INT(tls_err(&ut_conn), 0);
	T_CHECK(tls_pump(&ut_conn) > 0);
	T_EQ_INT(ut_w.out[0], 22);
}
