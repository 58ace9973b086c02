/*
 * The iOS and iPadOS configuration profile (.mobileconfig) that installs
 * the mitmd CA: one payload of type com.apple.security.root with the
 * certificate in DER. webui serves it from the public page
 * (webui/page.c) and mitmctl writes it ("ca export mobileconfig",
 * master/ctl_ca.c); both build it here, so the bytes are the same.
 */
#ifndef MITMD_MOBILECONFIG_H
#define MITMD_MOBILECONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define MOBILECONFIG_NAME_MAX	256	/* the CA's name, with its NUL */
#define MOBILECONFIG_B64_LINE	64	/* characters of a base64 line */
#define MOBILECONFIG_UUID_LEN	36	/* "XXXXXXXX-XXXX-...", no NUL */
/* The name the payload gives the certificate file, the one the public
 * page serves the DER under for Windows. */
#define MOBILECONFIG_CER_NAME	"mitmd-ca.cer"

/* The CA's name as the profile and the public page show it: the
 * subject's common name, "(no name)" without one, cut to fit size. */
void	 mobileconfig_ca_name(const X509 *, char *buf, size_t size);
/*
 * The profile for the certificate der (derlen bytes) named name
 * (mobileconfig_ca_name's): XML, malloc'd, its length in *lenp, or NULL
 * when der is empty or memory ran out. A pure function: the same input
 * gives the same bytes, and the profile's UUIDs come from the SHA-256 of
 * the DER, so they stay while the CA stays. The name is escaped; bytes
 * XML cannot carry become '?'.
 */
char	*mobileconfig_make(const uint8_t *der, size_t derlen,
	    const char *name, size_t *lenp);

#endif
