/*
 * First-match policy over the rule list the worker holds (see policy.h).
 * Runs in the sandbox on a host name taken from a request target that the
 * HTTP/1 parser already checked; hostpat_match itself is bounded work.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/hostpat.h"
#include "tlsworker/policy.h"

/* Master's table as this worker last heard it; expired entries are
 * skipped and reused, master sends the live ones to a new worker. */
static struct passthrough pt_table[POLICY_PT_MAX];
static size_t pt_n;

const struct conf_rule *
policy_match(const struct conf_rule *rules, size_t nrules, const char *host,
    struct policy_decision *pd)
{
	size_t	 i;

	/* every field is the match's: nothing of an earlier decision */
	memset(pd, 0, sizeof(*pd));
	for (i = 0; i < nrules; i++) {
		if (!hostpat_match(&rules[i].cr_pat, host))
			continue;
		pd->pd_action = rules[i].cr_action;
		pd->pd_index = rules[i].cr_index;
		pd->pd_line = rules[i].cr_line;
		return &rules[i];
	}
	pd->pd_action = POLICY_DEFAULT_ACTION;
	return NULL;
}

const char *
policy_rule_str(const struct policy_decision *pd, char *buf, size_t sz)
{
	if (pd->pd_passthrough)
		snprintf(buf, sz, "passthrough");
	else if (pd->pd_reverse)
		snprintf(buf, sz, "reverse");
	else if (pd->pd_local)
		snprintf(buf, sz, "mitmd.cert");
	else if (pd->pd_index == 0)
		snprintf(buf, sz, "default");
	else
		snprintf(buf, sz, "%u", (unsigned)pd->pd_index);
	return buf;
}

/* The same client: family and address, never the port. */
static int
pt_same_client(const struct addr *a, const struct addr *b)
{
	size_t	 n;

	if (a->a_family != b->a_family)
		return 0;
	n = a->a_family == AF_INET ? 4 : a->a_family == AF_INET6 ? 16 : 0;
	return memcmp(a->a_ip, b->a_ip, n) == 0;
}

void
policy_pt_update(const struct passthrough *p)
{
	struct passthrough	 e = *p;
	size_t			 i, victim = 0;

	if (p->pt_op == PT_CLEAR_ALL) {
		pt_n = 0;
		return;
	}
	if (p->pt_op != PT_ADD)
		return;
	e.pt_host[sizeof(e.pt_host) - 1] = '\0';
	for (i = 0; i < pt_n; i++) {
		if (pt_same_client(&pt_table[i].pt_client, &e.pt_client) &&
		    strcasecmp(pt_table[i].pt_host, e.pt_host) == 0) {
			pt_table[i] = e;
			return;
		}
		if (pt_table[i].pt_expires < pt_table[victim].pt_expires)
			victim = i;
	}
	if (pt_n < POLICY_PT_MAX)
		victim = pt_n++;
	pt_table[victim] = e;
}

void
policy_pt_apply(struct policy_decision *pd, const struct addr *client,
    const char *host, uint64_t now)
{
	const struct passthrough *p;
	size_t			 i;

	if (pd->pd_action != ACTION_INTERCEPT)
		return;
	for (i = 0; i < pt_n; i++) {
		p = &pt_table[i];
		if (p->pt_expires <= now || strcasecmp(p->pt_host, host) != 0)
			continue;
		if (p->pt_client.a_family != AF_UNSPEC &&
		    !pt_same_client(&p->pt_client, client))
			continue;
		pd->pd_action = ACTION_TUNNEL;
		pd->pd_passthrough = 1;
		return;
	}
}

size_t
policy_pt_count(void)
{
	return pt_n;
}
