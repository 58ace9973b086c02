/*
 * libFuzzer target for the admin feed's WebSocket code (webui/adminws.c):
 * any bytes as what a client sends, parsed head after head as the feed
 * does, and as a Sec-WebSocket-Key. A head never claims more than it
 * was given, a prefix of a head that parsed never fails, and a frame
 * head the server builds for a parsed length parses back (masked) to
 * the same opcode and length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "webui/admin.h"

#define FUZZ_HEAD_MAX	14
#define FUZZ_KEY_MAX	64
#define FUZZ_ACCEPT_MAX	64

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", 0);
	log_set_sink(log_discard);
	return (0);
}

/* The server's head for (opcode, len), masked as a client's would be:
 * it must parse back to the same. */
static void
round_trip(int opcode, uint64_t len)
{
	struct admin_ws_frame	 f;
	uint8_t			 h[FUZZ_HEAD_MAX + 4];
	size_t			 n;

	if ((opcode & 0x8) != 0 && len > 125)
		return;
	n = admin_ws_head(h, opcode, len);
	if (n < 2 || n > FUZZ_HEAD_MAX - 4)
		abort();
	h[1] |= 0x80;			/* a client's frame is masked */
	memset(h + n, 0x5a, 4);
	if (admin_ws_parse(h, n + 4, &f) != (int)(n + 4) ||
	    f.wf_opcode != opcode || f.wf_len != len || !f.wf_fin)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_ws_frame	 f, g;
	char			 key[FUZZ_KEY_MAX + 1], acc[FUZZ_ACCEPT_MAX];
	size_t			 off = 0, i;
	int			 r;

	while (off < size) {
		r = admin_ws_parse(data + off, size - off, &f);
		if (r < 0 || r == 0)
			break;
		if ((size_t)r > size - off)
			abort();
		/* every shorter prefix needs more bytes, never fails */
		for (i = 0; i < (size_t)r; i++)
			if (admin_ws_parse(data + off, i, &g) != 0)
				abort();
		if (f.wf_opcode != 0x1 && f.wf_opcode != 0x2 &&
		    f.wf_opcode != 0x0 && f.wf_opcode < 0x8)
			break;
		if (f.wf_opcode != 0x0 && f.wf_opcode <= 0xa)
			round_trip(f.wf_opcode, f.wf_len);
		off += (size_t)r;
		if (f.wf_len > size - off)
			break;
		off += (size_t)f.wf_len;
	}
	i = size < FUZZ_KEY_MAX ? size : FUZZ_KEY_MAX;
	memcpy(key, data, i);
	key[i] = '\0';
	(void)admin_ws_accept(key, acc, sizeof(acc));
	return (0);
}
