/*
 * libFuzzer target for the flow filter strings (common/flowq.c), as
 * mitmctl and the admin pages take them: any bytes through
 * flowq_parse(); an accepted filter always makes SQL that SQLite
 * prepares against the flows table and whose parameters all bind, and
 * a refused one always says why. Nothing may crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/flowq.h"

#define FUZZ_NOW 1790000000LL

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static sqlite3 *db;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_exec(db, "CREATE TABLE flows (flow_id INTEGER PRIMARY KEY,"
	    " first_ts TEXT, last_ts TEXT, client TEXT, host TEXT,"
	    " host_rev TEXT, port INTEGER, protocol TEXT, method TEXT,"
	    " url TEXT, status INTEGER, requests INTEGER, req_bytes INTEGER,"
	    " resp_bytes INTEGER, decision TEXT, close_reason TEXT);"
	    "INSERT INTO flows(flow_id, first_ts) VALUES"
	    " (1, '2026-11-22T03:40:01.000000Z');", NULL, NULL, NULL) !=
	    SQLITE_OK)
		abort();
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct flowq	 fq;
	sqlite3_stmt	*q;
	char		 err[FLOWQ_ERR_MAX], sql[FLOWQ_SQL_MAX];

	flowq_init(&fq);
	err[0] = '\0';
	if (flowq_parse(&fq, (const char *)data, len, FUZZ_NOW, err,
	    sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();	/* a refusal without a reason */
		return (0);
	}
	if (fq.fq_page != FLOWQ_FIRST &&
	    flowq_resolve(&fq, db, err, sizeof(err)) == -1)
		return (0);
	if (fq.fq_limit < 1 || fq.fq_limit > FLOWQ_LIMIT_MAX ||
	    flowq_sql(&fq, sql, sizeof(sql)) == -1 ||
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		abort();
	if (flowq_bind(&fq, q) == -1)
		abort();
	while (sqlite3_step(q) == SQLITE_ROW)
		;
	sqlite3_finalize(q);
	return (0);
}
