/*
 * Small helpers shared by every process.
 */
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

size_t
util_strlcpy(char *dst, const char *src, size_t dsize)
{
	size_t len = strlen(src);

	if (dsize > 0) {
		size_t n = len < dsize - 1 ? len : dsize - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

static uint64_t
util_clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
util_now_usec(void)
{
	return util_clock_usec(CLOCK_MONOTONIC);
}

uint64_t
util_wall_usec(void)
{
	return util_clock_usec(CLOCK_REALTIME);
}

int
util_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

int
util_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
util_hex(const uint8_t *b, size_t n, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t		  i;

	if (outsz == 0)
		return;
	for (i = 0; i < n && 2 * i + 2 < outsz; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0xf];
	}
	out[2 * i] = '\0';
}

void
util_fingerprint(const uint8_t *b, size_t n, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		  i, o = 0;

	if (outsz == 0)
		return;
	for (i = 0; i < n && o + 3 + (i > 0) <= outsz; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0xf];
	}
	out[o] = '\0';
}

uint32_t
util_fnv1a(uint32_t h, const void *p, size_t n)
{
	const uint8_t	*b = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}
