// SPDX-License-Identifier: GPL-2.0
/*
 * sync.c - mutex, condition variable, wait group, semaphore: exact counts
 * under contention, no starved waiter, try and timeout forms.  All park Gs:
 * with one P, contention among many Gs only works if waiting never blocks
 * the M.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

ST_FIXTURE(sync);

/* ---- mutex: exact counter, with yields inside the critical section ------ */

struct mu_test {
	struct sact_mutex mu;
	struct sact_waitgroup wg;
	long counter;		/* protected by mu */
	int inside;		/* protected by mu: must stay 0/1 */
	atomic_int bad;
	int gs, k;
};

static void mu_worker(void *arg)
{
	struct mu_test *t = arg;

	for (int i = 0; i < t->k; i++) {
		sact_mutex_lock(&t->mu);
		if (t->inside++)
			atomic_fetch_add(&t->bad, 1);
		t->counter++;
		if (i % 7 == 0)
			sact_yield();	/* others queue on the mutex */
		t->inside--;
		sact_mutex_unlock(&t->mu);
	}
	sact_wg_done(&t->wg);
}

static void mu_main(void *arg)
{
	struct mu_test *t = arg;

	sact_wg_add(&t->wg, t->gs);
	for (int i = 0; i < t->gs; i++)
		sact_go(mu_worker, t);
	sact_wg_wait(&t->wg);
}

TEST_F(sync, mutex_counter)
{
	struct mu_test t = { .mu = SACT_MUTEX_INIT, .gs = 32,
			     .k = ST_SCALE(2000) };

	ASSERT_EQ(0, st_run(mu_main, &t));
	EXPECT_EQ((long)t.gs * t.k, t.counter);
	EXPECT_EQ(0, atomic_load(&t.bad));
}

struct mu_forms {
	struct sact_mutex mu;
	int try_busy, timed_out, timed_ok, try_ok;
};

static void holder(void *arg)
{
	struct mu_forms *f = arg;

	sact_mutex_lock(&f->mu);
	sact_sleep_ns(30 * 1000000);
	sact_mutex_unlock(&f->mu);
}

static void mu_forms_main(void *arg)
{
	struct mu_forms *f = arg;

	sact_go(holder, f);
	sact_yield();		/* holder takes the mutex and sleeps */
	while (sact_mutex_trylock(&f->mu) == 0) {
		sact_mutex_unlock(&f->mu);	/* holder not there yet */
		sact_yield();
	}
	f->try_busy = sact_mutex_trylock(&f->mu);
	f->timed_out = sact_mutex_timedlock(&f->mu, 1000000);
	f->timed_ok = sact_mutex_timedlock(&f->mu, 10ULL * 1000000000);
	sact_mutex_unlock(&f->mu);
	f->try_ok = sact_mutex_trylock(&f->mu);
	sact_mutex_unlock(&f->mu);
}

TEST_F(sync, mutex_try_and_timeout)
{
	struct mu_forms f = { .mu = SACT_MUTEX_INIT };

	ASSERT_EQ(0, st_run(mu_forms_main, &f));
	EXPECT_EQ(-EBUSY, f.try_busy);
	EXPECT_EQ(-ETIMEDOUT, f.timed_out);
	EXPECT_EQ(0, f.timed_ok);
	EXPECT_EQ(0, f.try_ok);
}

/* ---- mutex: no waiter starves, timed waiters leave no trace ------------- */

/*
 * The running G may take the mutex again right after it unlocks (no
 * convoy), so a waiter can be passed - but not for ever.  The barger
 * locks, yields holding the mutex, unlocks, and again: each time the
 * woken waiter runs (during the barger's yield) the mutex is held, and it
 * loses.  After four losses the mutex hands itself over, so the waiter
 * has it within a few rounds; a mutex that let the barger win every race
 * would keep it for all BARGE_ROUNDS.  Mutual exclusion is checked too.
 * One P only: there the two alternate on one M, round by round; with
 * more, the waiter runs on another M, which a busy machine may not
 * schedule during any number of the barger's rounds.
 */
#define BARGE_ROUNDS	10000

struct barge {
	struct sact_mutex mu;
	atomic_int done, holding;
	int inside;		/* protected by mu */
	atomic_int bad;
	int rounds;
};

static void barger(void *arg)
{
	struct barge *t = arg;
	int i;

	for (i = 0; i < BARGE_ROUNDS && !atomic_load(&t->done); i++) {
		sact_mutex_lock(&t->mu);
		if (t->inside++)
			atomic_fetch_add(&t->bad, 1);
		atomic_store(&t->holding, 1);
		sact_yield();	/* the waiter runs, finds it held */
		t->inside--;
		sact_mutex_unlock(&t->mu);
	}
	t->rounds = i;
}

static void barge_waiter(void *arg)
{
	struct barge *t = arg;

	sact_mutex_lock(&t->mu);
	if (t->inside++)
		atomic_fetch_add(&t->bad, 1);
	t->inside--;
	atomic_store(&t->done, 1);
	sact_mutex_unlock(&t->mu);
}

static void barge_main(void *arg)
{
	struct barge *t = arg;

	sact_go(barger, t);
	while (!atomic_load(&t->holding))
		sact_yield();
	sact_go(barge_waiter, t);
}

TEST_F(sync, mutex_no_waiter_starves)
{
	static struct barge t;

	if (variant->nprocs != 1)
		SKIP(return, "rounds are counted at one P (see above)");
	t = (struct barge){ .mu = SACT_MUTEX_INIT };
	ASSERT_EQ(0, st_run(barge_main, &t));
	EXPECT_EQ(1, atomic_load(&t.done));
	EXPECT_GT(BARGE_ROUNDS, t.rounds);
	EXPECT_EQ(0, atomic_load(&t.bad));
	EXPECT_EQ(0, t.mu.state_);
}

struct timed {
	struct sact_mutex mu;
	atomic_int timed_out, entered;
	int try_after;
};

static void timed_waiter(void *arg)
{
	struct timed *t = arg;

	atomic_fetch_add(&t->entered, 1);
	if (sact_mutex_timedlock(&t->mu, 1000000) == -ETIMEDOUT)
		atomic_fetch_add(&t->timed_out, 1);
	else
		sact_mutex_unlock(&t->mu);
}

static void timed_main(void *arg)
{
	struct timed *t = arg;

	sact_mutex_lock(&t->mu);
	for (int i = 0; i < 16; i++)
		sact_go(timed_waiter, t);
	/* hold it until every waiter has given up */
	while (atomic_load(&t->timed_out) < 16)
		sact_sleep_ns(1000000);
	sact_mutex_unlock(&t->mu);
	t->try_after = sact_mutex_trylock(&t->mu);
	if (t->try_after == 0)
		sact_mutex_unlock(&t->mu);
}

/* 16 waiters time out under a held mutex: it is free and clean after. */
TEST_F(sync, mutex_timed_waiters_leave_no_trace)
{
	static struct timed t;

	t = (struct timed){ .mu = SACT_MUTEX_INIT };
	ASSERT_EQ(0, st_run(timed_main, &t));
	EXPECT_EQ(16, atomic_load(&t.timed_out));
	EXPECT_EQ(0, t.try_after);
	EXPECT_EQ(0, t.mu.state_);
}

/* ---- condition variable: a bounded queue, exact sum --------------------- */

#define QCAP 8
struct cq {
	struct sact_mutex mu;
	struct sact_cond notfull, notempty;
	struct sact_waitgroup wg;
	long buf[QCAP];
	int head, count;
	long sum;
	int producers, consumers, per;
	int timed_out;
};

static void cq_producer(void *arg)
{
	struct cq *q = arg;

	for (int i = 1; i <= q->per; i++) {
		sact_mutex_lock(&q->mu);
		while (q->count == QCAP)
			sact_cond_wait(&q->notfull, &q->mu);
		q->buf[(q->head + q->count++) % QCAP] = i;
		sact_cond_signal(&q->notempty);
		sact_mutex_unlock(&q->mu);
	}
	sact_wg_done(&q->wg);
}

static void cq_consumer(void *arg)
{
	struct cq *q = arg;

	for (;;) {
		long v;

		sact_mutex_lock(&q->mu);
		while (q->count == 0)
			sact_cond_wait(&q->notempty, &q->mu);
		v = q->buf[q->head];
		q->head = (q->head + 1) % QCAP;
		q->count--;
		sact_cond_signal(&q->notfull);
		if (v < 0) {
			sact_mutex_unlock(&q->mu);
			break;
		}
		q->sum += v;
		sact_mutex_unlock(&q->mu);
	}
	sact_wg_done(&q->wg);
}

static void cq_main(void *arg)
{
	struct cq *q = arg;

	sact_mutex_lock(&q->mu);
	q->timed_out = sact_cond_timedwait(&q->notempty, &q->mu, 1000000);
	sact_mutex_unlock(&q->mu);
	sact_wg_add(&q->wg, q->producers);
	for (int i = 0; i < q->producers; i++)
		sact_go(cq_producer, q);
	for (int i = 0; i < q->consumers; i++)
		sact_go(cq_consumer, q);
	sact_wg_wait(&q->wg);
	/* a poison pill per consumer */
	sact_wg_add(&q->wg, q->consumers);
	for (int i = 0; i < q->consumers; i++) {
		sact_mutex_lock(&q->mu);
		while (q->count == QCAP)
			sact_cond_wait(&q->notfull, &q->mu);
		q->buf[(q->head + q->count++) % QCAP] = -1;
		sact_cond_broadcast(&q->notempty);
		sact_mutex_unlock(&q->mu);
	}
	sact_wg_wait(&q->wg);
}

TEST_F(sync, cond_queue_exact_sum)
{
	struct cq q = { .mu = SACT_MUTEX_INIT, .producers = 6,
			.consumers = 5, .per = ST_SCALE(3000) };

	ASSERT_EQ(0, st_run(cq_main, &q));
	EXPECT_EQ(-ETIMEDOUT, q.timed_out);
	EXPECT_EQ((long)q.producers * q.per * (q.per + 1) / 2, q.sum);
}

/* ---- wait group: several waiters, reuse ------------------------------------ */

struct wgt {
	struct sact_waitgroup wg, waiters;
	atomic_int done, woke;
	int n;
};

static void wg_worker(void *arg)
{
	struct wgt *w = arg;

	sact_yield();
	atomic_fetch_add(&w->done, 1);
	sact_wg_done(&w->wg);
}

static void wg_waiter(void *arg)
{
	struct wgt *w = arg;

	sact_wg_wait(&w->wg);
	if (atomic_load(&w->done) == w->n)
		atomic_fetch_add(&w->woke, 1);
	sact_wg_done(&w->waiters);
}

static void wg_main(void *arg)
{
	struct wgt *w = arg;

	for (int round = 0; round < 3; round++) {
		atomic_store(&w->done, 0);
		sact_wg_add(&w->wg, w->n);
		sact_wg_add(&w->waiters, 4);
		for (int i = 0; i < 4; i++)
			sact_go(wg_waiter, w);
		for (int i = 0; i < w->n; i++)
			sact_go(wg_worker, w);
		sact_wg_wait(&w->waiters);
	}
}

TEST_F(sync, waitgroup)
{
	struct wgt w = { .n = 100 };

	ASSERT_EQ(0, st_run(wg_main, &w));
	EXPECT_EQ(12, atomic_load(&w.woke));
}

/* ---- semaphore: at most 3 inside ------------------------------------------- */

struct semt {
	struct sact_sem sem;
	struct sact_waitgroup wg;
	atomic_int inside, max, passes;
	int try_empty, timed_out;
	int n;
};

static void sem_worker(void *arg)
{
	struct semt *s = arg;

	for (int i = 0; i < 20; i++) {
		int now;

		sact_sem_acquire(&s->sem);
		now = atomic_fetch_add(&s->inside, 1) + 1;
		for (int m = atomic_load(&s->max); now > m;
		     m = atomic_load(&s->max))
			if (atomic_compare_exchange_weak(&s->max, &m, now))
				break;
		sact_yield();
		atomic_fetch_add(&s->passes, 1);
		atomic_fetch_sub(&s->inside, 1);
		sact_sem_release(&s->sem);
	}
	sact_wg_done(&s->wg);
}

static void sem_main(void *arg)
{
	struct semt *s = arg;
	struct sact_sem empty = SACT_SEM_INIT(0);

	s->try_empty = sact_sem_tryacquire(&empty);
	s->timed_out = sact_sem_timedacquire(&empty, 1000000);
	sact_wg_add(&s->wg, s->n);
	for (int i = 0; i < s->n; i++)
		sact_go(sem_worker, s);
	sact_wg_wait(&s->wg);
}

TEST_F(sync, semaphore)
{
	struct semt s = { .sem = SACT_SEM_INIT(3), .n = 30 };

	ASSERT_EQ(0, st_run(sem_main, &s));
	EXPECT_EQ(-EAGAIN, s.try_empty);
	EXPECT_EQ(-ETIMEDOUT, s.timed_out);
	EXPECT_EQ(s.n * 20, atomic_load(&s.passes));
	EXPECT_GE(3, atomic_load(&s.max));
	EXPECT_LE(1, atomic_load(&s.max));
	EXPECT_EQ(3, s.sem.count_);
}

/* A broken invariant aborts with a fixed message (Go's throw). */
static void negative_wg(void *arg)
{
	struct sact_waitgroup wg = SACT_WAITGROUP_INIT;

	(void)arg;
	sact_wg_add(&wg, -1);
}

/*
 * Run fn in a child; it must abort (SIGABRT) with msg on stderr: a broken
 * invariant or a deadlock is reported by a fixed message (Go's throw).
 */
static void expect_throw(struct __test_metadata *_metadata,
			 void (*fn)(void *), const char *want)
{
	char msg[4096];
	int status;

	st_run_child(_metadata, NULL, fn, NULL, &status, msg, sizeof(msg));
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(msg, want)) TH_LOG("stderr: %s", msg);
}

TEST(negative_waitgroup_throws)
{
	st_native_only();
	expect_throw(_metadata, negative_wg, "sact: negative WaitGroup counter\n");
}

static void recv_forever(void *arg)
{
	struct sact_chan *c = sact_chan_new(sizeof(long), 0);
	long v;

	(void)arg;
	sact_chan_recv(c, &v);	/* nobody will ever send */
}

static void deadlock_main(void *arg)
{
	struct sact_mutex mu = SACT_MUTEX_INIT;

	(void)arg;
	sact_go(recv_forever, NULL);
	sact_mutex_lock(&mu);
	sact_mutex_lock(&mu);	/* and this one waits for itself */
}

TEST(deadlock_throws)
{
	st_native_only();
	expect_throw(_metadata, deadlock_main,
		     "sact: all Gs are asleep - deadlock\n");
}

TEST_HARNESS_MAIN
