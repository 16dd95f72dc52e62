// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kmod_backend.c - the kmod backend: the module (/dev/sact) tells us, at the
 * instant an M blocks in the kernel, by handing its P to a standby M it
 * keeps parked; strict mode keeps the M from running G code again until it
 * holds a P.  See include/uapi/linux/sact.h for the module's side.
 *
 * Two views of one P, kept in step
 * --------------------------------
 * The runtime's own view (struct p: status, m, the idle list) and the
 * module's P word (FREE / OWNED|m / HANDOFF|s, changed by cmpxchg only).
 * The module changes a word only when an M it sees as "running G code on
 * P p" (its slot: state RUNNING, proc p) blocks while the word names it.
 * So the runtime maps its states onto words as follows:
 *
 *	runtime                         P word
 *	on the idle list (P_IDLE)       KIDLE = SACT_PW(SACT_P_IDLE, 0):
 *	                                only a strict unblock takes it (the
 *	                                module's rule (7)), never a standby
 *	off the list, on its way to     HELD_W = OWNED|0xffff (no such M:
 *	an M (pidleget)                 the module never touches it)
 *	held by M m (RUNNING/SYSCALL)   OWNED|m (or HANDOFF|m: same thing)
 *	taken from a blocked M          HANDOFF|s (given to standby s) or
 *	                                FREE (no standby was parked)
 *
 * An M publishes "G code on P p" with plain stores (kmod_publish) when it
 * goes back to G code (m_back_to_g: after a switch to a G; back_to_g: on
 * the way out of every public entry) and on a wrapped syscall's entry, and "not G code"
 * at every runtime entry (getm -> m_resync), before every switch, and
 * around the runtime's own blocking calls on a G stack (a contended lock's
 * futex, stack mmaps: m_kblock_begin/end): a fault that sleeps in the
 * runtime's own code (a fresh stack page while another M holds mmap_lock;
 * the ring calls' SQ bookkeeping) never hands the P off under it, and a
 * raw block right after any runtime call is handed off
 * (selftests/backends/missed.c).  No locked
 * instruction on the hot path: entersyscall adds two stores, exitsyscall
 * one load of the M's own slot (its unblock count).
 *
 * The protocol, one P p held by M m running G g.  The group is configured
 * POOL (sact.h (6): the module never leaves a P FREE while a worker waits
 * for one) and, unless sact_config.flags has SACT_CONFIG_NO_STRICT, STRICT.
 *
 *  1. Block.  m blocks in the kernel, wrapped (sact_syscall) or not (libc,
 *     page fault).  The module CASes word[p] OWNED|m -> HANDOFF|s and
 *     wakes standby s (SACT_IOC_STANDBY returns p); else, strict, hands it
 *     to a worker parked by strict mode; else -> FREE (no M waits for a P:
 *     the next one to wait takes it, under the same group lock).  Either
 *     way m's unblock count will move.
 *  2. Take over.  s owns p by the word.  It sets p->m (under sched.lock),
 *     CASes p's status P_SYSCALL -> P_RUNNING (m may have been in a
 *     wrapped call; the CAS makes m's own exitsyscall CAS fail should it
 *     ever run) and runs the scheduler on p at once.  It does not try to
 *     say who lost p: p->m may name an M that lost p long ago, while the
 *     M that blocked last got p from the module (3, or a handoff to it
 *     parked) and lost it again before its runtime ever saw it.
 *  3. Unblock.  Strict: the module gives m its own P back if the word is
 *     still FREE, else any FREE P, else an idle one (KIDLE: m's resync
 *     takes it off the idle list, pidle_taken), else parks m in the
 *     kernel (on the list a block with no standby serves, 1) until a
 *     grant.  Taking an idle P at the unblock is what keeps a program
 *     live whose every other M is blocked: with the P idle and no M
 *     running, no grant (4) would ever come.  pidleget takes a P off the
 *     idle list by CAS KIDLE -> HELD_W (p_unidle); if that fails, the
 *     module gave it to an M that adopts it, and pidleget takes the next.
 *     Not strict: m returns to user space without a P; see 6.
 *  4. Grant.  Every P the runtime is about to idle (pidleput, sched.lock
 *     held) first goes to an M that waits for one, as the module's slots
 *     say (kmod_waits): parked by strict mode, or (not strict) waiting in
 *     SACT_IOC_STANDBY with a G (kwaitg, 6).  Never to a blocked M: the
 *     P would wait out its block (3 gives it an idle P when it is back).  The caller owns the
 *     word (HELD_W, or KIDLE, is CASed to OWNED|caller first), sets p->m
 *     and the status, and SACT_IOC_GRANT moves the word to OWNED|m and
 *     wakes m (SACT_GRANT_STANDBY for kwaitg).  The module is the judge:
 *     it refuses an M that waits for no P - one whose block took none,
 *     since it may hold a P it has not seen yet, and one M never holds
 *     two.  The module's side of "no P idles while an M waits" is POOL
 *     (1, 3).
 *  5. Idle Ms.  An M with nothing to do (stopm, no timeout) parks in
 *     SACT_IOC_STANDBY (kmod_park_standby; up to SACT_MAX_STANDBY, the
 *     rest on the futex idle list; not while an idle P's io_uring needs
 *     an M waiting in it: then it goes there), counted in sched.nkstandby, so
 *     checkdead sees it as idle.  startm() uses the futex-idle Ms first,
 *     then wakes a module standby with a P of its choosing
 *     (kmod_standby_grant: SACT_GRANT_STANDBY with the standby_seq the M
 *     read before it went in; a standby a block woke meanwhile has a new
 *     seq, the grant fails with EAGAIN and the next one is tried).  An M
 *     on its way into the ioctl gets the grant at its entry.  So wakep()
 *     and handoffs draw on one set of idle Ms, and nothing polls.
 *  6. Resync.  m is back in user space holding a P: its own (the word
 *     still names it: nothing happened, or the module gave it back) or
 *     another (the slot's kproc, whose word names m: a FREE P, a grant, a
 *     handoff to m parked).  Not strict, m may hold none: it takes its own
 *     back if FREE, else an idle P, else waits for one in SACT_IOC_STANDBY
 *     (kwaitg, under the same sched.lock hold as its look at the idle
 *     list, so step 4 grants it the next P that would idle; a block or a
 *     FREE P may come first).  A wrapped call finds out in exitsyscall
 *     (the exit_syscall hook swaps m->oldp for the P m holds now, so the
 *     one CAS there stays the authority); G code that blocked unwrapped
 *     finds out at its next entry into the runtime (getm -> m_resync) or
 *     when it exits (goexit).  The check is one load of the M's own
 *     unblock count.
 *
 * Races, and why they end with one owner:
 *  - exitsyscall vs handoff: in strict mode m cannot return to user space
 *    without owning a word, so its exitsyscall runs after (3) or (4), never
 *    against (2).  Not strict, m's hook sees its unblock count moved and
 *    looks at the word before the CAS; only a word's owner moves a status.
 *  - reclaim (3) vs takeover of a FREE word (2): one cmpxchg on the word.
 *  - grant (4) vs m coming back: GRANT accepts an M whose block took its
 *    P and that is still blocked (the grant is taken at unblock, no park)
 *    or parked; one that got a P another way first is refused
 *    (EBUSY/EAGAIN), and the next waiting M is tried.
 *  - startm's grant (5) vs a block handing the standby a P: the module
 *    decides under its lock, by standby_seq; the loser is refused.
 *  - a block vs an M about to park in the module: the P goes FREE and the
 *    M takes it at its entry (POOL), under the same lock as the block.
 *  - a second block before the resync: the slot still names the old P.
 *    If its word is someone else's, the module hands off the P it gave m
 *    last (the slot's kproc) when that word names m: G code that reads,
 *    writes and reads again with no runtime entry never tells us, and
 *    that P must not wait out the block.  If the old word names m again
 *    (the module gave m its own P back), the block hands it off like any
 *    other, and whoever takes it over cannot tell that m lost it: hence
 *    step 4 reads the module's slots.
 *
 * Accepted weaknesses: a signal (or io_uring's task_work,
 * which sets TIF_NOTIFY_SIGNAL) that interrupts a strict park returns an M
 * without a P to G code: until its next runtime entry, where it waits for a
 * P as in non-strict mode, nprocs + 1 Ms run G code.
 * Teardown wakes the module standbys with a signal and repeats it every
 * millisecond until all have left: a signal that lands between a
 * standby's last look at sched.exiting and its entry into the ioctl is
 * lost (the only timed retry; it runs only at the end of sact_run).
 *
 * Rejected: reading the module's events (ABI 1's ring, now its
 * tracepoints: one more consumer on the hot path, and the words already
 * say everything the scheduler needs); a
 * monitor thread granting FREE Ps to waiting Ms and kicking standbys
 * (the previous design: up to 1-2 ms late, and one more thread); waking
 * module standbys from startm() with a signal (a signal sent between the
 * standby's last check and its ioctl is lost: the seq-checked grant, kept
 * pending for an M not yet in the ioctl, has no such window).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/sact.h>

#include "internal.h"

#define KIDLE		SACT_PW(SACT_P_IDLE, 0)
#define HELD_OWNER	0xffffU
#define HELD_W		SACT_PW(SACT_P_OWNED, HELD_OWNER)
#define KOWN(m)		SACT_PW(SACT_P_OWNED, (uint32_t)(m)->id)
#define KHAND(m)	SACT_PW(SACT_P_HANDOFF, (uint32_t)(m)->id)

static int kfd = -1;
static void *kshm;
static size_t kshm_size;		/* the group's area, as CONFIG said */
static struct sact_proc *kprocs;
static struct sact_mslot *kslots;
static int ksig;			/* wakes module standbys at exit */
static struct sigaction ksig_old;

static inline _Atomic uint32_t *pword(int p)
{
	return (_Atomic uint32_t *)&kprocs[p].word;
}

static inline uint32_t kload(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static bool kstrict(void)
{
	return !(sched.flags & SACT_CONFIG_NO_STRICT);
}

uint32_t kmod_unblocks(const struct sact_mslot *ks)
{
	return kload(&ks->unblocks);
}

uint32_t kmod_state_swap(struct sact_mslot *ks, uint32_t state)
{
	uint32_t old = kload(&ks->state);

	__atomic_store_n(&ks->state, state, __ATOMIC_RELAXED);
	/* the module reads it on this thread's own switch-out: program
	 * order is enough, but the compiler must not move it past a call */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return old;
}

void kmod_publish(struct m *m, bool in_g)
{
	struct sact_mslot *ks = m->ks;

	if (in_g && m->p) {
		__atomic_store_n(&ks->proc, (uint32_t)m->p->id,
				 __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(&ks->state, SACT_M_RUNNING, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&ks->state, SACT_M_IDLE, __ATOMIC_RELAXED);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static bool word_is_mine(uint32_t w, struct m *m)
{
	return w == KOWN(m) || w == KHAND(m);
}

/*
 * The caller (sched.lock held) is about to give pp, off the idle list,
 * away with a GRANT: it must hold pp's word; HELD_W is taken first.
 */
static void own_word(struct m *me, struct p *pp)
{
	_Atomic uint32_t *w = pword(pp->id);
	uint32_t old = ld(w);

	if (!word_is_mine(old, me) &&
	    !(old == HELD_W && atomic_compare_exchange_strong(w, &old,
							      KOWN(me))))
		throw("sact: kmod: granting a P the caller does not hold");
}

static int kgrant(struct m *n, struct p *pp, bool standby)
{
	struct sact_grant g = {
		.size = sizeof(g), .worker = (uint32_t)n->id,
		.proc = (uint32_t)pp->id,
		.flags = standby ? SACT_GRANT_STANDBY : 0,
		.seq = standby ? n->kseq : 0,
	};

	return ioctl(kfd, SACT_IOC_GRANT, &g) < 0 ? -errno : 0;
}

/*
 * m owns P index p by the word (a block handed it over, a FREE P, a grant,
 * or its own P): make it m's P in the runtime's view too (step 2).
 */
static void takeover(struct m *m, int p)
{
	struct p *pp = &sched.allp[p];
	struct m *old;
	int s = P_SYSCALL;
	uint32_t w = KHAND(m);

	lock_acquire(&sched.lock);
	pidle_taken(pp);		/* an idle P, at a strict unblock (7) */
	old = pp->m;
	pp->m = m;
	lock_release(&sched.lock);
	atomic_compare_exchange_strong(&pp->status, &s, P_RUNNING);
	st(&pp->status, P_RUNNING);
	atomic_compare_exchange_strong(pword(p), &w, KOWN(m));
	if (old && old != m)	/* it came from an M that blocked */
		atomic_fetch_add(&sched.handoffs, 1);
	m->p = pp;
	__atomic_store_n(&m->ks->proc, (uint32_t)p, __ATOMIC_RELAXED);
}

/*
 * Wait in SACT_IOC_STANDBY until given a P: its index.  A signal
 * (kmod_stop's) ends the wait with -1 when idle says so and the runtime
 * exits; otherwise the wait goes on (a grant may be pending).
 */
static int kstandby(bool idle)
{
	for (;;) {
		struct sact_standby a = { .size = sizeof(a) };
		int r = ioctl(kfd, SACT_IOC_STANDBY, &a);

		if (r >= 0)
			return r;
		if (errno != EINTR)
			throw("sact: kmod: SACT_IOC_STANDBY failed");
		if (idle && ld(&sched.exiting))
			return -1;
	}
}

/*
 * Not strict: m runs a G but holds no P (step 6).  Take an idle P, else
 * wait in the module until one comes: step 4 grants it, or a block or a
 * FREE P.  Returns the P index, whose word names m.
 */
static int kmod_wait_p(struct m *m)
{
	struct p *pp;
	uint32_t ks;
	int r;

	lock_acquire(&sched.lock);
	pp = pidleget();
	if (pp) {
		lock_release(&sched.lock);
		acquirep(m, pp);
		return pp->id;
	}
	m->kwaitg = true;
	m->kseq = kload(&m->ks->standby_seq);
	lock_release(&sched.lock);
	ks = m_kblock_begin(m);
	r = kstandby(false);
	m_kblock_end(m, ks);
	lock_acquire(&sched.lock);
	m->kwaitg = false;
	lock_release(&sched.lock);
	return r;
}

/* Step 6: m runs again after a block; adopt the P it now holds. */
void kmod_resync(struct m *m)
{
	struct sact_mslot *ks = m->ks;
	struct p *pp;
	uint32_t f = SACT_P_FREE, y;

	m->kseen = kmod_unblocks(ks);
	if (!m->p)
		return;
	pp = m->p;
	if (word_is_mine(ld(pword(pp->id)), m))
		goto mine;
	y = kload(&ks->kproc);
	if (y < (uint32_t)sched.nprocs && word_is_mine(ld(pword(y)), m)) {
		takeover(m, (int)y);
		return;
	}
	/*
	 * Strict mode too, when a signal ended the park: a real one, or
	 * the TIF_NOTIFY_SIGNAL of io_uring's task_work (the rings run
	 * without COOP_TASKRUN, so a completion for a request this M
	 * submitted interrupts it wherever it sleeps).  m ran G code
	 * without a P since; it waits for one here, as without strict mode.
	 */
	if (atomic_compare_exchange_strong(pword(pp->id), &f, KOWN(m)))
		goto mine;		/* nobody took it */
	y = (uint32_t)kmod_wait_p(m);
	takeover(m, (int)y);
	return;
mine:
	/*
	 * The module gives m its P back when the word is FREE - which also
	 * happens when another M took the P over (step 2) and then blocked
	 * itself.  That M waits for a P now, and step 4 finds it.
	 */
	if (pp->m != m) {
		lock_acquire(&sched.lock);
		pidle_taken(pp);	/* idled, then given back (7) */
		st(&pp->status, P_RUNNING);
		pp->m = m;
		lock_release(&sched.lock);
	}
}

/* A wrapped call: G code as far as the module is concerned (the runtime
 * entry cleared the slot's state): a block in it hands the P off. */
static void kmod_enter_syscall(struct m *m, struct p *pp)
{
	(void)pp;
	kmod_publish(m, true);
}

/* Step 6 for a wrapped call: the CAS in exitsyscall then takes the P. */
static void kmod_exit_syscall(struct m *m, struct p *pp)
{
	(void)pp;
	if (likely(kmod_unblocks(m->ks) == m->kseen))
		return;
	kmod_resync(m);
	/*
	 * m owns m->p by its word now: its own P, or another one, whose
	 * status was set to P_RUNNING by whoever gave it (takeover).  No one
	 * else moves the status of a P whose word names m.
	 */
	st(&m->p->status, P_SYSCALL);
	m->oldp = m->p;
}

/* Step 5: park m (no P, nothing to do) in the module. */
static int kmod_park_standby(struct m *m)
{
	struct p *pp;
	int r;

	lock_acquire(&sched.lock);
	if (ld(&sched.exiting)) {
		lock_release(&sched.lock);
		return -1;
	}
	/* an idle P's ring needs an M waiting in it (uring.c): not here */
	if (sched.nkstandby >= SACT_MAX_STANDBY || ring_wants_poller()) {
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
	m->in_kstandby = true;
	m->nextp = NULL;
	m->kseq = kload(&m->ks->standby_seq);
	lock_release(&sched.lock);
	r = kstandby(true);
	lock_acquire(&sched.lock);
	pp = m->nextp;
	m->nextp = NULL;
	if (m->in_kstandby) {		/* not kmod_standby_grant's doing */
		m->in_kstandby = false;
		sched.nkstandby--;
	}
	lock_release(&sched.lock);
	if (r < 0)
		return -1;
	if (pp) {			/* startm's grant: pp, spinning set */
		if (pp->id != r)
			throw("sact: kmod: standby granted another P");
		acquirep(m, pp);
	} else {			/* a block's P, or a FREE one */
		takeover(m, r);
	}
	return 1;
}

/*
 * Step 5, startm's side (sched.lock held): wake a module standby with pp
 * (taken off the idle list by the caller).  false: none is parked.
 */
static bool kmod_standby_grant(struct p *pp, bool spinning)
{
	struct m *me = getm_raw();

	if (!kshm || !me || !me->ks || !sched.nkstandby)
		return false;
	own_word(me, pp);
	for (int i = 0; i < sched.nm; i++) {
		struct m *n = sched.allm[i];
		int err;

		if (!n || !n->in_kstandby)
			continue;
		pp->m = n;
		st(&pp->status, P_RUNNING);
		err = kgrant(n, pp, true);
		if (err == 0) {
			n->in_kstandby = false;
			sched.nkstandby--;
			n->nextp = pp;
			n->spinning = spinning;
			return true;
		}
		if (err != -EAGAIN)
			throw("sact: kmod: SACT_IOC_GRANT to a standby failed");
		/* a block woke it with another P first: it will tell us */
	}
	pp->m = NULL;
	st(&pp->status, P_IDLE);
	st(pword(pp->id), HELD_W);	/* the caller idles it */
	return false;
}

/*
 * Does n wait for a P?  Parked by strict mode, or, not strict, in
 * SACT_IOC_STANDBY with a G (kwaitg).  Read from the module's slot: a P
 * the module moved on its own (a reclaim, a FREE P, a handoff to a parked
 * M) may have been lost again by a block before its new holder's runtime
 * ever saw it, so the runtime cannot keep this list itself.  Not a
 * blocked M: it may stay blocked for as long as it likes (a pipe read
 * whose writer needs this very P), and when it comes back it takes an
 * idle P itself (step 3); the module publishes PARKED before its last look
 * at the idle Ps, so an M that parks is seen here or sees our KIDLE.
 */
static bool kmod_waits(struct m *n)
{
	return kload(&n->ks->kstate) == SACT_MK_PARKED || n->kwaitg;
}

/*
 * Step 4 (sched.lock held): give pp to an M that waits for a P, instead
 * of idling it.  The caller is pp's owner (or took it off the idle list).
 * The word goes KIDLE first, then the slots are read: an M whose block
 * comes later takes pp itself at its unblock (step 3, the module's (7)),
 * one blocked or parked before shows in its slot (both sides order a
 * store before a load: our seq_cst store, the module's lock).  true: pp
 * is not the caller's to idle any more (granted, or taken at an unblock:
 * its M adopts it, takeover).
 */
static bool kmod_p_idle(struct p *pp)
{
	static uint32_t scans;		/* L */
	_Atomic uint32_t *w = pword(pp->id);
	struct m *me = getm_raw();
	uint32_t scan = ++scans;

	if (!kshm)
		return false;		/* sact_run's setup, before init */
	atomic_store(w, KIDLE);
again:
	for (int i = 0; i < sched.nm && me && me->ks; i++) {
		struct m *n = sched.allm[i];
		uint32_t old = KIDLE;
		int err;

		if (!n || n == me || !n->ks || ld(&sched.exiting) ||
		    n->kidle_scan == scan || !kmod_waits(n))
			continue;
		if (!atomic_compare_exchange_strong(w, &old, KOWN(me)))
			return true;	/* a strict unblock took it */
		n->kidle_scan = scan;	/* one try per M */
		pp->m = n;
		st(&pp->status, P_RUNNING);
		err = kgrant(n, pp, n->kwaitg);
		if (err == 0) {
			n->kwaitg = false;
			return true;
		}
		/* it has a P, or got one another way meanwhile */
		if (err != -EAGAIN && err != -EBUSY)
			throw("sact: kmod: SACT_IOC_GRANT failed");
		/*
		 * While the word was ours an M that came back could not take
		 * pp and parked: look at every M again.
		 */
		atomic_store(w, KIDLE);
		goto again;
	}
	return false;
}

/* Off the idle list: KIDLE -> HELD_W, unless an unblock took it (7). */
static bool kmod_p_unidle(struct p *pp)
{
	uint32_t old = KIDLE;

	return !kshm ||
	       atomic_compare_exchange_strong(pword(pp->id), &old, HELD_W);
}

/*
 * Does an M wait for a P with a G on its stack: parked by strict mode on
 * its way back from a block, or (not strict) waiting in SACT_IOC_STANDBY
 * at its G's next runtime entry?  A hint, read without sched.lock: a
 * wrong answer costs one trip through g0 (sact_yield's handoff).
 */
bool kmod_p_wanted(void)
{
	for (int i = 0; i < sched.nm; i++) {
		struct m *n = sched.allm[i];
		uint32_t k;

		if (!n || !n->ks)
			continue;
		k = kload(&n->ks->kstate);
		if (k == SACT_MK_PARKED ||
		    (k == SACT_MK_STANDBY &&
		     __atomic_load_n(&n->kwaitg, __ATOMIC_RELAXED)))
			return true;
	}
	return false;
}

static void kmod_p_acquire(struct m *m, struct p *pp)
{
	if (kshm)
		st(pword(pp->id), KOWN(m));
}

static void ksig_handler(int sig)
{
	(void)sig;	/* only to interrupt SACT_IOC_STANDBY */
}

static int kmod_init(void)
{
	struct sact_version v = { .size = sizeof(v) };
	struct sact_group_config c = { .size = sizeof(c) };
	struct sigaction sa;
	int err;

	/* a slot in the module for every M the runtime may create */
	if (sched.mmax > SACT_WORKERS_LIMIT)
		sched.mmax = SACT_WORKERS_LIMIT;
	c.max_workers = (uint32_t)sched.mmax;
	if (sched.nprocs > SACT_MAX_PROCS || sched.mkeep > sched.mmax)
		return -E2BIG;
	kfd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	err = -EPROTO;
	if (ioctl(kfd, SACT_IOC_VERSION, &v) < 0 || v.abi != SACT_ABI_VERSION)
		goto out_close;
	c.flags = SACT_CONFIG_POOL | (kstrict() ? SACT_CONFIG_STRICT : 0);
	c.nr_procs = (uint32_t)sched.nprocs;
	if (ioctl(kfd, SACT_IOC_CONFIG, &c) < 0) {
		/* EINVAL: a module without POOL (older than this library) */
		err = errno == EINVAL ? -EPROTO : -errno;
		goto out_close;
	}
	kshm_size = c.shm_size;
	kshm = mmap(NULL, kshm_size, PROT_READ | PROT_WRITE, MAP_SHARED, kfd, 0);
	if (kshm == MAP_FAILED) {
		err = -errno;
		kshm = NULL;
		goto out_close;
	}
	kprocs = (void *)((char *)kshm + SACT_SHM_PROCS_OFFSET);
	kslots = (void *)((char *)kshm + SACT_SHM_WORKERS_OFFSET);
	/* the words say what sact_run set up: P0 with M0, the rest idle */
	for (int i = 0; i < sched.nprocs; i++) {
		struct p *pp = &sched.allp[i];

		st(pword(i), pp->onidle ? KIDLE :
			     pp->m ? KOWN(pp->m) : HELD_W);
	}
	sched.kstandby_target = sched.nm - sched.nprocs;
	if (sched.kstandby_target > SACT_MAX_STANDBY)
		sched.kstandby_target = SACT_MAX_STANDBY;
	sched.kstandby_low = sched.kstandby_target > 0;
	ksig = SIGRTMAX - 3;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ksig_handler;	/* no SA_RESTART: the ioctl returns */
	sigemptyset(&sa.sa_mask);
	sigaction(ksig, &sa, &ksig_old);
	return 0;

out_close:
	close(kfd);
	kfd = -1;
	return err;
}

static void kmod_fini(void)
{
	sigaction(ksig, &ksig_old, NULL);
	munmap(kshm, kshm_size);
	kshm = NULL;
	close(kfd);
	kfd = -1;
}

static int kmod_m_start(struct m *m)
{
	struct sact_worker_args a = {
		.size = sizeof(a), .worker = (uint32_t)m->id,
	};

	if (ioctl(kfd, SACT_IOC_REGISTER, &a) < 0)
		return -errno;
	m->ks = &kslots[m->id];
	kmod_state_swap(m->ks, SACT_M_IDLE);
	m->kseen = kmod_unblocks(m->ks);
	return 0;
}

static void kmod_m_stop(struct m *m)
{
	struct sact_worker_args a = {
		.size = sizeof(a), .worker = (uint32_t)m->id,
	};

	kmod_state_swap(m->ks, SACT_M_IDLE);
	m->ks = NULL;
	ioctl(kfd, SACT_IOC_UNREGISTER, &a);
}

/*
 * Before the Ms are joined: the module standbys leave on a signal.  One
 * sent after a standby's last look at sched.exiting and before it entered
 * the ioctl is lost, so repeat until all have left (see the top).
 */
static void kmod_stop(void)
{
	for (;;) {
		bool any = false;

		lock_acquire(&sched.lock);
		for (int i = 0; i < sched.nm; i++)
			if (sched.allm[i] && sched.allm[i]->in_kstandby) {
				any = true;
				pthread_kill(sched.allm[i]->thread, ksig);
			}
		lock_release(&sched.lock);
		if (!any)
			break;
		usleep(1000);
	}
}

const struct backend_ops backend_kmod = {
	.id		= SACT_BACKEND_KMOD,
	.init		= kmod_init,
	.fini		= kmod_fini,
	.m_start	= kmod_m_start,
	.m_stop		= kmod_m_stop,
	.stop		= kmod_stop,
	.enter_syscall	= kmod_enter_syscall,
	.exit_syscall	= kmod_exit_syscall,
	.p_acquire	= kmod_p_acquire,
	.p_idle		= kmod_p_idle,
	.p_unidle	= kmod_p_unidle,
	.park_standby	= kmod_park_standby,
	.standby_grant	= kmod_standby_grant,
};
