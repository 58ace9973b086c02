/*
 * Unit tests: what a renderer wrote into an evbuffer, as a C string in
 * the caller's buffer (cut to its size); the evbuffer is freed. "" when
 * the renderer failed (rv != 0).
 */
#ifndef MITMD_TESTS_EVSTR_H
#define MITMD_TESTS_EVSTR_H

#include <event2/buffer.h>
#include <stddef.h>

static inline char *
t_evstr(struct evbuffer *b, int rv, char *s, size_t sz)
{
	size_t n;

	s[0] = '\0';
	if (rv == 0) {
		n = evbuffer_get_length(b);
		if (n >= sz)
			n = sz - 1;
		evbuffer_remove(b, s, n);
		s[n] = '\0';
	}
	evbuffer_free(b);
	return (s);
}

#endif
