/*
 * Unit test of the CA's configuration profile (common/mobileconfig.c),
 * which webui serves and mitmctl writes: the plist's frame and its root
 * payload, the DER in base64 lines, UUIDs of the fingerprint with version
 * 5's bits, the same bytes at every call, the CA's name (subject CN, or
 * "(no name)") escaped for XML with '?' for what XML cannot carry, and
 * no profile without a certificate. tests/unit/webui_page.c checks that
 * webui's download is these bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/mobileconfig.h"
#include "common/util.h"
#include "tests/unit/unit.h"

#define T_DER_MAX	4096
#define T_UUID_KEY	"<key>PayloadUUID</key>\n<string>"
#define T_FPR_MAX	(32 * 3)	/* "AB:..." of a SHA-256, NUL */

/* A throwaway self-signed certificate, with that CN when cn is set. */
static X509 *
mkcert(const char *cn)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509	 *x = X509_new();

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	if (cn != NULL)
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
		    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	else
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O",
		    MBSTRING_UTF8, (const unsigned char *)"org", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	EVP_PKEY_free(k);
	return (x);
}

/* The profile as a C string (it holds no NUL), freed by the caller. */
static char *
profile(const uint8_t *der, size_t len, const char *name)
{
	size_t	 n = 0;
	char	*mc = mobileconfig_make(der, len, name, &n);
	char	*s;

	if (mc == NULL)
		return (NULL);
	if ((s = malloc(n + 1)) != NULL) {
		memcpy(s, mc, n);
		s[n] = '\0';
	}
	ok(s != NULL && strlen(s) == n, "profile: no NUL inside");
	free(mc);
	return (s);
}

/* The base64 between <data> and </data>: lines of 64, decoded to der. */
static void
check_data(const char *s, const uint8_t *der, size_t len)
{
	unsigned char	 b64[T_DER_MAX * 2], out[T_DER_MAX * 2];
	const char	*d = strstr(s, "<data>\n"), *e, *nl;
	size_t		 j = 0;
	int		 lines_ok = 1, n;

	e = d != NULL ? strstr(d, "</data>") : NULL;
	for (d = d != NULL ? d + 7 : NULL; d != NULL && d < e; d = nl + 1) {
		nl = strchr(d, '\n');
		if (nl[1] != '<' && nl - d != MOBILECONFIG_B64_LINE)
			lines_ok = 0;
		memcpy(b64 + j, d, (size_t)(nl - d));
		j += (size_t)(nl - d);
	}
	ok(e != NULL && lines_ok, "profile: base64 in lines of 64");
	n = EVP_DecodeBlock(out, b64, (int)j);
	/* EVP_DecodeBlock counts the padding as bytes */
	ok(n >= (int)len && n - (int)len < 3 && memcmp(out, der, len) == 0,
	    "profile: PayloadContent is the DER");
}

/* Both UUIDs: 16 bytes of the SHA-256 of the DER each, version 5. */
static void
check_uuids(const char *s, const uint8_t *der, size_t len)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 want[16], fpr[T_FPR_MAX];
	const char	*u1, *u2;

	EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL);
	u2 = strstr(s, T_UUID_KEY);
	u1 = u2 != NULL ? strstr(u2 + 1, T_UUID_KEY) : NULL;
	u1 = u1 != NULL ? u1 + strlen(T_UUID_KEY) : NULL;
	u2 = u2 != NULL ? u2 + strlen(T_UUID_KEY) : NULL;
	snprintf(want, sizeof(want), "%02X%02X%02X%02X-", md[16], md[17],
	    md[18], md[19]);
	ok(u2 != NULL && strncmp(u2, want, 9) == 0 && u2[14] == '5' &&
	    strchr("89AB", u2[19]) != NULL && u2[36] == '<',
	    "profile: the payload's UUID from the fingerprint's second half");
	snprintf(want, sizeof(want), "%02X%02X%02X%02X-", md[0], md[1], md[2],
	    md[3]);
	ok(u1 != NULL && strncmp(u1, want, 9) == 0 && u1[14] == '5' &&
	    strchr("89AB", u1[19]) != NULL && u1[36] == '<',
	    "profile: the profile's UUID from the first half");
	util_fingerprint(md, mdlen, fpr, sizeof(fpr));
	ok(strstr(s, fpr) != NULL, "profile: the fingerprint in its "
	    "description");
}

static void
check_frame(const char *s)
{
	ok(strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39) == 0 &&
	    strstr(s, "<plist version=\"1.0\">\n<dict>\n") != NULL &&
	    strcmp(s + strlen(s) - 17, "</dict>\n</plist>\n") == 0,
	    "profile: a plist");
	ok(strstr(s, "<key>PayloadType</key>\n<string>com.apple.security.root"
	    "</string>\n") != NULL && strstr(s, "<key>PayloadType</key>\n"
	    "<string>Configuration</string>\n") != NULL &&
	    strstr(s, "<string>" MOBILECONFIG_CER_NAME "</string>") != NULL,
	    "profile: a Configuration with a root payload");
}

/* name as the payload's display name comes out as want. */
static void
check_name(const uint8_t *der, size_t len, const char *name,
    const char *want)
{
	char	 line[MOBILECONFIG_NAME_MAX * 8];
	char	*s = profile(der, len, name);

	snprintf(line, sizeof(line), "<key>PayloadDisplayName</key>\n"
	    "<string>%s</string>\n<key>PayloadIdentifier", want);
	CHECK(s != NULL && strstr(s, line) != NULL, "name as \"%s\"", want);
	free(s);
}

static void
test_names(const uint8_t *der, size_t len)
{
	char	 name[MOBILECONFIG_NAME_MAX];
	X509	*x;

	check_name(der, len, "mitmd CA", "mitmd CA");
	check_name(der, len, "a <b> & \"c\" 'd'",
	    "a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;");
	check_name(der, len, "tab\there\nnl\x7f", "tab?here?nl?");
	check_name(der, len, "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 "
	    "\xe2\x82\xac");
	check_name(der, len, "bad \xc3( \xff \xed\xa0\x80", "bad ?( ? ???");
	check_name(der, len, "nonchar \xef\xbf\xbe", "nonchar ???");
	check_name(der, len, "", "");
	x = mkcert("mitmd CA <x>");
	mobileconfig_ca_name(x, name, sizeof(name));
	ok(strcmp(name, "mitmd CA <x>") == 0, "CA name: the subject CN");
	X509_free(x);
	x = mkcert(NULL);
	mobileconfig_ca_name(x, name, sizeof(name));
	ok(strcmp(name, "(no name)") == 0, "CA name without a CN");
	X509_free(x);
}

int
main(void)
{
	unsigned char	*der = NULL;
	size_t		 n = 0;
	char		*s, *again;
	X509		*x = mkcert("mitmd CA");
	int		 len = i2d_X509(x, &der);

	s = profile(der, (size_t)len, "mitmd CA");
	ok(s != NULL, "profile made");
	if (s == NULL)
		return (unit_done());
	check_frame(s);
	check_data(s, der, (size_t)len);
	check_uuids(s, der, (size_t)len);
	again = profile(der, (size_t)len, "mitmd CA");
	ok(again != NULL && strcmp(s, again) == 0, "profile: the same bytes "
	    "again");
	free(again);
	test_names(der, (size_t)len);
	ok(mobileconfig_make(der, 0, "x", &n) == NULL &&
	    mobileconfig_make(NULL, 10, "x", &n) == NULL,
	    "no profile without a certificate");
	free(s);
	OPENSSL_free(der);
	X509_free(x);
	return (unit_done());
}
