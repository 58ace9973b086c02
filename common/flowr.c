/*
 * Flow rendering shared by mitmctl and webui (flowr.h): the SQL over
 * the store's flows, events and decoded tables (mitmd-events(5)), JSON
 * of its rows, one flow, one page of the list.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/flowq.h"
#include "common/flowr.h"
#include "common/utf8.h"
#include "common/util.h"

#define FLOWR_USEC	1000000.0

const char flowr_flow_sql[] =
    "SELECT flow_id, first_ts, last_ts, client, host, port, protocol, "
    "method, url, status, requests, req_bytes, resp_bytes, bytes_in, "
    "bytes_out, decision, rule, close_reason, events FROM flows "
    "WHERE flow_id = ?1";

const char flowr_tls_sql[] =
    "SELECT tls_client_version AS client_version, tls_client_cipher AS "
    "client_cipher, (SELECT json_extract(json, '$.alpn') FROM events "
    "WHERE flow_id = ?1 AND type = 'tls_handshake_succeeded' AND "
    "json_extract(json, '$.side') = 'client') AS client_alpn, "
    "(SELECT json_extract(json, '$.sni') FROM events WHERE flow_id = ?1 "
    "AND type = 'tls_handshake_started' AND json_extract(json, '$.side') "
    "= 'client') AS client_sni, tls_upstream_version AS upstream_version, "
    "tls_upstream_cipher AS upstream_cipher, (SELECT json_extract(json, "
    "'$.alpn') FROM events WHERE flow_id = ?1 AND type = "
    "'tls_handshake_succeeded' AND json_extract(json, '$.side') = "
    "'upstream') AS upstream_alpn, failure_side, failure_reason, "
    "(SELECT json_extract(json, '$.detail') FROM events WHERE flow_id = "
    "?1 AND type = 'tls_handshake_failed') AS failure_detail "
    "FROM flows WHERE flow_id = ?1";

/*
 * The exchanges of a flow, one row each: its request head, the last
 * response head of its stream, the last chunks of both bodies, and
 * what the decoder chain made of them. Shared with flowr_har.c and mitmctl's text view.
 */
const char flowr_exchange_sql[] =
    "WITH r AS (SELECT seq, ts, json, json_extract(json, '$.stream') AS "
    " stream FROM events WHERE flow_id = ?1 AND type = 'request_headers'),"
    "x AS (SELECT r.*, "
    " (SELECT max(seq) FROM events WHERE flow_id = ?1 AND type = "
    "  'response_headers' AND json_extract(json, '$.stream') = r.stream) "
    "  AS pseq, "
    " (SELECT max(seq) FROM events WHERE flow_id = ?1 AND type = "
    "  'request_body_chunk' AND json_extract(json, '$.stream') = r.stream "
    "  AND json_extract(json, '$.last')) AS qbseq, "
    " (SELECT max(seq) FROM events WHERE flow_id = ?1 AND type = "
    "  'response_body_chunk' AND json_extract(json, '$.stream') = r.stream "
    "  AND json_extract(json, '$.last')) AS pbseq FROM r) "
    "SELECT x.stream AS stream, x.ts AS started, "
    " json_extract(x.json, '$.method') AS method, "
    " json_extract(x.json, '$.url') AS url, "
    " json_extract(x.json, '$.target') AS target, "
    " json_extract(x.json, '$.http_version') AS http_version, "
    " " FLOWR_HEADERS("x.json") " AS request_headers_json, "
    " json_extract(qb.json, '$.body_size') AS request_body_size, "
    " json_extract(qb.json, '$.body_sha256') AS request_body_sha256, "
    " (SELECT json(json) FROM decoded WHERE flow_id = ?1 AND stream = "
    "  x.stream AND dir = 'request') AS request_decoded_json, "
    " p.ts AS response_ts, json_extract(p.json, '$.status') AS status, "
    " json_extract(p.json, '$.reason') AS reason, "
    " json_extract(p.json, '$.http_version') AS response_http_version, "
    " iif(p.json IS NULL, NULL, " FLOWR_HEADERS("p.json") ") AS "
    " response_headers_json, "
    " json_extract(pb.json, '$.body_size') AS response_body_size, "
    " json_extract(pb.json, '$.body_sha256') AS response_body_sha256, "
    " (SELECT json(json) FROM decoded WHERE flow_id = ?1 AND stream = "
    "  x.stream AND dir = 'response') AS response_decoded_json, "
    " coalesce(pb.ts, p.ts, qb.ts, x.ts) AS ended, qb.ts AS request_ended, "
    " " FLOWR_HDR("x.json", "content-type") " AS request_content_type, "
    " " FLOWR_HDR("x.json", "content-encoding") " AS "
    " request_content_encoding, "
    " " FLOWR_HDR("p.json", "content-type") " AS response_content_type, "
    " " FLOWR_HDR("p.json", "content-encoding") " AS "
    " response_content_encoding, "
    " " FLOWR_HDR("p.json", "location") " AS location "
    "FROM x LEFT JOIN events AS p ON p.flow_id = ?1 AND p.seq = x.pseq "
    "LEFT JOIN events AS qb ON qb.flow_id = ?1 AND qb.seq = x.qbseq "
    "LEFT JOIN events AS pb ON pb.flow_id = ?1 AND pb.seq = x.pbseq "
    "ORDER BY x.seq";

static const char flowr_kind_sql[] =
    "SELECT json_group_array(json(json)) FROM (SELECT json FROM events "
    "WHERE flow_id = ?1 AND type = ?2 ORDER BY seq)";

const char flowr_timeline_sql[] =
    "SELECT seq, ts, type, " FLOWR_DETAIL("json") " AS detail, "
    "json(json) AS event_json FROM events WHERE flow_id = ?1 ORDER BY seq";


static sqlite3_stmt *
flowr_prepare(sqlite3 *db, const char *sql, int64_t flow)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return (NULL);
	sqlite3_bind_int64(q, 1, flow);
	return (q);
}

/* 1 a row, 0 done, -1 an error. */
static int
flowr_step(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		return (1);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* A single-row query as a JSON object (null when no row). */
static int
flowr_one_row(sqlite3 *db, const char *sql, int64_t id, FILE *f)
{
	sqlite3_stmt	*q;
	int		 rc;

	if ((q = flowr_prepare(db, sql, id)) == NULL)
		return (-1);
	if ((rc = flowr_step(q)) == 1)
		flowr_json_row(f, q);
	else if (rc == 0)
		fputs("null", f);
	sqlite3_finalize(q);
	return (rc == -1 ? -1 : 0);
}

/* The one JSON value a query makes (column 0 of its row). */
static int
flowr_value(sqlite3 *db, const char *sql, int64_t id, const char *kind,
    FILE *f)
{
	sqlite3_stmt	*q;
	const char	*v = NULL;
	int		 rc;

	if ((q = flowr_prepare(db, sql, id)) == NULL)
		return (-1);
	sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
	if ((rc = flowr_step(q)) == 1)
		v = (const char *)sqlite3_column_text(q, 0);
	fputs(v != NULL ? v : "null", f);
	sqlite3_finalize(q);
	return (rc == -1 ? -1 : 0);
}

/* The rows of a query, each as JSON: a row object, or with col >= 0 the
 * JSON text of that column. */
static int
flowr_rows(sqlite3 *db, const char *sql, int64_t id, int col, FILE *f)
{
	sqlite3_stmt	*q;
	const char	*v;
	int		 n, rc;

	if ((q = flowr_prepare(db, sql, id)) == NULL)
		return (-1);
	fputs("[", f);
	for (n = 0; (rc = flowr_step(q)) == 1; n++) {
		fputs(n ? ",\n  " : "\n  ", f);
		if (col < 0)
			flowr_json_row(f, q);
		else {
			v = (const char *)sqlite3_column_text(q, col);
			fputs(v != NULL ? v : "null", f);
		}
	}
	fputs("]", f);
	sqlite3_finalize(q);
	return (rc == -1 ? -1 : 0);
}

int
flowr_show_json(sqlite3 *db, int64_t id, FILE *f)
{
	static const char *const kinds[][2] = {
		{ "websocket", "ws_message" },
		{ "sse", "sse_event" },
		{ "grpc", "grpc_message" },
	};
	sqlite3_stmt	*q;
	size_t		 i;
	int		 rc;

	if ((q = flowr_prepare(db, flowr_flow_sql, id)) == NULL)
		return (-1);
	rc = flowr_step(q);
	if (rc == 1) {
		fputs("{\"flow\": ", f);
		flowr_json_row(f, q);
	}
	sqlite3_finalize(q);
	if (rc != 1)
		return (rc == 0 ? FLOWR_SHOW_NOT_FOUND : -1);
	fputs(",\n\"tls\": ", f);
	if (flowr_one_row(db, flowr_tls_sql, id, f) == -1)
		return (-1);
	fputs(",\n\"exchanges\": ", f);
	if (flowr_rows(db, flowr_exchange_sql, id, -1, f) == -1)
		return (-1);
	for (i = 0; i < nitems(kinds); i++) {
		fprintf(f, ",\n\"%s\": ", kinds[i][0]);
		if (flowr_value(db, flowr_kind_sql, id, kinds[i][1], f) == -1)
			return (-1);
	}
	fputs(",\n\"events\": ", f);
	if (flowr_rows(db, flowr_timeline_sql, id, 4, f) == -1)
		return (-1);
	fputs("}\n", f);
	return (FLOWR_SHOW_FOUND);
}

static sqlite3_stmt *
flowr_list_stmt(sqlite3 *db, struct flowq *fq, char *err, size_t errsz)
{
	sqlite3_stmt	*q;
	char		 sql[FLOWQ_SQL_MAX];

	if (flowq_resolve(fq, db, err, errsz) == -1)
		return (NULL);
	if (flowq_sql(fq, sql, sizeof(sql)) == -1 ||
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "flow store: %s", sqlite3_errmsg(db));
		return (NULL);
	}
	if (flowq_bind(fq, q) == -1) {
		snprintf(err, errsz, "flow store: %s", sqlite3_errmsg(db));
		sqlite3_finalize(q);
		return (NULL);
	}
	return (q);
}

int
flowr_list_json(sqlite3 *db, struct flowq *fq, FILE *f, char *err,
    size_t errsz)
{
	sqlite3_stmt	*q;
	int64_t		 last = 0;
	uint32_t	 n = 0;
	int		 rc;

	if ((q = flowr_list_stmt(db, fq, err, errsz)) == NULL)
		return (-1);
	fputs("{\"flows\": [", f);
	while ((rc = flowr_step(q)) == 1) {
		last = sqlite3_column_int64(q, FQC_ID);
		fputs(n ? ",\n  " : "\n  ", f);
		flowr_json_row(f, q);
		n++;
	}
	sqlite3_finalize(q);
	if (rc == -1) {
		snprintf(err, errsz, "flow store: %s", sqlite3_errmsg(db));
		return (-1);
	}
	/* A full page: there may be more, from the last one on. */
	fprintf(f, "%s], \"count\": %u, \"%s\": ", n ? "\n" : "", n,
	    fq->fq_page == FLOWQ_AFTER ? "next_after" : "next_before");
	if (n == fq->fq_limit)
		fprintf(f, "%lld}\n", (long long)last);
	else
		fputs("null}\n", f);
	return (0);
}

int
flowr_list_ids(sqlite3 *db, struct flowq *fq, int64_t *ids, size_t max,
    size_t *n, char *err, size_t errsz)
{
	sqlite3_stmt	*q;
	int		 rc = 0;

	*n = 0;
	if ((q = flowr_list_stmt(db, fq, err, errsz)) == NULL)
		return (-1);
	while (*n < max && (rc = flowr_step(q)) == 1)
		ids[(*n)++] = sqlite3_column_int64(q, FQC_ID);
	sqlite3_finalize(q);
	if (rc == -1) {
		snprintf(err, errsz, "flow store: %s", sqlite3_errmsg(db));
		return (-1);
	}
	return (0);
}

/* Bytes as a JSON string: invalid UTF-8 becomes U+FFFD, as in events. */
void
flowr_json_bytes(FILE *f, const unsigned char *s, size_t n)
{
	size_t i = 0, l;

	putc('"', f);
	while (i < n) {
		if (s[i] == '"' || s[i] == '\\') {
			fprintf(f, "\\%c", s[i++]);
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f) {
			fprintf(f, "\\u%04x", s[i++]);
			continue;
		}
		if ((l = utf8_seq_len(s + i, n - i)) == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(s + i, 1, l, f);
		i += l;
	}
	putc('"', f);
}

void
flowr_json_str(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		flowr_json_bytes(f, (const unsigned char *)s, strlen(s));
}

/* A row as {"column": value, ...}; a column whose name ends in "_json"
 * holds JSON made by SQLite and goes in as it is, under the name
 * without the suffix. */
void
flowr_json_row(FILE *f, sqlite3_stmt *q)
{
	const char	*name, *v;
	size_t		 l;
	int		 i, n = sqlite3_column_count(q);

	putc('{', f);
	for (i = 0; i < n; i++) {
		name = sqlite3_column_name(q, i);
		l = strlen(name);
		fprintf(f, "%s", i ? ", " : "");
		if (l > 5 && strcmp(name + l - 5, "_json") == 0) {
			fprintf(f, "\"%.*s\": ", (int)(l - 5), name);
			v = (const char *)sqlite3_column_text(q, i);
			fputs(v != NULL ? v : "null", f);
			continue;
		}
		flowr_json_str(f, name);
		fputs(": ", f);
		switch (sqlite3_column_type(q, i)) {
		case SQLITE_INTEGER:
			fprintf(f, "%lld", (long long)sqlite3_column_int64(q, i));
			break;
		case SQLITE_FLOAT:
			fprintf(f, "%.3f", sqlite3_column_double(q, i));
			break;
		case SQLITE_NULL:
			fputs("null", f);
			break;
		default:
			flowr_json_bytes(f, sqlite3_column_text(q, i),
			    (size_t)sqlite3_column_bytes(q, i));
		}
	}
	putc('}', f);
}

/* Microseconds since the epoch of a stored time (…T03:40:01.123456Z). */
static double
flowr_ts_usec(const char *ts)
{
	struct tm	 tm;
	const char	*p;
	double		 frac = 0, scale = 1;
	int		 i;

	memset(&tm, 0, sizeof(tm));
	if (ts == NULL || (p = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)) ==
	    NULL)
		return (0);
	if (*p == '.')
		for (i = 1; p[i] >= '0' && p[i] <= '9'; i++) {
			scale /= 10;
			frac += (p[i] - '0') * scale;
		}
	return ((double)timegm(&tm) * FLOWR_USEC + frac * FLOWR_USEC);
}

/* Milliseconds from a to b; 0 when either is missing or b is earlier. */
double
flowr_ts_ms(const char *a, const char *b)
{
	double ua = flowr_ts_usec(a), ub = flowr_ts_usec(b);

	if (ua == 0 || ub == 0 || ub < ua)
		return (0);
	return ((ub - ua) / 1000.0);
}

