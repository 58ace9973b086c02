/*
 * What webui serves, without the HTTP machinery: which page a path names,
 * and the HTML of the status page. Pure functions over an evbuffer, so the
 * unit test checks them without a socket.
 */
#include <string.h>

#include <event2/buffer.h>

#include "webui/webui.h"

enum webui_page
webui_route(const char *path)
{
	/* An empty path is what "GET http://host" leaves. */
	if (path == NULL || strcmp(path, "") == 0 || strcmp(path, "/") == 0)
		return (WEBUI_PAGE_INDEX);
	if (strcmp(path, "/ca.pem") == 0)
		return (WEBUI_PAGE_PEM);
	if (strcmp(path, "/ca.der") == 0)
		return (WEBUI_PAGE_DER);
	return (WEBUI_PAGE_NONE);
}

/* Text into HTML. The CA name comes from certd (a host name), but escape
 * everything that is not ours anyway. */
static int
webui_html_text(struct evbuffer *b, const char *s)
{
	const char *rep;
	int	 rv = 0;

	for (; *s != '\0' && rv == 0; s++) {
		switch (*s) {
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '&':
			rep = "&amp;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			rv = evbuffer_add(b, s, 1);
			continue;
		}
		rv = evbuffer_add(b, rep, strlen(rep));
	}
	return (rv);
}

static const char webui_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>mitmd</title>\n"
    "<style>body{font-family:sans-serif;max-width:42em;margin:2em auto;"
    "padding:0 1em;line-height:1.5}th{text-align:left;padding-right:1em;"
    "vertical-align:top}code{word-break:break-all}</style>\n"
    "</head><body>\n"
    "<h1>mitmd</h1>\n"
    "<p>This network passes web traffic through <b>mitmd</b>, a proxy "
    "that its administrator runs to inspect and shape what devices send, "
    "including HTTPS. For HTTPS to work through it, a device must trust "
    "the mitmd certificate authority (CA) below.</p>\n"
    "<p>Install it only if you trust the administrator of this network: "
    "a device that trusts this CA lets the proxy read its encrypted "
    "traffic.</p>\n"
    "<h2>CA certificate</h2>\n";

static const char webui_links[] =
    "<ul>\n"
    "<li><a href=\"/ca.pem\">" WEBUI_PEM_FILENAME "</a> (PEM: Linux, "
    "Firefox, curl, most tools)</li>\n"
    "<li><a href=\"/ca.der\">" WEBUI_DER_FILENAME "</a> (DER: Android, "
    "iOS, macOS, Windows)</li>\n"
    "</ul>\n";

static const char webui_nocert[] =
    "<p>The CA certificate is not available yet: mitmd is still starting. "
    "Reload this page in a moment.</p>\n";

static const char webui_tail[] = "</body></html>\n";

int
webui_page_index(struct evbuffer *b, const struct webui_ca *wc)
{
	if (evbuffer_add(b, webui_head, strlen(webui_head)) == -1)
		return (-1);
	if (wc->wc_pem == NULL)
		return (evbuffer_add_printf(b, "%s%s", webui_nocert,
		    webui_tail) < 0 ? -1 : 0);
	if (evbuffer_add(b, webui_links, strlen(webui_links)) == -1 ||
	    evbuffer_add_printf(b, "<table>\n<tr><th>Name</th><td>") < 0 ||
	    webui_html_text(b, wc->wc_name) == -1 ||
	    evbuffer_add_printf(b, "</td></tr>\n"
	    "<tr><th>SHA-256 fingerprint</th><td><code>%s</code></td></tr>\n"
	    "<tr><th>Valid until</th><td>%s</td></tr>\n</table>\n"
	    "<p>Before you trust it, compare the fingerprint with the one "
	    "your administrator gave you.</p>\n%s", wc->wc_sha256,
	    wc->wc_not_after, webui_tail) < 0)
		return (-1);
	return (0);
}
