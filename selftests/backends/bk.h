/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bk.h - helpers for the backends suite: one test body under each backend
 * x nprocs (FIXTURE_VARIANT), and the skip rules.
 *
 * Natively the kmod variants skip (the host cannot load the module); in the
 * VM (SACT_REQUIRE_KMOD=1) they must run, and the sysmon/none variants skip
 * there instead (they ran natively, and TCG is slow).  The bpf variants run
 * in both places (the guest's 6.1 kernel must load the program too) and
 * skip, anywhere, without root (-EPERM).
 */
#ifndef BK_H
#define BK_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sact.h>

static inline int bk_in_vm(void)
{
	const char *e = getenv("SACT_REQUIRE_KMOD");

	return e && !strcmp(e, "1");
}

/* flags: sact_config.flags (kmod's non-strict variants) */
#define BK_VARIANTS(f)							\
	FIXTURE_VARIANT(f) {						\
		int nprocs;						\
		enum sact_backend backend;				\
		unsigned int flags;					\
	};								\
	FIXTURE_VARIANT_ADD(f, p1_kmod) { 1, SACT_BACKEND_KMOD };	\
	FIXTURE_VARIANT_ADD(f, p2_kmod) { 2, SACT_BACKEND_KMOD };	\
	FIXTURE_VARIANT_ADD(f, p4_kmod) { 4, SACT_BACKEND_KMOD };	\
	FIXTURE_VARIANT_ADD(f, p1_kmod_nostrict)			\
		{ 1, SACT_BACKEND_KMOD, SACT_CONFIG_NO_STRICT };	\
	FIXTURE_VARIANT_ADD(f, p4_kmod_nostrict)			\
		{ 4, SACT_BACKEND_KMOD, SACT_CONFIG_NO_STRICT };	\
	FIXTURE_VARIANT_ADD(f, p1_bpf) { 1, SACT_BACKEND_BPF };	\
	FIXTURE_VARIANT_ADD(f, p2_bpf) { 2, SACT_BACKEND_BPF };	\
	FIXTURE_VARIANT_ADD(f, p4_bpf) { 4, SACT_BACKEND_BPF };	\
	FIXTURE_VARIANT_ADD(f, p1_sysmon) { 1, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p2_sysmon) { 2, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p1_none) { 1, SACT_BACKEND_NONE };	\
	FIXTURE_VARIANT_ADD(f, p2_none) { 2, SACT_BACKEND_NONE }

#define BK_FIXTURE(f)							\
	FIXTURE(f) { int unused; };					\
	FIXTURE_SETUP(f) { }						\
	FIXTURE_TEARDOWN(f) { }						\
	BK_VARIANTS(f)

/* Skip what does not belong here (see the top). */
#define bk_skip_elsewhere(_metadata, variant)				\
	do {								\
		if (bk_in_vm() && (variant)->backend != SACT_BACKEND_KMOD && \
		    (variant)->backend != SACT_BACKEND_BPF)		\
			SKIP(return, "runs natively");			\
	} while (0)

/*
 * sact_run with the variant's backend, nprocs and flags on top of *cfg (a
 * struct sact_config the test filled, e.g. with max_threads); an absent
 * module is a skip natively and a failure in the VM.  Evaluates to
 * sact_run's result.
 */
#define bk_run_cfg(_metadata, variant, cfg, fn, arg) ({			\
	struct sact_config *_c = (cfg);					\
	int _r;								\
									\
	_c->size = sizeof(*_c);						\
	_c->nprocs = (variant)->nprocs;					\
	_c->backend = (variant)->backend;				\
	_c->flags = (variant)->flags;					\
	_r = sact_run(_c, (fn), (arg));					\
	if (_r == -ENODEV && (variant)->backend == SACT_BACKEND_KMOD &&	\
	    !bk_in_vm())						\
		SKIP(return, "/dev/sact absent: sact.ko not loaded");	\
	if (_r == -EPERM && (variant)->backend == SACT_BACKEND_BPF &&	\
	    geteuid() != 0)						\
		SKIP(return, "bpf needs root");				\
	_r;								\
})

/* bk_run_cfg with the defaults and nstandby standby Ms. */
#define bk_run(_metadata, variant, nstandby, fn, arg) ({			\
	struct sact_config _bc;						\
									\
	memset(&_bc, 0, sizeof(_bc));					\
	_bc.standby = (nstandby);					\
	bk_run_cfg(_metadata, variant, &_bc, fn, arg);			\
})

#endif /* BK_H */
