/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rt.h - helpers for the runtime suite: the nprocs x backend variants, which
 * of them run where, and loop counts sized for the build (TSan runs ~10x
 * slower) and the place (TCG in the VM, ~10x slower again).
 *
 * Every variant-driven test runs under each backend: natively sysmon, none
 * and bpf (kmod skips: the host cannot load the module); in the VM
 * (SACT_REQUIRE_KMOD=1) kmod and bpf, and sysmon/none skip (they ran
 * natively).  bpf skips without root, anywhere.  Plain TEST()s run
 * natively only.
 */
#ifndef RT_H
#define RT_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sact.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define RT_SANITIZED 1
#else
#define RT_SANITIZED 0
#endif

static inline int rt_in_vm(void)
{
	const char *e = getenv("SACT_REQUIRE_KMOD");

	return e && !strcmp(e, "1");
}

#if defined(__SANITIZE_THREAD__)
#define RT_DIV	10			/* TSan: a tenth */
#elif defined(__SANITIZE_ADDRESS__)
#define RT_DIV	4
#else
#define RT_DIV	1
#endif
/* n loops, scaled down for sanitizers and for TCG (a tenth in the VM) */
#define RT_SCALE(n) ({								long _d = RT_DIV * (rt_in_vm() ? 10 : 1);				(n) / _d ? (n) / _d : 1;					})

/* Why a test with this backend does not run here, or NULL (see the top). */
static inline const char *rt_elsewhere(enum sact_backend b)
{
	int kmod = b == SACT_BACKEND_KMOD, bpf = b == SACT_BACKEND_BPF;

	if (rt_in_vm() && !kmod && !bpf)
		return "runs natively";
	if (kmod && !rt_in_vm() && access("/dev/sact", F_OK))
		return "/dev/sact absent: sact.ko not loaded";
	if (bpf && geteuid() != 0)
		return "bpf needs root";
	return NULL;
}

/* Plain TEST()s: natively only. */
#define rt_native_only()							do {										if (rt_in_vm())									SKIP(return, "runs natively");				} while (0)

/*
 * Declare FIXTURE(f) with variants nprocs {1, 2, 4} x {sysmon, none, bpf,
 * kmod}; the setup skips what does not run here (a SKIP in a setup does
 * not stop the body in this harness: the test's child exits as skipped).
 */
#define RT_FIXTURE(f)							\
	FIXTURE(f) { int unused; };					\
	FIXTURE_VARIANT(f) { int nprocs; enum sact_backend backend; };	\
	FIXTURE_SETUP(f)						\
	{								\
		const char *_why = rt_elsewhere(variant->backend);	\
									\
		if (_why)						\
			SKIP(_exit(255), "%s", _why);			\
	}								\
	FIXTURE_TEARDOWN(f) { }						\
	FIXTURE_VARIANT_ADD(f, p1_sysmon) { 1, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p2_sysmon) { 2, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p4_sysmon) { 4, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p1_none) { 1, SACT_BACKEND_NONE };	\
	FIXTURE_VARIANT_ADD(f, p2_none) { 2, SACT_BACKEND_NONE };	\
	FIXTURE_VARIANT_ADD(f, p4_none) { 4, SACT_BACKEND_NONE };	\
	FIXTURE_VARIANT_ADD(f, p1_bpf) { 1, SACT_BACKEND_BPF };		\
	FIXTURE_VARIANT_ADD(f, p2_bpf) { 2, SACT_BACKEND_BPF };		\
	FIXTURE_VARIANT_ADD(f, p4_bpf) { 4, SACT_BACKEND_BPF };		\
	FIXTURE_VARIANT_ADD(f, p1_kmod) { 1, SACT_BACKEND_KMOD };	\
	FIXTURE_VARIANT_ADD(f, p2_kmod) { 2, SACT_BACKEND_KMOD };	\
	FIXTURE_VARIANT_ADD(f, p4_kmod) { 4, SACT_BACKEND_KMOD }

static inline struct sact_config rt_config(int nprocs,
					   enum sact_backend backend)
{
	struct sact_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.nprocs = nprocs;
	c.standby = -1;
	c.backend = backend;
	return c;
}

/* sact_run with the variant's configuration. */
#define rt_run(fn, arg) ({						\
	struct sact_config _c = rt_config(variant->nprocs,		\
					  variant->backend);		\
	sact_run(&_c, (fn), (arg));					\
})

#endif /* RT_H */
