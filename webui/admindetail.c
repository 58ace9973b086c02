/*
 * GET /flows/ID on the admin listener: one flow for a person. The same
 * store rows as /api/flows/ID and "mitmctl flows show" (common/flowr.c),
 * laid out: the flow, its TLS, each exchange with its heads and what
 * the decoder chain made of its bodies, then its WebSocket messages, SSE
 * events and gRPC messages, then every event in order.
 *
 * The JSON the store keeps (header lists, decoded bodies) is taken apart
 * by SQLite's JSON functions, bound as a parameter: webui has no other
 * JSON parser, and needs none. A JSON body is shown compact; admin.js
 * indents it when JavaScript runs. Each list is cut at ADMIN_ROWS_MAX
 * rows; the JSON view has them all.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sqlite3.h>

#include "common/flowr.h"
#include "common/utf8.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

#define ADMIN_ROWS_MAX	1000	/* of each list on the page */
#define ADMIN_HEAD_MAX	(64 * 1024)	/* a WebSocket payload's head */

/*
 * The body of a decoded result (or of one of its parts) J as text: a
 * JSON body as JSON text (SQLite gives the bare value of a string or a
 * boolean), a text body as it is, a binary one in base64.
 */
#define ADMIN_BODY(J)							\
	"CASE json_type(" J ", '$.body') "				\
	"WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "		\
	"WHEN 'null' THEN 'null' "					\
	"WHEN 'text' THEN iif(json_extract(" J ", '$.kind') = 'json', "	\
	"json_quote(json_extract(" J ", '$.body')), "			\
	"json_extract(" J ", '$.body')) "				\
	"ELSE json_extract(" J ", '$.body') END"

static const char admin_hdr_sql[] =
    "SELECT json_extract(value, '$.name'), json_extract(value, '$.value') "
    "FROM json_each(?1)";

/* The chain's stages as "gzip → json", a failure with its reason. */
static const char admin_dec_sql[] =
    "SELECT json_extract(?1, '$.kind'), json_extract(?1, '$.framing'), "
    "(SELECT group_concat(coalesce(json_extract(s.value, '$.codec'), "
    " json_extract(s.value, '$.stage')) || "
    " iif(json_extract(s.value, '$.ok'), '', ' failed: ' || "
    " coalesce(json_extract(s.value, '$.error'), '?')) || "
    " iif(json_extract(s.value, '$.truncated'), ' (cut)', ''), ' → ') "
    " FROM json_each(?1, '$.stages') AS s), "
    "json_extract(?1, '$.truncated'), json_extract(?1, '$.sanitized'), "
    ADMIN_BODY("?1");

enum { DEC_KIND, DEC_FRAMING, DEC_STAGES, DEC_TRUNC, DEC_SANITIZED, DEC_BODY };

/* The parts of a framed body: gRPC messages or SSE events. */
static const char admin_parts_sql[] =
    "SELECT key, json_extract(value, '$.event'), json_extract(value, "
    "'$.length'), json_extract(value, '$.compressed'), json_extract(value, "
    "'$.kind'), json_extract(value, '$.error'), json_extract(value, "
    "'$.truncated'), " ADMIN_BODY("value") " FROM json_each(?1, '$.body')";

enum { PART_INDEX, PART_EVENT, PART_LEN, PART_COMPRESSED, PART_KIND,
    PART_ERROR, PART_TRUNC, PART_BODY };

static const char admin_ws_sql[] =
    "SELECT seq, ts, json_extract(json, '$.stream'), json_extract(json, "
    "'$.from'), json_extract(json, '$.opcode'), json_extract(json, "
    "'$.length'), json_extract(json, '$.compressed'), json_extract(json, "
    "'$.close_code'), json_extract(json, '$.close_reason'), "
    "json_extract(json, '$.head_b64') FROM events WHERE flow_id = ?1 AND "
    "type = 'ws_message' ORDER BY seq";

enum { WS_SEQ, WS_TS, WS_STREAM, WS_FROM, WS_OPCODE, WS_LEN, WS_COMPRESSED,
    WS_CLOSE_CODE, WS_CLOSE_REASON, WS_HEAD };

static const char admin_sse_sql[] =
    "SELECT seq, ts, json_extract(json, '$.stream'), json_extract(json, "
    "'$.event'), json_extract(json, '$.id'), json_extract(json, "
    "'$.data_size'), json_extract(json, '$.data') FROM events WHERE "
    "flow_id = ?1 AND type = 'sse_event' ORDER BY seq";

static const char admin_grpc_sql[] =
    "SELECT seq, ts, json_extract(json, '$.stream'), json_extract(json, "
    "'$.from'), json_extract(json, '$.index'), json_extract(json, "
    "'$.length'), iif(json_extract(json, '$.compressed'), 'yes', ''), "
    "coalesce(json_extract(json, '$.error') || ': ' || json_extract(json, "
    "'$.detail'), json_extract(json, '$.error')) FROM events "
    "WHERE flow_id = ?1 AND type = 'grpc_message' ORDER BY seq";

const char *
admin_col(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return (s != NULL ? s : "");
}

static void
admin_cell(struct evbuffer *b, sqlite3_stmt *q, int i)
{
	evbuffer_add_printf(b, "<td>");
	webui_html_text(b, admin_col(q, i));
	evbuffer_add_printf(b, "</td>");
}

static void
admin_th(struct evbuffer *b, const char *const *names, size_t n)
{
	size_t i;

	evbuffer_add_printf(b, "<table><thead><tr>");
	for (i = 0; i < n; i++)
		evbuffer_add_printf(b, "<th>%s</th>", names[i]);
	evbuffer_add_printf(b, "</tr></thead><tbody>\n");
}

/* A statement over the JSON text js (?1); NULL on an SQLite error. */
static sqlite3_stmt *
admin_json_stmt(sqlite3 *db, const char *sql, const char *js)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return (NULL);
	sqlite3_bind_text(q, 1, js, -1, SQLITE_STATIC);
	return (q);
}

/* A body in a <pre>: class "json" for admin.js to indent. */
static void
admin_pre(struct evbuffer *b, const char *kind, const unsigned char *s,
    int len)
{
	evbuffer_add_printf(b, "<pre class=\"body%s\">",
	    strcmp(kind, "json") == 0 ? " json" : "");
	if (s != NULL && len > 0)
		webui_html_textn(b, (const char *)s, (size_t)len, 1);
	evbuffer_add_printf(b, "</pre>\n");
}

static int
admin_headers_table(struct evbuffer *b, sqlite3 *db, const char *js)
{
	sqlite3_stmt	*q;
	int		 rc;

	if ((q = admin_json_stmt(db, admin_hdr_sql, js)) == NULL)
		return (-1);
	evbuffer_add_printf(b, "<table class=\"hdrs\">\n");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		evbuffer_add_printf(b, "<tr><th>");
		webui_html_text(b, admin_col(q, 0));
		evbuffer_add_printf(b, "</th><td>");
		webui_html_text(b, admin_col(q, 1));
		evbuffer_add_printf(b, "</td></tr>\n");
	}
	sqlite3_finalize(q);
	evbuffer_add_printf(b, "</table>\n");
	return (rc == SQLITE_DONE ? 0 : -1);
}

static int
admin_parts(struct evbuffer *b, sqlite3 *db, const char *js,
    const char *framing)
{
	sqlite3_stmt	*q;
	int		 rc, n = 0;

	if ((q = admin_json_stmt(db, admin_parts_sql, js)) == NULL)
		return (-1);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && n++ < ADMIN_ROWS_MAX) {
		evbuffer_add_printf(b, "<p class=\"part\">%s %s",
		    strcmp(framing, "sse") == 0 ? "event" : "message",
		    admin_col(q, PART_INDEX));
		if (sqlite3_column_type(q, PART_EVENT) != SQLITE_NULL) {
			evbuffer_add_printf(b, " <b>");
			webui_html_text(b, admin_col(q, PART_EVENT));
			evbuffer_add_printf(b, "</b>");
		}
		if (sqlite3_column_type(q, PART_LEN) != SQLITE_NULL)
			evbuffer_add_printf(b, ", %s bytes%s",
			    admin_col(q, PART_LEN),
			    sqlite3_column_int(q, PART_COMPRESSED) ?
			    ", compressed" : "");
		if (sqlite3_column_int(q, PART_TRUNC))
			evbuffer_add_printf(b, ", cut short");
		if (sqlite3_column_type(q, PART_ERROR) != SQLITE_NULL) {
			evbuffer_add_printf(b, " <span class=\"err\">");
			webui_html_text(b, admin_col(q, PART_ERROR));
			evbuffer_add_printf(b, "</span>");
		}
		evbuffer_add_printf(b, "</p>\n");
		admin_pre(b, admin_col(q, PART_KIND),
		    sqlite3_column_text(q, PART_BODY),
		    sqlite3_column_bytes(q, PART_BODY));
	}
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1);
}

/* What the decoder chain made of a body (the store's decoded row). */
static int
admin_decoded(struct evbuffer *b, sqlite3 *db, const char *js)
{
	sqlite3_stmt	*q;
	const char	*framing;
	int		 rv = 0;

	if ((q = admin_json_stmt(db, admin_dec_sql, js)) == NULL)
		return (-1);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_finalize(q);
		return (-1);
	}
	evbuffer_add_printf(b, "<p class=\"dec\">Decoded: ");
	webui_html_text(b, admin_col(q, DEC_STAGES));
	evbuffer_add_printf(b, "%s", sqlite3_column_type(q, DEC_STAGES) ==
	    SQLITE_NULL ? "as captured" : "");
	evbuffer_add_printf(b, ", shown as ");
	webui_html_text(b, admin_col(q, DEC_KIND));
	if (sqlite3_column_int(q, DEC_SANITIZED))
		evbuffer_add_printf(b, ", anti-hijacking prefix removed");
	if (sqlite3_column_int(q, DEC_TRUNC))
		evbuffer_add_printf(b, ", the capture's first bytes only");
	evbuffer_add_printf(b, "</p>\n");
	framing = admin_col(q, DEC_FRAMING);
	if (framing[0] != '\0')
		rv = admin_parts(b, db, js, framing);
	else
		admin_pre(b, admin_col(q, DEC_KIND),
		    sqlite3_column_text(q, DEC_BODY),
		    sqlite3_column_bytes(q, DEC_BODY));
	sqlite3_finalize(q);
	return (rv);
}

static int
admin_col_index(sqlite3_stmt *q, const char *name)
{
	int i;

	for (i = 0; i < sqlite3_column_count(q); i++)
		if (strcmp(sqlite3_column_name(q, i), name) == 0)
			return (i);
	return (-1);
}

/* One side of an exchange: its head fields, then its body. */
static int
admin_side(struct evbuffer *b, sqlite3 *db, sqlite3_stmt *q,
    const char *side)
{
	char	 name[64];
	int	 h, d, sz;

	snprintf(name, sizeof(name), "%s_headers_json", side);
	h = admin_col_index(q, name);
	snprintf(name, sizeof(name), "%s_decoded_json", side);
	d = admin_col_index(q, name);
	snprintf(name, sizeof(name), "%s_body_size", side);
	sz = admin_col_index(q, name);
	if (h == -1 || sqlite3_column_type(q, h) == SQLITE_NULL)
		return (0);
	evbuffer_add_printf(b, "<h3>%c%s head</h3>\n", side[0] - 'a' + 'A',
	    side + 1);
	if (admin_headers_table(b, db, admin_col(q, h)) == -1)
		return (-1);
	if (sz != -1 && sqlite3_column_type(q, sz) != SQLITE_NULL)
		evbuffer_add_printf(b, "<h3>%c%s body, %s bytes</h3>\n",
		    side[0] - 'a' + 'A', side + 1, admin_col(q, sz));
	if (d == -1 || sqlite3_column_type(q, d) == SQLITE_NULL)
		return (0);
	return (admin_decoded(b, db, admin_col(q, d)));
}

static int
admin_exchanges(struct evbuffer *b, sqlite3 *db, int64_t id)
{
	sqlite3_stmt	*q;
	const char	*name;
	int		 i, rc, n = 0;

	if (sqlite3_prepare_v2(db, flowr_exchange_sql, -1, &q, NULL) !=
	    SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < ADMIN_ROWS_MAX) {
		evbuffer_add_printf(b, "<section class=\"xchg\"><h2>Exchange "
		    "%d</h2>\n<table>\n", ++n);
		for (i = 0; i < sqlite3_column_count(q); i++) {
			name = sqlite3_column_name(q, i);
			if (sqlite3_column_type(q, i) == SQLITE_NULL ||
			    strstr(name, "_json") != NULL)
				continue;
			evbuffer_add_printf(b, "<tr><th>");
			webui_html_text(b, name);
			evbuffer_add_printf(b, "</th><td>");
			webui_html_text(b, admin_col(q, i));
			evbuffer_add_printf(b, "</td></tr>\n");
		}
		evbuffer_add_printf(b, "</table>\n");
		if (admin_side(b, db, q, "request") == -1 ||
		    admin_side(b, db, q, "response") == -1) {
			sqlite3_finalize(q);
			return (-1);
		}
		evbuffer_add_printf(b, "</section>\n");
	}
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1);
}

/* Printable UTF-8 (tabs and line ends allowed), as a page shows text. */
static int
admin_printable(const uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r')
			return (0);
		if (p[i] == 0x7f || (k = utf8_seq_len(p + i, n - i)) == 0)
			return (0);
		i += k;
	}
	return (1);
}

/* A message's captured head: text when it is, else its base64. */
static void
admin_ws_payload(struct evbuffer *b, const char *b64)
{
	static uint8_t	 buf[ADMIN_HEAD_MAX];
	size_t		 n = strlen(b64);
	ssize_t		 len;

	evbuffer_add_printf(b, "<td><pre>");
	if ((len = wev_b64_decode(b64, n, buf, sizeof(buf))) >= 0 &&
	    admin_printable(buf, (size_t)len))
		webui_html_textn(b, (const char *)buf, (size_t)len, 1);
	else if (n > 0) {
		evbuffer_add_printf(b, "base64: ");
		webui_html_text(b, b64);
	}
	evbuffer_add_printf(b, "</pre></td>");
}

/* A WebSocket message's cells (admin_list). */
static void
admin_ws_row(struct evbuffer *b, sqlite3_stmt *q, size_t ncols)
{
	(void)ncols;
	admin_cell(b, q, WS_SEQ);
	admin_cell(b, q, WS_TS);
	admin_cell(b, q, WS_STREAM);
	admin_cell(b, q, WS_FROM);
	evbuffer_add_printf(b, "<td>");
	webui_html_text(b, admin_col(q, WS_OPCODE));
	if (sqlite3_column_type(q, WS_CLOSE_CODE) != SQLITE_NULL) {
		evbuffer_add_printf(b, " %s ", admin_col(q, WS_CLOSE_CODE));
		webui_html_text(b, admin_col(q, WS_CLOSE_REASON));
	}
	evbuffer_add_printf(b, "</td><td>%s%s</td>", admin_col(q, WS_LEN),
	    sqlite3_column_int(q, WS_COMPRESSED) ? ", compressed" : "");
	/* a close frame's payload is its code and reason, above */
	admin_ws_payload(b, sqlite3_column_type(q, WS_CLOSE_CODE) ==
	    SQLITE_NULL ? admin_col(q, WS_HEAD) : "");
}

typedef void admin_row_fn(struct evbuffer *, sqlite3_stmt *, size_t);

/* A row's columns, one cell each. */
static void
admin_cells(struct evbuffer *b, sqlite3_stmt *q, size_t ncols)
{
	size_t i;

	for (i = 0; i < ncols; i++)
		admin_cell(b, q, (int)i);
}

/* The same, the last one (a text of several lines) in a <pre>. */
static void
admin_cells_pre(struct evbuffer *b, sqlite3_stmt *q, size_t ncols)
{
	int last = (int)ncols - 1;

	admin_cells(b, q, ncols - 1);
	evbuffer_add_printf(b, "<td><pre>");
	webui_html_textn(b, admin_col(q, last),
	    (size_t)sqlite3_column_bytes(q, last), 1);
	evbuffer_add_printf(b, "</pre></td>");
}

/* A list of the flow's events of one type, a row each (row makes its
 * cells), under a title; nothing when there is none. */
static int
admin_list(struct evbuffer *b, sqlite3 *db, int64_t id, const char *sql,
    const char *title, const char *cls, const char *const *cols,
    size_t ncols, admin_row_fn *row)
{
	sqlite3_stmt	*q;
	int		 rc, n = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < ADMIN_ROWS_MAX) {
		if (n++ == 0) {
			evbuffer_add_printf(b, "<h2>%s</h2>\n", title);
			admin_th(b, cols, ncols);
		}
		evbuffer_add_printf(b, "<tr class=\"%s\">", cls);
		row(b, q, ncols);
		evbuffer_add_printf(b, "</tr>\n");
	}
	sqlite3_finalize(q);
	if (n > 0)
		evbuffer_add_printf(b, "</tbody></table>\n");
	return (rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1);
}

/* One query's row as a table of its columns, NULLs left out. */
static int
admin_row_table(struct evbuffer *b, sqlite3 *db, const char *sql,
    int64_t id, const char *title)
{
	sqlite3_stmt	*q;
	int		 i, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		evbuffer_add_printf(b, "<h2>%s</h2>\n<table>\n", title);
		for (i = 0; i < sqlite3_column_count(q); i++) {
			if (sqlite3_column_type(q, i) == SQLITE_NULL)
				continue;
			evbuffer_add_printf(b, "<tr><th>");
			webui_html_text(b, sqlite3_column_name(q, i));
			evbuffer_add_printf(b, "</th><td>");
			webui_html_text(b, admin_col(q, i));
			evbuffer_add_printf(b, "</td></tr>\n");
		}
		evbuffer_add_printf(b, "</table>\n");
	}
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE ? 0 : -1);
}

static int
admin_timeline(struct evbuffer *b, sqlite3 *db, int64_t id)
{
	static const char *const cols[] = { "seq", "time", "type", "detail" };

	return (admin_list(b, db, id, flowr_timeline_sql, "Events", "ev",
	    cols, nitems(cols), admin_cells));
}

/* The detail page: -1 on an SQLite error (the page is then not sent). */
int
admin_detail(struct evbuffer *b, sqlite3 *db, int64_t id)
{
	static const char *const ws_cols[] = { "seq", "time", "stream",
	    "from", "opcode", "bytes", "payload (first bytes)" };
	static const char *const sse_cols[] = { "seq", "time", "stream",
	    "event", "id", "bytes", "data" };
	static const char *const grpc_cols[] = { "seq", "time", "stream",
	    "from", "message", "bytes", "compressed", "error" };

	if (admin_row_table(b, db, flowr_flow_sql, id, "Flow") == -1 ||
	    admin_row_table(b, db, flowr_tls_sql, id, "TLS") == -1 ||
	    admin_exchanges(b, db, id) == -1 ||
	    admin_list(b, db, id, admin_ws_sql, "WebSocket messages", "ws",
	    ws_cols, nitems(ws_cols), admin_ws_row) == -1 ||
	    admin_list(b, db, id, admin_sse_sql, "Server-sent events", "sse",
	    sse_cols, nitems(sse_cols), admin_cells_pre) == -1 ||
	    admin_list(b, db, id, admin_grpc_sql, "gRPC messages", "grpc",
	    grpc_cols, nitems(grpc_cols), admin_cells) == -1 ||
	    admin_timeline(b, db, id) == -1)
		return (-1);
	return (0);
}
