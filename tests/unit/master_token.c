/*
 * Unit tests of the admin token's files (master/token.c): what an "admin
 * token file" may hold (token_check), and the file itself as master and
 * mitmctl read it (token_file_read): mode, owner, kind, symbolic links.
 * Files live in a temporary directory removed at the end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/token.h"
#include "tests/unit/unit.h"

#define GOOD	"correct-horse-battery-staple-0123456789"
#define PUNCT	"!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~"
#define T_PATH_MAX 512

static char dir[] = "/tmp/mitmd-token.XXXXXX";

/* token_check on a C string: its length, or -1 with why holding needle. */
static void
check(const char *name, const char *s, int want, const char *needle)
{
	char	why[TOKEN_WHY_MAX] = "";
	int	got = token_check(s, strlen(s), why, sizeof(why));

	CHECK(got == want && (needle == NULL || strstr(why, needle) != NULL),
	    "token_check %s: %d (%s)", name, got, why);
}

static void
test_check(void)
{
	char	buf[CONF_ADMIN_TOKEN_MAX + 8];

	check("good", GOOD, (int)strlen(GOOD), NULL);
	check("good with a newline", GOOD "\n", (int)strlen(GOOD), NULL);
	check("empty", "", -1, "empty");
	check("a newline alone", "\n", -1, "empty");
	check("two newlines", GOOD "\n\n", -1, "more than one line");
	check("two lines", GOOD "\n" GOOD, -1, "more than one line");
	check("a space", "correct horse-battery-staple-0123456789", -1,
	    "character 8 is a space");
	check("a tab", "correct\thorse-battery-staple-0123456789", -1,
	    "byte 0x09");
	check("CRLF", GOOD "\r\n", -1, "byte 0x0d");
	check("DEL", GOOD "\x7f", -1, "byte 0x7f");
	check("UTF-8", "caf\xc3\xa9-horse-battery-staple-0123456789", -1,
	    "byte 0xc3");
	check("too short", "0123456789012345678901234567890", -1,
	    "31 characters is too short");
	check("shortest", "01234567890123456789012345678901", 32, NULL);
	memset(buf, 'x', sizeof(buf));
	buf[CONF_ADMIN_TOKEN_MAX] = '\0';
	check("longest", buf, CONF_ADMIN_TOKEN_MAX, NULL);
	buf[CONF_ADMIN_TOKEN_MAX] = 'x';
	buf[CONF_ADMIN_TOKEN_MAX + 1] = '\0';
	check("too long", buf, -1, "longer than 256");
	check("every printable but the space", PUNCT, (int)strlen(PUNCT),
	    NULL);
}

/* A file in dir with that content and mode; its path into path. */
static void
put(char *path, const char *name, const char *content, mode_t mode)
{
	int fd;

	snprintf(path, T_PATH_MAX, "%s/%s", dir, name);
	(void)unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, content, strlen(content)) != (ssize_t)strlen(content) ||
	    fchmod(fd, mode) == -1 || close(fd) == -1) {
		perror(path);
		exit(1);
	}
}

static void
read_case(const char *name, const char *path, const char *want,
    const char *needle)
{
	char	tok[CONF_ADMIN_TOKEN_MAX + 1] = "", why[TOKEN_WHY_MAX] = "";
	int	rv = token_file_read(path, tok, sizeof(tok), why, sizeof(why));

	if (want != NULL)
		CHECK(rv == 0 && strcmp(tok, want) == 0, "token_file_read %s: "
		    "%d \"%s\" (%s)", name, rv, tok, why);
	else
		CHECK(rv == -1 && tok[0] == '\0' && strstr(why, needle) !=
		    NULL, "token_file_read %s: refused (%s)", name, why);
}

static void
test_file(void)
{
	char	path[T_PATH_MAX], link[T_PATH_MAX], small[8];
	char	why[TOKEN_WHY_MAX];

	put(path, "good", GOOD "\n", 0600);
	read_case("0600", path, GOOD, NULL);
	put(path, "good", GOOD, 0400);
	read_case("0400, no newline", path, GOOD, NULL);
	put(path, "good", GOOD, 0700);
	read_case("0700", path, GOOD, NULL);
	put(path, "good", GOOD, 0611);
	read_case("0611 (others may only execute it)", path, GOOD, NULL);
	put(path, "open", GOOD, 0640);
	read_case("group-readable", path, NULL, "permissions 0640 are too "
	    "open");
	put(path, "open", GOOD, 0620);
	read_case("group-writable", path, NULL, "0620");
	put(path, "open", GOOD, 0604);
	read_case("world-readable", path, NULL, "0604");
	put(path, "short", "short\n", 0600);
	read_case("too short", path, NULL, "too short");
	put(path, "empty", "", 0600);
	read_case("empty", path, NULL, "empty");
	put(path, "good", GOOD, 0600);
	snprintf(link, sizeof(link), "%s/link", dir);
	(void)unlink(link);
	if (symlink(path, link) == -1)
		perror(link);
	read_case("symbolic link", link, NULL, "symbolic link");
	read_case("directory", dir, NULL, "not a regular file");
	snprintf(link, sizeof(link), "%s/fifo", dir);
	(void)unlink(link);
	if (mkfifo(link, 0600) == -1)
		perror(link);
	read_case("FIFO (no hang)", link, NULL, "not a regular file");
	snprintf(link, sizeof(link), "%s/missing", dir);
	read_case("missing", link, NULL, strerror(ENOENT));
	if (geteuid() == 0) {
		put(path, "other", GOOD, 0600);
		if (chown(path, 65534, 65534) == -1)
			perror(path);
		read_case("owned by another user", path, NULL,
		    "owned by uid 65534");
	}
	put(path, "good", GOOD, 0600);
	CHECK(token_file_read(path, small, sizeof(small), why, sizeof(why))
	    == -1, "token_file_read into a small buffer: refused (%s)", why);
}

static void
cleanup(void)
{
	static const char *const names[] = { "good", "open", "short",
	    "empty", "link", "fifo", "other" };
	char	path[T_PATH_MAX];
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	test_check();
	test_file();
	cleanup();
	return (unit_done());
}
