// SPDX-License-Identifier: GPL-2.0
/*
 * plain.c - plain threads (not Ms: the program's own pthreads, a library's
 * callback thread) in the primitives.  One that wakes a G readies it (no
 * abort, no "goready without a P"); one that waits parks itself, not a G;
 * a run whose Gs wait only on a plain thread is not a deadlock.
 *
 * For every primitive: Gs park on it, then a plain thread made inside the
 * run (it counts as a possible waker from then on) wakes them after the
 * G it waits for says they are parked.  Counts only; the plain thread's
 * 20 ms sleep just lets every M go idle first, so that the deadlock check
 * runs with only that thread left to wake anyone.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <sact.h>

#include "sact_test.h"

enum prim { SEM, WG, CHAN_SEND, CHAN_TRYSEND, CHAN_CLOSE, COND_SIGNAL,
	    COND_BROADCAST, MUTEX, NPRIM };

struct plain {
	enum prim prim;
	int nwaiters;
	_Atomic int parked, woken;
	struct sact_sem sem;
	struct sact_waitgroup wg, done;
	struct sact_chan *ch;
	struct sact_mutex mu;
	struct sact_cond cond;
	int go;			/* under mu (cond) */
	pthread_t thread;
};

static void waiter(void *arg)
{
	struct plain *p = arg;
	long v;

	switch (p->prim) {
	case SEM:
		atomic_fetch_add(&p->parked, 1);
		sact_sem_acquire(&p->sem);
		break;
	case WG:
		atomic_fetch_add(&p->parked, 1);
		sact_wg_wait(&p->wg);
		break;
	case CHAN_SEND:
	case CHAN_TRYSEND:
		atomic_fetch_add(&p->parked, 1);
		if (sact_chan_recv(p->ch, &v) != 0 || v != 42)
			return;		/* not counted: the test fails */
		break;
	case CHAN_CLOSE:
		atomic_fetch_add(&p->parked, 1);
		if (sact_chan_recv(p->ch, &v) != -EPIPE)
			return;
		break;
	case COND_SIGNAL:
	case COND_BROADCAST:
		sact_mutex_lock(&p->mu);
		atomic_fetch_add(&p->parked, 1);
		while (!p->go)
			sact_cond_wait(&p->cond, &p->mu);
		sact_mutex_unlock(&p->mu);
		break;
	case MUTEX:
		atomic_fetch_add(&p->parked, 1);
		sact_mutex_lock(&p->mu);	/* held by the plain thread */
		sact_mutex_unlock(&p->mu);
		break;
	case NPRIM:
		return;
	}
	atomic_fetch_add(&p->woken, 1);
	sact_wg_done(&p->done);
}

static void *waker(void *arg)
{
	struct plain *p = arg;
	long v = 42;

	if (p->prim == MUTEX)
		sact_mutex_lock(&p->mu);	/* a plain thread holds it */
	while (atomic_load(&p->parked) < p->nwaiters)
		usleep(1000);
	usleep(20000);
	switch (p->prim) {
	case SEM:
		for (int i = 0; i < p->nwaiters; i++)
			sact_sem_release(&p->sem);
		break;
	case WG:
		sact_wg_done(&p->wg);
		break;
	case CHAN_SEND:
		for (int i = 0; i < p->nwaiters; i++)
			sact_chan_send(p->ch, &v);
		break;
	case CHAN_TRYSEND:
		for (int i = 0; i < p->nwaiters; i++)
			while (sact_chan_trysend(p->ch, &v) != 0)
				usleep(1000);	/* no receiver queued yet */
		break;
	case CHAN_CLOSE:
		sact_chan_close(p->ch);
		break;
	case COND_SIGNAL:
	case COND_BROADCAST:
		sact_mutex_lock(&p->mu);
		p->go = 1;
		if (p->prim == COND_BROADCAST) {
			sact_cond_broadcast(&p->cond);
		} else {
			for (int i = 0; i < p->nwaiters; i++)
				sact_cond_signal(&p->cond);
		}
		sact_mutex_unlock(&p->mu);
		break;
	case MUTEX:
		sact_mutex_unlock(&p->mu);
		break;
	case NPRIM:
		break;
	}
	return NULL;
}

static void plain_main(void *arg)
{
	struct plain *p = arg;

	/* the mutex case: the plain thread must hold the mutex before the
	 * waiter tries it, so it starts first and the waiter waits for it */
	if (pthread_create(&p->thread, NULL, waker, p) != 0)
		return;
	if (p->prim == MUTEX)
		while (sact_mutex_trylock(&p->mu) == 0) {
			sact_mutex_unlock(&p->mu);
			sact_sleep_ns(1000000);
		}
	sact_wg_add(&p->done, p->nwaiters);
	for (int i = 0; i < p->nwaiters; i++)
		sact_go(waiter, p);
	sact_wg_wait(&p->done);
}

ST_FIXTURE(plain);

TEST_F(plain, every_primitive_woken_by_a_plain_thread)
{
	for (int prim = 0; prim < NPRIM; prim++) {
		struct plain p = { .prim = prim };

		p.nwaiters = prim == MUTEX ? 1 : 3;
		p.ch = sact_chan_new(sizeof(long), 0);
		ASSERT_NE(NULL, p.ch);
		sact_wg_add(&p.wg, 1);
		ASSERT_EQ(0, st_run(plain_main, &p));
		pthread_join(p.thread, NULL);
		EXPECT_EQ(p.nwaiters, atomic_load(&p.woken))
			TH_LOG("primitive %d", prim);
		sact_chan_free(p.ch);
	}
}

/* ---- a plain thread that waits: parks itself, woken by a G -------------- */

struct pwait {
	struct sact_sem sem;
	struct sact_chan *ch;
	_Atomic int stage;
	long got;
	int timed;
	pthread_t thread;
};

static void *plain_waiter(void *arg)
{
	struct pwait *w = arg;

	atomic_store(&w->stage, 1);
	sact_sem_acquire(&w->sem);		/* a G releases it */
	atomic_store(&w->stage, 2);
	if (sact_chan_recv(w->ch, &w->got) != 0)	/* a G sends */
		w->got = -1;
	w->timed = sact_sem_timedacquire(&w->sem, 1000000);	/* nobody */
	atomic_store(&w->stage, 3);
	return NULL;
}

static void pwait_main(void *arg)
{
	struct pwait *w = arg;
	long v = 7;

	if (pthread_create(&w->thread, NULL, plain_waiter, w) != 0)
		return;
	while (atomic_load(&w->stage) < 1)
		sact_sleep_ns(1000000);
	sact_sem_release(&w->sem);
	sact_chan_send(w->ch, &v);	/* parks this G until it receives */
	while (atomic_load(&w->stage) < 3)
		sact_sleep_ns(1000000);
}

TEST_F(plain, a_plain_thread_waits_for_a_g)
{
	struct pwait w = { 0 };

	w.ch = sact_chan_new(sizeof(long), 0);
	ASSERT_NE(NULL, w.ch);
	ASSERT_EQ(0, st_run(pwait_main, &w));
	pthread_join(w.thread, NULL);
	EXPECT_EQ(3, atomic_load(&w.stage));
	EXPECT_EQ(7, w.got);
	EXPECT_EQ(-ETIMEDOUT, w.timed);
	sact_chan_free(w.ch);
}

TEST_HARNESS_MAIN
