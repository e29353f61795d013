/*
 * crc32c.c -- slicing-by-8: table k holds the CRC of a byte followed by k zero
 * bytes, so eight input bytes fold into the register with eight lookups and
 * one load instead of eight dependent steps. The aligned middle is read as
 * little-endian 64-bit words assembled byte by byte (no alignment or
 * endianness assumptions; compilers turn it into one load).
 */
#include "crc32c.h"

static uint32_t crc32c_tab[8][256];
static int crc32c_ready;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		crc32c_tab[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++) {
			uint32_t prev = crc32c_tab[t - 1][i];

			crc32c_tab[t][i] = (prev >> 8) ^ crc32c_tab[0][prev & 0xFFu];
		}
	crc32c_ready = 1;
}

static uint64_t crc32c_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* see crc32c.h */
uint32_t crc32c_update(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t c = ~crc;

	if (!crc32c_ready)
		crc32c_init();
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t w = crc32c_le64(b) ^ c;

		c = crc32c_tab[7][w & 0xFF] ^ crc32c_tab[6][(w >> 8) & 0xFF] ^
		    crc32c_tab[5][(w >> 16) & 0xFF] ^ crc32c_tab[4][(w >> 24) & 0xFF] ^
		    crc32c_tab[3][(w >> 32) & 0xFF] ^ crc32c_tab[2][(w >> 40) & 0xFF] ^
		    crc32c_tab[1][(w >> 48) & 0xFF] ^ crc32c_tab[0][w >> 56];
	}
	while (n--)
		c = (c >> 8) ^ crc32c_tab[0][(c ^ *b++) & 0xFF];
	return ~c;
}

/* see crc32c.h */
uint32_t crc32c(const void *p, size_t n)
{
	return crc32c_update(0, p, n);
}
