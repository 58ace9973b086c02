/*
 * TLS session resumption on both sides of a tlsworker (tls.h):
 *
 * Towards upstreams, a per-worker cache of the last session each upstream
 * gave us, keyed by what the handshake depended on: the address we
 * connected to, the server name sent, and whether the certificate was
 * verified. A resumed upstream handshake skips the certificate exchange
 * and its verification; the session keeps the upstream's certificate and
 * verify result, so the leaf and the policy see the same as after a full
 * handshake. Sessions arrive with the handshake (TLS 1.2) or after it, in
 * NewSessionTicket messages (TLS 1.3): the new-session callback files them
 * under the key the SSL carries as ex_data. The table is small and
 * direct-mapped; a collision replaces the older entry.
 *
 * Towards clients, session tickets sealed with keys that master hands to
 * every worker (IMSG_TICKET_KEYS), so a client that resumes lands on any
 * worker. master rotates them; the previous key still opens tickets, which
 * are then renewed under the current one. Before the first key arrives,
 * OpenSSL's own per-context key does the job for this worker alone.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "tlsworker/tls.h"

#define SESS_SLOTS	256	/* upstream sessions kept, a power of 2 */
#define SESS_KEY_MAX	(CERT_NAME_MAX + CERT_NAME_MAX + 16)
#define TICKET_LIFETIME	7200	/* seconds a client ticket is good for */

struct sess_slot {
	char		 ss_key[SESS_KEY_MAX];
	SSL_SESSION	*ss_sess;
};

static struct sess_slot	 sess_table[SESS_SLOTS];
static int		 sess_idx = -1;	/* SSL ex_data: the key, owned */
static uint64_t		 sess_hits, sess_misses;

static struct ticket_keys tk_cur, tk_prev;
static int		 tk_have_cur, tk_have_prev;
static EVP_CIPHER	*tk_cipher;	/* fetched once, not per ticket */

static void
sess_key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

/* FNV-1a: spreads host names well enough for a direct-mapped table. */
static size_t
sess_hash(const char *s)
{
	return util_fnv1a(UTIL_FNV_BASIS, s, strlen(s)) & (SESS_SLOTS - 1);
}

static int
sess_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	const char	 *key = SSL_get_ex_data(ssl, sess_idx);
	struct sess_slot *sl;
	SSL_SESSION	 *copy;

	if (key == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	/* A copy: sess is the connection's own session, which OpenSSL
	 * marks not resumable when the connection ends without a
	 * close_notify, as relayed connections often do. */
	if ((copy = SSL_SESSION_dup(sess)) == NULL)
		return 0;
	sl = &sess_table[sess_hash(key)];
	SSL_SESSION_free(sl->ss_sess);
	util_strlcpy(sl->ss_key, key, sizeof(sl->ss_key));
	sl->ss_sess = copy;
	return 0;
}

void
tls_sess_upstream(SSL *ssl, const char *addr, uint16_t port,
    const char *name, int verify)
{
	char		  key[SESS_KEY_MAX];
	char		 *own;
	struct sess_slot *sl;

	snprintf(key, sizeof(key), "%s|%u|%s|%d", addr, (unsigned)port,
	    name != NULL ? name : "", verify ? 1 : 0);
	if (sess_idx == -1 || (own = strdup(key)) == NULL)
		return;
	if (SSL_set_ex_data(ssl, sess_idx, own) != 1) {
		free(own);
		return;
	}
	sl = &sess_table[sess_hash(key)];
	if (sl->ss_sess != NULL && strcmp(sl->ss_key, key) == 0 &&
	    SSL_SESSION_is_resumable(sl->ss_sess) &&
	    SSL_set_session(ssl, sl->ss_sess) == 1)
		sess_hits++;
	else
		sess_misses++;
}

void
tls_sess_flush(void)
{
	size_t	 i;

	for (i = 0; i < SESS_SLOTS; i++) {
		SSL_SESSION_free(sess_table[i].ss_sess);
		sess_table[i].ss_sess = NULL;
	}
}

void
tls_sess_stats(uint64_t *hits, uint64_t *misses)
{
	*hits = sess_hits;
	*misses = sess_misses;
}

void
tls_ticket_keys(const struct ticket_keys *k)
{
	if (tk_have_cur && memcmp(tk_cur.tk_name, k->tk_name,
	    sizeof(k->tk_name)) == 0)
		return;
	if (tk_have_cur) {
		tk_prev = tk_cur;
		tk_have_prev = 1;
	}
	tk_cur = *k;
	tk_have_cur = 1;
}

static int
ticket_mac_init(EVP_MAC_CTX *hctx, const struct ticket_keys *k)
{
	OSSL_PARAM	 params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)(uintptr_t)k->tk_hmac, sizeof(k->tk_hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/*
 * SSL_CTX_set_tlsext_ticket_key_evp_cb(3): 1 done, 2 (decrypting) done
 * but issue a new ticket, 0 no such key (a full handshake), -1 error.
 */
static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct ticket_keys *k;

	(void)ssl;
	if (!tk_have_cur || tk_cipher == NULL)
		return 0;	/* no ticket yet; master sends keys first */
	if (enc) {
		k = &tk_cur;
		memcpy(name, k->tk_name, sizeof(k->tk_name));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(tk_cipher)) != 1 ||
		    EVP_EncryptInit_ex(cctx, tk_cipher, NULL, k->tk_aes,
		    iv) != 1 || ticket_mac_init(hctx, k) == -1)
			return -1;
		return 1;
	}
	if (memcmp(name, tk_cur.tk_name, sizeof(tk_cur.tk_name)) == 0)
		k = &tk_cur;
	else if (tk_have_prev && memcmp(name, tk_prev.tk_name,
	    sizeof(tk_prev.tk_name)) == 0)
		k = &tk_prev;
	else
		return 0;
	if (ticket_mac_init(hctx, k) == -1 || EVP_DecryptInit_ex(cctx,
	    tk_cipher, NULL, k->tk_aes, iv) != 1)
		return -1;
	return k == &tk_prev ? 2 : 1;
}

void
tls_sess_ctx(SSL_CTX *ctx, int server)
{
	if (sess_idx == -1)
		sess_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    sess_key_free);
	if (tk_cipher == NULL && (tk_cipher = EVP_CIPHER_fetch(NULL,
	    "AES-256-CBC", NULL)) == NULL)
		log_warnx("AES-256-CBC unavailable: no session tickets");
	if (server) {
		/* One ticket per full handshake is enough for a proxy's
		 * clients, and each costs an encryption and a write. */
		SSL_CTX_set_num_tickets(ctx, 1);
		SSL_CTX_set_timeout(ctx, TICKET_LIFETIME);
		/* Stateless: tickets only, no server-side cache to grow. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1)
			log_warnx("cannot install the session ticket keys");
		return;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, sess_new_cb);
}
