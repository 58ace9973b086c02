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
/* The value of a hex digit, either case; -1 for anything else. */
int	 util_hexval(int);
/* n bytes as lower-case hex into out, NUL-terminated, cut to fit. */
void	 util_hex(const uint8_t *, size_t n, char *out, size_t outsz);
/* "AB:CD:...", a certificate fingerprint as people compare them; out
 * needs 3 * n bytes. */
void	 util_fingerprint(const uint8_t *, size_t n, char *out, size_t outsz);
/* FNV-1a over n bytes, continuing from h (UTIL_FNV_BASIS to start). */
#define UTIL_FNV_BASIS 2166136261u
uint32_t util_fnv1a(uint32_t h, const void *, size_t n);

#endif
