/*
 * Unit test of webui's check of worker events (webui/evparse.c): what a
 * valid event yields, and every way an event is refused: not JSON, not
 * one line, not UTF-8, not schema v1, a required member missing, a known
 * member twice, nesting too deep; and the strict base64 of capture_b64.
 */
#include <string.h>

#include "common/log.h"
#include "tests/unit/unit.h"
#include "webui/webui.h"

#define T_BASE "{\"v\":1,\"type\":\"stream_closed\",\"flow_id\":9,\"seq\":4," \
	"\"ts\":\"2026-11-22T03:40:01.123456Z\""

static struct wev ev;

static int
valid(const char *s)
{
	const char *why = NULL;

	return (wev_parse(s, strlen(s), &ev, &why) == 0);
}

static int
refused(const char *s, size_t len)
{
	const char	*why = NULL;
	int		 r = wev_parse(s, len, &ev, &why);

	if (r == 0)
		return (0);
	return (why != NULL && why[0] != '\0');
}

#define REFUSED(s) refused((s), sizeof(s) - 1)

static void
test_valid(void)
{
	CHECK(valid(T_BASE ",\"client_addr\":\"[::1]:5\",\"server_host\":null,"
	    "\"server_port\":null,\"protocol\":\"tcp\",\"reason\":\"closed\","
	    "\"bytes_in\":10,\"bytes_out\":18446744073709551615}"),
	    "a stream_closed event");
	CHECK(ev.we_type == WEV_STREAM_CLOSED && ev.we_flow == 9 &&
	    ev.we_seq == 4 && ev.we_bytes_in == 10, "type, flow, seq, bytes");
	CHECK(ev.we_bytes_out == INT64_MAX, "a number past int64 is capped");
	CHECK(ev.we_port == -1 && ev.we_host[0] == '\0' &&
	    strcmp(ev.we_client, "[::1]:5") == 0, "null leaves a field unset");
	CHECK(strcmp(ev.we_ts, "2026-11-22T03:40:01.123456Z") == 0, "ts");
	CHECK(valid(T_BASE ",\"headers\":[[\"a\",\"b\"],[]],\"x\":{\"y\":[1,2.5e3,"
	    "-0.5,true,false,null]},\"method\":\"G\\u00e9T\\ud83d\\ude00\"}"),
	    "unknown members of any shape are skipped");
	CHECK(strcmp(ev.we_method, "G\xc3\xa9T\xf0\x9f\x98\x80") == 0,
	    "escapes decoded to UTF-8, surrogate pairs joined");
	CHECK(valid(" " T_BASE " , \"rule\" :\t\"default\" } "),
	    "spaces and tabs between tokens");
	CHECK(strcmp(ev.we_rule_str, "default") == 0 && ev.we_rule == -1,
	    "rule \"default\"");
	CHECK(valid(T_BASE ",\"rule\":3}") && ev.we_rule == 3, "rule 3");
	CHECK(valid(T_BASE ",\"capture_b64\":\"aGVsbG8=\",\"last\":true}") &&
	    ev.we_cap_len == strlen(",\"capture_b64\":\"aGVsbG8=\"") &&
	    ev.we_capv_len == 8 && ev.we_last == 1,
	    "capture_b64: its span, comma included, and its value");
	{
		char u[WEV_URL_MAX + 100];
		size_t n;

		n = (size_t)snprintf(u, sizeof(u), T_BASE ",\"url\":\"");
		memset(u + n, 'a', WEV_URL_MAX - 2);
		n += WEV_URL_MAX - 2;
		memcpy(u + n, "\xc3\xa9\xc3\xa9\"}", 7);
		CHECK(valid(u) && strlen(ev.we_url) == WEV_URL_MAX - 2 &&
		    ev.we_url[WEV_URL_MAX - 3] == 'a',
		    "a long string is cut on a character boundary (%zu)",
		    strlen(ev.we_url));
	}
}

static void
test_refused(void)
{
	CHECK(REFUSED(""), "empty");
	CHECK(REFUSED("[]"), "not an object");
	CHECK(REFUSED("{}"), "empty object");
	CHECK(REFUSED(T_BASE "}x"), "trailing bytes");
	CHECK(REFUSED(T_BASE "}\n"), "a newline after it");
	CHECK(REFUSED(T_BASE ",\n\"a\":1}"), "a newline as whitespace");
	CHECK(REFUSED(T_BASE ",\"a\":\"x\ny\"}"), "a raw newline in a string");
	CHECK(REFUSED(T_BASE ",\"a\":\"\x01\"}"), "a raw control character");
	CHECK(REFUSED(T_BASE ",\"a\":\"\xff\"}"), "a byte that is not UTF-8");
	CHECK(REFUSED(T_BASE ",\"a\":\"\xc0\xaf\"}"), "overlong UTF-8");
	CHECK(REFUSED(T_BASE ",\"a\":\"\xed\xa0\x80\"}"),
	    "a surrogate in UTF-8");
	CHECK(REFUSED(T_BASE ",\"a\":\"\\ud800\"}"), "a lone high surrogate");
	CHECK(REFUSED(T_BASE ",\"a\":\"\\udc00x\"}"), "a lone low surrogate");
	CHECK(REFUSED(T_BASE ",\"a\":\"\\x\"}"), "a bad escape");
	CHECK(REFUSED(T_BASE ",\"a\":\"\\u12\"}"), "a short \\u escape");
	CHECK(REFUSED(T_BASE ",\"a\":01}"), "a leading zero");
	CHECK(REFUSED(T_BASE ",\"a\":1.}"), "a dot without digits");
	CHECK(REFUSED(T_BASE ",\"a\":-}"), "a bare minus");
	CHECK(REFUSED(T_BASE ",\"a\":1e}"), "an exponent without digits");
	CHECK(REFUSED(T_BASE ",\"a\":tru}"), "a bad literal");
	CHECK(REFUSED(T_BASE ",\"a\":[1,]}"), "a trailing comma in an array");
	CHECK(REFUSED(T_BASE ",}"), "a trailing comma in the object");
	CHECK(REFUSED(T_BASE ",\"a\" 1}"), "no colon");
	CHECK(REFUSED(T_BASE ",\"a\":[[[[[[[[[[1]]]]]]]]]]}"),
	    "nested too deep");
	CHECK(REFUSED(T_BASE ",\"seq\":5}"), "a known member twice");
	CHECK(REFUSED(T_BASE ",\"bytes_in\":-1}"), "a negative count");
	CHECK(REFUSED(T_BASE ",\"bytes_in\":1.5}"), "a fraction");
	CHECK(REFUSED(T_BASE ",\"bytes_in\":\"1\"}"), "a count as a string");
	CHECK(REFUSED(T_BASE ",\"method\":1}"), "a string as a number");
	CHECK(REFUSED(T_BASE ",\"last\":1}"), "a boolean as a number");
	CHECK(REFUSED(T_BASE ",\"flow_id\":null}"), "flow_id twice, null");
	CHECK(REFUSED("{\"v\":2,\"type\":\"stream_closed\",\"flow_id\":1,"
	    "\"seq\":0,\"ts\":\"t\"}"), "schema v2");
	CHECK(REFUSED("{\"v\":1,\"type\":\"nope\",\"flow_id\":1,"
	    "\"seq\":0,\"ts\":\"t\"}"), "an unknown type");
	CHECK(REFUSED("{\"v\":1,\"type\":\"stream_closed\",\"flow_id\":1,"
	    "\"ts\":\"t\"}"), "no seq");
	CHECK(REFUSED("{\"v\":1,\"type\":\"stream_closed\",\"seq\":1,"
	    "\"ts\":\"t\"}"), "no flow_id");
	CHECK(REFUSED("{\"v\":1,\"type\":\"stream_closed\",\"flow_id\":1,"
	    "\"seq\":0}"), "no ts");
	CHECK(REFUSED("{\"capture_b64\":\"\"," "\"v\":1,\"type\":"
	    "\"stream_closed\",\"flow_id\":1,\"seq\":0,\"ts\":\"t\"}"),
	    "capture_b64 first");
	CHECK(REFUSED(T_BASE ",\"capture_b64\":1}"), "capture_b64 a number");
	CHECK(REFUSED(T_BASE ",\"capture_b64\":\"\",\"capture_b64\":\"\"}"),
	    "capture_b64 twice");
	CHECK(refused(T_BASE "}", WEV_TEXT_MAX + 1), "too long");
	{
		static const char nul[] = T_BASE ",\"a\":\"\0\"}";

		CHECK(refused(nul, sizeof(nul) - 1), "a NUL byte");
	}
}

static void
test_b64(void)
{
	uint8_t	 out[16];

	CHECK(wev_b64_decode("aGVsbG8=", 8, out, sizeof(out)) == 5 &&
	    memcmp(out, "hello", 5) == 0, "base64 with one pad");
	CHECK(wev_b64_decode("aGk=", 4, out, sizeof(out)) == 2 &&
	    wev_b64_decode("aA==", 4, out, sizeof(out)) == 1 &&
	    wev_b64_decode("", 0, out, sizeof(out)) == 0 &&
	    wev_b64_decode("+/+/", 4, out, sizeof(out)) == 3,
	    "two pads, none, empty, + and /");
	CHECK(wev_b64_decode("aGVsbG8", 7, out, sizeof(out)) == -1 &&
	    wev_b64_decode("a=VsbG8=", 8, out, sizeof(out)) == -1 &&
	    wev_b64_decode("aGV=bG8=", 8, out, sizeof(out)) == -1 &&
	    wev_b64_decode("a===", 4, out, sizeof(out)) == -1 &&
	    wev_b64_decode("aGVs\nG8=", 8, out, sizeof(out)) == -1 &&
	    wev_b64_decode("aGVsbG8=", 8, out, 5) == -1,
	    "refused: length, pad inside, bad char, no room");
}

static void
quiet(int prio, uint32_t flags, const char *msg)
{
	(void)prio;
	(void)flags;
	(void)msg;
}

int
main(void)
{
	log_init("unit", 0);
	log_set_sink(quiet);
	test_valid();
	test_refused();
	test_b64();
	return (unit_done());
}
