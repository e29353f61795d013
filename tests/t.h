/*
 * t.h -- the project's test framework.
 *
 * A test is a function declared with TEST(name); it registers itself at load time
 * (constructor) into a fixed table of T_TESTS_MAX entries. The runner (tests/t.c)
 * runs every test, or those whose name contains argv[1], and ends with exactly one
 * line "N passed, N failed". A test fails when any check fails, and also when it
 * made no check at all: a test that asserts nothing is a defect, not a pass.
 *
 * Checks never abort the test; each failing one prints FILE:LINE and what differed.
 * T_REQUIRE stops the current test at once (use it before dereferencing).
 */
#ifndef FR_T_H
#define FR_T_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define T_TESTS_MAX 1024

typedef void (*t_fn)(void);
void t_register(const char *name, const char *file, t_fn fn);

/* Each returns cond's truth; records one check. */
int t_check(int cond, const char *file, int line, const char *expr);
int t_check_int(long long got, long long want, const char *file, int line, const char *expr);
int t_check_str(const char *got, const char *want, const char *file, int line,
                const char *expr);
/* Stops the current test (longjmp back to the runner). */
void t_abort_test(void);
/* Reads a whole file into a new NUL-terminated heap buffer (tests may allocate;
 * the caller frees it); *n gets its length when n is not NULL. NULL on error. */
char *t_read_file(const char *path, size_t *n);

/* Scratch directory private to this run (created by the runner, removed at exit). */
const char *t_tmpdir(void);

#define TEST(name)                                                                 \
	static void t_test_##name(void);                                           \
	__attribute__((constructor)) static void t_reg_##name(void)                \
	{                                                                          \
		t_register(#name, __FILE__, t_test_##name);                        \
	}                                                                          \
	static void t_test_##name(void)

#define T_CHECK(c) t_check(!!(c), __FILE__, __LINE__, #c)
#define T_EQ_INT(got, want) t_check_int((long long)(got), (long long)(want), __FILE__, \
                                        __LINE__, #got " == " #want)
#define T_EQ_STR(got, want) t_check_str((got), (want), __FILE__, __LINE__, \
                                        #got " == " #want)
#define T_REQUIRE(c)                                                               \
	do {                                                                       \
		if (!t_check(!!(c), __FILE__, __LINE__, #c))                        \
			t_abort_test();                                            \
	} while (0)

#endif
