// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sync.c - wait queues, and the mutex, condition variable, wait group and
 * semaphore built on them.  All park Gs (gopark), never Ms.
 *
 * Every primitive has a short internal lock (struct lock, an M-level futex
 * lock held for a few instructions) guarding its state and a FIFO queue of
 * waiters.  A waiter lives on the parked G's stack (Go's sudog, without the
 * allocation).  A G parks holding the internal lock; gopark releases it
 * once the G is off its stack, so a waker, which finds the G only through
 * the queue and under the lock, can never ready a G still running.
 *
 * Timeouts: the waiter's G may be claimed by a waker (under the queue's
 * lock) or by its timer; g->claim decides (proc.c).  A waker that loses the
 * race marks the waiter unqueued and moves on to the next; a G that timed
 * out takes the lock again and unlinks itself if still queued.
 *
 * Rejected: spinning on the primitive's word (burns a P that other Gs
 * could use); futexes on the primitive (would block the M, the one thing
 * this runtime must not do); barging mutexes (unfair under load: the
 * mutex here hands ownership to the oldest waiter).
 */
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(struct lock) == sizeof(uint32_t), "lock_ fields");
_Static_assert(sizeof(struct waitq) == sizeof(struct sact_waitq_), "q_");

#define LOCK(x)		((struct lock *)&(x)->lock_)
#define WQ(x)		((struct waitq *)&(x)->q_)

void wq_push(struct waitq *q, struct waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->queued = true;
}

void wq_remove(struct waitq *q, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->queued = false;
}

/* The oldest waiter whose G this caller could claim; NULL if none. */
struct waiter *wq_pop(struct waitq *q)
{
	struct waiter *w;

	while ((w = q->head)) {
		int z = 0;

		wq_remove(q, w);
		if (atomic_compare_exchange_strong(&w->g->claim, &z,
						   CLAIM_WOKEN)) {
			w->fired = true;
			return w;
		}
		/* its timer (or, in a select, another waiter of the same G)
		 * won: it will see !queued and leave */
	}
	return NULL;
}


/* Before taking the primitive's lock: make room for a timer.  0/-ENOMEM. */
int park_prepare(bool timed)
{
	struct m *m = getm();

	if (timed && m && m->p && !timer_reserve(m->p))
		return -ENOMEM;
	return 0;
}

/*
 * Queue w (w->g: the caller) on q and park, releasing l (held).  0 when a
 * waker took it, -ETIMEDOUT when the timeout did (w no longer queued).
 */
int park_on(struct waitq *q, struct waiter *w, struct lock *l, bool timed,
	    uint64_t timeout_ns)
{
	int64_t deadline = 0;

	st(&w->g->claim, 0);
	wq_push(q, w);
	if (timed) {
		if (timeout_ns > INT64_MAX / 4)
			timeout_ns = INT64_MAX / 4;
		deadline = nanotime() + (int64_t)timeout_ns;
	}
	if (gopark(w->g, l, deadline) == CLAIM_TIMEOUT) {
		lock_acquire(l);
		if (w->queued)
			wq_remove(q, w);
		lock_release(l);
		return -ETIMEDOUT;
	}
	return 0;
}

/* ---- mutex ------------------------------------------------------------------
 * state_: 0 free, 1 held, 2 held and maybe waiters (unlock takes the slow
 * path).  Unlock hands the mutex to the oldest waiter without releasing it.
 */

#define MSTATE(mu)	((_Atomic uint32_t *)&(mu)->state_)

static int mutex_lock_slow(struct sact_mutex *mu, bool timed, uint64_t ns)
{
	struct waiter w = { .g = getg_or_threadg() };
	int err = park_prepare(timed);

	if (err)
		return err;
	lock_acquire(LOCK(mu));
	if (atomic_exchange(MSTATE(mu), 2) == 0) {
		lock_release(LOCK(mu));
		return 0;
	}
	return park_on(WQ(mu), &w, LOCK(mu), timed, ns);
}

/*
 * sact_mutex_lock and _unlock without their way back to G code (cond_wait
 * calls them inside the runtime).  True when they entered it: the fast
 * paths are lock-free and never do.
 */
static bool mutex_lock(struct sact_mutex *mu)
{
	uint32_t z = 0;

	if (likely(atomic_compare_exchange_strong_explicit(
		    MSTATE(mu), &z, 1, ACQUIRE, RELAXED)))
		return false;
	mutex_lock_slow(mu, false, 0);
	return true;
}

SACT_API void sact_mutex_lock(struct sact_mutex *mu)
{
	if (mutex_lock(mu))
		back_to_g();
}

SACT_API int sact_mutex_trylock(struct sact_mutex *mu)
{
	uint32_t z = 0;

	return atomic_compare_exchange_strong_explicit(MSTATE(mu), &z, 1,
						       ACQUIRE, RELAXED) ?
		       0 : -EBUSY;
}

SACT_API int sact_mutex_timedlock(struct sact_mutex *mu, uint64_t timeout_ns)
{
	uint32_t z = 0;
	int err;

	if (atomic_compare_exchange_strong_explicit(MSTATE(mu), &z, 1,
						    ACQUIRE, RELAXED))
		return 0;
	err = mutex_lock_slow(mu, true, timeout_ns);
	back_to_g();
	return err;
}

static bool mutex_unlock(struct sact_mutex *mu)
{
	uint32_t one = 1;
	struct waiter *w;

	if (likely(atomic_compare_exchange_strong_explicit(
		    MSTATE(mu), &one, 0, RELEASE, RELAXED)))
		return false;
	if (one == 0)
		throw("sact: unlock of unlocked mutex");
	lock_acquire(LOCK(mu));
	w = wq_pop(WQ(mu));
	if (!w)
		st_rel(MSTATE(mu), 0);
	lock_release(LOCK(mu));
	if (!w)
		return false;
	goready(w->g);	/* it owns the mutex now (state stays 2) */
	return true;
}

SACT_API void sact_mutex_unlock(struct sact_mutex *mu)
{
	if (mutex_unlock(mu))
		back_to_g();
}

/* ---- condition variable ------------------------------------------------ */

static int cond_wait(struct sact_cond *c, struct sact_mutex *mu, bool timed,
		     uint64_t ns)
{
	struct waiter w = { .g = getg_or_threadg() };
	int err = park_prepare(timed);

	if (err)
		return err;
	lock_acquire(LOCK(c));
	/* queued before mu is released: a signal after unlock finds us */
	mutex_unlock(mu);
	err = park_on(WQ(c), &w, LOCK(c), timed, ns);
	mutex_lock(mu);
	return err;
}

SACT_API void sact_cond_wait(struct sact_cond *c, struct sact_mutex *mu)
{
	cond_wait(c, mu, false, 0);
	back_to_g();
}

SACT_API int sact_cond_timedwait(struct sact_cond *c, struct sact_mutex *mu,
				 uint64_t timeout_ns)
{
	int err = cond_wait(c, mu, true, timeout_ns);

	back_to_g();
	return err;
}

SACT_API void sact_cond_signal(struct sact_cond *c)
{
	struct waiter *w;

	lock_acquire(LOCK(c));
	w = wq_pop(WQ(c));
	lock_release(LOCK(c));
	if (w) {
		goready(w->g);
		back_to_g();
	}
}

/* Pop every claimable waiter of q into a list (lock held). */
static struct waiter *wq_pop_all(struct waitq *q)
{
	struct waiter *list = NULL, *w;

	while ((w = wq_pop(q))) {
		w->prev = list;	/* reuse prev as the list link */
		list = w;
	}
	return list;
}

static void ready_all(struct waiter *list)
{
	if (!list)
		return;
	while (list) {
		struct waiter *w = list;

		list = w->prev;	/* read before the G runs and reuses w */
		goready(w->g);
	}
	back_to_g();
}

SACT_API void sact_cond_broadcast(struct sact_cond *c)
{
	struct waiter *list;

	lock_acquire(LOCK(c));
	list = wq_pop_all(WQ(c));
	lock_release(LOCK(c));
	ready_all(list);
}

/* ---- wait group --------------------------------------------------------------
 * count_ is changed by an atomic add, without the lock (Go's WaitGroup);
 * only the add that brings it to 0 takes the lock to wake the waiters.  A
 * waiter checks count_ under the lock before it queues: either the add that
 * reached 0 came before that check (the waiter does not wait) or its
 * wake-up takes the lock after the waiter queued and finds it.
 */

#define WGCOUNT(wg)	((_Atomic int64_t *)&(wg)->count_)

SACT_API void sact_wg_add(struct sact_waitgroup *wg, int64_t delta)
{
	int64_t v = atomic_fetch_add(WGCOUNT(wg), delta) + delta;
	struct waiter *list;

	if (v < 0)
		throw("sact: negative WaitGroup counter");
	if (v > 0 || delta == 0)
		return;
	lock_acquire(LOCK(wg));
	list = wq_pop_all(WQ(wg));
	lock_release(LOCK(wg));
	ready_all(list);
}

SACT_API void sact_wg_done(struct sact_waitgroup *wg)
{
	sact_wg_add(wg, -1);
}

SACT_API void sact_wg_wait(struct sact_waitgroup *wg)
{
	struct waiter w;

	if (ld_acq(WGCOUNT(wg)) == 0)
		return;		/* no runtime entry: nothing to undo */
	w = (struct waiter){ .g = getg_or_threadg() };
	lock_acquire(LOCK(wg));
	if (ld_acq(WGCOUNT(wg)) == 0)
		lock_release(LOCK(wg));
	else
		park_on(WQ(wg), &w, LOCK(wg), false, 0);
	back_to_g();
}

/* ---- semaphore --------------------------------------------------------------- */

static int sem_acquire(struct sact_sem *s, bool timed, uint64_t ns)
{
	struct waiter w = { .g = getg_or_threadg() };
	int err = park_prepare(timed);

	if (err)
		return err;
	lock_acquire(LOCK(s));
	if (s->count_ > 0) {
		s->count_--;
		lock_release(LOCK(s));
		return 0;
	}
	return park_on(WQ(s), &w, LOCK(s), timed, ns);
}

SACT_API void sact_sem_acquire(struct sact_sem *s)
{
	sem_acquire(s, false, 0);
	back_to_g();
}

SACT_API int sact_sem_timedacquire(struct sact_sem *s, uint64_t timeout_ns)
{
	int err = sem_acquire(s, true, timeout_ns);

	back_to_g();
	return err;
}

SACT_API int sact_sem_tryacquire(struct sact_sem *s)
{
	int ret = -EAGAIN;

	lock_acquire(LOCK(s));
	if (s->count_ > 0) {
		s->count_--;
		ret = 0;
	}
	lock_release(LOCK(s));
	return ret;
}

SACT_API void sact_sem_release(struct sact_sem *s)
{
	struct waiter *w;

	lock_acquire(LOCK(s));
	w = wq_pop(WQ(s));
	if (!w)
		s->count_++;	/* else the unit goes straight to w */
	lock_release(LOCK(s));
	if (w) {
		goready(w->g);
		back_to_g();
	}
}
