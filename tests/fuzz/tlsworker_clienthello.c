/*
 * libFuzzer target for the ClientHello parser (tlsworker/clienthello.c):
 * the input is what a client sends after "200 Connection established",
 * parsed again after every read the way the worker does it (the first
 * byte picks the read size). Nothing may crash or read out of bounds, a
 * verdict once reached must not change as more bytes come, and what is
 * extracted must be within its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsworker/clienthello.h"

#define FUZZ_MAX_STEP	64

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_check(const struct clienthello *ch, size_t len, int r)
{
	int	 i;

	if (r == CH_OK && (ch->ch_len == 0 || ch->ch_len > len))
		abort();
	if ((r == CH_MALFORMED || r == CH_NOT_TLS) && ch->ch_error == NULL)
		abort();
	if (strlen(ch->ch_sni) > CH_SNI_MAX || (ch->ch_has_sni &&
	    ch->ch_sni[0] == '\0'))
		abort();
	if (ch->ch_alpn_n < 0 || ch->ch_alpn_n > CH_ALPN_MAX)
		abort();
	for (i = 0; i < ch->ch_alpn_n; i++)
		if (strlen(ch->ch_alpn[i]) == 0 ||
		    strlen(ch->ch_alpn[i]) > CH_ALPN_NAME_MAX)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clienthello ch;
	const uint8_t	*p = data + 1;
	size_t		 len, step, k, ok_len = 0;
	int		 r, verdict = CH_NEED_MORE, h;

	if (size < 1)
		return 0;
	len = size - 1;
	step = data[0] == 0 ? len : (size_t)(data[0] % FUZZ_MAX_STEP) + 1;
	if (step == 0)
		step = 1;
	for (k = step < len ? step : len; ; k = k + step < len ? k + step :
	    len) {
		r = clienthello_parse(p, k, &ch);
		fuzz_check(&ch, k, r);
		if (verdict != CH_NEED_MORE && r != verdict)
			abort();	/* more bytes changed the verdict */
		if (r == CH_OK) {
			if (ok_len != 0 && ch.ch_len != ok_len)
				abort();
			ok_len = ch.ch_len;
		}
		verdict = r;
		h = clienthello_looks_http(p, k);
		if (h < -1 || h > 1)
			abort();
		if (k == len)
			break;
	}
	return 0;
}
