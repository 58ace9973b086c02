/*
 * Small helpers every process uses: array sizes, safe string copy, time.
 */
#ifndef MITMD_UTIL_H
#define MITMD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/* strlcpy semantics: always NUL-terminates, returns strlen(src). */
size_t	 util_strlcpy(char *, const char *, size_t);
/* Monotonic clock in microseconds. */
uint64_t util_now_usec(void);
/* Wall clock in microseconds since the epoch. */
uint64_t util_wall_usec(void);
/* Set O_NONBLOCK and FD_CLOEXEC; -1 on error. */
int	 util_nonblock(int);

#endif
