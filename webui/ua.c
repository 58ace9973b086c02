/*
 * Which device a visitor of the public page holds, from its User-Agent,
 * and which one it asked for with "?os=NAME". Both are untrusted bytes:
 * pure functions over a pointer and a length, no allocation, fuzzed
 * (tests/fuzz/webui_page.c). The User-Agent only leads the page; every
 * other platform stays one link away, so a wrong guess costs a click.
 *
 * Order matters: an iPhone's User-Agent says "like Mac OS X", an
 * Android one says "Linux". iPadOS 13 and later sends the User-Agent
 * of a Mac by default; without JavaScript nothing tells them apart, and
 * the macOS page links to the iPad profile for that reason.
 */
#include <string.h>

#include "common/util.h"
#include "webui/webui.h"

static const struct {
	const char	*u_needle;
	enum webui_os	 u_os;
} webui_ua_rules[] = {
	{ "iPhone", WEBUI_OS_IOS },
	{ "iPad", WEBUI_OS_IOS },
	{ "iPod", WEBUI_OS_IOS },
	{ "Android", WEBUI_OS_ANDROID },
	{ "Windows", WEBUI_OS_WINDOWS },
	{ "Macintosh", WEBUI_OS_MACOS },
	{ "Mac OS X", WEBUI_OS_MACOS },
	{ "CrOS", WEBUI_OS_LINUX },
	{ "Linux", WEBUI_OS_LINUX },
	{ "X11", WEBUI_OS_LINUX },
};

static const char *webui_os_keys[WEBUI_OS_MAX] = {
	[WEBUI_OS_UNKNOWN] = "other",
	[WEBUI_OS_IOS] = "ios",
	[WEBUI_OS_ANDROID] = "android",
	[WEBUI_OS_WINDOWS] = "windows",
	[WEBUI_OS_MACOS] = "macos",
	[WEBUI_OS_LINUX] = "linux",
};

enum webui_os
webui_ua_os(const char *ua, size_t len)
{
	size_t	 i;

	if (ua == NULL)
		return (WEBUI_OS_UNKNOWN);
	/* Past the limit is noise nobody's browser sends. */
	if (len > WEBUI_UA_MAX)
		len = WEBUI_UA_MAX;
	for (i = 0; i < nitems(webui_ua_rules); i++)
		if (memmem(ua, len, webui_ua_rules[i].u_needle,
		    strlen(webui_ua_rules[i].u_needle)) != NULL)
			return (webui_ua_rules[i].u_os);
	return (WEBUI_OS_UNKNOWN);
}

const char *
webui_os_key(enum webui_os os)
{
	return ((unsigned)os < WEBUI_OS_MAX ? webui_os_keys[os] : "other");
}

/*
 * The query of a request for "/": none, or exactly "os=KEY" with a key
 * of webui_os_keys. 0 with *os set (left alone without a query), -1 for
 * anything else, which the page answers with 400.
 */
int
webui_os_query(const char *q, size_t len, enum webui_os *os)
{
	static const char pfx[] = "os=";
	size_t	 i, klen;

	if (q == NULL || len == 0)
		return (0);
	if (len <= sizeof(pfx) - 1 || memcmp(q, pfx, sizeof(pfx) - 1) != 0)
		return (-1);
	q += sizeof(pfx) - 1;
	len -= sizeof(pfx) - 1;
	for (i = 0; i < WEBUI_OS_MAX; i++) {
		klen = strlen(webui_os_keys[i]);
		if (klen == len && memcmp(q, webui_os_keys[i], klen) == 0) {
			*os = (enum webui_os)i;
			return (0);
		}
	}
	return (-1);
}
