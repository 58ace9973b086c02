/*
 * libFuzzer target for the bytes of an admin request that webui parses
 * itself (webui/adminreq.c): the input split at its first two NULs into
 * an Authorization header, a Cookie header and the rest, which is both a
 * query string of flow filters (through flowq_set) and a login form
 * body. Nothing may crash or leak; only the right secrets pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/flowq.h"
#include "webui/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_TOKEN \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*buf, *auth, *cookie, *rest, err[ADMIN_ERR_MAX];
	char		 session[ADMIN_SESSION_LEN + 1];
	char		 tok[CONF_ADMIN_TOKEN_LEN + 8];
	struct flowq	 fq;
	int64_t		 id;
	size_t		 n;

	if ((buf = malloc(size + 3)) == NULL)
		return (0);
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	auth = buf;
	cookie = auth + strlen(auth) + 1;
	if (cookie > buf + size)
		cookie = buf + size + 1;
	rest = cookie + strlen(cookie) + 1;
	if (rest > buf + size + 1)
		rest = buf + size + 2;
	n = strlen(rest);
	if (admin_session(FUZZ_TOKEN, session, sizeof(session)) == -1)
		abort();
	if (admin_bearer_ok(auth, FUZZ_TOKEN) &&
	    strstr(auth, FUZZ_TOKEN) == NULL)
		abort();
	if (admin_cookie_ok(cookie, session) && strstr(cookie, session) ==
	    NULL)
		abort();
	flowq_init(&fq);
	if (admin_query(&fq, rest, 1790000000, err, sizeof(err)) == 0 &&
	    (fq.fq_limit < 1 || fq.fq_limit > FLOWQ_LIMIT_MAX))
		abort();
	if (admin_form_token(rest, n, tok, sizeof(tok)) == 0 &&
	    strlen(tok) >= sizeof(tok))
		abort();
	if (admin_flow_id(rest, "/flows/", &id) == 0 && id <= 0)
		abort();
	free(buf);
	return (0);
}
