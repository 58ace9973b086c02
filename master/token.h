/*
 * The admin token: 32 random bytes, in hex, in <state>/admin.token, mode
 * 0600, owned by root. Master makes it at start when it is missing
 * (master/setup.c); mitmctl prints it ("mitmctl token"); the admin
 * listener will ask for it.
 */
#ifndef MITMD_MASTER_TOKEN_H
#define MITMD_MASTER_TOKEN_H

#include <stddef.h>

#define TOKEN_BYTES	32
#define TOKEN_HEX	64	/* TOKEN_BYTES in hex */
#define TOKEN_NAME	"admin.token"

/* Master, as root, at start: the token file exists, is a regular file of
 * TOKEN_HEX hex digits (and a newline), mode 0600, owned by the user
 * master runs as. 0, or -1 with a log line. */
int	token_ensure(const char *state_dir);
/* The token into buf (TOKEN_HEX + 1 bytes at least); -1 with errno, or
 * EINVAL for a file that does not hold a token. */
int	token_read(const char *state_dir, char *buf, size_t size);

#endif
