// SPDX-License-Identifier: GPL-2.0
/*
 * rawloop.c - every raw block in a loop is handed off, not only the first
 * (issue 21).  nprocs = 1.  G A loops LOOPS times over a raw libc call that
 * blocks - read() on a pipe, usleep(), a futex wait - and a plain pthread
 * (not an M) wakes it each time; G B loops over sact_yield().
 *
 * The order is fixed, not timed: A publishes "entered block i" and blocks;
 * B, running, sees it and tells the waker; only then does the waker wake A
 * (usleep: A sleeps again until B has seen it).  B can run only on the one
 * P, and A held it when it published: so each of the LOOPS blocks must have
 * moved the P to another M (sact_stats.handoffs >= LOOPS, a count).
 *
 * And at most nprocs (1) Ms run G code: A and B count themselves into
 * `in_gcode` for a stretch of G code after each return to it (A right after
 * its call returns, B around its check); a second one inside is a breach.
 * An M that came back from a block without its P and ran on (bpf before
 * the fix: A ran beside B for the whole loop) is caught there.
 *
 * kmod: strict mode only (non-strict lets such an M run, by contract); the
 * variants run in the VM.  bpf: natively as root, and in the VM.  A waker
 * that waits more than 10 s for B wakes A anyway and counts a rescue: a
 * hang guard, itself a failure.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <sact.h>

#include "sact_test.h"

#define LOOPS	200

enum how { READ, USLEEP, FUTEX };

struct run {
	enum how how;
	int pfd[2];
	_Atomic uint32_t word;		/* FUTEX: A waits while word == i */
	_Atomic int entered;		/* A: about to block for the i-th time */
	_Atomic int seen;		/* B: saw entered == seen */
	_Atomic int done;		/* A finished */
	_Atomic int in_gcode;		/* Gs inside a counted stretch */
	_Atomic int breaches;		/* ... more than nprocs at once */
	_Atomic int rescues;		/* the waker did not wait for B */
	int nprocs;
	long sleeps;			/* USLEEP: usleep() calls made */
};

static void gcode_stretch(struct run *r)
{
	if (atomic_fetch_add(&r->in_gcode, 1) >= r->nprocs)
		atomic_fetch_add(&r->breaches, 1);
	for (volatile int i = 0; i < 2000; i++)
		;
	atomic_fetch_sub(&r->in_gcode, 1);
}

static void a_main(void *arg)
{
	struct run *r = arg;
	char c;

	for (int i = 1; i <= LOOPS; i++) {
		atomic_store(&r->entered, i);
		switch (r->how) {
		case READ:
			if (read(r->pfd[0], &c, 1) != 1)
				goto out;
			break;
		case USLEEP:
			do {
				usleep(200);
				r->sleeps++;
			} while (atomic_load(&r->seen) < i &&
				 !atomic_load(&r->rescues));
			break;
		case FUTEX:
			while (atomic_load(&r->word) < (uint32_t)i)
				syscall(SYS_futex, &r->word, FUTEX_WAIT_PRIVATE,
					i - 1, NULL, NULL, 0);
			break;
		}
		gcode_stretch(r);
	}
out:
	atomic_store(&r->done, 1);
}

static void b_main(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->done)) {
		int e = atomic_load(&r->entered);

		gcode_stretch(r);
		if (e > atomic_load(&r->seen)) {
			atomic_store(&r->seen, e);
			syscall(SYS_futex, &r->seen, FUTEX_WAKE_PRIVATE, 1,
				NULL, NULL, 0);
		}
		sact_yield();
	}
}

static void first(void *arg)
{
	sact_go(a_main, arg);
	sact_go(b_main, arg);
}

/* The plain thread: wake A's i-th block once B has seen it. */
static void *waker(void *arg)
{
	struct run *r = arg;

	for (int i = 1; i <= LOOPS && !atomic_load(&r->done); i++) {
		struct timespec t0, t;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (atomic_load(&r->seen) < i && !atomic_load(&r->done)) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			int s = atomic_load(&r->seen);

			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec > 10) {	/* hang guard */
				atomic_fetch_add(&r->rescues, 1);
				break;
			}
			if (s < i)
				syscall(SYS_futex, &r->seen, FUTEX_WAIT_PRIVATE,
					s, &ts, NULL, 0);
		}
		switch (r->how) {
		case READ:
			if (write(r->pfd[1], "x", 1) != 1)
				return NULL;
			break;
		case USLEEP:
			break;
		case FUTEX:
			atomic_store(&r->word, i);
			syscall(SYS_futex, &r->word, FUTEX_WAKE_PRIVATE, 1,
				NULL, NULL, 0);
			break;
		}
	}
	return NULL;
}

FIXTURE(rawloop) { int unused; };
FIXTURE_SETUP(rawloop) { }
FIXTURE_TEARDOWN(rawloop) { }
FIXTURE_VARIANT(rawloop) { int nprocs; enum sact_backend backend;
			   enum how how; unsigned int flags; };
FIXTURE_VARIANT_ADD(rawloop, kmod_read) { 1, SACT_BACKEND_KMOD, READ };
FIXTURE_VARIANT_ADD(rawloop, kmod_usleep) { 1, SACT_BACKEND_KMOD, USLEEP };
FIXTURE_VARIANT_ADD(rawloop, kmod_futex) { 1, SACT_BACKEND_KMOD, FUTEX };
FIXTURE_VARIANT_ADD(rawloop, bpf_read) { 1, SACT_BACKEND_BPF, READ };
FIXTURE_VARIANT_ADD(rawloop, bpf_usleep) { 1, SACT_BACKEND_BPF, USLEEP };
FIXTURE_VARIANT_ADD(rawloop, bpf_futex) { 1, SACT_BACKEND_BPF, FUTEX };

TEST_F_TIMEOUT(rawloop, every_block_handed_off, 120)
{
	struct run r = { .how = variant->how, .nprocs = variant->nprocs };
	struct sact_stats st = { .size = sizeof(st) };
	pthread_t wk;
	int err;

	st_skip_elsewhere(variant->backend);
	ASSERT_EQ(0, pipe(r.pfd));
	ASSERT_EQ(0, pthread_create(&wk, NULL, waker, &r));
	err = st_run_standby(1, first, &r);
	atomic_store(&r.done, 1);	/* a failed run: stop the waker */
	if (write(r.pfd[1], "x", 1) != 1)
		TH_LOG("cannot unblock the waker's pipe");
	pthread_join(wk, NULL);
	ASSERT_EQ(0, err);
	EXPECT_EQ(variant->backend, sact_backend());
	EXPECT_EQ(0, atomic_load(&r.rescues))
		TH_LOG("a block kept its P: the waker's hang guard woke A");
	EXPECT_EQ(LOOPS, atomic_load(&r.seen));
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(LOOPS, st.handoffs)
		TH_LOG("%d raw blocks, %llu handed off", LOOPS,
		       (unsigned long long)st.handoffs);
	EXPECT_EQ(0, atomic_load(&r.breaches))
		TH_LOG("more Ms than Ps ran G code %d times",
		       atomic_load(&r.breaches));
	close(r.pfd[0]);
	close(r.pfd[1]);
}

TEST_HARNESS_MAIN
