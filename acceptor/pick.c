/*
 * The choice of a worker for the next connection: the least loaded, where
 * load is the connections the worker last reported open plus the handoffs
 * it has not acknowledged yet. A worker at the in-flight cap, or at the
 * per-worker connection limit, takes nothing. Ties go round-robin from a
 * moving start so that idle workers share the first connections.
 * Pure, so the unit test drives it directly.
 */
#include "acceptor/acceptor.h"

int
acceptor_pick(const struct acceptor_load *ld, size_t n, size_t start,
    uint32_t max_inflight, uint32_t max_conns)
{
	uint64_t load, best_load = UINT64_MAX;
	size_t	 i, k;
	int	 best = -1;

	if (n == 0)
		return (-1);
	for (k = 0; k < n; k++) {
		i = (start + k) % n;
		if (!ld[i].al_up || ld[i].al_inflight >= max_inflight)
			continue;
		load = (uint64_t)ld[i].al_open + ld[i].al_inflight;
		if (max_conns != 0 && load >= max_conns)
			continue;
		/* Strictly less: the first in round-robin order wins ties. */
		if (load < best_load) {
			best_load = load;
			best = (int)i;
		}
	}
	return (best);
}
