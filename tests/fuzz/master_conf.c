/*
 * libFuzzer target for the config parser (master/parse.c) and the pattern
 * parsers it uses (common/hostpat.c, common/addr.c). Besides not crashing,
 * it checks the -nv contract on every input that parses: the printed
 * config parses again to the same struct and prints the same text. The
 * input, as a C string, is also fed to hostpat_parse and cidr_parse, whose
 * printed forms must parse back to themselves; and as it is to
 * token_check, as the content of an "admin token file", whose verdict
 * must hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "master/conf.h"
#include "master/token.h"

#define FUZZ_PAT_MAX 512 /* longer than any pattern, to reach the limits */

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", 0);
	log_set_sink(log_discard);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	return (0);
}

static char *
fuzz_print(const struct mitmd_conf *c, size_t *len)
{
	char *text = NULL;
	FILE *f;

	if ((f = open_memstream(&text, len)) == NULL)
		abort();
	conf_print(f, c);
	fclose(f);
	return (text);
}

/* parse(print(c)) must print the same text again. */
static void
fuzz_conf(const uint8_t *data, size_t size)
{
	struct mitmd_conf a, b;
	char		 *t1, *t2;
	size_t		  l1, l2;

	if (conf_parse_buf("fuzz", (const char *)data, size, &a) == -1)
		return;
	conf_print(devnull, &a);
	t1 = fuzz_print(&a, &l1);
	if (conf_parse_buf("fuzz", t1, l1, &b) == -1)
		abort();
	t2 = fuzz_print(&b, &l2);
	if (l1 != l2 || memcmp(t1, t2, l1) != 0 || a.mc_nrules != b.mc_nrules ||
	    a.mc_nallow != b.mc_nallow || a.mc_nlisteners != b.mc_nlisteners ||
	    memcmp(&a.mc_global, &b.mc_global, sizeof(a.mc_global)) != 0 ||
	    strcmp(a.mc_events_file, b.mc_events_file) != 0 ||
	    strcmp(a.mc_events_socket, b.mc_events_socket) != 0 ||
	    strcmp(a.mc_admin_token_file, b.mc_admin_token_file) != 0)
		abort();
	free(t1);
	free(t2);
	conf_free(&a);
	conf_free(&b);
}

static void
fuzz_patterns(const uint8_t *data, size_t size)
{
	char		s[FUZZ_PAT_MAX + 1], out[FUZZ_PAT_MAX];
	struct hostpat	hp, hp2;
	struct cidr	c, c2;
	const char     *errstr;

	if (size > FUZZ_PAT_MAX)
		size = FUZZ_PAT_MAX;
	memcpy(s, data, size);
	s[size] = '\0';
	if (hostpat_parse(s, &hp, &errstr) == 0) {
		hostpat_str(&hp, out, sizeof(out));
		if (hostpat_parse(out, &hp2, &errstr) == -1 ||
		    memcmp(&hp, &hp2, sizeof(hp)) != 0)
			abort();
		/* A pattern matches the name it prints as, unless it is a
		 * CIDR block or a suffix (which needs a label in front). */
		if ((hp.hp_kind == HOSTPAT_EXACT || hp.hp_kind ==
		    HOSTPAT_ANY) && !hostpat_match(&hp, out))
			abort();
	}
	(void)hostpat_match(&hp, s);
	if (cidr_parse(s, &c) == 0) {
		cidr_str(&c, out, sizeof(out));
		if (cidr_parse(out, &c2) == -1 ||
		    memcmp(&c, &c2, sizeof(c)) != 0)
			abort();
	}
}

/* The input as what an "admin token file" holds: a token it accepts is
 * within the limits and has no byte it refuses. */
static void
fuzz_token(const uint8_t *data, size_t size)
{
	char	why[TOKEN_WHY_MAX];
	int	len, i;

	why[0] = '\0';
	if ((len = token_check((const char *)data, size, why,
	    sizeof(why))) == -1) {
		if (why[0] == '\0')
			abort();
		return;
	}
	if (len < CONF_ADMIN_TOKEN_MIN || len > CONF_ADMIN_TOKEN_MAX ||
	    (size_t)len + (data[size - 1] == '\n') != size)
		abort();
	for (i = 0; i < len; i++)
		if (data[i] <= ' ' || data[i] > '~')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_conf(data, size);
	fuzz_patterns(data, size);
	fuzz_token(data, size);
	return (0);
}
