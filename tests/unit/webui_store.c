/*
 * Unit test of the flow store (webui/store.c) through webui_event()
 * (webui/feed.c): WAL mode and the schema; a flow's events become its
 * row in flows; a repeated (flow_id, seq) is ignored; captured bytes go
 * to bodies and out of the stored text; the batch commits on its timer;
 * retention by count and by age takes events and bodies along; the store
 * reopens with what it had; a newer schema is left alone.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "common/log.h"
#include "tests/unit/unit.h"
#include "webui/webui.h"

#define T_PATH_MAX	256
#define T_EV_MAX	2048

static char		 dir[T_PATH_MAX / 2], db[T_PATH_MAX];
static struct event_base *base;
static struct webui	 wu;

static void
quiet(int prio, uint32_t flags, const char *msg)
{
	(void)prio;
	(void)flags;
	(void)msg;
}

/* One event of flow `flow`, seq `seq`, at ts; `more` is appended. */
static int
send_ev(int64_t flow, int64_t seq, const char *type, const char *ts,
    const char *more)
{
	char	 buf[T_EV_MAX];
	int	 n;

	n = snprintf(buf, sizeof(buf), "{\"v\":1,\"type\":\"%s\",\"flow_id\":"
	    "%lld,\"seq\":%lld,\"ts\":\"%s\",\"client_addr\":\"10.0.0.1:5555\","
	    "\"server_host\":\"h.test\",\"server_port\":443,\"protocol\":"
	    "\"tcp\"%s}", type, (long long)flow, (long long)seq, ts, more);
	return (webui_event(&wu, buf, (size_t)n));
}

/* A single integer (or -1) from the test's own connection. */
static long long
q1(const char *sql)
{
	sqlite3		*h;
	sqlite3_stmt	*q;
	long long	 v = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return (-2);
	if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			v = sqlite3_column_type(q, 0) == SQLITE_NULL ? -1 :
			    sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	} else
		printf("# %s: %s\n", sql, sqlite3_errmsg(h));
	sqlite3_close(h);
	return (v);
}

/* A text column, copied. */
static const char *
qs(const char *sql)
{
	static char	 out[T_EV_MAX];
	sqlite3		*h;
	sqlite3_stmt	*q;

	out[0] = '\0';
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return (out);
	if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW &&
		    sqlite3_column_text(q, 0) != NULL)
			snprintf(out, sizeof(out), "%s",
			    (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
	}
	sqlite3_close(h);
	return (out);
}

static void
run_loop(int msec)
{
	struct timeval tv = { msec / 1000, (msec % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_open(void)
{
	struct stat st;

	wu.wu_store = store_open(base, db, 100000, 7);
	CHECK(wu.wu_store != NULL, "store opened");
	CHECK(q1("PRAGMA user_version") == 3, "schema version 3");
	CHECK(strcmp(qs("PRAGMA journal_mode"), "wal") == 0, "WAL mode");
	CHECK(stat(db, &st) == 0, "the database file exists");
}

static void
test_flow(void)
{
	const char *ts = "2026-11-22T03:40:01.000001Z";

	send_ev(1, 0, "connect_received", ts, ",\"method\":\"CONNECT\"");
	send_ev(1, 1, "connect_decision", ts,
	    ",\"action\":\"intercept\",\"rule\":\"default\",\"line\":0");
	send_ev(1, 2, "tls_handshake_succeeded", ts, ",\"side\":\"upstream\","
	    "\"tls_version\":\"TLSv1.3\",\"cipher\":\"C1\",\"alpn\":null");
	send_ev(1, 3, "tls_handshake_succeeded", ts, ",\"side\":\"client\","
	    "\"tls_version\":\"TLSv1.2\",\"cipher\":\"C2\",\"alpn\":null");
	send_ev(1, 4, "request_headers", ts, ",\"stream\":1,\"method\":\"POST\""
	    ",\"target\":\"/x\",\"url\":\"https://h.test/x\",\"headers\":[]");
	send_ev(1, 5, "request_body_chunk", ts, ",\"stream\":1,\"offset\":0,"
	    "\"size\":5,\"last\":true,\"body_size\":5,\"body_sha256\":\"00\","
	    "\"capture_b64\":\"aGVsbG8=\"");
	send_ev(1, 6, "response_headers", ts, ",\"stream\":1,\"status\":201,"
	    "\"reason\":\"Created\",\"headers\":[]");
	send_ev(1, 7, "request_headers", ts, ",\"stream\":2,\"method\":\"GET\""
	    ",\"target\":\"/y\",\"url\":\"https://h.test/y\",\"headers\":[]");
	send_ev(1, 8, "response_headers", ts, ",\"stream\":2,\"status\":404,"
	    "\"reason\":\"NF\",\"headers\":[]");
	send_ev(1, 9, "response_body_chunk", ts, ",\"stream\":2,\"offset\":0,"
	    "\"size\":7,\"last\":true,\"body_size\":7,\"body_sha256\":\"00\"");
	send_ev(1, 10, "stream_closed", "2026-11-22T03:40:02.000000Z",
	    ",\"reason\":\"closed\",\"bytes_in\":300,\"bytes_out\":400");
	CHECK(send_ev(1, 10, "stream_closed", ts, ",\"reason\":\"error\"") == 0,
	    "a repeated seq is taken (sinks) ...");
	CHECK(send_ev(1, 11, "nope", ts, "") == -1, "a bad event is refused");
	CHECK(wu.wu_bad_events == 1 && wu.wu_events == 12, "counted");
	CHECK(q1("SELECT count(*) FROM flows") == -2 ||
	    q1("SELECT count(*) FROM flows") <= 0,
	    "nothing visible before the commit");
	run_loop(300);
	CHECK(q1("SELECT count(*) FROM events WHERE flow_id = 1") == 11,
	    "... but stored once; committed by the timer");
	CHECK(strcmp(qs("SELECT close_reason FROM flows"), "closed") == 0,
	    "the first of a repeated seq stands");
	CHECK(strcmp(qs("SELECT method || ' ' || url FROM flows"),
	    "POST https://h.test/x") == 0, "method and URL of the first "
	    "exchange");
	CHECK(q1("SELECT status FROM flows") == 201 &&
	    q1("SELECT requests FROM flows") == 2, "first status, 2 requests");
	CHECK(q1("SELECT req_bytes FROM flows") == 5 &&
	    q1("SELECT resp_bytes FROM flows") == 7, "body sizes");
	CHECK(q1("SELECT bytes_in FROM flows") == 300 &&
	    q1("SELECT bytes_out FROM flows") == 400, "wire bytes");
	CHECK(strcmp(qs("SELECT tls_client_version || tls_client_cipher || "
	    "tls_upstream_version || tls_upstream_cipher FROM flows"),
	    "TLSv1.2C2TLSv1.3C1") == 0, "TLS of both sides");
	CHECK(strcmp(qs("SELECT decision || ':' || rule FROM flows"),
	    "intercept:default") == 0, "decision and rule");
	CHECK(strcmp(qs("SELECT first_ts || ' ' || last_ts FROM flows"),
	    "2026-11-22T03:40:01.000001Z 2026-11-22T03:40:02.000000Z") == 0,
	    "first and last ts");
	CHECK(strcmp(qs("SELECT client || ' ' || host || ':' || port || ' ' "
	    "|| protocol FROM flows"), "10.0.0.1:5555 h.test:443 tcp") == 0,
	    "client, host, port, protocol");
	CHECK(strcmp(qs("SELECT data FROM bodies WHERE flow_id = 1 AND "
	    "stream = 1 AND dir = 'request' AND offset = 0"), "hello") == 0,
	    "captured bytes in bodies");
	CHECK(strstr(qs("SELECT json FROM events WHERE seq = 5"), "capture")
	    == NULL && strstr(qs("SELECT json FROM events WHERE seq = 5"),
	    "\"body_sha256\":\"00\"}") != NULL,
	    "and out of the stored event");
	CHECK(strcmp(qs("SELECT type FROM events WHERE seq = 4"),
	    "request_headers") == 0, "type column");
}

static void
ts_days_ago(char *buf, size_t sz, int days, int sec)
{
	time_t	 t = time(NULL) - (time_t)days * 86400 + sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

static void
test_retention(void)
{
	char	 ts[64];
	int	 i;

	/* ten flows a second apart, today; flow 1 is from 2026 */
	for (i = 0; i < 10; i++) {
		ts_days_ago(ts, sizeof(ts), 0, i);
		send_ev(100 + i, 0, "connect_received", ts,
		    ",\"method\":\"CONNECT\"");
		send_ev(100 + i, 1, "stream_closed", ts, ",\"reason\":\"closed\"");
	}
	store_commit(wu.wu_store);
	CHECK(q1("SELECT count(*) FROM flows") == 11, "11 flows");
	store_set_keep(wu.wu_store, 4, 0);
	CHECK(store_retain(wu.wu_store) == 7, "keep 4 flows: 7 deleted");
	CHECK(q1("SELECT min(flow_id) FROM flows") == 106 &&
	    q1("SELECT count(*) FROM flows") == 4, "the newest 4 stay");
	CHECK(q1("SELECT count(*) FROM events WHERE flow_id < 106") == 0 &&
	    q1("SELECT count(*) FROM bodies") == 0,
	    "their events and bodies went with them");
	CHECK(q1("SELECT count(*) FROM events") == 8, "the others' stay");

	ts_days_ago(ts, sizeof(ts), 3, 0);
	send_ev(200, 0, "connect_received", ts, ",\"method\":\"CONNECT\"");
	ts_days_ago(ts, sizeof(ts), 1, -60);
	send_ev(201, 0, "connect_received", ts, ",\"method\":\"CONNECT\"");
	store_set_keep(wu.wu_store, 0, 2);
	CHECK(store_retain(wu.wu_store) == 1 &&
	    q1("SELECT count(*) FROM flows WHERE flow_id = 200") == 0 &&
	    q1("SELECT count(*) FROM flows WHERE flow_id = 201") == 1,
	    "keep 2 days: the flow idle for 3 days goes");
	store_set_keep(wu.wu_store, 0, 0);
	CHECK(store_retain(wu.wu_store) == 0, "0 and 0: no limit");

	/* over the count: retention runs right after the commit */
	store_set_keep(wu.wu_store, 2, 0);
	ts_days_ago(ts, sizeof(ts), 0, 100);
	send_ev(300, 0, "connect_received", ts, ",\"method\":\"CONNECT\"");
	run_loop(400);
	CHECK(q1("SELECT count(*) FROM flows") == 2 &&
	    q1("SELECT count(*) FROM flows WHERE flow_id = 300") == 1,
	    "past the count, retention follows the commit");
}

static void
test_reopen(void)
{
	sqlite3	*h;
	char	 other[T_PATH_MAX];

	store_close(wu.wu_store);
	wu.wu_store = store_open(base, db, 100000, 7);
	CHECK(wu.wu_store != NULL && q1("SELECT count(*) FROM flows") == 2,
	    "reopened with its flows");
	send_ev(300, 1, "stream_closed", "2026-11-22T03:40:01.000001Z",
	    ",\"reason\":\"closed\"");
	store_close(wu.wu_store);
	wu.wu_store = NULL;
	CHECK(q1("SELECT count(*) FROM events WHERE flow_id = 300") == 2,
	    "close commits what is pending");

	snprintf(other, sizeof(other), "%s/newer.db", dir);
	if (sqlite3_open(other, &h) == SQLITE_OK) {
		sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL);
		sqlite3_close(h);
	}
	CHECK(store_open(base, other, 1, 1) == NULL,
	    "a newer schema is not touched");
	unlink(other);
}

int
main(void)
{
	char	 cmd[T_PATH_MAX + 16];
	int	 rc;

	log_init("unit", 0);
	log_set_sink(quiet);
	snprintf(dir, sizeof(dir), "/tmp/webui_store.XXXXXX");
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL)
		return (2);
	snprintf(db, sizeof(db), "%s/%s", dir, WEBUI_STORE_NAME);
	wu.wu_base = base;
	test_open();
	test_flow();
	test_retention();
	test_reopen();
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	rc = unit_done();
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return (rc);
}
