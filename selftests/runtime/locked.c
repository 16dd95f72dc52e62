// SPDX-License-Identifier: GPL-2.0
/*
 * locked.c - sact_lock_thread (Go's LockOSThread): a locked G runs only on
 * its thread, across every kind of runtime call and block, and that thread
 * runs no other G meanwhile, while the other Gs keep running on the other
 * threads; the lock nests; a G that exits locked frees its thread; a
 * locked G waiting for a plain thread is not a deadlock, and one waiting
 * for nothing is.
 *
 * Every assertion is a count of thread ids (gettid), never a time.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

ST_FIXTURE_NOSTRICT(locked);

#define ROUNDS	(ST_SANITIZED ? 20 : 60)
#define OTHERS	5
#define OTHER_ROUNDS 200

struct run {
	_Atomic pid_t tid;		/* the locked G's thread */
	_Atomic int locked;		/* 1 while the G is locked */
	_Atomic int moved;		/* the locked G found another tid */
	_Atomic int intruders;		/* another G ran on the locked tid */
	_Atomic int others_done;
	bool raw_wait;			/* a raw read may wait for a G */
	int pipefd[2];
	struct sact_sem sem;
	struct sact_waitgroup wg;
};

static void check_tid(struct run *r)
{
	if (gettid() != atomic_load(&r->tid))
		atomic_fetch_add(&r->moved, 1);
}

/* The ways a G leaves the CPU or enters the runtime, each then checked. */
static void locked_g(void *arg)
{
	struct run *r = arg;
	struct timespec ts = { 0, 50000 };
	char c;

	if (sact_lock_thread())
		abort();
	atomic_store(&r->tid, gettid());
	atomic_store(&r->locked, 1);
	for (int i = 0; i < ROUNDS; i++) {
		switch (i % 6) {
		case 0:
			sact_yield();
			break;
		case 1:
			sact_sleep_ns(20000);		/* parks on a timer */
			break;
		case 2:
			sact_sem_acquire(&r->sem);	/* parks: a G releases */
			break;
		case 3:
			sact_nanosleep(&ts, NULL);	/* wrapped block */
			break;
		case 4:
			usleep(50);			/* raw block */
			break;
		case 5:
			/* raw, a G writes: not under none, where a raw block
			 * keeps the P the writer may need */
			if (r->raw_wait && read(r->pipefd[0], &c, 1) != 1)
				abort();
			break;
		}
		check_tid(r);
	}
	atomic_store(&r->locked, 0);
	sact_unlock_thread();
	sact_wg_done(&r->wg);
}

/* The other Gs: run, block, yield; note whether they ran on its thread. */
static void other_g(void *arg)
{
	struct run *r = arg;
	volatile unsigned long x = 0;

	for (int i = 0; i < OTHER_ROUNDS; i++) {
		if (atomic_load(&r->locked) &&
		    gettid() == atomic_load(&r->tid))
			atomic_fetch_add(&r->intruders, 1);
		if (i % 3 == 0)
			sact_sem_release(&r->sem);
		if (i % 3 == 1 && write(r->pipefd[1], "x", 1) != 1)
			abort();
		for (int k = 0; k < 2000; k++)
			x += k;
		sact_yield();
	}
	atomic_fetch_add(&r->others_done, 1);
	sact_wg_done(&r->wg);
}

static void first(void *arg)
{
	struct run *r = arg;

	sact_wg_add(&r->wg, 1 + OTHERS);
	sact_go(locked_g, r);
	for (int i = 0; i < OTHERS; i++)
		sact_go(other_g, r);
	sact_wg_wait(&r->wg);
}

TEST_F(locked, keeps_its_thread_and_the_thread_only_it)
{
	struct run r = { .raw_wait = variant->backend != SACT_BACKEND_NONE };

	ASSERT_EQ(0, pipe(r.pipefd));
	/* more releases and writes than the locked G consumes: none waits */
	ASSERT_EQ(0, st_run(first, &r));
	EXPECT_NE(0, atomic_load(&r.tid));
	EXPECT_EQ(0, atomic_load(&r.moved));
	EXPECT_EQ(0, atomic_load(&r.intruders));
	EXPECT_EQ(OTHERS, atomic_load(&r.others_done));
	close(r.pipefd[0]);
	close(r.pipefd[1]);
}

/* ---- nesting, errors, exiting locked ---------------------------------------- */

struct nest {
	int r1, r2, after_one, after_two;
	_Atomic int done;
	struct sact_waitgroup wg;
};

static int same_tid_after_yields(void)
{
	pid_t t = gettid();
	int same = 1;

	for (int i = 0; i < 10; i++) {
		sact_yield();
		sact_sleep_ns(1000);
		same &= gettid() == t;
	}
	return same;
}

static void nester(void *arg)
{
	struct nest *n = arg;

	sact_unlock_thread();		/* not locked: nothing */
	n->r1 = sact_lock_thread();
	n->r2 = sact_lock_thread();
	sact_unlock_thread();
	n->after_one = same_tid_after_yields();	/* still locked */
	sact_unlock_thread();
	n->after_two = 1;
	sact_wg_done(&n->wg);
}

static void exits_locked(void *arg)
{
	struct nest *n = arg;

	sact_lock_thread();
	sact_lock_thread();
	atomic_fetch_add(&n->done, 1);
	sact_wg_done(&n->wg);
}	/* returns locked: its thread is unwired and serves the others */

static void spinner(void *arg)
{
	struct nest *n = arg;

	for (int i = 0; i < 20; i++)
		sact_yield();
	atomic_fetch_add(&n->done, 1);
	sact_wg_done(&n->wg);
}

static void nest_main(void *arg)
{
	struct nest *n = arg;

	sact_wg_add(&n->wg, 1 + 4);
	sact_go(nester, n);
	for (int i = 0; i < 4; i++)
		sact_go(exits_locked, n);
	sact_wg_wait(&n->wg);
	sact_wg_add(&n->wg, 16);
	for (int i = 0; i < 16; i++)
		sact_go(spinner, n);
	sact_wg_wait(&n->wg);
}

TEST_F(locked, nests_and_exit_unwires)
{
	struct nest n = { 0 };

	EXPECT_EQ(-EPERM, sact_lock_thread());	/* not in a G */
	sact_unlock_thread();			/* nothing */
	ASSERT_EQ(0, st_run(nest_main, &n));
	EXPECT_EQ(0, n.r1);
	EXPECT_EQ(0, n.r2);
	EXPECT_EQ(1, n.after_one);
	EXPECT_EQ(1, n.after_two);
	EXPECT_EQ(4 + 16, atomic_load(&n.done));
}

/* ---- waiting on a plain thread, and on nothing -------------------------- */

struct plain {
	struct sact_sem sem;
	_Atomic int waiting;
	int got;
	pid_t tid_before, tid_after;
};

static void *plain_releaser(void *arg)
{
	struct plain *p = arg;

	while (!atomic_load(&p->waiting))
		usleep(1000);
	usleep(20000);	/* not needed for the count: the G is more likely
			 * asleep in the semaphore by now */
	sact_sem_release(&p->sem);
	return NULL;
}

static void plain_waiter(void *arg)
{
	struct plain *p = arg;
	pthread_t t;

	/* made inside the run: checkdead counts it as a possible waker */
	if (pthread_create(&t, NULL, plain_releaser, p))
		abort();
	sact_lock_thread();
	p->tid_before = gettid();
	atomic_store(&p->waiting, 1);
	sact_sem_acquire(&p->sem);
	p->got = 1;
	p->tid_after = gettid();
	sact_unlock_thread();
	pthread_join(t, NULL);
}

TEST_F(locked, waits_for_a_plain_thread)
{
	struct plain p = { 0 };

	ASSERT_EQ(0, st_run(plain_waiter, &p));
	EXPECT_EQ(1, p.got);
	EXPECT_EQ(p.tid_before, p.tid_after);
}

static void waits_forever(void *arg)
{
	struct sact_sem *s = arg;

	sact_lock_thread();
	sact_sem_acquire(s);	/* nobody will ever release */
}

TEST_F(locked, waiting_for_nothing_is_a_deadlock)
{
	struct sact_config c = st_config(variant->nprocs, -1,
					 variant->backend, variant->flags);
	struct sact_sem sem = { 0 };
	char msg[4096];
	int status;

	st_run_child(_metadata, &c, waits_forever, &sem, &status, msg,
		     sizeof(msg));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x: %s", status, msg);
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(msg, "all Gs are asleep - deadlock"));
}

TEST_HARNESS_MAIN
