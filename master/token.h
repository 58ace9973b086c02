/*
 * The admin token: 32 random bytes, in hex, in <state>/admin.token, mode
 * 0600, owned by root. Master makes it at start when it is missing
 * (master/setup.c); mitmctl prints it ("mitmctl token"); the admin
 * listener asks for it. With "admin token file" the token is the one in
 * that file instead, checked by token_file_read, and admin.token is
 * neither made nor read.
 */
#ifndef MITMD_MASTER_TOKEN_H
#define MITMD_MASTER_TOKEN_H

#include <stddef.h>

#include "common/conf.h"

#define TOKEN_BYTES	32
#define TOKEN_HEX	64	/* TOKEN_BYTES in hex */
#define TOKEN_NAME	"admin.token"
#define TOKEN_WHY_MAX	256	/* token_file_read's reason */

/* Master, as root, at start: the token file exists, is a regular file of
 * TOKEN_HEX hex digits (and a newline), mode 0600, owned by the user
 * master runs as. 0, or -1 with a log line. */
int	token_ensure(const char *state_dir);
/* The token into buf (TOKEN_HEX + 1 bytes at least); -1 with errno, or
 * EINVAL for a file that does not hold a token. */
int	token_read(const char *state_dir, char *buf, size_t size);

/* "admin token file", by master (at start, for -n, on reload) and by
 * mitmctl, as root: the token into buf (CONF_ADMIN_TOKEN_MAX + 1 bytes
 * at least), or -1 with the reason in why. The file must be a regular
 * file, not a symbolic link, owned by root or by the reader, that
 * neither group nor other may read or write, holding what token_check
 * takes. */
int	token_file_read(const char *path, char *buf, size_t size, char *why,
	    size_t whysz);
/* One line of CONF_ADMIN_TOKEN_MIN to _MAX printable ASCII characters
 * but the space, a newline after it allowed: the token's length, or -1
 * with the reason in why. A pure function on untrusted bytes, fuzzed
 * with the config (tests/fuzz/master_conf.c). */
int	token_check(const char *buf, size_t len, char *why, size_t whysz);

#endif
