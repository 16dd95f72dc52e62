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
 * Rejected: spinning on the primitive's word for long (burns a P that
 * other Gs could use; the mutex spins a few rounds only); futexes on the
 * primitive (would block the M, the one thing this runtime must not do);
 * a mutex that hands ownership to the oldest waiter at every unlock
 * (fair, but a convoy across Ps: see the mutex).
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

void wq_push_front(struct waitq *q, struct waiter *w)
{
	w->prev = NULL;
	w->next = q->head;
	if (q->head)
		q->head->prev = w;
	else
		q->tail = w;
	q->head = w;
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
 * Queue w (w->g: the caller) on q, at the back or the front, and park,
 * releasing l (held).  0 when a waker took it, -ETIMEDOUT when the
 * timeout did (w no longer queued).
 */
int park_on(struct waitq *q, struct waiter *w, struct lock *l, bool front,
	    bool timed, uint64_t timeout_ns)
{
	int64_t deadline = 0;

	st(&w->g->claim, 0);
	if (front)
		wq_push_front(q, w);
	else
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
 * Go's sync.Mutex, on this file's wait queue instead of a semaphore.
 *
 * state_: MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING | waiters * MUTEX_WAITER.
 *
 * Normal mode: unlock releases the mutex and, if nobody is woken already,
 * wakes the oldest waiter (WOKEN), which then competes with the Gs
 * arriving.  The G that just unlocked may take the mutex again at once:
 * a G locking in a loop keeps its P instead of switching to a waiter at
 * every unlock (the convoy of a FIFO hand-off, 2-3x Go's time across two
 * Ps).  A woken waiter that loses goes back to the front of the queue.
 *
 * Spinning: a G that finds the mutex held by a G running on another P
 * spins a little (SYNC_SPINS rounds of MUTEX_SPIN_PAUSES pauses, while
 * sync_canspin) before it queues, as Go's does: a critical section of a
 * few instructions ends sooner than a park and a wakeup across Ps, and
 * the spinner sets WOKEN so that the unlock does not wake a waiter it
 * would only race with.  Not in starvation mode, not on a plain thread,
 * and never while its own P has other Gs to run.
 *
 * Starvation mode: a waiter that lost MUTEX_LOSSES times, or has waited
 * MUTEX_STARVE_NS (1 ms, Go's), sets STARVING when it queues again; then
 * unlock hands the mutex straight to the oldest waiter (w->ok) and
 * arrivals queue behind it.  The waiter handed the mutex ends the mode if
 * it is the last, or did not wait that long itself.  So every waiter gets
 * the mutex within its place in the queue plus MUTEX_LOSSES wakeups.
 *
 * Waiting: a G adds itself to the waiters, queues and parks all under the
 * queue's lock, having looked at the state once more under it; unlock
 * picks a waiter under the same lock.  An unlock before that look is seen
 * by it (the G takes the mutex instead); one after it finds the G queued.
 * A timed-out waiter (sact_mutex_timedlock) takes itself off the count
 * under the lock; if it leaves a starving mutex with no waiter, it ends
 * the mode.
 */

#define MSTATE(mu)	((_Atomic uint32_t *)&(mu)->state_)
#define MUTEX_LOCKED	1u
#define MUTEX_WOKEN	2u
#define MUTEX_STARVING	4u
#define MUTEX_WAITER	8u		/* the waiters count from here */
#define MUTEX_WAITERS(s) ((s) / MUTEX_WAITER)
#define MUTEX_LOSSES	4
#define MUTEX_STARVE_NS	1000000
#define MUTEX_SPIN_PAUSES 30		/* Go's active_spin_cnt */

/* An unlocked, starving mutex with no waiter left: back to normal. */
static void mutex_unstarve(_Atomic uint32_t *st)
{
	uint32_t old = ld(st);

	while ((old & MUTEX_STARVING) && !(old & MUTEX_LOCKED) &&
	       MUTEX_WAITERS(old) == 0 &&
	       !atomic_compare_exchange_weak(st, &old,
					     old & ~MUTEX_STARVING))
		;
}

static int mutex_lock_slow(struct sact_mutex *mu, bool timed, uint64_t ns)
{
	struct waiter w = { .g = getg_or_threadg() };
	_Atomic uint32_t *st = MSTATE(mu);
	bool starving = false, awoke = false;
	int64_t since = 0, deadline = 0;
	int losses = 0, err = park_prepare(timed);

	if (err)
		return err;
	if (timed) {
		if (ns > INT64_MAX / 4)
			ns = INT64_MAX / 4;
		deadline = nanotime() + (int64_t)ns;
	}
	for (int iter = 0;; iter++) {
		uint32_t old = ld(st), new;
		int64_t left = 0;
		bool front;

		/* spin while the holder (on another P) may be about to
		 * unlock; WOKEN tells the unlock not to wake a waiter */
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
		    sync_canspin(iter)) {
			if (!awoke && !(old & MUTEX_WOKEN) &&
			    MUTEX_WAITERS(old) &&
			    atomic_compare_exchange_strong(st, &old,
							   old | MUTEX_WOKEN))
				awoke = true;
			for (int i = 0; i < MUTEX_SPIN_PAUSES; i++)
				__builtin_ia32_pause();
			continue;
		}
		/* free (after a spin, or woken): take it as an arrival would */
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)) &&
		    atomic_compare_exchange_strong(
			    st, &old, (old | MUTEX_LOCKED) &
			    ~(awoke ? MUTEX_WOKEN : 0)))
			return 0;
		lock_acquire(LOCK(mu));
		old = ld(st);
		do {
			new = old;
			if (!(old & MUTEX_STARVING))
				new |= MUTEX_LOCKED;
			if (old & (MUTEX_LOCKED | MUTEX_STARVING))
				new += MUTEX_WAITER;
			if (starving && (old & MUTEX_LOCKED))
				new |= MUTEX_STARVING;
			if (awoke)
				new &= ~MUTEX_WOKEN;
		} while (!atomic_compare_exchange_weak(st, &old, new));
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING))) {
			lock_release(LOCK(mu));
			return 0;
		}
		front = since != 0;	/* it waited before: back in front */
		if (!since)
			since = nanotime();
		if (timed) {
			left = deadline - nanotime();
			if (left <= 0)
				left = 1;
		}
		w.ok = 0;
		err = park_on(WQ(mu), &w, LOCK(mu), front, timed, left);
		if (err) {	/* timed out, off the queue */
			lock_acquire(LOCK(mu));
			atomic_fetch_sub(st, MUTEX_WAITER);
			mutex_unstarve(st);
			lock_release(LOCK(mu));
			return err;
		}
		if (w.ok) {
			/* handed over (starvation): LOCKED was left clear,
			 * and we are still counted */
			uint32_t delta = MUTEX_LOCKED - MUTEX_WAITER;

			old = ld(st);
			if (!starving || MUTEX_WAITERS(old) == 1)
				delta -= MUTEX_STARVING;
			atomic_fetch_add(st, delta);
			return 0;
		}
		awoke = true;
		iter = -1;
		starving = starving || ++losses >= MUTEX_LOSSES ||
			   nanotime() - since > MUTEX_STARVE_NS;
	}
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
		    MSTATE(mu), &z, MUTEX_LOCKED, ACQUIRE, RELAXED)))
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
	uint32_t old = ld(MSTATE(mu));

	/* free even with waiters queued, as for a new arrival */
	while (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
		if (atomic_compare_exchange_weak_explicit(
			    MSTATE(mu), &old, old | MUTEX_LOCKED, ACQUIRE,
			    RELAXED))
			return 0;
	return -EBUSY;
}

SACT_API int sact_mutex_timedlock(struct sact_mutex *mu, uint64_t timeout_ns)
{
	uint32_t z = 0;
	int err;

	if (atomic_compare_exchange_strong_explicit(MSTATE(mu), &z,
						    MUTEX_LOCKED, ACQUIRE,
						    RELAXED))
		return 0;
	err = mutex_lock_slow(mu, true, timeout_ns);
	back_to_g();
	return err;
}

/* Wake a waiter, or hand the mutex over; true if a G was readied. */
static bool mutex_unlock_slow(struct sact_mutex *mu, uint32_t new)
{
	_Atomic uint32_t *st = MSTATE(mu);
	struct waiter *w;
	uint32_t old;

	if (!(new & MUTEX_STARVING)) {
		if (MUTEX_WAITERS(new) == 0 ||
		    (new & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
			return false;	/* nobody to wake, or done already */
		lock_acquire(LOCK(mu));
		old = ld(st);
		if (MUTEX_WAITERS(old) == 0 ||
		    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) ||
		    !(w = wq_pop(WQ(mu)))) {
			lock_release(LOCK(mu));
			return false;
		}
		while (!atomic_compare_exchange_weak(
			       st, &old, (old - MUTEX_WAITER) | MUTEX_WOKEN))
			;
		lock_release(LOCK(mu));
		goready(w->g);	/* it competes for the mutex */
		return true;
	}
	lock_acquire(LOCK(mu));
	w = wq_pop(WQ(mu));
	if (w)
		w->ok = 1;	/* it owns the mutex now */
	else
		mutex_unstarve(st);	/* every waiter timed out */
	lock_release(LOCK(mu));
	if (!w)
		return false;
	goready(w->g);
	return true;
}

static bool mutex_unlock(struct sact_mutex *mu)
{
	uint32_t old = atomic_fetch_sub_explicit(MSTATE(mu), MUTEX_LOCKED,
						 RELEASE);

	if (unlikely(!(old & MUTEX_LOCKED)))
		throw("sact: unlock of unlocked mutex");
	if (likely(old == MUTEX_LOCKED))
		return false;
	return mutex_unlock_slow(mu, old - MUTEX_LOCKED);
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
	err = park_on(WQ(c), &w, LOCK(c), false, timed, ns);
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
		park_on(WQ(wg), &w, LOCK(wg), false, false, 0);
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
	return park_on(WQ(s), &w, LOCK(s), false, timed, ns);
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
