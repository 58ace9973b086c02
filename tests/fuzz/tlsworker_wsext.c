/*
 * libFuzzer target for the Sec-WebSocket-Extensions parser
 * (tlsworker/wsext.c), which reads an origin's 101 response. The first
 * byte picks a split point. The rest is parsed as one field value (an
 * exact-size copy, so a read past its end shows), and must give a result
 * within the rules: window bits from 8 to 15, an error text exactly when
 * parsing failed. When the part before the split parses alone, parsing
 * it and the rest as two fields must agree with parsing them joined by a
 * comma, as RFC 9110 5.3 says fields combine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsworker/wsext.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_check(const struct wsext *x, int rc)
{
	int	 i;

	if ((rc == -1) != (x->wx_error != NULL))
		abort();
	for (i = 0; i < 2; i++)
		if (x->wx_window_bits[i] < WSEXT_BITS_MIN ||
		    x->wx_window_bits[i] > WSEXT_BITS_MAX ||
		    (x->wx_no_takeover[i] & ~1) != 0)
			abort();
	if ((x->wx_deflate & ~1) != 0 || (x->wx_other & ~1) != 0)
		abort();
}

/* Parse n bytes from an exact-size heap copy. */
static int
fuzz_parse(struct wsext *x, const uint8_t *p, size_t n)
{
	char	*s;
	int	 rc;

	if ((s = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(s, p, n);
	rc = wsext_parse(x, s, n);
	free(s);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wsext	 whole, two, joined;
	uint8_t		*j;
	size_t		 k, n;
	int		 rc, rc2;

	if (size < 1)
		return 0;
	k = data[0];
	data++;
	size--;
	wsext_init(&whole);
	rc = fuzz_parse(&whole, data, size);
	fuzz_check(&whole, rc);
	if (k > size)
		k = size;
	wsext_init(&two);
	if (fuzz_parse(&two, data, k) == -1)
		return 0;
	rc = fuzz_parse(&two, data + k, size - k);
	fuzz_check(&two, rc);
	n = size + 1;
	if ((j = malloc(n)) == NULL)
		abort();
	memcpy(j, data, k);
	j[k] = ',';
	memcpy(j + k + 1, data + k, size - k);
	wsext_init(&joined);
	rc2 = fuzz_parse(&joined, j, n);
	free(j);
	if (rc != rc2 || memcmp(&two, &joined, sizeof(two)) != 0)
		abort();
	return 0;
}
