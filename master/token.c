/*
 * The admin token (token.h). Master calls token_ensure() once at start,
 * as root, after the state directory exists: a missing or damaged token
 * is made anew from getrandom(), written to a temporary file that is
 * renamed over the name, so a reader never sees half a token. An
 * existing good token stays across restarts: it is what the admin was
 * given. mitmctl calls token_read(). Neither follows a symbolic link.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"
#include "master/token.h"

#define TOKEN_MODE	0600
#define TOKEN_FILE_MAX	(TOKEN_HEX + 2)	/* the digits, a newline, one more */

static int
token_path(const char *state_dir, const char *suffix, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "%s/%s%s", state_dir, TOKEN_NAME, suffix);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* TOKEN_HEX hex digits, then a newline or nothing. */
static int
token_valid(const char *s, size_t n)
{
	size_t i;

	if (n == TOKEN_HEX + 1 && s[TOKEN_HEX] == '\n')
		n--;
	if (n != TOKEN_HEX)
		return (0);
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return (0);
	return (1);
}

int
token_read(const char *state_dir, char *buf, size_t size)
{
	char		 path[CONF_PATH_MAX], data[TOKEN_FILE_MAX];
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	if (size < TOKEN_HEX + 1 || token_path(state_dir, "", path,
	    sizeof(path)) == -1)
		return (-1);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (n = read(fd, data, sizeof(data))) == -1) {
		if (errno == 0)
			errno = EINVAL;
		close(fd);
		return (-1);
	}
	close(fd);
	if (!token_valid(data, (size_t)n)) {
		errno = EINVAL;
		return (-1);
	}
	memcpy(buf, data, TOKEN_HEX);
	buf[TOKEN_HEX] = '\0';
	return (0);
}

/* A new token into path, through path.new. */
static int
token_make(const char *state_dir, const char *path)
{
	unsigned char	 rnd[TOKEN_BYTES];
	char		 tmp[CONF_PATH_MAX], text[TOKEN_HEX + 1];
	int		 fd;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		log_warn("admin token: getrandom");
		return (-1);
	}
	util_hex(rnd, sizeof(rnd), text, sizeof(text));
	text[TOKEN_HEX] = '\n';	/* where util_hex put the NUL */
	explicit_bzero(rnd, sizeof(rnd));
	if (token_path(state_dir, ".new", tmp, sizeof(tmp)) == -1)
		return (-1);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, TOKEN_MODE)) == -1) {
		log_warn("admin token: %s", tmp);
		return (-1);
	}
	if (fchmod(fd, TOKEN_MODE) == -1 ||
	    write(fd, text, sizeof(text)) != (ssize_t)sizeof(text) ||
	    fsync(fd) == -1 || close(fd) == -1) {
		log_warn("admin token: %s", tmp);
		explicit_bzero(text, sizeof(text));
		(void)unlink(tmp);
		return (-1);
	}
	explicit_bzero(text, sizeof(text));
	if (rename(tmp, path) == -1) {
		log_warn("admin token: rename to %s", path);
		(void)unlink(tmp);
		return (-1);
	}
	log_info("admin token: made %s", path);
	return (0);
}

int
token_ensure(const char *state_dir)
{
	char		 path[CONF_PATH_MAX], tok[TOKEN_HEX + 1];
	struct stat	 st;

	if (token_path(state_dir, "", path, sizeof(path)) == -1) {
		log_warnx("admin token: state directory path too long");
		return (-1);
	}
	if (token_read(state_dir, tok, sizeof(tok)) == -1) {
		if (errno != ENOENT)
			log_warnx("admin token: %s holds no token (%s): "
			    "making a new one", path, strerror(errno));
		return (token_make(state_dir, path));
	}
	explicit_bzero(tok, sizeof(tok));
	/* A good token stays; its owner and mode are made right. */
	if (lstat(path, &st) == -1)
		return (-1);
	if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
	    chown(path, geteuid(), getegid()) == -1) {
		log_warn("admin token: chown %s", path);
		return (-1);
	}
	if ((st.st_mode & 07777) != TOKEN_MODE &&
	    chmod(path, TOKEN_MODE) == -1) {
		log_warn("admin token: chmod %s", path);
		return (-1);
	}
	return (0);
}
