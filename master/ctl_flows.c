/*
 * "mitmctl flows": the list of flows from the store, with the filters of
 * common/flowq.c as options; "flows show ID", one flow in full; "flows
 * export --har", a selection as HAR (ctl_har.c); "flows --follow", the
 * live events from the events socket. The store is read-only here
 * (ctl_store_open); the JSON of events and decoded bodies is made by
 * SQLite's JSON functions from what webui stored.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/flowq.h"
#include "common/flowr.h"
#include "common/util.h"
#include "master/ctl.h"

#define CTL_HOST_COL	28
#define CTL_URL_COL	60
#define CTL_LINE_MAX	65536	/* an event is at most 60000 bytes */
#define CTL_DECODED_SHOW 4096	/* of a decoded body, in the text view */
#define CTL_HAR_LIMIT	FLOWQ_LIMIT_MAX

static sqlite3_stmt *
ctl_prepare(sqlite3 *db, const char *sql, int64_t flow)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		ctl_sql_fail(db, "query");
	sqlite3_bind_int64(q, 1, flow);
	return (q);
}

static int
ctl_step(sqlite3 *db, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ctl_sql_fail(db, "query");
	return (rc == SQLITE_ROW);
}

static const char *
ctl_col(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return (s != NULL ? s : "-");
}

/* --- flows (the list) --------------------------------------------------- */

static void
ctl_list_text_row(sqlite3_stmt *q)
{
	char	 ts[FLOWQ_TS_MAX], hostport[FLOWQ_HOST_MAX + 8];
	char	 status[8];

	/* "2026-11-22T03:40:01.123456Z" as "2026-11-22 03:40:01" */
	util_strlcpy(ts, ctl_col(q, FQC_FIRST_TS), sizeof(ts));
	if (strlen(ts) > 19) {
		ts[10] = ' ';
		ts[19] = '\0';
	}
	snprintf(hostport, sizeof(hostport), "%s:%s", ctl_col(q, FQC_HOST),
	    ctl_col(q, FQC_PORT));
	snprintf(status, sizeof(status), "%s", ctl_col(q, FQC_STATUS));
	printf("%-16lld %-19s %-8s %-7.7s %6s %-*s %.*s\n",
	    (long long)sqlite3_column_int64(q, FQC_ID), ts,
	    ctl_col(q, FQC_PROTOCOL), ctl_col(q, FQC_METHOD), status,
	    CTL_HOST_COL, hostport, CTL_URL_COL, ctl_col(q, FQC_URL));
}

static int
ctl_list(struct ctl_env *env, struct flowq *fq)
{
	sqlite3		*db = ctl_store_open(env);
	sqlite3_stmt	*q;
	char		 sql[FLOWQ_SQL_MAX], err[FLOWQ_ERR_MAX];

	if (env->ce_json) {
		if (flowr_list_json(db, fq, stdout, err, sizeof(err)) == -1)
			ctl_fail("%s", err);
		goto done;
	}
	if (flowq_resolve(fq, db, err, sizeof(err)) == -1)
		ctl_fail("%s", err);
	if (flowq_sql(fq, sql, sizeof(sql)) == -1 ||
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK ||
	    flowq_bind(fq, q) == -1)
		ctl_sql_fail(db, "the flow list");
	printf("%-16s %-19s %-8s %-7s %6s %-*s %s\n", "ID", "TIME", "PROTO",
	    "METHOD", "STATUS", CTL_HOST_COL, "HOST", "URL");
	while (ctl_step(db, q))
		ctl_list_text_row(q);
	sqlite3_finalize(q);
done:
	sqlite3_close(db);
	ctl_output_close(stdout, NULL);
	return (0);
}

/* --- flows show ID ------------------------------------------------------ */

/* The header fields of one head event, "> Name: value". */
static void
ctl_show_headers(sqlite3 *db, int64_t id, const char *type, int64_t stream,
    char mark)
{
	sqlite3_stmt	*q;

	q = ctl_prepare(db, "SELECT json_extract(h.value, '$[0]'), "
	    "json_extract(h.value, '$[1]') FROM events AS e, "
	    "json_each(e.json, '$.headers') AS h WHERE e.flow_id = ?1 AND "
	    "e.seq = (SELECT max(seq) FROM events WHERE flow_id = ?1 AND "
	    "type = ?2 AND json_extract(json, '$.stream') = ?3) "
	    "ORDER BY h.key", id);
	sqlite3_bind_text(q, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, stream);
	while (ctl_step(db, q))
		printf("%c %s: %s\n", mark, ctl_col(q, 0), ctl_col(q, 1));
	sqlite3_finalize(q);
}

static void
ctl_show_body(sqlite3_stmt *q, int size_col, int dec_col, const char *what)
{
	const char *dec = (const char *)sqlite3_column_text(q, dec_col);

	if (sqlite3_column_type(q, size_col) == SQLITE_NULL)
		return;
	printf("  %s body: %s bytes\n", what, ctl_col(q, size_col));
	if (dec != NULL)
		printf("  %s body, decoded: %.*s%s\n", what, CTL_DECODED_SHOW,
		    dec, strlen(dec) > CTL_DECODED_SHOW ? " ..." : "");
}

static void
ctl_show_text(sqlite3 *db, int64_t id)
{
	sqlite3_stmt	*q;
	int64_t		 stream;
	int		 i;

	q = ctl_prepare(db, flowr_flow_sql, id);
	ctl_step(db, q);
	for (i = 0; i < sqlite3_column_count(q); i++)
		printf("%-14s %s\n", sqlite3_column_name(q, i), ctl_col(q, i));
	sqlite3_finalize(q);
	printf("\nTLS\n");
	q = ctl_prepare(db, flowr_tls_sql, id);
	ctl_step(db, q);
	for (i = 0; i < sqlite3_column_count(q); i++)
		printf("%-16s %s\n", sqlite3_column_name(q, i), ctl_col(q, i));
	sqlite3_finalize(q);
	q = ctl_prepare(db, flowr_exchange_sql, id);
	while (ctl_step(db, q)) {
		stream = sqlite3_column_int64(q, 0);
		printf("\nexchange %lld, %s\n", (long long)stream,
		    ctl_col(q, 1));
		printf("> %s %s %s\n", ctl_col(q, 2), ctl_col(q, 3),
		    ctl_col(q, 5));
		ctl_show_headers(db, id, "request_headers", stream, '>');
		ctl_show_body(q, 7, 9, "request");
		if (sqlite3_column_type(q, 11) != SQLITE_NULL) {
			printf("< %s %s %s\n", ctl_col(q, 13), ctl_col(q, 11),
			    ctl_col(q, 12));
			ctl_show_headers(db, id, "response_headers", stream,
			    '<');
		}
		ctl_show_body(q, 15, 17, "response");
	}
	sqlite3_finalize(q);
	printf("\nEVENTS\n");
	q = ctl_prepare(db, flowr_timeline_sql, id);
	while (ctl_step(db, q))
		printf("%4s %s %-23s %s\n", ctl_col(q, 0), ctl_col(q, 1),
		    ctl_col(q, 2), ctl_col(q, 3));
	sqlite3_finalize(q);
}

static int64_t
ctl_flow_id(const char *s)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < 1)
		ctl_usage_err("\"%s\" is not a flow id", s);
	return ((int64_t)v);
}

static int
ctl_show(struct ctl_env *env, const char *arg)
{
	int64_t		 id = ctl_flow_id(arg);
	sqlite3		*db = ctl_store_open(env);
	sqlite3_stmt	*q;

	q = ctl_prepare(db, flowr_flow_sql, id);
	if (!ctl_step(db, q))
		ctl_fail("flow %lld is not in the store", (long long)id);
	sqlite3_finalize(q);
	if (env->ce_json) {
		if (flowr_show_json(db, id, stdout) == -1)
			ctl_sql_fail(db, "the flow");
	} else
		ctl_show_text(db, id);
	sqlite3_close(db);
	ctl_output_close(stdout, NULL);
	return (0);
}

/* --- flows export --har -------------------------------------------------- */

static int
ctl_export(struct ctl_env *env, struct flowq *fq, const char *out)
{
	sqlite3		*db = ctl_store_open(env);
	char		 err[FLOWQ_ERR_MAX];
	int64_t		 ids[FLOWQ_LIMIT_MAX];
	size_t		 n = 0;
	FILE		*f;

	if (flowr_list_ids(db, fq, ids, nitems(ids), &n, err, sizeof(err)) ==
	    -1)
		ctl_fail("%s", err);
	f = ctl_output(out);
	if (flowr_har(db, ids, n, f, "mitmctl") == -1)
		ctl_sql_fail(db, "exchanges");
	ctl_output_close(f, out);
	sqlite3_close(db);
	return (0);
}

/* --- flows --follow ------------------------------------------------------ */

static int
ctl_follow_connect(const struct ctl_env *env)
{
	struct sockaddr_un	sun;
	int			fd;

	if (env->ce_events_socket[0] == '\0')
		ctl_fail("no events socket: --follow needs 'events socket' in "
		    "the configuration%s", env->ce_have_conf ? "" :
		    " (give it with -f)");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (util_strlcpy(sun.sun_path, env->ce_events_socket,
	    sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		ctl_fail("events socket path too long");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ctl_fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		ctl_fail("cannot reach the events socket %s: %s",
		    env->ce_events_socket, strerror(errno));
	return (fd);
}

/* One event line: shown when its host passes the filter. */
static void
ctl_follow_line(const struct ctl_env *env, const struct flowq *fq,
    sqlite3 *mem, sqlite3_stmt *q, const char *line, size_t len)
{
	char		 rev[FLOWQ_HOST_MAX + 2];
	const char	*host;
	size_t		 l;

	sqlite3_bind_text(q, 1, line, (int)len, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_ROW) {
		fprintf(stderr, "mitmctl: a bad event line: %s\n",
		    sqlite3_errmsg(mem));
		sqlite3_reset(q);
		return;
	}
	host = (const char *)sqlite3_column_text(q, 4);
	flowq_host_rev(host, rev, sizeof(rev));
	l = strlen(fq->fq_host_rev);
	if (l == 0 || (fq->fq_host_suffix ? strncmp(rev, fq->fq_host_rev, l)
	    == 0 && rev[l] != '\0' : strcmp(rev, fq->fq_host_rev) == 0)) {
		if (env->ce_json)
			printf("%.*s\n", (int)len, line);
		else
			printf("%s %-16s %4s %-23s %s %s\n", ctl_col(q, 3),
			    ctl_col(q, 0), ctl_col(q, 1), ctl_col(q, 2),
			    host != NULL ? host : "-", ctl_col(q, 5));
		fflush(stdout);
	}
	sqlite3_reset(q);
}

/* Until the socket closes (mitmd stopped) or a signal ends mitmctl. */
static int
ctl_follow(struct ctl_env *env, const struct flowq *fq)
{
	static char	 buf[CTL_LINE_MAX];
	sqlite3		*mem;
	sqlite3_stmt	*q;
	size_t		 have = 0, i, start;
	ssize_t		 n;
	int		 fd = ctl_follow_connect(env);

	/* SQLite's JSON functions read the events; nothing is stored. */
	if (sqlite3_open(":memory:", &mem) != SQLITE_OK ||
	    sqlite3_prepare_v2(mem, "SELECT json_extract(?1, '$.flow_id'), "
	    "json_extract(?1, '$.seq'), json_extract(?1, '$.type'), "
	    "json_extract(?1, '$.ts'), json_extract(?1, '$.server_host'), "
	    FLOWR_DETAIL("?1"), -1, &q, NULL) != SQLITE_OK)
		ctl_fail("sqlite: %s", sqlite3_errmsg(mem));
	if (!env->ce_json)
		printf("%-27s %-16s %4s %-23s %s\n", "TIME", "FLOW", "SEQ",
		    "TYPE", "HOST DETAIL");
	fflush(stdout);
	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			ctl_fail("events socket: %s", strerror(errno));
		if (n == 0)
			break;
		have += (size_t)n;
		for (start = 0, i = 0; i < have; i++)
			if (buf[i] == '\n') {
				ctl_follow_line(env, fq, mem, q, buf + start,
				    i - start);
				start = i + 1;
			}
		if (start == 0 && have == sizeof(buf))
			ctl_fail("events socket: a line longer than %d bytes",
			    CTL_LINE_MAX);
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	sqlite3_finalize(q);
	sqlite3_close(mem);
	close(fd);
	fprintf(stderr, "mitmctl: the events socket closed\n");
	return (CTL_EXIT_FAIL);
}

/* --- the command line ----------------------------------------------------- */

enum {
	OPT_FOLLOW = 256,
	OPT_HAR,
	OPT_FILTER,
};

static const struct option ctl_flows_opts[] = {
	{ "host", required_argument, NULL, 'h' },
	{ "method", required_argument, NULL, 'm' },
	{ "status", required_argument, NULL, 'S' },
	{ "protocol", required_argument, NULL, 'p' },
	{ "since", required_argument, NULL, 'a' },
	{ "until", required_argument, NULL, 'u' },
	{ "text", required_argument, NULL, 't' },
	{ "limit", required_argument, NULL, 'n' },
	{ "before", required_argument, NULL, 'b' },
	{ "after", required_argument, NULL, 'A' },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ "har", no_argument, NULL, OPT_HAR },
	{ "output", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};

static const char *
ctl_flows_key(int ch)
{
	const struct option *o;

	for (o = ctl_flows_opts; o->name != NULL; o++)
		if (o->val == ch)
			return (o->name);
	return (NULL);
}

int
ctl_flows(struct ctl_env *env, int argc, char *argv[])
{
	struct flowq	 fq;
	char		 err[FLOWQ_ERR_MAX];
	const char	*out = NULL;
	int		 ch, follow = 0, har = 0, nfilters = 0, limit = 0;
	int64_t		 now = (int64_t)time(NULL);

	flowq_init(&fq);
	optind = 0;	/* GNU getopt: start again, on these words */
	opterr = 0;
	/* The words (show ID, export) are permuted to the end. */
	while ((ch = getopt_long(argc, argv, "jo:", ctl_flows_opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'j':
			env->ce_json = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case OPT_FOLLOW:
			follow = 1;
			break;
		case OPT_HAR:
			har = 1;
			break;
		case OPT_FILTER:
			nfilters++;
			if (flowq_parse(&fq, optarg, strlen(optarg), now, err,
			    sizeof(err)) == -1)
				ctl_usage_err("--filter: %s", err);
			break;
		case '?':
			ctl_usage_err("flows: unknown option or missing value: "
			    "%s", argv[optind - 1]);
		default:
			nfilters++;
			limit |= ch == 'n';
			if (flowq_set(&fq, ctl_flows_key(ch), optarg, now, err,
			    sizeof(err)) == -1)
				ctl_usage_err("--%s", err);
		}
	}
	argc -= optind;
	argv += optind;
	if (follow) {
		if (argc != 0 || har || out != NULL)
			ctl_usage_err("flows --follow takes no command, "
			    "--har or -o");
		if (nfilters != (fq.fq_host_rev[0] != '\0'))
			ctl_usage_err("flows --follow filters by --host only");
		return (ctl_follow(env, &fq));
	}
	if (argc == 1 && strcmp(argv[0], "export") == 0) {
		if (!har)
			ctl_usage_err("flows export: give the format, --har");
		if (!limit)
			fq.fq_limit = CTL_HAR_LIMIT;
		return (ctl_export(env, &fq, out));
	}
	if (har || out != NULL)
		ctl_usage_err("--har and -o go with flows export");
	if (argc == 2 && strcmp(argv[0], "show") == 0) {
		if (nfilters)
			ctl_usage_err("flows show takes no filter");
		return (ctl_show(env, argv[1]));
	}
	if (argc != 0)
		ctl_usage_err("flows: \"%s\": use flows [filters], flows show "
		    "ID, flows export --har or flows --follow", argv[0]);
	return (ctl_list(env, &fq));
}
