/*
 * The set of serial numbers certd has signed in this lifetime, so that no
 * two certificates of the CA ever share one (RFC 5280 4.1.2.2). Serials
 * are CERTD_SERIAL_BYTES random bytes drawn by certd itself, never chosen
 * by a worker, so their own bytes make a good hash; the all-zero value
 * marks an empty slot (a drawn serial is never zero: leaf.c sets a bit).
 * Linear probing, at most half full, doubled when it gets there.
 */
#include <stdlib.h>
#include <string.h>

#include "certd/certd.h"

static int
serial_empty(const uint8_t *s)
{
	static const uint8_t zero[CERTD_SERIAL_BYTES];

	return (memcmp(s, zero, sizeof(zero)) == 0);
}

static size_t
serial_hash(const uint8_t *s)
{
	uint64_t	h = 0;
	size_t		i;

	/* The bytes after the first, which carries fixed bits. */
	for (i = 1; i < CERTD_SERIAL_BYTES; i++)
		h = (h << 8 | h >> 56) ^ s[i];
	return ((size_t)h);
}

/* Where s is, or the empty slot where it goes. */
static size_t
serial_slot(const struct certd_serials *ss, const uint8_t *s)
{
	size_t mask = ss->ss_size - 1, i;

	for (i = serial_hash(s) & mask; !serial_empty(ss->ss_slots[i]);
	    i = (i + 1) & mask)
		if (memcmp(ss->ss_slots[i], s, CERTD_SERIAL_BYTES) == 0)
			break;
	return (i);
}

static int
serial_grow(struct certd_serials *ss)
{
	struct certd_serials	 n;
	size_t			 i;

	n.ss_size = ss->ss_size ? ss->ss_size * 2 : CERTD_SERIALS_INIT;
	if (n.ss_size < ss->ss_size ||
	    (n.ss_slots = calloc(n.ss_size, sizeof(*n.ss_slots))) == NULL)
		return (-1);
	n.ss_count = ss->ss_count;
	for (i = 0; i < ss->ss_size; i++)
		if (!serial_empty(ss->ss_slots[i]))
			memcpy(n.ss_slots[serial_slot(&n, ss->ss_slots[i])],
			    ss->ss_slots[i], CERTD_SERIAL_BYTES);
	free(ss->ss_slots);
	*ss = n;
	return (0);
}

int
certd_serials_add(struct certd_serials *ss,
    const uint8_t s[CERTD_SERIAL_BYTES])
{
	size_t i;

	/* Zero is the empty mark: say "taken" so the caller draws again. */
	if (serial_empty(s))
		return (0);
	if ((ss->ss_count + 1) * 2 > ss->ss_size && serial_grow(ss) == -1)
		return (-1);
	i = serial_slot(ss, s);
	if (!serial_empty(ss->ss_slots[i]))
		return (0);
	memcpy(ss->ss_slots[i], s, CERTD_SERIAL_BYTES);
	ss->ss_count++;
	return (1);
}

void
certd_serials_free(struct certd_serials *ss)
{
	free(ss->ss_slots);
	memset(ss, 0, sizeof(*ss));
}
