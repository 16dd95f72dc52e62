/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sact_test.h - the helpers every sact selftest suite shares (st_*): where a
 * test runs, the backend matrix, loop counts for the build and the place.
 * It includes the harness; include it instead, after <sact.h> for the
 * backend matrix and the loop counts, after <linux/sact.h> for the device.
 * (It includes neither: a suite includes what it tests; the two compile
 * together, as scripts/install-check shows.)
 *
 * Where: make test runs every suite natively (the host kernel: no module)
 * and in the VM (scripts/vm-suite: Debian's 6.1 kernel, sact.ko loaded,
 * root, BTF; it sets SACT_IN_VM=1).  st_in_vm() is the one test of which.
 * In the VM a missing /dev/sact or a bpf program that does not load is a
 * failure, never a skip: the guest has both.
 *
 * The backend matrix: ST_FIXTURE(f) declares FIXTURE(f) with variants
 * nprocs 1, 2, 4 x sysmon, none, bpf, kmod (ST_FIXTURE_NOSTRICT(f): and kmod
 * without strict mode at nprocs 1 and 4).  Its setup skips what does not
 * run here (st_elsewhere()): natively kmod without the module; in the VM
 * sysmon and none (they ran natively, and TCG is slow); bpf without root,
 * anywhere, and in TSan builds.  A fixture of a test's own uses st_skip_elsewhere() and the
 * same variant fields.
 */
#ifndef SACT_TEST_H
#define SACT_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

static inline bool st_in_vm(void)
{
	const char *e = getenv("SACT_IN_VM");

	return e && !strcmp(e, "1");
}

#ifdef SACT_H	/* <sact.h>: the runtime */
/*
 * Loop counts: TSan runs ~10x slower than the plain build, ASan+UBSan ~4x,
 * and TCG in the VM ~10x again.  ST_SCALE(n): n divided accordingly, >= 1.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ST_SANITIZED	1
#else
#define ST_SANITIZED	0
#endif
#if defined(__SANITIZE_THREAD__)
#define ST_DIV		10
#elif defined(__SANITIZE_ADDRESS__)
#define ST_DIV		4
#else
#define ST_DIV		1
#endif
#define ST_SCALE(n) ({						\
	long _d = ST_DIV * (st_in_vm() ? 10 : 1);		\
								\
	(n) / _d ? (n) / _d : 1;				\
})

/* Why a test of backend b does not run here, or NULL (see the top). */
static inline const char *st_elsewhere(enum sact_backend b)
{
	bool kmod = b == SACT_BACKEND_KMOD, bpf = b == SACT_BACKEND_BPF;

	if (st_in_vm() && !kmod && !bpf)
		return "runs natively";
	if (kmod && !st_in_vm() && access("/dev/sact", F_OK))
		return "/dev/sact absent: sact.ko not loaded";
	if (bpf && geteuid() != 0)
		return "bpf needs root";
#if defined(__SANITIZE_THREAD__)
	/*
	 * TSan runs a signal's handler at its next interceptor, not when the
	 * kernel delivers it: bpf's lost-P signal then runs inside the
	 * runtime (seen: lost_handler inside own_cas of keep_p, waiting for
	 * a P while the standby handed P0 sleeps - a hang in 1 of ~10 runs
	 * on a busy machine).  The plain and ASan builds run bpf.
	 */
	if (bpf)
		return "TSan defers bpf's lost-P signal (see sact_test.h)";
#endif
	return NULL;
}

/*
 * Skip the test unless backend b runs here.  The test's child exits as
 * skipped (a SKIP that returned from a fixture's setup would not stop the
 * body), so this works in a setup and in a body alike.
 */
#define st_skip_elsewhere(b) do {					\
	const char *_why = st_elsewhere(b);				\
									\
	if (_why)							\
		SKIP(_exit(255), "%s", _why);				\
} while (0)

/* A plain TEST() (no backend variant) runs natively only. */
#define st_native_only() do {						\
	if (st_in_vm())							\
		SKIP(return, "runs natively");				\
} while (0)

#define ST_FIXTURE(f)							\
	FIXTURE(f) { int unused; };					\
	FIXTURE_VARIANT(f) {						\
		int nprocs;						\
		enum sact_backend backend;				\
		unsigned int flags;	/* sact_config.flags */		\
	};								\
	FIXTURE_SETUP(f) { st_skip_elsewhere(variant->backend); }	\
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

#define ST_FIXTURE_NOSTRICT(f)						\
	ST_FIXTURE(f);							\
	FIXTURE_VARIANT_ADD(f, p1_kmod_nostrict)			\
		{ 1, SACT_BACKEND_KMOD, SACT_CONFIG_NO_STRICT };	\
	FIXTURE_VARIANT_ADD(f, p4_kmod_nostrict)			\
		{ 4, SACT_BACKEND_KMOD, SACT_CONFIG_NO_STRICT }

/* A configuration for sact_run; standby < 0: the default. */
static inline struct sact_config st_config(int nprocs, int standby,
					   enum sact_backend backend,
					   unsigned int flags)
{
	struct sact_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.nprocs = nprocs;
	c.standby = standby;
	c.backend = backend;
	c.flags = flags;
	return c;
}

/*
 * A watchdog for a test whose G stays blocked for good when the backend
 * fails it (a block not handed off, one P): a plain thread that, once 30 s
 * pass without *done, sets rescued and *release (if not NULL) and writes
 * a byte to fd, so that the test ends and fails instead of hanging.  A
 * correct run never waits for it: nothing is timed.
 */
struct st_watchdog {
	pthread_t t;
	_Atomic int *done, *release;
	int fd;
	_Atomic int rescued, stop;
};

static inline void *st_watchdog_main(void *arg)
{
	struct st_watchdog *w = arg;

	for (int i = 0; i < 300 && !atomic_load(w->done) &&
			!atomic_load(&w->stop); i++)
		usleep(100000);
	if (!atomic_load(w->done) && !atomic_load(&w->stop)) {
		atomic_store(&w->rescued, 1);
		if (w->release)
			atomic_store(w->release, 1);
		if (write(w->fd, "w", 1) != 1)
			return NULL;
	}
	return NULL;
}

/* Start w; 0 or an errno. */
static inline int st_watchdog_start(struct st_watchdog *w, _Atomic int *done,
				    _Atomic int *release, int fd)
{
	w->done = done;
	w->release = release;
	w->fd = fd;
	atomic_store(&w->rescued, 0);
	atomic_store(&w->stop, 0);
	return pthread_create(&w->t, NULL, st_watchdog_main, w);
}

/* Stop w and wait for it; true if it had to step in. */
static inline bool st_watchdog_stop(struct st_watchdog *w)
{
	atomic_store(&w->stop, 1);
	pthread_join(w->t, NULL);
	return atomic_load(&w->rescued);
}

/* A G that overflows its stack: ~1 MiB of frames on a 64 KiB stack. */
static __attribute__((unused, noinline)) int st_depth(int n)
{
	volatile char buf[1024];

	buf[0] = n;
	return n ? st_depth(n - 1) + buf[0] : 0;
}

static __attribute__((unused)) void st_overflow(void *arg)
{
	(void)arg;
	st_depth(1000);
}

/* sact_run with the variant's configuration and standby Ms; its result. */
#define st_run_standby(standby, fn, arg) ({				\
	struct sact_config _c = st_config(variant->nprocs, (standby),	\
					  variant->backend,		\
					  variant->flags);		\
									\
	sact_run(&_c, (fn), (arg));					\
})
#define st_run(fn, arg)	st_run_standby(-1, (fn), (arg))

/* sact_run with *cfg (the test's other fields: standby, max_threads...)
 * and the variant's nprocs, backend and flags; its result. */
#define st_run_cfg(cfg, fn, arg) ({					\
	struct sact_config *_cp = (cfg);				\
									\
	_cp->size = sizeof(*_cp);					\
	_cp->nprocs = variant->nprocs;					\
	_cp->backend = variant->backend;				\
	_cp->flags = variant->flags;					\
	sact_run(_cp, (fn), (arg));					\
})
/*
 * sact_run(cfg, fn, arg) in a child (cfg may be NULL), for a run that is
 * to die: its stderr into msg (len bytes, NUL-terminated), how it ended
 * into *status (waitpid).  The child exits 3 when sact_run gives -ENODEV,
 * else 0.  A failed pipe, fork or wait fails the test (the harness's
 * ASSERTs leave the test from here).
 */
static inline void st_run_child(struct __test_metadata *_metadata,
				const struct sact_config *cfg,
				void (*fn)(void *), void *arg, int *status,
				char *msg, size_t len)
{
	int fds[2];
	ssize_t n = 0, r;
	pid_t pid;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		dup2(fds[1], 2);
		_exit(sact_run(cfg, fn, arg) == -ENODEV ? 3 : 0);
	}
	close(fds[1]);
	while ((r = read(fds[0], msg + n, len - 1 - n)) > 0)
		n += r;
	msg[n] = 0;
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, status, 0));
}
#endif /* SACT_H */

/*
 * Open /dev/sact into *fdp.  Where the module is not loaded the test is
 * skipped, natively; in the VM that is a failure.
 */
#define sact_open_dev_or_skip(_metadata, fdp) do {			\
	*(fdp) = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);			\
	if (*(fdp) < 0 && errno == ENOENT && !st_in_vm())		\
		SKIP(return, SACT_DEVICE " absent: sact.ko not loaded");\
	ASSERT_LE(0, *(fdp))						\
		TH_LOG("open %s: %s", SACT_DEVICE, strerror(errno));	\
} while (0)

#endif /* SACT_TEST_H */
