// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * time.c - timers: a G that sleeps or waits with a timeout parks on a
 * min-heap of its P, keyed by its deadline; the timer is the G itself
 * (g->when, g->timer_idx), so adding one never allocates beyond the heap
 * array, which gopark reserves before the G leaves its stack.
 *
 * Rejected designs:
 *
 * 1. A timer thread: one more wakeup hop (and a thread) per expiry.
 * 2. One global heap: every sleep and wakeup would share one lock; Go moved
 *    to per-P heaps in 1.14 for that reason.
 * 3. Timing wheels: better for millions of timers, worse precision and
 *    more code; per-P binary heaps are Go's choice and good enough here.
 *
 * Who runs timers: the owner P whenever it schedules (pick_local), and an
 * M looking for work runs the due timers of other Ps (findrunnable), like
 * Go's timer stealing.  An M with nothing to run sleeps in stopm until the
 * earliest deadline of all Ps (timers_next) instead of spinning.
 *
 * Races: firing and waking race on g->claim (see internal.h).  The claim is
 * CASed under the heap's timerlock, and timer_del() takes that lock, so once
 * timer_del returns no expiry of that G is in flight (a stale expiry can
 * never wake a later park of the same G).
 *
 * The heap's array is mapped, and grown by mremap, not malloc'd: the
 * owner grows it in runtime code, holding its P, and an M waiting for a P
 * in bpf's lost_handler may hold glibc's malloc lock (it was interrupted
 * inside malloc): a realloc here could wait for it while it waits for a P.
 */
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static void heap_set(struct p *pp, int i, struct g *gp)
{
	pp->timers[i] = gp;
	gp->timer_idx = i;
}

static void heap_up(struct p *pp, int i)
{
	struct g *gp = pp->timers[i];

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (pp->timers[parent]->when <= gp->when)
			break;
		heap_set(pp, i, pp->timers[parent]);
		i = parent;
	}
	heap_set(pp, i, gp);
}

static void heap_down(struct p *pp, int i)
{
	struct g *gp = pp->timers[i];
	int n = pp->ntimers;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && pp->timers[c + 1]->when < pp->timers[c]->when)
			c++;
		if (gp->when <= pp->timers[c]->when)
			break;
		heap_set(pp, i, pp->timers[c]);
		i = c;
	}
	heap_set(pp, i, gp);
}

/* Remove heap entry i (timerlock held). */
static void heap_remove(struct p *pp, int i)
{
	struct g *gp = pp->timers[i];
	int last = --pp->ntimers;

	gp->timer_idx = -1;
	if (i != last) {
		heap_set(pp, i, pp->timers[last]);
		heap_down(pp, i);
		heap_up(pp, pp->timers[i]->timer_idx);
	}
	st(&pp->timer0, pp->ntimers ? pp->timers[0]->when : 0);
}

/*
 * Make room for one more timer on pp, so that timer_add cannot fail after
 * the G left its stack.  Must run on the owner of pp.  false: no memory.
 */
bool timer_reserve(struct p *pp)
{
	bool ok = true;

	lock_acquire(&pp->timerlock);
	if (pp->ntimers + 1 > pp->timercap) {
		size_t len = sizeof(*pp->timers) * (size_t)pp->timercap;
		/* kmod: mremap may sleep on mmap_lock: not G code */
		struct m *m = getm_raw();
		uint32_t ks = m_kblock_begin(m);
		void *t = mremap(pp->timers, len, 2 * len, MREMAP_MAYMOVE);

		m_kblock_end(m, ks);
		if (t != MAP_FAILED) {
			pp->timers = t;
			pp->timercap *= 2;
		} else {
			ok = false;
		}
	}
	lock_release(&pp->timerlock);
	return ok;
}

/* At sact_run: pp's heap array, a page to start with.  0 or -ENOMEM. */
int timers_init(struct p *pp)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *t = mmap(NULL, page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (t == MAP_FAILED)
		return -ENOMEM;
	pp->timers = t;
	pp->timercap = (int)(page / sizeof(*pp->timers));
	return 0;
}

/* When sact_run returns (or fails): the array of timers_init, if any. */
void timers_free(struct p *pp)
{
	if (pp->timers)
		munmap(pp->timers, sizeof(*pp->timers) * (size_t)pp->timercap);
	pp->timers = NULL;
	pp->timercap = 0;
}

/* Add parked gp's timer (gp->when) to pp.  Must run on the owner of pp. */
void timer_add(struct p *pp, struct g *gp)
{
	lock_acquire(&pp->timerlock);
	if (pp->ntimers >= pp->timercap)
		throw("sact: timer_add without timer_reserve");
	gp->timer_p = pp;
	pp->timers[pp->ntimers] = gp;
	gp->timer_idx = pp->ntimers++;
	heap_up(pp, gp->timer_idx);
	st(&pp->timer0, pp->timers[0]->when);
	lock_release(&pp->timerlock);
}

/* Remove gp's timer if it has not fired.  Runs on gp itself. */
void timer_del(struct g *gp)
{
	struct p *pp = gp->timer_p;

	if (!pp)
		return;
	lock_acquire(&pp->timerlock);
	if (gp->timer_idx >= 0)
		heap_remove(pp, gp->timer_idx);
	gp->timer_p = NULL;
	lock_release(&pp->timerlock);
}

/*
 * Fire pp's timers due at now; their Gs go to into's run queue.  Must run
 * on the owner of into (pp may belong to someone else).
 */
void timers_run(struct p *pp, int64_t now, struct p *into)
{
	struct g *ready = NULL;

	if (!ld(&pp->timer0) || ld(&pp->timer0) > now)
		return;
	lock_acquire(&pp->timerlock);
	while (pp->ntimers && pp->timers[0]->when <= now) {
		struct g *gp = pp->timers[0];
		int z = 0;

		heap_remove(pp, 0);
		if (atomic_compare_exchange_strong(&gp->claim, &z,
						   CLAIM_TIMEOUT)) {
			gp->schedlink = ready;
			ready = gp;
		}
	}
	lock_release(&pp->timerlock);
	while (ready) {
		struct g *gp = ready;

		ready = gp->schedlink;
		runqput(into, gp, true);
	}
	wakep();
}

/* The earliest timer of all Ps (nanotime), 0 if none. */
int64_t timers_next(void)
{
	int64_t next = 0;

	for (int i = 0; i < sched.nprocs; i++) {
		int64_t w = ld(&sched.allp[i].timer0);

		if (w && (!next || w < next))
			next = w;
	}
	return next;
}

SACT_API void sact_sleep_ns(uint64_t ns)
{
	struct m *m = getm();
	struct g *gp;

	if (!m || m->curg == &m->g0) {
		struct timespec ts = { ns / 1000000000, ns % 1000000000 };

		nanosleep(&ts, NULL);	/* not on a G: a plain sleep */
		return;
	}
	if (ns == 0) {
		sact_yield();
		return;
	}
	gp = m->curg;
	if (ns > INT64_MAX / 4)
		ns = INT64_MAX / 4;
	if (!timer_reserve(m->p)) {
		/* no memory for the heap: yield until the time has passed */
		int64_t end = nanotime() + (int64_t)ns;

		while (nanotime() < end)
			sact_yield();
		return;
	}
	st(&gp->claim, 0);
	gopark(gp, NULL, nanotime() + (int64_t)ns);
}
