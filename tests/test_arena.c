/* Tests of the arena: the buddy allocator, exhaustion, high-water mark, the
 * process allocator, and the rule that no other module references malloc. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "t.h"

static _Alignas(16) unsigned char mem[1 << 16];

TEST(arena_init_rejects_bad_regions)
{
	struct arena a;

	T_EQ_INT(arena_init(&a, NULL, sizeof mem), FR_EINVAL);
	T_EQ_INT(arena_init(&a, mem + 1, 4096), FR_EINVAL);
	T_EQ_INT(arena_init(&a, mem, 8), FR_EINVAL);
	T_EQ_INT(arena_init(&a, mem, 3 * 4096), 0);
	T_EQ_INT(a.size, 8192); /* rounded down to whole top blocks of 8 KiB */
}

/* Regions over 2^ARENA_TOP_ORDER_MAX are several independent top blocks. */
TEST(arena_large_region_has_several_top_blocks)
{
	static _Alignas(16) unsigned char big[(3u << ARENA_TOP_ORDER_MAX) + 4096];
	const size_t top = (size_t)1 << ARENA_TOP_ORDER_MAX;
	struct arena a;
	void *p[3];

	T_REQUIRE(arena_init(&a, big, sizeof big) == 0);
	T_EQ_INT(a.size, 3 * top);
	T_CHECK(arena_alloc(&a, top) == NULL); /* no block holds a header more */
	for (int i = 0; i < 3; i++) {
		p[i] = arena_alloc(&a, top - ARENA_HDR_BYTES);
		T_CHECK(p[i] == big + (size_t)i * top + ARENA_HDR_BYTES);
	}
	T_CHECK(arena_alloc(&a, 1) == NULL);
	for (int i = 0; i < 3; i++)
		arena_free(&a, p[i]);
	T_EQ_INT(a.st.in_use, 0);
}

TEST(arena_alloc_aligned_distinct_and_writable)
{
	struct arena a;
	unsigned char *p[64];

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	for (int i = 0; i < 64; i++) {
		p[i] = arena_alloc(&a, (size_t)i * 7 + 1);
		T_REQUIRE(p[i] != NULL);
		T_CHECK((uintptr_t)p[i] % ARENA_ALIGN == 0);
		T_CHECK(arena_usable(&a, p[i]) >= (size_t)i * 7 + 1);
		memset(p[i], i, (size_t)i * 7 + 1);
	}
	for (int i = 0; i < 64; i++)
		for (size_t j = 0; j < (size_t)i * 7 + 1; j++)
			if (p[i][j] != i)
				T_CHECK(!"allocations overlap");
	for (int i = 0; i < 64; i++)
		arena_free(&a, p[i]);
	T_EQ_INT(a.st.in_use, 0);
	T_EQ_INT(a.st.allocs, 64);
	T_EQ_INT(a.st.frees, 64);
}

TEST(arena_exhaustion_is_a_null_not_a_crash)
{
	struct arena a;
	void *p, *q;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	T_CHECK(arena_alloc(&a, sizeof mem) == NULL); /* larger than the arena */
	p = arena_alloc(&a, sizeof mem - ARENA_HDR_BYTES); /* exactly the arena */
	T_REQUIRE(p != NULL);
	T_CHECK(arena_alloc(&a, 1) == NULL);
	T_EQ_INT(a.st.failures, 2);
	arena_free(&a, p);
	/* Everything coalesced back: the whole arena is available again. */
	q = arena_alloc(&a, sizeof mem - ARENA_HDR_BYTES);
	T_CHECK(q == p);
	arena_free(&a, q);
}

TEST(arena_fills_up_and_recovers_after_frees)
{
	struct arena a;
	void *p[4096];
	int n = 0;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	while (n < 4096 && (p[n] = arena_alloc(&a, 100)) != NULL)
		n++;
	T_EQ_INT(n, (int)(sizeof mem / 128)); /* 100 + header fits a 128-byte block */
	T_EQ_INT(a.st.in_use, sizeof mem);
	for (int i = 0; i < n; i += 2)
		arena_free(&a, p[i]);
	T_CHECK(arena_alloc(&a, 200) == NULL); /* freed halves are not adjacent buddies */
	for (int i = 1; i < n; i += 2)
		arena_free(&a, p[i]);
	T_EQ_INT(a.st.in_use, 0);
	T_CHECK(arena_alloc(&a, 200) != NULL);
}

TEST(arena_high_water_mark)
{
	struct arena a;
	void *p, *q;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	p = arena_alloc(&a, 1000); /* 1024-byte block */
	q = arena_alloc(&a, 3000); /* 4096-byte block */
	T_EQ_INT(a.st.high_water, 1024 + 4096);
	arena_free(&a, q);
	arena_free(&a, p);
	T_EQ_INT(a.st.in_use, 0);
	T_EQ_INT(a.st.high_water, 1024 + 4096);
	/* A steady workload does not raise the mark. */
	for (int i = 0; i < 10000; i++) {
		p = arena_alloc(&a, 1000);
		q = arena_alloc(&a, 3000);
		arena_free(&a, p);
		arena_free(&a, q);
	}
	T_EQ_INT(a.st.high_water, 1024 + 4096);
}

TEST(arena_realloc_keeps_contents)
{
	struct arena a;
	char *p;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	p = arena_alloc(&a, 10);
	T_REQUIRE(p != NULL);
	memcpy(p, "fillrelay", 10);
	p = arena_realloc(&a, p, 5000);
	T_REQUIRE(p != NULL);
	T_EQ_STR(p, "fillrelay");
	T_CHECK(arena_realloc(&a, p, sizeof mem) == NULL); /* p untouched on failure */
	T_EQ_STR(p, "fillrelay");
	p = arena_realloc(&a, p, 16);
	T_EQ_STR(p, "fillrelay");
	arena_free(&a, p);
	T_EQ_INT(a.st.in_use, 0);
}

TEST(arena_aligned_allocations)
{
	struct arena a;
	void *p;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	p = arena_aligned(&a, 256, 100);
	T_REQUIRE(p != NULL);
	T_CHECK((uintptr_t)p % 256 == 0);
	T_CHECK(arena_usable(&a, p) >= 100);
	arena_free(&a, p);
	T_EQ_INT(a.st.in_use, 0);
	T_CHECK(arena_aligned(&a, 3, 10) == NULL);
}

TEST(arena_injected_failure_hits_the_nth_allocation)
{
	struct arena a;
	void *p1, *p2, *p3;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	arena_fail_nth(&a, 2);
	p1 = arena_alloc(&a, 10);
	p2 = arena_alloc(&a, 10);
	p3 = arena_alloc(&a, 10);
	T_CHECK(p1 != NULL);
	T_CHECK(p2 == NULL);
	T_CHECK(p3 != NULL);
	T_EQ_INT(a.st.failures, 1);
	arena_free(&a, p1);
	arena_free(&a, p3);
}

/* A random workload checked against a shadow copy of every live block. */
TEST(arena_random_workload_never_overlaps)
{
	struct arena a;
	struct { unsigned char *p; size_t n; unsigned char v; } live[256] = { { 0 } };
	unsigned long long x = 88172645463325252ull;
	int bad = 0;

	T_REQUIRE(arena_init(&a, mem, sizeof mem) == 0);
	for (int step = 0; step < 200000; step++) {
		int i;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = (int)(x % 256);
		if (live[i].p) {
			for (size_t j = 0; j < live[i].n; j++)
				bad += live[i].p[j] != live[i].v;
			arena_free(&a, live[i].p);
			live[i].p = NULL;
		} else {
			live[i].n = (size_t)(x >> 20) % 700 + 1;
			live[i].v = (unsigned char)step;
			live[i].p = arena_alloc(&a, live[i].n);
			if (live[i].p)
				memset(live[i].p, live[i].v, live[i].n);
		}
	}
	T_EQ_INT(bad, 0);
	for (int i = 0; i < 256; i++)
		arena_free(&a, live[i].p);
	T_EQ_INT(a.st.in_use, 0);
}

TEST(arena_process_allocator)
{
	volatile size_t huge = (size_t)-1 / 2; /* hidden from the compiler's size checks */
	struct arena_stats m, b;
	char *p;

	arena_process_stats(&m, &b);
	if (!arena_is_process_allocator()) {
		/* Sanitizer build: the system allocator stays; the arena API still works. */
		T_EQ_INT(b.allocs, 0);
		return;
	}
	/* The runner's own start-up (stdio, mkdtemp) came from the boot arena. */
	T_CHECK(m.size == 0 || m.allocs > 0);
	p = malloc(100);
	T_REQUIRE(p != NULL);
	strcpy(p, "x");
	p = realloc(p, 100000);
	T_REQUIRE(p != NULL);
	T_EQ_STR(p, "x");
	free(p);
	T_CHECK(malloc(huge) == NULL); /* refused, not a crash */
	/* calloc once recursed into itself (gcc folded malloc+memset into calloc). */
	p = calloc(100, 10);
	T_REQUIRE(p != NULL);
	T_CHECK(p[0] == 0 && p[999] == 0);
	free(p);
	T_CHECK(calloc(huge, 4) == NULL);
}

#ifndef FR_OBJ_DIR
#define FR_OBJ_DIR "build/x86_64/obj"
#endif
#ifndef FR_TEST_OBJ_DIR
#define FR_TEST_OBJ_DIR "build/x86_64/tobj"
#endif
#ifndef FR_NM
#define FR_NM "nm"
#endif

/* Counts references to allocating functions in the objects matching glob,
 * except arena.o; *objects gets how many object files nm read. */
static int arena_scan_objects(const char *glob, int *objects, int verbose)
{
	static const char *banned[] = {
		"malloc", "calloc", "realloc", "free", "reallocarray", "strdup", "strndup",
		"aligned_alloc", "posix_memalign", "memalign", "valloc", "getline", "getdelim",
		"asprintf", "vasprintf", "open_memstream", "fopen", "fdopen", "freopen",
		"popen", "opendir", "fdopendir", "scandir", "tmpfile", "getaddrinfo",
	};
	char cmd[512], line[512];
	int offenders = 0;
	FILE *f;

	*objects = 0;
	snprintf(cmd, sizeof cmd, "for o in %s; do %s -A -u \"$o\" || echo FAILED; "
		 "echo \"$o: END\"; done 2>&1", glob, FR_NM);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char *sym = strrchr(line, ' ');

		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, "FAILED") == 0)
			offenders = -1000000;
		*objects += strstr(line, ": END") != NULL;
		if (!sym || strstr(line, "/arena.o:"))
			continue;
		for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
			if (strcmp(sym + 1, banned[i]) == 0) {
				if (verbose)
					printf("    %s (allocates)\n", line);
				offenders++;
			}
	}
	if (pclose(f) != 0)
		return -1;
	return offenders;
}

/*
 * fillrelay's code allocates nothing after start-up: only arena.o may reference
 * the malloc family, or library calls that allocate behind the caller's back.
 */
TEST(arena_only_arena_object_references_malloc)
{
	int objects = 0;

	T_EQ_INT(arena_scan_objects(FR_OBJ_DIR "/*.o", &objects, 1), 0);
	T_CHECK(objects >= 4); /* an empty directory proves nothing */
	/* The scanner sees a reference where there is one: this test file uses
	 * malloc, free and popen itself. */
	T_CHECK(arena_scan_objects(FR_TEST_OBJ_DIR "/test_arena.o", &objects, 0) >= 3);
	T_EQ_INT(objects, 1);
}
