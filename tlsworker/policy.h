/*
 * The tlsworker's policy: which action a target host gets. Rules arrive
 * from master (IMSG_CONF_RULE) in config order and the first match wins;
 * a host no rule matches is intercepted under the rule named "default".
 * Pure functions on the rule list, so the unit test needs no event loop.
 */
#ifndef MITMD_TLSWORKER_POLICY_H
#define MITMD_TLSWORKER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

#define POLICY_DEFAULT_ACTION ACTION_INTERCEPT
#define POLICY_RULE_STRLEN    sizeof("4294967295") /* "default" fits too */

/* What a connection keeps of its decision: a copy, so a reload that
 * replaces the rule list never leaves a dangling pointer behind. */
struct policy_decision {
	uint32_t pd_action;	/* enum conf_action */
	uint32_t pd_index;	/* 1-based rule index, 0 for the default */
	uint32_t pd_line;	/* config line, 0 for the default */
};

/* The first rule matching host (a name or an IP literal without
 * brackets), or NULL for the default. Fills *pd either way. */
const struct conf_rule *policy_match(const struct conf_rule *, size_t,
	    const char *host, struct policy_decision *);
/* "3" or "default", for audit lines. */
const char *policy_rule_str(const struct policy_decision *, char *, size_t);

#endif
