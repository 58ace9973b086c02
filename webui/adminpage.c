/*
 * The admin pages: plain HTML built here, one style sheet and one small
 * script built into webui (no CDN, no network; CSP 'self'). The flow
 * list works without JavaScript: a GET form of filters, a table, links
 * to older and newer pages (keyset paging by flow id). The script only
 * shows times in the browser's zone. /login asks for the token.
 *
 *   GET /		the flow list (filters as /api/flows takes them)
 *   GET /flows/ID	one flow: exchanges, heads, decoded bodies, TLS,
 *			the event timeline
 *   GET /login		the token form (POST /login: admin.c)
 *   GET /admin.css, /admin.js
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/flowq.h"
#include "common/flowr.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

#define ADMIN_FILTERS	7	/* host .. text, then limit */
#define ADMIN_QS_MAX	4096	/* a page link's query string */

static const char admin_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}\n"
    "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;"
    "vertical-align:top}\n"
    "td.url{word-break:break-all}pre{background:#f6f6f6;padding:6px;"
    "white-space:pre-wrap;word-break:break-all}\n"
    "form.f input{width:8em}nav a{margin-right:1em}.err{color:#a00}\n";

static const char admin_js[] =
    "\"use strict\";\n"
    "/* Times in the browser's own zone; the page works without it. */\n"
    "document.querySelectorAll(\"time[datetime]\").forEach(function (t) {\n"
    "  var d = new Date(t.getAttribute(\"datetime\"));\n"
    "  if (!isNaN(d)) t.title = d.toString();\n"
    "});\n";

static const char *const admin_fkeys[] = {
	"host", "method", "status", "protocol", "since", "until", "text",
	"limit",
};

/* The filter values as given, to fill the form and make page links. */
struct admin_form {
	char	af_val[nitems(admin_fkeys)][FLOWQ_TEXT_MAX];
};

static int
admin_form_one(void *arg, const char *key, const char *val, char *err,
    size_t errsz)
{
	struct admin_form *af = arg;
	size_t		   i;

	(void)err;
	(void)errsz;
	for (i = 0; i < nitems(admin_fkeys); i++)
		if (strcmp(key, admin_fkeys[i]) == 0)
			util_strlcpy(af->af_val[i], val, sizeof(af->af_val[i]));
	return (0);
}

static void
admin_html_head(struct evbuffer *b, const char *title)
{
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width\"><title>");
	webui_html_text(b, title);
	evbuffer_add_printf(b, " - mitmd admin</title><link rel=\"stylesheet\" "
	    "href=\"/admin.css\"><script src=\"/admin.js\" defer></script>"
	    "</head><body>\n");
}

static void
admin_html_send(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *b)
{
	evbuffer_add_printf(b, "</body></html>\n");
	admin_reply(req, code, reason, "text/html; charset=utf-8", b);
}

int
admin_page_static(struct evhttp_request *req, const char *path)
{
	struct evbuffer	*b;
	const char	*body, *ctype;

	if (strcmp(path, "/admin.css") == 0) {
		body = admin_css;
		ctype = "text/css; charset=utf-8";
	} else if (strcmp(path, "/admin.js") == 0) {
		body = admin_js;
		ctype = "text/javascript; charset=utf-8";
	} else
		return (-1);
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return (0);
	}
	evbuffer_add(b, body, strlen(body));
	admin_reply(req, HTTP_OK, "OK", ctype, b);
	evbuffer_free(b);
	return (0);
}

/* 401 with the token form; msg after a wrong token. */
void
admin_page_login(struct evhttp_request *req, const char *msg)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	admin_html_head(b, "Sign in");
	evbuffer_add_printf(b, "<h1>mitmd admin</h1>\n");
	if (msg != NULL) {
		evbuffer_add_printf(b, "<p class=\"err\">");
		webui_html_text(b, msg);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<form method=\"post\" action=\"/login\">"
	    "<label>Admin token <input type=\"password\" name=\"token\" "
	    "autocomplete=\"off\" required></label> <button>Sign in</button>"
	    "</form>\n<p>The token is in the state directory; <code>mitmctl "
	    "token</code> prints it.</p>\n");
	admin_html_send(req, ADMIN_HTTP_UNAUTHORIZED, "Unauthorized", b);
	evbuffer_free(b);
}

/* "key=value&..." of the form's filters, percent-encoded. */
static void
admin_qs(const struct admin_form *af, char *buf, size_t size)
{
	char	*enc;
	size_t	 i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < nitems(admin_fkeys); i++) {
		if (af->af_val[i][0] == '\0' ||
		    (enc = evhttp_encode_uri(af->af_val[i])) == NULL)
			continue;
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0,
		    "%s=%s&", admin_fkeys[i], enc);
		free(enc);
	}
	if (n >= size)
		buf[0] = '\0';	/* too long to link: the first page */
}

static void
admin_list_form(struct evbuffer *b, const struct admin_form *af,
    const char *link)
{
	size_t	 i;

	evbuffer_add_printf(b, "<form class=\"f\" method=\"get\" "
	    "action=\"/\">\n");
	for (i = 0; i < nitems(admin_fkeys); i++) {
		evbuffer_add_printf(b, "<label>%s <input name=\"%s\" "
		    "value=\"", admin_fkeys[i], admin_fkeys[i]);
		webui_html_text(b, af->af_val[i]);
		evbuffer_add_printf(b, "\"></label>\n");
	}
	evbuffer_add_printf(b, "<button>Filter</button> <a href=\"/\">all"
	    "</a> <a href=\"/flows.har?%s\">HAR of the first page</a>"
	    "</form>\n", link);
}

static const char *
admin_col(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return (s != NULL ? s : "");
}

static void
admin_list_row(struct evbuffer *b, sqlite3_stmt *q)
{
	long long id = (long long)sqlite3_column_int64(q, FQC_ID);

	evbuffer_add_printf(b, "<tr><td><a href=\"/flows/%lld\">%lld</a></td>"
	    "<td><time datetime=\"", id, id);
	webui_html_text(b, admin_col(q, FQC_FIRST_TS));
	evbuffer_add_printf(b, "\">");
	webui_html_text(b, admin_col(q, FQC_FIRST_TS));
	evbuffer_add_printf(b, "</time></td><td>");
	webui_html_text(b, admin_col(q, FQC_CLIENT));
	evbuffer_add_printf(b, "</td><td>");
	webui_html_text(b, admin_col(q, FQC_PROTOCOL));
	evbuffer_add_printf(b, "</td><td>");
	webui_html_text(b, admin_col(q, FQC_METHOD));
	evbuffer_add_printf(b, "</td><td>");
	webui_html_text(b, admin_col(q, FQC_STATUS));
	evbuffer_add_printf(b, "</td><td>");
	webui_html_text(b, admin_col(q, FQC_HOST));
	evbuffer_add_printf(b, ":%s</td><td class=\"url\">",
	    admin_col(q, FQC_PORT));
	webui_html_text(b, admin_col(q, FQC_URL));
	evbuffer_add_printf(b, "</td></tr>\n");
}

/* The rows; the first and last ids for the page links. -1: SQL error. */
static int
admin_list_rows(struct evbuffer *b, sqlite3 *db, struct flowq *fq,
    int64_t *first, int64_t *last, uint32_t *n)
{
	char		 sql[FLOWQ_SQL_MAX];
	sqlite3_stmt	*q;
	int		 rc;

	*n = 0;
	if (flowq_sql(fq, sql, sizeof(sql)) == -1 ||
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return (-1);
	if (flowq_bind(fq, q) == -1) {
		sqlite3_finalize(q);
		return (-1);
	}
	evbuffer_add_printf(b, "<table><thead><tr><th>flow</th><th>time</th>"
	    "<th>client</th><th>protocol</th><th>method</th><th>status</th>"
	    "<th>host</th><th>URL</th></tr></thead><tbody>\n");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == 0)
			*first = sqlite3_column_int64(q, FQC_ID);
		*last = sqlite3_column_int64(q, FQC_ID);
		admin_list_row(b, q);
		(*n)++;
	}
	sqlite3_finalize(q);
	evbuffer_add_printf(b, "</tbody></table>\n");
	return (rc == SQLITE_DONE ? 0 : -1);
}

static void
admin_list_page(struct webui *wu, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	struct admin_form af;
	struct flowq	 fq;
	struct evbuffer	*b;
	sqlite3		*db;
	const char	*qs = evhttp_uri_get_query(uri);
	char		 err[FLOWQ_ERR_MAX], link[ADMIN_QS_MAX];
	int64_t		 first = 0, last = 0, older, newer;
	uint32_t	 n = 0;
	int		 rv = 0;

	memset(&af, 0, sizeof(af));
	if (qs != NULL)
		(void)admin_pairs(qs, strlen(qs), admin_form_one, &af, err,
		    sizeof(err));
	flowq_init(&fq);
	err[0] = '\0';
	if ((db = admin_db(wu, req)) == NULL)
		return;
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	admin_qs(&af, link, sizeof(link));
	admin_html_head(b, "Flows");
	evbuffer_add_printf(b, "<h1>Flows</h1>\n");
	admin_list_form(b, &af, link);
	if (admin_query(&fq, qs, (int64_t)time(NULL), err, sizeof(err)) ==
	    -1 || flowq_resolve(&fq, db, err, sizeof(err)) == -1) {
		evbuffer_add_printf(b, "<p class=\"err\">");
		webui_html_text(b, err);
		evbuffer_add_printf(b, "</p>\n");
		admin_html_send(req, HTTP_BADREQUEST, "Bad Request", b);
		evbuffer_free(b);
		return;
	}
	rv = admin_list_rows(b, db, &fq, &first, &last, &n);
	/* AFTER pages come oldest first. */
	older = fq.fq_page == FLOWQ_AFTER ? first : last;
	newer = fq.fq_page == FLOWQ_AFTER ? last : first;
	evbuffer_add_printf(b, "<nav><a href=\"/?%s\">newest</a>", link);
	if (n > 0 && (fq.fq_page != FLOWQ_FIRST))
		evbuffer_add_printf(b, "<a href=\"/?%safter=%lld\">newer</a>",
		    link, (long long)newer);
	if (n > 0 && (n == fq.fq_limit || fq.fq_page == FLOWQ_AFTER))
		evbuffer_add_printf(b, "<a href=\"/?%sbefore=%lld\">older</a>",
		    link, (long long)older);
	evbuffer_add_printf(b, "</nav>\n<p>%u flows on this page.</p>\n", n);
	if (rv == -1) {
		evbuffer_free(b);
		admin_json_error(req, HTTP_INTERNAL, "Internal Server Error",
		    "the flow store could not answer");
		return;
	}
	admin_html_send(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* One query of the detail page as a table of its columns, each row. */
static int
admin_detail_table(struct evbuffer *b, sqlite3 *db, const char *sql,
    int64_t id, const char *title)
{
	sqlite3_stmt	*q;
	int		 i, rc, rows = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		evbuffer_add_printf(b, "<h2>");
		webui_html_text(b, title);
		if (rows++ > 0 || strcmp(title, "Exchange") == 0)
			evbuffer_add_printf(b, " %d", rows);
		evbuffer_add_printf(b, "</h2>\n<table>\n");
		for (i = 0; i < sqlite3_column_count(q); i++) {
			if (sqlite3_column_type(q, i) == SQLITE_NULL)
				continue;
			evbuffer_add_printf(b, "<tr><th>");
			webui_html_text(b, sqlite3_column_name(q, i));
			evbuffer_add_printf(b, "</th><td><pre>");
			webui_html_text(b, admin_col(q, i));
			evbuffer_add_printf(b, "</pre></td></tr>\n");
		}
		evbuffer_add_printf(b, "</table>\n");
	}
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE ? 0 : -1);
}

static void
admin_detail_page(struct webui *wu, struct evhttp_request *req, int64_t id)
{
	struct evbuffer	*b;
	sqlite3		*db;
	sqlite3_stmt	*q;
	char		 title[WEBUI_NAME_MAX];
	int		 found, rv;

	if ((db = admin_db(wu, req)) == NULL)
		return;
	if (sqlite3_prepare_v2(db, flowr_flow_sql, -1, &q, NULL) !=
	    SQLITE_OK) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	sqlite3_bind_int64(q, 1, id);
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	if (!found) {
		admin_text(req, HTTP_NOTFOUND, "Not Found", "No such flow in "
		    "the store.\n");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	snprintf(title, sizeof(title), "Flow %lld", (long long)id);
	admin_html_head(b, title);
	evbuffer_add_printf(b, "<nav><a href=\"/\">flows</a><a href=\""
	    "/api/flows/%lld\">JSON</a></nav>\n<h1>Flow %lld</h1>\n",
	    (long long)id, (long long)id);
	rv = admin_detail_table(b, db, flowr_flow_sql, id, "Flow");
	if (rv == 0)
		rv = admin_detail_table(b, db, flowr_tls_sql, id, "TLS");
	if (rv == 0)
		rv = admin_detail_table(b, db, flowr_exchange_sql, id,
		    "Exchange");
	if (rv == 0) {
		evbuffer_add_printf(b, "<h2>Events</h2>\n<table><tr><th>seq"
		    "</th><th>time</th><th>type</th><th>detail</th></tr>\n");
		rv = admin_detail_events(b, db, id);
		evbuffer_add_printf(b, "</table>\n");
	}
	if (rv == -1) {
		evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	admin_html_send(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

int
admin_detail_events(struct evbuffer *b, sqlite3 *db, int64_t id)
{
	sqlite3_stmt	*q;
	int		 i, rc;

	if (sqlite3_prepare_v2(db, flowr_timeline_sql, -1, &q, NULL) !=
	    SQLITE_OK)
		return (-1);
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		evbuffer_add_printf(b, "<tr>");
		for (i = 0; i < 4; i++) {
			evbuffer_add_printf(b, "<td>");
			webui_html_text(b, admin_col(q, i));
			evbuffer_add_printf(b, "</td>");
		}
		evbuffer_add_printf(b, "</tr>\n");
	}
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE ? 0 : -1);
}

int
admin_page(struct webui *wu, struct evhttp_request *req, const char *path,
    const struct evhttp_uri *uri)
{
	int64_t	 id;

	if (strcmp(path, "/") == 0)
		admin_list_page(wu, req, uri);
	else if (admin_flow_id(path, "/flows/", &id) == 0)
		admin_detail_page(wu, req, id);
	else
		return (-1);
	return (0);
}
