/*
 * Unit test of webui/adminws.c: the handshake's accept value (RFC 6455's
 * own example), bad keys, server frame heads at each length form, and
 * client frame heads: partial, masked, and the rules a server enforces.
 */
#include <string.h>

#include "webui/admin.h"
#include "tests/unit/unit.h"

static void
test_accept(void)
{
	char	 out[ADMIN_WS_ACCEPT_LEN + 1];

	CHECK(admin_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out,
	    sizeof(out)) == 0 && strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") ==
	    0, "RFC 6455 example");
	CHECK(admin_ws_accept("dGhlIHNhbXBsZSBub25jZQ=", out, sizeof(out)) ==
	    -1, "short key");
	CHECK(admin_ws_accept("dGhlIHNhbXBsZSBub25jZQAA", out, sizeof(out)) ==
	    -1, "not 16 bytes");
	CHECK(admin_ws_accept("dGhlIHNhbXBsZSBub25j*Q==", out, sizeof(out)) ==
	    -1, "not base64");
	CHECK(admin_ws_accept(NULL, out, sizeof(out)) == -1, "no key");
	CHECK(admin_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out, 8) == -1,
	    "small output");
}

static void
test_head(void)
{
	uint8_t	 h[ADMIN_WS_HEAD_MAX];

	CHECK(admin_ws_head(h, ADMIN_WS_OP_TEXT, 5) == 2 && h[0] == 0x81 &&
	    h[1] == 5, "short");
	CHECK(admin_ws_head(h, ADMIN_WS_OP_TEXT, 126) == 4 && h[1] == 126 &&
	    h[2] == 0 && h[3] == 126, "16-bit");
	CHECK(admin_ws_head(h, ADMIN_WS_OP_CLOSE, 65536) == 10 &&
	    h[0] == 0x88 && h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0,
	    "64-bit");
}

static void
test_parse(void)
{
	struct admin_ws_frame f;
	uint8_t	 ping[] = { 0x89, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2 };
	uint8_t	 big[] = { 0x81, 0xfe, 0x01, 0x00, 9, 9, 9, 9 };
	uint8_t	 b[4];

	CHECK(admin_ws_parse(ping, 1, &f) == 0, "one byte: more");
	CHECK(admin_ws_parse(ping, 5, &f) == 0, "no whole mask: more");
	CHECK(admin_ws_parse(ping, sizeof(ping), &f) == 6 && f.wf_fin &&
	    f.wf_opcode == ADMIN_WS_OP_PING && f.wf_len == 2, "ping");
	memcpy(b, ping + 6, 2);
	admin_ws_unmask(b, 2, f.wf_mask);
	CHECK(b[0] == 'h' && b[1] == 'i', "unmasked");
	CHECK(admin_ws_parse(big, sizeof(big), &f) == 8 && f.wf_len == 256,
	    "16-bit length");
	ping[1] = 0x02;
	CHECK(admin_ws_parse(ping, sizeof(ping), &f) == -1, "unmasked frame");
	ping[1] = 0x82;
	ping[0] = 0xc9;
	CHECK(admin_ws_parse(ping, sizeof(ping), &f) == -1, "RSV1");
	ping[0] = 0x09;
	CHECK(admin_ws_parse(ping, sizeof(ping), &f) == -1, "fragmented ping");
	big[0] = 0x89;
	CHECK(admin_ws_parse(big, sizeof(big), &f) == -1, "ping over 125");
}

int
main(void)
{
	test_accept();
	test_head();
	test_parse();
	return (unit_done());
}
