// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * backend.c - names of the backends that hand a blocked M's P to another M.
 */
#include <sact.h>

__attribute__((visibility("default")))
const char *sact_backend_name(enum sact_backend b)
{
	static const char *const names[] = {
		[SACT_BACKEND_AUTO]	= "auto",
		[SACT_BACKEND_KMOD]	= "kmod",
		[SACT_BACKEND_BPF]	= "bpf",
		[SACT_BACKEND_SYSMON]	= "sysmon",
		[SACT_BACKEND_NONE]	= "none",
	};

	if ((unsigned int)b >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[b];
}
