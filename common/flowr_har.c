/*
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) of a
 * selection of flows, for "mitmctl flows export --har" and webui's
 * /flows.har (flowr.h): one entry per
 * exchange (request head, its response), oldest first. Header fields,
 * sizes and times come from the stored events (flowr_exchange_sql in
 * flowr.c); a body's text from its captured bytes in the bodies
 * table, as text when it is UTF-8 and not content-coded, else in
 * base64 with "encoding": "base64". What was not captured is left out
 * (postData) or empty (content.text absent), with its size kept.
 * Extra members begin with an underscore, as the format asks:
 * _flow_id and _stream name the exchange in the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "common/flowr.h"
#include "common/utf8.h"

#define HAR_BODY_MAX	((size_t)64 * 1024 * 1024)	/* bytes read back, at most */
#define HAR_VERSION	"1.2"

enum har_col {
	HC_STREAM, HC_STARTED, HC_METHOD, HC_URL, HC_TARGET, HC_HTTPV,
	HC_REQ_HEADERS, HC_REQ_SIZE, HC_REQ_SHA, HC_REQ_DECODED,
	HC_RESP_TS, HC_STATUS, HC_REASON, HC_RESP_HTTPV, HC_RESP_HEADERS,
	HC_RESP_SIZE, HC_RESP_SHA, HC_RESP_DECODED, HC_ENDED, HC_REQ_ENDED,
	HC_REQ_CTYPE, HC_REQ_CENC, HC_RESP_CTYPE, HC_RESP_CENC, HC_LOCATION,
};

struct har_buf {
	unsigned char	*hb_data;
	size_t		 hb_len;
	size_t		 hb_size;
};

static const char *
har_text(sqlite3_stmt *q, int col, const char *dflt)
{
	const char *s = (const char *)sqlite3_column_text(q, col);

	return (s != NULL ? s : dflt);
}

/* The captured bytes of a body, from offset 0 to the first gap: 1, 0
 * when none were captured, -1 on an error. */
static int
har_capture(sqlite3 *db, int64_t flow, int64_t stream, const char *dir,
    struct har_buf *b)
{
	sqlite3_stmt	*q;
	const void	*p;
	size_t		 n, want;
	unsigned char	*nd;

	b->hb_len = 0;
	if (sqlite3_prepare_v2(db, "SELECT offset, data FROM bodies WHERE "
	    "flow_id = ?1 AND stream = ?2 AND dir = ?3 ORDER BY offset", -1,
	    &q, NULL) != SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(q, 1, flow);
	sqlite3_bind_int64(q, 2, stream);
	sqlite3_bind_text(q, 3, dir, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		n = (size_t)sqlite3_column_bytes(q, 1);
		p = sqlite3_column_blob(q, 1);
		if (sqlite3_column_int64(q, 0) != (int64_t)b->hb_len ||
		    n > HAR_BODY_MAX - b->hb_len)
			break;
		if (b->hb_len + n > b->hb_size) {
			want = (b->hb_len + n) * 2;
			if ((nd = realloc(b->hb_data, want)) == NULL) {
				sqlite3_finalize(q);
				return (-1);
			}
			b->hb_data = nd;
			b->hb_size = want;
		}
		if (n > 0 && b->hb_data != NULL && p != NULL)
			memcpy(b->hb_data + b->hb_len, p, n);
		b->hb_len += n;
	}
	sqlite3_finalize(q);
	return (b->hb_len > 0);
}

static int
har_is_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		if ((l = utf8_seq_len(s + i, n - i)) == 0)
			return (0);
		i += l;
	}
	return (1);
}

/* "text" (and "encoding") of captured bytes; "comment" for a part. */
static void
har_body_text(FILE *f, const struct har_buf *b, const char *cenc,
    int64_t size)
{
	unsigned char	*out;
	size_t		 olen;
	int		 coded = cenc != NULL && strcmp(cenc, "identity") != 0;

	if (!coded && har_is_utf8(b->hb_data, b->hb_len)) {
		fputs(", \"text\": ", f);
		flowr_json_bytes(f, b->hb_data, b->hb_len);
	} else {
		olen = 4 * ((b->hb_len + 2) / 3) + 1;
		if ((out = malloc(olen)) == NULL)
			return;	/* the text left out, its size kept */
		EVP_EncodeBlock(out, b->hb_data, (int)b->hb_len);
		fprintf(f, ", \"text\": \"%s\", \"encoding\": \"base64\"",
		    (const char *)out);
		free(out);
	}
	if (coded) {
		fputs(", \"comment\": ", f);
		flowr_json_str(f, "the bytes as sent, with their "
		    "Content-Encoding");
	}
	if (size >= 0 && (int64_t)b->hb_len < size)
		fprintf(f, "%s\"_captured\": %zu", ", ", b->hb_len);
}

/* "?a=1&b" of a URL as [{name, value}], as it is written. */
static void
har_query(FILE *f, const char *url)
{
	const char	*p, *end, *eq;
	int		 n = 0;

	fputs("[", f);
	if (url != NULL && (p = strchr(url, '?')) != NULL) {
		p++;
		while (*p != '\0' && *p != '#') {
			end = p + strcspn(p, "&#");
			eq = memchr(p, '=', (size_t)(end - p));
			if (end > p) {
				fprintf(f, "%s{\"name\": ", n++ ? ", " : "");
				flowr_json_bytes(f, (const unsigned char *)p,
				    (size_t)((eq ? eq : end) - p));
				fputs(", \"value\": ", f);
				flowr_json_bytes(f, (const unsigned char *)(eq ?
				    eq + 1 : end), eq ? (size_t)(end - eq - 1) :
				    0);
				fputs("}", f);
			}
			p = *end == '&' ? end + 1 : end;
		}
	}
	fputs("]", f);
}

static void
har_request(FILE *f, sqlite3 *db, sqlite3_stmt *q, int64_t flow,
    struct har_buf *b)
{
	const char	*url = har_text(q, HC_URL, har_text(q, HC_TARGET, ""));
	int64_t		 size = sqlite3_column_type(q, HC_REQ_SIZE) ==
	    SQLITE_NULL ? 0 : sqlite3_column_int64(q, HC_REQ_SIZE);

	fputs("\"request\": {\"method\": ", f);
	flowr_json_str(f, har_text(q, HC_METHOD, ""));
	fputs(", \"url\": ", f);
	flowr_json_str(f, url);
	fputs(", \"httpVersion\": ", f);
	flowr_json_str(f, har_text(q, HC_HTTPV, ""));
	fprintf(f, ", \"cookies\": [], \"headers\": %s, \"queryString\": ",
	    har_text(q, HC_REQ_HEADERS, "[]"));
	har_query(f, url);
	if (har_capture(db, flow, sqlite3_column_int64(q, HC_STREAM),
	    "request", b) == 1) {
		fputs(", \"postData\": {\"mimeType\": ", f);
		flowr_json_str(f, har_text(q, HC_REQ_CTYPE, ""));
		fputs(", \"params\": []", f);
		har_body_text(f, b, har_text(q, HC_REQ_CENC, NULL), size);
		fputs("}", f);
	}
	fprintf(f, ", \"headersSize\": -1, \"bodySize\": %lld}",
	    (long long)size);
}

static void
har_response(FILE *f, sqlite3 *db, sqlite3_stmt *q, int64_t flow,
    struct har_buf *b)
{
	int64_t size = sqlite3_column_type(q, HC_RESP_SIZE) == SQLITE_NULL ?
	    0 : sqlite3_column_int64(q, HC_RESP_SIZE);

	fprintf(f, "\"response\": {\"status\": %d, \"statusText\": ",
	    sqlite3_column_int(q, HC_STATUS));
	flowr_json_str(f, har_text(q, HC_REASON, ""));
	fputs(", \"httpVersion\": ", f);
	flowr_json_str(f, har_text(q, HC_RESP_HTTPV, ""));
	fprintf(f, ", \"cookies\": [], \"headers\": %s, \"content\": "
	    "{\"size\": %lld, \"mimeType\": ", har_text(q, HC_RESP_HEADERS,
	    "[]"), (long long)size);
	flowr_json_str(f, har_text(q, HC_RESP_CTYPE, ""));
	if (har_capture(db, flow, sqlite3_column_int64(q, HC_STREAM),
	    "response", b) == 1)
		har_body_text(f, b, har_text(q, HC_RESP_CENC, NULL), size);
	fputs("}, \"redirectURL\": ", f);
	flowr_json_str(f, har_text(q, HC_LOCATION, ""));
	fprintf(f, ", \"headersSize\": -1, \"bodySize\": %lld}",
	    (long long)size);
}

static void
har_entry(FILE *f, sqlite3 *db, sqlite3_stmt *q, int64_t flow,
    struct har_buf *b)
{
	const char	*start = har_text(q, HC_STARTED, NULL);
	const char	*sent = har_text(q, HC_REQ_ENDED, start);
	const char	*resp = har_text(q, HC_RESP_TS, NULL);
	const char	*end = har_text(q, HC_ENDED, start);
	double		 send = flowr_ts_ms(start, sent);
	double		 wait = resp != NULL ? flowr_ts_ms(sent, resp) : 0;
	double		 recv = resp != NULL ? flowr_ts_ms(resp, end) : 0;

	fputs("{\"startedDateTime\": ", f);
	flowr_json_str(f, start);
	fprintf(f, ", \"time\": %.3f, ", send + wait + recv);
	har_request(f, db, q, flow, b);
	fputs(", ", f);
	har_response(f, db, q, flow, b);
	fprintf(f, ", \"cache\": {}, \"timings\": {\"blocked\": -1, "
	    "\"dns\": -1, \"connect\": -1, \"ssl\": -1, \"send\": %.3f, "
	    "\"wait\": %.3f, \"receive\": %.3f}, \"connection\": \"%lld\", "
	    "\"_flow_id\": %lld, \"_stream\": %lld}", send, wait, recv,
	    (long long)flow, (long long)flow,
	    (long long)sqlite3_column_int64(q, HC_STREAM));
}

/* ids: newest first, as the flow list gives them. */
int
flowr_har(sqlite3 *db, const int64_t *ids, size_t n, FILE *f,
    const char *creator)
{
	struct har_buf	 b = { NULL, 0, 0 };
	sqlite3_stmt	*q;
	size_t		 i;
	int		 entries = 0;

	if (sqlite3_prepare_v2(db, flowr_exchange_sql, -1, &q, NULL) !=
	    SQLITE_OK)
		return (-1);
	fprintf(f, "{\"log\": {\"version\": \"%s\", \"creator\": "
	    "{\"name\": ", HAR_VERSION);
	flowr_json_str(f, creator);
	fputs(", \"version\": \"1\"}, \"pages\": [], \"entries\": [", f);
	for (i = n; i > 0; i--) {
		sqlite3_bind_int64(q, 1, ids[i - 1]);
		while (sqlite3_step(q) == SQLITE_ROW) {
			fputs(entries++ ? ",\n" : "\n", f);
			har_entry(f, db, q, ids[i - 1], &b);
		}
		if (sqlite3_errcode(db) != SQLITE_DONE &&
		    sqlite3_errcode(db) != SQLITE_OK &&
		    sqlite3_errcode(db) != SQLITE_ROW) {
			sqlite3_finalize(q);
			free(b.hb_data);
			return (-1);
		}
		sqlite3_reset(q);
	}
	fputs("\n]}}\n", f);
	sqlite3_finalize(q);
	free(b.hb_data);
	return (0);
}
