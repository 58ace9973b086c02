/*
 * Flow queries (flowq.h): validated filters into one SELECT on flows.
 *
 * Every query is ordered by (first_ts, flow_id), newest first, and
 * bounded from above by first_ts <= :until (the end of time when no
 * --until is given): so each one is an index range, never a scan of
 * the table, and stops after :limit rows. The schema (webui/store.c,
 * version 3) has an index that begins with each filtered column and
 * ends with first_ts: (host_rev, first_ts), (method, first_ts),
 * (status, first_ts), (status/100, first_ts), (protocol, first_ts), and
 * first_ts itself; an equality filter then reads its rows already in
 * order. Host suffixes and status classes read a range of their index
 * and sort what matched. The URL text is not indexed: it filters the
 * rows the other filters walk.
 *
 * Paging is by keyset, never OFFSET: a page after flow N starts at N's
 * (first_ts, flow_id), looked up once by flowq_resolve().
 *
 * Parameters are named (:until, :host...) and bound by name, so the SQL
 * holds only what is used and no value is ever in its text.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/flowq.h"
#include "common/util.h"

#define FLOWQ_TS_END	 "9999-12-31T23:59:59.999999Z"
#define FLOWQ_AGE_MAX	 (100LL * 365 * 86400)	/* seconds back, at most */
#define FLOWQ_YEAR_MIN	 1970
#define FLOWQ_YEAR_MAX	 9999
#define FLOWQ_KEY_MAX	 16

static const char flowq_cols[] =
    "flow_id, first_ts, last_ts, client, host, port, protocol, method, "
    "url, status, requests, req_bytes, resp_bytes, decision, close_reason";

static const char *const flowq_protocols[] = {
	"tcp", "tls", "http/1.1", "http2",
};

static int __attribute__((format(printf, 3, 4)))
flowq_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

void
flowq_init(struct flowq *fq)
{
	memset(fq, 0, sizeof(*fq));
	fq->fq_status = -1;
	fq->fq_status_class = -1;
	fq->fq_limit = FLOWQ_LIMIT_DEF;
	fq->fq_page = FLOWQ_FIRST;
}

void
flowq_host_rev(const char *host, char *buf, size_t size)
{
	size_t n, i;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (host == NULL)
		return;
	n = strlen(host);
	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)host[n - 1 - i]);
	buf[n] = '\0';
}

/* A DNS name or an IP literal (no brackets); "*." before a suffix. */
static int
flowq_set_host(struct flowq *fq, const char *v, char *err, size_t errsz)
{
	size_t		 n, i;

	fq->fq_host_suffix = 0;
	fq->fq_host_rev[0] = '\0';
	if (strcmp(v, "*") == 0)
		return (0);
	if (strncmp(v, "*.", 2) == 0) {
		fq->fq_host_suffix = 1;
		v++;		/* keep the dot: ".example.com" */
	}
	n = strlen(v);
	if (n == 0 || n > FLOWQ_HOST_MAX || (fq->fq_host_suffix && n < 2))
		return (flowq_err(err, errsz, "host: an empty or too long name"));
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && strchr(".-_:", v[i]) ==
		    NULL)
			return (flowq_err(err, errsz, "host: '%c' in \"%s\": "
			    "a name, an address, or *.domain", isprint(
			    (unsigned char)v[i]) ? v[i] : '?', v));
	flowq_host_rev(v, fq->fq_host_rev, sizeof(fq->fq_host_rev));
	return (0);
}

/* A token (RFC 9110), in upper case: "get" means GET. */
static int
flowq_set_method(struct flowq *fq, const char *v, char *err, size_t errsz)
{
	size_t i, n = strlen(v);

	if (n == 0 || n >= sizeof(fq->fq_method))
		return (flowq_err(err, errsz, "method: empty or longer than "
		    "%zu", sizeof(fq->fq_method) - 1));
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)v[i]) &&
		    strchr("!#$%&'*+-.^_`|~", v[i]) == NULL)
			return (flowq_err(err, errsz, "method: not a token"));
		fq->fq_method[i] = (char)toupper((unsigned char)v[i]);
	}
	fq->fq_method[n] = '\0';
	return (0);
}

/* "404" or a class, "5xx". */
static int
flowq_set_status(struct flowq *fq, const char *v, char *err, size_t errsz)
{
	fq->fq_status = fq->fq_status_class = -1;
	if (strlen(v) == 3 && v[0] >= '1' && v[0] <= '5' &&
	    tolower((unsigned char)v[1]) == 'x' &&
	    tolower((unsigned char)v[2]) == 'x') {
		fq->fq_status_class = v[0] - '0';
		return (0);
	}
	if (strlen(v) == 3 && v[0] >= '1' && v[0] <= '5' &&
	    isdigit((unsigned char)v[1]) && isdigit((unsigned char)v[2])) {
		fq->fq_status = (v[0] - '0') * 100 + (v[1] - '0') * 10 +
		    (v[2] - '0');
		return (0);
	}
	return (flowq_err(err, errsz, "status: \"%s\" is neither a code "
	    "(100 to 599) nor a class (1xx to 5xx)", v));
}

static int
flowq_set_protocol(struct flowq *fq, const char *v, char *err, size_t errsz)
{
	size_t i;

	for (i = 0; i < nitems(flowq_protocols); i++)
		if (strcmp(v, flowq_protocols[i]) == 0) {
			util_strlcpy(fq->fq_protocol, v,
			    sizeof(fq->fq_protocol));
			return (0);
		}
	return (flowq_err(err, errsz, "protocol: \"%s\" is none of tcp, tls, "
	    "http/1.1, http2", v));
}

static int
flowq_set_text(struct flowq *fq, const char *v, char *err, size_t errsz)
{
	const char *p;

	if (v[0] == '\0' || strlen(v) >= sizeof(fq->fq_text))
		return (flowq_err(err, errsz, "text: empty or longer than %zu",
		    sizeof(fq->fq_text) - 1));
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return (flowq_err(err, errsz, "text: a control "
			    "character"));
	util_strlcpy(fq->fq_text, v, sizeof(fq->fq_text));
	return (0);
}

/* A whole decimal number in [min, max]. */
static int
flowq_num(const char *v, long long min, long long max, long long *out)
{
	char		*end;
	long long	 n;

	if (!isdigit((unsigned char)v[0]))
		return (-1);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return (-1);
	*out = n;
	return (0);
}

static int
flowq_set_cursor(struct flowq *fq, int page, const char *v, char *err,
    size_t errsz)
{
	long long id;

	if (flowq_num(v, 1, INT64_MAX, &id) == -1)
		return (flowq_err(err, errsz, "%s: \"%s\" is not a flow id",
		    page == FLOWQ_BEFORE ? "before" : "after", v));
	fq->fq_page = page;
	fq->fq_cursor = id;
	fq->fq_cursor_ts[0] = '\0';
	return (0);
}

static int
flowq_fmt(time_t t, long usec, char *buf, size_t size)
{
	struct tm tm;
	char	  s[FLOWQ_TS_MAX];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return (-1);
	if (snprintf(buf, size, "%s.%06ldZ", s, usec) >= (int)size)
		return (-1);
	return (0);
}

/* "90s", "10m", "2h", "7d": that long before now. */
static int
flowq_age(const char *v, int64_t now_sec, char *buf, size_t size)
{
	char		 num[24];
	size_t		 n = strlen(v);
	long long	 a, mul;

	if (n < 2 || n >= sizeof(num))
		return (-1);
	switch (v[n - 1]) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return (-1);
	}
	memcpy(num, v, n - 1);
	num[n - 1] = '\0';
	if (flowq_num(num, 0, FLOWQ_AGE_MAX / mul, &a) == -1)
		return (-1);
	return (flowq_fmt((time_t)(now_sec - a * mul), 0, buf, size));
}

/* The fraction of "....ss.123Z": up to 6 digits, the rest ignored. */
static const char *
flowq_frac(const char *p, long *usec)
{
	int digits = 0;

	*usec = 0;
	if (*p != '.')
		return (p);
	for (p++; isdigit((unsigned char)*p); p++)
		if (digits++ < 6)
			*usec = *usec * 10 + (*p - '0');
	if (digits == 0)
		return (NULL);
	for (; digits < 6; digits++)
		*usec *= 10;
	return (p);
}

/* Exactly n digits at *pp, then the separator sep ('\0': none). */
static int
flowq_digits(const char **pp, int n, char sep, int *out)
{
	const char	*p = *pp;
	int		 i, v = 0;

	for (i = 0; i < n; i++, p++) {
		if (!isdigit((unsigned char)*p))
			return (-1);
		v = v * 10 + (*p - '0');
	}
	if (sep != '\0' && *p++ != sep)
		return (-1);
	*pp = p;
	*out = v;
	return (0);
}

int
flowq_time(const char *v, int64_t now_sec, char *buf, size_t size)
{
	struct tm	 tm;
	int		 y, mo, d, h = 0, mi = 0, s = 0;
	long		 usec = 0;
	long long	 u;
	const char	*p = v;
	time_t		 t;

	if (v[0] == '@')
		return (flowq_num(v + 1, 0, INT32_MAX, &u) == -1 ? -1 :
		    flowq_fmt((time_t)u, 0, buf, size));
	if (flowq_age(v, now_sec, buf, size) == 0)
		return (0);
	if (flowq_digits(&p, 4, '-', &y) == -1 ||
	    flowq_digits(&p, 2, '-', &mo) == -1 ||
	    flowq_digits(&p, 2, '\0', &d) == -1)
		return (-1);
	if (*p == 'T' || *p == ' ') {
		p++;
		if (flowq_digits(&p, 2, ':', &h) == -1 ||
		    flowq_digits(&p, 2, '\0', &mi) == -1)
			return (-1);
		if (*p == ':') {
			p++;
			if (flowq_digits(&p, 2, '\0', &s) == -1 ||
			    (p = flowq_frac(p, &usec)) == NULL)
				return (-1);
		}
		if (*p++ != 'Z')
			return (-1);
	}
	if (*p != '\0' || y < FLOWQ_YEAR_MIN || y > FLOWQ_YEAR_MAX ||
	    mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    s > 60)
		return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != d)
		return (-1);	/* 2026-02-30 */
	return (flowq_fmt(t, usec, buf, size));
}

static int
flowq_set_time(char *dst, const char *key, const char *v, int64_t now_sec,
    char *err, size_t errsz)
{
	if (flowq_time(v, now_sec, dst, FLOWQ_TS_MAX) == -1)
		return (flowq_err(err, errsz, "%s: \"%s\" is not a time: "
		    "2026-11-22, 2026-11-22T03:40:01Z, @UNIXTIME, or an age "
		    "such as 90s, 10m, 2h, 7d", key, v));
	return (0);
}

int
flowq_set(struct flowq *fq, const char *key, const char *v, int64_t now_sec,
    char *err, size_t errsz)
{
	long long n;

	if (strcmp(key, "host") == 0)
		return (flowq_set_host(fq, v, err, errsz));
	if (strcmp(key, "method") == 0)
		return (flowq_set_method(fq, v, err, errsz));
	if (strcmp(key, "status") == 0)
		return (flowq_set_status(fq, v, err, errsz));
	if (strcmp(key, "protocol") == 0)
		return (flowq_set_protocol(fq, v, err, errsz));
	if (strcmp(key, "since") == 0)
		return (flowq_set_time(fq->fq_since, key, v, now_sec, err,
		    errsz));
	if (strcmp(key, "until") == 0)
		return (flowq_set_time(fq->fq_until, key, v, now_sec, err,
		    errsz));
	if (strcmp(key, "text") == 0)
		return (flowq_set_text(fq, v, err, errsz));
	if (strcmp(key, "before") == 0)
		return (flowq_set_cursor(fq, FLOWQ_BEFORE, v, err, errsz));
	if (strcmp(key, "after") == 0)
		return (flowq_set_cursor(fq, FLOWQ_AFTER, v, err, errsz));
	if (strcmp(key, "limit") == 0) {
		if (flowq_num(v, 1, FLOWQ_LIMIT_MAX, &n) == -1)
			return (flowq_err(err, errsz, "limit: \"%s\" is not a "
			    "number from 1 to %d", v, FLOWQ_LIMIT_MAX));
		fq->fq_limit = (uint32_t)n;
		return (0);
	}
	return (flowq_err(err, errsz, "unknown filter \"%.*s\": host, method, "
	    "status, protocol, since, until, text, limit, before or after",
	    FLOWQ_KEY_MAX, key));
}

/* One value, quoted or not, into val; the position after it. */
static const char *
flowq_value(const char *p, const char *end, char *val, size_t size)
{
	size_t n = 0;
	int    quoted = (p < end && *p == '"'), closed = 0;

	val[0] = '\0';
	if (quoted)
		p++;
	for (; p < end; p++) {
		if (quoted && *p == '"') {
			closed = 1;
			p++;
			break;
		}
		if (!quoted && *p == ' ')
			break;
		if (quoted && *p == '\\' && p + 1 < end &&
		    (p[1] == '"' || p[1] == '\\'))
			p++;
		if (*p == '\0' || n + 1 >= size)
			return (NULL);
		val[n++] = *p;
	}
	if (quoted && !closed)
		return (NULL);
	val[n] = '\0';
	return (p);
}

int
flowq_parse(struct flowq *fq, const char *str, size_t len, int64_t now_sec,
    char *err, size_t errsz)
{
	char		 key[FLOWQ_KEY_MAX] = "", val[FLOWQ_STR_MAX] = "";
	const char	*p = str, *end = str + len, *eq;
	size_t		 n;

	if (len >= FLOWQ_STR_MAX)
		return (flowq_err(err, errsz, "filter longer than %d bytes",
		    FLOWQ_STR_MAX - 1));
	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		for (eq = p; eq < end && *eq != '=' && *eq != ' '; eq++)
			;
		if (eq == end || *eq != '=')
			return (flowq_err(err, errsz, "\"%.*s\": a filter is "
			    "key=value", (int)(eq - p), p));
		n = (size_t)(eq - p);
		if (n == 0 || n >= sizeof(key))
			return (flowq_err(err, errsz, "a filter without a "
			    "known key"));
		memcpy(key, p, n);
		key[n] = '\0';
		if ((p = flowq_value(eq + 1, end, val, sizeof(val))) == NULL)
			return (flowq_err(err, errsz, "%s: a bad value (a NUL, "
			    "or an open quote)", key));
		if (flowq_set(fq, key, val, now_sec, err, errsz) == -1)
			return (-1);
	}
	return (0);
}

/* Append to the SQL; -1 when it no longer fits. */
static int __attribute__((format(printf, 3, 4)))
flowq_cat(char *buf, size_t size, const char *fmt, ...)
{
	size_t	l = strlen(buf);
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf + l, size - l, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= size - l ? -1 : 0);
}

int
flowq_sql(const struct flowq *fq, char *buf, size_t size)
{
	int	 after = fq->fq_page == FLOWQ_AFTER, rc = 0;

	if (size == 0)
		return (-1);
	buf[0] = '\0';
	rc |= flowq_cat(buf, size, "SELECT %s FROM flows WHERE "
	    "first_ts <= :until", flowq_cols);
	if (fq->fq_since[0] != '\0')
		rc |= flowq_cat(buf, size, " AND first_ts >= :since");
	if (fq->fq_host_rev[0] != '\0')
		rc |= flowq_cat(buf, size, fq->fq_host_suffix ?
		    " AND host_rev > :host AND host_rev < :host_end" :
		    " AND host_rev = :host");
	if (fq->fq_method[0] != '\0')
		rc |= flowq_cat(buf, size, " AND method = :method");
	if (fq->fq_status != -1)
		rc |= flowq_cat(buf, size, " AND status = :status");
	if (fq->fq_status_class != -1)	/* the expression of its index */
		rc |= flowq_cat(buf, size, " AND status/100 = :class");
	if (fq->fq_protocol[0] != '\0')
		rc |= flowq_cat(buf, size, " AND protocol = :protocol");
	if (fq->fq_text[0] != '\0')
		rc |= flowq_cat(buf, size, " AND instr(url, :text) > 0");
	if (fq->fq_page != FLOWQ_FIRST)
		rc |= flowq_cat(buf, size, " AND first_ts %s :cts AND "
		    "(first_ts %s :cts OR flow_id %s :cid)", after ? ">=" : "<=",
		    after ? ">" : "<", after ? ">" : "<");
	rc |= flowq_cat(buf, size, " ORDER BY first_ts %s, flow_id %s "
	    "LIMIT :limit", after ? "ASC" : "DESC", after ? "ASC" : "DESC");
	return (rc == 0 ? 0 : -1);
}

static int
flowq_bind_text(sqlite3_stmt *q, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(q, name);

	return (i == 0 ? 0 : sqlite3_bind_text(q, i, v, -1, SQLITE_TRANSIENT));
}

static int
flowq_bind_int(sqlite3_stmt *q, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(q, name);

	return (i == 0 ? 0 : sqlite3_bind_int64(q, i, v));
}

int
flowq_bind(const struct flowq *fq, sqlite3_stmt *q)
{
	char	 end[sizeof(fq->fq_host_rev)];
	size_t	 n;
	int	 rc = 0;

	/* "*.example.com": the names from ".example.com" (reversed
	 * "moc.elpmaxe.") to just before "moc.elpmaxe/", '/' being '.'
	 * plus one. */
	util_strlcpy(end, fq->fq_host_rev, sizeof(end));
	if ((n = strlen(end)) > 0)
		end[n - 1]++;
	rc |= flowq_bind_text(q, ":until", fq->fq_until[0] != '\0' ?
	    fq->fq_until : FLOWQ_TS_END);
	rc |= flowq_bind_text(q, ":since", fq->fq_since);
	rc |= flowq_bind_text(q, ":host", fq->fq_host_rev);
	rc |= flowq_bind_text(q, ":host_end", end);
	rc |= flowq_bind_text(q, ":method", fq->fq_method);
	rc |= flowq_bind_int(q, ":status", fq->fq_status);
	rc |= flowq_bind_int(q, ":class", fq->fq_status_class);
	rc |= flowq_bind_text(q, ":protocol", fq->fq_protocol);
	rc |= flowq_bind_text(q, ":text", fq->fq_text);
	rc |= flowq_bind_text(q, ":cts", fq->fq_cursor_ts);
	rc |= flowq_bind_int(q, ":cid", fq->fq_cursor);
	rc |= flowq_bind_int(q, ":limit", fq->fq_limit);
	return (rc == SQLITE_OK ? 0 : -1);
}

int
flowq_resolve(struct flowq *fq, sqlite3 *db, char *err, size_t errsz)
{
	sqlite3_stmt		*q;
	const unsigned char	*ts;
	int			 rc = -1;

	if (fq->fq_page == FLOWQ_FIRST)
		return (0);
	if (sqlite3_prepare_v2(db, "SELECT first_ts FROM flows WHERE "
	    "flow_id = ?1", -1, &q, NULL) != SQLITE_OK)
		return (flowq_err(err, errsz, "flow store: %s",
		    sqlite3_errmsg(db)));
	sqlite3_bind_int64(q, 1, fq->fq_cursor);
	if (sqlite3_step(q) == SQLITE_ROW &&
	    (ts = sqlite3_column_text(q, 0)) != NULL) {
		util_strlcpy(fq->fq_cursor_ts, (const char *)ts,
		    sizeof(fq->fq_cursor_ts));
		rc = 0;
	} else
		flowq_err(err, errsz, "flow %" PRId64 " is not in the store",
		    fq->fq_cursor);
	sqlite3_finalize(q);
	return (rc);
}
