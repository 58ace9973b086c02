/*
 * The server side of RFC 6455 that the admin feed needs, as pure
 * functions on bytes: the handshake's Sec-WebSocket-Accept, the head of
 * a frame webui sends (never masked, never fragmented) and the head of
 * a frame a client sends (always masked). No I/O here; adminfeed.c
 * drives it. Written for webui; the tlsworker's parser is for both
 * sides of proxied traffic and stays there.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "webui/admin.h"

/* RFC 6455 4.2.2: appended to the client's key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/*
 * The key must be base64 of 16 bytes (24 characters, "==" at the end);
 * out gets the base64 of SHA-1(key GUID). 0, or -1 for a bad key.
 */
int
admin_ws_accept(const char *key, char *out, size_t outsz)
{
	unsigned char	 raw[ADMIN_WS_KEY_LEN];
	unsigned char	 md[SHA_DIGEST_LENGTH];
	char		 buf[ADMIN_WS_KEY_LEN + sizeof(ws_guid)];
	unsigned int	 mdlen = 0;
	size_t		 klen;

	if (key == NULL || (klen = strlen(key)) != ADMIN_WS_KEY_LEN ||
	    key[klen - 1] != '=' || key[klen - 2] != '=' ||
	    EVP_DecodeBlock(raw, (const unsigned char *)key, (int)klen) !=
	    ADMIN_WS_KEY_RAW + 2 || outsz < ADMIN_WS_ACCEPT_LEN + 1)
		return (-1);
	memcpy(buf, key, klen);
	memcpy(buf + klen, ws_guid, sizeof(ws_guid) - 1);
	if (!EVP_Digest(buf, klen + sizeof(ws_guid) - 1, md, &mdlen,
	    EVP_sha1(), NULL) || mdlen != SHA_DIGEST_LENGTH)
		return (-1);
	if (EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen) !=
	    ADMIN_WS_ACCEPT_LEN)
		return (-1);
	return (0);
}

/* The head of a server frame, FIN set, into out (ADMIN_WS_HEAD_MAX
 * bytes); its length. */
size_t
admin_ws_head(uint8_t *out, int opcode, uint64_t len)
{
	size_t	 i, n;

	out[0] = (uint8_t)(ADMIN_WS_FIN | (opcode & ADMIN_WS_OPMASK));
	if (len < ADMIN_WS_LEN16) {
		out[1] = (uint8_t)len;
		return (2);
	}
	if (len <= UINT16_MAX) {
		out[1] = ADMIN_WS_LEN16;
		n = 2;
	} else {
		out[1] = ADMIN_WS_LEN64;
		n = 8;
	}
	for (i = 0; i < n; i++)
		out[2 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	return (2 + n);
}

/*
 * The head of a client frame in p: 0 when more bytes are needed, -1
 * when it breaks the rules a server enforces (RSV bits, no mask, a
 * control frame fragmented or longer than 125, a 64-bit length with the
 * top bit set), else the head's length with *f filled in.
 */
int
admin_ws_parse(const uint8_t *p, size_t len, struct admin_ws_frame *f)
{
	size_t	 n, i, need;

	if (len < 2)
		return (0);
	f->wf_fin = (p[0] & ADMIN_WS_FIN) != 0;
	f->wf_opcode = p[0] & ADMIN_WS_OPMASK;
	if ((p[0] & ADMIN_WS_RSV) != 0 || (p[1] & ADMIN_WS_MASKBIT) == 0)
		return (-1);
	f->wf_len = p[1] & ~ADMIN_WS_MASKBIT & 0xff;
	n = f->wf_len == ADMIN_WS_LEN16 ? 2 : f->wf_len == ADMIN_WS_LEN64 ?
	    8 : 0;
	need = 2 + n + sizeof(f->wf_mask);
	if (len < need)
		return (0);
	if (n > 0) {
		f->wf_len = 0;
		for (i = 0; i < n; i++)
			f->wf_len = (f->wf_len << 8) | p[2 + i];
		if (f->wf_len >> 63 != 0)
			return (-1);
	}
	if ((f->wf_opcode & ADMIN_WS_CONTROL) != 0 && (!f->wf_fin ||
	    f->wf_len > ADMIN_WS_CONTROL_MAX))
		return (-1);
	memcpy(f->wf_mask, p + 2 + n, sizeof(f->wf_mask));
	return ((int)need);
}

void
admin_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4])
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] ^= mask[i % 4];
}
