/*
 * The harness of the unit tests: each check prints "ok N - what" or
 * "not ok N - what" (TAP), unit_done() prints "# passed P failed F" and
 * gives main() its exit status. tests/check.sh counts the lines.
 *   ok(cond, "name")             a plain name
 *   CHECK(cond, "fmt", args...)  a formatted name, and the file:line on
 *                                failure
 */
#ifndef MITMD_UNIT_H
#define MITMD_UNIT_H

#include <stdio.h>

static int t_n, t_fail;

static inline void
ok(int cond, const char *name)
{
	t_n++;
	if (!cond)
		t_fail++;
	printf("%sok %d - %s\n", cond ? "" : "not ", t_n, name);
	fflush(stdout); /* in order with a sanitizer's report on stderr */
}

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		t_n++;                                                    \
		if (cond) {                                               \
			printf("ok %d - ", t_n);                          \
		} else {                                                  \
			t_fail++;                                         \
			printf("not ok %d - %s:%d: ", t_n, __FILE__,      \
			    __LINE__);                                    \
		}                                                         \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
		fflush(stdout);                                           \
	} while (0)

static inline int
unit_done(void)
{
	printf("# passed %d failed %d\n", t_n - t_fail, t_fail);
	return t_fail ? 1 : 0;
}

#endif
