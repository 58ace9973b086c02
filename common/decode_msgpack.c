/*
 * msgpack for the decoder chain (decode.h): one value to JSON text.
 *
 * msgpack-c trusts the lengths it reads: an array header that declares
 * 2^32 elements makes it ask its zone for 2^32 objects before it reads
 * one, and the depth it can unpack is fixed at MSGPACK_EMBED_STACK_SIZE.
 * So every value is first walked here without allocating anything: each
 * type byte known, each length within the bytes left, each array or map
 * declaring no more elements than bytes left (an element is one byte at
 * least), the values counted against max_objects and the nesting against
 * the depth. Only what passes goes to msgpack_unpack_next(), whose zone
 * then holds at most max_objects objects (48 bytes a map pair); strings,
 * bin and ext point into the input. The fuzz target common_msgpack
 * checks that the two always agree.
 *
 * JSON has no bin, ext or non-string keys: bin becomes a base64 string,
 * ext {"ext":type,"base64":"..."}, a key that is not a string the string
 * of its JSON text, a float NaN or infinity null, invalid UTF-8 in a str
 * U+FFFD.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <msgpack/unpack_define.h>	/* MSGPACK_EMBED_STACK_SIZE */

#include "common/decode_int.h"
#include "common/util.h"

#define MP_NUM_MAX	32	/* "-1.7976931348623157e+308" */
#define MP_FLT_DIGITS	15	/* shortest of 15..17 digits that reads back */

struct mpwalk {
	const uint8_t	*mw_p;
	size_t		 mw_n;
	size_t		 mw_i;
	uint32_t	 mw_max_depth;
	uint32_t	 mw_max_objects;
	uint32_t	 mw_objects;
	const char	*mw_why;
	size_t		 mw_at;
	uint64_t	 mw_declared;	/* of a refused container */
};

uint32_t
decode_msgpack_depth(uint32_t asked)
{
	return MIN(asked, (uint32_t)MSGPACK_EMBED_STACK_SIZE);
}

static int
mw_fail(struct mpwalk *w, const char *why)
{
	if (w->mw_why == NULL) {
		w->mw_why = why;
		w->mw_at = w->mw_i;
	}
	return -1;
}

/* A big-endian unsigned of k bytes (1, 2, 4 or 8). */
static int
mw_uint(struct mpwalk *w, size_t k, uint64_t *v)
{
	size_t i;

	*v = 0;
	if (w->mw_n - w->mw_i < k)
		return mw_fail(w, "unexpected end");
	for (i = 0; i < k; i++)
		*v = *v << 8 | w->mw_p[w->mw_i++];
	return 0;
}

static int
mw_skip(struct mpwalk *w, uint64_t k)
{
	if (w->mw_n - w->mw_i < k)
		return mw_fail(w, "unexpected end");
	w->mw_i += (size_t)k;
	return 0;
}

/* A length of lk bytes, then a type byte for ext, then the data. */
static int
mw_data(struct mpwalk *w, size_t lk, int ext)
{
	uint64_t len;

	if (mw_uint(w, lk, &len) == -1)
		return -1;
	return mw_skip(w, len + (ext ? 1 : 0));
}

static int	mw_value(struct mpwalk *, uint32_t depth);

/* n elements (a map's pairs count twice). */
static int
mw_container(struct mpwalk *w, uint64_t n, uint32_t depth)
{
	uint64_t i;

	if (depth >= w->mw_max_depth)
		return mw_fail(w, "nested too deep");
	if (n > w->mw_n - w->mw_i ||
	    n > (uint64_t)(w->mw_max_objects - w->mw_objects)) {
		w->mw_declared = n;
		return mw_fail(w, n > w->mw_n - w->mw_i ?
		    "more elements declared than bytes left" :
		    "too many objects");
	}
	for (i = 0; i < n; i++)
		if (mw_value(w, depth + 1) == -1)
			return -1;
	return 0;
}

/* The sizes that follow the type bytes 0xc4 to 0xdf: what each is. */
enum mw_what { MW_FIXED, MW_DATA, MW_EXT, MW_ARRAY, MW_MAP, MW_BAD };
static const struct {
	uint8_t	 mt_what;
	uint8_t	 mt_size;	/* bytes of the value, or of its length */
} mw_types[] = {
	/* c4..c6 bin 8/16/32 */
	{ MW_DATA, 1 }, { MW_DATA, 2 }, { MW_DATA, 4 },
	/* c7..c9 ext 8/16/32 */
	{ MW_EXT, 1 }, { MW_EXT, 2 }, { MW_EXT, 4 },
	/* ca, cb float 32/64; cc..cf uint 8..64; d0..d3 int 8..64 */
	{ MW_FIXED, 4 }, { MW_FIXED, 8 },
	{ MW_FIXED, 1 }, { MW_FIXED, 2 }, { MW_FIXED, 4 }, { MW_FIXED, 8 },
	{ MW_FIXED, 1 }, { MW_FIXED, 2 }, { MW_FIXED, 4 }, { MW_FIXED, 8 },
	/* d4..d8 fixext 1..16: the type byte and the data */
	{ MW_FIXED, 2 }, { MW_FIXED, 3 }, { MW_FIXED, 5 }, { MW_FIXED, 9 },
	{ MW_FIXED, 17 },
	/* d9..db str 8/16/32 */
	{ MW_DATA, 1 }, { MW_DATA, 2 }, { MW_DATA, 4 },
	/* dc, dd array 16/32; de, df map 16/32 */
	{ MW_ARRAY, 2 }, { MW_ARRAY, 4 }, { MW_MAP, 2 }, { MW_MAP, 4 },
};
#define MW_TYPES_FIRST	0xc4

static int
mw_value(struct mpwalk *w, uint32_t depth)
{
	uint64_t n;
	uint8_t	 t;
	size_t	 k;

	if (w->mw_objects >= w->mw_max_objects)
		return mw_fail(w, "too many objects");
	w->mw_objects++;
	if (w->mw_i >= w->mw_n)
		return mw_fail(w, "unexpected end");
	t = w->mw_p[w->mw_i++];
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
		return 0;	/* fixint, nil, false, true */
	if (t <= 0x8f)
		return mw_container(w, (uint64_t)(t & 0x0f) * 2, depth);
	if (t <= 0x9f)
		return mw_container(w, t & 0x0f, depth);
	if (t <= 0xbf)
		return mw_skip(w, t & 0x1f);
	if (t < MW_TYPES_FIRST) {
		w->mw_i--;
		return mw_fail(w, "type byte 0xc1 is never used");
	}
	k = mw_types[t - MW_TYPES_FIRST].mt_size;
	switch (mw_types[t - MW_TYPES_FIRST].mt_what) {
	case MW_FIXED:
		return mw_skip(w, k);
	case MW_DATA:
		return mw_data(w, k, 0);
	case MW_EXT:
		return mw_data(w, k, 1);
	case MW_ARRAY:
	case MW_MAP:
		if (mw_uint(w, k, &n) == -1)
			return -1;
		if (mw_types[t - MW_TYPES_FIRST].mt_what == MW_MAP)
			n *= 2;
		return mw_container(w, n, depth);
	default:
		return mw_fail(w, "bad type byte");
	}
}

int
decode_msgpack_check(const uint8_t *p, size_t n, uint32_t max_depth,
    uint32_t max_objects, size_t *used, char *err, size_t errsz)
{
	struct mpwalk w;

	memset(&w, 0, sizeof(w));
	w.mw_p = p;
	w.mw_n = n;
	w.mw_max_depth = decode_msgpack_depth(max_depth);
	w.mw_max_objects = max_objects;
	*used = 0;
	if (mw_value(&w, 0) == 0) {
		*used = w.mw_i;
		return DEC_OK;
	}
	if (strcmp(w.mw_why, "nested too deep") == 0)
		snprintf(err, errsz, "nested deeper than %u at byte %zu",
		    w.mw_max_depth, w.mw_at);
	else if (strcmp(w.mw_why, "too many objects") == 0)
		snprintf(err, errsz, "more than %u objects at byte %zu",
		    w.mw_max_objects, w.mw_at);
	else if (w.mw_declared != 0)
		snprintf(err, errsz, "%llu elements declared, %zu bytes left "
		    "at byte %zu", (unsigned long long)w.mw_declared,
		    w.mw_n - w.mw_at, w.mw_at);
	else
		snprintf(err, errsz, "%s at byte %zu", w.mw_why, w.mw_at);
	return DEC_FAIL;
}

/* The shortest of 15 to 17 significant digits that reads back the same;
 * null for what JSON cannot say. */
static int
mp_float(struct dbuf *b, double d)
{
	char	 num[MP_NUM_MAX];
	int	 prec;

	if (!isfinite(d))
		return dbuf_puts(b, "null");
	for (prec = MP_FLT_DIGITS; prec < 17; prec++) {
		snprintf(num, sizeof(num), "%.*g", prec, d);
		if (strtod(num, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(num, sizeof(num), "%.17g", d);
	return dbuf_puts(b, num);
}

static int	mp_json(struct dbuf *, const msgpack_object *);

/* A map key: a string as it is, anything else the string of its JSON. */
static int
mp_key(struct dbuf *b, const msgpack_object *k)
{
	struct dbuf	 t;
	int		 rv;

	if (k->type == MSGPACK_OBJECT_STR)
		return decode_json_str(b, (const uint8_t *)k->via.str.ptr,
		    k->via.str.size);
	dbuf_init(&t, b->db_max);
	rv = mp_json(&t, k);
	if (rv == 0)
		rv = decode_json_str(b, t.db_p, t.db_len);
	else {
		b->db_full |= t.db_full;
		b->db_nomem |= t.db_nomem;
	}
	dbuf_free(&t);
	return rv;
}

static int
mp_container(struct dbuf *b, const msgpack_object *o)
{
	uint32_t i;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		if (dbuf_put(b, "[", 1) == -1)
			return -1;
		for (i = 0; i < o->via.array.size; i++)
			if ((i > 0 && dbuf_put(b, ",", 1) == -1) ||
			    mp_json(b, &o->via.array.ptr[i]) == -1)
				return -1;
		return dbuf_put(b, "]", 1);
	}
	if (dbuf_put(b, "{", 1) == -1)
		return -1;
	for (i = 0; i < o->via.map.size; i++)
		if ((i > 0 && dbuf_put(b, ",", 1) == -1) ||
		    mp_key(b, &o->via.map.ptr[i].key) == -1 ||
		    dbuf_put(b, ":", 1) == -1 ||
		    mp_json(b, &o->via.map.ptr[i].val) == -1)
			return -1;
	return dbuf_put(b, "}", 1);
}

static int
mp_json(struct dbuf *b, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return dbuf_puts(b, "null");
	case MSGPACK_OBJECT_BOOLEAN:
		return dbuf_puts(b, o->via.boolean ? "true" : "false");
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return dbuf_u64(b, o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		/* -(i + 1) + 1 does not overflow at INT64_MIN */
		return dbuf_put(b, "-", 1) == -1 ? -1 : dbuf_u64(b,
		    (uint64_t)-(o->via.i64 + 1) + 1);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return mp_float(b, o->via.f64);
	case MSGPACK_OBJECT_STR:
		return decode_json_str(b, (const uint8_t *)o->via.str.ptr,
		    o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return decode_b64(b, (const uint8_t *)o->via.bin.ptr,
		    o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		if (dbuf_puts(b, "{\"ext\":") == -1 || (o->via.ext.type < 0 &&
		    dbuf_put(b, "-", 1) == -1) || dbuf_u64(b, (uint64_t)
		    (o->via.ext.type < 0 ? -o->via.ext.type : o->via.ext.type))
		    == -1 || dbuf_puts(b, ",\"base64\":") == -1 ||
		    decode_b64(b, (const uint8_t *)o->via.ext.ptr,
		    o->via.ext.size) == -1)
			return -1;
		return dbuf_put(b, "}", 1);
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		return mp_container(b, o);
	default:
		return dbuf_puts(b, "null");
	}
}

static int
mp_out_err(const struct dbuf *out, char *err, size_t errsz)
{
	if (out->db_nomem)
		return DEC_NOMEM;
	snprintf(err, errsz, "output past %zu bytes", out->db_max);
	return DEC_FAIL;
}

int
decode_msgpack_json(const uint8_t *p, size_t n,
    const struct decode_limits *lim, struct dbuf *out, char *err,
    size_t errsz)
{
	msgpack_unpacked	 u;
	size_t			 used, off = 0;
	int			 rv;

	if ((rv = decode_msgpack_check(p, n, lim->dl_max_depth,
	    lim->dl_max_objects, &used, err, errsz)) != DEC_OK)
		return rv;
	if (used != n) {
		snprintf(err, errsz, "trailing bytes at byte %zu", used);
		return DEC_FAIL;
	}
	msgpack_unpacked_init(&u);
	switch (msgpack_unpack_next(&u, (const char *)p, n, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		rv = mp_json(out, &u.data) == 0 ? DEC_OK :
		    mp_out_err(out, err, errsz);
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rv = DEC_NOMEM;
		break;
	default:
		/* the walk above let through what msgpack-c refuses */
		snprintf(err, errsz, "msgpack-c refused it");
		rv = DEC_FAIL;
		break;
	}
	msgpack_unpacked_destroy(&u);
	return rv;
}
