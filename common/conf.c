/*
 * Names of the configuration enums (common/conf.h), shared by master
 * (mitmd -nv, logs) and the children (audit lines), so every process
 * spells an action the way mitmd.conf(5) does.
 */
#include "common/conf.h"

const char *
conf_action_str(uint32_t action)
{
	switch (action) {
	case ACTION_BLOCK:
		return ("block");
	case ACTION_TUNNEL:
		return ("tunnel");
	case ACTION_INTERCEPT:
		return ("intercept");
	}
	return ("unknown");
}
