/*
 * The mitmd.conf(5) parser: a hand-written tokenizer and a recursive-descent
 * grammar in the manner of relayd's and smtpd's parse.y, without yacc.
 * One statement a line; a backslash at the very end of a line continues the
 * statement on the next. Tokens are bare words (keywords, numbers,
 * addresses, CIDR blocks), double-quoted strings with \" and \\ escapes,
 * commas in lists, and '#' comments to the end of the line.
 *
 * Only master calls this, as root, before (and on SIGHUP, while) the
 * children run. Every error is logged as "file:line: message" and parsing
 * resumes at the next line so one run names every mistake; the result is
 * then -1 and the struct is freed, so a reload with a bad file changes
 * nothing. Reading the file is in parse_file.c, printing in
 * parse_print.c.
 */
#include <sys/un.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "master/conf.h"

#define CONF_TOKEN_MAX	 1024	       /* bytes of one word or string */
#define CONF_MAX_ERRORS	 32	       /* then stop: likely not a config */
#define CONF_MSG_MAX	 512	       /* one error message */
#define CONF_SHOW_MAX	 64	       /* bytes of a token quoted in a message */
#define CONF_SHOW_BUF	 (CONF_SHOW_MAX + 8) /* with quotes, "..." and NUL */
#define CONF_NUM_DIGITS	 10	       /* enough for any uint32_t */
#define CONF_PORT_MAX	 65535
#define CONF_HTTPS_PORT	 443
#define CONF_TMO_MAX	 86400	       /* a day, for any timeout */
#define CONF_HEAD_MIN	 1024	       /* a request line and a Host */
#define CONF_HEAD_MAX	 (1024 * 1024)
#define CONF_HEADERS_MAX 10000
#define CONF_CONNS_MAX	 1000000
#define CONF_RULES_FIRST 16	       /* the first allocation of mc_rules */
#define CONF_PT_AFTER_MAX 1000	       /* failures before a passthrough */
#define CONF_PT_TTL_MAX	 (30 * 86400)  /* a learned passthrough: 30 days */
#define CONF_KEEP_FLOWS_MAX 100000000  /* flows in the store */
#define CONF_KEEP_DAYS_MAX 3650	       /* ten years */
#define CONF_SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
/* What an OpenSSL cipher list is made of; no blanks, no commas: ':'
 * separates. */
#define CONF_CIPHER_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			  "0123456789:+-!@=_."

enum tok_type {
	TOK_EOF,
	TOK_EOL,
	TOK_WORD,
	TOK_STRING,
	TOK_COMMA,
	TOK_ERROR, /* tk_text holds the tokenizer's message */
};

struct token {
	int	tk_type;
	int	tk_line;
	size_t	tk_len;
	char	tk_text[CONF_TOKEN_MAX + 1];
};

/* Settings that may be given once; p_seen keeps the line of the first. */
enum setting {
	SET_USER,
	SET_CA_USER,
	SET_CA_KEY,
	SET_STATE_DIR,
	SET_RUNTIME_DIR,
	SET_CHROOT,
	SET_SYSLOG,
	SET_WORKERS,
	SET_WEBUI,
	SET_ADMIN,
	SET_ADMIN_CERT,
	SET_ADMIN_TOKEN,
	SET_TMO_CONNECT,
	SET_TMO_IDLE,
	SET_TMO_HEADER,
	SET_TMO_DRAIN,
	SET_LIMIT_HEAD,
	SET_LIMIT_HEADERS,
	SET_LIMIT_CONNS,
	SET_UP_CA_FILE,
	SET_UP_VERIFY,
	SET_TLS_MIN,
	SET_TLS_CIPHERS,
	SET_PASSTHROUGH,
	SET_EVENTS_FILE,
	SET_EVENTS_SOCKET,
	SET_CAPTURE,
	SET_KEEP_FLOWS,
	SET_KEEP_DAYS,
	SET_STORE_OFF,
	SET_HTTP2,
	SET_H2_STREAMS,
	SET_H2_HEADER_LIST,
	SET_MAX
};

struct parser {
	const char	  *p_file;
	const char	  *p_buf;
	size_t		   p_len;
	size_t		   p_pos;
	int		   p_line;	/* line of the cursor */
	int		   p_stmt_line;	/* first line of this statement */
	int		   p_errors;
	int		   p_seen[SET_MAX];
	struct token	   p_tok;	/* the token under examination */
	struct mitmd_conf *p_conf;
};

/* "timeout X N" and "limit X N": all uint32_t fields of conf_global. */
struct numopt {
	const char *no_name;
	int	    no_set;
	size_t	    no_off;
	uint32_t    no_min;
	uint32_t    no_max;
	const char *no_unit;
};

static const struct numopt timeouts[] = {
	{ "connect", SET_TMO_CONNECT, offsetof(struct conf_global,
	    cg_connect_tmo), 1, CONF_TMO_MAX, "seconds" },
	{ "idle", SET_TMO_IDLE, offsetof(struct conf_global, cg_idle_tmo),
	    1, CONF_TMO_MAX, "seconds" },
	{ "header", SET_TMO_HEADER, offsetof(struct conf_global,
	    cg_header_tmo), 1, CONF_TMO_MAX, "seconds" },
	{ "drain", SET_TMO_DRAIN, offsetof(struct conf_global, cg_drain_tmo),
	    0, CONF_TMO_MAX, "seconds" },
};

static const struct numopt limits[] = {
	{ "head", SET_LIMIT_HEAD, offsetof(struct conf_global, cg_max_head),
	    CONF_HEAD_MIN, CONF_HEAD_MAX, "bytes" },
	{ "headers", SET_LIMIT_HEADERS, offsetof(struct conf_global,
	    cg_max_headers), 1, CONF_HEADERS_MAX, "header lines" },
	{ "connections", SET_LIMIT_CONNS, offsetof(struct conf_global,
	    cg_max_conns), 1, CONF_CONNS_MAX, "connections" },
};

static void	parse_error(struct parser *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	lex_error(struct parser *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * Errors and the tokenizer.
 */

static void
parse_error(struct parser *p, int line, const char *fmt, ...)
{
	char	msg[CONF_MSG_MAX];
	va_list ap;

	if (p->p_errors >= CONF_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", p->p_file, line, msg);
	if (++p->p_errors == CONF_MAX_ERRORS)
		log_warnx("%s:%d: %s", p->p_file, line,
		    "too many errors, giving up");
}

/* The tokenizer does not log: the parser reports a TOK_ERROR when it
 * looks at it, and not at all when it is skipping a line it already
 * complained about. */
static void
lex_error(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->p_tok.tk_type == TOK_ERROR)
		return; /* keep the first */
	p->p_tok.tk_type = TOK_ERROR;
	va_start(ap, fmt);
	vsnprintf(p->p_tok.tk_text, sizeof(p->p_tok.tk_text), fmt, ap);
	va_end(ap);
	p->p_tok.tk_len = strlen(p->p_tok.tk_text);
}

static int
lex_peek(const struct parser *p, size_t off)
{
	if (p->p_pos + off >= p->p_len)
		return (-1);
	return ((unsigned char)p->p_buf[p->p_pos + off]);
}

/* Skip blanks, comments and backslash-newline continuations. */
static void
lex_skip(struct parser *p)
{
	int c;

	for (;;) {
		c = lex_peek(p, 0);
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
		    c == '\v') {
			p->p_pos++;
		} else if (c == '#') {
			/* A comment ends at the newline even after a
			 * backslash: commenting out a line must not
			 * swallow the next one. */
			while ((c = lex_peek(p, 0)) != -1 && c != '\n')
				p->p_pos++;
		} else if (c == '\\' && lex_peek(p, 1) == '\n') {
			p->p_pos += 2;
			p->p_line++;
		} else if (c == '\\' && lex_peek(p, 1) == '\r' &&
		    lex_peek(p, 2) == '\n') {
			p->p_pos += 3;
			p->p_line++;
		} else
			return;
	}
}

static void
lex_append(struct parser *p, int c)
{
	struct token *tk = &p->p_tok;

	if (tk->tk_type == TOK_ERROR)
		return; /* the rest of a bad token is only skipped */
	if (tk->tk_len < CONF_TOKEN_MAX) {
		tk->tk_text[tk->tk_len++] = (char)c;
		tk->tk_text[tk->tk_len] = '\0';
	} else
		lex_error(p, "token longer than %d bytes", CONF_TOKEN_MAX);
}

/* A quoted string; on a bad one, the rest of it is consumed so the next
 * token starts after it. A string never spans lines. */
static void
lex_string(struct parser *p)
{
	int c;

	p->p_tok.tk_type = TOK_STRING;
	p->p_pos++;
	for (;;) {
		c = lex_peek(p, 0);
		if (c == -1 || c == '\n') {
			lex_error(p, "unterminated string: a closing '\"' is "
			    "missing on this line");
			return;
		}
		p->p_pos++;
		if (c == '"')
			return;
		if (c == '\\') {
			c = lex_peek(p, 0);
			if (c != '"' && c != '\\') {
				lex_error(p, "invalid escape in string: only "
				    "\\\" and \\\\ are allowed");
				continue;
			}
			p->p_pos++;
		} else if (c == '\0')
			lex_error(p, "NUL byte in string");
		else if (c < ' ' || c == 0x7f)
			lex_error(p, "control character 0x%02x in string", c);
		lex_append(p, c);
	}
}

static int
lex_wordchar(int c)
{
	return (c != -1 && c != ' ' && c != '\t' && c != '\r' && c != '\f' &&
	    c != '\v' && c != '\n' && c != ',' && c != '"' && c != '#' &&
	    c != '\\');
}

static void
lex_word(struct parser *p)
{
	int c;

	p->p_tok.tk_type = TOK_WORD;
	while (lex_wordchar(c = lex_peek(p, 0))) {
		p->p_pos++;
		if (c < '!' || c > '~')
			lex_error(p, "invalid character 0x%02x", c);
		lex_append(p, c);
	}
}

static void
lex_next(struct parser *p)
{
	struct token *tk = &p->p_tok;
	int	      c;

	lex_skip(p);
	tk->tk_line = p->p_line;
	tk->tk_len = 0;
	tk->tk_text[0] = '\0';
	c = lex_peek(p, 0);
	switch (c) {
	case -1:
		tk->tk_type = TOK_EOF;
		break;
	case '\n':
		tk->tk_type = TOK_EOL;
		p->p_pos++;
		p->p_line++;
		break;
	case ',':
		tk->tk_type = TOK_COMMA;
		p->p_pos++;
		break;
	case '"':
		lex_string(p);
		break;
	case '\\':
		tk->tk_type = TOK_WORD;
		p->p_pos++;
		lex_error(p, "a '\\' continues a statement only as the last "
		    "character of a line");
		break;
	default:
		lex_word(p);
		break;
	}
}

/*
 * Parser helpers. The convention: a statement function starts with its
 * keyword as p_tok and returns with the first token it did not use as
 * p_tok, or -1 after reporting one error.
 */

/* A token as quoted in a message: 'word', "string", end of line. */
static const char *
tok_show(const struct token *tk, char *buf, size_t len)
{
	const char *q;
	int	    n = (int)MIN(tk->tk_len, CONF_SHOW_MAX);
	const char *more = tk->tk_len > CONF_SHOW_MAX ? "..." : "";

	switch (tk->tk_type) {
	case TOK_EOF:
		return ("end of file");
	case TOK_EOL:
		return ("end of line");
	case TOK_COMMA:
		return ("','");
	case TOK_STRING:
		q = "\"";
		break;
	default:
		q = "'";
		break;
	}
	snprintf(buf, len, "%s%.*s%s%s", q, n, tk->tk_text, more, q);
	return (buf);
}

/* "expected WHAT after 'AFTER', got X", or the tokenizer's complaint. */
static int
parse_expected(struct parser *p, const char *what, const char *after)
{
	char show[CONF_SHOW_BUF];

	if (p->p_tok.tk_type == TOK_ERROR)
		parse_error(p, p->p_tok.tk_line, "%s", p->p_tok.tk_text);
	else
		parse_error(p, p->p_tok.tk_line, "expected %s after '%s', "
		    "got %s", what, after, tok_show(&p->p_tok, show,
		    sizeof(show)));
	return (-1);
}

static int
tok_is(const struct parser *p, const char *word)
{
	return (p->p_tok.tk_type == TOK_WORD &&
	    strcmp(p->p_tok.tk_text, word) == 0);
}

/* Take the next token, which must be the keyword word. */
static int
next_keyword(struct parser *p, const char *word, const char *after)
{
	char what[CONF_SHOW_MAX];

	lex_next(p);
	if (!tok_is(p, word)) {
		snprintf(what, sizeof(what), "'%s'", word);
		return (parse_expected(p, what, after));
	}
	return (0);
}

/* Take the next token, which must be one of the NULL-terminated words;
 * choices describes them for the message. */
static int
next_choice(struct parser *p, const char *const *words, const char *choices,
    const char *after)
{
	int i;

	lex_next(p);
	for (i = 0; words[i] != NULL; i++)
		if (tok_is(p, words[i]))
			return (i);
	return (parse_expected(p, choices, after));
}

/* The current token must be a decimal number in [min, max]; name says
 * what is limited. */
static int
take_number(struct parser *p, const char *what, const char *after,
    const char *name, uint32_t min, uint32_t max, uint32_t *out)
{
	const char *s = p->p_tok.tk_text;
	uint64_t    v = 0;
	size_t	    i;

	if (p->p_tok.tk_type != TOK_WORD || p->p_tok.tk_len == 0 ||
	    strspn(s, "0123456789") != p->p_tok.tk_len)
		return (parse_expected(p, what, after));
	for (i = 0; i < p->p_tok.tk_len && i <= CONF_NUM_DIGITS; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	if (i > CONF_NUM_DIGITS || v < min || v > max) {
		parse_error(p, p->p_tok.tk_line, "%s must be between %u and "
		    "%u, got %.*s", name, min, max, CONF_SHOW_MAX, s);
		return (-1);
	}
	*out = (uint32_t)v;
	lex_next(p);
	return (0);
}

/* Take the next token, a quoted string that fits len with its NUL;
 * name is the setting, for messages. */
static int
next_string(struct parser *p, const char *what, const char *after,
    const char *name, char *out, size_t len)
{
	lex_next(p);
	if (p->p_tok.tk_type != TOK_STRING)
		return (parse_expected(p, what, after));
	if (p->p_tok.tk_len == 0) {
		parse_error(p, p->p_tok.tk_line, "%s must not be empty", name);
		return (-1);
	}
	if (p->p_tok.tk_len >= len) {
		parse_error(p, p->p_tok.tk_line, "%s is longer than %zu bytes",
		    name, len - 1);
		return (-1);
	}
	/* Zeroed to the end: the struct travels to the children and is
	 * compared with memcmp on reload and in tests. */
	memset(out, 0, len);
	util_strlcpy(out, p->p_tok.tk_text, len);
	lex_next(p);
	return (0);
}

/* A setting given twice is an error: the admin meant one of them. */
static int
setting_once(struct parser *p, int set, const char *name)
{
	if (p->p_seen[set] != 0) {
		parse_error(p, p->p_stmt_line, "'%s' is already set on line %d",
		    name, p->p_seen[set]);
		return (-1);
	}
	p->p_seen[set] = p->p_stmt_line;
	return (0);
}

/*
 * Statements.
 */

/* A name useradd(8) takes and no shell or uid can misread. */
static int
check_user(struct parser *p, const char *name, const char *what)
{
	size_t len = strlen(name);

	if (strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len ||
	    name[0] == '-' || strspn(name, "0123456789") == len) {
		parse_error(p, p->p_stmt_line, "invalid %s \"%s\": use "
		    "letters, digits, '.', '_' and '-', not first '-', "
		    "not only digits", what, name);
		return (-1);
	}
	if (strcmp(name, "root") == 0) {
		parse_error(p, p->p_stmt_line, "%s must not be root: the "
		    "children would run with every privilege", what);
		return (-1);
	}
	return (0);
}

static int
parse_user(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;

	if (setting_once(p, SET_USER, "user") == -1 ||
	    next_string(p, "a quoted user name", "user", "user", c->mc_user,
	    sizeof(c->mc_user)) == -1)
		return (-1);
	return (check_user(p, c->mc_user, "user name"));
}

static int
parse_ca(struct parser *p)
{
	static const char *const words[] = { "user", "key", NULL };
	static const char *const keys[] = { "ecdsa", "rsa", NULL };
	struct mitmd_conf	*c = p->p_conf;

	switch (next_choice(p, words, "'user' or 'key'", "ca")) {
	case 0:
		if (setting_once(p, SET_CA_USER, "ca user") == -1 ||
		    next_string(p, "a quoted user name", "user", "ca user",
		    c->mc_ca_user, sizeof(c->mc_ca_user)) == -1)
			return (-1);
		return (check_user(p, c->mc_ca_user, "ca user name"));
	case 1:
		if (setting_once(p, SET_CA_KEY, "ca key") == -1)
			return (-1);
		switch (next_choice(p, keys, "'ecdsa' or 'rsa'", "key")) {
		case 0:
			c->mc_global.cg_ca_key = CA_KEY_ECDSA_P256;
			break;
		case 1:
			c->mc_global.cg_ca_key = CA_KEY_RSA_3072;
			break;
		default:
			return (-1);
		}
		lex_next(p);
		return (0);
	}
	return (-1);
}

/* "state directory", "runtime directory", "syslog socket": a keyword,
 * a second keyword, a path. */
static int
parse_path2(struct parser *p, int set, const char *name, const char *word1,
    const char *word2, char *out)
{
	if (setting_once(p, set, name) == -1 ||
	    next_keyword(p, word2, word1) == -1)
		return (-1);
	return (next_string(p, "a quoted path", word2, name, out,
	    CONF_PATH_MAX));
}

static int
parse_state(struct parser *p)
{
	return (parse_path2(p, SET_STATE_DIR, "state directory", "state",
	    "directory", p->p_conf->mc_state_dir));
}

static int
parse_runtime(struct parser *p)
{
	return (parse_path2(p, SET_RUNTIME_DIR, "runtime directory",
	    "runtime", "directory", p->p_conf->mc_runtime_dir));
}

static int
parse_syslog(struct parser *p)
{
	return (parse_path2(p, SET_SYSLOG, "syslog socket", "syslog",
	    "socket", p->p_conf->mc_syslog));
}

static int
parse_chroot(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;

	if (setting_once(p, SET_CHROOT, "chroot") == -1 ||
	    next_string(p, "a quoted path", "chroot", "chroot", c->mc_chroot,
	    sizeof(c->mc_chroot)) == -1)
		return (-1);
	if (strspn(c->mc_chroot, "/") == strlen(c->mc_chroot)) {
		parse_error(p, p->p_stmt_line, "chroot must not be the root "
		    "directory: the children would see every file");
		return (-1);
	}
	return (0);
}

static int
parse_workers(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;

	if (setting_once(p, SET_WORKERS, "workers") == -1)
		return (-1);
	lex_next(p);
	if (tok_is(p, "auto")) {
		c->mc_workers_auto = 1;
		c->mc_global.cg_workers = 0;
		lex_next(p);
		return (0);
	}
	if (take_number(p, "'auto' or a number of workers", "workers",
	    "workers", 1, CONF_MAX_WORKERS, &c->mc_global.cg_workers) == -1)
		return (-1);
	c->mc_workers_auto = 0;
	return (0);
}

/* A listener address: an IPv4 or IPv6 literal (IPv6 bare or in
 * brackets), '*' for 0.0.0.0 or 'localhost' for 127.0.0.1. */
static int
take_listen_addr(struct parser *p, struct addr *a)
{
	char	    ip[CONF_TOKEN_MAX + 1], show[CONF_SHOW_BUF];
	const char *s = p->p_tok.tk_text;
	size_t	    len = p->p_tok.tk_len;

	if (p->p_tok.tk_type != TOK_WORD)
		return (parse_expected(p, "an address", "on"));
	if (strcmp(s, "*") == 0)
		s = "0.0.0.0";
	else if (strcmp(s, "localhost") == 0)
		s = "127.0.0.1";
	else if (len > 2 && s[0] == '[' && s[len - 1] == ']' &&
	    memchr(s, ':', len) != NULL) {
		memcpy(ip, s + 1, len - 2);
		ip[len - 2] = '\0';
		s = ip;
	}
	if (addr_parse_ip(s, a) == -1) {
		parse_error(p, p->p_tok.tk_line, "invalid address %s: expected "
		    "an IPv4 or IPv6 address, '*' or 'localhost'",
		    tok_show(&p->p_tok, show, sizeof(show)));
		return (-1);
	}
	lex_next(p);
	return (0);
}

static int
addr_is_any(const struct addr *a)
{
	static const uint8_t zero[sizeof(a->a_ip)];

	return (memcmp(a->a_ip, zero, sizeof(zero)) == 0);
}

/* Two listeners that bind(2) would refuse: the same address and port, or
 * a wildcard and any address of its family on the same port. */
static int
check_listener(struct parser *p, const struct addr *a)
{
	const struct mitmd_conf	   *c = p->p_conf;
	const struct conf_listener *l;
	char			    as[ADDR_STRLEN];
	size_t			    i;

	addr_str(a, 0, as, sizeof(as));
	for (i = 0; i < c->mc_nlisteners; i++) {
		l = &c->mc_listeners[i];
		if (l->cl_addr.a_family != a->a_family ||
		    l->cl_addr.a_port != a->a_port)
			continue;
		if (memcmp(l->cl_addr.a_ip, a->a_ip, sizeof(a->a_ip)) == 0) {
			parse_error(p, p->p_stmt_line, "listener %s port %u is "
			    "already defined on line %u", as,
			    (unsigned)a->a_port, l->cl_line);
			return (-1);
		}
		if (addr_is_any(a) || addr_is_any(&l->cl_addr)) {
			parse_error(p, p->p_stmt_line, "listener %s port %u "
			    "overlaps the one on line %u", as,
			    (unsigned)a->a_port, l->cl_line);
			return (-1);
		}
	}
	if (c->mc_nlisteners >= CONF_MAX_LISTENERS) {
		parse_error(p, p->p_stmt_line, "too many listeners (at most "
		    "%d)", CONF_MAX_LISTENERS);
		return (-1);
	}
	return (0);
}

/*
 * "https://HOST[:PORT][/]", the upstream of a reverse listener: a name or
 * an IP literal (IPv6 in brackets), the port 443 unless given.
 */
static int
take_reverse_url(struct parser *p, struct conf_listener *l)
{
	char	       url[CONF_TOKEN_MAX + 1], show[CONF_SHOW_BUF];
	char	      *host, *port = NULL, *end;
	const char    *errstr;
	struct hostpat hp;
	size_t	       len;
	uint64_t       v = 0;

	if (p->p_tok.tk_type != TOK_WORD)
		return (parse_expected(p, "an https:// URL", "to"));
	tok_show(&p->p_tok, show, sizeof(show));
	util_strlcpy(url, p->p_tok.tk_text, sizeof(url));
	if (strncasecmp(url, "https://", 8) != 0) {
		parse_error(p, p->p_tok.tk_line, "reverse upstream %s: only "
		    "https:// URLs are supported", show);
		return (-1);
	}
	host = url + 8;
	len = strlen(host);
	if (len > 0 && host[len - 1] == '/')
		host[--len] = '\0';
	if (strchr(host, '/') != NULL || strchr(host, '@') != NULL ||
	    strchr(host, '?') != NULL || strchr(host, '#') != NULL) {
		parse_error(p, p->p_tok.tk_line, "reverse upstream %s: a URL "
		    "with a path, query or user is not supported", show);
		return (-1);
	}
	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL) {
			parse_error(p, p->p_tok.tk_line, "reverse upstream "
			    "%s: missing ']'", show);
			return (-1);
		}
		*end++ = '\0';
		host++;
		if (*end == ':')
			port = end + 1;
		else if (*end != '\0') {
			parse_error(p, p->p_tok.tk_line, "reverse upstream "
			    "%s: expected ':' after ']'", show);
			return (-1);
		}
		if (strchr(host, ':') == NULL) {
			parse_error(p, p->p_tok.tk_line, "reverse upstream "
			    "%s: brackets are for IPv6 addresses", show);
			return (-1);
		}
	} else if ((end = strchr(host, ':')) != NULL) {
		*end = '\0';
		port = end + 1;
	}
	if (port != NULL) {
		len = strlen(port);
		if (len == 0 || len > 5 || strspn(port, "0123456789") != len ||
		    (v = strtoull(port, NULL, 10)) < 1 || v > CONF_PORT_MAX) {
			parse_error(p, p->p_tok.tk_line, "reverse upstream "
			    "%s: invalid port", show);
			return (-1);
		}
	}
	if (*host == '\0') {
		parse_error(p, p->p_tok.tk_line, "reverse upstream %s: no "
		    "host", show);
		return (-1);
	}
	if (hostpat_parse(host, &hp, &errstr) == -1 ||
	    hp.hp_kind != HOSTPAT_EXACT) {
		parse_error(p, p->p_tok.tk_line, "reverse upstream %s: %s",
		    show, hp.hp_kind != HOSTPAT_EXACT && errstr == NULL ?
		    "expected a host name or an IP address, not a pattern" :
		    errstr);
		return (-1);
	}
	util_strlcpy(l->cl_rhost, hp.hp_name, sizeof(l->cl_rhost));
	l->cl_rport = port != NULL ? (uint32_t)v : CONF_HTTPS_PORT;
	lex_next(p);
	return (0);
}

/* "on ADDR port N", the rest of both listener statements; a proxy
 * listener may go on with "reverse to URL". */
static int
parse_listener(struct parser *p, uint32_t kind, const char *after)
{
	struct mitmd_conf    *c = p->p_conf;
	struct conf_listener *l;
	struct addr	      a;
	char		      as[ADDR_STRLEN];
	uint32_t	      port;

	if (next_keyword(p, "on", after) == -1)
		return (-1);
	lex_next(p);
	if (take_listen_addr(p, &a) == -1)
		return (-1);
	addr_str(&a, 0, as, sizeof(as));
	if (!tok_is(p, "port"))
		return (parse_expected(p, "'port'", as));
	lex_next(p);
	if (take_number(p, "a port number", "port", "port", 1, CONF_PORT_MAX,
	    &port) == -1)
		return (-1);
	a.a_port = (uint16_t)port;
	if (check_listener(p, &a) == -1)
		return (-1);
	l = &c->mc_listeners[c->mc_nlisteners];
	memset(l, 0, sizeof(*l));
	if (kind == LISTENER_PROXY && tok_is(p, "reverse")) {
		if (next_keyword(p, "to", "reverse") == -1)
			return (-1);
		lex_next(p);
		if (take_reverse_url(p, l) == -1)
			return (-1);
		kind = LISTENER_REVERSE;
		if (tok_is(p, "http2")) {
			l->cl_rh2 = 1;
			lex_next(p);
		}
	}
	l->cl_id = (uint32_t)c->mc_nlisteners;
	l->cl_kind = kind;
	l->cl_addr = a;
	l->cl_line = (uint32_t)p->p_stmt_line;
	c->mc_nlisteners++;
	return (0);
}

static int
parse_listen(struct parser *p)
{
	return (parse_listener(p, LISTENER_PROXY, "listen"));
}

static int
parse_webui(struct parser *p)
{
	if (next_keyword(p, "listen", "webui") == -1 ||
	    setting_once(p, SET_WEBUI, "webui listen on") == -1)
		return (-1);
	return (parse_listener(p, LISTENER_WEBUI, "listen"));
}

/* One CIDR block of "admin allow from". */
static int
take_admin_allow(struct parser *p, const char *after)
{
	struct mitmd_conf *c = p->p_conf;
	struct cidr	   cidr;
	char		   cs[ADDR_STRLEN];
	size_t		   i;

	if (p->p_tok.tk_type != TOK_WORD)
		return (parse_expected(p, "a CIDR block", after));
	if (cidr_parse(p->p_tok.tk_text, &cidr) == -1) {
		parse_error(p, p->p_tok.tk_line, "invalid CIDR block '%s'",
		    p->p_tok.tk_text);
		return (-1);
	}
	cidr_str(&cidr, cs, sizeof(cs));
	for (i = 0; i < c->mc_nadmin_allow; i++)
		if (memcmp(&c->mc_admin_allow[i].ca_cidr, &cidr,
		    sizeof(cidr)) == 0) {
			parse_error(p, p->p_tok.tk_line, "duplicate 'admin "
			    "allow from %s' (also on line %u)", cs,
			    c->mc_admin_allow[i].ca_line);
			return (-1);
		}
	if (c->mc_nadmin_allow >= CONF_ADMIN_ALLOW_MAX) {
		parse_error(p, p->p_tok.tk_line, "too many 'admin allow from' "
		    "blocks (at most %d)", CONF_ADMIN_ALLOW_MAX);
		return (-1);
	}
	c->mc_admin_allow[c->mc_nadmin_allow].ca_cidr = cidr;
	c->mc_admin_allow[c->mc_nadmin_allow++].ca_line =
	    (uint32_t)p->p_tok.tk_line;
	lex_next(p);
	return (0);
}

/* admin certificate "PATH" key "PATH" */
static int
parse_admin_cert(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;

	if (setting_once(p, SET_ADMIN_CERT, "admin certificate") == -1 ||
	    next_string(p, "a quoted path", "certificate",
	    "admin certificate", c->mc_admin_cert,
	    sizeof(c->mc_admin_cert)) == -1)
		return (-1);
	if (!tok_is(p, "key"))
		return (parse_expected(p, "'key'", "the certificate"));
	c->mc_admin_cert_line = p->p_stmt_line;
	return (next_string(p, "a quoted path", "key", "admin key",
	    c->mc_admin_key, sizeof(c->mc_admin_key)));
}

/* admin token file "PATH": only the path here; what the file holds and
 * who may read it are checked when master reads it (token_file_read). */
static int
parse_admin_token(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;

	if (next_keyword(p, "file", "token") == -1 ||
	    setting_once(p, SET_ADMIN_TOKEN, "admin token file") == -1 ||
	    next_string(p, "a quoted path", "file", "admin token file",
	    c->mc_admin_token_file, sizeof(c->mc_admin_token_file)) == -1)
		return (-1);
	c->mc_admin_token_line = p->p_stmt_line;
	return (0);
}

/*
 * admin listen on ADDR port N | admin allow from CIDR[, ...] |
 * admin certificate "PATH" key "PATH" | admin token file "PATH". The
 * files are read after the parse, by master alone (conf_admin_load):
 * the parser opens nothing.
 */
static int
parse_admin(struct parser *p)
{
	static const char *const words[] = { "listen", "allow",
	    "certificate", "token", NULL };
	const char		*after = "from";

	switch (next_choice(p, words, "'listen', 'allow', 'certificate' or "
	    "'token'", "admin")) {
	case 0:
		if (setting_once(p, SET_ADMIN, "admin listen on") == -1)
			return (-1);
		return (parse_listener(p, LISTENER_ADMIN, "listen"));
	case 1:
		if (next_keyword(p, "from", "allow") == -1)
			return (-1);
		for (;;) {
			lex_next(p);
			if (take_admin_allow(p, after) == -1)
				return (-1);
			if (p->p_tok.tk_type != TOK_COMMA)
				return (0);
			after = ",";
		}
	case 2:
		return (parse_admin_cert(p));
	case 3:
		return (parse_admin_token(p));
	}
	return (-1);
}

/* The admin listener binds to loopback unless "admin allow from" names
 * who else may use it; "admin" settings without a listener are a
 * mistake. */
static void
parse_finish_admin(struct parser *p)
{
	const struct mitmd_conf	   *c = p->p_conf;
	const struct conf_listener *l = NULL;
	char			    as[ADDR_STRLEN];
	size_t			    i;
	int			    line;

	for (i = 0; i < c->mc_nlisteners; i++)
		if (c->mc_listeners[i].cl_kind == LISTENER_ADMIN)
			l = &c->mc_listeners[i];
	if (l == NULL) {
		if (c->mc_nadmin_allow > 0)
			line = (int)c->mc_admin_allow[0].ca_line;
		else if (c->mc_admin_cert[0] != '\0')
			line = c->mc_admin_cert_line;
		else if (c->mc_admin_token_file[0] != '\0')
			line = c->mc_admin_token_line;
		else
			return;
		parse_error(p, line, "'admin' settings without 'admin listen "
		    "on'");
		return;
	}
	if (c->mc_nadmin_allow == 0 && !addr_is_loopback(&l->cl_addr))
		parse_error(p, (int)l->cl_line, "admin listener %s is not "
		    "loopback: name the clients with 'admin allow from'",
		    addr_str(&l->cl_addr, 0, as, sizeof(as)));
}

/* One CIDR block of "allow from". */
static int
take_allow(struct parser *p, const char *after)
{
	struct mitmd_conf *c = p->p_conf;
	struct cidr	   cidr, exact;
	char		   cs[ADDR_STRLEN], ip[CONF_TOKEN_MAX + 1];
	const char	  *s = p->p_tok.tk_text;
	size_t		   i, iplen = strcspn(s, "/");

	if (p->p_tok.tk_type != TOK_WORD)
		return (parse_expected(p, "a CIDR block", after));
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (cidr_parse(s, &cidr) == -1 || cidr_parse(ip, &exact) == -1) {
		parse_error(p, p->p_tok.tk_line, "invalid CIDR block '%s'", s);
		return (-1);
	}
	cidr_str(&cidr, cs, sizeof(cs));
	/* cidr_parse clears host bits; "10.0.0.1/8" is likely a typo. */
	if (memcmp(cidr.c_ip, exact.c_ip, sizeof(cidr.c_ip)) != 0) {
		parse_error(p, p->p_tok.tk_line, "'%s' has bits set past its "
		    "prefix: write %s", s, cs);
		return (-1);
	}
	for (i = 0; i < c->mc_nallow; i++)
		if (memcmp(&c->mc_allow[i].ca_cidr, &cidr, sizeof(cidr)) ==
		    0) {
			parse_error(p, p->p_tok.tk_line, "duplicate 'allow "
			    "from %s' (also on line %u)", cs,
			    c->mc_allow[i].ca_line);
			return (-1);
		}
	if (c->mc_nallow >= CONF_MAX_ALLOW) {
		parse_error(p, p->p_tok.tk_line, "too many 'allow from' "
		    "blocks (at most %d)", CONF_MAX_ALLOW);
		return (-1);
	}
	c->mc_allow[c->mc_nallow].ca_cidr = cidr;
	c->mc_allow[c->mc_nallow++].ca_line = (uint32_t)p->p_tok.tk_line;
	lex_next(p);
	return (0);
}

static int
parse_allow(struct parser *p)
{
	const char *after = "from";

	if (next_keyword(p, "from", "allow") == -1)
		return (-1);
	for (;;) {
		lex_next(p);
		if (take_allow(p, after) == -1)
			return (-1);
		if (p->p_tok.tk_type != TOK_COMMA)
			return (0);
		after = ",";
	}
}

/* Make room for one more rule. The capacity is not stored: it is
 * CONF_RULES_FIRST, then doubles each time the count reaches it. */
static int
rule_grow(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;
	struct conf_rule  *r;
	size_t		   n = c->mc_nrules;

	if (n == 0)
		n = CONF_RULES_FIRST;
	else if (n >= CONF_RULES_FIRST && (n & (n - 1)) == 0)
		n *= 2;
	else
		return (0);
	if ((r = reallocarray(c->mc_rules, n, sizeof(*r))) == NULL) {
		parse_error(p, p->p_tok.tk_line, "out of memory");
		return (-1);
	}
	c->mc_rules = r;
	return (0);
}

/* One host pattern of a block, tunnel or intercept statement. */
static int
take_rule(struct parser *p, uint32_t action, const char *after)
{
	struct mitmd_conf *c = p->p_conf;
	struct conf_rule  *r;
	struct hostpat	   hp;
	const char	  *errstr, *show;
	char		   buf[CONF_SHOW_BUF];
	size_t		   i;

	if (p->p_tok.tk_type == TOK_WORD) {
		parse_error(p, p->p_tok.tk_line, "host patterns are quoted "
		    "strings: write \"%.*s\"", CONF_SHOW_MAX,
		    p->p_tok.tk_text);
		return (-1);
	}
	if (p->p_tok.tk_type != TOK_STRING)
		return (parse_expected(p, "a quoted host pattern", after));
	show = tok_show(&p->p_tok, buf, sizeof(buf));
	if (hostpat_parse(p->p_tok.tk_text, &hp, &errstr) == -1) {
		parse_error(p, p->p_tok.tk_line, "invalid host pattern %s: %s",
		    show, errstr);
		return (-1);
	}
	for (i = 0; i < c->mc_nrules; i++) {
		r = &c->mc_rules[i];
		if (r->cr_pat.hp_kind == hp.hp_kind &&
		    memcmp(&r->cr_pat, &hp, sizeof(hp)) == 0) {
			parse_error(p, p->p_tok.tk_line, "host pattern %s is "
			    "already used by the rule on line %u", show,
			    r->cr_line);
			return (-1);
		}
	}
	if (c->mc_nrules >= CONF_MAX_RULES) {
		parse_error(p, p->p_tok.tk_line, "too many host rules (at most "
		    "%d)", CONF_MAX_RULES);
		return (-1);
	}
	if (rule_grow(p) == -1)
		return (-1);
	r = &c->mc_rules[c->mc_nrules++];
	memset(r, 0, sizeof(*r));
	r->cr_action = action;
	r->cr_line = (uint32_t)p->p_tok.tk_line;
	r->cr_index = (uint32_t)c->mc_nrules;
	r->cr_pat = hp;
	lex_next(p);
	return (0);
}

/* block|tunnel|intercept host "PAT" [, "PAT" ...] */
static int
parse_rule(struct parser *p)
{
	const char *after = "host";
	uint32_t    action;

	if (tok_is(p, "block"))
		action = ACTION_BLOCK;
	else if (tok_is(p, "tunnel"))
		action = ACTION_TUNNEL;
	else
		action = ACTION_INTERCEPT;
	if (next_keyword(p, "host", conf_action_str(action)) == -1)
		return (-1);
	for (;;) {
		lex_next(p);
		if (take_rule(p, action, after) == -1)
			return (-1);
		if (p->p_tok.tk_type != TOK_COMMA)
			return (0);
		after = ",";
	}
}

/* timeout|limit NAME N, from a table of uint32_t conf_global fields. */
static int
parse_numopt(struct parser *p, const struct numopt *opts, size_t nopts,
    const char *kw, const char *choices)
{
	const struct numopt *o;
	char		     name[CONF_SHOW_MAX], what[CONF_SHOW_MAX];
	uint32_t	    *field;
	size_t		     i;

	lex_next(p);
	for (i = 0; i < nopts; i++)
		if (tok_is(p, opts[i].no_name))
			break;
	if (i == nopts)
		return (parse_expected(p, choices, kw));
	o = &opts[i];
	snprintf(name, sizeof(name), "%s %s", kw, o->no_name);
	snprintf(what, sizeof(what), "a number of %s", o->no_unit);
	if (setting_once(p, o->no_set, name) == -1)
		return (-1);
	field = (uint32_t *)(void *)((char *)&p->p_conf->mc_global +
	    o->no_off);
	lex_next(p);
	return (take_number(p, what, o->no_name, name, o->no_min, o->no_max,
	    field));
}

static int
parse_timeout(struct parser *p)
{
	return (parse_numopt(p, timeouts, nitems(timeouts), "timeout",
	    "'connect', 'idle', 'header' or 'drain'"));
}

static int
parse_limit(struct parser *p)
{
	return (parse_numopt(p, limits, nitems(limits), "limit",
	    "'head', 'headers' or 'connections'"));
}

/*
 * TLS interception (issue 3).
 */

/* upstream ca-file "PATH" | upstream verify yes|no */
static int
parse_upstream(struct parser *p)
{
	static const char *const words[] = { "ca-file", "verify", NULL };
	static const char *const yesno[] = { "yes", "no", NULL };
	struct conf_global	*g = &p->p_conf->mc_global;
	int			 v;

	switch (next_choice(p, words, "'ca-file' or 'verify'", "upstream")) {
	case 0:
		if (setting_once(p, SET_UP_CA_FILE, "upstream ca-file") == -1)
			return (-1);
		return (next_string(p, "a quoted path", "ca-file",
		    "upstream ca-file", g->cg_ca_file, sizeof(g->cg_ca_file)));
	case 1:
		if (setting_once(p, SET_UP_VERIFY, "upstream verify") == -1 ||
		    (v = next_choice(p, yesno, "'yes' or 'no'", "verify")) ==
		    -1)
			return (-1);
		g->cg_verify = v == 0;
		lex_next(p);
		return (0);
	}
	return (-1);
}

/* An OpenSSL cipher list, checked for what it is made of only: OpenSSL
 * itself judges the names when a worker starts. */
static int
check_ciphers(struct parser *p, const char *list)
{
	size_t n = strspn(list, CONF_CIPHER_CHARS);

	if (list[n] != '\0') {
		parse_error(p, p->p_stmt_line, "invalid character '%c' in tls "
		    "ciphers: use OpenSSL cipher names, ':', '+', '-', '!', "
		    "'@' and '='", list[n]);
		return (-1);
	}
	return (0);
}

/* tls min-version 1.2|1.3 | tls ciphers "LIST" */
static int
parse_tls(struct parser *p)
{
	static const char *const words[] = { "min-version", "ciphers", NULL };
	static const char *const versions[] = { "1.2", "1.3", NULL };
	struct conf_global	*g = &p->p_conf->mc_global;

	switch (next_choice(p, words, "'min-version' or 'ciphers'", "tls")) {
	case 0:
		if (setting_once(p, SET_TLS_MIN, "tls min-version") == -1)
			return (-1);
		switch (next_choice(p, versions, "'1.2' or '1.3'",
		    "min-version")) {
		case 0:
			g->cg_tls_min = CONF_TLS_1_2;
			break;
		case 1:
			g->cg_tls_min = CONF_TLS_1_3;
			break;
		default:
			return (-1);
		}
		lex_next(p);
		return (0);
	case 1:
		if (setting_once(p, SET_TLS_CIPHERS, "tls ciphers") == -1 ||
		    next_string(p, "a quoted cipher list", "ciphers",
		    "tls ciphers", g->cg_ciphers, sizeof(g->cg_ciphers)) == -1)
			return (-1);
		return (check_ciphers(p, g->cg_ciphers));
	}
	return (-1);
}

/* The options after "learn after N", in any order, each once. */
static int
parse_learn_opts(struct parser *p)
{
	struct conf_global *g = &p->p_conf->mc_global;
	int		    seen_all = 0, seen_ttl = 0;

	for (;;) {
		if (tok_is(p, "for")) {
			if (seen_all++) {
				parse_error(p, p->p_tok.tk_line, "'for all' is "
				    "given twice");
				return (-1);
			}
			if (next_keyword(p, "all", "for") == -1)
				return (-1);
			g->cg_pt_all = 1;
			lex_next(p);
		} else if (tok_is(p, "ttl")) {
			if (seen_ttl++) {
				parse_error(p, p->p_tok.tk_line, "'ttl' is "
				    "given twice");
				return (-1);
			}
			lex_next(p);
			if (take_number(p, "a number of seconds", "ttl",
			    "tls-passthrough ttl", 1, CONF_PT_TTL_MAX,
			    &g->cg_pt_ttl) == -1)
				return (-1);
		} else
			return (0);
	}
}

/* tls-passthrough learn after N [for all] [ttl N] | tls-passthrough no */
static int
parse_passthrough(struct parser *p)
{
	static const char *const words[] = { "learn", "no", NULL };
	struct conf_global	*g = &p->p_conf->mc_global;

	if (setting_once(p, SET_PASSTHROUGH, "tls-passthrough") == -1)
		return (-1);
	switch (next_choice(p, words, "'learn' or 'no'", "tls-passthrough")) {
	case 0:
		if (next_keyword(p, "after", "learn") == -1)
			return (-1);
		lex_next(p);
		if (take_number(p, "a number of failures", "after",
		    "tls-passthrough learn after", 1, CONF_PT_AFTER_MAX,
		    &g->cg_pt_after) == -1)
			return (-1);
		return (parse_learn_opts(p));
	case 1:
		g->cg_pt_after = 0;
		lex_next(p);
		return (0);
	}
	return (-1);
}

/* events file "PATH" | events socket "PATH" */
static int
parse_events(struct parser *p)
{
	static const char *const words[] = { "file", "socket", NULL };
	struct mitmd_conf	*c = p->p_conf;

	switch (next_choice(p, words, "'file' or 'socket'", "events")) {
	case 0:
		if (setting_once(p, SET_EVENTS_FILE, "events file") == -1)
			return (-1);
		return (next_string(p, "a quoted path", "file", "events file",
		    c->mc_events_file, sizeof(c->mc_events_file)));
	case 1:
		if (setting_once(p, SET_EVENTS_SOCKET, "events socket") == -1)
			return (-1);
		if (next_string(p, "a quoted path", "socket", "events socket",
		    c->mc_events_socket, sizeof(c->mc_events_socket)) == -1)
			return (-1);
		if (strlen(c->mc_events_socket) >= CONF_SUN_PATH_MAX) {
			parse_error(p, p->p_stmt_line, "events socket is longer "
			    "than %zu bytes, the most a Unix socket path may "
			    "have", CONF_SUN_PATH_MAX - 1);
			return (-1);
		}
		return (0);
	}
	return (-1);
}

/* http2 yes|no | http2 max-concurrent-streams N |
 * http2 max-header-list-size N */
static int
parse_http2(struct parser *p)
{
	static const char *const words[] = { "yes", "no",
	    "max-concurrent-streams", "max-header-list-size", NULL };
	struct conf_global	*g = &p->p_conf->mc_global;

	switch (next_choice(p, words, "'yes', 'no', 'max-concurrent-streams' "
	    "or 'max-header-list-size'", "http2")) {
	case 0:
	case 1:
		if (setting_once(p, SET_HTTP2, "http2") == -1)
			return (-1);
		g->cg_http2 = tok_is(p, "yes");
		lex_next(p);
		return (0);
	case 2:
		if (setting_once(p, SET_H2_STREAMS,
		    "http2 max-concurrent-streams") == -1)
			return (-1);
		lex_next(p);
		if (take_number(p, "a number of streams",
		    "max-concurrent-streams", "http2 max-concurrent-streams", 1,
		    CONF_H2_STREAMS_MAX, &g->cg_h2_streams) == -1)
			return (-1);
		return (0);
	case 3:
		if (setting_once(p, SET_H2_HEADER_LIST,
		    "http2 max-header-list-size") == -1)
			return (-1);
		lex_next(p);
		if (take_number(p, "a number of bytes", "max-header-list-size",
		    "http2 max-header-list-size", CONF_H2_HEADER_LIST_MIN,
		    CONF_H2_HEADER_LIST_MAX, &g->cg_h2_header_list) == -1)
			return (-1);
		return (0);
	}
	return (-1);
}

/* capture bodies max N KiB */
static int
parse_capture(struct parser *p)
{
	struct conf_global *g = &p->p_conf->mc_global;
	char		    num[CONF_NUM_DIGITS + 2];

	if (setting_once(p, SET_CAPTURE, "capture bodies") == -1 ||
	    next_keyword(p, "bodies", "capture") == -1 ||
	    next_keyword(p, "max", "bodies") == -1)
		return (-1);
	lex_next(p);
	if (take_number(p, "a number of KiB", "max", "capture bodies max", 0,
	    CONF_CAPTURE_MAX_KIB, &g->cg_capture_max) == -1)
		return (-1);
	if (!tok_is(p, "KiB")) {
		snprintf(num, sizeof(num), "%u", g->cg_capture_max);
		return (parse_expected(p, "'KiB'", num));
	}
	lex_next(p);
	return (0);
}

/* store keep N flows | store keep N days | store off: the unit comes
 * after the number, so the range is checked once the unit is known. */
static int
parse_store(struct parser *p)
{
	static const char *const words[] = { "keep", "off", NULL };
	struct conf_global *g = &p->p_conf->mc_global;
	char		    num[CONF_NUM_DIGITS + 2];
	uint32_t	    n, max, *field;
	int		    set;
	const char	   *name;

	switch (next_choice(p, words, "'keep' or 'off'", "store")) {
	case 0:
		break;
	case 1:
		/* no flow store; parse_finish says what it excludes */
		if (setting_once(p, SET_STORE_OFF, "store off") == -1)
			return (-1);
		lex_next(p);
		return (0);
	default:
		return (-1);
	}
	lex_next(p);
	if (take_number(p, "a number", "keep", "store keep", 0, UINT32_MAX,
	    &n) == -1)
		return (-1);
	snprintf(num, sizeof(num), "%u", n);
	if (tok_is(p, "flows") || tok_is(p, "flow")) {
		set = SET_KEEP_FLOWS;
		name = "store keep flows";
		max = CONF_KEEP_FLOWS_MAX;
		field = &g->cg_keep_flows;
	} else if (tok_is(p, "days") || tok_is(p, "day")) {
		set = SET_KEEP_DAYS;
		name = "store keep days";
		max = CONF_KEEP_DAYS_MAX;
		field = &g->cg_keep_days;
	} else
		return (parse_expected(p, "'flows' or 'days'", num));
	if (setting_once(p, set, name) == -1)
		return (-1);
	if (n < 1 || n > max) {
		parse_error(p, p->p_tok.tk_line, "%s must be between 1 and %u, "
		    "got %u", name, max, n);
		return (-1);
	}
	*field = n;
	lex_next(p);
	return (0);
}

static const struct keyword {
	const char *kw_name;
	int	  (*kw_parse)(struct parser *);
} keywords[] = {
	{ "admin", parse_admin },
	{ "allow", parse_allow },
	{ "block", parse_rule },
	{ "ca", parse_ca },
	{ "capture", parse_capture },
	{ "chroot", parse_chroot },
	{ "events", parse_events },
	{ "http2", parse_http2 },
	{ "intercept", parse_rule },
	{ "limit", parse_limit },
	{ "listen", parse_listen },
	{ "runtime", parse_runtime },
	{ "state", parse_state },
	{ "store", parse_store },
	{ "syslog", parse_syslog },
	{ "timeout", parse_timeout },
	{ "tls", parse_tls },
	{ "tls-passthrough", parse_passthrough },
	{ "tunnel", parse_rule },
	{ "upstream", parse_upstream },
	{ "user", parse_user },
	{ "webui", parse_webui },
	{ "workers", parse_workers },
};

/* One statement, from its keyword to the end of its line. */
static int
parse_statement(struct parser *p)
{
	char	    buf[CONF_SHOW_BUF];
	const char *show;
	size_t	    i;

	if (p->p_tok.tk_type == TOK_ERROR) {
		parse_error(p, p->p_tok.tk_line, "%s", p->p_tok.tk_text);
		return (-1);
	}
	show = tok_show(&p->p_tok, buf, sizeof(buf));
	if (p->p_tok.tk_type != TOK_WORD) {
		parse_error(p, p->p_tok.tk_line, "expected a keyword, got %s",
		    show);
		return (-1);
	}
	for (i = 0; i < nitems(keywords); i++)
		if (tok_is(p, keywords[i].kw_name))
			break;
	if (i == nitems(keywords)) {
		parse_error(p, p->p_tok.tk_line, "unknown keyword %s", show);
		return (-1);
	}
	if (keywords[i].kw_parse(p) == -1)
		return (-1);
	if (p->p_tok.tk_type == TOK_ERROR) {
		parse_error(p, p->p_tok.tk_line, "%s", p->p_tok.tk_text);
		return (-1);
	}
	if (p->p_tok.tk_type != TOK_EOL && p->p_tok.tk_type != TOK_EOF) {
		parse_error(p, p->p_tok.tk_line, "expected end of line, got %s",
		    tok_show(&p->p_tok, buf, sizeof(buf)));
		return (-1);
	}
	return (0);
}

/* The event sinks must not collide with each other or the control
 * socket: master would unlink the file it just opened. */
static void
parse_finish_events(struct parser *p)
{
	const struct mitmd_conf *c = p->p_conf;
	char			 ctl[CONF_PATH_MAX + sizeof(CONF_CTL_SOCK_NAME)];

	if (c->mc_events_socket[0] == '\0')
		return;
	if (strcmp(c->mc_events_socket, c->mc_events_file) == 0)
		parse_error(p, p->p_seen[SET_EVENTS_SOCKET], "'events socket' "
		    "must differ from 'events file'");
	snprintf(ctl, sizeof(ctl), "%s/%s", c->mc_runtime_dir,
	    CONF_CTL_SOCK_NAME);
	if (strcmp(c->mc_events_socket, ctl) == 0)
		parse_error(p, p->p_seen[SET_EVENTS_SOCKET], "'events socket' "
		    "must differ from the control socket %s", ctl);
}

/*
 * store off: no flow store, told to webui as both keep limits 0 (each is
 * at least 1 otherwise). The workers encode events only when someone
 * takes them: the store, an events file or an events socket.
 */
static void
parse_finish_store(struct parser *p)
{
	struct mitmd_conf	*c = p->p_conf;
	struct conf_global	*g = &c->mc_global;
	int			 off = p->p_seen[SET_STORE_OFF];

	if (off != 0 && (p->p_seen[SET_KEEP_FLOWS] != 0 ||
	    p->p_seen[SET_KEEP_DAYS] != 0))
		parse_error(p, off, "'store off' and 'store keep' exclude "
		    "each other");
	if (off != 0) {
		g->cg_keep_flows = 0;
		g->cg_keep_days = 0;
	}
	g->cg_events = off == 0 || c->mc_events_file[0] != '\0' ||
	    c->mc_events_socket[0] != '\0';
}

/* What no single statement can check. */
static void
parse_finish(struct parser *p)
{
	const struct mitmd_conf *c = p->p_conf;
	int			 last = p->p_line;
	size_t			 i;

	if (p->p_len > 0 && p->p_buf[p->p_len - 1] == '\n')
		last--;
	last = MAX(last, 1);
	for (i = 0; i < c->mc_nlisteners; i++)
		if (c->mc_listeners[i].cl_kind == LISTENER_PROXY ||
		    c->mc_listeners[i].cl_kind == LISTENER_REVERSE)
			break;
	if (i == c->mc_nlisteners)
		parse_error(p, last, "no 'listen on' statement: mitmd needs at "
		    "least one proxy listener");
	if (strcmp(c->mc_user, c->mc_ca_user) == 0)
		parse_error(p, MAX(p->p_seen[SET_USER],
		    p->p_seen[SET_CA_USER]), "'ca user' must differ from "
		    "'user': only certd's user may read the CA key");
	parse_finish_events(p);
	parse_finish_store(p);
	parse_finish_admin(p);
}

static void
conf_init(struct mitmd_conf *c)
{
	struct conf_global *g = &c->mc_global;

	memset(c, 0, sizeof(*c));
	util_strlcpy(c->mc_user, CONF_DEF_USER, sizeof(c->mc_user));
	util_strlcpy(c->mc_ca_user, CONF_DEF_CA_USER, sizeof(c->mc_ca_user));
	util_strlcpy(c->mc_state_dir, CONF_DEF_STATE_DIR,
	    sizeof(c->mc_state_dir));
	util_strlcpy(c->mc_runtime_dir, CONF_DEF_RUNTIME_DIR,
	    sizeof(c->mc_runtime_dir));
	util_strlcpy(c->mc_syslog, CONF_DEF_SYSLOG, sizeof(c->mc_syslog));
	c->mc_workers_auto = 1;
	g->cg_connect_tmo = CONF_DEF_CONNECT_TMO;
	g->cg_idle_tmo = CONF_DEF_IDLE_TMO;
	g->cg_header_tmo = CONF_DEF_HEADER_TMO;
	g->cg_drain_tmo = CONF_DEF_DRAIN_TMO;
	g->cg_max_head = CONF_DEF_MAX_HEAD;
	g->cg_max_headers = CONF_DEF_MAX_HEADERS;
	g->cg_max_conns = CONF_DEF_MAX_CONNS;
	g->cg_ca_key = CA_KEY_ECDSA_P256;
	g->cg_tls_min = CONF_DEF_TLS_MIN;
	g->cg_verify = 1;
	g->cg_pt_after = CONF_DEF_PT_AFTER;
	g->cg_pt_ttl = CONF_DEF_PT_TTL;
	g->cg_capture_max = CONF_DEF_CAPTURE_MAX;
	g->cg_http2 = 1;
	g->cg_h2_streams = CONF_DEF_H2_STREAMS;
	g->cg_h2_header_list = CONF_DEF_H2_HEADER_LIST;
	g->cg_keep_flows = CONF_DEF_KEEP_FLOWS;
	g->cg_keep_days = CONF_DEF_KEEP_DAYS;
	util_strlcpy(g->cg_ciphers, CONF_DEF_CIPHERS, sizeof(g->cg_ciphers));
	util_strlcpy(g->cg_ca_file, CONF_DEF_CA_FILE, sizeof(g->cg_ca_file));
}

/* Statement by statement to the end; after an error, on at the next
 * line. */
static void
parse_lines(struct parser *p)
{
	struct mitmd_conf *c = p->p_conf;
	size_t		   nrules, nallow;
	int		   seen[SET_MAX];

	lex_next(p);
	while (p->p_tok.tk_type != TOK_EOF && p->p_errors < CONF_MAX_ERRORS) {
		if (p->p_tok.tk_type == TOK_EOL) {
			lex_next(p);
			continue;
		}
		p->p_stmt_line = p->p_tok.tk_line;
		memcpy(seen, p->p_seen, sizeof(seen));
		nrules = c->mc_nrules;
		nallow = c->mc_nallow;
		if (parse_statement(p) == 0)
			continue;
		/* A failed statement adds nothing, so no later one is called
		 * a duplicate of it. (A listener is added last, if at all.) */
		memcpy(p->p_seen, seen, sizeof(seen));
		c->mc_nrules = nrules;
		c->mc_nallow = nallow;
		while (p->p_tok.tk_type != TOK_EOL &&
		    p->p_tok.tk_type != TOK_EOF)
			lex_next(p);
	}
	/* Whole-file checks only on an otherwise good file: a listener line
	 * with a typo must not also cause "no 'listen on' statement". */
	if (p->p_errors == 0)
		parse_finish(p);
}

int
conf_listeners_same(const struct mitmd_conf *a, const struct mitmd_conf *b)
{
	const struct conf_listener *la, *lb;
	size_t			    i;

	if (a->mc_nlisteners != b->mc_nlisteners)
		return (0);
	for (i = 0; i < a->mc_nlisteners; i++) {
		la = &a->mc_listeners[i];
		lb = &b->mc_listeners[i];
		if (la->cl_kind != lb->cl_kind ||
		    memcmp(&la->cl_addr, &lb->cl_addr, sizeof(la->cl_addr)) ||
		    la->cl_rport != lb->cl_rport || la->cl_rh2 != lb->cl_rh2 ||
		    strcmp(la->cl_rhost, lb->cl_rhost) != 0)
			return (0);
	}
	return (1);
}

int
conf_parse_buf(const char *name, const char *buf, size_t len,
    struct mitmd_conf *c)
{
	struct parser *p;
	int	       errors;

	conf_init(c);
	if (strlen(name) >= sizeof(c->mc_file)) {
		log_warnx("%s: file name longer than %zu bytes", name,
		    sizeof(c->mc_file) - 1);
		return (-1);
	}
	util_strlcpy(c->mc_file, name, sizeof(c->mc_file));
	/* On the heap: the token buffer is large for a stack frame. */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warnx("%s: out of memory", name);
		return (-1);
	}
	p->p_file = name;
	p->p_buf = buf;
	p->p_len = len;
	p->p_line = 1;
	p->p_conf = c;
	parse_lines(p);
	errors = p->p_errors;
	free(p);
	if (errors > 0) {
		conf_free(c);
		return (-1);
	}
	return (0);
}
