// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * proc.c - the scheduler: Gs, Ms and Ps, in the shape of Go's proc.go.
 *
 * G: a user-level thread (stack, saved registers).  M: an OS thread.  P: the
 * right to run Gs; nprocs of them.  An M must hold a P to run G code, so at
 * most nprocs Ms run Gs at once, however many are blocked in the kernel.
 *
 * Design
 * ======
 *
 * Rejected designs:
 *
 * 1. One global run queue under a lock.  Simple, but every spawn and wakeup
 *    contends on one cache line; Go left it in 2012 for the same reason.
 * 2. Per-M queues.  A blocked M would strand its queue; the queue belongs to
 *    the right to run (P), which moves to another M when its M blocks.
 * 3. Always switching through a per-M scheduler stack (g0), as Go does with
 *    mcall.  That costs two context switches per yield or park.  Here a G
 *    that parks or yields switches straight to the next G of its P when the
 *    local queue has one; only when the P has nothing local does it switch
 *    to g0 (the M's own thread stack), which runs findrunnable and may
 *    block the thread.  What the old context still needed done once off its
 *    stack (release a wait-queue lock, queue it, free it) is the "post-switch
 *    step" (m->after) that the new context runs first thing.
 * 4. Creating threads when a P needs an M (Go's newm).  Ms come from a pool
 *    created by sact_run (nprocs + standby); if none is idle, the P waits for
 *    the next M to come back from the kernel (sched.handoff_waits counts it).
 * 5. A lock-protected deque for stealing.  Go's bounded ring with a CAS on
 *    the head is lock-free for the owner's put and cheap for thieves.
 *
 * Run queues (runqput/runqget/runqgrab): a 256-slot ring per P.  tail is
 * written only by the owner; head is advanced by CAS by the owner (runqget)
 * and by thieves (runqgrab).  Why the CAS is ABA-safe: head is a 32-bit
 * counter that only grows, never a pointer; a consumer reads slot h and then
 * CASes head h -> h+k.  The owner writes slot t only when t - head < 256, so
 * slot h cannot be overwritten until head has moved past h, which makes the
 * CAS fail.  A false success needs head to advance by exactly 2^32 between
 * the read and the CAS (four billion dequeues while one thread is between two
 * instructions): the same argument Go makes.  runnext is a single slot for
 * the G readied last (it inherits the rest of the time slice: ping-pong
 * stays on one P); the owner sets it with xchg, thieves take it with CAS.
 *
 * Fairness: every 61 schedticks a P looks at the global queue first (Go's
 * number), so a G there is not starved by a busy local queue; yield puts
 * the G at the tail of the local queue (behind runnext and the rest).
 *
 * Wake/park protocol (no lost wakeups).  An M looking for work "spins"
 * (steals) before it parks; nmspinning counts spinners.  The invariant: if
 * there is an idle P and runnable work, some M is spinning or will be woken.
 *
 *  Submitter (goready, sact_go):
 *   1. runqput(): store the G into the P's ring, store-release the tail.
 *   2. a full barrier (StoreLoad, in wakep).
 *   3. if npidle > 0 and nmspinning == 0, CAS nmspinning 0 -> 1 and
 *      startm(NULL, spinning): wake an idle M with an idle P.
 *  Spinning M giving up (findrunnable):
 *   1. under sched.lock: check the global queue, put the P on the idle list
 *      (npidle++); unlock.
 *   2. nmspinning-- (a seq_cst RMW: the full barrier pairing with step 2
 *      of the submitter).
 *   3. look at every P's run queue; if one has work, take an idle P back,
 *      become spinning again and steal.
 *   4. only then park (stopm).
 *  Either the submitter sees nmspinning == 0 and wakes someone, or the
 *  spinner's step 3 sees the submitted G.  A spinner that finds work calls
 *  wakep() after it stops spinning (resetspinning), so one wakeup fans out.
 *  The global queue is only touched under sched.lock, and the last check of
 *  it is under the same lock as pidleput, so it needs no barrier.
 *  An M parks on a futex word (m->park): stopm sets park = 0 and puts the M
 *  on the idle list under sched.lock; startm takes it off under the lock,
 *  sets nextp, stores park = 1 and wakes it: futex_wait(&park, 0) cannot
 *  miss it.
 *
 * Parking a G (gopark): the G records what to do in m->after (release the
 * lock of the wait queue it is on, add its timer), picks the next G and
 * switches.  Wakers find the G only through that queue, under that lock, so
 * they cannot ready it before it is off its stack.  A parked G is readied
 * once: wakers and its timer race on g->claim (CAS 0 -> woken/timeout).
 *
 * Syscalls (syscall.c) mark the P P_SYSCALL; anyone may CAS it away (sysmon
 * retake) and the returning M must win the CAS back or find another P.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include <malloc.h>

#include "internal.h"

struct sched sched;
bool sched_watch_gcode;

static _Atomic int sched_active;	/* a sact_run is in progress */
static _Atomic int sched_live;		/* ... and sched is set up */
static enum sact_backend last_backend = SACT_BACKEND_AUTO;
static struct sact_stats last_stats;

/*
 * The current M lives in TLS.  A G can resume on another thread after any
 * switch, and the compiler may keep the address of a TLS variable across a
 * call, so it is read with an explicit %fs-relative load every time.
 */
static __thread struct m *tls_m __attribute__((tls_model("initial-exec"), used));

struct m *getm_raw(void)
{
	struct m *m;

	__asm__ volatile("movq tls_m@gottpoff(%%rip), %0\n\t"
			 "movq %%fs:(%0), %0" : "=r"(m));
	return m;
}

/* Every entry into the runtime from G code comes through here. */
struct m *getm(void)
{
	return m_resync(getm_raw());
}

void sact_throw(const char *msg)
{
	static const char nl = '\n';

	if (write(2, msg, strlen(msg)) < 0 || write(2, &nl, 1) < 0)
		abort();
	abort();
}

__attribute__((visibility("hidden"), noreturn)) void sact_gstart_returned(void);
void sact_gstart_returned(void)
{
	throw("sact: G entry returned");
}

static uint32_t fastrand(uint64_t *s)
{
	/* xorshift64*: a debug shuffle and steal order, not cryptography */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ---- futexes, locks, time ------------------------------------------------ */

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

void futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void lock_acquire(struct lock *l)
{
	uint32_t c = 0;

	if (likely(atomic_compare_exchange_strong_explicit(&l->v, &c, 1,
							   ACQUIRE, RELAXED)))
		return;
	for (int i = 0; i < 100; i++) {
		__builtin_ia32_pause();
		c = 0;
		if (ld(&l->v) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->v, &c, 1,
							  ACQUIRE, RELAXED))
			return;
	}
	{
		struct m *m = getm_raw();
		uint32_t ks = m_kblock_begin(m);

		while (atomic_exchange_explicit(&l->v, 2, ACQUIRE) != 0)
			futex_wait(&l->v, 2, -1);
		m_kblock_end(m, ks);
	}
}

void lock_release(struct lock *l)
{
	if (atomic_exchange_explicit(&l->v, 0, RELEASE) == 2)
		futex_wake(&l->v, 1);
}

int64_t nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the context switch and the post-switch step ------------------------ */

static void globrunqput(struct g *gp);
static void pidleput(struct p *pp);

/*
 * Run what the context we switched away from left in m->after.  Called
 * first thing in every context that gains the CPU through a switch: the
 * resumed side of switch_to, a new G's entry, g0's loop.
 */
static void run_after(struct m *m)
{
	struct g *gp = m->after_g;
	struct p *pp;
	enum after a = m->after;

	m->after = AFTER_NONE;
	switch (a) {
	case AFTER_NONE:
		return;
	case AFTER_RUNQPUT:
		if (sched.shuffle && (fastrand(&m->rand) & 3) == 0) {
			/* debug: sometimes through the global queue */
			lock_acquire(&sched.lock);
			globrunqput(gp);
			lock_release(&sched.lock);
			return;
		}
		runqput(m->p, gp, false);
		return;
	case AFTER_PARK:
		if (gp->when)
			timer_add(m->p, gp);
		if (m->after_lock)
			lock_release(m->after_lock);
		for (int i = 0; i < m->after_nlocks; i++)
			lock_release(m->after_locks[i]);
		m->after_nlocks = 0;
		if (m->p->ring)		/* gp is off its stack: submit its op */
			uring_poll(m->p);
		return;
	case AFTER_EXIT:
		gfput(m->p, gp);
		if (atomic_fetch_sub(&sched.ngs, 1) == 1) {
			st_rel(&sched.done, 1);
			futex_wake(&sched.done, 1);
		}
		return;
	case AFTER_HANDOFF:
		/* pidleput grants pp to the waiting M (kmod's p_idle hook) or,
		 * if it got one meanwhile, idles it: stopm takes it back then */
		pp = m->p;
		lock_acquire(&sched.lock);
		globrunqput(gp);
		m->p = NULL;
		pidleput(pp);
		lock_release(&sched.lock);
		return;
	case AFTER_GLOBRUNQ:
		/* Under one lock hold: no P can go idle between the two. */
		lock_acquire(&sched.lock);
		globrunqput(gp);
		pp = pidleget();
		lock_release(&sched.lock);
		if (pp)
			acquirep(m, pp);
		return;
	}
}

/*
 * Switch from the running context `from` (a G or g0 of m) to `to`.  Must run
 * on m; m->after says what `to` must do for `from`.  Returns when someone
 * switches back to `from`, possibly on another M.
 */
static void switch_to(struct m *m, struct g *from, struct g *to)
{
	/* a stack without a guard page: did it run past its bottom? */
	if (unlikely(!from->guarded) && from != &m->g0 &&
	    (*(uint64_t *)from->stack_lo != STACK_CANARY ||
	     (char *)__builtin_frame_address(0) < from->stack_lo))
		throw("sact: G stack overflow (canary)");
	m->curg = to;
	to->m = m;
	stat_inc(&m->st.switches);
	/* kmod, bpf: runtime code until m_back_to_g */
	if (unlikely(m->ks != NULL))
		kmod_publish(m, false);
	else if (unlikely(m->bin_g != NULL))
		bpf_in_g_swap(m, 0);
#if defined(__SANITIZE_ADDRESS__)
	{
		const void *bottom = to->stack_lo;
		size_t size = to->stack_hi - to->stack_lo;

		if (to == &m->g0) {
			bottom = m->g0_bottom;
			size = m->g0_size;
		}
		__sanitizer_start_switch_fiber(
			ld(&from->status) == G_DEAD ? NULL : &from->asan_fake,
			bottom, size);
	}
#endif
#if defined(__SANITIZE_THREAD__)
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	sact_ctx_switch(&from->sp, to->sp);
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
	m = getm();
	run_after(m);
	m_back_to_g(m);
}

/* The first code of every G, reached from sact_gstart. */
static __attribute__((noreturn)) void gentry(struct g *gp);
static void goexit(struct g *gp) __attribute__((noreturn));

static void gentry(struct g *gp)
{
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	struct m *m = getm();

	run_after(m);
	m_back_to_g(m);
	gp->fn(gp->arg);
	goexit(gp);
}

/* Build the frame sact_ctx_switch will "return" into for a new G. */
static void gframe_init(struct g *gp)
{
	struct ctx_frame *f = (struct ctx_frame *)(gp->stack_hi) - 1;

	memset(f, 0, sizeof(*f));
	f->mxcsr = 0x1f80;	/* all exceptions masked, round to nearest */
	f->fpucw = 0x037f;	/* same for x87, 64-bit precision */
	f->r12 = (uint64_t)(uintptr_t)gentry;
	f->r13 = (uint64_t)(uintptr_t)gp;
	f->rbp = 0;
	f->ret = (void *)sact_gstart;
	gp->sp = f;
}

/* ---- run queues ------------------------------------------------------------ */

/*
 * Put gp on pp's local queue: in runnext if next (the old runnext moves to
 * the tail), else at the tail; half the queue goes to the global queue when
 * it is full.  Must run on the owner of pp.
 */
static bool runqputslow(struct p *pp, struct g *gp, uint32_t h, uint32_t t);

void runqput(struct p *pp, struct g *gp, bool next)
{
	st(&gp->status, G_RUNNABLE);
	if (next && sched.shuffle && (fastrand(&pp->rand) & 1))
		next = false;	/* debug: order must not matter */
	if (next) {
		struct g *old = atomic_exchange_explicit(&pp->runnext, gp,
							 SEQCST);
		if (!old)
			return;
		gp = old;
	}
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = ld(&pp->runqtail);

		if (t - h < RUNQ_SIZE) {
			st(&pp->runq[t % RUNQ_SIZE], gp);
			st_rel(&pp->runqtail, t + 1);
			return;
		}
		if (runqputslow(pp, gp, h, t))
			return;
		/* a thief moved head: there is room now */
	}
}

/* Move half of the full local queue and gp to the global queue. */
static bool runqputslow(struct p *pp, struct g *gp, uint32_t h, uint32_t t)
{
	struct g *batch[RUNQ_SIZE / 2 + 1];
	uint32_t n = (t - h) / 2;

	if (n != RUNQ_SIZE / 2)
		throw("sact: runqputslow: queue is not full");
	for (uint32_t i = 0; i < n; i++)
		batch[i] = ld(&pp->runq[(h + i) % RUNQ_SIZE]);
	if (!atomic_compare_exchange_strong_explicit(&pp->runqhead, &h, h + n,
						     RELEASE, RELAXED))
		return false;
	batch[n] = gp;
	if (sched.shuffle) {
		for (uint32_t i = 1; i <= n; i++) {
			uint32_t j = fastrand(&pp->rand) % (i + 1);
			struct g *tmp = batch[i];

			batch[i] = batch[j];
			batch[j] = tmp;
		}
	}
	lock_acquire(&sched.lock);
	for (uint32_t i = 0; i <= n; i++)
		globrunqput(batch[i]);
	lock_release(&sched.lock);
	return true;
}

/* Take the G at the head of pp's ring (not runnext).  Any M (owner). */
static struct g *runqget_ring(struct p *pp)
{
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = ld(&pp->runqtail);
		struct g *gp;

		if (t == h)
			return NULL;
		gp = ld(&pp->runq[h % RUNQ_SIZE]);
		if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &h,
							  h + 1, RELEASE,
							  RELAXED))
			return gp;
	}
}

/*
 * Take a G from pp's local queue, runnext first.  Must run on the owner.
 * Go bounds a chain of runnext hand-offs (two Gs readying each other) by
 * the time slice they share: sysmon preempts it after 10 ms.  Without
 * preemption the chain is bounded by count: after RUNNEXT_CHAIN runnext
 * picks in a row the head of the ring goes first, so it is not starved.
 */
#define RUNNEXT_CHAIN	16

static struct g *runqget(struct p *pp)
{
	struct g *next = ld(&pp->runnext);

	if (next && unlikely(++pp->runnext_chain > RUNNEXT_CHAIN)) {
		struct g *gp = runqget_ring(pp);

		pp->runnext_chain = 0;
		if (gp)
			return gp;
	}
	if (next && atomic_compare_exchange_strong_explicit(
			    &pp->runnext, &next, NULL, ACQUIRE, RELAXED))
		return next;
	pp->runnext_chain = 0;
	return runqget_ring(pp);
}

bool runqempty(struct p *pp)
{
	/* tail then head then runnext, then tail again: a consistent view */
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = ld_acq(&pp->runqtail);
		struct g *next = ld_acq(&pp->runnext);

		if (t == ld_acq(&pp->runqtail))
			return h == t && !next;
	}
}

/*
 * A thief leaves a running P's runnext alone for a moment before it takes
 * it.  The common case: the G on that P readied runnext (a channel send,
 * an unlock) and is about to park (the channel is full, it waits for the
 * reply); its P then runs runnext itself, with no M woken and no cache
 * line moved.  Taken at once, the two Gs trade places across Ps on every
 * hand-over, a futex wake and sleep each: a producer and a consumer on a
 * 128-slot channel at 2 Ps made ~9,000 wakes for a million sends, and
 * ran 2x Go's time.  Go's answer, kept here: the thief sleeps 3 us (with
 * the kernel's default timer slack, ~50 us).  Sleeping, not spinning: a
 * thief that polls runnext pulls the line the two Gs write on every
 * hand-over (a 50 us spin cut the wakes as well but left the time at
 * 1.7x Go's).  The thief is on g0 holding its own P, not in G code: no
 * backend takes the sleep for a block.
 */
#define RUNNEXT_GRACE_NS	3000

static void runnext_grace(void)
{
	struct timespec ts = { 0, RUNNEXT_GRACE_NS };

	nanosleep(&ts, NULL);
}

/*
 * Grab half of pp's queue into batch[bhead..] (a ring of RUNQ_SIZE).  With
 * steal_next, take runnext when the ring is empty (after runnext_grace if
 * pp runs).  Returns the count.  Runs on any M (a thief).
 */
static uint32_t runqgrab(struct p *pp, _Atomic(struct g *) *batch,
			 uint32_t bhead, bool steal_next)
{
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = ld_acq(&pp->runqtail);
		uint32_t n = t - h;

		n -= n / 2;
		if (n == 0) {
			struct g *next = ld(&pp->runnext);

			if (steal_next && next &&
			    ld(&pp->status) == P_RUNNING)
				runnext_grace();
			if (steal_next && next &&
			    atomic_compare_exchange_strong_explicit(
				    &pp->runnext, &next, NULL, ACQUIRE,
				    RELAXED)) {
				st(&batch[bhead % RUNQ_SIZE], next);
				return 1;
			}
			return 0;
		}
		if (n > RUNQ_SIZE / 2)
			continue;	/* read h and t at different times */
		for (uint32_t i = 0; i < n; i++)
			st(&batch[(bhead + i) % RUNQ_SIZE],
			   ld(&pp->runq[(h + i) % RUNQ_SIZE]));
		if (atomic_compare_exchange_strong_explicit(
			    &pp->runqhead, &h, h + n, RELEASE, RELAXED))
			return n;
	}
}

/* Steal half of p2's queue into pp's and return one G.  Must own pp. */
static struct g *runqsteal(struct p *pp, struct p *p2, bool steal_next)
{
	uint32_t t = ld(&pp->runqtail);
	uint32_t n = runqgrab(p2, pp->runq, t, steal_next);
	struct g *gp;

	if (n == 0)
		return NULL;
	n--;
	gp = ld(&pp->runq[(t + n) % RUNQ_SIZE]);
	if (n) {
		uint32_t h = ld_acq(&pp->runqhead);

		if (t - h + n >= RUNQ_SIZE)
			throw("sact: runqsteal: queue overflow");
		st_rel(&pp->runqtail, t + n);
	}
	return gp;
}

/* ---- the global run queue, idle Ps and Ms (sched.lock held) ------------- */

static void globrunqput(struct g *gp)
{
	st(&gp->status, G_RUNNABLE);
	gp->schedlink = NULL;
	if (sched.runqtail)
		sched.runqtail->schedlink = gp;
	else
		sched.runqhead = gp;
	sched.runqtail = gp;
	st(&sched.runqsize, ld(&sched.runqsize) + 1);
}

/* Take a batch for pp from the global queue (sched.lock held). */
static struct g *globrunqget(struct p *pp, int max)
{
	int n = ld(&sched.runqsize);
	struct g *gp;

	if (n == 0)
		return NULL;
	n = n / sched.nprocs + 1;
	if (n > ld(&sched.runqsize))
		n = ld(&sched.runqsize);
	if (max > 0 && n > max)
		n = max;
	if (n > RUNQ_SIZE / 2)
		n = RUNQ_SIZE / 2;
	st(&sched.runqsize, ld(&sched.runqsize) - n);
	gp = sched.runqhead;
	sched.runqhead = gp->schedlink;
	while (--n > 0) {
		struct g *g2 = sched.runqhead;

		sched.runqhead = g2->schedlink;
		runqput(pp, g2, false);
	}
	if (!sched.runqhead)
		sched.runqtail = NULL;
	return gp;
}

static void pidleput(struct p *pp)
{
	if (sched.ops->p_idle && sched.ops->p_idle(pp))
		return;		/* granted to an M that waits for a P */
	st(&pp->status, P_IDLE);
	pp->m = NULL;
	pp->onidle = true;
	pp->link = sched.pidle;
	sched.pidle = pp;
	atomic_fetch_add(&sched.npidle, 1);
}

/*
 * Take pp off the idle list (sched.lock held, pp on it).  If an M waits in
 * its ring (uring.c), detach it: *poller gets it when poller is not NULL
 * (the caller hands it the P), else it is woken to go back to the idle
 * list.  Returns whether the runtime holds pp now: false when the
 * backend's kernel side gave it, idle, to an M back from a block, whose
 * resync adopts it (p_unidle).
 */
static bool pidle_unlink(struct p *pp, struct m **poller)
{
	struct p **pl = &sched.pidle;

	while (*pl != pp)
		pl = &(*pl)->link;
	*pl = pp->link;
	pp->onidle = false;
	pp->wantm = false;
	atomic_fetch_sub(&sched.npidle, 1);
	if (poller)
		*poller = NULL;
	if (pp->poller) {
		pp->poller->pollp = NULL;
		if (poller)
			*poller = pp->poller;
		else
			uring_wake(pp->poller);
		pp->poller = NULL;
	}
	if (!sched.ops->p_unidle || sched.ops->p_unidle(pp))
		return true;
	if (poller && *poller) {
		uring_wake(*poller);
		*poller = NULL;
	}
	return false;
}

/*
 * Take an idle P (sched.lock held); see pidle_unlink for *poller.
 */
static struct p *pidleget_poller(struct m **poller)
{
	struct p *pp;

	while ((pp = sched.pidle))
		if (pidle_unlink(pp, poller))
			return pp;
	return NULL;
}

/*
 * pp, idle, was given to m by the backend's kernel side (kmod's strict
 * unblock): off the idle list if it is still there (sched.lock held).
 */
void pidle_taken(struct p *pp)
{
	if (pp->onidle)
		pidle_unlink(pp, NULL);
}

struct p *pidleget(void)
{
	return pidleget_poller(NULL);
}

/*
 * Take an idle P that has work - Gs on its run queue, or one startm left
 * waiting for an M (wantm), or any idle P when the global queue has Gs -
 * or return NULL (sched.lock held).
 */
static struct p *pidleget_work(void)
{
	struct p **pl = &sched.pidle;

	if (!*pl)
		return NULL;
	if (ld(&sched.runqsize) > 0)
		return pidleget();
	for (; *pl; pl = &(*pl)->link) {
		struct p *pp = *pl;

		if (runqempty(pp) && !pp->wantm)
			continue;
		*pl = pp->link;		/* to the head, for pidleget */
		pp->link = sched.pidle;
		sched.pidle = pp;
		return pidleget();
	}
	return NULL;
}

void acquirep(struct m *m, struct p *pp)
{
	m->p = pp;
	pp->m = m;
	st(&pp->status, P_RUNNING);
	if (sched.ops->p_acquire)
		sched.ops->p_acquire(m, pp);
}

static void mtemplate_kick(void);
static bool mreserve_low(void);
static bool mtemplate_wanted(void);
static void standby_refill(void);
static void m_retire_locked(struct m *m);

/* ---- Ms: park and unpark ---------------------------------------------------- */

static void standby_wait(struct m *m, int64_t timeout)
{
	if (sched.ops->standby_wait)
		sched.ops->standby_wait(m, timeout);
	else
		futex_wait(&m->park, 0, timeout);
}

static void standby_wake(struct m *m)
{
	if (sched.ops->standby_wake)
		sched.ops->standby_wake(m);
	else
		futex_wake(&m->park, 1);
}

/* Put m on the idle list, ready for startm (sched.lock held). */
static void midle_put(struct m *m)
{
	st(&m->park, 0);
	m->link = sched.midle;
	sched.midle = m;
	sched.nmidle++;
	m->on_midle = true;
}

/*
 * The threads of the process when sact_run began (their ids, sorted): the
 * caller, which only waits for the run to end, a sanitizer's own threads,
 * threads the program made before the run.  None of them counts as a
 * possible waker in checkdead.
 */
static pid_t *tids_before;
static int ntids_before;

static int tid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/* Call fn(tid, arg) for every thread of the process; how many, or -1. */
static int for_each_task(void (*fn)(pid_t tid, void *arg), void *arg)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (fn)
			fn((pid_t)atoi(e->d_name), arg);
		n++;
	}
	closedir(d);
	return n;
}

static void tid_note(pid_t tid, void *arg)
{
	int *i = arg;

	if (*i < ntids_before)
		tids_before[(*i)++] = tid;
}

static void tid_count_new(pid_t tid, void *arg)
{
	if (!bsearch(&tid, tids_before, ntids_before, sizeof(pid_t), tid_cmp))
		(*(int *)arg)++;
}

#if defined(__SANITIZE_THREAD__)
static void *noop_thread(void *arg)
{
	return arg;
}
#endif

/* At sact_run, before any thread of the run: note the threads there are. */
static void tids_snapshot(void)
{
	int n, i = 0;

#if defined(__SANITIZE_THREAD__)
	/* TSan starts threads of its own at the first pthread_create */
	pthread_t t;

	if (pthread_create(&t, NULL, noop_thread, NULL) == 0)
		pthread_join(t, NULL);
#endif
	free(tids_before);
	ntids_before = 0;
	n = for_each_task(NULL, NULL);
	tids_before = n > 0 ? malloc(sizeof(pid_t) * (n + 16)) : NULL;
	if (!tids_before)
		return;
	ntids_before = n + 16;	/* room for threads born meanwhile */
	for_each_task(tid_note, &i);
	ntids_before = i;
	qsort(tids_before, ntids_before, sizeof(pid_t), tid_cmp);
}

static int plain_threads(void)
{
	int born = 0;

	/* threads born since sact_run began that are not the runtime's:
	 * plain threads the program made, any of which may still wake a G
	 * (sact_sem_release, sact_chan_send from a callback or a library's
	 * thread).  Read only when checkdead would abort. */
	if (for_each_task(tid_count_new, &born) < 0)
		return 0;
	return born - sched.nmalive - sched.nmdying -
	       (sched.threads - (int)sched.ms_created);
}

/*
 * Go's checkdead: called by an M going idle with no timeout (sched.lock
 * held).  If that was the last M, every P is idle, nothing is queued and no
 * timer is pending, no G can run again unless a thread outside the runtime
 * readies one: then, if no such thread exists, the program is deadlocked
 * and this aborts.  Only a G or a plain thread can ready a G, so this
 * cannot be a false alarm.  An M in the kernel is not on the idle list, so
 * it keeps the check from firing; Ms parked in the module or a ring (kmod,
 * bpf) count as idle: they call it too.  Returns true when only plain
 * threads (plain_threads) keep the program alive: the caller parks for
 * CHECKDEAD_AGAIN_NS and checks again, so the abort still comes once they
 * exit.
 */
bool checkdead(void)
{
	if (sched.nmidle + sched.nkstandby + sched.nmlocked != sched.nmalive ||
	    ld(&sched.npidle) != sched.nprocs ||
	    ld(&sched.ngs) == 0 || ld(&sched.runqsize) != 0)
		return false;
	for (int i = 0; i < sched.nprocs; i++)
		if (!runqempty(&sched.allp[i]) || ld(&sched.allp[i].timer0))
			return false;
	if (plain_threads() > 0)
		return true;
	throw("sact: all Gs are asleep - deadlock");
}

/*
 * Wait, on the idle list, until startm hands m a P or deadline (nanotime,
 * <0: none) passes.  Returns true with m->p set, false on timeout or exit.
 */
static bool stopm_wait(struct m *m, int64_t deadline)
{
	while (ld_acq(&m->park) == 0) {
		int64_t left = -1;

		if (deadline >= 0) {
			left = deadline - nanotime();
			if (left <= 0) {
				/* time is up: leave the list unless already
				 * picked (then wait for the handoff) */
				lock_acquire(&sched.lock);
				if (m->on_midle) {
					struct m **pm = &sched.midle;

					while (*pm != m)
						pm = &(*pm)->link;
					*pm = m->link;
					sched.nmidle--;
					m->on_midle = false;
					m_retire_locked(m);
					lock_release(&sched.lock);
					return false;
				}
				lock_release(&sched.lock);
				deadline = -1;
				continue;
			}
		}
		standby_wait(m, left);
	}
	if (!m->nextp)
		return false;	/* woken to exit */
	acquirep(m, m->nextp);
	m->nextp = NULL;
	return true;
}

static bool stopm(struct m *m, int64_t timeout_ns);

/*
 * m waits for the idle P pp's completions (it is pp->poller; steps 3-5 of
 * the wake/idle protocol at the top of uring.c) until a CQE, startm or
 * deadline.  Returns true with m->p set (pp on a CQE or deadline, spinning
 * on a deadline so that it runs the timer; startm's P), false on exit.
 */
static bool stopm_poll(struct m *m, struct p *pp, int64_t deadline)
{
	int64_t left;

	for (;;) {
		int64_t wake = deadline;
		bool cqe;

		left = -1;

		lock_acquire(&sched.lock);
		if (ld_acq(&m->park)) {		/* startm gave us a P */
			lock_release(&sched.lock);
			if (!m->nextp)
				return false;
			acquirep(m, m->nextp);
			m->nextp = NULL;
			return true;
		}
		if (m->pollp != pp)		/* pp taken, or exiting */
			goto taken;
		cqe = uring_idle_ready(pp, &wake);	/* may lower wake */
		if (cqe || (deadline >= 0 && nanotime() >= deadline)) {
			pp->poller = NULL;
			m->pollp = NULL;
			if (!pidle_unlink(pp, NULL))	/* the kernel gave it away */
				goto taken;
			lock_release(&sched.lock);
			acquirep(m, pp);
			if (!cqe) {
				m->spinning = true;
				atomic_fetch_add(&sched.nmspinning, 1);
			}
			return true;
		}
		lock_release(&sched.lock);
		if (wake >= 0) {
			left = wake - nanotime();
			if (left < 0)
				left = 0;
		}
		uring_idle_wait(m, pp, left);
	}
taken:
	lock_release(&sched.lock);
	if (ld(&sched.exiting))
		return false;
	left = deadline >= 0 ? deadline - nanotime() : -1;
	return stopm(m, left < 0 && deadline >= 0 ? 0 : left);
}

/*
 * An idle P with ring operations in flight and no M waiting in its ring,
 * or NULL (sched.lock held).  An M about to park waits there instead.
 */
struct p *ring_wants_poller(void)
{
	for (int i = 0; i < sched.nprocs; i++) {
		struct p *pp = &sched.allp[i];

		if (pp->ring && pp->onidle && !pp->poller && uring_busy(pp))
			return pp;
	}
	return NULL;
}

/*
 * Park m (no P) until startm hands it one, or timeout_ns (<0: forever)
 * passes.  Returns true with m->p set, false on timeout or exit.  An idle
 * P with ring operations in flight and no M waiting in its ring gets m as
 * that M instead (stopm_poll).
 */
static bool stopm(struct m *m, int64_t timeout_ns)
{
	int64_t deadline = timeout_ns >= 0 ? nanotime() + timeout_ns : -1;
	struct p *pp;
	bool surplus, spin;

	if (m->p)
		throw("sact: stopm holding a P");
	stack_cool();	/* nothing to run: give cold stacks back first */
	/*
	 * A P that startm idled with work because every M was busy waits
	 * for the next M to come free (sched.handoff_waits): this one.
	 * Both sides decide under sched.lock: either startm found m on the
	 * idle list, or m finds the P here - never neither (the lost wakeup
	 * an M coming back from exitsyscall_slow met when a retake idled a
	 * P between its pidleget and its park).
	 */
	lock_acquire(&sched.lock);
	if (m->coming) {	/* it is here: counted as idle by its state */
		m->coming = false;
		sched.nmcoming--;
	}
	pp = pidleget_work();
	spin = false;
	if (!pp && sched.mwant_spin > 0 && sched.pidle) {
		pp = pidleget();	/* a wakep that found no M: startm */
		sched.mwant_spin--;
		spin = true;
	}
	surplus = sched.nmalive > sched.mkeep &&
		  sched.nkstandby >= sched.kstandby_target;
	lock_release(&sched.lock);
	if (pp) {
		acquirep(m, pp);
		m->spinning = spin;	/* counted in nmspinning by startm */
		return true;
	}
	/* a surplus M parks where it can time out, not in a standby pool */
	if (timeout_ns < 0 && !surplus && sched.ops->park_standby) {
		int r = sched.ops->park_standby(m);

		/* taken out of the pool with a P: the pool is refilled when
		 * G code runs on it (schedule_loop), not before - an M that
		 * finds nothing to run goes back to the pool itself */
		if (r)
			return r > 0;
	}
	lock_acquire(&sched.lock);
	if (ld(&sched.exiting)) {
		lock_release(&sched.lock);
		return false;
	}
	pp = ring_wants_poller();
	if (pp && uring_m_ready(m)) {
		pp->poller = m;
		m->pollp = pp;
		st(&m->park, 0);
		lock_release(&sched.lock);
		return stopm_poll(m, pp, deadline);
	}
	midle_put(m);
	m->mayretire = false;
	if (timeout_ns < 0) {
		if (checkdead())	/* a plain thread may wake a G */
			deadline = nanotime() + CHECKDEAD_AGAIN_NS;
		else if (sched.nmalive > sched.mkeep && sched.midle_ns >= 0) {
			deadline = nanotime() + sched.midle_ns;
			m->mayretire = true;
		}
	}
	lock_release(&sched.lock);
	return stopm_wait(m, deadline);
}

/*
 * Give pp (or an idle P if pp is NULL) to an idle M.  spinning: the M is
 * to steal (nmspinning was already incremented for it).  handoff: pp came
 * from an M blocked in the kernel (counted when no M is left for it).
 */
void startm(struct p *pp, bool spinning, bool handoff)
{
	struct m *m = NULL;
	bool kick;

	lock_acquire(&sched.lock);
	if (!pp) {
		pp = pidleget_poller(&m);
		if (!pp) {
			lock_release(&sched.lock);
			if (spinning)
				atomic_fetch_sub(&sched.nmspinning, 1);
			return;
		}
		if (m && !ld(&sched.exiting)) {
			/* the M waiting in pp's ring takes pp (uring.c) */
			m->nextp = pp;
			m->spinning = spinning;
			st_rel(&m->park, 1);
			lock_release(&sched.lock);
			uring_wake(m);
			return;
		}
		if (m)
			uring_wake(m);
	}
	m = sched.midle;
	if (!m && !ld(&sched.exiting) && sched.ops->standby_grant &&
	    sched.ops->standby_grant(pp, spinning)) {
		lock_release(&sched.lock);	/* a module standby took pp */
		return;
	}
	if (!m || ld(&sched.exiting)) {
		/* every M is busy or in the kernel: the P waits for one, and
		 * the template thread makes one (the P's next M takes it in
		 * stopm) */
		pidleput(pp);
		if (!ld(&sched.exiting)) {
			/* work of pp's own that only an M on pp runs (a
			 * wakep's P has none: the work is elsewhere) */
			pp->wantm = ld(&pp->timer0) ||
				    (pp->ring && uring_busy(pp));
			sched.mwant++;
			/* a wakep: the next M in stopm takes an idle P and
			 * spins, as Go's newm(mspinning) - else the work
			 * that called for it stays queued behind a busy P.
			 * nmspinning stays counted for that M. */
			if (spinning) {
				sched.mwant_spin++;
				spinning = false;
			}
		}
		lock_release(&sched.lock);
		mtemplate_kick();
		if (handoff)
			atomic_fetch_add(&sched.handoff_waits, 1);
		if (spinning)
			atomic_fetch_sub(&sched.nmspinning, 1);
		return;
	}
	sched.midle = m->link;
	sched.nmidle--;
	m->on_midle = false;
	m->nextp = pp;
	m->spinning = spinning;
	st_rel(&m->park, 1);
	kick = mtemplate_wanted();
	lock_release(&sched.lock);
	standby_wake(m);
	if (kick)
		mtemplate_kick();
}

static void wakep_from_outside(void);

/*
 * Try to add one more spinning M when there is an idle P (step 2-3 of the
 * submitter in the essay).  The caller holds a P.
 */
void wakep(void)
{
	if (sched.nprocs == 1)
		return;	/* the caller holds the only P: none is ever idle */
	wakep_from_outside();
}

/* wakep for a caller that may hold no P (a plain thread readying a G). */
static void wakep_from_outside(void)
{
	int z = 0;

	atomic_thread_fence(SEQCST);	/* StoreLoad: pairs with nmspinning-- */
	if (ld(&sched.npidle) == 0 || ld(&sched.nmspinning) != 0)
		return;
	if (!atomic_compare_exchange_strong(&sched.nmspinning, &z, 1))
		return;
	atomic_fetch_add_explicit(&sched.wakeups, 1, RELAXED);
	startm(NULL, true, false);
}

/*
 * pp was taken from an M blocked in the kernel (sysmon's retake, or a block
 * upcall): give it to a standby M if it has anything to do, else idle it.
 */
void handoffp(struct p *pp)
{
	int z = 0;

	/* ring ops in flight count as work: an M must wait in the ring */
	if (!runqempty(pp) || ld(&sched.runqsize) > 0 || ld(&pp->timer0) ||
	    (pp->ring && uring_busy(pp))) {
		startm(pp, false, true);
		return;
	}
	/* no local work: like Go, make sure someone looks for work if no M
	 * spins and no P is idle */
	if (ld(&sched.nmspinning) + ld(&sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&sched.nmspinning, &z, 1)) {
		startm(pp, true, true);
		return;
	}
	lock_acquire(&sched.lock);
	pidleput(pp);
	lock_release(&sched.lock);
}

/* A spinning M found work: stop spinning, let another M take over. */
static void resetspinning(struct m *m)
{
	m->spinning = false;
	if (atomic_fetch_sub(&sched.nmspinning, 1) < 1)
		throw("sact: negative nmspinning");
	wakep();
}

/* ---- finding work ------------------------------------------------------------ */

/*
 * The fast path of schedule: timers due on pp, the global queue every 61
 * ticks, then the local queue.  Must run on the owner of pp.  Callable from
 * a G's stack (it never blocks).
 */
static struct g *pick_local(struct p *pp)
{
	struct g *gp;

	if (pp->ring)
		uring_poll(pp);		/* completions ready their Gs */
	if (unlikely(ld(&pp->timer0)))
		timers_run(pp, nanotime(), pp);
	st(&pp->schedtick, ld(&pp->schedtick) + 1);
	if (unlikely(ld(&pp->schedtick) % 61 == 0) &&
	    ld(&sched.runqsize) > 0) {
		lock_acquire(&sched.lock);
		gp = globrunqget(pp, 1);
		lock_release(&sched.lock);
		if (gp)
			return gp;
	}
	return runqget(pp);
}

/*
 * Take an idle P, if there is one, and become a spinning M on it (to look
 * for work there).  m holds no P.  Returns whether it took one.
 */
static bool acquire_idlep_spinning(struct m *m)
{
	struct p *pp;

	lock_acquire(&sched.lock);
	pp = pidleget();
	lock_release(&sched.lock);
	if (!pp)
		return false;
	acquirep(m, pp);
	m->spinning = true;
	atomic_fetch_add(&sched.nmspinning, 1);
	return true;
}

/*
 * Find a runnable G for m, blocking the M if there is none.  On g0 only.
 * Returns with m->p held, or NULL when the runtime is exiting.
 */
static struct g *findrunnable(struct m *m)
{
	struct g *gp;
	struct p *pp;
	bool was_spinning;

top:
	if (ld(&sched.exiting) || m->retiring)
		return NULL;
	if (!m->p) {
		/* a standby M: wait for a P, then look for work */
		if (!stopm(m, -1))
			goto top;
	}
	pp = m->p;
	gp = pick_local(pp);
	if (gp)
		goto found;
	if (ld(&sched.runqsize) > 0) {
		lock_acquire(&sched.lock);
		gp = globrunqget(pp, 0);
		lock_release(&sched.lock);
		if (gp)
			goto found;
	}

	/* steal, spinning, when not too many already spin */
	if (m->spinning ||
	    2 * ld(&sched.nmspinning) < sched.nprocs - ld(&sched.npidle)) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add(&sched.nmspinning, 1);
		}
		for (int i = 0; i < 4; i++) {
			uint32_t off = fastrand(&m->rand);
			int64_t now = nanotime();

			for (int k = 0; k < sched.nprocs; k++) {
				struct p *p2 = &sched.allp[(off + k) %
							   sched.nprocs];

				if (p2 == pp)
					continue;
				if (ld(&p2->timer0) && ld(&p2->timer0) <= now)
					timers_run(p2, now, pp);
				gp = runqget(pp);
				if (gp)
					goto found;
				gp = runqsteal(pp, p2, i == 3);
				if (gp) {
					stat_inc(&m->st.steals);
					goto found;
				}
			}
		}
	}

	/* nothing: give up the P (steps 1-4 of the spinning M in the essay) */
	lock_acquire(&sched.lock);
	if (ld(&sched.runqsize) > 0) {
		gp = globrunqget(pp, 0);
		lock_release(&sched.lock);
		goto found;
	}
	m->p = NULL;
	pidleput(pp);
	lock_release(&sched.lock);

	/*
	 * Only a spinning M rechecks (as in Go): work submitted while no M
	 * spun made its submitter wake one (wakep), and a non-spinning M
	 * that rechecked could not steal anyway (too many spinners) and
	 * would loop here.
	 */
	was_spinning = m->spinning;
	if (m->spinning) {
		stat_inc(&m->st.idle_spins);
		m->spinning = false;
		if (atomic_fetch_sub(&sched.nmspinning, 1) < 1)
			throw("sact: negative nmspinning");
	}
	for (int k = 0; was_spinning && k < sched.nprocs; k++) {
		if (!runqempty(&sched.allp[k])) {
			if (acquire_idlep_spinning(m))
				goto top;
			break;
		}
	}

	/* sleep until the next timer (or for ever), then look again */
	{
		int64_t next = timers_next(), timeout = -1;

		if (next) {
			timeout = next - nanotime();
			if (timeout < 0)
				timeout = 0;
		}
		if (!stopm(m, timeout) && timeout >= 0 &&
		    !ld(&sched.exiting)) {
			/* the timer is due: take an idle P to run it */
			if (!acquire_idlep_spinning(m))
				stopm(m, -1);	/* every P runs: they run their timers */
		}
	}
	goto top;

found:
	if (m->spinning)
		resetspinning(m);
	return gp;
}

/* ---- locked Gs (sact_lock_thread) -------------------------------------------
 *
 * Go's LockOSThread: a locked G runs only on its M, and that M runs only
 * it.  While the G is not running, its M sleeps in stoplockedm and its P
 * serves other Gs; the G itself sits on run queues like any other.  An M
 * whose scheduler picks a G locked to another M hands it its P instead
 * (startlockedm) and looks for a P of its own again.  A G never switches
 * to another G straight from a locked M or into a locked G (next_after,
 * sact_yield go through g0 then).
 */

/*
 * m's locked G is not running (it parked, yielded, or m lost its P): give
 * m's P away and sleep until a picker hands the G back with a P.  On g0.
 * Returns the G, to run, or NULL when the runtime exits.
 */
static struct g *stoplockedm(struct m *m)
{
	struct p *pp = m->p;
	bool dead;

	if (pp) {
		m->p = NULL;
		if (sched.ops->p_release)
			sched.ops->p_release(m, pp);
		handoffp(pp);
	}
	lock_acquire(&sched.lock);
	sched.nmlocked++;
	dead = checkdead();	/* idle, to it: only a plain thread may help */
	lock_release(&sched.lock);
	while (!ld_acq(&m->lockwake) && !ld(&sched.exiting)) {
		futex_wait(&m->lockwake, 0, dead ? CHECKDEAD_AGAIN_NS : -1);
		if (dead) {
			lock_acquire(&sched.lock);
			dead = !ld_acq(&m->lockwake) && checkdead();
			lock_release(&sched.lock);
		}
	}
	lock_acquire(&sched.lock);
	sched.nmlocked--;
	lock_release(&sched.lock);
	if (!ld_acq(&m->lockwake))
		return NULL;			/* exiting */
	st(&m->lockwake, 0);
	acquirep(m, m->lockedp);
	m->lockedp = NULL;
	return m->lockedg;
}

/*
 * m (on g0, holding a P) picked gp, locked to another M: that M gets m's P
 * and runs gp; m has none now.
 */
static void startlockedm(struct m *m, struct g *gp)
{
	struct m *lm = gp->lockedm;
	struct p *pp = m->p;

	m->p = NULL;
	if (sched.ops->p_release)
		sched.ops->p_release(m, pp);
	pp->m = lm;
	lm->lockedp = pp;
	st_rel(&lm->lockwake, 1);
	futex_wake(&lm->lockwake, 1);
}

/* The scheduler loop of an M, on g0. */
static void schedule_loop(struct m *m)
{
	for (;;) {
		struct g *gp;

		run_after(m);
		if (unlikely(m->lockedg != NULL)) {
			gp = stoplockedm(m);
		} else {
			gp = findrunnable(m);
			if (gp && unlikely(gp->lockedm != NULL)) {
				startlockedm(m, gp);
				continue;
			}
		}
		if (!gp)
			return;
		/* G code is about to run on m's P: it may block, and only
		 * the backend's pool serves blocks (standby_refill).  A racy
		 * look; standby_refill looks again under sched.lock. */
		if (unlikely(ld(&sched.nkstandby) + ld(&sched.nmcoming) <
			     sched.kstandby_low))
			standby_refill();
		st(&gp->status, G_RUNNING);
		switch_to(m, &m->g0, gp);
	}
}

/* ---- parking and readying Gs ------------------------------------------------ */

/*
 * Pick what m runs after gp stops: the local queue, else g0 - always g0
 * from a locked M, or for a G locked to another M (it goes back first in
 * line, for g0 to hand over: startlockedm).
 */
static struct g *next_after(struct m *m)
{
	struct g *next;

	if (unlikely(m->lockedg != NULL))
		return &m->g0;
	next = pick_local(m->p);
	if (next && unlikely(next->lockedm != NULL)) {
		runqput(m->p, next, true);
		return &m->g0;
	}
	if (next) {
		st(&next->status, G_RUNNING);
		return next;
	}
	return &m->g0;
}

/* ---- plain threads in the primitives ----------------------------------------
 *
 * A thread that is not an M (the program's own pthread, a library's
 * callback thread) may call any primitive.  Waking a G from there readies
 * it on the global queue (goready).  Waiting there parks the thread, not a
 * G: the thread gets a G of its own (threadg: no stack, ext set), which
 * the primitives queue like any other; gopark then releases the
 * primitive's lock(s) at once (nothing needs to get off a stack) and sleeps
 * on the G's futex word until a waker's goready, or its deadline, when it
 * claims the timeout itself as a G's timer would.
 */

static __thread struct g threadg_tls;

/* The calling G, or the calling plain thread's own G. */
struct g *getg_or_threadg(void)
{
	struct m *m = getm();

	if (m && m->curg != &m->g0)
		return m->curg;
	if (m)
		throw("sact: blocking primitive called on an M's own stack");
	threadg_tls.ext = true;
	return &threadg_tls;
}

static int threadg_park(struct g *gp, struct lock **locks, int n,
			int64_t deadline)
{
	int z = 0;

	st(&gp->extwake, 0);
	for (int i = 0; i < n; i++)
		lock_release(locks[i]);
	while (!ld_acq(&gp->extwake)) {
		int64_t left = -1;

		if (deadline) {
			left = deadline - nanotime();
			if (left <= 0 &&
			    atomic_compare_exchange_strong(&gp->claim, &z,
							   CLAIM_TIMEOUT))
				return CLAIM_TIMEOUT;
			if (left <= 0)
				deadline = 0;	/* a waker won: wait for it */
		}
		futex_wait(&gp->extwake, 0, left < 0 ? -1 : left);
	}
	return ld_acq(&gp->claim);
}

/*
 * Park the running G gp (must be the caller).  unlock: released once gp is
 * off its stack (the lock of the queue gp is on).  deadline (nanotime, 0:
 * none): a timer readies gp then; timer_reserve() must have succeeded on
 * this P since the last switch.  gp->claim must be 0 (set under unlock).
 * Returns CLAIM_WOKEN or CLAIM_TIMEOUT.
 */
int gopark(struct g *gp, struct lock *unlock, int64_t deadline)
{
	struct m *m = gp->m;

	if (unlikely(gp->ext))
		return threadg_park(gp, &unlock, unlock ? 1 : 0, deadline);
	gp->when = deadline;
	st(&gp->status, G_WAITING);
	stat_inc(&m->st.parks);
	m->after = AFTER_PARK;
	m->after_g = gp;
	m->after_lock = unlock;
	switch_to(m, gp, next_after(m));
	if (deadline)
		timer_del(gp);
	return ld_acq(&gp->claim);
}

/*
 * gopark releasing n locks (n <= SACT_SELECT_MAX) once gp is off its
 * stack: sact_chan_select, queued on several channels at once.
 */
int gopark_locks(struct g *gp, struct lock **locks, int n, int64_t deadline)
{
	struct m *m = gp->m;

	if (n > SACT_SELECT_MAX)
		throw("sact: gopark_locks: too many locks");
	if (unlikely(gp->ext))
		return threadg_park(gp, locks, n, deadline);
	for (int i = 0; i < n; i++)
		m->after_locks[i] = locks[i];
	m->after_nlocks = n;
	return gopark(gp, NULL, deadline);
}

/*
 * Make gp runnable (it was parked; the caller won its claim).  On an M
 * with a P: next on that P.  From a plain thread (a library's callback
 * thread, a timer): on the global queue, and an idle P is woken for it.
 * A plain thread's own G (ext) is woken on its futex instead.
 */
void goready(struct g *gp)
{
	struct m *m;

	if (unlikely(gp->ext)) {
		st_rel(&gp->extwake, 1);
		futex_wake(&gp->extwake, 1);
		return;
	}
	m = getm();
	if (unlikely(!m || !m->p)) {
		lock_acquire(&sched.lock);
		globrunqput(gp);
		lock_release(&sched.lock);
		wakep_from_outside();
		return;
	}
	runqput(m->p, gp, true);
	wakep();
}

/* The CPUs this process may run on (its affinity mask; 1 if unknown). */
static int cpus_allowed(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set);
}

/*
 * May a G that found a mutex held spin for it (iteration iter) instead of
 * parking?  Go's sync_runtime_canSpin: a few rounds, only on a machine
 * with more than one CPU, while some other P runs G code (the holder is
 * likely running: every P but this one is neither idle nor looking for
 * work) and while this P has nothing else queued to run.  Never on a
 * plain thread (no P).
 */
bool sync_canspin(int iter)
{
	struct m *m = getm_raw();

	if (iter >= SYNC_SPINS || sched.ncpu <= 1 || !m || !m->p)
		return false;
	if (sched.nprocs <= ld(&sched.npidle) + ld(&sched.nmspinning) + 1)
		return false;
	return ld(&m->p->runqhead) == ld(&m->p->runqtail);
}

/*
 * m, running G code, finds at its runtime entry (m_resync) that its P was
 * taken while it was blocked in a call no wrapper saw (bpf, sysmon): it
 * has none now.  Take an idle P and go on, or queue the running G on the
 * global queue and make m a standby (the G resumes on whichever M runs it
 * next).  Returns the M the caller runs on afterwards.
 */
struct m *m_lost_p(struct m *m)
{
	struct g *gp = m->curg;
	struct p *pp;

	if (gp == &m->g0 || m->after != AFTER_NONE)
		throw("sact: P taken inside the runtime");
	m->p = NULL;
	lock_acquire(&sched.lock);
	pp = pidleget();
	lock_release(&sched.lock);
	if (pp) {
		acquirep(m, pp);	/* gp goes on here, on pp */
		return m;
	}
	st(&gp->status, G_RUNNABLE);
	m->after = AFTER_GLOBRUNQ;
	m->after_g = gp;
	sact_switch_to_g0(m, gp);
	return getm_raw();	/* gp runs again, on some M with a P */
}

/* exitsyscall without a P (syscall.c): gp to g0, m->after already set. */
void sact_switch_to_g0(struct m *m, struct g *gp)
{
	switch_to(m, gp, &m->g0);
}

static void goexit(struct g *gp)
{
	/* kmod/bpf: a raw block in the G may have moved its P (or, bpf,
	 * the G itself to another M) */
	struct m *m = m_resync(gp->m);

	if (unlikely(gp->lockedm != NULL)) {	/* exits locked: unwire */
		gp->lockedm = NULL;
		gp->lockcount = 0;
		m->lockedg = NULL;
	}
	st(&gp->status, G_DEAD);
	m->after = AFTER_EXIT;
	m->after_g = gp;
	switch_to(m, gp, next_after(m));
	throw("sact: dead G resumed");
}

/* ---- the public API ---------------------------------------------------------- */

#define SPAWN_YIELD	(RUNQ_SIZE / 2)	/* see the end of sact_go */

SACT_API int sact_go(void (*fn)(void *), void *arg)
{
	struct m *m = getm();
	struct g *gp;
	int64_t n, peak;

	if (!m || !m->p || m->curg == &m->g0)
		return -EPERM;
	if (!fn || !(gp = gfget(m->p))) {
		m_back_to_g(m);
		return fn ? -ENOMEM : -EINVAL;
	}
	gp->fn = fn;
	gp->arg = arg;
	gp->ring_timeout = 0;
	if (m->p->goidnext == m->p->goidend) {	/* a batch, like Go */
		m->p->goidnext = atomic_fetch_add_explicit(
			&sched.goid, 16, RELAXED) + 1;
		m->p->goidend = m->p->goidnext + 16;
	}
	gp->goid = m->p->goidnext++;
	gframe_init(gp);
	n = atomic_fetch_add(&sched.ngs, 1) + 1;
	peak = ld(&sched.ngs_peak);
	while (n > peak &&
	       !atomic_compare_exchange_weak(&sched.ngs_peak, &peak, n))
		;
	stat_inc(&m->st.spawned);
	runqput(m->p, gp, true);
	wakep();
	/*
	 * A G that spawns much faster than Gs run would hold every G it made
	 * alive at once, each with a resident stack page (200,000: 800 MiB);
	 * Go's preemption lets them run meanwhile.  Here a spawner whose P
	 * has SPAWN_YIELD Gs queued yields to them: they run first, and their
	 * stacks come back warm for its next spawns.
	 */
	if (unlikely(ld(&m->p->runqtail) - ld(&m->p->runqhead) >= SPAWN_YIELD)) {
		sact_yield();	/* its own way back to G code */
		return 0;
	}
	m_back_to_g(m);
	return 0;
}

SACT_API void sact_yield(void)
{
	struct m *m = getm();
	struct g *gp, *next;

	if (!m || m->curg == &m->g0)
		return;
	gp = m->curg;
	/*
	 * kmod: an M came back from a block and waits in the kernel for a P
	 * (strict mode), with its G; bpf: the same in lost_handler.  A yield
	 * is where this P changes hands, the way Go's exitsyscall queues the
	 * returning G for the next schedule.  Without it, Gs that only yield
	 * would never idle the P.
	 */
	if ((unlikely(m->ks != NULL) && kmod_p_wanted()) ||
	    (unlikely(m->bin_g != NULL) && bpf_p_wanted())) {
		st(&gp->status, G_RUNNABLE);
		m->after = AFTER_HANDOFF;
		m->after_g = gp;
		switch_to(m, gp, &m->g0);
		return;
	}
	if (unlikely(m->lockedg != NULL)) {
		/* g0 gives the P away and waits for gp's turn (stoplockedm) */
		next = &m->g0;
		goto switch_next;
	}
	next = pick_local(m->p);
	if (!next) {
		if (ld(&sched.runqsize) == 0)
			goto out;	/* nothing else to run here */
		lock_acquire(&sched.lock);
		next = globrunqget(m->p, 0);
		lock_release(&sched.lock);
		if (!next)
			goto out;
	}
	if (unlikely(next->lockedm != NULL)) {
		runqput(m->p, next, true);	/* g0 hands it over */
		next = &m->g0;
		goto switch_next;
	}
	st(&next->status, G_RUNNING);
switch_next:
	m->after = AFTER_RUNQPUT;
	m->after_g = gp;
	switch_to(m, gp, next);
	return;
out:
	m_back_to_g(m);
}

SACT_API int sact_lock_thread(void)
{
	struct m *m = getm();
	struct g *gp;

	if (!m || m->curg == &m->g0)
		return -EPERM;
	gp = m->curg;
	if (gp->lockcount == INT_MAX) {
		m_back_to_g(m);
		return -EOVERFLOW;
	}
	if (gp->lockcount++ == 0) {
		gp->lockedm = m;
		m->lockedg = gp;
	}
	m_back_to_g(m);
	return 0;
}

SACT_API void sact_unlock_thread(void)
{
	struct m *m = getm();
	struct g *gp;

	if (!m || m->curg == &m->g0)
		return;
	gp = m->curg;
	if (gp->lockcount > 0 && --gp->lockcount == 0) {
		gp->lockedm = NULL;
		m->lockedg = NULL;
	}
	m_back_to_g(m);
}

SACT_API enum sact_backend sact_backend(void)
{
	return last_backend;
}

/* ---- Ms: creation, the template thread, retirement -------------------------
 *
 * Elastic Ms.  sact_run creates nprocs + standby Ms (mkeep).  A raw blocking
 * call holds its M in the kernel, so a run in which many Gs block at once
 * needs as many Ms as there are such Gs, plus nprocs to run the others:
 * the set of Ms grows with the blocks and shrinks after them.
 *
 *  - Who creates: only the template thread (Go's templateThread), never the
 *    handoff path.  A handoff takes an M that is already parked (the
 *    standby reserve); when the reserve of idle Ms falls below its
 *    low-water mark (mlow: 1, or 0 with standby = 0), or a P waits with
 *    work and no M (startm found none: mwant), or a used-up standby of a
 *    backend's pool (kmod, bpf) has no idle M to take its place
 *    (standby_refill: mwant), it kicks the template, which creates Ms
 *    until none of these holds (or the cap, mmax, is
 *    reached: then Ps wait for an M to come back from the kernel, as
 *    before, and SACT_DEBUG=1 says so once).  A new M starts in stopm: it
 *    takes an idle P with work, or parks as a standby.
 *  - Who retires: an M finding nothing to do while more than mkeep Ms are
 *    alive parks on the idle list with a deadline (midle_ns) instead of
 *    in a backend's standby pool; if nothing woke it by then and still
 *    more than mkeep are alive, it retires (m_retire_locked, under
 *    sched.lock with the count).  It leaves its slot to the template,
 *    which joins the thread and frees it.  So after a burst the run is back
 *    to mkeep Ms (+ the template, + sysmon's monitor).  Not an M whose ring
 *    ops are still in flight (uring_m_submitted): the kernel would cancel
 *    them as its thread exits.  It parks again and retires once they are
 *    done.
 *  - Racy, and contained: an M on its way to stopm (a new one, or one bpf
 *    sends to stand by in a ring) counts as idle (nmcoming) until stopm
 *    sees it; from there to its park it is counted nowhere (so is a
 *    standby woken to take a P, and an M back from a block without its
 *    P), and a kick then may make an M too many for each such M, which
 *    retires after midle_ns.
 *
 * Stacks: an M's own stack (g0) runs only the scheduler and the backends'
 * calls - G code runs on G stacks - so it is small (sched.m_stack,
 * sact_config.thread_stack_kb, 256 KiB by default): Ms cost
 * little address space however many the blocks need.  The template and
 * sysmon's monitor run no G code either and get the same size
 * (runtime_thread_start).
 */

#define M_STACK_KB_DEFAULT 256
#define M_STACK_SANITIZED ((size_t)2 << 20)	/* the sanitizers' frames
						 * are fat */
#define M_MAX_DEFAULT	10000		/* Go's default max threads */
#define M_IDLE_MS_DEFAULT 1000

static void mtemplate_kick(void)
{
	if (atomic_exchange(&sched.mtemplate_wake, 1) == 0)
		futex_wake(&sched.mtemplate_wake, 1);
}

/* Is an M wanted: a P waits for one, or the reserve is low?  (L) */
static bool mreserve_wanted(void)
{
	return !ld(&sched.exiting) && (sched.mwant > 0 ||
	       sched.nmidle + sched.nkstandby + sched.nmcoming < sched.mlow);
}

/* Must the template thread make an M?  (sched.lock held) */
static bool mreserve_low(void)
{
	return mreserve_wanted() && sched.nmalive < sched.mmax;
}

/* Must the template look: to make an M, or to say it is at the cap?  (L) */
static bool mtemplate_wanted(void)
{
	return mreserve_wanted() &&
	       (sched.nmalive < sched.mmax || !sched.mcap_said);
}

/*
 * G code is about to run on a P while the backend's pool (Ms parked in the
 * module, or in the Ps' rings) is short - its standbys went to blocks or
 * grants: only that pool serves blocks, so keep at least kstandby_low
 * there - an M off the idle list goes to
 * stand by (woken without a P, findrunnable sends it to stopm(-1), which
 * parks it with the backend), else the template makes one (mwant) - and
 * kick the template if the reserve is low.  Without this, Ms idle on the
 * list while every standby is used up leave a block's P with nobody to
 * take it (kmod: FREE; bpf: its ring unattended) and the Gs of that P
 * wait for a block to end.  Any M, sched.lock not held.
 */
static void standby_refill(void)
{
	struct m *n = NULL;
	bool kick;

	lock_acquire(&sched.lock);
	/* Ms on their way to stopm (nmcoming) and Ms asked of the
	 * template (mwant) may stand by there: count them, or every M that
	 * runs G code while the pool is short asks for one more */
	if (!ld(&sched.exiting) && sched.nkstandby + sched.nmcoming +
				   sched.mwant < sched.kstandby_low) {
		n = sched.midle;
		if (n) {
			sched.midle = n->link;
			sched.nmidle--;
			n->on_midle = false;
			n->nextp = NULL;
			n->coming = true;	/* idle, for the reserve */
			sched.nmcoming++;
			st_rel(&n->park, 1);
		} else {
			sched.mwant++;		/* a new M will */
		}
	}
	kick = mtemplate_wanted();
	lock_release(&sched.lock);
	if (n)
		standby_wake(n);
	if (kick)
		mtemplate_kick();
}

/*
 * m, idle on the list past its deadline, leaves if it is still a surplus M
 * (sched.lock held).  Its thread exits through schedule_loop; the template
 * joins it.
 */
static void m_retire_locked(struct m *m)
{
	if (!m->mayretire || sched.nmalive <= sched.mkeep ||
	    ld(&sched.exiting) || uring_m_submitted(m))
		return;
	m->retiring = true;
	sched.nmalive--;
	sched.nmdying++;
	sched.ms_retired++;
}

static void *m_main(void *arg);

/*
 * Ms are allocated and freed outside sched.lock (m_new, m_delete) and
 * put in and taken out of allm under it (m_install, m_unlink).
 *
 * Not with malloc: the template thread makes the Ms, and the first malloc
 * of a thread gives it an arena of its own, 64 MiB of address space (an
 * idle sact program's VSZ went from 5.6 to 70 MiB).  Nor under sched.lock
 * in any case: an M waiting for a P in bpf's lost_handler may hold a lock
 * of libc's (it was interrupted inside malloc) while it waits for
 * sched.lock.  So struct m comes from M_CHUNK mappings of the runtime's
 * own, kept on a free list (mpool) across runs: a handful of pages.
 */
#define M_CHUNK		(64UL << 10)

static struct {
	struct lock lock;
	struct m *free;			/* freed Ms, linked through m->link */
	char *next, *end;		/* the rest of the newest chunk: carved
					 * as needed, so untouched pages stay
					 * out of the RSS */
} mpool;

static struct m *m_new(void)
{
	struct m *m;

	lock_acquire(&mpool.lock);
	if ((m = mpool.free)) {
		mpool.free = m->link;
	} else {
		if (mpool.end - mpool.next < (ptrdiff_t)sizeof(*m)) {
			char *c = mmap(NULL, M_CHUNK, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (c == MAP_FAILED) {
				lock_release(&mpool.lock);
				return NULL;
			}
			mpool.next = c;
			mpool.end = c + M_CHUNK;
		}
		m = (struct m *)mpool.next;
		mpool.next += sizeof(*m);
	}
	lock_release(&mpool.lock);
	memset(m, 0, sizeof(*m));
	m->wakefd = -1;
	return m;
}

/* m into a free slot of allm (sched.lock held).  -EAGAIN at the cap. */
static int m_install(struct m *m)
{
	int id = 0;

	while (id < sched.nm && sched.allm[id])
		id++;
	if (id >= sched.mmax)
		return -EAGAIN;
	m->id = id;
	m->rand = 0xbf58476d1ce4e5b9ULL * (id + 1) | (uint64_t)nanotime() | 1;
	sched.allm[id] = m;
	if (id >= sched.nm)
		sched.nm = id + 1;
	return 0;
}

/* A joined (or never started) M out of allm, its counts kept (sched.lock
 * held); m_delete frees it after the lock. */
static void m_unlink(struct m *m)
{
	struct m_stats *t = &sched.st_retired;

	t->switches += ld(&m->st.switches);
	t->parks += ld(&m->st.parks);
	t->steals += ld(&m->st.steals);
	t->syscalls += ld(&m->st.syscalls);
	t->spawned += ld(&m->st.spawned);
	t->idle_spins += ld(&m->st.idle_spins);
	sched.allm[m->id] = NULL;
}

static void m_delete(struct m *m)
{
	if (m->wakefd >= 0)
		close(m->wakefd);
	lock_acquire(&mpool.lock);
	m->link = mpool.free;
	mpool.free = m;
	lock_release(&mpool.lock);
}

/* m_unlink and m_delete at once: where no other thread runs. */
static void m_free(struct m *m)
{
	m_unlink(m);
	m_delete(m);
}

/*
 * glibc gives each thread that mallocs its own arena, 64 MiB of address
 * space, up to 8 per core; at most nprocs Ms run G code at once, so more
 * arenas than Ps only cost VSZ (one per blocked M).  Limit them to nprocs
 * unless the program chose (MALLOC_ARENA_MAX, or the glibc.malloc.arena_max
 * tunable; a mallopt call of its own cannot be seen, and this one
 * overrides it).  Process-wide, and it stays after sact_run returns.
 */
static void malloc_arenas_limit(long nprocs)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (getenv("MALLOC_ARENA_MAX") || (t && strstr(t, "arena_max")))
		return;
	mallopt(M_ARENA_MAX, (int)nprocs);
}

/*
 * SACT_STACK_CHECK=1: how deep the runtime's own threads go into their
 * stacks.  At its start a thread fills its stack below its frame with
 * STACK_PAINT; at its end it finds the lowest word that is no longer
 * paint, and sched.stack_used keeps the deepest use of the run (the
 * stack's top - TLS and the thread descriptor - included): what
 * thread_stack_kb must hold, signal handlers included, measured
 * (sact_stats.thread_stack_used).  Not in sanitized builds: their own
 * bookkeeping lives in that memory.
 */
#define STACK_PAINT	0x5ac75ac75ac75ac7UL
#define STACK_FRAME_SLACK 1024	/* the painter's own frame and red zone */

struct thread_start {
	void *(*fn)(void *);
	void *arg;
};

/* Bounds of the calling thread's stack: [*lo, *lo + *size).  0 or -1. */
static int stack_bounds(unsigned long **lo, size_t *size)
{
	pthread_attr_t a;
	void *addr;
	int r = -1;

	if (pthread_getattr_np(pthread_self(), &a))
		return -1;
	if (!pthread_attr_getstack(&a, &addr, size)) {
		*lo = addr;
		r = 0;
	}
	pthread_attr_destroy(&a);
	return r;
}

static __attribute__((noinline)) void stack_paint(void)
{
	uintptr_t end = (uintptr_t)__builtin_frame_address(0) -
			STACK_FRAME_SLACK;
	unsigned long *lo, *w;
	size_t size;

	if (stack_bounds(&lo, &size))
		return;
	for (w = lo; (uintptr_t)w < end; w++)
		*(volatile unsigned long *)w = STACK_PAINT;
}

static void stack_note_use(void)
{
	unsigned long *lo, *w;
	size_t size, used, seen;

	if (stack_bounds(&lo, &size))
		return;
	for (w = lo; (char *)w < (char *)lo + size && *w == STACK_PAINT; w++)
		;
	used = (size_t)((char *)lo + size - (char *)w);
	seen = atomic_load(&sched.stack_used);
	while (used > seen &&
	       !atomic_compare_exchange_weak(&sched.stack_used, &seen, used))
		;
}

static void *thread_start_checked(void *arg)
{
	struct thread_start ts = *(struct thread_start *)arg;
	void *ret;

	free(arg);
	stack_paint();
	ret = ts.fn(ts.arg);
	stack_note_use();
	return ret;
}

/*
 * Start a thread of the runtime's own (an M, the template, sysmon's
 * monitor) on a small stack: none runs G code.  0 or -errno.
 */
int runtime_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	struct thread_start *ts = NULL;
	pthread_attr_t a;
	int err;

	if (sched.stack_check) {
		ts = malloc(sizeof(*ts));
		if (!ts)
			return -ENOMEM;
		ts->fn = fn;
		ts->arg = arg;
		fn = thread_start_checked;
		arg = ts;
	}
	if (pthread_attr_init(&a)) {
		free(ts);
		return -ENOMEM;
	}
	pthread_attr_setstacksize(&a, sched.m_stack);
	err = -pthread_create(t, &a, fn, arg);
	pthread_attr_destroy(&a);
	if (err)
		free(ts);
	return err;
}

static int m_thread_start(struct m *m)
{
	return runtime_thread_start(&m->thread, m_main, m);
}

/* Join the Ms that retired since the last look (template only). */
static void mdead_reap(void)
{
	struct m *dead;

	lock_acquire(&sched.lock);
	dead = sched.mdead;
	sched.mdead = NULL;
	lock_release(&sched.lock);
	while (dead) {
		struct m *next = dead->link;

		pthread_join(dead->thread, NULL);
		lock_acquire(&sched.lock);
		sched.nmdying--;
		m_unlink(dead);
		lock_release(&sched.lock);
		m_delete(dead);
		dead = next;
	}
}

enum newm_result { NEWM_MADE, NEWM_ENOUGH, NEWM_RETRY };

/*
 * Make one M for the reserve (template only), if it is low.  NEWM_RETRY:
 * it could not (no memory, no thread): the caller tries again later.
 */
static enum newm_result newm(void)
{
	struct m *m = m_new();	/* before the lock: see m_new */
	bool say_cap = false;
	int err;

	if (!m)
		return NEWM_RETRY;
	lock_acquire(&sched.lock);
	if (!mreserve_low()) {
		if (mreserve_wanted() && !sched.mcap_said) {
			sched.mcap_said = true;
			say_cap = backend_debug();
		}
		if (mreserve_wanted()) {
			/* at the cap: no M comes for these wakeps (Ms
			 * made earlier may still take theirs) - let other
			 * Ms spin */
			atomic_fetch_sub(&sched.nmspinning, sched.mwant_spin);
			sched.mwant_spin = 0;
		}
		sched.mwant = 0;
		lock_release(&sched.lock);
		m_delete(m);
		if (say_cap)
			fprintf(stderr, "sact: %d Ms, the cap (max_threads): Gs "
				"wait for an M to come back from the kernel\n",
				sched.mmax);
		return NEWM_ENOUGH;
	}
	if (m_install(m)) {
		lock_release(&sched.lock);
		m_delete(m);
		return NEWM_RETRY;
	}
	m->elastic = true;
	m->coming = true;
	if (sched.mwant > 0)
		sched.mwant--;
	sched.nmalive++;
	sched.nmcoming++;
	sched.ms_created++;
	if (sched.nmalive > sched.ms_peak)
		sched.ms_peak = sched.nmalive;
	sched.threads++;
	lock_release(&sched.lock);
	err = m_thread_start(m);
	if (err) {
		lock_acquire(&sched.lock);
		sched.nmalive--;
		sched.nmcoming--;
		sched.ms_created--;
		sched.threads--;
		sched.mwant++;	/* still wanted: try again later */
		m_unlink(m);
		lock_release(&sched.lock);
		m_delete(m);
		if (backend_debug())
			fprintf(stderr, "sact: creating an M failed: %s\n",
				strerror(-err));
		return NEWM_RETRY;
	}
	return NEWM_MADE;
}

/* The template thread: makes Ms off the handoff path, joins retired ones. */
static void *mtemplate_main(void *arg)
{
	(void)arg;
	while (!ld(&sched.exiting)) {
		enum newm_result r;

		mdead_reap();
		do
			r = newm();
		while (r == NEWM_MADE && !ld(&sched.exiting));
		/* no thread or no memory: try again in 10 ms */
		futex_wait(&sched.mtemplate_wake, 0,
			   r == NEWM_RETRY ? 10000000 : -1);
		st(&sched.mtemplate_wake, 0);
	}
	return NULL;
}

static void mtemplate_stop(void)
{
	st(&sched.mtemplate_wake, 1);
	futex_wake(&sched.mtemplate_wake, 1);
	pthread_join(sched.mtemplate, NULL);
	mdead_reap();
}

/* ---- Ms and sact_run ------------------------------------------------------- */

/* kmod/bpf: the first kstandby_target Ms after the nprocs ones start parked
 * in the module or a P's ring (standbys for blocks), not on the idle list. */
static bool m_starts_in_module(struct m *m)
{
	return !m->elastic && m->id >= sched.nprocs &&
	       m->id < sched.nprocs + sched.kstandby_target;
}

static void *m_main(void *arg)
{
	struct m *m = arg;

	tls_m = m;
	m->tid = gettid();
	m->curg = &m->g0;
	m->g0.m = m;
	st(&m->g0.status, G_RUNNING);
#if defined(__SANITIZE_ADDRESS__)
	{
		pthread_attr_t a;
		void *addr;
		size_t size;

		pthread_getattr_np(pthread_self(), &a);
		pthread_attr_getstack(&a, &addr, &size);
		pthread_attr_destroy(&a);
		m->g0_bottom = addr;
		m->g0_size = size;
	}
#endif
#if defined(__SANITIZE_THREAD__)
	m->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
	m_altstack_init(m);	/* without one an overflow is a plain fault */
	if (sched.ops->m_start && sched.ops->m_start(m) < 0)
		throw("sact: backend m_start failed");
	if (m->elastic) {
		;	/* schedule_loop: stopm takes a P with work or parks it */
	} else if (m_starts_in_module(m)) {
		;	/* schedule_loop parks it in the module (stopm) */
	} else if (m->id != 0) {
		stopm_wait(m, -1);	/* registered idle by sact_run */
	} else {	/* the first G runs once every thread exists */
		while (ld_acq(&sched.started) == 0)
			futex_wait(&sched.started, 0, -1);
	}
	schedule_loop(m);
	if (sched.ops->m_stop)
		sched.ops->m_stop(m);
	m_altstack_fini(m);
	tls_m = NULL;
	if (m->retiring) {
		lock_acquire(&sched.lock);
		m->link = sched.mdead;
		sched.mdead = m;
		lock_release(&sched.lock);
		mtemplate_kick();
	}
	return NULL;
}

static void stats_collect(struct sact_stats *s)
{
	struct m_stats *t = &sched.st_retired;

	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	s->backend = last_backend;
	s->switches = t->switches;
	s->parks = t->parks;
	s->steals = t->steals;
	s->syscalls = t->syscalls;
	s->gs_spawned = t->spawned;
	s->idle_spins = t->idle_spins;
	for (int i = 0; i < sched.nm; i++) {
		struct m_stats *ms;

		if (!sched.allm[i])
			continue;
		ms = &sched.allm[i]->st;
		s->switches += ld(&ms->switches);
		s->parks += ld(&ms->parks);
		s->steals += ld(&ms->steals);
		s->syscalls += ld(&ms->syscalls);
		s->gs_spawned += ld(&ms->spawned);
		s->idle_spins += ld(&ms->idle_spins);
	}
	s->gs_spawned += 1;	/* the first G */
	s->gs_peak = ld(&sched.ngs_peak);
	s->handoffs = ld(&sched.handoffs);
	s->handoff_waits = ld(&sched.handoff_waits);
	s->wakeups = ld(&sched.wakeups);
	s->ring_submits = ld(&sched.ring_submits);
	s->ring_ops = ld(&sched.ring_ops);
	s->threads_created = sched.threads;
	/* the helpers (template, monitor) live as long as the run */
	s->threads_peak = sched.ms_peak + (sched.threads - sched.ms_created);
	s->nprocs = sched.nprocs;
	s->nms = sched.nmalive;
	s->ms_created = sched.ms_created;
	s->ms_retired = sched.ms_retired;
	s->stacks_returned = ld(&sched.stacks_cooled);
	s->ms_peak = sched.ms_peak;
	s->thread_stack_used = atomic_load(&sched.stack_used);
}

SACT_API int sact_stats(struct sact_stats *st)
{
	struct sact_stats s;
	size_t n;

	if (!st || st->size == 0)
		return -EINVAL;
	s = last_stats;
	if (ld_acq(&sched_live)) {
		lock_acquire(&sched.lock);
		if (sched.allm)
			stats_collect(&s);
		lock_release(&sched.lock);
	}
	n = st->size < sizeof(s) ? st->size : sizeof(s);
	s.size = n;
	memcpy(st, &s, n);
	return 0;
}

/* Stop every thread of this run and free what it allocated. */
static void teardown(bool template)
{
	lock_acquire(&sched.lock);
	st(&sched.exiting, 1);
	for (struct m *m = sched.midle; m; m = m->link) {
		m->on_midle = false;
		m->nextp = NULL;
		st_rel(&m->park, 1);
		standby_wake(m);
	}
	sched.midle = NULL;
	for (int i = 0; i < sched.nprocs; i++) {
		struct p *pp = &sched.allp[i];

		if (pp->poller) {
			pp->poller->pollp = NULL;
			uring_wake(pp->poller);
			pp->poller = NULL;
		}
	}
	lock_release(&sched.lock);
	if (template)
		mtemplate_stop();	/* no new M from here on */
	if (sched.ops->stop)
		sched.ops->stop();
	for (int i = 0; i < sched.nm; i++) {
		struct m *m = sched.allm[i];

		if (m && m->thread)
			pthread_join(m->thread, NULL);
	}
	if (sched.ops->fini)
		sched.ops->fini();
	uring_fini();
	gfree_all();
	lock_acquire(&sched.lock);	/* against a concurrent sact_stats */
	st(&sched_live, 0);
	stats_collect(&last_stats);
	for (int i = 0; i < sched.nm; i++)
		if (sched.allm[i])
			m_free(sched.allm[i]);
	for (int i = 0; i < sched.nprocs; i++)
		timers_free(&sched.allp[i]);
	free(sched.allp);
	free(sched.allm);
	sched.allp = NULL;
	sched.allm = NULL;
	lock_release(&sched.lock);
}

/* Threads could not all be started: stop those that were. */
static void start_failed(bool template)
{
	st(&sched.exiting, 1);		/* before M0 may look */
	st_rel(&sched.started, 1);
	futex_wake(&sched.started, 1);
	teardown(template);
	stack_fault_uninstall();
}

/* A non-negative int from the environment, or dflt. */
static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);
	long n;

	if (!v || !*v)
		return dflt;
	n = strtol(v, NULL, 10);
	return n < 0 ? -1 : n > INT_MAX ? INT_MAX : (int)n;
}

SACT_API int sact_run(const struct sact_config *cfg, void (*fn)(void *),
		      void *arg)
{
	struct sact_config c = { .size = sizeof(c), .standby = -1 };
	const struct backend_ops *ops;
	const char *env;
	long nprocs;
	struct g *gp;
	int err, i, expected = 0;

	if (!fn)
		return -EINVAL;
	if (cfg) {
		/* size-versioned: a caller without flags gets 0 (strict) */
		if (cfg->size < offsetof(struct sact_config, flags))
			return -EINVAL;
		memcpy(&c, cfg, cfg->size < sizeof(c) ? cfg->size : sizeof(c));
		c.size = sizeof(c);
		if (c.flags & ~(SACT_CONFIG_NO_STRICT |
				SACT_CONFIG_MALLOC_ARENAS))
			return -EINVAL;
	}
	nprocs = c.nprocs ? c.nprocs : sysconf(_SC_NPROCESSORS_ONLN);
	if (nprocs < 1 || nprocs > 1024 || c.standby > 1024)
		return -EINVAL;
	if (c.standby < 0)
		c.standby = nprocs;
	if (c.stack_size == 0)
		c.stack_size = 64 * 1024;
	if (c.stack_size < 16 * 1024 || c.stack_size > ((size_t)1 << 40))
		return -EINVAL;
	if (c.max_threads == 0)
		c.max_threads = env_int("SACT_MAX_THREADS", M_MAX_DEFAULT);
	if (c.max_threads <= 0 || c.max_threads > 1000000)
		return -EINVAL;
	if (c.max_threads < nprocs + c.standby)
		return -EINVAL;
	if (c.thread_idle_ms == 0)
		c.thread_idle_ms = env_int("SACT_THREAD_IDLE_MS",
					   M_IDLE_MS_DEFAULT);
	if (c.thread_stack_kb == 0)
		c.thread_stack_kb = env_int("SACT_THREAD_STACK_KB",
					    M_STACK_KB_DEFAULT);
	if (c.thread_stack_kb < 64 || c.thread_stack_kb > (1 << 20))
		return -EINVAL;
	if (c.stack_cache == 0)
		c.stack_cache = env_int("SACT_STACK_CACHE", STACK_CACHE_DEFAULT);
	ops = backend_select(c.backend, &err);
	if (!ops)
		return err;
	if (!atomic_compare_exchange_strong(&sched_active, &expected, 1))
		return -EBUSY;

	if (!(c.flags & SACT_CONFIG_MALLOC_ARENAS))
		malloc_arenas_limit(nprocs);
	memset(&sched, 0, sizeof(sched));
	sched_watch_gcode = false;
	sched.ops = ops;
	last_backend = ops->id;
	sched.nprocs = nprocs;
	sched.ncpu = cpus_allowed();
	sched.mkeep = nprocs + c.standby;
	sched.mmax = c.max_threads;
	sched.mlow = c.standby > 0 ? 1 : 0;
	sched.midle_ns = c.thread_idle_ms < 0 ? -1 :
			 (int64_t)c.thread_idle_ms * 1000000;
	sched.flags = c.flags;
	sched.stack_size = (c.stack_size + 4095) & ~(size_t)4095;
	sched.gwarm_keep = c.stack_cache;
	sched.m_stack = (size_t)c.thread_stack_kb << 10;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	if (sched.m_stack < M_STACK_SANITIZED)
		sched.m_stack = M_STACK_SANITIZED;
#else
	env = getenv("SACT_STACK_CHECK");
	sched.stack_check = env && *env && strcmp(env, "0") != 0;
#endif
	env = getenv("SACT_SHUFFLE");
	sched.shuffle = env && *env && strcmp(env, "0") != 0;
	sched.guards_left = stack_guard_budget();
	tids_snapshot();

	err = -ENOMEM;
	sched.allp = aligned_alloc(64, sizeof(struct p) * nprocs);
	sched.allm = calloc(sched.mmax, sizeof(struct m *));
	if (!sched.allp || !sched.allm)
		goto out_free;
	memset(sched.allp, 0, sizeof(struct p) * nprocs);
	for (i = 0; i < nprocs; i++) {
		struct p *pp = &sched.allp[i];

		pp->id = i;
		pp->rand = 0x9e3779b97f4a7c15ULL * (i + 1) + (uint64_t)nanotime();
		if (timers_init(pp))
			goto out_free;
	}
	for (i = 0; i < sched.mkeep; i++) {
		struct m *m = m_new();

		if (!m)
			goto out_free;
		if (m_install(m)) {
			m_delete(m);
			goto out_free;
		}
	}
	gp = gfget(NULL);
	if (!gp)
		goto out_free;
	gp->fn = fn;
	gp->arg = arg;
	gp->goid = 1;
	sched.goid = 1;
	gframe_init(gp);
	sched.ngs = 1;
	sched.ngs_peak = 1;

	/* P0 and the first G go to M0; the other Ps are idle */
	for (i = nprocs - 1; i >= 1; i--)
		pidleput(&sched.allp[i]);
	acquirep(sched.allm[0], &sched.allp[0]);
	runqput(&sched.allp[0], gp, false);
	for (;;) {
		err = ops->init ? ops->init() : 0;
		if (err >= 0)
			break;
		backend_say(ops, err);
		/* AUTO: kmod, then bpf, then sysmon (backend.c) */
		if (c.backend != SACT_BACKEND_AUTO ||
		    !(ops = backend_next(ops)))
			goto out_gfree;
		sched.ops = ops;
		last_backend = ops->id;
	}
	/*
	 * The other Ms are idle from the start, before their threads run, so
	 * that the first wakep() finds them (one that finds no idle M waits
	 * for the next M to reach stopm: mwant_spin).  With kmod and bpf,
	 * the standby pool parks in the module or the rings instead
	 * (m_starts_in_module), counted as on its way there.
	 */
	for (i = sched.mkeep - 1; i >= 1; i--) {
		if (!m_starts_in_module(sched.allm[i])) {
			midle_put(sched.allm[i]);
		} else {	/* on its way to the pool: standby_refill */
			sched.allm[i]->coming = true;
			sched.nmcoming++;
		}
	}

	uring_init();	/* without rings the ring calls fail, nothing else */
	stack_fault_install();
	sched.nmalive = sched.mkeep;
	sched.ms_peak = sched.mkeep;
	for (i = 0; i < sched.mkeep; i++) {
		err = m_thread_start(sched.allm[i]);
		if (err) {
			/* the Ms not started must not be joined */
			for (int k = i; k < sched.mkeep; k++)
				sched.allm[k]->thread = 0;
			start_failed(false);
			goto out_inactive;
		}
		sched.threads++;
		sched.ms_created++;
	}
	sched.threads++;	/* the template's, before it can count too */
	err = runtime_thread_start(&sched.mtemplate, mtemplate_main, NULL);
	if (err) {
		sched.threads--;
		start_failed(false);
		goto out_inactive;
	}
	if (ops->start) {
		err = ops->start();
		if (err < 0) {
			start_failed(true);
			goto out_inactive;
		}
	}
	st_rel(&sched_live, 1);
	st_rel(&sched.started, 1);
	futex_wake(&sched.started, 1);

	while (ld_acq(&sched.done) == 0)
		futex_wait(&sched.done, 0, -1);
	teardown(true);
	stack_fault_uninstall();
	st_rel(&sched_active, 0);
	return 0;

out_gfree:
	gfree_all();
out_free:
	if (sched.allp)
		for (i = 0; i < nprocs; i++)
			timers_free(&sched.allp[i]);
	if (sched.allm)
		for (i = 0; i < sched.nm; i++)
			if (sched.allm[i])
				m_free(sched.allm[i]);
	free(sched.allp);
	free(sched.allm);
	sched.allp = NULL;
	sched.allm = NULL;
out_inactive:
	st_rel(&sched_active, 0);
	return err;
}
