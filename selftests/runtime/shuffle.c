// SPDX-License-Identifier: GPL-2.0
/*
 * shuffle.c - no lost wakeups when the scheduling order is randomized.
 *
 * This binary sets SACT_SHUFFLE=1 before anything runs: runqput then drops
 * runnext at random, yield sometimes goes through the global queue, and a
 * full local queue is spilled in random order (as Go does under its race
 * detector), so tests that pass only thanks to one order fail here.  The
 * workloads are the wakeup-heavy ones: channel pairs across Ps, timed waits
 * racing their wakers (the g->claim protocol), condition-variable barriers.
 * A lost wakeup hangs a test, which the harness reports as a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <sact.h>

#include "sact_test.h"

__attribute__((constructor)) static void shuffle_on(void)
{
	setenv("SACT_SHUFFLE", "1", 1);
}

ST_FIXTURE(shuffle);

/* ---- many ping-pong pairs ------------------------------------------------ */

struct pair {
	struct sact_chan *a, *b;
	long n, got;
	struct sact_waitgroup *wg;
};

static void pair_echo(void *arg)
{
	struct pair *p = arg;
	long v;

	while (sact_chan_recv(p->a, &v) == 0)
		sact_chan_send(p->b, &v);
	sact_wg_done(p->wg);
}

static void pair_ping(void *arg)
{
	struct pair *p = arg;

	for (long i = 0; i < p->n; i++) {
		long v = i;

		sact_chan_send(p->a, &v);
		sact_chan_recv(p->b, &v);
		p->got += v;
	}
	sact_chan_close(p->a);
	sact_wg_done(p->wg);
}

#define NPAIRS 16
static void pairs_main(void *arg)
{
	struct pair *pairs = arg;
	struct sact_waitgroup wg = SACT_WAITGROUP_INIT;

	sact_wg_add(&wg, 2 * NPAIRS);
	for (int i = 0; i < NPAIRS; i++) {
		pairs[i].wg = &wg;
		sact_go(pair_echo, &pairs[i]);
		sact_go(pair_ping, &pairs[i]);
	}
	sact_wg_wait(&wg);
}

TEST_F(shuffle, channel_pairs)
{
	struct pair pairs[NPAIRS];
	long n = ST_SCALE(3000);

	for (int i = 0; i < NPAIRS; i++) {
		pairs[i] = (struct pair){ .n = n };
		pairs[i].a = sact_chan_new(sizeof(long), i % 2);
		pairs[i].b = sact_chan_new(sizeof(long), 0);
	}
	ASSERT_EQ(0, st_run(pairs_main, pairs));
	for (int i = 0; i < NPAIRS; i++) {
		EXPECT_EQ(n * (n - 1) / 2, pairs[i].got);
		sact_chan_free(pairs[i].a);
		sact_chan_free(pairs[i].b);
	}
}

/* ---- timed waits racing their wakers --------------------------------------- */

struct race {
	struct sact_sem sem;
	struct sact_waitgroup wg;
	atomic_long acquired, released, timeouts;
	long per;
};

static void race_taker(void *arg)
{
	struct race *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed;

	for (long i = 0; i < r->per; i++) {
		/* 0-20 us: about as long as a release takes to come */
		int err = sact_sem_timedacquire(&r->sem,
						rand_r(&seed) % 20000);

		if (err == 0)
			atomic_fetch_add(&r->acquired, 1);
		else if (err == -ETIMEDOUT)
			atomic_fetch_add(&r->timeouts, 1);
	}
	sact_wg_done(&r->wg);
}

static void race_giver(void *arg)
{
	struct race *r = arg;

	for (long i = 0; i < r->per; i++) {
		sact_sem_release(&r->sem);
		atomic_fetch_add(&r->released, 1);
		if (i % 3 == 0)
			sact_yield();
	}
	sact_wg_done(&r->wg);
}

static void race_main(void *arg)
{
	struct race *r = arg;

	sact_wg_add(&r->wg, 8);
	for (int i = 0; i < 4; i++) {
		sact_go(race_taker, r);
		sact_go(race_giver, r);
	}
	sact_wg_wait(&r->wg);
}

TEST_F(shuffle, timed_waits_race_wakers)
{
	struct race r = { .per = ST_SCALE(5000) };

	ASSERT_EQ(0, st_run(race_main, &r));
	/* every unit released was taken exactly once or is still there */
	EXPECT_EQ(atomic_load(&r.released),
		  atomic_load(&r.acquired) + r.sem.count_);
	EXPECT_EQ(4 * r.per, atomic_load(&r.acquired) +
		  atomic_load(&r.timeouts));
}

/* ---- a barrier on a condition variable -------------------------------------- */

struct cbar {
	struct sact_mutex mu;
	struct sact_cond cv;
	struct sact_waitgroup wg;
	int n, arrived, gen, rounds;
	int bad;
};

static void cbar_g(void *arg)
{
	struct cbar *b = arg;

	for (int r = 0; r < b->rounds; r++) {
		sact_mutex_lock(&b->mu);
		if (b->gen != r)
			b->bad++;
		if (++b->arrived == b->n) {
			b->arrived = 0;
			b->gen++;
			sact_cond_broadcast(&b->cv);
		} else {
			int gen = b->gen;

			while (gen == b->gen)
				sact_cond_wait(&b->cv, &b->mu);
		}
		sact_mutex_unlock(&b->mu);
	}
	sact_wg_done(&b->wg);
}

static void cbar_main(void *arg)
{
	struct cbar *b = arg;

	sact_wg_add(&b->wg, b->n);
	for (int i = 0; i < b->n; i++)
		sact_go(cbar_g, b);
	sact_wg_wait(&b->wg);
}

TEST_F(shuffle, cond_barrier)
{
	struct cbar b = { .mu = SACT_MUTEX_INIT, .n = 10,
			  .rounds = ST_SCALE(500) };

	ASSERT_EQ(0, st_run(cbar_main, &b));
	EXPECT_EQ(b.rounds, b.gen);
	EXPECT_EQ(0, b.bad);
}

/* ---- sleepers and yielders mixed -------------------------------------------- */

struct mix {
	struct sact_waitgroup wg;
	atomic_long done;
};

static void mix_g(void *arg)
{
	struct mix *m = arg;

	for (int i = 0; i < 20; i++) {
		if (i % 4 == 0)
			sact_sleep_ns(10000 * (i % 3));
		else
			sact_yield();
	}
	atomic_fetch_add(&m->done, 1);
	sact_wg_done(&m->wg);
}

static void mix_main(void *arg)
{
	struct mix *m = arg;
	int n = ST_SANITIZED ? 100 : 1000;

	sact_wg_add(&m->wg, n);
	for (int i = 0; i < n; i++)
		sact_go(mix_g, m);
	sact_wg_wait(&m->wg);
}

TEST_F(shuffle, sleepers_and_yielders)
{
	struct mix m = { 0 };

	ASSERT_EQ(0, st_run(mix_main, &m));
	EXPECT_EQ(ST_SANITIZED ? 100 : 1000, atomic_load(&m.done));
}

TEST_HARNESS_MAIN
