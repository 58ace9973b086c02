/*
 * libFuzzer target for webui's check of worker events (webui/evparse.c):
 * any bytes as the text of an IMSG_EVENT. Nothing may crash or read out
 * of bounds; an accepted event holds no CR or LF (one event, one sink
 * line), its decoded strings are NUL-terminated inside their buffers, and
 * with its capture_b64 member cut out (as webui_event does for the sinks)
 * it is still accepted, without one. The same bytes go through the
 * base64 decoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "webui/webui.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", 0);
	log_set_sink(log_discard);
	return (0);
}

static void
check_strings(const struct wev *ev)
{
	if (memchr(ev->we_ts, '\0', sizeof(ev->we_ts)) == NULL ||
	    memchr(ev->we_url, '\0', sizeof(ev->we_url)) == NULL ||
	    memchr(ev->we_host, '\0', sizeof(ev->we_host)) == NULL ||
	    memchr(ev->we_cipher, '\0', sizeof(ev->we_cipher)) == NULL ||
	    memchr(ev->we_rule_str, '\0', sizeof(ev->we_rule_str)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct wev ev, ev2;
	static char	 cut[WEV_TEXT_MAX];
	static uint8_t	 out[WEV_TEXT_MAX];
	const char	*why = NULL, *text = (const char *)data;
	size_t		 n;

	(void)wev_b64_decode(text, len, out, sizeof(out));
	if (wev_parse(text, len, &ev, &why) == -1) {
		if (why == NULL)
			abort();
		return (0);
	}
	if (memchr(data, '\n', len) != NULL || memchr(data, '\r', len) !=
	    NULL || ev.we_type <= WEV_NONE || ev.we_type >= WEV_MAX)
		abort();
	check_strings(&ev);
	if (ev.we_cap_len == 0)
		return (0);
	if (ev.we_cap_off + ev.we_cap_len > len ||
	    ev.we_capv_off + ev.we_capv_len > len)
		abort();
	(void)wev_b64_decode(text + ev.we_capv_off, ev.we_capv_len, out,
	    sizeof(out));
	memcpy(cut, text, ev.we_cap_off);
	n = len - ev.we_cap_off - ev.we_cap_len;
	memcpy(cut + ev.we_cap_off, text + ev.we_cap_off + ev.we_cap_len, n);
	n += ev.we_cap_off;
	if (wev_parse(cut, n, &ev2, &why) == -1 || ev2.we_cap_len != 0 ||
	    ev2.we_seq != ev.we_seq || ev2.we_flow != ev.we_flow)
		abort();
	return (0);
}
