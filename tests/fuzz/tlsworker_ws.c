/*
 * libFuzzer target for the WebSocket frame parser (tlsworker/ws.c). The
 * first byte picks the direction, permessage-deflate and the observation
 * limit; the rest is one direction of a connection. It is parsed three
 * times: whole, byte by byte, and in pseudo-random pieces seeded by the
 * input. The three runs must report the same sequence of callbacks (a
 * running hash over every event and every unmasked payload byte, and the
 * count of each kind), the payload pieces must be contiguous and inside
 * their frame, nothing may follow an error, and the input must not change.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsworker/ws.h"

#define FUZZ_HASH_SEED	 0xcbf29ce484222325ULL	/* FNV-1a 64 */
#define FUZZ_HASH_PRIME	 0x100000001b3ULL
#define FUZZ_MAX_PIECE	 64	/* largest random piece */

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_sum {
	uint64_t	 fs_hash;
	unsigned	 fs_frames, fs_messages, fs_controls, fs_notes;
	unsigned	 fs_errors;
	uint64_t	 fs_bytes;	/* payload bytes seen */
	uint64_t	 fs_next;	/* expected offset of the next piece */
	uint64_t	 fs_msg;	/* data frame bytes of the open message */
	int		 fs_closed;
};

static const uint64_t fuzz_limits[8] = { 0, 1, 16, 125, 1000, 65536,
    (uint64_t)1 << 40, UINT64_MAX };

static void
mix(struct fuzz_sum *s, uint64_t v)
{
	int	 i;

	for (i = 0; i < 8; i++) {
		s->fs_hash ^= (v >> (8 * i)) & 0xff;
		s->fs_hash *= FUZZ_HASH_PRIME;
	}
}

static void
fuzz_frame(void *arg, const struct ws_frame *f)
{
	struct fuzz_sum	*s = arg;

	if (s->fs_errors || s->fs_closed)
		abort();
	s->fs_frames++;
	s->fs_next = 0;
	mix(s, 'F');
	mix(s, (uint64_t)f->wf_opcode << 8 | (uint64_t)f->wf_fin << 4 |
	    (uint64_t)f->wf_rsv);
	mix(s, (uint64_t)f->wf_masked << 1 | (uint64_t)f->wf_nonminimal);
	mix(s, f->wf_len);
	mix(s, f->wf_msg_off);
	if ((f->wf_opcode & 0x8) && f->wf_len > WS_CONTROL_MAX)
		abort();
	if (!(f->wf_opcode & 0x8)) {
		if (f->wf_msg_off != s->fs_msg)
			abort();
		s->fs_msg = UINT64_MAX - s->fs_msg < f->wf_len ? UINT64_MAX :
		    s->fs_msg + f->wf_len;
	}
}

static void
fuzz_payload(void *arg, const struct ws_frame *f, const uint8_t *p,
    size_t n, uint64_t off)
{
	struct fuzz_sum	*s = arg;
	size_t		 i;

	if (n == 0 || off != s->fs_next || off + n > f->wf_len ||
	    (n > WS_UNMASK_CHUNK && f->wf_masked))
		abort();
	s->fs_next = off + n;
	s->fs_bytes += n;
	/* Byte by byte, so the split into pieces does not show. */
	for (i = 0; i < n; i++) {
		s->fs_hash ^= p[i];
		s->fs_hash *= FUZZ_HASH_PRIME;
	}
}

static void
fuzz_message(void *arg, const struct ws_message *m)
{
	struct fuzz_sum	*s = arg;

	if (m->wm_len != s->fs_msg || m->wm_frames == 0 ||
	    (m->wm_opcode != WS_OP_TEXT && m->wm_opcode != WS_OP_BINARY))
		abort();
	s->fs_messages++;
	s->fs_msg = 0;
	mix(s, 'M');
	mix(s, (uint64_t)m->wm_opcode << 8 |
	    (uint64_t)m->wm_compressed << 1 | (uint64_t)m->wm_oversize);
	mix(s, m->wm_len);
	mix(s, m->wm_frames);
}

static void
fuzz_control(void *arg, const struct ws_control *c)
{
	struct fuzz_sum	*s = arg;
	size_t		 i;
	unsigned	 sum = 0;

	if (c->wc_len > WS_CONTROL_MAX)
		abort();
	for (i = 0; i < c->wc_len; i++)
		sum += c->wc_data[i];
	if (c->wc_opcode == WS_OP_CLOSE) {
		if (c->wc_len == 1 || (c->wc_len >= 2 &&
		    !ws_close_code_valid((unsigned)c->wc_code)) ||
		    c->wc_reason_len + (c->wc_len ? 2 : 0) != c->wc_len)
			abort();
		s->fs_closed = 1;
	}
	s->fs_controls++;
	mix(s, 'C');
	mix(s, (uint64_t)c->wc_opcode << 32 | (uint32_t)c->wc_code);
	mix(s, (uint64_t)c->wc_len << 32 | sum);
}

static void
fuzz_note(void *arg, const char *what)
{
	struct fuzz_sum	*s = arg;

	s->fs_notes++;
	mix(s, 'N');
	mix(s, strlen(what));
}

static void
fuzz_error(void *arg, const char *why)
{
	struct fuzz_sum	*s = arg;

	if (s->fs_errors++ || why == NULL)
		abort();
	mix(s, 'E');
	mix(s, strlen(why));
}

static const struct ws_callbacks fuzz_cb = {
	fuzz_frame, fuzz_payload, fuzz_message, fuzz_control, fuzz_note,
	fuzz_error,
};

/* step 0: random pieces from seed; otherwise pieces of step bytes. */
static void
fuzz_run(struct fuzz_sum *s, uint8_t cfg, const uint8_t *in, size_t len,
    size_t step, uint64_t seed)
{
	struct ws_parser	 p;
	struct ws_limits	 lim;
	size_t			 off = 0, n;
	int			 r, err = 0;

	memset(s, 0, sizeof(*s));
	s->fs_hash = FUZZ_HASH_SEED;
	lim.wl_msg_max = fuzz_limits[(cfg >> 2) & 7];
	ws_init(&p, cfg & 1 ? WS_CLIENT_TO_SERVER : WS_SERVER_TO_CLIENT,
	    cfg & 2 ? WS_F_DEFLATE : 0, &lim);
	while (off < len) {
		if (step)
			n = step;
		else {
			/* xorshift64 */
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			n = (size_t)(seed % FUZZ_MAX_PIECE) + 1;
		}
		if (n > len - off)
			n = len - off;
		r = ws_feed(&p, in + off, n, &fuzz_cb, s);
		if (r == WS_ERROR) {
			if (p.wp_error == NULL || s->fs_errors != 1)
				abort();
			err = 1;
		} else if (r != WS_OK || err)
			abort();
		off += n;
	}
	if (!err && p.wp_total != len)
		abort();
	if (ws_closed(&p) != s->fs_closed && !err)
		abort();
}

static void
fuzz_same(const struct fuzz_sum *a, const struct fuzz_sum *b)
{
	if (a->fs_hash != b->fs_hash || a->fs_frames != b->fs_frames ||
	    a->fs_messages != b->fs_messages ||
	    a->fs_controls != b->fs_controls || a->fs_notes != b->fs_notes ||
	    a->fs_errors != b->fs_errors || a->fs_bytes != b->fs_bytes)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_sum	 whole, bytes, pieces;
	uint8_t		*copy;
	uint64_t	 seed;
	size_t		 len;

	if (size < 1)
		return 0;
	len = size - 1;
	if ((copy = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, len);
	seed = (uint64_t)size * 0x9e3779b97f4a7c15ULL | 1;
	fuzz_run(&whole, data[0], copy, len, len ? len : 1, 0);
	fuzz_run(&bytes, data[0], copy, len, 1, 0);
	fuzz_run(&pieces, data[0], copy, len, 0, seed ^ data[0]);
	fuzz_same(&whole, &bytes);
	fuzz_same(&whole, &pieces);
	/* The parser only reads: what is forwarded is what came in. */
	if (memcmp(copy, data + 1, len) != 0)
		abort();
	free(copy);
	return 0;
}
