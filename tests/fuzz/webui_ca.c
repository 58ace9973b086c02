/*
 * libFuzzer target for what webui does with the CA certificate master
 * forwards (webui/ca.c) and with request paths (webui/page.c): any bytes
 * as the PEM of IMSG_CA_CERT, then the status page built from whatever
 * was accepted; the same bytes as a path. Nothing may crash or leak, and
 * an accepted certificate always yields one PEM block, its DER and a
 * fingerprint.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "webui/webui.h"

#define FUZZ_PATH_MAX 4096

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct webui_ca wc;
	struct evbuffer *b;
	char	 path[FUZZ_PATH_MAX];
	size_t	 n;

	if (webui_ca_set(&wc, (const char *)data, len) == 0) {
		if (wc.wc_pem == NULL || wc.wc_der == NULL ||
		    wc.wc_derlen == 0 || strlen(wc.wc_sha256) !=
		    WEBUI_FPR_MAX - 1 ||
		    strncmp(wc.wc_pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
			abort();
	}
	if ((b = evbuffer_new()) != NULL) {
		if (webui_page_index(b, &wc, (enum webui_os)(len % WEBUI_OS_MAX)) == -1)
			abort();
		evbuffer_free(b);
	}
	n = len < sizeof(path) - 1 ? len : sizeof(path) - 1;
	memcpy(path, data, n);
	path[n] = '\0';
	(void)webui_route(path);
	/* Keep one CA across runs now and then, drop it otherwise. */
	if (len % 2 == 0)
		webui_ca_clear(&wc);
	return (0);
}
