/*
 * The admin token (token.h). Master calls token_ensure() once at start,
 * as root, after the state directory exists: a missing or damaged token
 * is made anew from getrandom(), written to a temporary file that is
 * renamed over the name, so a reader never sees half a token. An
 * existing good token stays across restarts: it is what the admin was
 * given. mitmctl calls token_read(). Neither follows a symbolic link.
 * The file "admin token file" names is read by token_file_read(), for
 * master and mitmctl alike; it is never written.
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
/* "admin token file": the longest token, a newline, one byte more to
 * tell a longer file */
#define TOKEN_CONF_FILE_MAX (CONF_ADMIN_TOKEN_MAX + 2)

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

/*
 * "admin token file". The admin chose the file, so master only reads it,
 * and refuses one another user could read or change: the token opens
 * every flow. The checks are ssh's for a private key.
 */

int
token_check(const char *buf, size_t len, char *why, size_t whysz)
{
	size_t	 i;

	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0) {
		snprintf(why, whysz, "empty: it must hold one token of %d to "
		    "%d printable characters", CONF_ADMIN_TOKEN_MIN,
		    CONF_ADMIN_TOKEN_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			snprintf(why, whysz, "more than one line: it must hold "
			    "one token");
			return (-1);
		}
		if (buf[i] == ' ') {
			snprintf(why, whysz, "character %zu is a space: a "
			    "token has none", i + 1);
			return (-1);
		}
		if (buf[i] < '!' || buf[i] > '~') {
			snprintf(why, whysz, "character %zu (byte 0x%02x) is "
			    "not printable ASCII", i + 1,
			    (unsigned char)buf[i]);
			return (-1);
		}
	}
	if (len < CONF_ADMIN_TOKEN_MIN) {
		snprintf(why, whysz, "a token of %zu characters is too short: "
		    "%d to %d are needed", len, CONF_ADMIN_TOKEN_MIN,
		    CONF_ADMIN_TOKEN_MAX);
		return (-1);
	}
	if (len > CONF_ADMIN_TOKEN_MAX) {
		snprintf(why, whysz, "a token longer than %d characters: %d "
		    "to %d are needed", CONF_ADMIN_TOKEN_MAX,
		    CONF_ADMIN_TOKEN_MIN, CONF_ADMIN_TOKEN_MAX);
		return (-1);
	}
	return ((int)len);
}

/* Who may own the file and which bits it may have: -1 with why. */
static int
token_file_mode(const struct stat *st, char *why, size_t whysz)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whysz, "not a regular file");
		return (-1);
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, whysz, "owned by uid %u: only root%s may own it, "
		    "or another user could change the admin token",
		    (unsigned)st->st_uid, geteuid() != 0 ?
		    " or the user reading it" : "");
		return (-1);
	}
	if (st->st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		snprintf(why, whysz, "permissions %04o are too open: group "
		    "and other must neither read nor write it (chmod 600)",
		    (unsigned)(st->st_mode & 07777));
		return (-1);
	}
	return (0);
}

/* Up to size bytes of fd; -1 with errno. */
static ssize_t
token_read_all(int fd, char *buf, size_t size)
{
	size_t	 len = 0;
	ssize_t	 n;

	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return ((ssize_t)len);
}

int
token_file_read(const char *path, char *buf, size_t size, char *why,
    size_t whysz)
{
	char		 data[TOKEN_CONF_FILE_MAX];
	struct stat	 st;
	ssize_t		 n = -1;
	int		 fd, len = -1;

	/* O_NOFOLLOW: a link could be pointed elsewhere by whoever owns its
	 * directory. O_NONBLOCK: a FIFO would hang the open; it is refused
	 * as not a regular file right after. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1) {
		snprintf(why, whysz, "%s", errno == ELOOP ? "a symbolic link: "
		    "name the file itself" : strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1)
		snprintf(why, whysz, "%s", strerror(errno));
	else if (token_file_mode(&st, why, whysz) == 0 &&
	    (n = token_read_all(fd, data, sizeof(data))) == -1)
		snprintf(why, whysz, "%s", strerror(errno));
	close(fd);
	if (n >= 0 && (len = token_check(data, (size_t)n, why, whysz)) != -1) {
		if ((size_t)len >= size) {
			snprintf(why, whysz, "no room for the token");
			len = -1;
		} else {
			memcpy(buf, data, (size_t)len);
			buf[len] = '\0';
		}
	}
	explicit_bzero(data, sizeof(data));
	return (len == -1 ? -1 : 0);
}
