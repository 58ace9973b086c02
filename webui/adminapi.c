/*
 * The admin JSON API and HAR, from the flow store through common/flowq
 * (filters, keyset paging, an index for each query) and common/flowr
 * (the same rendering as mitmctl's --json and export --har):
 *
 *   GET /api/flows?host=&method=&status=&protocol=&since=&until=&text=
 *       &limit=&before=&after=	a page of flows
 *   GET /api/flows/ID		one flow: heads, decoded bodies, messages,
 *				TLS, the event timeline
 *   GET /flows.har?<filters>	HAR 1.2 of the page the filters select
 *
 * webui's own connection to the store answers: it sees what is not yet
 * committed too. The rendering goes to an open_memstream buffer (heap
 * only, nothing the sandbox forbids), then into the reply.
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
#include "common/log.h"
#include "common/util.h"
#include "webui/admin.h"
#include "webui/webui.h"

/* The rendering of fn into a memory stream, replied as ctype. */
struct admin_out {
	FILE	*ao_f;
	char	*ao_buf;
	size_t	 ao_len;
};

static int
admin_out_open(struct admin_out *o)
{
	o->ao_buf = NULL;
	o->ao_len = 0;
	return ((o->ao_f = open_memstream(&o->ao_buf, &o->ao_len)) == NULL ?
	    -1 : 0);
}

/* Close the stream and send what it holds (rv 0), or 500 (rv -1). */
static void
admin_out_send(struct admin_out *o, struct evhttp_request *req, int rv,
    const char *ctype)
{
	struct evbuffer *b;

	if (fclose(o->ao_f) != 0)
		rv = -1;
	if (rv == 0 && (b = evbuffer_new()) != NULL) {
		if (evbuffer_add(b, o->ao_buf, o->ao_len) == 0)
			admin_reply(req, HTTP_OK, "OK", ctype, b);
		else
			rv = -1;
		evbuffer_free(b);
	} else
		rv = -1;
	free(o->ao_buf);
	if (rv == -1)
		admin_json_error(req, HTTP_INTERNAL, "Internal Server Error",
		    "the flow store could not answer");
}

sqlite3 *
admin_db(struct webui *wu, struct evhttp_request *req)
{
	sqlite3 *db = wu->wu_store != NULL ? store_db(wu->wu_store) : NULL;

	if (db == NULL)
		admin_json_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "there is no flow store (store off, or it failed to "
		    "open)");
	return (db);
}

/* The filters of the query; a 400 naming the bad one, then -1. */
int
admin_filters(struct evhttp_request *req, const struct evhttp_uri *uri,
    struct flowq *fq)
{
	char	 err[FLOWQ_ERR_MAX];

	flowq_init(fq);
	if (admin_query(fq, evhttp_uri_get_query(uri), (int64_t)time(NULL),
	    err, sizeof(err)) == -1) {
		admin_json_error(req, HTTP_BADREQUEST, "Bad Request", err);
		return (-1);
	}
	return (0);
}

static void
admin_api_list(struct webui *wu, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	struct flowq	 fq;
	struct admin_out o;
	sqlite3		*db;
	char		 err[FLOWQ_ERR_MAX];
	int		 rv;

	if (admin_filters(req, uri, &fq) == -1 ||
	    (db = admin_db(wu, req)) == NULL)
		return;
	if (admin_out_open(&o) == -1) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	rv = flowr_list_json(db, &fq, o.ao_f, err, sizeof(err));
	if (rv == -1 && strncmp(err, "flow store:", 11) != 0) {
		/* the cursor flow is gone: the client's mistake */
		fclose(o.ao_f);
		free(o.ao_buf);
		admin_json_error(req, HTTP_BADREQUEST, "Bad Request", err);
		return;
	}
	if (rv == -1)
		log_warnx("admin: %s", err);
	admin_out_send(&o, req, rv, "application/json");
}

static void
admin_api_flow(struct webui *wu, struct evhttp_request *req, int64_t id)
{
	struct admin_out o;
	sqlite3		*db;
	int		 rv;

	if ((db = admin_db(wu, req)) == NULL)
		return;
	if (admin_out_open(&o) == -1) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	rv = flowr_show_json(db, id, o.ao_f);
	if (rv == FLOWR_SHOW_NOT_FOUND) {
		fclose(o.ao_f);
		free(o.ao_buf);
		admin_json_error(req, HTTP_NOTFOUND, "Not Found", "no such "
		    "flow in the store");
		return;
	}
	if (rv == -1)
		log_warnx("admin: flow %lld: %s", (long long)id,
		    sqlite3_errmsg(db));
	admin_out_send(&o, req, rv == -1 ? -1 : 0, "application/json");
}

static void
admin_har(struct webui *wu, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	static int64_t	 ids[FLOWQ_LIMIT_MAX];
	struct flowq	 fq;
	struct admin_out o;
	sqlite3		*db;
	char		 err[FLOWQ_ERR_MAX];
	size_t		 n;
	int		 rv;

	if (admin_filters(req, uri, &fq) == -1 ||
	    (db = admin_db(wu, req)) == NULL)
		return;
	if (flowr_list_ids(db, &fq, ids, nitems(ids), &n, err,
	    sizeof(err)) == -1) {
		admin_json_error(req, HTTP_BADREQUEST, "Bad Request", err);
		return;
	}
	if (admin_out_open(&o) == -1) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	rv = flowr_har(db, ids, n, o.ao_f, "mitmd");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Disposition", "attachment; filename=\"mitmd-flows.har\"");
	admin_out_send(&o, req, rv, "application/json");
}

int
admin_api(struct webui *wu, struct evhttp_request *req, const char *path,
    const struct evhttp_uri *uri)
{
	int64_t	 id;

	if (strcmp(path, "/api/flows") == 0)
		admin_api_list(wu, req, uri);
	else if (strncmp(path, "/api/flows/", 11) == 0) {
		if (admin_flow_id(path, "/api/flows/", &id) == -1)
			admin_json_error(req, HTTP_NOTFOUND, "Not Found",
			    "not a flow id");
		else
			admin_api_flow(wu, req, id);
	} else if (strcmp(path, "/flows.har") == 0)
		admin_har(wu, req, uri);
	else
		return (-1);
	return (0);
}
