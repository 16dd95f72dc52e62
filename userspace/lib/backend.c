// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * backend.c - names of the backends that hand a blocked M's P to another M,
 * and the choice among them at sact_run (struct backend_ops: internal.h).
 *
 * AUTO tries, in order, kmod (/dev/sact opens and takes our CONFIG), bpf
 * (the sched_switch program loads: root, a kernel with BTF), then sysmon.
 * An explicitly requested backend that cannot start makes sact_run fail
 * with its init's -errno (-ENODEV: no module; -EPERM: bpf without
 * privilege; -EOPNOTSUPP: bpf without BTF; -E2BIG: too many Ps or Ms for
 * it).  The one-line reason goes to stderr only with SACT_DEBUG=1; AUTO
 * falls through silently otherwise.
 */
#include <stdio.h>
#include <string.h>

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

bool backend_debug(void)
{
	const char *e = getenv("SACT_DEBUG");

	return e && !strcmp(e, "1");
}

char backend_why[160];

/* Say why a backend could not start (its init's backend_why, else the
 * errno), if SACT_DEBUG=1. */
void backend_say(const struct backend_ops *ops, int err)
{
	if (backend_debug())
		fprintf(stderr, "sact: backend %s unavailable: %s\n",
			sact_backend_name(ops->id),
			backend_why[0] ? backend_why : strerror(-err));
	backend_why[0] = '\0';
}

/* AUTO: the backend to try after ops failed to start, or NULL. */
const struct backend_ops *backend_next(const struct backend_ops *ops)
{
	if (ops == &backend_kmod)
		return &backend_bpf;
	if (ops == &backend_bpf)
		return &backend_sysmon;
	return NULL;
}

/*
 * The ops for b (for AUTO: the first to try; sact_run walks backend_next
 * while init fails), or NULL with *err set.
 */
const struct backend_ops *backend_select(enum sact_backend b, int *err)
{
	switch (b) {
	case SACT_BACKEND_AUTO:
	case SACT_BACKEND_KMOD:
		return &backend_kmod;
	case SACT_BACKEND_SYSMON:
		return &backend_sysmon;
	case SACT_BACKEND_NONE:
		return &backend_none;
	case SACT_BACKEND_BPF:
		return &backend_bpf;
	}
	*err = -EINVAL;
	return NULL;
}
