// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bpf_sched.c - the bpf backend in the scheduler: plugs the mechanism of
 * bpf_backend.c (a tp_btf/sched_switch program that moves a blocked M's P
 * word to HANDOFF and wakes that P's standby through a ring buffer) into
 * struct backend_ops.
 *
 * Two views of one P, kept in step
 * --------------------------------
 * The runtime's view (struct p: status, m, the idle list) and the
 * program's P word (IDLE / OWNED(slot) / HANDOFF(slot), moved by CAS only;
 * sact_sched.h).  The word is the authority on who owns a P:
 *
 *	runtime                         P word
 *	on the idle list (P_IDLE)       IDLE (pidleput releases it, acquirep
 *	                                acquires it: p_idle/p_acquire)
 *	held by M m (RUNNING/SYSCALL)   OWNED(m), or HANDOFF(m) while m is
 *	                                blocked and no one took it yet
 *
 * An M publishes in_g on every switch with a plain store: RAW (1) for G
 * code (to a G), 0 for the runtime (to g0, and around the runtime's own
 * blocking calls on a G stack: m_kblock_begin/end), WRAPPED (2) inside
 * sact_syscall.  Only a block in G code (RAW or WRAPPED) hands the P off.
 * The hot path adds no locked instruction: entersyscall and exitsyscall
 * one store each and one load of the M's own handoff count.
 *
 * The protocol, one P p held by M m running G g:
 *
 *  1. Block.  m blocks in the kernel, wrapped (sact_syscall) or not (a
 *     plain libc read/usleep/poll, a page fault).  The program CASes the
 *     word OWNED(m) -> HANDOFF(m), bumps m's handoff count and commits an
 *     event to p's ring; irq_work wakes p's standby once the switch is
 *     done.
 *  2. Take over.  p's standby (one M per P waits in p's ring: the ring
 *     wake is per P, see below) claims the word HANDOFF -> OWNED(s), then
 *     makes p its own in the runtime's view (status P_SYSCALL/P_RUNNING ->
 *     P_RUNNING, p->m, s->p) and runs the scheduler on p at once.  p's
 *     ring is now unattended: s kicks one idle M (if any) to stand by in
 *     it, as Go's handoffp starts an M.
 *  3. Coming back.  BPF cannot stop a thread on its way back to user
 *     space (kmod's strict mode parks it in the kernel), so:
 *     - a wrapped call (WRAPPED): exitsyscall (exit_syscall hook) checks.
 *       If m's handoff count moved, it asks the word (sact_bpf_p_keep):
 *       still OWNED(m), or HANDOFF that it takes back (the standby's claim
 *       then fails): m goes on with p.  OWNED by another M: the hook points
 *       m->oldp at a P that is never P_SYSCALL, so the one status CAS there
 *       fails and exitsyscall_slow does what it does for sysmon: an idle
 *       P, or g to the global queue and m to g0.
 *     - a raw call (RAW): the program's second half, on sys_exit of the
 *       returning thread, looks at the word.  HANDOFF(m), unclaimed: it
 *       takes it back itself.  Another M's: it sends the thread lost_sig,
 *       delivered on this very return, before g's next instruction.
 *       lost_handler (on g's stack, with g) makes m wait for a P: an idle
 *       one, or one handed off with nobody standing by in its ring
 *       (claim_unattended), else it queues m (waitg) and sleeps until the
 *       next P to go idle is granted to it (pidleput's p_idle hook); a P
 *       holder's
 *       sact_yield idles its P for it (bpf_p_wanted), as kmod's strict
 *       mode does.  Then g goes on, on m, with a P: its next block hands
 *       that P off again.  g does not move to another M there: the code it
 *       was in may hold libc's locks and thread state.
 *     - anything else (a page fault that slept, which has no sys_exit): m
 *       finds out at its G's next runtime entry, getm/goexit (m_resync,
 *       bpf_resync): keep_p as above, else an idle P, or g to the global
 *       queue (AFTER_GLOBRUNQ) and m to g0, where findrunnable parks it
 *       (in an unattended ring first).  g resumes later on whichever M
 *       runs it; no G is lost (g is queued exactly once, by the M that
 *       owns it) or run twice (the M without a P never runs another G: it
 *       only switches to g0, and g0 waits for a P).
 *
 * The window: until lost_sig, an M whose block cost it its P would return
 * to G code and run on without a P (issue 21: a G looping over a raw read
 * woken by a plain thread ran beside the P's new holder for the whole loop,
 * and its later blocks had no P to hand off: the slot's p and in_g still
 * said "G code on P p", the word said another M's, so the program did
 * nothing; stats.stale_blocks counts such blocks).  With the sys_exit half
 * the window is left only after a page fault that slept, until the G's next
 * syscall or runtime entry.  The cost: while the program is attached, every
 * syscall of the machine takes the kernel's tracepoint slow path (its
 * sys_exit tracepoint is on), and a raw block whose P was taken costs one
 * signal delivery on the way back.  lost_sig is SIGRTMAX - 4; a program
 * that takes it over, or blocks it in a G, reopens the window.
 *
 * Races, and why they end with one owner: every ownership change is one CAS
 * on the word (the program's step 1, the standby's claim, m's keep, the
 * release in pidleput, the acquire in acquirep), so two Ms never both win
 * p.  The runtime's status CAS in exitsyscall is made to fail for an M
 * that lost the word (above), so it cannot win p behind the word's back.
 * A takeover of a P whose word another M then takes back (step 3 by an M
 * whose own, older handoff was never noticed) is fine: that M wins the
 * word and sets p->m and the status; the loser notices at its own step 3.
 *
 * One standby per P: RING_PER_P (the faster wake, figures at the top of
 * bpf_backend.c) lets only one waiter sleep on a P's ring, so
 * sched.kstandby_target Ms (min(standby, nprocs)) start parked in the
 * rings, and an M that parks for good (stopm without timeout) takes an
 * unattended ring before the idle list while fewer than that wait there.  Ms in a ring
 * are not on the idle list: startm/wakep cannot use them.  A handoff that
 * finds its ring unattended stays in the ring (and the word HANDOFF): the
 * next M to stand by for that P drains it and claims p, or m takes p back
 * when it returns.
 *
 * Accepted weaknesses: a page fault that sleeps in the runtime's own code
 * on a G stack after its entry check (a stack mmap and a contended lock
 * are covered; a stray fault is not) hands the P off in the middle of
 * the runtime's bookkeeping: the M throws when it notices, rather than go
 * on without a P.  A G that faults, sleeps in the fault and then computes
 * keeps its M out of the scheduler (see the window).  A waiting M gets a
 * P only when one goes idle, its holder yields or it is handed off with
 * nobody standing by (as kmod's strict unblock takes a FREE P): a G that
 * computes without yielding keeps it waiting.  Loading the
 * program costs each sact_run a few milliseconds (the verifier).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "bpf_backend.h"

static struct sact_bpf *bb;
/* L: the M standing by in P i's ring, or NULL */
static struct m *ring_waiter[SACT_BPF_MAX_P];
/* what exitsyscall CASes when its M lost the word: never P_SYSCALL */
static struct p lost_p;
/*
 * Ms stopped by lost_sig with their G, waiting for a P (FIFO through
 * m->link, which is free: such an M is not on sched.midle), and how many
 * (L writes; sact_yield peeks without the lock).
 */
static struct m *waitg_head, *waitg_tail;
static _Atomic int nwaitg;
static struct sigaction lost_old;
#define LOST_SIG	(SIGRTMAX - 4)	/* kmod has SIGRTMAX - 3 */

static void lost_handler(int sig, siginfo_t *si, void *uc);

static int bpf_init(void)
{
	struct sact_bpf_opts o = {
		.size = sizeof(o), .nprocs = sched.nprocs,
		.wake = SACT_BPF_WAKE_RING_PER_P, .lost_sig = LOST_SIG,
	};
	struct sigaction sa;
	int err;

	/* the program's M maps are sized from the runtime's cap on Ms */
	if (sched.mmax > SACT_BPF_MMAX_LIMIT)
		sched.mmax = SACT_BPF_MMAX_LIMIT;
	o.mmax = sched.mmax;
	if (sched.nprocs > SACT_BPF_MAX_P || sched.mkeep > o.mmax) {
		snprintf(backend_why, sizeof(backend_why),
			 "bpf: at most %d Ps and %d Ms", SACT_BPF_MAX_P,
			 SACT_BPF_MMAX_LIMIT);
		return -E2BIG;
	}
	err = sact_bpf_open(&o, &bb, backend_why, sizeof(backend_why));
	if (err)
		return err;
	memset(ring_waiter, 0, sizeof(ring_waiter));
	waitg_head = waitg_tail = NULL;
	st(&nwaitg, 0);
	/* before any M runs G code: the program may signal from then on */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = lost_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(LOST_SIG, &sa, &lost_old);
	sched.kstandby_target = sched.nm - sched.nprocs;
	if (sched.kstandby_target > sched.nprocs)
		sched.kstandby_target = sched.nprocs;
	sched.kstandby_low = sched.kstandby_target;
	return 0;
}

static void bpf_fini(void)
{
	if (backend_debug()) {	/* SACT_DEBUG=1: the program's counters */
		const struct sact_bpf_stats *t = &sact_bpf_shared(bb)->stats;

		fprintf(stderr, "sact: bpf: blocks %llu handoffs %llu "
			"(taken over %llu, taken back at sys_exit %llu) "
			"stale_blocks %llu "
			"lost %llu ring_fail %llu races %llu\n",
			(unsigned long long)t->blocks,
			(unsigned long long)t->handoffs,
			(unsigned long long)ld(&sched.handoffs),
			(unsigned long long)t->reclaims,
			(unsigned long long)t->stale_blocks,
			(unsigned long long)t->lost,
			(unsigned long long)t->ring_fail,
			(unsigned long long)t->handoff_races);
	}
	sact_bpf_close(bb);	/* detached: no signal after this */
	bb = NULL;
	sigaction(LOST_SIG, &lost_old, NULL);
}

static int bpf_m_start(struct m *m)
{
	struct sact_bpf_m *bm;
	int slot = sact_bpf_register(bb);

	if (slot < 0)
		return slot;
	bm = sact_bpf_mslot(bb, slot);
	m->bslot = slot;
	m->bhand = (const uint64_t *)&bm->handoffs;
	m->bseen = __atomic_load_n(m->bhand, __ATOMIC_RELAXED);
	m->bin_g = &bm->in_g;
	bpf_in_g_swap(m, 0);
	/* M0 holds P0 since sact_run, before the program existed */
	if (m->p && sact_bpf_p_acquire(bb, m->p->id, slot) < 0)
		return -EBUSY;
	return 0;
}

static void bpf_m_stop(struct m *m)
{
	bpf_in_g_swap(m, 0);
	m->bin_g = NULL;
	m->bhand = NULL;
	sact_bpf_unregister(bb, m->bslot);
}

static void bpf_stop(void)
{
	sact_bpf_stop(bb);	/* every ring standby returns -ECANCELED */
}

/* acquirep: pp comes off the idle list (word IDLE); m is the caller. */
static void bpf_p_acquire(struct m *m, struct p *pp)
{
	if (bb && sact_bpf_p_acquire(bb, pp->id, m->bslot) < 0)
		throw("sact: bpf: acquiring a P that is not idle");
}

/* m gives pp away other than through pidleput (a locked G's M takes it,
 * or handoffp's): IDLE, for the next acquirep. */
static void bpf_p_release(struct m *m, struct p *pp)
{
	if (bb && sact_bpf_p_release(bb, pp->id, m->bslot) < 0)
		throw("sact: bpf: handing over a P the caller does not hold");
}

/*
 * Give the P pp (word IDLE, not on the idle list) to the first M waiting
 * with its G (sched.lock held).  false: none waits.
 */
static bool waitg_grant(struct p *pp)
{
	struct m *n = waitg_head;

	if (!n || ld(&sched.exiting))
		return false;
	waitg_head = n->link;
	if (!waitg_head)
		waitg_tail = NULL;
	st(&nwaitg, ld(&nwaitg) - 1);
	n->link = NULL;
	n->nextp = pp;
	st_rel(&n->park, 1);
	futex_wake(&n->park, 1);
	return true;
}

/*
 * pidleput (sched.lock held): the caller owns pp, or it is idle already.
 * An M stopped on its way back from a block (lost_handler) gets pp instead
 * of the idle list: true.
 */
static bool bpf_p_idle(struct p *pp)
{
	struct m *me = getm_raw();
	uint64_t w;

	if (!bb || !me || !me->bin_g)
		return false;	/* sact_run's setup, before the program */
	w = __atomic_load_n(&sact_bpf_shared(bb)->p[pp->id].own,
			    __ATOMIC_ACQUIRE);
	if (SACT_BPF_OWN_STATE(w) == SACT_BPF_P_IDLE)
		return waitg_grant(pp);
	if (sact_bpf_p_release(bb, pp->id, me->bslot) < 0)
		throw("sact: bpf: idling a P the caller does not hold");
	return waitg_grant(pp);
}

/* The first P (index) whose ring nobody waits in, or -1 (sched.lock). */
static int unattended_ring(void)
{
	for (int i = 0; i < sched.nprocs; i++)
		if (!ring_waiter[i])
			return i;
	return -1;
}

/*
 * Step 2: m claimed P index p's word; make p m's in the runtime's view
 * (the pool of standbys is refilled once G code runs on p:
 * standby_refill).
 */
static void takeover(struct m *m, int p)
{
	struct p *pp = &sched.allp[p];
	int s = P_SYSCALL;

	p_handoff_acquire(pp);
	atomic_compare_exchange_strong(&pp->status, &s, P_RUNNING);
	m->p = pp;
	pp->m = m;
	atomic_fetch_add(&sched.handoffs, 1);
}

/* stopm without timeout: stand by in an unattended ring, if any. */
static int bpf_park_standby(struct m *m)
{
	int p, r;

	lock_acquire(&sched.lock);
	if (ld(&sched.exiting)) {
		lock_release(&sched.lock);
		return -1;
	}
	/* no more ring standbys than sact_run started (standby = 0: none,
	 * every M stays usable by startm) */
	p = sched.nkstandby < sched.kstandby_target ? unattended_ring() : -1;
	if (p < 0) {
		lock_release(&sched.lock);
		return 0;
	}
	sched.nkstandby++;
	if (checkdead()) {
		/* only a plain thread can wake a G: park where stopm
		 * looks again after a while */
		sched.nkstandby--;
		lock_release(&sched.lock);
		return 0;
	}
	ring_waiter[p] = m;
	lock_release(&sched.lock);
	do
		r = sact_bpf_wait(bb, m->bslot, p, -1, NULL);
	while (r == -EINTR);
	lock_acquire(&sched.lock);
	ring_waiter[p] = NULL;
	sched.nkstandby--;
	lock_release(&sched.lock);
	if (r == -ECANCELED)
		return -1;
	if (r < 0)
		throw("sact: bpf: waiting in a P's ring failed");
	takeover(m, r);
	return 1;
}

/*
 * Step 3 for m's P pp: true if m still owns it (kept, or taken back from
 * HANDOFF: then make it m's in the runtime's view with @status), false if
 * another M has it.
 */
static bool keep_p(struct m *m, struct p *pp, int status)
{
	int r;

	m->bseen = __atomic_load_n(m->bhand, __ATOMIC_RELAXED);
	r = sact_bpf_p_keep(bb, pp->id, m->bslot);
	if (r > 0) {
		/* maybe another M's handoff of it (that M lost it now) */
		p_handoff_acquire(pp);
		pp->m = m;
		st(&pp->status, status);
	}
	return r >= 0;
}

/* A wrapped call is G code: its block hands the P off (entersyscall ran
 * after the runtime entry that cleared in_g).  WRAPPED: its return is
 * checked here, not by the program's signal. */
static void bpf_enter_syscall(struct m *m, struct p *pp)
{
	p_handoff_release(pp);
	bpf_in_g_swap(m, SACT_BPF_IN_G_WRAPPED);
}

/* Step 3 for a wrapped call: make exitsyscall's CAS fail if pp is gone.
 * Back to plain G code (RAW) either way: an M that lost pp has no P word
 * (slot p = 0), so the program has nothing to check until it gets one. */
static void bpf_exit_syscall(struct m *m, struct p *pp)
{
	bpf_in_g_swap(m, SACT_BPF_IN_G_RAW);
	if (likely(__atomic_load_n(m->bhand, __ATOMIC_RELAXED) == m->bseen))
		return;
	if (!keep_p(m, pp, P_SYSCALL))
		m->oldp = &lost_p;
}

/*
 * A P handed off while nobody stood by in its ring stays HANDOFF until the
 * next M stands by there or its blocked M returns.  Neither may come: the
 * blocked M may wait for a libc lock (glibc's malloc lock) that an M in
 * wait_for_p holds - it was interrupted inside malloc - and the template
 * cannot make a new M for that ring while pthread_create waits for the
 * same lock (1000 Gs in getaddrinfo under bpf hung so, 2 runs in 5).  So
 * an M waiting with its G takes such a P itself, as that ring's standby
 * would.  sched.lock held (ring_waiter); m has no P.  The P, or NULL.
 */
static struct p *claim_unattended(struct m *m)
{
	for (int i = 0; i < sched.nprocs; i++) {
		uint64_t w = __atomic_load_n(&sact_bpf_shared(bb)->p[i].own,
					     __ATOMIC_ACQUIRE);

		if (ring_waiter[i] ||
		    SACT_BPF_OWN_STATE(w) != SACT_BPF_P_HANDOFF)
			continue;
		if (sact_bpf_p_claim(bb, i, m->bslot) == 0) {
			takeover(m, i);
			return m->p;
		}
	}
	return NULL;
}

/* Is any P's word HANDOFF?  A hint for wait_for_p, without the lock. */
static bool some_p_handed_off(void)
{
	for (int i = 0; i < sched.nprocs; i++)
		if (SACT_BPF_OWN_STATE(__atomic_load_n(
			    &sact_bpf_shared(bb)->p[i].own,
			    __ATOMIC_RELAXED)) == SACT_BPF_P_HANDOFF)
			return true;
	return false;
}

/* Take m off the queue of Ms waiting with their G (sched.lock held). */
static void waitg_remove(struct m *m)
{
	struct m **pn = &waitg_head, *prev = NULL;

	while (*pn && *pn != m) {
		prev = *pn;
		pn = &(*pn)->link;
	}
	if (!*pn)
		return;
	*pn = m->link;
	if (waitg_tail == m)
		waitg_tail = prev;
	m->link = NULL;
	st(&nwaitg, ld(&nwaitg) - 1);
}

/* How long a waiting M sleeps before it looks for an unattended HANDOFF
 * P again (claim_unattended: a way out, not the usual way to a P). */
#define WAITG_LOOK_NS	(10 * 1000 * 1000)

/*
 * Step 3 for a raw call (lost_sig): m came back from a raw syscall to G code
 * and the program found its P with another M.  Wait here, on the G's stack,
 * with the G, until m holds a P: an idle one, else the next P to go idle
 * (pidleput -> waitg_grant; sact_yield idles its P when bpf_p_wanted), or
 * one handed off with no standby to take it (claim_unattended).  Then the
 * G goes on where it was, on this M.  No G moves: the interrupted code may
 * be in the middle of libc, holding its locks and thread state.
 */
static void wait_for_p(struct m *m)
{
	struct p *pp = m->p;

	if (pp && keep_p(m, pp, P_RUNNING))
		return;
	m->p = NULL;
	lock_acquire(&sched.lock);
	pp = pidleget();
	if (!pp && claim_unattended(m)) {
		lock_release(&sched.lock);
		return;
	}
	if (!pp) {
		m->nextp = NULL;
		m->link = NULL;
		st(&m->park, 0);
		if (waitg_tail)
			waitg_tail->link = m;
		else
			waitg_head = m;
		waitg_tail = m;
		st(&nwaitg, ld(&nwaitg) + 1);
	}
	lock_release(&sched.lock);
	if (!pp) {
		while (ld_acq(&m->park) == 0) {
			bool took = false;

			futex_wait(&m->park, 0, WAITG_LOOK_NS);
			if (ld_acq(&m->park) || !some_p_handed_off())
				continue;
			lock_acquire(&sched.lock);
			if (ld(&m->park) == 0 && claim_unattended(m)) {
				waitg_remove(m);
				took = true;
			}
			lock_release(&sched.lock);
			if (took)
				return;		/* takeover made it m's */
		}
		pp = m->nextp;
		m->nextp = NULL;
	}
	acquirep(m, pp);
}

/*
 * lost_sig: sent by the program (sact_sys_exit) to an M that returns from
 * a raw syscall to G code after its P went to another M; delivered on that
 * return, before the G's next instruction.  Anything else (the M left G
 * code meanwhile, a stray kill) finds in_g != RAW or the P still its own.
 */
static void lost_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct m *m = getm_raw();

	(void)sig;
	(void)si;
	(void)uc;
	if (m && m->bin_g)	/* the program may signal again from here on */
		__atomic_store_n(&sact_bpf_mslot(bb, m->bslot)->lost_pending,
				 0, __ATOMIC_RELAXED);
	if (m && m->bin_g && m->curg != &m->g0 &&
	    __atomic_load_n(m->bin_g, __ATOMIC_RELAXED) == SACT_BPF_IN_G_RAW) {
		bpf_in_g_swap(m, SACT_BPF_IN_RUNTIME);
		wait_for_p(m);
		m_back_to_g(m);
	}
	errno = saved;
}

/* Does an M wait for a P with its G (lost_handler)?  A hint, no lock. */
bool bpf_p_wanted(void)
{
	return ld(&nwaitg) > 0;
}

/* Step 3 for G code (m_resync); see "Coming back" above. */
struct m *bpf_resync(struct m *m)
{
	struct p *pp = m->p;

	if (!pp || keep_p(m, pp, P_RUNNING))
		return m;
	return m_lost_p(m);
}

const struct backend_ops backend_bpf = {
	.id		= SACT_BACKEND_BPF,
	.init		= bpf_init,
	.fini		= bpf_fini,
	.m_start	= bpf_m_start,
	.m_stop		= bpf_m_stop,
	.stop		= bpf_stop,
	.enter_syscall	= bpf_enter_syscall,
	.exit_syscall	= bpf_exit_syscall,
	.p_acquire	= bpf_p_acquire,
	.p_idle		= bpf_p_idle,
	.p_release	= bpf_p_release,
	.park_standby	= bpf_park_standby,
};
