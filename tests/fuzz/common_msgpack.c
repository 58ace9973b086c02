/*
 * libFuzzer target for the msgpack bound checks (common/decode_msgpack.c):
 * the first byte is the depth (1 to 40, past msgpack-c's 32), the second
 * the object bound (1 to 256, 0: the default), the rest one msgpack
 * value. The walk must never let through what msgpack-c cannot unpack
 * whole: when it accepts, msgpack_unpack_next() succeeds and ends where
 * the walk did, the conversion makes valid JSON, and larger bounds accept
 * it too. msgpack-c only ever sees what the walk accepted, so a length
 * that lies can never reach its allocator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "common/decode.h"
#include "common/decode_int.h"

#define FUZZ_HDR	2
#define FZ_DEPTH_MAX	40
#define FZ_JSON_MAX	(1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_unpack(const uint8_t *p, size_t n, size_t used)
{
	msgpack_unpacked u;
	size_t		 off = 0;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)p, n, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != used)
		abort();
	msgpack_unpacked_destroy(&u);
}

static void
fz_json(const uint8_t *p, size_t n, uint32_t depth, uint32_t objects)
{
	struct decode_limits lim;
	struct dbuf	 out, chk;
	char		 err[DECODE_ERROR_MAX];
	int		 rv;

	decode_limits_default(&lim);
	lim.dl_max_depth = depth;
	lim.dl_max_objects = objects;
	lim.dl_max_out = FZ_JSON_MAX;
	dbuf_init(&out, lim.dl_max_out);
	rv = decode_msgpack_json(p, n, &lim, &out, err, sizeof(err));
	if (rv == DEC_OK) {
		dbuf_init(&chk, out.db_len * 2 + 16);
		if (decode_json_format(out.db_p, out.db_len, DECODE_DEPTH_CAP,
		    0, &chk, err, sizeof(err)) != DEC_OK)
			abort();
		dbuf_free(&chk);
	} else if (rv != DEC_FAIL || (!out.db_full && err[0] == '\0'))
		abort();
	dbuf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*p = data + FUZZ_HDR;
	size_t		 n, used, used2;
	uint32_t	 depth, objects;
	char		 err[DECODE_ERROR_MAX];

	if (size < FUZZ_HDR)
		return 0;
	n = size - FUZZ_HDR;
	depth = 1 + data[0] % FZ_DEPTH_MAX;
	objects = data[1] == 0 ? DECODE_DEF_MAX_OBJECTS : data[1];
	err[0] = '\0';
	if (decode_msgpack_check(p, n, depth, objects, &used, err,
	    sizeof(err)) != DEC_OK) {
		if (err[0] == '\0' || used != 0)
			abort();
		return 0;
	}
	if (used == 0 || used > n)
		abort();
	fz_unpack(p, n, used);
	/* larger bounds accept what smaller ones did, the same length */
	if (decode_msgpack_check(p, n, DECODE_DEPTH_CAP,
	    DECODE_DEF_MAX_OBJECTS, &used2, err, sizeof(err)) != DEC_OK ||
	    used2 != used)
		abort();
	fz_json(p, used, depth, objects);
	return 0;
}
