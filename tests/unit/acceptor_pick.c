/*
 * Unit test of the acceptor's worker choice (acceptor/pick.c): least
 * loaded wins, the in-flight cap and the per-worker connection limit
 * exclude a worker, absent workers are skipped, ties rotate.
 */
#include <stdio.h>
#include <string.h>

#include "acceptor/acceptor.h"
#include "tests/unit/unit.h"


static void
up(struct acceptor_load *l, uint32_t open, uint32_t inflight)
{
	l->al_up = 1;
	l->al_open = open;
	l->al_inflight = inflight;
}

int
main(void)
{
	struct acceptor_load ld[8];
	int	 seen[4], i, w;

	memset(ld, 0, sizeof(ld));
	ok(acceptor_pick(ld, 0, 0, 32, 0) == -1, "no slots: none");
	ok(acceptor_pick(ld, 8, 0, 32, 0) == -1, "no worker up: none");

	up(&ld[2], 5, 0);
	ok(acceptor_pick(ld, 8, 0, 32, 0) == 2, "the only worker");
	up(&ld[5], 1, 1);
	ok(acceptor_pick(ld, 8, 0, 32, 0) == 5, "least loaded (open+inflight)");
	up(&ld[2], 0, 3);
	ok(acceptor_pick(ld, 8, 0, 32, 0) == 5, "in-flight counts as load");
	ld[5].al_inflight = 32;
	ok(acceptor_pick(ld, 8, 0, 32, 0) == 2, "worker at the cap skipped");
	ld[2].al_inflight = 32;
	ok(acceptor_pick(ld, 8, 0, 32, 0) == -1, "all at the cap: none");

	memset(ld, 0, sizeof(ld));
	up(&ld[0], 99, 1);
	up(&ld[1], 10, 0);
	ok(acceptor_pick(ld, 8, 0, 32, 100) == 1, "max_conns: full worker "
	    "skipped");
	ld[1].al_open = 100;
	ok(acceptor_pick(ld, 8, 0, 32, 100) == -1, "max_conns: all full");
	ok(acceptor_pick(ld, 8, 0, 32, 0) == 0, "max_conns 0: no limit");

	/* Ties: the start rotates the choice among equal workers. */
	memset(ld, 0, sizeof(ld));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 4; i++)
		up(&ld[i], 2, 0);
	for (i = 0; i < 8; i++) {
		w = acceptor_pick(ld, 8, (size_t)i, 32, 0);
		if (w >= 0 && w < 4)
			seen[w]++;
	}
	ok(seen[0] && seen[1] && seen[2] && seen[3], "ties rotate with start");
	ok(acceptor_pick(ld, 8, 3, 32, 0) == 3, "tie: first from start");
	ok(acceptor_pick(ld, 8, 6, 32, 0) == 0, "tie: wraps around");

	return (unit_done());
}
