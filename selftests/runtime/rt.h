/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rt.h - helpers for the runtime suite: the nprocs x backend variants and
 * loop counts sized for the build (TSan runs ~10x slower).
 */
#ifndef RT_H
#define RT_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <sact.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define RT_SANITIZED 1
#else
#define RT_SANITIZED 0
#endif

#if defined(__SANITIZE_THREAD__)
#define RT_SCALE(n) ((n) / 10 ? (n) / 10 : 1)	/* TSan: a tenth */
#elif defined(__SANITIZE_ADDRESS__)
#define RT_SCALE(n) ((n) / 4 ? (n) / 4 : 1)
#else
#define RT_SCALE(n) (n)
#endif

/* Declare FIXTURE(f) with variants nprocs {1, 2, 4} x {sysmon, none}. */
#define RT_FIXTURE(f)							\
	FIXTURE(f) { int unused; };					\
	FIXTURE_SETUP(f) { }						\
	FIXTURE_TEARDOWN(f) { }						\
	FIXTURE_VARIANT(f) { int nprocs; enum sact_backend backend; };	\
	FIXTURE_VARIANT_ADD(f, p1_sysmon) { 1, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p2_sysmon) { 2, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p4_sysmon) { 4, SACT_BACKEND_SYSMON };	\
	FIXTURE_VARIANT_ADD(f, p1_none) { 1, SACT_BACKEND_NONE };	\
	FIXTURE_VARIANT_ADD(f, p2_none) { 2, SACT_BACKEND_NONE };	\
	FIXTURE_VARIANT_ADD(f, p4_none) { 4, SACT_BACKEND_NONE }

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
