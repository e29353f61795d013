/*
 * t.c -- the test runner: runs every registered TEST (or those whose name
 * contains one of the arguments) and ends with "N passed, N failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"

struct t_case {
	const char *name;
	const char *file;
	t_fn fn;
};

static struct t_case t_cases[T_TESTS_MAX];
static int t_ncases;
static int t_checks;   /* checks made by the current test */
static int t_failures; /* failed checks in the current test */
static jmp_buf t_jmp;
static char t_dir[256];

/* see t.h */
void t_register(const char *name, const char *file, t_fn fn)
{
	if (t_ncases == T_TESTS_MAX) {
		fprintf(stderr, "t: more than T_TESTS_MAX tests\n");
		abort();
	}
	t_cases[t_ncases++] = (struct t_case){ name, file, fn };
}

/* see t.h */
int t_check(int cond, const char *file, int line, const char *expr)
{
	t_checks++;
	if (!cond) {
		t_failures++;
		printf("    %s:%d: check failed: %s\n", file, line, expr);
	}
	return cond;
}

/* see t.h */
int t_check_int(long long got, long long want, const char *file, int line, const char *expr)
{
	if (got == want)
		return t_check(1, file, line, expr);
	t_check(0, file, line, expr);
	printf("      got %lld, want %lld\n", got, want);
	return 0;
}

/* see t.h */
int t_check_str(const char *got, const char *want, const char *file, int line,
                const char *expr)
{
	int ok = got && want ? strcmp(got, want) == 0 : got == want;

	t_check(ok, file, line, expr);
	if (!ok)
		printf("      got \"%s\", want \"%s\"\n", got ? got : "(null)",
		       want ? want : "(null)");
	return ok;
}

/* see t.h */
void t_abort_test(void)
{
	longjmp(t_jmp, 1);
}

/* see t.h */
char *t_read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) &&
	    fread(buf, 1, (size_t)len, f) == (size_t)len) {
		buf[len] = '\0';
		if (n)
			*n = (size_t)len;
	} else {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf;
}

/* see t.h */
const char *t_tmpdir(void)
{
	return t_dir;
}

static int t_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

static int t_run_one(const struct t_case *tc)
{
	t_checks = 0;
	t_failures = 0;
	fflush(stdout);
	if (setjmp(t_jmp) == 0)
		tc->fn();
	else
		printf("    (test stopped by T_REQUIRE)\n");
	if (t_checks == 0) {
		printf("    %s: the test made no check\n", tc->file);
		t_failures++;
	}
	printf("%s %s\n", t_failures ? "FAIL" : "ok  ", tc->name);
	return t_failures == 0;
}

static void t_rmdir(void)
{
	char cmd[300];

	if (t_dir[0] && !getenv("T_KEEP")) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "t: could not remove %s\n", t_dir);
	}
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *base = getenv("TMPDIR");

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(t_dir, sizeof t_dir, "%s/fr-test-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(t_dir)) {
		perror("t: mkdtemp");
		return 2;
	}
	atexit(t_rmdir);
	for (int i = 0; i < t_ncases; i++) {
		if (!t_selected(t_cases[i].name, argc, argv))
			continue;
		if (t_run_one(&t_cases[i]))
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
