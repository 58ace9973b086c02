/*
 * Unit test of webui/ua.c: which device a User-Agent names (real ones of
 * each platform, the order traps: an iPhone says "like Mac OS X", Android
 * says "Linux"), and the "?os=" query, strictly.
 */
#include <string.h>

#include "webui/webui.h"
#include "tests/unit/unit.h"

static const struct {
	const char	*ua;
	enum webui_os	 os;
} uas[] = {
	{ "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
	  "Mobile/15E148 Safari/604.1", WEBUI_OS_IOS },
	{ "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
	  "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 "
	  "Safari/604.1", WEBUI_OS_IOS },
	{ "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5 like Mac OS X)",
	  WEBUI_OS_IOS },
	{ "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
	  "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	  WEBUI_OS_ANDROID },
	{ "Mozilla/5.0 (Android 13; Mobile; rv:125.0) Gecko/125.0 "
	  "Firefox/125.0", WEBUI_OS_ANDROID },
	{ "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
	  "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
	  WEBUI_OS_WINDOWS },
	{ "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
	  "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
	  "Safari/605.1.15", WEBUI_OS_MACOS },
	{ "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 "
	  "Firefox/125.0", WEBUI_OS_LINUX },
	{ "Mozilla/5.0 (X11; Ubuntu; Linux x86_64) HeadlessChrome/120",
	  WEBUI_OS_LINUX },
	{ "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36",
	  WEBUI_OS_LINUX },
	{ "curl/7.88.1", WEBUI_OS_UNKNOWN },
	{ "", WEBUI_OS_UNKNOWN },
	{ "iphone android windows", WEBUI_OS_UNKNOWN },	/* case matters */
};

int
main(void)
{
	static char	 big[WEBUI_UA_MAX + 64];
	enum webui_os	 os;
	size_t		 i;

	for (i = 0; i < sizeof(uas) / sizeof(uas[0]); i++)
		CHECK(webui_ua_os(uas[i].ua, strlen(uas[i].ua)) == uas[i].os,
		    "\"%.40s...\" is %s", uas[i].ua, webui_os_key(uas[i].os));
	ok(webui_ua_os(NULL, 0) == WEBUI_OS_UNKNOWN, "no User-Agent");
	ok(webui_ua_os("iPhone", 4) == WEBUI_OS_UNKNOWN,
	    "the length bounds the look");
	ok(webui_ua_os("ab\0Android", 10) == WEBUI_OS_ANDROID,
	    "bytes, not a C string");
	memset(big, 'x', sizeof(big));
	memcpy(big + WEBUI_UA_MAX, "Android", 7);
	ok(webui_ua_os(big, sizeof(big)) == WEBUI_OS_UNKNOWN,
	    "past WEBUI_UA_MAX is not looked at");
	memcpy(big + WEBUI_UA_MAX - 7, "Android", 7);
	ok(webui_ua_os(big, sizeof(big)) == WEBUI_OS_ANDROID,
	    "up to WEBUI_UA_MAX is");

	os = WEBUI_OS_MACOS;
	ok(webui_os_query(NULL, 0, &os) == 0 && os == WEBUI_OS_MACOS,
	    "no query: the User-Agent's");
	ok(webui_os_query("", 0, &os) == 0 && os == WEBUI_OS_MACOS,
	    "empty query: the User-Agent's");
	for (i = 0; i < WEBUI_OS_MAX; i++) {
		char	 q[32];

		snprintf(q, sizeof(q), "os=%s", webui_os_key(i));
		CHECK(webui_os_query(q, strlen(q), &os) == 0 && os == i,
		    "?%s", q);
	}
	ok(webui_os_query("os=ios", 5, &os) == -1, "a cut key refused");
	ok(webui_os_query("os=IOS", 6, &os) == -1, "case matters");
	ok(webui_os_query("os=", 3, &os) == -1, "os= empty refused");
	ok(webui_os_query("os=ios&x=1", 10, &os) == -1, "extra refused");
	ok(webui_os_query("x=1", 3, &os) == -1, "other key refused");
	ok(webui_os_query("os=ios\0", 7, &os) == -1, "NUL refused");
	ok(webui_os_query("os=linuxx", 9, &os) == -1, "longer key refused");
	ok(strcmp(webui_os_key((enum webui_os)77), "other") == 0,
	    "an unknown os has a key");
	return (unit_done());
}
