/*
 * Flow rendering from the flow store, shared by mitmctl ("flows --json",
 * "flows show --json", "flows export --har") and webui's admin pages
 * (/api/flows, /api/flows/ID, /flows.har): JSON of store rows, the JSON
 * of one flow (heads, decoded bodies, WebSocket, SSE and gRPC messages,
 * TLS, the event timeline), a page of the flow list, and HAR 1.2
 * (flowr_har.c). Each writes to a stdio stream (mitmctl: stdout or a
 * file; webui: open_memstream) and returns -1 on an SQLite error, with
 * the connection's error message left for the caller to report.
 */
#ifndef MITMD_FLOWR_H
#define MITMD_FLOWR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

struct flowq;

#define FLOWR_SHOW_FOUND	0
#define FLOWR_SHOW_NOT_FOUND	1

/* A short description of an event, from its JSON (J: an SQL expression). */
#define FLOWR_DETAIL(J)							\
	"coalesce(CASE json_extract(" J ", '$.type') "			\
	"WHEN 'connect_received' THEN coalesce(json_extract(" J ", "	\
	"'$.method'), '-') || ' ' || json_extract(" J ", '$.mode') "	\
	"WHEN 'connect_decision' THEN json_extract(" J ", '$.action') "	\
	"|| ' rule ' || json_extract(" J ", '$.rule') "			\
	"WHEN 'tls_handshake_started' THEN json_extract(" J ", "	\
	"'$.side') || ' sni ' || coalesce(json_extract(" J ", '$.sni'), "\
	"'-') "								\
	"WHEN 'tls_handshake_succeeded' THEN json_extract(" J ", "	\
	"'$.side') || ' ' || json_extract(" J ", '$.tls_version') || ' ' "\
	"|| json_extract(" J ", '$.cipher') || ' alpn ' || "		\
	"coalesce(json_extract(" J ", '$.alpn'), '-') "			\
	"WHEN 'tls_handshake_failed' THEN json_extract(" J ", '$.side') "\
	"|| ' ' || json_extract(" J ", '$.tls_failure_reason') || ': ' "	\
	"|| coalesce(json_extract(" J ", '$.detail'), '') "		\
	"WHEN 'request_headers' THEN '#' || json_extract(" J ", "	\
	"'$.stream') || ' ' || json_extract(" J ", '$.method') || ' ' || "\
	"coalesce(json_extract(" J ", '$.url'), json_extract(" J ", "	\
	"'$.target')) "							\
	"WHEN 'response_headers' THEN '#' || json_extract(" J ", "	\
	"'$.stream') || ' ' || json_extract(" J ", '$.status') || ' ' || "\
	"json_extract(" J ", '$.reason') "				\
	"WHEN 'request_body_chunk' THEN '#' || json_extract(" J ", "	\
	"'$.stream') || ' ' || json_extract(" J ", '$.size') || ' bytes' "\
	"|| iif(json_extract(" J ", '$.last'), ', last, body ' || "	\
	"json_extract(" J ", '$.body_size'), '') "			\
	"WHEN 'response_body_chunk' THEN '#' || json_extract(" J ", "	\
	"'$.stream') || ' ' || json_extract(" J ", '$.size') || ' bytes' "\
	"|| iif(json_extract(" J ", '$.last'), ', last, body ' || "	\
	"json_extract(" J ", '$.body_size'), '') "			\
	"WHEN 'ws_message' THEN '#' || json_extract(" J ", '$.stream') "\
	"|| ' ' || json_extract(" J ", '$.from') || ' ' || "		\
	"json_extract(" J ", '$.opcode') || ' ' || json_extract(" J ", "	\
	"'$.length') || ' bytes' "					\
	"WHEN 'sse_event' THEN '#' || json_extract(" J ", '$.stream') "	\
	"|| ' ' || json_extract(" J ", '$.event') || ' ' || "		\
	"json_extract(" J ", '$.data_size') || ' bytes' "		\
	"WHEN 'grpc_message' THEN '#' || json_extract(" J ", '$.stream') "\
	"|| ' ' || json_extract(" J ", '$.from') || ' message ' || "	\
	"json_extract(" J ", '$.index') || ' ' || coalesce(json_extract("\
	J ", '$.length') || ' bytes', json_extract(" J ", '$.error')) "	\
	"WHEN 'stream_closed' THEN json_extract(" J ", '$.reason') || "	\
	"', in ' || json_extract(" J ", '$.bytes_in') || ', out ' || "	\
	"json_extract(" J ", '$.bytes_out') "				\
	"END, '')"

/* The first value of a header field of a head event (lower-case name). */
#define FLOWR_HDR(J, NAME)						\
	"(SELECT json_extract(h.value, '$[1]') FROM json_each(" J ", "	\
	"'$.headers') AS h WHERE lower(json_extract(h.value, '$[0]')) = "\
	"'" NAME "' LIMIT 1)"

/* Header fields of a head event as HAR has them: [{name, value}]. */
#define FLOWR_HEADERS(J)							\
	"(SELECT json_group_array(json_object('name', "			\
	"json_extract(h.value, '$[0]'), 'value', json_extract(h.value, "\
	"'$[1]'))) FROM json_each(" J ", '$.headers') AS h)"

/* SQL of the flow's row, its TLS, its exchanges and its events (?1 the
 * flow id), for mitmctl's text view. */
extern const char flowr_flow_sql[];
extern const char flowr_tls_sql[];
extern const char flowr_exchange_sql[];
extern const char flowr_timeline_sql[];

/* Bytes as a JSON string: invalid UTF-8 becomes U+FFFD, as in events. */
void	flowr_json_bytes(FILE *, const unsigned char *, size_t);
void	flowr_json_str(FILE *, const char *);	/* NULL: null */
/* A row as {"column": value, ...}; "_json" columns go in as JSON. */
void	flowr_json_row(FILE *, sqlite3_stmt *);
/* Milliseconds from a to b (stored times); 0 when either is missing. */
double	flowr_ts_ms(const char *a, const char *b);

/* One page of the flow list: {"flows": [...], "count": N,
 * "next_before"|"next_after": ID|null}. -1 with err (a cursor flow not
 * in the store, or SQLite's message). */
int	flowr_list_json(sqlite3 *, struct flowq *, FILE *, char *err,
	    size_t errsz);
/* The flow ids of the page the filters select, newest first; their
 * count in *n (at most max). -1 with err. */
int	flowr_list_ids(sqlite3 *, struct flowq *, int64_t *ids, size_t max,
	    size_t *n, char *err, size_t errsz);
/* One flow as JSON: FLOWR_SHOW_FOUND, FLOWR_SHOW_NOT_FOUND (nothing
 * written), or -1. */
int	flowr_show_json(sqlite3 *, int64_t id, FILE *);
/* HAR 1.2 of the exchanges of the flows ids (newest first, as the list
 * gives them), oldest first; creator names the program. -1 on error. */
int	flowr_har(sqlite3 *, const int64_t *ids, size_t n, FILE *,
	    const char *creator);

#endif
