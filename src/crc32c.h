/*
 * crc32c.h -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every journal record.
 *
 * Parameters as in RFC 3720 (iSCSI) and ext4/btrfs/LevelDB: initial value
 * 0xFFFFFFFF, reflected input and output, final XOR 0xFFFFFFFF. Check value:
 * crc32c("123456789", 9) == 0xE3069283 (CRC32C_CHECK).
 *
 * Incremental use: start from 0 and feed the pieces in order,
 *     uint32_t c = 0;
 *     c = crc32c_update(c, a, na);
 *     c = crc32c_update(c, b, nb);   // == crc32c(a || b)
 * the pre- and post-inversion happen inside each call, so a running value is
 * always a finished CRC of the bytes so far.
 *
 * Table-driven, slicing-by-8 (eight 256-entry tables, 8 KiB of static data
 * built on the first call). No CPU intrinsics. Single-threaded: the first call
 * builds the tables without locking (fillrelay has one thread; call crc32c
 * once at start-up if that ever changes). Allocates nothing.
 */
#ifndef FR_CRC32C_H
#define FR_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define CRC32C_POLY 0x82F63B78u  /* reflected 0x1EDC6F41 */
#define CRC32C_CHECK 0xE3069283u /* crc32c("123456789") */

/* The CRC of the n bytes at p (p may be NULL when n is 0). */
uint32_t crc32c(const void *p, size_t n);

/* The CRC of (the bytes that gave crc) followed by the n bytes at p. */
uint32_t crc32c_update(uint32_t crc, const void *p, size_t n);

#endif
