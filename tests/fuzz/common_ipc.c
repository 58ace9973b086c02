/*
 * libFuzzer target for the IPC decoder: any datagram, with or without an
 * fd, from any sender role to any receiver, then the typed receivers of
 * the variable-length messages. Nothing may crash, read out of bounds or
 * accept a message its rule forbids.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "common/log.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", 0);
	log_set_sink(log_discard);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg	 m;
	struct ipc_log	 l;
	const char	*why, *pem;
	char		 text[IPC_TEXT_MAX + IPC_LOG_MAX + 1];
	size_t		 len;
	uint8_t		*copy;
	int		 s, r, ok, hasfd;

	if (size < 1)
		return 0;
	hasfd = data[0] & 1;
	/* A private copy, so reads past the end are caught by ASan. */
	if ((copy = malloc(size - 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (ipc_decode(copy, size - 1, hasfd, &m, &why) == 0) {
		m.im_fd = hasfd ? 0 : -1;
		for (s = ROLE_NONE; s <= ROLE_MAX; s++)
			for (r = ROLE_NONE; r <= ROLE_MAX; r++) {
				if (ipc_validate((enum role)s, (enum role)r,
				    &m, &why) != 0)
					continue;
				if (m.im_hdr.ih_len > IPC_MAX_PAYLOAD)
					abort(); /* validated yet too long */
			}
		(void)ipc_get_log(&m, &l, text, sizeof(text));
		(void)ipc_get_ctl_result(&m, &ok, text, sizeof(text));
		if (ipc_get_ca_cert(&m, &pem, &len) == 0 && len > size)
			abort();
	}
	free(copy);
	return 0;
}
