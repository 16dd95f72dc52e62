// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * backend.c - names of the backends that hand a blocked M's P to another M,
 * and the choice among them at sact_run (struct backend_ops: internal.h).
 */
#include "internal.h"

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

/*
 * The ops for b, or NULL with *err set.  AUTO: sysmon today; once kmod and
 * bpf exist, AUTO tries kmod (if /dev/sact opens), then bpf (if it loads),
 * then sysmon, calling each one's init until one succeeds.
 */
const struct backend_ops *backend_select(enum sact_backend b, int *err)
{
	switch (b) {
	case SACT_BACKEND_AUTO:
	case SACT_BACKEND_SYSMON:
		return &backend_sysmon;
	case SACT_BACKEND_NONE:
		return &backend_none;
	case SACT_BACKEND_KMOD:
	case SACT_BACKEND_BPF:
		*err = -ENODEV;		/* not implemented yet */
		return NULL;
	}
	*err = -EINVAL;
	return NULL;
}
