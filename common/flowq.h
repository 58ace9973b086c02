/*
 * Flow queries over the flow store (webui/store.c, mitmd-events(5)):
 * filters, validated one by one, made into one parameterised SELECT on
 * the flows table, newest first, with keyset paging. Used by mitmctl
 * (which opens the store read-only) and by the admin pages; each query
 * it makes walks an index (see the indexes of store.c's schema version
 * 3), never the whole table, and returns at most FLOWQ_LIMIT_MAX rows.
 */
#ifndef MITMD_FLOWQ_H
#define MITMD_FLOWQ_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define FLOWQ_HOST_MAX	 255	/* a DNS name's longest text form */
#define FLOWQ_METHOD_MAX 32
#define FLOWQ_PROTO_MAX	 16
#define FLOWQ_TS_MAX	 32	/* "2026-11-22T03:40:01.123456Z" */
#define FLOWQ_TEXT_MAX	 256
#define FLOWQ_STR_MAX	 2048	/* a filter string */
#define FLOWQ_SQL_MAX	 2048
#define FLOWQ_ERR_MAX	 256
#define FLOWQ_LIMIT_DEF	 50
#define FLOWQ_LIMIT_MAX	 1000

/* The columns of each row a list query returns, in this order. */
enum flowq_col {
	FQC_ID,
	FQC_FIRST_TS,
	FQC_LAST_TS,
	FQC_CLIENT,
	FQC_HOST,
	FQC_PORT,
	FQC_PROTOCOL,
	FQC_METHOD,
	FQC_URL,
	FQC_STATUS,
	FQC_REQUESTS,
	FQC_REQ_BYTES,
	FQC_RESP_BYTES,
	FQC_DECISION,
	FQC_CLOSE_REASON,
	FQC_MAX
};

enum flowq_page {
	FLOWQ_FIRST,	/* the newest flows */
	FLOWQ_BEFORE,	/* older than the cursor flow, newest first */
	FLOWQ_AFTER,	/* newer than the cursor flow, oldest first */
};

struct flowq {
	/* host: reversed and in lower case (as flows.host_rev); an exact
	 * name, or with fq_host_suffix the ".domain" of "*.domain" */
	char	 fq_host_rev[FLOWQ_HOST_MAX + 2];
	int	 fq_host_suffix;
	char	 fq_method[FLOWQ_METHOD_MAX];
	int	 fq_status;		/* -1: any */
	int	 fq_status_class;	/* 1..5 for 1xx..5xx; -1: any */
	char	 fq_protocol[FLOWQ_PROTO_MAX];
	char	 fq_since[FLOWQ_TS_MAX];	/* first_ts >= */
	char	 fq_until[FLOWQ_TS_MAX];	/* first_ts <= */
	char	 fq_text[FLOWQ_TEXT_MAX];	/* in the URL */
	uint32_t fq_limit;
	int	 fq_page;		/* enum flowq_page */
	int64_t	 fq_cursor;		/* the flow of BEFORE/AFTER */
	char	 fq_cursor_ts[FLOWQ_TS_MAX];	/* its first_ts: flowq_resolve */
};

void	flowq_init(struct flowq *);
/* One filter: key among host, method, status, protocol, since, until,
 * text, limit, before, after. -1 with a sentence in err when the key is
 * unknown or the value bad. now_sec is the wall clock, for "since 10m". */
int	flowq_set(struct flowq *, const char *key, const char *value,
	    int64_t now_sec, char *err, size_t errsz);
/* "host=*.example.com status=5xx text=\"a b\"": space-separated
 * key=value filters, a value in double quotes may hold spaces (\" and \\
 * inside). */
int	flowq_parse(struct flowq *, const char *str, size_t len,
	    int64_t now_sec, char *err, size_t errsz);
/* The SELECT for these filters; -1 if it does not fit. */
int	flowq_sql(const struct flowq *, char *buf, size_t size);
/* Bind the parameters of flowq_sql's statement. */
int	flowq_bind(const struct flowq *, sqlite3_stmt *);
/* Look the cursor flow's first_ts up; -1 with err when it is not in
 * the store (gone by retention, or never there). */
int	flowq_resolve(struct flowq *, sqlite3 *, char *err, size_t errsz);
/* A host name as flows.host_rev holds it: lower case, reversed, without
 * a trailing dot; "" for NULL. */
void	flowq_host_rev(const char *host, char *buf, size_t size);
/* A time as the store writes it, from "2026-11-22", "2026-11-22T03:40Z",
 * "2026-11-22T03:40:01[.frac]Z" (or with a space for T), a Unix time in
 * seconds ("@1790000000"), or an age: "90s", "10m", "2h", "7d". */
int	flowq_time(const char *, int64_t now_sec, char *buf, size_t size);

#endif
