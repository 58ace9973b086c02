/*
 * Unit test of the tlsworker's policy (tlsworker/policy.c): the first
 * matching rule wins, in config order; no match is "intercept" under the
 * rule named "default"; names match names and CIDRs match IP literals;
 * learned passthroughs turn intercept (only) into tunnel, per client or
 * for all, until they expire or the table is cleared.
 */
#include <stdio.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "tlsworker/policy.h"

#define T_MAX_RULES 16

static struct conf_rule rules[T_MAX_RULES];
static size_t nrules;

static void
rule(uint32_t action, const char *pat, uint32_t line)
{
	struct conf_rule *r = &rules[nrules];
	const char	*err = NULL;

	memset(r, 0, sizeof(*r));
	if (hostpat_parse(pat, &r->cr_pat, &err) == -1) {
		printf("# cannot parse %s: %s\n", pat, err);
		t_fail++;
		return;
	}
	r->cr_action = action;
	r->cr_line = line;
	r->cr_index = (uint32_t)++nrules;
}

/* The index of the matching rule (0 for the default) and its action. */
static int
decide(const char *host, uint32_t index, uint32_t action)
{
	struct policy_decision	 pd;
	const struct conf_rule	*r;

	r = policy_match(rules, nrules, host, &pd);
	if (pd.pd_index != index || pd.pd_action != action)
		printf("# %s: rule %u action %u\n", host, pd.pd_index,
		    pd.pd_action);
	return pd.pd_index == index && pd.pd_action == action &&
	    (index == 0 ? r == NULL : r == &rules[index - 1] &&
	    pd.pd_line == r->cr_line);
}

static void
pt_add(const char *client, const char *host, uint64_t expires)
{
	struct passthrough p;

	memset(&p, 0, sizeof(p));
	p.pt_op = PT_ADD;
	if (client != NULL)
		addr_parse_ip(client, &p.pt_client);
	else
		p.pt_client.a_family = AF_UNSPEC;
	p.pt_expires = expires;
	snprintf(p.pt_host, sizeof(p.pt_host), "%s", host);
	policy_pt_update(&p);
}

/* The action for client and host at time now after the default rule. */
static uint32_t
pt_decide(const char *client, const char *host, uint64_t now,
    struct policy_decision *pd)
{
	struct addr a;

	addr_parse_ip(client, &a);
	a.a_port = 40000;
	policy_match(rules, 0, host, pd);
	policy_pt_apply(pd, &a, host, now);
	return pd->pd_action;
}

static void
test_passthrough(void)
{
	struct policy_decision	 pd;
	struct passthrough	 clr;
	char			 buf[POLICY_RULE_STRLEN];
	uint64_t		 now = 1000;
	size_t			 i;

	CHECK(pt_decide("10.0.0.1", "pinned.example", now, &pd) ==
	    ACTION_INTERCEPT, "empty table: intercept");
	pt_add("10.0.0.1", "pinned.example", now + 10);
	CHECK(pt_decide("10.0.0.1", "Pinned.Example", now, &pd) ==
	    ACTION_TUNNEL && pd.pd_passthrough && strcmp(policy_rule_str(&pd,
	    buf, sizeof(buf)), "passthrough") == 0,
	    "learned for this client: tunnel, rule=passthrough");
	CHECK(pt_decide("10.0.0.2", "pinned.example", now, &pd) ==
	    ACTION_INTERCEPT, "another client still intercepted");
	CHECK(pt_decide("10.0.0.1", "other.example", now, &pd) ==
	    ACTION_INTERCEPT, "another host still intercepted");
	CHECK(pt_decide("10.0.0.1", "pinned.example", now + 10, &pd) ==
	    ACTION_INTERCEPT, "expired");
	pt_add(NULL, "all.example", now + 10);
	CHECK(pt_decide("10.9.9.9", "all.example", now, &pd) == ACTION_TUNNEL,
	    "learned for every client");
	pt_add("10.0.0.1", "pinned.example", now + 100);
	CHECK(policy_pt_count() == 2 && pt_decide("10.0.0.1",
	    "pinned.example", now + 50, &pd) == ACTION_TUNNEL,
	    "a new entry for the same pair replaces the old");
	rule(ACTION_BLOCK, "all.example", 20);
	policy_match(rules, nrules, "all.example", &pd);
	policy_pt_apply(&pd, &(struct addr){ .a_family = AF_INET },
	    "all.example", now);
	CHECK(pd.pd_action == ACTION_BLOCK && !pd.pd_passthrough,
	    "a block stays a block");
	nrules--;
	for (i = 0; i < POLICY_PT_MAX + 10; i++) {
		snprintf(buf, sizeof(buf), "h%zu", i);
		pt_add("10.0.0.3", buf, now + 1000 + i);
	}
	CHECK(policy_pt_count() == POLICY_PT_MAX, "table bounded");
	CHECK(pt_decide("10.0.0.3", "h1033", now, &pd) == ACTION_TUNNEL,
	    "the newest is kept");
	memset(&clr, 0, sizeof(clr));
	clr.pt_op = PT_CLEAR_ALL;
	policy_pt_update(&clr);
	CHECK(policy_pt_count() == 0 && pt_decide("10.0.0.3", "h1033", now,
	    &pd) == ACTION_INTERCEPT, "cleared");
}

int
main(void)
{
	struct policy_decision	 pd;
	char			 buf[POLICY_RULE_STRLEN];

	CHECK(decide("example.com", 0, ACTION_INTERCEPT),
	    "no rules: default intercept");
	CHECK(policy_match(rules, 0, "x", &pd) == NULL && pd.pd_line == 0 &&
	    strcmp(policy_rule_str(&pd, buf, sizeof(buf)), "default") == 0,
	    "default rule string");

	rule(ACTION_BLOCK, "*.doubleclick.net", 10);		/* 1 */
	rule(ACTION_TUNNEL, "*.apple.com", 11);			/* 2 */
	rule(ACTION_TUNNEL, "pinned.example", 12);		/* 3 */
	rule(ACTION_BLOCK, "10.0.0.0/8", 13);			/* 4 */
	rule(ACTION_TUNNEL, "2001:db8::/32", 14);		/* 5 */
	rule(ACTION_BLOCK, "apple.com", 15);			/* 6 */
	rule(ACTION_INTERCEPT, "www.apple.com", 16);		/* 7 */
	rule(ACTION_TUNNEL, "*", 17);				/* 8 */

	CHECK(decide("ad.doubleclick.net", 1, ACTION_BLOCK), "suffix");
	CHECK(decide("a.b.doubleclick.net", 1, ACTION_BLOCK), "deep suffix");
	CHECK(decide("AD.DoubleClick.NET", 1, ACTION_BLOCK), "case");
	CHECK(decide("ad.doubleclick.net.", 1, ACTION_BLOCK), "trailing dot");
	CHECK(decide("doubleclick.net", 8, ACTION_TUNNEL),
	    "suffix does not match the bare domain");
	CHECK(decide("www.apple.com", 2, ACTION_TUNNEL),
	    "first match wins over a later exact rule");
	CHECK(decide("apple.com", 6, ACTION_BLOCK), "exact after suffix");
	CHECK(decide("pinned.example", 3, ACTION_TUNNEL), "exact");
	CHECK(decide("x.pinned.example", 8, ACTION_TUNNEL),
	    "exact does not match a subdomain");
	CHECK(decide("10.1.2.3", 4, ACTION_BLOCK), "v4 literal in CIDR");
	CHECK(decide("11.1.2.3", 8, ACTION_TUNNEL), "v4 literal outside");
	CHECK(decide("2001:db8::1", 5, ACTION_TUNNEL), "v6 literal in CIDR");
	CHECK(decide("10.example", 8, ACTION_TUNNEL),
	    "a name never matches a CIDR");
	policy_match(rules, nrules, "ad.doubleclick.net", &pd);
	CHECK(strcmp(policy_rule_str(&pd, buf, sizeof(buf)), "1") == 0 &&
	    pd.pd_line == 10, "rule string and line");

	nrules = 0;
	rule(ACTION_TUNNEL, "a.example", 3);
	CHECK(decide("b.example", 0, ACTION_INTERCEPT),
	    "no match: default again");
	test_passthrough();
	return unit_done();
}
