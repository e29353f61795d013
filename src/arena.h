/*
 * arena.h -- the fixed memory arena and the process allocator built on it.
 *
 * fillrelay reserves all of its memory at start-up. An arena is a buddy
 * allocator over a caller-provided region: blocks are powers of two from
 * ARENA_BLOCK_MIN to 2^ARENA_TOP_ORDER_MAX bytes, each with a 16-byte header,
 * so every pointer handed out is 16-byte aligned, allocation and free are
 * O(log size), and fragmentation is bounded (a request wastes at most half
 * its block). Exhaustion is an ordinary outcome: the allocation returns NULL
 * and is counted; nothing aborts.
 *
 * In the product build (FR_ARENA_MALLOC defined) arena.c also defines the C
 * library's malloc family, which in a static musl link replaces musl's
 * allocator for the whole process: libpq and hiredis then allocate from the
 * arena too. Until arena_reserve() runs, those calls are served from a static
 * bootstrap arena of ARENA_BOOT_BYTES. In other builds (sanitizers, fuzzing)
 * the system allocator stays and only the arena API below exists.
 *
 * This module is the only one whose objects may reference malloc-family
 * symbols (tests/test_arena.c checks every other object file).
 * Single-threaded: no locking.
 */
#ifndef FR_ARENA_H
#define FR_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define ARENA_ALIGN 16
#define ARENA_HDR_BYTES 16
#define ARENA_ORDER_MIN 5             /* smallest block: 32 bytes */
#define ARENA_BLOCK_MIN (1u << ARENA_ORDER_MIN)
#define ARENA_TOP_ORDER_MAX 24        /* largest block: 16 MiB */
#define ARENA_ORDERS (ARENA_TOP_ORDER_MAX + 1)
#define ARENA_BOOT_BYTES (512u * 1024) /* serves allocations before arena_reserve */
#define ARENA_MIN_BYTES (1u << 20)
#define ARENA_MAX_BYTES (4096ull << 20)
#define ARENA_DEFAULT_BYTES (64u << 20)

_Static_assert(ARENA_HDR_BYTES % ARENA_ALIGN == 0, "payload alignment");
_Static_assert(ARENA_BLOCK_MIN >= ARENA_HDR_BYTES + 2 * sizeof(void *),
	       "a free block holds its header and list links");
_Static_assert((ARENA_BOOT_BYTES & (ARENA_BOOT_BYTES - 1)) == 0,
	       "the boot arena is one top block");

struct arena_stats {
	size_t size;            /* bytes usable for blocks */
	size_t in_use;          /* bytes in allocated blocks (headers included) */
	size_t high_water;      /* largest in_use ever seen */
	uint64_t allocs;        /* successful allocations (realloc counts once) */
	uint64_t frees;
	uint64_t failures;      /* requests refused: exhausted, too large, injected */
};

struct arena_free {
	struct arena_free *next, *prev;
};

struct arena {
	unsigned char *base;
	size_t size;                 /* a multiple of 2^top_order */
	int top_order;
	struct arena_free *free_list[ARENA_ORDERS];
	struct arena_stats st;
	int64_t fail_countdown;      /* fault injection: < 0 off, else fail when it hits 0 */
};

/*
 * Lays an arena over mem (ARENA_ALIGN-aligned, len >= ARENA_BLOCK_MIN). The
 * usable size is len rounded down to a multiple of the largest power of two
 * <= min(len, 2^ARENA_TOP_ORDER_MAX). Returns 0 or FR_EINVAL. The arena does
 * not own mem.
 */
int arena_init(struct arena *a, void *mem, size_t len);

/* NULL when n is 0 or the arena cannot serve it (counted in failures). */
void *arena_alloc(struct arena *a, size_t n);

/* p NULL or from this arena; a foreign or double-freed pointer stops the program. */
void arena_free(struct arena *a, void *p);

/* C realloc semantics; on failure p is untouched and NULL returned. */
void *arena_realloc(struct arena *a, void *p, size_t n);

/* align a power of two; the pointer is freed with arena_free. */
void *arena_aligned(struct arena *a, size_t align, size_t n);

/* Bytes usable at p (>= what was asked). */
size_t arena_usable(const struct arena *a, const void *p);

int arena_owns(const struct arena *a, const void *p);
void arena_get_stats(const struct arena *a, struct arena_stats *out);

/* Fault injection for tests: the n-th next allocation fails (n >= 1); 0 disables. */
void arena_fail_nth(struct arena *a, int64_t n);

/*
 * The process arena: maps bytes (clamped to [ARENA_MIN_BYTES, ARENA_MAX_BYTES]),
 * touches every page so the resident size does not creep later, and from then
 * on serves the process allocator (product build). Called once, from main,
 * after the configuration is parsed. Returns 0, FR_ENOMEM, or FR_EINVAL when
 * called twice.
 */
int arena_reserve(size_t bytes);

/* Makes the pages of [p, p + n) resident now, contents unchanged (one write
 * per page): for the static storage a long-running verb will use, touched at
 * start like the process arena, so that the resident size does not creep as
 * load first reaches the far ends of its tables (the bench's RSS growth). */
void arena_touch(void *p, size_t n);

/* Statistics of the process arena (zeroes before arena_reserve), and of the
 * bootstrap arena that served allocations before it. */
void arena_process_stats(struct arena_stats *main_st, struct arena_stats *boot_st);

/* Fault injection for tests: the n-th next allocation through the process
 * allocator fails (n >= 1; 0 disables). FR_EINVAL where the C library's
 * allocator was not replaced. */
int arena_process_fail_nth(int64_t n);

/* 1 when this build replaced the C library's allocator. */
int arena_is_process_allocator(void);

#endif
