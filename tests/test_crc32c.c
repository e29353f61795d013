/* Tests of crc32c: the standard check value, published vectors, and the
 * incremental API agreeing with the one-shot one at every split point and
 * alignment (slicing-by-8 has separate paths for 8-byte blocks and the tail). */
#include <string.h>

#include "crc32c.h"
#include "t.h"

/* A plain bitwise CRC-32C: the definition the fast one must match. */
static uint32_t ref_crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
	}
	return ~c;
}

TEST(crc32c_check_value)
{
	T_EQ_INT(crc32c("123456789", 9), CRC32C_CHECK);
	T_EQ_INT(crc32c("123456789", 9), 0xE3069283u);
	T_EQ_INT(crc32c(NULL, 0), 0);
	T_EQ_INT(crc32c_update(0, NULL, 0), 0);
}

/* RFC 3720 appendix B.4 test vectors. */
TEST(crc32c_rfc3720_vectors)
{
	unsigned char buf[48];

	memset(buf, 0, 32);
	T_EQ_INT(crc32c(buf, 32), 0x8A9136AAu);
	memset(buf, 0xFF, 32);
	T_EQ_INT(crc32c(buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	T_EQ_INT(crc32c(buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)(31 - i);
	T_EQ_INT(crc32c(buf, 32), 0x113FDB5Cu);
	static const unsigned char iscsi_read[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	T_EQ_INT(crc32c(iscsi_read, sizeof iscsi_read), 0xD9963A56u);
}

TEST(crc32c_matches_bitwise_reference_every_length_and_alignment)
{
	static unsigned char buf[300];
	uint32_t x = 12345;
	int bad = 0;

	for (size_t i = 0; i < sizeof buf; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= sizeof buf; n++)
			bad += crc32c(buf + off, n) != ref_crc32c(buf + off, n);
	T_EQ_INT(bad, 0);
}

TEST(crc32c_incremental_equals_one_shot_at_every_split)
{
	static const char text[] = "{\"execId\":\"e-1\",\"symbol\":\"BTCUSDT\",\"execQty\":\"0.01\"}";
	const size_t n = sizeof text - 1;
	uint32_t whole = crc32c(text, n);
	int bad = 0;

	for (size_t a = 0; a <= n; a++)
		for (size_t b = a; b <= n; b++) {
			uint32_t c = crc32c_update(0, text, a);

			c = crc32c_update(c, text + a, b - a);
			c = crc32c_update(c, text + b, n - b);
			bad += c != whole;
		}
	T_EQ_INT(bad, 0);
	/* Byte at a time, the way a reader fed a fragmenting stream would. */
	uint32_t c = 0;
	for (size_t i = 0; i < n; i++)
		c = crc32c_update(c, text + i, 1);
	T_EQ_INT(c, whole);
}
