/*
 * arena.c -- buddy allocator over a fixed region, and (product build) the
 * process's malloc family on top of it.
 */
#define _DEFAULT_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"
#include "err.h"

#define ARENA_MAGIC_USED 0xa110c8edu
#define ARENA_MAGIC_FREE 0xf4eeb10cu
#define ARENA_MAGIC_ALIGNED 0xa119e0ffu

/* Lives in the first ARENA_HDR_BYTES of every block (and before an aligned pointer). */
struct arena_hdr {
	uint32_t magic;
	uint32_t order;
	uint64_t offset;  /* aligned headers: distance back to the block's payload */
};

_Static_assert(sizeof(struct arena_hdr) == ARENA_HDR_BYTES, "header size");

static int arena_floor_log2(size_t n)
{
	int k = 0;

	while ((size_t)1 << (k + 1) <= n && k + 1 < (int)(8 * sizeof n))
		k++;
	return k;
}

static struct arena_hdr *arena_hdr_of(unsigned char *block)
{
	return (struct arena_hdr *)(void *)block;
}

static struct arena_free *arena_links_of(unsigned char *block)
{
	return (struct arena_free *)(void *)(block + ARENA_HDR_BYTES);
}

static void arena_list_push(struct arena *a, unsigned char *block, int order)
{
	struct arena_free *f = arena_links_of(block);

	*arena_hdr_of(block) = (struct arena_hdr){ ARENA_MAGIC_FREE, (uint32_t)order, 0 };
	f->prev = NULL;
	f->next = a->free_list[order];
	if (f->next)
		f->next->prev = f;
	a->free_list[order] = f;
}

static void arena_list_remove(struct arena *a, unsigned char *block, int order)
{
	struct arena_free *f = arena_links_of(block);

	if (f->prev)
		f->prev->next = f->next;
	else
		a->free_list[order] = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

static unsigned char *arena_block_of_links(struct arena_free *f)
{
	return (unsigned char *)f - ARENA_HDR_BYTES;
}

/* see arena.h */
int arena_init(struct arena *a, void *mem, size_t len)
{
	size_t top;

	if (!mem || len < ARENA_BLOCK_MIN || (uintptr_t)mem % ARENA_ALIGN)
		return FR_EINVAL;
	memset(a, 0, sizeof *a);
	a->fail_countdown = -1;
	a->top_order = arena_floor_log2(len);
	if (a->top_order > ARENA_TOP_ORDER_MAX)
		a->top_order = ARENA_TOP_ORDER_MAX;
	top = (size_t)1 << a->top_order;
	a->base = mem;
	a->size = len / top * top;
	a->st.size = a->size;
	/* Push in reverse so the lowest addresses are handed out first. */
	for (size_t off = a->size; off > 0; off -= top)
		arena_list_push(a, a->base + off - top, a->top_order);
	return 0;
}

static int arena_order_for(const struct arena *a, size_t n)
{
	int order = ARENA_ORDER_MIN;

	if (n > ((size_t)1 << a->top_order) - ARENA_HDR_BYTES)
		return -1;
	while (((size_t)1 << order) - ARENA_HDR_BYTES < n)
		order++;
	return order;
}

static int arena_refuse(struct arena *a)
{
	a->st.failures++;
	return 0;
}

static int arena_injected_failure(struct arena *a)
{
	if (a->fail_countdown < 0)
		return 0;
	if (--a->fail_countdown > 0)
		return 0;
	a->fail_countdown = -1;
	return 1;
}

/* see arena.h */
void *arena_alloc(struct arena *a, size_t n)
{
	int order = arena_order_for(a, n ? n : 1), k;
	unsigned char *block;

	if (order < 0 || arena_injected_failure(a))
		return arena_refuse(a), NULL;
	for (k = order; k <= a->top_order && !a->free_list[k]; k++)
		;
	if (k > a->top_order)
		return arena_refuse(a), NULL;
	block = arena_block_of_links(a->free_list[k]);
	assert(arena_hdr_of(block)->magic == ARENA_MAGIC_FREE);
	arena_list_remove(a, block, k);
	while (k > order) {
		k--;
		arena_list_push(a, block + ((size_t)1 << k), k);
	}
	*arena_hdr_of(block) = (struct arena_hdr){ ARENA_MAGIC_USED, (uint32_t)order, 0 };
	a->st.allocs++;
	a->st.in_use += (size_t)1 << order;
	if (a->st.in_use > a->st.high_water)
		a->st.high_water = a->st.in_use;
	return block + ARENA_HDR_BYTES;
}

/* see arena.h */
int arena_owns(const struct arena *a, const void *p)
{
	const unsigned char *c = p;

	return a->base && c >= a->base + ARENA_HDR_BYTES && c < a->base + a->size;
}

/* The block header of an allocated pointer, following an aligned back-reference. */
static unsigned char *arena_block_of(const struct arena *a, const void *p)
{
	unsigned char *c = (unsigned char *)p - ARENA_HDR_BYTES;
	struct arena_hdr *h = arena_hdr_of(c);

	if (!arena_owns(a, p) || (uintptr_t)p % ARENA_ALIGN)
		abort();
	if (h->magic == ARENA_MAGIC_ALIGNED) {
		c -= h->offset;
		h = arena_hdr_of(c);
	}
	if (h->magic != ARENA_MAGIC_USED || h->order > (uint32_t)a->top_order)
		abort(); /* double free or a pointer this arena never gave out */
	return c;
}

/* see arena.h */
void arena_free(struct arena *a, void *p)
{
	unsigned char *block, *top_start, *buddy;
	int k;

	if (!p)
		return;
	block = arena_block_of(a, p);
	k = (int)arena_hdr_of(block)->order;
	a->st.frees++;
	a->st.in_use -= (size_t)1 << k;
	top_start = a->base + (size_t)(block - a->base) / ((size_t)1 << a->top_order) *
				      ((size_t)1 << a->top_order);
	while (k < a->top_order) {
		buddy = top_start + ((size_t)(block - top_start) ^ ((size_t)1 << k));
		if (arena_hdr_of(buddy)->magic != ARENA_MAGIC_FREE ||
		    arena_hdr_of(buddy)->order != (uint32_t)k)
			break;
		arena_list_remove(a, buddy, k);
		if (buddy < block)
			block = buddy;
		k++;
	}
	arena_list_push(a, block, k);
}

/* see arena.h */
size_t arena_usable(const struct arena *a, const void *p)
{
	unsigned char *block = arena_block_of(a, p);
	size_t end = (size_t)1 << arena_hdr_of(block)->order;

	return end - (size_t)((const unsigned char *)p - block);
}

/* see arena.h */
void *arena_realloc(struct arena *a, void *p, size_t n)
{
	size_t have;
	void *q;

	if (!p)
		return arena_alloc(a, n);
	have = arena_usable(a, p);
	if (n <= have && n >= have / 4)
		return p; /* fits, and shrinking would not free a useful amount */
	q = arena_alloc(a, n);
	if (!q)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	arena_free(a, p);
	return q;
}

/* see arena.h */
void *arena_aligned(struct arena *a, size_t align, size_t n)
{
	unsigned char *p, *q;

	if (align == 0 || (align & (align - 1)))
		return arena_refuse(a), NULL;
	if (align <= ARENA_ALIGN)
		return arena_alloc(a, n);
	if (n > SIZE_MAX - align - ARENA_HDR_BYTES)
		return arena_refuse(a), NULL;
	p = arena_alloc(a, n + align + ARENA_HDR_BYTES);
	if (!p)
		return NULL;
	q = (unsigned char *)(((uintptr_t)p + ARENA_HDR_BYTES + align - 1) & ~(uintptr_t)(align - 1));
	*arena_hdr_of(q - ARENA_HDR_BYTES) =
		(struct arena_hdr){ ARENA_MAGIC_ALIGNED, 0, (uint64_t)(q - p) };
	return q;
}

/* see arena.h */
void arena_get_stats(const struct arena *a, struct arena_stats *out)
{
	*out = a->st;
}

/* see arena.h */
void arena_fail_nth(struct arena *a, int64_t n)
{
	a->fail_countdown = n > 0 ? n : -1;
}

/* ---- the process arena ---- */

static struct arena arena_main;
static struct arena arena_boot;

/* see arena.h */
int arena_reserve(size_t bytes)
{
	unsigned char *mem;
	long page = 4096;

	if (arena_main.base)
		return FR_EINVAL;
	if (bytes < ARENA_MIN_BYTES)
		bytes = ARENA_MIN_BYTES;
	if (bytes > ARENA_MAX_BYTES)
		bytes = ARENA_MAX_BYTES;
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return FR_ENOMEM;
	/* Touch every page now: the resident size is paid at start, not creeping later. */
	for (size_t off = 0; off < bytes; off += (size_t)page)
		((volatile unsigned char *)mem)[off] = 0;
	return arena_init(&arena_main, mem, bytes);
}

/* see arena.h */
void arena_touch(void *p, size_t n)
{
	volatile unsigned char *b = p;

	if (n == 0)
		return;
	for (size_t off = 0; off < n; off += 4096)
		b[off] = b[off];
	b[n - 1] = b[n - 1];
}

/* see arena.h */
void arena_process_stats(struct arena_stats *main_st, struct arena_stats *boot_st)
{
	arena_get_stats(&arena_main, main_st);
	arena_get_stats(&arena_boot, boot_st);
}

#ifdef FR_ARENA_MALLOC

static _Alignas(4096) unsigned char arena_boot_mem[ARENA_BOOT_BYTES];

/* The arena new allocations come from: the boot arena until arena_reserve. */
static struct arena *arena_current(void)
{
	if (arena_main.base)
		return &arena_main;
	if (!arena_boot.base)
		arena_init(&arena_boot, arena_boot_mem, sizeof arena_boot_mem);
	return &arena_boot;
}

/* see arena.h */
int arena_is_process_allocator(void)
{
	return 1;
}

/* see arena.h */
int arena_process_fail_nth(int64_t n)
{
	arena_fail_nth(arena_current(), n);
	return 0;
}

static struct arena *arena_of(void *p)
{
	if (arena_owns(&arena_main, p))
		return &arena_main;
	if (arena_owns(&arena_boot, p))
		return &arena_boot;
	abort(); /* not ours: the C library's allocator was not fully replaced */
}

static void *arena_enomem(void *p)
{
	if (!p)
		errno = ENOMEM;
	return p;
}

void *malloc(size_t n)
{
	return arena_enomem(arena_alloc(arena_current(), n));
}

void free(void *p)
{
	if (p)
		arena_free(arena_of(p), p);
}

void *calloc(size_t m, size_t n)
{
	void *p;

	if (n && m > SIZE_MAX / n)
		return arena_enomem(NULL);
	/* Not malloc + memset: gcc folds that pair into a call to calloc, which
	 * here would be this very function recursing until the stack ends. */
	p = arena_alloc(arena_current(), m * n);
	if (p)
		memset(p, 0, m * n);
	return arena_enomem(p);
}

void *realloc(void *p, size_t n)
{
	struct arena *from, *to = arena_current();
	void *q;
	size_t have;

	if (!p)
		return malloc(n);
	from = arena_of(p);
	if (from == to)
		return arena_enomem(arena_realloc(to, p, n));
	/* A bootstrap allocation grows into the main arena. */
	q = arena_alloc(to, n);
	if (!q)
		return arena_enomem(NULL);
	have = arena_usable(from, p);
	memcpy(q, p, n < have ? n : have);
	arena_free(from, p);
	return q;
}

void *aligned_alloc(size_t align, size_t n)
{
	void *p = arena_aligned(arena_current(), align, n);

	if (!p)
		errno = align && !(align & (align - 1)) ? ENOMEM : EINVAL;
	return p;
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = arena_aligned(arena_current(), align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *memalign(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

size_t malloc_usable_size(void *p)
{
	return p ? arena_usable(arena_of(p), p) : 0;
}

#else

/* see arena.h */
int arena_is_process_allocator(void)
{
	return 0;
}

/* see arena.h */
int arena_process_fail_nth(int64_t n)
{
	(void)n;
	return FR_EINVAL;
}

#endif
