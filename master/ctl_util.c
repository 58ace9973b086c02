/*
 * What mitmctl's store, CA and token commands share: JSON output, the
 * flow store opened read-only, error exits (1 for a failure, 2 for a
 * usage error, each with one clear line on stderr), the output file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/utf8.h"
#include "common/util.h"
#include "master/ctl.h"

#define CTL_STORE_PATH	"store/flows.db"
#define CTL_BUSY_MSEC	2000	/* webui's write transactions are short */
#define CTL_USEC	1000000.0

void
ctl_usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mitmctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: mitmctl [-j] [-f config] flows [filters] | "
	    "flows show id |\n       flows export --har [filters] [-o file] | "
	    "flows --follow [--host h] |\n       ca show | ca export "
	    "pem|der|cer [-o file] | token   (see mitmctl(8))\n");
	exit(CTL_EXIT_USAGE);
}

void
ctl_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mitmctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(CTL_EXIT_FAIL);
}

void
ctl_sql_fail(sqlite3 *db, const char *what)
{
	ctl_fail("flow store: %s: %s", what, sqlite3_errmsg(db));
}

/* Bytes as a JSON string: invalid UTF-8 becomes U+FFFD, as in events. */
void
ctl_json_bytes(FILE *f, const unsigned char *s, size_t n)
{
	size_t i = 0, l;

	putc('"', f);
	while (i < n) {
		if (s[i] == '"' || s[i] == '\\') {
			fprintf(f, "\\%c", s[i++]);
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f) {
			fprintf(f, "\\u%04x", s[i++]);
			continue;
		}
		if ((l = utf8_seq_len(s + i, n - i)) == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(s + i, 1, l, f);
		i += l;
	}
	putc('"', f);
}

void
ctl_json_str(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		ctl_json_bytes(f, (const unsigned char *)s, strlen(s));
}

/* A row as {"column": value, ...}; a column whose name ends in "_json"
 * holds JSON made by SQLite and goes in as it is, under the name
 * without the suffix. */
void
ctl_json_row(FILE *f, sqlite3_stmt *q)
{
	const char	*name, *v;
	size_t		 l;
	int		 i, n = sqlite3_column_count(q);

	putc('{', f);
	for (i = 0; i < n; i++) {
		name = sqlite3_column_name(q, i);
		l = strlen(name);
		fprintf(f, "%s", i ? ", " : "");
		if (l > 5 && strcmp(name + l - 5, "_json") == 0) {
			fprintf(f, "\"%.*s\": ", (int)(l - 5), name);
			v = (const char *)sqlite3_column_text(q, i);
			fputs(v != NULL ? v : "null", f);
			continue;
		}
		ctl_json_str(f, name);
		fputs(": ", f);
		switch (sqlite3_column_type(q, i)) {
		case SQLITE_INTEGER:
			fprintf(f, "%lld", (long long)sqlite3_column_int64(q, i));
			break;
		case SQLITE_FLOAT:
			fprintf(f, "%.3f", sqlite3_column_double(q, i));
			break;
		case SQLITE_NULL:
			fputs("null", f);
			break;
		default:
			ctl_json_bytes(f, sqlite3_column_text(q, i),
			    (size_t)sqlite3_column_bytes(q, i));
		}
	}
	putc('}', f);
}

/*
 * The store, read-only: the "mode=ro" URI and SQLITE_OPEN_READONLY, so
 * mitmctl can never write, create or migrate it. WAL lets it read while
 * webui writes.
 */
sqlite3 *
ctl_store_open(const struct ctl_env *env)
{
	char	 path[CONF_PATH_MAX + sizeof(CTL_STORE_PATH) + 1];
	char	*uri;
	sqlite3	*db = NULL;

	if (snprintf(path, sizeof(path), "%s/%s", env->ce_state_dir,
	    CTL_STORE_PATH) >= (int)sizeof(path))
		ctl_fail("state directory path too long");
	if (access(path, F_OK) == -1)
		ctl_fail("no flow store at %s: %s", path, strerror(errno));
	if ((uri = sqlite3_mprintf("file:%s?mode=ro", path)) == NULL)
		ctl_fail("out of memory");
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	    NULL) != SQLITE_OK)
		ctl_fail("flow store %s: %s", path, db != NULL ?
		    sqlite3_errmsg(db) : "out of memory");
	sqlite3_free(uri);
	sqlite3_busy_timeout(db, CTL_BUSY_MSEC);
	return (db);
}

/* Microseconds since the epoch of a stored time (…T03:40:01.123456Z). */
static double
ctl_ts_usec(const char *ts)
{
	struct tm	 tm;
	const char	*p;
	double		 frac = 0, scale = 1;
	int		 i;

	memset(&tm, 0, sizeof(tm));
	if (ts == NULL || (p = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)) ==
	    NULL)
		return (0);
	if (*p == '.')
		for (i = 1; p[i] >= '0' && p[i] <= '9'; i++) {
			scale /= 10;
			frac += (p[i] - '0') * scale;
		}
	return ((double)timegm(&tm) * CTL_USEC + frac * CTL_USEC);
}

/* Milliseconds from a to b; 0 when either is missing or b is earlier. */
double
ctl_ts_ms(const char *a, const char *b)
{
	double ua = ctl_ts_usec(a), ub = ctl_ts_usec(b);

	if (ua == 0 || ub == 0 || ub < ua)
		return (0);
	return ((ub - ua) / 1000.0);
}

FILE *
ctl_output(const char *path)
{
	FILE *f;

	if (path == NULL || strcmp(path, "-") == 0)
		return (stdout);
	if ((f = fopen(path, "we")) == NULL)
		ctl_fail("%s: %s", path, strerror(errno));
	return (f);
}

void
ctl_output_close(FILE *f, const char *path)
{
	if (fflush(f) == EOF || ferror(f))
		ctl_fail("%s: %s", path != NULL ? path : "stdout",
		    strerror(errno));
	if (f != stdout && fclose(f) == EOF)
		ctl_fail("%s: %s", path, strerror(errno));
}
