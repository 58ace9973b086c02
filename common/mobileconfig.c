/*
 * The configuration profile of the mitmd CA (mobileconfig.h). Called by
 * webui for each download and by mitmctl, both after their sandbox or
 * privileges are set: it allocates, hashes and formats, and makes no
 * system call of its own. The layout is fixed (keys in order, one a
 * line) so that the output of one version is the same wherever it is
 * made; tests compare webui's bytes with mitmctl's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "common/mobileconfig.h"
#include "common/utf8.h"
#include "common/util.h"

#define MC_SHA256_LEN	32
#define MC_UUID_BYTES	16
#define MC_FPR_MAX	(MC_SHA256_LEN * 3)	/* "AB:..." and a NUL */

static const char mc_head[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
    "<plist version=\"1.0\">\n<dict>\n"
    "<key>PayloadContent</key>\n<array>\n<dict>\n"
    "<key>PayloadCertificateFileName</key>\n"
    "<string>" MOBILECONFIG_CER_NAME "</string>\n"
    "<key>PayloadContent</key>\n<data>\n";

void
mobileconfig_ca_name(const X509 *x, char *buf, size_t size)
{
	if (size > INT32_MAX)
		size = INT32_MAX;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, buf, (int)size) < 0)
		snprintf(buf, size, "(no name)");
}

/* A UUID from 16 bytes of the fingerprint, with version 5's bits
 * (name-based, SHA-based): the profile and its payload keep their UUIDs
 * for as long as the CA stays, and a new CA gets new ones. */
static void
mc_uuid(const uint8_t *md, char *out, size_t outsz)
{
	uint8_t	 u[MC_UUID_BYTES];

	memcpy(u, md, sizeof(u));
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x50);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	snprintf(out, outsz, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-"
	    "%02X%02X%02X%02X%02X%02X", u[0], u[1], u[2], u[3], u[4], u[5],
	    u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* The DER in base64, MOBILECONFIG_B64_LINE characters a line. */
static void
mc_b64(FILE *f, const uint8_t *der, size_t len)
{
	unsigned char	 line[MOBILECONFIG_B64_LINE + 1];
	size_t		 in = (size_t)MOBILECONFIG_B64_LINE / 4 * 3, n, i;

	for (i = 0; i < len; i += n) {
		n = MIN(len - i, in);
		EVP_EncodeBlock(line, der + i, (int)n);
		fprintf(f, "%s\n", line);
	}
}

/* The length of the UTF-8 character at s that XML 1.0 takes; 0 for a
 * control character (XML forbids most, and a name needs none), U+FFFE,
 * U+FFFF, or a byte that starts no valid sequence. */
static size_t
mc_char_len(const unsigned char *s, size_t n)
{
	size_t len = utf8_seq_len(s, n);

	if (len == 1 && (s[0] < 0x20 || s[0] == 0x7f))
		return (0);
	if (len == 3 && s[0] == 0xef && s[1] == 0xbf && s[2] >= 0xbe)
		return (0);
	return (len);
}

/* The name as text in XML: the five entities webui's HTML uses too, and
 * '?' for each byte that is not a character XML takes. */
static void
mc_text(FILE *f, const char *name)
{
	const unsigned char	*s = (const unsigned char *)name;
	size_t			 n = strlen(name), len;

	while (n > 0) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if ((len = mc_char_len(s, n)) == 0) {
				fputc('?', f);
				break;
			}
			fwrite(s, 1, len, f);
			s += len;
			n -= len;
			continue;
		}
		s++;
		n--;
	}
}

/* Everything after the base64 of the DER. */
static void
mc_tail(FILE *f, const char *name, const uint8_t *md)
{
	char	 u1[MOBILECONFIG_UUID_LEN + 1], u2[MOBILECONFIG_UUID_LEN + 1];
	char	 fpr[MC_FPR_MAX];

	mc_uuid(md, u1, sizeof(u1));
	mc_uuid(md + MC_UUID_BYTES, u2, sizeof(u2));
	util_fingerprint(md, MC_SHA256_LEN, fpr, sizeof(fpr));
	fputs("</data>\n<key>PayloadDescription</key>\n"
	    "<string>Adds the mitmd CA certificate</string>\n"
	    "<key>PayloadDisplayName</key>\n<string>", f);
	mc_text(f, name);
	fprintf(f, "</string>\n"
	    "<key>PayloadIdentifier</key>\n<string>mitmd.ca.%s</string>\n"
	    "<key>PayloadType</key>\n<string>com.apple.security.root</string>\n"
	    "<key>PayloadUUID</key>\n<string>%s</string>\n"
	    "<key>PayloadVersion</key>\n<integer>1</integer>\n"
	    "</dict>\n</array>\n"
	    "<key>PayloadDescription</key>\n<string>Trust the mitmd proxy "
	    "of this network (SHA-256 %s)</string>\n"
	    "<key>PayloadDisplayName</key>\n<string>mitmd CA</string>\n"
	    "<key>PayloadIdentifier</key>\n<string>mitmd.profile.%s</string>\n"
	    "<key>PayloadRemovalDisallowed</key>\n<false/>\n"
	    "<key>PayloadType</key>\n<string>Configuration</string>\n"
	    "<key>PayloadUUID</key>\n<string>%s</string>\n"
	    "<key>PayloadVersion</key>\n<integer>1</integer>\n"
	    "</dict>\n</plist>\n", u2, u2, fpr, u1, u1);
}

char *
mobileconfig_make(const uint8_t *der, size_t derlen, const char *name,
    size_t *lenp)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		*out = NULL;
	size_t		 len = 0;
	FILE		*f;

	if (der == NULL || derlen == 0 || derlen > INT32_MAX ||
	    !EVP_Digest(der, derlen, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != MC_SHA256_LEN)
		return (NULL);
	/* A memory stream: the profile is a few KiB, made in one go. */
	if ((f = open_memstream(&out, &len)) == NULL)
		return (NULL);
	fputs(mc_head, f);
	mc_b64(f, der, derlen);
	mc_tail(f, name, md);
	if (ferror(f)) {
		fclose(f);
		free(out);
		return (NULL);
	}
	if (fclose(f) == EOF) {
		free(out);
		return (NULL);
	}
	*lenp = len;
	return (out);
}
