/*
 * libFuzzer target for the untrusted bytes the public page reads
 * (webui/ua.c, webui/page.c): any bytes as a User-Agent and as the query
 * "?os=...", then the page those choose, rendered with a CA whose name is
 * the same bytes; the iOS profile of that CA (common/mobileconfig.c).
 * Nothing may crash or leak; an accepted query names a known device, the
 * page always leads with a download, and the name adds no markup to the
 * profile.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "webui/webui.h"

#define FUZZ_PEM_MAX 8192

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct webui_ca fuzz_ca;

/* One throwaway CA for every run. */
static void
fuzz_make_ca(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509	 *x = X509_new();
	BIO	 *b = BIO_new(BIO_s_mem());
	char	 *p;
	long	  n;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)"fuzz CA", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	if (n <= 0 || webui_ca_set(&fuzz_ca, p, (size_t)n) == -1)
		abort();
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* The '<' of a profile: the name (common/mobileconfig.c escapes it)
 * must add none to those of a profile with an empty name. */
static size_t fuzz_markup_base;

static size_t
fuzz_markup(struct evbuffer *b)
{
	size_t		 len = evbuffer_get_length(b), i, n = 0;
	const char	*p = (const char *)evbuffer_pullup(b, -1);

	for (i = 0; p != NULL && i < len; i++)
		n += p[i] == '<';
	return (n);
}

static void
fuzz_markup_init(void)
{
	struct webui_ca	 wc = fuzz_ca;
	struct evbuffer	*b = evbuffer_new();

	wc.wc_name[0] = '\0';
	if (b == NULL || webui_page_mobileconfig(b, &wc) == -1)
		abort();
	fuzz_markup_base = fuzz_markup(b);
	evbuffer_free(b);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", 0);
	log_set_sink(log_discard);
	fuzz_make_ca();
	fuzz_markup_init();
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct webui_ca	 wc = fuzz_ca;
	struct evbuffer	*b;
	enum webui_os	 os;
	size_t		 n;

	os = webui_ua_os((const char *)data, len);
	if ((unsigned)os >= WEBUI_OS_MAX)
		abort();
	if (webui_os_query((const char *)data, len, &os) == 0 &&
	    (unsigned)os >= WEBUI_OS_MAX)
		abort();
	/* The bytes as the CA's name, as far as the buffer goes. */
	n = len < sizeof(wc.wc_name) - 1 ? len : sizeof(wc.wc_name) - 1;
	memcpy(wc.wc_name, data, n);
	wc.wc_name[n] = '\0';
	if ((b = evbuffer_new()) == NULL)
		return (0);
	if (webui_page_index(b, &wc, os) == -1 ||
	    evbuffer_search(b, "id=\"download\"", 13, NULL).pos == -1)
		abort();
	evbuffer_drain(b, evbuffer_get_length(b));
	if (webui_page_mobileconfig(b, &wc) == -1 ||
	    evbuffer_search(b, "<", 1, NULL).pos != 0 ||
	    fuzz_markup(b) != fuzz_markup_base)
		abort();
	evbuffer_free(b);
	return (0);
}
