/*
 * A minimal TAP-like harness for the unit tests: each CHECK prints
 * "ok N - what" or "not ok N - what"; unit_done() prints the totals and
 * gives main() its exit status. tests/check.sh counts the lines.
 */
#ifndef MITMD_UNIT_H
#define MITMD_UNIT_H

#include <stdio.h>

static int unit_n, unit_failed;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		unit_n++;                                                 \
		if (cond) {                                               \
			printf("ok %d - ", unit_n);                       \
		} else {                                                  \
			unit_failed++;                                    \
			printf("not ok %d - %s:%d: ", unit_n, __FILE__,   \
			    __LINE__);                                    \
		}                                                         \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
	} while (0)

static inline int
unit_done(void)
{
	printf("# passed %d failed %d\n", unit_n - unit_failed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
