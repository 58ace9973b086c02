/*
 * The CA certificate as webui serves it. master forwards certd's PEM
 * (IMSG_CA_CERT) at start and again whenever certd sends it; each arrival
 * replaces the previous one whole. The certificate is parsed and
 * re-encoded, so that only one certificate is ever served whatever the
 * message held, and its DER form, SHA-256 fingerprint and expiry are
 * computed once here, not per request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "webui/webui.h"

static int
webui_ca_nopass(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return (-1);
}

static int
webui_ca_pem(struct webui_ca *wc, X509 *x)
{
	BIO	*b;
	char	*p;
	long	 n;
	int	 rv = -1;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return (-1);
	if (PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (wc->wc_pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(wc->wc_pem, p, (size_t)n);
		wc->wc_pem[n] = '\0';	/* for logs and tests; served by length */
		wc->wc_pemlen = (size_t)n;
		rv = 0;
	}
	BIO_free(b);
	return (rv);
}

static int
webui_ca_der(struct webui_ca *wc, X509 *x)
{
	unsigned char	*der = NULL;
	int		 n;

	if ((n = i2d_X509(x, &der)) <= 0)
		return (-1);
	if ((wc->wc_der = malloc((size_t)n)) != NULL) {
		memcpy(wc->wc_der, der, (size_t)n);
		wc->wc_derlen = (size_t)n;
	}
	OPENSSL_free(der);
	return (wc->wc_der == NULL ? -1 : 0);
}

static int
webui_ca_facts(struct webui_ca *wc, X509 *x)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	struct tm	 tm;

	if (!X509_digest(x, EVP_sha256(), md, &mdlen) ||
	    mdlen != WEBUI_SHA256_LEN)
		return (-1);
	memcpy(wc->wc_md, md, WEBUI_SHA256_LEN);
	util_fingerprint(md, mdlen, wc->wc_sha256, sizeof(wc->wc_sha256));
	memset(&tm, 0, sizeof(tm));
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) ||
	    strftime(wc->wc_not_after, sizeof(wc->wc_not_after),
	    "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return (-1);
	wc->wc_not_after_t = (int64_t)timegm(&tm);
	/* The name the profile shows, as mitmctl finds it too. */
	mobileconfig_ca_name(x, wc->wc_name, sizeof(wc->wc_name));
	return (0);
}

int
webui_ca_set(struct webui_ca *wc, const char *pem, size_t len)
{
	struct webui_ca	 n;
	BIO		*b;
	X509		*x = NULL;
	int		 rv = -1;

	memset(&n, 0, sizeof(n));
	if (len == 0 || len > INT32_MAX)
		return (-1);
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return (-1);
	x = PEM_read_bio_X509(b, NULL, webui_ca_nopass, NULL);
	BIO_free(b);
	if (x == NULL)
		goto done;
	if (webui_ca_pem(&n, x) == -1 || webui_ca_der(&n, x) == -1 ||
	    webui_ca_facts(&n, x) == -1)
		goto done;
	webui_ca_clear(wc);
	*wc = n;
	memset(&n, 0, sizeof(n));
	rv = 0;
done:
	ERR_clear_error();
	X509_free(x);
	webui_ca_clear(&n);
	return (rv);
}

void
webui_ca_clear(struct webui_ca *wc)
{
	free(wc->wc_pem);
	free(wc->wc_der);
	memset(wc, 0, sizeof(*wc));
}
