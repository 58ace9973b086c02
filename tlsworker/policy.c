/*
 * First-match policy over the rule list the worker holds (see policy.h).
 * Runs in the sandbox on a host name taken from a request target that the
 * HTTP/1 parser already checked; hostpat_match itself is bounded work.
 */
#include <stdio.h>

#include "common/hostpat.h"
#include "tlsworker/policy.h"

const struct conf_rule *
policy_match(const struct conf_rule *rules, size_t nrules, const char *host,
    struct policy_decision *pd)
{
	size_t	 i;

	for (i = 0; i < nrules; i++) {
		if (!hostpat_match(&rules[i].cr_pat, host))
			continue;
		pd->pd_action = rules[i].cr_action;
		pd->pd_index = rules[i].cr_index;
		pd->pd_line = rules[i].cr_line;
		return &rules[i];
	}
	pd->pd_action = POLICY_DEFAULT_ACTION;
	pd->pd_index = 0;
	pd->pd_line = 0;
	return NULL;
}

const char *
policy_rule_str(const struct policy_decision *pd, char *buf, size_t sz)
{
	if (pd->pd_index == 0)
		snprintf(buf, sz, "default");
	else
		snprintf(buf, sz, "%u", (unsigned)pd->pd_index);
	return buf;
}
