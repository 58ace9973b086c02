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
    "form.f input{width:8em}nav a{margin-right:1em}.err{color:#a00}\n"
    "h3{font-size:1em;margin:1em 0 .3em}table.hdrs th{width:16em;"
    "font-weight:normal;color:#555}\n"
    "pre.body{max-height:40em;overflow:auto}p.dec,p.part{margin:.3em 0}\n"
    "section.xchg{border-top:2px solid #ccc;margin-top:1.5em}\n"
    "form.out{float:right}\n";

static const char admin_js[] =
    "\"use strict\";\n"
    "/* The admin pages work without this script. With it: times in the\n"
    " * browser's zone, JSON bodies indented, and the newest page of the flow\n"
    " * list follows the live feed (wss /api/feed), resuming after the last\n"
    " * event it saw when the connection drops. */\n"
    "document.querySelectorAll(\"time[datetime]\").forEach(function (t) {\n"
    "  var d = new Date(t.getAttribute(\"datetime\"));\n"
    "  if (!isNaN(d)) t.title = d.toString();\n"
    "});\n"
    "document.querySelectorAll(\"pre.json\").forEach(function (p) {\n"
    "  try {\n"
    "    p.textContent = JSON.stringify(JSON.parse(p.textContent), null, 2);\n"
    "  } catch (e) { /* shown as stored */ }\n"
    "});\n"
    "(function () {\n"
    "  var tb = document.getElementById(\"flows\");\n"
    "  var st = document.getElementById(\"live\");\n"
    "  var ROWS = 1000, rows = {}, delay = 500, after;\n"
    "  if (!tb || !st || !window.WebSocket ||\n"
    "      !tb.hasAttribute(\"data-after\"))\n"
    "    return;\n"
    "  var filters = tb.getAttribute(\"data-filters\"), newest = 0;\n"
    "  var timer = null, busy = false, again = false;\n"
    "  after = tb.getAttribute(\"data-after\");\n"
    "  Array.prototype.forEach.call(tb.rows, function (r) {\n"
    "    rows[r.getAttribute(\"data-flow\")] = r;\n"
    "    newest = Math.max(newest, Number(r.getAttribute(\"data-flow\")));\n"
    "  });\n"
    "  function set(r, i, v) {\n"
    "    if (v !== undefined && v !== null)\n"
    "      r.cells[i].textContent = String(v);\n"
    "  }\n"
    "  function row(e) {\n"
    "    var id = String(e.flow_id), r = rows[id], a, t, i, o;\n"
    "    if (r) return r;\n"
    "    r = document.createElement(\"tr\");\n"
    "    r.setAttribute(\"data-flow\", id);\n"
    "    for (i = 0; i < 8; i++)\n"
    "      r.appendChild(document.createElement(\"td\"));\n"
    "    r.cells[7].className = \"url\";\n"
    "    a = document.createElement(\"a\");\n"
    "    a.href = \"/flows/\" + id;\n"
    "    a.textContent = id;\n"
    "    r.cells[0].appendChild(a);\n"
    "    t = document.createElement(\"time\");\n"
    "    t.setAttribute(\"datetime\", e.ts);\n"
    "    t.textContent = e.ts;\n"
    "    r.cells[1].appendChild(t);\n"
    "    tb.insertBefore(r, tb.firstChild);\n"
    "    rows[id] = r;\n"
    "    while (tb.rows.length > ROWS) {\n"
    "      o = tb.rows[tb.rows.length - 1];\n"
    "      delete rows[o.getAttribute(\"data-flow\")];\n"
    "      tb.removeChild(o);\n"
    "    }\n"
    "    return r;\n"
    "  }\n"
    "  /* A row from /api/flows (a filtered page). */\n"
    "  function add(fl) {\n"
    "    var r;\n"
    "    newest = Math.max(newest, fl.flow_id);\n"
    "    if (rows[String(fl.flow_id)]) return;\n"
    "    r = row({ flow_id: fl.flow_id, ts: fl.first_ts });\n"
    "    set(r, 2, fl.client);\n"
    "    set(r, 3, fl.protocol);\n"
    "    set(r, 4, fl.method);\n"
    "    set(r, 5, fl.status);\n"
    "    if (fl.host !== null) set(r, 6, fl.host + \":\" + fl.port);\n"
    "    set(r, 7, fl.url);\n"
    "    if (fl.url !== null) r.setAttribute(\"data-req\", \"1\");\n"
    "    if (fl.status !== null) r.setAttribute(\"data-status\", \"1\");\n"
    "  }\n"
    "  /* Filtered: which new flows match is the server's to say, with the\n"
    "   * same filters as the page; asked at most every 300 ms. */\n"
    "  function refresh() {\n"
    "    if (busy) { again = true; return; }\n"
    "    busy = true;\n"
    "    fetch(\"/api/flows?\" + filters + \"after=\" + newest,\n"
    "      { credentials: \"same-origin\" })\n"
    "      .then(function (r) { return r.ok ? r.json() : null; })\n"
    "      .then(function (j) {\n"
    "        if (j && j.flows) j.flows.forEach(add);\n"
    "        if (j && j.next_after) again = true;\n"
    "      })\n"
    "      .catch(function () { /* the next event asks again */ })\n"
    "      .then(function () {\n"
    "        busy = false;\n"
    "        if (again) { again = false; later(); }\n"
    "      });\n"
    "  }\n"
    "  function later() {\n"
    "    if (timer === null)\n"
    "      timer = setTimeout(function () { timer = null; refresh(); }, 300);\n"
    "  }\n"
    "  /* As the store keeps a flow's row: the first exchange names it. */\n"
    "  function apply(e) {\n"
    "    var r = row(e);\n"
    "    set(r, 2, e.client_addr);\n"
    "    set(r, 3, e.protocol);\n"
    "    if (e.server_host !== null && e.server_host !== undefined)\n"
    "      set(r, 6, e.server_host + \":\" + e.server_port);\n"
    "    var t = e.type;\n"
    "    if (t === \"connect_received\" && r.cells[4].textContent === \"\")\n"
    "      set(r, 4, e.method);\n"
    "    if (t === \"request_headers\" && !r.hasAttribute(\"data-req\")) {\n"
    "      r.setAttribute(\"data-req\", \"1\");\n"
    "      set(r, 4, e.method);\n"
    "      set(r, 7, e.url || e.target);\n"
    "    }\n"
    "    if (t === \"response_headers\" &&\n"
    "        !r.hasAttribute(\"data-status\")) {\n"
    "      r.setAttribute(\"data-status\", \"1\");\n"
    "      set(r, 5, e.status);\n"
    "    }\n"
    "  }\n"
    "  function connect() {\n"
    "    var ws = new WebSocket(\"wss://\" + location.host +\n"
    "      \"/api/feed?after=\" + after);\n"
    "    st.textContent = \"connecting\";\n"
    "    ws.onmessage = function (m) {\n"
    "      var f;\n"
    "      try { f = JSON.parse(m.data); } catch (e) { return; }\n"
    "      if (f.control === \"live\") {\n"
    "        st.textContent = \"live\";\n"
    "        delay = 500;\n"
    "      } else if (f.control === \"truncated\") {\n"
    "        st.textContent = \"live; events were skipped, reload for all\";\n"
    "      } else if (f.control === \"no_store\") {\n"
    "        st.textContent = \"off (no flow store)\";\n"
    "      } else if (f.event) {\n"
    "        if (f.id !== null && f.id !== undefined) after = f.id;\n"
    "        if (f.event.flow_id === undefined) return;\n"
    "        if (!filters || rows[String(f.event.flow_id)]) apply(f.event);\n"
    "        else later();\n"
    "      }\n"
    "    };\n"
    "    ws.onclose = function () {\n"
    "      st.textContent = \"reconnecting\";\n"
    "      setTimeout(connect, delay);\n"
    "      delay = Math.min(delay * 2, 15000);\n"
    "    };\n"
    "  }\n"
    "  connect();\n"
    "})();\n";

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
admin_html_head(struct evbuffer *b, const char *title, int signed_in)
{
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width\"><title>");
	webui_html_text(b, title);
	evbuffer_add_printf(b, " - mitmd admin</title><link rel=\"stylesheet\" "
	    "href=\"/admin.css\"><script src=\"/admin.js\" defer></script>"
	    "</head><body>\n");
	if (signed_in)
		evbuffer_add_printf(b, "<form class=\"out\" method=\"post\" "
		    "action=\"/logout\"><button>Sign out</button></form>\n");
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
	admin_html_head(b, "Sign in", 0);
	evbuffer_add_printf(b, "<h1>mitmd admin</h1>\n");
	if (msg != NULL) {
		evbuffer_add_printf(b, "<p class=\"err\">");
		webui_html_text(b, msg);
		evbuffer_add_printf(b, "</p>\n");
	}
	evbuffer_add_printf(b, "<form method=\"post\" action=\"/login\">"
	    "<label>Admin token <input type=\"password\" name=\"token\" "
	    "autocomplete=\"off\" required></label> <button>Sign in</button>"
	    "</form>\n<p><code>mitmctl token</code> prints it: the "
	    "<code>admin token file</code> of the configuration, or "
	    "<code>admin.token</code> in the state directory.</p>\n");
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

static void
admin_list_row(struct evbuffer *b, sqlite3_stmt *q)
{
	static const int cells[] = { FQC_CLIENT, FQC_PROTOCOL, FQC_METHOD,
	    FQC_STATUS };
	long long	 id = (long long)sqlite3_column_int64(q, FQC_ID);
	size_t		 i;

	evbuffer_add_printf(b, "<tr data-flow=\"%lld\"%s%s><td><a href=\""
	    "/flows/%lld\">%lld</a></td><td><time datetime=\"", id,
	    sqlite3_column_type(q, FQC_URL) != SQLITE_NULL ? " data-req=\"1\"" :
	    "", sqlite3_column_type(q, FQC_STATUS) != SQLITE_NULL ?
	    " data-status=\"1\"" : "", id, id);
	webui_html_text(b, admin_col(q, FQC_FIRST_TS));
	evbuffer_add_printf(b, "\">");
	webui_html_text(b, admin_col(q, FQC_FIRST_TS));
	evbuffer_add_printf(b, "</time></td>");
	for (i = 0; i < nitems(cells); i++) {
		evbuffer_add_printf(b, "<td>");
		webui_html_text(b, admin_col(q, cells[i]));
		evbuffer_add_printf(b, "</td>");
	}
	evbuffer_add_printf(b, "<td>");
	webui_html_text(b, admin_col(q, FQC_HOST));
	evbuffer_add_printf(b, ":%s</td><td class=\"url\">",
	    admin_col(q, FQC_PORT));
	webui_html_text(b, admin_col(q, FQC_URL));
	evbuffer_add_printf(b, "</td></tr>\n");
}

/* The rows; the first and last ids for the page links. -1: SQL error. */
static int
admin_list_rows(struct evbuffer *b, sqlite3 *db, struct flowq *fq,
    int64_t live, const char *filters, int64_t *first, int64_t *last,
    uint32_t *n)
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
	    "<th>host</th><th>URL</th></tr></thead><tbody id=\"flows\"");
	if (live >= 0)
		evbuffer_add_printf(b, " data-after=\"%lld\"", (long long)live);
	/* filtered: the script asks /api/flows which new flows match */
	if (live >= 0 && filters[0] != '\0') {
		evbuffer_add_printf(b, " data-filters=\"");
		webui_html_text(b, filters);
		evbuffer_add_printf(b, "\"");
	}
	evbuffer_add_printf(b, ">\n");
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

static int
admin_form_filtered(const struct admin_form *af)
{
	size_t i;

	for (i = 0; i < nitems(admin_fkeys); i++)
		if (strcmp(admin_fkeys[i], "limit") != 0 &&
		    af->af_val[i][0] != '\0')
			return (1);
	return (0);
}

/*
 * The newest page follows the live feed (admin.js): the last event id
 * the page saw is where the feed starts, so each flow that happens after
 * the page was made comes in, and each event of a flow on the page
 * updates its row. With filters, the script asks /api/flows with them
 * which new flows match (data-filters), so the filters mean here what
 * they mean everywhere. -1: no live feed on this page.
 */
static int64_t
admin_live_after(sqlite3 *db, const struct flowq *fq)
{
	sqlite3_stmt	*q;
	int64_t		 id = -1;

	if (fq->fq_page != FLOWQ_FIRST)
		return (-1);
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(rowid), 0) FROM "
	    "events", -1, &q, NULL) != SQLITE_OK)
		return (-1);
	if (sqlite3_step(q) == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return (id);
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
	int64_t		 first = 0, last = 0, older, newer, live;
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
	admin_html_head(b, "Flows", 1);
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
	live = admin_live_after(db, &fq);
	if (link[0] == '\0' && admin_form_filtered(&af))
		live = -1;	/* filters too long to give the script */
	rv = admin_list_rows(b, db, &fq, live, link, &first, &last, &n);
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
	evbuffer_add_printf(b, "</nav>\n<p>%u flows on this page.", n);
	if (live >= 0)
		evbuffer_add_printf(b, " Live: <span id=\"live\">off (this "
		    "needs JavaScript)</span>");
	evbuffer_add_printf(b, "</p>\n");
	if (rv == -1) {
		evbuffer_free(b);
		admin_json_error(req, HTTP_INTERNAL, "Internal Server Error",
		    "the flow store could not answer");
		return;
	}
	admin_html_send(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
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
	admin_html_head(b, title, 1);
	evbuffer_add_printf(b, "<nav><a href=\"/\">flows</a><a href=\""
	    "/api/flows/%lld\">JSON</a></nav>\n<h1>Flow %lld</h1>\n",
	    (long long)id, (long long)id);
	rv = admin_detail(b, db, id);
	if (rv == -1) {
		evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	admin_html_send(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
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
