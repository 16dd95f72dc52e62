/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sact.h - the public API of libsact, an M:N (Go-style P/M/G) runtime that
 * hands a processor (P) to a parked thread the moment a worker blocks in the
 * kernel.
 *
 * Vocabulary (Go's): a G is a user-level thread, an M an OS thread, a P the
 * right to run Gs (nprocs of them). See HACKING.md for the design.
 *
 * Errors are returned as -errno, never through errno.
 */
#ifndef SACT_H
#define SACT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Running the runtime
 * ------------------------------------------------------------------------ */

/*
 * How a P leaves an M that blocked in the kernel.
 * AUTO: kmod if /dev/sact can be opened, else bpf if it loads, else sysmon.
 */
enum sact_backend {
	SACT_BACKEND_AUTO,
	SACT_BACKEND_KMOD,	/* the sact.ko module: block upcalls, strict mode */
	SACT_BACKEND_BPF,	/* a sched_switch BPF program (needs root) */
	SACT_BACKEND_SYSMON,	/* Go's polling monitor thread (20 us tick) */
	SACT_BACKEND_NONE,	/* no handoff: a blocked M keeps its P */
};

struct sact_config {
	size_t size;		/* sizeof(struct sact_config) */
	int nprocs;		/* 0: number of online CPUs */
	int standby;		/* parked Ms kept for handoff; <0: default */
	enum sact_backend backend;
	size_t stack_size;	/* 0: default */
};

/*
 * Run fn(arg) as the first G; return when it and every G it spawned exit.
 * 0 or -errno (e.g. -ENODEV when the requested backend is unavailable).
 */
int sact_run(const struct sact_config *cfg, void (*fn)(void *), void *arg);

/* Spawn a G running fn(arg). 0 or -errno. */
int sact_go(void (*fn)(void *), void *arg);

/* Put the calling G at the back of the run queue and run another. */
void sact_yield(void);

/* Park the calling G (not its M) for at least ns nanoseconds. */
void sact_sleep_ns(uint64_t ns);

/*
 * Like syscall(2), but P-aware: the P may run other Gs while this one is in
 * the kernel. Returns the raw kernel result: a negative value is -errno.
 */
long sact_syscall(long nr, ...);

/* The backend in use (inside sact_run), or the last one used. */
enum sact_backend sact_backend(void);

/* "auto", "kmod", "bpf", "sysmon", "none"; NULL for an unknown value. */
const char *sact_backend_name(enum sact_backend b);

#ifdef __cplusplus
}
#endif

#endif /* SACT_H */
