/*
 * The bytes of an admin request that decide who it is and what it asks
 * for: the Authorization header, the session cookie, the login form and
 * the flow filters of a query string. Pure functions on NUL-ended text
 * that evhttp already bounded (WEBUI_MAX_HEADERS_SIZE, the body limit);
 * fuzzed by tests/fuzz/webui_adminreq.c. Secrets are compared in
 * constant time (CRYPTO_memcmp) once the lengths agree; the lengths
 * are not secret (the token is CONF_ADMIN_TOKEN_LEN digits, or what
 * "admin token file" holds: its length tells little of it).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/flowq.h"
#include "common/util.h"
#include "webui/admin.h"

int
admin_secret_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen == 0 || alen != blen)
		return (0);
	return (CRYPTO_memcmp(a, b, alen) == 0);
}

/* "Bearer TOKEN": 1 when TOKEN is the token. The scheme is
 * case-insensitive (RFC 9110); one or more spaces follow it. */
int
admin_bearer_ok(const char *hdr, const char *token)
{
	static const char scheme[] = "Bearer";
	size_t	 n;

	if (hdr == NULL || token[0] == '\0' ||
	    strncasecmp(hdr, scheme, sizeof(scheme) - 1) != 0 ||
	    hdr[sizeof(scheme) - 1] != ' ')
		return (0);
	hdr += sizeof(scheme) - 1;
	while (*hdr == ' ')
		hdr++;
	n = strcspn(hdr, " \t");
	if (hdr[n + strspn(hdr + n, " \t")] != '\0')
		return (0);
	return (admin_secret_eq(hdr, n, token, strlen(token)));
}

/* The session cookie among "a=1; mitmd_admin=HEX; b=2": 1 when its
 * value is the session. */
int
admin_cookie_ok(const char *hdr, const char *session)
{
	const char	*p = hdr, *v;
	size_t		 nlen = strlen(ADMIN_COOKIE), vlen;

	if (hdr == NULL || session[0] == '\0')
		return (0);
	while (*p != '\0') {
		p += strspn(p, " \t;");
		v = p + strcspn(p, ";");
		if ((size_t)(v - p) > nlen && strncmp(p, ADMIN_COOKIE, nlen) ==
		    0 && p[nlen] == '=') {
			vlen = (size_t)(v - p) - nlen - 1;
			while (vlen > 0 && (p[nlen + 1 + vlen - 1] == ' ' ||
			    p[nlen + 1 + vlen - 1] == '\t'))
				vlen--;
			if (admin_secret_eq(p + nlen + 1, vlen, session,
			    strlen(session)))
				return (1);
		}
		p = v;
	}
	return (0);
}

/* The session a login gives: SHA-256 of a label and the token, in hex;
 * it changes with the token and does not reveal it. */
int
admin_session(const char *token, char *out, size_t outsz)
{
	static const char label[] = "mitmd admin session\n";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	EVP_MD_CTX	*c;
	int		 ok;

	if (outsz < ADMIN_SESSION_LEN + 1 || (c = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(c, label, sizeof(label) - 1) &&
	    EVP_DigestUpdate(c, token, strlen(token)) &&
	    EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	if (!ok || mdlen * 2 != ADMIN_SESSION_LEN)
		return (-1);
	for (i = 0; i < mdlen; i++)
		snprintf(out + (size_t)2 * i, 3, "%02x", md[i]);
	return (0);
}

static int
admin_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* application/x-www-form-urlencoded text into out; -1 on a bad escape,
 * a NUL, or when it does not fit. */
int
admin_urldecode(const char *s, size_t len, char *out, size_t outsz)
{
	size_t	 i, o = 0;
	int	 h, l;

	for (i = 0; i < len; i++) {
		if (o + 1 >= outsz)
			return (-1);
		if (s[i] == '+') {
			out[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			if (s[i] == '\0')
				return (-1);
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			return (-1);
		if ((h = admin_hex((unsigned char)s[i + 1])) == -1 ||
		    (l = admin_hex((unsigned char)s[i + 2])) == -1 ||
		    (h == 0 && l == 0))
			return (-1);
		out[o++] = (char)(h * 16 + l);
		i += 2;
	}
	if (outsz == 0)
		return (-1);
	out[o] = '\0';
	return (0);
}

/*
 * Each "key=value" of a form body or a query string, decoded, to fn;
 * empty values are skipped (a filter form sends every field). -1 with
 * err at the first bad pair or when fn refuses one.
 */
int
admin_pairs(const char *s, size_t len, int (*fn)(void *, const char *,
    const char *, char *, size_t), void *arg, char *err, size_t errsz)
{
	char		 key[ADMIN_KEY_MAX], val[FLOWQ_STR_MAX];
	const char	*end = s + len, *amp, *eq;

	while (s < end) {
		amp = memchr(s, '&', (size_t)(end - s));
		if (amp == NULL)
			amp = end;
		if (amp == s) {
			s++;
			continue;
		}
		eq = memchr(s, '=', (size_t)(amp - s));
		if (eq == NULL || admin_urldecode(s, (size_t)(eq - s), key,
		    sizeof(key)) == -1 || admin_urldecode(eq + 1,
		    (size_t)(amp - eq - 1), val, sizeof(val)) == -1) {
			snprintf(err, errsz, "malformed parameter \"%.*s\"",
			    (int)MIN((size_t)(amp - s), ADMIN_SHOW_MAX), s);
			return (-1);
		}
		if (val[0] != '\0' && fn(arg, key, val, err, errsz) == -1)
			return (-1);
		s = amp < end ? amp + 1 : end;
	}
	return (0);
}

struct admin_qarg {
	struct flowq	*qa_fq;
	int64_t		 qa_now;
};

static int
admin_query_one(void *arg, const char *key, const char *val, char *err,
    size_t errsz)
{
	struct admin_qarg *qa = arg;

	return (flowq_set(qa->qa_fq, key, val, qa->qa_now, err, errsz));
}

int
admin_query(struct flowq *fq, const char *q, int64_t now, char *err,
    size_t errsz)
{
	struct admin_qarg qa = { fq, now };

	if (q == NULL)
		return (0);
	return (admin_pairs(q, strlen(q), admin_query_one, &qa, err, errsz));
}

struct admin_farg {
	char	*fa_token;
	size_t	 fa_size;
};

static int
admin_form_one(void *arg, const char *key, const char *val, char *err,
    size_t errsz)
{
	struct admin_farg *fa = arg;

	(void)err;
	(void)errsz;
	if (strcmp(key, "token") == 0 && strlen(val) < fa->fa_size)
		memcpy(fa->fa_token, val, strlen(val) + 1);
	return (0);
}

/* The "token" field of the login form; "" when it has none. */
int
admin_form_token(const char *body, size_t len, char *out, size_t outsz)
{
	struct admin_farg fa = { out, outsz };
	char		  err[ADMIN_ERR_MAX];

	if (outsz == 0)
		return (-1);
	out[0] = '\0';
	return (admin_pairs(body, len, admin_form_one, &fa, err, sizeof(err)));
}

/* "/api/flows/123" with prefix "/api/flows/": 0 and the id; -1 when
 * what follows is not a decimal flow id. */
int
admin_flow_id(const char *path, const char *prefix, int64_t *id)
{
	size_t		 n = strlen(prefix), i;
	int64_t		 v = 0;

	if (strncmp(path, prefix, n) != 0)
		return (-1);
	path += n;
	for (i = 0; path[i] != '\0'; i++) {
		if (!isdigit((unsigned char)path[i]) || i >= ADMIN_ID_DIGITS)
			return (-1);
		v = v * 10 + (path[i] - '0');
	}
	if (i == 0 || v <= 0)
		return (-1);
	*id = v;
	return (0);
}
