/*
 * The flow store: SQLite in WAL mode, owned by webui, in the directory
 * that is webui's chroot (<state>/store/flows.db). Every checked event
 * becomes a row of `events` and updates its flow's row in `flows`;
 * captured body bytes go to `bodies`. The schema is in mitmd-events(5).
 *
 * When a body's last chunk is stored, its captured bytes are read back
 * and run through the decoder chain (common/decode.h) with the
 * Content-Type and Content-Encoding of its head's event; the result, as
 * one JSON object, goes to `decoded`. This is webui's work, not the
 * worker's: it costs nothing unless bodies are captured, never touches
 * what is forwarded, and a decoder fooled by a hostile body is in the
 * process that parses the least. Each decode is bounded (a capture is at
 * most CONF_CAPTURE_MAX_KIB, its output STORE_DECODE_MAX_OUT), so it
 * holds the event loop a few milliseconds at most.
 *
 * Schema version 2 added `decoded`; a version 1 store gets the table the
 * first time this webui opens it, and keeps all it had. Version 3 added
 * flows.host_rev (the host reversed, in lower case, so that "*.domain"
 * is a range of an index) and the indexes of the flow queries
 * (common/flowq.c): an older store gets the column, filled from host,
 * and the indexes, in the transaction that opens it.
 *
 * Writes are batched: the first event after a commit opens a transaction
 * and arms a STORE_COMMIT_MSEC timer that commits it, so a crash of webui
 * loses at most that much (synchronous=NORMAL: a commit is durable
 * against a crash of the process, and against power loss from the next
 * checkpoint on). A transaction that grows past STORE_TXN_EVENTS is
 * committed at once, which bounds its memory.
 *
 * Retention runs every STORE_RETAIN_MSEC, and after a commit when the
 * flows counted pass the limit: flows past keep_flows (oldest first) and
 * those idle for keep_days days go, with their events and bodies; at most
 * STORE_RETAIN_BATCH flows a pass, so a large backlog is cut in short
 * steps that leave the event loop running. 0 turns a limit off.
 *
 * With "store off" (both limits 0) no database is opened and events are
 * not stored; webui serves its pages all the same.
 *
 * SQLite runs single-threaded, temp_store in memory, and keeps the WAL
 * file across close: after the sandbox webui opens no file (see
 * webui_store_calls in main.c for the syscalls this leaves).
 */
#include <sys/time.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "common/decode.h"
#include "common/flowq.h"
#include "common/log.h"
#include "common/util.h"
#include "webui/webui.h"

#define STORE_SCHEMA_VERSION	3
#define STORE_COMMIT_MSEC	100
#define STORE_TXN_EVENTS	20000
#define STORE_RETAIN_MSEC	(60 * 1000ULL)
#define STORE_RETAIN_BATCH	5000
#define STORE_RETAIN_SOON_MSEC	200	/* the next step of a backlog */
#define STORE_RETAIN_SLACK	64	/* flows over the count: 1/64 more */
#define STORE_BUSY_MSEC		100	/* another writer's lock, at worst */
#define STORE_BACKOFF_MSEC	1000	/* then leave the store alone */
#define STORE_CACHE_KIB		2048	/* SQLite's default; the kernel caches the file */
#define STORE_WAL_LIMIT		(64 * 1024 * 1024)	/* bytes kept */
#define STORE_TS_MAX		40
#define STORE_DAY_SEC		86400ULL
#define STORE_DECODE_MAX_OUT	((size_t)1024 * 1024)	/* bytes a stage may make */
#define STORE_DECODE_DEPTH	64
#define STORE_HDR_MAX		256	/* of a header value we read back */
/* "store off" in mitmd.conf: master sends both limits 0 (each is at
 * least 1 otherwise) */
#define STORE_IS_OFF(flows, days)	((flows) == 0 && (days) == 0)

static const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS flows ("
    " flow_id INTEGER PRIMARY KEY,"
    " first_ts TEXT NOT NULL,"
    " last_ts TEXT NOT NULL,"
    " client TEXT, host TEXT, port INTEGER, protocol TEXT,"
    " method TEXT, url TEXT, status INTEGER,"
    " requests INTEGER NOT NULL DEFAULT 0,"
    " req_bytes INTEGER NOT NULL DEFAULT 0,"
    " resp_bytes INTEGER NOT NULL DEFAULT 0,"
    " bytes_in INTEGER, bytes_out INTEGER,"
    " tls_client_version TEXT, tls_client_cipher TEXT,"
    " tls_upstream_version TEXT, tls_upstream_cipher TEXT,"
    " decision TEXT, rule TEXT,"
    " failure_side TEXT, failure_reason TEXT,"
    " close_reason TEXT,"
    " events INTEGER NOT NULL DEFAULT 0,"
    " host_rev TEXT);"
    "CREATE INDEX IF NOT EXISTS flows_first_ts ON flows(first_ts);"
    "CREATE INDEX IF NOT EXISTS flows_last_ts ON flows(last_ts);"
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY,"
    " flow_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " ts TEXT NOT NULL, type TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS events_flow_seq ON "
    " events(flow_id, seq);"
    "CREATE INDEX IF NOT EXISTS events_ts ON events(ts);"
    "CREATE TABLE IF NOT EXISTS bodies ("
    " flow_id INTEGER NOT NULL, stream INTEGER NOT NULL,"
    " dir TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (flow_id, stream, dir, offset));"
    /* version 2: what the decoder chain made of a captured body */
    "CREATE TABLE IF NOT EXISTS decoded ("
    " flow_id INTEGER NOT NULL, stream INTEGER NOT NULL,"
    " dir TEXT NOT NULL, json TEXT NOT NULL,"
    " PRIMARY KEY (flow_id, stream, dir));";

/*
 * Version 3, after store_host_rev() gave an older store its column: an
 * index for each filter of common/flowq.c, each ending with first_ts
 * (then the rowid, flow_id) so that an equality reads its rows in the
 * order of the pages.
 */
static const char store_schema_v3[] =
    "CREATE INDEX IF NOT EXISTS flows_host_rev ON flows(host_rev, first_ts);"
    "CREATE INDEX IF NOT EXISTS flows_method ON flows(method, first_ts);"
    "CREATE INDEX IF NOT EXISTS flows_status ON flows(status, first_ts);"
    "CREATE INDEX IF NOT EXISTS flows_status_class ON "
    " flows(status/100, first_ts);"
    "CREATE INDEX IF NOT EXISTS flows_protocol ON flows(protocol, first_ts);"
    "PRAGMA user_version = 3;";

enum store_stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_FLOW,
	S_EVENT,
	S_CONNECT,
	S_DECISION,
	S_TLS_CLIENT,
	S_TLS_UPSTREAM,
	S_TLS_FAIL,
	S_CLOSED,
	S_BODY,
	S_BODY_READ,
	S_HEADERS,
	S_DECODED,
	S_DOOM_AGE,
	S_DOOM_COUNT,
	S_DEL_EVENTS,
	S_DEL_BODIES,
	S_DEL_DECODED,
	S_DEL_FLOWS,
	S_DOOM_CLEAR,
	S_COUNT,
	S_MAX
};

static const char *const store_sql[S_MAX] = {
	/* the write lock at once: a statement inside never waits */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	/* a flow's row, made or brought up to date from what its events
	 * since the last flush added (struct store_pend): the latest
	 * client, host, port and protocol; the first status; body sizes,
	 * exchanges and events added up; the method and URL of the first
	 * exchange. RETURNING events: equal to ?11, a new row */
	[S_FLOW] = "INSERT INTO flows(flow_id, first_ts, last_ts, client, "
	    "host, port, protocol, status, req_bytes, resp_bytes, events, "
	    "host_rev, requests, method, url) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	    "?14, ?15) "
	    "ON CONFLICT(flow_id) DO UPDATE SET "
	    "last_ts = max(last_ts, excluded.last_ts), "
	    "client = coalesce(excluded.client, client), "
	    "host = coalesce(excluded.host, host), "
	    "host_rev = coalesce(excluded.host_rev, host_rev), "
	    "port = coalesce(excluded.port, port), "
	    "protocol = coalesce(excluded.protocol, protocol), "
	    "status = coalesce(status, excluded.status), "
	    "req_bytes = req_bytes + excluded.req_bytes, "
	    "resp_bytes = resp_bytes + excluded.resp_bytes, "
	    "method = CASE WHEN requests = 0 AND excluded.requests > 0 "
	    "THEN excluded.method ELSE method END, "
	    "url = CASE WHEN requests = 0 AND excluded.requests > 0 "
	    "THEN excluded.url ELSE url END, "
	    "requests = requests + excluded.requests, "
	    "events = events + excluded.events RETURNING events",
	[S_EVENT] = "INSERT OR IGNORE INTO events(flow_id, seq, ts, type, "
	    "json) VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_CONNECT] = "UPDATE flows SET method = coalesce(method, ?2) "
	    "WHERE flow_id = ?1",
	[S_DECISION] = "UPDATE flows SET decision = ?2, rule = ?3 "
	    "WHERE flow_id = ?1",
	[S_TLS_CLIENT] = "UPDATE flows SET tls_client_version = ?2, "
	    "tls_client_cipher = ?3 WHERE flow_id = ?1",
	[S_TLS_UPSTREAM] = "UPDATE flows SET tls_upstream_version = ?2, "
	    "tls_upstream_cipher = ?3 WHERE flow_id = ?1",
	[S_TLS_FAIL] = "UPDATE flows SET failure_side = ?2, "
	    "failure_reason = ?3 WHERE flow_id = ?1",
	[S_CLOSED] = "UPDATE flows SET close_reason = ?2, bytes_in = ?3, "
	    "bytes_out = ?4 WHERE flow_id = ?1",
	[S_BODY] = "INSERT OR IGNORE INTO bodies(flow_id, stream, dir, "
	    "offset, data) VALUES (?1, ?2, ?3, ?4, ?5)",
	/* a body's captured bytes, in order */
	[S_BODY_READ] = "SELECT offset, data FROM bodies WHERE flow_id = ?1 "
	    "AND stream = ?2 AND dir = ?3 ORDER BY offset",
	/* the headers that pick the decoders, from the last head event of
	 * the exchange (?2 its type, ?3 the stream; 0 for none, as in
	 * bodies) */
	[S_HEADERS] = "SELECT lower(json_extract(h.value, '$[0]')), "
	    "json_extract(h.value, '$[1]') FROM (SELECT json FROM events "
	    "WHERE flow_id = ?1 AND type = ?2 AND "
	    "coalesce(json_extract(json, '$.stream'), 0) = ?3 "
	    "ORDER BY seq DESC LIMIT 1) AS e, "
	    "json_each(e.json, '$.headers') AS h WHERE h.type = 'array' AND "
	    "lower(json_extract(h.value, '$[0]')) IN ('content-type', "
	    "'content-encoding', 'grpc-encoding')",
	[S_DECODED] = "INSERT OR REPLACE INTO decoded(flow_id, stream, dir, "
	    "json) VALUES (?1, ?2, ?3, ?4)",
	[S_DOOM_AGE] = "INSERT OR IGNORE INTO temp.doomed SELECT flow_id "
	    "FROM flows WHERE last_ts < ?1 ORDER BY last_ts LIMIT ?2",
	[S_DOOM_COUNT] = "INSERT OR IGNORE INTO temp.doomed SELECT flow_id "
	    "FROM flows ORDER BY first_ts DESC, flow_id DESC "
	    "LIMIT ?2 OFFSET ?1",
	[S_DEL_EVENTS] = "DELETE FROM events WHERE flow_id IN "
	    "(SELECT flow_id FROM temp.doomed)",
	[S_DEL_BODIES] = "DELETE FROM bodies WHERE flow_id IN "
	    "(SELECT flow_id FROM temp.doomed)",
	[S_DEL_DECODED] = "DELETE FROM decoded WHERE flow_id IN "
	    "(SELECT flow_id FROM temp.doomed)",
	[S_DEL_FLOWS] = "DELETE FROM flows WHERE flow_id IN "
	    "(SELECT flow_id FROM temp.doomed)",
	[S_DOOM_CLEAR] = "DELETE FROM temp.doomed",
	[S_COUNT] = "SELECT count(*) FROM flows",
};

/*
 * A flow's row is written once per flush, not once per event: the
 * common columns of its events since the last flush wait here (the
 * upsert of the row, with its seven indexes, was half of webui's time
 * with small requests). A flush writes them all: at each commit, when
 * the table is full, before anyone reads the database (store_db()), and
 * for one flow before a statement that updates its row in place.
 */
#define STORE_PEND_MAX	128

struct store_pend {
	int64_t		 sp_flow;
	int64_t		 sp_port;	/* -1: none yet */
	int64_t		 sp_status;	/* the first; -1: none yet */
	int64_t		 sp_req_bytes;
	int64_t		 sp_resp_bytes;
	int64_t		 sp_events;
	int64_t		 sp_requests;
	char		 sp_first_ts[WEV_TS_MAX];
	char		 sp_last_ts[WEV_TS_MAX];
	char		 sp_client[WEV_SHORT_MAX];	/* "": none yet */
	char		 sp_host[WEV_HOST_MAX];
	char		 sp_protocol[WEV_SHORT_MAX];
	char		 sp_method[WEV_SHORT_MAX];	/* of the first request */
	char		 sp_url[WEV_URL_MAX];
};

struct store {
	sqlite3		*st_db;
	struct store_pend st_pend[STORE_PEND_MAX];
	size_t		 st_npend;
	sqlite3_stmt	*st_stmt[S_MAX];
	struct event	*st_commit_ev;
	struct event	*st_retain_ev;
	int		 st_in_txn;
	uint32_t	 st_txn_events;
	uint32_t	 st_keep_flows;
	uint32_t	 st_keep_days;
	uint64_t	 st_nflows;	/* rows in flows, as we count them */
	uint64_t	 st_events;	/* stored */
	uint64_t	 st_dups;	/* (flow_id, seq) seen before */
	uint64_t	 st_lost;	/* not stored: locked out */
	uint64_t	 st_backoff_until; /* monotonic usec */
	struct webui_rl	 st_rl;
	int		 st_off;	/* store off: events are not stored */
};

static void	store_commit_cb(evutil_socket_t, short, void *);
static void	store_retain_cb(evutil_socket_t, short, void *);

static void
store_warn(struct store *st, const char *what)
{
	if (webui_rl_ok(&st->st_rl, WEBUI_LOG_USEC))
		log_warnx("flow store: %s: %s", what, sqlite3_errmsg(st->st_db));
}

/* Run a prepared statement to its end and reset it. SQLITE_DONE, a
 * SQLITE_ROW for a query's first row (then the caller resets), or an
 * error code. */
static int
store_run(struct store *st, enum store_stmt s)
{
	sqlite3_stmt	*q = st->st_stmt[s];
	int		 rc;

	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW)
		sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_warn(st, store_sql[s]);
	sqlite3_clear_bindings(q);
	return (rc);
}

static void
store_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s[0] == '\0')
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
}

static void
store_int(sqlite3_stmt *q, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_int64(q, i, v);
}

static int
store_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("flow store: %s: %s", sql, err ? err :
		    sqlite3_errmsg(db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

static int
store_version(sqlite3 *db)
{
	sqlite3_stmt	*q;
	int		 v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) !=
	    SQLITE_OK)
		return (-1);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return (v);
}

/* mitmd_host_rev(host): flowq_host_rev() for SQL, to fill the column of
 * an older store. */
static void
store_host_rev_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char		 rev[FLOWQ_HOST_MAX + 2];
	const char	*host;

	(void)argc;
	if ((host = (const char *)sqlite3_value_text(argv[0])) == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	flowq_host_rev(host, rev, sizeof(rev));
	sqlite3_result_text(ctx, rev, -1, SQLITE_TRANSIENT);
}

/* A store older than version 3: flows.host_rev, filled from host. */
static int
store_host_rev(sqlite3 *db)
{
	sqlite3_stmt	*q;
	int		 have = 0;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM "
	    "pragma_table_info('flows') WHERE name = 'host_rev'", -1, &q,
	    NULL) != SQLITE_OK)
		return (-1);
	if (sqlite3_step(q) == SQLITE_ROW)
		have = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (have)
		return (0);
	if (sqlite3_create_function(db, "mitmd_host_rev", 1, SQLITE_UTF8 |
	    SQLITE_DETERMINISTIC, NULL, store_host_rev_fn, NULL, NULL) !=
	    SQLITE_OK)
		return (-1);
	log_info("flow store: version 3: adding flows.host_rev");
	return (store_exec(db, "ALTER TABLE flows ADD COLUMN host_rev TEXT; "
	    "UPDATE flows SET host_rev = mitmd_host_rev(host) "
	    "WHERE host IS NOT NULL;"));
}

/*
 * The pragmas, then the schema. WAL before anything is written; the
 * WAL file stays (PERSIST_WAL) so closing never unlinks it.
 */
static int
store_setup(struct store *st)
{
	sqlite3	*db = st->st_db;
	int	 v, one = 1;
	char	 sql[128];

	sqlite3_busy_timeout(db, STORE_BUSY_MSEC);
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d; "
	    "PRAGMA journal_size_limit = %d;", STORE_CACHE_KIB,
	    STORE_WAL_LIMIT);
	/* A new store's pages (an old one keeps its own): events are
	 * appended a few KiB at a time, and SQLite writes each page of a
	 * commit to the WAL with two pwrite(2)s, then again to the database
	 * at a checkpoint; with 4 KiB pages a busy store made three times
	 * the syscalls and fsyncs. */
	if (store_exec(db, "PRAGMA page_size = 16384;") == -1 ||
	    store_exec(db, "PRAGMA journal_mode = WAL;") == -1 ||
	    store_exec(db, "PRAGMA synchronous = NORMAL; "
	    "PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;") == -1 ||
	    store_exec(db, sql) == -1)
		return (-1);
	if ((v = store_version(db)) == -1)
		return (-1);
	if (v > STORE_SCHEMA_VERSION) {
		log_warnx("flow store: schema version %d is newer than this "
		    "mitmd's %d: not touching it", v, STORE_SCHEMA_VERSION);
		return (-1);
	}
	if (store_exec(db, "BEGIN;") == -1)
		return (-1);
	if (store_exec(db, store_schema) == -1 || store_host_rev(db) == -1 ||
	    store_exec(db, store_schema_v3) == -1) {
		(void)store_exec(db, "ROLLBACK;");
		return (-1);
	}
	if (store_exec(db, "COMMIT;") == -1 ||
	    store_exec(db, "CREATE TEMP TABLE IF NOT EXISTS doomed "
	    "(flow_id INTEGER PRIMARY KEY);") == -1)
		return (-1);
	return (0);
}

static int
store_prepare(struct store *st)
{
	int i;

	for (i = 0; i < S_MAX; i++)
		if (sqlite3_prepare_v3(st->st_db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->st_stmt[i], NULL) !=
		    SQLITE_OK) {
			log_warnx("flow store: %s: %s", store_sql[i],
			    sqlite3_errmsg(st->st_db));
			return (-1);
		}
	return (0);
}

static void
store_count(struct store *st)
{
	if (store_run(st, S_COUNT) == SQLITE_ROW) {
		st->st_nflows = (uint64_t)sqlite3_column_int64(
		    st->st_stmt[S_COUNT], 0);
		sqlite3_reset(st->st_stmt[S_COUNT]);
	}
}

static void
store_arm(struct event *ev, uint64_t msec)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(msec / 1000);
	tv.tv_usec = (suseconds_t)(msec % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/*
 * Called after chroot and the change of uid (the files are created as
 * webui's user) and before seccomp: every file SQLite will use is opened
 * here, and its random generator is seeded (it would read /dev/urandom).
 */
struct store *
store_open(struct event_base *base, const char *path, uint32_t keep_flows,
    uint32_t keep_days)
{
	struct store	*st;
	uint64_t	 seed;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return (NULL);
	st->st_keep_flows = keep_flows;
	st->st_keep_days = keep_days;
	if (STORE_IS_OFF(keep_flows, keep_days)) {
		/* a store that takes nothing: no file is opened or made */
		st->st_off = 1;
		log_info("flow store off: events go to the sinks only");
		return (st);
	}
	if (sqlite3_open_v2(path, &st->st_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("flow store %s: %s", path, st->st_db != NULL ?
		    sqlite3_errmsg(st->st_db) : "out of memory");
		goto fail;
	}
	sqlite3_randomness(sizeof(seed), &seed);
	if (store_setup(st) == -1 || store_prepare(st) == -1)
		goto fail;
	store_count(st);
	/* The first retention pass now: the limits may have shrunk. */
	(void)store_retain(st);
	/* A checkpoint that syncs the WAL now, while a directory can still
	 * be opened for its fsync. */
	if (sqlite3_wal_checkpoint_v2(st->st_db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
		log_debug("flow store: checkpoint: %s",
		    sqlite3_errmsg(st->st_db));
	st->st_commit_ev = evtimer_new(base, store_commit_cb, st);
	st->st_retain_ev = evtimer_new(base, store_retain_cb, st);
	if (st->st_commit_ev == NULL || st->st_retain_ev == NULL)
		goto fail;
	store_arm(st->st_retain_ev, STORE_RETAIN_MSEC);
	log_info("flow store %s: %" PRIu64 " flows", path, st->st_nflows);
	return (st);
fail:
	store_close(st);
	return (NULL);
}

/* A reload may turn the store off; on again only with a restart (the
 * files cannot be opened inside the sandbox). */
void
store_set_keep(struct store *st, uint32_t keep_flows, uint32_t keep_days)
{
	int off = STORE_IS_OFF(keep_flows, keep_days);

	if (off && !st->st_off) {
		store_commit(st);
		log_info("flow store off: events go to the sinks only");
	} else if (!off && st->st_db == NULL && st->st_off)
		log_warnx("flow store: turned on by a reload, it stays off "
		    "until mitmd restarts");
	st->st_off = off || st->st_db == NULL;
	if (!off) {
		st->st_keep_flows = keep_flows;
		st->st_keep_days = keep_days;
	}
}

/*
 * Open the batch's transaction. Another process holding the write lock
 * (a tool writing to the database) makes us wait STORE_BUSY_MSEC at
 * most; then the store is left alone for STORE_BACKOFF_MSEC and the
 * events of that time go to the sinks only, so a stuck lock can never
 * stall the event loop more than once a backoff.
 */
static int
store_begin(struct store *st)
{
	uint64_t now;

	if (st->st_in_txn)
		return (0);
	now = util_now_usec();
	if (now < st->st_backoff_until) {
		st->st_lost++;
		return (-1);
	}
	if (store_run(st, S_BEGIN) != SQLITE_DONE) {
		st->st_backoff_until = now + (uint64_t)STORE_BACKOFF_MSEC * 1000;
		st->st_lost++;
		return (-1);
	}
	st->st_in_txn = 1;
	st->st_txn_events = 0;
	store_arm(st->st_commit_ev, STORE_COMMIT_MSEC);
	return (0);
}

/* Write one waiting row; the slot is free after. */
static void
store_pend_write(struct store *st, const struct store_pend *sp)
{
	sqlite3_stmt	*q = st->st_stmt[S_FLOW];
	char		 rev[FLOWQ_HOST_MAX + 2];

	sqlite3_bind_int64(q, 1, sp->sp_flow);
	store_text(q, 2, sp->sp_first_ts);
	store_text(q, 3, sp->sp_last_ts);
	store_text(q, 4, sp->sp_client);
	store_text(q, 5, sp->sp_host);
	store_int(q, 6, sp->sp_port);
	store_text(q, 7, sp->sp_protocol);
	store_int(q, 8, sp->sp_status);
	sqlite3_bind_int64(q, 9, sp->sp_req_bytes);
	sqlite3_bind_int64(q, 10, sp->sp_resp_bytes);
	sqlite3_bind_int64(q, 11, sp->sp_events);
	flowq_host_rev(sp->sp_host, rev, sizeof(rev));
	store_text(q, 12, rev);
	sqlite3_bind_int64(q, 13, sp->sp_requests);
	store_text(q, 14, sp->sp_method);
	store_text(q, 15, sp->sp_url);
	if (store_run(st, S_FLOW) != SQLITE_ROW)
		return;
	if (sqlite3_column_int64(q, 0) == sp->sp_events)
		st->st_nflows++;
	/* the statement's one row is read: run it to its end */
	if (sqlite3_step(q) != SQLITE_DONE)
		store_warn(st, store_sql[S_FLOW]);
	sqlite3_reset(q);
}

/* Every waiting row to the database (inside the open transaction). */
static void
store_pend_flush(struct store *st)
{
	size_t i;

	for (i = 0; i < st->st_npend; i++)
		store_pend_write(st, &st->st_pend[i]);
	st->st_npend = 0;
}

/* One flow's waiting row, before a statement that updates its row. */
static void
store_pend_flush_one(struct store *st, int64_t flow)
{
	size_t i;

	for (i = 0; i < st->st_npend; i++)
		if (st->st_pend[i].sp_flow == flow) {
			store_pend_write(st, &st->st_pend[i]);
			if (i != --st->st_npend)
				st->st_pend[i] = st->st_pend[st->st_npend];
			return;
		}
}

static void
store_pend_text(char *dst, size_t sz, const char *v)
{
	if (v[0] != '\0')
		util_strlcpy(dst, v, sz);
}

/* The flow's own row: what this event adds to it, kept until a flush. */
static void
store_flow(struct store *st, const struct wev *ev)
{
	struct store_pend	*sp = NULL;
	size_t			 i;

	for (i = 0; i < st->st_npend && sp == NULL; i++)
		if (st->st_pend[i].sp_flow == ev->we_flow)
			sp = &st->st_pend[i];
	if (sp == NULL) {
		if (st->st_npend == STORE_PEND_MAX)
			store_pend_flush(st);
		sp = &st->st_pend[st->st_npend++];
		memset(sp, 0, sizeof(*sp));
		sp->sp_flow = ev->we_flow;
		sp->sp_port = -1;
		sp->sp_status = -1;
		util_strlcpy(sp->sp_first_ts, ev->we_ts,
		    sizeof(sp->sp_first_ts));
	}
	sp->sp_events++;
	if (strcmp(ev->we_ts, sp->sp_last_ts) > 0)
		util_strlcpy(sp->sp_last_ts, ev->we_ts, sizeof(sp->sp_last_ts));
	store_pend_text(sp->sp_client, sizeof(sp->sp_client), ev->we_client);
	store_pend_text(sp->sp_host, sizeof(sp->sp_host), ev->we_host);
	store_pend_text(sp->sp_protocol, sizeof(sp->sp_protocol),
	    ev->we_protocol);
	if (ev->we_port >= 0)
		sp->sp_port = ev->we_port;
	if (ev->we_type == WEV_RESPONSE_HEADERS && sp->sp_status < 0 &&
	    ev->we_status >= 0)
		sp->sp_status = ev->we_status;
	if ((ev->we_type == WEV_REQUEST_BODY ||
	    ev->we_type == WEV_RESPONSE_BODY) && ev->we_last == 1 &&
	    ev->we_body_size >= 0)
		*(ev->we_type == WEV_REQUEST_BODY ? &sp->sp_req_bytes :
		    &sp->sp_resp_bytes) += ev->we_body_size;
	/* the first exchange names the flow (the flush keeps the row's
	 * own when it had one) */
	if (ev->we_type == WEV_REQUEST_HEADERS && sp->sp_requests++ == 0) {
		util_strlcpy(sp->sp_method, ev->we_method,
		    sizeof(sp->sp_method));
		util_strlcpy(sp->sp_url, ev->we_url, sizeof(sp->sp_url));
	}
}

/* Bind ?1 (the flow) and two more values, and run. */
static void
store_update(struct store *st, enum store_stmt s, const struct wev *ev,
    const char *a, const char *b)
{
	sqlite3_stmt *q = st->st_stmt[s];

	store_pend_flush_one(st, ev->we_flow);
	sqlite3_bind_int64(q, 1, ev->we_flow);
	if (a != NULL)
		store_text(q, 2, a);
	if (b != NULL)
		store_text(q, 3, b);
	(void)store_run(st, s);
}

static void
store_closed(struct store *st, const struct wev *ev)
{
	sqlite3_stmt *q = st->st_stmt[S_CLOSED];

	store_pend_flush_one(st, ev->we_flow);
	sqlite3_bind_int64(q, 1, ev->we_flow);
	store_text(q, 2, ev->we_reason);
	store_int(q, 3, ev->we_bytes_in);
	store_int(q, 4, ev->we_bytes_out);
	(void)store_run(st, S_CLOSED);
}

static void
store_decision(struct store *st, const struct wev *ev)
{
	char rule[WEV_SHORT_MAX];

	if (ev->we_rule >= 0)
		snprintf(rule, sizeof(rule), "%" PRId64, ev->we_rule);
	else
		util_strlcpy(rule, ev->we_rule_str, sizeof(rule));
	store_update(st, S_DECISION, ev, ev->we_action, rule);
}

/* What each type adds to its flow's row, past what store_flow() does
 * (the status, the body sizes, the first exchange). */
static void
store_flow_type(struct store *st, const struct wev *ev)
{
	switch (ev->we_type) {
	case WEV_CONNECT_RECEIVED:
		store_update(st, S_CONNECT, ev, ev->we_method, NULL);
		break;
	case WEV_CONNECT_DECISION:
		store_decision(st, ev);
		break;
	case WEV_TLS_SUCCEEDED:
		store_update(st, strcmp(ev->we_side, "client") == 0 ?
		    S_TLS_CLIENT : S_TLS_UPSTREAM, ev, ev->we_tls_version,
		    ev->we_cipher);
		break;
	case WEV_TLS_FAILED:
		store_update(st, S_TLS_FAIL, ev, ev->we_side, ev->we_failure);
		break;
	case WEV_STREAM_CLOSED:
		store_closed(st, ev);
		break;
	default:
		break;
	}
}

static void
store_body(struct store *st, const struct wev *ev, const uint8_t *cap,
    size_t caplen)
{
	sqlite3_stmt *q = st->st_stmt[S_BODY];

	sqlite3_bind_int64(q, 1, ev->we_flow);
	sqlite3_bind_int64(q, 2, ev->we_stream < 0 ? 0 : ev->we_stream);
	sqlite3_bind_text(q, 3, ev->we_type == WEV_RESPONSE_BODY ?
	    "response" : "request", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, ev->we_offset < 0 ? 0 : ev->we_offset);
	sqlite3_bind_blob(q, 5, cap, (int)caplen, SQLITE_STATIC);
	(void)store_run(st, S_BODY);
}

/* The headers that pick the decoders, each cut to STORE_HDR_MAX. */
struct store_hdrs {
	char	 sh_type[STORE_HDR_MAX];
	char	 sh_enc[STORE_HDR_MAX];
	char	 sh_grpc[STORE_HDR_MAX];
};

/* Several Content-Encoding fields make one list (RFC 9110 5.3); of the
 * others the first stands. */
static void
store_hdr_add(char *dst, size_t sz, const char *v, int list)
{
	size_t l = strlen(dst);

	if (l > 0 && !list)
		return;
	snprintf(dst + l, sz - l, "%s%s", l > 0 ? ", " : "", v);
}

static void
store_headers(struct store *st, const struct wev *ev, int64_t stream,
    struct store_hdrs *h)
{
	sqlite3_stmt	*q = st->st_stmt[S_HEADERS];
	const char	*name, *value;
	int		 rc;

	memset(h, 0, sizeof(*h));
	sqlite3_bind_int64(q, 1, ev->we_flow);
	sqlite3_bind_text(q, 2, ev->we_type == WEV_RESPONSE_BODY ?
	    "response_headers" : "request_headers", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, stream);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(q, 0);
		value = (const char *)sqlite3_column_text(q, 1);
		if (name == NULL || value == NULL)
			continue;
		if (strcmp(name, "content-type") == 0)
			store_hdr_add(h->sh_type, sizeof(h->sh_type), value, 0);
		else if (strcmp(name, "content-encoding") == 0)
			store_hdr_add(h->sh_enc, sizeof(h->sh_enc), value, 1);
		else
			store_hdr_add(h->sh_grpc, sizeof(h->sh_grpc), value, 0);
	}
	if (rc != SQLITE_DONE)
		store_warn(st, store_sql[S_HEADERS]);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

/* The body's captured bytes, from its start up to a gap; their count. */
static size_t
store_capture(struct store *st, const struct wev *ev, int64_t stream,
    uint8_t *buf, size_t sz)
{
	sqlite3_stmt	*q = st->st_stmt[S_BODY_READ];
	size_t		 len = 0, n;
	int		 rc;

	sqlite3_bind_int64(q, 1, ev->we_flow);
	sqlite3_bind_int64(q, 2, stream);
	sqlite3_bind_text(q, 3, ev->we_type == WEV_RESPONSE_BODY ?
	    "response" : "request", -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		n = (size_t)sqlite3_column_bytes(q, 1);
		if (sqlite3_column_int64(q, 0) != (int64_t)len ||
		    n > sz - len)
			break;
		if (n > 0)
			memcpy(buf + len, sqlite3_column_blob(q, 1), n);
		len += n;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_warn(st, store_sql[S_BODY_READ]);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return len;
}

/*
 * A body's last chunk is in: its capture through the decoder chain, the
 * rendering into decoded. The capture may be a prefix of the body (the
 * capture limit): the decoders know, and mark what they make truncated.
 */
static void
store_decode(struct store *st, const struct wev *ev)
{
	static uint8_t		 buf[WEBUI_CAPTURE_MAX];
	struct store_hdrs	 h;
	struct decode_input	 in;
	struct decode_limits	 lim;
	struct decode_result	 res;
	sqlite3_stmt		*q = st->st_stmt[S_DECODED];
	int64_t			 stream = ev->we_stream < 0 ? 0 : ev->we_stream;
	size_t			 len, jlen;
	char			*json;

	if ((len = store_capture(st, ev, stream, buf, sizeof(buf))) == 0)
		return;
	store_headers(st, ev, stream, &h);
	memset(&in, 0, sizeof(in));
	in.di_content_type = h.sh_type[0] != '\0' ? h.sh_type : NULL;
	in.di_content_encoding = h.sh_enc[0] != '\0' ? h.sh_enc : NULL;
	in.di_grpc_encoding = h.sh_grpc[0] != '\0' ? h.sh_grpc : NULL;
	in.di_partial = ev->we_body_size > (int64_t)len;
	decode_limits_default(&lim);
	lim.dl_max_out = STORE_DECODE_MAX_OUT;
	lim.dl_max_depth = STORE_DECODE_DEPTH;
	if (decode_body(&in, &lim, buf, len, &res) == -1)
		json = NULL;
	else {
		json = decode_render(&res, &jlen);
		decode_result_free(&res);
	}
	if (json == NULL) {
		if (webui_rl_ok(&st->st_rl, WEBUI_LOG_USEC))
			log_warnx("flow store: decoding a body: out of memory");
		return;
	}
	sqlite3_bind_int64(q, 1, ev->we_flow);
	sqlite3_bind_int64(q, 2, stream);
	sqlite3_bind_text(q, 3, ev->we_type == WEV_RESPONSE_BODY ?
	    "response" : "request", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, json, (int)jlen, SQLITE_STATIC);
	(void)store_run(st, S_DECODED);
	free(json);
}

int64_t
store_event(struct store *st, const struct wev *ev, const char *json,
    size_t len, const uint8_t *cap, size_t caplen)
{
	sqlite3_stmt	*q = st->st_stmt[S_EVENT];
	int64_t		 id;

	if (st->st_off)
		return (-1);
	if (store_begin(st) == -1)
		return (0);
	sqlite3_bind_int64(q, 1, ev->we_flow);
	sqlite3_bind_int64(q, 2, ev->we_seq);
	store_text(q, 3, ev->we_ts);
	sqlite3_bind_text(q, 4, ev->we_typename, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, json, (int)len, SQLITE_STATIC);
	if (store_run(st, S_EVENT) != SQLITE_DONE)
		return (0);
	if (sqlite3_changes(st->st_db) == 0) {
		/* the same (flow_id, seq) again: the first one stands */
		st->st_dups++;
		return (0);
	}
	/* read before the statements below insert rows of their own */
	id = sqlite3_last_insert_rowid(st->st_db);
	st->st_events++;
	store_flow(st, ev);
	store_flow_type(st, ev);
	if (caplen > 0 && (ev->we_type == WEV_REQUEST_BODY ||
	    ev->we_type == WEV_RESPONSE_BODY))
		store_body(st, ev, cap, caplen);
	if ((ev->we_type == WEV_REQUEST_BODY ||
	    ev->we_type == WEV_RESPONSE_BODY) && ev->we_last == 1)
		store_decode(st, ev);
	if (++st->st_txn_events >= STORE_TXN_EVENTS)
		store_commit(st);
	return (id);
}

void
store_commit(struct store *st)
{
	if (!st->st_in_txn)
		return;
	store_pend_flush(st);
	st->st_in_txn = 0;
	evtimer_del(st->st_commit_ev);
	if (store_run(st, S_COMMIT) != SQLITE_DONE) {
		/* what the batch held is lost; the store goes on */
		(void)store_run(st, S_ROLLBACK);
		return;
	}
	/* Over the count by a margin (so that a store at its limit does
	 * not run a pass per commit): retention now rather than on its
	 * next tick. */
	if (st->st_keep_flows != 0 && st->st_nflows > st->st_keep_flows +
	    st->st_keep_flows / STORE_RETAIN_SLACK)
		store_arm(st->st_retain_ev, 0);
}

static void
store_commit_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	store_commit(arg);
}

/* "2026-11-15T03:40:01.000000Z" for now less keep_days. */
static void
store_cutoff(const struct store *st, char *buf, size_t sz)
{
	time_t		 t = (time_t)(util_wall_usec() / 1000000 -
	    st->st_keep_days * STORE_DAY_SEC);
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sz, "%Y-%m-%dT%H:%M:%S.000000Z", &tm) == 0)
		buf[0] = '\0';
}

/* Pick this pass's flows into temp.doomed; 1 if there may be more. */
static int
store_doom(struct store *st)
{
	char	 cutoff[STORE_TS_MAX];
	int	 more = 0;

	if (st->st_keep_days != 0) {
		store_cutoff(st, cutoff, sizeof(cutoff));
		sqlite3_bind_text(st->st_stmt[S_DOOM_AGE], 1, cutoff, -1,
		    SQLITE_TRANSIENT);
		sqlite3_bind_int(st->st_stmt[S_DOOM_AGE], 2,
		    STORE_RETAIN_BATCH);
		if (cutoff[0] != '\0' &&
		    store_run(st, S_DOOM_AGE) == SQLITE_DONE &&
		    sqlite3_changes(st->st_db) >= STORE_RETAIN_BATCH)
			more = 1;
	}
	if (st->st_keep_flows != 0 && st->st_nflows > st->st_keep_flows) {
		sqlite3_bind_int64(st->st_stmt[S_DOOM_COUNT], 1,
		    st->st_keep_flows);
		sqlite3_bind_int(st->st_stmt[S_DOOM_COUNT], 2,
		    STORE_RETAIN_BATCH);
		if (store_run(st, S_DOOM_COUNT) == SQLITE_DONE &&
		    sqlite3_changes(st->st_db) >= STORE_RETAIN_BATCH)
			more = 1;
	}
	return (more);
}

/* One pass in its own transaction; the next one is always scheduled. */
uint64_t
store_retain(struct store *st)
{
	uint64_t deleted = 0;
	int	 more = 0;

	if (st->st_db == NULL)
		return (0);	/* off from the start */
	store_commit(st);
	if (store_run(st, S_BEGIN) != SQLITE_DONE)
		goto next;
	more = store_doom(st);
	if (store_run(st, S_DEL_EVENTS) == SQLITE_DONE &&
	    store_run(st, S_DEL_BODIES) == SQLITE_DONE &&
	    store_run(st, S_DEL_DECODED) == SQLITE_DONE &&
	    store_run(st, S_DEL_FLOWS) == SQLITE_DONE)
		deleted = (uint64_t)sqlite3_changes(st->st_db);
	(void)store_run(st, S_DOOM_CLEAR);
	if (store_run(st, S_COMMIT) != SQLITE_DONE) {
		(void)store_run(st, S_ROLLBACK);
		deleted = 0;
		more = 0;
		goto next;
	}
	if (deleted > 0) {
		store_count(st);
		log_info("flow store: %" PRIu64 " flows deleted by retention, "
		    "%" PRIu64 " kept", deleted, st->st_nflows);
	}
next:
	if (st->st_retain_ev != NULL)
		store_arm(st->st_retain_ev, more ? STORE_RETAIN_SOON_MSEC :
		    STORE_RETAIN_MSEC);
	return (deleted);
}

static void
store_retain_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)store_retain(arg);
}

void
store_close(struct store *st)
{
	int i;

	if (st == NULL)
		return;
	if (st->st_db != NULL && st->st_stmt[S_COMMIT] != NULL)
		store_commit(st);
	for (i = 0; i < S_MAX; i++)
		sqlite3_finalize(st->st_stmt[i]);
	if (st->st_commit_ev != NULL)
		event_free(st->st_commit_ev);
	if (st->st_retain_ev != NULL)
		event_free(st->st_retain_ev);
	sqlite3_close_v2(st->st_db);
	free(st);
}

/* For a reader in this process: the rows it reads are up to date (it
 * sees the open transaction). */
sqlite3 *
store_db(struct store *st)
{
	if (st == NULL)
		return (NULL);
	if (st->st_in_txn)
		store_pend_flush(st);
	return (st->st_db);
}
