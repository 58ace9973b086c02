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

static void	ctl_vsay(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));

/* "mitmctl: " and the message, on stderr. */
static void
ctl_vsay(const char *fmt, va_list ap)
{
	fprintf(stderr, "mitmctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
}

void
ctl_usage_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vsay(fmt, ap);
	va_end(ap);
	fprintf(stderr, "usage: mitmctl [-j] [-f config] flows [filters] | "
	    "flows show id |\n       flows export --har [filters] [-o file] | "
	    "flows --follow [--host h] |\n       ca show | ca export "
	    "pem|der|cer|mobileconfig [-o file] |\n       token   (see "
	    "mitmctl(8))\n");
	exit(CTL_EXIT_USAGE);
}

void
ctl_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vsay(fmt, ap);
	va_end(ap);
	exit(CTL_EXIT_FAIL);
}

void
ctl_sql_fail(sqlite3 *db, const char *what)
{
	ctl_fail("flow store: %s: %s", what, sqlite3_errmsg(db));
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
