/*
 * Unit test of what webui serves (webui/ca.c, webui/page.c): the routes,
 * the CA certificate's PEM, DER, fingerprint and expiry computed from the
 * PEM certd sends, a bad PEM keeping the previous CA, and the status page
 * with and without a CA, its name escaped; the page led by each device,
 * and the iOS profile with stable UUIDs and the CA's DER in base64, the
 * bytes of common/mobileconfig.c as mitmctl writes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "webui/webui.h"
#include "tests/unit/evstr.h"
#include "tests/unit/unit.h"

#define T_PEM_MAX 16384


/* A throwaway self-signed certificate with the given CN, as PEM; the key
 * is appended when with_key is set. */
static size_t
mkcert(const char *cn, int with_key, char *out, size_t outsz, X509 **xp)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509	 *x = X509_new();
	BIO	 *b = BIO_new(BIO_s_mem());
	char	 *p;
	long	  n;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	ASN1_TIME_set_string(X509_getm_notAfter(x), "20360102030405Z");
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	PEM_write_bio_X509(b, x);
	if (with_key)
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &p);
	if ((size_t)n >= outsz)
		n = 0;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	EVP_PKEY_free(k);
	*xp = x;
	return ((size_t)n);
}

static char *
page(const struct webui_ca *wc, enum webui_os os)
{
	static char	 s[T_PEM_MAX];
	struct evbuffer	*b = evbuffer_new();

	return (t_evstr(b, webui_page_index(b, wc, os), s, sizeof(s)));
}

/* The first link of the page is the download for os, then its steps. */
static void
check_lead(const struct webui_ca *wc, enum webui_os os, const char *href,
    const char *step)
{
	char	*s = page(wc, os), *a, *st;
	char	 want[128];

	a = strstr(s, "<a ");
	snprintf(want, sizeof(want), "<a id=\"download\" class=\"dl\" "
	    "href=\"%s\"", href);
	st = strstr(s, step);
	CHECK(a != NULL && strncmp(a, want, strlen(want)) == 0 && st != NULL &&
	    st > a, "%s: leads with %s, then \"%s\"", webui_os_key(os), href,
	    step);
	snprintf(want, sizeof(want), "href=\"/?os=%s\"", webui_os_key(os));
	CHECK(strstr(s, want) == NULL && strstr(s, "/?os=") != NULL,
	    "%s: the other devices linked, not itself", webui_os_key(os));
}

static void
check_leads(const struct webui_ca *wc)
{
	check_lead(wc, WEBUI_OS_IOS, "/mitmd-ca.mobileconfig",
	    "Certificate Trust Settings");
	check_lead(wc, WEBUI_OS_ANDROID, "/mitmd-ca.crt", "Android 7");
	check_lead(wc, WEBUI_OS_ANDROID, "/mitmd-ca.crt", "Android 14");
	check_lead(wc, WEBUI_OS_WINDOWS, "/mitmd-ca.cer",
	    "certutil -addstore -f Root mitmd-ca.cer");
	check_lead(wc, WEBUI_OS_MACOS, "/mitmd-ca.pem", "sudo security "
	    "add-trusted-cert -d -r trustRoot -k "
	    "/Library/Keychains/System.keychain mitmd-ca.pem");
	check_lead(wc, WEBUI_OS_LINUX, "/mitmd-ca.pem",
	    "/usr/local/share/ca-certificates/mitmd-ca.crt");
	check_lead(wc, WEBUI_OS_LINUX, "/mitmd-ca.pem", "update-ca-certificates");
	check_lead(wc, WEBUI_OS_LINUX, "/mitmd-ca.pem", "policies.json");
	check_lead(wc, WEBUI_OS_UNKNOWN, "/mitmd-ca.pem", "pick it below");
	ok(strstr(page(wc, (enum webui_os)99), "data-os=\"other\"") != NULL,
	    "an out-of-range os is the unknown one");
}

static char *
profile(const struct webui_ca *wc)
{
	static char	 s[T_PEM_MAX];
	struct evbuffer	*b = evbuffer_new();

	return (t_evstr(b, webui_page_mobileconfig(b, wc), s, sizeof(s)));
}

/* The profile: a plist with the DER in base64, UUIDs of the
 * fingerprint, the same at every call. */
static void
check_profile(const struct webui_ca *wc, X509 *x)
{
	static char	 first[T_PEM_MAX];
	unsigned char	 b64[T_PEM_MAX], *der = NULL;
	char		*s, *d, *e, *u, uuid[40], *mc;
	size_t		 i, j, mclen = 0;
	int		 dlen, n;

	s = profile(wc);
	ok(strncmp(s, "<?xml", 5) == 0 && strstr(s,
	    "<string>com.apple.security.root</string>") != NULL &&
	    strstr(s, "<string>Configuration</string>") != NULL,
	    "profile: a plist with a root payload");
	d = strstr(s, "<data>\n");
	e = d != NULL ? strstr(d, "</data>") : NULL;
	for (i = 0, j = 0; d != NULL && e != NULL && d + 7 + i < e &&
	    j < sizeof(b64) - 1; i++)
		if (d[7 + i] != '\n')
			b64[j++] = (unsigned char)d[7 + i];
	b64[j] = '\0';
	dlen = i2d_X509(x, &der);
	n = EVP_DecodeBlock(b64, b64, (int)j);
	/* EVP_DecodeBlock counts the padding as bytes */
	ok(n >= dlen && n - dlen < 3 && memcmp(b64, der, (size_t)dlen) == 0,
	    "profile: PayloadContent is the CA's DER");
	OPENSSL_free(der);
	snprintf(uuid, sizeof(uuid), "%02X%02X%02X%02X-", wc->wc_md[0],
	    wc->wc_md[1], wc->wc_md[2], wc->wc_md[3]);
	u = strstr(s, "<key>PayloadUUID</key>\n<string>");
	ok(u != NULL && strstr(s, uuid) != NULL, "profile: UUID of the "
	    "fingerprint");
	snprintf(first, sizeof(first), "%s", s);
	ok(strcmp(first, profile(wc)) == 0, "profile: stable");
	ok(strstr(s, "&lt;b&gt;&amp;") != NULL && strstr(s, "<b>&") == NULL,
	    "profile: name escaped");
	/* What mitmctl's "ca export mobileconfig" writes, byte for byte;
	 * the builder itself is tested in common_mobileconfig. */
	mc = mobileconfig_make(wc->wc_der, wc->wc_derlen, wc->wc_name, &mclen);
	ok(mc != NULL && mclen == strlen(s) && memcmp(mc, s, mclen) == 0,
	    "profile: common/mobileconfig's bytes");
	free(mc);
}

int
main(void)
{
	static char	 pem[T_PEM_MAX], pem2[T_PEM_MAX];
	struct webui_ca	 wc;
	unsigned char	 md[EVP_MAX_MD_SIZE], *der = NULL;
	const unsigned char *dp;
	unsigned int	 mdlen;
	char		 fpr[WEBUI_FPR_MAX], *s;
	X509		*x, *x2, *back;
	size_t		 n, n2;
	int		 dlen;

	ok(webui_route("/") == WEBUI_PAGE_INDEX, "route /");
	ok(webui_route("") == WEBUI_PAGE_INDEX, "route empty path");
	ok(webui_route("/ca.pem") == WEBUI_PAGE_PEM, "route /ca.pem");
	ok(webui_route("/ca.der") == WEBUI_PAGE_DER, "route /ca.der");
	ok(webui_route("/ca.key") == WEBUI_PAGE_NONE, "route /ca.key: none");
	ok(webui_route("/ca.pem/") == WEBUI_PAGE_NONE, "route /ca.pem/: none");
	ok(webui_route("//ca.pem") == WEBUI_PAGE_NONE, "route //ca.pem: none");
	ok(webui_route("/mitmd-ca.pem") == WEBUI_PAGE_PEM &&
	    webui_route("/mitmd-ca.crt") == WEBUI_PAGE_DER &&
	    webui_route("/mitmd-ca.cer") == WEBUI_PAGE_CER &&
	    webui_route("/mitmd-ca.mobileconfig") == WEBUI_PAGE_MOBILECONFIG,
	    "routes of the named files");
	ok(webui_route("/status") == WEBUI_PAGE_STATUS &&
	    webui_route("/metrics") == WEBUI_PAGE_METRICS,
	    "routes /status, /metrics");
	ok(webui_route("/status/") == WEBUI_PAGE_NONE &&
	    webui_route("/STATUS") == WEBUI_PAGE_NONE &&
	    webui_route("/mitmd-ca.key") == WEBUI_PAGE_NONE,
	    "near misses: none");

	memset(&wc, 0, sizeof(wc));
	s = page(&wc, WEBUI_OS_UNKNOWN);
	ok(strstr(s, "not available yet") != NULL && strstr(s, "/ca.pem") ==
	    NULL, "page without a CA");

	n = mkcert("mitmd CA <b>&\"x\"", 1, pem, sizeof(pem), &x);
	ok(webui_ca_set(&wc, pem, n) == 0, "CA set from PEM");
	ok(wc.wc_pem != NULL && strstr(wc.wc_pem, "PRIVATE") == NULL &&
	    strncmp(wc.wc_pem, "-----BEGIN CERTIFICATE-----", 27) == 0,
	    "served PEM is the certificate alone");
	dlen = i2d_X509(x, &der);
	ok(dlen > 0 && (size_t)dlen == wc.wc_derlen &&
	    memcmp(der, wc.wc_der, wc.wc_derlen) == 0, "DER matches");
	dp = wc.wc_der;
	back = d2i_X509(NULL, &dp, (long)wc.wc_derlen);
	ok(back != NULL && X509_cmp(back, x) == 0, "DER parses back");
	X509_free(back);
	OPENSSL_free(der);

	X509_digest(x, EVP_sha256(), md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(fpr + 3 * i, sizeof(fpr) - 3 * i, "%02X%s", md[i],
		    i + 1 < mdlen ? ":" : "");
	ok(strcmp(fpr, wc.wc_sha256) == 0 && strlen(fpr) == 95,
	    "SHA-256 fingerprint");
	ok(strcmp(wc.wc_not_after, "2036-01-02 03:04:05 UTC") == 0,
	    "expiry");
	ok(strcmp(wc.wc_name, "mitmd CA <b>&\"x\"") == 0, "name");

	s = page(&wc, WEBUI_OS_UNKNOWN);
	ok(strstr(s, fpr) != NULL && strstr(s, "2036-01-02") != NULL,
	    "page shows fingerprint and expiry");
	ok(strstr(s, "href=\"/mitmd-ca.pem\"") != NULL &&
	    strstr(s, "href=\"/mitmd-ca.crt\"") != NULL &&
	    strstr(s, "href=\"/mitmd-ca.cer\"") != NULL &&
	    strstr(s, "href=\"/mitmd-ca.mobileconfig\"") != NULL,
	    "page links every form");
	check_leads(&wc);
	check_profile(&wc, x);
	ok(strstr(s, "<b>&") == NULL &&
	    strstr(s, "mitmd CA &lt;b&gt;&amp;&quot;x&quot;") != NULL,
	    "name escaped");

	{
		struct webui_ca none;
		struct evbuffer *b = evbuffer_new();

		memset(&none, 0, sizeof(none));
		ok(webui_page_mobileconfig(b, &none) == -1,
		    "no profile without a CA");
		evbuffer_free(b);
	}
	ok(webui_ca_set(&wc, "garbage", 7) == -1 &&
	    strcmp(wc.wc_sha256, fpr) == 0, "bad PEM keeps the previous CA");
	ok(webui_ca_set(&wc, pem, 0) == -1, "empty PEM refused");

	n2 = mkcert("second", 0, pem2, sizeof(pem2), &x2);
	ok(webui_ca_set(&wc, pem2, n2) == 0 && strcmp(wc.wc_name,
	    "second") == 0 && strcmp(wc.wc_sha256, fpr) != 0,
	    "a new CA replaces the old one");

	webui_ca_clear(&wc);
	ok(wc.wc_pem == NULL && wc.wc_der == NULL, "cleared");
	X509_free(x);
	X509_free(x2);
	return (unit_done());
}
