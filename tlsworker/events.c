/*
 * Events, schema v1: the encoder behind tlsworker/events.h. Each call
 * encodes one JSON object into a static buffer (one event loop, no
 * threads, so one buffer serves every flow) and adds it to the batch of
 * this pass of the event loop, which goes to webui as one IMSG_EVENT
 * (ev_queue); the schema is mitmd-events(5).
 *
 * Why not jansson: the worker would build a tree of small allocations
 * per event (a head of 100 fields is ~300 of them) only to print it, and
 * jansson refuses strings that are not UTF-8, which header bytes from the
 * network often are not, so every value would need a pass of our own
 * first anyway. Writing the text straight into a bounded buffer is one
 * pass, allocates nothing, and lets an oversized event be cut down
 * member by member instead of failing.
 *
 * Strings: bytes of valid UTF-8 sequences are copied; '"', '\\' and
 * control characters (and DEL) are escaped (\n, \r, \t, \b, \f, else
 * \u00XX); every byte that is not part of a valid UTF-8 sequence
 * (overlong forms, surrogates, code points past U+10FFFF, stray
 * continuation bytes) becomes U+FFFD, written "\ufffd". The output is
 * valid UTF-8 JSON without any raw control character, so one event is
 * always one line.
 *
 * Size: an event never exceeds IPC_EVENT_MAX. Long strings (targets,
 * header values, details) are cut at EV_STR_MAX input bytes, on a
 * character boundary; a member that does not fit is left out, header
 * pairs from the first that does not fit on; any of these adds
 * "truncated":true. An event is never dropped for its size: seq has no
 * gaps but those of events webui could not get (see ev_off, ev_emit).
 *
 * Exchanges: ev_request_headers() advances ef_stream (1 for the first
 * request of a flow), and the response and body events that follow carry
 * it. A body's chunk events end with one whose last is set; capture
 * starts over with each body, at the size in force when it starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "common/ipc.h"
#include "common/utf8.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "tlsworker/events.h"
#include "tlsworker/http1.h"

/* Room kept past ee_lim for what closes an event: "]" of the headers
 * and ,"truncated":true}. */
#define EV_TAIL_MAX	 64
/* Input bytes of one string value (target, URL, header value, detail). */
#define EV_STR_MAX	 8192
#define EV_NUM_MAX	 24		/* "18446744073709551615" */
#define EV_TS_MAX	 40		/* "2026-11-22T03:40:01.123456Z" */
#define EV_SHA256_LEN	 32
#define EV_VERSION_MAX	 sizeof("HTTP/1.4294967295")
#define EV_URL_PREFIX	 (HOSTPAT_MAXLEN + sizeof("https://[]:65535"))
/* Lost events are logged at most this often. */
#define EV_LOG_USEC	 (10 * 1000000ULL)
#define EV_PORT_HTTP	 80
#define EV_PORT_HTTPS	 443

struct ev_enc {
	char	 ee_buf[IPC_EVENT_MAX];
	size_t	 ee_len;
	size_t	 ee_lim;	/* members stay below; the tail may pass */
	int	 ee_full;	/* the last write did not fit */
	int	 ee_trunc;	/* something was cut or left out */
};

static struct ipc_chan	*ev_sink;
static int		 ev_on = 1;	/* someone takes events */
/* Events waiting for the end of the event loop's pass, newline between
 * them: one IMSG_EVENT for all (see ev_queue). */
static char		 ev_batch[IPC_EVENT_MAX];
static size_t		 ev_batch_len;
static uint32_t		 ev_batch_n;
static struct event	*ev_flush_ev;
static uint32_t		 ev_capture;	/* bytes of each body */
static struct ev_enc	 ev_enc;
static uint64_t		 ev_lost;	/* events webui did not get */
static uint64_t		 ev_lost_logged;
static uint64_t		 ev_lost_when;	/* monotonic usec of the last log */

static const char ev_hex[] = "0123456789abcdef";

static void	ev_body_pending(struct ev_flow *, struct ev_xchg *, int);

static void	ev_log_lost(void);

/* Send the batch now: one message, whatever the number of events. */
void
ev_flush(void)
{
	if (ev_batch_n == 0)
		return;
	if (ev_sink == NULL ||
	    ipc_send_event(ev_sink, ev_batch, ev_batch_len) == -1) {
		ev_lost += ev_batch_n;
		ev_log_lost();
	}
	ev_batch_len = 0;
	ev_batch_n = 0;
}

static void
ev_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ev_flush();
}

/* The worker exits with exit(): the batch of its last pass goes first. */
static void
ev_flush_atexit(void)
{
	ev_flush();
}

/* An orderly exit (worker_exit): the batch, then the channel's queue
 * written out (webui reads to the end of it before it stops). */
void
ev_exit_flush(void)
{
	ev_flush();
	ipc_chan_flush(ev_sink);
}

/*
 * A channel replaced by a new one is gone already: the batch goes to
 * the new one. No channel: the events waiting are lost.
 */
void
ev_set_sink(struct ipc_chan *c)
{
	ev_sink = c;
	if (c == NULL) {
		ev_flush();	/* counts them lost */
		return;
	}
	if (ev_flush_ev == NULL) {
		ev_flush_ev = event_new(ipc_chan_base(c), -1, 0, ev_flush_cb,
		    NULL);
		if (ev_flush_ev != NULL && atexit(ev_flush_atexit) != 0)
			log_warnx("events: cannot flush at exit");
	}
}

/*
 * Queue one event: it goes with the others of this pass of the event
 * loop, in one message sent once the pass's callbacks are done (an
 * active event runs after those already active), or sooner when the
 * next one would not fit. Order is kept: one queue, one channel.
 */
static void
ev_queue(const char *p, size_t n)
{
	if (ev_batch_n > 0 && ev_batch_len + 1 + n > sizeof(ev_batch))
		ev_flush();
	if (ev_batch_n > 0)
		ev_batch[ev_batch_len++] = '\n';
	memcpy(ev_batch + ev_batch_len, p, n);
	ev_batch_len += n;
	if (ev_batch_n++ > 0)
		return;
	if (ev_flush_ev != NULL)
		event_active(ev_flush_ev, EV_TIMEOUT, 0);
	else
		ev_flush();
}

void
ev_set_enabled(int on)
{
	ev_on = on != 0;
}

int
ev_enabled(void)
{
	return ev_on;
}

void
ev_set_capture(uint32_t kib)
{
	if (kib > CONF_CAPTURE_MAX_KIB)
		kib = CONF_CAPTURE_MAX_KIB;
	ev_capture = kib * 1024;
}

void
ev_flow_init(struct ev_flow *f, uint64_t id, const struct addr *client)
{
	memset(f, 0, sizeof(*f));
	f->ef_id = id;
	if (client != NULL)
		f->ef_client = *client;
	/* formatted once: every event of the flow carries it */
	if (f->ef_client.a_family != AF_UNSPEC)
		addr_str(&f->ef_client, 1, f->ef_client_str,
		    sizeof(f->ef_client_str));
	f->ef_protocol = "tcp";
}

static void
ev_body_free(struct ev_body *b)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)b->eb_md);
	b->eb_md = NULL;
	free(b->eb_cap_buf);
	b->eb_cap_buf = NULL;
	b->eb_cap_size = 0;
	b->eb_cap_len = 0;
}

void
ev_flow_free(struct ev_flow *f)
{
	ev_body_free(&f->ef_x.ex_body[0]);
	ev_body_free(&f->ef_x.ex_body[1]);
}

void
ev_x_init(struct ev_xchg *x, uint32_t stream)
{
	memset(x, 0, sizeof(*x));
	x->ex_stream = stream;
}

void
ev_set_target(struct ev_flow *f, const char *host, uint16_t port)
{
	util_strlcpy(f->ef_host, host != NULL ? host : "", sizeof(f->ef_host));
	f->ef_port = port;
}

/* SHA-256, fetched once: EVP_sha256() in EVP_DigestInit_ex() looks the
 * implementation up again at each body. */
static const EVP_MD *
ev_md_sha256(void)
{
	static EVP_MD	*md;

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return md != NULL ? md : EVP_sha256();
}

/* --- the JSON writer ---------------------------------------------------- */

/* All or nothing: a write that would pass ee_lim writes nothing. */
static void
ev_put(struct ev_enc *e, const char *p, size_t n)
{
	if (e->ee_full || n > e->ee_lim - e->ee_len) {
		e->ee_full = 1;
		return;
	}
	memcpy(e->ee_buf + e->ee_len, p, n);
	e->ee_len += n;
}

static void
ev_puts(struct ev_enc *e, const char *s)
{
	ev_put(e, s, strlen(s));
}

/* What closes an event: uses the room kept past ee_lim. */
static void
ev_put_tail(struct ev_enc *e, const char *s)
{
	size_t n = strlen(s);

	if (n <= sizeof(e->ee_buf) - e->ee_len) {
		memcpy(e->ee_buf + e->ee_len, s, n);
		e->ee_len += n;
	}
}

/*
 * A member is written whole or not at all: the caller takes a mark
 * before it and ends it with ev_end_member(), which drops a member that
 * did not fit.
 */
static size_t
ev_mark(const struct ev_enc *e)
{
	return e->ee_len;
}

static int
ev_end_member(struct ev_enc *e, size_t mark)
{
	if (!e->ee_full)
		return 0;
	e->ee_len = mark;
	e->ee_full = 0;
	e->ee_trunc = 1;
	return -1;
}

/* The escape of one ASCII byte that JSON or a line reader cannot take
 * raw; NULL for a byte copied as it is. */
static const char *
ev_escape(unsigned char c, char tmp[7])
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	default:
		break;
	}
	if (c >= 0x20 && c != 0x7f)
		return NULL;
	tmp[0] = '\\';
	tmp[1] = 'u';
	tmp[2] = '0';
	tmp[3] = '0';
	tmp[4] = ev_hex[c >> 4];
	tmp[5] = ev_hex[c & 0xf];
	tmp[6] = '\0';
	return tmp;
}

/*
 * The characters of a JSON string, without its quotes: n bytes at s,
 * escaped. cut: when they do not all fit (or are more than EV_STR_MAX),
 * write as many as fit, whole characters only, keep one byte for the
 * closing quote, and mark the event truncated; without cut a string that
 * does not fit fails the member. *budget counts down the input bytes
 * this string may still take (EV_STR_MAX for one value).
 */
static void
ev_chars(struct ev_enc *e, const char *s, size_t n, int cut, size_t *budget)
{
	const unsigned char *p = (const unsigned char *)s;
	const char	*esc;
	char		 tmp[7];
	size_t		 i = 0, k, room, out;

	if (cut && n > *budget) {
		n = *budget;
		e->ee_trunc = 1;
	}
	*budget -= n;
	while (i < n && !e->ee_full) {
		/* Runs of plain ASCII in one copy. */
		for (k = i; k < n && p[k] >= 0x20 && p[k] < 0x7f &&
		    p[k] != '"' && p[k] != '\\'; k++)
			;
		if (k > i) {
			room = e->ee_lim - e->ee_len;
			if (cut && k - i + 1 > room) {
				k = i + (room > 0 ? room - 1 : 0);
				e->ee_trunc = 1;
				ev_put(e, s + i, k - i);
				return;
			}
			ev_put(e, s + i, k - i);
			i = k;
			continue;
		}
		if (p[i] < 0x80) {
			esc = ev_escape(p[i], tmp);
			k = 1;
		} else if ((k = utf8_seq_len(p + i, n - i)) == 0) {
			esc = "\\ufffd";
			k = 1;
		} else
			esc = NULL;
		out = esc != NULL ? strlen(esc) : k;
		if (cut && out + 1 > e->ee_lim - e->ee_len) {
			e->ee_trunc = 1;
			return;
		}
		if (esc != NULL)
			ev_put(e, esc, out);
		else
			ev_put(e, s + i, k);
		i += k;
	}
}

static void
ev_str_raw(struct ev_enc *e, const char *s, size_t n, int cut)
{
	size_t budget = EV_STR_MAX;

	ev_put(e, "\"", 1);
	ev_chars(e, s, n, cut, &budget);
	ev_put(e, "\"", 1);
}

static void
ev_key(struct ev_enc *e, const char *key)
{
	ev_put(e, ",\"", 2);
	ev_puts(e, key);
	ev_put(e, "\":", 2);
}

/* A string member; NULL writes null. Long values are cut. */
static void
ev_str(struct ev_enc *e, const char *key, const char *s)
{
	size_t mark = ev_mark(e);

	ev_key(e, key);
	if (s == NULL)
		ev_puts(e, "null");
	else
		ev_str_raw(e, s, strlen(s), 1);
	ev_end_member(e, mark);
}

static void
ev_strn(struct ev_enc *e, const char *key, const char *s, size_t n)
{
	size_t mark = ev_mark(e);

	ev_key(e, key);
	ev_str_raw(e, s, n, 1);
	ev_end_member(e, mark);
}

/* The decimal digits of v in buf (EV_NUM_MAX bytes, no NUL); how many.
 * snprintf cost more than the rest of a member. */
static size_t
ev_digits(char *buf, uint64_t v)
{
	char	 rev[EV_NUM_MAX];
	size_t	 n = 0, i;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof(rev));
	for (i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	return n;
}

static void
ev_uint(struct ev_enc *e, const char *key, uint64_t v)
{
	char	 num[EV_NUM_MAX];
	size_t	 n, mark = ev_mark(e);

	n = ev_digits(num, v);
	ev_key(e, key);
	ev_put(e, num, n);
	ev_end_member(e, mark);
}

static void
ev_bool(struct ev_enc *e, const char *key, int v)
{
	size_t mark = ev_mark(e);

	ev_key(e, key);
	ev_puts(e, v ? "true" : "false");
	ev_end_member(e, mark);
}

static void
ev_null(struct ev_enc *e, const char *key)
{
	size_t mark = ev_mark(e);

	ev_key(e, key);
	ev_puts(e, "null");
	ev_end_member(e, mark);
}

/*
 * "2026-11-22T03:40:01.123456Z". The part up to the seconds is formatted
 * once a second (gmtime_r and strftime cost as much as the rest of an
 * event), the microseconds each time.
 */
static void
ev_timestamp_at(char *buf, size_t sz, uint64_t usec)
{
	static time_t	 last = (time_t)-1;
	static char	 secs[EV_TS_MAX];
	static size_t	 secslen;
	time_t		 sec = (time_t)(usec / 1000000);
	unsigned	 frac = (unsigned)(usec % 1000000);
	struct tm	 tm;
	size_t		 i;

	if (sec != last) {
		last = (time_t)-1;
		if (gmtime_r(&sec, &tm) == NULL || (secslen = strftime(secs,
		    sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
			util_strlcpy(buf, "1970-01-01T00:00:00.000000Z", sz);
			return;
		}
		last = sec;
	}
	if (secslen + sizeof(".123456Z") > sz) {
		util_strlcpy(buf, "1970-01-01T00:00:00.000000Z", sz);
		return;
	}
	memcpy(buf, secs, secslen);
	buf[secslen] = '.';
	for (i = 6; i > 0; i--) {
		buf[secslen + i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	memcpy(buf + secslen + 7, "Z", 2);
}

/* The members every event has, in this order. */
static struct ev_enc *
ev_begin(struct ev_flow *f, const char *type)
{
	struct ev_enc	*e = &ev_enc;
	char		 ts[EV_TS_MAX];

	e->ee_len = 0;
	e->ee_lim = sizeof(e->ee_buf) - EV_TAIL_MAX;
	e->ee_full = 0;
	e->ee_trunc = 0;
	ev_timestamp_at(ts, sizeof(ts), util_wall_usec());
	ev_puts(e, "{\"v\":1");
	ev_str(e, "type", type);
	ev_uint(e, "flow_id", f->ef_id);
	ev_uint(e, "seq", f->ef_seq);
	ev_str(e, "ts", ts);
	if (f->ef_client_str[0] == '\0')
		ev_null(e, "client_addr");
	else
		ev_str(e, "client_addr", f->ef_client_str);
	if (f->ef_host[0] == '\0')
		ev_null(e, "server_host");
	else
		ev_str(e, "server_host", f->ef_host);
	if (f->ef_port == 0)
		ev_null(e, "server_port");
	else
		ev_uint(e, "server_port", f->ef_port);
	ev_str(e, "protocol", f->ef_protocol);
	return e;
}

static void
ev_log_lost(void)
{
	uint64_t now = util_now_usec();

	if (ev_lost == ev_lost_logged || (ev_lost_when != 0 &&
	    now - ev_lost_when < EV_LOG_USEC))
		return;
	log_warnx("events: %llu lost so far: webui does not keep up or is "
	    "restarting", (unsigned long long)ev_lost);
	ev_lost_logged = ev_lost;
	ev_lost_when = now;
}

/*
 * Close the event and queue it. seq advances whether or not the queue
 * took it: a consumer that sees a gap knows events were lost (webui was
 * restarting, or did not read and the channel's bounded queue was full),
 * which is better than a silent hole.
 */
static void
ev_emit(struct ev_flow *f, struct ev_enc *e)
{
	if (e->ee_trunc)
		ev_put_tail(e, ",\"truncated\":true");
	ev_put_tail(e, "}");
	f->ef_seq++;
	ev_queue(e->ee_buf, e->ee_len);
}

/* --- one function per event type --------------------------------------- */

/*
 * No channel to webui (none yet, or webui is being respawned): nothing is
 * encoded, but the event still takes its seq, so that the flow's events
 * that do arrive show the gap.
 */
static int
ev_off(struct ev_flow *f)
{
	if (!ev_on)
		return 1;	/* no consumer: seq means nothing */
	if (ev_sink != NULL)
		return 0;
	f->ef_seq++;
	return 1;
}

void
ev_connect_received(struct ev_flow *f, const char *method, const char *mode)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "connect_received");
	ev_str(e, "method", method);
	ev_str(e, "mode", mode);
	ev_emit(f, e);
}

void
ev_connect_decision(struct ev_flow *f, const char *action,
    uint32_t rule_index, uint32_t rule_line)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "connect_decision");
	ev_str(e, "action", action);
	/* as in the audit lines: the rule's index, "default" or
	 * "passthrough" */
	if (rule_index == 0)
		ev_str(e, "rule", "default");
	else if (rule_index == EV_RULE_PASSTHROUGH)
		ev_str(e, "rule", "passthrough");
	else if (rule_index == EV_RULE_REVERSE)
		ev_str(e, "rule", "reverse");
	else
		ev_uint(e, "rule", rule_index);
	ev_uint(e, "line", rule_line);
	ev_emit(f, e);
}

static const char *
ev_side(int side)
{
	switch (side) {
	case TLS_SIDE_CLIENT:
		return "client";
	case TLS_SIDE_UPSTREAM:
		return "upstream";
	default:
		return "unknown";
	}
}

void
ev_tls_started(struct ev_flow *f, int side, const char *sni)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "tls_handshake_started");
	ev_str(e, "side", ev_side(side));
	ev_str(e, "sni", sni);
	ev_emit(f, e);
}

void
ev_tls_succeeded(struct ev_flow *f, int side, const char *version,
    const char *cipher, const char *alpn)
{
	struct ev_enc *e;

	if (side == TLS_SIDE_CLIENT)
		f->ef_tls = 1;
	if (ev_off(f))
		return;
	e = ev_begin(f, "tls_handshake_succeeded");
	ev_str(e, "side", ev_side(side));
	ev_str(e, "tls_version", version);
	ev_str(e, "cipher", cipher);
	ev_str(e, "alpn", alpn);
	ev_emit(f, e);
}

void
ev_tls_failed(struct ev_flow *f, int side, uint32_t reason,
    const char *detail)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "tls_handshake_failed");
	ev_str(e, "side", ev_side(side));
	ev_str(e, "tls_failure_reason", tls_failure_name(reason));
	ev_str(e, "detail", detail);
	ev_emit(f, e);
}

/* [["name","value"],...], last: the pairs that fit, in order. */
static void
ev_headers(struct ev_enc *e, const struct http1_head *h)
{
	const struct http1_field *fl;
	size_t	 i, mark = ev_mark(e), pair;

	ev_key(e, "headers");
	ev_put(e, "[", 1);
	if (ev_end_member(e, mark) == -1)
		return;
	for (i = 0; i < h->hh_nfields; i++) {
		fl = &h->hh_fields[i];
		pair = ev_mark(e);
		if (i > 0)
			ev_put(e, ",", 1);
		ev_put(e, "[", 1);
		ev_str_raw(e, http1_str(h, fl->hf_name), fl->hf_name.hs_len, 0);
		ev_put(e, ",", 1);
		/* a long value is cut, leaving room for the "]" after it */
		e->ee_lim--;
		ev_str_raw(e, http1_str(h, fl->hf_value), fl->hf_value.hs_len,
		    1);
		e->ee_lim++;
		ev_put(e, "]", 1);
		if (ev_end_member(e, pair) == -1)
			break;	/* and every pair after it */
	}
	ev_put_tail(e, "]");
}

static void
ev_version(struct ev_enc *e, const struct http1_head *h)
{
	char v[EV_VERSION_MAX];

	snprintf(v, sizeof(v), "HTTP/1.%d", h->hh_minor);
	ev_str(e, "http_version", v);
}

/*
 * The scheme of an origin-form target. Such a request arrives on a
 * CONNECT tunnel, and struct ev_flow does not say whether the client side
 * is TLS: port 80 is taken for cleartext, everything else for TLS. When
 * the flow learns it (a field set by ev_tls_succeeded), this is where it
 * goes.
 */
static const char *
ev_scheme(const struct ev_flow *f)
{
	/* Origin-form requests come only inside a CONNECT tunnel: https when
	 * the client side speaks TLS, http when it sent HTTP in clear. */
	return f->ef_tls ? "https" : "http";
}

/* The absolute URL of a request: an absolute-form target is one already;
 * an origin-form one gets the scheme and the flow's authority; others
 * ("*", authority-form) have none. */
static void
ev_url(struct ev_enc *e, const struct ev_flow *f, const char *t, size_t tlen)
{
	char	 pre[EV_URL_PREFIX], port[sizeof(":65535")];
	const char *scheme;
	size_t	 mark, n, budget = EV_STR_MAX;
	int	 v6;

	if (tlen > 0 && t[0] != '/' && strstr(t, "://") != NULL) {
		ev_strn(e, "url", t, tlen);
		return;
	}
	if (tlen == 0 || t[0] != '/' || f->ef_host[0] == '\0') {
		ev_null(e, "url");
		return;
	}
	scheme = ev_scheme(f);
	port[0] = '\0';
	if (f->ef_port != 0 && f->ef_port != (strcmp(scheme, "http") == 0 ?
	    EV_PORT_HTTP : EV_PORT_HTTPS))
		snprintf(port, sizeof(port), ":%u", (unsigned)f->ef_port);
	v6 = strchr(f->ef_host, ':') != NULL;
	n = (size_t)snprintf(pre, sizeof(pre), "%s://%s%s%s%s", scheme,
	    v6 ? "[" : "", f->ef_host, v6 ? "]" : "", port);
	if (n >= sizeof(pre))
		n = sizeof(pre) - 1;
	/* The host came from the network too: both parts are escaped. */
	mark = ev_mark(e);
	ev_key(e, "url");
	ev_put(e, "\"", 1);
	ev_chars(e, pre, n, 1, &budget);
	budget = EV_STR_MAX;
	ev_chars(e, t, tlen, 1, &budget);
	ev_put(e, "\"", 1);
	ev_end_member(e, mark);
}

/* A new message on the exchange: its body starts from nothing. */
static void
ev_body_reset(struct ev_body *b)
{
	EVP_MD_CTX *md = (EVP_MD_CTX *)b->eb_md;

	b->eb_len = 0;
	b->eb_sent = 0;
	b->eb_capture_left = ev_capture;
	b->eb_cap_len = 0;
	free(b->eb_cap_buf);	/* only bodies being read hold one */
	b->eb_cap_buf = NULL;
	b->eb_cap_size = 0;
	if (md == NULL && (md = EVP_MD_CTX_new()) == NULL)
		return;
	b->eb_md = (struct evp_md_ctx_st *)md;
	if (!EVP_DigestInit_ex(md, ev_md_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		b->eb_md = NULL;
	}
}

/*
 * Each request begins an exchange: ef_stream counts them from 1, and the
 * response and body events that follow carry the same number. (A worker
 * that pipelines emits the events of one exchange before the next
 * request's, as mitmd-events(5) orders them.)
 */
void
ev_request_headers(struct ev_flow *f, const struct http1_head *h)
{
	struct ev_xchg	*x = &f->ef_x;
	struct ev_enc	*e;

	if (!ev_on) {
		x->ex_stream = ++f->ef_stream;
		return;
	}
	ev_body_pending(f, x, 0);
	ev_body_pending(f, x, 1);
	x->ex_stream = ++f->ef_stream;
	ev_body_reset(&x->ex_body[0]);
	if (ev_off(f))
		return;
	e = ev_begin(f, "request_headers");
	ev_uint(e, "stream", x->ex_stream);
	ev_strn(e, "method", http1_str(h, h->hh_method), h->hh_method.hs_len);
	ev_strn(e, "target", http1_str(h, h->hh_target), h->hh_target.hs_len);
	ev_url(e, f, http1_str(h, h->hh_target), h->hh_target.hs_len);
	ev_version(e, h);
	ev_headers(e, h);
	ev_emit(f, e);
}

/* A response head begins the response body of x: the event up to its
 * status, or NULL when none is to be written. */
static struct ev_enc *
ev_response_begin(struct ev_flow *f, struct ev_xchg *x, int status)
{
	struct ev_enc *e;

	if (!ev_on)
		return NULL;
	ev_body_pending(f, x, 1);
	ev_body_reset(&x->ex_body[1]);
	if (ev_off(f))
		return NULL;
	e = ev_begin(f, "response_headers");
	ev_uint(e, "stream", x->ex_stream);
	ev_uint(e, "status", (uint64_t)(status > 0 ? status : 0));
	return e;
}

void
ev_response_headers(struct ev_flow *f, const struct http1_head *h)
{
	struct ev_enc *e;

	if ((e = ev_response_begin(f, &f->ef_x, h->hh_code)) == NULL)
		return;
	ev_strn(e, "reason", http1_str(h, h->hh_reason), h->hh_reason.hs_len);
	ev_version(e, h);
	ev_headers(e, h);
	ev_emit(f, e);
}

/* key:[["name","value"],...] of an ev_hdr list, the pairs that fit. */
static void
ev_pairs(struct ev_enc *e, const char *key, const struct ev_hdr *hv,
    size_t n)
{
	size_t	 i, mark = ev_mark(e), pair;

	ev_key(e, key);
	ev_put(e, "[", 1);
	if (ev_end_member(e, mark) == -1)
		return;
	for (i = 0; i < n; i++) {
		pair = ev_mark(e);
		if (i > 0)
			ev_put(e, ",", 1);
		ev_put(e, "[", 1);
		ev_str_raw(e, hv[i].eh_name, hv[i].eh_nlen, 0);
		ev_put(e, ",", 1);
		e->ee_lim--;
		ev_str_raw(e, hv[i].eh_value, hv[i].eh_vlen, 1);
		e->ee_lim++;
		ev_put(e, "]", 1);
		if (ev_end_member(e, pair) == -1)
			break;
	}
	ev_put_tail(e, "]");
}

void
ev_x_request_headers(struct ev_flow *f, struct ev_xchg *x,
    const char *method, size_t mlen, const char *scheme, size_t slen,
    const char *authority, size_t alen, const char *path, size_t plen,
    const struct ev_hdr *hv, size_t n)
{
	struct ev_enc	*e;
	size_t		 mark, budget = EV_STR_MAX;

	if (!ev_on)
		return;
	ev_body_reset(&x->ex_body[0]);
	if (ev_off(f))
		return;
	e = ev_begin(f, "request_headers");
	ev_uint(e, "stream", x->ex_stream);
	ev_strn(e, "method", method, mlen);
	ev_strn(e, "target", path, plen);
	if (slen > 0 && alen > 0) {
		mark = ev_mark(e);
		ev_key(e, "url");
		ev_put(e, "\"", 1);
		ev_chars(e, scheme, slen, 1, &budget);
		ev_chars(e, "://", 3, 1, &budget);
		ev_chars(e, authority, alen, 1, &budget);
		budget = EV_STR_MAX;
		ev_chars(e, path, plen, 1, &budget);
		ev_put(e, "\"", 1);
		ev_end_member(e, mark);
	} else
		ev_null(e, "url");
	if (alen > 0)
		ev_strn(e, "authority", authority, alen);
	ev_str(e, "http_version", "HTTP/2");
	ev_pairs(e, "headers", hv, n);
	ev_emit(f, e);
}

void
ev_x_response_headers(struct ev_flow *f, struct ev_xchg *x, int status,
    const struct ev_hdr *hv, size_t n)
{
	struct ev_enc *e;

	if ((e = ev_response_begin(f, x, status)) == NULL)
		return;
	ev_str(e, "reason", "");
	ev_str(e, "http_version", "HTTP/2");
	ev_pairs(e, "headers", hv, n);
	ev_emit(f, e);
}

/* Hex SHA-256 of the body so far; the context starts over for the next
 * body. NULL writes null (no context: out of memory earlier). */
static void
ev_body_digest(struct ev_enc *e, struct ev_body *b)
{
	EVP_MD_CTX	*md = (EVP_MD_CTX *)b->eb_md;
	unsigned char	 d[EVP_MAX_MD_SIZE];
	char		 hex[2 * EV_SHA256_LEN + 1];
	unsigned int	 dlen = 0;

	if (md == NULL || !EVP_DigestFinal_ex(md, d, &dlen) ||
	    dlen != EV_SHA256_LEN) {
		ev_null(e, "body_sha256");
		return;
	}
	util_hex(d, dlen, hex, sizeof(hex));
	ev_str(e, "body_sha256", hex);
}

/* base64 of n bytes at p as key, as much as the event has room for;
 * returns the bytes written. */
static size_t
ev_b64(struct ev_enc *e, const char *key, const void *p, size_t n)
{
	size_t	 room, take, klen = strlen(key) + sizeof(",\"\":\"\"");

	if (n == 0)
		return 0;
	room = e->ee_lim - e->ee_len;
	room = room > klen ? room - klen : 0;
	take = MIN(n, room / 4 * 3);
	if (take < n)
		e->ee_trunc = 1;
	if (take == 0)
		return 0;
	ev_key(e, key);
	ev_put(e, "\"", 1);
	/* room was checked: 4 * ceil(take / 3) + NUL fits */
	e->ee_len += (size_t)EVP_EncodeBlock((unsigned char *)e->ee_buf +
	    e->ee_len, p, (int)take);
	ev_put(e, "\"", 1);
	return take;
}

/*
 * The captured bytes of this chunk, base64: those kept since the last
 * chunk event, as much as the event has room for (a capture of
 * CONF_CAPTURE_MAX_KIB always fits). Capture is contiguous from the start
 * of the body, so a chunk that cannot carry all it should ends the
 * capture of this body.
 */
static void
ev_capture_chunk(struct ev_enc *e, struct ev_body *b)
{
	size_t want = b->eb_cap_len;

	b->eb_cap_len = 0;
	if (want == 0)
		return;
	if (ev_b64(e, "capture_b64", b->eb_cap_buf, want) < want)
		b->eb_capture_left = 0;
}

/* Keep the captured part of n body bytes at p until their chunk event. */
static void
ev_capture_keep(struct ev_body *b, const void *p, size_t n)
{
	size_t	 want, need;
	uint8_t	*nb;

	want = MIN(n, (size_t)b->eb_capture_left);
	if (want == 0)
		return;
	/* room for the rest of this body's capture, once */
	need = (size_t)b->eb_cap_len + b->eb_capture_left;
	if (need > b->eb_cap_size) {
		if ((nb = realloc(b->eb_cap_buf, need)) == NULL) {
			b->eb_capture_left = 0;	/* capture ends */
			return;
		}
		b->eb_cap_buf = nb;
		b->eb_cap_size = (uint32_t)need;
	}
	memcpy(b->eb_cap_buf + b->eb_cap_len, p, want);
	b->eb_cap_len += (uint32_t)want;
	b->eb_capture_left -= (uint32_t)want;
}

/* One chunk event: the bytes not yet reported, from eb_sent on; the last
 * one may carry trailers or a reset. */
static void
ev_body_emit(struct ev_flow *f, struct ev_xchg *x, int dir, int last,
    const struct ev_hdr *trailers, size_t ntrailers, const char *reset,
    const char *reset_by)
{
	struct ev_body	*b = &x->ex_body[dir];
	struct ev_enc	*e;
	uint64_t	 offset = b->eb_sent;

	b->eb_sent = b->eb_len;
	if (ev_off(f)) {
		b->eb_cap_len = 0;
		if (last)
			ev_body_reset(b);
		return;
	}
	e = ev_begin(f, dir ? "response_body_chunk" : "request_body_chunk");
	ev_uint(e, "stream", x->ex_stream);
	ev_uint(e, "offset", offset);
	ev_uint(e, "size", b->eb_len - offset);
	ev_bool(e, "last", last);
	if (last) {
		ev_uint(e, "body_size", b->eb_len);
		ev_body_digest(e, b);
		if (reset != NULL) {
			ev_str(e, "reset", reset);
			ev_str(e, "reset_by", reset_by);
		}
		if (ntrailers > 0)
			ev_pairs(e, "trailers", trailers, ntrailers);
	}
	ev_capture_chunk(e, b);
	ev_emit(f, e);
	if (last)
		ev_body_reset(b);
	else
		b->eb_when = util_now_usec();
}

/* Bytes of a body not reported yet go out before what ends it. */
static void
ev_body_pending(struct ev_flow *f, struct ev_xchg *x, int dir)
{
	if (x->ex_body[dir].eb_len > x->ex_body[dir].eb_sent)
		ev_body_emit(f, x, dir, 0, NULL, 0, NULL, NULL);
}

/* Digest and capture n more bytes; 1 when a chunk event is due. */
static int
ev_body_add(struct ev_body *b, const void *p, size_t n)
{
	uint64_t pending;

	if (b->eb_md == NULL && b->eb_len == 0)
		ev_body_reset(b);	/* a body without a head event */
	if (b->eb_len == 0) {
		/* the capture size in force when it starts */
		b->eb_capture_left = ev_capture;
		b->eb_when = util_now_usec();
	}
	b->eb_len += n;
	if (n > 0 && b->eb_md != NULL &&
	    !EVP_DigestUpdate((EVP_MD_CTX *)b->eb_md, p, n)) {
		EVP_MD_CTX_free((EVP_MD_CTX *)b->eb_md);
		b->eb_md = NULL;
	}
	if (n > 0)
		ev_capture_keep(b, p, n);
	pending = b->eb_len - b->eb_sent;
	return pending > 0 && (pending >= EV_CHUNK_BYTES ||
	    util_now_usec() - b->eb_when >= EV_CHUNK_USEC);
}

/*
 * Coalescing: the bytes of the calls add up, and one chunk event reports
 * them when EV_CHUNK_BYTES wait, when a call comes EV_CHUNK_USEC after the
 * body's first bytes or its previous event, and at the end.
 */
void
ev_x_body_chunk(struct ev_flow *f, struct ev_xchg *x, int response,
    const void *p, size_t n, int last)
{
	int dir = response ? 1 : 0;

	if (!ev_on)
		return;	/* no digest, no capture */
	if (ev_body_add(&x->ex_body[dir], p, n) || last)
		ev_body_emit(f, x, dir, last, NULL, 0, NULL, NULL);
}

void
ev_body_chunk(struct ev_flow *f, int response, const void *p, size_t n,
    int last)
{
	ev_x_body_chunk(f, &f->ef_x, response, p, n, last);
}

void
ev_x_body_end(struct ev_flow *f, struct ev_xchg *x, int response,
    const struct ev_hdr *trailers, size_t n, const char *reset,
    const char *reset_by)
{
	if (!ev_on)
		return;
	ev_body_add(&x->ex_body[response ? 1 : 0], NULL, 0);
	ev_body_emit(f, x, response ? 1 : 0, 1, trailers, n, reset,
	    reset_by);
}

void
ev_x_free(struct ev_flow *f, struct ev_xchg *x)
{
	if (ev_on) {
		ev_body_pending(f, x, 0);
		ev_body_pending(f, x, 1);
	}
	ev_body_free(&x->ex_body[0]);
	ev_body_free(&x->ex_body[1]);
}

/* --- messages inside a body: WebSocket, SSE, gRPC ----------------------- */

void
ev_ws_message(struct ev_flow *f, uint32_t stream, const struct ev_ws_msg *m)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "ws_message");
	ev_uint(e, "stream", stream);
	ev_str(e, "from", EV_FROM(m->ew_response));
	ev_str(e, "opcode", m->ew_opcode);
	ev_uint(e, "length", m->ew_len);
	ev_uint(e, "frames", m->ew_frames);
	ev_bool(e, "compressed", m->ew_compressed);
	if (m->ew_oversize)
		ev_bool(e, "oversize", 1);
	if (m->ew_close_code != 0) {
		ev_uint(e, "close_code", (uint64_t)m->ew_close_code);
		ev_strn(e, "close_reason", m->ew_reason, m->ew_reason_len);
	}
	ev_b64(e, "head_b64", m->ew_head, MIN(m->ew_headlen,
	    (size_t)ev_capture));
	ev_emit(f, e);
}

static void
ev_ws_turn(struct ev_flow *f, uint32_t stream, const struct ev_ws_turn *t,
    int completed)
{
	struct ev_enc	*e;
	char		 ts[EV_TS_MAX];

	if (ev_off(f))
		return;
	e = ev_begin(f, completed ? "ws_turn_completed" : "ws_turn_started");
	ev_uint(e, "stream", stream);
	ev_uint(e, "turn", t->et_turn);
	ev_str(e, "side", EV_FROM(t->et_response));
	ev_timestamp_at(ts, sizeof(ts), t->et_start);
	ev_str(e, "started", ts);
	if (completed) {
		ev_timestamp_at(ts, sizeof(ts), t->et_end);
		ev_str(e, "ended", ts);
		ev_uint(e, "messages", t->et_messages);
		ev_uint(e, "frames", t->et_frames);
		ev_uint(e, "bytes", t->et_bytes);
		ev_str(e, "reason", t->et_reason);
	}
	ev_emit(f, e);
}

void
ev_ws_turn_started(struct ev_flow *f, uint32_t stream,
    const struct ev_ws_turn *t)
{
	ev_ws_turn(f, stream, t, 0);
}

void
ev_ws_turn_completed(struct ev_flow *f, uint32_t stream,
    const struct ev_ws_turn *t)
{
	ev_ws_turn(f, stream, t, 1);
}

void
ev_sse_event(struct ev_flow *f, uint32_t stream, const char *type,
    size_t tlen, const char *id, size_t idlen, int64_t retry,
    const char *data, size_t dlen)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "sse_event");
	ev_uint(e, "stream", stream);
	ev_strn(e, "event", type, tlen);
	ev_strn(e, "id", id, idlen);
	if (retry >= 0)
		ev_uint(e, "retry", (uint64_t)retry);
	ev_uint(e, "data_size", dlen);
	if (dlen > ev_capture) {
		dlen = ev_capture;
		e->ee_trunc = 1;
	}
	ev_strn(e, "data", data, dlen);
	ev_emit(f, e);
}

void
ev_grpc_message(struct ev_flow *f, uint32_t stream,
    const struct ev_grpc_msg *g)
{
	struct ev_enc *e;

	if (ev_off(f))
		return;
	e = ev_begin(f, "grpc_message");
	ev_uint(e, "stream", stream);
	ev_str(e, "from", EV_FROM(g->eg_response));
	ev_uint(e, "index", g->eg_index);
	ev_uint(e, "offset", g->eg_offset);
	if (g->eg_error != NULL) {
		ev_str(e, "error", g->eg_error);
		ev_str(e, "detail", g->eg_reason);
	} else {
		ev_bool(e, "compressed", g->eg_compressed);
		ev_uint(e, "length", g->eg_len);
	}
	ev_emit(f, e);
}

void
ev_stream_closed(struct ev_flow *f, const char *reason, uint64_t bytes_in,
    uint64_t bytes_out)
{
	struct ev_enc *e;

	ev_body_pending(f, &f->ef_x, 0);
	ev_body_pending(f, &f->ef_x, 1);
	if (ev_off(f))
		return;
	e = ev_begin(f, "stream_closed");
	ev_str(e, "reason", reason);
	ev_uint(e, "bytes_in", bytes_in);
	ev_uint(e, "bytes_out", bytes_out);
	ev_emit(f, e);
}
