/*
 * "mitmctl ca show" and "ca export FORMAT": the CA certificate of the
 * state directory (ca/ca.pem, as certd wrote it), read as root; the key
 * beside it is never opened. The fingerprint is the SHA-256 of the DER,
 * the one the public page shows for users to compare; the mobileconfig
 * is the public page's (common/mobileconfig.c). And "token".
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/flowr.h"
#include "common/mobileconfig.h"
#include "common/util.h"
#include "master/ctl.h"
#include "master/token.h"

#define CA_PEM_PATH	"ca/ca.pem"
#define CA_NAME_MAX	1024
#define CA_TIME_MAX	32
#define CA_DAY_SEC	86400

static X509 *
ca_load(const struct ctl_env *env, char *path, size_t size)
{
	FILE	*f;
	X509	*x;

	if (snprintf(path, size, "%s/%s", env->ce_state_dir, CA_PEM_PATH) >=
	    (int)size)
		ctl_fail("state directory path too long");
	if ((f = fopen(path, "re")) == NULL)
		ctl_fail("%s: %s", path, strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		ctl_fail("%s: no PEM certificate in it", path);
	return (x);
}

static void
ca_name(const X509_NAME *n, char *buf, size_t size)
{
	BIO	*b = BIO_new(BIO_s_mem());
	int	 len;

	buf[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	if ((len = BIO_read(b, buf, (int)size - 1)) > 0)
		buf[len] = '\0';
	BIO_free(b);
}

/* "2036-11-22T03:40:01Z", and seconds since the epoch. */
static time_t
ca_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;
	time_t	  s;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(t, &tm) != 1 || (s = timegm(&tm)) == -1 ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, size, "?");
		return (0);
	}
	return (s);
}

static int
ca_show(const struct ctl_env *env)
{
	char		 path[CONF_PATH_MAX + sizeof(CA_PEM_PATH) + 1];
	char		 subj[CA_NAME_MAX], iss[CA_NAME_MAX];
	char		 nb[CA_TIME_MAX], na[CA_TIME_MAX];
	char		 fp[EVP_MAX_MD_SIZE * 3 + 1], hex[EVP_MAX_MD_SIZE * 2 + 1];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	X509		*x = ca_load(env, path, sizeof(path));
	time_t		 exp;
	long long	 days;

	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
		ctl_fail("%s: cannot hash the certificate", path);
	util_fingerprint(md, mdlen, fp, sizeof(fp));
	util_hex(md, mdlen, hex, sizeof(hex));
	ca_name(X509_get_subject_name(x), subj, sizeof(subj));
	ca_name(X509_get_issuer_name(x), iss, sizeof(iss));
	ca_time(X509_get0_notBefore(x), nb, sizeof(nb));
	exp = ca_time(X509_get0_notAfter(x), na, sizeof(na));
	days = (long long)(exp - time(NULL)) / CA_DAY_SEC;
	X509_free(x);
	if (env->ce_json) {
		printf("{\"path\": ");
		flowr_json_str(stdout, path);
		printf(", \"subject\": ");
		flowr_json_str(stdout, subj);
		printf(", \"issuer\": ");
		flowr_json_str(stdout, iss);
		printf(", \"sha256\": \"%s\", \"sha256_hex\": \"%s\", "
		    "\"not_before\": \"%s\", \"not_after\": \"%s\", "
		    "\"expires_in_days\": %lld}\n", fp, hex, nb, na, days);
	} else
		printf("certificate  %s\nsubject      %s\nissuer       %s\n"
		    "SHA-256      %s\nnot before   %s\nnot after    %s "
		    "(%lld days)\n", path, subj, iss, fp, nb, na, days);
	ctl_output_close(stdout, NULL);
	return (0);
}

enum ca_format {
	CA_FORMAT_PEM,
	CA_FORMAT_DER,		/* also "cer": Windows takes a .cer in DER */
	CA_FORMAT_MOBILECONFIG,	/* the iOS profile, as the public page's */
};

static enum ca_format
ca_format(const char *format)
{
	if (strcmp(format, "pem") == 0)
		return (CA_FORMAT_PEM);
	if (strcmp(format, "der") == 0 || strcmp(format, "cer") == 0)
		return (CA_FORMAT_DER);
	if (strcmp(format, "mobileconfig") == 0)
		return (CA_FORMAT_MOBILECONFIG);
	ctl_usage_err("ca export: \"%s\": the format is pem, der, cer or "
	    "mobileconfig", format);
}

/* The profile webui serves at /mitmd-ca.mobileconfig, byte for byte:
 * the same DER (webui re-encodes the PEM as this does), the same name,
 * the same builder. 1 when written, as PEM_write_X509 says it. */
static int
ca_write_mobileconfig(FILE *f, X509 *x)
{
	unsigned char	*der = NULL;
	char		 name[MOBILECONFIG_NAME_MAX], *mc;
	size_t		 len;
	int		 n, rc;

	if ((n = i2d_X509(x, &der)) <= 0)
		return (0);
	mobileconfig_ca_name(x, name, sizeof(name));
	mc = mobileconfig_make(der, (size_t)n, name, &len);
	OPENSSL_free(der);
	if (mc == NULL)
		return (0);
	rc = fwrite(mc, 1, len, f) == len;
	free(mc);
	return (rc);
}

static int
ca_export(const struct ctl_env *env, const char *format, const char *out)
{
	char		 path[CONF_PATH_MAX + sizeof(CA_PEM_PATH) + 1];
	enum ca_format	 fmt = ca_format(format);
	X509		*x;
	FILE		*f;
	int		 rc;

	if (fmt == CA_FORMAT_DER && (out == NULL || strcmp(out, "-") == 0) &&
	    isatty(STDOUT_FILENO))
		ctl_usage_err("ca export %s: binary, not for a terminal: give "
		    "-o FILE or redirect", format);
	x = ca_load(env, path, sizeof(path));
	f = ctl_output(out);
	switch (fmt) {
	case CA_FORMAT_PEM:
		rc = PEM_write_X509(f, x);
		break;
	case CA_FORMAT_DER:
		rc = i2d_X509_fp(f, x);
		break;
	default:
		rc = ca_write_mobileconfig(f, x);
		break;
	}
	X509_free(x);
	if (rc != 1)
		ctl_fail("%s: cannot write the certificate", out != NULL ?
		    out : "stdout");
	ctl_output_close(f, out);
	return (0);
}

/* argv: "ca", then show | export FORMAT, with -o FILE and -j. */
int
ctl_ca(struct ctl_env *env, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*out = NULL;
	int		 ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "jo:", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			env->ce_json = 1;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			ctl_usage_err("ca: unknown option or missing value: "
			    "%s", argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 1 && strcmp(argv[0], "show") == 0 && out == NULL)
		return (ca_show(env));
	if (argc == 2 && strcmp(argv[0], "export") == 0)
		return (ca_export(env, argv[1], out));
	ctl_usage_err("ca: use ca show, ca export pem|der|cer|mobileconfig "
	    "[-o FILE] or ca rotate");
}

/* The token of "admin token file", with master's checks; or of the
 * state directory. */
static void
ctl_token_get(const struct ctl_env *env, char *tok, size_t size)
{
	char why[TOKEN_WHY_MAX];

	if (env->ce_admin_token_file[0] != '\0') {
		if (token_file_read(env->ce_admin_token_file, tok, size, why,
		    sizeof(why)) == -1)
			ctl_fail("admin token file %s: %s",
			    env->ce_admin_token_file, why);
		return;
	}
	if (token_read(env->ce_state_dir, tok, size) == -1)
		ctl_fail("no admin token in %s/%s: %s (mitmd makes it at "
		    "start)", env->ce_state_dir, TOKEN_NAME, errno == EINVAL ?
		    "not a token" : strerror(errno));
}

/* "token", with -j. A token of "admin token file" is printable ASCII
 * without spaces, but may hold '"' or '\\': escaped for JSON. */
int
ctl_token(struct ctl_env *env, int argc, char *argv[])
{
	char tok[CONF_ADMIN_TOKEN_MAX + 1];

	if (argc != 1)
		ctl_usage_err("token takes no argument: \"%s\"", argv[1]);
	ctl_token_get(env, tok, sizeof(tok));
	if (env->ce_json) {
		printf("{\"token\": ");
		flowr_json_str(stdout, tok);
		printf("}\n");
	} else
		printf("%s\n", tok);
	explicit_bzero(tok, sizeof(tok));
	ctl_output_close(stdout, NULL);
	return (0);
}
