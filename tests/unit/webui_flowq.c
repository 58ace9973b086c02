/*
 * Unit test of the flow queries (common/flowq.c) over a store whose
 * schema webui/store.c made: a store of T_FLOWS synthetic flows (one
 * transaction, one prepared statement), then every query flowq makes
 * (no filter, each filter alone, every pair, all of them; the first
 * page, a page before and a page after a flow) through EXPLAIN QUERY
 * PLAN: no "SCAN" of flows, only SEARCH through an index or the
 * primary key. Each query also runs: at most its limit of rows, in
 * order, each row matching its filters, pages disjoint. Also: the
 * validation of filter values and strings, and the migration of a
 * version 2 store (flows.host_rev filled, the indexes made).
 * T_FLOWQ_FLOWS in the environment changes the count (default 1000000);
 * T_FLOWQ_PLANS=1 prints each distinct plan as a TAP comment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "common/flowq.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/unit.h"
#include "webui/webui.h"

#define T_FLOWS_DEF	1000000
#define T_HOSTS		1000
#define T_PATH_MAX	256
#define T_PLAN_MAX	4096
#define T_T0		1790000000LL	/* the first flow's time */
#define T_NOW		(T_T0 + 2000000LL)
#define T_PAGE_MSEC	2000		/* a page of a million flows, at worst */

static char	 dir[T_PATH_MAX / 2], db[T_PATH_MAX];
static sqlite3	*h;
static long	 nflows = T_FLOWS_DEF;
static int	 show_plans;

static void
quiet(int prio, uint32_t flags, const char *msg)
{
	(void)prio;
	(void)flags;
	(void)msg;
}

static const char *const methods[] = { "GET", "GET", "GET", "POST", "PUT",
    "DELETE" };
static const int statuses[] = { 200, 200, 200, 204, 301, 404, 500, 503, 0 };
static const char *const protos[] = { "http/1.1", "http2", "tls", "tcp" };

static void
ts_of(long i, char *buf, size_t sz)
{
	time_t		t = (time_t)(T_T0 + i);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

static void
fill(void)
{
	sqlite3_stmt	*q;
	char		 host[64], rev[FLOWQ_HOST_MAX + 2], ts[40], url[128];
	long		 i;
	int		 rc = 0;

	sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(h, "INSERT INTO flows(flow_id, first_ts, "
	    "last_ts, client, host, host_rev, port, protocol, method, url, "
	    "status, requests) VALUES (?1, ?2, ?2, '10.0.0.1:1', ?3, ?4, 443, "
	    "?5, ?6, ?7, ?8, 1)", -1, &q, NULL) != SQLITE_OK) {
		printf("# %s\n", sqlite3_errmsg(h));
		exit(1);
	}
	for (i = 0; i < nflows && rc == 0; i++) {
		snprintf(host, sizeof(host), "h%ld.d%ld.example.com",
		    i % T_HOSTS, i % 7);
		flowq_host_rev(host, rev, sizeof(rev));
		ts_of(i, ts, sizeof(ts));
		snprintf(url, sizeof(url), "https://%s/p/%ld?q=%ld", host,
		    i % 5000, i);
		sqlite3_bind_int64(q, 1, 1000 + i);
		sqlite3_bind_text(q, 2, ts, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 3, host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 4, rev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 5, protos[i % nitems(protos)], -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(q, 6, methods[i % nitems(methods)], -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(q, 7, url, -1, SQLITE_TRANSIENT);
		if (statuses[i % nitems(statuses)] != 0)
			sqlite3_bind_int(q, 8, statuses[i % nitems(statuses)]);
		else
			sqlite3_bind_null(q, 8);
		rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	CHECK(rc == 0 && sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) ==
	    SQLITE_OK, "%ld synthetic flows in one transaction", nflows);
}

/* The plan of sql, its details joined by " | ". */
static void
plan(const char *sql, const struct flowq *fq, char *out, size_t sz)
{
	sqlite3_stmt	*q;
	char		 eqp[FLOWQ_SQL_MAX + 32];
	size_t		 l;

	out[0] = '\0';
	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(h, eqp, -1, &q, NULL) != SQLITE_OK) {
		snprintf(out, sz, "error: %s", sqlite3_errmsg(h));
		return;
	}
	flowq_bind(fq, q);
	while (sqlite3_step(q) == SQLITE_ROW) {
		l = strlen(out);
		snprintf(out + l, sz - l, "%s%s", l ? " | " : "",
		    (const char *)sqlite3_column_text(q, 3));
	}
	sqlite3_finalize(q);
}

/* Every row matches the filters (what the test sets), in order. */
static int
row_ok(const struct flowq *fq, sqlite3_stmt *q, const char *prev_ts,
    int64_t prev_id)
{
	const char	*ts = (const char *)sqlite3_column_text(q, FQC_FIRST_TS);
	const char	*host = (const char *)sqlite3_column_text(q, FQC_HOST);
	const char	*m = (const char *)sqlite3_column_text(q, FQC_METHOD);
	const char	*p = (const char *)sqlite3_column_text(q, FQC_PROTOCOL);
	const char	*url = (const char *)sqlite3_column_text(q, FQC_URL);
	int64_t		 id = sqlite3_column_int64(q, FQC_ID);
	int		 st = sqlite3_column_int(q, FQC_STATUS), c;
	char		 rev[FLOWQ_HOST_MAX + 2];

	flowq_host_rev(host, rev, sizeof(rev));
	if (prev_ts != NULL) {
		c = strcmp(ts, prev_ts);
		if (fq->fq_page == FLOWQ_AFTER ? (c < 0 || (c == 0 &&
		    id <= prev_id)) : (c > 0 || (c == 0 && id >= prev_id)))
			return (0);
	}
	if (fq->fq_host_rev[0] != '\0' && (fq->fq_host_suffix ?
	    strncmp(rev, fq->fq_host_rev, strlen(fq->fq_host_rev)) != 0 :
	    strcmp(rev, fq->fq_host_rev) != 0))
		return (0);
	if ((fq->fq_method[0] && strcmp(m, fq->fq_method) != 0) ||
	    (fq->fq_protocol[0] && strcmp(p, fq->fq_protocol) != 0) ||
	    (fq->fq_status != -1 && st != fq->fq_status) ||
	    (fq->fq_status_class != -1 && st / 100 != fq->fq_status_class) ||
	    (fq->fq_text[0] && strstr(url, fq->fq_text) == NULL) ||
	    (fq->fq_since[0] && strcmp(ts, fq->fq_since) < 0) ||
	    (fq->fq_until[0] && strcmp(ts, fq->fq_until) > 0))
		return (0);
	return (1);
}

/* Run it: rows, their check, the last id; -1 for an error. */
static long
run(const struct flowq *fq, const char *sql, int64_t *last, int *bad,
    long *msec)
{
	sqlite3_stmt	*q;
	char		 prev[40] = "";
	int64_t		 prev_id = 0;
	long		 n = 0;
	struct timespec	 a, b;

	*bad = 0;
	if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK ||
	    flowq_bind(fq, q) == -1)
		return (-1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (!row_ok(fq, q, n ? prev : NULL, prev_id))
			(*bad)++;
		snprintf(prev, sizeof(prev), "%s",
		    (const char *)sqlite3_column_text(q, FQC_FIRST_TS));
		prev_id = *last = sqlite3_column_int64(q, FQC_ID);
		n++;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	*msec = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) /
	    1000000;
	sqlite3_finalize(q);
	return (n);
}

#define F_HOST		0x001
#define F_SUFFIX	0x002
#define F_METHOD	0x004
#define F_STATUS	0x008
#define F_CLASS		0x010
#define F_PROTO		0x020
#define F_SINCE		0x040
#define F_UNTIL		0x080
#define F_TEXT		0x100
#define F_ALL		0x1ff

static const struct {
	int		 f;
	const char	*key, *val;
} filters[] = {
	{ F_HOST, "host", "H7.D0.example.com." },
	{ F_SUFFIX, "host", "*.d3.example.com" },
	{ F_METHOD, "method", "post" },
	{ F_STATUS, "status", "404" },
	{ F_CLASS, "status", "5xx" },
	{ F_PROTO, "protocol", "http2" },
	{ F_SINCE, "since", "@1790200000" },
	{ F_UNTIL, "until", "@1790900000" },
	{ F_TEXT, "text", "/p/42?" },
};

static int
setup(struct flowq *fq, int mask)
{
	char	err[FLOWQ_ERR_MAX];
	size_t	i;

	flowq_init(fq);
	for (i = 0; i < nitems(filters); i++)
		if ((mask & filters[i].f) && flowq_set(fq, filters[i].key,
		    filters[i].val, T_NOW, err, sizeof(err)) == -1) {
			printf("# %s\n", err);
			return (-1);
		}
	return (0);
}

/* Plans seen, to print each once. */
static char	seen[64][T_PLAN_MAX];
static int	nseen;

static void
note_plan(const char *p)
{
	int i;

	if (!show_plans)
		return;
	for (i = 0; i < nseen; i++)
		if (strcmp(seen[i], p) == 0)
			return;
	if (nseen < (int)nitems(seen))
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", p);
	printf("# plan: %s\n", p);
}

/* One query in all its pages: plan, rows, paging. */
static void
one(int mask)
{
	struct flowq	 fq;
	char		 sql[FLOWQ_SQL_MAX], p[T_PLAN_MAX], err[FLOWQ_ERR_MAX];
	int64_t		 last = 0, cur, last2 = 0;
	int		 page, bad, scans = 0, searches = 1, wrong = 0;
	long		 n = 0, n2 = 0, ms = 0, worst = 0;

	for (page = FLOWQ_FIRST; page <= FLOWQ_AFTER; page++) {
		if (setup(&fq, mask) == -1)
			break;
		fq.fq_limit = 20;
		if (page != FLOWQ_FIRST) {
			/* a flow in the middle of the store */
			cur = 1000 + nflows / 2 + (mask % 97);
			fq.fq_page = page;
			fq.fq_cursor = cur;
			if (flowq_resolve(&fq, h, err, sizeof(err)) == -1) {
				printf("# %s\n", err);
				wrong++;
			}
		}
		if (flowq_sql(&fq, sql, sizeof(sql)) == -1) {
			wrong++;
			continue;
		}
		plan(sql, &fq, p, sizeof(p));
		note_plan(p);
		if (strstr(p, "SCAN") != NULL)
			scans++;
		if (strstr(p, "SEARCH flows USING INDEX") == NULL &&
		    strstr(p, "SEARCH flows USING COVERING INDEX") == NULL)
			searches = 0;
		n = run(&fq, sql, &last, &bad, &ms);
		if (n < 0 || n > (long)fq.fq_limit || bad)
			wrong++;
		worst = ms > worst ? ms : worst;
		if (page == FLOWQ_FIRST && n == (long)fq.fq_limit) {
			/* the next page: disjoint, older */
			fq.fq_page = FLOWQ_BEFORE;
			fq.fq_cursor = last;
			flowq_resolve(&fq, h, err, sizeof(err));
			flowq_sql(&fq, sql, sizeof(sql));
			last2 = 0;
			n2 = run(&fq, sql, &last2, &bad, &ms);
			if (n2 < 0 || bad || (n2 > 0 && last2 >= last &&
			    strcmp(fq.fq_cursor_ts, "") == 0))
				wrong++;
		}
	}
	CHECK(scans == 0 && searches && wrong == 0 && worst < T_PAGE_MSEC,
	    "filters 0x%03x: index search on every page (%s), rows match, "
	    "slowest page %ld ms", mask, scans ? "SCAN!" : "no scan", worst);
}

static void
test_plans(void)
{
	size_t	i, j;

	one(0);
	for (i = 0; i < nitems(filters); i++)
		one(filters[i].f);
	for (i = 0; i < nitems(filters); i++)
		for (j = i + 1; j < nitems(filters); j++) {
			/* one host and one status filter at a time */
			if ((filters[i].f | filters[j].f) == (F_HOST | F_SUFFIX)
			    || (filters[i].f | filters[j].f) ==
			    (F_STATUS | F_CLASS))
				continue;
			one(filters[i].f | filters[j].f);
		}
	one(F_ALL & ~(F_SUFFIX | F_CLASS));
	one(F_ALL & ~(F_HOST | F_STATUS));
}

static void
test_validation(void)
{
	static const char *const bad[][2] = {
		{ "host", "" }, { "host", "a b" }, { "host", "*." },
		{ "host", "ex\"ample" }, { "method", "" },
		{ "method", "G(T" }, { "status", "600" }, { "status", "6xx" },
		{ "status", "20" }, { "status", "abc" }, { "protocol", "h3" },
		{ "since", "yesterday" }, { "since", "2026-02-30" },
		{ "until", "2026-11-22T25:00Z" }, { "since", "-5m" },
		{ "text", "" }, { "limit", "0" }, { "limit", "1001" },
		{ "limit", "1e3" }, { "before", "-1" }, { "after", "x" },
		{ "color", "red" },
	};
	static const char good[] = "host=*.Example.COM status=5xx "
	    "text=\"a \\\"b\"  since=2026-11-22T03:40:01.5Z limit=7";
	struct flowq	 fq;
	char		 err[FLOWQ_ERR_MAX], sql[FLOWQ_SQL_MAX];
	size_t		 i;
	int		 rejected = 0;

	for (i = 0; i < nitems(bad); i++) {
		flowq_init(&fq);
		err[0] = '\0';
		if (flowq_set(&fq, bad[i][0], bad[i][1], T_NOW, err,
		    sizeof(err)) == -1 && err[0] != '\0')
			rejected++;
		else
			printf("# accepted %s=%s\n", bad[i][0], bad[i][1]);
	}
	CHECK(rejected == (int)nitems(bad), "%d bad values refused, each "
	    "with a message", rejected);
	flowq_init(&fq);
	CHECK(flowq_parse(&fq, good, strlen(good), T_NOW, err,
	    sizeof(err)) == 0 && fq.fq_host_suffix &&
	    strcmp(fq.fq_host_rev, "moc.elpmaxe.") == 0 &&
	    fq.fq_status_class == 5 && strcmp(fq.fq_text, "a \"b") == 0 &&
	    strcmp(fq.fq_since, "2026-11-22T03:40:01.500000Z") == 0 &&
	    fq.fq_limit == 7, "a filter string parses");
	flowq_init(&fq);
	CHECK(flowq_parse(&fq, "host", 4, T_NOW, err, sizeof(err)) == -1 &&
	    flowq_parse(&fq, "text=\"open", 10, T_NOW, err, sizeof(err)) ==
	    -1 && flowq_parse(&fq, "=x", 2, T_NOW, err, sizeof(err)) == -1,
	    "bad filter strings refused (%s)", err);
	flowq_init(&fq);
	flowq_set(&fq, "since", "10m", T_NOW, err, sizeof(err));
	flowq_sql(&fq, sql, sizeof(sql));
	CHECK(strcmp(fq.fq_since, "2026-10-14T17:36:40.000000Z") == 0 &&
	    strstr(sql, "OFFSET") == NULL, "an age is a time (%s)",
	    fq.fq_since);
}

/* A store as version 2 left it: the column and the indexes come. */
static void
test_migration(struct event_base *base)
{
	char		 old[T_PATH_MAX];
	sqlite3		*o;
	struct store	*st;
	sqlite3_stmt	*q;
	int		 ok2 = 0;

	snprintf(old, sizeof(old), "%s/old.db", dir);
	sqlite3_open(old, &o);
	sqlite3_exec(o, "CREATE TABLE flows (flow_id INTEGER PRIMARY KEY,"
	    " first_ts TEXT NOT NULL, last_ts TEXT NOT NULL, client TEXT,"
	    " host TEXT, port INTEGER, protocol TEXT, method TEXT, url TEXT,"
	    " status INTEGER, requests INTEGER NOT NULL DEFAULT 0,"
	    " req_bytes INTEGER NOT NULL DEFAULT 0,"
	    " resp_bytes INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER,"
	    " bytes_out INTEGER, tls_client_version TEXT,"
	    " tls_client_cipher TEXT, tls_upstream_version TEXT,"
	    " tls_upstream_cipher TEXT, decision TEXT, rule TEXT,"
	    " failure_side TEXT, failure_reason TEXT, close_reason TEXT,"
	    " events INTEGER NOT NULL DEFAULT 0);"
	    "INSERT INTO flows(flow_id, first_ts, last_ts, host) VALUES"
	    " (1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z',"
	    " 'WWW.Example.org.'), (2, '2026-01-01T00:00:01.000000Z',"
	    " '2026-01-01T00:00:01.000000Z', NULL);"
	    "PRAGMA user_version = 2;", NULL, NULL, NULL);
	sqlite3_close(o);
	st = store_open(base, old, 100000, 0);
	ok(st != NULL, "a version 2 store opens");
	store_close(st);
	sqlite3_open(old, &o);
	if (sqlite3_prepare_v2(o, "SELECT (SELECT host_rev FROM flows WHERE "
	    "flow_id = 1) = 'gro.elpmaxe.www' AND (SELECT host_rev FROM flows "
	    "WHERE flow_id = 2) IS NULL AND (SELECT count(*) FROM "
	    "sqlite_master WHERE name LIKE 'flows_%') = 7", -1, &q, NULL) ==
	    SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		ok2 = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	CHECK(ok2, "migrated to version 3: host_rev filled, seven indexes");
	sqlite3_close(o);
}

static void
cleanup(void)
{
	static const char *const files[] = { "flows.db", "flows.db-wal",
	    "flows.db-shm", "old.db", "old.db-wal", "old.db-shm" };
	char	path[T_PATH_MAX];
	size_t	i;

	for (i = 0; i < nitems(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int
main(void)
{
	struct event_base	*base;
	struct store		*st;
	const char		*e;

	log_init("unit", 0);
	log_set_sink(quiet);
	if ((e = getenv("T_FLOWQ_FLOWS")) != NULL)
		nflows = strtol(e, NULL, 10) > 0 ? strtol(e, NULL, 10) :
		    T_FLOWS_DEF;
	show_plans = getenv("T_FLOWQ_PLANS") != NULL;
	snprintf(dir, sizeof(dir), "/tmp/flowq.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(db, sizeof(db), "%s/flows.db", dir);
	base = event_base_new();
	test_validation();
	test_migration(base);
	/* the schema as webui makes it */
	st = store_open(base, db, 0xffffffffU, 0);
	ok(st != NULL, "a new store opens");
	store_close(st);
	sqlite3_open(db, &h);
	fill();
	test_plans();
	sqlite3_close(h);
	event_base_free(base);
	cleanup();
	return (unit_done());
}
