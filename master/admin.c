/*
 * The admin listener's side in master: the files of "admin certificate"
 * read at start, for -n and on reload (master opens files, webui parses
 * them), and the leaf master asks certd for when no certificate is
 * configured: a certificate of the mitmd CA for "localhost" and the
 * listen address. certd answers with the leaf key (IMSG_LEAF_KEY) and
 * the certificate (IMSG_CERT_REP) on master's channel; master hands
 * both, or the configured PEM, to webui with the token and the clients
 * allowed (IMSG_CONF_ADMIN, IMSG_ADMIN_CERT). The CA key stays in certd.
 * The token is the state directory's admin.token, or the one "admin
 * token file" names, read with the certificate.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "master/admin.h"
#include "master/master.h"
#include "master/token.h"

#define ADMIN_LEAF_DAYS		365	/* asked for; certd clamps to the CA */
#define ADMIN_SEC_PER_DAY	86400
#define ADMIN_BACKDATE_SEC	3600	/* clocks of clients that lag */
#define ADMIN_CERT_REQID	1	/* master asks for one leaf at a time */

/* The leaf certd issued for the admin listener, and its key (DER). */
static struct {
	uint8_t	*al_key;
	size_t	 al_keylen;
	uint8_t	*al_cert;
	size_t	 al_certlen;
	int	 al_asked;
} admin_leaf;

/* Read one file of at most CONF_ADMIN_PEM_MAX bytes that holds a PEM
 * block whose label ends with what ("CERTIFICATE", "PRIVATE KEY"). */
static char *
admin_read(const struct mitmd_conf *c, const char *kind, const char *path,
    const char *what, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL, begin[64];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		log_warnx("%s:%d: admin %s \"%s\": not a regular file",
		    c->mc_file, c->mc_admin_cert_line, kind, path);
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > CONF_ADMIN_PEM_MAX) {
		log_warnx("%s:%d: admin %s \"%s\": %lld bytes, expected 1 to "
		    "%d", c->mc_file, c->mc_admin_cert_line, kind, path,
		    (long long)st.st_size, CONF_ADMIN_PEM_MAX);
		goto out;
	}
	if ((buf = calloc(1, (size_t)st.st_size + 1)) == NULL ||
	    (n = read(fd, buf, (size_t)st.st_size)) == -1)
		goto fail;
	buf[n] = '\0';
	snprintf(begin, sizeof(begin), "%s-----", what);
	if (strstr(buf, "-----BEGIN ") == NULL || strstr(buf, begin) == NULL) {
		log_warnx("%s:%d: admin %s \"%s\": no PEM %s in it",
		    c->mc_file, c->mc_admin_cert_line, kind, path, what);
		goto out;
	}
	close(fd);
	*lenp = (size_t)n;
	return (buf);
fail:
	log_warnx("%s:%d: admin %s \"%s\": %s", c->mc_file,
	    c->mc_admin_cert_line, kind, path, strerror(errno));
out:
	free(buf);
	if (fd != -1)
		close(fd);
	return (NULL);
}

/* "admin token file": read here, as root, at start, for -n and on each
 * reload, so a reload picks up a new token and a bad file is refused
 * like a bad config line. */
static int
admin_token_load(struct mitmd_conf *c)
{
	char why[TOKEN_WHY_MAX];

	if (c->mc_admin_token_file[0] == '\0')
		return (0);
	if (token_file_read(c->mc_admin_token_file, c->mc_admin_token,
	    sizeof(c->mc_admin_token), why, sizeof(why)) == -1) {
		log_warnx("%s:%d: admin token file \"%s\": %s", c->mc_file,
		    c->mc_admin_token_line, c->mc_admin_token_file, why);
		return (-1);
	}
	return (0);
}

int
conf_admin_load(struct mitmd_conf *c)
{
	int rv = admin_token_load(c);

	if (c->mc_admin_cert[0] == '\0')
		return (rv);
	if ((c->mc_admin_cert_pem = admin_read(c, "certificate",
	    c->mc_admin_cert, "CERTIFICATE", &c->mc_admin_cert_len)) == NULL ||
	    (c->mc_admin_key_pem = admin_read(c, "key", c->mc_admin_key,
	    "PRIVATE KEY", &c->mc_admin_key_len)) == NULL)
		return (-1);
	return (rv);
}

static const struct conf_listener *
admin_listener(const struct mitmd_conf *c)
{
	size_t i;

	for (i = 0; i < c->mc_nlisteners; i++)
		if (c->mc_listeners[i].cl_kind == LISTENER_ADMIN)
			return (&c->mc_listeners[i]);
	return (NULL);
}

static int
admin_send_cert(struct ipc_chan *chan, uint32_t format, const void *cert,
    size_t certlen, const void *key, size_t keylen)
{
	struct admin_cert	 ac;
	uint8_t			*blob;
	int			 rv;

	if (certlen + keylen > ADMIN_CERT_MAX ||
	    (blob = malloc(certlen + keylen)) == NULL)
		return (-1);
	memset(&ac, 0, sizeof(ac));
	ac.ac_format = format;
	ac.ac_certlen = (uint32_t)certlen;
	ac.ac_keylen = (uint32_t)keylen;
	memcpy(blob, cert, certlen);
	memcpy(blob + certlen, key, keylen);
	rv = ipc_send_blob(chan, IMSG_ADMIN_CERT, 0, &ac, sizeof(ac), blob,
	    certlen + keylen);
	explicit_bzero(blob, certlen + keylen);
	free(blob);
	return (rv);
}

/* To webui with each configuration set: who may connect, the token, and
 * the certificate when there is one to give. */
void
admin_send_conf(struct ipc_chan *chan)
{
	const struct mitmd_conf *c = master->m_conf;
	struct conf_admin	 ca;
	size_t			 i;

	if (admin_listener(c) == NULL)
		return;
	memset(&ca, 0, sizeof(ca));
	ca.cad_nallow = (uint32_t)c->mc_nadmin_allow;
	for (i = 0; i < c->mc_nadmin_allow; i++)
		ca.cad_allow[i] = c->mc_admin_allow[i].ca_cidr;
	if (c->mc_admin_token_file[0] != '\0')
		util_strlcpy(ca.cad_token, c->mc_admin_token,
		    sizeof(ca.cad_token));
	else if (token_read(c->mc_state_dir, ca.cad_token,
	    sizeof(ca.cad_token)) == -1) {
		log_warn("admin token in %s", c->mc_state_dir);
		ca.cad_token[0] = '\0';	/* webui then lets nobody in */
	}
	ipc_send_conf_admin(chan, 0, -1, &ca);
	explicit_bzero(&ca, sizeof(ca));
	if (c->mc_admin_cert_pem != NULL)
		(void)admin_send_cert(chan, ADMIN_CERT_PEM,
		    c->mc_admin_cert_pem, c->mc_admin_cert_len,
		    c->mc_admin_key_pem, c->mc_admin_key_len);
	else if (admin_leaf.al_cert != NULL)
		(void)admin_send_cert(chan, ADMIN_CERT_DER, admin_leaf.al_cert,
		    admin_leaf.al_certlen, admin_leaf.al_key,
		    admin_leaf.al_keylen);
}

/* When certd is up (its CA certificate came): ask it for the admin
 * listener's leaf, once, when no certificate is configured. */
void
admin_ask_certd(struct ipc_chan *certd)
{
	const struct mitmd_conf		*c = master->m_conf;
	const struct conf_listener	*l = admin_listener(c);
	struct cert_req			 rq;
	time_t				 now = time(NULL);

	if (l == NULL || c->mc_admin_cert_pem != NULL ||
	    admin_leaf.al_cert != NULL || admin_leaf.al_asked)
		return;
	memset(&rq, 0, sizeof(rq));
	rq.cq_not_before = (uint64_t)(now - ADMIN_BACKDATE_SEC);
	rq.cq_not_after = (uint64_t)now + (uint64_t)ADMIN_LEAF_DAYS *
	    ADMIN_SEC_PER_DAY;
	/* The cache key: one leaf for this purpose. */
	memset(rq.cq_key, 'A', sizeof(rq.cq_key));
	util_strlcpy(rq.cq_cn, "localhost", sizeof(rq.cq_cn));
	rq.cq_names[0].cn_type = CERT_NAME_DNS;
	util_strlcpy(rq.cq_names[0].cn_name, "localhost",
	    sizeof(rq.cq_names[0].cn_name));
	rq.cq_nnames = 1;
	if (l->cl_addr.a_family != AF_UNSPEC) {
		rq.cq_names[1].cn_type = CERT_NAME_IP;
		addr_str(&l->cl_addr, 0, rq.cq_names[1].cn_name,
		    sizeof(rq.cq_names[1].cn_name));
		rq.cq_nnames = 2;
	}
	if (ipc_send_cert_req(certd, ADMIN_CERT_REQID, -1, &rq) == 0)
		admin_leaf.al_asked = 1;
}

static int
admin_keep(uint8_t **dst, size_t *dstlen, const uint8_t *src, size_t len)
{
	uint8_t *copy;

	if ((copy = malloc(len)) == NULL)
		return (-1);
	memcpy(copy, src, len);
	if (*dst != NULL) {
		explicit_bzero(*dst, *dstlen);
		free(*dst);
	}
	*dst = copy;
	*dstlen = len;
	return (0);
}

/* certd's IMSG_LEAF_KEY and IMSG_CERT_REP on master's channel. */
void
admin_on_certd(struct ipc_msg *m)
{
	const uint8_t	*blob;
	size_t		 len;
	struct leaf_key	 lk;
	struct cert_rep	 rep;
	struct proc	*w;

	if (m->im_hdr.ih_type == IMSG_LEAF_KEY) {
		if (ipc_get_blob(m, IMSG_LEAF_KEY, &lk, sizeof(lk), &blob,
		    &len) == 0 && len > 0)
			(void)admin_keep(&admin_leaf.al_key,
			    &admin_leaf.al_keylen, blob, len);
		return;
	}
	admin_leaf.al_asked = 0;
	if (ipc_get_blob(m, IMSG_CERT_REP, &rep, sizeof(rep), &blob,
	    &len) == -1 || !rep.crp_ok || len == 0 ||
	    admin_leaf.al_key == NULL) {
		log_warnx("certd refused the admin listener's certificate");
		return;
	}
	if (admin_keep(&admin_leaf.al_cert, &admin_leaf.al_certlen, blob,
	    len) == -1)
		return;
	log_info("admin listener: certificate of the mitmd CA for "
	    "localhost, from certd");
	if ((w = proc_find_role(ROLE_WEBUI)) != NULL && proc_alive(w))
		(void)admin_send_cert(w->p_chan, ADMIN_CERT_DER,
		    admin_leaf.al_cert, admin_leaf.al_certlen,
		    admin_leaf.al_key, admin_leaf.al_keylen);
}
