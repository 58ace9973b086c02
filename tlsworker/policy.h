/*
 * The tlsworker's policy: which action a target host gets. Rules arrive
 * from master (IMSG_CONF_RULE) in config order and the first match wins;
 * a host no rule matches is intercepted under the rule named "default".
 * An intercept decision for a (client, host) that master's passthrough
 * table holds (pinned clients, IMSG_PASSTHROUGH) becomes a tunnel under
 * the rule named "passthrough".
 * Pure functions on the rule list and the table, so the unit test needs
 * no event loop.
 */
#ifndef MITMD_TLSWORKER_POLICY_H
#define MITMD_TLSWORKER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/proto.h"

#define POLICY_DEFAULT_ACTION ACTION_INTERCEPT
#define POLICY_RULE_STRLEN    sizeof("passthrough") /* or a rule index */
#define POLICY_PT_MAX	      1024	/* learned passthroughs kept */

/* What a connection keeps of its decision: a copy, so a reload that
 * replaces the rule list never leaves a dangling pointer behind. */
struct policy_decision {
	uint32_t pd_action;	/* enum conf_action */
	uint32_t pd_index;	/* 1-based rule index, 0 for the default */
	uint32_t pd_line;	/* config line, 0 for the default */
	uint32_t pd_passthrough; /* learned: an intercept made a tunnel */
	uint32_t pd_reverse;	/* a reverse listener decided, no rule */
	uint32_t pd_local;	/* mitmd.cert: the webui, no rule */
};

/* The first rule matching host (a name or an IP literal without
 * brackets), or NULL for the default. Fills *pd either way. */
const struct conf_rule *policy_match(const struct conf_rule *, size_t,
	    const char *host, struct policy_decision *);
/* "3", "default", "passthrough", "reverse" or "mitmd.cert", for audit
 * lines. */
const char *policy_rule_str(const struct policy_decision *, char *, size_t);

/* IMSG_PASSTHROUGH: PT_ADD one entry (replacing the same client and
 * host), PT_CLEAR_ALL. When full, the entry closest to expiry goes. */
void	 policy_pt_update(const struct passthrough *);
/* An intercept decision for this client and host (CONNECT target):
 * turn it into a tunnel if the table says so at wall time now (usec). */
void	 policy_pt_apply(struct policy_decision *, const struct addr *client,
	    const char *host, uint64_t now);
size_t	 policy_pt_count(void);

#endif
