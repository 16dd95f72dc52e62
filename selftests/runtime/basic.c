// SPDX-License-Identifier: GPL-2.0
/*
 * basic.c - sact_run, sact_go, sact_yield: Gs run, exit by returning,
 * spawn more Gs; sact_run returns when all have exited and runs again; the
 * context switch keeps callee-saved registers, MXCSR and the x87 control
 * word; configuration errors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <xmmintrin.h>

#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

ST_FIXTURE(basic);

struct count {
	atomic_long n;
	long want;
	int nprocs;
	enum sact_backend seen;
	int go_err;
};

static void inc(void *arg)
{
	struct count *c = arg;

	atomic_fetch_add(&c->n, 1);
}

static void spawn_many(void *arg)
{
	struct count *c = arg;

	c->seen = sact_backend();
	for (long i = 0; i < c->want; i++)
		if (sact_go(inc, c))
			c->go_err++;
}

TEST_F(basic, run_spawn_exit)
{
	struct count c = { .want = ST_SCALE(10000) };

	ASSERT_EQ(0, st_run(spawn_many, &c));
	EXPECT_EQ(c.want, atomic_load(&c.n));
	EXPECT_EQ(0, c.go_err);
	EXPECT_EQ(variant->backend, c.seen);
	EXPECT_EQ(variant->backend, sact_backend());
	/* and again, in the same process */
	atomic_store(&c.n, 0);
	ASSERT_EQ(0, st_run(spawn_many, &c));
	EXPECT_EQ(c.want, atomic_load(&c.n));
}

/* A tree: each G spawns two children until depth 0. */
static atomic_long tree_n;
static void tree(void *arg)
{
	long depth = (long)arg;

	atomic_fetch_add(&tree_n, 1);
	if (depth > 0) {
		sact_go(tree, (void *)(depth - 1));
		sact_go(tree, (void *)(depth - 1));
	}
}

TEST_F(basic, spawn_tree)
{
	long depth = ST_SANITIZED ? 10 : 14;

	atomic_store(&tree_n, 0);
	ASSERT_EQ(0, st_run(tree, (void *)depth));
	EXPECT_EQ((1L << (depth + 1)) - 1, atomic_load(&tree_n));
}

/* Yield ping: N Gs each yield K times, counting; the total is exact. */
struct yields {
	atomic_long n;
	long gs, k;
};

static void yielder(void *arg)
{
	struct yields *y = arg;

	for (long i = 0; i < y->k; i++) {
		atomic_fetch_add(&y->n, 1);
		sact_yield();
	}
}

static void spawn_yielders(void *arg)
{
	struct yields *y = arg;

	for (long i = 0; i < y->gs; i++)
		sact_go(yielder, y);
}

TEST_F(basic, yield)
{
	struct yields y = { .gs = 20, .k = ST_SCALE(5000) };

	ASSERT_EQ(0, st_run(spawn_yielders, &y));
	EXPECT_EQ(y.gs * y.k, atomic_load(&y.n));
}

/*
 * Registers across switches: each G sets its own MXCSR rounding mode and
 * x87 precision, keeps values in locals the compiler must hold in
 * callee-saved registers across sact_yield, and checks them after each.
 */
struct regs {
	atomic_int bad;
};

static void reg_checker(void *arg)
{
	struct regs *r = arg;
	static atomic_long ids;
	long mode = atomic_fetch_add(&ids, 1) + 1000;
	unsigned int rc = (mode & 3) << 13;		/* MXCSR RC bits */
	unsigned short cw, cw_want = 0x037f & ~0x0300;	/* x87 PC: single */
	long a = mode, b = mode * 3, c = mode * 5, d = mode * 7, e = mode * 11;

	_mm_setcsr((_mm_getcsr() & ~0x6000) | rc);
	__asm__ volatile("fldcw %0" : : "m"(cw_want));
	for (int i = 0; i < 200; i++) {
		sact_yield();
		__asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d),
				 "+r"(e));
		__asm__ volatile("fnstcw %0" : "=m"(cw));
		if ((_mm_getcsr() & 0x6000) != rc || cw != cw_want ||
		    a != mode || b != mode * 3 || c != mode * 5 ||
		    d != mode * 7 || e != mode * 11)
			atomic_fetch_add(&r->bad, 1);
	}
}

static void spawn_checkers(void *arg)
{
	for (int i = 0; i < 16; i++)
		sact_go(reg_checker, arg);
}

TEST_F(basic, registers_preserved)
{
	struct regs r = { 0 };

	ASSERT_EQ(0, st_run(spawn_checkers, &r));
	EXPECT_EQ(0, atomic_load(&r.bad));
}

/*
 * nprocs Gs spin on a barrier without yielding: it completes only if every
 * P runs one of them at the same time (work reaches idle Ps: wakep,
 * stealing).  A broken distribution hangs and the harness times out.
 */
struct barrier {
	atomic_int arrived;
	int n;
};

static void spin_barrier(void *arg)
{
	struct barrier *b = arg;

	atomic_fetch_add(&b->arrived, 1);
	while (atomic_load(&b->arrived) < b->n)
		__builtin_ia32_pause();
}

static void spawn_barrier(void *arg)
{
	struct barrier *b = arg;

	for (int i = 0; i < b->n; i++)
		sact_go(spin_barrier, b);
}

TEST_F(basic, all_ps_run_at_once)
{
	struct barrier b = { .n = variant->nprocs };

	ASSERT_EQ(0, st_run(spawn_barrier, &b));
	EXPECT_EQ(b.n, atomic_load(&b.arrived));
}

/*
 * Fairness: with 1000 Gs yield-looping, the local queue of 256 overflows to
 * the global queue and never empties; Gs there must still run (the P checks
 * the global queue every 61 ticks), or this never ends.
 */
struct fair {
	atomic_int started;
	int n;
};

static void fair_g(void *arg)
{
	struct fair *f = arg;

	atomic_fetch_add(&f->started, 1);
	while (atomic_load(&f->started) < f->n)
		sact_yield();
}

static void spawn_fair(void *arg)
{
	struct fair *f = arg;

	for (int i = 0; i < f->n; i++)
		sact_go(fair_g, f);
}

TEST_F(basic, global_queue_not_starved)
{
	struct fair f = { .n = ST_SANITIZED ? 600 : 1000 };

	ASSERT_EQ(0, st_run(spawn_fair, &f));
	EXPECT_EQ(f.n, atomic_load(&f.started));
}

static void try_go(void *arg)
{
	(void)arg;
}

TEST(go_outside_run_is_eperm)
{
	st_native_only();
	EXPECT_EQ(-EPERM, sact_go(try_go, NULL));
}

static void *thread_go(void *arg)
{
	(void)arg;
	return (void *)(long)sact_go(try_go, NULL);
}

static void go_from_thread(void *arg)
{
	pthread_t t;
	void *ret;

	pthread_create(&t, NULL, thread_go, NULL);
	pthread_join(t, &ret);
	*(long *)arg = (long)ret;
}

TEST(go_from_foreign_thread_is_eperm)
{
	st_native_only();
	long ret = 0;

	ASSERT_EQ(0, sact_run(NULL, go_from_thread, &ret));
	EXPECT_EQ(-EPERM, ret);
}

static void nested_run(void *arg)
{
	*(int *)arg = sact_run(NULL, try_go, NULL);
}

TEST(config_errors)
{
	st_native_only();
	struct sact_config c = st_config(1, -1, SACT_BACKEND_KMOD, 0);
	int nested = 0;

	if (access("/dev/sact", F_OK))
		EXPECT_EQ(-ENODEV, sact_run(&c, try_go, NULL));
	c.backend = SACT_BACKEND_BPF;
	if (geteuid())		/* root: it loads (bpf variants test it) */
		EXPECT_EQ(-EPERM, sact_run(&c, try_go, NULL));
	c.backend = (enum sact_backend)42;
	EXPECT_EQ(-EINVAL, sact_run(&c, try_go, NULL));
	c = st_config(-1, -1, SACT_BACKEND_NONE, 0);
	EXPECT_EQ(-EINVAL, sact_run(&c, try_go, NULL));
	c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	c.size = 4;
	EXPECT_EQ(-EINVAL, sact_run(&c, try_go, NULL));
	c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	EXPECT_EQ(-EINVAL, sact_run(&c, NULL, NULL));
	/* AUTO: kmod if the module is there, else bpf as root (this kernel
	 * has BTF: the bpf variants need it), else sysmon */
	c = st_config(1, -1, SACT_BACKEND_AUTO, 0);
	EXPECT_EQ(0, sact_run(&c, try_go, NULL));
	EXPECT_EQ(!access("/dev/sact", F_OK) ? SACT_BACKEND_KMOD :
		  !geteuid() ? SACT_BACKEND_BPF : SACT_BACKEND_SYSMON,
		  sact_backend());
	/* a run inside a run */
	EXPECT_EQ(0, sact_run(NULL, nested_run, &nested));
	EXPECT_EQ(-EBUSY, nested);
	/* defaults */
	EXPECT_EQ(0, sact_run(NULL, try_go, NULL));
}

TEST_HARNESS_MAIN
