/*
 * What webui serves, without the HTTP machinery: which page a path names,
 * the public page that leads with the download and the steps for the
 * visitor's device (ua.c says which), and the iOS configuration profile
 * (made in common/mobileconfig.c, which mitmctl shares).
 * Pure functions over an evbuffer, so the unit test checks them without a
 * socket. The page needs no JavaScript: the other devices are plain links
 * ("/?os=android").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/mobileconfig.h"
#include "common/util.h"
#include "webui/webui.h"

static const struct {
	const char	*r_path;
	enum webui_page	 r_page;
} webui_routes[] = {
	{ "/", WEBUI_PAGE_INDEX },
	{ "/ca.pem", WEBUI_PAGE_PEM },
	{ "/ca.der", WEBUI_PAGE_DER },
	{ "/" WEBUI_PEM_FILENAME, WEBUI_PAGE_PEM },
	{ "/" WEBUI_DER_FILENAME, WEBUI_PAGE_DER },
	{ "/" WEBUI_CER_FILENAME, WEBUI_PAGE_CER },
	{ "/" WEBUI_MC_FILENAME, WEBUI_PAGE_MOBILECONFIG },
	{ "/status", WEBUI_PAGE_STATUS },
	{ "/metrics", WEBUI_PAGE_METRICS },
};

enum webui_page
webui_route(const char *path)
{
	size_t	 i;

	/* An empty path is what "GET http://host" leaves. */
	if (path == NULL || strcmp(path, "") == 0)
		return (WEBUI_PAGE_INDEX);
	for (i = 0; i < nitems(webui_routes); i++)
		if (strcmp(path, webui_routes[i].r_path) == 0)
			return (webui_routes[i].r_page);
	return (WEBUI_PAGE_NONE);
}

/* Text into HTML or XML. The CA name comes from certd, but escape
 * everything that is not ours anyway; control characters, which XML 1.0
 * forbids, become '?'. */
int
webui_html_text(struct evbuffer *b, const char *s)
{
	return (webui_html_textn(b, s, strlen(s), 0));
}

/* len bytes of s; with multiline, tabs and line ends stay (a <pre>). */
int
webui_html_textn(struct evbuffer *b, const char *s, size_t len,
    int multiline)
{
	const char	*rep;
	size_t		 i;
	int		 rv = 0;

	for (i = 0; i < len && rv == 0; i++) {
		switch (s[i]) {
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
		case '\r':	/* of a CR LF: the LF ends the line */
			if (multiline)
				continue;
			rep = "?";
			break;
		case '\n':
		case '\t':
			if (multiline) {
				rv = evbuffer_add(b, s + i, 1);
				continue;
			}
			rep = "?";
			break;
		default:
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				rep = "?";
			else {
				rv = evbuffer_add(b, s + i, 1);
				continue;
			}
		}
		rv = evbuffer_add(b, rep, strlen(rep));
	}
	return (rv);
}

/* One device: its name, what it downloads first, and how to install. */
struct webui_guide {
	const char	*g_name;
	const char	*g_href;
	const char	*g_label;
	const char	*g_steps;	/* HTML, ours */
};

static const struct webui_guide webui_guides[WEBUI_OS_MAX] = {
[WEBUI_OS_IOS] = { "iPhone and iPad", "/" WEBUI_MC_FILENAME,
    "Download the profile (" WEBUI_MC_FILENAME ")",
    "<ol>\n"
    "<li>Open this page in <b>Safari</b> and tap the download link above; "
    "allow the download of the configuration profile.</li>\n"
    "<li>Open <b>Settings &rarr; General &rarr; VPN &amp; Device "
    "Management</b> (on iOS 14 and older <b>Settings &rarr; Profile "
    "Downloaded</b>), tap the mitmd profile, then <b>Install</b> and "
    "enter your passcode.</li>\n"
    "<li>Open <b>Settings &rarr; General &rarr; About &rarr; Certificate "
    "Trust Settings</b> and turn on <b>full trust</b> for the mitmd CA. "
    "Without this step HTTPS through the proxy still fails.</li>\n"
    "</ol>\n"
    "<p>To remove it later: Settings &rarr; General &rarr; VPN &amp; "
    "Device Management &rarr; the profile &rarr; Remove Profile.</p>\n" },
[WEBUI_OS_ANDROID] = { "Android", "/" WEBUI_DER_FILENAME,
    "Download the certificate (" WEBUI_DER_FILENAME ")",
    "<ol>\n"
    "<li>Tap the download link above and keep the file.</li>\n"
    "<li>Open <b>Settings &rarr; Security &amp; privacy &rarr; More "
    "security settings &rarr; Encryption &amp; credentials &rarr; Install "
    "a certificate &rarr; CA certificate</b> (the path differs between "
    "makers: search the settings for &ldquo;CA certificate&rdquo;), "
    "accept the warning and pick " WEBUI_DER_FILENAME ".</li>\n"
    "<li>Check that it is listed under <b>Trusted credentials &rarr; "
    "User</b>.</li>\n"
    "</ol>\n"
    "<p><b>What this does not do.</b> Apps that target Android 7 (API 24) "
    "or later ignore user-installed CAs unless the app opts in through "
    "its network security configuration; Chrome trusts them, most apps do "
    "not. Putting the CA into the system store needs root, and since "
    "Android 14 the system CAs live in an APEX module "
    "(<code>/apex/com.android.conscrypt/cacerts</code>) updated by Google "
    "Play, no longer in <code>/system/etc/security/cacerts</code>.</p>\n" },
[WEBUI_OS_WINDOWS] = { "Windows", "/" WEBUI_CER_FILENAME,
    "Download the certificate (" WEBUI_CER_FILENAME ")",
    "<ol>\n"
    "<li>Download " WEBUI_CER_FILENAME ".</li>\n"
    "<li>In a Command Prompt run as administrator, in the folder of the "
    "file:<br><code>certutil -addstore -f Root " WEBUI_CER_FILENAME
    "</code></li>\n"
    "<li>Or open the file, <b>Install Certificate</b>, <b>Local "
    "Machine</b>, and place it in <b>Trusted Root Certification "
    "Authorities</b>.</li>\n"
    "</ol>\n"
    "<p>Edge and Chrome use the Windows store. Firefox does when "
    "<code>security.enterprise_roots.enabled</code> is true; otherwise "
    "import the file in its certificate settings.</p>\n" },
[WEBUI_OS_MACOS] = { "macOS", "/" WEBUI_PEM_FILENAME,
    "Download the certificate (" WEBUI_PEM_FILENAME ")",
    "<ol>\n"
    "<li>Download " WEBUI_PEM_FILENAME ".</li>\n"
    "<li>In Terminal, in the folder of the file:<br><code>sudo security "
    "add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain "
    WEBUI_PEM_FILENAME "</code></li>\n"
    "<li>Or open it in Keychain Access, in the System keychain, and set "
    "<b>Trust &rarr; When using this certificate</b> to <b>Always "
    "Trust</b>.</li>\n"
    "</ol>\n"
    "<p>An iPad may present itself as a Mac: on an iPad, use the "
    "<a href=\"/?os=ios\">iPhone and iPad</a> steps.</p>\n" },
[WEBUI_OS_LINUX] = { "Linux", "/" WEBUI_PEM_FILENAME,
    "Download the certificate (" WEBUI_PEM_FILENAME ")",
    "<ol>\n"
    "<li>Download " WEBUI_PEM_FILENAME ".</li>\n"
    "<li>Debian, Ubuntu and their kin:<br><code>sudo cp "
    WEBUI_PEM_FILENAME " /usr/local/share/ca-certificates/mitmd-ca.crt "
    "&amp;&amp; sudo update-ca-certificates</code></li>\n"
    "<li>Firefox keeps its own store: <b>Settings &rarr; Privacy &amp; "
    "Security &rarr; Certificates &rarr; View Certificates &rarr; "
    "Authorities &rarr; Import</b>, and tick &ldquo;Trust this CA to "
    "identify websites&rdquo;; or, for every profile, a "
    "<code>policies.json</code> with <code>{\"policies\": "
    "{\"Certificates\": {\"Install\": [\"/usr/local/share/"
    "ca-certificates/mitmd-ca.crt\"]}}}</code>.</li>\n"
    "<li>Chrome and Chromium on Linux read the NSS database:<br><code>"
    "certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n mitmd -i "
    WEBUI_PEM_FILENAME "</code></li>\n"
    "</ol>\n" },
[WEBUI_OS_UNKNOWN] = { "your device", "/" WEBUI_PEM_FILENAME,
    "Download the certificate (" WEBUI_PEM_FILENAME ")",
    "<p>This page could not tell which device you use: pick it below for "
    "the right file and steps. PEM is what most tools read.</p>\n" },
};

static const char webui_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>mitmd: install the CA certificate</title>\n"
    "<style>body{font-family:sans-serif;max-width:42em;margin:2em auto;"
    "padding:0 1em;line-height:1.5}th{text-align:left;padding-right:1em;"
    "vertical-align:top}code{word-break:break-all}"
    "a.dl{display:inline-block;padding:.6em 1.2em;border-radius:.3em;"
    "background:#1a5fb4;color:#fff;font-weight:bold;text-decoration:none}"
    "</style>\n"
    "</head><body>\n"
    "<h1>mitmd</h1>\n"
    "<p>This network passes web traffic through <b>mitmd</b>, a proxy "
    "that its administrator runs to inspect and shape what devices send, "
    "including HTTPS. For HTTPS to work through it, a device must trust "
    "the mitmd certificate authority (CA) below.</p>\n"
    "<p>Install it only if you trust the administrator of this network: "
    "a device that trusts this CA lets the proxy read its encrypted "
    "traffic.</p>\n";

static const char webui_nocert[] =
    "<p>The CA certificate is not available yet: mitmd is still starting. "
    "Reload this page in a moment.</p>\n";

static const char webui_formats[] =
    "<p>Every format: <a href=\"/" WEBUI_PEM_FILENAME "\">PEM</a>, "
    "<a href=\"/" WEBUI_DER_FILENAME "\">DER (.crt)</a>, "
    "<a href=\"/" WEBUI_CER_FILENAME "\">DER (.cer)</a>, "
    "<a href=\"/" WEBUI_MC_FILENAME "\">iOS profile</a>. "
    "<a href=\"/status\">Status</a>.</p>\n";

static const char webui_tail[] = "</body></html>\n";

/* The lead: the download and the steps for os. */
static int
webui_page_lead(struct evbuffer *b, enum webui_os os)
{
	const struct webui_guide *g = &webui_guides[os];

	return (evbuffer_add_printf(b, "<section id=\"install\" "
	    "data-os=\"%s\">\n<h2>Install it on %s</h2>\n"
	    "<p><a id=\"download\" class=\"dl\" href=\"%s\">%s</a></p>\n"
	    "<div id=\"steps\">\n%s</div>\n</section>\n", webui_os_key(os),
	    g->g_name, g->g_href, g->g_label, g->g_steps) < 0 ? -1 : 0);
}

/* What a user compares with what the administrator said. */
static int
webui_page_facts(struct evbuffer *b, const struct webui_ca *wc)
{
	if (evbuffer_add_printf(b, "<h2>Check the certificate</h2>\n"
	    "<table id=\"ca\">\n<tr><th>Name</th><td>") < 0 ||
	    webui_html_text(b, wc->wc_name) == -1 ||
	    evbuffer_add_printf(b, "</td></tr>\n"
	    "<tr><th>SHA-256 fingerprint</th><td><code id=\"sha256\">%s</code>"
	    "</td></tr>\n<tr><th>Valid until</th><td id=\"not-after\">%s"
	    "</td></tr>\n</table>\n"
	    "<p>Before you trust it, compare the fingerprint with the one "
	    "your administrator gave you.</p>\n", wc->wc_sha256,
	    wc->wc_not_after) < 0)
		return (-1);
	return (0);
}

/* The other devices, a link each. */
static int
webui_page_others(struct evbuffer *b, enum webui_os os)
{
	size_t	 i;

	if (evbuffer_add_printf(b, "<h2>Other devices</h2>\n"
	    "<ul id=\"others\">\n") < 0)
		return (-1);
	for (i = WEBUI_OS_UNKNOWN + 1; i < WEBUI_OS_MAX; i++) {
		if (i == (size_t)os)
			continue;
		if (evbuffer_add_printf(b, "<li><a href=\"/?os=%s\">%s</a>"
		    "</li>\n", webui_os_key((enum webui_os)i),
		    webui_guides[i].g_name) < 0)
			return (-1);
	}
	return (evbuffer_add_printf(b, "</ul>\n%s", webui_formats) < 0 ?
	    -1 : 0);
}

int
webui_page_index(struct evbuffer *b, const struct webui_ca *wc,
    enum webui_os os)
{
	if ((unsigned)os >= WEBUI_OS_MAX)
		os = WEBUI_OS_UNKNOWN;
	if (evbuffer_add(b, webui_head, strlen(webui_head)) == -1)
		return (-1);
	if (wc->wc_pem == NULL)
		return (evbuffer_add_printf(b, "%s%s", webui_nocert,
		    webui_tail) < 0 ? -1 : 0);
	if (webui_page_lead(b, os) == -1 || webui_page_facts(b, wc) == -1 ||
	    webui_page_others(b, os) == -1 ||
	    evbuffer_add(b, webui_tail, strlen(webui_tail)) == -1)
		return (-1);
	return (0);
}

/*
 * The iOS and iPadOS configuration profile, as mitmctl's "ca export
 * mobileconfig" writes it (common/mobileconfig.c). Installing it is not
 * enough; the page tells the user about Certificate Trust Settings.
 */
int
webui_page_mobileconfig(struct evbuffer *b, const struct webui_ca *wc)
{
	char	*mc;
	size_t	 len;
	int	 rv;

	if (wc->wc_der == NULL || (mc = mobileconfig_make(wc->wc_der,
	    wc->wc_derlen, wc->wc_name, &len)) == NULL)
		return (-1);
	rv = evbuffer_add(b, mc, len);
	free(mc);
	return (rv);
}
