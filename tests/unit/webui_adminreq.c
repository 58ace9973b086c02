/*
 * Unit test of webui/adminreq.c: the Bearer header, the session cookie
 * among others, the login form, the filters of a query string and the
 * flow id of a path; what must be refused.
 */
#include <string.h>

#include "common/flowq.h"
#include "webui/admin.h"
#include "tests/unit/unit.h"

#define TOK "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
test_bearer(void)
{
	CHECK(admin_bearer_ok("Bearer " TOK, TOK), "bearer");
	CHECK(admin_bearer_ok("bearer   " TOK "  ", TOK), "scheme case, spaces");
	CHECK(!admin_bearer_ok("Bearer " TOK "0", TOK), "longer");
	CHECK(!admin_bearer_ok("Bearer " TOK " x", TOK), "more words");
	CHECK(!admin_bearer_ok("Basic " TOK, TOK), "another scheme");
	CHECK(!admin_bearer_ok("Bearer", TOK), "no token");
	CHECK(!admin_bearer_ok("BearerX " TOK, TOK), "scheme run on");
	CHECK(!admin_bearer_ok(NULL, TOK), "no header");
	CHECK(!admin_bearer_ok("Bearer ", ""), "no token configured");
}

static void
test_cookie(void)
{
	char	 s[ADMIN_SESSION_LEN + 1], c[256];

	CHECK(admin_session(TOK, s, sizeof(s)) == 0 && strlen(s) ==
	    ADMIN_SESSION_LEN && strcmp(s, TOK) != 0, "session derived");
	snprintf(c, sizeof(c), "a=1; mitmd_admin=%s; b=2", s);
	CHECK(admin_cookie_ok(c, s), "among others");
	snprintf(c, sizeof(c), "mitmd_admin=%s", s);
	CHECK(admin_cookie_ok(c, s), "alone");
	snprintf(c, sizeof(c), "xmitmd_admin=%s", s);
	CHECK(!admin_cookie_ok(c, s), "another name");
	snprintf(c, sizeof(c), "mitmd_admin=%s", TOK);
	CHECK(!admin_cookie_ok(c, s), "the token is not the session");
	CHECK(!admin_cookie_ok("mitmd_admin=", s), "empty");
}

static void
test_form(void)
{
	char	 t[CONF_ADMIN_TOKEN_LEN + 8];

	CHECK(admin_form_token("token=" TOK, strlen("token=" TOK), t,
	    sizeof(t)) == 0 && strcmp(t, TOK) == 0, "form token");
	CHECK(admin_form_token("a=%20&token=x%41y", 17, t, sizeof(t)) == 0 &&
	    strcmp(t, "xAy") == 0, "decoded");
	CHECK(admin_form_token("token=%4", 8, t, sizeof(t)) == -1,
	    "cut escape");
	CHECK(admin_form_token("token=%00", 9, t, sizeof(t)) == -1, "NUL");
	CHECK(admin_form_token("x=1", 3, t, sizeof(t)) == 0 && t[0] == '\0',
	    "no token field");
}

static void
test_query(void)
{
	struct flowq	 fq;
	char		 err[ADMIN_ERR_MAX];

	flowq_init(&fq);
	CHECK(admin_query(&fq, "host=*.Example.com&status=5xx&limit=7&"
	    "method=&text=a+b", 1790000000, err, sizeof(err)) == 0 &&
	    fq.fq_limit == 7 && fq.fq_status_class == 5 &&
	    fq.fq_host_suffix && strcmp(fq.fq_text, "a b") == 0,
	    "filters, an empty one skipped");
	flowq_init(&fq);
	CHECK(admin_query(&fq, "nope=1", 0, err, sizeof(err)) == -1,
	    "unknown key: %s", err);
	flowq_init(&fq);
	CHECK(admin_query(&fq, "limit=0", 0, err, sizeof(err)) == -1,
	    "bad value: %s", err);
	flowq_init(&fq);
	CHECK(admin_query(&fq, "host", 0, err, sizeof(err)) == -1,
	    "no '=': %s", err);
	flowq_init(&fq);
	CHECK(admin_query(&fq, NULL, 0, err, sizeof(err)) == 0, "no query");
}

static void
test_id(void)
{
	int64_t	 id = 0;

	CHECK(admin_flow_id("/flows/42", "/flows/", &id) == 0 && id == 42,
	    "id");
	CHECK(admin_flow_id("/flows/0", "/flows/", &id) == -1, "zero");
	CHECK(admin_flow_id("/flows/", "/flows/", &id) == -1, "empty");
	CHECK(admin_flow_id("/flows/1x", "/flows/", &id) == -1, "not digits");
	CHECK(admin_flow_id("/flows/1234567890123456789", "/flows/", &id) ==
	    -1, "too long");
}

int
main(void)
{
	test_bearer();
	test_cookie();
	test_form();
	test_query();
	test_id();
	return (unit_done());
}
