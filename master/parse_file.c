/*
 * Reading mitmd.conf for master/parse.c: the whole file into memory, after
 * checks that it is a regular file, not writable by every user (its
 * content decides which users and directories a root process sets up)
 * and no larger than CONF_FILE_MAX.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "master/conf.h"

#define CONF_FILE_MAX ((size_t)1024 * 1024) /* bytes of a config file */

/* The whole file in memory, refused past CONF_FILE_MAX. */
static char *
conf_read(const char *path, size_t *lenp)
{
	struct stat st;
	char	   *buf = NULL;
	size_t	    len = 0;
	ssize_t	    n;
	int	    fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		log_warnx("%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		log_warnx("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file", path);
		goto fail;
	}
	if (st.st_mode & S_IWOTH) {
		log_warnx("%s: writable by every user; refusing it", path);
		goto fail;
	}
	if (st.st_size > (off_t)CONF_FILE_MAX) {
		log_warnx("%s: larger than %zu bytes", path, CONF_FILE_MAX);
		goto fail;
	}
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		log_warnx("%s: out of memory", path);
		goto fail;
	}
	/* Read up to one byte past the limit: the file may have grown. */
	while (len <= CONF_FILE_MAX) {
		n = read(fd, buf + len, CONF_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warnx("%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_FILE_MAX) {
		log_warnx("%s: larger than %zu bytes", path, CONF_FILE_MAX);
		goto fail;
	}
	close(fd);
	*lenp = len;
	return (buf);
fail:
	free(buf);
	close(fd);
	return (NULL);
}

int
conf_parse_file(const char *path, struct mitmd_conf *c)
{
	char  *buf;
	size_t len;
	int    rv;

	/* Failing here leaves c as conf_parse_buf leaves it on failure:
	 * freed and safe to free again. */
	memset(c, 0, sizeof(*c));
	if ((buf = conf_read(path, &len)) == NULL)
		return (-1);
	rv = conf_parse_buf(path, buf, len, c);
	free(buf);
	return (rv);
}
